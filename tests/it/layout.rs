//! The node layout is written once, in `stdlib/nodes.rhai`: an edited copy
//! (`groundup init`, masters moved from host 10+i to 30+i) moves the
//! instances, the load balancer's targets, the certificates' SANs and
//! `groundup pki check` together; a layout that puts a node outside the
//! subnet is refused before any AWS request.

use std::path::Path;
use std::process::Command;

use crate::support::{Moto, Project, Sdk};

const CLUSTER: &str = "k8s-cluster";
const MASTERS: [&str; 3] = ["172.31.0.30", "172.31.0.31", "172.31.0.32"];

/// An `init` copy whose stdlib/nodes.rhai puts master i at `masters_at`.
fn project_with_masters_at(masters_at: &str) -> Project {
    let p = Project::new();
    p.run(&["init"]).ok();
    let path = p.path().join("stdlib/nodes.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    let from = "private_ip: cidr::host(c.subnet_cidr, 10 + i),";
    assert_eq!(text.matches(from).count(), 1, "the masters' line moved");
    std::fs::write(
        &path,
        text.replace(from, &format!("private_ip: {masters_at},")),
    )
    .unwrap();
    p
}

/// The IP addresses in a certificate's subjectAltName, read by openssl.
fn san_ips(pem: &Path) -> Vec<String> {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(pem)
        .output()
        .expect("openssl is needed (apt-get install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut ips: Vec<String> = text
        .split(',')
        .filter_map(|s| s.trim().strip_prefix("IP Address:"))
        .map(str::to_string)
        .collect();
    ips.sort();
    ips
}

fn masters_in(ips: &[String]) -> Vec<&str> {
    ips.iter()
        .map(String::as_str)
        .filter(|ip| ip.starts_with("172.31.0."))
        .collect()
}

#[test]
fn an_edited_layout_moves_nodes_targets_certificates_and_the_check_together() {
    let p = project_with_masters_at("cidr::host(c.subnet_cidr, 30 + i)");

    // Before compute (offline, no state): the certificates and the check
    // take the planned layout.
    let offline = p.path().join("offline-state");
    let off = |args: &[&str]| {
        let mut all = vec![
            "--state-dir",
            offline.to_str().unwrap(),
            "--set",
            "kubernetes_public_address=k8s.example.test",
        ];
        all.extend(args);
        p.run(&all)
    };
    off(&["run", "pki"]).ok();
    let pem = offline.join(CLUSTER).join("pki/master-kubernetes.pem");
    assert_eq!(masters_in(&san_ips(&pem)), MASTERS, "planned SANs");
    let check = off(&["--json", "pki", "check"]).ok().json();
    assert_eq!(check["ok"], true, "{check}");
    // The check would notice the old addresses: a certificate for .10-.12
    // does not pass it.
    let lesson = Project::new();
    lesson
        .run(&[
            "--set",
            "kubernetes_public_address=k8s.example.test",
            "run",
            "pki",
        ])
        .ok();
    std::fs::copy(
        lesson
            .state_dir()
            .join(CLUSTER)
            .join("pki/master-kubernetes.pem"),
        &pem,
    )
    .unwrap();
    std::fs::copy(
        lesson
            .state_dir()
            .join(CLUSTER)
            .join("pki/master-kubernetes-key.pem"),
        offline.join(CLUSTER).join("pki/master-kubernetes-key.pem"),
    )
    .unwrap();
    let stale = off(&["--json", "pki", "check"]).expect_code(2);
    assert!(stale.stdout.contains("172.31.0.30"), "{}", stale.stdout);

    // `up` on moto: the instances, the target group and the certificates.
    let moto = Moto::start();
    p.run_on(&moto, &["up"]).ok();
    let sdk = Sdk::new(&moto);
    let (mut instances, mut targets) = sdk.block(async {
        let out = sdk
            .ec2
            .describe_instances()
            .filters(Sdk::cluster(CLUSTER))
            .send()
            .await
            .unwrap();
        let instances: Vec<(String, String)> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| {
                let name = i
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("Name"))
                    .and_then(|t| t.value())
                    .unwrap_or_default()
                    .to_string();
                (name, i.private_ip_address().unwrap_or_default().to_string())
            })
            .collect();
        let tgs = sdk.elb.describe_target_groups().send().await.unwrap();
        assert_eq!(tgs.target_groups().len(), 1);
        let arn = tgs.target_groups()[0].target_group_arn().unwrap();
        let health = sdk
            .elb
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .unwrap();
        let targets: Vec<String> = health
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target().and_then(|t| t.id()))
            .map(str::to_string)
            .collect();
        (instances, targets)
    });
    instances.sort();
    targets.sort();
    let masters: Vec<&str> = instances
        .iter()
        .filter(|(name, _)| name.contains("master"))
        .map(|(_, ip)| ip.as_str())
        .collect();
    assert_eq!(masters, MASTERS, "instances: {instances:?}");
    let workers: Vec<&str> = instances
        .iter()
        .filter(|(name, _)| name.contains("worker"))
        .map(|(_, ip)| ip.as_str())
        .collect();
    assert_eq!(workers, ["172.31.0.20", "172.31.0.21", "172.31.0.22"]);
    assert_eq!(targets, MASTERS, "target group");
    let pem = p
        .state_dir()
        .join(CLUSTER)
        .join("pki/master-kubernetes.pem");
    assert_eq!(masters_in(&san_ips(&pem)), MASTERS, "SANs after up");
    let check = p.run_on(&moto, &["--json", "pki", "check"]).ok().json();
    assert_eq!(check["ok"], true, "{check}");
}

#[test]
fn a_layout_outside_the_subnet_is_refused_before_any_aws_request() {
    let p = project_with_masters_at("cidr::host(\"172.31.9.0/24\", 30 + i)");
    let moto = Moto::start();
    for args in [&["up"][..], &["check"][..]] {
        let run = p.run_on(&moto, args).expect_code(1);
        let flat = run.err_flat();
        assert!(
            flat.contains(
                "the node layout (stdlib/nodes.rhai) puts master-0 at 172.31.9.30: outside \
                 subnet_cidr 172.31.0.0/24"
            ),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(moto.requests(), 0);
}
