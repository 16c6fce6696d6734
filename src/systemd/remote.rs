//! Units on the nodes, through the `ssh::` layer: install (upload, then
//! `daemon-reload` only where a unit changed, and `enable`), query, start
//! and wait. Every call works on a batch of nodes at once.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;

use super::status::{PROPERTIES, Status, parse_show};
use super::unit::Unit;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::ssh::{self, Command, FileSpec, FileStatus, Fleet, NodeFiles};

/// What installing a unit did on one node.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    /// The node.
    pub node: String,
    /// The unit's file name (`etcd.service`).
    pub unit: String,
    /// Its path on the node.
    pub path: String,
    /// created, updated, unchanged or planned.
    pub status: String,
}

impl Installed {
    /// Whether this run wrote the unit file (so a running service must be
    /// restarted to take it).
    pub fn changed(&self) -> bool {
        self.status == "created" || self.status == "updated"
    }
}

/// `sh` single quotes.
pub fn quote(s: &str) -> String {
    ssh::upload::quote(s)
}

/// Runs one command per node, concurrently; the outputs in order. A node
/// whose command cannot run (SSH) fails the batch, naming it.
pub async fn run_each(fleet: &Fleet<'_>, work: &[(String, Command)]) -> Result<Vec<ssh::Output>> {
    let outs = join_all(
        work.iter()
            .map(|(node, cmd)| fleet.run(std::slice::from_ref(node), cmd)),
    )
    .await;
    let mut flat = Vec::new();
    for o in outs {
        flat.extend(o?);
    }
    ssh::failures(&flat)?;
    Ok(flat.into_iter().filter_map(|o| o.result.ok()).collect())
}

/// Runs one command on every node (as root); fails unless it exits 0
/// everywhere, naming each node with its stderr.
pub async fn run_ok(fleet: &Fleet<'_>, nodes: &[String], line: &str) -> Result<Vec<ssh::Output>> {
    if nodes.is_empty() {
        return Ok(vec![]);
    }
    let outs = fleet.run(nodes, &Command::sudo(line)).await?;
    ssh::failures(&outs)?;
    let mut bad = Vec::new();
    let mut ok = Vec::new();
    for o in outs {
        if let Ok(out) = o.result {
            if out.code != 0 {
                bad.push(format!(
                    "{} (exit {}): {}",
                    o.node,
                    out.code,
                    out.stderr.trim()
                ));
            }
            ok.push(out);
        }
    }
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(Error::new(
            crate::error::Kind::Ssh,
            format!("`{line}` failed on {}", bad.join("; ")),
        ))
    }
}

/// The SHA-256 of each of `files` on a node, in order, from `sha256sum`
/// output; a file that is not there is an error naming it.
fn input_hashes(node: &str, unit: &Unit, out: &ssh::Output) -> Result<Vec<String>> {
    let mut hashes = Vec::new();
    for f in &unit.inputs {
        let h = out.stdout.lines().find_map(|l| {
            let (h, name) = l.split_once("  ")?;
            (name == f).then(|| h.to_string())
        });
        match h {
            Some(h) => hashes.push(h),
            None => {
                return Err(Error::new(
                    crate::error::Kind::Ssh,
                    format!(
                        "{} on {node} needs {f}, which is not there",
                        unit.file_name()
                    ),
                )
                .with_help("put the files a service reads on the node first (runbooks/distribute.rhai for certificates)"));
            }
        }
    }
    Ok(hashes)
}

/// Installs one unit per node: reads the inputs' hashes, uploads the text
/// (only what differs is written, atomically), then `daemon-reload` where
/// a unit changed and `enable` everywhere it is not enabled yet.
pub async fn install(host: &Host, work: &[(String, Unit)]) -> Result<Vec<Installed>> {
    for (_, u) in work {
        u.validate()?;
    }
    let fleet = &host.fleet()?;
    let planning = host.planning();
    // 1. The inputs' hashes, one `sha256sum` per node.
    let hash_work: Vec<(String, Command)> = work
        .iter()
        .map(|(n, u)| {
            let files: Vec<String> = u.inputs.iter().map(|f| quote(f)).collect();
            (
                n.clone(),
                Command::sudo(format!(
                    "sha256sum -- {} 2>/dev/null; true",
                    files.join(" ")
                )),
            )
        })
        .collect();
    let with_inputs: Vec<(String, Command)> = hash_work
        .iter()
        .zip(work)
        .filter(|(_, (_, u))| !u.inputs.is_empty())
        .map(|(w, _)| w.clone())
        .collect();
    let outs = run_each(fleet, &with_inputs).await?;
    let mut outs = outs.into_iter();
    let mut files = Vec::new();
    for (node, u) in work {
        let hashes = if u.inputs.is_empty() {
            vec![]
        } else {
            let out = outs.next().unwrap_or_default();
            if planning {
                vec!["planned".to_string(); u.inputs.len()]
            } else {
                input_hashes(node, u, &out)?
            }
        };
        let text = u.render(&hashes)?;
        files.push(NodeFiles {
            node: node.clone(),
            files: vec![FileSpec {
                dest: u.path(),
                mode: 0o644,
                owner: "root".into(),
                group: "root".into(),
                content: std::sync::Arc::new(text.into_bytes()),
                source: format!("systemd::unit {}", u.file_name()),
            }],
        });
    }
    // 2. The unit files.
    let uploaded = fleet.upload(&files).await?;
    ssh::failures(&uploaded)?;
    let mut installed = Vec::new();
    for (o, (node, u)) in uploaded.into_iter().zip(work) {
        let status = o
            .result
            .ok()
            .and_then(|r| r.into_iter().next())
            .map(|f| f.status)
            .unwrap_or(FileStatus::Planned);
        installed.push(Installed {
            node: node.clone(),
            unit: u.file_name(),
            path: u.path(),
            status: status.as_str().to_string(),
        });
    }
    // 3. Reload where a unit changed; enable where it is not enabled.
    let mut reload = Vec::new();
    let mut keep = Vec::new();
    for i in &installed {
        let unit = quote(&i.unit);
        let line = if i.changed() || planning {
            format!("systemctl daemon-reload && systemctl enable -q {unit}")
        } else {
            format!("systemctl is-enabled -q {unit} || systemctl enable -q {unit}")
        };
        if i.changed() || planning {
            reload.push((i.node.clone(), Command::sudo(line)));
        } else {
            keep.push((i.node.clone(), Command::sudo(line)));
        }
    }
    let all: Vec<(String, Command)> = reload.into_iter().chain(keep).collect();
    let outs = run_each(fleet, &all).await?;
    let failed: Vec<String> = all
        .iter()
        .zip(&outs)
        .filter(|(_, o)| o.code != 0)
        .map(|((n, _), o)| format!("{n}: {}", o.stderr.trim()))
        .collect();
    if !failed.is_empty() {
        return Err(Error::new(
            crate::error::Kind::Ssh,
            format!("enabling failed: {}", failed.join("; ")),
        ));
    }
    Ok(installed)
}

/// The state of `unit` on each node, in order (`planned` nodes report an
/// empty status).
pub async fn status(fleet: &Fleet<'_>, nodes: &[String], unit: &str) -> Result<Vec<Status>> {
    if nodes.is_empty() {
        return Ok(vec![]);
    }
    let outs = fleet
        .run(
            nodes,
            &Command::new(format!("systemctl show -p {PROPERTIES} -- {}", quote(unit))),
        )
        .await?;
    ssh::failures(&outs)?;
    Ok(outs
        .into_iter()
        .map(|o| o.result.map(|r| parse_show(&r.stdout)).unwrap_or_default())
        .collect())
}

/// `systemctl start --no-block` on every node at once: returns at once,
/// so members of a quorum can all be starting together.
pub async fn start(fleet: &Fleet<'_>, nodes: &[String], unit: &str) -> Result<()> {
    run_ok(
        fleet,
        nodes,
        &format!("systemctl start --no-block -- {}", quote(unit)),
    )
    .await
    .map(|_| ())
}

/// `systemctl restart --no-block` on the nodes.
pub async fn restart(fleet: &Fleet<'_>, nodes: &[String], unit: &str) -> Result<()> {
    run_ok(
        fleet,
        nodes,
        &format!("systemctl restart --no-block -- {}", quote(unit)),
    )
    .await
    .map(|_| ())
}

/// Waits until `unit` is active on every node; an error after `timeout`
/// names each node that is not, with its state and last log lines.
pub async fn wait_active(
    host: &Host,
    nodes: &[String],
    unit: &str,
    timeout: Duration,
) -> Result<Vec<Status>> {
    let fleet = &host.fleet()?;
    let deadline = Instant::now() + timeout;
    loop {
        let st = status(fleet, nodes, unit).await?;
        if host.planning() || st.iter().all(Status::active) {
            return Ok(st);
        }
        if Instant::now() >= deadline {
            let lagging: Vec<String> = nodes
                .iter()
                .zip(&st)
                .filter(|(_, s)| !s.active())
                .map(|(n, _)| n.clone())
                .collect();
            return Err(not_active(fleet, &lagging, unit, timeout).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An error saying which nodes' `unit` is not active, with its state and
/// its last journal lines on each.
pub async fn not_active(
    fleet: &Fleet<'_>,
    nodes: &[String],
    unit: &str,
    waited: Duration,
) -> Error {
    let line = format!(
        "systemctl show -p ActiveState,SubState,Result -- {u} | tr '\\n' ' '; echo; journalctl -u {u} -n 4 --no-pager -o cat 2>/dev/null | tail -n 4",
        u = quote(unit)
    );
    let mut parts = Vec::new();
    if let Ok(outs) = fleet.run(nodes, &Command::sudo(line)).await {
        for o in outs {
            let what = match o.result {
                Ok(out) => out.stdout.trim().replace('\n', " | "),
                Err(e) => e.message,
            };
            parts.push(format!("{}: {what}", o.node));
        }
    }
    Error::new(
        crate::error::Kind::Ssh,
        format!(
            "{unit} is not active after {} s on {}: {}",
            waited.as_secs(),
            nodes.join(", "),
            parts.join("; ")
        ),
    )
    .with_help(format!(
        "look on the node with `journalctl -u {unit}`; `groundup run` again once it is fixed"
    ))
}
