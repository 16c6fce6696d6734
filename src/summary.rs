//! The human summary at the end of a run (`up`, `run`): what was created
//! and what reused, how long it took, the cluster's public address and
//! nodes, and the commands to run next.  Printed on stderr, coloured only
//! on a terminal without `NO_COLOR`.

use crate::outcome::Outcome;
use std::path::Path;

use serde_json::Value;

use crate::host::Host;
use crate::state::State;
use crate::style::Paint;

/// One node as recorded in state (`nodes.<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    /// `master-0`.
    pub name: String,
    /// `master` or `worker`.
    pub role: String,
    /// Its public IP (may be empty).
    pub public_ip: String,
    /// Its private IP.
    pub private_ip: String,
}

/// The nodes recorded in state, masters first, then by name.
pub fn nodes(state: &State) -> Vec<NodeLine> {
    let mut out: Vec<NodeLine> = state
        .get("nodes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(name, n)| {
                    let s = |k: &str| n[k].as_str().unwrap_or_default().to_string();
                    NodeLine {
                        name: name.clone(),
                        role: s("role"),
                        public_ip: s("public_ip"),
                        private_ip: s("private_ip"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| {
        (a.role != "master", a.name.as_str()).cmp(&(b.role != "master", b.name.as_str()))
    });
    out
}

/// The summary's lines (without colour codes when `paint` is off).
pub fn lines(host: &Host, state: &State, paint: Paint) -> Vec<String> {
    let events = host.events();
    let count = |o: Outcome| events.iter().filter(|e| e.status == o).count();
    let (created, reused, deleted) = (
        count(Outcome::Created),
        count(Outcome::Reused),
        count(Outcome::Deleted),
    );
    let what = if deleted > 0 {
        format!("{deleted} deleted")
    } else {
        format!("{created} created, {reused} reused")
    };
    let mut out = vec![format!(
        "{} in {:.2} s: {what} (state: {})",
        paint.green(&paint.bold("done")),
        host.elapsed().as_secs_f64(),
        state.path().display()
    )];
    if deleted > 0 {
        return out;
    }
    let address = state
        .get_str("kubernetes_public_address")
        .unwrap_or_default();
    if !address.is_empty() {
        out.push(format!(
            "Kubernetes API: {}",
            paint.bold(&format!(
                "{address}:{}",
                host.settings.int("api_port").max(1)
            ))
        ));
    }
    let nodes = nodes(state);
    if !nodes.is_empty() {
        let masters = nodes.iter().filter(|n| n.role == "master").count();
        let first = &nodes[0];
        let ip = if first.public_ip.is_empty() {
            &first.private_ip
        } else {
            &first.public_ip
        };
        out.push(format!(
            "Nodes: {} ({masters} masters, {} workers); {} at {ip}",
            nodes.len(),
            nodes.len() - masters,
            first.name
        ));
    }
    let mut next: Vec<(String, String)> =
        vec![("groundup status".into(), "what exists, from state".into())];
    let key = key_file(state.dir(), &host.cluster);
    if let Some(n) = nodes.iter().find(|n| !n.public_ip.is_empty())
        && key.exists()
    {
        next.push((
            format!("ssh -i {} ubuntu@{}", key.display(), n.public_ip),
            format!("log in to {}", n.name),
        ));
    }
    next.push((
        "groundup down".into(),
        "delete every resource of the cluster".into(),
    ));
    let width = next
        .iter()
        .map(|(c, _)| c.chars().count())
        .max()
        .unwrap_or(0);
    out.push("Next:".to_string());
    for (cmd, why) in next {
        out.push(format!(
            "  {cmd:<width$}  {}",
            paint.dim(&format!("# {why}"))
        ));
    }
    out
}

/// The private key of the cluster's key pair, where compute.rhai writes it.
pub fn key_file(state_dir: &Path, cluster: &str) -> std::path::PathBuf {
    state_dir.join("ssh").join(format!("{cluster}.id_rsa"))
}

/// Prints the summary on stderr.
pub fn print(host: &Host, state: &State) {
    for line in lines(host, state, Paint::stderr()) {
        eprintln!("{line}");
    }
}
