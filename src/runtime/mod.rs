//! The runbook engine for maintenance windows (`exec`): a runbook is an ordered list of named,
//! idempotent steps; the engine previews them (dry run), asks before destructive ones (and a
//! person for manual ones), proves before the first change that it is on the right cluster,
//! at the merged revision and alone, journals every start, answer and end, resumes within a
//! window, locks against a second run on this machine and leases the cluster against a second
//! operator anywhere, retries with backoff under a timeout that counts the machine's time (not
//! the person's), shows progress and ends with a report.
//!
//! Owns: the `StepRunner` trait every step implements, the `Operator` a step talks to, and the
//! engine's modules (`engine`, `journal`, `lock`, `lease`, `report`). The steps themselves
//! (`steps`) talk to the cluster and services through clients behind traits (`clients`), so
//! tests point them at doubles over real sockets.

pub mod clients;
pub mod engine;
pub mod homes;
pub mod interrupt;
pub mod journal;
pub mod lease;
pub mod lock;
pub mod process;
pub mod report;
pub mod run;
pub mod step_time;
pub mod steps;
pub mod wiring;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a step would do, found with read calls only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// The step would run and touch these objects (`namespace/nublado2-alice`,
    /// `flock/firefighter`, `application/nublado`, …).
    Run { touches: Vec<String> },
    /// Nothing to do, and why (already stopped, already gone, …).
    Skip { reason: String },
}

/// A step's preview: what it would do, and the equivalent commands an operator would type
/// (`kubectl delete ns nublado2-alice`, `curl -X DELETE …/mobu/flocks/firefighter`, …), with
/// secrets left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub action: Action,
    pub commands: Vec<String>,
}

/// What a step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The objects it changed.
    pub touched: Vec<String>,
    /// One line for the report.
    pub summary: String,
}

/// Why a step failed. `retryable` errors are retried with backoff until the step's timeout.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    pub retryable: bool,
}

impl StepError {
    pub fn fatal(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: false,
        }
    }

    pub fn retry(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: true,
        }
    }
}

/// A client's error, as the step's: retryable only when it can heal and no retry loop has
/// already spent its budget on it.
impl From<crate::http::ClientError> for StepError {
    fn from(e: crate::http::ClientError) -> Self {
        StepError {
            retryable: e.retryable(),
            message: e.message,
        }
    }
}

/// How a step talks to the operator and the engine: questions, progress, and what the
/// journal knows of its work in this window. The terminal implementation prompts on the
/// terminal (`/dev/tty`); the engine answers `--yes` and `--yes-manual`, and records every
/// answer.
pub trait Operator {
    /// Asks before a destructive action; `false` stops the run. `--yes` answers it.
    fn confirm(&mut self, question: &str) -> bool;
    /// Asks a person to confirm what only a person can check or do (a manual step, a DNS
    /// record set at the provider, the identity of a cluster). `--yes` never answers it;
    /// `--yes-manual` does.
    fn verify(&mut self, question: &str) -> bool {
        self.confirm(question)
    }
    /// Reports progress of a long step (`done` of `total`, with a short message).
    fn progress(&mut self, step: &str, done: u64, total: u64, message: &str);
    /// A line of information.
    fn say(&mut self, line: &str);
    /// Records, in the journal of this window, that a unit of the step's work is done (one
    /// directory copied), so that a resumed window does not redo it.
    fn checkpoint(&mut self, _item: &str) {}
    /// Records several units done together (one journal write for all of them).
    fn checkpoint_all(&mut self, items: &[&str]) {
        for item in items {
            self.checkpoint(item);
        }
    }
    /// The units of this step recorded done in this window (by an interrupted run of it).
    fn checkpoints(&self) -> std::collections::BTreeSet<String> {
        std::collections::BTreeSet::new()
    }
    /// When this step last finished in an earlier window (`2026-11-21T06:17:46Z`), if it did:
    /// a step whose work must not be redone blindly (the hub database) asks about it.
    fn done_in_earlier_window(&self) -> Option<String> {
        None
    }
}

/// One step of a runbook. Steps are idempotent: running one whose work is already done
/// reports a skip or succeeds without changing anything.
pub trait StepRunner {
    /// Stable id, as in the plan: `delete-lab-namespaces:nublado2`.
    fn id(&self) -> &str;
    fn title(&self) -> String;
    /// Whether the step deletes or stops something (the engine asks first).
    fn destructive(&self) -> bool {
        false
    }
    /// Whether the step mutates anything at all (the run proves where it is, and takes the
    /// lease, before the first one that does).
    fn mutates(&self) -> bool {
        true
    }
    /// Whether the step is a person's work (a manual step): it waits for a person, so it has
    /// no watchdog, and without a terminal only `--yes-manual` runs it.
    fn needs_person(&self) -> bool {
        false
    }
    /// Read calls only: what the step would touch, or why it would be skipped.
    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError>;
    /// Does the work; may be called again after an interruption or a retryable failure.
    fn run(&self, preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError>;
    /// How long the step may take, retries included; the time spent waiting for a person's
    /// answer does not count.
    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }
}
