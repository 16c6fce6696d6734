//! Reaching the nodes: pure-Rust SSH (russh) for runbooks and for other
//! Rust modules (systemd, etcd, the control plane, the workers).
//!
//! # Public API
//!
//! ```text
//! let fleet = host.fleet()?;                 // nodes from state, settings, key, known_hosts (crate::host::fleet)
//! fleet.nodes()                              // [Node { name, role, index, instance_id, private_ip, public_ip }]
//! fleet.names_with_role("master")            // ["master-0", "master-1", "master-2"]
//! host.block_on(fleet.run(&names, &Command::sudo("systemctl daemon-reload")))?
//!     // -> Vec<NodeOutcome<Output>>: per node, Ok(Output { code, stdout, stderr }) or Err(Error)
//! host.block_on(fleet.upload(&[NodeFiles { node, files: vec![FileSpec { dest, mode, owner, group, content, source }] }]))?
//!     // -> Vec<NodeOutcome<Vec<FileResult>>>: per file created / updated / unchanged (planned in --plan)
//! ssh::failures(&outcomes)?                 // one error naming every failed node, or Ok
//! ssh::source_file(dir, "pki/ca.pem")?       // bytes of a file inside <state-dir>/<cluster>/ (no links, no ..)
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
//!   the same run (the [`Pool`] lives on the host); a batch works on at most
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

//!
//! # Files
//!
//! [`fleet`]: the fleet (nodes, addresses, keys, sessions) and the pool;
//! [`exec`]: running commands; [`transfer`]: uploads (the decisions in
//! [`upload`]). This module is domain code: it is built from explicit inputs
//! ([`fleet::Parts`]) and never reads the host, the settings or the state;
//! `crate::host::fleet` makes those inputs from a run's host.

pub mod client;
pub mod exec;
pub mod fleet;
pub mod guard;
pub mod known_hosts;
pub mod transfer;
pub mod upload;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use client::{ConnectError, Output};
pub use fleet::{Fleet, Options, Parts, Pool};
pub use guard::AddressChoice;
pub use transfer::{FileResult, NodeFiles};
pub use upload::{FileSpec, FileStatus};

use crate::error::{Error, Kind, Result};

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

/// The result for one node of a batch.
#[derive(Debug, Clone)]
pub struct NodeOutcome<T> {
    /// The node's name.
    pub node: String,
    /// Its result, or why it failed.
    pub result: Result<T>,
}

/// The known_hosts file of a cluster directory.
pub fn known_hosts_path(cluster_dir: &Path) -> PathBuf {
    cluster_dir.join("ssh").join("known_hosts")
}

pub(crate) fn ssh_error(msg: impl Into<String>) -> Error {
    Error::new(Kind::Ssh, msg)
}

/// One error naming every node that failed (`call: N of M nodes failed:
/// master-1: …; worker-2: …`), or `Ok` when none did. A guard refusal is
/// passed on as it is.
pub fn failures<T>(outcomes: &[NodeOutcome<T>]) -> Result<()> {
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
        "{} of {} nodes failed: {}",
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

/// The bytes of `rel`, a file inside `base`, the cluster's state directory
/// (`pki/ca.pem`): relative, no `..`, no symbolic link on the way, a
/// regular file. So a runbook can send only what groundup made, never
/// `~/.aws/credentials` or any other local file.
pub fn source_file(base: &Path, rel: &str) -> Result<Vec<u8>> {
    let bad = |why: &str| {
        ssh_error(format!("`{rel}`: {why}")).with_help(
            "files come from the cluster's state directory, named relative to it (e.g. pki/ca.pem), or as data the script passes",
        )
    };
    check_source_path(rel).map_err(|why| bad(&why))?;
    let path = Path::new(rel);
    let mut p = base.to_path_buf();
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
