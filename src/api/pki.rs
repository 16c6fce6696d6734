//! `pki::` — the cluster's certificate authority, certificates, kubeconfigs
//! and encryption config, made in-process (the lesson's cfssl, cfssljson and
//! `kubectl config`).
//!
//! Thin bindings over [`crate::pki`] (the certificates, plan and apply
//! modes: [`PkiDir`]) and [`crate::pki_cluster`] (settings and state):
//! they turn request maps into [`RequestFields`], record what a [`Done`]
//! says (its plan writes, its event) and map errors. Scripts name files by
//! stem (`admin` → `admin.pem` + `admin-key.pem`), never by path:
//! everything goes under `<state-dir>/<cluster>/pki/`. Private keys never
//! enter a script; a [`Cert`] shows facts about its key, not the key.

// `Error` is the crate's one diagnostic type (it carries the script
// position and help); returning it by value is the crate's convention.
#![allow(clippy::result_large_err)]

use rhai::plugin::*;
use rhai::{Array, Map};
use serde_json::json;

use crate::error::{Error, Kind};
use crate::host::Host;
pub use crate::pki::{Cert, EncryptionConfig, Kubeconfig, PrivateKey};
use crate::pki::{
    CertRequest, Done, KubeconfigRequest, Mode, PkiDir, PkiError, RequestDefaults, RequestFields,
};
use crate::pki_cluster;

crate::api::namespace!("pki");

/// The PKI directory, checked for symbolic links.
fn safe_dir(h: &Host) -> Result<std::path::PathBuf, Error> {
    pki_cluster::confined_dir(h.state().dir()).map_err(|e| Error::new(Kind::Pki, e))
}

/// The cluster's PKI in this run's mode (created, mode 0700, unless planning).
fn pki_dir(h: &Host) -> Result<PkiDir, Error> {
    let mode = if h.planning() {
        Mode::Plan
    } else {
        Mode::Apply
    };
    PkiDir::open(safe_dir(h)?, mode, h.settings.int("renew_within_days"))
}

/// Reads a request map like a cfssl CSR (`#{ cn: "admin", o:
/// "system:masters", hosts: [..] }`) into typed fields, checking only names
/// and types; [`RequestFields::resolve`] applies the rules and the
/// settings' defaults.
fn request(h: &Host, m: &Map, is_ca: bool) -> Result<CertRequest, String> {
    if let Some(k) = m
        .keys()
        .find(|k| !RequestFields::NAMES.contains(&k.as_str()))
    {
        return Err(format!(
            "unknown field `{k}` (fields: {})",
            RequestFields::NAMES.join(", ")
        ));
    }
    let text = |k: &str| match m.get(k) {
        None => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.to_string())),
        Some(v) => Err(format!("`{k}` must be a string, got {}", v.type_name())),
    };
    let list = |k: &str| -> Result<Option<Vec<String>>, String> {
        let Some(v) = m.get(k) else { return Ok(None) };
        let a = v
            .clone()
            .into_array()
            .map_err(|t| format!("`{k}` must be an array of strings, got {t}"))?;
        a.into_iter()
            .enumerate()
            .map(|(i, d)| match d.is_string() {
                true => Ok(d.to_string()),
                false => Err(format!(
                    "`{k}[{i}]` must be a string, got {}",
                    d.type_name()
                )),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    };
    let validity_days = match m.get("validity_days") {
        None => None,
        Some(v) => Some(
            v.as_int()
                .map_err(|t| format!("`validity_days` must be an integer, got {t}"))?,
        ),
    };
    let fields = RequestFields {
        cn: text("cn")?,
        o: text("o")?,
        ou: text("ou")?,
        c: text("c")?,
        st: text("st")?,
        l: text("l")?,
        hosts: list("hosts")?,
        usages: list("usages")?,
        validity_days,
        algorithm: text("algorithm")?,
    };
    let s = &h.settings;
    let defaults = RequestDefaults {
        ou: s.str("cert_unit"),
        c: s.str("cert_country"),
        st: s.str("cert_state"),
        l: s.str("cert_locality"),
        ca_validity_days: s.int("ca_validity_days"),
        cert_validity_days: s.int("cert_validity_days"),
        algorithm: s.str("key_algorithm"),
    };
    fields.resolve(&defaults, is_ca)
}

/// Records what a call did, its plan writes and its event; returns its value.
fn record<T>(h: &Host, done: Done<T>) -> T {
    if let Some(plan) = &h.plan {
        for w in &done.writes {
            plan.record("WriteFile", "", serde_json::to_value(w).unwrap_or_default());
        }
    }
    h.event(done.kind, &done.id, done.decision.outcome());
    done.value
}

/// What to do about a CA that cannot be used.
const CA_HELP: &str = "a CA is never replaced implicitly: every certificate and kubeconfig \
    trusts it. Restore its files, or move both <stem>.pem and <stem>-key.pem away to make a \
    new CA on the next run (every certificate and kubeconfig is then re-issued)";

/// A CA failure as a script error naming the call, with [`CA_HELP`].
fn ca_fail(ctx: &NativeCallContext, e: PkiError) -> Box<EvalAltResult> {
    fail(ctx, Error::from(e).with_help(CA_HELP))
}

#[export_module]
pub mod pki_api {
    use super::*;
    use super::{bad_arg, fail};
    use crate::api::host;

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
        pki_cluster::check_name("stem", stem).map_err(|e| bad_arg(&ctx, e))?;
        let h = host(&ctx)?;
        let req = super::request(&h, &request, true).map_err(|e| bad_arg(&ctx, e))?;
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        let done = dir.ca(stem, &req).map_err(|e| ca_fail(&ctx, e))?;
        Ok(record(&h, done))
    }

    /// Loads an existing CA `<stem>.pem` + `<stem>-key.pem` so it can sign
    /// (`pki::cert(pki::load_ca("ca"), ...)`); fails if it does not exist or
    /// its key does not match.
    #[rhai_fn(return_raw)]
    pub fn load_ca(ctx: NativeCallContext, stem: &str) -> Result<Cert, Box<EvalAltResult>> {
        pki_cluster::check_name("stem", stem).map_err(|e| bad_arg(&ctx, e))?;
        let dir = safe_dir(&*host(&ctx)?).map_err(|e| fail(&ctx, e))?;
        Cert::load_ca(&dir, stem).map_err(|e| ca_fail(&ctx, e))
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
        pki_cluster::check_name("stem", stem).map_err(|e| bad_arg(&ctx, e))?;
        let signer = ca.signer_for(stem).map_err(|e| bad_arg(&ctx, e))?;
        let h = host(&ctx)?;
        let req = super::request(&h, &request, false).map_err(|e| bad_arg(&ctx, e))?;
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        let done = dir
            .leaf(signer, stem, &req)
            .map_err(|e| fail(&ctx, e.into()))?;
        Ok(record(&h, done))
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
        let h = host(&ctx)?;
        let mut parsed: Vec<(String, CertRequest)> = Vec::new();
        let mut signer = None;
        for (i, d) in requests.into_iter().enumerate() {
            let bad = |e: String| bad_arg(&ctx, format!("requests[{i}]{e}"));
            let Some(m) = d.clone().try_cast::<Map>() else {
                return Err(bad(format!(
                    " must be a map like #{{ stem: \"admin\", cn: \"admin\" }}, got {}",
                    d.type_name()
                )));
            };
            let stem = match m.get("stem") {
                Some(s) if s.is_string() => s.to_string(),
                _ => return Err(bad(": `stem` (the file name) is required".into())),
            };
            signer = Some(
                pki_cluster::check_name("stem", &stem)
                    .and_then(|_| ca.signer_for(&stem))
                    .map_err(|e| bad(format!(": {e}")))?,
            );
            if parsed.iter().any(|(s, _)| *s == stem) {
                return Err(bad(format!(": stem `{stem}` appears twice")));
            }
            let req = super::request(&h, &m, false).map_err(|e| bad(format!(" ({stem}): {e}")))?;
            parsed.push((stem, req));
        }
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        let done = signer.map_or_else(Vec::new, |s| dir.leaves(s, &parsed));
        let mut out = Map::new();
        let mut first_err = None;
        for ((stem, _), r) in parsed.iter().zip(done) {
            match r {
                Ok(done) => {
                    out.insert(stem.as_str().into(), Dynamic::from(record(&h, done)));
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(fail(&ctx, e.into())),
            None => Ok(out),
        }
    }

    /// Reads the existing certificate `<stem>.pem` (any, CA or leaf) with
    /// the facts of its key file; it cannot sign (see `pki::load_ca`).
    #[rhai_fn(return_raw)]
    pub fn load(ctx: NativeCallContext, stem: &str) -> Result<Cert, Box<EvalAltResult>> {
        pki_cluster::check_name("stem", stem).map_err(|e| bad_arg(&ctx, e))?;
        let dir = safe_dir(&*host(&ctx)?).map_err(|e| fail(&ctx, e))?;
        Cert::load(&dir, stem).map_err(|e| fail(&ctx, e.into()))
    }

    /// Says what a PEM certificate (text, e.g. from a node) contains, as
    /// `openssl x509 -noout -text` would.
    #[rhai_fn(return_raw)]
    pub fn inspect(ctx: NativeCallContext, pem: &str) -> Result<Cert, Box<EvalAltResult>> {
        Cert::inspect(pem).map_err(|e| fail(&ctx, e.into()))
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
        pki_cluster::check_name("name", name).map_err(|e| bad_arg(&ctx, e))?;
        let h = host(&ctx)?;
        let r = KubeconfigRequest {
            name,
            cluster: &h.cluster,
            server,
            ca: &ca,
            client: &cert,
        };
        r.check().map_err(|e| bad_arg(&ctx, e))?;
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        let done = dir.kubeconfig(&r).map_err(|e| fail(&ctx, e.into()))?;
        Ok(record(&h, done))
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
        pki_cluster::check_name("name", name).map_err(|e| bad_arg(&ctx, e))?;
        let h = host(&ctx)?;
        let dir = pki_dir(&h).map_err(|e| fail(&ctx, e))?;
        let done = dir
            .encryption_config(name)
            .map_err(|e| fail(&ctx, e.into()))?;
        Ok(record(&h, done))
    }

    /// The Kubernetes API's public address for certificates and
    /// kubeconfigs: the kubernetes_public_address setting if set, else the
    /// load balancer's DNS name that network.rhai recorded in state; fails
    /// saying how to provide one.
    #[rhai_fn(return_raw)]
    pub fn public_address(ctx: NativeCallContext) -> Result<String, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let st = h.state();
        pki_cluster::public_address(&h.settings, &st).map_err(|e| fail(&ctx, e))
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
        let h = host(&ctx)?;
        let report = {
            let planned = h.layout().map_err(|e| fail(&ctx, e))?;
            let st = h.state();
            pki_cluster::run_check(&h.settings, planned, &st).map_err(|e| fail(&ctx, e))?
        };
        let v = json!({
            "ok": report.ok(),
            "rows": report.rows,
            "problems": report.all_problems().collect::<Vec<_>>(),
        });
        rhai::serde::to_dynamic(v)?
            .try_cast::<Map>()
            .ok_or_else(|| fail(&ctx, Error::script("report is not a map")))
    }
}
