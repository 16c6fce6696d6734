//! Leaf certificates: keep or re-issue. [`plan_leaf`] is the one decision
//! (kept, or re-issued with every reason: SANs, subject, usages, key type,
//! CA, expiry); [`ensure_leaf`] acts on it, [`ensure_leaves`] for a batch.

use std::collections::BTreeSet;
use std::path::Path;

use rcgen::KeyPair;
use time::{Duration, OffsetDateTime};

use super::ca::Ca;
use super::info::{LoadedCert, pair_paths};
use super::request::split_hosts;
use super::{Action, CertInfo, CertRequest, PkiError};

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
    let info = ca.issue(dir, stem, req)?;
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
    issue_in_parallel(requests, threads, |stem, req| {
        ensure_leaf(dir, stem, ca, req, renew_within_days)
    })
}

/// `issue` for every `(stem, request)` on up to `threads` threads
/// ([`in_parallel`]), results in the order of `requests`; a worker thread
/// that failed is its request's error.
pub(crate) fn issue_in_parallel<T: Send>(
    requests: &[(String, CertRequest)],
    threads: usize,
    issue: impl Fn(&str, &CertRequest) -> Result<T, PkiError> + Sync,
) -> Vec<Result<T, PkiError>> {
    in_parallel(requests, threads, |(stem, req)| issue(stem, req))
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;
    use std::fs;

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
        r.usages = Usages {
            server_auth: false,
            client_auth: true,
        };
        let (info, _) = ensure_leaf(d, "client", &ca, &r, 30).unwrap();
        assert!(info.client_auth && !info.server_auth);
        assert_eq!(
            ensure_leaf(d, "client", &ca, &r, 30).unwrap().1,
            Action::Kept
        );
        r.usages = Usages::KUBERNETES;
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
}
