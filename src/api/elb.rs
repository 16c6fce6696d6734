//! `elb::` — the network load balancer in front of the API servers.

use rhai::plugin::*;

crate::api::namespace!("elb");

#[export_module]
pub mod elb_api {
    use rhai::Array;

    use super::{NS, bad_arg, fail};
    use crate::api::{host, strings};
    use crate::aws::types::*;
    use crate::aws::{elb, teardown};
    use crate::net::cidr;

    /// Finds (by name) or creates the internet-facing network load balancer
    /// in the subnet (the lesson's `elbv2 create-load-balancer --type network`).
    #[rhai_fn(return_raw)]
    pub fn create_load_balancer(
        ctx: NativeCallContext,
        name: &str,
        subnet: Subnet,
    ) -> Result<LoadBalancer, Box<EvalAltResult>> {
        if name.is_empty() || name.len() > 32 {
            return Err(bad_arg(
                &ctx,
                format!("load balancer name `{name}` must be 1-32 characters"),
            ));
        }
        let h = host(&ctx)?;
        h.block_on(elb::ensure_load_balancer(&h, name, &subnet))
            .map_err(|e| fail(&ctx, e))
    }

    /// Finds (by name) or creates the TCP target group of IP targets on
    /// `port` in the VPC, and makes its registered targets exactly `targets`
    /// (a list of IP addresses).
    #[rhai_fn(return_raw)]
    pub fn create_target_group(
        ctx: NativeCallContext,
        name: &str,
        vpc: Vpc,
        port: i64,
        targets: Array,
    ) -> Result<TargetGroup, Box<EvalAltResult>> {
        if !(1..=65535).contains(&port) {
            return Err(bad_arg(&ctx, format!("port {port} is not 1-65535")));
        }
        let targets = strings(&ctx, NS, "targets", targets)?;
        for t in &targets {
            cidr::parse_ip(t).map_err(|e| bad_arg(&ctx, e))?;
        }
        let h = host(&ctx)?;
        h.block_on(elb::ensure_target_group(&h, name, &vpc, port, &targets))
            .map_err(|e| fail(&ctx, e))
    }

    /// Finds or creates the TCP listener on `port` that forwards to the
    /// target group.
    #[rhai_fn(return_raw)]
    pub fn create_listener(
        ctx: NativeCallContext,
        load_balancer: LoadBalancer,
        target_group: TargetGroup,
        port: i64,
    ) -> Result<Listener, Box<EvalAltResult>> {
        if !(1..=65535).contains(&port) {
            return Err(bad_arg(&ctx, format!("port {port} is not 1-65535")));
        }
        let h = host(&ctx)?;
        h.block_on(elb::ensure_listener(
            &h,
            &load_balancer,
            &target_group,
            port,
        ))
        .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the listeners of the load balancer `name` (found by name and
    /// by state). Returns the deleted ARNs.
    #[rhai_fn(return_raw)]
    pub fn delete_listeners(
        ctx: NativeCallContext,
        name: &str,
    ) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_listeners(&h, name))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the target group `name` (retrying while a listener still uses it).
    #[rhai_fn(return_raw)]
    pub fn delete_target_group(
        ctx: NativeCallContext,
        name: &str,
    ) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        h.block_on(teardown::delete_target_group(&h, name))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }

    /// Deletes the load balancer `name` and waits until it is gone.
    #[rhai_fn(return_raw)]
    pub fn delete_load_balancer(
        ctx: NativeCallContext,
        name: &str,
        timeout_secs: i64,
    ) -> Result<Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let t = std::time::Duration::from_secs(timeout_secs.max(1) as u64);
        h.block_on(teardown::delete_load_balancer(&h, name, t))
            .map(|v| v.into_iter().map(Dynamic::from).collect())
            .map_err(|e| fail(&ctx, e))
    }
}
