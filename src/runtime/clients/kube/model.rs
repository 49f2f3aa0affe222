//! The Kubernetes objects as the window reads them from the API's JSON: namespaces,
//! Deployments (and whether their rollout is complete or failed, as `kubectl rollout status`
//! decides it), pods, services and Leases.
//!
//! Owns: the JSON shapes read back and what they mean. Does not own: the requests (`client`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

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

    pub(super) fn from_json(v: &Value) -> Option<Namespace> {
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
    pub(super) fn from_json(v: &Value) -> Option<Deployment> {
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
    pub(super) fn from_json(v: &Value) -> Option<Pod> {
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

/// A Service, as far as the hub move needs it: its load balancer's addresses, and what tells
/// whose it is (its labels) and which pods it reaches (its selector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub selector: BTreeMap<String, String>,
    /// `spec.loadBalancerSourceRanges` (empty: any).
    pub source_ranges: Vec<String>,
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
    pub(super) fn from_json(v: &Value) -> Option<Service> {
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
            labels: string_map(v.pointer("/metadata/labels")),
            selector: string_map(v.pointer("/spec/selector")),
            source_ranges: source_ranges(v),
            ingress,
        })
    }
}

pub(super) fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `spec.loadBalancerSourceRanges` of a Service (or its manifest).
pub(super) fn source_ranges(v: &Value) -> Vec<String> {
    v.pointer("/spec/loadBalancerSourceRanges")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
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
    pub(super) fn from_json(v: &Value) -> Option<Lease> {
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

    pub(super) fn to_json(&self) -> Value {
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
