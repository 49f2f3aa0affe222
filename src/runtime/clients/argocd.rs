//! Argo CD's REST API, as far as the window needs it: an Application's sync and health status
//! (with the revision it is compared with), its last operation (with the revision it synced),
//! the resources it would prune, a refresh, and starting a sync pinned to a revision (with
//! prune where the stage needs it).
//!
//! `GET {base}/api/v1/applications/{name}[?refresh=hard]`, `POST
//! {base}/api/v1/applications/{name}/sync` (body `{"revision": "<sha>", "prune": true}`),
//! `Authorization: Bearer <token>`. Phalanx serves Argo CD under `https://<fqdn>/argo-cd`.
//!
//! What the answers mean:
//! - Without `?project=`, Argo CD answers **403 for an application that does not exist** (it
//!   will not tell a missing application from a forbidden one): `Lookup::Hidden`, which a
//!   step waiting for an application to be created treats like a 404.
//! - `?refresh=hard` makes the repo-server resolve the branch again, bypassing its revision
//!   cache (minutes long): right after a merge, an unrefreshed application can still be
//!   compared with, and synced to, the previous commit. The answer comes once the refresh is
//!   done.
//! - `status.sync.revision` is the commit the branch resolved to at the last comparison;
//!   `status.operationState.syncResult.revision` the commit the last sync applied;
//!   `status.resources[].requiresPruning` marks what a sync with prune would delete.
//! - A sync during another operation is refused with "another operation is already in
//!   progress" (400 or 409); `SyncRefusal::Busy` tells it apart so the step can wait and retry.

use std::fmt;

use serde_json::{Value, json};

use crate::http::{ClientError, Endpoint, Http, Reply, encode};
use crate::util::text::short_commit;

/// Argo CD's words when it refuses a sync because one is running.
pub const BUSY: &str = "another operation is already in progress";

/// `status.operationState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationState {
    /// `Running`, `Terminating`, `Succeeded`, `Failed`, `Error`.
    pub phase: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub message: String,
    /// `syncResult.revision`: the commit the sync applied (once it has a result).
    pub revision: Option<String>,
}

impl OperationState {
    pub fn finished(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed" | "Error")
    }
}

/// One of the resources an Application manages (`status.resources[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The application no longer renders it: a sync with prune deletes it.
    pub requires_pruning: bool,
}

impl Resource {
    /// `Application/nublado2`: how a stage names what it expects to prune.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// `Application argocd/nublado2`.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// An Application's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub name: String,
    /// `status.sync.status`: `Synced`, `OutOfSync`, `Unknown`.
    pub sync: String,
    /// `status.sync.revision`: the commit the tracked branch resolved to when Argo CD last
    /// compared the application.
    pub revision: Option<String>,
    /// `status.health.status`: `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`,
    /// `Unknown`.
    pub health: String,
    pub operation: Option<OperationState>,
    /// The highest `status.history[].id`: a successful sync adds one.
    pub history_id: Option<i64>,
    /// `status.resources[]`.
    pub resources: Vec<Resource>,
}

/// What looking an application up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Box<Application>),
    /// 404: no such application.
    Missing,
    /// 403: no such application, or the token may not read it (Argo CD answers 403 for both
    /// unless the request names the project).
    Hidden,
}

impl Lookup {
    pub fn found(&self) -> Option<&Application> {
        match self {
            Lookup::Found(a) => Some(a),
            _ => None,
        }
    }
}

/// Whether a read refreshes the application first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// The state Argo CD has.
    No,
    /// `?refresh=hard`: the repo-server resolves the branch again, bypassing its caches.
    Hard,
}

/// `POST …/sync`'s body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncRequest {
    /// Delete the resources the application no longer renders.
    pub prune: bool,
    /// Sync to this commit instead of whatever the tracked branch resolves to.
    pub revision: Option<String>,
}

impl Application {
    fn from_json(v: &Value) -> Option<Application> {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let operation = v
            .pointer("/status/operationState")
            .filter(|o| o.is_object())
            .map(|o| {
                let t = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
                OperationState {
                    phase: t("phase").unwrap_or_default(),
                    started_at: t("startedAt").unwrap_or_default(),
                    finished_at: t("finishedAt").filter(|f| !f.is_empty()),
                    message: t("message").unwrap_or_default(),
                    revision: o
                        .pointer("/syncResult/revision")
                        .and_then(Value::as_str)
                        .filter(|r| !r.is_empty())
                        .map(str::to_string),
                }
            });
        let resources = v
            .pointer("/status/resources")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|r| {
                        let t = |k: &str| {
                            r.get(k)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string()
                        };
                        Resource {
                            group: t("group"),
                            kind: t("kind"),
                            namespace: t("namespace"),
                            name: t("name"),
                            requires_pruning: r.get("requiresPruning").and_then(Value::as_bool)
                                == Some(true),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Application {
            name: s("/metadata/name")?,
            sync: s("/status/sync/status").unwrap_or_else(|| "Unknown".into()),
            revision: s("/status/sync/revision").filter(|r| !r.is_empty()),
            health: s("/status/health/status").unwrap_or_else(|| "Unknown".into()),
            resources,
            operation,
            history_id: v
                .pointer("/status/history")
                .and_then(Value::as_array)
                .and_then(|h| {
                    h.iter()
                        .filter_map(|e| e.get("id").and_then(Value::as_i64))
                        .max()
                }),
        })
    }

    /// The resources a sync with prune would delete.
    pub fn to_prune(&self) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.requires_pruning)
            .collect()
    }

    /// `OutOfSync at 3f1c2a9, Progressing; last operation Running (started 2026-11-21T06:17:46Z)`.
    pub fn describe(&self) -> String {
        let op = match &self.operation {
            None => "no operation yet".to_string(),
            Some(o) => {
                let mut s = format!("last operation {} (started {}", o.phase, o.started_at);
                if let Some(f) = &o.finished_at {
                    s.push_str(&format!(", finished {f}"));
                }
                if let Some(r) = &o.revision {
                    s.push_str(&format!(", at {}", short_commit(r)));
                }
                s.push(')');
                if !o.message.is_empty() {
                    s.push_str(&format!(": {}", o.message));
                }
                s
            }
        };
        let at = self
            .revision
            .as_deref()
            .map(|r| format!(" at {}", short_commit(r)))
            .unwrap_or_default();
        format!("{}{at}, {}; {op}", self.sync, self.health)
    }
}

/// Why a sync did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncRefusal {
    /// "another operation is already in progress".
    #[error("{0}")]
    Busy(ClientError),
    #[error(transparent)]
    Other(#[from] ClientError),
}

/// The Argo CD calls of the window. Implemented by `ArgoCdClient`.
pub trait ArgoCdApi: Send + Sync + fmt::Debug {
    /// `https://data.lsst.cloud/argo-cd`.
    fn base_url(&self) -> &str;
    /// The application (refreshed first with `Refresh::Hard`), or why it cannot be seen.
    fn get_application(&self, name: &str, refresh: Refresh) -> Result<Lookup, ClientError>;
    /// Starts a sync.
    fn sync(&self, name: &str, request: &SyncRequest) -> Result<(), SyncRefusal>;
}

/// Argo CD over HTTPS with a bearer token.
#[derive(Debug)]
pub struct ArgoCdClient {
    ep: Endpoint,
}

impl ArgoCdClient {
    /// `base` is Argo CD's root (`https://<fqdn>/argo-cd`), without `/api/v1`.
    pub fn new(base: &str, token: String) -> ArgoCdClient {
        ArgoCdClient {
            ep: Endpoint::new(base, token),
        }
    }

    /// The same, with an agent of its own (a `ca_file` setting).
    pub fn with_http(base: &str, token: String, http: Http) -> ArgoCdClient {
        ArgoCdClient {
            ep: Endpoint::with_http(base, token, http),
        }
    }

    fn call(
        &self,
        method: &str,
        name: &str,
        suffix: &str,
        body: Option<Value>,
    ) -> Result<Reply, ClientError> {
        let url = format!(
            "{}/api/v1/applications/{}{suffix}",
            self.ep.base,
            encode(name)
        );
        self.send(method, &url, body)
    }

    fn send(&self, method: &str, url: &str, body: Option<Value>) -> Result<Reply, ClientError> {
        self.ep.send(
            method,
            url,
            &[("Accept", "application/json")],
            body.map(|b| ("application/json", b.to_string())),
            &format!("Argo CD at {}", self.ep.base),
        )
    }

    fn refused(&self, reply: &Reply, action: &str) -> ClientError {
        let said = self.ep.clean(&reply.said());
        let base = &self.ep.base;
        let s = reply.status;
        let explained = crate::http::explained(&said);
        let message = match s {
            401 => format!(
                "Argo CD at {base} refused the token (401{explained}) to {action}; check the Argo CD token"
            ),
            403 => format!(
                "Argo CD at {base} denied {action} (403{explained}): the application does not exist, or the token lacks permission (Argo CD does not tell them apart)"
            ),
            s if (300..400).contains(&s) => format!(
                "Argo CD at {base} redirected ({s}) instead of answering {action}: is the URL right (Phalanx serves it under /argo-cd)?"
            ),
            s if s >= 500 => {
                format!("Argo CD at {base} failed with a server error ({s}{explained}) to {action}")
            }
            s => format!("Argo CD at {base} answered {s}{explained} to {action}"),
        };
        ClientError {
            said,
            ..ClientError::answered(reply, message)
        }
    }
}

impl ArgoCdApi for ArgoCdClient {
    fn base_url(&self) -> &str {
        &self.ep.base
    }

    fn get_application(&self, name: &str, refresh: Refresh) -> Result<Lookup, ClientError> {
        let query = match refresh {
            Refresh::No => "",
            Refresh::Hard => "?refresh=hard",
        };
        let reply = self.call("GET", name, query, None)?;
        let action = format!("get application `{name}`");
        match reply.status {
            404 => return Ok(Lookup::Missing),
            403 => return Ok(Lookup::Hidden),
            _ if !reply.ok() => return Err(self.refused(&reply, &action)),
            _ => {}
        }
        Application::from_json(&reply.json())
            .map(|a| Lookup::Found(Box::new(a)))
            .ok_or_else(|| {
                ClientError::new(
                    None,
                    format!(
                        "unexpected answer from Argo CD at {} for application `{name}`",
                        self.ep.base
                    ),
                )
            })
    }

    fn sync(&self, name: &str, request: &SyncRequest) -> Result<(), SyncRefusal> {
        let mut body = json!({});
        if let Some(r) = &request.revision {
            body["revision"] = json!(r);
        }
        if request.prune {
            body["prune"] = json!(true);
        }
        let reply = self.call("POST", name, "/sync", Some(body))?;
        if reply.ok() {
            return Ok(());
        }
        let action = format!("sync application `{name}`");
        let e = self.refused(&reply, &action);
        if matches!(reply.status, 400 | 409) && e.said.contains(BUSY) {
            return Err(SyncRefusal::Busy(e));
        }
        Err(SyncRefusal::Other(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_application() {
        let v: Value = serde_json::from_str(
            r#"{"metadata":{"name":"nublado"},"status":{"sync":{"status":"Synced"},"health":{"status":"Healthy"},
            "history":[{"id":3},{"id":4}],
            "resources":[{"group":"argoproj.io","kind":"Application","namespace":"argocd","name":"nublado2","status":"OutOfSync","requiresPruning":true},
                         {"group":"argoproj.io","kind":"Application","namespace":"argocd","name":"nublado","status":"Synced"}],
            "operationState":{"phase":"Succeeded","startedAt":"2026-11-21T06:17:46Z","finishedAt":"2026-11-21T06:17:50Z","message":"successfully synced (all tasks run)",
                "syncResult":{"revision":"9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807"}}}}"#,
        )
        .unwrap();
        let a = Application::from_json(&v).unwrap();
        assert_eq!(a.history_id, Some(4));
        assert_eq!(
            a.describe(),
            "Synced, Healthy; last operation Succeeded (started 2026-11-21T06:17:46Z, finished 2026-11-21T06:17:50Z, at 9e8d7c6): successfully synced (all tasks run)"
        );
        let prune: Vec<String> = a.to_prune().iter().map(|r| r.key()).collect();
        assert_eq!(prune, ["Application/nublado2"]);
        assert_eq!(a.to_prune()[0].describe(), "Application argocd/nublado2");
    }
}
