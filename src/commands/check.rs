//! `groundup check`: compiles every runbook and stdlib module and runs the
//! pre-flight, without AWS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::{CompiledModule, compile_stdlib, introspection, load_settings, preflight, project_dir};
use crate::catalog::{self};
use crate::cli::Global;
use crate::engine::{self, Sources};
use crate::error::{Error, Result};
use crate::preflight::Script;

/// `groundup check`: compiles runbooks and stdlib modules.
pub fn cmd_check(g: &Global, files: &[PathBuf]) -> Result<()> {
    let sources = Arc::new(Sources::default());
    let settings = load_settings(g, &sources)?;
    let (host, engine) = introspection(g, settings.clone(), sources.clone())?;
    let scope = engine::new_scope(&host.settings);
    let mut list: Vec<(String, String)> = Vec::new();
    if files.is_empty() {
        list.extend(
            catalog::entries(&project_dir())
                .into_iter()
                .map(|e| (e.display, e.text)),
        );
    } else {
        for f in files {
            let t = std::fs::read_to_string(f)
                .map_err(|e| Error::usage(format!("cannot read {}: {e}", f.display())))?;
            list.push((f.display().to_string(), t));
        }
    }
    let mut asts = Vec::with_capacity(list.len());
    for (name, text) in &list {
        asts.push(engine::compile(&engine, &scope, name, text, &sources)?);
    }
    // The pre-flight of `run` and `up`, over every file at once (the
    // stdlib modules are in the list unless files were named).
    let stdlib: Vec<CompiledModule> = if files.is_empty() {
        list.iter()
            .zip(&asts)
            .filter(|((name, _), _)| name.contains("stdlib/"))
            .map(|((name, text), ast)| {
                let module = Path::new(name)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                (module, name.clone(), text.clone(), ast.clone())
            })
            .collect()
    } else {
        compile_stdlib(&engine, &sources)?
    };
    let scripts: Vec<Script> = list
        .iter()
        .zip(&asts)
        .map(|((name, text), ast)| Script { name, text, ast })
        .collect();
    let findings = preflight(&engine, &settings, &stdlib).findings(&scripts);
    let bad = findings.files();
    if !g.json {
        for (name, _) in &list {
            if !bad.contains(name) {
                println!("ok  {name}");
            }
        }
    }
    findings.into_result()?;
    super::layout::validated(&settings)?;
    if g.json {
        let names: Vec<&String> = list.iter().map(|(n, _)| n).collect();
        println!("{}", json!({"compiled": names}));
    }
    Ok(())
}
