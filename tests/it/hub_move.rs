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
        ..Move::default()
    }
}

fn plan(root: &Path, stage: Stage, m: &Move) -> StagePlan {
    hub_move::plan(&infra(root), stage, m).unwrap_or_else(|e| panic!("{e}"))
}

/// The diff and the notes and todo of a plan, for snapshots.
fn shown(p: &StagePlan) -> String {
    let mut s = p.changes.diff(false);
    if !p.ledger.is_empty() {
        s.push_str(&format!("ledger: {}\n", p.ledger.counts()));
        for l in p.ledger.detail_lines() {
            s.push_str(&format!("ledger: {l}\n"));
        }
    }
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
            .any(|n| n.contains("decision: `common.values.yaml` is in both `temple` and `2i2c-aws-us` with different content; the hub takes `2i2c-aws-us`'s"))
    );
    let p = apply(dir.path(), Stage::Cutover, &m, false);
    snap!("cutover_rename_temple_staging_aws_diff", shown(&p));
}

#[test]
fn setup_refuses_a_name_taken_and_a_served_domain() {
    let dir = fixture_copy();
    // A domain served, and no wildcard known in the target to default under.
    std::fs::write(
        dir.path()
            .join("config/clusters/newcluster/support.values.yaml"),
        "grafana:\n  enabled: true\n",
    )
    .unwrap();
    let i = infra(dir.path());
    let e = hub_move::plan(
        &i,
        Stage::Setup,
        &mv("prod", "temple", "newcluster", None, None),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(
            "domain `temple.2i2c.cloud` is still served by hub `prod` of cluster `temple`"
        ) && e.to_string().contains("--temp-domain NAME"),
        "{e}"
    );
    assert!(!e.is_input_error());
    // A temporary domain already served.
    let e = hub_move::plan(
        &i,
        Stage::Setup,
        &mv(
            "prod",
            "temple",
            "newcluster",
            None,
            Some("staging.temple.2i2c.cloud"),
        ),
    )
    .unwrap_err();
    assert!(e.to_string().contains("is already served by"), "{e}");
    let fresh = fixture_copy();
    let i = infra(fresh.path());
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
    assert!(
        err.contains("required arguments were not provided")
            && err.contains("--from <CLUSTER>")
            && err.contains("--to <CLUSTER>"),
        "{err}"
    );
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
    // Without --temp-domain: a name under the target's wildcard, and how it resolves.
    let (code, out, err) = run(root, &[&["plan", "hub-move", "setup"][..], &base].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("+  domain: prod.newcluster.2i2c.cloud\n")
            && out.contains("the temporary domain defaults to `prod.newcluster.2i2c.cloud`")
            && out.contains(
                "resolves through the wildcard `*.newcluster.2i2c.cloud` of `newcluster`"
            ),
        "{out}"
    );
    // A temporary domain that is not a domain name: an input error.
    let (code, _, err) = run(
        root,
        &[
            &["plan", "hub-move", "setup"][..],
            &base,
            &["--temp-domain", "https://next.temple.2i2c.cloud/"],
        ]
        .concat(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "`https://next.temple.2i2c.cloud/` is not a domain name: give the host name alone"
        ),
        "{err}"
    );
    let args = [
        &["hub-move", "setup"][..],
        &base,
        &["--temp-domain", "next.temple.2i2c.cloud"],
    ]
    .concat();
    let (code, out, err) = run(root, &[&["apply"][..], &args, &["--allow-dirty"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(root, &[&["plan"][..], &args].concat());
    assert_eq!(code, 0);
    assert!(out.starts_with("nothing to do"), "{out}");
    let (code, out, err) = run(root, &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    let cut = [&["hub-move", "cutover"][..], &base].concat();
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
    todo_has(&p, &format!("`sops updatekeys -y {enc}`"));

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
    // --reencrypt is the plan's: the window's `exec` command (which has no such option) names
    // the move alone.
    assert!(
        out.contains("(gitops-migrate exec hub-move setup --hub prod --from temple --to newcluster --temp-domain next.temple.2i2c.cloud):\n"),
        "{out}"
    );
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

fn moves_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/infrastructure-moves"),
        dir.path(),
    );
    dir
}

/// What names the source in a value reaching the target: its project or account, its cluster
/// name, its provider's buckets, registries, service accounts, machine types, volumes and
/// keys, and (for a rename) the old hub name. Independent of the playbook's own rules.
struct Source<'a> {
    cluster: &'a str,
    target: &'a str,
    target_provider: &'a str,
    project: &'a str,
    provider: &'a str,
    /// The old and new hub names, for a rename.
    old: Option<(&'a str, &'a str)>,
}

fn whole(hay: &str, needle: &str, dots: bool) -> bool {
    let b = |c: Option<char>| c.is_none_or(|c| "-_/:@".contains(c) || (dots && c == '.'));
    hay.match_indices(needle).any(|(i, _)| {
        let after = &hay[i + needle.len()..];
        b(hay[..i].chars().next_back()) && b(after.chars().next()) && !after.starts_with("-org")
    })
}

impl Source<'_> {
    fn names(&self, path: &str, v: &str) -> bool {
        let provider = match self.provider {
            // The same provider at both ends: its keys and values are the target's too.
            _ if self.provider == self.target_provider => false,
            "gcp" => {
                ["gs://", "gserviceaccount.com", "docker.pkg.dev", "-rwo"]
                    .iter()
                    .any(|m| v.contains(m))
                    || path.contains(".gke.")
                    || path.contains("iam.gke.io")
                    || ["n1-", "n2-", "n2d-", "e2-", "c2-", "c3-"]
                        .iter()
                        .any(|m| v.starts_with(m))
            }
            _ => {
                ["s3://", "arn:aws:", "amazonaws.com"]
                    .iter()
                    .any(|m| v.contains(m))
                    || v.starts_with("vol-")
                    || path.contains(".eks.")
                    || path.contains("eks.amazonaws.com")
                    || v.split_once('.').is_some_and(|(f, s)| {
                        f.len() <= 5
                            && f.chars().nth(1).is_some_and(|c| c.is_ascii_digit())
                            && s.ends_with("large")
                    })
            }
        };
        provider
            || v.contains(self.project)
            || whole(&self.masked(v), self.cluster, false)
            || self
                .old
                .is_some_and(|(o, _)| whole(&self.masked(v), o, false))
    }

    /// `v` without the new names that contain the old ones (`research` in `gcp-research`).
    fn masked(&self, v: &str) -> String {
        let mut m = v.to_string();
        for n in [self.old.map(|(_, n)| n), Some(self.target)]
            .into_iter()
            .flatten()
        {
            m = m.replace(n, "\u{1}");
        }
        m
    }
}

/// The values of the files `p` created in `target_dir` (applied in `root`) that name the
/// source and that the plan's ledger does not list for the operator, as `file path: value`.
fn unlisted(root: &Path, p: &StagePlan, target_dir: &str, src: &Source<'_>) -> Vec<String> {
    use gitops_migrate::playbook::ledger::{Fate, leaves};
    let listed: BTreeSet<(String, String)> = p
        .ledger
        .entries
        .iter()
        .filter_map(|e| match &e.fate {
            Fate::Operator { item } => Some((item.file.clone(), e.path.clone())),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for op in p.changes.ops() {
        let rel = op.path();
        let name = rel.rsplit('/').next().unwrap();
        if !rel.starts_with(target_dir) || name == "cluster.yaml" || name.starts_with("enc-") {
            continue;
        }
        let text = std::fs::read_to_string(root.join(rel)).unwrap();
        let doc = gitops_migrate::yaml::Document::parse(text).unwrap();
        for l in leaves(&doc) {
            let Some(v) = l.node.scalar_text() else {
                continue;
            };
            let path = l.path_text();
            if src.names(&path, v) && !listed.contains(&(rel.to_string(), path.clone())) {
                out.push(format!("{rel} {path}: {v}"));
            }
        }
    }
    out
}

/// Plans and applies a setup between the fixture clusters; snapshots the plan; checks that
/// nothing naming the source reaches the target unlisted.
fn fixture_move(
    name: &str,
    (hub, from, to): (&str, &str, &str),
    new_name: Option<&str>,
    temp: &str,
    src: Source<'_>,
) -> (tempfile::TempDir, StagePlan) {
    let dir = moves_copy();
    let m = mv(hub, from, to, new_name, Some(temp));
    let p = apply(dir.path(), Stage::Setup, &m, false);
    snap!(name, shown(&p));
    let left = unlisted(
        dir.path(),
        &p,
        &format!("config/clusters/{to}/"),
        &Source {
            old: new_name.map(|n| (hub, n)),
            target: to,
            target_provider: &infra(dir.path())
                .cluster(to)
                .and_then(|c| c.provider.clone())
                .unwrap(),
            ..src
        },
    );
    assert!(left.is_empty(), "unlisted source values: {left:#?}");
    (dir, p)
}

/// Asserts that an item under "Still to supply" contains `needle`.
fn todo_has(p: &StagePlan, needle: &str) {
    assert!(
        p.todo.iter().any(|t| t.contains(needle)),
        "no `{needle}` in {:#?}",
        p.todo
    );
}

fn target_text(dir: &tempfile::TempDir, to: &str, file: &str) -> String {
    std::fs::read_to_string(dir.path().join(format!("config/clusters/{to}/{file}"))).unwrap()
}

const GCP_A: Source<'static> = Source {
    cluster: "gcp-a",
    target: "",
    target_provider: "",
    project: "gcp-a-412",
    provider: "gcp",
    old: None,
};
const AWS_A: Source<'static> = Source {
    cluster: "aws-a",
    target: "",
    target_provider: "",
    project: "111111111111",
    provider: "aws",
    old: None,
};

#[test]
fn ledger_gcp_to_aws() {
    let (dir, p) = fixture_move(
        "ledger_gcp_to_aws",
        ("research", "gcp-a", "aws-b"),
        None,
        "research.aws-b.example.org",
        GCP_A,
    );
    let t = target_text(&dir, "aws-b", "research.values.yaml");
    assert!(!t.contains("gke:"), "{t}");
    todo_has(&p, "`jupyterhub-home-nfs.eks.volumeId`");
    // The bucket follows the target's own hubs; the GCP service account is listed, kept.
    assert!(
        t.contains("SCRATCH_BUCKET: s3://aws-b-scratch-research/$(JUPYTERHUB_USER)\n"),
        "{t}"
    );
    todo_has(&p, "gcp-a-research@gcp-a-412.iam.gserviceaccount.com");
}

#[test]
fn ledger_gcp_to_aws_renamed() {
    let (dir, _) = fixture_move(
        "ledger_gcp_to_aws_renamed",
        ("research", "gcp-a", "aws-b"),
        Some("gcp-research"),
        "gcp-research.aws-b.example.org",
        GCP_A,
    );
    let t = target_text(&dir, "aws-b", "gcp-research.values.yaml");
    assert!(t.contains("- /export/gcp-research\n"), "{t}");
    assert!(t.contains("2i2c/hub-name: gcp-research\n"), "{t}");
    assert!(t.contains("value: gcp-research\n"), "{t}");
}

#[test]
fn ledger_aws_to_gcp() {
    let (dir, p) = fixture_move(
        "ledger_aws_to_gcp",
        ("science", "aws-a", "gcp-b"),
        None,
        "science.gcp-b.example.org",
        AWS_A,
    );
    let t = target_text(&dir, "gcp-b", "science.values.yaml");
    assert!(
        t.contains("serverIP: storage-quota-home-nfs.science.svc.cluster.local\n"),
        "{t}"
    );
    assert!(!t.contains("eks:") && !t.contains("vol-"), "{t}");
    todo_has(&p, "`jupyterhub-home-nfs.gke.volumeId`");
}

#[test]
fn ledger_aws_to_gcp_renamed() {
    let (dir, _) = fixture_move(
        "ledger_aws_to_gcp_renamed",
        ("science", "aws-a", "gcp-b"),
        Some("aws-science"),
        "aws-science.gcp-b.example.org",
        AWS_A,
    );
    let t = target_text(&dir, "gcp-b", "aws-science.values.yaml");
    assert!(
        t.contains("serverIP: storage-quota-home-nfs.aws-science.svc.cluster.local\n"),
        "{t}"
    );
    assert!(t.contains("- /export/aws-science\n"), "{t}");
}

#[test]
fn ledger_gcp_to_gcp() {
    let (dir, p) = fixture_move(
        "ledger_gcp_to_gcp",
        ("research", "gcp-a", "gcp-b"),
        None,
        "research.gcp-b.example.org",
        GCP_A,
    );
    let t = target_text(&dir, "gcp-b", "research.values.yaml");
    // Same provider: the GKE keys stay, the project and the bucket follow the target.
    assert!(
        t.contains(
            "iam.gke.io/gcp-service-account: gcp-b-research@gcp-b-977.iam.gserviceaccount.com\n"
        ),
        "{t}"
    );
    assert!(
        t.contains("SCRATCH_BUCKET: gs://gcp-b-scratch-research/$(JUPYTERHUB_USER)\n"),
        "{t}"
    );
    assert!(t.contains("gke:\n    enabled: true\n"), "{t}");
    assert!(!t.contains("volumeId"), "{t}");
    todo_has(&p, "`jupyterhub-home-nfs.gke.volumeId`");
}

#[test]
fn ledger_gcp_to_gcp_renamed() {
    let (dir, _) = fixture_move(
        "ledger_gcp_to_gcp_renamed",
        ("research", "gcp-a", "gcp-b"),
        Some("gcp-a-research"),
        "gcp-a-research.gcp-b.example.org",
        GCP_A,
    );
    let t = target_text(&dir, "gcp-b", "gcp-a-research.values.yaml");
    assert!(
        t.contains("serverIP: storage-quota-home-nfs.gcp-a-research.svc.cluster.local\n"),
        "{t}"
    );
    assert!(
        t.contains("SCRATCH_BUCKET: gs://gcp-b-scratch-gcp-a-research/$(JUPYTERHUB_USER)\n"),
        "{t}"
    );
}

/// A hub on `jupyterhub-home-nfs` of a GCP cluster of the real tree moved (and renamed, the
/// target has its own `staging`) to an AWS cluster: nothing naming GCP, the source project or
/// cluster, or the old hub name reaches the target without being listed.
#[test]
fn corpus_gcp_to_aws_lists_every_source_value() {
    let Some(corpus) = common::shared_data("corpus/infrastructure-2026") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&corpus, dir.path());
    let m = mv(
        "staging",
        "ucec",
        "2i2c-aws-us",
        Some("ucec-staging"),
        Some("ucec-staging.aws.2i2c.cloud"),
    );
    let p = apply(dir.path(), Stage::Setup, &m, true);
    let src = Source {
        cluster: "ucec",
        target: "2i2c-aws-us",
        target_provider: "aws",
        project: "ucec-503914",
        provider: "gcp",
        old: Some(("staging", "ucec-staging")),
    };
    let left = unlisted(dir.path(), &p, "config/clusters/2i2c-aws-us/", &src);
    assert!(left.is_empty(), "unlisted source values: {left:#?}");
    let copy = std::fs::read_to_string(
        dir.path()
            .join("config/clusters/2i2c-aws-us/ucec-staging.values.yaml"),
    )
    .unwrap();
    assert!(!copy.contains("gke:"), "{copy}");
    todo_has(&p, "`jupyterhub-home-nfs.eks.volumeId`");
    let c = p.ledger.counts();
    eprintln!("corpus ucec/staging → 2i2c-aws-us/ucec-staging: {c}");
    assert!(c.operator > 0 && c.carried > 0);
}

/// The login client follows the temporary domain: the setup's runbook names the client to
/// update before `manual:deploy-hub` (CILogon: the deployer's commands; GitHub: the app's
/// callback URL), the cutover's the step that restores it.
#[test]
fn the_login_client_is_updated_for_the_temporary_domain_and_restored() {
    let dir = moves_copy();
    let ids = |p: &StagePlan| p.runbook.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    let title = |p: &StagePlan, id: &str| {
        p.runbook
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.title.clone())
            .unwrap_or_else(|| panic!("no {id} in {:?}", p.runbook))
    };
    // CILogon (`authenticator_class: cilogon`), the temporary domain by default.
    let m = mv("research", "gcp-a", "aws-b", None, None);
    let p = apply(dir.path(), Stage::Setup, &m, false);
    assert_eq!(
        ids(&p),
        [
            "transfer-homes",
            "manual:check-grafana",
            "manual:login-client",
            "manual:deploy-hub"
        ]
    );
    let t = title(&p, "manual:login-client");
    assert!(
        t.contains(
            "`deployer cilogon-client create aws-b research basehub research.aws-b.example.org`"
        ) && t.contains("(do not `update` it)")
            && t.contains("enc-research.secret.values.yaml"),
        "{t}"
    );
    let p = plan(dir.path(), Stage::Cutover, &m);
    assert_eq!(ids(&p).last().unwrap(), "manual:restore-login-client");
    let t = title(&p, "manual:restore-login-client");
    assert!(
        t.contains("`deployer cilogon-client update aws-b research research.gcp-a.example.org`")
            && t.contains("delete the old hub's client `gcp-a-research`"),
        "{t}"
    );
    // The window's runbook (derived from the clusters) has the same steps.
    let w = hub_move::window(&infra(dir.path()), Stage::Cutover, &m).unwrap();
    assert_eq!(w.steps.last().unwrap().id, "manual:restore-login-client");

    // GitHub: a temporary app, then the original restored.
    let m = mv("science", "aws-a", "gcp-b", None, None);
    let p = apply(dir.path(), Stage::Setup, &m, false);
    let t = title(&p, "manual:login-client");
    assert!(
        t.contains("create a temporary OAuth app with the callback `https://science.gcp-b.example.org/hub/oauth_callback`"),
        "{t}"
    );
    let p = plan(dir.path(), Stage::Cutover, &m);
    let t = title(&p, "manual:restore-login-client");
    assert!(
        t.contains("restore the original GitHub OAuth app (callback `https://science.aws-a.example.org/hub/oauth_callback`)"),
        "{t}"
    );
}

/// `status` shows a move between `setup` and `cutover` (the same hub in two clusters) and
/// the command of its next stage; none before the setup or after the cutover.
#[test]
fn status_shows_a_move_in_progress() {
    let dir = moves_copy();
    let root = dir.path();
    let moves = |root: &Path| -> serde_json::Value {
        let (code, out, err) = run(root, &["status", "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["moves"].clone()
    };
    assert_eq!(moves(root), serde_json::json!([]));
    let m = mv("research", "gcp-a", "aws-b", Some("gcp-research"), None);
    apply(root, Stage::Setup, &m, false);
    assert_eq!(
        moves(root),
        serde_json::json!([{
            "hub": "research",
            "from": "gcp-a",
            "to": "aws-b",
            "new_name": "gcp-research",
            "domain": "research.gcp-a.example.org",
            "temp_domain": "gcp-research.aws-b.example.org",
            "next_stage": "cutover",
            "next": "gitops-migrate plan hub-move cutover --hub research --from gcp-a --to aws-b --new-name gcp-research",
        }])
    );
    let (_, out, _) = run(root, &["status"]);
    assert!(
        out.contains("moves in progress (1):\n  `research` of `gcp-a` → `aws-b` as `gcp-research` (research.gcp-a.example.org → gcp-research.aws-b.example.org): next `cutover`: gitops-migrate plan hub-move cutover --hub research --from gcp-a --to aws-b --new-name gcp-research\n"),
        "{out}"
    );
    apply(root, Stage::Cutover, &m, false);
    assert_eq!(moves(root), serde_json::json!([]));
}

/// `pr hub-move`: the stage's change committed on its own branch (`--no-push`: no remote, no
/// GitHub), under the hub-move stage's own heading; `--force` is its option (the branch exists
/// with other content), and a second run reuses the branch.
#[test]
fn pr_commits_a_hub_move_stage_on_its_own_branch() {
    let dir = fixture_copy();
    let root = dir.path();
    crate::common::commit_all(root);
    let head = Command::new("git")
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .current_dir(root)
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    let args = [
        "pr",
        "hub-move",
        "setup",
        "--hub",
        "prod",
        "--from",
        "temple",
        "--to",
        "newcluster",
        "--no-push",
        "--base",
        head.trim(),
    ];
    let (code, out, err) = run(root, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            ": deploy the hub in the target cluster beside the old one (temporary domain)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("branch: migrate/hub-move/setup") && out.contains("(new)"),
        "{out}"
    );
    assert!(err.contains("not pushed (--no-push)"), "{err}");
    let (code, out, err) = run(root, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("(already holds this change; no new commit)"),
        "{out}"
    );
    // Another move's content on the same branch: refused, then replaced under --force.
    let other = [&args[..], &["--temp-domain", "other.temple.2i2c.cloud"]].concat();
    let branch = out
        .lines()
        .find_map(|l| l.strip_prefix("branch: "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    let with_branch = [&other[..], &["--branch", &branch]].concat();
    let (code, _, err) = run(root, &with_branch);
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = run(root, &[&with_branch[..], &["--force"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(replaced under --force)"), "{out}");
}

/// The values files an entry of `cluster` lists for `hub`, after a stage was applied.
fn entry_files(root: &Path, cluster: &str, hub: &str) -> Vec<String> {
    let i = infra(root);
    i.cluster(cluster)
        .and_then(|c| c.hub(hub))
        .unwrap_or_else(|| panic!("no {cluster}/{hub}"))
        .values_files
        .iter()
        .map(|f| f.name.clone())
        .collect()
}

fn note_with<'p>(p: &'p StagePlan, needle: &str) -> &'p str {
    p.notes
        .iter()
        .find(|n| n.contains(needle))
        .unwrap_or_else(|| panic!("no note with `{needle}` in {:#?}", p.notes))
}

/// A hub moved into a cluster whose hubs all use `common.values.yaml` takes it instead of the
/// source's `basehub-common.values.yaml`, and carries from that only what it depends on: the
/// settings the target's file gives otherwise (the authenticator: stated, the hub keeps its
/// own) or not at all, not those the target gives the same value, not those its own file
/// overrides, and not the GKE disk switch (for the operator, on AWS).
#[test]
fn shared_files_the_hub_takes_the_targets_family_and_carries_what_it_depends_on() {
    let dir = moves_copy();
    let m = mv("alpha", "gcp-c", "aws-c", None, None);
    let p = apply(dir.path(), Stage::Setup, &m, false);
    snap!("shared_files_target_family", shown(&p));
    assert_eq!(
        entry_files(dir.path(), "aws-c", "alpha"),
        [
            "common.values.yaml",
            "gcp-c-basehub-common.values.yaml",
            "alpha.values.yaml"
        ]
    );
    assert!(
        !dir.path()
            .join("config/clusters/aws-c/basehub-common.values.yaml")
            .exists()
    );
    let carried = target_text(&dir, "aws-c", "gcp-c-basehub-common.values.yaml");
    assert_eq!(
        carried,
        "# The settings every hub of gcp-c shares.\njupyterhub:\n  hub:\n    config:\n      JupyterHub:\n        authenticator_class: github\n  scheduling:\n    userScheduler:\n      enabled: true\n"
    );
    let d = note_with(
        &p,
        "decision: the hubs of `aws-c` share `common.values.yaml`",
    );
    assert!(
        d.contains("`jupyterhub.hub.config.JupyterHub.authenticator_class`: `github` in `gcp-c`, `cilogon` in `aws-c`'s `common.values.yaml` — the hub keeps `github` (carried)"),
        "{d}"
    );
    let c = note_with(
        &p,
        "carries from `config/clusters/gcp-c/basehub-common.values.yaml` only what `alpha` depends on (2 settings)",
    );
    assert!(
        c.contains("`jupyterhub.scheduling.userScheduler.enabled: true`"),
        "{c}"
    );
    // Every setting of the family file is accounted for.
    let fates: Vec<String> = p
        .ledger
        .detail_lines()
        .into_iter()
        .filter(|l| l.contains("gcp-c/basehub-common.values.yaml"))
        .collect();
    assert_eq!(fates.len(), 10, "{fates:#?}");
    assert!(
        fates.iter().any(|l| l.contains("`nfs.pv.mountOptions[1]`")
            && l.contains("the same value in the target's `common.values.yaml`")),
        "{fates:#?}"
    );
    assert!(
        fates.iter().any(|l| l.contains("funded_by.name")
            && l.contains("the hub's own `alpha.values.yaml` sets it")),
        "{fates:#?}"
    );
    // The GKE disk switch of the shared file: the target's shared file switches on EKS's.
    assert!(
        fates.iter().any(|l| l.contains("`jupyterhub-home-nfs.gke.enabled`")
            && l.contains("obsolete: a GCP setting; the target's `common.values.yaml` sets `jupyterhub-home-nfs.eks`")),
        "{fates:#?}"
    );
    assert!(
        !p.todo.iter().any(|t| t.contains("gcp-c-basehub-common")),
        "{:#?}",
        p.todo
    );
    todo_has(&p, "`jupyterhub-home-nfs.eks.volumeId`");
}

/// A same-named shared file with other content in the target is a decision the plan states:
/// the hub takes the target's file, and each setting that differs is listed with the value
/// the hub ends up with.
#[test]
fn shared_files_a_same_named_file_that_differs_is_a_stated_decision() {
    let dir = moves_copy();
    let m = mv("alpha", "gcp-c", "gcp-d", None, None);
    let p = apply(dir.path(), Stage::Setup, &m, false);
    snap!("shared_files_same_name", shown(&p));
    let d = note_with(
        &p,
        "decision: `basehub-common.values.yaml` is in both `gcp-c` and `gcp-d` with different content; the hub takes `gcp-d`'s",
    );
    for differs in [
        "`nfs.pv.mountOptions`: `[soft, noatime]` in `gcp-c`, `[soft, noatime, vers=4.1]` in `gcp-d`'s `basehub-common.values.yaml` — the hub keeps `[soft, noatime]` (carried)",
        "`jupyterhub.hub.config.JupyterHub.authenticator_class`: `github` in `gcp-c`, `cilogon` in `gcp-d`'s `basehub-common.values.yaml` — the hub keeps `github` (carried)",
    ] {
        assert!(d.contains(differs), "{differs}\n{d}");
    }
    assert_eq!(
        entry_files(dir.path(), "gcp-d", "alpha"),
        [
            "basehub-common.values.yaml",
            "gcp-c-basehub-common.values.yaml",
            "alpha.values.yaml"
        ]
    );
    // The target's file is untouched; the carried one has what differs.
    assert_eq!(
        target_text(&dir, "gcp-d", "basehub-common.values.yaml"),
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "fixtures/infrastructure-moves/config/clusters/gcp-d/basehub-common.values.yaml"
        ))
        .unwrap()
    );
    let carried = target_text(&dir, "gcp-d", "gcp-c-basehub-common.values.yaml");
    assert!(
        carried.contains("    mountOptions:\n    - soft\n    - noatime\n"),
        "{carried}"
    );
    assert!(carried.contains("authenticator_class: github"), "{carried}");
    // Same provider: the GKE disk switch is the target's too.
    assert!(!carried.contains("gke"), "{carried}");
}

/// Moving a sibling after the first hub reuses the file the first move carried (adding what
/// the sibling alone depends on) and copies no family file again.
/// The source's family file changed between two sibling moves: the carried file keeps the
/// value the first hub depends on, and the second hub's value is left to the operator.
#[test]
fn shared_files_a_sibling_never_overwrites_what_an_earlier_move_carried() {
    let dir = moves_copy();
    apply(
        dir.path(),
        Stage::Setup,
        &mv("alpha", "gcp-c", "aws-c", None, None),
        false,
    );
    let family = dir
        .path()
        .join("config/clusters/gcp-c/basehub-common.values.yaml");
    let text = std::fs::read_to_string(&family).unwrap();
    assert!(text.contains("authenticator_class: github"), "{text}");
    std::fs::write(
        &family,
        text.replace(
            "authenticator_class: github",
            "authenticator_class: generic-oauth",
        ),
    )
    .unwrap();
    let p = apply(
        dir.path(),
        Stage::Setup,
        &mv("beta", "gcp-c", "aws-c", None, None),
        false,
    );
    let carried = target_text(&dir, "aws-c", "gcp-c-basehub-common.values.yaml");
    assert!(carried.contains("authenticator_class: github"), "{carried}");
    assert!(!carried.contains("generic-oauth"), "{carried}");
    assert!(
        p.todo.iter().any(|t| t.contains(
            "holds another value at `jupyterhub.hub.config.JupyterHub.authenticator_class`"
        ) && t.contains("generic-oauth")),
        "{:#?}",
        p.todo
    );
}

#[test]
fn shared_files_a_sibling_reuses_what_an_earlier_move_carried() {
    let dir = moves_copy();
    apply(
        dir.path(),
        Stage::Setup,
        &mv("alpha", "gcp-c", "aws-c", None, None),
        false,
    );
    let first = target_text(&dir, "aws-c", "gcp-c-basehub-common.values.yaml");
    let p = apply(
        dir.path(),
        Stage::Setup,
        &mv("beta", "gcp-c", "aws-c", None, None),
        false,
    );
    snap!("shared_files_sibling", shown(&p));
    let created: Vec<&str> = p
        .changes
        .ops()
        .iter()
        .map(|o| o.path())
        .filter(|f| f.contains("common"))
        .collect();
    assert_eq!(
        created,
        ["config/clusters/aws-c/gcp-c-basehub-common.values.yaml"],
        "only the carried file changes"
    );
    let n = note_with(
        &p,
        "(carried from `config/clusters/gcp-c/basehub-common.values.yaml` by an earlier move): reused; added what `beta` also depends on: `jupyterhub.custom.homepage.templateVars.funded_by.name`",
    );
    assert!(!n.contains("authenticator"), "{n}");
    let now = target_text(&dir, "aws-c", "gcp-c-basehub-common.values.yaml");
    assert!(now.contains("name: The Alpha-Beta Consortium"), "{now}");
    // What the first move carried stays as it was.
    for line in first.lines().filter(|l| !l.trim().is_empty()) {
        assert!(now.contains(line), "{line}\n{now}");
    }
    assert_eq!(
        entry_files(dir.path(), "aws-c", "beta"),
        [
            "common.values.yaml",
            "gcp-c-basehub-common.values.yaml",
            "beta.values.yaml"
        ]
    );
    // A third plan of the same sibling move is done already.
    let again = plan(
        dir.path(),
        Stage::Setup,
        &mv("beta", "gcp-c", "aws-c", None, None),
    );
    assert!(again.changes.is_empty());
    // Both moves are in progress for `status` (the carried file is not the hub's own).
    let (code, out, err) = run(dir.path(), &["status", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let moves: Vec<String> = serde_json::from_str::<serde_json::Value>(&out).unwrap()["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {} {}", m["hub"], m["from"], m["to"]))
        .collect();
    assert_eq!(
        moves,
        [
            "\"alpha\" \"gcp-c\" \"aws-c\"",
            "\"beta\" \"gcp-c\" \"aws-c\""
        ]
    );
}

/// A hub on jupyterhub-home-nfs: `--transfer-key FILE` puts the public key, and only it, into
/// the `home-transfer` sidecar of both hubs' values; the runbooks copy the homes with
/// `transfer-homes` (a host-and-path hub keeps `sync-homes`), and the cutover's ends with the
/// deploy wait and the check that the old hub is still down. `decommission` removes the
/// sidecar and names the old hub's disk from its values at the commit before the cutover.
#[test]
fn home_nfs_sidecars_from_setup_to_decommission() {
    let dir = moves_copy();
    let root = dir.path();
    common::git::git(root, &["init", "-q", "-b", "main"]);
    common::git::commit(root, "the repository");
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("hub-move-research");
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "hub-move", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let key = key.display().to_string();
    let private = std::fs::read_to_string(&key).unwrap();
    let public = std::fs::read_to_string(format!("{key}.pub")).unwrap();
    let args = ["--hub", "research", "--from", "gcp-a", "--to", "aws-b"];
    // Without a key: how to make one, under Still to supply.
    let (code, out, err) = run(root, &[&["plan", "hub-move", "setup"][..], &args].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("plan again with `--transfer-key ~/.ssh/hub-move-research`"),
        "{out}"
    );
    // A private key given as the public one is refused, unshown.
    std::fs::copy(&key, keys.path().join("wrong.pub")).unwrap();
    let wrong = keys.path().join("wrong.pub").display().to_string();
    let (code, _, err) = run(
        root,
        &[
            &["plan", "hub-move", "setup", "--transfer-key", &wrong][..],
            &args,
        ]
        .concat(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("this is a private key"), "{err}");
    assert!(!err.contains(private.lines().nth(1).unwrap()), "{err}");

    let (code, out, err) = run(
        root,
        &[
            &["apply", "hub-move", "setup", "--transfer-key", &key][..],
            &args,
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{out}{err}");
    for f in [
        "config/clusters/gcp-a/research.values.yaml",
        "config/clusters/aws-b/research.values.yaml",
    ] {
        let t = std::fs::read_to_string(root.join(f)).unwrap();
        assert!(t.contains("- name: home-transfer"), "{f}: {t}");
        assert!(t.contains(public.trim()), "{f}: {t}");
    }
    // The private key is nowhere in the repository.
    for (rel, content) in tree(root) {
        let text = String::from_utf8_lossy(&content);
        for l in private.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!text.contains(l), "the private key is in {rel}");
        }
    }
    let i = infra(root);
    let moved = Move {
        hub: "research".into(),
        from: "gcp-a".into(),
        to: "aws-b".into(),
        ..Move::default()
    };
    let ids = |s: Stage| -> Vec<String> {
        hub_move::window(&i, s, &moved)
            .unwrap()
            .steps
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    assert_eq!(ids(Stage::Setup)[0], "transfer-homes");
    let cut = ids(Stage::Cutover);
    let at = |id: &str| {
        cut.iter()
            .position(|s| s == id)
            .unwrap_or_else(|| panic!("{id}: {cut:?}"))
    };
    assert!(at("transfer-homes:final") < at("update-dns"));
    assert!(at("update-dns") < at("wait-deployed") && at("wait-deployed") < at("check-old-down"));
    assert!(!cut.iter().any(|s| s.starts_with("sync-homes")));
    common::git::commit(root, "setup");

    let (code, out, err) = run(
        root,
        &[&["apply", "hub-move", "cutover"][..], &args].concat(),
    );
    assert_eq!(code, 0, "{out}{err}");
    common::git::commit(root, "cutover");

    // Decommission: the new hub's sidecar goes; the old hub's disk is named from its values
    // before the cutover (the source file is gone from the checkout).
    assert!(
        !root
            .join("config/clusters/gcp-a/research.values.yaml")
            .exists()
    );
    let (code, out, err) = run(
        root,
        &[&["apply", "hub-move", "decommission"][..], &args].concat(),
    );
    assert_eq!(code, 0, "{out}{err}");
    let t =
        std::fs::read_to_string(root.join("config/clusters/aws-b/research.values.yaml")).unwrap();
    assert!(
        !t.contains("home-transfer") && !t.contains("extraContainers"),
        "{t}"
    );
    assert!(
        out.contains("the GCP persistent disk `projects/gcp-a-412/zones/us-central1-b/disks/hub-nfs-homedirs-research`")
            && out.contains("`gcloud compute disks delete hub-nfs-homedirs-research --zone us-central1-b --project gcp-a-412`"),
        "{out}"
    );
    assert!(!out.contains("/export/research"), "{out}");

    // A host-and-path hub keeps sync-homes.
    let fx = fixture_copy();
    let m = mv(
        "staging",
        "temple",
        "2i2c-aws-us",
        Some("temple-staging"),
        Some("temple-staging.aws.2i2c.cloud"),
    );
    let w = hub_move::window(&infra(fx.path()), Stage::Cutover, &m);
    assert!(w.is_err(), "cutover before setup");
    let p = plan(fx.path(), Stage::Setup, &m);
    assert_eq!(p.runbook[0].id, "sync-homes");
    assert!(
        p.notes.iter().any(|n| n.contains("a host and path")),
        "{:#?}",
        p.notes
    );
}

/// Two hubs of the real `ucec` (GCP), which share `common.values.yaml`, moved one after the
/// other to `2i2c-aws-us` (AWS, no shared file of its own): the first move copies the family
/// file, the second takes it as it is in the target and copies nothing of it again.
#[test]
fn corpus_siblings_moved_one_after_another_copy_the_family_file_once() {
    let Some(corpus) = common::shared_data("corpus/infrastructure-2026") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&corpus, dir.path());
    let first = mv(
        "staging",
        "ucec",
        "2i2c-aws-us",
        Some("ucec-staging"),
        Some("ucec-staging.aws.2i2c.cloud"),
    );
    let p = apply(dir.path(), Stage::Setup, &first, true);
    let common_rel = "config/clusters/2i2c-aws-us/common.values.yaml";
    assert!(
        p.changes.paths().contains(common_rel),
        "{:?}",
        p.changes.paths()
    );
    let copied = std::fs::read_to_string(dir.path().join(common_rel)).unwrap();

    let second = mv(
        "ebfm",
        "ucec",
        "2i2c-aws-us",
        None,
        Some("ebfm.aws.2i2c.cloud"),
    );
    let p = apply(dir.path(), Stage::Setup, &second, true);
    let touched: Vec<&str> = p
        .changes
        .paths()
        .into_iter()
        .filter(|f| f.contains("common"))
        .collect();
    assert!(
        touched.is_empty(),
        "the family file is not copied again: {touched:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(common_rel)).unwrap(),
        copied
    );
    note_with(
        &p,
        "decision: `common.values.yaml` is in both `ucec` and `2i2c-aws-us`",
    );
    let files = entry_files(dir.path(), "2i2c-aws-us", "ebfm");
    assert_eq!(files[0], "common.values.yaml", "{files:?}");
    assert!(
        !files.iter().any(|f| f.starts_with("ucec-")),
        "nothing carried besides: {files:?}"
    );
}
