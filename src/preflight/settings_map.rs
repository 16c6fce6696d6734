//! Following the settings map into stdlib functions: `nodes::layout(cluster)`
//! makes `layout`'s parameter the settings map, so every `c.<key>` it reads
//! is a setting read.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use rhai::{AST, ASTNode, Expr};

use super::{Preflight, Problem, call_of, first_property, is_var};

/// A stdlib function parameter known to hold the settings map, and where
/// that was learnt (for the note).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct Tainted {
    pub(super) module: String,
    pub(super) function: String,
    pub(super) arity: usize,
    pub(super) param: usize,
}

impl Preflight<'_> {
    /// Follows `cluster` into stdlib functions (`nodes::layout(cluster)`
    /// makes `layout`'s parameter the settings map, and so does every call
    /// in the module that passes it on) and checks the settings they read.
    pub(super) fn check_settings_params(
        &self,
        seeds: Vec<(Tainted, String)>,
        problems: &mut Vec<Problem>,
    ) {
        let mut seen: HashMap<Tainted, String> = HashMap::new();
        let mut queue: VecDeque<(Tainted, String)> = seeds.into();
        let mut reported: BTreeSet<(String, usize, usize)> = BTreeSet::new();
        while let Some((t, from)) = queue.pop_front() {
            if seen.contains_key(&t) {
                continue;
            }
            seen.insert(t.clone(), from.clone());
            let Some(info) = self.modules.get(&t.module) else {
                continue;
            };
            let Some(param) = info
                .params
                .get(&(t.function.clone(), t.arity))
                .and_then(|p| p.get(t.param))
                .cloned()
            else {
                continue;
            };
            // An AST of that one function, to walk its body.
            let mut one = rhai::Module::new();
            for f in info.script.ast.iter_fn_def() {
                if f.name == t.function && f.params.len() == t.arity {
                    one.set_script_fn(f.clone());
                }
            }
            let body = AST::new([], one);
            let text: Arc<str> = Arc::from(info.script.text);
            let mut passed: Vec<(String, usize, usize)> = Vec::new();
            body.walk(&mut |path: &[ASTNode]| {
                let Some(node) = path.last() else {
                    return true;
                };
                // A call in the module that passes the settings map on.
                if let Some(x) = call_of(node)
                    && x.namespace.is_empty()
                    && info.params.contains_key(&(x.name.to_string(), x.args.len()))
                {
                    for (j, a) in x.args.iter().enumerate() {
                        if is_var(a, &param) {
                            passed.push((x.name.to_string(), x.args.len(), j));
                        }
                    }
                }
                let ASTNode::Expr(e) = node else {
                    return true;
                };
                match e {
                    Expr::Dot(b, _, _) if is_var(&b.lhs, &param) => {
                        if let Some((key, pos)) = first_property(&b.rhs)
                            && let Some((m, h)) = self.setting(key)
                            && reported.insert((
                                info.script.name.to_string(),
                                pos.line().unwrap_or(0),
                                pos.position().unwrap_or(0),
                            ))
                        {
                            problems.push(Problem {
                                file: info.script.name.to_string(),
                                text: text.clone(),
                                pos,
                                message: m,
                                help: Some(format!(
                                    "`{param}` in `{}` is the settings map (`cluster`, passed at {from}): {h}",
                                    t.function
                                )),
                            });
                        }
                    }
                    _ => {}
                }
                true
            });
            for (function, arity, param) in passed {
                let next = Tainted {
                    module: t.module.clone(),
                    function,
                    arity,
                    param,
                };
                queue.push_back((next, from.clone()));
            }
        }
    }
}
