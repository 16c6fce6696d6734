//! The host: everything a run shares — settings, state, AWS clients, the
//! tokio runtime, plan mode, and the record of what was done.  Plain Rust;
//! `src/api/*` binds it into the engine.

mod fleet;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::aws::{Aws, AwsOptions};
use crate::error::{Error, Kind, Result};
use crate::outcome::Outcome;
pub use crate::plan::{Plan, PlannedOp};
use crate::settings::Settings;
use crate::state::State;

/// What happened to one resource, for the end-of-run summary.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The resource kind (`vpc`, `instance`, …).
    pub kind: String,
    /// Its ID.
    pub id: String,
    /// created, reused, planned, deleted, …
    pub status: Outcome,
}

/// How output is printed.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// Machine-readable output: no progress lines.
    pub json: bool,
    /// Extra detail on stderr.
    pub verbose: bool,
}

/// The shared context of one groundup run.
pub struct Host {
    /// The cluster's name.
    pub cluster: String,
    /// The effective region.
    pub region: String,
    /// The validated settings.
    pub settings: Settings,
    /// How to reach AWS.
    pub aws_options: AwsOptions,
    /// Plan mode, if on.
    pub plan: Option<Plan>,
    /// Output options.
    pub output: OutputOptions,
    /// Set by Ctrl-C: running calls and scripts stop.
    pub interrupted: Arc<AtomicBool>,
    /// The planned node layout (stdlib/nodes.rhai), set by the command
    /// layer that evaluated it ([`Host::with_layout`]).
    layout: Option<Result<Vec<crate::layout::Node>>>,
    state: Mutex<State>,
    aws: OnceLock<Aws>,
    ssh_key: Mutex<Option<std::thread::JoinHandle<Option<String>>>>,
    ssh: crate::ssh::Pool,
    rt: tokio::runtime::Runtime,
    fresh: Mutex<HashSet<String>>,
    events: Mutex<Vec<Event>>,
    started: Instant,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("cluster", &self.cluster)
            .field("region", &self.region)
            .field("plan", &self.plan.is_some())
            .finish()
    }
}

impl Host {
    /// Builds a host. The tokio runtime is created here and owned by the
    /// host: scripts are synchronous and bindings `block_on` it.
    pub fn new(
        settings: Settings,
        state: State,
        aws_options: AwsOptions,
        plan: Option<Plan>,
        output: OutputOptions,
    ) -> Result<Host> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the async runtime", e))?;
        Ok(Host {
            cluster: settings.str("name"),
            region: settings.str("region"),
            settings,
            aws_options,
            plan,
            output,
            interrupted: Arc::new(AtomicBool::new(false)),
            layout: None,
            state: Mutex::new(state),
            aws: OnceLock::new(),
            ssh_key: Mutex::new(None),
            ssh: crate::ssh::Pool::default(),
            rt,
            fresh: Mutex::new(HashSet::new()),
            events: Mutex::new(Vec::new()),
            started: Instant::now(),
        })
    }

    /// The host with the planned node layout: `nodes::planned(cluster)` as
    /// the command layer evaluated it (`commands::layout`), or why it
    /// could not be.
    pub fn with_layout(mut self, nodes: Result<Vec<crate::layout::Node>>) -> Host {
        self.layout = Some(nodes);
        self
    }

    /// The planned node layout; the evaluation's error if it failed, an
    /// error too if the host was built without one.
    pub fn layout(&self) -> Result<&[crate::layout::Node]> {
        match &self.layout {
            Some(Ok(nodes)) => Ok(nodes),
            Some(Err(e)) => Err(e.clone()),
            None => Err(Error::script(
                "this host has no node layout (stdlib/nodes.rhai was not evaluated)",
            )),
        }
    }

    /// Runs a future to completion on the host's runtime; stops early with
    /// an `Interrupted` error when Ctrl-C is pressed.
    pub fn block_on<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        let flag = self.interrupted.clone();
        self.rt.block_on(async move {
            tokio::select! {
                r = fut => r,
                _ = async {
                    loop {
                        if flag.load(Ordering::SeqCst) { break; }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                } => Err(Error::new(Kind::Interrupted, "interrupted")),
            }
        })
    }

    /// The runtime (for code that must spawn).
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// Whether plan mode is on.
    pub fn planning(&self) -> bool {
        self.plan.is_some()
    }

    /// Whether AWS may be read: always outside plan mode; in plan mode only
    /// when an endpoint or credentials were given.
    pub fn can_read(&self) -> bool {
        match &self.plan {
            None => true,
            Some(p) => p.online,
        }
    }

    /// The one place a call that changes AWS forks on plan mode: in plan
    /// mode `operation` is recorded with `params` and `None` returned
    /// (nothing is called); otherwise the clients to make the call with.
    /// (Creates, whose planned IDs later steps use, record through
    /// [`Plan::record`] with an ID prefix instead.)
    pub async fn unless_planned(
        &self,
        operation: &str,
        params: impl FnOnce() -> Value,
    ) -> Result<Option<&Aws>> {
        if let Some(plan) = &self.plan {
            plan.record(operation, "", params());
            return Ok(None);
        }
        self.aws().await.map(Some)
    }

    /// The AWS clients, built on first use.
    pub async fn aws(&self) -> Result<&Aws> {
        if let Some(a) = self.aws.get() {
            return Ok(a);
        }
        let a = Aws::connect(&self.aws_options).await?;
        Ok(self.aws.get_or_init(|| a))
    }

    /// Starts generating an RSA key for the SSH key pair on a background
    /// thread, so that its CPU time (tens of milliseconds, more on a busy
    /// machine) overlaps the AWS calls of the steps before it. The key is
    /// only kept in memory until [`Host::take_ssh_key`] claims it; if no
    /// step does, it is dropped unused. Does nothing in plan mode.
    pub fn prefetch_ssh_key(&self) {
        if self.planning() {
            return;
        }
        if let Ok(mut slot) = self.ssh_key.lock()
            && slot.is_none()
        {
            *slot = Some(std::thread::spawn(|| {
                rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
                    .ok()
                    .map(|k| k.serialize_pem())
            }));
        }
    }

    /// The key started by [`Host::prefetch_ssh_key`] (PKCS#8 PEM), waiting
    /// for it if it is not ready yet; `None` if none was started (or its
    /// generation failed). Each key is handed out once.
    pub fn take_ssh_key(&self) -> Option<String> {
        let handle = self.ssh_key.lock().ok()?.take()?;
        handle.join().ok().flatten()
    }

    /// The SSH sessions of this run (see [`crate::ssh`]), reused by every
    /// call.
    pub fn ssh_pool(&self) -> &crate::ssh::Pool {
        &self.ssh
    }

    /// The state, locked for reading or writing.
    pub fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Records a string output in state.
    pub fn remember(&self, key: &str, value: &str) -> Result<()> {
        self.state().set(key, Value::String(value.to_string()))
    }

    /// Forgets a state key.
    pub fn forget(&self, key: &str) -> Result<()> {
        self.state().remove(key)
    }

    /// A recorded string output.
    pub fn recalled(&self, key: &str) -> Option<String> {
        self.state().get_str(key)
    }

    /// Marks an ID as created by this process (its children cannot exist
    /// yet, so their lookups can be skipped).
    pub fn mark_fresh(&self, id: &str) {
        if let Ok(mut f) = self.fresh.lock() {
            f.insert(id.to_string());
        }
    }

    /// Whether an ID was created by this process (or is a plan placeholder).
    pub fn is_fresh(&self, id: &str) -> bool {
        id.contains("-planned") || self.fresh.lock().map(|f| f.contains(id)).unwrap_or(false)
    }

    /// Records what happened to a resource.
    pub fn event(&self, kind: &str, id: &str, status: Outcome) {
        if self.output.verbose {
            eprintln!("  {status} {kind} {id}");
        }
        if let Ok(mut e) = self.events.lock() {
            e.push(Event {
                kind: kind.into(),
                id: id.into(),
                status,
            });
        }
    }

    /// Everything recorded by [`Host::event`].
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Time since the host was made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A live progress line for a long wait (nothing under `--json`); see
    /// [`crate::progress`].
    pub fn progress(&self, label: &str) -> crate::progress::Progress {
        crate::progress::Progress::new(self.output.json, label)
    }

    /// The standard tags of every resource: `Name` and `groundup:cluster`.
    pub fn tags(&self, name: &str) -> Vec<(String, String)> {
        vec![
            ("Name".to_string(), name.to_string()),
            (CLUSTER_TAG.to_string(), self.cluster.clone()),
        ]
    }
}

/// The tag every groundup resource carries; every lookup filters on it.
pub const CLUSTER_TAG: &str = "groundup:cluster";
/// The tag naming a node's role.
pub const ROLE_TAG: &str = "groundup:role";

#[cfg(test)]
mod tests {
    use super::*;

    fn host(plan: bool) -> (tempfile::TempDir, Host) {
        let text = include_str!("../stdlib/cluster.rhai");
        let settings =
            Settings::evaluate(&rhai::Engine::new(), "stdlib/cluster.rhai", text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path(), "k8s-cluster", plan).unwrap();
        let aws = AwsOptions {
            region: "us-east-2".into(),
            endpoint: None,
            max_attempts: 1,
            retry_mode: "standard".into(),
            local: false,
        };
        let plan = plan.then(|| Plan::new(false));
        let h = Host::new(settings, state, aws, plan, OutputOptions::default()).unwrap();
        (dir, h)
    }

    #[test]
    fn a_prefetched_ssh_key_is_an_rsa_key_handed_out_once() {
        let (_d, h) = host(false);
        assert!(h.take_ssh_key().is_none(), "nothing was prefetched");
        h.prefetch_ssh_key();
        h.prefetch_ssh_key(); // a second call does not start another
        let pem = h.take_ssh_key().expect("the prefetched key");
        let line = crate::aws::compute::openssh_public_key(&pem).unwrap();
        assert!(line.starts_with("ssh-rsa "), "{line}");
        assert!(h.take_ssh_key().is_none(), "handed out once");
    }

    #[test]
    fn plan_mode_prefetches_nothing() {
        let (_d, h) = host(true);
        h.prefetch_ssh_key();
        assert!(h.take_ssh_key().is_none());
    }
}
