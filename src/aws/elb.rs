//! The network load balancer in front of the API servers (ELBv2): the load
//! balancer, its target group of the masters' IPs, and the listener.
//! Found by name (moto would make a second one of the same name), else
//! created once; in plan mode recorded instead.

use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
    TargetDescription, TargetTypeEnum,
};
use serde_json::json;

use crate::aws::once::{
    Failure, Made, create_once, elb_no_retry, failed, max_attempts, one_or_none,
};
use crate::aws::tags::{elb_tags, tags_json};
use crate::aws::types::*;
use crate::aws::{aws_error, code_of};
use crate::error::{Error, Result};
use crate::host::Host;

/// Finds (by name) or creates the internet-facing network load balancer in
/// the subnet.  (moto would create a second one with the same name, so the
/// lookup is ours, not AWS's.)
pub async fn ensure_load_balancer(
    host: &Host,
    name: &str,
    subnet: &Subnet,
) -> Result<LoadBalancer> {
    if host.can_read()
        && !host.is_fresh(&subnet.id)
        && let Some(lb) = named_load_balancer(host, name).await?
    {
        return reuse_load_balancer(host, name, &lb);
    }
    if let Some(plan) = &host.plan {
        let arn = plan.record(
            "CreateLoadBalancer",
            "arn:aws:elasticloadbalancing:loadbalancer/net",
            json!({"Name": name, "Subnets": [subnet.id], "Scheme": "internet-facing", "Type": "network",
                   "Tags": tags_json(host, name)}),
        );
        host.remember("load_balancer_arn", &arn)?;
        host.event("load-balancer", &arn, Outcome::Planned);
        return Ok(LoadBalancer {
            arn,
            name: name.into(),
            dns_name: format!("{name}-planned.elb.{}.amazonaws.com", host.region),
            scheme: "internet-facing".into(),
            kind: "network".into(),
            status: Outcome::Planned.into(),
        });
    }
    let elb = &host.aws().await?.elb;
    let made = create_once(
        max_attempts(host),
        || async {
            let out = elb
                .create_load_balancer()
                .name(name)
                .subnets(&subnet.id)
                .scheme(LoadBalancerSchemeEnum::InternetFacing)
                .r#type(LoadBalancerTypeEnum::Network)
                .set_tags(Some(elb_tags(host, name)))
                .customize()
                .config_override(elb_no_retry())
                .send()
                .await
                .map_err(|e| failed("CreateLoadBalancer", e))?;
            out.load_balancers().first().cloned().ok_or_else(|| {
                (
                    Failure::Permanent,
                    Error::aws(
                        "CreateLoadBalancer",
                        "EmptyResponse",
                        "no load balancer returned",
                    ),
                )
            })
        },
        || named_load_balancer(host, name),
    )
    .await?;
    let lb = &made.into_inner();
    let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    host.mark_fresh(&arn);
    host.remember("load_balancer_arn", &arn)?;
    host.event("load-balancer", &arn, Outcome::Created);
    Ok(LoadBalancer {
        arn,
        name: name.into(),
        dns_name: lb.dns_name().unwrap_or_default().to_string(),
        scheme: "internet-facing".into(),
        kind: "network".into(),
        status: Outcome::Created.into(),
    })
}

/// The load balancer called `name` (two of that name, which moto allows,
/// are an error).
async fn named_load_balancer(
    host: &Host,
    name: &str,
) -> Result<Option<elbv2::types::LoadBalancer>> {
    let elb = &host.aws().await?.elb;
    match elb.describe_load_balancers().names(name).send().await {
        Ok(out) => {
            let found = out
                .load_balancers()
                .iter()
                .map(|l| {
                    (
                        l.load_balancer_arn().unwrap_or_default().to_string(),
                        l.clone(),
                    )
                })
                .collect();
            Ok(one_or_none("load balancer", &host.cluster, found)?.map(|(_, l)| l))
        }
        Err(e) if code_of(&e).as_deref() == Some("LoadBalancerNotFound") => Ok(None),
        Err(e) => Err(aws_error("DescribeLoadBalancers", e)),
    }
}

fn reuse_load_balancer(
    host: &Host,
    name: &str,
    lb: &elbv2::types::LoadBalancer,
) -> Result<LoadBalancer> {
    let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    let dns = lb.dns_name().unwrap_or_default().to_string();
    host.remember("load_balancer_arn", &arn)?;
    host.event("load-balancer", &arn, Outcome::Reused);
    Ok(LoadBalancer {
        arn,
        name: name.into(),
        dns_name: dns,
        scheme: lb
            .scheme()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        kind: lb
            .r#type()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        status: Outcome::Reused.into(),
    })
}

/// Finds (by name) or creates the TCP target group of IP targets and makes
/// its registered targets exactly `targets`.
pub async fn ensure_target_group(
    host: &Host,
    name: &str,
    vpc: &Vpc,
    port: i64,
    targets: &[String],
) -> Result<TargetGroup> {
    let port32 =
        i32::try_from(port).map_err(|_| Error::script(format!("port {port} is out of range")))?;
    let mut found: Option<String> = None;
    if host.can_read() && !host.is_fresh(&vpc.id) {
        found = named_target_group(host, name).await?;
    }
    let (arn, status) = match found {
        Some(arn) => (arn, Outcome::Reused),
        None if host.planning() => {
            let arn = host
                .plan
                .as_ref()
                .map(|p| {
                    p.record(
                        "CreateTargetGroup",
                        "arn:aws:elasticloadbalancing:targetgroup",
                        json!({"Name": name, "Protocol": "TCP", "Port": port, "VpcId": vpc.id,
                           "TargetType": "ip", "Tags": tags_json(host, name)}),
                    )
                })
                .unwrap_or_default();
            (arn, Outcome::Planned)
        }
        None => {
            let elb = &host.aws().await?.elb;
            let made = create_once(
                max_attempts(host),
                || async {
                    let out = elb
                        .create_target_group()
                        .name(name)
                        .protocol(ProtocolEnum::Tcp)
                        .port(port32)
                        .vpc_id(&vpc.id)
                        .target_type(TargetTypeEnum::Ip)
                        .set_tags(Some(elb_tags(host, name)))
                        .customize()
                        .config_override(elb_no_retry())
                        .send()
                        .await
                        .map_err(|e| failed("CreateTargetGroup", e))?;
                    Ok(out
                        .target_groups()
                        .first()
                        .and_then(|t| t.target_group_arn())
                        .unwrap_or_default()
                        .to_string())
                },
                || named_target_group(host, name),
            )
            .await?;
            match made {
                Made::Created(arn) => {
                    host.mark_fresh(&arn);
                    (arn, Outcome::Created)
                }
                // Found after a lost answer: its targets are read back.
                Made::Found(arn) => (arn, Outcome::Reused),
            }
        }
    };
    host.remember("target_group_arn", &arn)?;
    // Make the registered targets exactly the wanted ones.
    let mut registered: Vec<String> = Vec::new();
    if status == Outcome::Reused {
        let elb = &host.aws().await?.elb;
        let out = elb
            .describe_target_health()
            .target_group_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeTargetHealth", e))?;
        registered = out
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target().and_then(|t| t.id()).map(str::to_string))
            .collect();
    }
    let (missing, extra) = target_changes(&registered, targets);
    if !missing.is_empty() {
        let params = || json!({"TargetGroupArn": arn, "Targets": missing});
        if let Some(aws) = host.unless_planned("RegisterTargets", params).await? {
            let descs = target_descriptions(&missing, port32);
            aws.elb
                .register_targets()
                .target_group_arn(&arn)
                .set_targets(Some(descs))
                .send()
                .await
                .map_err(|e| aws_error("RegisterTargets", e))?;
        }
    }
    if !extra.is_empty() && !host.planning() {
        let descs = target_descriptions(&extra, port32);
        host.aws()
            .await?
            .elb
            .deregister_targets()
            .target_group_arn(&arn)
            .set_targets(Some(descs))
            .send()
            .await
            .map_err(|e| aws_error("DeregisterTargets", e))?;
    }
    host.event("target-group", &arn, status);
    Ok(TargetGroup {
        arn,
        name: name.into(),
        protocol: "TCP".into(),
        port,
        target_type: "ip".into(),
        targets: targets.to_vec(),
        status: status.into(),
    })
}

/// The target group called `name`, if any.
async fn named_target_group(host: &Host, name: &str) -> Result<Option<String>> {
    let elb = &host.aws().await?.elb;
    match elb.describe_target_groups().names(name).send().await {
        Ok(out) => {
            let found = out
                .target_groups()
                .iter()
                .filter_map(|t| t.target_group_arn().map(|a| (a.to_string(), ())))
                .collect();
            Ok(one_or_none("target group", &host.cluster, found)?.map(|(a, ())| a))
        }
        Err(e) if code_of(&e).as_deref() == Some("TargetGroupNotFound") => Ok(None),
        Err(e) => Err(aws_error("DescribeTargetGroups", e)),
    }
}

/// Finds or creates the TCP listener on `port` forwarding to the target group.
pub async fn ensure_listener(
    host: &Host,
    lb: &LoadBalancer,
    tg: &TargetGroup,
    port: i64,
) -> Result<Listener> {
    let port32 =
        i32::try_from(port).map_err(|_| Error::script(format!("port {port} is out of range")))?;
    if host.can_read()
        && !host.is_fresh(&lb.arn)
        && let Some(arn) = listener_on(host, &lb.arn, port32).await?
    {
        host.remember("listener_arn", &arn)?;
        host.event("listener", &arn, Outcome::Reused);
        return Ok(Listener {
            arn,
            protocol: "TCP".into(),
            port,
            target_group_arn: tg.arn.clone(),
            status: Outcome::Reused.into(),
        });
    }
    if let Some(plan) = &host.plan {
        let arn = plan.record(
            "CreateListener",
            "arn:aws:elasticloadbalancing:listener",
            json!({"LoadBalancerArn": lb.arn, "Protocol": "TCP", "Port": port,
                   "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg.arn}]}),
        );
        host.remember("listener_arn", &arn)?;
        host.event("listener", &arn, Outcome::Planned);
        return Ok(Listener {
            arn,
            protocol: "TCP".into(),
            port,
            target_group_arn: tg.arn.clone(),
            status: Outcome::Planned.into(),
        });
    }
    let elb = &host.aws().await?.elb;
    let action = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(&tg.arn)
        .build();
    let arn = create_once(
        max_attempts(host),
        || async {
            let out = elb
                .create_listener()
                .load_balancer_arn(&lb.arn)
                .protocol(ProtocolEnum::Tcp)
                .port(port32)
                .default_actions(action.clone())
                .set_tags(Some(elb_tags(host, &host.cluster)))
                .customize()
                .config_override(elb_no_retry())
                .send()
                .await
                .map_err(|e| failed("CreateListener", e))?;
            Ok(out
                .listeners()
                .first()
                .and_then(|l| l.listener_arn())
                .unwrap_or_default()
                .to_string())
        },
        || listener_on(host, &lb.arn, port32),
    )
    .await?
    .into_inner();
    host.remember("listener_arn", &arn)?;
    host.event("listener", &arn, Outcome::Created);
    Ok(Listener {
        arn,
        protocol: "TCP".into(),
        port,
        target_group_arn: tg.arn.clone(),
        status: Outcome::Created.into(),
    })
}

/// The load balancer's listener on `port`, if any.
async fn listener_on(host: &Host, lb_arn: &str, port: i32) -> Result<Option<String>> {
    let elb = &host.aws().await?.elb;
    let out = elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .map_err(|e| aws_error("DescribeListeners", e))?;
    Ok(out
        .listeners()
        .iter()
        .find(|l| l.port() == Some(port))
        .and_then(|l| l.listener_arn())
        .map(str::to_string))
}

/// The targets to register (wanted, not registered) and to deregister
/// (registered, no longer wanted), each in its list's order.
pub fn target_changes<'a>(
    registered: &'a [String],
    want: &'a [String],
) -> (Vec<&'a String>, Vec<&'a String>) {
    let missing = want.iter().filter(|t| !registered.contains(t)).collect();
    let extra = registered.iter().filter(|t| !want.contains(t)).collect();
    (missing, extra)
}

/// The ELBv2 target list for IP targets on one port.
fn target_descriptions(ips: &[&String], port: i32) -> Vec<TargetDescription> {
    ips.iter()
        .map(|t| {
            TargetDescription::builder()
                .id(t.as_str())
                .port(port)
                .build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn moved_masters_are_registered_and_the_old_ones_deregistered() {
        let registered = ips(&["172.31.0.10", "172.31.0.11", "172.31.0.12"]);
        let want = ips(&["172.31.0.30", "172.31.0.11", "172.31.0.12"]);
        let (add, remove) = target_changes(&registered, &want);
        assert_eq!(add, vec!["172.31.0.30"]);
        assert_eq!(remove, vec!["172.31.0.10"]);
        let (add, remove) = target_changes(&registered, &registered);
        assert!(add.is_empty() && remove.is_empty());
        let (add, remove) = target_changes(&[], &want);
        assert_eq!(add.len(), 3);
        assert!(remove.is_empty());
    }
}
