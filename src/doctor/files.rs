//! Doctor's local probes: the settings, the runbooks and stdlib modules, the
//! state directory.

use std::path::Path;
use std::sync::Arc;

use super::{Check, error_fix};
use crate::catalog::{self, FileKind, Origin as FileOrigin};
use crate::cli::Global;
use crate::commands::{introspection, load_settings, project_dir};
use crate::engine::{self, Sources};
use crate::error::Kind;
use crate::settings::Settings;

pub(super) fn settings_check(g: &Global, checks: &mut Vec<Check>) -> Option<Settings> {
    // The settings, then the node layout they give (stdlib/nodes.rhai):
    // both are checked before any AWS call, as `run` and `check` do.
    let loaded = load_settings(g, &Sources::default())
        .and_then(|s| crate::commands::layout::validated(&s).map(|_| s));
    match loaded {
        Ok(s) => {
            let origin = s
                .iter()
                .find(|i| i.key == "region")
                .map(|i| i.origin.to_string())
                .unwrap_or_default();
            checks.push(Check::ok(
                "settings",
                format!(
                    "cluster {} in {} (region from {origin}); {} masters + {} workers of {}",
                    s.str("name"),
                    s.str("region"),
                    s.int("masters"),
                    s.int("workers"),
                    s.str("instance_type")
                ),
            ));
            for w in s.warnings() {
                checks.push(Check::warn("admin access", w, Vec::new()));
            }
            Some(s)
        }
        Err(e) => {
            let mut detail = e.message.clone();
            if let Some(p) = e.position() {
                detail = format!("{p}: {detail}");
            }
            checks.push(Check::fail(
                "settings",
                e.kind,
                detail,
                error_fix(
                    &e,
                    "`groundup settings` lists every setting; fix stdlib/cluster.rhai or the --set value",
                ),
            ));
            None
        }
    }
}

pub(super) fn compile_check(g: &Global, settings: Option<&Settings>) -> Check {
    let Some(settings) = settings else {
        return Check::skip("runbooks", "needs valid settings");
    };
    // No endpoint: the compile check reaches nothing, even under the guard.
    let mut g2 = g.clone();
    g2.endpoint = None;
    let sources = Arc::new(Sources::default());
    let (host, eng) = match introspection(&g2, settings.clone(), sources.clone()) {
        Ok(he) => he,
        Err(e) => return Check::fail("runbooks", e.kind, e.message, Vec::new()),
    };
    let scope = engine::new_scope(&host.settings);
    let entries = catalog::entries(&project_dir());
    let mut failures = Vec::new();
    for e in &entries {
        if let Err(err) = engine::compile(&eng, &scope, &e.display, &e.text, &sources) {
            let at = err.position().unwrap_or_else(|| e.display.clone());
            failures.push(format!("{at}: {}", err.message));
        }
    }
    let runbooks = entries
        .iter()
        .filter(|e| e.kind == FileKind::Runbook)
        .count();
    let copies = entries
        .iter()
        .filter(|e| e.origin != FileOrigin::Builtin)
        .count();
    if failures.is_empty() {
        let from = if copies == 0 {
            "all built-in".to_string()
        } else {
            format!("{copies} from this project")
        };
        Check::ok(
            "runbooks",
            format!(
                "{runbooks} runbooks and {} stdlib modules compile ({from})",
                entries.len() - runbooks
            ),
        )
    } else {
        Check::fail(
            "runbooks",
            Kind::Script,
            failures.join("; "),
            vec!["`groundup check` shows each error with its source line".into()],
        )
    }
}

/// Whether the state directory (or, before the first run, the directory it
/// will be created in) is writable: a temporary file is made and removed.
pub fn state_dir_check(dir: &Path) -> Check {
    let fix = vec![format!(
        "fix the permissions of {}, or keep state elsewhere with --state-dir DIR",
        dir.display()
    )];
    if dir.exists() && !dir.is_dir() {
        return Check::fail(
            "state dir",
            Kind::Io,
            format!("{} exists but is not a directory", dir.display()),
            fix,
        );
    }
    let target = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        dir.ancestors()
            .skip(1)
            .map(|a| {
                if a.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    a
                }
            })
            .find(|a| a.is_dir())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    let probe = tempfile::Builder::new()
        .prefix(".groundup-doctor-")
        .tempfile_in(&target)
        .and_then(|f| f.close());
    match probe {
        Ok(()) if target.as_path() == dir => {
            Check::ok("state dir", format!("{} is writable", dir.display()))
        }
        Ok(()) => Check::ok(
            "state dir",
            format!(
                "{} does not exist yet; {} is writable, so the first run can create it",
                dir.display(),
                target.display()
            ),
        ),
        Err(e) => Check::fail(
            "state dir",
            Kind::Io,
            format!("cannot write in {}: {e}", target.display()),
            fix,
        ),
    }
}
