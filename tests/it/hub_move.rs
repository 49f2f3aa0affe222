//! The `hub-move` playbook's Git stages on temp copies of `fixtures/infrastructure` (diffs as
//! insta snapshots in the top-level `snapshots/`), the CLI's refusals and idempotence, and a
//! `setup` then `cutover` on a temp copy of `../shared/corpus/infrastructure-2026`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_migrate::playbook::StagePlan;
use gitops_migrate::playbook::hub_move::{self, Move, Stage};
use gitops_migrate::repo::{self, Infrastructure, Repo};
use gitops_migrate::validate::{self, Severity, rule};

use crate::common;
use common::{copy_dir, tree};

macro_rules! snap {
    ($name:expr, $value:expr) => {
        crate::common::snapshot(&format!("hub_move__{}", $name), $value)
    };
}

fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/infrastructure"),
        dir.path(),
    );
    dir
}

fn infra(root: &Path) -> Infrastructure {
    match repo::open(root).unwrap() {
        Repo::Infrastructure(i) => i,
        Repo::Phalanx(_) => panic!("expected an infrastructure repository"),
    }
}

fn mv(hub: &str, from: &str, to: &str, new_name: Option<&str>, temp: Option<&str>) -> Move {
    Move {
        hub: hub.into(),
        from: from.into(),
        to: to.into(),
        new_name: new_name.map(str::to_string),
        temp_domain: temp.map(str::to_string),
        reencrypt: false,
    }
}

fn plan(root: &Path, stage: Stage, m: &Move) -> StagePlan {
    hub_move::plan(&infra(root), stage, m).unwrap_or_else(|e| panic!("{e}"))
}

/// The diff and the notes and todo of a plan, for snapshots.
fn shown(p: &StagePlan) -> String {
    let mut s = p.changes.diff(false);
    for t in &p.todo {
        s.push_str(&format!("todo: {t}\n"));
    }
    for n in &p.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}

/// The errors of the reference and domain rules, as `rule file message`.
fn reference_errors(root: &Path) -> BTreeSet<String> {
    let r = repo::open(root).unwrap();
    validate::validate(&r)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(|f| {
            [
                rule::INFRA_MISSING_FILE,
                rule::INFRA_DUPLICATE_DOMAIN,
                rule::INFRA_DUPLICATE_HUB,
            ]
            .contains(&f.rule)
        })
        .map(|f| format!("{} {} {}", f.rule, f.file, f.message))
        .collect()
}

/// Plans, applies and checks that the result has no new reference or domain errors
/// (ignoring missing `enc-*` files when `ignore_enc`).
fn apply(root: &Path, stage: Stage, m: &Move, ignore_enc: bool) -> StagePlan {
    let before = reference_errors(root);
    let p = plan(root, stage, m);
    p.changes.apply(root).unwrap();
    let new: Vec<String> = reference_errors(root)
        .difference(&before)
        .filter(|e| !(ignore_enc && e.contains("enc-")))
        .cloned()
        .collect();
    assert!(new.is_empty(), "new errors after {}: {new:#?}", p.stage);
    p
}

#[test]
fn setup_into_empty_hubs_with_temp_domain() {
    let dir = fixture_copy();
    let m = mv(
        "prod",
        "temple",
        "newcluster",
        None,
        Some("next.temple.2i2c.cloud"),
    );
    let p = apply(dir.path(), Stage::Setup, &m, false);
    snap!("setup_temple_prod_newcluster_diff", shown(&p));
    let text = std::fs::read_to_string(dir.path().join("config/clusters/newcluster/cluster.yaml"))
        .unwrap();
    assert!(text.contains("hubs:\n- name: prod\n"), "{text}");
    assert!(text.contains("# - name: staging"), "template comments kept");
    // Idempotent.
    let again = plan(dir.path(), Stage::Setup, &m);
    assert!(again.is_nothing_to_do());
    assert_eq!(again.already_done, vec!["temple/prod".to_string()]);
}

#[test]
fn cutover_keeps_the_next_entrys_comment() {
    let dir = fixture_copy();
    let m = mv(
        "prod",
        "temple",
        "newcluster",
        None,
        Some("next.temple.2i2c.cloud"),
    );
    apply(dir.path(), Stage::Setup, &m, false);
    let p = apply(dir.path(), Stage::Cutover, &m, false);
    snap!("cutover_temple_prod_newcluster_diff", shown(&p));
    let temple =
        std::fs::read_to_string(dir.path().join("config/clusters/temple/cluster.yaml")).unwrap();
    assert!(temple.contains(
        "  - enc-staging.secret.values.yaml\n  # Temporary deploy a staging hub for UCMerced\n  # ref: https://github.com/2i2c-org/infrastructure/issues/3188\n- name: ucmerced-staging\n"
    ), "{temple}");
    assert!(
        !dir.path()
            .join("config/clusters/temple/prod.values.yaml")
            .exists()
    );
    assert!(
        dir.path()
            .join("config/clusters/temple/common.values.yaml")
            .exists()
    );
    assert!(plan(dir.path(), Stage::Cutover, &m).is_nothing_to_do());
    let d = plan(dir.path(), Stage::Decommission, &m);
    assert!(d.is_nothing_to_do());
    assert!(d.runbook.iter().all(|s| s.id.starts_with("manual:")));
}

#[test]
fn setup_with_rename_and_shared_file_present() {
    let dir = fixture_copy();
    let m = mv(
        "staging",
        "temple",
        "2i2c-aws-us",
        Some("temple-staging"),
        Some("temple-staging.aws.2i2c.cloud"),
    );
    let p = apply(dir.path(), Stage::Setup, &m, false);
    snap!("setup_rename_temple_staging_aws_diff", shown(&p));
    let c = "config/clusters/2i2c-aws-us/";
    assert!(
        dir.path()
            .join(format!("{c}temple-staging.values.yaml"))
            .exists()
    );
    assert!(
        dir.path()
            .join(format!("{c}enc-temple-staging.secret.values.yaml"))
            .exists()
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("common.values.yaml") && n.contains("not overwritten"))
    );
    let p = apply(dir.path(), Stage::Cutover, &m, false);
    snap!("cutover_rename_temple_staging_aws_diff", shown(&p));
}

#[test]
fn setup_refuses_a_name_taken_and_a_served_domain() {
    let dir = fixture_copy();
    let i = infra(dir.path());
    let e = hub_move::plan(
        &i,
        Stage::Setup,
        &mv("prod", "temple", "newcluster", None, None),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("--temp-domain next.temple.2i2c.cloud"),
        "{e}"
    );
    assert!(!e.is_input_error());
    let e = hub_move::plan(
        &i,
        Stage::Setup,
        &mv(
            "staging",
            "temple",
            "2i2c-aws-us",
            None,
            Some("x.aws.2i2c.cloud"),
        ),
    )
    .unwrap_err();
    assert!(e.to_string().contains("--new-name"), "{e}");
    let e = hub_move::plan(
        &i,
        Stage::Setup,
        &mv("prod", "tempel", "newcluster", None, None),
    )
    .unwrap_err();
    assert!(e.is_input_error());
    assert!(e.to_string().contains("did you mean `temple`"), "{e}");
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gitops-migrate"))
}

fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    run_with_path(root, &std::env::var("PATH").unwrap_or_default(), &[], args)
}

#[test]
fn cli_refusals_apply_then_plan() {
    let dir = fixture_copy();
    let root = dir.path();
    let base = ["--hub", "prod", "--from", "temple", "--to", "newcluster"];
    let (code, _, err) = run(root, &["plan", "hub-move", "setup", "--hub", "prod"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--from, --to"), "{err}");
    let (code, _, err) = run(
        root,
        &[
            "plan",
            "hub-move",
            "setup",
            "--hub",
            "prod",
            "--from",
            "temple",
            "--to",
            "newclustr",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean `newcluster`"), "{err}");
    let (code, _, err) = run(root, &[&["plan", "hub-move", "setup"][..], &base].concat());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--temp-domain next.temple.2i2c.cloud"),
        "{err}"
    );
    let args = [
        &["hub-move", "setup"][..],
        &base,
        &["--temp-domain", "next.temple.2i2c.cloud", "--allow-dirty"],
    ]
    .concat();
    let (code, out, err) = run(root, &[&["apply"][..], &args].concat());
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(root, &[&["plan"][..], &args].concat());
    assert_eq!(code, 0);
    assert!(out.starts_with("nothing to do"), "{out}");
    let (code, out, err) = run(root, &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    let cut = [&["hub-move", "cutover"][..], &base, &["--allow-dirty"]].concat();
    let (code, out, err) = run(root, &[&["announce"][..], &cut].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("https://temple.2i2c.cloud") && out.contains("<DATE"),
        "{out}"
    );
    let (code, out, err) = run(root, &[&["apply"][..], &cut].concat());
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = run(root, &[&["plan"][..], &cut].concat());
    assert!(out.starts_with("nothing to do"), "{out}");
    let (code, out, err) = run(root, &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = run(root, &["playbooks"]);
    assert!(
        out.contains("hub-move:") && out.contains("decommission"),
        "{out}"
    );
}

#[test]
fn corpus_setup_then_cutover() {
    let Some(corpus) = common::shared_data("corpus/infrastructure-2026") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&corpus, dir.path());
    let m = mv(
        "research",
        "temple",
        "ucmerced",
        None,
        Some("research.ucmerced.2i2c.cloud"),
    );
    let p = apply(dir.path(), Stage::Setup, &m, true);
    let (a, r) = p.changes.line_counts();
    eprintln!(
        "corpus setup temple/research → ucmerced: {} files, {a} lines added, {r} removed",
        p.changes.ops().len()
    );
    let p = apply(dir.path(), Stage::Cutover, &m, true);
    let (a, r) = p.changes.line_counts();
    eprintln!(
        "corpus cutover temple/research → ucmerced: {} files, {a} lines added, {r} removed",
        p.changes.ops().len()
    );
    assert!(plan(dir.path(), Stage::Cutover, &m).is_nothing_to_do());
}

/// `gitops-migrate -C root ARGS` with `PATH` set to `path`, and the stand-in sops's settings.
fn run_with_path(
    root: &Path,
    path: &str,
    envs: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let out = Command::new(bin())
        .arg("-C")
        .arg(root)
        .args(["--color", "never"])
        .args(args)
        .env("PATH", path)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn setup_reencrypts_for_the_targets_keys_only_when_asked() {
    let dir = fixture_copy();
    let root = dir.path();
    // The repository's secrets move to another key: the copied file's key no longer matches.
    let sops = root.join(".sops.yaml");
    let text = std::fs::read_to_string(&sops).unwrap().replacen(
        "cryptoKeys/similar-hubs",
        "cryptoKeys/newcluster-hubs",
        1,
    );
    std::fs::write(&sops, text).unwrap();
    let enc = "config/clusters/newcluster/enc-prod.secret.values.yaml";
    let m = mv(
        "prod",
        "temple",
        "newcluster",
        None,
        Some("next.temple.2i2c.cloud"),
    );

    // Without --reencrypt: the command is listed, the file copied as it is.
    let p = plan(root, Stage::Setup, &m);
    assert!(
        p.todo
            .iter()
            .any(|t| t.contains(&format!("`sops updatekeys -y {enc}`"))),
        "{:#?}",
        p.todo
    );

    let args = [
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
        "--reencrypt",
    ];
    let standins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins");
    let system = std::env::var("PATH").unwrap_or_default();
    let before = tree(root);

    // No sops on PATH: refused, nothing written.
    let (code, _, err) = run_with_path(root, "/nonexistent", &[], &args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--reencrypt: cannot run sops"), "{err}");
    assert_eq!(tree(root), before);

    // sops without access to the old key: refused with its message, nothing written.
    let path = format!("{}:{system}", standins.display());
    let (code, _, err) = run_with_path(root, &path, &[("STANDIN_SOPS_FAIL", "1")], &args);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "`sops updatekeys -y {enc}` failed: Could not decrypt the data key"
        )),
        "{err}"
    );
    assert_eq!(tree(root), before);

    // With sops: the copy is re-encrypted for the target's key, the source file untouched.
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("sops-calls.log");
    let log_s = log.display().to_string();
    let (code, out, err) = run_with_path(root, &path, &[("STANDIN_SOPS_LOG", &log_s)], &args);
    assert_eq!(code, 0, "{out}{err}");
    let copied = std::fs::read_to_string(root.join(enc)).unwrap();
    assert!(
        copied.contains("resource_id: projects/example-infra/locations/global/keyRings/sops-keys/cryptoKeys/newcluster-hubs"),
        "{copied}"
    );
    let original =
        std::fs::read_to_string(root.join("config/clusters/temple/enc-prod.secret.values.yaml"))
            .unwrap();
    assert!(original.contains("cryptoKeys/similar-hubs"));
    // The values themselves are the source's (sops re-encrypts the data key only).
    let values = |t: &str| {
        t.lines()
            .filter(|l| l.contains("ENC[AES256_GCM"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&copied), values(&original));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("updatekeys -y {enc}\n")
    );
    assert!(out.contains("re-encrypted for the target's keys"), "{out}");
}
