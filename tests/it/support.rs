//! Shared test helpers: a moto server per test, a temp project dir, and a
//! way to run the groundup binary and look at what it did.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The moto_server executable: `$GROUNDUP_MOTO_SERVER`, else `.venv/bin/moto_server`.
/// A missing moto fails the test with the command that installs it.
pub fn moto_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GROUNDUP_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let p = repo().join(".venv/bin/moto_server");
    if !p.exists() {
        panic!(
            "moto_server not found at {}: run `scripts/test` (it creates .venv with `moto[server]`), \
             or `python3 -m venv .venv && .venv/bin/pip install 'moto[server]>=5,<6'`",
            p.display()
        );
    }
    p
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A moto server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The port.
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto with the default environment.
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// Starts moto with extra environment (e.g. `MOTO_ENABLE_AMI_VALIDATION`).
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("moto.log");
        for _attempt in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(moto_server_bin());
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).expect("moto log"));
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start moto_server: {e}"));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if http(port, "GET", "/moto-api/data.json").is_some() {
                    warm_up_ec2(port);
                    return Moto {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                        port,
                        log,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut text = String::new();
        let _ = File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
        panic!("moto_server did not start: {text}");
    }

    /// AWS API requests moto has answered so far (its request log, without
    /// moto's own `/moto-api` calls).
    pub fn requests(&self) -> usize {
        // moto logs a request after answering it: wait until the log is still.
        let mut n = self.request_lines().len();
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let m = self.request_lines().len();
            if m == n {
                return n;
            }
            n = m;
        }
    }

    /// The request log lines.
    pub fn request_lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| {
                l.contains("HTTP/1.1\"") && !l.contains("/moto-api") && !l.contains(WARM_UP)
            })
            .map(str::to_string)
            .collect()
    }

    /// Resets all of moto's state.
    pub fn reset(&self) {
        http(self.port, "POST", "/moto-api/reset").expect("moto reset");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request to 127.0.0.1:port; returns the body on 2xx.
/// The query marker of the harness's own warm-up request (not counted).
const WARM_UP: &str = "groundup-test-warm-up";

/// moto builds its EC2 backend for a region lazily, on the first EC2 request
/// (its ~1300 images and the region list): 3-7 s of CPU on this machine
/// class, which would land inside the first command a test runs (doctor's
/// 5 s per-check limit saw it as "no answer"). AWS has no such cold start, so
/// the harness pays it once here, with a request its counters leave out.
fn warm_up_ec2(port: u16) {
    let body = "Action=DescribeRegions&Version=2016-11-15";
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = write!(
        s,
        "POST /?{WARM_UP}=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-2/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
}

pub fn http(port: u16, method: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let ok = buf.starts_with("HTTP/1.1 2") || buf.starts_with("HTTP/1.0 2");
    ok.then(|| buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

/// The result of running groundup.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with the output unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
    /// Panics unless it succeeded.
    pub fn ok(self) -> Run {
        self.expect_code(0)
    }
    /// stderr with miette's line wrapping undone (for `contains` checks).
    pub fn err_flat(&self) -> String {
        self.stderr.replace("\n  │ ", " ")
    }
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A temporary project directory (cwd of groundup) with its state dir.
pub struct Project {
    /// The directory.
    pub dir: tempfile::TempDir,
    /// Environment added to every run.
    pub env: Vec<(String, String)>,
}

impl Project {
    /// A new empty project dir (runbooks resolve to the built-in copies).
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
            env: Vec::new(),
        }
    }

    /// The project path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The state dir (`.groundup` inside the project).
    pub fn state_dir(&self) -> PathBuf {
        self.path().join(".groundup")
    }

    /// A cluster's state.json, parsed.
    pub fn state(&self, cluster: &str) -> serde_json::Value {
        let p = self.state_dir().join(cluster).join("state.json");
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).expect("state.json is JSON")
    }

    /// A groundup command in this project, fenced in: loopback only, dummy
    /// credentials, no profile, no colour.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.pty_cmd(args);
        c.stdin(Stdio::null());
        c
    }

    /// The same command with its standard streams left alone, for running
    /// it on a pseudo-terminal (the terminal becomes its stdin/stdout).
    pub fn pty_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_groundup"));
        c.current_dir(self.path())
            .args(args)
            .env("GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT", "1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_CONFIG_FILE", "/nonexistent/groundup-test-aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/groundup-test-aws-credentials",
            );
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs groundup with `args` and collects the result.
    pub fn run(&self, args: &[&str]) -> Run {
        collect(self.cmd(args).output().expect("run groundup"))
    }

    /// Runs groundup with `input` on its standard input.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run groundup");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
        drop(stdin);
        collect(child.wait_with_output().expect("wait for groundup"))
    }

    /// Runs groundup against a moto endpoint.
    pub fn run_on(&self, moto: &Moto, args: &[&str]) -> Run {
        let mut all: Vec<&str> = vec!["--endpoint", &moto.endpoint];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

/// Collects a process's output.
pub fn collect(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// SDK clients on a moto endpoint, for assertions.
pub struct Sdk {
    /// A runtime to block on.
    pub rt: tokio::runtime::Runtime,
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// ELBv2.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl Sdk {
    /// Clients for `moto` in us-east-2 with dummy credentials.
    pub fn new(moto: &Moto) -> Sdk {
        Self::in_region(moto, "us-east-2")
    }

    /// Clients for `moto` in a region.
    pub fn in_region(moto: &Moto, region: &str) -> Sdk {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let creds =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
        let config = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region.to_string()))
                .endpoint_url(&moto.endpoint)
                .credentials_provider(creds)
                .load(),
        );
        Sdk {
            ec2: aws_sdk_ec2::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            rt,
        }
    }

    /// Blocks on a future.
    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A cluster-tag filter.
    pub fn cluster(c: &str) -> aws_sdk_ec2::types::Filter {
        aws_sdk_ec2::types::Filter::builder()
            .name("tag:groundup:cluster")
            .values(c)
            .build()
    }
}

/// A loopback TCP server that counts the connections made to it and
/// either closes each at once (`reset`) or holds it open without ever
/// answering. Stops accepting when dropped.
pub struct CountingServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CountingServer {
    /// Starts one.
    pub fn start(reset: bool) -> CountingServer {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            // Bounded: a test never runs for ten minutes.
            let deadline = Instant::now() + Duration::from_secs(600);
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((sock, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        if reset {
                            // Closed before any answer: the client sees the
                            // connection end mid-request.
                            drop(sock);
                        } else {
                            held.push(sock);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        CountingServer {
            endpoint,
            count,
            stop,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
