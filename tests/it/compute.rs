//! `runbooks/compute.rhai` against moto: the six nodes, their addresses,
//! user data, tags and source/dest checks, the key pair's four cases,
//! image lookup, idempotency and scaling.

use std::os::unix::fs::PermissionsExt;

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, InstanceAttributeName};
use base64::Engine as _;

use crate::support::{Moto, Project, Run, Sdk};

/// Live instances of a cluster: (node tag, private ip, instance id).
fn live_nodes(sdk: &Sdk, cluster: &str) -> Vec<(String, String, String)> {
    sdk.block(async {
        let out = sdk
            .ec2
            .describe_instances()
            .filters(Sdk::cluster(cluster))
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let mut v = Vec::new();
        for r in out.reservations() {
            for i in r.instances() {
                let node = i
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("groundup:node"))
                    .and_then(|t| t.value())
                    .unwrap_or_default();
                v.push((
                    node.to_string(),
                    i.private_ip_address().unwrap_or_default().to_string(),
                    i.instance_id().unwrap().to_string(),
                ));
            }
        }
        v.sort();
        v
    })
}

fn up(p: &Project, moto: &Moto, extra: &[&str]) -> Run {
    let mut args = extra.to_vec();
    args.extend(["run", "network", "compute"]);
    p.run_on(moto, &args)
}

#[test]
fn six_nodes_with_the_lessons_layout() {
    let moto = Moto::start();
    let p = Project::new();
    let run = up(&p, &moto, &[]).ok();
    // The request budget (BENCHMARKS.md): network 18 (one CreateTags only
    // because moto drops tags given to CreateDhcpOptions) + DescribeImages,
    // DescribeKeyPairs (a key pair without its file is found before a key
    // is written), ImportKeyPair, 6 RunInstances, 3 ModifyInstanceAttribute
    // (workers), one DescribeInstances for the waiter.
    assert_eq!(moto.requests(), 31, "{:#?}", moto.request_lines());
    let sdk = Sdk::new(&moto);
    let nodes = live_nodes(&sdk, "k8s-cluster");
    let names: Vec<(&str, &str)> = nodes
        .iter()
        .map(|(n, ip, _)| (n.as_str(), ip.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("master-0", "172.31.0.10"),
            ("master-1", "172.31.0.11"),
            ("master-2", "172.31.0.12"),
            ("worker-0", "172.31.0.20"),
            ("worker-1", "172.31.0.21"),
            ("worker-2", "172.31.0.22"),
        ]
    );
    let st = p.state("k8s-cluster");
    let sg = st["security_group_id"].as_str().unwrap().to_string();
    let subnet = st["subnet_id"].as_str().unwrap().to_string();
    sdk.block(async {
        for (node, ip, id) in &nodes {
            // user data, decoded
            let ud = sdk
                .ec2
                .describe_instance_attribute()
                .instance_id(id)
                .attribute(InstanceAttributeName::UserData)
                .send()
                .await
                .unwrap();
            let raw = ud.user_data().and_then(|v| v.value()).unwrap();
            let text = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .unwrap(),
            )
            .unwrap();
            let want = if let Some(i) = node.strip_prefix("worker-") {
                format!("name={node}|pod-cidr=172.20.{i}.0/24")
            } else {
                format!("name={node}")
            };
            assert_eq!(text, want);
            // source/dest check off on workers (they forward pod traffic),
            // AWS's default (on) on masters
            let sd = sdk
                .ec2
                .describe_instance_attribute()
                .instance_id(id)
                .attribute(InstanceAttributeName::SourceDestCheck)
                .send()
                .await
                .unwrap();
            assert_eq!(
                sd.source_dest_check().and_then(|v| v.value()),
                Some(!node.starts_with("worker-")),
                "{node}"
            );
            // tags, type, key, subnet, SG (moto keeps the SG on the interface), public IP
            let d = sdk
                .ec2
                .describe_instances()
                .instance_ids(id)
                .send()
                .await
                .unwrap();
            let i = &d.reservations()[0].instances()[0];
            let tag = |k: &str| {
                i.tags()
                    .iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
                    .unwrap_or_default()
                    .to_string()
            };
            assert_eq!(tag("Name"), format!("k8s-cluster-{node}"));
            assert_eq!(tag("groundup:cluster"), "k8s-cluster");
            assert_eq!(
                tag("groundup:role"),
                if node.starts_with("master") {
                    "master"
                } else {
                    "worker"
                }
            );
            assert_eq!(i.instance_type().map(|t| t.as_str()), Some("t2.micro"));
            assert_eq!(i.key_name(), Some("k8s-cluster"));
            assert_eq!(i.subnet_id(), Some(subnet.as_str()));
            assert_eq!(
                i.image_id(),
                Some("ami-785db401"),
                "moto's xenial image (jammy and focal do not exist there)"
            );
            let eni_sgs: Vec<&str> = i.network_interfaces()[0]
                .groups()
                .iter()
                .filter_map(|g| g.group_id())
                .collect();
            assert_eq!(eni_sgs, vec![sg.as_str()]);
            assert!(i.public_ip_address().is_some(), "{node} has a public IP");
            // state
            let s = &st["nodes"][node.as_str()];
            assert_eq!(s["instance_id"], id.as_str());
            assert_eq!(s["private_ip"], ip.as_str());
            assert_eq!(s["public_ip"], i.public_ip_address().unwrap());
            assert_eq!(s["hostname"], format!("ip-{}", ip.replace('.', "-")));
        }
    });
    // the key file: 0400, an RSA private key, never printed
    let key = p.state_dir().join("k8s-cluster/ssh/k8s-cluster.id_rsa");
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o400);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.contains("PRIVATE KEY-----"), "{pem:.40}");
    assert!(!run.stdout.contains("PRIVATE KEY") && !run.stderr.contains("PRIVATE KEY"));
    // the node table
    assert!(
        run.stdout
            .contains("NAME        ROLE     PRIVATE IP      PUBLIC IP        INSTANCE"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("worker-2    worker   172.31.0.22"),
        "{}",
        run.stdout
    );
}

#[test]
fn rerun_keeps_six_and_scaling_adds_exactly_two() {
    let moto = Moto::start();
    let p = Project::new();
    up(&p, &moto, &[]).ok();
    let sdk = Sdk::new(&moto);
    let first = live_nodes(&sdk, "k8s-cluster");
    // Someone turned master-0's source/dest check off (as the lesson, or an
    // older groundup, did): the re-run puts it back to what the layout says.
    let master0 = first.iter().find(|n| n.0 == "master-0").unwrap().2.clone();
    let master0 = master0.as_str();
    let check = |id: &str| {
        sdk.block(
            sdk.ec2
                .describe_instance_attribute()
                .instance_id(id)
                .attribute(InstanceAttributeName::SourceDestCheck)
                .send(),
        )
        .unwrap()
        .source_dest_check()
        .and_then(|v| v.value())
    };
    sdk.block(
        sdk.ec2
            .modify_instance_attribute()
            .instance_id(master0)
            .source_dest_check(AttributeBooleanValue::builder().value(false).build())
            .send(),
    )
    .unwrap();
    assert_eq!(check(master0), Some(false));
    up(&p, &moto, &[]).ok();
    assert_eq!(
        live_nodes(&sdk, "k8s-cluster"),
        first,
        "a re-run launches nothing"
    );
    assert_eq!(check(master0), Some(true), "master-0's check is back on");
    let run = p
        .run_on(&moto, &["--json", "--set", "workers=5", "run", "compute"])
        .ok();
    let created = run.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "instance" && e["status"] == "created")
        .count();
    assert_eq!(created, 2);
    let after = live_nodes(&sdk, "k8s-cluster");
    assert_eq!(after.len(), 8);
    for n in &first {
        assert!(after.contains(n), "{n:?} kept");
    }
    assert!(
        after
            .iter()
            .any(|(n, ip, _)| n == "worker-4" && ip == "172.31.0.24")
    );
}

#[test]
fn image_lookup_pinning_and_no_match() {
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &["run", "network"]).ok();
    // no match: a clear error naming the owner and every pattern; nothing launched
    let run = p
        .run_on(
            &moto,
            &[
                "--set",
                "image_names=ubuntu/images/*/nothing-*,other-*",
                "run",
                "compute",
            ],
        )
        .expect_code(2);
    assert!(
        run.err_flat().contains("ec2::find_image: no image owned by 099720109477 (x86_64, EBS) in us-east-2 matches any of: ubuntu/images/*/nothing-*, other-*"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("[<builtin>/runbooks/compute.rhai:"),
        "{}",
        run.stderr
    );
    let sdk = Sdk::new(&moto);
    assert!(live_nodes(&sdk, "k8s-cluster").is_empty());
    // a pinned image that does not exist: error before any launch
    let run = p
        .run_on(
            &moto,
            &["--set", "image_id=ami-00000000deadbeef", "run", "compute"],
        )
        .expect_code(2);
    assert!(
        run.err_flat().contains("ami-00000000deadbeef"),
        "{}",
        run.stderr
    );
    assert!(live_nodes(&sdk, "k8s-cluster").is_empty());
    // a pinned image that exists (moto's trusty image) is used as is
    let trusty = sdk.block(async {
        let out = sdk
            .ec2
            .describe_images()
            .owners("099720109477")
            .send()
            .await
            .unwrap();
        out.images()
            .iter()
            .find(|i| i.name().unwrap_or_default().contains("trusty"))
            .and_then(|i| i.image_id())
            .unwrap()
            .to_string()
    });
    p.run_on(
        &moto,
        &[
            "--set",
            &format!("image_id={trusty}"),
            "--set",
            "workers=1",
            "--set",
            "masters=1",
            "run",
            "compute",
        ],
    )
    .ok();
    let images: Vec<String> = sdk.block(async {
        let out = sdk
            .ec2
            .describe_instances()
            .filters(Sdk::cluster("k8s-cluster"))
            .send()
            .await
            .unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| i.image_id().unwrap().to_string())
            .collect()
    });
    assert_eq!(images, vec![trusty.clone(), trusty]);
}

#[test]
fn key_pair_four_cases() {
    let moto = Moto::start();
    let p = Project::new();
    let key = p.state_dir().join("k8s-cluster/ssh/k8s-cluster.id_rsa");
    let small = ["--set", "masters=1", "--set", "workers=0"];
    // neither exists: created
    let mut args = small.to_vec();
    args.extend(["--json", "run", "network", "compute"]);
    let j = p.run_on(&moto, &args).ok().json();
    assert!(
        j["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "key-pair" && e["status"] == "created")
    );
    let pem = std::fs::read_to_string(&key).unwrap();
    // The key pair in AWS is the file's key: its public key is what
    // `ssh-keygen -y` derives from the file, and its fingerprint is
    // openssl's MD5 of the public key's DER (how AWS fingerprints an
    // imported key).
    let sdk = Sdk::new(&moto);
    let kp = sdk
        .block(
            sdk.ec2
                .describe_key_pairs()
                .key_names("k8s-cluster")
                .include_public_key(true)
                .send(),
        )
        .unwrap()
        .key_pairs()[0]
        .clone();
    let derived = std::process::Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&key)
        .output()
        .expect("ssh-keygen (Debian: openssh-client; scripts/test installs it)");
    assert!(derived.status.success(), "{derived:?}");
    let derived = String::from_utf8(derived.stdout).unwrap();
    let blob = |line: &str| {
        line.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        blob(kp.public_key().unwrap()),
        blob(&derived),
        "AWS holds the file's public key"
    );
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(der.status.success(), "{der:?}");
    let mut md5 = std::process::Command::new("openssl")
        .args(["md5", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    md5.stdin.take().unwrap().write_all(&der.stdout).unwrap();
    let md5 = String::from_utf8(md5.wait_with_output().unwrap().stdout).unwrap();
    let fp = md5.rsplit(' ').next().unwrap().trim();
    assert_eq!(kp.key_fingerprint().unwrap(), fp);
    // both exist: reused, file untouched
    let mut args = small.to_vec();
    args.extend(["--json", "run", "compute"]);
    let j = p.run_on(&moto, &args).ok().json();
    assert!(
        j["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "key-pair" && e["status"] == "reused")
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem);
    // only the file exists: its public key is imported
    sdk.block(sdk.ec2.delete_key_pair().key_name("k8s-cluster").send())
        .unwrap();
    let j = p.run_on(&moto, &args).ok().json();
    assert!(
        j["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "key-pair" && e["status"] == "imported"),
        "{j}"
    );
    let n = sdk
        .block(sdk.ec2.describe_key_pairs().key_names("k8s-cluster").send())
        .unwrap()
        .key_pairs()
        .len();
    assert_eq!(n, 1);
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        pem,
        "the file is never rewritten"
    );
    // only AWS has it: a clear error with the ways out, nothing overwritten
    let mut perms = std::fs::metadata(&key).unwrap().permissions();
    perms.set_mode(0o600);
    std::fs::set_permissions(&key, perms).unwrap();
    std::fs::remove_file(&key).unwrap();
    let mut args = small.to_vec();
    args.extend(["run", "compute"]);
    let run = p.run_on(&moto, &args).expect_code(2);
    let flat = run.err_flat();
    assert!(
        flat.contains("key pair `k8s-cluster` exists in AWS but its private key file"),
        "{}",
        run.stderr
    );
    assert!(
        flat.contains("AWS hands out a private key only once"),
        "{}",
        run.stderr
    );
    assert!(!key.exists());
}

#[test]
fn plan_lists_every_launch_without_aws() {
    let p = Project::new();
    let run = p
        .run(&["--plan", "--json", "run", "network", "compute"])
        .ok();
    let ops = run.json()["plan"].as_array().unwrap().clone();
    let launches: Vec<&serde_json::Value> = ops
        .iter()
        .filter(|o| o["operation"] == "RunInstances")
        .collect();
    assert_eq!(launches.len(), 6);
    assert_eq!(launches[0]["params"]["PrivateIpAddress"], "172.31.0.10");
    assert_eq!(
        launches[5]["params"]["UserData"],
        "name=worker-2|pod-cidr=172.20.2.0/24"
    );
    assert_eq!(
        launches[5]["params"]["Tags"]["Name"],
        "k8s-cluster-worker-2"
    );
    assert!(ops.iter().any(|o| o["operation"] == "ImportKeyPair"));
    // Only the workers forward pod traffic: their source/dest checks go off.
    let modified: Vec<&str> = ops
        .iter()
        .filter(|o| o["operation"] == "ModifyInstanceAttribute")
        .map(|o| o["params"]["InstanceId"].as_str().unwrap())
        .collect();
    let worker_ids: Vec<&str> = launches[3..]
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(modified, worker_ids);
    assert!(!p.state_dir().exists());
}

#[test]
fn subnet_too_small_for_the_counts_is_rejected_before_aws() {
    let moto = Moto::start();
    let p = Project::new();
    let run = p
        .run_on(
            &moto,
            &[
                "--set",
                "subnet_cidr=172.31.0.0/27",
                "--set",
                "workers=12",
                "run",
                "network",
                "compute",
            ],
        )
        .expect_code(1);
    assert!(
        run.err_flat()
            .contains("subnet 172.31.0.0/27 has room for 11 workers"),
        "{}",
        run.stderr
    );
    assert_eq!(moto.requests(), 0);
}

#[test]
fn more_than_a_page_of_nodes_come_up_and_go_down() {
    // moto pages DescribeInstances at 100 instances, even for a list of
    // IDs: with 101 nodes the waiter (and `down`'s) must read page two, or
    // node 101 is never seen running (and never seen terminated).
    let moto = Moto::start();
    let p = Project::new();
    let sizes = [
        "--set",
        "masters=1",
        "--set",
        "workers=100",
        "--set",
        "wait_timeout_secs=20",
        "--set",
        "delete_timeout_secs=20",
    ];
    let mut args = sizes.to_vec();
    args.extend(["--json", "run", "network", "compute"]);
    // Succeeds only if the waiter saw all 101 running within 20 s.
    let j = p.run_on(&moto, &args).ok().json();
    let nodes = j["state"]["nodes"].as_object().unwrap();
    assert_eq!(nodes.len(), 101);
    assert_eq!(nodes["worker-99"]["private_ip"], "172.31.0.119");
    let mut args = sizes.to_vec();
    args.extend(["down", "--yes"]);
    p.run_on(&moto, &args).ok();
    let sdk = Sdk::new(&moto);
    let left: usize = sdk.block(async {
        let mut n = 0;
        let mut pages = sdk
            .ec2
            .describe_instances()
            .filters(Sdk::cluster("k8s-cluster"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for r in page.unwrap().reservations() {
                n += r
                    .instances()
                    .iter()
                    .filter(|i| {
                        i.state().and_then(|s| s.name()).map(|s| s.as_str()) != Some("terminated")
                    })
                    .count();
            }
        }
        n
    });
    assert_eq!(left, 0, "down waited for every instance");
}
