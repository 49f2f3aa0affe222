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

use std::collections::BTreeSet;

use super::hub_db::{self, HubDbPlan};
use super::routes::{BASE_URL, DEFAULT_ROUTE, HUB_ROUTE, expected_hub_route};
use super::state::{State, environment_state};
use super::translate::{self, Answers, Translation};
use super::volumes;
use super::{V2, V2_APPS, V3};
use crate::playbook::ledger::Ledger;
use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::playbook::{StagePlan, Step};
use crate::repo::nublado::controller::ChartVersion;
use crate::repo::nublado::database;
use crate::repo::nublado::mobu::{Cachemachine, Flock, GLOBAL_CACHEMACHINE, Mobu};
use crate::repo::phalanx::{AppFlag, Environment, FlagForm, Format};
use crate::repo::{Phalanx, lookup};
use crate::suggest::closest;

pub use crate::repo::nublado::database::{IN_CLUSTER_HOST, database_host, database_name};
use crate::yaml::{Document, EditError, NewValue, Node, Path, ScalarValue};

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

/// Enables v3 beside v2, with the site's v2 settings translated: a new v3 values file gets all
/// of them; an existing one keeps what it has and gets what it lacks. v3's hub database
/// follows v2's (`hub_db`). Every v2 setting is accounted for in the plan's ledger, checked
/// against the v3 values file as the stage leaves it. Returns the (volume, claim) of the v2
/// PVC volumes the translation met, which the operator's answers may name.
fn enable_v3(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
    opts: &Options,
) -> Result<Vec<(String, String)>, StageError> {
    plan.summary = "Runs nublado v3 beside nublado v2: v3 is enabled on the route /n3 (with its labs' HUB_ROUTE to match) while v2 keeps the default route /nb, so users can try v3 before it becomes the default. The v3 values carry the site's lab volumes, environment variables, image source, home-directory initialisation and hub settings, translated from v2's, and v3's own hub database on v2's server; every v2 setting is accounted for.".into();
    set_app(p, env, ws, V3, true)?;
    let rel = values_rel(V3, &env.name);
    let hub_route = expected_hub_route(BESIDE_ROUTE);
    let db = hub_db::plan(p, &env.name, opts.hub_db_url.as_deref());
    let tr = translate::for_environment_with(p, &env.name, &opts.answers, db.clone());
    let routes = |doc: &mut Document| -> Result<bool, EditError> {
        let a = set(doc, BASE_URL, &ScalarValue::double_quoted(BESIDE_ROUTE))?;
        let b = set(doc, HUB_ROUTE, &ScalarValue::double_quoted(&hub_route))?;
        Ok(a || b)
    };
    if !ws.exists(&rel) {
        let mut doc =
            Document::parse(new_values_text(&env.name, &tr)).map_err(|e| WorkspaceError {
                file: rel.clone(),
                error: format!("the translated values do not parse: {e}"),
            })?;
        routes(&mut doc).map_err(|e| WorkspaceError {
            file: rel.clone(),
            error: e.to_string(),
        })?;
        ws.create(&rel, doc.text().to_string());
    } else {
        let given = opts.hub_db_url.clone();
        let added = ws.edit(&rel, |doc| {
            let mut changed = routes(doc)?;
            if let Some(url) = &given {
                changed |= set(doc, DB_URL, &ScalarValue::double_quoted(url.as_str()))?;
            }
            changed |= tr.merge_into(doc)?;
            Ok(changed)
        })?;
        plan.notes.push(format!(
            "`{rel}` exists already: the settings it has are kept as they are{}; the account below compares every v2 setting with it, and `gitops-migrate validate` its lab volumes with v2's mounts (`nublado-v3-mount`)",
            if added { ", and those it lacked are added from the translation" } else { "" }
        ));
    }
    // The ledger says what the v3 file holds after the stage, not what was meant.
    let mut ledger = tr.ledger.clone();
    let after = ws.text(&rel).and_then(|t| Document::parse(t).ok());
    ledger.verify(&rel, after.as_ref());
    plan.todo
        .extend(ledger.operator_items().into_iter().map(ToString::to_string));
    plan.ledger.extend(ledger);
    plan.notes.extend(tr.notes.iter().cloned());
    plan.tables.push(tr.table(&env.name));
    hub_database(p, env, ws, plan, &db)?;
    let prefix = env
        .vault_path_prefix
        .clone()
        .unwrap_or_else(|| "<vaultPathPrefix>".into());
    plan.checklist.push(format!(
        "`{}`: the Vault secret `{prefix}/nublado` with `cryptkeeper_key`, `crypto_key`, `proxy_token`, `hub_db_password` and `slack_webhook` (copied from mobu's `app-alert-webhook`): `gitops-migrate exec nublado enable-v3 --env {} --only vault-secret` creates the missing keys, keeping those already there",
        env.name, env.name
    ));
    plan.checklist.push(format!(
        "`{}`: announce the new route /n3 and the window to users (`gitops-migrate announce nublado enable-v3 --env {}`)",
        env.name, env.name
    ));
    Ok(tr.claims)
}

/// Where v3's hub database goes: the `*_db` block the in-cluster server needs (in the style of
/// the file's other blocks), the DBA request for an external server, or the question when
/// nothing can be derived.
fn hub_database(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
    db: &HubDbPlan,
) -> Result<(), StageError> {
    plan.notes.push(format!(
        "`{}`: v3's hub database: {}",
        env.name,
        db.describe()
    ));
    if let Some(request) = db.dba_request(&env.name) {
        plan.checklist.push(request);
    }
    if let HubDbPlan::NoServer { .. } = db {
        plan.todo.push(format!(
            "`{}`: nublado v3 needs a hub database — {}",
            values_rel(V3, &env.name),
            db.describe()
        ));
    }
    let Some((key, user, name)) = db.block().cloned() else {
        if db.is_in_cluster() {
            plan.checklist.push(format!(
                "`{}`: the in-cluster PostgreSQL server already creates v3's database; put the password of its role in Vault as `hub_db_password`",
                env.name
            ));
        }
        return Ok(());
    };
    let pg = values_rel(database::POSTGRES, &env.name);
    if ws.exists(&pg) {
        ws.edit(&pg, |doc| {
            // In the style of the file's other databases: `jupyterhub_db: {user: …, db: …}`.
            let flow = lookup(doc, "jupyterhub_db")
                .or_else(|| lookup(doc, "gafaelfawr_db"))
                .and_then(Node::as_mapping)
                .is_some_and(|m| m.flow);
            if flow && lookup(doc, &key).is_none() {
                let q = match doc.style().quote {
                    crate::yaml::ScalarStyle::SingleQuoted => "'",
                    crate::yaml::ScalarStyle::Plain => "",
                    _ => "\"",
                };
                let value = format!("{{user: {q}{user}{q}, db: {q}{name}{q}}}");
                return doc.set_value(0, &path(&key), &NewValue::Yaml(value));
            }
            let a = set(
                doc,
                &format!("{key}.user"),
                &ScalarValue::string(user.as_str()),
            )?;
            let b = set(
                doc,
                &format!("{key}.db"),
                &ScalarValue::string(name.as_str()),
            )?;
            Ok(a || b)
        })?;
    } else {
        let mut doc = Document::parse(String::new()).expect("empty parses");
        set(
            &mut doc,
            &format!("{key}.user"),
            &ScalarValue::double_quoted(user.as_str()),
        )
        .and_then(|_| {
            set(
                &mut doc,
                &format!("{key}.db"),
                &ScalarValue::double_quoted(name.as_str()),
            )
        })
        .map_err(|e| WorkspaceError {
            file: pg.clone(),
            error: e.to_string(),
        })?;
        ws.create(&pg, doc.text().to_string());
    }
    plan.checklist.push(format!(
        "`{}`: the in-cluster PostgreSQL server creates the `{name}` database and the `{user}` role when the `postgres` application syncs (the window runbook syncs it and checks the role); put the role's password in Vault as `hub_db_password`",
        env.name
    ));
    let _ = p;
    Ok(())
}

/// A new v3 values file: a header, then the translated values.
fn new_values_text(env: &str, tr: &Translation) -> String {
    let body = tr.values_yaml();
    let mut text = match body {
        Some(_) => format!(
            "# Nublado v3 for {env}: lab volumes, environment variables, image source,\n\
             # home-directory initialisation and hub settings translated from its nublado v2\n\
             # settings.\n"
        ),
        None => format!("# Nublado v3 for {env}.\n"),
    };
    if !tr.untranslated.is_empty() {
        text.push_str(
            "# Some v2 settings could not be translated: `gitops-migrate plan` and the pull\n\
             # request list them.\n",
        );
    }
    text.push_str(&body.unwrap_or_default());
    text
}

fn make_default(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), StageError> {
    plan.summary = "Makes nublado v3 the default: v3 returns to the default route /nb (its route and HUB_ROUTE overrides are removed) and nublado v2 moves to /n2. Labs of both hubs are shut down in the window.".into();
    let v3 = values_rel(V3, &env.name);
    if ws.exists(&v3) {
        ws.edit(&v3, |doc| {
            let a = remove_if_present(doc, BASE_URL)?;
            let b = remove_if_present(doc, HUB_ROUTE)?;
            Ok(a || b)
        })?;
    }
    // When the chart default of HUB_ROUTE is not the default route's, it is set explicitly.
    let default_hub_route = p
        .setting(V3, "", HUB_ROUTE)
        .and_then(|s| s.text().map(str::to_string));
    if default_hub_route.is_some_and(|r| r != expected_hub_route(DEFAULT_ROUTE)) {
        plan.todo.push(format!(
            "`{v3}`: the chart's default `HUB_ROUTE` is not `/nb/hub`; set it to match the route"
        ));
    }
    let v2 = values_rel(V2, &env.name);
    if ws.exists(&v2) {
        ws.edit(&v2, |doc| {
            set(doc, BASE_URL, &ScalarValue::string(V2_ROUTE))
        })?;
    } else {
        let mut doc = Document::parse(String::new()).expect("empty parses");
        set(&mut doc, BASE_URL, &ScalarValue::string(V2_ROUTE)).map_err(|e| WorkspaceError {
            file: v2.clone(),
            error: e.to_string(),
        })?;
        ws.create(&v2, doc.text().to_string());
    }
    mobu_make_default(p, env, ws, plan)?;
    plan.checklist.push(format!(
        "`{}`: announce that /nb becomes nublado v3 and nublado v2 moves to /n2 (`gitops-migrate announce nublado make-default --env {}`)",
        env.name, env.name
    ));
    Ok(())
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

/// mobu at `make-default`: the lab flocks follow v3 to the default route and off cachemachine
/// (per flock from mobu 6, `use_cachemachine` removed from mobu 7, the global
/// `config.useCachemachine` in mobu 5), except the flocks that evidently test nublado v2 (their
/// name or user says `nublado2`), which are kept on v2 at `/n2` until `disable-v2` removes them.
fn mobu_make_default(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), StageError> {
    let Some(mobu) = Mobu::of(p, &env.name) else {
        return Ok(());
    };
    let labs: Vec<&Flock> = mobu.flocks.iter().filter(|f| f.is_lab()).collect();
    if labs.is_empty() {
        return Ok(());
    }
    let major = mobu.major();
    let (v2, v3): (Vec<&Flock>, Vec<&Flock>) = labs.into_iter().partition(|f| f.tests_v2());
    let global_on = mobu.global_cachemachine(p, &env.name).0;
    let changed = ws.edit(mobu.rel, |doc| {
        let mut changed = false;
        for f in &v3 {
            let options = format!("config.autostart[{}].business.options", f.index);
            match major {
                Some(m) if m >= 7 => {
                    changed |= remove_if_present(doc, &format!("{options}.use_cachemachine"))?;
                }
                Some(5) => {}
                _ => {
                    changed |= set(
                        doc,
                        &format!("{options}.use_cachemachine"),
                        &ScalarValue::bool(false),
                    )?;
                }
            }
            if f.url_prefix().as_deref() == Some(BESIDE_ROUTE) {
                changed |= remove_if_present(doc, &format!("{options}.url_prefix"))?;
            }
        }
        for f in &v2 {
            let options = format!("config.autostart[{}].business.options", f.index);
            changed |= set(
                doc,
                &format!("{options}.url_prefix"),
                &ScalarValue::string(V2_ROUTE),
            )?;
        }
        if major == Some(5) && !v3.is_empty() && global_on {
            changed |= set(doc, GLOBAL_CACHEMACHINE, &ScalarValue::bool(false))?;
        }
        Ok(changed)
    })?;
    if !v2.is_empty() {
        let (word, them) = flocks_word(v2.len());
        let list = names(v2.iter().map(|f| f.name.as_str()));
        plan.notes.push(format!(
            "`{}`: mobu {word} {list} {} nublado v2 (the name or a user says `nublado2`): kept on v2 at /n2 with cachemachine; `disable-v2` removes {them}",
            env.name,
            if v2.len() == 1 { "tests" } else { "test" },
        ));
        if major == Some(5) && !v3.is_empty() {
            plan.todo.push(format!(
                "`{}`: mobu 5 has one cachemachine setting for every flock (`{GLOBAL_CACHEMACHINE}`), now `false` for the flocks that follow v3: the v2 {word} {list} can no longer ask cachemachine for images. Upgrade mobu to 6 (per-flock `use_cachemachine`) to keep testing v2, or remove {them}",
                mobu.rel,
            ));
        }
    }
    if changed {
        plan.notes.push(format!(
            "`{}`: mobu reads its flocks only when it starts; the runbook restarts it (an Argo CD sync of an unchanged application does not)",
            env.name
        ));
    }
    Ok(())
}

/// mobu at `disable-v2`: the flocks that test v2 (aimed at `/n2`, or named for `nublado2`) go;
/// the lab flocks left stop relying on cachemachine, which this stage disables.
fn mobu_disable_v2(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), StageError> {
    let Some(mobu) = Mobu::of(p, &env.name) else {
        return Ok(());
    };
    let v2: Vec<&Flock> = mobu
        .flocks
        .iter()
        .filter(|f| f.is_lab() && (f.url_prefix().as_deref() == Some(V2_ROUTE) || f.tests_v2()))
        .collect();
    let cached: Vec<&Flock> = mobu
        .flocks
        .iter()
        .filter(|f| !v2.iter().any(|x| x.index == f.index))
        .filter(|f| {
            matches!(
                mobu.cachemachine(p, &env.name, f),
                Cachemachine::Uses { .. }
            )
        })
        .collect();
    if v2.is_empty() && cached.is_empty() {
        return Ok(());
    }
    let major = mobu.major();
    ws.edit(mobu.rel, |doc| {
        for f in &cached {
            if major == Some(5) {
                set(doc, GLOBAL_CACHEMACHINE, &ScalarValue::bool(false))?;
            } else {
                set(
                    doc,
                    &format!(
                        "config.autostart[{}].business.options.use_cachemachine",
                        f.index
                    ),
                    &ScalarValue::bool(false),
                )?;
            }
        }
        for f in v2.iter().rev() {
            doc.remove(0, &path(&format!("config.autostart[{}]", f.index)))?;
        }
        Ok(true)
    })?;
    if !v2.is_empty() {
        let (word, _) = flocks_word(v2.len());
        plan.notes.push(format!(
            "`{}`: mobu {word} {} tested nublado v2 and {} removed; the runbook restarts mobu",
            env.name,
            names(v2.iter().map(|f| f.name.as_str())),
            if v2.len() == 1 { "is" } else { "are" }
        ));
    }
    if !cached.is_empty() {
        let (word, _) = flocks_word(cached.len());
        plan.notes.push(format!(
            "`{}`: mobu {word} {} still relied on cachemachine, which this stage disables: switched off ({})",
            env.name,
            names(cached.iter().map(|f| f.name.as_str())),
            if major == Some(5) {
                format!("mobu 5's global `{GLOBAL_CACHEMACHINE}: false`")
            } else {
                "`use_cachemachine: false`".to_string()
            }
        ));
    }
    Ok(())
}

fn disable_v2(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), StageError> {
    plan.summary = "Disables nublado v2 with cachemachine and moneypenny, whose work nublado v3 does itself; mobu flocks that test v2 (aimed at /n2, or named for nublado2) are removed.".into();
    for app in V2_APPS {
        if env.enabled.contains(app) {
            set_app(p, env, ws, app, false)?;
        }
    }
    mobu_disable_v2(p, env, ws, plan)?;
    let left: Vec<String> = V2_APPS
        .iter()
        .map(|a| values_rel(a, &env.name))
        .filter(|r| ws.exists(r))
        .collect();
    if !left.is_empty() {
        plan.notes.push(format!(
            "`{}`: {} stay until `drop-v2-values`, so that this stage can be rolled back by a revert",
            env.name,
            left.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    plan.checklist.push(format!(
        "`{}`: announce that /n2 goes away (`gitops-migrate announce nublado disable-v2 --env {}`)",
        env.name, env.name
    ));
    Ok(())
}

/// Deletes the three applications' values files, once nothing in them is still the evidence of
/// an open mistake: while `validate` reports `nublado-v3-mount` errors for the environment (a
/// v2 mount v3 lost, or made writable), the stage refuses (`--force` deletes them anyway, and
/// the plan repeats the findings). The ledger compares every v2 setting with the v3 values as
/// they are: what v3 lacks is listed before it is deleted.
fn drop_v2_values(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
    opts: &Options,
) -> Result<(), StageError> {
    plan.summary = "Deletes the values files of nublado v2, cachemachine and moneypenny, which no longer deploy in this environment; every v2 setting is compared with the v3 values first.".into();
    let open: Vec<String> = crate::validate::phalanx_rules::check(p)
        .into_iter()
        .filter(|f| {
            f.rule == crate::validate::rule::NUBLADO_V3_MOUNT
                && f.severity == crate::validate::Severity::Error
                && f.scope.as_deref() == Some(env.name.as_str())
        })
        .map(|f| format!("`{}:{}`: {}", f.file, f.line, f.message))
        .collect();
    if !open.is_empty() {
        if !opts.force {
            return Err(StageError::EvidenceWouldGo {
                env: env.name.clone(),
                findings: open,
            });
        }
        plan.notes.push(format!(
            "--force: `{}` still has {} `nublado-v3-mount` error{} whose evidence (v2's mounts) this stage deletes: {}",
            env.name,
            open.len(),
            if open.len() == 1 { "" } else { "s" },
            open.join("; ")
        ));
        plan.todo.extend(open.iter().map(|f| {
            format!("{f} — fix it in the v3 values: the v2 mount it is judged against goes with this change")
        }));
    }
    // What v3 holds of every v2 setting, before the v2 files go.
    let answers = answers_from_v3(p, &env.name);
    let tr = translate::for_environment(p, &env.name, &answers);
    let mut ledger = tr.ledger;
    let v3 = values_rel(V3, &env.name);
    let doc = ws.text(&v3).and_then(|t| Document::parse(t).ok());
    ledger.verify(&v3, doc.as_ref());
    plan.todo
        .extend(ledger.operator_items().into_iter().map(ToString::to_string));
    plan.ledger.extend(ledger);
    for app in V2_APPS {
        let rel = values_rel(app, &env.name);
        if ws.exists(&rel) {
            ws.delete(&rel);
        }
    }
    Ok(())
}

/// The storage classes v3's lab volumes use where v2 mounted a PersistentVolumeClaim at the
/// same path, as the answers the translation would have needed.
fn answers_from_v3(p: &Phalanx, env: &str) -> Answers {
    let mut answers = Answers::default();
    let (Some(v2), Some(v3)) = (
        p.values_file(V2, env).and_then(|r| p.files.doc(r)),
        p.values_file(V3, env).and_then(|r| p.files.doc(r)),
    ) else {
        return answers;
    };
    let v2 = volumes::V2Lab::from_nublado2(v2);
    let v3 = volumes::V3Lab::from_nublado(v3, ChartVersion::of(p).syntax);
    for m in &v2.mounts {
        let Some(vol) = v2.volume(&m.name) else {
            continue;
        };
        if let (
            volumes::V2Source::Pvc { .. },
            Some(volumes::V3Source::Pvc {
                storage_class: Some(class),
            }),
        ) = (
            &vol.source,
            v3.at(&m.mount_path).and_then(|x| x.source.as_ref()),
        ) {
            answers
                .storage_class
                .insert(vol.name.clone(), class.clone());
        }
    }
    answers
}

/// The steps the runbooks are made of.
mod steps {
    use crate::playbook::Step;

    pub fn vault_secret() -> Step {
        Step::new(
            "vault-secret:nublado",
            "create the Vault secret `<vaultPathPrefix>/nublado` (generated keys; existing keys kept)",
        )
        .off_cluster()
    }

    pub fn vault_cleanup() -> Step {
        Step::new(
            "vault-cleanup",
            "save a private copy of the nublado2, cachemachine and moneypenny Vault secrets, then delete them",
        )
        .destructive()
        .off_cluster()
    }

    pub fn database_cleanup() -> Step {
        Step::new(
            "database-cleanup",
            "pg_dump v2's `jupyterhub` database to a private file, then drop it and the `jovyan` role (refused while clients are connected)",
        )
        .destructive()
        .off_cluster()
    }

    pub fn check_db_role(role: &str) -> Step {
        Step::new(
            format!("check-db-role:{role}"),
            format!("check that the in-cluster PostgreSQL server has the role `{role}` (nublado v3's hub connects as it)"),
        )
        .off_cluster()
    }

    pub fn stop_mobu() -> Step {
        Step::new(
            "stop-mobu-flocks",
            "stop mobu's autostart flocks so the outage raises no alarms",
        )
        .destructive()
    }

    pub fn delete_hub(namespace: &str, what: &str) -> Step {
        Step::new(
            format!("delete-hub-deployment:{namespace}"),
            format!("{what}: delete Deployment `hub` in namespace `{namespace}`"),
        )
        .destructive()
    }

    pub fn delete_labs(app: &str, what: &str) -> Step {
        Step::new(format!("delete-lab-namespaces:{app}"), what).destructive()
    }

    pub fn sync(app: &str, what: &str) -> Step {
        Step::new(format!("sync-app:{app}"), format!("sync `{app}`: {what}"))
    }

    pub fn check_route(route: &str, hub: &str) -> Step {
        Step::new(
            format!("check-route:{route}"),
            format!("check that the {hub} hub answers on {route}/hub/health"),
        )
    }

    pub fn test_lab(route: &str) -> Step {
        Step::new(
            "manual:test-lab",
            format!("spawn a lab on {route}, run a cell and a terminal command, shut it down"),
        )
        .off_cluster()
    }
}

/// The window runbook of a stage.
fn window(p: &Phalanx, stage: Stage, envs: &[&Environment], plan: &mut StagePlan) {
    use steps::*;
    let mobu = envs.iter().any(|e| e.enabled.contains("mobu"));
    let envs_text = envs
        .iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let v2_labs = "delete the v2 lab namespaces `nublado2-<user>` (exact prefix)";
    let mut steps = Vec::new();
    // v3's secret must exist before its application syncs; the step keeps existing keys, so
    // it can also run ahead of the window (`--only vault-secret`).
    if stage == Stage::EnableV3 {
        steps.push(vault_secret());
    }
    if mobu && matches!(stage, Stage::EnableV3 | Stage::MakeDefault) {
        steps.push(stop_mobu());
    }
    // v3's database on the in-cluster server: the postgres values gained (or have) its block,
    // which only a sync of `postgres` turns into a database and a role.
    let postgres_edited = plan
        .changes
        .paths()
        .iter()
        .any(|p| p.starts_with("applications/postgres/"));
    let in_cluster_roles: Vec<String> = envs
        .iter()
        .filter_map(|e| {
            let db = hub_db::plan(p, &e.name, None);
            let url = db.url().map(str::to_string)?;
            (db.is_in_cluster() || postgres_edited).then(|| {
                database::DbUrl::parse(&url)
                    .user
                    .unwrap_or(database::V3_ROLE)
                    .to_string()
            })
        })
        .collect();
    let mut roles: Vec<String> = in_cluster_roles;
    roles.sort();
    roles.dedup();
    match stage {
        Stage::EnableV3 => {
            steps.extend([
                delete_hub("nublado2", "disable logins"),
                delete_labs("nublado2", v2_labs),
                sync("science-platform", "creates the `nublado` application"),
            ]);
            if postgres_edited || !roles.is_empty() {
                steps.push(sync(
                    "postgres",
                    "creates nublado v3's database and role from the `*_db` block of its values",
                ));
                for role in &roles {
                    steps.push(check_db_role(role));
                }
            }
            steps.extend([
            sync("nublado", "starts nublado v3 on /n3"),
            check_route(BESIDE_ROUTE, "v3"),
            test_lab(BESIDE_ROUTE),
            sync("nublado2", "brings back the v2 hub on /nb"),
            check_route(DEFAULT_ROUTE, "v2"),
            ]);
        }
        Stage::MakeDefault => steps.extend([
            delete_hub("nublado2", "disable logins to v2"),
            delete_hub("nublado", "disable logins to v3"),
            delete_labs("nublado2", v2_labs),
            delete_labs(
                "nublado",
                "delete the v3 lab namespaces `nublado-<user>` labelled `nublado.lsst.io/category=lab`",
            ),
            sync("nublado2", "v2 moves to /n2"),
            check_route(V2_ROUTE, "v2"),
            sync("nublado", "v3 takes the default route /nb"),
            check_route(DEFAULT_ROUTE, "v3"),
            test_lab(DEFAULT_ROUTE),
        ]),
        Stage::DisableV2 => steps.extend([
            sync(
                "science-platform",
                "with prune: deletes the nublado2, cachemachine and moneypenny applications",
            )
            .pruning(V2_APPS.map(|a| format!("Application/{a}"))),
            delete_labs("nublado2", "delete the remaining v2 lab namespaces `nublado2-<user>`"),
        ]),
        Stage::Finish => {
            steps.push(vault_cleanup());
            // The cleanup never drops a database nublado v3 uses: where v3 is on v2's
            // `jupyterhub` (an environment's run), the step is left out.
            let in_use = v3_on_v2_database(p);
            let keep = !envs.is_empty()
                && envs
                    .iter()
                    .all(|e| in_use.iter().any(|(x, _)| *x == e.name));
            if keep {
                plan.notes.push(format!(
                    "`database-cleanup` is left out: nublado v3 in {} uses the `jupyterhub` database",
                    names(envs.iter().map(|e| e.name.as_str()))
                ));
            } else {
                steps.push(database_cleanup());
            }
        }
        Stage::DropV2Values => {}
    }
    let mobu_changed = plan
        .changes
        .paths()
        .iter()
        .any(|p| p.starts_with("applications/mobu/"));
    if mobu_changed {
        steps.push(sync("mobu", "applies its new flock configuration"));
    }
    if mobu
        && matches!(
            stage,
            Stage::EnableV3 | Stage::MakeDefault | Stage::DisableV2
        )
    {
        steps.push(Step::new(
            "restore-mobu",
            "restart mobu's Deployment so it reads its flocks again, and wait until it is ready",
        ));
    }
    plan.runbook = steps;
    let route_checks: Vec<String> = envs
        .iter()
        .map(|e| {
            let fqdn = e.fqdn.clone().unwrap_or_else(|| "<fqdn>".into());
            match stage {
                Stage::EnableV3 => format!("`https://{fqdn}/n3/hub/health` answers (v3) and `https://{fqdn}/nb/hub/health` too (v2)"),
                Stage::MakeDefault => format!("`https://{fqdn}/nb/hub/health` answers (now v3) and `https://{fqdn}/n2/hub/health` (v2)"),
                Stage::DisableV2 => format!("`https://{fqdn}/n2/hub/health` no longer answers; `https://{fqdn}/nb/hub/health` does"),
                _ => String::new(),
            }
        })
        .filter(|s| !s.is_empty())
        .collect();
    plan.verify = route_checks;
    if !envs.is_empty() {
        plan.verify.push(format!(
            "`gitops-migrate status` shows {envs_text} in the next state"
        ));
    }
    if mobu && stage != Stage::DropV2Values {
        plan.verify
            .push("mobu's flocks run their notebooks without errors".into());
    }
    plan.rollback = match stage {
        Stage::EnableV3 => vec![
            "revert this pull request and sync `science-platform` with prune (deletes the nublado application); v2 never left /nb".into(),
        ],
        Stage::MakeDefault => vec![
            "revert this pull request, then in a window sync `nublado2` and `nublado` again: v2 returns to /nb and v3 to /n3".into(),
        ],
        Stage::DisableV2 => vec![
            "revert this pull request and sync `science-platform`: the three applications come back with their values files".into(),
        ],
        Stage::DropV2Values => vec!["revert this pull request (the applications are already disabled)".into()],
        Stage::Finish => vec!["revert this pull request".into()],
    };
}

/// The window runbook of `stage` for one environment, whatever the environment's state in
/// the checkout: `exec` runs after the stage's pull request is merged, when the files already
/// show the next state. Before the merge (the environment still in the stage's from-state) it is
/// the plan's runbook; after it, the stage's change to mobu can no longer be seen, so the sync of
/// mobu is kept wherever the stage may have changed its flocks (syncing an unchanged
/// application changes nothing).
pub fn runbook(p: &Phalanx, stage: Stage, env: &Environment) -> Vec<Step> {
    let at_from = stage
        .from_state()
        .is_some_and(|s| environment_state(p, env).state == s);
    if at_from
        && let Ok(plan) = plan(
            p,
            stage,
            std::slice::from_ref(&env.name),
            &Options::default(),
        )
    {
        return plan.runbook;
    }
    let mut scratch = StagePlan::new("nublado", stage.name(), vec![env.name.clone()]);
    window(p, stage, &[env], &mut scratch);
    let mut out = scratch.runbook;
    if env.enabled.contains("mobu")
        && matches!(stage, Stage::MakeDefault | Stage::DisableV2)
        && !out.iter().any(|s| s.id == "sync-app:mobu")
    {
        let at = out
            .iter()
            .position(|s| s.id == "restore-mobu")
            .unwrap_or(out.len());
        out.insert(
            at,
            steps::sync("mobu", "applies its new flock configuration"),
        );
    }
    out
}

/// Retires the three v2 applications from the repository once no environment uses them.
fn finish(
    p: &Phalanx,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
    opts: &Options,
) -> Result<(), StageError> {
    plan.summary = "Retires nublado v2, cachemachine and moneypenny from the repository now that every environment runs nublado v3 alone: their application folders, Argo CD Application templates, defaults, v2 database settings and template conditions go.".into();
    let pending: Vec<(String, State)> = p
        .environments
        .iter()
        .map(|e| (e.name.clone(), environment_state(p, e).state))
        .filter(|(_, s)| !matches!(s, State::None | State::Complete))
        .collect();
    if !pending.is_empty() && !opts.force {
        return Err(StageError::FinishBlocked { pending });
    }
    for (e, s) in &pending {
        plan.notes
            .push(format!("--force: `{e}` is `{s}`, not `none` or `complete`"));
    }
    let root = p.files.root();
    // The applications' folders, every file in them.
    for app in V2_APPS {
        let dir = root.join("applications").join(app);
        for entry in walkdir::WalkDir::new(&dir)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_file() {
                let rel = crate::repo::files::relative(root, entry.path());
                ws.delete(&rel);
            }
        }
    }
    // Their Argo CD Application templates.
    let templates = root.join("environments/templates");
    for entry in walkdir::WalkDir::new(&templates)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        let stem = name
            .trim_end_matches(".yaml")
            .trim_end_matches("-application");
        if V2_APPS.contains(&stem) {
            ws.delete(&crate::repo::files::relative(root, entry.path()));
        }
    }
    // Their flags: the defaults (with their `# --` doc comments) and every environment file
    // (Format A keeps a disabled application's block; Format C may keep a `false` line).
    for file in std::iter::once(&p.defaults).chain(p.environments.iter().map(|e| &e.file)) {
        if !ws.exists(&file.rel) {
            continue;
        }
        let flags: Vec<&AppFlag> = file
            .flags
            .iter()
            .filter(|f| V2_APPS.contains(&f.app.as_str()))
            .collect();
        if flags.is_empty() {
            continue;
        }
        ws.edit(&file.rel, |doc| {
            let mut changed = false;
            for f in &flags {
                let key = match f.form {
                    FlagForm::Block => f.app.clone(),
                    _ => format!("applications.{}", f.app),
                };
                changed |= remove_if_present(doc, &key)?;
            }
            Ok(changed)
        })?;
    }
    finish_databases(p, ws, plan)?;
    // Template conditions and scrape targets that name nublado2.
    for entry in walkdir::WalkDir::new(&templates).into_iter().flatten() {
        if entry.file_type().is_file() {
            let rel = crate::repo::files::relative(root, entry.path());
            ws.replace_text(
                &rel,
                "(or .Values.applications.nublado .Values.applications.nublado2)",
                ".Values.applications.nublado",
            );
        }
    }
    for app in ["telegraf", "telegraf-ds"] {
        if let Some(a) = p.applications.get(app) {
            let mut files: Vec<String> = a.values.values().cloned().collect();
            files.push(p.chart_defaults(app));
            for rel in files {
                ws.replace_text(&rel, "hub.nublado2", "hub.nublado");
            }
        }
    }
    plan.checklist
        .push("remove the `nublado2` secret from Vault for every environment".into());
    plan.ledger = finish_ledger(p, ws);
    // The window runs per environment: each that ran nublado v2 (now `complete`).
    plan.exec_targets = p
        .environments
        .iter()
        .filter(|e| environment_state(p, e).state == State::Complete)
        .map(|e| e.name.clone())
        .collect();
    Ok(())
}

/// What `finish` removes, setting by setting: every YAML file it deletes (the applications'
/// charts and values, their Application templates), the flags of the three applications in the
/// environment files, and v2's `jupyterhub_db` blocks and password.
fn finish_ledger(p: &Phalanx, ws: &Workspace<'_>) -> Ledger {
    let mut ledger = Ledger::default();
    let original = |rel: &str| -> Option<Document> {
        let text = match p.files.get(rel) {
            Some(l) => l.text.clone(),
            None => std::fs::read_to_string(p.files.root().join(rel)).ok()?,
        };
        Document::parse(text).ok()
    };
    for op in ws.changes.ops() {
        let rel = op.path();
        if !(rel.ends_with(".yaml") || rel.ends_with(".yml")) {
            continue;
        }
        let Some(doc) = original(rel) else { continue };
        match op {
            crate::change::FileOp::Delete { .. } => {
                let app = rel.split('/').nth(1).unwrap_or("");
                ledger.extend(Ledger::removed(
                    rel,
                    &doc,
                    &["."],
                    &format!("`{app}` is retired: its chart, values and Application go"),
                ));
            }
            _ => {
                let after = ws.text(rel).and_then(|t| Document::parse(t).ok());
                let gone = |path: &str| {
                    lookup(&doc, path).is_some()
                        && after.as_ref().is_none_or(|a| lookup(a, path).is_none())
                };
                let mut paths: Vec<String> = Vec::new();
                for app in V2_APPS {
                    for key in [app.to_string(), format!("applications.{app}")] {
                        if gone(&key) {
                            paths.push(key);
                        }
                    }
                }
                for key in ["jupyterhub_db", "jupyterhub_password"] {
                    if gone(key) {
                        paths.push(key.to_string());
                    }
                }
                if !paths.is_empty() {
                    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
                    ledger.extend(Ledger::removed(
                        rel,
                        &doc,
                        &refs,
                        "a setting of the retired nublado v2 (its flag, its session database), which no environment uses any more",
                    ));
                }
            }
        }
    }
    ledger
}

/// The environments whose nublado v3 uses v2's `jupyterhub` database on the in-cluster server
/// (its effective URL: the values file, else the chart default of the version in the
/// repository), with where that URL comes from. `finish` keeps their `jupyterhub_db` and the
/// cleanup keeps their database.
pub fn v3_on_v2_database(p: &Phalanx) -> Vec<(String, String)> {
    p.environments
        .iter()
        .filter(|e| e.enabled.contains(V3))
        .filter_map(|e| {
            let db = database::v3_hub_database(p, &e.name);
            db.is_in_cluster_v2_database()
                .then(|| (e.name.clone(), db.source.describe()))
        })
        .collect()
}

/// v2's database in the in-cluster PostgreSQL settings goes (`jupyterhub_db`, its password),
/// except where nublado v3 still uses it: there it stays, and the plan says why.
fn finish_databases(
    p: &Phalanx,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), StageError> {
    let Some(pg) = p.applications.get(database::POSTGRES) else {
        return Ok(());
    };
    let in_use = v3_on_v2_database(p);
    for (env, rel) in &pg.values {
        if !ws.exists(rel) {
            continue;
        }
        match in_use.iter().find(|(e, _)| e == env) {
            Some((_, source)) => {
                if ws
                    .text(rel)
                    .and_then(|t| Document::parse(t).ok())
                    .is_some_and(|d| lookup(&d, "jupyterhub_db").is_some())
                {
                    plan.notes.push(format!(
                        "`{rel}`: `jupyterhub_db` stays: nublado v3 in `{env}` uses the `jupyterhub` database of the in-cluster server ({source}); move v3 to its own database before retiring it"
                    ));
                }
            }
            None => {
                ws.edit(rel, |doc| remove_if_present(doc, "jupyterhub_db"))?;
            }
        }
    }
    if in_use.is_empty() {
        let defaults = p.chart_defaults(database::POSTGRES);
        if ws.exists(&defaults) {
            ws.edit(&defaults, |doc| remove_if_present(doc, "jupyterhub_db"))?;
        }
        let secrets = "applications/postgres/secrets.yaml";
        if ws.exists(secrets) {
            ws.edit(secrets, |doc| remove_if_present(doc, "jupyterhub_password"))?;
        }
        plan.checklist.push("after a `pg_dump`, drop the `jupyterhub` database and the `jovyan` role where the in-cluster PostgreSQL server ran them (refuse while clients are connected): the window's `database-cleanup` step".into());
    } else {
        let kept: Vec<&str> = in_use.iter().map(|(e, _)| e.as_str()).collect();
        plan.notes.push(format!(
            "the postgres chart's `jupyterhub_db` default and the `jupyterhub_password` secret stay while nublado v3 uses the `jupyterhub` database ({})",
            names(kept.iter().copied())
        ));
        plan.checklist.push(format!(
            "after a `pg_dump`, drop the `jupyterhub` database and the `jovyan` role where the in-cluster PostgreSQL server ran them (refuse while clients are connected), except in {}, whose nublado v3 uses it: the window's `database-cleanup` step, which those environments' runbooks leave out",
            names(kept.iter().copied())
        ));
    }
    Ok(())
}

/// References to the retired applications left anywhere in the repository after `finish`
/// (docs, READMEs, other charts), as `file:line: text`, for the operator.
pub fn remaining_references(p: &Phalanx, plan: &StagePlan) -> Vec<String> {
    let root = p.files.root();
    let ws_text = |rel: &str| -> Option<String> {
        match plan.changes.content(rel) {
            Some(after) => after.map(str::to_string),
            None => std::fs::read_to_string(root.join(rel)).ok(),
        }
    };
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !(e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.')));
    for entry in walker.flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = crate::repo::files::relative(root, entry.path());
        let Some(text) = ws_text(&rel) else { continue };
        for (i, line) in text.lines().enumerate() {
            if V2_APPS.iter().any(|a| crate::text::contains_word(line, a)) {
                out.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_round_trip() {
        for s in STAGES {
            assert_eq!(Stage::from_name(s.name()), Some(s));
        }
        assert_eq!(Stage::from_name("enable"), None);
    }

    #[test]
    fn words_and_database_names() {
        assert!(crate::text::contains_word("enabled: nublado2", "nublado2"));
        assert!(!crate::text::contains_word("nublado20", "nublado2"));
        assert!(!crate::text::contains_word(
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
