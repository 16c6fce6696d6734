//! A small fault-injecting HTTP proxy between the SDK and moto (loopback
//! only): it answers a chosen fraction of requests with the service's real
//! throttling error (EC2 `RequestLimitExceeded` 503, ELBv2 `Throttling`
//! 400), with 500 `InternalError`, or resets the connection *before*
//! forwarding. And, deterministically, *after* forwarding: it can drop the
//! answer to the N-th mutating request (moto applied it; the client sees a
//! reset connection), or SIGKILL the client process right after moto
//! answered its N-th mutating request. It records every action it
//! forwarded.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Fractions of requests to fault (each in 0..1; they add up).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Answered with the service's throttling error.
    pub throttle: f64,
    /// Answered with HTTP 500 InternalError.
    pub internal: f64,
    /// Connection reset before forwarding.
    pub reset: f64,
    /// RNG seed (runs are reproducible).
    pub seed: u64,
    /// Eventual consistency: the first `n` requests of this EC2 action are
    /// answered `(action, error code, n)`, e.g. a just-launched instance
    /// that is not visible yet.
    pub not_found: Option<(&'static str, &'static str, u64)>,
    /// Forward the N-th (1-based) mutating request (any action but
    /// `Describe*`, `Get*`, `List*`), then reset the client's connection
    /// instead of relaying moto's answer.
    pub drop_answer: Option<u64>,
    /// Forward the N-th mutating request, then SIGKILL the process set
    /// with [`FaultProxy::set_victim`] before relaying the answer.
    pub kill_after: Option<u64>,
    /// A slow EC2: the first `hold` DescribeInstances calls that name
    /// instances by ID (the waiters' calls) are answered as if the
    /// instances were still starting (`running` shown as `pending`) or
    /// still shutting down (`terminated` shown as `shutting-down`).
    pub hold: u64,
}

/// Whether an API action changes something.
pub fn is_mutating(action: &str) -> bool {
    !(action.starts_with("Describe") || action.starts_with("Get") || action.starts_with("List"))
}

/// The `Action` of a query-protocol request body (EC2 and ELBv2).
pub fn action_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or_default()
        .to_string()
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests forwarded to moto.
    pub forwarded: AtomicU64,
    /// Throttling answers.
    pub throttled: AtomicU64,
    /// 500 answers.
    pub internal: AtomicU64,
    /// Connection resets.
    pub resets: AtomicU64,
    /// Not-found answers.
    pub not_found: AtomicU64,
    /// Mutating requests forwarded.
    pub mutating: AtomicU64,
    /// Answers dropped after forwarding.
    pub dropped: AtomicU64,
    /// Processes killed.
    pub killed: AtomicU64,
    /// Every action forwarded, in order.
    pub actions: Mutex<Vec<String>>,
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// DescribeInstances answers held back (see [`Faults::hold`]).
    pub held: AtomicU64,
}

impl Stats {
    /// The actions forwarded so far.
    pub fn actions(&self) -> Vec<String> {
        self.actions.lock().unwrap().clone()
    }
    /// Forgets the recorded actions and counts.
    pub fn clear(&self) {
        self.actions.lock().unwrap().clear();
        self.mutating.store(0, Ordering::SeqCst);
        self.forwarded.store(0, Ordering::SeqCst);
    }
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Counters.
    pub stats: Arc<Stats>,
    victim: Arc<AtomicU32>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A tiny deterministic RNG (xorshift), shared by the connections.
struct Rng(std::sync::Mutex<u64>);
impl Rng {
    fn next(&self) -> f64 {
        let mut s = self.0.lock().unwrap();
        let mut x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *s = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream_port`.
    pub fn start(upstream_port: u16, faults: Faults) -> FaultProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stats = Arc::new(Stats::default());
        let rng = Arc::new(Rng(std::sync::Mutex::new(faults.seed.max(1))));
        let victim = Arc::new(AtomicU32::new(0));
        let st = stats.clone();
        let vi = victim.clone();
        rt.spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    break;
                };
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                let rng = rng.clone();
                let vi = vi.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, upstream_port, faults, st, rng, vi).await;
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            stats,
            victim,
            rt: Some(rt),
        }
    }

    /// The process [`Faults::kill_after`] kills.
    pub fn set_victim(&self, pid: u32) {
        self.victim.store(pid, Ordering::SeqCst);
    }
}

async fn read_request(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = buf[..pos + 4].to_vec();
            let text = String::from_utf8_lossy(&head).to_string();
            let len: usize = text
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < pos + 4 + len {
                let mut chunk = [0u8; 16384];
                let n = sock.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[pos + 4..pos + 4 + len].to_vec();
            buf.drain(..pos + 4 + len);
            return Ok(Some((head, body)));
        }
        let mut chunk = [0u8; 16384];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(
    mut sock: TcpStream,
    upstream: u16,
    f: Faults,
    st: Arc<Stats>,
    rng: Arc<Rng>,
    victim: Arc<AtomicU32>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some((head, body)) = read_request(&mut sock, &mut buf).await? {
        let head_text = String::from_utf8_lossy(&head).to_string();
        let elb = head_text.contains("/elasticloadbalancing/aws4_request");
        if let Some((action, code, n)) = f.not_found {
            let body_text = String::from_utf8_lossy(&body);
            if body_text.contains(&format!("Action={action}&"))
                && st.not_found.load(Ordering::SeqCst) < n
            {
                st.not_found.fetch_add(1, Ordering::SeqCst);
                let xml = format!(
                    "<Response><Errors><Error><Code>{code}</Code><Message>The ID does not exist</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
                );
                sock.write_all(&response("400 Bad Request", &xml)).await?;
                continue;
            }
        }
        let r = rng.next();
        if r < f.reset {
            st.resets.fetch_add(1, Ordering::SeqCst);
            #[allow(deprecated)] // SO_LINGER 0 is the point: the peer sees a reset.
            let _ = sock.set_linger(Some(Duration::ZERO));
            return Ok(());
        }
        if r < f.reset + f.throttle {
            st.throttled.fetch_add(1, Ordering::SeqCst);
            let out = if elb {
                response(
                    "400 Bad Request",
                    "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
                )
            } else {
                response(
                    "503 Service Unavailable",
                    "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>",
                )
            };
            sock.write_all(&out).await?;
            continue;
        }
        if r < f.reset + f.throttle + f.internal {
            st.internal.fetch_add(1, Ordering::SeqCst);
            let out = if elb {
                response(
                    "500 Internal Server Error",
                    "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>We encountered an internal error.</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
                )
            } else {
                response(
                    "500 Internal Server Error",
                    "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>",
                )
            };
            sock.write_all(&out).await?;
            continue;
        }
        let hold = f.hold > 0 && {
            let b = String::from_utf8_lossy(&body);
            b.contains("Action=DescribeInstances&")
                && b.contains("InstanceId.1=")
                && st.held.load(Ordering::SeqCst) < f.hold
        };
        if hold {
            st.held.fetch_add(1, Ordering::SeqCst);
        }
        // Forward on a fresh upstream connection that closes after the answer.
        st.forwarded.fetch_add(1, Ordering::SeqCst);
        let action = action_of(&body);
        let nth = if is_mutating(&action) {
            Some(st.mutating.fetch_add(1, Ordering::SeqCst) + 1)
        } else {
            None
        };
        st.actions.lock().unwrap().push(action);
        let mut up = TcpStream::connect(("127.0.0.1", upstream)).await?;
        let mut req = String::new();
        for line in head_text.split("\r\n").filter(|l| !l.is_empty()) {
            if line.to_ascii_lowercase().starts_with("connection:") {
                continue;
            }
            req.push_str(line);
            req.push_str("\r\n");
        }
        req.push_str("Connection: close\r\n\r\n");
        up.write_all(req.as_bytes()).await?;
        up.write_all(&body).await?;
        let mut answer = Vec::new();
        up.read_to_end(&mut answer).await?;
        if nth.is_some() && nth == f.kill_after {
            let mut pid = victim.load(Ordering::SeqCst);
            for _ in 0..500 {
                if pid != 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                pid = victim.load(Ordering::SeqCst);
            }
            if pid != 0 {
                // Synchronously, before anything is relayed: the process
                // dies knowing nothing of what moto just did.
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                st.killed.fetch_add(1, Ordering::SeqCst);
            }
            return Ok(());
        }
        if nth.is_some() && nth == f.drop_answer {
            st.dropped.fetch_add(1, Ordering::SeqCst);
            #[allow(deprecated)] // SO_LINGER 0: the client sees a reset, not an answer.
            let _ = sock.set_linger(Some(Duration::ZERO));
            return Ok(());
        }
        if hold {
            answer = held_back(&answer);
        }
        // Tell the client the connection stays open (we keep serving it).
        let text = String::from_utf8_lossy(&answer);
        let fixed = match text.find("\r\n\r\n") {
            Some(pos) => {
                let (h, _) = answer.split_at(pos);
                let mut out = String::new();
                for line in String::from_utf8_lossy(h).split("\r\n") {
                    if line.to_ascii_lowercase().starts_with("connection:") {
                        continue;
                    }
                    out.push_str(line);
                    out.push_str("\r\n");
                }
                out.push_str("Connection: keep-alive\r\n");
                let mut v = out.into_bytes();
                v.extend_from_slice(&answer[pos + 2..]);
                v
            }
            None => answer,
        };
        sock.write_all(&fixed).await?;
    }
    Ok(())
}

/// A DescribeInstances answer with every instance still on its way: the
/// body rewritten (`running` → `pending`, `terminated` → `shutting-down`)
/// and its Content-Length made to match.
fn held_back(answer: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return answer.to_vec();
    };
    let body = body
        .replace("<name>running</name>", "<name>pending</name>")
        .replace("<code>16</code>", "<code>0</code>")
        .replace("<name>terminated</name>", "<name>shutting-down</name>")
        .replace("<code>48</code>", "<code>32</code>");
    let mut out = String::new();
    for line in head.split("\r\n") {
        if line.to_ascii_lowercase().starts_with("content-length:") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}
