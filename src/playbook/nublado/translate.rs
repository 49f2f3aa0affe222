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
//! of every v2 setting; the image settings (`images`), the init containers (`init`), the hub's
//! and nublado2's other settings (`hub`) and the YAML text (`emit`) are its submodules. Does not
//! own: reading the volume models (`repo::nublado::volumes`), v3's database
//! (`nublado::hub_db`) or editing files (`stages.rs` writes the text through the editor).

mod emit;
mod hub;
mod images;
mod init;

use std::collections::{BTreeMap, BTreeSet};

use self::emit::{Value, render};
use self::images::pinned_images;
use super::V2;
use super::hub_db::HubDbPlan;
use super::volumes::{Syntax, TemplateClaim, V2Lab, V2Mount, V2Source, V2Volume, template_claims};
use crate::playbook::Table;
use crate::playbook::ledger::{Claims, Fate, Item, Ledger, Target};
use crate::repo::nublado::controller::ChartVersion;
use crate::repo::{Phalanx, lookup};
use crate::yaml::{Document, Node};
use crate::yaml::{Path as YamlPath, Segment};

/// Access modes of a v3 PVC source when the operator names none and v2 shows none.
pub const DEFAULT_ACCESS_MODE: &str = "ReadWriteMany";
/// Requested size of a v3 PVC source when the operator names none and v2 shows none.
pub const DEFAULT_SIZE: &str = "1Gi";
/// The access modes Kubernetes knows.
pub const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

// ---------------------------------------------------------------------------------------------
// The operator's answers

/// What the operator decided for v2 PersistentVolumeClaim volumes, keyed by the v2 volume's
/// name or its `claimName`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// `--pvc-storage-class NAME=CLASS`.
    pub storage_class: BTreeMap<String, String>,
    /// `--pvc-access-modes NAME=MODE[,MODE]`.
    pub access_modes: BTreeMap<String, Vec<String>>,
    /// `--pvc-size NAME=SIZE`.
    pub size: BTreeMap<String, String>,
}

impl Answers {
    pub fn is_empty(&self) -> bool {
        self.storage_class.is_empty() && self.access_modes.is_empty() && self.size.is_empty()
    }

    /// Every NAME the answers mention.
    pub fn names(&self) -> BTreeSet<&str> {
        self.storage_class
            .keys()
            .chain(self.access_modes.keys())
            .chain(self.size.keys())
            .map(String::as_str)
            .collect()
    }

    /// The answers as command-line options.
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (n, c) in &self.storage_class {
            out.push(format!("--pvc-storage-class {n}={c}"));
        }
        for (n, m) in &self.access_modes {
            out.push(format!("--pvc-access-modes {n}={}", m.join(",")));
        }
        for (n, s) in &self.size {
            out.push(format!("--pvc-size {n}={s}"));
        }
        out
    }

    fn get<'a, T>(map: &'a BTreeMap<String, T>, volume: &str, claim: &str) -> Option<&'a T> {
        map.get(volume).or_else(|| map.get(claim))
    }
}

fn name_value<'a>(arg: &'a str, what: &str) -> Result<(&'a str, &'a str), String> {
    match arg.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => Ok((n.trim(), v.trim())),
        _ => Err(format!(
            "expected NAME={what}, where NAME is a nublado2 volume or its claimName"
        )),
    }
}

/// `NAME=CLASS`.
pub fn parse_storage_class(arg: &str) -> Result<(String, String), String> {
    let (n, v) = name_value(arg, "CLASS")?;
    Ok((n.to_string(), v.to_string()))
}

/// `NAME=MODE[,MODE]`, each a Kubernetes access mode.
pub fn parse_access_modes(arg: &str) -> Result<(String, Vec<String>), String> {
    let (n, v) = name_value(arg, "MODE[,MODE]")?;
    let modes: Vec<String> = v.split(',').map(|m| m.trim().to_string()).collect();
    if let Some(bad) = modes.iter().find(|m| !ACCESS_MODES.contains(&m.as_str())) {
        return Err(format!(
            "`{bad}` is not an access mode; use {}",
            ACCESS_MODES.join(", ")
        ));
    }
    Ok((n.to_string(), modes))
}

/// `NAME=SIZE`, a Kubernetes quantity such as `1Gi` or `500M`.
pub fn parse_size(arg: &str) -> Result<(String, String), String> {
    let (n, v) = name_value(arg, "SIZE")?;
    if !is_quantity(v) {
        return Err(format!(
            "`{v}` is not a storage size; write a number with an optional unit, such as 1Gi or 500M"
        ));
    }
    Ok((n.to_string(), v.to_string()))
}

fn is_quantity(s: &str) -> bool {
    const UNITS: [&str; 13] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
    ];
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        && UNITS.contains(&unit)
}

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

/// The outcome of one mount.
struct Mounted {
    volume: Option<LabVolume>,
    notes: Vec<String>,
    /// Not written, and already listed for the operator.
    listed: bool,
}

/// A v2 PVC volume waiting for the operator's storage class, with its mounts.
struct Pending<'a> {
    volume: &'a V2Volume,
    claim: String,
    paths: Vec<String>,
    /// The mounts' PATHs in the values file.
    mounts: Vec<String>,
}

impl Translation {
    /// Lists something for the operator, about the settings at the PATHs `at` of `f` (their
    /// leaves are then accounted as for the operator).
    fn item(
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
    fn claim(&mut self, file: &str, path: &str, fate: Fate) {
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
    fn target(&self, path: String, value: Option<String>) -> Target {
        Target {
            file: self.target.clone(),
            path,
            value,
        }
    }

    /// nublado2's lab volumes, one v3 entry per mount.
    fn lab_volumes(&mut self, f: File<'_>, answers: &Answers) {
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
    fn unwritten<'l>(
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
    fn mount(
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
    fn host_path_type(&mut self, f: File<'_>, vol: &V2Volume, path: &str, kind: &str) {
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
    fn pvc_item(&mut self, f: File<'_>, p: &Pending<'_>, claims: &[TemplateClaim]) {
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
    fn lab_env(&mut self, f: File<'_>) {
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

    /// The PATH in the v3 values of the entry a written mount became.
    fn entry_path(&self, w: &Written) -> String {
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
    fn account_volumes(&mut self) {
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
    fn settle(&self, files: &V2Files<'_>) -> Ledger {
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

/// `list[key=value]` as a PATH, quoted as needed.
fn selected(list: &str, key: &str, value: &str) -> String {
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
    if crate::text::contains_word(&out, "nublado2") {
        return Err(value.to_string());
    }
    Ok((out, how))
}

/// Why the controller before 0.4 cannot mount a v2 mount, if it cannot: it has NFS and
/// hostPath volumes only, without subPath.
fn legacy_limit(m: &V2Mount, vol: &V2Volume) -> Option<String> {
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
fn pvc_source(
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

fn is_jinja(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn describe_mount(m: &V2Mount) -> String {
    let sub = m
        .sub_path
        .as_ref()
        .map(|s| format!(" subPath `{s}`"))
        .unwrap_or_default();
    let ro = if m.read_only { " readOnly" } else { "" };
    format!("`{}`{sub}{ro} (line {})", m.mount_path, m.pos.line)
}

fn describe_volume(v: &V2Volume) -> String {
    let ro = if v.read_only { " readOnly" } else { "" };
    format!(
        "`{}`: {}{ro} (line {})",
        v.name,
        v.source.describe(),
        v.pos.line
    )
}

// ---------------------------------------------------------------------------------------------
// The v3 values

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
    fn values(&self) -> Value {
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

    fn lab_value(&self) -> Value {
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

    fn init_value(&self, c: &InitContainer, name_of: &dyn Fn(&LabVolume) -> String) -> Value {
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
    fn volume_names(&self) -> Vec<(String, Source)> {
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

// ---------------------------------------------------------------------------------------------
// Tests: one per rule

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    const V2: &str = "applications/nublado2/values-x.yaml";

    /// Translates a nublado2 values text alone.
    fn tr_with(text: &str, syntax: Syntax, answers: &Answers) -> Translation {
        let d = doc(text);
        let files = V2Files {
            nublado2: Some(File { rel: V2, doc: &d }),
            ..V2Files::default()
        };
        translate(&files, syntax, answers)
    }

    fn tr(text: &str) -> Translation {
        tr_with(text, Syntax::Flat, &Answers::default())
    }

    /// The items about lab volumes (not the absent cachemachine file).
    fn items_of(t: &Translation) -> Vec<String> {
        t.untranslated
            .iter()
            .filter(|u| u.file == V2)
            .map(|u| format!("{}: {}", u.line.unwrap_or(0), u.what))
            .collect()
    }

    fn yaml(t: &Translation) -> String {
        t.controller_yaml().unwrap_or_default()
    }

    fn nfs(server: &str, path: &str) -> Source {
        Source::Nfs {
            server: server.into(),
            server_path: path.into(),
        }
    }

    #[test]
    fn nfs_path_becomes_server_path_and_mode_is_written() {
        let t = tr("config:
  volumes:
    - name: home
      nfs:
        path: /share1/home
        server: 10.13.105.122
  volume_mounts:
    - name: home
      mountPath: /home
");
        assert_eq!(
            t.volumes,
            [LabVolume {
                name: "home".into(),
                container_path: "/home".into(),
                sub_path: None,
                read_only: false,
                source: nfs("10.13.105.122", "/share1/home"),
            }]
        );
        assert!(items_of(&t).is_empty());
        assert_eq!(
            yaml(&t),
            "controller:
  config:
    lab:
      volumes:
        - containerPath: \"/home\"
          mode: \"rw\"
          source:
            type: \"nfs\"
            server: \"10.13.105.122\"
            serverPath: \"/share1/home\"
"
        );
        assert!(!yaml(&t).contains(" path:"));
        assert_eq!(t.rows[0].note, "NFS `path` → `serverPath`");
    }

    #[test]
    fn host_path_is_kept_and_its_type_reported() {
        let t = tr("config:
  volumes:
    - name: home
      hostPath:
        path: /jhome
        type: Directory
  volume_mounts:
    - name: home
      mountPath: /home
    - name: home
      mountPath: /jhome
");
        assert_eq!(
            t.volumes[0].source,
            Source::HostPath {
                path: "/jhome".into()
            }
        );
        assert_eq!(t.volumes.len(), 2);
        assert_eq!(
            items_of(&t),
            [
                "3: the hostPath volume `home` has `type: Directory`, which nublado v3 cannot express"
            ]
        );
        assert!(t.untranslated[0].decide.contains("exists (as a Directory)"));
        assert!(yaml(&t).contains("type: \"hostPath\"\n            path: \"/jhome\"\n"));
        assert!(!yaml(&t).contains("Directory"));
    }

    #[test]
    fn pvc_needs_an_answer_and_takes_it() {
        let text = "config:
  volumes:
    - name: repo
      persistentVolumeClaim:
        claimName: butler-repo
  volume_mounts:
    - name: repo
      mountPath: /repo
      readOnly: true
";
        let t = tr(text);
        assert!(t.volumes.is_empty(), "not written without a storage class");
        assert_eq!(
            items_of(&t),
            ["3: `/repo` mounts the PersistentVolumeClaim `butler-repo` (volume `repo`)"]
        );
        assert!(
            t.untranslated[0]
                .decide
                .contains("--pvc-storage-class repo=CLASS")
        );
        assert_eq!(t.rows[0].v3, "not written");
        assert_eq!(t.claims, [("repo".to_string(), "butler-repo".to_string())]);
        // Answered by the claim's name; modes and size default.
        let mut a = Answers::default();
        a.storage_class
            .insert("butler-repo".into(), "rook-cephfs".into());
        let t = tr_with(text, Syntax::Flat, &a);
        assert!(items_of(&t).is_empty());
        assert_eq!(
            t.volumes[0].source,
            Source::Pvc {
                storage_class: "rook-cephfs".into(),
                access_modes: vec!["ReadWriteMany".into()],
                size: "1Gi".into(),
            }
        );
        assert!(t.volumes[0].read_only);
        assert!(yaml(&t).contains(
            "          mode: \"ro\"
          source:
            type: \"persistentVolumeClaim\"
            storageClassName: \"rook-cephfs\"
            accessModes:
              - \"ReadWriteMany\"
            resources:
              requests:
                storage: \"1Gi\"
"
        ));
        // Answered by the volume's name, with modes and size.
        let mut a = Answers::default();
        a.storage_class.insert("repo".into(), "c".into());
        a.access_modes
            .insert("repo".into(), vec!["ReadOnlyMany".into()]);
        a.size.insert("repo".into(), "10Gi".into());
        let t = tr_with(text, Syntax::Flat, &a);
        assert_eq!(
            t.volumes[0].source,
            Source::Pvc {
                storage_class: "c".into(),
                access_modes: vec!["ReadOnlyMany".into()],
                size: "10Gi".into(),
            }
        );
        assert!(
            t.rows[0]
                .note
                .contains("access modes from --pvc-access-modes, size from --pvc-size")
        );
    }

    #[test]
    fn pvc_suggestion_and_defaults_come_from_the_v2_template() {
        let text = "config:
  volumes:
    - name: home
      persistentVolumeClaim:
        claimName: sdf-home
  volume_mounts:
    - name: home
      mountPath: /home
  user_resources_template: |
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
        name: sdf-home
        namespace: \"{{ user_namespace }}\"
      spec:
        storageClassName: sdf-home
        accessModes:
          - ReadOnlyMany
        resources:
          requests:
            storage: 5Gi
";
        let t = tr(text);
        let item = t
            .untranslated
            .iter()
            .find(|u| u.file == V2 && u.what.contains("PersistentVolumeClaim"))
            .unwrap();
        assert!(
            item.decide.ends_with("the v2 `user_resources_template` (line 10) creates this claim with storage class `sdf-home`, ReadOnlyMany, 5Gi: `--pvc-storage-class home=sdf-home`"),
            "{}",
            item.decide
        );
        let mut a = Answers::default();
        a.storage_class.insert("home".into(), "sdf-home".into());
        let t = tr_with(text, Syntax::Flat, &a);
        assert_eq!(
            t.volumes[0].source,
            Source::Pvc {
                storage_class: "sdf-home".into(),
                access_modes: vec!["ReadOnlyMany".into()],
                size: "5Gi".into(),
            }
        );
    }

    #[test]
    fn sub_path_is_kept() {
        let t = tr("config:
  volumes:
    - name: project
      nfs: {path: /share1/project, server: s}
  volume_mounts:
    - {name: project, mountPath: /project-shared, subPath: shared}
");
        assert_eq!(t.volumes[0].sub_path.as_deref(), Some("shared"));
        assert!(yaml(&t).contains("- containerPath: \"/project-shared\"\n          subPath: \"shared\"\n          mode: \"rw\"\n"));
        assert_eq!(
            t.rows[0].v2_mount,
            "`/project-shared` subPath `shared` (line 6)"
        );
    }

    #[test]
    fn a_volume_mounted_twice_gives_two_entries() {
        let t = tr("config:
  volumes:
    - name: project
      nfs: {path: /share1/project, server: s}
  volume_mounts:
    - {name: project, mountPath: /project}
    - {name: project, mountPath: /project-shared, subPath: shared, readOnly: true}
");
        let paths: Vec<(&str, bool)> = t
            .volumes
            .iter()
            .map(|v| (v.container_path.as_str(), v.read_only))
            .collect();
        assert_eq!(paths, [("/project", false), ("/project-shared", true)]);
        assert_eq!(
            yaml(&t).matches("serverPath: \"/share1/project\"").count(),
            2
        );
        assert_eq!(t.rows.len(), 2);
    }

    #[test]
    fn a_trailing_slash_is_dropped() {
        let t = tr("config:
  volumes:
    - {name: home, nfs: {path: /h, server: s}}
    - {name: root, nfs: {path: /r, server: s}}
  volume_mounts:
    - {name: home, mountPath: \"/home/\"}
    - {name: root, mountPath: /}
");
        assert_eq!(t.volumes[0].container_path, "/home");
        assert_eq!(t.volumes[1].container_path, "/", "the root stays `/`");
        assert!(t.rows[0].note.starts_with("trailing `/` dropped"));
        assert!(!t.rows[1].note.contains("trailing"));
    }

    #[test]
    fn read_only_on_the_mount_or_on_the_source_is_ro() {
        let text = "config:
  volumes:
    - name: a
      nfs: {path: /a, server: s, readOnly: true}
    - name: b
      nfs: {path: /b, server: s}
    - name: c
      persistentVolumeClaim: {claimName: c, readOnly: true}
  volume_mounts:
    - {name: a, mountPath: /a}
    - {name: b, mountPath: /b, readOnly: true}
    - {name: b, mountPath: /b-rw}
    - {name: c, mountPath: /c}
";
        let mut a = Answers::default();
        a.storage_class.insert("c".into(), "class".into());
        let t2 = tr_with(text, Syntax::Flat, &a);
        let modes: Vec<(&str, &str)> = t2
            .volumes
            .iter()
            .map(|v| (v.container_path.as_str(), v.mode()))
            .collect();
        assert_eq!(
            modes,
            [("/a", "ro"), ("/b", "ro"), ("/b-rw", "rw"), ("/c", "ro")]
        );
        let text = yaml(&t2);
        assert_eq!(text.matches("mode: \"ro\"").count(), 3);
        assert_eq!(text.matches("mode: \"rw\"").count(), 1, "rw is written too");
        assert_eq!(
            t2.rows[0].note,
            "read-only on the volume; NFS `path` → `serverPath`"
        );
        assert_eq!(
            t2.rows[1].note,
            "read-only on the mount; NFS `path` → `serverPath`"
        );
    }

    #[test]
    fn an_unmounted_volume_is_reported_not_dropped_silently() {
        let t = tr("config:
  volumes:
    - name: home
      nfs: {path: /h, server: s}
    - name: scratch
      hostPath:
        path: /scratch
  volume_mounts:
    - {name: home, mountPath: /home}
");
        assert_eq!(t.volumes.len(), 1);
        assert_eq!(
            items_of(&t),
            [
                "5: the volume `scratch` (hostPath `/scratch`) is not mounted by any `volume_mounts` entry"
            ]
        );
        let last = t.rows.last().unwrap();
        assert_eq!(last.v2_mount, "not mounted");
        assert_eq!(last.v2_volume, "`scratch`: hostPath `/scratch` (line 5)");
    }

    #[test]
    fn an_unknown_type_and_an_undefined_volume_are_reported() {
        let t = tr("config:
  volumes:
    - name: cfg
      configMap: {name: lab-config}
  volume_mounts:
    - {name: cfg, mountPath: /etc/lab}
    - {name: ghost, mountPath: /ghost}
");
        assert!(t.volumes.is_empty());
        assert_eq!(
            items_of(&t),
            [
                "6: `/etc/lab` mounts the volume `cfg` of type configMap",
                "7: `/ghost` mounts `ghost`, which `config.volumes` does not define",
            ]
        );
        assert_eq!(t.rows[0].note, "configMap has no v3 equivalent");
        assert_eq!(t.rows[1].v2_volume, "no volume `ghost`");
        assert_eq!(t.controller_yaml(), None, "nothing to write");
    }

    const TWO_MOUNTS: &str = "config:
  volumes:
    - name: home
      nfs: {path: /share1/home, server: s}
    - name: data
      hostPath: {path: /data}
  volume_mounts:
    - {name: home, mountPath: /home}
    - {name: data, mountPath: /data, readOnly: true}
    - {name: home, mountPath: /scratch, subPath: scratch}
";

    #[test]
    fn the_0x_target_syntax_is_one_entry_per_mount() {
        let t = tr_with(TWO_MOUNTS, Syntax::Flat, &Answers::default());
        let y = yaml(&t);
        assert!(!y.contains("volumeMounts"));
        assert_eq!(y.matches("- containerPath:").count(), 3);
    }

    #[test]
    fn the_4x_target_syntax_names_volumes_and_mounts_them() {
        let t = tr_with(TWO_MOUNTS, Syntax::Split, &Answers::default());
        assert_eq!(
            yaml(&t),
            "controller:
  config:
    lab:
      volumes:
        - name: \"home\"
          source:
            type: \"nfs\"
            server: \"s\"
            serverPath: \"/share1/home\"
        - name: \"data\"
          source:
            type: \"hostPath\"
            path: \"/data\"
      volumeMounts:
        - containerPath: \"/home\"
          readOnly: false
          volumeName: \"home\"
        - containerPath: \"/data\"
          readOnly: true
          volumeName: \"data\"
        - containerPath: \"/scratch\"
          subPath: \"scratch\"
          readOnly: false
          volumeName: \"home\"
"
        );
    }

    #[test]
    fn jinja_lab_variables_are_dropped_and_listed() {
        let t = tr("config:
  lab_environment:
    AUTO_REPO_URLS: https://github.com/lsst-sqre/system-test
    PANDA_CONFIG_ROOT: \"~\"
    EXTERNAL_UID: \"{{ uid }}\"
");
        assert_eq!(
            t.env,
            [
                (
                    "AUTO_REPO_URLS".to_string(),
                    "https://github.com/lsst-sqre/system-test".to_string()
                ),
                ("PANDA_CONFIG_ROOT".to_string(), "~".to_string()),
            ]
        );
        assert_eq!(
            items_of(&t),
            [
                "5: the lab variable `EXTERNAL_UID` is a Jinja template (`{{ uid }}`), which nublado v2 expanded for each user and v3 copies verbatim"
            ]
        );
        assert!(yaml(&t).contains("      env:\n        AUTO_REPO_URLS: \"https://github.com/lsst-sqre/system-test\"\n        PANDA_CONFIG_ROOT: \"~\"\n"));
    }

    const GAR: &str = "serviceAccount:
  annotations: {
    iam.gke.io/gcp-service-account: cachemachine-wi@p.iam.gserviceaccount.com
  }

autostart:
  jupyter: |
    {
      \"name\": \"jupyter\",
      \"labels\": {},
      \"repomen\": [
        {
          \"type\": \"RubinRepoGar\",
          \"registry_url\": \"us-central1-docker.pkg.dev\",
          \"gar_repository\": \"sciplat\",
          \"gar_image\": \"sciplat-lab\",
          \"project_id\": \"rubin-shared\",
          \"location\": \"us-central1\",
          \"recommended_tag\": \"recommended\",
          \"num_releases\": 1,
          \"num_weeklies\": 2,
          \"num_dailies\": 3
        },
        {
          \"type\": \"SimpleRepoMan\",
          \"images\": [
            {\"image_url\": \"us-central1-docker.pkg.dev/rubin-shared/sciplat/sciplat-lab:w_2023_07\", \"name\": \"Weekly\"},
            {\"image_url\": \"docker.io/other/image:1\", \"name\": \"Other\"}
          ]
        }
      ]
    }
";

    fn images_of(cachemachine: &str) -> Translation {
        let d = doc(cachemachine);
        let files = V2Files {
            cachemachine: Some(File {
                rel: "applications/cachemachine/values-x.yaml",
                doc: &d,
            }),
            ..V2Files::default()
        };
        translate(&files, Syntax::Flat, &Answers::default())
    }

    #[test]
    fn cachemachine_becomes_camel_case_images() {
        let t = images_of(GAR);
        let y = yaml(&t);
        assert_eq!(
            y,
            "controller:
  config:
    images:
      source:
        type: \"google\"
        location: \"us-central1\"
        projectId: \"rubin-shared\"
        repository: \"sciplat\"
        image: \"sciplat-lab\"
      recommendedTag: \"recommended\"
      numReleases: 1
      numWeeklies: 2
      numDailies: 3
      pin:
        - \"w_2023_07\"
"
        );
        assert!(
            !y.contains("num_") && !y.contains("_tag"),
            "no snake_case keys"
        );
        let items: Vec<String> = t
            .untranslated
            .iter()
            .map(|u| format!("{}: {}", u.line.unwrap_or(0), u.what))
            .collect();
        assert_eq!(
            items,
            [
                "28: the pinned image `docker.io/other/image:1` is not a tag of the image source",
                "3: the image source is Google Artifact Registry (cachemachine used `cachemachine-wi@p.iam.gserviceaccount.com`)",
            ]
        );
    }

    #[test]
    fn docker_repoman_settings_and_what_v3_lacks() {
        let t = images_of(
            "autostart:
  jupyter: |
    {
      \"name\": \"jupyter\",
      \"labels\": {\"jupyterlab\": \"ok\"},
      \"repomen\": [
        {
          \"type\": \"RubinRepoMan\",
          \"registry_url\": \"ts-dockerhub.lsst.org\",
          \"repo\": \"sal-sciplat-lab\",
          \"recommended_tag\": \"recommended_c0031\",
          \"num_releases\": 0,
          \"cycle\": 31,
          \"alias_tags\": [\"latest\", \"latest_daily\"],
          \"verify\": true
        }
      ]
    }
",
        );
        let y = yaml(&t);
        assert!(y.contains("      source:\n        type: \"docker\"\n        registry: \"ts-dockerhub.lsst.org\"\n        repository: \"sal-sciplat-lab\"\n      recommendedTag: \"recommended_c0031\"\n      numReleases: 0\n      cycle: 31\n      aliasTags:\n        - \"latest\"\n        - \"latest_daily\"\n"), "{y}");
        let items: Vec<String> = t
            .untranslated
            .iter()
            .map(|u| format!("{}: {}", u.line.unwrap_or(0), u.what))
            .collect();
        assert_eq!(
            items,
            [
                "5: cachemachine prepulled only on nodes with the given `labels`",
                "15: the repoman setting `verify` has no nublado v3 equivalent",
            ]
        );
    }

    #[test]
    fn moneypenny_commissioning_becomes_init_containers() {
        let d = doc("orders:
  commission:
    - name: initcommission
      image: lsstsqre/inituserhome
      securityContext:
        runAsUser: 0
        runAsNonRootUser: false
      volumeMounts:
        - mountPath: /homedirs
          name: homedirs
  volumes:
    - name: homedirs
      nfs:
        server: 10.13.105.122
        path: /share1/home
");
        let files = V2Files {
            moneypenny: Some(File {
                rel: "applications/moneypenny/values-x.yaml",
                doc: &d,
            }),
            ..V2Files::default()
        };
        let t = translate(&files, Syntax::Flat, &Answers::default());
        assert!(
            yaml(&t).ends_with(
                "      initContainers:
        - name: \"initcommission\"
          image: \"lsstsqre/inituserhome\"
          privileged: true
          volumes:
            - containerPath: \"/homedirs\"
              mode: \"rw\"
              source:
                type: \"nfs\"
                server: \"10.13.105.122\"
                serverPath: \"/share1/home\"
"
            ),
            "{}",
            yaml(&t)
        );
        let t = translate(&files, Syntax::Split, &Answers::default());
        assert!(
            yaml(&t).contains(
                "        - name: \"initcommission\"
          image:
            repository: \"lsstsqre/inituserhome\"
            tag: \"latest\"
          privileged: true
          volumeMounts:
            - containerPath: \"/homedirs\"
              readOnly: false
              volumeName: \"homedirs\"
      volumes:
        - name: \"homedirs\"
"
            ),
            "{}",
            yaml(&t)
        );
        assert!(t.notes[0].contains("before every lab start"));
    }

    #[test]
    fn moneypenny_host_path_type_and_extra_settings_are_reported() {
        let d = doc("orders:
  commission:
    - name: initcommission
      image: lsstsqre/inituserhome:1.2
      securityContext:
        runAsUser: 1000
      command: [\"/bin/init\"]
      volumeMounts:
        - mountPath: /homedirs
          name: homedirs
  retire:
    - name: farthing
      image: lsstsqre/farthing
  volumes:
    - name: homedirs
      hostPath:
        path: /data/rsp/home
        type: Directory
");
        let files = V2Files {
            moneypenny: Some(File {
                rel: "applications/moneypenny/values-x.yaml",
                doc: &d,
            }),
            ..V2Files::default()
        };
        let t = translate(&files, Syntax::Split, &Answers::default());
        let items: Vec<String> = t
            .untranslated
            .iter()
            .filter(|u| u.file.contains("moneypenny"))
            .map(|u| format!("{}: {}", u.line.unwrap_or(0), u.what))
            .collect();
        assert_eq!(
            items,
            [
                "7: the commissioning container `initcommission` sets `command`",
                "15: the hostPath volume `homedirs` has `type: Directory`, which nublado v3 cannot express",
                "11: moneypenny's `retire` containers ran when a user was retired",
            ]
        );
        let c = &t.init_containers[0];
        assert!(!c.privileged, "UID 1000 is v3's unprivileged user");
        assert_eq!(
            c.image_parts(),
            ("lsstsqre/inituserhome".into(), "1.2".into())
        );
    }

    #[test]
    fn answers_parse_and_reject_nonsense() {
        assert_eq!(
            parse_storage_class("repo=rook"),
            Ok(("repo".into(), "rook".into()))
        );
        assert!(parse_storage_class("repo").is_err());
        assert!(parse_storage_class("=rook").is_err());
        assert_eq!(
            parse_access_modes("repo=ReadOnlyMany,ReadWriteOnce"),
            Ok((
                "repo".into(),
                vec!["ReadOnlyMany".into(), "ReadWriteOnce".into()]
            ))
        );
        assert!(
            parse_access_modes("repo=ReadWriteSome")
                .unwrap_err()
                .contains("not an access mode")
        );
        for ok in ["1Gi", "500M", "1.5Ti", "10"] {
            assert!(parse_size(&format!("r={ok}")).is_ok(), "{ok}");
        }
        for bad in ["Gi", "1GB", "1.", "-1Gi"] {
            assert!(parse_size(&format!("r={bad}")).is_err(), "{bad}");
        }
        let mut a = Answers::default();
        a.storage_class.insert("repo".into(), "rook".into());
        a.size.insert("home".into(), "2Gi".into());
        assert_eq!(
            a.args(),
            ["--pvc-storage-class repo=rook", "--pvc-size home=2Gi"]
        );
        assert_eq!(a.names().into_iter().collect::<Vec<_>>(), ["home", "repo"]);
    }

    #[test]
    fn values_naming_v2_are_rewritten_or_listed() {
        assert_eq!(
            rewrite_v2_names("hub.nublado2,.slac.stanford.edu"),
            Ok((
                "hub.nublado,.slac.stanford.edu".to_string(),
                vec!["`hub.nublado2` rewritten `hub.nublado`".to_string()]
            ))
        );
        assert_eq!(
            rewrite_v2_names("/opt/lsst/software/jupyterlab/butler-secret/aws.ini")
                .unwrap()
                .0,
            "/opt/lsst/software/jupyterlab/secrets/aws.ini"
        );
        assert_eq!(
            rewrite_v2_names("nublado2-alice").unwrap().0,
            "nublado-alice"
        );
        assert_eq!(
            rewrite_v2_names("plain").unwrap(),
            ("plain".to_string(), vec![])
        );
        assert_eq!(
            rewrite_v2_names("http://nublado2.svc"),
            Err("http://nublado2.svc".to_string())
        );
    }

    #[test]
    fn lab_annotations_and_the_culler_follow_the_chart() {
        let text = "jupyterhub:
  cull:
    timeout: 432000
  singleuser:
    extraAnnotations:
      k8s.v1.cni.cncf.io/networks: kube-system/dds
    nodeSelector: {a: b}
";
        let d = doc(text);
        let files = V2Files {
            nublado2: Some(File { rel: V2, doc: &d }),
            ..V2Files::default()
        };
        let t = translate(&files, Syntax::Flat, &Answers::default());
        let y = t.values_yaml().unwrap();
        assert!(
            y.contains("    lab:\n      extraAnnotations:\n        k8s.v1.cni.cncf.io/networks: \"kube-system/dds\"\n"),
            "{y}"
        );
        assert!(
            y.contains("jupyterhub:\n  cull:\n    timeout: 432000\n"),
            "{y}"
        );
        let kinds: Vec<(String, crate::playbook::ledger::Kind)> = t
            .ledger
            .entries
            .iter()
            .map(|e| (e.path.clone(), e.fate.kind()))
            .collect();
        use crate::playbook::ledger::Kind::*;
        assert_eq!(
            kinds,
            [
                ("jupyterhub.cull.timeout".to_string(), Carried),
                (
                    "jupyterhub.singleuser.extraAnnotations.\"k8s.v1.cni.cncf.io/networks\""
                        .to_string(),
                    Translated
                ),
                ("jupyterhub.singleuser.nodeSelector.a".to_string(), Operator),
            ]
        );
        // A chart without `jupyterhub.cull` (a version that culls its own way): listed.
        let chart = doc("controller: {}\nproxy:\n  ingress: {annotations: {}}\n");
        let mut ctx = Context::bare(Syntax::Flat);
        ctx.v3_chart = Some(&chart);
        let t = translate_with(&files, &ctx, &Answers::default());
        assert!(!t.values_yaml().unwrap().contains("cull"));
        assert!(
            t.untranslated
                .iter()
                .any(|u| u.what == "the lab culler setting `jupyterhub.cull.timeout`"),
            "{:?}",
            t.untranslated
        );
    }
}
