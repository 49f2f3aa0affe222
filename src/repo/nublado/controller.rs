//! The nublado controller's configuration (`controller.config` of the nublado chart) as the
//! chart version in the repository reads it: the syntax of its lab volumes and the keys its
//! lab volumes, volume mounts and image settings take. The controller reads camelCase keys
//! only; an unknown key (a snake_case one, a key of another chart version's syntax, a typo) is
//! ignored or refused, silently either way in a values file.
//!
//! | syntax | nublado `appVersion` | lab volumes |
//! |---|---|---|
//! | `Legacy` | below 0.4 | `volumes` of `{containerPath, server, serverPath, mode}` (an empty `server` is a hostPath) |
//! | `Flat` | 0.4 to 3.x | `volumes` of `{containerPath, subPath, mode, source}`, `source` typed `nfs`, `hostPath` or `persistentVolumeClaim` |
//! | `Split` | 4 and later | `volumes` of `{name, source}` and `volumeMounts` of `{containerPath, subPath, readOnly, volumeName}` |
//!
//! Owns: the syntax per version and the known keys. Does not own: reading mounts
//! (`volumes.rs`) or reporting (`validate`).

use super::V3;
use crate::repo::{Phalanx, lookup};
use crate::yaml::{Document, Node};

/// Which syntax the nublado chart reads its lab volumes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Controller before 0.4: `volumes` of `{containerPath, server, serverPath, mode}`.
    Legacy,
    /// Controller 0.4 to 3.x: `volumes` of `{containerPath, subPath, mode, source}`.
    Flat,
    /// nublado 4.x and later: `volumes` of `{name, source}` and `volumeMounts` of
    /// `{containerPath, subPath, readOnly, volumeName}`.
    Split,
}

impl Syntax {
    /// The syntax of a nublado `appVersion` (`[0, 7, 1]` → `Flat`).
    pub fn for_version(version: &[u64]) -> Syntax {
        match version {
            [0, minor, ..] if *minor < 4 => Syntax::Legacy,
            [0] => Syntax::Legacy,
            [major, ..] if *major >= 4 => Syntax::Split,
            _ => Syntax::Flat,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Syntax::Legacy => {
                "nublado controller syntax before 0.4 (`volumes` with `containerPath`, `server`, `serverPath`, `mode`)"
            }
            Syntax::Flat => {
                "nublado controller 0.x syntax (`volumes` with `containerPath`, `mode`, `source`)"
            }
            Syntax::Split => {
                "nublado 4.x syntax (`volumes` with `name` and `source`, `volumeMounts`)"
            }
        }
    }

    /// The keys of one `volumes` entry.
    pub fn volume_keys(self) -> &'static [&'static str] {
        match self {
            Syntax::Legacy => &["containerPath", "server", "serverPath", "mode"],
            Syntax::Flat => &["containerPath", "subPath", "mode", "source"],
            Syntax::Split => &["name", "source"],
        }
    }

    /// The keys of one `volumeMounts` entry (4.x only).
    pub fn mount_keys(self) -> &'static [&'static str] {
        match self {
            Syntax::Split => &["containerPath", "subPath", "readOnly", "volumeName"],
            _ => &[],
        }
    }

    /// The keys of a volume `source` of a type; `None` for a type the syntax does not have.
    pub fn source_keys(self, kind: &str) -> Option<&'static [&'static str]> {
        match (self, kind) {
            (Syntax::Legacy, _) => None,
            (Syntax::Flat, "nfs") => Some(&["type", "server", "serverPath"]),
            (Syntax::Flat, "hostPath") => Some(&["type", "path"]),
            (Syntax::Flat, "persistentVolumeClaim") => {
                Some(&["type", "accessModes", "storageClassName", "resources"])
            }
            (Syntax::Split, "nfs") => Some(&["type", "server", "serverPath", "readOnly"]),
            (Syntax::Split, "hostPath") => Some(&["type", "path"]),
            (Syntax::Split, "persistentVolumeClaim") => Some(&[
                "type",
                "accessModes",
                "storageClassName",
                "resources",
                "readOnly",
            ]),
            _ => None,
        }
    }
}

/// The nublado chart's version (`appVersion` of `applications/nublado/Chart.yaml`) and the
/// syntax it reads, with a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartVersion {
    pub version: Option<Vec<u64>>,
    pub syntax: Syntax,
    /// "`applications/nublado/Chart.yaml` has appVersion 0.7.1".
    pub why: String,
}

impl ChartVersion {
    pub fn of(p: &Phalanx) -> ChartVersion {
        ChartVersion::from_version(p.app_version(V3))
    }

    pub fn from_version(version: Option<Vec<u64>>) -> ChartVersion {
        let chart = format!("applications/{V3}/Chart.yaml");
        match version {
            Some(v) => ChartVersion {
                syntax: Syntax::for_version(&v),
                why: format!("`{chart}` has appVersion {}", version_text(&v)),
                version: Some(v),
            },
            None => ChartVersion {
                version: None,
                syntax: Syntax::Flat,
                why: format!(
                    "`{chart}` has no appVersion, so the 2023 controller (0.x) is assumed"
                ),
            },
        }
    }

    /// `nublado 0.7.1`, or `the nublado chart` without a version.
    pub fn name(&self) -> String {
        match &self.version {
            Some(v) => format!("nublado {}", version_text(v)),
            None => "the nublado chart".into(),
        }
    }

    /// The keys of `controller.config.images`.
    pub fn image_keys(&self) -> &'static [&'static str] {
        const KEYS: [&str; 10] = [
            "source",
            "recommendedTag",
            "numReleases",
            "numWeeklies",
            "numDailies",
            "cycle",
            "pin",
            "aliasTags",
            "prepullTimeout",
            "refreshInterval",
        ];
        // The prepull timeout and refresh interval came after the 2023 controller.
        match self.version.as_deref() {
            None | Some([0, ..]) | Some([]) => &KEYS[..8],
            Some(_) => &KEYS,
        }
    }
}

/// The keys of an image source of a type.
pub fn image_source_keys(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "docker" => Some(&["type", "registry", "repository"]),
        "google" => Some(&["type", "location", "projectId", "repository", "image"]),
        _ => None,
    }
}

pub fn version_text(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// A key the controller does not read, where the file has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Offset of the key.
    pub offset: usize,
    pub key: String,
    /// The mapping it is in, as a PATH (`controller.config.lab.volumes[2].source`).
    pub parent: String,
    /// What to write instead, when that is known (the camelCase key, the other syntax).
    pub hint: String,
}

/// The keys of the lab volumes, volume mounts (also of init containers) and image settings of
/// a nublado values file that `chart` does not read. An NFS `path` without `serverPath` is
/// left to the `nublado-nfs-path` rule.
pub fn unknown_keys(doc: &Document, chart: &ChartVersion) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    let syntax = chart.syntax;
    let base = "controller.config.lab";
    // (PATH, the list, whether its entries are volume mounts); a list the syntax does not have
    // is itself an unknown key.
    let mut lists: Vec<(String, &Node, bool)> = Vec::new();
    if let Some(lab) = lookup(doc, base).and_then(Node::as_mapping) {
        take(base, base.to_string(), lab, chart, &mut lists, &mut out);
        for init in ["initContainers", "initcontainers"] {
            let Some(containers) = lab.get(init).and_then(|e| e.value.as_sequence()) else {
                continue;
            };
            for (i, c) in containers.items.iter().enumerate() {
                if let Some(m) = c.value.as_mapping() {
                    take(
                        base,
                        format!("{base}.{init}[{i}]"),
                        m,
                        chart,
                        &mut lists,
                        &mut out,
                    );
                }
            }
        }
    }
    for (path, list, mounts) in lists {
        let Some(seq) = list.as_sequence() else {
            continue;
        };
        for (i, item) in seq.items.iter().enumerate() {
            let Some(m) = item.value.as_mapping() else {
                continue;
            };
            let at = format!("{path}[{i}]");
            let (known, role) = if mounts {
                (syntax.mount_keys(), "volume mount")
            } else {
                (syntax.volume_keys(), "lab volume")
            };
            unknown_in(m, known, &at, role, chart, &|_| false, &mut out);
            if let Some(source) = m.get("source").and_then(|e| e.value.as_mapping()) {
                let kind = type_of(source);
                let Some(known) = syntax.source_keys(kind) else {
                    continue;
                };
                // An NFS `path` instead of `serverPath` has its own rule.
                let nfs_path = kind == "nfs" && source.get("serverPath").is_none();
                let what = format!("`{kind}` source");
                let skip = |k: &str| nfs_path && k == "path";
                unknown_in(
                    source,
                    known,
                    &format!("{at}.source"),
                    &what,
                    chart,
                    &skip,
                    &mut out,
                );
            }
        }
    }
    let images = "controller.config.images";
    if let Some(m) = lookup(doc, images).and_then(Node::as_mapping) {
        let known = chart.image_keys();
        unknown_in(
            m,
            known,
            images,
            "image setting",
            chart,
            &|_| false,
            &mut out,
        );
        if let Some(source) = m.get("source").and_then(|e| e.value.as_mapping()) {
            let kind = type_of(source);
            if let Some(known) = image_source_keys(kind) {
                let what = format!("`{kind}` image source");
                let parent = format!("{images}.source");
                unknown_in(source, known, &parent, &what, chart, &|_| false, &mut out);
            }
        }
    }
    out
}

/// The keys of `m` that are not `known` (nor skipped), as unknown keys of `parent`.
fn unknown_in(
    m: &crate::yaml::Mapping,
    known: &[&str],
    parent: &str,
    what: &str,
    chart: &ChartVersion,
    skip: &dyn Fn(&str) -> bool,
    out: &mut Vec<UnknownKey>,
) {
    for e in &m.entries {
        let Some(k) = e.key.scalar_text() else {
            continue;
        };
        if !known.contains(&k) && !skip(k) {
            out.push(UnknownKey {
                offset: e.key.span.start,
                key: k.to_string(),
                parent: parent.to_string(),
                hint: key_hint(k, known, what, chart),
            });
        }
    }
}

/// The `type` of a source mapping (`""` without one).
fn type_of(source: &crate::yaml::Mapping) -> &str {
    source
        .get("type")
        .and_then(|e| e.value.scalar_text())
        .unwrap_or("")
}

/// The lists of a lab (or of an init container) the syntax has, into `lists`; a list it does
/// not have is itself an unknown key.
fn take<'d>(
    base: &str,
    parent: String,
    m: &'d crate::yaml::Mapping,
    chart: &ChartVersion,
    lists: &mut Vec<(String, &'d Node, bool)>,
    out: &mut Vec<UnknownKey>,
) {
    let syntax = chart.syntax;
    for (key, mounts) in [("volumes", false), ("volumeMounts", true)] {
        let Some(e) = m.get(key) else { continue };
        // 4.x lab volumes are named and mounted by `volumeMounts`; an init container of 4.x
        // has only `volumeMounts`; before 4.x there are no `volumeMounts`.
        let has = match (syntax, mounts) {
            (Syntax::Split, true) => true,
            (Syntax::Split, false) => parent == base,
            (_, mounts) => !mounts,
        };
        if has {
            lists.push((format!("{parent}.{key}"), &e.value, mounts));
        } else {
            out.push(UnknownKey {
                offset: e.key.span.start,
                key: key.to_string(),
                parent: parent.clone(),
                hint: if mounts {
                    format!(
                        "`volumeMounts` belongs to the {}; {} reads the {}",
                        Syntax::Split.describe(),
                        chart.name(),
                        syntax.describe()
                    )
                } else {
                    format!(
                        "an init container of {} mounts lab volumes by name with `volumeMounts`",
                        chart.name()
                    )
                },
            });
        }
    }
}

/// What to write instead of an unknown key.
fn key_hint(key: &str, known: &[&str], what: &str, chart: &ChartVersion) -> String {
    let camel = camel_case(key);
    if camel != key && known.contains(&camel.as_str()) {
        return format!("write `{camel}`: the controller reads camelCase keys only");
    }
    if key == "readOnly" && chart.syntax != Syntax::Split {
        return format!(
            "write `mode: \"ro\"` on the volume entry: {} has no `readOnly`",
            chart.name()
        );
    }
    if key == "mode" && chart.syntax == Syntax::Split {
        return format!(
            "write `readOnly: true` (or `false`) on the volume mount: {} has no `mode`",
            chart.name()
        );
    }
    // Names of other syntaxes (Kubernetes', nublado2's) that real files used by mistake.
    const MISTAKES: [(&str, &str); 4] = [
        ("containerMount", "containerPath"),
        ("mountPath", "containerPath"),
        ("volume", "volumeName"),
        ("claimName", "storageClassName"),
    ];
    if let Some((_, right)) = MISTAKES
        .iter()
        .find(|(wrong, right)| *wrong == key && known.contains(right))
    {
        return format!(
            "did you mean `{right}`? a {what} of {} takes {}",
            chart.name(),
            list(known)
        );
    }
    for other in [Syntax::Flat, Syntax::Legacy, Syntax::Split] {
        if other != chart.syntax
            && (other.volume_keys().contains(&key) || other.mount_keys().contains(&key))
        {
            return format!(
                "`{key}` belongs to the {}; {} reads the {}",
                other.describe(),
                chart.name(),
                chart.syntax.describe()
            );
        }
    }
    match crate::util::suggest::closest(key, known.iter().copied()) {
        Some(c) => format!(
            "did you mean `{c}`? a {what} of {} takes {}",
            chart.name(),
            list(known)
        ),
        None => format!("a {what} of {} takes {}", chart.name(), list(known)),
    }
}

fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `num_releases` → `numReleases`.
pub fn camel_case(key: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in key.chars() {
        if c == '_' {
            up = !out.is_empty();
            continue;
        }
        if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(v: &[u64]) -> ChartVersion {
        ChartVersion::from_version(Some(v.to_vec()))
    }

    #[test]
    fn syntax_follows_the_app_version() {
        assert_eq!(Syntax::for_version(&[0, 3, 2]), Syntax::Legacy);
        assert_eq!(Syntax::for_version(&[0, 4, 0]), Syntax::Flat);
        assert_eq!(Syntax::for_version(&[0, 7, 1]), Syntax::Flat);
        assert_eq!(Syntax::for_version(&[3, 2, 0]), Syntax::Flat);
        assert_eq!(Syntax::for_version(&[4, 0, 0]), Syntax::Split);
        assert_eq!(Syntax::for_version(&[15, 1, 0]), Syntax::Split);
        assert_eq!(ChartVersion::from_version(None).syntax, Syntax::Flat);
    }

    #[test]
    fn camel_case_of_snake_keys() {
        assert_eq!(camel_case("num_releases"), "numReleases");
        assert_eq!(camel_case("recommended_tag"), "recommendedTag");
        assert_eq!(camel_case("source"), "source");
    }

    fn keys(text: &str, c: &ChartVersion) -> Vec<(String, String, String)> {
        let d = Document::parse(text).unwrap();
        unknown_keys(&d, c)
            .into_iter()
            .map(|u| (u.parent, u.key, u.hint))
            .collect()
    }

    #[test]
    fn snake_case_image_keys_are_unknown_with_their_camel_case() {
        let found = keys(
            "controller:
  config:
    images:
      source: {type: docker, registry: r, repository: p}
      num_releases: 0
      recommendedTag: x
",
            &chart(&[0, 7, 1]),
        );
        assert_eq!(
            found,
            [(
                "controller.config.images".into(),
                "num_releases".into(),
                "write `numReleases`: the controller reads camelCase keys only".into()
            )]
        );
    }

    #[test]
    fn each_syntax_knows_its_own_keys() {
        let legacy = "controller:
  config:
    lab:
      volumes:
        - {containerPath: /home, server: s, serverPath: /h, mode: rw}
";
        assert!(keys(legacy, &chart(&[0, 3, 0])).is_empty());
        let found = keys(legacy, &chart(&[0, 7, 1]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].2.contains("before 0.4"), "{found:?}");
        let flat = "controller:
  config:
    lab:
      volumes:
        - containerPath: /home
          containerMount: /x
          mode: ro
          source: {type: nfs, server: s, serverPath: /h, readOnly: true}
";
        let found = keys(flat, &chart(&[0, 7, 1]));
        assert_eq!(
            found.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(),
            ["containerMount", "readOnly"]
        );
        assert!(
            found[0].2.starts_with("did you mean `containerPath`?"),
            "{found:?}"
        );
        assert!(found[1].2.starts_with("write `mode: \"ro\"`"), "{found:?}");
        let split = "controller:
  config:
    lab:
      volumes:
        - {name: home, source: {type: nfs, server: s, serverPath: /h, readOnly: true}}
      volumeMounts:
        - {containerPath: /home, volumeName: home, mode: ro}
      initContainers:
        - name: i
          volumeMounts:
            - {containerMount: /x, volumeName: home}
";
        let found = keys(split, &chart(&[15, 1, 0]));
        assert_eq!(
            found
                .iter()
                .map(|f| (f.0.as_str(), f.1.as_str()))
                .collect::<Vec<_>>(),
            [
                ("controller.config.lab.volumeMounts[0]", "mode"),
                (
                    "controller.config.lab.initContainers[0].volumeMounts[0]",
                    "containerMount"
                ),
            ]
        );
        assert!(
            found[0].2.starts_with("write `readOnly: true`"),
            "{found:?}"
        );
    }

    #[test]
    fn an_nfs_path_is_left_to_its_own_rule() {
        let text = "controller:
  config:
    lab:
      volumes:
        - {containerPath: /home, source: {type: nfs, server: s, path: /h}}
";
        assert!(keys(text, &chart(&[0, 7, 1])).is_empty());
    }
}
