//! The README's quick start, followed literally in a fresh clone: the
//! commands between `<!-- quickstart:start -->` and `<!-- quickstart:end -->`
//! (then the walk-through's, between `<!-- walkthrough:start -->` and
//! `<!-- walkthrough:end -->`) run in `bash -e` with the already-built
//! groundup first on PATH (standing in for the `cargo install` line, which
//! is checked but not run), as a user with no AWS variables at all: the
//! environment is PATH, HOME and XDG directories of the test's own, and
//! GROUNDUP_MOTO_SERVER (the harness's moto, so nothing is pip-installed).
//!
//! A clone has only committed files: commit before expecting this test to
//! see a README change.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::docs::between;
use crate::support::{collect, moto_server_bin, repo};

/// Stops the emulator the quick start left running, whatever happened to
/// the script.
struct StopEmulator(PathBuf);

impl Drop for StopEmulator {
    fn drop(&mut self) {
        let rec = self.0.join("groundup/emulator.json");
        if let Ok(text) = std::fs::read_to_string(&rec)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(pid) = v["pid"].as_u64()
        {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("moto") {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

/// The shell commands of the README's quick start.
pub fn quick_start(readme: &str) -> Vec<String> {
    block_commands(readme, "quickstart")
}

/// The shell commands in the fenced code between `<!-- NAME:start -->` and
/// `<!-- NAME:end -->`.
pub fn block_commands(readme: &str, name: &str) -> Vec<String> {
    let block = between(
        readme,
        &format!("<!-- {name}:start -->"),
        &format!("<!-- {name}:end -->"),
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
    let user = tmp.path().join("user");
    for d in ["home", "data", "run"] {
        std::fs::create_dir_all(user.join(d)).unwrap();
    }
    let _stop = StopEmulator(user.join("run"));

    let readme = std::fs::read_to_string(clone.join("README.md")).expect("README.md in the clone");
    let quick = quick_start(&readme);
    // Two commands: install, then the whole lesson on the emulator.
    let names: Vec<String> = quick
        .iter()
        .map(|c| c.split('#').next().unwrap_or("").trim().to_string())
        .collect();
    assert_eq!(
        names,
        ["cargo install --locked --path .", "groundup --local up"],
        "the quick start is not `cargo install`, then `groundup --local up`: {quick:?}"
    );
    let walk = block_commands(&readme, "walkthrough");
    for c in ["doctor", "status", "pki check", "down"] {
        assert!(
            walk.iter().any(|l| l.contains(&format!(" {c}"))),
            "the walk-through has no `{c}`: {walk:?}"
        );
    }
    // `groundup up` runs every runbook named by the `steps` setting: say
    // plainly which one is missing rather than fail inside the script.
    let groundup = env!("CARGO_BIN_EXE_groundup");
    let json = |args: &[&str]| -> serde_json::Value {
        let out = Command::new(groundup)
            .args(args)
            .current_dir(&clone)
            .env_clear()
            .env("HOME", user.join("home"))
            .output()
            .expect("groundup");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
    };
    let steps = json(&["--local", "--json", "settings"])["steps"]["value"].clone();
    let books = json(&["--json", "runbooks"]);
    for step in steps.as_array().expect("steps is a list") {
        let step = step.as_str().unwrap_or_default();
        assert!(
            books.as_array().is_some_and(|b| b
                .iter()
                .any(|e| e["kind"] == "runbook" && e["name"] == step)),
            "the quick start's `groundup --local up` runs the steps {steps}, but this checkout has no runbook named `{step}` (runbooks/{step}.rhai)"
        );
    }

    // `cargo install` is what put groundup on the PATH: the built binary
    // stands in for it.
    let script = format!(
        "set -euo pipefail\nset -x\n{}\n{}\n",
        quick[1..].join("\n"),
        walk.join("\n")
    );
    let bin_dir = Path::new(groundup).parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(&clone)
        .env_clear()
        .env("PATH", path)
        .env("HOME", user.join("home"))
        .env("XDG_DATA_HOME", user.join("data"))
        .env("XDG_RUNTIME_DIR", user.join("run"))
        .env("GROUNDUP_MOTO_SERVER", moto_server_bin())
        .env("GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT", "1")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    let run = collect(cmd.output().expect("bash"));
    assert_eq!(
        run.code, 0,
        "the README's quick start failed in a fresh clone:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout, run.stderr
    );
    // What the README promises along the way.
    assert!(
        run.stderr
            .contains("started the local AWS emulator (moto) on 127.0.0.1:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(" created, 0 reused"), "{}", run.stderr);
    assert!(run.stdout.contains("checks passed"), "{}", run.stdout);
    assert!(
        run.stderr.contains(": 0 created, "),
        "second up: {}",
        run.stderr
    );
    assert!(run.stdout.contains("no drift"), "{}", run.stdout);
    assert!(
        run.stdout.contains("stopped the local AWS emulator (pid "),
        "{}",
        run.stdout
    );
}
