//! Atomic file replacement, with the flush to disk batched.
//!
//! Every file groundup owns (the state file, keys, certificates,
//! kubeconfigs, the encryption config) is written the same way: the bytes go
//! to a temporary file in the same directory, created with the final mode
//! before its first byte, which is then renamed over the target. A process
//! that dies at any moment (Ctrl-C, `kill -9`, a panic) therefore leaves
//! either the old file or the new one, never a mix; both live in the
//! kernel's page cache, which outlives the process.
//!
//! Surviving a power cut or a kernel crash also needs the bytes on disk.
//! Flushing each file as it is written (an fsync of the file and of its
//! directory) cost two disk flushes per resource recorded and per file of
//! the PKI, most of a run's local time. Instead each write is remembered and
//! [`sync`] flushes them all at once, with one `syncfs(2)` per file system:
//! before the process exits, after each REPL input, and at the end of any
//! runbook step that ends a second or more after the oldest unflushed write
//! ([`sync_due`]; like a file system's journal commit interval). A power
//! cut can lose at most that last second and the step in progress, and
//! those converge on re-run: AWS resources are found again by their tags,
//! and a PKI file is re-made when it is missing or does not match. (The SSH
//! private key, whose loss would strand an AWS key pair, is flushed on its
//! own as soon as it is written.)

use std::collections::BTreeSet;
use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Directories with writes not yet flushed to disk, and when the oldest of
/// those writes was made.
static PENDING: Mutex<(BTreeSet<PathBuf>, Option<Instant>)> = Mutex::new((BTreeSet::new(), None));

/// How long a write may wait for [`sync_due`] to flush it.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Replaces `path` with `bytes` atomically; the file has `mode` (exactly,
/// whatever the umask) from its first byte. The directory must exist. The
/// write reaches the disk at the next [`sync`].
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(&dir)?;
    // The umask may have removed bits from `mode` (never added any): set the
    // exact mode on the still-empty file.
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(mut pending) = PENDING.lock() {
        pending.0.insert(dir);
        pending.1.get_or_insert_with(Instant::now);
    }
    Ok(())
}

/// [`sync`] if the oldest unflushed write is [`FLUSH_INTERVAL`] old or
/// older; else nothing (the next call, or the one at exit, flushes it).
pub fn sync_due() -> std::io::Result<()> {
    let due = PENDING
        .lock()
        .map(|p| p.1.is_some_and(|t| t.elapsed() >= FLUSH_INTERVAL))
        .unwrap_or(false);
    if due { sync() } else { Ok(()) }
}

/// Flushes every write made since the last call to disk: one `syncfs(2)`
/// per directory written (each file system is flushed whole, so the second
/// directory on the same one costs next to nothing). Returns at once when
/// nothing was written.
pub fn sync() -> std::io::Result<()> {
    let dirs = match PENDING.lock() {
        Ok(mut p) => {
            p.1 = None;
            std::mem::take(&mut p.0)
        }
        Err(_) => return Ok(()),
    };
    let mut first_err = None;
    for dir in dirs {
        // A directory removed since (a purged cluster) has nothing to flush.
        let Ok(d) = File::open(&dir) else { continue };
        if let Err(e) = rustix::fs::syncfs(&d) {
            first_err.get_or_insert(std::io::Error::from(e));
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn replaces_atomically_with_the_exact_mode_and_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k-key.pem");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, Permissions::from_mode(0o644)).unwrap();
        write_atomic(&p, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        sync().unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_and_no_file_appears() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/x");
        assert!(write_atomic(&p, b"x", 0o600).is_err());
        assert!(!p.exists());
    }
}
