//! A minimal, blocking Kubernetes REST client: the handful of calls the window needs
//! (namespaces: list, get (with the UID: `kube-system`'s identifies a cluster), delete;
//! deployments: get, delete, scale, `rollout restart`, wait until ready; pods: list, delete;
//! services: get, create, delete; `coordination.k8s.io/v1` Leases: get, create, update under
//! optimistic concurrency), configured from the operator's kubeconfig.
//!
//! Why not kube-rs: it is async, so the crate would carry a tokio runtime (and hyper, tower,
//! k8s-openapi's thousands of generated types) for eight REST calls; a cold build of that stack
//! takes minutes on the two cores this project builds on, and `ureq` is already here for
//! GitHub. The calls are plain JSON over HTTPS; the tests' Kubernetes double speaks the same
//! REST over a real socket, so nothing is lost by talking it directly. Bounded concurrency for
//! namespace deletion is a few threads sharing one agent.
//!
//! Configuration follows kubectl: see `kubeconfig` (contexts, TLS, proxies, credential
//! plugins, impersonation), which gives each client its `Access`.
//!
//! Owns: the REST paths, the JSON shapes read back, what statuses mean (404 on delete =
//! already gone; 409 on a namespace that is `Terminating` = already going), and when a
//! Deployment's rollout is complete or failed, decided as `kubectl rollout status` decides it
//! (`Deployment::rollout`). Tokens appear only
//! in the `Authorization` header.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::kubeconfig::Access;
use crate::http::{ClientError, Reply, encode};
use crate::redact::Redactor;
use crate::time::human;

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// A namespace as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    /// `metadata.uid`: unique to this namespace of this cluster (`kube-system`'s never
    /// changes while the cluster lives: it identifies the cluster).
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// `Active` or `Terminating`.
    pub phase: String,
}

impl Namespace {
    pub fn terminating(&self) -> bool {
        self.phase == "Terminating"
    }

    fn from_json(v: &Value) -> Option<Namespace> {
        let meta = v.get("metadata")?;
        let deleting = meta.get("deletionTimestamp").is_some_and(|t| !t.is_null());
        let phase = v
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| if deleting { "Terminating" } else { "Active" }.into());
        Some(Namespace {
            name: meta.get("name")?.as_str()?.to_string(),
            uid: meta
                .get("uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            labels: string_map(meta.get("labels")),
            phase,
        })
    }
}

/// What a delete call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The delete was accepted, or the object was already being deleted.
    Deleting,
    /// 404: nothing to delete.
    AlreadyGone,
}

/// A Deployment's spec and rollout status, as far as the window needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub namespace: String,
    pub name: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `spec.replicas` (default 1).
    pub replicas: i64,
    /// `spec.selector.matchLabels`.
    pub selector: BTreeMap<String, String>,
    /// The pod template's `kubectl.kubernetes.io/restartedAt`.
    pub restarted_at: Option<String>,
    /// `status.observedGeneration`, `status.replicas`, `status.updatedReplicas`,
    /// `status.readyReplicas`, `status.availableReplicas` (each 0 when absent).
    pub observed_generation: i64,
    pub status_replicas: i64,
    pub updated_replicas: i64,
    pub ready_replicas: i64,
    pub available_replicas: i64,
    /// The `Progressing` condition's `reason` and `message`, when there is one.
    pub progressing: Option<(String, String)>,
}

/// Where a Deployment's rollout stands, decided as `kubectl rollout status` decides it
/// (kubectl's `DeploymentStatusViewer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Every replica runs the latest spec and is available; no old replica remains.
    Complete,
    /// Still rolling out: kubectl's "Waiting for …" line, without its prefix.
    Waiting(String),
    /// The Deployment controller gave up: `Progressing` is `ProgressDeadlineExceeded`. Its
    /// message (e.g. `ReplicaSet "hub-5d8f" has timed out progressing.`).
    Failed(String),
}

/// The `Progressing` condition's reason once `spec.progressDeadlineSeconds` has passed
/// without progress (`deploymentutil.TimedOutReason`).
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";

impl Deployment {
    fn from_json(v: &Value) -> Option<Deployment> {
        let int = |p: &str| v.pointer(p).and_then(Value::as_i64);
        let progressing = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"))
            })
            .map(|c| {
                let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                (field("reason"), field("message"))
            });
        Some(Deployment {
            namespace: v
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            name: v.pointer("/metadata/name")?.as_str()?.to_string(),
            generation: int("/metadata/generation").unwrap_or(0),
            replicas: int("/spec/replicas").unwrap_or(1),
            selector: string_map(v.pointer("/spec/selector/matchLabels")),
            restarted_at: v
                .pointer("/spec/template/metadata/annotations")
                .and_then(|a| a.get(RESTARTED_AT))
                .and_then(Value::as_str)
                .map(str::to_string),
            observed_generation: int("/status/observedGeneration").unwrap_or(0),
            status_replicas: int("/status/replicas").unwrap_or(0),
            updated_replicas: int("/status/updatedReplicas").unwrap_or(0),
            ready_replicas: int("/status/readyReplicas").unwrap_or(0),
            available_replicas: int("/status/availableReplicas").unwrap_or(0),
            progressing,
        })
    }

    /// The rollout's state, in the order `kubectl rollout status` checks it: nothing is
    /// decided before the controller has observed the latest generation; then a
    /// `ProgressDeadlineExceeded` fails at once; then every replica must be updated, no old
    /// one left, and every updated one available (`availableReplicas`: ready for
    /// `minReadySeconds`, not merely `readyReplicas`).
    pub fn rollout(&self) -> Rollout {
        if self.observed_generation < self.generation {
            return Rollout::Waiting(
                "waiting for the Deployment's spec update to be observed".into(),
            );
        }
        if let Some((reason, message)) = &self.progressing
            && reason == PROGRESS_DEADLINE_EXCEEDED
        {
            return Rollout::Failed(if message.is_empty() {
                format!("Deployment `{}` exceeded its progress deadline", self.name)
            } else {
                message.clone()
            });
        }
        if self.updated_replicas < self.replicas {
            return Rollout::Waiting(format!(
                "{} out of {} new replicas have been updated",
                self.updated_replicas, self.replicas
            ));
        }
        if self.status_replicas > self.updated_replicas {
            return Rollout::Waiting(format!(
                "{} old replicas are pending termination",
                self.status_replicas - self.updated_replicas
            ));
        }
        if self.available_replicas < self.updated_replicas {
            return Rollout::Waiting(format!(
                "{} of {} updated replicas are available",
                self.available_replicas, self.updated_replicas
            ));
        }
        Rollout::Complete
    }

    /// The rollout is complete (`Rollout::Complete`).
    pub fn is_ready(&self) -> bool {
        self.rollout() == Rollout::Complete
    }

    /// `2/2 available, 2 updated, 3 total, generation 4 observed 4`.
    pub fn describe(&self) -> String {
        format!(
            "{}/{} available, {} updated, {} total, generation {} observed {}",
            self.available_replicas,
            self.replicas,
            self.updated_replicas,
            self.status_replicas,
            self.generation,
            self.observed_generation
        )
    }
}

/// A pod as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`.
    pub phase: String,
    /// Every container ready.
    pub ready: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

impl Pod {
    fn from_json(v: &Value) -> Option<Pod> {
        let statuses = v
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array);
        Some(Pod {
            namespace: v
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            name: v.pointer("/metadata/name")?.as_str()?.to_string(),
            phase: v
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending")
                .to_string(),
            ready: statuses.is_some_and(|s| {
                !s.is_empty()
                    && s.iter()
                        .all(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
            }),
            deleting: v
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null()),
        })
    }
}

/// A Service, as far as the hub move needs it: its load balancer's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// `status.loadBalancer.ingress[*]`, in order.
    pub ingress: Vec<LoadBalancerIngress>,
}

/// One address of a load balancer: an IP (GKE, Azure) or a hostname (AWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadBalancerIngress {
    Ip(String),
    Hostname(String),
}

impl Service {
    fn from_json(v: &Value) -> Option<Service> {
        let ingress = v
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| {
                        let text = |k: &str| {
                            i.get(k)
                                .and_then(Value::as_str)
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                        };
                        text("ip")
                            .map(LoadBalancerIngress::Ip)
                            .or_else(|| text("hostname").map(LoadBalancerIngress::Hostname))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Service {
            namespace: v
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            name: v.pointer("/metadata/name")?.as_str()?.to_string(),
            ingress,
        })
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `k=v,k2=v2` for a label selector.
pub fn selector_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A `coordination.k8s.io/v1` Lease: who holds it, since when, renewed when, for how long.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    pub namespace: String,
    pub name: String,
    /// `metadata.resourceVersion`: an update must name the one it read (a conflict means
    /// someone else wrote it since).
    pub resource_version: String,
    pub annotations: BTreeMap<String, String>,
    /// `spec.holderIdentity` (`None`: free).
    pub holder: Option<String>,
    /// `spec.leaseDurationSeconds`: how long after its last renewal the lease expires.
    pub duration_seconds: i64,
    /// `spec.acquireTime`, `spec.renewTime` (MicroTime, RFC 3339).
    pub acquire_time: Option<String>,
    pub renew_time: Option<String>,
    /// `spec.leaseTransitions`.
    pub transitions: i64,
}

impl Lease {
    fn from_json(v: &Value) -> Option<Lease> {
        let text = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Some(Lease {
            namespace: text("/metadata/namespace").unwrap_or_default(),
            name: text("/metadata/name")?,
            resource_version: text("/metadata/resourceVersion").unwrap_or_default(),
            annotations: string_map(v.pointer("/metadata/annotations")),
            holder: text("/spec/holderIdentity"),
            duration_seconds: v
                .pointer("/spec/leaseDurationSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            acquire_time: text("/spec/acquireTime"),
            renew_time: text("/spec/renewTime"),
            transitions: v
                .pointer("/spec/leaseTransitions")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        })
    }

    fn to_json(&self) -> Value {
        let mut meta = json!({
            "name": self.name,
            "namespace": self.namespace,
            "annotations": self.annotations,
        });
        if !self.resource_version.is_empty() {
            meta["resourceVersion"] = json!(self.resource_version);
        }
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": self.duration_seconds,
                "acquireTime": self.acquire_time,
                "renewTime": self.renew_time,
                "leaseTransitions": self.transitions,
            },
        })
    }
}

/// What a write under optimistic concurrency did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written<T> {
    Done(T),
    /// 409: the object exists already (create) or changed since it was read (update); what
    /// the API server said.
    Conflict(String),
}

/// Why waiting for a Deployment ended without it being ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("Deployment `{name}` in namespace `{namespace}` does not exist")]
    Missing { namespace: String, name: String },
    #[error(
        "Deployment `{}` in namespace `{}` was not ready after {}: last seen {}",
        .last.name, .last.namespace, human(*.waited), .last.describe()
    )]
    TimedOut {
        last: Box<Deployment>,
        waited: Duration,
    },
    /// The Deployment controller reports `ProgressDeadlineExceeded`: waiting longer cannot help.
    #[error(
        "the rollout of Deployment `{}` in namespace `{}` failed: {why} (condition Progressing: {PROGRESS_DEADLINE_EXCEEDED}; last seen {})",
        .last.name, .last.namespace, .last.describe()
    )]
    Failed { last: Box<Deployment>, why: String },
    /// The run was interrupted (SIGINT, SIGTERM) while it waited.
    #[error("{0}")]
    Interrupted(String),
}

/// The Kubernetes calls of the window. Implemented by `KubeClient`; steps take `&dyn KubeApi`.
pub trait KubeApi: Send + Sync + fmt::Debug {
    /// The API server's URL, for messages and previews.
    fn server(&self) -> &str;
    /// Namespaces matching the selectors (`nublado.lsst.io/category=lab`,
    /// `metadata.name=nublado2-alice`), all pages.
    fn list_namespaces(
        &self,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Vec<Namespace>, ClientError>;
    fn get_namespace(&self, name: &str) -> Result<Option<Namespace>, ClientError>;
    /// Deletes a namespace; 404 is `AlreadyGone`, and a namespace already `Terminating` is
    /// `Deleting`.
    fn delete_namespace(&self, name: &str) -> Result<Deleted, ClientError>;
    fn get_deployment(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Deployment>, ClientError>;
    /// Deletes a Deployment (background propagation: its pods go after it); 404 is
    /// `AlreadyGone`.
    fn delete_deployment(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError>;
    /// `kubectl rollout restart`: sets the pod template's `kubectl.kubernetes.io/restartedAt`
    /// to `at`; returns the Deployment with its new generation.
    fn restart_deployment(
        &self,
        namespace: &str,
        name: &str,
        at: &str,
    ) -> Result<Deployment, ClientError>;
    fn list_pods(
        &self,
        namespace: &str,
        label_selector: Option<&str>,
    ) -> Result<Vec<Pod>, ClientError>;
    /// Deletes one pod; 404 is `AlreadyGone`.
    fn delete_pod(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError>;
    /// `kubectl scale --replicas`: sets `spec.replicas`; returns the Deployment with its new
    /// generation.
    fn scale_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i64,
    ) -> Result<Deployment, ClientError>;
    fn get_service(&self, namespace: &str, name: &str) -> Result<Option<Service>, ClientError>;
    /// Deletes a Service; 404 is `AlreadyGone`.
    fn delete_service(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError>;
    /// Creates a Service from its manifest (JSON, `metadata.name` and `spec`); when one of
    /// that name exists already (409), that one.
    fn create_service(&self, namespace: &str, manifest: &Value) -> Result<Service, ClientError>;
    fn get_lease(&self, namespace: &str, name: &str) -> Result<Option<Lease>, ClientError>;
    /// Creates a Lease; one that exists already is a `Conflict`.
    fn create_lease(&self, lease: &Lease) -> Result<Written<Lease>, ClientError>;
    /// Replaces a Lease, naming the `resource_version` it was read at: a `Conflict` when
    /// someone wrote it since.
    fn update_lease(&self, lease: &Lease) -> Result<Written<Lease>, ClientError>;

    /// Polls a Deployment until its rollout of at least `generation` is complete
    /// (`Deployment::rollout`), calling `seen` with each state; fails at once when the
    /// rollout failed (`ProgressDeadlineExceeded`), and gives up after `timeout`.
    fn wait_ready(
        &self,
        namespace: &str,
        name: &str,
        generation: i64,
        timeout: Duration,
        poll: Duration,
        seen: &mut dyn FnMut(&Deployment),
    ) -> Result<Deployment, WaitError> {
        let start = Instant::now();
        loop {
            // Errors that can heal are tried again until the wait's own deadline.
            let d = crate::retry::RetryPolicy::default()
                .run_pausing(
                    Some(start + timeout),
                    crate::runtime::interrupt::sleep,
                    || self.get_deployment(namespace, name),
                )?
                .ok_or_else(|| WaitError::Missing {
                    namespace: namespace.into(),
                    name: name.into(),
                })?;
            seen(&d);
            if d.generation >= generation {
                match d.rollout() {
                    Rollout::Complete => return Ok(d),
                    Rollout::Failed(why) => {
                        return Err(WaitError::Failed {
                            last: Box::new(d),
                            why,
                        });
                    }
                    Rollout::Waiting(_) => {}
                }
            }
            if start.elapsed() >= timeout {
                return Err(WaitError::TimedOut {
                    last: Box::new(d),
                    waited: start.elapsed(),
                });
            }
            if !crate::runtime::interrupt::sleep(poll.min(timeout.saturating_sub(start.elapsed())))
            {
                return Err(WaitError::Interrupted(crate::runtime::interrupt::stopped()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client

/// The Kubernetes API of one context.
pub struct KubeClient {
    context: String,
    server: String,
    access: Access,
}

impl fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeClient")
            .field("context", &self.context)
            .field("server", &self.server)
            .field("auth", &self.access.kind())
            .finish()
    }
}

impl KubeClient {
    /// A client for `server` with a bearer token (or none), trusting the platform's store:
    /// for tests and plain-http doubles.
    pub fn with_token(server: &str, token: Option<String>) -> KubeClient {
        KubeClient::from_access("", server, Access::token(server, token))
    }

    pub(super) fn from_access(context: &str, server: &str, access: Access) -> KubeClient {
        KubeClient {
            context: context.to_string(),
            server: server.trim_end_matches('/').to_string(),
            access,
        }
    }

    /// How requests reach and authenticate to the server.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The context this client was made for (empty for `with_token`).
    pub fn context(&self) -> &str {
        &self.context
    }

    /// One call; a 401 with a refreshable credential is tried once more with a fresh one.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<Reply, ClientError> {
        let url = format!("{}{path}", self.server);
        let what = format!("the Kubernetes API at {}", self.server);
        let mut refresh = false;
        loop {
            let token = self.access.bearer(refresh)?;
            let auth = token.as_ref().map(|t| format!("Bearer {t}"));
            let mut headers = vec![("Accept", "application/json")];
            if let Some(a) = &auth {
                headers.push(("Authorization", a.as_str()));
            }
            for (k, v) in self.access.impersonation() {
                headers.push((k.as_str(), v.as_str()));
            }
            let reply = self
                .access
                .http()
                .send(method, &url, &headers, body.clone(), &what)
                .map_err(|mut e| {
                    e.message = Redactor::new(token.as_deref()).redact(&e.message);
                    e
                })?;
            if reply.status == 401 && !refresh && self.access.refreshable() {
                refresh = true;
                continue;
            }
            return Ok(reply);
        }
    }

    /// The error for an answer the caller cannot accept.
    fn refused(&self, reply: &Reply, action: &str) -> ClientError {
        let said = reply.said();
        let server = &self.server;
        let s = reply.status;
        let explained = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let message = match s {
            401 => format!(
                "the Kubernetes API at {server} refused the credentials (401) to {action}; check the context's user in the kubeconfig (an expired token?)"
            ),
            403 => format!("the Kubernetes API at {server} forbids {action} (403{explained})"),
            s if (300..400).contains(&s) => format!(
                "the Kubernetes API at {server} redirected ({s}) instead of answering {action}: is the server URL right?"
            ),
            s if s >= 500 => format!(
                "the Kubernetes API at {server} failed with a server error ({s}{explained}) to {action}"
            ),
            s => format!("the Kubernetes API at {server} answered {s}{explained} to {action}"),
        };
        let secret = self.access.bearer(false).ok().flatten().unwrap_or_default();
        ClientError {
            said,
            ..ClientError::answered(reply, Redactor::new([secret]).redact(&message))
        }
    }

    fn get_json(&self, path: &str, action: &str) -> Result<Option<Value>, ClientError> {
        let reply = self.call("GET", path, None)?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => Ok(Some(reply.json())),
            _ => Err(self.refused(&reply, action)),
        }
    }

    /// A DELETE whose 404 means the object is already gone.
    fn delete(&self, path: &str, action: &str) -> Result<Deleted, ClientError> {
        let reply = self.call("DELETE", path, None)?;
        match reply.status {
            404 => Ok(Deleted::AlreadyGone),
            _ if reply.ok() => Ok(Deleted::Deleting),
            _ => Err(self.refused(&reply, action)),
        }
    }

    fn bad_answer(&self, what: &str) -> ClientError {
        ClientError::new(
            None,
            format!(
                "unexpected answer from the Kubernetes API at {} for {what}",
                self.server
            ),
        )
    }

    fn list<T>(
        &self,
        base: &str,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
        what: &str,
        parse: fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>, ClientError> {
        let mut out = Vec::new();
        let mut cont: Option<String> = None;
        loop {
            let mut q = vec!["limit=500".to_string()];
            if let Some(l) = label_selector.filter(|s| !s.is_empty()) {
                q.push(format!("labelSelector={}", encode(l)));
            }
            if let Some(f) = field_selector.filter(|s| !s.is_empty()) {
                q.push(format!("fieldSelector={}", encode(f)));
            }
            if let Some(c) = &cont {
                q.push(format!("continue={}", encode(c)));
            }
            let path = format!("{base}?{}", q.join("&"));
            let v = self
                .get_json(&path, &format!("list {what}"))?
                .ok_or_else(|| self.bad_answer(&format!("the list of {what} (404)")))?;
            let items = v
                .get("items")
                .and_then(Value::as_array)
                .ok_or_else(|| self.bad_answer(&format!("the list of {what}")))?;
            out.extend(items.iter().filter_map(parse));
            cont = v
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cont.is_none() {
                return Ok(out);
            }
        }
    }
}

fn deployment_path(namespace: &str, name: &str) -> String {
    format!(
        "/apis/apps/v1/namespaces/{}/deployments/{}",
        encode(namespace),
        encode(name)
    )
}

impl KubeApi for KubeClient {
    fn server(&self) -> &str {
        &self.server
    }

    fn list_namespaces(
        &self,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Vec<Namespace>, ClientError> {
        self.list(
            "/api/v1/namespaces",
            label_selector,
            field_selector,
            "namespaces",
            Namespace::from_json,
        )
    }

    fn get_namespace(&self, name: &str) -> Result<Option<Namespace>, ClientError> {
        match self.get_json(
            &format!("/api/v1/namespaces/{}", encode(name)),
            &format!("get namespace `{name}`"),
        )? {
            None => Ok(None),
            Some(v) => Namespace::from_json(&v)
                .map(Some)
                .ok_or_else(|| self.bad_answer(&format!("namespace `{name}`"))),
        }
    }

    fn delete_namespace(&self, name: &str) -> Result<Deleted, ClientError> {
        let reply = self.call(
            "DELETE",
            &format!("/api/v1/namespaces/{}", encode(name)),
            None,
        )?;
        match reply.status {
            404 => Ok(Deleted::AlreadyGone),
            _ if reply.ok() => Ok(Deleted::Deleting),
            // A namespace being emptied answers 409 ("The system is ensuring all content is
            // removed from this namespace"): it is already going.
            409 => match self.get_namespace(name)? {
                None => Ok(Deleted::AlreadyGone),
                Some(ns) if ns.terminating() => Ok(Deleted::Deleting),
                Some(_) => Err(self.refused(&reply, &format!("delete namespace `{name}`"))),
            },
            _ => Err(self.refused(&reply, &format!("delete namespace `{name}`"))),
        }
    }

    fn get_deployment(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Deployment>, ClientError> {
        match self.get_json(
            &deployment_path(namespace, name),
            &format!("get Deployment `{name}` in namespace `{namespace}`"),
        )? {
            None => Ok(None),
            Some(v) => Deployment::from_json(&v)
                .map(Some)
                .ok_or_else(|| self.bad_answer(&format!("Deployment `{namespace}/{name}`"))),
        }
    }

    fn delete_deployment(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError> {
        self.delete(
            &format!(
                "{}?propagationPolicy=Background",
                deployment_path(namespace, name)
            ),
            &format!("delete Deployment `{name}` in namespace `{namespace}`"),
        )
    }

    fn restart_deployment(
        &self,
        namespace: &str,
        name: &str,
        at: &str,
    ) -> Result<Deployment, ClientError> {
        let patch = json!({
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}
        });
        let reply = self.call(
            "PATCH",
            &deployment_path(namespace, name),
            Some(("application/strategic-merge-patch+json", patch.to_string())),
        )?;
        let action = format!("restart Deployment `{name}` in namespace `{namespace}`");
        if !reply.ok() {
            return Err(self.refused(&reply, &action));
        }
        Deployment::from_json(&reply.json()).ok_or_else(|| self.bad_answer(&action))
    }

    fn list_pods(
        &self,
        namespace: &str,
        label_selector: Option<&str>,
    ) -> Result<Vec<Pod>, ClientError> {
        self.list(
            &format!("/api/v1/namespaces/{}/pods", encode(namespace)),
            label_selector,
            None,
            &format!("pods in namespace `{namespace}`"),
            Pod::from_json,
        )
    }

    fn delete_pod(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError> {
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}",
            encode(namespace),
            encode(name)
        );
        self.delete(
            &path,
            &format!("delete pod `{name}` in namespace `{namespace}`"),
        )
    }

    fn scale_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i64,
    ) -> Result<Deployment, ClientError> {
        let patch = json!({"spec": {"replicas": replicas}});
        let reply = self.call(
            "PATCH",
            &deployment_path(namespace, name),
            Some(("application/merge-patch+json", patch.to_string())),
        )?;
        let action = format!("scale Deployment `{name}` in namespace `{namespace}` to {replicas}");
        if !reply.ok() {
            return Err(self.refused(&reply, &action));
        }
        Deployment::from_json(&reply.json()).ok_or_else(|| self.bad_answer(&action))
    }

    fn get_service(&self, namespace: &str, name: &str) -> Result<Option<Service>, ClientError> {
        match self.get_json(
            &service_path(namespace, name),
            &format!("get Service `{name}` in namespace `{namespace}`"),
        )? {
            None => Ok(None),
            Some(v) => Service::from_json(&v)
                .map(Some)
                .ok_or_else(|| self.bad_answer(&format!("Service `{namespace}/{name}`"))),
        }
    }

    fn delete_service(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError> {
        self.delete(
            &service_path(namespace, name),
            &format!("delete Service `{name}` in namespace `{namespace}`"),
        )
    }

    fn create_service(&self, namespace: &str, manifest: &Value) -> Result<Service, ClientError> {
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let path = format!("/api/v1/namespaces/{}/services", encode(namespace));
        let reply = self.call(
            "POST",
            &path,
            Some(("application/json", manifest.to_string())),
        )?;
        let action = format!("create Service `{name}` in namespace `{namespace}`");
        if reply.status == 409 {
            return self
                .get_service(namespace, &name)?
                .ok_or_else(|| self.bad_answer(&action));
        }
        if !reply.ok() {
            return Err(self.refused(&reply, &action));
        }
        Service::from_json(&reply.json()).ok_or_else(|| self.bad_answer(&action))
    }

    fn get_lease(&self, namespace: &str, name: &str) -> Result<Option<Lease>, ClientError> {
        match self.get_json(
            &lease_path(namespace, Some(name)),
            &format!("get Lease `{name}` in namespace `{namespace}`"),
        )? {
            None => Ok(None),
            Some(v) => Lease::from_json(&v)
                .map(Some)
                .ok_or_else(|| self.bad_answer(&format!("Lease `{namespace}/{name}`"))),
        }
    }

    fn create_lease(&self, lease: &Lease) -> Result<Written<Lease>, ClientError> {
        self.write_lease("POST", &lease_path(&lease.namespace, None), lease)
    }

    fn update_lease(&self, lease: &Lease) -> Result<Written<Lease>, ClientError> {
        self.write_lease(
            "PUT",
            &lease_path(&lease.namespace, Some(&lease.name)),
            lease,
        )
    }
}

fn lease_path(namespace: &str, name: Option<&str>) -> String {
    let base = format!(
        "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
        encode(namespace)
    );
    match name {
        Some(n) => format!("{base}/{}", encode(n)),
        None => base,
    }
}

impl KubeClient {
    /// A create or update whose 409 is a `Conflict`, not an error.
    fn write_lease(
        &self,
        method: &str,
        path: &str,
        lease: &Lease,
    ) -> Result<Written<Lease>, ClientError> {
        let reply = self.call(
            method,
            path,
            Some(("application/json", lease.to_json().to_string())),
        )?;
        let action = format!(
            "{} Lease `{}` in namespace `{}`",
            if method == "POST" { "create" } else { "update" },
            lease.name,
            lease.namespace
        );
        match reply.status {
            409 => Ok(Written::Conflict(reply.said())),
            _ if reply.ok() => Lease::from_json(&reply.json())
                .map(Written::Done)
                .ok_or_else(|| self.bad_answer(&action)),
            _ => Err(self.refused(&reply, &action)),
        }
    }
}

fn service_path(namespace: &str, name: &str) -> String {
    format!(
        "/api/v1/namespaces/{}/services/{}",
        encode(namespace),
        encode(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Deployment {
        Deployment {
            namespace: "mobu".into(),
            name: "mobu".into(),
            generation: 3,
            replicas: 1,
            selector: BTreeMap::new(),
            restarted_at: None,
            observed_generation: 2,
            status_replicas: 1,
            updated_replicas: 1,
            ready_replicas: 1,
            available_replicas: 1,
            progressing: Some(("NewReplicaSetAvailable".into(), String::new())),
        }
    }

    #[test]
    fn readiness_needs_the_new_generation_everywhere() {
        let mut d = deployment();
        assert!(!d.is_ready());
        d.observed_generation = 3;
        d.status_replicas = 2;
        assert_eq!(
            d.rollout(),
            Rollout::Waiting("1 old replicas are pending termination".into()),
            "an old replica remains"
        );
        d.status_replicas = 1;
        assert!(d.is_ready());
    }

    #[test]
    fn readiness_counts_available_replicas_not_ready_ones() {
        // Ready, but not yet for `minReadySeconds`: kubectl keeps waiting.
        let mut d = deployment();
        d.observed_generation = 3;
        d.available_replicas = 0;
        assert_eq!(
            d.rollout(),
            Rollout::Waiting("0 of 1 updated replicas are available".into())
        );
        d.available_replicas = 1;
        d.ready_replicas = 0;
        assert!(d.is_ready(), "available is what counts, as for kubectl");
    }

    #[test]
    fn a_progress_deadline_fails_once_the_generation_is_observed() {
        let mut d = deployment();
        let why = "ReplicaSet \"mobu-5d8f\" has timed out progressing.";
        d.progressing = Some((PROGRESS_DEADLINE_EXCEEDED.into(), why.into()));
        d.updated_replicas = 1;
        d.status_replicas = 2;
        d.available_replicas = 1;
        // The condition may be about the previous generation: not decided yet.
        assert!(matches!(d.rollout(), Rollout::Waiting(_)));
        d.observed_generation = 3;
        assert_eq!(d.rollout(), Rollout::Failed(why.into()));
        d.progressing = Some((PROGRESS_DEADLINE_EXCEEDED.into(), String::new()));
        assert_eq!(
            d.rollout(),
            Rollout::Failed("Deployment `mobu` exceeded its progress deadline".into())
        );
    }
}
