//! `setup`: the hub's entry in the target's `cluster.yaml` under its temporary domain, its values
//! files copied (renamed for `--new-name`), the old domain rewritten where it is hard-coded,
//! every copied setting accounted for in the ledger, the target's shared files taken with
//! only the settings the hub depends on carried, and the transfer sidecar for a hub on
//! jupyterhub-home-nfs.
//!
//! Does not own: the runbook (`window`), the ledger rules (`bound`) or the shared-file
//! decision itself (`shared`).

mod family;

use super::window::{login_steps, setup_steps};
use super::{
    Move, MoveError, bound, dedup, files, hub_count, hub_path, quoted, renamed_file,
    rewrite_domain, served_by, set_if_present, shared, temp, transfer, unknown_hub,
};
use crate::playbook::StagePlan;
use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::repo::Infrastructure;
use crate::repo::infra::{Cluster, Hub, normalize_domain};
use crate::yaml::{Document, NewValue, Path, ScalarValue, Segment};
use family::carry_family;
use std::collections::BTreeSet;

pub(super) fn setup(
    infra: &Infrastructure,
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), MoveError> {
    let name = mv.target_name();
    let in_target = tgt.hub(name);
    let hub = match (src.hub(&mv.hub), in_target) {
        (Some(h), _) => h,
        (None, Some(_)) => {
            plan.already_done.push(format!("{}/{}", mv.from, mv.hub));
            return Ok(());
        }
        (None, None) => return Err(unknown_hub(src, &mv.hub)),
    };
    let final_domain = hub.domain.clone();
    // The domain the new hub is deployed under now: the one given, or (while the source
    // serves the final one) a name under the target's wildcard.
    let wildcard = temp::wildcard(infra, tgt);
    let mut defaulted = None;
    let temp_domain = match (&mv.temp_domain, &final_domain, &wildcard) {
        (Some(t), _, _) => {
            temp::check_domain(t).map_err(|why| MoveError::InvalidDomain {
                domain: t.clone(),
                why,
            })?;
            Some(t.clone())
        }
        (None, Some(d), Some(w)) if served_by(infra, d).is_some() => {
            let t = format!("{name}.{}", w.base);
            defaulted = Some(format!(
                "the temporary domain defaults to `{t}`: the hub's name under the wildcard of `{}` (pass --temp-domain to choose another)",
                tgt.name
            ));
            Some(t)
        }
        _ => None,
    };
    if let Some(existing) = in_target {
        let ours = [temp_domain.as_ref(), final_domain.as_ref()]
            .into_iter()
            .flatten()
            .any(|d| existing.domain.as_deref().map(normalize_domain) == Some(normalize_domain(d)));
        if ours {
            plan.already_done.push(format!("{}/{}", mv.from, mv.hub));
            return Ok(());
        }
        return Err(MoveError::NameTaken {
            cluster: tgt.name.clone(),
            name: name.to_string(),
            domain: existing.domain.clone().unwrap_or_else(|| "none".into()),
        });
    }
    plan.notes.extend(defaulted);
    if let Some(t) = &temp_domain {
        plan.notes.push(temp::resolution(t, tgt, wildcard.as_ref()));
        if !wildcard.as_ref().is_some_and(|w| w.covers(t)) {
            plan.checklist.push(format!(
                "create a DNS record for `{t}` pointing at the ingress of `{}` (it is under no wildcard of the target)",
                tgt.name
            ));
        }
    }
    let in_use = match (&temp_domain, &final_domain) {
        (Some(t), _) => {
            if let Some(by) = served_by(infra, t) {
                return Err(MoveError::TempDomainServed {
                    domain: t.clone(),
                    by,
                });
            }
            Some(t.clone())
        }
        (None, Some(d)) => {
            if let Some(by) = served_by(infra, d) {
                return Err(MoveError::DomainServed {
                    domain: d.clone(),
                    by,
                });
            }
            Some(d.clone())
        }
        (None, None) => None,
    };

    // The files, in the entry's order; the target's family files replace the source's.
    let ends = bound::Ends::new(src, tgt, &mv.hub, name, |rel| ws.text(rel));
    let tfam = shared::target_family(tgt);
    let read_data = |ws: &Workspace<'_>, f: &crate::repo::infra::FileRef| {
        (!f.is_encrypted())
            .then(|| ws.text(&f.rel))
            .flatten()
            .and_then(|t| Document::parse(t).ok())
            .and_then(|d| d.data().into_iter().next())
    };
    let tfiles: Vec<shared::TargetFile> = tfam
        .iter()
        .map(|f| shared::TargetFile {
            name: f.name.clone(),
            data: read_data(ws, f),
        })
        .collect();
    let mut list: Vec<String> = Vec::new();
    let mut family_placed = false;
    for (i, f) in hub.values_files.iter().enumerate() {
        let shared = !src.is_own_file(f);
        let new_name = if shared || mv.new_name.is_none() {
            f.name.clone()
        } else {
            renamed_file(&f.name, &mv.hub, name)
        };
        let to_rel = format!("{}{}", tgt.dir, new_name);
        let Some(content) = ws.text(&f.rel).filter(|_| f.exists) else {
            plan.todo.push(format!(
                "`{}` is missing from the work tree, so it was not copied: put `{to_rel}` in place (for an encrypted file, re-encrypt it for the target's creation rule)",
                f.rel
            ));
            list.push(new_name);
            continue;
        };
        // A readable family file of the source, where the target has families of its own (or
        // a file of the same name): the hub takes the target's, and carries what it needs.
        let same_named = ws.exists(&to_rel);
        let in_family = tfam.iter().any(|t| t.name == f.name);
        if shared::is_family(src, f) && !f.is_encrypted() && (!tfam.is_empty() || same_named) {
            let mut targets: Vec<shared::TargetFile> = Vec::new();
            if same_named && !in_family {
                let fr = crate::repo::infra::FileRef {
                    name: f.name.clone(),
                    rel: to_rel.clone(),
                    offset: 0,
                    exists: true,
                };
                targets.push(shared::TargetFile {
                    name: f.name.clone(),
                    data: read_data(ws, &fr),
                });
            }
            for t in &tfiles {
                targets.push(shared::TargetFile {
                    name: t.name.clone(),
                    data: t.data.clone(),
                });
            }
            if !family_placed {
                list.extend(tfam.iter().map(|t| t.name.clone()));
                family_placed = true;
            }
            if same_named && !list.contains(&f.name) {
                list.push(f.name.clone());
            }
            if let Some(carried) = carry_family(
                ws,
                &ends,
                (src, tgt, name),
                f,
                &content,
                (&targets, shared::later_files(hub, i, |rel| ws.text(rel))),
                (&final_domain, &in_use),
                same_named,
                plan,
            )? {
                list.push(carried);
            }
            continue;
        }
        list.push(new_name.clone());
        let wanted = copied_content(
            f.is_encrypted(),
            &to_rel,
            &content,
            &final_domain,
            &in_use,
            plan,
        )?;
        match ws.text(&to_rel) {
            Some(existing) if existing == wanted || (shared && existing == content) => {
                plan.notes.push(format!(
                    "`{to_rel}` is already in the target with the same content (copied by an earlier move); kept, not copied again"
                ));
            }
            Some(_) if shared => {
                plan.notes.push(format!(
                    "decision: `{}` is in both `{}` and `{}` with different content; the hub takes `{}`'s `{to_rel}` (encrypted: the two cannot be compared unread)",
                    f.name, src.name, tgt.name, tgt.name
                ));
                plan.todo.push(format!(
                    "`{to_rel}`: `{name}` takes the target's file; compare it with `{}` (`sops -d` both) and move what `{name}` needs into its own values files",
                    f.rel
                ));
            }
            Some(_) => return Err(MoveError::FileExists { file: to_rel }),
            None => {
                let needs_keys =
                    f.is_encrypted() && !sops_keys_match(infra, &to_rel, &content, plan);
                if needs_keys && mv.reencrypt {
                    let text = files::sops_updatekeys(infra.files.root(), &to_rel, &wanted)
                        .map_err(MoveError::Reencrypt)?;
                    plan.notes.push(format!(
                        "`{to_rel}`: re-encrypted for the target's keys (`sops updatekeys -y {to_rel}`)"
                    ));
                    ws.create(&to_rel, text);
                } else if f.is_encrypted() {
                    if needs_keys {
                        plan.todo.push(format!(
                            "`{to_rel}`: re-encrypt it for the target: `sops updatekeys -y {to_rel}` (or plan again with --reencrypt)"
                        ));
                    }
                    plan.ledger.items.push(encrypted_item(&to_rel, &ends));
                    ws.create(&to_rel, wanted);
                } else {
                    let ledger = account_copy(&ends, &f.rel, &to_rel, &content, &wanted)?;
                    plan.notes.extend(bound::rewrite_lines(&ledger.0));
                    plan.ledger.extend(ledger.0);
                    ws.create(&to_rel, ledger.1);
                }
            }
        }
    }
    if !family_placed && !tfam.is_empty() {
        let names: Vec<String> = tfam.iter().map(|t| t.name.clone()).collect();
        plan.notes.push(format!(
            "the hubs of `{}` all use {}: the entry lists {} first, as theirs do (`{name}` had no shared file in `{}`; its own files, listed after, win where they set the same keys)",
            tgt.name,
            quoted(&names),
            if names.len() == 1 { "it" } else { "them" },
            src.name
        ));
        let mut all = names;
        all.extend(list);
        list = all;
    }
    // A file listed twice (a target's shared file the hub also brought) once, where first.
    let mut seen = BTreeSet::new();
    list.retain(|n| seen.insert(n.clone()));
    for (file, hubs) in shared::partial_families(tgt) {
        plan.notes.push(format!(
            "`{file}` is shared by some hubs of `{}` ({}), not all: add it to the entry of `{name}` if the hub belongs with them",
            tgt.name,
            quoted(&hubs)
        ));
    }
    plan.todo.extend(
        plan.ledger
            .operator_items()
            .into_iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    );
    if let Some(c) = &hub.chart_override {
        plan.todo.push(format!(
            "the entry uses `chart_override: {}`: copy that chart into `{}` by hand",
            c.name, tgt.dir
        ));
    }

    // The home directories: on `jupyterhub-home-nfs`, the transfer sidecar in both hubs.
    let homes = transfer::homes(infra, hub);
    if let transfer::Homes::HomeNfs { prefix } = &homes {
        home_nfs_sidecars(ws, src, tgt, mv, hub, prefix, plan)?;
    } else {
        plan.notes.push(format!(
            "the home directories are on an NFS server of `{}` (a host and path): the runbook copies them with `sync-homes` (`clusters.{}.homes` and `clusters.{}.homes` in the tool's configuration)",
            src.name, src.name, tgt.name
        ));
    }

    // The entry, from the source's text, appended to the target's `hubs`.
    let src_doc = infra
        .files
        .doc(&src.rel)
        .ok_or_else(|| MoveError::Unreadable(src.rel.clone()))?;
    let entry = files::entry_text(src_doc.text(), hub);
    let tgt_text = ws
        .text(&tgt.rel)
        .ok_or_else(|| MoveError::Unreadable(tgt.rel.clone()))?;
    let index = hub_count(&Document::parse(tgt_text).map_err(|e| WorkspaceError {
        file: tgt.rel.clone(),
        error: e.to_string(),
    })?);
    let hubs = Path(vec![Segment::Key("hubs".into())]);
    let domain = in_use.clone();
    let new_name = mv.new_name.clone();
    ws.edit(&tgt.rel, |doc| {
        doc.append(0, &hubs, &NewValue::Yaml(entry.clone()))?;
        if let Some(n) = &new_name {
            doc.set(0, &hub_path(index, &["name"]), &ScalarValue::string(n))?;
        }
        if let Some(d) = &domain {
            set_if_present(doc, &hub_path(index, &["domain"]), d)?;
        }
        // The entry's files as planned: set in place, extra items removed from the end or
        // appended (the list's own comments stay with their positions).
        let old_len = hub.values_files.len();
        let item = |i: usize| {
            let mut p = hub_path(index, &["helm_chart_values_files"]);
            p.0.push(Segment::Index(i));
            p
        };
        for (i, n) in list.iter().enumerate().take(old_len) {
            if hub.values_files[i].name != *n {
                doc.set(0, &item(i), &ScalarValue::string(n))?;
            }
        }
        for i in (list.len()..old_len).rev() {
            doc.remove(0, &item(i))?;
        }
        for n in list.iter().skip(old_len) {
            doc.append(
                0,
                &hub_path(index, &["helm_chart_values_files"]),
                &NewValue::Scalar(ScalarValue::string(n)),
            )?;
        }
        Ok(true)
    })?;

    let what = match &mv.new_name {
        Some(n) => format!("`{}` (as `{n}`)", mv.hub),
        None => format!("`{}`", mv.hub),
    };
    plan.summary = format!(
        "Deploys the hub {what} of cluster `{}` in cluster `{}`, beside the old one{}: its entry is appended to `{}` and its values files are copied. The old hub keeps serving users until `cutover`.",
        src.name,
        tgt.name,
        match (&in_use, &final_domain) {
            (Some(u), Some(f)) if u != f => format!(
                " under the temporary domain `{u}` (the final domain `{f}` stays with the old hub until `cutover`)"
            ),
            _ => String::new(),
        },
        tgt.rel
    );
    plan.checklist.push(format!(
        "after merging, deploy the new hub: `deployer deploy {} {name}`",
        tgt.name
    ));
    if let (Some(u), Some(f)) = (&in_use, &final_domain)
        && u != f
    {
        plan.checklist.push(format!(
            "check that `{u}` resolves to the ingress of `{}` (its wildcard record) before testing the new hub",
            tgt.name
        ));
    }
    let (login, _) = login_steps(
        infra,
        src,
        tgt,
        mv,
        hub,
        in_use.as_deref(),
        final_domain.as_deref(),
    );
    plan.runbook = setup_steps(src, tgt, name, login, &homes);
    plan.verify.push(format!(
        "`gitops-migrate validate` reports no duplicate domain and no missing file; `https://{}` serves the new hub (empty user database until `cutover`)",
        in_use.as_deref().unwrap_or("<domain>")
    ));
    plan.rollback.push(format!(
        "revert this change and delete the namespace `{name}` in `{}` (nothing of the old hub was touched)",
        tgt.name
    ));
    dedup(&mut plan.notes);
    Ok(())
}

/// Adds the transfer sidecar (the public key of `--transfer-key`) to the `jupyterhub-home-nfs`
/// values of both hubs: in the source's and the copy's first own (not shared, readable) file
/// that has the block, else their first own file. Without a key, says how to make one.
pub(super) fn home_nfs_sidecars(
    ws: &mut Workspace<'_>,
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    hub: &Hub,
    prefix: &[Segment],
    plan: &mut StagePlan,
) -> Result<(), MoveError> {
    let name = mv.target_name();
    let Some(key) = &mv.transfer_key else {
        plan.todo.push(format!(
            "`{}` keeps its home directories on jupyterhub-home-nfs: make a key pair for their transfer (`ssh-keygen -t ed25519 -N '' -C hub-move-{} -f ~/.ssh/hub-move-{}`; the private key stays with you) and plan again with `--transfer-key ~/.ssh/hub-move-{}`, which adds the transfer sidecar with the public key to both hubs",
            mv.hub, mv.hub, mv.hub, mv.hub
        ));
        return Ok(());
    };
    let own: Vec<&crate::repo::infra::FileRef> = hub
        .values_files
        .iter()
        .filter(|f| {
            // The hub's own files: a one-hub cluster's `common.values.yaml` is a family file
            // all the same (the target takes its own), never the sidecar's place.
            !f.is_encrypted() && f.exists && src.is_own_file(f) && !shared::is_family(src, f)
        })
        .collect();
    let has_block = |ws: &Workspace<'_>, rel: &str| {
        ws.text(rel)
            .and_then(|t| Document::parse(t).ok())
            .is_some_and(|d| d.get(0, &Path(prefix.to_vec())).is_ok())
    };
    let Some(f) = own.iter().find(|f| has_block(ws, &f.rel)).or(own.first()) else {
        plan.todo.push(format!(
            "`{}` has no values file of its own to hold the transfer sidecar: add the `{}` container (see `gitops-migrate docs`) to both hubs' `jupyterhub-home-nfs.extraContainers`",
            mv.hub,
            transfer::SIDECAR
        ));
        return Ok(());
    };
    let copy = format!(
        "{}{}",
        tgt.dir,
        if mv.new_name.is_some() {
            renamed_file(&f.name, &mv.hub, name)
        } else {
            f.name.clone()
        }
    );
    for rel in [f.rel.clone(), copy] {
        let public = key.public.clone();
        ws.edit(&rel, |doc| transfer::add_sidecar(doc, prefix, &public))?;
        plan.notes.push(format!(
            "`{rel}`: the `{}` sidecar (an OpenSSH server on the home volume) added to `{}.extraContainers`, with the public key of `{}` (the private key never enters the repository)",
            transfer::SIDECAR,
            Path(prefix.to_vec()),
            key.file
        ));
    }
    plan.notes.push(format!(
        "the home directories are on jupyterhub-home-nfs: the runbook's `transfer-homes` exposes the sidecar of `{name}` in `{}` through a LoadBalancer Service, runs rsync in the sidecar of `{}` in `{}` (the private key `{}` on its standard input), and deletes the Service; `decommission` removes the sidecars",
        tgt.name, mv.hub, src.name, key.file
    ));
    Ok(())
}

/// The account of a copied values file: `wanted` (the copy, domain rewritten) with the
/// cluster-bound values rewritten or removed, and the ledger of every leaf of `content`.
pub(super) fn account_copy(
    ends: &bound::Ends<'_>,
    src_rel: &str,
    to_rel: &str,
    content: &str,
    wanted: &str,
) -> Result<(crate::playbook::ledger::Ledger, String), MoveError> {
    let bad = |error: String| WorkspaceError {
        file: to_rel.to_string(),
        error,
    };
    let source = Document::parse(content).map_err(|e| bad(e.to_string()))?;
    let mut copy = Document::parse(wanted).map_err(|e| bad(e.to_string()))?;
    let ledger = bound::account(ends, src_rel, to_rel, &source, &mut copy)
        .map_err(|e| bad(e.to_string()))?;
    Ok((ledger, copy.text().to_string()))
}

/// An encrypted copy's values cannot be read: the operator checks them.
pub(super) fn encrypted_item(
    to_rel: &str,
    ends: &bound::Ends<'_>,
) -> crate::playbook::ledger::Item {
    let mut names = vec![format!("the cluster `{}`", ends.src.name)];
    if let Some(p) = &ends.src.project {
        names.push(format!("its project or account `{p}`"));
    }
    if ends.old != ends.new {
        names.push(format!("the old hub name `{}`", ends.old));
    }
    crate::playbook::ledger::Item {
        file: to_rel.to_string(),
        line: None,
        what: "encrypted: its values were copied unread".into(),
        decide: format!(
            "check them (`sops {to_rel}`) for values naming {}",
            names.join(", ")
        ),
    }
}

/// The text a file gets in the target: encrypted files as they are; others with the old domain
/// rewritten to the one in use (each rewrite noted).
pub(super) fn copied_content(
    encrypted: bool,
    to_rel: &str,
    content: &str,
    from: &Option<String>,
    to: &Option<String>,
    plan: &mut StagePlan,
) -> Result<String, MoveError> {
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(content.to_string());
    };
    if encrypted || normalize_domain(from) == normalize_domain(to) {
        return Ok(content.to_string());
    }
    let (text, rewrites) = rewrite_domain(content, from, to).map_err(|error| WorkspaceError {
        file: to_rel.to_string(),
        error,
    })?;
    for r in rewrites {
        plan.notes.push(format!("`{to_rel}`: {r}"));
    }
    Ok(text)
}

/// Compares the target's sops creation rule with the keys the file was encrypted for; notes
/// the answer, and whether the file needs new keys.
pub(super) fn sops_keys_match(
    infra: &Infrastructure,
    to_rel: &str,
    content: &str,
    plan: &mut StagePlan,
) -> bool {
    let rule = infra.sops_rules.iter().find(|r| {
        r.path_regex.is_empty()
            || regex::Regex::new(&r.path_regex).is_ok_and(|re| re.is_match(to_rel))
    });
    let file_keys = files::sops_metadata_keys(content);
    let same = rule.is_some_and(|r| {
        let want: BTreeSet<(String, String)> = r.keys.iter().cloned().collect();
        !want.is_empty() && want == file_keys
    });
    if same {
        plan.notes.push(format!(
            "`{to_rel}`: copied encrypted as it is (the target's creation rule uses the keys it was encrypted for)"
        ));
        return true;
    }
    let why = match rule {
        None => "no creation rule of `.sops.yaml` matches it".to_string(),
        Some(r) => format!(
            "the creation rule `{}` of `.sops.yaml` uses other keys than the file's",
            r.path_regex
        ),
    };
    plan.notes.push(format!("`{to_rel}`: {why}"));
    false
}
