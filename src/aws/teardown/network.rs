//! The EC2 network: security groups, route tables, internet gateways,
//! subnets, the VPC and the DHCP options, in that order.

use std::collections::BTreeSet;

use serde_json::json;

use super::{delete_each, delete_with_retry, is_gone, state_ids};
use crate::aws::network::routing::{cluster_internet_gateways, gateway_attachments};
use crate::aws::tags::{Tagged, cluster_filter, filter, tagged_ids};
use crate::aws::{aws_error, code_of};
use crate::error::Result;
use crate::host::Host;

/// The IDs of the cluster's resources of `kind`: those in state under
/// `key` and those carrying the cluster's tag.
async fn cluster_ids(host: &Host, key: &str, kind: Tagged) -> Result<BTreeSet<String>> {
    let mut ids = state_ids(host, key);
    if host.can_read() {
        ids.extend(tagged_ids(host, kind).await?);
    }
    Ok(ids)
}

/// Deletes the cluster's security groups (retrying while network
/// interfaces of terminated instances still hold them).
pub async fn delete_security_groups(host: &Host) -> Result<Vec<String>> {
    let ids = cluster_ids(host, "security_group_id", Tagged::SecurityGroup).await?;
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
        gws = cluster_internet_gateways(host).await?;
        let ec2 = &host.aws().await?.ec2;
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
                            gws.push((id.clone(), gateway_attachments(g).1));
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
    let ids = cluster_ids(host, "subnet_id", Tagged::Subnet).await?;
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
    let ids = cluster_ids(host, "vpc_id", Tagged::Vpc).await?;
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
    let ids = cluster_ids(host, "dhcp_options_id", Tagged::DhcpOptions).await?;
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
