//! `pr`: a stage's change as one commit on its own branch, built on the base without touching
//! the user's checkout, pushed with the `git` command line, and opened (or updated) as a
//! GitHub pull request whose body carries the runbook. The delivery itself is `deliver`'s
//! (`prepare`, then `publish`); this command parses, plans and prints its outcome.

use clap::{Args, Subcommand};

use super::stage::{
    HubMoveTarget, NubladoTarget, SetupOptions, Target, error_code, examples, load_plan,
    print_findings, print_ops, stage_description,
};
use super::{Exit, Output};
use crate::deliver::{self, Prepared};
use crate::git::BranchOutcome;
use crate::playbook::{StagePlan, report};
use crate::repo::Repo;

/// Where the token comes from, and the exit codes (`$target`: what an unknown target is).
macro_rules! pr_notes {
    ($target:literal) => {
        concat!(
            "\nThe GitHub token comes from GITHUB_TOKEN, else from `gh auth token`.\n\n",
            "Exit codes: 0 done (also nothing to do), 1 refused or failed (push rejected, GitHub ",
            "error, branch exists with other content), 2 input error (unknown stage or ",
            $target,
            ", no remote, no token)."
        )
    };
}

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
        pr_notes!("environment"),
    ))]
    Nublado(PrNublado),
    /// The pull request of a stage of a hub move.
    #[command(after_help = concat!(
        examples!(
            "gitops-migrate pr hub-move setup --hub prod --from old --to new --draft",
            "gitops-migrate pr hub-move cutover --hub prod --from old --to new --label hub-move",
        ),
        pr_notes!("hub"),
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
    pub setup: SetupOptions,
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

/// Prints through the delivery's cleaning, so that the token can never be printed.
struct Say<'a> {
    out: &'a mut Output,
    ready: Option<&'a deliver::Ready>,
}

impl Say<'_> {
    fn clean(&self, text: &str) -> String {
        match self.ready {
            Some(r) => r.clean(text),
            None => crate::util::redact::urls(text),
        }
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
}

/// The pull request's title and what the stage does.
fn pr_heading(plan: &StagePlan) -> String {
    format!("{}: {}", report::pr_title(plan), stage_description(plan))
}

pub fn run(command: PrCommand, out: &mut Output) -> Exit {
    // Every field named: an option the code does not read would be an unused binding.
    let (target, force, options) = match &command {
        PrCommand::Nublado(PrNublado { target, pr }) => (Target::Nublado(target), target.force, pr),
        PrCommand::HubMove(PrHubMove {
            target,
            setup,
            force,
            pr,
        }) => (Target::HubMove(target, setup.clone()), *force, pr),
    };
    let PrOptions {
        base,
        branch,
        remote,
        no_push,
        no_pr,
        draft,
        labels,
        github_repo,
        github_api,
    } = options;
    let (p, plan) = match load_plan(&target, out) {
        Ok(x) => x,
        Err(code) => return code,
    };
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
        out.line(&format!(
            "nothing to do{who}; no branch or pull request made"
        ));
        return Exit::Ok;
    }
    let request = deliver::Request {
        base: base.as_deref(),
        branch: branch.as_deref(),
        remote,
        push: !no_push,
        open_pr: !no_pr,
        draft: *draft,
        labels,
        github_repo: github_repo.as_deref(),
        github_api: github_api.as_deref(),
        force,
    };
    let ready = match deliver::prepare(&p, &plan, &request) {
        Ok(Prepared::Ready(r)) => r,
        Ok(Prepared::OnBase { base }) => {
            out.line(&format!(
                "nothing to do: {base} already holds this change; no branch or pull request made"
            ));
            return Exit::Ok;
        }
        Err(f) => return failed(&f, &p, &plan, out),
    };
    let mut say = Say {
        out,
        ready: Some(&ready),
    };
    for w in &ready.warnings {
        say.warning(w);
    }
    for note in plan.notes.iter().filter(|n| n.starts_with("--force")) {
        say.warning(note);
    }
    say.line(&pr_heading(&plan));
    print_ops(&plan, |l| say.line(l));
    let result = deliver::publish(*ready, &plan, &request);
    // The delivery's texts are clean; the ones made here name no secret.
    let mut say = Say { out, ready: None };
    match result {
        Ok(done) => {
            published(&done, &mut say);
            match (&done.pushed, &done.pull_request) {
                (None, _) => say.note(&format!(
                    "not pushed (--no-push); no pull request. Push it with `git push {remote} {}`",
                    done.branch
                )),
                (Some(_), None) => say.note("no pull request (--no-pr)"),
                (Some(_), Some((pr, created))) => {
                    if !created && *draft && !pr.draft {
                        say.note(&format!(
                            "pull request #{} was already open and is not a draft; it stays so (mark it as a draft on GitHub)",
                            pr.number
                        ));
                    }
                }
            }
            Exit::Ok
        }
        Err(stopped) => {
            if let Some(done) = &stopped.done {
                published(done, &mut say);
            }
            failed(&stopped.failure, &p, &plan, say.out)
        }
    }
}

/// What the delivery made: the branch and its commit, the push, the pull request.
fn published(done: &deliver::Published, say: &mut Say<'_>) {
    let how = match done.outcome {
        BranchOutcome::Created => "new",
        BranchOutcome::Reused => "already holds this change; no new commit",
        BranchOutcome::Replaced => "replaced under --force",
    };
    say.line(&format!("branch: {} ({how})", done.branch));
    say.line(&format!(
        "commit: {} (on {} {})",
        done.commit,
        done.base,
        crate::util::text::short_commit(&done.base_commit)
    ));
    if let Some((remote, outcome)) = &done.pushed {
        say.line(&format!("pushed: {remote} ({})", outcome.describe()));
    }
    if let Some((pr, created)) = &done.pull_request {
        say.line(&format!(
            "pull request: {} (#{}, {}{})",
            pr.html_url,
            pr.number,
            if *created { "created" } else { "updated" },
            if pr.draft { ", draft" } else { "" }
        ));
    }
}

/// The delivery's failure: its message, the new errors with their lines, its note; the exit
/// code.
fn failed(f: &deliver::Failure, p: &Repo, plan: &StagePlan, out: &mut Output) -> Exit {
    out.error(&f.message);
    if !f.findings.is_empty() {
        print_findings(&f.findings, p, &plan.changes, out);
    }
    if let Some(n) = &f.note {
        out.note(n);
    }
    error_code(f.input)
}
