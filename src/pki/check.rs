//! Audit of a PKI directory: what a careful person would look at with
//! `openssl x509 -noout -text`, `openssl verify` and `ls -l` before copying
//! the files to the nodes.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::PkiError;
use super::encryption::{VALID_KEY_LENGTHS, encryption_key_len};
use super::files::{file_mode, read_text};
use super::info::LoadedCert;
use super::request::split_hosts;

/// What one kubelet's certificate must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletExpect {
    /// The certificate's stem, e.g. `worker-0` for `worker-0.pem`.
    pub stem: String,
    /// The expected common name, e.g. `system:node:worker-0`.
    pub cn: String,
    /// The expected SANs (host names and IP addresses), exactly.
    pub hosts: Vec<String>,
}

/// What [`check`] checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    /// The directory holding `*.pem` and `*-key.pem`.
    pub dir: PathBuf,
    /// The CA's stem, e.g. `ca`.
    pub ca_stem: String,
    /// The API server certificate's stem, e.g. `kubernetes`.
    pub apiserver_stem: String,
    /// SANs the API server certificate must have (it may have more).
    pub apiserver_required_sans: Vec<String>,
    /// The kubelet certificates and what each must say.
    pub kubelets: Vec<KubeletExpect>,
    /// The cluster DNS service IP (kubelet's `clusterDNS`), e.g. `10.32.0.10`.
    pub cluster_dns: String,
    /// The service CIDR (`--service-cluster-ip-range`), e.g. `10.32.0.0/24`.
    pub service_cidr: String,
    /// The encryption config file.
    pub encryption_config: PathBuf,
    /// The API server URLs a kubeconfig may name (the public address's and
    /// the masters' local one); empty when unknown (then not checked).
    pub api_servers: Vec<String>,
}

/// One certificate file of the directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckRow {
    /// The stem: `admin` for `admin.pem`.
    pub stem: String,
    /// `CN=...` and, if any, `, O=...`; empty if the file does not parse.
    pub subject: String,
    /// Number of subject alternative names.
    pub san_count: usize,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days until `not_after`.
    pub days_left: i64,
    /// `<stem>-key.pem` exists and belongs to the certificate.
    pub key_matches: bool,
    /// The certificate is signed by the CA (for the CA: by itself).
    pub chains_to_ca: bool,
    /// Permission bits of `<stem>-key.pem` (e.g. `0o600`), if it exists.
    /// Serialized as an octal string such as `"0600"`.
    #[serde(serialize_with = "octal_mode")]
    pub key_mode: Option<u32>,
    /// What is wrong with this file, one line each, naming the file.
    pub problems: Vec<String>,
}

fn octal_mode<S: serde::Serializer>(mode: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match mode {
        Some(m) => s.serialize_str(&format!("{m:04o}")),
        None => s.serialize_none(),
    }
}

/// The result of [`check`]. [`fmt::Display`] renders it as a table followed
/// by the problems.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// One row per certificate file, sorted by file name.
    pub rows: Vec<CheckRow>,
    /// Cross-checks that failed (API server SANs, kubelets, cluster DNS,
    /// encryption key, missing files), one line each.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// True when no row and no cross-check has a problem.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.rows.iter().all(|r| r.problems.is_empty())
    }

    /// Every problem: the rows' first, then the cross-checks'.
    pub fn all_problems(&self) -> impl Iterator<Item = &str> {
        self.rows
            .iter()
            .flat_map(|r| r.problems.iter())
            .chain(self.problems.iter())
            .map(String::as_str)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes_no = |b: bool| if b { "yes" } else { "NO" };
        let width = self
            .rows
            .iter()
            .map(|r| r.stem.len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            f,
            "{:width$}  {:>4}  {:20}  {:>5}  {:3}  {:5}  {:4}  SUBJECT",
            "FILE", "SANS", "NOT AFTER", "DAYS", "KEY", "CHAIN", "MODE"
        )?;
        for r in &self.rows {
            let mode = r.key_mode.map_or("-".to_string(), |m| format!("{m:04o}"));
            writeln!(
                f,
                "{:width$}  {:>4}  {:20}  {:>5}  {:3}  {:5}  {:4}  {}",
                r.stem,
                r.san_count,
                r.not_after,
                r.days_left,
                yes_no(r.key_matches),
                yes_no(r.chains_to_ca),
                mode,
                r.subject
            )?;
        }
        let problems: Vec<&str> = self.all_problems().collect();
        if problems.is_empty() {
            writeln!(f, "no problems found")?;
        } else {
            writeln!(f, "{} problem(s):", problems.len())?;
            for p in problems {
                writeln!(f, "  - {p}")?;
            }
        }
        Ok(())
    }
}

fn is_key_file(name: &str) -> bool {
    name.ends_with("-key.pem")
}

/// Audits the PKI directory described by `spec`.
///
/// Every `*.pem` file that is not a `*-key.pem` gets a row (the CA and the
/// kubelet certificates included) with its own problems: not a certificate,
/// key missing or not matching, not signed by the CA, expired, key file
/// mode not 0600. Then the cross-checks: the API server certificate has
/// every required SAN; each kubelet certificate's CN and SANs are exactly
/// its node's; `cluster_dns` lies in `service_cidr`; the encryption key
/// decodes to 16, 24 or 32 bytes and its file is mode 0600; every
/// `*-key.pem`, even one without a certificate, is mode 0600; and every
/// kubeconfig is mode 0600, embeds the CA, a client certificate signed by
/// it with its matching key, names its expected server, and its user (and
/// context user) is the certificate's CN.
///
/// Only an unreadable directory is an error; everything else is a problem
/// line in the report.
pub fn check(spec: &CheckSpec) -> Result<CheckReport, PkiError> {
    let dir = &spec.dir;
    let entries = std::fs::read_dir(dir).map_err(|source| PkiError::Io {
        action: "list",
        path: dir.clone(),
        source,
    })?;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| PkiError::Io {
            action: "list",
            path: dir.clone(),
            source,
        })?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();

    let mut problems = Vec::new();
    let ca_path = dir.join(format!("{}.pem", spec.ca_stem));
    let ca = match LoadedCert::from_file(&ca_path) {
        Ok(ca) => Some(ca),
        Err(e) => {
            problems.push(format!("CA certificate: {e}"));
            None
        }
    };

    let mut rows = Vec::new();
    let mut certs: Vec<(String, LoadedCert)> = Vec::new();
    for name in names
        .iter()
        .filter(|n| n.ends_with(".pem") && !is_key_file(n))
    {
        let stem = name.trim_end_matches(".pem").to_string();
        let (row, cert) = check_file(dir, &stem, ca.as_ref());
        rows.push(row);
        if let Some(cert) = cert {
            certs.push((stem, cert));
        }
    }

    // Key files without a certificate still hold secrets.
    for name in names.iter().filter(|n| is_key_file(n)) {
        let stem = name.trim_end_matches("-key.pem");
        if !names.iter().any(|n| n == &format!("{stem}.pem")) {
            let path = dir.join(name);
            if let Some(p) = mode_problem(&path) {
                problems.push(p);
            }
        }
    }

    let find = |stem: &str| certs.iter().find(|(s, _)| s == stem).map(|(_, c)| c);

    // API server SANs.
    let api_path = dir.join(format!("{}.pem", spec.apiserver_stem));
    match find(&spec.apiserver_stem) {
        None => problems.push(format!(
            "{}: API server certificate is missing or unreadable",
            api_path.display()
        )),
        Some(api) => {
            let have = san_set(api.info.sans());
            let want = canonical_hosts(&spec.apiserver_required_sans);
            let missing: Vec<&str> = want
                .iter()
                .filter(|h| !have.contains(*h))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "{}: API server certificate lacks required SANs: {}",
                    api_path.display(),
                    missing.join(", ")
                ));
            }
        }
    }

    // Kubelets.
    for k in &spec.kubelets {
        let path = dir.join(format!("{}.pem", k.stem));
        let Some(cert) = find(&k.stem) else {
            problems.push(format!(
                "{}: kubelet certificate is missing or unreadable",
                path.display()
            ));
            continue;
        };
        if cert.info.subject_cn != k.cn {
            problems.push(format!(
                "{}: CN is {:?}, but its node needs {:?}",
                path.display(),
                cert.info.subject_cn,
                k.cn
            ));
        }
        let have = san_set(cert.info.sans());
        let want = canonical_hosts(&k.hosts);
        if have != want {
            let missing: Vec<&str> = want.difference(&have).map(String::as_str).collect();
            let extra: Vec<&str> = have.difference(&want).map(String::as_str).collect();
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing {}", missing.join(", ")));
            }
            if !extra.is_empty() {
                parts.push(format!("unexpected {}", extra.join(", ")));
            }
            problems.push(format!(
                "{}: SANs do not match the node: {}",
                path.display(),
                parts.join("; ")
            ));
        }
    }

    // Cluster DNS inside the service CIDR.
    match (
        spec.service_cidr.trim().parse::<ipnet::IpNet>(),
        spec.cluster_dns.trim().parse::<IpAddr>(),
    ) {
        (Err(_), _) => problems.push(format!(
            "service CIDR `{}` is not a CIDR like 10.32.0.0/24",
            spec.service_cidr
        )),
        (_, Err(_)) => problems.push(format!(
            "cluster DNS `{}` is not an IP address",
            spec.cluster_dns
        )),
        (Ok(net), Ok(ip)) => {
            if !net.contains(&ip) {
                problems.push(format!(
                    "cluster DNS {ip} is outside the service CIDR {net}"
                ));
            }
        }
    }

    // Encryption config.
    let enc = &spec.encryption_config;
    match encryption_key_len(enc) {
        Err(e) => problems.push(e.to_string()),
        Ok(len) if !VALID_KEY_LENGTHS.contains(&len) => problems.push(format!(
            "{}: the aescbc key is {len} bytes; it must be 16, 24 or 32",
            enc.display()
        )),
        Ok(_) => {
            if let Some(p) = mode_problem(enc) {
                problems.push(p);
            }
        }
    }

    // Kubeconfigs: every `*.kubeconfig` of the directory.
    for name in names.iter().filter(|n| n.ends_with(".kubeconfig")) {
        problems.extend(audit_kubeconfig(
            &dir.join(name),
            &spec.api_servers,
            ca.as_ref(),
        ));
    }

    Ok(CheckReport { rows, problems })
}

/// The problems of one kubeconfig (none when it is right).
fn audit_kubeconfig(path: &Path, servers: &[String], ca: Option<&LoadedCert>) -> Vec<String> {
    use super::kubeconfig::{decode_data, parse_fields};
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{shown}: cannot read the kubeconfig: {e}")],
    };
    let mut out: Vec<String> = mode_problem(path).into_iter().collect();
    let f = match parse_fields(&text) {
        Ok(f) => f,
        Err(why) => {
            out.push(format!(
                "{shown}: not a kubeconfig groundup can audit: {why}"
            ));
            return out;
        }
    };
    if !servers.is_empty() && !servers.contains(&f.server) {
        out.push(format!(
            "{shown}: server is {}, but the API server is at {}",
            f.server,
            servers.join(" or ")
        ));
    }
    if f.context_user != f.user_name {
        out.push(format!(
            "{shown}: the context's user {:?} is not the user {:?}",
            f.context_user, f.user_name
        ));
    }
    let pem =
        |field: &str, data: &str| decode_data(field, data).map_err(|why| format!("{shown}: {why}"));
    match pem("certificate-authority-data", &f.ca_data).and_then(|p| {
        LoadedCert::from_pem(&p, "certificate-authority-data").map_err(|e| format!("{shown}: {e}"))
    }) {
        Ok(embedded) => {
            if ca.is_some_and(|ca| ca.der != embedded.der) {
                out.push(format!("{shown}: the embedded CA is not the cluster's CA"));
            }
        }
        Err(p) => out.push(p),
    }
    let cert = match pem("client-certificate-data", &f.client_cert_data).and_then(|p| {
        LoadedCert::from_pem(&p, "client-certificate-data").map_err(|e| format!("{shown}: {e}"))
    }) {
        Ok(c) => c,
        Err(p) => {
            out.push(p);
            return out;
        }
    };
    if let Some(ca) = ca
        && !cert.is_signed_by(ca)
    {
        out.push(format!(
            "{shown}: the client certificate is not signed by the CA (issuer CN {:?})",
            cert.info.issuer_cn
        ));
    }
    if f.user_name != cert.info.subject_cn {
        out.push(format!(
            "{shown}: user {:?} does not match its certificate (CN {:?})",
            f.user_name, cert.info.subject_cn
        ));
    }
    match pem("client-key-data", &f.client_key_data).map(|p| rcgen::KeyPair::from_pem(&p)) {
        Ok(Ok(key)) if cert.matches_key(&key) => {}
        Ok(Ok(_)) => out.push(format!(
            "{shown}: the client key does not match the client certificate"
        )),
        Ok(Err(_)) => out.push(format!(
            "{shown}: `client-key-data` is not a usable private key"
        )),
        Err(p) => out.push(p),
    }
    out
}

/// A row for `<dir>/<stem>.pem`, and the parsed certificate if it parses.
fn check_file(dir: &Path, stem: &str, ca: Option<&LoadedCert>) -> (CheckRow, Option<LoadedCert>) {
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}-key.pem"));
    let mut row = CheckRow {
        stem: stem.to_string(),
        subject: String::new(),
        san_count: 0,
        not_after: String::new(),
        days_left: 0,
        key_matches: false,
        chains_to_ca: false,
        key_mode: None,
        problems: Vec::new(),
    };
    let cert = match LoadedCert::from_file(&cert_path) {
        Ok(c) => c,
        Err(e) => {
            row.problems.push(e.to_string());
            return (row, None);
        }
    };
    let info = &cert.info;
    row.subject = match &info.subject_o {
        Some(o) => format!("CN={}, O={}", info.subject_cn, o),
        None => format!("CN={}", info.subject_cn),
    };
    row.san_count = info.dns_sans.len() + info.ip_sans.len();
    row.not_after = info.not_after.clone();
    row.days_left = info.days_left;

    if key_path.exists() {
        row.key_mode = file_mode(&key_path);
        match read_text(&key_path).map(|t| rcgen::KeyPair::from_pem(&t)) {
            Ok(Ok(key)) => {
                row.key_matches = cert.matches_key(&key);
                if !row.key_matches {
                    row.problems.push(format!(
                        "{}: key does not match certificate {}",
                        key_path.display(),
                        cert_path.display()
                    ));
                }
            }
            Ok(Err(_)) => row
                .problems
                .push(format!("{}: not a usable private key", key_path.display())),
            Err(e) => row.problems.push(e.to_string()),
        }
        if let Some(p) = mode_problem(&key_path) {
            row.problems.push(p);
        }
    } else {
        row.problems
            .push(format!("{}: key file is missing", key_path.display()));
    }

    if let Some(ca) = ca {
        row.chains_to_ca = cert.is_signed_by(ca);
        if !row.chains_to_ca {
            row.problems.push(format!(
                "{}: not signed by the CA (issuer CN {:?})",
                cert_path.display(),
                info.issuer_cn
            ));
        }
    }
    if info.days_left < 0 {
        row.problems.push(format!(
            "{}: expired on {}",
            cert_path.display(),
            info.not_after
        ));
    }
    (row, Some(cert))
}

/// "`<path>`: mode 0644 is too open (want 0600)" when group or others have
/// any access.
fn mode_problem(path: &Path) -> Option<String> {
    let mode = file_mode(path)?;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{}: mode {mode:04o} is too open (want 0600)",
            path.display()
        )
    })
}

fn san_set<'a>(sans: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    sans.map(str::to_string).collect()
}

/// Hosts as certificate SANs would print them (IP addresses canonical).
fn canonical_hosts(hosts: &[String]) -> BTreeSet<String> {
    match split_hosts("check", hosts) {
        Ok((dns, ips)) => dns
            .into_iter()
            .chain(ips.iter().map(|ip| ip.to_string()))
            .collect(),
        Err(_) => hosts.iter().map(|h| h.trim().to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        CertRequest, KeyAlgorithm, Subject, ensure_ca, ensure_encryption_config, ensure_leaf,
    };
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn req(cn: &str, o: Option<&str>, hosts: &[&str]) -> CertRequest {
        CertRequest {
            subject: Subject {
                cn: cn.into(),
                o: o.map(str::to_string),
                ..Subject::default()
            },
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            validity_days: 365,
            algorithm: KeyAlgorithm::EcdsaP256,
            usages: super::super::Usages::KUBERNETES,
        }
    }

    const API_SANS: &[&str] = &["10.32.0.1", "127.0.0.1", "kubernetes.default"];

    /// A fresh, correct set: CA, API server, one kubelet, admin, a lone
    /// service-account key, encryption config.
    fn fresh() -> (tempfile::TempDir, CheckSpec) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ca, _) = ensure_ca(d, "ca", &req("Kubernetes", None, &[])).unwrap();
        ensure_leaf(d, "kubernetes", &ca, &req("kubernetes", None, API_SANS), 30).unwrap();
        ensure_leaf(
            d,
            "worker-0",
            &ca,
            &req(
                "system:node:worker-0",
                Some("system:nodes"),
                &["worker-0", "10.240.0.20"],
            ),
            30,
        )
        .unwrap();
        ensure_leaf(
            d,
            "admin",
            &ca,
            &req("admin", Some("system:masters"), &[]),
            30,
        )
        .unwrap();
        let enc = d.join("encryption-config.yaml");
        ensure_encryption_config(&enc).unwrap();
        super::super::ensure_kubeconfig(
            &d.join("admin.kubeconfig"),
            &super::super::KubeconfigSpec {
                cluster_name: "kubernetes-the-hard-way".into(),
                server: "https://k8s.example.test:6443".into(),
                ca_pem: fs::read_to_string(d.join("ca.pem")).unwrap(),
                user: "admin".into(),
                client_cert_pem: fs::read_to_string(d.join("admin.pem")).unwrap(),
                client_key_pem: fs::read_to_string(d.join("admin-key.pem")).unwrap(),
            },
        )
        .unwrap();
        let spec = CheckSpec {
            dir: d.to_path_buf(),
            ca_stem: "ca".into(),
            apiserver_stem: "kubernetes".into(),
            apiserver_required_sans: API_SANS.iter().map(|s| s.to_string()).collect(),
            kubelets: vec![KubeletExpect {
                stem: "worker-0".into(),
                cn: "system:node:worker-0".into(),
                hosts: vec!["10.240.0.20".into(), "worker-0".into()],
            }],
            cluster_dns: "10.32.0.10".into(),
            service_cidr: "10.32.0.0/24".into(),
            encryption_config: enc,
            api_servers: vec![
                "https://k8s.example.test:6443".into(),
                "https://127.0.0.1:6443".into(),
            ],
        };
        (dir, spec)
    }

    fn all(report: &CheckReport) -> Vec<String> {
        report.all_problems().map(str::to_string).collect()
    }

    #[test]
    fn fresh_set_passes() {
        let (_dir, spec) = fresh();
        let report = check(&spec).unwrap();
        assert!(report.ok(), "{report}");
        let stems: Vec<&str> = report.rows.iter().map(|r| r.stem.as_str()).collect();
        assert_eq!(stems, vec!["admin", "ca", "kubernetes", "worker-0"]);
        for r in &report.rows {
            assert!(r.key_matches && r.chains_to_ca, "{r:?}");
            assert_eq!(r.key_mode, Some(0o600));
        }
        let api = &report.rows[2];
        assert_eq!(api.san_count, 3);
        assert_eq!(api.subject, "CN=kubernetes");
        assert_eq!(
            report.rows[3].subject,
            "CN=system:node:worker-0, O=system:nodes"
        );
        let json = serde_json::to_value(&report.rows[0]).unwrap();
        assert_eq!(json["key_mode"], "0600");
        let text = report.to_string();
        assert!(text.contains("no problems found"), "{text}");
        assert!(!text.contains("PRIVATE KEY"));
    }

    #[test]
    fn wrong_ca_is_reported() {
        let (dir, spec) = fresh();
        let other = tempfile::tempdir().unwrap();
        let (other_ca, _) = ensure_ca(other.path(), "ca", &req("Other", None, &[])).unwrap();
        ensure_leaf(
            dir.path(),
            "admin",
            &other_ca,
            &req("admin", Some("system:masters"), &[]),
            30,
        )
        .unwrap();
        let report = check(&spec).unwrap();
        assert!(!report.ok());
        let admin_pem = dir.path().join("admin.pem");
        assert_eq!(
            all(&report),
            vec![format!(
                "{}: not signed by the CA (issuer CN \"Other\")",
                admin_pem.display()
            )]
        );
        assert!(!report.rows[0].chains_to_ca);
    }

    #[test]
    fn missing_san_is_reported() {
        let (dir, mut spec) = fresh();
        spec.apiserver_required_sans.push("10.240.0.10".into());
        spec.apiserver_required_sans
            .push("kubernetes.default.svc".into());
        // The kubelet gained an IP the certificate does not have.
        spec.kubelets[0].hosts.push("10.240.0.21".into());
        let report = check(&spec).unwrap();
        let d = dir.path().display();
        assert_eq!(
            all(&report),
            vec![
                format!(
                    "{d}/kubernetes.pem: API server certificate lacks required SANs: \
                     10.240.0.10, kubernetes.default.svc"
                ),
                format!("{d}/worker-0.pem: SANs do not match the node: missing 10.240.0.21"),
            ]
        );
    }

    #[test]
    fn short_encryption_key_is_reported() {
        let (_dir, spec) = fresh();
        let short = super::super::encryption_config_yaml(&{
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode([0u8; 8])
        });
        super::super::write_secret(&spec.encryption_config, short.as_bytes()).unwrap();
        let report = check(&spec).unwrap();
        assert_eq!(
            all(&report),
            vec![format!(
                "{}: the aescbc key is 8 bytes; it must be 16, 24 or 32",
                spec.encryption_config.display()
            )]
        );
    }

    #[test]
    fn open_key_file_is_reported() {
        let (dir, spec) = fresh();
        let key = dir.path().join("admin-key.pem");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        // A lone key (no certificate) is checked too.
        let sa = dir.path().join("service-account-key.pem");
        fs::write(&sa, "x").unwrap();
        fs::set_permissions(&sa, fs::Permissions::from_mode(0o640)).unwrap();
        let report = check(&spec).unwrap();
        assert_eq!(
            all(&report),
            vec![
                format!("{}: mode 0644 is too open (want 0600)", key.display()),
                format!("{}: mode 0640 is too open (want 0600)", sa.display()),
            ]
        );
        assert_eq!(report.rows[0].key_mode, Some(0o644));
    }

    #[test]
    fn kubelet_cn_dns_and_cidr_problems() {
        let (dir, mut spec) = fresh();
        spec.kubelets[0].cn = "system:node:worker-1".into();
        spec.cluster_dns = "10.33.0.10".into();
        fs::remove_file(dir.path().join("kubernetes-key.pem")).unwrap();
        let report = check(&spec).unwrap();
        let d = dir.path().display();
        assert_eq!(
            all(&report),
            vec![
                format!("{d}/kubernetes-key.pem: key file is missing"),
                format!(
                    "{d}/worker-0.pem: CN is \"system:node:worker-0\", but its node needs \
                     \"system:node:worker-1\""
                ),
                "cluster DNS 10.33.0.10 is outside the service CIDR 10.32.0.0/24".to_string(),
            ]
        );
    }

    #[test]
    fn kubeconfigs_are_audited() {
        let (dir, spec) = fresh();
        let d = dir.path();
        let path = d.join("admin.kubeconfig");
        let good = fs::read_to_string(&path).unwrap();
        let shown = path.display().to_string();
        let with = |text: &str| {
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            all(&check(&spec).unwrap())
                .into_iter()
                .filter(|p| p.contains("admin.kubeconfig"))
                .collect::<Vec<_>>()
        };
        assert!(with(&good).is_empty(), "{:?}", with(&good));
        // Another server.
        let p = with(&good.replace("k8s.example.test", "elsewhere.test"));
        assert_eq!(
            p,
            vec![format!(
                "{shown}: server is https://elsewhere.test:6443, but the API server is at https://k8s.example.test:6443 or https://127.0.0.1:6443"
            )]
        );
        // Another user than the certificate's CN.
        let p = with(&good.replace("\"admin\"", "\"root\""));
        assert_eq!(
            p,
            vec![format!(
                "{shown}: user \"root\" does not match its certificate (CN \"admin\")"
            )]
        );
        // A client certificate from another CA, with its own key.
        let other = tempfile::tempdir().unwrap();
        let (other_ca, _) = ensure_ca(other.path(), "ca", &req("Other", None, &[])).unwrap();
        ensure_leaf(
            other.path(),
            "admin",
            &other_ca,
            &req("admin", None, &[]),
            30,
        )
        .unwrap();
        let b64 = |p: &Path| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(fs::read(p).unwrap())
        };
        let f = super::super::kubeconfig::parse_fields(&good).unwrap();
        let foreign = good
            .replace(&f.client_cert_data, &b64(&other.path().join("admin.pem")))
            .replace(
                &f.client_key_data,
                &b64(&other.path().join("admin-key.pem")),
            );
        let p = with(&foreign);
        assert_eq!(
            p,
            vec![format!(
                "{shown}: the client certificate is not signed by the CA (issuer CN \"Other\")"
            )]
        );
        // A key that is not the certificate's, and an embedded CA that is not the CA.
        let p = with(
            &good
                .replace(
                    &f.client_key_data,
                    &b64(&other.path().join("admin-key.pem")),
                )
                .replace(&f.ca_data, &b64(&other.path().join("ca.pem"))),
        );
        assert_eq!(
            p,
            vec![
                format!("{shown}: the embedded CA is not the cluster's CA"),
                format!("{shown}: the client key does not match the client certificate"),
            ]
        );
        // Too open, and missing.
        fs::write(&path, &good).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let p = all(&check(&spec).unwrap());
        assert!(
            p.contains(&format!("{shown}: mode 0644 is too open (want 0600)")),
            "{p:?}"
        );
        // Not in our layout.
        let p = with("apiVersion: v1\nkind: Config\n");
        assert_eq!(
            p,
            vec![format!(
                "{shown}: not a kubeconfig groundup can audit: no `certificate-authority-data`"
            )]
        );
    }
}
