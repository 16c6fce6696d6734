//! The rustyline helper: Tab completion (meta-commands, namespaces,
//! functions, variables, setting names after `cluster.`, properties after
//! `x.` for a value whose type is known, state keys in `state::get("…`),
//! signature hints as you type, and multi-line input while brackets are
//! open.

use std::borrow::Cow;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::catalog::Catalog;
use super::meta::META;
use super::syntax::{enclosing_call, ident_start, needs_more, scan, word_start};
use crate::docs::FnDoc;

/// Rhai keywords offered when completing a plain word.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "for", "in", "while", "loop", "do", "until", "break",
    "continue", "return", "throw", "try", "catch", "switch", "import", "as", "true", "false",
];

/// Rhai built-ins worth offering next to the host functions.
const BUILTINS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "parse_int",
    "parse_float",
    "range",
    "is_def_var",
    "is_def_fn",
];

/// The REPL's rustyline helper.
pub struct ReplHelper {
    /// What completion and hints know; refreshed before every prompt.
    pub catalog: Catalog,
    color: bool,
    files: FilenameCompleter,
}

impl ReplHelper {
    /// A helper; `color` dims hints with ANSI escapes.
    pub fn new(catalog: Catalog, color: bool) -> ReplHelper {
        ReplHelper {
            catalog,
            color,
            files: FilenameCompleter::new(),
        }
    }

    /// Completion candidates for the text before `pos`: the offset the
    /// candidates replace from, and the candidates.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        if before.trim_start().starts_with(':') {
            return self.complete_meta(line, pos);
        }
        if let Some((quote, at)) = scan(before).string {
            return match quote {
                '"' => self.complete_in_string(before, at),
                _ => (pos, Vec::new()),
            };
        }
        let start = word_start(before, pos);
        let word = &before[start..];
        let cat = &self.catalog;
        let mut out: Vec<Pair> = Vec::new();
        if let Some((ns, prefix)) = word.rsplit_once("::") {
            for f in cat.api.in_namespace(ns) {
                if f.name.starts_with(prefix) {
                    let paren = call_paren(&cat.api.lookup(&format!("{ns}::{}", f.name)));
                    out.push(pair(&f.name, format!("{ns}::{}{paren}", f.name)));
                }
            }
            return (start, tidy(out));
        }
        if before[..start].ends_with('.') {
            let dot = start - 1;
            let receiver = &before[ident_start(before, dot)..dot];
            if let Some(var) = cat.var(receiver) {
                if var.type_name == "map" {
                    for k in var.keys.iter().filter(|k| k.starts_with(word)) {
                        out.push(pair(k, k.clone()));
                    }
                } else {
                    for m in cat.api.members_of(&var.type_name) {
                        if m.name.starts_with(word) {
                            let rep = if m.getter {
                                m.name.clone()
                            } else {
                                format!("{}(", m.name)
                            };
                            out.push(pair(&rep, rep.clone()));
                        }
                    }
                }
            }
            return (start, tidy(out));
        }
        for ns in &cat.api.namespaces {
            if ns.starts_with(word) {
                out.push(pair(&format!("{ns}::"), format!("{ns}::")));
            }
        }
        for v in &cat.vars {
            if v.name.starts_with(word) {
                out.push(pair(&v.name, v.name.clone()));
            }
        }
        for f in cat.api.in_namespace("") {
            if f.name.starts_with(word) {
                let paren = call_paren(&cat.api.lookup(&f.name));
                out.push(pair(&f.name, format!("{}{paren}", f.name)));
            }
        }
        for (name, _) in &cat.script_fns {
            if name.starts_with(word) {
                out.push(pair(name, format!("{name}(")));
            }
        }
        for b in BUILTINS.iter().filter(|b| b.starts_with(word)) {
            out.push(pair(b, format!("{b}(")));
        }
        if !word.is_empty() {
            for k in KEYWORDS.iter().filter(|k| k.starts_with(word)) {
                out.push(pair(k, k.to_string()));
            }
        }
        (start, tidy(out))
    }

    /// Inside a string: state keys for `state::get("…` and friends.
    fn complete_in_string(&self, before: &str, quote_at: usize) -> (usize, Vec<Pair>) {
        let start = quote_at + 1;
        let partial = &before[start..];
        let callee = before[..quote_at].trim_end();
        let keyed = ["get(", "has(", "remove(", "set("]
            .iter()
            .any(|f| callee.ends_with(&format!("state::{f}")));
        let mut out = Vec::new();
        if keyed {
            for k in self
                .catalog
                .state_keys
                .iter()
                .filter(|k| k.starts_with(partial))
            {
                out.push(pair(k, format!("{k}\"")));
            }
        }
        (start, tidy(out))
    }

    /// Meta-commands and their arguments.
    fn complete_meta(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        let lead = before.len() - before.trim_start().len();
        let body = &before[lead..];
        let Some((cmd, _)) = body.split_once(char::is_whitespace) else {
            let out = META
                .iter()
                .filter(|(name, _, _)| name.starts_with(body))
                .map(|(name, args, _)| {
                    let rep = if args.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name} ")
                    };
                    pair(name, rep)
                })
                .collect();
            return (lead, tidy(out));
        };
        let arg_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(pos);
        let arg = &before[arg_start..];
        let api = &self.catalog.api;
        let mut words: Vec<String> = Vec::new();
        match cmd {
            ":help" | ":h" => {
                words.extend(api.functions.iter().map(qualified));
                words.extend(api.namespaces.iter().cloned());
                words.extend(api.types.iter().cloned());
                words.extend(self.catalog.settings.iter().map(|s| format!("cluster.{s}")));
                words.extend(META.iter().map(|(n, _, _)| n.to_string()));
            }
            ":fns" => words.extend(api.namespaces.iter().cloned()),
            ":plan" => words.extend(["on".to_string(), "off".to_string()]),
            ":run" | ":load" => {
                if cmd == ":run" {
                    words.extend(crate::embedded::RUNBOOKS.iter().map(|(n, _)| n.to_string()));
                }
                let (start, mut files) = self.files.complete_path(line, pos).unwrap_or_default();
                if start == arg_start {
                    files.extend(
                        words
                            .iter()
                            .filter(|w| w.starts_with(arg))
                            .map(|w| pair(w, w.clone())),
                    );
                    return (start, tidy(files));
                }
            }
            _ => {}
        }
        let out = words
            .iter()
            .filter(|w| w.starts_with(arg))
            .map(|w| pair(w, w.clone()))
            .collect();
        (arg_start, tidy(out))
    }

    /// The hint after the cursor: the rest of a function name with its
    /// parameters while typing a name, or the signature of the call the
    /// cursor is in.
    pub fn hint_for(&self, line: &str, pos: usize) -> Option<ReplHint> {
        if pos < line.len() || line.trim_start().starts_with(':') {
            return None;
        }
        let before = &line[..pos];
        let open = scan(before);
        if open.string.is_some() || open.comment {
            return None;
        }
        let api = &self.catalog.api;
        let start = word_start(before, pos);
        let word = &before[start..];
        let after_dot = before[..start].ends_with('.');
        if !word.is_empty() && !after_dot {
            let (ns, prefix) = word.rsplit_once("::").unwrap_or(("", word));
            let mut names: Vec<&FnDoc> = api
                .in_namespace(ns)
                .into_iter()
                .filter(|f| f.name.starts_with(prefix))
                .collect();
            names.dedup_by(|a, b| a.name == b.name);
            // A plain word that could also be a namespace or a variable
            // gets no hint.
            let ambiguous = ns.is_empty()
                && (api.namespaces.iter().any(|n| n.starts_with(word))
                    || self.catalog.vars.iter().any(|v| v.name.starts_with(word)));
            if let [f] = names.as_slice()
                && !ambiguous
                && (!prefix.is_empty() || !ns.is_empty())
            {
                let full = qualified(f);
                let rest = full.get(word.len()..).unwrap_or_default();
                let params = f.signature.get(full.len()..).unwrap_or_default();
                return Some(ReplHint {
                    display: format!("{rest}{params}"),
                    completion: Some(format!("{rest}(")),
                });
            }
        }
        let callee = enclosing_call(before)?;
        let sigs: Vec<String> = api
            .lookup(callee)
            .iter()
            .map(|f| f.signature.clone())
            .chain(
                self.catalog
                    .script_fns
                    .iter()
                    .filter(|(n, _)| n == callee)
                    .map(|(_, s)| s.clone()),
            )
            .collect();
        if sigs.is_empty() {
            return None;
        }
        Some(ReplHint {
            display: format!("   {}", sigs.join("  |  ")),
            completion: None,
        })
    }
}

/// `ns::name` or `name`.
fn qualified(f: &FnDoc) -> String {
    if f.namespace.is_empty() {
        f.name.clone()
    } else {
        format!("{}::{}", f.namespace, f.name)
    }
}

/// `()` when every overload takes no arguments, else `(`.
fn call_paren(overloads: &[&FnDoc]) -> &'static str {
    let none = !overloads.is_empty()
        && overloads.iter().all(|f| {
            f.signature
                .split_once('(')
                .is_some_and(|(_, rest)| rest.starts_with(')'))
        });
    if none { "()" } else { "(" }
}

fn pair(display: &str, replacement: String) -> Pair {
    Pair {
        display: display.to_string(),
        replacement,
    }
}

/// Sorted, without duplicate replacements.
fn tidy(mut v: Vec<Pair>) -> Vec<Pair> {
    v.sort_by(|a, b| a.replacement.cmp(&b.replacement));
    v.dedup_by(|a, b| a.replacement == b.replacement);
    v
}

/// A hint: what is shown after the cursor, and what → inserts.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplHint {
    /// Shown (dimmed) after the cursor.
    pub display: String,
    /// Inserted when the hint is accepted, if anything.
    pub completion: Option<String>,
}

impl Hint for ReplHint {
    fn display(&self) -> &str {
        &self.display
    }
    fn completion(&self) -> Option<&str> {
        self.completion.as_deref()
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Hinter for ReplHelper {
    type Hint = ReplHint;
    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<ReplHint> {
        self.hint_for(line, pos)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if needs_more(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::docs::Member;
    use crate::repl::catalog::{Api, Var};

    fn f(ns: &str, name: &str, params: &str, ret: &str) -> FnDoc {
        let q = if ns.is_empty() {
            name.to_string()
        } else {
            format!("{ns}::{name}")
        };
        FnDoc {
            namespace: ns.into(),
            name: name.into(),
            signature: format!("{q}({params}) -> {ret}"),
            doc: String::new(),
        }
    }

    fn helper() -> ReplHelper {
        let api = Api {
            namespaces: vec!["cidr".into(), "ec2".into(), "state".into()],
            functions: vec![
                f("", "step", "title: string, body: FnPtr", "any"),
                f("cidr", "host", "prefix: string, hostnum: int", "string"),
                f("cidr", "hostname", "ip: string", "string"),
                f(
                    "cidr",
                    "subnet",
                    "base: string, newbits: int, netnum: int",
                    "string",
                ),
                f("ec2", "create_vpc", "cidr_block: string", "Vpc"),
                f("state", "keys", "", "array"),
            ],
            members: vec![
                Member {
                    type_name: "Vpc".into(),
                    name: "cidr".into(),
                    getter: true,
                    returns: "string".into(),
                    doc: String::new(),
                },
                Member {
                    type_name: "Vpc".into(),
                    name: "to_json".into(),
                    getter: false,
                    returns: "string".into(),
                    doc: String::new(),
                },
            ],
            types: vec!["Vpc".into()],
        };
        let cat = Catalog {
            api: Arc::new(api),
            vars: vec![
                Var {
                    name: "cluster".into(),
                    type_name: "map".into(),
                    keys: vec!["vpc_cidr".into(), "subnet_cidr".into(), "name".into()],
                },
                Var {
                    name: "vpc".into(),
                    type_name: "Vpc".into(),
                    keys: vec![],
                },
            ],
            script_fns: vec![("double".into(), "double(x)".into())],
            state_keys: vec!["vpc_id".into(), "subnet_id".into()],
            settings: vec!["vpc_cidr".into()],
        };
        ReplHelper::new(cat, false)
    }

    fn reps(h: &ReplHelper, line: &str) -> (usize, Vec<String>) {
        let (start, c) = h.candidates(line, line.len());
        (start, c.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn completes_namespaces_functions_and_variables() {
        let h = helper();
        assert_eq!(reps(&h, "ci"), (0, vec!["cidr::".to_string()]));
        assert_eq!(
            reps(&h, "let a = cidr::ho"),
            (8, vec!["cidr::host(".into(), "cidr::hostname(".into()])
        );
        assert_eq!(reps(&h, "state::k"), (0, vec!["state::keys()".into()]));
        assert_eq!(reps(&h, "v"), (0, vec!["vpc".into()]));
        assert_eq!(reps(&h, "dou"), (0, vec!["double(".into()]));
        assert_eq!(reps(&h, "st"), (0, vec!["state::".into(), "step(".into()]));
    }

    #[test]
    fn completes_members_by_type_and_map_keys() {
        let h = helper();
        assert_eq!(reps(&h, "cluster.vpc"), (8, vec!["vpc_cidr".into()]));
        assert_eq!(
            reps(&h, "print(vpc."),
            (10, vec!["cidr".into(), "to_json(".into()])
        );
        assert_eq!(reps(&h, "nothing.x").1, Vec::<String>::new());
    }

    #[test]
    fn completes_state_keys_in_strings_and_meta_commands() {
        let h = helper();
        assert_eq!(
            reps(&h, "state::get(\"vp"),
            (12, vec!["vpc_id\"".to_string()])
        );
        assert_eq!(reps(&h, "\"vp").1, Vec::<String>::new());
        assert_eq!(reps(&h, ":he"), (0, vec![":help ".to_string()]));
        assert_eq!(
            reps(&h, ":help ec2::c"),
            (6, vec!["ec2::create_vpc".to_string()])
        );
        assert_eq!(reps(&h, ":fns ci"), (5, vec!["cidr".to_string()]));
        assert_eq!(reps(&h, ":plan o").1, vec!["off", "on"]);
        assert_eq!(reps(&h, ":help cluster.v").1, vec!["cluster.vpc_cidr"]);
    }

    #[test]
    fn hints_show_signatures() {
        let h = helper();
        assert_eq!(
            h.hint_for("cidr::sub", 9),
            Some(ReplHint {
                display: "net(base: string, newbits: int, netnum: int) -> string".into(),
                completion: Some("net(".into()),
            })
        );
        let l = "let x = cidr::host(\"10.0.0.0/24\", ";
        assert_eq!(
            h.hint_for(l, l.len()).map(|x| x.display),
            Some("   cidr::host(prefix: string, hostnum: int) -> string".into())
        );
        assert_eq!(h.hint_for("cidr::ho", 8), None, "two functions match");
        assert_eq!(
            h.hint_for("double(", 7).map(|x| x.display),
            Some("   double(x)".into())
        );
        assert_eq!(h.hint_for(":help", 5), None);
    }
}
