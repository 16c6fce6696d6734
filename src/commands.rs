//! The command line's commands: one file each under `src/commands/`
//! (cargo's layout for subcommands); here what they share — the settings
//! (`stdlib/cluster.rhai` plus flags), the host of a run, and the
//! introspection host (an engine that never calls AWS, for `fns`, `check`,
//! `doctor` and the docs).

pub mod check;
pub mod fns;
pub mod layout;
pub mod lifecycle;
pub mod pki_check;
pub mod run;
pub mod runbooks;
pub mod scripts;
pub mod settings;
pub mod ssh;

use std::path::PathBuf;
use std::sync::Arc;

use crate::aws::AwsOptions;
use crate::catalog::{self, FileKind};
use crate::cli::Global;
use crate::engine::{self, Sources};
use crate::error::{Error, Result};
use crate::host::{Host, OutputOptions, Plan};
use crate::settings::{Origin, Settings};
use crate::state::{Origin as StateOrigin, State};

pub use check::cmd_check;
pub use fns::cmd_fns;
pub use run::{finish, run_runbooks};
pub use runbooks::cmd_runbooks;
pub use scripts::{CompiledModule, compile_stdlib, preflight, resolve_runbook, stdlib_sources};
pub use settings::{cmd_settings, settings_lines};

/// The project directory: where `runbooks/` and `stdlib/` copies are looked
/// for (the current directory).
pub fn project_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// The region from the AWS config chain, by aws-config's own providers:
/// the environment (`AWS_REGION`, then `AWS_DEFAULT_REGION`), then the
/// profile; no network lookups (no instance metadata). A blank answer
/// counts as none.
fn aws_chain_region() -> Option<String> {
    use aws_config::environment::region::EnvironmentVariableRegionProvider;
    use aws_config::meta::region::{ProvideRegion, RegionProviderChain};
    use aws_config::profile::ProfileFileRegionProvider;
    // No config file, no profile region: skip the profile (and the runtime
    // its file loading needs) when the environment has nothing.
    let config = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".aws").join("config")));
    let env = EnvironmentVariableRegionProvider::new();
    let blank = |r: Option<aws_config::Region>| {
        r.map(|r| r.as_ref().trim().to_string())
            .filter(|r| !r.is_empty())
    };
    if !config.is_some_and(|c| c.exists()) {
        return blank(futures::executor::block_on(env.region()));
    }
    let chain = RegionProviderChain::first_try(env).or_else(ProfileFileRegionProvider::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    blank(rt.block_on(chain.region()))
}

/// Loads `stdlib/cluster.rhai` (the project's copy, else the built-in one),
/// applies `--cluster`, `--set` and `--region`, and validates everything.
/// Nothing here touches AWS.
pub fn load_settings(g: &Global, sources: &Sources) -> Result<Settings> {
    let catalog::Entry {
        display: name,
        text,
        ..
    } = catalog::lookup(&project_dir(), FileKind::Stdlib, "cluster")
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

/// The introspection host: `settings` on a plan-mode host that takes no
/// lock and claims no state, and the engine built on it. It lists the
/// registered functions and compiles scripts, and never calls AWS: `fns`,
/// `check`, `doctor`'s compile check and the generated docs use it.
pub fn introspection(
    g: &Global,
    settings: Settings,
    sources: Arc<Sources>,
) -> Result<(Arc<Host>, rhai::Engine)> {
    let mut g2 = g.clone();
    g2.plan = true;
    let host = make_host(&g2, settings, false)?;
    let engine = engine::build(host.clone(), &project_dir(), sources);
    Ok((host, engine))
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
    crate::aws::url_host_port(url).is_some_and(|(host, _)| {
        let host = host.to_ascii_lowercase();
        [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
            .iter()
            .any(|s| host.ends_with(s))
    })
}

/// Installs a Ctrl-C handler that sets the host's interrupt flag.
pub(crate) fn on_ctrl_c(host: &Arc<Host>) {
    let flag = host.interrupted.clone();
    host.runtime().spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_introspection_host_plans_locks_nothing_and_lists_every_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let g = Global {
            cluster: None,
            region: Some("us-east-2".into()),
            endpoint: None,
            local: false,
            state_dir: dir.path().into(),
            set: vec![],
            plan: false,
            verbose: false,
            json: false,
        };
        let text = crate::embedded::stdlib("cluster").unwrap();
        let settings =
            Settings::evaluate(&engine::plain_engine(), "stdlib/cluster.rhai", text).unwrap();
        let (host, engine) =
            introspection(&g, settings.clone(), Arc::new(Sources::default())).unwrap();
        assert!(host.planning(), "plan mode even without --plan");
        let fns = crate::docs::functions(&engine);
        for ns in crate::api::NAMESPACES {
            assert!(fns.iter().any(|f| f.namespace == *ns), "{ns} is listed");
        }
        // It holds no lock: a run's host takes the cluster's lock meanwhile.
        let run = make_host(&g, settings, true);
        assert!(run.is_ok(), "{:?}", run.err());
    }

    #[test]
    fn aws_endpoints_are_aws_and_anything_else_is_an_emulator() {
        assert!(is_aws_endpoint("https://ec2.us-east-2.amazonaws.com"));
        assert!(is_aws_endpoint("https://ec2.cn-north-1.amazonaws.com.cn/"));
        assert!(is_aws_endpoint("https://ec2.us-east-2.api.aws:443"));
        assert!(!is_aws_endpoint("http://127.0.0.1:5000"));
        assert!(!is_aws_endpoint("http://amazonaws.com.evil.test"));
    }
}
