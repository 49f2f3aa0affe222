//! The text work of a move: the entry's text as written in the source `cluster.yaml`, file
//! names for `--new-name`, the hard-coded domain in values files, the keys in a sops file's
//! metadata, and `sops updatekeys` run on a copy (`--reencrypt`).

use std::collections::BTreeSet;

use crate::repo::infra::{HostKind, Hub, hard_coded_hosts, normalize_domain, text_of};
use crate::yaml::{Document, EditError, Node, Path, ScalarValue, Segment};

/// A hub-specific file name for the hub's new name: `staging.values.yaml` →
/// `<new>.values.yaml`, `enc-staging.secret.values.yaml` → `enc-<new>.secret.values.yaml`
/// (also `staging-…` and `staging_…`); other names are kept.
pub fn renamed_file(name: &str, hub: &str, new: &str) -> String {
    let (dir, base) = match name.rfind('/') {
        Some(i) => name.split_at(i + 1),
        None => ("", name),
    };
    let (prefix, rest) = match base.strip_prefix("enc-") {
        Some(r) => ("enc-", r),
        None => ("", base),
    };
    match rest.strip_prefix(hub) {
        Some(tail) if tail.starts_with(['.', '-', '_']) => format!("{dir}{prefix}{new}{tail}"),
        _ => name.to_string(),
    }
}

/// The text of a hub entry as a mapping ready to append: the comment block that owns it (the
/// own-line comments directly above its `- `), and the entry with its inner comments, the `- `
/// turned into spaces so that the mapping keeps its columns.
pub fn entry_text(text: &str, hub: &Hub) -> String {
    let end = item_end(text, hub).unwrap_or(text.len());
    let dash = hub.offset;
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut start = line_start(dash);
    while start > 0 {
        let prev = line_start(start - 1);
        if text[prev..start].trim_start().starts_with('#') {
            start = prev;
        } else {
            break;
        }
    }
    let end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    let mut out = String::new();
    out.push_str(&text[start..dash]);
    let rest = &text[dash..end];
    match rest.strip_prefix('-') {
        Some(r) => {
            out.push(' ');
            out.push_str(r);
        }
        None => out.push_str(rest),
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The end of the hub's item content in the source document.
fn item_end(text: &str, hub: &Hub) -> Option<usize> {
    let doc = Document::parse(text.to_string()).ok()?;
    let items = &doc
        .root(0)?
        .as_mapping()?
        .get("hubs")?
        .value
        .as_sequence()?
        .items;
    Some(items.get(hub.index)?.value.span.end)
}

/// Rewrites the old domain hard-coded in a values document: `jupyterhub.ingress.hosts`,
/// `jupyterhub.ingress.tls[*].hosts` (at any depth, e.g. under `basehub:`), and
/// `oauth_callback_url` anywhere. Returns a line per rewrite.
pub fn rewrite_domain_doc(
    doc: &mut Document,
    from: &str,
    to: &str,
) -> Result<Vec<String>, EditError> {
    let found: Vec<(Vec<Segment>, String, String)> = hard_coded_hosts(doc)
        .into_iter()
        .filter(|h| normalize_domain(&h.host) == normalize_domain(from))
        .map(|h| {
            let new = match h.kind {
                HostKind::Ingress => to.to_string(),
                HostKind::Callback => h.value.replacen(&h.host, to, 1),
            };
            (h.path, h.value, new)
        })
        .collect();
    let mut out = Vec::new();
    for (segs, old, new) in found {
        let path = Path(segs);
        if doc.set(0, &path, &ScalarValue::string(&new))? {
            let line = doc
                .get(0, &path)
                .map(|n| doc.line_of(n.span.start))
                .unwrap_or(0);
            out.push(format!("line {line}: `{path}` `{old}` → `{new}`"));
        }
    }
    Ok(out)
}

/// `rewrite_domain_doc` on a text.
pub fn rewrite_domain(text: &str, from: &str, to: &str) -> Result<(String, Vec<String>), String> {
    let mut doc = Document::parse(text.to_string()).map_err(|e| e.to_string())?;
    let notes = rewrite_domain_doc(&mut doc, from, to).map_err(|e| e.to_string())?;
    Ok((doc.text().to_string(), notes))
}

/// The keys a sops-encrypted file was encrypted for, from its `sops` metadata, as (kind, key)
/// pairs in the kinds `.sops.yaml` creation rules use.
pub fn sops_metadata_keys(text: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let Ok(doc) = Document::parse(text.to_string()) else {
        return out;
    };
    let Some(sops) = doc
        .root(0)
        .and_then(Node::as_mapping)
        .and_then(|m| m.get("sops"))
        .and_then(|e| e.value.as_mapping())
    else {
        return out;
    };
    for (kind, field) in [
        ("gcp_kms", "resource_id"),
        ("kms", "arn"),
        ("age", "recipient"),
        ("pgp", "fp"),
    ] {
        let Some(list) = sops.get(kind).and_then(|e| e.value.as_sequence()) else {
            continue;
        };
        for item in &list.items {
            if let Some(k) = item
                .value
                .as_mapping()
                .and_then(|m| m.get(field))
                .and_then(|e| text_of(&e.value))
            {
                out.insert((kind.to_string(), k.to_string()));
            }
        }
    }
    out
}

/// The encrypted `content` of `rel` re-encrypted for the creation rule of `root/.sops.yaml`
/// (`sops updatekeys -y`), on a copy in a temporary directory laid out like the repository,
/// so the work tree is written only when the stage is applied, as any other change. sops
/// decrypts the data key with the operator's access to the old key; plaintext never reaches
/// a file.
pub fn sops_updatekeys(root: &std::path::Path, rel: &str, content: &str) -> Result<String, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let config = root.join(".sops.yaml");
    std::fs::copy(&config, tmp.path().join(".sops.yaml"))
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let file = tmp.path().join(rel);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&file, content).map_err(|e| format!("{}: {e}", file.display()))?;
    let out = std::process::Command::new("sops")
        .args(["updatekeys", "-y", rel])
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            format!("cannot run sops ({e}); install sops 3, or leave out --reencrypt and run the listed `sops updatekeys -y` commands")
        })?;
    if !out.status.success() {
        return Err(format!(
            "`sops updatekeys -y {rel}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_hub_files() {
        assert_eq!(
            renamed_file("staging.values.yaml", "staging", "temple"),
            "temple.values.yaml"
        );
        assert_eq!(
            renamed_file("enc-staging.secret.values.yaml", "staging", "t"),
            "enc-t.secret.values.yaml"
        );
        assert_eq!(
            renamed_file("common.values.yaml", "staging", "t"),
            "common.values.yaml"
        );
        assert_eq!(
            renamed_file("stagingx.values.yaml", "staging", "t"),
            "stagingx.values.yaml"
        );
    }

    #[test]
    fn rewrites_urls() {
        let cb = |url: &str| format!("x:\n  oauth_callback_url: {url}\n");
        assert_eq!(
            rewrite_domain(&cb("https://a.b/hub/oauth_callback"), "a.b", "c.d")
                .unwrap()
                .0,
            cb("https://c.d/hub/oauth_callback")
        );
        let other = cb("https://x.a.b/hub");
        assert_eq!(rewrite_domain(&other, "a.b", "c.d").unwrap().0, other);
    }

    #[test]
    fn rewrites_ingress_and_callback() {
        let text = "basehub:\n  jupyterhub:\n    ingress:\n      hosts: [a.b]\n      tls:\n      - hosts: [a.b]\n        secretName: x\n    hub:\n      config:\n        X:\n          oauth_callback_url: https://a.b/hub/oauth_callback # keep\n";
        let (after, notes) = rewrite_domain(text, "a.b", "n.a.b").unwrap();
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert_eq!(
            after,
            text.replace("[a.b]", "[n.a.b]")
                .replace("https://a.b", "https://n.a.b")
        );
    }
}
