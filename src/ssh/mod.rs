//! Reaching the nodes: pure-Rust SSH (russh) for runbooks and for other
//! Rust modules (systemd, etcd, the control plane, the workers).
//!
//! # Public API
//!
//! ```text
//! let fleet = ssh::Fleet::of(&host)?;        // nodes from state, settings, key, known_hosts
//! fleet.nodes()                              // [Node { name, role, index, instance_id, private_ip, public_ip }]
//! fleet.names_with_role("master")            // ["master-0", "master-1", "master-2"]
//! host.block_on(fleet.run(&names, &Command::sudo("systemctl daemon-reload")))?
//!     // -> Vec<NodeOutcome<Output>>: per node, Ok(Output { code, stdout, stderr }) or Err(Error)
//! host.block_on(fleet.upload(&[NodeFiles { node, files: vec![FileSpec { dest, mode, owner, group, content, source }] }]))?
//!     // -> Vec<NodeOutcome<Vec<FileResult>>>: per file created / updated / unchanged (planned in --plan)
//! ssh::failures("ssh::upload", &outcomes)?   // one error naming every failed node, or Ok
//! ssh::source_file(&host, "pki/ca.pem")?     // bytes of a file inside <state-dir>/<cluster>/ (no links, no ..)
//! ```
//!
//! * **Settings** (`stdlib/cluster.rhai`): `ssh_user` (ubuntu), `ssh_address`
//!   (`public` | `private`), `ssh_boot_timeout_secs` (how long a node that
//!   does not answer yet is waited for), `ssh_concurrency` (nodes worked on
//!   at once).
//! * **Key and host keys**: the cluster key compute made
//!   (`<state-dir>/<cluster>/ssh/<cluster>.id_rsa`), and
//!   `<state-dir>/<cluster>/ssh/known_hosts`, whose entries are tied to the
//!   instance id ([`known_hosts`]): first contact records, a changed key is
//!   refused naming the node and the way out, nothing is accepted unchecked.
//! * **Waiting**: refused / unreachable / timed-out connections are retried
//!   with backoff up to `ssh_boot_timeout_secs`; authentication and host-key
//!   failures never are ([`client`]).
//! * **Sessions** are opened once per node and reused by every later call of
//!   the same run (the pool lives on the [`Host`]); a batch works on at most
//!   `ssh_concurrency` nodes at once and returns one outcome per node, in
//!   the order asked; one node's failure never hides another's.
//! * **Uploads** ([`upload`]): one probe per node (SHA-256, mode, owner of
//!   every destination), then one script on stdin of `sudo -n sh -s` that
//!   writes each changed file to a unique temporary name, checks it, sets
//!   owner and mode, and renames it into place; unchanged files are not
//!   touched. Contents are never printed, logged or planned.
//! * **Plan mode** makes no connection: every upload and command is recorded
//!   in the plan (`SshUpload`, `SshExec`) and results say `planned`.
//! * **The emulator guard** ([`guard`]): when AWS calls go to a loopback
//!   endpoint (moto, `--local`), no public address is ever dialled, and a
//!   private one only with `ssh_address = "private"` on a directly attached
//!   network; otherwise the batch fails before any connection with a
//!   [`Kind::NoMachines`] error, which `up` turns into one line and success.

pub mod client;
pub mod guard;
pub mod known_hosts;
pub mod upload;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

pub use client::{ConnectError, Output};
pub use guard::AddressChoice;
pub use upload::{FileSpec, FileStatus};

use crate::error::{Error, Kind, Result};
use crate::host::Host;
use known_hosts::KnownHosts;
use upload::Action;

/// The SSH port.
pub const PORT: u16 = 22;

/// One node as SSH sees it (from compute's `nodes` records in state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `master-0`, `worker-2`.
    pub name: String,
    /// `master` or `worker`.
    pub role: String,
    /// Index within its role.
    pub index: i64,
    /// The EC2 instance id (host keys are tied to it); empty before compute.
    pub instance_id: String,
    /// Private IP.
    pub private_ip: String,
    /// Public IP (may be empty).
    pub public_ip: String,
}

/// A command to run on nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The shell command line.
    pub line: String,
    /// Run it as root (`sudo -n sh -c …`).
    pub sudo: bool,
    /// Bytes fed to its standard input (never planned or printed).
    pub stdin: Option<Arc<Vec<u8>>>,
}

impl Command {
    /// A command run as the SSH user.
    pub fn new(line: impl Into<String>) -> Command {
        Command {
            line: line.into(),
            sudo: false,
            stdin: None,
        }
    }
    /// A command run as root through `sudo -n`.
    pub fn sudo(line: impl Into<String>) -> Command {
        Command {
            sudo: true,
            ..Command::new(line)
        }
    }
    /// The line sent to the node.
    pub fn wire(&self) -> String {
        if self.sudo {
            format!("sudo -n sh -c {}", upload::quote(&self.line))
        } else {
            self.line.clone()
        }
    }
}

/// The files one node gets.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    /// The node's name.
    pub node: String,
    /// Its files.
    pub files: Vec<FileSpec>,
}

/// What happened to one uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileResult {
    /// Its path on the node.
    pub dest: String,
    /// created, updated, unchanged or planned.
    pub status: FileStatus,
    /// SHA-256 of what the node now has.
    pub sha256: String,
}

/// The result for one node of a batch.
#[derive(Debug, Clone)]
pub struct NodeOutcome<T> {
    /// The node's name.
    pub node: String,
    /// Its result, or why it failed.
    pub result: Result<T>,
}

/// The sessions of one run, kept on the [`Host`] and reused by every call.
#[derive(Default)]
pub struct Pool {
    sessions: Mutex<HashMap<String, Arc<client::Session>>>,
    known: Mutex<Option<Arc<Mutex<KnownHosts>>>>,
    key: Mutex<Option<Arc<russh::keys::PrivateKey>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ssh::Pool")
    }
}

/// The cluster's nodes and how to reach them, for one batch of work.
pub struct Fleet<'h> {
    host: &'h Host,
    nodes: Vec<Node>,
    user: String,
    choice: AddressChoice,
    boot_timeout: Duration,
    concurrency: usize,
    emulator: bool,
}

/// The known_hosts file of a cluster directory.
pub fn known_hosts_path(cluster_dir: &Path) -> PathBuf {
    cluster_dir.join("ssh").join("known_hosts")
}

fn ssh_error(msg: impl Into<String>) -> Error {
    Error::new(Kind::Ssh, msg)
}

/// The nodes compute.rhai recorded (`nodes` in state), or, before compute
/// (plan, offline), the host's planned layout (stdlib/nodes.rhai); masters
/// first.
pub fn nodes_of(host: &Host) -> Result<Vec<Node>> {
    let st = host.state();
    let recorded = st.get("nodes").and_then(Value::as_object).cloned();
    drop(st);
    let instance: HashMap<String, (String, String)> = recorded
        .iter()
        .flatten()
        .map(|(k, v)| {
            let s = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
            (k.clone(), (s("instance_id"), s("public_ip")))
        })
        .collect();
    let nodes = crate::pki_cluster::nodes(
        &host.settings,
        host.layout()?,
        recorded.map(Value::Object).as_ref(),
    )?;
    Ok(nodes
        .into_iter()
        .map(|n| {
            let (id, _) = instance.get(&n.name).cloned().unwrap_or_default();
            Node {
                instance_id: id,
                name: n.name,
                role: n.role,
                index: n.index,
                private_ip: n.private_ip,
                public_ip: n.public_ip,
            }
        })
        .collect())
}

impl<'h> Fleet<'h> {
    /// The fleet of `host`'s cluster: its nodes (from state) and the SSH
    /// settings. Opens nothing yet.
    pub fn of(host: &'h Host) -> Result<Fleet<'h>> {
        let s = &host.settings;
        let choice = AddressChoice::parse(&s.str("ssh_address")).ok_or_else(|| {
            Error::setting(format!(
                "setting `ssh_address` = `{}`: expected public or private",
                s.str("ssh_address")
            ))
        })?;
        let user = match s.str("ssh_user") {
            u if u.is_empty() => "ubuntu".to_string(),
            u => u,
        };
        Ok(Fleet {
            host,
            nodes: nodes_of(host)?,
            user,
            choice,
            boot_timeout: Duration::from_secs(s.int("ssh_boot_timeout_secs").clamp(0, 3600) as u64),
            concurrency: s.int("ssh_concurrency").clamp(1, 256) as usize,
            emulator: host
                .aws_options
                .endpoint
                .as_deref()
                .is_some_and(crate::aws::is_loopback_url),
        })
    }

    /// Every node, masters first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The names of the nodes with `role` (`master`, `worker`), by index.
    pub fn names_with_role(&self, role: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.role == role)
            .map(|n| n.name.clone())
            .collect()
    }

    /// A node by name, or an error listing the known ones.
    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
            ssh_error(format!("no node named `{name}`"))
                .with_help(format!("the cluster's nodes: {}", names.join(", ")))
        })
    }

    /// The address SSH dials for `node`, after the emulator guard.
    pub fn address(&self, node: &Node) -> Result<String> {
        let addr = guard::target(
            &node.name,
            self.choice,
            &node.public_ip,
            &node.private_ip,
            self.emulator,
            |ip| guard::directly_attached(ip, &guard::host_routes(), guard::interface_up),
        )
        .map_err(|b| Error::new(Kind::NoMachines, b.to_string()))?;
        if addr.is_empty() {
            return Err(ssh_error(format!(
                "{} has no {} address yet",
                node.name,
                if self.choice == AddressChoice::Public {
                    "public"
                } else {
                    "private"
                }
            ))
            .with_help(
                "run compute first (`groundup run compute`), or --set ssh_address=private",
            ));
        }
        Ok(addr)
    }

    /// Resolves names to nodes and addresses before anything is dialled: an
    /// unknown name or a guarded address stops the whole batch.
    fn targets(&self, names: &[String]) -> Result<Vec<(Node, String)>> {
        names
            .iter()
            .map(|n| {
                let node = self.node(n)?.clone();
                let addr = if self.host.planning() {
                    String::new()
                } else {
                    self.address(&node)?
                };
                Ok((node, addr))
            })
            .collect()
    }

    fn key(&self) -> Result<Arc<russh::keys::PrivateKey>> {
        let pool = self.host.ssh_pool();
        let mut slot = pool
            .key
            .lock()
            .map_err(|_| ssh_error("key lock poisoned"))?;
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let path = crate::aws::compute::key_path(self.host, &self.host.cluster);
        let pem = std::fs::read_to_string(&path).map_err(|e| {
            ssh_error(format!(
                "cannot read the cluster key {}: {e}",
                path.display()
            ))
            .with_help("run compute first (`groundup run compute`): it makes the key pair")
        })?;
        let key = russh::keys::decode_secret_key(&pem, None)
            .map_err(|_| ssh_error(format!("{} is not a usable private key", path.display())))?;
        let key = Arc::new(key);
        *slot = Some(key.clone());
        Ok(key)
    }

    fn known(&self) -> Result<Arc<Mutex<KnownHosts>>> {
        let pool = self.host.ssh_pool();
        let mut slot = pool.known.lock().map_err(|_| ssh_error("lock poisoned"))?;
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let path = known_hosts_path(self.host.state().dir());
        let kh = KnownHosts::load(&path)
            .map_err(|e| ssh_error(format!("cannot read {}: {e}", path.display())))?;
        let kh = Arc::new(Mutex::new(kh));
        *slot = Some(kh.clone());
        Ok(kh)
    }

    /// The node's session: the pooled one, else a new connection (waiting
    /// up to the boot timeout for a node that does not answer yet).
    async fn session(&self, node: &Node, address: &str) -> Result<Arc<client::Session>> {
        let pool = self.host.ssh_pool();
        if let Some(s) = pool
            .sessions
            .lock()
            .ok()
            .and_then(|m| m.get(&node.name).cloned())
            && !s.is_closed()
        {
            return Ok(s);
        }
        let dial = client::Dial {
            node: node.name.clone(),
            instance: if node.instance_id.is_empty() {
                node.name.clone()
            } else {
                node.instance_id.clone()
            },
            address: address.to_string(),
            addresses: vec![node.private_ip.clone(), node.public_ip.clone()],
            port: PORT,
            user: self.user.clone(),
        };
        let deadline = Instant::now() + self.boot_timeout;
        let session = client::connect(&dial, self.key()?, self.known()?, deadline)
            .await
            .map_err(|e| self.connect_error(node, address, e))?;
        let session = Arc::new(session);
        if let Ok(mut m) = pool.sessions.lock() {
            m.insert(node.name.clone(), session.clone());
        }
        Ok(session)
    }

    fn connect_error(&self, node: &Node, address: &str, e: ConnectError) -> Error {
        let kh = known_hosts_path(self.host.state().dir());
        let who = format!("{} ({address})", node.name);
        match e {
            ConnectError::Unreachable(why) => ssh_error(format!(
                "{who} did not answer within {} s (ssh_boot_timeout_secs): {why}",
                self.boot_timeout.as_secs()
            ))
            .with_help("is the node running, and does the security group let you reach port 22? Raise ssh_boot_timeout_secs for slow boots"),
            ConnectError::HostKeyChanged { presented, recorded, line } => ssh_error(format!(
                "{who}: host key changed for instance {}: it presented {presented}, {}:{line} records {}; refusing to connect",
                if node.instance_id.is_empty() { "-" } else { &node.instance_id },
                kh.display(),
                recorded.join(", ")
            ))
            .with_help(format!(
                "someone may be intercepting the connection. If you know the node's host key changed (its system was reinstalled), delete line {line} of {} (`groundup ssh --forget {}`) and run again",
                kh.display(),
                node.name
            )),
            ConnectError::HostKey(why) => ssh_error(format!("{who}: {why}")),
            ConnectError::Auth(why) => ssh_error(format!("{who}: {why}")).with_help(format!(
                "the cluster key ({}) must be in ~{}/.ssh/authorized_keys on the node (cloud-init puts it there at first boot); check ssh_user",
                crate::aws::compute::key_path(self.host, &self.host.cluster).display(),
                self.user
            )),
            ConnectError::Protocol(why) => ssh_error(format!("{who}: {why}")),
        }
    }

    /// Runs `cmd` on every node in `names` (at most `ssh_concurrency` at
    /// once); one outcome per node, in order. Plan mode records each
    /// command and connects nowhere.
    pub async fn run(&self, names: &[String], cmd: &Command) -> Result<Vec<NodeOutcome<Output>>> {
        let targets = self.targets(names)?;
        if let Some(plan) = &self.host.plan {
            for (node, _) in &targets {
                plan.record(
                    "SshExec",
                    "",
                    json!({"Node": node.name, "Command": cmd.line, "Sudo": cmd.sudo,
                           "Stdin": cmd.stdin.as_ref().map(|s| format!("{} bytes", s.len()))}),
                );
            }
            return Ok(targets
                .into_iter()
                .map(|(n, _)| NodeOutcome {
                    node: n.name,
                    result: Ok(Output::default()),
                })
                .collect());
        }
        let line = cmd.wire();
        Ok(self
            .each(targets, |node, addr| {
                let line = line.clone();
                async move {
                    let s = self.session(&node, &addr).await?;
                    s.exec(&line, cmd.stdin.as_deref().map(Vec::as_slice))
                        .await
                        .map_err(|e| ssh_error(format!("{}: {e}", node.name)))
                }
            })
            .await)
    }

    /// Puts files on nodes: one probe per node, then only what differs is
    /// written (atomically) or fixed (owner, mode). Plan mode records each
    /// upload (path, mode, owner, source, size; never the content).
    pub async fn upload(&self, work: &[NodeFiles]) -> Result<Vec<NodeOutcome<Vec<FileResult>>>> {
        for w in work {
            for f in &w.files {
                upload::check_dest(&f.dest).map_err(ssh_error)?;
                upload::check_account("owner", &f.owner).map_err(ssh_error)?;
                upload::check_account("group", &f.group).map_err(ssh_error)?;
            }
        }
        let names: Vec<String> = work.iter().map(|w| w.node.clone()).collect();
        let targets = self.targets(&names)?;
        if let Some(plan) = &self.host.plan {
            let mut out = Vec::new();
            for w in work {
                let mut files = Vec::new();
                for f in &w.files {
                    plan.record(
                        "SshUpload",
                        "",
                        json!({"Node": w.node, "Path": f.dest, "Mode": format!("{:04o}", f.mode),
                               "Owner": format!("{}:{}", f.owner, f.group), "From": f.source,
                               "Bytes": f.content.len()}),
                    );
                    files.push(FileResult {
                        dest: f.dest.clone(),
                        status: FileStatus::Planned,
                        sha256: f.sha256(),
                    });
                }
                out.push(NodeOutcome {
                    node: w.node.clone(),
                    result: Ok(files),
                });
            }
            return Ok(out);
        }
        let files: HashMap<&str, &Vec<FileSpec>> =
            work.iter().map(|w| (w.node.as_str(), &w.files)).collect();
        let out = self
            .each(targets, |node, addr| {
                let specs = files.get(node.name.as_str()).copied();
                async move {
                    let specs = specs.map(Vec::as_slice).unwrap_or_default();
                    self.upload_one(&node, &addr, specs).await
                }
            })
            .await;
        for o in &out {
            if let Ok(files) = &o.result {
                for f in files {
                    self.host
                        .event("file", &format!("{}:{}", o.node, f.dest), f.status);
                }
            }
        }
        Ok(out)
    }

    async fn upload_one(
        &self,
        node: &Node,
        addr: &str,
        specs: &[FileSpec],
    ) -> Result<Vec<FileResult>> {
        if specs.is_empty() {
            return Ok(vec![]);
        }
        let s = self.session(node, addr).await?;
        let fail = |what: &str, o: &Output| {
            ssh_error(format!(
                "{}: {what} failed (exit {}): {}",
                node.name,
                o.code,
                o.stderr.trim()
            ))
            .with_help(format!(
                "{} must be able to run sudo without a password",
                self.user
            ))
        };
        let dests: Vec<&str> = specs.iter().map(|f| f.dest.as_str()).collect();
        let probe = s
            .exec(&upload::probe_command(&dests), None)
            .await
            .map_err(|e| ssh_error(format!("{}: {e}", node.name)))?;
        if probe.code != 0 {
            return Err(fail("reading the files already there", &probe));
        }
        let remote = upload::parse_probe(&probe.stdout, specs.len())
            .map_err(|e| ssh_error(format!("{}: {e}", node.name)))?;
        let work: Vec<(&FileSpec, Action)> = specs
            .iter()
            .zip(&remote)
            .map(|(f, r)| (f, upload::decide(f, r.as_ref())))
            .collect();
        if let Some(script) = upload::apply_script(&work) {
            let o = s
                .exec("sudo -n sh -s", Some(script.as_bytes()))
                .await
                .map_err(|e| ssh_error(format!("{}: {e}", node.name)))?;
            if o.code != 0 {
                return Err(fail("writing the files", &o));
            }
        }
        Ok(work
            .iter()
            .map(|(f, a)| FileResult {
                dest: f.dest.clone(),
                status: match a {
                    Action::Write(st) => *st,
                    Action::Fix => FileStatus::Updated,
                    Action::Keep => FileStatus::Unchanged,
                },
                sha256: f.sha256(),
            })
            .collect())
    }

    /// Runs `job` for every target, at most `ssh_concurrency` at once,
    /// returning the outcomes in the targets' order.
    async fn each<T, F, Fut>(&self, targets: Vec<(Node, String)>, job: F) -> Vec<NodeOutcome<T>>
    where
        F: Fn(Node, String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut out: Vec<(usize, NodeOutcome<T>)> =
            futures::stream::iter(targets.into_iter().enumerate())
                .map(|(i, (node, addr))| {
                    let name = node.name.clone();
                    let fut = job(node, addr);
                    async move {
                        (
                            i,
                            NodeOutcome {
                                node: name,
                                result: fut.await,
                            },
                        )
                    }
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, o)| o).collect()
    }
}

/// One error naming every node that failed (`call: N of M nodes failed:
/// master-1: …; worker-2: …`), or `Ok` when none did. A guard refusal is
/// passed on as it is.
pub fn failures<T>(call: &str, outcomes: &[NodeOutcome<T>]) -> Result<()> {
    let failed: Vec<&NodeOutcome<T>> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let mut help = None;
    let mut parts = Vec::new();
    for o in &failed {
        if let Err(e) = &o.result {
            if e.kind == Kind::NoMachines || e.kind == Kind::Interrupted {
                return Err(e.clone());
            }
            let msg = e.message.clone();
            parts.push(if msg.starts_with(&o.node) {
                msg
            } else {
                format!("{}: {msg}", o.node)
            });
            help = help.or(e.help.clone());
        }
    }
    let mut e = ssh_error(format!(
        "{call}: {} of {} nodes failed: {}",
        failed.len(),
        outcomes.len(),
        parts.join("; ")
    ));
    if let Some(h) = help {
        e = e.with_help(h);
    }
    Err(e)
}

/// Checks the shape of a source path: relative, only plain components (no
/// `..`, no `.`, not absolute).
pub fn check_source_path(rel: &str) -> std::result::Result<(), String> {
    let path = Path::new(rel);
    if rel.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err("not a path inside the cluster's state directory".into());
    }
    Ok(())
}

/// The bytes of `rel`, a file inside the cluster's state directory
/// (`pki/ca.pem`): relative, no `..`, no symbolic link on the way, a
/// regular file. So a runbook can send only what groundup made, never
/// `~/.aws/credentials` or any other local file.
pub fn source_file(host: &Host, rel: &str) -> Result<Vec<u8>> {
    let base = host.state().dir().to_path_buf();
    let bad = |why: &str| {
        ssh_error(format!("`{rel}`: {why}")).with_help(
            "files come from the cluster's state directory, named relative to it (e.g. pki/ca.pem), or as data the script passes",
        )
    };
    check_source_path(rel).map_err(|why| bad(&why))?;
    let path = Path::new(rel);
    let mut p = base.clone();
    for c in path.components() {
        p.push(c);
        let meta = std::fs::symlink_metadata(&p)
            .map_err(|e| bad(&format!("cannot read {}: {e}", p.display())))?;
        if meta.file_type().is_symlink() {
            return Err(bad(&format!("{} is a symbolic link", p.display())));
        }
    }
    if !std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
        return Err(bad("not a regular file"));
    }
    std::fs::read(&p).map_err(|e| bad(&format!("cannot read {}: {e}", p.display())))
}
