//! Checking calls: namespace-qualified ones against the engine's registered
//! functions and the imported stdlib modules, plain ones against the
//! script's own functions and the global ones.

use std::collections::{BTreeSet, HashMap};

use rhai::{Engine, FnCallExpr, Position};

use super::settings_map::Tainted;
use super::{CLUSTER, KEYWORDS, Local, Preflight, Problem, is_var};
use crate::error::{Error, Location};
use crate::names::suggest;

impl Preflight<'_> {
    /// Checks a namespace-qualified call: into an imported module (and
    /// notes where `cluster` is passed in), or to a registered namespace.
    pub(super) fn qualified_call(
        &self,
        x: &FnCallExpr,
        file: &str,
        aliases: &HashMap<String, String>,
        problems: &mut Vec<Problem>,
        problem: &dyn Fn(Position, String, Option<String>) -> Problem,
        seeds: &mut Vec<(Tainted, String)>,
    ) {
        let root = x.namespace.root();
        let pos = x.namespace.position();
        let arity = x.args.len();
        let Some(module) = aliases.get(root) else {
            if let Some((m, h)) = self.host_call(root, &x.name, arity, aliases) {
                problems.push(problem(pos, m, Some(h)));
            }
            return;
        };
        if let Some((m, h)) = self.module_call(module, root, &x.name, arity) {
            problems.push(problem(pos, m, Some(h)));
            return;
        }
        for (i, a) in x.args.iter().enumerate() {
            if is_var(a, CLUSTER) {
                let t = Tainted {
                    module: module.clone(),
                    function: x.name.to_string(),
                    arity,
                    param: i,
                };
                let line = a.start_position().line().unwrap_or(1);
                seeds.push((t, format!("{file}:{line}")));
            }
        }
    }

    /// A problem with a call without a namespace (`step(…)`): it must name
    /// a function of the script itself or a registered one, with a matching
    /// number of arguments. Names of variables are left alone (a variable
    /// may hold a function pointer, called as `f(x)`).
    pub(super) fn plain_call(&self, x: &FnCallExpr, local: &Local) -> Option<(String, String)> {
        let name = x.name.as_str();
        if x.op_token.is_some()
            || !name.chars().all(|c| c.is_alphanumeric() || c == '_')
            || KEYWORDS.contains(&name)
            || local.vars.contains(name)
        {
            return None;
        }
        let arity = x.args.len();
        let mut arities: BTreeSet<usize> = BTreeSet::new();
        arities.extend(local.fns.get(name).into_iter().flatten());
        arities.extend(self.globals.get(name).into_iter().flatten());
        if arities.contains(&arity) {
            return None;
        }
        arities.extend(self.standard().get(name).into_iter().flatten());
        if arities.contains(&arity) {
            return None;
        }
        if arities.is_empty() {
            let known: Vec<String> = self
                .standard()
                .keys()
                .chain(local.fns.keys())
                .filter(|n| n.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .cloned()
                .collect();
            return Some((
                format!("unknown function `{name}`"),
                match suggest(name, &known) {
                    Some(k) => format!("did you mean `{k}`? (`groundup fns` lists every host function)"),
                    None => "`groundup fns` lists every host function; a stdlib module's functions are called as `module::name` after `import`".to_string(),
                },
            ));
        }
        Some((
            format!(
                "`{name}` takes {}, but is called with {}",
                arities_text(&arities),
                args(arity)
            ),
            "`groundup fns` shows its signature".to_string(),
        ))
    }

    /// A problem with a call to `root::name` with `arity` arguments on a
    /// registered namespace: (message, help), or `None` if it is fine.
    fn host_call(
        &self,
        root: &str,
        name: &str,
        arity: usize,
        aliases: &HashMap<String, String>,
    ) -> Option<(String, String)> {
        let Some(fns) = self.api.get(root) else {
            return Some(self.unknown_namespace(root, name, aliases));
        };
        let Some(arities) = fns.get(name) else {
            let known: Vec<String> = fns
                .keys()
                .filter(|n| !n.contains('$'))
                .map(|n| format!("{root}::{n}"))
                .collect();
            let full = format!("{root}::{name}");
            return Some((
                format!("unknown function `{full}`"),
                match suggest(&full, &known) {
                    Some(k) => {
                        format!(
                            "did you mean `{k}`? (`groundup fns {root}` lists every {root}:: function)"
                        )
                    }
                    None => format!("`groundup fns {root}` lists every {root}:: function"),
                },
            ));
        };
        if arities.contains(&arity) {
            return None;
        }
        let sigs: Vec<String> = self
            .engine
            .gen_fn_signatures(false)
            .into_iter()
            .filter(|s| s.starts_with(&format!("{root}::{name}(")))
            .map(|s| crate::docs::clean_signature(&s))
            .collect();
        Some((
            format!(
                "`{root}::{name}` takes {}, but is called with {}",
                arities_text(arities),
                args(arity)
            ),
            format!("its signature: {}", sigs.join(" or ")),
        ))
    }

    /// A problem with a call into an imported stdlib module.
    fn module_call(
        &self,
        module: &str,
        alias: &str,
        name: &str,
        arity: usize,
    ) -> Option<(String, String)> {
        if module == CLUSTER {
            return Some((
                format!("`{alias}::{name}(…)`: the settings module `cluster` has no functions"),
                format!("read a setting as `{alias}::<key>`, e.g. `{alias}::vpc_cidr`"),
            ));
        }
        let info = self.modules.get(module)?;
        let Some(arities) = info.fns.get(name) else {
            let known: Vec<String> = info.fns.keys().cloned().collect();
            return Some((
                format!(
                    "unknown function `{alias}::{name}`: {} has no public function `{name}`",
                    info.script.name
                ),
                match suggest(name, &known) {
                    Some(k) => format!(
                        "did you mean `{alias}::{k}`? ({} defines: {})",
                        info.script.name,
                        known.join(", ")
                    ),
                    None => format!("{} defines: {}", info.script.name, known.join(", ")),
                },
            ));
        };
        if arities.contains(&arity) {
            return None;
        }
        let sigs: Vec<String> = arities
            .iter()
            .filter_map(|a| info.params.get(&(name.to_string(), *a)))
            .map(|p| format!("{alias}::{name}({})", p.join(", ")))
            .collect();
        Some((
            format!(
                "`{alias}::{name}` takes {}, but is called with {}",
                arities_text(arities),
                args(arity)
            ),
            format!("defined in {} as {}", info.script.name, sigs.join(" or ")),
        ))
    }

    pub(super) fn unknown_namespace(
        &self,
        root: &str,
        name: &str,
        aliases: &HashMap<String, String>,
    ) -> (String, String) {
        let mut known: Vec<String> = self.api.keys().cloned().collect();
        known.extend(aliases.keys().cloned());
        unknown_namespace(root, name, &known)
    }
}

/// The message and hint for `root::name` where `root` is no namespace of
/// `known`.
fn unknown_namespace(root: &str, name: &str, known: &[String]) -> (String, String) {
    let list = known
        .iter()
        .map(|k| format!("{k}::"))
        .collect::<Vec<_>>()
        .join(", ");
    // Namespaces are short: a looser match than for function names.
    let near = known
        .iter()
        .map(|k| (strsim::jaro_winkler(root, k), k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone());
    (
        format!("unknown namespace `{root}::` in `{root}::{name}`"),
        match near {
            Some(k) => format!("did you mean `{k}::{name}`? (namespaces: {list})"),
            None => format!(
                "namespaces: {list}; a stdlib module must be imported first, e.g. `import \"{root}\" as {root};`"
            ),
        },
    )
}

/// The compile error for a call or value in a namespace the parser does
/// not know (Rhai's "Undefined module"), in the pre-flight's words.
pub fn undefined_namespace(engine: &Engine, root: &str, pos: Position, loc: Location) -> Error {
    let known: BTreeSet<String> = engine
        .collect_fn_metadata(None, |info| Some(info.namespace.to_string()), false)
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    let known: Vec<String> = known.into_iter().collect();
    // The name after `root::` on the source line.
    let name: String = loc
        .text
        .lines()
        .nth(pos.line().unwrap_or(1).saturating_sub(1))
        .and_then(|l| {
            let from = l
                .char_indices()
                .nth(pos.position().unwrap_or(1).saturating_sub(1))?
                .0;
            l[from..]
                .strip_prefix(root)?
                .strip_prefix("::")
                .map(str::to_string)
        })
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .unwrap_or_default();
    let (message, help) = unknown_namespace(root, &name, &known);
    Error::script(message)
        .at(loc)
        .with_note(help)
        .with_help("found before any AWS call; nothing was changed")
}

pub(super) fn args(n: usize) -> String {
    match n {
        1 => "1 argument".to_string(),
        n => format!("{n} arguments"),
    }
}

pub(super) fn arities_text(arities: &BTreeSet<usize>) -> String {
    let list: Vec<String> = arities.iter().map(|a| a.to_string()).collect();
    let last = arities.iter().last().copied().unwrap_or(0);
    let noun = if arities.len() == 1 && last == 1 {
        "argument"
    } else {
        "arguments"
    };
    match list.len() {
        0 => "no arguments".to_string(),
        1 => format!("{} {noun}", list[0]),
        _ => format!(
            "{} or {} {noun}",
            list[..list.len() - 1].join(", "),
            list[list.len() - 1]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_texts() {
        assert_eq!(arities_text(&[1].into()), "1 argument");
        assert_eq!(arities_text(&[2].into()), "2 arguments");
        assert_eq!(arities_text(&[1, 2].into()), "1 or 2 arguments");
        assert_eq!(args(3), "3 arguments");
    }
}
