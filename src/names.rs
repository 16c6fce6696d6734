//! Names in scripts: "did you mean" and what a module name may be. A leaf
//! module, shared by the engine's diagnostics and the pre-flight.

/// The nearest of `known` to `name`, for "did you mean".
pub fn suggest(name: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(s, _)| *s > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}

/// Why `path` cannot be imported, if it is not a plain module name (no
/// paths, so an import can never read a file outside stdlib/).
pub fn not_a_module_name(path: &str) -> Option<String> {
    let plain = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (!plain).then(|| {
        format!("`{path}` is not a module name: import stdlib modules by name (letters, digits, _ and -), e.g. import \"nodes\"")
    })
}
