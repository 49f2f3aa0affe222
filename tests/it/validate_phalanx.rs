//! The Phalanx rules and `status` on the fixture repositories (one environment per real
//! mistake in `fixtures/phalanx-mistakes/`, clean ones in `fixtures/phalanx*/`) and on the
//! public corpus trees.

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_migrate::repo::{self, Repo};
use gitops_migrate::validate::{self, Finding, Severity};
use gitops_migrate::yaml::{Path as YamlPath, ScalarValue, YamlFile};

use crate::common;
use common::copy_dir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn findings(root: &Path) -> Vec<Finding> {
    let repo = repo::open(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    validate::validate(&repo)
}

fn brief(f: &Finding) -> String {
    format!("{} {}:{}:{}", f.rule, f.file, f.line, f.col)
}

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

macro_rules! snap {
    ($name:literal, $value:expr) => {
        crate::common::snapshot(concat!("validate_phalanx__", $name), $value)
    };
}

/// Copies a fixture into a temporary directory.
fn copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), dir.path());
    dir
}

#[test]
fn each_real_mistake_is_caught_at_its_line() {
    let got: Vec<String> = findings(&fixture("phalanx-mistakes"))
        .iter()
        .map(brief)
        .collect();
    let want = [
        "values-unknown-env applications/mobu/values-hubrout.yaml:1:1",
        "mobu-cachemachine-not-lab applications/mobu/values-mobu-tap.yaml:12:11",
        "mobu-unknown-option applications/mobu/values-mobu-typo.yaml:12:11",
        "mobu-cachemachine-disabled applications/mobu/values-nocache.yaml:9:9",
        "nublado-db-block applications/nublado/values-dbblock.yaml:6:12",
        "nublado-hub-route applications/nublado/values-hubroute.yaml:10:14",
        "nublado-misplaced-key applications/nublado/values-misplaced.yaml:7:3",
        "nublado-misplaced-key applications/nublado/values-misplaced.yaml:8:3",
        "nublado-v3-mount applications/nublado/values-mounts.yaml:8:7",
        "nublado-v3-mount applications/nublado/values-mounts.yaml:15:11",
        "nublado-nfs-path applications/nublado/values-nfs.yaml:15:13",
        "nublado-shared-db applications/nublado/values-shareddb.yaml:10:12",
        "values-app-disabled applications/postgres/values-nfs.yaml:1:1",
        "nublado-route-clash environments/values-clash.yaml:8:3",
        "env-missing-values environments/values-deleted.yaml:6:3",
        "env-mixed-format environments/values-mixed.yaml:8:1",
        "env-required-key environments/values-no-vault.yaml:1:1",
        "env-unknown-app environments/values-typo-app.yaml:6:3",
        "env-flag-type environments/values-typo-app.yaml:7:13",
    ];
    assert_eq!(got, want);
}

#[test]
fn findings_carry_hints_that_name_the_fix() {
    let all = findings(&fixture("phalanx-mistakes"));
    let hint = |rule: &str| {
        all.iter()
            .find(|f| f.rule == rule)
            .and_then(|f| f.hint.clone())
            .unwrap_or_else(|| panic!("no hint for {rule}"))
    };
    assert_eq!(
        hint("mobu-unknown-option"),
        "did you mean `use_cachemachine`?"
    );
    assert_eq!(hint("env-unknown-app"), "did you mean `nublado`?");
    assert_eq!(
        hint("values-unknown-env"),
        "did you mean `values-hubroute.yaml`?"
    );
    assert!(hint("nublado-hub-route").contains("HUB_ROUTE: \"/n3/hub\""));
    assert!(hint("nublado-nfs-path").contains("serverPath"));
    assert!(hint("nublado-route-clash").contains("/n3"));
}

#[test]
fn the_rules_are_in_the_registry_with_their_severity() {
    for f in findings(&fixture("phalanx-mistakes")) {
        let rule = validate::rule_info(f.rule).expect("registered");
        assert_eq!(rule.severity, f.severity, "{}", f.rule);
    }
}

#[test]
fn mobu_7_removed_use_cachemachine() {
    let dir = copy("phalanx-mistakes");
    let chart = dir.path().join("applications/mobu/Chart.yaml");
    let mut f = YamlFile::load(&chart).unwrap();
    f.doc
        .set(
            0,
            &YamlPath::parse("appVersion").unwrap(),
            &ScalarValue::string("7.0.0"),
        )
        .unwrap();
    f.save().unwrap();
    let got: Vec<String> = findings(dir.path())
        .iter()
        .filter(|f| f.rule.starts_with("mobu-"))
        .map(brief)
        .collect();
    // mobu 7: `use_cachemachine` is gone everywhere and no flock relies on cachemachine; its
    // own option list applies: `TAPQueryRunner` now runs listed `queries` (the query-set
    // runner became `TAPQuerySetRunner`), and the typo is still no option.
    assert_eq!(
        got,
        [
            "mobu-unknown-option applications/mobu/values-mobu-tap.yaml:11:11",
            "mobu-cachemachine-not-lab applications/mobu/values-mobu-tap.yaml:12:11",
            "mobu-unknown-option applications/mobu/values-mobu-typo.yaml:12:11"
        ]
    );
    let tap = findings(dir.path())
        .into_iter()
        .find(|f| f.rule == "mobu-unknown-option" && f.file.ends_with("values-mobu-tap.yaml"))
        .unwrap();
    assert!(
        tap.hint.as_deref().unwrap().contains("`TAPQuerySetRunner`"),
        "{tap:?}"
    );
    let typo = dir.path().join("applications/mobu/values-mobu-typo.yaml");
    let text = std::fs::read_to_string(&typo)
        .unwrap()
        .replace("use_machemachine", "use_cachemachine");
    std::fs::write(&typo, text).unwrap();
    let got: Vec<String> = findings(dir.path())
        .iter()
        .filter(|f| f.rule == "mobu-cachemachine-removed")
        .map(brief)
        .collect();
    assert_eq!(
        got,
        ["mobu-cachemachine-removed applications/mobu/values-mobu-typo.yaml:12:11"]
    );
}

/// mobu 5 chose cachemachine for every flock with one global setting, `config.useCachemachine`
/// (chart default `true`), and had no per-flock option: the rules read each version its way.
#[test]
fn mobu_5_uses_its_global_cachemachine_setting() {
    let dir = copy("phalanx-mistakes");
    let chart = dir.path().join("applications/mobu/Chart.yaml");
    let text = std::fs::read_to_string(&chart)
        .unwrap()
        .replace("appVersion: 6.1.1", "appVersion: 5.1.0");
    std::fs::write(&chart, text).unwrap();
    let mobu = |dir: &Path| -> Vec<(String, String)> {
        findings(dir)
            .iter()
            .filter(|f| f.rule.starts_with("mobu-") && f.file.ends_with("values-nocache.yaml"))
            .map(|f| (brief(f), f.hint.clone().unwrap_or_default()))
            .collect()
    };
    // By default the flock relies on cachemachine through the global setting, and cachemachine
    // is not enabled in `nocache`.
    let got = mobu(dir.path());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].0,
        "mobu-cachemachine-disabled applications/mobu/values-nocache.yaml:9:9"
    );
    assert!(
        got[0].1.contains("`config.useCachemachine: false`"),
        "{got:?}"
    );
    // Switched off globally: nothing to say (mobu 6's rules would flag the flock: it has no
    // `use_cachemachine: false`).
    let values = dir.path().join("applications/mobu/values-nocache.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&values, format!("{}  useCachemachine: false\n", text)).unwrap();
    assert_eq!(mobu(dir.path()), Vec::<(String, String)>::new());
    // A per-flock `use_cachemachine` is no option of mobu 5: mobu refuses to start.
    let text = std::fs::read_to_string(&values).unwrap().replace(
        "          repo_branch: \"prod\"\n",
        "          repo_branch: \"prod\"\n          use_cachemachine: false\n",
    );
    std::fs::write(&values, text).unwrap();
    let got = mobu(dir.path());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].0.starts_with("mobu-unknown-option"), "{got:?}");
    assert!(
        got[0].1.contains("global `config.useCachemachine`"),
        "{got:?}"
    );
    // mobu 6.0 did not yet take `jupyter_timeout` (6.1 added it).
    let text = std::fs::read_to_string(&chart)
        .unwrap()
        .replace("appVersion: 5.1.0", "appVersion: 6.0.0");
    std::fs::write(&chart, text).unwrap();
    let text = std::fs::read_to_string(&values).unwrap().replace(
        "use_cachemachine: false\n",
        "use_cachemachine: false\n          jupyter_timeout: 60\n",
    );
    std::fs::write(&values, text).unwrap();
    let got = mobu(dir.path());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].0.starts_with("mobu-unknown-option"), "{got:?}");
}

/// The hub databases: `nublado-shared-db` compares server and database (v3 on another server's
/// `jupyterhub` shares nothing); an in-cluster URL (the chart default, typically) without the
/// in-cluster server is its own finding; an in-cluster database no `*_db` block creates is one.
#[test]
fn hub_database_rules_compare_server_and_database() {
    let db_rules = |dir: &Path| -> Vec<(String, String)> {
        findings(dir)
            .iter()
            .filter(|f| {
                f.scope.as_deref() == Some("shareddb")
                    && matches!(
                        f.rule,
                        "nublado-shared-db" | "nublado-db-server" | "nublado-db-block"
                    )
            })
            .map(|f| (f.rule.to_string(), f.message.clone()))
            .collect()
    };
    let dir = copy("phalanx-mistakes");
    let v3 = dir.path().join("applications/nublado/values-shareddb.yaml");
    let original = std::fs::read_to_string(&v3).unwrap();
    assert_eq!(
        db_rules(dir.path()),
        [(
            "nublado-shared-db".to_string(),
            "nublado v3 uses nublado v2's database `jupyterhub` on `postgres.postgres`, while v2 is still enabled in `shareddb`".to_string()
        )]
    );
    // The same database name on another server is not v2's database.
    std::fs::write(
        &v3,
        original.replace(
            "jovyan@postgres.postgres/jupyterhub",
            "nublado3@db.example.org/jupyterhub",
        ),
    )
    .unwrap();
    assert_eq!(db_rules(dir.path()), Vec::new());
    // v2 on an external server: v3 on the same server and database shares it.
    let v2 = dir
        .path()
        .join("applications/nublado2/values-shareddb.yaml");
    let text = std::fs::read_to_string(&v2).unwrap();
    std::fs::write(
        &v2,
        format!("{text}\njupyterhub:\n  hub:\n    db:\n      url: \"postgresql://jovyan@db.example.org/jupyterhub\"\n"),
    )
    .unwrap();
    let got = db_rules(dir.path());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].1.contains("`jupyterhub` on `db.example.org`"),
        "{got:?}"
    );
    // The chart-default in-cluster URL where the environment runs no `postgres`.
    std::fs::write(&v2, text).unwrap();
    std::fs::write(&v3, "controller: {}\n").unwrap();
    let chart = dir.path().join("applications/nublado/values.yaml");
    let defaults = std::fs::read_to_string(&chart).unwrap();
    std::fs::write(
        &chart,
        defaults.replace(
            "nublado3@db.example.org/jupyterhub",
            "nublado3@postgres.postgres/jupyterhub",
        ),
    )
    .unwrap();
    let env = dir.path().join("environments/values-shareddb.yaml");
    let env_text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, env_text.replace("  postgres: true\n", "")).unwrap();
    let got = db_rules(dir.path());
    let rules: Vec<&str> = got.iter().map(|(r, _)| r.as_str()).collect();
    assert!(rules.contains(&"nublado-db-server"), "{got:?}");
    let server = &got
        .iter()
        .find(|(r, _)| r == "nublado-db-server")
        .unwrap()
        .1;
    assert!(
        server.contains("(the chart default (`applications/nublado/values.yaml:17`)), but `shareddb` does not run the `postgres` application"),
        "{server}"
    );
    // With the server back, the chart default names `jupyterhub` as `nublado3`: a block
    // creates the database but none the role.
    std::fs::write(&env, env_text).unwrap();
    let got = db_rules(dir.path());
    let block = got
        .iter()
        .find(|(r, _)| r == "nublado-db-block")
        .map(|(_, m)| m.as_str());
    assert_eq!(
        block,
        Some(
            "nublado v3's database `jupyterhub` is on the in-cluster PostgreSQL server (the chart default (`applications/nublado/values.yaml:17`)), but no `*_db` block of `applications/postgres/values-shareddb.yaml` creates the role `nublado3`: the server never creates it"
        ),
        "{got:?}"
    );
}

#[test]
fn fixing_a_mistake_clears_its_finding() {
    let dir = copy("phalanx-mistakes");
    let file = dir.path().join("applications/nublado/values-hubroute.yaml");
    let mut f = YamlFile::load(&file).unwrap();
    f.doc
        .set(
            0,
            &YamlPath::parse("controller.config.lab.env.HUB_ROUTE").unwrap(),
            &ScalarValue::string("/n3/hub"),
        )
        .unwrap();
    f.save().unwrap();
    assert!(
        !findings(dir.path())
            .iter()
            .any(|f| f.rule == "nublado-hub-route")
    );
}

/// The two mistakes of hand translations: a lost mount and a read-only flag turned writable,
/// each named with the v2 line it comes from; a correct translation clears both.
#[test]
fn v3_mounts_must_match_the_v2_mounts() {
    let all = findings(&fixture("phalanx-mistakes"));
    let mounts: Vec<&Finding> = all
        .iter()
        .filter(|f| f.rule == "nublado-v3-mount")
        .collect();
    let lost = mounts[0];
    assert_eq!(
        lost.message,
        "`/repo` is mounted in nublado v2 (PersistentVolumeClaim `butler-repo`) but nublado v3 has no lab volume at `/repo`: the mount is lost"
    );
    let hint = lost.hint.as_deref().unwrap();
    assert!(hint.contains("read-only"), "{hint}");
    assert!(
        hint.ends_with("(the v2 mount: `applications/nublado2/values-mounts.yaml:21`)"),
        "{hint}"
    );
    let writable = mounts[1];
    assert_eq!(
        writable.message,
        "`/datasets` is read-only in nublado v2 (readOnly on its volume) but not in nublado v3 (no access mode is written, and the default is read-write): users can write to it"
    );
    assert_eq!(
        writable.hint.as_deref(),
        Some("set `mode: \"ro\"` (the v2 mount: `applications/nublado2/values-mounts.yaml:19`)")
    );
    assert_eq!(mounts.len(), 2);

    // Translated correctly: the mode written and the mount back.
    let dir = copy("phalanx-mistakes");
    let file = dir.path().join("applications/nublado/values-mounts.yaml");
    let mut f = YamlFile::load(&file).unwrap();
    f.doc
        .set(
            0,
            &YamlPath::parse("controller.config.lab.volumes[1].mode").unwrap(),
            &ScalarValue::string("ro"),
        )
        .unwrap();
    f.doc
        .append(
            0,
            &YamlPath::parse("controller.config.lab.volumes").unwrap(),
            &gitops_migrate::yaml::NewValue::Yaml(
                "containerPath: \"/repo\"\nmode: \"ro\"\nsource:\n  type: \"persistentVolumeClaim\"\n  storageClassName: \"butler\"\n  accessModes: [\"ReadOnlyMany\"]\n  resources: {requests: {storage: \"1Gi\"}}\n".into(),
            ),
        )
        .unwrap();
    f.save().unwrap();
    let left: Vec<String> = findings(dir.path())
        .iter()
        .filter(|f| f.rule == "nublado-v3-mount")
        .map(brief)
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The same v3 entry made writable again, or pointed at another export, is caught.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("mode: \"ro\"", "mode: \"rw\"", 1).replacen(
            "\"/share1/home\"",
            "\"/share2/home\"",
            1,
        ),
    )
    .unwrap();
    let got: Vec<(String, Severity)> = findings(dir.path())
        .iter()
        .filter(|f| f.rule == "nublado-v3-mount")
        .map(|f| (format!("{}:{}", f.line, f.col), f.severity))
        .collect();
    assert_eq!(
        got,
        [
            ("11:11".to_string(), Severity::Warning),
            ("16:17".to_string(), Severity::Error),
        ]
    );
}

#[test]
fn clean_fixtures_have_no_errors() {
    let a = findings(&fixture("phalanx-format-a"));
    assert!(a.is_empty(), "{a:#?}");
    // fixtures/phalanx has one environment in `v2-disabled`: its leftover v2 values file is
    // the (warning) anomaly that state is about, and nothing else fires.
    let c: Vec<String> = findings(&fixture("phalanx")).iter().map(brief).collect();
    assert_eq!(
        c,
        ["values-app-disabled applications/nublado2/values-usdfdev.yaml:1:1"]
    );
}

#[test]
fn status_of_the_example_repository() {
    let (code, out, err) = gm(&fixture("phalanx"), &["status"]);
    assert_eq!(code, 0, "{err}");
    snap!("status_phalanx_human", out);
    let (code, out, _) = gm(&fixture("phalanx"), &["status", "--format", "json"]);
    assert_eq!(code, 0);
    snap!("status_phalanx_json", out);
    let (_, out, _) = gm(
        &fixture("phalanx-format-a"),
        &["status", "--format", "markdown"],
    );
    snap!("status_format_a_markdown", out);
}

#[test]
fn status_json_has_the_documented_shape() {
    let (_, out, _) = gm(
        &fixture("phalanx-mistakes"),
        &["status", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "phalanx");
    let envs = v["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 14);
    for e in envs {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["anomalies", "format", "name", "next_stage", "state"]);
        for a in e["anomalies"].as_array().unwrap() {
            let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["file", "line", "message", "rule", "severity"]);
        }
    }
    let state = |name: &str| {
        envs.iter()
            .find(|e| e["name"] == name)
            .map(|e| {
                (
                    e["state"].as_str().unwrap().to_string(),
                    e["next_stage"].clone(),
                )
            })
            .unwrap()
    };
    assert_eq!(state("clash").0, "conflict");
    assert_eq!(state("clash").1, serde_json::Value::Null);
    assert_eq!(state("hubroute").0, "v3-beside");
    assert_eq!(state("nocache").0, "complete");
    assert_eq!(state("mobu-typo").0, "v2-only");
    assert_eq!(state("mobu-typo").1, "enable-v3");
}

#[test]
fn status_refuses_a_malformed_environment_file() {
    let dir = copy("phalanx");
    std::fs::write(
        dir.path().join("environments/values-idfdev.yaml"),
        "name: idfdev\napplications:\n  nublado: true\n mobu: true\n",
    )
    .unwrap();
    let (code, _, err) = gm(dir.path(), &["status"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("environments/values-idfdev.yaml:4:2:"),
        "{err}"
    );
}

#[test]
fn status_and_validate_refuse_an_unknown_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("values.yaml"), "a: 1\n").unwrap();
    for cmd in ["status", "validate"] {
        let (code, _, err) = gm(dir.path(), &[cmd]);
        assert_eq!(code, 2, "{cmd}");
        assert!(err.contains("not a known repository kind"), "{err}");
    }
}

#[test]
fn an_unreadable_file_is_an_input_error() {
    let dir = copy("phalanx");
    std::os::unix::fs::symlink(
        "values-gone.yaml",
        dir.path().join("environments/values-broken.yaml"),
    )
    .unwrap();
    for cmd in ["status", "validate"] {
        let (code, out, err) = gm(dir.path(), &[cmd]);
        assert_eq!(code, 2, "{cmd}: {out}");
        assert!(
            err.contains("environments/values-broken.yaml: cannot read: "),
            "{err}"
        );
    }
}

fn corpus(name: &str) -> Option<PathBuf> {
    common::shared_data(&format!("corpus/{name}"))
}

#[test]
fn status_assigns_every_2023_environment_a_state() {
    let Some(root) = corpus("phalanx-2023-08") else {
        return;
    };
    let (code, out, err) = gm(&root, &["status", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got: Vec<(String, String)> = v["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("base", "v3-beside"),
        ("ccin2p3", "v2-only"),
        ("idfdev", "complete"),
        ("idfint", "v3-default"),
        ("idfprod", "complete"),
        ("minikube", "none"),
        ("roe", "v2-only"),
        ("roundtable-dev", "none"),
        ("roundtable-prod", "none"),
        ("summit", "v3-beside"),
        ("tucson-teststand", "v3-beside"),
        ("usdf-tel-rsp", "none"),
        ("usdfdev", "v3-default"),
        ("usdfprod", "v3-default"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn validate_completes_on_the_corpus_without_false_errors() {
    let Some(root) = corpus("phalanx-2026") else {
        return;
    };
    let repo = repo::open(&root).unwrap();
    assert!(matches!(repo, Repo::Phalanx(_)));
    let errors: Vec<String> = validate::validate(&repo)
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(brief)
        .collect();
    // After the migration the 2026 tree has no cross-file errors.
    assert_eq!(errors, Vec::<String>::new());
}

#[test]
fn the_2023_tree_shows_the_documented_real_mistakes() {
    let Some(root) = corpus("phalanx-2023-08") else {
        return;
    };
    let all = findings(&root);
    let hub_route: Vec<String> = all
        .iter()
        .filter(|f| f.rule == "nublado-hub-route")
        .map(|f| f.file.clone())
        .collect();
    // v3 beside v2 at /n3 without HUB_ROUTE: the labs of three environments pointed at v2's hub.
    assert_eq!(
        hub_route,
        [
            "applications/nublado/values-base.yaml",
            "applications/nublado/values-summit.yaml",
            "applications/nublado/values-tucson-teststand.yaml"
        ]
    );
    assert!(all.iter().any(|f| f.rule == "nublado-nfs-path"));
    // Hand translations to v3: the `/repo` mount lost at USDF, read-only archive mounts made
    // writable at the summit and the test stands; other NFS servers at the summit (warnings).
    let mounts: Vec<String> = all
        .iter()
        .filter(|f| f.rule == "nublado-v3-mount")
        .map(|f| {
            let path = f.message.split('`').nth(1).unwrap_or("?");
            let what = if f.message.contains("the mount is lost") {
                "lost"
            } else if f.message.contains("users can write to it") {
                "writable"
            } else {
                "other storage"
            };
            format!(
                "{} {} {path} {what}",
                f.severity,
                f.scope.as_deref().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            "error base /data/lsstdata/BTS/auxtel writable",
            "warning summit /home other storage",
            "warning summit /project other storage",
            "warning summit /scratch other storage",
            "warning summit /repo/LSSTComCam other storage",
            "error summit /readonly/lsstdata/other writable",
            "warning summit /readonly/lsstdata/other other storage",
            "error summit /readonly/lsstdata/comcam writable",
            "error summit /readonly/lsstdata/auxtel writable",
            "error summit /data/lsstdata/base/comcam writable",
            "error summit /data/lsstdata/base/auxtel writable",
            "warning summit /data/lsstdata/base/auxtel other storage",
            "error tucson-teststand /data/lsstdata/TTS/auxtel writable",
            "error tucson-teststand /data/lsstdata/TTS/comcam writable",
            "error usdfdev /repo lost",
            "error usdfprod /repo lost",
        ]
    );
    assert!(
        !all.iter()
            .any(|f| f.rule == "env-missing-values" || f.rule == "values-unknown-env")
    );
}

// ---------------------------------------------------------------------------------------------
// The nublado controller's syntax follows the chart's appVersion

/// `fixtures/phalanx` with the nublado chart at `version` and `idfdev`'s lab volumes from
/// `fixtures/nublado-syntax/values-idfdev-<syntax>.yaml` (and its matching nublado2 mounts).
fn with_syntax(version: &str, syntax: &str) -> tempfile::TempDir {
    let dir = copy("phalanx");
    let chart = dir.path().join("applications/nublado/Chart.yaml");
    let text = std::fs::read_to_string(&chart).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("appVersion:") {
                format!("appVersion: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&chart, text).unwrap();
    let syntaxes = fixture("nublado-syntax");
    std::fs::copy(
        syntaxes.join(format!("values-idfdev-{syntax}.yaml")),
        dir.path().join("applications/nublado/values-idfdev.yaml"),
    )
    .unwrap();
    std::fs::copy(
        syntaxes.join("nublado2-values-idfdev.yaml"),
        dir.path().join("applications/nublado2/values-idfdev.yaml"),
    )
    .unwrap();
    dir
}

/// The findings of the version rules (`nublado-v3-mount`, `nublado-v3-unknown-key`,
/// `nublado-nfs-path`) in `idfdev`'s nublado values (the fixture's other environments keep
/// their 0.x files whatever the version).
fn version_findings(root: &Path) -> Vec<Finding> {
    findings(root)
        .into_iter()
        .filter(|f| {
            f.file == "applications/nublado/values-idfdev.yaml"
                && matches!(
                    f.rule,
                    "nublado-v3-mount" | "nublado-v3-unknown-key" | "nublado-nfs-path"
                )
        })
        .collect()
}

#[test]
fn each_controller_syntax_is_read_by_the_chart_version() {
    for (version, syntax) in [("0.3.2", "legacy"), ("0.7.1", "flat"), ("4.0.0", "split")] {
        let dir = with_syntax(version, syntax);
        let found: Vec<String> = version_findings(dir.path()).iter().map(brief).collect();
        assert_eq!(found, Vec::<String>::new(), "{syntax} at {version}");
        // The same mounts, read back: both there, the datasets read-only.
        let (code, out, err) = gm(
            dir.path(),
            &["validate", "applications/nublado/values-idfdev.yaml"],
        );
        assert!(!out.contains("nublado-v3"), "{syntax}: {out}");
        assert!(code == 0 || code == 1, "{err}");
    }
}

#[test]
fn a_file_in_another_versions_syntax_is_reported_not_misread() {
    // (chart version, file syntax, the keys the version does not read)
    let cases: [(&str, &str, &[&str]); 6] = [
        ("0.7.1", "legacy", &["server", "serverPath"]),
        (
            "4.0.0",
            "legacy",
            &["containerPath", "server", "serverPath", "mode"],
        ),
        ("0.3.2", "flat", &["source"]),
        ("4.0.0", "flat", &["containerPath", "mode"]),
        (
            "0.7.1",
            "split",
            &["name", "volumeMounts", "refreshInterval"],
        ),
        (
            "0.3.2",
            "split",
            &["name", "source", "volumeMounts", "refreshInterval"],
        ),
    ];
    for (version, syntax, keys) in cases {
        let dir = with_syntax(version, syntax);
        let all = version_findings(dir.path());
        let unknown: Vec<&str> = all
            .iter()
            .filter(|f| f.rule == "nublado-v3-unknown-key")
            .map(|f| f.message.split('`').nth(1).unwrap())
            .collect();
        let mut want = keys.to_vec();
        // Every entry of the other syntax repeats its keys; compare the sets and the count.
        want.sort();
        let mut got = unknown.clone();
        got.sort();
        got.dedup();
        want.dedup();
        assert_eq!(got, want, "{syntax} at {version}: {all:#?}");
        assert!(
            all.iter()
                .filter(|f| f.rule == "nublado-v3-unknown-key")
                .all(|f| f.severity == Severity::Error
                    && f.file == "applications/nublado/values-idfdev.yaml"),
            "{all:#?}"
        );
        // What the version reads from the file is not the v2 mounts: they are reported lost
        // or without their source, never silently taken for mounted.
        assert!(
            all.iter().any(|f| f.rule == "nublado-v3-mount"),
            "{syntax} at {version}: {all:#?}"
        );
    }
}

#[test]
fn snake_case_image_keys_name_their_camel_case() {
    let dir = with_syntax("0.7.1", "flat");
    let rel = "applications/nublado/values-idfdev.yaml";
    let path = dir.path().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("numReleases: 1", "num_releases: 1");
    std::fs::write(&path, text).unwrap();
    let found = version_findings(dir.path());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        brief(&found[0]),
        format!("nublado-v3-unknown-key {rel}:9:7")
    );
    assert_eq!(
        found[0].message,
        "`num_releases` is not a key of `controller.config.images` in nublado 0.7.1: the controller does not read it"
    );
    assert_eq!(
        found[0].hint.as_deref(),
        Some("write `numReleases`: the controller reads camelCase keys only")
    );
}

/// On the 2023 tree (nublado 0.7.1, the 0.x `source:` syntax) the version rules find nothing
/// in files written for it: the only unknown keys are the snake_case `images` keys that base,
/// summit and tucson-teststand really had (ignored by the controller for months).
#[test]
fn the_2023_tree_has_no_false_errors_from_the_version_rules() {
    let Some(root) = corpus("phalanx-2023-08") else {
        return;
    };
    let all = findings(&root);
    let unknown: Vec<String> = all
        .iter()
        .filter(|f| f.rule == "nublado-v3-unknown-key")
        .map(|f| format!("{} {}", f.file, f.message.split('`').nth(1).unwrap()))
        .collect();
    let mut want = Vec::new();
    for env in ["base", "summit", "tucson-teststand"] {
        for key in [
            "num_releases",
            "num_weeklies",
            "num_dailies",
            "recommended_tag",
        ] {
            want.push(format!("applications/nublado/values-{env}.yaml {key}"));
        }
    }
    assert_eq!(unknown, want);
    // Every mount finding is one the hand translations really made (listed in
    // `the_2023_tree_shows_the_documented_real_mistakes`), none from misreading the syntax:
    // no mount is "lost" where the v3 file has a volume at that path.
    for f in all.iter().filter(|f| f.rule == "nublado-v3-mount") {
        assert!(
            !f.message.contains("no source"),
            "a v3 volume read without its source: {f:?}"
        );
    }
    // The 2026 tree (nublado 15.1.0, the 4.x syntax) has none at all.
    let Some(root) = corpus("phalanx-2026") else {
        return;
    };
    let errors: Vec<String> = findings(&root)
        .iter()
        .filter(|f| f.rule.starts_with("nublado-v3"))
        .map(brief)
        .collect();
    assert_eq!(errors, Vec::<String>::new());
}

/// `validate --new-since REV` (the pre-commit hook's `HEAD`) reports only the findings the
/// repository did not have at REV, told by rule, file and subject: an error that was there
/// does not fail a commit that merely touches (or moves) it; one the commit adds does.
#[test]
fn new_since_reports_only_the_findings_a_change_adds() {
    let dir = copy("phalanx-mistakes");
    let root = dir.path();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    // Before the first commit every finding is new.
    let (code, _, _) = gm(root, &["validate", "--new-since", "HEAD"]);
    assert_eq!(code, 1);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "mistakes"]);
    let (code, out, err) = gm(root, &["validate", "--new-since", "HEAD"]);
    assert_eq!((code, out.trim()), (0, "no findings"), "{err}");
    assert!(err.contains("already had at HEAD not shown"), "{err}");
    // Moving an error two lines down is no new error.
    let mounts = root.join("applications/nublado/values-mounts.yaml");
    let text = std::fs::read_to_string(&mounts).unwrap();
    std::fs::write(&mounts, format!("# Moved.\n# Down.\n{text}")).unwrap();
    let file = "applications/nublado/values-mounts.yaml";
    let (code, out, _) = gm(root, &["validate", "--new-since", "HEAD", file]);
    assert_eq!((code, out.trim()), (0, "no findings"));
    // Without --new-since the file's errors are reported as before.
    let (code, _, _) = gm(root, &["validate", file]);
    assert_eq!(code, 1);
    // A mistake the change adds is reported.
    let mobu = root.join("applications/mobu/values-nocache.yaml");
    let text = std::fs::read_to_string(&mobu)
        .unwrap()
        .replace("repo_branch:", "repo_brunch:");
    std::fs::write(&mobu, text).unwrap();
    let (code, out, _) = gm(root, &["validate", "--new-since", "HEAD"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("`repo_brunch` is not an option"), "{out}");
    assert!(out.contains("1 error, 0 warnings in 1 file"), "{out}");
    let (code, _, err) = gm(root, &["validate", "--new-since", "no-such-rev"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no commit `no-such-rev`"), "{err}");
}
