//! What runbooks and stdlib modules a project sees, and where each comes
//! from: the project's own copy (`./runbooks/<name>.rhai`,
//! `./stdlib/<name>.rhai`) or the copy built into the binary.
//!
//! This mirrors how they are resolved: `groundup run <name>` and
//! `import "<name>"` prefer the project's file, else the built-in one.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::embedded;

/// Runbook or stdlib module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A runbook (`runbooks/<name>.rhai`), run with `groundup run <name>`.
    Runbook,
    /// A stdlib module (`stdlib/<name>.rhai`), imported by runbooks.
    Stdlib,
}

impl FileKind {
    /// The directory name (`runbooks` or `stdlib`).
    pub fn dir(self) -> &'static str {
        match self {
            FileKind::Runbook => "runbooks",
            FileKind::Stdlib => "stdlib",
        }
    }
    /// The built-in files of this kind: (name, source).
    pub fn builtin(self) -> &'static [(&'static str, &'static str)] {
        match self {
            FileKind::Runbook => embedded::RUNBOOKS,
            FileKind::Stdlib => embedded::STDLIB,
        }
    }
}

/// Where the file that is used comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Only the built-in copy exists.
    Builtin,
    /// The project has a copy identical to the built-in one.
    Copy,
    /// The project has a copy that differs from the built-in one.
    EditedCopy,
    /// The project has a file with no built-in counterpart.
    ProjectOnly,
}

impl Origin {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Builtin => "built-in",
            Origin::Copy => "project copy (same as built-in)",
            Origin::EditedCopy => "project copy (edited)",
            Origin::ProjectOnly => "project only",
        }
    }
}

/// One runbook or stdlib module as a project sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Runbook or stdlib module.
    pub kind: FileKind,
    /// Its name (`network`).
    pub name: String,
    /// Where the used copy comes from.
    pub origin: Origin,
    /// The name errors show: `runbooks/network.rhai` or
    /// `<builtin>/runbooks/network.rhai`.
    pub display: String,
    /// The project file, when one is used.
    pub path: Option<PathBuf>,
    /// The text that is used.
    #[serde(skip)]
    pub text: String,
}

/// The one "project copy, else built-in" rule: the `kind` file `name` from
/// `dir` (shown as `<shown>/<name>.rhai`) when it can be read, else the
/// built-in copy (`<builtin>/<kind>/<name>.rhai`); `None` when neither
/// exists. `dir` is `None` when the project has no such directory.
pub fn lookup_in(dir: Option<(&Path, &str)>, kind: FileKind, name: &str) -> Option<Entry> {
    let builtin = kind
        .builtin()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t);
    if let Some((dir, shown)) = dir {
        let path = dir.join(format!("{name}.rhai"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return Some(Entry {
                kind,
                name: name.to_string(),
                origin: match builtin {
                    Some(b) if b == text => Origin::Copy,
                    Some(_) => Origin::EditedCopy,
                    None => Origin::ProjectOnly,
                },
                display: format!("{shown}/{name}.rhai"),
                path: Some(path),
                text,
            });
        }
    }
    builtin.map(|text| Entry {
        kind,
        name: name.to_string(),
        origin: Origin::Builtin,
        display: format!("<builtin>/{}/{name}.rhai", kind.dir()),
        path: None,
        text: text.to_string(),
    })
}

/// [`lookup_in`] the project's `runbooks/` or `stdlib/` (shown relative:
/// `runbooks/network.rhai`).
pub fn lookup(project_dir: &Path, kind: FileKind, name: &str) -> Option<Entry> {
    let dir = project_dir.join(kind.dir());
    lookup_in(Some((&dir, kind.dir())), kind, name)
}

/// Every runbook and stdlib module visible from `project_dir`: the built-in
/// ones (overridden by project copies) in name order, then project-only
/// files in name order.
pub fn entries(project_dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for kind in [FileKind::Runbook, FileKind::Stdlib] {
        let dir = project_dir.join(kind.dir());
        out.extend(
            kind.builtin()
                .iter()
                .filter_map(|(name, _)| lookup(project_dir, kind, name)),
        );
        let mut extra: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
                    .filter_map(|p| {
                        let stem = p.file_stem()?.to_str()?.to_string();
                        Some((stem, p))
                    })
                    .filter(|(stem, _)| !kind.builtin().iter().any(|(n, _)| n == stem))
                    .collect()
            })
            .unwrap_or_default();
        extra.sort();
        for (name, _) in extra {
            out.extend(lookup(project_dir, kind, &name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_prefers_the_project_copy_else_the_builtin_one() {
        let d = tempfile::tempdir().unwrap();
        let e = lookup(d.path(), FileKind::Runbook, "network").unwrap();
        assert_eq!(e.display, "<builtin>/runbooks/network.rhai");
        assert_eq!((e.origin, e.path), (Origin::Builtin, None));
        assert!(lookup(d.path(), FileKind::Runbook, "nope").is_none());
        let dir = d.path().join("stdlib");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cluster.rhai"), "// mine\n").unwrap();
        std::fs::write(dir.join("extra.rhai"), "// extra\n").unwrap();
        let e = lookup_in(Some((&dir, "/x/stdlib")), FileKind::Stdlib, "cluster").unwrap();
        assert_eq!(
            (e.display.as_str(), e.text.as_str()),
            ("/x/stdlib/cluster.rhai", "// mine\n")
        );
        assert_eq!(e.origin, Origin::EditedCopy);
        let e = lookup(d.path(), FileKind::Stdlib, "extra").unwrap();
        assert_eq!(
            (e.display.as_str(), e.origin),
            ("stdlib/extra.rhai", Origin::ProjectOnly)
        );
        let e = lookup_in(None, FileKind::Stdlib, "cluster").unwrap();
        assert_eq!(e.origin, Origin::Builtin);
    }

    #[test]
    fn builtin_copy_edited_and_project_only() {
        let d = tempfile::tempdir().unwrap();
        let all = entries(d.path());
        assert!(all.iter().all(|e| e.origin == Origin::Builtin));
        assert!(
            all.iter()
                .any(|e| e.kind == FileKind::Runbook && e.name == "network")
        );
        assert!(
            all.iter()
                .any(|e| e.kind == FileKind::Stdlib && e.name == "cluster")
        );

        std::fs::create_dir_all(d.path().join("runbooks")).unwrap();
        std::fs::create_dir_all(d.path().join("stdlib")).unwrap();
        let net = embedded::runbook("network").unwrap();
        std::fs::write(d.path().join("runbooks/network.rhai"), net).unwrap();
        std::fs::write(d.path().join("stdlib/cluster.rhai"), "export const x = 1;").unwrap();
        std::fs::write(d.path().join("runbooks/mine.rhai"), "1").unwrap();
        let all = entries(d.path());
        let find = |k: FileKind, n: &str| {
            all.iter()
                .find(|e| e.kind == k && e.name == n)
                .unwrap()
                .clone()
        };
        assert_eq!(find(FileKind::Runbook, "network").origin, Origin::Copy);
        assert_eq!(
            find(FileKind::Runbook, "network").display,
            "runbooks/network.rhai"
        );
        assert_eq!(find(FileKind::Stdlib, "cluster").origin, Origin::EditedCopy);
        assert_eq!(find(FileKind::Runbook, "mine").origin, Origin::ProjectOnly);
        assert_eq!(
            find(FileKind::Runbook, "compute").display,
            "<builtin>/runbooks/compute.rhai"
        );
    }
}
