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
//!
//! How the pieces fit: this file holds the `Git` handle (opening a repository, running a
//! command with its environment, the errors). `read` holds what the commands read (remotes
//! and branches, commits, trees and blobs, history, configuration, a commit's files exported
//! to a folder); `commit` builds the stage's branch from them (the base, the comparison with
//! it, the tree in a temporary index, the commit and the branch); `push` sends the branch and
//! reads what the remote said. `deliver`, `cli::pr` and `cli::exec` use the items re-exported
//! here.

mod commit;
mod push;
mod read;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use commit::{
    Base, BranchOutcome, StageCommit, build_tree, differences_from_base, resolve_base, stage_commit,
};
pub use push::{PushError, PushOutcome};

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
}
