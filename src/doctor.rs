//! `groundup doctor`: checks that this machine can build the cluster and
//! explains what is missing, with a fix for each problem.
//!
//! Checks, in order: the settings are valid; every runbook and stdlib module
//! compiles; the state directory is writable; credentials can be found
//! (naming the source of the chain, never a secret); the endpoint accepts
//! connections (bounded time); EC2 answers in the region
//! (`DescribeRegions`); the caller's account (owner of the default security
//! group, or the credentials' account); and the account limits EC2 reports
//! (`DescribeAccountAttributes`) against the node count.
//!
//! Every network step is bounded by a timeout, and AWS checks honour the
//! test guard: under `GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT` only environment
//! credentials are read and only a loopback endpoint is contacted.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;
use serde::Serialize;
use serde_json::json;

use crate::aws::{Aws, AwsOptions, REQUIRE_LOOPBACK_ENV, aws_error, check_endpoint_guard};
use crate::catalog::{self, FileKind, Origin as FileOrigin};
use crate::cli::Global;
use crate::commands::{load_settings, make_host, project_dir};
use crate::engine::{self, Sources};
use crate::error::{Error, Kind, Result};
use crate::settings::Settings;
use crate::style::Paint;

/// Longest wait for one network step (connect, one AWS call, a credential
/// source).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth knowing.
    Warn,
    /// Broken: the run would fail.
    Fail,
    /// Not checked because an earlier check failed.
    Skip,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short name (`credentials`).
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it (empty when fine).
    pub fix: Vec<String>,
    /// The error kind a failure maps to (decides the exit code).
    #[serde(skip)]
    pub kind: Kind,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: Vec::new(),
            kind: Kind::Aws,
        }
    }
    fn warn(name: &'static str, detail: impl Into<String>, fix: Vec<String>) -> Check {
        Check {
            status: Status::Warn,
            fix,
            ..Check::ok(name, detail)
        }
    }
    fn fail(name: &'static str, kind: Kind, detail: impl Into<String>, fix: Vec<String>) -> Check {
        Check {
            status: Status::Fail,
            fix,
            kind,
            ..Check::ok(name, detail)
        }
    }
    fn skip(name: &'static str, why: impl Into<String>) -> Check {
        Check {
            status: Status::Skip,
            ..Check::ok(name, why)
        }
    }
}

fn guard_on() -> bool {
    std::env::var_os(REQUIRE_LOOPBACK_ENV).is_some()
}

fn error_fix(e: &Error, extra: &str) -> Vec<String> {
    let mut fix: Vec<String> = e.help.iter().cloned().collect();
    if !extra.is_empty() {
        fix.push(extra.to_string());
    }
    fix
}

// --- settings and files ------------------------------------------------------

fn settings_check(g: &Global, checks: &mut Vec<Check>) -> Option<Settings> {
    match load_settings(g, &Sources::default()) {
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

fn compile_check(g: &Global, settings: Option<&Settings>) -> Check {
    let Some(settings) = settings else {
        return Check::skip("runbooks", "needs valid settings");
    };
    let mut g2 = g.clone();
    g2.plan = true;
    g2.endpoint = None;
    let sources = Arc::new(Sources::default());
    let host = match make_host(&g2, settings.clone(), false) {
        Ok(h) => h,
        Err(e) => return Check::fail("runbooks", e.kind, e.message, Vec::new()),
    };
    let scope = engine::new_scope(&host.settings);
    let eng = engine::build(host, &project_dir(), sources.clone());
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

// --- credentials ---------------------------------------------------------------

/// Where credentials were found.
#[derive(Debug, Clone)]
pub enum Creds {
    /// Found: the source, the last characters of the access key id, and
    /// the account when the source tells it.
    Found {
        /// Which source of the chain.
        source: String,
        /// `…MPLE`: enough to tell keys apart, never the secret.
        key_hint: String,
        /// The account id, when the credentials carry it.
        account: Option<String>,
    },
    /// Not found, and why.
    Missing(String),
}

/// An error and its sources as one line (`a: b: c`), without repeats.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn found(source: impl Into<String>, c: &aws_credential_types::Credentials) -> Creds {
    let id = c.access_key_id();
    let tail: String = id
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Creds::Found {
        source: source.into(),
        key_hint: if id.chars().count() > 4 {
            format!("…{tail}")
        } else {
            "(short)".into()
        },
        account: c.account_id().map(|a| a.as_str().to_string()),
    }
}

/// Looks for credentials the way the SDK does (environment, then the
/// profile, then the rest of the default chain), remembering which source
/// answered. Under the test guard only the environment is read.
pub async fn find_credentials() -> Creds {
    let env = aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new();
    let env_err = match env.provide_credentials().await {
        Ok(c) => {
            return found(
                "the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
                &c,
            );
        }
        Err(e) => {
            let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
            match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
                (false, false) => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set".into(),
                (true, false) => "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
                (false, true) => "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into(),
                (true, true) => e.to_string(),
            }
        }
    };
    if guard_on() {
        return Creds::Missing(format!(
            "{env_err} (with {REQUIRE_LOOPBACK_ENV} set, only the environment is read)"
        ));
    }
    let explicit = std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.trim().is_empty());
    let profile = explicit.clone().unwrap_or_else(|| "default".into());
    let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .profile_name(&profile)
        .build();
    match tokio::time::timeout(STEP_TIMEOUT * 2, provider.provide_credentials()).await {
        Ok(Ok(c)) => {
            return found(
                format!("profile `{profile}` (~/.aws/config and ~/.aws/credentials)"),
                &c,
            );
        }
        Ok(Err(e)) if explicit.is_some() => {
            return Creds::Missing(format!(
                "AWS_PROFILE={profile}: {} (is [profile {profile}] in ~/.aws/config or [{profile}] in ~/.aws/credentials?)",
                error_chain(&e)
            ));
        }
        Err(_) if explicit.is_some() => {
            return Creds::Missing(format!(
                "AWS_PROFILE={profile}: no answer within {} s",
                (STEP_TIMEOUT * 2).as_secs()
            ));
        }
        _ => {}
    }
    let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .build()
        .await;
    match tokio::time::timeout(STEP_TIMEOUT, chain.provide_credentials()).await {
        Ok(Ok(c)) => found(
            "another source of the default chain (web identity, container or instance metadata)",
            &c,
        ),
        Ok(Err(e)) => Creds::Missing(format!(
            "{env_err}; no profile `{profile}`; and the rest of the chain: {}",
            error_chain(&e)
        )),
        Err(_) => Creds::Missing(format!(
            "{env_err}; no profile `{profile}`; and the rest of the chain gave no answer within {} s",
            STEP_TIMEOUT.as_secs()
        )),
    }
}

fn credentials_check(creds: &Creds) -> Check {
    match creds {
        Creds::Found {
            source,
            key_hint,
            account,
        } => {
            let acct = account
                .as_ref()
                .map(|a| format!(", account {a}"))
                .unwrap_or_default();
            Check::ok(
                "credentials",
                format!("from {source}; access key {key_hint}{acct}"),
            )
        }
        Creds::Missing(why) => Check::fail(
            "credentials",
            Kind::Aws,
            format!("no AWS credentials found: {why}"),
            vec![
                "use a profile: `aws configure --profile NAME`, then `export AWS_PROFILE=NAME`".into(),
                "or export AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… (and AWS_SESSION_TOKEN for temporary keys)".into(),
                "no AWS account? `groundup --local doctor` (and `--local up`) use a local emulator with dummy keys; `groundup --plan up` needs nothing".into(),
            ],
        ),
    }
}

// --- endpoint ------------------------------------------------------------------

/// The EC2 endpoint calls go to: the override, else the public one of the
/// region.
pub fn effective_endpoint(endpoint: Option<&str>, region: &str) -> String {
    match endpoint {
        Some(e) => e.to_string(),
        None if region.starts_with("cn-") => format!("https://ec2.{region}.amazonaws.com.cn"),
        None => format!("https://ec2.{region}.amazonaws.com"),
    }
}

/// `host` and `port` of a URL (`http://127.0.0.1:5000/x` → 127.0.0.1, 5000).
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let default = if scheme.eq_ignore_ascii_case("http") {
        80
    } else {
        443
    };
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let (h, after) = r.split_once(']')?;
        let port = after.strip_prefix(':').map(str::parse).transpose().ok()?;
        (h.to_string(), port)
    } else if let Some((h, p)) = authority.rsplit_once(':') {
        (h.to_string(), Some(p.parse().ok()?))
    } else {
        (authority.to_string(), None)
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port.unwrap_or(default)))
}

/// Opens (and closes) a TCP connection to the endpoint, within
/// [`STEP_TIMEOUT`]; returns how long it took.
pub async fn reach(url: &str) -> std::result::Result<Duration, String> {
    let (host, port) = host_port(url).ok_or_else(|| format!("`{url}` is not a URL"))?;
    let start = Instant::now();
    let attempt = async {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        let mut last = format!("{host} has no addresses");
        for a in addrs {
            match tokio::net::TcpStream::connect(a).await {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("cannot connect to {a}: {e}"),
            }
        }
        Err(last)
    };
    match tokio::time::timeout(STEP_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(start.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "no connection to {host}:{port} within {} s",
            STEP_TIMEOUT.as_secs()
        )),
    }
}

async fn endpoint_check(g: &Global, region: &str) -> Check {
    let url = effective_endpoint(g.endpoint.as_deref(), region);
    if let Err(e) = check_endpoint_guard(g.endpoint.as_deref()) {
        return Check::fail(
            "endpoint",
            Kind::Aws,
            e.message,
            vec!["point groundup at a local emulator: --endpoint http://127.0.0.1:PORT (or AWS_ENDPOINT_URL)".into()],
        );
    }
    match reach(&url).await {
        Ok(t) => Check::ok(
            "endpoint",
            format!("{url} accepts connections ({} ms)", t.as_millis()),
        ),
        Err(why) => {
            let fix = if g.endpoint.is_some() {
                vec![
                    "is the emulator running? or use groundup's own: `--local` instead of --endpoint starts it when needed".into(),
                    "to use real AWS instead, drop --endpoint and `unset AWS_ENDPOINT_URL`".into(),
                ]
            } else {
                vec![format!(
                    "check the network, a proxy or firewall, and that `{region}` is a region you can reach"
                )]
            };
            Check::fail("endpoint", Kind::Aws, format!("{url}: {why}"), fix)
        }
    }
}

// --- AWS calls -------------------------------------------------------------------

async fn timed<T, F>(what: &str, fut: F) -> std::result::Result<T, Error>
where
    F: std::future::Future<Output = std::result::Result<T, Error>>,
{
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(
            Kind::Aws,
            format!("{what}: no answer within {} s", STEP_TIMEOUT.as_secs()),
        )),
    }
}

fn aws_fail(name: &'static str, e: &Error) -> Check {
    Check::fail(name, Kind::Aws, e.message.clone(), error_fix(e, ""))
}

async fn aws_checks(aws: &Aws, settings: &Settings, creds: &Creds, checks: &mut Vec<Check>) {
    let region = settings.str("region");
    // Region: EC2 answers, and lists the region as available.
    let regions = timed("DescribeRegions", async {
        aws.ec2
            .describe_regions()
            .send()
            .await
            .map_err(|e| aws_error("DescribeRegions", e).prefixed("doctor"))
    })
    .await;
    match regions {
        Ok(out) => {
            let names: Vec<&str> = out
                .regions()
                .iter()
                .filter_map(|r| r.region_name())
                .collect();
            if names.contains(&region.as_str()) {
                checks.push(Check::ok(
                    "region",
                    format!("{region} is available to this account (EC2 DescribeRegions)"),
                ));
            } else {
                checks.push(Check::fail(
                    "region",
                    Kind::Aws,
                    format!(
                        "{region} is not among the regions enabled for this account ({})",
                        names.join(", ")
                    ),
                    vec![
                        "pick an enabled region: --region REGION, or `region` in stdlib/cluster.rhai".into(),
                        "opt-in regions are enabled in the AWS console (Account → AWS Regions)".into(),
                    ],
                ));
            }
        }
        Err(e) => {
            checks.push(aws_fail("region", &e));
            checks.push(Check::skip("identity", "EC2 did not answer"));
            checks.push(Check::skip("quotas", "EC2 did not answer"));
            return;
        }
    }

    // Identity: the account owning the default security group.
    let owner = timed("DescribeSecurityGroups", async {
        aws.ec2
            .describe_security_groups()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("group-name")
                    .values("default")
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("DescribeSecurityGroups", e).prefixed("doctor"))
    })
    .await;
    let from_creds = match creds {
        Creds::Found { account, .. } => account.clone(),
        Creds::Missing(_) => None,
    };
    match owner {
        Ok(out) => match out.security_groups().iter().find_map(|g| g.owner_id()) {
            Some(id) => checks.push(Check::ok(
                "identity",
                format!("AWS account {id} (owner of the default security group)"),
            )),
            None => match from_creds {
                Some(id) => checks.push(Check::ok(
                    "identity",
                    format!("AWS account {id} (from the credentials)"),
                )),
                None => checks.push(Check::warn(
                    "identity",
                    format!(
                        "unknown: no default security group in {region} to read the account from"
                    ),
                    Vec::new(),
                )),
            },
        },
        Err(e) => checks.push(Check::warn(
            "identity",
            format!("not available: {}", e.message),
            vec![
                "the credentials need ec2:DescribeSecurityGroups (groundup uses it anyway)".into(),
            ],
        )),
    }

    // Quotas: the account attributes EC2 reports.
    let attrs = timed("DescribeAccountAttributes", async {
        aws.ec2
            .describe_account_attributes()
            .send()
            .await
            .map_err(|e| aws_error("DescribeAccountAttributes", e).prefixed("doctor"))
    })
    .await;
    match attrs {
        Ok(out) => {
            let value = |name: &str| -> Option<i64> {
                out.account_attributes()
                    .iter()
                    .find(|a| a.attribute_name() == Some(name))
                    .and_then(|a| a.attribute_values().first())
                    .and_then(|v| v.attribute_value())
                    .and_then(|v| v.parse().ok())
            };
            let needed = settings.int("masters") + settings.int("workers");
            let mut parts = Vec::new();
            let max_instances = value("max-instances");
            if let Some(m) = max_instances {
                parts.push(format!("max-instances {m} (the cluster needs {needed})"));
            }
            for name in [
                "vpc-max-security-groups-per-interface",
                "vpc-max-elastic-ips",
            ] {
                if let Some(v) = value(name) {
                    parts.push(format!("{name} {v}"));
                }
            }
            match max_instances {
                Some(m) if m < needed => checks.push(Check::fail(
                    "quotas",
                    Kind::Aws,
                    format!("max-instances is {m} but the cluster needs {needed} instances"),
                    vec![
                        "lower masters/workers (--set workers=1), or ask AWS for more (Service Quotas → EC2 → Running On-Demand instances)".into(),
                    ],
                )),
                _ if parts.is_empty() => checks.push(Check::warn(
                    "quotas",
                    "EC2 reported no account limits",
                    Vec::new(),
                )),
                _ => checks.push(Check::ok("quotas", parts.join("; "))),
            }
        }
        Err(e) => checks.push(Check::warn(
            "quotas",
            format!("not available: {}", e.message),
            vec![
                "the credentials need ec2:DescribeAccountAttributes to read account limits".into(),
            ],
        )),
    }
}

/// Runs every check.
pub fn run_checks(g: &Global) -> Vec<Check> {
    let mut checks = Vec::new();
    let settings = settings_check(g, &mut checks);
    checks.push(compile_check(g, settings.as_ref()));
    checks.push(state_dir_check(&g.state_dir));

    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            checks.push(Check::fail(
                "credentials",
                Kind::Io,
                format!("cannot start the async runtime: {e}"),
                Vec::new(),
            ));
            return checks;
        }
    };
    let creds = if g.local {
        // Never the user's: made in this process, sent only to the emulator.
        found(
            "the local emulator's dummy keys (made in this process, sent only to 127.0.0.1)",
            &crate::aws::local_credentials(),
        )
    } else {
        rt.block_on(find_credentials())
    };
    checks.push(credentials_check(&creds));
    let region = settings
        .as_ref()
        .map(|s| s.str("region"))
        .unwrap_or_else(|| "us-east-2".into());
    let endpoint = rt.block_on(endpoint_check(g, &region));
    let endpoint_ok = endpoint.status == Status::Ok;
    checks.push(endpoint);

    let names = ["region", "identity", "quotas"];
    let why = match (&settings, &creds, endpoint_ok) {
        (None, _, _) => Some("needs valid settings"),
        (_, Creds::Missing(_), _) => Some("needs credentials"),
        (_, _, false) => Some("needs a reachable endpoint"),
        _ => None,
    };
    if let Some(why) = why {
        checks.extend(names.iter().map(|n| Check::skip(n, why)));
        return checks;
    }
    let Some(settings) = settings else {
        return checks;
    };
    let opts = AwsOptions {
        region: settings.str("region"),
        endpoint: g.endpoint.clone(),
        max_attempts: 1,
        retry_mode: "standard".into(),
        local: g.local,
    };
    rt.block_on(async {
        match timed("connecting", Aws::connect(&opts)).await {
            Ok(aws) => aws_checks(&aws, &settings, &creds, &mut checks).await,
            Err(e) => {
                checks.push(aws_fail("region", &e));
                checks.extend(
                    names[1..]
                        .iter()
                        .map(|n| Check::skip(n, "EC2 did not answer")),
                );
            }
        }
    });
    checks
}

fn symbol(status: Status, paint: Paint) -> String {
    match status {
        Status::Ok => paint.green("✓"),
        Status::Warn => paint.yellow("!"),
        Status::Fail => paint.red("✗"),
        Status::Skip => paint.dim("-"),
    }
}

/// The report as text lines.
pub fn render(checks: &[Check], paint: Paint) -> Vec<String> {
    let mut out = Vec::new();
    for c in checks {
        let detail = if c.status == Status::Skip {
            paint.dim(&format!("skipped: {}", c.detail))
        } else {
            c.detail.clone()
        };
        out.push(format!(
            "{} {:<13}{detail}",
            symbol(c.status, paint),
            c.name
        ));
        for f in &c.fix {
            out.push(format!("  {:<13}{} {f}", "", paint.bold("fix:")));
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    let skipped = checks.iter().filter(|c| c.status == Status::Skip).count();
    out.push(String::new());
    if failed == 0 {
        out.push(paint.green(&format!(
            "All {} checks passed ({warned} warning(s)).",
            checks.len()
        )));
    } else {
        out.push(paint.red(&format!(
            "{failed} check(s) failed, {skipped} skipped, {warned} warning(s)."
        )));
    }
    out
}

/// `groundup doctor`.
pub fn cmd_doctor(g: &Global) -> Result<()> {
    let checks = run_checks(g);
    let failed: Vec<&Check> = checks.iter().filter(|c| c.status == Status::Fail).collect();
    if g.json {
        let out = json!({"ok": failed.is_empty(), "checks": checks});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for line in render(&checks, Paint::stdout()) {
            println!("{line}");
        }
    }
    match failed.first() {
        None => Ok(()),
        Some(first) => {
            let names: Vec<&str> = failed.iter().map(|c| c.name).collect();
            Err(
                Error::new(first.kind, format!("doctor: {} failed", names.join(", ")))
                    .with_help("follow the `fix:` lines above, then run `groundup doctor` again"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            host_port("http://127.0.0.1:5000"),
            Some(("127.0.0.1".into(), 5000))
        );
        assert_eq!(
            host_port("https://ec2.us-east-2.amazonaws.com/"),
            Some(("ec2.us-east-2.amazonaws.com".into(), 443))
        );
        assert_eq!(host_port("http://[::1]:9/x"), Some(("::1".into(), 9)));
        assert_eq!(
            host_port("http://localhost"),
            Some(("localhost".into(), 80))
        );
        assert_eq!(host_port("http://:80"), None);
        assert_eq!(
            effective_endpoint(None, "cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn state_dir_probe() {
        let d = tempfile::tempdir().unwrap();
        let c = state_dir_check(d.path());
        assert_eq!(c.status, Status::Ok, "{}", c.detail);
        let c = state_dir_check(&d.path().join("not/yet"));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("does not exist yet"), "{}", c.detail);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        let file = d.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert_eq!(state_dir_check(&file).status, Status::Fail);
    }
}
