//! The `groundup` binary: parses the command line, runs the command, prints
//! errors as diagnostics and exits with the documented code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use groundup::cli::{Cli, Command, PkiCommand};
use groundup::commands;
use groundup::error::{Error, render_with};

fn run(cli: Cli) -> Result<(), Error> {
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
        Command::Settings => commands::cmd_settings(g),
        Command::Check { files } => commands::cmd_check(g, files),
        Command::Pki {
            command: PkiCommand::Check,
        } => groundup::pki_cluster::cmd_check(g),
        Command::Fns {
            namespace,
            definitions,
        } => commands::cmd_fns(g, namespace.as_deref(), definitions.as_deref()),
        Command::Down { .. } | Command::Status { .. } | Command::Repl => Err(Error::usage(
            "this command is not available in this build yet",
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            eprint!("{}", render_with(&e, color));
            ExitCode::from(e.exit_code())
        }
    }
}
