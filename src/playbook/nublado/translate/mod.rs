//! The translation of an environment's nublado v2 settings into nublado v3 values, for the
//! `enable-v3` stage:
//!
//! | v2 | v3 |
//! |---|---|
//! | nublado2 `config.volumes` + `config.volume_mounts` | `controller.config.lab.volumes` (0.x), or `volumes` + `volumeMounts` (4.x) |
//! | nublado2 `config.lab_environment` | `controller.config.lab.env` (Jinja-valued variables dropped) |
//! | cachemachine `autostart` (JSON), nublado2 `config.pinned_images` | `controller.config.images` (camelCase keys) |
//! | moneypenny `orders.commission` + `orders.volumes` | `controller.config.lab.initContainers` |
//!
//! Volume rules: mounts join volumes by `name`; one v3 entry per mount (a volume mounted twice
//! gives two); `mountPath` → `containerPath` without a trailing `/`; `readOnly` on the mount or
//! on the source → read-only, and the access mode is always written; NFS `path` → `serverPath`;
//! hostPath keeps its path (its `type` has no equivalent: reported); a PVC `claimName` needs a
//! storage class, access modes and a size (`Answers`, from the command line); unmounted volumes
//! and other volume types are reported, never dropped silently.
//!
//! Every leaf of the v2 files is accounted for (`ledger`): the translation claims each one it
//! translates (with where it went and the value it must have there), carries, finds obsolete or
//! lists; what no rule claims is listed as unknown. Values that name v2 (`hub.nublado2`,
//! `nublado2-…`, v2's secret mount) are rewritten where v3's name is known, listed otherwise.
//!
//! Owns: the translation, the operator's answers, the v3 YAML text it produces (double-quoted
//! strings, as v3 values files are written), the side-by-side table of mounts, and the ledger
//! of every v2 setting. This module holds what a translation is and its entry points; the
//! rooms are its submodules: the operator's answers (`answers`), lab volumes and mounts
//! (`mounts`), the image settings (`images`), the init containers (`init`), the hub's and
//! nublado2's other settings (`hub`), the account of every leaf (`accounts`), the table and
//! the v3 values (`values`) and the YAML text (`emit`). Does not own: reading the volume
//! models (`repo::nublado::volumes`), v3's database (`nublado::hub_db`) or editing files (the
//! stages write the text through the editor).

mod accounts;
mod answers;
mod emit;
mod hub;
mod images;
mod init;
mod mounts;
#[cfg(test)]
mod tests;
mod values;

use self::emit::Value;
use self::images::pinned_images;
use super::V2;
use super::hub_db::HubDbPlan;
use super::volumes::{Syntax, V2Mount, V2Volume};
use crate::playbook::ledger::{Claims, Item, Ledger};
use crate::repo::Phalanx;
use crate::repo::nublado::controller::ChartVersion;
use crate::yaml::Path as YamlPath;
use crate::yaml::{Document, Node};

pub use answers::{
    ACCESS_MODES, Answers, DEFAULT_ACCESS_MODE, DEFAULT_SIZE, parse_access_modes, parse_size,
    parse_storage_class,
};
pub use mounts::rewrite_v2_names;

// ---------------------------------------------------------------------------------------------
// What the translation produces

/// A v3 lab volume source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Nfs {
        server: String,
        server_path: String,
    },
    HostPath {
        path: String,
    },
    Pvc {
        storage_class: String,
        access_modes: Vec<String>,
        size: String,
    },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Nfs {
                server,
                server_path,
            } => format!("NFS `{server}:{server_path}`"),
            Source::HostPath { path } => format!("hostPath `{path}`"),
            Source::Pvc {
                storage_class,
                access_modes,
                size,
            } => format!(
                "PVC of storage class `{storage_class}` ({}, {size})",
                access_modes.join(", ")
            ),
        }
    }

    fn value(&self) -> Value {
        match self {
            Source::Nfs {
                server,
                server_path,
            } => Value::map([
                ("type", Value::str("nfs")),
                ("server", Value::str(server)),
                ("serverPath", Value::str(server_path)),
            ]),
            Source::HostPath { path } => {
                Value::map([("type", Value::str("hostPath")), ("path", Value::str(path))])
            }
            Source::Pvc {
                storage_class,
                access_modes,
                size,
            } => Value::map([
                ("type", Value::str("persistentVolumeClaim")),
                ("storageClassName", Value::str(storage_class)),
                (
                    "accessModes",
                    Value::Seq(access_modes.iter().map(Value::str).collect()),
                ),
                (
                    "resources",
                    Value::map([("requests", Value::map([("storage", Value::str(size))]))]),
                ),
            ]),
        }
    }
}

/// One v3 mount: a v2 mount translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabVolume {
    /// The v2 volume's name (the 4.x volume name).
    pub name: String,
    pub container_path: String,
    pub sub_path: Option<String>,
    pub read_only: bool,
    pub source: Source,
}

impl LabVolume {
    fn mode(&self) -> &'static str {
        if self.read_only { "ro" } else { "rw" }
    }

    fn describe(&self) -> String {
        let sub = self
            .sub_path
            .as_ref()
            .map(|s| format!(" subPath `{s}`"))
            .unwrap_or_default();
        format!(
            "`{}`{sub} {}, {}",
            self.container_path,
            self.mode(),
            self.source.describe()
        )
    }

    /// The entry before 0.4: `{containerPath, server, serverPath, mode}` (a hostPath has an
    /// empty `server`; no subPath, no claims: `Translation::mount` never makes those).
    fn legacy_value(&self) -> Value {
        let (server, path) = match &self.source {
            Source::Nfs {
                server,
                server_path,
            } => (server.as_str(), server_path.as_str()),
            Source::HostPath { path } => ("", path.as_str()),
            Source::Pvc { .. } => unreachable!("the controller before 0.4 has no claims"),
        };
        Value::map([
            ("containerPath", Value::str(&self.container_path)),
            ("server", Value::str(server)),
            ("serverPath", Value::str(path)),
            ("mode", Value::str(self.mode())),
        ])
    }

    /// The entry of the syntax's one-list form: before 0.4 or 0.x.
    fn entry_value(&self, syntax: Syntax) -> Value {
        match syntax {
            Syntax::Legacy => self.legacy_value(),
            _ => self.flat_value(),
        }
    }

    /// The 0.x entry: `{containerPath, subPath, mode, source}`.
    fn flat_value(&self) -> Value {
        let mut m = vec![("containerPath", Value::str(&self.container_path))];
        if let Some(s) = &self.sub_path {
            m.push(("subPath", Value::str(s)));
        }
        m.push(("mode", Value::str(self.mode())));
        m.push(("source", self.source.value()));
        Value::map(m)
    }

    /// The 4.x mount: `{containerPath, subPath, readOnly, volumeName}`.
    fn mount_value(&self, volume_name: &str) -> Value {
        let mut m = vec![("containerPath", Value::str(&self.container_path))];
        if let Some(s) = &self.sub_path {
            m.push(("subPath", Value::str(s)));
        }
        m.push(("readOnly", Value::Bool(self.read_only)));
        m.push(("volumeName", Value::str(volume_name)));
        Value::map(m)
    }
}

/// A v3 init container, from one of moneypenny's commissioning containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitContainer {
    pub name: String,
    /// A Docker image reference, as moneypenny had it.
    pub image: String,
    pub privileged: bool,
    pub volumes: Vec<LabVolume>,
}

impl InitContainer {
    /// `repository:tag` split; an image without a tag is `latest`.
    fn image_parts(&self) -> (String, String) {
        let slash = self.image.rfind('/').map_or(0, |i| i + 1);
        match self.image[slash..].rfind(':') {
            Some(i) => (
                self.image[..slash + i].to_string(),
                self.image[slash + i + 1..].to_string(),
            ),
            None => (self.image.clone(), "latest".into()),
        }
    }
}

/// Something the translation could not carry over mechanically: where it is in the v2 files
/// and what the operator must decide.
pub type Untranslated = Item;

/// One row of the side-by-side table: a v2 mount (or unmounted volume) and what it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRow {
    pub v2_mount: String,
    pub v2_volume: String,
    pub v3: String,
    pub note: String,
}

/// An environment's v2 settings translated.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub syntax: Syntax,
    /// The nublado2 values file the lab settings came from.
    pub nublado2: Option<String>,
    pub volumes: Vec<LabVolume>,
    pub env: Vec<(String, String)>,
    images: Vec<(&'static str, Value)>,
    pub init_containers: Vec<InitContainer>,
    /// Every v2 lab mount, then every unmounted v2 volume.
    pub rows: Vec<MountRow>,
    pub untranslated: Vec<Untranslated>,
    /// What the reviewer should know (the syntax chosen, defaults taken).
    pub notes: Vec<String>,
    /// The (volume, claimName) of each v2 PVC volume the translation met, for the answers.
    pub claims: Vec<(String, String)>,
    /// The v3 values file the settings go to.
    pub target: String,
    /// v3 settings beside the lab volumes, environment, images and init containers (the
    /// hub's, the proxy's, the lab's annotations, pull secret and sizes), as a tree.
    extra: Value,
    /// What became of each v2 file's settings, by path.
    accounts: Vec<Claims>,
    /// The v2 mounts written, with the volume each came from and its entry in `volumes`.
    written: Vec<Written>,
    /// The account of every setting of the v2 files (before it is checked against the v3
    /// file as the stage leaves it).
    pub ledger: Ledger,
}

/// A v2 mount written as a v3 lab volume.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    file: String,
    mount: V2Mount,
    volume: V2Volume,
    /// The index in `Translation::volumes`, or in the init container's volumes.
    index: usize,
    /// The init container it is mounted in (moneypenny), if any.
    init: Option<String>,
}

/// What the translation knows of the environment beyond its v2 files.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub syntax: Syntax,
    /// `nublado 0.7.1`.
    pub chart: String,
    /// `applications/nublado/values-<env>.yaml`.
    pub v3_file: String,
    /// The nublado chart's `values.yaml`, to know where this version keeps its settings.
    pub v3_chart: Option<&'a Document>,
    pub vault_path_prefix: Option<String>,
    /// v3's hub database, decided from v2's.
    pub db: Option<HubDbPlan>,
}

impl Context<'_> {
    /// A context for translating files alone (tests): the given syntax, nothing else known.
    pub fn bare(syntax: Syntax) -> Context<'static> {
        Context {
            syntax,
            chart: "the nublado chart".into(),
            v3_file: "applications/nublado/values-x.yaml".into(),
            v3_chart: None,
            vault_path_prefix: None,
            db: None,
        }
    }
}

/// One values file the translation reads.
#[derive(Debug, Clone, Copy)]
pub struct File<'a> {
    pub rel: &'a str,
    pub doc: &'a Document,
}

impl File<'_> {
    fn line(&self, node: &Node) -> Option<usize> {
        Some(self.doc.line_of(node.span.start))
    }
}

/// The v2 values files of one environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct V2Files<'a> {
    pub nublado2: Option<File<'a>>,
    pub cachemachine: Option<File<'a>>,
    pub moneypenny: Option<File<'a>>,
}

/// Translates an environment of a Phalanx repository, in the syntax of its nublado chart, with
/// v3's hub database decided from v2's.
pub fn for_environment(p: &Phalanx, env: &str, answers: &Answers) -> Translation {
    for_environment_with(p, env, answers, super::hub_db::plan(p, env, None))
}

/// `for_environment`, with v3's hub database decided by the stage (`--hub-db-url`).
pub fn for_environment_with(
    p: &Phalanx,
    env: &str,
    answers: &Answers,
    db: HubDbPlan,
) -> Translation {
    let file = |app: &str| {
        let rel = p.values_file(app, env)?;
        Some(File {
            rel,
            doc: p.files.doc(rel)?,
        })
    };
    let files = V2Files {
        nublado2: file(V2),
        cachemachine: file("cachemachine"),
        moneypenny: file("moneypenny"),
    };
    let chart = ChartVersion::of(p);
    let defaults = p.chart_defaults(super::V3);
    let ctx = Context {
        syntax: chart.syntax,
        chart: chart.name(),
        v3_file: format!("applications/{}/values-{env}.yaml", super::V3),
        v3_chart: p.files.doc(&defaults),
        vault_path_prefix: p.env(env).and_then(|e| e.vault_path_prefix.clone()),
        db: Some(db),
    };
    let mut t = translate_with(&files, &ctx, answers);
    t.notes.insert(
        0,
        format!(
            "`{env}`: lab volumes are written in the {} because {}",
            chart.syntax.describe(),
            chart.why
        ),
    );
    if files.nublado2.is_none() {
        let item = Untranslated {
            file: format!("applications/{V2}/values-{env}.yaml"),
            line: None,
            what: "there is no nublado2 values file".into(),
            decide: "add the lab volumes and environment variables nublado v3 needs by hand".into(),
        };
        t.untranslated.push(item.clone());
        t.ledger.items.push(item);
    }
    t
}

/// Translates the given v2 files into `syntax`, with nothing else known of the environment.
pub fn translate(files: &V2Files<'_>, syntax: Syntax, answers: &Answers) -> Translation {
    translate_with(files, &Context::bare(syntax), answers)
}

/// Translates the given v2 files in a context.
pub fn translate_with(files: &V2Files<'_>, ctx: &Context<'_>, answers: &Answers) -> Translation {
    let syntax = ctx.syntax;
    let mut t = Translation {
        syntax,
        nublado2: files.nublado2.map(|f| f.rel.to_string()),
        volumes: Vec::new(),
        env: Vec::new(),
        images: Vec::new(),
        init_containers: Vec::new(),
        rows: Vec::new(),
        untranslated: Vec::new(),
        notes: Vec::new(),
        claims: Vec::new(),
        target: ctx.v3_file.clone(),
        extra: Value::Map(Vec::new()),
        accounts: Vec::new(),
        written: Vec::new(),
        ledger: Ledger::default(),
    };
    let mut loose = Vec::new();
    let mut pins = Vec::new();
    if let Some(f) = files.nublado2 {
        t.lab_volumes(f, answers);
        t.lab_env(f);
        pins = pinned_images(f);
        t.hub_settings(f, ctx);
    }
    match files.cachemachine {
        Some(f) => t.images(f, &pins),
        None => {
            let item = Untranslated {
                file: "applications/cachemachine/".into(),
                line: None,
                what: "there are no cachemachine values for this environment".into(),
                decide:
                    "set the image source and prepull settings (`controller.config.images`) by hand"
                        .into(),
            };
            t.untranslated.push(item.clone());
            loose.push(item);
            t.unpinned(pins);
        }
    }
    if let Some(f) = files.moneypenny {
        t.init_containers(f, answers);
    }
    if let Some(url) = ctx.db.as_ref().and_then(HubDbPlan::url) {
        let path = YamlPath::parse("jupyterhub.hub.db.url").expect("a valid path");
        t.extra.insert(&path.0, Value::str(url));
    }
    t.account_volumes();
    t.ledger = t.settle(files);
    t.ledger.items.extend(loose);
    t
}
