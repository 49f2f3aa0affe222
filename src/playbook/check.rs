//! Checks around a stage's change before it is written: the result must validate with no new
//! errors, and the files it touches must have no uncommitted changes.

use std::path::Path;

use crate::change::ChangeSet;
use crate::repo::{self, Repo, RepoError};
use crate::validate::render::Sources;
use crate::validate::{self, Finding};

/// The text of the repository's files as they would be after a change: where the findings
/// of `new_errors` point.
pub struct AfterChange<'a> {
    pub before: &'a Repo,
    pub changes: &'a ChangeSet,
}

impl Sources for AfterChange<'_> {
    fn text(&self, file: &str) -> Option<&str> {
        match self.changes.content(file) {
            Some(after) => after,
            None => self.before.files().text(file),
        }
    }
}

/// The errors the repository (as loaded) would have after the change that it does not have
/// now, told by identity (`Finding::identity`: rule, file, subject), whatever the line or the
/// environment's state. The change is applied to a copy of the repository (Git metadata left
/// out).
pub fn new_errors(before: &Repo, changes: &ChangeSet) -> Result<Vec<Finding>, RepoError> {
    let root = before.files().root();
    let known = validate::validate(before);
    let copy = tempfile::tempdir().map_err(|source| RepoError::Unreadable {
        path: "(temporary copy)".into(),
        source,
    })?;
    copy_tree(root, copy.path()).map_err(|source| RepoError::Unreadable {
        path: "(temporary copy)".into(),
        source,
    })?;
    changes
        .apply(copy.path())
        .map_err(|e| RepoError::Unreadable {
            path: "(temporary copy)".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let after = repo::open(copy.path())?;
    Ok(validate::new_errors(&known, validate::validate(&after)))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
    {
        let entry = entry.map_err(|e| {
            e.into_io_error()
                .unwrap_or_else(|| std::io::Error::other("walk failed"))
        })?;
        let rel = entry.path().strip_prefix(from).expect("below the root");
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target)?;
        } else if entry.file_type().is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            std::os::unix::fs::symlink(link, &target)?;
        }
    }
    Ok(())
}

/// The paths among `paths` that have uncommitted changes (staged, unstaged or untracked) in
/// the Git work tree at `root`; empty when `root` is not in a Git repository.
pub fn dirty_paths(root: &Path, paths: &[&str]) -> Vec<String> {
    if paths.is_empty() {
        return Vec::new();
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--",
        ])
        .args(paths)
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(out) = out else { return Vec::new() };
    if !out.status.success() {
        return Vec::new();
    }
    let prefix = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--show-prefix"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|r| r.len() > 3)
        .map(|r| {
            let p = &r[3..];
            p.strip_prefix(&prefix).unwrap_or(p).to_string()
        })
        .collect()
}
