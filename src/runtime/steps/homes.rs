//! The `sync-homes` step: a copy of home directories from SRC to DST with the machinery of
//! `runtime::homes` (every top-level entry, batches of entries per `rsync -aHAX --numeric-ids
//! --partial`, retries). It is the hub move's `sync-homes` and `sync-homes:final`, and the whole
//! runbook of the `sync-homes` command.
//!
//! Each entry copied is a checkpoint in the runbook's journal (one journal for both), and the
//! progress goes to the engine's renderer. What is done is judged within the window: a new
//! window copies every entry again — rsync sends only what changed since, so a cutover retried
//! a week later catches the changes of that week — and a run continuing the window copies
//! only what the earlier runs of it had not finished. The initial copy (at `setup`, while
//! users still work) never deletes and takes files vanishing during the copy as a warning;
//! the final copy (at `cutover`, after the user pods are gone) fails on them, and deletes
//! files gone from the source only when the operator asked (`--delete`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::MoveEnv;
use crate::playbook::Step;
use crate::runtime::homes::{self as sh, Entry, Event, Location, Options, Summary};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};

pub struct SyncHomes {
    id: String,
    title: String,
    opts: Options,
    /// The entries to copy, when the caller chose them (the activity filter); else every
    /// top-level entry of SRC, listed when the step runs.
    entries: Option<Vec<Entry>>,
    /// The equivalent command line, for previews and the report.
    command: String,
    /// The last run's summary, for a caller that prints its own (the `sync-homes` command).
    summary: Arc<Mutex<Option<Summary>>>,
}

/// The home directories of a side, or the error saying how to configure them.
fn homes<'a>(step: &str, side: &'a super::Side, what: &str) -> Result<&'a Location, StepError> {
    side.homes.as_ref().ok_or_else(|| {
        StepError::fatal(format!(
            "step `{step}` needs the {what} home directories: set `gitops-migrate config set clusters.{}.homes DIR` (the directory holding each hub's homes, a local path or host:path)",
            side.cluster
        ))
    })
}

impl SyncHomes {
    /// The hub move's step (`last`: the final copy of the cutover).
    pub fn new(step: &Step, mv: &MoveEnv, last: bool) -> Result<SyncHomes, StepError> {
        let src = homes(&step.id, &mv.source, "source")?.clone();
        let dst = homes(&step.id, &mv.target, "target")?.clone();
        if matches!(src, Location::Remote { .. }) && matches!(dst, Location::Remote { .. }) {
            return Err(StepError::fatal(format!(
                "step `{}`: {src} and {dst} are both remote; rsync copies between a local path and a remote one — run the window on one of the two file servers (or mount one share locally) and set its `homes` to the local path",
                step.id
            )));
        }
        let opts = Options {
            src,
            dst,
            parallel: mv.parallel.max(1),
            delete: last && mv.delete_homes,
            retry: sh::copy_retries(),
            io_timeout: sh::IO_TIMEOUT,
            // Users still work during the initial copy; after they are stopped, a file
            // that vanishes means something still writes.
            vanished: if last {
                sh::Vanished::Fail
            } else {
                sh::Vanished::Warn
            },
        };
        // What the step does, as a command: every directory copied again (`--again`).
        let command = format!(
            "gitops-migrate sync-homes {} {} --parallel {} --again{}{}",
            opts.src,
            opts.dst,
            opts.parallel,
            if last { " --final" } else { "" },
            if opts.delete { " --delete" } else { "" }
        );
        Ok(SyncHomes {
            id: step.id.clone(),
            title: step.title.clone(),
            opts,
            entries: None,
            command,
            summary: Arc::default(),
        })
    }

    /// The `sync-homes` command's one step: `entries` chosen by the caller, `command` its
    /// command line; the summary of the run is left in `summary`.
    pub fn command(
        opts: Options,
        entries: Vec<Entry>,
        command: String,
        summary: Arc<Mutex<Option<Summary>>>,
    ) -> SyncHomes {
        SyncHomes {
            id: "sync-homes".into(),
            title: format!(
                "copy the home directories from {} to {}",
                opts.src, opts.dst
            ),
            opts,
            entries: Some(entries),
            command,
            summary,
        }
    }

    /// The entries to copy in this window, and those copied by an earlier run of it.
    fn plan(&self, op: &dyn Operator) -> Result<(Vec<Entry>, Vec<String>), StepError> {
        let entries = match &self.entries {
            Some(e) => e.clone(),
            None => sh::list_entries(&self.opts.src)
                .map_err(|e| StepError::fatal(format!("cannot list {}: {e}", self.opts.src)))?,
        };
        let done = op.checkpoints();
        let (skip, todo): (Vec<Entry>, Vec<Entry>) =
            entries.into_iter().partition(|e| done.contains(&e.name));
        Ok((todo, skip.into_iter().map(|e| e.name).collect()))
    }
}

impl StepRunner for SyncHomes {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn destructive(&self) -> bool {
        self.opts.delete
    }

    fn timeout(&self) -> Duration {
        // Copies of large shares take hours; an interrupted copy resumes per directory.
        Duration::from_secs(48 * 3600)
    }

    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError> {
        let (todo, skipped) = self.plan(op)?;
        if todo.is_empty() && !skipped.is_empty() {
            *self.summary.lock().unwrap_or_else(|e| e.into_inner()) = Some(Summary {
                skipped: skipped.clone(),
                ..Summary::default()
            });
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "all {} entries of {} were copied in this window",
                        skipped.len(),
                        self.opts.src
                    ),
                },
                commands: Vec::new(),
            });
        }
        Ok(Preview {
            action: Action::Run {
                touches: vec![format!(
                    "homes:{} ({}{})",
                    self.opts.dst,
                    crate::util::text::plural(todo.len(), "entry", "entries"),
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} copied earlier in this window", skipped.len())
                    }
                )],
            },
            commands: vec![self.command.clone()],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        // One ssh login for the listing and the copy.
        let _connection = sh::share_connection(&self.opts.src, &self.opts.dst);
        let (todo, skipped) = self.plan(op)?;
        let total = (todo.len() + skipped.len()) as u64;
        let mut done = skipped.len() as u64;
        let mut bytes = 0;
        let summary = sh::sync(&self.opts, &todo, skipped, |ev| match ev {
            Event::Done { dirs } => {
                let names: Vec<&str> = dirs.iter().map(|(d, _)| d.as_str()).collect();
                op.checkpoint_all(&names);
                done += dirs.len() as u64;
                bytes += dirs.iter().map(|(_, b)| b).sum::<u64>();
                if let Some(last) = names.last() {
                    op.progress(
                        &self.id,
                        done,
                        total,
                        &format!("{} · {last}", sh::human_bytes(bytes)),
                    );
                }
            }
            Event::Failed { dir, error } => {
                done += 1;
                op.say(&format!("{dir}: FAILED: {error}"));
                op.progress(&self.id, done, total, dir);
            }
            Event::Retry {
                dir,
                attempt,
                error,
            } => op.say(&format!(
                "{dir}: attempt {attempt} failed, retrying: {error}"
            )),
            Event::Warning { dir, message } => op.say(&format!("warning: {dir}: {message}")),
            Event::Started { .. } => {}
        })
        .map_err(|e| StepError::fatal(e.to_string()))?;
        *self.summary.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary.clone());
        if summary.interrupted {
            return Err(StepError::fatal(format!(
                "{}; {} of {total} entries copied and journaled, the rest is left for the next run",
                crate::runtime::interrupt::stopped(),
                summary.copied.len() + summary.skipped.len()
            )));
        }
        if !summary.failed.is_empty() {
            let list: Vec<String> = summary
                .failed
                .iter()
                .map(|(d, e)| format!("{d} ({e})"))
                .collect();
            return Err(StepError::fatal(format!(
                "{} of {total} entries failed: {}; the others are copied and journaled, so the next run copies only what is left",
                summary.failed.len(),
                list.join("; ")
            )));
        }
        Ok(Outcome {
            touched: vec![format!("homes:{}", self.opts.dst)],
            summary: format!(
                "copied {} ({}) from {} to {}{}; {} copied earlier in this window",
                crate::util::text::plural(summary.copied.len(), "entry", "entries"),
                sh::human_bytes(summary.bytes),
                self.opts.src,
                self.opts.dst,
                if self.opts.delete {
                    " with --delete"
                } else {
                    ""
                },
                summary.skipped.len()
            ),
        })
    }
}
