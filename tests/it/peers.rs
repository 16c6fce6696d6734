//! Helpers that drive REAL peers against the files groundup makes:
//! `openssl`, `kubectl` and a 3-member `etcd` cluster with `etcdctl`, all
//! from Debian packages (`openssl`, `kubernetes-client`, `etcd-server`,
//! `etcd-client`).
//!
//! A missing tool FAILS the test with the command that installs it; it is
//! never skipped. Everything listens on 127.0.0.1 only, on free ports, and
//! every process started here is killed when its owner is dropped.
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long [`EtcdCluster::start`] waits for all members to be healthy.
pub const ETCD_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Panics unless `bin` is an executable on `PATH`, telling how to install it.
pub fn require_tool(bin: &str, debian_pkg: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(bin))))
        .unwrap_or(false);
    if !found {
        panic!(
            "`{bin}` not found: install it with `apt-get install -y {debian_pkg}` \
             (or run scripts/test as root)"
        );
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `cmd` and returns its output; panics if it cannot be started.
fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `openssl verify -CAfile <ca> <cert>`; panics with openssl's output unless
/// it prints `<cert>: OK`.
pub fn openssl_verify(ca: &Path, cert: &Path) {
    require_tool("openssl", "openssl");
    let out = output(
        Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(ca)
            .arg(cert),
    );
    let stdout = text(&out.stdout);
    if !out.status.success() || !stdout.contains(": OK") {
        panic!(
            "openssl verify -CAfile {} {} failed ({}):\n{stdout}{}",
            ca.display(),
            cert.display(),
            out.status,
            text(&out.stderr)
        );
    }
}

/// Like [`openssl_verify`] but returns whether verification succeeded,
/// with openssl's output, for negative tests.
pub fn openssl_verify_result(ca: &Path, cert: &Path) -> Result<String, String> {
    require_tool("openssl", "openssl");
    let out = output(
        Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(ca)
            .arg(cert),
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    if out.status.success() && all.contains(": OK") {
        Ok(all)
    } else {
        Err(all)
    }
}

/// `openssl <args...>`, returning stdout; panics with stderr on failure.
pub fn openssl(args: &[&str]) -> String {
    require_tool("openssl", "openssl");
    let out = output(Command::new("openssl").args(args));
    if !out.status.success() {
        panic!(
            "openssl {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            text(&out.stderr)
        );
    }
    text(&out.stdout)
}

/// `openssl x509 -noout -text -in <cert>`.
pub fn openssl_text(cert: &Path) -> String {
    let cert = cert.to_string_lossy();
    openssl(&["x509", "-noout", "-text", "-in", &cert])
}

/// `kubectl config view --kubeconfig <file> --raw -o json`, returning
/// stdout; panics with kubectl's stderr on failure.
pub fn kubectl_view(kubeconfig: &Path) -> String {
    require_tool("kubectl", "kubernetes-client");
    let out = output(
        Command::new("kubectl")
            .env_remove("KUBECONFIG")
            .args(["config", "view", "--kubeconfig"])
            .arg(kubeconfig)
            .args(["--raw", "-o", "json"]),
    );
    if !out.status.success() {
        panic!(
            "kubectl config view --kubeconfig {} failed ({}):\n{}",
            kubeconfig.display(),
            out.status,
            text(&out.stderr)
        );
    }
    text(&out.stdout)
}

/// `ETCDCTL_API=3 etcdctl --endpoints <e1,e2,..> --cacert <ca> [--cert
/// <cert> --key <key>] <args...>` with short timeouts. `Ok` with stdout +
/// stderr when it exits 0, else `Err` with the same.
pub fn etcdctl(
    endpoints: &[String],
    ca: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
    args: &[&str],
) -> Result<String, String> {
    require_tool("etcdctl", "etcd-client");
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(endpoints.join(","))
        .arg("--cacert")
        .arg(ca)
        .args(["--dial-timeout", "2s", "--command-timeout", "4s"]);
    if let Some(cert) = cert {
        cmd.arg("--cert").arg(cert);
    }
    if let Some(key) = key {
        cmd.arg("--key").arg(key);
    }
    cmd.args(args);
    let out = output(&mut cmd);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    if out.status.success() {
        Ok(all)
    } else {
        Err(all)
    }
}

/// `etcdctl ... endpoint health` (see [`etcdctl`]).
pub fn etcdctl_health(
    endpoints: &[String],
    ca: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<String, String> {
    etcdctl(endpoints, ca, cert, key, &["endpoint", "health"])
}

/// `n` distinct free TCP ports on 127.0.0.1 (all bound at once, then
/// released, so they differ from each other).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

/// A 3-member etcd cluster on 127.0.0.1 with mutual TLS for client and peer
/// traffic (the lesson's `--client-cert-auth --peer-client-cert-auth`, one
/// server certificate for both). Members are named `master-0`..`master-2`,
/// each with its own data dir and log file in a temporary directory. All
/// members are killed on drop.
pub struct EtcdCluster {
    /// Client URLs, `https://127.0.0.1:<port>`, one per member.
    pub endpoints: Vec<String>,
    /// Member names, `master-0`..`master-2`.
    pub names: Vec<String>,
    children: Vec<Child>,
    logs: Vec<PathBuf>,
    dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts the cluster with `cert`/`key` as server AND peer certificate
    /// and `ca` as trusted CA for clients and peers, then waits (at most
    /// [`ETCD_START_TIMEOUT`]) until `etcdctl endpoint health` with the same
    /// certificate reports every member healthy. Panics with the members'
    /// logs if they do not get there.
    pub fn start(ca: &Path, cert: &Path, key: &Path) -> EtcdCluster {
        require_tool("etcd", "etcd-server");
        require_tool("etcdctl", "etcd-client");
        let dir = tempfile::Builder::new()
            .prefix("groundup-etcd-")
            .tempdir()
            .expect("temp dir for etcd");
        let ports = free_ports(6);
        let names: Vec<String> = (0..3).map(|i| format!("master-{i}")).collect();
        let client_urls: Vec<String> = (0..3)
            .map(|i| format!("https://127.0.0.1:{}", ports[2 * i]))
            .collect();
        let peer_urls: Vec<String> = (0..3)
            .map(|i| format!("https://127.0.0.1:{}", ports[2 * i + 1]))
            .collect();
        let initial_cluster = names
            .iter()
            .zip(&peer_urls)
            .map(|(n, u)| format!("{n}={u}"))
            .collect::<Vec<_>>()
            .join(",");

        let mut cluster = EtcdCluster {
            endpoints: client_urls.clone(),
            names: names.clone(),
            children: Vec::new(),
            logs: Vec::new(),
            dir,
        };
        for i in 0..3 {
            let data_dir = cluster.dir.path().join(&names[i]);
            let log_path = cluster.dir.path().join(format!("{}.log", names[i]));
            let log = File::create(&log_path).expect("etcd log file");
            let log_err = log.try_clone().expect("etcd log file");
            let child = Command::new("etcd")
                .arg("--name")
                .arg(&names[i])
                .arg("--data-dir")
                .arg(&data_dir)
                .arg("--listen-client-urls")
                .arg(&client_urls[i])
                .arg("--advertise-client-urls")
                .arg(&client_urls[i])
                .arg("--listen-peer-urls")
                .arg(&peer_urls[i])
                .arg("--initial-advertise-peer-urls")
                .arg(&peer_urls[i])
                .arg("--initial-cluster")
                .arg(&initial_cluster)
                .args(["--initial-cluster-token", "groundup-test"])
                .args(["--initial-cluster-state", "new"])
                .arg("--client-cert-auth")
                .arg("--trusted-ca-file")
                .arg(ca)
                .arg("--cert-file")
                .arg(cert)
                .arg("--key-file")
                .arg(key)
                .arg("--peer-client-cert-auth")
                .arg("--peer-trusted-ca-file")
                .arg(ca)
                .arg("--peer-cert-file")
                .arg(cert)
                .arg("--peer-key-file")
                .arg(key)
                .args(["--logger", "zap"])
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start etcd {}: {e}", names[i]));
            cluster.children.push(child);
            cluster.logs.push(log_path);
        }

        let deadline = Instant::now() + ETCD_START_TIMEOUT;
        loop {
            for (i, child) in cluster.children.iter_mut().enumerate() {
                if let Ok(Some(status)) = child.try_wait() {
                    let logs = cluster.logs_tail();
                    panic!("etcd {} exited early ({status}):\n{logs}", cluster.names[i]);
                }
            }
            let last = etcdctl_health(&cluster.endpoints, ca, Some(cert), Some(key));
            if let Ok(out) = &last
                && out.matches("is healthy").count() == cluster.endpoints.len()
            {
                return cluster;
            }
            if Instant::now() >= deadline {
                let logs = cluster.logs_tail();
                panic!(
                    "etcd cluster not healthy after {ETCD_START_TIMEOUT:?}; last etcdctl: \
                     {last:?}\n{logs}"
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Every member's whole log, concatenated.
    pub fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    /// The last lines of every member's log, for failure messages.
    pub fn logs_tail(&self) -> String {
        let mut out = String::new();
        for (name, path) in self.names.iter().zip(&self.logs) {
            let log = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let start = lines.len().saturating_sub(15);
            out.push_str(&format!("--- {name} ({}) ---\n", path.display()));
            for line in &lines[start..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// The temporary directory holding the data dirs and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}
