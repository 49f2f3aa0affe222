//! `exec hub-move` end to end: the built binary moves hub `prod` from cluster `temple` to
//! `newcluster` of a temporary copy of `fixtures/infrastructure`, with
//!
//! - two Kubernetes API doubles (`tests/it/support`), one per cluster, each its own kube context;
//! - the stand-in `kubectl` of `tests/standins/kubectl` first on `PATH`, serving each
//!   namespace's PVC `hub-db-dir` from a temporary directory;
//! - real sqlite databases (made and checked with the `sqlite3` CLI), real rsync between
//!   local home directories, and the system resolver (the hub's domain is set to `localhost`).
//!
//! The database step's two cases (a good database copied and checked, a corrupt one refused
//! before anything reaches the new hub), the whole cutover window, the setup window, and the
//! DNS step's wait (with a resolver double, at library level).

use crate::support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gitops_migrate::playbook::Step;
use gitops_migrate::runtime::clients::{KubeClient, Resolver};
use gitops_migrate::runtime::steps::{self, MoveEnv, Side, StepEnv, Timing};
use gitops_migrate::runtime::{Action, StepRunner};
use support::{KUBE_TOKEN, Platform, Recorder};

use crate::common;
use common::{copy_dir, tree};

const SRC_CTX: &str = "temple-admin";
const TGT_CTX: &str = "newcluster-admin";
/// The new hub's pod in the target double (`add_deployment` names pods `<name>-7d9f8c-<i>`).
const NEW_HUB_POD: &str = "hub-7d9f8c-0";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gitops-migrate"))
}

fn sqlite(db: &Path, sql: &str) -> String {
    let o = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 is installed (scripts/test installs it)");
    assert!(
        o.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A hub database with `users` rows (JupyterHub's table, reduced to what the checks read).
fn hub_db(path: &Path, users: &[&str]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut sql = String::from(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(255) UNIQUE, admin BOOLEAN, last_activity DATETIME);",
    );
    for (i, u) in users.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO users VALUES ({}, '{u}', 0, '2026-11-20 10:00:00');",
            i + 1
        ));
    }
    // Enough rows to span several pages, so a damaged page is caught.
    sql.push_str("CREATE TABLE oauth_codes (id INTEGER PRIMARY KEY, code TEXT);");
    sql.push_str(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 400) \
         INSERT INTO oauth_codes SELECT i, hex(randomblob(64)) FROM n;",
    );
    sqlite(path, &sql);
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A move in progress: the repository (setup applied and merged: pushed to its bare `origin`),
/// the two clusters (each recorded with its fingerprint), the homes, the stand-in's files and
/// the state directory.
struct Move {
    repo: tempfile::TempDir,
    work: tempfile::TempDir,
    source: Platform,
    target: Platform,
}

impl Move {
    fn new() -> Move {
        Move::with_setup(true)
    }

    /// With the setup applied in the checkout; merged (pushed to `origin`) or not.
    fn with_setup(merged: bool) -> Move {
        Move::with_setup_after(merged, |_| {})
    }

    /// The same, with `edit` applied to the repository before the setup.
    fn with_setup_after(merged: bool, edit: impl Fn(&Path)) -> Move {
        let repo = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/infrastructure"),
            repo.path(),
        );
        let work = tempfile::tempdir().unwrap();
        let m = Move {
            repo,
            work,
            source: Platform::start(),
            target: Platform::start(),
        };
        // The hub's domain resolves through /etc/hosts, to the target's ingress below.
        let r = m.gm(&[
            "edit",
            "set",
            "config/clusters/temple/cluster.yaml",
            "hubs[name=prod].domain",
            "localhost",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        // The hosts its values file hard-codes follow (`infra-domain-mismatch`).
        let values = m
            .repo
            .path()
            .join("config/clusters/temple/prod.values.yaml");
        let text = std::fs::read_to_string(&values).unwrap();
        std::fs::write(&values, text.replace("temple.2i2c.cloud", "localhost")).unwrap();
        edit(m.repo.path());
        let origin = m.work.path().join("origin.git");
        if !merged {
            common::git::publish(m.repo.path(), &origin);
        }
        let r = m.gm(&[
            "apply",
            "hub-move",
            "setup",
            "--hub",
            "prod",
            "--from",
            "temple",
            "--to",
            "newcluster",
            "--temp-domain",
            "next.temple.2i2c.cloud",
        ]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        if merged {
            common::git::publish(m.repo.path(), &origin);
        }

        let w = m.work.path();
        write(
            &w.join("kube/config"),
            &format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: {SRC_CTX}\nclusters:\n  - name: temple\n    cluster:\n      server: {}\n  - name: newcluster\n    cluster:\n      server: {}\ncontexts:\n  - name: {SRC_CTX}\n    context:\n      cluster: temple\n      user: admin\n  - name: {TGT_CTX}\n    context:\n      cluster: newcluster\n      user: admin\nusers:\n  - name: admin\n    user:\n      token: {KUBE_TOKEN}\n",
                m.source.url, m.target.url
            ),
        );
        write(
            &m.repo.path().join("gitops-migrate.toml"),
            &format!(
                "[clusters.temple]\ncontext = \"{SRC_CTX}\"\nhomes = \"{}\"\npoll_interval_ms = 20\napi_server = \"{}\"\ncluster_uid = \"{}\"\n\n[clusters.newcluster]\ncontext = \"{TGT_CTX}\"\nhomes = \"{}\"\napi_server = \"{}\"\ncluster_uid = \"{}\"\n",
                w.join("nfs-temple").display(),
                m.source.url,
                m.source.kube_system_uid(),
                w.join("nfs-newcluster").display(),
                m.target.url,
                m.target.kube_system_uid(),
            ),
        );
        // Home directories of the old hub (and another hub's, never touched).
        for (rel, text) in [
            ("nfs-temple/prod/alice/notebook.ipynb", "{\"cells\": []}\n"),
            ("nfs-temple/prod/alice/data/results.csv", "a,b\n1,2\n"),
            ("nfs-temple/prod/user-402i2c-2eorg/.bashrc", "export A=1\n"),
            ("nfs-temple/prod/_shared/course/README.md", "# Course\n"),
            ("nfs-temple/staging/carol/x.txt", "staging\n"),
        ] {
            write(&w.join(rel), text);
        }
        // The clusters: the old hub running with users; the new hub deployed (setup).
        let s = &m.source;
        s.add_namespace("prod", &[]);
        s.add_deployment("prod", "hub", 1, &[("component", "hub")]);
        s.add_service("prod", "proxy-public", Some("203.0.113.9"), None);
        s.add_pod(
            "prod",
            "jupyter-alice",
            &[("component", "singleuser-server")],
        );
        s.add_pod(
            "prod",
            "jupyter-user-402i2c-2eorg",
            &[("component", "singleuser-server")],
        );
        s.add_pod(
            "prod",
            "jupyterhub-groups-exporter-5b7c9",
            &[("app", "jupyterhub-groups-exporter")],
        );
        let t = &m.target;
        t.add_namespace("prod", &[]);
        t.add_deployment("prod", "hub", 1, &[("component", "hub")]);
        t.add_service("support", "cluster-entrypoint", Some("127.0.0.1"), None);
        // The stand-in kubectl's view: each namespace's hub-db-dir and its pods.
        let k = w.join("kubectl");
        hub_db(
            &k.join(SRC_CTX).join("prod/hub-db-dir/jupyterhub.sqlite"),
            &["alice", "user@2i2c.org", "admin"],
        );
        write(
            &k.join(SRC_CTX).join("prod/hub-db-dir/jupyterhub.log"),
            "[I 2026-11-20 hub] started\n",
        );
        std::fs::create_dir_all(k.join(SRC_CTX).join("prod/pods")).unwrap();
        hub_db(
            &k.join(TGT_CTX).join("prod/hub-db-dir/jupyterhub.sqlite"),
            &[],
        );
        write(&k.join(TGT_CTX).join("prod/pods").join(NEW_HUB_POD), "");
        m
    }

    fn kubectl_root(&self) -> PathBuf {
        self.work.path().join("kubectl")
    }

    fn volume(&self, ctx: &str) -> PathBuf {
        self.kubectl_root().join(ctx).join("prod/hub-db-dir")
    }

    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.kubectl_root().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The writes into the volumes, with the hub's Deployment as the double saw it then.
    fn writes(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.kubectl_root().join("writes.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn state(&self) -> PathBuf {
        self.work.path().join("state")
    }

    fn gm(&self, args: &[&str]) -> Ran {
        let standins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins");
        let path = format!(
            "{}:{}",
            standins.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(bin())
            .arg("-C")
            .arg(self.repo.path())
            .args(["--color", "never"])
            .args(args)
            .env("PATH", path)
            .env("KUBECONFIG", self.work.path().join("kube/config"))
            .env("STANDIN_KUBECTL_ROOT", self.kubectl_root())
            .env(
                "STANDIN_KUBECTL_SERVERS",
                serde_json::json!({SRC_CTX: self.source.url, TGT_CTX: self.target.url}).to_string(),
            )
            .env("STANDIN_KUBE_TOKEN", KUBE_TOKEN)
            .env_remove("KUBECTL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn exec(&self, stage: &str, extra: &[&str]) -> Ran {
        let state = self.state().display().to_string();
        let mut args = vec![
            "exec",
            "hub-move",
            stage,
            "--hub",
            "prod",
            "--from",
            "temple",
            "--to",
            "newcluster",
            "--state-dir",
            &state,
        ];
        args.extend_from_slice(extra);
        self.gm(&args)
    }

    /// The run's copies of the databases.
    fn backups(&self) -> PathBuf {
        self.state()
            .join("runs/hub-move/cutover/prod.temple.to.newcluster-backups/hub-db")
    }
}

#[test]
fn the_cutover_window_moves_the_hub_end_to_end() {
    let m = Move::new();
    let before = std::fs::read(m.volume(SRC_CTX).join("jupyterhub.sqlite")).unwrap();

    // A dry run touches nothing and names every step's objects and commands.
    let dry = m.exec("cutover", &["--dry-run"]);
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    for expected in [
        "delete-proxy-public",
        "service/prod/proxy-public",
        "kubectl --context temple-admin --namespace prod delete svc proxy-public",
        "stop-old-hub",
        "kubectl --context temple-admin --namespace prod scale deployment hub --replicas=0",
        "copy-hub-db",
        "deployment/prod/hub (stopped while its database is replaced, then 1 replica)",
        "kubectl --context newcluster-admin --namespace prod scale deployment hub --replicas=0",
        "pvc/prod/hub-db-dir:/srv/jupyterhub/jupyterhub.sqlite",
        "delete-user-pods",
        "pod/prod/jupyter-alice",
        "sync-homes:final",
        "update-dns",
        "manual:restore-login-client",
    ] {
        assert!(dry.stdout.contains(expected), "{expected}:\n{}", dry.stdout);
    }
    // The final copy's command, with the default number of workers: one per core, at most 4.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let again = format!("--parallel {workers} --again");
    assert!(dry.stdout.contains(&again), "{again}:\n{}", dry.stdout);
    assert!(
        !dry.stdout.contains("jupyterhub-groups-exporter"),
        "{}",
        dry.stdout
    );
    assert!(m.source.has_service("prod", "proxy-public"));
    assert!(m.calls().is_empty(), "a dry run runs no kubectl");
    assert!(m.source.mutations().is_empty() && m.target.mutations().is_empty());

    m.target.clear_requests();
    // The last step is the login client's restoration, which a person confirms. The wait for
    // the deploy (`https://<domain>/hub/health`) is left out here: no hub answers the fixture's
    // domain; `wait_deployed_waits_for_the_final_domain_with_a_valid_certificate` tests it.
    let r = m.exec(
        "cutover",
        &["--yes", "--yes-manual", "--skip", "wait-deployed"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // The old hub: offline, stopped, its users' pods gone (and only those).
    assert!(!m.source.has_service("prod", "proxy-public"));
    assert_eq!(m.source.deployment_replicas("prod", "hub"), Some(0));
    let left = m.source.pod_names("prod");
    assert_eq!(left, vec!["jupyterhub-groups-exporter-5b7c9".to_string()]);

    // The database: copied byte for byte, the old one untouched, the new hub's own saved.
    let moved = std::fs::read(m.volume(TGT_CTX).join("jupyterhub.sqlite")).unwrap();
    assert_eq!(moved, before);
    assert_eq!(
        std::fs::read(m.volume(SRC_CTX).join("jupyterhub.sqlite")).unwrap(),
        before
    );
    assert_eq!(
        sqlite(
            &m.volume(TGT_CTX).join("jupyterhub.sqlite"),
            "SELECT name FROM users ORDER BY id;"
        ),
        "alice\nuser@2i2c.org\nadmin\n"
    );
    assert!(m.volume(TGT_CTX).join("jupyterhub.log").is_file());
    assert!(
        !m.volume(TGT_CTX)
            .join("jupyterhub.sqlite.incoming")
            .exists()
    );
    let saved_first = files_in(&m.backups().join("target"));
    assert_eq!(saved_first.len(), 1, "{saved_first:?}");
    assert_eq!(
        sqlite(&saved_first[0], "SELECT count(*) FROM users;").trim(),
        "0",
        "the new hub's own database is kept"
    );
    use std::os::unix::fs::PermissionsExt;
    for f in [
        &m.backups().join("source/jupyterhub.sqlite"),
        &saved_first[0],
    ] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", f.display());
    }
    let dir_mode = std::fs::metadata(m.backups().join("source"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    // The helper pods: the old hub's PVC read-only, the new hub's writable; both deleted.
    let applied = |ctx: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(
                m.kubectl_root()
                    .join(ctx)
                    .join("prod/applied-gitops-migrate-hub-db.json"),
            )
            .unwrap(),
        )
        .unwrap()
    };
    let claim = &applied(SRC_CTX)["spec"]["volumes"][0]["persistentVolumeClaim"];
    assert_eq!(claim["claimName"], "hub-db-dir");
    assert_eq!(claim["readOnly"], true);
    let claim = &applied(TGT_CTX)["spec"]["volumes"][0]["persistentVolumeClaim"];
    assert_eq!(claim["claimName"], "hub-db-dir");
    assert_eq!(claim["readOnly"], false);
    for ctx in [SRC_CTX, TGT_CTX] {
        assert!(
            !m.kubectl_root()
                .join(ctx)
                .join("prod/pods/gitops-migrate-hub-db")
                .exists()
        );
    }
    // Every kubectl call named its context and namespace.
    for call in m.calls() {
        assert!(call.contains(&"--context".to_string()), "{call:?}");
        assert!(call.contains(&"--namespace".to_string()), "{call:?}");
    }
    assert_new_hub_was_stopped_while_written(&m);

    // The home directories: identical, the other hub's untouched.
    let w = m.work.path();
    assert_eq!(
        tree(&w.join("nfs-temple/prod")),
        tree(&w.join("nfs-newcluster/prod"))
    );
    assert!(!w.join("nfs-newcluster/staging").exists());

    // The summary of the database step, in the report.
    let report = report_of(&r);
    assert!(
        report.contains("3 users") && report.contains("integrity ok"),
        "{report}"
    );
    assert!(
        report.contains("already the ingress of `newcluster`"),
        "{report}"
    );

    // A week later the cutover is run again, as a new window: a home file changed in the
    // source, and an admin added a user to the old hub's database meanwhile.
    write(
        &w.join("nfs-temple/prod/alice/notebook.ipynb"),
        "{\"cells\": [1]}\n",
    );
    write(&w.join("nfs-temple/prod/alice/new.txt"), "new\n");
    sqlite(
        &m.volume(SRC_CTX).join("jupyterhub.sqlite"),
        "INSERT INTO users VALUES (4, 'bob', 0, '2026-11-27 10:00:00');",
    );
    std::fs::remove_file(m.kubectl_root().join("writes.log")).unwrap();
    m.target.clear_requests();
    let again = m.exec(
        "cutover",
        &["--yes", "--yes-manual", "--skip", "wait-deployed"],
    );
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    // The changed and new files arrive.
    assert_eq!(
        std::fs::read_to_string(w.join("nfs-newcluster/prod/alice/notebook.ipynb")).unwrap(),
        "{\"cells\": [1]}\n"
    );
    assert_eq!(
        std::fs::read_to_string(w.join("nfs-newcluster/prod/alice/new.txt")).unwrap(),
        "new\n"
    );
    // The database is copied again, after a question that says it was copied before.
    assert!(
        again
            .stderr
            .contains("replaces the database copied into the new hub at ")
            && again
                .stderr
                .contains("in an earlier window: the new hub may have served users since"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("Proceed? yes (--yes)"),
        "{}",
        again.stderr
    );
    assert_eq!(
        sqlite(
            &m.volume(TGT_CTX).join("jupyterhub.sqlite"),
            "SELECT name FROM users ORDER BY id;"
        ),
        "alice\nuser@2i2c.org\nadmin\nbob\n"
    );
    // What the new hub had is saved again, in a file of its own.
    let saved = files_in(&m.backups().join("target"));
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert_new_hub_was_stopped_while_written(&m);
    let journal = std::fs::read_to_string(
        m.state()
            .join("runs/hub-move/cutover/prod.temple.to.newcluster.jsonl"),
    )
    .unwrap();
    let windows: std::collections::BTreeSet<String> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "run-start")
        .map(|e| e["window"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(windows.len(), 2, "two windows: {journal}");
    assert!(
        journal.contains(r#""event":"checkpoint""#) && journal.contains(r#""item":"alice""#),
        "the copied directories are checkpoints of the runbook's journal"
    );
    assert!(
        !m.state().join("runs/sync-homes").exists(),
        "one journal: the hub move keeps no journal of its own"
    );
}

/// Every write into the new hub's volume happened while its Deployment was at 0 replicas and
/// no hub pod was left; the hub was scaled to 0 and back, and is ready again.
fn assert_new_hub_was_stopped_while_written(m: &Move) {
    let writes: Vec<serde_json::Value> = m
        .writes()
        .into_iter()
        .filter(|w| w["context"] == TGT_CTX)
        .collect();
    assert!(writes.len() >= 3, "{writes:?}");
    for w in &writes {
        assert_eq!(w["hub_replicas"], 0, "{w}");
        assert_eq!(w["hub_pods"], serde_json::json!([]), "{w}");
    }
    let scales: Vec<serde_json::Value> = m
        .target
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "PATCH" && r.path == "/apis/apps/v1/namespaces/prod/deployments/hub"
        })
        .map(|r| r.json()["spec"]["replicas"].clone())
        .collect();
    assert_eq!(scales, [serde_json::json!(0), serde_json::json!(1)]);
    assert_eq!(m.target.deployment_replicas("prod", "hub"), Some(1));
    assert_eq!(
        m.target.pod_names("prod").len(),
        1,
        "the new hub runs again"
    );
}

fn report_of(r: &Ran) -> String {
    let path = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    std::fs::read_to_string(path).unwrap()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_new_hub_that_cannot_start_again_fails_the_copy_at_once_with_the_controllers_reason() {
    let m = Move::new();
    let r = m.exec("cutover", &["--only", "stop-old-hub", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The new hub's image is broken: scaled back up, it never becomes available and the
    // Deployment controller reports ProgressDeadlineExceeded.
    m.target.break_rollouts("prod", "hub");
    let r = m.exec("cutover", &["--only", "copy-hub-db", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "the rollout of Deployment `hub` in namespace `prod` failed: ReplicaSet \"hub-"
        ) && r.stderr.contains(
            "has timed out progressing. (condition Progressing: ProgressDeadlineExceeded;"
        ),
        "{}",
        r.stderr
    );
    // Not retried: one scale to 0 and one back.
    let scales = m
        .target
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "PATCH" && r.path == "/apis/apps/v1/namespaces/prod/deployments/hub"
        })
        .count();
    assert_eq!(scales, 2);
}

#[test]
fn a_corrupt_database_is_refused_before_the_new_hub_is_touched() {
    let m = Move::new();
    // The old hub is stopped; its database file is damaged in the middle.
    let r = m.exec("cutover", &["--only", "stop-old-hub", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let db = m.volume(SRC_CTX).join("jupyterhub.sqlite");
    let mut bytes = std::fs::read(&db).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid - 2048..mid + 2048] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let target_before = std::fs::read(m.volume(TGT_CTX).join("jupyterhub.sqlite")).unwrap();

    let r = m.exec("cutover", &["--only", "copy-hub-db", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("refused: the copy of the old hub's database is not sound"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("nothing was copied into the new hub"),
        "{}",
        r.stderr
    );
    // Nothing reached the new hub: no call in its context, its file and Deployment unchanged.
    assert!(
        m.calls().iter().all(|c| !c.contains(&TGT_CTX.to_string())),
        "{:?}",
        m.calls()
    );
    assert_eq!(
        std::fs::read(m.volume(TGT_CTX).join("jupyterhub.sqlite")).unwrap(),
        target_before
    );
    assert!(m.target.deployment_annotations("prod", "hub").is_empty());
    // The helper pod is gone even though the step failed.
    assert!(
        !m.kubectl_root()
            .join(SRC_CTX)
            .join("prod/pods/gitops-migrate-hub-db")
            .exists()
    );
}

#[test]
fn the_database_is_not_copied_while_the_old_hub_runs() {
    let m = Move::new();
    let r = m.exec("cutover", &["--only", "copy-hub-db", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("the old hub still runs") && r.stderr.contains("stop-old-hub"),
        "{}",
        r.stderr
    );
    assert!(m.calls().is_empty(), "{:?}", m.calls());
}

#[test]
fn the_setup_window_copies_the_homes_and_asks_for_the_manual_steps() {
    let m = Move::new();
    // A file only in the target survives the initial copy (no deletion).
    write(
        &m.work
            .path()
            .join("nfs-newcluster/prod/alice/only-in-target.txt"),
        "new\n",
    );
    let r = m.exec("setup", &["--yes-manual"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let w = m.work.path();
    let mut expected = tree(&w.join("nfs-temple/prod"));
    expected.insert("alice/only-in-target.txt".into(), b"new\n".to_vec());
    assert_eq!(tree(&w.join("nfs-newcluster/prod")), expected);
    assert!(
        r.stderr.contains(
            "Done by hand: deploy the new hub: `deployer deploy newcluster prod`, then log in to it? yes (--yes-manual)"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("Done by hand: check the Grafana dashboards of `newcluster`?"),
        "{}",
        r.stderr
    );
    // Nothing was asked of the clusters.
    assert!(m.source.mutations().is_empty() && m.target.mutations().is_empty());
}

#[test]
fn hub_move_exec_refuses_what_does_not_apply() {
    let m = Move::new();
    // Options of the nublado playbook are not options of hub-move: clap refuses them.
    for (option, value) in [("--env", "idfdev"), ("--context", "x")] {
        let r = m.exec("cutover", &[option, value]);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr
                .contains(&format!("unexpected argument '{option}' found")),
            "{}",
            r.stderr
        );
    }
    let r = m.exec("cutovr", &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("did you mean `cutover`"), "{}", r.stderr);
    let r = m.gm(&[
        "exec", "hub-move", "cutover", "--hub", "prod", "--from", "temple",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("required arguments were not provided")
            && r.stderr.contains("--to <CLUSTER>"),
        "{}",
        r.stderr
    );
    // decommission before cutover: the old entry is still there.
    let r = m.exec("decommission", &["--dry-run"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("needs `cutover` first"), "{}", r.stderr);
}

// --- the DNS step, with a resolver double -------------------------------------------------

/// Answers from a script: the domain's addresses change after `flip` lookups.
#[derive(Debug)]
struct Script {
    lookups: Mutex<u32>,
    flip: u32,
    before: Vec<IpAddr>,
    after: Vec<IpAddr>,
    names: BTreeMap<String, Vec<IpAddr>>,
}

impl Resolver for Script {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Some(ips) = self.names.get(host) {
            return Ok(ips.clone());
        }
        let mut n = self.lookups.lock().unwrap();
        *n += 1;
        Ok(if *n > self.flip {
            self.after.clone()
        } else {
            self.before.clone()
        })
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn dns_step(target: &Platform, resolver: Arc<Script>) -> Box<dyn StepRunner> {
    let env = StepEnv {
        name: "prod".into(),
        timing: Timing {
            poll: Duration::from_millis(10),
            dns: Duration::from_secs(5),
            ..Timing::default()
        },
        hub_move: Some(MoveEnv {
            target: Side {
                cluster: "newcluster".into(),
                namespace: "prod".into(),
                context: Some(TGT_CTX.into()),
                kube: Some(Arc::new(KubeClient::with_token(
                    &target.url,
                    Some(KUBE_TOKEN.into()),
                ))),
                homes: None,
            },
            domain: "hub.example.org".into(),
            resolver: Some(resolver),
            ..MoveEnv::default()
        }),
        ..StepEnv::default()
    };
    steps::build(&Step::new("update-dns", "point the domain"), &env).unwrap()
}

#[test]
fn update_dns_prints_the_a_record_and_waits_until_it_resolves_there() {
    let target = Platform::start();
    target.add_service("support", "cluster-entrypoint", Some("198.51.100.7"), None);
    let script = Arc::new(Script {
        lookups: Mutex::new(0),
        flip: 4,
        before: vec![ip("203.0.113.9")],
        after: vec![ip("198.51.100.7")],
        names: BTreeMap::new(),
    });
    let step = dns_step(&target, script.clone());
    let mut op = Recorder::yes();
    let preview = step.preview(&mut op).unwrap();
    assert!(
        preview
            .commands
            .iter()
            .any(|c| c == "(at the DNS provider) hub.example.org. 300 IN A 198.51.100.7"),
        "{:?}",
        preview.commands
    );
    let out = step.run(&preview, &mut op).unwrap();
    assert!(
        out.summary.contains("resolves to 198.51.100.7"),
        "{}",
        out.summary
    );
    assert_eq!(
        op.questions.len(),
        1,
        "the operator confirms the record is set"
    );
    assert!(
        op.said[0].contains("hub.example.org. 300 IN A 198.51.100.7"),
        "{:?}",
        op.said
    );
    assert!(
        op.progress.iter().any(|p| p.3.contains("203.0.113.9")),
        "progress shows what it resolves to meanwhile: {:?}",
        op.progress
    );
    assert!(*script.lookups.lock().unwrap() > 4);
}

#[test]
fn update_dns_uses_a_cname_for_a_hostname_and_the_older_service_name() {
    let target = Platform::start();
    let elb = "a1b2.elb.us-west-2.amazonaws.com";
    target.add_service(
        "support",
        "support-ingress-nginx-controller",
        None,
        Some(elb),
    );
    let script = Arc::new(Script {
        lookups: Mutex::new(0),
        flip: 0,
        before: vec![],
        after: vec![ip("192.0.2.20"), ip("192.0.2.21")],
        names: BTreeMap::from([(elb.to_string(), vec![ip("192.0.2.21"), ip("192.0.2.22")])]),
    });
    let step = dns_step(&target, script);
    let mut op = Recorder::yes();
    let preview = step.preview(&mut op).unwrap();
    // Already resolving to the load balancer: nothing to do.
    match &preview.action {
        Action::Skip { reason } => assert!(
            reason.contains("hub.example.org. 300 IN CNAME a1b2.elb.us-west-2.amazonaws.com."),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn update_dns_gives_up_after_its_time_with_the_record_to_check() {
    let target = Platform::start();
    target.add_service("support", "cluster-entrypoint", Some("198.51.100.7"), None);
    let script = Arc::new(Script {
        lookups: Mutex::new(0),
        flip: u32::MAX,
        before: vec![ip("203.0.113.9")],
        after: vec![],
        names: BTreeMap::new(),
    });
    let step = dns_step(&target, script);
    let mut op = Recorder::yes();
    let preview = step.preview(&mut op).unwrap();
    let start = std::time::Instant::now();
    let e = step.run(&preview, &mut op).unwrap_err();
    assert!(start.elapsed() >= Duration::from_secs(5));
    assert!(
        e.message
            .contains("hub.example.org resolves to 203.0.113.9")
            && e.message.contains("--resume polls again"),
        "{}",
        e.message
    );
}

#[test]
fn update_dns_without_an_ingress_says_what_is_missing() {
    let target = Platform::start();
    let script = Arc::new(Script {
        lookups: Mutex::new(0),
        flip: 0,
        before: vec![],
        after: vec![],
        names: BTreeMap::new(),
    });
    let step = dns_step(&target, script);
    let e = step.preview(&mut Recorder::yes()).unwrap_err();
    assert!(
        e.message
            .contains("no ingress Service in namespace `support`")
            && e.message
                .contains("cluster-entrypoint or support-ingress-nginx-controller"),
        "{}",
        e.message
    );
}

// --- proof before mutation -------------------------------------------------------------------

#[test]
fn a_cutover_before_the_setup_is_merged_is_refused_before_any_call() {
    // The setup is applied in the checkout only: origin's main does not list the new hub.
    let m = Move::with_setup(false);
    let r = m.exec("cutover", &["--yes", "--yes-manual"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "the `setup` of hub `prod` is not merged: `config/clusters/newcluster/cluster.yaml` has no hub `prod` there on origin/main at "
        ),
        "{}",
        r.stderr
    );
    assert!(m.source.requests().is_empty(), "{:?}", m.source.mutations());
    assert!(m.target.requests().is_empty(), "{:?}", m.target.mutations());
    assert!(m.calls().is_empty(), "{:?}", m.calls());
    assert!(m.source.has_service("prod", "proxy-public"));
}

#[test]
fn two_contexts_that_reach_the_same_cluster_are_refused_before_any_change() {
    let m = Move::new();
    // Both contexts point at the source cluster's API server.
    let config = m.work.path().join("kube/config");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(&m.target.url, &m.source.url)).unwrap();
    let r = m.exec("cutover", &["--yes", "--yes-manual"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "stopped before any change: cluster `temple` and cluster `newcluster` are the same cluster ({}, kube-system UID {})",
            m.source.url,
            m.source.kube_system_uid()
        )),
        "{}",
        r.stderr
    );
    assert!(
        m.source.mutations().is_empty(),
        "{:?}",
        m.source.mutations()
    );
    assert!(m.target.requests().is_empty());
    assert!(m.calls().is_empty());
    assert!(m.source.has_service("prod", "proxy-public"));
}

#[test]
fn the_cutover_takes_a_lease_in_each_cluster_and_frees_them() {
    let m = Move::new();
    let r = m.exec("cutover", &["--only", "delete-proxy-public", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for (cluster, double) in [("temple", &m.source), ("newcluster", &m.target)] {
        let lease = double
            .lease(
                "default",
                "gitops-migrate-hub-move-prod-temple-to-newcluster",
            )
            .unwrap_or_else(|| panic!("no lease in {cluster}"));
        assert!(
            lease["spec"]["holderIdentity"].is_null(),
            "released: {lease}"
        );
        assert_eq!(
            lease["metadata"]["annotations"]["gitops-migrate/command"],
            "hub-move cutover --hub prod --from temple --to newcluster --only delete-proxy-public"
        );
        assert!(
            r.stderr.contains(&format!(
                "note: cluster `{cluster}` is the recorded cluster: {}",
                double.url
            )),
            "{}",
            r.stderr
        );
    }
    // The lease was taken before the first change.
    let requests = m.source.requests();
    let lease = requests
        .iter()
        .position(|r| r.path.contains("/leases"))
        .unwrap();
    let delete = requests.iter().position(|r| r.method == "DELETE").unwrap();
    assert!(lease < delete);
}

/// `wait-deployed` and `check-old-down` of a cutover on the doubles: the health endpoint of
/// the final domain over TLS, the old hub's namespace in the source.
fn end_step(
    id: &str,
    source: Option<&Platform>,
    health: Option<Arc<dyn gitops_migrate::runtime::clients::HealthApi>>,
    wait: Duration,
) -> Box<dyn StepRunner> {
    let env = StepEnv {
        name: "prod".into(),
        timing: Timing {
            poll: Duration::from_millis(20),
            ..Timing::default()
        },
        hub_move: Some(MoveEnv {
            source: Side {
                cluster: "temple".into(),
                namespace: "prod".into(),
                context: Some(SRC_CTX.into()),
                kube: source.map(|s| {
                    Arc::new(KubeClient::with_token(&s.url, Some(KUBE_TOKEN.into())))
                        as Arc<dyn gitops_migrate::runtime::clients::KubeApi>
                }),
                homes: None,
            },
            domain: "prod.example.org".into(),
            health,
            deploy_wait: wait,
            ..MoveEnv::default()
        }),
        ..StepEnv::default()
    };
    steps::build(&Step::new(id, id), &env).unwrap_or_else(|e| panic!("{e}"))
}

fn health_of(p: &Platform, trusted: bool) -> Arc<dyn gitops_migrate::runtime::clients::HealthApi> {
    use gitops_migrate::runtime::clients::HealthClient;
    let mut agent = HealthClient::agent();
    if trusted {
        agent = agent
            .ca_pem(p.ca_pem.as_ref().unwrap().as_bytes(), "the double's CA")
            .unwrap();
    }
    Arc::new(HealthClient::with_http(&p.url, agent.build()))
}

/// After `update-dns`, the cutover waits until the merged change is deployed: the final
/// domain answers `/hub/health` with 200 over a certificate that verifies (503 while the new
/// hub is not there yet), with progress; an answer over a certificate that does not verify is
/// not the new hub served, and the wait ends at its limit saying what it last saw.
#[test]
fn wait_deployed_waits_for_the_final_domain_with_a_valid_certificate() {
    let p = Platform::start_tls();
    p.require_tokens(false);
    p.route_healthy_after("", Duration::from_millis(400));
    let step = end_step(
        "wait-deployed",
        None,
        Some(health_of(&p, true)),
        Duration::from_secs(20),
    );
    let mut op = Recorder::yes();
    let preview = step.preview(&mut op).unwrap();
    assert!(
        preview.commands[0].starts_with("curl -fsS https://127.0.0.1:"),
        "{preview:?}"
    );
    let out = step.run(&preview, &mut op).unwrap();
    assert!(
        out.summary
            .contains("answered 200 with a certificate that verifies"),
        "{}",
        out.summary
    );
    assert!(
        op.said
            .iter()
            .any(|s| s.contains("merge the cutover's change now")),
        "{:?}",
        op.said
    );
    assert!(
        op.progress
            .iter()
            .any(|(s, _, _, m)| s == "wait-deployed" && m.contains("503")),
        "{:?}",
        op.progress
    );
    assert!(p.count("GET", "/hub/health") >= 2);

    // A certificate that does not verify: not served yet, however the hub answers.
    let p = Platform::start_tls();
    p.require_tokens(false);
    p.route_status("", 200);
    let step = end_step(
        "wait-deployed",
        None,
        Some(health_of(&p, false)),
        Duration::from_millis(400),
    );
    let mut op = Recorder::yes();
    let preview = step.preview(&mut op).unwrap();
    let e = step.run(&preview, &mut op).unwrap_err();
    assert!(
        e.message.contains("prod.example.org is not served yet")
            && e.message.to_lowercase().contains("certificate"),
        "{}",
        e.message
    );
    assert_eq!(p.count("GET", "/hub/health"), 0, "no answer was accepted");
}

/// `check-old-down`: the old hub stays down after the deploy, or the step says it came back.
#[test]
fn check_old_down_fails_when_a_deploy_brought_the_old_hub_back() {
    let s = Platform::start();
    s.add_namespace("prod", &[]);
    s.add_deployment("prod", "hub", 0, &[("component", "hub")]);
    let step = end_step("check-old-down", Some(&s), None, Duration::ZERO);
    let mut op = Recorder::yes();
    let preview = step.preview(&mut op).unwrap();
    let out = step.run(&preview, &mut op).unwrap();
    assert!(out.summary.contains("still down"), "{}", out.summary);
    assert!(s.mutations().is_empty(), "reads only");

    // A deploy of the source re-created `proxy-public` and scaled the hub up.
    s.add_service("prod", "proxy-public", Some("203.0.113.9"), None);
    s.add_deployment("prod", "hub", 1, &[("component", "hub")]);
    let e = step.run(&preview, &mut op).unwrap_err();
    assert!(
        e.message.contains("the old hub in `temple` is up again")
            && e.message
                .contains("Service `prod/proxy-public` exists again")
            && e.message.contains("Deployment `prod/hub` has 1 replicas"),
        "{}",
        e.message
    );
}

/// A hub on jupyterhub-home-nfs: the setup window copies its homes with `transfer-homes`
/// (`--transfer-key` of `exec`), whose preview names the host keys' read, the Service (with
/// `--transfer-allow`'s ranges), the sidecar and the rsync, never the key; without the key a
/// real run stops at the step, saying what to pass, and leaves no Service behind.
#[test]
fn the_setup_window_of_a_hub_on_home_nfs_transfers_its_homes() {
    let m = Move::with_setup_after(true, |repo| {
        let values = repo.join("config/clusters/temple/prod.values.yaml");
        let text = std::fs::read_to_string(&values).unwrap();
        std::fs::write(
            &values,
            format!("{text}jupyterhub-home-nfs:\n  enabled: true\n"),
        )
        .unwrap();
    });
    let key = m.work.path().join("hub-move-prod");
    write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretkeymaterial0123456789\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    let key_arg = key.display().to_string();
    let allow = [
        "--transfer-allow",
        "203.0.113.0/24",
        "--transfer-allow",
        "2001:db8::/32",
    ];
    let dry = m.exec(
        "setup",
        &[&["--dry-run", "--transfer-key", &key_arg][..], &allow].concat(),
    );
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    for expected in [
        "transfer-homes",
        "kubectl --context newcluster-admin --namespace prod exec <app=nfs-server pod> -c home-transfer -- cat /config/ssh_host_keys/ssh_host_*_key.pub (the host keys the copy accepts; else /etc/ssh/…)",
        "service/prod/gitops-migrate-home-transfer (LoadBalancer reachable only from 203.0.113.0/24, 2001:db8::/32, deleted after the copy)",
        r#""loadBalancerSourceRanges":["203.0.113.0/24","2001:db8::/32"]"#,
        "kubectl --context temple-admin --namespace prod exec -i <app=nfs-server pod> -c home-transfer -- rsync -aHAX --numeric-ids --partial /export/prod/ root@<load balancer>:/export/prod/ (ssh with StrictHostKeyChecking=yes against those host keys; the private key on standard input)",
        "kubectl --context newcluster-admin --namespace prod delete service gitops-migrate-home-transfer",
    ] {
        assert!(dry.stdout.contains(expected), "{expected}:\n{}", dry.stdout);
    }
    assert!(!dry.stdout.contains("sync-homes"), "{}", dry.stdout);
    assert!(!format!("{}{}", dry.stdout, dry.stderr).contains("secretkeymaterial"));
    assert!(m.target.mutations().is_empty() && m.calls().is_empty());

    // Without the key: the step stops before creating anything, saying what to pass. The
    // report's command reproduces the run, the ranges with it.
    let r = m.exec("setup", &[&["--yes", "--yes-manual"][..], &allow].concat());
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let report = report_of(&r);
    assert!(
        report.contains("--transfer-allow 203.0.113.0/24 --transfer-allow 2001:db8::/32"),
        "{report}"
    );
    assert!(
        format!("{}{}", r.stdout, r.stderr)
            .contains("needs the private key of the transfer: pass --transfer-key FILE"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(!m.target.has_service("prod", "gitops-migrate-home-transfer"));
    assert!(
        m.target.service_log().is_empty(),
        "{:?}",
        m.target.service_log()
    );
}
