//! What the configuration resolves to for a run: an environment's settings with the defaults
//! from its Phalanx environment file, a cluster's settings for the hub move, and where each
//! token is read from (never the token itself).
//!
//! Does not own: the schema (`schema`) or the file and its edits (`file`).

use std::path::PathBuf;
use std::time::Duration;

use toml_edit::DocumentMut;

use super::schema::field_name;
use super::{Config, ConfigError, DEFAULT_LEASE, DEFAULT_POLL, DEFAULT_SYNC_SETTLE, Key};
use crate::repo::Phalanx;
use crate::repo::phalanx::Environment;

/// Where `vault-secret` copies the Slack webhook from: mobu's alert webhook.
pub const DEFAULT_WEBHOOK_SOURCE: &str = "mobu#app-alert-webhook";

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

impl Config {
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
    pub(super) fn millis(&self, env: &str, field: &'static str) -> Option<Duration> {
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
