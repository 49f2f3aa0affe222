//! The window's cluster steps against the doubles of `support` (a Kubernetes API, Argo CD,
//! mobu and hub health endpoints on a real 127.0.0.1 socket): each step's preview (read calls
//! only; snapshots of what it touches and the equivalent commands), its run, the faults it
//! must survive or refuse, and idempotence. The clients are the real ones.

use crate::support;
use gitops_migrate::retry::RetryPolicy;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_migrate::playbook::Step;
use gitops_migrate::runtime::clients::{
    ArgoCdClient, HealthClient, KubeApi, KubeClient, KubeConfig, MobuClient,
};
use gitops_migrate::runtime::steps::{Revision, StepEnv, Timing, build};
use gitops_migrate::runtime::{Action, Preview, StepError, StepRunner};
use support::{ARGOCD_TOKEN, INITIAL_COMMIT, KUBE_TOKEN, MOBU_TOKEN, Platform, Recorder};

const FQDN: &str = "data-dev.lsst.cloud";
const LAB: (&str, &str) = ("nublado.lsst.io/category", "lab");
const INSTANCE: (&str, &str) = ("argocd.argoproj.io/instance", "nublado-users");

macro_rules! snap {
    ($name:expr, $value:expr) => {
        crate::common::snapshot(&format!("cluster_steps__{}", $name), $value)
    };
}

fn timing() -> Timing {
    Timing {
        poll: Duration::from_millis(20),
        concurrency: 16,
        retry: RetryPolicy {
            first: Duration::from_millis(10),
            max_pause: Duration::from_millis(40),
            budget: Duration::from_millis(300),
            jitter: true,
            tries: None,
        },
        namespaces: Duration::from_secs(20),
        deployment: Duration::from_secs(10),
        sync: Duration::from_secs(10),
        settle: Duration::from_millis(100),
        route: Duration::from_secs(5),
        dns: Duration::from_secs(5),
    }
}

fn env_with(p: &Platform, timing: Timing) -> StepEnv {
    StepEnv {
        name: "idfdev".into(),
        fqdn: FQDN.into(),
        mobu_flocks: vec!["firefighter".into(), "tap".into()],
        kube: Some(Arc::new(KubeClient::with_token(
            &p.url,
            Some(KUBE_TOKEN.into()),
        ))),
        argocd: Some(Arc::new(ArgoCdClient::new(
            &p.argocd_url(),
            ARGOCD_TOKEN.into(),
        ))),
        mobu: Some(Arc::new(MobuClient::new(&p.mobu_url(), MOBU_TOKEN.into()))),
        health: Some(Arc::new(HealthClient::new(&p.url))),
        // The window proved the branch's commit merged: syncs are pinned to it.
        revision: Some(Revision {
            commit: INITIAL_COMMIT.into(),
            source: "origin/main".into(),
        }),
        timing,
        ..StepEnv::default()
    }
}

fn env(p: &Platform) -> StepEnv {
    env_with(p, timing())
}

/// The planned step of that id, as the nublado stages write it.
fn planned(id: &str) -> Step {
    match id {
        "stop-mobu-flocks" => Step::new(
            id,
            "stop mobu's autostart flocks so the outage raises no alarms",
        )
        .destructive(),
        "restore-mobu" => Step::new(
            id,
            "restart mobu's Deployment so it reads its flocks again, and wait until it is ready",
        ),
        "sync-app:science-platform" => Step::new(
            id,
            "sync `science-platform`: with prune: deletes the nublado2, cachemachine and moneypenny applications",
        )
        .pruning([
            "Application/nublado2",
            "Application/cachemachine",
            "Application/moneypenny",
        ]),
        _ if id.starts_with("delete-hub-deployment:") => {
            let ns = id.split_once(':').unwrap().1;
            Step::new(
                id,
                format!("disable logins: delete Deployment `hub` in namespace `{ns}`"),
            )
            .destructive()
        }
        "delete-lab-namespaces:nublado2" => Step::new(
            id,
            "delete the v2 lab namespaces `nublado2-<user>` (exact prefix)",
        )
        .destructive(),
        "delete-lab-namespaces:nublado" => Step::new(
            id,
            "delete the v3 lab namespaces `nublado-<user>` labelled `nublado.lsst.io/category=lab`",
        )
        .destructive(),
        _ if id.starts_with("sync-app:") => {
            let app = id.split_once(':').unwrap().1;
            Step::new(id, format!("sync `{app}`: starts it"))
        }
        _ if id.starts_with("check-route:") => {
            let route = id.split_once(':').unwrap().1;
            Step::new(
                id,
                format!("check that the hub answers on {route}/hub/health"),
            )
        }
        _ => Step::new(id, id),
    }
}

fn runner(p: &Platform, id: &str) -> Box<dyn StepRunner> {
    build(&planned(id), &env(p)).unwrap_or_else(|e| panic!("build {id}: {e}"))
}

/// A preview, checking that it made read calls only.
fn preview(p: &Platform, r: &dyn StepRunner, op: &mut Recorder) -> Preview {
    p.clear_requests();
    let pv = r
        .preview(op)
        .unwrap_or_else(|e| panic!("preview of {}: {e}", r.id()));
    assert_eq!(
        p.mutations(),
        Vec::<String>::new(),
        "the preview of {} made only read calls",
        r.id()
    );
    pv
}

fn run(r: &dyn StepRunner, pv: &Preview, op: &mut Recorder) -> gitops_migrate::runtime::Outcome {
    r.run(pv, op)
        .unwrap_or_else(|e| panic!("run of {}: {e}", r.id()))
}

/// The preview as an operator reads it, with the double's address replaced by the
/// environment's.
fn show(p: &Platform, r: &dyn StepRunner, pv: &Preview, op: &Recorder) -> String {
    let mut out = format!("step: {}\ntitle: {}\n", r.id(), r.title());
    out.push_str(&format!(
        "destructive: {}, mutates: {}\n",
        r.destructive(),
        r.mutates()
    ));
    match &pv.action {
        Action::Run { touches } => {
            out.push_str(&format!("would run; touches {}:\n", touches.len()));
            for t in touches {
                out.push_str(&format!("  {t}\n"));
            }
        }
        Action::Skip { reason } => out.push_str(&format!("skip: {reason}\n")),
    }
    out.push_str("commands:\n");
    for c in &pv.commands {
        out.push_str(&format!("  {c}\n"));
    }
    if !op.said.is_empty() {
        out.push_str("said:\n");
        for s in &op.said {
            out.push_str(&format!("  {s}\n"));
        }
    }
    out.replace(&p.url, &format!("https://{FQDN}"))
}

fn touches(pv: &Preview) -> Vec<String> {
    match &pv.action {
        Action::Run { touches } => touches.clone(),
        Action::Skip { .. } => Vec::new(),
    }
}

fn is_skip(pv: &Preview) -> bool {
    matches!(pv.action, Action::Skip { .. })
}

fn lab_cluster(p: &Platform) {
    // v2 labs: no labels.
    for u in ["alice", "bob", "carol"] {
        p.add_namespace(&format!("nublado2-{u}"), &[]);
    }
    // v3 labs: labelled.
    for u in ["dave", "erin"] {
        p.add_namespace(&format!("nublado-{u}"), &[LAB, INSTANCE]);
    }
    // The platform's own namespaces, some of them (wrongly) carrying the lab label.
    p.add_namespace("nublado2", &[]);
    p.add_namespace("nublado", &[LAB]);
    p.add_namespace("nublado-users", &[LAB, INSTANCE]);
    p.add_namespace("fileservers", &[LAB]);
    p.add_namespace("kube-system", &[LAB]);
    p.add_namespace("mobu", &[]);
    // Substring matches the seed's `grep nublado2-` would catch.
    p.add_namespace("my-nublado2-scratch", &[]);
    // Named like a v3 lab but not labelled as one.
    p.add_namespace("nublado-frank", &[]);
}

const PROTECTED: [&str; 5] = [
    "nublado-users",
    "nublado",
    "nublado2",
    "fileservers",
    "kube-system",
];

// ---------------------------------------------------------------------------------------------
// stop-mobu-flocks / restore-mobu

#[test]
fn stop_mobu_flocks_previews_running_flocks_and_stops_them_idempotently() {
    let p = Platform::start();
    p.add_flock("firefighter");
    p.add_flock("tap");
    p.add_flock("weekly"); // not an autostart flock of this environment: left alone
    let r = runner(&p, "stop-mobu-flocks");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!("stop_mobu_flocks_preview", show(&p, r.as_ref(), &pv, &op));
    let out = run(r.as_ref(), &pv, &mut op);
    assert_eq!(out.touched, vec!["flock/firefighter", "flock/tap"]);
    assert_eq!(out.summary, "stopped firefighter and tap");
    assert_eq!(p.flocks(), vec!["weekly"]);
    // Twice: nothing running, nothing to do, and a run anyway succeeds (404 = stopped).
    let pv = preview(&p, r.as_ref(), &mut op);
    assert_eq!(
        pv.action,
        Action::Skip {
            reason: "no autostart flock is running (firefighter and tap already stopped)".into()
        }
    );
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(out.touched.is_empty());
    assert_eq!(out.summary, "no flock was running");
}

#[test]
fn a_flock_already_stopped_is_done() {
    let p = Platform::start();
    p.add_flock("tap");
    let r = runner(&p, "stop-mobu-flocks");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    assert_eq!(touches(&pv), vec!["flock/tap"]);
    let out = run(r.as_ref(), &pv, &mut op);
    assert_eq!(out.touched, vec!["flock/tap"]);
    assert_eq!(out.summary, "stopped tap; firefighter was not running");
    assert_eq!(p.count("DELETE", "/mobu/flocks/firefighter"), 1);
}

#[test]
fn a_mobu_redirect_is_a_fatal_bad_token_and_is_not_followed() {
    let p = Platform::start();
    p.add_flock("firefighter");
    p.mobu_redirects(true);
    let r = runner(&p, "stop-mobu-flocks");
    let mut op = Recorder::yes();
    let e = r.preview(&mut op).expect_err("the preview fails");
    assert!(!e.retryable, "{e}");
    let pv = Preview {
        action: Action::Run {
            touches: vec!["flock/firefighter".into()],
        },
        commands: Vec::new(),
    };
    let e = r.run(&pv, &mut op).expect_err("the run fails");
    assert!(!e.retryable, "a bad token is not retried: {e}");
    let msg = e.message.replace(&p.url, "https://data-dev.lsst.cloud");
    snap!("mobu_redirect_error", msg);
    assert_eq!(p.flocks(), vec!["firefighter"], "nothing was stopped");
    // The login page was never requested: the redirect was not followed.
    assert!(p.requests().iter().all(|r| !r.path.starts_with("/login")));
    assert_eq!(
        p.count("DELETE", "/mobu/flocks/firefighter"),
        1,
        "tried once"
    );
}

#[test]
fn a_wrong_mobu_token_is_reported_without_the_token() {
    let p = Platform::start();
    p.add_flock("firefighter");
    let mut e = env(&p);
    e.mobu = Some(Arc::new(MobuClient::new(
        &p.mobu_url(),
        "expired-token-DoNotPrint".into(),
    )));
    let r = build(&planned("stop-mobu-flocks"), &e).unwrap();
    let err = r.preview(&mut Recorder::yes()).err().unwrap();
    assert!(
        err.message
            .contains("the mobu token is missing, expired or lacks the `exec:admin` scope"),
        "{err}"
    );
    assert!(!err.message.contains("DoNotPrint"), "{err}");
}

#[test]
fn restore_mobu_restarts_the_deployment_and_waits_until_ready() {
    let p = Platform::start();
    p.add_deployment("mobu", "mobu", 1, &[("app.kubernetes.io/name", "mobu")]);
    p.rollout_for(Duration::from_millis(300));
    let r = runner(&p, "restore-mobu");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!("restore_mobu_preview", show(&p, r.as_ref(), &pv, &op));
    let started = Instant::now();
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited for the rollout"
    );
    assert_eq!(out.touched, vec!["deployment/mobu/mobu"]);
    assert!(
        out.summary
            .starts_with("restarted Deployment `mobu`; ready (1/1): mobu-2f0"),
        "{}",
        out.summary
    );
    let ann = p.deployment_annotations("mobu", "mobu");
    assert!(
        ann.contains_key("kubectl.kubernetes.io/restartedAt"),
        "{ann:?}"
    );
    assert_eq!(p.deployment_generation("mobu", "mobu"), Some(2));
    assert!(
        op.progress
            .iter()
            .any(|(_, done, total, m)| done < total || m.contains("observed 1")),
        "progress showed the rollout: {:?}",
        op.progress
    );
    // Again, by a fresh runner (a rerun): another restart, ready again.
    std::thread::sleep(Duration::from_millis(1100)); // restartedAt has whole seconds
    let r = runner(&p, "restore-mobu");
    run(r.as_ref(), &pv, &mut op);
    assert_eq!(p.deployment_generation("mobu", "mobu"), Some(3));
}

#[test]
fn restore_mobu_skips_where_mobu_does_not_run() {
    let p = Platform::start();
    let r = runner(&p, "restore-mobu");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    assert_eq!(
        pv.action,
        Action::Skip {
            reason: "no Deployment `mobu` in namespace `mobu`: mobu does not run here".into()
        }
    );
}

#[test]
fn restore_mobu_fails_at_once_when_the_rollout_exceeds_its_progress_deadline() {
    // A broken image: the new pod never becomes available, and the Deployment controller
    // gives up (`Progressing` False, `ProgressDeadlineExceeded`). Waiting out the step's
    // deadline cannot help: the step fails as soon as the condition shows, with its reason.
    let p = Platform::start();
    p.add_deployment("mobu", "mobu", 1, &[("app.kubernetes.io/name", "mobu")]);
    p.break_rollouts("mobu", "mobu");
    p.rollout_for(Duration::from_millis(300));
    let mut t = timing();
    t.deployment = Duration::from_secs(600);
    let r = build(&planned("restore-mobu"), &env_with(&p, t)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let started = Instant::now();
    let e = r.run(&pv, &mut op).err().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "failed at once, not at the deadline"
    );
    assert!(!e.retryable, "{e}");
    assert_eq!(
        e.message,
        "the rollout of Deployment `mobu` in namespace `mobu` failed: ReplicaSet \"mobu-2f\" has timed out progressing. (condition Progressing: ProgressDeadlineExceeded; last seen 1/1 available, 0 updated, 2 total, generation 2 observed 2)"
    );
    // It was restarted (one PATCH), and only polled after.
    assert_eq!(
        p.mutations(),
        ["PATCH /apis/apps/v1/namespaces/mobu/deployments/mobu"]
    );
}

#[test]
fn restore_mobu_times_out_naming_the_rollout_state() {
    let p = Platform::start();
    p.add_deployment("mobu", "mobu", 2, &[("app.kubernetes.io/name", "mobu")]);
    p.rollout_for(Duration::from_secs(60));
    let mut t = timing();
    t.deployment = Duration::from_millis(300);
    let r = build(&planned("restore-mobu"), &env_with(&p, t)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let e = r.run(&pv, &mut op).err().unwrap();
    assert!(!e.retryable);
    assert!(
        e.message
            .starts_with("Deployment `mobu` in namespace `mobu` was not ready after")
            && e.message
                .ends_with("last seen 2/2 available, 1 updated, 3 total, generation 2 observed 1"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// delete-hub-deployment

#[test]
fn delete_hub_deployment_deletes_it_waits_for_its_pods_and_is_idempotent() {
    let p = Platform::start();
    p.add_deployment(
        "nublado2",
        "hub",
        1,
        &[("app", "jupyterhub"), ("component", "hub")],
    );
    p.add_deployment(
        "nublado2",
        "proxy",
        1,
        &[("app", "jupyterhub"), ("component", "proxy")],
    );
    p.terminating_for(Duration::from_millis(200));
    let r = runner(&p, "delete-hub-deployment:nublado2");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!(
        "delete_hub_deployment_preview",
        show(&p, r.as_ref(), &pv, &op)
    );
    let out = run(r.as_ref(), &pv, &mut op);
    assert_eq!(out.touched, vec!["deployment/nublado2/hub"]);
    assert!(!p.has_deployment("nublado2", "hub"));
    assert!(p.has_deployment("nublado2", "proxy"), "only the hub");
    assert_eq!(
        p.pod_names("nublado2"),
        vec!["proxy-7d9f8c-0"],
        "the hub's pods are gone"
    );
    // Twice.
    let pv = preview(&p, r.as_ref(), &mut op);
    assert!(is_skip(&pv));
    snap!(
        "delete_hub_deployment_preview_done",
        show(&p, r.as_ref(), &pv, &Recorder::yes())
    );
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(out.touched.is_empty());
    assert!(
        out.summary.starts_with(
            "Deployment `hub` in namespace `nublado2` was already gone; no hub pod left after"
        ),
        "{}",
        out.summary
    );
}

#[test]
fn a_deleted_hub_whose_pods_still_terminate_is_not_done() {
    // v2's and v3's hubs: same pod names, two namespaces.
    let p = Platform::start();
    for ns in ["nublado2", "nublado"] {
        p.add_deployment(ns, "hub", 1, &[("app", "jupyterhub"), ("component", "hub")]);
    }
    p.terminating_for(Duration::from_millis(600));
    // An earlier run deleted v2's Deployment and was interrupted while its pod terminated.
    KubeClient::with_token(&p.url, Some(KUBE_TOKEN.into()))
        .delete_deployment("nublado2", "hub")
        .unwrap();
    assert_eq!(p.pod_names("nublado2"), ["hub-7d9f8c-0"]);
    assert_eq!(p.pod_names("nublado"), ["hub-7d9f8c-0"]);
    let r = runner(&p, "delete-hub-deployment:nublado2");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    assert_eq!(
        touches(&pv),
        ["pod/nublado2/hub-7d9f8c-0 (hub, terminating)"],
        "not done: its pod is still there"
    );
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(
        out.summary.contains("no hub pod left after"),
        "{}",
        out.summary
    );
    assert!(p.pod_names("nublado2").is_empty());
    // The pods were polled until gone, in v2's namespace only; v3's hub is untouched.
    let polls = p
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/namespaces/nublado2/pods")
        .count();
    assert!(polls >= 2, "waited: {polls} polls");
    assert_eq!(p.pod_names("nublado"), ["hub-7d9f8c-0"]);
    assert!(p.has_deployment("nublado", "hub"));
    assert_eq!(
        p.mutations(),
        ["DELETE /apis/apps/v1/namespaces/nublado2/deployments/hub"],
        "only the idempotent delete of what is already gone (404)"
    );
}

#[test]
fn a_404_on_the_hub_delete_is_already_done() {
    let p = Platform::start();
    p.add_deployment(
        "nublado",
        "hub",
        1,
        &[("app", "jupyterhub"), ("component", "hub")],
    );
    let r = runner(&p, "delete-hub-deployment:nublado");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    assert_eq!(touches(&pv), vec!["deployment/nublado/hub"]);
    // Someone deletes it between the preview and the run; the step's delete answers 404.
    KubeClient::with_token(&p.url, Some(KUBE_TOKEN.into()))
        .delete_deployment("nublado", "hub")
        .unwrap();
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(out.touched.is_empty(), "{out:?}");
    assert!(out.summary.contains("was already gone"));
    assert_eq!(
        p.count("DELETE", "/apis/apps/v1/namespaces/nublado/deployments/hub"),
        2
    );
    assert!(
        p.pod_names("nublado").is_empty(),
        "waited for the hub's pods all the same"
    );
}

// ---------------------------------------------------------------------------------------------
// delete-lab-namespaces

#[test]
fn v2_lab_namespaces_by_exact_prefix() {
    let p = Platform::start();
    lab_cluster(&p);
    p.add_terminating_namespace("nublado2-zed", &[]);
    p.terminating_for(Duration::from_millis(150));
    let r = runner(&p, "delete-lab-namespaces:nublado2");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!(
        "delete_lab_namespaces_nublado2_preview",
        show(&p, r.as_ref(), &pv, &op)
    );
    let out = run(r.as_ref(), &pv, &mut op);
    assert_eq!(
        out.touched,
        vec![
            "namespace/nublado2-alice",
            "namespace/nublado2-bob",
            "namespace/nublado2-carol"
        ]
    );
    assert!(out.summary.starts_with("deleted 3 lab namespaces matching `nublado2-<user>` (exact prefix) (1 already gone or terminating: nublado2-zed); all gone after"), "{}", out.summary);
    assert_eq!(
        p.count("DELETE", "/api/v1/namespaces/nublado2-zed"),
        0,
        "a terminating namespace is not deleted again"
    );
    let left = p.namespace_names();
    for name in PROTECTED.iter().chain(&[
        "mobu",
        "my-nublado2-scratch",
        "nublado-dave",
        "nublado-frank",
    ]) {
        assert!(
            left.contains(&name.to_string()),
            "{name} is still there: {left:?}"
        );
    }
    assert!(left.iter().all(|n| !n.starts_with("nublado2-")), "{left:?}");
    assert!(
        op.progress
            .iter()
            .any(|(s, done, total, _)| s == "delete-lab-namespaces:nublado2"
                && done == total
                && *total == 4),
        "{:?}",
        op.progress
    );
    // Twice: nothing left to do.
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    assert_eq!(
        pv.action,
        Action::Skip {
            reason: "no namespace matches `nublado2-<user>` (exact prefix)".into()
        }
    );
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(out.touched.is_empty());
}

#[test]
fn v3_lab_namespaces_by_prefix_and_label_never_the_protected_ones() {
    let p = Platform::start();
    lab_cluster(&p);
    let r = runner(&p, "delete-lab-namespaces:nublado");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!(
        "delete_lab_namespaces_nublado_preview",
        show(&p, r.as_ref(), &pv, &op)
    );
    let listed = p
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/namespaces")
        .expect("a listing");
    assert_eq!(
        listed.query.get("labelSelector").map(String::as_str),
        Some("nublado.lsst.io/category=lab"),
        "selected by label on the server"
    );
    let out = run(r.as_ref(), &pv, &mut op);
    assert_eq!(
        out.touched,
        vec!["namespace/nublado-dave", "namespace/nublado-erin"]
    );
    let left = p.namespace_names();
    for name in PROTECTED.iter().chain(&["nublado-frank", "nublado2-alice"]) {
        assert!(
            left.contains(&name.to_string()),
            "{name} is still there: {left:?}"
        );
    }
    let deletes: Vec<String> = p.mutations();
    assert!(
        deletes
            .iter()
            .all(|d| d == "DELETE /api/v1/namespaces/nublado-dave"
                || d == "DELETE /api/v1/namespaces/nublado-erin"),
        "{deletes:?}"
    );
}

#[test]
fn protected_namespaces_are_refused_even_when_the_list_to_delete_names_them() {
    let p = Platform::start();
    lab_cluster(&p);
    for (id, victim) in [
        ("delete-lab-namespaces:nublado", "nublado-users"),
        ("delete-lab-namespaces:nublado", "nublado"),
        ("delete-lab-namespaces:nublado", "kube-system"),
        ("delete-lab-namespaces:nublado", "fileservers"),
        ("delete-lab-namespaces:nublado", "nublado-frank"),
        ("delete-lab-namespaces:nublado2", "nublado2"),
        ("delete-lab-namespaces:nublado2", "my-nublado2-scratch"),
        ("delete-lab-namespaces:nublado2", "nublado-users"),
    ] {
        let r = runner(&p, id);
        // A list that names a protected namespace (a tampered or stale preview).
        let pv = Preview {
            action: Action::Run {
                touches: vec![
                    if id.ends_with("nublado2") {
                        "namespace/nublado2-alice".into()
                    } else {
                        "namespace/nublado-dave".into()
                    },
                    format!("namespace/{victim}"),
                ],
            },
            commands: Vec::new(),
        };
        p.clear_requests();
        let e: StepError = r
            .run(&pv, &mut Recorder::yes())
            .err()
            .unwrap_or_else(|| panic!("{id} refuses {victim}"));
        assert!(!e.retryable);
        assert!(
            e.message
                .starts_with("refusing to delete anything: the list to delete names"),
            "{e}"
        );
        assert!(e.message.contains(&format!("`{victim}`")), "{e}");
        assert_eq!(p.mutations(), Vec::<String>::new(), "{id}: nothing deleted");
    }
    let e = runner(&p, "delete-lab-namespaces:nublado")
        .run(
            &Preview {
                action: Action::Run {
                    touches: vec!["namespace/nublado-users".into()],
                },
                commands: Vec::new(),
            },
            &mut Recorder::yes(),
        )
        .err()
        .unwrap();
    snap!("protected_namespace_refusal", e.message);
    assert_eq!(
        p.namespace_names().len(),
        13,
        "every namespace is still there"
    );
}

#[test]
fn a_500_on_one_namespace_delete_is_retried() {
    let p = Platform::start();
    lab_cluster(&p);
    p.fail("DELETE", "/api/v1/namespaces/nublado2-bob", 500, 1);
    p.fail("DELETE", "/api/v1/namespaces/nublado2-carol", 409, 1);
    let r = runner(&p, "delete-lab-namespaces:nublado2");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let out = run(r.as_ref(), &pv, &mut op);
    assert_eq!(out.touched.len(), 3);
    assert_eq!(
        p.count("DELETE", "/api/v1/namespaces/nublado2-bob"),
        2,
        "retried once"
    );
    assert_eq!(
        p.count("DELETE", "/api/v1/namespaces/nublado2-carol"),
        2,
        "retried once"
    );
    assert_eq!(p.count("DELETE", "/api/v1/namespaces/nublado2-alice"), 1);
    assert!(
        p.namespace_names()
            .iter()
            .all(|n| !n.starts_with("nublado2-"))
    );
}

#[test]
fn a_namespace_that_keeps_failing_fails_the_step_naming_it_once_its_retries_are_spent() {
    let p = Platform::start();
    lab_cluster(&p);
    p.fail("DELETE", "/api/v1/namespaces/nublado2-bob", 500, 1000);
    let r = runner(&p, "delete-lab-namespaces:nublado2");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let e = r.run(&pv, &mut op).err().unwrap();
    // The call was retried for its whole budget: the engine does not retry it again (no
    // nested retries).
    assert!(!e.retryable, "{e}");
    assert!(e.message.starts_with("1 of 3 namespaces could not be deleted (2 deleted); first failure: namespace `nublado2-bob`: the Kubernetes API at"), "{e}");
    assert!(e.message.contains(" (tried "), "{e}");
    assert!(p.count("DELETE", "/api/v1/namespaces/nublado2-bob") > 3);
}

#[test]
fn a_fault_that_wears_off_within_the_budget_is_retried_in_the_same_run() {
    let p = Platform::start();
    lab_cluster(&p);
    p.fail("DELETE", "/api/v1/namespaces/nublado2-bob", 500, 3);
    let r = runner(&p, "delete-lab-namespaces:nublado2");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let out = r.run(&pv, &mut op).unwrap();
    assert_eq!(p.count("DELETE", "/api/v1/namespaces/nublado2-bob"), 4);
    assert_eq!(out.touched.len(), 3, "{out:?}");
    assert!(
        p.namespace_names()
            .iter()
            .all(|n| !n.starts_with("nublado2-"))
    );
}

/// The case, scaled by 1/20: the API answers 503 for 3 s (60 s in a real window)
/// in the middle of the wait for the namespaces to go, longer than the per-call retry budget
/// (300 ms here, 5 min by default); the wait's listing is retried until the wait's own
/// deadline (20 s here, 15 min by default), so the step succeeds.
#[test]
fn the_api_away_mid_wait_does_not_fail_delete_lab_namespaces() {
    let p = Platform::start();
    lab_cluster(&p);
    p.terminating_for(Duration::from_millis(500));
    let t = timing();
    let outage = Duration::from_secs(3);
    assert!(t.retry.budget < outage && outage < t.namespaces);
    let r = build(&planned("delete-lab-namespaces:nublado2"), &env_with(&p, t)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    // Once the three deletes are in, the control plane goes away for the wait's listings (a
    // delete still in flight on a loaded machine is not what this test is about).
    let (out, started) = std::thread::scope(|s| {
        s.spawn(|| {
            let t0 = Instant::now();
            while p.mutations().len() < 3 && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(2));
            }
            p.outage(Some("GET"), "/api/v1/namespaces", 503, outage, None);
        });
        let started = Instant::now();
        (r.run(&pv, &mut op), started)
    });
    let out = out.unwrap_or_else(|e| panic!("the step survives the outage: {e}"));
    assert!(started.elapsed() >= outage, "the outage was waited out");
    assert_eq!(out.touched.len(), 3);
    let lists = p
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/namespaces")
        .count();
    assert!(
        lists > 5,
        "the listing was retried through the outage ({lists} lists)"
    );
    assert!(
        p.namespace_names()
            .iter()
            .all(|n| !n.starts_with("nublado2-"))
    );
}

/// The case at full length: the API answers 503 for a whole minute in the middle of
/// the wait for the namespaces to go. The per-call budget (5 s here) is far shorter than the
/// outage; the wait's own deadline (3 min) carries the listing through it.
#[test]
fn the_api_away_for_a_full_minute_mid_wait_does_not_fail_delete_lab_namespaces() {
    let p = Platform::start();
    lab_cluster(&p);
    p.terminating_for(Duration::from_millis(500));
    let mut t = timing();
    t.poll = Duration::from_millis(500);
    t.namespaces = Duration::from_secs(180);
    t.retry = RetryPolicy {
        first: Duration::from_millis(250),
        max_pause: Duration::from_secs(4),
        budget: Duration::from_secs(5),
        jitter: true,
        tries: None,
    };
    let outage = Duration::from_secs(60);
    let r = build(&planned("delete-lab-namespaces:nublado2"), &env_with(&p, t)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let outage_start = std::sync::Mutex::new(None);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            let t0 = Instant::now();
            while p.mutations().len() < 3 && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(2));
            }
            p.outage(Some("GET"), "/api/v1/namespaces", 503, outage, None);
            *outage_start.lock().unwrap() = Some(Instant::now());
        });
        r.run(&pv, &mut op)
    });
    let out = out.unwrap_or_else(|e| panic!("the step survives a minute of 503: {e}"));
    let began = outage_start
        .into_inner()
        .unwrap()
        .expect("the outage began");
    assert!(
        began.elapsed() >= outage,
        "the step ended after the outage ({:?} after it began)",
        began.elapsed()
    );
    assert_eq!(out.touched.len(), 3);
    let lists = p
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/namespaces")
        .count();
    assert!(lists > 10, "listed through the outage ({lists} lists)");
    assert!(
        p.namespace_names()
            .iter()
            .all(|n| !n.starts_with("nublado2-"))
    );
}

#[test]
fn a_429_with_retry_after_is_honoured() {
    let p = Platform::start();
    lab_cluster(&p);
    let mut t = timing();
    t.retry.budget = Duration::from_secs(10);
    let r = build(&planned("delete-lab-namespaces:nublado2"), &env_with(&p, t)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let bob = "/api/v1/namespaces/nublado2-bob";
    p.outage(
        Some("DELETE"),
        bob,
        429,
        Duration::from_millis(200),
        Some(2),
    );
    r.run(&pv, &mut op).unwrap();
    let at = p.arrivals("DELETE", bob);
    assert_eq!(at.len(), 2, "one throttled call, one after the pause");
    let gap = at[1] - at[0];
    assert!(
        gap >= Duration::from_secs(2),
        "Retry-After: 2 was honoured ({gap:?})"
    );
    assert!(gap < Duration::from_secs(4), "{gap:?}");
}

#[test]
fn a_401_is_not_retried() {
    let p = Platform::start();
    lab_cluster(&p);
    let r = runner(&p, "delete-lab-namespaces:nublado2");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let bob = "/api/v1/namespaces/nublado2-bob";
    p.outage(Some("DELETE"), bob, 401, Duration::from_secs(30), None);
    let e = r.run(&pv, &mut op).err().unwrap();
    assert_eq!(p.count("DELETE", bob), 1, "401 cannot heal by waiting");
    assert!(!e.retryable, "{e}");
    assert!(e.message.contains("refused the credentials (401)"), "{e}");
}

/// A step under the engine with a short time limit (a stand-in for any step's timeout).
struct Limited {
    inner: Box<dyn StepRunner>,
    timeout: Duration,
}

impl StepRunner for Limited {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn title(&self) -> String {
        self.inner.title()
    }
    fn destructive(&self) -> bool {
        self.inner.destructive()
    }
    fn mutates(&self) -> bool {
        self.inner.mutates()
    }
    fn preview(
        &self,
        op: &mut dyn gitops_migrate::runtime::Operator,
    ) -> Result<Preview, StepError> {
        self.inner.preview(op)
    }
    fn run(
        &self,
        preview: &Preview,
        op: &mut dyn gitops_migrate::runtime::Operator,
    ) -> Result<gitops_migrate::runtime::Outcome, StepError> {
        self.inner.run(preview, op)
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// The per-call retry budget (a minute here, five by default) is cut to the step's own time
/// limit: a delete that keeps answering 503 fails the step when the step's 2 s are up, not
/// after a minute of retries.
#[test]
fn a_calls_retries_end_with_the_steps_time_limit() {
    use gitops_migrate::runtime::engine::{self, ExecOptions};
    use gitops_migrate::runtime::journal::{Journal, RunFiles};
    use gitops_migrate::runtime::run::{RunStatus, StepStatus};
    let p = Platform::start();
    lab_cluster(&p);
    let mut t = timing();
    t.retry.budget = Duration::from_secs(60);
    t.retry.max_pause = Duration::from_millis(200);
    let bob = "/api/v1/namespaces/nublado2-bob";
    p.outage(Some("DELETE"), bob, 503, Duration::from_secs(120), None);
    let step = Limited {
        inner: build(&planned("delete-lab-namespaces:nublado2"), &env_with(&p, t)).unwrap(),
        timeout: Duration::from_secs(2),
    };
    let tmp = tempfile::tempdir().unwrap();
    let files = RunFiles::new(tmp.path(), "nublado", "enable-v3", "idfdev");
    let mut journal = Journal::open(&files.journal()).unwrap();
    let opts = ExecOptions {
        yes: true,
        write_report: false,
        ..ExecOptions::default()
    };
    let mut op = Recorder::yes();
    let t0 = Instant::now();
    let report = engine::run(vec![Box::new(step)], &opts, &mut journal, &mut op).unwrap();
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the retries ended with the step's 2 s, not the call's minute ({took:?})"
    );
    assert!(
        matches!(report.status, RunStatus::Failed { .. }),
        "{:?}",
        report.status
    );
    let StepStatus::Failed { error } = &report.steps[0].status else {
        panic!("{:?}", report.steps[0].status)
    };
    assert!(error.contains("503"), "{error}");
    assert!(error.contains("tried "), "the call was retried: {error}");
    let tries = p.count("DELETE", bob);
    assert!(tries > 1, "{tries} deletes of bob");
}

#[test]
fn deletes_run_concurrently_within_the_bound() {
    let p = Platform::start();
    for i in 0..120 {
        p.add_namespace(&format!("nublado2-user{i:03}"), &[]);
    }
    p.latency(Duration::from_millis(15));
    let mut t = timing();
    t.concurrency = 8;
    let r = build(&planned("delete-lab-namespaces:nublado2"), &env_with(&p, t)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    assert_eq!(touches(&pv).len(), 120);
    assert_eq!(
        pv.commands.len(),
        13,
        "the listing and 12 delete commands of 10 names"
    );
    let out = run(r.as_ref(), &pv, &mut op);
    assert_eq!(out.touched.len(), 120);
    let max = p.max_concurrent_deletes();
    assert!(
        (2..=8).contains(&max),
        "at most 8 deletions in flight, and more than one: {max}"
    );
}

#[test]
fn a_namespace_stuck_terminating_times_out_naming_it() {
    let p = Platform::start();
    p.add_namespace("nublado2-alice", &[]);
    p.terminating_for(Duration::from_secs(60));
    let mut t = timing();
    t.namespaces = Duration::from_millis(300);
    let r = build(&planned("delete-lab-namespaces:nublado2"), &env_with(&p, t)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let e = r.run(&pv, &mut op).err().unwrap();
    assert!(!e.retryable);
    assert!(
        e.message
            .starts_with("1 of 1 namespaces were still there after"),
        "{e}"
    );
    assert!(e.message.contains(": nublado2-alice (Terminating); a namespace stuck in Terminating usually waits on a finalizer"), "{e}");
}

#[test]
fn no_lab_namespace_is_a_skip() {
    let p = Platform::start();
    p.add_namespace("nublado2", &[]);
    p.add_namespace("nublado-users", &[LAB]);
    let r = runner(&p, "delete-lab-namespaces:nublado");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!(
        "delete_lab_namespaces_none_preview",
        show(&p, r.as_ref(), &pv, &op)
    );
}

// ---------------------------------------------------------------------------------------------
// sync-app

#[test]
fn sync_app_with_prune_waits_for_a_new_operation_then_synced_and_healthy() {
    let p = Platform::start();
    p.add_app("science-platform", "OutOfSync", "Healthy");
    p.add_app("nublado2", "Synced", "Healthy");
    p.app_prunes("science-platform", "nublado2");
    p.operation_for(Duration::from_millis(300));
    let r = runner(&p, "sync-app:science-platform");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!(
        "sync_app_science_platform_preview",
        show(&p, r.as_ref(), &pv, &op)
    );
    let started = Instant::now();
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the operation and the settle window"
    );
    assert_eq!(
        out.touched,
        vec![
            "application/science-platform",
            "prune: Application argocd/nublado2"
        ]
    );
    assert!(
        out.summary
            .starts_with("synced `science-platform` at 3f1c2a9 (origin/main) with prune: Synced and Healthy after"),
        "{}",
        out.summary
    );
    let post = p
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        post.path,
        "/argo-cd/api/v1/applications/science-platform/sync"
    );
    assert_eq!(
        post.json(),
        serde_json::json!({"prune": true, "revision": INITIAL_COMMIT})
    );
    assert!(!p.has_app("nublado2"), "pruned");
    assert_eq!(
        p.app_state("science-platform"),
        Some(("Synced".into(), "Healthy".into(), "Succeeded".into()))
    );
}

#[test]
fn sync_app_twice_syncs_twice_and_tells_the_operations_apart() {
    let p = Platform::start();
    p.add_app("nublado", "OutOfSync", "Missing");
    p.operation_for(Duration::from_millis(50));
    let r = runner(&p, "sync-app:nublado");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    run(r.as_ref(), &pv, &mut op);
    // The second sync's operation starts (and may finish) within the same second as the
    // first one's: it is still told apart.
    run(r.as_ref(), &pv, &mut op);
    assert_eq!(
        p.count("POST", "/argo-cd/api/v1/applications/nublado/sync"),
        2
    );
    let post = p
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        post.json(),
        serde_json::json!({"revision": INITIAL_COMMIT}),
        "no prune"
    );
}

#[test]
fn another_operation_in_progress_is_waited_out_and_retried() {
    for status in [400, 409] {
        let p = Platform::start();
        p.add_app("nublado", "OutOfSync", "Healthy");
        p.busy_status(status);
        p.argocd_busy("nublado", Duration::from_millis(400));
        let r = runner(&p, "sync-app:nublado");
        let mut op = Recorder::yes();
        let pv = preview(&p, r.as_ref(), &mut op);
        let out = run(r.as_ref(), &pv, &mut op);
        assert!(
            out.summary
                .starts_with("synced `nublado` at 3f1c2a9 (origin/main): Synced and Healthy after")
        );
        assert!(
            p.count("POST", "/argo-cd/api/v1/applications/nublado/sync") >= 2,
            "refused ({status}), then retried"
        );
        assert!(
            op.progress.iter().any(|(_, _, _, m)| m
                .starts_with("another operation is already in progress on `nublado`; retrying in")),
            "{:?}",
            op.progress
        );
        assert_eq!(
            p.app_state("nublado"),
            Some(("Synced".into(), "Healthy".into(), "Succeeded".into()))
        );
    }
}

#[test]
fn a_transient_degraded_health_is_waited_out() {
    let p = Platform::start();
    p.add_app("nublado", "OutOfSync", "Healthy");
    p.operation_for(Duration::from_millis(100));
    p.degraded_for(Duration::from_millis(300));
    let r = runner(&p, "sync-app:nublado");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    run(r.as_ref(), &pv, &mut op);
    assert!(
        op.progress
            .iter()
            .any(|(_, _, _, m)| m.starts_with("Synced at 3f1c2a9, Degraded")),
        "{:?}",
        op.progress
    );
    assert_eq!(p.app_state("nublado").unwrap().1, "Healthy");
}

#[test]
fn a_sync_that_does_not_finish_times_out_naming_the_last_state() {
    let p = Platform::start();
    p.add_app("nublado", "OutOfSync", "Healthy");
    p.operation_for(Duration::from_secs(60));
    let mut t = timing();
    t.sync = Duration::from_millis(300);
    let r = build(&planned("sync-app:nublado"), &env_with(&p, t)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let e = r.run(&pv, &mut op).err().unwrap();
    assert!(!e.retryable);
    assert!(
        e.message.starts_with("`nublado` did not become Synced and Healthy within 300ms of the sync: last seen OutOfSync at 3f1c2a9, Progressing; last operation Running (started 20"),
        "{e}"
    );
    assert!(
        e.message
            .ends_with("): waiting for healthy state of apps/Deployment/hub"),
        "{e}"
    );
}

#[test]
fn a_sync_still_refused_at_the_deadline_says_so() {
    let p = Platform::start();
    p.add_app("nublado", "OutOfSync", "Healthy");
    p.argocd_busy("nublado", Duration::from_secs(60));
    let mut t = timing();
    t.sync = Duration::from_millis(300);
    let r = build(&planned("sync-app:nublado"), &env_with(&p, t)).unwrap();
    let e = r
        .run(
            &Preview {
                action: Action::Run { touches: vec![] },
                commands: vec![],
            },
            &mut Recorder::yes(),
        )
        .err()
        .unwrap();
    assert!(!e.retryable);
    snap!("sync_busy_timeout", e.message);
}

#[test]
fn an_application_created_by_the_app_of_apps_is_synced_after_it() {
    let p = Platform::start();
    p.add_app("science-platform", "OutOfSync", "Healthy");
    p.app_creates("science-platform", "nublado");
    p.operation_for(Duration::from_millis(50));
    // Before the window: the preview says the application does not exist yet.
    let r = runner(&p, "sync-app:nublado");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!(
        "sync_app_not_yet_created_preview",
        show(&p, r.as_ref(), &pv, &op)
    );
    let parent = runner(&p, "sync-app:science-platform");
    let ppv = preview(&p, parent.as_ref(), &mut op);
    run(parent.as_ref(), &ppv, &mut op);
    let out = run(r.as_ref(), &pv, &mut op);
    assert_eq!(out.touched, vec!["application/nublado"]);
    assert_eq!(p.app_state("nublado").unwrap().0, "Synced");
}

/// The merged commit of the tests below: the branch moved on to it, and Argo CD's
/// repo-server still resolves the branch to `INITIAL_COMMIT` from its cache.
const MERGED: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807";

fn pinned_to_merged(p: &Platform) -> StepEnv {
    let mut e = env(p);
    e.revision = Some(Revision {
        commit: MERGED.into(),
        source: "origin/main".into(),
    });
    e
}

#[test]
fn a_stale_argocd_is_refreshed_and_the_sync_pinned_to_the_merged_commit() {
    let p = Platform::start();
    p.add_app("nublado", "Synced", "Healthy");
    p.merge_commit(MERGED);
    // Unrefreshed, Argo CD still compares with the previous commit: a sync of the branch now
    // would land there.
    let client = ArgoCdClient::new(&p.argocd_url(), ARGOCD_TOKEN.into());
    use gitops_migrate::runtime::clients::ArgoCdApi;
    use gitops_migrate::runtime::clients::argocd::Refresh;
    let stale = client.get_application("nublado", Refresh::No).unwrap();
    assert_eq!(
        stale.found().unwrap().revision.as_deref(),
        Some(INITIAL_COMMIT)
    );

    let r = build(&planned("sync-app:nublado"), &pinned_to_merged(&p)).unwrap();
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(
        out.summary
            .starts_with("synced `nublado` at 9e8d7c6 (origin/main): Synced and Healthy after"),
        "{}",
        out.summary
    );
    assert_eq!(p.synced_revision("nublado").as_deref(), Some(MERGED));
    assert_eq!(p.app_state("nublado").unwrap().0, "Synced");
    // What the double received: a hard refresh before the sync, then the sync pinned.
    let requests = p.requests();
    let post = requests
        .iter()
        .position(|r| r.method == "POST")
        .expect("a sync");
    assert_eq!(
        requests[post].json(),
        serde_json::json!({"revision": MERGED})
    );
    assert!(
        requests[..post].iter().any(|r| r.method == "GET"
            && r.path == "/argo-cd/api/v1/applications/nublado"
            && r.query.get("refresh").map(String::as_str) == Some("hard")),
        "no hard refresh before the sync"
    );
}

#[test]
fn a_sync_that_lands_on_another_revision_fails_naming_both() {
    let p = Platform::start();
    p.add_app("nublado", "Synced", "Healthy");
    p.merge_commit(MERGED);
    // This Argo CD keeps the revision the application runs, whatever is asked.
    p.argocd_stuck_revision("nublado");
    let mut e = pinned_to_merged(&p);
    e.timing.sync = Duration::from_secs(5);
    let r = build(&planned("sync-app:nublado"), &e).unwrap();
    let mut op = Recorder::yes();
    p.clear_requests();
    let pv = r.preview(&mut op).unwrap();
    let err = r.run(&pv, &mut op).unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("Argo CD synced `nublado` at 3f1c2a9, not at 9e8d7c6 (origin/main, the merged commit this window proved)"),
        "{}",
        err.message
    );
    let post = p
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(post.json()["revision"], MERGED);
    assert_eq!(
        p.synced_revision("nublado").as_deref(),
        Some(INITIAL_COMMIT)
    );
}

#[test]
fn an_unexpected_application_in_the_prune_set_refuses_before_the_sync() {
    let p = Platform::start();
    p.add_app("science-platform", "OutOfSync", "Healthy");
    for app in ["nublado2", "cachemachine", "moneypenny", "gafaelfawr"] {
        p.add_app(app, "Synced", "Healthy");
        // The merged environment file dropped gafaelfawr by mistake.
        p.app_prunes("science-platform", app);
    }
    let r = runner(&p, "sync-app:science-platform");
    let mut op = Recorder::yes();
    p.clear_requests();
    let e = r.preview(&mut op).unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.message,
        "refusing to sync `science-platform` with prune: it would delete 4 resources: Application argocd/cachemachine, Application argocd/gafaelfawr (not expected), Application argocd/moneypenny, Application argocd/nublado2; this stage expects to prune only Application/nublado2, Application/cachemachine and Application/moneypenny, so Application argocd/gafaelfawr would go by mistake (an application dropped from the environment file?); nothing was synced"
    );
    // Through the engine, as a run: refused before any sync, the list shown.
    let dir = tempfile::tempdir().unwrap();
    let mut journal =
        gitops_migrate::runtime::journal::Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let opts = gitops_migrate::runtime::engine::ExecOptions {
        yes: true,
        write_report: false,
        ..Default::default()
    };
    let report =
        gitops_migrate::runtime::engine::run(vec![r], &opts, &mut journal, &mut op).unwrap();
    match &report.status {
        gitops_migrate::runtime::engine::RunStatus::Failed { error, .. } => {
            assert!(error.contains("gafaelfawr (not expected)"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.mutations(), Vec::<String>::new(), "nothing was synced");
    assert!(p.has_app("gafaelfawr") && p.has_app("nublado2"));

    // The expected set alone is shown in the confirmation and pruned.
    let p = Platform::start();
    p.add_app("science-platform", "OutOfSync", "Healthy");
    for app in ["nublado2", "cachemachine", "moneypenny"] {
        p.add_app(app, "Synced", "Healthy");
        p.app_prunes("science-platform", app);
    }
    p.operation_for(Duration::from_millis(50));
    let r = runner(&p, "sync-app:science-platform");
    let mut op = Recorder::yes();
    let dir = tempfile::tempdir().unwrap();
    let mut journal =
        gitops_migrate::runtime::journal::Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let opts = gitops_migrate::runtime::engine::ExecOptions {
        write_report: false,
        interactive: true,
        ..Default::default()
    };
    let report =
        gitops_migrate::runtime::engine::run(vec![r], &opts, &mut journal, &mut op).unwrap();
    assert_eq!(
        report.status,
        gitops_migrate::runtime::engine::RunStatus::Completed
    );
    assert_eq!(op.questions.len(), 1);
    for line in [
        "will touch 4 objects:",
        "  application/science-platform",
        "  prune: Application argocd/cachemachine",
        "  prune: Application argocd/moneypenny",
        "  prune: Application argocd/nublado2",
    ] {
        assert!(op.questions[0].contains(line), "{}", op.questions[0]);
    }
    assert!(!p.has_app("nublado2") && !p.has_app("moneypenny") && !p.has_app("cachemachine"));
    assert!(
        report.steps[0]
            .touched
            .contains(&"prune: Application argocd/nublado2".to_string()),
        "{:?}",
        report.steps[0].touched
    );
}

#[test]
fn argocd_answers_403_for_an_application_it_does_not_have() {
    let p = Platform::start();
    use gitops_migrate::runtime::clients::ArgoCdApi;
    use gitops_migrate::runtime::clients::argocd::{Lookup, Refresh};
    let client = ArgoCdClient::new(&p.argocd_url(), ARGOCD_TOKEN.into());
    assert_eq!(
        client.get_application("nublado", Refresh::No).unwrap(),
        Lookup::Hidden
    );
    let raw = p
        .requests()
        .into_iter()
        .find(|r| r.path == "/argo-cd/api/v1/applications/nublado")
        .unwrap();
    assert!(!raw.query.contains_key("project"));
    // With the project named, the real server answers 404.
    let http = gitops_migrate::http::Http::new();
    let auth = format!("Bearer {ARGOCD_TOKEN}");
    let reply = http
        .send(
            "GET",
            &format!(
                "{}/api/v1/applications/nublado?project=default",
                p.argocd_url()
            ),
            &[("Authorization", &auth)],
            None,
            "Argo CD",
        )
        .unwrap();
    assert_eq!(reply.status, 404);
    let reply = http
        .send(
            "GET",
            &format!("{}/api/v1/applications/nublado", p.argocd_url()),
            &[("Authorization", &auth)],
            None,
            "Argo CD",
        )
        .unwrap();
    assert_eq!(
        (reply.status, reply.said().as_str()),
        (403, "permission denied")
    );
}

#[test]
fn a_wrong_argocd_token_is_fatal_and_not_printed() {
    let p = Platform::start();
    p.add_app("nublado", "OutOfSync", "Healthy");
    let mut e = env(&p);
    e.argocd = Some(Arc::new(ArgoCdClient::new(
        &p.argocd_url(),
        "stale-DoNotPrint".into(),
    )));
    let r = build(&planned("sync-app:nublado"), &e).unwrap();
    let err = r.preview(&mut Recorder::yes()).err().unwrap();
    assert!(!err.retryable);
    assert!(
        err.message
            .contains("refused the token (401: invalid session"),
        "{err}"
    );
    assert!(!err.message.contains("DoNotPrint"));
}

// ---------------------------------------------------------------------------------------------
// check-route

#[test]
fn check_route_waits_until_the_hub_answers() {
    let p = Platform::start();
    p.route_healthy_after("/n3", Duration::from_millis(200));
    let r = runner(&p, "check-route:/n3");
    let mut op = Recorder::yes();
    let pv = preview(&p, r.as_ref(), &mut op);
    snap!("check_route_preview", show(&p, r.as_ref(), &pv, &op));
    assert!(p.requests().is_empty(), "the preview calls nothing");
    let out = run(r.as_ref(), &pv, &mut op);
    assert!(
        out.summary.contains("/n3/hub/health answered 200 after"),
        "{}",
        out.summary
    );
    assert!(
        op.progress
            .iter()
            .any(|(_, _, _, m)| m.ends_with("503 (<html><body>503</body></html>)")),
        "{:?}",
        op.progress
    );
    // Twice.
    run(r.as_ref(), &pv, &mut op);
}

#[test]
fn check_route_times_out_with_the_last_answer() {
    let p = Platform::start();
    let mut t = timing();
    t.route = Duration::from_millis(200);
    let r = build(&planned("check-route:/nb"), &env_with(&p, t)).unwrap();
    let e = r
        .run(
            &Preview {
                action: Action::Run { touches: vec![] },
                commands: vec![],
            },
            &mut Recorder::yes(),
        )
        .err()
        .unwrap();
    assert!(!e.retryable);
    let msg = e.message.replace(&p.url, "https://data-dev.lsst.cloud");
    assert!(
        msg.starts_with(
            "https://data-dev.lsst.cloud/nb/hub/health did not answer 200 within 200ms ("
        ),
        "{msg}"
    );
    assert!(
        msg.ends_with("tries); last answer: 404 (<html><body>404</body></html>)"),
        "{msg}"
    );
}

#[test]
fn check_route_defaults_to_the_environment_fqdn() {
    let p = Platform::start();
    let mut e = env(&p);
    e.health = None;
    let r = build(&planned("check-route:/n3"), &e).unwrap();
    let pv = r.preview(&mut Recorder::yes()).unwrap();
    assert_eq!(
        pv.commands,
        vec!["curl -fsS https://data-dev.lsst.cloud/n3/hub/health"]
    );
}

// ---------------------------------------------------------------------------------------------
// The Kubernetes client itself

#[test]
fn the_kubernetes_client_pages_and_selects() {
    let p = Platform::start();
    for i in 0..1100 {
        p.add_namespace(&format!("nublado-u{i:04}"), &[LAB]);
    }
    p.add_namespace("nublado-users", &[INSTANCE]);
    p.add_terminating_namespace("nublado-gone", &[LAB]);
    p.terminating_for(Duration::from_secs(60));
    let k = KubeClient::with_token(&p.url, Some(KUBE_TOKEN.into()));
    let all = k
        .list_namespaces(Some("nublado.lsst.io/category=lab"), None)
        .unwrap();
    assert_eq!(all.len(), 1101);
    assert_eq!(p.count("GET", "/api/v1/namespaces"), 3, "pages of 500");
    let one = k
        .list_namespaces(None, Some("metadata.name=nublado-users"))
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(
        one[0]
            .labels
            .get("argocd.argoproj.io/instance")
            .map(String::as_str),
        Some("nublado-users")
    );
    let going = k
        .list_namespaces(
            Some("nublado.lsst.io/category"),
            Some("status.phase=Terminating"),
        )
        .unwrap();
    assert_eq!(
        going.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        vec!["nublado-gone"]
    );
    assert!(going[0].terminating());
    let none = k
        .list_namespaces(
            Some("!nublado.lsst.io/category,argocd.argoproj.io/instance in (nublado-users)"),
            None,
        )
        .unwrap();
    assert_eq!(none.len(), 1);
    assert_eq!(k.get_namespace("nope").unwrap(), None);
    assert_eq!(
        k.delete_namespace("nope").unwrap(),
        gitops_migrate::runtime::clients::kube::Deleted::AlreadyGone
    );
    assert_eq!(
        k.delete_namespace("nublado-gone").unwrap(),
        gitops_migrate::runtime::clients::kube::Deleted::Deleting,
        "409 on a terminating namespace = already going"
    );
    let bad = KubeClient::with_token(&p.url, Some("nope".into()));
    let e = bad.get_namespace("nublado-users").unwrap_err();
    assert!(e.message.contains("refused the credentials (401)"), "{e}");
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_kubeconfig_with_a_token_or_an_exec_plugin_reaches_the_double() {
    let p = Platform::start();
    p.add_namespace("nublado2-alice", &[]);
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "config", &p.kubeconfig("idfdev"));
    let cfg = KubeConfig::from_files(&[plain]).unwrap();
    assert_eq!(cfg.current_context(), Some("idfdev"));
    assert_eq!(cfg.server_url("idfdev"), Some(p.url.as_str()));
    let k = cfg.client(None).unwrap();
    let names: Vec<String> = k
        .list_namespaces(None, None)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, ["kube-system", "nublado2-alice"]);

    // An exec credential plugin (relative to the kubeconfig's directory), merged second.
    let plugin = write(
        dir.path(),
        "get-token.sh",
        &format!(
            "#!/bin/sh\ntest -n \"$KUBERNETES_EXEC_INFO\" || exit 3\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{KUBE_TOKEN}\"}}}}'\n"
        ),
    );
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exec = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters:\n  - name: usdf\n    cluster:\n      server: {}\ncontexts:\n  - name: usdf\n    context: {{cluster: usdf, user: oidc}}\nusers:\n  - name: oidc\n    user:\n      exec:\n        apiVersion: client.authentication.k8s.io/v1\n        command: ./get-token.sh\n        interactiveMode: Never\n",
        p.url
    );
    let exec = write(dir.path(), "exec.yaml", &exec);
    let cfg = KubeConfig::from_files(&[dir.path().join("config"), exec]).unwrap();
    assert_eq!(cfg.current_context(), Some("idfdev"), "the first file wins");
    assert_eq!(cfg.contexts(), vec!["idfdev", "usdf"]);
    let k = cfg.client(Some("usdf")).unwrap();
    assert_eq!(
        k.get_namespace("nublado2-alice").unwrap().unwrap().phase,
        "Active"
    );
    assert!(!format!("{k:?}").contains(KUBE_TOKEN));
}

// ---------------------------------------------------------------------------------------------
// The benchmark (scripts/bench-namespaces runs it): clearing 2,000 lab namespaces from the
// double with 20 ms latency per call, by the step versus one delete call at a time.

#[test]
#[ignore = "a benchmark: scripts/bench-namespaces"]
fn bench_namespaces() {
    let n: usize = std::env::var("BENCH_NAMESPACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let latency = Duration::from_millis(
        std::env::var("BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let fill = |p: &Platform| {
        for i in 0..n {
            p.add_namespace(&format!("nublado2-user{i:05}"), &[]);
        }
        p.add_namespace("nublado2", &[]);
        p.add_namespace("nublado-users", &[LAB]);
        p.terminating_for(Duration::from_millis(500));
        p.latency(latency);
    };
    let mut t = timing();
    t.poll = Duration::from_millis(250);
    t.namespaces = Duration::from_secs(600);

    // The step: list, delete with bounded concurrency, poll until gone.
    let p = Platform::start();
    fill(&p);
    let r = build(
        &planned("delete-lab-namespaces:nublado2"),
        &env_with(&p, t.clone()),
    )
    .unwrap();
    let mut op = Recorder::yes();
    let started = Instant::now();
    let pv = r.preview(&mut op).unwrap();
    let out = r.run(&pv, &mut op).unwrap();
    let step = started.elapsed();
    assert_eq!(out.touched.len(), n);
    assert_eq!(p.namespace_names(), vec!["nublado-users", "nublado2"]);

    // One at a time, as `kubectl get ns | grep nublado2- | … | xargs kubectl delete ns` does:
    // one list, then one delete call after another, then the same wait until they are gone.
    let p = Platform::start();
    fill(&p);
    let k = KubeClient::with_token(&p.url, Some(KUBE_TOKEN.into()));
    let started = Instant::now();
    let names: Vec<String> = k
        .list_namespaces(None, None)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .filter(|n| n.starts_with("nublado2-"))
        .collect();
    for name in &names {
        k.delete_namespace(name).unwrap();
    }
    while k
        .list_namespaces(None, None)
        .unwrap()
        .iter()
        .any(|n| n.name.starts_with("nublado2-"))
    {
        std::thread::sleep(t.poll);
    }
    let serial = started.elapsed();
    assert_eq!(names.len(), n);

    let ratio = serial.as_secs_f64() / step.as_secs_f64();
    println!(
        "bench-namespaces: {n} namespaces, {} ms latency per call, concurrency {}",
        latency.as_millis(),
        t.concurrency
    );
    println!(
        "  delete-lab-namespaces step: {:>8.2} s",
        step.as_secs_f64()
    );
    println!(
        "  one at a time:              {:>8.2} s",
        serial.as_secs_f64()
    );
    println!("  ratio:                      {ratio:>8.1}x");
}

#[test]
fn previews_name_the_configured_token_variables_never_the_tokens() {
    let p = Platform::start();
    p.add_flock("firefighter");
    p.add_app("nublado", "OutOfSync", "Healthy");
    let mut e = env(&p);
    e.mobu_token_var = "IDFDEV_MOBU_TOKEN".into();
    e.argocd_token_var = "$IDFDEV_ARGOCD_TOKEN".into();
    let mut text = String::new();
    for id in ["stop-mobu-flocks", "sync-app:nublado"] {
        let r = build(&planned(id), &e).unwrap();
        let mut op = Recorder::yes();
        let pv = r.preview(&mut op).unwrap();
        text.push_str(&show(&p, r.as_ref(), &pv, &op));
    }
    assert!(
        text.contains(
            "Bearer $IDFDEV_MOBU_TOKEN\" https://data-dev.lsst.cloud/mobu/flocks/firefighter"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("Bearer $IDFDEV_ARGOCD_TOKEN\" -d '{{\"revision\": \"{INITIAL_COMMIT}\"}}' https://data-dev.lsst.cloud/argo-cd/api/v1/applications/nublado/sync")),
        "{text}"
    );
    for token in [KUBE_TOKEN, ARGOCD_TOKEN, MOBU_TOKEN] {
        assert!(!text.contains(token));
    }
}

// ---------------------------------------------------------------------------------------------
// The watchdog counts the machine's time, not the person's.

/// A real step with a short timeout.
struct ShortTimeout(Box<dyn StepRunner>, Duration);

impl StepRunner for ShortTimeout {
    fn id(&self) -> &str {
        self.0.id()
    }
    fn title(&self) -> String {
        self.0.title()
    }
    fn destructive(&self) -> bool {
        self.0.destructive()
    }
    fn mutates(&self) -> bool {
        self.0.mutates()
    }
    fn needs_person(&self) -> bool {
        self.0.needs_person()
    }
    fn preview(
        &self,
        op: &mut dyn gitops_migrate::runtime::Operator,
    ) -> Result<Preview, StepError> {
        self.0.preview(op)
    }
    fn run(
        &self,
        p: &Preview,
        op: &mut dyn gitops_migrate::runtime::Operator,
    ) -> Result<gitops_migrate::runtime::Outcome, StepError> {
        self.0.run(p, op)
    }
    fn timeout(&self) -> Duration {
        self.1
    }
}

/// A person who takes `think` to answer yes.
struct SlowPerson {
    think: Duration,
    asked: Vec<String>,
}

impl gitops_migrate::runtime::Operator for SlowPerson {
    fn confirm(&mut self, question: &str) -> bool {
        self.asked.push(question.to_string());
        std::thread::sleep(self.think);
        true
    }
    fn progress(&mut self, _step: &str, _done: u64, _total: u64, _message: &str) {}
    fn say(&mut self, _line: &str) {}
}

#[test]
fn a_confirmation_left_unanswered_past_the_timeout_does_not_kill_the_step() {
    use gitops_migrate::runtime::engine::{self, ExecOptions, RunStatus, Stuck};
    let p = Platform::start();
    p.add_deployment(
        "nublado2",
        "hub",
        1,
        &[("app", "jupyterhub"), ("component", "hub")],
    );
    let timeout = Duration::from_millis(1500);
    let steps: Vec<Box<dyn StepRunner>> = vec![
        Box::new(ShortTimeout(
            runner(&p, "delete-hub-deployment:nublado2"),
            timeout,
        )),
        // A manual step has no watchdog at all.
        Box::new(ShortTimeout(
            build(&Step::new("manual:test-lab", "spawn a lab"), &env(&p)).unwrap(),
            Duration::from_millis(1),
        )),
    ];
    let fired = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let f = fired.clone();
    let opts = ExecOptions {
        interactive: true,
        stuck_grace: Duration::ZERO,
        on_stuck: Some(Arc::new(move |s: &Stuck| {
            f.lock().unwrap().push(s.step.clone())
        })),
        write_report: false,
        ..ExecOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut journal =
        gitops_migrate::runtime::journal::Journal::open(&dir.path().join("j.jsonl")).unwrap();
    // The operator thinks twice as long as the step may take.
    let mut person = SlowPerson {
        think: timeout * 2,
        asked: Vec::new(),
    };
    p.clear_requests();
    let started = Instant::now();
    let report = engine::run(steps, &opts, &mut journal, &mut person).unwrap();
    assert!(
        started.elapsed() >= timeout * 4,
        "both answers were waited for"
    );
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.status);
    assert_eq!(person.asked.len(), 2);
    assert!(
        fired.lock().unwrap().is_empty(),
        "the watchdog fired: {:?}",
        fired.lock().unwrap()
    );
    // The step ran after the answer: the Deployment deleted, its pod waited for.
    assert_eq!(
        p.mutations(),
        ["DELETE /apis/apps/v1/namespaces/nublado2/deployments/hub"]
    );
    assert!(!p.has_deployment("nublado2", "hub"));
    assert!(p.pod_names("nublado2").is_empty());
}
