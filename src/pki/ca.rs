//! The certificate authority: made once (`cfssl gencert -initca`), then
//! only ever loaded; never replaced implicitly. [`plan_ca`] is the one
//! decision: kept, made again from its surviving key, or created.

use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::files::{read_text, write_public, write_secret};
use super::info::{LoadedCert, pair_paths, parse_key};
use super::issue::{base_params, issue_leaf, key_error};
use super::{Action, CertInfo, CertRequest, PkiError};

/// A certificate authority loaded from (or just written to) disk, ready to
/// sign leaf certificates.
///
/// Its `Debug` output shows the stem, the paths and the [`CertInfo`], never
/// the private key. It is `Clone + Send + Sync`.
#[derive(Clone)]
pub struct Ca {
    stem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
    cert_pem: String,
    cert: LoadedCert,
    key_pem: String,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("stem", &self.stem)
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("info", &self.cert.info)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Ca {
    /// What the CA certificate says.
    pub fn info(&self) -> &CertInfo {
        &self.cert.info
    }

    /// The CA certificate, PEM (what `certificate-authority-data` and
    /// `--trusted-ca-file` need).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's stem, e.g. `ca`.
    pub fn stem(&self) -> &str {
        &self.stem
    }

    /// Path of `<stem>.pem`.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Path of `<stem>-key.pem`.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    pub(crate) fn loaded(&self) -> &LoadedCert {
        &self.cert
    }

    /// Issues the leaf `<dir>/<stem>.pem` with a new key for `req`,
    /// signed by this CA (see [`super::ensure_leaf`] for its profile).
    pub(crate) fn issue(
        &self,
        dir: &Path,
        stem: &str,
        req: &CertRequest,
    ) -> Result<CertInfo, PkiError> {
        let key = parse_key(&self.key_pem, &self.key_path)?;
        issue_leaf(dir, stem, &self.cert.der, &key, req)
    }

    fn from_pems(
        stem: &str,
        cert_path: PathBuf,
        key_path: PathBuf,
        cert_pem: String,
        key_pem: &str,
    ) -> Result<Ca, PkiError> {
        let cert = LoadedCert::from_pem(&cert_pem, &cert_path.display().to_string())?;
        let key = parse_key(key_pem, &key_path)?;
        let bad = |reason: String| PkiError::BadCa {
            stem: stem.to_string(),
            reason,
        };
        if !cert.info.is_ca {
            return Err(bad(format!(
                "{} is not a CA certificate (no basic constraints CA:TRUE)",
                cert_path.display()
            )));
        }
        if !cert.matches_key(&key) {
            return Err(bad(format!(
                "key {} does not match certificate {}",
                key_path.display(),
                cert_path.display()
            )));
        }
        // Fail now rather than at the first signature if rcgen cannot use it.
        Issuer::from_ca_cert_der(&cert.der.as_slice().into(), &key)
            .map_err(|e| bad(format!("cannot sign with {}: {e}", cert_path.display())))?;
        Ok(Ca {
            stem: stem.to_string(),
            cert_path,
            key_path,
            cert_pem,
            cert,
            key_pem: key_pem.to_string(),
        })
    }
}

/// Loads an existing CA from `<dir>/<stem>.pem` and `<dir>/<stem>-key.pem`.
///
/// Fails if either file is missing or unreadable, if the certificate is not
/// a CA, or if the key does not belong to the certificate.
pub fn load_ca(dir: &Path, stem: &str) -> Result<Ca, PkiError> {
    let (cert_path, key_path) = pair_paths(dir, stem);
    for path in [&cert_path, &key_path] {
        if !path.exists() {
            return Err(PkiError::MissingCa {
                stem: stem.to_string(),
                path: path.clone(),
            });
        }
    }
    let cert_pem = read_text(&cert_path)?;
    let key_pem = read_text(&key_path)?;
    Ca::from_pems(stem, cert_path, key_path, cert_pem, &key_pem)
}

/// Makes sure a CA exists as `<dir>/<stem>.pem` (mode 0644) and
/// `<dir>/<stem>-key.pem` (mode 0600), like `cfssl gencert -initca`.
///
/// * Neither file exists: a new self-signed CA is made from `req` (basic
///   constraints CA:TRUE; key usages cert sign, CRL sign, digital signature,
///   key encipherment) and [`Action::Created`] is returned.
/// * Both exist: they are loaded and kept ([`Action::Kept`]), **even if
///   `req` differs** from what they say. A CA is never replaced implicitly:
///   every certificate and kubeconfig of a running cluster trusts it, and a
///   new one would strand them all.
/// * Only one exists: an [`PkiError::IncompleteCa`] error naming both files;
///   nothing is overwritten.
///
/// To rotate the CA deliberately, move both files away (e.g. to
/// `<stem>.pem.old` and `<stem>-key.pem.old`) and run again: a new CA is
/// made, and then every leaf certificate is re-issued because it is
/// "signed by another CA". Every node and kubeconfig must then get the new
/// files.
pub fn ensure_ca(dir: &Path, stem: &str, req: &CertRequest) -> Result<(Ca, Action), PkiError> {
    match plan_ca(dir, stem)? {
        (Some(ca), action) => Ok((ca, action)),
        (None, action) => Ok((make_ca(dir, stem, req)?, action)),
    }
}

/// Why a CA whose key survived gets its certificate back.
const REMADE: &str = "the certificate was missing: made again from the CA's key";

/// Makes the CA's missing files: its certificate from its key if the key
/// exists, else both (key first).
pub(crate) fn make_ca(dir: &Path, stem: &str, req: &CertRequest) -> Result<Ca, PkiError> {
    let (cert_path, key_path) = pair_paths(dir, stem);
    if key_path.exists() {
        // The key is written first: a crash before the certificate
        // leaves the key alone, and nothing was ever signed by it yet.
        // Its certificate is made again from that same key.
        let key_pem = read_text(&key_path)?;
        let key = parse_key(&key_pem, &key_path)?;
        let cert_pem = self_signed_ca(stem, req, &key)?;
        write_public(&cert_path, cert_pem.as_bytes())?;
        return Ca::from_pems(stem, cert_path, key_path, cert_pem, &key_pem);
    }
    // The leaves need keys next and can only be signed once the CA
    // exists: start their keys on the other cores meanwhile.
    let others = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    let ahead = super::keys::prefetch(req.algorithm, others.min(8));
    let key = super::keys::make(req.algorithm).map_err(key_error(stem, req.algorithm))?;
    drop(ahead);
    let cert_pem = self_signed_ca(stem, req, &key)?;
    let key_pem = key.serialize_pem();
    // Key first: a crash between the two writes leaves the key,
    // whose certificate the next run makes again (above).
    write_secret(&key_path, key_pem.as_bytes())?;
    write_public(&cert_path, cert_pem.as_bytes())?;
    Ca::from_pems(stem, cert_path, key_path, cert_pem, &key_pem)
}

/// A self-signed CA certificate for `req` on `key` (basic constraints
/// CA:TRUE; cert sign, CRL sign, digital signature, key encipherment).
fn self_signed_ca(stem: &str, req: &CertRequest, key: &KeyPair) -> Result<String, PkiError> {
    let mut params = base_params(stem, req)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = params.self_signed(key).map_err(|e| PkiError::Issue {
        stem: stem.to_string(),
        reason: e.to_string(),
    })?;
    Ok(cert.pem())
}

/// What [`ensure_ca`] would do, without writing anything (plan mode), and
/// the one decision it acts on: `(Some(ca), Action::Kept)` when both files
/// exist; `(None, Action::Reissued(..))` when only the key does (its
/// certificate is made again from it); `(None, Action::Created)` when
/// neither does; [`PkiError::IncompleteCa`] for a certificate without its
/// key.
pub fn plan_ca(dir: &Path, stem: &str) -> Result<(Option<Ca>, Action), PkiError> {
    let (cert_path, key_path) = pair_paths(dir, stem);
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => Ok((Some(load_ca(dir, stem)?), Action::Kept)),
        (false, true) => Ok((None, Action::Reissued(REMADE.into()))),
        (false, false) => Ok((None, Action::Created)),
        (true, false) => Err(PkiError::IncompleteCa {
            stem: stem.to_string(),
            present: cert_path,
            missing: key_path,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;
    use std::fs;

    #[test]
    fn ca_is_created_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, action) = ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        assert_eq!(action, Action::Created);
        let info = ca.info().clone();
        assert!(info.is_ca);
        assert_eq!(info.subject_cn, "Kubernetes");
        assert_eq!(info.issuer_cn, "Kubernetes");
        assert_eq!(info.key_algorithm, "ecdsa-p256");
        assert!(info.days_left >= 3649, "{}", info.days_left);
        assert_eq!(mode(&dir.path().join("ca-key.pem")), 0o600);
        assert_eq!(mode(&dir.path().join("ca.pem")), 0o644);
        assert!(ca.loaded().is_signed_by(ca.loaded()));

        // Different settings on the second run: still kept, never replaced.
        let mut changed = ca_req();
        changed.subject.cn = "Other".into();
        changed.algorithm = KeyAlgorithm::Rsa4096;
        let (again, action) = ensure_ca(dir.path(), "ca", &changed).unwrap();
        assert_eq!(action, Action::Kept);
        assert_eq!(again.info().fingerprint_sha256, info.fingerprint_sha256);
        assert_eq!(again.cert_pem(), ca.cert_pem());
        assert_eq!(
            load_ca(dir.path(), "ca").unwrap().info().fingerprint_sha256,
            info.fingerprint_sha256
        );
    }

    #[test]
    fn public_types_are_send_sync_and_ca_is_clone() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Ca>();
        send_sync::<CertInfo>();
        send_sync::<PkiError>();
        send_sync::<CheckReport>();
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        let copy = ca.clone();
        let (leaf, _) = ensure_leaf(dir.path(), "x", &copy, &req("x", &[]), 30).unwrap();
        assert_eq!(leaf.issuer_cn, "Kubernetes");
    }

    #[test]
    fn ca_debug_hides_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        let debug = format!("{ca:?}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        let key_pem = fs::read_to_string(dir.path().join("ca-key.pem")).unwrap();
        let key_body: String = key_pem.lines().nth(1).unwrap().to_string();
        assert!(!debug.contains(&key_body));
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn a_ca_key_without_its_certificate_gets_it_back_from_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _) = ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        let key_path = dir.path().join("ca-key.pem");
        let key_before = fs::read(&key_path).unwrap();
        // A leaf signed before the crash stays valid under the re-made certificate.
        let (leaf, _) = ensure_leaf(dir.path(), "admin", &first, &req("admin", &[]), 30).unwrap();
        fs::remove_file(dir.path().join("ca.pem")).unwrap();
        // Plan mode's decision is the one ensure_ca acts on.
        let (none, planned) = plan_ca(dir.path(), "ca").unwrap();
        assert!(none.is_none());
        assert_eq!(planned, Action::Reissued(REMADE.into()));
        assert!(!dir.path().join("ca.pem").exists());
        let (ca, action) = ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        assert!(
            matches!(&action, Action::Reissued(why) if why.contains("made again from the CA's key")),
            "{action}"
        );
        assert_eq!(fs::read(&key_path).unwrap(), key_before, "the key is kept");
        assert_eq!(mode(&key_path), 0o600);
        assert_eq!(ca.info().subject_cn, "Kubernetes");
        assert_eq!(ca.info().subject_o, first.info().subject_o);
        // Same key, same subject: the old leaf still chains to it, and is kept.
        let (again, action) =
            ensure_leaf(dir.path(), "admin", &ca, &req("admin", &[]), 30).unwrap();
        assert_eq!(action, Action::Kept);
        assert_eq!(again.fingerprint_sha256, leaf.fingerprint_sha256);
        assert!(plan_ca(dir.path(), "ca").unwrap().0.is_some());
    }

    #[test]
    fn a_certificate_without_its_ca_key_is_an_error_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        let cert_path = dir.path().join("ca.pem");
        let cert_before = fs::read(&cert_path).unwrap();
        fs::remove_file(dir.path().join("ca-key.pem")).unwrap();
        let err = ensure_ca(dir.path(), "ca", &ca_req()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PkiError::IncompleteCa { .. }));
        assert!(
            msg.contains(&dir.path().join("ca-key.pem").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("refusing to overwrite"), "{msg}");
        assert_eq!(fs::read(&cert_path).unwrap(), cert_before);
        assert!(!dir.path().join("ca-key.pem").exists());
        assert!(plan_ca(dir.path(), "ca").is_err());
    }

    #[test]
    fn load_ca_rejects_a_foreign_key() {
        let dir = tempfile::tempdir().unwrap();
        ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        ensure_ca(dir.path(), "other", &ca_req()).unwrap();
        fs::copy(
            dir.path().join("other-key.pem"),
            dir.path().join("ca-key.pem"),
        )
        .unwrap();
        let err = load_ca(dir.path(), "ca").unwrap_err().to_string();
        assert!(err.contains("does not match certificate"), "{err}");
        assert!(!err.contains("PRIVATE KEY"));
        let err = load_ca(dir.path(), "nope").unwrap_err().to_string();
        assert!(err.contains("nope.pem does not exist"), "{err}");
    }
}
