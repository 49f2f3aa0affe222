//! mobu's REST API: is a flock running (`GET {mobu}/flocks/{name}`), stop it
//! (`DELETE {mobu}/flocks/{name}`: 204, or 404 when it is not running). Phalanx serves mobu
//! at `https://<fqdn>/mobu`; the token is a Gafaelfawr token with `exec:admin`.
//!
//! Redirects are never followed: Gafaelfawr answers a request without a valid token by
//! redirecting it to the login page, so a redirect means the token is missing, expired or
//! lacks the scope, and is reported as that (fatal, not retried).

use std::fmt;

use crate::http::{ClientError, Endpoint, Http, Reply, encode};

/// What stopping a flock found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// 204: it was running and is now stopped.
    Stopped,
    /// 404: it was not running.
    NotRunning,
}

/// The mobu calls of the window. Implemented by `MobuClient`.
pub trait MobuApi: Send + Sync + fmt::Debug {
    /// `https://data.lsst.cloud/mobu`.
    fn base_url(&self) -> &str;
    fn flock_running(&self, name: &str) -> Result<bool, ClientError>;
    fn stop_flock(&self, name: &str) -> Result<Stopped, ClientError>;
}

#[derive(Debug)]
pub struct MobuClient {
    ep: Endpoint,
}

impl MobuClient {
    /// `base` is mobu's root (`https://<fqdn>/mobu`).
    pub fn new(base: &str, token: String) -> MobuClient {
        MobuClient {
            ep: Endpoint::new(base, token),
        }
    }

    /// The same, with an agent of its own (a `ca_file` setting).
    pub fn with_http(base: &str, token: String, http: Http) -> MobuClient {
        MobuClient {
            ep: Endpoint::with_http(base, token, http),
        }
    }

    fn call(&self, method: &str, flock: &str) -> Result<Reply, ClientError> {
        let url = format!("{}/flocks/{}", self.ep.base, encode(flock));
        self.ep.send(
            method,
            &url,
            &[("Accept", "application/json")],
            None,
            &format!("mobu at {}", self.ep.base),
        )
    }

    fn refused(&self, reply: &Reply, action: &str) -> ClientError {
        let said = self.ep.clean(&reply.said());
        let base = &self.ep.base;
        let s = reply.status;
        let explained = crate::http::explained(&said);
        let message = match s {
            s if (300..400).contains(&s) => format!(
                "mobu at {base} redirected ({s}) to {} instead of answering {action}: the mobu token is missing, expired or lacks the `exec:admin` scope (Gafaelfawr sends requests without a valid token to the login page); the redirect was not followed",
                reply
                    .location
                    .as_deref()
                    .map(|l| self.ep.clean(l))
                    .unwrap_or_else(|| "another page".into())
            ),
            401 | 403 => format!(
                "mobu at {base} refused the token ({s}{explained}) to {action}: it needs a Gafaelfawr token with `exec:admin`"
            ),
            s if s >= 500 => {
                format!("mobu at {base} failed with a server error ({s}{explained}) to {action}")
            }
            s => format!("mobu at {base} answered {s}{explained} to {action}"),
        };
        ClientError {
            said,
            ..ClientError::answered(reply, message)
        }
    }
}

impl MobuApi for MobuClient {
    fn base_url(&self) -> &str {
        &self.ep.base
    }

    fn flock_running(&self, name: &str) -> Result<bool, ClientError> {
        let reply = self.call("GET", name)?;
        match reply.status {
            404 => Ok(false),
            _ if reply.ok() => Ok(true),
            _ => Err(self.refused(&reply, &format!("look up flock `{name}`"))),
        }
    }

    fn stop_flock(&self, name: &str) -> Result<Stopped, ClientError> {
        let reply = self.call("DELETE", name)?;
        match reply.status {
            404 => Ok(Stopped::NotRunning),
            _ if reply.ok() => Ok(Stopped::Stopped),
            _ => Err(self.refused(&reply, &format!("stop flock `{name}`"))),
        }
    }
}
