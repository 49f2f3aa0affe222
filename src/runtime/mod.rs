//! The runbook engine for maintenance windows (`exec`): a runbook is an ordered list of named,
//! idempotent steps; the engine previews them (dry run), asks before destructive ones,
//! journals every start and end, resumes after the last finished step, locks against a second
//! operator, retries with backoff under a timeout, shows progress and ends with a report.
//!
//! Owns: the `StepRunner` trait every step implements, the run context, and the engine's
//! modules (`engine`, `journal`, `lock`, `report`). The steps themselves (`steps`) talk to the
//! cluster and services through clients behind traits (`clients`), so tests point them at
//! doubles over real sockets.

pub mod clients;
pub mod engine;
pub mod journal;
pub mod lock;
pub mod report;
pub mod steps;

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

/// How the engine talks to the operator: confirmations and progress. The terminal
/// implementation prompts on stdin; tests and `--yes` answer without asking.
pub trait Operator {
    /// Asks before a destructive step (or a manual one); `false` stops the run.
    fn confirm(&mut self, question: &str) -> bool;
    /// Reports progress of a long step (`done` of `total`, with a short message).
    fn progress(&mut self, step: &str, done: u64, total: u64, message: &str);
    /// A line of information.
    fn say(&mut self, line: &str);
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
    /// Whether the step mutates anything at all (the kube context is checked before the first
    /// one that does).
    fn mutates(&self) -> bool {
        true
    }
    /// Read calls only: what the step would touch, or why it would be skipped.
    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError>;
    /// Does the work; may be called again after an interruption or a retryable failure.
    fn run(&self, preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError>;
    /// How long the step may take, retries included.
    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }
}
