//! The house rules of `src/`, checked by a unit test that reads the source
//! tree (file-module level):
//!
//! * no module import cycles: each `.rs` file is a module, and a
//!   `crate::a::b` (or `super::b`) path outside comments and outside the
//!   file's `#[cfg(test)]` part is an edge to the deepest module it names;
//! * domain code (`aws`, `pki`, `net`, `ssh`, `etcd`, `systemd`,
//!   `pki_cluster`, `state`, `settings`) never uses the layers above it
//!   (`commands`, `engine`, `cli`, `api`, `repl`, `doctor`);
//! * no file over 600 lines of non-test code (the lines before its first
//!   `#[cfg(test)]`).
//!
//! The allow-lists are empty; an entry added there must say why, and a
//! stale one fails the test, so they only shrink.

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The most non-test lines a file in `src/` may have.
    const MAX_LINES: usize = 600;

    /// Files allowed over the limit: none (the issue 13 splits are merged).
    const LONG_FILES_ALLOWED: &[&str] = &[];

    /// Upward edges allowed: none.
    const EDGES_ALLOWED: &[(&str, &str)] = &[];

    /// Domain modules (by their first path segment) ...
    const DOMAIN: &[&str] = &[
        "aws",
        "pki",
        "net",
        "ssh",
        "etcd",
        "systemd",
        "pki_cluster",
        "state",
        "settings",
    ];
    /// ... never use these layers.
    const UPPER: &[&str] = &["commands", "engine", "cli", "api", "repl", "doctor"];

    /// A source tree: module name (`aws::compute`) -> (path relative to the
    /// root, text).
    type Tree = BTreeMap<String, (String, String)>;

    fn read_tree(root: &Path) -> Tree {
        let mut out = Tree::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("read src/").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                if p.extension().is_none_or(|x| x != "rs") {
                    continue;
                }
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&p).expect("read a source file");
                out.insert(module_name(&rel), (rel, text));
            }
        }
        out
    }

    /// `aws/compute.rs` -> `aws::compute`, `ssh/mod.rs` -> `ssh`; `lib.rs`
    /// and `main.rs` are the crate roots (``).
    fn module_name(rel: &str) -> String {
        let stem = rel.strip_suffix(".rs").unwrap_or(rel);
        let mut parts: Vec<&str> = stem.split('/').collect();
        if parts.last() == Some(&"mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            return String::new();
        }
        parts.join("::")
    }

    /// The non-test code of a file: before its first `#[cfg(test)]`.
    fn non_test(text: &str) -> &str {
        text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
    }

    /// Without `//` comments (doc comments included).
    fn strip_comments(text: &str) -> String {
        text.lines()
            .map(|l| l.find("//").map_or(l, |i| &l[..i]))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn is_word(c: char) -> bool {
        c.is_alphanumeric() || c == '_' || c == ':'
    }

    /// The paths named after every `prefix` (`crate::`, `super::`):
    /// `a::b::c`, and for `a::{b, c::d}` each of `a::b`, `a::c::d`.
    fn paths_after(text: &str, prefix: &str, braces: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            let end = rest.find(|c| !is_word(c)).unwrap_or(rest.len());
            let path = &rest[..end];
            // `crate::{a, b}` too (fdeps.py skips that form: stricter here).
            if braces && (path.is_empty() || path.ends_with("::")) && rest[end..].starts_with('{') {
                let base = path.trim_end_matches(':');
                let close = rest[end..].find('}').map_or(rest.len(), |j| end + j);
                for item in rest[end + 1..close].split([',', ' ', '\n', '\t']) {
                    match item.trim() {
                        "" | "self" => out.push(base.to_string()),
                        it if base.is_empty() => out.push(it.to_string()),
                        it => out.push(format!("{base}::{it}")),
                    }
                }
                rest = &rest[close..];
            } else if !path.is_empty() {
                out.push(path.to_string());
                rest = &rest[end..];
            }
        }
        out
    }

    /// The module -> modules it uses, at file-module level.
    fn edges(tree: &Tree) -> BTreeMap<String, BTreeSet<String>> {
        let mods: BTreeSet<&str> = tree
            .keys()
            .map(String::as_str)
            .filter(|m| !m.is_empty())
            .collect();
        let resolve = |path: &str| -> Option<String> {
            let parts: Vec<&str> = path.split("::").collect();
            (1..=parts.len())
                .rev()
                .map(|i| parts[..i].join("::"))
                .find(|m| mods.contains(m.as_str()))
        };
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (m, (_, text)) in tree {
            if m.is_empty() {
                continue;
            }
            let code = strip_comments(non_test(text));
            let parent = m.rsplit_once("::").map_or("", |(p, _)| p);
            let mut refs = paths_after(&code, "crate::", true);
            refs.extend(paths_after(&code, "super::", false).into_iter().map(|r| {
                if parent.is_empty() {
                    r
                } else {
                    format!("{parent}::{r}")
                }
            }));
            let deps = out.entry(m.clone()).or_default();
            for r in refs {
                if let Some(t) = resolve(&r).filter(|t| t != m) {
                    deps.insert(t);
                }
            }
        }
        out
    }

    /// The strongly connected components with more than one module
    /// (Tarjan), each sorted.
    fn cycles(deps: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
        struct T<'a> {
            deps: &'a BTreeMap<String, BTreeSet<String>>,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on: BTreeSet<&'a str>,
            out: Vec<Vec<String>>,
        }
        fn visit<'a>(t: &mut T<'a>, v: &'a str) {
            let n = t.index.len();
            t.index.insert(v, n);
            t.low.insert(v, n);
            t.stack.push(v);
            t.on.insert(v);
            let deps = t.deps;
            for w in deps.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if t.low[v] == t.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = t.stack.pop() {
                    t.on.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    t.out.push(scc);
                }
            }
        }
        let mut t = T {
            deps,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on: BTreeSet::new(),
            out: Vec::new(),
        };
        for v in deps.keys() {
            if !t.index.contains_key(v.as_str()) {
                visit(&mut t, v);
            }
        }
        t.out
    }

    fn first(m: &str) -> &str {
        m.split("::").next().unwrap_or(m)
    }

    /// Every broken rule of a tree, one line each.
    fn violations(
        tree: &Tree,
        long_allowed: &[&str],
        edges_allowed: &[(&str, &str)],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut deps = edges(tree);
        for (from, to) in edges_allowed {
            let d = deps.entry(from.to_string()).or_default();
            let before = d.len();
            d.retain(|t| t != to && !t.starts_with(&format!("{to}::")));
            if d.len() == before {
                out.push(format!(
                    "allowed edge {from} -> {to} is gone: drop it from the allow-list"
                ));
            }
        }
        for rel in long_allowed {
            let n = tree
                .values()
                .find(|(r, _)| r == rel)
                .map(|(_, t)| non_test(t).lines().count());
            if n.is_none_or(|n| n <= MAX_LINES) {
                out.push(format!(
                    "src/{rel} is allowed to be long but is not: drop it from the allow-list"
                ));
            }
        }
        for c in cycles(&deps) {
            let detail: Vec<String> = c
                .iter()
                .map(|a| {
                    let to: Vec<&str> = deps[a]
                        .iter()
                        .filter(|b| c.contains(b))
                        .map(String::as_str)
                        .collect();
                    format!("{a} -> [{}]", to.join(", "))
                })
                .collect();
            out.push(format!("import cycle: {}", detail.join("; ")));
        }
        for (m, to) in &deps {
            if DOMAIN.contains(&first(m)) {
                for t in to.iter().filter(|t| UPPER.contains(&first(t))) {
                    out.push(format!("domain module `{m}` uses `{t}`"));
                }
            }
        }
        for (rel, text) in tree.values() {
            let n = non_test(text).lines().count();
            if n > MAX_LINES && !long_allowed.contains(&rel.as_str()) {
                out.push(format!(
                    "src/{rel}: {n} non-test lines (at most {MAX_LINES})"
                ));
            }
        }
        out
    }

    #[test]
    fn src_has_no_cycles_no_upward_domain_imports_and_no_long_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let tree = read_tree(&root);
        assert!(tree.contains_key("engine"), "src/ read");
        let bad = violations(&tree, LONG_FILES_ALLOWED, EDGES_ALLOWED);
        assert!(
            bad.is_empty(),
            "src/ breaks the architecture rules:\n{}",
            bad.join("\n")
        );
    }

    fn synthetic(files: &[(&str, &str)]) -> Tree {
        files
            .iter()
            .map(|(rel, text)| (module_name(rel), (rel.to_string(), text.to_string())))
            .collect()
    }

    #[test]
    fn a_cycle_through_braces_and_super_is_found() {
        let tree = synthetic(&[
            ("lib.rs", "pub mod a; pub mod b;"),
            ("a/mod.rs", "pub mod inner;\nuse crate::{b::Thing, error};"),
            ("a/inner.rs", "use super::Other;"),
            ("b.rs", "use crate::a::inner::X; // crate::nothing\n"),
            (
                "c.rs",
                "use crate::b;\n#[cfg(test)]\nmod tests { use crate::c; use crate::a; }",
            ),
        ]);
        let deps = edges(&tree);
        assert_eq!(deps["a"], BTreeSet::from(["b".to_string()]));
        assert_eq!(deps["a::inner"], BTreeSet::from(["a".to_string()]));
        assert_eq!(deps["b"], BTreeSet::from(["a::inner".to_string()]));
        assert_eq!(
            deps["c"],
            BTreeSet::from(["b".to_string()]),
            "test code is not counted"
        );
        let bad = violations(&tree, &[], &[]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0].contains("a -> [b]") && bad[0].contains("b -> [a::inner]"),
            "{bad:?}"
        );
        // Allowing the edge that closes it clears it.
        assert!(violations(&tree, &[], &[("b", "a")]).is_empty());
    }

    #[test]
    fn a_domain_module_using_the_engine_and_a_long_file_are_found() {
        let long = "fn f() {}\n".repeat(MAX_LINES + 1);
        let tests = format!("fn g() {{}}\n#[cfg(test)]\n{}", "fn t() {}\n".repeat(900));
        let tree = synthetic(&[
            ("engine.rs", "pub fn build() {}"),
            ("aws/compute.rs", "use crate::engine::build;"),
            ("commands/run.rs", "use crate::engine::build;"),
            ("big.rs", &long),
            ("tested.rs", &tests),
        ]);
        let bad = violations(&tree, &[], &[]);
        assert_eq!(
            bad,
            vec![
                "domain module `aws::compute` uses `engine`".to_string(),
                format!(
                    "src/big.rs: {} non-test lines (at most {MAX_LINES})",
                    MAX_LINES + 1
                ),
            ]
        );
        assert_eq!(
            violations(&tree, &["big.rs"], &[("aws::compute", "engine")]),
            Vec::<String>::new()
        );
        // A stale allow-list entry is reported, so the list only shrinks.
        let stale = violations(
            &tree,
            &["big.rs", "tested.rs"],
            &[("aws::compute", "engine"), ("engine", "aws")],
        );
        assert_eq!(stale.len(), 2, "{stale:?}");
        assert!(stale[0].contains("engine -> aws is gone"), "{stale:?}");
        assert!(stale[1].contains("src/tested.rs"), "{stale:?}");
    }
}
