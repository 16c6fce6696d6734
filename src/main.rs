//! The `groundup` binary: parses the command line, runs the command, prints
//! errors as diagnostics and exits with the documented code.

use std::process::ExitCode;

use clap::Parser;

use groundup::cli::{Cli, Command, PkiCommand};
use groundup::commands;
use groundup::error::{Error, render_with};

/// Whether a command talks to AWS (and so, under `--local`, needs the emulator).
fn needs_aws(c: &Command) -> bool {
    matches!(
        c,
        Command::Run { .. }
            | Command::Up
            | Command::Down { .. }
            | Command::Repl
            | Command::Doctor
            | Command::Status { refresh: true }
    )
}

fn run(mut cli: Cli) -> Result<(), Error> {
    groundup::local::prepare(&mut cli.global, needs_aws(&cli.command))?;
    let g = &cli.global;
    match &cli.command {
        Command::Run { runbooks } => {
            let host = commands::run_runbooks(g, runbooks)?;
            commands::finish(g, &host)
        }
        Command::Up => {
            let sources = groundup::engine::Sources::default();
            let settings = commands::load_settings(g, &sources)?;
            let steps = settings.list("steps");
            commands::run_runbooks(g, &steps).and_then(|h| commands::finish(g, &h))
        }
        Command::Settings { markdown: false } => commands::cmd_settings(g),
        Command::Settings { markdown: true } => groundup::docgen::cmd_settings_markdown(g),
        Command::Check { files } => commands::cmd_check(g, files),
        Command::Pki {
            command: PkiCommand::Check,
        } => groundup::commands::pki_check::cmd_check(g),
        Command::Fns {
            namespace,
            markdown: true,
            ..
        } => groundup::docgen::cmd_api_markdown(g, namespace.as_deref()),
        Command::Fns {
            namespace,
            definitions,
            ..
        } => commands::cmd_fns(g, namespace.as_deref(), definitions.as_deref()),
        Command::Init { dir, force } => groundup::init::cmd_init(g, dir, *force),
        Command::Runbooks => commands::cmd_runbooks(g),
        Command::Doctor => groundup::doctor::cmd_doctor(g),
        Command::Completions { shell } => groundup::completions::cmd_completions(*shell),
        Command::Man => groundup::completions::cmd_man(),
        Command::Down { yes, purge } => groundup::commands::lifecycle::cmd_down(g, *yes, *purge),
        Command::Status { refresh } => groundup::commands::lifecycle::cmd_status(g, *refresh),
        Command::Repl => groundup::repl::cmd_repl(g),
        Command::Emulator { command } => groundup::local::cmd_emulator(g, command),
        Command::Ssh {
            node,
            command,
            forget,
        } => {
            let code = groundup::commands::ssh::cmd_ssh(g, node, command, *forget)?;
            if code != 0 {
                let _ = groundup::durable::sync();
                std::process::exit(code.into());
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    // clap would exit 2 on a bad command line; groundup documents 1.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = run(cli);
    // Whatever the command wrote (state, keys) reaches the disk before exit.
    let result = result
        .and(groundup::durable::sync().map_err(|e| Error::io("cannot flush files to disk", e)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let color = groundup::style::Paint::stderr().enabled();
            eprint!("{}", render_with(&e, color));
            ExitCode::from(e.exit_code())
        }
    }
}
