//! `systemd::` — service units on the nodes: a unit from a typed map, and
//! (with the `ssh::` layer) installing, starting and waiting for it.
//!
//! Thin bindings over [`crate::systemd`].

// `Error` is the crate's one diagnostic type; returning it by value is the
// crate's convention.
#![allow(clippy::result_large_err)]

use rhai::plugin::*;
use rhai::{CustomType, Map};

use crate::error::Error;
use crate::systemd;

crate::api::namespace!("systemd");

/// A service unit (from `systemd::unit`), not yet installed.
#[derive(Debug, Clone, CustomType)]
#[rhai_type(name = "Unit", extra = Self::build_extra)]
pub struct Unit {
    /// What the unit says.
    #[rhai_type(skip)]
    pub spec: systemd::Unit,
}
impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let u = &self.spec;
        write!(
            f,
            "Unit {}: {} ({} arguments, Type={}, Restart={})",
            u.file_name(),
            u.exec_start.first().map(String::as_str).unwrap_or("-"),
            u.exec_start.len().saturating_sub(1),
            if u.kind.is_empty() { "simple" } else { &u.kind },
            if u.restart.is_empty() {
                "no"
            } else {
                &u.restart
            },
        )
    }
}

impl Unit {
    /// Getters: `name` (`etcd.service`), `path`, `exec_start`, `text`.
    fn build_extra(b: &mut rhai::TypeBuilder<Self>) {
        b.with_fn("to_string", |u: &mut Unit| u.to_string());
        b.with_fn("to_debug", |u: &mut Unit| u.to_string());
        b.with_get("name", |u: &mut Unit| u.spec.file_name());
        b.with_get("path", |u: &mut Unit| u.spec.path());
        b.with_get("exec_start", |u: &mut Unit| -> rhai::Array {
            u.spec.exec_start.iter().map(|a| a.clone().into()).collect()
        });
        // The text with each input's hash shown as a placeholder (the real
        // hashes are read on the node when it is installed).
        b.with_get("text", |u: &mut Unit| -> String {
            let placeholders = vec!["<sha256 on the node>".to_string(); u.spec.inputs.len()];
            u.spec.render(&placeholders).unwrap_or_default()
        });
    }
}

const KEYS: &[&str] = &[
    "name",
    "description",
    "documentation",
    "after",
    "wants",
    "requires",
    "type",
    "exec_start",
    "restart",
    "restart_sec",
    "state_directory",
    "state_directory_mode",
    "service",
    "wanted_by",
    "inputs",
];

/// Builds a [`systemd::Unit`] from a script map; errors name the key.
pub fn unit_from_map(map: &Map) -> Result<systemd::Unit, Error> {
    let bad = |k: &str, why: String| Error::script(format!("`{k}` {why}"));
    let mut u = systemd::Unit::default();
    for (k, v) in map {
        let k = k.as_str();
        let text = |v: &Dynamic| -> Result<String, Error> {
            if v.is_string() {
                Ok(v.to_string())
            } else {
                Err(bad(k, format!("must be a string, got {}", v.type_name())))
            }
        };
        let list = |v: &Dynamic| -> Result<Vec<String>, Error> {
            if v.is_string() {
                return Ok(vec![v.to_string()]);
            }
            let arr = v.clone().try_cast::<rhai::Array>().ok_or_else(|| {
                bad(
                    k,
                    format!("must be a list of strings, got {}", v.type_name()),
                )
            })?;
            arr.iter()
                .enumerate()
                .map(|(i, d)| {
                    if d.is_string() {
                        Ok(d.to_string())
                    } else {
                        Err(bad(
                            k,
                            format!("[{i}] must be a string, got {}", d.type_name()),
                        ))
                    }
                })
                .collect()
        };
        match k {
            "name" => u.name = text(v)?,
            "description" => u.description = text(v)?,
            "documentation" => u.documentation = list(v)?,
            "after" => u.after = list(v)?,
            "wants" => u.wants = list(v)?,
            "requires" => u.requires = list(v)?,
            "type" => u.kind = text(v)?,
            "exec_start" => {
                if v.is_string() {
                    return Err(bad(
                        k,
                        "must be a list of arguments, e.g. [\"/usr/local/bin/etcd\", \"--name=master-0\"] (groundup quotes each one for systemd)".into(),
                    ));
                }
                u.exec_start = list(v)?;
            }
            "restart" => u.restart = text(v)?,
            "restart_sec" => {
                let n = v
                    .as_int()
                    .map_err(|t| bad(k, format!("must be a number of seconds, got {t}")))?;
                u.restart_sec = u32::try_from(n)
                    .map_err(|_| bad(k, format!("must be 0 or more seconds, got {n}")))?;
            }
            "state_directory" => u.state_directory = list(v)?,
            "state_directory_mode" => u.state_directory_mode = text(v)?,
            "service" => {
                let m = v.clone().try_cast::<Map>().ok_or_else(|| {
                    bad(
                        k,
                        format!("must be a map of [Service] settings, got {}", v.type_name()),
                    )
                })?;
                for (sk, sv) in m {
                    u.service.push((sk.to_string(), sv.to_string()));
                }
            }
            "wanted_by" => u.wanted_by = list(v)?,
            "inputs" => u.inputs = list(v)?,
            other => {
                return Err(Error::script(format!(
                    "unknown key `{other}`; known keys: {}",
                    KEYS.join(", ")
                )));
            }
        }
    }
    u.validate()?;
    Ok(u)
}

/// What `systemd::install` did on one node.
#[derive(Debug, Clone, serde::Serialize, CustomType)]
#[rhai_type(name = "InstalledUnit", extra = Self::build_extra)]
pub struct InstalledUnit {
    /// The node.
    #[rhai_type(readonly)]
    pub node: String,
    /// The unit's file name.
    #[rhai_type(readonly)]
    pub unit: String,
    /// Its path on the node.
    #[rhai_type(readonly)]
    pub path: String,
    /// created, updated, unchanged or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
crate::aws::types::display_type!(InstalledUnit);
impl std::fmt::Display for InstalledUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "InstalledUnit {} on {}: {}",
            self.path, self.node, self.status
        )
    }
}

impl From<systemd::remote::Installed> for InstalledUnit {
    fn from(i: systemd::remote::Installed) -> Self {
        InstalledUnit {
            node: i.node,
            unit: i.unit,
            path: i.path,
            status: i.status,
        }
    }
}

impl InstalledUnit {
    /// Back to the plain-Rust record.
    pub fn record(&self) -> systemd::remote::Installed {
        systemd::remote::Installed {
            node: self.node.clone(),
            unit: self.unit.clone(),
            path: self.path.clone(),
            status: self.status.clone(),
        }
    }
}

/// Node names from a node map, a name, or a list of either.
pub fn node_names(nodes: Dynamic) -> Result<Vec<String>, Error> {
    let one = |d: &Dynamic, i: usize| -> Result<String, Error> {
        if d.is_string() {
            return Ok(d.to_string());
        }
        d.clone()
            .try_cast::<Map>()
            .and_then(|m| {
                m.get("name")
                    .filter(|n| n.is_string())
                    .map(|n| n.to_string())
            })
            .ok_or_else(|| {
                Error::script(format!(
                    "nodes[{i}] must be a node name or a node map with `name`, got {}",
                    d.type_name()
                ))
            })
    };
    match nodes.clone().try_cast::<rhai::Array>() {
        Some(a) => a.iter().enumerate().map(|(i, d)| one(d, i)).collect(),
        None => Ok(vec![one(&nodes, 0)?]),
    }
}

fn status_map(node: &str, s: &systemd::status::Status) -> Dynamic {
    let mut m = Map::new();
    m.insert("node".into(), node.to_string().into());
    m.insert("active_state".into(), s.active_state.clone().into());
    m.insert("sub_state".into(), s.sub_state.clone().into());
    m.insert("main_pid".into(), (s.main_pid as i64).into());
    m.insert("unit_file_state".into(), s.unit_file_state.clone().into());
    m.insert("result".into(), s.result.clone().into());
    m.into()
}

#[export_module]
pub mod systemd_api {
    use super::*;
    use crate::systemd::unit::service_name;

    /// A service unit from a map: `name` (`etcd` → `etcd.service`),
    /// `description`, `documentation`, `after`, `wants`, `requires`, `type`
    /// (simple, notify, oneshot, …), `exec_start` (a list: the program's
    /// absolute path, then each argument; groundup quotes them for
    /// systemd), `restart`, `restart_sec`, `state_directory` and
    /// `state_directory_mode` (directories under /var/lib systemd creates),
    /// `service` (a map of more [Service] settings), `wanted_by` (default
    /// multi-user.target) and `inputs` (files on the node the service reads:
    /// when one changes, the unit changes and the service restarts).
    #[rhai_fn(return_raw)]
    pub fn unit(ctx: NativeCallContext, spec: Map) -> Result<Unit, Box<EvalAltResult>> {
        unit_from_map(&spec)
            .map(|spec| Unit { spec })
            .map_err(|e| fail(&ctx, e))
    }

    /// Installs units on nodes: `units` is one unit for every node, or a
    /// list with one unit per node (in the order of `nodes`, node maps or
    /// names). The unit file goes to /etc/systemd/system/ (written only
    /// when its text differs, atomically), with the SHA-256 of each of its
    /// `inputs` on the node; `systemctl daemon-reload` runs only where a
    /// unit changed, and the unit is enabled. Returns one `InstalledUnit`
    /// per node: created, updated, unchanged (or planned).
    #[rhai_fn(return_raw)]
    pub fn install(
        ctx: NativeCallContext,
        nodes: Dynamic,
        units: Dynamic,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        let names = node_names(nodes).map_err(|e| fail(&ctx, e))?;
        let list: Vec<systemd::Unit> = if let Some(u) = units.clone().try_cast::<Unit>() {
            vec![u.spec; names.len()]
        } else if let Some(a) = units.try_cast::<rhai::Array>() {
            a.into_iter()
                .enumerate()
                .map(|(i, d)| {
                    d.try_cast::<Unit>().map(|u| u.spec).ok_or_else(|| {
                        bad_arg(
                            &ctx,
                            format!("units[{i}] must be a Unit from systemd::unit"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?
        } else {
            return Err(bad_arg(
                &ctx,
                "units must be a Unit or a list of Units (one per node)",
            ));
        };
        if list.len() != names.len() {
            return Err(bad_arg(
                &ctx,
                format!(
                    "{} nodes but {} units: give one unit, or one per node",
                    names.len(),
                    list.len()
                ),
            ));
        }
        let work: Vec<(String, systemd::Unit)> = names.into_iter().zip(list).collect();
        h.block_on(systemd::remote::install(&h, &work))
            .map(|v| {
                v.into_iter()
                    .map(|i| Dynamic::from(InstalledUnit::from(i)))
                    .collect()
            })
            .map_err(|e| fail(&ctx, e))
    }

    /// The state of service `name` (`etcd` or `etcd.service`) on each node:
    /// maps `#{ node, active_state, sub_state, main_pid, unit_file_state, result }`.
    #[rhai_fn(return_raw)]
    pub fn status(
        ctx: NativeCallContext,
        nodes: Dynamic,
        name: &str,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        let names = node_names(nodes).map_err(|e| fail(&ctx, e))?;
        let unit = service_name(name);
        let st = h
            .block_on(async {
                let fleet = h.fleet()?;
                systemd::remote::status(&fleet, &names, &unit).await
            })
            .map_err(|e| fail(&ctx, e))?;
        Ok(names
            .iter()
            .zip(&st)
            .map(|(n, s)| status_map(n, s))
            .collect())
    }

    /// Starts service `name` on every node at once with `systemctl start
    /// --no-block` (returns without waiting: members of a quorum service
    /// such as etcd must start together). Follow with `systemd::wait_active`.
    #[rhai_fn(return_raw)]
    pub fn start(
        ctx: NativeCallContext,
        nodes: Dynamic,
        name: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        let names = node_names(nodes).map_err(|e| fail(&ctx, e))?;
        let unit = service_name(name);
        h.block_on(async {
            let fleet = h.fleet()?;
            systemd::remote::start(&fleet, &names, &unit).await
        })
        .map_err(|e| fail(&ctx, e))
    }

    /// Waits until service `name` is active on every node, at most
    /// `timeout_secs`; the error names each node that is not, with its
    /// state and last log lines. Returns the states (see `systemd::status`).
    #[rhai_fn(return_raw)]
    pub fn wait_active(
        ctx: NativeCallContext,
        nodes: Dynamic,
        name: &str,
        timeout_secs: i64,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        let h = crate::api::host(&ctx)?;
        let names = node_names(nodes).map_err(|e| fail(&ctx, e))?;
        let unit = service_name(name);
        let t = std::time::Duration::from_secs(timeout_secs.clamp(0, 3600) as u64);
        let st = h
            .block_on(systemd::remote::wait_active(&h, &names, &unit, t))
            .map_err(|e| fail(&ctx, e))?;
        Ok(names
            .iter()
            .zip(&st)
            .map(|(n, s)| status_map(n, s))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(src: &str) -> Map {
        rhai::Engine::new().eval::<Map>(src).unwrap()
    }

    #[test]
    fn a_map_becomes_a_unit() {
        let u = unit_from_map(&map(
            r#"#{ name: "etcd", type: "notify", exec_start: ["/usr/local/bin/etcd", "--name=a b"],
                 after: "network-online.target", restart: "on-failure", restart_sec: 5,
                 service: #{ LimitNOFILE: "40000" }, inputs: ["/etc/etcd/ca.pem"] }"#,
        ))
        .unwrap();
        assert_eq!(u.file_name(), "etcd.service");
        assert_eq!(u.after, vec!["network-online.target"]);
        let text = u.render(&["0".repeat(64)]).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/etcd \\\n  \"--name=a b\"\n"));
        assert!(text.contains("LimitNOFILE=40000\n"));
    }

    #[test]
    fn bad_maps_name_the_key() {
        let e = |src: &str| unit_from_map(&map(src)).unwrap_err().message;
        assert!(
            e(r#"#{ name: "x", exec_start: "/bin/x --y" }"#)
                .contains("`exec_start` must be a list")
        );
        assert!(
            e(r#"#{ name: "x", exec_start: ["/bin/x"], exec: 1 }"#).contains("unknown key `exec`")
        );
        assert!(
            e(r#"#{ name: "x", exec_start: ["/bin/x", 5] }"#)
                .contains("`exec_start` [1] must be a string")
        );
        assert!(
            e(r#"#{ name: "x", exec_start: ["/bin/x"], restart_sec: -1 }"#).contains("restart_sec")
        );
        assert!(e(r#"#{ name: "x" }"#).contains("exec_start: needs the program"));
    }
}
