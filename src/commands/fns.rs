//! `groundup fns`: the registered API, from Rhai's metadata.

use std::path::Path;
use std::sync::Arc;

use super::{introspection, load_settings};
use crate::cli::Global;
use crate::engine::{self, Sources};
use crate::error::{Error, Result};

/// `groundup fns`: the registered API from Rhai's metadata.
pub fn cmd_fns(g: &Global, namespace: Option<&str>, definitions: Option<&Path>) -> Result<()> {
    let sources = Arc::new(Sources::default());
    let settings = load_settings(g, &sources)?;
    let (host, engine) = introspection(g, settings, sources)?;
    let scope = engine::new_scope(&host.settings);
    if let Some(dir) = definitions {
        crate::docs::write_definitions(&engine, &scope, dir)
            .map_err(|e| Error::io(format!("cannot write definitions to {}", dir.display()), e))?;
        if !g.json {
            eprintln!("wrote Rhai definitions to {}", dir.display());
        }
        return Ok(());
    }
    let fns = crate::docs::functions(&engine);
    let shown: Vec<&crate::docs::FnDoc> = fns
        .iter()
        .filter(|f| namespace.is_none_or(|ns| f.namespace == ns))
        .collect();
    if shown.is_empty()
        && let Some(ns) = namespace
    {
        return Err(Error::usage(format!("no namespace `{ns}`"))
            .with_help(format!("namespaces: {}", crate::api::NAMESPACES.join(", "))));
    }
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&shown).unwrap_or_default()
        );
        return Ok(());
    }
    for f in shown {
        println!("{}", f.signature);
        for line in f.doc.lines() {
            println!("    {line}");
        }
        println!();
    }
    Ok(())
}
