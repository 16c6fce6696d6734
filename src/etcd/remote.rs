//! etcd on the masters, through the `ssh::` layer: the checked release
//! install, the members' health, and starting members (all at once when
//! they are down, one at a time when they change). Why the download
//! happens on the nodes: see [`super::release`].

use std::time::{Duration, Instant};

use serde::Serialize;

use super::flags::{Member, Options};
use super::health::{self, Health};
use super::release;
use crate::error::{Error, Kind, Result};
use crate::host::Host;
use crate::ssh::{self, Command, Fleet};
use crate::systemd::remote::{self as units, Installed, quote, run_ok};
use crate::systemd::rollout;
use crate::systemd::status::Status;

/// The unit every member runs.
pub const UNIT: &str = "etcd.service";

/// What the release install did on one node.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseResult {
    /// The node.
    pub node: String,
    /// The version now installed.
    pub version: String,
    /// `kept` (already installed: nothing downloaded), `installed`
    /// (downloaded, verified, unpacked) or `planned`.
    pub status: String,
}

/// What converging did with one member.
#[derive(Debug, Clone, Serialize)]
pub struct MemberResult {
    /// The node (and member name).
    pub node: String,
    /// kept, started, restarted or planned.
    pub action: String,
    /// Its etcd's main PID afterwards.
    pub main_pid: u32,
}

fn names(members: &[Member]) -> Vec<String> {
    members.iter().map(|m| m.name.clone()).collect()
}

fn err(msg: impl Into<String>) -> Error {
    Error::new(Kind::Ssh, msg)
}

/// The installed versions of etcd and etcdctl on each node.
const VERSION_CHECK: &str =
    "/usr/local/bin/etcd --version 2>/dev/null; /usr/local/bin/etcdctl version 2>/dev/null; true";

/// Installs etcd `version` from `base_url` on every member that does not
/// already run it. The tarball and `SHA256SUMS` are downloaded on each node
/// into a scratch directory; groundup compares the node's `sha256sum` of
/// the tarball with the digest `SHA256SUMS` lists (the same on every node);
/// only when every node's download checks out are `etcd` and `etcdctl`
/// unpacked and renamed into /usr/local/bin. A mismatch anywhere installs
/// nothing anywhere and removes the downloads.
pub async fn install_release(
    host: &Host,
    members: &[Member],
    version: &str,
    base_url: &str,
) -> Result<Vec<ReleaseResult>> {
    release::check_version(version).map_err(|why| Error::script(format!("`{version}`: {why}")))?;
    release::check_url(base_url).map_err(|why| Error::script(format!("`{base_url}`: {why}")))?;
    let fleet = &host.fleet()?;
    let nodes = names(members);
    if host.planning() {
        fleet.run(&nodes, &Command::new(VERSION_CHECK)).await?;
        return Ok(nodes
            .into_iter()
            .map(|node| ReleaseResult {
                node,
                version: version.into(),
                status: "planned".into(),
            })
            .collect());
    }
    // 1. What is installed: a node with this version downloads nothing.
    let outs = fleet.run(&nodes, &Command::new(VERSION_CHECK)).await?;
    ssh::failures(&outs)?;
    let mut results = Vec::new();
    let mut todo = Vec::new();
    for o in outs {
        let out = o.result.unwrap_or_default();
        let etcd_v = release::tool_version(&out.stdout, "etcd");
        let ctl_v = release::tool_version(&out.stdout, "etcdctl");
        if etcd_v.as_deref() == Some(version) && ctl_v.as_deref() == Some(version) {
            results.push(ReleaseResult {
                node: o.node,
                version: version.into(),
                status: "kept".into(),
            });
        } else {
            todo.push(o.node);
        }
    }
    if todo.is_empty() {
        return Ok(results);
    }
    // 2. Download on each node that needs it, into a scratch directory.
    let url = release::release_url(base_url, version);
    let tarball = release::tarball(version);
    let scratch = format!("/var/tmp/groundup-etcd-v{version}");
    let fetch = format!(
        "rm -rf {d} && mkdir -m 0700 {d} && cd {d} && \
         curl -fsSL --retry 3 --connect-timeout 10 -o SHA256SUMS {sums} && \
         curl -fsSL --retry 3 --connect-timeout 10 -o {t} {tgz} && \
         sha256sum {t} && echo @@SUMS@@ && cat SHA256SUMS",
        d = quote(&scratch),
        sums = quote(&format!("{url}/SHA256SUMS")),
        t = quote(&tarball),
        tgz = quote(&format!("{url}/{tarball}")),
    );
    let cleanup = format!("rm -rf {}", quote(&scratch));
    let outs = fleet.run(&todo, &Command::sudo(&fetch)).await?;
    let mut problems = Vec::new();
    let mut listed: Option<(String, String)> = None;
    for o in &outs {
        let out = match &o.result {
            Ok(out) => out,
            Err(e) => {
                problems.push(format!("{}: {}", o.node, e.message));
                continue;
            }
        };
        if out.code != 0 {
            problems.push(format!(
                "{}: downloading {url}/ failed (exit {}): {}",
                o.node,
                out.code,
                out.stderr.trim()
            ));
            continue;
        }
        let (digest, sums) = out
            .stdout
            .split_once("@@SUMS@@")
            .unwrap_or((&out.stdout, ""));
        let check = (|| -> Result<()> {
            let actual = release::sha256sum_digest(digest)
                .ok_or_else(|| err(format!("no SHA-256 from sha256sum: {}", digest.trim())))?;
            let sums = release::parse_sums(sums)
                .map_err(|e| err(format!("{url}/SHA256SUMS: {}", e.message)))?;
            let expected = release::expected(&sums, &tarball)
                .map_err(|e| err(format!("{url}/{}", e.message)))?;
            // Every node must have been told the same digest.
            match &listed {
                Some((n, h)) if *h != expected => {
                    return Err(err(format!(
                        "{url}/SHA256SUMS lists {expected} for {tarball} here but {h} on {n}"
                    )));
                }
                None => listed = Some((o.node.clone(), expected.clone())),
                _ => {}
            }
            release::verify(&tarball, &url, &expected, &actual)
        })();
        if let Err(e) = check {
            problems.push(format!("{}: {}", o.node, e.message));
        }
    }
    if !problems.is_empty() {
        // Nothing is installed anywhere; the downloads go.
        let _ = fleet.run(&todo, &Command::sudo(&cleanup)).await;
        return Err(err(format!(
            "etcd v{version} was not installed: {}",
            problems.join("; ")
        ))
        .with_help(format!(
            "check etcd_release_url ({base_url}) and etcd_version; the installed etcd and its running members were not touched"
        )));
    }
    // 3. Verified everywhere: unpack the two binaries and rename them in.
    let top = release::top_dir(version);
    let bin = release::BIN_DIR;
    let install = format!(
        "cd {d} && tar -xzf {t} {top}/etcd {top}/etcdctl && \
         for b in etcd etcdctl; do install -m 0755 -o root -g root {top}/$b {bin}/.$b.groundup && mv -f {bin}/.$b.groundup {bin}/$b || exit 1; done; \
         cd / && {cleanup} && {bin}/etcd --version",
        d = quote(&scratch),
        t = quote(&tarball),
        top = quote(&top),
    );
    let outs = run_ok(fleet, &todo, &install).await?;
    for (node, out) in todo.into_iter().zip(outs) {
        let got = release::parse_version(&out.stdout).unwrap_or_default();
        if got != version {
            return Err(err(format!(
                "{node}: the unpacked etcd says version `{got}`, not {version}"
            )));
        }
        results.push(ReleaseResult {
            node,
            version: version.into(),
            status: "installed".into(),
        });
    }
    results.sort_by_key(|r| members.iter().position(|m| m.name == r.node));
    Ok(results)
}

/// The `etcdctl` command run on a member to check the whole cluster.
fn health_command(members: &[Member], o: &Options) -> String {
    let endpoints: Vec<String> = members.iter().map(|m| o.client_url(m)).collect();
    let ctl = format!(
        "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints={} --cacert={} --cert={} --key={} --dial-timeout=1s --command-timeout=2s",
        quote(&endpoints.join(",")),
        quote(&o.ca_file),
        quote(&o.cert_file),
        quote(&o.key_file)
    );
    format!(
        "{ctl} endpoint health -w json 2>/dev/null; echo @@LIST@@; {ctl} member list -w json 2>&1"
    )
}

/// The cluster's health, asked on the first member that can answer (the
/// others are tried in turn).
pub async fn health(host: &Host, members: &[Member], o: &Options) -> Result<Health> {
    let fleet = &host.fleet()?;
    health_with(fleet, members, o).await
}

async fn health_with(fleet: &Fleet<'_>, members: &[Member], o: &Options) -> Result<Health> {
    let cmd = Command::sudo(health_command(members, o));
    let mut why = Vec::new();
    for m in members {
        let outs = fleet.run(std::slice::from_ref(&m.name), &cmd).await?;
        let Some(out) = outs.into_iter().next() else {
            continue;
        };
        let out = match out.result {
            Ok(out) => out,
            Err(e) if e.kind == Kind::NoMachines || e.kind == Kind::Interrupted => return Err(e),
            Err(e) => {
                why.push(e.message);
                continue;
            }
        };
        let (eps, list) = out
            .stdout
            .split_once("@@LIST@@")
            .unwrap_or((&out.stdout, ""));
        let Ok(eps) = health::parse_endpoint_health(eps) else {
            why.push(format!(
                "{}: etcdctl gave no health: {}",
                m.name,
                out.stderr.trim()
            ));
            continue;
        };
        let listed = health::parse_member_list(list);
        let h = match &listed {
            Ok(l) => health::assess(members, o, &eps, Ok(l)),
            Err(e) => health::assess(members, o, &eps, Err(&e.message)),
        };
        return Ok(h);
    }
    // No member could run etcdctl: every member is reported down.
    let reason = why.join("; ");
    Ok(health::assess(members, o, &[], Err(&reason)))
}

/// Polls until `done(health)` or the timeout; the last health either way.
async fn poll(
    fleet: &Fleet<'_>,
    members: &[Member],
    o: &Options,
    deadline: Instant,
    done: impl Fn(&Health) -> bool,
) -> Result<(Health, bool)> {
    loop {
        let h = health_with(fleet, members, o).await?;
        if done(&h) {
            return Ok((h, true));
        }
        if Instant::now() >= deadline {
            return Ok((h, false));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn unhealthy(h: &Health, timeout: Duration, what: &str) -> Error {
    err(format!(
        "etcd: {what} within {} s (etcd_timeout_secs): {}",
        timeout.as_secs(),
        h.problems().join("; ")
    ))
    .with_help("look on a master with `journalctl -u etcd`; run again once it is fixed")
}

/// Waits until every member is healthy and the member list is exactly the
/// members.
pub async fn wait_healthy(
    host: &Host,
    members: &[Member],
    o: &Options,
    timeout: Duration,
) -> Result<Health> {
    let fleet = &host.fleet()?;
    if host.planning() {
        return Ok(health::assess(members, o, &[], Err("planned")));
    }
    let (h, ok) = poll(fleet, members, o, Instant::now() + timeout, Health::ok).await?;
    if ok {
        Ok(h)
    } else {
        Err(unhealthy(&h, timeout, "not every member is healthy"))
    }
}

/// Brings every member to running its installed unit: members that are
/// not running start together (`--no-block`: a lone member waits for its
/// peers); then running members whose unit changed restart one at a time,
/// the whole cluster healthy before each and the member healthy (with a
/// new process) after it. Members whose unit did not change are kept.
pub async fn converge(
    host: &Host,
    members: &[Member],
    o: &Options,
    installed: &[Installed],
    timeout: Duration,
) -> Result<Vec<MemberResult>> {
    let fleet = &host.fleet()?;
    let nodes = names(members);
    let before = units::status(fleet, &nodes, UNIT).await?;
    if host.planning() {
        return Ok(nodes
            .into_iter()
            .map(|node| MemberResult {
                node,
                action: "planned".into(),
                main_pid: 0,
            })
            .collect());
    }
    let state: Vec<rollout::Member> = members
        .iter()
        .zip(&before)
        .map(|(m, s)| rollout::Member {
            name: m.name.clone(),
            active: s.running(),
            changed: installed
                .iter()
                .any(|i| i.node == m.name && i.unit == UNIT && i.changed()),
        })
        .collect();
    let plan = rollout::decide(&state);
    let deadline = Instant::now() + timeout;
    // 1. Everyone who is down starts at once.
    if !plan.start.is_empty() {
        let starting: Vec<String> = plan.start.iter().map(|&i| nodes[i].clone()).collect();
        units::start(fleet, &starting, UNIT).await?;
        let (h, ok) = poll(fleet, members, o, deadline, |h| {
            starting
                .iter()
                .all(|n| h.member(n).is_some_and(|m| m.healthy))
        })
        .await?;
        if !ok {
            let _ = h;
            return Err(units::not_active(fleet, &starting, UNIT, timeout).await);
        }
    }
    // 2. Changed members restart one at a time, keeping the quorum.
    for &i in &plan.restart {
        let (h, ok) = poll(fleet, members, o, deadline, Health::ok).await?;
        if !ok {
            return Err(unhealthy(
                &h,
                timeout,
                &format!("not restarting {}: the cluster is not healthy", nodes[i]),
            ));
        }
        let old = before[i].main_pid;
        units::restart(fleet, std::slice::from_ref(&nodes[i]), UNIT).await?;
        let me = std::slice::from_ref(&nodes[i]);
        loop {
            let st = units::status(fleet, me, UNIT).await?;
            let s = st.first().cloned().unwrap_or_default();
            if s.active() && s.main_pid != old && s.main_pid != 0 {
                break;
            }
            if Instant::now() >= deadline {
                return Err(units::not_active(fleet, me, UNIT, timeout).await);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (h, ok) = poll(fleet, members, o, deadline, |h| {
            h.member(&nodes[i]).is_some_and(|m| m.healthy)
        })
        .await?;
        if !ok {
            return Err(unhealthy(
                &h,
                timeout,
                &format!("{} did not come back healthy", nodes[i]),
            ));
        }
    }
    // 3. What each member runs now.
    let after: Vec<Status> = if plan.start.is_empty() && plan.restart.is_empty() {
        before
    } else {
        units::status(fleet, &nodes, UNIT).await?
    };
    Ok(nodes
        .into_iter()
        .zip(plan.actions)
        .zip(after)
        .map(|((node, a), s)| MemberResult {
            node,
            action: a.done().into(),
            main_pid: s.main_pid,
        })
        .collect())
}
