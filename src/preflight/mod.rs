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

use crate::error::{Error, Location, Result};
use crate::names::suggest;
use crate::settings::Settings;

mod calls;
mod settings_file;
mod settings_map;

pub use calls::undefined_namespace;
pub use settings_file::check_settings_file;
use settings_map::Tainted;

/// The name runbooks read settings through (`cluster.vpc_cidr`), and the
/// stdlib module that holds them (`import "cluster"`).
pub(crate) const CLUSTER: &str = "cluster";

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

/// The pre-flight checker for one engine, one set of settings and the
/// stdlib modules visible to runbooks.
pub struct Preflight<'a> {
    engine: &'a Engine,
    /// Registered functions by namespace: `ec2` → `create_vpc` → arities.
    api: BTreeMap<String, BTreeMap<String, BTreeSet<usize>>>,
    /// Host functions callable without a namespace (and the global
    /// functions of the namespaces): name → arities.
    globals: HashMap<String, BTreeSet<usize>>,
    /// Rhai's standard library, the same way; listed only when a call is
    /// not a host function (it is large, and start-up must stay fast).
    standard: std::cell::OnceCell<HashMap<String, BTreeSet<usize>>>,
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
            false,
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
            standard: std::cell::OnceCell::new(),
            settings,
            modules,
        }
    }

    /// Rhai's standard-library functions: name → arities.
    fn standard(&self) -> &HashMap<String, BTreeSet<usize>> {
        self.standard.get_or_init(|| {
            let mut out: HashMap<String, BTreeSet<usize>> = HashMap::new();
            for (name, arity) in self.engine.collect_fn_metadata(
                None,
                |info| Some((info.metadata.name.to_string(), info.metadata.num_params)),
                true,
            ) {
                out.entry(name).or_default().insert(arity);
            }
            out
        })
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
                if let Some(why) = crate::names::not_a_module_name(&module) {
                    problems.push(problem(*pos, why, None));
                } else if module != CLUSTER && !self.modules.contains_key(&module) {
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
        // `cluster` is the settings map unless the script makes its own.
        let runbook = runbook && !local.lets.contains(CLUSTER);
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
}

/// Names a script declares (variables, parameters, loop and catch
/// variables) and the functions it defines.
struct Local {
    vars: BTreeSet<String>,
    /// Names declared with `let` or `const` (closures' captured variables
    /// are parameters, so not in here).
    lets: BTreeSet<String>,
    fns: HashMap<String, BTreeSet<usize>>,
}

impl Local {
    fn of(ast: &AST) -> Local {
        let mut vars = BTreeSet::new();
        let mut lets = BTreeSet::new();
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
                    lets.insert(x.0.name.to_string());
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
        Local { vars, lets, fns }
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
