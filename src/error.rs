//! The one diagnostic type of groundup.
//!
//! Every failure, whether it comes from the command line, a setting, a
//! script, AWS, the state file or the file system, becomes an [`Error`].  It
//! renders through `miette`, so errors that come from a file show
//! `file:line:col`, the source line and a caret, and it knows its exit code.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

/// What kind of failure an [`Error`] is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad command line (unknown flag, missing file): exit 1.
    Usage,
    /// A bad cluster setting (`--set` or `stdlib/cluster.rhai`): exit 1.
    Setting,
    /// A Rhai script failed to compile or run: exit 2.
    Script,
    /// An AWS call failed: exit 2.
    Aws,
    /// The state file could not be read or written: exit 2.
    State,
    /// Another groundup process holds the cluster's lock: exit 2.
    Busy,
    /// A local file could not be read or written: exit 2.
    Io,
    /// The PKI could not be made or failed its checks: exit 2.
    Pki,
    /// The local AWS emulator could not be found, installed or started: exit 2.
    Emulator,
    /// Reaching a node over SSH failed (unreachable, host key, auth, a
    /// remote command): exit 2.
    Ssh,
    /// The node steps cannot run: AWS is an emulator whose nodes are not
    /// machines (see `crate::ssh::guard`). `up` reports it in one line and
    /// succeeds; elsewhere exit 2.
    NoMachines,
    /// The user interrupted the run (Ctrl-C): exit 130.
    Interrupted,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Usage => "groundup::usage",
            Kind::Setting => "groundup::setting",
            Kind::Script => "groundup::script",
            Kind::Aws => "groundup::aws",
            Kind::State => "groundup::state",
            Kind::Busy => "groundup::busy",
            Kind::Io => "groundup::io",
            Kind::Pki => "groundup::pki",
            Kind::Emulator => "groundup::emulator",
            Kind::Ssh => "groundup::ssh",
            Kind::NoMachines => "groundup::no-machines",
            Kind::Interrupted => "groundup::interrupted",
        }
    }
}

/// Where in a source file an error happened.
#[derive(Debug, Clone)]
pub struct Location {
    /// The file's name as shown to the user (e.g. `runbooks/network.rhai`).
    pub name: String,
    /// The whole text of the file.
    pub text: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl Location {
    fn offset(&self) -> usize {
        let mut offset = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == self.line {
                let col = self.col.saturating_sub(1);
                let within = l.char_indices().nth(col).map(|(b, _)| b).unwrap_or(l.len());
                return offset + within;
            }
            offset += l.len();
        }
        offset.min(self.text.len())
    }
}

/// The one error type: a message, what kind it is, an optional source
/// location, an optional help line and optional notes (e.g. a call stack).
#[derive(Debug, Clone)]
pub struct Error {
    /// What kind of failure this is.
    pub kind: Kind,
    /// The one-line message.
    pub message: String,
    /// A hint on how to fix it.
    pub help: Option<String>,
    /// Where in a script it happened.
    pub location: Option<Box<Location>>,
    /// Extra lines (e.g. "called from runbooks/x.rhai:3:5").
    pub notes: Vec<String>,
    source_code: Option<Arc<NamedSource<String>>>,
}

/// Shorthand for results carrying an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of a kind with a message.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            help: None,
            location: None,
            notes: Vec::new(),
            source_code: None,
        }
    }
    /// A usage error (exit 1).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }
    /// A setting error (exit 1).
    pub fn setting(message: impl Into<String>) -> Self {
        Self::new(Kind::Setting, message)
    }
    /// A script error (exit 2).
    pub fn script(message: impl Into<String>) -> Self {
        Self::new(Kind::Script, message)
    }
    /// A state-file error (exit 2).
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(Kind::State, message)
    }
    /// A local I/O error naming the path (exit 2).
    pub fn io(what: impl fmt::Display, err: impl fmt::Display) -> Self {
        Self::new(Kind::Io, format!("{what}: {err}"))
    }
    /// An AWS failure: `Operation: Code: message` (the script binding that
    /// made the call prefixes its name, see `crate::api::namespace!`).
    pub fn aws(operation: &str, code: &str, message: &str) -> Self {
        Self::new(Kind::Aws, format!("{operation}: {code}: {message}"))
    }
    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// Adds a note line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    /// Attaches a source location (file, line, column).
    pub fn at(mut self, loc: Location) -> Self {
        self.source_code = Some(Arc::new(
            NamedSource::new(loc.name.clone(), loc.text.to_string()).with_language("rust"),
        ));
        self.location = Some(Box::new(loc));
        self
    }
    /// Prefixes the message, e.g. with the script call that failed.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        if !self.message.starts_with(prefix) {
            self.message = format!("{prefix}: {}", self.message);
        }
        self
    }
    /// The process exit code for this error (documented in the README).
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::Usage | Kind::Setting => 1,
            Kind::Interrupted => 130,
            _ => 2,
        }
    }
    /// `file:line:col` if the error has a location.
    pub fn position(&self) -> Option<String> {
        self.location
            .as_ref()
            .map(|l| format!("{}:{}:{}", l.name, l.line, l.col))
    }
    /// Renders the error as text the way the CLI prints it (no colour).
    pub fn render(&self) -> String {
        render_with(self, false)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let mut lines: Vec<String> = self.notes.clone();
        if let Some(h) = &self.help {
            lines.push(h.clone());
        }
        if lines.is_empty() {
            None
        } else {
            Some(Box::new(lines.join("\n")))
        }
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source_code.as_deref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let loc = self.location.as_ref()?;
        let offset = loc.offset();
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some("here".into()),
            offset,
            1,
        ))))
    }
}

/// Renders an error with miette's graphical handler; colour only when asked.
pub fn render_with(err: &Error, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_wrap_lines(false)
        .with_context_lines(1);
    let mut out = String::new();
    if handler.render_report(&mut out, err).is_err() {
        out = format!("Error: {}\n", err.message);
    }
    // Make the position greppable even where miette draws it differently.
    if let Some(pos) = err.position()
        && !out.contains(&pos)
    {
        out.push_str(&format!("  at {pos}\n"));
    }
    out
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(Kind::Io, e.to_string())
    }
}
