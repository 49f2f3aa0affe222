//! `sync-homes` and `sync-homes:final`: the hub move's copies of the hub's home directories,
//! from the source cluster's share to the target's, with the `sync-homes` machinery
//! (`crate::sync_homes`: every top-level directory, parallel `rsync -aHAX --numeric-ids
//! --partial`, retries, a per-directory journal).
//!
//! The initial copy (at `setup`, while users still work) never deletes. The final copy (at
//! `cutover`, after the user pods are gone) copies every directory again — rsync sends only
//! what changed — with its own journal, so a resumed final copy skips only what it finished
//! itself; it deletes files gone from the source only when the operator asked (`--delete`).

use std::path::PathBuf;
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
        let state = mv.state_dir.clone().ok_or_else(|| {
            StepError::fatal(format!("step `{}` needs a state directory", step.id))
        })?;
        let mut journal = sh::journal_path(&state, &src, &dst);
        if last {
            journal = final_journal(journal);
        }
        Ok(SyncHomes {
            id: step.id.clone(),
            title: step.title.clone(),
            opts: Options {
                src,
                dst,
                parallel: mv.parallel.max(1),
                delete: last && mv.delete_homes,
                again: false,
                journal,
                backoff: sh::FIRST_BACKOFF,
            },
        })
    }

    fn command(&self) -> String {
        format!(
            "gitops-migrate sync-homes {} {} --parallel {}{}",
            self.opts.src,
            self.opts.dst,
            self.opts.parallel,
            if self.opts.delete { " --delete" } else { "" }
        )
    }
}

/// `<hash>-final.jsonl` beside the initial copy's `<hash>.jsonl`.
fn final_journal(initial: PathBuf) -> PathBuf {
    let stem = initial
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    initial.with_file_name(format!("{stem}-final.jsonl"))
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

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let entries = sh::list_entries(&self.opts.src)
            .map_err(|e| StepError::fatal(format!("cannot list {}: {e}", self.opts.src)))?;
        let (todo, skipped) =
            sh::plan(&self.opts, entries).map_err(|e| StepError::fatal(e.to_string()))?;
        if todo.is_empty() && !skipped.is_empty() {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "all {} entries of {} were copied by an earlier run",
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
                        format!(", {} done earlier", skipped.len())
                    }
                )],
            },
            commands: vec![self.command()],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let entries = sh::list_entries(&self.opts.src)
            .map_err(|e| StepError::fatal(format!("cannot list {}: {e}", self.opts.src)))?;
        let total = entries.len() as u64;
        let (todo, skipped) =
            sh::plan(&self.opts, entries).map_err(|e| StepError::fatal(e.to_string()))?;
        let mut done = skipped.len() as u64;
        let summary = sh::sync(&self.opts, &todo, skipped, |ev| match ev {
            Event::Done { dir, .. } => {
                done += 1;
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
            Event::Started { .. } => {}
        })
        .map_err(|e| StepError::fatal(e.to_string()))?;
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
                "copied {} ({}) from {} to {}{}; {} done earlier",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_copy_has_its_own_journal() {
        let p = final_journal(PathBuf::from("/s/sync-homes/00ab.jsonl"));
        assert_eq!(p, PathBuf::from("/s/sync-homes/00ab-final.jsonl"));
    }
}
