//! `runbooks/network.rhai` against moto: every property of what it builds,
//! idempotency, and request counting.

use crate::support::{Moto, Project, Sdk};

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// Counts every kind of network resource carrying the cluster's tag.
pub fn count_network(sdk: &Sdk, cluster: &str) -> [usize; 8] {
    let f = || Sdk::cluster(cluster);
    sdk.block(async {
        let vpcs = sdk
            .ec2
            .describe_vpcs()
            .filters(f())
            .send()
            .await
            .unwrap()
            .vpcs()
            .len();
        let dhcp = sdk
            .ec2
            .describe_dhcp_options()
            .filters(f())
            .send()
            .await
            .unwrap()
            .dhcp_options()
            .len();
        let subnets = sdk
            .ec2
            .describe_subnets()
            .filters(f())
            .send()
            .await
            .unwrap()
            .subnets()
            .len();
        let igws = sdk
            .ec2
            .describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len();
        let rts = sdk
            .ec2
            .describe_route_tables()
            .filters(f())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len();
        let sgs = sdk
            .ec2
            .describe_security_groups()
            .filters(f())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len();
        let lbs = sdk
            .elb
            .describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .iter()
            .filter(|l| l.load_balancer_name() == Some(cluster))
            .count();
        let tgs = sdk
            .elb
            .describe_target_groups()
            .send()
            .await
            .unwrap()
            .target_groups()
            .iter()
            .filter(|t| t.target_group_name() == Some(cluster))
            .count();
        [vpcs, dhcp, subnets, igws, rts, sgs, lbs, tgs]
    })
}

#[test]
fn network_builds_every_lesson_resource_and_records_state() {
    let moto = Moto::start();
    let p = Project::new();
    let run = p.run_on(&moto, &["run", "network"]).ok();
    assert!(run.stderr.contains("✓ VPC 172.31.0.0/16"), "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: security group k8s-cluster opens tcp 6443-6443 (Kubernetes API) to the whole internet (0.0.0.0/0); narrow it with --set admin_cidr=<your-ip>/32"),
        "world-open warning: {}",
        run.stderr
    );
    let st = p.state("k8s-cluster");
    let sdk = Sdk::new(&moto);
    let vpc_id = st["vpc_id"].as_str().unwrap().to_string();

    sdk.block(async {
        use aws_sdk_ec2::types::VpcAttributeName;
        // VPC, tags, both DNS attributes
        let vpcs = sdk
            .ec2
            .describe_vpcs()
            .vpc_ids(&vpc_id)
            .send()
            .await
            .unwrap();
        let vpc = &vpcs.vpcs()[0];
        assert_eq!(vpc.cidr_block(), Some("172.31.0.0/16"));
        assert_eq!(tag(vpc.tags(), "Name"), Some("k8s-cluster"));
        assert_eq!(tag(vpc.tags(), "groundup:cluster"), Some("k8s-cluster"));
        for attr in [
            VpcAttributeName::EnableDnsSupport,
            VpcAttributeName::EnableDnsHostnames,
        ] {
            let a = sdk
                .ec2
                .describe_vpc_attribute()
                .vpc_id(&vpc_id)
                .attribute(attr.clone())
                .send()
                .await
                .unwrap();
            let v = a
                .enable_dns_support()
                .or(a.enable_dns_hostnames())
                .and_then(|b| b.value());
            assert_eq!(v, Some(true), "{attr:?}");
        }
        // DHCP options: values and association
        let dopt = st["dhcp_options_id"].as_str().unwrap();
        assert_eq!(vpc.dhcp_options_id(), Some(dopt));
        let d = sdk
            .ec2
            .describe_dhcp_options()
            .dhcp_options_ids(dopt)
            .send()
            .await
            .unwrap();
        let mut conf: Vec<(String, Vec<String>)> = d.dhcp_options()[0]
            .dhcp_configurations()
            .iter()
            .map(|c| {
                (
                    c.key().unwrap().to_string(),
                    c.values()
                        .iter()
                        .map(|v| v.value().unwrap().to_string())
                        .collect(),
                )
            })
            .collect();
        conf.sort();
        assert_eq!(
            conf,
            vec![
                (
                    "domain-name".to_string(),
                    vec!["us-east-2.compute.internal".to_string()]
                ),
                (
                    "domain-name-servers".to_string(),
                    vec!["AmazonProvidedDNS".to_string()]
                ),
            ]
        );
        // Subnet
        let subnet_id = st["subnet_id"].as_str().unwrap();
        let s = sdk
            .ec2
            .describe_subnets()
            .subnet_ids(subnet_id)
            .send()
            .await
            .unwrap();
        assert_eq!(s.subnets()[0].cidr_block(), Some("172.31.0.0/24"));
        assert_eq!(s.subnets()[0].vpc_id(), Some(vpc_id.as_str()));
        // Internet gateway attached
        let igw_id = st["internet_gateway_id"].as_str().unwrap();
        let g = sdk
            .ec2
            .describe_internet_gateways()
            .internet_gateway_ids(igw_id)
            .send()
            .await
            .unwrap();
        let att: Vec<_> = g.internet_gateways()[0]
            .attachments()
            .iter()
            .filter_map(|a| a.vpc_id())
            .collect();
        assert_eq!(att, vec![vpc_id.as_str()]);
        // Route table: subnet association and default route via the gateway
        let rtb = st["route_table_id"].as_str().unwrap();
        let r = sdk
            .ec2
            .describe_route_tables()
            .route_table_ids(rtb)
            .send()
            .await
            .unwrap();
        let rt = &r.route_tables()[0];
        assert!(
            rt.associations()
                .iter()
                .any(|a| a.subnet_id() == Some(subnet_id))
        );
        assert!(
            rt.routes()
                .iter()
                .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
                    && r.gateway_id() == Some(igw_id))
        );
        // Security group: exactly the five lesson rules
        let sg = st["security_group_id"].as_str().unwrap();
        let g = sdk
            .ec2
            .describe_security_groups()
            .group_ids(sg)
            .send()
            .await
            .unwrap();
        let mut rules: Vec<String> = Vec::new();
        for p in g.security_groups()[0].ip_permissions() {
            for r in p.ip_ranges() {
                rules.push(format!(
                    "{} {} {} {}",
                    p.ip_protocol().unwrap(),
                    p.from_port().unwrap_or(-1),
                    p.to_port().unwrap_or(-1),
                    r.cidr_ip().unwrap()
                ));
            }
        }
        rules.sort();
        assert_eq!(
            rules,
            vec![
                "icmp -1 -1 0.0.0.0/0",
                "tcp 22 22 0.0.0.0/0",
                "tcp 2379 2380 172.31.0.0/24",
                "tcp 30000 32767 172.31.0.0/24",
                "tcp 6443 6443 0.0.0.0/0",
            ]
        );
        // Load balancer, target group, targets, listener
        use aws_sdk_elasticloadbalancingv2::types::{
            LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum, TargetTypeEnum,
        };
        let lb_arn = st["load_balancer_arn"].as_str().unwrap();
        let lbs = sdk
            .elb
            .describe_load_balancers()
            .load_balancer_arns(lb_arn)
            .send()
            .await
            .unwrap();
        let lb = &lbs.load_balancers()[0];
        assert_eq!(lb.r#type(), Some(&LoadBalancerTypeEnum::Network));
        assert_eq!(lb.scheme(), Some(&LoadBalancerSchemeEnum::InternetFacing));
        assert_eq!(st["kubernetes_public_address"].as_str(), lb.dns_name());
        assert!(run.stdout.contains(&format!(
            "KUBERNETES_PUBLIC_ADDRESS={}",
            lb.dns_name().unwrap()
        )));
        let tg_arn = st["target_group_arn"].as_str().unwrap();
        let tgs = sdk
            .elb
            .describe_target_groups()
            .target_group_arns(tg_arn)
            .send()
            .await
            .unwrap();
        let tg = &tgs.target_groups()[0];
        assert_eq!(tg.protocol(), Some(&ProtocolEnum::Tcp));
        assert_eq!(tg.port(), Some(6443));
        assert_eq!(tg.target_type(), Some(&TargetTypeEnum::Ip));
        assert_eq!(tg.vpc_id(), Some(vpc_id.as_str()));
        let h = sdk
            .elb
            .describe_target_health()
            .target_group_arn(tg_arn)
            .send()
            .await
            .unwrap();
        let mut targets: Vec<&str> = h
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target().and_then(|t| t.id()))
            .collect();
        targets.sort();
        assert_eq!(targets, vec!["172.31.0.10", "172.31.0.11", "172.31.0.12"]);
        let ls = sdk
            .elb
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .unwrap();
        assert_eq!(ls.listeners().len(), 1);
        let l = &ls.listeners()[0];
        assert_eq!(l.protocol(), Some(&ProtocolEnum::Tcp));
        assert_eq!(l.port(), Some(6443));
        assert_eq!(l.default_actions()[0].target_group_arn(), Some(tg_arn));
        assert_eq!(st["listener_arn"].as_str(), l.listener_arn());
    });
    assert_eq!(count_network(&sdk, "k8s-cluster"), [1; 8]);
}

#[test]
fn second_run_creates_nothing() {
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &["run", "network"]).ok();
    let first = p.state("k8s-cluster");
    // Through a proxy that records every action.
    let proxy = crate::proxy::FaultProxy::start(moto.port, crate::proxy::Faults::default());
    let run = p
        .run(&["--endpoint", &proxy.endpoint, "--json", "run", "network"])
        .ok();
    let j = run.json();
    assert_eq!(j["created"], 0, "{}", run.stdout);
    assert_eq!(j["reused"], 9, "{}", run.stdout);
    assert_eq!(p.state("k8s-cluster"), first, "state unchanged");
    // A re-run only reads: every action is a Describe, and every kind of
    // resource was looked at.
    let actions: std::collections::BTreeSet<String> = proxy.stats.actions().into_iter().collect();
    let writes: Vec<&String> = actions
        .iter()
        .filter(|a| !a.starts_with("Describe"))
        .collect();
    assert!(
        writes.is_empty(),
        "the re-run changed something: {writes:?}"
    );
    for read in [
        "DescribeVpcs",
        "DescribeVpcAttribute",
        "DescribeDhcpOptions",
        "DescribeSubnets",
        "DescribeInternetGateways",
        "DescribeRouteTables",
        "DescribeSecurityGroups",
        "DescribeLoadBalancers",
        "DescribeTargetGroups",
        "DescribeTargetHealth",
        "DescribeListeners",
    ] {
        assert!(actions.contains(read), "{read} missing from {actions:?}");
    }
    let sdk = Sdk::new(&moto);
    assert_eq!(count_network(&sdk, "k8s-cluster"), [1; 8]);
}

#[test]
fn lost_state_is_recovered_from_tags() {
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &["run", "network"]).ok();
    let first = p.state("k8s-cluster");
    std::fs::remove_file(p.state_dir().join("k8s-cluster/state.json")).unwrap();
    p.run_on(&moto, &["run", "network"]).ok();
    assert_eq!(p.state("k8s-cluster"), first);
    assert_eq!(count_network(&Sdk::new(&moto), "k8s-cluster"), [1; 8]);
}

#[test]
fn first_run_makes_few_calls() {
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &["run", "network"]).ok();
    // 17 on moto: 16 creates/modifies (tags folded into creates, rules in one
    // call) + 1 lookup of the VPC + 1 CreateTags that only moto needs.
    assert_eq!(moto.requests(), 18, "{:#?}", moto.request_lines());
}

#[test]
fn bad_set_is_rejected_before_any_aws_request() {
    let moto = Moto::start();
    let p = Project::new();
    let before = moto.requests();
    let run = p
        .run_on(&moto, &["--set", "vpc_cidr=300.1.0.0/16", "run", "network"])
        .expect_code(1);
    assert_eq!(
        run.stderr.trim_end(),
        "groundup::setting\n\n  × setting `vpc_cidr` = `300.1.0.0/16` (--set): `300.1.0.0/16` is not a CIDR block (expected a.b.c.d/n with each part 0-255 and n 0-32)"
    );
    for bad in [
        "subnet_cidr=10.9.0.0/24",
        "workers=-2",
        "masters=0",
        "region=nowhere",
        "wokers=3",
    ] {
        p.run_on(&moto, &["--set", bad, "run", "network"])
            .expect_code(1);
    }
    assert_eq!(moto.requests(), before, "no AWS request for bad settings");
    assert!(!p.state_dir().join("k8s-cluster/state.json").exists());
}

#[test]
fn two_clusters_do_not_touch_each_other() {
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &["--cluster", "alpha", "run", "network"])
        .ok();
    p.run_on(
        &moto,
        &[
            "--cluster",
            "beta",
            "--set",
            "vpc_cidr=10.10.0.0/16",
            "--set",
            "subnet_cidr=10.10.0.0/24",
            "run",
            "network",
        ],
    )
    .ok();
    let sdk = Sdk::new(&moto);
    assert_eq!(count_network(&sdk, "alpha"), [1; 8]);
    assert_eq!(count_network(&sdk, "beta"), [1; 8]);
    assert_ne!(p.state("alpha")["vpc_id"], p.state("beta")["vpc_id"]);
}
