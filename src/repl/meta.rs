//! The REPL's meta-commands (`:help`, `:fns`, `:state`, `:plan`, …).
//! Everything they print goes to stdout; failures are returned as
//! [`Error`]s and never end the session.

use super::session::Session;
use crate::commands::settings_lines;
use crate::docs::FnDoc;
use crate::error::{Error, Result};

/// Every meta-command: name, arguments, what it does.
pub const META: &[(&str, &str, &str)] = &[
    (
        ":help",
        "[name]",
        "this overview; with a name, a function's signature and documentation, a namespace's functions, a type's properties or a setting",
    ),
    (
        ":fns",
        "[namespace]",
        "list the host functions with their signatures",
    ),
    (
        ":vars",
        "",
        "the variables in scope with their types and values",
    ),
    (
        ":state",
        "",
        "what the cluster's state.json records (IDs and outputs)",
    ),
    (
        ":settings",
        "",
        "every cluster setting with its value and where it came from",
    ),
    (
        ":run",
        "<runbook>",
        "run a runbook as `groundup run` does (its own scope, this session's state)",
    ),
    (
        ":load",
        "<file.rhai>",
        "evaluate a file in this session: its variables and functions stay",
    ),
    (
        ":plan",
        "[on|off]",
        "plan mode: AWS changes are recorded, not made; alone, lists what was recorded",
    ),
    (":reset", "", "forget every variable, function and import"),
    (":quit", "", "leave the REPL (Ctrl-D too)"),
];

/// What the loop does after an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next input.
    Continue,
    /// Leave the REPL.
    Quit,
}

/// Runs one meta-command line (it starts with `:`).
pub fn run(session: &mut Session, line: &str) -> Result<Flow> {
    let line = line.trim();
    let (cmd, arg) = match line.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (line, ""),
    };
    match cmd {
        ":help" | ":h" | ":?" => help(session, arg)?,
        ":fns" => fns(session, arg)?,
        ":vars" => vars(session),
        ":state" => state(session),
        ":settings" => {
            for l in settings_lines(&session.host().settings, true) {
                println!("{l}");
            }
        }
        ":run" => {
            let arg = required(cmd, arg, "a runbook name or file, e.g. `:run network`")?;
            let summary = session.run_runbook(arg)?;
            println!("{summary}");
        }
        ":load" => {
            let arg = required(cmd, arg, "a file, e.g. `:load scratch.rhai`")?;
            let v = session.load(arg)?;
            if !v.is_unit() {
                println!("{}", session.show(&v));
            }
        }
        ":plan" => plan(session, arg)?,
        ":reset" => {
            session.reset();
            println!("forgot every variable, function and import (`cluster` is still there)");
        }
        ":quit" | ":q" | ":exit" => return Ok(Flow::Quit),
        other => {
            let names: Vec<&str> = META.iter().map(|(n, _, _)| *n).collect();
            let mut e = Error::usage(format!("unknown meta-command `{other}`"));
            let best = names
                .iter()
                .map(|n| (strsim::jaro_winkler(other, n), *n))
                .filter(|(s, _)| *s > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            e = match best {
                Some((_, n)) => {
                    e.with_help(format!("did you mean `{n}`? (`:help` lists them all)"))
                }
                None => e.with_help(format!("meta-commands: {}", names.join(", "))),
            };
            return Err(e);
        }
    }
    Ok(Flow::Continue)
}

fn required<'a>(cmd: &str, arg: &'a str, what: &str) -> Result<&'a str> {
    if arg.is_empty() {
        Err(Error::usage(format!("{cmd} needs {what}")))
    } else {
        Ok(arg)
    }
}

fn first_line(doc: &str) -> &str {
    doc.lines().next().unwrap_or_default()
}

fn print_fn(f: &FnDoc) {
    println!("{}", f.signature);
    for l in f.doc.lines() {
        println!("    {l}");
    }
}

fn overview(session: &Session) {
    let api = session.api();
    let host = session.host();
    println!("groundup repl: type Rhai, one input at a time; variables and functions stay.");
    println!(
        "Cluster {} in {}{}. Settings are in `cluster` (e.g. cluster.vpc_cidr).",
        host.cluster,
        host.region,
        if host.planning() {
            ", plan mode (AWS changes are recorded, not made)"
        } else {
            ""
        }
    );
    println!();
    println!("Namespaces (Tab completes; `:help <namespace>` lists one):");
    for ns in &api.namespaces {
        let fns = api.in_namespace(ns);
        let names: Vec<&str> = fns.iter().map(|f| f.name.as_str()).collect();
        println!("  {:<10} {}", format!("{ns}::"), names.join(", "));
    }
    let globals: Vec<&str> = api
        .in_namespace("")
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    if !globals.is_empty() {
        println!("  {:<10} {}", "(global)", globals.join(", "));
    }
    let types = &api.types;
    if !types.is_empty() {
        println!("Types (`:help Vpc` lists properties): {}", types.join(", "));
    }
    println!();
    println!("Meta-commands:");
    for (name, args, what) in META {
        println!("  {:<22} {what}", format!("{name} {args}"));
    }
    println!();
    println!(
        "Keys: Tab completes (namespaces, functions, variables, `cluster.` settings, properties after `x.`);"
    );
    println!("  → accepts a hint; an open bracket continues the input on the next line;");
    println!("  Ctrl-C cancels a running call or clears the line; Ctrl-D leaves.");
    println!("History is kept in your state directory, without lines that look like key material.");
}

fn help(session: &Session, arg: &str) -> Result<()> {
    if arg.is_empty() {
        overview(session);
        return Ok(());
    }
    let api = session.api();
    // A meta-command.
    if arg.starts_with(':')
        && let Some((name, args, what)) = META.iter().find(|(n, _, _)| *n == arg)
    {
        println!("{name} {args}\n    {what}");
        return Ok(());
    }
    // A function, qualified or not.
    let exact = api.lookup(arg);
    if !exact.is_empty() {
        for f in exact {
            print_fn(f);
        }
        return Ok(());
    }
    // A namespace.
    let ns = arg.trim_end_matches("::");
    if api.namespaces.iter().any(|n| n == ns) {
        let fns = api.in_namespace(ns);
        println!("{ns}:: ({} functions)", fns.len());
        for f in fns {
            println!("  {}", f.signature);
            let d = first_line(&f.doc);
            if !d.is_empty() {
                println!("      {d}");
            }
        }
        return Ok(());
    }
    // A setting.
    let key = arg.strip_prefix("cluster.").unwrap_or(arg);
    if let Some(s) = session.host().settings.iter().find(|s| s.key == key) {
        let v = if s.value.is_string() {
            format!("{:?}", s.value.to_string())
        } else {
            s.value.to_string()
        };
        println!("cluster.{} = {v}  [{}]", s.key, s.origin);
        if !s.doc.is_empty() {
            println!("    {}", s.doc);
        }
        return Ok(());
    }
    // A type.
    let members = api.members_of(arg);
    if !members.is_empty() {
        let type_name = &members[0].type_name;
        println!("{type_name}: properties and methods");
        for m in members {
            let call = if m.getter {
                format!(".{}", m.name)
            } else {
                format!(".{}()", m.name)
            };
            let d = first_line(&m.doc);
            let line = format!("  {:<24} -> {:<10} {d}", call, m.returns);
            println!("{}", line.trim_end());
        }
        return Ok(());
    }
    // A function name without its namespace.
    let short: Vec<&FnDoc> = api.functions.iter().filter(|f| f.name == arg).collect();
    if !short.is_empty() {
        for f in short {
            print_fn(f);
        }
        return Ok(());
    }
    // A function defined in this session.
    let mine: Vec<(String, String)> = session
        .script_fns()
        .into_iter()
        .filter(|(n, _)| n == arg)
        .collect();
    if !mine.is_empty() {
        for (_, sig) in mine {
            println!("{sig}    (defined in this session)");
        }
        return Ok(());
    }
    let mut names: Vec<String> = api
        .functions
        .iter()
        .map(|f| {
            if f.namespace.is_empty() {
                f.name.clone()
            } else {
                format!("{}::{}", f.namespace, f.name)
            }
        })
        .collect();
    names.extend(api.namespaces.iter().cloned());
    names.extend(api.types.iter().cloned());
    names.extend(session.host().settings.iter().map(|s| s.key.clone()));
    let best = names
        .iter()
        .map(|n| (strsim::jaro_winkler(arg, n), n))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let e = Error::usage(format!("no help for `{arg}`"));
    Err(match best {
        Some((_, n)) => e.with_help(format!("did you mean `{n}`?")),
        None => e.with_help(
            "try a function (ec2::create_vpc), a namespace (ec2), a type (Vpc) or a setting (vpc_cidr)",
        ),
    })
}

fn fns(session: &Session, ns: &str) -> Result<()> {
    let api = session.api();
    let ns = ns.trim_end_matches("::");
    let shown: Vec<&FnDoc> = api
        .functions
        .iter()
        .filter(|f| ns.is_empty() || f.namespace == ns)
        .collect();
    if shown.is_empty() {
        return Err(Error::usage(format!("no namespace `{ns}`"))
            .with_help(format!("namespaces: {}", api.namespaces.join(", "))));
    }
    for f in shown {
        println!("{}", f.signature);
        let d = first_line(&f.doc);
        if !d.is_empty() {
            println!("    {d}");
        }
    }
    if ns.is_empty() {
        let mine = session.script_fns();
        if !mine.is_empty() {
            println!("defined in this session:");
            for (_, sig) in mine {
                println!("{sig}");
            }
        }
    }
    Ok(())
}

fn vars(session: &Session) {
    for (name, type_name, constant, value) in session.vars() {
        let mut v = value.replace('\n', " ");
        if v.chars().count() > 100 {
            v = v.chars().take(99).collect::<String>() + "…";
        }
        let kind = if constant { "const " } else { "" };
        println!("{kind}{name}: {type_name} = {v}");
    }
}

fn state(session: &Session) {
    let host = session.host();
    let st = host.state();
    let where_ = if host.planning() {
        format!("{}, plan mode: nothing is written", st.path().display())
    } else {
        st.path().display().to_string()
    };
    if st.all().is_empty() {
        println!("state of {} is empty ({where_})", host.cluster);
        return;
    }
    println!("state of {} ({where_}):", host.cluster);
    for (k, v) in st.all() {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("  {k:<26} = {text}");
    }
}

fn plan(session: &mut Session, arg: &str) -> Result<()> {
    match arg {
        "on" => {
            session.set_plan(true)?;
            println!("plan mode on: AWS changes are recorded, not made (`:plan` lists them)");
        }
        "off" => {
            session.set_plan(false)?;
            println!("plan mode off: calls make real AWS changes");
        }
        "" => match &session.host().plan {
            None => println!("plan mode is off (`:plan on` turns it on)"),
            Some(p) => {
                let ops = p.ops();
                println!("plan mode is on; {} AWS operation(s) recorded:", ops.len());
                for (i, op) in ops.iter().enumerate() {
                    let id = if op.id.is_empty() {
                        String::new()
                    } else {
                        format!(" -> {}", op.id)
                    };
                    println!("{:>3}. {}{id} {}", i + 1, op.operation, op.params);
                }
            }
        },
        other => {
            return Err(Error::usage(format!(
                "`:plan {other}`: say `:plan on`, `:plan off` or `:plan`"
            )));
        }
    }
    Ok(())
}
