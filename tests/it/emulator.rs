//! The emulator groundup manages itself (`--local`, `groundup emulator`):
//! its lifecycle (start, reuse, stop, a stale record, a taken port, moto
//! missing), the whole lesson from an empty directory with no AWS variables,
//! and the guard that keeps emulator state and AWS state apart.
//!
//! Every test has its own HOME, XDG_DATA_HOME and XDG_RUNTIME_DIR, and its
//! groundup processes see nothing of the test's environment but PATH: the
//! emulator is the real moto of the test harness (GROUNDUP_MOTO_SERVER), so
//! nothing is pip-installed here.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Run, collect, moto_server_bin};

/// An isolated user: home, data and runtime directories, and an empty
/// project directory to run in. Stops its emulator when dropped.
struct User {
    root: tempfile::TempDir,
    /// Environment added to every run (after the isolated base).
    env: Vec<(String, String)>,
}

impl User {
    fn new() -> User {
        let root = tempfile::tempdir().expect("temp dir");
        for d in ["home", "data", "run", "project"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        User {
            root,
            env: vec![(
                "GROUNDUP_MOTO_SERVER".into(),
                moto_server_bin().display().to_string(),
            )],
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    fn project(&self) -> PathBuf {
        self.path("project")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_groundup"));
        c.current_dir(self.project())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        collect(self.cmd(args).output().expect("run groundup"))
    }

    fn record_path(&self) -> PathBuf {
        self.path("run/groundup/emulator.json")
    }

    /// The emulator's record, if any.
    fn record(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.record_path()).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_record(&self, pid: u32, port: u16) {
        std::fs::create_dir_all(self.path("run/groundup")).unwrap();
        let rec = serde_json::json!({
            "pid": pid,
            "port": port,
            "moto": moto_server_bin(),
            "log": self.path("run/groundup/emulator.log"),
        });
        std::fs::write(self.record_path(), rec.to_string()).unwrap();
    }
}

impl Drop for User {
    fn drop(&mut self) {
        if let Some(rec) = self.record() {
            let _ = self.cmd(&["emulator", "stop"]).output();
            // Whatever happened, no moto outlives the test.
            if let Some(pid) = rec["pid"].as_u64()
                && alive(pid as u32)
                && cmdline(pid as u32).contains("moto")
            {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// `127.0.0.1:PORT (pid N)` → (port, pid).
fn address_and_pid(line: &str) -> (u16, u32) {
    let re = regex_lite(line);
    re.unwrap_or_else(|| panic!("not `127.0.0.1:PORT (pid N)`: {line:?}"))
}

fn regex_lite(line: &str) -> Option<(u16, u32)> {
    let rest = line.trim().strip_prefix("127.0.0.1:")?;
    let (port, rest) = rest.split_once(" (pid ")?;
    let pid = rest.strip_suffix(')')?;
    Some((port.parse().ok()?, pid.parse().ok()?))
}

#[test]
fn start_reuse_status_and_stop() {
    let u = User::new();
    let run = u.run(&["emulator", "status"]).ok();
    assert_eq!(run.stdout.trim(), "not running");

    let first = u.run(&["emulator", "start"]).ok();
    let (port, pid) = address_and_pid(&first.stdout);
    assert!(
        first.stderr.contains("started the local AWS emulator"),
        "{}",
        first.stderr
    );
    assert!(listening(port), "nothing listens on 127.0.0.1:{port}");
    assert!(
        cmdline(pid).contains("moto"),
        "pid {pid} is {}",
        cmdline(pid)
    );
    let rec = u.record().expect("a record");
    assert_eq!(rec["pid"], pid);
    assert_eq!(rec["port"], port);

    // Started again: the same one is reused.
    let again = u.run(&["emulator", "start"]).ok();
    assert_eq!(address_and_pid(&again.stdout), (port, pid));
    assert!(again.stderr.contains("already running"), "{}", again.stderr);

    let status = u.run(&["emulator", "status"]).ok();
    assert_eq!(
        status.stdout.trim(),
        format!("127.0.0.1:{port} (pid {pid})")
    );
    let json = u.run(&["--json", "emulator", "status"]).ok().json();
    assert_eq!(json["running"], true);
    assert_eq!(json["address"], format!("127.0.0.1:{port}"));
    assert_eq!(json["endpoint"], format!("http://127.0.0.1:{port}"));
    assert_eq!(json["pid"], pid);

    let stop = u.run(&["emulator", "stop"]).ok();
    assert_eq!(
        stop.stdout.trim(),
        format!("stopped the local AWS emulator (pid {pid}, 127.0.0.1:{port})")
    );
    assert!(!listening(port), "a listener is left on {port}");
    assert!(!alive(pid), "moto (pid {pid}) is still alive");
    assert!(u.record().is_none(), "the record is left behind");
    assert_eq!(
        u.run(&["emulator", "stop"]).ok().stdout.trim(),
        "not running"
    );
    assert_eq!(
        u.run(&["emulator", "status"]).ok().stdout.trim(),
        "not running"
    );
}

#[test]
fn a_stale_pid_file_is_forgotten_and_a_new_emulator_started() {
    let u = User::new();
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    u.write_record(dead, port);
    let status = u.run(&["emulator", "status"]).ok();
    assert_eq!(status.stdout.trim(), "not running");
    assert!(
        status.stderr.contains(&format!(
            "forgot a stale record: pid {dead} on 127.0.0.1:{port}"
        )),
        "{}",
        status.stderr
    );
    assert!(u.record().is_none());

    u.write_record(dead, port);
    let start = u.run(&["emulator", "start"]).ok();
    let (_, pid) = address_and_pid(&start.stdout);
    assert_ne!(pid, dead);
    assert!(start.stderr.contains("started"), "{}", start.stderr);
    assert_eq!(u.record().unwrap()["pid"], pid);
}

#[test]
fn a_record_whose_pid_and_port_now_belong_to_others_is_never_used_or_signalled() {
    let u = User::new();
    // Another program has the PID and another has the port.
    let mut other = Command::new("sleep").arg("300").spawn().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    u.write_record(other.id(), port);

    assert_eq!(
        u.run(&["emulator", "stop"]).ok().stdout.trim(),
        "not running"
    );
    assert!(
        other.try_wait().unwrap().is_none(),
        "groundup signalled a process that is not its emulator"
    );
    u.write_record(other.id(), port);
    let start = u.run(&["emulator", "start"]).ok();
    let (new_port, pid) = address_and_pid(&start.stdout);
    assert_ne!(new_port, port, "it used the port somebody else holds");
    assert_ne!(pid, other.id());
    assert!(other.try_wait().unwrap().is_none());
    let _ = other.kill();
    let _ = other.wait();
    drop(taken);
}

#[test]
fn a_port_taken_is_a_clear_error_and_nothing_is_recorded() {
    let u = User::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let run = u
        .run(&["emulator", "start", "--port", &port.to_string()])
        .expect_code(2);
    assert!(
        run.err_flat().contains(&format!(
            "cannot start the local emulator on 127.0.0.1:{port}: the port is already in use"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.err_flat().contains("choose another --port"),
        "{}",
        run.stderr
    );
    assert!(u.record().is_none());
    drop(taken);
}

#[test]
fn moto_missing_is_a_clear_error_naming_what_to_install() {
    let mut u = User::new();
    // GROUNDUP_MOTO_SERVER pointing nowhere.
    u.env = vec![(
        "GROUNDUP_MOTO_SERVER".into(),
        "/nonexistent/moto_server".into(),
    )];
    let run = u.run(&["--local", "up"]).expect_code(2);
    assert!(
        run.err_flat().contains(
            "GROUNDUP_MOTO_SERVER=/nonexistent/moto_server is not an executable moto_server"
        ),
        "{}",
        run.stderr
    );
    assert!(!u.project().join(".groundup").exists(), "state was written");

    // No GROUNDUP_MOTO_SERVER, no moto_server and no python3 on the PATH:
    // nothing to install a virtualenv with.
    let empty = u.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    u.env = vec![("PATH".into(), empty.display().to_string())];
    let run = u.run(&["emulator", "start"]).expect_code(2);
    let flat = run.err_flat();
    assert!(
        flat.contains("cannot install the local emulator (moto): python3 is not on the PATH"),
        "{}",
        run.stderr
    );
    assert!(flat.contains("python3-venv"), "{}", run.stderr);
    assert!(flat.contains("GROUNDUP_MOTO_SERVER"), "{}", run.stderr);
    assert!(!u.path("data/groundup/moto").exists());
    assert!(u.record().is_none());
}

#[test]
fn the_lesson_from_an_empty_dir_with_no_aws_variables_up_twice_down_and_stop() {
    let u = User::new();
    let up = u.run(&["--local", "up"]).ok();
    assert!(
        up.stderr
            .contains("started the local AWS emulator (moto) on 127.0.0.1:"),
        "{}",
        up.stderr
    );
    assert!(up.stderr.contains(" created, 0 reused"), "{}", up.stderr);
    let rec = u.record().expect("the emulator's record");
    let (port, pid) = (
        rec["port"].as_u64().unwrap() as u16,
        rec["pid"].as_u64().unwrap() as u32,
    );
    let state = read_state(&u.project());
    assert_eq!(state["origin"], "emulator");
    assert!(
        state["vpc_id"]
            .as_str()
            .is_some_and(|v| v.starts_with("vpc-"))
    );

    // The second run reuses the emulator and every resource.
    let again = u.run(&["--local", "up"]).ok();
    assert!(
        !again.stderr.contains("started the local"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains(": 0 created, "), "{}", again.stderr);
    assert_eq!(u.record().unwrap()["pid"], pid);

    let status = u.run(&["--local", "status", "--refresh"]).ok();
    assert!(status.stdout.contains("no drift"), "{}", status.stdout);
    // --json stays clean: stdout is one JSON document.
    let json = u.run(&["--local", "--json", "status"]).ok().json();
    assert_eq!(json["state"]["origin"], "emulator");

    u.run(&["--local", "down", "--yes"]).ok();
    let stop = u.run(&["emulator", "stop"]).ok();
    assert!(
        stop.stdout
            .contains(&format!("(pid {pid}, 127.0.0.1:{port})")),
        "{}",
        stop.stdout
    );
    assert!(!listening(port));
    // Nothing of the user's own AWS set-up was created or needed.
    assert!(!u.path("home/.aws").exists());
}

fn read_state(project: &Path) -> Value {
    let p = project.join(".groundup/k8s-cluster/state.json");
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

#[test]
fn emulator_state_is_never_used_on_aws_nor_aws_state_on_the_emulator() {
    let u = User::new();
    u.run(&["--local", "--set", "steps=network", "up"]).ok();
    let before =
        std::fs::read_to_string(u.project().join(".groundup/k8s-cluster/state.json")).unwrap();

    // Pointed at AWS (no --local, no endpoint): refused before any call.
    for args in [
        &["up"][..],
        &["status"],
        &["--plan", "up"],
        &["down", "--yes"],
    ] {
        let run = u.run(args).expect_code(1);
        let flat = run.err_flat();
        assert!(
            flat.contains("the state of cluster k8s-cluster (.groundup/k8s-cluster) was made on a local AWS emulator, and this command points it at real AWS: nothing was done"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(flat.contains("add --local"), "{}", run.stderr);
    }
    assert_eq!(
        std::fs::read_to_string(u.project().join(".groundup/k8s-cluster/state.json")).unwrap(),
        before,
        "the state was changed"
    );

    // State made on AWS, pointed at the emulator: refused too.
    let aws = u.project().join(".groundup/aws-cluster");
    std::fs::create_dir_all(&aws).unwrap();
    let text = r#"{"origin": "aws", "vpc_id": "vpc-0123456789abcdef0"}"#;
    std::fs::write(aws.join("state.json"), text).unwrap();
    for args in [
        &["--local", "--cluster", "aws-cluster", "up"][..],
        &["--local", "--cluster", "aws-cluster", "status"],
    ] {
        let run = u.run(args).expect_code(1);
        let flat = run.err_flat();
        assert!(
            flat.contains(
                "was made on real AWS, and this command points it at a local AWS emulator"
            ),
            "{args:?}: {}",
            run.stderr
        );
        assert!(flat.contains("drop --local"), "{}", run.stderr);
    }
    assert_eq!(
        std::fs::read_to_string(aws.join("state.json")).unwrap(),
        text
    );
}
