//! One ssh connection for a run: when the remote shell is OpenSSH's `ssh`, the run's first
//! connection to the remote host (the listing of a remote SRC, or for a remote DST a login
//! without a remote command, `open_master`) becomes a connection master
//! (`ControlMaster=auto`, `ControlPersist`), and every
//! later ssh of the run (the workers' rsyncs) opens a session on it instead of logging in
//! again: one login per run instead of one per worker.
//!
//! Owns: the run's control socket (in a private `0700` temporary directory with a short
//! path), the options that use it, and closing the master (`ssh -O exit`) when the last user
//! of the connection lets go — at the end of the run, on an error or after an interrupt
//! (the values are dropped on every way out). A master left behind by a run that was killed
//! outright exits on its own once idle (`ControlPersist` is a time). Does not own: the remote
//! shell itself and its keepalives (`homes`), nor the rsync command lines (`copy`).
//!
//! With another remote shell (`RSYNC_RSH` naming something else than ssh) nothing is shared:
//! every rsync logs in as before. A session the server refuses on the shared connection (its
//! `MaxSessions`, 10 by default, is why at most [`SHARED_SESSIONS`] workers share it) makes
//! that ssh log in on its own (`ControlMaster=auto` falls back to a connection of its own),
//! and a failed rsync's retry logs in on its own too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// At most this many workers use the shared connection at once (OpenSSH's server allows 10
/// sessions per connection by default); the others log in on their own.
pub const SHARED_SESSIONS: usize = 8;

/// How long an idle master outlives its last session when nobody closes it (a run killed
/// outright); a run closes it when it ends.
const PERSIST: Duration = Duration::from_secs(60);

/// The shared connection to one host, for as long as a value of it is held.
#[derive(Debug)]
pub struct Shared {
    host: String,
    /// The remote shell's words (`ssh -F config`), for `ssh -O exit`.
    shell: Vec<String>,
    socket: PathBuf,
    /// Holds the socket; removed when the connection is closed.
    _dir: tempfile::TempDir,
}

/// The connections held by this process, by host and remote shell.
static OPEN: Mutex<Vec<(String, Weak<Shared>)>> = Mutex::new(Vec::new());

fn key(host: &str, shell: &[String]) -> String {
    format!("{}\n{host}", shell.join(" "))
}

/// A directory for the control socket: private, short enough for a socket's path (about 100
/// bytes), without spaces (rsync splits `-e` at them) and without `%` (ssh expands it).
fn socket_dir() -> Option<tempfile::TempDir> {
    let usable = |p: &Path| {
        let s = p.display().to_string();
        s.len() <= 60 && !s.contains(char::is_whitespace) && !s.contains('%')
    };
    let tmp = std::env::temp_dir();
    let base = if usable(&tmp) {
        tmp
    } else {
        PathBuf::from("/tmp")
    };
    // tempfile creates the directory with mode 0700.
    tempfile::Builder::new()
        .prefix("gm-ssh.")
        .tempdir_in(base)
        .ok()
}

/// Is the remote shell OpenSSH's client?
pub(super) fn is_ssh(shell: &[String]) -> bool {
    shell
        .first()
        .is_some_and(|w| Path::new(w).file_name().is_some_and(|n| n == "ssh"))
}

/// The shared connection to `host` through `shell`: the one already held in this process, or
/// a new one (no connection is made here: the first ssh that uses it opens it). `None` when
/// the remote shell is not ssh or no private directory can be made.
pub fn share(host: &str, shell: &[String]) -> Option<Arc<Shared>> {
    if !is_ssh(shell) {
        return None;
    }
    let k = key(host, shell);
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|(_, w)| w.strong_count() > 0);
    if let Some(s) = open
        .iter()
        .find(|(o, _)| *o == k)
        .and_then(|(_, w)| w.upgrade())
    {
        return Some(s);
    }
    let dir = socket_dir()?;
    let shared = Arc::new(Shared {
        host: host.to_string(),
        shell: shell.to_vec(),
        socket: dir.path().join("c"),
        _dir: dir,
    });
    open.push((k, Arc::downgrade(&shared)));
    Some(shared)
}

/// The ssh options that use the connection held for `host` through `shell` (it is opened by
/// the first ssh that uses them); none when no connection is held.
pub(super) fn options(host: &str, shell: &[String]) -> Vec<String> {
    let k = key(host, shell);
    let open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = open
        .iter()
        .find(|(o, _)| *o == k)
        .and_then(|(_, w)| w.upgrade())
    else {
        return Vec::new();
    };
    vec![
        "-o".into(),
        format!("ControlPath={}", s.socket.display()),
        "-o".into(),
        "ControlMaster=auto".into(),
        "-o".into(),
        format!("ControlPersist={}", PERSIST.as_secs()),
    ]
}

impl Shared {
    /// The control socket (it exists while the master runs).
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

/// Logs in to `host` through `shell` (the remote shell's words; `extra`, options put before
/// its own: the keepalives) as the run's connection master, when a connection is held and
/// not open yet, without a remote command: no shell runs on the host (a session's shell may
/// read startup files that take longer than the copy of an unchanged tree). ssh returns
/// once logged in (`-f -N`), the master in the background with its standard streams on
/// `/dev/null`. `None` when no connection is held; the error is ssh's own message.
pub(super) fn open_master(
    host: &str,
    shell: &[String],
    extra: &[&str],
    limit: Duration,
) -> Option<Result<(), String>> {
    use crate::runtime::process::{self, End, Limits};
    let k = key(host, shell);
    let held = {
        let open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        open.iter()
            .filter(|(o, _)| *o == k)
            .find_map(|(_, w)| w.upgrade())
    }?;
    if held.socket.exists() {
        return Some(Ok(()));
    }
    let o = process::run(
        Command::new(&shell[0])
            .args(extra)
            .args(&shell[1..])
            .arg("-o")
            .arg(format!("ControlPath={}", held.socket.display()))
            .args(["-o", "ControlMaster=yes", "-o"])
            .arg(format!("ControlPersist={}", PERSIST.as_secs()))
            .args(["-f", "-N", host]),
        None,
        Limits::within(limit),
        None,
    );
    Some(match o {
        Err(e) => Err(format!("cannot run {}: {e}", shell[0])),
        Ok(o) if o.success() => Ok(()),
        Ok(o) => {
            let said = String::from_utf8_lossy(&o.stderr).trim().to_string();
            Err(match o.end {
                End::Exited(_) => said,
                _ => format!("{} {said}", o.describe()).trim_end().to_string(),
            })
        }
    })
}

impl Drop for Shared {
    fn drop(&mut self) {
        if !self.socket.exists() {
            return; // never opened, or already gone
        }
        // Not through `process::run`, which stops its child at once after an interrupt:
        // closing the master is what an interrupted run must still do.
        let child = Command::new(&self.shell[0])
            .args(&self.shell[1..])
            .arg("-o")
            .arg(format!("ControlPath={}", self.socket.display()))
            .args(["-O", "exit", self.host.as_str()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = child else { return };
        // A master that does not answer in time exits on its own once idle.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
