//! The copy of a hub's home directories (one directory per user, plus `_shared`,
//! `_shared-public` and whatever else is at the top level) from SRC to DST: the machinery of
//! the `sync-homes` step, which both the `sync-homes` command (a one-step runbook) and the hub
//! move's `sync-homes` and `sync-homes:final` run through the engine.
//!
//! Owns: parsing SRC/DST (a local path or `host:path`, the transport being rsync's own ssh,
//! or the remote shell named by `RSYNC_RSH`, which our own `ssh host mkdir -p` also uses),
//! enumerating SRC's top-level entries (`read_dir` locally, `rsync --list-only host:path/`
//! remotely), the activity filter (`--active-within` from the hub database or the JupyterHub
//! API, with kubespawner's legacy username escaping), and the copy: the entries in a few
//! batches, one rsync process each (`--files-from`; over ssh, one batch and so one login per
//! worker), what each rsync's itemized output and messages say about each entry (done,
//! failed, files vanished), retries of the failed entries alone, and the limits (rsync's
//! `--timeout`, ssh keepalives, a stalled rsync stopped). Does not own: the journal, the lock,
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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::http::Http;
use crate::runtime::clients::Sqlite;
use crate::runtime::interrupt;
use crate::runtime::process::{self, End, Limits};
use crate::time::parse_rfc3339;

/// How many times a failed entry is tried again, and the first wait (doubled each time).
pub const RETRIES: u32 = 2;
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

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
        Location::Remote { .. } => {
            let mut cmd = Command::new("rsync");
            cmd.arg("--list-only")
                .arg(format!("--timeout={}", IO_TIMEOUT.as_secs()))
                .arg("-e")
                .arg(remote_shell_with_keepalive().join(" "))
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

/// kubespawner's legacy escaping of a username (escapism with `[a-z0-9]` safe and `-` as the
/// escape character, then lower-cased): every other UTF-8 byte becomes `-xx`.
/// `user@2i2c.org` → `user-402i2c-2eorg`.
pub fn escape_username(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            out.push(b as char);
        } else {
            out.push_str(&format!("-{b:02x}"));
        }
    }
    out
}

/// The directory names a username may have: the escaping of the name as kubespawner does it
/// (upper-case letters escaped), then of the lower-cased name (JupyterHub normally lower-cases
/// names at login, when both are the same).
pub fn directory_candidates(name: &str) -> Vec<String> {
    let mut c = vec![escape_username(name)];
    let lower = escape_username(&name.to_lowercase());
    if lower != c[0] {
        c.push(lower);
    }
    c
}

/// `24h`, `7d`, `90m`, `30s`, `2w` (a whole number and a unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = s.get(..digits)?.parse().ok()?;
    let unit = match &s[digits..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(unit)?))
}

/// Whether a `last_activity` time (`2026-11-21T06:17:46.123Z` from the API, or the database's
/// naive UTC `2026-11-21 06:17:46.123456`) is within `within` of `now`.
pub fn active(last_activity: &str, now: SystemTime, within: Duration) -> bool {
    let t = last_activity.trim();
    let has_zone = t.ends_with(['Z', 'z']) || t.get(19..).is_some_and(|r| r.contains(['+', '-']));
    let parsed = if has_zone {
        parse_rfc3339(t)
    } else {
        parse_rfc3339(&format!("{t}Z"))
    };
    let Some(at) = parsed else {
        return false;
    };
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    now.saturating_sub(at) <= within
}

/// Users active within `within`, from the hub's sqlite database (`users.last_activity`),
/// read with `sqlite` (the operator's `sqlite3`, under its limit and the run's redactor).
pub fn active_from_db(
    sqlite: &Sqlite,
    db: &Path,
    within: Duration,
) -> Result<Vec<String>, SyncError> {
    if !db.is_file() {
        return Err(SyncError::Input(format!(
            "{}: no such hub database",
            db.display()
        )));
    }
    let text = sqlite
        .query(
            db,
            "SELECT name, last_activity FROM users WHERE last_activity IS NOT NULL;",
            true,
        )
        .map_err(SyncError::Input)?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    #[derive(Deserialize)]
    struct Row {
        name: String,
        last_activity: Option<serde_json::Value>,
    }
    let rows: Vec<Row> = serde_json::from_str(&text)
        .map_err(|e| SyncError::Input(format!("{}: unreadable answer: {e}", db.display())))?;
    let now = SystemTime::now();
    Ok(rows
        .into_iter()
        .filter(|r| {
            r.last_activity
                .as_ref()
                .and_then(|v| v.as_str())
                .is_some_and(|t| active(t, now, within))
        })
        .map(|r| r.name)
        .collect())
}

/// Users active within `within`, from the JupyterHub API (`GET /hub/api/users`), every page:
/// with the pagination media type the hub answers `{items, _pagination: {next}}` and the
/// `next` links are followed to the end; an older hub answers a plain list, read until an
/// empty page (a short page is not the end: the hub caps `limit`).
pub fn active_from_api(
    base: &str,
    token: &str,
    within: Duration,
) -> Result<Vec<String>, SyncError> {
    const LIMIT: usize = 200;
    let http = Http::new();
    let base = base.trim_end_matches('/');
    let root = base.strip_suffix("/hub/api").unwrap_or(base);
    let auth = format!("token {token}");
    let now = SystemTime::now();
    let mut names = Vec::new();
    let mut offset = 0usize;
    for _page in 0..100_000 {
        let url = format!("{root}/hub/api/users?offset={offset}&limit={LIMIT}");
        let reply = http
            .send(
                "GET",
                &url,
                &[
                    ("Authorization", auth.as_str()),
                    ("Accept", "application/jupyterhub-pagination+json"),
                ],
                None,
                "the JupyterHub API",
            )
            .map_err(|e| SyncError::Input(e.message.replace(token, "***")))?;
        if !(200..300).contains(&reply.status) {
            return Err(SyncError::Input(format!(
                "the JupyterHub API answered {} to GET {root}/hub/api/users (offset {offset})",
                reply.status
            )));
        }
        let v: serde_json::Value = serde_json::from_str(&reply.body).map_err(|e| {
            SyncError::Input(format!(
                "the JupyterHub API answered something else than JSON: {e}"
            ))
        })?;
        let (items, next) = match &v {
            serde_json::Value::Array(a) => (a.clone(), None),
            serde_json::Value::Object(o) => {
                let items = o
                    .get("items")
                    .and_then(|i| i.as_array())
                    .cloned()
                    .ok_or_else(|| {
                        SyncError::Input(
                            "the JupyterHub API answered an object without items".into(),
                        )
                    })?;
                let next = o
                    .get("_pagination")
                    .and_then(|p| p.get("next"))
                    .filter(|n| !n.is_null())
                    .map(|n| n.get("offset").and_then(|x| x.as_u64()));
                (items, Some(next))
            }
            _ => {
                return Err(SyncError::Input(
                    "the JupyterHub API answered neither a list nor a page".into(),
                ));
            }
        };
        let count = items.len();
        for u in items {
            let name = u.get("name").and_then(|n| n.as_str());
            let last = u.get("last_activity").and_then(|n| n.as_str());
            if let (Some(name), Some(last)) = (name, last)
                && active(last, now, within)
            {
                names.push(name.to_string());
            }
        }
        match next {
            // A page: follow `next` until there is none.
            Some(None) => return Ok(names),
            Some(Some(next_offset)) => {
                offset = match next_offset {
                    Some(o) => o as usize,
                    None => offset + count,
                };
                if count == 0 {
                    return Ok(names);
                }
            }
            // A plain list: until an empty page.
            None => {
                if count == 0 {
                    return Ok(names);
                }
                offset += count;
            }
        }
    }
    Err(SyncError::Input(
        "the JupyterHub API never stopped paging".into(),
    ))
}

/// Which entries to copy when filtering by activity: every active user's directory plus the
/// `_shared*` entries; also the active users that have no directory in SRC.
pub fn select_active(entries: &[Entry], users: &[String]) -> (Vec<Entry>, Vec<String>) {
    let present: BTreeMap<&str, &Entry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut keep: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.name.starts_with("_shared"))
        .map(|e| e.name.clone())
        .collect();
    let mut missing = Vec::new();
    for u in users {
        match directory_candidates(u)
            .into_iter()
            .find(|c| present.contains_key(c.as_str()))
        {
            Some(d) => {
                keep.insert(d);
            }
            None => missing.push(u.clone()),
        }
    }
    let selected = entries
        .iter()
        .filter(|e| keep.contains(&e.name))
        .cloned()
        .collect();
    (selected, missing)
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
    pub backoff: Duration,
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
/// `mkdir`; `None` when both sides are local.
fn remote_shell_with_keepalive() -> Vec<String> {
    let mut words = remote_shell();
    let is_ssh = Path::new(&words[0]).file_name().is_some_and(|n| n == "ssh");
    if is_ssh {
        words.splice(1..1, SSH_KEEPALIVE.iter().map(|s| s.to_string()));
    }
    words
}

/// The rsync arguments for a batch of entries (their names go to its standard input,
/// NUL-separated: `--files-from=- --from0`). Each line of output is `%i %l %n`: the itemized
/// change, the file's length and its path, which name the entry it belongs to.
pub fn rsync_args(opts: &Options) -> Vec<String> {
    let mut a: Vec<String> = [
        "-aHAX",
        "--numeric-ids",
        "--partial",
        "--stats",
        "-r",
        "--from0",
        "--files-from=-",
        "--out-format=%i %l %n",
        "--info=progress2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(format!("--timeout={}", opts.io_timeout.as_secs().max(1)));
    if opts.delete {
        a.push("--delete".into());
    }
    if matches!(opts.src, Location::Remote { .. }) || matches!(opts.dst, Location::Remote { .. }) {
        a.push("-e".into());
        a.push(remote_shell_with_keepalive().join(" "));
    }
    a.push(opts.src.dir());
    a.push(opts.dst.dir());
    a
}

/// The batches of entries, one rsync process each: one batch per worker, so a run starts as
/// few rsync processes (each a start, a handshake and its own scan) and, over ssh, as few
/// logins as it has workers. Locally a batch holds at most 256 entries: a run killed midway
/// loses at most the batches it was copying (their entries are checkpointed when their rsync
/// ends), so a very large tree is cut finer.
pub fn batches(opts: &Options, todo: &[Entry]) -> Vec<Vec<Entry>> {
    let workers = opts.parallel.max(1);
    let remote =
        matches!(opts.src, Location::Remote { .. }) || matches!(opts.dst, Location::Remote { .. });
    let size = if remote {
        todo.len().div_ceil(workers)
    } else {
        todo.len().div_ceil(workers).clamp(1, 256)
    };
    todo.chunks(size.max(1)).map(<[Entry]>::to_vec).collect()
}

/// What one rsync of a batch did to each of its entries.
#[derive(Debug, Default)]
struct BatchOutcome {
    done: Vec<(String, u64)>,
    warnings: Vec<(String, String)>,
    failed: Vec<(String, String)>,
    interrupted: bool,
}

/// The entry an rsync message is about: the first quoted path under SRC or DST
/// (`rsync: [sender] link_stat "/src/ghost" failed`, `file has vanished: "/src/a/x"`).
fn entry_of_message<'a>(
    line: &str,
    opts: &Options,
    names: &'a BTreeSet<String>,
) -> Option<&'a str> {
    let roots: Vec<String> = [&opts.src, &opts.dst]
        .iter()
        .map(|l| match l {
            Location::Local(p) => format!("{}/", p.display()),
            Location::Remote { path, .. } => format!("{}/", path.trim_end_matches('/')),
        })
        .collect();
    for quoted in line.split('"').skip(1).step_by(2) {
        for root in &roots {
            if let Some(rest) = quoted.strip_prefix(root.as_str()) {
                let rest = rest.trim_start_matches("./");
                let first = rest.split('/').next().unwrap_or_default();
                if let Some(n) = names.get(first) {
                    return Some(n.as_str());
                }
            }
        }
    }
    None
}

/// Bytes per entry from the `%i %l %n` lines (files sent: `>f`/`<f`).
fn bytes_by_entry(stdout: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in stdout.split(['\n', '\r']) {
        let mut parts = line.splitn(3, ' ');
        let (Some(flags), Some(len), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if flags.len() != 11 || !(flags.starts_with(">f") || flags.starts_with("<f")) {
            continue;
        }
        let Ok(len) = len.parse::<u64>() else {
            continue;
        };
        let top = path.split('/').next().unwrap_or_default().to_string();
        *m.entry(top).or_insert(0) += len;
    }
    m
}

/// rsync's own lines about what went wrong, without its summary line: the cause
/// (`rsync: [sender] link_stat "…" failed: …`) comes before the summary (`rsync error: some
/// files/attrs were not transferred (code 23)`).
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !l.starts_with("rsync: connection unexpectedly"))
        .collect()
}

/// Copies one batch with one rsync process.
fn run_batch(opts: &Options, batch: &[Entry]) -> BatchOutcome {
    let names: BTreeSet<String> = batch.iter().map(|e| e.name.clone()).collect();
    let mut list = Vec::new();
    for e in batch {
        list.extend_from_slice(e.name.as_bytes());
        list.push(0);
    }
    let mut out = BatchOutcome::default();
    let all_failed = |out: &mut BatchOutcome, why: String| {
        out.failed = batch
            .iter()
            .map(|e| (e.name.clone(), why.clone()))
            .collect();
    };
    let finished = match process::run(
        Command::new("rsync").args(rsync_args(opts)),
        Some(&list),
        Limits {
            total: None,
            silence: Some(opts.io_timeout.saturating_mul(2)),
        },
        None,
    ) {
        Ok(f) => f,
        Err(e) => {
            all_failed(&mut out, format!("cannot run rsync: {e}"));
            return out;
        }
    };
    let stdout = String::from_utf8_lossy(&finished.stdout);
    let stderr = String::from_utf8_lossy(&finished.stderr);
    let lines = error_lines(&stderr);
    let code = match &finished.end {
        End::Exited(s) => s.code(),
        End::Interrupted => {
            out.interrupted = true;
            return out;
        }
        _ => None,
    };
    let summary_of = |lines: &[&str]| {
        let mut shown: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with("rsync: ") || l.starts_with("file has vanished"))
            .take(2)
            .copied()
            .collect();
        if let Some(last) = lines.last()
            && !shown.contains(last)
        {
            shown.push(last);
        }
        shown.join(" / ")
    };
    match code {
        Some(0) => {}
        // Some files not transferred (23), or vanished (24): the messages name the entries;
        // the others are complete. A message that names no entry (an I/O error that made
        // rsync skip deletions) fails the whole batch.
        Some(c @ (23 | 24)) => {
            let mut per: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            let mut unnamed = Vec::new();
            for l in &lines {
                if l.starts_with("rsync error:") || l.starts_with("rsync warning:") {
                    continue;
                }
                match entry_of_message(l, opts, &names) {
                    Some(n) => per.entry(n).or_default().push(l),
                    None => unnamed.push(*l),
                }
            }
            if !unnamed.is_empty() {
                all_failed(
                    &mut out,
                    format!("rsync exited {c}: {}", summary_of(&lines)),
                );
                return out;
            }
            for (name, msgs) in per {
                let vanished_only = msgs.iter().all(|m| m.starts_with("file has vanished"));
                if vanished_only && opts.vanished == Vanished::Warn {
                    out.warnings.push((
                        name.to_string(),
                        format!(
                            "{} vanished during the copy (users still at work; the next copy catches up): {}",
                            crate::text::plural(msgs.len(), "file", "files"),
                            msgs[0]
                        ),
                    ));
                } else {
                    let mut m: Vec<&str> = msgs.iter().take(2).copied().collect();
                    if let Some(last) = lines.last()
                        && !m.contains(last)
                    {
                        m.push(last);
                    }
                    let why = if vanished_only {
                        format!(
                            "rsync exited {c}: files vanished during the final copy (is something still writing?): {}",
                            m.join(" / ")
                        )
                    } else {
                        format!("rsync exited {c}: {}", m.join(" / "))
                    };
                    out.failed.push((name.to_string(), why));
                }
            }
        }
        _ => {
            let why = match (&finished.end, code) {
                (End::Stalled(_) | End::TimedOut(_), _) => format!(
                    "rsync {}{}",
                    finished.describe(),
                    if lines.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", summary_of(&lines))
                    }
                ),
                (_, Some(c)) => format!("rsync exited {c}: {}", summary_of(&lines)),
                (_, None) => format!("rsync {}: {}", finished.describe(), summary_of(&lines)),
            };
            all_failed(&mut out, why);
            return out;
        }
    }
    let bytes = bytes_by_entry(&stdout);
    let failed: BTreeSet<&str> = out.failed.iter().map(|(n, _)| n.as_str()).collect();
    out.done = batch
        .iter()
        .filter(|e| !failed.contains(e.name.as_str()))
        .map(|e| (e.name.clone(), bytes.get(&e.name).copied().unwrap_or(0)))
        .collect();
    out
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

/// `'text'` for a POSIX shell (a `'` becomes `'\''`).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The remote shell rsync uses: `RSYNC_RSH` (words split at spaces), else `ssh`.
fn remote_shell() -> Vec<String> {
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

/// Creates DST when it is missing (locally, or with `ssh host mkdir -p`).
fn ensure_dst(dst: &Location, io_timeout: Duration) -> Result<(), SyncError> {
    match dst {
        Location::Local(p) => std::fs::create_dir_all(p)
            .map_err(|e| SyncError::Failed(format!("cannot create {}: {e}", p.display()))),
        Location::Remote { host, path } => {
            if path.is_empty() || path == "/" {
                return Ok(());
            }
            // The remote shell reads one command line: the path is quoted for it.
            let shell = remote_shell_with_keepalive();
            let o = process::run(
                Command::new(&shell[0]).args(&shell[1..]).args([
                    host.as_str(),
                    "mkdir",
                    "-p",
                    "--",
                    &shell_quote(path),
                ]),
                None,
                Limits::within(io_timeout),
                None,
            )
            .map_err(|e| SyncError::Failed(format!("cannot run {}: {e}", shell[0])))?;
            if o.success() {
                Ok(())
            } else {
                Err(SyncError::Failed(format!(
                    "{} {host} mkdir -p {} {}: {}",
                    shell[0],
                    shell_quote(path),
                    match o.end {
                        End::Exited(_) => "failed".to_string(),
                        _ => o.describe(),
                    },
                    String::from_utf8_lossy(&o.stderr).trim()
                )))
            }
        }
    }
}

/// What a worker tells the collecting thread.
type Message = Event;

/// Copies the entries of one batch, retrying the ones that failed (alone, in a smaller
/// batch) with backoff. `false` when interrupted.
fn copy_batch(opts: &Options, batch: Vec<Entry>, tx: &mpsc::Sender<Message>) -> bool {
    let mut left = batch;
    let mut attempt = 1;
    let mut wait = opts.backoff;
    loop {
        for e in &left {
            let _ = tx.send(Event::Started {
                dir: e.name.clone(),
            });
        }
        let out = run_batch(opts, &left);
        for (dir, message) in out.warnings {
            let _ = tx.send(Event::Warning { dir, message });
        }
        if !out.done.is_empty() {
            let _ = tx.send(Event::Done { dirs: out.done });
        }
        if out.interrupted {
            return false;
        }
        if out.failed.is_empty() {
            return true;
        }
        if attempt <= RETRIES && !interrupt::requested() {
            for (dir, error) in &out.failed {
                let _ = tx.send(Event::Retry {
                    dir: dir.clone(),
                    attempt,
                    error: error.clone(),
                });
            }
            if !interrupt::sleep(wait) {
                return false;
            }
            wait *= 2;
            attempt += 1;
            let again: BTreeSet<&String> = out.failed.iter().map(|(d, _)| d).collect();
            left.retain(|e| again.contains(&e.name));
            continue;
        }
        for (dir, error) in out.failed {
            let _ = tx.send(Event::Failed { dir, error });
        }
        return !interrupt::requested();
    }
}

/// Copies `todo` in batches with `opts.parallel` rsync processes at a time; `on_event` is
/// called on this thread as entries finish (the caller journals them). `skipped` are entries
/// finished earlier.
pub fn sync(
    opts: &Options,
    todo: &[Entry],
    skipped: Vec<String>,
    mut on_event: impl FnMut(&Event),
) -> Result<Summary, SyncError> {
    ensure_dst(&opts.dst, opts.io_timeout)?;
    let mut summary = Summary {
        skipped,
        ..Summary::default()
    };
    let batches = batches(opts, todo);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Message>();
    let workers = opts.parallel.max(1).min(batches.len().max(1));
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, batches, interrupted) = (&next, &batches, &interrupted);
            s.spawn(move || {
                loop {
                    if interrupt::requested() {
                        interrupted.store(true, Ordering::SeqCst);
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(batch) = batches.get(i) else { break };
                    if !copy_batch(opts, batch.clone(), &tx) {
                        interrupted.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            });
        }
        drop(tx);
        for ev in rx {
            match &ev {
                Event::Done { dirs } => {
                    for (dir, bytes) in dirs {
                        summary.copied.push(dir.clone());
                        summary.bytes += bytes;
                    }
                }
                Event::Failed { dir, error } => {
                    summary.failed.push((dir.clone(), error.clone()));
                }
                _ => {}
            }
            on_event(&ev);
        }
    });
    summary.interrupted = interrupted.load(Ordering::SeqCst);
    summary.failed.sort();
    Ok(summary)
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
mod tests {
    use super::*;

    #[test]
    fn remote_paths_are_quoted_for_the_remote_shell() {
        assert_eq!(shell_quote("/export/new dir"), "'/export/new dir'");
        assert_eq!(shell_quote("/x/$(reboot);*"), "'/x/$(reboot);*'");
        assert_eq!(shell_quote("/it's"), "'/it'\\''s'");
    }

    #[test]
    fn escapes_like_kubespawner() {
        assert_eq!(escape_username("user@2i2c.org"), "user-402i2c-2eorg");
        assert_eq!(escape_username("alice"), "alice");
        assert_eq!(escape_username("first.last"), "first-2elast");
        assert_eq!(escape_username("a-b_c"), "a-2db-5fc");
        assert_eq!(escape_username("é"), "-c3-a9");
        assert_eq!(escape_username("Bob"), "-42ob");
        assert_eq!(directory_candidates("Bob"), vec!["-42ob", "bob"]);
        assert_eq!(directory_candidates("bob"), vec!["bob"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("3y"), None);
    }

    #[test]
    fn activity_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_241_866); // 2026-11-21T06:17:46Z
        let day = Duration::from_secs(86_400);
        assert!(active("2026-11-21T05:00:00.123456Z", now, day));
        assert!(active("2026-11-20 07:00:00.123456", now, day));
        assert!(!active("2026-11-19 07:00:00", now, day));
        assert!(!active("yesterday", now, day));
    }

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("nfs:/export/hub/").unwrap(),
            Location::Remote {
                host: "nfs".into(),
                path: "/export/hub".into()
            }
        );
        assert!(matches!(
            Location::parse("./a:b").unwrap(),
            Location::Local(_)
        ));
        let r = Location::parse("u@h:/x").unwrap();
        assert_eq!(r.join("alice", true), "u@h:/x/alice/");
        assert_eq!(r.dir(), "u@h:/x/");
    }

    #[test]
    fn list_only_output() {
        let text = "drwxr-xr-x          4,096 2026/11/21 07:03:27 .\n\
                    drwxr-xr-x          4,096 2026/11/21 07:03:27 a b\n\
                    lrwxrwxrwx              3 2026/11/21 07:03:27 l -> x y\n\
                    -rw-r--r--              3 2026/11/21 07:03:27 f\n";
        assert_eq!(
            parse_list_only(text),
            vec![
                Entry {
                    name: "a b".into(),
                    is_dir: true
                },
                Entry {
                    name: "l".into(),
                    is_dir: false
                },
                Entry {
                    name: "f".into(),
                    is_dir: false
                },
            ]
        );
    }

    #[test]
    fn itemized_output_and_messages_name_their_entries() {
        let out = "cd+++++++++ 4096 a/\n>f+++++++++ 2000 a/x y\n\r   2000 100%  (xfr#1)\r\
                   .d..t...... 4096 b/\n>f.st...... 30 b/c/d\n*deleting   0 b/old\n";
        let m = bytes_by_entry(out);
        assert_eq!(m.get("a"), Some(&2000));
        assert_eq!(m.get("b"), Some(&30));
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        let opts = Options {
            src: Location::Local("/srv/src".into()),
            dst: Location::Remote {
                host: "h".into(),
                path: "/x".into(),
            },
            parallel: 2,
            delete: false,
            backoff: Duration::ZERO,
            io_timeout: IO_TIMEOUT,
            vanished: Vanished::Warn,
        };
        let names: BTreeSet<String> = ["ghost", "a"].iter().map(|s| s.to_string()).collect();
        let said = r#"rsync: [sender] link_stat "/srv/src/ghost" failed: No such file (2)"#;
        assert_eq!(entry_of_message(said, &opts, &names), Some("ghost"));
        let said = r#"file has vanished: "/srv/src/./a/tmp/x""#;
        assert_eq!(entry_of_message(said, &opts, &names), Some("a"));
        let said = r#"rsync: [receiver] mkstemp "/x/a/.f.XYZ" failed: No space left (28)"#;
        assert_eq!(entry_of_message(said, &opts, &names), Some("a"));
        assert_eq!(
            entry_of_message(
                "IO error encountered -- skipping file deletion",
                &opts,
                &names
            ),
            None
        );
        let args = rsync_args(&opts);
        assert!(args.contains(&"--timeout=300".to_string()), "{args:?}");
        let e = args.iter().position(|a| a == "-e").unwrap();
        assert!(args[e + 1].contains("ServerAliveInterval=15"), "{args:?}");
        assert_eq!(args.last().unwrap(), "h:/x/");
        let todo: Vec<Entry> = (0..10)
            .map(|i| Entry {
                name: format!("u{i}"),
                is_dir: true,
            })
            .collect();
        assert_eq!(batches(&opts, &todo).len(), 2, "one per worker over ssh");
        let local = Options {
            dst: Location::Local("/d".into()),
            ..opts
        };
        assert_eq!(
            batches(&local, &todo).len(),
            2,
            "one per worker locally too"
        );
        let many: Vec<Entry> = (0..1000)
            .map(|i| Entry {
                name: format!("u{i}"),
                is_dir: true,
            })
            .collect();
        assert_eq!(
            batches(&local, &many).len(),
            4,
            "at most 256 entries a batch"
        );
    }

    #[test]
    fn active_selection() {
        let e = |n: &str| Entry {
            name: n.into(),
            is_dir: true,
        };
        let entries = vec![
            e("_shared"),
            e("_shared-public"),
            e("alice"),
            e("user-402i2c-2eorg"),
            e("zed"),
        ];
        let (sel, missing) = select_active(&entries, &["user@2i2c.org".into(), "ghost".into()]);
        let names: Vec<_> = sel.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["_shared", "_shared-public", "user-402i2c-2eorg"]
        );
        assert_eq!(missing, vec!["ghost"]);
    }
}
