//! Finding and compiling scripts: runbooks by name or path, the stdlib
//! modules, and the pre-flight over them.

use std::path::Path;

use super::project_dir;
use crate::catalog::{self, FileKind};
use crate::embedded;
use crate::engine::{self, Sources};
use crate::error::{Error, Result};
use crate::preflight::{Preflight, Script};
use crate::settings::Settings;

/// Finds a runbook: a path runs that file; a bare name runs
/// `./runbooks/<name>.rhai` if present, else the built-in copy.
pub fn resolve_runbook(arg: &str) -> Result<(String, String)> {
    let is_path = arg.contains('/') || arg.ends_with(".rhai");
    if is_path {
        return std::fs::read_to_string(arg)
            .map(|t| (arg.to_string(), t))
            .map_err(|e| {
                Error::usage(format!("cannot read runbook {arg}: {e}")).with_help(format!(
                    "shipped runbooks: {} (run them by name, e.g. `groundup run network`)",
                    embedded::RUNBOOKS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            });
    }
    catalog::lookup(&project_dir(), FileKind::Runbook, arg)
        .map(|e| (e.display, e.text))
        .ok_or_else(|| {
            Error::usage(format!("no runbook named `{arg}`")).with_help(format!(
                "shipped runbooks: {}",
                embedded::RUNBOOKS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Every stdlib module visible to runbooks: the built-in ones (or the
/// project's copies), then the project's own `stdlib/*.rhai`.
pub fn stdlib_sources() -> Vec<(String, String)> {
    catalog::entries(&project_dir())
        .into_iter()
        .filter(|e| e.kind == FileKind::Stdlib)
        .map(|e| (e.display, e.text))
        .collect()
}

/// A stdlib module compiled: (module name, display name, text, AST).
pub type CompiledModule = (String, String, String, rhai::AST);

/// Compiles every stdlib module visible to runbooks (see [`stdlib_sources`]).
pub fn compile_stdlib(engine: &rhai::Engine, sources: &Sources) -> Result<Vec<CompiledModule>> {
    stdlib_sources()
        .into_iter()
        .map(|(name, text)| {
            let ast = engine::compile(engine, &rhai::Scope::new(), &name, &text, sources)?;
            let module = Path::new(&name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            Ok((module, name, text, ast))
        })
        .collect()
}

/// The pre-flight checker for an engine, its settings and the compiled
/// stdlib modules.
pub fn preflight<'a>(
    engine: &'a rhai::Engine,
    settings: &'a Settings,
    stdlib: &'a [CompiledModule],
) -> Preflight<'a> {
    Preflight::new(
        engine,
        settings,
        stdlib
            .iter()
            .map(|(module, name, text, ast)| (module.clone(), Script { name, text, ast })),
    )
}
