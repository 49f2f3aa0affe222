//! What a run did: each step's status, duration, attempts and what it touched, and how the
//! run ended. The engine fills it in; `report` renders it; the CLI prints from it.
//!
//! Owns: the run's result types. Does not own: running (`engine`) or rendering (`report`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// What became of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// It ran and succeeded.
    Done {
        summary: String,
    },
    /// Its preview found nothing to do.
    Skipped {
        reason: String,
    },
    /// The journal records it as finished (`--resume`).
    AlreadyDone {
        at: String,
    },
    /// Left out by `--only`, `--from` or `--skip`.
    Excluded {
        reason: String,
    },
    /// Dry run: it would run and touch these.
    WouldRun {
        touches: Vec<String>,
    },
    /// Dry run: its preview failed.
    CannotPreview {
        error: String,
    },
    /// It cannot run in this version.
    Unavailable {
        reason: String,
    },
    Failed {
        error: String,
    },
    /// The run was interrupted while it ran.
    Interrupted {
        error: String,
    },
    /// The operator said no.
    Declined,
    /// The run stopped before it.
    NotRun,
}

impl StepStatus {
    pub fn label(&self) -> &'static str {
        match self {
            StepStatus::Done { .. } => "done",
            StepStatus::Skipped { .. } => "skipped",
            StepStatus::AlreadyDone { .. } => "already done",
            StepStatus::Excluded { .. } => "excluded",
            StepStatus::WouldRun { .. } => "would run",
            StepStatus::CannotPreview { .. } => "cannot preview",
            StepStatus::Unavailable { .. } => "not available",
            StepStatus::Failed { .. } => "failed",
            StepStatus::Interrupted { .. } => "interrupted",
            StepStatus::Declined => "declined",
            StepStatus::NotRun => "not run",
        }
    }
}

/// One step in the report.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub id: String,
    pub title: String,
    pub destructive: bool,
    pub mutates: bool,
    pub needs_person: bool,
    pub status: StepStatus,
    pub duration: Duration,
    pub attempts: u32,
    /// What it touched (or, in a dry run, would touch).
    pub touched: Vec<String>,
    /// The equivalent commands of its preview.
    pub commands: Vec<String>,
    /// Who answered its questions: `confirmed by the operator`, `auto-confirmed (--yes)`.
    pub answers: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// Every selected step finished (or, for a dry run, was previewed).
    Completed,
    Failed {
        step: String,
        error: String,
    },
    Declined {
        step: String,
    },
    /// Stopped before a mutation (the proof failed: cluster, lease).
    Refused {
        reason: String,
    },
    /// Stopped by SIGINT or SIGTERM at a safe point, in or before `step`.
    Interrupted {
        step: String,
        signal: String,
    },
}

impl RunStatus {
    pub fn name(&self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed { .. } => "failed",
            RunStatus::Declined { .. } => "declined",
            RunStatus::Refused { .. } => "refused",
            RunStatus::Interrupted { .. } => "interrupted",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub command: String,
    /// The run's id (`20240501T120000Z-4242`).
    pub run: String,
    /// The window it belongs to (its own id, or the resumed run's window).
    pub window: String,
    pub dry_run: bool,
    pub started: SystemTime,
    pub duration: Duration,
    pub steps: Vec<StepReport>,
    pub status: RunStatus,
    pub journal: PathBuf,
    pub report_path: Option<PathBuf>,
    /// Things the operator should know (a torn journal line, an unfinished earlier run).
    pub notes: Vec<String>,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.status == RunStatus::Completed
            && !self
                .steps
                .iter()
                .any(|s| matches!(s.status, StepStatus::CannotPreview { .. }))
    }
}
