//! Global helpers: `step` (progress lines), `warn`, `planning`.

use rhai::plugin::*;

#[export_module]
pub mod core_api {
    use std::time::Instant;

    use rhai::FnPtr;

    use crate::api::host;

    /// Runs one step of a runbook and prints a progress line when it
    /// completes, with its duration: `let vpc = step("VPC", || ec2::create_vpc(cluster.vpc_cidr));`
    /// Returns what the closure returns.
    #[rhai_fn(return_raw)]
    pub fn step(
        ctx: NativeCallContext,
        title: &str,
        body: FnPtr,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let start = Instant::now();
        let out = body.call_within_context::<Dynamic>(&ctx, ());
        // What the step recorded (state, keys) reaches the disk now if it
        // has waited a second or more, whether the step succeeded or not
        // (see crate::durable); everything does at exit.
        crate::durable::sync_due().map_err(|e| format!("cannot flush files to disk: {e}"))?;
        let out = out?;
        if !h.output.json {
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let dur = if ms < 1000.0 {
                format!("{ms:.0} ms")
            } else {
                format!("{:.1} s", ms / 1000.0)
            };
            let mark = if h.planning() { "~" } else { "✓" };
            eprintln!("{mark} {title} ({dur})");
            if h.output.verbose && !out.is_unit() {
                eprintln!("    {out}");
            }
        }
        Ok(out)
    }

    /// Prints a warning line on stderr.
    #[rhai_fn(return_raw)]
    pub fn warn(ctx: NativeCallContext, message: &str) -> Result<(), Box<EvalAltResult>> {
        let _ = host(&ctx)?;
        eprintln!("warning: {message}");
        Ok(())
    }

    /// Whether this run is a plan (no AWS changes are made).
    #[rhai_fn(return_raw)]
    pub fn planning(ctx: NativeCallContext) -> Result<bool, Box<EvalAltResult>> {
        Ok(host(&ctx)?.planning())
    }
}
