//! Shell completions (`groundup completions <shell>`, clap_complete) and the
//! man page (`groundup man`, clap_mangen), both generated from the clap
//! definitions in [`crate::cli`].

use std::io::Write;

use clap::CommandFactory;
use clap_complete::aot::Shell;

use crate::cli::Cli;
use crate::error::{Error, Result};

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::aot::generate(shell, &mut Cli::command(), "groundup", out);
}

/// Writes the man page (roff) to `out`.
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// `groundup completions <shell>`.
pub fn cmd_completions(shell: Shell) -> Result<()> {
    let mut buf = Vec::new();
    completions(shell, &mut buf);
    write_out(&buf)
}

/// `groundup man`.
pub fn cmd_man() -> Result<()> {
    let mut buf = Vec::new();
    man_page(&mut buf).map_err(|e| Error::io("cannot render the man page", e))?;
    write_out(&buf)
}

fn write_out(buf: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(buf).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("cannot write to stdout", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut buf = Vec::new();
            completions(shell, &mut buf);
            let text = String::from_utf8(buf).unwrap();
            for sub in ["run", "up", "init", "doctor", "runbooks", "completions"] {
                assert!(text.contains(sub), "{shell:?} lacks {sub}");
            }
        }
    }

    #[test]
    fn man_page_is_roff() {
        let mut buf = Vec::new();
        man_page(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH groundup"),
            "{text}"
        );
    }
}
