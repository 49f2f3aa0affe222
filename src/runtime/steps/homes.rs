//! `sync-homes` and `sync-homes:final`: the hub move's copies of the hub's home directories,
//! from the source cluster's share to the target's, with the `sync-homes` machinery
//! (`crate::sync_homes`: every top-level directory, parallel `rsync -aHAX --numeric-ids
//! --partial`, retries).
//!
//! What is done is judged within the window run only: each directory copied is a checkpoint
//! in the runbook's journal (one journal, not two). A new window copies every directory again
//! — rsync sends only what changed since, so a cutover retried a week later catches the
//! changes of that week — and `--resume` copies only what the interrupted run of the window
//! had not finished. The initial copy (at `setup`, while users still work) never deletes; the
//! final copy (at `cutover`, after the user pods are gone) deletes files gone from the source
//! only when the operator asked (`--delete`).

use std::time::Duration;

use super::MoveEnv;
use crate::playbook::Step;
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::sync_homes::{self as sh, Event, Location, Options};

pub struct SyncHomes {
    id: String,
    title: String,
    opts: Options,
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
    pub fn new(step: &Step, mv: &MoveEnv, last: bool) -> Result<SyncHomes, StepError> {
        let src = homes(&step.id, &mv.source, "source")?.clone();
        let dst = homes(&step.id, &mv.target, "target")?.clone();
        if matches!(src, Location::Remote { .. }) && matches!(dst, Location::Remote { .. }) {
            return Err(StepError::fatal(format!(
                "step `{}`: {src} and {dst} are both remote; rsync copies between a local path and a remote one — run the window on one of the two file servers (or mount one share locally) and set its `homes` to the local path",
                step.id
            )));
        }
        Ok(SyncHomes {
            id: step.id.clone(),
            title: step.title.clone(),
            opts: Options {
                src,
                dst,
                parallel: mv.parallel.max(1),
                delete: last && mv.delete_homes,
                again: true,
                journal: None,
                backoff: sh::FIRST_BACKOFF,
                io_timeout: sh::IO_TIMEOUT,
                // Users still work during the initial copy; after they are stopped, a file
                // that vanishes means something still writes.
                vanished: if last {
                    sh::Vanished::Fail
                } else {
                    sh::Vanished::Warn
                },
            },
        })
    }

    /// What the step does, as a command: every directory copied again (`--again`).
    fn command(&self) -> String {
        format!(
            "gitops-migrate sync-homes {} {} --parallel {} --again{}",
            self.opts.src,
            self.opts.dst,
            self.opts.parallel,
            if self.opts.delete { " --delete" } else { "" }
        )
    }

    /// The entries to copy in this window, and those copied by an interrupted run of it.
    fn plan(&self, op: &dyn Operator) -> Result<(Vec<sh::Entry>, Vec<String>), StepError> {
        let entries = sh::list_entries(&self.opts.src)
            .map_err(|e| StepError::fatal(format!("cannot list {}: {e}", self.opts.src)))?;
        let done = op.checkpoints();
        let (skip, todo): (Vec<sh::Entry>, Vec<sh::Entry>) =
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
                    crate::text::plural(todo.len(), "entry", "entries"),
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} copied earlier in this window", skipped.len())
                    }
                )],
            },
            commands: vec![self.command()],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let (todo, skipped) = self.plan(op)?;
        let total = (todo.len() + skipped.len()) as u64;
        let mut done = skipped.len() as u64;
        let summary = sh::sync(&self.opts, &todo, skipped, |ev| match ev {
            Event::Done { dir, .. } => {
                done += 1;
                op.checkpoint(dir);
                op.progress(&self.id, done, total, dir);
            }
            Event::Failed { dir, error } => {
                done += 1;
                op.say(&format!("{dir}: {error}"));
                op.progress(&self.id, done, total, dir);
            }
            Event::Retry {
                dir,
                attempt,
                error,
            } => op.say(&format!(
                "{dir}: attempt {attempt} failed ({error}); retrying"
            )),
            Event::Warning { dir, message } => op.say(&format!("{dir}: warning: {message}")),
            Event::Started { .. } => {}
        })
        .map_err(|e| StepError::fatal(e.to_string()))?;
        if summary.interrupted {
            return Err(StepError::fatal(format!(
                "{}; {} of {total} entries copied and journaled, --resume copies the rest",
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
                "{} of {total} entries failed: {}; the others are copied and journaled, so --resume copies only what is left",
                summary.failed.len(),
                list.join("; ")
            )));
        }
        Ok(Outcome {
            touched: vec![format!("homes:{}", self.opts.dst)],
            summary: format!(
                "copied {} ({}) from {} to {}{}; {} copied earlier in this window",
                crate::text::plural(summary.copied.len(), "entry", "entries"),
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
