//! The first proof of a real `exec` run: the stage's change is merged. The remote is fetched
//! (`--remote`, default `origin`) and its branch (`--base`, default the remote's default
//! branch) read into a temporary folder, where the playbook judges the stage's state and
//! builds the window's runbook: the window acts on what is merged, whatever the checkout
//! shows, and its Argo CD syncs are pinned to that commit.
//!
//! Owns: reading the merged repository and the texts that say what was proved. Does not own:
//! judging the stage (each playbook's `prepare`), Git itself (`git`).

use std::path::{Path, PathBuf};

use super::RunOptions as ExecArgs;
use crate::cli::{Exit, Output};
use crate::git::{self, Git};
use crate::runtime::steps::Revision;

/// The repository as merged on the remote.
pub struct Merged {
    /// `origin/main` and its commit.
    pub revision: Revision,
    /// The repository's root as of that commit (inside `_tree`).
    pub root: PathBuf,
    _tree: tempfile::TempDir,
}

impl Merged {
    /// `origin/main at 9e8d7c6`.
    pub fn describe(&self) -> String {
        format!(
            "{} at {}",
            self.revision.source,
            crate::util::text::short_commit(&self.revision.commit)
        )
    }
}

/// Fetches the remote's branch and exports the repository at its commit. `Err` says why the
/// merge cannot be proved (no Git repository, no remote, no such branch, no network).
pub fn fetch(root: &Path, args: &ExecArgs) -> Result<Merged, String> {
    let (repo, prefix) = Git::open(root).map_err(|e| match e {
        git::CommitError::Input(_) => format!(
            "{} is not in a Git checkout, so the merge of the stage cannot be read from its remote",
            root.display()
        ),
        other => other.to_string(),
    })?;
    let remote = args.remote.as_str();
    if repo
        .remote_url(remote)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(format!(
            "the checkout has no remote `{remote}` to read the merged stage from (name another with --remote NAME)"
        ));
    }
    let base = git::resolve_base(&repo, Some(remote), args.base.as_deref())
        .map_err(|e| format!("cannot read the merged repository: {e}"))?;
    let tree = tempfile::tempdir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
    repo.export_yaml(&base.commit, &prefix, tree.path())
        .map_err(|e| format!("cannot read {} ({}): {e}", base.display, base.commit))?;
    Ok(Merged {
        root: tree.path().join(prefix.trim_end_matches('/')),
        revision: Revision {
            commit: base.commit,
            source: base.display,
        },
        _tree: tree,
    })
}

/// The proof, for a playbook: the merged repository fetched, loaded (`load`) and judged
/// (`missing`: what the stage needs that is not there, given where it was read). Proved: the
/// merged model (with its folder, kept while it is used) and the note that says so
/// (`proved`, given where it was read). Not proved: with `--allow-unmerged`, no model and the
/// note that says so; else the refusal is printed and the run exits 1, before any call.
pub fn prove<M>(
    root: &Path,
    args: &ExecArgs,
    out: &mut Output,
    load: impl FnOnce(&Path) -> Result<M, String>,
    missing: impl FnOnce(&M, &str) -> Option<String>,
    proved: impl FnOnce(&str) -> String,
) -> Result<(Option<(M, Merged)>, String), Exit> {
    let unproved = |why: String, out: &mut Output| {
        unproved(args, &why).map_err(|message| {
            out.error(&message);
            Exit::Refused
        })
    };
    let m = match fetch(root, args) {
        Ok(m) => m,
        Err(why) => return Ok((None, unproved(why, out)?)),
    };
    let model = match load(&m.root) {
        Ok(model) => model,
        Err(e) => {
            let why = format!("{} cannot be read: {e}", m.describe());
            return Ok((None, unproved(why, out)?));
        }
    };
    match missing(&model, &m.describe()) {
        Some(why) => Ok((None, unproved(why, out)?)),
        None => {
            let note = proved(&m.describe());
            Ok((Some((model, m)), note))
        }
    }
}

/// What a run records when the stage is not proved merged: refused (exit 1, nothing called)
/// unless `--allow-unmerged`, which lets a rehearsal run and says so in the journal and the
/// report.
fn unproved(args: &ExecArgs, why: &str) -> Result<String, String> {
    if args.allow_unmerged {
        Ok(format!(
            "--allow-unmerged: {why}; the window runs the checkout's runbook and its Argo CD syncs are not pinned (a rehearsal)"
        ))
    } else {
        Err(format!(
            "{why}; merge its pull request first (for a rehearsal on a test cluster, --allow-unmerged runs anyway, and says so in the journal and the report)"
        ))
    }
}
