//! Tearing the cluster down, in reverse dependency order.  Every function
//! finds its resources by the `groundup:cluster` tag **and** by the IDs in
//! state (so it works after a lost state file or a crashed `up`), tolerates
//! "already gone", retries `DependencyViolation` with backoff for a bounded
//! time, and forgets what it deleted from state.  In plan mode the deletes
//! are recorded, not made.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::json;

use super::network::{cluster_filter, filter};
use super::{aws_error, code_of};
use crate::error::{Error, Kind, Result};
use crate::host::Host;

/// Codes that mean the resource is already gone.
const GONE: &[&str] = &[
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidDhcpOptionID.NotFound",
    "InvalidDhcpOptionsID.NotFound",
    "InvalidKeyPair.NotFound",
    "InvalidInstanceID.NotFound",
    "InvalidAssociationID.NotFound",
    "Gateway.NotAttached",
    "LoadBalancerNotFound",
    "TargetGroupNotFound",
    "ListenerNotFound",
];

fn is_gone(code: Option<&str>) -> bool {
    code.is_some_and(|c| GONE.contains(&c))
}

/// How long a delete that hits `DependencyViolation` / `ResourceInUse` is
/// retried.
pub fn dependency_timeout(host: &Host) -> Duration {
    let s = host.settings.int("delete_timeout_secs");
    Duration::from_secs(if s > 0 { s as u64 } else { 300 })
}

/// Runs one delete call, retrying dependency errors with backoff until the
/// timeout; `Ok(false)` when the resource was already gone.
async fn delete_with_retry<F, Fut, E, R>(host: &Host, op: &str, mut f: F) -> Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<(), aws_sdk_ec2::error::SdkError<E, R>>>,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let start = Instant::now();
    let limit = dependency_timeout(host);
    let mut delay = Duration::from_millis(500);
    loop {
        match f().await {
            Ok(()) => return Ok(true),
            Err(e) => {
                let code = code_of(&e);
                if is_gone(code.as_deref()) {
                    return Ok(false);
                }
                let busy = matches!(
                    code.as_deref(),
                    Some("DependencyViolation") | Some("ResourceInUse")
                );
                if busy && start.elapsed() < limit {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                    continue;
                }
                return Err(aws_error(op, e));
            }
        }
    }
}

/// Deletes each ID (or records the delete in plan mode), retrying
/// dependency errors; returns the IDs deleted. `param` names the ID in the
/// plan (`SubnetId`), `kind` in the run's events (`subnet`).
async fn delete_each<F, Fut, E, R>(
    host: &Host,
    op: &str,
    (kind, param): (&str, &str),
    ids: impl IntoIterator<Item = String>,
    delete: F,
) -> Result<Vec<String>>
where
    F: Fn(aws_sdk_ec2::Client, String) -> Fut,
    Fut: Future<Output = std::result::Result<(), aws_sdk_ec2::error::SdkError<E, R>>>,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let mut deleted = Vec::new();
    for id in ids {
        if let Some(plan) = &host.plan {
            plan.record(op, "", json!({ param: id }));
            deleted.push(id);
            continue;
        }
        let ec2 = host.aws().await?.ec2.clone();
        if delete_with_retry(host, op, || delete(ec2.clone(), id.clone())).await? {
            host.event(kind, &id, crate::outcome::Outcome::Deleted);
            deleted.push(id);
        }
    }
    Ok(deleted)
}

fn state_ids(host: &Host, key: &str) -> BTreeSet<String> {
    host.recalled(key)
        .into_iter()
        .filter(|s| !s.contains("-planned"))
        .collect()
}

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
        let live = super::compute::cluster_instances(host, super::compute::LIVE_STATES).await?;
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
    if let Some(plan) = &host.plan {
        plan.record("TerminateInstances", "", json!({"InstanceIds": ids}));
        return Ok(ids);
    }
    let ec2 = &host.aws().await?.ec2;
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
        for chunk in live.chunks(500) {
            // Follow NextToken (moto pages an ID list at 100): an instance on
            // a later page must not be taken for terminated.
            let mut pages = ec2
                .describe_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                match page {
                    Ok(out) => {
                        for r in out.reservations() {
                            for i in r.instances() {
                                let st = i
                                    .state()
                                    .and_then(|s| s.name())
                                    .map(|n| n.as_str().to_string())
                                    .unwrap_or_default();
                                if st != "terminated" {
                                    pending.push(format!(
                                        "{} ({st})",
                                        i.instance_id().unwrap_or_default()
                                    ));
                                }
                            }
                        }
                    }
                    Err(e) if is_gone(code_of(&e).as_deref()) => break,
                    Err(e) => return Err(aws_error("DescribeInstances", e)),
                }
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
        let known = super::compute::key_path(host, name).exists();
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
    if let Some(plan) = &host.plan {
        plan.record("DeleteKeyPair", "", json!({"KeyName": name}));
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
            if let Some(plan) = &host.plan {
                plan.record("DeleteListener", "", json!({"ListenerArn": arn}));
                deleted.push(arn);
                continue;
            }
            let elb = &host.aws().await?.elb;
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
        if let Some(plan) = &host.plan {
            plan.record("DeleteTargetGroup", "", json!({"TargetGroupArn": arn}));
            deleted.push(arn);
            continue;
        }
        let elb = &host.aws().await?.elb;
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
        if let Some(plan) = &host.plan {
            plan.record("DeleteLoadBalancer", "", json!({"LoadBalancerArn": arn}));
            deleted.push(arn);
            continue;
        }
        let elb = &host.aws().await?.elb;
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

/// The cluster's VPC IDs: by tag and by state.
async fn vpcs(host: &Host) -> Result<BTreeSet<String>> {
    let mut ids = state_ids(host, "vpc_id");
    if host.can_read() {
        let ec2 = &host.aws().await?.ec2;
        let out = ec2
            .describe_vpcs()
            .filters(cluster_filter(host))
            .send()
            .await
            .map_err(|e| aws_error("DescribeVpcs", e))?;
        ids.extend(
            out.vpcs()
                .iter()
                .filter_map(|v| v.vpc_id().map(str::to_string)),
        );
    }
    Ok(ids)
}

/// Deletes the cluster's security groups (retrying while network
/// interfaces of terminated instances still hold them).
pub async fn delete_security_groups(host: &Host) -> Result<Vec<String>> {
    let mut ids = state_ids(host, "security_group_id");
    if host.can_read() {
        let ec2 = &host.aws().await?.ec2;
        let out = ec2
            .describe_security_groups()
            .filters(cluster_filter(host))
            .send()
            .await
            .map_err(|e| aws_error("DescribeSecurityGroups", e))?;
        ids.extend(
            out.security_groups()
                .iter()
                .filter(|g| g.group_name() != Some("default"))
                .filter_map(|g| g.group_id().map(str::to_string)),
        );
    }
    let deleted = delete_each(
        host,
        "DeleteSecurityGroup",
        ("security-group", "GroupId"),
        ids,
        |ec2, id| async move {
            ec2.delete_security_group()
                .group_id(id)
                .send()
                .await
                .map(|_| ())
        },
    )
    .await?;
    host.forget("security_group_id")?;
    Ok(deleted)
}

/// Disassociates and deletes the cluster's route tables.
pub async fn delete_route_tables(host: &Host) -> Result<Vec<String>> {
    let mut ids = state_ids(host, "route_table_id");
    let mut assoc: Vec<String> = Vec::new();
    if host.can_read() {
        let ec2 = &host.aws().await?.ec2;
        let mut req = ec2.describe_route_tables().filters(cluster_filter(host));
        if !ids.is_empty() {
            // Also see the ones in state (their tags may be gone).
            let out = ec2
                .describe_route_tables()
                .set_route_table_ids(Some(ids.iter().cloned().collect()))
                .send()
                .await;
            match out {
                Ok(o) => {
                    for rt in o.route_tables() {
                        assoc.extend(
                            rt.associations()
                                .iter()
                                .filter(|a| a.main() != Some(true))
                                .filter_map(|a| a.route_table_association_id().map(str::to_string)),
                        );
                    }
                }
                Err(e) if is_gone(code_of(&e).as_deref()) => ids.clear(),
                Err(e) => return Err(aws_error("DescribeRouteTables", e)),
            }
        }
        req = req.filters(filter("association.main", "false"));
        let out = req
            .send()
            .await
            .map_err(|e| aws_error("DescribeRouteTables", e))?;
        for rt in out.route_tables() {
            if let Some(id) = rt.route_table_id()
                && ids.insert(id.to_string())
            {
                assoc.extend(
                    rt.associations()
                        .iter()
                        .filter(|a| a.main() != Some(true))
                        .filter_map(|a| a.route_table_association_id().map(str::to_string)),
                );
            }
        }
        // Unassociated tables too (the filter above only sees associated ones).
        let out = ec2
            .describe_route_tables()
            .filters(cluster_filter(host))
            .send()
            .await
            .map_err(|e| aws_error("DescribeRouteTables", e))?;
        for rt in out.route_tables() {
            let main = rt.associations().iter().any(|a| a.main() == Some(true));
            if let (Some(id), false) = (rt.route_table_id(), main)
                && ids.insert(id.to_string())
            {
                assoc.extend(
                    rt.associations()
                        .iter()
                        .filter_map(|a| a.route_table_association_id().map(str::to_string)),
                );
            }
        }
    }
    assoc.sort();
    assoc.dedup();
    let mut deleted = Vec::new();
    if let Some(plan) = &host.plan {
        for a in &assoc {
            plan.record("DisassociateRouteTable", "", json!({"AssociationId": a}));
        }
        for id in ids {
            plan.record("DeleteRouteTable", "", json!({"RouteTableId": id}));
            deleted.push(id);
        }
        return Ok(deleted);
    }
    if ids.is_empty() {
        host.forget("route_table_id")?;
        return Ok(deleted);
    }
    let ec2 = &host.aws().await?.ec2;
    for a in &assoc {
        match ec2
            .disassociate_route_table()
            .association_id(a)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_gone(code_of(&e).as_deref()) => {}
            Err(e) => return Err(aws_error("DisassociateRouteTable", e)),
        }
    }
    for id in ids {
        if delete_with_retry(host, "DeleteRouteTable", || async {
            ec2.delete_route_table()
                .route_table_id(&id)
                .send()
                .await
                .map(|_| ())
        })
        .await?
        {
            host.event("route-table", &id, crate::outcome::Outcome::Deleted);
            deleted.push(id);
        }
    }
    host.forget("route_table_id")?;
    Ok(deleted)
}

/// Detaches and deletes the cluster's internet gateways.
pub async fn delete_internet_gateways(host: &Host) -> Result<Vec<String>> {
    let mut gws: Vec<(String, Vec<String>)> = Vec::new();
    let state_id = state_ids(host, "internet_gateway_id");
    if host.can_read() {
        let ec2 = &host.aws().await?.ec2;
        let out = ec2
            .describe_internet_gateways()
            .filters(cluster_filter(host))
            .send()
            .await
            .map_err(|e| aws_error("DescribeInternetGateways", e))?;
        for g in out.internet_gateways() {
            let id = g.internet_gateway_id().unwrap_or_default().to_string();
            let att = g
                .attachments()
                .iter()
                .filter_map(|a| a.vpc_id().map(str::to_string))
                .collect();
            gws.push((id, att));
        }
        for id in state_id {
            if !gws.iter().any(|(g, _)| *g == id) {
                match ec2
                    .describe_internet_gateways()
                    .internet_gateway_ids(&id)
                    .send()
                    .await
                {
                    Ok(o) => {
                        for g in o.internet_gateways() {
                            let att = g
                                .attachments()
                                .iter()
                                .filter_map(|a| a.vpc_id().map(str::to_string))
                                .collect();
                            gws.push((id.clone(), att));
                        }
                    }
                    Err(e) if is_gone(code_of(&e).as_deref()) => {}
                    Err(e) => return Err(aws_error("DescribeInternetGateways", e)),
                }
            }
        }
    } else {
        let vpc = host.recalled("vpc_id").unwrap_or_default();
        gws.extend(state_id.into_iter().map(|id| (id, vec![vpc.clone()])));
    }
    let mut deleted = Vec::new();
    for (id, attached) in gws {
        if let Some(plan) = &host.plan {
            for v in &attached {
                plan.record(
                    "DetachInternetGateway",
                    "",
                    json!({"InternetGatewayId": id, "VpcId": v}),
                );
            }
            plan.record(
                "DeleteInternetGateway",
                "",
                json!({"InternetGatewayId": id}),
            );
            deleted.push(id);
            continue;
        }
        let ec2 = &host.aws().await?.ec2;
        for v in &attached {
            delete_with_retry(host, "DetachInternetGateway", || async {
                ec2.detach_internet_gateway()
                    .internet_gateway_id(&id)
                    .vpc_id(v)
                    .send()
                    .await
                    .map(|_| ())
            })
            .await?;
        }
        if delete_with_retry(host, "DeleteInternetGateway", || async {
            ec2.delete_internet_gateway()
                .internet_gateway_id(&id)
                .send()
                .await
                .map(|_| ())
        })
        .await?
        {
            host.event("internet-gateway", &id, crate::outcome::Outcome::Deleted);
            deleted.push(id);
        }
    }
    host.forget("internet_gateway_id")?;
    Ok(deleted)
}

/// Deletes the cluster's subnets.
pub async fn delete_subnets(host: &Host) -> Result<Vec<String>> {
    let mut ids = state_ids(host, "subnet_id");
    if host.can_read() {
        let ec2 = &host.aws().await?.ec2;
        let out = ec2
            .describe_subnets()
            .filters(cluster_filter(host))
            .send()
            .await
            .map_err(|e| aws_error("DescribeSubnets", e))?;
        ids.extend(
            out.subnets()
                .iter()
                .filter_map(|s| s.subnet_id().map(str::to_string)),
        );
    }
    let deleted = delete_each(
        host,
        "DeleteSubnet",
        ("subnet", "SubnetId"),
        ids,
        |ec2, id| async move { ec2.delete_subnet().subnet_id(id).send().await.map(|_| ()) },
    )
    .await?;
    host.forget("subnet_id")?;
    Ok(deleted)
}

/// Deletes the cluster's VPCs (after everything in them).
pub async fn delete_vpcs(host: &Host) -> Result<Vec<String>> {
    let ids = vpcs(host).await?;
    let deleted = delete_each(
        host,
        "DeleteVpc",
        ("vpc", "VpcId"),
        ids,
        |ec2, id| async move { ec2.delete_vpc().vpc_id(id).send().await.map(|_| ()) },
    )
    .await?;
    host.forget("vpc_id")?;
    Ok(deleted)
}

/// Deletes the cluster's DHCP options sets (after the VPC).
pub async fn delete_dhcp_options(host: &Host) -> Result<Vec<String>> {
    let mut ids = state_ids(host, "dhcp_options_id");
    if host.can_read() {
        let ec2 = &host.aws().await?.ec2;
        let out = ec2
            .describe_dhcp_options()
            .filters(cluster_filter(host))
            .send()
            .await
            .map_err(|e| aws_error("DescribeDhcpOptions", e))?;
        ids.extend(
            out.dhcp_options()
                .iter()
                .filter_map(|d| d.dhcp_options_id().map(str::to_string)),
        );
    }
    let deleted = delete_each(
        host,
        "DeleteDhcpOptions",
        ("dhcp-options", "DhcpOptionsId"),
        ids,
        |ec2, id| async move {
            ec2.delete_dhcp_options()
                .dhcp_options_id(id)
                .send()
                .await
                .map(|_| ())
        },
    )
    .await?;
    host.forget("dhcp_options_id")?;
    Ok(deleted)
}

/// Everything still carrying the cluster's tag (or its load balancer and
/// target group names): `kind id` lines. Empty when the cluster is gone.
pub async fn leftovers(host: &Host, name: &str) -> Result<Vec<String>> {
    if !host.can_read() {
        return Ok(Vec::new());
    }
    let ec2 = &host.aws().await?.ec2;
    let elb = &host.aws().await?.elb;
    let f = || cluster_filter(host);
    let mut out = Vec::new();
    for i in super::compute::cluster_instances(host, super::compute::LIVE_STATES).await? {
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
    let sgs = ec2
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .map_err(|e| aws_error("DescribeSecurityGroups", e))?;
    out.extend(
        sgs.security_groups()
            .iter()
            .map(|g| format!("security-group {}", g.group_id().unwrap_or_default())),
    );
    let rts = ec2
        .describe_route_tables()
        .filters(f())
        .send()
        .await
        .map_err(|e| aws_error("DescribeRouteTables", e))?;
    out.extend(
        rts.route_tables()
            .iter()
            .map(|g| format!("route-table {}", g.route_table_id().unwrap_or_default())),
    );
    let igws = ec2
        .describe_internet_gateways()
        .filters(f())
        .send()
        .await
        .map_err(|e| aws_error("DescribeInternetGateways", e))?;
    out.extend(igws.internet_gateways().iter().map(|g| {
        format!(
            "internet-gateway {}",
            g.internet_gateway_id().unwrap_or_default()
        )
    }));
    let subnets = ec2
        .describe_subnets()
        .filters(f())
        .send()
        .await
        .map_err(|e| aws_error("DescribeSubnets", e))?;
    out.extend(
        subnets
            .subnets()
            .iter()
            .map(|g| format!("subnet {}", g.subnet_id().unwrap_or_default())),
    );
    let vpcs = ec2
        .describe_vpcs()
        .filters(f())
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcs", e))?;
    out.extend(
        vpcs.vpcs()
            .iter()
            .map(|g| format!("vpc {}", g.vpc_id().unwrap_or_default())),
    );
    let dopts = ec2
        .describe_dhcp_options()
        .filters(f())
        .send()
        .await
        .map_err(|e| aws_error("DescribeDhcpOptions", e))?;
    out.extend(
        dopts
            .dhcp_options()
            .iter()
            .map(|g| format!("dhcp-options {}", g.dhcp_options_id().unwrap_or_default())),
    );
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
    let running = &super::compute::LIVE_STATES[..4];
    for i in super::compute::cluster_instances(host, running).await? {
        let node = super::compute::node_of(&i);
        if !node.is_empty() {
            items.push((
                "instance".into(),
                node,
                i.instance_id().unwrap_or_default().to_string(),
            ));
        }
    }
    Ok(super::once::duplicates(&items))
}
