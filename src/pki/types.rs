//! The values the PKI hands to scripts: [`Cert`] (with its [`PrivateKey`]),
//! [`Kubeconfig`] and [`EncryptionConfig`]. Each shows facts, never key
//! material: a certificate's PEM is public, its key is described by file,
//! type, mode and whether it matches.
//!
//! They are Rhai custom types (read-only getters, `to_string`, `to_json`),
//! registered by `crate::api::register_all`, like `crate::aws::types`.

use std::path::Path;
use std::sync::Arc;

use rhai::{Array, CustomType};
use serde::Serialize;

use super::files::read_text;
use super::{Ca, CertInfo, PkiError, inspect_pem, load_ca, load_cert};
use crate::aws::types::display_type;

/// Facts about a certificate's private key file (never the key itself).
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "PrivateKey", extra = Self::build_extra)]
pub struct PrivateKey {
    /// The key file, `<pki dir>/<stem>-key.pem`.
    #[rhai_type(readonly)]
    pub file: String,
    /// The key type: `rsa-2048`, `ecdsa-p256`, ...
    #[rhai_type(readonly)]
    pub algorithm: String,
    /// Its permission bits as octal text, `0600`; `-` if it does not exist.
    #[rhai_type(readonly)]
    pub mode: String,
    /// Whether it belongs to its certificate.
    #[rhai_type(readonly)]
    pub matches_cert: bool,
}
display_type!(PrivateKey);
impl std::fmt::Display for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PrivateKey {} ({}, mode {}, {})",
            self.file,
            self.algorithm,
            self.mode,
            if self.matches_cert {
                "matches its certificate"
            } else {
                "does NOT match its certificate"
            }
        )
    }
}

impl PrivateKey {
    /// The key file at `path` of a key of `algorithm`, its mode read from
    /// the file (`Some(mode)` to state it: a planned key).
    pub(crate) fn of(path: &Path, algorithm: &str, mode: Option<u32>, matches: bool) -> Self {
        PrivateKey {
            file: if path.as_os_str().is_empty() {
                String::new()
            } else {
                path.display().to_string()
            },
            algorithm: algorithm.to_string(),
            mode: octal(mode.or_else(|| super::file_mode(path))),
            matches_cert: matches,
        }
    }
}

/// Permission bits as octal text (`0600`), `-` when unknown.
pub(crate) fn octal(mode: Option<u32>) -> String {
    mode.map_or_else(|| "-".to_string(), |m| format!("{m:04o}"))
}

/// A certificate: what it says (as `openssl x509 -text` shows it), where it
/// is, and what this run did with it. A CA returned by `pki::ca` or
/// `pki::load_ca` can sign (`pki::cert(ca, ...)`).
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "Cert", extra = Self::build_extra)]
pub struct Cert {
    /// The file stem: `admin` for `admin.pem` + `admin-key.pem`.
    #[rhai_type(readonly)]
    pub stem: String,
    /// `CN=admin, O=system:masters`.
    #[rhai_type(readonly)]
    pub subject: String,
    /// The common name: the Kubernetes user.
    #[rhai_type(readonly)]
    pub cn: String,
    /// The organization: the Kubernetes group(s); empty if none.
    #[rhai_type(readonly)]
    pub o: String,
    /// The issuer's common name.
    #[rhai_type(readonly)]
    pub issuer: String,
    /// Every subject alternative name: DNS names, then IP addresses.
    #[rhai_type(readonly, get = Self::san_list)]
    pub sans: Vec<String>,
    /// The DNS subject alternative names.
    #[rhai_type(readonly, get = Self::dns_list)]
    pub dns_sans: Vec<String>,
    /// The IP subject alternative names.
    #[rhai_type(readonly, get = Self::ip_list)]
    pub ip_sans: Vec<String>,
    /// Start of validity, RFC 3339 UTC.
    #[rhai_type(readonly)]
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    #[rhai_type(readonly)]
    pub not_after: String,
    /// Whole days until `not_after`.
    #[rhai_type(readonly)]
    pub days_left: i64,
    /// SHA-256 fingerprint as openssl prints it (`AB:CD:...`); empty when planned.
    #[rhai_type(readonly)]
    pub fingerprint: String,
    /// Serial number, hex bytes joined by `:`; empty when planned.
    #[rhai_type(readonly)]
    pub serial: String,
    /// Whether it is a CA certificate.
    #[rhai_type(readonly)]
    pub is_ca: bool,
    /// Extended key usage: TLS server authentication.
    #[rhai_type(readonly)]
    pub server_auth: bool,
    /// Extended key usage: TLS client authentication.
    #[rhai_type(readonly)]
    pub client_auth: bool,
    /// The key type: `rsa-2048`, `ecdsa-p256`, ...
    #[rhai_type(readonly)]
    pub key_algorithm: String,
    /// The certificate file, `<pki dir>/<stem>.pem` (empty for `pki::inspect`).
    #[rhai_type(readonly)]
    pub file: String,
    /// Facts about its private key file.
    #[rhai_type(readonly)]
    pub key: PrivateKey,
    /// The certificate, PEM (public; empty when planned).
    #[rhai_type(readonly)]
    #[serde(skip)]
    pub pem: String,
    /// created, kept, `re-issued: <why>`, `planned: <what>` or loaded.
    #[rhai_type(readonly)]
    pub status: String,
    /// The loaded CA, for signing (a CA from `pki::ca`/`pki::load_ca` only).
    #[rhai_type(skip)]
    #[serde(skip)]
    signer: Option<Arc<Ca>>,
}
display_type!(Cert);
impl std::fmt::Display for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.is_ca { "CA" } else { "Cert" };
        let sans = if self.sans.is_empty() {
            String::new()
        } else {
            format!(", SANs [{}]", self.sans.join(", "))
        };
        write!(
            f,
            "{what} {}: {}{sans}, {}, until {} ({} days), {}",
            if self.stem.is_empty() {
                "-"
            } else {
                &self.stem
            },
            self.subject,
            self.key_algorithm,
            self.not_after,
            self.days_left,
            self.status
        )
    }
}

/// Who signs a leaf: a CA on disk, or (plan mode) a CA that is itself only
/// planned, so every leaf it would sign is planned too.
#[derive(Clone, Copy, Debug)]
pub enum Signer<'a> {
    /// A loaded CA.
    Ca(&'a Ca),
    /// A planned CA with this common name.
    Planned(&'a str),
}

impl Cert {
    fn san_list(&self) -> Array {
        self.sans.iter().map(|s| s.clone().into()).collect()
    }
    fn dns_list(&self) -> Array {
        self.dns_sans.iter().map(|s| s.clone().into()).collect()
    }
    fn ip_list(&self) -> Array {
        self.ip_sans.iter().map(|s| s.clone().into()).collect()
    }

    /// The certificate at `file` (empty: none) that says `info`.
    pub(crate) fn new(
        stem: &str,
        file: &Path,
        info: CertInfo,
        key: PrivateKey,
        pem: String,
        status: String,
    ) -> Cert {
        let subject = match &info.subject_o {
            Some(o) => format!("CN={}, O={o}", info.subject_cn),
            None => format!("CN={}", info.subject_cn),
        };
        Cert {
            stem: stem.to_string(),
            subject,
            cn: info.subject_cn.clone(),
            o: info.subject_o.clone().unwrap_or_default(),
            issuer: info.issuer_cn.clone(),
            sans: info.sans().map(str::to_string).collect(),
            dns_sans: info.dns_sans,
            ip_sans: info.ip_sans,
            not_before: info.not_before,
            not_after: info.not_after,
            days_left: info.days_left,
            fingerprint: info.fingerprint_sha256,
            serial: info.serial,
            is_ca: info.is_ca,
            server_auth: info.server_auth,
            client_auth: info.client_auth,
            key_algorithm: info.key_algorithm,
            file: if file.as_os_str().is_empty() {
                String::new()
            } else {
                file.display().to_string()
            },
            key,
            pem,
            status,
            signer: None,
        }
    }

    /// A CA that can sign.
    pub(crate) fn from_ca(ca: Ca, status: String) -> Cert {
        let info = ca.info().clone();
        let key = PrivateKey::of(ca.key_path(), &info.key_algorithm, None, true);
        let pem = ca.cert_pem().to_string();
        let mut c = Cert::new(ca.stem(), ca.cert_path(), info, key, pem, status);
        c.signer = Some(Arc::new(ca));
        c
    }

    /// The existing CA `<dir>/<stem>.pem`, able to sign.
    pub fn load_ca(dir: &Path, stem: &str) -> Result<Cert, PkiError> {
        Ok(Cert::from_ca(load_ca(dir, stem)?, "loaded".into()))
    }

    /// The existing certificate `<dir>/<stem>.pem` (any, CA or leaf) with
    /// the facts of its key file; it cannot sign.
    pub fn load(dir: &Path, stem: &str) -> Result<Cert, PkiError> {
        let (info, facts) = load_cert(dir, stem)?;
        let cert_path = dir.join(format!("{stem}.pem"));
        let key = PrivateKey::of(
            &facts.path,
            &info.key_algorithm,
            facts.mode,
            facts.matches_cert,
        );
        let pem = read_text(&cert_path)?;
        Ok(Cert::new(stem, &cert_path, info, key, pem, "loaded".into()))
    }

    /// What a PEM certificate (text, e.g. from a node) contains; no file.
    pub fn inspect(pem: &str) -> Result<Cert, PkiError> {
        let info = inspect_pem(pem)?;
        let key = PrivateKey::of(Path::new(""), &info.key_algorithm, None, false);
        Ok(Cert::new(
            "",
            Path::new(""),
            info,
            key,
            pem.to_string(),
            "inspected".to_string(),
        ))
    }

    /// Whether the files exist (not only planned).
    pub fn on_disk(&self) -> bool {
        !self.fingerprint.is_empty()
    }

    /// The signer of a leaf `stem`, if this certificate can be one: a CA
    /// from `pki::ca`/`pki::load_ca` (planned or on disk), and not the
    /// leaf's own stem (it would overwrite the CA).
    pub fn signer_for(&self, stem: &str) -> Result<Signer<'_>, String> {
        let signer = match &self.signer {
            Some(ca) if self.is_ca => Signer::Ca(ca),
            None if self.is_ca && !self.on_disk() => Signer::Planned(&self.cn),
            _ => {
                return Err(format!(
                    "`{}` cannot sign: pass the CA that pki::ca(...) or pki::load_ca(...) returned",
                    if self.stem.is_empty() {
                        "ca"
                    } else {
                        &self.stem
                    }
                ));
            }
        };
        if stem == self.stem {
            return Err(format!(
                "stem `{stem}` is the CA's own: a leaf would overwrite the CA"
            ));
        }
        Ok(signer)
    }
}

/// A kubeconfig file.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "Kubeconfig", extra = Self::build_extra)]
pub struct Kubeconfig {
    /// Its name: `admin` for `admin.kubeconfig`.
    #[rhai_type(readonly)]
    pub name: String,
    /// The file, `<pki dir>/<name>.kubeconfig` (mode 0600: it embeds a key).
    #[rhai_type(readonly)]
    pub file: String,
    /// The cluster entry's name (the cluster setting `name`).
    #[rhai_type(readonly)]
    pub cluster: String,
    /// The API server URL.
    #[rhai_type(readonly)]
    pub server: String,
    /// The user: the client certificate's CN.
    #[rhai_type(readonly)]
    pub user: String,
    /// created, kept, `re-issued: <what changed>` or `planned: <what>`.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(Kubeconfig);
impl std::fmt::Display for Kubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Kubeconfig {}: user {} -> {} (context default), {}",
            self.name, self.user, self.server, self.status
        )
    }
}

/// The API server's `EncryptionConfiguration` (the key itself is never shown).
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "EncryptionConfig", extra = Self::build_extra)]
pub struct EncryptionConfig {
    /// The file, `<pki dir>/<name>.yaml` (mode 0600).
    #[rhai_type(readonly)]
    pub file: String,
    /// The provider encrypting Secrets: `aescbc` (then `identity`).
    #[rhai_type(readonly)]
    pub provider: String,
    /// The key's length in bytes (16, 24 or 32).
    #[rhai_type(readonly)]
    pub key_bytes: i64,
    /// created, kept or `planned: create`.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(EncryptionConfig);
impl std::fmt::Display for EncryptionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EncryptionConfig {}: secrets with {} ({}-byte key) then identity, {}",
            self.file, self.provider, self.key_bytes, self.status
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{ca_req, req};
    use super::super::{ensure_ca, ensure_leaf};
    use super::*;
    use std::fs;

    #[test]
    fn only_a_ca_of_this_pki_signs_and_never_over_itself() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = Cert::load_ca(d, "ca").map(|_| ()).unwrap_err();
        assert!(ca.to_string().contains("does not exist"), "{ca}");
        ensure_ca(d, "ca", &ca_req()).unwrap();
        let ca = Cert::load_ca(d, "ca").unwrap();
        assert_eq!(ca.status, "loaded");
        assert!(matches!(ca.signer_for("admin"), Ok(Signer::Ca(_))));
        assert_eq!(
            ca.signer_for("ca").unwrap_err(),
            "stem `ca` is the CA's own: a leaf would overwrite the CA"
        );
        // The same CA loaded as a plain certificate, or inspected: no key, no signing.
        for c in [
            Cert::load(d, "ca").unwrap(),
            Cert::inspect(&ca.pem).unwrap(),
        ] {
            let err = c.signer_for("admin").unwrap_err();
            assert!(err.contains("cannot sign: pass the CA"), "{err}");
        }
        ensure_leaf(d, "admin", ca_signer(&ca), &req("admin", &[]), 30).unwrap();
        let leaf = Cert::load(d, "admin").unwrap();
        assert!(
            leaf.signer_for("x")
                .unwrap_err()
                .contains("`admin` cannot sign")
        );
    }

    fn ca_signer(c: &Cert) -> &Ca {
        match c.signer_for("-") {
            Ok(Signer::Ca(ca)) => ca,
            other => panic!("not a CA: {other:?}"),
        }
    }

    #[test]
    fn values_show_facts_never_keys() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ensure_ca(d, "ca", &ca_req()).unwrap();
        let ca = Cert::load_ca(d, "ca").unwrap();
        ensure_leaf(
            d,
            "web",
            ca_signer(&ca),
            &req("web", &["10.0.0.1", "web.local"]),
            30,
        )
        .unwrap();
        let c = Cert::load(d, "web").unwrap();
        assert_eq!(c.pem, fs::read_to_string(d.join("web.pem")).unwrap());
        assert_eq!((c.key.mode.as_str(), c.key.matches_cert), ("0600", true));
        assert_eq!(c.sans, vec!["web.local", "10.0.0.1"]);
        let shown = format!("{c} {} {}", c.key, serde_json::to_string(&c).unwrap());
        assert!(shown.contains("Cert web: CN=web, SANs [web.local, 10.0.0.1], ecdsa-p256"));
        assert!(shown.contains("(ecdsa-p256, mode 0600, matches its certificate)"));
        let key = fs::read_to_string(d.join("web-key.pem")).unwrap();
        assert!(!shown.contains("PRIVATE KEY") && !shown.contains(key.lines().nth(1).unwrap()));
        assert!(
            !shown.contains("BEGIN CERTIFICATE"),
            "the JSON leaves the PEM out"
        );

        // A key that is gone or foreign is said so, never hidden.
        fs::remove_file(d.join("web-key.pem")).unwrap();
        let c = Cert::load(d, "web").unwrap();
        assert_eq!((c.key.mode.as_str(), c.key.matches_cert), ("-", false));
        assert!(c.key.to_string().contains("does NOT match"));
        let seen = Cert::inspect(&c.pem).unwrap();
        assert_eq!((seen.file.as_str(), seen.key.file.as_str()), ("", ""));
        assert_eq!(seen.status, "inspected");
        assert_eq!(seen.fingerprint, c.fingerprint);
        assert!(seen.on_disk());
    }
}
