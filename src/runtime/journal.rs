//! The journal of a runbook: one JSON-lines file per (playbook, stage, target) under the
//! user's state directory, recording every run's start and end, what the run proved before its
//! first change (notes), each step's start, retries, confirmations (who answered: the
//! operator, `--yes` or `--yes-manual`), checkpoints (a unit of a long step's work done, such
//! as one directory copied) and end (outcome, duration, what it touched).
//!
//! Runs belong to windows: a run without `--resume` starts a new window; `--resume` continues
//! the window of the last unfinished run. A step is finished only within its window
//! (`finished`, `checkpoints`): a new window redoes everything, so a cutover retried a week
//! later copies what changed since, instead of trusting an older run's record.
//!
//! Owns: where the journal lives (`$XDG_STATE_HOME/gitops-migrate/runs/<playbook>/<stage>/
//! <target>.jsonl`, else `~/.local/state/…`), appending with fsync, and reading it back
//! tolerantly: a crash in the middle of a write leaves a torn last line, which is ignored on
//! read and cut off before the next append. Does not own: what goes in a message — the engine
//! redacts every message before it gets here, and only ids, titles, touched objects and
//! messages are ever written (never a token or a generated secret).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndOutcome {
    /// It ran and succeeded.
    Done,
    /// Its preview found nothing to do.
    Skipped,
    /// It failed (after its retries).
    Failed,
    /// The operator said no at the confirmation.
    Declined,
    /// The run was interrupted (SIGINT, SIGTERM) while the step ran; `--resume` runs it again.
    Interrupted,
}

impl EndOutcome {
    /// Whether the step's work is finished (a later `--resume` does not run it again).
    pub fn is_success(self) -> bool {
        matches!(self, EndOutcome::Done | EndOutcome::Skipped)
    }

    pub fn name(self) -> &'static str {
        match self {
            EndOutcome::Done => "done",
            EndOutcome::Skipped => "skipped",
            EndOutcome::Failed => "failed",
            EndOutcome::Declined => "declined",
            EndOutcome::Interrupted => "interrupted",
        }
    }
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    /// A run begins.
    RunStart {
        at: String,
        run: String,
        pid: u32,
        host: String,
        user: String,
        /// `nublado enable-v3 --env idfdev`, with the selection flags.
        command: String,
        /// The window the run belongs to: its own id, or (with `--resume`) the window of the
        /// run it continues. Absent in older journals: the run's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<String>,
    },
    /// Something the run proved or was told before its first change (the merged commit, the
    /// cluster, the lease, `--allow-unmerged`).
    Note {
        at: String,
        run: String,
        text: String,
    },
    /// A question was answered.
    Confirm {
        at: String,
        run: String,
        step: String,
        /// `operator` (a person at the terminal), `--yes` or `--yes-manual`, or `no terminal`.
        by: String,
        answer: bool,
        /// The question's first line.
        question: String,
    },
    /// A unit of a step's work is done (`sync-homes`: one directory copied).
    Checkpoint {
        at: String,
        run: String,
        step: String,
        item: String,
    },
    /// A step begins.
    Start {
        at: String,
        run: String,
        step: String,
        title: String,
    },
    /// A retryable failure; the step is tried again after `wait_ms`.
    Retry {
        at: String,
        run: String,
        step: String,
        attempt: u32,
        error: String,
        wait_ms: u64,
    },
    /// A step ends.
    End {
        at: String,
        run: String,
        step: String,
        outcome: EndOutcome,
        duration_ms: u64,
        attempts: u32,
        #[serde(default)]
        touched: Vec<String>,
        /// The summary, the reason for a skip, or the error.
        message: String,
    },
    /// A run ends: `completed`, `failed`, `refused` or `timed-out`.
    RunEnd {
        at: String,
        run: String,
        result: String,
    },
}

impl Entry {
    /// The step an entry is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Entry::Start { step, .. } | Entry::Retry { step, .. } | Entry::End { step, .. } => {
                Some(step)
            }
            _ => None,
        }
    }

    /// The run an entry belongs to.
    pub fn run(&self) -> &str {
        match self {
            Entry::RunStart { run, .. }
            | Entry::Note { run, .. }
            | Entry::Confirm { run, .. }
            | Entry::Checkpoint { run, .. }
            | Entry::Start { run, .. }
            | Entry::Retry { run, .. }
            | Entry::End { run, .. }
            | Entry::RunEnd { run, .. } => run,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: not a journal entry ({message}); the journal was changed by hand or is damaged"
    )]
    Corrupt {
        path: String,
        line: usize,
        message: String,
    },
    #[error("no state directory: neither XDG_STATE_HOME nor HOME is set (use --state-dir DIR)")]
    NoStateDir,
}

/// The tool's state directory: `$XDG_STATE_HOME/gitops-migrate`, else
/// `~/.local/state/gitops-migrate`.
pub fn state_dir() -> Result<PathBuf, JournalError> {
    let nonempty = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(x) = nonempty(std::env::var_os("XDG_STATE_HOME")).filter(|p| p.is_absolute()) {
        return Ok(x.join("gitops-migrate"));
    }
    nonempty(std::env::var_os("HOME"))
        .map(|h| h.join(".local/state/gitops-migrate"))
        .ok_or(JournalError::NoStateDir)
}

/// Where the files of one runbook live: `<state>/runs/<playbook>/<stage>/<target>.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFiles {
    pub dir: PathBuf,
    pub target: String,
}

impl RunFiles {
    pub fn new(state_dir: &Path, playbook: &str, stage: &str, target: &str) -> RunFiles {
        RunFiles {
            dir: state_dir
                .join("runs")
                .join(safe_name(playbook))
                .join(safe_name(stage)),
            target: safe_name(target),
        }
    }

    /// The folder of this playbook and stage's runs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<target>.jsonl`.
    pub fn journal(&self) -> PathBuf {
        self.dir.join(format!("{}.jsonl", self.target))
    }

    /// `<target>.lock`.
    pub fn lock(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.target))
    }

    /// `<target>-<run>.md`, the report of one run.
    pub fn report(&self, run: &str) -> PathBuf {
        self.dir.join(format!("{}-{run}.md", self.target))
    }
}

/// A name usable as one path component (anything else becomes `_`).
fn safe_name(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() || t.chars().all(|c| c == '.') {
        "_".into()
    } else {
        t
    }
}

/// The journal of one runbook, read when opened and appended to as the run goes.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    entries: Vec<Entry>,
    /// Bytes of the file that hold whole lines; anything after is a torn last line.
    good_len: u64,
    /// The torn last line found on open, if any (cut off before the first append).
    torn: Option<String>,
    file: Option<File>,
}

impl Journal {
    /// Reads the journal at `path` (a missing file is an empty journal). Creates nothing:
    /// the file and its directory appear with the first append, so a dry run writes nothing.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let shown = path.display().to_string();
        let io = |source| JournalError::Io {
            path: shown.clone(),
            source,
        };
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(io)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let (entries, good_len, torn) = parse(&bytes, &shown)?;
        Ok(Journal {
            path: path.to_path_buf(),
            entries,
            good_len,
            torn,
            file: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The incomplete last line found on open (a crash mid-write), if any.
    pub fn torn_line(&self) -> Option<&str> {
        self.torn.as_deref()
    }

    /// The window of a run: the window its start names, else the run itself.
    pub fn window_of<'a>(&'a self, run: &'a str) -> &'a str {
        self.entries
            .iter()
            .find_map(|e| match e {
                Entry::RunStart {
                    run: r,
                    window: Some(w),
                    ..
                } if r == run => Some(w.as_str()),
                _ => None,
            })
            .unwrap_or(run)
    }

    /// The runs of a window.
    pub fn runs_of(&self, window: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::RunStart { run, .. } if self.window_of(run) == window => Some(run.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The last entry about `step` within `window`, when it is a successful end: the step is
    /// finished in that window.
    pub fn finished(&self, step: &str, window: &str) -> Option<&Entry> {
        let runs = self.runs_of(window);
        self.entries
            .iter()
            .rev()
            .filter(|e| runs.contains(&e.run()))
            .find(|e| e.step() == Some(step))
            .filter(|e| matches!(e, Entry::End { outcome, .. } if outcome.is_success()))
    }

    /// The items a step recorded done within `window` (`Checkpoint`).
    pub fn checkpoints(&self, step: &str, window: &str) -> std::collections::BTreeSet<String> {
        let runs = self.runs_of(window);
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Checkpoint {
                    run, step: s, item, ..
                } if s == step && runs.contains(&run.as_str()) => Some(item.clone()),
                _ => None,
            })
            .collect()
    }

    /// When `step` last finished with `done` in another window than `window` (its end time),
    /// if it ever did.
    pub fn done_in_another_window(&self, step: &str, window: &str) -> Option<String> {
        self.entries.iter().rev().find_map(|e| match e {
            Entry::End {
                at,
                run,
                step: s,
                outcome: EndOutcome::Done,
                ..
            } if s == step && self.window_of(run) != window => Some(at.clone()),
            _ => None,
        })
    }

    /// The last run, with its result (`None` for one that never ended: killed).
    pub fn last_run(&self) -> Option<(&str, Option<&str>)> {
        let start = self.entries.iter().rev().find_map(|e| match e {
            Entry::RunStart { run, .. } => Some(run.as_str()),
            _ => None,
        })?;
        let end = self.entries.iter().rev().find_map(|e| match e {
            Entry::RunEnd { run, result, .. } if run == start => Some(result.as_str()),
            _ => None,
        });
        Some((start, end))
    }

    /// The last run that began but never ended (killed), or ended without completing:
    /// its id and result (`None` for a run that was killed).
    pub fn unfinished_run(&self) -> Option<(&str, Option<&str>)> {
        self.last_run()
            .filter(|(_, result)| *result != Some("completed"))
    }

    /// Appends one entry and flushes it to disk (fsync) before returning.
    pub fn append(&mut self, entry: Entry) -> Result<(), JournalError> {
        self.append_all(vec![entry])
    }

    /// Appends entries with one write and one fsync (the checkpoints of a batch of work
    /// finished together: an fsync costs milliseconds, hundreds of them a second).
    pub fn append_all(&mut self, entries: Vec<Entry>) -> Result<(), JournalError> {
        if entries.is_empty() {
            return Ok(());
        }
        let shown = self.path.display().to_string();
        let io = |source| JournalError::Io {
            path: shown.clone(),
            source,
        };
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                fs::create_dir_all(dir).map_err(io)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .truncate(false)
                .open(&self.path)
                .map_err(io)?;
            // Cut off a torn last line (or anything written after what was read) so that the
            // next entry starts on a line of its own.
            let len = file.metadata().map_err(io)?.len();
            if len != self.good_len {
                file.set_len(self.good_len).map_err(io)?;
                file.sync_all().map_err(io)?;
            }
            self.torn = None;
            self.file = Some(file);
        }
        let mut lines = String::new();
        for entry in &entries {
            lines.push_str(&serde_json::to_string(entry).expect("journal entries serialize"));
            lines.push('\n');
        }
        let file = self.file.as_mut().expect("opened above");
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(self.good_len))
            .map_err(io)?;
        file.write_all(lines.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        self.good_len += lines.len() as u64;
        self.entries.extend(entries);
        Ok(())
    }
}

/// Appends one entry to the journal file at `path` without reading it (for a watchdog that
/// must record a timeout while the engine holds the `Journal`).
pub fn append_to(path: &Path, entry: &Entry) -> Result<(), JournalError> {
    let io = |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = OpenOptions::new().append(true).open(path).map_err(io)?;
    let mut line = serde_json::to_string(entry).expect("journal entries serialize");
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Whole lines parse as entries; an incomplete or unreadable last line is a torn write and is
/// left out; any other bad line is an error.
fn parse(bytes: &[u8], shown: &str) -> Result<(Vec<Entry>, u64, Option<String>), JournalError> {
    let mut entries = Vec::new();
    let mut good = 0usize;
    let mut torn = None;
    let mut pos = 0usize;
    let mut line_no = 0usize;
    while pos < bytes.len() {
        line_no += 1;
        let (line, next, complete) = match bytes[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[pos..pos + i], pos + i + 1, true),
            None => (&bytes[pos..], bytes.len(), false),
        };
        let is_last = next >= bytes.len();
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            pos = next;
            if complete {
                good = pos;
            }
            continue;
        }
        match serde_json::from_str::<Entry>(&text) {
            Ok(e) if complete => {
                entries.push(e);
                good = next;
            }
            // A last line without its newline was cut short, even if it happens to parse.
            Ok(_) => torn = Some(text.into_owned()),
            Err(_) if is_last => torn = Some(text.into_owned()),
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: shown.to_string(),
                    line: line_no,
                    message: e.to_string(),
                });
            }
        }
        pos = next;
    }
    Ok((entries, good as u64, torn))
}

/// This machine's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let name = String::from_utf8_lossy(&buf[..end]).into_owned();
        if !name.is_empty() {
            return name;
        }
    }
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// The operator's user name.
pub fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_one_component() {
        assert_eq!(safe_name("idfdev"), "idfdev");
        assert_eq!(safe_name("../x"), ".._x");
        assert_eq!(safe_name(".."), "_");
        assert_eq!(safe_name("a/b"), "a_b");
    }

    #[test]
    fn entries_appended_together_are_whole_lines_in_order_after_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let cp = |item: &str| Entry::Checkpoint {
            at: "2026-11-21T06:17:46Z".into(),
            run: "r1".into(),
            step: "sync-homes".into(),
            item: item.into(),
        };
        let mut j = Journal::open(&path).unwrap();
        j.append(cp("first")).unwrap();
        // A write cut off mid-line (a crash): the next append starts after the last whole line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"event\":\"checkpo")
            .unwrap();
        let mut j = Journal::open(&path).unwrap();
        j.append_all(vec![cp("a"), cp("b"), cp("c")]).unwrap();
        j.append_all(Vec::new()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        let again = Journal::open(&path).unwrap();
        let items: Vec<&str> = again
            .entries()
            .iter()
            .filter_map(|e| match e {
                Entry::Checkpoint { item, .. } => Some(item.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(items, ["first", "a", "b", "c"]);
    }
}
