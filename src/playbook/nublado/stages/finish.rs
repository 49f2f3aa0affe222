//! `finish`: the three v2 applications retired from the repository once no environment uses
//! them: their charts, values and Application templates, their flags, and v2's database
//! settings except where v3 still uses them; what stays referenced is listed.

use crate::playbook::StagePlan;
use crate::playbook::ledger::Ledger;
use crate::playbook::nublado::state::{State, environment_state};
use crate::playbook::nublado::{V2_APPS, V3};
use crate::playbook::workspace::Workspace;
use crate::repo::nublado::database;
use crate::repo::phalanx::{AppFlag, FlagForm};
use crate::repo::{Phalanx, lookup};

use super::{Options, StageError, names, remove_if_present};
use crate::yaml::Document;

/// Retires the three v2 applications from the repository once no environment uses them.
pub(super) fn finish(
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
pub(super) fn finish_ledger(p: &Phalanx, ws: &Workspace<'_>) -> Ledger {
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
pub(super) fn finish_databases(
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
            if V2_APPS
                .iter()
                .any(|a| crate::util::text::contains_word(line, a))
            {
                out.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    out
}
