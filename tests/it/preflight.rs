//! The pre-flight corpus: one mistake at a time in a `groundup init` copy of
//! every shipped runbook, stdlib module and the settings file. Each must be
//! reported with its exit code, `file:line:col`, the source line and a hint,
//! before any AWS request (a real moto server counts them), and `groundup
//! check` must report the same without AWS.

use crate::support::{Moto, Project};

/// One mistake.
struct Case {
    /// The file of the `groundup init` copy that is edited.
    file: &'static str,
    /// Edits: (text in the shipped file, its replacement).
    edits: &'static [(&'static str, &'static str)],
    /// The command that must stop before AWS.
    args: &'static [&'static str],
    /// Its exit code.
    code: i32,
    /// Where the error must point: the first occurrence of this text in
    /// the edited file (its line and column); `None` for a mistake with no
    /// place of its own (a missing setting).
    at: Option<&'static str>,
    /// Texts the error must contain: the message and the hint.
    wants: &'static [&'static str],
}

const NETWORK: &str = "runbooks/network.rhai";
const COMPUTE: &str = "runbooks/compute.rhai";
const PKI: &str = "runbooks/pki.rhai";
const TEARDOWN: &str = "runbooks/teardown.rhai";
const NODES: &str = "stdlib/nodes.rhai";
const CLUSTER: &str = "stdlib/cluster.rhai";
const UP: &[&str] = &["up"];

const CASES: &[Case] = &[
    // --- runbooks/network.rhai ---------------------------------------------
    Case {
        file: NETWORK,
        edits: &[("ec2::create_subnet(vpc,", "ec2::create_subnnet(vpc,")],
        args: &["run", "network"],
        code: 2,
        at: Some("ec2::create_subnnet"),
        wants: &[
            "unknown function `ec2::create_subnnet`",
            "did you mean `ec2::create_subnet`?",
        ],
    },
    Case {
        file: NETWORK,
        edits: &[(
            "ec2::create_internet_gateway(vpc)",
            "ec2::create_internet_gateway(vpc, subnet)",
        )],
        args: UP,
        code: 2,
        at: Some("ec2::create_internet_gateway"),
        wants: &[
            "`ec2::create_internet_gateway` takes 1 argument, but is called with 2",
            "its signature: ec2::create_internet_gateway(",
        ],
    },
    Case {
        file: NETWORK,
        edits: &[(
            "elb::create_load_balancer(cluster.name",
            "elbv2::create_load_balancer(cluster.name",
        )],
        args: UP,
        code: 2,
        at: Some("elbv2::"),
        wants: &[
            "unknown namespace `elbv2::` in `elbv2::create_load_balancer`",
            "did you mean `elb::create_load_balancer`?",
        ],
    },
    Case {
        file: NETWORK,
        edits: &[(
            "cidr: cluster.subnet_cidr, description: \"etcd (masters)\"",
            "cidr: cluster.subnet_cdir, description: \"etcd (masters)\"",
        )],
        args: &["run", "network"],
        code: 2,
        at: Some("subnet_cdir"),
        wants: &[
            "unknown setting `subnet_cdir`",
            "did you mean `subnet_cidr`?",
        ],
    },
    Case {
        file: NETWORK,
        edits: &[(
            "elb::create_listener(nlb, tg,",
            "elb::create_listenr(nlb, tg,",
        )],
        args: UP,
        code: 2,
        at: Some("elb::create_listenr"),
        wants: &[
            "unknown function `elb::create_listenr`",
            "did you mean `elb::create_listener`?",
        ],
    },
    Case {
        file: NETWORK,
        edits: &[(
            "state::set(\"kubernetes_public_address\"",
            "state::sett(\"kubernetes_public_address\"",
        )],
        args: UP,
        code: 2,
        at: Some("state::sett"),
        wants: &[
            "unknown function `state::sett`",
            "did you mean `state::set`?",
        ],
    },
    // --- runbooks/compute.rhai ---------------------------------------------
    Case {
        file: COMPUTE,
        edits: &[("ec2::find_image(", "ec2::find_imag(")],
        args: UP,
        code: 2,
        at: Some("ec2::find_imag"),
        wants: &[
            "unknown function `ec2::find_imag`",
            "did you mean `ec2::find_image`?",
        ],
    },
    Case {
        file: COMPUTE,
        edits: &[(
            "instance_type: cluster.instance_type,",
            "instance_type: cluster.instance_typ,",
        )],
        args: UP,
        code: 2,
        at: Some("instance_typ,"),
        wants: &[
            "unknown setting `instance_typ`",
            "did you mean `instance_type`?",
        ],
    },
    Case {
        file: COMPUTE,
        edits: &[("nodes::layout(cluster)", "nodes::layuot(cluster)")],
        args: &["run", "network", "compute"],
        code: 2,
        at: Some("nodes::layuot"),
        wants: &[
            "unknown function `nodes::layuot`: stdlib/nodes.rhai has no public function `layuot`",
            "did you mean `nodes::layout`?",
        ],
    },
    Case {
        file: COMPUTE,
        edits: &[("nodes::table(running)", "nodes::table(running, 3)")],
        args: UP,
        code: 2,
        at: Some("nodes::table"),
        wants: &[
            "`nodes::table` takes 1 argument, but is called with 2",
            "defined in stdlib/nodes.rhai as nodes::table(list)",
        ],
    },
    Case {
        file: COMPUTE,
        edits: &[("import \"nodes\" as nodes;", "import \"node\" as nodes;")],
        args: UP,
        code: 2,
        at: Some("import \"node\""),
        wants: &[
            "module `node` not found: looked in ./stdlib/node.rhai and groundup's built-in stdlib",
            "did you mean `nodes`?",
        ],
    },
    // --- runbooks/pki.rhai ----------------------------------------------------
    Case {
        file: PKI,
        edits: &[("pki::ca(\"ca\"", "pki::caa(\"ca\"")],
        args: UP,
        code: 2,
        at: Some("pki::caa"),
        wants: &["unknown function `pki::caa`", "did you mean `pki::ca`?"],
    },
    Case {
        file: PKI,
        edits: &[(
            "pki::kubeconfig(\"admin\", ca, certs[\"admin\"], public_api)",
            "pki::kubeconfig(\"admin\", ca, certs[\"admin\"])",
        )],
        args: UP,
        code: 2,
        at: Some("pki::kubeconfig(\"admin\""),
        wants: &[
            "`pki::kubeconfig` takes 4 arguments, but is called with 3",
            "its signature: pki::kubeconfig(",
        ],
    },
    Case {
        file: PKI,
        edits: &[(
            "CN=Kubernetes, \" + cluster.key_algorithm",
            "CN=Kubernetes, \" + cluster.key_algoritm",
        )],
        args: UP,
        code: 2,
        at: Some("key_algoritm"),
        wants: &[
            "unknown setting `key_algoritm`",
            "did you mean `key_algorithm`?",
        ],
    },
    Case {
        file: PKI,
        edits: &[(
            "cidr::host(cluster.service_cidr, 1)",
            "cidr::host(cluster.services_cidr, 1)",
        )],
        args: &["run", "pki"],
        code: 2,
        at: Some("services_cidr"),
        wants: &[
            "unknown setting `services_cidr`",
            "did you mean `service_cidr`?",
        ],
    },
    Case {
        file: PKI,
        edits: &[("pki::public_address()", "pkg::public_address()")],
        args: UP,
        code: 2,
        at: Some("pkg::public_address"),
        wants: &[
            "unknown namespace `pkg::` in `pkg::public_address`",
            "did you mean `pki::public_address`?",
        ],
    },
    // --- runbooks/teardown.rhai ----------------------------------------------
    Case {
        file: TEARDOWN,
        edits: &[("ec2::delete_subnets()", "ec2::delete_subnet()")],
        args: &["down", "--yes"],
        code: 2,
        at: Some("ec2::delete_subnet()"),
        wants: &[
            "unknown function `ec2::delete_subnet`",
            "did you mean `ec2::delete_subnets`?",
        ],
    },
    Case {
        file: TEARDOWN,
        edits: &[(
            "elb::delete_load_balancer(cluster.name, cluster.delete_timeout_secs)",
            "elb::delete_load_balancer(cluster.name, cluster.delete_timeout)",
        )],
        args: &["down", "--yes"],
        code: 2,
        at: Some("delete_timeout)"),
        wants: &[
            "unknown setting `delete_timeout`",
            "did you mean `delete_timeout_secs`?",
        ],
    },
    Case {
        file: TEARDOWN,
        edits: &[(
            "ec2::terminate_nodes(cluster.delete_timeout_secs)",
            "ec2::terminate_nodes()",
        )],
        args: &["down", "--yes"],
        code: 2,
        at: Some("ec2::terminate_nodes"),
        wants: &[
            "`ec2::terminate_nodes` takes 1 argument, but is called with 0",
            "its signature: ec2::terminate_nodes(",
        ],
    },
    Case {
        file: TEARDOWN,
        edits: &[("step(\"Delete the VPC\"", "stpe(\"Delete the VPC\"")],
        args: &["down", "--yes"],
        code: 2,
        at: Some("stpe("),
        wants: &["unknown function `stpe`", "did you mean `step`?"],
    },
    // --- stdlib/nodes.rhai -----------------------------------------------------
    Case {
        file: NODES,
        edits: &[(
            "cidr::host(c.subnet_cidr, 10 + i)",
            "cidr::hots(c.subnet_cidr, 10 + i)",
        )],
        args: UP,
        code: 2,
        at: Some("cidr::hots"),
        wants: &[
            "unknown function `cidr::hots`",
            "did you mean `cidr::host`?",
        ],
    },
    Case {
        file: NODES,
        edits: &[(
            "c.pod_cidr_prefix - cidr::prefix",
            "c.pod_prefix - cidr::prefix",
        )],
        // compute.rhai alone: network.rhai passes `cluster` to the layout
        // too (its target group), and would be the one named.
        args: &["run", "compute"],
        code: 2,
        at: Some("pod_prefix"),
        wants: &[
            "unknown setting `pod_prefix`",
            "`c` in `layout` is the settings map (`cluster`, passed at runbooks/compute.rhai:",
            "did you mean `pod_cidr_prefix`?",
        ],
    },
    Case {
        file: NODES,
        edits: &[(
            "ec2::internal_domain(c.region)",
            "ec2::internal_domain(c.regoin)",
        )],
        args: &["run", "pki"],
        code: 2,
        at: Some("regoin"),
        wants: &[
            "unknown setting `regoin`",
            "`c` in `planned` is the settings map (`cluster`, passed at runbooks/pki.rhai:",
            "did you mean `region`?",
        ],
    },
    Case {
        file: NODES,
        edits: &[
            (
                "/// The nodes of the cluster described",
                "import \"cluster\" as settings;\n\n/// The nodes of the cluster described",
            ),
            (
                "    let nodes = [];\n    for i in 0..c.masters {",
                "    let nodes = [];\n    let most = settings::workres;\n    for i in 0..c.masters {",
            ),
        ],
        args: UP,
        code: 2,
        at: Some("workres"),
        wants: &["unknown setting `workres`", "did you mean `workers`?"],
    },
    Case {
        file: NODES,
        edits: &[(
            "let s = `${text}`;",
            "let s = `${text}`;\n    s = nodes::cell(s, 1);",
        )],
        args: UP,
        code: 2,
        at: Some("nodes::cell"),
        wants: &[
            "unknown namespace `nodes::` in `nodes::cell`",
            "a stdlib module must be imported first",
        ],
    },
    // --- stdlib/cluster.rhai (the settings file) -----------------------------
    Case {
        file: CLUSTER,
        edits: &[("export const workers = 3;", "export const wrokers = 3;")],
        args: UP,
        code: 1,
        at: Some("wrokers"),
        wants: &[
            "unknown setting `wrokers`",
            "did you mean `workers`?",
            "setting `workers` is missing from stdlib/cluster.rhai",
        ],
    },
    Case {
        file: CLUSTER,
        edits: &[(
            "export const masters = 3;",
            "export const masters = \"three\";",
        )],
        args: UP,
        code: 1,
        at: Some("\"three\""),
        wants: &[
            "`masters` must be an integer, got the string \"three\"",
            "the built-in default is `3`",
        ],
    },
    Case {
        file: CLUSTER,
        edits: &[(
            "export const api_port = 6443;",
            "export const api_port = \"6443\";",
        )],
        args: &["run", "network"],
        code: 1,
        at: Some("\"6443\""),
        wants: &["`api_port` must be an integer, got the string \"6443\""],
    },
    Case {
        file: CLUSTER,
        edits: &[(
            "export const steps = [\"network\", \"compute\", \"pki\"",
            "export const steps = [\"network\", \"compute\", 3",
        )],
        args: UP,
        code: 1,
        at: Some("[\"network\", \"compute\", 3,"),
        wants: &["`steps` must be a list of strings, but item 3 is the integer 3"],
    },
    Case {
        file: CLUSTER,
        edits: &[("export const instance_type = \"t2.micro\";", "")],
        args: &["down", "--yes"],
        code: 1,
        at: None,
        wants: &[
            "setting `instance_type` is missing from stdlib/cluster.rhai",
            "add it back, e.g. `export const instance_type = \"t2.micro\";` (the built-in default)",
        ],
    },
    Case {
        file: CLUSTER,
        edits: &[(
            "export const image_id = \"\";",
            "export const image_id = \"\";\nexport const bastion_ami = \"ami-0abc1234\";",
        )],
        args: UP,
        code: 1,
        at: Some("bastion_ami"),
        wants: &[
            "unknown setting `bastion_ami`",
            "a setting of your own must start with `my_` (e.g. `export const my_bastion_ami = …;`)",
        ],
    },
];

/// A `groundup init` copy with one case's edits made.
fn project(case: &Case) -> (Project, String) {
    let p = Project::new();
    p.run(&["init"]).ok();
    let path = p.path().join(case.file);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in case.edits {
        assert!(
            text.contains(from),
            "{}: `{from}` is not in the shipped file any more: update the corpus",
            case.file
        );
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&path, &text).unwrap();
    (p, text)
}

/// `file:line:col` of the first occurrence of `marker` in `text`, and that
/// line.
fn place(file: &str, text: &str, marker: &str) -> (String, String) {
    for (i, line) in text.lines().enumerate() {
        if let Some(b) = line.find(marker) {
            let col = line[..b].chars().count() + 1;
            return (
                format!("{file}:{}:{col}", i + 1),
                format!("{} │ {line}", i + 1),
            );
        }
    }
    panic!("{file}: marker `{marker}` not found");
}

fn assert_reported(case: &Case, text: &str, what: &str, run: &crate::support::Run) {
    assert_eq!(
        run.code, case.code,
        "{} {what}: exit {}\n{}{}",
        case.file, run.code, run.stdout, run.stderr
    );
    let flat = run.err_flat();
    assert!(
        run.stderr.starts_with("groundup::"),
        "{} {what}: not a diagnostic:\n{}",
        case.file,
        run.stderr
    );
    if let Some(marker) = case.at {
        let (at, line) = place(case.file, text, marker);
        assert!(
            run.stderr.contains(&format!("[{at}]")),
            "{} {what}: expected the location [{at}] in:\n{}",
            case.file,
            run.stderr
        );
        assert!(
            run.stderr.contains(&line),
            "{} {what}: expected the source line `{line}` in:\n{}",
            case.file,
            run.stderr
        );
    }
    for w in case.wants {
        assert!(
            flat.contains(w),
            "{} {what}: expected `{w}` in:\n{}",
            case.file,
            run.stderr
        );
    }
    assert!(
        flat.contains("found before any AWS call"),
        "{} {what}: {}",
        case.file,
        run.stderr
    );
}

#[test]
fn every_mistake_is_reported_with_its_place_and_a_hint_before_any_aws_request() {
    let moto = Moto::start();
    assert!(CASES.len() >= 20);
    for file in [NETWORK, COMPUTE, PKI, TEARDOWN, NODES, CLUSTER] {
        assert!(
            CASES.iter().filter(|c| c.file == file).count() >= 3,
            "{file} needs at least three cases"
        );
    }
    for case in CASES {
        let (p, text) = project(case);
        let run = p.run_on(&moto, case.args);
        assert_reported(case, &text, &format!("{:?}", case.args), &run);
        // The same from `groundup check`, with no AWS at all.
        let run = p.run(&["check"]);
        assert_reported(case, &text, "check", &run);
        assert_eq!(
            moto.requests(),
            0,
            "{} {:?} made AWS requests:\n{}",
            case.file,
            case.args,
            moto.request_lines().join("\n")
        );
    }
    // The count above can fail: an unedited copy does reach moto.
    let p = Project::new();
    p.run(&["init"]).ok();
    p.run_on(&moto, &["run", "network"]).ok();
    assert!(moto.requests() > 0, "moto's request log counts requests");
}

#[test]
fn the_shipped_files_and_settings_of_your_own_pass_the_preflight() {
    let p = Project::new();
    p.run(&["init"]).ok();
    let run = p.run(&["check"]).ok();
    for f in [NETWORK, COMPUTE, PKI, TEARDOWN, NODES, CLUSTER] {
        assert!(run.stdout.contains(&format!("ok  {f}")), "{}", run.stdout);
    }
    // A setting of your own, declared with the `my_` prefix, is accepted,
    // can be read by a runbook and overridden with --set.
    let cluster = p.path().join(CLUSTER);
    let mut text = std::fs::read_to_string(&cluster).unwrap();
    text.push_str(
        "\n// My bastion host's instance type.\nexport const my_bastion_type = \"t3.nano\";\n",
    );
    std::fs::write(&cluster, text).unwrap();
    std::fs::write(
        p.path().join("runbooks/bastion.rhai"),
        "print(\"bastion: \" + cluster.my_bastion_type);\n",
    )
    .unwrap();
    p.run(&["check"]).ok();
    let run = p
        .run(&[
            "--plan",
            "--set",
            "my_bastion_type=t3.micro",
            "run",
            "bastion",
        ])
        .ok();
    assert!(run.stdout.contains("bastion: t3.micro"), "{}", run.stdout);
    // A script that makes its own `cluster` reads its own keys.
    std::fs::write(
        p.path().join("runbooks/own.rhai"),
        "let cluster = #{ size: 1 };\nprint(cluster.size);\n",
    )
    .unwrap();
    p.run(&["check"]).ok();
    std::fs::remove_file(p.path().join("runbooks/own.rhai")).unwrap();
    // Reading one that is not declared is caught.
    std::fs::write(
        p.path().join("runbooks/bastion.rhai"),
        "print(\"bastion: \" + cluster.my_bastion_typ);\n",
    )
    .unwrap();
    let run = p.run(&["check"]).expect_code(2);
    assert!(
        run.err_flat().contains("unknown setting `my_bastion_typ`")
            && run.err_flat().contains("did you mean `my_bastion_type`?"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("[runbooks/bastion.rhai:1:29]"),
        "{}",
        run.stderr
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let p = Project::new();
    p.run(&["init"]).ok();
    let net = p.path().join(NETWORK);
    let text = std::fs::read_to_string(&net)
        .unwrap()
        .replacen("ec2::create_vpc(", "ec2::create_vcp(", 1)
        .replacen("cluster.dhcp_domain_name)", "cluster.dhcp_domain)", 1);
    std::fs::write(&net, &text).unwrap();
    let run = p.run(&["run", "network"]).expect_code(2);
    let flat = run.err_flat();
    let (first, _) = place(NETWORK, &text, "ec2::create_vcp");
    let (second, _) = place(NETWORK, &text, "dhcp_domain)");
    assert!(run.stderr.contains(&format!("[{first}]")), "{}", run.stderr);
    assert!(
        flat.contains(&format!("also at {second}: unknown setting `dhcp_domain`")),
        "{}",
        run.stderr
    );
    assert!(flat.contains("2 problems"), "{}", run.stderr);
}
