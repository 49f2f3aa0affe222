//! The account of the translation: where each written mount's v3 entry is, the claims on the
//! v2 volumes and mounts, and the ledger of every leaf of the v2 files (what no rule claims is
//! listed as unknown to the translation).
//!
//! Does not own: the rules that claim settings (`mounts`, `hub`, `images`, `init`).

use super::mounts::selected;
use super::{Source, Translation, V2Files, Written};
use crate::playbook::ledger::{Claims, Fate, Item, Ledger, Target};
use crate::playbook::nublado::volumes::{Syntax, V2Source};

impl Translation {
    /// The PATH in the v3 values of the entry a written mount became.
    pub(super) fn entry_path(&self, w: &Written) -> String {
        let v = match &w.init {
            Some(_) => {
                let c = self
                    .init_containers
                    .iter()
                    .find(|c| Some(&c.name) == w.init.as_ref());
                match c.and_then(|c| c.volumes.get(w.index)) {
                    Some(v) => v,
                    None => return String::new(),
                }
            }
            None => &self.volumes[w.index],
        };
        let list = match (&w.init, self.syntax) {
            (None, Syntax::Split) => "controller.config.lab.volumeMounts".to_string(),
            (None, _) => "controller.config.lab.volumes".to_string(),
            (Some(name), syntax) => format!(
                "{}.{}",
                selected("controller.config.lab.initContainers", "name", name),
                if syntax == Syntax::Split {
                    "volumeMounts"
                } else {
                    "volumes"
                }
            ),
        };
        selected(&list, "containerPath", &v.container_path)
    }

    /// Claims the leaves of every written mount and of the volumes they came from: each goes
    /// to the entry (or the 4.x named volume) it became.
    pub(super) fn account_volumes(&mut self) {
        let names = self.volume_names();
        let written = std::mem::take(&mut self.written);
        for w in &written {
            let f = w.file.clone();
            let entry = self.entry_path(w);
            if entry.is_empty() {
                continue;
            }
            let v = match &w.init {
                Some(name) => self
                    .init_containers
                    .iter()
                    .find(|c| &c.name == name)
                    .and_then(|c| c.volumes.get(w.index))
                    .cloned(),
                None => self.volumes.get(w.index).cloned(),
            };
            let Some(v) = v else { continue };
            let at = |field: &str| format!("{entry}.{field}");
            let (mode_path, mode_value) = match self.syntax {
                Syntax::Split => (at("readOnly"), v.read_only.to_string()),
                _ => (at("mode"), v.mode().to_string()),
            };
            let source = match self.syntax {
                Syntax::Legacy => entry.clone(),
                Syntax::Flat => at("source"),
                Syntax::Split => {
                    let name = names
                        .iter()
                        .find(|(_, s)| *s == v.source)
                        .map(|(n, _)| n.clone())
                        .unwrap_or_default();
                    format!(
                        "{}.source",
                        selected("controller.config.lab.volumes", "name", &name)
                    )
                }
            };
            let m = &w.mount;
            let claims: Vec<(String, Target)> = vec![
                (format!("{}.name", m.path), self.target(entry.clone(), None)),
                (
                    format!("{}.mountPath", m.path),
                    self.target(at("containerPath"), Some(v.container_path.clone())),
                ),
                (
                    format!("{}.subPath", m.path),
                    self.target(at("subPath"), v.sub_path.clone()),
                ),
                (
                    format!("{}.readOnly", m.path),
                    self.target(mode_path.clone(), Some(mode_value.clone())),
                ),
            ];
            for (path, to) in claims {
                self.claim(&f, &path, Fate::translated(to));
            }
            // The volume's own leaves, once, to the first entry made from it.
            let vp = &w.volume.path;
            if written
                .iter()
                .position(|x| x.volume.path == w.volume.path && x.file == w.file)
                != written.iter().position(|x| std::ptr::eq(x, w))
            {
                continue;
            }
            let src = |field: &str| {
                if self.syntax == Syntax::Legacy {
                    format!(
                        "{source}.{}",
                        if field == "path" { "serverPath" } else { field }
                    )
                } else {
                    format!("{source}.{field}")
                }
            };
            let mut vclaims: Vec<(String, Target, Option<String>)> = vec![(
                format!("{vp}.name"),
                self.target(entry.clone(), None),
                Some("volumes and mounts join by name".into()),
            )];
            match (&w.volume.source, &v.source) {
                (
                    V2Source::Nfs { .. },
                    Source::Nfs {
                        server,
                        server_path,
                    },
                ) => {
                    vclaims.push((
                        format!("{vp}.nfs.server"),
                        self.target(src("server"), Some(server.clone())),
                        None,
                    ));
                    vclaims.push((
                        format!("{vp}.nfs.path"),
                        self.target(src("serverPath"), Some(server_path.clone())),
                        Some("NFS `path` → `serverPath`".into()),
                    ));
                    vclaims.push((
                        format!("{vp}.nfs.readOnly"),
                        self.target(mode_path.clone(), Some(mode_value.clone())),
                        None,
                    ));
                }
                (V2Source::HostPath { .. }, Source::HostPath { path }) => {
                    let to = if self.syntax == Syntax::Legacy {
                        src("serverPath")
                    } else {
                        src("path")
                    };
                    vclaims.push((
                        format!("{vp}.hostPath.path"),
                        self.target(to, Some(path.clone())),
                        None,
                    ));
                }
                (V2Source::Pvc { .. }, Source::Pvc { storage_class, .. }) => {
                    vclaims.push((
                        format!("{vp}.persistentVolumeClaim.claimName"),
                        self.target(src("storageClassName"), Some(storage_class.clone())),
                        Some("a claim per lab of the storage class answered with --pvc-storage-class".into()),
                    ));
                    vclaims.push((
                        format!("{vp}.persistentVolumeClaim.readOnly"),
                        self.target(mode_path.clone(), Some(mode_value.clone())),
                        None,
                    ));
                }
                _ => {}
            }
            for (path, to, note) in vclaims {
                self.claim(&f, &path, Fate::Translated { to, note });
            }
        }
        self.written = written;
    }

    /// The account of every leaf of the v2 files: the claims, and for what no rule claims, an
    /// item saying it is unknown to the translation.
    pub(super) fn settle(&self, files: &V2Files<'_>) -> Ledger {
        let mut ledger = Ledger::default();
        for f in [files.nublado2, files.cachemachine, files.moneypenny]
            .into_iter()
            .flatten()
        {
            let claims = self
                .accounts
                .iter()
                .find(|c| c.file == f.rel)
                .cloned()
                .unwrap_or_else(|| Claims::new(f.rel));
            ledger.entries.extend(claims.settle(f.doc, |leaf| {
                Fate::operator(Item {
                    file: f.rel.to_string(),
                    line: Some(leaf.line),
                    what: format!(
                        "`{}` is a setting this translation does not know",
                        leaf.path_text()
                    ),
                    decide: "carry it over by hand if nublado v3 needs it".into(),
                })
            }));
        }
        ledger
    }
}
