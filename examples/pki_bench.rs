//! Benchmark harness for groundup's PKI library (used by `scripts/bench`
//! while `runbooks/pki.rhai` is not on this branch): issues the lesson's 10
//! certificates — the same subjects, hosts and profile as
//! `bench/lesson-pki.sh` feeds to cfssl — into an empty directory, with the
//! library calls a PKI runbook makes: `pki::ensure_ca`, then
//! `pki::ensure_leaves` (key generation on all cores).
//!
//! ```text
//! cargo build --example pki_bench
//! target/debug/examples/pki_bench DIR [rsa-2048|ecdsa-p256] [PUBLIC_ADDRESS]
//! ```
//!
//! Prints one line per certificate and the time spent in-process; the
//! benchmark itself times the whole process (start-up included), as it does
//! for cfssl.

use std::path::PathBuf;
use std::time::Instant;

use groundup::pki::{self, CertRequest, KeyAlgorithm, Subject, Usages};

/// The lesson's subject: C=UK, ST=London, L=England, OU=DAREY.IO DEVOPS.
fn subject(cn: &str, o: &str) -> Subject {
    Subject {
        cn: cn.into(),
        o: Some(o.into()),
        ou: Some("DAREY.IO DEVOPS".into()),
        c: Some("UK".into()),
        st: Some("London".into()),
        l: Some("England".into()),
    }
}

fn request(cn: &str, o: &str, hosts: Vec<String>, alg: KeyAlgorithm) -> CertRequest {
    CertRequest {
        subject: subject(cn, o),
        hosts,
        // The lesson's ca-config.json: expiry 8760h.
        validity_days: 365,
        algorithm: alg,
        // The lesson's `kubernetes` profile: signing, key encipherment,
        // server auth, client auth.
        usages: Usages::KUBERNETES,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| {
        eprintln!("usage: pki_bench DIR [rsa-2048|ecdsa-p256] [PUBLIC_ADDRESS]");
        std::process::exit(1)
    }));
    let alg: KeyAlgorithm = args
        .next()
        .unwrap_or_else(|| "rsa-2048".into())
        .parse()
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
    let public = args
        .next()
        .unwrap_or_else(|| "k8s-cluster-0123456789.elb.us-east-2.amazonaws.com".into());
    let region = "us-east-2";
    std::fs::create_dir_all(&dir).expect("create the output directory");
    let start = Instant::now();

    // ca-csr.json: CN=Kubernetes, O=Kubernetes.
    let (ca, _) = pki::ensure_ca(
        &dir,
        "ca",
        &request("Kubernetes", "Kubernetes", vec![], alg),
    )
    .unwrap_or_else(|e| panic!("ca: {e}"));

    // master-kubernetes-csr.json: the lesson's hosts list.
    let mut api_hosts: Vec<String> = vec!["127.0.0.1".into()];
    for i in 0..3 {
        api_hosts.push(format!("172.31.0.1{i}"));
    }
    for i in 0..3 {
        api_hosts.push(format!("ip-172-31-0-1{i}"));
    }
    for i in 0..3 {
        api_hosts.push(format!("ip-172-31-0-1{i}.{region}.compute.internal"));
    }
    api_hosts.push(public);
    for h in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster",
        "kubernetes.default.svc.cluster.local",
    ] {
        api_hosts.push(h.into());
    }
    let mut leaves: Vec<(String, CertRequest)> = vec![(
        "master-kubernetes".into(),
        request("kubernetes", "Kubernetes", api_hosts, alg),
    )];
    // The three kubelets: -hostname=<host name>,<public IP>,<private IP>.
    for i in 0..3 {
        let host = format!("ip-172-31-0-2{i}");
        leaves.push((
            format!("k8s-cluster-worker-{i}"),
            request(
                &format!("system:node:{host}"),
                "system:nodes",
                vec![
                    host.clone(),
                    format!("198.51.100.2{i}"),
                    format!("172.31.0.2{i}"),
                ],
                alg,
            ),
        ));
    }
    for (stem, cn, o) in [
        ("kube-proxy", "system:kube-proxy", "system:node-proxier"),
        (
            "kube-controller-manager",
            "system:kube-controller-manager",
            "system:kube-controller-manager",
        ),
        (
            "kube-scheduler",
            "system:kube-scheduler",
            "system:kube-scheduler",
        ),
        ("admin", "admin", "system:masters"),
        ("service-account", "service-accounts", "Kubernetes"),
    ] {
        leaves.push((stem.into(), request(cn, o, vec![], alg)));
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let results = pki::ensure_leaves(&dir, &ca, &leaves, 30, threads);
    let mut n = 1;
    for ((stem, _), r) in leaves.iter().zip(results) {
        let (_, action) = r.unwrap_or_else(|e| panic!("{stem}: {e}"));
        println!("{stem}: {action}");
        n += 1;
    }
    println!(
        "{n} certificates ({alg}) in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
}
