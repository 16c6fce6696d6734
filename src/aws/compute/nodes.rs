//! What a node is: its spec (from the runbook), where it is launched, its
//! record in state, and how the cluster's instances are found again (by tag).

use std::collections::HashMap;

use aws_sdk_ec2::types::Filter;
use serde_json::json;

use crate::aws::aws_error;
use crate::aws::once::one_or_none;
use crate::aws::tags::cluster_filter;
use crate::aws::types::*;
use crate::error::Result;
use crate::host::{Host, ROLE_TAG};
use crate::net::cidr;

/// The tag naming a node (`master-0`): how nodes are found again.
pub const NODE_TAG: &str = "groundup:node";

/// One node to launch.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// `master-0`.
    pub name: String,
    /// `master` or `worker`.
    pub role: String,
    /// Index within the role.
    pub index: i64,
    /// Its fixed private IP.
    pub private_ip: String,
    /// Its user data (plain text; base64-encoded for AWS).
    pub user_data: String,
    /// Its pod CIDR (workers).
    pub pod_cidr: String,
    /// Whether EC2 drops traffic not addressed to or from the node (AWS's
    /// default). Off for a node that forwards its pods' traffic (the route
    /// table sends a pod range to it); EC2 can only turn it off after launch.
    pub source_dest_check: bool,
}

impl NodeSpec {
    /// The source/destination check a node gets when its map does not say:
    /// on (AWS's default), off for a node with a pod range (it forwards its
    /// pods' traffic).
    pub fn default_source_dest_check(pod_cidr: &str) -> bool {
        pod_cidr.is_empty()
    }
}

/// Where and how nodes are launched.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Subnet.
    pub subnet_id: String,
    /// Security group.
    pub security_group_id: String,
    /// Key pair name.
    pub key_name: String,
    /// AMI.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// How many launches at once.
    pub concurrency: usize,
}

pub(super) fn instance_from(
    i: &aws_sdk_ec2::types::Instance,
    spec: Option<&NodeSpec>,
    status: &str,
) -> Instance {
    let tags = i.tags();
    let tag = |k: &str| {
        tags.iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_string()
    };
    let private_ip = i.private_ip_address().unwrap_or_default().to_string();
    let dns = i.private_dns_name().unwrap_or_default();
    let hostname = dns
        .split('.')
        .next()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .or_else(|| cidr::ec2_hostname(&private_ip).ok())
        .unwrap_or_default();
    let name = spec
        .map(|s| s.name.clone())
        .unwrap_or_else(|| tag(NODE_TAG));
    Instance {
        id: i.instance_id().unwrap_or_default().into(),
        role: spec
            .map(|s| s.role.clone())
            .unwrap_or_else(|| tag(ROLE_TAG)),
        index: spec.map(|s| s.index).unwrap_or_else(|| {
            name.rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        }),
        name,
        private_ip,
        public_ip: i.public_ip_address().unwrap_or_default().into(),
        hostname,
        pod_cidr: spec.map(|s| s.pod_cidr.clone()).unwrap_or_default(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        status: status.into(),
    }
}

/// Records a node in state (`nodes.<name>`).
pub fn remember_node(host: &Host, n: &Instance) -> Result<()> {
    host.state().set_in("nodes", &n.name, node_record(host, n))
}

/// A node's record in state (`nodes.<name>`).
pub(super) fn node_record(host: &Host, n: &Instance) -> serde_json::Value {
    let private_dns = if n.hostname.is_empty() {
        String::new()
    } else {
        format!(
            "{}.{}",
            n.hostname,
            crate::aws::internal_domain(&host.region)
        )
    };
    json!({
        "instance_id": n.id,
        "role": n.role,
        "index": n.index,
        "private_ip": n.private_ip,
        "public_ip": n.public_ip,
        "hostname": n.hostname,
        "private_dns": private_dns,
        "pod_cidr": n.pod_cidr,
    })
}

/// Instance states that count as "still there" (not terminated).
pub const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped", "shutting-down"];

/// Every instance carrying the cluster's tag in one of `states`, following
/// every page of DescribeInstances.
pub async fn cluster_instances(
    host: &Host,
    states: &[&str],
) -> Result<Vec<aws_sdk_ec2::types::Instance>> {
    let ec2 = &host.aws().await?.ec2;
    let state_filter = states
        .iter()
        .fold(Filter::builder().name("instance-state-name"), |f, s| {
            f.values(*s)
        })
        .build();
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_instances()
        .filters(cluster_filter(host))
        .filters(state_filter)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeInstances", e))?;
        for r in page.reservations() {
            out.extend(r.instances().iter().cloned());
        }
    }
    Ok(out)
}

/// Live (not terminated, not shutting down) nodes of the cluster, by node
/// name. Two live instances for one node are an error naming both: `up`
/// never picks one of them silently.
pub async fn existing_nodes(host: &Host) -> Result<HashMap<String, aws_sdk_ec2::types::Instance>> {
    let running = &LIVE_STATES[..4];
    let mut by_node: HashMap<String, Vec<(String, aws_sdk_ec2::types::Instance)>> = HashMap::new();
    for i in cluster_instances(host, running).await? {
        let node = node_of(&i);
        if !node.is_empty() {
            let id = i.instance_id().unwrap_or_default().to_string();
            by_node.entry(node).or_default().push((id, i));
        }
    }
    let mut names: Vec<String> = by_node.keys().cloned().collect();
    names.sort();
    let mut found = HashMap::new();
    for name in names {
        let list = by_node.remove(&name).unwrap_or_default();
        if let Some((_, i)) =
            one_or_none(&format!("instance for node {name}"), &host.cluster, list)?
        {
            found.insert(name, i);
        }
    }
    Ok(found)
}

/// The value of an instance's `groundup:node` tag (empty if none).
pub fn node_of(i: &aws_sdk_ec2::types::Instance) -> String {
    i.tags()
        .iter()
        .find(|t| t.key() == Some(NODE_TAG))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string()
}

/// The live instance of one node, if any (two are an error).
pub(super) async fn find_node(
    host: &Host,
    node: &str,
) -> Result<Option<aws_sdk_ec2::types::Instance>> {
    Ok(existing_nodes(host).await?.remove(node))
}

/// The `RunInstances` idempotency token of a node: the same for every
/// attempt to launch this node into this subnet (so AWS answers a retry
/// with the instance the first attempt made), another after the subnet is
/// made anew. At most 64 ASCII characters, as EC2 requires.
pub fn client_token(cluster: &str, node: &str, subnet_id: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{cluster}\n{node}\n{subnet_id}").as_bytes(),
    );
    let hex: String = d.as_ref()[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("groundup-{hex}")
}

/// The instances DescribeInstances returns for `ids`, asked 500 IDs at a
/// time and following NextToken (an endpoint may page even an ID list: moto
/// returns 100 instances a page, and an instance on a later page must not
/// be missed). An error whose code `skip` accepts (an ID not visible yet,
/// or already gone) ends that batch with what it returned so far; any other
/// error names DescribeInstances.
pub async fn instances_by_id(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
    skip: impl Fn(Option<&str>) -> bool,
) -> Result<Vec<aws_sdk_ec2::types::Instance>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let mut pages = ec2
            .describe_instances()
            .set_instance_ids(Some(chunk.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(out) => {
                    for r in out.reservations() {
                        found.extend(r.instances().iter().cloned());
                    }
                }
                Err(e) if skip(crate::aws::code_of(&e).as_deref()) => break,
                Err(e) => return Err(aws_error("DescribeInstances", e)),
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_are_stable_per_node_and_subnet() {
        let t = client_token("k8s", "master-0", "subnet-1");
        assert_eq!(t, client_token("k8s", "master-0", "subnet-1"));
        assert_ne!(t, client_token("k8s", "master-1", "subnet-1"));
        assert_ne!(t, client_token("k8s", "master-0", "subnet-2"));
        assert_ne!(t, client_token("other", "master-0", "subnet-1"));
        assert!(t.len() <= 64 && t.is_ascii(), "{t}");
    }
}
