//! The home directories of a hub on jupyterhub-home-nfs, moved end to end by the
//! `transfer-homes` step through the engine (journal, report), with
//!
//! - two Kubernetes API doubles (`tests/it/support`), the target's assigning the transfer's
//!   LoadBalancer Service an address in its status a while after it is created;
//! - the stand-in `kubectl` of `tests/standins/kubectl` as the operator's kubectl: its
//!   `exec -i` runs the command here, which makes this machine the source's `home-transfer`
//!   sidecar (its `/export` a temporary directory), and records every call's argv;
//! - a real `sshd` (`sync_homes_ssh::Sshd`) as the destination's sidecar: its authorized key
//!   has a forced command that maps `/export` to another temporary directory, as the
//!   destination pod's volume; real `rsync` and `ssh` between the two. The stand-in's plain
//!   `exec` in the destination pod reads that sshd's host key (at the sidecar's
//!   `/config/ssh_host_keys`), which the copy then requires.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use gitops_migrate::playbook::Step;
use gitops_migrate::retry::RetryPolicy;
use gitops_migrate::runtime::clients::{KubeClient, Kubectl};
use gitops_migrate::runtime::engine::{self, ExecOptions, RunStatus};
use gitops_migrate::runtime::journal::Journal;
use gitops_migrate::runtime::steps::{self, MoveEnv, Side, StepEnv, Timing};

use crate::common::tree;
use crate::support::{KUBE_TOKEN, Platform, Recorder};
use crate::sync_homes_ssh::Sshd;

const SRC_CTX: &str = "gcp-a-admin";
const TGT_CTX: &str = "aws-b-admin";
const SERVICE: &str = "gitops-migrate-home-transfer";

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn executable(path: &Path, text: &str) {
    write(path, text);
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn user() -> String {
    let o = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

struct Transfer {
    work: tempfile::TempDir,
    sshd: Sshd,
    source: Platform,
    target: Platform,
}

impl Transfer {
    fn new() -> Transfer {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        // The destination's sidecar: what rsync asks for under /export lands in its volume.
        fs::create_dir_all(w.join("target-volume/export")).unwrap();
        let forced = w.join("target-sidecar.sh");
        executable(
            &forced,
            &format!(
                "#!/bin/sh\nexec sh -c \"$(printf '%s' \"$SSH_ORIGINAL_COMMAND\" | sed 's#/export/#{}/export/#g')\"\n",
                w.join("target-volume").display()
            ),
        );
        sshd.authorize_with(&format!("command=\"{}\"", forced.display()));
        // The source's sidecar (this machine, through the stand-in's `exec -i`).
        let pod = w
            .join("kubectl")
            .join(SRC_CTX)
            .join("research/pods/nfs-7c9d8-0");
        write(&pod, "");
        for (rel, text) in [
            ("alice/notebook.ipynb", "{\"cells\": []}\n"),
            ("alice/data/results.csv", "a,b\n1,2\n"),
            ("user-402i2c-2eorg/.bashrc", "export A=1\n"),
            ("_shared/course/README.md", "# Course\n"),
        ] {
            write(&Transfer::source_homes_in(w).join(rel), text);
        }
        // The destination's sidecar as `kubectl exec` sees it: the pod, and its sshd's host key.
        write(
            &w.join("kubectl")
                .join(TGT_CTX)
                .join("research/pods/nfs-5b6c7-0"),
            "",
        );
        write(&Transfer::host_key_file_in(w), &sshd.host_public_key());
        // The sidecar's temporary folder (the script's `mktemp` of the key): checked empty.
        fs::create_dir_all(w.join("kubectl/tmp")).unwrap();
        let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins/kubectl");
        executable(
            &w.join("kubectl.sh"),
            &format!(
                "#!/bin/sh\nTMPDIR='{}' STANDIN_KUBECTL_ROOT='{}' exec '{}' \"$@\"\n",
                w.join("kubectl/tmp").display(),
                w.join("kubectl").display(),
                standin.display()
            ),
        );
        let source = Platform::start();
        source.add_namespace("research", &[]);
        source.add_pod("research", "nfs-7c9d8-0", &[("app", "nfs-server")]);
        source.add_pod("research", "hub-5d7f-0", &[("component", "hub")]);
        let target = Platform::start();
        target.add_namespace("research", &[]);
        target.add_pod("research", "nfs-5b6c7-0", &[("app", "nfs-server")]);
        target.load_balancer(Some("127.0.0.1"), false, Duration::from_millis(300));
        Transfer {
            work,
            sshd,
            source,
            target,
        }
    }

    fn source_homes_in(w: &Path) -> PathBuf {
        w.join("kubectl")
            .join(SRC_CTX)
            .join("research/export/research")
    }

    /// The destination sidecar's host key, as its `kubectl exec` reads it.
    fn host_key_file_in(w: &Path) -> PathBuf {
        w.join("kubectl")
            .join(TGT_CTX)
            .join("research/rootfs/config/ssh_host_keys/ssh_host_ed25519_key.pub")
    }

    fn source_homes(&self) -> PathBuf {
        Transfer::source_homes_in(self.work.path())
    }

    fn target_homes(&self) -> PathBuf {
        self.work.path().join("target-volume/export/research")
    }

    fn key(&self) -> String {
        fs::read_to_string(self.sshd.client_key()).unwrap()
    }

    /// The lines of the private key that would give it away.
    fn key_lines(&self) -> Vec<String> {
        self.key()
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_string)
            .collect()
    }

    fn side(cluster: &str, ctx: &str, p: &Platform) -> Side {
        Side {
            cluster: cluster.into(),
            namespace: "research".into(),
            context: Some(ctx.into()),
            kube: Some(Arc::new(KubeClient::with_token(
                &p.url,
                Some(KUBE_TOKEN.into()),
            ))),
            homes: None,
        }
    }

    /// Runs the step through the engine; the run's status, the journal's text, the report
    /// and what the operator was told.
    fn run(&self, id: &str) -> (RunStatus, String, String, Recorder) {
        self.run_with(id, |_| {})
    }

    /// The same, with the move's settings changed by `change`.
    fn run_with(
        &self,
        id: &str,
        change: impl FnOnce(&mut MoveEnv),
    ) -> (RunStatus, String, String, Recorder) {
        let w = self.work.path();
        let mut env = StepEnv {
            name: "research".into(),
            timing: Timing {
                poll: Duration::from_millis(20),
                ..Timing::default()
            },
            hub_move: Some(MoveEnv {
                source: Transfer::side("gcp-a", SRC_CTX, &self.source),
                target: Transfer::side("aws-b", TGT_CTX, &self.target),
                kubectl: Some(Arc::new(Kubectl::new(w.join("kubectl.sh")))),
                transfer_key: Some(self.sshd.client_key()),
                transfer_user: user(),
                transfer_port: self.sshd.port,
                ..MoveEnv::default()
            }),
            ..StepEnv::default()
        };
        change(env.hub_move.as_mut().unwrap());
        let step = steps::build(&Step::new(id, "copy the home directories"), &env)
            .unwrap_or_else(|e| panic!("{e}"));
        let path = w.join(format!("{id}.jsonl"));
        let mut journal = Journal::open(&path).unwrap();
        let opts = ExecOptions {
            yes: true,
            write_report: false,
            // A step that may heal is tried again briefly (a second, not minutes).
            retry: RetryPolicy {
                first: Duration::from_millis(20),
                max_pause: Duration::from_millis(100),
                budget: Duration::from_secs(1),
                jitter: true,
                tries: None,
            },
            ..Default::default()
        };
        let mut op = Recorder::yes();
        let report = engine::run(vec![step], &opts, &mut journal, &mut op).unwrap();
        let md = gitops_migrate::runtime::report::markdown(&report);
        (report.status, fs::read_to_string(&path).unwrap(), md, op)
    }

    fn calls(&self) -> String {
        fs::read_to_string(self.work.path().join("kubectl/calls.log")).unwrap_or_default()
    }

    /// The `exec -i` calls (the copies started in the source's sidecar).
    fn copies(&self) -> usize {
        self.calls()
            .lines()
            .filter(|l| l.contains("\"-i\""))
            .count()
    }

    fn assert_no_key(&self, what: &str, text: &str) {
        for l in self.key_lines() {
            assert!(!text.contains(&l), "the private key is in {what}:\n{text}");
        }
    }
}

#[test]
fn transfer_homes_copies_between_the_sidecars_with_the_key_on_standard_input_only() {
    let t = Transfer::new();
    let (status, journal, report, op) = t.run("transfer-homes");
    assert_eq!(status, RunStatus::Completed, "{report}\n{:?}", op.said);

    // The files arrived, as they are.
    assert_eq!(tree(&t.source_homes()), tree(&t.target_homes()));
    assert_eq!(t.sshd.logins(), 1, "{}", t.sshd.log_text());

    // The LoadBalancer Service: created for the copy, with the sidecar's port, and deleted.
    assert_eq!(
        t.target.service_log(),
        [
            format!("POST research/{SERVICE}"),
            format!("DELETE research/{SERVICE}")
        ]
    );
    assert!(!t.target.has_service("research", SERVICE));
    let created = t
        .target
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/api/v1/namespaces/research/services")
        .unwrap()
        .json();
    assert_eq!(created["spec"]["type"], "LoadBalancer");
    assert_eq!(created["spec"]["selector"]["app"], "nfs-server");
    assert_eq!(created["spec"]["ports"][0]["targetPort"], 2222);
    assert_eq!(
        created["metadata"]["labels"]["app.kubernetes.io/component"],
        "home-transfer"
    );
    assert!(
        created["spec"].get("loadBalancerSourceRanges").is_none(),
        "{created}"
    );
    assert!(
        op.said
            .iter()
            .any(|s| s.contains("reachable from anywhere (no --transfer-allow)")),
        "{:?}",
        op.said
    );
    assert!(
        t.source.service_log().is_empty(),
        "nothing exposed in the source"
    );

    // First the destination sidecar's host key, read through the target's kubectl; then rsync
    // in the source's sidecar through `kubectl exec -i`, each naming its context.
    let calls = t.calls();
    let exec: Vec<serde_json::Value> = calls
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exec.len(), 2, "{calls}");
    let read: Vec<String> = serde_json::from_value(exec[0].clone()).unwrap();
    for w in [
        TGT_CTX,
        "exec",
        "nfs-5b6c7-0",
        "home-transfer",
        "/config/ssh_host_keys",
    ] {
        assert!(read.iter().any(|a| a == w), "{w} in {read:?}");
    }
    assert!(!read.iter().any(|a| a == "-i"), "{read:?}");
    let argv: Vec<String> = serde_json::from_value(exec[1].clone()).unwrap();
    // The host key it accepts is the one read, and no other is accepted.
    let pinned = t.sshd.host_public_key();
    let pinned: Vec<&str> = pinned.split_whitespace().take(2).collect();
    assert!(argv.iter().any(|a| a == &pinned.join(" ")), "{argv:?}");
    assert!(
        argv.iter()
            .any(|a| a.contains("StrictHostKeyChecking=yes")
                && !a.contains("StrictHostKeyChecking=no")),
        "{argv:?}"
    );
    for w in [
        "--context",
        SRC_CTX,
        "exec",
        "-i",
        "nfs-7c9d8-0",
        "home-transfer",
        "/export/research/",
    ] {
        assert!(argv.iter().any(|a| a == w), "{w} in {argv:?}");
    }
    assert!(
        argv.iter()
            .any(|a| a == &format!("{}@127.0.0.1:/export/research/", user())),
        "{argv:?}"
    );

    // Progress came per file, and the key is nowhere: not in any argv, the journal, the
    // report, or what the operator was told.
    assert!(
        op.progress
            .iter()
            .any(|(s, _, total, m)| s == "transfer-homes"
                && *total > 0
                && m.contains("notebook.ipynb")),
        "{:?}",
        op.progress
    );
    t.assert_no_key("the kubectl calls' argv", &calls);
    t.assert_no_key("the journal", &journal);
    t.assert_no_key("the report", &report);
    t.assert_no_key(
        "the operator's messages",
        &format!("{:?}{:?}", op.said, op.progress),
    );
    assert!(report.contains("copied"), "{report}");
    // No file holding the key was left in the source's sidecar.
    let left: Vec<_> = walkdir::WalkDir::new(t.work.path().join("kubectl"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| fs::read_to_string(e.path()).is_ok_and(|s| s.contains("PRIVATE KEY")))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let tmp: Vec<_> = fs::read_dir(t.work.path().join("kubectl/tmp"))
        .unwrap()
        .collect();
    assert!(
        tmp.is_empty(),
        "the key file stayed in the sidecar: {tmp:?}"
    );
}

/// A copy that fails (the destination refuses) fails the step, and the Service is deleted
/// all the same; the failure's text holds no key.
#[test]
fn a_failed_transfer_still_deletes_the_service() {
    let t = Transfer::new();
    t.sshd
        .authorize_with("command=\"echo refused >&2; exit 3\"");
    let (status, journal, report, op) = t.run("transfer-homes:final");
    match &status {
        RunStatus::Failed { error, .. } => {
            assert!(
                error.contains("rsync in the `home-transfer` sidecar"),
                "{error}"
            );
            t.assert_no_key("the error", error);
            // The kubectl call is named with its script shortened, not spelled out.
            let shortened = error
                .split_once(" -- sh -c <")
                .and_then(|(_, rest)| rest.split_once(" lines> transfer "))
                .is_some_and(|(n, _)| n.parse::<usize>().is_ok_and(|n| n > 10));
            assert!(shortened, "{error}");
            for script in ["mktemp", "StrictHostKeyChecking", "known_hosts"] {
                assert!(!error.contains(script), "{script} in {error}");
            }
        }
        other => panic!("{other:?}\n{report}"),
    }
    assert_eq!(
        t.target.service_log(),
        [
            format!("POST research/{SERVICE}"),
            format!("DELETE research/{SERVICE}")
        ]
    );
    assert!(!t.target.has_service("research", SERVICE));
    assert!(
        op.said.iter().any(|s| s.contains("deleted Service")),
        "{:?}",
        op.said
    );
    t.assert_no_key("the journal", &journal);
    t.assert_no_key("the report", &report);
    assert!(!t.target_homes().join("alice/notebook.ipynb").exists());
}

/// A cluster that never gives the load balancer an address: the step gives up with a clear
/// message and deletes the Service.
#[test]
fn a_load_balancer_without_an_address_is_reported_and_removed() {
    let t = Transfer::new();
    t.target.load_balancer(None, false, Duration::ZERO);
    let w = t.work.path();
    let env = StepEnv {
        name: "research".into(),
        timing: Timing {
            poll: Duration::from_millis(20),
            ..Timing::default()
        },
        hub_move: Some(MoveEnv {
            source: Transfer::side("gcp-a", SRC_CTX, &t.source),
            target: Transfer::side("aws-b", TGT_CTX, &t.target),
            kubectl: Some(Arc::new(Kubectl::new(w.join("kubectl.sh")))),
            transfer_key: Some(t.sshd.client_key()),
            transfer_user: user(),
            transfer_port: t.sshd.port,
            transfer_address_wait: Duration::from_millis(300),
            ..MoveEnv::default()
        }),
        ..StepEnv::default()
    };
    let step = steps::build(&Step::new("transfer-homes", "copy"), &env).unwrap();
    let mut op = Recorder::yes();
    let preview = step.preview(&mut op).unwrap();
    // Without --transfer-allow, the preview says the load balancer is open to any address.
    let touches = format!("{:?}", preview.action);
    assert!(
        touches.contains("(LoadBalancer reachable from anywhere, deleted after the copy)"),
        "{touches}"
    );
    let e = step.run(&preview, &mut op).unwrap_err();
    assert!(
        e.message.contains("has no load balancer address"),
        "{}",
        e.message
    );
    assert!(!t.target.has_service("research", SERVICE));
    assert_eq!(t.copies(), 0, "no copy started: {}", t.calls());
}

/// A destination that answers with another host key than the one its sidecar has (something
/// else at the load balancer's address): the copy is refused by ssh, the step says why, and
/// nothing is copied; the Service goes all the same.
#[test]
fn a_destination_with_another_host_key_gets_nothing() {
    let t = Transfer::new();
    let other = tempfile::tempdir().unwrap();
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "other", "-f"])
        .arg(other.path().join("key"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::copy(
        other.path().join("key.pub"),
        Transfer::host_key_file_in(t.work.path()),
    )
    .unwrap();
    let (status, _, report, op) = t.run("transfer-homes");
    match &status {
        RunStatus::Failed { error, .. } => {
            assert!(
                error.contains("did not show the host key of the `home-transfer` sidecar of pod `research/nfs-5b6c7-0`")
                    && error.contains("nothing was copied"),
                "{error}"
            );
            assert!(error.contains("Host key verification failed"), "{error}");
            assert!(!error.contains("REMOTE HOST IDENTIFICATION"), "{error}");
        }
        other => panic!("{other:?}\n{report}"),
    }
    assert!(!t.target_homes().exists() || tree(&t.target_homes()).is_empty());
    assert_eq!(t.sshd.logins(), 0, "{}", t.sshd.log_text());
    assert!(!t.target.has_service("research", SERVICE));
    assert!(
        op.said.iter().any(|s| s.contains("deleted Service")),
        "{:?}",
        op.said
    );
}

/// A destination sidecar without a readable host key: the step stops before anything is
/// exposed or copied, saying so.
#[test]
fn a_sidecar_without_a_host_key_stops_before_anything_is_exposed() {
    let t = Transfer::new();
    fs::remove_file(Transfer::host_key_file_in(t.work.path())).unwrap();
    let (status, _, report, _) = t.run("transfer-homes");
    match &status {
        RunStatus::Failed { error, .. } => {
            assert!(
                error.contains("cannot read the sshd host key of the `home-transfer` sidecar of pod `research/nfs-5b6c7-0`")
                    && error.contains("no readable ssh_host_*_key.pub in ")
                    && error.contains("config/ssh_host_keys")
                    && error.contains("Nothing was exposed or copied"),
                "{error}"
            );
        }
        other => panic!("{other:?}\n{report}"),
    }
    assert!(
        t.target.service_log().is_empty(),
        "{:?}",
        t.target.service_log()
    );
    assert_eq!(t.copies(), 0, "{}", t.calls());
    // A sidecar still starting may make its keys later: the read is tried again.
    let reads = t.calls().matches("ssh_host_keys").count();
    assert!(
        reads > 1,
        "the host keys were read {reads} times:\n{}",
        t.calls()
    );

    // A file that is not a public key is refused at once.
    write(
        &Transfer::host_key_file_in(t.work.path()),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    let (status, _, report, _) = t.run("transfer-homes");
    match &status {
        RunStatus::Failed { error, .. } => {
            assert!(
                error.contains("host key read from the `home-transfer` sidecar")
                    && error.contains("unusable")
                    && !error.contains("b3Blbn"),
                "{error}"
            );
        }
        other => panic!("{other:?}\n{report}"),
    }
    assert!(t.target.service_log().is_empty());
}

/// `--transfer-allow`: the Service admits only those ranges, and the step says so.
#[test]
fn the_service_admits_only_the_allowed_ranges() {
    let t = Transfer::new();
    let (status, _, report, op) = t.run_with("transfer-homes", |mv| {
        mv.transfer_allow = vec!["127.0.0.0/8".into(), "2001:db8::/32".into()];
    });
    assert_eq!(status, RunStatus::Completed, "{report}\n{:?}", op.said);
    let created = t
        .target
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/api/v1/namespaces/research/services")
        .unwrap()
        .json();
    assert_eq!(
        created["spec"]["loadBalancerSourceRanges"],
        serde_json::json!(["127.0.0.0/8", "2001:db8::/32"])
    );
    assert!(
        op.said
            .iter()
            .any(|s| s.contains("is reachable only from 127.0.0.0/8, 2001:db8::/32")),
        "{:?}",
        op.said
    );
    assert!(!op.said.iter().any(|s| s.contains("from anywhere")));
}

/// A Service of the transfer's name that someone else made (other labels, another selector)
/// is neither used nor deleted: the step stops, naming it. One of ours left by an earlier
/// run is taken over.
#[test]
fn a_service_of_that_name_that_is_not_ours_is_left_alone() {
    let t = Transfer::new();
    t.target.add_service_with(
        "research",
        SERVICE,
        serde_json::json!({"app": "someone-else"}),
        serde_json::json!({"type": "LoadBalancer", "selector": {"app": "nfs-server"}}),
    );
    // With an address: taken over, it would get the homes.
    t.target
        .set_service_address("research", SERVICE, "127.0.0.1");
    let (status, _, report, _) = t.run("transfer-homes");
    match &status {
        RunStatus::Failed { error, .. } => {
            assert!(
                error.contains(&format!(
                    "Service `{SERVICE}` already exists in namespace `research` and is not the one to create"
                )),
                "{error}"
            );
        }
        other => panic!("{other:?}\n{report}"),
    }
    assert!(t.target.has_service("research", SERVICE), "left alone");
    assert!(
        t.target.service_log().is_empty(),
        "{:?}",
        t.target.service_log()
    );
    assert_eq!(t.copies(), 0, "{}", t.calls());

    // Ours (the labels and selector the step gives it), left by a run that stopped, its
    // load balancer provisioned: reused.
    let t = Transfer::new();
    t.target.add_service_with(
        "research",
        SERVICE,
        serde_json::json!({
            "app.kubernetes.io/managed-by": "gitops-migrate",
            "app.kubernetes.io/component": "home-transfer",
        }),
        serde_json::json!({"type": "LoadBalancer", "selector": {"app": "nfs-server"}}),
    );
    t.target
        .set_service_address("research", SERVICE, "127.0.0.1");
    let (status, _, report, op) = t.run("transfer-homes");
    assert_eq!(status, RunStatus::Completed, "{report}\n{:?}", op.said);
    assert_eq!(
        t.target.service_log(),
        [format!("DELETE research/{SERVICE}")]
    );
    assert_eq!(tree(&t.source_homes()), tree(&t.target_homes()));
}

/// Stopping the copy (its time limit here; an interrupt alike) ends kubectl, and with it
/// rsync in the source's sidecar: the script there watches its standard input, which kubectl
/// holds open until it ends. The stand-in runs the command in a session of its own, as a
/// command in a pod, which no signal to kubectl reaches.
#[test]
fn stopping_the_copy_ends_rsync_in_the_source_sidecar() {
    let t = Transfer::new();
    // The destination takes its time: rsync waits on it.
    t.sshd.authorize_with("command=\"sleep 60\"");
    let (tx, rx) = std::sync::mpsc::channel();
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let out = t.run_with("transfer-homes", |mv| {
                mv.transfer_limit = Duration::from_secs(3);
            });
            let _ = tx.send(out);
        });
        let (status, _, report, _) =
            rx.recv_timeout(Duration::from_secs(40))
                .unwrap_or_else(|_| {
                    panic!(
                        "the step did not end at its limit: rsync in the sidecar outlived kubectl"
                    )
                });
        match &status {
            RunStatus::Failed { error, .. } => {
                assert!(error.contains("timed out after"), "{error}")
            }
            other => panic!("{other:?}\n{report}"),
        }
        // Nothing of the command in the "pod" is left: not rsync, not its ssh, not the script.
        let pgid: i32 = fs::read_to_string(t.work.path().join("kubectl/exec-i.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut left = in_group(pgid);
        while !left.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            left = in_group(pgid);
        }
        assert!(left.is_empty(), "still running in the sidecar: {left:?}");
        assert!(started.elapsed() < Duration::from_secs(40));
    });
    assert!(!t.target.has_service("research", SERVICE));
}

/// The live processes (not zombies) of a process group, as `pid command` lines.
fn in_group(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp …`: comm may hold spaces, so split after its `)`.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            found.push(head.replace(" (", " ").to_string());
        }
    }
    found
}
