//! `state::` — the cluster's recorded IDs and outputs (`state.json`).

use rhai::plugin::*;

crate::api::namespace!("state");

#[export_module]
pub mod state_api {
    use super::fail;
    use crate::api::host;
    use crate::error::Error;

    /// The value recorded under `key`, or `()` if there is none.
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, key: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let st = h.state();
        match st.get(key) {
            Some(v) => rhai::serde::to_dynamic(v),
            None => Ok(Dynamic::UNIT),
        }
    }

    /// Whether anything is recorded under `key`.
    #[rhai_fn(return_raw)]
    pub fn has(ctx: NativeCallContext, key: &str) -> Result<bool, Box<EvalAltResult>> {
        Ok(host(&ctx)?.state().get(key).is_some())
    }

    /// Records `value` (string, number, bool, array or map) under `key`;
    /// the state file is rewritten atomically at once.
    #[rhai_fn(return_raw)]
    pub fn set(
        ctx: NativeCallContext,
        key: &str,
        value: Dynamic,
    ) -> Result<(), Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let v: serde_json::Value = rhai::serde::from_dynamic(&value)
            .map_err(|e| fail(&ctx, Error::script(format!("cannot store this value: {e}"))))?;
        h.state().set(key, v).map_err(|e| fail(&ctx, e))
    }

    /// Forgets `key`.
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, key: &str) -> Result<(), Box<EvalAltResult>> {
        host(&ctx)?.state().remove(key).map_err(|e| fail(&ctx, e))
    }

    /// Every recorded key.
    #[rhai_fn(return_raw)]
    pub fn keys(ctx: NativeCallContext) -> Result<rhai::Array, Box<EvalAltResult>> {
        let h = host(&ctx)?;
        let st = h.state();
        Ok(st.all().keys().map(|k| Dynamic::from(k.clone())).collect())
    }

    /// The cluster's state directory (`<state-dir>/<cluster>`).
    #[rhai_fn(return_raw)]
    pub fn dir(ctx: NativeCallContext) -> Result<String, Box<EvalAltResult>> {
        Ok(host(&ctx)?.state().dir().display().to_string())
    }
}
