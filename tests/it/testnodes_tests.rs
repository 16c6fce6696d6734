//! The test nodes themselves: they boot, take real OpenSSH logins as
//! `ubuntu` with passwordless sudo, are separate machines, and leave nothing
//! behind. Each test holds the machine-wide node lock, so they run in turn.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::testnodes::{NodeSpec, TestNodes, public_key_of};

/// A fresh RSA key pair made by OpenSSH's ssh-keygen: the private key's path.
fn key_pair(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("id_rsa");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    key
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn two() -> Vec<NodeSpec> {
    vec![
        NodeSpec::new("master-0", "172.31.0.10"),
        NodeSpec::new("worker-0", "172.31.0.20"),
    ]
}

/// Everything the harness leaves on the host while nodes exist.
fn traces() -> Vec<String> {
    let mut t = Vec::new();
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    t.extend(
        stdout(&netns)
            .lines()
            .filter(|l| l.starts_with("gtn-"))
            .map(|l| format!("netns {l}")),
    );
    let link = Command::new("ip")
        .args(["-br", "link"])
        .output()
        .expect("ip link");
    t.extend(
        stdout(&link)
            .lines()
            .filter(|l| l.starts_with("gtn-"))
            .map(|l| format!("link {l}")),
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    t.extend(
        mounts
            .lines()
            .filter(|l| l.contains("/run/groundup-testnodes"))
            .map(|l| format!("mount {l}")),
    );
    for d in [
        "/run/groundup-testnodes",
        "/sys/fs/cgroup/systemd/groundup-testnodes",
        "/sys/fs/cgroup/unified/groundup-testnodes",
    ] {
        if Path::new(d).exists() {
            t.push(format!("dir {d}"));
        }
    }
    t
}

/// PIDs of every process in the nodes' network namespaces.
fn node_pids(nodes: &TestNodes) -> Vec<u32> {
    nodes
        .nodes()
        .iter()
        .flat_map(|n| {
            let out = Command::new("ip")
                .args(["netns", "pids", &format!("gtn-{}", n.name)])
                .output()
                .expect("ip netns pids");
            stdout(&out)
                .lines()
                .map(|p| p.parse::<u32>().expect("a pid"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn six_nodes_take_openssh_logins_as_ubuntu_and_share_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = key_pair(dir.path());
    let known_hosts = dir.path().join("known_hosts");
    let nodes = TestNodes::lesson();
    nodes.authorize(&public_key_of(&key));

    let mut machine_ids = HashSet::new();
    for n in nodes.nodes() {
        // The real OpenSSH client, from the host, as the lesson logs in.
        let out = nodes.ssh(
            &n.name,
            &key,
            &known_hosts,
            "hostname && sudo -n true && echo sudo-ok",
        );
        assert!(
            out.status.success(),
            "ssh to {}: {}",
            n.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout(&out),
            format!("{}\nsudo-ok", n.hostname()),
            "{}",
            n.name
        );
        assert_eq!(
            n.hostname(),
            format!("ip-{}", n.ip.to_string().replace('.', "-"))
        );

        assert_eq!(
            nodes.exec_ok(&n.name, "systemctl is-system-running").trim(),
            "running",
            "{}",
            n.name
        );
        assert_eq!(
            nodes
                .exec_ok(&n.name, "stat -c '%U %a' /home/ubuntu/.ssh/authorized_keys")
                .trim(),
            "ubuntu 600"
        );
        // No way out: no default route on the node.
        assert_eq!(
            nodes.exec_ok(&n.name, "ip route show default"),
            "",
            "{}",
            n.name
        );
        machine_ids.insert(
            nodes
                .exec_ok(&n.name, "cat /etc/machine-id")
                .trim()
                .to_string(),
        );
        // Its own cgroup tree on the host, in both hierarchies.
        for h in ["systemd", "unified"] {
            let payload = format!("/sys/fs/cgroup/{h}/groundup-testnodes/{}/payload", n.name);
            assert!(Path::new(&payload).is_dir(), "{payload}");
        }
    }
    assert_eq!(
        machine_ids.len(),
        6,
        "every node has its own machine-id: {machine_ids:?}"
    );

    // Each node made its own host keys: six different ed25519 keys were recorded.
    let recorded = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    let keys: HashSet<&str> = recorded
        .lines()
        .filter(|l| l.contains("ssh-ed25519"))
        .map(|l| l.split_whitespace().nth(2).expect("a key"))
        .collect();
    assert_eq!(keys.len(), 6, "six host keys: {recorded}");
    let via_exec: HashSet<String> = nodes
        .nodes()
        .iter()
        .flat_map(|n| nodes.host_keys(&n.name))
        .collect();
    assert!(
        keys.iter().all(|k| via_exec.iter().any(|l| l.ends_with(k))),
        "host_keys() agrees with ssh"
    );

    // Nodes share no files: a file written on one is absent on another.
    nodes.ssh(
        "master-0",
        &key,
        &known_hosts,
        "echo mine > ~/only-here && sudo touch /etc/only-here",
    );
    assert_eq!(
        nodes
            .exec_ok("master-0", "cat /home/ubuntu/only-here")
            .trim(),
        "mine"
    );
    for other in ["master-1", "worker-0"] {
        let out = nodes.exec(other, "ls /home/ubuntu/only-here /etc/only-here");
        assert!(
            !out.status.success(),
            "{other} sees master-0's files: {}",
            stdout(&out)
        );
    }

    // The host leg is a directly attached network, and the host does not forward.
    let route = Command::new("ip")
        .args(["route", "get", "172.31.0.22"])
        .output()
        .expect("ip route");
    assert!(
        stdout(&route).contains("dev gtn-host"),
        "{}",
        stdout(&route)
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .expect("ip_forward")
            .trim(),
        "0"
    );
}

#[test]
fn teardown_leaves_nothing_and_a_second_session_boots() {
    let nodes = TestNodes::boot(&two());
    assert!(!traces().is_empty(), "nodes up leave traces to look for");
    let pids = node_pids(&nodes);
    assert!(
        pids.len() >= 4,
        "each node runs systemd, journald, sshd…: {pids:?}"
    );
    drop(nodes);
    assert_eq!(traces(), Vec::<String>::new(), "left after teardown");
    let alive: Vec<_> = pids
        .iter()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect();
    assert!(alive.is_empty(), "processes left after teardown: {alive:?}");
    // (Never connect to a node address now: with the host leg gone, a
    // packet to 172.31.0.x would leave by the default route.)
    let route = Command::new("ip")
        .args(["route", "get", "172.31.0.10"])
        .output()
        .expect("ip route");
    assert!(!stdout(&route).contains("gtn-host"), "{}", stdout(&route));

    let again = TestNodes::boot(&two());
    assert_eq!(
        again.exec_ok("worker-0", "hostname").trim(),
        "ip-172-31-0-20"
    );
    drop(again);
    assert_eq!(
        traces(),
        Vec::<String>::new(),
        "left after the second teardown"
    );
}

#[test]
fn a_stopped_node_refuses_connections_until_it_boots() {
    let nodes = TestNodes::boot_except(&two(), &["worker-0"]);
    let addr = SocketAddr::from(([172, 31, 0, 20], 22));
    // Its network is there: the connection is refused at once, not timed out.
    let t = Instant::now();
    let err =
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect_err("worker-0 is off");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "refused fast: {:?}",
        t.elapsed()
    );
    assert_eq!(
        nodes.exec_ok("master-0", "hostname").trim(),
        "ip-172-31-0-10"
    );

    let t = Instant::now();
    nodes.start_node("worker-0");
    nodes.wait_ssh_node("worker-0");
    eprintln!("testnodes: one node booted late in {:.1?}", t.elapsed());
    assert_eq!(
        nodes.exec_ok("worker-0", "hostname").trim(),
        "ip-172-31-0-20"
    );
    nodes.exec_ok("worker-0", "echo kept > /root/kept");

    nodes.stop_node("worker-0");
    let err =
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect_err("worker-0 stopped");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(
        !nodes.exec("worker-0", "true").status.success(),
        "exec on a stopped node fails"
    );
    // A reboot keeps the node's files.
    nodes.start_node("worker-0");
    nodes.wait_ssh_node("worker-0");
    assert_eq!(nodes.exec_ok("worker-0", "cat /root/kept").trim(), "kept");
}

#[test]
fn a_reset_host_key_is_refused_by_openssh() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = key_pair(dir.path());
    let known_hosts = dir.path().join("known_hosts");
    let nodes = TestNodes::boot(&two());
    nodes.authorize(&public_key_of(&key));
    assert!(
        nodes
            .ssh("master-0", &key, &known_hosts, "true")
            .status
            .success()
    );
    let before = nodes.host_keys("master-0");
    let other = nodes.host_keys("worker-0");

    nodes.reset_host_key("master-0");
    let after = nodes.host_keys("master-0");
    assert!(
        before.iter().all(|k| !after.contains(k)),
        "new keys: {before:?} / {after:?}"
    );
    assert_eq!(nodes.host_keys("worker-0"), other, "only master-0 changed");
    let out = nodes.ssh("master-0", &key, &known_hosts, "true");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_gives_the_nodes_files_from_the_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let body = "etcd-v3.5.0-linux-amd64.tar.gz stands in here\n".repeat(1000);
    std::fs::write(dir.path().join("release.tar.gz"), &body).expect("write");
    let nodes = TestNodes::boot(&two());
    let url = nodes.serve(dir.path());
    assert!(url.starts_with("http://172.31.0.1:"), "{url}");
    let got = nodes.exec_ok(
        "worker-0",
        &format!("curl -fsS {url}/release.tar.gz | sha256sum"),
    );
    let want = Command::new("sha256sum")
        .arg(dir.path().join("release.tar.gz"))
        .output()
        .expect("sha256sum");
    assert_eq!(
        got.split_whitespace().next(),
        stdout(&want).split_whitespace().next()
    );
    let missing = nodes.exec("worker-0", &format!("curl -fsS {url}/nope"));
    assert!(!missing.status.success(), "a missing file is a 404");
}

/// Not a test by itself: the session `a_killed_test_process_leaves_nothing`
/// kills. Boots a node, says so, and waits to be killed.
#[test]
#[ignore = "run by a_killed_test_process_leaves_nothing"]
fn killed_session_helper() {
    if std::env::var_os("GROUNDUP_TESTNODES_KILLED_HELPER").is_none() {
        return;
    }
    let nodes = TestNodes::boot(&[NodeSpec::new("worker-2", "172.31.0.22")]);
    let pids: Vec<String> = node_pids(&nodes).iter().map(u32::to_string).collect();
    println!("BOOTED {}", pids.join(" "));
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_killed_test_process_leaves_nothing() {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "testnodes_tests::killed_session_helper",
            "--ignored",
            "--nocapture",
        ])
        .env("GROUNDUP_TESTNODES_KILLED_HELPER", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the test binary");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let booted = lines
        .find_map(|l| {
            l.ok()
                .and_then(|l| l.strip_prefix("BOOTED ").map(str::to_string))
        })
        .expect("the helper boots a node");
    let pids: Vec<u32> = booted
        .split_whitespace()
        .map(|p| p.parse().expect("a pid"))
        .collect();
    assert!(!pids.is_empty());
    // SIGKILL: no Drop runs. (Killing systemd-nspawn so would leave its
    // container running; the reaper must end every process by PID.)
    child.kill().expect("kill");
    child.wait().expect("wait");
    // The reaper holds the helper's stderr until it is done.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(
        stderr.contains("ended without tearing its nodes down: cleaning up"),
        "{stderr}"
    );
    let _lock = crate::testnodes::take_lock();
    assert_eq!(
        traces(),
        Vec::<String>::new(),
        "left after a killed session"
    );
    let alive: Vec<_> = pids
        .iter()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect();
    assert!(
        alive.is_empty(),
        "processes left after a killed session: {alive:?}"
    );
}

#[test]
fn the_nodes_of_a_cluster_up_on_moto_take_its_key() {
    use crate::support::{Moto, Project};
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &["run", "network", "compute"]).ok();
    let specs = NodeSpec::from_state(&p.state("k8s-cluster"));
    assert_eq!(
        specs,
        NodeSpec::lesson(),
        "up's nodes are the lesson's, by private IP"
    );
    let nodes = TestNodes::boot(&specs);
    // cloud-init's part: the public half of the key pair up made.
    let key = p.state_dir().join("k8s-cluster/ssh/k8s-cluster.id_rsa");
    nodes.authorize(&public_key_of(&key));
    let known_hosts = p.path().join("known_hosts");
    for n in ["master-0", "worker-2"] {
        let out = nodes.ssh(n, &key, &known_hosts, "hostname");
        assert!(
            out.status.success(),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout(&out), nodes.node(n).hostname());
    }
}
