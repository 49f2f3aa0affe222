//! The ledger of a move: every leaf of a values file copied to the target cluster is carried
//! (the same value, which names nothing of the source), **translated** (rewritten to the
//! target's equivalent, where the target's own files say what it is: its provider and project
//! in `cluster.yaml`, its other hubs' values) or **for the operator** (listed under "Still to
//! supply" with file, line and key, kept in the copy unless the target's provider cannot read
//! it). A value is cluster-bound when it names the source cluster, its provider (keys and
//! values that only mean something on GKE or EKS: `jupyterhub-home-nfs.gke.*`, machine types,
//! storage classes, node-pool selectors, Workload Identity and IAM role annotations, `gs://`
//! and `s3://` buckets), its project or account, or (for `--new-name`) the old hub name or
//! namespace. A rename rewrites every occurrence derived from the name: `2i2c/hub-name` node
//! selectors and tolerations, `/export/<hub>` quota paths, in-cluster service names
//! (`storage-quota-home-nfs.<hub>.svc…`), `shareNameOverride`, and non-GCP image prefixes
//! (`…/<cluster>-<hub>-`).
//!
//! Owns: recognising cluster-bound values and deciding each copied leaf's fate. Does not own:
//! the ledger's shape (`playbook::ledger`) or copying the files (`hub_move::setup`).

use std::collections::BTreeSet;

use crate::playbook::ledger::{Entry, Fate, Item, Ledger, Target, leaves};
use crate::repo::infra::{Cluster, text_of};
use crate::yaml::{Document, EditError, Node, Path, ScalarValue, Segment};

/// A cloud provider as written in `cluster.yaml`'s `provider:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Gcp,
    Aws,
    Azure,
    /// `kubeconfig` or anything else: nothing provider-specific is known.
    Other,
}

impl Provider {
    pub fn of(c: &Cluster) -> Provider {
        match c.provider.as_deref() {
            Some("gcp") => Provider::Gcp,
            Some("aws") => Provider::Aws,
            Some("azure") => Provider::Azure,
            _ => Provider::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Gcp => "GCP",
            Provider::Aws => "AWS",
            Provider::Azure => "Azure",
            Provider::Other => "other",
        }
    }

    /// The key of `jupyterhub-home-nfs` holding the hub's disk on this provider.
    pub fn home_nfs_key(self) -> Option<&'static str> {
        match self {
            Provider::Gcp => Some("gke"),
            Provider::Aws => Some("eks"),
            _ => None,
        }
    }

    fn disk(self) -> &'static str {
        match self {
            Provider::Gcp => "persistent disk",
            Provider::Aws => "EBS volume",
            _ => "disk",
        }
    }

    /// Keys that only mean something on this provider (node selectors, annotations).
    fn keys(self) -> &'static [&'static str] {
        match self {
            Provider::Gcp => &[
                "cloud.google.com/gke-nodepool",
                "cloud.google.com/gke-accelerator",
                "cloud.google.com/machine-family",
                "iam.gke.io/gcp-service-account",
            ],
            Provider::Aws => &[
                "eks.amazonaws.com/role-arn",
                "eks.amazonaws.com/nodegroup",
                "alpha.eksctl.io/nodegroup-name",
                "karpenter.sh/nodepool",
            ],
            _ => &[],
        }
    }

    /// What in a value names this provider, if anything.
    fn named_in(self, v: &str) -> Option<&'static str> {
        let t = v.trim();
        match self {
            Provider::Gcp => {
                if t.contains("gs://") {
                    Some("a Cloud Storage bucket")
                } else if t.contains(".iam.gserviceaccount.com") {
                    Some("a GCP service account")
                } else if t.contains("-docker.pkg.dev/") {
                    Some("an Artifact Registry repository")
                } else if t.contains("pd.csi.storage.gke.io") || t.contains("filestore") {
                    Some("a GCP storage driver")
                } else if is_gcp_machine_type(t) {
                    Some("a GCP machine type")
                } else if matches!(
                    t,
                    "standard"
                        | "standard-rwo"
                        | "premium-rwo"
                        | "balanced-rwo"
                        | "pd-standard"
                        | "pd-ssd"
                        | "pd-balanced"
                ) || t.ends_with("-rwo-retain")
                {
                    Some("a GKE storage class")
                } else if t.starts_with("nvidia-tesla-") || t.starts_with("nvidia-l4") {
                    Some("a GKE accelerator")
                } else {
                    None
                }
            }
            Provider::Aws => {
                if t.contains("s3://") {
                    Some("an S3 bucket")
                } else if t.contains("arn:aws:") {
                    Some("an AWS resource name (ARN)")
                } else if t.contains(".amazonaws.com") {
                    Some("an AWS endpoint")
                } else if is_ec2_instance_type(t) {
                    Some("an EC2 instance type")
                } else if matches!(t, "gp2" | "gp3" | "io1" | "io2" | "sc1" | "st1")
                    || t.contains("ebs.csi.aws.com")
                    || t.contains("efs.csi.aws.com")
                {
                    Some("an EKS storage class")
                } else if hex_id(t, "vol-") || hex_id(t, "fs-") {
                    Some("an AWS volume or file system")
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

fn hex_id(t: &str, prefix: &str) -> bool {
    t.strip_prefix(prefix)
        .is_some_and(|r| r.len() >= 8 && r.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `n2-highmem-4`, `e2-standard-8`, `n1-highmem-8`, `c2d-standard-16`…
pub fn is_gcp_machine_type(t: &str) -> bool {
    let mut parts = t.split('-');
    let (Some(family), Some(kind)) = (parts.next(), parts.next()) else {
        return false;
    };
    let family_ok = family.len() >= 2
        && family.len() <= 4
        && family.starts_with(|c: char| c.is_ascii_lowercase())
        && family[1..].starts_with(|c: char| c.is_ascii_digit())
        && family.chars().all(|c| c.is_ascii_alphanumeric());
    let kind_ok = matches!(
        kind,
        "standard" | "highmem" | "highcpu" | "megamem" | "ultramem" | "highgpu" | "custom"
    );
    family_ok && kind_ok && parts.all(|p| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty())
}

/// `r5.xlarge`, `m6i.4xlarge`, `g4dn.xlarge`, `t3.medium`…
pub fn is_ec2_instance_type(t: &str) -> bool {
    let Some((family, size)) = t.split_once('.') else {
        return false;
    };
    let family_ok = family.len() >= 2
        && family.starts_with(|c: char| c.is_ascii_lowercase())
        && family[1..].starts_with(|c: char| c.is_ascii_digit())
        && family.chars().all(|c| c.is_ascii_alphanumeric());
    let size_ok = matches!(
        size,
        "nano" | "micro" | "small" | "medium" | "large" | "metal"
    ) || size
        .strip_suffix("xlarge")
        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
    family_ok && size_ok
}

/// Whether `needle` occurs in `hay` as a whole name: bounded by the start or end, `-`, `_`,
/// `/`, `:`, `@` or `.` (a `.` only when `dots`). `2i2c-org` (the GitHub organisation) is not
/// an occurrence of a cluster named `2i2c`.
pub fn names(hay: &str, needle: &str, dots: bool) -> bool {
    if needle.is_empty() {
        return false;
    }
    let bound = |c: Option<char>| match c {
        None => true,
        Some('-' | '_' | '/' | ':' | '@') => true,
        Some('.') => dots,
        _ => false,
    };
    hay.match_indices(needle).any(|(i, _)| {
        let after = &hay[i + needle.len()..];
        bound(hay[..i].chars().next_back())
            && bound(after.chars().next())
            && !after.starts_with("-org")
    })
}

/// The two ends of a move, and the target's other hubs' values (for equivalents and hints).
pub struct Ends<'a> {
    pub src: &'a Cluster,
    pub tgt: &'a Cluster,
    pub old: &'a str,
    pub new: &'a str,
    /// `(hub, path, value)` of every scalar in the target's other hubs' readable values files.
    pub target_values: Vec<(String, Vec<Segment>, String)>,
}

impl<'a> Ends<'a> {
    /// Reads the target's other hubs' values files (encrypted ones are skipped).
    pub fn new(
        src: &'a Cluster,
        tgt: &'a Cluster,
        old: &'a str,
        new: &'a str,
        read: impl Fn(&str) -> Option<String>,
    ) -> Ends<'a> {
        let mut target_values = Vec::new();
        for h in &tgt.hubs {
            for f in h.values_files.iter().filter(|f| !f.is_encrypted()) {
                let Some(doc) = read(&f.rel).and_then(|t| Document::parse(t).ok()) else {
                    continue;
                };
                for l in leaves(&doc) {
                    if let Some(v) = text_of(l.node) {
                        target_values.push((h.name.clone(), l.path.clone(), v.to_string()));
                    }
                }
            }
        }
        Ends {
            src,
            tgt,
            old,
            new,
            target_values,
        }
    }

    fn renamed(&self) -> bool {
        self.old != self.new
    }

    fn providers(&self) -> (Provider, Provider) {
        (Provider::of(self.src), Provider::of(self.tgt))
    }

    fn cross_provider(&self) -> bool {
        let (s, t) = self.providers();
        s != t
    }

    /// Distinct values the target's hubs have under the same last key, for hints.
    fn hints(&self, path: &[Segment]) -> Vec<String> {
        let Some(Segment::Key(last)) = path.last() else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        self.target_values
            .iter()
            .filter(|(_, p, _)| matches!(p.last(), Some(Segment::Key(k)) if k == last))
            .filter(|(_, _, v)| seen.insert(v.clone()))
            .take(3)
            .map(|(h, _, v)| format!("`{v}` ({h})"))
            .collect()
    }

    /// The target's equivalent from another hub's value at the same path that names that hub:
    /// its name replaced by the new hub's.
    fn after_target_hubs(&self, path: &[Segment]) -> Option<(String, String)> {
        self.target_values
            .iter()
            .filter(|(h, p, _)| p == path && h != self.new)
            .find_map(|(h, _, v)| {
                names(v, h, true).then(|| (replace_names(v, h, self.new), h.clone()))
            })
            .filter(|(v, _)| self.why_bound(&[], v).is_empty())
    }

    /// Why a value, as it would reach the target, is bound to the source (empty: it is not).
    fn why_bound(&self, path: &[Segment], v: &str) -> Vec<String> {
        let (sp, tp) = self.providers();
        let mut why = Vec::new();
        if let Some(p) = &self.src.project
            && self.tgt.project.as_deref() != Some(p)
            && v.contains(p.as_str())
        {
            why.push(format!("the source's project or account `{p}`"));
        }
        // The new names may contain the old ones (`research` → `gcp-research`).
        let masked = |v: &str, old: &str| -> String {
            let mut m = v.to_string();
            for n in [self.new, self.tgt.name.as_str()] {
                if n != old && n.contains(old) {
                    m = m.replace(n, "\u{1}");
                }
            }
            m
        };
        if self.src.name != self.tgt.name
            && names(&masked(v, &self.src.name), &self.src.name, false)
        {
            why.push(format!("the source cluster `{}`", self.src.name));
        }
        if sp != tp {
            if let Some(what) = sp.named_in(v) {
                why.push(format!("{what} of {}", sp.name()));
            }
            let keys = sp.keys();
            if let Some(k) = path.iter().find_map(|s| match s {
                Segment::Key(k) if keys.contains(&k.as_str()) => Some(k),
                _ => None,
            }) {
                why.push(format!("the {} key `{k}`", sp.name()));
            }
        }
        if self.renamed() && names(&masked(v, self.old), self.old, false) {
            why.push(format!("the old hub name `{}`", self.old));
        }
        why
    }
}

/// Replaces whole-name occurrences of `from` (as `names` finds them, dots included).
fn replace_names(hay: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = hay;
    while let Some(i) = rest.find(from) {
        let whole = names(&rest[i..], from, true)
            && (i == 0 || names(&rest[i - 1..i + from.len()], from, true));
        out.push_str(&rest[..i]);
        out.push_str(if whole { to } else { from });
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// What a leaf becomes in the copy.
enum Decision {
    Carry,
    Rewrite {
        value: String,
        why: String,
    },
    /// Removed from the copy (`at`: the leaf or its provider block) and listed.
    Remove {
        at: Vec<Segment>,
        what: String,
        decide: String,
    },
    /// Kept as it is and listed.
    List {
        what: String,
        decide: String,
    },
}

fn key_at(path: &[Segment], i: usize) -> Option<&str> {
    match path.get(i) {
        Some(Segment::Key(k)) => Some(k),
        _ => None,
    }
}

fn last_key(path: &[Segment]) -> Option<&str> {
    path.iter().rev().find_map(|s| match s {
        Segment::Key(k) => Some(k.as_str()),
        _ => None,
    })
}

fn is_ipv4(t: &str) -> bool {
    t.parse::<std::net::Ipv4Addr>().is_ok()
}

/// The in-cluster name of a hub's `jupyterhub-home-nfs` server.
fn home_nfs_service(hub: &str) -> String {
    format!("storage-quota-home-nfs.{hub}.svc.cluster.local")
}

/// Whether the value at `path` of `doc` (a source file) is cluster-bound: the ledger would
/// rewrite, remove or list it rather than carry it as it is.
pub fn is_bound(e: &Ends<'_>, doc: &Document, path: &[Segment]) -> bool {
    let node = doc.get(0, &Path(path.to_vec())).ok();
    let v = node.and_then(text_of);
    match node.map(|n| &n.kind) {
        // A list or mapping: bound when one of its leaves is.
        Some(crate::yaml::NodeKind::Sequence(_) | crate::yaml::NodeKind::Mapping(_)) => {
            leaves(doc).iter().any(|l| {
                l.path.starts_with(path)
                    && !matches!(decide(e, doc, &l.path, text_of(l.node)), Decision::Carry)
            })
        }
        _ => !matches!(decide(e, doc, path, v), Decision::Carry),
    }
}

fn decide(e: &Ends<'_>, doc: &Document, path: &[Segment], v: Option<&str>) -> Decision {
    let (sp, tp) = e.providers();
    let shown = Path(path.to_vec()).to_string();
    // The hub's home-directory disk under `jupyterhub-home-nfs.gke` / `.eks`.
    if let Some(i) = (1..path.len()).find(|&i| {
        key_at(path, i - 1) == Some("jupyterhub-home-nfs")
            && matches!(key_at(path, i), Some("gke" | "eks"))
    }) {
        let want = tp.home_nfs_key().unwrap_or("<provider>");
        let mut at_prefix = path[..i].to_vec();
        at_prefix.push(Segment::Key(want.into()));
        let wanted = format!("{}.volumeId", Path(at_prefix));
        if e.cross_provider() {
            return Decision::Remove {
                at: path[..=i].to_vec(),
                what: format!(
                    "`{}` holds the hub's disk on {} (removed from the copy: `{}` is on {})",
                    Path(path[..=i].to_vec()),
                    sp.name(),
                    e.tgt.name,
                    tp.name()
                ),
                decide: format!(
                    "set `{wanted}` to the new hub's {} in `{}` (created for `{}` by the target's terraform)",
                    tp.disk(),
                    e.tgt.name,
                    e.new
                ),
            };
        }
        if last_key(path) == Some("volumeId") {
            return Decision::Remove {
                at: path.to_vec(),
                what: format!(
                    "`{shown}: {}` is the old hub's {} in `{}` (removed from the copy)",
                    v.unwrap_or_default(),
                    sp.disk(),
                    e.src.name
                ),
                decide: format!(
                    "set `{wanted}` to the new hub's {} in `{}` (created for `{}` by the target's terraform)",
                    tp.disk(),
                    e.tgt.name,
                    e.new
                ),
            };
        }
    }
    let Some(v) = v else {
        return Decision::Carry;
    };
    // The NFS server the home directories are mounted from.
    if last_key(path) == Some("serverIP") {
        let service = v
            .strip_prefix("storage-quota-home-nfs.")
            .and_then(|r| r.split_once(".svc"))
            .map(|(hub, _)| hub.to_string());
        let uses_home_nfs = doc.root(0).and_then(Node::as_mapping).is_some_and(|m| {
            m.get("jupyterhub-home-nfs").is_some()
                || m.get("basehub")
                    .and_then(|b| b.value.as_mapping())
                    .is_some_and(|b| b.get("jupyterhub-home-nfs").is_some())
        });
        let after_deploy = format!(
            "set it to the ClusterIP of `storage-quota-home-nfs` in namespace `{}` of `{}` once deployed (`kubectl -n {} get svc storage-quota-home-nfs`)",
            e.new, e.tgt.name, e.new
        );
        if service.is_some() && tp == Provider::Aws {
            let hints = e.hints(path);
            return Decision::List {
                what: format!(
                    "`{shown}: {v}` names the in-cluster NFS service; the hubs of `{}` (AWS) mount it by IP{}",
                    e.tgt.name,
                    if hints.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", hints.join(", "))
                    }
                ),
                decide: after_deploy,
            };
        }
        if let Some(hub) = service {
            if hub == e.old && e.renamed() {
                return Decision::Rewrite {
                    value: v.replacen(&format!(".{hub}.svc"), &format!(".{}.svc", e.new), 1),
                    why: "the namespace of the renamed hub".into(),
                };
            }
            return Decision::Carry;
        }
        if is_ipv4(v) && uses_home_nfs && tp != Provider::Aws && tp != Provider::Other {
            return Decision::Rewrite {
                value: home_nfs_service(e.new),
                why: format!(
                    "the IP was the old NFS service's in `{}`; the in-cluster name works on {}",
                    e.src.name,
                    tp.name()
                ),
            };
        }
        if is_ipv4(v) && uses_home_nfs {
            return Decision::List {
                what: format!(
                    "`{shown}: {v}` is the ClusterIP of the old hub's NFS service in `{}`",
                    e.src.name
                ),
                decide: after_deploy,
            };
        }
        return Decision::List {
            what: format!(
                "`{shown}: {v}` is the NFS server of the source cluster `{}`",
                e.src.name
            ),
            decide: format!(
                "set the NFS server the new hub's home directories are on in `{}`",
                e.tgt.name
            ),
        };
    }
    // Occurrences derived from the hub's name, rewritten for `--new-name`; then the source
    // project replaced by the target's on the same provider.
    let mut value = v.to_string();
    let mut whys: Vec<String> = Vec::new();
    if e.renamed() {
        let lk = last_key(path).unwrap_or_default();
        let toleration_of_hub = lk == "value"
            && path.len() > 1
            && doc
                .get(0, &{
                    let mut p = path[..path.len() - 1].to_vec();
                    p.push(Segment::Key("key".into()));
                    Path(p)
                })
                .ok()
                .and_then(text_of)
                == Some("2i2c/hub-name");
        if (lk == "2i2c/hub-name" || lk == "shareNameOverride" || toleration_of_hub)
            && value == e.old
        {
            value = e.new.to_string();
            whys.push(format!("the `{lk}` of the renamed hub"));
        }
        let svc = (format!(".{}.svc", e.old), format!(".{}.svc", e.new));
        if value.contains(&svc.0) {
            value = value.replace(&svc.0, &svc.1);
            whys.push("the namespace of the renamed hub".into());
        }
        let export = format!("/export/{}", e.old);
        if let Some(i) = value.find(&export)
            && matches!(value[i + export.len()..].chars().next(), None | Some('/'))
        {
            value = format!(
                "{}/export/{}{}",
                &value[..i],
                e.new,
                &value[i + export.len()..]
            );
            whys.push("the quota path of the renamed hub".into());
        }
        let prefix = format!("{}-{}-", e.src.name, e.old);
        if lk == "image_prefix" && value.contains(&prefix) && tp != Provider::Gcp {
            value = value.replace(&prefix, &format!("{}-{}-", e.tgt.name, e.new));
            whys.push("the image prefix of the renamed hub".into());
        }
    } else if last_key(path) == Some("image_prefix") && e.src.name != e.tgt.name {
        let prefix = format!("{}-{}-", e.src.name, e.old);
        if value.contains(&prefix) && sp != Provider::Gcp && tp != Provider::Gcp {
            value = value.replace(&prefix, &format!("{}-{}-", e.tgt.name, e.new));
            whys.push("the image prefix of the hub in the target cluster".into());
        }
    }
    let is_image = matches!(last_key(path), Some("image" | "name"))
        && path
            .iter()
            .any(|s| matches!(s, Segment::Key(k) if k == "image"));
    if !e.cross_provider()
        && !is_image
        && let (Some(sproj), Some(tproj)) = (&e.src.project, &e.tgt.project)
        && sproj != tproj
        && value.contains(sproj.as_str())
    {
        value = value.replace(sproj.as_str(), tproj);
        whys.push(format!(
            "the project `{sproj}` of `{}` → `{tproj}` of `{}`",
            e.src.name, e.tgt.name
        ));
    }
    let why = e.why_bound(path, &value);
    if why.is_empty() {
        return if value == v {
            Decision::Carry
        } else {
            Decision::Rewrite {
                value,
                why: whys.join("; "),
            }
        };
    }
    if let Some((eq, hub)) = e.after_target_hubs(path) {
        return Decision::Rewrite {
            value: eq,
            why: format!("after the target's hub `{hub}`"),
        };
    }
    let hints = e.hints(path);
    Decision::List {
        what: format!("`{shown}: {v}` names {}", why.join(", ")),
        decide: if hints.is_empty() {
            format!("set the equivalent for `{}` in `{}`", e.new, e.tgt.name)
        } else {
            format!(
                "set the equivalent for `{}` in `{}` (its hubs have {})",
                e.new,
                e.tgt.name,
                hints.join(", ")
            )
        },
    }
}

/// Accounts for every leaf of `source` (the source file `src_rel`) copied to `to_rel`, whose
/// text (the hard-coded domain already rewritten) is `copy`; rewrites and removes in `copy`
/// what the decisions say. Returns the ledger of the file, checked against the copy.
pub fn account(
    e: &Ends<'_>,
    src_rel: &str,
    to_rel: &str,
    source: &Document,
    copy: &mut Document,
) -> Result<Ledger, EditError> {
    let mut entries = Vec::new();
    let mut rewrites: Vec<(Vec<Segment>, String)> = Vec::new();
    let mut removals: Vec<Vec<Segment>> = Vec::new();
    for leaf in leaves(source) {
        let v = text_of(leaf.node);
        let target = |value: Option<String>| Target {
            file: to_rel.to_string(),
            path: leaf.path_text(),
            value,
        };
        let item = |what: String, decide: String| Item {
            file: to_rel.to_string(),
            line: Some(leaf.line),
            what,
            decide,
        };
        // The domain was rewritten already: the copy holds the new value.
        let now = copy
            .get(0, &Path(leaf.path.clone()))
            .ok()
            .and_then(text_of)
            .map(str::to_string);
        let fate = if v.is_some() && now.as_deref() != v {
            Fate::Translated {
                to: target(now),
                note: Some("the domain in use".into()),
            }
        } else {
            match decide(e, source, &leaf.path, v) {
                Decision::Carry => Fate::Carried {
                    to: target(v.map(str::to_string)),
                },
                Decision::Rewrite { value, why } => {
                    rewrites.push((leaf.path.clone(), value.clone()));
                    Fate::Translated {
                        to: target(Some(value)),
                        note: Some(why),
                    }
                }
                Decision::Remove { at, what, decide } => {
                    if !removals.contains(&at) {
                        removals.push(at);
                    }
                    Fate::operator(item(what, decide))
                }
                Decision::List { what, decide } => Fate::operator(item(what, decide)),
            }
        };
        entries.push(Entry {
            file: src_rel.to_string(),
            path: leaf.path_text(),
            line: leaf.line,
            fate,
            unclaimed: false,
        });
    }
    for (path, value) in &rewrites {
        copy.set(0, &Path(path.clone()), &ScalarValue::string(value))?;
    }
    for at in removals.iter().rev() {
        copy.remove(0, &Path(at.clone()))?;
    }
    // Items name the line of the copy, where the operator edits (none for a removed key).
    for en in &mut entries {
        if let Fate::Operator { item } = &mut en.fate {
            item.line = Path::parse(&en.path)
                .ok()
                .and_then(|p| copy.get(0, &p).ok())
                .map(|n| copy.line_of(n.span.start));
        }
    }
    let mut ledger = Ledger {
        entries,
        items: Vec::new(),
    };
    ledger.verify(to_rel, Some(copy));
    Ok(ledger)
}

/// The rewrites of a ledger, one line each, for the plan's notes.
pub fn rewrite_lines(ledger: &Ledger) -> Vec<String> {
    ledger
        .entries
        .iter()
        .filter_map(|en| match &en.fate {
            Fate::Translated { to, note: Some(n) } if n != "the domain in use" => Some(format!(
                "`{}`: line {}: `{}` → `{}` ({n})",
                to.file,
                en.line,
                en.path,
                to.value.as_deref().unwrap_or_default()
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_types_and_names() {
        assert!(is_gcp_machine_type("n2-highmem-4"));
        assert!(is_gcp_machine_type("e2-standard-8"));
        assert!(!is_gcp_machine_type("pangeo-notebook"));
        assert!(is_ec2_instance_type("r5.xlarge"));
        assert!(is_ec2_instance_type("g4dn.12xlarge"));
        assert!(!is_ec2_instance_type("2i2c.org"));
        assert!(names("gs://ucec-scratch/x", "ucec", false));
        assert!(!names("https://github.com/2i2c-org/x", "2i2c", false));
        assert!(!names("https://2i2c.org", "2i2c", false));
        assert!(names("/export/staging", "staging", true));
        assert!(!names("prestaging", "staging", true));
        assert_eq!(
            replace_names("s3://aws-scratch-staging/x", "staging", "new"),
            "s3://aws-scratch-new/x"
        );
    }
}
