//! The pre-commit hook as users run it: the real `pre-commit try-repo` with this crate's
//! `.pre-commit-hooks.yaml` (`language: rust`, so pre-commit builds the tool with
//! `cargo install --path .`), in a temporary git repository made from `fixtures/phalanx`.
//!
//! `pre-commit` comes from PyPI (`scripts/test` installs it). Without it the test fails when
//! `CI` is set and skips with a notice otherwise.
//!
//! Two details make this hermetic and fast enough:
//! - `try-repo` on this checkout would build only what is committed plus modified tracked
//!   files (its shadow commit runs `git add -u`): new, untracked files, such as a new hook
//!   file or source file, would be missing. So the hooks repository is a fresh git
//!   repository holding a copy of the working tree (tracked and untracked files, minus what
//!   `.gitignore` excludes).
//! - `try-repo` installs the hook into a throwaway store of its own (`Store(tempdir)` in
//!   pre-commit's `try_repo`, whatever `PRE_COMMIT_HOME` says), so each call runs
//!   `cargo install --path .` again. `CARGO_TARGET_DIR` points at `target/precommit-hook/`:
//!   the dependencies are built once (a few minutes on 2 cores the first time, then reused
//!   across test runs), and each call recompiles only the crate (about 10 s).
//!   `PRE_COMMIT_HOME` is still a temporary directory, so nothing leaks into the user's cache.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use common::copy_dir;

const HOOK: &str = "gitops-migrate-validate";
const PLANTED: &str = "applications/nublado/values-idfdev.yaml";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// How to run pre-commit: the `pre-commit` command, else `python3 -m pre_commit`.
fn pre_commit() -> Option<Vec<String>> {
    let candidates = [
        vec!["pre-commit".to_string()],
        vec!["python3".into(), "-m".into(), "pre_commit".into()],
    ];
    candidates.into_iter().find(|cmd| {
        Command::new(&cmd[0])
            .args(&cmd[1..])
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=gitops-migrate tests"])
        .args(["-c", "user.email=tests@example.invalid"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A git repository holding this crate's working tree as it is now (tracked and untracked
/// files that `.gitignore` does not exclude), committed.
fn hooks_repo(dest: &Path) {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(manifest_dir())
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files in the crate");
    fs::create_dir_all(dest).unwrap();
    for rel in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).expect("UTF-8 path"));
        let from = manifest_dir().join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree, or a submodule
        }
        let to = dest.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap();
    }
    assert!(
        dest.join(".pre-commit-hooks.yaml").is_file(),
        "the crate has no .pre-commit-hooks.yaml"
    );
    git(dest, &["init", "-q"]);
    git(dest, &["add", "-A"]);
    git(
        dest,
        &["commit", "-q", "-m", "snapshot of the working tree"],
    );
}

/// The target directory the tests were built in (`target/`), from the binary's path.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .ancestors()
        .nth(2)
        .expect("target/<profile>/gitops-migrate")
        .to_path_buf()
}

struct Env {
    pre_commit: Vec<String>,
    home: PathBuf,
    hooks: PathBuf,
    repo: PathBuf,
}

impl Env {
    /// `pre-commit try-repo HOOKS gitops-migrate-validate --files FILES...` in the Phalanx
    /// repository.
    fn try_repo(&self, files: &[&str]) -> (Output, String) {
        let out = Command::new(&self.pre_commit[0])
            .args(&self.pre_commit[1..])
            .arg("try-repo")
            .arg(&self.hooks)
            .arg(HOOK)
            .args(["--color", "never", "--verbose", "--files"])
            .args(files)
            .current_dir(&self.repo)
            .env("PRE_COMMIT_HOME", &self.home)
            .env("CARGO_TARGET_DIR", target_dir().join("precommit-hook"))
            .env("NO_COLOR", "1")
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("PRE_COMMIT_COLOR")
            .output()
            .expect("run pre-commit");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, text)
    }
}

#[test]
fn the_hook_fails_on_an_error_and_passes_once_it_is_fixed() {
    let Some(pre_commit) = pre_commit() else {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!(
                "pre-commit is not installed (CI is set, so this test must run): `python3 -m pip install pre-commit`, or run scripts/test"
            );
        }
        eprintln!(
            "NOTICE: pre-commit is not installed; skipping the pre-commit hook test (`python3 -m pip install pre-commit`)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let env = Env {
        pre_commit,
        home: tmp.path().join("pre-commit-home"),
        hooks: tmp.path().join("hooks"),
        repo: tmp.path().join("phalanx"),
    };
    hooks_repo(&env.hooks);
    copy_dir(&manifest_dir().join("fixtures/phalanx"), &env.repo);
    git(&env.repo, &["init", "-q"]);
    git(&env.repo, &["add", "-A"]);
    git(&env.repo, &["commit", "-q", "-m", "phalanx"]);

    // A duplicate key: `numReleases` again, on line 14 (first on line 13).
    let path = env.repo.join(PLANTED);
    let original = fs::read_to_string(&path).unwrap();
    let planted = original.replacen(
        "      numReleases: 1\n",
        "      numReleases: 1\n      numReleases: 2\n",
        1,
    );
    assert_ne!(
        planted, original,
        "the fixture changed: plant the mistake elsewhere"
    );
    fs::write(&path, &planted).unwrap();
    let files = [PLANTED, "environments/values-idfdev.yaml"];

    // Each run builds the tool (release) first; see the module comment.
    let (out, text) = env.try_repo(&files);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Failed"), "{text}");
    assert!(text.contains(PLANTED), "{text}");
    assert!(
        text.contains("14:7") && text.contains("yaml-duplicate-key"),
        "{text}"
    );
    assert!(
        text.contains("duplicate key `numReleases`: first defined on line 13"),
        "{text}"
    );
    eprintln!("{text}");

    // Fixed: the hook passes.
    fs::write(&path, &original).unwrap();
    let (out, text) = env.try_repo(&files);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Passed"), "{text}");
    assert!(text.contains("no findings"), "{text}");
}
