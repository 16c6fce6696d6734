//! The subnet, the internet gateway attached to the VPC, and the route
//! table that sends 0.0.0.0/0 through it.

use aws_sdk_ec2::types::ResourceType;
use serde_json::json;

use crate::aws::aws_error;
use crate::aws::once::{
    Failure, Made, create_once, ec2_no_retry, failed, max_attempts, one_or_none,
};
use crate::aws::tags::{cluster_filter, filter, must_match, tag_spec, tags_json};
use crate::aws::types::*;
use crate::error::{Error, Result};
use crate::host::Host;

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
        host.event("subnet", &id, Outcome::Planned);
        return Ok(Subnet {
            id,
            vpc_id: vpc.id.clone(),
            cidr: cidr.into(),
            availability_zone: String::new(),
            status: Outcome::Planned.into(),
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
    host.event("subnet", &id, Outcome::Created);
    Ok(Subnet {
        id,
        vpc_id: vpc.id.clone(),
        cidr: cidr.into(),
        availability_zone: s.availability_zone().unwrap_or_default().into(),
        status: Outcome::Created.into(),
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
    must_match("subnet", &id, have, cidr, "subnet_cidr")?;
    host.remember("subnet_id", &id)?;
    host.event("subnet", &id, Outcome::Reused);
    Ok(Subnet {
        id,
        vpc_id: vpc.id.clone(),
        cidr: cidr.into(),
        availability_zone: s.availability_zone().unwrap_or_default().into(),
        status: Outcome::Reused.into(),
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
            (id, attached, Outcome::Reused)
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
            (id, false, Outcome::Planned)
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
            (id.clone(), att.contains(&vpc.id), Outcome::Created)
        }
    };
    host.remember("internet_gateway_id", &id)?;
    if !attached {
        let params = || json!({"InternetGatewayId": id, "VpcId": vpc.id});
        if let Some(aws) = host.unless_planned("AttachInternetGateway", params).await? {
            crate::aws::apply("AttachInternetGateway", || {
                aws.ec2
                    .attach_internet_gateway()
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
    let candidates: Vec<(String, Vec<String>)> = cluster_internet_gateways(host)
        .await?
        .into_iter()
        .filter(|(_, att)| gateway_fits(att, vpc_id))
        .collect();
    one_or_none("internet gateway", &host.cluster, candidates)
}

/// Every internet gateway tagged for the cluster, each with its
/// attachments ([`gateway_attachments`]).
pub async fn cluster_internet_gateways(host: &Host) -> Result<Vec<(String, Vec<String>)>> {
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_internet_gateways()
        .filters(cluster_filter(host))
        .send()
        .await
        .map_err(|e| aws_error("DescribeInternetGateways", e))?;
    Ok(out
        .internet_gateways()
        .iter()
        .map(gateway_attachments)
        .collect())
}

/// A gateway as `(ID, IDs of the VPCs it is attached to)`.
pub fn gateway_attachments(g: &aws_sdk_ec2::types::InternetGateway) -> (String, Vec<String>) {
    let id = g.internet_gateway_id().unwrap_or_default().to_string();
    let attached = g
        .attachments()
        .iter()
        .filter_map(|a| a.vpc_id().map(str::to_string))
        .collect();
    (id, attached)
}

/// Whether a cluster gateway attached to `attached` can serve the VPC:
/// attached to it, or to nothing yet (a crash between create and attach).
pub fn gateway_fits(attached: &[String], vpc_id: &str) -> bool {
    attached.is_empty() || attached.iter().any(|v| v == vpc_id)
}

/// What a found route table still needs: `(associated with the subnet, has
/// the default route 0.0.0.0/0 via the gateway)`.
pub fn route_table_facts(
    rt: &aws_sdk_ec2::types::RouteTable,
    subnet_id: &str,
    igw_id: &str,
) -> (bool, bool) {
    let associated = rt
        .associations()
        .iter()
        .any(|a| a.subnet_id() == Some(subnet_id));
    let routed = rt
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0") && r.gateway_id() == Some(igw_id));
    (associated, routed)
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
        Some((id, a, r)) => (id, a, r, Outcome::Reused),
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
            (id, false, false, Outcome::Planned)
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
            (id, a, r, Outcome::Created)
        }
    };
    host.remember("route_table_id", &id)?;
    if !associated {
        let params = || json!({"RouteTableId": id, "SubnetId": subnet.id});
        if let Some(aws) = host.unless_planned("AssociateRouteTable", params).await? {
            crate::aws::apply("AssociateRouteTable", || {
                aws.ec2
                    .associate_route_table()
                    .route_table_id(&id)
                    .subnet_id(&subnet.id)
                    .send()
            })
            .await?;
        }
    }
    if !routed {
        let params = || json!({"RouteTableId": id, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw.id});
        if let Some(aws) = host.unless_planned("CreateRoute", params).await? {
            crate::aws::apply("CreateRoute", || {
                aws.ec2
                    .create_route()
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
            let (associated, routed) = route_table_facts(rt, subnet_id, igw_id);
            let id = rt.route_table_id().unwrap_or_default().to_string();
            (id.clone(), (id, associated, routed))
        })
        .collect();
    Ok(one_or_none("route table", &host.cluster, found)?.map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{Route, RouteTable, RouteTableAssociation};

    #[test]
    fn a_gateway_serves_its_vpc_or_none_yet() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(gateway_fits(&v(&[]), "vpc-1"));
        assert!(gateway_fits(&v(&["vpc-1"]), "vpc-1"));
        assert!(!gateway_fits(&v(&["vpc-2"]), "vpc-1"));
    }

    #[test]
    fn a_route_table_says_what_it_still_needs() {
        let bare = RouteTable::builder().route_table_id("rtb-1").build();
        assert_eq!(
            route_table_facts(&bare, "subnet-1", "igw-1"),
            (false, false)
        );
        let done = RouteTable::builder()
            .associations(
                RouteTableAssociation::builder()
                    .subnet_id("subnet-1")
                    .build(),
            )
            .routes(
                Route::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .gateway_id("igw-1")
                    .build(),
            )
            .build();
        assert_eq!(route_table_facts(&done, "subnet-1", "igw-1"), (true, true));
        // Another subnet's association, or a default route through another
        // gateway, do not count.
        assert_eq!(
            route_table_facts(&done, "subnet-2", "igw-2"),
            (false, false)
        );
        let local_only = RouteTable::builder()
            .routes(
                Route::builder()
                    .destination_cidr_block("172.31.0.0/16")
                    .gateway_id("local")
                    .build(),
            )
            .build();
        assert!(!route_table_facts(&local_only, "subnet-1", "local").1);
    }
}
