//! The API server's `EncryptionConfiguration` for encrypting Secrets at rest.
//!
//! The lesson makes the key with `head -c 64 /dev/urandom | base64`, which is
//! wrong twice: `aescbc` accepts only 16, 24 or 32-byte keys (the API server
//! rejects 64), and `base64` wraps its output at 76 columns, breaking the
//! YAML. Here the key is 32 random bytes, base64 on one line.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::files::{read_text, write_secret};
use super::{Action, PkiError};

/// The key lengths, in bytes, that the `aescbc` provider accepts.
pub(crate) const VALID_KEY_LENGTHS: [usize; 3] = [16, 24, 32];

/// The `EncryptionConfiguration` text: `secrets` are encrypted with
/// `aescbc` using the key `key1` = `key_b64`, and `identity` follows so that
/// Secrets written before encryption was on can still be read.
pub fn encryption_config_yaml(key_b64: &str) -> String {
    format!(
        "kind: EncryptionConfiguration\n\
         apiVersion: apiserver.config.k8s.io/v1\n\
         resources:\n\
         \x20 - resources:\n\
         \x20     - secrets\n\
         \x20   providers:\n\
         \x20     - aescbc:\n\
         \x20         keys:\n\
         \x20           - name: key1\n\
         \x20             secret: {}\n\
         \x20     - identity: {{}}\n",
        serde_json::Value::from(key_b64)
    )
}

/// Makes sure `path` holds an encryption config.
///
/// If the file exists, its key is read back and the file is kept unchanged
/// ([`Action::Kept`]): the key is never replaced implicitly, because Secrets
/// already stored in etcd were encrypted with it. An existing file whose key
/// cannot be found, is not base64, or is not 16, 24 or 32 bytes long is an
/// error (move the file away to get a new key; Secrets encrypted with the
/// old key then become unreadable).
///
/// Otherwise a 32-byte key from the operating system's random source is
/// written, base64 on one line, with mode 0600 ([`Action::Created`]).
pub fn ensure_encryption_config(path: &Path) -> Result<Action, PkiError> {
    if plan_encryption_config(path)? == Action::Kept {
        return Ok(Action::Kept);
    }
    create_encryption_config(path)?;
    Ok(Action::Created)
}

/// Writes a new encryption config at `path` (mode 0600) with a 32-byte
/// key from the operating system's random source, replacing any file there:
/// call it only where [`plan_encryption_config`] said [`Action::Created`].
pub(crate) fn create_encryption_config(path: &Path) -> Result<(), PkiError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| invalid(path, format!("no randomness for a new key: {e}")))?;
    let text = encryption_config_yaml(&STANDARD.encode(key));
    write_secret(path, text.as_bytes())
}

/// What [`ensure_encryption_config`] would do, without writing anything
/// (plan mode): [`Action::Kept`] for a usable existing file,
/// [`Action::Created`] when there is none, the same errors otherwise.
pub fn plan_encryption_config(path: &Path) -> Result<Action, PkiError> {
    if !path.exists() {
        return Ok(Action::Created);
    }
    let len = encryption_key_len(path)?;
    if !VALID_KEY_LENGTHS.contains(&len) {
        return Err(invalid(
            path,
            format!(
                "its aescbc key is {len} bytes; it must be 16, 24 or 32 bytes \
                 (move the file away to generate a new key)"
            ),
        ));
    }
    Ok(Action::Kept)
}

/// The length in bytes of the decoded `aescbc` key in the encryption config
/// at `path` (16, 24 or 32 for a config the API server accepts).
pub fn encryption_key_len(path: &Path) -> Result<usize, PkiError> {
    let text = read_text(path)?;
    let b64 = secret_value(&text).ok_or_else(|| invalid(path, "no `secret:` key found".into()))?;
    let bytes = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| invalid(path, "the `secret:` value is not one line of base64".into()))?;
    Ok(bytes.len())
}

fn invalid(path: &Path, reason: String) -> PkiError {
    PkiError::InvalidEncryptionConfig {
        path: path.to_path_buf(),
        reason,
    }
}

/// The value of the first `secret:` key, unquoted.
fn secret_value(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().trim_start_matches("- ").trim_start();
        let value = rest.strip_prefix("secret:")?.trim();
        let unquoted = if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            &value[1..value.len() - 1]
        } else {
            value
        };
        Some(unquoted.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn yaml_text() {
        assert_eq!(
            encryption_config_yaml("QUJD"),
            "kind: EncryptionConfiguration
apiVersion: apiserver.config.k8s.io/v1
resources:
  - resources:
      - secrets
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: \"QUJD\"
      - identity: {}
"
        );
    }

    #[test]
    fn new_key_is_32_bytes_on_one_line_and_kept_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("encryption-config.yaml");
        assert_eq!(ensure_encryption_config(&path).unwrap(), Action::Created);
        assert_eq!(encryption_key_len(&path).unwrap(), 32);
        let text = std::fs::read_to_string(&path).unwrap();
        let secret_line = text.lines().find(|l| l.contains("secret:")).unwrap();
        assert_eq!(secret_line.trim().len(), "secret: \"\"".len() + 44);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        assert_eq!(ensure_encryption_config(&path).unwrap(), Action::Kept);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn existing_lesson_style_key_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("encryption-config.yaml");
        // The lesson's heredoc writes the key unquoted.
        let key = STANDARD.encode([7u8; 32]);
        let text = encryption_config_yaml("X").replace("\"X\"", &key);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(ensure_encryption_config(&path).unwrap(), Action::Kept);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(encryption_key_len(&path).unwrap(), 32);
    }

    #[test]
    fn wrong_length_or_garbage_is_an_error_and_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.yaml");
        let key64 = STANDARD.encode([1u8; 64]);
        let text = encryption_config_yaml(&key64);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(encryption_key_len(&path).unwrap(), 64);
        let err = ensure_encryption_config(&path).unwrap_err().to_string();
        assert!(
            err.contains("is 64 bytes; it must be 16, 24 or 32"),
            "{err}"
        );
        assert!(err.contains("enc.yaml"), "{err}");
        assert!(!err.contains(&key64));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        std::fs::write(&path, "secret: not*base64\n").unwrap();
        let err = encryption_key_len(&path).unwrap_err().to_string();
        assert!(err.contains("not one line of base64"), "{err}");
        assert!(!err.contains("not*base64"));

        std::fs::write(&path, "kind: Nothing\n").unwrap();
        let err = encryption_key_len(&path).unwrap_err().to_string();
        assert!(err.contains("no `secret:` key found"), "{err}");
    }
}
