//! `groundup init [DIR]`: writes editable copies of every built-in runbook
//! and stdlib module, and a short README on customising them, into a
//! project directory.  Existing files are never overwritten without
//! `--force`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::catalog::FileKind;
use crate::cli::Global;
use crate::error::{Error, Result};
use crate::style::Paint;

/// The README written next to the copies.
pub const PROJECT_README: &str = include_str!("init_readme.md");

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist and was written.
    Created,
    /// It existed with other content and `--force` replaced it.
    Overwritten,
    /// It existed with exactly this content.
    Unchanged,
    /// It existed with other content and was left alone (no `--force`).
    Kept,
}

/// One file `init` considered.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// What was done.
    pub action: Action,
}

/// Every file `init` writes: (path relative to the project, content).
pub fn files() -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    for kind in [FileKind::Runbook, FileKind::Stdlib] {
        for (name, text) in kind.builtin() {
            out.push((Path::new(kind.dir()).join(format!("{name}.rhai")), *text));
        }
    }
    out.push((PathBuf::from("README.md"), PROJECT_README));
    out
}

/// Writes the copies into `dir` (created if missing).
pub fn init(dir: &Path, force: bool) -> Result<Vec<Written>> {
    let mut done = Vec::new();
    for (rel, text) in files() {
        let path = dir.join(&rel);
        let action = match std::fs::read(&path) {
            Ok(old) if old == text.as_bytes() => Action::Unchanged,
            Ok(_) if !force => Action::Kept,
            Ok(_) => Action::Overwritten,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Action::Created,
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        if matches!(action, Action::Created | Action::Overwritten) {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
            }
            std::fs::write(&path, text)
                .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        }
        done.push(Written { path, action });
    }
    Ok(done)
}

/// `groundup init [DIR] [--force]`.
pub fn cmd_init(g: &Global, dir: &Path, force: bool) -> Result<()> {
    let done = init(dir, force)?;
    if g.json {
        let out = json!({"dir": dir, "files": done});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    let paint = Paint::stdout();
    for w in &done {
        let (label, note) = match w.action {
            Action::Created => (paint.green("created    "), ""),
            Action::Overwritten => (paint.yellow("overwritten"), ""),
            Action::Unchanged => (paint.dim("unchanged  "), ""),
            Action::Kept => (
                paint.yellow("kept       "),
                "  (exists with other content; --force overwrites it)",
            ),
        };
        let shown = w.path.strip_prefix(".").unwrap_or(&w.path);
        println!("{label} {}{note}", shown.display());
    }
    let kept = done.iter().filter(|w| w.action == Action::Kept).count();
    println!();
    if kept > 0 {
        println!("{kept} existing file(s) kept: your edits are safe.");
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {}, then ", dir.display())
    };
    println!(
        "Next: {cd}edit stdlib/cluster.rhai (region, instance_type, masters, workers) and run \
         `groundup settings`, `groundup --plan up`. README.md there says more."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_everything_then_keeps_edits_unless_forced() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("proj");
        let first = init(&dir, false).unwrap();
        assert!(first.iter().all(|w| w.action == Action::Created));
        assert!(dir.join("runbooks/network.rhai").is_file());
        assert!(dir.join("stdlib/cluster.rhai").is_file());
        assert!(dir.join("README.md").is_file());

        let cluster = dir.join("stdlib/cluster.rhai");
        std::fs::write(&cluster, "// mine\n").unwrap();
        let again = init(&dir, false).unwrap();
        let of = |ws: &[Written], p: &Path| ws.iter().find(|w| w.path == p).unwrap().action;
        assert_eq!(of(&again, &cluster), Action::Kept);
        assert_eq!(
            of(&again, &dir.join("runbooks/network.rhai")),
            Action::Unchanged
        );
        assert_eq!(std::fs::read_to_string(&cluster).unwrap(), "// mine\n");

        let forced = init(&dir, true).unwrap();
        assert_eq!(of(&forced, &cluster), Action::Overwritten);
        assert_eq!(
            std::fs::read_to_string(&cluster).unwrap(),
            crate::embedded::stdlib("cluster").unwrap()
        );
    }
}
