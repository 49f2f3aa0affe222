//! Argo CD's REST API, as far as the window needs it: an Application's sync and health status
//! and its last operation, and starting a sync (with prune where the stage needs it).
//!
//! `GET {base}/api/v1/applications/{name}`, `POST {base}/api/v1/applications/{name}/sync`
//! (body `{}` or `{"prune": true}`), `Authorization: Bearer <token>`. Phalanx serves Argo CD
//! under `https://<fqdn>/argo-cd`. A sync during another operation is refused with "another
//! operation is already in progress" (400 or 409); `SyncRefusal::Busy` tells it apart so the
//! step can wait and retry.

use std::fmt;

use serde_json::{Value, json};

use super::http::{ClientError, Endpoint, Reply, encode, redact};

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
}

impl OperationState {
    pub fn finished(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed" | "Error")
    }
}

/// An Application's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub name: String,
    /// `status.sync.status`: `Synced`, `OutOfSync`, `Unknown`.
    pub sync: String,
    /// `status.health.status`: `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`,
    /// `Unknown`.
    pub health: String,
    pub operation: Option<OperationState>,
    /// The highest `status.history[].id`: a successful sync adds one.
    pub history_id: Option<i64>,
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
                }
            });
        Some(Application {
            name: s("/metadata/name")?,
            sync: s("/status/sync/status").unwrap_or_else(|| "Unknown".into()),
            health: s("/status/health/status").unwrap_or_else(|| "Unknown".into()),
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

    /// `OutOfSync, Progressing; operation Running (started 2026-11-21T06:17:46Z)`.
    pub fn describe(&self) -> String {
        let op = match &self.operation {
            None => "no operation yet".to_string(),
            Some(o) => {
                let mut s = format!("last operation {} (started {}", o.phase, o.started_at);
                if let Some(f) = &o.finished_at {
                    s.push_str(&format!(", finished {f}"));
                }
                s.push(')');
                if !o.message.is_empty() {
                    s.push_str(&format!(": {}", o.message));
                }
                s
            }
        };
        format!("{}, {}; {op}", self.sync, self.health)
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
    /// The application, or `None` when Argo CD has none by that name.
    fn get_application(&self, name: &str) -> Result<Option<Application>, ClientError>;
    /// Starts a sync.
    fn sync(&self, name: &str, prune: bool) -> Result<(), SyncRefusal>;
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
        let auth = format!("Bearer {}", self.ep.token);
        self.ep
            .http
            .send(
                method,
                &url,
                &[("Authorization", &auth), ("Accept", "application/json")],
                body.map(|b| ("application/json", b.to_string())),
                &format!("Argo CD at {}", self.ep.base),
            )
            .map_err(|mut e| {
                e.message = redact(&e.message, &[&self.ep.token]);
                e
            })
    }

    fn refused(&self, reply: &Reply, action: &str) -> ClientError {
        let said = redact(&reply.said(), &[&self.ep.token]);
        let base = &self.ep.base;
        let s = reply.status;
        let explained = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let message = match s {
            401 => format!(
                "Argo CD at {base} refused the token (401{explained}) to {action}; check the Argo CD token"
            ),
            403 => format!(
                "Argo CD at {base} denied {action} (403{explained}): the token lacks permission, or the application does not exist"
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
            status: Some(s),
            message,
            said,
        }
    }
}

impl ArgoCdApi for ArgoCdClient {
    fn base_url(&self) -> &str {
        &self.ep.base
    }

    fn get_application(&self, name: &str) -> Result<Option<Application>, ClientError> {
        let reply = self.call("GET", name, "", None)?;
        let action = format!("get application `{name}`");
        if reply.status == 404 {
            return Ok(None);
        }
        if !reply.ok() {
            return Err(self.refused(&reply, &action));
        }
        Application::from_json(&reply.json())
            .map(Some)
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

    fn sync(&self, name: &str, prune: bool) -> Result<(), SyncRefusal> {
        let body = if prune {
            json!({"prune": true})
        } else {
            json!({})
        };
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
            "operationState":{"phase":"Succeeded","startedAt":"2026-11-21T06:17:46Z","finishedAt":"2026-11-21T06:17:50Z","message":"successfully synced (all tasks run)"}}}"#,
        )
        .unwrap();
        let a = Application::from_json(&v).unwrap();
        assert_eq!(a.history_id, Some(4));
        assert_eq!(
            a.describe(),
            "Synced, Healthy; last operation Succeeded (started 2026-11-21T06:17:46Z, finished 2026-11-21T06:17:50Z): successfully synced (all tasks run)"
        );
    }
}
