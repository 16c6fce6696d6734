//! `runbooks/pki.rhai` and `groundup pki check`, proven by real peers:
//! `openssl verify` and `openssl x509 -text` on every certificate, `kubectl
//! config view` on every kubeconfig, and a 3-member etcd cluster serving
//! mutual TLS with the API server certificate. No AWS: the runbook runs
//! offline with `--set kubernetes_public_address=...`, or on a state file
//! written the way compute.rhai writes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::peers;
use crate::support::{Project, Run};

const ADDRESS: &str = "k8s.example.test";
const SET_ADDRESS: &str = "kubernetes_public_address=k8s.example.test";
const CLUSTER: &str = "k8s-cluster";

/// Every certificate stem the runbook makes with the default settings.
const STEMS: &[&str] = &[
    "ca",
    "master-kubernetes",
    "k8s-cluster-worker-0",
    "k8s-cluster-worker-1",
    "k8s-cluster-worker-2",
    "kube-proxy",
    "kube-controller-manager",
    "kube-scheduler",
    "admin",
    "service-account",
];

/// Every kubeconfig and the server it must point at.
const KUBECONFIGS: &[(&str, &str)] = &[
    ("k8s-cluster-worker-0", "https://k8s.example.test:6443"),
    ("k8s-cluster-worker-1", "https://k8s.example.test:6443"),
    ("k8s-cluster-worker-2", "https://k8s.example.test:6443"),
    ("kube-proxy", "https://k8s.example.test:6443"),
    ("kube-controller-manager", "https://127.0.0.1:6443"),
    ("kube-scheduler", "https://127.0.0.1:6443"),
    ("admin", "https://k8s.example.test:6443"),
];

/// Fails if a run printed anything that looks like key material.
fn no_key_material(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            // A PEM key, or any base64-encoded PEM ("-----BEGIN").
            !text.contains("PRIVATE KEY") && !text.contains("LS0tLS1CRUdJTi"),
            "key material on {name}:\n{text}"
        );
    }
}

/// `groundup [extra...] run pki`, checked for key material.
fn run_pki(p: &Project, extra: &[&str]) -> Run {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["run", "pki"]);
    let run = p.run(&args);
    no_key_material(&run);
    run
}

/// `groundup [extra...] pki check`, checked for key material.
fn check(p: &Project, extra: &[&str]) -> Run {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["pki", "check"]);
    let run = p.run(&args);
    no_key_material(&run);
    run
}

fn pki_dir(p: &Project) -> PathBuf {
    p.state_dir().join(CLUSTER).join("pki")
}

/// A PKI file as groundup names it (relative to the project: the default
/// state dir is `.groundup`).
fn rel(name: &str) -> String {
    format!(".groundup/{CLUSTER}/pki/{name}")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The SANs openssl reads from a certificate, as `DNS:x` / `IP Address:x`.
fn openssl_sans(cert: &Path) -> BTreeSet<String> {
    let text = peers::openssl_text(cert);
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.contains("X509v3 Subject Alternative Name") {
            return lines
                .next()
                .unwrap_or_default()
                .split(", ")
                .map(|s| s.trim().to_string())
                .collect();
        }
    }
    BTreeSet::new()
}

/// `DNS:` entries for names and `IP Address:` entries for addresses.
fn sans(hosts: &[&str]) -> BTreeSet<String> {
    hosts
        .iter()
        .map(|h| {
            if h.parse::<std::net::IpAddr>().is_ok() {
                format!("IP Address:{h}")
            } else {
                format!("DNS:{h}")
            }
        })
        .collect()
}

/// Every file of the PKI directory with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The API server certificate's expected SANs for the lesson's layout.
fn master_hosts(masters: usize) -> Vec<String> {
    let mut h = vec!["127.0.0.1".to_string()];
    for i in 0..masters {
        let ip = format!("172.31.0.{}", 10 + i);
        let name = format!("ip-172-31-0-{}", 10 + i);
        h.push(format!("{name}.us-east-2.compute.internal"));
        h.push(name);
        h.push(ip);
    }
    h.push(ADDRESS.into());
    h.push("172.32.0.1".into());
    for n in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster",
        "kubernetes.default.svc.cluster.local",
    ] {
        h.push(n.into());
    }
    h
}

#[test]
fn openssl_verifies_every_certificate_with_the_table_s_subjects_sans_and_usages() {
    let p = Project::new();
    let t = Instant::now();
    let run = run_pki(&p, &["--set", SET_ADDRESS]).ok();
    eprintln!("run pki (rsa-2048, debug build): {:?}", t.elapsed());
    assert!(run.stderr.contains("done in"), "{}", run.stderr);
    let d = pki_dir(&p);
    let ca = d.join("ca.pem");
    assert_eq!(mode(&d), 0o700);

    // (stem, CN, O, exact SANs)
    let master = master_hosts(3);
    let master: Vec<&str> = master.iter().map(String::as_str).collect();
    let table: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        ("ca", "Kubernetes", "Kubernetes", vec![]),
        ("master-kubernetes", "kubernetes", "Kubernetes", master),
        (
            "k8s-cluster-worker-0",
            "system:node:ip-172-31-0-20",
            "system:nodes",
            vec!["ip-172-31-0-20", "172.31.0.20"],
        ),
        (
            "k8s-cluster-worker-1",
            "system:node:ip-172-31-0-21",
            "system:nodes",
            vec!["ip-172-31-0-21", "172.31.0.21"],
        ),
        (
            "k8s-cluster-worker-2",
            "system:node:ip-172-31-0-22",
            "system:nodes",
            vec!["ip-172-31-0-22", "172.31.0.22"],
        ),
        (
            "kube-proxy",
            "system:kube-proxy",
            "system:node-proxier",
            vec![],
        ),
        (
            "kube-controller-manager",
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            vec![],
        ),
        (
            "kube-scheduler",
            "system:kube-scheduler",
            "system:kube-scheduler",
            vec![],
        ),
        ("admin", "admin", "system:masters", vec![]),
        ("service-account", "service-accounts", "Kubernetes", vec![]),
    ];
    assert_eq!(table.len(), STEMS.len());
    for (stem, cn, o, hosts) in &table {
        let cert = d.join(format!("{stem}.pem"));
        let key = d.join(format!("{stem}-key.pem"));
        peers::openssl_verify(&ca, &cert);
        assert_eq!(mode(&key), 0o600, "{stem}-key.pem");
        assert_eq!(mode(&cert), 0o644, "{stem}.pem");
        let text = peers::openssl_text(&cert);
        let subject = format!(
            "Subject: C = UK, ST = London, L = England, O = {o}, OU = DAREY.IO DEVOPS, CN = {cn}\n"
        );
        assert!(text.contains(&subject), "{stem}: want {subject}in\n{text}");
        assert!(text.contains("Public-Key: (2048 bit)"), "{stem}\n{text}");
        assert!(text.contains("sha256WithRSAEncryption"), "{stem}\n{text}");
        assert_eq!(openssl_sans(&cert), sans(hosts), "{stem}");
        if *stem == "ca" {
            assert!(text.contains("CA:TRUE"), "{text}");
            assert!(!text.contains("TLS Web Server Authentication"), "{text}");
        } else {
            assert!(text.contains("CA:FALSE"), "{stem}\n{text}");
            assert!(
                text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
                "{stem}\n{text}"
            );
            assert!(
                text.contains("Digital Signature, Key Encipherment"),
                "{stem}\n{text}"
            );
            assert!(
                text.contains("Issuer: C = UK, ST = London, L = England, O = Kubernetes, OU = DAREY.IO DEVOPS, CN = Kubernetes"),
                "{stem}\n{text}"
            );
        }
        // The key file is the certificate's key, by openssl's reckoning.
        let from_cert =
            peers::openssl(&["x509", "-noout", "-pubkey", "-in", &cert.to_string_lossy()]);
        let from_key = peers::openssl(&["pkey", "-pubout", "-in", &key.to_string_lossy()]);
        assert_eq!(from_cert, from_key, "{stem}");
    }
    // Nothing else: 10 pairs, 7 kubeconfigs, 1 encryption config.
    let names: BTreeSet<String> = snapshot(&d).into_keys().collect();
    assert_eq!(
        names.len(),
        STEMS.len() * 2 + KUBECONFIGS.len() + 1,
        "{names:?}"
    );

    // A certificate from another CA does not verify against this one.
    let other = Project::new();
    run_pki(&other, &["--set", SET_ADDRESS]).ok();
    let err = peers::openssl_verify_result(&ca, &pki_dir(&other).join("admin.pem")).unwrap_err();
    assert!(
        err.contains("unable to get local issuer certificate") || err.contains("signature failure"),
        "{err}"
    );
}

#[test]
fn kubectl_reads_every_kubeconfig() {
    let p = Project::new();
    run_pki(&p, &["--set", SET_ADDRESS]).ok();
    let d = pki_dir(&p);
    let ca_pem = fs::read_to_string(d.join("ca.pem")).unwrap();
    for (name, server) in KUBECONFIGS {
        let path = d.join(format!("{name}.kubeconfig"));
        assert_eq!(mode(&path), 0o600, "{name}");
        let json: serde_json::Value = serde_json::from_str(&peers::kubectl_view(&path)).unwrap();
        let user = fs::read_to_string(d.join(format!("{name}.pem"))).unwrap();
        let key = fs::read_to_string(d.join(format!("{name}-key.pem"))).unwrap();
        let cn = peers::openssl(&[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "multiline",
            "-in",
            &d.join(format!("{name}.pem")).to_string_lossy(),
        ]);
        let cn = cn
            .lines()
            .find_map(|l| l.trim().strip_prefix("commonName"))
            .unwrap()
            .trim()
            .trim_start_matches('=')
            .trim()
            .to_string();
        assert_eq!(json["current-context"], "default", "{name}");
        assert_eq!(json["contexts"][0]["name"], "default");
        assert_eq!(json["contexts"][0]["context"]["cluster"], CLUSTER);
        assert_eq!(json["contexts"][0]["context"]["user"], cn.as_str());
        assert_eq!(json["clusters"][0]["name"], CLUSTER);
        assert_eq!(json["clusters"][0]["cluster"]["server"], *server, "{name}");
        assert_eq!(json["users"][0]["name"], cn.as_str());
        let decode = |v: &serde_json::Value| {
            String::from_utf8(STANDARD.decode(v.as_str().unwrap()).unwrap()).unwrap()
        };
        assert_eq!(
            decode(&json["clusters"][0]["cluster"]["certificate-authority-data"]),
            ca_pem
        );
        assert_eq!(
            decode(&json["users"][0]["user"]["client-certificate-data"]),
            user
        );
        assert_eq!(decode(&json["users"][0]["user"]["client-key-data"]), key);
    }
    // The encryption config: aescbc with a 32-byte key, then identity.
    let enc = d.join("encryption-config.yaml");
    assert_eq!(mode(&enc), 0o600);
    let text = fs::read_to_string(&enc).unwrap();
    assert!(
        text.starts_with("kind: EncryptionConfiguration\napiVersion: apiserver.config.k8s.io/v1\n"),
        "{text}"
    );
    let secret = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .unwrap()
        .trim_matches('"');
    assert_eq!(STANDARD.decode(secret).unwrap().len(), 32);
    let aescbc = text.find("- aescbc:").unwrap();
    let identity = text.find("- identity: {}").unwrap();
    assert!(aescbc < identity, "{text}");
}

#[test]
fn etcd_cluster_serves_mutual_tls_with_master_kubernetes() {
    let p = Project::new();
    run_pki(&p, &["--set", SET_ADDRESS]).ok();
    let d = pki_dir(&p);
    let ca = d.join("ca.pem");
    let cert = d.join("master-kubernetes.pem");
    let key = d.join("master-kubernetes-key.pem");
    let t = Instant::now();
    let cluster = peers::EtcdCluster::start(&ca, &cert, &key);
    eprintln!("etcd healthy after {:?}", t.elapsed());
    let eps = &cluster.endpoints;

    // With the generated certificate: all three members healthy.
    let out = peers::etcdctl_health(eps, &ca, Some(&cert), Some(&key)).unwrap();
    assert_eq!(out.matches("is healthy").count(), 3, "{out}");
    // Peer traffic works: a write on one member is read on another.
    peers::etcdctl(
        &eps[..1],
        &ca,
        Some(&cert),
        Some(&key),
        &["put", "groundup", "pki"],
    )
    .unwrap();
    let got = peers::etcdctl(
        &eps[2..],
        &ca,
        Some(&cert),
        Some(&key),
        &["get", "groundup"],
    )
    .unwrap();
    assert!(got.contains("pki"), "{got}");

    // Without a client certificate: refused.
    let err = peers::etcdctl_health(eps, &ca, None, None).unwrap_err();
    assert!(!err.contains("is healthy"), "{err}");
    assert!(
        cluster
            .logs()
            .contains("client didn't provide a certificate"),
        "{}",
        cluster.logs_tail()
    );
    // With a client certificate from another CA: refused.
    let other = Project::new();
    run_pki(
        &other,
        &["--set", SET_ADDRESS, "--set", "key_algorithm=ecdsa-p256"],
    )
    .ok();
    let od = pki_dir(&other);
    let err = peers::etcdctl_health(
        eps,
        &ca,
        Some(&od.join("admin.pem")),
        Some(&od.join("admin-key.pem")),
    )
    .unwrap_err();
    assert!(!err.contains("is healthy"), "{err}");
}

/// Runs `pki check`, expecting failure with `line` among its problems.
fn check_fails_with(p: &Project, line: &str) {
    let run = check(p, &["--set", SET_ADDRESS]).expect_code(2);
    assert!(
        run.stdout.contains(&format!("  - {line}\n")),
        "want the problem line\n  - {line}\n--- stdout\n{}",
        run.stdout
    );
    assert!(
        run.err_flat().contains("pki check failed"),
        "{}",
        run.stderr
    );
}

/// Copies every file of `from` to `to` (modes included), replacing.
fn restore(from: &Path, to: &Path) {
    for e in fs::read_dir(to).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn pki_check_passes_fresh_output_and_names_each_tampering() {
    let p = Project::new();
    run_pki(&p, &["--set", SET_ADDRESS]).ok();
    let d = pki_dir(&p);

    let run = check(&p, &["--set", SET_ADDRESS]).ok();
    assert!(run.stdout.contains("no problems found"), "{}", run.stdout);
    for stem in STEMS {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{stem} "))),
            "no row for {stem}:\n{}",
            run.stdout
        );
    }
    let master_row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("master-kubernetes "))
        .unwrap();
    assert!(master_row.contains(" 17 "), "{master_row}");
    let j = check(&p, &["--set", SET_ADDRESS, "--json"]).ok().json();
    assert_eq!(j["ok"], true, "{j}");
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), STEMS.len());
    for r in rows {
        assert_eq!(r["key_matches"], true, "{r}");
        assert_eq!(r["chains_to_ca"], true, "{r}");
        assert_eq!(r["key_mode"], "0600", "{r}");
        assert!(r["days_left"].as_i64().unwrap() >= 364, "{r}");
    }
    assert_eq!(j["problems"].as_array().unwrap().len(), 0);

    let pristine = tempfile::tempdir().unwrap();
    for e in fs::read_dir(&d).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), pristine.path().join(e.file_name())).unwrap();
    }

    // 1. Wrong CA: admin's pair comes from another cluster's CA.
    let other = Project::new();
    run_pki(&other, &["--set", SET_ADDRESS]).ok();
    for f in ["admin.pem", "admin-key.pem"] {
        fs::copy(pki_dir(&other).join(f), d.join(f)).unwrap();
    }
    check_fails_with(
        &p,
        &format!(
            "{}: not signed by the CA (issuer CN \"Kubernetes\")",
            rel("admin.pem")
        ),
    );
    let j = check(&p, &["--set", SET_ADDRESS, "--json"])
        .expect_code(2)
        .json();
    assert_eq!(j["ok"], false);
    restore(pristine.path(), &d);

    // 2. Missing SANs: the API server certificate re-issued, by a script,
    //    with loopback only.
    fs::write(
        p.path().join("narrow.rhai"),
        "let ca = pki::load_ca(\"ca\");\n\
         let c = pki::cert(ca, \"master-kubernetes\", #{ cn: \"kubernetes\", o: \"Kubernetes\", hosts: [\"127.0.0.1\"] });\n\
         print(c.status);\n",
    )
    .unwrap();
    let run = p.run(&["run", "narrow.rhai"]).ok();
    no_key_material(&run);
    assert!(
        run.stdout.contains("re-issued: SANs changed: -"),
        "{}",
        run.stdout
    );
    check_fails_with(
        &p,
        &format!(
            "{}: API server certificate lacks required SANs: 172.31.0.10, 172.31.0.11, \
             172.31.0.12, 172.32.0.1, {ADDRESS}",
            rel("master-kubernetes.pem")
        ),
    );
    restore(pristine.path(), &d);

    // 3. A short encryption key (8 bytes).
    let enc = d.join("encryption-config.yaml");
    let text = fs::read_to_string(&enc).unwrap();
    let secret = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .unwrap()
        .to_string();
    fs::write(
        &enc,
        text.replace(&secret, &format!("\"{}\"", STANDARD.encode([7u8; 8]))),
    )
    .unwrap();
    check_fails_with(
        &p,
        &format!(
            "{}: the aescbc key is 8 bytes; it must be 16, 24 or 32",
            rel("encryption-config.yaml")
        ),
    );
    // ... and the runbook refuses to carry on with it rather than replace it.
    let run = run_pki(&p, &["--set", SET_ADDRESS]).expect_code(2);
    assert!(
        run.err_flat().contains("its aescbc key is 8 bytes"),
        "{}",
        run.stderr
    );
    restore(pristine.path(), &d);

    // 4. A key file readable by others.
    let key = d.join("kube-proxy-key.pem");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    check_fails_with(
        &p,
        &format!(
            "{}: mode 0644 is too open (want 0600)",
            rel("kube-proxy-key.pem")
        ),
    );
    restore(pristine.path(), &d);

    // 5. A kubelet certificate that no longer matches its node: the node
    //    moved (compute's state says so).
    let state = serde_json::json!({
        "kubernetes_public_address": ADDRESS,
        "nodes": nodes_state(&[("3.1.2.3", 0)], &[("3.1.2.30", 0), ("3.1.2.31", 1), ("3.1.2.32", 2)]),
    });
    fs::write(
        p.state_dir().join(CLUSTER).join("state.json"),
        serde_json::to_string_pretty(&state).unwrap(),
    )
    .unwrap();
    check_fails_with(
        &p,
        &format!(
            "{}: SANs do not match the node: missing 3.1.2.30",
            rel("k8s-cluster-worker-0.pem")
        ),
    );

    // Fresh again: passes.
    fs::remove_file(p.state_dir().join(CLUSTER).join("state.json")).unwrap();
    check(&p, &["--set", SET_ADDRESS]).ok();

    // Without the public address the check cannot pass, and says why.
    let run = check(&p, &[]).expect_code(2);
    assert!(
        run.stdout.contains("--set kubernetes_public_address="),
        "{}",
        run.stdout
    );
    // Without a PKI at all: a clear error.
    let empty = Project::new();
    let run = check(&empty, &["--set", SET_ADDRESS]).expect_code(2);
    assert!(
        run.err_flat().contains("no PKI for cluster k8s-cluster"),
        "{}",
        run.stderr
    );
    assert!(
        run.err_flat().contains("groundup run pki"),
        "{}",
        run.stderr
    );
}

/// `nodes` as compute.rhai records them: masters at .10+i and workers at
/// .20+i of 172.31.0.0/24 with the given public IPs.
fn nodes_state(masters: &[(&str, usize)], workers: &[(&str, usize)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (role, list, base) in [("master", masters, 10), ("worker", workers, 20)] {
        for (public_ip, i) in list {
            let ip = format!("172.31.0.{}", base + i);
            let host = format!("ip-172-31-0-{}", base + i);
            m.insert(
                format!("{role}-{i}"),
                serde_json::json!({
                    "instance_id": format!("i-0{role}{i}"),
                    "role": role,
                    "index": i,
                    "private_ip": ip,
                    "public_ip": public_ip,
                    "hostname": host,
                    "private_dns": format!("{host}.us-east-2.compute.internal"),
                    "pod_cidr": if role == "worker" { format!("172.20.{i}.0/24") } else { String::new() },
                }),
            );
        }
    }
    serde_json::Value::Object(m)
}

#[test]
fn certificates_carry_the_addresses_compute_recorded() {
    let p = Project::new();
    let dir = p.state_dir().join(CLUSTER);
    fs::create_dir_all(&dir).unwrap();
    let nlb = "k8s-cluster-0123456789.elb.us-east-2.amazonaws.com";
    let state = serde_json::json!({
        "vpc_id": "vpc-0123",
        "kubernetes_public_address": nlb,
        "nodes": nodes_state(
            &[("18.1.1.10", 0), ("18.1.1.11", 1)],
            &[("3.14.15.92", 0), ("3.14.15.93", 1)],
        ),
    });
    fs::write(
        dir.join("state.json"),
        serde_json::to_string_pretty(&state).unwrap(),
    )
    .unwrap();

    // No --set: the address and the nodes come from state.
    run_pki(&p, &[]).ok();
    let d = pki_dir(&p);
    for (i, public) in [(0, "3.14.15.92"), (1, "3.14.15.93")] {
        let cert = d.join(format!("k8s-cluster-worker-{i}.pem"));
        peers::openssl_verify(&d.join("ca.pem"), &cert);
        let host = format!("ip-172-31-0-{}", 20 + i);
        let ip = format!("172.31.0.{}", 20 + i);
        assert_eq!(
            openssl_sans(&cert),
            sans(&[&host, public, &ip]),
            "worker {i}"
        );
        let text = peers::openssl_text(&cert);
        assert!(
            text.contains(&format!("CN = system:node:{host}\n")),
            "{text}"
        );
    }
    // Two workers in state: two kubelet certificates, not three.
    assert!(!d.join("k8s-cluster-worker-2.pem").exists());
    let api = openssl_sans(&d.join("master-kubernetes.pem"));
    for want in [
        "IP Address:172.31.0.10",
        "IP Address:172.31.0.11",
        "IP Address:172.32.0.1",
    ] {
        assert!(api.contains(want), "{want} not in {api:?}");
    }
    assert!(api.contains(&format!("DNS:{nlb}")), "{api:?}");
    assert!(!api.contains("IP Address:172.31.0.12"), "{api:?}");
    let admin: serde_json::Value =
        serde_json::from_str(&peers::kubectl_view(&d.join("admin.kubeconfig"))).unwrap();
    assert_eq!(
        admin["clusters"][0]["cluster"]["server"],
        format!("https://{nlb}:6443")
    );
    // The check agrees, reading the same state.
    let run = check(&p, &[]).ok();
    assert!(run.stdout.contains("no problems found"), "{}", run.stdout);
}

#[test]
fn rerun_keeps_everything_and_a_changed_setting_reissues_only_what_it_affects() {
    let p = Project::new();
    run_pki(&p, &["--set", SET_ADDRESS]).ok();
    let d = pki_dir(&p);
    let first = snapshot(&d);

    // Re-run: every file byte-identical (CA, leaves, keys, kubeconfigs,
    // encryption key), and the summary says so.
    let run = run_pki(&p, &["--set", SET_ADDRESS, "--json"]).ok();
    let j = run.json();
    assert_eq!(j["created"], 0, "{j}");
    assert_eq!(j["reused"], STEMS.len() + KUBECONFIGS.len() + 1, "{j}");
    assert_eq!(snapshot(&d), first);
    let fp = |stem: &str| {
        peers::openssl(&[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            &d.join(format!("{stem}.pem")).to_string_lossy(),
        ])
    };
    let fps: Vec<String> = STEMS.iter().map(|s| fp(s)).collect();

    // Two masters instead of three: only the API server certificate (and
    // nothing that embeds it: no kubeconfig does) changes.
    let run = run_pki(&p, &["--set", SET_ADDRESS, "--set", "masters=2"]).ok();
    assert!(
        run.stdout.contains("Cert master-kubernetes: ") && run.stdout.contains("re-issued: SANs changed: -172.31.0.12 -ip-172-31-0-12 -ip-172-31-0-12.us-east-2.compute.internal"),
        "{}",
        run.stdout
    );
    let second = snapshot(&d);
    let changed: Vec<&String> = first
        .keys()
        .filter(|k| first.get(*k) != second.get(*k))
        .collect();
    assert_eq!(
        changed,
        vec!["master-kubernetes-key.pem", "master-kubernetes.pem"]
    );
    for (stem, before) in STEMS.iter().zip(&fps) {
        if *stem != "master-kubernetes" {
            assert_eq!(&fp(stem), before, "{stem}");
        }
    }
    assert_eq!(
        openssl_sans(&d.join("master-kubernetes.pem")),
        sans(
            &master_hosts(2)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        )
    );
    check(&p, &["--set", SET_ADDRESS, "--set", "masters=2"]).ok();

    // Another key type re-issues every leaf, but never the CA or the
    // encryption key; the kubeconfigs follow their certificates.
    run_pki(
        &p,
        &[
            "--set",
            SET_ADDRESS,
            "--set",
            "masters=2",
            "--set",
            "key_algorithm=ecdsa-p256",
        ],
    )
    .ok();
    let third = snapshot(&d);
    for keep in ["ca.pem", "ca-key.pem", "encryption-config.yaml"] {
        assert_eq!(third[keep], first[keep], "{keep}");
    }
    for (name, _) in KUBECONFIGS {
        assert_ne!(
            third[&format!("{name}.kubeconfig")],
            second[&format!("{name}.kubeconfig")],
            "{name}"
        );
    }
    let text = peers::openssl_text(&d.join("admin.pem"));
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
    check(&p, &["--set", SET_ADDRESS, "--set", "masters=2"]).ok();
}

#[test]
fn ecdsa_p256_output_verifies_and_passes_the_check() {
    let p = Project::new();
    let t = Instant::now();
    run_pki(
        &p,
        &["--set", SET_ADDRESS, "--set", "key_algorithm=ecdsa-p256"],
    )
    .ok();
    eprintln!("run pki (ecdsa-p256, debug build): {:?}", t.elapsed());
    let d = pki_dir(&p);
    for stem in STEMS {
        let cert = d.join(format!("{stem}.pem"));
        peers::openssl_verify(&d.join("ca.pem"), &cert);
        let text = peers::openssl_text(&cert);
        assert!(text.contains("ASN1 OID: prime256v1"), "{stem}\n{text}");
        assert!(text.contains("ecdsa-with-SHA256"), "{stem}\n{text}");
    }
    check(&p, &["--set", SET_ADDRESS]).ok();
}

#[test]
fn plan_writes_nothing_and_lists_every_file_without_key_material() {
    let p = Project::new();
    let run = run_pki(&p, &["--plan", "--set", SET_ADDRESS, "--json"]).ok();
    assert!(!p.state_dir().exists(), "plan wrote under the state dir");
    let ops = run.json()["plan"].as_array().unwrap().clone();
    let paths: Vec<String> = ops
        .iter()
        .map(|o| {
            assert_eq!(o["operation"], "WriteFile", "{o}");
            o["params"]["path"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        ops.len(),
        STEMS.len() * 2 + KUBECONFIGS.len() + 1,
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.ends_with("pki/ca-key.pem")),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("pki/encryption-config.yaml"))
    );
    for o in &ops {
        if o["params"]["path"].as_str().unwrap().ends_with("-key.pem") {
            assert_eq!(o["params"]["mode"], "0600", "{o}");
        }
    }

    // After a real run, a plan with other settings lists only what changes.
    run_pki(&p, &["--set", SET_ADDRESS]).ok();
    let before = snapshot(&pki_dir(&p));
    let run = run_pki(
        &p,
        &[
            "--plan",
            "--set",
            SET_ADDRESS,
            "--set",
            "masters=2",
            "--json",
        ],
    )
    .ok();
    let ops = run.json()["plan"].as_array().unwrap().clone();
    let paths: Vec<&str> = ops
        .iter()
        .map(|o| o["params"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths[0].ends_with("pki/master-kubernetes-key.pem"),
        "{paths:?}"
    );
    assert!(paths[1].ends_with("pki/master-kubernetes.pem"), "{paths:?}");
    assert!(
        ops[0]["params"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("re-issue (SANs changed")
    );
    assert_eq!(snapshot(&pki_dir(&p)), before, "plan changed the PKI");
}

#[test]
fn a_missing_public_address_is_a_clear_error() {
    let p = Project::new();
    let run = run_pki(&p, &[]).expect_code(2);
    let err = run.err_flat();
    assert!(
        err.contains("the Kubernetes public address is unknown"),
        "{err}"
    );
    assert!(err.contains("--set kubernetes_public_address="), "{err}");
    assert!(err.contains("pki.rhai:"), "no script position in {err}");
    assert!(!pki_dir(&p).join("ca.pem").exists());
}

#[test]
fn scripts_name_files_by_stem_never_by_path() {
    let p = Project::new();
    for (call, want) in [
        (
            "pki::ca(\"../evil\", #{ cn: \"x\" })",
            "stem `../evil` is not a file name",
        ),
        (
            "pki::ca(\"/etc/passwd\", #{ cn: \"x\" })",
            "stem `/etc/passwd` is not a file name",
        ),
        (
            "pki::cert(pki::ca(\"ca\", #{ cn: \"K\" }), \"admin-key\", #{ cn: \"x\" })",
            "would clash with a private key file",
        ),
        (
            "pki::cert(pki::ca(\"ca\", #{ cn: \"K\" }), \"ca\", #{ cn: \"x\" })",
            "a leaf would overwrite the CA",
        ),
        (
            "pki::encryption_config(\"../../x\")",
            "name `../../x` is not a file name",
        ),
        ("pki::load(\"a/b\")", "stem `a/b` is not a file name"),
        (
            "pki::cert(pki::ca(\"ca\", #{ cn: \"K\" }), \"x\", #{ cn: \"x\", colour: 1 })",
            "unknown field `colour`",
        ),
        (
            "pki::cert(pki::ca(\"ca\", #{ cn: \"K\" }), \"x\", #{ cn: \"x\", usages: [\"code signing\"] })",
            "unknown usage `code signing`",
        ),
        (
            "pki::cert(pki::load(\"ca\"), \"x\", #{ cn: \"x\" })",
            "cannot sign: pass the CA",
        ),
    ] {
        fs::write(p.path().join("bad.rhai"), format!("{call};\n")).unwrap();
        let run = p
            .run(&["--set", "key_algorithm=ecdsa-p256", "run", "bad.rhai"])
            .expect_code(2);
        assert!(
            run.err_flat().contains(want),
            "{call}: want {want:?} in\n{}",
            run.stderr
        );
        assert!(
            run.err_flat().contains("bad.rhai:1:"),
            "{call}: no position in\n{}",
            run.stderr
        );
    }
    // Nothing escaped the PKI directory.
    assert!(!p.path().join("evil.pem").exists());
    assert!(!p.state_dir().join("evil.pem").exists());
    assert!(!p.state_dir().join(CLUSTER).join("evil.pem").exists());
}

#[test]
fn repl_style_values_show_facts_not_keys() {
    let p = Project::new();
    fs::write(
        p.path().join("show.rhai"),
        r#"
let ca = pki::ca("ca", #{ cn: "Kubernetes", o: "Kubernetes" });
let c = pki::cert(ca, "web", #{ cn: "web", hosts: ["10.0.0.1", "web.local"], usages: ["client auth"] });
print(c);
print(c.key);
print(`sans=${c.sans} dns=${c.dns_sans} ip=${c.ip_sans}`);
print(`issuer=${c.issuer} ca=${c.is_ca} server=${c.server_auth} client=${c.client_auth}`);
print(`fp=${c.fingerprint.len()} days=${c.days_left} alg=${c.key_algorithm}`);
let again = pki::load("web");
print(`same=${again.fingerprint == c.fingerprint} matches=${again.key.matches_cert} mode=${again.key.mode}`);
let seen = pki::inspect(c.pem);
print(`inspected=${seen.cn}`);
let k = pki::kubeconfig("web", ca, c, "https://10.0.0.1:6443");
print(k);
print(pki::encryption_config("enc"));
print(`dir=${pki::dir()}`);
let report = pki::check();
print(`ok=${report.ok} rows=${report.rows.len()} first=${report.rows[0].stem}`);
"#,
    )
    .unwrap();
    let run = p
        .run(&["--set", "key_algorithm=ecdsa-p256", "run", "show.rhai"])
        .ok();
    no_key_material(&run);
    let out = &run.stdout;
    assert!(
        out.contains("Cert web: CN=web, SANs [web.local, 10.0.0.1], ecdsa-p256, until "),
        "{out}"
    );
    assert!(
        out.contains("PrivateKey ")
            && out.contains("web-key.pem (ecdsa-p256, mode 0600, matches its certificate)"),
        "{out}"
    );
    assert!(
        out.contains("sans=[\"web.local\", \"10.0.0.1\"] dns=[\"web.local\"] ip=[\"10.0.0.1\"]"),
        "{out}"
    );
    assert!(
        out.contains("issuer=Kubernetes ca=false server=false client=true"),
        "{out}"
    );
    assert!(out.contains("fp=95 days=364 alg=ecdsa-p256"), "{out}");
    assert!(out.contains("same=true matches=true mode=0600"), "{out}");
    assert!(out.contains("inspected=web"), "{out}");
    assert!(
        out.contains(
            "Kubeconfig web: user web -> https://10.0.0.1:6443 (context default), created"
        ),
        "{out}"
    );
    assert!(
        out.contains("secrets with aescbc (32-byte key) then identity, created"),
        "{out}"
    );
    assert!(out.contains("dir=.groundup/k8s-cluster/pki"), "{out}");
    // Only a CA and one leaf: the check finds the lesson's certificates missing.
    assert!(out.contains("ok=false rows=2 first=ca"), "{out}");
}

#[test]
fn pki_help_has_examples_and_fns_documents_the_namespace() {
    let p = Project::new();
    for args in [&["pki", "--help"][..], &["pki", "check", "--help"][..]] {
        let run = p.run(args).ok();
        assert!(
            run.stdout.contains("Examples:"),
            "{args:?}:\n{}",
            run.stdout
        );
    }
    let run = p.run(&["pki", "--help"]).ok();
    assert!(
        run.stdout.contains("move ca.pem and ca-key.pem away"),
        "{}",
        run.stdout
    );
    let run = p.run(&["fns", "pki"]).ok();
    for f in [
        "pki::ca(",
        "pki::load_ca(",
        "pki::cert(",
        "pki::certs(",
        "pki::load(",
        "pki::inspect(",
        "pki::kubeconfig(",
        "pki::encryption_config(",
        "pki::public_address(",
        "pki::dir(",
        "pki::check(",
    ] {
        assert!(run.stdout.contains(f), "{f} missing from\n{}", run.stdout);
    }
    assert!(run.stdout.contains("keys generated in"), "{}", run.stdout);
}

#[test]
fn leaves_inside_the_renewal_window_are_reissued_but_never_the_ca() {
    let p = Project::new();
    let short = [
        "--set",
        SET_ADDRESS,
        "--set",
        "key_algorithm=ecdsa-p256",
        "--set",
        "cert_validity_days=20",
    ];
    run_pki(&p, &short).ok();
    let first = snapshot(&pki_dir(&p));
    // 20 days of validity is inside the 30-day renewal window: every leaf
    // is re-issued on the next run, saying why; the CA and the encryption
    // key are kept.
    let run = run_pki(&p, &short).ok();
    assert_eq!(
        run.stdout
            .matches("re-issued: expires in 19 days (renewal window 30 days)")
            .count(),
        STEMS.len() - 1,
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("CA ca: "), "{}", run.stdout);
    let second = snapshot(&pki_dir(&p));
    for keep in ["ca.pem", "ca-key.pem", "encryption-config.yaml"] {
        assert_eq!(first[keep], second[keep], "{keep}");
    }
    assert_ne!(first["admin.pem"], second["admin.pem"]);
    // With a 10-day window they are kept.
    let mut narrow = short.to_vec();
    narrow.extend(["--set", "renew_within_days=10"]);
    run_pki(&p, &narrow).ok();
    assert_eq!(snapshot(&pki_dir(&p)), second);
}

#[test]
fn the_ca_is_never_replaced_implicitly_and_rotates_when_moved_away() {
    let p = Project::new();
    let args = ["--set", SET_ADDRESS, "--set", "key_algorithm=ecdsa-p256"];
    run_pki(&p, &args).ok();
    let d = pki_dir(&p);
    let first = snapshot(&d);

    // Half a CA (a crash between its key and its certificate, issue 18):
    // the certificate is made again from the same key, never a new CA, so
    // every certificate it signed still verifies and none is re-issued.
    fs::rename(d.join("ca.pem"), d.join("ca.pem.bak")).unwrap();
    let run = run_pki(&p, &args).ok();
    assert!(
        run.stdout.contains("made again from the CA's key"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout
            .matches("re-issued: signed by another CA")
            .count(),
        0
    );
    assert_eq!(fs::read(d.join("ca-key.pem")).unwrap(), first["ca-key.pem"]);
    for stem in STEMS.iter().filter(|s| **s != "ca") {
        peers::openssl_verify(&d.join("ca.pem"), &d.join(format!("{stem}.pem")));
    }

    // Rotation on purpose: both files moved away. A new CA; every leaf is
    // re-issued because it was signed by the old one; the encryption key
    // stays.
    fs::remove_file(d.join("ca.pem")).unwrap();
    fs::rename(d.join("ca-key.pem"), d.join("ca-key.pem.bak")).unwrap();
    let run = run_pki(&p, &args).ok();
    assert_eq!(
        run.stdout
            .matches("re-issued: signed by another CA")
            .count(),
        STEMS.len() - 1,
        "{}",
        run.stdout
    );
    let second = snapshot(&d);
    assert_ne!(second["ca.pem"], first["ca.pem"]);
    assert_eq!(
        second["encryption-config.yaml"],
        first["encryption-config.yaml"]
    );
    fs::remove_file(d.join("ca.pem.bak")).unwrap();
    fs::remove_file(d.join("ca-key.pem.bak")).unwrap();
    for stem in STEMS {
        peers::openssl_verify(&d.join("ca.pem"), &d.join(format!("{stem}.pem")));
    }
    check(&p, &["--set", SET_ADDRESS]).ok();
}
