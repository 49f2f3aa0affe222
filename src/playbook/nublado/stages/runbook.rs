//! The window runbooks of the stages: the steps each stage's maintenance window is made of,
//! for the plan (before the merge) and for `exec` (after it).
//!
//! Does not own: running them (the runtime) or the Git changes (the stage modules).

use crate::playbook::nublado::V2_APPS;
use crate::playbook::nublado::hub_db;
use crate::playbook::nublado::routes::DEFAULT_ROUTE;
use crate::playbook::nublado::state::environment_state;
use crate::playbook::{StagePlan, Step};
use crate::repo::Phalanx;
use crate::repo::nublado::database;
use crate::repo::phalanx::Environment;

use super::{BESIDE_ROUTE, Options, Stage, V2_ROUTE, names, plan, v3_on_v2_database};

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
pub(super) fn window(p: &Phalanx, stage: Stage, envs: &[&Environment], plan: &mut StagePlan) {
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
