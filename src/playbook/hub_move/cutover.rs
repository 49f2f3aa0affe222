//! `cutover`: in one change, the target entry switched to the final domain, and the source's
//! entry and hub-only files removed.
//!
//! Does not own: the runbook's deploy wait and checks (`window`).

use super::window::{cutover_steps, login_steps, set_up_hub};
use super::{Move, MoveError, hub_path, rewrite_domain_doc, set_if_present, transfer, unknown_hub};
use crate::playbook::StagePlan;
use crate::playbook::workspace::Workspace;
use crate::repo::Infrastructure;
use crate::repo::infra::{Cluster, normalize_domain};

pub(super) fn cutover(
    infra: &Infrastructure,
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), MoveError> {
    plan.merge_after_window = true;
    let name = mv.target_name();
    let (old, new) = match (src.hub(&mv.hub), tgt.hub(name)) {
        (Some(o), _) => (o, set_up_hub(tgt, mv)?),
        (None, Some(_)) => {
            plan.already_done.push(format!("{}/{}", mv.from, mv.hub));
            return Ok(());
        }
        (None, None) => return Err(unknown_hub(src, &mv.hub)),
    };
    let final_domain = old.domain.clone();
    let current = new.domain.clone();
    if let (Some(f), Some(c)) = (&final_domain, &current)
        && normalize_domain(f) != normalize_domain(c)
    {
        // The new hub's own files: rewrite the temporary domain back.
        for fr in &new.values_files {
            if fr.is_encrypted() || !fr.exists || !tgt.is_own_file(fr) {
                continue;
            }
            let mut notes = Vec::new();
            ws.edit(&fr.rel, |doc| {
                notes = rewrite_domain_doc(doc, c, f)?;
                Ok(!notes.is_empty())
            })?;
            for r in notes {
                plan.notes.push(format!("`{}`: {r}", fr.rel));
            }
        }
    }
    let tgt_index = new.index;
    let fd = final_domain.clone();
    ws.edit(&tgt.rel, |doc| match &fd {
        Some(d) => set_if_present(doc, &hub_path(tgt_index, &["domain"]), d),
        None => Ok(false),
    })?;
    let src_index = old.index;
    ws.edit(&src.rel, |doc| doc.remove(0, &hub_path(src_index, &[])))?;
    // The source's files that only this entry references.
    let mut kept = Vec::new();
    for fr in old.values_files.iter().chain(old.chart_override.iter()) {
        if !src.is_own_file(fr) {
            kept.push(format!("`{}`", fr.rel));
            continue;
        }
        if fr.exists && ws.exists(&fr.rel) {
            ws.delete(&fr.rel);
        }
    }
    if !kept.is_empty() {
        plan.notes.push(format!(
            "kept (still referenced by other entries of `{}`): {}",
            src.name,
            kept.join(", ")
        ));
    }
    plan.summary = format!(
        "Completes the move of `{}` from `{}` to `{}` in one change: the new hub `{name}` switches to {}, and the old entry and its own values files are removed from `{}`, so no domain is ever in two clusters and no entry points at a deleted file. Merge it after the window's cluster steps (database copied, DNS updated).",
        mv.hub,
        src.name,
        tgt.name,
        final_domain
            .as_deref()
            .map(|d| format!("the final domain `{d}`"))
            .unwrap_or_else(|| "its final settings".into()),
        src.rel
    );
    plan.checklist.push(format!(
        "announce the maintenance window to the users of `{}`",
        final_domain.as_deref().unwrap_or(&mv.hub)
    ));
    let (_, restore) = login_steps(
        infra,
        src,
        tgt,
        mv,
        old,
        current.as_deref(),
        final_domain.as_deref(),
    );
    let homes = transfer::homes(infra, old);
    plan.runbook = cutover_steps(src, tgt, mv, final_domain.as_deref(), restore, &homes);
    plan.notes.push(
        "merge this change after the runbook's `update-dns` step; while the old entry exists, a deploy of the source cluster re-creates `proxy-public`".into(),
    );
    plan.verify.push(format!(
        "`gitops-migrate validate` reports no duplicate domain and no missing file; users log in at `https://{}` and find their files",
        final_domain.as_deref().unwrap_or("<domain>")
    ));
    plan.rollback.push(format!(
        "revert this change (the old entry and files come back), recreate `proxy-public` by deploying `{}` in `{}`, and point DNS back",
        mv.hub, src.name
    ));
    Ok(())
}
