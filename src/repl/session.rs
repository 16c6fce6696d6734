//! One REPL session: the host and engine `groundup run` would build, one
//! scope for the whole session, and the functions defined so far.
//!
//! Each input is compiled against the scope (so strict variables know what
//! exists), merged with the functions defined earlier and run; then only
//! its functions are kept (the rhai-repl pattern).  `import "x" as y;`
//! stays in effect on later inputs too.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rhai::{AST, Dynamic, Engine, EvalAltResult, Module, Position, Scope, Shared, Stmt};

use super::catalog::{Api, Catalog, Var};
use crate::cli::Global;
use crate::commands::{self, project_dir};
use crate::docs::script_type;
use crate::engine::{self, Sources};
use crate::error::{Error, Result};
use crate::host::Host;

/// The REPL's state.
pub struct Session {
    g: Global,
    /// The text of every input and file, for diagnostics.
    pub sources: Arc<Sources>,
    host: Arc<Host>,
    engine: Engine,
    scope: Scope<'static>,
    fns: AST,
    fn_origin: HashMap<String, String>,
    imports: Vec<(String, Shared<Module>)>,
    api: Arc<Api>,
    known: Vec<String>,
    show: AST,
    inputs: usize,
}

/// Installs a Ctrl-C handler on the host's runtime that sets its
/// interrupt flag every time (a running script or AWS wait then stops; the
/// session goes on).
fn watch_ctrl_c(host: &Host) {
    let flag = host.interrupted.clone();
    host.runtime().spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
}

/// `x.to_string()` through the engine, so custom types print with their
/// registered `to_string`.
const SHOW: &str = "fn show(x) { x.to_string() }";

impl Session {
    /// Loads the settings and builds the host and engine as `groundup run`
    /// does (`--plan`, `--endpoint`, `--state-dir`, `--set`, …).  Outside
    /// plan mode the session holds the cluster's lock.
    pub fn new(g: &Global) -> Result<Session> {
        let sources = Arc::new(Sources::default());
        let settings = commands::load_settings(g, &sources)?;
        let host = commands::make_host(g, settings, true)?;
        watch_ctrl_c(&host);
        let scope = engine::new_scope(&host.settings);
        let mut s = Session {
            g: g.clone(),
            sources,
            engine: Engine::new_raw(),
            host,
            scope,
            fns: AST::empty(),
            fn_origin: HashMap::new(),
            imports: Vec::new(),
            api: Arc::default(),
            known: Vec::new(),
            show: AST::empty(),
            inputs: 0,
        };
        s.rebuild_engine();
        Ok(s)
    }

    fn rebuild_engine(&mut self) {
        let mut engine = engine::build(self.host.clone(), &project_dir(), self.sources.clone());
        for (alias, module) in &self.imports {
            engine.register_static_module(alias.as_str(), module.clone());
        }
        self.show = engine.compile(SHOW).unwrap_or_default();
        self.api = Arc::new(Api::from_engine(&engine));
        self.known = engine::known_functions(&engine);
        self.engine = engine;
    }

    /// The host.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// The registered API.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Whether plan mode is on.
    pub fn planning(&self) -> bool {
        self.host.planning()
    }

    /// The display name of the next interactive input (`<input 3>`).
    pub fn next_name(&mut self) -> String {
        self.inputs += 1;
        format!("<input {}>", self.inputs)
    }

    /// Compiles and runs `text` in the session scope.  `name` is the source
    /// the text belongs to (already in [`Session::sources`]) and
    /// `first_line` the line of that source it starts on, so diagnostics
    /// point at the right line.  Functions it defines are kept even if it
    /// fails at run time.
    pub fn eval(&mut self, name: &str, text: &str, first_line: usize) -> Result<Dynamic> {
        self.host.interrupted.store(false, Ordering::SeqCst);
        let padded;
        let code = if first_line > 1 {
            padded = format!("{}{text}", "\n".repeat(first_line - 1));
            padded.as_str()
        } else {
            text
        };
        let mut ast = self
            .engine
            .compile_with_scope(&self.scope, code)
            .map_err(|e| engine::script_error(&EvalAltResult::from(e), name, &self.sources, &[]))?;
        ast.set_source(name);
        for f in ast.iter_functions() {
            self.fn_origin.insert(f.name.to_string(), name.to_string());
        }
        let imports = top_level_imports(&ast);
        let run = self.fns.merge(&ast);
        self.fns = run.clone_functions_only();
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &run);
        self.host.interrupted.store(false, Ordering::SeqCst);
        // What the input recorded (state, keys) reaches the disk now.
        if let Err(e) = crate::durable::sync() {
            eprintln!("warning: cannot flush files to disk: {e}");
        }
        match result {
            Ok(v) => {
                self.keep_imports(&imports);
                Ok(v)
            }
            Err(mut e) => {
                self.relabel(&mut e);
                Err(engine::script_error(&e, name, &self.sources, &self.known))
            }
        }
    }

    /// Evaluates a file in the session (`:load`): its variables and
    /// functions stay.
    pub fn load(&mut self, path: &str) -> Result<Dynamic> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("cannot read {path}: {e}")))?;
        self.sources.insert(path, &text);
        self.eval(path, &text, 1)
    }

    /// Runs a runbook as `groundup run` does: its own scope, this session's
    /// host and state.  Returns a one-line summary.
    pub fn run_runbook(&mut self, arg: &str) -> Result<String> {
        let (name, text) = commands::resolve_runbook(arg)?;
        let events = self.host.events().len();
        let planned = self.host.plan.as_ref().map(|p| p.ops().len()).unwrap_or(0);
        self.host.interrupted.store(false, Ordering::SeqCst);
        let mut scope = engine::new_scope(&self.host.settings);
        let result = engine::run(&self.engine, &mut scope, &name, &text, &self.sources);
        self.host.interrupted.store(false, Ordering::SeqCst);
        let _ = result?;
        if let Some(plan) = &self.host.plan {
            let n = plan.ops().len().saturating_sub(planned);
            return Ok(format!(
                "{name}: {n} AWS operation(s) would be made (`:plan` lists them)"
            ));
        }
        let new: Vec<_> = self.host.events().into_iter().skip(events).collect();
        let created = new
            .iter()
            .filter(|e| e.status == crate::outcome::Outcome::Created)
            .count();
        let reused = new
            .iter()
            .filter(|e| e.status == crate::outcome::Outcome::Reused)
            .count();
        Ok(format!("{name}: {created} created, {reused} reused"))
    }

    /// Turns plan mode on or off: a new host and engine with the same
    /// settings; the scope and functions stay.  Recorded operations are
    /// dropped.
    pub fn set_plan(&mut self, on: bool) -> Result<()> {
        let mut g = self.g.clone();
        g.plan = on;
        let settings = self.host.settings.clone();
        let new = commands::make_host(&g, settings.clone(), false)?;
        // The old host (and its lock) goes first; then the new one, outside
        // plan mode, takes the lock.
        self.engine = Engine::new_raw();
        drop(std::mem::replace(&mut self.host, new));
        if !on {
            let cluster = self.host.cluster.clone();
            let locked = self.host.state().lock(&cluster);
            if let Err(e) = locked {
                // Stay safe: back to plan mode.
                let mut back = self.g.clone();
                back.plan = true;
                self.host = commands::make_host(&back, settings, false)?;
                watch_ctrl_c(&self.host);
                self.g = back;
                self.rebuild_engine();
                return Err(e);
            }
        }
        watch_ctrl_c(&self.host);
        self.g = g;
        self.rebuild_engine();
        Ok(())
    }

    /// Forgets every variable, function and import.
    pub fn reset(&mut self) {
        self.scope = engine::new_scope(&self.host.settings);
        self.fns = AST::empty();
        self.fn_origin.clear();
        self.imports.clear();
        self.rebuild_engine();
    }

    /// A value as the REPL prints it: its type's `to_string`.
    pub fn show(&self, v: &Dynamic) -> String {
        self.engine
            .call_fn::<String>(&mut Scope::new(), &self.show, "show", (v.clone(),))
            .unwrap_or_else(|_| v.to_string())
    }

    /// Variables in scope: name, type, whether constant, value as shown.
    pub fn vars(&self) -> Vec<(String, String, bool, String)> {
        // Newest first: a shadowed variable shows its latest value.
        let mut out: Vec<(String, String, bool, String)> = Vec::new();
        for (name, constant, v) in self.scope.iter_raw() {
            if out.iter().any(|(n, ..)| n == name) {
                continue;
            }
            out.push((name.to_string(), self.type_of(v), constant, self.show(v)));
        }
        out.reverse();
        out
    }

    fn type_of(&self, v: &Dynamic) -> String {
        script_type(self.engine.map_type_name(v.type_name()))
    }

    /// Functions defined in this session: name and `name(a, b)`.
    pub fn script_fns(&self) -> Vec<(String, String)> {
        self.fns
            .iter_functions()
            .filter(|f| !f.name.starts_with("anon$"))
            .map(|f| {
                (
                    f.name.to_string(),
                    format!("{}({})", f.name, f.params.join(", ")),
                )
            })
            .collect()
    }

    /// What completion and hints know right now.
    pub fn catalog(&self) -> Catalog {
        let mut vars: Vec<Var> = Vec::new();
        for (name, _, v) in self.scope.iter_raw() {
            if vars.iter().any(|x| x.name == name) {
                continue;
            }
            let keys = v
                .read_lock::<rhai::Map>()
                .map(|m| m.keys().map(|k| k.to_string()).collect())
                .unwrap_or_default();
            vars.push(Var {
                name: name.to_string(),
                type_name: self.type_of(v),
                keys,
            });
        }
        Catalog {
            api: self.api.clone(),
            vars,
            script_fns: self.script_fns(),
            state_keys: self.host.state().all().keys().cloned().collect(),
            settings: self.host.settings.iter().map(|s| s.key.clone()).collect(),
        }
    }

    /// Points errors inside session functions at the input that defined
    /// them (Rhai reports the calling input).
    fn relabel(&self, err: &mut EvalAltResult) {
        let mut e = err;
        loop {
            match e {
                EvalAltResult::ErrorInFunctionCall(name, src, inner, _) => {
                    if let Some(origin) = self.fn_origin.get(name.as_str()) {
                        *src = origin.clone();
                    }
                    e = inner.as_mut();
                }
                EvalAltResult::ErrorInModule(_, inner, _) => e = inner.as_mut(),
                _ => break,
            }
        }
    }

    /// Makes `import "x" as y;` of a finished input last for the session.
    fn keep_imports(&mut self, imports: &[(String, String)]) {
        if imports.is_empty() {
            return;
        }
        for (path, alias) in imports {
            let resolved =
                self.engine
                    .module_resolver()
                    .resolve(&self.engine, None, path, Position::NONE);
            if let Ok(module) = resolved {
                self.imports.retain(|(a, _)| a != alias);
                self.imports.push((alias.clone(), module));
            }
        }
        self.rebuild_engine();
    }
}

/// `(path, alias)` of every top-level `import "path" as alias;`.
fn top_level_imports(ast: &AST) -> Vec<(String, String)> {
    ast.statements()
        .iter()
        .filter_map(|s| match s {
            Stmt::Import(x, _) => {
                let (expr, alias) = x.as_ref();
                let path = expr.get_literal_value(None)?.into_immutable_string().ok()?;
                (!alias.name.is_empty()).then(|| (path.to_string(), alias.name.to_string()))
            }
            _ => None,
        })
        .collect()
}
