//! Blocking HTTP for the cluster clients, on `ureq` (rustls with the ring provider, as
//! `github` uses it): one agent per service, redirects never followed (a redirect is an
//! answer the caller interprets), statuses returned rather than raised, and a pool large
//! enough for the bounded concurrency of namespace deletion.
//!
//! Owns: sending one request and reading its status, body and `Location`; `ClientError`, the
//! error every client returns; percent-encoding. Does not own: what a status means for a
//! service (the clients).

use std::time::Duration;

use serde_json::Value;

/// A call that failed: no answer (`status: None`), or an answer the client could not accept.
/// The message is a full sentence for the operator and never holds a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
    pub message: String,
    /// What the service itself said (a Kubernetes `Status.message`, Argo CD's `message`), to
    /// tell one refusal from another.
    pub said: String,
}

impl ClientError {
    pub fn new(status: Option<u16>, message: impl Into<String>) -> ClientError {
        ClientError {
            status,
            message: message.into(),
            said: String::new(),
        }
    }

    /// Worth another try: no answer, a server error, throttling or a conflict.
    pub fn retryable(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s >= 500 || s == 429 || s == 409,
        }
    }
}

impl From<ClientError> for crate::runtime::StepError {
    fn from(e: ClientError) -> Self {
        crate::runtime::StepError {
            retryable: e.retryable(),
            message: e.message,
        }
    }
}

/// An answer of any status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The service's own explanation: `message` (Kubernetes `Status`, Argo CD), `error`,
    /// `detail` (FastAPI: a string or `[{"msg": …}]`), else the start of the body.
    pub fn said(&self) -> String {
        let v = self.json();
        let text = |v: &Value| v.as_str().map(str::to_string);
        let found = v
            .get("message")
            .and_then(text)
            .filter(|s| !s.is_empty())
            .or_else(|| v.get("error").and_then(text))
            .or_else(|| v.get("detail").and_then(text))
            .or_else(|| {
                v.get("detail").and_then(Value::as_array).map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.get("msg").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            });
        match found {
            Some(s) => s,
            None if v.is_null() => self.body.trim().chars().take(200).collect(),
            None => String::new(),
        }
    }
}

/// One service's agent.
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Http {
    /// An agent with the default roots (webpki) and a 60 s limit per call.
    pub fn new() -> Http {
        Http::with_tls(None, Duration::from_secs(60))
    }

    pub fn with_tls(tls: Option<ureq::tls::TlsConfig>, per_call: Duration) -> Http {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(per_call))
            .timeout_connect(Some(Duration::from_secs(15)))
            .max_idle_connections(64)
            .max_idle_connections_per_host(64)
            .user_agent(concat!("gitops-migrate/", env!("CARGO_PKG_VERSION")));
        if let Some(tls) = tls {
            config = config.tls_config(tls);
        }
        Http {
            agent: config.build().into(),
        }
    }

    /// Sends `method url` with `headers` and an optional `(content type, body)`. `Err` only
    /// when there is no answer; `what` names the service in that message.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
        what: &str,
    ) -> Result<Reply, ClientError> {
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut r = $req;
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r
            }};
        }
        let sent = match (method, body) {
            ("GET", _) => with_headers!(self.agent.get(url)).call(),
            ("DELETE", _) => with_headers!(self.agent.delete(url)).call(),
            ("POST", b) => {
                let (ct, b) = b.unwrap_or(("application/json", String::new()));
                with_headers!(self.agent.post(url)).content_type(ct).send(b)
            }
            ("PATCH", b) => {
                let (ct, b) = b.unwrap_or(("application/json", String::new()));
                with_headers!(self.agent.patch(url))
                    .content_type(ct)
                    .send(b)
            }
            ("PUT", b) => {
                let (ct, b) = b.unwrap_or(("application/json", String::new()));
                with_headers!(self.agent.put(url)).content_type(ct).send(b)
            }
            _ => unreachable!("unsupported method {method}"),
        };
        let mut resp = sent.map_err(|e| {
            ClientError::new(
                None,
                format!("no answer from {what} ({method} {}): {e}", strip_query(url)),
            )
        })?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| {
                ClientError::new(
                    None,
                    format!(
                        "{what} answered {status} to {method} {} but the body could not be read: {e}",
                        strip_query(url)
                    ),
                )
            })?;
        Ok(Reply {
            status,
            body,
            location,
        })
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `text` with every non-empty secret replaced by `[redacted]`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, "[redacted]");
    }
    out
}

/// A service at a base URL, reached with a token: the part every token-bearing client (Argo CD,
/// mobu, Vault) shares. Its `Debug` never shows the token.
pub struct Endpoint {
    /// The service's root, without a trailing `/`.
    pub base: String,
    pub token: String,
    pub http: Http,
}

impl Endpoint {
    pub fn new(base: &str, token: String) -> Endpoint {
        Endpoint {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: Http::new(),
        }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_selectors() {
        assert_eq!(
            encode("nublado.lsst.io/category=lab"),
            "nublado.lsst.io%2Fcategory%3Dlab"
        );
        assert_eq!(encode("a b,c!=d"), "a%20b%2Cc%21%3Dd");
    }

    #[test]
    fn reads_what_services_say() {
        let reply = |body: &str| Reply {
            status: 400,
            body: body.into(),
            location: None,
        };
        assert_eq!(
            reply(r#"{"error":"x","code":9,"message":"another operation is already in progress"}"#)
                .said(),
            "another operation is already in progress"
        );
        assert_eq!(
            reply(r#"{"detail":[{"msg":"Flock x not found","type":"not_found"}]}"#).said(),
            "Flock x not found"
        );
        assert_eq!(reply("Bad gateway").said(), "Bad gateway");
    }
}
