//! `make-default`: v3 back to the default route, v2 to `/n2`, and mobu's lab flocks following
//! v3 off cachemachine (the flocks that test v2 stay on `/n2`).

use crate::playbook::StagePlan;
use crate::playbook::nublado::routes::{BASE_URL, DEFAULT_ROUTE, HUB_ROUTE, expected_hub_route};
use crate::playbook::nublado::{V2, V3};
use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::repo::Phalanx;
use crate::repo::nublado::mobu::{Flock, GLOBAL_CACHEMACHINE, Mobu};
use crate::repo::phalanx::Environment;

use super::{
    BESIDE_ROUTE, StageError, V2_ROUTE, flocks_word, names, remove_if_present, set, values_rel,
};
use crate::yaml::{Document, ScalarValue};

pub(super) fn make_default(
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

/// mobu at `make-default`: the lab flocks follow v3 to the default route and off cachemachine
/// (per flock from mobu 6, `use_cachemachine` removed from mobu 7, the global
/// `config.useCachemachine` in mobu 5), except the flocks that evidently test nublado v2 (their
/// name or user says `nublado2`), which are kept on v2 at `/n2` until `disable-v2` removes them.
pub(super) fn mobu_make_default(
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
