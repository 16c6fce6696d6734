//! Command-line behaviour that needs no emulator: plan mode, errors, the
//! test guard, help.

use crate::support::Project;

#[test]
fn the_guard_refuses_to_reach_aws_without_a_loopback_endpoint() {
    let p = Project::new();
    let run = p.run(&["run", "network"]).expect_code(1);
    assert!(
        run.err_flat().contains("refusing to reach AWS: GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT is set and no --endpoint / AWS_ENDPOINT_URL is given"),
        "{}",
        run.stderr
    );
    let run = p
        .run(&[
            "--endpoint",
            "https://ec2.us-east-2.amazonaws.com",
            "run",
            "network",
        ])
        .expect_code(1);
    assert!(
        run.err_flat()
            .contains("refusing to reach https://ec2.us-east-2.amazonaws.com"),
        "{}",
        run.stderr
    );
}

#[test]
fn plan_needs_no_aws_and_writes_nothing() {
    let p = Project::new();
    let run = p.run(&["--plan", "run", "network"]).ok();
    assert!(
        run.stdout
            .contains("Plan: 16 AWS operation(s) would be made"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("CreateVpc -> vpc-planned001 {\"CidrBlock\":\"172.31.0.0/16\",\"Tags\":{\"Name\":\"k8s-cluster\",\"groundup:cluster\":\"k8s-cluster\"}}"), "{}", run.stdout);
    assert!(!p.state_dir().exists(), "plan wrote under the state dir");
    let run = p.run(&["--plan", "--json", "run", "network"]).ok();
    let ops = run.json()["plan"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 16);
    assert_eq!(ops[0]["operation"], "CreateVpc");
    assert_eq!(ops[15]["operation"], "CreateListener");
    // `down` plans offline too (nothing recorded: nothing to delete).
    let run = p.run(&["--plan", "down"]).ok();
    assert!(
        run.stdout
            .contains("Plan: 0 AWS operation(s) would be made"),
        "{}",
        run.stdout
    );
    assert!(!p.state_dir().exists());
}

#[test]
fn script_errors_show_file_line_col_and_the_source_line() {
    let p = Project::new();
    std::fs::write(
        p.path().join("bad.rhai"),
        "let a = 1;\nlet b = cidr::host(\"172.31.0.0/24\", 300);\n",
    )
    .unwrap();
    let run = p.run(&["--plan", "run", "bad.rhai"]).expect_code(2);
    assert_eq!(
        run.stderr.trim_end(),
        "groundup::script\n\n  × cidr::host: host number 300 is outside 172.31.0.0/24, which has 256 addresses (0..255 or -256..-1)\n   ╭─[bad.rhai:2:15]\n 1 │ let a = 1;\n 2 │ let b = cidr::host(\"172.31.0.0/24\", 300);\n   ·               ┬\n   ·               ╰── here\n   ╰────"
    );
    std::fs::write(p.path().join("syntax.rhai"), "let x = ;\n").unwrap();
    let run = p.run(&["--plan", "run", "syntax.rhai"]).expect_code(2);
    assert!(run.stderr.contains("[syntax.rhai:1:9]"), "{}", run.stderr);
    assert!(run.stderr.contains("1 │ let x = ;"), "{}", run.stderr);
    std::fs::write(
        p.path().join("typo.rhai"),
        "ec2::create_vcp(\"10.0.0.0/16\");\n",
    )
    .unwrap();
    let run = p.run(&["--plan", "run", "typo.rhai"]).expect_code(2);
    assert!(
        run.stderr.contains("did you mean `ec2::create_vpc`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_runbook_is_a_usage_error() {
    let p = Project::new();
    let run = p.run(&["run", "nope.rhai"]).expect_code(1);
    assert!(
        run.stderr.contains("cannot read runbook nope.rhai"),
        "{}",
        run.stderr
    );
    let run = p.run(&["run", "nope"]).expect_code(1);
    assert!(
        run.stderr.contains("no runbook named `nope`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("shipped runbooks: "), "{}", run.stderr);
}

#[test]
fn help_has_examples() {
    let p = Project::new();
    for sub in [
        "run",
        "up",
        "down",
        "status",
        "repl",
        "fns",
        "settings",
        "check",
        "init",
        "runbooks",
        "doctor",
        "completions",
        "man",
    ] {
        let run = p.run(&[sub, "--help"]).ok();
        assert!(
            run.stdout.contains("Examples:"),
            "{sub} --help has no example:\n{}",
            run.stdout
        );
    }
}

#[test]
fn region_comes_from_the_aws_config_file_unless_given() {
    let mut p = Project::new();
    let config = p.path().join("aws-config");
    std::fs::write(&config, "[default]\nregion = eu-west-1\n").unwrap();
    p.env
        .push(("AWS_CONFIG_FILE".into(), config.display().to_string()));
    let run = p.run(&["--json", "settings"]).ok();
    let region = run.json()["region"].clone();
    assert_eq!(region["value"], "eu-west-1", "{}", run.stdout);
    let run = p.run(&["--region", "us-west-2", "--json", "settings"]).ok();
    assert_eq!(run.json()["region"]["value"], "us-west-2");
    // No config file: the settings' own default.
    p.env.clear();
    let run = p.run(&["--json", "settings"]).ok();
    assert_eq!(run.json()["region"]["value"], "us-east-2");
}
