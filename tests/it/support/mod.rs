//! Shared test doubles: one HTTP/1.1 server on a real 127.0.0.1 socket that plays the
//! services a maintenance window talks to, speaking their real JSON shapes, with faults:
//!
//! - the **Kubernetes API** (`/api/v1/…`, `/apis/apps/v1/…`, `/apis/coordination.k8s.io/v1/…`),
//!   good enough for the real `kubectl` (tests/it/kubectl_double.rs): discovery (`/api`,
//!   `/apis`, each group version's resources: `discovery.rs`) and `/version`; every object
//!   with `uid`, `creationTimestamp` and a `resourceVersion` that changes with it (one
//!   counter, as etcd's revision); namespaces with labels (and the automatic
//!   `kubernetes.io/metadata.name`), UIDs (each double is its own cluster: its `kube-system`
//!   namespace, always there, has a UID of its own), `status.phase`, deletion that sets
//!   `Terminating` and removes the namespace after a configurable delay (a second delete of a
//!   terminating namespace answers 409, as a real API server does); deployments (get, list,
//!   delete, PATCH, the `/scale` subresource) whose `rollout restart` (PATCH of the pod
//!   template annotation) rolls out for a while before they are ready again, and whose
//!   scaling terminates pods, or rolls new ones out, with `status` and the `Available` and
//!   `Progressing` conditions as the Deployment controller writes them (`break_rollouts`: a
//!   rollout that ends in `ProgressDeadlineExceeded`); pods keyed by (namespace, name) (a
//!   Deployment's pods terminate after it is deleted; a pod delete terminates it); Services
//!   with a load balancer's `ip` or `hostname` (get, create, delete: a created LoadBalancer
//!   gets its address in `status.loadBalancer.ingress` a while after, `load_balancer`); Leases (create: 409
//!   `AlreadyExists` when taken; update: 409 `Conflict` unless the request names the current
//!   `resourceVersion`); label selectors (`k=v`, `k!=v`, `k`, `!k`, `k in (…)`, `k notin
//!   (…)`), field selectors (`metadata.name`, `metadata.namespace`, `status.phase`),
//!   `limit`/`continue` pages; `?watch=true` on namespaces, pods and Deployments answered
//!   with a stream of events (`watch.rs`), refused with 405 elsewhere;
//! - **Argo CD** under `/argo-cd/api/v1/applications`: 403 `permission denied` for an
//!   application it does not have (404 only with `?project=`), as the real server answers so
//!   as not to leak names; a tracked branch (`merge_commit`) that the repo-server resolves from
//!   its cache until `?refresh=hard`; a sync (`revision`, `prune`) starts an operation that is
//!   `Running` for a while, then `Succeeded` at its revision (`syncResult.revision`, with
//!   `status.history`), the app `Synced` when that is the branch's revision and (after an
//!   optional transient `Degraded`) `Healthy`; an unknown revision fails the operation;
//!   an app-of-apps lists its child Applications in `status.resources`, those it no longer
//!   renders with `requiresPruning` (deleted by a sync with prune); a sync during another
//!   operation is refused with "another operation is already in progress";
//! - **mobu** under `/mobu/flocks`: 204 / 404, and a redirect to a login page for a bad
//!   token (or on demand);
//! - **hub health** at `<route>/hub/health`.
//!
//! Faults: a status on a named request (`fail`, for some number of times), per-request
//! latency, busy Argo CD applications, syncs that land on the cached revision whatever is
//! asked (`argocd_stuck_revision`), mobu redirects. Every request is recorded, and the highest
//! number of namespace deletions in flight at once is tracked.
//!
//! `Platform::start_tls` serves the same over HTTPS with a throwaway CA (`tls.rs`): kubectl
//! sends a kubeconfig's credentials only over TLS.
//!
//! Also here: `Recorder`, an `Operator` that answers yes and records what it was told.

#![allow(dead_code)]

mod discovery;
mod tls;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

pub const KUBE_TOKEN: &str = "kube-token-0123456789-DoNotPrint";
pub const ARGOCD_TOKEN: &str = "argocd-token-0123456789-DoNotPrint";
pub const MOBU_TOKEN: &str = "mobu-token-0123456789-DoNotPrint";

/// The commit the Git branch Argo CD tracks starts at.
pub const INITIAL_COMMIT: &str = "3f1c2a9e5b7d4c6a8e0f1b2c3d4e5f60718293a4";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The query parameters, decoded.
    pub query: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

struct Fault {
    method: String,
    path: String,
    status: u16,
    remaining: usize,
}

/// An outage: every request whose path starts with `prefix` (and whose method is `method`,
/// when given) is answered `status` until `until`, with `Retry-After: retry_after` seconds.
struct Outage {
    method: Option<String>,
    prefix: String,
    status: u16,
    until: Instant,
    retry_after: Option<u64>,
}

struct Ns {
    labels: BTreeMap<String, String>,
    created: String,
    deleted: Option<(Instant, String)>,
    uid: String,
    /// The `resourceVersion` of its last change.
    rv: u64,
}

struct Deploy {
    uid: String,
    created: String,
    rv: u64,
    replicas: i64,
    generation: i64,
    /// `status.observedGeneration`: a restart or a scale is observed a third of the way
    /// through its rollout.
    observed: i64,
    selector: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    rollout_started: Option<Instant>,
    /// Its rollouts never finish (a broken image): after `rollout_for`, the `Progressing`
    /// condition says `ProgressDeadlineExceeded`.
    broken: bool,
    deadline_exceeded: bool,
    /// When the `Progressing` condition last changed.
    progress_at: String,
}

struct Pod {
    namespace: String,
    labels: BTreeMap<String, String>,
    deleted: Option<(Instant, String)>,
    uid: String,
    created: String,
    rv: u64,
}

/// An object that is gone, kept so that a watch from an older `resourceVersion` sees its
/// `DELETED` event.
struct Tombstone {
    rv: u64,
    kind: Kind,
    key: (String, String),
    object: Value,
}

/// The kinds a client can list and watch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Namespace,
    Pod,
    Deployment,
}

struct Op {
    phase: String,
    started_at: String,
    finished_at: Option<String>,
    message: String,
    ends: Instant,
    /// Started by someone else (`argocd_busy`): its end changes nothing in the app.
    foreign: bool,
    prune: bool,
    /// The revision the operation syncs to (`syncResult.revision` once it ends).
    revision: String,
    /// Why it will fail (an unknown revision), if it will.
    fails: Option<String>,
}

struct App {
    project: String,
    sync: String,
    health: String,
    op: Option<Op>,
    /// `(id, deployedAt, revision)` of each successful sync.
    history: Vec<(i64, String, String)>,
    degraded_until: Option<Instant>,
    /// Applications this one creates (an app-of-apps) when synced, and those it no longer
    /// renders at the branch's head: `status.resources[]` with `requiresPruning`, deleted by a
    /// sync with prune.
    creates: Vec<String>,
    prunes: Vec<String>,
}

/// A `coordination.k8s.io/v1` Lease.
struct LeaseObj {
    uid: String,
    created: String,
    resource_version: u64,
    annotations: Value,
    spec: Value,
}

struct Svc {
    /// `status.loadBalancer.ingress`.
    ingress: Vec<Value>,
    /// `spec` as created (a LoadBalancer's type, selector and ports).
    spec: Value,
    /// `metadata.labels` as created.
    labels: Value,
    /// A created LoadBalancer gets its address (`ingress`) then, as the cloud controller
    /// provisions it.
    assign: Option<(Instant, Value)>,
}

struct Route {
    status: u16,
    healthy_at: Option<Instant>,
}

struct World {
    namespaces: BTreeMap<String, Ns>,
    deployments: BTreeMap<(String, String), Deploy>,
    /// Keyed by (namespace, name), as the API server keys them.
    pods: BTreeMap<(String, String), Pod>,
    services: BTreeMap<(String, String), Svc>,
    /// The address a created LoadBalancer Service gets, and after how long (`None`: never).
    load_balancer: Option<(Value, Duration)>,
    /// The Services created and deleted, as (method, namespace, name).
    service_log: Vec<(String, String, String)>,
    leases: BTreeMap<(String, String), LeaseObj>,
    tombstones: Vec<Tombstone>,
    apps: BTreeMap<String, App>,
    /// The commit the Git branch Argo CD tracks points to, and the one its repo-server
    /// resolves the branch to (its revision cache; a hard refresh catches up).
    git_head: String,
    repo_cache: String,
    /// Every commit the repository has (a sync to another revision fails).
    commits: BTreeSet<String>,
    /// Applications whose syncs keep the revision they run, whatever was asked (as for an
    /// application that tracks another branch and ignores the requested revision).
    stuck_revision: BTreeSet<String>,
    flocks: BTreeSet<String>,
    routes: BTreeMap<String, Route>,
    faults: Vec<Fault>,
    outages: Vec<Outage>,
    requests: Vec<Request>,
    latency: Duration,
    terminating_for: Duration,
    rollout_for: Duration,
    operation_for: Duration,
    degraded_for: Duration,
    busy_status: u16,
    mobu_redirect: bool,
    require_tokens: bool,
    in_flight_deletes: usize,
    max_in_flight_deletes: usize,
    next_uid: u64,
    /// Tells this double's UIDs from another's.
    cluster_id: u32,
    resource_version: u64,
}

/// The server. Cloning shares it.
#[derive(Clone)]
pub struct Platform {
    pub url: String,
    /// With `start_tls`: the PEM of the CA that signed the server's certificate.
    pub ca_pem: Option<String>,
    world: Arc<Mutex<World>>,
    stop: Arc<AtomicBool>,
}

/// A distinct id for each double started by this process (and unlike another process's).
fn next_cluster_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    std::process::id().wrapping_mul(7919).wrapping_add(n)
}

fn now_text() -> String {
    rfc3339(SystemTime::now())
}

/// `2026-11-21T06:17:46Z`, as Kubernetes and Argo CD write times (whole seconds).
pub fn rfc3339(t: SystemTime) -> String {
    gitops_migrate::util::time::rfc3339(t)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Platform {
    /// Starts the server on 127.0.0.1 (any free port). Tokens are required (`KUBE_TOKEN`,
    /// `ARGOCD_TOKEN`, `MOBU_TOKEN`) unless `require_tokens(false)`.
    pub fn start() -> Platform {
        Platform::start_with(None)
    }

    /// The same server over HTTPS: a certificate for `127.0.0.1` and `localhost` signed by a
    /// CA made for this server (`ca_pem`), both generated by `openssl` on each start.
    pub fn start_tls() -> Platform {
        let (config, ca_pem) = tls::server_config();
        let mut p = Platform::start_with(Some(config));
        p.ca_pem = Some(ca_pem);
        p
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Platform {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().expect("address"));
        let world = Arc::new(Mutex::new(World {
            namespaces: BTreeMap::new(),
            deployments: BTreeMap::new(),
            pods: BTreeMap::new(),
            services: BTreeMap::new(),
            load_balancer: Some((json!({"ip": "127.0.0.1"}), Duration::from_millis(100))),
            service_log: Vec::new(),
            leases: BTreeMap::new(),
            tombstones: Vec::new(),
            apps: BTreeMap::new(),
            git_head: INITIAL_COMMIT.into(),
            repo_cache: INITIAL_COMMIT.into(),
            commits: BTreeSet::from([INITIAL_COMMIT.to_string()]),
            stuck_revision: BTreeSet::new(),
            flocks: BTreeSet::new(),
            routes: BTreeMap::new(),
            faults: Vec::new(),
            outages: Vec::new(),
            requests: Vec::new(),
            latency: Duration::ZERO,
            terminating_for: Duration::from_millis(100),
            rollout_for: Duration::from_millis(200),
            operation_for: Duration::from_millis(200),
            degraded_for: Duration::ZERO,
            busy_status: 400,
            mobu_redirect: false,
            require_tokens: true,
            in_flight_deletes: 0,
            max_in_flight_deletes: 0,
            next_uid: 1,
            cluster_id: next_cluster_id(),
            resource_version: 1000,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s) = (world.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let w = w.clone();
                match &tls {
                    None => std::thread::spawn(move || serve(stream, &w)),
                    Some(config) => {
                        let config = config.clone();
                        std::thread::spawn(move || {
                            if let Ok(conn) = rustls::ServerConnection::new(config) {
                                serve(rustls::StreamOwned::new(conn, stream), &w);
                            }
                        })
                    }
                };
            }
        });
        let p = Platform {
            url,
            ca_pem: None,
            world,
            stop,
        };
        // Every cluster has it; its UID identifies the cluster.
        p.add_namespace("kube-system", &[]);
        p
    }

    fn w(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Argo CD's root, as Phalanx serves it.
    pub fn argocd_url(&self) -> String {
        format!("{}/argo-cd", self.url)
    }

    pub fn mobu_url(&self) -> String {
        format!("{}/mobu", self.url)
    }

    // --- settings and faults ----------------------------------------------------------------

    /// Every request waits this long before it is answered.
    pub fn latency(&self, d: Duration) {
        self.w().latency = d;
    }

    /// How long a deleted namespace (or pod) stays `Terminating`.
    pub fn terminating_for(&self, d: Duration) {
        self.w().terminating_for = d;
    }

    /// How long a restarted Deployment rolls out.
    pub fn rollout_for(&self, d: Duration) {
        self.w().rollout_for = d;
    }

    /// How long an Argo CD sync operation runs.
    pub fn operation_for(&self, d: Duration) {
        self.w().operation_for = d;
    }

    /// After a sync, the application is `Degraded` this long before `Healthy`.
    pub fn degraded_for(&self, d: Duration) {
        self.w().degraded_for = d;
    }

    pub fn require_tokens(&self, on: bool) {
        self.w().require_tokens = on;
    }

    /// Answers the next `times` requests `method path` (the path without query) with
    /// `status` and the service's error shape.
    pub fn fail(&self, method: &str, path: &str, status: u16, times: usize) {
        self.w().faults.push(Fault {
            method: method.into(),
            path: path.into(),
            status,
            remaining: times,
        });
    }

    /// From now on and for `lasting`, answers every request whose path starts with `prefix`
    /// (and whose method is `method`, when given) with `status` and the service's error shape,
    /// adding `Retry-After: <secs>` when given: a control plane being upgraded (503), a
    /// throttling API server (429), revoked credentials (401).
    pub fn outage(
        &self,
        method: Option<&str>,
        prefix: &str,
        status: u16,
        lasting: Duration,
        retry_after: Option<u64>,
    ) {
        self.w().outages.push(Outage {
            method: method.map(str::to_string),
            prefix: prefix.into(),
            status,
            until: Instant::now() + lasting,
            retry_after,
        });
    }

    /// The times at which requests `method path` (the path without query) arrived.
    pub fn arrivals(&self, method: &str, path: &str) -> Vec<Instant> {
        self.w()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .map(|r| r.at)
            .collect()
    }

    /// mobu redirects every request to its login page, as Gafaelfawr does for a bad token.
    pub fn mobu_redirects(&self, on: bool) {
        self.w().mobu_redirect = on;
    }

    /// The status Argo CD refuses a sync with while another operation runs (400 or 409).
    pub fn busy_status(&self, status: u16) {
        self.w().busy_status = status;
    }

    // --- Kubernetes ---------------------------------------------------------------------------

    /// A namespace (an existing one keeps its UID and gets these labels).
    pub fn add_namespace(&self, name: &str, extra_labels: &[(&str, &str)]) {
        let mut w = self.w();
        let mut l = labels(extra_labels);
        l.insert("kubernetes.io/metadata.name".into(), name.into());
        let rv = bump(&mut w);
        if let Some(ns) = w.namespaces.get_mut(name) {
            ns.labels = l;
            ns.deleted = None;
            ns.rv = rv;
            return;
        }
        let uid = new_uid(&mut w);
        w.namespaces.insert(
            name.into(),
            Ns {
                labels: l,
                created: "2026-11-01T09:00:00Z".into(),
                deleted: None,
                uid,
                rv,
            },
        );
    }

    /// The UID of this cluster's `kube-system` namespace: what identifies the cluster.
    pub fn kube_system_uid(&self) -> String {
        self.w().namespaces["kube-system"].uid.clone()
    }

    /// A namespace already `Terminating` (removed after `terminating_for`).
    pub fn add_terminating_namespace(&self, name: &str, extra_labels: &[(&str, &str)]) {
        self.add_namespace(name, extra_labels);
        let mut w = self.w();
        let rv = bump(&mut w);
        let ns = w.namespaces.get_mut(name).unwrap();
        ns.deleted = Some((Instant::now(), now_text()));
        ns.rv = rv;
    }

    /// Names and phases of the namespaces that exist now.
    pub fn namespaces(&self) -> Vec<(String, String)> {
        let mut w = self.w();
        sweep(&mut w);
        w.namespaces
            .iter()
            .map(|(n, ns)| {
                let phase = if ns.deleted.is_some() {
                    "Terminating"
                } else {
                    "Active"
                };
                (n.clone(), phase.to_string())
            })
            .collect()
    }

    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces().into_iter().map(|(n, _)| n).collect()
    }

    /// A Deployment with `replicas` ready pods labelled `selector`.
    pub fn add_deployment(&self, ns: &str, name: &str, replicas: i64, selector: &[(&str, &str)]) {
        let mut w = self.w();
        let sel = labels(selector);
        for i in 0..replicas {
            let pod = new_pod(&mut w, ns, &sel);
            w.pods
                .insert((ns.to_string(), format!("{name}-7d9f8c-{i}")), pod);
        }
        let (uid, rv) = (new_uid(&mut w), bump(&mut w));
        w.deployments.insert(
            (ns.into(), name.into()),
            Deploy {
                uid,
                created: "2026-11-01T09:00:00Z".into(),
                rv,
                replicas,
                generation: 1,
                observed: 1,
                selector: sel,
                annotations: BTreeMap::new(),
                rollout_started: None,
                broken: false,
                deadline_exceeded: false,
                progress_at: "2026-11-01T09:00:00Z".into(),
            },
        );
    }

    pub fn has_deployment(&self, ns: &str, name: &str) -> bool {
        self.w()
            .deployments
            .contains_key(&(ns.to_string(), name.to_string()))
    }

    /// The pod template's annotations of a Deployment.
    pub fn deployment_annotations(&self, ns: &str, name: &str) -> BTreeMap<String, String> {
        self.w()
            .deployments
            .get(&(ns.to_string(), name.to_string()))
            .map(|d| d.annotations.clone())
            .unwrap_or_default()
    }

    pub fn deployment_generation(&self, ns: &str, name: &str) -> Option<i64> {
        self.w()
            .deployments
            .get(&(ns.to_string(), name.to_string()))
            .map(|d| d.generation)
    }

    /// Pods that exist now in `ns`.
    pub fn pod_names(&self, ns: &str) -> Vec<String> {
        let mut w = self.w();
        sweep(&mut w);
        w.pods
            .iter()
            .filter(|(_, p)| p.namespace == ns)
            .map(|((_, n), _)| n.clone())
            .collect()
    }

    /// A pod (not owned by a Deployment).
    pub fn add_pod(&self, ns: &str, name: &str, pod_labels: &[(&str, &str)]) {
        let mut w = self.w();
        let pod = new_pod(&mut w, ns, &labels(pod_labels));
        w.pods.insert((ns.into(), name.into()), pod);
    }

    /// Rollouts of this Deployment never finish (a broken image): after `rollout_for` its
    /// `Progressing` condition is `False` with `ProgressDeadlineExceeded`, as the Deployment
    /// controller sets it once `spec.progressDeadlineSeconds` pass without progress.
    pub fn break_rollouts(&self, ns: &str, name: &str) {
        if let Some(d) = self
            .w()
            .deployments
            .get_mut(&(ns.to_string(), name.to_string()))
        {
            d.broken = true;
        }
    }

    /// A Service whose load balancer has `ip` or `hostname` (neither: still pending).
    pub fn add_service(&self, ns: &str, name: &str, ip: Option<&str>, hostname: Option<&str>) {
        let ingress = match (ip, hostname) {
            (Some(ip), _) => vec![json!({"ip": ip})],
            (None, Some(h)) => vec![json!({"hostname": h})],
            (None, None) => Vec::new(),
        };
        self.w().services.insert(
            (ns.into(), name.into()),
            Svc {
                ingress,
                spec: json!({"type": "LoadBalancer", "ports": [{"name": "https", "port": 443}]}),
                labels: json!({}),
                assign: None,
            },
        );
    }

    /// A Service someone made, with these labels and `spec`, and no load balancer address.
    pub fn add_service_with(&self, ns: &str, name: &str, labels: Value, spec: Value) {
        self.w().services.insert(
            (ns.into(), name.into()),
            Svc {
                ingress: Vec::new(),
                spec,
                labels,
                assign: None,
            },
        );
    }

    /// The load balancer of an existing Service gets this IP in its status.
    pub fn set_service_address(&self, ns: &str, name: &str, ip: &str) {
        if let Some(svc) = self
            .w()
            .services
            .get_mut(&(ns.to_string(), name.to_string()))
        {
            svc.ingress = vec![json!({ "ip": ip })];
        }
    }

    /// The address a LoadBalancer Service created from now on gets in its status (`ip`, or
    /// a `hostname` as on AWS), `after` its creation; `None`: it never gets one.
    pub fn load_balancer(&self, address: Option<&str>, hostname: bool, after: Duration) {
        self.w().load_balancer = address.map(|a| {
            let v = if hostname {
                json!({"hostname": a})
            } else {
                json!({"ip": a})
            };
            (v, after)
        });
    }

    /// The `spec` of a Service.
    pub fn service_spec(&self, ns: &str, name: &str) -> Option<Value> {
        self.w()
            .services
            .get(&(ns.to_string(), name.to_string()))
            .map(|s| s.spec.clone())
    }

    /// Every Service created (`POST`) or deleted (`DELETE`), in order, as `METHOD ns/name`.
    pub fn service_log(&self) -> Vec<String> {
        self.w()
            .service_log
            .iter()
            .map(|(m, ns, n)| format!("{m} {ns}/{n}"))
            .collect()
    }

    pub fn has_service(&self, ns: &str, name: &str) -> bool {
        self.w()
            .services
            .contains_key(&(ns.to_string(), name.to_string()))
    }

    /// `spec.replicas` of a Deployment.
    pub fn deployment_replicas(&self, ns: &str, name: &str) -> Option<i64> {
        self.w()
            .deployments
            .get(&(ns.to_string(), name.to_string()))
            .map(|d| d.replicas)
    }

    /// A Lease as the API returns it, if it exists.
    pub fn lease(&self, ns: &str, name: &str) -> Option<Value> {
        let w = self.w();
        w.leases
            .get(&(ns.to_string(), name.to_string()))
            .map(|l| lease_json(ns, name, l))
    }

    /// Puts a Lease with this `spec` (as another client would have written it).
    pub fn put_lease(&self, ns: &str, name: &str, spec: Value) {
        let mut w = self.w();
        let uid = new_uid(&mut w);
        w.resource_version += 1;
        let rv = w.resource_version;
        w.leases.insert(
            (ns.into(), name.into()),
            LeaseObj {
                uid,
                created: now_text(),
                resource_version: rv,
                annotations: json!({}),
                spec,
            },
        );
    }

    /// The most namespace deletions that were in flight at once.
    pub fn max_concurrent_deletes(&self) -> usize {
        self.w().max_in_flight_deletes
    }

    // --- Argo CD -----------------------------------------------------------------------------

    /// An application with a finished earlier sync (history id 1).
    pub fn add_app(&self, name: &str, sync: &str, health: &str) {
        let mut w = self.w();
        let revision = w.repo_cache.clone();
        w.apps.insert(
            name.into(),
            App {
                project: "default".into(),
                sync: sync.into(),
                health: health.into(),
                op: Some(Op {
                    phase: "Succeeded".into(),
                    started_at: "2026-11-20T10:00:00Z".into(),
                    finished_at: Some("2026-11-20T10:00:04Z".into()),
                    message: "successfully synced (all tasks run)".into(),
                    ends: Instant::now(),
                    foreign: false,
                    prune: false,
                    revision: revision.clone(),
                    fails: None,
                }),
                history: vec![(1, "2026-11-20T10:00:04Z".into(), revision)],
                degraded_until: None,
                creates: Vec::new(),
                prunes: Vec::new(),
            },
        );
    }

    /// A merge: the tracked branch now points to `commit`. Argo CD's repo-server keeps
    /// resolving the branch to the previous commit until a hard refresh (its revision cache).
    pub fn merge_commit(&self, commit: &str) {
        let mut w = self.w();
        w.git_head = commit.into();
        w.commits.insert(commit.into());
    }

    /// The commit the tracked branch points to.
    pub fn git_head(&self) -> String {
        self.w().git_head.clone()
    }

    /// `app`'s syncs keep the revision it runs, whatever the request asks for (an application
    /// that tracks another branch and ignores the requested revision).
    pub fn argocd_stuck_revision(&self, app: &str) {
        self.w().stuck_revision.insert(app.into());
    }

    /// The revision of `app`'s last finished operation (`syncResult.revision`).
    pub fn synced_revision(&self, app: &str) -> Option<String> {
        let mut w = self.w();
        sweep(&mut w);
        w.apps
            .get(app)
            .and_then(|a| a.op.as_ref())
            .map(|o| o.revision.clone())
    }

    /// When `parent` is synced it creates `child` (an app-of-apps), OutOfSync and Missing.
    pub fn app_creates(&self, parent: &str, child: &str) {
        if let Some(a) = self.w().apps.get_mut(parent) {
            a.creates.push(child.into());
        }
    }

    /// `parent` no longer renders `child` (an app-of-apps whose environment disabled it):
    /// `child` requires pruning, and a sync of `parent` with prune deletes it.
    pub fn app_prunes(&self, parent: &str, child: &str) {
        if let Some(a) = self.w().apps.get_mut(parent) {
            a.prunes.push(child.into());
        }
    }

    /// Someone else's operation runs on `app` for `d`: syncs are refused meanwhile.
    pub fn argocd_busy(&self, app: &str, d: Duration) {
        let mut w = self.w();
        if let Some(a) = w.apps.get_mut(app) {
            let revision =
                a.op.as_ref()
                    .map(|o| o.revision.clone())
                    .unwrap_or_default();
            a.op = Some(Op {
                phase: "Running".into(),
                started_at: "2026-11-20T11:00:00Z".into(),
                finished_at: None,
                message: "waiting for completion of hook batch/Job/pre-sync".into(),
                ends: Instant::now() + d,
                foreign: true,
                prune: false,
                revision,
                fails: None,
            });
        }
    }

    pub fn has_app(&self, name: &str) -> bool {
        self.w().apps.contains_key(name)
    }

    /// `(sync, health, last operation phase)`.
    pub fn app_state(&self, name: &str) -> Option<(String, String, String)> {
        let mut w = self.w();
        sweep(&mut w);
        w.apps.get(name).map(|a| {
            (
                a.sync.clone(),
                a.health.clone(),
                a.op.as_ref().map(|o| o.phase.clone()).unwrap_or_default(),
            )
        })
    }

    /// Makes an application OutOfSync (someone changed its manifests or deleted a resource).
    pub fn app_out_of_sync(&self, name: &str) {
        if let Some(a) = self.w().apps.get_mut(name) {
            a.sync = "OutOfSync".into();
        }
    }

    // --- mobu and hubs -----------------------------------------------------------------------

    pub fn add_flock(&self, name: &str) {
        self.w().flocks.insert(name.into());
    }

    pub fn flocks(&self) -> Vec<String> {
        self.w().flocks.iter().cloned().collect()
    }

    /// The hub on `route` answers `status` now.
    pub fn route_status(&self, route: &str, status: u16) {
        self.w().routes.insert(
            route.into(),
            Route {
                status,
                healthy_at: None,
            },
        );
    }

    /// The hub on `route` answers 503 for `d`, then 200.
    pub fn route_healthy_after(&self, route: &str, d: Duration) {
        self.w().routes.insert(
            route.into(),
            Route {
                status: 503,
                healthy_at: Some(Instant::now() + d),
            },
        );
    }

    // --- the record --------------------------------------------------------------------------

    pub fn requests(&self) -> Vec<Request> {
        self.w().requests.clone()
    }

    pub fn count(&self, method: &str, path: &str) -> usize {
        self.w()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Requests other than GET.
    pub fn mutations(&self) -> Vec<String> {
        self.w()
            .requests
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    pub fn clear_requests(&self) {
        self.w().requests.clear();
    }

    /// A kubeconfig whose current context `name` points at this server with `KUBE_TOKEN`.
    pub fn kubeconfig(&self, name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {name}\nclusters:\n  - name: {name}\n    cluster:\n      server: {}\ncontexts:\n  - name: {name}\n    context:\n      cluster: {name}\n      user: {name}-admin\nusers:\n  - name: {name}-admin\n    user:\n      token: {KUBE_TOKEN}\n",
            self.url
        )
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if Arc::strong_count(&self.stop) == 2 {
            // The last handle (plus the accept thread's): stop accepting.
            self.stop.store(true, Ordering::SeqCst);
            let address = self.url.split_once("://").map_or(&*self.url, |(_, a)| a);
            let _ = TcpStream::connect(address);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Time passes: terminations finish, rollouts complete, operations end.

fn sweep(w: &mut World) {
    let now = Instant::now();
    let tf = w.terminating_for;
    let gone: Vec<String> = w
        .namespaces
        .iter()
        .filter(|(_, ns)| ns.deleted.as_ref().is_some_and(|(t, _)| now >= *t + tf))
        .map(|(n, _)| n.clone())
        .collect();
    for n in &gone {
        let pods: Vec<(String, String)> =
            w.pods.keys().filter(|(ns, _)| ns == n).cloned().collect();
        for key in pods {
            remove_pod(w, &key);
        }
        let deployments: Vec<(String, String)> = w
            .deployments
            .keys()
            .filter(|(ns, _)| ns == n)
            .cloned()
            .collect();
        for key in deployments {
            remove_deployment(w, &key);
        }
        if let Some(ns) = w.namespaces.remove(n) {
            let object = ns_json(n, &ns);
            bury(w, Kind::Namespace, (String::new(), n.clone()), object);
        }
    }
    let done: Vec<(String, String)> = w
        .pods
        .iter()
        .filter(|(_, p)| p.deleted.as_ref().is_some_and(|(t, _)| now >= *t + tf))
        .map(|(k, _)| k.clone())
        .collect();
    for key in done {
        remove_pod(w, &key);
    }
    // Rollouts: observed a third of the way through, then complete (new pods replace the
    // old ones) or, for a broken one, past its progress deadline.
    let rf = w.rollout_for;
    let rolling: Vec<(String, String)> = w
        .deployments
        .iter()
        .filter(|(_, d)| d.rollout_started.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    for key in rolling {
        let elapsed = w.deployments[&key]
            .rollout_started
            .map(|t| now - t)
            .unwrap_or_default();
        let d = &w.deployments[&key];
        let observe = elapsed >= rf / 3 && d.observed < d.generation;
        let exceed = d.broken && elapsed >= rf && !d.deadline_exceeded;
        let complete = !d.broken && elapsed >= rf;
        if !(observe || exceed || complete) {
            continue;
        }
        let rv = bump(w);
        let d = w.deployments.get_mut(&key).expect("listed");
        d.rv = rv;
        if observe || complete {
            d.observed = d.generation;
        }
        if exceed {
            d.deadline_exceeded = true;
            d.progress_at = now_text();
        }
        if complete {
            d.rollout_started = None;
            d.progress_at = now_text();
            let (replicas, generation, selector) = (d.replicas, d.generation, d.selector.clone());
            let (ns, name) = key.clone();
            let old: Vec<(String, String)> = w
                .pods
                .iter()
                .filter(|((n, _), p)| *n == ns && matches(&selector, &p.labels))
                .map(|(k, _)| k.clone())
                .collect();
            for k in old {
                remove_pod(w, &k);
            }
            for i in 0..replicas {
                let pod = new_pod(w, &ns, &selector);
                w.pods
                    .insert((ns.clone(), format!("{name}-{generation:x}f{i}")), pod);
            }
        }
    }
    let degraded_for = w.degraded_for;
    let mut created = Vec::new();
    let mut pruned = Vec::new();
    let cached = w.repo_cache.clone();
    for a in w.apps.values_mut() {
        if let Some(op) = a.op.as_mut()
            && op.phase == "Running"
            && now >= op.ends
        {
            op.finished_at = Some(now_text());
            if let Some(why) = op.fails.take() {
                op.phase = "Failed".into();
                op.message = why;
                continue;
            }
            op.phase = "Succeeded".into();
            op.message = "successfully synced (all tasks run)".into();
            if !op.foreign {
                let id = a.history.last().map(|h| h.0).unwrap_or(0) + 1;
                a.history.push((id, now_text(), op.revision.clone()));
                // Compared with what the branch resolves to now.
                a.sync = if op.revision == cached {
                    "Synced"
                } else {
                    "OutOfSync"
                }
                .into();
                if degraded_for > Duration::ZERO {
                    a.health = "Degraded".into();
                    a.degraded_until = Some(now + degraded_for);
                } else {
                    a.health = "Healthy".into();
                }
                created.extend(a.creates.clone());
                if op.prune {
                    pruned.extend(a.prunes.clone());
                }
            }
        }
        if a.degraded_until.is_some_and(|t| now >= t) {
            a.degraded_until = None;
            a.health = "Healthy".into();
        }
    }
    for c in created {
        w.apps.entry(c).or_insert_with(|| App {
            project: "default".into(),
            sync: "OutOfSync".into(),
            health: "Missing".into(),
            op: None,
            history: Vec::new(),
            degraded_until: None,
            creates: Vec::new(),
            prunes: Vec::new(),
        });
    }
    for p in pruned {
        w.apps.remove(&p);
    }
    for r in w.routes.values_mut() {
        if r.healthy_at.is_some_and(|t| now >= t) {
            r.healthy_at = None;
            r.status = 200;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_request(reader: &mut BufReader<impl Read>) -> Option<(Request, bool)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let close = headers
        .get("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
    Some((
        Request {
            method,
            path: decode(path),
            query,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        },
        close,
    ))
}

struct Answer {
    status: u16,
    body: String,
    location: Option<String>,
    content_type: &'static str,
    /// A watch: the head and then a stream of events, instead of `body`.
    watch: Option<watch::Watch>,
}

fn answer(status: u16, v: Value) -> Answer {
    Answer {
        status,
        body: if status == 204 {
            String::new()
        } else {
            v.to_string()
        },
        location: None,
        content_type: "application/json",
        watch: None,
    }
}

/// Answers the requests of one connection (plain, or TLS).
fn serve(stream: impl Read + Write, world: &Arc<Mutex<World>>) {
    let mut reader = BufReader::new(stream);
    while let Some((req, close)) = read_request(&mut reader) {
        let stream = reader.get_mut();
        let is_ns_delete = req.method == "DELETE" && req.path.starts_with("/api/v1/namespaces/");
        let latency = {
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            w.requests.push(req.clone());
            if is_ns_delete {
                w.in_flight_deletes += 1;
                w.max_in_flight_deletes = w.max_in_flight_deletes.max(w.in_flight_deletes);
            }
            w.latency
        };
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let mut retry_after = None;
        let a = {
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            if is_ns_delete {
                w.in_flight_deletes -= 1;
            }
            sweep(&mut w);
            let now = Instant::now();
            let outage = w.outages.iter().find(|o| {
                now < o.until
                    && req.path.starts_with(&o.prefix)
                    && o.method.as_ref().is_none_or(|m| *m == req.method)
            });
            match outage {
                Some(o) => {
                    retry_after = o.retry_after;
                    fault_answer(&req.path, o.status)
                }
                None => route(&mut w, &req),
            }
        };
        if let Some(watch) = &a.watch {
            watch::stream(stream, world, watch);
            return;
        }
        let reason = match a.status {
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            204 => "No Content",
            405 => "Method Not Allowed",
            415 => "Unsupported Media Type",
            422 => "Unprocessable Entity",
            429 => "Too Many Requests",
            302 => "Found",
            307 => "Temporary Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Whatever",
        };
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", a.status);
        if let Some(l) = &a.location {
            head.push_str(&format!("Location: {l}\r\n"));
        }
        if let Some(secs) = retry_after {
            head.push_str(&format!("Retry-After: {secs}\r\n"));
        }
        if a.status != 204 {
            head.push_str(&format!(
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                a.content_type,
                a.body.len()
            ));
        }
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        // One write: a head and a body in two small segments would meet Nagle's algorithm
        // and the client's delayed ACK (40 ms a response).
        head.push_str(&a.body);
        if stream.write_all(head.as_bytes()).is_err() || stream.flush().is_err() || close {
            return;
        }
    }
}

fn route(w: &mut World, req: &Request) -> Answer {
    let path = req.path.as_str();
    // Injected faults first.
    if let Some(f) = w
        .faults
        .iter_mut()
        .find(|f| f.remaining > 0 && f.method == req.method && f.path == path)
    {
        f.remaining -= 1;
        let status = f.status;
        return fault_answer(path, status);
    }
    let bearer = req
        .headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    if let Some(rest) = path.strip_prefix("/argo-cd/api/v1/applications/") {
        if w.require_tokens && bearer != ARGOCD_TOKEN {
            return answer(
                401,
                json!({"error": "invalid session: token signature is invalid", "code": 16, "message": "invalid session: token signature is invalid"}),
            );
        }
        return argocd(w, req, rest);
    }
    if let Some(rest) = path.strip_prefix("/mobu/flocks/") {
        if w.mobu_redirect || (w.require_tokens && bearer != MOBU_TOKEN) {
            return Answer {
                status: 307,
                body: String::new(),
                location: Some(format!("/login?rd=https%3A%2F%2Fexample.org{path}")),
                content_type: "text/html",
                watch: None,
            };
        }
        return mobu(w, req, rest);
    }
    if let Some(route) = path.strip_suffix("/hub/health") {
        let status = w.routes.get(route).map(|r| r.status).unwrap_or(404);
        return Answer {
            status,
            body: if status == 200 {
                "{}".into()
            } else {
                format!("<html><body>{status}</body></html>")
            },
            location: None,
            content_type: if status == 200 {
                "application/json"
            } else {
                "text/html"
            },
            watch: None,
        };
    }
    // Version information is public (`system:public-info-viewer`); the rest needs a token.
    if path == "/version" && req.method == "GET" {
        return discovery::version();
    }
    if path == "/api" || path == "/apis" || path.starts_with("/api/") || path.starts_with("/apis/")
    {
        if w.require_tokens && bearer != KUBE_TOKEN {
            return status_answer(401, "Unauthorized", "Unauthorized");
        }
        return kube(w, req);
    }
    answer(404, json!({"message": "no such service in the double"}))
}

fn fault_answer(path: &str, status: u16) -> Answer {
    if path.starts_with("/api") {
        let (reason, message) = match status {
            409 => (
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {}: the object has been modified; please apply your changes to the latest version and try again",
                    path.rsplit('/').next().unwrap_or("")
                ),
            ),
            429 => (
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later"
                    .into(),
            ),
            500 => (
                "InternalError",
                "Internal error occurred: injected fault".into(),
            ),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request".into(),
            ),
            _ => ("Unknown", format!("injected fault {status}")),
        };
        return status_answer(status, reason, &message);
    }
    if path.starts_with("/argo-cd") {
        return answer(
            status,
            json!({"error": "injected fault", "code": 13, "message": "injected fault"}),
        );
    }
    answer(
        status,
        json!({"detail": [{"msg": "injected fault", "type": "fault"}]}),
    )
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

fn status_answer(code: u16, reason: &str, message: &str) -> Answer {
    answer(
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }),
    )
}

fn not_found(kind: &str, name: &str) -> Answer {
    status_answer(404, "NotFound", &format!("{kind} \"{name}\" not found"))
}

/// Whether `labels` satisfy a label selector.
fn matches_selector(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    // Split on commas outside parentheses.
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .all(|t| {
            let set = |s: &str| -> Vec<String> {
                s.trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .collect()
            };
            if let Some((k, v)) = t.split_once(" notin ") {
                return labels.get(k.trim()).is_none_or(|x| !set(v).contains(x));
            }
            if let Some((k, v)) = t.split_once(" in ") {
                return labels.get(k.trim()).is_some_and(|x| set(v).contains(x));
            }
            if let Some((k, v)) = t.split_once("!=") {
                return labels.get(k.trim()).map(String::as_str) != Some(v.trim());
            }
            if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                return labels.get(k.trim()).map(String::as_str) == Some(v.trim());
            }
            if let Some(k) = t.strip_prefix('!') {
                return !labels.contains_key(k.trim());
            }
            labels.contains_key(t)
        })
}

fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Whether an object's fields satisfy a field selector.
fn matches_fields(selector: &str, fields: &BTreeMap<&str, String>) -> Result<bool, String> {
    for t in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (k, v, neg) = if let Some((k, v)) = t.split_once("!=") {
            (k, v, true)
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            (k, v, false)
        } else {
            return Err(format!("invalid field selector term \"{t}\""));
        };
        let Some(actual) = fields.get(k.trim()) else {
            return Err(format!("field label not supported: {}", k.trim()));
        };
        if (actual == v.trim()) == neg {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A UID unique to this server (every double is its own cluster) and object.
fn new_uid(w: &mut World) -> String {
    let n = w.next_uid;
    w.next_uid += 1;
    format!("{:08x}-0000-4000-8000-{n:012x}", w.cluster_id)
}

/// The next `resourceVersion` (one counter for every object, as etcd's revision).
fn bump(w: &mut World) -> u64 {
    w.resource_version += 1;
    w.resource_version
}

fn new_pod(w: &mut World, ns: &str, labels: &BTreeMap<String, String>) -> Pod {
    Pod {
        namespace: ns.into(),
        labels: labels.clone(),
        deleted: None,
        uid: new_uid(w),
        created: now_text(),
        rv: bump(w),
    }
}

/// Keeps what a watch needs to tell that an object went.
fn bury(w: &mut World, kind: Kind, key: (String, String), mut object: Value) {
    let rv = bump(w);
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
    w.tombstones.push(Tombstone {
        rv,
        kind,
        key,
        object,
    });
}

fn remove_pod(w: &mut World, key: &(String, String)) {
    if let Some(p) = w.pods.remove(key) {
        let object = pod_json(&key.1, &p);
        bury(w, Kind::Pod, key.clone(), object);
    }
}

fn remove_deployment(w: &mut World, key: &(String, String)) -> Option<Deploy> {
    let d = w.deployments.remove(key)?;
    let object = deploy_json(&key.0, &key.1, &d);
    bury(w, Kind::Deployment, key.clone(), object);
    Some(d)
}

/// The `metadata` every object has: name (and namespace), `uid`, `resourceVersion`,
/// `creationTimestamp`.
fn object_meta(ns: Option<&str>, name: &str, uid: &str, rv: u64, created: &str) -> Value {
    let mut meta = json!({
        "name": name,
        "uid": uid,
        "resourceVersion": rv.to_string(),
        "creationTimestamp": created,
    });
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    }
    meta
}

fn ns_json(name: &str, ns: &Ns) -> Value {
    let mut meta = object_meta(None, name, &ns.uid, ns.rv, &ns.created);
    meta["labels"] = json!(ns.labels);
    let phase = if let Some((_, at)) = &ns.deleted {
        meta["deletionTimestamp"] = json!(at);
        "Terminating"
    } else {
        "Active"
    };
    json!({
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": meta,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": phase},
    })
}

fn lease_json(ns: &str, name: &str, l: &LeaseObj) -> Value {
    json!({
        "kind": "Lease",
        "apiVersion": "coordination.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": l.uid,
            "resourceVersion": l.resource_version.to_string(),
            "creationTimestamp": l.created,
            "annotations": l.annotations,
        },
        "spec": l.spec,
    })
}

/// A Deployment with its status and conditions as the Deployment controller writes them:
/// during a rollout one pod more than `spec.replicas`, one fewer updated; `Progressing`
/// (`ReplicaSetUpdated`, `NewReplicaSetAvailable`, or `ProgressDeadlineExceeded` for a broken
/// rollout) and `Available` (at least `replicas` less 25% `maxUnavailable`).
fn deploy_json(ns: &str, name: &str, d: &Deploy) -> Value {
    let (status_replicas, updated, available) = match d.rollout_started {
        Some(_) => (d.replicas + 1, (d.replicas - 1).max(0), d.replicas),
        None => (d.replicas, d.replicas, d.replicas),
    };
    let rs = format!("{name}-{:x}f", d.generation);
    let (progressing, reason, message) = if d.deadline_exceeded {
        (
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{rs}\" has timed out progressing."),
        )
    } else if d.rollout_started.is_some() {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs}\" is progressing."),
        )
    } else {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs}\" has successfully progressed."),
        )
    };
    let (avail, avail_reason, avail_message) = if available >= d.replicas - d.replicas / 4 {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let mut meta = object_meta(Some(ns), name, &d.uid, d.rv, &d.created);
    meta["generation"] = json!(d.generation);
    meta["labels"] = json!(d.selector);
    json!({
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": meta,
        "spec": {
            "replicas": d.replicas,
            "selector": {"matchLabels": d.selector},
            "template": {
                "metadata": {"labels": d.selector, "annotations": d.annotations},
                "spec": {"containers": [{"name": name, "image": format!("ghcr.io/lsst-sqre/{name}:1.0.0")}]},
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": d.observed,
            "replicas": status_replicas,
            "updatedReplicas": updated,
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": (status_replicas - available).max(0),
            "conditions": [
                {"type": "Available", "status": avail, "reason": avail_reason, "message": avail_message,
                 "lastUpdateTime": d.created, "lastTransitionTime": d.created},
                {"type": "Progressing", "status": progressing, "reason": reason, "message": message,
                 "lastUpdateTime": d.progress_at, "lastTransitionTime": d.progress_at},
            ],
        },
    })
}

/// `autoscaling/v1` Scale: the `/scale` subresource of a Deployment.
fn scale_json(ns: &str, name: &str, d: &Deploy) -> Value {
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": object_meta(Some(ns), name, &d.uid, d.rv, &d.created),
        "spec": {"replicas": d.replicas},
        "status": {"replicas": d.replicas, "selector": selector_string(&d.selector)},
    })
}

fn selector_string(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn pod_json(name: &str, p: &Pod) -> Value {
    let mut meta = object_meta(Some(&p.namespace), name, &p.uid, p.rv, &p.created);
    meta["labels"] = json!(p.labels);
    if let Some((_, at)) = &p.deleted {
        meta["deletionTimestamp"] = json!(at);
    }
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "image": "ghcr.io/lsst-sqre/main:1.0.0"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "main", "ready": p.deleted.is_none(), "restartCount": 0}]},
    })
}

/// The live objects of a kind (in one namespace, or all), sorted, with their
/// `resourceVersion`s.
fn objects(w: &World, kind: Kind, ns: Option<&str>) -> Vec<((String, String), u64, Value)> {
    let in_ns = |n: &str| ns.is_none_or(|x| x == n);
    match kind {
        Kind::Namespace => w
            .namespaces
            .iter()
            .map(|(n, o)| ((String::new(), n.clone()), o.rv, ns_json(n, o)))
            .collect(),
        Kind::Pod => w
            .pods
            .iter()
            .filter(|((n, _), _)| in_ns(n))
            .map(|(k, p)| (k.clone(), p.rv, pod_json(&k.1, p)))
            .collect(),
        Kind::Deployment => w
            .deployments
            .iter()
            .filter(|((n, _), _)| in_ns(n))
            .map(|(k, d)| (k.clone(), d.rv, deploy_json(&k.0, &k.1, d)))
            .collect(),
    }
}

/// Whether an object matches a list's or watch's label and field selectors. The fields are
/// those the API server indexes for the kind; another one is a 400.
fn selected(kind: Kind, v: &Value, label_sel: &str, field_sel: &str) -> Result<bool, String> {
    let labels = string_map(v.pointer("/metadata/labels"));
    if !matches_selector(label_sel, &labels) {
        return Ok(false);
    }
    let text = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut fields = BTreeMap::from([("metadata.name", text("/metadata/name"))]);
    match kind {
        Kind::Namespace => {
            fields.insert("status.phase", text("/status/phase"));
        }
        Kind::Pod => {
            fields.insert("metadata.namespace", text("/metadata/namespace"));
            fields.insert("status.phase", text("/status/phase"));
        }
        Kind::Deployment => {
            fields.insert("metadata.namespace", text("/metadata/namespace"));
        }
    }
    matches_fields(field_sel, &fields)
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A list of a kind, filtered by the request's selectors, a page at a time.
fn list(w: &World, kind: Kind, ns: Option<&str>, req: &Request) -> Answer {
    let label_sel = req.query.get("labelSelector").map_or("", String::as_str);
    let field_sel = req.query.get("fieldSelector").map_or("", String::as_str);
    let mut items = Vec::new();
    for (_, _, v) in objects(w, kind, ns) {
        match selected(kind, &v, label_sel, field_sel) {
            Ok(true) => items.push(v),
            Ok(false) => {}
            Err(e) => return status_answer(400, "BadRequest", &e),
        }
    }
    let (list_kind, api_version) = match kind {
        Kind::Namespace => ("NamespaceList", "v1"),
        Kind::Pod => ("PodList", "v1"),
        Kind::Deployment => ("DeploymentList", "apps/v1"),
    };
    page(
        items,
        req,
        list_kind,
        api_version,
        w.resource_version.to_string(),
    )
}

/// `limit` / `continue` over a sorted list.
fn page(items: Vec<Value>, req: &Request, kind: &str, api_version: &str, rv: String) -> Answer {
    let start: usize = req
        .query
        .get("continue")
        .and_then(|c| c.strip_prefix("page-"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit: usize = req
        .query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let end = start.saturating_add(limit).min(items.len());
    let mut meta = json!({"resourceVersion": rv});
    if end < items.len() {
        meta["continue"] = json!(format!("page-{end}"));
        meta["remainingItemCount"] = json!(items.len() - end);
    }
    answer(
        200,
        json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": meta,
            "items": items.get(start..end).unwrap_or(&[]),
        }),
    )
}

fn kube(w: &mut World, req: &Request) -> Answer {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    if let Some(a) = discovery::answer_for(&segs, &req.headers) {
        return a;
    }
    if watch::asked(req) {
        return watch::start(req, &segs);
    }
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["api", "v1", "namespaces"]) => list(w, Kind::Namespace, None, req),
        ("GET", ["api", "v1", "namespaces", name]) => match w.namespaces.get(*name) {
            Some(ns) => answer(200, ns_json(name, ns)),
            None => not_found("namespaces", name),
        },
        ("DELETE", ["api", "v1", "namespaces", name]) => {
            let rv = bump(w);
            match w.namespaces.get_mut(*name) {
                None => not_found("namespaces", name),
                Some(ns) if ns.deleted.is_some() => status_answer(
                    409,
                    "Conflict",
                    &format!(
                        "Operation cannot be fulfilled on namespaces \"{name}\": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."
                    ),
                ),
                Some(ns) => {
                    ns.deleted = Some((Instant::now(), now_text()));
                    ns.rv = rv;
                    let v = ns_json(name, ns);
                    answer(200, v)
                }
            }
        }
        ("GET", ["api", "v1", "pods"]) => list(w, Kind::Pod, None, req),
        ("GET", ["api", "v1", "namespaces", ns, "pods"]) => list(w, Kind::Pod, Some(ns), req),
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => {
            match w.pods.get(&(ns.to_string(), name.to_string())) {
                Some(p) => answer(200, pod_json(name, p)),
                None => not_found("pods", name),
            }
        }
        ("DELETE", ["api", "v1", "namespaces", ns, "pods", name]) => {
            let rv = bump(w);
            match w.pods.get_mut(&(ns.to_string(), name.to_string())) {
                None => not_found("pods", name),
                Some(p) => {
                    if p.deleted.is_none() {
                        p.deleted = Some((Instant::now(), now_text()));
                        p.rv = rv;
                    }
                    let v = pod_json(name, p);
                    answer(200, v)
                }
            }
        }
        ("GET", ["apis", "apps", "v1", "deployments"]) => list(w, Kind::Deployment, None, req),
        ("GET", ["apis", "apps", "v1", "namespaces", ns, "deployments"]) => {
            list(w, Kind::Deployment, Some(ns), req)
        }
        (
            "POST",
            [
                "apis",
                "coordination.k8s.io",
                "v1",
                "namespaces",
                ns,
                "leases",
            ],
        ) => {
            let body = req.json();
            let Some(name) = body.pointer("/metadata/name").and_then(Value::as_str) else {
                return status_answer(
                    422,
                    "Invalid",
                    "Lease.coordination.k8s.io \"\" is invalid: metadata.name: Required value: name or generateName is required",
                );
            };
            let key = (ns.to_string(), name.to_string());
            if w.leases.contains_key(&key) {
                return status_answer(
                    409,
                    "AlreadyExists",
                    &format!("leases.coordination.k8s.io \"{name}\" already exists"),
                );
            }
            let uid = new_uid(w);
            w.resource_version += 1;
            let l = LeaseObj {
                uid,
                created: now_text(),
                resource_version: w.resource_version,
                annotations: body
                    .pointer("/metadata/annotations")
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                spec: body.get("spec").cloned().unwrap_or_else(|| json!({})),
            };
            let v = lease_json(ns, name, &l);
            w.leases.insert(key, l);
            answer(201, v)
        }
        (
            m,
            [
                "apis",
                "coordination.k8s.io",
                "v1",
                "namespaces",
                ns,
                "leases",
                name,
            ],
        ) => {
            let key = (ns.to_string(), name.to_string());
            match m {
                "GET" => match w.leases.get(&key) {
                    Some(l) => answer(200, lease_json(ns, name, l)),
                    None => not_found("leases.coordination.k8s.io", name),
                },
                // An update names the resourceVersion it read: a stale one is a conflict
                // (optimistic concurrency).
                "PUT" => {
                    let body = req.json();
                    let Some(current) = w.leases.get(&key).map(|l| l.resource_version) else {
                        return not_found("leases.coordination.k8s.io", name);
                    };
                    let given = body
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if given != current.to_string() {
                        return status_answer(
                            409,
                            "Conflict",
                            &format!(
                                "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                            ),
                        );
                    }
                    w.resource_version += 1;
                    let rv = w.resource_version;
                    let l = w.leases.get_mut(&key).expect("checked");
                    l.resource_version = rv;
                    l.spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
                    if let Some(a) = body.pointer("/metadata/annotations") {
                        l.annotations = a.clone();
                    }
                    answer(200, lease_json(ns, name, l))
                }
                "DELETE" => match w.leases.remove(&key) {
                    Some(_) => answer(
                        200,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                    ),
                    None => not_found("leases.coordination.k8s.io", name),
                },
                _ => status_answer(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        ("POST", ["api", "v1", "namespaces", ns, "services"]) => {
            let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            let Some(name) = body.pointer("/metadata/name").and_then(Value::as_str) else {
                return status_answer(422, "Invalid", "metadata.name: Required value");
            };
            let key = (ns.to_string(), name.to_string());
            if w.services.contains_key(&key) {
                return status_answer(
                    409,
                    "AlreadyExists",
                    &format!("services \"{name}\" already exists"),
                );
            }
            let spec = body.get("spec").cloned().unwrap_or(json!({}));
            let assign = (spec.get("type").and_then(Value::as_str) == Some("LoadBalancer"))
                .then(|| w.load_balancer.clone())
                .flatten()
                .map(|(v, after)| (Instant::now() + after, v));
            w.service_log
                .push(("POST".into(), ns.to_string(), name.to_string()));
            let labels = body
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            let svc = Svc {
                ingress: Vec::new(),
                spec: spec.clone(),
                labels: labels.clone(),
                assign,
            };
            let out = json!({
                "kind": "Service",
                "apiVersion": "v1",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": spec,
                "status": {"loadBalancer": {}},
            });
            w.services.insert(key, svc);
            answer(201, out)
        }
        (m, ["api", "v1", "namespaces", ns, "services", name]) => {
            let key = (ns.to_string(), name.to_string());
            if let Some(svc) = w.services.get_mut(&key)
                && let Some((at, v)) = svc.assign.clone()
                && Instant::now() >= at
            {
                svc.ingress = vec![v];
                svc.assign = None;
            }
            let json = |svc: &Svc| {
                json!({
                    "kind": "Service",
                    "apiVersion": "v1",
                    "metadata": {"name": name, "namespace": ns, "labels": svc.labels},
                    "spec": svc.spec,
                    "status": {"loadBalancer": {"ingress": svc.ingress}},
                })
            };
            match m {
                "GET" => match w.services.get(&key) {
                    Some(svc) => answer(200, json(svc)),
                    None => not_found("services", name),
                },
                "DELETE" => match w.services.remove(&key) {
                    Some(svc) => {
                        w.service_log
                            .push(("DELETE".into(), ns.to_string(), name.to_string()));
                        answer(200, json(&svc))
                    }
                    None => not_found("services", name),
                },
                _ => status_answer(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        (
            m,
            [
                "apis",
                "apps",
                "v1",
                "namespaces",
                ns,
                "deployments",
                name,
                "scale",
            ],
        ) => {
            let key = (ns.to_string(), name.to_string());
            if !w.deployments.contains_key(&key) {
                return not_found("deployments.apps", name);
            }
            match m {
                "GET" => {}
                "PATCH" | "PUT" => {
                    if m == "PATCH"
                        && let Some(a) = unsupported_patch(req)
                    {
                        return a;
                    }
                    let body = req.json();
                    if m == "PUT"
                        && let Some(given) = body
                            .pointer("/metadata/resourceVersion")
                            .and_then(Value::as_str)
                        && given != w.deployments[&key].rv.to_string()
                    {
                        return status_answer(
                            409,
                            "Conflict",
                            &format!(
                                "Operation cannot be fulfilled on deployments.apps \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                            ),
                        );
                    }
                    if let Some(r) = body.pointer("/spec/replicas").and_then(Value::as_i64) {
                        scale(w, &key, r);
                    }
                }
                _ => return status_answer(405, "MethodNotAllowed", "method not allowed"),
            }
            answer(200, scale_json(ns, name, &w.deployments[&key]))
        }
        (m, ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
            let key = (ns.to_string(), name.to_string());
            match m {
                "GET" => match w.deployments.get(&key) {
                    Some(d) => answer(200, deploy_json(ns, name, d)),
                    None => not_found("deployments.apps", name),
                },
                "DELETE" => match remove_deployment(w, &key) {
                    Some(d) => {
                        let at = now_text();
                        let doomed: Vec<(String, String)> = w
                            .pods
                            .iter()
                            .filter(|((n, _), p)| {
                                n == ns && matches(&d.selector, &p.labels) && p.deleted.is_none()
                            })
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in doomed {
                            let rv = bump(w);
                            let p = w.pods.get_mut(&k).expect("listed");
                            p.deleted = Some((Instant::now(), at.clone()));
                            p.rv = rv;
                        }
                        answer(
                            200,
                            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": {"name": name, "group": "apps", "kind": "deployments", "uid": d.uid}}),
                        )
                    }
                    None => not_found("deployments.apps", name),
                },
                "PATCH" => {
                    if let Some(a) = unsupported_patch(req) {
                        return a;
                    }
                    if !w.deployments.contains_key(&key) {
                        return not_found("deployments.apps", name);
                    }
                    let patch = req.json();
                    if let Some(r) = patch.pointer("/spec/replicas").and_then(Value::as_i64) {
                        scale(w, &key, r);
                    }
                    if let Some(ann) = patch
                        .pointer("/spec/template/metadata/annotations")
                        .and_then(Value::as_object)
                    {
                        let rv = bump(w);
                        let d = w.deployments.get_mut(&key).expect("checked");
                        let mut changed = false;
                        for (k, v) in ann {
                            let v = v.as_str().unwrap_or("").to_string();
                            if d.annotations.get(k) != Some(&v) {
                                d.annotations.insert(k.clone(), v);
                                changed = true;
                            }
                        }
                        if changed {
                            d.generation += 1;
                            d.rv = rv;
                            start_rollout(d);
                        }
                    }
                    answer(200, deploy_json(ns, name, &w.deployments[&key]))
                }
                _ => status_answer(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        _ => status_answer(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}

/// A PATCH in a media type the API server does not take for built-in objects: 415.
fn unsupported_patch(req: &Request) -> Option<Answer> {
    let ct = req.headers.get("content-type").cloned().unwrap_or_default();
    if ct.starts_with("application/strategic-merge-patch+json")
        || ct.starts_with("application/merge-patch+json")
    {
        return None;
    }
    Some(status_answer(
        415,
        "UnsupportedMediaType",
        &format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"
        ),
    ))
}

/// A new rollout (a changed pod template, or more replicas): observed a third of the way
/// through `rollout_for`, complete at its end (see `sweep`).
fn start_rollout(d: &mut Deploy) {
    d.rollout_started = Some(Instant::now());
    d.deadline_exceeded = false;
    d.progress_at = now_text();
}

/// Sets `spec.replicas`: scaling down terminates pods at once; scaling up rolls new ones out.
fn scale(w: &mut World, key: &(String, String), replicas: i64) {
    if w.deployments[key].replicas == replicas {
        return;
    }
    let rv = bump(w);
    let d = w.deployments.get_mut(key).expect("checked");
    d.rv = rv;
    d.generation += 1;
    if replicas > d.replicas {
        start_rollout(d);
    } else if d.rollout_started.is_none() {
        d.observed = d.generation;
    }
    d.replicas = replicas;
    let selector = d.selector.clone();
    let live: Vec<(String, String)> = w
        .pods
        .iter()
        .filter(|((n, _), p)| *n == key.0 && matches(&selector, &p.labels) && p.deleted.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    let extra = live.len().saturating_sub(replicas.max(0) as usize);
    let at = now_text();
    for k in live.into_iter().take(extra) {
        let rv = bump(w);
        let p = w.pods.get_mut(&k).expect("listed");
        p.deleted = Some((Instant::now(), at.clone()));
        p.rv = rv;
    }
}

// ---------------------------------------------------------------------------------------------
// Argo CD

/// An Application as Argo CD's API shows it: `status.sync` (with the revision the branch
/// resolves to), `status.health`, `status.history`, `status.operationState` (with
/// `syncResult.revision`) and `status.resources` (the child Applications of an app-of-apps,
/// those no longer rendered with `requiresPruning`).
fn app_json(name: &str, a: &App, w: &World) -> Value {
    let mut resources = Vec::new();
    let mut children: Vec<&String> = a.creates.iter().chain(&a.prunes).collect();
    children.sort();
    children.dedup();
    for child in children {
        if !w.apps.contains_key(child.as_str()) {
            continue;
        }
        let prune = a.prunes.contains(child);
        let mut r = json!({
            "group": "argoproj.io",
            "version": "v1alpha1",
            "kind": "Application",
            "namespace": "argocd",
            "name": child,
            "status": if prune { "OutOfSync" } else { "Synced" },
            "health": {"status": "Healthy"},
        });
        if prune {
            r["requiresPruning"] = json!(true);
        }
        resources.push(r);
    }
    let mut status = json!({
        "sync": {"status": a.sync, "revision": w.repo_cache},
        "health": {"status": a.health},
        "history": a.history.iter().map(|(id, at, rev)| json!({"id": id, "revision": rev, "deployedAt": at, "deployStartedAt": at})).collect::<Vec<_>>(),
        "resources": resources,
        "reconciledAt": now_text(),
    });
    if let Some(op) = &a.op {
        let mut st = json!({
            "operation": {"sync": {"revision": op.revision, "prune": op.prune}, "initiatedBy": {"username": "admin"}},
            "phase": op.phase,
            "message": op.message,
            "startedAt": op.started_at,
        });
        if let Some(f) = &op.finished_at {
            st["finishedAt"] = json!(f);
            if op.phase == "Succeeded" {
                st["syncResult"] = json!({"revision": op.revision, "resources": []});
            }
        }
        status["operationState"] = st;
    }
    json!({
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": a.project,
            "source": {"repoURL": "https://github.com/lsst-sqre/phalanx.git", "path": format!("applications/{name}"), "targetRevision": "main"},
            "destination": {"namespace": name, "server": "https://kubernetes.default.svc"},
        },
        "status": status,
    })
}

/// Argo CD's answer for an application it will not show: without `?project=` it cannot say
/// whether the application is missing or forbidden, so it says 403 either way (not to leak
/// which applications exist); with `?project=` a missing one (or one in another project) is
/// 404.
fn argocd_hidden(name: &str, project: Option<&String>) -> Answer {
    match project {
        Some(_) => {
            let m = format!("applications.argoproj.io \"{name}\" not found");
            answer(404, json!({"error": m, "code": 5, "message": m}))
        }
        None => answer(
            403,
            json!({"error": "permission denied", "code": 7, "message": "permission denied"}),
        ),
    }
}

fn argocd(w: &mut World, req: &Request, rest: &str) -> Answer {
    let (name, action) = rest.split_once('/').unwrap_or((rest, ""));
    let project = req
        .query
        .get("project")
        .or_else(|| req.query.get("projects"));
    let visible = w
        .apps
        .get(name)
        .is_some_and(|a| project.is_none_or(|p| *p == a.project));
    if !visible {
        return argocd_hidden(name, project);
    }
    match (req.method.as_str(), action) {
        ("GET", "") => {
            // `?refresh=hard` re-resolves the branch (no cache); `normal` keeps the cached
            // resolution (the repo-server's revision cache lasts minutes).
            if req.query.get("refresh").map(String::as_str) == Some("hard") {
                w.repo_cache = w.git_head.clone();
            }
            // A refresh compares again: an application synced at another revision than the
            // branch now resolves to, or with children to prune, is OutOfSync.
            if req.query.contains_key("refresh") {
                let cached = w.repo_cache.clone();
                let a = &w.apps[name];
                let pending_prune = a.prunes.iter().any(|c| w.apps.contains_key(c));
                let stale = a.history.last().is_some_and(|h| h.2 != cached);
                let running = a.op.as_ref().is_some_and(|o| o.phase == "Running");
                if !running && (stale || pending_prune) {
                    w.apps.get_mut(name).expect("visible").sync = "OutOfSync".into();
                }
            }
            answer(200, app_json(name, &w.apps[name], w))
        }
        ("POST", "sync") => {
            let busy = w.busy_status;
            let ends = Instant::now() + w.operation_for;
            let body = req.json();
            let asked = body
                .get("revision")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .map(str::to_string);
            let stuck = w.stuck_revision.contains(name);
            let cached = w.repo_cache.clone();
            let known = asked.as_ref().is_none_or(|r| w.commits.contains(r));
            let a = w.apps.get_mut(name).expect("visible");
            let running_at = a.history.last().map(|h| h.2.clone());
            if a.op.as_ref().is_some_and(|o| o.phase == "Running") {
                let m = "another operation is already in progress";
                return answer(busy, json!({"error": m, "code": 9, "message": m}));
            }
            let prune = body.get("prune").and_then(Value::as_bool) == Some(true);
            let revision = match (&asked, stuck) {
                (_, true) => running_at.unwrap_or(cached),
                (Some(r), false) => r.clone(),
                (None, false) => cached,
            };
            a.op = Some(Op {
                phase: "Running".into(),
                started_at: now_text(),
                finished_at: None,
                message: "waiting for healthy state of apps/Deployment/hub".into(),
                ends,
                foreign: false,
                prune,
                fails: (!known).then(|| {
                    format!(
                        "ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = unable to resolve '{revision}' to a commit SHA"
                    )
                }),
                revision,
            });
            a.health = "Progressing".into();
            answer(200, app_json(name, &w.apps[name], w))
        }
        _ => answer(
            404,
            json!({"error": "Not Found", "code": 5, "message": "Not Found"}),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// mobu

fn mobu(w: &mut World, req: &Request, name: &str) -> Answer {
    let missing = || {
        answer(
            404,
            json!({"detail": [{"loc": ["path", "flock"], "msg": format!("Flock {name} not found"), "type": "not_found"}]}),
        )
    };
    match req.method.as_str() {
        "GET" if w.flocks.contains(name) => answer(
            200,
            json!({"name": name, "config": {"name": name, "count": 1, "business": {"type": "NotebookRunner"}}, "monkeys": []}),
        ),
        "DELETE" if w.flocks.remove(name) => answer(204, Value::Null),
        "GET" | "DELETE" => missing(),
        _ => answer(405, json!({"detail": "Method Not Allowed"})),
    }
}

// ---------------------------------------------------------------------------------------------
// An operator for tests.

/// Answers every confirmation with `answer` and records what it was told.
#[derive(Debug, Default)]
pub struct Recorder {
    pub answer: bool,
    pub questions: Vec<String>,
    pub said: Vec<String>,
    pub progress: Vec<(String, u64, u64, String)>,
}

impl Recorder {
    pub fn yes() -> Recorder {
        Recorder {
            answer: true,
            ..Recorder::default()
        }
    }
}

impl gitops_migrate::runtime::Operator for Recorder {
    fn confirm(&mut self, question: &str) -> bool {
        self.questions.push(question.to_string());
        self.answer
    }

    fn progress(&mut self, step: &str, done: u64, total: u64, message: &str) {
        self.progress
            .push((step.to_string(), done, total, message.to_string()));
    }

    fn say(&mut self, line: &str) {
        self.said.push(line.to_string());
    }
}
