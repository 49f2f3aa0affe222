//! The playbooks as types: the `Playbook` trait every migration implements (its stages, the
//! repository it works on, its plan, the runbook of one window and what that window needs
//! merged first).
//!
//! Owns: the trait and the errors a playbook's plan or window gives. Does not own: the stages
//! themselves (`nublado`, `hub_move`, whose `playbook.rs` implement the trait), the enum of the
//! known playbooks (`PlaybookKind`, in the parent, which names them), the command line (`cli`,
//! one clap subcommand per playbook) or the run (`runtime`).

use std::fmt;

use crate::playbook::{PlaybookKind, StagePlan, Step};
use crate::repo::Repo;

/// A migration: stages over one kind of repository, each planned as a Git change and carried
/// out in a window by a runbook.
pub trait Playbook {
    /// The repository it works on (`Phalanx`, `Infrastructure`).
    type Repo;
    /// One of its stages.
    type Stage: Copy + 'static;
    /// What a stage command names besides the stage: the environments and answers of nublado,
    /// the move of a hub.
    type Request;
    /// What one window run is for: one environment, one move.
    type Target;

    /// Which playbook this is.
    const KIND: PlaybookKind;

    /// Its stages, in order.
    fn stages() -> &'static [Self::Stage];
    /// A stage's name on the command line.
    fn stage_name(stage: Self::Stage) -> &'static str;
    /// A stage's one-line description.
    fn stage_description(stage: Self::Stage) -> &'static str;
    /// The stage of that name.
    fn stage(name: &str) -> Option<Self::Stage> {
        Self::stages()
            .iter()
            .copied()
            .find(|s| Self::stage_name(*s) == name)
    }

    /// The repository as this playbook reads it, or why it cannot (another kind of
    /// repository, files its model cannot read).
    fn open(repo: Repo) -> Result<Self::Repo, Unusable>;
    /// The repository back, for the checks of a plan's result.
    fn into_repo(repo: Self::Repo) -> Repo;

    /// The stage's plan for the request.
    fn plan(
        repo: &Self::Repo,
        stage: Self::Stage,
        request: &Self::Request,
    ) -> Result<StagePlan, PlaybookError>;

    /// The runbook of one window of the stage, as the repository `repo` (the merged one, or the
    /// checkout) gives it.
    fn runbook(
        repo: &Self::Repo,
        stage: Self::Stage,
        target: &Self::Target,
    ) -> Result<Vec<Step>, PlaybookError>;

    /// What the window needs merged and is not in `repo` (the remote's branch, read from
    /// `source`), if anything.
    fn merged_missing(
        repo: &Self::Repo,
        stage: Self::Stage,
        target: &Self::Target,
        source: &str,
    ) -> Option<String>;

    /// The name of a window run's target (its journal, lock, lease and reports).
    fn run_name(target: &Self::Target) -> String;
    /// The command-line arguments that name the target (`--env idfdev`).
    fn target_args(target: &Self::Target) -> String;
}

/// Why a repository cannot serve a playbook: each error, then a note for the operator.
#[derive(Debug, Clone)]
pub struct Unusable {
    pub errors: Vec<String>,
    pub note: Option<String>,
}

/// Why a stage cannot be planned or its window built: an input error (an unknown environment,
/// cluster or hub, a missing target; exit 2) or a refusal (the state does not allow it; exit 1).
#[derive(Debug, Clone)]
pub struct PlaybookError {
    pub message: String,
    pub input: bool,
}

impl PlaybookError {
    pub fn is_input_error(&self) -> bool {
        self.input
    }
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PlaybookError {}
