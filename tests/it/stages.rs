//! The nublado stages as Git changes: each stage's diff, PR body and announcement on the Format C
//! (`fixtures/phalanx`, one environment per state) and Format A (`fixtures/phalanx-format-a`)
//! fixtures, through the library; `plan`, `apply` and `announce` as the built binary on temporary
//! copies (preconditions, idempotence, validation, dirty work trees); and the next stage of every
//! environment of the public corpus tree `../shared/corpus/phalanx-2023-08`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_migrate::playbook::StagePlan;
use gitops_migrate::playbook::announce::{self, Storage};
use gitops_migrate::playbook::nublado::environment_state;
use gitops_migrate::playbook::nublado::stages::{self, Options, Stage};
use gitops_migrate::playbook::report;
use gitops_migrate::repo::{self, Phalanx, Repo};
use gitops_migrate::validate;

use crate::common;
use common::copy_dir;

// ---------------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Copies a fixture (or any tree) into a temporary directory.
fn copy_of(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(from, dir.path());
    dir
}

fn copy(name: &str) -> tempfile::TempDir {
    copy_of(&fixture(name))
}

/// Every file under `root` (outside `.git`) with its content, to show that nothing was written.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_name() == ".git" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn phalanx(root: &Path) -> Phalanx {
    match repo::open(root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        Repo::Phalanx(p) => p,
        Repo::Infrastructure(_) => panic!("{} is not a Phalanx repository", root.display()),
    }
}

fn stage(name: &str) -> Stage {
    Stage::from_name(name).unwrap_or_else(|| panic!("unknown stage {name}"))
}

fn plan(p: &Phalanx, stage_name: &str, envs: &[&str]) -> StagePlan {
    let envs: Vec<String> = envs.iter().map(|e| e.to_string()).collect();
    stages::plan(p, stage(stage_name), &envs, &Options::default())
        .unwrap_or_else(|e| panic!("{stage_name} {envs:?}: {e}"))
}

/// The text a plan leaves in `rel` (which it must change).
fn changed(plan: &StagePlan, rel: &str) -> String {
    plan.changes
        .content(rel)
        .unwrap_or_else(|| panic!("{rel} is not changed"))
        .unwrap_or_else(|| panic!("{rel} is deleted"))
        .to_string()
}

/// Runs the built binary in `dir` (`-C dir`), without color.
fn gm(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run gitops-migrate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.org",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `dir` a Git repository with everything committed.
fn commit_all(dir: &Path) {
    if !dir.join(".git").exists() {
        git(dir, &["init", "-q"]);
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", "fixture"]);
}

/// The errors `validate` reports, as (rule, file, message).
fn validate_errors(dir: &Path) -> BTreeSet<(String, String, String)> {
    let (code, stdout, stderr) = gm(dir, &["validate", "--format", "json"]);
    assert!(code == 0 || code == 1, "validate exit {code}: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("validate --format json");
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `status --format json`: each environment's (state, next stage).
fn status(dir: &Path) -> BTreeMap<String, (String, Option<String>)> {
    let (code, stdout, stderr) = gm(dir, &["status", "--format", "json"]);
    assert!(code == 0 || code == 1, "status exit {code}: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("status --format json");
    v["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                (
                    e["state"].as_str().unwrap().to_string(),
                    e["next_stage"].as_str().map(str::to_string),
                ),
            )
        })
        .collect()
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        crate::common::snapshot(&format!("stages__{}", $name), $value)
    };
}

/// Snapshots a stage's diff, PR body and announcement (when it has one) under `name`.
fn snapshot_stage(p: &Phalanx, plan: &StagePlan, name: &str) {
    assert!(!plan.is_nothing_to_do(), "{name}: nothing to do");
    snap!(format!("{name}_diff"), plan.changes.diff(false));
    snap!(format!("{name}_pr"), report::pr_body(plan));
    match announce::announcement(p, plan) {
        Some(text) => snap!(format!("{name}_announce"), text),
        None => assert!(
            matches!(plan.stage, "drop-v2-values" | "finish"),
            "{name}: no announcement"
        ),
    }
}

/// Brings every environment of the repository at `root` to `none` or `complete` by applying
/// each environment's next stage through the library, until none has one.
fn complete_all(root: &Path) {
    for _ in 0..6 {
        let p = phalanx(root);
        let next: Vec<(String, &'static str)> = p
            .environments
            .iter()
            .filter_map(|e| {
                environment_state(&p, e)
                    .state
                    .next_stage()
                    .map(|s| (e.name.clone(), s))
            })
            .collect();
        if next.is_empty() {
            return;
        }
        for (env, stage_name) in next {
            let p = phalanx(root);
            // A mount v3 lost (a claim left unanswered at `enable-v3`) keeps `drop-v2-values`
            // from deleting its evidence; these runs go through with --force.
            let opts = Options {
                force: stage_name == "drop-v2-values",
                ..Options::default()
            };
            let plan = stages::plan(&p, stage(stage_name), std::slice::from_ref(&env), &opts)
                .unwrap_or_else(|e| panic!("{stage_name} {env}: {e}"));
            plan.changes
                .apply(root)
                .unwrap_or_else(|e| panic!("{stage_name} {env}: {e}"));
        }
    }
    panic!("environments still not complete after six rounds");
}

/// What the finish stage has to retire beyond the fixture: the three applications' Argo CD
/// Application templates (2023 naming) and telegraf's scrape target for the v2 hub.
fn add_finish_extras(root: &Path) {
    for app in ["cachemachine", "moneypenny", "nublado2"] {
        std::fs::write(
            root.join(format!("environments/templates/{app}-application.yaml")),
            format!(
                "{{{{- if .Values.applications.{app} -}}}}\n\
                 apiVersion: argoproj.io/v1alpha1\n\
                 kind: Application\n\
                 metadata:\n  name: {app:?}\n  namespace: \"argocd\"\n\
                 spec:\n  destination:\n    namespace: {app:?}\n    server: \"https://kubernetes.default.svc\"\n\
                 \x20 project: \"default\"\n  source:\n    path: \"applications/{app}\"\n\
                 \x20   repoURL: {{{{ .Values.repoUrl | quote }}}}\n\
                 \x20   targetRevision: {{{{ .Values.targetRevision | quote }}}}\n\
                 {{{{- end -}}}}\n"
            ),
        )
        .unwrap();
    }
    let telegraf = root.join("applications/telegraf");
    std::fs::create_dir_all(&telegraf).unwrap();
    std::fs::write(
        telegraf.join("Chart.yaml"),
        "apiVersion: v2\nname: telegraf\nversion: 1.0.0\ndescription: Application telemetry\nappVersion: 1.23.3\n",
    )
    .unwrap();
    std::fs::write(
        telegraf.join("values.yaml"),
        "# Default values for telegraf.\n\
         prometheus_config:\n\
         \x20 argocd:\n\
         \x20   application_controller: \"http://argocd-application-controller-metrics.argocd.svc:8082/metrics\"\n\
         \x20 nublado2:\n\
         \x20   hub: \"http://hub.nublado2:8081/metrics\"\n\
         \x20 ingress-nginx:\n\
         \x20   controller: \"http://ingress-nginx-controller-metrics.ingress-nginx:10254/metrics\"\n",
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Each stage's diff, PR body and announcement: Format C

#[test]
fn format_c_enable_v3_idfprod() {
    let p = phalanx(&fixture("phalanx"));
    let plan = plan(&p, "enable-v3", &["idfprod"]);
    snapshot_stage(&p, &plan, "c_enable_v3_idfprod");
}

#[test]
fn format_c_enable_v3_tucson_teststand() {
    // No mobu, hostPath and PVC volumes, a flow-style postgres values file.
    let p = phalanx(&fixture("phalanx"));
    let plan = plan(&p, "enable-v3", &["tucson-teststand"]);
    snapshot_stage(&p, &plan, "c_enable_v3_tucson_teststand");
}

#[test]
fn format_c_make_default_idfdev() {
    let p = phalanx(&fixture("phalanx"));
    let plan = plan(&p, "make-default", &["idfdev"]);
    snapshot_stage(&p, &plan, "c_make_default_idfdev");
}

#[test]
fn format_c_disable_v2_idfint() {
    let p = phalanx(&fixture("phalanx"));
    let plan = plan(&p, "disable-v2", &["idfint"]);
    // Format C deletes the lines.
    let diff = plan.changes.diff(false);
    for app in ["cachemachine", "moneypenny", "nublado2"] {
        assert!(diff.contains(&format!("\n-  {app}: true\n")), "{diff}");
    }
    assert!(!diff.contains(": false"), "{diff}");
    snapshot_stage(&p, &plan, "c_disable_v2_idfint");
}

#[test]
fn format_c_drop_v2_values_usdfdev() {
    let p = phalanx(&fixture("phalanx"));
    let plan = plan(&p, "drop-v2-values", &["usdfdev"]);
    assert_eq!(announce::announcement(&p, &plan), None);
    snapshot_stage(&p, &plan, "c_drop_v2_values_usdfdev");
}

#[test]
fn format_c_finish_after_every_environment_is_complete() {
    let dir = copy("phalanx");
    add_finish_extras(dir.path());
    complete_all(dir.path());
    let states: BTreeSet<String> = status(dir.path()).into_values().map(|(s, _)| s).collect();
    assert_eq!(
        states,
        BTreeSet::from(["complete".to_string(), "none".to_string()])
    );
    let p = phalanx(dir.path());
    let plan = plan(&p, "finish", &[]);
    assert_eq!(announce::announcement(&p, &plan), None);
    snapshot_stage(&p, &plan, "c_finish");
}

// ---------------------------------------------------------------------------------------------
// Format A: blocks are kept, `enabled` is flipped

#[test]
fn format_a_enable_v3_idfprod() {
    let p = phalanx(&fixture("phalanx-format-a"));
    let plan = plan(&p, "enable-v3", &["idfprod"]);
    let diff = plan.changes.diff(false);
    assert!(
        diff.contains(" nublado:\n-  enabled: false\n+  enabled: true\n"),
        "{diff}"
    );
    snapshot_stage(&p, &plan, "a_enable_v3_idfprod");
}

#[test]
fn format_a_make_default_idfdev() {
    let p = phalanx(&fixture("phalanx-format-a"));
    let plan = plan(&p, "make-default", &["idfdev"]);
    snapshot_stage(&p, &plan, "a_make_default_idfdev");
}

#[test]
fn format_a_disable_v2_idfint_sets_enabled_false_and_keeps_the_blocks() {
    let p = phalanx(&fixture("phalanx-format-a"));
    let plan = plan(&p, "disable-v2", &["idfint"]);
    let diff = plan.changes.diff(false);
    for app in ["cachemachine", "moneypenny", "nublado2"] {
        assert!(
            diff.contains(&format!(" {app}:\n-  enabled: true\n+  enabled: false\n")),
            "{app}: {diff}"
        );
        assert!(
            !diff.contains(&format!("\n-{app}:")),
            "{app} deleted: {diff}"
        );
    }
    snapshot_stage(&p, &plan, "a_disable_v2_idfint");
}

// ---------------------------------------------------------------------------------------------
// Shared storage and the critical warning

#[test]
fn storage_is_told_from_both_hubs_volumes() {
    let p = phalanx(&fixture("phalanx"));
    // idfdev: both mount the NFS home export.
    let md = plan(&p, "make-default", &["idfdev"]);
    assert_eq!(
        announce::storage(&p, &md, "idfdev"),
        Storage::Shared {
            evidence: vec!["NFS 10.87.86.26:/share1/home".into()]
        }
    );
    // idfprod: the created v3 values file has v2's volumes, translated: the same exports.
    let ev = plan(&p, "enable-v3", &["idfprod"]);
    assert_eq!(
        announce::storage(&p, &ev, "idfprod"),
        Storage::Shared {
            evidence: vec![
                "NFS 10.13.105.122:/share1/home".into(),
                "NFS 10.13.105.122:/share1/project".into(),
                "NFS 10.13.105.122:/share1/datasets".into(),
            ]
        }
    );
    assert!(
        announce::announcement(&p, &ev)
            .unwrap()
            .contains("## CRITICAL")
    );

    // The v3 home moved to another server: separate storage, no critical warning.
    let dir = copy("phalanx");
    let v3 = dir.path().join("applications/nublado/values-idfdev.yaml");
    let text = std::fs::read_to_string(&v3).unwrap();
    std::fs::write(&v3, text.replace("10.87.86.26", "10.87.86.99")).unwrap();
    let p = phalanx(dir.path());
    let md = plan(&p, "make-default", &["idfdev"]);
    assert_eq!(
        announce::storage(&p, &md, "idfdev"),
        Storage::Separate {
            v3: vec!["NFS 10.87.86.99:/share1/home".into()],
            v2: vec!["NFS 10.87.86.26:/share1/home".into()],
        }
    );
    let text = announce::announcement(&p, &md).unwrap();
    assert!(!text.contains("CRITICAL"), "{text}");
    assert!(text.contains("separate storage"), "{text}");

    // A PVC on both sides cannot be compared: assumed shared.
    let text = std::fs::read_to_string(&v3).unwrap();
    let pvc = "source:\n            type: \"persistentVolumeClaim\"\n            storageClassName: \"home\"\n            accessModes: [\"ReadWriteMany\"]\n            resources: {requests: {storage: \"1Gi\"}}\n";
    let start = text.find("source:\n            type: \"nfs\"").unwrap();
    let end = text.find("\njupyterhub:").unwrap();
    std::fs::write(&v3, format!("{}{pvc}{}", &text[..start], &text[end..])).unwrap();
    let p = phalanx(dir.path());
    let md = plan(&p, "make-default", &["idfdev"]);
    let s = announce::storage(&p, &md, "idfdev");
    assert!(
        matches!(&s, Storage::Assumed { reason } if reason.contains("PVC of storage class `home`")),
        "{s:?}"
    );
    assert!(
        announce::announcement(&p, &md)
            .unwrap()
            .contains("## CRITICAL")
    );
}

#[test]
fn announcements_carry_the_addresses_the_placeholder_and_the_warning() {
    let p = phalanx(&fixture("phalanx"));
    let ev = announce::announcement(&p, &plan(&p, "enable-v3", &["idfprod"])).unwrap();
    for want in [
        "<date and time of the window>",
        "<https://data.lsst.cloud/n3/>",
        "<https://data.lsst.cloud/nb/>",
        "every five minutes",
        "corrupted",
    ] {
        assert!(ev.contains(want), "enable-v3 lacks {want}:\n{ev}");
    }
    let md = announce::announcement(&p, &plan(&p, "make-default", &["idfdev"])).unwrap();
    for want in [
        "<https://data-dev.lsst.cloud/nb/>",
        "<https://data-dev.lsst.cloud/n2/>",
        "<https://data-dev.lsst.cloud/n3/>",
        "between /nb and /n2",
        "every five minutes",
    ] {
        assert!(md.contains(want), "make-default lacks {want}:\n{md}");
    }
    let dv = announce::announcement(&p, &plan(&p, "disable-v2", &["idfint"])).unwrap();
    assert!(
        dv.contains("<https://data-int.lsst.cloud/n2/> is removed"),
        "{dv}"
    );
    assert!(dv.contains("Labs started from /n2 are destroyed"), "{dv}");
    assert!(!dv.contains("CRITICAL"), "{dv}");
}

// ---------------------------------------------------------------------------------------------
// The command line: apply, then plan says nothing to do; status moves on; validate is clean

/// Applies a stage (with `extra` options) and checks it is then done, in the next state, with
/// no new validation errors.
fn apply_and_check(
    fixture_name: &str,
    stage_name: &str,
    env: &str,
    extra: &[&str],
    next_state: &str,
) {
    let dir = copy(fixture_name);
    let before = validate_errors(dir.path());
    let mut args = vec!["apply", "nublado", stage_name, "--env", env];
    args.extend(extra);
    let (code, stdout, stderr) = gm(dir.path(), &args);
    assert_eq!(
        code, 0,
        "{fixture_name} apply {stage_name} {env}: {stdout}{stderr}"
    );
    let (code, stdout, stderr) = gm(dir.path(), &["plan", "nublado", stage_name, "--env", env]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.trim(),
        format!("nothing to do: {env} already past `{stage_name}`"),
        "{fixture_name} {stage_name} {env}"
    );
    let (code, stdout, _) = gm(dir.path(), &["apply", "nublado", stage_name, "--env", env]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("nothing to do"), "{stdout}");
    assert_eq!(
        status(dir.path())[env].0,
        next_state,
        "{fixture_name} {stage_name} {env}"
    );
    let after = validate_errors(dir.path());
    let new: Vec<_> = after.difference(&before).collect();
    assert!(
        new.is_empty(),
        "{fixture_name} {stage_name} {env}: new errors {new:?}"
    );
}

#[test]
fn apply_then_plan_is_nothing_to_do_and_status_shows_the_next_state() {
    // tucson-teststand mounts a PersistentVolumeClaim: its storage class is the operator's answer.
    let pvc: &[&str] = &["--pvc-storage-class", "repo=rook-cephfs"];
    for (fx, stage_name, env, extra, next) in [
        ("phalanx", "enable-v3", "idfprod", &[][..], "v3-beside"),
        ("phalanx", "enable-v3", "tucson-teststand", pvc, "v3-beside"),
        ("phalanx", "make-default", "idfdev", &[], "v3-default"),
        ("phalanx", "disable-v2", "idfint", &[], "v2-disabled"),
        ("phalanx", "drop-v2-values", "usdfdev", &[], "complete"),
        ("phalanx-format-a", "enable-v3", "idfprod", &[], "v3-beside"),
        (
            "phalanx-format-a",
            "make-default",
            "idfdev",
            &[],
            "v3-default",
        ),
        (
            "phalanx-format-a",
            "disable-v2",
            "idfint",
            &[],
            "v2-disabled",
        ),
    ] {
        apply_and_check(fx, stage_name, env, extra, next);
    }
}

#[test]
fn finish_applies_then_has_nothing_to_do_and_validates() {
    let dir = copy("phalanx");
    add_finish_extras(dir.path());
    complete_all(dir.path());
    let before = validate_errors(dir.path());
    let (code, stdout, stderr) = gm(dir.path(), &["apply", "nublado", "finish"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Every file of the three applications is gone (their emptied folders may stay behind;
    // Git does not track folders).
    for app in ["cachemachine", "moneypenny", "nublado2"] {
        let files: Vec<String> = tree(dir.path())
            .into_keys()
            .filter(|f| f.starts_with(&format!("applications/{app}/")))
            .collect();
        assert!(files.is_empty(), "{app}: {files:?}");
    }
    assert!(
        !dir.path()
            .join("environments/templates/nublado2-application.yaml")
            .exists()
    );
    let (code, stdout, stderr) = gm(dir.path(), &["plan", "nublado", "finish"]);
    assert_eq!(code, 0, "{stderr}");
    // Nothing left to change; what still names the applications is listed all the same, and
    // makes `--strict` fail.
    assert!(stdout.starts_with("nothing to do\n"), "{stdout}");
    assert!(
        stdout.contains("References to nublado2, cachemachine or moneypenny that remain (2)"),
        "{stdout}"
    );
    let (code, _, _) = gm(dir.path(), &["plan", "nublado", "finish", "--strict"]);
    assert_eq!(code, 1);
    let new: Vec<_> = validate_errors(dir.path())
        .difference(&before)
        .cloned()
        .collect();
    assert!(new.is_empty(), "new errors {new:?}");
    for (env, (state, next)) in status(dir.path()) {
        assert!(state == "complete" || state == "none", "{env}: {state}");
        assert_eq!(next, None, "{env}");
    }
}

// ---------------------------------------------------------------------------------------------
// Preconditions and bad input

#[test]
fn wrong_state_is_refused_with_the_state_found_and_the_next_stage() {
    let dir = copy("phalanx");
    let before = tree(dir.path());
    for cmd in ["plan", "apply", "announce"] {
        let (code, stdout, stderr) = gm(
            dir.path(),
            &[cmd, "nublado", "disable-v2", "--env", "idfprod"],
        );
        assert_eq!(code, 1, "{cmd}: {stdout}{stderr}");
        assert_eq!(stdout, "", "{cmd}");
        assert!(
            stderr.contains("`disable-v2` runs from `v3-default`, but `idfprod` is `v2-only`"),
            "{cmd}: {stderr}"
        );
        assert!(
            stderr.contains("its next stage is `enable-v3` (or use --force)"),
            "{cmd}: {stderr}"
        );
    }
    // An environment with no next stage says so.
    let (code, _, stderr) = gm(
        dir.path(),
        &["plan", "nublado", "enable-v3", "--env", "minikube"],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`minikube` is `none`") && stderr.contains("it has no next stage"),
        "{stderr}"
    );
    assert_eq!(tree(dir.path()), before, "a refused stage wrote something");
}

#[test]
fn force_overrides_the_state_with_a_warning() {
    let dir = copy("phalanx");
    let args = ["apply", "nublado", "make-default", "--env", "idfprod"];
    let (code, _, _) = gm(dir.path(), &args);
    assert_eq!(code, 1);
    let (code, stdout, stderr) = gm(dir.path(), &[&args[..], &["--force"]].concat());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "warning: --force: `idfprod` is `v2-only` (nublado2 is enabled, nublado is not), not `v3-beside`"
        ),
        "{stderr}"
    );
    let v2 = std::fs::read_to_string(dir.path().join("applications/nublado2/values-idfprod.yaml"))
        .unwrap();
    assert!(v2.contains("baseUrl: /n2"), "{v2}");
    // `plan --force` lists the override among the notes.
    let dir = copy("phalanx");
    let (code, stdout, _) = gm(
        dir.path(),
        &[
            "plan",
            "nublado",
            "make-default",
            "--env",
            "idfprod",
            "--force",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("  - --force: `idfprod` is `v2-only`"),
        "{stdout}"
    );
}

#[test]
fn unknown_environment_exits_2_with_a_suggestion() {
    let dir = copy("phalanx");
    let before = tree(dir.path());
    for cmd in ["plan", "apply", "announce"] {
        let (code, stdout, stderr) = gm(
            dir.path(),
            &[cmd, "nublado", "enable-v3", "--env", "idfprd"],
        );
        assert_eq!(code, 2, "{cmd}: {stdout}{stderr}");
        assert!(
            stderr.contains("unknown environment `idfprd` (did you mean `idfprod`?)"),
            "{cmd}: {stderr}"
        );
    }
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn unknown_stage_and_missing_target_exit_2() {
    let dir = copy("phalanx");
    for cmd in ["plan", "apply", "announce"] {
        let (code, _, stderr) = gm(
            dir.path(),
            &[cmd, "nublado", "enable-v4", "--env", "idfprod"],
        );
        assert_eq!(code, 2, "{cmd}: {stderr}");
        assert!(
            stderr.contains("unknown stage `enable-v4` (did you mean `enable-v3`?)"),
            "{cmd}: {stderr}"
        );
        let (code, _, stderr) = gm(dir.path(), &[cmd, "nublado", "make-default"]);
        assert_eq!(code, 2, "{cmd}: {stderr}");
        assert!(stderr.contains("no environment given"), "{cmd}: {stderr}");
        let (code, _, stderr) = gm(dir.path(), &[cmd, "nublado", "finish", "--env", "idfdev"]);
        assert_eq!(code, 2, "{cmd}: {stderr}");
        assert!(stderr.contains("`finish` takes no environment"), "{stderr}");
    }
    let (code, _, stderr) = gm(dir.path(), &["plan", "hub-mover", "setup"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unrecognized subcommand 'hub-mover'")
            && stderr.contains("a similar subcommand exists: 'hub-move'"),
        "{stderr}"
    );
}

/// A values or environment file the nublado model reads that does not parse (or that the
/// editor cannot read) is an input error for `status` and every stage command: exit 2 with
/// `file:line:col`, no derived state (no made-up `conflict`, no `none`), nothing written.
#[test]
fn broken_model_files_are_input_errors_not_derived_states() {
    let broken: [(&str, &str, &str); 5] = [
        (
            "applications/nublado/values-idfdev.yaml",
            "jupyterhub:\n  hub: [unclosed\n",
            "applications/nublado/values-idfdev.yaml:2:8:",
        ),
        (
            "environments/values-idfint.yaml",
            "name: idfint\napplications:\n  nublado: true\n  nublado: true\n\tbad\n",
            "environments/values-idfint.yaml:",
        ),
        (
            "applications/postgres/values-idfprod.yaml",
            "jupyterhub_db: {user: \"jovyan\"\n",
            "applications/postgres/values-idfprod.yaml:",
        ),
        (
            "applications/mobu/Chart.yaml",
            "appVersion: [6\n",
            "applications/mobu/Chart.yaml:",
        ),
        // Valid YAML the editor refuses to read (a collection as an implicit key): the model
        // cannot see into it either.
        (
            "applications/nublado2/values-idfdev.yaml",
            "jupyterhub: {hub: {baseUrl: /n2}}\n[a]: 1\n",
            "applications/nublado2/values-idfdev.yaml:",
        ),
    ];
    for (file, text, at) in broken {
        let dir = copy("phalanx");
        std::fs::write(dir.path().join(file), text).unwrap();
        let before = tree(dir.path());
        let runs: [&[&str]; 6] = [
            &["status"],
            &["status", "--format", "json"],
            &["plan", "nublado", "make-default", "--env", "idfdev"],
            &["apply", "nublado", "disable-v2", "--env", "idfint"],
            &["announce", "nublado", "enable-v3", "--env", "idfprod"],
            &["plan", "nublado", "finish"],
        ];
        for args in runs {
            let (code, stdout, stderr) = gm(dir.path(), args);
            assert_eq!(code, 2, "{file}: {args:?}: {stdout}{stderr}");
            assert_eq!(stdout, "", "{file}: {args:?}: a state was derived");
            assert!(stderr.contains(at), "{file}: {args:?}: {stderr}");
            assert!(!stderr.contains("conflict"), "{file}: {args:?}: {stderr}");
        }
        assert_eq!(tree(dir.path()), before, "{file}: something was written");
        // `validate` still reports the file as a finding (an error when it is not YAML, a
        // warning when only the editor cannot read it), as the pre-commit hook must.
        let (code, stdout, _) = gm(dir.path(), &["validate", file]);
        assert!(code == 0 || code == 1, "{file}: {stdout}");
        assert!(stdout.contains("yaml-syntax"), "{file}: {stdout}");
    }
}

/// `conflict` hides nothing: the mount findings of an environment in `conflict` are judged
/// (status and validate show them), so the hotfix that ends the conflict finds them "known",
/// not new, and `apply --force` writes it. Findings are told apart by identity, so a hotfix
/// that rewrites the line a finding is on (and so its wording) does not make it new either.
#[test]
fn fixing_a_conflict_uncovers_no_new_errors() {
    let dir = copy("phalanx");
    let v2 = dir.path().join("applications/nublado2/values-idfdev.yaml");
    let text = std::fs::read_to_string(&v2).unwrap();
    std::fs::write(
        &v2,
        text.replace(
            "      mountPath: /home\n",
            "      mountPath: /home\n      readOnly: true\n",
        ),
    )
    .unwrap();
    let v3 = dir.path().join("applications/nublado/values-idfdev.yaml");
    let text = std::fs::read_to_string(&v3).unwrap();
    std::fs::write(
        &v3,
        text.replace("baseUrl: \"/n3\"", "baseUrl: \"/nb\"")
            .replace("HUB_ROUTE: \"/n3/hub\"", "HUB_ROUTE: \"/nb/hub\""),
    )
    .unwrap();
    // In `conflict`, the read-only flag lost at /home is reported all the same.
    let (code, stdout, stderr) = gm(dir.path(), &["status", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let idfdev = v["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "idfdev")
        .unwrap();
    assert_eq!(idfdev["state"], "conflict");
    let rules: Vec<&str> = idfdev["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"nublado-route-clash"), "{rules:?}");
    assert!(rules.contains(&"nublado-v3-mount"), "{rules:?}");
    // The hotfix (v3 back on /n3) ends the conflict and is written: the mount error was known.
    let (code, stdout, stderr) = gm(
        dir.path(),
        &[
            "apply",
            "nublado",
            "enable-v3",
            "--env",
            "idfdev",
            "--force",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(status(dir.path())["idfdev"].0, "v3-beside");
    let after = validate_errors(dir.path());
    assert!(
        after
            .iter()
            .any(|(rule, _, m)| rule == "nublado-v3-mount" && m.contains("`/home` is read-only")),
        "{after:?}"
    );
    // A hotfix that writes the access mode the entry already had changes the finding's wording
    // (from "no access mode is written" to "it is writable"), not its identity.
    let before = validate::validate(&repo::open(dir.path()).unwrap());
    let text = std::fs::read_to_string(&v3).unwrap();
    std::fs::write(
        &v3,
        text.replace(
            "containerPath: \"/home\"\n          mode: \"rw\"\n",
            "containerPath: \"/home\"\n",
        ),
    )
    .unwrap();
    let without_mode = validate::validate(&repo::open(dir.path()).unwrap());
    let lost = |fs: &[validate::Finding]| {
        fs.iter()
            .find(|f| f.rule == "nublado-v3-mount")
            .map(|f| f.message.clone())
            .unwrap()
    };
    assert_ne!(lost(&before), lost(&without_mode));
    assert_eq!(
        validate::new_errors(&before, without_mode.clone()),
        Vec::new()
    );
    assert_eq!(validate::new_errors(&without_mode, before), Vec::new());
}

/// A mobu flock that evidently tests nublado v2 (its user says `nublado2`) stays on v2 at
/// `/n2`, with cachemachine, at `make-default`, and goes at `disable-v2`; the plan says so.
/// The other lab flocks follow v3 off cachemachine.
#[test]
fn a_flock_that_tests_v2_is_kept_on_n2_then_removed() {
    let dir = copy("phalanx");
    let mobu = dir.path().join("applications/mobu/values-idfdev.yaml");
    let text = std::fs::read_to_string(&mobu).unwrap();
    let text = text.replace(
        "    - name: \"tap\"\n",
        "    # The weekly test of nublado v2.
    - name: \"weekly\"
      count: 1
      user_spec: {username_prefix: \"bot-mobu-nublado2\"}
      scopes: [\"exec:notebook\"]
      business:
        type: \"JupyterPythonLoop\"
      restart: true
    - name: \"tap\"\n",
    );
    std::fs::write(&mobu, &text).unwrap();
    let p = phalanx(dir.path());
    let plan = plan(&p, "make-default", &["idfdev"]);
    let after = changed(&plan, "applications/mobu/values-idfdev.yaml");
    let doc = gitops_migrate::yaml::Document::parse(after.as_str()).unwrap();
    let get = |path: &str| repo::lookup_str(&doc, path);
    assert_eq!(
        get("config.autostart[name=weekly].business.options.url_prefix").as_deref(),
        Some("/n2")
    );
    assert_eq!(
        get("config.autostart[name=weekly].business.options.use_cachemachine"),
        None
    );
    assert_eq!(
        get("config.autostart[name=recommended].business.options.use_cachemachine").as_deref(),
        Some("false")
    );
    assert_eq!(
        get("config.autostart[name=nublado3].business.options.url_prefix"),
        None
    );
    assert!(
        plan.notes.iter().any(|n| n.contains("mobu flock `weekly` tests nublado v2 (the name or a user says `nublado2`): kept on v2 at /n2 with cachemachine; `disable-v2` removes it")),
        "{:#?}",
        plan.notes
    );
    // Through `make-default` to `disable-v2`, which removes the flock.
    let (code, out, err) = gm(
        dir.path(),
        &["apply", "nublado", "make-default", "--env", "idfdev"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let p = phalanx(dir.path());
    let plan = super::stages::plan(&p, "disable-v2", &["idfdev"]);
    let after = changed(&plan, "applications/mobu/values-idfdev.yaml");
    assert!(!after.contains("weekly"), "{after}");
    assert!(!after.contains("bot-mobu-nublado2"), "{after}");
    assert!(after.contains("name: \"recommended\""), "{after}");
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("mobu flock `weekly` tested nublado v2 and is removed")),
        "{:#?}",
        plan.notes
    );
}

/// mobu 5 switches cachemachine for every flock at once (`config.useCachemachine`): the stage
/// sets it, and says what that means for a flock kept on v2.
#[test]
fn mobu_5_goes_off_cachemachine_globally_at_make_default() {
    let dir = copy("phalanx");
    let chart = dir.path().join("applications/mobu/Chart.yaml");
    let text = std::fs::read_to_string(&chart)
        .unwrap()
        .replace("appVersion: 6.1.1", "appVersion: 5.1.0");
    std::fs::write(&chart, text).unwrap();
    let mobu = dir.path().join("applications/mobu/values-idfdev.yaml");
    let text = std::fs::read_to_string(&mobu)
        .unwrap()
        .replace("          use_cachemachine: false\n", "")
        .replace("name: \"recommended\"", "name: \"nublado2-recommended\"");
    std::fs::write(&mobu, text).unwrap();
    let p = phalanx(dir.path());
    let plan = plan(&p, "make-default", &["idfdev"]);
    let after = changed(&plan, "applications/mobu/values-idfdev.yaml");
    assert!(after.contains("  useCachemachine: false\n"), "{after}");
    assert!(
        !after.contains("use_cachemachine"),
        "mobu 5 has no per-flock option: {after}"
    );
    assert!(
        plan.todo.iter().any(
            |t| t.contains("mobu 5 has one cachemachine setting for every flock")
                && t.contains("`nublado2-recommended`")
        ),
        "{:#?}",
        plan.todo
    );
}

#[test]
fn dirty_files_refuse_apply_unless_allow_dirty() {
    let dir = copy("phalanx");
    commit_all(dir.path());
    let env_file = dir.path().join("environments/values-idfprod.yaml");
    let mut text = std::fs::read_to_string(&env_file).unwrap();
    text.push_str("# local change\n");
    std::fs::write(&env_file, &text).unwrap();
    let before = tree(dir.path());
    let args = ["apply", "nublado", "enable-v3", "--env", "idfprod"];
    let (code, stdout, stderr) = gm(dir.path(), &args);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("files the stage would change have uncommitted changes: environments/values-idfprod.yaml"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-dirty"), "{stderr}");
    assert_eq!(tree(dir.path()), before, "a refused apply wrote something");
    // A dirty file the stage does not touch is no obstacle.
    let (code, _, _) = gm(
        dir.path(),
        &["apply", "nublado", "disable-v2", "--env", "idfint"],
    );
    assert_eq!(code, 0);
    // --allow-dirty writes, keeping the local change.
    let (code, stdout, stderr) = gm(dir.path(), &[&args[..], &["--allow-dirty"]].concat());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let after = std::fs::read_to_string(&env_file).unwrap();
    assert!(after.contains("  nublado: true\n") && after.ends_with("# local change\n"));
    assert!(
        dir.path()
            .join("applications/nublado/values-idfprod.yaml")
            .exists()
    );
}

#[test]
fn all_ready_picks_exactly_the_environments_whose_next_stage_it_is() {
    let root = fixture("phalanx");
    let st = status(&root);
    let p = phalanx(&root);
    for stage_name in ["enable-v3", "make-default", "disable-v2", "drop-v2-values"] {
        let want: Vec<String> = st
            .iter()
            .filter(|(_, (_, next))| next.as_deref() == Some(stage_name))
            .map(|(e, _)| e.clone())
            .collect();
        assert!(!want.is_empty(), "{stage_name}");
        let opts = Options {
            all_ready: true,
            ..Options::default()
        };
        let plan = stages::plan(&p, stage(stage_name), &[], &opts).unwrap();
        assert_eq!(plan.targets, want, "{stage_name}");
        assert!(plan.already_done.is_empty());
        let (code, stdout, stderr) = gm(&root, &["plan", "nublado", stage_name, "--all-ready"]);
        assert_eq!(code, 0, "{stderr}");
        let heading = stdout.lines().next().unwrap();
        assert!(
            heading.starts_with(&format!("nublado {stage_name} for {}:", want.join(", "))),
            "{heading}"
        );
    }
    assert_eq!(
        status(&root)
            .iter()
            .filter(|(_, (_, n))| n.as_deref() == Some("enable-v3"))
            .count(),
        2
    );
}

#[test]
fn finish_is_refused_while_any_environment_is_not_done_naming_each() {
    let dir = copy("phalanx");
    let before = tree(dir.path());
    for cmd in ["plan", "apply", "announce"] {
        let (code, stdout, stderr) = gm(dir.path(), &[cmd, "nublado", "finish"]);
        assert_eq!(code, 1, "{cmd}: {stdout}{stderr}");
        assert!(
            stderr.contains(
                "not yet: idfdev (v3-beside), idfint (v3-default), idfprod (v2-only), tucson-teststand (v2-only), usdfdev (v2-disabled)"
            ),
            "{cmd}: {stderr}"
        );
        assert!(!stderr.contains("minikube") && !stderr.contains("usdfprod"));
    }
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn finish_strict_exits_1_while_references_remain() {
    let dir = copy("phalanx");
    add_finish_extras(dir.path());
    complete_all(dir.path());
    let (code, stdout, stderr) = gm(dir.path(), &["plan", "nublado", "finish", "--strict"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let list: Vec<&str> = stdout
        .lines()
        .skip_while(|l| {
            !l.starts_with("References to nublado2, cachemachine or moneypenny that remain")
        })
        .collect();
    assert_eq!(
        list,
        [
            "References to nublado2, cachemachine or moneypenny that remain (2), for you to review:",
            "  applications/telegraf/values.yaml:5: nublado2:",
            "  environments/values.yaml:28: # nublado or nublado2 is enabled (see templates/nublado-users-application.yaml).",
        ],
        "{stdout}"
    );
    // Without --strict the same list is printed and the exit code is 0.
    let (code, stdout2, _) = gm(dir.path(), &["plan", "nublado", "finish"]);
    assert_eq!(code, 0);
    assert_eq!(stdout2, stdout);
}

// ---------------------------------------------------------------------------------------------
// announce on the command line

#[test]
fn announce_prints_the_markdown_and_notes_on_storage() {
    let root = fixture("phalanx");
    let (code, stdout, stderr) = gm(
        &root,
        &["announce", "nublado", "make-default", "--env", "idfdev"],
    );
    assert_eq!(code, 0, "{stderr}");
    let p = phalanx(&root);
    let want = announce::announcement(&p, &plan(&p, "make-default", &["idfdev"])).unwrap();
    assert_eq!(stdout.trim_end(), want.trim_end());
    assert_eq!(
        stderr.trim(),
        "idfdev: storage of nublado v2 and v3 shared: both hubs mount NFS 10.87.86.26:/share1/home"
    );

    // Two environments: one section each.
    let (code, stdout, stderr) = gm(&root, &["announce", "nublado", "enable-v3", "--all-ready"]);
    assert_eq!(code, 0, "{stderr}");
    snap!("cli_announce_enable_v3_all_ready", stdout);
    assert!(stderr.contains("idfprod: storage of nublado v2 and v3 shared: both hubs mount NFS 10.13.105.122:/share1/home"), "{stderr}");
    assert!(
        stderr.contains(
            "tucson-teststand: storage of nublado v2 and v3 shared: both hubs mount hostPath /jhome"
        ),
        "{stderr}"
    );

    // An environment already past the stage (applied or merged: the window is still to come)
    // is announced all the same, with the stage's own routes, and no --force.
    let (code, stdout, stderr) = gm(
        &root,
        &["announce", "nublado", "enable-v3", "--env", "idfdev"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("https://data-dev.lsst.cloud/n3/"),
        "{stdout}"
    );
    assert!(
        stderr.contains("idfdev already past `enable-v3` in this checkout (applied or merged)"),
        "{stderr}"
    );

    // A stage users do not see.
    let (code, stdout, _) = gm(
        &root,
        &["announce", "nublado", "drop-v2-values", "--env", "usdfdev"],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("no announcement needed: `drop-v2-values`"),
        "{stdout}"
    );

    let dir = copy("phalanx");
    complete_all(dir.path());
    let (code, stdout, _) = gm(dir.path(), &["announce", "nublado", "finish"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("no announcement needed: `finish`"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bugs found in the stages, kept as failing tests until fixed.

/// tucson-teststand mounts the PersistentVolumeClaim `butler-repo` read-only at `/repo`:
/// unanswered, the mount is not written and the result would not validate, so `apply` refuses;
/// answered with `--pvc-storage-class`, it is written read-only with that class.
#[test]
fn enable_v3_takes_the_pvc_answers_from_the_command_line() {
    let dir = copy("phalanx");
    commit_all(dir.path());
    let (code, stdout, stderr) = gm(
        dir.path(),
        &["plan", "nublado", "enable-v3", "--env", "tucson-teststand"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Lab volumes of `tucson-teststand`: nublado v2 mounts → nublado v3:\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("--pvc-storage-class repo=CLASS"),
        "{stdout}"
    );
    assert!(
        stderr.contains("the result would not validate (1 new error)"),
        "{stderr}"
    );
    // The finding, with its line as the stage would write it.
    assert!(
        stderr.contains("error[nublado-v3-mount]: `/repo` is mounted in nublado v2"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            " --> applications/nublado/values-tucson-teststand.yaml:34:7\n   |\n34 |       volumes:\n   |       ^\n"
        ),
        "{stderr}"
    );
    let before = tree(dir.path());
    let (code, _, stderr) = gm(
        dir.path(),
        &["apply", "nublado", "enable-v3", "--env", "tucson-teststand"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(tree(dir.path()), before);

    // Answered: by the volume's name here (its claim's name would do too).
    let p = phalanx(dir.path());
    let mut opts = Options::default();
    opts.answers
        .storage_class
        .insert("repo".into(), "rook-cephfs".into());
    let plan = stages::plan(
        &p,
        stage("enable-v3"),
        &["tucson-teststand".to_string()],
        &opts,
    )
    .unwrap();
    let diff = plan.changes.diff(false);
    assert!(
        diff.contains(
            "+        - containerPath: \"/repo\"\n\
             +          mode: \"ro\"\n\
             +          source:\n\
             +            type: \"persistentVolumeClaim\"\n\
             +            storageClassName: \"rook-cephfs\"\n"
        ),
        "{diff}"
    );
    assert!(
        !plan
            .todo
            .iter()
            .any(|t| t.contains("PersistentVolumeClaim"))
    );
    let body = report::pr_body(&plan);
    assert!(
        body.contains(
            "Generated by `gitops-migrate pr nublado enable-v3 --env tucson-teststand --pvc-storage-class repo=rook-cephfs`"
        ),
        "{body}"
    );
    assert!(body.contains("| `/repo` readOnly (line 29) |"), "{body}");
    let (code, stdout, stderr) = gm(
        dir.path(),
        &[
            "apply",
            "nublado",
            "enable-v3",
            "--env",
            "tucson-teststand",
            "--pvc-storage-class",
            "butler-repo=rook-cephfs",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Answers that answer nothing, or a malformed one, are input errors.
    let dir = copy("phalanx");
    for (args, want) in [
        (
            &[
                "plan",
                "nublado",
                "enable-v3",
                "--env",
                "idfprod",
                "--pvc-storage-class",
                "repo=x",
            ][..],
            "`repo` (given to a --pvc-… option) is not a nublado2 PersistentVolumeClaim volume that `enable-v3` translates for `idfprod`; it translates none",
        ),
        (
            &[
                "plan",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--pvc-size",
                "repo=1Gi",
            ],
            "answer `enable-v3`, not `make-default`",
        ),
        (
            &[
                "plan",
                "nublado",
                "enable-v3",
                "--env",
                "tucson-teststand",
                "--pvc-access-modes",
                "repo=ReadWriteSome",
            ],
            "`ReadWriteSome` is not an access mode",
        ),
        (
            &[
                "plan",
                "nublado",
                "enable-v3",
                "--env",
                "tucson-teststand",
                "--pvc-size",
                "repo",
            ],
            "expected NAME=SIZE",
        ),
    ] {
        let (code, _, stderr) = gm(dir.path(), args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

#[test]
fn enable_v3_leaves_postgres_alone_when_v3_uses_an_external_database() {
    let dir = copy("phalanx");
    std::fs::write(
        dir.path()
            .join("applications/nublado/values-tucson-teststand.yaml"),
        "jupyterhub:\n  hub:\n    db:\n      url: \"postgresql://nublado3@db.example.org/nublado3\"\n",
    )
    .unwrap();
    let p = phalanx(dir.path());
    let plan = plan(&p, "enable-v3", &["tucson-teststand"]);
    let paths: Vec<&str> = plan.changes.paths().into_iter().collect();
    assert!(
        !paths.contains(&"applications/postgres/values-tucson-teststand.yaml"),
        "{}",
        plan.changes.diff(false)
    );
    assert!(
        !plan
            .checklist
            .iter()
            .any(|c| c.contains("in-cluster PostgreSQL")),
        "{:?}",
        plan.checklist
    );
}

// ---------------------------------------------------------------------------------------------
// The public corpus: the next stage of every environment

#[test]
fn corpus_next_stage_of_every_environment_applies_cleanly() {
    let Some(corpus) = common::shared_data("corpus/phalanx-2023-08") else {
        return;
    };
    let dir = copy_of(&corpus);
    let root = dir.path();
    let todo: Vec<(String, String)> = status(root)
        .into_iter()
        .filter_map(|(env, (_, next))| next.map(|n| (env, n)))
        .collect();
    assert!(!todo.is_empty());
    eprintln!("corpus phalanx-2023-08: the next stage of every environment that has one");
    eprintln!(
        "{:<18} {:<16} {:>5} {:>6} {:>8}",
        "environment", "stage", "files", "added", "removed"
    );
    let mut failures = Vec::new();
    for (env, stage_name) in &todo {
        let p = phalanx(root);
        let plan = plan(&p, stage_name, &[env]);
        let (added, removed) = plan.changes.line_counts();
        eprintln!(
            "{env:<18} {stage_name:<16} {:>5} {added:>6} {removed:>8}",
            plan.changes.ops().len()
        );
        let before = validate_errors(root);
        let (code, stdout, stderr) = gm(root, &["apply", "nublado", stage_name, "--env", env]);
        if code != 0 {
            failures.push(format!(
                "{env} {stage_name}: apply exit {code}: {stdout}{stderr}"
            ));
            continue;
        }
        let (code, stdout, stderr) = gm(root, &["plan", "nublado", stage_name, "--env", env]);
        if code != 0 || !stdout.starts_with("nothing to do") {
            failures.push(format!(
                "{env} {stage_name}: planned again, exit {code}: {stdout}{stderr}"
            ));
        }
        let new: Vec<_> = validate_errors(root).difference(&before).cloned().collect();
        if !new.is_empty() {
            failures.push(format!("{env} {stage_name}: new errors {new:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Every environment moved on by one state.
    let after = status(root);
    for (env, stage_name) in &todo {
        assert_ne!(
            after[env].1.as_deref(),
            Some(stage_name.as_str()),
            "{env} still waits for {stage_name}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Every setting accounted for, on the public corpus

/// The lines of a section of `plan`'s output (its title, up to the next blank line).
fn section(stdout: &str, title: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in stdout.lines() {
        if line.starts_with(title) {
            inside = true;
        } else if inside && line.is_empty() {
            break;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `env` of a copy of the 2023 tree set back to `v2-only`: nublado disabled (Format A) and its
/// v3 values file gone, as before its operators enabled v3 by hand.
fn back_to_v2_only(root: &Path, env: &str) {
    let env_file = root.join(format!("environments/values-{env}.yaml"));
    let text = std::fs::read_to_string(&env_file).unwrap();
    let text = text.replacen("nublado:\n  enabled: true", "nublado:\n  enabled: false", 1);
    std::fs::write(&env_file, text).unwrap();
    let _ = std::fs::remove_file(root.join(format!("applications/nublado/values-{env}.yaml")));
    let v2 = root.join(format!("applications/nublado2/values-{env}.yaml"));
    let text = std::fs::read_to_string(&v2).unwrap();
    std::fs::write(&v2, text.replace("    baseUrl: \"/n2\"\n", "")).unwrap();
}

/// What `plan nublado enable-v3` says of every v2 setting and what it leaves to the operator,
/// for three environments of the 2023 tree: two still on v2 (`ccin2p3`, a hostPath site;
/// `roe`), and `usdfprod` as it was before its own v3 (claims, a Jinja-free template, an
/// in-cluster database).
#[test]
fn still_to_supply_for_three_environments_of_the_2023_tree() {
    let Some(corpus) = common::shared_data("corpus/phalanx-2023-08") else {
        return;
    };
    let dir = copy_of(&corpus);
    let root = dir.path();
    back_to_v2_only(root, "usdfprod");
    assert_eq!(status(root)["usdfprod"].0, "v2-only");
    for env in ["ccin2p3", "roe", "usdfprod"] {
        let (code, stdout, stderr) = gm(root, &["plan", "nublado", "enable-v3", "--env", env]);
        assert_eq!(code, 0, "{env}: {stderr}");
        let text = format!(
            "{}\n{}",
            section(&stdout, "Account of every setting"),
            section(&stdout, "Still to supply in the files")
        );
        snap!(&format!("still_to_supply_2023_{env}"), text);
        // The same account as JSON: every leaf once, the items listed.
        let (code, json, _) = gm(
            root,
            &[
                "plan",
                "nublado",
                "enable-v3",
                "--env",
                env,
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let counts = &v["ledger"]["counts"];
        let total: u64 = ["translated", "carried", "obsolete", "for-the-operator"]
            .iter()
            .map(|k| counts[k].as_u64().unwrap())
            .sum();
        assert_eq!(
            total as usize,
            v["ledger"]["entries"].as_array().unwrap().len()
        );
        assert!(
            v["still_to_supply"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| stdout.contains(t.as_str().unwrap())),
            "{env}"
        );
    }
}

/// On a copy of today's tree, `finish` keeps `jupyterhub_db` where nublado v3's effective
/// database is the in-cluster `jupyterhub` (the chart default, for `ukidacdev` and
/// `ukidacprod`), says why, and leaves `database-cleanup` out of their windows; elsewhere the
/// block goes. The result validates with no new error.
#[test]
fn finish_keeps_jupyterhub_db_where_v3_uses_it_on_the_2026_tree() {
    let Some(corpus) = common::shared_data("corpus/phalanx-2026") else {
        return;
    };
    let dir = copy_of(&corpus);
    let root = dir.path();
    let (code, stdout, stderr) = gm(root, &["plan", "nublado", "finish"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("would not validate"), "{stdout}");
    for env in ["ukidacdev", "ukidacprod"] {
        assert!(
            !stdout.contains(&format!("--- a/applications/postgres/values-{env}.yaml")),
            "{env}: {stdout}"
        );
        assert!(
            stdout.contains(&format!("`applications/postgres/values-{env}.yaml`: `jupyterhub_db` stays: nublado v3 in `{env}` uses the `jupyterhub` database of the in-cluster server (the chart default (`applications/nublado/values.yaml:606`))")),
            "{env}: {stdout}"
        );
    }
    for env in ["ccin2p3", "usdfdev", "usdfint", "usdfprod", "usdf-tel-rsp"] {
        assert!(
            stdout.contains(&format!("--- a/applications/postgres/values-{env}.yaml")),
            "{env}: {stdout}"
        );
    }
    assert!(
        stdout.contains("except in `ukidacdev`, `ukidacprod`, whose nublado v3 uses it"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "Window runbook of ukidacdev (gitops-migrate exec nublado finish --env ukidacdev):\n"
        ),
        "{stdout}"
    );
    let p = phalanx(root);
    for (env, cleanup) in [("ukidacdev", false), ("usdfprod", true)] {
        let steps = stages::runbook(&p, stage("finish"), p.env(env).unwrap());
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.contains(&"database-cleanup"), cleanup, "{env}: {ids:?}");
        assert!(ids.contains(&"vault-cleanup"));
        assert!(
            steps.iter().all(|s| !s.cluster),
            "{env}: no kube context needed"
        );
    }
    let before = validate_errors(root);
    let (code, out, err) = gm(root, &["apply", "nublado", "finish"]);
    assert_eq!(code, 0, "{out}{err}");
    let kept =
        std::fs::read_to_string(root.join("applications/postgres/values-ukidacdev.yaml")).unwrap();
    assert!(kept.contains("jupyterhub_db:"), "{kept}");
    let new: Vec<_> = validate_errors(root).difference(&before).cloned().collect();
    assert!(new.is_empty(), "{new:?}");
}

/// v2's hub on an external server: v3 gets its own database on the same server (not the
/// in-cluster one the environment also runs), the plan names the DBA request, and the postgres
/// values stay as they are. `--hub-db-url` decides instead.
#[test]
fn an_external_hub_database_stays_external() {
    let Some(corpus) = common::shared_data("corpus/phalanx-2023-08") else {
        return;
    };
    let dir = copy_of(&corpus);
    let root = dir.path();
    back_to_v2_only(root, "summit");
    let p = phalanx(root);
    assert!(
        p.is_enabled("summit", "postgres"),
        "summit runs postgres too"
    );
    let plan = plan(&p, "enable-v3", &["summit"]);
    let v3 = changed(&plan, "applications/nublado/values-summit.yaml");
    assert!(
        v3.contains("url: \"postgresql://nublado3@postgresdb01.cp.lsst.org/nublado3\""),
        "{v3}"
    );
    assert!(
        !plan
            .changes
            .paths()
            .contains("applications/postgres/values-summit.yaml"),
        "the in-cluster server is not v2's"
    );
    assert!(
        plan.checklist.iter().any(|c| c.contains("ask your DBAs for the database `nublado3` owned by the role `nublado3` on `postgresdb01.cp.lsst.org`")),
        "{:#?}",
        plan.checklist
    );
    assert!(!plan.runbook.iter().any(|s| s.id == "sync-app:postgres"));
    let before = validate_errors(root);
    let (code, out, err) = gm(root, &["apply", "nublado", "enable-v3", "--env", "summit"]);
    assert_eq!(code, 0, "{out}{err}");
    let new: Vec<_> = validate_errors(root).difference(&before).cloned().collect();
    assert!(
        new.iter()
            .all(|(rule, _, _)| !rule.starts_with("nublado-db") && rule != "nublado-shared-db"),
        "{new:?}"
    );
    // --hub-db-url decides instead; a URL with a password is refused before anything.
    let dir = copy_of(&corpus);
    back_to_v2_only(dir.path(), "summit");
    let url = "postgresql://jhub3@db3.cp.lsst.org:5433/sessions";
    let (code, out, err) = gm(
        dir.path(),
        &[
            "plan",
            "nublado",
            "enable-v3",
            "--env",
            "summit",
            "--hub-db-url",
            url,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("url: \"{url}\"")), "{out}");
    assert!(out.contains("ask your DBAs for the database `sessions` owned by the role `jhub3` on `db3.cp.lsst.org:5433`"), "{out}");
    let (code, _, err) = gm(
        dir.path(),
        &[
            "plan",
            "nublado",
            "enable-v3",
            "--env",
            "summit",
            "--hub-db-url",
            "postgresql://u:secret@h/d",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("carries a password"), "{err}");
    assert!(
        !err.contains("secret@"),
        "the password is not echoed: {err}"
    );
    let (code, _, err) = gm(
        dir.path(),
        &[
            "plan",
            "nublado",
            "make-default",
            "--env",
            "base",
            "--hub-db-url",
            url,
        ],
    );
    assert_eq!(code, 2, "{err}");
}

/// A v3 values file made before `enable-v3` (to set the database URL, as operators did) no
/// longer turns the translation off: what it lacks is added, what it has is kept and compared.
#[test]
fn a_pre_created_v3_values_file_gets_what_it_lacks() {
    let dir = copy("phalanx");
    let rel = "applications/nublado/values-idfprod.yaml";
    std::fs::write(
        dir.path().join(rel),
        "jupyterhub:\n  hub:\n    db:\n      url: \"postgresql://nublado3@postgres.postgres/nublado3\"\n",
    )
    .unwrap();
    let p = phalanx(dir.path());
    let plan = plan(&p, "enable-v3", &["idfprod"]);
    let after = plan.changes.content(rel).unwrap().unwrap().to_string();
    for want in [
        "url: \"postgresql://nublado3@postgres.postgres/nublado3\"",
        "serverPath: \"/share1/home\"",
        "initContainers:",
        "pullSecret: \"pull-secret\"",
        "baseUrl: \"/n3\"",
        "HUB_ROUTE: \"/n3/hub\"",
    ] {
        assert!(after.contains(want), "{want}\n{after}");
    }
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("exists already") && n.contains("those it lacked are added")),
        "{:#?}",
        plan.notes
    );
    // The ledger holds what the file holds: the volumes it now has are translated.
    let c = plan.ledger.counts();
    assert!(c.translated >= 20, "{c}");
}

/// `drop-v2-values` refuses to delete the evidence of open `nublado-v3-mount` errors; with
/// `--force` it deletes them and the pull request repeats the findings.
#[test]
fn drop_v2_values_keeps_the_evidence_of_open_mount_errors() {
    let dir = copy("phalanx");
    // v2 mounts /scratch, which v3 does not.
    let v2 = dir.path().join("applications/nublado2/values-usdfdev.yaml");
    let text = std::fs::read_to_string(&v2).unwrap();
    std::fs::write(
        &v2,
        format!(
            "{}    - name: scratch\n      mountPath: /scratch\n",
            text.replace(
                "  volume_mounts:\n",
                "    - name: scratch\n      nfs: {path: /scratch, server: 10.1.1.1}\n  volume_mounts:\n",
            )
        ),
    )
    .unwrap();
    let before = tree(dir.path());
    let (code, out, err) = gm(
        dir.path(),
        &["apply", "nublado", "drop-v2-values", "--env", "usdfdev"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("`drop-v2-values` would delete the evidence of open `nublado-v3-mount` errors in `usdfdev`"), "{err}");
    assert!(err.contains("`/scratch` is mounted in nublado v2"), "{err}");
    assert_eq!(tree(dir.path()), before, "nothing written");
    let p = phalanx(dir.path());
    let forced = stages::plan(
        &p,
        stage("drop-v2-values"),
        &["usdfdev".to_string()],
        &Options {
            force: true,
            ..Options::default()
        },
    )
    .unwrap();
    let body = report::pr_body(&forced);
    assert!(
        body.contains("--force: `usdfdev` still has 1 `nublado-v3-mount` error"),
        "{body}"
    );
    assert!(
        body.contains("- [ ] `applications/nublado/values-usdfdev.yaml:"),
        "{body}"
    );
    assert!(
        body.contains("`/scratch` is mounted in nublado v2"),
        "{body}"
    );
    assert!(!forced.changes.is_empty());
}

/// `finish` on a Format A tree removes the three applications' blocks from every environment
/// file (no `enabled: false` left, no unknown-application warnings); `--strict` fails while
/// anything still names them, even once there is nothing left to change.
#[test]
fn format_a_finish_removes_the_blocks_and_strict_counts_what_remains() {
    let dir = copy("phalanx-format-a");
    complete_all(dir.path());
    let (code, out, err) = gm(dir.path(), &["apply", "nublado", "finish"]);
    assert_eq!(code, 0, "{out}{err}");
    for env in ["idfdev", "idfint", "idfprod"] {
        let text =
            std::fs::read_to_string(dir.path().join(format!("environments/values-{env}.yaml")))
                .unwrap();
        for app in ["nublado2:", "cachemachine:", "moneypenny:"] {
            assert!(!text.contains(app), "{env}: {app}\n{text}");
        }
    }
    let (code, out, _) = gm(dir.path(), &["validate"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("env-unknown-app"), "{out}");
    // A comment still names nublado2: --strict fails although nothing is left to change.
    let (code, out, _) = gm(dir.path(), &["plan", "nublado", "finish", "--strict"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("nothing to do"), "{out}");
    assert!(out.contains("environments/values-idfdev.yaml:"), "{out}");
    let (code, _, _) = gm(
        dir.path(),
        &["plan", "nublado", "finish", "--strict", "--format", "json"],
    );
    assert_eq!(code, 1);
}

/// `announce` before and after its stage is applied (or merged) prints the same announcement.
#[test]
fn announce_is_the_same_before_and_after_the_stage_is_applied() {
    for (stage_name, env) in [
        ("enable-v3", "idfprod"),
        ("make-default", "idfdev"),
        ("disable-v2", "idfint"),
    ] {
        let dir = copy("phalanx");
        let (code, before, _) = gm(
            dir.path(),
            &["announce", "nublado", stage_name, "--env", env],
        );
        assert_eq!(code, 0);
        let (code, out, err) = gm(dir.path(), &["apply", "nublado", stage_name, "--env", env]);
        assert_eq!(code, 0, "{stage_name}: {out}{err}");
        let (code, after, err) = gm(
            dir.path(),
            &["announce", "nublado", stage_name, "--env", env],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(after, before, "{stage_name}");
        assert!(err.contains("already past"), "{err}");
    }
}

/// The window runbooks say what the change needs: `enable-v3` with an in-cluster database
/// syncs `postgres` and checks v3's role before starting v3; with an external one it does not.
#[test]
fn enable_v3_syncs_postgres_and_checks_the_role_when_v3_is_on_the_in_cluster_server() {
    let dir = copy("phalanx");
    let p = phalanx(dir.path());
    let plan = plan(&p, "enable-v3", &["idfprod"]);
    let ids: Vec<&str> = plan.runbook.iter().map(|s| s.id.as_str()).collect();
    let at = |id: &str| {
        ids.iter()
            .position(|x| *x == id)
            .unwrap_or_else(|| panic!("{id}: {ids:?}"))
    };
    assert!(at("sync-app:science-platform") < at("sync-app:postgres"));
    assert!(at("sync-app:postgres") < at("check-db-role:nublado3"));
    assert!(at("check-db-role:nublado3") < at("sync-app:nublado"));
    // After the merge (the files show `v3-beside`), the window is the same.
    let (code, out, err) = gm(
        dir.path(),
        &["apply", "nublado", "enable-v3", "--env", "idfprod"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let p = phalanx(dir.path());
    let steps = stages::runbook(&p, stage("enable-v3"), p.env("idfprod").unwrap());
    assert_eq!(steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ids);
}
