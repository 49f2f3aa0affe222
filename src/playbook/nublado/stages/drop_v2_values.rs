//! `drop-v2-values`: the three applications' values files deleted, once nothing in them is the
//! evidence of an open mistake, with what v3 lacks listed in the ledger first.

use crate::playbook::StagePlan;
use crate::playbook::nublado::translate::{self, Answers};
use crate::playbook::nublado::volumes;
use crate::playbook::nublado::{V2, V2_APPS, V3};
use crate::playbook::workspace::Workspace;
use crate::repo::Phalanx;
use crate::repo::nublado::controller::ChartVersion;
use crate::repo::phalanx::Environment;

use super::{Options, StageError, values_rel};
use crate::yaml::Document;

/// Deletes the three applications' values files, once nothing in them is still the evidence of
/// an open mistake: while `validate` reports `nublado-v3-mount` errors for the environment (a
/// v2 mount v3 lost, or made writable), the stage refuses (`--force` deletes them anyway, and
/// the plan repeats the findings). The ledger compares every v2 setting with the v3 values as
/// they are: what v3 lacks is listed before it is deleted.
pub(super) fn drop_v2_values(
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
pub(super) fn answers_from_v3(p: &Phalanx, env: &str) -> Answers {
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
