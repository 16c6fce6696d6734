//! The one place the Rhai engine is built: sandbox limits, strict
//! variables, no `eval`, the stdlib module resolver, the typed custom types
//! and every host namespace.  Also turns Rhai errors into [`Error`]s with
//! `file:line:col`, the source line and a caret.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rhai::module_resolvers::ModuleResolver;
use rhai::{AST, Dynamic, Engine, EvalAltResult, Module, Position, Scope, Shared};

type SharedModule = Shared<Module>;

use crate::catalog::{self, FileKind};
use crate::error::{Error, Kind, Location, Result};
use crate::host::Host;
pub use crate::names::{not_a_module_name, suggest};

/// Most operations one script may run before it is stopped.
pub const MAX_OPERATIONS: u64 = 20_000_000;
/// Deepest function-call nesting.
pub const MAX_CALL_LEVELS: usize = 64;

/// The text of every file the engine has loaded, by display name, so errors
/// can show the source line.
#[derive(Debug, Default)]
pub struct Sources {
    map: Mutex<HashMap<String, Arc<str>>>,
}

impl Sources {
    /// Remembers a file's text.
    pub fn insert(&self, name: &str, text: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(name.to_string(), Arc::from(text));
        }
    }
    /// A file's text.
    pub fn get(&self, name: &str) -> Option<Arc<str>> {
        self.map.lock().ok().and_then(|m| m.get(name).cloned())
    }
}

/// Where `import "x"` looks: `./stdlib/x.rhai` (the user's editable copy),
/// then the stdlib compiled into the binary.  `import "cluster"` is the
/// settings module with `--set` overrides applied.
pub struct Resolver {
    settings: SharedModule,
    dirs: Vec<PathBuf>,
    sources: Arc<Sources>,
}

impl Resolver {
    /// Finds a stdlib module's display name and text.
    pub fn find(dirs: &[PathBuf], name: &str) -> Option<(String, String)> {
        let dir = dirs.first().map(|d| (d.as_path(), d.display().to_string()));
        let dir = dir.as_ref().map(|(d, shown)| (*d, shown.as_str()));
        catalog::lookup_in(dir, FileKind::Stdlib, name).map(|e| (e.display, e.text))
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> std::result::Result<SharedModule, Box<EvalAltResult>> {
        if path == "cluster" {
            return Ok(self.settings.clone());
        }
        // Module names are plain names: no paths, so an import can never
        // read a file outside stdlib/.
        if let Some(why) = not_a_module_name(path) {
            return Err(EvalAltResult::ErrorInModule(
                path.to_string(),
                EvalAltResult::ErrorRuntime(why.into(), pos).into(),
                pos,
            )
            .into());
        }
        let Some((name, text)) = Self::find(&self.dirs, path) else {
            return Err(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos).into());
        };
        self.sources.insert(&name, &text);
        let mut ast = engine
            .compile(&text)
            .map_err(|e| EvalAltResult::ErrorInModule(name.clone(), e.into(), pos))?;
        ast.set_source(name.as_str());
        let m = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| EvalAltResult::ErrorInModule(name.clone(), e, pos))?;
        Ok(m.into())
    }
}

/// The stdlib search path for a project directory.
pub fn stdlib_dirs(project_dir: &Path) -> Vec<PathBuf> {
    let d = project_dir.join("stdlib");
    if !d.is_dir() {
        return vec![];
    }
    // Shown relative to the current directory when it is the project's.
    let cwd = std::env::current_dir().unwrap_or_default();
    if project_dir == cwd {
        vec![PathBuf::from("stdlib")]
    } else {
        vec![d]
    }
}

/// Applies the sandbox limits to an engine.
pub fn sandbox(engine: &mut Engine) {
    engine.set_strict_variables(true);
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_string_size(16 * 1024 * 1024);
    engine.set_max_array_size(100_000);
    engine.set_max_map_size(100_000);
    engine.set_max_modules(64);
    engine.disable_symbol("eval");
}

/// A new engine with Rhai's standard library, like `Engine::new()`, but the
/// standard package is built once per process and shared (building it is a
/// noticeable part of start-up, and a command builds two engines: one for
/// the settings, one for the runbooks). No module resolver: the caller sets
/// one when scripts may `import`.
fn new_engine() -> Engine {
    use rhai::packages::{Package, StandardPackage};
    static STD: std::sync::OnceLock<rhai::Shared<Module>> = std::sync::OnceLock::new();
    let mut e = Engine::new_raw();
    e.register_global_module(
        STD.get_or_init(|| StandardPackage::new().as_shared_module())
            .clone(),
    );
    e.set_max_strings_interned(256);
    e.on_print(|s| println!("{s}"));
    e.on_debug(|s, source, pos| match source {
        Some(source) => println!("{source} @ {pos:?} | {s}"),
        None => println!("{pos:?} | {s}"),
    });
    e
}

/// A plain sandboxed engine (for the settings file).
pub fn plain_engine() -> Engine {
    let mut e = new_engine();
    sandbox(&mut e);
    e
}

/// Builds the engine for a host: sandbox, resolver, types, namespaces.
pub fn build(host: Arc<Host>, project_dir: &Path, sources: Arc<Sources>) -> Engine {
    let mut engine = new_engine();
    sandbox(&mut engine);
    engine.set_module_resolver(Resolver {
        settings: host.settings.to_module().into(),
        dirs: stdlib_dirs(project_dir),
        sources,
    });
    crate::api::register_all(&mut engine);
    let flag = host.interrupted.clone();
    engine.on_progress(move |_| {
        if flag.load(Ordering::SeqCst) {
            Some(Dynamic::from("interrupted"))
        } else {
            None
        }
    });
    if host.output.json {
        // Keep stdout for JSON: script prints go to stderr.
        engine.on_print(|s| eprintln!("{s}"));
    }
    engine.set_default_tag(Dynamic::from(host));
    engine
}

/// An engine without a host, for stdlib functions that compute from the
/// settings alone (the node layout, `nodes::planned`): the sandbox, the
/// stdlib resolver (`import "cluster"` is `settings`) and every namespace;
/// a call that needs the host fails saying it is not available.
pub fn offline(
    settings: &crate::settings::Settings,
    project_dir: &Path,
    sources: Arc<Sources>,
) -> Engine {
    let mut engine = new_engine();
    sandbox(&mut engine);
    engine.set_module_resolver(Resolver {
        settings: settings.to_module().into(),
        dirs: stdlib_dirs(project_dir),
        sources,
    });
    crate::api::register_all(&mut engine);
    engine
}

/// Every host function's qualified name (`ec2::create_vpc`), for "did you
/// mean" suggestions.
pub fn known_functions(engine: &Engine) -> Vec<String> {
    engine
        .gen_fn_signatures(false)
        .into_iter()
        .filter_map(|s| s.split('(').next().map(|n| n.trim().to_string()))
        .collect()
}

fn strip_position(e: &EvalAltResult) -> String {
    let text = e.to_string();
    match text.rfind(" (line ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

/// Turns a Rhai error into a diagnostic. `main` is the display name of the
/// file that was run; errors inside stdlib modules or script functions point
/// at their own file, with the calling lines as notes.
pub fn script_error(err: &EvalAltResult, main: &str, sources: &Sources, known: &[String]) -> Error {
    let mut current = main.to_string();
    let mut frames: Vec<(String, Position, String)> = Vec::new();
    let mut e = err;
    loop {
        match e {
            EvalAltResult::ErrorInFunctionCall(name, src, inner, pos) => {
                let what = if name.starts_with("anon$") {
                    "in a closure".to_string()
                } else {
                    format!("in a call to {name}")
                };
                frames.push((current.clone(), *pos, what));
                if !src.is_empty() {
                    current = src.clone();
                }
                e = inner;
            }
            EvalAltResult::ErrorInModule(name, inner, pos) => {
                frames.push((current.clone(), *pos, format!("importing {name}")));
                current = name.clone();
                e = inner;
            }
            _ => break,
        }
    }
    let pos = e.position();
    let mut out = match e {
        EvalAltResult::ErrorRuntime(d, _) if d.is::<Error>() => d.clone_cast::<Error>(),
        EvalAltResult::ErrorRuntime(d, _) => Error::script(d.to_string()),
        EvalAltResult::ErrorTerminated(..) => Error::new(Kind::Interrupted, "interrupted"),
        EvalAltResult::ErrorTooManyOperations(_) => Error::script(format!(
            "the script was stopped after {MAX_OPERATIONS} operations (a runaway loop?)"
        ))
        .with_help(
            "runbooks should finish well within this limit; look for a loop that never ends",
        ),
        EvalAltResult::ErrorStackOverflow(_) => Error::script(format!(
            "the script was stopped: function calls nested deeper than {MAX_CALL_LEVELS} levels (runaway recursion?)"
        )),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => {
            let name = sig.split(" (").next().unwrap_or(sig).trim().to_string();
            let mut x = Error::script(format!("unknown function or wrong argument types: {sig}"));
            if let Some(s) = suggest(&name, known).filter(|s| *s != name) {
                x = x.with_help(format!(
                    "did you mean `{s}`? (`groundup fns` lists every host function)"
                ));
            } else if known.contains(&name) {
                x = x.with_help(format!(
                    "`{name}` exists but takes other arguments: see `groundup fns` for its signature"
                ));
            }
            x
        }
        EvalAltResult::ErrorModuleNotFound(name, _) => Error::script(format!(
            "module `{name}` not found: looked in ./stdlib/{name}.rhai and groundup's built-in stdlib"
        )),
        other => Error::script(strip_position(other)),
    };
    if !pos.is_none() {
        if let (Some(text), Some(line)) = (sources.get(&current), pos.line()) {
            out = out.at(Location {
                name: current.clone(),
                text,
                line,
                col: pos.position().unwrap_or(1).max(1),
            });
        } else if let Some(line) = pos.line() {
            out = out.with_note(format!(
                "at {current}:{line}:{}",
                pos.position().unwrap_or(1)
            ));
        }
    }
    for (file, p, what) in frames.iter().rev() {
        if let Some(line) = p.line() {
            out = out.with_note(format!(
                "{what}, called from {file}:{line}:{}",
                p.position().unwrap_or(1)
            ));
        }
    }
    out
}

/// A new scope holding the constant `cluster`: every setting as a map, so
/// runbooks read `cluster.vpc_cidr`.
pub fn new_scope(settings: &crate::settings::Settings) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant("cluster", settings.to_map());
    scope
}

/// Compiles a script against a scope (for `groundup check`, runs and tests).
///
/// The scope's constants are compiled as plain variables: Rhai would
/// otherwise fold every `cluster.<key>` into its value at compile time (a
/// misspelt key into `()`), and the pre-flight ([`crate::preflight`]) could
/// no longer see which settings a runbook reads. Running the AST in the
/// scope with its constants behaves the same.
pub fn compile(
    engine: &Engine,
    scope: &Scope,
    name: &str,
    text: &str,
    sources: &Sources,
) -> Result<AST> {
    sources.insert(name, text);
    let mut names = Scope::new();
    for (var, _, _) in scope.iter_raw() {
        names.push_dynamic(var, Dynamic::UNIT);
    }
    let mut ast = engine.compile_with_scope(&names, text).map_err(|e| {
        if let rhai::ParseErrorType::ModuleUndefined(root) = e.err_type()
            && let Some(line) = e.position().line()
        {
            let loc = Location {
                name: name.to_string(),
                text: Arc::from(text),
                line,
                col: e.position().position().unwrap_or(1).max(1),
            };
            return crate::preflight::undefined_namespace(engine, root, e.position(), loc);
        }
        script_error(&EvalAltResult::from(e), name, sources, &[])
    })?;
    ast.set_source(name);
    Ok(ast)
}

/// Runs a script in a scope, mapping errors.
pub fn run(
    engine: &Engine,
    scope: &mut Scope,
    name: &str,
    text: &str,
    sources: &Sources,
) -> Result<Dynamic> {
    let ast = compile(engine, scope, name, text, sources)?;
    eval(engine, scope, name, &ast, sources)
}

/// Runs a compiled script in a scope, mapping errors (the host function
/// names for "did you mean" are only listed when there is an error).
pub fn eval(
    engine: &Engine,
    scope: &mut Scope,
    name: &str,
    ast: &AST,
    sources: &Sources,
) -> Result<Dynamic> {
    engine
        .eval_ast_with_scope::<Dynamic>(scope, ast)
        .map_err(|e| script_error(&e, name, sources, &known_functions(engine)))
}
