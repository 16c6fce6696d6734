//! Reading certificates back: what a PEM certificate says ([`CertInfo`],
//! as `openssl x509 -text` shows it), whether a key belongs to it and
//! whether a CA signed it ([`LoadedCert`]), and the facts of a key file
//! ([`KeyFacts`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rcgen::{KeyPair, PublicKeyData};
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

use super::PkiError;
use super::files::read_text;

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// What a certificate says about itself, as `openssl x509 -text` would show
/// it. Serializes to JSON for `groundup` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// The subject's common name (empty if none).
    pub subject_cn: String,
    /// The subject's organization(s), comma-separated; Kubernetes groups.
    pub subject_o: Option<String>,
    /// The issuer's common name (equal to `subject_cn` for a self-signed CA).
    pub issuer_cn: String,
    /// DNS subject alternative names, in certificate order.
    pub dns_sans: Vec<String>,
    /// IP subject alternative names, in certificate order.
    pub ip_sans: Vec<String>,
    /// Start of validity, RFC 3339 in UTC (`2025-01-31T12:00:00Z`).
    pub not_before: String,
    /// End of validity, RFC 3339 in UTC.
    pub not_after: String,
    /// Whole days until `not_after` (rounded down; negative once expired).
    pub days_left: i64,
    /// SHA-256 of the DER certificate, upper-case hex bytes joined by `:`,
    /// as `openssl x509 -noout -fingerprint -sha256` prints it.
    pub fingerprint_sha256: String,
    /// Serial number, lower-case hex bytes joined by `:`.
    pub serial: String,
    /// Basic constraints say this is a CA.
    pub is_ca: bool,
    /// Extended key usage includes TLS server authentication.
    pub server_auth: bool,
    /// Extended key usage includes TLS client authentication.
    pub client_auth: bool,
    /// The subject key's algorithm: `rsa-2048`, `ecdsa-p256`, ... as
    /// [`super::KeyAlgorithm`] names it, or a description for others.
    pub key_algorithm: String,
}

impl CertInfo {
    /// All subject alternative names: DNS names then IP addresses.
    pub fn sans(&self) -> impl Iterator<Item = &str> {
        self.dns_sans
            .iter()
            .chain(self.ip_sans.iter())
            .map(String::as_str)
    }
}

/// A parsed certificate: its DER bytes and what it says.
#[derive(Clone, Debug)]
pub(crate) struct LoadedCert {
    pub(crate) der: Vec<u8>,
    pub(crate) info: CertInfo,
}

impl LoadedCert {
    /// Parses the first `CERTIFICATE` block of `pem`; `what` names it in errors.
    pub(crate) fn from_pem(pem: &str, what: &str) -> Result<Self, PkiError> {
        let invalid = |reason: String| PkiError::InvalidCert {
            what: what.to_string(),
            reason,
        };
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| invalid(format!("no PEM block found ({e})")))?;
        if block.label != "CERTIFICATE" {
            return Err(invalid(format!(
                "the first PEM block is `{}`, not `CERTIFICATE`",
                block.label
            )));
        }
        let der = block.contents;
        let info = {
            let x = parse_der(&der).map_err(invalid)?;
            info_of(&x, &der)
        };
        Ok(LoadedCert { der, info })
    }

    /// Reads and parses a certificate file.
    pub(crate) fn from_file(path: &Path) -> Result<Self, PkiError> {
        let text = read_text(path)?;
        Self::from_pem(&text, &path.display().to_string())
    }

    pub(super) fn x509(&self) -> Result<X509Certificate<'_>, String> {
        parse_der(&self.der)
    }

    /// Whether `key`'s public half is the certificate's public key.
    pub(crate) fn matches_key(&self, key: &KeyPair) -> bool {
        self.x509()
            .map(|x| x.public_key().subject_public_key.data.as_ref() == key.der_bytes())
            .unwrap_or(false)
    }

    /// Whether this certificate was issued and signed by `ca` (for a
    /// self-signed CA, `ca` may be the certificate itself).
    pub(crate) fn is_signed_by(&self, ca: &LoadedCert) -> bool {
        let (Ok(me), Ok(issuer)) = (self.x509(), ca.x509()) else {
            return false;
        };
        me.issuer().as_raw() == issuer.subject().as_raw()
            && me.verify_signature(Some(issuer.public_key())).is_ok()
    }
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, x)| x)
        .map_err(|e| format!("not an X.509 certificate ({e})"))
}

fn info_of(x: &X509Certificate<'_>, der: &[u8]) -> CertInfo {
    let attr_strings =
        |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
            it.filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect::<Vec<_>>()
        };
    let subject_cn = attr_strings(&mut x.subject().iter_common_name())
        .into_iter()
        .next()
        .unwrap_or_default();
    let orgs = attr_strings(&mut x.subject().iter_organization());
    let subject_o = (!orgs.is_empty()).then(|| orgs.join(","));
    let issuer_cn = attr_strings(&mut x.issuer().iter_common_name())
        .into_iter()
        .next()
        .unwrap_or_default();

    let mut dns_sans = Vec::new();
    let mut ip_sans = Vec::new();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_sans.push((*d).to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        ip_sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }

    let (server_auth, client_auth) = match x.extended_key_usage() {
        Ok(Some(eku)) => (eku.value.server_auth, eku.value.client_auth),
        _ => (false, false),
    };

    let not_before = x.validity().not_before.to_datetime();
    let not_after = x.validity().not_after.to_datetime();

    CertInfo {
        subject_cn,
        subject_o,
        issuer_cn,
        dns_sans,
        ip_sans,
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left: days_until(not_after, OffsetDateTime::now_utc()),
        fingerprint_sha256: hex_colons(&sha256(der), true),
        serial: hex_colons(x.raw_serial(), false),
        is_ca: x.is_ca(),
        server_auth,
        client_auth,
        key_algorithm: key_algorithm_of(x),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => {
            let b: [u8; 4] = bytes.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

fn key_algorithm_of(x: &X509Certificate<'_>) -> String {
    let spki = x.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("rsa-{}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve {
                Some(oid) if oid == x509_parser::oid_registry::OID_EC_P256 => {
                    "ecdsa-p256".to_string()
                }
                Some(oid) => format!("ecdsa ({oid})"),
                None => "ecdsa".to_string(),
            }
        }
        Ok(_) | Err(_) => format!("unknown ({})", spki.algorithm.algorithm),
    }
}

/// RFC 3339 in UTC, whole seconds: `2025-01-31T12:00:00Z`.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn days_until(t: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (t - now).whole_seconds().div_euclid(86_400)
}

fn hex_colons(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses one PEM certificate (the first `CERTIFICATE` block of `pem`) and
/// says what it contains.
pub fn inspect_pem(pem: &str) -> Result<CertInfo, PkiError> {
    LoadedCert::from_pem(pem, "the given PEM text").map(|c| c.info)
}

pub(super) fn parse_key(pem: &str, path: &Path) -> Result<KeyPair, PkiError> {
    // rcgen's errors describe the problem, never the key bytes.
    KeyPair::from_pem(pem).map_err(|e| PkiError::InvalidKey {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// `<dir>/<stem>.pem` and `<dir>/<stem>-key.pem`.
pub(crate) fn pair_paths(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}-key.pem")),
    )
}

/// The private key file of a certificate, as `ls -l` and `openssl pkey`
/// would describe it. Never holds key material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyFacts {
    /// The key file, `<stem>-key.pem`.
    pub path: PathBuf,
    /// Whether it exists.
    pub exists: bool,
    /// Its permission bits, e.g. `0o600`.
    pub mode: Option<u32>,
    /// Whether it parses and belongs to `<stem>.pem`.
    pub matches_cert: bool,
}

/// Reads `<dir>/<stem>.pem` and says what it contains, with the facts of
/// its key file `<dir>/<stem>-key.pem`.
pub fn load_cert(dir: &Path, stem: &str) -> Result<(CertInfo, KeyFacts), PkiError> {
    let (cert_path, key_path) = pair_paths(dir, stem);
    let cert = LoadedCert::from_file(&cert_path)?;
    let exists = key_path.exists();
    let matches_cert = exists
        && read_text(&key_path)
            .ok()
            .and_then(|t| KeyPair::from_pem(&t).ok())
            .is_some_and(|k| cert.matches_key(&k));
    let facts = KeyFacts {
        mode: super::files::file_mode(&key_path),
        path: key_path,
        exists,
        matches_cert,
    };
    Ok((cert.info, facts))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;
    use std::fs;
    use time::Duration;

    #[test]
    fn inspect_rejects_non_certificates() {
        let err = inspect_pem("hello").unwrap_err().to_string();
        assert!(err.contains("not a usable PEM certificate"), "{err}");
        let key = KeyPair::generate().unwrap().serialize_pem();
        let err = inspect_pem(&key).unwrap_err().to_string();
        assert!(err.contains("`PRIVATE KEY`, not `CERTIFICATE`"), "{err}");
        // The message names the block type but contains no key bytes.
        assert!(!err.contains(key.lines().nth(1).unwrap()));
    }

    #[test]
    fn load_cert_reports_key_facts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, _) = ensure_ca(d, "ca", &ca_req()).unwrap();
        ensure_leaf(d, "a", &ca, &req("a", &[]), 30).unwrap();
        ensure_leaf(d, "b", &ca, &req("b", &[]), 30).unwrap();
        let (info, key) = load_cert(d, "a").unwrap();
        assert_eq!(info.subject_cn, "a");
        assert!(key.exists && key.matches_cert);
        assert_eq!(key.mode, Some(0o600));
        fs::copy(d.join("b-key.pem"), d.join("a-key.pem")).unwrap();
        assert!(!load_cert(d, "a").unwrap().1.matches_cert);
        fs::remove_file(d.join("a-key.pem")).unwrap();
        let (_, key) = load_cert(d, "a").unwrap();
        assert!(!key.exists && !key.matches_cert && key.mode.is_none());
        assert!(load_cert(d, "nope").is_err());
    }

    #[test]
    fn rfc3339_and_days() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(days_until(t + Duration::hours(49), t), 2);
        assert_eq!(days_until(t - Duration::hours(1), t), -1);
    }
}
