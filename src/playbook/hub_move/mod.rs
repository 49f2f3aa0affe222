//! Moving a JupyterHub from one cluster to another in a 2i2c-style infrastructure repository,
//! in three stages, each a Git change made through the lossless editor:
//!
//! | stage | edits |
//! |---|---|
//! | `setup` | the hub's entry appended to the target `cluster.yaml` (under a temporary domain while the source still serves the final one: by default the hub's name under the target's wildcard, `temp`); its values files copied (renamed for `--new-name`); where the target's hubs share values files, the hub takes them and carries from the source's shared files only the settings it depends on, each difference stated (`shared`); the old domain hard-coded in copied values rewritten; every copied setting accounted for in the ledger, cluster-bound values rewritten or listed (`bound`); the login client's step (`login`); for a hub on jupyterhub-home-nfs, the transfer sidecar with the public key in both hubs (`transfer`) |
//! | `cutover` | in one change: the target entry switched to the final domain, the source entry and the source's hub-only files removed; the runbook ends with the deploy wait, the check that the old hub is down and the login client restored |
//! | `decommission` | the transfer sidecar removed from the new hub; a checklist of what remains to retire, the old hub's disk or share named from its values before the cutover (`old_storage`, given the repository at that commit) |
//!
//! Also the moves in progress of a repository (`in_progress`, for `status`).
//!
//! Owns: the stages' Git changes and their runbook outlines, and the announcement text. Does
//! not own: the model (`repo::infra`), the checks of the result (`playbook::check`) or the
//! execution of the runbook steps (`runtime`).

mod bound;
mod files;
mod login;
mod playbook;
mod shared;
mod temp;
pub mod transfer;

use std::collections::BTreeSet;

use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::playbook::{StagePlan, Step};
use crate::repo::Infrastructure;
use crate::repo::infra::{Cluster, Hub, normalize_domain};
use crate::util::suggest::closest;
use crate::yaml::{Document, EditError, NewValue, Path, ScalarValue, Segment};

pub use playbook::HubMove;

pub use bound::{Provider, is_ec2_instance_type, is_gcp_machine_type};
pub use files::{renamed_file, rewrite_domain, rewrite_domain_doc};

/// The playbook's name on the command line.
pub const PLAYBOOK: &str = "hub-move";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Setup,
    Cutover,
    Decommission,
}

pub const STAGES: [Stage; 3] = [Stage::Setup, Stage::Cutover, Stage::Decommission];

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Setup => "setup",
            Stage::Cutover => "cutover",
            Stage::Decommission => "decommission",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        STAGES.into_iter().find(|s| s.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            Stage::Setup => {
                "deploy the hub in the target cluster beside the old one (temporary domain)"
            }
            Stage::Cutover => {
                "switch the new hub to the final domain and remove the old entry and its files"
            }
            Stage::Decommission => "list what remains to retire in the source cluster",
        }
    }
}

/// What to move: `--hub H --from A --to B [--new-name N] [--temp-domain D]`.
#[derive(Debug, Clone, Default)]
pub struct Move {
    pub hub: String,
    pub from: String,
    pub to: String,
    pub new_name: Option<String>,
    pub temp_domain: Option<String>,
    /// Re-encrypt copied `enc-*` files for the target's keys (`sops updatekeys -y`).
    pub reencrypt: bool,
    /// The key pair of the home directories' transfer (`--transfer-key FILE`), for a hub on
    /// `jupyterhub-home-nfs`: the public key goes into both hubs' values.
    pub transfer_key: Option<TransferKey>,
    /// `decommission`: the old hub's storage, named from its values before the cutover
    /// (`old_storage`, read by the caller from the commit before the cutover's change);
    /// `None` when that history is not at hand.
    pub old_storage: Option<Vec<String>>,
    /// `decommission`: `clusters.<source>.homes/<hub>` of the tool's configuration.
    pub old_homes: Option<String>,
}

/// `--transfer-key FILE`: the file named, and the public key read from `FILE.pub`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferKey {
    pub file: String,
    pub public: String,
}

impl Move {
    /// The hub's name in the target cluster.
    pub fn target_name(&self) -> &str {
        self.new_name.as_deref().unwrap_or(&self.hub)
    }

    /// The arguments that name this move on the command line.
    pub fn args(&self) -> String {
        let mut s = format!("--hub {} --from {} --to {}", self.hub, self.from, self.to);
        if let Some(n) = &self.new_name {
            s.push_str(&format!(" --new-name {n}"));
        }
        if let Some(d) = &self.temp_domain {
            s.push_str(&format!(" --temp-domain {d}"));
        }
        if self.reencrypt {
            s.push_str(" --reencrypt");
        }
        if let Some(k) = &self.transfer_key {
            s.push_str(&format!(" --transfer-key {}", k.file));
        }
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("unknown cluster `{name}`{}", hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
    UnknownCluster { name: String, hint: Option<String> },
    #[error("cluster `{cluster}` has no hub `{name}`{}", hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
    UnknownHub {
        cluster: String,
        name: String,
        hint: Option<String>,
    },
    #[error("--from and --to are both `{0}`: a hub moves between two clusters")]
    SameCluster(String),
    #[error(
        "the domain `{domain}` is still served by {by}: a domain must never be in two clusters; deploy the new hub under a temporary domain first (--temp-domain NAME, a name under the target cluster's DNS wildcard: no `grafana` host in its support values says which) and switch at `cutover`"
    )]
    DomainServed { domain: String, by: String },
    #[error("--temp-domain `{domain}` is already served by {by}; choose another")]
    TempDomainServed { domain: String, by: String },
    #[error("--temp-domain `{domain}` is not a domain name: {why}")]
    InvalidDomain { domain: String, why: String },
    #[error(
        "cluster `{cluster}` already has a hub `{name}` (domain {domain}); pass --new-name NAME to move the hub under another name"
    )]
    NameTaken {
        cluster: String,
        name: String,
        domain: String,
    },
    #[error(
        "`{file}` already exists with other content and is not shared; move or rename it first, or pass --new-name NAME"
    )]
    FileExists { file: String },
    #[error("`{stage}` needs `{needed}` first: {why}")]
    NotYet {
        stage: &'static str,
        needed: &'static str,
        why: String,
    },
    #[error("cannot read `{0}`")]
    Unreadable(String),
    #[error("--reencrypt: {0}")]
    Reencrypt(String),
    #[error(transparent)]
    Edit(#[from] WorkspaceError),
}

impl MoveError {
    /// Input errors (an unknown cluster or hub) exit 2; refusals exit 1.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            MoveError::UnknownCluster { .. }
                | MoveError::UnknownHub { .. }
                | MoveError::SameCluster(_)
                | MoveError::InvalidDomain { .. }
        )
    }
}

fn cluster<'i>(infra: &'i Infrastructure, name: &str) -> Result<&'i Cluster, MoveError> {
    infra
        .cluster(name)
        .ok_or_else(|| MoveError::UnknownCluster {
            name: name.to_string(),
            hint: closest(name, infra.clusters.iter().map(|c| c.name.as_str())).map(str::to_string),
        })
}

fn unknown_hub(c: &Cluster, name: &str) -> MoveError {
    MoveError::UnknownHub {
        cluster: c.name.clone(),
        name: name.to_string(),
        hint: closest(name, c.hubs.iter().map(|h| h.name.as_str())).map(str::to_string),
    }
}

/// Plans a stage of a move.
pub fn plan(infra: &Infrastructure, stage: Stage, mv: &Move) -> Result<StagePlan, MoveError> {
    let src = cluster(infra, &mv.from)?;
    let tgt = cluster(infra, &mv.to)?;
    if src.name == tgt.name {
        return Err(MoveError::SameCluster(src.name.clone()));
    }
    let mut plan = StagePlan::new(
        PLAYBOOK,
        stage.name(),
        vec![format!("{}/{}", mv.from, mv.hub)],
    );
    plan.target_args = Some(mv.args());
    let root = infra.files.root();
    let mut ws = Workspace::new(root, &infra.files);
    match stage {
        Stage::Setup => setup(infra, src, tgt, mv, &mut ws, &mut plan)?,
        Stage::Cutover => cutover(infra, src, tgt, mv, &mut ws, &mut plan)?,
        Stage::Decommission => decommission(infra, src, tgt, mv, &mut ws, &mut plan)?,
    }
    plan.changes = ws.changes;
    Ok(plan)
}

/// The clusters (and hubs) serving a domain, for messages.
fn served_by(infra: &Infrastructure, domain: &str) -> Option<String> {
    let by: Vec<String> = infra
        .hubs_with_domain(domain)
        .iter()
        .map(|(c, h)| format!("hub `{}` of cluster `{}`", h.name, c.name))
        .collect();
    (!by.is_empty()).then(|| by.join(", "))
}

fn hub_path(index: usize, rest: &[&str]) -> Path {
    let mut segs = vec![Segment::Key("hubs".into()), Segment::Index(index)];
    segs.extend(rest.iter().map(|k| Segment::Key((*k).into())));
    Path(segs)
}

/// The number of items of `hubs` in a cluster file (0 for `hubs: []` or none).
fn hub_count(doc: &Document) -> usize {
    doc.root(0)
        .and_then(|r| r.as_mapping())
        .and_then(|m| m.get("hubs"))
        .and_then(|e| e.value.as_sequence())
        .map_or(0, |s| s.items.len())
}

fn setup(
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
        let shared = src.hubs_referencing(&f.name).len() > 1 || is_support_file(src, &f.name);
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

/// The window runbook of a stage, derived from the move and the clusters whatever the
/// checkout's state (the setup window follows the merge of its change; the cutover window
/// precedes it), with the hub's final domain.
pub fn window(infra: &Infrastructure, stage: Stage, mv: &Move) -> Result<Window, MoveError> {
    let src = cluster(infra, &mv.from)?;
    let tgt = cluster(infra, &mv.to)?;
    if src.name == tgt.name {
        return Err(MoveError::SameCluster(src.name.clone()));
    }
    let name = mv.target_name();
    let (old, new) = (src.hub(&mv.hub), tgt.hub(name));
    if old.is_none() && new.is_none() {
        return Err(unknown_hub(src, &mv.hub));
    }
    // The final domain is the old entry's until the cutover's change removes it.
    let domain = old
        .and_then(|h| h.domain.clone())
        .or_else(|| new.and_then(|h| h.domain.clone()));
    // The login client follows the temporary domain (the new entry's, once set up).
    let temp = new
        .and_then(|h| h.domain.clone())
        .or_else(|| mv.temp_domain.clone());
    let (login, restore) = match old.or(new) {
        Some(h) => login_steps(infra, src, tgt, mv, h, temp.as_deref(), domain.as_deref()),
        None => (None, None),
    };
    let homes = old
        .or(new)
        .map(|h| transfer::homes(infra, h))
        .unwrap_or(transfer::Homes::HostPath);
    let steps = match stage {
        Stage::Setup => setup_steps(src, tgt, name, login, &homes),
        Stage::Cutover => {
            // The old hub is taken down only once the new one is set up.
            if new.is_none() {
                return Err(MoveError::NotYet {
                    stage: "cutover",
                    needed: "setup",
                    why: format!("cluster `{}` has no hub `{name}` yet", tgt.name),
                });
            }
            cutover_steps(src, tgt, mv, domain.as_deref(), restore, &homes)
        }
        Stage::Decommission => {
            if old.is_some() {
                return Err(MoveError::NotYet {
                    stage: "decommission",
                    needed: "cutover",
                    why: format!("cluster `{}` still lists the hub `{}`", src.name, mv.hub),
                });
            }
            decommission_steps(src, mv)
        }
    };
    Ok(Window { steps, domain })
}

/// What a stage's window needs merged and is not, in the repository `infra` (the remote's
/// branch): the setup (the target cluster lists the hub) before the setup and cutover windows,
/// the cutover (the source cluster no longer lists it) before the decommission. The cutover's
/// own change is merged after its window.
pub fn merged_missing(infra: &Infrastructure, stage: Stage, mv: &Move) -> Option<String> {
    let (src, tgt) = match (cluster(infra, &mv.from), cluster(infra, &mv.to)) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) | (_, Err(e)) => return Some(e.to_string()),
    };
    let name = mv.target_name();
    match stage {
        Stage::Setup | Stage::Cutover if tgt.hub(name).is_none() => Some(format!(
            "the `setup` of hub `{name}` is not merged: `config/clusters/{}/cluster.yaml` has no hub `{name}` there",
            tgt.name
        )),
        Stage::Decommission if src.hub(&mv.hub).is_some() => Some(format!(
            "the `cutover` of hub `{}` is not merged: `config/clusters/{}/cluster.yaml` still lists it there",
            mv.hub, src.name
        )),
        _ => None,
    }
}

/// A stage's window runbook and the hub's final domain.
#[derive(Debug, Clone)]
pub struct Window {
    pub steps: Vec<Step>,
    pub domain: Option<String>,
}

/// The step copying the home directories (`final`: the cutover's), by how they are served.
fn homes_step(src: &Cluster, tgt: &Cluster, homes: &transfer::Homes, last: bool) -> Step {
    let what = if last { "final copy" } else { "initial copy" };
    match homes {
        transfer::Homes::HostPath => Step::new(
            if last {
                "sync-homes:final"
            } else {
                "sync-homes"
            },
            format!(
                "{what} of the home directories from `{}` to `{}`{}",
                src.name,
                tgt.name,
                if last { "" } else { " (no deletion)" }
            ),
        ),
        transfer::Homes::HomeNfs { .. } => Step::new(
            if last {
                "transfer-homes:final"
            } else {
                "transfer-homes"
            },
            format!(
                "{what} of the home directories from the `{}` sidecar of `{}`'s jupyterhub-home-nfs to that of `{}` (exposed through a LoadBalancer Service for the copy, deleted after it)",
                transfer::SIDECAR,
                src.name,
                tgt.name
            ),
        ),
    }
}

fn setup_steps(
    src: &Cluster,
    tgt: &Cluster,
    name: &str,
    login: Option<Step>,
    homes: &transfer::Homes,
) -> Vec<Step> {
    let mut steps = vec![
        homes_step(src, tgt, homes, false),
        Step::new(
            "manual:check-grafana",
            format!("check the Grafana dashboards of `{}`", tgt.name),
        ),
    ];
    steps.extend(login);
    steps.push(Step::new(
        "manual:deploy-hub",
        format!(
            "deploy the new hub: `deployer deploy {} {name}`, then log in to it",
            tgt.name
        ),
    ));
    steps
}

/// The login client's steps of a move whose new hub runs under `temp` until `cutover`
/// switches it to `final_domain`: (setup's, cutover's); none without a temporary domain or an
/// OAuth client.
fn login_steps(
    infra: &Infrastructure,
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    hub: &Hub,
    temp: Option<&str>,
    final_domain: Option<&str>,
) -> (Option<Step>, Option<Step>) {
    let (Some(t), Some(f)) = (temp, final_domain) else {
        return (None, None);
    };
    if normalize_domain(t) == normalize_domain(f) {
        return (None, None);
    }
    let Some(client) = login::client(infra, hub) else {
        return (None, None);
    };
    let name = mv.target_name();
    let hub_type = hub.helm_chart.as_deref().unwrap_or("basehub");
    (
        Some(login::setup_step(&client, tgt, name, hub_type, t, f)),
        Some(login::restore_step(&client, src, tgt, &mv.hub, name, f)),
    )
}

fn cutover_steps(
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    final_domain: Option<&str>,
    restore: Option<Step>,
    homes: &transfer::Homes,
) -> Vec<Step> {
    let name = mv.target_name();
    let mut steps = vec![
        Step::new(
            "delete-proxy-public",
            format!(
                "take the old hub offline: delete `svc proxy-public` in namespace `{}` of `{}`",
                mv.hub, src.name
            ),
        )
        .destructive(),
        Step::new(
            "stop-old-hub",
            format!(
                "scale the old hub's Deployment in `{}` to 0 and wait",
                mv.hub
            ),
        )
        .destructive(),
        Step::new(
            "copy-hub-db",
            format!("copy and check the hub database into the new hub `{name}`, restart it"),
        )
        .destructive(),
        Step::new(
            "delete-user-pods",
            format!(
                "delete the user pods (label `component=singleuser-server`) in `{}` of `{}`",
                mv.hub, src.name
            ),
        )
        .destructive(),
        homes_step(src, tgt, homes, true),
        Step::new(
            "update-dns",
            format!(
                "point {} at the ingress of `{}` and wait until it resolves there",
                final_domain
                    .map(|d| format!("`{d}`"))
                    .unwrap_or_else(|| "the domain".into()),
                tgt.name
            ),
        ),
        Step::new(
            "wait-deployed",
            format!(
                "merge this change; wait until it is deployed: {} answers `/hub/health` from `{}` with a valid certificate",
                final_domain
                    .map(|d| format!("`https://{d}`"))
                    .unwrap_or_else(|| "the domain".into()),
                tgt.name
            ),
        ),
        Step::new(
            "check-old-down",
            format!(
                "check that the old hub in `{}` is still down (no `proxy-public`, Deployment `hub` at 0)",
                src.name
            ),
        ),
    ];
    steps.extend(restore);
    steps
}

fn decommission_steps(src: &Cluster, mv: &Move) -> Vec<Step> {
    let storage = match &mv.old_storage {
        Some(lines) if !lines.is_empty() => lines.join("; "),
        Some(_) => format!(
            "no disk or NFS share is named in the values `{}` had before the cutover",
            mv.hub
        ),
        None => format!(
            "the values of `{}` before the cutover are not at hand (no Git history of `{}`): name its disk (`jupyterhub-home-nfs.gke.volumeId` / `eks.volumeId`) or NFS share from them",
            mv.hub, src.rel
        ),
    };
    let mut steps = vec![
        Step::new(
            "manual:delete-old-release",
            format!(
                "uninstall the Helm release and delete the namespace `{}` in `{}`",
                mv.hub, src.name
            ),
        ),
        Step::new(
            "manual:retire-home-share",
            format!(
                "retire the old hub's storage in `{}`: {storage}{}",
                src.name,
                mv.old_homes
                    .as_deref()
                    .map(|h| format!("; the copy's source `{h}` (`clusters.{}.homes`)", src.name))
                    .unwrap_or_default()
            ),
        ),
    ];
    if src.hubs.is_empty() {
        steps.extend([
            Step::new(
                "manual:retire-support-chart",
                format!("uninstall the support chart of `{}`", src.name),
            ),
            Step::new(
                "manual:remove-cluster-folder",
                format!("remove `{}` from the repository in its own change", src.dir),
            ),
            Step::new(
                "manual:retire-dns",
                format!(
                    "remove the DNS records (the wildcard) that point at `{}`",
                    src.name
                ),
            ),
            Step::new(
                "manual:retire-nfs",
                format!("delete the NFS server or file system of `{}`", src.name),
            ),
            Step::new(
                "manual:retire-cloud-resources",
                format!(
                    "destroy the cloud resources of `{}` (terraform, the Kubernetes cluster, buckets, deployer credentials)",
                    src.name
                ),
            ),
        ]);
    }
    steps
}

/// `a`, `b` and `c`, each in backquotes.
fn quoted(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match q.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A readable family file `f` of the source, where the target's families (`targets`, the
/// same-named target file first when `same_named`) take its place: states the decision and
/// what differs, accounts for every setting, and writes the settings the hub depends on to
/// `<source>-<file>` in the target (created, or completed when an earlier move of a sibling
/// created it). Returns that file's name when the entry lists it.
#[allow(clippy::too_many_arguments)]
fn carry_family(
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
            for l in crate::playbook::ledger::leaves(&source)
                .into_iter()
                .filter(|l| l.path.starts_with(&s.path))
            {
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
            let add = shared::missing_in(&post, &into);
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

/// Adds the transfer sidecar (the public key of `--transfer-key`) to the `jupyterhub-home-nfs`
/// values of both hubs: in the source's and the copy's first own (not shared, readable) file
/// that has the block, else their first own file. Without a key, says how to make one.
fn home_nfs_sidecars(
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
        .filter(|f| !f.is_encrypted() && f.exists && src.hubs_referencing(&f.name).len() == 1)
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

fn dedup(v: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

/// The account of a copied values file: `wanted` (the copy, domain rewritten) with the
/// cluster-bound values rewritten or removed, and the ledger of every leaf of `content`.
fn account_copy(
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
fn encrypted_item(to_rel: &str, ends: &bound::Ends<'_>) -> crate::playbook::ledger::Item {
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

/// Sets a key of the entry only when the entry has it.
fn set_if_present(doc: &mut Document, path: &Path, value: &str) -> Result<bool, EditError> {
    match doc.get(0, path) {
        Ok(_) => doc.set(0, path, &ScalarValue::string(value)),
        Err(_) => Ok(false),
    }
}

fn is_support_file(c: &Cluster, name: &str) -> bool {
    c.support_files.iter().any(|f| f.name == name)
}

/// The text a file gets in the target: encrypted files as they are; others with the old domain
/// rewritten to the one in use (each rewrite noted).
fn copied_content(
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
fn sops_keys_match(
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

fn cutover(
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
        (Some(o), Some(n)) => (o, n),
        (None, Some(_)) => {
            plan.already_done.push(format!("{}/{}", mv.from, mv.hub));
            return Ok(());
        }
        (Some(_), None) => {
            return Err(MoveError::NotYet {
                stage: "cutover",
                needed: "setup",
                why: format!("cluster `{}` has no hub `{name}` yet", tgt.name),
            });
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
            if fr.is_encrypted() || !fr.exists || tgt.hubs_referencing(&fr.name).len() > 1 {
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
        let others = src.hubs.iter().filter(|h| h.index != old.index).any(|h| {
            h.values_files
                .iter()
                .chain(h.chart_override.iter())
                .any(|x| x.name == fr.name)
        }) || is_support_file(src, &fr.name);
        if others {
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

fn decommission(
    infra: &Infrastructure,
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    ws: &mut Workspace<'_>,
    plan: &mut StagePlan,
) -> Result<(), MoveError> {
    if src.hub(&mv.hub).is_some() {
        return Err(MoveError::NotYet {
            stage: "decommission",
            needed: "cutover",
            why: format!("cluster `{}` still lists the hub `{}`", src.name, mv.hub),
        });
    }
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
fn hub_share(doc: &Document, hub: &str) -> String {
    let at = |p: &str| {
        Path::parse(p)
            .ok()
            .and_then(|p| doc.get(0, &p).ok())
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

/// The announcement to users (markdown).
pub fn announcement(infra: &Infrastructure, stage: Stage, mv: &Move) -> Option<String> {
    let src = infra.cluster(&mv.from)?;
    let old = src.hub(&mv.hub)?;
    let domain = old.domain.as_deref().unwrap_or(&mv.hub);
    let display = old.display_name.as_deref().unwrap_or(&mv.hub);
    match stage {
        Stage::Setup => Some(format!(
            "## {display}: upcoming maintenance\n\n\
             The hub at <https://{domain}> is moving to new infrastructure. Nothing changes for you yet: \
             keep working as usual.\n\n\
             A maintenance window is planned for **<DATE, TIME AND TIME ZONE>** (about <DURATION>). \
             During it the hub is unavailable; running servers are stopped, so save your work before it starts. \
             Your files, your account and the hub's address stay the same.\n"
        )),
        Stage::Cutover => Some(format!(
            "## {display}: maintenance window\n\n\
             The hub at <https://{domain}> moves to new infrastructure during **<DATE, TIME AND TIME ZONE>** \
             (about <DURATION>).\n\n\
             - The hub is unavailable during the window; running servers are stopped: save your work and log out before it starts.\n\
             - Your files are copied to the new hub; files saved after the window starts may not be.\n\
             - The address stays <https://{domain}>. For a few minutes after the window, some networks may still \
             reach the old hub (DNS); if the hub is unreachable, wait a little and reload.\n"
        )),
        Stage::Decommission => None,
    }
}

/// A move between `setup` and `cutover`: the same hub in two clusters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InProgress {
    pub hub: String,
    pub from: String,
    pub to: String,
    /// The hub's name in the target, when it differs.
    pub new_name: Option<String>,
    /// The domain the old hub serves, and the temporary one of the new hub.
    pub domain: Option<String>,
    pub temp_domain: Option<String>,
    pub next_stage: &'static str,
    /// The command that plans the next stage.
    pub next: String,
}

/// The moves in progress in a repository: two entries of two clusters with the same display
/// name, names equal or one containing the other (`staging` → `ucec-staging`), and the
/// hub-specific values of one mostly carried into the other (half of its settings or more,
/// same path and value). The new hub is the one without a home disk
/// (`jupyterhub-home-nfs.<gke|eks>.volumeId`, which `setup` leaves to the operator) when the
/// other has one; without that sign, the cluster sorted second is taken as the target.
pub fn in_progress(infra: &Infrastructure) -> Vec<InProgress> {
    // A hub's own values: its readable files no other hub of its cluster lists, but not the
    // settings `setup` carried from the other cluster's shared file (`<other>-<file>`).
    let own_values = |c: &Cluster, h: &Hub, other: &Cluster| -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        let carried = format!("{}-", other.name);
        for f in h.values_files.iter().filter(|f| {
            !f.is_encrypted()
                && c.hubs_referencing(&f.name).len() == 1
                && !f.name.starts_with(&carried)
        }) {
            if let Some(doc) = infra.files.doc(&f.rel) {
                for l in crate::playbook::ledger::leaves(doc) {
                    if let Some(v) = crate::repo::infra::text_of(l.node) {
                        // Hard-coded hosts follow each entry's domain: alike when they do.
                        let v = match h.domain.as_deref().filter(|d| !d.is_empty()) {
                            Some(d) => v.replace(d, "\u{1}"),
                            None => v.to_string(),
                        };
                        out.insert((l.path_text(), v));
                    }
                }
            }
        }
        out
    };
    let related = |a: &str, b: &str| a == b || a.contains(b) || b.contains(a);
    let mut out = Vec::new();
    let all: Vec<(&Cluster, &Hub)> = infra
        .clusters
        .iter()
        .flat_map(|c| c.hubs.iter().map(move |h| (c, h)))
        .collect();
    for (i, (ca, ha)) in all.iter().enumerate() {
        for (cb, hb) in &all[i + 1..] {
            if ca.name == cb.name
                || ha.display_name.is_none()
                || ha.display_name != hb.display_name
                || !related(&ha.name, &hb.name)
            {
                continue;
            }
            let (va, vb) = (own_values(ca, ha, cb), own_values(cb, hb, ca));
            let shared = va.intersection(&vb).count();
            if va.is_empty() || shared * 2 < va.len().max(vb.len()) {
                continue;
            }
            // `setup` leaves the new hub's home disk (`jupyterhub-home-nfs.<gke|eks>.volumeId`)
            // to the operator: until it is supplied, the entry without one is the new hub.
            let has_disk = |v: &BTreeSet<(String, String)>| {
                v.iter()
                    .any(|(p, _)| p.contains("jupyterhub-home-nfs.") && p.ends_with(".volumeId"))
            };
            let b_is_new = !has_disk(&vb) || has_disk(&va);
            let ((src, old), (tgt, new)) = if b_is_new {
                ((*ca, *ha), (*cb, *hb))
            } else {
                ((*cb, *hb), (*ca, *ha))
            };
            let mv = Move {
                hub: old.name.clone(),
                from: src.name.clone(),
                to: tgt.name.clone(),
                new_name: (new.name != old.name).then(|| new.name.clone()),
                ..Move::default()
            };
            out.push(InProgress {
                hub: mv.hub.clone(),
                from: mv.from.clone(),
                to: mv.to.clone(),
                new_name: mv.new_name.clone(),
                domain: old.domain.clone(),
                temp_domain: new.domain.clone(),
                next_stage: Stage::Cutover.name(),
                next: format!("gitops-migrate plan {PLAYBOOK} cutover {}", mv.args()),
            });
        }
    }
    out
}
