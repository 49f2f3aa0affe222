//! The Kubernetes double as the real `kubectl` sees it: discovery, `/version`, lists with
//! label selectors, namespace deletion with `--wait` (a watch) and a second delete while the
//! namespace terminates, pods per namespace, `rollout restart`, `scale` (the `/scale`
//! subresource), `rollout status` (a list and a watch, the Deployment's conditions), without
//! credentials and with a bearer token (over HTTPS: kubectl sends credentials only over TLS).
//!
//! `kubectl` must be installed (`scripts/test` installs Debian's `kubernetes-client` when it
//! is missing): without it these tests fail, they do not skip. Each run has its own
//! kubeconfig (`KUBECONFIG`) and its own home and discovery cache.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{KUBE_TOKEN, Platform};

/// `kubectl` with a kubeconfig of its own pointing at a double.
struct Kubectl {
    dir: TempDir,
    kubeconfig: PathBuf,
}

/// What one `kubectl` run did.
#[derive(Debug)]
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    /// A kubeconfig whose context `double` points at `p`, with `token` as the user's bearer
    /// token (none: a user without credentials).
    fn new(p: &Platform, token: Option<&str>) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        // kubectl sends a kubeconfig's credentials only over TLS: an HTTPS double names its CA.
        let ca = match &p.ca_pem {
            Some(pem) => {
                let path = dir.path().join("ca.pem");
                std::fs::write(&path, pem).unwrap();
                format!("      certificate-authority: {}\n", path.display())
            }
            None => String::new(),
        };
        let user = match token {
            Some(t) => format!("    user:\n      token: {t}\n"),
            None => "    user: {}\n".to_string(),
        };
        let config = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: double\nclusters:\n  - name: double\n    cluster:\n      server: {}\n{ca}contexts:\n  - name: double\n    context:\n      cluster: double\n      user: operator\nusers:\n  - name: operator\n{user}",
            p.url
        );
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, config).unwrap();
        Kubectl { dir, kubeconfig }
    }

    fn run(&self, args: &[&str]) -> Ran {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &home)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("--request-timeout=30s")
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "kubectl cannot run ({e}): these tests need the real kubectl (scripts/test installs Debian's kubernetes-client)"
                )
            });
        Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and expects success; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.ok, "kubectl {} failed: {r:?}", args.join(" "));
        r.stdout
    }
}

/// A double that asks for no credentials.
fn open_double() -> Platform {
    let p = Platform::start();
    p.require_tokens(false);
    p
}

/// `kubectl rollout status deployment/NAME -n NS`.
fn rollout_status(k: &Kubectl, ns: &str, name: &str) -> Ran {
    let deployment = format!("deployment/{name}");
    k.run(&["rollout", "status", &deployment, "-n", ns, "--timeout=60s"])
}

/// Its standard output, once it succeeded.
fn succeeded(r: Ran) -> String {
    assert!(r.ok, "kubectl failed: {r:?}");
    r.stdout
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn kubectl_discovers_the_double_and_reads_its_version() {
    let p = open_double();
    let k = Kubectl::new(&p, None);
    let v: Value = serde_json::from_str(&k.ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "32");
    let resources = k.ok(&["api-resources", "-o", "name"]);
    for r in [
        "namespaces",
        "pods",
        "services",
        "deployments.apps",
        "leases.coordination.k8s.io",
    ] {
        assert!(lines(&resources).contains(&r), "{r} in {resources}");
    }
    // Short names resolve through discovery.
    assert_eq!(
        k.ok(&["get", "ns", "-o", "name"]),
        "namespace/kube-system\n"
    );
}

#[test]
fn kubectl_lists_namespaces_and_pods_by_selector_and_namespace() {
    let p = open_double();
    p.add_namespace(
        "nublado2-alice",
        &[("argocd.argoproj.io/instance", "nublado2-users")],
    );
    p.add_namespace("nublado-bob", &[("nublado.lsst.io/category", "lab")]);
    p.add_namespace("nublado-carol", &[("nublado.lsst.io/category", "lab")]);
    p.add_namespace("nublado", &[]);
    // v2's and v3's hubs: same pod names in two namespaces.
    for ns in ["nublado2", "nublado"] {
        p.add_namespace(ns, &[]);
        p.add_deployment(ns, "hub", 1, &[("app", "jupyterhub"), ("component", "hub")]);
    }
    p.add_deployment("nublado2", "proxy", 1, &[("component", "proxy")]);
    let k = Kubectl::new(&p, None);
    assert_eq!(
        lines(&k.ok(&[
            "get",
            "ns",
            "-l",
            "nublado.lsst.io/category=lab",
            "-o",
            "name"
        ])),
        ["namespace/nublado-bob", "namespace/nublado-carol"]
    );
    assert_eq!(
        lines(&k.ok(&[
            "get",
            "namespaces",
            "-l",
            "nublado.lsst.io/category notin (lab),!argocd.argoproj.io/instance",
            "-o",
            "name"
        ])),
        [
            "namespace/kube-system",
            "namespace/nublado",
            "namespace/nublado2"
        ]
    );
    // The default (table) output names them too.
    let table = k.ok(&["get", "ns", "-l", "nublado.lsst.io/category=lab"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("nublado-bob") && !table.contains("nublado2-alice"),
        "{table}"
    );
    // Pods per namespace: v2's hub is not v3's.
    assert_eq!(
        lines(&k.ok(&["get", "pods", "-n", "nublado2", "-o", "name"])),
        ["pod/hub-7d9f8c-0", "pod/proxy-7d9f8c-0"]
    );
    assert_eq!(
        lines(&k.ok(&[
            "get",
            "pods",
            "-n",
            "nublado",
            "-l",
            "component=hub",
            "-o",
            "name"
        ])),
        ["pod/hub-7d9f8c-0"]
    );
    let pod: Value = serde_json::from_str(&k.ok(&[
        "get",
        "pod",
        "hub-7d9f8c-0",
        "-n",
        "nublado2",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(pod["metadata"]["namespace"], "nublado2");
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(pod["metadata"][field].is_string(), "{field}: {pod}");
    }
    assert_eq!(
        k.ok(&["get", "pods", "-n", "nublado-bob", "-o", "name"]),
        "",
        "an empty namespace"
    );
}

#[test]
fn kubectl_deletes_a_namespace_waiting_for_it_and_a_second_delete_is_a_conflict() {
    let p = open_double();
    p.terminating_for(Duration::from_millis(1500));
    p.add_namespace("nublado2-alice", &[]);
    p.add_namespace("nublado2-bob", &[]);
    let k = Kubectl::new(&p, None);
    // --wait (the default) watches until the namespace is gone.
    let out = k.ok(&["delete", "ns", "nublado2-alice"]);
    assert_eq!(out, "namespace \"nublado2-alice\" deleted\n");
    assert!(!p.namespace_names().contains(&"nublado2-alice".to_string()));
    assert!(
        p.requests().iter().any(|r| r.path == "/api/v1/namespaces"
            && r.query.get("watch").map(String::as_str) == Some("true")),
        "kubectl waited with a watch"
    );
    // A delete that does not wait, then another while it terminates: 409, as a real API server.
    k.ok(&["delete", "ns", "nublado2-bob", "--wait=false"]);
    assert!(
        p.namespaces()
            .contains(&("nublado2-bob".into(), "Terminating".into()))
    );
    let again = k.run(&["delete", "ns", "nublado2-bob"]);
    assert!(!again.ok, "{again:?}");
    assert!(
        again.stderr.contains("Error from server (Conflict)")
            && again
                .stderr
                .contains("The system is ensuring all content is removed from this namespace"),
        "{again:?}"
    );
    // Not found once gone.
    std::thread::sleep(Duration::from_millis(1600));
    let gone = k.run(&["delete", "ns", "nublado2-bob"]);
    assert!(!gone.ok);
    assert!(
        gone.stderr.contains("Error from server (NotFound)"),
        "{gone:?}"
    );
}

#[test]
fn kubectl_restarts_scales_and_follows_rollouts() {
    let p = open_double();
    p.rollout_for(Duration::from_millis(1500));
    p.add_namespace("mobu", &[]);
    p.add_deployment("mobu", "mobu", 1, &[("app.kubernetes.io/name", "mobu")]);
    let k = Kubectl::new(&p, None);
    assert_eq!(
        k.ok(&["rollout", "restart", "deployment/mobu", "-n", "mobu"]),
        "deployment.apps/mobu restarted\n"
    );
    assert!(
        p.deployment_annotations("mobu", "mobu")
            .contains_key("kubectl.kubernetes.io/restartedAt")
    );
    assert_eq!(p.deployment_generation("mobu", "mobu"), Some(2));
    let status = succeeded(rollout_status(&k, "mobu", "mobu"));
    assert!(
        status.starts_with("Waiting for deployment spec update to be observed...\n")
            && status.contains(
                "Waiting for deployment \"mobu\" rollout to finish: 0 out of 1 new replicas have been updated...\n"
            ),
        "it waited, following the double's status: {status}"
    );
    assert!(
        status.ends_with("deployment \"mobu\" successfully rolled out\n"),
        "{status}"
    );
    assert_eq!(
        k.ok(&["scale", "deployment/mobu", "-n", "mobu", "--replicas=3"]),
        "deployment.apps/mobu scaled\n"
    );
    assert_eq!(p.deployment_replicas("mobu", "mobu"), Some(3));
    assert!(
        p.count(
            "PATCH",
            "/apis/apps/v1/namespaces/mobu/deployments/mobu/scale"
        ) + p.count(
            "PUT",
            "/apis/apps/v1/namespaces/mobu/deployments/mobu/scale"
        ) >= 1,
        "scaled through the /scale subresource: {:?}",
        p.mutations()
    );
    let status = succeeded(rollout_status(&k, "mobu", "mobu"));
    assert!(status.ends_with("successfully rolled out\n"), "{status}");
    assert_eq!(
        lines(&k.ok(&["get", "pods", "-n", "mobu", "-o", "name"])).len(),
        3,
        "three pods after the rollout"
    );
    // Scaling to 0 terminates every pod.
    k.ok(&["scale", "deployment/mobu", "-n", "mobu", "--replicas=0"]);
    let status = succeeded(rollout_status(&k, "mobu", "mobu"));
    assert!(status.ends_with("successfully rolled out\n"), "{status}");
}

#[test]
fn kubectl_rollout_status_fails_on_a_progress_deadline() {
    let p = open_double();
    p.rollout_for(Duration::from_millis(600));
    p.add_namespace("nublado", &[]);
    p.add_deployment("nublado", "hub", 1, &[("component", "hub")]);
    p.break_rollouts("nublado", "hub");
    let k = Kubectl::new(&p, None);
    k.ok(&["rollout", "restart", "deployment/hub", "-n", "nublado"]);
    let r = rollout_status(&k, "nublado", "hub");
    assert!(!r.ok, "{r:?}");
    assert!(
        r.stderr
            .contains("deployment \"hub\" exceeded its progress deadline"),
        "{r:?}"
    );
    let d: Value =
        serde_json::from_str(&k.ok(&["get", "deployment", "hub", "-n", "nublado", "-o", "json"]))
            .unwrap();
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(progressing["status"], "False");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
}

#[test]
fn kubectl_needs_the_bearer_token_the_double_requires() {
    let p = Platform::start_tls();
    p.add_namespace("nublado", &[]);
    let with = Kubectl::new(&p, Some(KUBE_TOKEN));
    assert_eq!(
        lines(&with.ok(&["get", "ns", "-o", "name"])),
        ["namespace/kube-system", "namespace/nublado"]
    );
    assert!(
        p.requests()
            .iter()
            .filter(|r| r.path.starts_with("/api"))
            .all(|r| r.headers.get("authorization").map(String::as_str)
                == Some(&*format!("Bearer {KUBE_TOKEN}"))),
        "every API request carried the token"
    );
    // No credentials (over plain HTTP: over TLS kubectl asks for a user name first): 401.
    let plain = Platform::start();
    let without = Kubectl::new(&plain, None);
    let r = without.run(&["get", "ns", "-o", "name"]);
    assert!(!r.ok, "{r:?}");
    assert!(
        r.stderr
            .contains("error: You must be logged in to the server"),
        "{r:?}"
    );
    assert!(
        plain
            .requests()
            .iter()
            .all(|r| !r.headers.contains_key("authorization")),
        "asked without a token"
    );
    // A wrong token: 401, and nothing changes.
    let wrong = Kubectl::new(&p, Some("not-the-token"));
    let r = wrong.run(&["delete", "ns", "nublado"]);
    assert!(!r.ok, "{r:?}");
    assert!(
        r.stderr
            .contains("error: You must be logged in to the server"),
        "{r:?}"
    );
    assert!(
        p.namespaces()
            .contains(&("nublado".into(), "Active".into()))
    );
    assert!(!r.stderr.contains(KUBE_TOKEN));
}

/// Resources the double cannot watch are refused as the API server refuses a verb: 405.
#[test]
fn a_watch_on_what_cannot_be_watched_is_refused() {
    let p = open_double();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .get(format!(
            "{}/api/v1/namespaces/nublado/services?watch=true",
            p.url
        ))
        .call()
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = agent
        .get(format!(
            "{}/api/v1/namespaces?watch=true&fieldSelector=spec.nope%3Dx",
            p.url
        ))
        .call()
        .unwrap();
    assert_eq!(r.status(), 400);
}
