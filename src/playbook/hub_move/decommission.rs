//! `decommission`: the transfer sidecar removed from the new hub, and the checklist of what is
//! left to retire, with the old hub's storage named from its values before the cutover.
//!
//! Does not own: reading those values from Git history (the CLI hands them over).

use super::window::{cut_over, decommission_steps};
use super::{Move, MoveError, transfer};
use crate::playbook::StagePlan;
use crate::playbook::workspace::Workspace;
use crate::repo::Infrastructure;
use crate::repo::infra::{Cluster, Hub};
use crate::yaml::Document;
use std::collections::BTreeSet;

pub(super) fn decommission(
    infra: &Infrastructure,
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), MoveError> {
    cut_over(src, mv)?;
    plan.summary = format!(
        "What remains to retire after `{}` moved from `{}` to `{}`; nothing is deleted automatically.",
        mv.hub, src.name, tgt.name
    );
    // The transfer sidecars: the source's went with its files at `cutover`; the new hub's
    // goes now.
    if let Some(new) = tgt.hub(mv.target_name())
        && let transfer::Homes::HomeNfs { prefix } = transfer::homes(infra, new)
    {
        for f in new
            .values_files
            .iter()
            .filter(|f| !f.is_encrypted() && f.exists)
        {
            let has = ws
                .text(&f.rel)
                .and_then(|t| Document::parse(t).ok())
                .is_some_and(|d| transfer::has_sidecar(&d, &prefix));
            if has {
                ws.edit(&f.rel, |doc| transfer::remove_sidecar(doc, &prefix))?;
                plan.notes.push(format!(
                    "`{}`: the `{}` sidecar of the home directories' transfer removed",
                    f.rel,
                    transfer::SIDECAR
                ));
            }
        }
    }
    let steps = decommission_steps(src, mv);
    if !src.hubs.is_empty() {
        plan.notes.push(format!(
            "`{}` still has hubs ({}): the cluster itself stays",
            src.name,
            src.hubs
                .iter()
                .map(|h: &Hub| format!("`{}`", h.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    plan.checklist = steps.iter().map(|s| s.title.clone()).collect();
    plan.runbook = steps;
    Ok(())
}

/// The storage of the old hub that costs money, named from its values as they were before
/// the cutover removed them (`before`: the repository at the commit before the cutover's
/// change; `None` when that history is not at hand): its home disk
/// (`jupyterhub-home-nfs.gke.volumeId` / `eks.volumeId`), its NFS server and path
/// (`nfs.pv.serverIP`, `nfs.pv.baseShareName`, the quota paths), one line each.
pub fn old_storage(before: &Infrastructure, mv: &Move) -> Vec<String> {
    let Some(src) = before.cluster(&mv.from) else {
        return Vec::new();
    };
    let Some(hub) = src.hub(&mv.hub) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for f in hub.values_files.iter().filter(|f| !f.is_encrypted()) {
        let Some(doc) = before.files.doc(&f.rel) else {
            continue;
        };
        for l in crate::playbook::ledger::leaves(doc) {
            let Some(v) = crate::repo::infra::text_of(l.node) else {
                continue;
            };
            let path = l.path_text();
            let line = if path.ends_with("jupyterhub-home-nfs.gke.volumeId") {
                let name = v.rsplit('/').next().unwrap_or(v);
                let zone = v
                    .split('/')
                    .skip_while(|p| *p != "zones")
                    .nth(1)
                    .unwrap_or("<zone>");
                let project = v.split('/').nth(1).unwrap_or("<project>");
                Some(format!(
                    "the GCP persistent disk `{v}` (`{}`: `{path}`): `gcloud compute disks delete {name} --zone {zone} --project {project}` once nothing needs it (snapshot it first if unsure)",
                    f.rel
                ))
            } else if path.ends_with("jupyterhub-home-nfs.eks.volumeId") {
                Some(format!(
                    "the EBS volume `{v}` (`{}`: `{path}`): `aws ec2 delete-volume --volume-id {v}` once nothing needs it (snapshot it first if unsure)",
                    f.rel
                ))
            } else if path.ends_with("nfs.pv.serverIP") && !v.contains(".svc") {
                let share = hub_share(doc, &mv.hub);
                Some(format!(
                    "the home directories `{share}` on the NFS server `{v}` (`{}`: `{path}`), and any DataSync task copying them",
                    f.rel
                ))
            } else {
                None
            };
            if let Some(line) = line
                && seen.insert(line.clone())
            {
                out.push(line);
            }
        }
    }
    out
}

/// The old hub's directory on its NFS server: `nfs.pv.baseShareName` + the hub's name, or
/// its quota path.
pub(super) fn hub_share(doc: &Document, hub: &str) -> String {
    // A value, not a null or empty one (`lookup_str` would give those as text).
    let at = |p: &str| {
        crate::repo::lookup(doc, p)
            .and_then(crate::repo::infra::text_of)
            .map(str::to_string)
    };
    if let Some(base) = at("nfs.pv.baseShareName").or_else(|| at("basehub.nfs.pv.baseShareName")) {
        return format!("{}/{hub}", base.trim_end_matches('/'));
    }
    crate::playbook::ledger::leaves(doc)
        .into_iter()
        .filter(|l| l.path_text().contains("QuotaManager.paths"))
        .find_map(|l| crate::repo::infra::text_of(l.node).map(str::to_string))
        .unwrap_or_else(|| format!("<the share of `{hub}`>"))
}
