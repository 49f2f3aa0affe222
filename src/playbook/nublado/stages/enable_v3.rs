//! `enable-v3`: nublado v3 beside v2 on `/n3`, with v2's lab settings translated into a new
//! (or completed) v3 values file, and v3's hub database following v2's.
//!
//! Does not own: the translation itself (`translate`) or the window runbook (`runbook`).

use crate::playbook::StagePlan;
use crate::playbook::nublado::V3;
use crate::playbook::nublado::hub_db::{self, HubDbPlan};
use crate::playbook::nublado::routes::{BASE_URL, HUB_ROUTE, expected_hub_route};
use crate::playbook::nublado::translate::{self, Translation};
use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::repo::nublado::database;
use crate::repo::phalanx::Environment;
use crate::repo::{Phalanx, lookup};

use super::{BESIDE_ROUTE, DB_URL, Options, StageError, path, set, set_app, values_rel};
use crate::yaml::{Document, EditError, NewValue, Node, ScalarValue};

/// Enables v3 beside v2, with the site's v2 settings translated: a new v3 values file gets all
/// of them; an existing one keeps what it has and gets what it lacks. v3's hub database
/// follows v2's (`hub_db`). Every v2 setting is accounted for in the plan's ledger, checked
/// against the v3 values file as the stage leaves it. Returns the (volume, claim) of the v2
/// PVC volumes the translation met, which the operator's answers may name.
pub(super) fn enable_v3(
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
pub(super) fn hub_database(
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
pub(super) fn new_values_text(env: &str, tr: &Translation) -> String {
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
