//! The cluster's tags and the look-ups by them: every resource groundup
//! makes carries `Name` and `groundup:cluster=<cluster>`, and is found again
//! by that tag.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_elasticloadbalancingv2 as elbv2;

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
    crate::aws::eventually("CreateTags", || {
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

/// The value of tag `key` (empty if the resource lacks it).
pub fn tag_value(tags: &[Tag], key: &str) -> String {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string()
}

/// The error for a found resource whose identifying property (`have`)
/// is not the wanted one (`want`, from `setting`): never replaced silently.
pub fn conflict(what: &str, id: &str, have: &str, want: &str, setting: &str) -> Error {
    Error::new(
        Kind::Aws,
        format!("the cluster already has {what} {id} with {have}, but {setting} is {want}"),
    )
    .with_help(
        "groundup will not replace it silently: run `groundup down` first, or pick another --cluster",
    )
}

/// `Ok` when a found resource's identifying property is the wanted one,
/// else the [`conflict`] error.
pub fn must_match(what: &str, id: &str, have: &str, want: &str, setting: &str) -> Result<()> {
    if have == want {
        Ok(())
    } else {
        Err(conflict(what, id, have, want, setting))
    }
}

/// The host's standard tags as ELBv2 tags.
pub fn elb_tags(host: &Host, name: &str) -> Vec<elbv2::types::Tag> {
    host.tags(name)
        .into_iter()
        .map(|(k, v)| elbv2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// The EC2 network resource kinds groundup tags with the cluster, in the
/// order teardown deletes them (and `leftovers` lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    /// `sg-…` (the VPC's `default` group is never counted: AWS keeps it).
    SecurityGroup,
    /// `rtb-…`.
    RouteTable,
    /// `igw-…`.
    InternetGateway,
    /// `subnet-…`.
    Subnet,
    /// `vpc-…`.
    Vpc,
    /// `dopt-…`.
    DhcpOptions,
}

impl Tagged {
    /// Every kind, in teardown order.
    pub const ALL: [Tagged; 6] = [
        Tagged::SecurityGroup,
        Tagged::RouteTable,
        Tagged::InternetGateway,
        Tagged::Subnet,
        Tagged::Vpc,
        Tagged::DhcpOptions,
    ];

    /// The kind's name in events and `leftovers` (`security-group`, …).
    pub const fn kind(self) -> &'static str {
        match self {
            Tagged::SecurityGroup => "security-group",
            Tagged::RouteTable => "route-table",
            Tagged::InternetGateway => "internet-gateway",
            Tagged::Subnet => "subnet",
            Tagged::Vpc => "vpc",
            Tagged::DhcpOptions => "dhcp-options",
        }
    }

    /// The EC2 operation that lists the kind.
    pub const fn describe_operation(self) -> &'static str {
        match self {
            Tagged::SecurityGroup => "DescribeSecurityGroups",
            Tagged::RouteTable => "DescribeRouteTables",
            Tagged::InternetGateway => "DescribeInternetGateways",
            Tagged::Subnet => "DescribeSubnets",
            Tagged::Vpc => "DescribeVpcs",
            Tagged::DhcpOptions => "DescribeDhcpOptions",
        }
    }
}

/// The IDs of every resource of `kind` that carries the cluster's tag: one
/// Describe call with the cluster filter (the one copy of that shape for
/// every kind).
pub async fn tagged_ids(host: &Host, kind: Tagged) -> Result<Vec<String>> {
    let ec2 = &host.aws().await?.ec2;
    let f = cluster_filter(host);
    let op = kind.describe_operation();
    macro_rules! describe {
        ($call:ident, $list:ident, $id:ident) => {{
            let out = ec2
                .$call()
                .filters(f)
                .send()
                .await
                .map_err(|e| crate::aws::aws_error(op, e))?;
            out.$list()
                .iter()
                .map(|x| x.$id().map(str::to_string))
                .collect::<Vec<_>>()
        }};
    }
    let found: Vec<Option<String>> = match kind {
        Tagged::SecurityGroup => {
            let out = ec2
                .describe_security_groups()
                .filters(f)
                .send()
                .await
                .map_err(|e| crate::aws::aws_error(op, e))?;
            out.security_groups()
                .iter()
                .filter(|g| g.group_name() != Some("default"))
                .map(|g| g.group_id().map(str::to_string))
                .collect()
        }
        Tagged::RouteTable => describe!(describe_route_tables, route_tables, route_table_id),
        Tagged::InternetGateway => {
            describe!(
                describe_internet_gateways,
                internet_gateways,
                internet_gateway_id
            )
        }
        Tagged::Subnet => describe!(describe_subnets, subnets, subnet_id),
        Tagged::Vpc => describe!(describe_vpcs, vpcs, vpc_id),
        Tagged::DhcpOptions => describe!(describe_dhcp_options, dhcp_options, dhcp_options_id),
    };
    Ok(found.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_found_resource_with_another_cidr_is_a_conflict() {
        assert!(must_match("VPC", "vpc-1", "172.31.0.0/16", "172.31.0.0/16", "vpc_cidr").is_ok());
        let e =
            must_match("VPC", "vpc-1", "172.31.0.0/16", "10.20.0.0/16", "vpc_cidr").unwrap_err();
        assert_eq!(
            e.message,
            "the cluster already has VPC vpc-1 with 172.31.0.0/16, but vpc_cidr is 10.20.0.0/16"
        );
        assert!(e.help.unwrap_or_default().contains("groundup down"));
    }

    #[test]
    fn tags_are_read_by_key() {
        let tags = [
            Tag::builder().key("Name").value("k8s").build(),
            Tag::builder().key(CLUSTER_TAG).value("k8s").build(),
        ];
        assert_eq!(tag_value(&tags, "Name"), "k8s");
        assert_eq!(tag_value(&tags, "groundup:node"), "");
    }
}
