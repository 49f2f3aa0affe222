//! `disable-v2`: nublado2, cachemachine and moneypenny disabled; the mobu flocks that test v2
//! removed and the others off cachemachine.

use crate::playbook::StagePlan;
use crate::playbook::nublado::V2_APPS;
use crate::playbook::workspace::Workspace;
use crate::repo::Phalanx;
use crate::repo::nublado::mobu::{Cachemachine, Flock, GLOBAL_CACHEMACHINE, Mobu};
use crate::repo::phalanx::Environment;

use super::{StageError, V2_ROUTE, flocks_word, names, path, set, set_app, values_rel};
use crate::yaml::ScalarValue;

/// mobu at `disable-v2`: the flocks that test v2 (aimed at `/n2`, or named for `nublado2`) go;
/// the lab flocks left stop relying on cachemachine, which this stage disables.
pub(super) fn mobu_disable_v2(
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

pub(super) fn disable_v2(
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
