//! etcd on the test nodes (lesson step 7): `runbooks/etcd.rhai` against
//! real masters (systemd-nspawn Debian nodes with sshd and systemd), with a
//! release served from the host side of the test network.
//!
//! The release fixture is etcd's own layout — `etcd-v3.4.23-linux-amd64/`
//! with `etcd` and `etcdctl` in a `.tar.gz`, and a `SHA256SUMS` — made from
//! Debian's etcd 3.4.23 binaries (`etcd-server`, `etcd-client`, which
//! scripts/test installs), so the nodes run a real etcd.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::peers::require_tool;

/// The version Debian bookworm ships, the lesson's 3.4 line.
pub const VERSION: &str = "3.4.23";

/// A release directory as etcd publishes it: `v<version>/` holding the
/// tarball and `SHA256SUMS`. Serve its parent and pass the served URL as
/// `etcd_release_url`.
pub struct Release {
    /// The directory to serve (it holds `v<version>/`).
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

/// The tarball's name.
pub fn tarball_name(version: &str) -> String {
    format!("etcd-v{version}-linux-amd64.tar.gz")
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds a release of `version` from the host's Debian etcd binaries. With
/// `corrupt`, `SHA256SUMS` lists a digest that is not the tarball's (as a
/// tampered mirror would).
pub fn build_release(version: &str, corrupt: bool) -> Release {
    require_tool("etcd", "etcd-server");
    require_tool("etcdctl", "etcd-client");
    require_tool("tar", "tar");
    let dir = tempfile::Builder::new()
        .prefix("groundup-etcd-release-")
        .tempdir()
        .expect("temp dir for the release");
    let stage = dir.path().join("stage");
    let top = stage.join(format!("etcd-v{version}-linux-amd64"));
    std::fs::create_dir_all(&top).expect("release staging dir");
    for bin in ["etcd", "etcdctl"] {
        let src = which(bin);
        std::fs::copy(&src, top.join(bin))
            .unwrap_or_else(|e| panic!("copy {} into the release: {e}", src.display()));
    }
    std::fs::write(
        top.join("README.md"),
        "etcd from Debian, packaged as etcd's release for groundup's tests\n",
    )
    .expect("release README");
    let vdir = dir.path().join("www").join(format!("v{version}"));
    std::fs::create_dir_all(&vdir).expect("release dir");
    let tgz = vdir.join(tarball_name(version));
    let st = Command::new("tar")
        .arg("-C")
        .arg(&stage)
        .args(["--owner=0", "--group=0", "-czf"])
        .arg(&tgz)
        .arg(format!("etcd-v{version}-linux-amd64"))
        .status()
        .expect("run tar");
    assert!(st.success(), "tar failed making {}", tgz.display());
    let digest = if corrupt {
        "0".repeat(64)
    } else {
        sha256_hex(&tgz)
    };
    // Other files of a real release are listed too.
    let sums = format!(
        "{}  etcd-v{version}-darwin-amd64.zip\n{digest}  {}\n",
        "1".repeat(64),
        tarball_name(version)
    );
    std::fs::write(vdir.join("SHA256SUMS"), sums).expect("SHA256SUMS");
    Release {
        root: dir.path().join("www"),
        _dir: dir,
    }
}

/// The good release, built once per test run.
pub fn release() -> &'static Release {
    static R: OnceLock<Release> = OnceLock::new();
    R.get_or_init(|| build_release(VERSION, false))
}

fn which(bin: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{bin} is not on PATH"))
}

#[test]
fn the_release_fixture_has_etcds_layout_and_checks_out() {
    let r = release();
    let vdir = r.root.join(format!("v{VERSION}"));
    let list = Command::new("tar")
        .arg("-tzf")
        .arg(vdir.join(tarball_name(VERSION)))
        .output()
        .expect("tar -t");
    let list = String::from_utf8_lossy(&list.stdout);
    for f in ["etcd", "etcdctl"] {
        assert!(
            list.lines()
                .any(|l| l == format!("etcd-v{VERSION}-linux-amd64/{f}")),
            "{f} missing from the tarball: {list}"
        );
    }
    // sha256sum itself agrees with SHA256SUMS for the tarball.
    let check = Command::new("sha256sum")
        .args(["--check", "--ignore-missing", "SHA256SUMS"])
        .current_dir(&vdir)
        .output()
        .expect("sha256sum");
    assert!(
        check.status.success(),
        "sha256sum --check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let bad = build_release(VERSION, true);
    let check = Command::new("sha256sum")
        .args(["--check", "--ignore-missing", "SHA256SUMS"])
        .current_dir(bad.root.join(format!("v{VERSION}")))
        .output()
        .expect("sha256sum");
    assert!(
        !check.status.success(),
        "the corrupt release must not check out"
    );
}

// --- On the test nodes --------------------------------------------------------

use crate::peers::{etcdctl, etcdctl_health};
use crate::support::{Moto, Project, Run};
use crate::testnodes::{TestNodes, public_key_of};

const CLUSTER: &str = "k8s-cluster";
const MASTERS: [&str; 3] = ["master-0", "master-1", "master-2"];

/// Moto, a project that ran network, compute, pki and distribute against
/// the six test nodes (the harness plays cloud-init: it authorizes the
/// cluster key), and the release served from the host side.
struct Lab {
    moto: Moto,
    p: Project,
    nodes: TestNodes,
    url: String,
}

impl Lab {
    fn new(release: &Release) -> Lab {
        let nodes = TestNodes::lesson();
        let url = nodes.serve(&release.root);
        let moto = Moto::start();
        let p = Project::new();
        p.run_on(
            &moto,
            &[
                "--set",
                "ssh_address=private",
                "--set",
                "steps=network,compute,pki",
                "up",
            ],
        )
        .ok();
        let key = p
            .state_dir()
            .join(CLUSTER)
            .join("ssh")
            .join(format!("{CLUSTER}.id_rsa"));
        nodes.authorize(&public_key_of(&key));
        let lab = Lab {
            moto,
            p,
            nodes,
            url,
        };
        lab.run(&["run", "distribute"]).ok();
        lab
    }

    /// groundup with private addresses and the served release.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(&self.url, args)
    }

    fn run_with(&self, url: &str, args: &[&str]) -> Run {
        let set = format!("etcd_release_url={url}");
        let mut all = vec!["--set", "ssh_address=private", "--set", &set];
        all.extend_from_slice(args);
        self.p.run_on(&self.moto, &all)
    }

    fn pki(&self, name: &str) -> PathBuf {
        self.p.state_dir().join(CLUSTER).join("pki").join(name)
    }

    /// Host etcdctl with the cluster CA and the admin client certificate.
    fn ctl(&self, endpoints: &[String], args: &[&str]) -> Result<String, String> {
        let (cert, key) = (self.pki("admin.pem"), self.pki("admin-key.pem"));
        etcdctl(
            endpoints,
            &self.pki("ca.pem"),
            Some(cert.as_path()),
            Some(key.as_path()),
            args,
        )
    }

    /// `systemctl show -p MainPID --value etcd` on each master.
    fn pids(&self) -> Vec<String> {
        MASTERS
            .iter()
            .map(|m| {
                self.nodes
                    .exec_ok(m, "systemctl show -p MainPID --value etcd")
                    .trim()
                    .to_string()
            })
            .collect()
    }
}

fn endpoints(which: &[usize]) -> Vec<String> {
    which
        .iter()
        .map(|i| format!("https://172.31.0.1{i}:2379"))
        .collect()
}

/// The lines of the runbook's output (one per member and step) that
/// mention `what`.
fn lines_with<'a>(run: &'a Run, what: &str) -> Vec<&'a str> {
    run.stdout.lines().filter(|l| l.contains(what)).collect()
}

#[test]
fn etcd_from_nothing_with_mutual_tls_then_reruns_restart_nothing_and_bring_members_back() {
    let lab = Lab::new(release());

    // 1. From nothing (files distributed) to a healthy 3-member cluster.
    let first = lab.run(&["run", "etcd"]).ok();
    assert_eq!(
        lines_with(&first, "EtcdRelease")
            .iter()
            .filter(|l| l.ends_with("installed"))
            .count(),
        3,
        "{}",
        first.stdout
    );
    assert_eq!(lines_with(&first, ": started").len(), 3, "{}", first.stdout);
    assert!(
        first
            .stdout
            .contains("EtcdHealth 3 of 3 members healthy, member list = the masters"),
        "{}",
        first.stdout
    );
    for m in MASTERS {
        let mode = lab.nodes.exec_ok(m, "stat -c %a /var/lib/etcd");
        assert_eq!(mode.trim(), "700", "{m}: data dir mode");
        let unit = lab.nodes.exec_ok(m, "cat /etc/systemd/system/etcd.service");
        assert!(
            unit.contains(&format!("--name={m}"))
                && unit.contains("--client-cert-auth")
                && unit.contains("--peer-client-cert-auth"),
            "{unit}"
        );
        assert!(lab.nodes.exec_ok(m, "systemctl is-enabled etcd").trim() == "enabled");
    }

    // 2. The host's etcdctl with the CA and a client certificate sees every
    //    endpoint healthy, and the member list is the masters.
    let all = endpoints(&[0, 1, 2]);
    let (cert, key) = (lab.pki("admin.pem"), lab.pki("admin-key.pem"));
    let health = etcdctl_health(
        &all,
        &lab.pki("ca.pem"),
        Some(cert.as_path()),
        Some(key.as_path()),
    )
    .expect("etcdctl endpoint health with a client certificate");
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");
    let members = lab.ctl(&all, &["member", "list"]).expect("member list");
    for (i, m) in MASTERS.iter().enumerate() {
        assert!(
            members.contains(&format!(
                "{m}, https://172.31.0.1{i}:2380, https://172.31.0.1{i}:2379"
            )),
            "{members}"
        );
    }
    // A client without a certificate is refused.
    let refused = etcdctl(&all, &lab.pki("ca.pem"), None, None, &["put", "k", "v"]);
    assert!(
        refused.is_err(),
        "a client without a certificate could write: {refused:?}"
    );
    // One with a certificate writes on one member and reads on another.
    lab.ctl(&endpoints(&[0]), &["put", "groundup", "step-7"])
        .expect("put");
    let got = lab
        .ctl(&endpoints(&[2]), &["get", "groundup", "--print-value-only"])
        .expect("get");
    assert_eq!(got.trim(), "step-7");

    // 3. A re-run restarts nothing: same main PIDs, nothing downloaded,
    //    units unchanged.
    let pids = lab.pids();
    let again = lab.run(&["run", "etcd"]).ok();
    assert_eq!(
        lab.pids(),
        pids,
        "a re-run restarted etcd:\n{}",
        again.stdout
    );
    assert_eq!(
        lines_with(&again, "EtcdRelease")
            .iter()
            .filter(|l| l.ends_with("kept"))
            .count(),
        3,
        "{}",
        again.stdout
    );
    assert_eq!(
        lines_with(&again, "InstalledUnit")
            .iter()
            .filter(|l| l.ends_with("unchanged"))
            .count(),
        3,
        "{}",
        again.stdout
    );
    assert_eq!(
        lines_with(&again, "EtcdMember")
            .iter()
            .filter(|l| l.contains(": kept (pid"))
            .count(),
        3,
        "{}",
        again.stdout
    );

    // 4. A stopped member leaves a working cluster; a re-run restores it.
    lab.nodes.exec_ok("master-1", "systemctl stop etcd");
    lab.ctl(&endpoints(&[0, 2]), &["put", "while", "one-down"])
        .expect("two of three members still take writes");
    let back = lab.run(&["run", "etcd"]).ok();
    assert!(
        back.stdout.contains("EtcdMember master-1: started"),
        "{}",
        back.stdout
    );
    let now = lab.pids();
    assert_eq!(
        (&now[0], &now[2]),
        (&pids[0], &pids[2]),
        "the running members were restarted"
    );
    assert_ne!(now[1], pids[1]);
    let got = lab
        .ctl(&endpoints(&[1]), &["get", "while", "--print-value-only"])
        .expect("get on the restored member");
    assert_eq!(got.trim(), "one-down");

    // 5. A member whose unit was removed is brought back.
    lab.nodes.exec_ok("master-2", "systemctl disable --now etcd && rm /etc/systemd/system/etcd.service && systemctl daemon-reload");
    let back = lab.run(&["run", "etcd"]).ok();
    assert!(
        back.stdout
            .contains("InstalledUnit /etc/systemd/system/etcd.service on master-2: created"),
        "{}",
        back.stdout
    );
    assert!(
        back.stdout.contains("EtcdMember master-2: started"),
        "{}",
        back.stdout
    );
    assert_eq!(
        lab.nodes
            .exec_ok("master-2", "systemctl is-enabled etcd")
            .trim(),
        "enabled"
    );

    // 6. A changed certificate restarts the members one at a time: while it
    //    rolls, a client writing through all three endpoints never fails.
    std::fs::remove_file(lab.pki("master-kubernetes.pem")).unwrap();
    std::fs::remove_file(lab.pki("master-kubernetes-key.pem")).unwrap();
    lab.run(&["run", "pki", "distribute"]).ok();
    let before = lab.pids();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let (ca, cert, key) = (
            lab.pki("ca.pem"),
            lab.pki("admin.pem"),
            lab.pki("admin-key.pem"),
        );
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                if let Err(e) = etcdctl(
                    &endpoints(&[0, 1, 2]),
                    &ca,
                    Some(cert.as_path()),
                    Some(key.as_path()),
                    &["put", "rolling", &n.to_string()],
                ) {
                    failures.push(e);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            (n, failures)
        })
    };
    let rolled = lab.run(&["run", "etcd"]).ok();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (writes, failures) = writer.join().unwrap();
    assert_eq!(
        lines_with(&rolled, ": restarted").len(),
        3,
        "{}",
        rolled.stdout
    );
    let after = lab.pids();
    for i in 0..3 {
        assert_ne!(before[i], after[i], "{} kept its old process", MASTERS[i]);
    }
    assert!(
        writes > 0 && failures.is_empty(),
        "{} of {writes} writes failed during the rolling restart: {failures:?}",
        failures.len()
    );
    // One at a time: each member's new process started only after the
    //    previous member was active again (the nodes share the host's
    //    monotonic clock).
    let mono = |m: &str, p: &str| -> u64 {
        lab.nodes
            .exec_ok(m, &format!("systemctl show -p {p} --value etcd"))
            .trim()
            .parse()
            .unwrap_or(0)
    };
    for i in 1..3 {
        let prev_up = mono(MASTERS[i - 1], "ActiveEnterTimestampMonotonic");
        let started = mono(MASTERS[i], "ExecMainStartTimestampMonotonic");
        assert!(
            prev_up > 0 && started > prev_up,
            "{} restarted before {} was back ({started} <= {prev_up})",
            MASTERS[i],
            MASTERS[i - 1]
        );
    }
    assert!(
        rolled.stdout.contains("EtcdHealth 3 of 3 members healthy"),
        "{}",
        rolled.stdout
    );
}

#[test]
fn a_bad_checksum_installs_nothing_and_touches_nothing_running() {
    let good = release();
    let lab = Lab::new(good);
    let bad = build_release(VERSION, true);
    let bad_url = lab.nodes.serve(&bad.root);

    // On fresh masters: an error naming the file and both digests; no
    // binary, no unit, no download left behind.
    let run = lab.run_with(&bad_url, &["run", "etcd"]);
    assert_ne!(
        run.code, 0,
        "a bad checksum must fail the run:\n{}",
        run.stdout
    );
    let err = run.err_flat();
    // The digest of what was served and downloaded (the bad release's own
    // tarball: tar.gz is not byte-reproducible, so not the good one's).
    let real = sha256_hex(
        &bad.root
            .join(format!("v{VERSION}"))
            .join(tarball_name(VERSION)),
    );
    assert!(
        err.contains(&format!("checksum mismatch for {}", tarball_name(VERSION))),
        "{err}"
    );
    assert!(
        err.contains(&"0".repeat(64)) && err.contains(&real),
        "the error must name both digests: {err}"
    );
    for m in MASTERS {
        let left = lab.nodes.exec_ok(
            m,
            "ls /usr/local/bin /var/tmp; ls /etc/systemd/system/etcd.service 2>&1 || true",
        );
        assert!(
            !left.contains("etcd\n")
                && !left.contains("groundup-etcd")
                && left.contains("No such file"),
            "{m}: {left}"
        );
    }

    // With a cluster running: a bad release of another version changes
    // nothing, not the binaries and not the processes.
    lab.run(&["run", "etcd"]).ok();
    let pids = lab.pids();
    let sums: Vec<String> = MASTERS
        .iter()
        .map(|m| {
            lab.nodes
                .exec_ok(m, "sha256sum /usr/local/bin/etcd /usr/local/bin/etcdctl")
        })
        .collect();
    let other = build_release("3.4.99", true);
    let other_url = lab.nodes.serve(&other.root);
    let run = lab.run_with(&other_url, &["--set", "etcd_version=3.4.99", "run", "etcd"]);
    assert_ne!(run.code, 0);
    assert!(
        run.err_flat()
            .contains("checksum mismatch for etcd-v3.4.99-linux-amd64.tar.gz"),
        "{}",
        run.err_flat()
    );
    assert_eq!(lab.pids(), pids);
    let now: Vec<String> = MASTERS
        .iter()
        .map(|m| {
            lab.nodes
                .exec_ok(m, "sha256sum /usr/local/bin/etcd /usr/local/bin/etcdctl")
        })
        .collect();
    assert_eq!(now, sums);
}

/// systemd's own parser gives the program exactly the arguments listed in
/// `exec_start`: blanks, quotes, backslashes, `$`, `%`, a lone `;`, an
/// empty argument.
#[test]
fn exec_start_arguments_reach_the_program_exactly_as_listed() {
    let lab = Lab::new(release());
    let args = [
        "a b",
        "it's",
        "say \"hi\"",
        "$HOME",
        "${HOME}",
        "100%",
        "%n",
        "back\\slash",
        ";",
        "",
        "tab\there",
    ];
    let rhai_list: Vec<String> = args
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    let script = format!(
        r#"let u = systemd::unit(#{{ name: "groundup-args", type: "oneshot",
              exec_start: ["/bin/sh", "-c", "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > /run/groundup-args", "sh", {}],
              service: #{{ RemainAfterExit: "yes" }} }});
           let done = systemd::install(["master-0"], u);
           print(done[0]);
           systemd::start(["master-0"], "groundup-args");
           systemd::wait_active(["master-0"], "groundup-args", 20);"#,
        rhai_list.join(", ")
    );
    let file = lab.p.path().join("args.rhai");
    std::fs::write(&file, script).unwrap();
    let run = lab.run(&["run", file.to_str().unwrap()]).ok();
    assert!(
        run.stdout.contains("on master-0: created"),
        "{}",
        run.stdout
    );
    let got = lab.nodes.exec_ok("master-0", "cat /run/groundup-args");
    let want: String = args.iter().map(|a| format!("[{a}]\n")).collect();
    assert_eq!(got, want);
}
