//! Doctor's network probes: the endpoint accepts connections, EC2 answers,
//! the account and its limits — each bounded by [`STEP_TIMEOUT`].

use std::time::{Duration, Instant};

use super::{Check, Creds, STEP_TIMEOUT, error_fix};
use crate::aws::{Aws, aws_error, check_endpoint_guard};
use crate::cli::Global;
use crate::error::{Error, Kind};
use crate::settings::Settings;

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
    crate::aws::url_host_port(url)
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

pub(super) async fn endpoint_check(g: &Global, region: &str) -> Check {
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

pub(super) async fn timed<T, F>(what: &str, fut: F) -> std::result::Result<T, Error>
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

pub(super) fn aws_fail(name: &'static str, e: &Error) -> Check {
    Check::fail(name, Kind::Aws, e.message.clone(), error_fix(e, ""))
}

pub(super) async fn aws_checks(
    aws: &Aws,
    settings: &Settings,
    creds: &Creds,
    checks: &mut Vec<Check>,
) {
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
