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

use super::routes::{BASE_URL, DEFAULT_ROUTE, HUB_ROUTE, expected_hub_route};
use super::state::{State, environment_state};
use super::translate::{self, Answers, Translation};
use super::{MOBU_LAB_TYPES, V2, V2_APPS, V3};
use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::playbook::{StagePlan, Step};
use crate::repo::phalanx::{Environment, Format};
use crate::repo::{Phalanx, lookup};
use crate::suggest::closest;
use crate::yaml::{Document, EditError, NewValue, Node, Path, ScalarValue};

/// The route v3 runs on beside v2, and the route v2 moves to.
pub const BESIDE_ROUTE: &str = "/n3";
pub const V2_ROUTE: &str = "/n2";
/// v3's own database on the in-cluster PostgreSQL server.
pub const V3_DB_URL: &str = "postgresql://nublado3@postgres.postgres/nublado3";

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
fn order(state: State) -> Option<u8> {
    match state {
        State::V2Only => Some(0),
        State::V3Beside => Some(1),
        State::V3Default => Some(2),
        State::V2Disabled => Some(3),
        State::Complete => Some(4),
        State::None | State::Conflict => None,
    }
}

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
    #[error(
        "--pvc-storage-class, --pvc-access-modes and --pvc-size answer `enable-v3`, not `{stage}`"
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
    if stage != Stage::EnableV3 && !opts.answers.is_empty() {
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
        let done = matches!((order(st.state), order(expected)), (Some(a), Some(b)) if a > b);
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
                claims.extend(enable_v3(p, env, &mut ws, &mut plan, &opts.answers)?);
            }
            Stage::MakeDefault => make_default(p, env, &mut ws, &mut plan)?,
            Stage::DisableV2 => disable_v2(p, env, &mut ws, &mut plan)?,
            Stage::DropV2Values => drop_v2_values(p, env, &mut ws, &mut plan),
            Stage::Finish => unreachable!(),
        }
    }
    check_answers(&opts.answers, &claims, &ready)?;
    plan.extra_args = opts.answers.args();
    plan.changes = ws.changes;
    plan.targets = ready.iter().map(|e| e.name.clone()).collect();
    window(stage, &ready, &mut plan);
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

/// Enables v3 beside v2. A new v3 values file gets the site's lab settings translated from
/// v2's; returns the (volume, claim) of the v2 PVC volumes the translation met, which the
/// operator's answers may name.
fn enable_v3(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
    answers: &Answers,
) -> Result<Vec<(String, String)>, StageError> {
    plan.summary = "Runs nublado v3 beside nublado v2: v3 is enabled on the route /n3 (with its labs' HUB_ROUTE to match) while v2 keeps the default route /nb, so users can try v3 before it becomes the default. A new v3 values file carries the site's lab volumes, environment variables, image source and home-directory initialisation, translated from the v2 settings.".into();
    set_app(p, env, ws, V3, true)?;
    let rel = values_rel(V3, &env.name);
    let hub_route = expected_hub_route(BESIDE_ROUTE);
    let mut claims = Vec::new();
    if !ws.exists(&rel) {
        let tr = translate::for_environment(p, &env.name, answers);
        let mut doc =
            Document::parse(new_values_text(&env.name, &tr)).map_err(|e| WorkspaceError {
                file: rel.clone(),
                error: format!("the translated values do not parse: {e}"),
            })?;
        set(&mut doc, HUB_ROUTE, &ScalarValue::double_quoted(&hub_route))
            .and_then(|_| {
                set(
                    &mut doc,
                    BASE_URL,
                    &ScalarValue::double_quoted(BESIDE_ROUTE),
                )
            })
            .map_err(|e| WorkspaceError {
                file: rel.clone(),
                error: e.to_string(),
            })?;
        ws.create(&rel, doc.text().to_string());
        plan.todo
            .extend(tr.untranslated.iter().map(|u| u.to_string()));
        plan.notes.extend(tr.notes.iter().cloned());
        plan.tables.push(tr.table(&env.name));
        claims = tr.claims;
    } else {
        ws.edit(&rel, |doc| {
            let a = set(doc, BASE_URL, &ScalarValue::double_quoted(BESIDE_ROUTE))?;
            let b = set(doc, HUB_ROUTE, &ScalarValue::double_quoted(&hub_route))?;
            Ok(a || b)
        })?;
        plan.notes.push(format!(
            "`{rel}` exists already: its lab settings are kept as they are (nothing is translated from v2); `gitops-migrate validate` compares its lab volumes with v2's mounts (`nublado-v3-mount`)"
        ));
    }
    // v3 never shares v2's `jupyterhub` database.
    let db = v3_db_url(p, ws, &env.name);
    let on_v2_db = db.as_deref().and_then(database_name) == Some("jupyterhub");
    // v3 uses the in-cluster server when its URL names it (or names nothing yet).
    let in_cluster = db
        .as_deref()
        .is_none_or(|u| database_host(u) == Some(IN_CLUSTER_HOST));
    if env.enabled.contains("postgres") && in_cluster {
        let pg = values_rel("postgres", &env.name);
        if ws.exists(&pg) {
            ws.edit(&pg, |doc| {
                // In the style of the file's other databases: `jupyterhub_db: {user: …, db: …}`.
                let flow = lookup(doc, "jupyterhub_db")
                    .or_else(|| lookup(doc, "gafaelfawr_db"))
                    .and_then(Node::as_mapping)
                    .is_some_and(|m| m.flow);
                if flow && lookup(doc, "nublado3_db").is_none() {
                    let q = match doc.style().quote {
                        crate::yaml::ScalarStyle::SingleQuoted => "'",
                        crate::yaml::ScalarStyle::Plain => "",
                        _ => "\"",
                    };
                    let value = format!("{{user: {q}nublado3{q}, db: {q}nublado3{q}}}");
                    return doc.set_value(0, &path("nublado3_db"), &NewValue::Yaml(value));
                }
                let a = set(doc, "nublado3_db.user", &ScalarValue::string("nublado3"))?;
                let b = set(doc, "nublado3_db.db", &ScalarValue::string("nublado3"))?;
                Ok(a || b)
            })?;
        } else {
            let mut doc = Document::parse(String::new()).expect("empty parses");
            set(
                &mut doc,
                "nublado3_db.user",
                &ScalarValue::double_quoted("nublado3"),
            )
            .and_then(|_| {
                set(
                    &mut doc,
                    "nublado3_db.db",
                    &ScalarValue::double_quoted("nublado3"),
                )
            })
            .map_err(|e| WorkspaceError {
                file: pg.clone(),
                error: e.to_string(),
            })?;
            ws.create(&pg, doc.text().to_string());
        }
        if on_v2_db || db.is_none() {
            ws.edit(&rel, |doc| {
                set(
                    doc,
                    "jupyterhub.hub.db.url",
                    &ScalarValue::double_quoted(V3_DB_URL),
                )
            })?;
        }
        plan.checklist.push(format!(
            "`{}`: the in-cluster PostgreSQL server creates the `nublado3` database and role when the postgres application syncs; put the role's password in Vault as `hub_db_password`",
            env.name
        ));
    } else if on_v2_db {
        plan.todo.push(format!(
            "`{rel}`: set `jupyterhub.hub.db.url` to the database your DBAs provide for nublado v3 (v3 must not share nublado v2's `jupyterhub` database)"
        ));
    }
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
    Ok(claims)
}

/// A new v3 values file: a header, then the translated `controller:` block.
fn new_values_text(env: &str, tr: &Translation) -> String {
    let controller = tr.controller_yaml();
    let mut text = match controller {
        Some(_) => format!(
            "# Nublado v3 for {env}: lab volumes, environment variables, image source and\n\
             # home-directory initialisation translated from its nublado v2 settings.\n"
        ),
        None => format!("# Nublado v3 for {env}.\n"),
    };
    if !tr.untranslated.is_empty() {
        text.push_str(
            "# Some v2 settings could not be translated: `gitops-migrate plan` and the pull\n\
             # request list them.\n",
        );
    }
    text.push_str(&controller.unwrap_or_default());
    text
}

/// v3's database URL after the stage's edits so far: the environment's values, else the chart
/// default.
fn v3_db_url(p: &Phalanx, ws: &Workspace<'_>, env: &str) -> Option<String> {
    let from = |rel: &str| {
        ws.text(rel)
            .and_then(|t| Document::parse(t).ok())
            .and_then(|d| {
                lookup(&d, "jupyterhub.hub.db.url")
                    .and_then(|n| n.scalar_text().map(str::to_string))
            })
    };
    from(&values_rel(V3, env)).or_else(|| from(&p.chart_defaults(V3)))
}

/// The in-cluster PostgreSQL server's service.
pub const IN_CLUSTER_HOST: &str = "postgres.postgres";

/// `postgresql://user@host:5432/db` → `host`.
pub fn database_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(host.split(':').next().unwrap_or(host))
}

/// `postgresql://user@host/db?x` → `db`.
pub fn database_name(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split_once('/')?.1;
    Some(path.split(['?', '#']).next().unwrap_or(path))
}

/// The database nublado v3's hub uses in an environment, and where that is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDatabase {
    /// `jupyterhub.hub.db.url`.
    pub url: String,
    /// `applications/nublado/values-idfdev.yaml:33`.
    pub source: String,
}

impl HubDatabase {
    /// The database's name (`jupyterhub`), when the URL names one.
    pub fn name(&self) -> Option<&str> {
        database_name(&self.url)
    }
}

/// nublado v3's hub database in `env` as it takes effect: `jupyterhub.hub.db.url` of
/// `applications/nublado/values-<env>.yaml`, else of the chart defaults (`values.yaml`, which
/// in several chart versions names v2's `jupyterhub` database). `None` when neither sets it.
pub fn v3_hub_database(p: &Phalanx, env: &str) -> Option<HubDatabase> {
    let setting = p.setting(V3, env, "jupyterhub.hub.db.url")?;
    let (line, _) = setting.position();
    Some(HubDatabase {
        url: setting.text()?.to_string(),
        source: format!("{}:{line}", setting.rel),
    })
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

/// The lab flocks of mobu's values for an environment: (index, name, business type, options).
fn lab_flocks(doc: &Document) -> Vec<(usize, String, Option<String>)> {
    let Some(flocks) = lookup(doc, "config.autostart").and_then(Node::as_sequence) else {
        return Vec::new();
    };
    flocks
        .items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let m = item.value.as_mapping()?;
            let name = m.get("name")?.value.scalar_text()?.to_string();
            let business = m.get("business")?.value.as_mapping()?;
            let btype = business.get("type")?.value.scalar_text()?.to_string();
            if !MOBU_LAB_TYPES.contains(&btype.as_str()) {
                return None;
            }
            let prefix = business
                .get("options")
                .and_then(|o| o.value.as_mapping())
                .and_then(|o| o.get("url_prefix"))
                .and_then(|e| e.value.scalar_text())
                .map(str::to_string);
            Some((i, name, prefix))
        })
        .collect()
}

fn mobu_make_default(
    p: &Phalanx,
    env: &Environment,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), StageError> {
    if !env.enabled.contains("mobu") {
        return Ok(());
    }
    let rel = values_rel("mobu", &env.name);
    let Some(doc) = ws.text(&rel).and_then(|t| Document::parse(t).ok()) else {
        return Ok(());
    };
    let major = p.app_version("mobu").and_then(|v| v.first().copied());
    let flocks = lab_flocks(&doc);
    if flocks.is_empty() {
        return Ok(());
    }
    let changed = ws.edit(&rel, |doc| {
        let mut changed = false;
        for (i, _, prefix) in &flocks {
            let options = format!("config.autostart[{i}].business.options");
            if major.is_some_and(|m| m >= 7) {
                changed |= remove_if_present(doc, &format!("{options}.use_cachemachine"))?;
            } else {
                changed |= set(
                    doc,
                    &format!("{options}.use_cachemachine"),
                    &ScalarValue::bool(false),
                )?;
            }
            if prefix.as_deref().map(super::routes::normalize).as_deref() == Some(BESIDE_ROUTE) {
                changed |= remove_if_present(doc, &format!("{options}.url_prefix"))?;
            }
        }
        Ok(changed)
    })?;
    if changed {
        plan.notes.push(format!(
            "`{}`: mobu reads its flocks only when it starts; the runbook restarts it (an Argo CD sync of an unchanged application does not)",
            env.name
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
    plan.summary = "Disables nublado v2 with cachemachine and moneypenny, whose work nublado v3 does itself; mobu flocks still aimed at v2 (/n2) are removed.".into();
    for app in V2_APPS {
        if env.enabled.contains(app) {
            set_app(p, env, ws, app, false)?;
        }
    }
    if env.enabled.contains("mobu") {
        let rel = values_rel("mobu", &env.name);
        if let Some(doc) = ws.text(&rel).and_then(|t| Document::parse(t).ok()) {
            let v2_flocks: Vec<(usize, String)> = lab_flocks(&doc)
                .into_iter()
                .filter(|(_, _, prefix)| {
                    prefix.as_deref().map(super::routes::normalize).as_deref() == Some(V2_ROUTE)
                })
                .map(|(i, n, _)| (i, n))
                .collect();
            if !v2_flocks.is_empty() {
                ws.edit(&rel, |doc| {
                    for (i, _) in v2_flocks.iter().rev() {
                        doc.remove(0, &path(&format!("config.autostart[{i}]")))?;
                    }
                    Ok(true)
                })?;
                plan.notes.push(format!(
                    "`{}`: mobu flocks {} tested nublado v2 and are removed; the runbook restarts mobu",
                    env.name,
                    v2_flocks.iter().map(|(_, n)| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
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

fn drop_v2_values(_p: &Phalanx, env: &Environment, ws: &mut Workspace<'_>, plan: &mut StagePlan) {
    plan.summary = "Deletes the values files of nublado v2, cachemachine and moneypenny, which no longer deploy in this environment.".into();
    for app in V2_APPS {
        let rel = values_rel(app, &env.name);
        if ws.exists(&rel) {
            ws.delete(&rel);
        }
    }
}

/// The steps the runbooks are made of.
mod steps {
    use crate::playbook::Step;

    pub fn vault_secret() -> Step {
        Step::new(
            "vault-secret:nublado",
            "create the Vault secret `<vaultPathPrefix>/nublado` (generated keys; existing keys kept)",
        )
    }

    pub fn vault_cleanup() -> Step {
        Step::new(
            "vault-cleanup",
            "save a private copy of the nublado2, cachemachine and moneypenny Vault secrets, then delete them",
        )
        .destructive()
    }

    pub fn database_cleanup() -> Step {
        Step::new(
            "database-cleanup",
            "pg_dump v2's `jupyterhub` database to a private file, then drop it and the `jovyan` role (refused while clients are connected)",
        )
        .destructive()
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
    }
}

/// The window runbook of a stage.
fn window(stage: Stage, envs: &[&Environment], plan: &mut StagePlan) {
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
    match stage {
        Stage::EnableV3 => steps.extend([
            delete_hub("nublado2", "disable logins"),
            delete_labs("nublado2", v2_labs),
            sync("science-platform", "creates the `nublado` application"),
            sync("nublado", "starts nublado v3 on /n3"),
            check_route(BESIDE_ROUTE, "v3"),
            test_lab(BESIDE_ROUTE),
            sync("nublado2", "brings back the v2 hub on /nb"),
            check_route(DEFAULT_ROUTE, "v2"),
        ]),
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
        Stage::Finish => steps.extend([vault_cleanup(), database_cleanup()]),
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
    window(stage, &[env], &mut scratch);
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
    // Their defaults (with their `# --` doc comments).
    let defaults = p.defaults.rel.clone();
    if ws.exists(&defaults) {
        let format = p.defaults.format;
        ws.edit(&defaults, |doc| {
            let mut changed = false;
            for app in V2_APPS {
                let key = match format {
                    Format::A => app.to_string(),
                    _ => format!("applications.{app}"),
                };
                changed |= remove_if_present(doc, &key)?;
            }
            Ok(changed)
        })?;
    }
    // v2's database in the in-cluster PostgreSQL settings.
    if let Some(pg) = p.applications.get("postgres") {
        let mut files: Vec<&String> = pg.values.values().collect();
        let defaults = p.chart_defaults("postgres");
        files.push(&defaults);
        for rel in files {
            if ws.exists(rel) {
                ws.edit(rel, |doc| remove_if_present(doc, "jupyterhub_db"))?;
            }
        }
        let secrets = "applications/postgres/secrets.yaml";
        if ws.exists(secrets) {
            ws.edit(secrets, |doc| remove_if_present(doc, "jupyterhub_password"))?;
        }
    }
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
    plan.checklist.push("after a `pg_dump`, drop the `jupyterhub` database and the `jovyan` role where the in-cluster PostgreSQL server ran them (refuse while clients are connected)".into());
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
            if V2_APPS.iter().any(|a| contains_word(line, a)) {
                out.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    out
}

/// `word` in `line`, not as part of a longer name (`nublado2` is not in `nublado20`).
fn contains_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        let is_name = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !is_name(before) && !is_name(after)
    })
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
        assert!(contains_word("enabled: nublado2", "nublado2"));
        assert!(!contains_word("nublado20", "nublado2"));
        assert!(!contains_word("my_cachemachine_x", "cachemachine"));
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
    fn v3_hub_database_from_the_values_file_else_the_chart_default() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phalanx");
        let p = Phalanx::load(&root).unwrap();
        // idfdev sets its own database.
        let own = v3_hub_database(&p, "idfdev").unwrap();
        assert_eq!(own.url, "postgresql://nublado3@postgres.postgres/nublado3");
        assert_eq!(own.name(), Some("nublado3"));
        assert!(
            own.source
                .starts_with("applications/nublado/values-idfdev.yaml:"),
            "{}",
            own.source
        );
        // An environment without the key in its values file gets the chart default: v2's.
        let default = v3_hub_database(&p, "idfprod").unwrap();
        assert_eq!(default.name(), Some("jupyterhub"));
        assert_eq!(default.source, "applications/nublado/values.yaml:51");
        // An environment with no nublado at all has none either way: the chart default.
        assert_eq!(
            v3_hub_database(&p, "nowhere").map(|d| d.source),
            Some("applications/nublado/values.yaml:51".to_string())
        );
    }

    #[test]
    fn the_hub_route_of_the_beside_route() {
        assert_eq!(expected_hub_route(BESIDE_ROUTE), "/n3/hub");
    }
}
