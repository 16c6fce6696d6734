//! Tearing the cluster down, in reverse dependency order.  Every function
//! finds its resources by the `groundup:cluster` tag **and** by the IDs in
//! state (so it works after a lost state file or a crashed `up`), tolerates
//! "already gone", retries `DependencyViolation` with backoff for a bounded
//! time, and forgets what it deleted from state.  In plan mode the deletes
//! are recorded, not made.
//!
//! - [`nodes`]: the instances and the key pair;
//! - [`elb`]: the listeners, the target group, the load balancer;
//! - [`network`]: security groups, route tables, internet gateways,
//!   subnets, the VPC, the DHCP options;
//! - [`leftovers`]: what of the cluster is still there.

pub mod elb;
pub mod leftovers;
pub mod network;
pub mod nodes;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::json;

pub use elb::{delete_listeners, delete_load_balancer, delete_target_group};
pub use leftovers::{duplicates, leftovers};
pub use network::{
    delete_dhcp_options, delete_internet_gateways, delete_route_tables, delete_security_groups,
    delete_subnets, delete_vpcs,
};
pub use nodes::{delete_key_pair, terminate_nodes};

use crate::aws::{aws_error, code_of};
use crate::error::Result;
use crate::host::Host;

/// Codes that mean the resource is already gone.
const GONE: &[&str] = &[
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidDhcpOptionID.NotFound",
    "InvalidDhcpOptionsID.NotFound",
    "InvalidKeyPair.NotFound",
    "InvalidInstanceID.NotFound",
    "InvalidAssociationID.NotFound",
    "Gateway.NotAttached",
    "LoadBalancerNotFound",
    "TargetGroupNotFound",
    "ListenerNotFound",
];

pub(super) fn is_gone(code: Option<&str>) -> bool {
    code.is_some_and(|c| GONE.contains(&c))
}

/// How long a delete that hits `DependencyViolation` / `ResourceInUse` is
/// retried.
pub fn dependency_timeout(host: &Host) -> Duration {
    let s = host.settings.int("delete_timeout_secs");
    Duration::from_secs(if s > 0 { s as u64 } else { 300 })
}

/// What a failed delete means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDelete {
    /// The resource is already gone: nothing to delete (success).
    Gone,
    /// Something still depends on it (a network interface of a terminated
    /// instance, a listener): wait and try again.
    Wait,
    /// A final error.
    Fail,
}

/// The decision after a delete failed with `code`; `in_time` while the
/// dependency timeout has not run out.
pub fn after_delete_error(code: Option<&str>, in_time: bool) -> AfterDelete {
    let busy = matches!(code, Some("DependencyViolation") | Some("ResourceInUse"));
    if is_gone(code) {
        AfterDelete::Gone
    } else if busy && in_time {
        AfterDelete::Wait
    } else {
        AfterDelete::Fail
    }
}

/// The wait before the next try of a blocked delete: 0.5 s doubling, at
/// most 10 s.
pub fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(Duration::from_secs(10))
}

/// Runs one delete call, retrying dependency errors with backoff until the
/// timeout; `Ok(false)` when the resource was already gone.
pub(super) async fn delete_with_retry<F, Fut, E, R>(host: &Host, op: &str, mut f: F) -> Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<(), aws_sdk_ec2::error::SdkError<E, R>>>,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let start = Instant::now();
    let limit = dependency_timeout(host);
    let mut delay = Duration::from_millis(500);
    loop {
        match f().await {
            Ok(()) => return Ok(true),
            Err(e) => match after_delete_error(code_of(&e).as_deref(), start.elapsed() < limit) {
                AfterDelete::Gone => return Ok(false),
                AfterDelete::Wait => {
                    tokio::time::sleep(delay).await;
                    delay = next_delay(delay);
                }
                AfterDelete::Fail => return Err(aws_error(op, e)),
            },
        }
    }
}

/// Deletes each ID (or records the delete in plan mode), retrying
/// dependency errors; returns the IDs deleted. `param` names the ID in the
/// plan (`SubnetId`), `kind` in the run's events (`subnet`).
pub(super) async fn delete_each<F, Fut, E, R>(
    host: &Host,
    op: &str,
    (kind, param): (&str, &str),
    ids: impl IntoIterator<Item = String>,
    delete: F,
) -> Result<Vec<String>>
where
    F: Fn(aws_sdk_ec2::Client, String) -> Fut,
    Fut: Future<Output = std::result::Result<(), aws_sdk_ec2::error::SdkError<E, R>>>,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let mut deleted = Vec::new();
    for id in ids {
        let Some(aws) = host.unless_planned(op, || json!({ param: id })).await? else {
            deleted.push(id);
            continue;
        };
        let ec2 = aws.ec2.clone();
        if delete_with_retry(host, op, || delete(ec2.clone(), id.clone())).await? {
            host.event(kind, &id, crate::outcome::Outcome::Deleted);
            deleted.push(id);
        }
    }
    Ok(deleted)
}

pub(super) fn state_ids(host: &Host, key: &str) -> BTreeSet<String> {
    host.recalled(key)
        .into_iter()
        .filter(|s| !s.contains("-planned"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::tags::Tagged;

    #[test]
    fn gone_is_success_busy_waits_the_rest_fails() {
        for c in [
            "InvalidVpcID.NotFound",
            "Gateway.NotAttached",
            "TargetGroupNotFound",
        ] {
            assert_eq!(after_delete_error(Some(c), true), AfterDelete::Gone, "{c}");
            assert_eq!(after_delete_error(Some(c), false), AfterDelete::Gone, "{c}");
        }
        for c in ["DependencyViolation", "ResourceInUse"] {
            assert_eq!(after_delete_error(Some(c), true), AfterDelete::Wait, "{c}");
            assert_eq!(after_delete_error(Some(c), false), AfterDelete::Fail, "{c}");
        }
        assert_eq!(
            after_delete_error(Some("UnauthorizedOperation"), true),
            AfterDelete::Fail
        );
        assert_eq!(after_delete_error(None, true), AfterDelete::Fail);
    }

    #[test]
    fn blocked_deletes_back_off_to_ten_seconds() {
        let mut d = Duration::from_millis(500);
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(d.as_millis());
            d = next_delay(d);
        }
        assert_eq!(seen, vec![500, 1000, 2000, 4000, 8000, 10000]);
    }

    #[test]
    fn network_resources_go_dependents_first() {
        // What holds a resource is deleted before it: the groups and route
        // tables before the subnet and the gateway's VPC, the VPC before
        // the DHCP options it uses.
        let pos = |k: Tagged| Tagged::ALL.iter().position(|x| *x == k).unwrap_or(99);
        assert!(pos(Tagged::SecurityGroup) < pos(Tagged::Vpc));
        assert!(pos(Tagged::RouteTable) < pos(Tagged::Subnet));
        assert!(pos(Tagged::InternetGateway) < pos(Tagged::Vpc));
        assert!(pos(Tagged::Subnet) < pos(Tagged::Vpc));
        assert!(pos(Tagged::Vpc) < pos(Tagged::DhcpOptions));
        let kinds: Vec<&str> = Tagged::ALL.iter().map(|k| k.kind()).collect();
        assert_eq!(
            kinds,
            [
                "security-group",
                "route-table",
                "internet-gateway",
                "subnet",
                "vpc",
                "dhcp-options"
            ]
        );
    }
}
