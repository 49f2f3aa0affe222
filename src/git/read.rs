//! What the `git` command reads from a repository, and a commit's files copied out.
//!
//! Owns: remotes and their branches (URL, default branch, fetching one), resolving commits,
//! trees and their entries, hashing blobs (with the path's `.gitattributes`), whether
//! commits are signed, the commits that touched a path, and a commit's files checked out or
//! exported to a folder. Does not own: running `git` (`mod.rs`) or making commits and
//! branches (`commit`).

use std::path::Path;

use super::{Git, GitError};

impl Git {
    /// The URL of `remote`, or `None` when no such remote is configured.
    pub fn remote_url(&self, remote: &str) -> Result<Option<String>, GitError> {
        let remotes = self.run(&["remote"])?;
        if !remotes.lines().any(|r| r == remote) {
            return Ok(None);
        }
        self.run(&["remote", "get-url", remote]).map(Some)
    }

    /// The remote's default branch: `refs/remotes/<remote>/HEAD` if set, else asked of the
    /// remote (`git ls-remote --symref <remote> HEAD`); `None` when neither tells.
    pub fn default_branch(&self, remote: &str) -> Option<String> {
        let local = format!("refs/remotes/{remote}/HEAD");
        if let Ok(target) = self.run(&["symbolic-ref", "--quiet", &local]) {
            let prefix = format!("refs/remotes/{remote}/");
            if let Some(b) = target.strip_prefix(&prefix) {
                return Some(b.to_string());
            }
        }
        let out = self.run(&["ls-remote", "--symref", remote, "HEAD"]).ok()?;
        out.lines().find_map(|l| {
            let rest = l.strip_prefix("ref: ")?;
            let (target, name) = rest.split_once('\t')?;
            (name == "HEAD")
                .then(|| target.strip_prefix("refs/heads/"))
                .flatten()
                .map(str::to_string)
        })
    }

    /// The commit `rev` names, or `None`.
    pub fn resolve_commit(&self, rev: &str) -> Result<Option<String>, GitError> {
        let spec = format!("{rev}^{{commit}}");
        let ran = self.run_raw(&["rev-parse", "--verify", "--quiet", &spec], None)?;
        Ok(ran
            .ok
            .then(|| String::from_utf8_lossy(&ran.stdout).trim().to_string()))
    }

    /// Writes the files of `commit` under `dir` (through a temporary index: the repository's
    /// own index, `HEAD` and work tree are not touched).
    pub fn checkout_to(&self, commit: &str, dir: &Path) -> Result<(), GitError> {
        let ix = self.with_env("GIT_INDEX_FILE", dir.join(".gitops-migrate-index"));
        ix.run(&["read-tree", commit])?;
        let mut prefix = dir
            .join("tree")
            .into_os_string()
            .into_string()
            .map_err(|_| GitError::Failed {
                command: "checkout-index".into(),
                stderr: "the temporary directory's path is not UTF-8".into(),
            })?;
        prefix.push('/');
        ix.run(&["checkout-index", "-a", "-f", &format!("--prefix={prefix}")])?;
        Ok(())
    }

    /// The tree of a commit.
    pub fn tree_of(&self, commit: &str) -> Result<String, GitError> {
        self.run(&["rev-parse", &format!("{commit}^{{tree}}")])
    }

    /// Fetches `refs/heads/<branch>` of `remote` into `refs/remotes/<remote>/<branch>`; the
    /// commit, or `None` when the remote has no such branch.
    pub fn fetch_branch(&self, remote: &str, branch: &str) -> Result<Option<String>, GitError> {
        if self.remote_branch(remote, branch)?.is_none() {
            return Ok(None);
        }
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let refspec = format!("+refs/heads/{branch}:{tracking}");
        self.run(&["fetch", "--quiet", "--no-tags", remote, &refspec])?;
        self.resolve_commit(&tracking)
    }

    /// The commit `refs/heads/<branch>` points to on `remote` (`git ls-remote`), or `None`.
    pub fn remote_branch(&self, remote: &str, branch: &str) -> Result<Option<String>, GitError> {
        let name = format!("refs/heads/{branch}");
        let out = self.run(&["ls-remote", remote, &name])?;
        Ok(out.lines().find_map(|l| {
            let (sha, r) = l.split_once('\t')?;
            (r == name).then(|| sha.to_string())
        }))
    }

    /// The mode and object of `path` in `commit`'s tree, or `None` when it has no such entry.
    /// `-z` and a literal pathspec, so that names with non-ASCII characters (which Git quotes
    /// otherwise), spaces or glob characters are matched exactly.
    pub fn entry(&self, commit: &str, path: &str) -> Result<Option<(String, String)>, GitError> {
        let ran = self.run_raw(
            &[
                "--literal-pathspecs",
                "ls-tree",
                "-z",
                "--full-tree",
                commit,
                "--",
                path,
            ],
            None,
        )?;
        if !ran.ok {
            return Err(GitError::Failed {
                command: format!("ls-tree -z --full-tree {commit} -- {path}"),
                stderr: ran.stderr,
            });
        }
        Ok(ran.stdout.split(|&b| b == 0).find_map(|record| {
            let tab = record.iter().position(|&b| b == b'\t')?;
            if &record[tab + 1..] != path.as_bytes() {
                return None;
            }
            let meta = std::str::from_utf8(&record[..tab]).ok()?;
            let mut parts = meta.split(' ');
            let mode = parts.next()?.to_string();
            let _kind = parts.next()?;
            let sha = parts.next()?.to_string();
            Some((mode, sha))
        }))
    }

    /// The object id `content` gets when committed at `path`: with the `.gitattributes`
    /// filters and line-ending conversion that apply there, as `git add` would store it. With
    /// `write`, the blob is written to the object database.
    pub fn hash_at(&self, path: &str, content: &[u8], write: bool) -> Result<String, GitError> {
        let mut args = vec!["hash-object"];
        if write {
            args.push("-w");
        }
        args.extend(["--stdin", "--path", path]);
        self.run_input(&args, Some(content))
    }

    /// Whether `commit.gpgSign` is true for this repository (its own, global or system
    /// configuration), so that commits made with `commit-tree` (which ignores the setting)
    /// must be signed with `-S`.
    pub fn signs_commits(&self) -> Result<bool, GitError> {
        let ran = self.run_raw(&["config", "--type=bool", "--get", "commit.gpgSign"], None)?;
        // Exit 1: not set. Any other failure (a value that is not a boolean) is reported.
        match (ran.ok, String::from_utf8_lossy(&ran.stdout).trim()) {
            (true, v) => Ok(v == "true"),
            (false, _) if ran.stderr.is_empty() => Ok(false),
            (false, _) => Err(GitError::Failed {
                command: "config --type=bool --get commit.gpgSign".into(),
                stderr: ran.stderr,
            }),
        }
    }

    /// The commits that changed `path` (relative to the top level), newest first, at most
    /// `limit`.
    pub fn commits_touching(&self, path: &str, limit: usize) -> Result<Vec<String>, GitError> {
        let out = self.run(&[
            "log",
            &format!("--max-count={limit}"),
            "--format=%H",
            "--",
            path,
        ])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Writes the YAML files (`*.yaml`, `*.yml`) under `prefix` of `commit` into `dest`
    /// (created), as they are in the commit, through a temporary index: the user's index and
    /// work tree are not touched. `dest/<prefix>` is then the repository as of `commit`, for
    /// the repository model to read.
    pub fn export_yaml(&self, commit: &str, prefix: &str, dest: &Path) -> Result<(), GitError> {
        let listing = self.run_raw(
            &["ls-tree", "-r", "-z", "--full-tree", "--name-only", commit],
            None,
        )?;
        if !listing.ok {
            return Err(GitError::Failed {
                command: format!("ls-tree -r {commit}"),
                stderr: listing.stderr,
            });
        }
        let mut paths = Vec::new();
        for p in listing.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
            let text = String::from_utf8_lossy(p);
            if text.starts_with(prefix) && (text.ends_with(".yaml") || text.ends_with(".yml")) {
                paths.extend_from_slice(p);
                paths.push(0);
            }
        }
        std::fs::create_dir_all(dest).map_err(|e| GitError::Spawn {
            command: "checkout-index (creating the folder)".into(),
            source: e,
        })?;
        let tmp = tempfile::tempdir().map_err(|e| GitError::Spawn {
            command: "read-tree (temporary index)".into(),
            source: e,
        })?;
        let ix = self.with_env("GIT_INDEX_FILE", tmp.path().join("index"));
        ix.run(&["read-tree", commit])?;
        let mut to = dest.display().to_string();
        if !to.ends_with('/') {
            to.push('/');
        }
        ix.run_input(
            &["checkout-index", "-z", "--stdin", &format!("--prefix={to}")],
            Some(&paths),
        )?;
        Ok(())
    }
}
