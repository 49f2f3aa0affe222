//! The one HTTP layer, on blocking `ureq` with rustls (ring): GitHub, the Kubernetes API,
//! Argo CD, mobu, Vault, the hubs' health and the JupyterHub API all send through `Http`.
//!
//! An agent trusts the platform's trust store (`RootCerts::PlatformVerifier`: the system's
//! CAs, so a site CA or a TLS-inspecting proxy installed there is trusted), or exactly the
//! certificates of a configured `ca_file` / a kubeconfig's certificate authority. It never
//! follows redirects (a redirect is an answer the caller interprets, and following one would
//! send or drop credentials somewhere the operator did not name), returns statuses instead of
//! raising them, and bounds every call (`timeout_global`, 15 s to connect).
//!
//! Owns: building agents (`HttpBuilder`), sending one request and reading its status, body,
//! `Location` and `Retry-After` (`Reply`), `ClientError` (the error every client returns, with
//! whether it can heal), reading PEM certificates, and percent-encoding. Does not own: what a
//! status means for one service (the clients), retrying (`retry`), or secrets in free text
//! (`util::redact`).

use std::path::Path;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use ureq::tls::{Certificate, ClientCert, PemItem, RootCerts, TlsConfig};

use crate::retry::{Retryable, spent_note};
use crate::util::redact::{Redactor, Secret};

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
    /// How long the service asked to wait before trying again (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// Set when trying again cannot help whatever the status says: a host name that does not
    /// resolve, a certificate that does not verify, or an error the retry loop already gave
    /// up on (so that no outer loop retries it again).
    pub permanent: bool,
}

impl ClientError {
    pub fn new(status: Option<u16>, message: impl Into<String>) -> ClientError {
        ClientError {
            status,
            message: message.into(),
            said: String::new(),
            retry_after: None,
            permanent: false,
        }
    }

    /// The error for a `reply` the client does not accept, carrying its `Retry-After`.
    pub fn answered(reply: &Reply, message: impl Into<String>) -> ClientError {
        ClientError {
            said: reply.said(),
            retry_after: reply.retry_after,
            ..ClientError::new(Some(reply.status), message)
        }
    }

    /// Worth another try: no answer (but a name that resolves and a certificate that
    /// verifies), a server error, throttling or a conflict. Never 401 or 403.
    pub fn retryable(&self) -> bool {
        !self.permanent
            && match self.status {
                None => true,
                Some(s) => s >= 500 || s == 429 || s == 409,
            }
    }
}

impl Retryable for ClientError {
    fn heals(&self) -> bool {
        self.retryable()
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    fn spent(mut self, tries: u32, spent: Duration) -> ClientError {
        self.message.push_str(&spent_note(tries, spent));
        self.permanent = true;
        self
    }
}

/// An answer of any status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
    /// `Retry-After` in seconds (the HTTP-date form is read as "no hint").
    pub retry_after: Option<Duration>,
}

/// `": {said}"`, or nothing when the service said nothing: what a refusal's message puts
/// after its status code.
pub fn explained(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    }
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The service's own explanation: `message` (Kubernetes `Status`, Argo CD, GitHub),
    /// `error`, `detail` (FastAPI: a string or `[{"msg": …}]`), GitHub's `errors`, else the
    /// start of the body.
    pub fn said(&self) -> String {
        let v = self.json();
        let text = |v: &Value| v.as_str().map(str::to_string);
        let mut found = v
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
        if let Some(errors) = v.get("errors").and_then(Value::as_array) {
            let mut parts: Vec<String> = found.into_iter().collect();
            for e in errors {
                if let Some(m) = e.get("message").and_then(Value::as_str).or(e.as_str()) {
                    parts.push(m.to_string());
                } else {
                    let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
                    let s = [field("resource"), field("field"), field("code")]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    if !s.is_empty() {
                        parts.push(s);
                    }
                }
            }
            found = Some(parts.join("; "));
        }
        match found {
            Some(s) => s,
            None if v.is_null() => self.body.trim().chars().take(200).collect(),
            None => String::new(),
        }
    }
}

/// How an agent is built: whom it trusts, which client certificate it shows, through which
/// proxy, and how long a call may take.
pub struct HttpBuilder {
    roots: Option<Vec<Certificate<'static>>>,
    insecure: bool,
    client_cert: Option<ClientCert>,
    proxy: Option<ureq::Proxy>,
    per_call: Duration,
    server_name: Option<PinnedName>,
}

/// A kubeconfig's `tls-server-name`: requests to `server` are sent to `https://<name>…`, so
/// that the certificate is verified against (and SNI names) `name`, and `name` resolves to
/// the server's own address.
#[derive(Debug, Clone)]
struct PinnedName {
    /// `https://10.0.0.1:6443` → `https://kubernetes.test:6443`.
    from: String,
    to: String,
    name: String,
    /// `10.0.0.1:6443`: where `name` really connects.
    target: String,
}

impl ureq::unversioned::resolver::Resolver for PinnedName {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        use std::net::ToSocketAddrs;
        if uri.host() != Some(self.name.as_str()) {
            return ureq::unversioned::resolver::DefaultResolver::default()
                .resolve(uri, config, timeout);
        }
        let mut out = self.empty();
        for a in self.target.to_socket_addrs()?.take(16) {
            out.push(a);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

impl HttpBuilder {
    /// Verify the certificate of `server` (an `https://host[:port]` URL) against `name`, and
    /// send `name` as SNI, while connecting to the server's own address.
    pub fn tls_server_name(mut self, server: &str, name: &str) -> Result<HttpBuilder, String> {
        let server = server.trim_end_matches('/');
        let rest = server.strip_prefix("https://").ok_or_else(|| {
            format!("`tls-server-name: {name}` needs an https:// server, not {server}")
        })?;
        if self.proxy.is_some() {
            return Err(format!(
                "`tls-server-name: {name}` together with `proxy-url` is not supported"
            ));
        }
        let authority = rest.split('/').next().unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h.to_string(), p.to_string())
            }
            _ => (authority.to_string(), "443".to_string()),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.server_name = Some(PinnedName {
            from: format!("https://{authority}"),
            to: format!("https://{name}:{port}"),
            name: name.to_string(),
            target: if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            },
        });
        Ok(self)
    }

    /// Trust exactly the certificates in `pem` (a CA bundle); `what` names it in errors.
    pub fn ca_pem(mut self, pem: &[u8], what: &str) -> Result<HttpBuilder, String> {
        let certs = pem_certificates(pem, what)?;
        if certs.is_empty() {
            return Err(format!("{what} holds no certificate"));
        }
        self.roots = Some(certs);
        Ok(self)
    }

    /// Trust exactly the certificates in the PEM file `path` (a `ca_file` setting).
    pub fn ca_file(self, path: &Path) -> Result<HttpBuilder, String> {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        self.ca_pem(&pem, &format!("the CA file {}", path.display()))
    }

    /// Skip verifying the server's certificate (a kubeconfig's `insecure-skip-tls-verify`).
    pub fn insecure(mut self, yes: bool) -> HttpBuilder {
        self.insecure = yes;
        self
    }

    /// Show a client certificate: the chain and key in PEM.
    pub fn client_cert(mut self, cert: &[u8], key: &[u8]) -> Result<HttpBuilder, String> {
        let chain = pem_certificates(cert, "the client certificate")?;
        let key = pem_items(key, "the client key")?
            .into_iter()
            .find_map(|i| match i {
                PemItem::PrivateKey(k) => Some(k),
                _ => None,
            })
            .ok_or("the client key holds no private key")?;
        self.client_cert = Some(ClientCert::new_with_certs(&chain, key));
        Ok(self)
    }

    /// Send every request through the proxy at `url` (`http://`, `https://`, `socks5://`).
    pub fn proxy(mut self, url: &str) -> Result<HttpBuilder, String> {
        let p = ureq::Proxy::new(url).map_err(|e| format!("proxy `{url}`: {e}"))?;
        self.proxy = Some(p);
        Ok(self)
    }

    /// The limit of one call, connecting, sending and reading included.
    pub fn per_call(mut self, d: Duration) -> HttpBuilder {
        self.per_call = d;
        self
    }

    pub fn build(self) -> Http {
        let mut tls = TlsConfig::builder()
            .root_certs(match self.roots {
                Some(certs) => RootCerts::new_with_certs(&certs),
                None => RootCerts::PlatformVerifier,
            })
            .disable_verification(self.insecure);
        if let Some(c) = self.client_cert {
            tls = tls.client_cert(Some(c));
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(self.per_call))
            .timeout_connect(Some(Duration::from_secs(15)))
            .max_idle_connections(64)
            .max_idle_connections_per_host(64)
            .tls_config(tls.build())
            .user_agent(concat!("gitops-migrate/", env!("CARGO_PKG_VERSION")));
        // Without a proxy of its own, the agent keeps ureq's default: `HTTPS_PROXY`,
        // `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` from the environment.
        if let Some(p) = self.proxy {
            config = config.proxy(Some(p));
        }
        let agent = match &self.server_name {
            Some(pin) => ureq::Agent::with_parts(
                config.build(),
                ureq::unversioned::transport::DefaultConnector::new(),
                pin.clone(),
            ),
            None => config.build().into(),
        };
        Http {
            agent,
            rewrite: self.server_name.map(|p| (p.from, p.to)),
        }
    }
}

/// One service's agent.
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
    /// A URL prefix sent as another (`tls_server_name`).
    rewrite: Option<(String, String)>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Http {
    /// The platform's trust store, no proxy, 60 s per call.
    pub fn builder() -> HttpBuilder {
        HttpBuilder {
            roots: None,
            insecure: false,
            client_cert: None,
            proxy: None,
            per_call: Duration::from_secs(60),
            server_name: None,
        }
    }

    /// The platform's trust store, 60 s per call.
    pub fn new() -> Http {
        Http::builder().build()
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
        let rewritten;
        let url = match &self.rewrite {
            Some((from, to)) if url.starts_with(from.as_str()) => {
                rewritten = format!("{to}{}", &url[from.len()..]);
                rewritten.as_str()
            }
            _ => url,
        };
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
        let mut resp = sent.map_err(|e| no_answer(&e, what, method, url))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let location = header("location");
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
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
            retry_after,
        })
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

/// The error for a request that got no answer; `permanent` when trying again cannot help.
fn no_answer(e: &ureq::Error, what: &str, method: &str, url: &str) -> ClientError {
    let text = e.to_string();
    let lower = text.to_lowercase();
    let permanent = matches!(
        e,
        ureq::Error::HostNotFound
            | ureq::Error::BadUri(_)
            | ureq::Error::Tls(_)
            | ureq::Error::Pem(_)
            | ureq::Error::Rustls(_)
            | ureq::Error::InvalidProxyUrl
    ) || lower.contains("not known")
        || lower.contains("no address associated")
        || lower.contains("certificate");
    let hint = if permanent {
        " (not retried: this does not heal by waiting)"
    } else {
        ""
    };
    ClientError {
        permanent,
        ..ClientError::new(
            None,
            format!(
                "no answer from {what} ({method} {}): {text}{hint}",
                strip_query(url)
            ),
        )
    }
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn pem_items(pem: &[u8], what: &str) -> Result<Vec<PemItem<'static>>, String> {
    ureq::tls::parse_pem(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not valid PEM: {e}"))
}

/// The certificates in a PEM text.
pub fn pem_certificates(pem: &[u8], what: &str) -> Result<Vec<Certificate<'static>>, String> {
    Ok(pem_items(pem, what)?
        .into_iter()
        .filter_map(|i| match i {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect())
}

/// Everything but the unreserved characters of RFC 3986.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// A query value may keep `:` and `/` as they are (RFC 3986, 3.4): `head=owner:branch/name`.
const QUERY_VALUE: &AsciiSet = &COMPONENT.remove(b':').remove(b'/');

/// Percent-encodes a query value, keeping `:` and `/` readable.
pub fn encode_query(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// A service at a base URL, reached with a token: the part every token-bearing client (Argo
/// CD, mobu, Vault, GitHub) shares. The token is a `Secret`: no `Debug` shows it, and `send`
/// scrubs it from every error text.
#[derive(Debug)]
pub struct Endpoint {
    /// The service's root, without a trailing `/`.
    pub base: String,
    token: Secret,
    /// `Authorization: Bearer <token>` (`None`), or the token alone in a named header
    /// (Vault's `X-Vault-Token`).
    token_header: Option<&'static str>,
    http: Http,
}

impl Endpoint {
    pub fn new(base: &str, token: impl Into<Secret>) -> Endpoint {
        Endpoint::with_http(base, token, Http::new())
    }

    pub fn with_http(base: &str, token: impl Into<Secret>, http: Http) -> Endpoint {
        Endpoint {
            base: base.trim_end_matches('/').to_string(),
            token: token.into(),
            token_header: None,
            http,
        }
    }

    /// Sends the token alone in `header` instead of `Authorization: Bearer`.
    pub fn token_header(mut self, header: &'static str) -> Endpoint {
        self.token_header = Some(header);
        self
    }

    /// `Http::send` with the token added; an error's text never holds the token.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
        what: &str,
    ) -> Result<Reply, ClientError> {
        let bearer;
        let auth = match self.token_header {
            Some(h) => (h, self.token.expose()),
            None => {
                bearer = format!("Bearer {}", self.token.expose());
                ("Authorization", bearer.as_str())
            }
        };
        let mut all = vec![auth];
        all.extend_from_slice(headers);
        self.http
            .send(method, url, &all, body, what)
            .map_err(|mut e| {
                e.message = self.clean(&e.message);
                e
            })
    }

    /// `text` (a service's answer, a `Location`) without the token.
    pub fn clean(&self, text: &str) -> String {
        Redactor::new([self.token.expose()]).redact(text)
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
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(
            encode_query("lsst:migrate/nublado/make-default/a+b"),
            "lsst:migrate/nublado/make-default/a%2Bb"
        );
    }

    #[test]
    fn reads_what_services_say() {
        let reply = |body: &str| Reply {
            status: 400,
            body: body.into(),
            location: None,
            retry_after: None,
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
        assert_eq!(
            reply(r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:b."}]}"#).said(),
            "Validation Failed; A pull request already exists for o:b."
        );
    }

    #[test]
    fn what_heals() {
        let e = |s: Option<u16>| ClientError::new(s, "x");
        assert!(e(None).retryable());
        assert!(e(Some(503)).retryable());
        assert!(e(Some(429)).retryable());
        assert!(!e(Some(401)).retryable());
        assert!(!e(Some(403)).retryable());
        assert!(!e(Some(404)).retryable());
        let dns = Http::new()
            .send(
                "GET",
                "http://no-such-host.invalid/x",
                &[],
                None,
                "the test",
            )
            .unwrap_err();
        assert!(!dns.retryable(), "{dns}");
        assert!(dns.message.contains("not retried"), "{dns}");
    }
}
