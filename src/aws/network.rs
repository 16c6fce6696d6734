//! The lesson's network, as find-or-create operations.
//!
//! Each `ensure_*` first looks the resource up (by the ID in state, then by
//! the `groundup:cluster` tag and its identifying properties) and reuses it;
//! only when nothing matches does it create one, tagged at creation.  When
//! the parent was created by this very process, children cannot exist yet
//! and the lookup is skipped (fewer API calls).  In plan mode, creates are
//! recorded instead of made.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, NewDhcpConfiguration, ResourceType, Tag,
    TagSpecification, VpcAttributeName,
};
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
    TargetDescription, TargetTypeEnum,
};
use serde_json::json;

use super::once::{
    Failure, Made, create_once, ec2_no_retry, elb_no_retry, failed, max_attempts, one_or_none,
};
use super::types::*;
use super::{aws_error, code_of};
use crate::error::{Error, Kind, Result};
use crate::host::{CLUSTER_TAG, Host};

/// EC2 tag specification for a resource type with the host's standard tags.
pub fn tag_spec(host: &Host, rt: ResourceType, name: &str) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(rt);
    for (k, v) in host.tags(name) {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

/// Tags a resource with the standard tags (CreateTags), for endpoints that
/// ignore tags at creation.
pub async fn tag_resource(host: &Host, id: &str, name: &str) -> Result<()> {
    let ec2 = &host.aws().await?.ec2;
    super::eventually("CreateTags", || {
        let mut req = ec2.create_tags().resources(id);
        for (k, v) in host.tags(name) {
            req = req.tags(Tag::builder().key(k).value(v).build());
        }
        req.send()
    })
    .await?;
    Ok(())
}

/// Tags as JSON for plan output.
pub fn tags_json(host: &Host, name: &str) -> serde_json::Value {
    let m: serde_json::Map<String, serde_json::Value> = host
        .tags(name)
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::Value::Object(m)
}

/// A filter.
pub fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The filter on the cluster tag.
pub fn cluster_filter(host: &Host) -> Filter {
    filter(&format!("tag:{CLUSTER_TAG}"), &host.cluster)
}

fn tag_value(tags: &[Tag], key: &str) -> String {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string()
}

fn conflict(what: &str, id: &str, have: &str, want: &str, setting: &str) -> Error {
    Error::new(
        Kind::Aws,
        format!("the cluster already has {what} {id} with {have}, but {setting} is {want}"),
    )
    .with_help(
        "groundup will not replace it silently: run `groundup down` first, or pick another --cluster",
    )
}

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
    host.event("vpc", &id, if host.planning() { PLANNED } else { CREATED });
    Ok(Vpc {
        id,
        cidr: cidr.into(),
        name,
        dns_support: true,
        dns_hostnames: true,
        dhcp_options_id: dhcp,
        status: if host.planning() { PLANNED } else { CREATED }.into(),
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
        .filter(|v| v.state().map(|s| s.as_str()) != Some("deleting"))
        .map(|v| (v.vpc_id().unwrap_or_default().to_string(), v.clone()))
        .collect();
    Ok(one_or_none("VPC", &host.cluster, live)?.map(|(_, v)| v))
}

/// Reuses a found VPC: its CIDR must be the wanted one; DNS support and
/// host names are turned on if a crash left them off.
async fn reuse_vpc(host: &Host, v: aws_sdk_ec2::types::Vpc, cidr: &str) -> Result<Vpc> {
    let id = v.vpc_id().unwrap_or_default().to_string();
    let have = v.cidr_block().unwrap_or_default().to_string();
    if have != cidr {
        return Err(conflict("VPC", &id, &have, cidr, "vpc_cidr"));
    }
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
    host.event("vpc", &id, REUSED);
    Ok(Vpc {
        id,
        cidr: have,
        name: tag_value(v.tags(), "Name"),
        dns_support: true,
        dns_hostnames: true,
        dhcp_options_id: v.dhcp_options_id().unwrap_or_default().to_string(),
        status: REUSED.into(),
    })
}

async fn set_dns(host: &Host, vpc_id: &str, support: bool, hostnames: bool) -> Result<()> {
    let on = AttributeBooleanValue::builder().value(true).build();
    if let Some(plan) = &host.plan {
        let attr = if support {
            "EnableDnsSupport"
        } else {
            "EnableDnsHostnames"
        };
        plan.record(
            "ModifyVpcAttribute",
            "",
            json!({"VpcId": vpc_id, attr: true}),
        );
        return Ok(());
    }
    let ec2 = &host.aws().await?.ec2;
    super::eventually("ModifyVpcAttribute", || {
        let mut req = ec2.modify_vpc_attribute().vpc_id(vpc_id);
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
            status = REUSED;
            if !tagged && !host.planning() {
                tag_resource(host, &id, &name).await?;
            }
            id
        }
        None if host.planning() => {
            status = PLANNED;
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
            status = CREATED;
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
        if let Some(plan) = &host.plan {
            plan.record(
                "AssociateDhcpOptions",
                "",
                json!({"DhcpOptionsId": id, "VpcId": vpc.id}),
            );
        } else {
            let ec2 = &host.aws().await?.ec2;
            super::eventually("AssociateDhcpOptions", || {
                ec2.associate_dhcp_options()
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

fn dhcp_config(d: &aws_sdk_ec2::types::DhcpOptions) -> (String, String) {
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

/// Finds or creates the subnet `cidr` in the VPC.
pub async fn ensure_subnet(host: &Host, vpc: &Vpc, cidr: &str) -> Result<Subnet> {
    let name = host.cluster.clone();
    if host.can_read()
        && !host.is_fresh(&vpc.id)
        && let Some(s) = tagged_subnet(host, &vpc.id).await?
    {
        return reuse_subnet(host, vpc, &s, cidr);
    }
    if let Some(plan) = &host.plan {
        let id = plan.record(
            "CreateSubnet",
            "subnet",
            json!({"VpcId": vpc.id, "CidrBlock": cidr, "Tags": tags_json(host, &name)}),
        );
        host.remember("subnet_id", &id)?;
        host.event("subnet", &id, PLANNED);
        return Ok(Subnet {
            id,
            vpc_id: vpc.id.clone(),
            cidr: cidr.into(),
            availability_zone: String::new(),
            status: PLANNED.into(),
        });
    }
    let ec2 = &host.aws().await?.ec2;
    let made = create_once(
        max_attempts(host),
        || async {
            let out = ec2
                .create_subnet()
                .vpc_id(&vpc.id)
                .cidr_block(cidr)
                .tag_specifications(tag_spec(host, ResourceType::Subnet, &name))
                .customize()
                .config_override(ec2_no_retry())
                .send()
                .await
                .map_err(|e| failed("CreateSubnet", e))?;
            out.subnet().cloned().ok_or_else(|| {
                (
                    Failure::Permanent,
                    Error::aws("CreateSubnet", "EmptyResponse", "no subnet returned"),
                )
            })
        },
        || tagged_subnet(host, &vpc.id),
    )
    .await?;
    let s = match made {
        Made::Created(s) => s,
        Made::Found(s) => return reuse_subnet(host, vpc, &s, cidr),
    };
    let id = s.subnet_id().unwrap_or_default().to_string();
    host.mark_fresh(&id);
    host.remember("subnet_id", &id)?;
    host.event("subnet", &id, CREATED);
    Ok(Subnet {
        id,
        vpc_id: vpc.id.clone(),
        cidr: cidr.into(),
        availability_zone: s.availability_zone().unwrap_or_default().into(),
        status: CREATED.into(),
    })
}

/// The cluster's one subnet in the VPC, by tag (two are an error).
async fn tagged_subnet(host: &Host, vpc_id: &str) -> Result<Option<aws_sdk_ec2::types::Subnet>> {
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_subnets()
        .filters(filter("vpc-id", vpc_id))
        .filters(cluster_filter(host))
        .send()
        .await
        .map_err(|e| aws_error("DescribeSubnets", e))?;
    let found = out
        .subnets()
        .iter()
        .map(|s| (s.subnet_id().unwrap_or_default().to_string(), s.clone()))
        .collect();
    Ok(one_or_none("subnet", &host.cluster, found)?.map(|(_, s)| s))
}

fn reuse_subnet(
    host: &Host,
    vpc: &Vpc,
    s: &aws_sdk_ec2::types::Subnet,
    cidr: &str,
) -> Result<Subnet> {
    let id = s.subnet_id().unwrap_or_default().to_string();
    let have = s.cidr_block().unwrap_or_default();
    if have != cidr {
        return Err(conflict("subnet", &id, have, cidr, "subnet_cidr"));
    }
    host.remember("subnet_id", &id)?;
    host.event("subnet", &id, REUSED);
    Ok(Subnet {
        id,
        vpc_id: vpc.id.clone(),
        cidr: cidr.into(),
        availability_zone: s.availability_zone().unwrap_or_default().into(),
        status: REUSED.into(),
    })
}

/// Finds or creates the internet gateway and attaches it to the VPC.
pub async fn ensure_internet_gateway(host: &Host, vpc: &Vpc) -> Result<InternetGateway> {
    let name = host.cluster.clone();
    let mut found: Option<(String, Vec<String>)> = None;
    if host.can_read() && !host.is_fresh(&vpc.id) {
        found = tagged_internet_gateway(host, &vpc.id).await?;
    }
    let (id, attached, status) = match found {
        Some((id, att)) => {
            let attached = att.contains(&vpc.id);
            (id, attached, REUSED)
        }
        None if host.planning() => {
            let id = host
                .plan
                .as_ref()
                .map(|p| {
                    p.record(
                        "CreateInternetGateway",
                        "igw",
                        json!({"Tags": tags_json(host, &name)}),
                    )
                })
                .unwrap_or_default();
            (id, false, PLANNED)
        }
        None => {
            let ec2 = &host.aws().await?.ec2;
            let made = create_once(
                max_attempts(host),
                || async {
                    let out = ec2
                        .create_internet_gateway()
                        .tag_specifications(tag_spec(host, ResourceType::InternetGateway, &name))
                        .customize()
                        .config_override(ec2_no_retry())
                        .send()
                        .await
                        .map_err(|e| failed("CreateInternetGateway", e))?;
                    let id = out
                        .internet_gateway()
                        .and_then(|g| g.internet_gateway_id())
                        .unwrap_or_default()
                        .to_string();
                    Ok((id, Vec::new()))
                },
                || tagged_internet_gateway(host, &vpc.id),
            )
            .await?;
            let (id, att) = made.into_inner();
            host.mark_fresh(&id);
            (id.clone(), att.contains(&vpc.id), CREATED)
        }
    };
    host.remember("internet_gateway_id", &id)?;
    if !attached {
        if let Some(plan) = &host.plan {
            plan.record(
                "AttachInternetGateway",
                "",
                json!({"InternetGatewayId": id, "VpcId": vpc.id}),
            );
        } else {
            let ec2 = &host.aws().await?.ec2;
            super::apply("AttachInternetGateway", || {
                ec2.attach_internet_gateway()
                    .internet_gateway_id(&id)
                    .vpc_id(&vpc.id)
                    .send()
            })
            .await?;
        }
    }
    host.event("internet-gateway", &id, status);
    Ok(InternetGateway {
        id,
        vpc_id: vpc.id.clone(),
        status: status.into(),
    })
}

/// The cluster's internet gateway by tag: the one attached to the VPC, or
/// an unattached one; `(id, attached VPC IDs)`. Two are an error.
async fn tagged_internet_gateway(
    host: &Host,
    vpc_id: &str,
) -> Result<Option<(String, Vec<String>)>> {
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_internet_gateways()
        .filters(cluster_filter(host))
        .send()
        .await
        .map_err(|e| aws_error("DescribeInternetGateways", e))?;
    let candidates: Vec<(String, Vec<String>)> = out
        .internet_gateways()
        .iter()
        .map(|g| {
            (
                g.internet_gateway_id().unwrap_or_default().to_string(),
                g.attachments()
                    .iter()
                    .filter_map(|a| a.vpc_id().map(str::to_string))
                    .collect::<Vec<String>>(),
            )
        })
        .filter(|(_, att)| att.is_empty() || att.iter().any(|v| v == vpc_id))
        .collect();
    one_or_none("internet gateway", &host.cluster, candidates)
}

/// Finds or creates the route table, associates it with the subnet and adds
/// the default route (0.0.0.0/0) through the internet gateway.
pub async fn ensure_route_table(
    host: &Host,
    vpc: &Vpc,
    subnet: &Subnet,
    igw: &InternetGateway,
) -> Result<RouteTable> {
    let name = host.cluster.clone();
    let mut found: Option<(String, bool, bool)> = None;
    if host.can_read() && !host.is_fresh(&vpc.id) {
        found = tagged_route_table(host, &vpc.id, &subnet.id, &igw.id).await?;
    }
    let (id, associated, routed, status) = match found {
        Some((id, a, r)) => (id, a, r, REUSED),
        None if host.planning() => {
            let id = host
                .plan
                .as_ref()
                .map(|p| {
                    p.record(
                        "CreateRouteTable",
                        "rtb",
                        json!({"VpcId": vpc.id, "Tags": tags_json(host, &name)}),
                    )
                })
                .unwrap_or_default();
            (id, false, false, PLANNED)
        }
        None => {
            let ec2 = &host.aws().await?.ec2;
            let made = create_once(
                max_attempts(host),
                || async {
                    let out = ec2
                        .create_route_table()
                        .vpc_id(&vpc.id)
                        .tag_specifications(tag_spec(host, ResourceType::RouteTable, &name))
                        .customize()
                        .config_override(ec2_no_retry())
                        .send()
                        .await
                        .map_err(|e| failed("CreateRouteTable", e))?;
                    let id = out
                        .route_table()
                        .and_then(|r| r.route_table_id())
                        .unwrap_or_default()
                        .to_string();
                    Ok((id, false, false))
                },
                || tagged_route_table(host, &vpc.id, &subnet.id, &igw.id),
            )
            .await?;
            let (id, a, r) = made.into_inner();
            host.mark_fresh(&id);
            (id, a, r, CREATED)
        }
    };
    host.remember("route_table_id", &id)?;
    if !associated {
        if let Some(plan) = &host.plan {
            plan.record(
                "AssociateRouteTable",
                "",
                json!({"RouteTableId": id, "SubnetId": subnet.id}),
            );
        } else {
            let ec2 = &host.aws().await?.ec2;
            super::apply("AssociateRouteTable", || {
                ec2.associate_route_table()
                    .route_table_id(&id)
                    .subnet_id(&subnet.id)
                    .send()
            })
            .await?;
        }
    }
    if !routed {
        if let Some(plan) = &host.plan {
            plan.record(
                "CreateRoute",
                "",
                json!({"RouteTableId": id, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw.id}),
            );
        } else {
            let ec2 = &host.aws().await?.ec2;
            super::apply("CreateRoute", || {
                ec2.create_route()
                    .route_table_id(&id)
                    .destination_cidr_block("0.0.0.0/0")
                    .gateway_id(&igw.id)
                    .send()
            })
            .await?;
        }
    }
    host.event("route-table", &id, status);
    Ok(RouteTable {
        id,
        vpc_id: vpc.id.clone(),
        subnet_id: subnet.id.clone(),
        gateway_id: igw.id.clone(),
        status: status.into(),
    })
}

/// The cluster's route table in the VPC by tag (two are an error):
/// `(id, associated with the subnet, has the default route via the gateway)`.
async fn tagged_route_table(
    host: &Host,
    vpc_id: &str,
    subnet_id: &str,
    igw_id: &str,
) -> Result<Option<(String, bool, bool)>> {
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpc_id))
        .filters(cluster_filter(host))
        .send()
        .await
        .map_err(|e| aws_error("DescribeRouteTables", e))?;
    let found: Vec<(String, (String, bool, bool))> = out
        .route_tables()
        .iter()
        .map(|rt| {
            let associated = rt
                .associations()
                .iter()
                .any(|a| a.subnet_id() == Some(subnet_id));
            let routed = rt.routes().iter().any(|r| {
                r.destination_cidr_block() == Some("0.0.0.0/0") && r.gateway_id() == Some(igw_id)
            });
            let id = rt.route_table_id().unwrap_or_default().to_string();
            (id.clone(), (id, associated, routed))
        })
        .collect();
    Ok(one_or_none("route table", &host.cluster, found)?.map(|(_, v)| v))
}

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
        Some((id, have)) => (id, have, REUSED),
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
            (id, Vec::new(), PLANNED)
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
            (id, have, CREATED)
        }
    };
    host.remember("security_group_id", &id)?;
    let missing: Vec<&IngressRule> = rules
        .iter()
        .filter(|r| !have.iter().any(|h| same_rule(h, r)))
        .collect();
    let extra: Vec<&IngressRule> = have
        .iter()
        .filter(|h| !rules.iter().any(|r| same_rule(h, r)))
        .collect();
    if !missing.is_empty() {
        if let Some(plan) = &host.plan {
            let list: Vec<String> = missing.iter().map(|r| r.to_string()).collect();
            plan.record(
                "AuthorizeSecurityGroupIngress",
                "",
                json!({"GroupId": id, "IpPermissions": list}),
            );
        } else {
            let ec2 = &host.aws().await?.ec2;
            super::apply("AuthorizeSecurityGroupIngress", || {
                let mut req = ec2.authorize_security_group_ingress().group_id(&id);
                for r in &missing {
                    req = req.ip_permissions(permission(r));
                }
                req.send()
            })
            .await?;
        }
    }
    if !extra.is_empty() {
        if let Some(plan) = &host.plan {
            let list: Vec<String> = extra.iter().map(|r| r.to_string()).collect();
            plan.record(
                "RevokeSecurityGroupIngress",
                "",
                json!({"GroupId": id, "IpPermissions": list}),
            );
        } else {
            let mut req = host
                .aws()
                .await?
                .ec2
                .revoke_security_group_ingress()
                .group_id(&id);
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

fn elb_tags(host: &Host, name: &str) -> Vec<elbv2::types::Tag> {
    host.tags(name)
        .into_iter()
        .map(|(k, v)| elbv2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

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
        host.event("load-balancer", &arn, PLANNED);
        return Ok(LoadBalancer {
            arn,
            name: name.into(),
            dns_name: format!("{name}-planned.elb.{}.amazonaws.com", host.region),
            scheme: "internet-facing".into(),
            kind: "network".into(),
            status: PLANNED.into(),
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
    host.event("load-balancer", &arn, CREATED);
    Ok(LoadBalancer {
        arn,
        name: name.into(),
        dns_name: lb.dns_name().unwrap_or_default().to_string(),
        scheme: "internet-facing".into(),
        kind: "network".into(),
        status: CREATED.into(),
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
    host.event("load-balancer", &arn, REUSED);
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
        status: REUSED.into(),
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
        Some(arn) => (arn, REUSED),
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
            (arn, PLANNED)
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
                    (arn, CREATED)
                }
                // Found after a lost answer: its targets are read back.
                Made::Found(arn) => (arn, REUSED),
            }
        }
    };
    host.remember("target_group_arn", &arn)?;
    // Make the registered targets exactly the wanted ones.
    let mut registered: Vec<String> = Vec::new();
    if status == REUSED {
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
    let missing: Vec<&String> = targets.iter().filter(|t| !registered.contains(t)).collect();
    let extra: Vec<&String> = registered.iter().filter(|t| !targets.contains(t)).collect();
    if !missing.is_empty() {
        if let Some(plan) = &host.plan {
            plan.record(
                "RegisterTargets",
                "",
                json!({"TargetGroupArn": arn, "Targets": missing}),
            );
        } else {
            let descs: Vec<TargetDescription> = missing
                .iter()
                .map(|t| {
                    TargetDescription::builder()
                        .id(t.as_str())
                        .port(port32)
                        .build()
                })
                .collect();
            host.aws()
                .await?
                .elb
                .register_targets()
                .target_group_arn(&arn)
                .set_targets(Some(descs))
                .send()
                .await
                .map_err(|e| aws_error("RegisterTargets", e))?;
        }
    }
    if !extra.is_empty() && !host.planning() {
        let descs: Vec<TargetDescription> = extra
            .iter()
            .map(|t| {
                TargetDescription::builder()
                    .id(t.as_str())
                    .port(port32)
                    .build()
            })
            .collect();
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
        host.event("listener", &arn, REUSED);
        return Ok(Listener {
            arn,
            protocol: "TCP".into(),
            port,
            target_group_arn: tg.arn.clone(),
            status: REUSED.into(),
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
        host.event("listener", &arn, PLANNED);
        return Ok(Listener {
            arn,
            protocol: "TCP".into(),
            port,
            target_group_arn: tg.arn.clone(),
            status: PLANNED.into(),
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
    host.event("listener", &arn, CREATED);
    Ok(Listener {
        arn,
        protocol: "TCP".into(),
        port,
        target_group_arn: tg.arn.clone(),
        status: CREATED.into(),
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
