//! The cluster's state: `<state-dir>/<cluster>/state.json`.
//!
//! It records every resource ID and output (`vpc_id`, `subnet_id`, …,
//! `kubernetes_public_address`, `nodes`).  It is rewritten atomically (a
//! temporary file in the same directory, renamed over it) after every
//! change, so a crash at any point leaves either the old or the new file,
//! never a truncated one; the writes reach the disk in batches (see
//! [`crate::durable`]).  A file that cannot be parsed is never overwritten.
//!
//! A lock file (`<cluster>/lock`) keeps two groundup processes from working
//! on the same cluster at once.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Kind, Result};

/// The state of one cluster.
#[derive(Debug)]
pub struct State {
    dir: PathBuf,
    path: PathBuf,
    data: Map<String, Value>,
    /// In plan mode nothing is written.
    read_only: bool,
    lock: Option<File>,
}

/// The state key that records where a cluster's resources were made.
pub const ORIGIN_KEY: &str = "origin";

/// Where a cluster's resources live: the local emulator or real AWS. State
/// made on one is never used on the other (see [`State::claim_origin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An AWS emulator on this machine (`--local`, or an `--endpoint` that
    /// is not AWS's own).
    Emulator,
    /// Real AWS.
    Aws,
}

impl Origin {
    /// How it is written in state.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Emulator => "emulator",
            Origin::Aws => "aws",
        }
    }

    fn parse(s: &str) -> Option<Origin> {
        match s {
            "emulator" => Some(Origin::Emulator),
            "aws" => Some(Origin::Aws),
            _ => None,
        }
    }

    fn described(self, preposition: &str) -> String {
        match self {
            Origin::Emulator => format!("{preposition} a local AWS emulator"),
            Origin::Aws => format!("{preposition} real AWS"),
        }
    }
}

/// Creates a directory (and parents) with mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

impl State {
    /// Opens (reads) the state of `cluster` under `state_dir`.  A missing
    /// file is an empty state; an unreadable or corrupt one is an error that
    /// leaves the file as it is.
    pub fn open(state_dir: &Path, cluster: &str, read_only: bool) -> Result<State> {
        let dir = state_dir.join(cluster);
        let path = dir.join("state.json");
        let data = match fs::read_to_string(&path) {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(corrupt(&path, "the top level is not a JSON object"));
                }
                Err(e) => return Err(corrupt(&path, &e.to_string())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(Error::state(format!(
                    "cannot read state file {}: {e}",
                    path.display()
                ))
                .with_help("check the file's permissions; groundup will not overwrite it"));
            }
        };
        Ok(State {
            dir,
            path,
            data,
            read_only,
            lock: None,
        })
    }

    /// An empty in-memory state that is never written (REPL without a state
    /// dir, tests).
    pub fn in_memory(cluster: &str) -> State {
        let dir = PathBuf::from("/nonexistent-groundup-state").join(cluster);
        State {
            path: dir.join("state.json"),
            dir,
            data: Map::new(),
            read_only: true,
            lock: None,
        }
    }

    /// Takes the cluster's lock, or fails with "cluster X is busy (pid N)".
    pub fn lock(&mut self, cluster: &str) -> Result<()> {
        if self.read_only || self.lock.is_some() {
            return Ok(());
        }
        create_private_dir(&self.dir)?;
        let lock_path = self.dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("cannot open lock file {}", lock_path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let who = if pid.is_empty() {
                    "another process".to_string()
                } else {
                    format!("pid {pid}")
                };
                return Err(Error::new(
                    Kind::Busy,
                    format!("cluster {cluster} is busy ({who})"),
                )
                .with_help(format!(
                    "another groundup is working on this cluster; wait for it to finish (lock: {})",
                    lock_path.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("cannot lock {}", lock_path.display()), e));
            }
        }
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        self.lock = Some(file);
        Ok(())
    }

    /// Checks that this state belongs where the command points (`origin`)
    /// and records that with the next write. State that records resources
    /// made on the other one is refused (a usage error naming the way out);
    /// state with nothing in it yet, or written before origins were
    /// recorded, takes the command's origin. Nothing is written here.
    pub fn claim_origin(&mut self, cluster: &str, origin: Origin) -> Result<()> {
        let recorded = self.get_str(ORIGIN_KEY).and_then(|s| Origin::parse(&s));
        let has_resources = self.data.keys().any(|k| k != ORIGIN_KEY);
        match recorded {
            Some(o) if o == origin => Ok(()),
            Some(o) if has_resources => Err(Error::usage(format!(
                "the state of cluster {cluster} ({}) was made {}, and this command points it {}: nothing was done",
                self.dir.display(),
                o.described("on"),
                origin.described("at")
            ))
            .with_help(match o {
                Origin::Emulator => format!(
                    "add --local to go on using it on the emulator; for real AWS use another cluster name or state dir (--cluster NAME, --state-dir DIR), or remove this one first with `groundup --local down --purge --cluster {cluster}`"
                ),
                Origin::Aws => format!(
                    "drop --local and --endpoint (and `unset AWS_ENDPOINT_URL`) to go on using it on AWS; for the emulator use another cluster name or state dir (--cluster NAME, --state-dir DIR), or delete the AWS resources first with `groundup down --cluster {cluster}`"
                ),
            })),
            _ => {
                self.data.insert(
                    ORIGIN_KEY.to_string(),
                    Value::String(origin.as_str().to_string()),
                );
                Ok(())
            }
        }
    }

    /// The cluster's directory (`<state-dir>/<cluster>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether writes are suppressed (plan mode).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// A value, if recorded.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// A string value, if recorded and non-empty.
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.data.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }

    /// Everything recorded.
    pub fn all(&self) -> &Map<String, Value> {
        &self.data
    }

    /// Records a value and saves the file.
    pub fn set(&mut self, key: &str, value: Value) -> Result<()> {
        if self.data.get(key) == Some(&value) {
            return Ok(());
        }
        self.data.insert(key.to_string(), value);
        self.save()
    }

    /// Records `value` under `object_key.key` (e.g. `nodes.master-0`).
    pub fn set_in(&mut self, object_key: &str, key: &str, value: Value) -> Result<()> {
        let entry = self
            .data
            .entry(object_key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(m) = entry {
            if m.get(key) == Some(&value) {
                return Ok(());
            }
            m.insert(key.to_string(), value);
        }
        self.save()
    }

    /// Records several `object_key.key` values with one save (none if
    /// nothing changed).
    pub fn set_many_in(
        &mut self,
        object_key: &str,
        entries: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<()> {
        let entry = self
            .data
            .entry(object_key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let mut changed = false;
        if let Value::Object(m) = entry {
            for (key, value) in entries {
                if m.get(&key) != Some(&value) {
                    m.insert(key, value);
                    changed = true;
                }
            }
        }
        if changed { self.save() } else { Ok(()) }
    }

    /// Forgets a value and saves the file.
    pub fn remove(&mut self, key: &str) -> Result<()> {
        if self.data.shift_remove(key).is_some() {
            self.save()?;
        }
        Ok(())
    }

    /// Forgets `object_key.key`.
    pub fn remove_in(&mut self, object_key: &str, key: &str) -> Result<()> {
        let removed = match self.data.get_mut(object_key) {
            Some(Value::Object(m)) => m.shift_remove(key).is_some(),
            _ => false,
        };
        if removed {
            self.save()?;
        }
        Ok(())
    }

    /// Writes the file atomically (temp file + rename), mode 0600.
    pub fn save(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        create_private_dir(&self.dir)?;
        let text = serde_json::to_string_pretty(&self.data)
            .map_err(|e| Error::state(format!("cannot encode state: {e}")))?;
        crate::durable::write_atomic(&self.path, text.as_bytes(), 0o600).map_err(|e| {
            Error::state(format!(
                "cannot write state file {}: {e}",
                self.path.display()
            ))
        })
    }
}

fn corrupt(path: &Path, why: &str) -> Error {
    Error::state(format!("state file {} is not valid: {why}", path.display())).with_help(
        "groundup has left it untouched. Fix it by hand, or move it away to start from the resources' tags (`groundup down` and `up` find resources by tag)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_atomically_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = State::open(tmp.path(), "c1", false).unwrap();
        s.set("vpc_id", Value::String("vpc-1".into())).unwrap();
        s.set_in(
            "nodes",
            "master-0",
            serde_json::json!({"ip": "172.31.0.10"}),
        )
        .unwrap();
        let mode = fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = State::open(tmp.path(), "c1", false).unwrap();
        assert_eq!(again.get_str("vpc_id").unwrap(), "vpc-1");
        assert_eq!(again.get("nodes").unwrap()["master-0"]["ip"], "172.31.0.10");
        // no temp files left behind
        let names: Vec<_> = fs::read_dir(s.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn set_many_in_writes_once_and_not_at_all_when_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = State::open(tmp.path(), "c1", false).unwrap();
        s.set("vpc_id", Value::String("vpc-1".into())).unwrap();
        let nodes = || {
            vec![
                (
                    "master-0".to_string(),
                    serde_json::json!({"ip": "172.31.0.10"}),
                ),
                (
                    "worker-0".to_string(),
                    serde_json::json!({"ip": "172.31.0.20"}),
                ),
            ]
        };
        s.set_many_in("nodes", nodes()).unwrap();
        let again = State::open(tmp.path(), "c1", false).unwrap();
        assert_eq!(again.get_str("vpc_id").unwrap(), "vpc-1");
        assert_eq!(again.get("nodes").unwrap()["worker-0"]["ip"], "172.31.0.20");
        assert_eq!(again.get("nodes").unwrap().as_object().unwrap().len(), 2);
        // Nothing changed: no write (the removed file is not recreated).
        fs::remove_file(s.path()).unwrap();
        s.set_many_in("nodes", nodes()).unwrap();
        assert!(!s.path().exists());
    }

    #[test]
    fn corrupt_state_is_an_error_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("c1")).unwrap();
        let p = tmp.path().join("c1/state.json");
        fs::write(&p, "{\"vpc_id\": ").unwrap();
        let e = State::open(tmp.path(), "c1", false).unwrap_err();
        assert!(e.message.starts_with("state file "), "{}", e.message);
        assert!(
            e.message.contains("is not valid: EOF while parsing"),
            "{}",
            e.message
        );
        assert_eq!(fs::read_to_string(&p).unwrap(), "{\"vpc_id\": ");
    }

    #[test]
    fn read_only_never_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = State::open(tmp.path(), "c1", true).unwrap();
        s.set("vpc_id", Value::String("vpc-1".into())).unwrap();
        assert!(!tmp.path().join("c1").exists());
    }

    #[test]
    fn state_made_on_one_origin_is_refused_on_the_other_and_the_way_out_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = State::open(tmp.path(), "c1", false).unwrap();
        s.claim_origin("c1", Origin::Emulator).unwrap();
        assert!(!s.path().exists(), "claiming writes nothing by itself");
        s.set("vpc_id", Value::String("vpc-1".into())).unwrap();
        let mut again = State::open(tmp.path(), "c1", false).unwrap();
        assert_eq!(again.get_str(ORIGIN_KEY).as_deref(), Some("emulator"));
        again.claim_origin("c1", Origin::Emulator).unwrap();
        let e = again.claim_origin("c1", Origin::Aws).unwrap_err();
        assert_eq!(e.kind, Kind::Usage);
        assert!(
            e.message.contains(
                "was made on a local AWS emulator, and this command points it at real AWS"
            ),
            "{}",
            e.message
        );
        assert!(e.help.as_deref().unwrap_or("").contains("add --local"));
        // The reverse.
        let mut aws = State::open(tmp.path(), "c2", false).unwrap();
        aws.claim_origin("c2", Origin::Aws).unwrap();
        aws.set("vpc_id", Value::String("vpc-2".into())).unwrap();
        let e = aws.claim_origin("c2", Origin::Emulator).unwrap_err();
        assert!(
            e.help.as_deref().unwrap_or("").contains("drop --local"),
            "{e:?}"
        );
    }

    #[test]
    fn an_emptied_or_old_state_takes_the_commands_origin() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = State::open(tmp.path(), "c1", false).unwrap();
        s.claim_origin("c1", Origin::Emulator).unwrap();
        s.set("vpc_id", Value::String("vpc-1".into())).unwrap();
        s.remove("vpc_id").unwrap();
        // Only the origin is left: nothing to mix up.
        s.claim_origin("c1", Origin::Aws).unwrap();
        // State written before origins were recorded takes the command's.
        let mut old = State::open(tmp.path(), "c3", false).unwrap();
        old.data
            .insert("vpc_id".into(), Value::String("vpc-3".into()));
        old.claim_origin("c3", Origin::Aws).unwrap();
        assert_eq!(old.get_str(ORIGIN_KEY).as_deref(), Some("aws"));
    }

    #[test]
    fn second_lock_is_busy() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = State::open(tmp.path(), "c1", false).unwrap();
        a.lock("c1").unwrap();
        let mut b = State::open(tmp.path(), "c1", false).unwrap();
        let e = b.lock("c1").unwrap_err();
        assert_eq!(
            e.message,
            format!("cluster c1 is busy (pid {})", std::process::id())
        );
    }
}
