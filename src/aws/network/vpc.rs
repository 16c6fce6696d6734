//! The cluster's VPC (the lesson's `create-vpc` with DNS support and DNS
//! host names) and its DHCP options set.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, NewDhcpConfiguration, ResourceType, VpcAttributeName,
};
use serde_json::json;

use crate::aws::once::{
    Failure, Made, create_once, ec2_no_retry, failed, max_attempts, one_or_none,
};
use crate::aws::tags::{cluster_filter, must_match, tag_resource, tag_spec, tag_value, tags_json};
use crate::aws::types::*;
use crate::aws::{aws_error, code_of};
use crate::error::{Error, Result};
use crate::host::{CLUSTER_TAG, Host};

/// Finds or creates the cluster's VPC with `cidr`, DNS support and DNS host
/// names enabled (the lesson's `create-vpc` + two `modify-vpc-attribute`).
pub async fn ensure_vpc(host: &Host, cidr: &str) -> Result<Vpc> {
    let name = host.cluster.clone();
    let mut found = None;
    if host.can_read() {
        found = tagged_vpc(host).await?;
        let ec2 = &host.aws().await?.ec2;
        if found.is_none()
            && let Some(id) = host.recalled("vpc_id")
        {
            match ec2.describe_vpcs().vpc_ids(&id).send().await {
                Ok(out) => found = out.vpcs().first().cloned(),
                Err(e) if code_of(&e).as_deref() == Some("InvalidVpcID.NotFound") => {}
                Err(e) => return Err(aws_error("DescribeVpcs", e)),
            }
        }
    }
    if let Some(v) = found {
        return reuse_vpc(host, v, cidr).await;
    }
    let (id, dhcp) = if let Some(plan) = &host.plan {
        let id = plan.record(
            "CreateVpc",
            "vpc",
            json!({"CidrBlock": cidr, "Tags": tags_json(host, &name)}),
        );
        host.remember("vpc_id", &id)?;
        (id, String::new())
    } else {
        let ec2 = &host.aws().await?.ec2;
        let made = create_once(
            max_attempts(host),
            || async {
                let out = ec2
                    .create_vpc()
                    .cidr_block(cidr)
                    .tag_specifications(tag_spec(host, ResourceType::Vpc, &name))
                    .customize()
                    .config_override(ec2_no_retry())
                    .send()
                    .await
                    .map_err(|e| failed("CreateVpc", e))?;
                out.vpc().cloned().ok_or_else(|| {
                    (
                        Failure::Permanent,
                        Error::aws("CreateVpc", "EmptyResponse", "no VPC returned"),
                    )
                })
            },
            || tagged_vpc(host),
        )
        .await?;
        if let Made::Found(v) = &made {
            // The create's answer was lost but the VPC was made: it may
            // still lack DNS host names, which the reuse path checks.
            let v = v.clone();
            return reuse_vpc(host, v, cidr).await;
        }
        let v = made.into_inner();
        let id = v.vpc_id().unwrap_or_default().to_string();
        host.mark_fresh(&id);
        host.remember("vpc_id", &id)?;
        (id, v.dhcp_options_id().unwrap_or_default().to_string())
    };
    // A new VPC has DNS support on and DNS host names off: one call fixes it.
    set_dns(host, &id, false, true).await?;
    host.event(
        "vpc",
        &id,
        if host.planning() {
            Outcome::Planned
        } else {
            Outcome::Created
        },
    );
    Ok(Vpc {
        id,
        cidr: cidr.into(),
        name,
        dns_support: true,
        dns_hostnames: true,
        dhcp_options_id: dhcp,
        status: if host.planning() {
            Outcome::Planned
        } else {
            Outcome::Created
        }
        .into(),
    })
}

/// The cluster's one live VPC found by its tag, if any (two are an error).
async fn tagged_vpc(host: &Host) -> Result<Option<aws_sdk_ec2::types::Vpc>> {
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_vpcs()
        .filters(cluster_filter(host))
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcs", e))?;
    let live: Vec<(String, aws_sdk_ec2::types::Vpc)> = out
        .vpcs()
        .iter()
        .filter(|v| is_live(v))
        .map(|v| (v.vpc_id().unwrap_or_default().to_string(), v.clone()))
        .collect();
    Ok(one_or_none("VPC", &host.cluster, live)?.map(|(_, v)| v))
}

/// Reuses a found VPC: its CIDR must be the wanted one; DNS support and
/// host names are turned on if a crash left them off.
async fn reuse_vpc(host: &Host, v: aws_sdk_ec2::types::Vpc, cidr: &str) -> Result<Vpc> {
    let id = v.vpc_id().unwrap_or_default().to_string();
    let have = v.cidr_block().unwrap_or_default().to_string();
    must_match("VPC", &id, &have, cidr, "vpc_cidr")?;
    host.remember("vpc_id", &id)?;
    let ec2 = &host.aws().await?.ec2;
    let support = ec2
        .describe_vpc_attribute()
        .vpc_id(&id)
        .attribute(VpcAttributeName::EnableDnsSupport)
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcAttribute", e))?
        .enable_dns_support()
        .and_then(|a| a.value())
        .unwrap_or(false);
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(&id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcAttribute", e))?
        .enable_dns_hostnames()
        .and_then(|a| a.value())
        .unwrap_or(false);
    if !support {
        set_dns(host, &id, true, false).await?;
    }
    if !hostnames {
        set_dns(host, &id, false, true).await?;
    }
    host.event("vpc", &id, Outcome::Reused);
    Ok(Vpc {
        id,
        cidr: have,
        name: tag_value(v.tags(), "Name"),
        dns_support: true,
        dns_hostnames: true,
        dhcp_options_id: v.dhcp_options_id().unwrap_or_default().to_string(),
        status: Outcome::Reused.into(),
    })
}

async fn set_dns(host: &Host, vpc_id: &str, support: bool, hostnames: bool) -> Result<()> {
    let on = AttributeBooleanValue::builder().value(true).build();
    let attr = if support {
        "EnableDnsSupport"
    } else {
        "EnableDnsHostnames"
    };
    let params = || json!({"VpcId": vpc_id, attr: true});
    let Some(aws) = host.unless_planned("ModifyVpcAttribute", params).await? else {
        return Ok(());
    };
    crate::aws::eventually("ModifyVpcAttribute", || {
        let mut req = aws.ec2.modify_vpc_attribute().vpc_id(vpc_id);
        if support {
            req = req.enable_dns_support(on.clone());
        }
        if hostnames {
            req = req.enable_dns_hostnames(on.clone());
        }
        req.send()
    })
    .await?;
    Ok(())
}

/// Finds or creates the DHCP options set (`domain-name`,
/// `domain-name-servers=AmazonProvidedDNS`) and associates it with the VPC.
pub async fn ensure_dhcp_options(host: &Host, vpc: &Vpc, domain_name: &str) -> Result<DhcpOptions> {
    let servers = "AmazonProvidedDNS";
    let name = host.cluster.clone();
    let mut found: Option<(String, bool)> = None;
    if host.can_read() && !host.is_fresh(&vpc.id) {
        // A crash between a create and its tagging (on an endpoint that
        // ignores the create's tags) leaves an untagged set: adopt it.
        found = find_dhcp_options(host, domain_name, servers).await?;
    }
    let status;
    let id = match found {
        Some((id, tagged)) => {
            status = Outcome::Reused;
            if !tagged && !host.planning() {
                tag_resource(host, &id, &name).await?;
            }
            id
        }
        None if host.planning() => {
            status = Outcome::Planned;
            host.plan
                .as_ref()
                .map(|p| {
                    p.record(
                        "CreateDhcpOptions",
                        "dopt",
                        json!({"DhcpConfigurations": [
                        {"Key": "domain-name", "Values": [domain_name]},
                        {"Key": "domain-name-servers", "Values": [servers]}],
                        "Tags": tags_json(host, &name)}),
                    )
                })
                .unwrap_or_default()
        }
        None => {
            status = Outcome::Created;
            let ec2 = &host.aws().await?.ec2;
            let made = create_once(
                max_attempts(host),
                || async {
                    let out = ec2
                        .create_dhcp_options()
                        .dhcp_configurations(
                            NewDhcpConfiguration::builder()
                                .key("domain-name")
                                .values(domain_name)
                                .build(),
                        )
                        .dhcp_configurations(
                            NewDhcpConfiguration::builder()
                                .key("domain-name-servers")
                                .values(servers)
                                .build(),
                        )
                        .tag_specifications(tag_spec(host, ResourceType::DhcpOptions, &name))
                        .customize()
                        .config_override(ec2_no_retry())
                        .send()
                        .await
                        .map_err(|e| failed("CreateDhcpOptions", e))?;
                    let tagged = out
                        .dhcp_options()
                        .is_some_and(|d| !tag_value(d.tags(), CLUSTER_TAG).is_empty());
                    let id = out
                        .dhcp_options()
                        .and_then(|d| d.dhcp_options_id())
                        .unwrap_or_default()
                        .to_string();
                    Ok((id, tagged))
                },
                // moto ignores the tags of CreateDhcpOptions, so a set whose
                // answer was lost may be untagged: look for that too.
                || find_dhcp_options(host, domain_name, servers),
            )
            .await?;
            let (id, tagged) = made.into_inner();
            host.mark_fresh(&id);
            if !tagged {
                // Some endpoints (moto) ignore TagSpecifications here: tag it now.
                tag_resource(host, &id, &name).await?;
            }
            id
        }
    };
    host.remember("dhcp_options_id", &id)?;
    if vpc.dhcp_options_id != id {
        let params = || json!({"DhcpOptionsId": id, "VpcId": vpc.id});
        if let Some(aws) = host.unless_planned("AssociateDhcpOptions", params).await? {
            crate::aws::eventually("AssociateDhcpOptions", || {
                aws.ec2
                    .associate_dhcp_options()
                    .dhcp_options_id(&id)
                    .vpc_id(&vpc.id)
                    .send()
            })
            .await?;
        }
    }
    host.event("dhcp-options", &id, status);
    Ok(DhcpOptions {
        id,
        domain_name: domain_name.into(),
        domain_name_servers: servers.into(),
        status: status.into(),
    })
}

/// Whether a found VPC counts: one being deleted (a `down` still under
/// way) is not the cluster's VPC any more.
pub fn is_live(v: &aws_sdk_ec2::types::Vpc) -> bool {
    v.state().map(|s| s.as_str()) != Some("deleting")
}

/// A DHCP options set's `(domain-name, domain-name-servers)`: how a set
/// with the wanted configuration is recognised.
pub fn dhcp_config(d: &aws_sdk_ec2::types::DhcpOptions) -> (String, String) {
    let mut dn = String::new();
    let mut ns = String::new();
    for c in d.dhcp_configurations() {
        let vals: Vec<String> = c
            .values()
            .iter()
            .filter_map(|v| v.value().map(str::to_string))
            .collect();
        match c.key() {
            Some("domain-name") => dn = vals.join(" "),
            Some("domain-name-servers") => ns = vals.join(","),
            _ => {}
        }
    }
    (dn, ns)
}

/// The cluster's DHCP options set with this configuration (two are an
/// error), and whether it carries the cluster's tag; else an untagged set
/// with exactly this configuration that no VPC uses (an endpoint that
/// ignores the create's tags made it, and its answer or its tagging was
/// lost).
async fn find_dhcp_options(
    host: &Host,
    domain_name: &str,
    servers: &str,
) -> Result<Option<(String, bool)>> {
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_dhcp_options()
        .filters(cluster_filter(host))
        .send()
        .await
        .map_err(|e| aws_error("DescribeDhcpOptions", e))?;
    let matching: Vec<(String, ())> = out
        .dhcp_options()
        .iter()
        .filter(|d| dhcp_config(d) == (domain_name.to_string(), servers.to_string()))
        .filter_map(|d| d.dhcp_options_id().map(|id| (id.to_string(), ())))
        .collect();
    if let Some((id, ())) = one_or_none("DHCP options set", &host.cluster, matching)? {
        return Ok(Some((id, true)));
    }
    let all = ec2
        .describe_dhcp_options()
        .send()
        .await
        .map_err(|e| aws_error("DescribeDhcpOptions", e))?;
    let used: std::collections::BTreeSet<String> = ec2
        .describe_vpcs()
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcs", e))?
        .vpcs()
        .iter()
        .filter_map(|v| v.dhcp_options_id().map(str::to_string))
        .collect();
    let orphans: Vec<(String, ())> = all
        .dhcp_options()
        .iter()
        .filter(|d| d.tags().is_empty())
        .filter(|d| dhcp_config(d) == (domain_name.to_string(), servers.to_string()))
        .filter_map(|d| d.dhcp_options_id().map(str::to_string))
        .filter(|id| !used.contains(id))
        .map(|id| (id, ()))
        .collect();
    Ok(
        one_or_none("untagged DHCP options set", &host.cluster, orphans)?
            .map(|(id, ())| (id, false)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{AttributeValue, DhcpConfiguration, VpcState};

    #[test]
    fn a_vpc_being_deleted_is_not_reused() {
        let v = |st: VpcState| aws_sdk_ec2::types::Vpc::builder().state(st).build();
        assert!(is_live(&v(VpcState::Available)));
        assert!(is_live(&v(VpcState::Pending)));
        assert!(!is_live(&v(VpcState::from("deleting"))));
        assert!(is_live(&aws_sdk_ec2::types::Vpc::builder().build()));
    }

    #[test]
    fn a_dhcp_set_is_known_by_its_domain_and_servers() {
        let conf = |k: &str, vals: &[&str]| {
            let mut b = DhcpConfiguration::builder().key(k);
            for v in vals {
                b = b.values(AttributeValue::builder().value(*v).build());
            }
            b.build()
        };
        let d = aws_sdk_ec2::types::DhcpOptions::builder()
            .dhcp_configurations(conf("domain-name", &["us-east-2.compute.internal"]))
            .dhcp_configurations(conf("domain-name-servers", &["AmazonProvidedDNS"]))
            .dhcp_configurations(conf("ntp-servers", &["169.254.169.123"]))
            .build();
        assert_eq!(
            dhcp_config(&d),
            (
                "us-east-2.compute.internal".to_string(),
                "AmazonProvidedDNS".to_string()
            )
        );
        let two = aws_sdk_ec2::types::DhcpOptions::builder()
            .dhcp_configurations(conf("domain-name-servers", &["10.0.0.2", "10.0.0.3"]))
            .build();
        assert_eq!(
            dhcp_config(&two),
            (String::new(), "10.0.0.2,10.0.0.3".to_string())
        );
    }
}
