//! The cluster's PKI as its settings and state describe it, shared by the
//! `pki::` host functions and `groundup pki check`: where the files live,
//! which names a script may give them, the nodes and their addresses, the
//! API's public address, and what the check expects.
//!
//! Plain Rust over [`Settings`] and [`State`]; the certificate logic itself
//! is in [`crate::pki`].

// `Error` is the crate's one diagnostic type (it carries the script
// position and help); returning it by value is the crate's convention.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Kind, Result};
use crate::net::cidr;
use crate::pki::{self, CheckReport, CheckSpec, KubeletExpect, PkiError};
use crate::settings::Settings;
use crate::state::State;

/// The CA's stem: `ca.pem` and `ca-key.pem`.
pub const CA_STEM: &str = "ca";
/// The API server's (and etcd's) certificate stem.
pub const APISERVER_STEM: &str = "master-kubernetes";
/// The encryption config's name: `encryption-config.yaml`.
pub const ENCRYPTION_CONFIG: &str = "encryption-config";

impl From<PkiError> for Error {
    fn from(e: PkiError) -> Error {
        Error::new(Kind::Pki, e.to_string())
    }
}

/// The PKI directory of a cluster: `<state-dir>/<cluster>/pki`.
pub fn dir(cluster_dir: &Path) -> PathBuf {
    cluster_dir.join("pki")
}

/// The PKI directory, refusing symbolic links: neither the directory nor
/// any file in it may be a link, so no host function can be steered to read
/// or write outside `<state-dir>/<cluster>/pki/`.
pub fn confined_dir(cluster_dir: &Path) -> std::result::Result<PathBuf, String> {
    let d = dir(cluster_dir);
    let link = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    if link(&d) {
        return Err(format!(
            "{} is a symbolic link: groundup keeps the PKI only inside the state directory",
            d.display()
        ));
    }
    if let Ok(rd) = std::fs::read_dir(&d) {
        for e in rd.flatten() {
            // The entry's type comes with the directory listing (no stat).
            if e.file_type().is_ok_and(|t| t.is_symlink()) {
                return Err(format!(
                    "{} is a symbolic link: groundup reads and writes only regular files in {}",
                    e.path().display(),
                    d.display()
                ));
            }
        }
    }
    Ok(d)
}

/// Checks a name a script gives a PKI file (a certificate's stem, a
/// kubeconfig's or the encryption config's name): lower-case letters,
/// digits, `.` and `-`, starting with a letter or digit, no `..`, at most
/// 100 characters, and not ending in `-key` (that is the key files' suffix).
/// Files always go under `<state-dir>/<cluster>/pki/`, so a name can never
/// reach anywhere else.
pub fn check_name(what: &str, name: &str) -> std::result::Result<(), String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if !first_ok || !rest_ok || name.contains("..") || name.len() > 100 {
        return Err(format!(
            "{what} `{name}` is not a file name: use lower-case letters, digits, `.` and `-`, \
             starting with a letter or digit (no paths: files always go under \
             <state-dir>/<cluster>/pki/)"
        ));
    }
    if name.ends_with("-key") {
        return Err(format!(
            "{what} `{name}` ends in `-key`, which would clash with a private key file \
             (<stem>-key.pem)"
        ));
    }
    Ok(())
}

/// The stem of worker `i`'s kubelet certificate and kubeconfig:
/// `<cluster>-worker-<i>` (the cluster name in lower case).
pub fn worker_stem(cluster: &str, index: i64) -> String {
    format!("{}-worker-{index}", cluster.to_ascii_lowercase())
}

/// One node as the certificates see it (the planned layout's type).
pub use crate::layout::Node;

/// The cluster's nodes: those compute.rhai recorded in state (`nodes`), or,
/// when there are none (offline, plan, before compute), `planned`: the
/// layout of stdlib/nodes.rhai as the command layer evaluated it
/// (`commands::layout`). Sorted masters first, by index.
pub fn nodes(
    settings: &Settings,
    planned: &[Node],
    state_nodes: Option<&Value>,
) -> Result<Vec<Node>> {
    let mut out = Vec::new();
    match state_nodes.and_then(Value::as_object) {
        Some(map) if !map.is_empty() => {
            let domain = crate::aws::internal_domain(&settings.text("region")?);
            for (name, v) in map {
                out.push(node_from_state(name, v, &domain)?);
            }
        }
        _ => out.extend(planned.iter().cloned()),
    }
    out.sort_by_key(|n| (n.role != "master", n.index));
    Ok(out)
}

fn node_from_state(name: &str, v: &Value, domain: &str) -> Result<Node> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let bad = |why: &str| {
        Error::state(format!("state `nodes.{name}` {why}"))
            .with_help("re-run compute (`groundup run compute`) to record the nodes again")
    };
    let role = match text("role") {
        r if !r.is_empty() => r,
        _ => name.split('-').next().unwrap_or_default().to_string(),
    };
    if role != "master" && role != "worker" {
        return Err(bad("has no role master or worker"));
    }
    let index = v
        .get("index")
        .and_then(Value::as_i64)
        .or_else(|| name.rsplit('-').next().and_then(|n| n.parse().ok()))
        .ok_or_else(|| bad("has no index"))?;
    let private_ip = text("private_ip");
    cidr::parse_ip(&private_ip).map_err(|_| bad("has no valid private_ip"))?;
    let hostname = match text("hostname") {
        h if !h.is_empty() => h,
        _ => cidr::ec2_hostname(&private_ip).map_err(|e| Error::script(e.to_string()))?,
    };
    let private_dns = match text("private_dns") {
        d if !d.is_empty() => d,
        _ => format!("{hostname}.{domain}"),
    };
    Ok(Node {
        name: name.to_string(),
        role,
        index,
        private_ip,
        public_ip: text("public_ip"),
        hostname,
        private_dns,
    })
}

/// The Kubernetes API's public address (the load balancer's DNS name): the
/// `kubernetes_public_address` setting if set, else what network.rhai
/// recorded in state; an error saying how to get one otherwise.
pub fn public_address(settings: &Settings, state: &State) -> Result<String> {
    let set = settings.text("kubernetes_public_address")?;
    if !set.trim().is_empty() {
        return Ok(set.trim().to_string());
    }
    state.get_str("kubernetes_public_address").ok_or_else(|| {
        Error::new(
            Kind::Pki,
            "the Kubernetes public address is unknown: it is neither set nor in state",
        )
        .with_help(
            "run the network step first (`groundup run network` records the load balancer's \
             DNS name), or give it for offline use: --set kubernetes_public_address=<dns name or IP>",
        )
    })
}

/// The first address of `service_cidr` (172.32.0.1): the `kubernetes`
/// service's cluster IP, which the API server certificate must carry.
pub fn first_service_ip(settings: &Settings) -> Result<String> {
    cidr::host(&settings.text("service_cidr")?, 1)
        .map(|ip| ip.to_string())
        .map_err(|e| Error::setting(format!("service_cidr: {e}")))
}

/// What `groundup pki check` checks, from the settings and state, plus the
/// problems found while working that out (an unknown public address).
pub fn check_spec(
    settings: &Settings,
    planned: &[Node],
    state: &State,
) -> Result<(CheckSpec, Vec<String>)> {
    let d = dir(state.dir());
    let nodes = nodes(settings, planned, state.get("nodes"))?;
    let mut problems = Vec::new();
    let mut required = vec!["127.0.0.1".to_string()];
    required.extend(
        nodes
            .iter()
            .filter(|n| n.role == "master")
            .map(|n| n.private_ip.clone()),
    );
    let port = settings.integer("api_port")?;
    let mut api_servers = Vec::new();
    match public_address(settings, state) {
        Ok(a) => {
            // Kubeconfigs name the API through the load balancer, or (the
            // controller manager's and the scheduler's) on the master.
            api_servers.push(format!("https://{a}:{port}"));
            api_servers.push(format!("https://127.0.0.1:{port}"));
            required.push(a)
        }
        Err(e) => problems.push(format!(
            "cannot check the API server certificate for the public address: {} ({})",
            e.message,
            e.help.unwrap_or_default()
        )),
    }
    required.push(first_service_ip(settings)?);
    let cluster = settings.text("name")?;
    let kubelets = nodes
        .iter()
        .filter(|n| n.role == "worker")
        .map(|n| {
            let mut hosts = vec![n.hostname.clone()];
            if !n.public_ip.is_empty() {
                hosts.push(n.public_ip.clone());
            }
            hosts.push(n.private_ip.clone());
            KubeletExpect {
                stem: worker_stem(&cluster, n.index),
                cn: format!("system:node:{}", n.hostname),
                hosts,
            }
        })
        .collect();
    let spec = CheckSpec {
        encryption_config: d.join(format!("{ENCRYPTION_CONFIG}.yaml")),
        dir: d,
        ca_stem: CA_STEM.to_string(),
        apiserver_stem: APISERVER_STEM.to_string(),
        apiserver_required_sans: required,
        kubelets,
        cluster_dns: settings.text("cluster_dns")?,
        service_cidr: settings.text("service_cidr")?,
        api_servers,
    };
    Ok((spec, problems))
}

/// Runs the check for a cluster: the library's report with the spec's own
/// problems added; `planned` is the node layout (see [`nodes`]).
pub fn run_check(settings: &Settings, planned: &[Node], state: &State) -> Result<CheckReport> {
    let (spec, problems) = check_spec(settings, planned, state)?;
    if !spec.dir.is_dir() {
        return Err(Error::new(
            Kind::Pki,
            format!(
                "no PKI for cluster {}: {} does not exist",
                settings.text("name")?,
                spec.dir.display()
            ),
        )
        .with_help("make it with `groundup run pki`"));
    }
    let mut report = pki::check(&spec)?;
    report.problems.extend(problems);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lesson() -> Settings {
        let text = include_str!("../stdlib/cluster.rhai");
        Settings::evaluate(&rhai::Engine::new(), "stdlib/cluster.rhai", text).unwrap()
    }

    #[test]
    fn names_are_sandboxed() {
        for ok in [
            "ca",
            "admin",
            "k8s-cluster-worker-0",
            "kube-proxy",
            "a.b",
            "0",
        ] {
            check_name("stem", ok).unwrap();
        }
        for bad in [
            "",
            "Admin",
            "../ca",
            "a/b",
            "/etc/passwd",
            "a..b",
            ".hidden",
            "-x",
            "a b",
            "admin-key",
        ] {
            assert!(check_name("stem", bad).is_err(), "{bad:?} accepted");
        }
        let e = check_name("stem", "../x").unwrap_err();
        assert!(e.contains("no paths"), "{e}");
        assert_eq!(worker_stem("K8s-Cluster", 2), "k8s-cluster-worker-2");
    }

    /// The planned layout as `commands::layout::planned` evaluates it for
    /// the lesson's settings (commands::layout's tests prove that).
    fn planned() -> Vec<Node> {
        let node = |role: &str, index: i64, host: i64| {
            let ip = format!("172.31.0.{host}");
            let hostname = format!("ip-172-31-0-{host}");
            Node {
                name: format!("{role}-{index}"),
                role: role.into(),
                index,
                private_dns: format!("{hostname}.us-east-2.compute.internal"),
                private_ip: ip,
                public_ip: String::new(),
                hostname,
            }
        };
        let mut out: Vec<Node> = (0..3).map(|i| node("worker", i, 20 + i)).collect();
        out.extend((0..3).map(|i| node("master", i, 10 + i)));
        out
    }

    #[test]
    fn nodes_are_the_planned_layout_before_compute() {
        let s = lesson();
        let n = nodes(&s, &planned(), None).unwrap();
        assert_eq!(n.len(), 6);
        // Masters first, by index.
        assert_eq!(n[0].name, "master-0");
        assert_eq!(n[0].private_ip, "172.31.0.10");
        assert_eq!(n[3].name, "worker-0");
        assert_eq!(n[3].private_ip, "172.31.0.20");
        // An empty `nodes` map is no nodes recorded.
        assert_eq!(nodes(&s, &planned(), Some(&json!({}))).unwrap(), n);
    }

    #[test]
    fn nodes_come_from_state_when_recorded() {
        let s = lesson();
        let state = json!({
            "worker-1": {"role": "worker", "index": 1, "private_ip": "172.31.0.21",
                         "public_ip": "3.1.2.4", "hostname": "ip-172-31-0-21"},
            "master-0": {"role": "master", "index": 0, "private_ip": "172.31.0.10",
                         "public_ip": "3.1.2.3", "hostname": "ip-172-31-0-10",
                         "private_dns": "ip-172-31-0-10.us-east-2.compute.internal"},
            "worker-0": {"private_ip": "172.31.0.20"},
        });
        let n = nodes(&s, &planned(), Some(&state)).unwrap();
        let names: Vec<&str> = n.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, vec!["master-0", "worker-0", "worker-1"]);
        assert_eq!(n[0].public_ip, "3.1.2.3");
        assert_eq!(n[1].role, "worker");
        assert_eq!(n[1].hostname, "ip-172-31-0-20");
        assert_eq!(
            n[1].private_dns,
            "ip-172-31-0-20.us-east-2.compute.internal"
        );
        let bad = json!({"worker-0": {"role": "worker", "index": 0}});
        let e = nodes(&s, &planned(), Some(&bad)).unwrap_err();
        assert_eq!(e.message, "state `nodes.worker-0` has no valid private_ip");
    }

    #[test]
    fn public_address_from_setting_then_state() {
        let mut s = lesson();
        let mut st = State::in_memory("k8s-cluster");
        let e = public_address(&s, &st).unwrap_err();
        assert!(e.message.contains("unknown"), "{}", e.message);
        assert!(e.help.unwrap().contains("--set kubernetes_public_address="));
        st.set("kubernetes_public_address", json!("nlb.example"))
            .unwrap();
        assert_eq!(public_address(&s, &st).unwrap(), "nlb.example");
        s.apply_set("kubernetes_public_address=k8s.example.test")
            .unwrap();
        assert_eq!(public_address(&s, &st).unwrap(), "k8s.example.test");
        assert_eq!(first_service_ip(&s).unwrap(), "172.32.0.1");
    }

    #[test]
    fn check_spec_lists_what_the_table_requires() {
        let mut s = lesson();
        s.apply_set("kubernetes_public_address=k8s.example.test")
            .unwrap();
        let st = State::in_memory("k8s-cluster");
        let (spec, problems) = check_spec(&s, &planned(), &st).unwrap();
        assert!(problems.is_empty());
        assert_eq!(
            spec.apiserver_required_sans,
            vec![
                "127.0.0.1",
                "172.31.0.10",
                "172.31.0.11",
                "172.31.0.12",
                "k8s.example.test",
                "172.32.0.1"
            ]
        );
        assert_eq!(spec.kubelets.len(), 3);
        assert_eq!(spec.kubelets[0].stem, "k8s-cluster-worker-0");
        assert_eq!(spec.kubelets[0].cn, "system:node:ip-172-31-0-20");
        assert_eq!(
            spec.kubelets[0].hosts,
            vec!["ip-172-31-0-20", "172.31.0.20"]
        );
        assert!(
            spec.encryption_config
                .ends_with("pki/encryption-config.yaml")
        );
        let (_, problems) = check_spec(&lesson(), &planned(), &st).unwrap();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("kubernetes_public_address"));
    }
}
