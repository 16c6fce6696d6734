//! `ec2::` — the lesson's EC2 calls as idempotent find-or-create functions.

use rhai::plugin::*;
use rhai::{Array, Map};

use crate::aws::types::IngressRule;
use crate::net::cidr;

/// Reads one ingress rule map: `#{ protocol: "tcp", from: 2379, to: 2380,
/// cidr: "172.31.0.0/24", description: "etcd" }` (`port:` for one port).
pub fn parse_rule(call: &str, i: usize, d: Dynamic) -> Result<IngressRule, String> {
    let Some(m) = d.try_cast::<Map>() else {
        return Err(format!(
            "rules[{i}] must be a map like #{{ protocol: \"tcp\", port: 22, cidr: \"0.0.0.0/0\" }}"
        ));
    };
    for k in m.keys() {
        if !["protocol", "from", "to", "port", "cidr", "description"].contains(&k.as_str()) {
            return Err(format!(
                "rules[{i}]: unknown field `{k}` (fields: protocol, port or from/to, cidr, description)"
            ));
        }
    }
    let text = |k: &str| m.get(k).map(|v| v.to_string());
    let int = |k: &str| -> Result<Option<i64>, String> {
        match m.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_int()
                .map(Some)
                .map_err(|t| format!("rules[{i}].{k} must be an integer, got {t}")),
        }
    };
    let protocol = text("protocol")
        .unwrap_or_else(|| "tcp".into())
        .to_lowercase();
    if !["tcp", "udp", "icmp", "-1"].contains(&protocol.as_str()) {
        return Err(format!(
            "rules[{i}].protocol `{protocol}` must be tcp, udp, icmp or -1"
        ));
    }
    let (from, to) = match (int("port")?, int("from")?, int("to")?) {
        (Some(p), None, None) => (p, p),
        (None, Some(f), Some(t)) => (f, t),
        (None, Some(f), None) => (f, f),
        (None, None, None) if protocol == "icmp" || protocol == "-1" => (-1, -1),
        _ => return Err(format!("rules[{i}]: give either `port` or `from` and `to`")),
    };
    let range = if protocol == "icmp" {
        -1..=255
    } else {
        -1..=65535
    };
    if !range.contains(&from) || !range.contains(&to) || (protocol != "icmp" && from > to) {
        return Err(format!(
            "rules[{i}]: ports {from}-{to} are not a valid range"
        ));
    }
    let Some(c) = text("cidr") else {
        return Err(format!("rules[{i}]: `cidr` is required"));
    };
    cidr::parse(&c).map_err(|e| format!("rules[{i}].cidr: {e}"))?;
    let _ = call;
    Ok(IngressRule {
        protocol,
        from_port: from as i32,
        to_port: to as i32,
        cidr: c,
        description: text("description").unwrap_or_default(),
    })
}

/// Reads every rule of an array.
pub fn parse_rules(call: &str, rules: Array) -> Result<Vec<IngressRule>, String> {
    rules
        .into_iter()
        .enumerate()
        .map(|(i, d)| parse_rule(call, i, d))
        .collect()
}

#[export_module]
pub mod ec2_api {
    use crate::api::{bad_arg, fail, host};
    use crate::aws::network;
    use crate::aws::types::*;
    use crate::net::cidr;

    /// Finds or creates the cluster's VPC with this CIDR block, tagged
    /// `Name=<cluster>` and `groundup:cluster=<cluster>`, with DNS support
    /// and DNS host names enabled (the lesson's `create-vpc` and both
    /// `modify-vpc-attribute` calls). Idempotent: a re-run reuses it.
    #[rhai_fn(return_raw)]
    pub fn create_vpc(ctx: NativeCallContext, cidr_block: &str) -> Result<Vpc, Box<EvalAltResult>> {
        const CALL: &str = "ec2::create_vpc";
        cidr::parse(cidr_block).map_err(|e| bad_arg(&ctx, CALL, e))?;
        let h = host(&ctx)?;
        h.block_on(network::ensure_vpc(&h, cidr_block))
            .map_err(|e| fail(&ctx, e))
    }

    /// Finds or creates the DHCP options set (`domain-name` = `domain_name`,
    /// `domain-name-servers` = AmazonProvidedDNS) and associates it with the
    /// VPC (the lesson's `create-dhcp-options` + `associate-dhcp-options`).
    #[rhai_fn(return_raw)]
    pub fn create_dhcp_options(
        ctx: NativeCallContext,
        vpc: Vpc,
        domain_name: &str,
    ) -> Result<DhcpOptions, Box<EvalAltResult>> {
        const CALL: &str = "ec2::create_dhcp_options";
        if domain_name.is_empty() || domain_name.contains(char::is_whitespace) {
            return Err(bad_arg(
                &ctx,
                CALL,
                format!("`{domain_name}` is not a domain name"),
            ));
        }
        let h = host(&ctx)?;
        h.block_on(network::ensure_dhcp_options(&h, &vpc, domain_name))
            .map_err(|e| fail(&ctx, e))
    }

    /// Finds or creates the subnet `cidr_block` inside the VPC.
    #[rhai_fn(return_raw)]
    pub fn create_subnet(
        ctx: NativeCallContext,
        vpc: Vpc,
        cidr_block: &str,
    ) -> Result<Subnet, Box<EvalAltResult>> {
        const CALL: &str = "ec2::create_subnet";
        cidr::parse(cidr_block).map_err(|e| bad_arg(&ctx, CALL, e))?;
        if !cidr::contains(&vpc.cidr, cidr_block).unwrap_or(false) && !vpc.cidr.is_empty() {
            return Err(bad_arg(
                &ctx,
                CALL,
                format!("{cidr_block} is not inside the VPC's {}", vpc.cidr),
            ));
        }
        let h = host(&ctx)?;
        h.block_on(network::ensure_subnet(&h, &vpc, cidr_block))
            .map_err(|e| fail(&ctx, e))
    }

    /// Finds or creates the internet gateway and attaches it to the VPC.
    #[rhai_fn(return_raw)]
    pub fn create_internet_gateway(
        ctx: NativeCallContext,
        vpc: Vpc,
    ) -> Result<InternetGateway, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(network::ensure_internet_gateway(&h, &vpc))
            .map_err(|e| fail(&ctx, e))
    }

    /// Finds or creates the route table, associates it with the subnet and
    /// routes 0.0.0.0/0 through the internet gateway.
    #[rhai_fn(return_raw)]
    pub fn create_route_table(
        ctx: NativeCallContext,
        vpc: Vpc,
        subnet: Subnet,
        gateway: InternetGateway,
    ) -> Result<RouteTable, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(network::ensure_route_table(&h, &vpc, &subnet, &gateway))
            .map_err(|e| fail(&ctx, e))
    }

    /// Finds or creates the security group `name` in the VPC and makes its
    /// ingress rules exactly `rules` (added in one call; rules no longer
    /// listed are revoked). Each rule is a map:
    /// `#{ protocol: "tcp", from: 2379, to: 2380, cidr: "172.31.0.0/24", description: "etcd" }`,
    /// or `port:` for a single port; ICMP takes no ports.
    #[rhai_fn(return_raw)]
    pub fn create_security_group(
        ctx: NativeCallContext,
        vpc: Vpc,
        name: &str,
        description: &str,
        rules: Array,
    ) -> Result<SecurityGroup, Box<EvalAltResult>> {
        const CALL: &str = "ec2::create_security_group";
        let rules = super::parse_rules(CALL, rules).map_err(|e| bad_arg(&ctx, CALL, e))?;
        if name.is_empty() || name.len() > 255 {
            return Err(bad_arg(
                &ctx,
                CALL,
                "a security group name is 1-255 characters",
            ));
        }
        let h = host(&ctx)?;
        h.block_on(network::ensure_security_group(
            &h,
            &vpc,
            name,
            description,
            &rules,
        ))
        .map_err(|e| fail(&ctx, e))
    }
}
