//! Certificate authority and leaf certificates: issue, load, inspect, keep.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

use super::files::{read_text, write_public, write_secret};
fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}
use super::request::split_hosts;
use super::{Action, CertRequest, KeyAlgorithm, PkiError, Subject};

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
    /// [`KeyAlgorithm`] names it, or a description for others.
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

    fn x509(&self) -> Result<X509Certificate<'_>, String> {
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

fn parse_key(pem: &str, path: &Path) -> Result<KeyPair, PkiError> {
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

/// Makes sure `<dir>/<stem>.pem` (0644) and `<dir>/<stem>-key.pem` (0600)
/// hold a certificate for `req` signed by `ca`, like `cfssl gencert
/// -profile=kubernetes`: key usages digital signature + key encipherment,
/// extended key usages `req.usages` (the lesson's profile: server auth +
/// client auth), basic constraints CA:FALSE, subject and authority key
/// identifiers.
///
/// The existing pair is kept ([`Action::Kept`]) when all of these hold:
/// both files exist and parse; the key belongs to the certificate; the
/// certificate is signed by `ca`; its subject (CN, O, OU, C, ST, L) and set of SANs equal the
/// request's; its key algorithm is `req.algorithm`; its extended key usages
/// are `req.usages`; and it does not expire within `renew_within_days` days.
///
/// Otherwise a new key and certificate are made and [`Action::Created`]
/// (no file existed) or [`Action::Reissued`] is returned, the latter with
/// every reason found, joined by `; `, for instance
/// `SANs changed: +10.240.0.10 -old.example`, `signed by another CA (issuer
/// CN "old-ca")`, `expires in 3 days`, `key does not match certificate`.
pub fn ensure_leaf(
    dir: &Path,
    stem: &str,
    ca: &Ca,
    req: &CertRequest,
    renew_within_days: u32,
) -> Result<(CertInfo, Action), PkiError> {
    let action = match plan_leaf(dir, stem, ca, req, renew_within_days)? {
        (Some(info), _) => return Ok((info, Action::Kept)),
        (None, action) => action,
    };
    let info = issue_leaf(dir, stem, ca, req)?;
    Ok((info, action))
}

/// What [`ensure_leaf`] would do, without writing anything (plan mode):
/// `(Some(info), Action::Kept)` when the existing pair would be kept, else
/// `(None, Action::Created)` or `(None, Action::Reissued(why))`.
pub fn plan_leaf(
    dir: &Path,
    stem: &str,
    ca: &Ca,
    req: &CertRequest,
    renew_within_days: u32,
) -> Result<(Option<CertInfo>, Action), PkiError> {
    let (cert_path, key_path) = pair_paths(dir, stem);
    let why = match (cert_path.exists(), key_path.exists()) {
        (false, false) => return Ok((None, Action::Created)),
        (true, false) => format!("key file {} is missing", key_path.display()),
        (false, true) => format!("certificate file {} is missing", cert_path.display()),
        (true, true) => {
            match judge_leaf(stem, &cert_path, &key_path, ca, req, renew_within_days)? {
                Ok(info) => return Ok((Some(info), Action::Kept)),
                Err(reasons) => reasons,
            }
        }
    };
    Ok((None, Action::Reissued(why)))
}

/// [`ensure_leaf`] for many certificates at once, all signed by `ca`:
/// the key generation (which dominates, for RSA) runs on up to `threads`
/// threads. Results come back in the order of `requests`, one per request;
/// stems must be distinct.
pub fn ensure_leaves(
    dir: &Path,
    ca: &Ca,
    requests: &[(String, CertRequest)],
    renew_within_days: u32,
    threads: usize,
) -> Vec<Result<(CertInfo, Action), PkiError>> {
    in_parallel(requests, threads, |(stem, req)| {
        ensure_leaf(dir, stem, ca, req, renew_within_days)
    })
    .into_iter()
    .zip(requests)
    .map(|(r, (stem, _))| {
        r.unwrap_or_else(|| {
            Err(PkiError::Issue {
                stem: stem.clone(),
                reason: "the worker thread issuing it failed".to_string(),
            })
        })
    })
    .collect()
}

/// `f` over `items` on up to `threads` threads (this one included),
/// results in the order of `items`; `None` where a thread failed.
pub(crate) fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(item) = items.get(i) else {
                break;
            };
            let r = f(item);
            if let Ok(mut slot) = results[i].lock() {
                *slot = Some(r);
            }
        }
    };
    let threads = threads.clamp(1, items.len().max(1));
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    results
        .into_iter()
        .map(|slot| slot.into_inner().ok().flatten())
        .collect()
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

/// What a certificate made from `req` would say, before it exists (plan
/// mode): no fingerprint or serial yet, validity from now.
pub fn preview(req: &CertRequest, issuer_cn: &str, is_ca: bool) -> Result<CertInfo, PkiError> {
    let (dns, ips) = split_hosts(&req.subject.cn, &req.hosts)?;
    let now = OffsetDateTime::now_utc();
    Ok(CertInfo {
        subject_cn: req.subject.cn.clone(),
        subject_o: req.subject.o.clone(),
        issuer_cn: if is_ca {
            req.subject.cn.clone()
        } else {
            issuer_cn.to_string()
        },
        dns_sans: dns,
        ip_sans: ips.iter().map(|ip| ip.to_string()).collect(),
        not_before: rfc3339(now - Duration::minutes(5)),
        not_after: rfc3339(now + Duration::days(i64::from(req.validity_days))),
        days_left: i64::from(req.validity_days),
        fingerprint_sha256: String::new(),
        serial: String::new(),
        is_ca,
        server_auth: !is_ca && req.usages.server_auth,
        client_auth: !is_ca && req.usages.client_auth,
        key_algorithm: req.algorithm.name().to_string(),
    })
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

/// `Ok(info)` when the pair can be kept, `Err(reasons)` when it must be
/// re-issued. I/O errors other than "unparseable" are real errors.
fn judge_leaf(
    stem: &str,
    cert_path: &Path,
    key_path: &Path,
    ca: &Ca,
    req: &CertRequest,
    renew_within_days: u32,
) -> Result<Result<CertInfo, String>, PkiError> {
    // Bytes, not text: a file that is not even UTF-8 is re-issued, not an error.
    let read = |path: &Path| {
        std::fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|source| PkiError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })
    };
    let cert_text = read(cert_path)?;
    let key_text = read(key_path)?;
    let cert = match LoadedCert::from_pem(&cert_text, &cert_path.display().to_string()) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("certificate is unreadable: {e}"))),
    };
    let key = match KeyPair::from_pem(&key_text) {
        Ok(k) => k,
        Err(_) => {
            return Ok(Err(format!(
                "key {} is not a usable private key",
                key_path.display()
            )));
        }
    };
    if !cert.matches_key(&key) {
        return Ok(Err("key does not match certificate".to_string()));
    }

    let mut reasons = Vec::new();
    let info = &cert.info;
    if !cert.is_signed_by(ca.loaded()) {
        reasons.push(format!(
            "signed by another CA (issuer CN {:?}, expected {:?})",
            info.issuer_cn,
            ca.info().subject_cn
        ));
    }
    if info.subject_cn != req.subject.cn {
        reasons.push(format!(
            "CN changed: {:?} -> {:?}",
            info.subject_cn, req.subject.cn
        ));
    }
    if info.subject_o != req.subject.o {
        reasons.push(format!(
            "O changed: {} -> {}",
            opt_quoted(&info.subject_o),
            opt_quoted(&req.subject.o)
        ));
    }
    if let Ok(x) = cert.x509() {
        let first =
            |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
                it.filter_map(|a| a.as_str().ok().map(str::to_string))
                    .next()
            };
        let name = x.subject();
        for (field, have, want) in [
            ("C", first(&mut name.iter_country()), &req.subject.c),
            (
                "ST",
                first(&mut name.iter_state_or_province()),
                &req.subject.st,
            ),
            ("L", first(&mut name.iter_locality()), &req.subject.l),
            (
                "OU",
                first(&mut name.iter_organizational_unit()),
                &req.subject.ou,
            ),
        ] {
            if have != *want {
                reasons.push(format!(
                    "{field} changed: {} -> {}",
                    opt_quoted(&have),
                    opt_quoted(want)
                ));
            }
        }
    }
    let (dns, ips) = split_hosts(stem, &req.hosts)?;
    let want: BTreeSet<String> = dns
        .into_iter()
        .chain(ips.iter().map(|ip| ip.to_string()))
        .collect();
    let have: BTreeSet<String> = info.sans().map(str::to_string).collect();
    if want != have {
        let mut diff: Vec<String> = want.difference(&have).map(|s| format!("+{s}")).collect();
        diff.extend(have.difference(&want).map(|s| format!("-{s}")));
        reasons.push(format!("SANs changed: {}", diff.join(" ")));
    }
    if info.key_algorithm != req.algorithm.name() {
        reasons.push(format!(
            "key algorithm changed: {} -> {}",
            info.key_algorithm, req.algorithm
        ));
    }
    let have_usages = super::Usages {
        server_auth: info.server_auth,
        client_auth: info.client_auth,
    };
    if have_usages != req.usages {
        reasons.push(format!(
            "extended key usages changed: {have_usages} -> {}",
            req.usages
        ));
    }
    let remaining = match x509_not_after(&cert) {
        Some(t) => t - OffsetDateTime::now_utc(),
        None => Duration::ZERO,
    };
    if remaining <= Duration::ZERO {
        reasons.push(format!("expired on {}", info.not_after));
    } else if remaining < Duration::days(i64::from(renew_within_days)) {
        let days = remaining.whole_days();
        reasons.push(format!(
            "expires in {days} day{} (renewal window {renew_within_days} days)",
            if days == 1 { "" } else { "s" }
        ));
    }

    if reasons.is_empty() {
        Ok(Ok(cert.info))
    } else {
        Ok(Err(reasons.join("; ")))
    }
}

fn x509_not_after(cert: &LoadedCert) -> Option<OffsetDateTime> {
    cert.x509()
        .ok()
        .map(|x| x.validity().not_after.to_datetime())
}

fn opt_quoted(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("{s:?}"),
        None => "none".to_string(),
    }
}

/// Issues `<dir>/<stem>.pem` with a new key `<dir>/<stem>-key.pem` for
/// `req`, signed by `ca` (see [`ensure_leaf`] for its profile).
pub(crate) fn issue_leaf(
    dir: &Path,
    stem: &str,
    ca: &Ca,
    req: &CertRequest,
) -> Result<CertInfo, PkiError> {
    let (cert_path, key_path) = pair_paths(dir, stem);
    let (cert_path, key_path) = (cert_path.as_path(), key_path.as_path());
    let issue_err = |e: rcgen::Error| PkiError::Issue {
        stem: stem.to_string(),
        reason: e.to_string(),
    };
    let key = generate_key(stem, req.algorithm)?;
    let mut params = base_params(stem, req)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = Vec::new();
    if req.usages.server_auth {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if req.usages.client_auth {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    params.use_authority_key_identifier_extension = true;
    let ca_key = parse_key(&ca.key_pem, &ca.key_path)?;
    let issuer =
        Issuer::from_ca_cert_der(&ca.cert.der.as_slice().into(), &ca_key).map_err(issue_err)?;
    let cert = params.signed_by(&key, &issuer).map_err(issue_err)?;
    let cert_pem = cert.pem();
    // Key first: a crash between the two writes leaves a key that does not
    // match the old certificate, which the next run re-issues.
    write_secret(key_path, key.serialize_pem().as_bytes())?;
    write_public(cert_path, cert_pem.as_bytes())?;
    LoadedCert::from_pem(&cert_pem, &cert_path.display().to_string()).map(|c| c.info)
}

fn generate_key(stem: &str, alg: KeyAlgorithm) -> Result<KeyPair, PkiError> {
    super::keys::generate(alg).map_err(key_error(stem, alg))
}

/// The error for a key of `alg` that could not be made for `stem`.
fn key_error(stem: &str, alg: KeyAlgorithm) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |e| PkiError::Issue {
        stem: stem.to_string(),
        reason: format!("cannot generate a {alg} key: {e}"),
    }
}

/// Validity, serial, subject and SANs shared by CA and leaf certificates.
fn base_params(stem: &str, req: &CertRequest) -> Result<CertificateParams, PkiError> {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let mut params = CertificateParams::default();
    // Like cfssl, back-date by five minutes to tolerate clock skew.
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(i64::from(req.validity_days));
    params.serial_number = Some(random_serial(stem)?);
    params.distinguished_name = distinguished_name(&req.subject);
    let (dns, ips) = split_hosts(stem, &req.hosts)?;
    let mut sans = Vec::with_capacity(dns.len() + ips.len());
    for d in dns {
        let name = d.clone().try_into().map_err(|_| PkiError::InvalidHost {
            stem: stem.to_string(),
            host: d,
        })?;
        sans.push(SanType::DnsName(name));
    }
    sans.extend(ips.into_iter().map(SanType::IpAddress));
    params.subject_alt_names = sans;
    Ok(params)
}

fn random_serial(stem: &str) -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| PkiError::Issue {
        stem: stem.to_string(),
        reason: format!("no randomness for a serial number: {e}"),
    })?;
    // Positive, and never starting with a zero byte (a canonical INTEGER).
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// cfssl's order: C, ST, L, O, OU, CN.
fn distinguished_name(s: &Subject) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    let fields = [
        (DnType::CountryName, &s.c),
        (DnType::StateOrProvinceName, &s.st),
        (DnType::LocalityName, &s.l),
        (DnType::OrganizationName, &s.o),
        (DnType::OrganizationalUnitName, &s.ou),
    ];
    for (ty, value) in fields {
        if let Some(v) = value {
            dn.push(ty, v.as_str());
        }
    }
    dn.push(DnType::CommonName, s.cn.as_str());
    dn
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn req(cn: &str, hosts: &[&str]) -> CertRequest {
        CertRequest {
            subject: Subject::cn(cn),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            validity_days: 365,
            algorithm: KeyAlgorithm::EcdsaP256,
            usages: super::super::Usages::KUBERNETES,
        }
    }

    fn ca_req() -> CertRequest {
        CertRequest {
            subject: Subject {
                cn: "Kubernetes".into(),
                o: Some("Kubernetes".into()),
                ou: Some("CA".into()),
                c: Some("US".into()),
                st: Some("Oregon".into()),
                l: Some("Portland".into()),
            },
            hosts: vec![],
            validity_days: 3650,
            algorithm: KeyAlgorithm::EcdsaP256,
            usages: super::super::Usages::KUBERNETES,
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

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
        send_sync::<super::super::CheckReport>();
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        let copy = ca.clone();
        let (leaf, _) = ensure_leaf(dir.path(), "x", &copy, &req("x", &[]), 30).unwrap();
        assert_eq!(leaf.issuer_cn, "Kubernetes");
    }

    #[test]
    fn non_utf8_files_are_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        ensure_leaf(dir.path(), "x", &ca, &req("x", &[]), 30).unwrap();
        fs::write(dir.path().join("x.pem"), [0xff, 0xfe, 0x00]).unwrap();
        let why = reissue_reason(
            ensure_leaf(dir.path(), "x", &ca, &req("x", &[]), 30)
                .unwrap()
                .1,
        );
        assert!(why.starts_with("certificate is unreadable"), "{why}");
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

    #[test]
    fn leaf_is_created_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = ensure_ca(dir.path(), "ca", &ca_req()).unwrap();
        let mut r = req("admin", &["127.0.0.1", "localhost"]);
        r.subject.o = Some("system:masters".into());
        let (info, action) = ensure_leaf(dir.path(), "admin", &ca, &r, 30).unwrap();
        assert_eq!(action, Action::Created);
        assert_eq!(info.subject_cn, "admin");
        assert_eq!(info.subject_o.as_deref(), Some("system:masters"));
        assert_eq!(info.issuer_cn, "Kubernetes");
        assert_eq!(info.dns_sans, vec!["localhost"]);
        assert_eq!(info.ip_sans, vec!["127.0.0.1"]);
        assert!(info.server_auth && info.client_auth && !info.is_ca);
        assert_eq!(mode(&dir.path().join("admin-key.pem")), 0o600);
        assert_eq!(mode(&dir.path().join("admin.pem")), 0o644);

        // Same request in another host order: kept, same certificate.
        let mut r2 = r.clone();
        r2.hosts.reverse();
        let (again, action) = ensure_leaf(dir.path(), "admin", &ca, &r2, 30).unwrap();
        assert_eq!(action, Action::Kept);
        assert_eq!(again.fingerprint_sha256, info.fingerprint_sha256);

        let pem = fs::read_to_string(dir.path().join("admin.pem")).unwrap();
        assert_eq!(
            inspect_pem(&pem).unwrap().fingerprint_sha256,
            info.fingerprint_sha256
        );
        assert!(info.fingerprint_sha256.split(':').count() == 32);
    }

    fn reissue_reason(action: Action) -> String {
        match action {
            Action::Reissued(why) => why,
            other => panic!("expected a re-issue, got {other}"),
        }
    }

    #[test]
    fn leaf_is_reissued_for_each_reason() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, _) = ensure_ca(d, "ca", &ca_req()).unwrap();
        let r = req("kubernetes", &["foo", "10.0.0.1"]);
        let (first, _) = ensure_leaf(d, "api", &ca, &r, 30).unwrap();

        // SANs changed.
        let r_sans = req("kubernetes", &["10.0.0.1", "1.2.3.4"]);
        let (second, action) = ensure_leaf(d, "api", &ca, &r_sans, 30).unwrap();
        assert_eq!(reissue_reason(action), "SANs changed: +1.2.3.4 -foo");
        assert_ne!(first.fingerprint_sha256, second.fingerprint_sha256);
        assert_eq!(
            ensure_leaf(d, "api", &ca, &r_sans, 30).unwrap().1,
            Action::Kept
        );

        // CN and O changed.
        let mut r_cn = r_sans.clone();
        r_cn.subject.cn = "kube".into();
        r_cn.subject.o = Some("g".into());
        let why = reissue_reason(ensure_leaf(d, "api", &ca, &r_cn, 30).unwrap().1);
        assert_eq!(
            why,
            "CN changed: \"kubernetes\" -> \"kube\"; O changed: none -> \"g\""
        );

        // Signed by another CA.
        let other_dir = tempfile::tempdir().unwrap();
        let (other_ca, _) = ensure_ca(other_dir.path(), "ca", &ca_req()).unwrap();
        let why = reissue_reason(ensure_leaf(d, "api", &other_ca, &r_cn, 30).unwrap().1);
        assert!(why.starts_with("signed by another CA"), "{why}");
        assert_eq!(
            ensure_leaf(d, "api", &other_ca, &r_cn, 30).unwrap().1,
            Action::Kept
        );

        // Key does not match.
        ensure_leaf(d, "other", &other_ca, &r_cn, 30).unwrap();
        fs::copy(d.join("other-key.pem"), d.join("api-key.pem")).unwrap();
        let why = reissue_reason(ensure_leaf(d, "api", &other_ca, &r_cn, 30).unwrap().1);
        assert_eq!(why, "key does not match certificate");

        // Close to expiry: 4 days of validity left 3 whole days.
        let mut r_short = r_cn.clone();
        r_short.validity_days = 4;
        let (_, action) = ensure_leaf(d, "short", &other_ca, &r_short, 30).unwrap();
        assert_eq!(action, Action::Created);
        let (_, action) = ensure_leaf(d, "short", &other_ca, &r_short, 30).unwrap();
        let why = reissue_reason(action);
        assert_eq!(why, "expires in 3 days (renewal window 30 days)");
        // Outside the renewal window it is kept.
        assert_eq!(
            ensure_leaf(d, "short", &other_ca, &r_short, 2).unwrap().1,
            Action::Kept
        );

        // Missing key file.
        fs::remove_file(d.join("api-key.pem")).unwrap();
        let why = reissue_reason(ensure_leaf(d, "api", &other_ca, &r_cn, 30).unwrap().1);
        assert!(
            why.starts_with("key file ") && why.ends_with("api-key.pem is missing"),
            "{why}"
        );

        // Garbage certificate.
        fs::write(d.join("api.pem"), "not a cert").unwrap();
        let why = reissue_reason(ensure_leaf(d, "api", &other_ca, &r_cn, 30).unwrap().1);
        assert!(why.starts_with("certificate is unreadable"), "{why}");
        assert_eq!(
            ensure_leaf(d, "api", &other_ca, &r_cn, 30).unwrap().1,
            Action::Kept
        );
    }

    #[test]
    fn rsa_2048_leaf_and_algorithm_change() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, _) = ensure_ca(d, "ca", &ca_req()).unwrap();
        let mut r = req("kube-proxy", &[]);
        r.algorithm = KeyAlgorithm::Rsa2048;
        let (info, action) = ensure_leaf(d, "kube-proxy", &ca, &r, 30).unwrap();
        assert_eq!(action, Action::Created);
        assert_eq!(info.key_algorithm, "rsa-2048");
        let key_pem = fs::read_to_string(d.join("kube-proxy-key.pem")).unwrap();
        assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            ensure_leaf(d, "kube-proxy", &ca, &r, 30).unwrap().1,
            Action::Kept
        );
        r.algorithm = KeyAlgorithm::EcdsaP256;
        let why = reissue_reason(ensure_leaf(d, "kube-proxy", &ca, &r, 30).unwrap().1);
        assert_eq!(why, "key algorithm changed: rsa-2048 -> ecdsa-p256");
    }

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
    fn plan_functions_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(plan_ca(d, "ca").unwrap().0.is_none());
        let (ca, _) = ensure_ca(d, "ca", &ca_req()).unwrap();
        let planned = plan_ca(d, "ca").unwrap().0.unwrap();
        assert_eq!(planned.info(), ca.info());

        let r = req("admin", &["10.0.0.1"]);
        assert_eq!(
            plan_leaf(d, "admin", &ca, &r, 30).unwrap(),
            (None, Action::Created)
        );
        assert!(!d.join("admin.pem").exists() && !d.join("admin-key.pem").exists());
        let (info, _) = ensure_leaf(d, "admin", &ca, &r, 30).unwrap();
        let (kept, action) = plan_leaf(d, "admin", &ca, &r, 30).unwrap();
        assert_eq!((kept.unwrap(), action), (info.clone(), Action::Kept));
        let r2 = req("admin", &["10.0.0.2"]);
        let before = fs::read(d.join("admin.pem")).unwrap();
        assert_eq!(
            plan_leaf(d, "admin", &ca, &r2, 30).unwrap(),
            (
                None,
                Action::Reissued("SANs changed: +10.0.0.2 -10.0.0.1".into())
            )
        );
        assert_eq!(fs::read(d.join("admin.pem")).unwrap(), before);

        let p = preview(&r2, "Kubernetes", false).unwrap();
        assert_eq!(p.subject_cn, "admin");
        assert_eq!(p.ip_sans, vec!["10.0.0.2"]);
        assert_eq!(p.issuer_cn, "Kubernetes");
        assert!(p.fingerprint_sha256.is_empty() && p.server_auth && !p.is_ca);
        let pc = preview(&ca_req(), "", true).unwrap();
        assert!(pc.is_ca && !pc.server_auth);
        assert_eq!(pc.issuer_cn, "Kubernetes");
    }

    #[test]
    fn other_subject_fields_are_compared() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, _) = ensure_ca(d, "ca", &ca_req()).unwrap();
        let mut r = req("admin", &[]);
        r.subject.ou = Some("Ops".into());
        r.subject.c = Some("UK".into());
        ensure_leaf(d, "admin", &ca, &r, 30).unwrap();
        assert_eq!(
            ensure_leaf(d, "admin", &ca, &r, 30).unwrap().1,
            Action::Kept
        );
        r.subject.ou = Some("Dev".into());
        r.subject.c = None;
        r.subject.l = Some("London".into());
        let why = reissue_reason(ensure_leaf(d, "admin", &ca, &r, 30).unwrap().1);
        assert_eq!(
            why,
            "C changed: \"UK\" -> none; L changed: none -> \"London\"; OU changed: \"Ops\" -> \"Dev\""
        );
        assert_eq!(
            ensure_leaf(d, "admin", &ca, &r, 30).unwrap().1,
            Action::Kept
        );
    }

    #[test]
    fn usages_are_issued_and_compared() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, _) = ensure_ca(d, "ca", &ca_req()).unwrap();
        let mut r = req("client", &[]);
        r.usages = super::super::Usages {
            server_auth: false,
            client_auth: true,
        };
        let (info, _) = ensure_leaf(d, "client", &ca, &r, 30).unwrap();
        assert!(info.client_auth && !info.server_auth);
        assert_eq!(
            ensure_leaf(d, "client", &ca, &r, 30).unwrap().1,
            Action::Kept
        );
        r.usages = super::super::Usages::KUBERNETES;
        let why = reissue_reason(ensure_leaf(d, "client", &ca, &r, 30).unwrap().1);
        assert_eq!(
            why,
            "extended key usages changed: client auth -> server auth, client auth"
        );
    }

    #[test]
    fn batch_issues_in_order_and_keeps_on_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, _) = ensure_ca(d, "ca", &ca_req()).unwrap();
        let reqs: Vec<(String, CertRequest)> = (0..5)
            .map(|i| (format!("leaf-{i}"), req(&format!("cn-{i}"), &[])))
            .collect();
        let out = ensure_leaves(d, &ca, &reqs, 30, 3);
        assert_eq!(out.len(), 5);
        for (i, r) in out.iter().enumerate() {
            let (info, action) = r.as_ref().unwrap();
            assert_eq!(info.subject_cn, format!("cn-{i}"));
            assert_eq!(*action, Action::Created);
        }
        let again = ensure_leaves(d, &ca, &reqs, 30, 8);
        assert!(again.iter().all(|r| r.as_ref().unwrap().1 == Action::Kept));
        // A bad request fails alone; the others are still made.
        let mut bad = reqs.clone();
        bad[1].1.hosts = vec!["two words".into()];
        let out = ensure_leaves(d, &ca, &bad, 30, 2);
        assert!(out[1].is_err());
        assert!(out[0].is_ok() && out[2].is_ok());
        assert!(ensure_leaves(d, &ca, &[], 30, 4).is_empty());
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
