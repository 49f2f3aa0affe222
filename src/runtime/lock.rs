//! The lock that keeps two operators from running the same runbook at once: a file per
//! (playbook, stage, target) next to the journal, created exclusively (`O_EXCL`) and holding
//! the holder's pid, host, user and start time.
//!
//! A second run refuses and names the holder. A lock whose process is gone (same host, and
//! `kill(pid, 0)` says there is no such process) is stale: it is reported and taken over. A
//! lock from another host cannot be checked and is never taken over. The lock is removed when
//! the `Lock` is dropped (normal exit, errors, panics that unwind); after a crash or SIGKILL it
//! stays, and the next run finds it stale.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::journal::{host_name, rfc3339, user_name};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    #[serde(default)]
    pub user: String,
    /// RFC 3339, UTC.
    pub started: String,
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
    fn me() -> Holder {
        Holder {
            pid: std::process::id(),
            host: host_name(),
            user: user_name(),
            started: rfc3339(SystemTime::now()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another run of this runbook is going on: {holder}; lock file {}", path.display())]
    Held { holder: Holder, path: PathBuf },
    #[error(
        "{}: the lock file is unreadable ({reason}); if no run of this runbook is going on, remove it",
        path.display()
    )]
    Unreadable { path: PathBuf, reason: String },
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
    holder: Holder,
    /// The stale lock this one replaced, if any (for the operator to know).
    stale: Option<Holder>,
    released: bool,
}

impl Lock {
    /// Takes the lock at `path`, creating its directory; takes over a stale lock.
    pub fn acquire(path: &Path) -> Result<Lock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let me = Holder::me();
        let mut stale = None;
        // Two rounds: the second after removing a stale lock.
        for _ in 0..2 {
            match create(path, &me) {
                Ok(()) => {
                    return Ok(Lock {
                        path: path.to_path_buf(),
                        holder: me,
                        stale,
                        released: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
            let text = match fs::read_to_string(path) {
                Ok(t) => t,
                // Released between our attempt and the read: try again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            };
            let holder: Holder =
                serde_json::from_str(&text).map_err(|e| LockError::Unreadable {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            if !is_stale(&holder) {
                return Err(LockError::Held {
                    holder,
                    path: path.to_path_buf(),
                });
            }
            // Take over only the lock we judged stale: if it changed meanwhile, someone else
            // took it over first.
            if fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
                continue;
            }
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
            stale = Some(holder);
        }
        // Lost a race with another run taking over the same stale lock.
        let text = fs::read_to_string(path).map_err(io)?;
        match serde_json::from_str(&text) {
            Ok(holder) => Err(LockError::Held {
                holder,
                path: path.to_path_buf(),
            }),
            Err(e) => Err(LockError::Unreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The stale lock that was taken over, if any.
    pub fn stale(&self) -> Option<&Holder> {
        self.stale.as_ref()
    }

    /// Removes the lock file (also done on drop).
    pub fn release(mut self) -> Result<(), LockError> {
        self.released = true;
        remove_if_mine(&self.path, &self.holder).map_err(|source| LockError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.released {
            let _ = remove_if_mine(&self.path, &self.holder);
        }
    }
}

/// Removes the lock file at `path` if it is held by this process (for a handler that must
/// release the lock before the process exits without unwinding).
pub fn release_path(path: &Path) {
    if let Ok(text) = fs::read_to_string(path)
        && let Ok(h) = serde_json::from_str::<Holder>(&text)
        && h.pid == std::process::id()
        && h.host == host_name()
    {
        let _ = fs::remove_file(path);
    }
}

fn create(path: &Path, me: &Holder) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    let text = serde_json::to_string(me).expect("a holder serializes");
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

fn remove_if_mine(path: &Path, me: &Holder) -> std::io::Result<()> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match serde_json::from_str::<Holder>(&text) {
        Ok(h) if h == *me => fs::remove_file(path),
        _ => Ok(()),
    }
}

/// A lock is stale when it was taken on this host by a process that no longer exists.
pub fn is_stale(holder: &Holder) -> bool {
    holder.host == host_name() && !process_alive(holder.pid)
}

/// Whether a process with this pid exists on this host (`kill(pid, 0)`: success or EPERM
/// means it exists).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
