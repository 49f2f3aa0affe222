//! Lab volumes: every v2 lab mount has its v3 counterpart, and v3's NFS sources are written
//! the way v3 reads them.
//!
//! Owns: comparing an environment's v2 mounts with its v3 lab volumes (path, access mode,
//! source) as the chart version reads them, with a finding and a fix per difference, and v3
//! NFS sources that have v2's `path` instead of `serverPath`. Does not own: reading the volume
//! models (`repo::nublado::volumes`) or translating them (`playbook::nublado::translate`).

use crate::repo::nublado::controller::ChartVersion;
use crate::repo::nublado::volumes::{
    self, Difference, Pos, Syntax, V2Lab, V2Mount, V2Source, V2Volume, V3Lab, V3Mount,
};
use crate::repo::nublado::{V2, V3};
use crate::repo::phalanx::Environment;
use crate::repo::{Phalanx, lookup};
use crate::validate::{Finding, Severity, rule};
use crate::yaml::{Document, Node};

use super::doc_of;

/// Every v2 lab mount of an environment that runs v3 (in whatever state, `conflict` included,
/// while v2's values file is there) has a v3 lab volume at the same path, with the same access
/// mode and source, as the nublado chart's version reads its volumes. Mounts of volume types v3
/// cannot express are the translation's business, not this rule's.
pub(super) fn v3_mounts(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
    let (Some(v2_rel), Some(v3_rel)) = (p.values_file(V2, &env.name), p.values_file(V3, &env.name))
    else {
        return;
    };
    let (Some(v2_doc), Some(v3_doc)) = (doc_of(p, v2_rel), doc_of(p, v3_rel)) else {
        return;
    };
    let v2 = V2Lab::from_nublado2(v2_doc);
    let v3 = V3Lab::from_nublado(v3_doc, ChartVersion::of(p).syntax);
    let claims = volumes::template_claims(v2_doc);
    let class = |claim: &str| {
        claims
            .iter()
            .find(|c| c.name == claim)
            .and_then(|c| c.storage_class.clone())
    };
    for m in &v2.mounts {
        let Some(volume) = v2.volume(&m.name).filter(|v| v.source.has_v3_kind()) else {
            continue;
        };
        let counterpart = v3.at(&m.mount_path);
        let at = MountAt {
            env: &env.name,
            v2_rel,
            v3_rel,
            v2: &v2,
            v3: &v3,
            mount: m,
            volume,
            class: class(v2_source_claim(&volume.source)),
        };
        for d in volumes::differences(&v2, m, counterpart, class) {
            out.push(at.finding(&d, counterpart));
        }
    }
}

fn v2_source_claim(s: &V2Source) -> &str {
    match s {
        V2Source::Pvc { claim } => claim,
        _ => "",
    }
}

/// A v2 mount being compared, for the findings about it.
struct MountAt<'a> {
    env: &'a str,
    v2_rel: &'a str,
    v3_rel: &'a str,
    v2: &'a V2Lab,
    v3: &'a V3Lab,
    mount: &'a V2Mount,
    volume: &'a V2Volume,
    /// The storage class of the v2 claim, from its `user_resources_template`.
    class: Option<String>,
}

impl MountAt<'_> {
    fn path(&self) -> String {
        self.mount.container_path()
    }

    fn v2_where(&self) -> String {
        format!("`{}:{}`", self.v2_rel, self.mount.pos.line)
    }

    fn read_only(&self) -> bool {
        self.v2.read_only(self.mount)
    }

    /// The v3 source that stands for the v2 volume's, as it is written.
    fn wanted_source(&self) -> String {
        if self.v3.syntax == Syntax::Legacy {
            return match &self.volume.source {
                V2Source::Nfs { server, path } => {
                    format!("`server: \"{server}\", serverPath: \"{path}\"`")
                }
                V2Source::HostPath { path, .. } => {
                    format!("`server: \"\", serverPath: \"{path}\"` (a hostPath)")
                }
                _ => "none that the controller before 0.4 can express (it has NFS and hostPath volumes only)".into(),
            };
        }
        match &self.volume.source {
            V2Source::Nfs { server, path } => {
                format!("`{{type: \"nfs\", server: \"{server}\", serverPath: \"{path}\"}}`")
            }
            V2Source::HostPath { path, .. } => {
                format!("`{{type: \"hostPath\", path: \"{path}\"}}`")
            }
            V2Source::Pvc { claim } => match &self.class {
                Some(c) => {
                    format!("`{{type: \"persistentVolumeClaim\", storageClassName: \"{c}\", …}}`")
                }
                None => format!(
                    "`{{type: \"persistentVolumeClaim\", storageClassName: …}}` (the storage class the claim `{claim}` was created with)"
                ),
            },
            V2Source::Other { kind } => format!("`{kind}`"),
        }
    }

    fn mode_fix(&self) -> String {
        match (self.v3.syntax, self.read_only()) {
            (Syntax::Flat | Syntax::Legacy, ro) => {
                format!("set `mode: \"{}\"`", if ro { "ro" } else { "rw" })
            }
            (Syntax::Split, ro) => format!("set `readOnly: {ro}` on the `volumeMounts` entry"),
        }
    }

    fn at_pos(&self, rule_pos: Option<Pos>, m: Option<&V3Mount>) -> Pos {
        rule_pos
            .or(m.map(|m| m.pos))
            .or(self.v3.list_pos)
            .unwrap_or(Pos { line: 1, col: 1 })
    }

    fn finding(&self, d: &Difference, m: Option<&V3Mount>) -> Finding {
        let path = self.path();
        let v2_source = self.volume.source.describe();
        let v3_source = m
            .and_then(|m| m.source.as_ref())
            .map_or_else(|| "no source".to_string(), |s| s.describe());
        let (pos, message, hint) = match d {
            Difference::Lost => {
                let list = match self.v3.syntax {
                    Syntax::Flat | Syntax::Legacy => "`controller.config.lab.volumes`",
                    Syntax::Split => "`controller.config.lab.volumes` and `volumeMounts`",
                };
                (
                    self.at_pos(None, None),
                    format!(
                        "`{path}` is mounted in nublado v2 ({v2_source}) but nublado v3 has no lab volume at `{path}`: the mount is lost"
                    ),
                    format!(
                        "add a lab volume for `{path}` to {list}: {}, source {}",
                        if self.read_only() {
                            "read-only"
                        } else {
                            "read-write"
                        },
                        self.wanted_source()
                    ),
                )
            }
            Difference::ReadOnlyLost => {
                let how = match m.and_then(|m| m.mode_pos) {
                    Some(_) => "it is writable",
                    None => "no access mode is written, and the default is read-write",
                };
                let on = if self.mount.read_only {
                    "the mount"
                } else {
                    "its volume"
                };
                (
                    self.at_pos(m.and_then(|m| m.mode_pos), m),
                    format!(
                        "`{path}` is read-only in nublado v2 (readOnly on {on}) but not in nublado v3 ({how}): users can write to it"
                    ),
                    self.mode_fix(),
                )
            }
            Difference::ReadOnlyAdded => (
                self.at_pos(m.and_then(|m| m.mode_pos), m),
                format!(
                    "`{path}` is writable in nublado v2 but read-only in nublado v3: users can no longer write to it"
                ),
                format!(
                    "{}, or make it read-only in v2 too if that is intended",
                    self.mode_fix()
                ),
            ),
            Difference::SubPath => {
                let show = |s: &Option<String>| {
                    s.as_ref()
                        .map_or_else(|| "no subPath".to_string(), |s| format!("subPath `{s}`"))
                };
                (
                    self.at_pos(None, m),
                    format!(
                        "`{path}` mounts {} of its volume in nublado v2 but {} in nublado v3",
                        show(&self.mount.sub_path),
                        show(&m.and_then(|m| m.sub_path.clone()))
                    ),
                    match &self.mount.sub_path {
                        Some(s) => format!("set `subPath: \"{s}\"`"),
                        None => "remove `subPath`".into(),
                    },
                )
            }
            Difference::SourceKind => (
                self.at_pos(m.and_then(|m| m.source_pos), m),
                format!(
                    "`{path}` comes from {v2_source} in nublado v2 but from {v3_source} in nublado v3"
                ),
                format!("use the source {}", self.wanted_source()),
            ),
            Difference::SourceStorage => (
                self.at_pos(m.and_then(|m| m.source_pos), m),
                format!(
                    "`{path}` comes from {v2_source} in nublado v2 but from {v3_source} in nublado v3: users see other data, unless it was moved there"
                ),
                format!(
                    "if the storage moved on purpose, nothing to do; otherwise use the source {}",
                    self.wanted_source()
                ),
            ),
        };
        // The v2 line goes in the hint: a message must not change when v2's file shifts.
        let hint = format!("{hint} (the v2 mount: {})", self.v2_where());
        let f = Finding::at_line(
            rule::NUBLADO_V3_MOUNT,
            self.v3_rel,
            pos.line,
            pos.col,
            message,
        )
        .hint(hint)
        .scope(self.env)
        .subject(format!("{} {path} {d:?}", self.env));
        if *d == Difference::SourceStorage {
            f.severity(Severity::Warning)
        } else {
            f
        }
    }
}

/// v3 lab volumes whose NFS source has `path` (v2's key) instead of `serverPath`.
pub(super) fn nfs_paths(doc: &Document, rel: &str, env: &str, out: &mut Vec<Finding>) {
    let Some(volumes) = lookup(doc, "controller.config.lab.volumes").and_then(Node::as_sequence)
    else {
        return;
    };
    for item in &volumes.items {
        let Some(source) = item
            .value
            .as_mapping()
            .and_then(|m| m.get("source"))
            .and_then(|e| e.value.as_mapping())
        else {
            continue;
        };
        let is_nfs = source.get("type").and_then(|e| e.value.scalar_text()) == Some("nfs");
        if let Some(path) = source.get("path")
            && is_nfs
            && source.get("serverPath").is_none()
        {
            out.push(
                Finding::at(rule::NUBLADO_NFS_PATH, rel, doc, path.key.span.start, "an NFS volume source has `path`, which nublado v3 ignores; the export is not mounted")
                    .hint("rename `path` to `serverPath`")
                    .scope(env),
            );
        }
    }
}
