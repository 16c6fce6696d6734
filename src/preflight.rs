//! The static pre-flight: before the first AWS call (and for `groundup
//! check`), every runbook a command will run and every stdlib module it
//! imports is checked against what really exists:
//!
//! - every namespace-qualified call (`ec2::create_subnet(…)`) names a
//!   function registered in the engine, with a matching number of
//!   arguments: the list comes from the engine's own function metadata, so
//!   a namespace added later is checked with no change here;
//! - every call into an imported stdlib module (`nodes::layout(…)`) names
//!   one of its public functions, with a matching number of arguments, and
//!   every `module::name` read names one of its exported values;
//! - every import names a stdlib module that exists;
//! - every setting read (`cluster.<key>` in a runbook, `cluster::<key>`
//!   after `import "cluster" as cluster`, and `c.<key>` inside a stdlib
//!   function that runbooks pass `cluster` to as `c`) names a known setting.
//!
//! Each problem names `file:line:col` with the source line and a "did you
//! mean". What no static check can see (a property of a value returned at
//! run time) keeps the run-time diagnostics of [`crate::engine`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use rhai::{
    AST, ASTFlags, ASTNode, Engine, Expr, FnAccess, FnCallExpr, FnNamespace, Position, Stmt,
};

use crate::engine::suggest;
use crate::error::{Error, Location, Result};
use crate::settings::Settings;

/// The name runbooks read settings through (`cluster.vpc_cidr`), and the
/// stdlib module that holds them (`import "cluster"`).
const CLUSTER: &str = "cluster";

/// Rhai's keywords that look like calls (not registered functions).
const KEYWORDS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
    "this",
    "global",
];

/// One script to check: its display name, text and compiled AST.
pub struct Script<'a> {
    /// The name errors show (`runbooks/network.rhai`).
    pub name: &'a str,
    /// Its text (for the source line).
    pub text: &'a str,
    /// Its AST, compiled unoptimised with respect to `cluster` (see
    /// [`crate::engine::compile`]).
    pub ast: &'a AST,
}

/// A stdlib module as the pre-flight sees it.
struct ModuleInfo<'a> {
    script: Script<'a>,
    /// Public functions: name → arities.
    fns: BTreeMap<String, BTreeSet<usize>>,
    /// Every function (public or private): name → parameter names by arity.
    params: HashMap<(String, usize), Vec<String>>,
    /// Exported values.
    vars: BTreeSet<String>,
}

impl<'a> ModuleInfo<'a> {
    fn new(script: Script<'a>) -> Self {
        let mut fns: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        let mut params = HashMap::new();
        for f in script.ast.iter_functions() {
            if f.name.starts_with("anon$") {
                continue;
            }
            if f.access != FnAccess::Private {
                fns.entry(f.name.to_string())
                    .or_default()
                    .insert(f.params.len());
            }
            params.insert(
                (f.name.to_string(), f.params.len()),
                f.params.iter().map(|p| p.to_string()).collect(),
            );
        }
        let mut vars = BTreeSet::new();
        for s in script.ast.statements() {
            match s {
                Stmt::Var(x, flags, _) if flags.contains(ASTFlags::EXPORTED) => {
                    vars.insert(x.0.name.to_string());
                }
                Stmt::Export(x, _) => {
                    let alias = if x.1.name.is_empty() { &x.0 } else { &x.1 };
                    vars.insert(alias.name.to_string());
                }
                _ => {}
            }
        }
        ModuleInfo {
            script,
            fns,
            params,
            vars,
        }
    }
}

/// One problem found.
struct Problem {
    file: String,
    text: Arc<str>,
    pos: Position,
    message: String,
    help: Option<String>,
}

impl Problem {
    fn at(&self) -> String {
        format!(
            "{}:{}:{}",
            self.file,
            self.pos.line().unwrap_or(1),
            self.pos.position().unwrap_or(1)
        )
    }
}

/// A stdlib function parameter known to hold the settings map, and where
/// that was learnt (for the note).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Tainted {
    module: String,
    function: String,
    arity: usize,
    param: usize,
}

/// The pre-flight checker for one engine, one set of settings and the
/// stdlib modules visible to runbooks.
pub struct Preflight<'a> {
    engine: &'a Engine,
    /// Registered functions by namespace: `ec2` → `create_vpc` → arities.
    api: BTreeMap<String, BTreeMap<String, BTreeSet<usize>>>,
    /// Functions callable without a namespace (host functions, Rhai's
    /// standard library, global functions of the namespaces): name → arities.
    globals: HashMap<String, BTreeSet<usize>>,
    settings: &'a Settings,
    modules: BTreeMap<String, ModuleInfo<'a>>,
}

impl<'a> Preflight<'a> {
    /// A checker for `engine`'s registered functions, `settings`' keys and
    /// the stdlib `modules` (by module name: `nodes`).
    pub fn new(
        engine: &'a Engine,
        settings: &'a Settings,
        modules: impl IntoIterator<Item = (String, Script<'a>)>,
    ) -> Self {
        let mut api: BTreeMap<String, BTreeMap<String, BTreeSet<usize>>> = BTreeMap::new();
        let mut globals: HashMap<String, BTreeSet<usize>> = HashMap::new();
        let all = engine.collect_fn_metadata(
            None,
            |info| {
                Some((
                    info.namespace.to_string(),
                    info.metadata.name.to_string(),
                    info.metadata.num_params,
                    info.metadata.namespace == FnNamespace::Global,
                ))
            },
            true,
        );
        for (ns, name, arity, global) in all {
            if ns.is_empty() || global {
                globals.entry(name.clone()).or_default().insert(arity);
            }
            if !ns.is_empty() {
                api.entry(ns)
                    .or_default()
                    .entry(name)
                    .or_default()
                    .insert(arity);
            }
        }
        let modules = modules
            .into_iter()
            .filter(|(n, _)| n != CLUSTER)
            .map(|(n, s)| (n, ModuleInfo::new(s)))
            .collect();
        Preflight {
            engine,
            api,
            globals,
            settings,
            modules,
        }
    }

    /// The registered namespaces (`cidr`, `ec2`, …).
    pub fn namespaces(&self) -> Vec<String> {
        self.api.keys().cloned().collect()
    }

    /// Checks `scripts` and every stdlib module they import (transitively).
    /// All problems are reported at once: the first as the error, with its
    /// source line, the others as notes.
    pub fn check(&self, scripts: &[Script<'_>]) -> Result<()> {
        self.findings(scripts).into_result()
    }

    /// Everything wrong in `scripts` and the modules they import.
    pub fn findings(&self, scripts: &[Script<'_>]) -> Findings {
        let mut problems = Vec::new();
        let mut seeds: Vec<(Tainted, String)> = Vec::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        let mut done: BTreeSet<String> = BTreeSet::new();
        for s in scripts {
            for m in self.check_script(s, true, &mut problems, &mut seeds) {
                queue.push_back(m);
            }
        }
        while let Some(m) = queue.pop_front() {
            if !done.insert(m.clone()) {
                continue;
            }
            if let Some(info) = self.modules.get(&m) {
                let script = &info.script;
                // A module is also checked when it is one of `scripts`.
                if scripts.iter().any(|s| s.name == script.name) {
                    continue;
                }
                for next in self.check_script(script, false, &mut problems, &mut seeds) {
                    queue.push_back(next);
                }
            }
        }
        self.check_settings_params(seeds, &mut problems);
        Findings { problems }
    }

    /// Checks one script; returns the stdlib modules it imports.
    fn check_script(
        &self,
        s: &Script<'_>,
        runbook: bool,
        problems: &mut Vec<Problem>,
        seeds: &mut Vec<(Tainted, String)>,
    ) -> Vec<String> {
        let text: Arc<str> = Arc::from(s.text);
        let problem = |pos: Position, message: String, help: Option<String>| Problem {
            file: s.name.to_string(),
            text: text.clone(),
            pos,
            message,
            help,
        };
        // Pass 1: imports (alias → module).
        let mut aliases: HashMap<String, String> = HashMap::new();
        let mut imported = Vec::new();
        s.ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Stmt(Stmt::Import(x, pos))) = path.last()
                && let Expr::StringConstant(module, _) = &x.0
            {
                let module = module.to_string();
                if module != CLUSTER && !self.modules.contains_key(&module) {
                    let known: Vec<String> = self
                        .modules
                        .keys()
                        .cloned()
                        .chain([CLUSTER.to_string()])
                        .collect();
                    problems.push(problem(
                        *pos,
                        format!(
                            "module `{module}` not found: looked in ./stdlib/{module}.rhai and groundup's built-in stdlib"
                        ),
                        Some(match suggest(&module, &known) {
                            Some(k) => format!("did you mean `{k}`? (stdlib modules: {})", known.join(", ")),
                            None => format!("stdlib modules: {}", known.join(", ")),
                        }),
                    ));
                } else {
                    if !x.1.name.is_empty() {
                        aliases.insert(x.1.name.to_string(), module.clone());
                    }
                    imported.push(module);
                }
            }
            true
        });
        let local = Local::of(s.ast);
        // Pass 2: calls, module values and setting reads.
        s.ast.walk(&mut |path: &[ASTNode]| {
            let Some(node) = path.last() else {
                return true;
            };
            if let Some(x) = call_of(node)
                && x.namespace.is_empty()
            {
                if let Some((m, h)) = self.plain_call(x, &local) {
                    problems.push(problem(call_pos(node), m, Some(h)));
                }
                return true;
            }
            let ASTNode::Expr(e) = node else {
                if let Some(x) = call_of(node) {
                    self.qualified_call(x, s.name, &aliases, problems, &problem, seeds);
                }
                return true;
            };
            match e {
                Expr::FnCall(x, _) => {
                    self.qualified_call(x, s.name, &aliases, problems, &problem, seeds);
                }
                Expr::Variable(v, _, pos) if !v.2.is_empty() => {
                    let root = v.2.root();
                    let name = v.1.as_str();
                    match aliases.get(root).map(String::as_str) {
                        Some(CLUSTER) => {
                            if let Some((m, h)) = self.setting(name) {
                                problems.push(problem(*pos, m, Some(h)));
                            }
                        }
                        Some(module) => {
                            if let Some(info) = self.modules.get(module)
                                && !info.vars.contains(name)
                            {
                                let known: Vec<String> = info.vars.iter().cloned().collect();
                                problems.push(problem(
                                    *pos,
                                    format!("module `{module}` exports no `{name}`"),
                                    Some(match suggest(name, &known) {
                                        Some(k) => format!("did you mean `{root}::{k}`?"),
                                        None => format!(
                                            "{} exports: {}",
                                            info.script.name,
                                            known.join(", ")
                                        ),
                                    }),
                                ));
                            }
                        }
                        None if !self.api.contains_key(root) => {
                            let (m, h) = self.unknown_namespace(root, name, &aliases);
                            problems.push(problem(v.2.position(), m, Some(h)));
                        }
                        None => {}
                    }
                }
                Expr::Dot(b, _, _) if runbook && is_var(&b.lhs, CLUSTER) => {
                    if let Some((key, pos)) = first_property(&b.rhs)
                        && let Some((m, h)) = self.setting(key)
                    {
                        problems.push(problem(pos, m, Some(h)));
                    }
                }
                Expr::Index(b, _, _) if runbook && is_var(&b.lhs, CLUSTER) => {
                    if let Expr::StringConstant(key, pos) = &b.rhs
                        && let Some((m, h)) = self.setting(key)
                    {
                        problems.push(problem(*pos, m, Some(h)));
                    }
                }
                _ => {}
            }
            true
        });
        imported
    }

    /// Checks a namespace-qualified call: into an imported module (and
    /// notes where `cluster` is passed in), or to a registered namespace.
    fn qualified_call(
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
    fn plain_call(&self, x: &FnCallExpr, local: &Local) -> Option<(String, String)> {
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
        if arities.is_empty() {
            let known: Vec<String> = self
                .globals
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

    fn unknown_namespace(
        &self,
        root: &str,
        name: &str,
        aliases: &HashMap<String, String>,
    ) -> (String, String) {
        let mut known: Vec<String> = self.api.keys().cloned().collect();
        known.extend(aliases.keys().cloned());
        unknown_namespace(root, name, &known)
    }

    /// A problem with reading the setting `key`.
    fn setting(&self, key: &str) -> Option<(String, String)> {
        if self.settings.get(key).is_some() {
            return None;
        }
        Some((
            format!("unknown setting `{key}`"),
            self.settings.unknown_key_help(key),
        ))
    }

    /// Follows `cluster` into stdlib functions (`nodes::layout(cluster)`
    /// makes `layout`'s parameter the settings map, and so does every call
    /// in the module that passes it on) and checks the settings they read.
    fn check_settings_params(&self, seeds: Vec<(Tainted, String)>, problems: &mut Vec<Problem>) {
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

/// Names a script declares (variables, parameters, loop and catch
/// variables) and the functions it defines.
struct Local {
    vars: BTreeSet<String>,
    fns: HashMap<String, BTreeSet<usize>>,
}

impl Local {
    fn of(ast: &AST) -> Local {
        let mut vars = BTreeSet::new();
        let mut fns: HashMap<String, BTreeSet<usize>> = HashMap::new();
        for f in ast.iter_functions() {
            vars.extend(f.params.iter().map(|p| p.to_string()));
            fns.entry(f.name.to_string())
                .or_default()
                .insert(f.params.len());
        }
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Stmt(Stmt::Var(x, _, _))) => {
                    vars.insert(x.0.name.to_string());
                }
                Some(ASTNode::Stmt(Stmt::For(x, _))) => {
                    vars.insert(x.0.name.to_string());
                    if let Some(i) = &x.1 {
                        vars.insert(i.name.to_string());
                    }
                }
                Some(ASTNode::Stmt(Stmt::TryCatch(x, _))) => {
                    if let Expr::Variable(v, _, _) = &x.expr {
                        vars.insert(v.1.to_string());
                    }
                }
                _ => {}
            }
            true
        });
        Local { vars, fns }
    }
}

/// The call a node makes, as a statement or an expression.
fn call_of<'n>(node: &ASTNode<'n>) -> Option<&'n FnCallExpr> {
    match *node {
        ASTNode::Stmt(Stmt::FnCall(x, _)) | ASTNode::Expr(Expr::FnCall(x, _)) => Some(x),
        _ => None,
    }
}

/// Where an unqualified call is (its name).
fn call_pos(node: &ASTNode) -> Position {
    match node {
        ASTNode::Stmt(Stmt::FnCall(_, pos)) | ASTNode::Expr(Expr::FnCall(_, pos)) => *pos,
        _ => Position::NONE,
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

/// Whether `e` reads the plain variable `name`.
fn is_var(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::Variable(v, _, _) if v.2.is_empty() && v.1 == name)
}

/// The first property of a chain after `x.`: `x.a`, `x.a.b`, `x.a[0]`,
/// `x.a.len()`. `None` for a method call (`x.keys()`).
fn first_property(rhs: &Expr) -> Option<(&str, Position)> {
    match rhs {
        Expr::Property(p, pos) => Some((p.2.as_str(), *pos)),
        Expr::Dot(b, _, _) | Expr::Index(b, _, _) => match &b.lhs {
            Expr::Property(p, pos) => Some((p.2.as_str(), *pos)),
            _ => None,
        },
        _ => None,
    }
}

fn args(n: usize) -> String {
    match n {
        1 => "1 argument".to_string(),
        n => format!("{n} arguments"),
    }
}

fn arities_text(arities: &BTreeSet<usize>) -> String {
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

/// What a pre-flight found.
pub struct Findings {
    problems: Vec<Problem>,
}

impl Findings {
    /// The files with problems.
    pub fn files(&self) -> BTreeSet<String> {
        self.problems.iter().map(|p| p.file.clone()).collect()
    }

    /// `Ok` if nothing was found, else the first problem as the error
    /// (with its source line) and the others as notes.
    pub fn into_result(self) -> Result<()> {
        report(self.problems)
    }
}

/// The first problem as the error (with its source line); the others as
/// notes, each with its `file:line:col`.
fn report(mut problems: Vec<Problem>) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut seen = BTreeSet::new();
    problems.retain(|p| seen.insert((p.at(), p.message.clone())));
    // In file order (closures and functions are walked after the top
    // level), files in the order they were checked.
    let mut files: Vec<String> = Vec::new();
    for p in &problems {
        if !files.contains(&p.file) {
            files.push(p.file.clone());
        }
    }
    problems.sort_by_key(|p| {
        (
            files.iter().position(|f| *f == p.file),
            p.pos.line(),
            p.pos.position(),
        )
    });
    let first = &problems[0];
    let mut err = Error::script(first.message.clone()).at(Location {
        name: first.file.clone(),
        text: first.text.clone(),
        line: first.pos.line().unwrap_or(1),
        col: first.pos.position().unwrap_or(1).max(1),
    });
    if let Some(h) = &first.help {
        err = err.with_note(h.clone());
    }
    for p in &problems[1..] {
        let help = p
            .help
            .as_ref()
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        err = err.with_note(format!("also at {}: {}{help}", p.at(), p.message));
    }
    let n = problems.len();
    Err(err.with_help(format!(
        "found before any AWS call: {n} problem{}; nothing was changed",
        if n == 1 { "" } else { "s" }
    )))
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
