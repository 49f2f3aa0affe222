//! How requests reach and authenticate to one context's API server (`Access`): the agent
//! (trust, client certificate, proxy, TLS server name), rebuilt when a plugin's new client
//! certificate arrives, and the headers of every request (a bearer token, never over plain
//! `http://` except to loopback; the `Impersonate-*` headers).
//!
//! Owns: the agent and the headers. Does not own: reading the kubeconfig (`kubeconfig`),
//! running the plugins (`exec`).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::http::{ClientError, Http};

use super::exec::{Credential, run_exec};
use super::*;
pub(super) enum Auth {
    None,
    Token(String),
    TokenFile(PathBuf),
    Exec {
        plugin: Box<ExecPlugin>,
        /// The plugin's last credential.
        cached: Mutex<Option<Credential>>,
    },
}

/// How requests reach one context's API server: the agent and the headers.
pub struct Access {
    context: String,
    transport: Transport,
    http: RwLock<Http>,
    auth: Auth,
    impersonate: Vec<(String, String)>,
    plugin_limit: Duration,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::None => "none",
            Auth::Token(_) => "token",
            Auth::TokenFile(_) => "token file",
            Auth::Exec { .. } => "exec plugin",
        };
        f.debug_struct("Access")
            .field("auth", &auth)
            .field("impersonate", &self.impersonate)
            .finish()
    }
}

/// A loopback host: `127.0.0.0/8`, `::1`, `localhost`.
pub(super) fn loopback(server: &str) -> bool {
    let rest = server.split("://").nth(1).unwrap_or(server);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Access {
    /// A bearer token (or none) to `server`, trusting the platform's store: for tests and
    /// plain-http doubles.
    pub fn token(server: &str, token: Option<String>) -> Access {
        Access {
            context: String::new(),
            transport: Transport {
                server: server.to_string(),
                ..Transport::default()
            },
            http: RwLock::new(Http::new()),
            auth: token.map_or(Auth::None, Auth::Token),
            impersonate: Vec::new(),
            plugin_limit: Duration::from_secs(60),
        }
    }

    pub(super) fn new(
        context: &str,
        cluster: &Cluster,
        user: Option<User>,
        plugin_limit: Duration,
    ) -> Result<Access, KubeConfigError> {
        let bad = |e: String| KubeConfigError(format!("context `{context}`: {e}"));
        let transport = Transport {
            server: cluster.server.clone(),
            ca: cluster.ca.clone(),
            insecure: cluster.insecure,
            tls_server_name: cluster.tls_server_name.clone(),
            proxy_url: cluster.proxy_url.clone(),
        };
        let mut auth = Auth::None;
        let mut cert = None;
        let mut impersonate = Vec::new();
        if let Some(u) = &user {
            impersonate = u.impersonate.clone();
            if let (Some(c), Some(k)) = (&u.cert, &u.key) {
                cert = Some((c.clone(), k.clone()));
            }
            if let Some(plugin) = &u.exec {
                let cred = run_exec(plugin, &transport, plugin_limit).map_err(bad)?;
                if let Some(ck) = cred.cert_and_key() {
                    cert = Some(ck);
                }
                auth = Auth::Exec {
                    plugin: Box::new(plugin.clone()),
                    cached: Mutex::new(Some(cred)),
                };
            } else if let Some(t) = &u.token {
                auth = Auth::Token(t.clone());
            } else if let Some(f) = &u.token_file {
                auth = Auth::TokenFile(f.clone());
            }
        }
        let bearer = match &auth {
            Auth::None => false,
            Auth::Exec { cached, .. } => cached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_some_and(|c| c.token.is_some()),
            _ => true,
        };
        if bearer && cluster.server.starts_with("http://") && !loopback(&cluster.server) {
            return Err(bad(format!(
                "refusing to send a bearer token over plain http:// to {} (kubectl does not either): use the API server's https:// URL",
                cluster.server
            )));
        }
        let http = transport
            .http(cert.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())))
            .map_err(bad)?;
        Ok(Access {
            context: context.to_string(),
            transport,
            http: RwLock::new(http),
            auth,
            impersonate,
            plugin_limit,
        })
    }

    pub fn kind(&self) -> &'static str {
        match &self.auth {
            Auth::None => "none",
            Auth::Token(_) => "token",
            Auth::TokenFile(_) => "token file",
            Auth::Exec { .. } => "exec plugin",
        }
    }

    /// Whether a 401 may be cured by reading the credential again.
    pub fn refreshable(&self) -> bool {
        matches!(self.auth, Auth::Exec { .. } | Auth::TokenFile(_))
    }

    /// The agent to send with (rebuilt when a plugin gave a new client certificate).
    pub fn http(&self) -> Http {
        self.http.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The impersonation headers.
    pub fn impersonation(&self) -> &[(String, String)] {
        &self.impersonate
    }

    /// The bearer token, if any; `refresh` reads it again (a plugin is run again) even when
    /// the cached one has not expired.
    pub fn bearer(&self, refresh: bool) -> Result<Option<String>, ClientError> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::Token(t) => Ok(Some(t.clone())),
            Auth::TokenFile(p) => std::fs::read_to_string(p)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| {
                    ClientError::new(
                        None,
                        format!("cannot read the token file {}: {e}", p.display()),
                    )
                }),
            Auth::Exec { plugin, cached } => {
                let mut c = cached.lock().unwrap_or_else(|e| e.into_inner());
                let fresh = c.as_ref().is_some_and(|cred| {
                    cred.expires
                        .is_none_or(|e| SystemTime::now() + Duration::from_secs(10) < e)
                });
                if refresh || !fresh {
                    let cred =
                        run_exec(plugin, &self.transport, self.plugin_limit).map_err(|e| {
                            ClientError {
                                permanent: true,
                                ..ClientError::new(None, format!("context `{}`: {e}", self.context))
                            }
                        })?;
                    let new_cert = cred.cert_and_key();
                    let old_cert = c.as_ref().and_then(Credential::cert_and_key);
                    if let Some((cert, key)) = new_cert.filter(|n| Some(n) != old_cert.as_ref()) {
                        let http = self
                            .transport
                            .http(Some((&cert, &key)))
                            .map_err(|e| ClientError::new(None, e))?;
                        *self.http.write().unwrap_or_else(|e| e.into_inner()) = http;
                    }
                    *c = Some(cred);
                }
                Ok(c.as_ref().and_then(|cred| cred.token.clone()))
            }
        }
    }
}
