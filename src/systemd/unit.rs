//! A systemd service unit as a typed value, rendered to the text of
//! `/etc/systemd/system/<name>.service`.
//!
//! `ExecStart` is a list of arguments, quoted here so that systemd's own
//! command-line parser (`systemd.service(5)`, "Command lines") gives the
//! program exactly those arguments back: `%` (specifiers) becomes `%%`, `$`
//! (environment substitution) becomes `$$`, and an argument with blanks,
//! quotes, backslashes, control characters or nothing at all is written in
//! double quotes with C escapes. Every other value is checked to be one line.

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// A service unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// The unit's name, `etcd.service` (a bare `etcd` gets `.service`).
    pub name: String,
    /// `Description=`.
    pub description: String,
    /// `Documentation=` URLs.
    pub documentation: Vec<String>,
    /// `After=` units.
    pub after: Vec<String>,
    /// `Wants=` units.
    pub wants: Vec<String>,
    /// `Requires=` units.
    pub requires: Vec<String>,
    /// `Type=`: simple, exec, notify, oneshot, forking (default simple).
    pub kind: String,
    /// `ExecStart=`: the program (an absolute path) and its arguments.
    pub exec_start: Vec<String>,
    /// `Restart=`: no, on-failure, always, ... (empty: systemd's default).
    pub restart: String,
    /// `RestartSec=` in seconds (0: systemd's default).
    pub restart_sec: u32,
    /// `StateDirectory=`: directories under /var/lib that systemd creates
    /// (with `state_directory_mode`) before the service starts.
    pub state_directory: Vec<String>,
    /// `StateDirectoryMode=` (octal text, e.g. `0700`; empty: systemd's 0755).
    pub state_directory_mode: String,
    /// More `[Service]` settings, in order (`LimitNOFILE` = `40000`).
    pub service: Vec<(String, String)>,
    /// `WantedBy=` of `[Install]` (default `multi-user.target`).
    pub wanted_by: Vec<String>,
    /// Files on the node the service reads (certificates, configs). Their
    /// SHA-256 is written into the unit as comments, so a changed input
    /// changes the unit, and a changed unit restarts the service.
    pub inputs: Vec<String>,
}

const TYPES: &[&str] = &[
    "simple", "exec", "forking", "oneshot", "dbus", "notify", "idle",
];
const RESTARTS: &[&str] = &[
    "no",
    "on-success",
    "on-failure",
    "on-abnormal",
    "on-watchdog",
    "on-abort",
    "always",
];

impl Unit {
    /// The unit's file name: `name` with `.service` added when it has no
    /// unit suffix.
    pub fn file_name(&self) -> String {
        service_name(&self.name)
    }

    /// Where the unit is installed on a node.
    pub fn path(&self) -> String {
        format!("/etc/systemd/system/{}", self.file_name())
    }

    /// Checks every field; the error names the field and says what is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: String| {
            Error::script(format!("unit {}: {field}: {why}", self.file_name()))
        };
        let name = self.file_name();
        if self.name.is_empty() || !name.ends_with(".service") || !is_unit_name(&name) {
            return Err(Error::script(format!(
                "unit name `{}`: a service name is letters, digits and `-_.@` ending in .service (or bare, e.g. etcd)",
                self.name
            )));
        }
        let Some(program) = self.exec_start.first() else {
            return Err(bad("exec_start", "needs the program to run".into()));
        };
        if !program.starts_with('/') || program.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad(
                "exec_start",
                format!("the program must be an absolute path without blanks, got `{program}`"),
            ));
        }
        if !self.kind.is_empty() && !TYPES.contains(&self.kind.as_str()) {
            return Err(bad(
                "type",
                format!("`{}` is not one of {}", self.kind, TYPES.join(", ")),
            ));
        }
        if !self.restart.is_empty() && !RESTARTS.contains(&self.restart.as_str()) {
            return Err(bad(
                "restart",
                format!("`{}` is not one of {}", self.restart, RESTARTS.join(", ")),
            ));
        }
        for (field, list) in [
            ("after", &self.after),
            ("wants", &self.wants),
            ("requires", &self.requires),
            ("wanted_by", &self.wanted_by),
        ] {
            if let Some(u) = list.iter().find(|u| !is_unit_name(u)) {
                return Err(bad(field, format!("`{u}` is not a unit name")));
            }
        }
        for d in &self.state_directory {
            let ok = !d.is_empty()
                && !d.starts_with('/')
                && !d.split('/').any(|p| p.is_empty() || p == "." || p == "..")
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
            if !ok {
                return Err(bad(
                    "state_directory",
                    format!("`{d}` must be a relative path under /var/lib, e.g. etcd"),
                ));
            }
        }
        let m = &self.state_directory_mode;
        if !m.is_empty() && (m.len() > 4 || !m.chars().all(|c| ('0'..='7').contains(&c))) {
            return Err(bad(
                "state_directory_mode",
                format!("`{m}` is not an octal mode like 0700"),
            ));
        }
        for (k, v) in &self.service {
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(bad("service", format!("`{k}` is not a setting name")));
            }
            one_line(v).map_err(|why| bad(&format!("service.{k}"), why))?;
        }
        one_line(&self.description).map_err(|why| bad("description", why))?;
        for d in &self.documentation {
            if d.is_empty() || d.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("documentation", format!("`{d}` is not a URL")));
            }
        }
        for f in &self.inputs {
            if !f.starts_with('/') || f.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(
                    "inputs",
                    format!("`{f}` must be an absolute path without blanks"),
                ));
            }
        }
        Ok(())
    }

    /// The unit file's text. `input_hashes` are the SHA-256 (hex) of
    /// [`Unit::inputs`] on the node, in the same order.
    pub fn render(&self, input_hashes: &[String]) -> Result<String> {
        self.validate()?;
        if input_hashes.len() != self.inputs.len() {
            return Err(Error::script(format!(
                "unit {}: {} input files but {} hashes",
                self.file_name(),
                self.inputs.len(),
                input_hashes.len()
            )));
        }
        let mut s = String::new();
        s.push_str("# Written by groundup; a re-run replaces it.\n");
        for (f, h) in self.inputs.iter().zip(input_hashes) {
            // A changed certificate changes this line, so the unit changes
            // and the service is restarted to read it.
            let _ = writeln!(s, "# input {f} sha256:{h}");
        }
        s.push_str("[Unit]\n");
        if !self.description.is_empty() {
            let _ = writeln!(s, "Description={}", escape_value(&self.description));
        }
        for (key, list) in [
            ("Documentation", &self.documentation),
            ("After", &self.after),
            ("Wants", &self.wants),
            ("Requires", &self.requires),
        ] {
            if !list.is_empty() {
                let _ = writeln!(s, "{key}={}", list.join(" "));
            }
        }
        s.push_str("\n[Service]\n");
        let _ = writeln!(
            s,
            "Type={}",
            if self.kind.is_empty() {
                "simple"
            } else {
                &self.kind
            }
        );
        let _ = writeln!(s, "ExecStart={}", exec_line(&self.exec_start));
        if !self.restart.is_empty() {
            let _ = writeln!(s, "Restart={}", self.restart);
        }
        if self.restart_sec > 0 {
            let _ = writeln!(s, "RestartSec={}", self.restart_sec);
        }
        if !self.state_directory.is_empty() {
            let _ = writeln!(s, "StateDirectory={}", self.state_directory.join(" "));
        }
        if !self.state_directory_mode.is_empty() {
            let _ = writeln!(s, "StateDirectoryMode={}", self.state_directory_mode);
        }
        for (k, v) in &self.service {
            let _ = writeln!(s, "{k}={}", escape_value(v));
        }
        s.push_str("\n[Install]\n");
        let wanted = if self.wanted_by.is_empty() {
            "multi-user.target".to_string()
        } else {
            self.wanted_by.join(" ")
        };
        let _ = writeln!(s, "WantedBy={wanted}");
        Ok(s)
    }
}

/// A service's unit name: `etcd` → `etcd.service`; a name with a suffix
/// is kept.
pub fn service_name(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// A unit name: letters, digits and `-_.@:\`, with a suffix.
fn is_unit_name(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 255
        && u.contains('.')
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:\\".contains(c))
}

fn one_line(v: &str) -> std::result::Result<(), String> {
    if v.chars().any(|c| c.is_control()) {
        Err("must be one line without control characters".into())
    } else if v.ends_with('\\') {
        Err("must not end with a backslash (systemd would join the next line)".into())
    } else {
        Ok(())
    }
}

/// A plain setting value: `%` specifiers doubled.
fn escape_value(v: &str) -> String {
    v.replace('%', "%%")
}

/// The `ExecStart=` value: one argument per line, continued with ` \`.
pub fn exec_line(args: &[String]) -> String {
    args.iter()
        .map(|a| quote_arg(a))
        .collect::<Vec<_>>()
        .join(" \\\n  ")
}

/// One argument as systemd's command-line parser reads it back.
pub fn quote_arg(arg: &str) -> String {
    // A lone `;` separates commands; systemd.service(5) says to write `\;`.
    if arg == ";" {
        return "\\;".to_string();
    }
    let needs_quotes = arg.is_empty()
        || arg
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'\\".contains(c));
    let mut out = String::with_capacity(arg.len() + 2);
    if needs_quotes {
        out.push('"');
    }
    for c in arg.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            c => out.push(c),
        }
    }
    if needs_quotes {
        out.push('"');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etcd() -> Unit {
        Unit {
            name: "etcd".into(),
            description: "etcd".into(),
            documentation: vec!["https://github.com/coreos".into()],
            after: vec!["network-online.target".into()],
            wants: vec!["network-online.target".into()],
            kind: "notify".into(),
            exec_start: vec![
                "/usr/local/bin/etcd".into(),
                "--name=master-0".into(),
                "--data-dir=/var/lib/etcd".into(),
            ],
            restart: "on-failure".into(),
            restart_sec: 5,
            state_directory: vec!["etcd".into()],
            state_directory_mode: "0700".into(),
            inputs: vec!["/etc/etcd/ca.pem".into()],
            ..Default::default()
        }
    }

    #[test]
    fn renders_the_lesson_shape() {
        let text = etcd().render(&["ab".repeat(32)]).unwrap();
        let want = format!(
            "# Written by groundup; a re-run replaces it.
# input /etc/etcd/ca.pem sha256:{}
[Unit]
Description=etcd
Documentation=https://github.com/coreos
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
ExecStart=/usr/local/bin/etcd \\
  --name=master-0 \\
  --data-dir=/var/lib/etcd
Restart=on-failure
RestartSec=5
StateDirectory=etcd
StateDirectoryMode=0700

[Install]
WantedBy=multi-user.target
",
            "ab".repeat(32)
        );
        assert_eq!(text, want);
        assert_eq!(etcd().path(), "/etc/systemd/system/etcd.service");
    }

    #[test]
    fn a_changed_input_changes_the_text() {
        let u = etcd();
        assert_ne!(
            u.render(&["0".repeat(64)]).unwrap(),
            u.render(&["1".repeat(64)]).unwrap()
        );
        assert!(u.render(&[]).is_err());
    }

    #[test]
    fn quoting_escapes_what_systemd_would_interpret() {
        assert_eq!(quote_arg("--name=master-0"), "--name=master-0");
        assert_eq!(quote_arg("a b"), "\"a b\"");
        assert_eq!(quote_arg(""), "\"\"");
        assert_eq!(quote_arg("it's"), "\"it's\"");
        assert_eq!(quote_arg("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote_arg("$HOME"), "$$HOME");
        assert_eq!(quote_arg("100%"), "100%%");
        assert_eq!(quote_arg("a\\b"), "\"a\\\\b\"");
        assert_eq!(quote_arg("l1\nl2"), "\"l1\\nl2\"");
        assert_eq!(quote_arg(";"), "\\;");
        assert_eq!(quote_arg("\u{1}"), "\"\\x01\"");
    }

    #[test]
    fn bad_fields_are_named() {
        let e = |f: &dyn Fn(&mut Unit)| {
            let mut u = etcd();
            f(&mut u);
            u.validate().unwrap_err().message
        };
        assert!(e(&|u| u.exec_start.clear()).contains("exec_start: needs the program"));
        assert!(e(&|u| u.exec_start[0] = "etcd".into()).contains("absolute path"));
        assert!(e(&|u| u.kind = "daemon".into()).contains("type: `daemon` is not one of"));
        assert!(e(&|u| u.restart = "sometimes".into()).contains("restart:"));
        assert!(e(&|u| u.after = vec!["a b".into()]).contains("after: `a b`"));
        assert!(e(&|u| u.description = "x\nExecStartPre=/bin/evil".into()).contains("one line"));
        assert!(e(&|u| u.state_directory = vec!["../etc".into()]).contains("state_directory"));
        assert!(e(&|u| u.state_directory_mode = "0800".into()).contains("octal"));
        assert!(e(&|u| u.name = "etcd.socket".into()).contains("unit name"));
        assert!(e(&|u| u.inputs = vec!["ca.pem".into()]).contains("inputs"));
        assert!(e(&|u| u.service = vec![("Limit NOFILE".into(), "1".into())]).contains("service"));
    }

    #[test]
    fn description_specifiers_are_escaped() {
        let mut u = etcd();
        u.description = "100% etcd".into();
        assert!(
            u.render(&["0".repeat(64)])
                .unwrap()
                .contains("Description=100%% etcd\n")
        );
    }
}
