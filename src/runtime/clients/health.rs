//! A hub's health endpoint: `GET {base}{route}/hub/health` (JupyterHub answers 200 without
//! authentication). `base` is `https://<fqdn>`; tests use `http://127.0.0.1:PORT`. Redirects
//! are not followed: a route no hub serves is often redirected to a login page, which is not
//! a healthy hub.

use std::fmt;

use crate::http::{ClientError, Http};

/// One probe's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub status: u16,
    /// The start of the body, or where a redirect pointed.
    pub detail: String,
}

impl Probe {
    pub fn healthy(&self) -> bool {
        self.status == 200
    }
}

pub trait HealthApi: Send + Sync + fmt::Debug {
    /// The URL probed for `route` (`/n3` → `https://data.lsst.cloud/n3/hub/health`).
    fn url(&self, route: &str) -> String;
    /// One GET of the health URL; `Err` only when nothing answered.
    fn probe(&self, route: &str) -> Result<Probe, ClientError>;
}

pub struct HealthClient {
    base: String,
    http: Http,
}

impl fmt::Debug for HealthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthClient")
            .field("base", &self.base)
            .finish()
    }
}

impl HealthClient {
    pub fn new(base: &str) -> HealthClient {
        HealthClient::with_http(base, HealthClient::agent().build())
    }

    /// 20 s per check: a hub that takes longer is not healthy.
    pub fn agent() -> crate::http::HttpBuilder {
        Http::builder().per_call(std::time::Duration::from_secs(20))
    }

    /// The same, with an agent of its own (a `ca_file` setting).
    pub fn with_http(base: &str, http: Http) -> HealthClient {
        HealthClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }
}

impl HealthApi for HealthClient {
    fn url(&self, route: &str) -> String {
        let route = route.trim_end_matches('/');
        let route = if route.starts_with('/') || route.is_empty() {
            route.to_string()
        } else {
            format!("/{route}")
        };
        format!("{}{route}/hub/health", self.base)
    }

    fn probe(&self, route: &str) -> Result<Probe, ClientError> {
        let url = self.url(route);
        let reply = self
            .http
            .send("GET", &url, &[], None, &format!("the hub at {url}"))?;
        let detail = match &reply.location {
            Some(l) if (300..400).contains(&reply.status) => format!("redirect to {l}"),
            _ => reply.body.trim().chars().take(120).collect(),
        };
        Ok(Probe {
            status: reply.status,
            detail,
        })
    }
}
