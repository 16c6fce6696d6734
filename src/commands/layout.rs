//! The node layout for Rust: `nodes::planned(cluster)` of
//! `stdlib/nodes.rhai` (the project's copy, else the built-in), evaluated
//! in an engine of [`crate::engine`]. That file is the only place the
//! layout is written; the PKI model, the SSH fleet, `groundup pki check`
//! and settings validation all take it from here.

use std::sync::Arc;

use crate::engine::{self, Resolver, Sources};
use crate::error::Result;
use crate::layout::{self, Node};
use crate::settings::{Origin, Settings};

/// The script Rust evaluates for the layout: (display name, text).
const SCRIPT: (&str, &str) = (
    "<node layout>",
    "import \"nodes\" as nodes;\nnodes::planned(cluster)\n",
);

/// The display name of the nodes.rhai in use (`stdlib/nodes.rhai` or
/// `<builtin>/stdlib/nodes.rhai`).
pub fn file() -> String {
    Resolver::find(&engine::stdlib_dirs(&super::project_dir()), "nodes")
        .map(|(name, _)| name)
        .unwrap_or_else(|| "<builtin>/stdlib/nodes.rhai".to_string())
}

/// The planned nodes for `settings`: `nodes::planned(cluster)`, masters
/// first. Errors in nodes.rhai name its file, line and column.
pub fn planned(settings: &Settings) -> Result<Vec<Node>> {
    let sources = Arc::new(Sources::default());
    let engine = engine::offline(settings, &super::project_dir(), sources.clone());
    let mut scope = engine::new_scope(settings);
    let value = engine::run(&engine, &mut scope, SCRIPT.0, SCRIPT.1, &sources)?;
    let mut nodes = layout::from_dynamic(value, &file())?;
    nodes.sort_by_key(|n| (n.role != "master", n.index));
    Ok(nodes)
}

/// Evaluates and checks the layout of validated settings: every node on
/// its own usable address of the subnet, then a pod range for every
/// worker. Returns the planned nodes. `run`, `up` and `groundup check` call
/// it after their pre-flight (which reports a mistake in nodes.rhai with
/// the runbook that passes it `cluster`) and before any AWS call.
pub fn validated(settings: &Settings) -> Result<Vec<Node>> {
    // A count too high for the subnet is best reported by the check below,
    // which names the room there is; nodes.rhai itself would fail first (no
    // host 256 in a /24, no pod range 257 in pod_cidr). So when counts are
    // above what could ever fit (the subnet's usable addresses; for
    // workers, also the pod ranges), the layout is evaluated with the counts
    // cut to the highest limit at which it still evaluates, and the check
    // then finds the first node that does not fit. If it finds none, the
    // full layout's own error stands.
    let usable = crate::net::cidr::size(&settings.text("subnet_cidr")?)
        .map(|n| (n as i64 - 5).max(1))
        .unwrap_or(1);
    let room = settings.pod_ranges().unwrap_or(i64::MAX);
    let count = |key: &str| settings.get(key).and_then(|v| v.as_int().ok());
    let cut_to = |limit: i64| {
        let mut cut = settings.clone();
        for (key, most) in [("masters", limit), ("workers", limit.min(room))] {
            if count(key).is_some_and(|n| n > most) {
                cut.set_value(key, most.into(), Origin::Derived);
            }
        }
        cut
    };
    let over = count("masters").is_some_and(|n| n > usable)
        || count("workers").is_some_and(|n| n > usable.min(room));
    let nodes = match (planned(&cut_to(usable)), over) {
        (Ok(nodes), _) => nodes,
        (Err(e), false) => return Err(e),
        (Err(full), true) => {
            // The highest limit that evaluates, by bisection.
            let (mut lo, mut hi, mut best) = (0, usable, None);
            while lo < hi {
                let mid = (lo + hi + 1) / 2;
                match planned(&cut_to(mid)) {
                    Ok(nodes) => {
                        lo = mid;
                        best = Some(nodes);
                    }
                    Err(_) => hi = mid - 1,
                }
            }
            let nodes = best.ok_or(full.clone())?;
            layout::check(settings, &nodes, &file())?;
            return Err(full);
        }
    };
    layout::check(settings, &nodes, &file())?;
    settings.check_pod_ranges()?;
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson() -> Settings {
        let text = include_str!("../../stdlib/cluster.rhai");
        let mut s = Settings::evaluate(&rhai::Engine::new(), "stdlib/cluster.rhai", text).unwrap();
        s.set_value(
            "dhcp_domain_name",
            "us-east-2.compute.internal".into(),
            Origin::Derived,
        );
        s
    }

    fn refused(set: &str) -> String {
        let mut s = lesson();
        s.apply_set(set).unwrap();
        s.validate().unwrap();
        validated(&s).unwrap_err().message
    }

    #[test]
    fn the_builtin_layout_is_the_lessons() {
        let n = validated(&lesson()).unwrap();
        let ips: Vec<&str> = n.iter().map(|n| n.private_ip.as_str()).collect();
        assert_eq!(
            ips,
            [
                "172.31.0.10",
                "172.31.0.11",
                "172.31.0.12",
                "172.31.0.20",
                "172.31.0.21",
                "172.31.0.22"
            ]
        );
        assert_eq!(n[0].name, "master-0");
        assert_eq!(n[0].hostname, "ip-172-31-0-10");
        assert_eq!(
            n[0].private_dns,
            "ip-172-31-0-10.us-east-2.compute.internal"
        );
        assert_eq!(n[5].name, "worker-2");
        assert!(n.iter().all(|n| n.public_ip.is_empty()));
        let mut east1 = lesson();
        east1.apply_set("region=us-east-1").unwrap();
        assert_eq!(
            planned(&east1).unwrap()[0].private_dns,
            "ip-172-31-0-10.ec2.internal"
        );
    }

    /// The count checks that were written in settings.rs for the lesson's
    /// layout (masters .10-.19, workers from .20) now come from the layout
    /// itself, with the same messages.
    #[test]
    fn counts_that_do_not_fit_the_layout_are_refused() {
        assert!(
            refused("masters=0").contains("a cluster needs at least one master"),
            "masters=0"
        );
        let e = refused("masters=11");
        assert!(
            e.starts_with(
                "setting `masters` = `11` (--set): masters use host addresses .10-.19 of the \
                 subnet: at most 10"
            ),
            "{e}"
        );
        let e = refused("workers=300");
        assert!(
            e.starts_with(
                "setting `workers` = `300` (--set): workers use host addresses from 20 up; \
                 subnet 172.31.0.0/24 has room for 235 workers"
            ),
            "{e}"
        );
        let e = refused("masters=100000");
        assert!(e.contains("at most 10"), "{e}");
        let mut s = lesson();
        s.apply_set("pod_cidr_prefix=20").unwrap();
        s.apply_set("workers=20").unwrap();
        s.validate().unwrap();
        let e = validated(&s).unwrap_err().message;
        assert!(e.contains("holds only 16 /20 pod ranges"), "{e}");
    }
}
