//! Creates that cannot duplicate, and duplicates that are noticed.
//!
//! The SDK retries a call whose answer was lost (a reset connection, a
//! timeout, a 5xx) as if nothing had happened. For reads and idempotent
//! calls that is right. For a create that AWS already applied it makes a
//! second resource: EC2 has no idempotency token for `CreateVpc`,
//! `CreateSubnet` and the others, and moto treats the one token there is
//! (`RunInstances`' `ClientToken`) as new every time. So every create is
//! sent **once** per attempt (the SDK's retries are turned off for that one
//! operation, see [`ec2_no_retry`]), and a failure that may hide an applied
//! call is followed by a look-up (by tag or name) before anything is tried
//! again ([`create_once`]). The decisions are plain functions
//! ([`classify_parts`], [`after_failure`], [`one_or_none`]) so that they are
//! unit-tested without AWS.

use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error::{Error, Kind, Result};
use crate::host::Host;

/// How many times a create is sent at most (`aws_max_attempts`).
pub fn max_attempts(host: &Host) -> u32 {
    host.aws_options.max_attempts.max(1)
}

/// What a failed create tells about the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The call may have been applied, or may succeed if tried again: a
    /// timeout, a reset or dropped connection, a 5xx, throttling. Look
    /// before trying again.
    Transient,
    /// AWS says the resource already exists (a duplicate name): look it up.
    Exists,
    /// AWS refused the call (a 4xx with a code): it was not applied and
    /// would be refused again.
    Permanent,
}

/// How an SDK error came about (the parts of [`SdkError`] that matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The request could not even be built: never sent.
    Construction,
    /// No answer in time: maybe applied.
    Timeout,
    /// The connection failed: maybe applied (a reset can come after the
    /// request was sent).
    Dispatch,
    /// An answer arrived but could not be read: maybe applied.
    Response,
    /// AWS answered with an error status and code.
    Service,
}

/// Error codes that mean "slow down" or "AWS had a problem": never a
/// verdict on the request itself.
const TRANSIENT_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "EC2ThrottledException",
    "PriorRequestNotComplete",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Error codes that mean "a resource with this name exists already".
const EXISTS_CODES: &[&str] = &[
    "InvalidKeyPair.Duplicate",
    "InvalidGroup.Duplicate",
    "DuplicateLoadBalancerName",
    "DuplicateTargetGroupName",
    "DuplicateListener",
    "InvalidSubnet.Conflict",
];

/// Classifies a failure from its parts.
pub fn classify_parts(source: ErrorSource, status: Option<u16>, code: Option<&str>) -> Failure {
    match source {
        ErrorSource::Construction => Failure::Permanent,
        ErrorSource::Timeout | ErrorSource::Dispatch | ErrorSource::Response => Failure::Transient,
        ErrorSource::Service => {
            if code.is_some_and(|c| EXISTS_CODES.contains(&c)) {
                Failure::Exists
            } else if code.is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || status.is_some_and(|s| s >= 500)
            {
                Failure::Transient
            } else {
                Failure::Permanent
            }
        }
    }
}

/// Classifies an SDK error.
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Failure {
    let (source, status, code) = match err {
        SdkError::ConstructionFailure(_) => (ErrorSource::Construction, None, None),
        SdkError::TimeoutError(_) => (ErrorSource::Timeout, None, None),
        SdkError::DispatchFailure(_) => (ErrorSource::Dispatch, None, None),
        SdkError::ResponseError(_) => (ErrorSource::Response, None, None),
        SdkError::ServiceError(se) => (
            ErrorSource::Service,
            Some(se.raw().status().as_u16()),
            se.err().code(),
        ),
        _ => (ErrorSource::Response, None, None),
    };
    classify_parts(source, status, code)
}

/// What to do after a create failed and the look-up came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The look-up found it: the failed call had been applied (or someone
    /// made it meanwhile). Use it.
    UseFound,
    /// Nothing found and the failure was transient: send the create again.
    TryAgain,
    /// Give up with the create's error.
    GiveUp,
}

/// The decision after a failed create attempt (`attempt` counts from 1).
pub fn after_failure(failure: Failure, found: bool, attempt: u32, max_attempts: u32) -> Next {
    match (failure, found) {
        (Failure::Permanent, _) => Next::GiveUp,
        (_, true) => Next::UseFound,
        (Failure::Exists, false) => Next::GiveUp,
        (Failure::Transient, false) if attempt < max_attempts => Next::TryAgain,
        (Failure::Transient, false) => Next::GiveUp,
    }
}

/// Whether a failure needs a look-up before deciding.
pub fn needs_look_up(failure: Failure) -> bool {
    failure != Failure::Permanent
}

/// The wait before attempt `attempt + 1` (100 ms doubling, at most 5 s).
pub fn backoff(attempt: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(5_000))
}

/// How a resource came to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made<T> {
    /// The create call answered.
    Created(T),
    /// A create's answer was lost (or it hit a duplicate name) and the
    /// look-up found the resource.
    Found(T),
}

impl<T> Made<T> {
    /// The value either way.
    pub fn into_inner(self) -> T {
        match self {
            Made::Created(v) | Made::Found(v) => v,
        }
    }
}

/// Runs `create` (which must not be retried by the SDK: see
/// [`ec2_no_retry`]) until it answers, looking the resource up with `look`
/// after every failure that may hide an applied call. A create is never
/// sent again before a look-up found nothing. Tries at most `max_attempts`
/// creates.
pub async fn create_once<T, C, CF, L, LF>(
    max_attempts: u32,
    mut create: C,
    mut look: L,
) -> Result<Made<T>>
where
    C: FnMut() -> CF,
    CF: Future<Output = std::result::Result<T, (Failure, Error)>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>>>,
{
    let mut attempt = 1;
    loop {
        let (failure, err) = match create().await {
            Ok(v) => return Ok(Made::Created(v)),
            Err(f) => f,
        };
        let mut found = None;
        if needs_look_up(failure) {
            if failure == Failure::Transient {
                tokio::time::sleep(backoff(attempt)).await;
            }
            found = look().await?;
        }
        match after_failure(failure, found.is_some(), attempt, max_attempts.max(1)) {
            Next::UseFound => {
                if let Some(v) = found {
                    return Ok(Made::Found(v));
                }
                return Err(err);
            }
            Next::TryAgain => attempt += 1,
            Next::GiveUp => return Err(err),
        }
    }
}

/// Maps an SDK error of a create to what [`create_once`] needs.
pub fn failed<E>(operation: &str, err: SdkError<E, HttpResponse>) -> (Failure, Error)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    (classify(&err), super::aws_error(operation, err))
}

/// An EC2 per-operation config with the SDK's retries off: for creates,
/// which [`create_once`] retries itself after a look-up.
pub fn ec2_no_retry() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// The ELBv2 counterpart of [`ec2_no_retry`].
pub fn elb_no_retry() -> aws_sdk_elasticloadbalancingv2::config::Builder {
    aws_sdk_elasticloadbalancingv2::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// Codes a retried call that AWS had already applied answers with: the
/// state it asked for holds. `AttachInternetGateway` (the gateway is
/// attached), `AssociateRouteTable` (the subnet is associated),
/// `CreateRoute` (the route exists), `AuthorizeSecurityGroupIngress` (the
/// rule exists).
pub fn already_done(operation: &str, code: Option<&str>) -> bool {
    matches!(
        (operation, code),
        ("AttachInternetGateway", Some("Resource.AlreadyAssociated"))
            | ("AssociateRouteTable", Some("Resource.AlreadyAssociated"))
            | ("CreateRoute", Some("RouteAlreadyExists"))
            | (
                "AuthorizeSecurityGroupIngress",
                Some("InvalidPermission.Duplicate")
            )
    )
}

/// The one resource a look-up may find: `None` for none, the one for one,
/// and an error naming every ID when there are more (`up` never picks one
/// of two silently).
pub fn one_or_none<T>(
    what: &str,
    cluster: &str,
    mut found: Vec<(String, T)>,
) -> Result<Option<(String, T)>> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => {
            let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
            Err(duplicate_error(what, cluster, &ids))
        }
    }
}

/// The error for two or more resources where one is expected.
pub fn duplicate_error(what: &str, cluster: &str, ids: &[&str]) -> Error {
    Error::new(
        Kind::Aws,
        format!(
            "cluster {cluster} has {} {what}s where one is expected: {}",
            ids.len(),
            ids.join(", ")
        ),
    )
    .with_help(
        "groundup will not pick one: delete the extra one(s) by hand (`groundup status --refresh` lists them), or `groundup down` to delete them all",
    )
}

/// The duplicates among `(kind, group, id)` items: one `duplicate KIND
/// [GROUP]: ID ID …` line for every (kind, group) with more than one ID.
/// (`group` tells resources apart where a cluster has several of a kind,
/// e.g. the node name of an instance; empty otherwise.)
pub fn duplicates(items: &[(String, String, String)]) -> Vec<String> {
    let mut by: std::collections::BTreeMap<(&str, &str), Vec<&str>> = Default::default();
    for (kind, group, id) in items {
        let ids = by.entry((kind.as_str(), group.as_str())).or_default();
        if !ids.contains(&id.as_str()) {
            ids.push(id);
        }
    }
    by.into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|((kind, group), ids)| {
            if group.is_empty() {
                format!("duplicate {kind}: {}", ids.join(" "))
            } else {
                format!("duplicate {kind} {group}: {}", ids.join(" "))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn lost_answers_and_throttling_are_transient() {
        for src in [
            ErrorSource::Timeout,
            ErrorSource::Dispatch,
            ErrorSource::Response,
        ] {
            assert_eq!(classify_parts(src, None, None), Failure::Transient);
        }
        assert_eq!(
            classify_parts(
                ErrorSource::Service,
                Some(503),
                Some("RequestLimitExceeded")
            ),
            Failure::Transient
        );
        assert_eq!(
            classify_parts(ErrorSource::Service, Some(400), Some("Throttling")),
            Failure::Transient
        );
        assert_eq!(
            classify_parts(ErrorSource::Service, Some(500), Some("Whatever")),
            Failure::Transient
        );
        assert_eq!(
            classify_parts(ErrorSource::Service, Some(502), None),
            Failure::Transient
        );
    }

    #[test]
    fn refusals_are_permanent_and_duplicates_exist() {
        assert_eq!(
            classify_parts(
                ErrorSource::Service,
                Some(400),
                Some("InvalidParameterValue")
            ),
            Failure::Permanent
        );
        assert_eq!(
            classify_parts(ErrorSource::Construction, None, None),
            Failure::Permanent
        );
        for c in [
            "InvalidKeyPair.Duplicate",
            "DuplicateTargetGroupName",
            "DuplicateListener",
        ] {
            assert_eq!(
                classify_parts(ErrorSource::Service, Some(400), Some(c)),
                Failure::Exists,
                "{c}"
            );
        }
    }

    #[test]
    fn decisions_after_a_failure() {
        use Failure::*;
        assert_eq!(after_failure(Permanent, false, 1, 5), Next::GiveUp);
        assert_eq!(after_failure(Transient, true, 1, 5), Next::UseFound);
        assert_eq!(after_failure(Transient, false, 1, 5), Next::TryAgain);
        assert_eq!(after_failure(Transient, false, 5, 5), Next::GiveUp);
        assert_eq!(after_failure(Exists, true, 1, 5), Next::UseFound);
        assert_eq!(after_failure(Exists, false, 1, 5), Next::GiveUp);
        assert!(!needs_look_up(Permanent));
        assert!(needs_look_up(Transient) && needs_look_up(Exists));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_millis(5_000));
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn err() -> Error {
        Error::aws("CreateVpc", "X", "y")
    }

    #[test]
    fn a_lost_answer_is_found_and_never_sent_twice() {
        let creates = Cell::new(0);
        let looks = Cell::new(0);
        let out = rt().block_on(create_once(
            5,
            || {
                creates.set(creates.get() + 1);
                async { Err::<String, _>((Failure::Transient, err())) }
            },
            || {
                looks.set(looks.get() + 1);
                async { Ok(Some("vpc-1".to_string())) }
            },
        ));
        assert_eq!(out.unwrap(), Made::Found("vpc-1".to_string()));
        assert_eq!((creates.get(), looks.get()), (1, 1));
    }

    #[test]
    fn nothing_found_means_try_again_up_to_the_limit() {
        let creates = Cell::new(0);
        let out = rt().block_on(create_once(
            3,
            || {
                creates.set(creates.get() + 1);
                let n = creates.get();
                async move {
                    if n < 3 {
                        Err((Failure::Transient, err()))
                    } else {
                        Ok("vpc-3".to_string())
                    }
                }
            },
            || async { Ok(None) },
        ));
        assert_eq!(out.unwrap(), Made::Created("vpc-3".to_string()));
        assert_eq!(creates.get(), 3);
        let creates = Cell::new(0);
        let out = rt().block_on(create_once(
            2,
            || {
                creates.set(creates.get() + 1);
                async { Err::<String, _>((Failure::Transient, err())) }
            },
            || async { Ok(None) },
        ));
        assert!(out.is_err());
        assert_eq!(creates.get(), 2);
    }

    #[test]
    fn a_refusal_is_not_looked_up_or_retried() {
        let looks = Cell::new(0);
        let out = rt().block_on(create_once(
            5,
            || async { Err::<String, _>((Failure::Permanent, err())) },
            || {
                looks.set(looks.get() + 1);
                async { Ok(Some("x".to_string())) }
            },
        ));
        assert!(out.is_err());
        assert_eq!(looks.get(), 0);
    }

    #[test]
    fn already_done_codes_are_per_operation() {
        assert!(already_done(
            "AttachInternetGateway",
            Some("Resource.AlreadyAssociated")
        ));
        assert!(already_done("CreateRoute", Some("RouteAlreadyExists")));
        assert!(!already_done(
            "CreateRoute",
            Some("Resource.AlreadyAssociated")
        ));
        assert!(!already_done("AttachInternetGateway", None));
    }

    #[test]
    fn one_of_two_is_an_error_naming_both() {
        assert!(one_or_none::<()>("VPC", "c", vec![]).unwrap().is_none());
        let one = one_or_none("VPC", "c", vec![("vpc-1".to_string(), 7)]).unwrap();
        assert_eq!(one, Some(("vpc-1".to_string(), 7)));
        let e = one_or_none(
            "VPC",
            "c",
            vec![("vpc-1".to_string(), 1), ("vpc-2".to_string(), 2)],
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("cluster c has 2 VPCs where one is expected: vpc-1, vpc-2"),
            "{text}"
        );
    }

    #[test]
    fn duplicates_are_grouped_by_kind_and_group() {
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        let d = duplicates(&[
            s("vpc", "", "vpc-1"),
            s("vpc", "", "vpc-2"),
            s("subnet", "", "subnet-1"),
            s("instance", "master-0", "i-1"),
            s("instance", "master-1", "i-2"),
            s("instance", "master-0", "i-3"),
            s("subnet", "", "subnet-1"),
        ]);
        assert_eq!(
            d,
            vec![
                "duplicate instance master-0: i-1 i-3".to_string(),
                "duplicate vpc: vpc-1 vpc-2".to_string()
            ]
        );
    }
}
