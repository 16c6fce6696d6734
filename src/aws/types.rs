//! The typed values host functions return: one struct per AWS resource,
//! with read-only getters in Rhai and a readable `to_string`.

use rhai::CustomType;
use serde::Serialize;

pub use crate::outcome::Outcome;

// Aliases of `Outcome` that `src/api/pki.rs` still uses on this branch
// (the PKI's own refactor drops them): delete them once nothing does.
// `src/aws` uses `Outcome::…`.
/// What happened to a resource in this run (see [`Outcome`]).
pub const CREATED: Outcome = Outcome::Created;
/// The resource already existed and was reused.
pub const REUSED: Outcome = Outcome::Reused;
/// Plan mode: the resource would be created.
pub const PLANNED: Outcome = Outcome::Planned;

/// Gives a custom type (with `Display` and `Serialize`) its Rhai
/// `to_string`, `to_debug` and `to_json`: use with
/// `#[rhai_type(extra = Self::build_extra)]`. Shared by every typed value
/// the host returns (here and in `src/api/pki.rs`).
macro_rules! display_type {
    ($t:ty) => {
        impl $t {
            fn build_extra(builder: &mut rhai::TypeBuilder<Self>) {
                builder
                    .with_fn("to_string", |x: &mut Self| x.to_string())
                    .with_fn("to_debug", |x: &mut Self| x.to_string())
                    .with_fn("to_json", |x: &mut Self| {
                        serde_json::to_string_pretty(x).unwrap_or_default()
                    });
            }
        }
    };
}
pub(crate) use display_type;

/// A VPC.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "Vpc", extra = Self::build_extra)]
pub struct Vpc {
    /// The VPC ID (`vpc-…`).
    #[rhai_type(readonly)]
    pub id: String,
    /// Its CIDR block.
    #[rhai_type(readonly)]
    pub cidr: String,
    /// Its `Name` tag.
    #[rhai_type(readonly)]
    pub name: String,
    /// Whether DNS resolution is enabled.
    #[rhai_type(readonly)]
    pub dns_support: bool,
    /// Whether instances get DNS host names.
    #[rhai_type(readonly)]
    pub dns_hostnames: bool,
    /// The associated DHCP options set.
    #[rhai_type(readonly)]
    pub dhcp_options_id: String,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(Vpc);
impl std::fmt::Display for Vpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Vpc {} {} (Name={}, dns support={}, dns hostnames={}, {})",
            self.id, self.cidr, self.name, self.dns_support, self.dns_hostnames, self.status
        )
    }
}

/// A DHCP options set.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "DhcpOptions", extra = Self::build_extra)]
pub struct DhcpOptions {
    /// The ID (`dopt-…`).
    #[rhai_type(readonly)]
    pub id: String,
    /// The `domain-name` option.
    #[rhai_type(readonly)]
    pub domain_name: String,
    /// The `domain-name-servers` option.
    #[rhai_type(readonly)]
    pub domain_name_servers: String,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(DhcpOptions);
impl std::fmt::Display for DhcpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DhcpOptions {} (domain-name={}, domain-name-servers={}, {})",
            self.id, self.domain_name, self.domain_name_servers, self.status
        )
    }
}

/// A subnet.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "Subnet", extra = Self::build_extra)]
pub struct Subnet {
    /// The ID (`subnet-…`).
    #[rhai_type(readonly)]
    pub id: String,
    /// The VPC it belongs to.
    #[rhai_type(readonly)]
    pub vpc_id: String,
    /// Its CIDR block.
    #[rhai_type(readonly)]
    pub cidr: String,
    /// Its availability zone.
    #[rhai_type(readonly)]
    pub availability_zone: String,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(Subnet);
impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Subnet {} {} in {} ({}, {})",
            self.id, self.cidr, self.vpc_id, self.availability_zone, self.status
        )
    }
}

/// An internet gateway.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "InternetGateway", extra = Self::build_extra)]
pub struct InternetGateway {
    /// The ID (`igw-…`).
    #[rhai_type(readonly)]
    pub id: String,
    /// The VPC it is attached to.
    #[rhai_type(readonly)]
    pub vpc_id: String,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(InternetGateway);
impl std::fmt::Display for InternetGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "InternetGateway {} attached to {} ({})",
            self.id, self.vpc_id, self.status
        )
    }
}

/// A route table.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "RouteTable", extra = Self::build_extra)]
pub struct RouteTable {
    /// The ID (`rtb-…`).
    #[rhai_type(readonly)]
    pub id: String,
    /// The VPC.
    #[rhai_type(readonly)]
    pub vpc_id: String,
    /// The associated subnet.
    #[rhai_type(readonly)]
    pub subnet_id: String,
    /// The gateway of the default route.
    #[rhai_type(readonly)]
    pub gateway_id: String,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(RouteTable);
impl std::fmt::Display for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RouteTable {} (subnet {}, 0.0.0.0/0 via {}, {})",
            self.id, self.subnet_id, self.gateway_id, self.status
        )
    }
}

/// One ingress rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IngressRule {
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    /// First port (ICMP: type, -1 for all).
    pub from_port: i32,
    /// Last port (ICMP: code, -1 for all).
    pub to_port: i32,
    /// Source CIDR block.
    pub cidr: String,
    /// What the rule is for.
    pub description: String,
}

impl std::fmt::Display for IngressRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports = if self.from_port == self.to_port {
            self.from_port.to_string()
        } else {
            format!("{}-{}", self.from_port, self.to_port)
        };
        write!(f, "{} {} from {}", self.protocol, ports, self.cidr)?;
        if !self.description.is_empty() {
            write!(f, " ({})", self.description)?;
        }
        Ok(())
    }
}

/// A security group.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "SecurityGroup", extra = Self::build_extra)]
pub struct SecurityGroup {
    /// The ID (`sg-…`).
    #[rhai_type(readonly)]
    pub id: String,
    /// Its group name.
    #[rhai_type(readonly)]
    pub name: String,
    /// The VPC.
    #[rhai_type(readonly)]
    pub vpc_id: String,
    /// Its ingress rules, one line each.
    #[rhai_type(readonly, get = Self::rule_lines)]
    #[serde(serialize_with = "rules_as_strings")]
    pub rules: Vec<IngressRule>,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
fn rules_as_strings<S: serde::Serializer>(rules: &[IngressRule], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rules.iter().map(|r| r.to_string()))
}
impl SecurityGroup {
    fn rule_lines(&self) -> rhai::Array {
        self.rules.iter().map(|r| r.to_string().into()).collect()
    }
}
display_type!(SecurityGroup);
impl std::fmt::Display for SecurityGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecurityGroup {} {} in {} ({})",
            self.id, self.name, self.vpc_id, self.status
        )?;
        for r in &self.rules {
            write!(f, "\n  ingress {r}")?;
        }
        Ok(())
    }
}

/// A network load balancer.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "LoadBalancer", extra = Self::build_extra)]
pub struct LoadBalancer {
    /// Its ARN.
    #[rhai_type(readonly)]
    pub arn: String,
    /// Its name.
    #[rhai_type(readonly)]
    pub name: String,
    /// Its public DNS name (the Kubernetes public address).
    #[rhai_type(readonly)]
    pub dns_name: String,
    /// `internet-facing` or `internal`.
    #[rhai_type(readonly)]
    pub scheme: String,
    /// `network`.
    #[rhai_type(readonly)]
    pub kind: String,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(LoadBalancer);
impl std::fmt::Display for LoadBalancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LoadBalancer {} ({} {}, dns {}, {})",
            self.name, self.kind, self.scheme, self.dns_name, self.status
        )
    }
}

/// A target group.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "TargetGroup", extra = Self::build_extra)]
pub struct TargetGroup {
    /// Its ARN.
    #[rhai_type(readonly)]
    pub arn: String,
    /// Its name.
    #[rhai_type(readonly)]
    pub name: String,
    /// `TCP`.
    #[rhai_type(readonly)]
    pub protocol: String,
    /// The target port.
    #[rhai_type(readonly)]
    pub port: i64,
    /// `ip`.
    #[rhai_type(readonly)]
    pub target_type: String,
    /// Registered target IPs.
    #[rhai_type(readonly, get = Self::target_list)]
    pub targets: Vec<String>,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
impl TargetGroup {
    fn target_list(&self) -> rhai::Array {
        self.targets.iter().map(|t| t.clone().into()).collect()
    }
}
display_type!(TargetGroup);
impl std::fmt::Display for TargetGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TargetGroup {} ({} {}, type {}, targets [{}], {})",
            self.name,
            self.protocol,
            self.port,
            self.target_type,
            self.targets.join(", "),
            self.status
        )
    }
}

/// A load balancer listener.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "Listener", extra = Self::build_extra)]
pub struct Listener {
    /// Its ARN.
    #[rhai_type(readonly)]
    pub arn: String,
    /// `TCP`.
    #[rhai_type(readonly)]
    pub protocol: String,
    /// The port it listens on.
    #[rhai_type(readonly)]
    pub port: i64,
    /// Where it forwards to.
    #[rhai_type(readonly)]
    pub target_group_arn: String,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(Listener);
impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Listener {} {} -> {} ({})",
            self.protocol, self.port, self.target_group_arn, self.status
        )
    }
}

/// An EC2 image (AMI).
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "Image", extra = Self::build_extra)]
pub struct Image {
    /// The AMI ID.
    #[rhai_type(readonly)]
    pub id: String,
    /// Its name.
    #[rhai_type(readonly)]
    pub name: String,
    /// When it was made.
    #[rhai_type(readonly)]
    pub creation_date: String,
    /// The owner account.
    #[rhai_type(readonly)]
    pub owner: String,
}
display_type!(Image);
impl std::fmt::Display for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Image {} {} (owner {}, {})",
            self.id, self.name, self.owner, self.creation_date
        )
    }
}

/// An SSH key pair. The private key lives only in its file.
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "KeyPair", extra = Self::build_extra)]
pub struct KeyPair {
    /// The key pair's name in AWS.
    #[rhai_type(readonly)]
    pub name: String,
    /// AWS's fingerprint of it.
    #[rhai_type(readonly)]
    pub fingerprint: String,
    /// The private key file (mode 0400).
    #[rhai_type(readonly)]
    pub path: String,
    /// created, reused, imported or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(KeyPair);
impl std::fmt::Display for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyPair {} (private key in {}, {})",
            self.name, self.path, self.status
        )
    }
}

/// An EC2 instance (a cluster node).
#[derive(Debug, Clone, Serialize, CustomType)]
#[rhai_type(name = "Instance", extra = Self::build_extra)]
pub struct Instance {
    /// The instance ID.
    #[rhai_type(readonly)]
    pub id: String,
    /// The node name (`master-0`, `worker-2`).
    #[rhai_type(readonly)]
    pub name: String,
    /// `master` or `worker`.
    #[rhai_type(readonly)]
    pub role: String,
    /// Index within its role.
    #[rhai_type(readonly)]
    pub index: i64,
    /// Private IP.
    #[rhai_type(readonly)]
    pub private_ip: String,
    /// Public IP (empty until assigned).
    #[rhai_type(readonly)]
    pub public_ip: String,
    /// Private DNS host name (`ip-172-31-0-10`).
    #[rhai_type(readonly)]
    pub hostname: String,
    /// The pod CIDR (workers).
    #[rhai_type(readonly)]
    pub pod_cidr: String,
    /// EC2 state (`pending`, `running`, …).
    #[rhai_type(readonly)]
    pub state: String,
    /// The instance type.
    #[rhai_type(readonly)]
    pub instance_type: String,
    /// created, reused or planned.
    #[rhai_type(readonly)]
    pub status: String,
}
display_type!(Instance);
impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Instance {} {} ({} {}, private {}, public {}, {}, {})",
            self.name,
            self.id,
            self.role,
            self.instance_type,
            self.private_ip,
            if self.public_ip.is_empty() {
                "-"
            } else {
                &self.public_ip
            },
            self.state,
            self.status
        )
    }
}
