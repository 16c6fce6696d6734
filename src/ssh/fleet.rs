//! The fleet: the cluster's nodes, the address SSH dials for each (after
//! the emulator guard), the cluster key and known_hosts, and the sessions
//! of a run, opened once per node and reused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::client::{self, ConnectError};
use super::guard::{self, AddressChoice};
use super::known_hosts::KnownHosts;
use super::{Node, NodeOutcome, PORT, ssh_error};
use crate::error::{Error, Kind, Result};
use crate::outcome::Outcome;
use crate::plan::Plan;

/// The sessions of one run, kept on the host and reused by every call.
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

/// How to reach the nodes (from the `ssh_*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The login user (`ssh_user`).
    pub user: String,
    /// Which address to dial (`ssh_address`).
    pub address: AddressChoice,
    /// How long a node that does not answer yet is waited for.
    pub boot_timeout: Duration,
    /// Nodes worked on at once.
    pub concurrency: usize,
    /// Whether AWS calls go to an emulator (loopback endpoint): the guard
    /// then refuses public addresses ([`guard`]).
    pub emulator: bool,
}

/// Records what happened to one uploaded file (`file`, `node:path`,
/// outcome): the run's summary.
pub type Journal<'a> = Box<dyn Fn(&str, &str, Outcome) + Send + Sync + 'a>;

/// Everything a [`Fleet`] is made of, given by the layer that owns the run
/// (`crate::host::fleet`): no settings, state or host are read here.
pub struct Parts<'a> {
    /// The nodes, masters first.
    pub nodes: Vec<Node>,
    /// How to reach them.
    pub options: Options,
    /// The cluster's private key file.
    pub key_path: PathBuf,
    /// The cluster's known_hosts file ([`super::known_hosts_path`]).
    pub known_hosts: PathBuf,
    /// The run's sessions, reused by every fleet of the run.
    pub pool: &'a Pool,
    /// Plan mode: record instead of connecting.
    pub plan: Option<&'a Plan>,
    /// Where uploaded files' outcomes are recorded.
    pub journal: Journal<'a>,
}

/// The cluster's nodes and how to reach them, for one batch of work.
pub struct Fleet<'a> {
    nodes: Vec<Node>,
    pub(super) user: String,
    choice: AddressChoice,
    boot_timeout: Duration,
    concurrency: usize,
    emulator: bool,
    key_path: PathBuf,
    known_hosts: PathBuf,
    pool: &'a Pool,
    pub(super) plan: Option<&'a Plan>,
    pub(super) journal: Journal<'a>,
}

impl<'a> Fleet<'a> {
    /// A fleet made of `parts`. Opens nothing yet.
    pub fn new(parts: Parts<'a>) -> Fleet<'a> {
        let o = parts.options;
        Fleet {
            nodes: parts.nodes,
            user: o.user,
            choice: o.address,
            boot_timeout: o.boot_timeout,
            concurrency: o.concurrency.max(1),
            emulator: o.emulator,
            key_path: parts.key_path,
            known_hosts: parts.known_hosts,
            pool: parts.pool,
            plan: parts.plan,
            journal: parts.journal,
        }
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
    pub(super) fn targets(&self, names: &[String]) -> Result<Vec<(Node, String)>> {
        names
            .iter()
            .map(|n| {
                let node = self.node(n)?.clone();
                let addr = if self.plan.is_some() {
                    String::new()
                } else {
                    self.address(&node)?
                };
                Ok((node, addr))
            })
            .collect()
    }

    pub(super) fn key(&self) -> Result<Arc<russh::keys::PrivateKey>> {
        let mut slot = self
            .pool
            .key
            .lock()
            .map_err(|_| ssh_error("key lock poisoned"))?;
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let path = &self.key_path;
        let pem = std::fs::read_to_string(path).map_err(|e| {
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

    pub(super) fn known(&self) -> Result<Arc<Mutex<KnownHosts>>> {
        let mut slot = self
            .pool
            .known
            .lock()
            .map_err(|_| ssh_error("lock poisoned"))?;
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let path = &self.known_hosts;
        let kh = KnownHosts::load(path)
            .map_err(|e| ssh_error(format!("cannot read {}: {e}", path.display())))?;
        let kh = Arc::new(Mutex::new(kh));
        *slot = Some(kh.clone());
        Ok(kh)
    }

    /// The node's session: the pooled one, else a new connection (waiting
    /// up to the boot timeout for a node that does not answer yet).
    pub(super) async fn session(&self, node: &Node, address: &str) -> Result<Arc<client::Session>> {
        let pool = self.pool;
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
        let kh = &self.known_hosts;
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
                self.key_path.display(),
                self.user
            )),
            ConnectError::Protocol(why) => ssh_error(format!("{who}: {why}")),
        }
    }

    /// Runs `job` for every target, at most `ssh_concurrency` at once,
    /// returning the outcomes in the targets' order.
    pub(super) async fn each<T, F, Fut>(
        &self,
        targets: Vec<(Node, String)>,
        job: F,
    ) -> Vec<NodeOutcome<T>>
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
