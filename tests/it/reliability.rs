//! Reliability: throttling, 500s and connection resets on the way to AWS;
//! two processes on one cluster; the sandbox; secrets never shown.

use std::sync::atomic::Ordering;

use crate::lifecycle::count_all;
use crate::proxy::{FaultProxy, Faults};
use crate::support::{Moto, Project, Sdk};

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
