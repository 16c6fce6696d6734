//! One SSH connection (russh): dial with retries while a node boots, check
//! its host key against the cluster's known_hosts, authenticate with the
//! cluster key, and run commands on channels.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};

use super::known_hosts::{KnownHosts, Verdict, fingerprint};

/// Why a connection failed, sorted by what may be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// Nothing answered in time (refused, unreachable, timed out, closed
    /// during the handshake) until the boot-wait timeout ran out.
    Unreachable(String),
    /// The node's host key is not the one recorded for its instance.
    HostKeyChanged {
        /// What the node presented.
        presented: String,
        /// What was recorded.
        recorded: Vec<String>,
        /// The line of the recorded entry.
        line: usize,
    },
    /// The host key could not be checked or recorded (a certificate, an
    /// unwritable known_hosts).
    HostKey(String),
    /// The node refused the cluster key for this user.
    Auth(String),
    /// Anything else in the SSH protocol.
    Protocol(String),
}

/// Who and where to connect.
#[derive(Debug, Clone)]
pub struct Dial {
    /// Node name (for known_hosts and messages).
    pub node: String,
    /// Instance id the host key is tied to.
    pub instance: String,
    /// The address to dial.
    pub address: String,
    /// Every address of the node (written to known_hosts).
    pub addresses: Vec<String>,
    /// The SSH port.
    pub port: u16,
    /// The user.
    pub user: String,
}

struct Checker {
    node: String,
    instance: String,
    addresses: Vec<String>,
    known: Arc<Mutex<KnownHosts>>,
    problem: Arc<Mutex<Option<ConnectError>>>,
}

impl Checker {
    fn judge(&self, key: &PublicKeyOrCertificate) -> Result<(), ConnectError> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Err(ConnectError::HostKey(
                "it presented a host certificate, which groundup does not trust".into(),
            ));
        };
        let mut kh = self
            .known
            .lock()
            .map_err(|_| ConnectError::HostKey("known_hosts is unavailable".into()))?;
        match kh.verdict(&self.node, &self.instance, key) {
            Verdict::Known => Ok(()),
            Verdict::New => {
                let addrs: Vec<&str> = self.addresses.iter().map(String::as_str).collect();
                kh.record(&self.node, &self.instance, &addrs, key)
                    .map_err(|e| {
                        ConnectError::HostKey(format!(
                            "cannot record its host key in {}: {e}",
                            kh.path().display()
                        ))
                    })
            }
            Verdict::Changed { recorded, line } => Err(ConnectError::HostKeyChanged {
                presented: fingerprint(key),
                recorded,
                line,
            }),
        }
    }
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match self.judge(key) {
            Ok(()) => Ok(true),
            Err(e) => {
                if let Ok(mut p) = self.problem.lock() {
                    *p = Some(e);
                }
                Ok(false)
            }
        }
    }
}

/// An authenticated connection to one node.
pub struct Session {
    handle: Handle<Checker>,
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Its exit code (255 when it was killed by a signal or gave none).
    pub code: i64,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

fn retryable(e: &russh::Error) -> bool {
    use std::io::ErrorKind::*;
    match e {
        russh::Error::IO(io) => matches!(
            io.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | NotConnected
                | TimedOut
                | UnexpectedEof
                | BrokenPipe
                | HostUnreachable
                | NetworkUnreachable
                | AddrNotAvailable
        ),
        russh::Error::Disconnect | russh::Error::HUP | russh::Error::ConnectionTimeout => true,
        _ => false,
    }
}

fn config() -> Arc<client::Config> {
    Arc::new(client::Config {
        nodelay: true,
        inactivity_timeout: Some(Duration::from_secs(600)),
        keepalive_interval: Some(Duration::from_secs(30)),
        ..Default::default()
    })
}

/// Connects and authenticates, retrying while the node does not answer
/// (refused, unreachable, timed out, closed during the handshake) until
/// `deadline`; a host-key or authentication failure is never retried.
pub async fn connect(
    dial: &Dial,
    key: Arc<PrivateKey>,
    known: Arc<Mutex<KnownHosts>>,
    deadline: Instant,
) -> Result<Session, ConnectError> {
    let cfg = config();
    let mut backoff = Duration::from_millis(100);
    let handle = loop {
        let problem = Arc::new(Mutex::new(None));
        let checker = Checker {
            node: dial.node.clone(),
            instance: dial.instance.clone(),
            addresses: dial.addresses.clone(),
            known: known.clone(),
            problem: problem.clone(),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.clamp(Duration::from_millis(200), Duration::from_secs(10));
        let r = tokio::time::timeout(
            attempt,
            client::connect(cfg.clone(), (dial.address.as_str(), dial.port), checker),
        )
        .await;
        let why = match r {
            Ok(Ok(h)) => break h,
            Ok(Err(e)) => {
                if let Some(p) = problem.lock().ok().and_then(|mut p| p.take()) {
                    return Err(p);
                }
                if !retryable(&e) {
                    return Err(ConnectError::Protocol(e.to_string()));
                }
                e.to_string()
            }
            Err(_) => format!("no answer within {} ms", attempt.as_millis()),
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(ConnectError::Unreachable(why));
        }
        tokio::time::sleep(backoff.min(deadline - now)).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    };
    let mut handle = handle;
    let hash = handle
        .best_supported_rsa_hash()
        .await
        .map_err(|e| ConnectError::Protocol(e.to_string()))?
        .flatten();
    let auth = handle
        .authenticate_publickey(dial.user.clone(), PrivateKeyWithHashAlg::new(key, hash))
        .await
        .map_err(|e| ConnectError::Protocol(e.to_string()))?;
    if !auth.success() {
        return Err(ConnectError::Auth(format!(
            "the node refused the cluster key for user {}",
            dial.user
        )));
    }
    Ok(Session { handle })
}

impl Session {
    /// Runs `command` (a shell command line), feeding it `stdin` if given,
    /// and collects its output and exit code.
    pub async fn exec(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, String> {
        let mut ch = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| format!("cannot open a channel: {e}"))?;
        ch.exec(true, command)
            .await
            .map_err(|e| format!("cannot start the command: {e}"))?;
        if let Some(input) = stdin {
            ch.data(input)
                .await
                .map_err(|e| format!("cannot send the command its input: {e}"))?;
        }
        ch.eof()
            .await
            .map_err(|e| format!("cannot close the command's input: {e}"))?;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut code: Option<i64> = None;
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => err.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status as i64),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    err.extend_from_slice(format!("killed by signal {signal_name:?}\n").as_bytes());
                    code = Some(255);
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok(Output {
            code: code.unwrap_or(255),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        })
    }

    /// Whether the connection has gone.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }
}
