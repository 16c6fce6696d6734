//! The registered API as data, from Rhai's function metadata (doc comments
//! on `#[export_module]` functions): feeds `groundup fns`, REPL help and
//! `docs/api.md`.

use std::path::Path;

use rhai::Engine;
use serde::Serialize;

/// One host function.
#[derive(Debug, Clone, Serialize)]
pub struct FnDoc {
    /// Its namespace (`ec2`), empty for global functions.
    pub namespace: String,
    /// Its name (`create_vpc`).
    pub name: String,
    /// `ec2::create_vpc(cidr_block: string) -> Vpc` (see [`clean_signature`]).
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
            let sig = clean_signature(f["signature"].as_str().unwrap_or(name));
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

/// A getter or method callable on a value of a type: `vpc.id`,
/// `vpc.to_json()`.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// The type it belongs to, as scripts name it (`Vpc`, `string`, `map`).
    pub type_name: String,
    /// The property or method name (`id`, `to_json`).
    pub name: String,
    /// A read-only property (`x.id`) rather than a method (`x.to_json()`).
    pub getter: bool,
    /// What it returns.
    pub returns: String,
    /// Its documentation.
    pub doc: String,
}

/// A type name as scripts see it: `&mut Vpc` → `Vpc`, `&str` →
/// `string`, `i64` → `int`, `Result<T, Box<EvalAltResult>>` → `T`.
pub fn script_type(t: &str) -> String {
    let t = t.trim();
    let t = t.strip_prefix("&mut ").unwrap_or(t).trim();
    let t = t.strip_prefix('&').unwrap_or(t).trim();
    let t = t.strip_prefix("rhai::").unwrap_or(t);
    if let Some(inner) = strip_result(t) {
        return script_type(inner);
    }
    // A Rust path (`groundup::api::pki::PrivateKey`): scripts know the name.
    let t = if t.contains('<') {
        t
    } else {
        t.rsplit("::").next().unwrap_or(t)
    };
    match t {
        "str" | "String" | "ImmutableString" | "string" => "string",
        "i64" | "INT" | "int" => "int",
        "f64" | "FLOAT" | "float" => "float",
        "Array" | "array" => "array",
        "Map" | "map" => "map",
        "Blob" | "blob" => "blob",
        "Dynamic" | "?" => "any",
        "" => "()",
        other => other,
    }
    .to_string()
}

/// `T` out of `Result<T, Box<EvalAltResult>>` or `RhaiResultOf<T>`.
fn strip_result(t: &str) -> Option<&str> {
    if let Some(inner) = t
        .strip_prefix("RhaiResultOf<")
        .and_then(|s| s.strip_suffix('>'))
    {
        return Some(inner);
    }
    let inner = t.strip_prefix("Result<")?;
    let inner = inner
        .strip_suffix(", Box<EvalAltResult>>")
        .or_else(|| inner.strip_suffix(",Box<EvalAltResult>>"))?;
    Some(inner)
}

/// Splits at top-level commas (not inside `<…>`).
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(&s[start..]);
    }
    out
}

/// A metadata signature as scripts see it:
/// `host(prefix: &str, hostnum: i64) -> Result<String, Box<EvalAltResult>>`
/// becomes `host(prefix: string, hostnum: int) -> string`; a unit return
/// is left out.
pub fn clean_signature(sig: &str) -> String {
    let Some(open) = sig.find('(') else {
        return sig.to_string();
    };
    // The parameter list ends at the `)` that closes `open`.
    let mut depth = 0i32;
    let mut close = None;
    for (i, c) in sig[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(close) = close else {
        return sig.to_string();
    };
    let params: Vec<String> = split_top(&sig[open + 1..close])
        .into_iter()
        .map(|p| match p.split_once(':') {
            Some((n, t)) => format!("{}: {}", n.trim(), script_type(t)),
            None => script_type(p),
        })
        .collect();
    let ret = sig[close + 1..]
        .trim()
        .strip_prefix("->")
        .map(script_type)
        .unwrap_or_else(|| "()".to_string());
    let mut out = format!("{}({})", &sig[..open], params.join(", "));
    if ret != "()" {
        out.push_str(" -> ");
        out.push_str(&ret);
    }
    out
}

/// Every property and method of every type, from the engine's metadata
/// (including Rhai's standard library, so strings and arrays have theirs),
/// sorted by type then name; properties come from `get$<name>` functions.
pub fn members(engine: &Engine) -> Vec<Member> {
    let json = engine.gen_fn_metadata_to_json(true).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let mut out: Vec<Member> = Vec::new();
    for f in v["functions"].as_array().into_iter().flatten() {
        let name = f["name"].as_str().unwrap_or_default();
        let Some(first) = f["params"].as_array().and_then(|p| p.first()) else {
            continue;
        };
        let type_name = script_type(first["type"].as_str().unwrap_or_default());
        if type_name == "any" || type_name == "()" {
            continue;
        }
        let (name, getter) = match name.strip_prefix("get$") {
            Some(p) => (p, true),
            None => (name, false),
        };
        let identifier = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier || name.contains('$') {
            continue;
        }
        if out
            .iter()
            .any(|m| m.type_name == type_name && m.name == name && m.getter == getter)
        {
            continue;
        }
        out.push(Member {
            type_name,
            name: name.to_string(),
            getter,
            returns: script_type(f["returnType"].as_str().unwrap_or_default()),
            doc: clean_doc(
                f["docComments"]
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or(&[]),
            ),
        });
    }
    out.sort_by(|a, b| {
        (a.type_name.as_str(), !a.getter, a.name.as_str()).cmp(&(
            b.type_name.as_str(),
            !b.getter,
            b.name.as_str(),
        ))
    });
    out
}

/// The display names of the custom types registered on the engine (`Vpc`,
/// `Subnet`, …), sorted.
pub fn custom_types(engine: &Engine) -> Vec<String> {
    let json = engine.gen_fn_metadata_to_json(false).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let mut out: Vec<String> = v["customTypes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["displayName"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The `.d.rhai` definition files for the Rhai language server: every
/// host namespace, the global host functions and getters, and the
/// variables of `scope` (the `cluster` constant).  Rhai writes fallible
/// functions' return types as `Result<T, Box<EvalAltResult>>` (and mangles
/// some); they are written here as `T`.
pub fn definitions(engine: &Engine, scope: &rhai::Scope) -> Vec<(String, String)> {
    engine
        .definitions_with_scope(scope)
        .with_headers(true)
        .include_standard_packages(false)
        .iter_files()
        .map(|(name, text)| (name, clean_definitions(&text)))
        .collect()
}

/// Fixes the return types in a definitions file (see [`definitions`]).
pub fn clean_definitions(text: &str) -> String {
    const ERR: &str = ", Box<EvalAltResult>>";
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let fixed = match (body.rfind(") -> "), body.ends_with(';')) {
            (Some(i), true) if body.trim_start().starts_with("fn ") => {
                let ret = &body[i + 5..body.len() - 1];
                let ret = if let Some(inner) = strip_result(ret) {
                    inner.to_string()
                } else if let Some(mangled) = ret.strip_suffix(ERR) {
                    // `Result<rhai::Array, …>` comes out as `Array, Box<…>>`.
                    mangled.to_string()
                } else {
                    ret.to_string()
                };
                let ret = match ret.trim() {
                    "String" | "ImmutableString" | "&str" => "string".to_string(),
                    "i64" | "INT" => "int".to_string(),
                    "f64" | "FLOAT" => "float".to_string(),
                    "Dynamic" => "?".to_string(),
                    "Array" => "array".to_string(),
                    "Map" => "map".to_string(),
                    r => r.to_string(),
                };
                if ret == "()" {
                    format!("{});", &body[..i])
                } else {
                    format!("{}) -> {ret};", &body[..i])
                }
            }
            _ => body.to_string(),
        };
        out.push_str(&fixed);
        out.push_str(nl);
    }
    out
}

/// Writes [`definitions`] into `dir` (created if missing).
pub fn write_definitions(engine: &Engine, scope: &rhai::Scope, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in definitions(engine, scope) {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_read_like_rhai() {
        assert_eq!(
            clean_signature(
                "host(prefix: &str, hostnum: i64) -> Result<String, Box<EvalAltResult>>"
            ),
            "host(prefix: string, hostnum: int) -> string"
        );
        assert_eq!(
            clean_signature("set(key: &str, value: Dynamic) -> Result<(), Box<EvalAltResult>>"),
            "set(key: string, value: any)"
        );
        assert_eq!(
            clean_signature("keys() -> Result<rhai::Array, Box<EvalAltResult>>"),
            "keys() -> array"
        );
        assert_eq!(
            clean_signature("create_vpc(cidr_block: &str) -> Result<Vpc, Box<EvalAltResult>>"),
            "create_vpc(cidr_block: string) -> Vpc"
        );
        assert_eq!(script_type("groundup::api::pki::PrivateKey"), "PrivateKey");
    }

    #[test]
    fn definitions_have_plain_return_types() {
        let text = "module state;\n\n/// Keys.\nfn keys() -> Array, Box<EvalAltResult>>;\nfn get(key: string) -> Result<?, Box<EvalAltResult>>;\nfn host(p: string) -> Result<String, Box<EvalAltResult>>;\nfn remove(key: string) -> Result<(), Box<EvalAltResult>>;\nfn get id(_: Vpc) -> string;\n";
        assert_eq!(
            clean_definitions(text),
            "module state;\n\n/// Keys.\nfn keys() -> array;\nfn get(key: string) -> ?;\nfn host(p: string) -> string;\nfn remove(key: string);\nfn get id(_: Vpc) -> string;\n"
        );
    }
}
