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

fn text(map: &Map, call: &str, key: &str) -> Result<String, Error> {
    match map.get(key) {
        Some(v) if v.is_string() => Ok(v.to_string()),
        Some(v) => Err(Error::script(format!(
            "{call}: `{key}` must be a string, got {}",
            v.type_name()
        ))),
        None => Err(Error::script(format!("{call}: `{key}` is missing"))),
    }
}

fn port(map: &Map, call: &str, key: &str) -> Result<u16, Error> {
    let v = map
        .get(key)
        .ok_or_else(|| Error::script(format!("{call}: `{key}` is missing")))?;
    v.as_int()
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::script(format!("{call}: `{key}` must be a port (1-65535)")))
}

/// Builds the members from the masters' node maps (`name`, `private_ip`)
/// and the options map.
pub fn members_from(masters: rhai::Array, opts: &Map) -> Result<EtcdMembers, Error> {
    const CALL: &str = "etcd::members";
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
            "{CALL}: unknown option `{k}`; known: {}",
            KEYS.join(", ")
        )));
    }
    let options = Options {
        ca_file: text(opts, CALL, "ca_file")?,
        cert_file: text(opts, CALL, "cert_file")?,
        key_file: text(opts, CALL, "key_file")?,
        data_dir: text(opts, CALL, "data_dir")?,
        token: text(opts, CALL, "token")?,
        client_port: port(opts, CALL, "client_port")?,
        peer_port: port(opts, CALL, "peer_port")?,
    };
    let mut members = Vec::new();
    let mut nodes = Vec::new();
    for (i, n) in masters.into_iter().enumerate() {
        let map = n.try_cast::<Map>().ok_or_else(|| {
            Error::script(format!(
                "{CALL}: masters[{i}] must be a node map (from state `nodes` or nodes::layout)"
            ))
        })?;
        members.push(Member {
            name: text(&map, CALL, "name")?,
            ip: text(&map, CALL, "private_ip")?,
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

#[export_module]
pub mod etcd_api {
    use super::*;
    use crate::api::fail;

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
                        "etcd::flags: no member named `{name}` (members: {})",
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
}
