//! Git for `pr` (the stage's commit on its own branch, and the push) and for `exec` (the
//! repository as merged on the remote, read into a temporary folder).
//!
//! Everything goes through the real `git` command line, never a library: the user's own Git
//! then does the work, with their credential helpers, SSH configuration, hooks and signing
//! setup, and a push the server rejects is reported as rejected (`git push --porcelain`, `!`
//! lines). git2 was left out on purpose: it would compile a vendored libgit2 (C, minutes of
//! build time) for a second Git implementation that behaves differently from the user's. Every
//! command runs with `GIT_TERMINAL_PROMPT=0` (no password prompt can hang a run) and a failure
//! carries the command and Git's stderr, with credentials in URLs redacted.
//!
//! The commit is built without touching the user's checkout: the base's tree is read into a
//! temporary index (`GIT_INDEX_FILE` in a temporary directory), the changed files are written
//! as blobs and entered into that index, and `write-tree` / `commit-tree` / `update-ref` make
//! the branch. The user's `HEAD`, index and work tree are never read from or written to.
//!
//! These plumbing commands skip some of what `git add` and `git commit` do for the user, so it
//! is done here: blobs are hashed with `--path`, so the `.gitattributes` of the path apply
//! (line-ending conversion, clean filters such as LFS); `commit-tree` ignores `commit.gpgSign`,
//! so `-S` is passed when it is set (the key and `gpg.format` stay Git's business); tree
//! entries are read with `ls-tree -z` and literal pathspecs, so non-ASCII names (which Git
//! quotes otherwise) and names with glob characters are found.
//!
//! Owns: running `git`, the base, the comparison of the planned files with the base's, the
//! branch (create, reuse, replace) and the push. Does not own: what the change is (`change`,
//! `playbook`) or the pull request (`github`).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::change::{ChangeSet, FileOp};

/// A `git` command that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run `git {command}`: {source} (is Git installed?)")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`git {command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
}

/// What can stop the stage's commit from being made.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Git(#[from] GitError),
    /// Not a Git repository, or no such base: the user's input.
    #[error("{0}")]
    Input(String),
    /// A refused precondition (files differ from the base, the branch exists with other
    /// content, the branch is checked out).
    #[error("{0}")]
    Refused(String),
}

impl CommitError {
    /// Whether the error is the user's input (exit 2) rather than a refusal or failure (1).
    pub fn is_input_error(&self) -> bool {
        matches!(self, CommitError::Input(_))
    }
}

/// A push that did not go through.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Git(#[from] GitError),
    /// The remote refused the ref (`!` in `git push --porcelain`).
    #[error("{}", rejected_message(remote, refs, messages))]
    Rejected {
        remote: String,
        /// `(ref, reason)` per rejected ref.
        refs: Vec<(String, String)>,
        /// What the remote said (`remote: …` lines), e.g. a hook's output.
        messages: Vec<String>,
    },
}

fn rejected_message(remote: &str, refs: &[(String, String)], messages: &[String]) -> String {
    let mut s = format!("the push to `{remote}` was rejected:");
    for (r, reason) in refs {
        s.push_str(&format!(" {r}: {reason};"));
    }
    s.pop();
    if !messages.is_empty() {
        s.push_str(&format!(" (the remote said: {})", messages.join(" / ")));
    }
    s
}

/// A Git repository, driven through the `git` command line from its top level.
#[derive(Debug, Clone)]
pub struct Git {
    top: PathBuf,
    env: Vec<(OsString, OsString)>,
}

/// The result of one `git` run.
struct Ran {
    ok: bool,
    stdout: Vec<u8>,
    stderr: String,
}

impl Git {
    /// The repository that holds `dir`, and `dir`'s path inside it (`""` at the top level,
    /// else ending in `/`). Not a Git repository → `CommitError::Input`.
    pub fn open(dir: &Path) -> Result<(Git, String), CommitError> {
        let probe = Git {
            top: dir.to_path_buf(),
            env: Vec::new(),
        };
        let ran = probe.run_raw(&["rev-parse", "--show-toplevel", "--show-prefix"], None)?;
        if !ran.ok {
            return Err(CommitError::Input(format!(
                "{} is not in a Git repository (`pr` commits and pushes the stage's change): {}",
                dir.display(),
                ran.stderr.trim()
            )));
        }
        let text = String::from_utf8_lossy(&ran.stdout).to_string();
        let mut lines = text.lines();
        let top = lines.next().unwrap_or_default().to_string();
        let prefix = lines.next().unwrap_or_default().to_string();
        if top.is_empty() {
            return Err(CommitError::Input(format!(
                "{} is inside a bare Git repository or its .git directory; run `pr` in a checkout",
                dir.display()
            )));
        }
        Ok((
            Git {
                top: PathBuf::from(top),
                env: Vec::new(),
            },
            prefix,
        ))
    }

    /// The repository's top level.
    pub fn top(&self) -> &Path {
        &self.top
    }

    /// The same repository with an extra environment variable for every command.
    fn with_env(&self, key: &str, value: impl Into<OsString>) -> Git {
        let mut g = self.clone();
        g.env.push((key.into(), value.into()));
        g
    }

    fn run_raw(&self, args: &[&str], input: Option<&[u8]>) -> Result<Ran, GitError> {
        let command = args.join(" ");
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(&self.top)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let spawn = |source| GitError::Spawn {
            command: command.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn)?;
        if let Some(data) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            // A write error (git exited early) shows up in the exit status and stderr.
            let _ = stdin.write_all(data);
        }
        let out = child.wait_with_output().map_err(spawn)?;
        Ok(Ran {
            ok: out.status.success(),
            stdout: out.stdout,
            stderr: crate::util::redact::urls(String::from_utf8_lossy(&out.stderr).trim()),
        })
    }

    /// Runs `git args…`; its stdout, trimmed; a non-zero exit is an error.
    fn run(&self, args: &[&str]) -> Result<String, GitError> {
        self.run_input(args, None)
    }

    fn run_input(&self, args: &[&str], input: Option<&[u8]>) -> Result<String, GitError> {
        let ran = self.run_raw(args, input)?;
        if ran.ok {
            Ok(String::from_utf8_lossy(&ran.stdout).trim().to_string())
        } else {
            Err(GitError::Failed {
                command: crate::util::redact::urls(&args.join(" ")),
                stderr: if ran.stderr.is_empty() {
                    "(no message)".into()
                } else {
                    ran.stderr
                },
            })
        }
    }

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

    /// Pushes `refs/heads/<branch>` to the same name on `remote`. With `lease`, the remote
    /// branch is replaced only if it still points to that commit (`--force-with-lease`).
    pub fn push(
        &self,
        remote: &str,
        branch: &str,
        lease: Option<&str>,
    ) -> Result<PushOutcome, PushError> {
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let lease_arg = lease.map(|sha| format!("--force-with-lease=refs/heads/{branch}:{sha}"));
        let mut args = vec!["push", "--porcelain"];
        if let Some(l) = &lease_arg {
            args.push(l);
        }
        args.extend([remote, refspec.as_str()]);
        let ran = self.run_raw(&args, None)?;
        let stdout = String::from_utf8_lossy(&ran.stdout).to_string();
        let lines = porcelain_lines(&stdout);
        let rejected: Vec<(String, String)> = lines
            .iter()
            .filter(|l| l.flag == '!')
            .map(|l| (l.to.clone(), l.summary.clone()))
            .collect();
        if !rejected.is_empty() {
            let messages = ran
                .stderr
                .lines()
                .filter_map(|l| l.strip_prefix("remote:"))
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            return Err(PushError::Rejected {
                remote: remote.to_string(),
                refs: rejected,
                messages,
            });
        }
        if !ran.ok {
            return Err(GitError::Failed {
                command: crate::util::redact::urls(&args.join(" ")),
                stderr: if ran.stderr.is_empty() {
                    "(no message)".into()
                } else {
                    ran.stderr
                },
            }
            .into());
        }
        let line = lines
            .into_iter()
            .find(|l| l.to == format!("refs/heads/{branch}"));
        Ok(match line.map(|l| l.flag) {
            Some('=') => PushOutcome::UpToDate,
            Some('*') => PushOutcome::Created,
            Some('+') => PushOutcome::Replaced,
            _ => PushOutcome::Updated,
        })
    }
}

/// What a push did to the remote branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Created,
    Updated,
    Replaced,
    UpToDate,
}

impl PushOutcome {
    pub fn describe(self) -> &'static str {
        match self {
            PushOutcome::Created => "new branch",
            PushOutcome::Updated => "updated",
            PushOutcome::Replaced => "replaced",
            PushOutcome::UpToDate => "already up to date",
        }
    }
}

struct PorcelainLine {
    flag: char,
    to: String,
    summary: String,
}

/// The ref lines of `git push --porcelain`: `<flag>\t<from>:<to>\t<summary>`.
fn porcelain_lines(stdout: &str) -> Vec<PorcelainLine> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut chars = l.chars();
            let flag = chars.next()?;
            if !" +-*!=".contains(flag) || chars.next()? != '\t' {
                return None;
            }
            let mut fields = l[2..].splitn(2, '\t');
            let refs = fields.next()?;
            let summary = fields.next().unwrap_or("").trim().to_string();
            let to = refs.rsplit_once(':').map_or(refs, |(_, to)| to).to_string();
            Some(PorcelainLine { flag, to, summary })
        })
        .collect()
}

impl Git {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_porcelain_push_lines() {
        let out = "To file:///tmp/r.git\n!\trefs/heads/b:refs/heads/b\t[remote rejected] (pre-receive hook declined)\nDone\n";
        let lines = porcelain_lines(out);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].flag, '!');
        assert_eq!(lines[0].to, "refs/heads/b");
        assert_eq!(
            lines[0].summary,
            "[remote rejected] (pre-receive hook declined)"
        );
        let ok = porcelain_lines("To x\n*\trefs/heads/b:refs/heads/b\t[new branch]\nDone\n");
        assert_eq!(ok[0].flag, '*');
    }
}
