//! `groundup doctor`: checks that this machine can build the cluster and
//! explains what is missing, with a fix for each problem.
//!
//! Here the model (a [`Check`] and its [`Status`]) and the order of the
//! checks; the probes in [`files`], [`credentials`] and [`aws`]; the text
//! report in [`render`].
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

mod aws;
mod credentials;
mod files;
mod render;

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::aws::{Aws, AwsOptions, REQUIRE_LOOPBACK_ENV};
use crate::cli::Global;
use crate::error::{Error, Kind, Result};
use crate::style::Paint;

use aws::*;
pub use aws::{effective_endpoint, host_port, reach};
use credentials::*;
pub use credentials::{Creds, find_credentials};
pub use files::state_dir_check;
use files::*;
pub use render::render;

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
