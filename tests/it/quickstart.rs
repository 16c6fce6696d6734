//! The README's quick start, followed literally in a fresh clone: the
//! commands between `<!-- quickstart:start -->` and `<!-- quickstart:end -->`
//! run in `bash -e` with the already-built groundup first on PATH (standing
//! in for the `cargo install` line above the block) and moto from
//! $GROUNDUP_MOTO_SERVER / .venv (what `scripts/moto` uses).
//!
//! A clone has only committed files: commit before expecting this test to
//! see a README change.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::docs::between;
use crate::support::{collect, moto_server_bin, repo};

/// Stops the moto that `scripts/moto` started in the clone, whatever
/// happened to the script.
struct StopMoto(PathBuf);

impl Drop for StopMoto {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join(".moto/pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// The shell commands of the README's quick start.
pub fn quick_start(readme: &str) -> Vec<String> {
    let block = between(
        readme,
        "<!-- quickstart:start -->",
        "<!-- quickstart:end -->",
    );
    let mut in_fence = false;
    let mut cmds = Vec::new();
    for line in block.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence && !line.trim().is_empty() {
            cmds.push(line.to_string());
        }
    }
    cmds
}

#[test]
fn readme_quick_start_works_in_a_fresh_clone() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("groundup");
    let out = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(repo())
        .arg(&clone)
        .output()
        .expect("git clone");
    assert!(out.status.success(), "git clone: {out:?}");
    let _stop = StopMoto(clone.clone());

    let readme = std::fs::read_to_string(clone.join("README.md")).expect("README.md in the clone");
    let cmds = quick_start(&readme);
    assert!(
        cmds.iter().any(|c| c.starts_with("groundup up")),
        "the quick start has no `groundup up`: {cmds:?}"
    );
    // `groundup up` runs every runbook named by the `steps` setting: say
    // plainly which one is missing rather than fail inside the script.
    let groundup = env!("CARGO_BIN_EXE_groundup");
    let json = |args: &[&str]| -> serde_json::Value {
        let out = Command::new(groundup)
            .args(args)
            .current_dir(&clone)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env("AWS_CONFIG_FILE", "/nonexistent/groundup-test-aws-config")
            .output()
            .expect("groundup");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
    };
    let steps = json(&["--json", "settings"])["steps"]["value"].clone();
    let books = json(&["--json", "runbooks"]);
    for step in steps.as_array().expect("steps is a list") {
        let step = step.as_str().unwrap_or_default();
        assert!(
            books.as_array().is_some_and(|b| b
                .iter()
                .any(|e| e["kind"] == "runbook" && e["name"] == step)),
            "the quick start's `groundup up` runs the steps {steps}, but this checkout has no runbook named `{step}` (runbooks/{step}.rhai)"
        );
    }

    let script = format!("set -euo pipefail\nset -x\n{}\n", cmds.join("\n"));

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_groundup"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(&clone)
        .env("PATH", path)
        .env("GROUNDUP_MOTO_SERVER", moto_server_bin())
        .env("GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT", "1")
        .env("NO_COLOR", "1")
        .env("AWS_CONFIG_FILE", "/nonexistent/groundup-test-aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/groundup-test-aws-credentials",
        )
        .stdin(std::process::Stdio::null());
    for var in [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    let run = collect(cmd.output().expect("bash"));
    assert_eq!(
        run.code, 0,
        "the README's quick start failed in a fresh clone:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout, run.stderr
    );
    // What the README promises along the way.
    assert!(
        run.stdout.contains("AWS operation(s) would be made"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("checks passed"), "{}", run.stdout);
    assert!(run.stderr.contains(" created, 0 reused"), "{}", run.stderr);
    assert!(
        run.stderr.contains(": 0 created, "),
        "second up: {}",
        run.stderr
    );
    assert!(run.stderr.contains("moto: stopped moto"), "{}", run.stderr);
}
