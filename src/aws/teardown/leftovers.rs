//! What of the cluster is still in AWS, and what it has twice.

use crate::aws::tags::{Tagged, tagged_ids};
use crate::error::Result;
use crate::host::Host;

/// Everything still carrying the cluster's tag (or its load balancer and
/// target group names): `kind id` lines. Empty when the cluster is gone.
pub async fn leftovers(host: &Host, name: &str) -> Result<Vec<String>> {
    if !host.can_read() {
        return Ok(Vec::new());
    }
    let ec2 = &host.aws().await?.ec2;
    let elb = &host.aws().await?.elb;
    let mut out = Vec::new();
    for i in crate::aws::compute::cluster_instances(host, crate::aws::compute::LIVE_STATES).await? {
        out.push(format!("instance {}", i.instance_id().unwrap_or_default()));
    }
    if ec2
        .describe_key_pairs()
        .key_names(name)
        .send()
        .await
        .is_ok()
    {
        out.push(format!("key-pair {name}"));
    }
    if let Ok(o) = elb.describe_load_balancers().names(name).send().await {
        out.extend(o.load_balancers().iter().map(|l| {
            format!(
                "load-balancer {}",
                l.load_balancer_arn().unwrap_or_default()
            )
        }));
    }
    if let Ok(o) = elb.describe_target_groups().names(name).send().await {
        out.extend(
            o.target_groups()
                .iter()
                .map(|t| format!("target-group {}", t.target_group_arn().unwrap_or_default())),
        );
    }
    for kind in Tagged::ALL {
        for id in tagged_ids(host, kind).await? {
            out.push(format!("{} {id}", kind.kind()));
        }
    }
    Ok(out)
}

/// Resources of which the cluster has more than one where one is expected
/// (made by an older version, by hand, or by a create retried blindly):
/// `duplicate KIND [NODE]: ID ID …` lines, from [`leftovers`] and the
/// live instances by node name.
pub async fn duplicates(host: &Host, name: &str) -> Result<Vec<String>> {
    if !host.can_read() {
        return Ok(Vec::new());
    }
    let mut items: Vec<(String, String, String)> = leftovers(host, name)
        .await?
        .into_iter()
        .filter_map(|l| {
            let (kind, id) = l.split_once(' ')?;
            (kind != "instance" && kind != "key-pair")
                .then(|| (kind.to_string(), String::new(), id.to_string()))
        })
        .collect();
    let running = &crate::aws::compute::LIVE_STATES[..4];
    for i in crate::aws::compute::cluster_instances(host, running).await? {
        let node = crate::aws::compute::node_of(&i);
        if !node.is_empty() {
            items.push((
                "instance".into(),
                node,
                i.instance_id().unwrap_or_default().to_string(),
            ));
        }
    }
    Ok(crate::aws::once::duplicates(&items))
}
