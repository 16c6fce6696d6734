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
