//! AWS access in plain Rust: clients, errors, and the find-or-create logic
//! for every resource of the lesson (no Rhai engine here; `src/api/ec2.rs`
//! and `src/api/elb.rs` bind it and add the script call's name to errors,
//! which here name the AWS operation, code and message).
//!
//! - [`network`]: EC2 networking — VPC and DHCP options, subnet, internet
//!   gateway and route table, security group;
//! - [`elb`]: ELBv2 — load balancer, target group, listener;
//! - [`compute`]: image, key pair, nodes (spec, launch, wait);
//! - [`teardown`]: deleting it all again (nodes, ELB, network) and
//!   `leftovers`;
//! - [`spec`]: the maps scripts pass (rules, nodes, placement), checked;
//! - [`tags`]: the cluster's tags and the look-ups by them;
//! - [`once`]: creates that are never sent twice, duplicates noticed;
//! - [`types`]: the typed values scripts get back.

pub mod compute;
pub mod elb;
pub mod network;
pub mod once;
pub mod spec;
pub mod tags;
pub mod teardown;
pub mod types;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::error::{Error, Kind, Result};

/// Set by the test harness: refuse any endpoint that is not loopback, so a
/// test can never reach real AWS.
pub const REQUIRE_LOOPBACK_ENV: &str = "GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT";

/// How to reach AWS.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    /// The region.
    pub region: String,
    /// An endpoint override (moto, LocalStack), if any.
    pub endpoint: Option<String>,
    /// Attempts per call (the SDK's retry policy).
    pub max_attempts: u32,
    /// `standard` or `adaptive`.
    pub retry_mode: String,
    /// The local emulator (`--local`): dummy credentials made in this
    /// process, and nothing read from the AWS profile, its files or the
    /// `AWS_*` variables.
    pub local: bool,
}

/// The dummy credentials of the local emulator: made here, given to the
/// SDK in this process only, and only ever sent to the emulator on 127.0.0.1.
pub fn local_credentials() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        "groundup-local",
        "groundup-local-emulator",
        None,
        None,
        "groundup-local-emulator",
    )
}

/// The AWS clients groundup uses.
#[derive(Clone, Debug)]
pub struct Aws {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Elastic Load Balancing v2.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

/// The domain of EC2's private DNS names in a region: `ec2.internal` in
/// us-east-1, `<region>.compute.internal` elsewhere. The one copy of this
/// rule: the DHCP options' default domain, the nodes' `private_dns` in
/// state, the certificates' SANs and `stdlib/nodes.rhai` (through
/// `ec2::internal_domain`) all take it from here.
pub fn internal_domain(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".to_string()
    } else {
        format!("{region}.compute.internal")
    }
}

/// Whether `url` points at this machine (127.0.0.0/8, ::1 or localhost).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(h) = host_port.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// Refuses to go on when the test guard is set and the endpoint is not
/// loopback.
pub fn check_endpoint_guard(endpoint: Option<&str>) -> Result<()> {
    if std::env::var_os(REQUIRE_LOOPBACK_ENV).is_some() {
        match endpoint {
            Some(e) if is_loopback_url(e) => Ok(()),
            Some(e) => Err(Error::usage(format!(
                "refusing to reach {e}: {REQUIRE_LOOPBACK_ENV} is set and the endpoint is not loopback"
            ))),
            None => Err(Error::usage(format!(
                "refusing to reach AWS: {REQUIRE_LOOPBACK_ENV} is set and no --endpoint / AWS_ENDPOINT_URL is given"
            ))),
        }
    } else {
        Ok(())
    }
}

impl Aws {
    /// Builds the clients from the standard configuration chain, with the
    /// endpoint override and retry policy, and checks that credentials can be
    /// found before any call is made.
    pub async fn connect(opts: &AwsOptions) -> Result<Aws> {
        check_endpoint_guard(opts.endpoint.as_deref())?;
        let retry = if opts.retry_mode == "adaptive" {
            RetryConfig::adaptive()
        } else {
            RetryConfig::standard()
        }
        .with_max_attempts(opts.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(Duration::from_secs(30))
            .operation_attempt_timeout(Duration::from_secs(40))
            .operation_timeout(Duration::from_secs(120))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(opts.region.clone()))
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(ep) = &opts.endpoint {
            loader = loader.endpoint_url(ep);
            if ep.starts_with("http://") {
                loader = loader.http_client(plain_http_client());
            }
        }
        if opts.local {
            // No environment and no profile files: the user's AWS
            // configuration cannot reach a local run, nor the reverse.
            loader = loader
                .empty_test_environment()
                .profile_files(
                    aws_runtime::env_config::file::EnvConfigFiles::builder()
                        .with_contents(aws_runtime::env_config::file::EnvConfigFileKind::Config, "")
                        .build(),
                )
                .credentials_provider(local_credentials());
        } else if std::env::var_os(REQUIRE_LOOPBACK_ENV).is_some() {
            // Under the test guard, credentials come from the environment
            // only: never from instance metadata or any other network source.
            loader = loader.credentials_provider(
                aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new(),
            );
        }
        let config = loader.load().await;
        let Some(creds) = config.credentials_provider() else {
            return Err(no_credentials("no credentials provider is configured"));
        };
        if let Err(e) = tokio::time::timeout(Duration::from_secs(10), creds.provide_credentials())
            .await
            .map_err(|_| no_credentials("looking for credentials timed out after 10 s"))?
        {
            return Err(no_credentials(&e.to_string()));
        }
        Ok(Aws {
            ec2: aws_sdk_ec2::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
        })
    }
}

/// The HTTP client for a plain-`http://` endpoint (a local emulator): the
/// SDK's default client, but without loading the system's root
/// certificates, which an unencrypted endpoint never uses (parsing them is
/// most of the SDK's start-up cost). HTTPS would fail with it: only used
/// when the endpoint is `http://`.
fn plain_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let no_roots = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty())
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(no_roots)
        .build_https()
}

fn no_credentials(why: &str) -> Error {
    Error::new(Kind::Aws, format!("no AWS credentials found: {why}")).with_help(
        "set AWS_PROFILE (see `aws configure`) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; for a local emulator use dummy keys with --endpoint; or try `--plan`, which needs no AWS at all",
    )
}

/// Runs a call on a resource that was just created, retrying while AWS
/// answers `*.NotFound` (eventual consistency: a new ID can take a moment to
/// be visible to other calls). Gives up after about 15 s.
pub async fn eventually<T, E, R, F, Fut>(operation: &str, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match eventually_or_done(operation, false, f).await? {
        Some(v) => Ok(v),
        None => Err(Error::aws(operation, "EmptyResponse", "no answer")),
    }
}

/// [`eventually`] for a call that changes something (attach, add a route,
/// authorize a rule): when AWS answers that what it asks for holds already
/// (the SDK retried a call whose first answer was lost, see
/// [`once::already_done`]), that is success.
pub async fn apply<T, E, R, F, Fut>(operation: &str, f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    eventually_or_done(operation, true, f).await.map(|_| ())
}

async fn eventually_or_done<T, E, R, F, Fut>(
    operation: &str,
    accept_done: bool,
    mut f: F,
) -> Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let mut delay = Duration::from_millis(200);
    let start = std::time::Instant::now();
    loop {
        match f().await {
            Ok(v) => return Ok(Some(v)),
            Err(e) => {
                let code = code_of(&e);
                if accept_done && once::already_done(operation, code.as_deref()) {
                    return Ok(None);
                }
                let not_found = code
                    .as_deref()
                    .is_some_and(|c| c.ends_with(".NotFound") || c.ends_with("NotFound"));
                if not_found && start.elapsed() < Duration::from_secs(15) {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
                return Err(aws_error(operation, e));
            }
        }
    }
}

/// The error code of an SDK error, if AWS sent one.
pub fn code_of<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<String> {
    match err {
        SdkError::ServiceError(se) => se.err().code().map(str::to_string),
        _ => None,
    }
}

/// Turns an SDK error into groundup's error: `Operation: Code: message`.
pub fn aws_error<E, R>(operation: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("UnknownError").to_string();
            let message = se.err().message().unwrap_or("(no message)").to_string();
            let mut e = Error::aws(operation, &code, &message);
            if let Some(h) = hint_for(&code) {
                e = e.with_help(h);
            }
            e
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Error::aws(
            operation,
            "Unreachable",
            &DisplayErrorContext(&err).to_string(),
        )
        .with_help("check --endpoint / AWS_ENDPOINT_URL, your network, and the region"),
        _ => Error::aws(operation, "Error", &DisplayErrorContext(&err).to_string()),
    }
}

fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "AuthFailure" | "UnrecognizedClientException" | "InvalidClientTokenId" => {
            "AWS rejected the credentials: check AWS_PROFILE / the access keys"
        }
        "UnauthorizedOperation" | "AccessDenied" => "the credentials lack permission for this call",
        "InvalidAMIID.NotFound" | "InvalidAMIID.Malformed" => {
            "the image does not exist in this region: fix `image_id` or leave it empty to look one up"
        }
        "InvalidParameterValue" => "a value passed to AWS is not accepted: check the settings",
        "VpcLimitExceeded" | "InstanceLimitExceeded" | "VcpuLimitExceeded" => {
            "an account quota is reached: free resources or ask AWS for a higher limit"
        }
        _ => return None,
    })
}
