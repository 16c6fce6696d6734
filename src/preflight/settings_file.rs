//! The settings file checked as a whole, before anything else runs: the
//! keys and types of the built-in `stdlib/cluster.rhai` are the schema, so a
//! setting added there is checked with no change here.

use rhai::Dynamic;

use crate::error::{Error, Location, Result};
use crate::settings::{OWN_PREFIX, Settings, type_name};

/// Checks the settings file as a whole against the built-in one
/// ([`Settings::builtin`], the one source of the known settings and their
/// types): every key is known (or one of your own, starting with
/// [`OWN_PREFIX`]), none is missing, and each value has its default's type.
/// Every problem is reported, each with `file:line`; the first with its
/// source line.
pub fn check_settings_file(settings: &Settings) -> Result<()> {
    check_against(settings, Settings::builtin())
}

fn check_against(this: &Settings, builtin: &Settings) -> Result<()> {
    let file = this.file().map(|(n, _)| n).unwrap_or("stdlib/cluster.rhai");
    // (line, col, message, help)
    let mut problems: Vec<(usize, usize, String, String)> = Vec::new();
    for item in this.iter() {
        let (line, col, vcol) = this.position(&item.key).unwrap_or_default();
        let Some(b) = builtin.iter().find(|b| b.key == item.key) else {
            if item.key.starts_with(OWN_PREFIX) {
                continue;
            }
            let own = format!(
                "a setting of your own must start with `{OWN_PREFIX}` (e.g. `export const {OWN_PREFIX}{} = …;`)",
                item.key
            );
            let help = match builtin.nearest(&item.key) {
                Some(n) => format!("did you mean `{n}`? Or {own}"),
                None => format!("groundup knows no such setting; {own}"),
            };
            problems.push((line, col, format!("unknown setting `{}`", item.key), help));
            continue;
        };
        if let Some(why) = type_mismatch(&b.default, &item.value) {
            problems.push((
                line,
                vcol,
                format!("`{}` must be {why}", item.key),
                format!("the built-in default is `{}`", literal(&b.default)),
            ));
        }
    }
    for b in builtin.iter() {
        if this.get(&b.key).is_none() {
            problems.push((
                0,
                0,
                format!("setting `{}` is missing from {file}", b.key),
                format!(
                    "add it back, e.g. `export const {} = {};` (the built-in default)",
                    b.key,
                    literal(&b.default)
                ),
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let (line, col, message, help) = problems.remove(0);
    let mut err = Error::setting(message);
    if let Some((name, text)) = this.file()
        && line > 0
    {
        err = err.at(Location {
            name: name.to_string(),
            text: text.clone(),
            line,
            col: col.max(1),
        });
    }
    err = err.with_note(help);
    for (line, _, message, help) in &problems {
        let at = if *line > 0 {
            format!("{file}:{line}: ")
        } else {
            String::new()
        };
        err = err.with_note(format!("also {at}{message}; {help}"));
    }
    let n = problems.len() + 1;
    Err(err.with_help(format!(
        "{n} problem{} in {file}, found before any AWS call; `groundup settings` lists every setting",
        if n == 1 { "" } else { "s" }
    )))
}

/// What a setting must be, as text (`an integer`), if `value` does not
/// have the type of `default`.
fn type_mismatch(default: &Dynamic, value: &Dynamic) -> Option<String> {
    let want = type_name(default);
    if want == "value" {
        return None;
    }
    if type_name(value) != want {
        let what = match want {
            "string" => "a string",
            "integer" => "an integer",
            "bool" => "true or false",
            _ => "a list",
        };
        let what = if want == "list" && list_of_strings(default) {
            "a list of strings"
        } else {
            what
        };
        return Some(format!("{what}, got {}", described(value)));
    }
    if want == "list" && list_of_strings(default) {
        let items = value.clone().into_array().unwrap_or_default();
        if let Some((i, d)) = items.iter().enumerate().find(|(_, d)| !d.is_string()) {
            return Some(format!(
                "a list of strings, but item {} is {}",
                i + 1,
                described(d)
            ));
        }
    }
    None
}

fn list_of_strings(v: &Dynamic) -> bool {
    let items = v.clone().into_array().unwrap_or_default();
    !items.is_empty() && items.iter().all(|d| d.is_string())
}

/// A value described for an error: `the string "three"`.
fn described(v: &Dynamic) -> String {
    if v.is_string() {
        format!("the string {:?}", v.to_string())
    } else if v.is_int() {
        format!("the integer {v}")
    } else if v.is_bool() {
        format!("{v}")
    } else if v.is_array() {
        format!("the list {}", literal(v))
    } else if v.is_unit() {
        "()".to_string()
    } else if v.is_map() {
        "a map".to_string()
    } else {
        format!("the {} {v}", v.type_name())
    }
}

/// A value as Rhai source: `"t2.micro"`, `3`, `["a", "b"]`.
fn literal(v: &Dynamic) -> String {
    if v.is_string() {
        format!("{:?}", v.to_string())
    } else if v.is_array() {
        let items: Vec<String> = v
            .clone()
            .into_array()
            .unwrap_or_default()
            .iter()
            .map(literal)
            .collect();
        format!("[{}]", items.join(", "))
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhai::Engine;

    fn lesson() -> Settings {
        let text = include_str!("../../stdlib/cluster.rhai");
        Settings::evaluate(&Engine::new(), "stdlib/cluster.rhai", text).unwrap()
    }

    fn file(text: &str) -> Settings {
        Settings::evaluate(&Engine::new(), "stdlib/cluster.rhai", text).unwrap()
    }

    #[test]
    fn the_builtin_file_is_the_schema_and_passes_it() {
        let b = Settings::builtin();
        assert!(b.get("masters").is_some_and(|v| v.is_int()));
        assert!(b.get("steps").is_some_and(|v| v.is_array()));
        check_settings_file(&lesson()).unwrap();
    }

    #[test]
    fn the_file_is_checked_as_a_whole() {
        let text = include_str!("../../stdlib/cluster.rhai");
        // A misspelt key: unknown (with a suggestion) and the real one missing.
        let s = file(&text.replace("export const workers = 3;", "export const wrokers = 3;"));
        let e = check_settings_file(&s).unwrap_err();
        assert_eq!(e.message, "unknown setting `wrokers`");
        assert_eq!(e.exit_code(), 1);
        let line = text
            .lines()
            .position(|l| l.contains("const workers"))
            .unwrap()
            + 1;
        assert_eq!(e.position(), Some(format!("stdlib/cluster.rhai:{line}:14")));
        assert!(
            e.notes[0].starts_with("did you mean `workers`?"),
            "{:?}",
            e.notes
        );
        assert!(
            e.notes[1].contains("setting `workers` is missing from stdlib/cluster.rhai")
                && e.notes[1].contains("`export const workers = 3;`"),
            "{:?}",
            e.notes
        );
        // The wrong type, pointing at the value.
        let s = file(&text.replace(
            "export const masters = 3;",
            "export const masters = \"three\";",
        ));
        let e = check_settings_file(&s).unwrap_err();
        assert_eq!(
            e.message,
            "`masters` must be an integer, got the string \"three\""
        );
        let line = text
            .lines()
            .position(|l| l.contains("const masters"))
            .unwrap()
            + 1;
        assert_eq!(e.position(), Some(format!("stdlib/cluster.rhai:{line}:24")));
        let s = file(&text.replace("[\"network\", \"compute\",", "[\"network\", 2,"));
        let e = check_settings_file(&s).unwrap_err();
        assert_eq!(
            e.message,
            "`steps` must be a list of strings, but item 2 is the integer 2"
        );
        // Settings of your own are accepted, and can be --set.
        let mut s = file(&format!(
            "{text}\nexport const my_bastion_type = \"t3.nano\";\n"
        ));
        check_settings_file(&s).unwrap();
        s.apply_set("my_bastion_type=t3.micro").unwrap();
        assert_eq!(s.str("my_bastion_type"), "t3.micro");
    }
}
