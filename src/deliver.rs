//! The delivery of a stage's change as a pull request: the arguments checked before anything
//! is made, the base resolved, the planned files compared with it, the change committed on its
//! own branch (without touching the user's checkout), pushed with the `git` command line, and
//! the pull request opened or updated on GitHub. Two calls, so that the caller can show the
//! change between them: `prepare` (everything that reads) and `publish` (everything that
//! writes). Each returns a typed outcome or a `Failure` for the caller to print.
//!
//! Owns: the order of the delivery and what each failure means (input or refusal, and what is
//! left where). Does not own: Git (`git`), the GitHub calls (`github`), the plan and its texts
//! (`playbook`), or printing (`cli::pr`). Every text it returns has the token and any
//! credentials in URLs removed.

use crate::git::{self, Base, BranchOutcome, CommitError, Git, PushOutcome};
use crate::github::{self, GitHub, PullRequest, RepoId};
use crate::playbook::check::new_errors;
use crate::playbook::{StagePlan, report};
use crate::repo::Repo;
use crate::util::text::{plural, short_commit};
use crate::validate::Finding;

/// Where the change goes, as the command line asked.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// The branch to build on and open the pull request against (default: the remote's
    /// default branch, else `main`).
    pub base: Option<&'a str>,
    /// The branch to commit to (default: the plan's `branch_name`).
    pub branch: Option<&'a str>,
    pub remote: &'a str,
    /// Push the branch (else only the local branch is made).
    pub push: bool,
    /// Open or update the pull request (with `push`).
    pub open_pr: bool,
    pub draft: bool,
    pub labels: &'a [String],
    /// `OWNER/REPO` (default: from the remote's URL).
    pub github_repo: Option<&'a str>,
    /// The GitHub API (default: from the remote's host).
    pub github_api: Option<&'a str>,
    /// Commit although the planned files differ from the base's, and replace a branch that
    /// holds other content.
    pub force: bool,
}

/// Why the delivery stopped, for the caller to print: the message, a note on what is left
/// where, the new errors the result would have (printed with their lines), and whether it is
/// an input error (exit 2) or a refusal (exit 1).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub note: Option<String>,
    pub findings: Vec<Finding>,
    pub input: bool,
}

impl Failure {
    fn input(message: String) -> Failure {
        Failure {
            message,
            note: None,
            findings: Vec::new(),
            input: true,
        }
    }

    fn refused(message: String) -> Failure {
        Failure {
            input: false,
            ..Failure::input(message)
        }
    }

    fn commit(e: &CommitError) -> Failure {
        Failure {
            input: e.is_input_error(),
            ..Failure::input(e.to_string())
        }
    }
}

/// What `prepare` found.
pub enum Prepared {
    /// The base already holds exactly this change: nothing to make.
    OnBase { base: String },
    /// Ready to commit.
    Ready(Box<Ready>),
}

/// A change ready to be committed, pushed and proposed.
pub struct Ready {
    git: Git,
    base: Base,
    tree: String,
    /// The remote, when it exists.
    remote: Option<String>,
    client: Option<GitHub>,
    redactor: Redactor,
    /// Said before the change is committed (`--force` over files that differ from the base's).
    pub warnings: Vec<String>,
}

impl Ready {
    /// `text` without the token or credentials in URLs.
    pub fn clean(&self, text: &str) -> String {
        self.redactor.clean(text)
    }
}

/// How far `publish` went.
#[derive(Debug, Clone)]
pub struct Published {
    pub branch: String,
    pub outcome: BranchOutcome,
    pub commit: String,
    /// `origin/main` and its commit.
    pub base: String,
    pub base_commit: String,
    /// The remote and what the push did; `None`: not pushed (`push` false).
    pub pushed: Option<(String, PushOutcome)>,
    /// The pull request, and whether it was created (else updated); `None`: none asked.
    pub pull_request: Option<(PullRequest, bool)>,
}

/// A `publish` that failed: how far it went (the branch committed, pushed…) and why it stopped.
#[derive(Debug)]
pub struct Stopped {
    pub done: Option<Published>,
    pub failure: Failure,
}

impl Stopped {
    fn at(done: Option<Published>, failure: Failure) -> Box<Stopped> {
        Box::new(Stopped { done, failure })
    }
}

/// Removes the token and URL credentials from the texts the delivery returns.
struct Redactor {
    token: Option<String>,
}

impl Redactor {
    fn clean(&self, text: &str) -> String {
        let text = crate::util::redact::urls(text);
        crate::util::redact::Redactor::new(self.token.as_deref()).redact(&text)
    }

    fn failure(&self, mut f: Failure) -> Failure {
        f.message = self.clean(&f.message);
        f.note = f.note.map(|n| self.clean(&n));
        f
    }
}

/// Checks the arguments (nothing is made when one is wrong), finds the GitHub repository and
/// token, checks that the result validates, resolves the base and builds the commit's tree.
pub fn prepare(repo: &Repo, plan: &StagePlan, req: &Request<'_>) -> Result<Prepared, Failure> {
    let mut redactor = Redactor { token: None };
    let want_pr = req.push && req.open_pr;
    let github_repo = match req.github_repo {
        Some(s) => Some(RepoId::parse(s).ok_or_else(|| {
            redactor.failure(Failure::input(format!(
                "--github-repo `{s}`: expected OWNER/REPO, e.g. lsst-sqre/phalanx"
            )))
        })?),
        None => None,
    };
    if let Some(api) = req.github_api
        && !(api.starts_with("https://") || api.starts_with("http://"))
    {
        return Err(redactor.failure(Failure::input(format!(
            "--github-api `{api}`: expected an http(s) URL, e.g. https://github.example.org/api/v3"
        ))));
    }
    let root = repo.files().root().to_path_buf();
    let (git, prefix) = Git::open(&root).map_err(|e| redactor.failure(Failure::commit(&e)))?;
    let remote_url = git
        .remote_url(req.remote)
        .map_err(|e| redactor.failure(Failure::refused(e.to_string())))?;
    if remote_url.is_none() && req.push {
        return Err(redactor.failure(Failure::input(format!(
            "no remote `{}` in {}: add it (`git remote add {} URL`), name another with --remote NAME, or pass --no-push to make only the local branch",
            req.remote,
            git.top().display(),
            req.remote
        ))));
    }
    let remote = remote_url.as_ref().map(|_| req.remote.to_string());

    let client = if want_pr {
        let from_url = remote_url.as_deref().and_then(RepoId::from_remote_url);
        let (host, gh_repo) = match (github_repo, from_url) {
            (Some(r), parsed) => (parsed.map(|(h, _)| h), r),
            (None, Some((h, r))) => (Some(h), r),
            (None, None) => {
                return Err(redactor.failure(Failure::input(format!(
                    "cannot tell the GitHub repository from the URL of `{}` ({}); pass --github-repo OWNER/REPO",
                    req.remote,
                    remote_url.as_deref().unwrap_or("")
                ))));
            }
        };
        let api = req.github_api.map(str::to_string).unwrap_or_else(|| {
            host.as_deref()
                .map(github::api_for_host)
                .unwrap_or_else(|| github::DEFAULT_API.to_string())
        });
        let Some((token, _)) = github::find_token(host.as_deref()) else {
            return Err(redactor.failure(Failure::input(format!(
                "no GitHub token to open the pull request in {gh_repo}: set GITHUB_TOKEN, or log in with the GitHub CLI (`gh auth login`; the token is then read with `gh auth token`). Or pass --no-pr to push the branch only"
            ))));
        };
        redactor.token = Some(token.clone());
        Some(GitHub::new(&api, token, gh_repo))
    } else {
        None
    };

    // The stage must leave the repository valid, as for `apply`.
    match new_errors(repo, &plan.changes) {
        Ok(errors) if !errors.is_empty() => {
            return Err(redactor.failure(Failure {
                findings: errors.clone(),
                ..Failure::refused(format!(
                    "the result would not validate ({}); no branch was made:",
                    plural(errors.len(), "new error", "new errors")
                ))
            }));
        }
        Ok(_) => {}
        Err(e) => {
            return Err(redactor.failure(Failure::refused(format!(
                "cannot check the result: {e}; no branch was made"
            ))));
        }
    }

    // The base, and the planned files against it.
    let base = git::resolve_base(&git, remote.as_deref(), req.base)
        .map_err(|e| redactor.failure(Failure::commit(&e)))?;
    let mut warnings = Vec::new();
    match git::differences_from_base(&git, &base, &prefix, &plan.changes) {
        Ok(d) if d.is_empty() => {}
        Ok(d) if req.force => warnings.push(redactor.clean(&format!(
            "--force: the stage was planned from your work tree, whose version of these files is not {}'s: {}; the branch gets the planned content anyway",
            base.display,
            d.join(", ")
        ))),
        Ok(d) => {
            return Err(redactor.failure(Failure::refused(format!(
                "the stage was planned from your work tree, but these files are not as on {}: {}. Update your checkout to {} first (e.g. `git switch {} && git pull`), or pass --force to commit the planned content on top of {} anyway",
                base.display,
                d.join(", "),
                base.display,
                base.name,
                base.display
            ))));
        }
        Err(e) => return Err(redactor.failure(Failure::refused(e.to_string()))),
    }
    let tree = git::build_tree(&git, &base, &prefix, &plan.changes)
        .map_err(|e| redactor.failure(Failure::commit(&e)))?;
    if git.tree_of(&base.commit).ok().as_deref() == Some(tree.as_str()) {
        return Ok(Prepared::OnBase {
            base: redactor.clean(&base.display),
        });
    }
    Ok(Prepared::Ready(Box::new(Ready {
        git,
        base,
        tree,
        remote,
        client,
        redactor,
        warnings,
    })))
}

/// Commits the change on its branch, pushes it and opens (or updates) the pull request, as
/// far as the request asks. A failure after the commit comes with how far it went.
pub fn publish(
    ready: Ready,
    plan: &StagePlan,
    req: &Request<'_>,
) -> Result<Published, Box<Stopped>> {
    let Ready {
        git,
        base,
        tree,
        remote,
        client,
        redactor,
        warnings: _,
    } = ready;
    let branch = req
        .branch
        .map(str::to_string)
        .unwrap_or_else(|| plan.branch_name());
    let message = report::commit_message(plan);
    let sc = git::stage_commit(
        &git,
        remote.as_deref(),
        &base,
        &tree,
        &branch,
        &message,
        req.force,
    )
    .map_err(|e| Stopped::at(None, redactor.failure(Failure::commit(&e))))?;
    let lease = match sc.outcome {
        BranchOutcome::Replaced => sc.remote_commit.clone(),
        _ => None,
    };
    let mut done = Published {
        branch: branch.clone(),
        outcome: sc.outcome,
        commit: sc.commit.clone(),
        base: redactor.clean(&base.display),
        base_commit: base.commit.clone(),
        pushed: None,
        pull_request: None,
    };
    let Some(remote) = remote.filter(|_| req.push) else {
        return Ok(done);
    };
    match git.push(&remote, &branch, lease.as_deref()) {
        Ok(outcome) => done.pushed = Some((remote.clone(), outcome)),
        Err(e) => {
            let failure = Failure {
                note: Some(format!(
                    "the local branch `{branch}` stays at {}; your checkout was not touched. Fix the cause and re-run, or push it yourself with `git push {remote} {branch}`",
                    short_commit(&sc.commit)
                )),
                ..Failure::refused(e.to_string())
            };
            return Err(Stopped::at(Some(done), redactor.failure(failure)));
        }
    }
    let Some(gh) = client else {
        return Ok(done);
    };
    let title = report::pr_title(plan);
    let body = report::pr_body(plan);
    let result = (|| -> Result<(PullRequest, bool), github::GitHubError> {
        let pr = match gh.find_open_pr(&branch)? {
            Some(existing) => {
                let new_base = (existing.base_ref != base.name).then_some(base.name.as_str());
                let pr = gh.update_pr(existing.number, &title, &body, new_base)?;
                Ok((pr, false))
            }
            None => gh
                .create_pr(&title, &branch, &base.name, &body, req.draft)
                .map(|pr| (pr, true)),
        }?;
        gh.add_labels(pr.0.number, req.labels)?;
        Ok(pr)
    })();
    match result {
        Ok(pr) => {
            done.pull_request = Some(pr);
            Ok(done)
        }
        Err(e) => {
            let failure = Failure {
                note: Some(format!(
                    "the branch `{branch}` is pushed to `{remote}` and stays there; re-run the same command to retry the pull request"
                )),
                ..Failure::refused(e.to_string())
            };
            Err(Stopped::at(Some(done), redactor.failure(failure)))
        }
    }
}
