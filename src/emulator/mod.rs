//! The local AWS emulator groundup manages itself (`--local`, `groundup
//! emulator start|stop|status`): a moto server on 127.0.0.1, on a free port,
//! kept running between commands.
//!
//! What is running is recorded in `emulator.json` (PID, port, which moto,
//! its log) under the user's runtime directory (`$XDG_RUNTIME_DIR/groundup`,
//! else `$XDG_DATA_HOME/groundup/run`). A record is trusted only while its
//! PID is alive, is a moto server on the recorded port, and that port
//! answers as moto does: a stale record (a dead or reused PID, a port taken
//! by something else) is dropped and never acted on, so `stop` can never
//! signal a process that is not the emulator. `emulator.lock` keeps two
//! groundup processes from starting two emulators at once.
//!
//! Where moto comes from is [`install`]'s business.

pub mod install;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};
use crate::state::create_private_dir;

/// How long a new moto may take to answer (it imports every AWS service first).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running emulator, as recorded in `emulator.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emulator {
    /// moto's process ID.
    pub pid: u32,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The moto_server executable that runs it.
    pub moto: PathBuf,
    /// Its log (one line per request).
    pub log: PathBuf,
}

impl Emulator {
    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, the endpoint the AWS clients use.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address())
    }

    /// Whether this record is a live moto that groundup started: the PID is
    /// alive (not a zombie), runs moto on this port, and the port answers
    /// moto's own API.
    pub fn is_alive(&self) -> bool {
        pid_alive(self.pid) && runs_moto_on(self.pid, self.port) && answers_as_moto(self.port)
    }
}

/// Where the emulator's record, lock and log live, and where moto is
/// installed.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Record, lock and log (`$XDG_RUNTIME_DIR/groundup`).
    pub run: PathBuf,
    /// The data directory (`$XDG_DATA_HOME/groundup`): moto's virtualenv.
    pub data: PathBuf,
}

impl Paths {
    /// The user's directories: `$XDG_RUNTIME_DIR/groundup` (else
    /// `$XDG_DATA_HOME/groundup/run`) and `$XDG_DATA_HOME/groundup` (else
    /// `~/.local/share/groundup`).
    pub fn from_env() -> Result<Paths> {
        let data = dirs::data_dir()
            .map(|d| d.join("groundup"))
            .ok_or_else(|| {
                Error::new(
                    Kind::Emulator,
                    "cannot tell where to keep the local emulator: neither XDG_DATA_HOME nor HOME is set",
                )
                .with_help("set HOME (or XDG_DATA_HOME) and try again")
            })?;
        let run = dirs::runtime_dir()
            .map(|d| d.join("groundup"))
            .unwrap_or_else(|| data.join("run"));
        Ok(Paths { run, data })
    }

    fn record(&self) -> PathBuf {
        self.run.join("emulator.json")
    }

    fn log(&self) -> PathBuf {
        self.run.join("emulator.log")
    }

    /// Takes the emulator's lock (blocking while another groundup starts or
    /// stops it).
    fn lock(&self) -> Result<File> {
        create_private_dir(&self.run)?;
        let path = self.run.join("emulator.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        file.lock()
            .map_err(|e| Error::io(format!("cannot lock {}", path.display()), e))?;
        Ok(file)
    }

    fn read_record(&self) -> Option<Emulator> {
        let text = std::fs::read_to_string(self.record()).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_record(&self, e: &Emulator) -> Result<()> {
        let text = serde_json::to_string_pretty(e).unwrap_or_default();
        crate::durable::write_atomic(&self.record(), text.as_bytes(), 0o600)
            .map_err(|err| Error::io(format!("cannot write {}", self.record().display()), err))
    }

    fn remove_record(&self) {
        let _ = std::fs::remove_file(self.record());
    }
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A running emulator was reused.
    Reused,
    /// A new one was started.
    New,
}

/// The running emulator, if any; a stale record is removed (and `stale`
/// says so) without touching whatever now has its PID or port.
pub fn status(paths: &Paths) -> Result<(Option<Emulator>, Option<Emulator>)> {
    let _lock = paths.lock()?;
    Ok(current(paths))
}

/// (running, stale record that was dropped).
fn current(paths: &Paths) -> (Option<Emulator>, Option<Emulator>) {
    match paths.read_record() {
        Some(e) if e.is_alive() => (Some(e), None),
        Some(e) => {
            paths.remove_record();
            (None, Some(e))
        }
        None => (None, None),
    }
}

/// The running emulator, started first when none is: moto is found (or
/// installed, see [`install::find_moto`]), started on `port` (else a free
/// one) on 127.0.0.1 only, and recorded. `quiet` silences progress lines.
pub fn ensure(paths: &Paths, port: Option<u16>, quiet: bool) -> Result<(Emulator, Started)> {
    let _lock = paths.lock()?;
    if let (Some(e), _) = current(paths) {
        if let Some(p) = port
            && p != e.port
        {
            return Err(Error::usage(format!(
                "the local emulator is already running on {} (pid {}), not on port {p}",
                e.address(),
                e.pid
            ))
            .with_help("stop it first (`groundup emulator stop`), or leave out --port"));
        }
        return Ok((e, Started::Reused));
    }
    let moto = install::find_moto(&paths.data, quiet)?;
    if let Some(p) = port {
        return start_on(paths, &moto, p);
    }
    // A free port can be taken by someone else between our probe and moto's
    // bind: moto then exits, and another port is tried.
    let mut last = None;
    for _ in 0..3 {
        match start_on(paths, &moto, free_port()?) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::new(Kind::Emulator, "moto did not start")))
}

/// Stops the running emulator and waits until its port has no listener;
/// returns what was stopped (`None`: nothing was running).
pub fn stop(paths: &Paths) -> Result<Option<Emulator>> {
    let _lock = paths.lock()?;
    let (Some(e), _) = current(paths) else {
        return Ok(None);
    };
    signal(e.pid, rustix::process::Signal::TERM);
    if !wait_for(Duration::from_secs(10), || !pid_alive(e.pid)) {
        signal(e.pid, rustix::process::Signal::KILL);
        wait_for(Duration::from_secs(5), || !pid_alive(e.pid));
    }
    let closed = wait_for(Duration::from_secs(5), || !port_open(e.port));
    paths.remove_record();
    if !closed {
        return Err(Error::new(
            Kind::Emulator,
            format!(
                "stopped the emulator (pid {}), but something still listens on {}",
                e.pid,
                e.address()
            ),
        )
        .with_help("look with `ss -ltnp` for what holds the port"));
    }
    Ok(Some(e))
}

fn start_on(paths: &Paths, moto: &Path, port: u16) -> Result<(Emulator, Started)> {
    if port_open(port) || TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
        return Err(Error::new(
            Kind::Emulator,
            format!(
                "cannot start the local emulator on 127.0.0.1:{port}: the port is already in use"
            ),
        )
        .with_help("choose another --port, or leave it out to get a free one"));
    }
    let log_path = paths.log();
    let log = File::create(&log_path)
        .map_err(|e| Error::io(format!("cannot create {}", log_path.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io(format!("cannot open {}", log_path.display()), e))?;
    let mut child = Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: Ctrl-C in the terminal that started it
        // stops the groundup command, not the emulator it shares.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Error::new(
                Kind::Emulator,
                format!("cannot run {}: {e}", moto.display()),
            )
            .with_help("check that it is moto's `moto_server`, or unset GROUNDUP_MOTO_SERVER")
        })?;
    let e = Emulator {
        pid: child.id(),
        port,
        moto: moto.to_path_buf(),
        log: log_path.clone(),
    };
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::new(
                Kind::Emulator,
                format!(
                    "the local emulator ({}) exited at start ({status}): {}",
                    moto.display(),
                    log_tail(&log_path)
                ),
            )
            .with_help(format!("its log: {}", log_path.display())));
        }
        if answers_as_moto(port) {
            break;
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::new(
                Kind::Emulator,
                format!(
                    "the local emulator did not answer on 127.0.0.1:{port} within {} s",
                    START_TIMEOUT.as_secs()
                ),
            )
            .with_help(format!("its log: {}", log_path.display())));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    paths.write_record(&e)?;
    Ok((e, Started::New))
}

/// A free port on 127.0.0.1.
fn free_port() -> Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::io("cannot find a free port on 127.0.0.1", e))
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// Whether `pid` is a live process (a zombie is not).
fn pid_alive(pid: u32) -> bool {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    if rustix::process::test_kill_process(p).is_err() {
        return false;
    }
    // Field 3 of /proc/PID/stat, after the command in parentheses.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Whether `pid`'s command line is a moto server started on `port`.
fn runs_moto_on(pid: u32, port: u16) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let port = port.to_string();
    args.iter().any(|a| a.contains("moto")) && args.windows(2).any(|w| w[0] == "-p" && w[1] == port)
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// Whether 127.0.0.1:`port` answers moto's own API (its dashboard, `/moto-api/`, 200).
fn answers_as_moto(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let text = String::from_utf8_lossy(&head[..n]);
    text.starts_with("HTTP/1.") && text.get(9..12) == Some("200")
}

/// The last lines of a log, on one line (for an error message).
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "(nothing in its log)".into()
    } else {
        tail.join(" / ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_pid_is_not_alive_and_this_process_is() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
        assert!(pid_alive(std::process::id()));
    }

    #[test]
    fn this_process_is_not_a_moto_server() {
        assert!(!runs_moto_on(std::process::id(), 5000));
    }

    #[test]
    fn a_record_pointing_at_another_server_is_not_alive() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let e = Emulator {
            pid: std::process::id(),
            port,
            moto: "/nonexistent/moto_server".into(),
            log: "/nonexistent/log".into(),
        };
        assert!(port_open(port));
        assert!(!e.is_alive());
    }
}
