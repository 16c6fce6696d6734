//! `groundup doctor` in its three cases: all good (moto), no credentials,
//! unreachable endpoint; plus a silent endpoint (bounded time), quotas and
//! settings. No secret may appear in any output.

use std::net::TcpListener;

use crate::support::{Moto, Project, Run, free_port};

const SECRET: &str = "doctor-secret-Zq9xW4";

fn no_secret(run: &Run) {
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "the secret key was printed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

fn with_secret() -> Project {
    let mut p = Project::new();
    p.env
        .push(("AWS_ACCESS_KEY_ID".into(), "AKIADOCTORTEST7".into()));
    p.env.push(("AWS_SECRET_ACCESS_KEY".into(), SECRET.into()));
    p
}

#[test]
fn all_good_on_moto() {
    let moto = Moto::start();
    let p = with_secret();
    let run = p.run_on(&moto, &["doctor"]).ok();
    let lines = [
        "✓ settings     cluster k8s-cluster in us-east-2 (region from stdlib/cluster.rhai); 3 masters + 3 workers of t2.micro".to_string(),
        "! admin access admin_cidr is 0.0.0.0/0".to_string(),
        format!(
            "✓ runbooks     {} runbooks and {} stdlib modules compile (all built-in)",
            groundup::embedded::RUNBOOKS.len(),
            groundup::embedded::STDLIB.len()
        ),
        "✓ state dir    .groundup does not exist yet; . is writable, so the first run can create it".to_string(),
        "✓ credentials  from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); access key …EST7".to_string(),
        format!("✓ endpoint     {} accepts connections", moto.endpoint),
        "✓ region       us-east-2 is available to this account (EC2 DescribeRegions)".to_string(),
        "✓ identity     AWS account 123456789012 (owner of the default security group)".to_string(),
        "✓ quotas       max-instances 20 (the cluster needs 6)".to_string(),
        "All 9 checks passed (1 warning(s)).".to_string(),
    ];
    for l in &lines {
        assert!(
            run.stdout.contains(l.as_str()),
            "no `{l}` in:\n{}",
            run.stdout
        );
    }
    assert!(!p.state_dir().exists(), "doctor created the state dir");
    no_secret(&run);

    let run = p.run_on(&moto, &["--json", "--verbose", "doctor"]).ok();
    no_secret(&run);
    let v = run.json();
    assert_eq!(v["ok"], true);
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "settings",
            "admin access",
            "runbooks",
            "state dir",
            "credentials",
            "endpoint",
            "region",
            "identity",
            "quotas"
        ]
    );

    // A limit the cluster would exceed is a failure with a fix.
    let run = p
        .run_on(&moto, &["--set", "workers=30", "doctor"])
        .expect_code(2);
    assert!(
        run.stdout
            .contains("✗ quotas       max-instances is 20 but the cluster needs 33 instances"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("fix: lower masters/workers"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("doctor: quotas failed"),
        "{}",
        run.stderr
    );
    no_secret(&run);
}

#[test]
fn no_credentials() {
    // Something that accepts connections, so only the credentials fail.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let p = Project::new();
    let mut cmd = p.cmd(&["--endpoint", &endpoint, "doctor"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let run = crate::support::collect(cmd.output().unwrap()).expect_code(2);
    for l in [
        "✗ credentials  no AWS credentials found: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
        "fix: use a profile: `aws configure --profile NAME`, then `export AWS_PROFILE=NAME`",
        "fix: or export AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…",
        "fix: no AWS account? `groundup --local doctor` (and `--local up`) use a local emulator",
        "✓ endpoint",
        "- region       skipped: needs credentials",
        "- identity     skipped: needs credentials",
        "- quotas       skipped: needs credentials",
        "1 check(s) failed, 3 skipped, 1 warning(s).",
    ] {
        assert!(run.stdout.contains(l), "no `{l}` in:\n{}", run.stdout);
    }
    assert!(
        run.stderr.contains("doctor: credentials failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("help: follow the `fix:` lines above, then run `groundup doctor` again"),
        "{}",
        run.stderr
    );

    // Half a key pair says which half is missing, and never shows the other.
    let mut cmd = p.cmd(&["--endpoint", &endpoint, "doctor"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    let run = crate::support::collect(cmd.output().unwrap()).expect_code(2);
    assert!(
        run.stdout
            .contains("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"),
        "{}",
        run.stdout
    );
    no_secret(&run);
    drop(listener);
}

#[test]
fn unreachable_endpoint_fails_fast() {
    let p = with_secret();
    let port = free_port(); // nothing listens there
    let endpoint = format!("http://127.0.0.1:{port}");
    // (A refused connection is its own bound: nothing to wait for.)
    let run = p.run(&["--endpoint", &endpoint, "doctor"]).expect_code(2);
    for l in [
        format!(
            "✗ endpoint     {endpoint}: cannot connect to 127.0.0.1:{port}: Connection refused"
        ),
        "fix: is the emulator running? or use groundup's own: `--local` instead of --endpoint starts it when needed".to_string(),
        "fix: to use real AWS instead, drop --endpoint and `unset AWS_ENDPOINT_URL`".to_string(),
        "✓ credentials".to_string(),
        "- region       skipped: needs a reachable endpoint".to_string(),
    ] {
        assert!(run.stdout.contains(&l), "no `{l}` in:\n{}", run.stdout);
    }
    assert!(
        run.stderr.contains("doctor: endpoint failed"),
        "{}",
        run.stderr
    );
    no_secret(&run);

    // The test guard: a real AWS endpoint is refused, not contacted.
    let run = p
        .run(&[
            "--endpoint",
            "https://ec2.us-east-2.amazonaws.com",
            "doctor",
        ])
        .expect_code(2);
    assert!(
        run.stdout
            .contains("✗ endpoint     refusing to reach https://ec2.us-east-2.amazonaws.com"),
        "{}",
        run.stdout
    );
}

#[test]
fn silent_endpoint_is_bounded() {
    // Accepts TCP connections but never answers. Bounded means: the
    // endpoint check connects once, DescribeRegions is tried once (then
    // "no answer within 5 s"), and nothing is tried again.
    let server = crate::support::CountingServer::start(false);
    let endpoint = server.endpoint.clone();
    let p = with_secret();
    let run = p.run(&["--endpoint", &endpoint, "doctor"]).expect_code(2);
    assert_eq!(server.connections(), 2, "{}", run.stdout);
    assert!(run.stdout.contains("✓ endpoint"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("✗ region       DescribeRegions: no answer within 5 s"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("- identity     skipped: EC2 did not answer"),
        "{}",
        run.stdout
    );
    drop(server);
}

#[test]
fn bad_settings_and_a_broken_runbook_are_explained() {
    let p = with_secret();
    let run = p.run(&["--set", "workers=-1", "doctor"]).expect_code(1);
    assert!(
        run.stdout.contains(
            "✗ settings     setting `workers` = `-1` (--set): a count cannot be negative"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("- runbooks     skipped: needs valid settings"),
        "{}",
        run.stdout
    );

    // The node layout (stdlib/nodes.rhai) is part of the settings check:
    // eleven masters do not fit at .10-.19.
    let run = p.run(&["--set", "masters=11", "doctor"]).expect_code(1);
    assert!(run.stdout.contains("✗ settings"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("masters use host addresses .10-.19 of the subnet: at most 10"),
        "{}",
        run.stdout
    );

    std::fs::create_dir_all(p.path().join("runbooks")).unwrap();
    std::fs::write(p.path().join("runbooks/network.rhai"), "let x = ;\n").unwrap();
    let run = p.run(&["doctor"]).expect_code(2);
    assert!(
        run.stdout
            .contains("✗ runbooks     runbooks/network.rhai:1:9: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("fix: `groundup check` shows each error with its source line"),
        "{}",
        run.stdout
    );
}
