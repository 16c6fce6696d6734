//! The SSH fleet of a run: the explicit inputs [`crate::ssh::Fleet`] is
//! made of (nodes, key and known_hosts paths, the `ssh_*` settings, the
//! run's pool and plan), taken from the host. `ssh` itself never reads
//! the host.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::Host;
use crate::error::{Error, Result};
use crate::ssh::{self, AddressChoice, Fleet, Node, Options, Parts};

impl Host {
    /// The fleet of this host's cluster: its nodes (from state) and the SSH
    /// settings. Opens nothing yet.
    pub fn fleet(&self) -> Result<Fleet<'_>> {
        Ok(Fleet::new(Parts {
            nodes: self.nodes()?,
            options: self.ssh_options()?,
            key_path: self.ssh_key_path(),
            known_hosts: ssh::known_hosts_path(self.state().dir()),
            pool: self.ssh_pool(),
            plan: self.plan.as_ref(),
            journal: Box::new(move |kind, id, outcome| self.event(kind, id, outcome)),
        }))
    }

    /// The cluster's private key file (compute makes it).
    pub fn ssh_key_path(&self) -> PathBuf {
        crate::aws::compute::key_path(self, &self.cluster)
    }

    /// How SSH reaches the nodes: the `ssh_*` settings, and whether AWS
    /// calls go to an emulator.
    pub fn ssh_options(&self) -> Result<Options> {
        let s = &self.settings;
        let address = AddressChoice::parse(&s.str("ssh_address")).ok_or_else(|| {
            Error::setting(format!(
                "setting `ssh_address` = `{}`: expected public or private",
                s.str("ssh_address")
            ))
        })?;
        let user = match s.str("ssh_user") {
            u if u.is_empty() => "ubuntu".to_string(),
            u => u,
        };
        Ok(Options {
            user,
            address,
            boot_timeout: Duration::from_secs(s.int("ssh_boot_timeout_secs").clamp(0, 3600) as u64),
            concurrency: s.int("ssh_concurrency").clamp(1, 256) as usize,
            emulator: self
                .aws_options
                .endpoint
                .as_deref()
                .is_some_and(crate::aws::is_loopback_url),
        })
    }

    /// The nodes compute.rhai recorded (`nodes` in state), or, before
    /// compute (plan, offline), the lesson's layout from the settings;
    /// masters first.
    pub fn nodes(&self) -> Result<Vec<Node>> {
        let st = self.state();
        let recorded = st.get("nodes").and_then(Value::as_object).cloned();
        drop(st);
        let instance: HashMap<String, (String, String)> = recorded
            .iter()
            .flatten()
            .map(|(k, v)| {
                let s = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
                (k.clone(), (s("instance_id"), s("public_ip")))
            })
            .collect();
        let nodes = crate::pki_cluster::nodes(
            &self.settings,
            self.layout()?,
            recorded.map(Value::Object).as_ref(),
        )?;
        Ok(nodes
            .into_iter()
            .map(|n| {
                let (id, _) = instance.get(&n.name).cloned().unwrap_or_default();
                Node {
                    instance_id: id,
                    name: n.name,
                    role: n.role,
                    index: n.index,
                    private_ip: n.private_ip,
                    public_ip: n.public_ip,
                }
            })
            .collect())
    }

    /// The bytes of `rel`, a file inside the cluster's state directory (see
    /// [`ssh::source_file`]).
    pub fn source_file(&self, rel: &str) -> Result<Vec<u8>> {
        let dir = self.state().dir().to_path_buf();
        ssh::source_file(&dir, rel)
    }
}
