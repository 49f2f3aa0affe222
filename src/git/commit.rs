//! The stage's commit and branch, built without touching the user's checkout.
//!
//! Owns: resolving the base, comparing the planned files with the base's, the tree of the
//! base with the change applied (in a temporary index), the commit (signed when the user's
//! configuration says so) and the branch (created, reused when its tree is the same, or
//! replaced with `force`; refused while a work tree has it checked out). Does not own: what
//! the change is (`change`), pushing (`push`) or the pull request (`github`).

use crate::change::{ChangeSet, FileOp};

use super::{CommitError, Git, GitError};

impl Git {
    /// The work trees where `refs/heads/<branch>` is checked out.
    fn checked_out_in(&self, branch: &str) -> Result<Vec<String>, GitError> {
        let out = self.run(&["worktree", "list", "--porcelain"])?;
        let want = format!("branch refs/heads/{branch}");
        let mut found = Vec::new();
        let mut current = String::new();
        for line in out.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                current = p.to_string();
            } else if line == want {
                found.push(current.clone());
            }
        }
        Ok(found)
    }
}

/// The commit the stage's branch starts from.
#[derive(Debug, Clone)]
pub struct Base {
    /// The branch name, as the pull request's base (`main`).
    pub name: String,
    /// Where the commit was read from: `origin/main`, or `main` without a remote.
    pub display: String,
    pub commit: String,
}

/// Resolves the base: `requested` (a branch name; `refs/heads/` and `<remote>/` prefixes are
/// accepted), else the remote's default branch, else `main`. With a remote the branch is
/// fetched first and the remote's version is used; without one, the local branch.
pub fn resolve_base(
    git: &Git,
    remote: Option<&str>,
    requested: Option<&str>,
) -> Result<Base, CommitError> {
    let name = match requested {
        Some(r) => {
            let mut n = r.strip_prefix("refs/heads/").unwrap_or(r);
            if let Some(remote) = remote {
                let tracking = format!("refs/remotes/{remote}/");
                let short = format!("{remote}/");
                n = n
                    .strip_prefix(tracking.as_str())
                    .or_else(|| n.strip_prefix(short.as_str()))
                    .unwrap_or(n);
            }
            n.to_string()
        }
        None => remote
            .and_then(|r| git.default_branch(r))
            .unwrap_or_else(|| "main".to_string()),
    };
    if name.is_empty() {
        return Err(CommitError::Input("--base: empty branch name".into()));
    }
    match remote {
        Some(remote) => match git.fetch_branch(remote, &name).map_err(|e| {
            CommitError::Refused(format!(
                "cannot read the base `{name}` from `{remote}`: {e}"
            ))
        })? {
            Some(commit) => Ok(Base {
                display: format!("{remote}/{name}"),
                name,
                commit,
            }),
            None => Err(CommitError::Input(format!(
                "the base branch `{name}` does not exist on `{remote}`{}",
                if requested.is_some() {
                    ""
                } else {
                    " (pass --base BRANCH)"
                }
            ))),
        },
        None => match git.resolve_commit(&format!("refs/heads/{name}"))? {
            Some(commit) => Ok(Base {
                display: name.clone(),
                name,
                commit,
            }),
            None => match git.resolve_commit(&name)? {
                Some(commit) => Ok(Base {
                    display: name.clone(),
                    name,
                    commit,
                }),
                None => Err(CommitError::Input(format!(
                    "the base `{name}` does not exist in this repository{}",
                    if requested.is_some() {
                        ""
                    } else {
                        " (pass --base BRANCH)"
                    }
                ))),
            },
        },
    }
}

/// The touched files whose base version is not the one the change was planned against (the
/// work tree's): `path (why)`. The change's contents were computed from the work tree, so
/// they are right for the base only when these agree.
pub fn differences_from_base(
    git: &Git,
    base: &Base,
    prefix: &str,
    changes: &ChangeSet,
) -> Result<Vec<String>, GitError> {
    let mut differ = Vec::new();
    for op in changes.ops() {
        let path = format!("{prefix}{}", op.path());
        let entry = git.entry(&base.commit, &path)?;
        let why = match (op, entry) {
            (FileOp::Create { .. }, Some(_)) => Some(format!("exists on {}", base.display)),
            (FileOp::Create { .. }, None) => None,
            (FileOp::Edit { .. } | FileOp::Delete { .. }, None) => {
                Some(format!("not on {}", base.display))
            }
            (FileOp::Edit { before, .. } | FileOp::Delete { before, .. }, Some((mode, sha))) => {
                // Compared as Git stores them: the work tree's text cleaned by the filters
                // of `.gitattributes` (line endings, LFS…) against the base's blob.
                if !mode.starts_with("100") {
                    Some(format!("not a regular file on {}", base.display))
                } else if git.hash_at(&path, before.as_bytes(), false)? != sha {
                    Some(format!("differs from {}", base.display))
                } else {
                    None
                }
            }
        };
        if let Some(why) = why {
            differ.push(format!("{} ({why})", op.path()));
        }
    }
    Ok(differ)
}

/// The tree of `base` with `changes` applied, built in a temporary index: the user's index
/// and work tree are not touched. Edited files keep their mode (e.g. executable).
pub fn build_tree(
    git: &Git,
    base: &Base,
    prefix: &str,
    changes: &ChangeSet,
) -> Result<String, CommitError> {
    let tmp = tempfile::tempdir().map_err(|e| {
        CommitError::Git(GitError::Spawn {
            command: "read-tree (temporary index)".into(),
            source: e,
        })
    })?;
    let ix = git.with_env("GIT_INDEX_FILE", tmp.path().join("index"));
    ix.run(&["read-tree", &base.commit])?;
    for op in changes.ops() {
        let path = format!("{prefix}{}", op.path());
        match op.after() {
            Some(content) => {
                let mode = match git.entry(&base.commit, &path)? {
                    Some((mode, _)) if mode == "100755" => mode,
                    Some((mode, _)) if !mode.starts_with("100") => {
                        return Err(CommitError::Refused(format!(
                            "{}: is not a regular file on the base (mode {mode}); the stage cannot change it",
                            op.path()
                        )));
                    }
                    _ => "100644".to_string(),
                };
                let sha = git.hash_at(&path, content.as_bytes(), true)?;
                let info = format!("{mode},{sha},{path}");
                ix.run(&["update-index", "--add", "--cacheinfo", &info])?;
            }
            None => {
                ix.run(&["update-index", "--force-remove", "--", &path])?;
            }
        }
    }
    Ok(ix.run(&["write-tree"])?)
}

/// What happened to the stage's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchOutcome {
    /// The branch did not exist; it was made with a new commit.
    Created,
    /// The branch (local or on the remote) already held exactly this change: no new commit.
    Reused,
    /// The branch held other content and `force` replaced it.
    Replaced,
}

/// The stage's branch, ready to push.
#[derive(Debug, Clone)]
pub struct StageCommit {
    pub branch: String,
    pub commit: String,
    pub outcome: BranchOutcome,
    /// The commit the branch had on the remote, for `--force-with-lease` when replacing.
    pub remote_commit: Option<String>,
}

/// Makes `refs/heads/<branch>` point to a commit holding `tree` on top of `base`: reuses an
/// existing branch (local or on `remote`) whose tree is the same, refuses one with other
/// content unless `force` (then replaces it), else commits anew.
pub fn stage_commit(
    git: &Git,
    remote: Option<&str>,
    base: &Base,
    tree: &str,
    branch: &str,
    message: &str,
    force: bool,
) -> Result<StageCommit, CommitError> {
    let local_ref = format!("refs/heads/{branch}");
    let check = git.run_raw(&["check-ref-format", &local_ref], None)?;
    if !check.ok {
        return Err(CommitError::Input(format!(
            "`{branch}` is not a valid branch name"
        )));
    }
    let local = git.resolve_commit(&local_ref)?;
    let remote_commit = match remote {
        Some(r) => git.fetch_branch(r, branch)?,
        None => None,
    };
    let mut differ = Vec::new();
    if let Some(c) = &local
        && git.tree_of(c)? != tree
    {
        differ.push("locally".to_string());
    }
    if let (Some(c), Some(r)) = (&remote_commit, remote)
        && git.tree_of(c)? != tree
    {
        differ.push(format!("on `{r}`"));
    }
    let (commit, outcome) = if local.is_none() && remote_commit.is_none() {
        (
            new_commit(git, base, tree, message)?,
            BranchOutcome::Created,
        )
    } else if differ.is_empty() {
        let commit = remote_commit
            .clone()
            .or_else(|| local.clone())
            .expect("one exists");
        (commit, BranchOutcome::Reused)
    } else if !force {
        return Err(CommitError::Refused(format!(
            "the branch `{branch}` already exists {} with different content (edited by hand, or made from an older `{}`); pass --force to replace it, or --branch NAME to use another branch",
            differ.join(" and "),
            base.name
        )));
    } else {
        (
            new_commit(git, base, tree, message)?,
            BranchOutcome::Replaced,
        )
    };
    if local.as_deref() != Some(commit.as_str()) {
        if local.is_some() {
            let places = git.checked_out_in(branch)?;
            if !places.is_empty() {
                return Err(CommitError::Refused(format!(
                    "the branch `{branch}` is checked out in {}; switch to another branch there first",
                    places.join(", ")
                )));
            }
        }
        let old = local.clone().unwrap_or_default();
        git.run(&[
            "update-ref",
            "-m",
            "gitops-migrate pr",
            &local_ref,
            &commit,
            &old,
        ])?;
    }
    Ok(StageCommit {
        branch: branch.to_string(),
        commit,
        outcome,
        remote_commit,
    })
}

/// The commit of `tree` on `base`, signed when `commit.gpgSign` is set: `commit-tree -S`, with
/// the key (`user.signingKey`) and the format (`gpg.format`: openpgp, ssh, x509) left to Git.
fn new_commit(git: &Git, base: &Base, tree: &str, message: &str) -> Result<String, CommitError> {
    let sign = git.signs_commits()?;
    let mut args = vec!["commit-tree", tree, "-p", &base.commit, "-F", "-"];
    if sign {
        args.push("-S");
    }
    git.run_input(&args, Some(message.as_bytes()))
        .map_err(|e| match e {
            GitError::Failed { stderr, .. } if sign => CommitError::Refused(format!(
                "`commit.gpgSign` is set, and Git could not sign the commit: {stderr} (check `user.signingKey` and `gpg.format`, or that your key's agent is running)"
            )),
            e => e.into(),
        })
}
