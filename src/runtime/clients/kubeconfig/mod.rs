//! The kubeconfig, read as kubectl reads it, and the access to one context's API server it
//! gives (`Access`): the agent (trust, client certificate, proxy, TLS server name) and the
//! headers (bearer token, impersonation) of every request.
//!
//! Files: `KUBECONFIG` (a `:`-separated list, merged first-wins) or `~/.kube/config`, read
//! with this crate's YAML loader. Implemented, field by field:
//! - cluster: `server`, `certificate-authority(-data)`, `insecure-skip-tls-verify`,
//!   `tls-server-name` (the name the certificate is verified against, and sent as SNI),
//!   `proxy-url` (`http`, `https`, `socks5`), `disable-compression` (nothing is compressed
//!   anyway), `extensions` (informational).
//! - user: `token`, `tokenFile`, `client-certificate(-data)`, `client-key(-data)`, `exec`,
//!   `as`, `as-uid`, `as-groups`, `as-user-extra` (the `Impersonate-*` headers),
//!   `extensions`. `auth-provider` and `username`/`password` are refused with what to use.
//! - exec: `command`, `args`, `env`, `apiVersion`, `installHint`, `provideClusterInfo`
//!   (`spec.cluster` in `KUBERNETES_EXEC_INFO`), `interactiveMode` (`Never`, `IfAvailable`,
//!   `Always`: with a terminal and a mode that allows it the plugin gets the terminal's stdin
//!   and its stderr is passed through, and `spec.interactive` is true). A plugin has a time
//!   limit (`KubeConfig::plugin_limit`: 60 s, 10 min when it may ask a person); its
//!   credential, token or client certificate, is cached until `expirationTimestamp`, and a
//!   new client certificate rebuilds the connection.
//! - context: `cluster`, `user`, `namespace` (unused: the steps name their namespaces),
//!   `extensions`.
//!
//! Any other field of a cluster, user, exec or context entry is refused, naming it, when a
//! client for a context that uses the entry is made: never silently ignored. A bearer token is
//! never sent over plain `http://` except to a loopback address.
//!
//! This file reads the files and picks a context's cluster and user; `access` is how requests
//! reach and authenticate to the API server (`Access`), `exec` runs credential plugins.
//!
//! Owns: reading kubeconfig files, running credential plugins, and how requests to the API
//! server are authenticated. Does not own: the REST calls (`kube`), HTTP (`crate::http`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::http::Http;
use crate::yaml::{Data, reference_load};

mod access;
mod exec;

pub use access::Access;

/// A kubeconfig could not be read or lacks what a context needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KubeConfigError(pub String);

#[derive(Debug, Clone)]
struct NamedContext {
    name: String,
    cluster: String,
    user: String,
    unknown: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Cluster {
    name: String,
    server: String,
    /// PEM bytes of the CA bundle.
    ca: Option<Vec<u8>>,
    insecure: bool,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
    unknown: Vec<String>,
}

#[derive(Clone, Default)]
struct User {
    name: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    exec: Option<ExecPlugin>,
    /// `Impersonate-User`, `-Uid`, `-Group` (repeated), `-Extra-<key>` headers.
    impersonate: Vec<(String, String)>,
    unsupported: Option<String>,
    unknown: Vec<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("token_file", &self.token_file)
            .field("cert", &self.cert.is_some())
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .field("exec", &self.exec)
            .field("impersonate", &self.impersonate)
            .finish()
    }
}

/// When a credential plugin may talk to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractiveMode {
    Never,
    IfAvailable,
    Always,
}

/// A `users[].user.exec` credential plugin.
#[derive(Debug, Clone)]
pub struct ExecPlugin {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub api_version: String,
    pub install_hint: Option<String>,
    pub provide_cluster_info: bool,
    pub interactive_mode: InteractiveMode,
    /// The kubeconfig's directory: a command with a `/` is relative to it.
    pub dir: PathBuf,
}

/// The merged kubeconfig: contexts, clusters, users and the current context.
#[derive(Debug, Clone)]
pub struct KubeConfig {
    /// The files it was read from.
    pub files: Vec<PathBuf>,
    /// How long a credential plugin may run without a person (with one, ten times that).
    pub plugin_limit: Duration,
    current: Option<String>,
    contexts: Vec<NamedContext>,
    clusters: Vec<Cluster>,
    users: Vec<User>,
}

impl Default for KubeConfig {
    fn default() -> KubeConfig {
        KubeConfig {
            files: Vec::new(),
            plugin_limit: Duration::from_secs(60),
            current: None,
            contexts: Vec::new(),
            clusters: Vec::new(),
            users: Vec::new(),
        }
    }
}

fn to_json(d: &Data) -> Value {
    match d {
        Data::Null => Value::Null,
        Data::Bool(b) => json!(b),
        Data::Int(i) => json!(i),
        Data::Float(f) => Value::String(f.clone()),
        Data::Str(s) => Value::String(s.clone()),
        Data::Tagged(_, inner) => to_json(inner),
        Data::Seq(v) => Value::Array(v.iter().map(to_json).collect()),
        Data::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.key_text().unwrap_or_default(), to_json(v)))
                .collect(),
        ),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The keys of `v` not in `known`, as `section.key` (set, non-null ones only).
fn unknown(v: &Value, section: &str, known: &[&str]) -> Vec<String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| !v.is_null() && !known.contains(&k.as_str()))
                .map(|(k, _)| format!("{section}.{k}"))
                .collect()
        })
        .unwrap_or_default()
}

fn resolve(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// Standard base64, padding optional, whitespace ignored (as kubeconfigs are written).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const B64: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(compact).ok()
}

const CLUSTER_FIELDS: &[&str] = &[
    "server",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "proxy-url",
    "disable-compression",
    "extensions",
];
const USER_FIELDS: &[&str] = &[
    "token",
    "tokenFile",
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "exec",
    "as",
    "as-uid",
    "as-groups",
    "as-user-extra",
    "auth-provider",
    "username",
    "password",
    "extensions",
];
const EXEC_FIELDS: &[&str] = &[
    "command",
    "args",
    "env",
    "apiVersion",
    "installHint",
    "provideClusterInfo",
    "interactiveMode",
];
const CONTEXT_FIELDS: &[&str] = &["cluster", "user", "namespace", "extensions"];

impl KubeConfig {
    /// The operator's kubeconfig: the files in `KUBECONFIG`, else `~/.kube/config`.
    pub fn load() -> Result<KubeConfig, KubeConfigError> {
        let files: Vec<PathBuf> = match std::env::var_os("KUBECONFIG") {
            Some(v) if !v.is_empty() => std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            _ => {
                let home = std::env::var_os("HOME").ok_or_else(|| {
                    KubeConfigError("no kubeconfig: KUBECONFIG and HOME are unset".into())
                })?;
                vec![PathBuf::from(home).join(".kube").join("config")]
            }
        };
        KubeConfig::from_files(&files)
    }

    /// Reads and merges kubeconfig files, the first to define a name or the current context
    /// winning (missing files in a list are skipped, as kubectl does, unless none exists).
    pub fn from_files(files: &[PathBuf]) -> Result<KubeConfig, KubeConfigError> {
        let mut out = KubeConfig::default();
        for f in files {
            let t = match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && files.len() > 1 => continue,
                Err(e) => {
                    return Err(KubeConfigError(format!(
                        "cannot read kubeconfig {}: {e}",
                        f.display()
                    )));
                }
            };
            let dir = f.parent().unwrap_or(Path::new(".")).to_path_buf();
            let one = KubeConfig::parse(&t, &dir)
                .map_err(|e| KubeConfigError(format!("kubeconfig {}: {}", f.display(), e.0)))?;
            out.files.push(f.clone());
            if out.current.is_none() {
                out.current = one.current;
            }
            for c in one.contexts {
                if !out.contexts.iter().any(|x| x.name == c.name) {
                    out.contexts.push(c);
                }
            }
            for c in one.clusters {
                if !out.clusters.iter().any(|x| x.name == c.name) {
                    out.clusters.push(c);
                }
            }
            for u in one.users {
                if !out.users.iter().any(|x| x.name == u.name) {
                    out.users.push(u);
                }
            }
        }
        if out.files.is_empty() {
            return Err(KubeConfigError(format!(
                "no kubeconfig found at {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(out)
    }

    /// Parses one kubeconfig; relative paths in it are relative to `dir`.
    pub fn parse(yaml: &str, dir: &Path) -> Result<KubeConfig, KubeConfigError> {
        let docs = reference_load(yaml)
            .map_err(|e| KubeConfigError(format!("line {}: {}", e.line + 1, e.message)))?;
        let root = docs.first().map(to_json).unwrap_or(Value::Null);
        let list = |key: &str| {
            root.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let data =
            |v: &Value, inline: &str, file: &str| -> Result<Option<Vec<u8>>, KubeConfigError> {
                if let Some(b) = text(v, inline) {
                    return base64_decode(&b)
                        .map(Some)
                        .ok_or_else(|| KubeConfigError(format!("`{inline}` is not valid base64")));
                }
                if let Some(p) = text(v, file) {
                    let p = resolve(dir, &p);
                    return std::fs::read(&p).map(Some).map_err(|e| {
                        KubeConfigError(format!("cannot read `{file}` {}: {e}", p.display()))
                    });
                }
                Ok(None)
            };
        let mut cfg = KubeConfig {
            current: text(&root, "current-context"),
            ..KubeConfig::default()
        };
        for c in list("contexts") {
            let (Some(name), Some(ctx)) = (text(&c, "name"), c.get("context")) else {
                continue;
            };
            cfg.contexts.push(NamedContext {
                cluster: text(ctx, "cluster").unwrap_or_default(),
                user: text(ctx, "user").unwrap_or_default(),
                unknown: unknown(ctx, "context", CONTEXT_FIELDS),
                name,
            });
        }
        for c in list("clusters") {
            let (Some(name), Some(cl)) = (text(&c, "name"), c.get("cluster")) else {
                continue;
            };
            cfg.clusters.push(Cluster {
                server: text(cl, "server").unwrap_or_default(),
                ca: data(cl, "certificate-authority-data", "certificate-authority")?,
                insecure: cl.get("insecure-skip-tls-verify").and_then(Value::as_bool) == Some(true),
                tls_server_name: text(cl, "tls-server-name"),
                proxy_url: text(cl, "proxy-url"),
                unknown: unknown(cl, "cluster", CLUSTER_FIELDS),
                name,
            });
        }
        for u in list("users") {
            let Some(name) = text(&u, "name") else {
                continue;
            };
            let empty = json!({});
            let us = u.get("user").filter(|v| v.is_object()).unwrap_or(&empty);
            let mut unknown_fields = unknown(us, "user", USER_FIELDS);
            let exec = match us.get("exec").filter(|e| e.is_object()) {
                None => None,
                Some(e) => {
                    unknown_fields.extend(unknown(e, "user.exec", EXEC_FIELDS));
                    let interactive_mode = match text(e, "interactiveMode").as_deref() {
                        None | Some("IfAvailable") => InteractiveMode::IfAvailable,
                        Some("Never") => InteractiveMode::Never,
                        Some("Always") => InteractiveMode::Always,
                        Some(other) => {
                            return Err(KubeConfigError(format!(
                                "user `{name}`: `exec.interactiveMode: {other}` is none of Never, IfAvailable, Always"
                            )));
                        }
                    };
                    Some(ExecPlugin {
                        command: text(e, "command").unwrap_or_default(),
                        args: strings(e, "args"),
                        env: e
                            .get("env")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| {
                                        Some((
                                            text(x, "name")?,
                                            text(x, "value").unwrap_or_default(),
                                        ))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        api_version: text(e, "apiVersion")
                            .unwrap_or_else(|| "client.authentication.k8s.io/v1".into()),
                        install_hint: text(e, "installHint"),
                        provide_cluster_info: e.get("provideClusterInfo").and_then(Value::as_bool)
                            == Some(true),
                        interactive_mode,
                        dir: dir.to_path_buf(),
                    })
                }
            };
            let unsupported = if us.get("auth-provider").is_some_and(|v| !v.is_null()) {
                Some("an `auth-provider` (use an `exec` credential plugin instead, e.g. gke-gcloud-auth-plugin or kubelogin)".to_string())
            } else if text(us, "username").is_some() || text(us, "password").is_some() {
                Some("basic authentication (`username`/`password`)".to_string())
            } else {
                None
            };
            let mut impersonate = Vec::new();
            if let Some(a) = text(us, "as") {
                impersonate.push(("Impersonate-User".to_string(), a));
            }
            if let Some(a) = text(us, "as-uid") {
                impersonate.push(("Impersonate-Uid".to_string(), a));
            }
            for g in strings(us, "as-groups") {
                impersonate.push(("Impersonate-Group".to_string(), g));
            }
            if let Some(extra) = us.get("as-user-extra").and_then(Value::as_object) {
                for (k, vs) in extra {
                    let key = format!("Impersonate-Extra-{}", crate::http::encode(k));
                    for v in vs
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        impersonate.push((key.clone(), v.to_string()));
                    }
                }
            }
            cfg.users.push(User {
                token: text(us, "token"),
                token_file: text(us, "tokenFile").map(|p| resolve(dir, &p)),
                cert: data(us, "client-certificate-data", "client-certificate")?,
                key: data(us, "client-key-data", "client-key")?,
                exec,
                impersonate,
                unsupported,
                unknown: unknown_fields,
                name,
            });
        }
        Ok(cfg)
    }

    /// The `current-context`.
    pub fn current_context(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The names of every context.
    pub fn contexts(&self) -> Vec<&str> {
        self.contexts.iter().map(|c| c.name.as_str()).collect()
    }

    /// The API server URL of a context.
    pub fn server_url(&self, context: &str) -> Option<&str> {
        let ctx = self.contexts.iter().find(|c| c.name == context)?;
        self.clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .map(|c| c.server.as_str())
    }

    /// A client for `context` (or the current context).
    pub fn client(&self, context: Option<&str>) -> Result<super::KubeClient, KubeConfigError> {
        let name = context.or(self.current.as_deref()).ok_or_else(|| {
            KubeConfigError("no context given and the kubeconfig has no current-context".into())
        })?;
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                KubeConfigError(format!(
                    "no context `{name}` in the kubeconfig (contexts: {})",
                    self.contexts().join(", ")
                ))
            })?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .ok_or_else(|| {
                KubeConfigError(format!(
                    "context `{name}` names cluster `{}`, which the kubeconfig does not define",
                    ctx.cluster
                ))
            })?;
        if cluster.server.is_empty() {
            return Err(KubeConfigError(format!(
                "cluster `{}` has no server URL",
                cluster.name
            )));
        }
        let user = if ctx.user.is_empty() {
            None
        } else {
            Some(
                self.users
                    .iter()
                    .find(|u| u.name == ctx.user)
                    .ok_or_else(|| {
                        KubeConfigError(format!(
                            "context `{name}` names user `{}`, which the kubeconfig does not define",
                            ctx.user
                        ))
                    })?
                    .clone(),
            )
        };
        let mut fields: Vec<String> = ctx.unknown.clone();
        fields.extend(cluster.unknown.iter().cloned());
        if let Some(u) = &user {
            fields.extend(u.unknown.iter().cloned());
        }
        if !fields.is_empty() {
            return Err(KubeConfigError(format!(
                "context `{name}` uses kubeconfig field{} {} that gitops-migrate does not implement; it refuses rather than ignore {}: remove {} or use a context without {}",
                if fields.len() == 1 { "" } else { "s" },
                fields
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if fields.len() == 1 { "it" } else { "them" },
                if fields.len() == 1 { "it" } else { "them" },
                if fields.len() == 1 { "it" } else { "them" },
            )));
        }
        if let Some(u) = &user {
            let usable = u.token.is_some()
                || u.token_file.is_some()
                || u.exec.is_some()
                || (u.cert.is_some() && u.key.is_some());
            if let (false, Some(why)) = (usable, &u.unsupported) {
                return Err(KubeConfigError(format!(
                    "user `{}` of context `{name}` authenticates with {why}, which gitops-migrate does not support",
                    u.name
                )));
            }
        }
        let access = Access::new(name, cluster, user, self.plugin_limit)?;
        Ok(super::KubeClient::from_access(
            name,
            &cluster.server,
            access,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// What the TLS connection of a context is built from: shared by `access` and `exec`.

/// What the TLS connection is built from (kept to rebuild it with a new client certificate).
#[derive(Debug, Clone, Default)]
struct Transport {
    server: String,
    ca: Option<Vec<u8>>,
    insecure: bool,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
}

impl Transport {
    fn http(&self, cert: Option<(&[u8], &[u8])>) -> Result<Http, String> {
        let mut b = Http::builder().insecure(self.insecure);
        if let Some(ca) = &self.ca {
            b = b.ca_pem(ca, "the cluster's certificate authority")?;
        }
        if let Some((c, k)) = cert {
            b = b.client_cert(c, k)?;
        }
        if let Some(p) = &self.proxy_url {
            let scheme = p.split("://").next().unwrap_or("");
            if !matches!(scheme, "http" | "https" | "socks5") {
                return Err(format!(
                    "`proxy-url: {p}`: only http://, https:// and socks5:// proxies are supported"
                ));
            }
            b = b.proxy(p)?;
        }
        if let Some(name) = &self.tls_server_name {
            b = b.tls_server_name(&self.server, name)?;
        }
        Ok(b.build())
    }
}

#[cfg(test)]
mod tests;
