//! `sync-homes`: copy a hub's home directories (one directory per user, plus `_shared`,
//! `_shared-public` and whatever else is at the top level) from SRC to DST with parallel
//! rsync processes, one per top-level entry, resumable per entry.
//!
//! Owns: parsing SRC/DST (a local path or `host:path`, the transport being rsync's own ssh,
//! or the remote shell named by `RSYNC_RSH`, which our own `ssh host mkdir -p` also uses),
//! enumerating SRC's top-level entries (`read_dir` locally, `rsync --list-only host:path/`
//! remotely), the activity filter (`--active-within` from the hub database or the JupyterHub
//! API, with kubespawner's legacy username escaping), the worker pool of rsync processes with
//! retries, and the per-run journal (`<state>/sync-homes/<hash of SRC+DST>.jsonl`, JSON lines:
//! `run-start`, `done`, `failed`, `run-end`) that lets a rerun skip finished entries.
//! Does not own: printing (the CLI turns [`Event`]s into progress and a summary).
//!
//! It avoids the defects of the seed's helper script (see `DOMAIN-hub-move.md`): every page
//! of the users API is read (the script dropped the last one, so a hub with ≤ 200 users synced
//! nobody); one missing or failing directory is reported and the rest completes; everything is
//! copied by default (`_shared` too); `--delete` only when asked; `-aHAX --numeric-ids` keeps
//! times, permissions, hard links, ACLs, xattrs and uids.
//!
//! The hub database is read with the `sqlite3` command-line tool (`crate::sqlite`). Times are
//! compared in Rust (the same clock and parser for the database and the API).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::http::Http;
use crate::time::{parse_rfc3339, rfc3339};

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
            let o = Command::new("rsync")
                .arg("--list-only")
                .arg(src.dir())
                .stdin(Stdio::null())
                .output()
                .map_err(|e| SyncError::Input(format!("cannot run rsync: {e}")))?;
            if !o.status.success() {
                return Err(SyncError::Input(format!(
                    "cannot list {src}: {}",
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

/// Users active within `within`, from the hub's sqlite database (`users.last_activity`).
pub fn active_from_db(db: &Path, within: Duration) -> Result<Vec<String>, SyncError> {
    if !db.is_file() {
        return Err(SyncError::Input(format!(
            "{}: no such hub database",
            db.display()
        )));
    }
    let text = crate::sqlite::query(
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

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum JournalLine {
    RunStart {
        at: String,
        src: String,
        dst: String,
        pid: u32,
        again: bool,
        delete: bool,
    },
    Done {
        at: String,
        dir: String,
        bytes: u64,
        attempts: u32,
        duration_ms: u64,
    },
    Failed {
        at: String,
        dir: String,
        attempts: u32,
        error: String,
    },
    RunEnd {
        at: String,
        copied: usize,
        skipped: usize,
        failed: usize,
    },
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

/// `<state>/sync-homes/<hash of SRC and DST>.jsonl`.
pub fn journal_path(state_dir: &Path, src: &Location, dst: &Location) -> PathBuf {
    let key = format!("{src}\n{dst}");
    state_dir
        .join("sync-homes")
        .join(format!("{:016x}.jsonl", fnv1a(&key)))
}

/// The entries a journal says are finished (their last line is `done`); unreadable lines (a
/// torn last write) are ignored.
pub fn finished(journal: &Path) -> Result<BTreeSet<String>, SyncError> {
    let mut set = BTreeSet::new();
    let f = match File::open(journal) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(set),
        Err(e) => return Err(SyncError::Input(format!("{}: {e}", journal.display()))),
    };
    for line in BufReader::new(f).lines() {
        let line = line.map_err(|e| SyncError::Input(format!("{}: {e}", journal.display())))?;
        match serde_json::from_str::<JournalLine>(&line) {
            Ok(JournalLine::Done { dir, .. }) => {
                set.insert(dir);
            }
            Ok(JournalLine::Failed { dir, .. }) => {
                set.remove(&dir);
            }
            _ => {}
        }
    }
    Ok(set)
}

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub src: Location,
    pub dst: Location,
    pub parallel: usize,
    pub delete: bool,
    pub again: bool,
    /// The per-entry journal; `None` when the caller records the finished entries itself
    /// (the hub move's steps, in the runbook's journal).
    pub journal: Option<PathBuf>,
    pub backoff: Duration,
}

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
    Done {
        dir: String,
        bytes: u64,
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
}

/// The rsync arguments for one entry.
pub fn rsync_args(opts: &Options, e: &Entry) -> Vec<String> {
    let mut a: Vec<String> = ["-aHAX", "--numeric-ids", "--partial", "--stats"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if opts.delete {
        a.push("--delete".into());
    }
    if e.is_dir {
        a.push(opts.src.join(&e.name, true));
        a.push(opts.dst.join(&e.name, true));
    } else {
        a.push(opts.src.join(&e.name, false));
        a.push(opts.dst.dir());
    }
    a
}

/// Splits entries into those to copy and those finished in an earlier run.
pub fn plan(opts: &Options, entries: Vec<Entry>) -> Result<(Vec<Entry>, Vec<String>), SyncError> {
    let done = match (&opts.journal, opts.again) {
        (Some(journal), false) => finished(journal)?,
        _ => BTreeSet::new(),
    };
    let (skip, todo): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| done.contains(&e.name));
    Ok((todo, skip.into_iter().map(|e| e.name).collect()))
}

/// Bytes from rsync's `--stats`: `Total transferred file size: 1,234 bytes`.
pub fn stats_bytes(stdout: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Total transferred file size:"))
        .map(|r| {
            r.chars()
                .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == ' ')
                .filter(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

fn run_rsync(args: &[String]) -> Result<u64, String> {
    let o = Command::new("rsync")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run rsync: {e}"))?;
    if o.status.success() {
        return Ok(stats_bytes(&String::from_utf8_lossy(&o.stdout)));
    }
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    // The cause (`rsync: [sender] link_stat "…" failed: …`) comes before rsync's summary
    // (`rsync error: some files/attrs were not transferred (code 23)`): keep both.
    let mut shown: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("rsync: ") && !l.starts_with("rsync: connection unexpectedly"))
        .take(2)
        .copied()
        .collect();
    if let Some(last) = lines.last()
        && !shown.contains(last)
    {
        shown.push(last);
    }
    let tail = shown.join(" / ");
    Err(match o.status.code() {
        Some(c) => format!("rsync exited {c}: {tail}"),
        None => format!("rsync was killed: {tail}"),
    })
}

fn append(file: &mut Option<File>, line: &JournalLine) -> Result<(), SyncError> {
    let Some(file) = file else {
        return Ok(());
    };
    let mut s = serde_json::to_string(line).map_err(|e| SyncError::Failed(e.to_string()))?;
    s.push('\n');
    file.write_all(s.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| SyncError::Failed(format!("cannot write the journal: {e}")))
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
fn ensure_dst(dst: &Location) -> Result<(), SyncError> {
    match dst {
        Location::Local(p) => std::fs::create_dir_all(p)
            .map_err(|e| SyncError::Failed(format!("cannot create {}: {e}", p.display()))),
        Location::Remote { host, path } => {
            if path.is_empty() || path == "/" {
                return Ok(());
            }
            // The remote shell reads one command line: the path is quoted for it.
            let shell = remote_shell();
            let o = Command::new(&shell[0])
                .args(&shell[1..])
                .args([host.as_str(), "mkdir", "-p", "--", &shell_quote(path)])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| SyncError::Failed(format!("cannot run {}: {e}", shell[0])))?;
            if o.status.success() {
                Ok(())
            } else {
                Err(SyncError::Failed(format!(
                    "{} {host} mkdir -p {} failed: {}",
                    shell[0],
                    shell_quote(path),
                    String::from_utf8_lossy(&o.stderr).trim()
                )))
            }
        }
    }
}

/// Copies `todo` with `opts.parallel` rsync processes, recording each finished entry in the
/// journal; `on_event` is called on this thread. `skipped` are entries finished earlier.
pub fn sync(
    opts: &Options,
    todo: &[Entry],
    skipped: Vec<String>,
    mut on_event: impl FnMut(&Event),
) -> Result<Summary, SyncError> {
    ensure_dst(&opts.dst)?;
    let mut journal = match &opts.journal {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    SyncError::Failed(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| SyncError::Failed(format!("{}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let now = || rfc3339(SystemTime::now());
    append(
        &mut journal,
        &JournalLine::RunStart {
            at: now(),
            src: opts.src.to_string(),
            dst: opts.dst.to_string(),
            pid: std::process::id(),
            again: opts.again,
            delete: opts.delete,
        },
    )?;
    let mut summary = Summary {
        skipped,
        ..Summary::default()
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(Event, u32, u64)>();
    let workers = opts.parallel.max(1).min(todo.len().max(1));
    let mut journal_error = None;
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(e) = todo.get(i) else { break };
                    let _ = tx.send((
                        Event::Started {
                            dir: e.name.clone(),
                        },
                        0,
                        0,
                    ));
                    let args = rsync_args(opts, e);
                    let start = Instant::now();
                    let mut attempt = 1;
                    let mut wait = opts.backoff;
                    let ev = loop {
                        match run_rsync(&args) {
                            Ok(bytes) => {
                                break Event::Done {
                                    dir: e.name.clone(),
                                    bytes,
                                };
                            }
                            Err(error) if attempt <= RETRIES => {
                                let _ = tx.send((
                                    Event::Retry {
                                        dir: e.name.clone(),
                                        attempt,
                                        error,
                                    },
                                    0,
                                    0,
                                ));
                                std::thread::sleep(wait);
                                wait *= 2;
                                attempt += 1;
                            }
                            Err(error) => {
                                break Event::Failed {
                                    dir: e.name.clone(),
                                    error,
                                };
                            }
                        }
                    };
                    let ms = start.elapsed().as_millis() as u64;
                    let _ = tx.send((ev, attempt, ms));
                }
            });
        }
        drop(tx);
        for (ev, attempts, duration_ms) in rx {
            let line = match &ev {
                Event::Done { dir, bytes } => {
                    summary.copied.push(dir.clone());
                    summary.bytes += bytes;
                    Some(JournalLine::Done {
                        at: now(),
                        dir: dir.clone(),
                        bytes: *bytes,
                        attempts,
                        duration_ms,
                    })
                }
                Event::Failed { dir, error } => {
                    summary.failed.push((dir.clone(), error.clone()));
                    Some(JournalLine::Failed {
                        at: now(),
                        dir: dir.clone(),
                        attempts,
                        error: error.clone(),
                    })
                }
                _ => None,
            };
            if let Some(line) = line
                && journal_error.is_none()
                && let Err(e) = append(&mut journal, &line)
            {
                journal_error = Some(e);
            }
            on_event(&ev);
        }
    });
    if let Some(e) = journal_error {
        return Err(e);
    }
    summary.failed.sort();
    append(
        &mut journal,
        &JournalLine::RunEnd {
            at: now(),
            copied: summary.copied.len(),
            skipped: summary.skipped.len(),
            failed: summary.failed.len(),
        },
    )?;
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
    fn stats() {
        let out = "Number of files: 3\nTotal transferred file size: 1,234,567 bytes\n";
        assert_eq!(stats_bytes(out), 1_234_567);
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
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
