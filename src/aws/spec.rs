//! What scripts hand the EC2 bindings, read and checked in plain Rust: the
//! ingress-rule maps of a security group, the node maps and the placement
//! map of `ec2::launch_nodes`. Each error says which element and field is
//! wrong; the binding adds the script call's name.

use std::collections::HashSet;

use rhai::{Array, Dynamic, Map};

use super::compute::{NodeSpec, Placement};
use super::types::IngressRule;
use crate::net::cidr;
use crate::settings::Settings;

/// Reads one ingress rule map: `#{ protocol: "tcp", from: 2379, to: 2380,
/// cidr: "172.31.0.0/24", description: "etcd" }` (`port:` for one port).
pub fn parse_rule(i: usize, d: Dynamic) -> Result<IngressRule, String> {
    let Some(m) = d.try_cast::<Map>() else {
        return Err(format!(
            "rules[{i}] must be a map like #{{ protocol: \"tcp\", port: 22, cidr: \"0.0.0.0/0\" }}"
        ));
    };
    for k in m.keys() {
        if !["protocol", "from", "to", "port", "cidr", "description"].contains(&k.as_str()) {
            return Err(format!(
                "rules[{i}]: unknown field `{k}` (fields: protocol, port or from/to, cidr, description)"
            ));
        }
    }
    let text = |k: &str| m.get(k).map(|v| v.to_string());
    let int = |k: &str| -> Result<Option<i64>, String> {
        match m.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_int()
                .map(Some)
                .map_err(|t| format!("rules[{i}].{k} must be an integer, got {t}")),
        }
    };
    let protocol = text("protocol")
        .unwrap_or_else(|| "tcp".into())
        .to_lowercase();
    if !["tcp", "udp", "icmp", "-1"].contains(&protocol.as_str()) {
        return Err(format!(
            "rules[{i}].protocol `{protocol}` must be tcp, udp, icmp or -1"
        ));
    }
    let (from, to) = match (int("port")?, int("from")?, int("to")?) {
        (Some(p), None, None) => (p, p),
        (None, Some(f), Some(t)) => (f, t),
        (None, Some(f), None) => (f, f),
        (None, None, None) if protocol == "icmp" || protocol == "-1" => (-1, -1),
        _ => return Err(format!("rules[{i}]: give either `port` or `from` and `to`")),
    };
    let range = if protocol == "icmp" {
        -1..=255
    } else {
        -1..=65535
    };
    if !range.contains(&from) || !range.contains(&to) || (protocol != "icmp" && from > to) {
        return Err(format!(
            "rules[{i}]: ports {from}-{to} are not a valid range"
        ));
    }
    let Some(c) = text("cidr") else {
        return Err(format!("rules[{i}]: `cidr` is required"));
    };
    cidr::parse(&c).map_err(|e| format!("rules[{i}].cidr: {e}"))?;
    Ok(IngressRule {
        protocol,
        from_port: from as i32,
        to_port: to as i32,
        cidr: c,
        description: text("description").unwrap_or_default(),
    })
}

/// Reads every rule of an array.
pub fn parse_rules(rules: Array) -> Result<Vec<IngressRule>, String> {
    rules
        .into_iter()
        .enumerate()
        .map(|(i, d)| parse_rule(i, d))
        .collect()
}

/// The fields a node map may have.
const NODE_FIELDS: &[&str] = &[
    "name",
    "role",
    "index",
    "private_ip",
    "user_data",
    "pod_cidr",
    "source_dest_check",
];

/// Reads one node map: `#{ name: "master-0", role: "master", index: 0,
/// private_ip: "172.31.0.10", user_data: "name=master-0", pod_cidr: "",
/// source_dest_check: true }`. `source_dest_check` defaults to on, and to
/// off for a node with a `pod_cidr` (it forwards its pods' traffic).
pub fn parse_node(i: usize, d: Dynamic) -> Result<NodeSpec, String> {
    let Some(m) = d.try_cast::<Map>() else {
        return Err(format!(
            "nodes[{i}] must be a map like #{{ name: \"master-0\", role: \"master\", index: 0, private_ip: \"172.31.0.10\", user_data: \"name=master-0\" }}"
        ));
    };
    for k in m.keys() {
        if !NODE_FIELDS.contains(&k.as_str()) {
            return Err(format!(
                "nodes[{i}]: unknown field `{k}` (fields: {})",
                NODE_FIELDS.join(", ")
            ));
        }
    }
    let text = |k: &str| -> Result<String, String> {
        m.get(k)
            .map(|v| v.to_string())
            .ok_or_else(|| format!("nodes[{i}]: `{k}` is required"))
    };
    let name = text("name")?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "nodes[{i}].name `{name}` must be letters, digits and hyphens"
        ));
    }
    let ip = text("private_ip")?;
    cidr::parse_ip(&ip).map_err(|e| format!("nodes[{i}].private_ip: {e}"))?;
    let index = m
        .get("index")
        .map(|v| {
            v.as_int()
                .map_err(|t| format!("nodes[{i}].index must be an integer, got {t}"))
        })
        .transpose()?
        .unwrap_or(0);
    let pod_cidr = m.get("pod_cidr").map(|v| v.to_string()).unwrap_or_default();
    if !pod_cidr.is_empty() {
        cidr::parse(&pod_cidr).map_err(|e| format!("nodes[{i}].pod_cidr: {e}"))?;
    }
    let source_dest_check = m
        .get("source_dest_check")
        .map(|v| {
            v.as_bool()
                .map_err(|t| format!("nodes[{i}].source_dest_check must be true or false, got {t}"))
        })
        .transpose()?
        .unwrap_or_else(|| NodeSpec::default_source_dest_check(&pod_cidr));
    let user_data = m
        .get("user_data")
        .map(|v| v.to_string())
        .unwrap_or_default();
    if user_data.len() > 16 * 1024 {
        return Err(format!("nodes[{i}].user_data is over AWS's 16 KB limit"));
    }
    Ok(NodeSpec {
        name,
        role: text("role")?,
        index,
        private_ip: ip,
        user_data,
        pod_cidr,
        source_dest_check,
    })
}

/// Reads every node map; no two nodes may share a name or a private IP.
pub fn parse_nodes(nodes: Array) -> Result<Vec<NodeSpec>, String> {
    let specs = nodes
        .into_iter()
        .enumerate()
        .map(|(i, d)| parse_node(i, d))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashSet::new();
    for s in &specs {
        if !seen.insert(s.name.clone()) || !seen.insert(format!("ip:{}", s.private_ip)) {
            return Err(format!("node {} repeats a name or private IP", s.name));
        }
    }
    Ok(specs)
}

/// Reads the placement map `#{ subnet_id, security_group_id, key_name,
/// image_id, instance_type }` (every field required and non-empty), with
/// `concurrency` launches at once.
pub fn parse_placement(placement: &Map, concurrency: usize) -> Result<Placement, String> {
    let get = |k: &str| -> Result<String, String> {
        match placement.get(k) {
            Some(v) if !v.is_unit() && !v.to_string().is_empty() => Ok(v.to_string()),
            _ => Err(format!(
                "placement.{k} is missing (did network.rhai run? see `groundup status`)"
            )),
        }
    };
    Ok(Placement {
        subnet_id: get("subnet_id")?,
        security_group_id: get("security_group_id")?,
        key_name: get("key_name")?,
        image_id: get("image_id")?,
        instance_type: get("instance_type")?,
        concurrency,
    })
}

/// How many launches run at once: the `launch_concurrency` setting.
pub fn launch_concurrency(settings: &Settings) -> usize {
    concurrency(settings.int("launch_concurrency"))
}

/// A concurrency setting held to 1-64.
fn concurrency(setting: i64) -> usize {
    setting.clamp(1, 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Dynamic)]) -> Dynamic {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert((*k).into(), v.clone());
        }
        Dynamic::from(m)
    }
    fn s(v: &str) -> Dynamic {
        Dynamic::from(v.to_string())
    }
    fn n(v: i64) -> Dynamic {
        Dynamic::from(v)
    }

    #[test]
    fn a_rule_with_one_port_or_a_range() {
        let r = parse_rule(0, map(&[("port", n(22)), ("cidr", s("0.0.0.0/0"))])).unwrap();
        assert_eq!(
            (r.protocol.as_str(), r.from_port, r.to_port),
            ("tcp", 22, 22)
        );
        let r = parse_rule(
            0,
            map(&[
                ("protocol", s("TCP")),
                ("from", n(2379)),
                ("to", n(2380)),
                ("cidr", s("172.31.0.0/24")),
                ("description", s("etcd")),
            ]),
        )
        .unwrap();
        assert_eq!(r.to_string(), "tcp 2379-2380 from 172.31.0.0/24 (etcd)");
        let r = parse_rule(0, map(&[("protocol", s("icmp")), ("cidr", s("0.0.0.0/0"))])).unwrap();
        assert_eq!((r.from_port, r.to_port), (-1, -1));
    }

    #[test]
    fn bad_rules_name_the_element_and_field() {
        let e = |d: Dynamic| parse_rule(3, d).unwrap_err();
        assert!(e(s("x")).starts_with("rules[3] must be a map"));
        assert!(e(map(&[("prot", s("tcp"))])).contains("rules[3]: unknown field `prot`"));
        assert_eq!(
            e(map(&[("port", s("22")), ("cidr", s("0.0.0.0/0"))])),
            "rules[3].port must be an integer, got string"
        );
        assert!(e(map(&[("protocol", s("sctp"))])).contains("`sctp` must be tcp, udp, icmp or -1"));
        assert_eq!(
            e(map(&[("to", n(3)), ("cidr", s("0.0.0.0/0"))])),
            "rules[3]: give either `port` or `from` and `to`"
        );
        assert_eq!(
            e(map(&[
                ("from", n(9)),
                ("to", n(3)),
                ("cidr", s("0.0.0.0/0"))
            ])),
            "rules[3]: ports 9-3 are not a valid range"
        );
        assert_eq!(
            e(map(&[("port", n(70000)), ("cidr", s("0.0.0.0/0"))])),
            "rules[3]: ports 70000-70000 are not a valid range"
        );
        assert_eq!(e(map(&[("port", n(22))])), "rules[3]: `cidr` is required");
        assert!(
            e(map(&[("port", n(22)), ("cidr", s("0.0.0.0/33"))])).starts_with("rules[3].cidr: ")
        );
        let all = parse_rules(vec![
            map(&[("port", n(22)), ("cidr", s("0.0.0.0/0"))]),
            map(&[("port", n(22))]),
        ])
        .unwrap_err();
        assert_eq!(all, "rules[1]: `cidr` is required");
    }

    fn node(name: &str, ip: &str, extra: &[(&str, Dynamic)]) -> Dynamic {
        let mut v = vec![
            ("name", s(name)),
            ("role", s("worker")),
            ("private_ip", s(ip)),
        ];
        v.extend(extra.iter().cloned());
        map(&v)
    }

    #[test]
    fn a_node_with_a_pod_range_forwards_by_default() {
        let w = parse_node(
            0,
            node(
                "worker-0",
                "172.31.0.20",
                &[("pod_cidr", s("10.200.0.0/24")), ("index", n(0))],
            ),
        )
        .unwrap();
        assert!(!w.source_dest_check);
        let m = parse_node(0, node("master-0", "172.31.0.10", &[])).unwrap();
        assert!(m.source_dest_check);
        assert_eq!((m.index, m.user_data.as_str()), (0, ""));
        let pinned = parse_node(
            0,
            node(
                "worker-1",
                "172.31.0.21",
                &[
                    ("pod_cidr", s("10.200.1.0/24")),
                    ("source_dest_check", Dynamic::from(true)),
                ],
            ),
        )
        .unwrap();
        assert!(pinned.source_dest_check);
    }

    #[test]
    fn bad_nodes_name_the_element_and_field() {
        let e = |d: Dynamic| parse_node(2, d).unwrap_err();
        assert!(e(n(1)).starts_with("nodes[2] must be a map"));
        assert!(
            e(node("a", "172.31.0.1", &[("ip", s("x"))])).contains("nodes[2]: unknown field `ip`")
        );
        assert_eq!(e(map(&[("role", s("x"))])), "nodes[2]: `name` is required");
        assert_eq!(
            e(node("a b", "172.31.0.1", &[])),
            "nodes[2].name `a b` must be letters, digits and hyphens"
        );
        assert_eq!(
            e(node("a", "300.1.1.1", &[])),
            "nodes[2].private_ip: `300.1.1.1` is not an IPv4 address"
        );
        assert_eq!(
            e(node("a", "172.31.0.1", &[("index", s("0"))])),
            "nodes[2].index must be an integer, got string"
        );
        assert!(
            e(node("a", "172.31.0.1", &[("pod_cidr", s("10.0.0.0/40"))]))
                .starts_with("nodes[2].pod_cidr: ")
        );
        assert_eq!(
            e(node("a", "172.31.0.1", &[("source_dest_check", s("no"))])),
            "nodes[2].source_dest_check must be true or false, got string"
        );
        assert_eq!(
            e(node(
                "a",
                "172.31.0.1",
                &[("user_data", s(&"x".repeat(16 * 1024 + 1)))]
            )),
            "nodes[2].user_data is over AWS's 16 KB limit"
        );
    }

    #[test]
    fn nodes_may_not_share_a_name_or_an_address() {
        let ok = parse_nodes(vec![
            node("a", "172.31.0.1", &[]),
            node("b", "172.31.0.2", &[]),
        ]);
        assert_eq!(ok.unwrap().len(), 2);
        let same_ip = parse_nodes(vec![
            node("a", "172.31.0.1", &[]),
            node("b", "172.31.0.1", &[]),
        ]);
        assert_eq!(same_ip.unwrap_err(), "node b repeats a name or private IP");
        let same_name = parse_nodes(vec![
            node("a", "172.31.0.1", &[]),
            node("a", "172.31.0.2", &[]),
        ]);
        assert_eq!(
            same_name.unwrap_err(),
            "node a repeats a name or private IP"
        );
    }

    #[test]
    fn placement_needs_every_field() {
        let mut m = Map::new();
        for k in [
            "subnet_id",
            "security_group_id",
            "key_name",
            "image_id",
            "instance_type",
        ] {
            m.insert(k.into(), s(&format!("{k}-1")));
        }
        let p = parse_placement(&m, 4).unwrap();
        assert_eq!((p.subnet_id.as_str(), p.concurrency), ("subnet_id-1", 4));
        m.insert("image_id".into(), Dynamic::UNIT);
        assert_eq!(
            parse_placement(&m, 4).unwrap_err(),
            "placement.image_id is missing (did network.rhai run? see `groundup status`)"
        );
        m.insert("image_id".into(), s(""));
        assert!(parse_placement(&m, 4).is_err());
    }

    #[test]
    fn launch_concurrency_is_held_to_1_to_64() {
        assert_eq!(concurrency(0), 1);
        assert_eq!(concurrency(-3), 1);
        assert_eq!(concurrency(6), 6);
        assert_eq!(concurrency(1000), 64);
    }
}
