//! The cluster's own known_hosts file, `<state-dir>/<cluster>/ssh/known_hosts`.
//!
//! OpenSSH's format, so `ssh -o UserKnownHostsFile=…` can use it too: one
//! line per node, `<addresses> <key type> <base64> groundup:<node>:<instance>`.
//! An entry belongs to an **instance**, not an address: the first contact
//! with an instance records its key; a later contact with the same instance
//! must present that key, or it is refused; a replaced instance (a new
//! instance id for the same node) is a new entry and its old lines go.
//! Nothing is ever accepted without being checked or recorded.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::{HashAlg, PublicKey};

/// One line of the file.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    /// `(node, instance, key)` for groundup's own entries.
    entry: Option<(String, String, PublicKey)>,
}

/// What the file says about a host key a node presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The instance's recorded key: go on.
    Known,
    /// No entry for this instance yet: first contact, record it.
    New,
    /// The instance has an entry and this is not its key: refuse.
    Changed {
        /// Fingerprints (SHA256:…) of the recorded keys.
        recorded: Vec<String>,
        /// The 1-based line of the first recorded entry.
        line: usize,
    },
}

/// The known_hosts file of one cluster, loaded in memory.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
    lines: Vec<Line>,
}

/// The comment that ties a line to a node's instance.
fn tag(node: &str, instance: &str) -> String {
    format!("groundup:{node}:{instance}")
}

fn parse_line(text: &str) -> Line {
    let entry = (|| {
        let t = text.trim();
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        let (_hosts, rest) = t.split_once(char::is_whitespace)?;
        let key = PublicKey::from_openssh(rest.trim()).ok()?;
        let comment = key.comment().as_str_lossy().to_string();
        let mut parts = comment.strip_prefix("groundup:")?.splitn(2, ':');
        let node = parts.next()?.to_string();
        let instance = parts.next()?.to_string();
        Some((node, instance, key))
    })();
    Line {
        text: text.to_string(),
        entry,
    }
}

/// A key's SHA-256 fingerprint, as OpenSSH prints it (`SHA256:…`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

impl KnownHosts {
    /// Loads the file; a missing file is empty.
    pub fn load(path: &Path) -> std::io::Result<KnownHosts> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(KnownHosts {
            path: path.to_path_buf(),
            lines: text.lines().map(parse_line).collect(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the key `node` (instance `instance`) presented.
    pub fn verdict(&self, node: &str, instance: &str, key: &PublicKey) -> Verdict {
        let mut recorded = Vec::new();
        let mut first = 0;
        for (i, l) in self.lines.iter().enumerate() {
            if let Some((n, inst, k)) = &l.entry
                && n == node
                && inst == instance
            {
                if same_key(k, key) {
                    return Verdict::Known;
                }
                if recorded.is_empty() {
                    first = i + 1;
                }
                recorded.push(fingerprint(k));
            }
        }
        if recorded.is_empty() {
            Verdict::New
        } else {
            Verdict::Changed {
                recorded,
                line: first,
            }
        }
    }

    /// Records the key of `node`'s instance `instance`, reachable at
    /// `addresses`, dropping the lines of the node's earlier instances, and
    /// rewrites the file atomically (mode 0600, directory 0700).
    pub fn record(
        &mut self,
        node: &str,
        instance: &str,
        addresses: &[&str],
        key: &PublicKey,
    ) -> std::io::Result<()> {
        self.lines.retain(|l| match &l.entry {
            Some((n, inst, _)) => !(n == node && inst != instance),
            None => true,
        });
        let mut k = key.clone();
        k.set_comment(tag(node, instance));
        let hosts: Vec<&str> = addresses
            .iter()
            .copied()
            .filter(|a| !a.is_empty())
            .collect();
        let body = k
            .to_openssh()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let hosts = if hosts.is_empty() {
            node.to_string()
        } else {
            hosts.join(",")
        };
        let text = format!("{hosts} {body}");
        self.lines.push(parse_line(&text));
        self.save()
    }

    /// Forgets every entry of `node` (all its instances) and rewrites the
    /// file; returns how many lines went. The next contact records anew.
    pub fn forget(&mut self, node: &str) -> std::io::Result<usize> {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(&l.entry, Some((n, _, _)) if n == node));
        let gone = before - self.lines.len();
        if gone > 0 {
            self.save()?;
        }
        Ok(gone)
    }

    fn save(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(&l.text);
            out.push('\n');
        }
        crate::durable::write_atomic(&self.path, out.as_bytes(), 0o600)
    }
}

use std::os::unix::fs::DirBuilderExt;

#[cfg(test)]
mod tests {
    use super::*;

    use russh::keys::ssh_key::public::{Ed25519PublicKey, KeyData};

    const A: u8 = 1;
    const B: u8 = 2;

    fn key(byte: u8) -> PublicKey {
        PublicKey::new(KeyData::Ed25519(Ed25519PublicKey([byte; 32])), "")
    }

    #[test]
    fn first_contact_records_and_a_changed_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh/known_hosts");
        let mut kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.verdict("master-0", "i-1", &key(A)), Verdict::New);
        kh.record("master-0", "i-1", &["172.31.0.10", "54.1.2.3"], &key(A))
            .unwrap();
        // Reloaded from disk: the same key is known, another is refused.
        let kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.verdict("master-0", "i-1", &key(A)), Verdict::Known);
        match kh.verdict("master-0", "i-1", &key(B)) {
            Verdict::Changed { recorded, line } => {
                assert_eq!(line, 1);
                assert_eq!(recorded, vec![fingerprint(&key(A))]);
                assert!(recorded[0].starts_with("SHA256:"));
            }
            other => panic!("{other:?}"),
        }
        // Another node with the same key is its own entry.
        assert_eq!(kh.verdict("master-1", "i-2", &key(A)), Verdict::New);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("172.31.0.10,54.1.2.3 ssh-ed25519 AAAA"),
            "{text}"
        );
        assert!(
            text.trim_end().ends_with(" groundup:master-0:i-1"),
            "{text}"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_replaced_instance_is_a_new_entry_and_its_old_line_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let foreign = key(3).to_openssh().unwrap();
        std::fs::write(&path, format!("# kept\nexample.org {foreign}\n")).unwrap();
        let mut kh = KnownHosts::load(&path).unwrap();
        kh.record("worker-0", "i-old", &["172.31.0.20"], &key(A))
            .unwrap();
        assert_eq!(kh.verdict("worker-0", "i-new", &key(B)), Verdict::New);
        kh.record("worker-0", "i-new", &["172.31.0.20"], &key(B))
            .unwrap();
        let kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.verdict("worker-0", "i-new", &key(B)), Verdict::Known);
        assert_eq!(kh.verdict("worker-0", "i-old", &key(A)), Verdict::New);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.starts_with("# kept\nexample.org "),
            "foreign lines are kept: {text}"
        );
        assert!(!text.contains("i-old"));
        let mut kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.forget("worker-0").unwrap(), 1);
        assert_eq!(kh.forget("worker-0").unwrap(), 0);
        let kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.verdict("worker-0", "i-new", &key(B)), Verdict::New);
    }
}
