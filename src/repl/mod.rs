//! `groundup repl`: explore AWS, the network math and the PKI one input at
//! a time, with the engine, settings and state `groundup run` uses.
//!
//! On a terminal it is a rustyline editor with completion, signature hints,
//! multi-line input and history (in the user's state directory, never with
//! a line that looks like key material).  With stdin not a terminal
//! (`echo 'cidr::host("172.31.0.0/24", 10)' | groundup repl`) it evaluates
//! the input line by line, prints each value on stdout and each error on
//! stderr, and fails (exit 2) if any input failed.

pub mod catalog;
pub mod helper;
pub mod meta;
pub mod session;
pub mod syntax;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Editor, Helper};

use crate::cli::Global;
use crate::error::{Error, Kind, Result, render_with};
use helper::ReplHelper;
use meta::Flow;
use session::Session;

/// Lines containing any of these (case-insensitively) never go into the
/// history file.
const SECRET_MARKERS: &[&str] = &[
    "-----begin",
    "private key",
    "private_key",
    "key_pem",
    "secret",
    "aws_secret_access_key",
    "password",
];

/// Whether a line looks like it holds key material or a secret.
pub fn looks_secret(line: &str) -> bool {
    let l = line.to_lowercase();
    SECRET_MARKERS.iter().any(|m| l.contains(m))
}

/// The history file: `$XDG_STATE_HOME/groundup/history` (else the local
/// data directory).
pub fn history_file() -> Option<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("groundup").join("history"))
}

/// `groundup repl`.
pub fn cmd_repl(g: &Global) -> Result<()> {
    if std::io::stdin().is_terminal() {
        // The editor first: rustyline takes over SIGINT when it is made, and
        // the session's Ctrl-C watcher must register after it (it then runs
        // first and chains to rustyline's handler).
        let rl = editor()?;
        let mut session = Session::new(g)?;
        interactive(&mut session, rl)
    } else {
        let mut session = Session::new(g)?;
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::io("cannot read standard input", e))?;
        piped(&mut session, &text)
    }
}

fn stderr_color() -> bool {
    crate::style::Paint::stderr().enabled()
}

/// Runs one input: a meta-command or Rhai; prints a non-unit value.
fn step(session: &mut Session, name: &str, text: &str, first_line: usize) -> Result<Flow> {
    if text.trim_start().starts_with(':') {
        return meta::run(session, text);
    }
    let v = session.eval(name, text, first_line)?;
    if !v.is_unit() {
        println!("{}", session.show(&v));
    }
    Ok(Flow::Continue)
}

/// Adds a line to the history and the history file, unless it looks
/// secret.
fn remember<H: Helper>(rl: &mut Editor<H, FileHistory>, file: Option<&Path>, line: &str) {
    if looks_secret(line) {
        return;
    }
    if matches!(rl.add_history_entry(line), Ok(true))
        && let Some(f) = file
    {
        // History is a convenience: a failure to write it is not fatal.
        let _ = rl.append_history(f);
    }
}

/// The line editor: list completion (bash-like), history without
/// duplicates or lines that start with a space.
fn editor() -> Result<Editor<ReplHelper, FileHistory>> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .history_ignore_space(true)
        .auto_add_history(false);
    let config = config
        .max_history_size(5000)
        .and_then(|c| c.history_ignore_dups(true))
        .map(|c| c.build())
        .map_err(|e| Error::io("cannot set up the line editor", e))?;
    Editor::with_config(config).map_err(|e| Error::io("cannot set up the line editor", e))
}

fn interactive(session: &mut Session, mut rl: Editor<ReplHelper, FileHistory>) -> Result<()> {
    let color = stderr_color();
    let hint_color = crate::style::Paint::stdout().enabled();
    rl.set_helper(Some(ReplHelper::new(session.catalog(), hint_color)));
    let history = history_file();
    if let Some(file) = &history {
        if let Some(dir) = file.parent() {
            let _ = crate::state::create_private_dir(dir);
        }
        if file.exists() {
            let _ = rl.load_history(file);
        }
    }
    let host = session.host();
    println!(
        "groundup repl: cluster {} in {}{} — `:help` for help, Tab completes, Ctrl-D leaves.",
        host.cluster,
        host.region,
        if host.planning() { " (plan mode)" } else { "" }
    );
    loop {
        if let Some(h) = rl.helper_mut() {
            h.catalog = session.catalog();
        }
        let prompt = if session.planning() {
            "groundup (plan)> "
        } else {
            "groundup> "
        };
        match rl.readline(prompt) {
            Ok(input) => {
                if input.trim().is_empty() {
                    continue;
                }
                remember(&mut rl, history.as_deref(), &input);
                let name = session.next_name();
                session.sources.insert(&name, &input);
                match step(session, &name, &input, 1) {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(e) => eprint!("{}", render_with(&e, color)),
                }
            }
            // Ctrl-C at the prompt clears the line (a Ctrl-C left over from
            // an evaluation may surface as a signal: the same).
            Err(ReadlineError::Interrupted | ReadlineError::Signal(_)) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::io("cannot read the terminal", e)),
        }
    }
    Ok(())
}

/// Splits piped input into inputs: one per line, or several lines while a
/// bracket (or back-tick string, or block comment) is open.  Each input
/// comes with the line it starts on.
pub fn split_inputs(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut chunk = String::new();
    let mut first = 1;
    for (i, line) in text.lines().enumerate() {
        if chunk.is_empty() {
            if line.trim().is_empty() {
                continue;
            }
            first = i + 1;
        }
        chunk.push_str(line);
        chunk.push('\n');
        if !syntax::needs_more(&chunk) {
            out.push((first, std::mem::take(&mut chunk)));
        }
    }
    if !chunk.trim().is_empty() {
        out.push((first, chunk));
    }
    out
}

fn piped(session: &mut Session, text: &str) -> Result<()> {
    const NAME: &str = "<stdin>";
    session.sources.insert(NAME, text);
    let color = stderr_color();
    let inputs = split_inputs(text);
    let mut failed = 0;
    for (line, input) in &inputs {
        match step(session, NAME, input, *line) {
            Ok(Flow::Quit) => break,
            Ok(Flow::Continue) => {}
            Err(e) if e.kind == Kind::Interrupted => return Err(e),
            Err(e) => {
                failed += 1;
                eprint!("{}", render_with(&e, color));
            }
        }
    }
    if failed > 0 {
        return Err(Error::script(format!(
            "{failed} of {} input(s) failed",
            inputs.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_history() {
        assert!(looks_secret("let k = \"-----BEGIN RSA PRIVATE KEY-----\";"));
        assert!(looks_secret("pki::write(ca.key_pem)"));
        assert!(looks_secret("let AWS_SECRET_ACCESS_KEY = 1"));
        assert!(looks_secret("x.private_key"));
        assert!(!looks_secret("cidr::host(\"172.31.0.0/24\", 10)"));
    }

    #[test]
    fn piped_input_splits_on_complete_lines() {
        let text = "let a = 1;\n\nfn f(x) {\n  x + a\n}\nf(2)\n:state\nlet b = [1,\n";
        assert_eq!(
            split_inputs(text),
            vec![
                (1, "let a = 1;\n".to_string()),
                (3, "fn f(x) {\n  x + a\n}\n".to_string()),
                (6, "f(2)\n".to_string()),
                (7, ":state\n".to_string()),
                (8, "let b = [1,\n".to_string()),
            ]
        );
    }
}
