//! `exec` end to end: the built binary against the HTTP doubles of `tests/it/support` (the
//! Kubernetes API, Argo CD, mobu and the hubs' health on one 127.0.0.1 socket), in a temporary
//! Git checkout of `fixtures/phalanx` whose stage has been merged (committed and pushed to a
//! bare `origin`, and Argo CD's branch moved to that commit: the window follows the merge),
//! configured with `config set` (the cluster's fingerprint recorded), with `KUBECONFIG`
//! pointing at the double and the tokens in environment variables. Dry-run snapshots of every stage with a window, a full run, a crash
//! (SIGKILL) and `--resume`, a wrong kube context, injected faults, and a scan for secrets.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ARGOCD_TOKEN, KUBE_TOKEN, MOBU_TOKEN, Platform};

use crate::common;
use crate::common::snapshot;
use common::copy_dir;

/// The environment variables the configuration names for the tokens.
const ARGOCD_VAR: &str = "E2E_ARGOCD_TOKEN";
const MOBU_VAR: &str = "E2E_MOBU_TOKEN";

/// The namespaces of the cluster: two labs, and what must never be deleted.
const LAB_V2: &str = "nublado2-alice";
const LAB_V3: &str = "nublado-bob";
const KEEP: &[&str] = &[
    "fileservers",
    "kube-system",
    "mobu",
    "nublado",
    "nublado-users",
    "nublado2",
];

/// The steps of make-default's window on idfdev, in order.
const MAKE_DEFAULT: &[&str] = &[
    "stop-mobu-flocks",
    "delete-hub-deployment:nublado2",
    "delete-hub-deployment:nublado",
    "delete-lab-namespaces:nublado2",
    "delete-lab-namespaces:nublado",
    "sync-app:nublado2",
    "check-route:/n2",
    "sync-app:nublado",
    "check-route:/nb",
    "manual:test-lab",
    "sync-app:mobu",
    "restore-mobu",
];

/// A kubeconfig with a context per name, every one on the double, `current` current.
fn kubeconfig(server: &str, contexts: &[&str], current: &str) -> String {
    let mut clusters = String::new();
    let mut ctxs = String::new();
    for c in contexts {
        clusters.push_str(&format!(
            "  - name: {c}\n    cluster:\n      server: {server}\n"
        ));
        ctxs.push_str(&format!(
            "  - name: {c}\n    context:\n      cluster: {c}\n      user: admin\n"
        ));
    }
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n{clusters}contexts:\n{ctxs}users:\n  - name: admin\n    user:\n      token: {KUBE_TOKEN}\n"
    )
}

#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// One environment's window: the checkout (stage applied), the state directory, the
/// kubeconfig and the double, seeded.
struct Window {
    repo: tempfile::TempDir,
    /// The bare `origin` of the checkout.
    _origin: tempfile::TempDir,
    /// The merged commit (Argo CD's branch points to it).
    merged: String,
    state: tempfile::TempDir,
    kube: tempfile::TempDir,
    double: Platform,
    stage: String,
    env: String,
    /// Everything the binary printed, for the secret scan.
    printed: std::cell::RefCell<Vec<String>>,
}

impl Window {
    fn new(stage: &str, env: &str) -> Window {
        Window::setup(stage, env, true)
    }

    /// The window of `stage` for `env`; with `merged`, the stage's change is applied first (as
    /// after the merge of its pull request).
    fn setup(stage: &str, env: &str, merged: bool) -> Window {
        let repo = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phalanx"),
            repo.path(),
        );
        let origin = tempfile::tempdir().unwrap();
        let published = common::git::publish(repo.path(), &origin.path().join("origin.git"));
        let mut w = Window {
            repo,
            _origin: origin,
            merged: published,
            state: tempfile::tempdir().unwrap(),
            kube: tempfile::tempdir().unwrap(),
            double: Platform::start(),
            stage: stage.into(),
            env: env.into(),
            printed: Default::default(),
        };
        let d = &w.double;
        for ns in KEEP {
            d.add_namespace(ns, &[]);
        }
        d.add_namespace(LAB_V2, &[]);
        d.add_namespace(LAB_V3, &[("nublado.lsst.io/category", "lab")]);
        d.add_deployment(
            "nublado2",
            "hub",
            1,
            &[("app", "jupyterhub"), ("component", "hub")],
        );
        d.add_deployment("mobu", "mobu", 1, &[("app", "mobu")]);
        for app in ["science-platform", "nublado2", "mobu"] {
            d.add_app(app, "Synced", "Healthy");
        }
        if stage == "enable-v3" {
            // v3 is created by the sync of science-platform.
            d.app_creates("science-platform", "nublado");
        } else {
            d.add_deployment(
                "nublado",
                "hub",
                1,
                &[("app", "jupyterhub"), ("component", "hub")],
            );
            d.add_app("nublado", "Synced", "Healthy");
        }
        for flock in ["recommended", "nublado3", "tap", "weekly"] {
            d.add_flock(flock);
        }
        for route in ["/n2", "/n3", "/nb"] {
            d.route_status(route, 200);
        }
        w.write_kubeconfig(&[&w.context()], &w.context());

        // The merge: the stage's change is on origin's main, and Argo CD's branch there.
        if merged {
            let r = w.gm(&["apply", "nublado", stage, "--env", env]);
            assert_eq!(r.code, 0, "apply: {}{}", r.stdout, r.stderr);
            w.merged = common::git::merge(w.repo.path(), &format!("{stage} for {env}"));
        }
        let d = &w.double;
        d.merge_commit(&w.merged);
        let url = d.url.clone();
        for (field, value) in [
            ("context", w.context()),
            ("argocd_url", d.argocd_url()),
            ("mobu_url", d.mobu_url()),
            ("health_url", url),
            ("argocd_token_env", ARGOCD_VAR.into()),
            ("mobu_token_env", MOBU_VAR.into()),
            ("poll_interval_ms", "20".into()),
            ("sync_settle_ms", "100".into()),
            // The cluster, as a first run recorded it.
            ("api_server", d.url.clone()),
            ("cluster_uid", d.kube_system_uid()),
        ] {
            let key = format!("environments.{env}.{field}");
            let r = w.gm(&["config", "set", &key, &value]);
            assert_eq!(r.code, 0, "config set {key}: {}", r.stderr);
        }
        d.clear_requests();
        w
    }

    fn context(&self) -> String {
        format!("e2e-{}", self.env)
    }

    fn write_kubeconfig(&self, contexts: &[&str], current: &str) {
        std::fs::write(
            self.kube.path().join("config"),
            kubeconfig(&self.double.url, contexts, current),
        )
        .unwrap();
    }

    fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"));
        c.arg("-C")
            .arg(self.repo.path())
            .args(["--color", "never"])
            .args(args)
            .env("KUBECONFIG", self.kube.path().join("config"))
            .env("XDG_STATE_HOME", self.state.path().join("xdg"))
            .env(ARGOCD_VAR, ARGOCD_TOKEN)
            .env(MOBU_VAR, MOBU_TOKEN)
            .env_remove("ARGOCD_TOKEN")
            .env_remove("MOBU_TOKEN")
            .env_remove("VAULT_TOKEN")
            .stdin(Stdio::null());
        c
    }

    fn gm(&self, args: &[&str]) -> Ran {
        let out = self.command(args).output().unwrap();
        let r = Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let mut p = self.printed.borrow_mut();
        p.push(r.stdout.clone());
        p.push(r.stderr.clone());
        r
    }

    fn exec_args(&self, extra: &[&str]) -> Vec<String> {
        self.exec_args_in(extra, self.state.path())
    }

    /// The arguments of a run keeping its journal and lock under `state`.
    fn exec_args_in(&self, extra: &[&str], state: &Path) -> Vec<String> {
        let mut a: Vec<String> = ["exec", "nublado", &self.stage, "--env", &self.env]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push("--state-dir".into());
        a.push(state.display().to_string());
        a
    }

    fn exec(&self, extra: &[&str]) -> Ran {
        let args = self.exec_args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.gm(&args)
    }

    fn spawn_exec(&self, extra: &[&str]) -> Child {
        let args = self.exec_args(extra);
        self.command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn journal_path(&self) -> PathBuf {
        self.state
            .path()
            .join("runs/nublado")
            .join(&self.stage)
            .join(format!("{}.jsonl", self.env))
    }

    /// The journal's entries (a torn last line left out).
    fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(self.journal_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `(event, step)` of the journal's step entries, with the outcome for ends.
    fn events(&self) -> Vec<(String, String, String)> {
        self.journal()
            .iter()
            .filter(|e| {
                e["step"].is_string() && matches!(e["event"].as_str(), Some("start" | "end"))
            })
            .map(|e| {
                (
                    e["event"].as_str().unwrap_or_default().to_string(),
                    e["step"].as_str().unwrap_or_default().to_string(),
                    e["outcome"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The texts of every file under the state directory (journal, reports, lock).
    fn state_files(&self) -> Vec<(PathBuf, String)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), out);
                } else {
                    out.push((e.path(), std::fs::read_to_string(e.path()).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.state.path(), &mut out);
        out
    }

    /// No token value in anything printed, journaled or reported.
    fn assert_no_secrets(&self) {
        let mut texts: Vec<(String, String)> = self
            .printed
            .borrow()
            .iter()
            .map(|t| ("output".to_string(), t.clone()))
            .collect();
        let files = self.state_files();
        texts.extend(files.into_iter().map(|(p, t)| (p.display().to_string(), t)));
        for (what, text) in &texts {
            for secret in [ARGOCD_TOKEN, MOBU_TOKEN, KUBE_TOKEN] {
                assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
            }
        }
    }

    /// The mutating requests the double received, as `METHOD path`.
    fn mutations(&self) -> Vec<String> {
        self.double.mutations()
    }

    /// The report named by a run's `report: PATH` line.
    fn report(&self, r: &Ran) -> String {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with("report: "))
            .unwrap_or_else(|| panic!("no report line:\n{}", r.stdout));
        let path = PathBuf::from(line.trim_start_matches("report: "));
        assert!(path.starts_with(self.state.path()), "{}", path.display());
        std::fs::read_to_string(path).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Dry runs

fn dry_run_snapshot(stage: &str, env: &str) -> Ran {
    dry_run_snapshot_of(Window::new(stage, env))
}

fn dry_run_snapshot_of(w: Window) -> Ran {
    let (stage, env) = (w.stage.clone(), w.env.clone());
    let r = w.exec(&["--dry-run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        w.mutations().is_empty(),
        "a dry run changed something: {:?}",
        w.mutations()
    );
    assert!(!w.journal_path().exists(), "a dry run wrote the journal");
    let text = format!("$ exec nublado {stage} --env {env} --dry-run\n{}", r.stdout)
        .replace(&w.double.url, "http://127.0.0.1:PORT")
        .replace(&w.context(), "e2e-ENV");
    snapshot(&format!("exec_e2e__dry_run_{stage}_{env}"), &text);
    w.assert_no_secrets();
    r
}

#[test]
fn dry_run_enable_v3_names_flocks_namespaces_and_apps() {
    let r = dry_run_snapshot("enable-v3", "idfprod");
    // idfprod's mobu values: recommended, weekly and tap (not idfdev's nublado3).
    for name in [
        "flock/recommended",
        "flock/weekly",
        "namespace/nublado2-alice",
    ] {
        assert!(r.stdout.contains(name), "{name}:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("flock/tap"), "{}", r.stdout);
    assert!(!r.stdout.contains("flock/nublado3"), "{}", r.stdout);
}

#[test]
fn dry_run_make_default_names_flocks_namespaces_and_apps() {
    let r = dry_run_snapshot("make-default", "idfdev");
    for name in [
        "flock/recommended",
        "flock/nublado3",
        "flock/tap",
        "namespace/nublado2-alice",
        "namespace/nublado-bob",
        "application/nublado2",
        "application/nublado",
        "application/mobu",
        "$E2E_ARGOCD_TOKEN",
        "$E2E_MOBU_TOKEN",
    ] {
        assert!(r.stdout.contains(name), "{name}:\n{}", r.stdout);
    }
    for never in [
        "nublado-users",
        "namespace/nublado\n",
        "fileservers",
        "namespace/kube-system",
    ] {
        assert!(!r.stdout.contains(never), "{never}:\n{}", r.stdout);
    }
}

#[test]
fn dry_run_disable_v2_names_namespaces_and_apps() {
    let r = dry_run_snapshot("disable-v2", "idfint");
    for name in ["application/science-platform", "namespace/nublado2-alice"] {
        assert!(r.stdout.contains(name), "{name}:\n{}", r.stdout);
    }
}

#[test]
fn dry_run_drop_v2_values_has_no_window() {
    let r = dry_run_snapshot("drop-v2-values", "usdfdev");
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
}

#[test]
fn dry_run_finish_lists_the_cleanup_steps() {
    // finish is a repository-wide Git change; its window is the per-environment cleanup,
    // here with neither Vault nor the PostgreSQL server configured.
    let r = dry_run_snapshot_of(Window::setup("finish", "usdfprod", false));
    for step in ["vault-cleanup", "database-cleanup", "not available"] {
        assert!(r.stdout.contains(step), "{step}:\n{}", r.stdout);
    }
    // Vault and PostgreSQL steps only: no kube context is needed, none is asked for.
    assert!(
        r.stdout.contains(
            "no step of this runbook acts on the Kubernetes cluster: no kube context is needed"
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stderr.contains("no kube context"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// Runs

fn assert_window_done(w: &Window) {
    let d = &w.double;
    assert!(!d.has_deployment("nublado2", "hub"), "v2 hub still there");
    assert!(!d.has_deployment("nublado", "hub"), "v3 hub still there");
    assert_eq!(d.namespace_names(), KEEP, "namespaces left");
    let mut ns_deletes: Vec<String> = w
        .mutations()
        .into_iter()
        .filter(|m| m.starts_with("DELETE /api/v1/namespaces/"))
        .map(|m| {
            m.trim_start_matches("DELETE /api/v1/namespaces/")
                .to_string()
        })
        .collect();
    ns_deletes.sort();
    ns_deletes.dedup();
    assert_eq!(ns_deletes, [LAB_V3, LAB_V2], "only the labs are deleted");
    for app in ["nublado2", "nublado", "mobu"] {
        assert!(
            d.count("POST", &format!("/argo-cd/api/v1/applications/{app}/sync")) >= 1,
            "{app} not synced"
        );
        let (sync, health, phase) = d.app_state(app).unwrap();
        assert_eq!(
            (sync.as_str(), health.as_str(), phase.as_str()),
            ("Synced", "Healthy", "Succeeded")
        );
    }
    assert_eq!(
        d.count("POST", "/argo-cd/api/v1/applications/science-platform/sync"),
        0
    );
    assert!(
        d.deployment_annotations("mobu", "mobu")
            .contains_key("kubectl.kubernetes.io/restartedAt"),
        "mobu not restarted"
    );
    for flock in ["recommended", "nublado3", "tap"] {
        assert_eq!(
            d.count("DELETE", &format!("/mobu/flocks/{flock}")),
            1,
            "{flock}"
        );
    }
    assert_eq!(d.flocks(), ["weekly"], "idfdev's flocks are stopped");
}

#[test]
fn full_run_of_make_default_on_idfdev() {
    let w = Window::new("make-default", "idfdev");
    // The v2 hub's pod terminates for a while after its Deployment is deleted: the window
    // waits for it.
    w.double.terminating_for(Duration::from_millis(800));
    let r = w.exec(&["--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("kube context `e2e-idfdev` (http://127.0.0.1:"),
        "{}",
        r.stderr
    );
    assert_window_done(&w);

    // The window proved where it is, at which commit, alone; and says so.
    let report = w.report(&r);
    for note in [
        format!(
            "- note: `make-default` for `idfdev` is merged: origin/main at {}",
            &w.merged[..7]
        ),
        "- note: environment `idfdev` is the recorded cluster: http://127.0.0.1:".to_string(),
        "- note: lease `default/gitops-migrate-nublado-idfdev` in cluster `environment `idfdev``, held as ".to_string(),
    ] {
        assert!(report.contains(&note), "{note}:\n{report}");
    }
    let requests = w.double.requests();
    // The v2 hub's pods were waited for until gone, in v2's namespace, before v3's hub (whose
    // pod has the same name in its own namespace) was deleted; then v3's the same way.
    let v2_pod_polls: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "GET" && r.path == "/api/v1/namespaces/nublado2/pods")
        .map(|(i, _)| i)
        .collect();
    assert!(v2_pod_polls.len() >= 2, "waited: {v2_pod_polls:?}");
    let v3_hub_delete = requests
        .iter()
        .position(|r| {
            r.method == "DELETE" && r.path == "/apis/apps/v1/namespaces/nublado/deployments/hub"
        })
        .unwrap();
    assert!(v2_pod_polls.iter().all(|i| *i < v3_hub_delete));
    assert!(w.double.pod_names("nublado2").is_empty());
    assert!(w.double.pod_names("nublado").is_empty());
    // Every sync pinned to the merged commit, after a hard refresh.
    let syncs: Vec<&support::Request> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/sync"))
        .collect();
    assert_eq!(syncs.len(), 3);
    for sync in &syncs {
        assert_eq!(sync.json()["revision"], w.merged.as_str(), "{}", sync.path);
    }
    assert!(
        requests
            .iter()
            .any(|r| r.query.get("refresh").map(String::as_str) == Some("hard"))
    );
    // The lease was taken before the first change and freed at the end.
    let first_lease = requests
        .iter()
        .position(|r| r.path.contains("/leases"))
        .unwrap();
    let first_change = requests
        .iter()
        .position(|r| r.method != "GET" && !r.path.contains("/leases"))
        .unwrap();
    assert!(first_lease < first_change);
    let lease = w
        .double
        .lease("default", "gitops-migrate-nublado-idfdev")
        .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
    // Destructive confirmations by --yes, the manual step by --yes-manual: said apart.
    assert!(
        report.contains("| `manual:test-lab` | done |")
            && report.contains("done by hand; auto-confirmed (--yes-manual)"),
        "{report}"
    );
    assert!(report.contains("auto-confirmed (--yes)"), "{report}");
    for id in MAKE_DEFAULT {
        assert!(
            report.contains(&format!("| `{id}` | done |")),
            "{id} not done in the report:\n{report}"
        );
    }
    for touched in [
        "namespace/nublado2-alice",
        "namespace/nublado-bob",
        "deployment/nublado2/hub",
        "deployment/mobu/mobu",
        "flock/recommended",
        "application/nublado",
    ] {
        assert!(report.contains(touched), "{touched}:\n{report}");
    }

    let events = w.events();
    for id in MAKE_DEFAULT {
        let of: Vec<_> = events.iter().filter(|(_, s, _)| s == id).collect();
        assert_eq!(
            of.iter()
                .map(|(e, _, o)| format!("{e} {o}"))
                .collect::<Vec<_>>(),
            ["start ", "end done"],
            "{id}: {events:?}"
        );
    }
    let starts: Vec<&str> = events
        .iter()
        .filter(|(e, _, _)| e == "start")
        .map(|(_, s, _)| s.as_str())
        .collect();
    assert_eq!(starts, MAKE_DEFAULT, "the order of the window");
    assert!(
        !w.journal_path().with_extension("lock").exists(),
        "the lock was not released"
    );
    w.assert_no_secrets();
}

#[test]
fn a_killed_run_resumes_without_repeating_finished_steps() {
    let w = Window::new("make-default", "idfdev");
    // The v2 labs take a while to go: the run is killed while it waits.
    w.double.terminating_for(Duration::from_secs(4));
    let mut child = w.spawn_exec(&["--yes", "--yes-manual"]);
    let t0 = Instant::now();
    loop {
        let events = w.events();
        let waiting = events
            .iter()
            .any(|(e, s, _)| e == "start" && s == "delete-lab-namespaces:nublado2");
        if waiting
            && w.double
                .count("DELETE", "/api/v1/namespaces/nublado2-alice")
                == 1
        {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended before it was killed: {status} {events:?}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the run never reached the labs: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let out = child.wait_with_output().unwrap();
    w.printed
        .borrow_mut()
        .push(String::from_utf8_lossy(&out.stdout).into_owned());
    w.printed
        .borrow_mut()
        .push(String::from_utf8_lossy(&out.stderr).into_owned());

    let finished: Vec<String> = w
        .events()
        .into_iter()
        .filter(|(e, _, o)| e == "end" && o == "done")
        .map(|(_, s, _)| s)
        .collect();
    assert_eq!(finished, MAKE_DEFAULT[..3], "finished before the kill");
    let before = w.double.requests();
    let count_before = |method: &str, path: &str| {
        before
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    };
    let hub2 = "/apis/apps/v1/namespaces/nublado2/deployments/hub";
    let hub3 = "/apis/apps/v1/namespaces/nublado/deployments/hub";
    let flock_gets = count_before("GET", "/mobu/flocks/recommended");
    let hub_gets = count_before("GET", hub2);

    let r = w.exec(&["--resume", "--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("took over a stale lock"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("note: --resume continues the window of run ")
            && r.stderr
                .contains("was interrupted; steps it finished are not run again"),
        "{}",
        r.stderr
    );
    // The interrupted run's lease is taken over at once: it is known to be gone.
    assert!(
        r.stderr.contains("the run interrupted on this machine"),
        "{}",
        r.stderr
    );
    for id in &finished {
        assert!(
            r.stderr
                .contains(&format!("{id}: already done in this window (")),
            "{id}:\n{}",
            r.stderr
        );
    }
    assert_window_done(&w);
    // The finished steps made no call at all after the kill.
    let d = &w.double;
    assert_eq!(d.count("GET", "/mobu/flocks/recommended"), flock_gets);
    assert_eq!(d.count("GET", hub2), hub_gets);
    assert_eq!(d.count("DELETE", hub2), 1);
    assert_eq!(d.count("DELETE", hub3), 1);
    // The killed step ran again (it is idempotent); no finished step started twice.
    let events = w.events();
    for id in MAKE_DEFAULT {
        let starts = events
            .iter()
            .filter(|(e, s, _)| e == "start" && s == id)
            .count();
        let expected = if *id == "delete-lab-namespaces:nublado2" {
            2
        } else {
            1
        };
        assert_eq!(starts, expected, "{id}: {events:?}");
        let done = events
            .iter()
            .filter(|(e, s, o)| e == "end" && s == id && o == "done")
            .count();
        assert_eq!(done, 1, "{id}: {events:?}");
    }
    let report = w.report(&r);
    for id in &finished {
        assert!(
            report.contains(&format!("| `{id}` | already done |")),
            "{id}:\n{report}"
        );
    }
    w.assert_no_secrets();
}

#[test]
fn a_wrong_kube_context_stops_before_any_mutation() {
    let w = Window::new("make-default", "idfdev");
    w.write_kubeconfig(&["e2e-idfdev", "e2e-other"], "e2e-other");
    let r = w.exec(&["--yes", "--yes-manual"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "stopped before any change: the current kube context is `e2e-other`, but `idfdev` runs in `e2e-idfdev` (configured)"
        ),
        "{}",
        r.stderr
    );
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());
    assert_eq!(w.double.flocks().len(), 4);
    assert!(w.double.has_deployment("nublado2", "hub"));
    let events = w.events();
    assert!(events.is_empty(), "a step started: {events:?}");
    assert!(
        w.journal()
            .iter()
            .any(|e| e["event"] == "run-end" && e["result"] == "refused"),
        "{:?}",
        w.journal()
    );
    w.assert_no_secrets();
}

#[test]
fn a_failing_namespace_delete_and_a_busy_argocd_are_retried() {
    let w = Window::new("make-default", "idfdev");
    let d = &w.double;
    d.fail("DELETE", "/api/v1/namespaces/nublado2-alice", 500, 1);
    d.argocd_busy("nublado2", Duration::from_secs(4));
    let r = w.exec(&["--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_window_done(&w);
    // The 500 was retried, on that namespace only.
    assert_eq!(d.count("DELETE", "/api/v1/namespaces/nublado2-alice"), 2);
    assert_eq!(d.count("DELETE", "/api/v1/namespaces/nublado-bob"), 1);
    // The sync was refused while the other operation ran, then went through.
    assert!(
        d.count("POST", "/argo-cd/api/v1/applications/nublado2/sync") >= 2,
        "{:?}",
        w.mutations()
    );
    let events = w.events();
    assert!(
        events.iter().all(|(e, _, o)| e != "end" || o == "done"),
        "{events:?}"
    );
    w.assert_no_secrets();
}

#[test]
fn no_token_reaches_the_output_the_journal_or_the_report_of_a_failed_run() {
    // A run that fails (the mobu token is refused: Gafaelfawr redirects) and one that
    // resumes, with everything printed, journaled and reported scanned for the tokens.
    let w = Window::new("make-default", "idfdev");
    w.double.mobu_redirects(true);
    let r = w.exec(&["--yes", "--yes-manual"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("`stop-mobu-flocks` failed"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("report: "), "{}", r.stdout);
    w.double.mobu_redirects(false);
    let r = w.exec(&["--resume", "--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let dry = w.exec(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_window_done(&w);
    // The variables' names are shown, never their values.
    assert!(dry.stdout.contains("$E2E_ARGOCD_TOKEN"), "{}", dry.stdout);
    let reports = w
        .state_files()
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "md"))
        .count();
    assert_eq!(reports, 2);
    w.assert_no_secrets();
}

// ---------------------------------------------------------------------------------------------
// Proof before mutation: merged, the right cluster, alone; a person for manual steps.

#[test]
fn an_unmerged_stage_is_refused_before_any_call_and_allow_unmerged_rehearses() {
    // The stage's change is only in the local checkout: committed, not pushed.
    let w = Window::setup("make-default", "idfdev", false);
    let r = w.gm(&["apply", "nublado", "make-default", "--env", "idfdev"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    common::git::commit(w.repo.path(), "make-default for idfdev, not merged");
    w.double.clear_requests();

    let r = w.exec(&["--yes", "--yes-manual"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the change of `make-default` for `idfdev` is not on origin/main at {}: there `idfdev` is still `v3-beside`",
            &w.merged[..7]
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("the stage would still change applications/")
            && r.stderr.contains("--allow-unmerged runs anyway"),
        "{}",
        r.stderr
    );
    // Not a single call to the cluster or the services, and nothing written.
    assert!(w.double.requests().is_empty(), "{:?}", w.double.mutations());
    assert!(!w.journal_path().exists());
    assert_eq!(w.double.flocks().len(), 4);

    // A rehearsal runs, unpinned, and the journal and the report say so.
    let r = w.exec(&["--yes", "--yes-manual", "--allow-unmerged"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_window_done(&w);
    let report = w.report(&r);
    assert!(
        report.contains("# gitops-migrate exec nublado make-default --env idfdev --allow-unmerged")
            && report.contains("- note: --allow-unmerged: the change of `make-default` for `idfdev` is not on origin/main"),
        "{report}"
    );
    assert!(
        w.journal().iter().any(|e| e["event"] == "note"
            && e["text"]
                .as_str()
                .unwrap()
                .starts_with("--allow-unmerged: ")),
        "{:?}",
        w.journal()
    );
    for sync in w
        .double
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/sync"))
    {
        assert!(sync.json().get("revision").is_none(), "not pinned");
    }
    assert!(
        report.contains("(not pinned: --allow-unmerged)"),
        "{report}"
    );
}

#[test]
fn a_cluster_whose_fingerprint_differs_is_refused_before_any_change() {
    let w = Window::new("make-default", "idfdev");
    // The context now reaches a rebuilt (or another) cluster.
    let r = w.gm(&[
        "config",
        "set",
        "environments.idfdev.cluster_uid",
        "0a0b0c0d-0000-4000-8000-000000000001",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = w.exec(&["--yes", "--yes-manual"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "stopped before any change: environment `idfdev` was recorded as the cluster at {} with kube-system UID 0a0b0c0d-0000-4000-8000-000000000001, but context `e2e-idfdev` reaches {} with kube-system UID {}",
            w.double.url,
            w.double.url,
            w.double.kube_system_uid()
        )),
        "{}",
        r.stderr
    );
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());
    assert!(
        w.double
            .requests()
            .iter()
            .any(|r| r.path == "/api/v1/namespaces/kube-system"),
        "the fingerprint was read"
    );
    assert!(
        w.double
            .lease("default", "gitops-migrate-nublado-idfdev")
            .is_none()
    );
    assert!(
        w.journal()
            .iter()
            .any(|e| e["event"] == "run-end" && e["result"] == "refused")
    );
}

#[test]
fn a_cluster_seen_first_is_recorded_only_once_a_person_confirms() {
    let w = Window::new("make-default", "idfdev");
    let config = w.repo.path().join("gitops-migrate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let unrecorded: String = text
        .lines()
        .filter(|l| !l.starts_with("api_server") && !l.starts_with("cluster_uid"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, &unrecorded).unwrap();
    // --yes does not answer who the cluster is.
    let r = w.exec(&["--yes", "--only", "stop-mobu-flocks"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("environment `idfdev` has no recorded cluster and none was confirmed")
            && r.stderr.contains(&format!(
                "gitops-migrate config set environments.idfdev.cluster_uid {}",
                w.double.kube_system_uid()
            )),
        "{}",
        r.stderr
    );
    assert!(w.mutations().is_empty(), "{:?}", w.mutations());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), unrecorded);
    // --yes-manual does, recorded as such, and the fingerprint is written.
    let r = w.exec(&["--yes", "--yes-manual", "--only", "stop-mobu-flocks"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&format!("cluster_uid = \"{}\"", w.double.kube_system_uid()))
            && text.contains(&format!("api_server = \"{}\"", w.double.url)),
        "{text}"
    );
    assert!(
        w.journal()
            .iter()
            .any(|e| e["event"] == "confirm" && e["step"] == "proof" && e["by"] == "--yes-manual"),
        "{:?}",
        w.journal()
    );
    assert_eq!(w.double.flocks(), ["weekly"]);
}

#[test]
fn yes_never_answers_a_manual_step_yes_manual_does_and_says_so() {
    let w = Window::new("make-default", "idfdev");
    let r = w.exec(&["--yes"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("no terminal to ask for confirmation of `manual:test-lab` (--yes-manual)"),
        "{}",
        r.stderr
    );
    assert!(w.double.requests().is_empty(), "{:?}", w.mutations());
    assert!(!w.journal_path().exists());

    let r = w.exec(&["--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let confirms: Vec<(String, String)> = w
        .journal()
        .iter()
        .filter(|e| e["event"] == "confirm")
        .map(|e| {
            (
                e["step"].as_str().unwrap().to_string(),
                e["by"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        confirms.contains(&("manual:test-lab".into(), "--yes-manual".into()))
            && confirms.contains(&("stop-mobu-flocks".into(), "--yes".into()))
            && !confirms.contains(&("manual:test-lab".into(), "--yes".into())),
        "{confirms:?}"
    );
    let report = w.report(&r);
    assert!(
        report.contains("| `manual:test-lab` | done |")
            && report.contains("done by hand; auto-confirmed (--yes-manual)"),
        "{report}"
    );
}

#[test]
fn two_operators_one_cluster_one_proceeds_and_a_crashed_runs_lease_expires() {
    let w = Window::new("make-default", "idfdev");
    let r = w.gm(&["config", "set", "environments.idfdev.lease_seconds", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The first operator's window waits on the v2 hub's terminating pods.
    w.double.terminating_for(Duration::from_secs(30));
    let first = w.spawn_exec(&["--yes", "--yes-manual"]);
    let hub2 = "/apis/apps/v1/namespaces/nublado2/deployments/hub";
    let t0 = Instant::now();
    let holder = loop {
        if let Some(l) = w.double.lease("default", "gitops-migrate-nublado-idfdev")
            && let Some(h) = l["spec"]["holderIdentity"].as_str()
            && w.double.count("DELETE", hub2) == 1
        {
            break h.to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the first run never took the lease"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(holder.contains(" run "), "{holder}");

    // The second operator: another state directory (another laptop), same cluster.
    let other = tempfile::tempdir().unwrap();
    let args = w.exec_args_in(&["--yes", "--yes-manual"], other.path());
    let second = w.command(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr).into_owned();
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "stopped before any change: another operator is running a window on cluster `environment `idfdev``: the lease `default/gitops-migrate-nublado-idfdev` is held by {holder} since "
        )) && stderr.contains("running `nublado make-default --env idfdev`"),
        "{stderr}"
    );
    // The second made no change of its own.
    assert_eq!(w.double.count("DELETE", hub2), 1);
    assert_eq!(w.double.count("DELETE", "/mobu/flocks/recommended"), 1);
    assert_eq!(
        w.double
            .count("DELETE", "/api/v1/namespaces/nublado2-alice"),
        0
    );

    // The first run crashes (SIGKILL): its lease stays until it expires, then the second
    // operator proceeds.
    let mut first = first;
    first.kill().unwrap();
    first.wait().unwrap();
    w.double.terminating_for(Duration::from_millis(100));
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let out = w.command(&args).output().unwrap();
        if out.status.code() == Some(0) {
            break out;
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            err.contains("another operator is running a window"),
            "{err}"
        );
        assert!(
            Instant::now() < deadline,
            "the crashed run's lease never expired"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(
        stderr.contains(&format!(
            "the lease of environment `idfdev` was taken over from {holder}, whose run stopped renewing it (it had expired)"
        )),
        "{stderr}"
    );
    assert_window_done(&w);
    let lease = w
        .double
        .lease("default", "gitops-migrate-nublado-idfdev")
        .unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released: {lease}"
    );
}

/// Runs `command` under a pseudo-terminal (`script`), its output piped through `tee` into
/// `log` and its stdin from /dev/null: what an operator logging a window does. `answers` are
/// typed on the terminal.
fn on_a_terminal(w: &Window, args: &[String], log: &Path, answers: &str) -> (i32, String) {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let inner = format!(
        "'{}' -C '{}' --color never {} </dev/null 2>&1 | tee '{}'",
        env!("CARGO_BIN_EXE_gitops-migrate"),
        w.repo.path().display(),
        quoted.join(" "),
        log.display()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .env("KUBECONFIG", w.kube.path().join("config"))
        .env(ARGOCD_VAR, ARGOCD_TOKEN)
        .env(MOBU_VAR, MOBU_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // Typed once the question is on the terminal.
        let t0 = Instant::now();
        while !std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("kube context")
        {
            assert!(t0.elapsed() < Duration::from_secs(60), "no question came");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(answers.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = child.wait_with_output().unwrap();
    let tty = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), tty)
}

#[test]
fn questions_go_to_the_terminal_so_a_teed_window_still_asks_a_person() {
    let w = Window::new("make-default", "idfdev");
    let log = w.state.path().join("window.log");
    let args = w.exec_args(&["--only", "stop-mobu-flocks"]);
    let (code, tty) = on_a_terminal(&w, &args, &log, "y\n");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, 0, "tty:\n{tty}\nlog:\n{logged}");
    // The question was on the terminal; the log has it with the person's answer.
    assert!(
        tty.contains("`stop-mobu-flocks` (stop mobu's autostart flocks so the outage raises no alarms) will touch 3 objects"),
        "{tty}"
    );
    assert!(
        logged.contains("Proceed? yes (answered on the terminal)"),
        "{logged}"
    );
    assert_eq!(w.double.flocks(), ["weekly"]);
    assert!(
        w.journal().iter().any(|e| e["event"] == "confirm"
            && e["step"] == "stop-mobu-flocks"
            && e["by"] == "operator"
            && e["answer"] == true),
        "{:?}",
        w.journal()
    );
    let report = std::fs::read_to_string(
        logged
            .lines()
            .find_map(|l| l.trim_end_matches('\r').strip_prefix("report: "))
            .unwrap(),
    )
    .unwrap();
    assert!(
        report.contains("| `stop-mobu-flocks` | done |")
            && report.contains("; confirmed by the operator |"),
        "{report}"
    );
}

/// Starts `make-default` and returns once it waits for the v2 hub's pods to go (they stay
/// `Terminating` until the test says otherwise).
fn run_until_the_labs_wait(w: &Window) -> Child {
    w.double.terminating_for(Duration::from_secs(600));
    let mut child = w.spawn_exec(&["--yes", "--yes-manual"]);
    let t0 = Instant::now();
    loop {
        let events = w.events();
        let waiting = events
            .iter()
            .any(|(e, s, _)| e == "start" && s == "delete-hub-deployment:nublado2");
        if waiting
            && w.double.count(
                "DELETE",
                "/apis/apps/v1/namespaces/nublado2/deployments/hub",
            ) == 1
        {
            // A few polls of the wait.
            std::thread::sleep(Duration::from_millis(300));
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended before the signal: {status} {events:?}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the run never reached the hub's wait: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child, not yet reaped.
    let r = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(r, 0);
}

/// Waits for the child at most `limit`, killing it past that.
fn finish(w: &Window, mut child: Child, limit: Duration) -> (Option<i32>, String, String) {
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            child.kill().unwrap();
            panic!("the run did not stop within {limit:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    w.printed.borrow_mut().push(stdout.clone());
    w.printed.borrow_mut().push(stderr.clone());
    (out.status.code(), stdout, stderr)
}

#[test]
fn sigint_during_a_wait_records_the_interruption_releases_everything_and_resume_continues() {
    let w = Window::new("make-default", "idfdev");
    let child = run_until_the_labs_wait(&w);
    let t0 = Instant::now();
    signal(&child, libc::SIGINT);
    let (code, stdout, stderr) = finish(&w, child, Duration::from_secs(20));
    // It stops at the wait's next poll, not at the wait's end (600 s away).
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted: stopping at the next safe point"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "interrupted (SIGINT) at `delete-hub-deployment:nublado2`: the journal and the report record it, the lock and the leases are released; continue with --resume"
        ),
        "{stderr}"
    );
    // The journal: the step and the run ended as interrupted.
    let journal = w.journal();
    let end = journal
        .iter()
        .rfind(|e| e["event"] == "end")
        .expect("an end entry");
    assert_eq!(end["step"], "delete-hub-deployment:nublado2", "{end}");
    assert_eq!(end["outcome"], "interrupted", "{end}");
    let run_end = journal.last().unwrap();
    assert_eq!(run_end["event"], "run-end", "{run_end}");
    assert_eq!(run_end["result"], "interrupted", "{run_end}");
    // The report says so.
    let report = w.report(&Ran {
        code: 1,
        stdout: stdout.clone(),
        stderr: stderr.clone(),
    });
    assert!(
        report.contains(
            "interrupted (SIGINT) at `delete-hub-deployment:nublado2`; continue with --resume"
        ),
        "{report}"
    );
    assert!(
        report.contains("| `delete-hub-deployment:nublado2` | interrupted |"),
        "{report}"
    );
    // The lock and the lease are free.
    assert!(
        !w.journal_path().with_extension("lock").exists(),
        "the lock was not released"
    );
    let lease = w
        .double
        .lease("default", "gitops-migrate-nublado-idfdev")
        .expect("the lease object");
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");

    // --resume continues: the finished steps are not run again, the interrupted one is.
    w.double.terminating_for(Duration::from_millis(100));
    let r = w.exec(&["--resume", "--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("took over a stale lock"), "{}", r.stderr);
    assert!(
        r.stderr.contains("its last run (") && r.stderr.contains(") ended `interrupted`"),
        "{}",
        r.stderr
    );
    for id in &MAKE_DEFAULT[..1] {
        assert!(
            r.stderr
                .contains(&format!("{id}: already done in this window (")),
            "{id}:\n{}",
            r.stderr
        );
    }
    assert_window_done(&w);
    w.assert_no_secrets();
}

/// Starts `make-default` and returns once `restore-mobu` waits for mobu's rollout (which
/// never finishes until the test says otherwise).
fn run_until_the_rollout_wait(w: &Window) -> Child {
    w.double.rollout_for(Duration::from_secs(600));
    let mut child = w.spawn_exec(&["--yes", "--yes-manual"]);
    let t0 = Instant::now();
    loop {
        let events = w.events();
        let waiting = events
            .iter()
            .any(|(e, s, _)| e == "start" && s == "restore-mobu");
        if waiting
            && w.double
                .count("PATCH", "/apis/apps/v1/namespaces/mobu/deployments/mobu")
                >= 1
        {
            // A few polls of the rollout wait.
            std::thread::sleep(Duration::from_millis(300));
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended before the signal: {status} {events:?}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the run never reached the rollout wait: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_during_a_rollout_wait_records_the_interruption_releases_everything_and_resume_continues()
{
    let w = Window::new("make-default", "idfdev");
    let child = run_until_the_rollout_wait(&w);
    let t0 = Instant::now();
    signal(&child, libc::SIGINT);
    let (code, stdout, stderr) = finish(&w, child, Duration::from_secs(20));
    // It stops at the rollout wait's next poll, not at the wait's end.
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "interrupted (SIGINT) at `restore-mobu`: the journal and the report record it, the lock and the leases are released; continue with --resume"
        ),
        "{stderr}"
    );
    let journal = w.journal();
    let end = journal
        .iter()
        .rfind(|e| e["event"] == "end")
        .expect("an end entry");
    assert_eq!(end["step"], "restore-mobu", "{end}");
    assert_eq!(end["outcome"], "interrupted", "{end}");
    let run_end = journal.last().unwrap();
    assert_eq!(run_end["event"], "run-end", "{run_end}");
    assert_eq!(run_end["result"], "interrupted", "{run_end}");
    let report = w.report(&Ran {
        code: 1,
        stdout: stdout.clone(),
        stderr: stderr.clone(),
    });
    assert!(
        report.contains("interrupted (SIGINT) at `restore-mobu`; continue with --resume"),
        "{report}"
    );
    assert!(
        report.contains("| `restore-mobu` | interrupted |"),
        "{report}"
    );
    assert!(
        !w.journal_path().with_extension("lock").exists(),
        "the lock was not released"
    );
    let lease = w
        .double
        .lease("default", "gitops-migrate-nublado-idfdev")
        .expect("the lease object");
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");

    // --resume continues with restore-mobu; every step before it is already done.
    w.double.rollout_for(Duration::from_millis(200));
    let r = w.exec(&["--resume", "--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("took over a stale lock"), "{}", r.stderr);
    for id in &MAKE_DEFAULT[..MAKE_DEFAULT.len() - 1] {
        assert!(
            r.stderr
                .contains(&format!("{id}: already done in this window (")),
            "{id}:\n{}",
            r.stderr
        );
    }
    assert_window_done(&w);
    w.assert_no_secrets();
}

#[test]
fn a_second_sigint_during_a_rollout_wait_exits_at_once_and_the_next_run_takes_over() {
    let w = Window::new("make-default", "idfdev");
    let child = run_until_the_rollout_wait(&w);
    // Every API call now takes a while: the run is still stopping when the second signal
    // comes.
    w.double.latency(Duration::from_millis(700));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(150));
    let t0 = Instant::now();
    signal(&child, libc::SIGINT);
    let (code, stdout, stderr) = finish(&w, child, Duration::from_secs(5));
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "interrupted again: exiting now; the next run takes over the lock (--resume continues)"
        ),
        "{stderr}"
    );
    w.double.latency(Duration::ZERO);
    w.double.rollout_for(Duration::from_millis(200));
    let r = w.exec(&["--resume", "--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("took over a stale lock"), "{}", r.stderr);
    assert_window_done(&w);
}

#[test]
fn a_second_sigint_exits_at_once_and_the_next_run_takes_over() {
    let w = Window::new("make-default", "idfdev");
    let child = run_until_the_labs_wait(&w);
    // Every API call now takes a while: the run is still stopping (its last poll, the lease's
    // release) when the second signal comes.
    w.double.latency(Duration::from_millis(700));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(150));
    let t0 = Instant::now();
    signal(&child, libc::SIGINT);
    let (code, stdout, stderr) = finish(&w, child, Duration::from_secs(5));
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "interrupted again: exiting now; the next run takes over the lock (--resume continues)"
        ),
        "{stderr}"
    );
    w.double.latency(Duration::ZERO);
    w.double.terminating_for(Duration::from_millis(100));
    let r = w.exec(&["--resume", "--yes", "--yes-manual"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("took over a stale lock"), "{}", r.stderr);
    assert_window_done(&w);
}

/// mobu behind a site CA: the environment's `mobu_ca_file` in the tool's configuration file
/// makes its TLS verify (the flocks are stopped on the HTTPS double); without it, the run
/// fails naming mobu and the certificate, and nothing is stopped.
#[test]
fn a_services_ca_file_from_the_configuration_reaches_it_over_tls() {
    let w = Window::new("make-default", "idfdev");
    let site = Platform::start_tls();
    for flock in ["recommended", "nublado3", "tap", "weekly"] {
        site.add_flock(flock);
    }
    let ca = w.state.path().join("site-ca.pem");
    std::fs::write(&ca, site.ca_pem.as_deref().unwrap()).unwrap();
    let r = w.gm(&[
        "config",
        "set",
        "environments.idfdev.mobu_url",
        &site.mobu_url(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(site.mobu_url().starts_with("https://127.0.0.1:"));

    // Without the CA: the system's trust store does not know the site's CA.
    let r = w.exec(&["--only", "stop-mobu-flocks", "--yes"]);
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("mobu") && r.stderr.contains("certificate"),
        "{}",
        r.stderr
    );
    assert_eq!(site.flocks(), ["nublado3", "recommended", "tap", "weekly"]);

    // With `mobu_ca_file`: the same run reaches mobu and stops its autostart flocks.
    let r = w.gm(&[
        "config",
        "set",
        "environments.idfdev.mobu_ca_file",
        ca.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = w.exec(&["--only", "stop-mobu-flocks", "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(site.flocks(), ["weekly"]);
    assert!(site.count("DELETE", "/mobu/flocks/tap") >= 1);
    // A CA file that is not PEM is refused naming the setting's file.
    let bad = w.state.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let r = w.gm(&[
        "config",
        "set",
        "environments.idfdev.mobu_ca_file",
        bad.to_str().unwrap(),
    ]);
    let r = if r.code == 0 {
        w.exec(&["--only", "stop-mobu-flocks", "--yes"])
    } else {
        r
    };
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not-a-ca.pem"), "{}", r.stderr);
    w.assert_no_secrets();
}
