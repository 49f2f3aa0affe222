//! Rules over an infrastructure repository: every hub entry complete, every referenced file
//! present, no domain served twice, hub names unique per cluster, the hosts hard-coded in a
//! hub's own values files matching its `domain`, cluster names matching their folders.
//!
//! The repository's own schema validates only the first hub of each `cluster.yaml`, so every
//! entry is checked here. Entry shapes are judged from the document (an entry without a
//! `name` is not in the model); files, names and domains from the model.

use std::collections::BTreeMap;

use super::{Finding, rule};
use crate::repo::Infrastructure;
use crate::repo::infra::{
    Cluster, FileRef, HostKind, HostRef, Hub, hard_coded_hosts, normalize_domain, text_of,
};
use crate::util::suggest::edit_distance;
use crate::yaml::{Document, Node, NodeKind};

/// The keys every hub entry needs.
pub const REQUIRED_KEYS: [&str; 4] = ["name", "domain", "helm_chart", "helm_chart_values_files"];

pub fn check(repo: &Infrastructure) -> Vec<Finding> {
    let mut out = Vec::new();
    // Normalized domain → where it was first seen.
    let mut domains: BTreeMap<String, First<'_>> = BTreeMap::new();
    for cluster in &repo.clusters {
        let Some(doc) = repo.files.doc(&cluster.rel) else {
            // Not valid YAML: the YAML rules report it.
            continue;
        };
        hub_entries(cluster, doc, &mut out);
        missing_files(repo, cluster, doc, &mut out);
        duplicate_hubs(cluster, doc, &mut out);
        duplicate_domains(cluster, doc, &mut domains, &mut out);
        domain_mismatch(repo, cluster, &mut out);
    }
    cluster_names(repo, &mut out);
    out
}

/// The hosts hard-coded in a hub's own values files (those no other hub of the cluster
/// lists) match the entry's `domain`: the ingress hosts include it (or a binder's
/// `hub.<domain>`), and each `oauth_callback_url` is on it. A move that rewrites the
/// entry and forgets the file leaves the hub unreachable, or its login broken.
fn domain_mismatch(repo: &Infrastructure, cluster: &Cluster, out: &mut Vec<Finding>) {
    for hub in &cluster.hubs {
        let Some(domain) = hub.domain.as_deref() else {
            continue;
        };
        let want = normalize_domain(domain);
        for f in &hub.values_files {
            if f.is_encrypted() || !f.exists || !cluster.is_own_file(f) {
                continue;
            }
            let Some(doc) = repo.files.doc(&f.rel) else {
                continue;
            };
            let hosts = hard_coded_hosts(doc);
            let ingress: Vec<&HostRef> = hosts
                .iter()
                .filter(|h| h.kind == HostKind::Ingress)
                .collect();
            // The domain, or `hub.<domain>` (a binder's JupyterHub); not any name under it:
            // `next.<domain>` is the temporary domain of a move left behind.
            let on_domain = |h: &str| {
                let h = normalize_domain(h);
                h == want || h == format!("hub.{want}")
            };
            let mut report = |h: &HostRef, what: &str| {
                out.push(
                    Finding::at(
                        rule::INFRA_DOMAIN_MISMATCH,
                        &f.rel,
                        doc,
                        h.offset,
                        format!(
                            "{what} `{}` of hub `{}` is not its domain `{domain}` ({}:{})",
                            h.host,
                            hub.name,
                            cluster.rel,
                            doc_line(repo, cluster, hub)
                        ),
                    )
                    .hint("after changing an entry's `domain` (a move, a temporary domain), rewrite the hosts its values files hard-code, or remove them and let the deployer derive them from `domain`")
                    .scope(&cluster.name),
                );
            };
            if let Some(first) = ingress.first()
                && !ingress.iter().any(|h| on_domain(&h.host))
            {
                report(first, "the ingress host");
            }
            for h in hosts.iter().filter(|h| h.kind == HostKind::Callback) {
                if !on_domain(&h.host) {
                    report(h, "the `oauth_callback_url` host");
                }
            }
        }
    }
}

/// The line of a hub entry's `domain` (or its start) in `cluster.yaml`.
fn doc_line(repo: &Infrastructure, cluster: &Cluster, hub: &Hub) -> usize {
    repo.files
        .doc(&cluster.rel)
        .map(|d| {
            d.lines()
                .line_col(hub.domain_offset.unwrap_or(hub.offset))
                .0
        })
        .unwrap_or(0)
}

/// A cluster's `name` is its folder's (the deployer finds a cluster by folder and reports it
/// by name), and no two clusters declare the same name.
fn cluster_names(repo: &Infrastructure, out: &mut Vec<Finding>) {
    let mut seen: BTreeMap<&str, &Cluster> = BTreeMap::new();
    for cluster in &repo.clusters {
        let (Some(declared), Some(doc)) = (
            cluster.declared_name.as_deref(),
            repo.files.doc(&cluster.rel),
        ) else {
            continue;
        };
        let offset = doc
            .root(0)
            .and_then(Node::as_mapping)
            .and_then(|m| m.get("name"))
            .map_or(0, |e| e.value.span.start);
        let at = |msg: String, hint: &str| {
            Finding::at(rule::INFRA_CLUSTER_NAME, &cluster.rel, doc, offset, msg)
                .hint(hint)
                .scope(&cluster.name)
        };
        if declared != cluster.name {
            out.push(at(
                format!(
                    "cluster `name: {declared}` differs from its folder `{}`",
                    cluster.dir.trim_end_matches('/')
                ),
                "write the folder's name (a cluster folder renamed after a move keeps its old `name` otherwise)",
            ));
        }
        match seen.get(declared) {
            Some(first) => out.push(at(
                format!(
                    "cluster name `{declared}` is also declared by `{}`",
                    first.rel
                ),
                "each cluster has its own name: a copied `cluster.yaml` keeps the name of the cluster it came from",
            )),
            None => {
                seen.insert(declared, cluster);
            }
        }
    }
}

/// Where a domain was first seen.
struct First<'a> {
    cluster: &'a Cluster,
    hub: &'a Hub,
    line: usize,
}

/// How an entry is named in messages: `hub `staging`` or `hub entry 3`.
fn entry_label(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) => format!("hub `{n}`"),
        None => format!("hub entry {} of `hubs`", index + 1),
    }
}

fn kind_of(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Null => "empty",
        _ if node.is_null() => "null",
        _ => node.kind_name(),
    }
}

/// Every entry of `hubs`: a mapping with `name`, `domain`, `helm_chart` as strings and
/// `helm_chart_values_files` as a list of file names.
fn hub_entries(cluster: &Cluster, doc: &Document, out: &mut Vec<Finding>) {
    let Some(root) = doc.root(0).and_then(Node::as_mapping) else {
        return;
    };
    let Some(hubs) = root.get("hubs") else {
        return;
    };
    let at = |offset: usize, msg: String| {
        Finding::at(rule::INFRA_HUB_ENTRY, &cluster.rel, doc, offset, msg).scope(&cluster.name)
    };
    let seq = match &hubs.value.kind {
        NodeKind::Sequence(s) => s,
        _ if hubs.value.is_null() => return,
        _ => {
            out.push(
                at(
                    hubs.value.span.start,
                    format!(
                        "`hubs` is a {}, expected a list of hub entries",
                        kind_of(&hubs.value)
                    ),
                )
                .hint("write `hubs:` followed by `- name: …` entries, or `hubs: []`"),
            );
            return;
        }
    };
    for (index, item) in seq.items.iter().enumerate() {
        let Some(m) = item.value.as_mapping() else {
            out.push(
                at(
                    item.start(),
                    format!(
                        "hub entry {} of `hubs` is a {}, expected a mapping",
                        index + 1,
                        kind_of(&item.value)
                    ),
                )
                .hint("each hub is a mapping with `name`, `display_name`, `domain`, `helm_chart` and `helm_chart_values_files`"),
            );
            continue;
        };
        let name = m.get("name").and_then(|e| text_of(&e.value));
        let label = entry_label(name, index);
        let mut missing = Vec::new();
        for key in REQUIRED_KEYS {
            let Some(e) = m.get(key) else {
                missing.push(key);
                continue;
            };
            if e.value.is_null() {
                missing.push(key);
                continue;
            }
            let wrong = match key {
                "helm_chart_values_files" => !matches!(e.value.kind, NodeKind::Sequence(_)),
                _ => text_of(&e.value).is_none(),
            };
            if wrong {
                let expected = if key == "helm_chart_values_files" {
                    "a list of file names"
                } else {
                    "a string"
                };
                out.push(
                    at(
                        e.value.span.start,
                        format!(
                            "`{key}` of {label} is a {}, expected {expected}",
                            kind_of(&e.value)
                        ),
                    )
                    .hint(format!("give `{key}` {expected}")),
                );
            }
        }
        if let Some(files) = m
            .get("helm_chart_values_files")
            .and_then(|e| e.value.as_sequence())
        {
            for f in &files.items {
                if text_of(&f.value).is_none() {
                    out.push(
                        at(
                            f.start(),
                            format!(
                                "an item of `helm_chart_values_files` of {label} is a {}, expected a file name",
                                kind_of(&f.value)
                            ),
                        )
                        .hint("list values files by name, relative to the cluster folder"),
                    );
                }
            }
        }
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = if index > 0 {
                "every hub entry needs `name`, `domain`, `helm_chart` and `helm_chart_values_files` (the repository's schema checks only the first entry)"
            } else {
                "every hub entry needs `name`, `domain`, `helm_chart` and `helm_chart_values_files`"
            };
            out.push(at(item.start(), format!("{label} lacks {list}")).hint(hint));
        }
    }
}

/// Every file the support chart or a hub lists exists in the cluster folder.
fn missing_files(repo: &Infrastructure, cluster: &Cluster, doc: &Document, out: &mut Vec<Finding>) {
    for (hub, f) in cluster.file_refs() {
        if f.exists {
            continue;
        }
        let who = match hub {
            Some(h) if h.chart_override.as_ref() == Some(f) => {
                format!("hub `{}` uses it as `chart_override`", h.name)
            }
            Some(h) => format!("hub `{}` lists it", h.name),
            None => "the support chart lists it".to_string(),
        };
        let what = if hub.is_some_and(|h| h.chart_override.as_ref() == Some(f)) {
            "chart file"
        } else if f.is_encrypted() {
            "encrypted file"
        } else {
            "values file"
        };
        let message = format!(
            "{what} missing: `{}` does not exist in `{}` ({who})",
            f.name, cluster.dir
        );
        out.push(
            Finding::at(
                rule::INFRA_MISSING_FILE,
                &cluster.rel,
                doc,
                f.offset,
                message,
            )
            .hint(missing_hint(repo, cluster, hub, f))
            .scope(&cluster.name),
        );
    }
}

/// At most this many edits make a file name a near miss. File names share long suffixes
/// (`.secret.values.yaml`), so a relative limit would pair `enc-prod…` with `enc-support…`.
const NEAR_MISS_EDITS: usize = 2;

fn missing_hint(
    repo: &Infrastructure,
    cluster: &Cluster,
    hub: Option<&Hub>,
    f: &FileRef,
) -> String {
    let near = cluster
        .folder_files
        .iter()
        .map(|c| (edit_distance(c, &f.name), c))
        .filter(|&(d, _)| d > 0 && d <= NEAR_MISS_EDITS)
        .min();
    if let Some((_, c)) = near {
        return format!("did you mean `{c}`?");
    }
    // The same domain served from another cluster: most likely the hub moved there and this
    // entry was left behind.
    let moved = hub.and_then(|h| {
        let domain = h.domain.as_deref()?;
        repo.hubs_with_domain(domain)
            .into_iter()
            .find(|(c, _)| c.name != cluster.name)
    });
    if let (Some(h), Some((c, other))) = (hub, moved) {
        return format!(
            "hub `{}` of cluster `{}` serves the same domain: if `{}` moved there, delete this entry (in the same change as the domain switch)",
            other.name, c.name, h.name
        );
    }
    if f.is_encrypted() {
        "restore the sops-encrypted file, or remove the entry if the hub was moved or deleted (a copy of the repository without its `enc-*` files, such as an export, reports every one of them)".to_string()
    } else {
        "restore the file, or remove it from the list if the hub no longer uses it".to_string()
    }
}

/// Hub names (namespace and Helm release) are unique within a cluster.
fn duplicate_hubs(cluster: &Cluster, doc: &Document, out: &mut Vec<Finding>) {
    let mut seen: BTreeMap<&str, &Hub> = BTreeMap::new();
    for hub in &cluster.hubs {
        match seen.get(hub.name.as_str()) {
            Some(first) => {
                let line = doc.lines().line_col(first.name_offset).0;
                out.push(
                    Finding::at(
                        rule::INFRA_DUPLICATE_HUB,
                        &cluster.rel,
                        doc,
                        hub.name_offset,
                        format!(
                            "hub name `{}` is used twice in cluster `{}`; the first is at {}:{line}",
                            hub.name, cluster.name, cluster.rel
                        ),
                    )
                    .hint("the name is the namespace and the Helm release: two entries deploy over each other; rename or remove one")
                    .scope(&cluster.name),
                );
            }
            None => {
                seen.insert(&hub.name, hub);
            }
        }
    }
}

/// No domain is served by two hubs, in one cluster or across clusters.
fn duplicate_domains<'a>(
    cluster: &'a Cluster,
    doc: &Document,
    domains: &mut BTreeMap<String, First<'a>>,
    out: &mut Vec<Finding>,
) {
    for hub in &cluster.hubs {
        let (Some(domain), Some(offset)) = (hub.domain.as_deref(), hub.domain_offset) else {
            continue;
        };
        let key = normalize_domain(domain);
        match domains.get(&key) {
            Some(first) => {
                let whose = if std::ptr::eq(first.cluster, cluster) {
                    format!("hub `{}` of this cluster", first.hub.name)
                } else {
                    format!(
                        "hub `{}` of cluster `{}`",
                        first.hub.name, first.cluster.name
                    )
                };
                out.push(
                    Finding::at(
                        rule::INFRA_DUPLICATE_DOMAIN,
                        &cluster.rel,
                        doc,
                        offset,
                        format!(
                            "domain `{domain}` of hub `{}` is already served by {whose} ({}:{})",
                            hub.name, first.cluster.rel, first.line
                        ),
                    )
                    .hint("uptime checks are keyed by domain; during a move give the new hub a temporary domain inside the target cluster's wildcard, then switch the domain and delete the old entry in one change")
                    .scope(&cluster.name),
                );
            }
            None => {
                let line = doc.lines().line_col(offset).0;
                domains.insert(key, First { cluster, hub, line });
            }
        }
    }
}
