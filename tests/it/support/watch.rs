//! Watches on the Kubernetes double, as the API server answers `?watch=true`: a chunked
//! stream of newline-delimited JSON events (`{"type": "ADDED"|"MODIFIED"|"DELETED", "object":
//! …}`) for namespaces, pods and Deployments (a collection, filtered by label and field
//! selectors, or one object's path), until `timeoutSeconds` or until the client goes.
//!
//! - From a `resourceVersion` (what a list answered): only what changed after it, deletions
//!   included (the double keeps tombstones of removed objects).
//! - Without one (or `0`): an `ADDED` event for every object first; with
//!   `sendInitialEvents=true`, then a `BOOKMARK` marked `k8s.io/initial-events-end`.
//! - An object that stops matching the selectors is `DELETED` for that watch.
//! - Resources the double cannot watch (services, leases) are refused with 405, as the API
//!   server refuses a verb a resource does not support.
//!
//! Owns: the stream. Does not own: the objects (`super::objects`, `super::selected`).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Answer, Kind, Request, World, objects, selected, status_answer, sweep};

/// How often a watch looks at the world.
const TICK: Duration = Duration::from_millis(20);

/// The longest a watch stays open (the API server's `--min-request-timeout` default is 30
/// minutes; tests never need that long).
const LONGEST: Duration = Duration::from_secs(300);

/// One watch request, as parsed.
#[derive(Debug, Clone)]
pub struct Watch {
    kind: Kind,
    namespace: Option<String>,
    label_sel: String,
    field_sel: String,
    /// Events after this `resourceVersion`; `None`: every object first.
    since: Option<u64>,
    initial_events_end: bool,
    timeout: Duration,
}

/// Whether the request asks for a watch.
pub fn asked(req: &Request) -> bool {
    req.method == "GET"
        && matches!(
            req.query.get("watch").map(String::as_str),
            Some("true" | "1")
        )
}

/// The answer to a watch request: the stream to come (`Answer::watch`), or a refusal.
pub fn start(req: &Request, segs: &[&str]) -> Answer {
    let (kind, namespace, name) = match segs {
        ["api", "v1", "namespaces"] => (Kind::Namespace, None, None),
        ["api", "v1", "namespaces", n] => (Kind::Namespace, None, Some(*n)),
        ["api", "v1", "pods"] => (Kind::Pod, None, None),
        ["api", "v1", "namespaces", ns, "pods"] => (Kind::Pod, Some(*ns), None),
        ["api", "v1", "namespaces", ns, "pods", n] => (Kind::Pod, Some(*ns), Some(*n)),
        ["apis", "apps", "v1", "deployments"] => (Kind::Deployment, None, None),
        ["apis", "apps", "v1", "namespaces", ns, "deployments"] => {
            (Kind::Deployment, Some(*ns), None)
        }
        ["apis", "apps", "v1", "namespaces", ns, "deployments", n] => {
            (Kind::Deployment, Some(*ns), Some(*n))
        }
        _ => {
            return status_answer(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            );
        }
    };
    let mut field_sel = req.query.get("fieldSelector").cloned().unwrap_or_default();
    if let Some(n) = name {
        if !field_sel.is_empty() {
            field_sel.push(',');
        }
        field_sel.push_str(&format!("metadata.name={n}"));
    }
    let label_sel = req.query.get("labelSelector").cloned().unwrap_or_default();
    // A selector on a field the kind does not index is refused before the stream starts.
    if let Err(e) = selected(kind, &json!({"metadata": {}}), "", &field_sel) {
        return status_answer(400, "BadRequest", &e);
    }
    let initial = req.query.get("sendInitialEvents").map(String::as_str) == Some("true");
    let since = req
        .query
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0 && !initial);
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(LONGEST, |t| Duration::from_secs(t).min(LONGEST));
    Answer {
        status: 200,
        body: String::new(),
        location: None,
        content_type: "application/json",
        watch: Some(Watch {
            kind,
            namespace: namespace.map(str::to_string),
            label_sel,
            field_sel,
            since,
            initial_events_end: initial,
            timeout,
        }),
    }
}

type Key = (String, String);

fn event(kind: &str, object: &Value) -> String {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    line
}

/// What changed since the last look (`sent`), as events; `sent` is updated.
fn changes(
    w: &mut World,
    watch: &Watch,
    sent: &mut Option<BTreeMap<Key, (u64, Value)>>,
) -> Vec<String> {
    sweep(w);
    let current: BTreeMap<Key, (u64, Value)> = objects(w, watch.kind, watch.namespace.as_deref())
        .into_iter()
        .filter(|(_, _, v)| selected(watch.kind, v, &watch.label_sel, &watch.field_sel) == Ok(true))
        .map(|(k, rv, v)| (k, (rv, v)))
        .collect();
    let mut events = Vec::new();
    match sent.take() {
        None => match watch.since {
            None => {
                for (_, v) in current.values() {
                    events.push(event("ADDED", v));
                }
                if watch.initial_events_end {
                    let (list_kind, api_version) = match watch.kind {
                        Kind::Namespace => ("Namespace", "v1"),
                        Kind::Pod => ("Pod", "v1"),
                        Kind::Deployment => ("Deployment", "apps/v1"),
                    };
                    events.push(event(
                        "BOOKMARK",
                        &json!({
                            "kind": list_kind,
                            "apiVersion": api_version,
                            "metadata": {
                                "resourceVersion": w.resource_version.to_string(),
                                "annotations": {"k8s.io/initial-events-end": "true"},
                            },
                        }),
                    ));
                }
            }
            Some(since) => {
                for (rv, v) in current.values() {
                    if *rv > since {
                        events.push(event("MODIFIED", v));
                    }
                }
                for t in &w.tombstones {
                    if t.rv > since
                        && t.kind == watch.kind
                        && !current.contains_key(&t.key)
                        && watch.namespace.as_ref().is_none_or(|n| *n == t.key.0)
                        && selected(watch.kind, &t.object, &watch.label_sel, &watch.field_sel)
                            == Ok(true)
                    {
                        events.push(event("DELETED", &t.object));
                    }
                }
            }
        },
        Some(before) => {
            for (k, (rv, v)) in &current {
                match before.get(k) {
                    None => events.push(event("ADDED", v)),
                    Some((old, _)) if old != rv => events.push(event("MODIFIED", v)),
                    Some(_) => {}
                }
            }
            for (k, (rv, v)) in &before {
                if current.contains_key(k) {
                    continue;
                }
                // Gone: its tombstone (at the deletion's version), or, when it only stopped
                // matching, what was last sent.
                let tomb = w
                    .tombstones
                    .iter()
                    .rev()
                    .find(|t| t.kind == watch.kind && t.key == *k && t.rv > *rv);
                events.push(event("DELETED", tomb.map_or(v, |t| &t.object)));
            }
        }
    }
    *sent = Some(current);
    events
}

/// Writes the watch's stream to `stream` until its timeout or until the client goes.
pub fn stream(stream: &mut impl Write, world: &Arc<Mutex<World>>, watch: &Watch) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let deadline = Instant::now() + watch.timeout;
    let mut sent = None;
    loop {
        let events = {
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            changes(&mut w, watch, &mut sent)
        };
        for e in events {
            let chunk = format!("{:x}\r\n{e}\r\n", e.len());
            if stream.write_all(chunk.as_bytes()).is_err() || stream.flush().is_err() {
                return;
            }
        }
        if Instant::now() >= deadline {
            let _ = stream.write_all(b"0\r\n\r\n");
            return;
        }
        std::thread::sleep(TICK);
    }
}
