//! The five stages of the nublado v2 → v3 migration as Git changes, for environments in
//! Format A or Format C, each edit made through the lossless editor.
//!
//! | stage | from state | edits |
//! |---|---|---|
//! | `enable-v3` | `v2-only` | enable nublado; v3 on `/n3` with `HUB_ROUTE: "/n3/hub"`; its own database; a new v3 values file with the lab settings translated from v2 (`translate`) |
//! | `make-default` | `v3-beside` | v3 back to the default route; v2 to `/n2`; mobu off cachemachine |
//! | `disable-v2` | `v3-default` | disable nublado2, cachemachine, moneypenny; drop v2 mobu flocks |
//! | `drop-v2-values` | `v2-disabled` | delete the three applications' values files |
//! | `finish` | every environment `none` or `complete` | retire the three applications from the repository |
//!
//! One file per stage (`enable_v3`, `make_default`, `disable_v2`, `drop_v2_values`, `finish`)
//! and the window runbooks (`runbook`); this module holds the stage names, their targets, the
//! plan entry point and the edit helpers they share.

mod disable_v2;
mod drop_v2_values;
mod enable_v3;
mod finish;
mod make_default;
mod runbook;

use std::collections::BTreeSet;

use crate::playbook::StagePlan;
use crate::playbook::nublado::state::{State, environment_state};
use crate::playbook::nublado::translate::Answers;
use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::repo::Phalanx;
use crate::repo::nublado::database;
use crate::repo::phalanx::{Environment, Format};
use crate::util::suggest::closest;

pub use crate::repo::nublado::database::{IN_CLUSTER_HOST, database_host, database_name};
use crate::yaml::{Document, EditError, Path, ScalarValue};

use disable_v2::disable_v2;
use drop_v2_values::drop_v2_values;
use enable_v3::enable_v3;
use finish::finish;
pub use finish::{remaining_references, v3_on_v2_database};
use make_default::make_default;
pub use runbook::runbook;
use runbook::window;

/// The route v3 runs on beside v2, and the route v2 moves to.
pub const BESIDE_ROUTE: &str = "/n3";
pub const V2_ROUTE: &str = "/n2";
/// Where a hub's database URL is written.
const DB_URL: &str = database::URL_PATH;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    EnableV3,
    MakeDefault,
    DisableV2,
    DropV2Values,
    Finish,
}

pub const STAGES: [Stage; 5] = [
    Stage::EnableV3,
    Stage::MakeDefault,
    Stage::DisableV2,
    Stage::DropV2Values,
    Stage::Finish,
];

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::EnableV3 => "enable-v3",
            Stage::MakeDefault => "make-default",
            Stage::DisableV2 => "disable-v2",
            Stage::DropV2Values => "drop-v2-values",
            Stage::Finish => "finish",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        STAGES.into_iter().find(|s| s.name() == name)
    }

    /// The state an environment must be in for this stage (`None` for `finish`, which runs
    /// once for the repository).
    pub fn from_state(self) -> Option<State> {
        match self {
            Stage::EnableV3 => Some(State::V2Only),
            Stage::MakeDefault => Some(State::V3Beside),
            Stage::DisableV2 => Some(State::V3Default),
            Stage::DropV2Values => Some(State::V2Disabled),
            Stage::Finish => None,
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Stage::EnableV3 => "run nublado v3 beside nublado v2, on /n3",
            Stage::MakeDefault => "make nublado v3 the default on /nb and move nublado v2 to /n2",
            Stage::DisableV2 => "disable nublado v2, cachemachine and moneypenny",
            Stage::DropV2Values => {
                "delete the values files of nublado v2, cachemachine and moneypenny"
            }
            Stage::Finish => "retire nublado v2, cachemachine and moneypenny from the repository",
        }
    }
}

/// Progress along the migration, to tell "not yet" from "already done".
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("unknown environment `{name}`{}", hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
    UnknownEnv { name: String, hint: Option<String> },
    #[error("no environment given: use --env ENV (repeatable) or --all-ready")]
    NoTargets,
    #[error("`{stage}` runs from `{expected}`, but `{env}` is `{state}` ({reason}); {}", next_advice(.next))]
    WrongState {
        stage: &'static str,
        env: String,
        state: State,
        expected: State,
        reason: String,
        next: Option<&'static str>,
    },
    #[error("`finish` waits until every environment is `none` or `complete`; not yet: {}", .pending.iter().map(|(e, s)| format!("{e} ({s})")).collect::<Vec<_>>().join(", "))]
    FinishBlocked { pending: Vec<(String, State)> },
    #[error("`finish` takes no environment")]
    FinishTakesNoEnv,
    #[error("`drop-v2-values` would delete the evidence of open `nublado-v3-mount` errors in `{env}` (v2's mounts that v3 lost or made writable); fix them in the v3 values first, or use --force (the plan then repeats them):
{}", .findings.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("
"))]
    EvidenceWouldGo { env: String, findings: Vec<String> },
    #[error(
        "--pvc-storage-class, --pvc-access-modes, --pvc-size and --hub-db-url answer `enable-v3`, not `{stage}`"
    )]
    AnswersNotForStage { stage: &'static str },
    #[error("`{name}` (given to a --pvc-… option) is not a nublado2 PersistentVolumeClaim volume that `enable-v3` translates for {envs}; {}", known_claims(.known))]
    UnusedAnswer {
        name: String,
        envs: String,
        known: Vec<String>,
    },
    #[error(transparent)]
    Edit(#[from] WorkspaceError),
}

fn known_claims(known: &[String]) -> String {
    if known.is_empty() {
        "it translates none".into()
    } else {
        format!("it translates {}", known.join(", "))
    }
}

fn next_advice(next: &Option<&'static str>) -> String {
    match next {
        Some(n) => format!("its next stage is `{n}` (or use --force)"),
        None => "it has no next stage (use --force to run this one anyway)".into(),
    }
}

impl StageError {
    /// Input errors (an unknown environment, no target) exit 2; refusals exit 1.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            StageError::UnknownEnv { .. }
                | StageError::NoTargets
                | StageError::FinishTakesNoEnv
                | StageError::AnswersNotForStage { .. }
                | StageError::UnusedAnswer { .. }
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Run the stage whatever the environments' states.
    pub force: bool,
    /// Every environment whose next stage is this one.
    pub all_ready: bool,
    /// `enable-v3`: the operator's answers for what the translation of v2's lab volumes
    /// cannot decide.
    pub answers: Answers,
    /// `enable-v3`: v3's hub database URL (`--hub-db-url`), instead of the one derived from
    /// v2's.
    pub hub_db_url: Option<String>,
}

/// Which environments a stage runs for: the named ones, or every ready one.
pub fn targets<'p>(
    p: &'p Phalanx,
    stage: Stage,
    envs: &[String],
    opts: &Options,
) -> Result<Vec<&'p Environment>, StageError> {
    if stage == Stage::Finish {
        if !envs.is_empty() {
            return Err(StageError::FinishTakesNoEnv);
        }
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for name in envs {
        match p.env(name) {
            Some(e) => {
                if !out.iter().any(|x: &&Environment| x.name == e.name) {
                    out.push(e);
                }
            }
            None => {
                return Err(StageError::UnknownEnv {
                    name: name.clone(),
                    hint: closest(name, p.environments.iter().map(|e| e.name.as_str()))
                        .map(str::to_string),
                });
            }
        }
    }
    if opts.all_ready {
        for e in &p.environments {
            if environment_state(p, e).state.next_stage() == Some(stage.name())
                && !out.iter().any(|x| x.name == e.name)
            {
                out.push(e);
            }
        }
    }
    if out.is_empty() && !opts.all_ready {
        return Err(StageError::NoTargets);
    }
    Ok(out)
}

/// Plans a stage for the given environments (none for `finish`).
pub fn plan(
    p: &Phalanx,
    stage: Stage,
    envs: &[String],
    opts: &Options,
) -> Result<StagePlan, StageError> {
    if stage != Stage::EnableV3 && (!opts.answers.is_empty() || opts.hub_db_url.is_some()) {
        return Err(StageError::AnswersNotForStage {
            stage: stage.name(),
        });
    }
    let targets = targets(p, stage, envs, opts)?;
    let mut ws = Workspace::new(p.files.root(), &p.files);
    let mut plan = StagePlan::new(
        "nublado",
        stage.name(),
        targets.iter().map(|e| e.name.clone()).collect(),
    );
    if stage == Stage::Finish {
        finish(p, &mut ws, &mut plan, opts)?;
        plan.changes = ws.changes;
        window(p, stage, &[], &mut plan);
        dedup(&mut plan.notes);
        return Ok(plan);
    }
    let expected = stage
        .from_state()
        .expect("per-environment stages have a from-state");
    let mut ready = Vec::new();
    for env in &targets {
        let st = environment_state(p, env);
        if st.state == expected {
            ready.push(*env);
            continue;
        }
        let done = matches!((st.state.ordinal(), expected.ordinal()), (Some(a), Some(b)) if a > b);
        if done && !opts.force {
            plan.already_done.push(env.name.clone());
            continue;
        }
        if !opts.force {
            return Err(StageError::WrongState {
                stage: stage.name(),
                env: env.name.clone(),
                state: st.state,
                expected,
                reason: st.reason,
                next: st.state.next_stage(),
            });
        }
        plan.notes.push(format!(
            "--force: `{}` is `{}` ({}), not `{expected}`; the stage's edits are made anyway",
            env.name, st.state, st.reason
        ));
        ready.push(*env);
    }
    let mut claims = Vec::new();
    for env in &ready {
        match stage {
            Stage::EnableV3 => {
                claims.extend(enable_v3(p, env, &mut ws, &mut plan, opts)?);
            }
            Stage::MakeDefault => make_default(p, env, &mut ws, &mut plan)?,
            Stage::DisableV2 => disable_v2(p, env, &mut ws, &mut plan)?,
            Stage::DropV2Values => drop_v2_values(p, env, &mut ws, &mut plan, opts)?,
            Stage::Finish => unreachable!(),
        }
    }
    check_answers(&opts.answers, &claims, &ready)?;
    plan.extra_args = opts.answers.args();
    plan.changes = ws.changes;
    plan.targets = ready.iter().map(|e| e.name.clone()).collect();
    window(p, stage, &ready, &mut plan);
    dedup(&mut plan.todo);
    dedup(&mut plan.notes);
    dedup(&mut plan.checklist);
    Ok(plan)
}

/// Every answer must name a PVC volume (or its claim) that the translation met.
fn check_answers(
    answers: &Answers,
    claims: &[(String, String)],
    envs: &[&Environment],
) -> Result<(), StageError> {
    let known = |n: &str| claims.iter().any(|(v, c)| v == n || c == n);
    match answers.names().into_iter().find(|n| !known(n)) {
        None => Ok(()),
        Some(name) => Err(StageError::UnusedAnswer {
            name: name.to_string(),
            envs: envs
                .iter()
                .map(|e| format!("`{}`", e.name))
                .collect::<Vec<_>>()
                .join(", "),
            known: claims
                .iter()
                .map(|(v, c)| format!("`{v}` (claim `{c}`)"))
                .collect(),
        }),
    }
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

fn path(s: &str) -> Path {
    Path::parse(s).expect("stage paths are valid")
}

/// Sets a path unless it already holds that value.
fn set(doc: &mut Document, p: &str, value: &ScalarValue) -> Result<bool, EditError> {
    doc.set(0, &path(p), value)
}

/// Removes a path if it exists.
fn remove_if_present(doc: &mut Document, p: &str) -> Result<bool, EditError> {
    match doc.remove(0, &path(p)) {
        Err(EditError::NotFound { .. }) => Ok(false),
        r => r,
    }
}

/// Enables or disables an application in an environment file, in the file's format. Format
/// C lists only non-defaults: disabling a default-off application deletes its line.
fn set_app(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    app: &str,
    on: bool,
) -> Result<(), StageError> {
    let default_on = p
        .defaults
        .flags
        .iter()
        .any(|f| f.app == app && f.value == Some(true));
    let rel = env.file.rel.clone();
    ws.edit(&rel, |doc| match env.file.format {
        Format::A => set(doc, &format!("{app}.enabled"), &ScalarValue::bool(on)),
        Format::C | Format::Mixed => {
            let key = format!("applications.{app}");
            if on == default_on {
                remove_if_present(doc, &key)
            } else {
                set(doc, &key, &ScalarValue::bool(on))
            }
        }
    })?;
    Ok(())
}

fn values_rel(app: &str, env: &str) -> String {
    format!("applications/{app}/values-{env}.yaml")
}

/// `a`, `b` and `c` as code spans.
fn names<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "flock" or "flocks", and "it" or "them".
fn flocks_word(n: usize) -> (&'static str, &'static str) {
    if n == 1 {
        ("flock", "it")
    } else {
        ("flocks", "them")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::nublado::routes::expected_hub_route;

    #[test]
    fn stage_names_round_trip() {
        for s in STAGES {
            assert_eq!(Stage::from_name(s.name()), Some(s));
        }
        assert_eq!(Stage::from_name("enable"), None);
    }

    #[test]
    fn words_and_database_names() {
        assert!(crate::util::text::contains_word(
            "enabled: nublado2",
            "nublado2"
        ));
        assert!(!crate::util::text::contains_word("nublado20", "nublado2"));
        assert!(!crate::util::text::contains_word(
            "my_cachemachine_x",
            "cachemachine"
        ));
        assert_eq!(
            database_name("postgresql://jovyan@postgres.postgres/jupyterhub"),
            Some("jupyterhub")
        );
        assert_eq!(
            database_name("postgresql://x@h/db?sslmode=require"),
            Some("db")
        );
        assert_eq!(database_name("sqlite"), None);
        assert_eq!(
            database_host("postgresql://nublado3@postgres.postgres/nublado3"),
            Some("postgres.postgres")
        );
        assert_eq!(
            database_host("postgresql://u@db.example.org:5432/x"),
            Some("db.example.org")
        );
    }

    #[test]
    fn the_hub_route_of_the_beside_route() {
        assert_eq!(expected_hub_route(BESIDE_ROUTE), "/n3/hub");
    }
}
