//! Launching the nodes (bounded concurrency, tags at launch, each recorded
//! in state at once) and waiting until they run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    AttributeBooleanValue, InstanceNetworkInterfaceSpecification, InstanceType, ResourceType, Tag,
    TagSpecification,
};
use base64::Engine as _;
use serde_json::json;
use tokio::sync::Semaphore;

use super::nodes::{
    NODE_TAG, NodeSpec, Placement, client_token, existing_nodes, find_node, instance_from,
    node_record, remember_node,
};
use crate::aws::once::{Failure, create_once, ec2_no_retry, failed, max_attempts};
use crate::aws::types::*;
use crate::error::{Error, Kind, Result};
use crate::host::{CLUSTER_TAG, Host, ROLE_TAG};
use crate::net::cidr;

/// Launches every node that does not exist yet (bounded concurrency), turns
/// off the source/destination check of the nodes that forward pod traffic,
/// and records each node in state as soon as it is known. Existing nodes are
/// reused (and their source/dest check set as wanted, e.g. if a crash left
/// it on).
pub async fn launch_nodes(
    host: &Host,
    specs: &[NodeSpec],
    place: &Placement,
) -> Result<Vec<Instance>> {
    let mut existing = HashMap::new();
    if host.can_read() && !host.is_fresh(&place.subnet_id) {
        existing = existing_nodes(host).await?;
    }
    let mut result: Vec<Option<Instance>> = vec![None; specs.len()];
    let mut to_launch = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if let Some(inst) = existing.remove(&spec.name) {
            let have_ip = inst.private_ip_address().unwrap_or_default();
            if have_ip != spec.private_ip {
                return Err(Error::new(
                    Kind::Aws,
                    format!("node {} exists ({}) with private IP {have_ip}, but the runbook wants {}",
                        spec.name,
                        inst.instance_id().unwrap_or_default(),
                        spec.private_ip
                    ),
                )
                .with_help("groundup will not replace a node silently: run `groundup down` first, or pick another --cluster"));
            }
            if inst.source_dest_check() != Some(spec.source_dest_check) && !host.planning() {
                set_source_dest_check(
                    host,
                    inst.instance_id().unwrap_or_default(),
                    spec.source_dest_check,
                )
                .await?;
            }
            let n = instance_from(&inst, Some(spec), Outcome::Reused.as_str());
            remember_node(host, &n)?;
            host.event("instance", &n.id, Outcome::Reused);
            result[i] = Some(n);
        } else {
            to_launch.push(i);
        }
    }
    for (name, inst) in &existing {
        if !host.output.json {
            eprintln!(
                "warning: node {name} ({}) exists but is not in this runbook's list; it is kept (`groundup down` removes everything)",
                inst.instance_id().unwrap_or_default()
            );
        }
    }
    if let Some(plan) = &host.plan {
        for i in to_launch {
            let s = &specs[i];
            let id = plan.record(
                "RunInstances",
                "i",
                json!({
                    "ImageId": place.image_id, "InstanceType": place.instance_type, "KeyName": place.key_name,
                    "SubnetId": place.subnet_id, "SecurityGroupIds": [place.security_group_id],
                    "PrivateIpAddress": s.private_ip, "AssociatePublicIpAddress": true,
                    "UserData": s.user_data,
                    "Tags": {"Name": format!("{}-{}", host.cluster, s.name), CLUSTER_TAG: host.cluster, ROLE_TAG: s.role, NODE_TAG: s.name},
                }),
            );
            if !s.source_dest_check {
                plan.record(
                    "ModifyInstanceAttribute",
                    "",
                    json!({"InstanceId": id, "SourceDestCheck": false}),
                );
            }
            let n = Instance {
                id,
                name: s.name.clone(),
                role: s.role.clone(),
                index: s.index,
                private_ip: s.private_ip.clone(),
                public_ip: String::new(),
                hostname: cidr::ec2_hostname(&s.private_ip).unwrap_or_default(),
                pod_cidr: s.pod_cidr.clone(),
                state: "planned".into(),
                instance_type: place.instance_type.clone(),
                status: Outcome::Planned.into(),
            };
            let _ = remember_node(host, &n);
            host.event("instance", &n.id, Outcome::Planned);
            result[i] = Some(n);
        }
        return Ok(result.into_iter().flatten().collect());
    }
    let sem = std::sync::Arc::new(Semaphore::new(place.concurrency.max(1)));
    let mut futs = Vec::new();
    for i in to_launch {
        let spec = specs[i].clone();
        let sem = sem.clone();
        futs.push(async move {
            let _permit = sem
                .acquire()
                .await
                .map_err(|e| Error::script(e.to_string()))?;
            let inst = launch_one(host, &spec, place).await?;
            Ok::<_, Error>((i, inst))
        });
    }
    let mut first_err = None;
    for r in futures::future::join_all(futs).await {
        match r {
            Ok((i, n)) => result[i] = Some(n),
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(result.into_iter().flatten().collect())
}

async fn set_source_dest_check(host: &Host, id: &str, on: bool) -> Result<()> {
    let ec2 = &host.aws().await?.ec2;
    crate::aws::eventually("ModifyInstanceAttribute", || {
        ec2.modify_instance_attribute()
            .instance_id(id)
            .source_dest_check(AttributeBooleanValue::builder().value(on).build())
            .send()
    })
    .await?;
    Ok(())
}

async fn launch_one(host: &Host, spec: &NodeSpec, place: &Placement) -> Result<Instance> {
    let ec2 = &host.aws().await?.ec2;
    let mut tags = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (k, v) in host.tags(&format!("{}-{}", host.cluster, spec.name)) {
        tags = tags.tags(Tag::builder().key(k).value(v).build());
    }
    tags = tags
        .tags(Tag::builder().key(ROLE_TAG).value(&spec.role).build())
        .tags(Tag::builder().key(NODE_TAG).value(&spec.name).build());
    let token = client_token(&host.cluster, &spec.name, &place.subnet_id);
    let made = create_once(
        max_attempts(host),
        || async {
            let out = ec2
                .run_instances()
                .client_token(&token)
                .image_id(&place.image_id)
                .instance_type(InstanceType::from(place.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .key_name(&place.key_name)
                .user_data(base64::engine::general_purpose::STANDARD.encode(&spec.user_data))
                .network_interfaces(
                    InstanceNetworkInterfaceSpecification::builder()
                        .device_index(0)
                        .subnet_id(&place.subnet_id)
                        .groups(&place.security_group_id)
                        .associate_public_ip_address(true)
                        .private_ip_address(&spec.private_ip)
                        .build(),
                )
                .tag_specifications(tags.clone().build())
                .customize()
                .config_override(ec2_no_retry())
                .send()
                .await
                .map_err(|e| {
                    let (f, e) = failed("RunInstances", e);
                    (f, e.prefixed(&format!("node {}", spec.name)))
                })?;
            out.instances().first().cloned().ok_or_else(|| {
                (
                    Failure::Permanent,
                    Error::aws("RunInstances", "EmptyResponse", "no instance returned"),
                )
            })
        },
        // A launch whose answer was lost is found by its node tag (moto
        // ignores the client token; AWS would answer a retry with the
        // first instance anyway).
        || find_node(host, &spec.name),
    )
    .await?;
    let inst = &made.into_inner();
    let n = instance_from(inst, Some(spec), Outcome::Created.as_str());
    // Record it at once: a crash from here on loses nothing.
    remember_node(host, &n)?;
    host.mark_fresh(&n.id);
    if !spec.source_dest_check {
        set_source_dest_check(host, &n.id, false).await?;
    }
    host.event("instance", &n.id, Outcome::Created);
    Ok(n)
}

/// Waits until every instance is `running` (polling DescribeInstances for
/// all of them in one call, 0.25 s growing to 5 s), then records their
/// public IPs and host names. Fails after `timeout` naming the pending ones.
pub async fn wait_running(
    host: &Host,
    nodes: &[Instance],
    timeout: Duration,
) -> Result<Vec<Instance>> {
    if host.planning() || nodes.is_empty() {
        return Ok(nodes.to_vec());
    }
    let ec2 = &host.aws().await?.ec2;
    let start = Instant::now();
    let mut delay = Duration::from_millis(250);
    let by_id: HashMap<&str, &Instance> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut ids: Vec<String> = by_id.keys().map(|s| s.to_string()).collect();
    ids.sort();
    ids.dedup();
    let mut progress = host.progress("waiting for the nodes");
    loop {
        // Eventual consistency: a just-launched ID may not be visible yet.
        let current: HashMap<String, aws_sdk_ec2::types::Instance> =
            super::nodes::instances_by_id(ec2, &ids, |c| c == Some("InvalidInstanceID.NotFound"))
                .await?
                .into_iter()
                .map(|i| (i.instance_id().unwrap_or_default().to_string(), i))
                .collect();
        let pending: Vec<String> = nodes
            .iter()
            .filter(|n| {
                current
                    .get(&n.id)
                    .and_then(|i| i.state())
                    .and_then(|s| s.name())
                    .map(|s| s.as_str() != "running")
                    .unwrap_or(true)
            })
            .map(|n| format!("{} ({})", n.name, n.id))
            .collect();
        if pending.is_empty() {
            let mut out = Vec::new();
            let mut records = Vec::new();
            for n in nodes {
                let Some(i) = current.get(&n.id) else {
                    continue;
                };
                let spec = NodeSpec {
                    name: n.name.clone(),
                    role: n.role.clone(),
                    index: n.index,
                    private_ip: n.private_ip.clone(),
                    user_data: String::new(),
                    pod_cidr: n.pod_cidr.clone(),
                    source_dest_check: NodeSpec::default_source_dest_check(&n.pod_cidr),
                };
                let mut m = instance_from(i, Some(&spec), &n.status);
                if m.private_ip.is_empty() {
                    m.private_ip = n.private_ip.clone();
                }
                records.push((m.name.clone(), node_record(host, &m)));
                out.push(m);
            }
            // Every node's public IP and host name in one state write (each
            // node was already recorded durably when it was launched).
            host.state().set_many_in("nodes", records)?;
            return Ok(out);
        }
        for n in nodes {
            if let Some(s) = current
                .get(&n.id)
                .and_then(|i| i.state())
                .and_then(|s| s.name())
                && matches!(
                    s.as_str(),
                    "terminated" | "shutting-down" | "stopped" | "stopping"
                )
            {
                return Err(Error::new(
                    Kind::Aws,
                    format!(
                        "node {} ({}) is {} instead of starting",
                        n.name,
                        n.id,
                        s.as_str()
                    ),
                )
                .with_help("look at the instance in the EC2 console (state reason), then re-run"));
            }
        }
        progress.update(&format!(
            "{} of {} nodes running",
            nodes.len() - pending.len(),
            nodes.len()
        ));
        if start.elapsed() >= timeout {
            return Err(Error::new(
                Kind::Aws,
                format!(
                    "after {} s these nodes are still not running: {}",
                    timeout.as_secs(),
                    pending.join(", ")
                ),
            )
            .with_help(
                "re-run to keep waiting (nothing is launched twice), or raise `wait_timeout_secs`",
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
