//! The cluster's security group, its ingress rules kept exactly as the
//! runbook lists them.

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType};
use serde_json::json;

use crate::aws::aws_error;
use crate::aws::once::{create_once, ec2_no_retry, failed, max_attempts, one_or_none};
use crate::aws::tags::{filter, tag_spec, tags_json};
use crate::aws::types::*;
use crate::error::Result;
use crate::host::Host;

fn permission(rule: &IngressRule) -> IpPermission {
    let mut range = IpRange::builder().cidr_ip(&rule.cidr);
    if !rule.description.is_empty() {
        range = range.description(&rule.description);
    }
    IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from_port)
        .to_port(rule.to_port)
        .ip_ranges(range.build())
        .build()
}

/// Rules as a plan lists them (`tcp 22 from 0.0.0.0/0`, …).
fn rule_list(rules: &[&IngressRule]) -> Vec<String> {
    rules.iter().map(|r| r.to_string()).collect()
}

/// The rules to add (wanted, not there) and to revoke (there, no longer
/// wanted). A rule is the same whatever its description says.
pub fn rule_changes<'a>(
    have: &'a [IngressRule],
    want: &'a [IngressRule],
) -> (Vec<&'a IngressRule>, Vec<&'a IngressRule>) {
    let missing = want
        .iter()
        .filter(|r| !have.iter().any(|h| same_rule(h, r)))
        .collect();
    let extra = have
        .iter()
        .filter(|h| !want.iter().any(|r| same_rule(h, r)))
        .collect();
    (missing, extra)
}

fn same_rule(a: &IngressRule, b: &IngressRule) -> bool {
    a.protocol == b.protocol
        && a.from_port == b.from_port
        && a.to_port == b.to_port
        && a.cidr == b.cidr
}

/// Finds or creates the security group and makes its ingress rules exactly
/// `rules`: missing rules are added in one call, rules no longer wanted
/// (e.g. after narrowing `admin_cidr`) are revoked in one call.
pub async fn ensure_security_group(
    host: &Host,
    vpc: &Vpc,
    group_name: &str,
    description: &str,
    rules: &[IngressRule],
) -> Result<SecurityGroup> {
    let name = host.cluster.clone();
    for r in rules {
        if r.cidr == "0.0.0.0/0" && r.protocol == "tcp" && !host.output.json {
            eprintln!(
                "warning: security group {group_name} opens tcp {}-{} ({}) to the whole internet (0.0.0.0/0); narrow it with --set admin_cidr=<your-ip>/32",
                r.from_port, r.to_port, r.description
            );
        }
    }
    let mut found: Option<(String, Vec<IngressRule>)> = None;
    if host.can_read() && !host.is_fresh(&vpc.id) {
        found = named_security_group(host, &vpc.id, group_name).await?;
    }
    let (id, have, status) = match found {
        Some((id, have)) => (id, have, Outcome::Reused),
        None if host.planning() => {
            let id = host
                .plan
                .as_ref()
                .map(|p| {
                    p.record(
                        "CreateSecurityGroup",
                        "sg",
                        json!({"GroupName": group_name, "Description": description, "VpcId": vpc.id,
                           "Tags": tags_json(host, &name)}),
                    )
                })
                .unwrap_or_default();
            (id, Vec::new(), Outcome::Planned)
        }
        None => {
            let ec2 = &host.aws().await?.ec2;
            let made = create_once(
                max_attempts(host),
                || async {
                    let out = ec2
                        .create_security_group()
                        .group_name(group_name)
                        .description(description)
                        .vpc_id(&vpc.id)
                        .tag_specifications(tag_spec(host, ResourceType::SecurityGroup, &name))
                        .customize()
                        .config_override(ec2_no_retry())
                        .send()
                        .await
                        .map_err(|e| failed("CreateSecurityGroup", e))?;
                    Ok((out.group_id().unwrap_or_default().to_string(), Vec::new()))
                },
                || named_security_group(host, &vpc.id, group_name),
            )
            .await?;
            let (id, have) = made.into_inner();
            host.mark_fresh(&id);
            (id, have, Outcome::Created)
        }
    };
    host.remember("security_group_id", &id)?;
    let (missing, extra) = rule_changes(&have, rules);
    if !missing.is_empty() {
        let params = || json!({"GroupId": id, "IpPermissions": rule_list(&missing)});
        if let Some(aws) = host
            .unless_planned("AuthorizeSecurityGroupIngress", params)
            .await?
        {
            crate::aws::apply("AuthorizeSecurityGroupIngress", || {
                let mut req = aws.ec2.authorize_security_group_ingress().group_id(&id);
                for r in &missing {
                    req = req.ip_permissions(permission(r));
                }
                req.send()
            })
            .await?;
        }
    }
    if !extra.is_empty() {
        let params = || json!({"GroupId": id, "IpPermissions": rule_list(&extra)});
        if let Some(aws) = host
            .unless_planned("RevokeSecurityGroupIngress", params)
            .await?
        {
            let mut req = aws.ec2.revoke_security_group_ingress().group_id(&id);
            for r in &extra {
                req = req.ip_permissions(permission(r));
            }
            req.send()
                .await
                .map_err(|e| aws_error("RevokeSecurityGroupIngress", e))?;
        }
    }
    host.event("security-group", &id, status);
    Ok(SecurityGroup {
        id,
        name: group_name.into(),
        vpc_id: vpc.id.clone(),
        rules: rules.to_vec(),
        status: status.into(),
    })
}

/// The security group `group_name` in the VPC, with its ingress rules.
async fn named_security_group(
    host: &Host,
    vpc_id: &str,
    group_name: &str,
) -> Result<Option<(String, Vec<IngressRule>)>> {
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("group-name", group_name))
        .send()
        .await
        .map_err(|e| aws_error("DescribeSecurityGroups", e))?;
    let found: Vec<(String, Vec<IngressRule>)> = out
        .security_groups()
        .iter()
        .map(|g| {
            let mut have = Vec::new();
            for p in g.ip_permissions() {
                for r in p.ip_ranges() {
                    have.push(IngressRule {
                        protocol: p.ip_protocol().unwrap_or_default().to_string(),
                        from_port: p.from_port().unwrap_or(-1),
                        to_port: p.to_port().unwrap_or(-1),
                        cidr: r.cidr_ip().unwrap_or_default().to_string(),
                        description: r.description().unwrap_or_default().to_string(),
                    });
                }
            }
            (g.group_id().unwrap_or_default().to_string(), have)
        })
        .collect();
    one_or_none("security group", &host.cluster, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, from: i32, to: i32, cidr: &str, description: &str) -> IngressRule {
        IngressRule {
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            cidr: cidr.into(),
            description: description.into(),
        }
    }

    #[test]
    fn only_the_difference_is_added_or_revoked() {
        let ssh_all = rule("tcp", 22, 22, "0.0.0.0/0", "ssh");
        let ssh_me = rule("tcp", 22, 22, "203.0.113.7/32", "ssh");
        let etcd = rule("tcp", 2379, 2380, "172.31.0.0/24", "etcd");
        let have = vec![ssh_all.clone(), etcd.clone()];
        let want = vec![ssh_me.clone(), etcd.clone()];
        let (add, revoke) = rule_changes(&have, &want);
        assert_eq!(add, vec![&ssh_me]);
        assert_eq!(revoke, vec![&ssh_all]);
        // A new description alone changes nothing.
        let relabelled = vec![rule("tcp", 2379, 2380, "172.31.0.0/24", "etcd peers")];
        let only_etcd = [etcd.clone()];
        let (add, revoke) = rule_changes(&only_etcd, &relabelled);
        assert!(add.is_empty() && revoke.is_empty());
        // A new group gets every rule; nothing to revoke.
        let (add, revoke) = rule_changes(&[], &want);
        assert_eq!(add.len(), 2);
        assert!(revoke.is_empty());
    }
}
