//! The bad-input corpus: every case with its expected error text and exit
//! code; every case caught before AWS makes no request at all.

use crate::support::{Moto, Project};

/// (arguments, expected exit code, texts the flattened stderr must contain)
type Case = (&'static [&'static str], i32, &'static [&'static str]);

/// Cases caught before any AWS request (settings, usage, scripts).
const PRE_VALIDATED: &[Case] = &[
    (
        &["--set", "vpc_cidr=300.1.0.0/16", "run", "network"],
        1,
        &[
            "setting `vpc_cidr` = `300.1.0.0/16` (--set): `300.1.0.0/16` is not a CIDR block (expected a.b.c.d/n with each part 0-255 and n 0-32)",
        ],
    ),
    (
        &["--set", "vpc_cidr=172.31.0.1/16", "run", "network"],
        1,
        &["`172.31.0.1/16` has host bits set: did you mean `172.31.0.0/16`?"],
    ),
    (
        &["--set", "vpc_cidr=fd00::/8", "run", "network"],
        1,
        &["`fd00::/8` is IPv6: groundup's networks are IPv4 only"],
    ),
    (
        &["--set", "vpc_cidr=10.0.0.0/8", "run", "network"],
        1,
        &["setting `vpc_cidr` = `10.0.0.0/8` (--set): AWS VPCs are between /16 and /28"],
    ),
    (
        &["--set", "subnet_cidr=10.0.0.0/24", "run", "network"],
        1,
        &[
            "setting `subnet_cidr` = `10.0.0.0/24` (--set): the subnet is not inside vpc_cidr 172.31.0.0/16",
        ],
    ),
    (
        &["--set", "pod_cidr=172.31.128.0/17", "run", "network"],
        1,
        &["setting `pod_cidr` = `172.31.128.0/17` (--set): overlaps vpc_cidr 172.31.0.0/16"],
    ),
    (
        &["--set", "service_cidr=172.20.5.0/24", "run", "network"],
        1,
        &["setting `service_cidr` = `172.20.5.0/24` (--set): overlaps pod_cidr 172.20.0.0/16"],
    ),
    (
        &["--set", "cluster_dns=10.32.0.10", "run", "network"],
        1,
        &[
            "setting `cluster_dns` = `10.32.0.10` (--set): the cluster DNS address must be inside service_cidr 172.32.0.0/24 (the lesson's 10.32.0.10 is not)",
        ],
    ),
    (
        &["--set", "masters=-1", "run", "network"],
        1,
        &["setting `masters` = `-1` (--set): a count cannot be negative"],
    ),
    (
        &["--set", "workers=abc", "run", "network"],
        1,
        &["setting `workers` = `abc` (--set): expected an integer"],
    ),
    (
        &["--set", "workers=300", "run", "network"],
        1,
        &[
            "setting `workers` = `300` (--set): workers use host addresses from 20 up; subnet 172.31.0.0/24 has room for 235 workers",
        ],
    ),
    (
        &["--set", "masters=11", "run", "network"],
        1,
        &[
            "setting `masters` = `11` (--set): masters use host addresses .10-.19 of the subnet: at most 10",
        ],
    ),
    (
        &["--set", "wokers=3", "run", "network"],
        1,
        &["unknown setting `wokers`", "did you mean `workers`?"],
    ),
    (
        &["--set", "region=mars-1", "run", "network"],
        1,
        &["setting `region` = `mars-1` (--set): not an AWS region name"],
    ),
    (
        &["--region", "us-east", "run", "network"],
        1,
        &["setting `region` = `us-east` (--region): not an AWS region name"],
    ),
    (
        &["--cluster", "my_cluster", "run", "network"],
        1,
        &[
            "setting `name` = `my_cluster` (--cluster): a cluster name is 1-32 letters, digits and hyphens",
        ],
    ),
    (
        &["--set", "instance_type=big", "run", "network"],
        1,
        &["setting `instance_type` = `big` (--set): instance types look like t2.micro or m5.large"],
    ),
    (
        &["--set", "key_algorithm=dsa", "run", "network"],
        1,
        &[
            "setting `key_algorithm` = `dsa` (--set): expected one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256",
        ],
    ),
    (
        &["--set", "workers", "run", "network"],
        1,
        &["--set `workers`: expected KEY=VALUE"],
    ),
    (
        &["--set", "api_port=70000", "run", "network"],
        1,
        &["setting `api_port` = `70000` (--set): a port is 1-65535"],
    ),
    (
        &["--set", "admin_cidr=1.2.3.4", "run", "network"],
        1,
        &["`1.2.3.4` is an address, not a CIDR block: add a prefix length, e.g. `1.2.3.4/32`"],
    ),
    (
        &["--set", "launch_concurrency=0", "run", "network"],
        1,
        &["setting `launch_concurrency` = `0` (--set): must be between 1 and 64"],
    ),
    (
        &["--set", "image_id=not-an-ami", "run", "network"],
        1,
        &["an AMI id looks like ami-0abc1234"],
    ),
    (
        &["--set", "aws_retry_mode=fast", "run", "network"],
        1,
        &["setting `aws_retry_mode` = `fast` (--set): expected standard or adaptive"],
    ),
    (
        &["--set", "masters=true", "run", "network"],
        1,
        &["setting `masters` = `true` (--set): expected an integer"],
    ),
    (
        &["run", "missing.rhai"],
        1,
        &["cannot read runbook missing.rhai"],
    ),
    (
        &["run", "nope"],
        1,
        &["no runbook named `nope`", "shipped runbooks: "],
    ),
    (
        &["run", "syntax.rhai"],
        2,
        &["Syntax error", "[syntax.rhai:2:9]", "2 │ let x = ;"],
    ),
    (
        &["run", "typo.rhai"],
        2,
        &[
            "unknown function `ec2::create_vcp`",
            "did you mean `ec2::create_vpc`?",
            "[typo.rhai:1:",
        ],
    ),
    (
        &["run", "types.rhai"],
        2,
        &[
            "unknown function or wrong argument types: ec2::create_vpc (i64)",
            "`ec2::create_vpc` exists but takes other arguments",
        ],
    ),
    (
        &["run", "types2.rhai"],
        2,
        &[
            "unknown function or wrong argument types: cidr::host (&str | ImmutableString | String, &str | ImmutableString | String)",
        ],
    ),
    (
        &["run", "netnum.rhai"],
        2,
        &[
            "cidr::subnet: netnum 256 does not fit in 8 bits: 172.31.0.0/16 splits into 256 subnets of /24 (0..255)",
            "[netnum.rhai:1:",
        ],
    ),
    (
        &["run", "rules.rhai"],
        2,
        &[
            "unknown function or wrong argument types: ec2::create_security_group ((), ",
            "`ec2::create_security_group` exists but takes other arguments",
            "[rules.rhai:2:6]",
        ],
    ),
    (
        &["run", "throw.rhai"],
        2,
        &["boom: this runbook refuses", "[throw.rhai:1:1]"],
    ),
    (
        &["run", "undefined.rhai"],
        2,
        &["Undefined variable: nope", "[undefined.rhai:1:7]"],
    ),
    (
        &["run", "nomodule.rhai"],
        2,
        &[
            "module `nothere` not found: looked in ./stdlib/nothere.rhai and groundup's built-in stdlib",
        ],
    ),
    (
        &["run", "badnode.rhai"],
        2,
        &["ec2::launch_nodes: nodes[0].private_ip: `300.1.1.1` is not an IPv4 address"],
    ),
];

fn write_scripts(p: &Project) {
    let files = [
        ("syntax.rhai", "let a = 1;\nlet x = ;\n"),
        ("typo.rhai", "ec2::create_vcp(\"10.0.0.0/16\");\n"),
        ("types.rhai", "ec2::create_vpc(42);\n"),
        ("types2.rhai", "cidr::host(\"172.31.0.0/24\", \"ten\");\n"),
        ("netnum.rhai", "cidr::subnet(\"172.31.0.0/16\", 8, 256);\n"),
        (
            "rules.rhai",
            "let v = state::get(\"nothing\");\nec2::create_security_group(v, \"sg\", \"d\", [#{ prot: \"tcp\" }]);\n",
        ),
        ("throw.rhai", "throw \"boom: this runbook refuses\";\n"),
        ("undefined.rhai", "print(nope);\n"),
        ("nomodule.rhai", "import \"nothere\" as x;\n"),
        (
            "badnode.rhai",
            "ec2::launch_nodes([#{ name: \"n\", role: \"master\", private_ip: \"300.1.1.1\" }], #{});\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(p.path().join(name), text).unwrap();
    }
}

#[test]
fn pre_validated_bad_input_is_rejected_clearly_without_any_aws_request() {
    let moto = Moto::start();
    let p = Project::new();
    write_scripts(&p);
    assert!(PRE_VALIDATED.len() >= 30);
    for (args, code, wants) in PRE_VALIDATED {
        let run = p.run_on(&moto, args);
        assert_eq!(
            run.code, *code,
            "{args:?}: exit {}\n{}",
            run.code, run.stderr
        );
        let flat = run.err_flat();
        for w in *wants {
            assert!(
                flat.contains(w),
                "{args:?}: expected `{w}` in:\n{}",
                run.stderr
            );
        }
        assert!(
            run.stderr.starts_with("groundup::"),
            "{args:?}: rendered as a diagnostic:\n{}",
            run.stderr
        );
    }
    assert_eq!(
        moto.requests(),
        0,
        "no AWS request for any pre-validated case"
    );
}

#[test]
fn a_broken_stdlib_module_stops_every_run_before_aws() {
    let moto = Moto::start();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("stdlib")).unwrap();
    std::fs::write(p.path().join("stdlib/broken.rhai"), "fn f( { }\n").unwrap();
    let run = p.run_on(&moto, &["run", "network"]).expect_code(2);
    assert!(
        run.stderr
            .contains("Syntax error: Expecting ')' to close the parameters list of function 'f'"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("[stdlib/broken.rhai:1:7]"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(" 1 │ fn f( { }"), "{}", run.stderr);
    assert_eq!(moto.requests(), 0);
}

#[test]
fn the_rules_case_fails_before_aws_even_with_a_vpc_argument() {
    // ec2::create_security_group checks its rules before touching AWS.
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &["run", "network"]).ok();
    let before = moto.requests();
    std::fs::write(
        p.path().join("r.rhai"),
        "let vpc = ec2::create_vpc(cluster.vpc_cidr);\nec2::create_security_group(vpc, \"x\", \"d\", [#{ protocol: \"tcp\", port: 22, cidr: \"0.0.0.0/33\" }]);\n",
    )
    .unwrap();
    let run = p.run_on(&moto, &["run", "r.rhai"]).expect_code(2);
    assert!(
        run.err_flat().contains(
            "ec2::create_security_group: rules[0].cidr: `0.0.0.0/33` is not a CIDR block"
        ),
        "{}",
        run.stderr
    );
    // only the VPC lookup (3 reads) happened; no security-group call
    assert_eq!(moto.requests() - before, 3);
}

#[test]
fn corrupt_and_unreadable_state_is_never_overwritten() {
    let moto = Moto::start();
    let p = Project::new();
    let dir = p.state_dir().join("k8s-cluster");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("state.json"), "{\"vpc_id\": \"vpc-1\",").unwrap();
    let run = p.run_on(&moto, &["run", "network"]).expect_code(2);
    let flat = run.err_flat();
    assert!(
        flat.contains("state file") && flat.contains("is not valid: EOF while parsing"),
        "{}",
        run.stderr
    );
    assert!(
        flat.contains("groundup has left it untouched"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("state.json")).unwrap(),
        "{\"vpc_id\": \"vpc-1\","
    );
    std::fs::write(dir.join("state.json"), "[1, 2]").unwrap();
    let run = p.run_on(&moto, &["run", "network"]).expect_code(2);
    assert!(
        run.err_flat()
            .contains("is not valid: the top level is not a JSON object"),
        "{}",
        run.stderr
    );
    assert_eq!(moto.requests(), 0);
}

#[test]
fn missing_credentials_fail_fast_with_a_clear_message() {
    // Fast means: not one connection to the endpoint is even attempted.
    let server = crate::support::CountingServer::start(true);
    let p = Project::new();
    let out = p
        .cmd(&["--endpoint", &server.endpoint, "run", "network"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let run = crate::support::collect(out).expect_code(2);
    let flat = run.err_flat();
    assert!(flat.contains("no AWS credentials found"), "{}", run.stderr);
    assert!(flat.contains("set AWS_PROFILE"), "{}", run.stderr);
    assert_eq!(server.connections(), 0, "a connection was attempted");
}

#[test]
fn an_unreachable_endpoint_fails_in_bounded_time() {
    // Bounded means: the one call is tried aws_max_attempts times, no more
    // (an endpoint that closes every connection before answering).
    let server = crate::support::CountingServer::start(true);
    let p = Project::new();
    let run = p
        .run(&[
            "--endpoint",
            &server.endpoint,
            "--set",
            "aws_max_attempts=3",
            "run",
            "network",
        ])
        .expect_code(2);
    assert_eq!(server.connections(), 3, "{}", run.stderr);
    let flat = run.err_flat();
    assert!(
        flat.contains("ec2::create_vpc: DescribeVpcs: Unreachable:"),
        "{}",
        run.stderr
    );
    assert!(
        flat.contains("check --endpoint / AWS_ENDPOINT_URL"),
        "{}",
        run.stderr
    );
}

#[test]
fn aws_rejections_name_the_operation_code_and_message() {
    let moto = Moto::start_with(&[
        ("MOTO_ENABLE_AMI_VALIDATION", "true"),
        ("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true"),
    ]);
    let p = Project::new();
    p.run_on(&moto, &["run", "network"]).ok();
    // An instance type AWS rejects (well-formed, so it passes the setting check).
    let run = p
        .run_on(
            &moto,
            &[
                "--set",
                "instance_type=t2.gigantic",
                "--set",
                "masters=1",
                "--set",
                "workers=0",
                "run",
                "compute",
            ],
        )
        .expect_code(2);
    let flat = run.err_flat();
    assert!(
        flat.contains("RunInstances: InvalidInstanceType"),
        "{}",
        run.stderr
    );
    assert!(flat.contains("t2.gigantic"), "{}", run.stderr);
    assert!(
        flat.contains("[<builtin>/runbooks/compute.rhai:"),
        "{}",
        run.stderr
    );
    // An AMI that does not exist.
    let run = p
        .run_on(
            &moto,
            &["--set", "image_id=ami-00000000deadbeef", "run", "compute"],
        )
        .expect_code(2);
    assert!(
        run.err_flat()
            .contains("ec2::get_image: DescribeImages: InvalidAMIID.NotFound"),
        "{}",
        run.stderr
    );
}
