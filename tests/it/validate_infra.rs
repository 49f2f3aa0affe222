//! Infrastructure (2i2c layout) validation: the model of `fixtures/infrastructure` (clean) and
//! `fixtures/infra-mistakes` (one real mistake per rule, from DOMAIN-hub-move.md), each rule at
//! its exact file and line, `status --format json` from the built binary (insta snapshots in
//! the top-level `snapshots/`), and a run over `../shared/corpus/infrastructure-2026`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

use gitops_migrate::repo::{self, Infrastructure, Repo};
use gitops_migrate::validate::{self, Finding, Severity, rule};

macro_rules! snap {
    ($name:expr, $value:expr) => {
        crate::common::snapshot(&format!("validate_infra__{}", $name), $value)
    };
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn open(path: &Path) -> Repo {
    repo::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn infra(repo: &Repo) -> &Infrastructure {
    match repo {
        Repo::Infrastructure(i) => i,
        Repo::Phalanx(_) => panic!("expected an infrastructure repository"),
    }
}

/// A finding as `file:line:col rule`, for compact assertions.
fn located(f: &Finding) -> String {
    format!("{}:{}:{} {}", f.file, f.line, f.col, f.rule)
}

fn only(findings: &[Finding], rule: &str) -> Vec<Finding> {
    findings
        .iter()
        .filter(|f| f.rule == rule)
        .cloned()
        .collect()
}

fn find<'a>(findings: &'a [Finding], file: &str, line: usize, rule: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.file == file && f.line == line && f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} at {file}:{line} in {findings:#?}"))
}

const TEMPLE: &str = "config/clusters/temple/cluster.yaml";
const UCMERCED: &str = "config/clusters/ucmerced/cluster.yaml";
const VICTOR: &str = "config/clusters/victor/cluster.yaml";

#[test]
fn clean_fixture_has_no_finding() {
    let repo = open(&fixture("infrastructure"));
    let findings = validate::validate(&repo);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn clean_fixture_model() {
    let repo = open(&fixture("infrastructure"));
    let i = infra(&repo);
    let names: Vec<&str> = i.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["2i2c-aws-us", "newcluster", "temple"]);

    let temple = i.cluster("temple").expect("temple");
    assert_eq!(temple.rel, "config/clusters/temple/cluster.yaml");
    assert_eq!(temple.provider.as_deref(), Some("aws"));
    assert_eq!(temple.declared_name.as_deref(), Some("temple"));
    let support: Vec<&str> = temple
        .support_files
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        support,
        ["support.values.yaml", "enc-support.secret.values.yaml"]
    );
    assert!(temple.support_files.iter().all(|f| f.exists));

    let hubs: Vec<(&str, Option<&str>)> = temple
        .hubs
        .iter()
        .map(|h| (h.name.as_str(), h.domain.as_deref()))
        .collect();
    assert_eq!(
        hubs,
        [
            ("staging", Some("staging.temple.2i2c.cloud")),
            ("prod", Some("temple.2i2c.cloud")),
            (
                "ucmerced-staging",
                Some("ucmerced-staging.temple.2i2c.cloud")
            ),
        ]
    );

    let ucm = i.hub("temple", "ucmerced-staging").expect("hub");
    assert_eq!(ucm.index, 2);
    assert_eq!(ucm.display_name.as_deref(), Some("UC Merced: staging"));
    assert_eq!(ucm.helm_chart.as_deref(), Some("basehub"));
    let doc = i.files.doc(&temple.rel).expect("parsed");
    // The `- name:` line after the comment block that belongs to it.
    assert_eq!(doc.lines().line_col(ucm.offset), (41, 1));
    assert_eq!(doc.lines().line_col(ucm.name_offset), (41, 3));
    let files: Vec<(&str, &str, bool)> = ucm
        .values_files
        .iter()
        .map(|f| (f.name.as_str(), f.rel.as_str(), f.exists))
        .collect();
    assert_eq!(
        files,
        [
            (
                "ucmerced-staging.values.yaml",
                "config/clusters/temple/ucmerced-staging.values.yaml",
                true
            ),
            (
                "enc-ucmerced-staging.secret.values.yaml",
                "config/clusters/temple/enc-ucmerced-staging.secret.values.yaml",
                true
            ),
        ]
    );
    assert_eq!(
        doc.lines().line_col(ucm.values_files[1].offset),
        (47, 5),
        "offset of the list item's scalar"
    );
    assert!(ucm.values_files[1].is_encrypted());
    assert!(!ucm.values_files[0].is_encrypted());

    // Shared files: by name as written or by repository path.
    let sharing: Vec<&str> = i
        .hubs_referencing("temple", "common.values.yaml")
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(sharing, ["staging", "prod"]);
    assert_eq!(
        i.hubs_referencing("temple", "config/clusters/temple/prod.values.yaml")
            .len(),
        1
    );
    assert!(i.is_shared("temple", "common.values.yaml"));
    assert!(!i.is_shared("temple", "prod.values.yaml"));
    assert!(
        i.hubs_referencing("nowhere", "common.values.yaml")
            .is_empty()
    );
    let shared: Vec<(&str, Vec<&str>)> = temple
        .shared_files()
        .into_iter()
        .map(|(f, hubs)| (f.name.as_str(), hubs))
        .collect();
    assert_eq!(shared, [("common.values.yaml", vec!["staging", "prod"])]);

    let by_domain = i.hubs_with_domain("Temple.2i2c.cloud.");
    assert_eq!(by_domain.len(), 1);
    assert_eq!(
        (by_domain[0].0.name.as_str(), by_domain[0].1.name.as_str()),
        ("temple", "prod")
    );

    // A new cluster: `hubs: []` followed by commented-out entries.
    let new = i.cluster("newcluster").expect("newcluster");
    assert!(new.hubs.is_empty());
    assert_eq!(new.provider.as_deref(), Some("gcp"));
    assert_eq!(new.support_files.len(), 2);

    assert_eq!(i.sops_rules.len(), 2);
    assert_eq!(i.sops_rules[0].path_regex, ".*secret.*");
    assert_eq!(
        i.sops_rules[0].keys,
        [(
            "gcp_kms".to_string(),
            "projects/example-infra/locations/global/keyRings/sops-keys/cryptoKeys/similar-hubs"
                .to_string()
        )]
    );
}

#[test]
fn mistakes_fixture_findings() {
    let repo = open(&fixture("infra-mistakes"));
    let findings = validate::validate(&repo);
    let all: Vec<String> = findings.iter().map(located).collect();
    assert_eq!(
        all,
        [
            "config/clusters/temple/cluster.yaml:25:11 infra-duplicate-domain",
            "config/clusters/temple/cluster.yaml:29:5 infra-missing-file",
            "config/clusters/temple/cluster.yaml:30:5 infra-missing-file",
            "config/clusters/temple/cluster.yaml:37:5 infra-missing-file",
            "config/clusters/ucmerced/cluster.yaml:21:1 infra-hub-entry",
            "config/clusters/ucmerced/cluster.yaml:30:11 infra-duplicate-domain",
            "config/clusters/ucmerced/workshop.values.yaml:6:13 infra-domain-mismatch",
            "config/clusters/ucmerced/workshop.values.yaml:13:29 infra-domain-mismatch",
            "config/clusters/victor/cluster.yaml:22:3 infra-duplicate-hub",
        ]
    );
    assert!(findings.iter().all(|f| f.severity == Severity::Error));
}

/// The old entry left behind after a move: the domain is in two clusters.
#[test]
fn domain_in_two_clusters() {
    let repo = open(&fixture("infra-mistakes"));
    let findings = validate::validate(&repo);
    let f = find(&findings, TEMPLE, 25, rule::INFRA_DUPLICATE_DOMAIN);
    assert_eq!(f.col, 11, "at the domain value");
    assert_eq!(
        f.message,
        "domain `temple.2i2c.cloud` of hub `prod` is already served by hub `temple` of cluster `2i2c-aws-us` (config/clusters/2i2c-aws-us/cluster.yaml:25)"
    );
    assert_eq!(f.scope.as_deref(), Some("temple"));
    assert!(f.hint.as_deref().unwrap().contains("temporary domain"));
}

/// Two hubs of one cluster with one domain (a copied entry).
#[test]
fn domain_twice_in_one_cluster() {
    let repo = open(&fixture("infra-mistakes"));
    let findings = validate::validate(&repo);
    let f = find(&findings, UCMERCED, 30, rule::INFRA_DUPLICATE_DOMAIN);
    assert_eq!(
        f.message,
        "domain `staging.ucmerced.2i2c.cloud` of hub `workshop` is already served by hub `staging` of this cluster (config/clusters/ucmerced/cluster.yaml:15)"
    );
    assert_eq!(f.scope.as_deref(), Some("ucmerced"));
    assert_eq!(only(&findings, rule::INFRA_DUPLICATE_DOMAIN).len(), 2);
}

/// An entry pointing at deleted values files (a real move left one, and needed a follow-up).
#[test]
fn entry_pointing_at_deleted_files() {
    let repo = open(&fixture("infra-mistakes"));
    let findings = validate::validate(&repo);

    let plain = find(&findings, TEMPLE, 29, rule::INFRA_MISSING_FILE);
    assert_eq!(plain.col, 5, "at the list item");
    assert_eq!(
        plain.message,
        "values file missing: `prod.values.yaml` does not exist in `config/clusters/temple/` (hub `prod` lists it)"
    );
    assert_eq!(
        plain.hint.as_deref(),
        Some(
            "hub `temple` of cluster `2i2c-aws-us` serves the same domain: if `prod` moved there, delete this entry (in the same change as the domain switch)"
        )
    );
    assert_eq!(plain.scope.as_deref(), Some("temple"));

    let encrypted = find(&findings, TEMPLE, 30, rule::INFRA_MISSING_FILE);
    assert!(
        encrypted.message.starts_with(
            "encrypted file missing: `enc-prod.secret.values.yaml` does not exist in `config/clusters/temple/`"
        ),
        "{}",
        encrypted.message
    );

    // A near miss names the file that exists.
    let typo = find(&findings, TEMPLE, 37, rule::INFRA_MISSING_FILE);
    assert_eq!(
        typo.message,
        "values file missing: `research.value.yaml` does not exist in `config/clusters/temple/` (hub `research` lists it)"
    );
    assert_eq!(
        typo.hint.as_deref(),
        Some("did you mean `research.values.yaml`?")
    );

    // The shared file the stale entry still lists exists: not reported.
    assert_eq!(only(&findings, rule::INFRA_MISSING_FILE).len(), 3);
}

/// The second hub entry lacks `domain`: the repository's schema checks only the first.
#[test]
fn second_entry_missing_domain() {
    let repo = open(&fixture("infra-mistakes"));
    let findings = validate::validate(&repo);
    let f = find(&findings, UCMERCED, 21, rule::INFRA_HUB_ENTRY);
    assert_eq!(f.col, 1, "at the entry's `- `");
    assert_eq!(f.message, "hub `prod` lacks `domain`");
    assert!(f.hint.as_deref().unwrap().contains("only the first entry"));
    assert_eq!(f.scope.as_deref(), Some("ucmerced"));
    // Still in the model, without a domain.
    let i = infra(&repo);
    let prod = i.hub("ucmerced", "prod").expect("prod");
    assert_eq!(prod.domain, None);
    assert_eq!(prod.index, 1);
}

#[test]
fn duplicate_hub_name() {
    let repo = open(&fixture("infra-mistakes"));
    let findings = validate::validate(&repo);
    let f = find(&findings, VICTOR, 22, rule::INFRA_DUPLICATE_HUB);
    assert_eq!(f.col, 3, "at the second `name`");
    assert_eq!(
        f.message,
        "hub name `staging` is used twice in cluster `victor`; the first is at config/clusters/victor/cluster.yaml:14"
    );
    assert_eq!(f.scope.as_deref(), Some("victor"));
    assert_eq!(only(&findings, rule::INFRA_DUPLICATE_HUB).len(), 1);
}

#[test]
fn empty_hubs_cluster_is_clean() {
    let repo = open(&fixture("infra-mistakes"));
    let findings = validate::validate(&repo);
    assert!(
        findings
            .iter()
            .all(|f| f.scope.as_deref() != Some("newcluster")
                && f.scope.as_deref() != Some("2i2c-aws-us")),
        "{findings:#?}"
    );
    let i = infra(&repo);
    assert!(i.cluster("newcluster").expect("newcluster").hubs.is_empty());
    // The sops rule with two comma-separated age keys.
    assert_eq!(i.sops_rules[1].path_regex, ".*/ssh-keys/.*");
    let kinds: Vec<&str> = i.sops_rules[1]
        .keys
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(kinds, ["age", "age"]);
}

/// Writes a one-cluster repository with this `cluster.yaml` and the named (empty-ish) files.
fn temp_cluster(cluster_yaml: &str, files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = dir.path().join("config/clusters/c1");
    fs::create_dir_all(&c).expect("mkdir");
    fs::write(c.join("cluster.yaml"), cluster_yaml).expect("write");
    for f in files {
        fs::write(c.join(f), "a: 1\n").expect("write");
    }
    dir
}

/// Every entry is checked, whatever its position, and entries without a name are reported
/// though the model leaves them out.
#[test]
fn every_entry_shape_is_checked() {
    let yaml = "\
name: c1
provider: gcp
support:
  helm_chart_values_files:
  - support.values.yaml
hubs:
- name: a
  display_name: A
  domain: a.example.org
  helm_chart: basehub
  helm_chart_values_files:
  - a.values.yaml
- display_name: no name
  domain: b.example.org
  helm_chart: basehub
  helm_chart_values_files:
  - a.values.yaml
- just-a-string
- name: c
  domain:
    nested: mapping
  helm_chart: basehub
  helm_chart_values_files: c.values.yaml
- name: d
  domain: d.example.org
  helm_chart: basehub
  helm_chart_values_files:
  - a.values.yaml
  - nested: item
- name: e
";
    let dir = temp_cluster(yaml, &["support.values.yaml", "a.values.yaml"]);
    let repo = open(dir.path());
    let findings = validate::validate(&repo);
    let got: Vec<(usize, usize, &str)> = findings
        .iter()
        .map(|f| (f.line, f.col, f.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (13, 1, "hub entry 2 of `hubs` lacks `name`"),
            (
                18,
                1,
                "hub entry 3 of `hubs` is a scalar, expected a mapping"
            ),
            (21, 5, "`domain` of hub `c` is a mapping, expected a string"),
            (
                23,
                28,
                "`helm_chart_values_files` of hub `c` is a scalar, expected a list of file names"
            ),
            (
                29,
                3,
                "an item of `helm_chart_values_files` of hub `d` is a mapping, expected a file name"
            ),
            (
                30,
                1,
                "hub `e` lacks `domain`, `helm_chart`, `helm_chart_values_files`"
            ),
        ]
    );
    assert!(findings.iter().all(|f| f.rule == rule::INFRA_HUB_ENTRY));
    let i = infra(&repo);
    let names: Vec<&str> = i.clusters[0].hubs.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["a", "c", "d", "e"]);
    assert_eq!(i.clusters[0].hubs[1].index, 3);
}

#[test]
fn hubs_not_a_list_and_missing_support_file() {
    let yaml = "\
name: c1
support:
  helm_chart_values_files:
  - support.values.yaml
  - enc-support.secret.values.yaml
hubs: staging
";
    let dir = temp_cluster(yaml, &["support.values.yaml"]);
    let repo = open(dir.path());
    let findings = validate::validate(&repo);
    let got: Vec<String> = findings
        .iter()
        .map(|f| format!("{} {}", located(f), f.message))
        .collect();
    assert_eq!(
        got,
        [
            "config/clusters/c1/cluster.yaml:5:5 infra-missing-file encrypted file missing: `enc-support.secret.values.yaml` does not exist in `config/clusters/c1/` (the support chart lists it)",
            "config/clusters/c1/cluster.yaml:6:7 infra-hub-entry `hubs` is a scalar, expected a list of hub entries",
        ]
    );
}

#[test]
fn missing_chart_override() {
    let yaml = "\
name: c1
hubs:
- name: a
  display_name: A
  domain: a.example.org
  helm_chart: basehub
  helm_chart_values_files:
  - a.values.yaml
  chart_override: chart.yaml
";
    let dir = temp_cluster(yaml, &["a.values.yaml"]);
    let repo = open(dir.path());
    let findings = validate::validate(&repo);
    let got: Vec<String> = findings
        .iter()
        .map(|f| format!("{} {}", located(f), f.message))
        .collect();
    assert_eq!(
        got,
        [
            "config/clusters/c1/cluster.yaml:9:19 infra-missing-file chart file missing: `chart.yaml` does not exist in `config/clusters/c1/` (hub `a` uses it as `chart_override`)"
        ]
    );
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn gm(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run gitops-migrate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// `status --format json` has the DESIGN.md shape:
/// `{"kind":"infrastructure","clusters":[{"name","hubs":[{"name","domain"}]}],"anomalies":[…]}`,
/// extended with the moves in progress (`"moves":[…]`).
fn status_json(fixture_name: &str) -> (serde_json::Value, String) {
    let dir = fixture(fixture_name);
    let run = gm(&[
        "-C",
        dir.to_str().expect("utf-8 path"),
        "status",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["kind"], "infrastructure");
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["anomalies", "clusters", "kind", "moves"], "{keys:?}");
    assert!(v["moves"].is_array());
    for c in v["clusters"].as_array().expect("clusters") {
        assert_eq!(c.as_object().unwrap().len(), 2, "{c}");
        assert!(c["name"].is_string());
        for h in c["hubs"].as_array().expect("hubs") {
            assert_eq!(h.as_object().unwrap().len(), 2, "{h}");
            assert!(h["name"].is_string());
            assert!(h["domain"].is_string() || h["domain"].is_null());
        }
    }
    for a in v["anomalies"].as_array().expect("anomalies") {
        for k in ["rule", "severity", "file", "line", "message"] {
            assert!(a.get(k).is_some(), "anomaly without {k}: {a}");
        }
    }
    (v, run.stdout)
}

#[test]
fn status_json_clean() {
    let (v, stdout) = status_json("infrastructure");
    assert_eq!(v["anomalies"].as_array().unwrap().len(), 0);
    snap!("status_json_clean", stdout);
}

#[test]
fn status_json_mistakes() {
    let (v, stdout) = status_json("infra-mistakes");
    let rules: Vec<&str> = v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "infra-duplicate-domain",
            "infra-missing-file",
            "infra-missing-file",
            "infra-missing-file",
            "infra-hub-entry",
            "infra-duplicate-domain",
            "infra-domain-mismatch",
            "infra-domain-mismatch",
            "infra-duplicate-hub",
        ]
    );
    snap!("status_json_mistakes", stdout);
}

/// The real tree: completes; its encrypted `enc-*` files were left out of the corpus on purpose,
/// so every INFRA_MISSING_FILE must be an encrypted one; the other rules find nothing (checked
/// by hand: 171 hubs, each with the four keys, no name or domain repeated).
#[test]
fn corpus_infrastructure_2026() {
    let Some(corpus) = common::shared_data("corpus/infrastructure-2026") else {
        return;
    };
    let repo = open(&corpus);
    let i = infra(&repo);
    assert!(i.clusters.len() >= 30, "{} clusters", i.clusters.len());
    let hubs: usize = i.clusters.iter().map(|c| c.hubs.len()).sum();
    assert!(hubs >= 150, "{hubs} hubs");
    assert!(!i.sops_rules.is_empty());
    // A hub with its own chart: `chart_override: chart.yaml`, present.
    let over = i
        .hub("2i2c-aws-us", "staging")
        .and_then(|h| h.chart_override.as_ref())
        .expect("chart_override");
    assert_eq!(over.rel, "config/clusters/2i2c-aws-us/chart.yaml");
    assert!(over.exists);

    let findings = validate::validate(&repo);
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &findings {
        *per_rule.entry(f.rule).or_default() += 1;
    }
    eprintln!("infrastructure-2026: {per_rule:?}");
    // The two rules of real moves find nothing in the tree as it is (binders' hubs at
    // `hub.<domain>` are on their domain).
    for rule in [
        rule::INFRA_DUPLICATE_HUB,
        rule::INFRA_HUB_ENTRY,
        rule::INFRA_DUPLICATE_DOMAIN,
        rule::INFRA_DOMAIN_MISMATCH,
        rule::INFRA_CLUSTER_NAME,
    ] {
        assert!(
            only(&findings, rule).is_empty(),
            "{rule}: {:#?}",
            only(&findings, rule)
        );
    }
    let missing = only(&findings, rule::INFRA_MISSING_FILE);
    let plain: Vec<&Finding> = missing
        .iter()
        .filter(|f| !f.message.starts_with("encrypted file missing: `enc-"))
        .collect();
    assert!(plain.is_empty(), "{plain:#?}");
    // Every reference to an `enc-*` file is reported, and nothing else.
    let enc_refs: usize = i
        .clusters
        .iter()
        .map(|c| c.file_refs().filter(|(_, f)| f.is_encrypted()).count())
        .sum();
    assert_eq!(missing.len(), enc_refs);
}

/// A cluster folder: its name, its `cluster.yaml` and other files `(name, content)`.
type ClusterFiles<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Writes a repository of clusters.
fn temp_repo(clusters: &[ClusterFiles<'_>]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, yaml, files) in clusters {
        let c = dir.path().join("config/clusters").join(name);
        fs::create_dir_all(&c).expect("mkdir");
        fs::write(c.join("cluster.yaml"), yaml).expect("write");
        for (f, text) in *files {
            fs::write(c.join(f), text).expect("write");
        }
    }
    dir
}

fn findings_of(dir: &tempfile::TempDir) -> Vec<String> {
    validate::validate(&open(dir.path()))
        .iter()
        .map(|f| format!("{} {}", located(f), f.message))
        .collect()
}

const TWO_HUBS: &str = "\
name: c1
provider: gcp
hubs:
- name: staging
  domain: staging.c1.example.org
  helm_chart: basehub
  helm_chart_values_files:
  - common.values.yaml
  - staging.values.yaml
- name: binder
  domain: binder.c1.example.org
  helm_chart: basehub
  helm_chart_values_files:
  - common.values.yaml
  - binder.values.yaml
";

/// The mistake of a real move: the entry's `domain` switched, the values file still
/// hard-coding the temporary one (ingress and login callback).
#[test]
fn domain_mismatch_is_found_in_a_hubs_own_file() {
    let staging = "\
jupyterhub:
  ingress:
    hosts: [next.staging.c1.example.org]
    tls:
    - hosts: [next.staging.c1.example.org]
  hub:
    config:
      GitHubOAuthenticator:
        oauth_callback_url: https://next.staging.c1.example.org/hub/oauth_callback
";
    // A binder's hub at `hub.<domain>`, and a shared file with another hub's host: not mistakes.
    let binder = "\
basehub:
  jupyterhub:
    ingress:
      hosts: [hub.binder.c1.example.org]
    hub:
      config:
        CILogonOAuthenticator:
          oauth_callback_url: https://hub.binder.c1.example.org/hub/oauth_callback
";
    let common = "jupyterhub:\n  ingress:\n    hosts: [staging.c1.example.org]\n";
    let dir = temp_repo(&[(
        "c1",
        TWO_HUBS,
        &[
            ("common.values.yaml", common),
            ("staging.values.yaml", staging),
            ("binder.values.yaml", binder),
        ],
    )]);
    assert_eq!(
        findings_of(&dir),
        [
            "config/clusters/c1/staging.values.yaml:3:13 infra-domain-mismatch the ingress host `next.staging.c1.example.org` of hub `staging` is not its domain `staging.c1.example.org` (config/clusters/c1/cluster.yaml:5)",
            "config/clusters/c1/staging.values.yaml:9:29 infra-domain-mismatch the `oauth_callback_url` host `next.staging.c1.example.org` of hub `staging` is not its domain `staging.c1.example.org` (config/clusters/c1/cluster.yaml:5)",
        ]
    );
    // The same repository with the hosts rewritten: nothing.
    let fixed = staging.replace("next.staging", "staging");
    let dir = temp_repo(&[(
        "c1",
        TWO_HUBS,
        &[
            ("common.values.yaml", common),
            ("staging.values.yaml", &fixed),
            ("binder.values.yaml", binder),
        ],
    )]);
    assert_eq!(findings_of(&dir), Vec::<String>::new());
}

#[test]
fn cluster_name_differs_from_folder_or_repeats() {
    let c = |name: &str| format!("name: {name}\nprovider: aws\nhubs: []\n");
    let dir = temp_repo(&[("c1", &c("c1"), &[]), ("c2", &c("c1"), &[])]);
    assert_eq!(
        findings_of(&dir),
        [
            "config/clusters/c2/cluster.yaml:1:7 infra-cluster-name cluster `name: c1` differs from its folder `config/clusters/c2`",
            "config/clusters/c2/cluster.yaml:1:7 infra-cluster-name cluster name `c1` is also declared by `config/clusters/c1/cluster.yaml`",
        ]
    );
    let dir = temp_repo(&[("c1", &c("c1"), &[]), ("c2", &c("c2"), &[])]);
    assert_eq!(findings_of(&dir), Vec::<String>::new());
}

/// The move fixtures (each hub's hosts on its domain) are clean too.
#[test]
fn moves_fixture_is_clean() {
    let repo = open(&fixture("infrastructure-moves"));
    assert_eq!(
        validate::validate(&repo)
            .iter()
            .map(located)
            .collect::<Vec<_>>(),
        Vec::<String>::new()
    );
}
