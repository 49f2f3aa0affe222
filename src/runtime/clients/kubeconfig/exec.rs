//! Exec credential plugins (`users[].user.exec`) run as kubectl runs them: `KUBERNETES_EXEC_INFO`
//! with `spec.interactive` and, when asked, `spec.cluster`; the terminal's stdin and the
//! plugin's stderr passed through when its `interactiveMode` allows and a terminal exists; a
//! time limit with a clear message; the `ExecCredential` read back (a token or a client
//! certificate, and when it expires).
//!
//! Owns: running a plugin and reading its answer. Does not own: caching the credential and
//! rebuilding the connection (`access`), the plugin's configuration (`kubeconfig`).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use serde_json::{Value, json};

use crate::util::time::{human, parse_rfc3339};

use super::*;
#[derive(Clone)]
pub(super) struct Credential {
    pub(super) token: Option<String>,
    pub(super) expires: Option<SystemTime>,
    pub(super) cert: Option<String>,
    pub(super) key: Option<String>,
}

impl Credential {
    pub(super) fn cert_and_key(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some((c.clone().into_bytes(), k.clone().into_bytes())),
            _ => None,
        }
    }
}

/// `spec.cluster` of `KUBERNETES_EXEC_INFO` (`provideClusterInfo: true`).
pub(super) fn cluster_info(t: &Transport) -> Value {
    let mut c = json!({ "server": t.server });
    if let Some(ca) = &t.ca {
        c["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    if t.insecure {
        c["insecure-skip-tls-verify"] = json!(true);
    }
    if let Some(n) = &t.tls_server_name {
        c["tls-server-name"] = json!(n);
    }
    if let Some(p) = &t.proxy_url {
        c["proxy-url"] = json!(p);
    }
    c
}

/// Runs an exec credential plugin and reads its `ExecCredential`, within `limit` (ten times
/// that when it may ask a person on the terminal).
pub(super) fn run_exec(
    plugin: &ExecPlugin,
    t: &Transport,
    limit: Duration,
) -> Result<Credential, String> {
    let program = if plugin.command.contains('/') {
        resolve(&plugin.dir, &plugin.command)
    } else {
        PathBuf::from(&plugin.command)
    };
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let interactive = match plugin.interactive_mode {
        InteractiveMode::Never => false,
        InteractiveMode::IfAvailable => terminal,
        InteractiveMode::Always if terminal => true,
        InteractiveMode::Always => {
            return Err(format!(
                "the credential plugin `{}` needs a terminal (`interactiveMode: Always`) and there is none: run from a terminal",
                plugin.command
            ));
        }
    };
    let mut spec = json!({ "interactive": interactive });
    if plugin.provide_cluster_info {
        spec["cluster"] = cluster_info(t);
    }
    let info = json!({
        "apiVersion": plugin.api_version,
        "kind": "ExecCredential",
        "spec": spec,
    });
    let mut cmd = Command::new(&program);
    cmd.args(&plugin.args)
        .envs(plugin.env.iter().map(|(k, v)| (k, v)))
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdout(Stdio::piped());
    if interactive {
        cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(|e| {
        let hint = plugin
            .install_hint
            .as_deref()
            .map(|h| format!("\n{}", h.trim()))
            .unwrap_or_default();
        format!(
            "cannot run the kubeconfig's credential plugin `{}`: {e}{hint}",
            plugin.command
        )
    })?;
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let limit = if interactive { limit * 10 } else { limit };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the credential plugin `{}` did not finish within {}{}; it was stopped. A plugin that waits for a login (a device code, an expired SSO session) needs a terminal: log in with it there (e.g. `kubectl get namespaces` with this context), then run again",
                    plugin.command,
                    human(limit),
                    if interactive {
                        ""
                    } else {
                        " without a terminal to ask on"
                    }
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("credential plugin `{}`: {e}", plugin.command)),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let err = String::from_utf8_lossy(&stderr);
        return Err(format!(
            "the credential plugin `{}` failed ({status}): {}",
            plugin.command,
            err.trim().chars().take(300).collect::<String>()
        ));
    }
    let v: Value = serde_json::from_slice(&stdout).map_err(|e| {
        format!(
            "the credential plugin `{}` printed no ExecCredential JSON: {e}",
            plugin.command
        )
    })?;
    let status = v.get("status").cloned().unwrap_or(Value::Null);
    let cred = Credential {
        token: text(&status, "token"),
        expires: text(&status, "expirationTimestamp")
            .and_then(|t| parse_rfc3339(&t))
            .map(|d| SystemTime::UNIX_EPOCH + d),
        cert: text(&status, "clientCertificateData"),
        key: text(&status, "clientKeyData"),
    };
    if cred.token.is_none() && cred.cert_and_key().is_none() {
        return Err(format!(
            "the credential plugin `{}` gave neither `status.token` nor a client certificate and key",
            plugin.command
        ));
    }
    Ok(cred)
}
