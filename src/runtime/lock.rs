//! The lock that keeps two runs of the same runbook on this machine apart: a file per
//! (playbook, stage, target) next to the journal, held with the kernel's file lock
//! (`File::try_lock`), holding the holder's pid, host, user and start time for messages.
//!
//! A second run refuses and names the holder. The kernel releases the lock when its process
//! ends, however it ends (a crash, `kill -9`), so there are no pid heuristics: a lock file
//! whose lock is free is not held, and what it still names is the run that was interrupted
//! (reported, so the operator knows to `--resume`). The file is removed when the `Lock` is
//! released (normal exit, errors, panics that unwind).
//!
//! One machine only: two operators, or one with two state directories, never see each other's
//! file. The cluster's `Lease` (`lease`) is what keeps them apart.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::journal::{host_name, user_name};
use crate::util::time::rfc3339;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    #[serde(default)]
    pub user: String,
    /// RFC 3339, UTC.
    pub started: String,
    /// The run's id, when the holder is a window run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = if self.user.is_empty() {
            String::new()
        } else {
            format!("{} ", self.user)
        };
        write!(
            f,
            "{user}(pid {} on {}, since {})",
            self.pid, self.host, self.started
        )
    }
}

impl Holder {
    fn me(run: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            host: host_name(),
            user: user_name(),
            started: rfc3339(SystemTime::now()),
            run: run.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another run of this runbook is going on: {}; lock file {}",
        .holder.as_ref().map(ToString::to_string).unwrap_or_else(|| "(its holder is not written yet)".into()),
        path.display())]
    Held {
        holder: Option<Box<Holder>>,
        path: PathBuf,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    file: Option<File>,
    holder: Holder,
    /// The run the file still named when the lock was taken: one that ended without
    /// releasing it (interrupted).
    stale: Option<Holder>,
}

/// Whether `file` is still the file at `path` (not removed and replaced meanwhile).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Lock {
    /// Takes the lock at `path`, creating its directory.
    pub fn acquire(path: &Path) -> Result<Lock, LockError> {
        Lock::acquire_for(path, "")
    }

    /// Takes the lock at `path` for the run `run` (written in the file, so that the next run
    /// knows which run was interrupted when it finds the file left behind).
    pub fn acquire_for(path: &Path, run: &str) -> Result<Lock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        // A few rounds: the holder may release (and remove the file) between our open and our
        // lock; the lock then belongs to a file no longer at the path.
        for _ in 0..5 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(LockError::Held {
                        holder: serde_json::from_str(text.trim()).ok().map(Box::new),
                        path: path.to_path_buf(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(e)),
            }
            if !same_file(&file, path) {
                continue;
            }
            let mut text = String::new();
            file.read_to_string(&mut text).map_err(io)?;
            let stale = serde_json::from_str::<Holder>(text.trim()).ok();
            let me = Holder::me(run);
            let line = serde_json::to_string(&me).expect("a holder serializes");
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            file.write_all(format!("{line}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io)?;
            return Ok(Lock {
                path: path.to_path_buf(),
                file: Some(file),
                holder: me,
                stale,
            });
        }
        Err(LockError::Held {
            holder: None,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The run that held the lock before and ended without releasing it, if any.
    pub fn stale(&self) -> Option<&Holder> {
        self.stale.as_ref()
    }

    /// Removes the lock file and releases the lock (also done on drop).
    pub fn release(mut self) -> Result<(), LockError> {
        self.remove().map_err(|source| LockError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn remove(&mut self) -> std::io::Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        // Removed while still locked, so that a run waiting to take it opens the new file.
        let removed = if same_file(&file, &self.path) {
            match fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            Ok(())
        };
        drop(file);
        removed
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// Removes the lock file at `path` if it names this process (for a handler that exits the
/// process without unwinding; the kernel releases the lock itself when the process ends).
pub fn release_path(path: &Path) {
    if let Ok(text) = fs::read_to_string(path)
        && let Ok(h) = serde_json::from_str::<Holder>(text.trim())
        && h.pid == std::process::id()
        && h.host == host_name()
    {
        let _ = fs::remove_file(path);
    }
}
