//! The cluster's instances (terminated, and waited for) and its key pair.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{delete_with_retry, is_gone};
use crate::aws::{aws_error, code_of};
use crate::error::{Error, Kind, Result};
use crate::host::Host;

/// Terminates every node of the cluster and waits until they are
/// terminated. Returns the instance IDs.
pub async fn terminate_nodes(host: &Host, timeout: Duration) -> Result<Vec<String>> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    if let Some(serde_json::Value::Object(nodes)) = host.state().get("nodes") {
        for n in nodes.values() {
            if let Some(id) = n["instance_id"].as_str()
                && !id.contains("-planned")
            {
                ids.insert(id.to_string());
            }
        }
    }
    if host.can_read() {
        let live =
            crate::aws::compute::cluster_instances(host, crate::aws::compute::LIVE_STATES).await?;
        ids.extend(
            live.iter()
                .filter_map(|i| i.instance_id().map(str::to_string)),
        );
    }
    let ids: Vec<String> = ids.into_iter().collect();
    if ids.is_empty() {
        host.state().remove("nodes")?;
        return Ok(ids);
    }
    let params = || json!({"InstanceIds": ids});
    let Some(aws) = host.unless_planned("TerminateInstances", params).await? else {
        return Ok(ids);
    };
    let ec2 = &aws.ec2;
    // Terminate the ones that still exist (an ID only in state may be gone).
    let mut live = Vec::new();
    for chunk in ids.chunks(500) {
        match ec2
            .terminate_instances()
            .set_instance_ids(Some(chunk.to_vec()))
            .send()
            .await
        {
            Ok(_) => live.extend(chunk.iter().cloned()),
            Err(e) if is_gone(code_of(&e).as_deref()) => {
                // Some are gone: retry one by one.
                for id in chunk {
                    match ec2.terminate_instances().instance_ids(id).send().await {
                        Ok(_) => live.push(id.clone()),
                        Err(e) if is_gone(code_of(&e).as_deref()) => {}
                        Err(e) => return Err(aws_error("TerminateInstances", e)),
                    }
                }
            }
            Err(e) => return Err(aws_error("TerminateInstances", e)),
        }
    }
    for id in &live {
        host.event("instance", id, crate::outcome::Outcome::Deleted);
    }
    // Wait until terminated.
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut progress = host.progress("waiting for the instances to terminate");
    loop {
        let mut pending = Vec::new();
        for i in crate::aws::compute::nodes::instances_by_id(ec2, &live, is_gone).await? {
            let st = i
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default();
            if st != "terminated" {
                pending.push(format!("{} ({st})", i.instance_id().unwrap_or_default()));
            }
        }
        if pending.is_empty() {
            break;
        }
        progress.update(&format!(
            "{} of {} instances terminated",
            live.len().saturating_sub(pending.len()),
            live.len()
        ));
        if start.elapsed() >= timeout {
            return Err(Error::new(
                Kind::Aws,
                format!(
                    "after {} s these instances are not terminated yet: {}",
                    timeout.as_secs(),
                    pending.join(", ")
                ),
            )
            .with_help("run `groundup down` again to keep waiting"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    host.state().remove("nodes")?;
    Ok(live)
}

/// Deletes the cluster's key pair (the local private key file is kept).
pub async fn delete_key_pair(host: &Host, name: &str) -> Result<bool> {
    if !host.can_read() {
        // Offline: the key pair exists if groundup made it here (its file).
        let known = crate::aws::compute::key_path(host, name).exists();
        if let (Some(plan), true) = (&host.plan, known) {
            plan.record("DeleteKeyPair", "", json!({"KeyName": name}));
        }
        return Ok(known);
    }
    let ec2 = &host.aws().await?.ec2;
    match ec2.describe_key_pairs().key_names(name).send().await {
        Ok(_) => {}
        Err(e) if is_gone(code_of(&e).as_deref()) => return Ok(false),
        Err(e) => return Err(aws_error("DescribeKeyPairs", e)),
    }
    let params = || json!({"KeyName": name});
    if host
        .unless_planned("DeleteKeyPair", params)
        .await?
        .is_none()
    {
        return Ok(true);
    }
    let done = delete_with_retry(host, "DeleteKeyPair", || async {
        ec2.delete_key_pair()
            .key_name(name)
            .send()
            .await
            .map(|_| ())
    })
    .await?;
    if done {
        host.event("key-pair", name, crate::outcome::Outcome::Deleted);
    }
    Ok(done)
}
