//! `ec2::` — the lesson's EC2 calls as idempotent find-or-create functions.

use rhai::plugin::*;
use rhai::{Array, Map};

crate::api::namespace!("ec2");

#[export_module]
pub mod ec2_api {
    use super::{NS, bad_arg, fail};
    use crate::api::{host, strings};
    use crate::aws::types::*;
    use crate::aws::{compute, network, spec, teardown};
    use crate::net::cidr;

    /// Finds or creates the cluster's VPC with this CIDR block, tagged
    /// `Name=<cluster>` and `groundup:cluster=<cluster>`, with DNS support
    /// and DNS host names enabled (the lesson's `create-vpc` and both
    /// `modify-vpc-attribute` calls). Idempotent: a re-run reuses it.
    #[rhai_fn(return_raw)]
    pub fn create_vpc(ctx: NativeCallContext, cidr_block: &str) -> Result<Vpc, Box<EvalAltResult>> {
        cidr::parse(cidr_block).map_err(|e| bad_arg(&ctx, e))?;
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
        if domain_name.is_empty() || domain_name.contains(char::is_whitespace) {
            return Err(bad_arg(
                &ctx,
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
        cidr::parse(cidr_block).map_err(|e| bad_arg(&ctx, e))?;
        if !cidr::contains(&vpc.cidr, cidr_block).unwrap_or(false) && !vpc.cidr.is_empty() {
            return Err(bad_arg(
                &ctx,
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
        let rules = spec::parse_rules(rules).map_err(|e| bad_arg(&ctx, e))?;
        if name.is_empty() || name.len() > 255 {
            return Err(bad_arg(&ctx, "a security group name is 1-255 characters"));
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
    /// name matches the first of `patterns` that matches anything (EC2's
    /// wildcards: `*` any run of characters, `?` one character), x86_64
    /// with an EBS root — one DescribeImages call. Fails
    /// naming the owner and every pattern tried when nothing matches.
    #[rhai_fn(return_raw)]
    pub fn find_image(
        ctx: NativeCallContext,
        owner: &str,
        patterns: Array,
    ) -> Result<Image, Box<EvalAltResult>> {
        let patterns = strings(&ctx, NS, "patterns", patterns)?;
        if patterns.is_empty() {
            return Err(bad_arg(&ctx, "give at least one image name pattern"));
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
        if !image_id.starts_with("ami-") {
            return Err(bad_arg(
                &ctx,
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
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad_arg(
                &ctx,
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
        let specs = spec::parse_nodes(nodes).map_err(|e| bad_arg(&ctx, e))?;
        let h = host(&ctx)?;
        let concurrency = spec::launch_concurrency(&h.settings);
        let place = spec::parse_placement(&placement, concurrency).map_err(|e| bad_arg(&ctx, e))?;
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
        let mut list = Vec::new();
        for (i, d) in nodes.into_iter().enumerate() {
            match d.try_cast::<Instance>() {
                Some(n) => list.push(n),
                None => {
                    return Err(bad_arg(
                        &ctx,
                        format!(
                            "nodes[{i}] is not an Instance (use what ec2::launch_nodes returned)"
                        ),
                    ));
                }
            }
        }
        if timeout_secs <= 0 {
            return Err(bad_arg(&ctx, "timeout_secs must be positive"));
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
        h.block_on(teardown::terminate_nodes(&h, t))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the key pair `name` in AWS (the local private key file is
    /// kept; `groundup down --purge` removes it). False if it was already gone.
    #[rhai_fn(return_raw)]
    pub fn delete_key_pair(ctx: NativeCallContext, name: &str) -> Result<bool, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_key_pair(&h, name))
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the cluster's security groups (retrying while they are still
    /// in use). Returns the deleted IDs.
    #[rhai_fn(return_raw)]
    pub fn delete_security_groups(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_security_groups(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Disassociates and deletes the cluster's route tables.
    #[rhai_fn(return_raw)]
    pub fn delete_route_tables(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_route_tables(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Detaches and deletes the cluster's internet gateways.
    #[rhai_fn(return_raw)]
    pub fn delete_internet_gateways(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_internet_gateways(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the cluster's subnets.
    #[rhai_fn(return_raw)]
    pub fn delete_subnets(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_subnets(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the cluster's VPC (after everything inside it).
    #[rhai_fn(return_raw)]
    pub fn delete_vpcs(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_vpcs(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the cluster's DHCP options (after the VPC that used them).
    #[rhai_fn(return_raw)]
    pub fn delete_dhcp_options(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_dhcp_options(&h))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Everything of the cluster still in AWS, one `kind id` string each
    /// (empty when the cluster is gone).
    #[rhai_fn(return_raw)]
    pub fn leftovers(ctx: NativeCallContext, name: &str) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::leftovers(&h, name))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }
}
