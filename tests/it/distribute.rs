//! runbooks/distribute.rhai on real test nodes (systemd-nspawn Debian
//! machines at the lesson's addresses) with moto for AWS: `up` with
//! `ssh_address=private`, the harness plays cloud-init (authorizes the
//! cluster key), then the files are checked inside each node (sha256sum,
//! stat) against the local PKI.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Moto, Project, Run, collect};
use crate::testnodes::{NodeSpec, TestNodes, public_key_of};

const CLUSTER: &str = "k8s-cluster";
const PRIVATE: &[&str] = &["--set", "ssh_address=private"];

/// Moto, a project that ran network, compute and pki, and the six nodes
/// with the cluster key authorized.
pub struct Lab {
    pub moto: Moto,
    pub p: Project,
    pub nodes: TestNodes,
}

impl Lab {
    pub fn new(stopped: &[&str]) -> Lab {
        let nodes = TestNodes::boot_except(&NodeSpec::lesson(), stopped);
        let moto = Moto::start();
        let p = Project::new();
        let mut args = PRIVATE.to_vec();
        args.extend(["--set", "steps=network,compute,pki", "up"]);
        p.run_on(&moto, &args).ok();
        nodes.authorize(&public_key_of(
            &p.state_dir()
                .join(CLUSTER)
                .join("ssh")
                .join(format!("{CLUSTER}.id_rsa")),
        ));
        Lab { moto, p, nodes }
    }

    /// `groundup --json run distribute` (private addresses).
    pub fn distribute(&self) -> Run {
        let mut args = PRIVATE.to_vec();
        args.extend(["--json", "run", "distribute"]);
        self.p.run_on(&self.moto, &args)
    }

    pub fn pki(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.p.state_dir().join(CLUSTER).join("pki").join(name)).unwrap()
    }
}

/// (node path, local pki file, mode) of every file a node must have.
pub fn expected(node: &str) -> Vec<(String, String, &'static str)> {
    let f = |p: &str, l: &str, m: &'static str| (p.to_string(), l.to_string(), m);
    if node.starts_with("master-") {
        vec![
            f("/var/lib/kubernetes/ca.pem", "ca.pem", "644"),
            f("/var/lib/kubernetes/ca-key.pem", "ca-key.pem", "600"),
            f(
                "/var/lib/kubernetes/master-kubernetes.pem",
                "master-kubernetes.pem",
                "644",
            ),
            f(
                "/var/lib/kubernetes/master-kubernetes-key.pem",
                "master-kubernetes-key.pem",
                "600",
            ),
            f(
                "/var/lib/kubernetes/service-account.pem",
                "service-account.pem",
                "644",
            ),
            f(
                "/var/lib/kubernetes/service-account-key.pem",
                "service-account-key.pem",
                "600",
            ),
            f(
                "/var/lib/kubernetes/encryption-config.yaml",
                "encryption-config.yaml",
                "600",
            ),
            f(
                "/var/lib/kubernetes/kube-controller-manager.kubeconfig",
                "kube-controller-manager.kubeconfig",
                "600",
            ),
            f(
                "/var/lib/kubernetes/kube-scheduler.kubeconfig",
                "kube-scheduler.kubeconfig",
                "600",
            ),
            f("/etc/etcd/ca.pem", "ca.pem", "644"),
            f(
                "/etc/etcd/master-kubernetes.pem",
                "master-kubernetes.pem",
                "644",
            ),
            f(
                "/etc/etcd/master-kubernetes-key.pem",
                "master-kubernetes-key.pem",
                "600",
            ),
        ]
    } else {
        let i = node.trim_start_matches("worker-");
        let stem = format!("{CLUSTER}-worker-{i}");
        vec![
            f("/var/lib/kubernetes/ca.pem", "ca.pem", "644"),
            f(
                &format!("/var/lib/kubelet/{stem}.pem"),
                &format!("{stem}.pem"),
                "644",
            ),
            f(
                &format!("/var/lib/kubelet/{stem}-key.pem"),
                &format!("{stem}-key.pem"),
                "600",
            ),
            f(
                "/var/lib/kubelet/kubeconfig",
                &format!("{stem}.kubeconfig"),
                "600",
            ),
            f(
                "/var/lib/kube-proxy/kubeconfig",
                "kube-proxy.kubeconfig",
                "600",
            ),
        ]
    }
}

/// `path -> "sha256 mode owner group inode mtime"` as the node sees it.
pub fn on_node(nodes: &TestNodes, node: &str, paths: &[String]) -> BTreeMap<String, String> {
    let script = format!(
        "for f in {}; do printf '%s %s %s\\n' \"$f\" \"$(sha256sum < \"$f\" | cut -d' ' -f1)\" \"$(stat -c '%a %U %G %i %y' \"$f\")\"; done",
        paths.join(" ")
    );
    nodes
        .exec_ok(node, &script)
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(p, rest)| (p.to_string(), rest.to_string()))
        })
        .collect()
}

/// The node paths of `node`'s files.
fn paths(node: &str) -> Vec<String> {
    expected(node).into_iter().map(|e| e.0).collect()
}

/// What every node's files look like now (sha256, mode, owner, inode, mtime).
fn snapshot(lab: &Lab) -> Vec<BTreeMap<String, String>> {
    NodeSpec::lesson()
        .iter()
        .map(|n| on_node(&lab.nodes, &n.name, &paths(&n.name)))
        .collect()
}

/// The file events of a `--json` run: `node:path -> status`.
pub fn file_events(run: &Run) -> BTreeMap<String, String> {
    run.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "file")
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    groundup::ssh::upload::sha256_hex(bytes)
}

/// Every node has exactly its files, identical to the local PKI, root's,
/// with their modes.
fn check_in_place(lab: &Lab) {
    for spec in NodeSpec::lesson() {
        let want = expected(&spec.name);
        let got = on_node(&lab.nodes, &spec.name, &paths(&spec.name));
        for (path, local, mode) in &want {
            let line = got
                .get(path)
                .unwrap_or_else(|| panic!("{}: {path} missing: {got:?}", spec.name));
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(
                f[0],
                sha(&lab.pki(local)),
                "{}: {path} differs from pki/{local}",
                spec.name
            );
            assert_eq!(
                &f[1..4],
                &[*mode, "root", "root"],
                "{}: {path}: {line}",
                spec.name
            );
        }
        let left = lab.nodes.exec_ok(
            &spec.name,
            "find / -xdev -name '.groundup-*' 2>/dev/null || true",
        );
        assert_eq!(left.trim(), "", "{}: temporary files left", spec.name);
    }
}

#[test]
fn distribute_places_every_file_reruns_unchanged_and_updates_only_holders() {
    let lab = Lab::new(&[]);
    let t = Instant::now();
    let run = lab.distribute().ok();
    eprintln!("first distribute: {:?}", t.elapsed());
    let ev = file_events(&run);
    assert_eq!(ev.len(), 3 * 12 + 3 * 5, "{ev:?}");
    assert!(ev.values().all(|s| s == "created"), "{ev:?}");
    check_in_place(&lab);

    // Workers never get a CA or service-account private key, and only
    // their own kubelet identity.
    for i in 0..3 {
        let w = format!("worker-{i}");
        let keys = lab.nodes.exec_ok(
            &w,
            "find / -xdev \\( -name 'ca-key.pem' -o -name 'service-account-key.pem' \\) 2>/dev/null || true",
        );
        assert_eq!(keys.trim(), "", "{w} holds a signing key: {keys}");
        let kubelet = lab.nodes.exec_ok(&w, "ls /var/lib/kubelet");
        let mut names: Vec<&str> = kubelet.split_whitespace().collect();
        names.sort();
        let mine = format!("{CLUSTER}-worker-{i}");
        assert_eq!(
            names,
            vec![
                format!("{mine}-key.pem").as_str(),
                format!("{mine}.pem").as_str(),
                "kubeconfig"
            ]
        );
        let everything = lab
            .nodes
            .exec_ok(&w, "ls -R /var/lib /etc 2>/dev/null || true");
        for other in (0..3).filter(|j| *j != i) {
            assert!(
                !everything.contains(&format!("worker-{other}")),
                "{w} holds worker-{other}'s files"
            );
        }
    }

    // A re-run changes nothing and rewrites nothing (same inode, same mtime).
    let before = snapshot(&lab);
    let run = lab.distribute().ok();
    let ev = file_events(&run);
    assert_eq!(ev.len(), 51);
    assert!(ev.values().all(|s| s == "unchanged"), "{ev:?}");
    let after = snapshot(&lab);
    assert_eq!(before, after, "a re-run rewrote files");

    // Re-issue the API server's certificate: it is updated on exactly the
    // nodes (and paths) that hold it, the masters; nothing else is touched.
    let pki = lab.p.state_dir().join(CLUSTER).join("pki");
    std::fs::remove_file(pki.join("master-kubernetes.pem")).unwrap();
    std::fs::remove_file(pki.join("master-kubernetes-key.pem")).unwrap();
    lab.p.run_on(&lab.moto, &["run", "pki"]).ok();
    let run = lab.distribute().ok();
    let ev = file_events(&run);
    let updated: Vec<&String> = ev
        .iter()
        .filter(|(_, s)| *s == "updated")
        .map(|(k, _)| k)
        .collect();
    let mut want = Vec::new();
    for m in 0..3 {
        for p in [
            "/etc/etcd/master-kubernetes-key.pem",
            "/etc/etcd/master-kubernetes.pem",
            "/var/lib/kubernetes/master-kubernetes-key.pem",
            "/var/lib/kubernetes/master-kubernetes.pem",
        ] {
            want.push(format!("master-{m}:{p}"));
        }
    }
    want.sort();
    assert_eq!(updated, want.iter().collect::<Vec<_>>(), "{ev:?}");
    assert_eq!(
        ev.values().filter(|s| *s == "unchanged").count(),
        51 - 12,
        "{ev:?}"
    );
    check_in_place(&lab);

    // `groundup ssh` by name.
    let run = lab
        .p
        .run_on(
            &lab.moto,
            &[
                "--set",
                "ssh_address=private",
                "ssh",
                "master-0",
                "--",
                "hostname",
            ],
        )
        .ok();
    assert_eq!(run.stdout, "ip-172-31-0-10\n", "{}", run.stderr);
    let run = lab.p.run_on(
        &lab.moto,
        &[
            "--set",
            "ssh_address=private",
            "ssh",
            "worker-1",
            "--",
            "exit",
            "3",
        ],
    );
    assert_eq!(run.code, 3, "the remote exit code is groundup's: {run:?}");
}

#[test]
fn a_late_node_is_waited_for_and_a_changed_host_key_is_refused() {
    let lab = Lab::new(&["worker-2"]);
    // worker-2 is still off when distribute starts: it is retried until it
    // answers (it boots 2 s later), and the others are served meanwhile.
    let mut args = vec!["--endpoint", lab.moto.endpoint.as_str()];
    args.extend(PRIVATE);
    args.extend(["--json", "run", "distribute"]);
    let child = lab
        .p
        .cmd(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    lab.nodes.start_node("worker-2");
    let run = collect(child.wait_with_output().unwrap()).ok();
    assert!(t.elapsed() >= Duration::from_secs(2));
    let ev = file_events(&run);
    assert_eq!(ev.len(), 51, "{ev:?}");
    assert!(ev.values().all(|s| s == "created"), "{ev:?}");
    check_in_place(&lab);

    // master-1 gets new host keys: refused, naming the node and the way
    // out; the other nodes are still served (and report unchanged).
    lab.nodes.reset_host_key("master-1");
    let run = lab.distribute().expect_code(2);
    let err = run.err_flat();
    assert!(err.contains("1 of 6 nodes failed"), "{err}");
    assert!(
        err.contains("master-1 (172.31.0.11): host key changed for instance i-"),
        "{err}"
    );
    assert!(err.contains("groundup ssh --forget master-1"), "{err}");
    let kh =
        std::fs::read_to_string(lab.p.state_dir().join(CLUSTER).join("ssh/known_hosts")).unwrap();
    assert_eq!(kh.lines().count(), 6, "{kh}");
    // The way out, then it works again.
    lab.p
        .run_on(
            &lab.moto,
            &[
                "--set",
                "ssh_address=private",
                "ssh",
                "master-1",
                "--forget",
            ],
        )
        .ok();
    let run = lab.distribute().ok();
    let ev = file_events(&run);
    assert!(ev.values().all(|s| s == "unchanged"), "{ev:?}");
    let _: Value = run.json();
}

/// `path -> (sha256, mode)` of those of `paths` that exist on the node.
fn present(nodes: &TestNodes, node: &str, paths: &[String]) -> BTreeMap<String, (String, String)> {
    let script = format!(
        "for f in {}; do [ -e \"$f\" ] && printf '%s %s %s\\n' \"$f\" \"$(sha256sum < \"$f\" | cut -d' ' -f1)\" \"$(stat -c '%a' \"$f\")\"; done; true",
        paths.join(" ")
    );
    nodes
        .exec_ok(node, &script)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() == 3).then(|| (f[0].to_string(), (f[1].to_string(), f[2].to_string())))
        })
        .collect()
}

/// The node's groundup temporary files (`.groundup-*.tmp`).
fn temp_files(nodes: &TestNodes, node: &str) -> Vec<String> {
    nodes
        .exec_ok(
            node,
            "find / -xdev -name '.groundup-*.tmp' 2>/dev/null || true",
        )
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every file of `node` that exists is whole: the local PKI's bytes and
/// mode, never a prefix of them. Returns how many exist.
fn whole_or_absent(lab: &Lab, node: &str) -> usize {
    let want = expected(node);
    let got = present(&lab.nodes, node, &paths(node));
    for (path, local, mode) in &want {
        if let Some((sha256, m)) = got.get(path) {
            assert_eq!(sha256, &sha(&lab.pki(local)), "{node}: {path} is not whole");
            assert_eq!(m, mode, "{node}: {path} has mode {m}");
        }
    }
    got.len()
}

/// Makes the node's `mv` (sudo's PATH finds /usr/local/bin first) hang on
/// its 4th call: three files land, the 4th sits written in its temporary
/// file, waiting — a run caught mid-upload, every time.
fn hang_fourth_mv(nodes: &TestNodes, node: &str) {
    nodes.exec_ok(
        node,
        "rm -f /run/mv-calls; printf '%s\\n' '#!/bin/sh' \
         'n=$(( $(cat /run/mv-calls 2>/dev/null || echo 0) + 1 )); echo $n > /run/mv-calls' \
         '[ $n -eq 4 ] && sleep 600' 'exec /bin/mv \"$@\"' > /usr/local/bin/mv; \
         chmod 755 /usr/local/bin/mv",
    );
}

/// Waits until `node` has 3 of its files and one temporary file.
fn wait_caught(lab: &Lab, node: &str) {
    let t = Instant::now();
    loop {
        let n = whole_or_absent(lab, node);
        let tmp = temp_files(&lab.nodes, node);
        if n == 3 && tmp.len() == 1 {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{node} never reached the 4th file: {n} files, temp {tmp:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node dies mid-write: its script and the hung `mv` are killed, as a
/// power cut would, so nothing on the node cleans up; and a temporary file
/// of an older crash is left in the destination directory too. (The
/// patterns are anchored so they never match this shell's own command.)
fn kill_remote_script(nodes: &TestNodes, node: &str, dir: &str) {
    nodes.exec_ok(
        node,
        &format!(
            "pkill -KILL -f '^sh -s$'; pkill -KILL -f '^/bin/sh /usr/local/bin/mv'; \
             pkill -KILL -x sleep; rm -f /usr/local/bin/mv /run/mv-calls; \
             echo partial > {dir}/.groundup-crash1.tmp; true"
        ),
    );
}

#[test]
fn a_run_stopped_mid_upload_leaves_whole_files_or_none_and_the_rerun_converges() {
    let lab = Lab::new(&[]);
    let spawn = || {
        let mut args = vec!["--endpoint", lab.moto.endpoint.as_str()];
        args.extend(PRIVATE);
        args.extend(["--json", "run", "distribute"]);
        lab.p
            .cmd(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };

    // 1. Ctrl-C (SIGINT) while master-0 is writing its 4th file: groundup
    //    stops promptly with 130; master-0 has 3 whole files and none of
    //    the other 9, not even a prefix.
    hang_fourth_mv(&lab.nodes, "master-0");
    let child = spawn();
    wait_caught(&lab, "master-0");
    let t = Instant::now();
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let run = collect(child.wait_with_output().unwrap()).expect_code(130);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "Ctrl-C took {:?} to stop the run",
        t.elapsed()
    );
    assert!(run.err_flat().contains("interrupted"), "{}", run.stderr);
    assert_eq!(whole_or_absent(&lab, "master-0"), 3);
    for n in NodeSpec::lesson() {
        whole_or_absent(&lab, &n.name);
    }
    // The node then dies with the 4th file's temporary copy on disk (if
    // sshd did not already end the script, whose trap removes it).
    kill_remote_script(&lab.nodes, "master-0", "/var/lib/kubernetes");
    let tmp = temp_files(&lab.nodes, "master-0");
    assert!((1..=2).contains(&tmp.len()), "{tmp:?}");
    assert_eq!(whole_or_absent(&lab, "master-0"), 3);

    // The re-run converges: master-0's 9 missing files are created, every
    // other file is left as it is, and the dead run's temporary file is gone.
    let run = lab.distribute().ok();
    let ev = file_events(&run);
    assert_eq!(ev.len(), 51, "{ev:?}");
    let created: Vec<&String> = ev
        .iter()
        .filter(|(k, s)| *s == "created" && k.starts_with("master-0:"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(created.len(), 9, "{ev:?}");
    check_in_place(&lab);

    // 2. The same with SIGKILL: groundup gets no chance to clean up.
    for n in NodeSpec::lesson() {
        lab.nodes.exec_ok(
            &n.name,
            "rm -rf /var/lib/kubernetes /var/lib/kubelet /var/lib/kube-proxy /etc/etcd",
        );
    }
    hang_fourth_mv(&lab.nodes, "worker-1");
    let mut child = spawn();
    wait_caught(&lab, "worker-1");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    for n in NodeSpec::lesson() {
        whole_or_absent(&lab, &n.name);
    }
    assert_eq!(whole_or_absent(&lab, "worker-1"), 3);
    kill_remote_script(&lab.nodes, "worker-1", "/var/lib/kubernetes");
    let tmp = temp_files(&lab.nodes, "worker-1");
    assert!((1..=2).contains(&tmp.len()), "{tmp:?}");
    let run = lab.distribute().ok();
    assert_eq!(file_events(&run).len(), 51);
    check_in_place(&lab);
}
