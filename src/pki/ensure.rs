//! Find-or-create of every PKI file, in one of two modes: apply (write) or
//! plan (write nothing, say what would be written). Plan mode is this one
//! mechanism: for the CA, a leaf, a kubeconfig and the encryption config
//! the same decision function runs in both modes ([`super::plan_ca`],
//! [`super::plan_leaf`], [`super::plan_kubeconfig`],
//! [`super::plan_encryption_config`]), and its [`Action`] with the
//! [`Mode`] makes one [`Decision`]: what a script sees as `status`, the
//! run's [`Outcome`] and, in plan mode, the [`PlannedWrite`]s (never any
//! key material).
//!
//! A host binding opens a [`PkiDir`], calls it and records what the
//! [`Done`] says; it decides nothing itself.

// `Error` is the crate's one diagnostic type (it carries the script
// position and help); returning it by value is the crate's convention.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ca::make_ca;
use super::info::pair_paths;
use super::leaf::issue_in_parallel;
use super::types::{Cert, EncryptionConfig, Kubeconfig, PrivateKey, Signer};
use super::{
    Action, CertRequest, KeyAlgorithm, KubeconfigSpec, PkiError, create_encryption_config,
    encryption_key_len, kubeconfig_yaml, plan_ca, plan_encryption_config, plan_kubeconfig,
    plan_leaf, preview, write_secret,
};
use crate::outcome::Outcome;

/// Whether files are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Write what is missing or changed.
    Apply,
    /// Write nothing; say what would be written (`--plan`).
    Plan,
}

/// What became (or would become) of one file or pair of files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The existing files are kept (either mode).
    Kept,
    /// Written (apply mode): [`Action::Created`] or [`Action::Reissued`].
    Done(Action),
    /// Would be written (plan mode): [`Action::Created`] or
    /// [`Action::Reissued`].
    Planned(Action),
    /// Would be written unless it turns out unchanged: it is made from
    /// files that are themselves only planned (plan mode).
    Pending,
}

impl Decision {
    /// The decision for `action` in `mode`.
    pub fn new(mode: Mode, action: Action) -> Decision {
        match (mode, action) {
            (_, Action::Kept) => Decision::Kept,
            (Mode::Apply, a) => Decision::Done(a),
            (Mode::Plan, a) => Decision::Planned(a),
        }
    }

    /// For the run's summary: reused, created (re-issued counts as
    /// created: new files were made) or planned.
    pub fn outcome(&self) -> Outcome {
        match self {
            Decision::Kept => Outcome::Reused,
            Decision::Done(_) => Outcome::Created,
            Decision::Planned(_) | Decision::Pending => Outcome::Planned,
        }
    }

    /// What a script sees: `kept`, `created`, `re-issued: <why>`,
    /// `planned: <reason>`.
    pub fn status(&self) -> String {
        match self {
            Decision::Kept => Action::Kept.to_string(),
            Decision::Done(a) => a.to_string(),
            Decision::Planned(_) => format!("planned: {}", self.reason()),
            Decision::Pending => "planned: write".to_string(),
        }
    }

    /// Why the plan lists a write: `create`, `re-issue (<why>)`, `keep`.
    pub fn reason(&self) -> String {
        match self {
            Decision::Kept => "keep".to_string(),
            Decision::Done(a) | Decision::Planned(a) => match a {
                Action::Created => "create".to_string(),
                Action::Kept => "keep".to_string(),
                Action::Reissued(why) => format!("re-issue ({why})"),
            },
            Decision::Pending => "create or update (its certificate is planned)".to_string(),
        }
    }

    /// Whether this is plan mode's "would be written".
    pub fn is_planned(&self) -> bool {
        matches!(self, Decision::Planned(_) | Decision::Pending)
    }
}

/// One file that plan mode would write (the plan's `WriteFile`): its path,
/// mode, what it would hold (a description, never its content) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedWrite {
    /// The file.
    pub path: String,
    /// Its mode, `0600` or `0644`.
    pub mode: &'static str,
    /// What it would hold, e.g. `new rsa-2048 private key`.
    pub content: String,
    /// Why: [`Decision::reason`].
    pub reason: String,
}

/// What one call did (or would do): the value for the script, the event
/// for the run's summary (`kind`, `id`, [`Decision::outcome`]) and, in
/// plan mode, the writes it would make.
#[derive(Clone, Debug)]
pub struct Done<T> {
    /// The certificate, kubeconfig or encryption config.
    pub value: T,
    /// The event's kind: `ca`, `cert`, `kubeconfig`, `encryption-config`.
    pub kind: &'static str,
    /// The event's id: the file name, e.g. `admin.pem`.
    pub id: String,
    /// What became of it.
    pub decision: Decision,
    /// The writes plan mode would make (empty in apply mode).
    pub writes: Vec<PlannedWrite>,
}

/// What a kubeconfig joins: the cluster, the server, the CA and a client
/// certificate made in this PKI.
#[derive(Clone, Copy, Debug)]
pub struct KubeconfigRequest<'a> {
    /// Its name: `admin` for `admin.kubeconfig`.
    pub name: &'a str,
    /// The cluster entry's name.
    pub cluster: &'a str,
    /// The API server URL, `https://...`.
    pub server: &'a str,
    /// The CA.
    pub ca: &'a Cert,
    /// The client certificate (its key is read from its file).
    pub client: &'a Cert,
}

impl KubeconfigRequest<'_> {
    /// Checks the server URL and that `ca` is a CA and `client` a leaf of
    /// this PKI.
    pub fn check(&self) -> Result<(), String> {
        if !self.server.starts_with("https://") || self.server.len() <= "https://".len() {
            return Err(format!(
                "server `{}` must be an https:// URL, e.g. https://10.0.0.1:6443",
                self.server
            ));
        }
        if !self.ca.is_ca || self.client.is_ca || self.client.stem.is_empty() {
            return Err(
                "pass the CA (pki::ca) and a client certificate (pki::cert) made in this PKI"
                    .to_string(),
            );
        }
        Ok(())
    }
}

/// How many threads a batch of `n` certificates with keys of `alg` may use.
/// RSA: one each, up to 16. An RSA key is a random search whose length
/// varies from key to key; with a thread per key the kernel shares the cores
/// among all of them and they finish together, where one thread per core
/// working through a queue can leave a core idle while the other ends a
/// long search. ECDSA keys take microseconds: one thread per core.
pub fn batch_threads(n: usize, alg: KeyAlgorithm) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    match alg {
        KeyAlgorithm::EcdsaP256 => cores.min(n),
        _ => n,
    }
    .clamp(1, 16)
}

/// A cluster's PKI directory in one [`Mode`], with the renewal window for
/// leaves.
#[derive(Clone, Debug)]
pub struct PkiDir {
    dir: PathBuf,
    mode: Mode,
    renew_within_days: u32,
}

impl PkiDir {
    /// The PKI in `dir` (already checked for links); in apply mode the
    /// directory is created with mode 0700. Leaves expiring within
    /// `renew_within_days` (clamped to 0..=36500) are re-issued.
    pub fn open(dir: PathBuf, mode: Mode, renew_within_days: i64) -> crate::error::Result<Self> {
        if mode == Mode::Apply {
            crate::state::create_private_dir(&dir)?;
        }
        Ok(PkiDir {
            dir,
            mode,
            renew_within_days: renew_within_days.clamp(0, 36500) as u32,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn done<T>(&self, value: T, kind: &'static str, id: String, decision: Decision) -> Done<T> {
        Done {
            value,
            kind,
            id,
            decision,
            writes: Vec::new(),
        }
    }

    /// The CA `<stem>.pem` + `<stem>-key.pem` (see [`super::ensure_ca`]):
    /// kept if both exist, its certificate made again from its key if only
    /// the key exists, created if neither; a certificate without its key is
    /// an error.
    pub fn ca(&self, stem: &str, req: &CertRequest) -> Result<Done<Cert>, PkiError> {
        let (existing, action) = plan_ca(&self.dir, stem)?;
        let remade = matches!(action, Action::Reissued(_));
        let decision = Decision::new(self.mode, action);
        let status = decision.status();
        let id = format!("{stem}.pem");
        Ok(match (existing, &decision) {
            (Some(ca), _) => self.done(Cert::from_ca(ca, status), "ca", id, decision),
            (None, Decision::Done(_)) => {
                let ca = make_ca(&self.dir, stem, req)?;
                self.done(Cert::from_ca(ca, status), "ca", id, decision)
            }
            (None, _) => {
                let cert = self.planned_cert(stem, req, "", true, status)?;
                // A CA remade from its key writes only its certificate.
                let writes = self.cert_writes(stem, req, &decision, !remade);
                Done {
                    writes,
                    ..self.done(cert, "ca", id, decision)
                }
            }
        })
    }

    /// The leaves `requests` (stem, request) signed by `signer`, in order,
    /// one result each (see [`super::ensure_leaf`]). In apply mode their
    /// keys are made on [`batch_threads`] threads.
    pub fn leaves(
        &self,
        signer: Signer<'_>,
        requests: &[(String, CertRequest)],
    ) -> Vec<Result<Done<Cert>, PkiError>> {
        let threads = match (self.mode, signer, requests.first()) {
            (Mode::Apply, Signer::Ca(_), Some((_, r))) => {
                batch_threads(requests.len(), r.algorithm)
            }
            _ => 1,
        };
        issue_in_parallel(requests, threads, |stem, req| self.leaf(signer, stem, req))
    }

    /// One leaf `stem` signed by `signer` (see [`super::ensure_leaf`]):
    /// decided by [`plan_leaf`] in both modes (every leaf of a planned CA
    /// would be created), then kept, issued or planned.
    pub fn leaf(
        &self,
        signer: Signer<'_>,
        stem: &str,
        req: &CertRequest,
    ) -> Result<Done<Cert>, PkiError> {
        let (kept, action) = match signer {
            Signer::Ca(ca) => plan_leaf(&self.dir, stem, ca, req, self.renew_within_days)?,
            Signer::Planned(_) => (None, Action::Created),
        };
        let decision = Decision::new(self.mode, action);
        let status = decision.status();
        let id = format!("{stem}.pem");
        let (issuer, info) = match (signer, kept, &decision) {
            (_, Some(info), _) => ("", Some(info)),
            (Signer::Ca(ca), None, Decision::Done(_)) => {
                ("", Some(ca.issue(&self.dir, stem, req)?))
            }
            (Signer::Ca(ca), None, _) => (ca.info().subject_cn.as_str(), None),
            (Signer::Planned(cn), None, _) => (cn, None),
        };
        if let Some(info) = info {
            let (cert_path, key_path) = pair_paths(&self.dir, stem);
            let key = PrivateKey::of(&key_path, &info.key_algorithm, None, true);
            let pem = super::files::read_text(&cert_path)?;
            let cert = Cert::new(stem, &cert_path, info, key, pem, status);
            return Ok(self.done(cert, "cert", id, decision));
        }
        if self.mode == Mode::Apply {
            return Err(PkiError::Issue {
                stem: stem.to_string(),
                reason: "its CA is only planned: make it with pki::ca first".to_string(),
            });
        }
        let cert = self.planned_cert(stem, req, issuer, false, status)?;
        let writes = self.cert_writes(stem, req, &decision, true);
        Ok(Done {
            writes,
            ..self.done(cert, "cert", id, decision)
        })
    }

    /// A certificate that is only planned: what it would say.
    fn planned_cert(
        &self,
        stem: &str,
        req: &CertRequest,
        issuer: &str,
        is_ca: bool,
        status: String,
    ) -> Result<Cert, PkiError> {
        let info = preview(req, issuer, is_ca)?;
        let (cert_path, key_path) = pair_paths(&self.dir, stem);
        let key = PrivateKey::of(&key_path, req.algorithm.name(), Some(0o600), true);
        Ok(Cert::new(
            stem,
            &cert_path,
            info,
            key,
            String::new(),
            status,
        ))
    }

    /// The plan's writes for a certificate: its key (unless kept) and its
    /// certificate.
    fn cert_writes(
        &self,
        stem: &str,
        req: &CertRequest,
        decision: &Decision,
        with_key: bool,
    ) -> Vec<PlannedWrite> {
        let (cert_path, key_path) = pair_paths(&self.dir, stem);
        let mut writes = Vec::new();
        if with_key {
            writes.push(PlannedWrite {
                path: key_path.display().to_string(),
                mode: "0600",
                content: format!("new {} private key", req.algorithm),
                reason: decision.reason(),
            });
        }
        writes.push(PlannedWrite {
            path: cert_path.display().to_string(),
            mode: "0644",
            content: format!("certificate CN={}", req.subject.cn),
            reason: decision.reason(),
        });
        writes
    }

    /// The kubeconfig `<name>.kubeconfig` (see [`super::ensure_kubeconfig`]),
    /// mode 0600. In plan mode, a kubeconfig of a planned certificate is
    /// [`Decision::Pending`].
    pub fn kubeconfig(&self, r: &KubeconfigRequest<'_>) -> Result<Done<Kubeconfig>, PkiError> {
        let path = self.dir.join(format!("{}.kubeconfig", r.name));
        let inputs_planned = !r.ca.on_disk() || !r.client.on_disk();
        let decision = if self.mode == Mode::Plan && inputs_planned {
            Decision::Pending
        } else {
            let (cert_path, key_path) = pair_paths(&self.dir, &r.client.stem);
            let spec = KubeconfigSpec {
                cluster_name: r.cluster.to_string(),
                server: r.server.to_string(),
                ca_pem: r.ca.pem.clone(),
                user: r.client.cn.clone(),
                client_cert_pem: super::files::read_text(&cert_path)?,
                client_key_pem: super::files::read_text(&key_path)?,
            };
            let decision = Decision::new(self.mode, plan_kubeconfig(&path, &spec)?);
            if let Decision::Done(_) = decision {
                write_secret(&path, kubeconfig_yaml(&spec).as_bytes())?;
            }
            decision
        };
        let file = path.display().to_string();
        let writes = if decision.is_planned() {
            vec![PlannedWrite {
                path: file.clone(),
                mode: "0600",
                content: format!("kubeconfig for {} -> {}", r.client.cn, r.server),
                reason: decision.reason(),
            }]
        } else {
            Vec::new()
        };
        let value = Kubeconfig {
            name: r.name.to_string(),
            file,
            cluster: r.cluster.to_string(),
            server: r.server.to_string(),
            user: r.client.cn.clone(),
            status: decision.status(),
        };
        let id = format!("{}.kubeconfig", r.name);
        Ok(Done {
            writes,
            ..self.done(value, "kubeconfig", id, decision)
        })
    }

    /// The encryption config `<name>.yaml` (see
    /// [`super::ensure_encryption_config`]): an existing key is always kept.
    pub fn encryption_config(&self, name: &str) -> Result<Done<EncryptionConfig>, PkiError> {
        let path = self.dir.join(format!("{name}.yaml"));
        let decision = Decision::new(self.mode, plan_encryption_config(&path)?);
        if let Decision::Done(_) = decision {
            create_encryption_config(&path)?;
        }
        let file = path.display().to_string();
        let writes = if decision.is_planned() {
            vec![PlannedWrite {
                path: file.clone(),
                mode: "0600",
                content: "EncryptionConfiguration with a new 32-byte aescbc key".to_string(),
                reason: decision.reason(),
            }]
        } else {
            Vec::new()
        };
        let key_bytes = if path.exists() {
            encryption_key_len(&path)? as i64
        } else {
            32
        };
        let value = EncryptionConfig {
            file,
            provider: "aescbc".to_string(),
            key_bytes,
            status: decision.status(),
        };
        let id = format!("{name}.yaml");
        Ok(Done {
            writes,
            ..self.done(value, "encryption-config", id, decision)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::fixtures::req;
    use std::fs;

    fn open(dir: &Path, mode: Mode) -> PkiDir {
        PkiDir::open(dir.to_path_buf(), mode, 30).unwrap()
    }

    /// Every file of a directory, by name.
    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<_> = fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| {
                    let e = e.unwrap();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The action behind a decision, and whether it was planned.
    fn action(d: &Decision) -> (Action, bool) {
        match d {
            Decision::Kept => (Action::Kept, false),
            Decision::Done(a) => (a.clone(), false),
            Decision::Planned(a) => (a.clone(), true),
            Decision::Pending => panic!("pending"),
        }
    }

    #[test]
    fn one_decision_table_for_every_file() {
        let why = Action::Reissued("SANs changed: +10.0.0.2".into());
        let cases = [
            (
                Mode::Apply,
                Action::Created,
                "created",
                "create",
                Outcome::Created,
            ),
            (Mode::Apply, Action::Kept, "kept", "keep", Outcome::Reused),
            (
                Mode::Apply,
                why.clone(),
                "re-issued: SANs changed: +10.0.0.2",
                "re-issue (SANs changed: +10.0.0.2)",
                Outcome::Created,
            ),
            (
                Mode::Plan,
                Action::Created,
                "planned: create",
                "create",
                Outcome::Planned,
            ),
            (Mode::Plan, Action::Kept, "kept", "keep", Outcome::Reused),
            (
                Mode::Plan,
                why,
                "planned: re-issue (SANs changed: +10.0.0.2)",
                "re-issue (SANs changed: +10.0.0.2)",
                Outcome::Planned,
            ),
        ];
        for (mode, a, status, reason, outcome) in cases {
            let d = Decision::new(mode, a.clone());
            assert_eq!(d.status(), status, "{mode:?} {a}");
            assert_eq!(d.reason(), reason, "{mode:?} {a}");
            assert_eq!(d.outcome(), outcome, "{mode:?} {a}");
            assert_eq!(d.is_planned(), mode == Mode::Plan && a != Action::Kept);
        }
        assert_eq!(Decision::Pending.status(), "planned: write");
        assert_eq!(Decision::Pending.outcome(), Outcome::Planned);
        assert!(Decision::Pending.is_planned());
    }

    #[test]
    fn plan_and_apply_decide_the_same_for_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("pki");
        // Plan mode creates nothing, not even the directory.
        let plan = open(&d, Mode::Plan);
        assert!(!d.exists());
        let apply = open(&d, Mode::Apply);
        assert!(d.is_dir());
        let ca_req = req("Kubernetes", &[]);
        let leaf_req = req("kubernetes", &["10.0.0.1", "kubernetes.default"]);
        let moved = req("kubernetes", &["10.0.0.2", "kubernetes.default"]);

        // Each step: plan first (nothing changes), then apply: same action.
        let mut steps = 0;
        for (leaf, want) in [
            (&leaf_req, Action::Created),
            (&leaf_req, Action::Kept),
            (
                &moved,
                Action::Reissued("SANs changed: +10.0.0.2 -10.0.0.1".into()),
            ),
            (&moved, Action::Kept),
        ] {
            let before = snapshot(&d);
            let planned_ca = plan.ca("ca", &ca_req).unwrap();
            let signer = planned_ca.value.signer_for("api").unwrap();
            let planned = plan.leaf(signer, "api", leaf).unwrap();
            assert_eq!(snapshot(&d), before, "plan mode wrote");
            let ca = apply.ca("ca", &ca_req).unwrap();
            assert_eq!(action(&planned_ca.decision).0, action(&ca.decision).0);
            let signer = ca.value.signer_for("api").unwrap();
            let applied = apply.leaf(signer, "api", leaf).unwrap();
            let (p, was_planned) = action(&planned.decision);
            let (a, _) = action(&applied.decision);
            assert_eq!((&p, &a), (&want, &want), "step {steps}");
            assert_eq!(was_planned, want != Action::Kept);
            assert_eq!(planned.decision.reason(), applied.decision.reason());
            assert_eq!(planned.writes.is_empty(), want == Action::Kept);
            assert!(applied.writes.is_empty());
            steps += 1;
        }
        assert_eq!(steps, 4);
    }

    #[test]
    fn an_existing_valid_certificate_is_kept_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let apply = open(dir.path(), Mode::Apply);
        let ca = apply.ca("ca", &req("Kubernetes", &[])).unwrap().value;
        let r = req("admin", &["127.0.0.1"]);
        let first = apply
            .leaf(ca.signer_for("admin").unwrap(), "admin", &r)
            .unwrap();
        assert_eq!(first.decision, Decision::Done(Action::Created));
        assert_eq!((first.kind, first.id.as_str()), ("cert", "admin.pem"));
        let files = snapshot(dir.path());
        for mode in [Mode::Plan, Mode::Apply] {
            let again = open(dir.path(), mode)
                .leaf(ca.signer_for("admin").unwrap(), "admin", &r)
                .unwrap();
            assert_eq!(again.decision, Decision::Kept, "{mode:?}");
            assert_eq!(again.decision.outcome(), Outcome::Reused);
            assert!(again.writes.is_empty());
            let c = again.value;
            assert_eq!(c.status, "kept");
            assert_eq!(c.fingerprint, first.value.fingerprint);
            assert_eq!(
                c.pem,
                fs::read_to_string(dir.path().join("admin.pem")).unwrap()
            );
            assert_eq!((c.key.mode.as_str(), c.key.matches_cert), ("0600", true));
        }
        assert_eq!(snapshot(dir.path()), files);
    }

    #[test]
    fn a_changed_san_list_is_reissued_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let apply = open(dir.path(), Mode::Apply);
        let ca = apply.ca("ca", &req("Kubernetes", &[])).unwrap().value;
        let signer = ca.signer_for("api").unwrap();
        let first = apply
            .leaf(signer, "api", &req("k", &["a.example", "10.0.0.1"]))
            .unwrap();
        let changed = req("k", &["b.example", "10.0.0.1"]);

        let planned = open(dir.path(), Mode::Plan)
            .leaf(signer, "api", &changed)
            .unwrap();
        let why = "SANs changed: +b.example -a.example";
        assert_eq!(
            planned.decision,
            Decision::Planned(Action::Reissued(why.into()))
        );
        assert_eq!(planned.value.status, format!("planned: re-issue ({why})"));
        assert_eq!(planned.value.dns_sans, vec!["b.example"]);
        assert!(planned.value.fingerprint.is_empty() && planned.value.pem.is_empty());
        let paths: Vec<&str> = planned.writes.iter().map(|w| w.path.as_str()).collect();
        assert!(
            paths[0].ends_with("api-key.pem") && paths[1].ends_with("api.pem"),
            "{paths:?}"
        );
        assert_eq!(planned.writes[0].mode, "0600");
        assert_eq!(planned.writes[0].reason, format!("re-issue ({why})"));
        for w in &planned.writes {
            assert!(!w.content.contains("PRIVATE KEY"), "{w:?}");
        }

        let applied = apply.leaf(signer, "api", &changed).unwrap();
        assert_eq!(
            applied.decision,
            Decision::Done(Action::Reissued(why.into()))
        );
        assert_eq!(applied.value.status, format!("re-issued: {why}"));
        assert_eq!(applied.decision.outcome(), Outcome::Created);
        assert_ne!(applied.value.fingerprint, first.value.fingerprint);
    }

    #[test]
    fn a_ca_key_without_its_certificate_is_remade_in_both_modes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let apply = open(d, Mode::Apply);
        let ca_req = req("Kubernetes", &[]);
        let first = apply.ca("ca", &ca_req).unwrap();
        assert_eq!(first.decision, Decision::Done(Action::Created));
        assert_eq!((first.kind, first.id.as_str()), ("ca", "ca.pem"));
        let key = fs::read(d.join("ca-key.pem")).unwrap();
        fs::remove_file(d.join("ca.pem")).unwrap();

        let why = "the certificate was missing: made again from the CA's key";
        let planned = open(d, Mode::Plan).ca("ca", &ca_req).unwrap();
        assert_eq!(
            planned.decision,
            Decision::Planned(Action::Reissued(why.into()))
        );
        // Only the certificate would be written: the key is kept.
        assert_eq!(planned.writes.len(), 1, "{:?}", planned.writes);
        assert!(planned.writes[0].path.ends_with("ca.pem"));
        assert!(!d.join("ca.pem").exists());

        let applied = apply.ca("ca", &ca_req).unwrap();
        assert_eq!(
            applied.decision,
            Decision::Done(Action::Reissued(why.into()))
        );
        assert_eq!(fs::read(d.join("ca-key.pem")).unwrap(), key);
        assert!(applied.value.signer_for("admin").is_ok());

        // A certificate without its key: an error in both modes, nothing written.
        fs::remove_file(d.join("ca-key.pem")).unwrap();
        let files = snapshot(d);
        for mode in [Mode::Plan, Mode::Apply] {
            let err = open(d, mode).ca("ca", &ca_req).unwrap_err();
            assert!(
                matches!(err, PkiError::IncompleteCa { .. }),
                "{mode:?}: {err}"
            );
        }
        assert_eq!(snapshot(d), files);
    }

    #[test]
    fn a_planned_ca_plans_every_leaf_and_its_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("pki");
        let plan = open(&d, Mode::Plan);
        let ca = plan.ca("ca", &req("Kubernetes", &[])).unwrap();
        assert_eq!(ca.decision, Decision::Planned(Action::Created));
        assert_eq!(ca.writes.len(), 2);
        assert!(ca.value.is_ca && !ca.value.on_disk());
        let signer = ca.value.signer_for("admin").unwrap();
        assert!(matches!(signer, Signer::Planned("Kubernetes")));
        let reqs: Vec<(String, CertRequest)> = ["admin", "kube-proxy"]
            .iter()
            .map(|s| (s.to_string(), req(s, &[])))
            .collect();
        let leaves = plan.leaves(signer, &reqs);
        let admin = leaves.into_iter().next().unwrap().unwrap();
        assert_eq!(admin.value.status, "planned: create");
        assert_eq!(admin.value.issuer, "Kubernetes");
        assert_eq!(admin.value.key.mode, "0600");
        let k = plan
            .kubeconfig(&KubeconfigRequest {
                name: "admin",
                cluster: "c",
                server: "https://10.0.0.1:6443",
                ca: &ca.value,
                client: &admin.value,
            })
            .unwrap();
        assert_eq!(k.decision, Decision::Pending);
        assert_eq!(k.value.status, "planned: write");
        assert_eq!(
            k.writes[0].reason,
            "create or update (its certificate is planned)"
        );
        assert!(!d.exists());
        // Outside plan mode a planned CA cannot sign.
        let apply = open(&d, Mode::Apply);
        let err = apply.leaf(signer, "admin", &reqs[0].1).unwrap_err();
        assert!(err.to_string().contains("only planned"), "{err}");
    }

    #[test]
    fn kubeconfig_and_encryption_config_plan_then_apply_then_keep() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let apply = open(d, Mode::Apply);
        let plan = open(d, Mode::Plan);
        let ca = apply.ca("ca", &req("Kubernetes", &[])).unwrap().value;
        let admin = apply
            .leaf(ca.signer_for("admin").unwrap(), "admin", &req("admin", &[]))
            .unwrap()
            .value;
        let r = KubeconfigRequest {
            name: "admin",
            cluster: "k8s",
            server: "https://10.0.0.1:6443",
            ca: &ca,
            client: &admin,
        };
        assert!(r.check().is_ok());
        let bad = KubeconfigRequest {
            server: "http://x",
            ..r
        };
        assert!(bad.check().unwrap_err().contains("https:// URL"));
        let swapped = KubeconfigRequest {
            ca: &admin,
            client: &ca,
            ..r
        };
        assert!(swapped.check().unwrap_err().contains("pass the CA"));

        for (mode, want) in [
            (Mode::Plan, Decision::Planned(Action::Created)),
            (Mode::Apply, Decision::Done(Action::Created)),
            (Mode::Plan, Decision::Kept),
            (Mode::Apply, Decision::Kept),
        ] {
            let pki = if mode == Mode::Plan { &plan } else { &apply };
            let k = pki.kubeconfig(&r).unwrap();
            assert_eq!(k.decision, want, "kubeconfig {mode:?}");
            assert_eq!(k.id, "admin.kubeconfig");
            assert_eq!(k.value.user, "admin");
            let e = pki.encryption_config("enc").unwrap();
            assert_eq!(e.decision, want, "encryption config {mode:?}");
            assert_eq!((e.kind, e.id.as_str()), ("encryption-config", "enc.yaml"));
            assert_eq!(e.value.key_bytes, 32);
            assert_eq!(
                e.writes.len(),
                usize::from(mode == Mode::Plan && want != Decision::Kept)
            );
            if let Some(w) = e.writes.first() {
                assert_eq!((w.mode, w.reason.as_str()), ("0600", "create"));
            }
        }
        assert_eq!(
            crate::pki::file_mode(&d.join("admin.kubeconfig")),
            Some(0o600)
        );
    }

    #[test]
    fn batch_threads_follow_the_key_type() {
        let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
        assert_eq!(batch_threads(10, KeyAlgorithm::Rsa2048), 10);
        assert_eq!(batch_threads(40, KeyAlgorithm::Rsa4096), 16);
        assert_eq!(batch_threads(0, KeyAlgorithm::Rsa2048), 1);
        assert_eq!(
            batch_threads(10, KeyAlgorithm::EcdsaP256),
            cores.min(10).clamp(1, 16)
        );
    }

    #[test]
    fn a_batch_keeps_its_order_and_fails_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let apply = open(dir.path(), Mode::Apply);
        let ca = apply.ca("ca", &req("Kubernetes", &[])).unwrap().value;
        let mut reqs: Vec<(String, CertRequest)> = (0..4)
            .map(|i| (format!("leaf-{i}"), req(&format!("cn-{i}"), &[])))
            .collect();
        reqs[2].1.hosts = vec!["two words".into()];
        let out = apply.leaves(ca.signer_for("x").unwrap(), &reqs);
        assert_eq!(out.len(), 4);
        assert!(out[2].is_err());
        for i in [0, 1, 3] {
            assert_eq!(out[i].as_ref().unwrap().value.cn, format!("cn-{i}"));
        }
    }
}
