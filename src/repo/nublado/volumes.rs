//! The lab volumes of the two hubs as their values files write them, in one model with file
//! positions: nublado2's Kubernetes `config.volumes` joined by name to `config.volume_mounts`
//! (moneypenny's `orders.volumes` and `volumeMounts` have the same shape), and nublado v3's
//! lab volumes in either syntax of its chart (controller 0.x: one `volumes` entry per mount
//! with `containerPath`, `mode` and `source`; nublado 4.x: named `volumes` and `volumeMounts`).
//!
//! Owns: reading both sides, the PersistentVolumeClaims that nublado2's
//! `user_resources_template` creates, and the comparison of a v2 mount with its v3
//! counterpart (same path, access mode and source). Does not own: writing v3 values
//! (`playbook::nublado::translate`) or reporting findings (`validate`).

pub use super::controller::Syntax;
use super::routes::normalize;
use crate::repo::lookup;
use crate::repo::phalanx::as_bool;
use crate::yaml::{Document, Node};

/// A one-based line and column in a values file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn of(doc: &Document, offset: usize) -> Pos {
        let (line, col) = doc.lines().line_col(offset);
        Pos { line, col }
    }
}

/// Where a v2 volume's data comes from: the Kubernetes volume source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Source {
    Nfs {
        server: String,
        path: String,
    },
    HostPath {
        path: String,
        /// hostPath's `type` (`Directory`, …), which nublado v3 cannot express.
        kind: Option<String>,
    },
    Pvc {
        claim: String,
    },
    /// Another volume type (`emptyDir`, `configMap`, …), or one without its required fields.
    Other {
        kind: String,
    },
}

impl V2Source {
    pub fn describe(&self) -> String {
        match self {
            V2Source::Nfs { server, path } => format!("NFS `{server}:{path}`"),
            V2Source::HostPath { path, kind: None } => format!("hostPath `{path}`"),
            V2Source::HostPath {
                path,
                kind: Some(k),
            } => format!("hostPath `{path}` (type `{k}`)"),
            V2Source::Pvc { claim } => format!("PersistentVolumeClaim `{claim}`"),
            V2Source::Other { kind } => format!("`{kind}`"),
        }
    }

    /// Whether nublado v3's lab volumes have a source of this kind.
    pub fn has_v3_kind(&self) -> bool {
        !matches!(self, V2Source::Other { .. })
    }
}

/// One entry of a v2 `volumes` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Volume {
    /// Its PATH in the values file (`config.volumes[2]`).
    pub path: String,
    pub name: String,
    pub source: V2Source,
    /// `readOnly: true` on the source (NFS and PVC sources have it).
    pub read_only: bool,
    pub pos: Pos,
}

/// One entry of a v2 `volume_mounts` (or `volumeMounts`) list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Mount {
    /// Its PATH in the values file (`config.volume_mounts[0]`).
    pub path: String,
    pub name: String,
    /// As written (a trailing `/` included).
    pub mount_path: String,
    pub sub_path: Option<String>,
    /// `readOnly: true` on the mount.
    pub read_only: bool,
    pub pos: Pos,
}

impl V2Mount {
    /// Where labs see it, without a trailing `/`.
    pub fn container_path(&self) -> String {
        normalize(&self.mount_path)
    }
}

/// A v2 volume list and the mounts of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V2Lab {
    pub volumes: Vec<V2Volume>,
    pub mounts: Vec<V2Mount>,
}

impl V2Lab {
    /// nublado2's lab volumes: `config.volumes` and `config.volume_mounts`.
    pub fn from_nublado2(doc: &Document) -> V2Lab {
        V2Lab {
            volumes: read_volumes(doc, "config.volumes"),
            mounts: read_mounts(doc, "config.volume_mounts"),
        }
    }

    pub fn volume(&self, name: &str) -> Option<&V2Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// Whether a mount is read-only: on the mount, or on its volume's source.
    pub fn read_only(&self, m: &V2Mount) -> bool {
        m.read_only || self.volume(&m.name).is_some_and(|v| v.read_only)
    }

    /// Volumes no mount uses.
    pub fn unmounted(&self) -> impl Iterator<Item = &V2Volume> {
        self.volumes
            .iter()
            .filter(|v| !self.mounts.iter().any(|m| m.name == v.name))
    }
}

fn text(node: &Node, key: &str) -> Option<String> {
    node.as_mapping()?
        .get(key)?
        .value
        .scalar_text()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn flag(node: &Node, key: &str) -> bool {
    node.as_mapping()
        .and_then(|m| m.get(key))
        .and_then(|e| as_bool(&e.value))
        .unwrap_or(false)
}

fn mapping_at<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    let v = &node.as_mapping()?.get(key)?.value;
    v.as_mapping().map(|_| v)
}

/// The items of a sequence node (none for anything else).
pub fn items(node: Option<&Node>) -> Vec<&Node> {
    node.and_then(Node::as_sequence)
        .map(|s| s.items.iter().map(|i| &i.value).collect())
        .unwrap_or_default()
}

/// Kubernetes volumes (`- name: …` with one source key each) of the list at PATH `list`.
pub fn read_volumes(doc: &Document, list: &str) -> Vec<V2Volume> {
    items(lookup(doc, list))
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let name = text(v, "name")?;
            let (source, read_only) = v2_source(v);
            Some(V2Volume {
                path: format!("{list}[{i}]"),
                name,
                source,
                read_only,
                pos: Pos::of(doc, v.span.start),
            })
        })
        .collect()
}

fn v2_source(v: &Node) -> (V2Source, bool) {
    if let Some(nfs) = mapping_at(v, "nfs") {
        let ro = flag(nfs, "readOnly");
        return match (text(nfs, "server"), text(nfs, "path")) {
            (Some(server), Some(path)) => (V2Source::Nfs { server, path }, ro),
            _ => (
                V2Source::Other {
                    kind: "nfs without `server` or `path`".into(),
                },
                ro,
            ),
        };
    }
    if let Some(hp) = mapping_at(v, "hostPath") {
        return match text(hp, "path") {
            Some(path) => (
                V2Source::HostPath {
                    path,
                    kind: text(hp, "type"),
                },
                false,
            ),
            None => (
                V2Source::Other {
                    kind: "hostPath without `path`".into(),
                },
                false,
            ),
        };
    }
    if let Some(pvc) = mapping_at(v, "persistentVolumeClaim") {
        let ro = flag(pvc, "readOnly");
        return match text(pvc, "claimName") {
            Some(claim) => (V2Source::Pvc { claim }, ro),
            None => (
                V2Source::Other {
                    kind: "persistentVolumeClaim without `claimName`".into(),
                },
                ro,
            ),
        };
    }
    let kind = v
        .as_mapping()
        .and_then(|m| {
            m.entries
                .iter()
                .filter_map(|e| e.key.scalar_text())
                .find(|k| *k != "name")
        })
        .unwrap_or("no source")
        .to_string();
    (V2Source::Other { kind }, false)
}

/// Kubernetes volume mounts (`- name: …` with `mountPath`) of the list at PATH `list`.
pub fn read_mounts(doc: &Document, list: &str) -> Vec<V2Mount> {
    items(lookup(doc, list))
        .into_iter()
        .enumerate()
        .filter_map(|(i, m)| {
            Some(V2Mount {
                path: format!("{list}[{i}]"),
                name: text(m, "name")?,
                mount_path: text(m, "mountPath")?,
                sub_path: text(m, "subPath"),
                read_only: flag(m, "readOnly"),
                pos: Pos::of(doc, m.span.start),
            })
        })
        .collect()
}

/// A PersistentVolumeClaim that nublado2's `user_resources_template` creates in each lab's
/// namespace: what a v2 `claimName` stood for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateClaim {
    pub name: String,
    pub storage_class: Option<String>,
    pub access_modes: Vec<String>,
    pub size: Option<String>,
    /// The line of the claim in the values file.
    pub line: usize,
}

/// The claims of nublado2's `config.user_resources_template`, a block of YAML (with Jinja
/// inside quoted strings and nested blocks) listing Kubernetes objects. Empty when the
/// template is absent or cannot be read as YAML.
pub fn template_claims(doc: &Document) -> Vec<TemplateClaim> {
    let Some(node) = lookup(doc, "config.user_resources_template") else {
        return Vec::new();
    };
    let Some(template) = node.scalar_text() else {
        return Vec::new();
    };
    let Ok(inner) = Document::parse(template) else {
        return Vec::new();
    };
    // The block's content starts on the line after its `|` indicator.
    let first = doc.line_of(node.span.start);
    items(inner.root(0))
        .into_iter()
        .filter(|o| text(o, "kind").as_deref() == Some("PersistentVolumeClaim"))
        .filter_map(|o| {
            let name = mapping_at(o, "metadata").and_then(|m| text(m, "name"))?;
            let spec = mapping_at(o, "spec");
            let access_modes = spec
                .and_then(|s| s.as_mapping()?.get("accessModes"))
                .map(|e| {
                    items(Some(&e.value))
                        .into_iter()
                        .filter_map(|n| n.scalar_text().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let size = spec
                .and_then(|s| mapping_at(s, "resources"))
                .and_then(|r| mapping_at(r, "requests"))
                .and_then(|r| text(r, "storage"));
            Some(TemplateClaim {
                name,
                storage_class: spec.and_then(|s| text(s, "storageClassName")),
                access_modes,
                size,
                line: first + inner.line_of(o.span.start),
            })
        })
        .collect()
}

/// A nublado v3 lab volume source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V3Source {
    Nfs {
        server: Option<String>,
        /// `serverPath`, or `path` (a known mistake: v3 ignores it).
        path: Option<String>,
    },
    HostPath {
        path: Option<String>,
    },
    Pvc {
        storage_class: Option<String>,
    },
    Other {
        kind: String,
    },
}

impl V3Source {
    fn read(source: &Node) -> V3Source {
        match text(source, "type").unwrap_or_default().as_str() {
            "nfs" => V3Source::Nfs {
                server: text(source, "server"),
                path: text(source, "serverPath").or_else(|| text(source, "path")),
            },
            "hostPath" => V3Source::HostPath {
                path: text(source, "path"),
            },
            "persistentVolumeClaim" => V3Source::Pvc {
                storage_class: text(source, "storageClassName"),
            },
            other => V3Source::Other {
                kind: if other.is_empty() {
                    "no `type`".into()
                } else {
                    other.to_string()
                },
            },
        }
    }

    pub fn describe(&self) -> String {
        let or_q = |s: &Option<String>| s.clone().unwrap_or_else(|| "?".into());
        match self {
            V3Source::Nfs { server, path } => format!("NFS `{}:{}`", or_q(server), or_q(path)),
            V3Source::HostPath { path } => format!("hostPath `{}`", or_q(path)),
            V3Source::Pvc { storage_class } => {
                format!("a PVC of storage class `{}`", or_q(storage_class))
            }
            V3Source::Other { kind } => format!("a source of type `{kind}`"),
        }
    }
}

/// One nublado v3 lab mount, in either syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Mount {
    /// Without a trailing `/`.
    pub container_path: String,
    pub sub_path: Option<String>,
    pub read_only: bool,
    /// `None` when the entry (or the 4.x volume it names) has no `source` mapping.
    pub source: Option<V3Source>,
    /// The entry (its first key).
    pub pos: Pos,
    /// The value of `mode` (0.x) or `readOnly` (4.x), when written.
    pub mode_pos: Option<Pos>,
    /// The `source` key (0.x) or the `volumeName` value (4.x), when written.
    pub source_pos: Option<Pos>,
}

/// nublado v3's lab mounts of one values file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Lab {
    pub syntax: Syntax,
    pub mounts: Vec<V3Mount>,
    /// The `volumes` (0.x) or `volumeMounts` (4.x) key, when the file has one.
    pub list_pos: Option<Pos>,
}

impl V3Lab {
    /// The lab mounts of a nublado values file (`controller.config.lab`), read in the syntax
    /// of the chart version (`controller::ChartVersion`): what that version mounts, whatever
    /// the file looks like (entries of another syntax have no source for it).
    pub fn from_nublado(doc: &Document, syntax: Syntax) -> V3Lab {
        let lab = lookup(doc, "controller.config.lab").and_then(Node::as_mapping);
        let entry = |k: &str| lab.and_then(|m| m.get(k));
        let volumes = entry("volumes");
        let list_pos = |e: Option<&crate::yaml::Entry>| e.map(|e| Pos::of(doc, e.key.span.start));
        match syntax {
            Syntax::Split => V3Lab {
                syntax,
                mounts: entry("volumeMounts")
                    .map(|m| split_mounts(doc, &m.value, volumes.map(|e| &e.value)))
                    .unwrap_or_default(),
                list_pos: list_pos(entry("volumeMounts").or(volumes)),
            },
            Syntax::Flat | Syntax::Legacy => V3Lab {
                syntax,
                mounts: flat_mounts(doc, volumes.map(|e| &e.value), syntax),
                list_pos: list_pos(volumes),
            },
        }
    }

    /// The mount at a container path (trailing `/` ignored).
    pub fn at(&self, container_path: &str) -> Option<&V3Mount> {
        let want = normalize(container_path);
        self.mounts.iter().find(|m| m.container_path == want)
    }
}

fn value_pos(doc: &Document, node: &Node, key: &str) -> Option<Pos> {
    let e = node.as_mapping()?.get(key)?;
    Some(Pos::of(doc, e.value.span.start))
}

fn key_pos(doc: &Document, node: &Node, key: &str) -> Option<Pos> {
    let e = node.as_mapping()?.get(key)?;
    Some(Pos::of(doc, e.key.span.start))
}

/// One entry per mount: the 0.x syntax (`source`) or the one before 0.4 (`server` and
/// `serverPath` beside `containerPath`; an empty `server` is a hostPath).
fn flat_mounts(doc: &Document, volumes: Option<&Node>, syntax: Syntax) -> Vec<V3Mount> {
    items(volumes)
        .into_iter()
        .map(|v| {
            let (source, source_pos) = match syntax {
                Syntax::Legacy => (
                    legacy_source(v),
                    key_pos(doc, v, "server").or_else(|| key_pos(doc, v, "serverPath")),
                ),
                _ => (
                    mapping_at(v, "source").map(V3Source::read),
                    key_pos(doc, v, "source"),
                ),
            };
            V3Mount {
                container_path: normalize(&text(v, "containerPath").unwrap_or_default()),
                sub_path: (syntax != Syntax::Legacy)
                    .then(|| text(v, "subPath"))
                    .flatten(),
                read_only: text(v, "mode").as_deref() == Some("ro"),
                source,
                pos: Pos::of(doc, v.span.start),
                mode_pos: value_pos(doc, v, "mode"),
                source_pos,
            }
        })
        .collect()
}

/// The source of an entry before 0.4: NFS from `server` and `serverPath`, a hostPath at
/// `serverPath` when `server` is empty.
fn legacy_source(v: &Node) -> Option<V3Source> {
    let m = v.as_mapping()?;
    let server = m.get("server").and_then(|e| e.value.scalar_text());
    let path = text(v, "serverPath");
    match server {
        Some("") => Some(V3Source::HostPath { path }),
        Some(s) => Some(V3Source::Nfs {
            server: Some(s.to_string()),
            path,
        }),
        None if path.is_some() => Some(V3Source::HostPath { path }),
        None => None,
    }
}

fn split_mounts(doc: &Document, mounts: &Node, volumes: Option<&Node>) -> Vec<V3Mount> {
    let volumes = items(volumes);
    items(Some(mounts))
        .into_iter()
        .map(|m| {
            let name = text(m, "volumeName");
            let volume = volumes
                .iter()
                .find(|v| name.is_some() && text(v, "name") == name);
            let source = volume.and_then(|v| mapping_at(v, "source"));
            V3Mount {
                container_path: normalize(&text(m, "containerPath").unwrap_or_default()),
                sub_path: text(m, "subPath"),
                read_only: flag(m, "readOnly") || source.is_some_and(|s| flag(s, "readOnly")),
                source: source.map(V3Source::read),
                pos: Pos::of(doc, m.span.start),
                mode_pos: value_pos(doc, m, "readOnly"),
                source_pos: value_pos(doc, m, "volumeName"),
            }
        })
        .collect()
}

/// How a v3 mount differs from the v2 mount it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// No v3 mount at the path.
    Lost,
    /// Read-only in v2, writable in v3.
    ReadOnlyLost,
    /// Writable in v2, read-only in v3.
    ReadOnlyAdded,
    SubPath,
    /// Another kind of source (or none).
    SourceKind,
    /// The same kind of source, other storage (server, path or storage class): possibly a
    /// deliberate move.
    SourceStorage,
}

/// The differences between a v2 mount and its v3 counterpart. `claim_class` is the storage
/// class a v2 PVC claim was created with, when known.
pub fn differences(
    v2: &V2Lab,
    mount: &V2Mount,
    v3: Option<&V3Mount>,
    claim_class: impl Fn(&str) -> Option<String>,
) -> Vec<Difference> {
    let Some(v3) = v3 else {
        return vec![Difference::Lost];
    };
    let Some(volume) = v2.volume(&mount.name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if mount.sub_path != v3.sub_path {
        out.push(Difference::SubPath);
    }
    match source_match(&volume.source, v3.source.as_ref(), claim_class) {
        SourceMatch::Same => {}
        SourceMatch::OtherStorage => out.push(Difference::SourceStorage),
        SourceMatch::OtherKind => out.push(Difference::SourceKind),
    }
    match (v2.read_only(mount), v3.read_only) {
        (true, false) => out.push(Difference::ReadOnlyLost),
        (false, true) => out.push(Difference::ReadOnlyAdded),
        _ => {}
    }
    out
}

enum SourceMatch {
    Same,
    OtherStorage,
    OtherKind,
}

fn source_match(
    v2: &V2Source,
    v3: Option<&V3Source>,
    claim_class: impl Fn(&str) -> Option<String>,
) -> SourceMatch {
    let same = |yes: bool| {
        if yes {
            SourceMatch::Same
        } else {
            SourceMatch::OtherStorage
        }
    };
    match (v2, v3) {
        (V2Source::Nfs { server, path }, Some(V3Source::Nfs { server: s, path: p })) => same(
            s.as_deref() == Some(server) && p.as_deref().map(normalize) == Some(normalize(path)),
        ),
        (V2Source::HostPath { path, .. }, Some(V3Source::HostPath { path: p })) => {
            same(p.as_deref().map(normalize) == Some(normalize(path)))
        }
        (V2Source::Pvc { claim }, Some(V3Source::Pvc { storage_class })) => {
            same(match (claim_class(claim), storage_class) {
                (Some(want), Some(got)) => &want == got,
                _ => true,
            })
        }
        _ => SourceMatch::OtherKind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document::parse(text).unwrap()
    }

    #[test]
    fn v2_volumes_join_their_mounts() {
        let d = doc("config:
  volumes:
    - name: home
      nfs: {path: /share1/home, server: 10.0.0.1}
    - name: data
      nfs:
        path: /data
        server: 10.0.0.1
        readOnly: true
    - name: tmp
      emptyDir: {}
  volume_mounts:
    - {name: home, mountPath: /home/}
    - name: data
      mountPath: /data
      subPath: d
");
        let lab = V2Lab::from_nublado2(&d);
        assert_eq!(lab.volumes.len(), 3);
        assert_eq!(
            lab.volumes[2].source,
            V2Source::Other {
                kind: "emptyDir".into()
            }
        );
        assert_eq!(lab.mounts[0].container_path(), "/home");
        assert_eq!(lab.mounts[1].pos, Pos { line: 14, col: 7 });
        assert!(lab.read_only(&lab.mounts[1]));
        assert!(!lab.read_only(&lab.mounts[0]));
        let unmounted: Vec<&str> = lab.unmounted().map(|v| v.name.as_str()).collect();
        assert_eq!(unmounted, ["tmp"]);
    }

    #[test]
    fn v3_mounts_in_both_syntaxes() {
        let flat = doc("controller:
  config:
    lab:
      volumes:
        - containerPath: \"/home\"
          source: {type: nfs, server: s, path: /h}
");
        let lab = V3Lab::from_nublado(&flat, Syntax::Flat);
        assert_eq!(lab.syntax, Syntax::Flat);
        let m = lab.at("/home/").unwrap();
        assert!(!m.read_only, "no mode means rw");
        assert_eq!(m.mode_pos, None);
        assert_eq!(
            m.source,
            Some(V3Source::Nfs {
                server: Some("s".into()),
                path: Some("/h".into())
            })
        );
        let split = doc("controller:
  config:
    lab:
      volumes:
        - name: home
          source: {type: hostPath, path: /h}
      volumeMounts:
        - containerPath: /home
          volumeName: home
          readOnly: true
");
        let lab = V3Lab::from_nublado(&split, Syntax::Split);
        assert_eq!(lab.syntax, Syntax::Split);
        assert_eq!(lab.list_pos, Some(Pos { line: 7, col: 7 }));
        let m = lab.at("/home").unwrap();
        assert!(m.read_only);
        assert_eq!(m.mode_pos, Some(Pos { line: 10, col: 21 }));
        assert_eq!(
            m.source,
            Some(V3Source::HostPath {
                path: Some("/h".into())
            })
        );
    }

    #[test]
    fn claims_of_the_user_resources_template() {
        let d = doc("config:
  user_resources_template: |
    - apiVersion: v1
      kind: Namespace
      metadata:
        name: \"{{ user_namespace }}\"
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
        name: sdf-home
      spec:
        storageClassName: sdf-home
        accessModes:
          - ReadWriteMany
        resources:
          requests:
            storage: 1Gi
");
        let claims = template_claims(&d);
        assert_eq!(
            claims,
            [TemplateClaim {
                name: "sdf-home".into(),
                storage_class: Some("sdf-home".into()),
                access_modes: vec!["ReadWriteMany".into()],
                size: Some("1Gi".into()),
                line: 7,
            }]
        );
    }

    #[test]
    fn differences_name_what_changed() {
        let v2 = V2Lab::from_nublado2(&doc("config:
  volumes:
    - name: a
      nfs: {path: /a, server: s, readOnly: true}
  volume_mounts:
    - {name: a, mountPath: /a, subPath: x}
"));
        let m = &v2.mounts[0];
        let none = |_: &str| None;
        assert_eq!(differences(&v2, m, None, none), [Difference::Lost]);
        let v3 = V3Lab::from_nublado(
            &doc("controller:
  config:
    lab:
      volumes:
        - {containerPath: /a, subPath: x, mode: ro, source: {type: nfs, server: s, serverPath: /a/}}
        - {containerPath: /b, source: {type: hostPath, path: /a}}
        - {containerPath: /c, subPath: y, mode: rw, source: {type: nfs, server: t, serverPath: /a}}
"),
            Syntax::Flat,
        );
        assert_eq!(differences(&v2, m, v3.at("/a"), none), []);
        assert_eq!(
            differences(&v2, m, v3.at("/b"), none),
            [
                Difference::SubPath,
                Difference::SourceKind,
                Difference::ReadOnlyLost
            ]
        );
        assert_eq!(
            differences(&v2, m, v3.at("/c"), none),
            [
                Difference::SubPath,
                Difference::SourceStorage,
                Difference::ReadOnlyLost
            ]
        );
    }
}
