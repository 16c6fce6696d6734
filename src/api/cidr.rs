//! `cidr::` — IPv4 network math with Terraform's semantics.

use rhai::plugin::*;

crate::api::namespace!("cidr");

#[export_module]
pub mod cidr_api {
    use super::bad_arg;
    use crate::net::cidr;

    /// The `netnum`-th subnet of `base` with a prefix `newbits` longer
    /// (Terraform's `cidrsubnet`): `cidr::subnet("172.20.0.0/16", 8, 2)` is
    /// `"172.20.2.0/24"`.
    #[rhai_fn(return_raw)]
    pub fn subnet(
        ctx: NativeCallContext,
        base: &str,
        newbits: i64,
        netnum: i64,
    ) -> Result<String, Box<EvalAltResult>> {
        cidr::subnet(base, newbits, netnum)
            .map(|n| n.to_string())
            .map_err(|e| bad_arg(&ctx, e))
    }

    /// The `hostnum`-th address of `prefix` (Terraform's `cidrhost`); a
    /// negative number counts from the end: `cidr::host("172.31.0.0/24", 10)`
    /// is `"172.31.0.10"`.
    #[rhai_fn(return_raw)]
    pub fn host(
        ctx: NativeCallContext,
        prefix: &str,
        hostnum: i64,
    ) -> Result<String, Box<EvalAltResult>> {
        cidr::host(prefix, hostnum)
            .map(|ip| ip.to_string())
            .map_err(|e| bad_arg(&ctx, e))
    }

    /// Whether block `outer` contains `inner` (a block or an address).
    #[rhai_fn(return_raw)]
    pub fn contains(
        ctx: NativeCallContext,
        outer: &str,
        inner: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        cidr::contains(outer, inner).map_err(|e| bad_arg(&ctx, e))
    }

    /// Whether two blocks share any address.
    #[rhai_fn(return_raw)]
    pub fn overlaps(ctx: NativeCallContext, a: &str, b: &str) -> Result<bool, Box<EvalAltResult>> {
        cidr::overlaps(a, b).map_err(|e| bad_arg(&ctx, e))
    }

    /// Number of addresses in a block (`/24` → 256).
    #[rhai_fn(return_raw)]
    pub fn size(ctx: NativeCallContext, prefix: &str) -> Result<i64, Box<EvalAltResult>> {
        cidr::size(prefix)
            .map(|n| n as i64)
            .map_err(|e| bad_arg(&ctx, e))
    }

    /// Checks a CIDR block and returns it; fails with a clear message if it
    /// is not a valid IPv4 network address.
    #[rhai_fn(return_raw)]
    pub fn parse(ctx: NativeCallContext, block: &str) -> Result<String, Box<EvalAltResult>> {
        cidr::parse(block)
            .map(|n| n.to_string())
            .map_err(|e| bad_arg(&ctx, e))
    }

    /// The EC2 private host name of an address: `ip-172-31-0-10`.
    #[rhai_fn(return_raw)]
    pub fn hostname(ctx: NativeCallContext, ip: &str) -> Result<String, Box<EvalAltResult>> {
        cidr::ec2_hostname(ip).map_err(|e| bad_arg(&ctx, e))
    }

    /// The prefix length of a block (`"172.20.0.0/16"` → 16).
    #[rhai_fn(return_raw)]
    pub fn prefix(ctx: NativeCallContext, block: &str) -> Result<i64, Box<EvalAltResult>> {
        cidr::parse(block)
            .map(|n| n.prefix_len() as i64)
            .map_err(|e| bad_arg(&ctx, e))
    }
}
