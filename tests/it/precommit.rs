//! The pre-commit hooks as users run them: the real `pre-commit try-repo` with this crate's
//! `.pre-commit-hooks.yaml`, in a temporary git repository made from `fixtures/phalanx`:
//! `gitops-migrate-validate` (`language: python`: pip installs the prebuilt wheel that
//! `scripts/build-wheel` makes, from a local folder, with no cargo on PATH),
//! `gitops-migrate-validate-system` (the binary that wheel put on PATH) and
//! `gitops-migrate-validate-rust` (`language: rust`: pre-commit builds the tool with
//! `cargo install --path .`).
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
//!   `cargo install --path .` again. `CARGO_TARGET_DIR` points at the crate's own `target/`,
//!   whose release profile `scripts/build-wheel` (and `cargo build --release`) use too: the
//!   dependencies are built in release mode once (a few minutes on 2 cores the first time,
//!   then reused across tests and test runs), and each call recompiles only the crate.
//!   `PRE_COMMIT_HOME` is still a temporary directory, so nothing leaks into the user's cache.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use common::copy_dir;

const PYTHON_HOOK: &str = "gitops-migrate-validate";
const RUST_HOOK: &str = "gitops-migrate-validate-rust";
const SYSTEM_HOOK: &str = "gitops-migrate-validate-system";
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
    /// Extra environment for pre-commit and the hooks.
    env: Vec<(String, String)>,
}

impl Env {
    /// `pre-commit try-repo HOOKS <hook> --files FILES...` in the Phalanx repository.
    fn try_repo(&self, hook: &str, files: &[&str]) -> (Output, String) {
        let out = Command::new(&self.pre_commit[0])
            .args(&self.pre_commit[1..])
            .arg("try-repo")
            .arg(&self.hooks)
            .arg(hook)
            .args(["--color", "never", "--verbose", "--files"])
            .args(files)
            .current_dir(&self.repo)
            .env("PRE_COMMIT_HOME", &self.home)
            .env("CARGO_TARGET_DIR", target_dir())
            .env("NO_COLOR", "1")
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("PRE_COMMIT_COLOR")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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

/// pre-commit, or `None` after a notice when it is not installed (a failure under `CI`).
fn pre_commit_or_skip() -> Option<Vec<String>> {
    let found = pre_commit();
    if found.is_none() {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!(
                "pre-commit is not installed (CI is set, so this test must run): `python3 -m pip install pre-commit`, or run scripts/test"
            );
        }
        eprintln!(
            "NOTICE: pre-commit is not installed; skipping the pre-commit hook test (`python3 -m pip install pre-commit`)"
        );
    }
    found
}

/// The hooks repository (this crate's working tree) and a Phalanx repository to run them in,
/// under `tmp`.
fn setup(pre_commit: Vec<String>, tmp: &Path) -> Env {
    let env = Env {
        pre_commit,
        home: tmp.join("pre-commit-home"),
        hooks: tmp.join("hooks"),
        repo: tmp.join("phalanx"),
        env: Vec::new(),
    };
    hooks_repo(&env.hooks);
    copy_dir(&manifest_dir().join("fixtures/phalanx"), &env.repo);
    git(&env.repo, &["init", "-q"]);
    git(&env.repo, &["add", "-A"]);
    git(&env.repo, &["commit", "-q", "-m", "phalanx"]);
    env
}

/// Runs `hook` on a planted mistake (it must fail, naming it with its line), then on the fixed
/// file (it must pass).
fn fails_then_passes(env: &Env, hook: &str) {
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

    let (out, text) = env.try_repo(hook, &files);
    assert_eq!(out.status.code(), Some(1), "{hook}: {text}");
    assert!(text.contains("Failed"), "{text}");
    assert!(
        text.contains(&format!("--> {PLANTED}:14:7")) && text.contains("error[yaml-duplicate-key]"),
        "{text}"
    );
    assert!(
        text.contains("duplicate key `numReleases`: first defined on line 13"),
        "{text}"
    );
    assert!(
        text.contains("14 |       numReleases: 2"),
        "the source line: {text}"
    );
    eprintln!("{text}");

    // Fixed: the hook passes.
    fs::write(&path, &original).unwrap();
    let (out, text) = env.try_repo(hook, &files);
    assert_eq!(out.status.code(), Some(0), "{hook}: {text}");
    assert!(text.contains("Passed"), "{text}");
    assert!(text.contains("no findings"), "{text}");
}

/// `PATH` without the folders that hold `cargo` or `rustc`.
fn path_without_cargo() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| !d.join("cargo").exists() && !d.join("rustc").exists())
        .collect();
    std::env::join_paths(kept)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_python_hook_installs_the_prebuilt_wheel_without_cargo() {
    let Some(pre_commit) = pre_commit_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let wheels = tmp.path().join("wheels");

    // The wheel, as a release would build it (cargo's release build of target/ is reused).
    let out = Command::new(manifest_dir().join("scripts/build-wheel"))
        .arg("--out")
        .arg(&wheels)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run scripts/build-wheel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scripts/build-wheel: {stderr}");
    let wheel = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .lines()
            .last()
            .unwrap(),
    );
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!(
            "gitops_migrate-{}-py3-none-",
            env!("CARGO_PKG_VERSION")
        )) && name.ends_with(".whl"),
        "{name}"
    );

    // Nothing on this PATH can compile Rust.
    let path = path_without_cargo();
    let which = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .env("PATH", &path)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(
        !which("cargo") && !which("rustc"),
        "cargo is still on {path}"
    );

    // pip alone gives the binary, in a fresh virtual environment, from the local folder only.
    let venv = tmp.path().join("venv");
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .env("PATH", &path)
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
        ])
        .arg(&wheels)
        .arg("gitops-migrate")
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "pip install: {out:?}");
    let out = Command::new(venv.join("bin/gitops-migrate"))
        .arg("--version")
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("gitops-migrate {}", env!("CARGO_PKG_VERSION"))
    );

    // The `language: python` hook: pre-commit's `pip install .` of the hooks repository
    // installs the small package at its root, which requires the wheel; pip finds it in the
    // local folder and nowhere else (no index at all).
    let mut env = setup(pre_commit, tmp.path());
    env.env = vec![
        ("PATH".into(), path.clone()),
        ("PIP_FIND_LINKS".into(), wheels.display().to_string()),
        ("PIP_NO_INDEX".into(), "1".into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
    ];
    fails_then_passes(&env, PYTHON_HOOK);

    // The `language: system` hook runs the binary on PATH: the one pip installed.
    env.env[0].1 = format!("{}:{path}", venv.join("bin").display());
    fails_then_passes(&env, SYSTEM_HOOK);
}

#[test]
fn the_rust_hook_builds_the_tool_and_fails_then_passes() {
    let Some(pre_commit) = pre_commit_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let env = setup(pre_commit, tmp.path());
    // Each run builds the tool (release) first; see the module comment.
    fails_then_passes(&env, RUST_HOOK);
}
