//! Cluster settings: every lesson value, defined in `stdlib/cluster.rhai`,
//! overridable with `--set key=value`, type-checked and validated **before
//! any AWS call**.
//!
//! The file is the single source of truth: each `export const key = value;`
//! is a setting, and the `//` comment lines directly above it are its
//! documentation (shown by `groundup settings`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rhai::{AST, ASTFlags, Array, Dynamic, Engine, Module, Scope, Stmt};

use crate::error::{Error, Result};

pub mod rules;
mod validate;

pub use validate::valid_region;

/// Settings of your own: a key in `stdlib/cluster.rhai` that starts with
/// this prefix is accepted although groundup does not know it, so runbooks
/// can grow new settings (`export const my_bastion_type = "t3.nano";`, read
/// as `cluster.my_bastion_type`, overridable with `--set`).
pub const OWN_PREFIX: &str = "my_";

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The settings file.
    File,
    /// `--set key=value`.
    Set,
    /// A command-line flag such as `--region`.
    Flag(&'static str),
    /// The AWS configuration chain (environment or profile).
    AwsConfig,
    /// Worked out from other settings.
    Derived,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File => f.write_str("stdlib/cluster.rhai"),
            Origin::Set => f.write_str("--set"),
            Origin::Flag(flag) => f.write_str(flag),
            Origin::AwsConfig => f.write_str("the AWS config chain"),
            Origin::Derived => f.write_str("derived"),
        }
    }
}

/// One setting.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Its key, e.g. `vpc_cidr`.
    pub key: String,
    /// Its current value.
    pub value: Dynamic,
    /// The value in the settings file.
    pub default: Dynamic,
    /// Documentation from the comment above it.
    pub doc: String,
    /// Where the current value came from.
    pub origin: Origin,
}

/// All cluster settings, in file order.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    items: Vec<Setting>,
    /// Where each key is defined in the file: line, the key's column and
    /// its value's column.
    positions: HashMap<String, (usize, usize, usize)>,
    /// The file's display name and text.
    file: Option<(String, Arc<str>)>,
}

/// Parses the doc comments above each `export const` line.
fn doc_comments(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix("//") {
            pending.push(c.trim_start_matches('/').trim().to_string());
        } else if let Some(rest) = t
            .strip_prefix("export const ")
            .or_else(|| t.strip_prefix("export let "))
        {
            let key: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((key, pending.join(" ").trim().to_string()));
            pending.clear();
        } else {
            pending.clear();
        }
    }
    out
}

/// A value's type as settings name it: string, integer, bool, list, value.
pub fn type_name(v: &Dynamic) -> &'static str {
    if v.is_string() {
        "string"
    } else if v.is_int() {
        "integer"
    } else if v.is_bool() {
        "bool"
    } else if v.is_array() {
        "list"
    } else {
        "value"
    }
}

/// Where each exported constant of a settings file is: line, the key's
/// column, the value's column.
fn positions(ast: &AST) -> HashMap<String, (usize, usize, usize)> {
    let mut out = HashMap::new();
    for s in ast.statements() {
        if let Stmt::Var(x, flags, _) = s
            && flags.contains(ASTFlags::EXPORTED)
        {
            let (ident, value) = (&x.0, &x.1);
            let vpos = value.start_position();
            out.insert(
                ident.name.to_string(),
                (
                    ident.pos.line().unwrap_or(0),
                    ident.pos.position().unwrap_or(1),
                    vpos.position().unwrap_or(1),
                ),
            );
        }
    }
    out
}

fn show(v: &Dynamic) -> String {
    if v.is_array() {
        let items: Vec<String> = v
            .clone()
            .into_array()
            .unwrap_or_default()
            .iter()
            .map(|d| d.to_string())
            .collect();
        items.join(",")
    } else {
        v.to_string()
    }
}

impl Settings {
    /// Evaluates the settings file and collects its exported constants.
    /// `engine` must be a plain engine (the settings file calls no host
    /// functions); errors are rendered by the caller.
    pub fn from_module(module: &Module, text: &str) -> Result<Settings> {
        let docs = doc_comments(text);
        let mut items = Vec::new();
        for (key, doc) in docs {
            let Some(value) = module.get_var(&key) else {
                continue;
            };
            items.push(Setting {
                key,
                default: value.clone(),
                value,
                doc,
                origin: Origin::File,
            });
        }
        // Exported variables without a comment still count.
        for (name, value) in module.iter_var() {
            if !items.iter().any(|s| s.key == name) {
                items.push(Setting {
                    key: name.to_string(),
                    value: value.clone(),
                    default: value.clone(),
                    doc: String::new(),
                    origin: Origin::File,
                });
            }
        }
        Ok(Settings {
            items,
            ..Default::default()
        })
    }

    /// Evaluates `text` as a module with a plain engine (used by tests and
    /// by the engine builder).
    pub fn evaluate(
        engine: &Engine,
        name: &str,
        text: &str,
    ) -> Result<Settings, Box<rhai::EvalAltResult>> {
        let mut ast = engine.compile(text)?;
        ast.set_source(name);
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)?;
        let mut s = Self::from_module(&module, text).unwrap_or_default();
        s.positions = positions(&ast);
        s.file = Some((name.to_string(), Arc::from(text)));
        Ok(s)
    }

    /// The built-in `stdlib/cluster.rhai`: the one source of what the known
    /// settings are and of their types (those of their default values).
    pub fn builtin() -> &'static Settings {
        static BUILTIN: OnceLock<Settings> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let text = crate::embedded::stdlib("cluster").unwrap_or_default();
            Settings::evaluate(&Engine::new_raw(), "<builtin>/stdlib/cluster.rhai", text)
                .unwrap_or_default()
        })
    }

    /// Where `key` is defined in the settings file: line, the key's column
    /// and its value's column.
    pub fn position(&self, key: &str) -> Option<(usize, usize, usize)> {
        self.positions.get(key).copied()
    }

    /// The settings file's display name and text (when it was evaluated
    /// from one).
    pub fn file(&self) -> Option<(&str, &Arc<str>)> {
        self.file.as_ref().map(|(n, t)| (n.as_str(), t))
    }

    /// All settings in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Setting> {
        self.items.iter()
    }

    /// A setting's value.
    pub fn get(&self, key: &str) -> Option<&Dynamic> {
        self.items.iter().find(|s| s.key == key).map(|s| &s.value)
    }

    /// A string setting for Rust readers: an error naming the setting if it
    /// is missing or not a string (never a silent "").
    pub fn text(&self, key: &str) -> Result<String> {
        match self.get(key) {
            Some(v) if v.is_string() => Ok(v.to_string()),
            Some(v) => Err(self.bad(key, format!("expected a string, not a {}", type_name(v)))),
            None => Err(self.missing(key)),
        }
    }

    /// An integer setting for Rust readers: an error naming the setting if
    /// it is missing or not an integer (never a silent 0).
    pub fn integer(&self, key: &str) -> Result<i64> {
        match self.get(key) {
            Some(v) => v
                .as_int()
                .map_err(|_| self.bad(key, format!("expected an integer, not a {}", type_name(v)))),
            None => Err(self.missing(key)),
        }
    }

    fn missing(&self, key: &str) -> Error {
        let file = self.file().map(|(n, _)| n).unwrap_or("stdlib/cluster.rhai");
        Error::setting(format!("setting `{key}` is missing from {file}")).with_help(format!(
            "add `export const {key} = …;` (`groundup settings` lists them all)"
        ))
    }

    /// A string setting (empty if absent). Prefer [`Settings::text`], which
    /// names a missing setting.
    pub fn str(&self, key: &str) -> String {
        self.get(key).map(|v| v.to_string()).unwrap_or_default()
    }

    /// An integer setting (0 if absent). Prefer [`Settings::integer`],
    /// which names a missing setting.
    pub fn int(&self, key: &str) -> i64 {
        self.get(key).and_then(|v| v.as_int().ok()).unwrap_or(0)
    }

    /// A boolean setting (false if absent).
    pub fn bool(&self, key: &str) -> bool {
        self.get(key)
            .and_then(|v| v.as_bool().ok())
            .unwrap_or(false)
    }

    /// A list-of-strings setting.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .and_then(|v| v.clone().into_array().ok())
            .map(|a| a.iter().map(|d| d.to_string()).collect())
            .unwrap_or_default()
    }

    /// The "did you mean" for an unknown setting `key`.
    pub fn unknown_key_help(&self, key: &str) -> String {
        match self.nearest(key) {
            Some(n) => format!("did you mean `{n}`? (`groundup settings` lists them all)"),
            None => "`groundup settings` lists every setting".to_string(),
        }
    }

    /// The known setting nearest to `key`, if any is near.
    pub fn nearest(&self, key: &str) -> Option<String> {
        self.items
            .iter()
            .map(|s| (strsim::jaro_winkler(key, &s.key), &s.key))
            .filter(|(score, _)| *score > 0.75)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k.clone())
    }

    /// Applies `key=value` from `--set`, converting the text to the type of
    /// the file's value. Unknown keys are an error suggesting the nearest.
    pub fn apply_set(&mut self, pair: &str) -> Result<()> {
        let Some((key, raw)) = pair.split_once('=') else {
            return Err(Error::usage(format!("--set `{pair}`: expected KEY=VALUE"))
                .with_help("for example: --set workers=5"));
        };
        self.set_text(key.trim(), raw.trim(), Origin::Set)
    }

    /// Sets a setting from text, converting to its type.
    pub fn set_text(&mut self, key: &str, raw: &str, origin: Origin) -> Result<()> {
        let help = self.unknown_key_help(key);
        let Some(item) = self.items.iter_mut().find(|s| s.key == key) else {
            return Err(Error::setting(format!("unknown setting `{key}`")).with_help(help));
        };
        let expected = type_name(&item.default);
        let value: Dynamic = if item.default.is_int() {
            let n: i64 = raw.parse().map_err(|_| {
                Error::setting(format!(
                    "setting `{key}` = `{raw}` ({origin}): expected an integer"
                ))
            })?;
            n.into()
        } else if item.default.is_bool() {
            match raw {
                "true" | "yes" | "1" => true.into(),
                "false" | "no" | "0" => false.into(),
                _ => {
                    return Err(Error::setting(format!(
                        "setting `{key}` = `{raw}` ({origin}): expected true or false"
                    )));
                }
            }
        } else if item.default.is_array() {
            let arr: Array = raw
                .split(',')
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(|s| Dynamic::from(s.to_string()))
                .collect();
            arr.into()
        } else if item.default.is_string() {
            raw.to_string().into()
        } else {
            return Err(Error::setting(format!(
                "setting `{key}` is a {expected} and cannot be set from the command line"
            )));
        };
        item.value = value;
        item.origin = origin;
        Ok(())
    }

    /// Sets a value directly (used for derived settings).
    pub fn set_value(&mut self, key: &str, value: Dynamic, origin: Origin) {
        if let Some(item) = self.items.iter_mut().find(|s| s.key == key) {
            item.value = value;
            item.origin = origin;
        } else {
            self.items.push(Setting {
                key: key.into(),
                default: value.clone(),
                value,
                doc: String::new(),
                origin,
            });
        }
    }

    fn origin(&self, key: &str) -> String {
        self.items
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.origin.to_string())
            .unwrap_or_else(|| "unknown".into())
    }

    /// An error about setting `key`: "setting `key` = `value` (origin): why".
    pub fn problem(&self, key: &str, why: impl std::fmt::Display) -> Error {
        self.bad(key, why)
    }

    fn bad(&self, key: &str, why: impl std::fmt::Display) -> Error {
        let value = self.get(key).map(show).unwrap_or_default();
        Error::setting(format!(
            "setting `{key}` = `{value}` ({}): {why}",
            self.origin(key)
        ))
    }

    /// A Rhai module exposing every setting as a constant (`cluster.vpc_cidr`).
    pub fn to_module(&self) -> Module {
        let mut m = Module::new();
        for s in &self.items {
            m.set_var(s.key.clone(), s.value.clone());
        }
        m.build_index();
        m
    }

    /// Every setting as a Rhai object map (the `cluster` constant).
    pub fn to_map(&self) -> rhai::Map {
        self.items
            .iter()
            .map(|s| (s.key.as_str().into(), s.value.clone()))
            .collect()
    }

    /// All settings as JSON (`groundup settings --json`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for s in &self.items {
            let v = rhai::serde::from_dynamic::<serde_json::Value>(&s.value)
                .unwrap_or(serde_json::Value::Null);
            map.insert(
                s.key.clone(),
                serde_json::json!({"value": v, "origin": s.origin.to_string(), "doc": s.doc}),
            );
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson() -> Settings {
        let text = include_str!("../stdlib/cluster.rhai");
        Settings::evaluate(&Engine::new(), "stdlib/cluster.rhai", text).unwrap()
    }

    #[test]
    fn lesson_defaults_are_valid_and_documented() {
        let s = lesson();
        s.validate().unwrap();
        assert_eq!(s.str("vpc_cidr"), "172.31.0.0/16");
        assert_eq!(s.int("masters"), 3);
        for item in s.iter() {
            assert!(!item.doc.is_empty(), "setting {} has no comment", item.key);
        }
    }

    #[test]
    fn set_converts_types_and_rejects_unknown_keys() {
        let mut s = lesson();
        s.apply_set("workers=5").unwrap();
        assert_eq!(s.int("workers"), 5);
        let e = s.apply_set("workres=5").unwrap_err();
        assert_eq!(e.message, "unknown setting `workres`");
        assert!(e.help.unwrap().contains("did you mean `workers`?"));
        let e = s.apply_set("workers=many").unwrap_err();
        assert_eq!(
            e.message,
            "setting `workers` = `many` (--set): expected an integer"
        );
        assert!(s.apply_set("workers").is_err());
        s.apply_set("image_names=a,b").unwrap();
        assert_eq!(s.list("image_names"), vec!["a", "b"]);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases = [
            (
                "vpc_cidr=300.1.0.0/16",
                "setting `vpc_cidr` = `300.1.0.0/16` (--set): `300.1.0.0/16` is not a CIDR block",
            ),
            (
                "subnet_cidr=10.0.0.0/24",
                "setting `subnet_cidr` = `10.0.0.0/24` (--set): the subnet is not inside vpc_cidr 172.31.0.0/16",
            ),
            (
                "workers=-1",
                "setting `workers` = `-1` (--set): a count cannot be negative",
            ),
            (
                "region=mars",
                "setting `region` = `mars` (--set): not an AWS region name",
            ),
            (
                "pod_cidr=172.31.128.0/17",
                "setting `pod_cidr` = `172.31.128.0/17` (--set): overlaps vpc_cidr 172.31.0.0/16",
            ),
            (
                "cluster_dns=10.32.0.10",
                "must be inside service_cidr 172.32.0.0/24",
            ),
            ("name=bad_name", "a cluster name is 1-32 letters"),
            ("instance_type=huge", "instance types look like"),
            ("image_id=not-an-ami", "an AMI id looks like"),
        ];
        for (set, want) in cases {
            let mut s = lesson();
            s.apply_set(set).unwrap();
            let e = s.validate().unwrap_err();
            assert!(e.message.contains(want), "{set}: got {}", e.message);
            assert_eq!(e.exit_code(), 1);
        }
    }

    /// One source for the settings: every key Rust reads through the typed
    /// accessors is defined in the built-in stdlib/cluster.rhai, so
    /// `preflight::check_settings_file` guarantees it is present with its type (the
    /// accessors never fall back to "" or 0 for a setting that exists).
    #[test]
    fn every_setting_rust_reads_is_in_the_builtin_cluster_rhai() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![root];
        let mut keys = Vec::new();
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for pat in [
                        ".str(\"",
                        ".int(\"",
                        ".bool(\"",
                        ".list(\"",
                        ".text(\"",
                        ".integer(\"",
                        "set_text(\"",
                    ] {
                        for (i, _) in text.match_indices(pat) {
                            let rest = &text[i + pat.len()..];
                            let key: String = rest
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                .collect();
                            if rest[key.len()..].starts_with('"') && !key.is_empty() {
                                keys.push((p.display().to_string(), key));
                            }
                        }
                    }
                }
            }
        }
        assert!(keys.len() > 20, "{keys:?}");
        let b = Settings::builtin();
        for (file, key) in keys {
            // Settings of your own are for runbooks (and test fixtures).
            if key.starts_with(OWN_PREFIX) {
                continue;
            }
            assert!(
                b.get(&key).is_some(),
                "{file} reads setting `{key}`, which stdlib/cluster.rhai does not define"
            );
        }
    }

    #[test]
    fn typed_accessors_name_a_missing_or_mistyped_setting() {
        let s = lesson();
        assert_eq!(s.text("vpc_cidr").unwrap(), "172.31.0.0/16");
        assert_eq!(s.integer("masters").unwrap(), 3);
        let e = s.text("my_missing").unwrap_err();
        assert_eq!(
            e.message,
            "setting `my_missing` is missing from stdlib/cluster.rhai"
        );
        assert!(
            s.integer("my_missing")
                .unwrap_err()
                .message
                .contains("`my_missing`")
        );
        let e = s.integer("vpc_cidr").unwrap_err();
        assert!(
            e.message.contains("expected an integer, not a string"),
            "{}",
            e.message
        );
        let e = s.text("masters").unwrap_err();
        assert!(
            e.message.contains("expected a string, not a integer"),
            "{}",
            e.message
        );
    }

    #[test]
    fn regions() {
        assert!(valid_region("us-east-2"));
        assert!(valid_region("us-gov-west-1"));
        assert!(!valid_region("us-east"));
        assert!(!valid_region("US-EAST-1"));
    }

    #[test]
    fn world_open_admin_warns() {
        let s = lesson();
        assert!(s.warnings()[0].contains("open to the whole internet"));
    }
}
