//! `ssh::` on moto without test nodes: the emulator guard. moto's nodes are
//! not machines and its public IPs are real internet addresses, so `up` must
//! stop the node steps in one line, succeed, and never open a connection to
//! anything but loopback. Every `connect(2)` groundup makes is traced with
//! strace (`-f`: every thread), so a single stray SYN would show.

use std::path::Path;
use std::process::Command;

use crate::support::{Moto, Project, collect};

/// Runs groundup under `strace -f -e trace=connect`; returns the run and
/// every AF_INET/AF_INET6 address it tried to connect to (`ip:port`).
fn traced(p: &Project, moto: &Moto, args: &[&str]) -> (crate::support::Run, Vec<String>) {
    let trace = p.path().join("connect.trace");
    let mut all: Vec<&str> = vec!["--endpoint", &moto.endpoint];
    all.extend_from_slice(args);
    let inner = p.cmd(&all);
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=connect", "-o"])
        .arg(&trace)
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(p.path());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run strace ({e}): install it with `apt-get install strace` (scripts/test does)"
        )
    });
    let run = collect(out);
    (run, inet_connects(&trace))
}

fn inet_connects(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.contains("connect(")) {
        let port = line
            .split("htons(")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap_or("?");
        if line.contains("AF_INET6") {
            let ip = line
                .split("inet_pton(AF_INET6, \"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("?");
            out.push(format!("[{ip}]:{port}"));
        } else if line.contains("AF_INET") {
            let ip = line
                .split("inet_addr(\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("?");
            out.push(format!("{ip}:{port}"));
        }
    }
    out
}

fn is_loopback(addr: &str) -> bool {
    addr.starts_with("127.") || addr.starts_with("[::1]")
}

#[test]
fn up_on_moto_stops_the_node_steps_in_one_line_and_connects_to_loopback_only() {
    // No test network may exist meanwhile (a test-node session's 172.31.0.x
    // would be directly attached, and dialled): hold the test nodes' lock.
    let _no_test_nodes = crate::testnodes::take_lock();
    let moto = Moto::start();
    for extra in [
        // The default: public addresses, which moto invents (54.x.x.x).
        vec![],
        // Private addresses, but no test network on this machine: they would
        // leave through the default gateway, so they are not dialled either.
        vec!["--set", "ssh_address=private"],
    ] {
        moto.reset();
        let p = Project::new();
        let mut args = extra.clone();
        args.push("up");
        let (run, connects) = traced(&p, &moto, &args);
        let run = run.ok();
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains("the emulator has no machines"))
            .collect();
        assert_eq!(lines.len(), 1, "{extra:?}: one line, got:\n{}", run.stderr);
        assert!(
            lines[0].starts_with("the emulator has no machines: ")
                && lines[0].ends_with("; the AWS and PKI steps are done"),
            "{}",
            lines[0]
        );
        if extra.is_empty() {
            assert!(lines[0].contains("public address 54."), "{}", lines[0]);
        } else {
            assert!(
                lines[0].contains("private address 172.31.0.1")
                    && lines[0].contains("not on a network attached to this machine"),
                "{}",
                lines[0]
            );
        }
        // The AWS and PKI steps did run.
        assert!(p.state_dir().join("k8s-cluster/pki/ca.pem").exists());
        assert!(run.stderr.contains("done in"), "{}", run.stderr);
        // The trace saw groundup's calls to moto: it does capture connects.
        let moto_addr = format!("127.0.0.1:{}", moto.port);
        assert!(
            connects.contains(&moto_addr),
            "the trace shows no connection to moto at {moto_addr}: {connects:?}"
        );
        let stray: Vec<&String> = connects.iter().filter(|c| !is_loopback(c)).collect();
        assert!(
            stray.is_empty(),
            "{extra:?}: connections to non-loopback addresses: {stray:?}"
        );
        assert!(
            !p.state_dir().join("k8s-cluster/ssh/known_hosts").exists(),
            "no host was contacted, so none was recorded"
        );
    }
}

#[test]
fn the_node_steps_fail_clearly_on_a_bad_ssh_setting() {
    let p = Project::new();
    let run = p
        .run(&["--plan", "--set", "ssh_address=bastion", "up"])
        .expect_code(1);
    assert!(
        run.err_flat()
            .contains("setting `ssh_address` = `bastion` (--set): expected public or private"),
        "{}",
        run.stderr
    );
    let run = p
        .run(&["--plan", "--set", "ssh_user=root;id", "up"])
        .expect_code(1);
    assert!(
        run.err_flat().contains("setting `ssh_user`"),
        "{}",
        run.stderr
    );
}

#[test]
fn plan_lists_every_upload_and_never_a_secret() {
    let p = Project::new();
    let run = p.run(&["--plan", "up"]).ok();
    let uploads: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("SshUpload") && l.contains("\"From\":\"pki/"))
        .collect();
    // distribute: 12 files on each of 3 masters, 5 on each of 3 workers.
    assert_eq!(uploads.len(), 3 * 12 + 3 * 5, "{}", run.stdout);
    // etcd: one unit file on each master, and nothing else from elsewhere.
    let others: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("SshUpload") && !l.contains("\"From\":\"pki/"))
        .collect();
    assert_eq!(others.len(), 3, "{}", run.stdout);
    for (l, m) in others.iter().zip(["master-0", "master-1", "master-2"]) {
        assert!(
            l.contains(&format!("\"Node\":\"{m}\""))
                && l.contains("\"Path\":\"/etc/systemd/system/etcd.service\""),
            "{l}"
        );
        assert!(!l.contains("BEGIN"), "no content in a plan: {l}");
    }
    for (node, path, mode) in [
        ("master-0", "/var/lib/kubernetes/ca-key.pem", "0600"),
        ("master-2", "/etc/etcd/master-kubernetes.pem", "0644"),
        (
            "worker-1",
            "/var/lib/kubelet/k8s-cluster-worker-1-key.pem",
            "0600",
        ),
        ("worker-2", "/var/lib/kube-proxy/kubeconfig", "0600"),
    ] {
        assert!(
            uploads
                .iter()
                .any(|l| l.contains(&format!("\"Node\":\"{node}\""))
                    && l.contains(&format!("\"Path\":\"{path}\""))
                    && l.contains(&format!("\"Mode\":\"{mode}\""))),
            "{node} {path}: {}",
            run.stdout
        );
    }
    for l in &uploads {
        if l.contains("worker-") {
            assert!(
                !l.contains("ca-key.pem") && !l.contains("service-account-key"),
                "{l}"
            );
        }
        assert!(!l.contains("BEGIN"), "no content in a plan: {l}");
    }
}
