//! A checkout with a bare `origin`, for the tests of `exec`, whose real runs read the stage's
//! merge from the remote: `publish` makes a directory a Git repository whose `main` is on a
//! bare repository beside it; `merge` commits what changed and pushes it (a pull request
//! merged); `commit` commits without pushing (a change only in the local checkout).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `git` in `dir` with a fixed identity and no user or system configuration; its stdout,
/// trimmed; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Makes `dir` a Git repository with everything in it committed on `main`, pushed to a bare
/// repository (`remote`, created) as `origin`. Returns `main`'s commit.
pub fn publish(dir: &Path, remote: &Path) -> String {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "the repository"]);
    let parent = remote.parent().expect("a parent folder");
    let name = remote.file_name().unwrap().to_str().unwrap();
    git(parent, &["init", "-q", "--bare", "-b", "main", name]);
    let url = format!("file://{}", remote.display());
    git(dir, &["remote", "add", "origin", &url]);
    git(dir, &["push", "-q", "origin", "main"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// Commits everything changed in `dir` and pushes `main`: the stage's pull request is
/// merged. Returns the new commit.
pub fn merge(dir: &Path, message: &str) -> String {
    let commit = self::commit(dir, message);
    git(dir, &["push", "-q", "origin", "main"]);
    commit
}

/// Commits everything changed in `dir` on `main`, without pushing. Returns the commit.
pub fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A bare remote's path beside a work directory's temporary parent.
pub fn remote_in(parent: &Path) -> PathBuf {
    parent.join("origin.git")
}
