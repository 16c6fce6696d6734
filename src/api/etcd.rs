//! `etcd::` — the cluster's etcd on the masters (lesson step 7): the
//! members and their command line, the checked release install, starting
//! members (all at once, or one at a time when they change) and their health.
//!
//! Thin bindings over [`crate::etcd`].

#![allow(clippy::result_large_err)]

use rhai::plugin::*;
use rhai::{CustomType, Map};

use crate::error::Error;
use crate::etcd::flags::{Member, Options};

crate::api::namespace!("etcd");

/// The etcd members (from `etcd::members`): one per master, with the TLS
/// files, ports and data directory they share.
#[derive(Debug, Clone, CustomType)]
#[rhai_type(name = "EtcdMembers", extra = Self::build_extra)]
pub struct EtcdMembers {
    /// The members, in the masters' order.
    #[rhai_type(skip)]
    pub members: Vec<Member>,
    /// What they share.
    #[rhai_type(skip)]
    pub options: Options,
    /// The masters' node maps (for SSH), in the same order.
    #[rhai_type(skip)]
    pub nodes: Vec<Map>,
}

impl std::fmt::Display for EtcdMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EtcdMembers {}",
            crate::etcd::flags::initial_cluster(&self.members, &self.options)
        )
    }
}

impl EtcdMembers {
    /// Getters: `names`, `endpoints` (client URLs), `initial_cluster`.
    fn build_extra(b: &mut rhai::TypeBuilder<Self>) {
        b.with_fn("to_string", |x: &mut Self| x.to_string());
        b.with_fn("to_debug", |x: &mut Self| x.to_string());
        b.with_get("names", |x: &mut Self| -> rhai::Array {
            x.members.iter().map(|m| m.name.clone().into()).collect()
        });
        b.with_get("endpoints", |x: &mut Self| -> rhai::Array {
            x.members
                .iter()
                .map(|m| x.options.client_url(m).into())
                .collect()
        });
        b.with_get("initial_cluster", |x: &mut Self| {
            crate::etcd::flags::initial_cluster(&x.members, &x.options)
        });
    }
}

fn text(map: &Map, key: &str) -> Result<String, Error> {
    match map.get(key) {
        Some(v) if v.is_string() => Ok(v.to_string()),
        Some(v) => Err(Error::script(format!(
            "`{key}` must be a string, got {}",
            v.type_name()
        ))),
        None => Err(Error::script(format!("`{key}` is missing"))),
    }
}

fn port(map: &Map, key: &str) -> Result<u16, Error> {
    let v = map
        .get(key)
        .ok_or_else(|| Error::script(format!("`{key}` is missing")))?;
    v.as_int()
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::script(format!("`{key}` must be a port (1-65535)")))
}

/// Builds the members from the masters' node maps (`name`, `private_ip`)
/// and the options map.
pub fn members_from(masters: rhai::Array, opts: &Map) -> Result<EtcdMembers, Error> {
    const KEYS: &[&str] = &[
        "ca_file",
        "cert_file",
        "key_file",
        "data_dir",
        "token",
        "client_port",
        "peer_port",
    ];
    if let Some(k) = opts.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(Error::script(format!(
            "unknown option `{k}`; known: {}",
            KEYS.join(", ")
        )));
    }
    let options = Options {
        ca_file: text(opts, "ca_file")?,
        cert_file: text(opts, "cert_file")?,
        key_file: text(opts, "key_file")?,
        data_dir: text(opts, "data_dir")?,
        token: text(opts, "token")?,
        client_port: port(opts, "client_port")?,
        peer_port: port(opts, "peer_port")?,
    };
    let mut members = Vec::new();
    let mut nodes = Vec::new();
    for (i, n) in masters.into_iter().enumerate() {
        let map = n.try_cast::<Map>().ok_or_else(|| {
            Error::script(format!(
                "masters[{i}] must be a node map (from state `nodes` or nodes::layout)"
            ))
        })?;
        members.push(Member {
            name: text(&map, "name")?,
            ip: text(&map, "private_ip")?,
        });
        nodes.push(map);
    }
    crate::etcd::flags::check_members(&members)?;
    Ok(EtcdMembers {
        members,
        options,
        nodes,
    })
}

/// What `etcd::install_release` did on one master.
#[derive(Debug, Clone, serde::Serialize, CustomType)]
#[rhai_type(name = "EtcdRelease", extra = Self::build_extra)]
pub struct EtcdRelease {
    /// The node.
    #[rhai_type(readonly)]
    pub node: String,
    /// The etcd version it has now.
    #[rhai_type(readonly)]
    pub version: String,
    /// kept (nothing downloaded), installed (downloaded, verified,
    /// unpacked) or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
crate::aws::types::display_type!(EtcdRelease);
impl std::fmt::Display for EtcdRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EtcdRelease v{} on {}: {}",
            self.version, self.node, self.status
        )
    }
}

/// What `etcd::converge` did with one member.
#[derive(Debug, Clone, serde::Serialize, CustomType)]
#[rhai_type(name = "EtcdMember", extra = Self::build_extra)]
pub struct EtcdMember {
    /// The member (its master's name).
    #[rhai_type(readonly)]
    pub node: String,
    /// kept, started, restarted or planned.
    #[rhai_type(readonly)]
    pub action: String,
    /// etcd's main PID on it now.
    #[rhai_type(readonly)]
    pub main_pid: i64,
}
crate::aws::types::display_type!(EtcdMember);
impl std::fmt::Display for EtcdMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EtcdMember {}: {} (pid {})",
            self.node, self.action, self.main_pid
        )
    }
}

/// The cluster's health (from `etcd::health` / `etcd::wait_healthy`).
#[derive(Debug, Clone, serde::Serialize, CustomType)]
#[rhai_type(name = "EtcdHealth", extra = Self::build_extra)]
pub struct EtcdHealth {
    /// Every member healthy and the member list exactly the masters.
    #[rhai_type(readonly)]
    pub ok: bool,
    /// Per member: `#{ name, endpoint, healthy, took, error }`.
    #[rhai_type(readonly, get = Self::member_maps)]
    pub members: Vec<crate::etcd::health::MemberHealth>,
    /// Whether the member list is exactly the masters.
    #[rhai_type(readonly)]
    pub member_list_ok: bool,
    /// What is wrong, one line each (empty when ok).
    #[rhai_type(readonly, get = Self::problem_list)]
    pub problems: Vec<String>,
}
crate::aws::types::display_type!(EtcdHealth);
impl std::fmt::Display for EtcdHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let healthy = self.members.iter().filter(|m| m.healthy).count();
        let each: Vec<String> = self
            .members
            .iter()
            .map(|m| {
                if m.healthy {
                    format!("{} healthy ({})", m.name, m.took)
                } else {
                    format!("{} UNHEALTHY: {}", m.name, m.error)
                }
            })
            .collect();
        write!(
            f,
            "EtcdHealth {healthy} of {} members healthy, member list {}: {}",
            self.members.len(),
            if self.member_list_ok {
                "= the masters"
            } else {
                "WRONG"
            },
            each.join(", ")
        )
    }
}

impl EtcdHealth {
    fn member_maps(&self) -> rhai::Array {
        self.members
            .iter()
            .map(|m| rhai::serde::to_dynamic(m).unwrap_or_default())
            .collect()
    }
    fn problem_list(&self) -> rhai::Array {
        self.problems.iter().map(|p| p.clone().into()).collect()
    }
}

impl From<crate::etcd::health::Health> for EtcdHealth {
    fn from(h: crate::etcd::health::Health) -> Self {
        EtcdHealth {
            ok: h.ok(),
            problems: h.problems(),
            member_list_ok: h.member_list_ok,
            members: h.members,
        }
    }
}

fn timeout(secs: i64) -> std::time::Duration {
    std::time::Duration::from_secs(secs.clamp(1, 3600) as u64)
}

#[export_module]
pub mod etcd_api {
    use super::*;
    use super::{bad_arg, fail};

    /// The etcd members: one per master node map (`name`, `private_ip`), in
    /// order, sharing `opts`: `ca_file`, `cert_file`, `key_file` (paths on
    /// the node), `data_dir`, `token` (the initial cluster token),
    /// `client_port` and `peer_port`.
    #[rhai_fn(return_raw)]
    pub fn members(
        ctx: NativeCallContext,
        masters: rhai::Array,
        opts: Map,
    ) -> Result<EtcdMembers, Box<EvalAltResult>> {
        members_from(masters, &opts).map_err(|e| fail(&ctx, e))
    }

    /// etcd's arguments for the member named `name` (without the program):
    /// `--name`, client and peer TLS with client-certificate authentication,
    /// listen and advertise URLs on its private IP (clients also on
    /// 127.0.0.1), the initial cluster of every member on the peer port, and
    /// the data directory.
    #[rhai_fn(return_raw)]
    pub fn flags(
        ctx: NativeCallContext,
        members: &mut EtcdMembers,
        name: &str,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        let me = members
            .members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| {
                fail(
                    &ctx,
                    Error::script(format!(
                        "no member named `{name}` (members: {})",
                        members
                            .members
                            .iter()
                            .map(|m| m.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                )
            })?;
        crate::etcd::flags::flags(me, &members.members, &members.options)
            .map(|f| f.into_iter().map(Into::into).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Installs etcd `version` on every member from `<base_url>/v<version>/`
    /// (etcd-v<version>-linux-amd64.tar.gz and SHA256SUMS): each master
    /// downloads with curl, groundup checks the tarball's SHA-256 against
    /// SHA256SUMS, and only when every master's download checks out are
    /// etcd and etcdctl put in /usr/local/bin. A mismatch is an error naming
    /// the file and both digests, and installs nothing anywhere. A master
    /// that already has this version downloads nothing (`kept`).
    #[rhai_fn(return_raw)]
    pub fn install_release(
        ctx: NativeCallContext,
        members: &mut EtcdMembers,
        version: &str,
        base_url: &str,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        h.block_on(crate::etcd::remote::install_release(
            &h,
            &members.members,
            version,
            base_url,
        ))
        .map(|v| {
            v.into_iter()
                .map(|r| {
                    Dynamic::from(EtcdRelease {
                        node: r.node,
                        version: r.version,
                        status: r.status,
                    })
                })
                .collect()
        })
        .map_err(|e| fail(&ctx, e))
    }

    /// Brings every member to running its installed unit (`installed`:
    /// what `systemd::install` returned): members not running start all at
    /// once; running members whose unit changed (a new certificate or
    /// binary changes it) restart one at a time, the cluster healthy before
    /// each and the member healthy after; the others keep their process.
    /// Waits at most `timeout_secs`. Returns one `EtcdMember` per member.
    #[rhai_fn(return_raw)]
    pub fn converge(
        ctx: NativeCallContext,
        members: &mut EtcdMembers,
        installed: rhai::Array,
        timeout_secs: i64,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        let records = installed
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                d.try_cast::<crate::api::systemd::InstalledUnit>()
                    .map(|u| u.record())
                    .ok_or_else(|| {
                        bad_arg(
                            &ctx,
                            format!("installed[{i}] must be what systemd::install returned"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        h.block_on(crate::etcd::remote::converge(
            &h,
            &members.members,
            &members.options,
            &records,
            timeout(timeout_secs),
        ))
        .map(|v| {
            v.into_iter()
                .map(|m| {
                    Dynamic::from(EtcdMember {
                        node: m.node,
                        action: m.action,
                        main_pid: m.main_pid as i64,
                    })
                })
                .collect()
        })
        .map_err(|e| fail(&ctx, e))
    }

    /// The cluster's health now, asked with etcdctl on the first master that
    /// answers: per member healthy or not (and why), and whether the member
    /// list is exactly the masters.
    #[rhai_fn(return_raw)]
    pub fn health(
        ctx: NativeCallContext,
        members: &mut EtcdMembers,
    ) -> Result<EtcdHealth, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        h.block_on(crate::etcd::remote::health(
            &h,
            &members.members,
            &members.options,
        ))
        .map(EtcdHealth::from)
        .map_err(|e| fail(&ctx, e))
    }

    /// Waits (at most `timeout_secs`) until every member is healthy and the
    /// member list is exactly the masters; the error lists what is not.
    #[rhai_fn(return_raw)]
    pub fn wait_healthy(
        ctx: NativeCallContext,
        members: &mut EtcdMembers,
        timeout_secs: i64,
    ) -> Result<EtcdHealth, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        h.block_on(crate::etcd::remote::wait_healthy(
            &h,
            &members.members,
            &members.options,
            timeout(timeout_secs),
        ))
        .map(EtcdHealth::from)
        .map_err(|e| fail(&ctx, e))
    }
}
