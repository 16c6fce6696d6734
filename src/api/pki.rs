//! `pki::` — the cluster's certificate authority, certificates, kubeconfigs
//! and encryption config, made in-process (the lesson's cfssl, cfssljson and
//! `kubectl config`).
//!
//! Thin bindings over [`crate::pki`] (the certificates) and
//! [`crate::pki_cluster`] (settings and state). Scripts name files by stem
//! (`admin` → `admin.pem` + `admin-key.pem`), never by path: everything goes
//! under `<state-dir>/<cluster>/pki/`. Private keys never enter a script; a
//! [`Cert`] shows facts about its key, not the key.
//!
//! In plan mode nothing is written: each function works out what it would
//! do and records a `WriteFile` operation per file instead (never any key
//! material).

// `Error` is the crate's one diagnostic type (it carries the script
// position and help); returning it by value is the crate's convention.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::plugin::*;
use rhai::{Array, CustomType, Map};
use serde::Serialize;
use serde_json::json;

use crate::aws::types::display_type;
use crate::error::Error;
use crate::host::Host;
use crate::pki::{self, Action, CertInfo, CertRequest, KeyAlgorithm, KeyFacts, Subject, Usages};
use crate::pki_cluster;

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
    signer: Option<Arc<pki::Ca>>,
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

    fn new(stem: &str, file: &Path, info: CertInfo, key: PrivateKey, status: String) -> Cert {
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
            pem: std::fs::read_to_string(file).unwrap_or_default(),
            status,
            signer: None,
        }
    }

    /// A CA that can sign.
    fn from_ca(ca: pki::Ca, status: String) -> Cert {
        let info = ca.info().clone();
        let key = PrivateKey {
            file: ca.key_path().display().to_string(),
            algorithm: info.key_algorithm.clone(),
            mode: mode_text(ca.key_path()),
            matches_cert: true,
        };
        let mut c = Cert::new(ca.stem(), ca.cert_path(), info, key, status);
        c.pem = ca.cert_pem().to_string();
        c.signer = Some(Arc::new(ca));
        c
    }

    /// Whether the files exist (not only planned).
    fn on_disk(&self) -> bool {
        !self.fingerprint.is_empty()
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

/// Permission bits as octal text (`0600`), `-` when unknown.
fn octal(mode: Option<u32>) -> String {
    mode.map_or_else(|| "-".to_string(), |m| format!("{m:04o}"))
}

fn mode_text(path: &Path) -> String {
    octal(pki::file_mode(path))
}

fn key_of(facts: &KeyFacts, algorithm: &str) -> PrivateKey {
    PrivateKey {
        file: facts.path.display().to_string(),
        algorithm: algorithm.to_string(),
        mode: octal(facts.mode),
        matches_cert: facts.matches_cert,
    }
}

/// The PKI directory, checked for symbolic links.
fn safe_dir(h: &Host) -> Result<PathBuf, Error> {
    pki_cluster::confined_dir(h.state().dir()).map_err(|e| Error::new(crate::error::Kind::Pki, e))
}

/// The PKI directory; created (mode 0700) unless planning.
fn pki_dir(h: &Host) -> Result<PathBuf, Error> {
    let d = safe_dir(h)?;
    if !h.planning() {
        crate::state::create_private_dir(&d)?;
    }
    Ok(d)
}

/// The fields a certificate request map may have.
const REQUEST_FIELDS: &[&str] = &[
    "stem",
    "cn",
    "o",
    "ou",
    "c",
    "st",
    "l",
    "hosts",
    "usages",
    "validity_days",
    "algorithm",
];

/// Reads a request map like a cfssl CSR: `#{ cn: "admin", o: "system:masters",
/// hosts: [..] }`; unset subject fields, validity and algorithm come from the
/// settings.
fn parse_request(h: &Host, m: &Map, is_ca: bool) -> Result<CertRequest, String> {
    for k in m.keys() {
        if !REQUEST_FIELDS.contains(&k.as_str()) {
            return Err(format!(
                "unknown field `{k}` (fields: {})",
                REQUEST_FIELDS.join(", ")
            ));
        }
    }
    let text = |k: &str| -> Result<Option<String>, String> {
        match m.get(k) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.to_string())),
            Some(v) => Err(format!("`{k}` must be a string, got {}", v.type_name())),
        }
    };
    let list = |k: &str| -> Result<Vec<String>, String> {
        match m.get(k) {
            None => Ok(Vec::new()),
            Some(v) => match v.clone().into_array() {
                Ok(a) => a
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| {
                        if d.is_string() {
                            Ok(d.to_string())
                        } else {
                            Err(format!(
                                "`{k}[{i}]` must be a string, got {}",
                                d.type_name()
                            ))
                        }
                    })
                    .collect(),
                Err(t) => Err(format!("`{k}` must be an array of strings, got {t}")),
            },
        }
    };
    let cn = text("cn")?
        .filter(|s| !s.trim().is_empty())
        .ok_or("`cn` (the common name) is required")?;
    // A subject field given as "" is left out; an unset one is the setting.
    let field = |k: &str, setting: &str| -> Result<Option<String>, String> {
        Ok(match text(k)? {
            Some(v) if v.is_empty() => None,
            Some(v) => Some(v),
            None => Some(h.settings.str(setting)).filter(|s| !s.is_empty()),
        })
    };
    let subject = Subject {
        cn,
        o: text("o")?.filter(|s| !s.is_empty()),
        ou: field("ou", "cert_unit")?,
        c: field("c", "cert_country")?,
        st: field("st", "cert_state")?,
        l: field("l", "cert_locality")?,
    };
    let days_setting = if is_ca {
        "ca_validity_days"
    } else {
        "cert_validity_days"
    };
    let validity_days = match m.get("validity_days") {
        None => h.settings.int(days_setting),
        Some(v) => v
            .as_int()
            .map_err(|t| format!("`validity_days` must be an integer, got {t}"))?,
    };
    if !(1..=36500).contains(&validity_days) {
        return Err(format!(
            "`validity_days` is {validity_days}; it must be between 1 and 36500"
        ));
    }
    let algorithm = match text("algorithm")? {
        Some(a) => a,
        None => h.settings.str("key_algorithm"),
    };
    let algorithm: KeyAlgorithm = algorithm
        .parse()
        .map_err(|e: pki::PkiError| e.to_string())?;
    let usages = if m.contains_key("usages") {
        if is_ca {
            return Err("a CA takes no `usages` (it signs certificates)".to_string());
        }
        Usages::parse(&list("usages")?)?
    } else {
        Usages::KUBERNETES
    };
    let hosts = list("hosts")?;
    if is_ca && !hosts.is_empty() {
        return Err("a CA takes no `hosts`".to_string());
    }
    Ok(CertRequest {
        subject,
        hosts,
        validity_days: validity_days as u32,
        algorithm,
        usages,
    })
}

/// Records the two files of a certificate in the plan.
fn plan_cert_files(h: &Host, dir: &Path, stem: &str, req: &CertRequest, why: &str) {
    if let Some(plan) = &h.plan {
        plan.record(
            "WriteFile",
            "",
            json!({
                "path": dir.join(format!("{stem}-key.pem")).display().to_string(),
                "mode": "0600",
                "content": format!("new {} private key", req.algorithm),
                "reason": why,
            }),
        );
        plan.record(
            "WriteFile",
            "",
            json!({
                "path": dir.join(format!("{stem}.pem")).display().to_string(),
                "mode": "0644",
                "content": format!("certificate CN={}", req.subject.cn),
                "reason": why,
            }),
        );
    }
}

/// A planned certificate: what it would say.
fn planned_cert(
    dir: &Path,
    stem: &str,
    req: &CertRequest,
    issuer: &str,
    is_ca: bool,
    why: &str,
) -> Result<Cert, pki::PkiError> {
    let info = pki::preview(req, issuer, is_ca)?;
    let key = PrivateKey {
        file: dir.join(format!("{stem}-key.pem")).display().to_string(),
        algorithm: req.algorithm.to_string(),
        mode: "0600".to_string(),
        matches_cert: true,
    };
    let mut c = Cert::new(
        stem,
        &dir.join(format!("{stem}.pem")),
        info,
        key,
        format!("planned: {why}"),
    );
    c.pem = String::new();
    Ok(c)
}

/// What a plan says for an action.
fn plan_reason(a: &Action) -> String {
    match a {
        Action::Created => "create".to_string(),
        Action::Kept => "keep".to_string(),
        Action::Reissued(why) => format!("re-issue ({why})"),
    }
}

/// The summary status of an action (`created` / `reused`).
fn event_status(a: &Action) -> crate::outcome::Outcome {
    match a {
        Action::Kept => crate::aws::types::REUSED,
        Action::Created | Action::Reissued(_) => crate::aws::types::CREATED,
    }
}

/// Issues (or keeps) one leaf; in plan mode works out what would happen.
fn leaf(h: &Host, dir: &Path, ca: &Cert, stem: &str, req: &CertRequest) -> Result<Cert, Error> {
    let renew = h.settings.int("renew_within_days").clamp(0, 36500) as u32;
    let Some(signer) = &ca.signer else {
        // Only possible in plan mode: the CA itself is still planned, so
        // every leaf would be issued.
        plan_cert_files(h, dir, stem, req, "create");
        h.event("cert", &format!("{stem}.pem"), crate::aws::types::PLANNED);
        return Ok(planned_cert(dir, stem, req, &ca.cn, false, "create")?);
    };
    let file = dir.join(format!("{stem}.pem"));
    if h.planning() {
        let (info, action) = pki::plan_leaf(dir, stem, signer, req, renew)?;
        return Ok(match info {
            Some(info) => {
                let (_, facts) = pki::load_cert(dir, stem)?;
                let key = key_of(&facts, &info.key_algorithm);
                Cert::new(stem, &file, info, key, action.to_string())
            }
            None => {
                let why = plan_reason(&action);
                plan_cert_files(h, dir, stem, req, &why);
                h.event("cert", &format!("{stem}.pem"), crate::aws::types::PLANNED);
                planned_cert(dir, stem, req, &ca.cn, false, &why)?
            }
        });
    }
    let (info, action) = pki::ensure_leaf(dir, stem, signer, req, renew)?;
    Ok(finish_leaf(h, dir, stem, info, action))
}

fn finish_leaf(h: &Host, dir: &Path, stem: &str, info: CertInfo, action: Action) -> Cert {
    h.event("cert", &format!("{stem}.pem"), event_status(&action));
    let key = PrivateKey {
        file: dir.join(format!("{stem}-key.pem")).display().to_string(),
        algorithm: info.key_algorithm.clone(),
        mode: mode_text(&dir.join(format!("{stem}-key.pem"))),
        matches_cert: true,
    };
    Cert::new(
        stem,
        &dir.join(format!("{stem}.pem")),
        info,
        key,
        action.to_string(),
    )
}

/// Checks that `ca` can sign `stem`.
fn check_signer(ca: &Cert, stem: &str) -> Result<(), String> {
    if !ca.is_ca || (ca.signer.is_none() && ca.on_disk()) {
        return Err(format!(
            "`{}` cannot sign: pass the CA that pki::ca(...) or pki::load_ca(...) returned",
            if ca.stem.is_empty() { "ca" } else { &ca.stem }
        ));
    }
    if stem == ca.stem {
        return Err(format!(
            "stem `{stem}` is the CA's own: a leaf would overwrite the CA"
        ));
    }
    Ok(())
}

/// A PKI failure as a script error, prefixed with the call.
fn pki_fail(ctx: &NativeCallContext, call: &str, e: impl Into<Error>) -> Box<EvalAltResult> {
    crate::api::fail(ctx, e.into().prefixed(call))
}

/// What to do about a CA that cannot be used.
const CA_HELP: &str = "a CA is never replaced implicitly: every certificate and kubeconfig \
    trusts it. Restore its files, or move both <stem>.pem and <stem>-key.pem away to make a \
    new CA on the next run (every certificate and kubeconfig is then re-issued)";

/// A CA failure as a script error, with [`CA_HELP`].
fn ca_fail(ctx: &NativeCallContext, call: &str, e: pki::PkiError) -> Box<EvalAltResult> {
    crate::api::fail(ctx, Error::from(e).prefixed(call).with_help(CA_HELP))
}

/// How many threads a batch of `n` certificates with keys of `alg` may use.
/// RSA: one each, up to 16. An RSA key is a random search whose length
/// varies from key to key; with a thread per key the kernel shares the cores
/// among all of them and they finish together, where one thread per core
/// working through a queue can leave a core idle while the other ends a
/// long search. ECDSA keys take microseconds: one thread per core.
fn batch_threads(n: usize, alg: pki::KeyAlgorithm) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    match alg {
        pki::KeyAlgorithm::EcdsaP256 => cores.min(n),
        _ => n,
    }
    .clamp(1, 16)
}

#[export_module]
pub mod pki_api {
    use super::*;
    use crate::api::{bad_arg, fail, host};

    /// Finds or creates the cluster's certificate authority `<stem>.pem` +
    /// `<stem>-key.pem` (the lesson's `cfssl gencert -initca`). `request` is
    /// a map like a cfssl CSR: `#{ cn: "Kubernetes", o: "Kubernetes" }`;
    /// `ou`, `c`, `st`, `l` default to the cert_* settings, `validity_days`
    /// to ca_validity_days and `algorithm` to key_algorithm. An existing CA
    /// is always kept, whatever the request says: to rotate it, move both
    /// files away and run again (every certificate is then re-issued).
    #[rhai_fn(return_raw)]
    pub fn ca(
        ctx: NativeCallContext,
        stem: &str,
        request: Map,
    ) -> Result<Cert, Box<EvalAltResult>> {
        const CALL: &str = "pki::ca";
        pki_cluster::check_name("stem", stem).map_err(|e| bad_arg(&ctx, CALL, e))?;
        let h = host(&ctx)?;
        let req = parse_request(&h, &request, true).map_err(|e| bad_arg(&ctx, CALL, e))?;
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        if h.planning() {
            return match pki::plan_ca(&dir, stem).map_err(|e| ca_fail(&ctx, CALL, e))? {
                Some(ca) => Ok(Cert::from_ca(ca, Action::Kept.to_string())),
                None => {
                    plan_cert_files(&h, &dir, stem, &req, "create");
                    h.event("ca", &format!("{stem}.pem"), crate::aws::types::PLANNED);
                    planned_cert(&dir, stem, &req, "", true, "create")
                        .map_err(|e| pki_fail(&ctx, CALL, e))
                }
            };
        }
        let (ca, action) = pki::ensure_ca(&dir, stem, &req).map_err(|e| ca_fail(&ctx, CALL, e))?;
        h.event("ca", &format!("{stem}.pem"), event_status(&action));
        Ok(Cert::from_ca(ca, action.to_string()))
    }

    /// Loads an existing CA `<stem>.pem` + `<stem>-key.pem` so it can sign
    /// (`pki::cert(pki::load_ca("ca"), ...)`); fails if it does not exist or
    /// its key does not match.
    #[rhai_fn(return_raw)]
    pub fn load_ca(ctx: NativeCallContext, stem: &str) -> Result<Cert, Box<EvalAltResult>> {
        const CALL: &str = "pki::load_ca";
        pki_cluster::check_name("stem", stem).map_err(|e| bad_arg(&ctx, CALL, e))?;
        let h = host(&ctx)?;
        let dir = safe_dir(&h).map_err(|e| fail(&ctx, e))?;
        let ca = pki::load_ca(&dir, stem).map_err(|e| ca_fail(&ctx, CALL, e))?;
        Ok(Cert::from_ca(ca, "loaded".to_string()))
    }

    /// Finds or issues the leaf certificate `<stem>.pem` + `<stem>-key.pem`
    /// signed by `ca` (the lesson's `cfssl gencert -profile=kubernetes`).
    /// `request`: `#{ cn: "admin", o: "system:masters", hosts: ["10.0.0.1",
    /// "kubernetes.default"] }`: `hosts` entries that are IP addresses become
    /// IP SANs, the others DNS SANs; `usages` defaults to the lesson's
    /// `["signing", "key encipherment", "server auth", "client auth"]`;
    /// `ou`, `c`, `st`, `l`, `validity_days` (cert_validity_days) and
    /// `algorithm` (key_algorithm) default to the settings. An existing
    /// certificate is kept unless its subject, SANs, usages, key type or CA
    /// changed or it expires within renew_within_days; then it is re-issued
    /// with a new key and `status` says why.
    #[rhai_fn(return_raw)]
    pub fn cert(
        ctx: NativeCallContext,
        ca: Cert,
        stem: &str,
        request: Map,
    ) -> Result<Cert, Box<EvalAltResult>> {
        const CALL: &str = "pki::cert";
        pki_cluster::check_name("stem", stem).map_err(|e| bad_arg(&ctx, CALL, e))?;
        check_signer(&ca, stem).map_err(|e| bad_arg(&ctx, CALL, e))?;
        let h = host(&ctx)?;
        let req = parse_request(&h, &request, false).map_err(|e| bad_arg(&ctx, CALL, e))?;
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        leaf(&h, &dir, &ca, stem, &req).map_err(|e| pki_fail(&ctx, CALL, e))
    }

    /// `pki::cert` for many certificates at once, their keys generated in
    /// parallel (key generation dominates, for RSA). `requests` is an array
    /// of request maps, each with its `stem`:
    /// `[#{ stem: "admin", cn: "admin", o: "system:masters" }, ...]`.
    /// Returns a map from stem to `Cert`.
    #[rhai_fn(return_raw)]
    pub fn certs(
        ctx: NativeCallContext,
        ca: Cert,
        requests: Array,
    ) -> Result<Map, Box<EvalAltResult>> {
        const CALL: &str = "pki::certs";
        let h = host(&ctx)?;
        let mut parsed: Vec<(String, CertRequest)> = Vec::new();
        for (i, d) in requests.into_iter().enumerate() {
            let Some(m) = d.clone().try_cast::<Map>() else {
                return Err(bad_arg(
                    &ctx,
                    CALL,
                    format!(
                        "requests[{i}] must be a map like #{{ stem: \"admin\", cn: \"admin\" }}, got {}",
                        d.type_name()
                    ),
                ));
            };
            let stem = match m.get("stem") {
                Some(s) if s.is_string() => s.to_string(),
                _ => {
                    return Err(bad_arg(
                        &ctx,
                        CALL,
                        format!("requests[{i}]: `stem` (the file name) is required"),
                    ));
                }
            };
            pki_cluster::check_name("stem", &stem)
                .and_then(|_| check_signer(&ca, &stem))
                .map_err(|e| bad_arg(&ctx, CALL, format!("requests[{i}]: {e}")))?;
            if parsed.iter().any(|(s, _)| *s == stem) {
                return Err(bad_arg(
                    &ctx,
                    CALL,
                    format!("requests[{i}]: stem `{stem}` appears twice"),
                ));
            }
            let req = parse_request(&h, &m, false)
                .map_err(|e| bad_arg(&ctx, CALL, format!("requests[{i}] ({stem}): {e}")))?;
            parsed.push((stem, req));
        }
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        let mut out = Map::new();
        match (&ca.signer, h.planning()) {
            (Some(signer), false) => {
                let renew = h.settings.int("renew_within_days").clamp(0, 36500) as u32;
                let results = pki::ensure_leaves(
                    &dir,
                    signer,
                    &parsed,
                    renew,
                    batch_threads(
                        parsed.len(),
                        parsed
                            .first()
                            .map_or(pki::KeyAlgorithm::EcdsaP256, |(_, r)| r.algorithm),
                    ),
                );
                let mut first_err = None;
                for ((stem, _), r) in parsed.iter().zip(results) {
                    match r {
                        Ok((info, action)) => {
                            out.insert(
                                stem.as_str().into(),
                                Dynamic::from(finish_leaf(&h, &dir, stem, info, action)),
                            );
                        }
                        Err(e) if first_err.is_none() => first_err = Some(e),
                        Err(_) => {}
                    }
                }
                if let Some(e) = first_err {
                    return Err(pki_fail(&ctx, CALL, e));
                }
            }
            _ => {
                for (stem, req) in &parsed {
                    let c = leaf(&h, &dir, &ca, stem, req).map_err(|e| pki_fail(&ctx, CALL, e))?;
                    out.insert(stem.as_str().into(), Dynamic::from(c));
                }
            }
        }
        Ok(out)
    }

    /// Reads the existing certificate `<stem>.pem` (any, CA or leaf) with
    /// the facts of its key file; it cannot sign (see `pki::load_ca`).
    #[rhai_fn(return_raw)]
    pub fn load(ctx: NativeCallContext, stem: &str) -> Result<Cert, Box<EvalAltResult>> {
        const CALL: &str = "pki::load";
        pki_cluster::check_name("stem", stem).map_err(|e| bad_arg(&ctx, CALL, e))?;
        let h = host(&ctx)?;
        let dir = safe_dir(&h).map_err(|e| fail(&ctx, e))?;
        let (info, facts) = pki::load_cert(&dir, stem).map_err(|e| pki_fail(&ctx, CALL, e))?;
        let key = key_of(&facts, &info.key_algorithm);
        Ok(Cert::new(
            stem,
            &dir.join(format!("{stem}.pem")),
            info,
            key,
            "loaded".to_string(),
        ))
    }

    /// Says what a PEM certificate (text, e.g. from a node) contains, as
    /// `openssl x509 -noout -text` would.
    #[rhai_fn(return_raw)]
    pub fn inspect(ctx: NativeCallContext, pem: &str) -> Result<Cert, Box<EvalAltResult>> {
        const CALL: &str = "pki::inspect";
        let info = pki::inspect_pem(pem).map_err(|e| pki_fail(&ctx, CALL, e))?;
        let key = PrivateKey {
            file: String::new(),
            algorithm: info.key_algorithm.clone(),
            mode: "-".to_string(),
            matches_cert: false,
        };
        let mut c = Cert::new("", Path::new(""), info, key, "inspected".to_string());
        c.pem = pem.to_string();
        Ok(c)
    }

    /// Writes the kubeconfig `<name>.kubeconfig` (mode 0600) like the
    /// lesson's `kubectl config set-cluster --embed-certs` +
    /// `set-credentials` + `set-context default` + `use-context default`:
    /// the cluster (named after the cluster setting `name`) at `server` with
    /// `ca`'s certificate, the user `cert.cn` with `cert`'s certificate and
    /// key, all embedded. Kept when unchanged.
    #[rhai_fn(return_raw)]
    pub fn kubeconfig(
        ctx: NativeCallContext,
        name: &str,
        ca: Cert,
        cert: Cert,
        server: &str,
    ) -> Result<Kubeconfig, Box<EvalAltResult>> {
        const CALL: &str = "pki::kubeconfig";
        pki_cluster::check_name("name", name).map_err(|e| bad_arg(&ctx, CALL, e))?;
        if !server.starts_with("https://") || server.len() <= "https://".len() {
            return Err(bad_arg(
                &ctx,
                CALL,
                format!("server `{server}` must be an https:// URL, e.g. https://10.0.0.1:6443"),
            ));
        }
        if !ca.is_ca || cert.is_ca || cert.stem.is_empty() {
            return Err(bad_arg(
                &ctx,
                CALL,
                "pass the CA (pki::ca) and a client certificate (pki::cert) made in this PKI",
            ));
        }
        let h = host(&ctx)?;
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        let path = dir.join(format!("{name}.kubeconfig"));
        let mut out = Kubeconfig {
            name: name.to_string(),
            file: path.display().to_string(),
            cluster: h.cluster.clone(),
            server: server.to_string(),
            user: cert.cn.clone(),
            status: String::new(),
        };
        let planned_inputs = !ca.on_disk() || !cert.on_disk() || cert.status.starts_with("planned");
        if h.planning() && planned_inputs {
            if let Some(plan) = &h.plan {
                plan.record(
                    "WriteFile",
                    "",
                    json!({"path": out.file, "mode": "0600",
                           "content": format!("kubeconfig for {} -> {server}", cert.cn),
                           "reason": "create or update (its certificate is planned)"}),
                );
            }
            h.event(
                "kubeconfig",
                &format!("{name}.kubeconfig"),
                crate::aws::types::PLANNED,
            );
            out.status = "planned: write".to_string();
            return Ok(out);
        }
        let read = |p: PathBuf| {
            std::fs::read_to_string(&p).map_err(|e| {
                fail(
                    &ctx,
                    Error::io(format!("{CALL}: cannot read {}", p.display()), e),
                )
            })
        };
        let spec = pki::KubeconfigSpec {
            cluster_name: h.cluster.clone(),
            server: server.to_string(),
            ca_pem: ca.pem.clone(),
            user: cert.cn.clone(),
            client_cert_pem: read(dir.join(format!("{}.pem", cert.stem)))?,
            client_key_pem: read(dir.join(format!("{}-key.pem", cert.stem)))?,
        };
        let action = if h.planning() {
            let a = pki::plan_kubeconfig(&path, &spec).map_err(|e| pki_fail(&ctx, CALL, e))?;
            if a != Action::Kept {
                if let Some(plan) = &h.plan {
                    plan.record(
                        "WriteFile",
                        "",
                        json!({"path": out.file, "mode": "0600",
                               "content": format!("kubeconfig for {} -> {server}", cert.cn),
                               "reason": plan_reason(&a)}),
                    );
                }
                h.event(
                    "kubeconfig",
                    &format!("{name}.kubeconfig"),
                    crate::aws::types::PLANNED,
                );
                out.status = format!("planned: {}", plan_reason(&a));
                return Ok(out);
            }
            a
        } else {
            pki::ensure_kubeconfig(&path, &spec).map_err(|e| pki_fail(&ctx, CALL, e))?
        };
        h.event(
            "kubeconfig",
            &format!("{name}.kubeconfig"),
            event_status(&action),
        );
        out.status = action.to_string();
        Ok(out)
    }

    /// Finds or creates `<name>.yaml`, the API server's
    /// `EncryptionConfiguration` (apiserver.config.k8s.io/v1): Secrets are
    /// encrypted with aescbc under a 32-byte random key, then `identity`.
    /// Mode 0600. An existing key is always kept (Secrets in etcd depend on
    /// it); to rotate, move the file away deliberately.
    #[rhai_fn(return_raw)]
    pub fn encryption_config(
        ctx: NativeCallContext,
        name: &str,
    ) -> Result<EncryptionConfig, Box<EvalAltResult>> {
        const CALL: &str = "pki::encryption_config";
        pki_cluster::check_name("name", name).map_err(|e| bad_arg(&ctx, CALL, e))?;
        let h = host(&ctx)?;
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        let path = dir.join(format!("{name}.yaml"));
        let action = if h.planning() {
            pki::plan_encryption_config(&path).map_err(|e| pki_fail(&ctx, CALL, e))?
        } else {
            pki::ensure_encryption_config(&path).map_err(|e| pki_fail(&ctx, CALL, e))?
        };
        let status = if h.planning() && action == Action::Created {
            if let Some(plan) = &h.plan {
                plan.record(
                    "WriteFile",
                    "",
                    json!({"path": path.display().to_string(), "mode": "0600",
                           "content": "EncryptionConfiguration with a new 32-byte aescbc key",
                           "reason": "create"}),
                );
            }
            h.event(
                "encryption-config",
                &format!("{name}.yaml"),
                crate::aws::types::PLANNED,
            );
            "planned: create".to_string()
        } else {
            h.event(
                "encryption-config",
                &format!("{name}.yaml"),
                event_status(&action),
            );
            action.to_string()
        };
        let key_bytes = if path.exists() {
            pki::encryption_key_len(&path).map_err(|e| pki_fail(&ctx, CALL, e))? as i64
        } else {
            32
        };
        Ok(EncryptionConfig {
            file: path.display().to_string(),
            provider: "aescbc".to_string(),
            key_bytes,
            status,
        })
    }

    /// The Kubernetes API's public address for certificates and
    /// kubeconfigs: the kubernetes_public_address setting if set, else the
    /// load balancer's DNS name that network.rhai recorded in state; fails
    /// saying how to provide one.
    #[rhai_fn(return_raw)]
    pub fn public_address(ctx: NativeCallContext) -> Result<String, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let st = h.state();
        pki_cluster::public_address(&h.settings, &st)
            .map_err(|e| fail(&ctx, e.prefixed("pki::public_address")))
    }

    /// The cluster's PKI directory, `<state-dir>/<cluster>/pki`.
    #[rhai_fn(return_raw)]
    pub fn dir(ctx: NativeCallContext) -> Result<String, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let d = pki_cluster::dir(h.state().dir());
        Ok(d.display().to_string())
    }

    /// Audits the PKI like `groundup pki check`: a map `#{ ok, rows,
    /// problems }` with one row per certificate (subject, SAN count,
    /// not-after, days left, key matches, chains to the CA, key mode) and
    /// every problem found, one line each.
    #[rhai_fn(return_raw)]
    pub fn check(ctx: NativeCallContext) -> Result<Map, Box<EvalAltResult>> {
        const CALL: &str = "pki::check";
        let h = host(&ctx)?;
        let report = {
            let planned = h.layout().map_err(|e| pki_fail(&ctx, CALL, e))?;
            let st = h.state();
            pki_cluster::run_check(&h.settings, planned, &st)
                .map_err(|e| pki_fail(&ctx, CALL, e))?
        };
        let v = json!({
            "ok": report.ok(),
            "rows": report.rows,
            "problems": report.all_problems().collect::<Vec<_>>(),
        });
        rhai::serde::to_dynamic(v)?
            .try_cast::<Map>()
            .ok_or_else(|| fail(&ctx, Error::script(format!("{CALL}: report is not a map"))))
    }
}
