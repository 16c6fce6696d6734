//! The cluster's SSH key pair: the private key is made here and kept in a
//! 0400 file that is never printed, overwritten or deleted; AWS gets its
//! public half.

use std::path::{Path, PathBuf};

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::ResourceType;
// The `ssh-key` crate as russh re-exports it: one version in the build.
use russh::keys::ssh_key;
use serde_json::json;

use crate::aws::once::{create_once, ec2_no_retry, failed, max_attempts};
use crate::aws::tags::{tag_spec, tags_json};
use crate::aws::types::*;
use crate::aws::{aws_error, code_of};
use crate::error::{Error, Kind, Result};
use crate::host::Host;

/// The private key file of the cluster's key pair.
pub fn key_path(host: &Host, name: &str) -> PathBuf {
    host.state()
        .dir()
        .join("ssh")
        .join(format!("{name}.id_rsa"))
}

/// An RSA private key's public half, read from PEM (PKCS#1 as AWS returns
/// it, or PKCS#8).
fn rsa_public(private_pem: &str) -> std::result::Result<aws_lc_rs::rsa::PublicKey, String> {
    let p = pem::parse(private_pem).map_err(|_| "the file is not a PEM private key".to_string())?;
    let kp = match p.tag() {
        "RSA PRIVATE KEY" => aws_lc_rs::rsa::KeyPair::from_der(p.contents()),
        "PRIVATE KEY" => aws_lc_rs::rsa::KeyPair::from_pkcs8(p.contents()),
        other => return Err(format!("unsupported key type `{other}` (RSA expected)")),
    }
    .map_err(|e| format!("not a usable RSA key: {e}"))?;
    use aws_lc_rs::signature::KeyPair as _;
    Ok(kp.public_key().clone())
}

/// The OpenSSH public key (`ssh-rsa AAAA…`) of an RSA private key in PEM
/// (PKCS#1 as AWS returns it, or PKCS#8), encoded by the `ssh-key` crate.
pub fn openssh_public_key(private_pem: &str) -> std::result::Result<String, String> {
    let pk = rsa_public(private_pem)?;
    let mpint = ssh_key::Mpint::from_positive_bytes;
    let rsa = ssh_key::public::RsaPublicKey::new(
        mpint(pk.exponent().big_endian_without_leading_zero()),
        mpint(pk.modulus().big_endian_without_leading_zero()),
    )
    .map_err(|e| format!("cannot encode the key: {e}"))?;
    ssh_key::PublicKey::new(ssh_key::public::KeyData::Rsa(rsa), "")
        .to_openssh()
        .map(|s| s.trim_end().to_string())
        .map_err(|e| format!("cannot encode the key: {e}"))
}

/// The fingerprint EC2 shows for an *imported* RSA key pair: the MD5 of the
/// public key's DER (SubjectPublicKeyInfo), as colon-separated hex (what
/// `openssl pkey -pubout -outform DER | openssl md5 -c` prints).
pub fn imported_fingerprint(private_pem: &str) -> std::result::Result<String, String> {
    use aws_lc_rs::encoding::AsDer as _;
    use md5::Digest as _;
    let pk = rsa_public(private_pem)?;
    let der = pk
        .as_der()
        .map_err(|_| "cannot encode the public key".to_string())?;
    let sum = md5::Md5::digest(der.as_ref());
    Ok(sum
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// What to do about the key pair, from what exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStep {
    /// Both exist and are the same key: reuse.
    Reuse,
    /// Only the file exists: import its public half.
    Import,
    /// Neither exists: make a key, write the file, then import.
    Create,
    /// AWS has a key pair of that name, but not this file's key.
    Mismatch,
    /// AWS has it and the file is gone: AWS never hands a private key out
    /// again.
    Stranded,
}

/// The decision: `file_fp` is the file's fingerprint (None: no file),
/// `aws_fp` the key pair's in AWS (None: no key pair; Some("") when AWS
/// shows none).
pub fn key_step(file_fp: Option<&str>, aws_fp: Option<&str>) -> KeyStep {
    match (file_fp, aws_fp) {
        (None, None) => KeyStep::Create,
        (None, Some(_)) => KeyStep::Stranded,
        (Some(_), None) => KeyStep::Import,
        (Some(_), Some("")) => KeyStep::Reuse,
        (Some(f), Some(a)) if f.eq_ignore_ascii_case(a.trim()) => KeyStep::Reuse,
        (Some(_), Some(_)) => KeyStep::Mismatch,
    }
}

/// The key pair `name` in AWS: `Some(fingerprint)` (empty when AWS shows
/// none), `None` when there is no such key pair.
async fn aws_key_fingerprint(host: &Host, name: &str) -> Result<Option<String>> {
    let ec2 = &host.aws().await?.ec2;
    match ec2.describe_key_pairs().key_names(name).send().await {
        Ok(out) => Ok(out
            .key_pairs()
            .first()
            .map(|k| k.key_fingerprint().unwrap_or_default().to_string())),
        Err(e) if code_of(&e).as_deref() == Some("InvalidKeyPair.NotFound") => Ok(None),
        Err(e) => Err(aws_error("DescribeKeyPairs", e)),
    }
}

/// Finds or creates the key pair `name`, keeping its private key in
/// `<state-dir>/<cluster>/ssh/<name>.id_rsa` (mode 0400, never printed,
/// never overwritten, never deleted). The cases ([`key_step`]): both exist
/// with the same fingerprint → reuse; only AWS has it → error (AWS never
/// returns a private key twice); only the file exists → import its public
/// key; neither → make a key, write the file, import its public half. An
/// import whose answer was lost is confirmed by a look-up comparing the
/// fingerprint, then or on the next run.
pub async fn ensure_key_pair(host: &Host, name: &str) -> Result<KeyPair> {
    let path = key_path(host, name);
    let shown = path.display().to_string();
    let file_exists = path.exists();
    if host.planning() && !host.can_read() {
        let status = if file_exists {
            Outcome::Reused
        } else {
            Outcome::Planned
        };
        if !file_exists && let Some(p) = &host.plan {
            p.record("ImportKeyPair", "", json!({"KeyName": name, "KeyType": "rsa", "Tags": tags_json(host, name), "PrivateKeyFile": shown}));
        }
        return Ok(KeyPair {
            name: name.into(),
            fingerprint: String::new(),
            path: shown,
            status: status.into(),
        });
    }
    let bad_file = |why: String| {
        Error::new(Kind::Io, format!("{shown}: {why}"))
            .with_help("move the file away to let groundup create a new key pair")
    };
    let local = if file_exists {
        let pem = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("cannot read the private key {shown}"), e))?;
        let fp = imported_fingerprint(&pem).map_err(bad_file)?;
        Some((pem, fp))
    } else {
        None
    };
    // Asked even when there is no file: a key pair AWS has without its
    // file must be found before a new key is written (a private key file,
    // once written, is never deleted).
    let aws_fp = aws_key_fingerprint(host, name).await?;
    let step = key_step(local.as_ref().map(|(_, f)| f.as_str()), aws_fp.as_deref());
    match step {
        KeyStep::Reuse => {
            let fp = aws_fp.unwrap_or_default();
            host.event("key-pair", name, Outcome::Reused);
            return Ok(KeyPair {
                name: name.into(),
                fingerprint: fp,
                path: shown,
                status: Outcome::Reused.into(),
            });
        }
        KeyStep::Stranded => return Err(key_without_file(name, &shown)),
        KeyStep::Mismatch => {
            return Err(key_mismatch(
                name,
                &shown,
                local.as_ref().map(|(_, f)| f.as_str()).unwrap_or_default(),
                aws_fp.as_deref().unwrap_or_default(),
            ));
        }
        KeyStep::Import | KeyStep::Create => {}
    }
    let (pem, status) = match local {
        Some((pem, _)) => (pem, crate::outcome::Outcome::Imported),
        None => {
            if let Some(p) = &host.plan {
                p.record("ImportKeyPair", "", json!({"KeyName": name, "KeyType": "rsa", "Tags": tags_json(host, name), "PrivateKeyFile": shown}));
                return Ok(KeyPair {
                    name: name.into(),
                    fingerprint: String::new(),
                    path: shown,
                    status: Outcome::Planned.into(),
                });
            }
            // The key is made here and only its public half is imported:
            // the private key is on disk (0400) before AWS knows the key
            // pair, so a crash at any point loses nothing (AWS's
            // CreateKeyPair returns the private key once; a crash before it
            // is saved would strand the key pair). A key generated ahead on
            // a background thread (see `Host::prefetch_ssh_key`), else one
            // made now.
            let private_pem = match host.take_ssh_key() {
                Some(pem) => pem,
                None => rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
                    .map_err(|e| Error::new(Kind::Io, format!("cannot generate an RSA key: {e}")))?
                    .serialize_pem(),
            };
            write_private_key(&path, private_pem.as_bytes())?;
            (private_pem, Outcome::Created)
        }
    };
    let public = openssh_public_key(&pem).map_err(bad_file)?;
    let want_fp = imported_fingerprint(&pem).map_err(bad_file)?;
    drop(pem);
    if let Some(p) = &host.plan {
        p.record(
            "ImportKeyPair",
            "",
            json!({"KeyName": name, "PublicKeyFrom": shown}),
        );
        return Ok(KeyPair {
            name: name.into(),
            fingerprint: String::new(),
            path: shown,
            status: Outcome::Planned.into(),
        });
    }
    let ec2 = &host.aws().await?.ec2;
    // The private key file stays whatever happens from here on: an import
    // whose answer was lost (or a duplicate name) is settled by comparing
    // fingerprints, now or on the next run.
    let fp = create_once(
        max_attempts(host),
        || async {
            let out = ec2
                .import_key_pair()
                .key_name(name)
                .public_key_material(Blob::new(public.clone().into_bytes()))
                .tag_specifications(tag_spec(host, ResourceType::KeyPair, name))
                .customize()
                .config_override(ec2_no_retry())
                .send()
                .await
                .map_err(|e| failed("ImportKeyPair", e))?;
            Ok(out.key_fingerprint().unwrap_or_default().to_string())
        },
        || aws_key_fingerprint(host, name),
    )
    .await?
    .into_inner();
    if key_step(Some(&want_fp), Some(&fp)) == KeyStep::Mismatch {
        return Err(key_mismatch(name, &shown, &want_fp, &fp));
    }
    host.event("key-pair", name, status);
    Ok(KeyPair {
        name: name.into(),
        fingerprint: fp,
        path: shown,
        status: status.into(),
    })
}

fn key_mismatch(name: &str, shown: &str, file_fp: &str, aws_fp: &str) -> Error {
    Error::new(
        Kind::Aws,
        format!(
            "key pair `{name}` in AWS (fingerprint {aws_fp}) is not the key in {shown} (fingerprint {file_fp})"
        ),
    )
    .with_help(format!(
        "someone made another key pair of that name. Delete it (`aws ec2 delete-key-pair --key-name {name}`) so groundup imports this file's key, or move the file away if the key pair's private key is elsewhere"
    ))
}

fn key_without_file(name: &str, shown: &str) -> Error {
    Error::new(
        Kind::Aws,
        format!("key pair `{name}` exists in AWS but its private key file {shown} is missing"),
    )
    .with_help(format!(
        "AWS hands out a private key only once. Restore the file, or delete the key pair (`aws ec2 delete-key-pair --key-name {name}`, or `groundup down`) so groundup makes a new one"
    ))
}

/// Writes an SSH private key: mode 0400 from the first byte, never over an
/// existing file.
pub fn write_private_key(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        crate::state::create_private_dir(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)
        .map_err(|e| {
            Error::io(
                format!("cannot create the private key file {}", path.display()),
                e,
            )
        })?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
        Error::io(
            format!("cannot write the private key file {}", path.display()),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssh_key_from_pkcs8() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let line = openssh_public_key(&kp.serialize_pem()).unwrap();
        assert!(line.starts_with("ssh-rsa AAAAB3NzaC1yc2E"), "{line}");
        assert!(openssh_public_key("nope").is_err());
    }

    #[test]
    fn key_steps() {
        assert_eq!(key_step(None, None), KeyStep::Create);
        assert_eq!(key_step(None, Some("aa:bb")), KeyStep::Stranded);
        assert_eq!(key_step(Some("aa:bb"), None), KeyStep::Import);
        assert_eq!(key_step(Some("aa:bb"), Some("AA:BB")), KeyStep::Reuse);
        assert_eq!(key_step(Some("aa:bb"), Some("")), KeyStep::Reuse);
        assert_eq!(key_step(Some("aa:bb"), Some("cc:dd")), KeyStep::Mismatch);
    }

    #[test]
    fn fingerprint_is_md5_of_the_public_key_der() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let fp = imported_fingerprint(&kp.serialize_pem()).unwrap();
        use md5::Digest as _;
        let spki = pem::parse(kp.public_key_pem()).unwrap();
        let want: Vec<String> = md5::Md5::digest(spki.contents())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(fp, want.join(":"));
        assert_eq!(fp.len(), 16 * 3 - 1);
    }

    #[test]
    fn private_key_is_0400_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ssh/k.id_rsa");
        write_private_key(&p, b"secret").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o400
        );
        assert!(write_private_key(&p, b"other").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
    }
}
