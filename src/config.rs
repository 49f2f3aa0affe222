//! `gitops-migrate.toml`: where the window runbooks find the cluster and the services of each
//! environment (kube context, Argo CD, mobu, Vault) and which environment variables hold their
//! tokens; per cluster, the kube context (for the hub move). Read at the repository root, or
//! from `--config FILE`; edited by `gitops-migrate config set` with toml_edit, so comments,
//! order and formatting survive.
//!
//! ```toml
//! [environments.idfdev]
//! context = "gke_science-platform-dev_us-central1_rsp-dev"
//! argocd_token_env = "IDFDEV_ARGOCD_TOKEN"   # default ARGOCD_TOKEN
//!
//! [clusters.utoronto]
//! context = "utoronto"
//! homes = "nfs-utoronto:/export/home-01/homes"   # <homes>/<hub>: the hub's home directories
//! ```
//!
//! A cluster is identified by its API server and the UID of its `kube-system` namespace
//! (`api_server`, `cluster_uid`): a window run records them on first use (a person confirms)
//! and refuses, before any change, a cluster that does not match.
//!
//! Defaults come from the environment file: `https://<fqdn>/argo-cd`, `https://<fqdn>/mobu`,
//! `https://<fqdn>` (the hubs' health), `vaultUrl`, `vaultPathPrefix`, and the token variables
//! `ARGOCD_TOKEN`, `MOBU_TOKEN`, `VAULT_TOKEN`. Services are trusted through the system's trust
//! store; `<service>_ca_file` (`argocd`, `mobu`, `vault`, `health`) names a PEM file of the CAs
//! to trust for one service instead. `poll_interval_ms` and `sync_settle_ms` (whole
//! numbers) shorten the steps' waits, for tests against doubles. Tokens are never stored here and never given as arguments: they are read
//! from the named environment variable, else from the file named by `<service>_token_file`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::{DocumentMut, Item, Table, Value};

use crate::repo::Phalanx;
use crate::repo::phalanx::Environment;

/// The defaults of the timing keys, for `config get` and for the runtime when a key is not
/// set: `poll_interval_ms`, `sync_settle_ms` and `lease_seconds`.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);
pub const DEFAULT_SYNC_SETTLE: Duration = Duration::from_secs(20);
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The file's name at the repository root.
pub const FILE_NAME: &str = "gitops-migrate.toml";

/// The comment a new file starts with.
const HEADER: &str = "# gitops-migrate configuration: the kube context and service endpoints of each\n\
# environment (and cluster). Tokens are never stored here: name the environment\n\
# variables (or files) that hold them. See `gitops-migrate config --help`.\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A kube context name.
    Context,
    /// An `http(s)://` URL.
    Url,
    /// The name of an environment variable.
    EnvVar,
    /// A file path.
    File,
    /// Any non-empty text.
    Text,
    /// A whole number of milliseconds, from 1 to 3,600,000 (an integer, or its digits).
    Millis,
    /// A whole number of seconds, from 1 to 3600.
    Seconds,
    /// A Kubernetes UID (hex digits and dashes).
    Uid,
}

struct Field {
    name: &'static str,
    kind: Kind,
    about: &'static str,
}

const ENV_FIELDS: &[Field] = &[
    Field {
        name: "context",
        kind: Kind::Context,
        about: "kube context of the environment's cluster (no default)",
    },
    Field {
        name: "api_server",
        kind: Kind::Url,
        about: "the API server of the environment's cluster (recorded by the first window run)",
    },
    Field {
        name: "cluster_uid",
        kind: Kind::Uid,
        about: "UID of that cluster's kube-system namespace: its fingerprint (recorded by the first window run)",
    },
    Field {
        name: "lease_seconds",
        kind: Kind::Seconds,
        about: "how long a window's lease in the cluster outlives its last renewal (default 60)",
    },
    Field {
        name: "argocd_url",
        kind: Kind::Url,
        about: "Argo CD (default https://<fqdn>/argo-cd)",
    },
    Field {
        name: "mobu_url",
        kind: Kind::Url,
        about: "mobu (default https://<fqdn>/mobu)",
    },
    Field {
        name: "vault_url",
        kind: Kind::Url,
        about: "Vault (default: vaultUrl of the environment file)",
    },
    Field {
        name: "vault_path_prefix",
        kind: Kind::Text,
        about: "Vault path prefix with its mount (default: vaultPathPrefix of the environment file)",
    },
    Field {
        name: "health_url",
        kind: Kind::Url,
        about: "where the hubs' health is checked: <health_url><route>/hub/health (default https://<fqdn>)",
    },
    Field {
        name: "argocd_ca_file",
        kind: Kind::File,
        about: "PEM file of the CA(s) trusted for Argo CD instead of the system's trust store (a site CA, a TLS-inspecting proxy)",
    },
    Field {
        name: "mobu_ca_file",
        kind: Kind::File,
        about: "PEM file of the CA(s) trusted for mobu instead of the system's trust store",
    },
    Field {
        name: "vault_ca_file",
        kind: Kind::File,
        about: "PEM file of the CA(s) trusted for Vault instead of the system's trust store",
    },
    Field {
        name: "health_ca_file",
        kind: Kind::File,
        about: "PEM file of the CA(s) trusted for the hubs' health checks instead of the system's trust store",
    },
    Field {
        name: "poll_interval_ms",
        kind: Kind::Millis,
        about: "ms between two polls of a state being waited for (default 2000; tests shorten it)",
    },
    Field {
        name: "sync_settle_ms",
        kind: Kind::Millis,
        about: "ms an application must stay Synced and Healthy after a sync (default 20000; tests shorten it)",
    },
    Field {
        name: "argocd_token_env",
        kind: Kind::EnvVar,
        about: "variable holding the Argo CD token (default ARGOCD_TOKEN)",
    },
    Field {
        name: "mobu_token_env",
        kind: Kind::EnvVar,
        about: "variable holding the mobu (Gafaelfawr) token (default MOBU_TOKEN)",
    },
    Field {
        name: "vault_token_env",
        kind: Kind::EnvVar,
        about: "variable holding the Vault token (default VAULT_TOKEN)",
    },
    Field {
        name: "hub_db_password_file",
        kind: Kind::File,
        about: "file holding nublado v3's database password (an external database); generated when unset",
    },
    Field {
        name: "slack_webhook_source",
        kind: Kind::Text,
        about: "Vault secret and key the Slack webhook is copied from, PATH#KEY (default mobu#app-alert-webhook)",
    },
    Field {
        name: "postgres_admin_url",
        kind: Kind::Text,
        about: "postgresql:// URL (no password) of the server running v2's database, for finish's cleanup",
    },
    Field {
        name: "postgres_password_env",
        kind: Kind::EnvVar,
        about: "variable holding that server's password (default PGPASSWORD)",
    },
    Field {
        name: "postgres_password_file",
        kind: Kind::File,
        about: "file holding that password, when its variable is not set",
    },
    Field {
        name: "argocd_token_file",
        kind: Kind::File,
        about: "file holding the Argo CD token, when its variable is not set",
    },
    Field {
        name: "mobu_token_file",
        kind: Kind::File,
        about: "file holding the mobu token, when its variable is not set",
    },
    Field {
        name: "vault_token_file",
        kind: Kind::File,
        about: "file holding the Vault token, when its variable is not set",
    },
];

/// Where `vault-secret` copies the Slack webhook from: mobu's alert webhook.
pub const DEFAULT_WEBHOOK_SOURCE: &str = "mobu#app-alert-webhook";

const CLUSTER_FIELDS: &[Field] = &[
    Field {
        name: "context",
        kind: Kind::Context,
        about: "kube context of the cluster (for the hub move)",
    },
    Field {
        name: "api_server",
        kind: Kind::Url,
        about: "the cluster's API server (recorded by the first window run)",
    },
    Field {
        name: "cluster_uid",
        kind: Kind::Uid,
        about: "UID of the cluster's kube-system namespace: its fingerprint (recorded by the first window run)",
    },
    Field {
        name: "lease_seconds",
        kind: Kind::Seconds,
        about: "how long a window's lease in the cluster outlives its last renewal (default 60)",
    },
    Field {
        name: "homes",
        kind: Kind::Text,
        about: "directory holding each hub's home directories (<homes>/<hub>), local or host:path",
    },
    Field {
        name: "poll_interval_ms",
        kind: Kind::Millis,
        about: "pause between two polls of a state being waited for (default 2000)",
    },
];

/// What identifies a cluster, as recorded: its API server and its `kube-system` UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub api_server: Option<String>,
    pub uid: Option<String>,
}

/// The hub move's settings of one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSettings {
    pub cluster: String,
    pub context: Option<String>,
    pub fingerprint: Fingerprint,
    /// `lease_seconds`, when configured.
    pub lease: Option<Duration>,
    /// The directory holding each hub's home directories (a local path or `host:path`).
    pub homes: Option<String>,
    pub poll_interval: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}:{line}:{col}: {message}")]
    Syntax {
        path: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{}unknown configuration key `{key}`{}; the known keys are:\n{}",
        .at.as_ref().map(|a| format!("{a}: ")).unwrap_or_default(),
        .hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default(),
        known_keys())]
    BadKey {
        key: String,
        hint: Option<String>,
        /// `file:line` when the key was found in the file.
        at: Option<String>,
    },
    #[error("{}`{key}`: {reason}", .at.as_ref().map(|a| format!("{a}: ")).unwrap_or_default())]
    BadValue {
        key: String,
        reason: String,
        at: Option<String>,
    },
    #[error("{path}: {message}")]
    Token { path: String, message: String },
}

/// Every key, one per line, with what it is.
pub fn known_keys() -> String {
    let mut s = String::new();
    for f in ENV_FIELDS {
        s.push_str(&format!(
            "  environments.<env>.{:<19} {}\n",
            f.name, f.about
        ));
    }
    for f in CLUSTER_FIELDS {
        s.push_str(&format!(
            "  clusters.<cluster>.{:<19} {}\n",
            f.name, f.about
        ));
    }
    s.trim_end().to_string()
}

/// A configuration key: `environments.<env>.<field>` or `clusters.<cluster>.<field>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `environments` or `clusters`.
    pub section: &'static str,
    pub name: String,
    pub field: &'static str,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.section, self.name, self.field)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Key {
    pub fn parse(key: &str) -> Result<Key, ConfigError> {
        let bad = |hint: Option<String>| ConfigError::BadKey {
            key: key.to_string(),
            hint,
            at: None,
        };
        let parts: Vec<&str> = key.split('.').collect();
        if parts.len() != 3 {
            return Err(bad(None));
        }
        let (section, fields): (&'static str, &[Field]) = match parts[0] {
            "environments" => ("environments", ENV_FIELDS),
            "clusters" => ("clusters", CLUSTER_FIELDS),
            other => {
                let hint = crate::suggest::closest(other, ["environments", "clusters"])
                    .map(|c| format!("did you mean `{c}`?"));
                return Err(bad(hint));
            }
        };
        if !valid_name(parts[1]) {
            return Err(bad(None));
        }
        let Some(field) = fields.iter().find(|f| f.name == parts[2]) else {
            let hint = if parts[2].ends_with("_token") || parts[2] == "token" {
                Some(format!(
                    "tokens are never stored in the configuration or given as arguments: name the environment variable that holds it with `{}_env`",
                    parts[2]
                ))
            } else {
                crate::suggest::closest(parts[2], fields.iter().map(|f| f.name))
                    .map(|c| format!("did you mean `{c}`?"))
            };
            return Err(bad(hint));
        };
        Ok(Key {
            section,
            name: parts[1].to_string(),
            field: field.name,
        })
    }

    fn kind(&self) -> Kind {
        let fields = if self.section == "environments" {
            ENV_FIELDS
        } else {
            CLUSTER_FIELDS
        };
        fields
            .iter()
            .find(|f| f.name == self.field)
            .map(|f| f.kind)
            .unwrap_or(Kind::Text)
    }
}

/// The longest interval a `…_ms` key takes (an hour).
const MAX_MILLIS: u64 = 3_600_000;

/// Checks (and normalizes) a value for a key.
fn check_value(key: &Key, value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("the value is empty".into());
    }
    match key.kind() {
        Kind::Url => {
            if !(v.starts_with("https://") || v.starts_with("http://"))
                || v.contains(char::is_whitespace)
            {
                return Err(format!("`{v}` is not an http(s):// URL"));
            }
            Ok(v.trim_end_matches('/').to_string())
        }
        Kind::EnvVar => {
            let ok = v.len() <= 64
                && v.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if ok {
                Ok(v.to_string())
            } else {
                Err("this is not the name of an environment variable (upper-case letters, digits and `_`); name the variable that holds the token, never the token itself".into())
            }
        }
        Kind::Millis => match v.parse::<u64>() {
            Ok(ms) if (1..=MAX_MILLIS).contains(&ms) => Ok(ms.to_string()),
            _ => Err(format!(
                "`{v}` is not a number of milliseconds from 1 to {MAX_MILLIS}"
            )),
        },
        Kind::Seconds => match v.parse::<u64>() {
            Ok(s) if (1..=3600).contains(&s) => Ok(s.to_string()),
            _ => Err(format!("`{v}` is not a number of seconds from 1 to 3600")),
        },
        Kind::Uid => {
            if v.len() >= 8 && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                Ok(v.to_ascii_lowercase())
            } else {
                Err(format!(
                    "`{v}` is not a Kubernetes UID (`kubectl get namespace kube-system -o jsonpath='{{.metadata.uid}}'`)"
                ))
            }
        }
        Kind::Context | Kind::Text | Kind::File => {
            if v.contains(['\n', '\r']) {
                Err("the value spans lines".into())
            } else {
                Ok(v.to_string())
            }
        }
    }
}

/// Where a token is read from: the environment variable when it is set, else the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSource {
    /// `ARGOCD_TOKEN`.
    pub var: String,
    pub file: Option<PathBuf>,
}

impl TokenSource {
    /// The token, if the variable is set or the file is configured. A configured file that
    /// cannot be read is an error; the value is never part of an error.
    pub fn read(&self) -> Result<Option<String>, ConfigError> {
        if !self.var.is_empty()
            && let Ok(v) = std::env::var(&self.var)
            && !v.trim().is_empty()
        {
            return Ok(Some(v.trim().to_string()));
        }
        match &self.file {
            Some(f) => match std::fs::read_to_string(f) {
                Ok(t) if !t.trim().is_empty() => Ok(Some(t.trim().to_string())),
                Ok(_) => Err(ConfigError::Token {
                    path: f.display().to_string(),
                    message: "the token file is empty".into(),
                }),
                Err(e) => Err(ConfigError::Token {
                    path: f.display().to_string(),
                    message: format!("cannot read the token file: {e}"),
                }),
            },
            None => Ok(None),
        }
    }

    /// `$ARGOCD_TOKEN` or `$ARGOCD_TOKEN, else /path/file`.
    pub fn describe(&self) -> String {
        match &self.file {
            Some(f) => format!("${}, else {}", self.var, f.display()),
            None => format!("${}", self.var),
        }
    }
}

/// What the runbook steps of one environment need from the configuration, defaults applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSettings {
    pub env: String,
    pub context: Option<String>,
    /// The cluster the environment was first seen on.
    pub fingerprint: Fingerprint,
    /// `lease_seconds`, when configured.
    pub lease: Option<Duration>,
    /// `https://<fqdn>/argo-cd` unless configured (`None` without an fqdn).
    pub argocd_url: Option<String>,
    pub mobu_url: Option<String>,
    pub vault_url: Option<String>,
    pub vault_path_prefix: Option<String>,
    /// Where the hubs' health is checked (`https://<fqdn>` unless configured; `None` without
    /// an fqdn).
    pub health_url: Option<String>,
    /// `<service>_ca_file`: the CAs trusted for a service instead of the system's store.
    pub argocd_ca_file: Option<PathBuf>,
    pub mobu_ca_file: Option<PathBuf>,
    pub vault_ca_file: Option<PathBuf>,
    pub health_ca_file: Option<PathBuf>,
    /// `poll_interval_ms`, when configured (else the steps' default).
    pub poll_interval: Option<Duration>,
    /// `sync_settle_ms`, when configured (else the steps' default).
    pub sync_settle: Option<Duration>,
    pub argocd_token: TokenSource,
    pub mobu_token: TokenSource,
    pub vault_token: TokenSource,
    /// nublado v3's database password for an external database (`hub_db_password_file`).
    pub hub_db_password_file: Option<PathBuf>,
    /// `PATH#KEY` the Slack webhook is copied from (`slack_webhook_source`).
    pub slack_webhook_source: String,
    /// The server holding v2's `jupyterhub` database (`postgres_admin_url`).
    pub postgres_url: Option<String>,
    pub postgres_password: TokenSource,
}

impl EnvSettings {
    /// The values of every token that can be read now, for redaction.
    pub fn token_values(&self) -> Vec<String> {
        [
            &self.argocd_token,
            &self.mobu_token,
            &self.vault_token,
            &self.postgres_password,
        ]
        .iter()
        .filter_map(|t| t.read().ok().flatten())
        .collect()
    }
}

/// The configuration file, parsed for lookups and kept as a toml_edit document for edits.
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    exists: bool,
    doc: DocumentMut,
}

impl Config {
    /// `--config FILE`, else `<root>/gitops-migrate.toml`.
    pub fn path_for(root: &Path, explicit: Option<&Path>) -> PathBuf {
        explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.join(FILE_NAME))
    }

    /// Reads and checks the file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config {
                    path: path.to_path_buf(),
                    exists: false,
                    doc: DocumentMut::new(),
                });
            }
            Err(e) => {
                return Err(ConfigError::Io {
                    path: shown,
                    message: e.to_string(),
                });
            }
        };
        Config::parse(path, &text)
    }

    /// Parses and checks `text` as the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let spanned = toml_edit::Document::parse(text.to_string()).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: shown.clone(),
                line,
                col,
                message: e.message().trim().to_string(),
            }
        })?;
        check(&shown, text, spanned.as_table())?;
        Ok(Config {
            path: path.to_path_buf(),
            exists: true,
            doc: spanned.into_mut(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The file's text as it would be saved.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// The value set in the file for a key.
    pub fn get(&self, key: &Key) -> Option<String> {
        self.doc
            .get(key.section)
            .and_then(Item::as_table_like)
            .and_then(|t| t.get(&key.name))
            .and_then(Item::as_table_like)
            .and_then(|t| t.get(key.field))
            .and_then(|v| match v.as_integer() {
                Some(n) => Some(n.to_string()),
                None => v.as_str().map(str::to_string),
            })
    }

    /// Sets a key, keeping everything else (comments, order, the value's own trailing
    /// comment); creates the tables it needs.
    pub fn set(&mut self, key: &Key, value: &str) -> Result<(), ConfigError> {
        let value = check_value(key, value).map_err(|reason| ConfigError::BadValue {
            key: key.to_string(),
            reason,
            at: None,
        })?;
        let new_file = !self.exists && self.doc.as_table().is_empty();
        let root = self.doc.as_table_mut();
        let section = root.entry(key.section).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        let section = section
            .as_table_like_mut()
            .ok_or_else(|| not_a_table(key.section))?;
        let created = !section.contains_key(&key.name);
        let entry = section
            .entry(&key.name)
            .or_insert_with(|| Item::Table(Table::new()));
        if created
            && new_file
            && let Some(t) = entry.as_table_mut()
        {
            t.decor_mut().set_prefix(format!("{HEADER}\n"));
        }
        let table = entry
            .as_table_like_mut()
            .ok_or_else(|| not_a_table(&format!("{}.{}", key.section, key.name)))?;
        let new_value = || match key.kind() {
            Kind::Millis | Kind::Seconds => value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(value.as_str())),
            _ => Value::from(value.as_str()),
        };
        match table.get_mut(key.field) {
            Some(item) if item.is_value() => {
                let decor = item.as_value().map(|v| v.decor().clone());
                let mut v = new_value();
                if let Some(d) = decor {
                    *v.decor_mut() = d;
                }
                *item = Item::Value(v);
            }
            _ => {
                table.insert(key.field, Item::Value(new_value()));
            }
        }
        Ok(())
    }

    /// Writes the file atomically (a temporary file, then a rename).
    pub fn save(&mut self) -> Result<(), ConfigError> {
        let text = self.text();
        crate::yaml::write_atomic(&self.path, text.as_bytes()).map_err(|e| ConfigError::Io {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        self.exists = true;
        Ok(())
    }

    /// A relative token file is read from the configuration file's directory; `~/` is the
    /// home directory.
    fn resolve_file(&self, f: &str) -> PathBuf {
        if let Some(rest) = f.strip_prefix("~/")
            && let Some(home) = std::env::var_os("HOME")
        {
            return PathBuf::from(home).join(rest);
        }
        let p = PathBuf::from(f);
        if p.is_absolute() {
            p
        } else {
            self.path.parent().map(|d| d.join(&p)).unwrap_or(p)
        }
    }

    fn env_value(&self, env: &str, field: &'static str) -> Option<String> {
        self.get(&Key {
            section: "environments",
            name: env.to_string(),
            field,
        })
    }

    /// A `…_ms` key of an environment (checked when the file was loaded).
    fn millis(&self, env: &str, field: &'static str) -> Option<Duration> {
        self.env_value(env, field)
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    }

    /// The settings of an environment, with the defaults from its environment file (and, for
    /// Vault, from `environments/values.yaml`).
    pub fn environment(&self, p: &Phalanx, env: &Environment) -> EnvSettings {
        let get = |field| self.env_value(&env.name, field);
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let default = |path: &str| {
            p.files
                .doc(&p.defaults.rel)
                .and_then(|d| crate::repo::lookup_str(d, path))
        };
        let token = |service: &str, default: &str| TokenSource {
            var: self
                .env_value(&env.name, field_name(&format!("{service}_token_env")))
                .unwrap_or_else(|| default.to_string()),
            file: self
                .env_value(&env.name, field_name(&format!("{service}_token_file")))
                .map(|f| self.resolve_file(&f)),
        };
        EnvSettings {
            env: env.name.clone(),
            context: get("context"),
            fingerprint: Fingerprint {
                api_server: get("api_server"),
                uid: get("cluster_uid"),
            },
            lease: get("lease_seconds")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs),
            argocd_url: get("argocd_url")
                .or_else(|| env.fqdn.as_ref().map(|f| format!("https://{f}/argo-cd")))
                .map(|u| u.trim_end_matches('/').to_string()),
            mobu_url: get("mobu_url")
                .or_else(|| env.fqdn.as_ref().map(|f| format!("https://{f}/mobu")))
                .map(|u| u.trim_end_matches('/').to_string()),
            vault_url: get("vault_url")
                .or_else(|| nonempty(env.vault_url.clone()))
                .or_else(|| nonempty(default("vaultUrl")))
                .map(|u| u.trim_end_matches('/').to_string()),
            vault_path_prefix: get("vault_path_prefix")
                .or_else(|| nonempty(env.vault_path_prefix.clone()))
                .or_else(|| nonempty(default("vaultPathPrefix"))),
            health_url: get("health_url")
                .or_else(|| env.fqdn.as_ref().map(|f| format!("https://{f}")))
                .map(|u| u.trim_end_matches('/').to_string()),
            argocd_ca_file: get("argocd_ca_file").map(|f| self.resolve_file(&f)),
            mobu_ca_file: get("mobu_ca_file").map(|f| self.resolve_file(&f)),
            vault_ca_file: get("vault_ca_file").map(|f| self.resolve_file(&f)),
            health_ca_file: get("health_ca_file").map(|f| self.resolve_file(&f)),
            poll_interval: self.millis(&env.name, "poll_interval_ms"),
            sync_settle: self.millis(&env.name, "sync_settle_ms"),
            argocd_token: token("argocd", "ARGOCD_TOKEN"),
            mobu_token: token("mobu", "MOBU_TOKEN"),
            vault_token: token("vault", "VAULT_TOKEN"),
            hub_db_password_file: get("hub_db_password_file").map(|f| self.resolve_file(&f)),
            slack_webhook_source: get("slack_webhook_source")
                .unwrap_or_else(|| DEFAULT_WEBHOOK_SOURCE.to_string()),
            postgres_url: get("postgres_admin_url"),
            postgres_password: TokenSource {
                var: get("postgres_password_env").unwrap_or_else(|| "PGPASSWORD".to_string()),
                file: get("postgres_password_file").map(|f| self.resolve_file(&f)),
            },
        }
    }

    /// The default of an environment key (`None` for keys without one, such as `context`).
    pub fn default_for(&self, key: &Key, p: &Phalanx, env: &Environment) -> Option<String> {
        if key.section != "environments" {
            return None;
        }
        let s = Config {
            path: self.path.clone(),
            exists: false,
            doc: DocumentMut::new(),
        }
        .environment(p, env);
        match key.field {
            "argocd_url" => s.argocd_url,
            "mobu_url" => s.mobu_url,
            "vault_url" => s.vault_url,
            "vault_path_prefix" => s.vault_path_prefix,
            "health_url" => s.health_url,
            "poll_interval_ms" => Some(DEFAULT_POLL.as_millis().to_string()),
            "lease_seconds" => Some(DEFAULT_LEASE.as_secs().to_string()),
            "sync_settle_ms" => Some(DEFAULT_SYNC_SETTLE.as_millis().to_string()),
            "argocd_token_env" => Some(s.argocd_token.var),
            "mobu_token_env" => Some(s.mobu_token.var),
            "vault_token_env" => Some(s.vault_token.var),
            "slack_webhook_source" => Some(s.slack_webhook_source),
            "postgres_password_env" => Some(s.postgres_password.var),
            _ => None,
        }
    }

    /// The settings of a cluster (none has a default).
    pub fn cluster(&self, cluster: &str) -> ClusterSettings {
        let get = |field: &'static str| {
            self.get(&Key {
                section: "clusters",
                name: cluster.to_string(),
                field,
            })
        };
        ClusterSettings {
            cluster: cluster.to_string(),
            context: get("context"),
            fingerprint: Fingerprint {
                api_server: get("api_server"),
                uid: get("cluster_uid"),
            },
            lease: get("lease_seconds")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs),
            homes: get("homes"),
            poll_interval: get("poll_interval_ms")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis),
        }
    }
}

/// The static field name for a computed one (every field is in the tables above).
fn field_name(name: &str) -> &'static str {
    ENV_FIELDS
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.name)
        .expect("a known field")
}

fn not_a_table(what: &str) -> ConfigError {
    ConfigError::BadValue {
        key: what.to_string(),
        reason: "is a value in the file, not a table; fix the file by hand".into(),
        at: None,
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

/// Unknown sections, fields and bad values in a loaded file are errors, with their line.
fn check(shown: &str, text: &str, root: &Table) -> Result<(), ConfigError> {
    let at = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| format!("{shown}:{}", line_col(text, s.start).0))
            .or_else(|| Some(shown.to_string()))
    };
    for (section_key, section) in root.iter() {
        let key_span = root.key(section_key).and_then(|k| k.span());
        let fields = match section_key {
            "environments" => ENV_FIELDS,
            "clusters" => CLUSTER_FIELDS,
            other => {
                return Err(ConfigError::BadKey {
                    key: other.to_string(),
                    hint: crate::suggest::closest(other, ["environments", "clusters"])
                        .map(|c| format!("did you mean `{c}`?")),
                    at: at(key_span.or_else(|| section.span())),
                });
            }
        };
        let Some(section) = section.as_table_like() else {
            return Err(ConfigError::BadValue {
                key: section_key.to_string(),
                reason: "must be a table of names".into(),
                at: at(key_span),
            });
        };
        for (name, entry) in section.iter() {
            let name_span = section.key(name).and_then(|k| k.span());
            let Some(entry) = entry.as_table_like() else {
                return Err(ConfigError::BadValue {
                    key: format!("{section_key}.{name}"),
                    reason: "must be a table".into(),
                    at: at(name_span),
                });
            };
            for (field, value) in entry.iter() {
                let full = format!("{section_key}.{name}.{field}");
                let span = entry
                    .key(field)
                    .and_then(|k| k.span())
                    .or_else(|| name_span.clone());
                let key = match Key::parse(&full) {
                    Ok(k) => k,
                    Err(ConfigError::BadKey { key, hint, .. }) => {
                        return Err(ConfigError::BadKey {
                            key,
                            hint,
                            at: at(span),
                        });
                    }
                    Err(e) => return Err(e),
                };
                debug_assert!(fields.iter().any(|f| f.name == key.field));
                let number = value
                    .as_integer()
                    .filter(|_| matches!(key.kind(), Kind::Millis | Kind::Seconds))
                    .map(|n| n.to_string());
                let Some(v) = number.as_deref().or_else(|| value.as_str()) else {
                    return Err(ConfigError::BadValue {
                        key: full,
                        reason: if key.kind() == Kind::Millis {
                            "must be a whole number of milliseconds".into()
                        } else if key.kind() == Kind::Seconds {
                            "must be a whole number of seconds".into()
                        } else {
                            "must be a string".into()
                        },
                        at: at(span),
                    });
                };
                check_value(&key, v).map_err(|reason| ConfigError::BadValue {
                    key: full.clone(),
                    reason,
                    at: at(span),
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let k = Key::parse("environments.idfdev.context").unwrap();
        assert_eq!(k.to_string(), "environments.idfdev.context");
        assert!(Key::parse("clusters.utoronto.context").is_ok());
        assert!(Key::parse("clusters.utoronto.argocd_url").is_err());
        assert!(Key::parse("environments.idfdev").is_err());
        let e = Key::parse("environments.idfdev.argocd_token").unwrap_err();
        assert!(e.to_string().contains("never stored"), "{e}");
        let e = Key::parse("environment.idfdev.context").unwrap_err();
        assert!(e.to_string().contains("did you mean `environments`"), "{e}");
    }

    #[test]
    fn values() {
        let k = Key::parse("environments.x.argocd_token_env").unwrap();
        assert!(check_value(&k, "IDF_ARGOCD").is_ok());
        assert!(check_value(&k, "eyJhbGciOi.abc").is_err());
        let u = Key::parse("environments.x.mobu_url").unwrap();
        assert_eq!(
            check_value(&u, "https://x/mobu/").unwrap(),
            "https://x/mobu"
        );
        assert!(check_value(&u, "x/mobu").is_err());
        let ms = Key::parse("environments.x.poll_interval_ms").unwrap();
        assert_eq!(check_value(&ms, " 0250 ").unwrap(), "250");
        assert!(check_value(&ms, "0").is_err());
        assert!(check_value(&ms, "2s").is_err());
        assert!(check_value(&ms, "3600001").is_err());
        let uid = Key::parse("clusters.temple.cluster_uid").unwrap();
        assert_eq!(
            check_value(&uid, "6F1C2A9E-0000-4000-8000-000000000001").unwrap(),
            "6f1c2a9e-0000-4000-8000-000000000001"
        );
        assert!(check_value(&uid, "not a uid").is_err());
        let lease = Key::parse("environments.x.lease_seconds").unwrap();
        assert_eq!(check_value(&lease, "90").unwrap(), "90");
        assert!(check_value(&lease, "0").is_err());
        assert!(check_value(&lease, "3601").is_err());
    }

    #[test]
    fn milliseconds_are_numbers_in_the_file() {
        let path = Path::new("gitops-migrate.toml");
        let mut c = Config::parse(path, "[environments.idfdev]\nsync_settle_ms = 500\n").unwrap();
        let settle = Key::parse("environments.idfdev.sync_settle_ms").unwrap();
        assert_eq!(c.get(&settle).as_deref(), Some("500"));
        let poll = Key::parse("environments.idfdev.poll_interval_ms").unwrap();
        c.set(&poll, "50").unwrap();
        assert!(c.text().contains("poll_interval_ms = 50\n"), "{}", c.text());
        assert_eq!(
            c.millis("idfdev", "poll_interval_ms"),
            Some(Duration::from_millis(50))
        );
        let e = Config::parse(path, "[environments.idfdev]\npoll_interval_ms = 1.5\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("must be a whole number of milliseconds"),
            "{e}"
        );
        let e = Config::parse(path, "[environments.idfdev]\npoll_interval_ms = -3\n").unwrap_err();
        assert!(
            e.to_string().contains("not a number of milliseconds"),
            "{e}"
        );
        let e = Config::parse(path, "[environments.idfdev]\nhealth_url = 3\n").unwrap_err();
        assert!(e.to_string().contains("must be a string"), "{e}");
    }
}
