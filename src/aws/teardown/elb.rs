//! The load balancer's listeners, its target group, then the load balancer
//! itself (waited for until gone).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{delete_with_retry, is_gone, state_ids};
use crate::aws::{aws_error, code_of};
use crate::error::{Error, Kind, Result};
use crate::host::Host;

/// The cluster's load balancers: by name (the cluster's) and by state ARN.
async fn load_balancers(host: &Host, name: &str) -> Result<Vec<String>> {
    let mut arns = state_ids(host, "load_balancer_arn");
    if host.can_read() {
        let elb = &host.aws().await?.elb;
        match elb.describe_load_balancers().names(name).send().await {
            Ok(out) => {
                for lb in out.load_balancers() {
                    if let Some(a) = lb.load_balancer_arn() {
                        arns.insert(a.to_string());
                    }
                }
            }
            Err(e) if is_gone(code_of(&e).as_deref()) => {}
            Err(e) => return Err(aws_error("DescribeLoadBalancers", e)),
        }
        // Keep only ARNs that still exist.
        let mut live = Vec::new();
        for a in arns {
            match elb
                .describe_load_balancers()
                .load_balancer_arns(&a)
                .send()
                .await
            {
                Ok(_) => live.push(a),
                Err(e) if is_gone(code_of(&e).as_deref()) => {}
                Err(e) => return Err(aws_error("DescribeLoadBalancers", e)),
            }
        }
        return Ok(live);
    }
    Ok(arns.into_iter().collect())
}

/// Deletes the listeners of the cluster's load balancer.
pub async fn delete_listeners(host: &Host, name: &str) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for lb in load_balancers(host, name).await? {
        let mut arns: Vec<String> = state_ids(host, "listener_arn").into_iter().collect();
        if host.can_read() {
            let elb = &host.aws().await?.elb;
            arns.clear();
            match elb.describe_listeners().load_balancer_arn(&lb).send().await {
                Ok(out) => arns.extend(
                    out.listeners()
                        .iter()
                        .filter_map(|l| l.listener_arn().map(str::to_string)),
                ),
                Err(e) if is_gone(code_of(&e).as_deref()) => {}
                Err(e) => return Err(aws_error("DescribeListeners", e)),
            }
        }
        for arn in arns {
            let params = || json!({"ListenerArn": arn});
            let Some(aws) = host.unless_planned("DeleteListener", params).await? else {
                deleted.push(arn);
                continue;
            };
            let elb = &aws.elb;
            match elb.delete_listener().listener_arn(&arn).send().await {
                Ok(_) => {
                    host.event("listener", &arn, crate::outcome::Outcome::Deleted);
                    deleted.push(arn);
                }
                Err(e) if is_gone(code_of(&e).as_deref()) => {}
                Err(e) => return Err(aws_error("DeleteListener", e)),
            }
        }
    }
    host.forget("listener_arn")?;
    Ok(deleted)
}

/// Deletes the cluster's target group (after its listener).
pub async fn delete_target_group(host: &Host, name: &str) -> Result<Vec<String>> {
    let mut arns = state_ids(host, "target_group_arn");
    if host.can_read() {
        let elb = &host.aws().await?.elb;
        match elb.describe_target_groups().names(name).send().await {
            Ok(out) => arns.extend(
                out.target_groups()
                    .iter()
                    .filter_map(|t| t.target_group_arn().map(str::to_string)),
            ),
            Err(e) if is_gone(code_of(&e).as_deref()) => {}
            Err(e) => return Err(aws_error("DescribeTargetGroups", e)),
        }
    }
    let mut deleted = Vec::new();
    for arn in arns {
        let params = || json!({"TargetGroupArn": arn});
        let Some(aws) = host.unless_planned("DeleteTargetGroup", params).await? else {
            deleted.push(arn);
            continue;
        };
        let elb = &aws.elb;
        if delete_with_retry(host, "DeleteTargetGroup", || async {
            elb.delete_target_group()
                .target_group_arn(&arn)
                .send()
                .await
                .map(|_| ())
        })
        .await?
        {
            host.event("target-group", &arn, crate::outcome::Outcome::Deleted);
            deleted.push(arn);
        }
    }
    host.forget("target_group_arn")?;
    Ok(deleted)
}

/// Deletes the cluster's load balancer and waits until it is gone.
pub async fn delete_load_balancer(
    host: &Host,
    name: &str,
    timeout: Duration,
) -> Result<Vec<String>> {
    let arns = load_balancers(host, name).await?;
    let mut deleted = Vec::new();
    for arn in arns {
        let params = || json!({"LoadBalancerArn": arn});
        let Some(aws) = host.unless_planned("DeleteLoadBalancer", params).await? else {
            deleted.push(arn);
            continue;
        };
        let elb = &aws.elb;
        match elb
            .delete_load_balancer()
            .load_balancer_arn(&arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_gone(code_of(&e).as_deref()) => continue,
            Err(e) => return Err(aws_error("DeleteLoadBalancer", e)),
        }
        let start = Instant::now();
        let mut progress = host.progress("waiting for the load balancer to go");
        loop {
            match elb
                .describe_load_balancers()
                .load_balancer_arns(&arn)
                .send()
                .await
            {
                Err(e) if is_gone(code_of(&e).as_deref()) => break,
                Ok(out) if out.load_balancers().is_empty() => break,
                Ok(_) => {}
                Err(e) => return Err(aws_error("DescribeLoadBalancers", e)),
            }
            if start.elapsed() >= timeout {
                return Err(Error::new(
                    Kind::Aws,
                    format!("{arn} is still being deleted after {} s", timeout.as_secs()),
                )
                .with_help("run `groundup down` again to keep waiting"));
            }
            progress.update(&format!("{name} is being deleted"));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        host.event("load-balancer", &arn, crate::outcome::Outcome::Deleted);
        deleted.push(arn);
    }
    host.forget("load_balancer_arn")?;
    host.forget("kubernetes_public_address")?;
    Ok(deleted)
}
