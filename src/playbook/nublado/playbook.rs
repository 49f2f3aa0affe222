//! The nublado migration as a `Playbook`: its five stages over a Phalanx repository, planned
//! for named (or every ready) environment, each window run for one environment.
//!
//! Owns: the trait's implementation, calling the stages (`stages`) and the model
//! (`repo::nublado`). Does not own: the stages' changes and runbooks themselves.

use super::stages::{self, Options, STAGES, Stage};
use super::{State, environment_state};
use crate::playbook::PlaybookKind;
use crate::playbook::kind::{Playbook, PlaybookError, Unusable};
use crate::playbook::{StagePlan, Step};
use crate::repo::phalanx::Environment;
use crate::repo::{Phalanx, Repo};

/// The nublado v2 → v3 migration.
pub struct Nublado;

/// What a nublado stage command names: environments (none for `finish`) and the options.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub envs: Vec<String>,
    pub options: Options,
}

impl From<stages::StageError> for PlaybookError {
    fn from(e: stages::StageError) -> PlaybookError {
        PlaybookError {
            input: e.is_input_error(),
            message: e.to_string(),
        }
    }
}

impl Playbook for Nublado {
    type Repo = Phalanx;
    type Stage = Stage;
    type Request = Request;
    /// The environment's name.
    type Target = String;

    const KIND: PlaybookKind = PlaybookKind::Nublado;

    fn stages() -> &'static [Stage] {
        &STAGES
    }

    fn stage_name(stage: Stage) -> &'static str {
        stage.name()
    }

    fn stage_description(stage: Stage) -> &'static str {
        stage.description()
    }

    /// A Phalanx repository every file of whose nublado model reads (`readable`).
    fn open(repo: Repo) -> Result<Phalanx, Unusable> {
        match repo {
            Repo::Phalanx(p) => readable(&p).map(|()| p),
            Repo::Infrastructure(i) => Err(Unusable {
                errors: vec![format!(
                    "{}: the nublado playbook needs a Phalanx repository, and this is an infrastructure repository",
                    i.files.root().display()
                )],
                note: None,
            }),
        }
    }

    fn into_repo(repo: Phalanx) -> Repo {
        Repo::Phalanx(repo)
    }

    /// The stage for the request's environments; with several to change, each one's own
    /// runbook beside the plan's (every step any of them needs).
    fn plan(p: &Phalanx, stage: Stage, request: &Request) -> Result<StagePlan, PlaybookError> {
        if stage == Stage::Finish && request.options.all_ready {
            return Err(PlaybookError {
                message: "`finish` takes no environment: it runs for the whole repository (leave out --all-ready)".into(),
                input: true,
            });
        }
        let mut plan = stages::plan(p, stage, &request.envs, &request.options)?;
        plan.target_runbooks = target_runbooks(p, stage, &plan);
        Ok(plan)
    }

    fn runbook(p: &Phalanx, stage: Stage, env: &String) -> Result<Vec<Step>, PlaybookError> {
        let e = p.env(env).ok_or_else(|| PlaybookError {
            message: format!(
                "unknown environment `{env}`{}",
                crate::util::suggest::closest(env, p.environments.iter().map(|e| e.name.as_str()))
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default()
            ),
            input: true,
        })?;
        Ok(stages::runbook(p, stage, e))
    }

    /// The environment must be past the stage's from-state in the merged repository
    /// (`finish`: `complete` or `none`).
    fn merged_missing(
        remote: &Phalanx,
        stage: Stage,
        env: &String,
        source: &str,
    ) -> Option<String> {
        let Some(e) = remote.env(env) else {
            return Some(format!("{source} has no environment `{env}`"));
        };
        let state = environment_state(remote, e);
        let merged = match stage.from_state() {
            Some(from) => {
                matches!((state.state.ordinal(), from.ordinal()), (Some(a), Some(b)) if a > b)
            }
            None => matches!(state.state, State::Complete | State::None),
        };
        if merged {
            return None;
        }
        let files = stages::plan(
            remote,
            stage,
            std::slice::from_ref(env),
            &Options::default(),
        )
        .ok()
        .map(|plan| {
            plan.changes
                .paths()
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .map(|p| format!("; the stage would still change {}", p.join(", ")))
        .unwrap_or_default();
        Some(match stage.from_state() {
            Some(_) => format!(
                "the change of `{}` for `{env}` is not on {source}: there `{env}` is still `{}` ({}){files}",
                stage.name(),
                state.state,
                state.reason
            ),
            None => format!(
                "`finish`'s cleanup of `{env}` needs the environment `complete` on {source}, where it is `{}` ({})",
                state.state, state.reason
            ),
        })
    }

    fn run_name(env: &String) -> String {
        env.clone()
    }

    fn target_args(env: &String) -> String {
        format!("--env {env}")
    }
}

/// Every file the nublado model reads can be read, or each that cannot (`file:line:col:
/// message`): a state, route or database read from a broken file would be made up.
pub fn readable(p: &Phalanx) -> Result<(), Unusable> {
    let errors = crate::repo::nublado::unreadable_files(p);
    if errors.is_empty() {
        return Ok(());
    }
    Err(Unusable {
        errors: errors.iter().map(ToString::to_string).collect(),
        note: Some("fix the file(s) first: nothing can be said about the environments while the nublado model cannot read them".into()),
    })
}

/// With several environments to change, each one's runbook as `exec` will run it for that
/// environment (the plan's runbook is every step any of them needs).
fn target_runbooks(p: &Phalanx, stage: Stage, plan: &StagePlan) -> Vec<(String, Vec<Step>)> {
    // A repository-wide stage (`finish`) runs its window per environment it implies.
    let targets = if plan.targets.is_empty() {
        &plan.exec_targets
    } else {
        &plan.targets
    };
    let envs: Vec<&Environment> = targets
        .iter()
        .filter(|t| !plan.already_done.contains(t))
        .filter_map(|t| p.env(t))
        .collect();
    if envs.len() < 2 || plan.runbook.is_empty() {
        return Vec::new();
    }
    envs.into_iter()
        .map(|env| (env.name.clone(), stages::runbook(p, stage, env)))
        .collect()
}
