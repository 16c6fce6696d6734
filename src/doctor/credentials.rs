//! Doctor's credentials probe: which source of the SDK's chain answers
//! (never a secret).

use aws_credential_types::provider::ProvideCredentials;

use super::{Check, STEP_TIMEOUT, guard_on};
use crate::aws::REQUIRE_LOOPBACK_ENV;
use crate::error::Kind;

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
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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

pub(super) fn found(source: impl Into<String>, c: &aws_credential_types::Credentials) -> Creds {
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

pub(super) fn credentials_check(creds: &Creds) -> Check {
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
