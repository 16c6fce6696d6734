//! Thin Rhai bindings: one module per namespace, each only converting types
//! and errors and calling plain Rust (`src/aws`, `src/net`, `src/pki`).
//! [`register_all`] is the single list of registrations.

pub mod cidr;
pub mod core;
pub mod ec2;
pub mod elb;
pub mod etcd;
pub mod pki;
pub mod ssh;
pub mod state;
pub mod systemd;

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext};

use crate::aws::types::*;
use crate::error::Error;
use crate::host::Host;

/// Registers every custom type and host namespace.
pub fn register_all(engine: &mut Engine) {
    engine
        .build_type::<Vpc>()
        .build_type::<DhcpOptions>()
        .build_type::<Subnet>()
        .build_type::<InternetGateway>()
        .build_type::<RouteTable>()
        .build_type::<SecurityGroup>()
        .build_type::<LoadBalancer>()
        .build_type::<TargetGroup>()
        .build_type::<Listener>()
        .build_type::<Image>()
        .build_type::<KeyPair>()
        .build_type::<Instance>()
        .build_type::<pki::Cert>()
        .build_type::<pki::PrivateKey>()
        .build_type::<pki::Kubeconfig>()
        .build_type::<pki::EncryptionConfig>()
        .build_type::<systemd::Unit>()
        .build_type::<etcd::EtcdMembers>()
        .build_type::<systemd::InstalledUnit>()
        .build_type::<etcd::EtcdRelease>()
        .build_type::<etcd::EtcdMember>()
        .build_type::<etcd::EtcdHealth>();
    engine.register_type_with_name::<Error>("Error");
    engine.register_fn("to_string", |e: &mut Error| e.message.clone());
    engine.register_global_module(rhai::exported_module!(core::core_api).into());
    engine.register_static_module(cidr::NS, rhai::exported_module!(cidr::cidr_api).into());
    engine.register_static_module(state::NS, rhai::exported_module!(state::state_api).into());
    engine.register_static_module(ec2::NS, rhai::exported_module!(ec2::ec2_api).into());
    engine.register_static_module(elb::NS, rhai::exported_module!(elb::elb_api).into());
    engine.register_static_module(pki::NS, rhai::exported_module!(pki::pki_api).into());
    engine.register_static_module(ssh::NS, rhai::exported_module!(ssh::ssh_api).into());
    engine.register_static_module(
        systemd::NS,
        rhai::exported_module!(systemd::systemd_api).into(),
    );
    engine.register_static_module(etcd::NS, rhai::exported_module!(etcd::etcd_api).into());
}

/// The namespaces scripts can use (for help and completion).
pub const NAMESPACES: &[&str] = &[
    "cidr", "state", "ec2", "elb", "pki", "ssh", "systemd", "etcd",
];

/// The host behind a call.
pub fn host(ctx: &NativeCallContext) -> Result<Arc<Host>, Box<EvalAltResult>> {
    ctx.tag()
        .and_then(|t| t.clone().try_cast::<Arc<Host>>())
        .ok_or_else(|| "groundup host is not available in this engine".into())
}

/// Turns a host error into a script error (the position is filled in by
/// Rhai at the call site).
pub fn fail(ctx: &NativeCallContext, e: Error) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(e), ctx.call_position()).into()
}

/// The script-facing name of the call behind `ctx`, `ns::name`: the
/// namespace is the binding module's [`namespace!`] constant (the name it
/// is registered under) and the name is Rhai's own (`fn_name()`), so no
/// binding writes its name by hand.
pub fn call_name(ctx: &NativeCallContext, ns: &str) -> String {
    format!("{ns}::{}", ctx.fn_name())
}

/// [`fail`], with the message prefixed by the call's name
/// (`ec2::create_vpc: CreateVpc: …`) — except for "the emulator has no
/// machines" and Ctrl-C, which are about the run, not the call. Domain code
/// never names script calls; this is the one place that does.
pub fn fail_in(ctx: &NativeCallContext, ns: &str, e: Error) -> Box<EvalAltResult> {
    match e.kind {
        // Not about the call: the run stops as a whole, and `up` prints
        // these as one line of their own.
        crate::error::Kind::NoMachines | crate::error::Kind::Interrupted => fail(ctx, e),
        _ => fail(ctx, e.prefixed(&call_name(ctx, ns))),
    }
}

/// A script-level argument error naming the call: `ns::name: message`.
pub fn bad_arg_in(
    ctx: &NativeCallContext,
    ns: &str,
    msg: impl std::fmt::Display,
) -> Box<EvalAltResult> {
    fail_in(ctx, ns, Error::script(msg.to_string()))
}

/// Declares a binding module's namespace, once: `NS` (what `register_all`
/// registers it as) and the module's `fail` / `bad_arg`, which name the
/// failing call from `NS` and Rhai's `fn_name()`. Use at the top of
/// `src/api/<ns>.rs`: `crate::api::namespace!("ec2");`, then
/// `use super::{fail, bad_arg};` inside the exported module.
macro_rules! namespace {
    ($ns:literal) => {
        /// This module's Rhai namespace: the one name it is registered under.
        pub const NS: &str = $ns;

        /// A host error as a script error, prefixed with the call's name.
        #[allow(dead_code)]
        fn fail(
            ctx: &rhai::NativeCallContext,
            e: $crate::error::Error,
        ) -> Box<rhai::EvalAltResult> {
            $crate::api::fail_in(ctx, NS, e)
        }

        /// A bad argument as a script error, prefixed with the call's name.
        #[allow(dead_code)]
        fn bad_arg(
            ctx: &rhai::NativeCallContext,
            msg: impl std::fmt::Display,
        ) -> Box<rhai::EvalAltResult> {
            $crate::api::bad_arg_in(ctx, NS, msg)
        }
    };
}
pub(crate) use namespace;

/// Reads a list of strings from a Rhai array; an error names the call
/// (`ns::name: what[i] must be a string`).
pub fn strings(
    ctx: &NativeCallContext,
    ns: &str,
    what: &str,
    arr: rhai::Array,
) -> Result<Vec<String>, Box<EvalAltResult>> {
    arr.into_iter()
        .enumerate()
        .map(|(i, d)| {
            if d.is_string() {
                Ok(d.to_string())
            } else {
                Err(bad_arg_in(
                    ctx,
                    ns,
                    format!("{what}[{i}] must be a string, got {}", d.type_name()),
                ))
            }
        })
        .collect()
}
