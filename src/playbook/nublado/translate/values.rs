//! What the translation produces for the reviewer and the stage: the side-by-side table of v2
//! mounts and v3 lab volumes, and the v3 values as YAML text or merged into an existing file.
//!
//! Does not own: the translation (`mounts`, `hub`, `images`, `init`) or editing files
//! (`stages` writes the text through the editor).

use super::emit::{Value, render};
use super::{InitContainer, LabVolume, Source, Translation, emit};
use crate::playbook::Table;
use crate::playbook::nublado::V2;
use crate::playbook::nublado::volumes::Syntax;
use crate::yaml::Document;
use crate::yaml::{Path as YamlPath, Segment};

impl Translation {
    /// The side-by-side table of the environment's v2 mounts and the v3 lab volumes they
    /// became.
    pub fn table(&self, env: &str) -> Table {
        let v2 = self
            .nublado2
            .clone()
            .unwrap_or_else(|| format!("applications/{V2}/values-{env}.yaml"));
        Table {
            title: format!("Lab volumes of `{env}`: nublado v2 mounts → nublado v3"),
            columns: vec![
                format!("v2 mount (`{v2}`)"),
                "v2 volume".into(),
                "v3 lab volume".into(),
                "note".into(),
            ],
            rows: self
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.v2_mount.clone(),
                        r.v2_volume.clone(),
                        r.v3.clone(),
                        r.note.clone(),
                    ]
                })
                .collect(),
        }
    }

    /// Whether there is anything to write.
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty()
            && self.env.is_empty()
            && self.images.is_empty()
            && self.init_containers.is_empty()
            && self.extra == Value::Map(Vec::new())
    }

    /// Every v3 value the translation writes, as one tree: `controller` (the images and the
    /// lab), then the hub's (`jupyterhub`) and the proxy's settings.
    pub(super) fn values(&self) -> Value {
        let mut config = Vec::new();
        if !self.images.is_empty() {
            config.push((
                "images",
                Value::Map(
                    self.images
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                ),
            ));
        }
        let lab = self.lab_value();
        if lab != Value::Map(Vec::new()) {
            config.push(("lab", lab));
        }
        let mut root = Value::Map(Vec::new());
        if !config.is_empty() {
            root = Value::map([("controller", Value::map([("config", Value::map(config))]))]);
        }
        root.merge(self.extra.clone());
        root
    }

    /// The translated settings as the `controller:` block of a v3 values file, or `None` when
    /// there is nothing to write there.
    pub fn controller_yaml(&self) -> Option<String> {
        let controller = self.values().get("controller")?.clone();
        Some(render(&Value::map([("controller", controller)])))
    }

    /// Everything the translation writes, as the body of a v3 values file (`controller:`,
    /// `jupyterhub:`, `proxy:`), or `None` when there is nothing.
    pub fn values_yaml(&self) -> Option<String> {
        let root = self.values();
        (root != Value::Map(Vec::new())).then(|| render(&root))
    }

    /// Writes into an existing v3 values document what it lacks of the translation: each
    /// missing key with its whole subtree; what the file already has stays as it is (the
    /// ledger then compares it). Returns whether anything was added.
    pub fn merge_into(&self, doc: &mut Document) -> Result<bool, crate::yaml::EditError> {
        fn walk(
            doc: &mut Document,
            path: &mut Vec<Segment>,
            value: &Value,
        ) -> Result<bool, crate::yaml::EditError> {
            let mut changed = false;
            let Value::Map(entries) = value else {
                return Ok(false);
            };
            for (k, v) in entries {
                path.push(Segment::Key(k.clone()));
                let here = YamlPath(path.clone());
                match (doc.get(0, &here).ok().map(|n| n.as_mapping().is_some()), v) {
                    (Some(true), Value::Map(_)) => changed |= walk(doc, path, v)?,
                    (Some(_), _) => {}
                    (None, v) => {
                        let text = emit::render_value(v);
                        let new = match v {
                            Value::Map(_) | Value::Seq(_) if !text.starts_with(['{', '[']) => {
                                crate::yaml::NewValue::Yaml(text)
                            }
                            Value::Str(s) => crate::yaml::NewValue::Scalar(
                                crate::yaml::ScalarValue::double_quoted(s.as_str()),
                            ),
                            Value::Int(_) | Value::Bool(_) | Value::Raw(_) => {
                                match crate::yaml::ScalarValue::from_arg(&text, false) {
                                    Ok(v) => crate::yaml::NewValue::Scalar(v),
                                    Err(_) => crate::yaml::NewValue::Scalar(
                                        crate::yaml::ScalarValue::string(text),
                                    ),
                                }
                            }
                            _ => crate::yaml::NewValue::Yaml(text),
                        };
                        changed |= doc.set_value(0, &here, &new)?;
                    }
                }
                path.pop();
            }
            Ok(changed)
        }
        walk(doc, &mut Vec::new(), &self.values())
    }

    pub(super) fn lab_value(&self) -> Value {
        let mut lab = Vec::new();
        if !self.env.is_empty() {
            lab.push((
                "env",
                Value::Map(
                    self.env
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::str(v)))
                        .collect(),
                ),
            ));
        }
        let names = self.volume_names();
        let name_of = |v: &LabVolume| {
            names
                .iter()
                .find(|(_, s)| *s == v.source)
                .map(|(n, _)| n.clone())
                .expect("every volume is named")
        };
        if !self.init_containers.is_empty() {
            let containers = self
                .init_containers
                .iter()
                .map(|c| self.init_value(c, &name_of))
                .collect();
            lab.push(("initContainers", Value::Seq(containers)));
        }
        match self.syntax {
            Syntax::Flat | Syntax::Legacy if !self.volumes.is_empty() => lab.push((
                "volumes",
                Value::Seq(
                    self.volumes
                        .iter()
                        .map(|v| v.entry_value(self.syntax))
                        .collect(),
                ),
            )),
            Syntax::Flat | Syntax::Legacy => {}
            Syntax::Split => {
                if !names.is_empty() {
                    lab.push((
                        "volumes",
                        Value::Seq(
                            names
                                .iter()
                                .map(|(n, s)| {
                                    Value::map([("name", Value::str(n)), ("source", s.value())])
                                })
                                .collect(),
                        ),
                    ));
                }
                if !self.volumes.is_empty() {
                    lab.push((
                        "volumeMounts",
                        Value::Seq(
                            self.volumes
                                .iter()
                                .map(|v| v.mount_value(&name_of(v)))
                                .collect(),
                        ),
                    ));
                }
            }
        }
        Value::map(lab)
    }

    pub(super) fn init_value(
        &self,
        c: &InitContainer,
        name_of: &dyn Fn(&LabVolume) -> String,
    ) -> Value {
        let mut m = vec![("name", Value::str(&c.name))];
        match self.syntax {
            Syntax::Flat | Syntax::Legacy => m.push(("image", Value::str(&c.image))),
            Syntax::Split => {
                let (repository, tag) = c.image_parts();
                m.push((
                    "image",
                    Value::map([
                        ("repository", Value::Str(repository)),
                        ("tag", Value::Str(tag)),
                    ]),
                ));
            }
        }
        m.push(("privileged", Value::Bool(c.privileged)));
        if !c.volumes.is_empty() {
            match self.syntax {
                Syntax::Flat | Syntax::Legacy => m.push((
                    "volumes",
                    Value::Seq(
                        c.volumes
                            .iter()
                            .map(|v| v.entry_value(self.syntax))
                            .collect(),
                    ),
                )),
                Syntax::Split => m.push((
                    "volumeMounts",
                    Value::Seq(
                        c.volumes
                            .iter()
                            .map(|v| v.mount_value(&name_of(v)))
                            .collect(),
                    ),
                )),
            }
        }
        Value::map(m)
    }

    /// The 4.x named volumes: one per distinct source, named after the first v2 volume that
    /// has it (a clashing name gets a number).
    pub(super) fn volume_names(&self) -> Vec<(String, Source)> {
        let mut out: Vec<(String, Source)> = Vec::new();
        let all = self
            .volumes
            .iter()
            .chain(self.init_containers.iter().flat_map(|c| &c.volumes));
        for v in all {
            if out.iter().any(|(_, s)| *s == v.source) {
                continue;
            }
            let mut name = v.name.clone();
            let mut n = 2;
            while out.iter().any(|(x, _)| *x == name) {
                name = format!("{}-{n}", v.name);
                n += 1;
            }
            out.push((name, v.source.clone()));
        }
        out
    }
}
