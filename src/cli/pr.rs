//! `pr`: a stage's change as one commit on its own branch, built on the base without touching
//! the user's checkout, pushed with the `git` command line, and opened (or updated) as a
//! GitHub pull request whose body carries the runbook.

use clap::{Args, Subcommand};

use super::stage::{
    HubMoveTarget, NubladoTarget, Reencrypt, Target, examples, load_plan, print_findings,
    print_ops, stage_description,
};
use super::{Exit, Output};
use crate::git::{self, BranchOutcome, CommitError, Git};
use crate::github::{self, GitHub, RepoId};
use crate::playbook::check::new_errors;
use crate::playbook::report;
use crate::text::plural;

#[derive(Debug, Subcommand)]
pub enum PrCommand {
    /// The pull request of a stage of the nublado v2 → v3 migration.
    #[command(after_help = concat!(
        "With `pr`, --force also commits when the files the stage touches differ from the base's, \
and replaces an existing branch that holds other content (pushed with --force-with-lease).\n\n",
        examples!(
            "gitops-migrate pr nublado enable-v3 --env idfdev --draft --label nublado",
            "gitops-migrate pr nublado make-default --env idfdev --base main --no-push",
            "gitops-migrate pr nublado disable-v2 --all-ready --github-repo lsst-sqre/phalanx",
        ),
        "\n",
        "The GitHub token comes from GITHUB_TOKEN, else from `gh auth token`.\n\n\
Exit codes: 0 done (also nothing to do), 1 refused or failed (push rejected, GitHub error, branch \
exists with other content), 2 input error (unknown stage or environment, no remote, no token)."
    ))]
    Nublado(PrNublado),
    /// The pull request of a stage of a hub move.
    #[command(after_help = concat!(
        examples!(
            "gitops-migrate pr hub-move setup --hub prod --from temple --to newcluster --draft",
            "gitops-migrate pr hub-move cutover --hub prod --from temple --to newcluster --label hub-move",
        ),
        "\n",
        "The GitHub token comes from GITHUB_TOKEN, else from `gh auth token`.\n\n\
Exit codes: 0 done (also nothing to do), 1 refused or failed (push rejected, GitHub error, branch \
exists with other content), 2 input error (unknown stage or hub, no remote, no token)."
    ))]
    HubMove(PrHubMove),
}

#[derive(Debug, Args)]
pub struct PrNublado {
    #[command(flatten)]
    pub target: NubladoTarget,
    #[command(flatten)]
    pub pr: PrOptions,
}

#[derive(Debug, Args)]
pub struct PrHubMove {
    #[command(flatten)]
    pub target: HubMoveTarget,
    #[command(flatten)]
    pub reencrypt: Reencrypt,
    /// Commit when the files the stage touches differ from the base's, and replace an
    /// existing branch that holds other content (pushed with --force-with-lease).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub pr: PrOptions,
}

/// Where the stage's change goes: the branch, the remote, the pull request.
#[derive(Debug, Args)]
pub struct PrOptions {
    /// The branch to build on and to open the pull request against [default: the remote's
    /// default branch, else `main`].
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// The branch to commit to [default: `migrate/<playbook>/<stage>/<target>`].
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// The remote to fetch the base from and push to.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
    /// Only make the local branch: no push, no pull request.
    #[arg(long)]
    pub no_push: bool,
    /// Push the branch but open no pull request.
    #[arg(long)]
    pub no_pr: bool,
    /// Open the pull request as a draft.
    #[arg(long)]
    pub draft: bool,
    /// A label for the pull request (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// The GitHub repository [default: from the remote's URL].
    #[arg(long, value_name = "OWNER/REPO")]
    pub github_repo: Option<String>,
    /// The GitHub API [default: https://api.github.com; for a GitHub Enterprise remote,
    /// https://HOST/api/v3].
    #[arg(long, value_name = "URL")]
    pub github_api: Option<String>,
}

/// Errors and notes go through here so that the token can never be printed.
struct Say<'a> {
    out: &'a mut Output,
    token: Option<String>,
}

impl Say<'_> {
    fn clean(&self, text: &str) -> String {
        let text = crate::redact::urls(text);
        crate::redact::Redactor::new(self.token.as_deref()).redact(&text)
    }
    fn line(&mut self, text: &str) {
        let t = self.clean(text);
        self.out.line(&t);
    }
    fn note(&mut self, text: &str) {
        let t = self.clean(text);
        self.out.note(&t);
    }
    fn warning(&mut self, text: &str) {
        let t = self.clean(text);
        self.out.warning(&t);
    }
    fn error(&mut self, text: &str) {
        let t = self.clean(text);
        self.out.error(&t);
    }
}

/// The pull request's title and what the stage does.
fn pr_heading(plan: &crate::playbook::StagePlan) -> String {
    format!("{}: {}", report::pr_title(plan), stage_description(plan))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

pub fn run(command: PrCommand, out: &mut Output) -> Exit {
    let (target, force, args) = match &command {
        PrCommand::Nublado(PrNublado { target, pr }) => (Target::Nublado(target), target.force, pr),
        PrCommand::HubMove(PrHubMove {
            target,
            reencrypt,
            force,
            pr,
        }) => (Target::HubMove(target, *reencrypt), *force, pr),
    };
    let (p, plan) = match load_plan(&target, out) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut say = Say { out, token: None };
    if plan.is_nothing_to_do() {
        let who = if plan.already_done.is_empty() {
            String::new()
        } else {
            format!(
                ": {} already past `{}`",
                plan.already_done.join(", "),
                plan.stage
            )
        };
        say.line(&format!(
            "nothing to do{who}; no branch or pull request made"
        ));
        return Exit::Ok;
    }
    let push = !args.no_push;
    let want_pr = push && !args.no_pr;

    // Input first: nothing is made when an argument is wrong.
    let github_repo = match &args.github_repo {
        Some(s) => match RepoId::parse(s) {
            Some(r) => Some(r),
            None => {
                say.error(&format!(
                    "--github-repo `{s}`: expected OWNER/REPO, e.g. lsst-sqre/phalanx"
                ));
                return Exit::Input;
            }
        },
        None => None,
    };
    if let Some(api) = &args.github_api
        && !(api.starts_with("https://") || api.starts_with("http://"))
    {
        say.error(&format!(
            "--github-api `{api}`: expected an http(s) URL, e.g. https://github.example.org/api/v3"
        ));
        return Exit::Input;
    }
    let root = p.files().root().to_path_buf();
    let (git, prefix) = match Git::open(&root) {
        Ok(x) => x,
        Err(e) => return commit_error(&mut say, &e),
    };
    let remote_url = match git.remote_url(&args.remote) {
        Ok(u) => u,
        Err(e) => {
            say.error(&e.to_string());
            return Exit::Refused;
        }
    };
    if remote_url.is_none() && push {
        say.error(&format!(
            "no remote `{}` in {}: add it (`git remote add {} URL`), name another with --remote NAME, or pass --no-push to make only the local branch",
            args.remote,
            git.top().display(),
            args.remote
        ));
        return Exit::Input;
    }
    let remote = remote_url.as_ref().map(|_| args.remote.as_str());

    let client = if want_pr {
        let from_url = remote_url.as_deref().and_then(RepoId::from_remote_url);
        let (host, repo) = match (github_repo, from_url) {
            (Some(r), parsed) => (parsed.map(|(h, _)| h), r),
            (None, Some((h, r))) => (Some(h), r),
            (None, None) => {
                say.error(&format!(
                    "cannot tell the GitHub repository from the URL of `{}` ({}); pass --github-repo OWNER/REPO",
                    args.remote,
                    remote_url.as_deref().unwrap_or("")
                ));
                return Exit::Input;
            }
        };
        let api = args.github_api.clone().unwrap_or_else(|| {
            host.as_deref()
                .map(github::api_for_host)
                .unwrap_or_else(|| github::DEFAULT_API.to_string())
        });
        let Some((token, _)) = github::find_token(host.as_deref()) else {
            say.error(&format!(
                "no GitHub token to open the pull request in {repo}: set GITHUB_TOKEN, or log in with the GitHub CLI (`gh auth login`; the token is then read with `gh auth token`). Or pass --no-pr to push the branch only"
            ));
            return Exit::Input;
        };
        say.token = Some(token.clone());
        Some(GitHub::new(&api, token, repo))
    } else {
        None
    };

    // The stage must leave the repository valid, as for `apply`.
    match new_errors(&p, &plan.changes) {
        Ok(errors) if !errors.is_empty() => {
            say.error(&format!(
                "the result would not validate ({}); no branch was made:",
                plural(errors.len(), "new error", "new errors")
            ));
            print_findings(&errors, &p, &plan.changes, say.out);
            return Exit::Refused;
        }
        Ok(_) => {}
        Err(e) => {
            say.error(&format!("cannot check the result: {e}; no branch was made"));
            return Exit::Refused;
        }
    }

    // The base, and the planned files against it.
    let base = match git::resolve_base(&git, remote, args.base.as_deref()) {
        Ok(b) => b,
        Err(e) => return commit_error(&mut say, &e),
    };
    match git::differences_from_base(&git, &base, &prefix, &plan.changes) {
        Ok(d) if d.is_empty() => {}
        Ok(d) if force => say.warning(&format!(
            "--force: the stage was planned from your work tree, whose version of these files is not {}'s: {}; the branch gets the planned content anyway",
            base.display,
            d.join(", ")
        )),
        Ok(d) => {
            say.error(&format!(
                "the stage was planned from your work tree, but these files are not as on {}: {}. Update your checkout to {} first (e.g. `git switch {} && git pull`), or pass --force to commit the planned content on top of {} anyway",
                base.display,
                d.join(", "),
                base.display,
                base.name,
                base.display
            ));
            return Exit::Refused;
        }
        Err(e) => {
            say.error(&e.to_string());
            return Exit::Refused;
        }
    }
    let tree = match git::build_tree(&git, &base, &prefix, &plan.changes) {
        Ok(t) => t,
        Err(e) => return commit_error(&mut say, &e),
    };
    if git.tree_of(&base.commit).ok().as_deref() == Some(tree.as_str()) {
        say.line(&format!(
            "nothing to do: {} already holds this change; no branch or pull request made",
            base.display
        ));
        return Exit::Ok;
    }

    for note in plan.notes.iter().filter(|n| n.starts_with("--force")) {
        say.warning(note);
    }
    say.line(&pr_heading(&plan));
    print_ops(&plan, |l| say.line(l));

    // The branch and its commit.
    let branch = args.branch.clone().unwrap_or_else(|| plan.branch_name());
    let message = report::commit_message(&plan);
    let sc = match git::stage_commit(&git, remote, &base, &tree, &branch, &message, force) {
        Ok(sc) => sc,
        Err(e) => return commit_error(&mut say, &e),
    };
    let how = match sc.outcome {
        BranchOutcome::Created => "new",
        BranchOutcome::Reused => "already holds this change; no new commit",
        BranchOutcome::Replaced => "replaced under --force",
    };
    say.line(&format!("branch: {branch} ({how})"));
    say.line(&format!(
        "commit: {} (on {} {})",
        sc.commit,
        base.display,
        short(&base.commit)
    ));

    let Some(remote) = remote.filter(|_| push) else {
        say.note(&format!(
            "not pushed (--no-push); no pull request. Push it with `git push {} {branch}`",
            args.remote
        ));
        return Exit::Ok;
    };
    let lease = match sc.outcome {
        BranchOutcome::Replaced => sc.remote_commit.as_deref(),
        _ => None,
    };
    match git.push(remote, &branch, lease) {
        Ok(outcome) => say.line(&format!("pushed: {remote} ({})", outcome.describe())),
        Err(e) => {
            say.error(&e.to_string());
            say.note(&format!(
                "the local branch `{branch}` stays at {}; your checkout was not touched. Fix the cause and re-run, or push it yourself with `git push {remote} {branch}`",
                short(&sc.commit)
            ));
            return Exit::Refused;
        }
    }

    let Some(gh) = client else {
        say.note("no pull request (--no-pr)");
        return Exit::Ok;
    };
    let title = report::pr_title(&plan);
    let body = report::pr_body(&plan);
    let result = (|| -> Result<(github::PullRequest, bool), github::GitHubError> {
        let pr = match gh.find_open_pr(&branch)? {
            Some(existing) => {
                let new_base = (existing.base_ref != base.name).then_some(base.name.as_str());
                let pr = gh.update_pr(existing.number, &title, &body, new_base)?;
                Ok((pr, false))
            }
            None => gh
                .create_pr(&title, &branch, &base.name, &body, args.draft)
                .map(|pr| (pr, true)),
        }?;
        gh.add_labels(pr.0.number, &args.labels)?;
        Ok(pr)
    })();
    match result {
        Ok((pr, created)) => {
            if !created && args.draft && !pr.draft {
                say.note(&format!(
                    "pull request #{} was already open and is not a draft; it stays so (mark it as a draft on GitHub)",
                    pr.number
                ));
            }
            say.line(&format!(
                "pull request: {} (#{}, {}{})",
                pr.html_url,
                pr.number,
                if created { "created" } else { "updated" },
                if pr.draft { ", draft" } else { "" }
            ));
            Exit::Ok
        }
        Err(e) => {
            say.error(&e.to_string());
            say.note(&format!(
                "the branch `{branch}` is pushed to `{remote}` and stays there; re-run the same command to retry the pull request"
            ));
            Exit::Refused
        }
    }
}

fn commit_error(say: &mut Say<'_>, e: &CommitError) -> Exit {
    say.error(&e.to_string());
    if e.is_input_error() {
        Exit::Input
    } else {
        Exit::Refused
    }
}
