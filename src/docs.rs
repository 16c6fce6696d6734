//! The registered API as data, from Rhai's function metadata (doc comments
//! on `#[export_module]` functions): feeds `groundup fns`, REPL help and
//! `docs/api.md`.

use rhai::Engine;
use serde::Serialize;

/// One host function.
#[derive(Debug, Clone, Serialize)]
pub struct FnDoc {
    /// Its namespace (`ec2`), empty for global functions.
    pub namespace: String,
    /// Its name (`create_vpc`).
    pub name: String,
    /// `ec2::create_vpc(cidr_block: &str) -> Vpc`.
    pub signature: String,
    /// Its documentation.
    pub doc: String,
}

fn clean_doc(comments: &[serde_json::Value]) -> String {
    comments
        .iter()
        .filter_map(|c| c.as_str())
        .flat_map(|c| c.lines())
        .map(|l| {
            l.trim()
                .trim_start_matches("///")
                .trim_start_matches("/**")
                .trim_end_matches("*/")
                .trim()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Every host function (not Rhai's standard library), sorted.
pub fn functions(engine: &Engine) -> Vec<FnDoc> {
    let json = engine.gen_fn_metadata_to_json(false).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let mut out = Vec::new();
    let mut collect = |ns: &str, fns: &serde_json::Value| {
        for f in fns.as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap_or_default();
            if name.starts_with("get$") || name.starts_with("set$") || name.starts_with("anon$") {
                continue;
            }
            let doc = clean_doc(
                f["docComments"]
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or(&[]),
            );
            let sig = f["signature"].as_str().unwrap_or(name).to_string();
            let signature = if ns.is_empty() {
                sig
            } else {
                format!("{ns}::{sig}")
            };
            out.push(FnDoc {
                namespace: ns.to_string(),
                name: name.to_string(),
                signature,
                doc,
            });
        }
    };
    if let Some(mods) = v["modules"].as_object() {
        for (ns, m) in mods {
            collect(ns, &m["functions"]);
        }
    }
    // Global host functions documented with comments (step, warn, …).
    if let Some(fns) = v["functions"].as_array() {
        let documented: Vec<serde_json::Value> = fns
            .iter()
            .filter(|f| f["docComments"].as_array().is_some_and(|a| !a.is_empty()))
            .cloned()
            .collect();
        collect("", &serde_json::Value::Array(documented));
    }
    out.sort_by(|a, b| {
        (a.namespace.as_str(), a.name.as_str()).cmp(&(b.namespace.as_str(), b.name.as_str()))
    });
    out
}
