//! Uploads as shell the node runs: what a file on a node looks like now
//! (one probe per node: SHA-256, mode, owner of every destination), what
//! to do about each file, and the one script that does it atomically.
//!
//! The script is sent on **stdin** of `sudo -n sh -s` (never on the command
//! line, which sudo logs), and all of it is wrapped in a function called on
//! its last line: a script cut off by a dropped connection runs nothing.
//! Each file is written to a unique temporary name in its own directory
//! (`.groundup-XXXXXX.tmp`, mode 0600 from the first byte), its SHA-256 is
//! checked, its owner and mode are set, and only then is it renamed over the
//! destination; a trap removes the temporary files if the script is stopped,
//! and every probe removes those a killed run left behind.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;

/// One file to put on a node.
#[derive(Clone)]
pub struct FileSpec {
    /// Its absolute path on the node, e.g. `/var/lib/kubernetes/ca.pem`.
    pub dest: String,
    /// Its permission bits, e.g. `0o600`.
    pub mode: u32,
    /// Its owner (user name), e.g. `root`.
    pub owner: String,
    /// Its group, e.g. `root`.
    pub group: String,
    /// Its bytes.
    pub content: Arc<Vec<u8>>,
    /// Where the bytes came from, for plans and messages (`pki/ca.pem`, or
    /// `data` for bytes the script passed). Never the bytes themselves.
    pub source: String,
}

impl fmt::Debug for FileSpec {
    // The content may be a private key: never shown, not even in Debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSpec")
            .field("dest", &self.dest)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("owner", &self.owner)
            .field("group", &self.group)
            .field("source", &self.source)
            .field("bytes", &self.content.len())
            .finish()
    }
}

impl FileSpec {
    /// The SHA-256 of the content, in hex.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.content)
    }
}

/// SHA-256 in lower-case hex (what `sha256sum` prints).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What happened (or would happen) to one file: created, updated,
/// unchanged or planned.
pub use crate::outcome::Outcome as FileStatus;

/// A file as the probe found it on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// SHA-256 of its content.
    pub sha256: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub owner: String,
    /// Group.
    pub group: String,
}

/// What the apply script does with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write it (temp file + rename): new or different content.
    Write(FileStatus),
    /// Same content, wrong mode or owner: chown/chmod in place.
    Fix,
    /// Nothing.
    Keep,
}

/// Decides what to do with `spec` given what the node has.
pub fn decide(spec: &FileSpec, remote: Option<&Remote>) -> Action {
    match remote {
        None => Action::Write(FileStatus::Created),
        Some(r) if r.sha256 != spec.sha256() => Action::Write(FileStatus::Updated),
        Some(r) if r.mode != spec.mode || r.owner != spec.owner || r.group != spec.group => {
            Action::Fix
        }
        Some(_) => Action::Keep,
    }
}

/// Single-quotes `s` for a POSIX shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Checks a destination path: absolute, plain characters (letters, digits,
/// `.`, `_`, `-`, `+`, `@`, `/`), no `..` component, not a directory.
pub fn check_dest(path: &str) -> Result<(), String> {
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-+@/".contains(c));
    if !path.starts_with('/')
        || path.ends_with('/')
        || !plain
        || path.split('/').any(|c| c == ".." || c == ".")
        || path.contains("//")
        || path.len() > 1024
    {
        return Err(format!(
            "`{path}` is not a file path on the node: use an absolute path of letters, digits and ._-+@/ without `..`, e.g. /var/lib/kubernetes/ca.pem"
        ));
    }
    Ok(())
}

/// Checks a user or group name (`root`, `etcd`, `ubuntu`): a settings rule.
pub use crate::settings::rules::check_account;

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

/// The probe: one command that removes the temporary files a killed run
/// left in the destinations' directories and prints, per destination,
/// `<sha256> <mode>:<owner>:<group>` or `- -`.
pub fn probe_command(dests: &[&str]) -> String {
    let script = "for f in \"$@\"; do d=${f%/*}; rm -f \"${d:-/}\"/.groundup-*.tmp; \
if [ -f \"$f\" ]; then h=$(sha256sum < \"$f\") || exit 1; \
printf '%s %s\\n' \"${h%% *}\" \"$(stat -c %a:%U:%G \"$f\")\" || exit 1; \
else echo '- -'; fi; done";
    let mut cmd = format!("sudo -n sh -c {} sh", quote(script));
    for d in dests {
        cmd.push(' ');
        cmd.push_str(&quote(d));
    }
    cmd
}

/// Reads the probe's output: one entry per destination, in order.
pub fn parse_probe(out: &str, count: usize) -> Result<Vec<Option<Remote>>, String> {
    let lines: Vec<&str> = out.lines().collect();
    if lines.len() != count {
        return Err(format!(
            "the probe printed {} lines for {count} files",
            lines.len()
        ));
    }
    lines
        .iter()
        .map(|l| {
            let (hash, meta) = l
                .split_once(' ')
                .ok_or_else(|| format!("unexpected probe line `{l}`"))?;
            if hash == "-" {
                return Ok(None);
            }
            let mut m = meta.splitn(3, ':');
            let (mode, owner, group) = (m.next(), m.next(), m.next());
            match (
                mode.and_then(|m| u32::from_str_radix(m, 8).ok()),
                owner,
                group,
            ) {
                (Some(mode), Some(o), Some(g)) if hash.len() == 64 => Ok(Some(Remote {
                    sha256: hash.to_string(),
                    mode,
                    owner: o.to_string(),
                    group: g.to_string(),
                })),
                _ => Err(format!("unexpected probe line `{l}`")),
            }
        })
        .collect()
}

/// The script for `sudo -n sh -s` that applies `work` (files with their
/// actions; `Keep` entries are skipped). `None` when there is nothing to do.
pub fn apply_script(work: &[(&FileSpec, Action)]) -> Option<String> {
    let todo: Vec<&(&FileSpec, Action)> = work.iter().filter(|(_, a)| *a != Action::Keep).collect();
    if todo.is_empty() {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut s = String::from(
        "set -u\numask 077\ntmps=\ntrap 'rm -f $tmps' EXIT\ntrap 'exit 1' HUP INT TERM PIPE\nmain() {\n",
    );
    for (spec, action) in todo {
        let dest = quote(&spec.dest);
        let owner = quote(&format!("{}:{}", spec.owner, spec.group));
        let mode = format!("{:04o}", spec.mode);
        match action {
            Action::Write(_) => {
                let dir = quote(parent(&spec.dest));
                s.push_str(&format!("(umask 022; mkdir -p {dir}) || exit 1\n"));
                s.push_str(&format!(
                    "t=$(mktemp {}) || exit 1\ntmps=\"$tmps $t\"\n",
                    quote(&format!("{}/.groundup-XXXXXX.tmp", parent(&spec.dest)))
                ));
                s.push_str("base64 -d > \"$t\" <<'GROUNDUP_EOF'\n");
                let enc = b64.encode(spec.content.as_slice());
                for chunk in enc.as_bytes().chunks(76) {
                    s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
                    s.push('\n');
                }
                s.push_str("GROUNDUP_EOF\n");
                s.push_str(&format!(
                    "h=$(sha256sum < \"$t\"); [ \"${{h%% *}}\" = {} ] || {{ echo {}: the upload arrived damaged >&2; exit 1; }}\n",
                    spec.sha256(),
                    dest
                ));
                s.push_str(&format!(
                    "chown {owner} \"$t\" && chmod {mode} \"$t\" && mv -f \"$t\" {dest} || exit 1\n"
                ));
            }
            Action::Fix => {
                s.push_str(&format!(
                    "chown {owner} {dest} && chmod {mode} {dest} || exit 1\n"
                ));
            }
            Action::Keep => {}
        }
    }
    s.push_str("}\nmain\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dest: &str, content: &[u8], mode: u32) -> FileSpec {
        FileSpec {
            dest: dest.into(),
            mode,
            owner: "root".into(),
            group: "root".into(),
            content: Arc::new(content.to_vec()),
            source: "pki/x".into(),
        }
    }

    #[test]
    fn sha256_is_what_sha256sum_prints() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn decide_compares_content_then_mode_and_owner() {
        let s = spec("/var/lib/kubernetes/ca.pem", b"abc", 0o644);
        let same = Remote {
            sha256: s.sha256(),
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
        };
        assert_eq!(decide(&s, None), Action::Write(FileStatus::Created));
        assert_eq!(decide(&s, Some(&same)), Action::Keep);
        let other = Remote {
            sha256: sha256_hex(b"old"),
            ..same.clone()
        };
        assert_eq!(decide(&s, Some(&other)), Action::Write(FileStatus::Updated));
        let loose = Remote {
            mode: 0o666,
            ..same.clone()
        };
        assert_eq!(decide(&s, Some(&loose)), Action::Fix);
        let owned = Remote {
            owner: "ubuntu".into(),
            ..same
        };
        assert_eq!(decide(&s, Some(&owned)), Action::Fix);
    }

    #[test]
    fn destinations_and_accounts_are_plain() {
        assert!(check_dest("/var/lib/kubernetes/ca.pem").is_ok());
        for bad in [
            "var/lib/x",
            "/var/lib/",
            "/var/../etc/shadow",
            "/a/./b",
            "/a b",
            "/a;rm -rf /",
            "/a/$(x)",
            "/a//b",
        ] {
            assert!(check_dest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_probe_quotes_paths_and_parses_back() {
        let cmd = probe_command(&["/var/lib/kubernetes/ca.pem", "/etc/etcd/ca.pem"]);
        assert!(cmd.starts_with("sudo -n sh -c '"), "{cmd}");
        assert!(cmd.ends_with(" sh '/var/lib/kubernetes/ca.pem' '/etc/etcd/ca.pem'"));
        assert!(
            cmd.contains(".groundup-*.tmp"),
            "removes stale temps: {cmd}"
        );
        let h = sha256_hex(b"x");
        let out = format!("{h} 600:root:root\n- -\n");
        let got = parse_probe(&out, 2).unwrap();
        assert_eq!(
            got[0],
            Some(Remote {
                sha256: h,
                mode: 0o600,
                owner: "root".into(),
                group: "root".into()
            })
        );
        assert_eq!(got[1], None);
        assert!(parse_probe("- -\n", 2).is_err());
        assert!(parse_probe("zz 600:root:root\n", 1).is_err());
    }

    #[test]
    fn the_apply_script_is_atomic_checked_and_runs_only_when_complete() {
        let a = spec("/var/lib/kubernetes/ca-key.pem", b"secret key bytes", 0o600);
        let b = spec("/etc/etcd/ca.pem", b"cert", 0o644);
        let c = spec("/etc/etcd/kept.pem", b"kept", 0o644);
        let script = apply_script(&[
            (&a, Action::Write(FileStatus::Created)),
            (&b, Action::Fix),
            (&c, Action::Keep),
        ])
        .unwrap();
        // Everything inside a function called on the last line.
        assert!(script.contains("main() {\n"));
        assert!(script.ends_with("}\nmain\n"), "{script}");
        // A unique temporary name beside the destination, removed by a trap.
        assert!(script.contains("mktemp '/var/lib/kubernetes/.groundup-XXXXXX.tmp'"));
        assert!(script.contains("trap 'rm -f $tmps' EXIT"));
        // Checked, owned, moded, then renamed.
        assert!(script.contains(&a.sha256()));
        assert!(script.contains(
            "chown 'root:root' \"$t\" && chmod 0600 \"$t\" && mv -f \"$t\" '/var/lib/kubernetes/ca-key.pem'"
        ));
        assert!(
            script
                .contains("chown 'root:root' '/etc/etcd/ca.pem' && chmod 0644 '/etc/etcd/ca.pem'")
        );
        assert!(!script.contains("kept.pem"));
        // The bytes travel base64-encoded, never as plain text.
        assert!(!script.contains("secret key bytes"));
        assert!(apply_script(&[(&c, Action::Keep)]).is_none());
        // Debug output never shows the content.
        assert!(!format!("{a:?}").contains("secret"));
    }
}
