//! `setup`'s use of the shared-file decision (`hub_move::shared`): the settings of a source
//! family file the hub depends on carried into `<source>-<file>` (created, or completed for a
//! sibling's later move), each difference stated as a decision, and every setting of the
//! family file accounted for in the ledger.
//!
//! Does not own: which files are families or how two are compared (`shared`).

use super::{MoveError, bound, quoted, shared};
use super::{account_copy, copied_content};
use crate::playbook::StagePlan;
use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::repo::infra::Cluster;
use crate::yaml::{Data, Document, Path, Segment};

/// A readable family file `f` of the source, where the target's families (`targets`, the
/// same-named target file first when `same_named`) take its place: states the decision and
/// what differs, accounts for every setting, and writes the settings the hub depends on to
/// `<source>-<file>` in the target (created, or completed when an earlier move of a sibling
/// created it). Returns that file's name when the entry lists it.
#[allow(clippy::too_many_arguments)]
pub(super) fn carry_family(
    ws: &mut Workspace<'_>,
    ends: &bound::Ends<'_>,
    (src, tgt, name): (&Cluster, &Cluster, &str),
    f: &crate::repo::infra::FileRef,
    content: &str,
    (targets, later): (&[shared::TargetFile], Vec<(String, crate::yaml::Data)>),
    (final_domain, in_use): (&Option<String>, &Option<String>),
    same_named: bool,
    plan: &mut StagePlan,
) -> Result<Option<String>, MoveError> {
    use crate::playbook::ledger::{Entry, Fate, Ledger, Target};
    use shared::Compared;
    let bad = |file: &str, error: String| WorkspaceError {
        file: file.to_string(),
        error,
    };
    let source = Document::parse(content).map_err(|e| bad(&f.rel, e.to_string()))?;
    let source_leaves = crate::playbook::ledger::leaves(&source);
    let compared = shared::compare(&source, targets, &later, |s| {
        bound::is_bound(ends, &source, &s.path)
    });
    let carried_name = shared::carried_name(src, &f.name);
    let carried_rel = format!("{}{carried_name}", tgt.dir);
    let rel_in_target = |file: &str| format!("{}{file}", tgt.dir);
    // The decision, and what differs.
    let theirs: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let mut differs: Vec<String> = Vec::new();
    let mut ledger = Ledger::default();
    let mut keep: Vec<Vec<Segment>> = Vec::new();
    for (s, c) in &compared {
        let path = s.path_text();
        let fate = match c {
            Compared::Same { file } => Some(Fate::Translated {
                to: Target {
                    file: rel_in_target(file),
                    path: path.clone(),
                    value: scalar_text(&s.value),
                },
                note: Some(format!("the same value in the target's `{file}`")),
            }),
            Compared::Overridden { file } => Some(Fate::obsolete(format!(
                "the hub's own `{file}` sets it: `{name}` does not depend on the shared value"
            ))),
            Compared::Differs {
                file,
                target,
                take_target: true,
            } => {
                differs.push(format!(
                    "`{path}`: `{}` in `{}`, `{}` in `{}`'s `{file}` — the hub takes `{}` (the source's names the source)",
                    shared::show(&s.value),
                    src.name,
                    shared::show(target),
                    tgt.name,
                    shared::show(target)
                ));
                Some(Fate::Translated {
                    to: Target {
                        file: rel_in_target(file),
                        path: path.clone(),
                        value: scalar_text(target),
                    },
                    note: Some(format!(
                        "the target's value in `{file}`: the source's names the source"
                    )),
                })
            }
            Compared::Differs {
                file,
                target,
                take_target: false,
            } => {
                differs.push(format!(
                    "`{path}`: `{}` in `{}`, `{}` in `{}`'s `{file}` — the hub keeps `{}` (carried)",
                    shared::show(&s.value),
                    src.name,
                    shared::show(target),
                    tgt.name,
                    shared::show(&s.value)
                ));
                keep.push(s.path.clone());
                None
            }
            Compared::Missing => match provider_block_given(&s.path, src, tgt, targets) {
                // The source provider's disk block (`jupyterhub-home-nfs.gke` switched on in
                // a shared file): the target's shared file switches on its own.
                Some((file, block)) => Some(Fate::obsolete(format!(
                    "a {} setting; the target's `{file}` sets `{block}` for `{}`",
                    bound::Provider::of(src).name(),
                    tgt.name
                ))),
                None => {
                    keep.push(s.path.clone());
                    None
                }
            },
        };
        if let Some(fate) = fate {
            // Every leaf below the setting is accounted the same way.
            for l in source_leaves.iter().filter(|l| l.path.starts_with(&s.path)) {
                let mut fate = fate.clone();
                if let Fate::Translated { to, .. } = &mut fate {
                    to.path = l.path_text();
                    if l.path != s.path {
                        to.value = None;
                    }
                }
                ledger.entries.push(Entry {
                    file: f.rel.clone(),
                    path: l.path_text(),
                    line: l.line,
                    fate,
                    unclaimed: false,
                });
            }
        }
    }
    let mut decision = if same_named {
        format!(
            "decision: `{}` is in both `{}` and `{}`{}; the hub takes `{}`'s (the file its entry names there)",
            f.name,
            src.name,
            tgt.name,
            if differs.is_empty() && keep.is_empty() {
                " with the same settings"
            } else {
                " with different content"
            },
            tgt.name
        )
    } else {
        format!(
            "decision: the hubs of `{}` share {}; `{name}` takes {} instead of `{}`'s `{}`",
            tgt.name,
            quoted(&theirs),
            if theirs.len() == 1 { "it" } else { "them" },
            src.name,
            f.name
        )
    };
    if differs.is_empty() {
        decision.push_str("; no setting differs");
    } else {
        decision.push_str(&format!("; what differs: {}", differs.join("; ")));
    }
    plan.notes.push(decision);
    if keep.is_empty() {
        plan.notes.push(format!(
            "`{}`: `{name}` depends on none of its settings beyond what `{}` gives; nothing carried",
            f.rel, tgt.name
        ));
        plan.ledger.extend(ledger);
        return Ok(None);
    }
    // The settings the hub depends on, through the ledger like any copy.
    let part = shared::subset(content, &keep).map_err(|e| bad(&f.rel, e))?;
    let wanted = copied_content(false, &carried_rel, &part, final_domain, in_use, plan)?;
    let (mut account, text) = account_copy(ends, &f.rel, &carried_rel, &part, &wanted)?;
    // The entries name the lines of the source file, not of the part carried.
    for en in &mut account.entries {
        if let Some(n) = Path::parse(&en.path)
            .ok()
            .and_then(|p| source.get(0, &p).ok())
        {
            en.line = source.line_of(n.span.start);
        }
    }
    plan.notes.extend(bound::rewrite_lines(&account));
    ledger.extend(account);
    plan.ledger.extend(ledger);
    let post = Document::parse(text.clone()).map_err(|e| bad(&carried_rel, e.to_string()))?;
    let shown: Vec<String> = shared::settings(&post)
        .iter()
        .map(|s| format!("`{}: {}`", s.path_text(), shared::show(&s.value)))
        .collect();
    if shown.is_empty() {
        plan.notes.push(format!(
            "`{}`: what `{name}` depends on names the source and is listed under Still to supply; nothing carried",
            f.rel
        ));
        return Ok(None);
    }
    match ws.text(&carried_rel) {
        None => {
            plan.notes.push(format!(
                "`{carried_rel}`: carries from `{}` only what `{name}` depends on ({}): {}",
                f.rel,
                crate::util::text::plural(shown.len(), "setting", "settings"),
                shown.join(", ")
            ));
            ws.create(&carried_rel, text);
        }
        Some(existing) => {
            let into = Document::parse(existing).map_err(|e| bad(&carried_rel, e.to_string()))?;
            // What the carried file holds with another value, an earlier hub depends on: it is
            // never overwritten; this hub's value is for the operator to put in its own file.
            let held = into.data().into_iter().next().unwrap_or(Data::Null);
            let (conflicting, add): (Vec<_>, Vec<_>) = shared::missing_in(&post, &into)
                .into_iter()
                .partition(|(s, _)| shared::value_at(&held, &s.path).is_some());
            for (s, _) in &conflicting {
                plan.todo.push(format!(
                    "`{carried_rel}` (carried by an earlier move) holds another value at `{}` than `{}` gives `{name}` now (`{}`): the earlier hub keeps it; if `{name}` needs its own, set it in its own values file",
                    s.path_text(),
                    f.rel,
                    shared::show(&s.value)
                ));
            }
            if add.is_empty() {
                plan.notes.push(format!(
                    "`{carried_rel}` (carried from `{}` by an earlier move) already holds what `{name}` depends on: reused, not copied again",
                    f.rel
                ));
            } else {
                let added: Vec<String> = add
                    .iter()
                    .map(|(s, _)| format!("`{}`", s.path_text()))
                    .collect();
                plan.notes.push(format!(
                    "`{carried_rel}` (carried from `{}` by an earlier move): reused; added what `{name}` also depends on: {}",
                    f.rel,
                    added.join(", ")
                ));
                ws.edit(&carried_rel, |doc| {
                    for (s, v) in &add {
                        doc.set_value(0, &Path(s.path.clone()), v)?;
                    }
                    Ok(true)
                })?;
            }
        }
    }
    Ok(Some(carried_name))
}

/// For a setting under the source provider's `jupyterhub-home-nfs.gke` / `.eks` block on
/// another provider: the target's shared file that sets the target provider's block, and
/// that block's path.
fn provider_block_given(
    path: &[Segment],
    src: &Cluster,
    tgt: &Cluster,
    targets: &[shared::TargetFile],
) -> Option<(String, String)> {
    let (sp, tp) = (bound::Provider::of(src), bound::Provider::of(tgt));
    let (skey, tkey) = (sp.home_nfs_key()?, tp.home_nfs_key()?);
    if sp == tp {
        return None;
    }
    let i = (1..path.len()).find(|&i| {
        matches!(&path[i - 1], Segment::Key(k) if k == "jupyterhub-home-nfs")
            && matches!(&path[i], Segment::Key(k) if k == skey)
    })?;
    let mut block = path[..i].to_vec();
    block.push(Segment::Key(tkey.into()));
    targets.iter().rev().find_map(|t| {
        let d = t.data.as_ref()?;
        shared::value_at(d, &block).map(|_| (t.name.clone(), Path(block.clone()).to_string()))
    })
}

/// A scalar's text, as a ledger target's value.
fn scalar_text(d: &crate::yaml::Data) -> Option<String> {
    use crate::yaml::Data;
    match d {
        Data::Seq(_) | Data::Map(_) | Data::Tagged(..) => None,
        Data::Null => None,
        other => other.key_text(),
    }
}
