//! The copy itself: the entries in batches, one rsync process each (the entries as its
//! arguments, or `--files-from` from a remote SRC; over ssh, one batch per worker, sessions
//! on the run's one connection), what each rsync's itemized output and messages say about
//! each entry (done, failed, files vanished), retries of the failed entries alone with
//! backoff, DST created first, and the limits (rsync's `--timeout`, a stalled rsync stopped,
//! an interrupt passed on).
//!
//! Owns: the rsync command lines and reading their results. Does not own: the listing and the
//! locations (`homes`), journaling what finished (the step, through the engine).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::{
    Entry, Event, Location, Options, SSH_KEEPALIVE, Summary, SyncError, Vanished, remote_host,
    remote_path_word, remote_shell_for, shell_quote,
};
use crate::retry::Retryable;
use crate::runtime::interrupt;
use crate::runtime::process::{self, End, Limits};

/// How a batch's entries reach rsync.
///
/// From a local SRC, as arguments (`SRC/a SRC/b … DST/`): rsync's sender walks each entry
/// the way it walks one tree. Read from `--files-from`, the same entries cost its sender
/// about 70% more system calls per file (strace on the benchmark's tree: 170,000 `stat`s
/// against 98,000), a third more time on a no-change rerun.
///
/// From a remote SRC, on standard input (`--files-from=- --from0`, NUL-separated): as
/// arguments, the names would cross the remote shell, where rsync leaves `*`, `?` and `[`
/// unescaped in file arguments so that they expand; the protocol carries any name as it is.
fn by_arguments(opts: &Options) -> bool {
    matches!(opts.src, Location::Local(_))
}

/// The most bytes of entry arguments one rsync gets (Linux allows 2 MiB of arguments and
/// environment in all): a batch that would pass it is split.
const ARGUMENT_BYTES: usize = 128 * 1024;

/// The options of every rsync of a copy, before the paths (`shared`: over the run's shared
/// ssh connection when one is held). Each line of output is `%i %l %n`: the itemized change,
/// the file's length and its path, which name the entry it belongs to.
fn rsync_options(opts: &Options, shared: bool) -> Vec<String> {
    let mut a: Vec<String> = [
        "-aHAX",
        "--numeric-ids",
        "--partial",
        "--stats",
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
    // Over ssh, a remote DST is made by rsync's remote command itself (no session of its
    // own); another remote shell may run commands without a shell (`kubectl exec`), and
    // makes DST first (`ensure_dst`).
    if let Location::Remote { path, .. } = &opts.dst
        && !(path.is_empty() || path == "/")
        && super::ssh::is_ssh(&super::remote_shell())
    {
        a.push(format!(
            "--rsync-path=mkdir -p -- {} && rsync",
            remote_path_word(path)
        ));
    }
    if matches!(opts.src, Location::Remote { .. }) || matches!(opts.dst, Location::Remote { .. }) {
        a.push("-e".into());
        a.push(remote_shell_for(remote_host(&opts.src, &opts.dst), shared).join(" "));
    }
    a
}

/// The paths of an rsync naming `names` (the entries as arguments, or `--files-from`), and
/// what goes on its standard input (the entries' names from a remote SRC, see `by_arguments`).
fn paths<'a>(
    opts: &Options,
    names: impl Iterator<Item = &'a str>,
) -> (Vec<String>, Option<Vec<u8>>) {
    let (mut a, input) = if by_arguments(opts) {
        (names.map(|n| opts.src.join(n, false)).collect(), None)
    } else {
        let mut list = Vec::new();
        for n in names {
            list.extend_from_slice(n.as_bytes());
            list.push(0);
        }
        let mut a: Vec<String> = ["-r", "--from0", "--files-from=-"].map(String::from).into();
        a.push(opts.src.dir());
        (a, Some(list))
    };
    a.push(opts.dst.dir());
    (a, input)
}

/// The rsync arguments for a batch (`shared`: over the run's shared ssh connection), and
/// what goes on its standard input.
pub(super) fn batch_command(
    opts: &Options,
    batch: &[Entry],
    shared: bool,
) -> (Vec<String>, Option<Vec<u8>>) {
    let mut a = rsync_options(opts, shared);
    let (p, input) = paths(opts, batch.iter().map(|e| e.name.as_str()));
    a.extend(p);
    (a, input)
}

/// The rsync command of a batch as shown (previews, `--dry-run`): without the shared ssh
/// connection's options, and with how the entries are given.
pub fn rsync_preview(opts: &Options) -> String {
    let mut a = rsync_options(opts, false);
    a.extend(paths(opts, std::iter::once("NAME")).0);
    let how = if by_arguments(opts) {
        "one such argument per entry"
    } else {
        "the entries' names on its standard input"
    };
    format!("{} ({how})", super::command_line("rsync", &a))
}

/// The batches of entries, one rsync process each (each a start, a handshake and its own
/// scan). Over ssh, one batch per worker, each a session on the run's shared connection.
/// Locally, two batches per worker (at most 256 entries each): a run killed midway loses at
/// most the batches it was copying (their entries are checkpointed when their rsync ends),
/// and the few extra processes cost milliseconds. Entries given as arguments split a batch
/// whose arguments would pass `ARGUMENT_BYTES`.
pub fn batches(opts: &Options, todo: &[Entry]) -> Vec<Vec<Entry>> {
    let workers = opts.parallel.max(1);
    let remote =
        matches!(opts.src, Location::Remote { .. }) || matches!(opts.dst, Location::Remote { .. });
    let size = if remote {
        todo.len().div_ceil(workers)
    } else {
        todo.len().div_ceil(workers * 2).clamp(1, 256)
    }
    .max(1);
    let cost = |e: &Entry| {
        if by_arguments(opts) {
            opts.src.join(&e.name, false).len() + 1
        } else {
            0
        }
    };
    let mut out: Vec<Vec<Entry>> = Vec::new();
    let mut bytes = 0;
    for e in todo {
        let c = cost(e);
        match out.last_mut() {
            Some(last) if last.len() < size && bytes + c <= ARGUMENT_BYTES => {
                last.push(e.clone());
                bytes += c;
            }
            _ => {
                out.push(vec![e.clone()]);
                bytes = c;
            }
        }
    }
    out
}

/// What one rsync of a batch did to each of its entries.
#[derive(Debug, Default)]
pub(super) struct BatchOutcome {
    done: Vec<(String, u64)>,
    warnings: Vec<(String, String)>,
    failed: Vec<(String, String)>,
    interrupted: bool,
}

/// The entry an rsync message is about: the first quoted path under SRC or DST
/// (`rsync: [sender] link_stat "/src/ghost" failed`, `file has vanished: "/src/a/x"`).
pub(super) fn entry_of_message<'a>(
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
pub(super) fn bytes_by_entry(stdout: &str) -> BTreeMap<String, u64> {
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
pub(super) fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !l.starts_with("rsync: connection unexpectedly"))
        .collect()
}

/// What an rsync's message lines say went wrong, in one line: two causes, then the summary
/// line (`rsync error: … (code 12)`). rsync's own (`rsync: …`, `file has vanished`) come
/// first; else the last lines before the summary, where what the remote side said comes
/// (`mkdir: cannot create directory …`), after whatever ssh printed first (a banner, a
/// warning).
pub(super) fn cause_summary(lines: &[&str]) -> String {
    let summary = |l: &&str| l.starts_with("rsync error:") || l.starts_with("rsync warning:");
    let own = |l: &&str| l.starts_with("rsync: ") || l.starts_with("file has vanished");
    let mut shown: Vec<&str> = lines.iter().filter(|l| own(l)).take(2).copied().collect();
    if shown.is_empty() {
        let others: Vec<&str> = lines.iter().filter(|l| !summary(l)).copied().collect();
        shown = others[others.len().saturating_sub(2)..].to_vec();
    }
    if let Some(last) = lines.last()
        && !shown.contains(last)
    {
        shown.push(last);
    }
    shown.join(" / ")
}

/// Copies one batch with one rsync process (`shared`: over the run's shared ssh connection).
pub(super) fn run_batch(opts: &Options, batch: &[Entry], shared: bool) -> BatchOutcome {
    let names: BTreeSet<String> = batch.iter().map(|e| e.name.clone()).collect();
    let (args, input) = batch_command(opts, batch, shared);
    let mut out = BatchOutcome::default();
    let all_failed = |out: &mut BatchOutcome, why: String| {
        out.failed = batch
            .iter()
            .map(|e| (e.name.clone(), why.clone()))
            .collect();
    };
    let finished = match process::run(
        Command::new("rsync").args(args),
        input.as_deref(),
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
    let summary_of = |lines: &[&str]| cause_summary(lines);
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
                            crate::util::text::plural(msgs.len(), "file", "files"),
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

/// Creates DST when it is missing, or for a remote DST proves the host answers before the
/// copy: over ssh, by logging in as the run's connection master (no remote command: each
/// rsync's remote command makes DST, `--rsync-path=mkdir -p -- DST && rsync`); through
/// another remote shell, with `mkdir -p` (its own login).
pub(super) fn ensure_dst(dst: &Location, io_timeout: Duration) -> Result<(), SyncError> {
    match dst {
        Location::Local(p) => std::fs::create_dir_all(p)
            .map_err(|e| SyncError::Failed(format!("cannot create {}: {e}", p.display()))),
        Location::Remote { host, path } => {
            if path.is_empty() || path == "/" {
                return Ok(());
            }
            let base = super::remote_shell();
            if let Some(opened) = super::ssh::open_master(host, &base, &SSH_KEEPALIVE, io_timeout) {
                return opened.map_err(|e| {
                    SyncError::Failed(format!(
                        "{} {host}: cannot log in to copy to {}: {e}",
                        base[0],
                        shell_quote(path)
                    ))
                });
            }
            // The remote shell reads one command line: the path is quoted for it.
            let shell = remote_shell_for(Some(host), true);
            let o = process::run(
                Command::new(&shell[0]).args(&shell[1..]).args([
                    host.as_str(),
                    "mkdir",
                    "-p",
                    "--",
                    &remote_path_word(path),
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
pub(super) type Message = Event;

/// A batch's attempt that left entries failed (or was interrupted), for the retry policy.
struct BatchFailed {
    failed: Vec<(String, String)>,
    interrupted: bool,
}

impl Retryable for BatchFailed {
    fn heals(&self) -> bool {
        !self.interrupted && !interrupt::requested()
    }
    fn spent(self, _tries: u32, _spent: Duration) -> Self {
        self
    }
}

/// Copies the entries of one batch, retrying the ones that failed (alone, in a smaller
/// batch) under `opts.retry`. `false` when interrupted. With `shared`, the first attempt
/// goes over the run's shared ssh connection and the retries log in on their own (a session
/// the server refused, or a master that went away, is not tried again).
pub(super) fn copy_batch(
    opts: &Options,
    batch: Vec<Entry>,
    shared: bool,
    tx: &mpsc::Sender<Message>,
) -> bool {
    let left = RefCell::new(batch);
    let attempt = Cell::new(0u32);
    let last_failed: RefCell<Vec<(String, String)>> = RefCell::new(Vec::new());
    let stopped = Cell::new(false);
    let tried = opts.retry.run_pausing(
        None,
        |pause| {
            for (dir, error) in last_failed.borrow().iter() {
                let _ = tx.send(Event::Retry {
                    dir: dir.clone(),
                    attempt: attempt.get(),
                    error: error.clone(),
                });
            }
            let slept = interrupt::sleep(pause);
            stopped.set(!slept);
            slept
        },
        || {
            attempt.set(attempt.get() + 1);
            let batch = left.borrow().clone();
            for e in &batch {
                let _ = tx.send(Event::Started {
                    dir: e.name.clone(),
                });
            }
            let out = run_batch(opts, &batch, shared && attempt.get() == 1);
            for (dir, message) in out.warnings {
                let _ = tx.send(Event::Warning { dir, message });
            }
            if !out.done.is_empty() {
                let _ = tx.send(Event::Done { dirs: out.done });
            }
            if out.interrupted {
                return Err(BatchFailed {
                    failed: Vec::new(),
                    interrupted: true,
                });
            }
            if out.failed.is_empty() {
                return Ok(());
            }
            let again: BTreeSet<&String> = out.failed.iter().map(|(d, _)| d).collect();
            left.borrow_mut().retain(|e| again.contains(&e.name));
            last_failed.replace(out.failed.clone());
            Err(BatchFailed {
                failed: out.failed,
                interrupted: false,
            })
        },
    );
    match tried {
        Ok(()) => true,
        // Interrupted in a copy or before the next try: the entries are left for the next
        // run, neither copied nor failed.
        Err(e) if e.interrupted || stopped.get() => false,
        Err(e) => {
            for (dir, error) in e.failed {
                let _ = tx.send(Event::Failed { dir, error });
            }
            !interrupt::requested()
        }
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
    // One ssh login for the run (the caller may already hold it, with the listing).
    let _connection = super::share_connection(&opts.src, &opts.dst);
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
        for w in 0..workers {
            let tx = tx.clone();
            let shared = w < super::ssh::SHARED_SESSIONS;
            let (next, batches, interrupted) = (&next, &batches, &interrupted);
            s.spawn(move || {
                loop {
                    if interrupt::requested() {
                        interrupted.store(true, Ordering::SeqCst);
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(batch) = batches.get(i) else { break };
                    if !copy_batch(opts, batch.clone(), shared, &tx) {
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
