//! Colour for human output: only on a terminal, and never when `NO_COLOR`
//! is set to a non-empty value (<https://no-color.org>).

use std::io::IsTerminal;

/// Whether colour is allowed at all (`NO_COLOR` unset or empty): the one
/// rule every coloured output asks (through [`Paint`]).
pub fn colour_allowed() -> bool {
    allowed_by(std::env::var_os("NO_COLOR").as_deref())
}

/// The NO_COLOR rule for a value of the variable: only a non-empty value
/// turns colour off (<https://no-color.org>).
fn allowed_by(no_color: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

/// Paints text with ANSI colours, or leaves it alone when disabled.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    /// Colour for stdout: on when stdout is a terminal and `NO_COLOR` is not set.
    pub fn stdout() -> Paint {
        Paint {
            enabled: colour_allowed() && std::io::stdout().is_terminal(),
        }
    }
    /// Colour for stderr: on when stderr is a terminal and `NO_COLOR` is not set.
    pub fn stderr() -> Paint {
        Paint {
            enabled: colour_allowed() && std::io::stderr().is_terminal(),
        }
    }
    /// Colour on or off, explicitly.
    pub fn new(enabled: bool) -> Paint {
        Paint { enabled }
    }
    /// Whether colour is on.
    pub fn enabled(self) -> bool {
        self.enabled
    }
    fn wrap(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    /// Green (success).
    pub fn green(self, text: &str) -> String {
        self.wrap("32", text)
    }
    /// Red (failure).
    pub fn red(self, text: &str) -> String {
        self.wrap("31", text)
    }
    /// Yellow (warning).
    pub fn yellow(self, text: &str) -> String {
        self.wrap("33", text)
    }
    /// Bold.
    pub fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }
    /// Dim (secondary detail).
    pub fn dim(self, text: &str) -> String {
        self.wrap("2", text)
    }
}

/// Writes `text` and a newline to stdout. A closed pipe (`groundup man |
/// head`) is not an error.
pub fn print_stdout(text: &str) -> crate::error::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(crate::error::Error::io("cannot write to stdout", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_empty_no_color_turns_colour_off() {
        assert!(allowed_by(None));
        assert!(allowed_by(Some(std::ffi::OsStr::new(""))));
        assert!(!allowed_by(Some(std::ffi::OsStr::new("1"))));
    }

    #[test]
    fn off_means_plain_text() {
        assert_eq!(Paint::new(false).green("ok"), "ok");
        assert_eq!(Paint::new(true).green("ok"), "\x1b[32mok\x1b[0m");
    }
}
