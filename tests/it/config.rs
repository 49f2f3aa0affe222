//! `gitops-migrate.toml`: `config set` keeps comments and order (snapshots), creates the file
//! when missing; defaults come from the environment file; bad keys and values exit 2 with the
//! known keys; tokens are read from the environment or a file, never from arguments or the
//! configuration itself.

use std::path::Path;
use std::process::Command;

use gitops_migrate::config::{Config, Key, TokenSource};
use gitops_migrate::repo::{self, Phalanx, Repo};

use crate::common;
use crate::common::snapshot;
use common::copy_dir;

fn repo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phalanx"),
        dir.path(),
    );
    dir
}

fn phalanx(root: &Path) -> Phalanx {
    match repo::open(root).unwrap() {
        Repo::Phalanx(p) => p,
        Repo::Infrastructure(_) => panic!("not Phalanx"),
    }
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn gm(repo: &Path, args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .arg("-C")
        .arg(repo)
        .args(["--color", "never"])
        .args(args)
        .output()
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const EDITED: &str = r#"# Site settings for the window runbooks.

# The development environment.
[environments.idfdev]
context = "old-context" # set by alice
# Argo CD behind the ingress
argocd_url = 'https://data-dev.lsst.cloud/argo-cd'

[clusters.utoronto]   # 2i2c
context = "utoronto"
"#;

#[test]
fn config_set_keeps_comments_order_and_formatting() {
    let repo = repo_copy();
    let file = repo.path().join("gitops-migrate.toml");
    std::fs::write(&file, EDITED).unwrap();
    for (key, value) in [
        ("environments.idfdev.context", "gke_science-platform-dev"),
        ("environments.idfdev.vault_token_env", "IDFDEV_VAULT_TOKEN"),
        ("environments.usdfdev.context", "usdf-rsp-dev"),
        ("clusters.utoronto.context", "gke_utoronto"),
    ] {
        let r = gm(repo.path(), &["config", "set", key, value]);
        assert_eq!(r.code, 0, "{key}: {}", r.stderr);
        assert!(r.stderr.starts_with("updated "), "{}", r.stderr);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    // Everything that was not set is byte-identical.
    for line in EDITED.lines().filter(|l| !l.starts_with("context")) {
        assert!(text.contains(line), "lost {line:?}:\n{text}");
    }
    snapshot("config__set_keeps_comments", &text);
    let r = gm(
        repo.path(),
        &["config", "get", "environments.idfdev.context"],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "gke_science-platform-dev\n")
    );
}

#[test]
fn config_set_creates_the_file_when_missing() {
    let repo = repo_copy();
    let r = gm(
        repo.path(),
        &[
            "config",
            "set",
            "environments.idfdev.context",
            "gke_science-platform-dev",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.starts_with("created "), "{}", r.stderr);
    let r = gm(
        repo.path(),
        &[
            "config",
            "set",
            "environments.idfdev.mobu_url",
            "https://data-dev.lsst.cloud/mobu/",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(repo.path().join("gitops-migrate.toml")).unwrap();
    snapshot("config__created", &text);
    // It loads back.
    Config::parse(Path::new("x.toml"), &text).unwrap();

    // --config FILE elsewhere.
    let other = repo.path().join("site.toml");
    let r = gm(
        repo.path(),
        &[
            "config",
            "--config",
            "site.toml",
            "set",
            "clusters.hub1.context",
            "ctx",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        std::fs::read_to_string(other)
            .unwrap()
            .contains("[clusters.hub1]\ncontext = \"ctx\"\n")
    );
}

#[test]
fn defaults_come_from_the_environment_files() {
    let repo = repo_copy();
    let p = phalanx(repo.path());
    let config = Config::load(&repo.path().join("gitops-migrate.toml")).unwrap();
    assert!(!config.exists());
    let idfdev = config.environment(&p, p.env("idfdev").unwrap());
    assert_eq!(idfdev.context, None);
    assert_eq!(
        idfdev.argocd_url.as_deref(),
        Some("https://data-dev.lsst.cloud/argo-cd")
    );
    assert_eq!(
        idfdev.mobu_url.as_deref(),
        Some("https://data-dev.lsst.cloud/mobu")
    );
    assert_eq!(
        idfdev.vault_path_prefix.as_deref(),
        Some("secret/phalanx/idfdev")
    );
    // idfdev sets no vaultUrl: the default of environments/values.yaml.
    assert_eq!(
        idfdev.vault_url.as_deref(),
        Some("https://vault.lsst.codes")
    );
    assert_eq!(
        idfdev.argocd_token,
        TokenSource {
            var: "ARGOCD_TOKEN".into(),
            file: None
        }
    );
    assert_eq!(idfdev.mobu_token.var, "MOBU_TOKEN");
    assert_eq!(idfdev.vault_token.var, "VAULT_TOKEN");
    let usdfdev = config.environment(&p, p.env("usdfdev").unwrap());
    assert_eq!(
        usdfdev.vault_url.as_deref(),
        Some("https://vault.slac.stanford.edu")
    );
    assert_eq!(
        usdfdev.vault_path_prefix.as_deref(),
        Some("secret/rubin/usdf-rsp-dev")
    );

    // Configured values win over the defaults.
    let config = Config::parse(
        &repo.path().join("gitops-migrate.toml"),
        "[environments.idfdev]\nargocd_url = \"https://argocd.example/\"\nargocd_token_env = \"IDF_ARGO\"\nargocd_token_file = \"tokens/argo\"\n",
    )
    .unwrap();
    let idfdev = config.environment(&p, p.env("idfdev").unwrap());
    assert_eq!(idfdev.argocd_url.as_deref(), Some("https://argocd.example"));
    assert_eq!(idfdev.argocd_token.var, "IDF_ARGO");
    assert_eq!(
        idfdev.argocd_token.file,
        Some(repo.path().join("tokens/argo"))
    );

    // `config get` shows a default and says where it comes from.
    let r = gm(
        repo.path(),
        &["config", "get", "environments.idfdev.argocd_url"],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "https://data-dev.lsst.cloud/argo-cd\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("the default, from environments/values-idfdev.yaml"),
        "{}",
        r.stderr
    );
    let r = gm(
        repo.path(),
        &["config", "get", "environments.idfdev.vault_path_prefix"],
    );
    assert_eq!(r.stdout, "secret/phalanx/idfdev\n");
    let r = gm(
        repo.path(),
        &["config", "get", "environments.idfdev.context"],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("environments.idfdev.context is not set"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_keys_and_values_exit_2_with_the_known_keys() {
    let repo = repo_copy();
    let file = repo.path().join("gitops-migrate.toml");
    for key in [
        "environments.idfdev.contxt",
        "environment.idfdev.context",
        "environments.idfdev",
        "clusters.utoronto.argocd_url",
    ] {
        let r = gm(repo.path(), &["config", "set", key, "x"]);
        assert_eq!(r.code, 2, "{key}");
        assert!(
            r.stderr
                .contains(&format!("unknown configuration key `{key}`")),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("environments.<env>.argocd_token_env"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("clusters.<cluster>.context"),
            "{}",
            r.stderr
        );
        let r = gm(repo.path(), &["config", "get", key]);
        assert_eq!(r.code, 2, "{key}");
    }
    let r = gm(
        repo.path(),
        &["config", "set", "environments.idfdev.contxt", "x"],
    );
    assert!(r.stderr.contains("did you mean `context`?"), "{}", r.stderr);
    let r = gm(
        repo.path(),
        &[
            "config",
            "set",
            "environments.idfdev.mobu_url",
            "mobu.example",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("is not an http(s):// URL"),
        "{}",
        r.stderr
    );
    assert!(!file.exists(), "a refused set wrote the file");

    // Mistakes in the file itself: the line, and nothing runs.
    std::fs::write(
        &file,
        "[environments.idfdev]\ncontext = \"a\"\nargcd_url = \"https://x\"\n",
    )
    .unwrap();
    let r = gm(
        repo.path(),
        &["config", "get", "environments.idfdev.context"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("gitops-migrate.toml:3: unknown configuration key `environments.idfdev.argcd_url` (did you mean `argocd_url`?)"), "{}", r.stderr);
    let r = gm(
        repo.path(),
        &[
            "exec",
            "nublado",
            "make-default",
            "--env",
            "idfdev",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    std::fs::write(&file, "[environments.idfdev\ncontext = 1\n").unwrap();
    let r = gm(
        repo.path(),
        &["config", "get", "environments.idfdev.context"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("gitops-migrate.toml:1:"), "{}", r.stderr);
    std::fs::write(&file, "[environments.idfdev]\ncontext = 1\n").unwrap();
    let r = gm(
        repo.path(),
        &["config", "get", "environments.idfdev.context"],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("gitops-migrate.toml:2: `environments.idfdev.context`: must be a string"),
        "{}",
        r.stderr
    );

    let r = gm(repo.path(), &["config", "keys"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.lines().count(), 32);
    for key in [
        "clusters.<cluster>.homes",
        "environments.<env>.cluster_uid",
        "clusters.<cluster>.api_server",
        "clusters.<cluster>.lease_seconds",
    ] {
        assert!(r.stdout.contains(key), "{key}: {}", r.stdout);
    }
    let r = gm(repo.path(), &["config", "keys"]);
    assert!(
        r.stdout.contains("clusters.<cluster>.homes"),
        "{}",
        r.stdout
    );
}

#[test]
fn tokens_are_never_read_from_arguments() {
    let repo = repo_copy();
    let file = repo.path().join("gitops-migrate.toml");
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl";
    // No key holds a token…
    let r = gm(
        repo.path(),
        &["config", "set", "environments.idfdev.argocd_token", token],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("tokens are never stored in the configuration or given as arguments"),
        "{}",
        r.stderr
    );
    // …a token given where a variable name belongs is refused…
    let r = gm(
        repo.path(),
        &[
            "config",
            "set",
            "environments.idfdev.argocd_token_env",
            token,
        ],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("name the variable that holds the token, never the token itself"),
        "{}",
        r.stderr
    );
    for out in [&r.stdout, &r.stderr] {
        assert!(!out.contains(token), "the token was echoed: {out}");
    }
    assert!(!file.exists());
    // …and exec has no token option.
    for flag in ["--token", "--argocd-token", "--mobu-token", "--vault-token"] {
        let r = gm(
            repo.path(),
            &[
                "exec",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--dry-run",
                flag,
                token,
            ],
        );
        assert_eq!(r.code, 2, "{flag}");
    }

    // Tokens come from the named variable, else the named file.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("argo");
    let source = TokenSource {
        var: "GITOPS_MIGRATE_TEST_TOKEN_UNSET_1".into(),
        file: Some(token_file.clone()),
    };
    let err = source.read().unwrap_err().to_string();
    assert!(err.contains("cannot read the token file"), "{err}");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    assert_eq!(source.read().unwrap().as_deref(), Some(token));
    let none = TokenSource {
        var: "GITOPS_MIGRATE_TEST_TOKEN_UNSET_2".into(),
        file: None,
    };
    assert_eq!(none.read().unwrap(), None);
    assert_eq!(
        source.describe(),
        format!(
            "$GITOPS_MIGRATE_TEST_TOKEN_UNSET_1, else {}",
            token_file.display()
        )
    );
}

#[test]
fn keys_parse_and_print() {
    let k = Key::parse("environments.tucson-teststand.mobu_token_env").unwrap();
    assert_eq!(
        (k.section, k.name.as_str(), k.field),
        ("environments", "tucson-teststand", "mobu_token_env")
    );
    assert_eq!(
        k.to_string(),
        "environments.tucson-teststand.mobu_token_env"
    );
}
