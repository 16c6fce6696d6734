//! What each command does: load settings, build the host and engine, run
//! runbooks, print results.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use crate::aws::AwsOptions;
use crate::cli::Global;
use crate::embedded;
use crate::engine::{self, Resolver, Sources};
use crate::error::{Error, Result};
use crate::host::{Host, OutputOptions, Plan};
use crate::preflight::{Preflight, Script};
use crate::settings::{Origin, Settings};
use crate::state::{Origin as StateOrigin, State};

pub mod layout;
pub mod pki_check;

/// The project directory: where `runbooks/` and `stdlib/` copies are looked
/// for (the current directory).
pub fn project_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// The region from the AWS config chain (environment, then profile); no
/// network lookups (no instance metadata).
fn aws_chain_region() -> Option<String> {
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(r) = std::env::var(var)
            && !r.trim().is_empty()
        {
            return Some(r.trim().to_string());
        }
    }
    // No config file, no profile region: skip building a runtime to find out.
    let config = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".aws").join("config")));
    if !config.is_some_and(|c| c.exists()) {
        return None;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        use aws_config::meta::region::ProvideRegion;
        aws_config::profile::ProfileFileRegionProvider::new()
            .region()
            .await
            .map(|r| r.to_string())
    })
}

/// Loads `stdlib/cluster.rhai` (the project's copy, else the built-in one),
/// applies `--cluster`, `--set` and `--region`, and validates everything.
/// Nothing here touches AWS.
pub fn load_settings(g: &Global, sources: &Sources) -> Result<Settings> {
    let dirs = engine::stdlib_dirs(&project_dir());
    let (name, text) = Resolver::find(&dirs, "cluster")
        .ok_or_else(|| Error::usage("no cluster settings: stdlib/cluster.rhai is missing"))?;
    sources.insert(&name, &text);
    let eng = engine::plain_engine();
    let mut settings = Settings::evaluate(&eng, &name, &text)
        .map_err(|e| engine::script_error(&e, &name, sources, &[]))?;
    // The file as a whole: known keys, none missing, the right types.
    crate::preflight::check_settings_file(&settings)?;
    for pair in &g.set {
        settings.apply_set(pair)?;
    }
    if let Some(c) = &g.cluster {
        settings.set_text("name", c, Origin::Flag("--cluster"))?;
    }
    if let Some(r) = &g.region {
        settings.set_text("region", r, Origin::Flag("--region"))?;
    } else if !g.local
        && !g.set.iter().any(|s| s.trim_start().starts_with("region="))
        && let Some(r) = aws_chain_region()
    {
        settings.set_text("region", &r, Origin::AwsConfig)?;
    }
    if settings.str("dhcp_domain_name").is_empty() {
        let dn = crate::aws::internal_domain(&settings.str("region"));
        settings.set_value("dhcp_domain_name", dn.into(), Origin::Derived);
    }
    settings.validate()?;
    Ok(settings)
}

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
    let local = project_dir().join("runbooks").join(format!("{arg}.rhai"));
    if let Ok(t) = std::fs::read_to_string(&local) {
        return Ok((format!("runbooks/{arg}.rhai"), t));
    }
    embedded::runbook(arg)
        .map(|t| (format!("<builtin>/runbooks/{arg}.rhai"), t.to_string()))
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

/// Builds the host for a command.
pub fn make_host(g: &Global, settings: Settings, lock: bool) -> Result<Arc<Host>> {
    let cluster = settings.str("name");
    if g.endpoint.is_some() {
        // Fail fast on a non-loopback endpoint under the test guard; with no
        // endpoint the guard stops the first AWS call instead.
        crate::aws::check_endpoint_guard(g.endpoint.as_deref())?;
    }
    let mut state = State::open(&g.state_dir, &cluster, g.plan)?;
    if lock && !g.plan {
        state.lock(&cluster)?;
    }
    // State made on the emulator is never used on AWS, nor the reverse
    // (offline tools such as `check` and `fns` build a plan host and skip it).
    if lock || !g.plan {
        state.claim_origin(&cluster, origin_of(g))?;
    }
    let online = g.endpoint.is_some()
        || std::env::var_os("AWS_PROFILE").is_some()
        || std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
    let plan = g.plan.then(|| Plan::new(online && g.endpoint.is_some()));
    let aws = AwsOptions {
        region: settings.str("region"),
        endpoint: g.endpoint.clone(),
        max_attempts: settings.int("aws_max_attempts").clamp(1, 20) as u32,
        retry_mode: settings.str("aws_retry_mode"),
        local: g.local,
    };
    // The node layout (stdlib/nodes.rhai); a mistake in it is reported
    // where it is needed (after the pre-flight of `run`), not here.
    let nodes = layout::planned(&settings);
    let host = Host::new(
        settings,
        state,
        aws,
        plan,
        OutputOptions {
            json: g.json,
            verbose: g.verbose,
        },
    )?
    .with_layout(nodes);
    Ok(Arc::new(host))
}

/// Where a command's AWS calls go: the emulator under `--local` or with an
/// `--endpoint` that is not AWS's own, else real AWS.
pub fn origin_of(g: &Global) -> StateOrigin {
    match (&g.endpoint, g.local) {
        (_, true) => StateOrigin::Emulator,
        (Some(ep), false) if !is_aws_endpoint(ep) => StateOrigin::Emulator,
        _ => StateOrigin::Aws,
    }
}

/// Whether an endpoint URL is one of AWS's own (`*.amazonaws.com`,
/// `*.amazonaws.com.cn`, `*.api.aws`).
fn is_aws_endpoint(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
        .iter()
        .any(|s| host.ends_with(s))
}

/// Installs a Ctrl-C handler that sets the host's interrupt flag.
fn on_ctrl_c(host: &Arc<Host>) {
    let flag = host.interrupted.clone();
    host.runtime().spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
}

/// Every stdlib module visible to runbooks: the project's `stdlib/*.rhai`,
/// then the built-in ones it does not override.
pub fn stdlib_sources() -> Vec<(String, String)> {
    let dirs = engine::stdlib_dirs(&project_dir());
    let mut names: Vec<String> = embedded::STDLIB
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    for d in &dirs {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "rhai")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                    && !names.iter().any(|n| n == stem)
                {
                    names.push(stem.to_string());
                }
            }
        }
    }
    names
        .iter()
        .filter_map(|n| Resolver::find(&dirs, n))
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
    layout::validated(&host.settings)?;
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

/// `groundup settings`.
pub fn cmd_settings(g: &Global) -> Result<()> {
    let sources = Sources::default();
    let s = load_settings(g, &sources)?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s.to_json()).unwrap_or_default()
        );
        return Ok(());
    }
    for line in settings_lines(&s, g.verbose) {
        println!("{line}");
    }
    Ok(())
}

/// The settings as `groundup settings` prints them: `key = value
/// [origin]`, with each setting's documentation when `verbose`.
pub fn settings_lines(s: &Settings, verbose: bool) -> Vec<String> {
    let mut out = Vec::new();
    for item in s.iter() {
        let v = if item.value.is_array() {
            format!("{:?}", item.value)
        } else if item.value.is_string() {
            format!("{:?}", item.value.to_string())
        } else {
            item.value.to_string()
        };
        let origin = if item.origin == Origin::File {
            String::new()
        } else {
            format!("  [{}]", item.origin)
        };
        out.push(format!("{:<26} = {v}{origin}", item.key));
        if verbose && !item.doc.is_empty() {
            out.push(format!("{:<28}{}", "", item.doc));
        }
    }
    out
}

/// `groundup check`: compiles runbooks and stdlib modules.
pub fn cmd_check(g: &Global, files: &[PathBuf]) -> Result<()> {
    let sources = Arc::new(Sources::default());
    let settings = load_settings(g, &sources)?;
    let mut g2 = g.clone();
    g2.plan = true;
    let host = make_host(&g2, settings.clone(), false)?;
    let scope = engine::new_scope(&host.settings);
    let engine = engine::build(host, &project_dir(), sources.clone());
    let mut list: Vec<(String, String)> = Vec::new();
    if files.is_empty() {
        for (dir, embedded_list) in [
            ("runbooks", embedded::RUNBOOKS),
            ("stdlib", embedded::STDLIB),
        ] {
            for (name, text) in embedded_list {
                let local = project_dir().join(dir).join(format!("{name}.rhai"));
                match std::fs::read_to_string(&local) {
                    Ok(t) => list.push((format!("{dir}/{name}.rhai"), t)),
                    Err(_) => list.push((format!("<builtin>/{dir}/{name}.rhai"), text.to_string())),
                }
            }
            if let Ok(rd) = std::fs::read_dir(project_dir().join(dir)) {
                for e in rd.flatten() {
                    let p = e.path();
                    let shown = format!(
                        "{dir}/{}",
                        p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
                    );
                    if p.extension().is_some_and(|x| x == "rhai")
                        && !list.iter().any(|(n, _)| *n == shown)
                        && let Ok(t) = std::fs::read_to_string(&p)
                    {
                        list.push((shown, t));
                    }
                }
            }
        }
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
    layout::validated(&settings)?;
    if g.json {
        let names: Vec<&String> = list.iter().map(|(n, _)| n).collect();
        println!("{}", json!({"compiled": names}));
    }
    Ok(())
}

/// `groundup fns`: the registered API from Rhai's metadata.
pub fn cmd_fns(g: &Global, namespace: Option<&str>, definitions: Option<&Path>) -> Result<()> {
    let sources = Arc::new(Sources::default());
    let settings = load_settings(g, &sources)?;
    let mut g2 = g.clone();
    g2.plan = true;
    let host = make_host(&g2, settings, false)?;
    let scope = engine::new_scope(&host.settings);
    let engine = engine::build(host, &project_dir(), sources);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_endpoints_are_aws_and_anything_else_is_an_emulator() {
        assert!(is_aws_endpoint("https://ec2.us-east-2.amazonaws.com"));
        assert!(is_aws_endpoint("https://ec2.cn-north-1.amazonaws.com.cn/"));
        assert!(is_aws_endpoint("https://ec2.us-east-2.api.aws:443"));
        assert!(!is_aws_endpoint("http://127.0.0.1:5000"));
        assert!(!is_aws_endpoint("http://amazonaws.com.evil.test"));
    }
}
