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
mod cutover;
mod decommission;
mod files;
mod login;
mod playbook;
mod setup;
mod shared;
mod temp;
pub mod transfer;
mod window;

use std::collections::BTreeSet;

use crate::playbook::StagePlan;
use crate::playbook::workspace::{Workspace, WorkspaceError};
use crate::repo::Infrastructure;
use crate::repo::infra::{Cluster, Hub};
use crate::util::suggest::closest;
use crate::yaml::{Document, EditError, Path, ScalarValue, Segment};

use cutover::cutover;
use decommission::decommission;
pub use decommission::old_storage;
pub use playbook::HubMove;
use setup::setup;
pub use window::{Window, merged_missing, unread_by_window, unread_option, window};

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

/// `a`, `b` and `c`, each in backquotes.
fn quoted(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match q.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

/// Sets a key of the entry only when the entry has it.
fn set_if_present(doc: &mut Document, path: &Path, value: &str) -> Result<bool, EditError> {
    match doc.get(0, path) {
        Ok(_) => doc.set(0, path, &ScalarValue::string(value)),
        Err(_) => Ok(false),
    }
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
        for f in h
            .values_files
            .iter()
            .filter(|f| !f.is_encrypted() && c.is_own_file(f) && !f.name.starts_with(&carried))
        {
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
