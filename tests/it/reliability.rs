//! Reliability: throttling, 500s and connection resets on the way to AWS;
//! two processes on one cluster; the sandbox; secrets never shown.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::lifecycle::{ONE_CLUSTER_IN_REGION, count_all, count_region, region_delta};
use crate::proxy::{FaultProxy, Faults, is_mutating};
use crate::support::{Moto, Project, Sdk};

/// `up` for network + compute (every AWS create of the lesson; the PKI
/// makes no AWS request).
const UP: &[&str] = &["--set", "steps=network,compute", "up"];

fn up_args(endpoint: &str) -> Vec<&str> {
    let mut v = vec!["--endpoint", endpoint];
    v.extend_from_slice(UP);
    v
}

/// The mutating actions a clean `up` sends, in order (through a proxy that
/// only counts).
fn mutating_actions_of_up(moto: &Moto) -> Vec<String> {
    moto.reset();
    let proxy = FaultProxy::start(moto.port, Faults::default());
    Project::new().run(&up_args(&proxy.endpoint)).ok();
    let list: Vec<String> = proxy
        .stats
        .actions()
        .into_iter()
        .filter(|a| is_mutating(a))
        .collect();
    assert!(list.len() >= 20, "too few mutating requests: {list:?}");
    list
}

/// Asserts that a run through `proxy` sent only reads (`Describe*`).
fn only_reads(proxy: &FaultProxy, what: &str) {
    let writes: Vec<String> = proxy
        .stats
        .actions()
        .into_iter()
        .filter(|a| !a.starts_with("Describe"))
        .collect();
    assert!(
        writes.is_empty(),
        "{what}: the re-run changed something: {writes:?}"
    );
    assert!(
        !proxy.stats.actions().is_empty(),
        "{what}: the re-run made no request at all"
    );
}

#[test]
fn a_lost_answer_to_any_mutating_request_of_up_leaves_everything_exactly_once() {
    let moto = Moto::start();
    let sdk = Sdk::new(&moto);
    let actions = mutating_actions_of_up(&moto);
    moto.reset();
    let base = count_region(&sdk);
    let start = Instant::now();
    for (i, action) in actions.iter().enumerate() {
        let n = i as u64 + 1;
        moto.reset();
        let p = Project::new();
        let proxy = FaultProxy::start(
            moto.port,
            Faults {
                drop_answer: Some(n),
                ..Faults::default()
            },
        );
        let run = p.run(&up_args(&proxy.endpoint));
        assert_eq!(
            proxy.stats.dropped.load(Ordering::SeqCst),
            1,
            "answer {n} ({action}) was not dropped"
        );
        assert_eq!(
            run.code, 0,
            "up failed after the answer to {action} (#{n}) was lost:\n{}",
            run.stderr
        );
        assert_eq!(
            region_delta(&sdk, base),
            ONE_CLUSTER_IN_REGION,
            "after the answer to {action} (#{n}) was lost"
        );
        // The re-run finds everything and changes nothing.
        let again = FaultProxy::start(moto.port, Faults::default());
        p.run(&up_args(&again.endpoint)).ok();
        only_reads(&again, &format!("after losing {action} (#{n})"));
        assert_eq!(region_delta(&sdk, base), ONE_CLUSTER_IN_REGION);
    }
    eprintln!(
        "lost-answer loop: {} mutating requests, {:.1} s",
        actions.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn up_killed_right_after_any_mutating_request_converges_exactly_once() {
    use std::os::unix::process::ExitStatusExt;
    let moto = Moto::start();
    let sdk = Sdk::new(&moto);
    let actions = mutating_actions_of_up(&moto);
    moto.reset();
    let base = count_region(&sdk);
    let start = Instant::now();
    for (i, action) in actions.iter().enumerate() {
        let n = i as u64 + 1;
        moto.reset();
        let p = Project::new();
        let proxy = FaultProxy::start(
            moto.port,
            Faults {
                kill_after: Some(n),
                ..Faults::default()
            },
        );
        let mut child = p
            .cmd(&up_args(&proxy.endpoint))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        proxy.set_victim(child.id());
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "up was not killed after {action} (#{n}): {status:?}"
        );
        let path = p.state_dir().join("k8s-cluster/state.json");
        if path.exists() {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("state.json corrupt after a kill after {action}: {e}"));
        }
        let delta = region_delta(&sdk, base);
        assert!(
            delta
                .iter()
                .zip(ONE_CLUSTER_IN_REGION)
                .all(|(d, one)| *d <= one),
            "duplicates after a kill after {action} (#{n}): {delta:?}"
        );
        let run = p.run_on(&moto, UP);
        assert_eq!(
            run.code, 0,
            "the re-run after a kill after {action} (#{n}) failed:\n{}",
            run.stderr
        );
        assert_eq!(
            region_delta(&sdk, base),
            ONE_CLUSTER_IN_REGION,
            "after a kill after {action} (#{n}) and a re-run"
        );
    }
    eprintln!(
        "kill-point loop: {} mutating requests, {:.1} s",
        actions.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn up_and_down_survive_throttling_and_resets() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        moto.port,
        Faults {
            throttle: 0.20,
            reset: 0.05,
            internal: 0.0,
            seed: 7,
            ..Faults::default()
        },
    );
    let p = Project::new();
    let sdk = Sdk::new(&moto);
    let run = p.run(&[
        "--endpoint",
        &proxy.endpoint,
        "--set",
        "steps=network,compute",
        "up",
    ]);
    assert_eq!(run.code, 0, "up failed under faults:\n{}", run.stderr);
    assert_eq!(
        count_all(&sdk, "k8s-cluster"),
        [1, 1, 1, 1, 1, 1, 1, 1, 6, 1],
        "exactly once"
    );
    let run = p.run(&[
        "--endpoint",
        &proxy.endpoint,
        "--set",
        "steps=network,compute",
        "down",
        "--yes",
    ]);
    assert_eq!(run.code, 0, "down failed under faults:\n{}", run.stderr);
    assert_eq!(count_all(&sdk, "k8s-cluster"), [0; 10]);
    let s = &proxy.stats;
    let (t, r, f) = (
        s.throttled.load(Ordering::SeqCst),
        s.resets.load(Ordering::SeqCst),
        s.forwarded.load(Ordering::SeqCst),
    );
    assert!(
        t >= 5 && r >= 1,
        "faults were injected: {t} throttled, {r} resets, {f} forwarded"
    );
}

#[test]
fn internal_errors_are_retried_too() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        moto.port,
        Faults {
            throttle: 0.0,
            reset: 0.0,
            internal: 0.3,
            seed: 11,
            ..Faults::default()
        },
    );
    let p = Project::new();
    let run = p.run(&["--endpoint", &proxy.endpoint, "run", "network"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(proxy.stats.internal.load(Ordering::SeqCst) > 0);
    assert_eq!(
        crate::network::count_network(&Sdk::new(&moto), "k8s-cluster"),
        [1; 8]
    );
}

#[test]
fn not_yet_visible_ids_are_retried() {
    // Right after RunInstances, AWS may not know the new instance ID yet.
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        moto.port,
        Faults {
            not_found: Some(("ModifyInstanceAttribute", "InvalidInstanceID.NotFound", 3)),
            seed: 5,
            ..Faults::default()
        },
    );
    let p = Project::new();
    let run = p.run(&[
        "--endpoint",
        &proxy.endpoint,
        "--set",
        "masters=1",
        "--set",
        "workers=1",
        "run",
        "network",
        "compute",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.stats.not_found.load(Ordering::SeqCst), 3);
    assert_eq!(count_all(&Sdk::new(&moto), "k8s-cluster")[8], 2);
}

#[test]
fn too_few_attempts_fail_with_the_operation_and_code() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        moto.port,
        Faults {
            throttle: 1.0,
            reset: 0.0,
            internal: 0.0,
            seed: 3,
            ..Faults::default()
        },
    );
    let p = Project::new();
    let run = p
        .run(&[
            "--endpoint",
            &proxy.endpoint,
            "--set",
            "aws_max_attempts=2",
            "run",
            "network",
        ])
        .expect_code(2);
    let flat = run.err_flat();
    assert!(
        flat.contains(
            "ec2::create_vpc: DescribeVpcs: RequestLimitExceeded: Request limit exceeded."
        ),
        "{}",
        run.stderr
    );
    assert!(
        flat.contains("[<builtin>/runbooks/network.rhai:16:10]"),
        "{}",
        run.stderr
    );
    // aws_max_attempts=2: the one call was tried exactly twice, and nothing
    // reached moto.
    assert_eq!(proxy.stats.throttled.load(Ordering::SeqCst), 2);
    assert_eq!(proxy.stats.forwarded.load(Ordering::SeqCst), 0);
}

#[test]
fn a_second_process_on_the_same_cluster_is_told_it_is_busy() {
    let p = Project::new();
    let dir = p.state_dir().join("k8s-cluster");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join("lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(dir.join("lock"), "4242").unwrap();
    let moto = Moto::start();
    let run = p.run_on(&moto, &["run", "network"]).expect_code(2);
    assert!(
        run.stderr
            .contains("cluster k8s-cluster is busy (pid 4242)"),
        "{}",
        run.stderr
    );
    assert_eq!(moto.requests(), 0);
    drop(lock);
    p.run_on(&moto, &["run", "network"]).ok();
}

#[test]
fn runaway_scripts_are_stopped() {
    let p = Project::new();
    std::fs::write(p.path().join("loop.rhai"), "let x = 0;\nloop { x += 1; }\n").unwrap();
    let run = p.run(&["--plan", "run", "loop.rhai"]).expect_code(2);
    assert!(
        run.err_flat()
            .contains("the script was stopped after 20000000 operations (a runaway loop?)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("[loop.rhai:2:"), "{}", run.stderr);
    std::fs::write(p.path().join("deep.rhai"), "fn f(n) { f(n + 1) }\nf(0);\n").unwrap();
    let run = p.run(&["--plan", "run", "deep.rhai"]).expect_code(2);
    assert!(
        run.err_flat().contains("nested deeper than 64 levels"),
        "{}",
        run.stderr
    );
}

#[test]
fn scripts_cannot_reach_files_or_commands() {
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("stdlib")).unwrap();
    std::fs::write(p.path().join("secret.rhai"), "export const x = 1;").unwrap();
    for (script, want) in [
        (
            "import \"../secret\" as s;",
            "`../secret` is not a module name",
        ),
        (
            "import \"/etc/passwd\" as s;",
            "`/etc/passwd` is not a module name",
        ),
        (
            "eval(\"1\");",
            "Syntax error: reserved keyword 'eval' is disabled",
        ),
        ("system(\"id\");", "unknown function `system`"),
        (
            "let f = open_file(\"/etc/passwd\");",
            "unknown function `open_file`",
        ),
    ] {
        std::fs::write(p.path().join("t.rhai"), script).unwrap();
        let run = p.run(&["--plan", "run", "t.rhai"]).expect_code(2);
        assert!(run.err_flat().contains(want), "{script}: {}", run.stderr);
    }
}

#[test]
fn no_key_material_in_any_output() {
    let moto = Moto::start();
    let p = Project::new();
    let mut outputs = Vec::new();
    for args in [
        vec!["-v", "--set", "steps=network,compute", "up"],
        vec!["--json", "status"],
        vec!["--plan", "--set", "steps=network,compute", "up"],
        vec!["-v", "--json", "--set", "steps=network,compute", "up"],
    ] {
        let r = p.run_on(&moto, &args).ok();
        outputs.push(r.stdout);
        outputs.push(r.stderr);
    }
    let key =
        std::fs::read_to_string(p.state_dir().join("k8s-cluster/ssh/k8s-cluster.id_rsa")).unwrap();
    let body_line = key.lines().nth(1).unwrap().to_string();
    for o in &outputs {
        assert!(!o.contains("PRIVATE KEY"), "key material printed:\n{o}");
        assert!(!o.contains(&body_line), "key material printed:\n{o}");
    }
}

#[test]
fn pki_files_behind_symlinks_are_refused() {
    let p = Project::new();
    let pki = p.state_dir().join("k8s-cluster/pki");
    std::fs::create_dir_all(&pki).unwrap();
    let outside = p.path().join("outside.pem");
    std::fs::write(&outside, "not yours").unwrap();
    std::os::unix::fs::symlink(&outside, pki.join("ca-key.pem")).unwrap();
    let run = p
        .run(&[
            "--set",
            "kubernetes_public_address=k8s.example.test",
            "run",
            "pki",
        ])
        .expect_code(2);
    assert!(
        run.err_flat().contains(
            "ca-key.pem is a symbolic link: groundup reads and writes only regular files in"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "not yours");
}

// Claims of the README that had no test of their own.

#[test]
fn ctrl_c_during_up_or_run_exits_130() {
    // An endpoint that accepts and never answers: the run waits on its
    // first call until SIGINT arrives.
    for args in [vec!["--set", "steps=network", "up"], vec!["run", "network"]] {
        let server = crate::support::CountingServer::start(false);
        let p = Project::new();
        let mut all = vec!["--endpoint", server.endpoint.as_str()];
        all.extend_from_slice(&args);
        let child = p
            .cmd(&all)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while server.connections() == 0 && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(server.connections() > 0, "{args:?} never called AWS");
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let run = crate::support::collect(child.wait_with_output().unwrap());
        assert_eq!(run.code, 130, "{args:?}:\n{}", run.stderr);
        assert!(run.err_flat().contains("interrupted"), "{}", run.stderr);
    }
}

#[test]
fn down_that_leaves_something_lists_it_and_exits_2() {
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, UP).ok();
    // A teardown (the project's own copy) that deletes nothing: every
    // resource is a leftover.
    let shipped =
        std::fs::read_to_string(crate::support::repo().join("runbooks/teardown.rhai")).unwrap();
    let tail = &shipped[shipped
        .find("// 7. Anything left?")
        .expect("step 7 of teardown.rhai")..];
    std::fs::create_dir_all(p.path().join("runbooks")).unwrap();
    std::fs::write(
        p.path().join("runbooks/teardown.rhai"),
        format!("import \"cluster\" as cluster;\n{tail}"),
    )
    .unwrap();
    let run = p.run_on(&moto, &["down", "--yes"]).expect_code(2);
    let vpc = p.state("k8s-cluster")["vpc_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        run.stdout.contains(&format!("left over: vpc {vpc}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("left over: key-pair k8s-cluster"),
        "{}",
        run.stdout
    );
    assert!(
        run.err_flat()
            .contains("resource(s) of cluster k8s-cluster are still there (listed above)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_delete_blocked_by_a_dependency_is_retried_for_delete_timeout_secs() {
    let moto = Moto::start();
    let p = Project::new();
    p.run_on(&moto, &["run", "network"]).ok();
    // A subnet made by hand (untagged: groundup does not delete it) keeps
    // the VPC from being deleted.
    let sdk = Sdk::new(&moto);
    let vpc = p.state("k8s-cluster")["vpc_id"]
        .as_str()
        .unwrap()
        .to_string();
    sdk.block(
        sdk.ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("172.31.9.0/24")
            .send(),
    )
    .unwrap();
    let proxy = FaultProxy::start(moto.port, Faults::default());
    let run = p
        .run(&[
            "--endpoint",
            &proxy.endpoint,
            "--set",
            "delete_timeout_secs=2",
            "down",
            "--yes",
        ])
        .expect_code(2);
    assert!(
        run.err_flat().contains("DeleteVpc: DependencyViolation"),
        "{}",
        run.stderr
    );
    // The error names the exact script call (from Rhai's own name for it,
    // not a hand-written string) and where the runbook made it.
    assert!(
        run.err_flat()
            .contains("ec2::delete_vpcs: DeleteVpc: DependencyViolation: "),
        "{}",
        run.stderr
    );
    assert!(
        run.err_flat().contains("runbooks/teardown.rhai:"),
        "{}",
        run.stderr
    );
    // Tried at 0, 0.5, 1.5 and 3.5 s (backoff 0.5 s doubling), the last
    // one after the 2 s had run out: four attempts, not one.
    let tries = proxy
        .stats
        .actions()
        .iter()
        .filter(|a| *a == "DeleteVpc")
        .count();
    assert_eq!(tries, 4, "{:?}", proxy.stats.actions());
}

#[test]
fn a_changed_setting_on_an_existing_resource_is_an_error_never_a_replacement() {
    let moto = Moto::start();
    let sdk = Sdk::new(&moto);
    let base = count_region(&sdk);
    let p = Project::new();
    p.run_on(&moto, UP).ok();
    let vpc = p.state("k8s-cluster")["vpc_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = p
        .run_on(
            &moto,
            &[
                "--set",
                "vpc_cidr=10.20.0.0/16",
                "--set",
                "subnet_cidr=10.20.0.0/24",
                "run",
                "network",
            ],
        )
        .expect_code(2);
    assert!(
        run.err_flat().contains(&format!(
            "the cluster already has VPC {vpc} with 172.31.0.0/16, but vpc_cidr is 10.20.0.0/16"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        region_delta(&sdk, base),
        ONE_CLUSTER_IN_REGION,
        "nothing replaced or added"
    );
}

#[test]
fn key_files_are_private_even_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let moto = Moto::start();
    let p = Project::new();
    // The same command, started by a shell that sets umask 000 first.
    let base = p.cmd(&["--endpoint", &moto.endpoint, "up"]);
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(base.get_program())
        .args(base.get_args())
        .current_dir(base.get_current_dir().unwrap())
        .stdin(std::process::Stdio::null());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let out = sh.output().unwrap();
    crate::support::collect(out).ok();
    let dir = p.state_dir().join("k8s-cluster");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("ssh/k8s-cluster.id_rsa")), 0o400);
    let mut secrets = 0;
    for e in std::fs::read_dir(dir.join("pki")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with("-key.pem")
            || name.ends_with(".kubeconfig")
            || name == "encryption-config.yaml"
        {
            assert_eq!(mode(&path), 0o600, "{name}");
            secrets += 1;
        }
    }
    // 10 keys (CA, API server, 3 kubelets, kube-proxy, controller manager,
    // scheduler, admin, service accounts), 7 kubeconfigs, the encryption config.
    assert_eq!(secrets, 18);
}

#[test]
fn no_key_material_with_verbose_pki() {
    let p = Project::new();
    let run = p
        .run(&[
            "-v",
            "--set",
            "kubernetes_public_address=k8s.example.test",
            "run",
            "pki",
        ])
        .ok();
    let out = format!("{}\n{}", run.stdout, run.stderr);
    assert!(out.contains("admin"), "-v said nothing: {out}");
    let dir = p.state_dir().join("k8s-cluster/pki");
    let mut looked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with("-key.pem")
            || name.ends_with(".kubeconfig")
            || name == "encryption-config.yaml")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.len() >= 40) {
            let secret = line.trim().trim_start_matches("secret: ").trim_matches('"');
            let probe = &secret[secret.len().saturating_sub(40)..];
            assert!(!out.contains(probe), "{name} shown with -v");
            looked += 1;
        }
    }
    assert!(looked > 50, "only {looked} key lines looked for");
    assert!(!out.contains("PRIVATE KEY"), "{out}");
}

#[test]
fn a_ca_key_left_without_its_certificate_gets_it_back_and_every_certificate_still_verifies() {
    // A kill between writing ca-key.pem and ca.pem leaves the key alone.
    let p = Project::new();
    let pki_args = [
        "--set",
        "kubernetes_public_address=k8s.example.test",
        "run",
        "pki",
    ];
    p.run(&pki_args).ok();
    let dir = p.state_dir().join("k8s-cluster/pki");
    let key_before = std::fs::read(dir.join("ca-key.pem")).unwrap();
    std::fs::remove_file(dir.join("ca.pem")).unwrap();
    p.run(&pki_args).ok();
    assert!(dir.join("ca.pem").exists(), "the certificate is back");
    assert_eq!(
        std::fs::read(dir.join("ca-key.pem")).unwrap(),
        key_before,
        "the same CA key"
    );
    // The certificates issued before the kill chain to the re-made CA, and
    // were kept.
    let leaves: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".pem") && !n.ends_with("-key.pem") && n != "ca.pem")
        .collect();
    assert!(leaves.len() >= 9, "{leaves:?}");
    for leaf in &leaves {
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.join("ca.pem"))
            .arg(dir.join(leaf))
            .output()
            .unwrap();
        assert!(out.status.success(), "{leaf}: {out:?}");
    }
    let check = [
        "--set",
        "kubernetes_public_address=k8s.example.test",
        "pki",
        "check",
    ];
    let run = p.run(&check);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // `pki check` reads the kubeconfigs: one naming another server fails it.
    let admin = dir.join("admin.kubeconfig");
    let text = std::fs::read_to_string(&admin).unwrap();
    std::fs::write(
        &admin,
        text.replace("k8s.example.test", "elsewhere.example.test"),
    )
    .unwrap();
    let run = p.run(&check).expect_code(2);
    assert!(
        run.stdout.contains(
            ".groundup/k8s-cluster/pki/admin.kubeconfig: server is https://elsewhere.example.test:6443, but the API server is at https://k8s.example.test:6443 or https://127.0.0.1:6443"
        ),
        "{}",
        run.stdout
    );
}
