//! The copy of a hub's home directories (one directory per user, plus `_shared`,
//! `_shared-public` and whatever else is at the top level) from SRC to DST: the machinery of
//! the `sync-homes` step, which both the `sync-homes` command (a one-step runbook) and the hub
//! move's `sync-homes` and `sync-homes:final` run through the engine.
//!
//! Owns: parsing SRC/DST (a local path or `host:path`, the transport being rsync's own ssh,
//! or the remote shell named by `RSYNC_RSH`, which our own login to a remote DST also uses),
//! enumerating SRC's top-level entries (`read_dir` locally, `rsync --list-only host:path/`
//! remotely), the activity filter (`--active-within` from the hub database or the JupyterHub
//! API, with kubespawner's legacy username escaping), and the copy: the entries in a few
//! batches, one rsync process each (the entries as arguments; over ssh, one batch per worker, all over
//! one shared connection: one login per run), what each rsync's itemized output and messages
//! say about each entry (done, failed, files vanished), retries of the failed entries alone,
//! and the limits (rsync's `--timeout`, ssh keepalives, a stalled rsync stopped). Does not own: the journal, the lock,
//! progress and the report (the engine's, through `steps::homes`), nor printing.
//!
//! It avoids the defects of the seed's helper script (see `DOMAIN-hub-move.md`): every page
//! of the users API is read (the script dropped the last one, so a hub with ≤ 200 users synced
//! nobody); one missing or failing directory is reported and the rest completes; everything is
//! copied by default (`_shared` too); `--delete` only when asked; `-aHAX --numeric-ids` keeps
//! times, permissions, hard links, ACLs, xattrs and uids.
//!
//! The hub database is read with the `sqlite3` command-line tool (`clients::sqlite`). Times are
//! compared in Rust (the same clock and parser for the database and the API).
//!
//! This file holds the locations, the listing of SRC, the options, events and summary of a
//! copy, and the remote shell; `active` is the activity filter, `copy` the batched rsync
//! processes and what their output says about each entry, `ssh` the run's shared ssh
//! connection.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::retry::RetryPolicy;
use crate::runtime::process::{self, Limits};

mod active;
mod copy;
pub mod ssh;

pub use active::*;
pub use copy::{batches, rsync_preview, sync};

/// The number of rsync processes at once when none is asked for: one per core, at most
/// four. Over ssh they share one login, so what an extra worker costs is CPU: on two cores
/// four workers copy a cached tree slower than two (see the README's figures); a share whose
/// latency limits the copy (NFS) may gain from more (`--parallel N`).
pub fn default_parallel() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1)
        .clamp(1, 4)
}

/// How a failed entry is tried again: twice more, alone, after about 1 s then 2 s (the one
/// retry policy, counting tries: one copy may take hours, so no time budget applies).
pub fn copy_retries() -> RetryPolicy {
    RetryPolicy {
        first: Duration::from_secs(1),
        budget: Duration::MAX,
        tries: Some(3),
        ..RetryPolicy::default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Failed(String),
}

/// A local path or `host:path` (rsync's rule: a `:` before the first `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote { host: String, path: String },
}

impl Location {
    pub fn parse(s: &str) -> Result<Location, SyncError> {
        if s.is_empty() {
            return Err(SyncError::Input("empty path".into()));
        }
        if let Some((host, path)) = s.split_once(':')
            && !host.contains('/')
        {
            if host.is_empty() {
                return Err(SyncError::Input(format!("{s}: no host before ':'")));
            }
            let path = path.trim_end_matches('/');
            return Ok(Location::Remote {
                host: host.to_string(),
                path: if path.is_empty() && s.ends_with(":/") {
                    "/".into()
                } else {
                    path.to_string()
                },
            });
        }
        let p = Path::new(s);
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        Ok(Location::Local(abs))
    }

    /// `base/name` as rsync reads it (`/` appended for a directory's contents).
    pub fn join(&self, name: &str, contents: bool) -> String {
        let slash = if contents { "/" } else { "" };
        match self {
            Location::Local(p) => format!("{}{slash}", p.join(name).display()),
            Location::Remote { host, path } => {
                let base = if path.is_empty() || path == "/" {
                    path.clone()
                } else {
                    format!("{path}/")
                };
                format!("{host}:{base}{name}{slash}")
            }
        }
    }

    /// The location itself as a directory (`…/`).
    pub fn dir(&self) -> String {
        match self {
            Location::Local(p) => format!("{}/", p.display()),
            Location::Remote { host, path } if path.is_empty() || path == "/" => {
                format!("{host}:{path}")
            }
            Location::Remote { host, path } => format!("{host}:{path}/"),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Remote { host, path } => write!(f, "{host}:{path}"),
        }
    }
}

/// One top-level entry of SRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// A directory (copied as `SRC/name/ DST/name/`); anything else is copied as itself.
    pub is_dir: bool,
}

/// Lists SRC's top-level entries, sorted by name.
pub fn list_entries(src: &Location) -> Result<Vec<Entry>, SyncError> {
    let mut out = Vec::new();
    match src {
        Location::Local(p) => {
            let rd = std::fs::read_dir(p)
                .map_err(|e| SyncError::Input(format!("cannot list {}: {e}", p.display())))?;
            for e in rd {
                let e = e.map_err(|e| SyncError::Input(format!("{}: {e}", p.display())))?;
                let Some(name) = e.file_name().to_str().map(str::to_string) else {
                    return Err(SyncError::Input(format!(
                        "{}: an entry's name is not UTF-8: {:?}",
                        p.display(),
                        e.file_name()
                    )));
                };
                let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                out.push(Entry { name, is_dir });
            }
        }
        Location::Remote { host, .. } => {
            let mut cmd = Command::new("rsync");
            cmd.arg("--list-only")
                .arg(format!("--timeout={}", IO_TIMEOUT.as_secs()))
                .arg("-e")
                .arg(remote_shell_for(Some(host), true).join(" "))
                .arg(src.dir());
            let o = process::run(&mut cmd, None, Limits::within(IO_TIMEOUT), None)
                .map_err(|e| SyncError::Input(format!("cannot run rsync: {e}")))?;
            if !o.success() {
                return Err(SyncError::Input(format!(
                    "cannot list {src}: rsync {}: {}",
                    o.describe(),
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
            out = parse_list_only(&String::from_utf8_lossy(&o.stdout));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Reads `rsync --list-only DIR/` output: `drwxr-xr-x  4,096 2026/11/21 07:03:27 name`
/// (symlinks end with ` -> target`); `.` is left out.
pub fn parse_list_only(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        let mut fields = Vec::new();
        for _ in 0..4 {
            rest = rest.trim_start();
            let end = rest.find(' ').unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = &rest[end..];
        }
        let Some(perms) = fields.first() else {
            continue;
        };
        let mut name = rest.strip_prefix(' ').unwrap_or(rest);
        if perms.starts_with('l')
            && let Some((n, _)) = name.split_once(" -> ")
        {
            name = n;
        }
        if name.is_empty() || name == "." || perms.len() != 10 {
            continue;
        }
        out.push(Entry {
            name: name.to_string(),
            is_dir: perms.starts_with('d'),
        });
    }
    out
}

/// 64-bit FNV-1a (stable across Rust versions, unlike `DefaultHasher`).
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The name of the `sync-homes` command's journal for a (SRC, DST) pair: a hash of both, so
/// that a rerun with the same two finds the entries its earlier runs copied.
pub fn journal_name(src: &Location, dst: &Location) -> String {
    format!("{:016x}", fnv1a(&format!("{src}\n{dst}")))
}

/// What a file vanishing from SRC during the copy (rsync's exit 24) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vanished {
    /// A warning: users still work during an initial copy; the next copy catches up.
    Warn,
    /// A failure of its directory: after the users are stopped (a final copy), something
    /// still writes.
    Fail,
}

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub src: Location,
    pub dst: Location,
    pub parallel: usize,
    pub delete: bool,
    /// How a failed entry is tried again (`copy_retries`).
    pub retry: RetryPolicy,
    /// rsync's `--timeout` (no data moving for this long ends the transfer); an rsync silent
    /// for twice as long (not even progress) is stopped as stalled.
    pub io_timeout: Duration,
    pub vanished: Vanished,
}

/// rsync's `--timeout` by default.
pub const IO_TIMEOUT: Duration = Duration::from_secs(300);

/// ssh keepalives: a connection that stops answering ends after 4 × 15 s instead of hanging
/// on a dead TCP stream.
pub const SSH_KEEPALIVE: [&str; 4] = [
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=4",
];

/// What happens while syncing, for the CLI to show.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        dir: String,
    },
    Retry {
        dir: String,
        attempt: u32,
        error: String,
    },
    /// Finished with something to say (files vanished during an initial copy).
    Warning {
        dir: String,
        message: String,
    },
    /// Entries one rsync finished (a batch, or what is left of it), with the bytes each sent:
    /// reported together so that they are journaled with one write.
    Done {
        dirs: Vec<(String, u64)>,
    },
    Failed {
        dir: String,
        error: String,
    },
}

/// The end of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub copied: Vec<String>,
    pub skipped: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub bytes: u64,
    /// Stopped by an interrupt: the entries neither copied nor failed are left for a rerun.
    pub interrupted: bool,
}

/// The remote shell with ssh's keepalives (when it is ssh), for rsync's `-e` and our own
/// `mkdir`; with `shared`, also the options that use the run's shared connection to `host`
/// when one is held (`ssh::share`).
fn remote_shell_for(host: Option<&str>, shared: bool) -> Vec<String> {
    let mut words = remote_shell();
    if ssh::is_ssh(&words) {
        let mut extra: Vec<String> = SSH_KEEPALIVE.iter().map(|s| s.to_string()).collect();
        if shared && let Some(h) = host {
            extra.extend(ssh::options(h, &words));
        }
        words.splice(1..1, extra);
    }
    words
}

/// The remote host of a copy (at most one side is remote).
fn remote_host<'a>(src: &'a Location, dst: &'a Location) -> Option<&'a str> {
    [src, dst].into_iter().find_map(|l| match l {
        Location::Remote { host, .. } => Some(host.as_str()),
        Location::Local(_) => None,
    })
}

/// The shared ssh connection for a copy from `src` to `dst`, held while the value lives: the
/// listing or the login to DST, and the workers' rsyncs of the run log in once (`ssh`). `None`
/// when both are local or the remote shell is not ssh.
pub fn share_connection(src: &Location, dst: &Location) -> Option<Arc<ssh::Shared>> {
    ssh::share(remote_host(src, dst)?, &remote_shell())
}

/// A command line as a POSIX shell reads it (words quoted when they need it), for display.
pub fn command_line(program: &str, args: &[String]) -> String {
    let mut words = vec![program.to_string()];
    words.extend(args.iter().map(|a| {
        let plain = !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=./:,@%+".contains(&b));
        if plain { a.clone() } else { shell_quote(a) }
    }));
    words.join(" ")
}

/// A remote path as one word for the remote shell: quoted, except a leading `~` or `~user`
/// (up to the first `/`), which the shell expands to a home directory as it does for rsync's
/// `host:~/path` and `host:~user/path`.
fn remote_path_word(path: &str) -> String {
    let (head, rest) = match path.split_once('/') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let is_home = head.starts_with('~')
        && head[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    match rest {
        _ if !is_home => shell_quote(path),
        None => head.to_string(),
        Some("") => format!("{head}/"),
        Some(r) => format!("{head}/{}", shell_quote(r)),
    }
}

/// `'text'` for a POSIX shell (a `'` becomes `'\''`).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The remote shell rsync uses: `RSYNC_RSH` (words split at spaces), else `ssh`.
pub(super) fn remote_shell() -> Vec<String> {
    let words: Vec<String> = std::env::var("RSYNC_RSH")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        vec!["ssh".to_string()]
    } else {
        words
    }
}

/// `1.2 GB` (powers of 1000).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests;
