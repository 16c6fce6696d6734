//! Real test nodes for the tests: Debian machines booted on this machine.
//!
//! Each node is a `systemd-nspawn --boot` container (its own systemd, sshd,
//! overlay root fs, network namespace) at the lesson's addresses, reached
//! from the host through a veth leg at 172.31.0.1/24. `scripts/testnodes`
//! does the work (one source for the layout; see its header); this module is
//! the API tests use:
//!
//! ```ignore
//! let nodes = TestNodes::lesson();              // the six, sshd listening
//! nodes.authorize(&public_key_of(&key_path));   // cloud-init's part
//! let out = nodes.exec("master-0", "hostname"); // as root, inside the node
//! ```
//!
//! For a cluster `groundup up` made on moto, boot the nodes its state names
//! (same names and private IPs) and play cloud-init with the cluster's key:
//!
//! ```ignore
//! let nodes = TestNodes::boot(&NodeSpec::from_state(&project.state("k8s-cluster")));
//! let key = project.state_dir().join("k8s-cluster/ssh/k8s-cluster.id_rsa");
//! nodes.authorize(&public_key_of(&key));
//! ```
//!
//! A `TestNodes` holds the machine-wide lock `/run/groundup-testnodes.lock`
//! for its whole life, so tests (in this binary, other checkouts, CI) that use
//! nodes run one after another. Dropping it tears everything down; if the
//! test process dies instead, a reaper process (`scripts/testnodes reap`,
//! which shares the lock) cleans up, and the next session also removes any
//! stale leftovers before it boots.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::repo;

/// The machine-wide lock every test-node session holds.
pub const LOCK: &str = "/run/groundup-testnodes.lock";
/// The host's address on the nodes' network (a directly attached /24).
pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(172, 31, 0, 1);
/// The Debian packages the test nodes need on the host.
pub const INSTALL: &str = "apt-get install -y --no-install-recommends systemd-container debootstrap openssh-client iproute2";

/// One node: a name (`master-0`) and its private address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub ip: Ipv4Addr,
}

impl NodeSpec {
    pub fn new(name: &str, ip: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_string(),
            ip: ip.parse().expect("an IPv4 address"),
        }
    }

    /// The EC2-like host name, `ip-172-31-0-10`.
    pub fn hostname(&self) -> String {
        format!("ip-{}", self.ip.to_string().replace('.', "-"))
    }

    /// The lesson's six: masters 172.31.0.10–12, workers 172.31.0.20–22.
    pub fn lesson() -> Vec<NodeSpec> {
        let masters =
            (0..3).map(|i| NodeSpec::new(&format!("master-{i}"), &format!("172.31.0.{}", 10 + i)));
        let workers =
            (0..3).map(|i| NodeSpec::new(&format!("worker-{i}"), &format!("172.31.0.{}", 20 + i)));
        masters.chain(workers).collect()
    }
}

impl NodeSpec {
    /// The nodes `groundup up` recorded in a cluster's state (its `nodes`
    /// map: name → `private_ip`): moto's instances are not machines, so the
    /// test nodes stand in for them at the same private addresses.
    pub fn from_state(state: &serde_json::Value) -> Vec<NodeSpec> {
        let nodes = state["nodes"].as_object().expect("state has a `nodes` map");
        let mut specs: Vec<NodeSpec> = nodes
            .iter()
            .map(|(name, n)| NodeSpec::new(name, n["private_ip"].as_str().expect("a private_ip")))
            .collect();
        specs.sort_by_key(|n| n.ip);
        specs
    }
}

/// A set of booted test nodes; dropping it tears them all down.
pub struct TestNodes {
    nodes: Vec<NodeSpec>,
    /// The servers `serve` started, killed on drop.
    servers: Mutex<Vec<Child>>,
    /// Told "done" after our own teardown; cleans up if we die first.
    reaper: Option<(Child, ChildStdin)>,
    _lock: File,
}

impl TestNodes {
    /// Boots the lesson's six nodes and waits for their sshd.
    pub fn lesson() -> TestNodes {
        TestNodes::boot(&NodeSpec::lesson())
    }

    /// Boots `specs` and waits until every node's sshd accepts connections.
    pub fn boot(specs: &[NodeSpec]) -> TestNodes {
        TestNodes::boot_except(specs, &[])
    }

    /// Like `boot`, but leaves the nodes named in `stopped` powered off
    /// (network and files ready): `start_node` boots them later.
    pub fn boot_except(specs: &[NodeSpec], stopped: &[&str]) -> TestNodes {
        check_host();
        let lock = take_lock();
        let reaper = spawn_reaper(&lock);
        let nodes = TestNodes {
            nodes: specs.to_vec(),
            servers: Mutex::new(Vec::new()),
            reaper: Some(reaper),
            _lock: lock,
        };
        let mut args = vec!["up".to_string()];
        if !stopped.is_empty() {
            args.push(format!("--stopped={}", stopped.join(",")));
        }
        args.extend(specs.iter().map(|n| format!("{}={}", n.name, n.ip)));
        let t = Instant::now();
        script(&args.iter().map(String::as_str).collect::<Vec<_>>());
        eprintln!(
            "testnodes: {} nodes booted in {:.1?}",
            specs.len() - stopped.len(),
            t.elapsed()
        );
        nodes
    }

    /// The nodes, in boot order.
    pub fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> &NodeSpec {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no test node {name}"))
    }

    /// Plays cloud-init: puts `pubkey_openssh` (one `ssh-rsa AAAA…` line) in
    /// `/home/ubuntu/.ssh/authorized_keys` on every node, owner ubuntu, 0600.
    pub fn authorize(&self, pubkey_openssh: &str) {
        script_with_input(&["authorize", "-"], pubkey_openssh.trim());
    }

    /// `node`'s root directory as the host sees it (its overlay, mounted):
    /// files put here appear on the node at once; prefer `exec` to look.
    pub fn root_dir(&self, node: &str) -> PathBuf {
        self.node(node);
        PathBuf::from(format!("/run/groundup-testnodes/nodes/{node}/root"))
    }

    /// Runs `cmd` with `sh -c` as root inside `node`; code, stdout and stderr.
    pub fn exec(&self, node: &str, cmd: &str) -> Output {
        self.node(node);
        Command::new(script_path())
            .args(["exec", node, "sh", "-c", cmd])
            .env("GROUNDUP_TESTNODES_LOCKED", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("scripts/testnodes exec: {e}"))
    }

    /// Like `exec`, but panics unless `cmd` succeeds; returns its stdout.
    pub fn exec_ok(&self, node: &str, cmd: &str) -> String {
        let out = self.exec(node, cmd);
        assert!(
            out.status.success(),
            "on {node}: `{cmd}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until every running node's sshd accepts TCP on port 22.
    pub fn wait_ssh(&self) {
        for n in &self.nodes {
            self.wait_ssh_node(&n.name);
        }
    }

    /// Waits until `node`'s sshd accepts TCP on port 22 (90 s at most).
    pub fn wait_ssh_node(&self, node: &str) {
        let addr = SocketAddr::from((self.node(node).ip, 22));
        let deadline = Instant::now() + Duration::from_secs(90);
        while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{node} ({addr}): sshd not up after 90 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Shuts `node` down (an orderly poweroff, then SIGKILL by PID of what is
    /// left); its network stays, so connecting to it is refused, as to a
    /// machine that is booting.
    pub fn stop_node(&self, node: &str) {
        self.node(node);
        script(&["stop", node]);
    }

    /// Boots `node` (stopped, or left off by `boot_except`) and returns at
    /// once; `wait_ssh_node` waits for its sshd. Its files are kept.
    pub fn start_node(&self, node: &str) {
        self.node(node);
        script(&["start", "--no-wait", node]);
    }

    /// Gives `node` new SSH host keys (sshd restarted; waits for it), as a
    /// replaced or tampered-with machine would have.
    pub fn reset_host_key(&self, node: &str) {
        self.node(node);
        script(&["reset-host-key", node]);
    }

    /// Runs `cmd` on `node` as `ubuntu` with the real OpenSSH client from the
    /// host: key `key`, host keys in `known_hosts` (recorded on first contact,
    /// a changed one refused), no agent, no config file, batch mode.
    pub fn ssh(&self, node: &str, key: &Path, known_hosts: &Path, cmd: &str) -> Output {
        let ip = self.node(node).ip;
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .args([
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                "ConnectTimeout=5",
                "-i",
            ])
            .arg(key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .arg(format!("ubuntu@{ip}"))
            .arg(cmd)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("ssh: {e} ({INSTALL})"))
    }

    /// `node`'s SSH host public keys, as `known_hosts`-style lines without a
    /// host (`ssh-ed25519 AAAA…`), read inside the node.
    pub fn host_keys(&self, node: &str) -> Vec<String> {
        self.exec_ok(node, "cat /etc/ssh/ssh_host_*_key.pub")
            .lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// Serves `dir` over HTTP to the nodes, from 172.31.0.1 on a free port;
    /// returns the base URL (`http://172.31.0.1:PORT`). Stopped on drop.
    pub fn serve(&self, dir: &Path) -> String {
        const SERVER: &str = "import functools, http.server, sys\n\
            class H(http.server.SimpleHTTPRequestHandler):\n    def log_message(self, *a): pass\n\
            h = functools.partial(H, directory=sys.argv[1])\n\
            s = http.server.ThreadingHTTPServer((sys.argv[2], 0), h)\n\
            print(s.server_address[1], flush=True)\n\
            s.serve_forever()\n";
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(dir)
            .arg(HOST_IP.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start python3 for serve(): {e} (apt-get install -y python3)")
            });
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server's port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("serve({}): the HTTP server did not start", dir.display())
        });
        self.servers.lock().expect("servers").push(child);
        format!("http://{HOST_IP}:{port}")
    }
}

impl Drop for TestNodes {
    fn drop(&mut self) {
        for mut s in self
            .servers
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
        {
            let _ = s.kill();
            let _ = s.wait();
        }
        let down = Command::new(script_path())
            .arg("down")
            .env("GROUNDUP_TESTNODES_LOCKED", "1")
            .stdin(Stdio::null())
            .status();
        if let Some((mut reaper, mut stdin)) = self.reaper.take() {
            if matches!(down, Ok(s) if s.success()) {
                let _ = stdin.write_all(b"done\n");
            }
            drop(stdin);
            let _ = reaper.wait();
        }
        if !std::thread::panicking() {
            match down {
                Ok(s) if s.success() => {}
                other => panic!("scripts/testnodes down failed: {other:?}"),
            }
        }
    }
}

/// The OpenSSH public key (`ssh-rsa AAAA…`) of a private key file, by `ssh-keygen -y`.
pub fn public_key_of(private_key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(private_key)
        .output()
        .unwrap_or_else(|e| panic!("ssh-keygen: {e} ({INSTALL})"));
    assert!(
        out.status.success(),
        "ssh-keygen -y -f {}: {}",
        private_key.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `scripts/testnodes` in this checkout.
pub fn script_path() -> PathBuf {
    repo().join("scripts/testnodes")
}

/// Root and the host tools, or a panic that says how to get them.
fn check_host() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert_eq!(
        uid.as_deref().ok(),
        Some("0"),
        "test nodes need root (namespaces, mounts, systemd-nspawn)"
    );
    for tool in [
        "systemd-nspawn",
        "debootstrap",
        "ssh",
        "ssh-keygen",
        "ip",
        "nsenter",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "{tool} not found: the test nodes need it; run scripts/test as root, or {INSTALL}"
        );
    }
}

/// The machine-wide session lock; says so while it waits.
pub fn take_lock() -> File {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .unwrap_or_else(|e| panic!("cannot open {LOCK}: {e}"));
    if lock.try_lock().is_err() {
        eprintln!("testnodes: waiting for {LOCK} (another test-node session runs)");
        lock.lock().unwrap_or_else(|e| panic!("lock {LOCK}: {e}"));
    }
    lock
}

/// The reaper: shares the lock (as its stdout), cleans up if we die.
fn spawn_reaper(lock: &File) -> (Child, ChildStdin) {
    let mut child = Command::new(script_path())
        .arg("reap")
        .env("GROUNDUP_TESTNODES_LOCKED", "1")
        .stdin(Stdio::piped())
        .stdout(lock.try_clone().expect("dup of the lock"))
        // Its own process group: a Ctrl-C of the tests must not stop it.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start scripts/testnodes reap: {e}"));
    let stdin = child.stdin.take().expect("piped stdin");
    (child, stdin)
}

/// Runs `scripts/testnodes ARGS` (under our lock); panics with its output on failure.
fn script(args: &[&str]) {
    script_with_input(args, "");
}

fn script_with_input(args: &[&str], input: &str) {
    let mut child = Command::new(script_path())
        .args(args)
        .env("GROUNDUP_TESTNODES_LOCKED", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run scripts/testnodes: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .expect("write to scripts/testnodes");
    }
    let out = child.wait_with_output().expect("scripts/testnodes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "scripts/testnodes {} failed ({}): {stderr}",
        args.join(" "),
        out.status
    );
}
