//! `groundup settings`: every setting, its value and where it came from.

use super::load_settings;
use crate::cli::Global;
use crate::engine::Sources;
use crate::error::Result;
use crate::settings::{Origin, Settings};

/// `groundup settings`.
pub fn cmd_settings(g: &Global) -> Result<()> {
    let sources = Sources::default();
    let s = load_settings(g, &sources)?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s.to_json()).unwrap_or_default()
        );
        return Ok(());
    }
    for line in settings_lines(&s, g.verbose) {
        println!("{line}");
    }
    Ok(())
}

/// The settings as `groundup settings` prints them: `key = value
/// [origin]`, with each setting's documentation when `verbose`.
pub fn settings_lines(s: &Settings, verbose: bool) -> Vec<String> {
    let mut out = Vec::new();
    for item in s.iter() {
        let v = if item.value.is_array() {
            format!("{:?}", item.value)
        } else if item.value.is_string() {
            format!("{:?}", item.value.to_string())
        } else {
            item.value.to_string()
        };
        let origin = if item.origin == Origin::File {
            String::new()
        } else {
            format!("  [{}]", item.origin)
        };
        out.push(format!("{:<26} = {v}{origin}", item.key));
        if verbose && !item.doc.is_empty() {
            out.push(format!("{:<28}{}", "", item.doc));
        }
    }
    out
}
