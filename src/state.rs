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
