//! Vault (or OpenBao) KV version 2 over its HTTP API: read a secret (its latest version or any
//! other), list its versions, add keys to it (read-modify-write with check-and-set, so keys
//! already there are kept and a concurrent writer is noticed), list a folder, and delete a
//! secret with all its versions.
//!
//! Paths are given as Phalanx writes them, mount first (`secret/phalanx/idfdev/nublado`: mount
//! `secret`, path `phalanx/idfdev/nublado`). The HTTP API, unlike the CLI, puts `data/` or
//! `metadata/` between the mount and the path (`/v1/secret/data/phalanx/idfdev/nublado`);
//! forgetting it is the classic mistake, and `api_url` is the one place that builds these.
//!
//! The token travels in `X-Vault-Token` only. No error text holds the token or a secret value:
//! Vault's own messages are kept (they name paths and reasons, never values) and the token is
//! redacted from everything as a second line of defence.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::http::{ClientError, Endpoint, Http, Reply, encode};

/// Which half of the KV v2 API a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kv {
    /// `/v1/<mount>/data/<path>`: the secret's values.
    Data,
    /// `/v1/<mount>/metadata/<path>`: its versions, listing, deleting all versions.
    Metadata,
}

/// `secret/phalanx/idfdev/nublado` → (`secret`, `phalanx/idfdev/nublado`). `None` without a
/// path after the mount.
pub fn split_mount(path: &str) -> Option<(&str, &str)> {
    let path = path.trim().trim_matches('/');
    let (mount, rest) = path.split_once('/')?;
    let rest = rest.trim_matches('/');
    (!mount.is_empty() && !rest.is_empty()).then_some((mount, rest))
}

/// The HTTP URL of a KV v2 path: `https://vault/v1/secret/data/phalanx/idfdev/nublado`.
pub fn api_url(base: &str, path: &str, kv: Kv) -> Result<String, ClientError> {
    let (mount, rest) = split_mount(path).ok_or_else(|| {
        ClientError::new(
            Some(400),
            format!(
                "`{path}` is not a Vault KV path: it needs the mount and a path (`secret/phalanx/<env>/<app>`)"
            ),
        )
    })?;
    let half = match kv {
        Kv::Data => "data",
        Kv::Metadata => "metadata",
    };
    let segments: Vec<String> = rest.split('/').map(encode).collect();
    Ok(format!(
        "{}/v1/{}/{half}/{}",
        base.trim_end_matches('/'),
        encode(mount),
        segments.join("/")
    ))
}

/// The latest version of a secret.
#[derive(Clone, PartialEq)]
pub struct Secret {
    /// The key/value pairs (values are usually strings, but KV v2 stores any JSON).
    pub data: Map<String, Value>,
    /// Its version (for check-and-set).
    pub version: u64,
}

impl fmt::Debug for Secret {
    /// Key names and version only: a secret's values never reach a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .finish()
    }
}

/// What reading a path found.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// The latest version, with its values.
    Found(Secret),
    /// Versions exist but the latest is deleted (soft): `version` is the current one (a write
    /// must name it in its check-and-set).
    Deleted { version: u64 },
    /// Nothing at that path.
    Absent,
}

/// One version of a secret, from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: u64,
    pub created: String,
    /// When it was deleted (soft: its data can be undeleted, but not read).
    pub deleted: Option<String>,
    /// Destroyed: its data is gone for good.
    pub destroyed: bool,
}

/// What `add_missing` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The keys written.
    pub added: Vec<String>,
    /// The keys that were there already and were kept.
    pub kept: Vec<String>,
    /// The secret's version afterwards.
    pub version: u64,
}

/// The Vault KV v2 calls of the window. Implemented by `VaultClient`.
pub trait VaultApi: Send + Sync + fmt::Debug {
    /// `https://vault.lsst.cloud`.
    fn base_url(&self) -> &str;
    /// `GET /v1/<mount>/data/<path>`.
    fn read(&self, path: &str) -> Result<Read, ClientError>;
    /// `GET /v1/<mount>/data/<path>?version=N`.
    fn read_version(&self, path: &str, version: u64) -> Result<Read, ClientError>;
    /// `GET /v1/<mount>/metadata/<path>`: every version kept, oldest first (empty when the
    /// path is absent).
    fn versions(&self, path: &str) -> Result<Vec<Version>, ClientError>;
    /// `POST /v1/<mount>/data/<path>` with `options.cas` = `cas` (0: only if absent), replacing
    /// the whole secret with `data`. Returns the new version; a check-and-set mismatch is an
    /// error with status 400 whose `said` names it.
    fn write(&self, path: &str, data: &Map<String, Value>, cas: u64) -> Result<u64, ClientError>;
    /// `LIST /v1/<mount>/metadata/<path>` (as `GET …?list=true`): the names under a folder,
    /// folders ending with `/`; empty when there is nothing.
    fn list(&self, path: &str) -> Result<Vec<String>, ClientError>;
    /// `DELETE /v1/<mount>/metadata/<path>`: every version and the metadata. Succeeds when the
    /// path is already gone.
    fn delete_all(&self, path: &str) -> Result<(), ClientError>;

    /// Adds the `values` whose keys the secret does not have yet, keeping every key already
    /// there (creating the secret when absent). Read-modify-write with check-and-set on the
    /// version read; when another writer got in between, reads again (a few times).
    fn add_missing(&self, path: &str, values: &[(String, String)]) -> Result<Added, ClientError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let (mut data, cas) = match self.read(path)? {
                Read::Found(s) => (s.data, s.version),
                Read::Deleted { version } => (Map::new(), version),
                Read::Absent => (Map::new(), 0),
            };
            let mut added = Vec::new();
            let mut kept = Vec::new();
            for (k, v) in values {
                if data.contains_key(k) {
                    kept.push(k.clone());
                } else {
                    data.insert(k.clone(), Value::String(v.clone()));
                    added.push(k.clone());
                }
            }
            if added.is_empty() {
                return Ok(Added {
                    added,
                    kept,
                    version: cas,
                });
            }
            match self.write(path, &data, cas) {
                Ok(version) => {
                    return Ok(Added {
                        added,
                        kept,
                        version,
                    });
                }
                Err(e) if is_cas_mismatch(&e) && tries < 5 => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether Vault refused a write because the version changed since it was read.
pub fn is_cas_mismatch(e: &ClientError) -> bool {
    e.status == Some(400) && e.said.contains("check-and-set")
}

#[derive(Debug)]
pub struct VaultClient {
    ep: Endpoint,
}

impl VaultClient {
    /// `base` is Vault's root (`https://vault.lsst.cloud`), without `/v1`.
    pub fn new(base: &str, token: String) -> VaultClient {
        VaultClient {
            ep: Endpoint::new(base, token).token_header("X-Vault-Token"),
        }
    }

    /// The same, with an agent of its own (a `ca_file` setting).
    pub fn with_http(base: &str, token: String, http: Http) -> VaultClient {
        VaultClient {
            ep: Endpoint::with_http(base, token, http).token_header("X-Vault-Token"),
        }
    }

    fn call(&self, method: &str, url: &str, body: Option<String>) -> Result<Reply, ClientError> {
        self.ep.send(
            method,
            url,
            &[("Accept", "application/json")],
            body.map(|b| ("application/json", b)),
            &format!("Vault at {}", self.ep.base),
        )
    }

    fn refused(&self, reply: &Reply, action: &str) -> ClientError {
        // Vault says `{"errors": ["permission denied"]}`; the texts name paths and reasons.
        let said = reply
            .json()
            .get("errors")
            .and_then(Value::as_array)
            .map(|es| {
                es.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| reply.said());
        let said = self.ep.clean(&said);
        let base = &self.ep.base;
        let s = reply.status;
        let explained = crate::http::explained(&said);
        let message = match s {
            401 | 403 => format!(
                "Vault at {base} refused the token ({s}{explained}) to {action}: it needs a token whose policy allows it"
            ),
            503 => format!("Vault at {base} is sealed or unavailable ({s}{explained}) to {action}"),
            s if s >= 500 => {
                format!("Vault at {base} failed with a server error ({s}{explained}) to {action}")
            }
            s => format!("Vault at {base} answered {s}{explained} to {action}"),
        };
        ClientError {
            said,
            ..ClientError::answered(reply, message)
        }
    }
}

impl VaultClient {
    /// A read of `url` (a version of `path`).
    fn read_url(&self, url: &str, path: &str) -> Result<Read, ClientError> {
        let reply = self.call("GET", url, None)?;
        let body = reply.json();
        match reply.status {
            // A deleted latest version answers 404 with its metadata.
            404 => Ok(match version_of(&body) {
                Some(version) if version > 0 => Read::Deleted { version },
                _ => Read::Absent,
            }),
            _ if reply.ok() => {
                let version = version_of(&body).unwrap_or(0);
                match body.pointer("/data/data") {
                    Some(Value::Object(m)) => Ok(Read::Found(Secret {
                        data: m.clone(),
                        version,
                    })),
                    _ => Ok(Read::Deleted { version }),
                }
            }
            _ => Err(self.refused(&reply, &format!("read `{path}`"))),
        }
    }
}

fn version_of(v: &Value) -> Option<u64> {
    v.pointer("/data/metadata/version").and_then(Value::as_u64)
}

impl VaultApi for VaultClient {
    fn base_url(&self) -> &str {
        &self.ep.base
    }

    fn read(&self, path: &str) -> Result<Read, ClientError> {
        let url = api_url(&self.ep.base, path, Kv::Data)?;
        self.read_url(&url, path)
    }

    fn read_version(&self, path: &str, version: u64) -> Result<Read, ClientError> {
        let url = format!(
            "{}?version={version}",
            api_url(&self.ep.base, path, Kv::Data)?
        );
        self.read_url(&url, path)
    }

    fn versions(&self, path: &str) -> Result<Vec<Version>, ClientError> {
        let reply = self.call("GET", &api_url(&self.ep.base, path, Kv::Metadata)?, None)?;
        match reply.status {
            404 => Ok(Vec::new()),
            _ if reply.ok() => {
                let body = reply.json();
                let mut out: Vec<Version> = body
                    .pointer("/data/versions")
                    .and_then(Value::as_object)
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|(n, v)| {
                                let text = |k: &str| {
                                    v.get(k)
                                        .and_then(Value::as_str)
                                        .filter(|s| !s.is_empty())
                                        .map(str::to_string)
                                };
                                Some(Version {
                                    version: n.parse().ok()?,
                                    created: text("created_time").unwrap_or_default(),
                                    deleted: text("deletion_time"),
                                    destroyed: v.get("destroyed").and_then(Value::as_bool)
                                        == Some(true),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.sort_by_key(|v| v.version);
                Ok(out)
            }
            _ => Err(self.refused(&reply, &format!("read the versions of `{path}`"))),
        }
    }

    fn write(&self, path: &str, data: &Map<String, Value>, cas: u64) -> Result<u64, ClientError> {
        let body = json!({"options": {"cas": cas}, "data": data}).to_string();
        let reply = self.call("POST", &api_url(&self.ep.base, path, Kv::Data)?, Some(body))?;
        if !reply.ok() {
            return Err(self.refused(&reply, &format!("write `{path}`")));
        }
        Ok(reply
            .json()
            .pointer("/data/version")
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    fn list(&self, path: &str) -> Result<Vec<String>, ClientError> {
        let url = format!("{}?list=true", api_url(&self.ep.base, path, Kv::Metadata)?);
        let reply = self.call("GET", &url, None)?;
        match reply.status {
            404 => Ok(Vec::new()),
            _ if reply.ok() => Ok(reply
                .json()
                .pointer("/data/keys")
                .and_then(Value::as_array)
                .map(|ks| {
                    ks.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()),
            _ => Err(self.refused(&reply, &format!("list `{path}`"))),
        }
    }

    fn delete_all(&self, path: &str) -> Result<(), ClientError> {
        let reply = self.call("DELETE", &api_url(&self.ep.base, path, Kv::Metadata)?, None)?;
        match reply.status {
            404 => Ok(()),
            _ if reply.ok() => Ok(()),
            _ => Err(self.refused(&reply, &format!("delete every version of `{path}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv2_urls_put_data_or_metadata_after_the_mount() {
        let base = "https://vault.lsst.cloud/";
        assert_eq!(
            api_url(base, "secret/phalanx/idfdev/nublado", Kv::Data).unwrap(),
            "https://vault.lsst.cloud/v1/secret/data/phalanx/idfdev/nublado"
        );
        assert_eq!(
            api_url(base, "/secret/phalanx/idfdev/nublado2/", Kv::Metadata).unwrap(),
            "https://vault.lsst.cloud/v1/secret/metadata/phalanx/idfdev/nublado2"
        );
        assert_eq!(split_mount("secret"), None);
        assert!(api_url(base, "secret/", Kv::Data).is_err());
    }

    #[test]
    fn debug_of_a_secret_shows_key_names_only() {
        let mut data = Map::new();
        data.insert("proxy_token".into(), Value::String("s3cr3t-value".into()));
        let text = format!("{:?}", Secret { data, version: 3 });
        assert!(text.contains("proxy_token") && !text.contains("s3cr3t-value"));
        let c = VaultClient::new("http://127.0.0.1:1", "tok-DoNotPrint".into());
        assert!(!format!("{c:?}").contains("tok-DoNotPrint"));
    }
}
