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

mod file;
mod resolve;
mod schema;

use std::time::Duration;

pub use file::Config;
pub use resolve::{ClusterSettings, DEFAULT_WEBHOOK_SOURCE, EnvSettings, Fingerprint, TokenSource};
pub use schema::{Key, known_keys};

/// The defaults of the timing keys, for `config get` and for the runtime when a key is not
/// set: `poll_interval_ms`, `sync_settle_ms` and `lease_seconds`.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);
pub const DEFAULT_SYNC_SETTLE: Duration = Duration::from_secs(20);
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The file's name at the repository root.
pub const FILE_NAME: &str = "gitops-migrate.toml";

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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::schema::check_value;
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
