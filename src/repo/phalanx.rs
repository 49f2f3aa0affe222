//! A Phalanx repository: environments (`environments/values-<env>.yaml`, in Format A or C,
//! detected per file, over the defaults of `environments/values.yaml`), applications
//! (`applications/<app>/` with `Chart.yaml`, chart defaults in `values.yaml`, and
//! `values-<env>.yaml` per environment), and the effective set of enabled applications.
//!
//! Format A lists every application as a block (`nublado2:` / `  enabled: true`); Format C
//! lists only non-defaults under `applications:` (`nublado2: true`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::files::{Files, relative, yaml_files};
use super::{RepoError, lookup, lookup_str};
use crate::yaml::{Data, Document, Node, NodeKind, ScalarStyle};

pub const ENVIRONMENTS: &str = "environments";
/// Applications every environment runs whatever its flags say: Argo CD is installed by the
/// installer before the app-of-apps exists, and has values files for every environment.
pub const ALWAYS_ENABLED: [&str; 1] = ["argocd"];
pub const DEFAULTS_FILE: &str = "environments/values.yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Format {
    /// Every application as a block with `enabled:`.
    A,
    /// Non-default applications as booleans under `applications:`.
    C,
    /// Both in one file (a mistake).
    #[serde(rename = "mixed")]
    Mixed,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::A => "A",
            Format::C => "C",
            Format::Mixed => "mixed",
        })
    }
}

/// How an application flag is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagForm {
    /// Format A: `app:` / `  enabled: true`.
    Block,
    /// Format C: `applications:` / `  app: true`.
    Entry,
    /// The short-lived `applications:` / `  app:` / `    enabled: true`.
    NestedEnabled,
}

/// One application flag in an environment file.
#[derive(Debug, Clone)]
pub struct AppFlag {
    pub app: String,
    /// `None` when the flag is not a boolean.
    pub value: Option<bool>,
    pub form: FlagForm,
    /// Offset of the application's key.
    pub key_offset: usize,
    /// Offset of the flag's value (or of the key when there is none).
    pub value_offset: usize,
}

/// An environment file (or the defaults file), as far as applications go.
#[derive(Debug, Clone)]
pub struct EnvFile {
    pub rel: String,
    pub format: Format,
    pub flags: Vec<AppFlag>,
    /// Whether the file parsed; when not, it has no flags and its syntax error is reported by
    /// the YAML rules.
    pub parsed: bool,
}

#[derive(Debug, Clone)]
pub struct Environment {
    /// From the file name: `values-<name>.yaml`.
    pub name: String,
    pub file: EnvFile,
    /// `name:` (or Format A's older `environment:`).
    pub declared_name: Option<String>,
    pub fqdn: Option<String>,
    pub vault_url: Option<String>,
    pub vault_path_prefix: Option<String>,
    /// Applications enabled here: the defaults, overridden by this file's flags.
    pub enabled: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct Application {
    pub name: String,
    /// `applications/<name>`.
    pub dir: String,
    pub has_chart: bool,
    /// `appVersion` of `Chart.yaml`.
    pub app_version: Option<String>,
    /// Environment name → `applications/<name>/values-<env>.yaml`.
    pub values: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Phalanx {
    pub files: Files,
    pub defaults: EnvFile,
    pub environments: Vec<Environment>,
    pub applications: BTreeMap<String, Application>,
}

impl Phalanx {
    pub fn load(root: &Path) -> Result<Phalanx, RepoError> {
        let rels = yaml_files(root, "")?;
        let files = Files::load(root, rels)?;
        let defaults = read_env_file(&files, DEFAULTS_FILE);
        let mut default_on: BTreeSet<String> = defaults
            .flags
            .iter()
            .filter(|f| f.value == Some(true))
            .map(|f| f.app.clone())
            .collect();
        default_on.extend(ALWAYS_ENABLED.iter().map(|a| a.to_string()));

        let mut environments = Vec::new();
        for entry in read_dir_sorted(&root.join(ENVIRONMENTS))? {
            let Some(name) = values_env_name(&entry) else {
                continue;
            };
            let rel = format!("{ENVIRONMENTS}/{entry}");
            let file = read_env_file(&files, &rel);
            let mut enabled = default_on.clone();
            for f in &file.flags {
                match f.value {
                    Some(true) => {
                        enabled.insert(f.app.clone());
                    }
                    Some(false) => {
                        enabled.remove(&f.app);
                    }
                    None => {}
                }
            }
            let doc = files.doc(&rel);
            let text = |p: &str| doc.and_then(|d| lookup_str(d, p));
            environments.push(Environment {
                name: name.to_string(),
                declared_name: text("name").or_else(|| text("environment")),
                fqdn: text("fqdn"),
                vault_url: text("vaultUrl"),
                vault_path_prefix: text("vaultPathPrefix"),
                file,
                enabled,
            });
        }

        let mut applications = BTreeMap::new();
        let apps_dir = root.join("applications");
        for name in read_dir_sorted(&apps_dir)? {
            let dir_path = apps_dir.join(&name);
            if !dir_path.is_dir() || name.starts_with('.') {
                continue;
            }
            let dir = format!("applications/{name}");
            let chart = format!("{dir}/Chart.yaml");
            let app_version = files.doc(&chart).and_then(|d| lookup_str(d, "appVersion"));
            let mut values = BTreeMap::new();
            for entry in read_dir_sorted(&dir_path)? {
                if let Some(env) = values_env_name(&entry) {
                    values.insert(env.to_string(), format!("{dir}/{entry}"));
                }
            }
            applications.insert(
                name.clone(),
                Application {
                    name,
                    has_chart: files.contains(&chart),
                    app_version,
                    values,
                    dir,
                },
            );
        }
        Ok(Phalanx {
            files,
            defaults,
            environments,
            applications,
        })
    }

    pub fn env(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn is_enabled(&self, env: &str, app: &str) -> bool {
        self.env(env).is_some_and(|e| e.enabled.contains(app))
    }

    /// `applications/<app>/values-<env>.yaml`, when it exists.
    pub fn values_file(&self, app: &str, env: &str) -> Option<&str> {
        self.applications
            .get(app)
            .and_then(|a| a.values.get(env))
            .map(String::as_str)
    }

    /// `applications/<app>/values.yaml`.
    pub fn chart_defaults(&self, app: &str) -> String {
        format!("applications/{app}/values.yaml")
    }

    /// The value at a PATH for an application in an environment: from its
    /// `values-<env>.yaml`, else from the chart defaults. Returns the node and its file.
    pub fn setting<'a>(&'a self, app: &str, env: &str, path: &str) -> Option<Setting<'a>> {
        let env_file = self.values_file(app, env);
        let defaults = self.chart_defaults(app);
        for rel in env_file
            .into_iter()
            .chain(std::iter::once(defaults.as_str()))
        {
            if let Some(doc) = self.files.doc(rel)
                && let Some(node) = lookup(doc, path)
            {
                let rel = self
                    .files
                    .get(rel)
                    .map(|l| l.rel.as_str())
                    .unwrap_or_default();
                return Some(Setting { node, doc, rel });
            }
        }
        None
    }

    /// The application's `appVersion`, as numbers (`6.1.1` → `[6, 1, 1]`).
    pub fn app_version(&self, app: &str) -> Option<Vec<u64>> {
        let v = self.applications.get(app)?.app_version.as_deref()?;
        let v = v.trim_start_matches('v');
        let parts: Vec<u64> = v
            .split(['.', '-', '+'])
            .map_while(|p| p.parse().ok())
            .collect();
        (!parts.is_empty()).then_some(parts)
    }
}

/// A value found by `Phalanx::setting`.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    pub node: &'a Node,
    pub doc: &'a Document,
    pub rel: &'a str,
}

impl Setting<'_> {
    pub fn text(&self) -> Option<&str> {
        self.node.scalar_text()
    }

    /// One-based line and column of the value.
    pub fn position(&self) -> (usize, usize) {
        self.doc.lines().line_col(self.node.span.start)
    }
}

/// `values-<env>.yaml` → `env`.
pub fn values_env_name(file_name: &str) -> Option<&str> {
    file_name
        .strip_prefix("values-")?
        .strip_suffix(".yaml")
        .filter(|s| !s.is_empty())
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<String>, RepoError> {
    let rd = std::fs::read_dir(dir).map_err(|source| RepoError::Unreadable {
        path: relative(dir.parent().unwrap_or(dir), dir),
        source,
    })?;
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Reads the application flags of an environment file and its format.
pub fn read_env_file(files: &Files, rel: &str) -> EnvFile {
    let mut file = EnvFile {
        rel: rel.to_string(),
        format: Format::C,
        flags: Vec::new(),
        parsed: false,
    };
    let Some(doc) = files.doc(rel) else {
        return file;
    };
    file.parsed = true;
    let Some(root) = doc.root(0).and_then(Node::as_mapping) else {
        return file;
    };
    let mut has_c = false;
    let mut has_a = false;
    for e in &root.entries {
        let Some(key) = e.key.scalar_text() else {
            continue;
        };
        if key == "applications"
            && let Some(apps) = e.value.as_mapping()
        {
            has_c = true;
            for a in &apps.entries {
                let Some(app) = a.key.scalar_text() else {
                    continue;
                };
                let (value, form, at) = match &a.value.kind {
                    NodeKind::Mapping(m) => {
                        let enabled = m.get("enabled");
                        (
                            enabled.and_then(|en| as_bool(&en.value)),
                            FlagForm::NestedEnabled,
                            enabled.map_or(a.key.span.start, |en| en.value.span.start),
                        )
                    }
                    _ => (as_bool(&a.value), FlagForm::Entry, a.value.span.start),
                };
                file.flags.push(AppFlag {
                    app: app.to_string(),
                    value,
                    form,
                    key_offset: a.key.span.start,
                    value_offset: at,
                });
            }
        } else if let Some(block) = e.value.as_mapping()
            && let Some(enabled) = block.get("enabled")
        {
            has_a = true;
            file.flags.push(AppFlag {
                app: key.to_string(),
                value: as_bool(&enabled.value),
                form: FlagForm::Block,
                key_offset: e.key.span.start,
                value_offset: enabled.value.span.start,
            });
        }
    }
    file.format = match (has_a, has_c) {
        (true, true) => Format::Mixed,
        (true, false) => Format::A,
        _ => Format::C,
    };
    file
}

/// `true`/`false` as the YAML 1.2 core schema reads them; `None` for anything else.
pub fn as_bool(node: &Node) -> Option<bool> {
    match &node.kind {
        NodeKind::Scalar(s) if s.style == ScalarStyle::Plain => {
            match crate::yaml::resolve_plain(&s.value) {
                Data::Bool(b) => Some(b),
                _ => None,
            }
        }
        _ => None,
    }
}
