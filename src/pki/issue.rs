//! Issuing and signing: a new key, the certificate's parameters (cfssl's
//! subject order, SANs, serial, validity back-dated five minutes) and the
//! leaf profile; and [`preview`], what a certificate would say before it
//! is made (plan mode).

use std::path::Path;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::files::{write_public, write_secret};
use super::info::{LoadedCert, pair_paths, rfc3339};
use super::request::split_hosts;
use super::{CertInfo, CertRequest, KeyAlgorithm, PkiError, Subject};

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

/// Issues `<dir>/<stem>.pem` with a new key `<dir>/<stem>-key.pem` for
/// `req`, signed by the CA `ca_der` with `ca_key` (see
/// [`super::ensure_leaf`] for its profile).
pub(crate) fn issue_leaf(
    dir: &Path,
    stem: &str,
    ca_der: &[u8],
    ca_key: &KeyPair,
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
    let issuer = Issuer::from_ca_cert_der(&ca_der.into(), ca_key).map_err(issue_err)?;
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
pub(super) fn key_error(
    stem: &str,
    alg: KeyAlgorithm,
) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |e| PkiError::Issue {
        stem: stem.to_string(),
        reason: format!("cannot generate a {alg} key: {e}"),
    }
}

/// Validity, serial, subject and SANs shared by CA and leaf certificates.
pub(super) fn base_params(stem: &str, req: &CertRequest) -> Result<CertificateParams, PkiError> {
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
