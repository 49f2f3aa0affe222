//! The hub move as a `Playbook`: three stages over an infrastructure repository, each planned
//! and run for one move (`--hub H --from A --to B`).
//!
//! Owns: the trait's implementation, calling the stages (`plan`, `window`, `merged_missing`).
//! Does not own: the stages' changes and windows themselves.

use super::{Move, MoveError, STAGES, Stage};
use crate::playbook::PlaybookKind;
use crate::playbook::kind::{Playbook, PlaybookError, Unusable};
use crate::playbook::{StagePlan, Step};
use crate::repo::{Infrastructure, Repo};

/// Moving a hub across clusters.
pub struct HubMove;

impl From<MoveError> for PlaybookError {
    fn from(e: MoveError) -> PlaybookError {
        PlaybookError {
            input: e.is_input_error(),
            message: e.to_string(),
        }
    }
}

impl Playbook for HubMove {
    type Repo = Infrastructure;
    type Stage = Stage;
    type Request = Move;
    type Target = Move;

    const KIND: PlaybookKind = PlaybookKind::HubMove;

    fn stages() -> &'static [Stage] {
        &STAGES
    }

    fn stage_name(stage: Stage) -> &'static str {
        stage.name()
    }

    fn stage_description(stage: Stage) -> &'static str {
        stage.description()
    }

    fn open(repo: Repo) -> Result<Infrastructure, Unusable> {
        match repo {
            Repo::Infrastructure(i) => Ok(i),
            Repo::Phalanx(p) => Err(Unusable {
                errors: vec![format!(
                    "{}: the hub-move playbook needs an infrastructure repository (config/clusters/*/cluster.yaml), and this is a Phalanx repository",
                    p.files.root().display()
                )],
                note: None,
            }),
        }
    }

    fn into_repo(repo: Infrastructure) -> Repo {
        Repo::Infrastructure(repo)
    }

    /// The stage's plan; `--reencrypt` is an option of the plan, not of the move's window: the
    /// `exec` command the plan prints names the move alone, and the command that reproduces
    /// the plan adds it.
    fn plan(infra: &Infrastructure, stage: Stage, mv: &Move) -> Result<StagePlan, PlaybookError> {
        if mv.reencrypt && stage != Stage::Setup {
            return Err(PlaybookError {
                message: format!(
                    "--reencrypt re-encrypts the files `setup` copies; `{}` copies none",
                    stage.name()
                ),
                input: true,
            });
        }
        if mv.transfer_key.is_some() && stage != Stage::Setup {
            return Err(PlaybookError {
                message: format!(
                    "--transfer-key puts the transfer's public key into the hubs' values at `setup`; `{}` takes the private key at `exec` only",
                    stage.name()
                ),
                input: true,
            });
        }
        let mut plan = super::plan(infra, stage, mv)?;
        plan.target_args = Some(Self::target_args(mv));
        if mv.reencrypt {
            plan.extra_args.push("--reencrypt".into());
        }
        Ok(plan)
    }

    fn runbook(
        infra: &Infrastructure,
        stage: Stage,
        mv: &Move,
    ) -> Result<Vec<Step>, PlaybookError> {
        Ok(super::window(infra, stage, mv)?.steps)
    }

    fn merged_missing(
        infra: &Infrastructure,
        stage: Stage,
        mv: &Move,
        source: &str,
    ) -> Option<String> {
        super::merged_missing(infra, stage, mv).map(|why| format!("{why} on {source}"))
    }

    /// `temple.2i2c-aws-us.to.ucmerced`.
    fn run_name(mv: &Move) -> String {
        format!("{}.{}.to.{}", mv.hub, mv.from, mv.to)
    }

    /// `--hub H --from A --to B [--new-name N] [--temp-domain D]`.
    fn target_args(mv: &Move) -> String {
        Move {
            reencrypt: false,
            ..mv.clone()
        }
        .args()
    }
}
