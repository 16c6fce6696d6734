//! Where the emulator's moto comes from: `$GROUNDUP_MOTO_SERVER`, else
//! `moto_server` on the PATH, else a virtualenv groundup installs once under
//! the user's data directory (`$XDG_DATA_HOME/groundup/moto`) with
//! `python3 -m venv` and pip. A failure names what is missing (python3, its
//! venv module, pip's network) and how to get it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Kind, Result};
use crate::progress::Progress;
use crate::state::create_private_dir;

/// Names a moto_server to use instead of finding or installing one.
pub const MOTO_ENV: &str = "GROUNDUP_MOTO_SERVER";

/// What pip installs.
pub const MOTO_REQUIREMENT: &str = "moto[server]>=5,<6";

/// Written into the virtualenv once pip has finished: a virtualenv without
/// it is a half-done install, removed and made again.
const DONE_MARK: &str = ".groundup-installed";

/// The virtualenv groundup installs moto into.
pub fn venv_dir(data: &Path) -> PathBuf {
    data.join("moto")
}

/// The moto_server to run: `$GROUNDUP_MOTO_SERVER`, `moto_server` on the
/// PATH, the virtualenv under `data`, else that virtualenv installed now
/// (with a progress line unless `quiet`).
pub fn find_moto(data: &Path, quiet: bool) -> Result<PathBuf> {
    if let Some(v) = std::env::var_os(MOTO_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&v);
        if is_executable(&p) {
            return Ok(p);
        }
        return Err(Error::new(
            Kind::Emulator,
            format!(
                "{MOTO_ENV}={} is not an executable moto_server",
                p.display()
            ),
        )
        .with_help(format!(
            "point {MOTO_ENV} at moto's `moto_server` (e.g. .venv/bin/moto_server), or unset it to let groundup find or install moto"
        )));
    }
    if let Some(p) = on_path("moto_server") {
        return Ok(p);
    }
    let venv = venv_dir(data);
    let moto = venv.join("bin/moto_server");
    if venv.join(DONE_MARK).exists() && is_executable(&moto) {
        return Ok(moto);
    }
    install(&venv, quiet)?;
    Ok(moto)
}

/// Creates the virtualenv and pip-installs moto into it.
fn install(venv: &Path, quiet: bool) -> Result<()> {
    let help_python = "install Python 3 with its venv module (Debian/Ubuntu: `sudo apt-get install python3 python3-venv`), or install moto yourself (`pip install 'moto[server]'`) and put `moto_server` on the PATH or in GROUNDUP_MOTO_SERVER";
    let Some(python) = on_path("python3") else {
        return Err(Error::new(
            Kind::Emulator,
            "cannot install the local emulator (moto): python3 is not on the PATH",
        )
        .with_help(help_python));
    };
    if let Some(parent) = venv.parent() {
        create_private_dir(parent)?;
    }
    if venv.exists() {
        // A half-done install (no DONE_MARK): start again.
        std::fs::remove_dir_all(venv)
            .map_err(|e| Error::io(format!("cannot remove {}", venv.display()), e))?;
    }
    let out = Command::new(&python)
        .args(["-m", "venv"])
        .arg(venv)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("cannot run {}", python.display()), e))?;
    if !out.status.success() || !is_executable(&venv.join("bin/pip")) {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        let _ = std::fs::remove_dir_all(venv);
        return Err(Error::new(
            Kind::Emulator,
            format!(
                "cannot install the local emulator (moto): `{} -m venv` failed: the venv module (with pip) is missing{}",
                python.display(),
                if why.is_empty() { String::new() } else { format!(" ({why})") }
            ),
        )
        .with_help(help_python));
    }
    let log = venv.join("pip-install.log");
    let log_file = std::fs::File::create(&log)
        .map_err(|e| Error::io(format!("cannot create {}", log.display()), e))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| Error::io(format!("cannot open {}", log.display()), e))?;
    if !quiet {
        eprintln!(
            "installing the local AWS emulator (moto) into {} — once; pip takes about a minute",
            venv.display()
        );
    }
    let mut child = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            MOTO_REQUIREMENT,
        ])
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| Error::io("cannot run pip", e))?;
    let mut progress = Progress::new(quiet, "installing moto with pip");
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {
                progress.update(&format!("pip install '{MOTO_REQUIREMENT}'"));
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(Error::io("cannot wait for pip", e)),
        }
    };
    progress.finish();
    if !status.success() || !is_executable(&venv.join("bin/moto_server")) {
        return Err(Error::new(
            Kind::Emulator,
            format!(
                "cannot install the local emulator: pip could not install {MOTO_REQUIREMENT} ({})",
                super::log_tail(&log)
            ),
        )
        .with_help(format!(
            "pip needs to reach PyPI: check the network (and any proxy), then run the command again; pip's log: {}",
            log.display()
        )));
    }
    std::fs::write(venv.join(DONE_MARK), MOTO_REQUIREMENT)
        .map_err(|e| Error::io(format!("cannot write {}", venv.display()), e))?;
    if !quiet {
        eprintln!("installed moto into {}", venv.display());
    }
    Ok(())
}

/// `name` in a directory of the PATH, if there is an executable one.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_is_on_the_path_and_a_made_up_name_is_not() {
        assert!(on_path("sh").is_some());
        assert!(on_path("groundup-no-such-program").is_none());
    }
}
