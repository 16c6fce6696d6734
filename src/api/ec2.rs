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

/// Reads one node map: `#{ name: "master-0", role: "master", index: 0,
/// private_ip: "172.31.0.10", user_data: "name=master-0", pod_cidr: "",
/// source_dest_check: true }`. `source_dest_check` defaults to on, and to
/// off for a node with a `pod_cidr` (it forwards its pods' traffic).
pub fn parse_node(i: usize, d: Dynamic) -> Result<crate::aws::compute::NodeSpec, String> {
    let Some(m) = d.try_cast::<Map>() else {
        return Err(format!(
            "nodes[{i}] must be a map like #{{ name: \"master-0\", role: \"master\", index: 0, private_ip: \"172.31.0.10\", user_data: \"name=master-0\" }}"
        ));
    };
    for k in m.keys() {
        if ![
            "name",
            "role",
            "index",
            "private_ip",
            "user_data",
            "pod_cidr",
            "source_dest_check",
        ]
        .contains(&k.as_str())
        {
            return Err(format!(
                "nodes[{i}]: unknown field `{k}` (fields: name, role, index, private_ip, user_data, pod_cidr, source_dest_check)"
            ));
        }
    }
    let text = |k: &str| -> Result<String, String> {
        m.get(k)
            .map(|v| v.to_string())
            .ok_or_else(|| format!("nodes[{i}]: `{k}` is required"))
    };
    let name = text("name")?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "nodes[{i}].name `{name}` must be letters, digits and hyphens"
        ));
    }
    let ip = text("private_ip")?;
    cidr::parse_ip(&ip).map_err(|e| format!("nodes[{i}].private_ip: {e}"))?;
    let index = m
        .get("index")
        .map(|v| {
            v.as_int()
                .map_err(|t| format!("nodes[{i}].index must be an integer, got {t}"))
        })
        .transpose()?
        .unwrap_or(0);
    let pod_cidr = m.get("pod_cidr").map(|v| v.to_string()).unwrap_or_default();
    if !pod_cidr.is_empty() {
        cidr::parse(&pod_cidr).map_err(|e| format!("nodes[{i}].pod_cidr: {e}"))?;
    }
    let source_dest_check = m
        .get("source_dest_check")
        .map(|v| {
            v.as_bool()
                .map_err(|t| format!("nodes[{i}].source_dest_check must be true or false, got {t}"))
        })
        .transpose()?
        .unwrap_or_else(|| crate::aws::compute::NodeSpec::default_source_dest_check(&pod_cidr));
    let user_data = m
        .get("user_data")
        .map(|v| v.to_string())
        .unwrap_or_default();
    if user_data.len() > 16 * 1024 {
        return Err(format!("nodes[{i}].user_data is over AWS's 16 KB limit"));
    }
    Ok(crate::aws::compute::NodeSpec {
        name,
        role: text("role")?,
        index,
        private_ip: ip,
        user_data,
        pod_cidr,
        source_dest_check,
    })
}

#[export_module]
pub mod ec2_api {
    use crate::api::{bad_arg, fail, host, strings};
    use crate::aws::types::*;
    use crate::aws::{compute, network};
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

    /// The newest image owned by `owner` (Canonical: "099720109477") whose
    /// name matches the first of `patterns` that matches anything (`*` is a
    /// wildcard), x86_64 with an EBS root — one DescribeImages call. Fails
    /// naming the owner and every pattern tried when nothing matches.
    #[rhai_fn(return_raw)]
    pub fn find_image(
        ctx: NativeCallContext,
        owner: &str,
        patterns: Array,
    ) -> Result<Image, Box<EvalAltResult>> {
        const CALL: &str = "ec2::find_image";
        let patterns = strings(&ctx, CALL, "patterns", patterns)?;
        if patterns.is_empty() {
            return Err(bad_arg(&ctx, CALL, "give at least one image name pattern"));
        }
        let h = host(&ctx)?;
        h.block_on(compute::find_image(&h, owner, &patterns))
            .map_err(|e| fail(&ctx, e))
    }

    /// The domain of EC2's private DNS names in `region`: `ec2.internal`
    /// in us-east-1, `<region>.compute.internal` elsewhere (a node's
    /// private DNS name is `<host name>.<this>`).
    pub fn internal_domain(region: &str) -> String {
        crate::aws::internal_domain(region)
    }

    /// A pinned image by its AMI ID (`ami-…`); fails clearly if it does not
    /// exist in the region.
    #[rhai_fn(return_raw)]
    pub fn get_image(ctx: NativeCallContext, image_id: &str) -> Result<Image, Box<EvalAltResult>> {
        const CALL: &str = "ec2::get_image";
        if !image_id.starts_with("ami-") {
            return Err(bad_arg(
                &ctx,
                CALL,
                format!("`{image_id}` is not an AMI id (ami-…)"),
            ));
        }
        let h = host(&ctx)?;
        h.block_on(compute::get_image(&h, image_id))
            .map_err(|e| fail(&ctx, e))
    }

    /// Finds or creates the SSH key pair `name`. Its private key is written
    /// once to `<state-dir>/<cluster>/ssh/<name>.id_rsa` (mode 0400) and is
    /// never printed or overwritten. If only the file exists its public key
    /// is imported; if only AWS has the key pair, this fails with the ways out.
    #[rhai_fn(return_raw)]
    pub fn create_key_pair(
        ctx: NativeCallContext,
        name: &str,
    ) -> Result<KeyPair, Box<EvalAltResult>> {
        const CALL: &str = "ec2::create_key_pair";
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad_arg(
                &ctx,
                CALL,
                format!("`{name}` is not a key pair name (letters, digits, - _ .)"),
            ));
        }
        let h = host(&ctx)?;
        h.block_on(compute::ensure_key_pair(&h, name))
            .map_err(|e| fail(&ctx, e))
    }

    /// Launches every node in `nodes` that does not exist yet — with bounded
    /// concurrency (setting `launch_concurrency`), tags at launch
    /// (`Name=<cluster>-<name>`, `groundup:cluster`, `groundup:role`,
    /// `groundup:node`), a public IP, and the node's source/destination
    /// check (`source_dest_check`: off for a node that forwards pod traffic,
    /// which EC2 can only set after launch) — and records each in state.
    /// Existing nodes (found by tag) are reused, their check set right.
    /// `nodes`: maps `#{ name, role, index, private_ip, user_data, pod_cidr,
    /// source_dest_check }`;
    /// `placement`: `#{ subnet_id, security_group_id, key_name, image_id, instance_type }`.
    #[rhai_fn(return_raw)]
    pub fn launch_nodes(
        ctx: NativeCallContext,
        nodes: Array,
        placement: Map,
    ) -> Result<Array, Box<EvalAltResult>> {
        const CALL: &str = "ec2::launch_nodes";
        let mut specs = Vec::with_capacity(nodes.len());
        for (i, d) in nodes.into_iter().enumerate() {
            specs.push(super::parse_node(i, d).map_err(|e| bad_arg(&ctx, CALL, e))?);
        }
        let mut seen = std::collections::HashSet::new();
        for s in &specs {
            if !seen.insert(s.name.clone()) || !seen.insert(format!("ip:{}", s.private_ip)) {
                return Err(bad_arg(
                    &ctx,
                    CALL,
                    format!("node {} repeats a name or private IP", s.name),
                ));
            }
        }
        let get = |k: &str| -> Result<String, Box<EvalAltResult>> {
            match placement.get(k) {
                Some(v) if !v.is_unit() && !v.to_string().is_empty() => Ok(v.to_string()),
                _ => Err(bad_arg(
                    &ctx,
                    CALL,
                    format!(
                        "placement.{k} is missing (did network.rhai run? see `groundup status`)"
                    ),
                )),
            }
        };
        let h = host(&ctx)?;
        let place = compute::Placement {
            subnet_id: get("subnet_id")?,
            security_group_id: get("security_group_id")?,
            key_name: get("key_name")?,
            image_id: get("image_id")?,
            instance_type: get("instance_type")?,
            concurrency: h.settings.int("launch_concurrency").clamp(1, 64) as usize,
        };
        h.block_on(compute::launch_nodes(&h, &specs, &place))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Waits until every node is `running` (one DescribeInstances call per
    /// poll for all of them), then returns them with their public IPs and
    /// host names, recorded in state. Fails after `timeout_secs` naming the
    /// nodes still pending.
    #[rhai_fn(return_raw)]
    pub fn wait_running(
        ctx: NativeCallContext,
        nodes: Array,
        timeout_secs: i64,
    ) -> Result<Array, Box<EvalAltResult>> {
        const CALL: &str = "ec2::wait_running";
        let mut list = Vec::new();
        for (i, d) in nodes.into_iter().enumerate() {
            match d.try_cast::<Instance>() {
                Some(n) => list.push(n),
                None => {
                    return Err(bad_arg(
                        &ctx,
                        CALL,
                        format!(
                            "nodes[{i}] is not an Instance (use what ec2::launch_nodes returned)"
                        ),
                    ));
                }
            }
        }
        if timeout_secs <= 0 {
            return Err(bad_arg(&ctx, CALL, "timeout_secs must be positive"));
        }
        let h = host(&ctx)?;
        h.block_on(compute::wait_running(
            &h,
            &list,
            std::time::Duration::from_secs(timeout_secs as u64),
        ))
        .map(|v| v.into_iter().map(Dynamic::from).collect())
        .map_err(|e| fail(&ctx, e))
    }

    /// Terminates every node of the cluster (found by tag and by state) and
    /// waits until they are terminated. Returns the instance IDs.
    #[rhai_fn(return_raw)]
    pub fn terminate_nodes(
        ctx: NativeCallContext,
        timeout_secs: i64,
    ) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let t = std::time::Duration::from_secs(timeout_secs.max(1) as u64);
        h.block_on(crate::aws::teardown::terminate_nodes(&h, t))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the key pair `name` in AWS (the local private key file is
    /// kept; `groundup down --purge` removes it). False if it was already gone.
    #[rhai_fn(return_raw)]
    pub fn delete_key_pair(ctx: NativeCallContext, name: &str) -> Result<bool, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(crate::aws::teardown::delete_key_pair(&h, name))
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the cluster's security groups (retrying while they are still
    /// in use). Returns the deleted IDs.
    #[rhai_fn(return_raw)]
    pub fn delete_security_groups(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(crate::aws::teardown::delete_security_groups(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Disassociates and deletes the cluster's route tables.
    #[rhai_fn(return_raw)]
    pub fn delete_route_tables(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(crate::aws::teardown::delete_route_tables(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Detaches and deletes the cluster's internet gateways.
    #[rhai_fn(return_raw)]
    pub fn delete_internet_gateways(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(crate::aws::teardown::delete_internet_gateways(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the cluster's subnets.
    #[rhai_fn(return_raw)]
    pub fn delete_subnets(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(crate::aws::teardown::delete_subnets(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the cluster's VPC (after everything inside it).
    #[rhai_fn(return_raw)]
    pub fn delete_vpcs(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(crate::aws::teardown::delete_vpcs(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the cluster's DHCP options (after the VPC that used them).
    #[rhai_fn(return_raw)]
    pub fn delete_dhcp_options(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(crate::aws::teardown::delete_dhcp_options(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Everything of the cluster still in AWS, one `kind id` string each
    /// (empty when the cluster is gone).
    #[rhai_fn(return_raw)]
    pub fn leftovers(ctx: NativeCallContext, name: &str) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(crate::aws::teardown::leftovers(&h, name))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }
}
