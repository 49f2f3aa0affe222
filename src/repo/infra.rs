//! A 2i2c-style infrastructure repository: `config/clusters/<cluster>/cluster.yaml` files,
//! each with its hubs and the files they reference, and the sops creation rules of
//! `.sops.yaml`.
//!
//! Owns: reading clusters, hubs, file references (with whether each file exists) and sops
//! rules, and queries over them (a cluster, a hub, the hubs sharing a file, a hub's own file).
//! Does not own:
//! judging entries (`validate::infra_rules`) or moving hubs (`playbook::hub_move`). The model
//! is forgiving: a hub entry with missing or mistyped keys keeps what can be read; an entry
//! without a usable `name` is left out of `hubs` (the rules report it from the document).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Files, RepoError, files::yaml_files};
use crate::yaml::{Mapping, Node, NodeKind};

/// Where cluster folders live.
pub const CLUSTERS_DIR: &str = "config/clusters";
/// The sops configuration at the repository root.
pub const SOPS_FILE: &str = ".sops.yaml";
/// The prefix of sops-encrypted files (`enc-<hub>.secret.values.yaml`).
pub const ENCRYPTED_PREFIX: &str = "enc-";
/// The sops key kinds a creation rule can name.
pub const SOPS_KEY_KINDS: [&str; 6] = [
    "gcp_kms",
    "kms",
    "age",
    "pgp",
    "azure_keyvault",
    "hc_vault_transit_uri",
];

#[derive(Debug)]
pub struct Infrastructure {
    pub files: Files,
    /// Sorted by name.
    pub clusters: Vec<Cluster>,
    /// `.sops.yaml` `creation_rules`, in order (sops uses the first that matches).
    pub sops_rules: Vec<SopsRule>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    /// The folder name under `config/clusters/`.
    pub name: String,
    /// `config/clusters/<name>/cluster.yaml`.
    pub rel: String,
    /// `config/clusters/<name>/`.
    pub dir: String,
    /// Whether `cluster.yaml` parsed (when not, the YAML rules report why and it has no hubs).
    pub parsed: bool,
    /// The `name:` written in `cluster.yaml`.
    pub declared_name: Option<String>,
    /// `provider:` (`gcp`, `aws`, `azure`, `kubeconfig`).
    pub provider: Option<String>,
    /// The cloud project or account the cluster runs in: `gcp.project`, `aws.account`,
    /// `azure.resource_group`.
    pub project: Option<String>,
    /// The hubs with a usable `name`, in file order.
    pub hubs: Vec<Hub>,
    /// `support.helm_chart_values_files`.
    pub support_files: Vec<FileRef>,
    /// The names of the files in the cluster folder (any extension; encrypted ones included),
    /// sorted.
    pub folder_files: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Hub {
    /// The namespace and Helm release.
    pub name: String,
    pub domain: Option<String>,
    pub display_name: Option<String>,
    pub helm_chart: Option<String>,
    /// `helm_chart_values_files`, in order (order matters: later files win).
    pub values_files: Vec<FileRef>,
    /// `chart_override`, a chart file in the cluster folder used instead of `helm_chart`.
    pub chart_override: Option<FileRef>,
    /// Offset of the entry's `- ` (the start of the entry for a flow sequence).
    pub offset: usize,
    /// Offset of the `name:` key.
    pub name_offset: usize,
    /// Offset of the `domain` value, when there is one.
    pub domain_offset: Option<usize>,
    /// Position of the entry in `hubs` (counting entries left out of the model).
    pub index: usize,
}

/// A file referenced from `cluster.yaml`, relative to the cluster folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// As written (`common.values.yaml`).
    pub name: String,
    /// `config/clusters/<cluster>/<name>`.
    pub rel: String,
    /// Offset of the scalar in `cluster.yaml`.
    pub offset: usize,
    /// Whether the file exists in the work tree.
    pub exists: bool,
}

impl FileRef {
    /// Whether the name says the file is sops-encrypted (`enc-…`).
    pub fn is_encrypted(&self) -> bool {
        file_name(&self.name).starts_with(ENCRYPTED_PREFIX)
    }
}

/// One `creation_rules` entry of `.sops.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SopsRule {
    /// `path_regex`, as written; empty when the rule has none (it then matches every file).
    pub path_regex: String,
    /// (kind, key) pairs: `("gcp_kms", "projects/…/cryptoKeys/…")`, `("age", "age1…")`; from
    /// the rule's own keys (comma-separated lists split) and from its `key_groups`.
    pub keys: Vec<(String, String)>,
    /// Offset of the rule's entry in `.sops.yaml`.
    pub offset: usize,
}

impl Infrastructure {
    pub fn load(root: &Path) -> Result<Infrastructure, RepoError> {
        let mut rels = yaml_files(root, "config")?;
        if root.join(SOPS_FILE).is_file() {
            rels.push(SOPS_FILE.into());
        }
        let files = Files::load(root, rels)?;
        let mut clusters = Vec::new();
        for l in files.iter() {
            let Some(rest) = l.rel.strip_prefix("config/clusters/") else {
                continue;
            };
            let Some(name) = rest.strip_suffix("/cluster.yaml") else {
                continue;
            };
            if name.contains('/') {
                continue;
            }
            clusters.push(read_cluster(root, name, l.doc())?);
        }
        clusters.sort_by(|a, b| a.name.cmp(&b.name));
        let sops_rules = files.doc(SOPS_FILE).map(read_sops).unwrap_or_default();
        Ok(Infrastructure {
            files,
            clusters,
            sops_rules,
        })
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The first hub named `name` in `cluster`.
    pub fn hub(&self, cluster: &str, name: &str) -> Option<&Hub> {
        self.cluster(cluster)?.hub(name)
    }

    /// The hubs of `cluster` whose `helm_chart_values_files` list `file` (its name as written,
    /// or its path relative to the repository root).
    pub fn hubs_referencing(&self, cluster: &str, file: &str) -> Vec<&Hub> {
        self.cluster(cluster)
            .map(|c| c.hubs_referencing(file))
            .unwrap_or_default()
    }

    /// Whether more than one hub of `cluster` references `file` (`common.values.yaml`).
    pub fn is_shared(&self, cluster: &str, file: &str) -> bool {
        self.hubs_referencing(cluster, file).len() > 1
    }

    /// Every hub serving `domain` (compared without case or a final dot), with its cluster.
    pub fn hubs_with_domain(&self, domain: &str) -> Vec<(&Cluster, &Hub)> {
        let want = normalize_domain(domain);
        self.clusters
            .iter()
            .flat_map(|c| c.hubs.iter().map(move |h| (c, h)))
            .filter(|(_, h)| h.domain.as_deref().map(normalize_domain).as_ref() == Some(&want))
            .collect()
    }
}

impl Cluster {
    /// The first hub named `name`.
    pub fn hub(&self, name: &str) -> Option<&Hub> {
        self.hubs.iter().find(|h| h.name == name)
    }

    /// The hubs whose values files include `file` (name as written, or repository path).
    pub fn hubs_referencing(&self, file: &str) -> Vec<&Hub> {
        self.hubs
            .iter()
            .filter(|h| {
                h.values_files
                    .iter()
                    .any(|f| f.name == file || f.rel == file)
            })
            .collect()
    }

    /// Whether `file`, listed by a hub of the cluster, is that hub's own: no other entry lists
    /// it (among its values files or as its chart override; by name as written or by path) and
    /// it is not the support chart's. A file several hubs list (`common.values.yaml`) is theirs
    /// together. The one decision of what a move renames, rewrites, carries or deletes as a
    /// hub's, and of what the rules judge against one entry.
    pub fn is_own_file(&self, file: &FileRef) -> bool {
        let listing = self
            .hubs
            .iter()
            .filter(|h| {
                h.values_files
                    .iter()
                    .chain(h.chart_override.iter())
                    .any(|f| f.name == file.name || f.rel == file.rel)
            })
            .count();
        listing <= 1 && !self.is_support_file(&file.name)
    }

    /// Whether the support chart lists the file `name`.
    pub fn is_support_file(&self, name: &str) -> bool {
        self.support_files.iter().any(|f| f.name == name)
    }

    /// The values files referenced by more than one hub, with those hubs' names, in order of
    /// first reference.
    pub fn shared_files(&self) -> Vec<(&FileRef, Vec<&str>)> {
        let mut by_name: BTreeMap<&str, (usize, &FileRef, Vec<&str>)> = BTreeMap::new();
        let mut order = 0;
        for h in &self.hubs {
            for f in &h.values_files {
                let e = by_name.entry(f.name.as_str()).or_insert_with(|| {
                    order += 1;
                    (order, f, Vec::new())
                });
                if !e.2.contains(&h.name.as_str()) {
                    e.2.push(&h.name);
                }
            }
        }
        let mut shared: Vec<_> = by_name
            .into_values()
            .filter(|(_, _, hubs)| hubs.len() > 1)
            .collect();
        shared.sort_by_key(|(o, _, _)| *o);
        shared.into_iter().map(|(_, f, h)| (f, h)).collect()
    }

    /// Every file reference of the cluster: the support chart's, then each hub's.
    pub fn file_refs(&self) -> impl Iterator<Item = (Option<&Hub>, &FileRef)> {
        self.support_files
            .iter()
            .map(|f| (None, f))
            .chain(self.hubs.iter().flat_map(|h| {
                h.values_files
                    .iter()
                    .chain(h.chart_override.iter())
                    .map(move |f| (Some(h), f))
            }))
    }
}

/// A domain as compared for duplicates: lower case, without a final dot.
pub fn normalize_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A scalar's text, `None` for a null, an empty value or a collection.
pub fn text_of(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar(_) if !node.is_null() => node.scalar_text().filter(|s| !s.is_empty()),
        _ => None,
    }
}

fn text(m: &Mapping, key: &str) -> Option<String> {
    m.get(key)
        .and_then(|e| text_of(&e.value))
        .map(str::to_string)
}

fn read_cluster(
    root: &Path,
    name: &str,
    doc: Option<&crate::yaml::Document>,
) -> Result<Cluster, RepoError> {
    let dir = format!("{CLUSTERS_DIR}/{name}/");
    let folder_files = list_folder(root, &dir)?;
    let file_ref = |n: &Node| -> Option<FileRef> {
        let written = text_of(n)?;
        let rel = format!("{dir}{written}");
        Some(FileRef {
            name: written.to_string(),
            exists: root.join(&rel).is_file(),
            rel,
            offset: n.span.start,
        })
    };
    let mut cluster = Cluster {
        name: name.to_string(),
        rel: format!("{dir}cluster.yaml"),
        dir: dir.clone(),
        parsed: doc.is_some(),
        declared_name: None,
        provider: None,
        project: None,
        hubs: Vec::new(),
        support_files: Vec::new(),
        folder_files,
    };
    let Some(m) = doc.and_then(|d| d.root(0)).and_then(Node::as_mapping) else {
        return Ok(cluster);
    };
    cluster.declared_name = text(m, "name");
    cluster.provider = text(m, "provider");
    cluster.project = [
        ("gcp", "project"),
        ("aws", "account"),
        ("azure", "resource_group"),
    ]
    .iter()
    .find_map(|(section, key)| {
        m.get(section)
            .and_then(|e| e.value.as_mapping())
            .and_then(|s| text(s, key))
    });
    if let Some(files) = m
        .get("support")
        .and_then(|e| e.value.as_mapping())
        .and_then(|s| s.get("helm_chart_values_files"))
        .and_then(|e| e.value.as_sequence())
    {
        cluster.support_files = files
            .items
            .iter()
            .filter_map(|i| file_ref(&i.value))
            .collect();
    }
    let Some(hubs) = m.get("hubs").and_then(|e| e.value.as_sequence()) else {
        return Ok(cluster);
    };
    for (index, item) in hubs.items.iter().enumerate() {
        let Some(h) = item.value.as_mapping() else {
            continue;
        };
        let Some(name_entry) = h.get("name") else {
            continue;
        };
        let Some(hub_name) = text_of(&name_entry.value) else {
            continue;
        };
        let domain = h
            .get("domain")
            .and_then(|e| text_of(&e.value).map(|t| (t, &e.value)));
        cluster.hubs.push(Hub {
            name: hub_name.to_string(),
            domain: domain.map(|(t, _)| t.to_string()),
            domain_offset: domain.map(|(_, n)| n.span.start),
            display_name: text(h, "display_name"),
            helm_chart: text(h, "helm_chart"),
            values_files: h
                .get("helm_chart_values_files")
                .and_then(|e| e.value.as_sequence())
                .map(|s| s.items.iter().filter_map(|i| file_ref(&i.value)).collect())
                .unwrap_or_default(),
            chart_override: h.get("chart_override").and_then(|e| file_ref(&e.value)),
            offset: item.start(),
            name_offset: name_entry.key.span.start,
            index,
        });
    }
    Ok(cluster)
}

/// The file names in a cluster folder, sorted.
fn list_folder(root: &Path, dir: &str) -> Result<Vec<String>, RepoError> {
    let rd = std::fs::read_dir(root.join(dir)).map_err(|source| RepoError::Unreadable {
        path: dir.trim_end_matches('/').to_string(),
        source,
    })?;
    let mut names: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// `.sops.yaml` `creation_rules`.
fn read_sops(doc: &crate::yaml::Document) -> Vec<SopsRule> {
    let Some(rules) = doc
        .root(0)
        .and_then(Node::as_mapping)
        .and_then(|m| m.get("creation_rules"))
        .and_then(|e| e.value.as_sequence())
    else {
        return Vec::new();
    };
    rules
        .items
        .iter()
        .filter_map(|item| {
            let m = item.value.as_mapping()?;
            let mut keys = Vec::new();
            sops_keys(m, &mut keys);
            if let Some(groups) = m.get("key_groups").and_then(|e| e.value.as_sequence()) {
                for g in groups.items.iter().filter_map(|g| g.value.as_mapping()) {
                    sops_keys(g, &mut keys);
                }
            }
            Some(SopsRule {
                path_regex: text(m, "path_regex").unwrap_or_default(),
                keys,
                offset: item.start(),
            })
        })
        .collect()
}

/// The keys of a creation rule or a key group: each kind as a comma-separated string, or as a
/// list of strings or of mappings (`resource_id`, `arn`, `vaultUrl`…).
fn sops_keys(m: &Mapping, out: &mut Vec<(String, String)>) {
    for kind in SOPS_KEY_KINDS {
        let Some(e) = m.get(kind) else {
            continue;
        };
        let mut push = |s: &str| {
            for k in s.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                out.push((kind.to_string(), k.to_string()));
            }
        };
        match &e.value.kind {
            NodeKind::Sequence(s) => {
                for i in &s.items {
                    if let Some(t) = text_of(&i.value) {
                        push(t);
                    } else if let Some(km) = i.value.as_mapping() {
                        let first = ["resource_id", "arn", "vaultUrl", "vault_address"]
                            .iter()
                            .find_map(|k| text(km, k));
                        if let Some(t) = first {
                            push(&t);
                        }
                    }
                }
            }
            _ => {
                if let Some(t) = text_of(&e.value) {
                    push(t);
                }
            }
        }
    }
}

/// Where a values file hard-codes a hub's host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `jupyterhub.ingress.hosts[i]` or `jupyterhub.ingress.tls[j].hosts[i]` (at any depth,
    /// e.g. under `basehub:`).
    Ingress,
    /// An `oauth_callback_url` anywhere (its URL's host).
    Callback,
}

/// A host hard-coded in a values document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRef {
    pub kind: HostKind,
    pub path: Vec<crate::yaml::Segment>,
    /// The scalar as written (the whole URL for a callback).
    pub value: String,
    /// The host it names.
    pub host: String,
    /// Offset of the scalar.
    pub offset: usize,
}

/// Every host hard-coded in the first document of a values file: ingress hosts and
/// `oauth_callback_url`s.
pub fn hard_coded_hosts(doc: &crate::yaml::Document) -> Vec<HostRef> {
    use crate::yaml::Segment;
    fn key_is(seg: Option<&Segment>, k: &str) -> bool {
        matches!(seg, Some(Segment::Key(s)) if s == k)
    }
    /// Whether `path` (ending with an index) is a host of `jupyterhub.ingress`.
    fn is_ingress_host(path: &[Segment]) -> bool {
        let n = path.len();
        if n < 4 || !matches!(path[n - 1], Segment::Index(_)) || !key_is(path.get(n - 2), "hosts") {
            return false;
        }
        let ingress_at = |i: usize| {
            i >= 1 && key_is(path.get(i), "ingress") && key_is(path.get(i - 1), "jupyterhub")
        };
        // `…jupyterhub.ingress.hosts[i]`
        if ingress_at(n - 3) {
            return true;
        }
        // `…jupyterhub.ingress.tls[j].hosts[i]`
        n >= 6
            && matches!(path[n - 3], Segment::Index(_))
            && key_is(path.get(n - 4), "tls")
            && ingress_at(n - 5)
    }
    fn url_host(url: &str) -> Option<&str> {
        let rest = &url[url.find("://")? + 3..];
        Some(&rest[..rest.find(['/', ':', '?']).unwrap_or(rest.len())])
    }
    fn walk(node: &Node, path: &mut Vec<Segment>, out: &mut Vec<HostRef>) {
        match &node.kind {
            NodeKind::Mapping(m) => {
                for e in &m.entries {
                    let Some(k) = e.key.scalar_text() else {
                        continue;
                    };
                    path.push(Segment::Key(k.to_string()));
                    if k == "oauth_callback_url" {
                        if let Some(v) = text_of(&e.value)
                            && let Some(host) = url_host(v)
                        {
                            out.push(HostRef {
                                kind: HostKind::Callback,
                                path: path.clone(),
                                value: v.to_string(),
                                host: host.to_string(),
                                offset: e.value.span.start,
                            });
                        }
                    } else {
                        walk(&e.value, path, out);
                    }
                    path.pop();
                }
            }
            NodeKind::Sequence(s) => {
                for (i, item) in s.items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    if is_ingress_host(path) {
                        if let Some(v) = text_of(&item.value) {
                            out.push(HostRef {
                                kind: HostKind::Ingress,
                                path: path.clone(),
                                value: v.to_string(),
                                host: v.to_string(),
                                offset: item.value.span.start,
                            });
                        }
                    } else {
                        walk(&item.value, path, out);
                    }
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(root) = doc.root(0) {
        walk(root, &mut Vec::new(), &mut out);
    }
    out
}

#[cfg(test)]
impl Cluster {
    /// A parsed cluster with no hubs or files, for tests to fill in.
    pub(crate) fn named(name: &str) -> Cluster {
        Cluster {
            name: name.into(),
            rel: format!("{CLUSTERS_DIR}/{name}/cluster.yaml"),
            dir: format!("{CLUSTERS_DIR}/{name}/"),
            parsed: true,
            declared_name: None,
            provider: None,
            project: None,
            hubs: Vec::new(),
            support_files: Vec::new(),
            folder_files: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> FileRef {
        FileRef {
            name: name.into(),
            rel: format!("config/clusters/c/{name}"),
            offset: 0,
            exists: true,
        }
    }

    fn hub(index: usize, name: &str, files: &[&str], chart: Option<&str>) -> Hub {
        Hub {
            name: name.into(),
            domain: None,
            display_name: None,
            helm_chart: None,
            values_files: files.iter().map(|f| file(f)).collect(),
            chart_override: chart.map(file),
            offset: 0,
            name_offset: 0,
            domain_offset: None,
            index,
        }
    }

    #[test]
    fn a_hubs_own_file_is_listed_by_no_other_entry_and_is_not_the_support_charts() {
        let c = Cluster {
            hubs: vec![
                hub(
                    0,
                    "a",
                    &["common.values.yaml", "a.values.yaml"],
                    Some("chart"),
                ),
                hub(
                    1,
                    "b",
                    &["common.values.yaml", "b.values.yaml", "support.values.yaml"],
                    Some("chart"),
                ),
                // Another entry of the same name still shares what both list.
                hub(2, "a", &["a.values.yaml"], None),
            ],
            support_files: vec![file("support.values.yaml")],
            ..Cluster::named("c")
        };
        let own = |name: &str| c.is_own_file(&file(name));
        assert!(own("b.values.yaml"));
        assert!(!own("common.values.yaml"));
        assert!(!own("a.values.yaml"));
        assert!(!own("chart"), "two entries' chart override");
        assert!(!own("support.values.yaml"), "the support chart's");
    }
}
