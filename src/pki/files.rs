//! Atomic file writes with the right mode from the first byte.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::PkiError;

/// Writes `contents` to `path` atomically with mode 0600 (owner read/write
/// only), for private keys, kubeconfigs and the encryption config.
///
/// The bytes go to a temporary file in the same directory that is created
/// with mode 0600 before its first byte is written, then renamed over
/// `path`. So there is no moment when the secret is readable by others, and
/// a crash leaves either the old file or the new one, never a truncated one.
/// The directory must exist; the write reaches the disk at the next
/// [`crate::durable::sync`].
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, contents, 0o600)
}

/// Writes `contents` to `path` atomically with mode 0644, for certificates
/// and other public files. Same guarantees as [`write_secret`].
pub fn write_public(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, contents, 0o644)
}

fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    crate::durable::write_atomic(path, contents, mode).map_err(|source| PkiError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a whole file as UTF-8 text.
pub(crate) fn read_text(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// The permission bits (e.g. `0o600`) of a file, or `None` if it cannot be
/// inspected.
pub(crate) fn file_mode(path: &Path) -> Option<u32> {
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;

    #[test]
    fn secret_is_0600_and_public_is_0644() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("k-key.pem");
        let public = dir.path().join("k.pem");
        write_secret(&secret, b"s").unwrap();
        write_public(&public, b"p").unwrap();
        assert_eq!(file_mode(&secret), Some(0o600));
        assert_eq!(file_mode(&public), Some(0o644));
        assert_eq!(fs::read(&secret).unwrap(), b"s");
    }

    #[test]
    fn replacing_a_too_open_file_tightens_it_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("k-key.pem");
        fs::write(&secret, b"old").unwrap();
        fs::set_permissions(&secret, Permissions::from_mode(0o644)).unwrap();
        write_secret(&secret, b"new").unwrap();
        assert_eq!(file_mode(&secret), Some(0o600));
        assert_eq!(fs::read(&secret).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("k-key.pem")]);
    }

    #[test]
    fn missing_directory_names_the_file() {
        let err = write_secret(Path::new("/nonexistent-dir/x-key.pem"), b"k").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/x-key.pem"),
            "{err}"
        );
    }
}
