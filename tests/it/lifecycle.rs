//! The lifecycle against moto: `up`, `down`, `--plan`, `status`, several
//! clusters, and crashes (kill -9) in the middle of `up`.

use std::time::Duration;

use aws_sdk_ec2::types::Filter;

use crate::support::{Moto, Project, Sdk};

/// Extra arguments for every run (none: `up` runs the shipped steps,
/// network, compute and pki).
const STEPS: &[&str] = &[];

/// Counts every kind of resource of a cluster in AWS:
/// [vpc, dhcp, subnet, igw, route table, sg, lb, tg, instances, key pairs].
pub fn count_all(sdk: &Sdk, cluster: &str) -> [usize; 10] {
    let net = crate::network::count_network(sdk, cluster);
    let (instances, keys) = sdk.block(async {
        let out = sdk
            .ec2
            .describe_instances()
            .filters(Sdk::cluster(cluster))
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopping")
                    .values("stopped")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let n = out.reservations().iter().map(|r| r.instances().len()).sum();
        let k = sdk
            .ec2
            .describe_key_pairs()
            .send()
            .await
            .unwrap()
            .key_pairs()
            .iter()
            .filter(|k| k.key_name() == Some(cluster))
            .count();
        (n, k)
    });
    [
        net[0], net[1], net[2], net[3], net[4], net[5], net[6], net[7], instances, keys,
    ]
}

const ONE_EACH: [usize; 10] = [1, 1, 1, 1, 1, 1, 1, 1, 6, 1];
const NOTHING: [usize; 10] = [0; 10];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = STEPS.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn up_twice_then_down_leaves_nothing_and_down_again_is_a_no_op() {
    let moto = Moto::start();
    let p = Project::new();
    let sdk = Sdk::new(&moto);
    let run = p.run_on(&moto, &args(&["up"])).ok();
    assert!(
        run.stdout.contains("KUBERNETES_PUBLIC_ADDRESS="),
        "{}",
        run.stdout
    );
    p.run_on(&moto, &args(&["up"])).ok();
    assert_eq!(count_all(&sdk, "k8s-cluster"), ONE_EACH);
    // down needs --yes off a terminal, and deletes nothing without it
    let run = p.run_on(&moto, &args(&["down"])).expect_code(1);
    assert!(
        run.err_flat().contains("add --yes to confirm"),
        "{}",
        run.stderr
    );
    assert_eq!(count_all(&sdk, "k8s-cluster"), ONE_EACH);
    let run = p.run_on(&moto, &args(&["down", "--yes"])).ok();
    assert!(
        run.stdout.contains("cluster k8s-cluster is gone"),
        "{}",
        run.stdout
    );
    assert_eq!(count_all(&sdk, "k8s-cluster"), NOTHING);
    // local files are kept without --purge
    assert!(
        p.state_dir()
            .join("k8s-cluster/ssh/k8s-cluster.id_rsa")
            .exists()
    );
    let st = p.state("k8s-cluster");
    assert!(
        st.get("vpc_id").is_none() && st.get("nodes").is_none(),
        "{st}"
    );
    // a second down is a no-op success
    let j = p
        .run_on(&moto, &args(&["--json", "down", "--yes"]))
        .ok()
        .json();
    assert_eq!(j["deleted"], 0, "{j}");
    // --purge removes the local files
    p.run_on(&moto, &args(&["down", "--yes", "--purge"])).ok();
    assert!(!p.state_dir().join("k8s-cluster").exists());
}

#[test]
fn down_finds_everything_by_tag_without_state() {
    let moto = Moto::start();
    let p = Project::new();
    let sdk = Sdk::new(&moto);
    p.run_on(&moto, &args(&["up"])).ok();
    std::fs::remove_file(p.state_dir().join("k8s-cluster/state.json")).unwrap();
    p.run_on(&moto, &args(&["down", "--yes"])).ok();
    assert_eq!(count_all(&sdk, "k8s-cluster"), NOTHING);
}

#[test]
fn a_failed_up_is_cleaned_up_by_down() {
    let moto = Moto::start();
    let p = Project::new();
    let sdk = Sdk::new(&moto);
    let run = p
        .run_on(
            &moto,
            &args(&["--set", "image_id=ami-00000000deadbeef", "up"]),
        )
        .expect_code(2);
    assert!(
        run.err_flat().contains("ami-00000000deadbeef"),
        "{}",
        run.stderr
    );
    assert_eq!(count_all(&sdk, "k8s-cluster")[0], 1, "the network was made");
    p.run_on(&moto, &args(&["down", "--yes"])).ok();
    assert_eq!(count_all(&sdk, "k8s-cluster"), NOTHING);
}

#[test]
fn two_clusters_down_one_keeps_the_other() {
    let moto = Moto::start();
    let p = Project::new();
    let sdk = Sdk::new(&moto);
    p.run_on(&moto, &args(&["--cluster", "alpha", "up"])).ok();
    p.run_on(
        &moto,
        &args(&[
            "--cluster",
            "beta",
            "--set",
            "vpc_cidr=10.10.0.0/16",
            "--set",
            "subnet_cidr=10.10.0.0/24",
            "up",
        ]),
    )
    .ok();
    assert_eq!(count_all(&sdk, "alpha"), ONE_EACH);
    assert_eq!(count_all(&sdk, "beta"), ONE_EACH);
    p.run_on(&moto, &args(&["--cluster", "alpha", "down", "--yes"]))
        .ok();
    assert_eq!(count_all(&sdk, "alpha"), NOTHING);
    assert_eq!(count_all(&sdk, "beta"), ONE_EACH);
    // and beta still converges with nothing to do
    let j = p
        .run_on(
            &moto,
            &args(&[
                "--cluster",
                "beta",
                "--set",
                "vpc_cidr=10.10.0.0/16",
                "--set",
                "subnet_cidr=10.10.0.0/24",
                "--json",
                "up",
            ]),
        )
        .ok()
        .json();
    assert_eq!(j["created"], 0, "{j}");
}

#[test]
fn plan_needs_no_credentials_makes_no_request_and_writes_nothing() {
    let moto = Moto::start();
    let p = Project::new();
    // No endpoint, no credentials at all.
    let out = p
        .cmd(&args(&["--plan", "up"]))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let run = crate::support::collect(out).ok();
    assert!(
        run.stdout
            .contains("AWS operation(s) would be made (nothing was changed)"),
        "{}",
        run.stdout
    );
    for op in [
        "CreateVpc",
        "CreateLoadBalancer",
        "RunInstances",
        "ImportKeyPair",
    ] {
        assert!(
            run.stdout.contains(op),
            "{op} missing from the plan:\n{}",
            run.stdout
        );
    }
    assert!(!p.state_dir().exists(), "plan wrote state");
    assert_eq!(moto.requests(), 0);
    // With an endpoint and an existing cluster, the plan is a diff: nothing to create.
    p.run_on(&moto, &args(&["up"])).ok();
    let before = std::fs::read_to_string(p.state_dir().join("k8s-cluster/state.json")).unwrap();
    let j = p
        .run_on(&moto, &args(&["--plan", "--json", "up"]))
        .ok()
        .json();
    // (A plan connects to no node, so it lists every upload over SSH.)
    let aws_ops = j["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| !op["operation"].as_str().unwrap_or("").starts_with("Ssh"))
        .count();
    assert_eq!(aws_ops, 0, "{j}");
    // --plan down lists the deletes, deletes nothing
    let run = p.run_on(&moto, &args(&["--plan", "down"])).ok();
    for op in [
        "TerminateInstances",
        "DeleteLoadBalancer",
        "DeleteVpc",
        "DeleteDhcpOptions",
    ] {
        assert!(run.stdout.contains(op), "{op}:\n{}", run.stdout);
    }
    assert_eq!(count_all(&Sdk::new(&moto), "k8s-cluster"), ONE_EACH);
    assert_eq!(
        std::fs::read_to_string(p.state_dir().join("k8s-cluster/state.json")).unwrap(),
        before
    );
}

#[test]
fn status_shows_state_and_drift() {
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &args(&["up"])).ok();
    let run = p.run_on(&moto, &["status"]).ok();
    assert!(run.stdout.contains("vpc_id"), "{}", run.stdout);
    assert!(
        run.stdout.contains("worker-2    worker   172.31.0.22"),
        "{}",
        run.stdout
    );
    let run = p.run_on(&moto, &["status", "--refresh"]).ok();
    assert!(
        run.stdout.contains("no drift: AWS matches state"),
        "{}",
        run.stdout
    );
    // terminate a node behind groundup's back
    let sdk = Sdk::new(&moto);
    let id = p.state("k8s-cluster")["nodes"]["worker-1"]["instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    sdk.block(sdk.ec2.terminate_instances().instance_ids(&id).send())
        .unwrap();
    let run = p
        .run_on(&moto, &["--json", "status", "--refresh"])
        .expect_code(2);
    let drift = run.json()["drift"].as_array().unwrap().clone();
    assert!(
        drift
            .iter()
            .any(|d| d == &serde_json::json!(format!("missing node worker-1 {id}"))),
        "{drift:?}"
    );
    // (Re-launching worker-1 on its old address cannot be shown on moto: it
    // answers a private IP once used, even by a terminated instance, with
    // HTTP 500.)
}

#[test]
fn killed_up_converges_exactly_once() {
    let moto = Moto::start();
    let p = Project::new();
    let sdk = Sdk::new(&moto);
    // Kill -9 `up` at ten points in time, re-running each time.
    for ms in [30u64, 60, 90, 120, 160, 200, 250, 300, 400, 600] {
        let mut child = p
            .cmd(&args(&["--endpoint", &moto.endpoint, "up"]))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
        // state.json is never truncated or unparsable
        let path = p.state_dir().join("k8s-cluster/state.json");
        if path.exists() {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| {
                panic!("state.json corrupt after kill at {ms} ms: {e}\n{text}")
            });
        }
        let counts = count_all(&sdk, "k8s-cluster");
        assert!(
            counts
                .iter()
                .zip(ONE_EACH)
                .all(|(have, most)| *have <= most),
            "duplicates after kill at {ms} ms: {counts:?}"
        );
    }
    p.run_on(&moto, &args(&["up"])).ok();
    assert_eq!(count_all(&sdk, "k8s-cluster"), ONE_EACH);
    p.run_on(&moto, &args(&["down", "--yes"])).ok();
    assert_eq!(count_all(&sdk, "k8s-cluster"), NOTHING);
}
