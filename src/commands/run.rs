//! `groundup run` (and `up`): runbooks in order on one host, then the
//! plan or the summary.

use std::sync::Arc;

use serde_json::json;

use super::{
    compile_stdlib, load_settings, make_host, on_ctrl_c, preflight, project_dir, resolve_runbook,
};
use crate::cli::Global;
use crate::engine::{self, Sources};
use crate::error::Result;
use crate::host::Host;
use crate::preflight::Script;

/// Runs runbooks in order on one host (shared state).
pub fn run_runbooks(g: &Global, names: &[String]) -> Result<Arc<Host>> {
    let sources = Arc::new(Sources::default());
    let settings = load_settings(g, &sources)?;
    // Resolve every runbook before doing anything.
    let books: Vec<(String, String)> = names
        .iter()
        .map(|n| resolve_runbook(n))
        .collect::<Result<_>>()?;
    let host = make_host(g, settings, true)?;
    on_ctrl_c(&host);
    let engine = engine::build(host.clone(), &project_dir(), sources.clone());
    // Compile everything first (runbooks and the stdlib modules they may
    // import): a syntax error anywhere stops before any AWS call.
    let stdlib = compile_stdlib(&engine, &sources)?;
    let mut asts = Vec::with_capacity(books.len());
    for (name, text) in &books {
        asts.push(engine::compile(
            &engine,
            &engine::new_scope(&host.settings),
            name,
            text,
            &sources,
        )?);
    }
    // Then the pre-flight: every call, module and setting they name exists.
    let scripts: Vec<Script> = books
        .iter()
        .zip(&asts)
        .map(|((name, text), ast)| Script { name, text, ast })
        .collect();
    preflight(&engine, &host.settings, &stdlib).check(&scripts)?;
    // Where the nodes go: stdlib/nodes.rhai's layout, checked against the
    // settings (inside the subnet, one address each, a master).
    super::layout::validated(&host.settings)?;
    // A runbook that makes the SSH key pair will need a new RSA key if the
    // cluster has no private key file yet: generate it in the background
    // while the steps before it wait on AWS.
    if books
        .iter()
        .any(|(_, text)| text.contains("create_key_pair("))
        && !crate::aws::compute::key_path(&host, &host.cluster).exists()
    {
        host.prefetch_ssh_key();
    }
    for ((name, _), ast) in books.iter().zip(&asts) {
        let mut scope = engine::new_scope(&host.settings);
        match engine::eval(&engine, &mut scope, name, ast, &sources) {
            Ok(_) => {}
            // On an emulator the node steps cannot run (crate::ssh::guard):
            // say so in one line and stop here; what was done stands.
            Err(e) if e.kind == crate::error::Kind::NoMachines => {
                eprintln!("{}", e.message);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(host)
}

/// Prints the end of a run: the plan, or a summary.
pub fn finish(g: &Global, host: &Host) -> Result<()> {
    if let Some(plan) = &host.plan {
        let ops = plan.ops();
        if g.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"plan": ops})).unwrap_or_default()
            );
        } else {
            let count = |op: &str| ops.iter().filter(|o| o.operation == op).count();
            let (local, uploads, execs) =
                (count("WriteFile"), count("SshUpload"), count("SshExec"));
            let mut files = String::new();
            if local > 0 {
                files.push_str(&format!("; {local} local file(s) would be written"));
            }
            if uploads + execs > 0 {
                files.push_str(&format!(
                    "; {uploads} upload(s) and {execs} command(s) over SSH (no connection was made)"
                ));
            }
            println!(
                "Plan: {} AWS operation(s) would be made (nothing was changed){files}:",
                ops.len() - local - uploads - execs
            );
            for (i, op) in ops.iter().enumerate() {
                let id = if op.id.is_empty() {
                    String::new()
                } else {
                    format!(" -> {}", op.id)
                };
                println!("{:>3}. {}{} {}", i + 1, op.operation, id, op.params);
            }
        }
        return Ok(());
    }
    let events = host.events();
    let created = events
        .iter()
        .filter(|e| e.status == crate::outcome::Outcome::Created)
        .count();
    let reused = events
        .iter()
        .filter(|e| e.status == crate::outcome::Outcome::Reused)
        .count();
    let deleted = events
        .iter()
        .filter(|e| e.status == crate::outcome::Outcome::Deleted)
        .count();
    let st = host.state();
    if g.json {
        let out = json!({
            "cluster": host.cluster,
            "region": host.region,
            "created": created,
            "reused": reused,
            "deleted": deleted,
            "elapsed_ms": host.elapsed().as_millis() as u64,
            "events": events,
            "state": st.all(),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        crate::summary::print(host, &st);
    }
    Ok(())
}
