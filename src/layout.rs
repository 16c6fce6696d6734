//! The cluster's node layout as Rust sees it. The layout itself is written
//! once, in `stdlib/nodes.rhai` (the project's copy, else the built-in);
//! the command layer evaluates `nodes::planned(cluster)` and hands the
//! result here ([`from_dynamic`]) and to everything that needs addresses
//! (the PKI model, the SSH fleet, `groundup pki check`).
//!
//! [`check`] is the part of settings validation that depends on the
//! layout: every node inside `subnet_cidr` on an address AWS lets an
//! instance have, no two on one address, at least one master. Plain Rust,
//! unit-tested without an engine.

// `Error` is the crate's one diagnostic type; returning it by value is the
// crate's convention.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::net::cidr;
use crate::settings::Settings;

/// One planned node, as `nodes::planned` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `master-0`, `worker-2`, ...
    pub name: String,
    /// `master` or `worker`.
    pub role: String,
    /// Its index within its role.
    pub index: i64,
    /// Its private IP, e.g. `172.31.0.10`.
    pub private_ip: String,
    /// Its public IP; empty when unknown (before compute has run).
    #[serde(default)]
    pub public_ip: String,
    /// Its EC2 host name, e.g. `ip-172-31-0-10`.
    pub hostname: String,
    /// Its private DNS name, e.g. `ip-172-31-0-10.us-east-2.compute.internal`.
    pub private_dns: String,
}

/// The nodes of `nodes::planned`'s result; `file` is the display name of
/// the nodes.rhai that made it (for the error when a map lacks a field).
pub fn from_dynamic(value: rhai::Dynamic, file: &str) -> Result<Vec<Node>> {
    rhai::serde::from_dynamic::<Vec<Node>>(&value).map_err(|e| {
        Error::script(format!(
            "{file}: nodes::planned(cluster) must return a list of maps #{{ name, role, index, \
             private_ip, public_ip, hostname, private_dns }}: {e}"
        ))
    })
}

/// Why an address is not one an instance in `subnet` can have, if it is not.
fn unusable(ip: Ipv4Addr, subnet: &str) -> Option<String> {
    let net = cidr::parse(subnet).ok()?;
    if !net.contains(&ip) {
        return Some(format!("outside subnet_cidr {subnet}"));
    }
    let host = i64::from(u32::from(ip) - u32::from(net.network()));
    let (first, last) = cidr::aws_usable_hosts(subnet).ok()?;
    if host < first {
        return Some(format!(
            "one of the first {first} addresses of {subnet}, which AWS reserves"
        ));
    }
    if host > last {
        return Some(format!("the last address of {subnet}, which AWS reserves"));
    }
    None
}

/// The host number of `ip` in `subnet` (`172.31.0.10` in `/24` is 10).
fn host_number(ip: Ipv4Addr, subnet: &str) -> Option<i64> {
    let net = cidr::parse(subnet).ok()?;
    net.contains(&ip)
        .then(|| i64::from(u32::from(ip) - u32::from(net.network())))
}

/// The setting that counts a role's nodes (`masters`, `workers`), if the
/// settings have one.
fn count_key(settings: &Settings, role: &str) -> Option<String> {
    let key = format!("{role}s");
    settings.get(&key).is_some().then_some(key)
}

/// Checks the planned layout against the settings: at least one master,
/// every node on an address of `subnet_cidr` that AWS gives instances, no
/// two nodes on one address. A node that does not fit because its role's
/// count is too high names that count (`masters`, `workers`) and how many
/// fit; one that is wrong however many there are names the layout file.
/// Runs before any AWS call.
pub fn check(settings: &Settings, nodes: &[Node], file: &str) -> Result<()> {
    if settings.get("masters").is_some() && !nodes.iter().any(|n| n.role == "master") {
        return Err(settings.problem("masters", "a cluster needs at least one master"));
    }
    let subnet = settings.text("subnet_cidr")?;
    let layout_error = |n: &Node, why: String| {
        Error::setting(format!(
            "the node layout ({file}) puts {} at {}: {why}",
            n.name, n.private_ip
        ))
        .with_help(format!(
            "change the addresses in {file} (nodes::layout), or subnet_cidr in stdlib/cluster.rhai"
        ))
    };
    let first_host = |role: &str| {
        nodes
            .iter()
            .filter(|m| m.role == role && m.index == 0)
            .find_map(|m| {
                cidr::parse_ip(&m.private_ip)
                    .ok()
                    .and_then(|ip| host_number(ip, &subnet))
            })
    };
    // Every node that does not fit, with its index: the one lowest in its
    // role (the first a lower count would drop) is reported.
    let mut found: Vec<(i64, Error)> = Vec::new();
    let mut seen: HashMap<Ipv4Addr, &Node> = HashMap::new();
    // Addresses outside the subnet or reserved by AWS.
    let mut ips = Vec::with_capacity(nodes.len());
    for n in nodes {
        let ip = cidr::parse_ip(&n.private_ip)
            .map_err(|e| layout_error(n, format!("not an IPv4 address ({e})")))?;
        if let Some(why) = unusable(ip, &subnet) {
            found.push((
                n.index,
                match (count_key(settings, &n.role), first_host(&n.role)) {
                    (Some(key), Some(first)) if n.index > 0 => settings.problem(
                        &key,
                        format!(
                            "{role}s use host addresses from {first} up; subnet {subnet} has room \
                         for {k} {role}s ({} would be at {}, {why}; the layout is in {file})",
                            n.name,
                            n.private_ip,
                            role = n.role,
                            k = n.index,
                        ),
                    ),
                    _ => layout_error(n, why),
                },
            ));
        }
        ips.push(ip);
    }
    // No two nodes on one address: the one further into its role (the one
    // a lower count would drop) is the one that does not fit.
    for (n, ip) in nodes.iter().zip(ips) {
        let Some(other) = seen.get(&ip).copied() else {
            seen.insert(ip, n);
            continue;
        };
        let (extra, kept) = if other.index > n.index {
            (other, n)
        } else {
            (n, other)
        };
        let fit = match (count_key(settings, &extra.role), first_host(&extra.role)) {
            (Some(key), Some(first)) if extra.index > 0 && extra.role != kept.role => {
                host_number(ip, &subnet).map(|h| (key, first, h))
            }
            _ => None,
        };
        found.push((
            extra.index,
            match fit {
                Some((key, first, kept_host)) => settings.problem(
                    &key,
                    format!(
                        "{role}s use host addresses .{first}-.{last} of the subnet: at most {k} \
                     ({} would be at {}, {}'s address; the layout is in {file})",
                        extra.name,
                        extra.private_ip,
                        kept.name,
                        role = extra.role,
                        last = kept_host - 1,
                        k = extra.index,
                    ),
                ),
                None => layout_error(
                    extra,
                    format!(
                        "{} is there too: no two nodes may share an address",
                        kept.name
                    ),
                ),
            },
        ));
    }
    match found.into_iter().min_by_key(|(index, _)| *index) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson() -> Settings {
        let text = include_str!("../stdlib/cluster.rhai");
        Settings::evaluate(&rhai::Engine::new(), "stdlib/cluster.rhai", text).unwrap()
    }

    /// The lesson's layout written out (what nodes.rhai computes), with
    /// master i at host `m + i` and worker i at host `w + i`.
    fn nodes(masters: i64, m: i64, workers: i64, w: i64, subnet: &str) -> Vec<Node> {
        let mut out = Vec::new();
        for (role, count, first) in [("master", masters, m), ("worker", workers, w)] {
            for i in 0..count {
                let ip = match cidr::host(subnet, first + i) {
                    Ok(ip) => ip.to_string(),
                    // Beyond the block: the next address after it.
                    Err(_) => {
                        let net = cidr::parse(subnet).unwrap();
                        let n = u32::from(net.network()) + (first + i) as u32;
                        Ipv4Addr::from(n).to_string()
                    }
                };
                out.push(Node {
                    name: format!("{role}-{i}"),
                    role: role.into(),
                    index: i,
                    hostname: cidr::ec2_hostname(&ip).unwrap(),
                    private_dns: String::new(),
                    private_ip: ip,
                    public_ip: String::new(),
                });
            }
        }
        out
    }

    fn err(s: &Settings, n: &[Node]) -> String {
        check(s, n, "stdlib/nodes.rhai").unwrap_err().message
    }

    #[test]
    fn the_lessons_layout_fits() {
        let s = lesson();
        check(&s, &nodes(3, 10, 3, 20, "172.31.0.0/24"), "x").unwrap();
        check(&s, &nodes(3, 30, 3, 40, "172.31.0.0/24"), "x").unwrap();
    }

    #[test]
    fn too_many_nodes_name_the_count_and_the_room() {
        let mut s = lesson();
        s.apply_set("masters=11").unwrap();
        assert_eq!(
            err(&s, &nodes(11, 10, 3, 20, "172.31.0.0/24")),
            "setting `masters` = `11` (--set): masters use host addresses .10-.19 of the \
             subnet: at most 10 (master-10 would be at 172.31.0.20, worker-0's address; the \
             layout is in stdlib/nodes.rhai)"
        );
        let mut s = lesson();
        s.apply_set("workers=300").unwrap();
        let e = err(&s, &nodes(3, 10, 300, 20, "172.31.0.0/24"));
        assert!(
            e.starts_with(
                "setting `workers` = `300` (--set): workers use host addresses from 20 up; \
                 subnet 172.31.0.0/24 has room for 235 workers (worker-235 would be at \
                 172.31.0.255, the last address of 172.31.0.0/24, which AWS reserves"
            ),
            "{e}"
        );
        let mut s = lesson();
        s.apply_set("masters=0").unwrap();
        assert!(err(&s, &nodes(0, 10, 3, 20, "172.31.0.0/24")).contains("at least one master"));
    }

    #[test]
    fn a_layout_outside_the_subnet_names_the_node_and_the_file() {
        let s = lesson();
        let mut n = nodes(3, 10, 3, 20, "172.31.0.0/24");
        n[0].private_ip = "172.31.9.10".into();
        let e = check(&s, &n, "stdlib/nodes.rhai").unwrap_err();
        assert_eq!(
            e.message,
            "the node layout (stdlib/nodes.rhai) puts master-0 at 172.31.9.10: outside \
             subnet_cidr 172.31.0.0/24"
        );
        assert!(e.help.unwrap().contains("stdlib/nodes.rhai"));
        let n = nodes(3, 2, 3, 20, "172.31.0.0/24");
        assert!(err(&s, &n).contains("puts master-0 at 172.31.0.2: one of the first 4"));
        let mut n = nodes(3, 10, 3, 20, "172.31.0.0/24");
        n[4].private_ip = "172.31.0.20".into();
        assert_eq!(
            err(&s, &n),
            "the node layout (stdlib/nodes.rhai) puts worker-1 at 172.31.0.20: worker-0 is \
             there too: no two nodes may share an address"
        );
        n[4].private_ip = "nowhere".into();
        assert!(err(&s, &n).contains("worker-1 at nowhere: not an IPv4 address"));
    }
}
