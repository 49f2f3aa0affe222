//! The v2 lab volumes and mounts (and the lab environment) translated into v3 lab volumes:
//! one entry per mount, PVC volumes waiting for the operator's answers, and each v2 setting
//! claimed or listed as it is met.
//!
//! Does not own: the final account of every leaf (`accounts`) or the v3 YAML (`values`).

use super::{
    Answers, DEFAULT_ACCESS_MODE, DEFAULT_SIZE, File, LabVolume, MountRow, Source, Translation,
    Untranslated, Written, hub,
};
use crate::playbook::ledger::{Claims, Fate, Target};
use crate::playbook::nublado::volumes::{
    Syntax, TemplateClaim, V2Lab, V2Mount, V2Source, V2Volume, template_claims,
};
use crate::repo::lookup;
use crate::yaml::Node;
use crate::yaml::{Path as YamlPath, Segment};

/// The outcome of one mount.
pub(super) struct Mounted {
    pub(super) volume: Option<LabVolume>,
    pub(super) notes: Vec<String>,
    /// Not written, and already listed for the operator.
    pub(super) listed: bool,
}

/// A v2 PVC volume waiting for the operator's storage class, with its mounts.
pub(super) struct Pending<'a> {
    volume: &'a V2Volume,
    claim: String,
    paths: Vec<String>,
    /// The mounts' PATHs in the values file.
    mounts: Vec<String>,
}

impl Translation {
    /// Lists something for the operator, about the settings at the PATHs `at` of `f` (their
    /// leaves are then accounted as for the operator).
    pub(super) fn item(
        &mut self,
        f: File<'_>,
        at: &[&str],
        line: usize,
        what: String,
        decide: impl Into<String>,
    ) {
        let item = Untranslated {
            file: f.rel.to_string(),
            line: Some(line),
            what,
            decide: decide.into(),
        };
        for path in at {
            self.claim(f.rel, path, Fate::operator(item.clone()));
        }
        self.untranslated.push(item);
    }

    /// What became of the setting at PATH `path` of `file` (and everything below it). A
    /// setting listed for the operator stays listed, whatever is claimed of it afterwards.
    pub(super) fn claim(&mut self, file: &str, path: &str, fate: Fate) {
        match self.accounts.iter_mut().find(|c| c.file == file) {
            Some(c) => {
                let listed = matches!(c.fate(path), Some(Fate::Operator { .. }));
                if !listed || matches!(fate, Fate::Operator { .. }) {
                    c.claim(path, fate);
                }
            }
            None => {
                let mut c = Claims::new(file);
                c.claim(path, fate);
                self.accounts.push(c);
            }
        }
    }

    /// A target in the v3 values file.
    pub(super) fn target(&self, path: String, value: Option<String>) -> Target {
        Target {
            file: self.target.clone(),
            path,
            value,
        }
    }

    /// nublado2's lab volumes, one v3 entry per mount.
    pub(super) fn lab_volumes(&mut self, f: File<'_>, answers: &Answers) {
        let lab = V2Lab::from_nublado2(f.doc);
        let claims = template_claims(f.doc);
        let mut pending: Vec<Pending<'_>> = Vec::new();
        for m in &lab.mounts {
            let volume = lab.volume(&m.name);
            let out = self.mount(f, &lab, m, answers, &claims);
            let row_v3 = match &out.volume {
                Some(v) => v.describe(),
                None => "not written".into(),
            };
            self.rows.push(MountRow {
                v2_mount: describe_mount(m),
                v2_volume: volume
                    .map_or_else(|| format!("no volume `{}`", m.name), describe_volume),
                v3: row_v3,
                note: out.notes.join("; "),
            });
            match (out.volume, volume) {
                (Some(v), Some(vol)) => {
                    self.written.push(Written {
                        file: f.rel.to_string(),
                        mount: m.clone(),
                        volume: vol.clone(),
                        index: self.volumes.len(),
                        init: None,
                    });
                    self.volumes.push(v);
                }
                (Some(v), None) => self.volumes.push(v),
                (None, _) if out.listed => {}
                (None, volume) => self.unwritten(f, m, volume, &mut pending),
            }
        }
        for p in pending {
            self.pvc_item(f, &p, &claims);
        }
        for v in lab.unmounted() {
            self.rows.push(MountRow {
                v2_mount: "not mounted".into(),
                v2_volume: describe_volume(v),
                v3: "not written".into(),
                note: "no `volume_mounts` entry uses it".into(),
            });
            self.item(
                f,
                &[&v.path],
                v.pos.line,
                format!("the volume `{}` ({}) is not mounted by any `volume_mounts` entry", v.name, v.source.describe()),
                "it was not carried over: add a v3 lab volume if labs should see it, or delete it from the v2 values",
            );
        }
    }

    /// A mount that could not be written: a PVC waits for its answer (one question per
    /// volume, naming all its mounts); any other reason is listed at the mount.
    pub(super) fn unwritten<'l>(
        &mut self,
        f: File<'_>,
        m: &V2Mount,
        volume: Option<&'l V2Volume>,
        pending: &mut Vec<Pending<'l>>,
    ) {
        match volume.map(|v| (v, &v.source)) {
            Some((vol, V2Source::Pvc { claim })) => {
                match pending.iter_mut().find(|p| p.volume.name == vol.name) {
                    Some(p) => {
                        p.paths.push(m.container_path());
                        p.mounts.push(m.path.clone());
                    }
                    None => pending.push(Pending {
                        volume: vol,
                        claim: claim.clone(),
                        paths: vec![m.container_path()],
                        mounts: vec![m.path.clone()],
                    }),
                }
            }
            Some((vol, V2Source::Other { kind })) => self.item(
                f,
                &[&m.path, &vol.path],
                m.pos.line,
                format!("`{}` mounts the volume `{}` of type {kind}", m.mount_path, vol.name),
                "nublado v3 lab volumes are NFS, hostPath or PersistentVolumeClaim only: provide the data another way (for files, `controller.config.lab.files`) or leave the mount out",
            ),
            Some(_) => {}
            None => self.item(
                f,
                &[&m.path],
                m.pos.line,
                format!("`{}` mounts `{}`, which `config.volumes` does not define", m.mount_path, m.name),
                "nublado v2 could not have mounted it either: define the volume's source in v3 or leave the mount out",
            ),
        }
    }

    /// One v2 mount translated, or why not.
    pub(super) fn mount(
        &mut self,
        f: File<'_>,
        lab: &V2Lab,
        m: &V2Mount,
        answers: &Answers,
        claims: &[TemplateClaim],
    ) -> Mounted {
        let mut notes = Vec::new();
        let Some(vol) = lab.volume(&m.name) else {
            notes.push(format!("`config.volumes` has no `{}`", m.name));
            return Mounted {
                volume: None,
                notes,
                listed: false,
            };
        };
        if self.syntax == Syntax::Legacy
            && let Some(why) = legacy_limit(m, vol)
        {
            notes.push(why.clone());
            self.item(
                f,
                &[&m.path],
                m.pos.line,
                format!("`{}` {why}", m.mount_path),
                "upgrade the nublado chart to 0.4 or later (the `source:` syntax), or provide the data another way; until then the mount is not written",
            );
            return Mounted {
                volume: None,
                notes,
                listed: true,
            };
        }
        let container_path = m.container_path();
        if container_path != m.mount_path {
            notes.push("trailing `/` dropped".into());
        }
        if m.read_only {
            notes.push("read-only on the mount".into());
        }
        if vol.read_only {
            notes.push("read-only on the volume".into());
        }
        let source = match &vol.source {
            V2Source::Nfs { server, path } => {
                notes.push("NFS `path` → `serverPath`".into());
                Some(Source::Nfs {
                    server: server.clone(),
                    server_path: path.clone(),
                })
            }
            V2Source::HostPath { path, kind } => {
                if let Some(k) = kind {
                    notes.push(format!("hostPath `type: {k}` has no v3 equivalent"));
                    self.host_path_type(f, vol, path, k);
                }
                Some(Source::HostPath { path: path.clone() })
            }
            V2Source::Pvc { claim } => {
                if !self.claims.iter().any(|(v, _)| v == &vol.name) {
                    self.claims.push((vol.name.clone(), claim.clone()));
                }
                pvc_source(vol, claim, answers, claims, &mut notes)
            }
            V2Source::Other { kind } => {
                notes.push(format!("{kind} has no v3 equivalent"));
                None
            }
        };
        Mounted {
            volume: source.map(|source| LabVolume {
                name: vol.name.clone(),
                container_path,
                sub_path: m.sub_path.clone(),
                read_only: lab.read_only(m),
                source,
            }),
            notes,
            listed: false,
        }
    }

    /// A hostPath `type` (reported once per volume).
    pub(super) fn host_path_type(&mut self, f: File<'_>, vol: &V2Volume, path: &str, kind: &str) {
        let what = format!(
            "the hostPath volume `{}` has `type: {kind}`, which nublado v3 cannot express",
            vol.name
        );
        if self
            .untranslated
            .iter()
            .any(|u| u.file == f.rel && u.what == what)
        {
            return;
        }
        let at = format!("{}.hostPath.type", vol.path);
        self.item(
            f,
            &[&at],
            vol.pos.line,
            what,
            format!("v3 mounts `{path}` without that check: make sure it exists (as a {kind}) on every node that runs labs"),
        );
    }

    /// The question for a PVC volume without a storage class, with the v2 template's claim as
    /// a suggestion when it creates one.
    pub(super) fn pvc_item(&mut self, f: File<'_>, p: &Pending<'_>, claims: &[TemplateClaim]) {
        let name = &p.volume.name;
        let paths = p
            .paths
            .iter()
            .map(|x| format!("`{x}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut decide = format!(
            "nublado v3 creates a claim for each lab from a storage class: name it with `--pvc-storage-class {name}=CLASS` (access modes and size: `--pvc-access-modes`, `--pvc-size`, else the v2 template's claim, else {DEFAULT_ACCESS_MODE} and {DEFAULT_SIZE}); until then the mount is not written"
        );
        if let Some(c) = claims.iter().find(|c| c.name == p.claim) {
            let modes = if c.access_modes.is_empty() {
                String::new()
            } else {
                format!(", {}", c.access_modes.join(", "))
            };
            let size = c
                .size
                .as_ref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default();
            if let Some(class) = &c.storage_class {
                decide.push_str(&format!(
                    "; the v2 `user_resources_template` (line {}) creates this claim with storage class `{class}`{modes}{size}: `--pvc-storage-class {name}={class}`",
                    c.line
                ));
            }
        }
        let mut at: Vec<&str> = vec![p.volume.path.as_str()];
        at.extend(p.mounts.iter().map(String::as_str));
        self.item(
            f,
            &at,
            p.volume.pos.line,
            format!(
                "{paths} mount{} the PersistentVolumeClaim `{}` (volume `{name}`)",
                if p.paths.len() == 1 { "s" } else { "" },
                p.claim
            ),
            decide,
        );
    }

    /// nublado2's `config.lab_environment`, without Jinja-valued variables; values naming v2
    /// rewritten.
    pub(super) fn lab_env(&mut self, f: File<'_>) {
        let Some(env) = lookup(f.doc, "config.lab_environment").and_then(Node::as_mapping) else {
            return;
        };
        for e in &env.entries {
            let Some(key) = e.key.scalar_text() else {
                continue;
            };
            let at = YamlPath(vec![
                Segment::Key("config".into()),
                Segment::Key("lab_environment".into()),
                Segment::Key(key.into()),
            ])
            .to_string();
            let line = f.doc.line_of(e.key.span.start);
            match e.value.scalar_text() {
                Some(v) if is_jinja(v) => self.item(
                    f,
                    &[&at],
                    line,
                    format!("the lab variable `{key}` is a Jinja template (`{v}`), which nublado v2 expanded for each user and v3 copies verbatim"),
                    "it was dropped: set it another way, or leave it out",
                ),
                Some(v) => match rewrite_v2_names(v) {
                    Ok((value, how)) => {
                        let to = self.target(
                            YamlPath(vec![
                                Segment::Key("controller".into()),
                                Segment::Key("config".into()),
                                Segment::Key("lab".into()),
                                Segment::Key("env".into()),
                                Segment::Key(key.into()),
                            ])
                            .to_string(),
                            Some(value.clone()),
                        );
                        self.claim(
                            f.rel,
                            &at,
                            Fate::Translated {
                                to,
                                note: (!how.is_empty()).then(|| how.join("; ")),
                            },
                        );
                        self.env.push((key.to_string(), value));
                    }
                    Err(left) => self.item(
                        f,
                        &[&at],
                        line,
                        format!("the lab variable `{key}` names nublado v2 (`{left}`)"),
                        "no nublado v3 equivalent is known: write v3's value in `controller.config.lab.env` by hand",
                    ),
                },
                None => self.item(
                    f,
                    &[&at],
                    line,
                    format!("the lab variable `{key}` is a {}, not a string", e.value.kind_name()),
                    "it was dropped: write its value as a string in `controller.config.lab.env`",
                ),
            }
        }
    }
}

/// `list[key=value]` as a PATH, quoted as needed.
pub(super) fn selected(list: &str, key: &str, value: &str) -> String {
    format!(
        "{list}{}",
        Segment::Select {
            key: key.into(),
            value: value.into(),
        }
    )
}

/// A value of v2's with v3's names: `hub.nublado2` (v2's hub service) → `hub.nublado`,
/// `nublado2-` (v2's lab namespaces) → `nublado-`, v2's secret mount → v3's. Returns the
/// value and what was rewritten, or the part still naming v2 when there is no known
/// equivalent.
pub fn rewrite_v2_names(value: &str) -> Result<(String, Vec<String>), String> {
    const REWRITES: [(&str, &str); 3] = [
        ("hub.nublado2", "hub.nublado"),
        (hub::V2_SECRET_MOUNT, hub::V3_SECRET_MOUNT),
        ("nublado2-", "nublado-"),
    ];
    let mut out = value.to_string();
    let mut how = Vec::new();
    for (old, new) in REWRITES {
        if out.contains(old) {
            out = out.replace(old, new);
            how.push(format!("`{old}` rewritten `{new}`"));
        }
    }
    if crate::util::text::contains_word(&out, "nublado2") {
        return Err(value.to_string());
    }
    Ok((out, how))
}

/// Why the controller before 0.4 cannot mount a v2 mount, if it cannot: it has NFS and
/// hostPath volumes only, without subPath.
pub(super) fn legacy_limit(m: &V2Mount, vol: &V2Volume) -> Option<String> {
    match (&vol.source, &m.sub_path) {
        (V2Source::Pvc { claim }, _) => Some(format!(
            "mounts the PersistentVolumeClaim `{claim}`, and the controller before 0.4 has NFS and hostPath volumes only"
        )),
        (V2Source::Nfs { .. } | V2Source::HostPath { .. }, Some(sub)) => Some(format!(
            "mounts the subPath `{sub}`, which the controller before 0.4 cannot"
        )),
        _ => None,
    }
}

/// A PVC source from the operator's answers: the storage class must be given; access
/// modes and size come from the answers, else from the claim in the v2 template, else
/// the defaults.
pub(super) fn pvc_source(
    vol: &V2Volume,
    claim: &str,
    answers: &Answers,
    claims: &[TemplateClaim],
    notes: &mut Vec<String>,
) -> Option<Source> {
    let Some(class) = Answers::get(&answers.storage_class, &vol.name, claim) else {
        notes.push(format!("claim `{claim}` needs a storage class"));
        return None;
    };
    let template = claims.iter().find(|c| c.name == claim);
    let (access_modes, modes_from) = match Answers::get(&answers.access_modes, &vol.name, claim) {
        Some(m) => (m.clone(), "--pvc-access-modes"),
        None => match template.filter(|c| !c.access_modes.is_empty()) {
            Some(c) => (c.access_modes.clone(), "the v2 template"),
            None => (vec![DEFAULT_ACCESS_MODE.to_string()], "default"),
        },
    };
    let (size, size_from) = match Answers::get(&answers.size, &vol.name, claim) {
        Some(s) => (s.clone(), "--pvc-size"),
        None => match template.and_then(|c| c.size.clone()) {
            Some(s) => (s, "the v2 template"),
            None => (DEFAULT_SIZE.to_string(), "default"),
        },
    };
    notes.push(format!(
        "claim `{claim}`: storage class from --pvc-storage-class, access modes from {modes_from}, size from {size_from}"
    ));
    Some(Source::Pvc {
        storage_class: class.clone(),
        access_modes,
        size,
    })
}

pub(super) fn is_jinja(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

pub(super) fn describe_mount(m: &V2Mount) -> String {
    let sub = m
        .sub_path
        .as_ref()
        .map(|s| format!(" subPath `{s}`"))
        .unwrap_or_default();
    let ro = if m.read_only { " readOnly" } else { "" };
    format!("`{}`{sub}{ro} (line {})", m.mount_path, m.pos.line)
}

pub(super) fn describe_volume(v: &V2Volume) -> String {
    let ro = if v.read_only { " readOnly" } else { "" };
    format!(
        "`{}`: {}{ro} (line {})",
        v.name,
        v.source.describe(),
        v.pos.line
    )
}
