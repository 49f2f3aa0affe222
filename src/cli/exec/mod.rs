//! `exec nublado STAGE --env ENV` and `exec hub-move STAGE --hub H --from A --to B`: runs (or `--dry-run` previews) a stage's window runbook,
//! with the journal, the lock, confirmations, the proof before the first change and the final
//! report.
//!
//! Before its first change a run proves it is at the merged revision (`merged`: the stage is
//! on the remote's branch, read before any cluster call), on the right cluster and alone
//! (`proof`: the kube context, the cluster's fingerprint, a `Lease` in each cluster).
//!
//! Each playbook prepares its run (`nublado`: one environment; `hub_move`: a hub and its two
//! clusters) — the merged repository, the steps, their clients, the clusters to prove — and
//! `drive` runs it through the engine the same way for both.

mod hub_move;
mod merged;
mod nublado;
mod proof;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::stage::{HubMoveTarget, examples};
use super::{Exit, Output};
use crate::cli::console::{self, ConsoleOperator, Display};
use crate::config::Config;
use crate::playbook::{PlaybookKind, Step};
use crate::runtime::engine::{self, ExecOptions, Redactor, RunStatus};
use crate::runtime::journal::{self, Entry, Journal, RunFiles};
use crate::runtime::lock::{self, Lock};
use crate::runtime::steps::{self, StepEnv};
use crate::runtime::{Operator, Outcome, Preview, StepError, StepRunner};

#[derive(Debug, Subcommand)]
pub enum ExecCommand {
    /// Run a nublado stage's window for one environment.
    #[command(after_help = examples!(
        "gitops-migrate exec nublado make-default --env idfdev --dry-run",
        "gitops-migrate exec nublado make-default --env idfdev",
        "gitops-migrate exec nublado make-default --env idfdev --resume",
        "gitops-migrate exec nublado disable-v2 --env idfint --from-step delete-lab-namespaces",
        "gitops-migrate exec nublado enable-v3 --env idfdev --context admin --only sync-app:nublado",
    ))]
    Nublado(ExecNublado),
    /// Run a hub move's window across its two clusters.
    #[command(after_help = examples!(
        "gitops-migrate exec hub-move setup --hub prod --from old --to new --dry-run",
        "gitops-migrate exec hub-move cutover --hub prod --from old --to new --delete --parallel 8",
        "gitops-migrate exec hub-move cutover --hub prod --from old --to new --from-step update-dns",
    ))]
    HubMove(ExecHubMove),
}

#[derive(Debug, Args)]
pub struct ExecNublado {
    /// The stage whose window runbook to run: `enable-v3`, `make-default`, `disable-v2`,
    /// `drop-v2-values` or `finish`.
    #[arg(value_name = "STAGE")]
    pub stage: String,
    /// The environment (exactly one: each environment's window is its own run).
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Deprecated name of --from-step.
    #[arg(long = "from", value_name = "STEP", hide = true, conflicts_with_all = ["from_step", "only"])]
    pub from_deprecated: Option<String>,
    /// Run against this kube context instead of the configured one (its API server is shown
    /// and must be confirmed; it must be the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
pub struct ExecHubMove {
    #[command(flatten)]
    pub target: HubMoveTarget,
    /// `cutover`: the final copy of the home directories deletes, in the target, files gone
    /// from the source (asked before it runs).
    #[arg(long)]
    pub delete: bool,
    /// `setup` and `cutover` of a hub whose home directories are copied with `sync-homes`:
    /// rsync processes at once [default: the number of cores, at most 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// `setup` and `cutover` of a hub on jupyterhub-home-nfs: the private key of the home
    /// directories' transfer (the FILE given to `plan`/`apply --transfer-key`); read when the
    /// transfer runs and passed on rsync's standard input, never in an argument or a log.
    #[arg(long, value_name = "FILE")]
    pub transfer_key: Option<std::path::PathBuf>,
    /// `setup` and `cutover` of a hub on jupyterhub-home-nfs: admit only this source range
    /// (CIDR, repeatable) to the transfer's load balancer (`loadBalancerSourceRanges`), such as
    /// the source cluster's egress addresses [default: reachable from anywhere, protected by
    /// the key pair and the pinned host key].
    #[arg(long, value_name = "CIDR", value_parser = crate::playbook::hub_move::transfer::parse_cidr)]
    pub transfer_allow: Vec<String>,
    #[command(flatten)]
    pub run: RunOptions,
}

/// The options of a window run, for every playbook.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// Preview every step with read calls only (what it would touch, the equivalent commands);
    /// change nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm every destructive step without asking (non-interactive runs). Never answers
    /// what only a person can check: manual steps, a DNS record, a newly seen cluster.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Confirm what only a person can check (manual steps, a DNS record set at the provider,
    /// a newly seen cluster) without asking: for rehearsals on test clusters. Recorded as
    /// auto-confirmed in the journal and the report.
    #[arg(long)]
    pub yes_manual: bool,
    /// Run although the stage's change is not on the remote's branch: for rehearsals on a
    /// test cluster. Argo CD syncs are then not pinned; the journal and the report say so.
    #[arg(long)]
    pub allow_unmerged: bool,
    /// The branch the stage must be merged into [default: the remote's default branch].
    #[arg(long, value_name = "BRANCH")]
    pub base: Option<String>,
    /// The remote to read the merged branch from.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
    /// Continue the last unfinished run's window: do not run again the steps it finished
    /// (a finished window is not resumed: start a new one without --resume).
    #[arg(long)]
    pub resume: bool,
    /// Start at this step (an id, or a kind such as `delete-lab-namespaces`).
    #[arg(long, value_name = "STEP", conflicts_with = "only")]
    pub from_step: Option<String>,
    /// Run only this step (repeatable; an id, or a kind for every step of that kind).
    #[arg(long, value_name = "STEP")]
    pub only: Vec<String>,
    /// Leave this step out (repeatable).
    #[arg(long, value_name = "STEP")]
    pub skip: Vec<String>,
    /// Keep the journal, lock and reports under DIR instead of the user's state directory.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The configuration file (default: `gitops-migrate.toml` at the repository root).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// A step that cannot be built in this version (its client or configuration is missing):
/// listed by a dry run, refused by a run that selects it. The engine never calls it.
struct Unavailable {
    id: String,
    title: String,
    destructive: bool,
    reason: String,
}

impl StepRunner for Unavailable {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn destructive(&self) -> bool {
        self.destructive
    }
    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        Err(StepError::fatal(self.reason.clone()))
    }
    fn run(&self, _preview: &Preview, _op: &mut dyn Operator) -> Result<Outcome, StepError> {
        Err(StepError::fatal(self.reason.clone()))
    }
}

/// The clusters a run changes, once the playbook's kube-context check passed (it may ask the
/// operator); the run then proves their fingerprints and takes their leases.
pub type ContextCheck = Box<dyn Fn(&mut dyn Operator) -> Result<Vec<proof::Cluster>, String>>;

/// A run, prepared by its playbook.
pub struct Prepared {
    pub playbook: PlaybookKind,
    /// Where to start (`--from-step`).
    pub from_step: Option<String>,
    /// `idfdev`, `temple.2i2c-aws-us.to.ucmerced`: names the journal, lock and reports.
    pub target: String,
    /// `--env idfdev`: the target on the command line.
    pub target_args: String,
    pub stage: &'static str,
    pub runbook: Vec<Step>,
    pub step_env: StepEnv,
    /// Why clients could not be made (shown when a step is not available).
    pub missing: Vec<String>,
    /// Every token and password the run may see, to redact.
    pub secrets: Vec<String>,
    /// What the run proved before anything (the merged commit), or `--allow-unmerged`.
    pub notes: Vec<String>,
    pub context_check: ContextCheck,
    /// The configuration file (where a first-seen cluster is recorded).
    pub config: PathBuf,
    /// The dry run's last line, given the first mutating step.
    pub dry_run_note: Box<dyn Fn(&str) -> String>,
    pub files: RunFiles,
}

/// The configuration file (`--config`, else `gitops-migrate.toml` at the repository root).
fn load_config(root: &Path, args: &RunOptions, out: &mut Output) -> Result<Config, Exit> {
    let path = Config::path_for(root, args.config.as_deref());
    Config::load(&path).map_err(|e| {
        out.error(&e.to_string());
        Exit::Input
    })
}

/// `--state-dir`, else the user's state directory.
fn state_dir(args: &RunOptions, out: &mut Output) -> Result<PathBuf, Exit> {
    match &args.state_dir {
        Some(d) => Ok(d.clone()),
        None => journal::state_dir().map_err(|e| {
            out.error(&e.to_string());
            Exit::Input
        }),
    }
}

/// The journal, lock and reports of a run.
fn run_files(
    args: &RunOptions,
    playbook: PlaybookKind,
    stage: &str,
    target: &str,
    out: &mut Output,
) -> Result<RunFiles, Exit> {
    let dir = state_dir(args, out)?;
    Ok(RunFiles::new(&dir, playbook.name(), stage, target))
}

/// The step selection (`--only`, `--skip`, `--from-step`) against a runbook: an unknown step
/// is a usage error (exit 2), reported before anything else happens.
fn check_selection(
    runbook: &[Step],
    args: &RunOptions,
    from_step: Option<&str>,
    out: &mut Output,
) -> Result<(), Exit> {
    let ids: Vec<String> = runbook.iter().map(|s| s.id.clone()).collect();
    let opts = ExecOptions {
        from: from_step.map(str::to_string),
        only: args.only.clone(),
        skip: args.skip.clone(),
        ..ExecOptions::default()
    };
    engine::select(&ids, &opts).map(|_| ()).map_err(|e| {
        out.error(&e.to_string());
        if e.is_usage() {
            Exit::Input
        } else {
            Exit::Refused
        }
    })
}

pub fn run(command: ExecCommand, out: &mut Output) -> Exit {
    let (prepared, run) = match &command {
        ExecCommand::Nublado(a) => (nublado::prepare(a, out), &a.run),
        ExecCommand::HubMove(a) => (hub_move::prepare(a, out), &a.run),
    };
    match prepared {
        Ok(p) => drive(p, run, out),
        Err(code) => code,
    }
}

/// Builds the runners, takes the lock, runs (or previews) the runbook and reports.
fn drive(p: Prepared, args: &RunOptions, out: &mut Output) -> Exit {
    if p.runbook.is_empty() {
        out.line(&format!(
            "nothing to do: `{}` has no window steps for `{}`",
            p.stage, p.target
        ));
        return Exit::Ok;
    }
    let mut unavailable = BTreeMap::new();
    let runners: Vec<Box<dyn StepRunner>> = p
        .runbook
        .iter()
        .map(|step| match steps::build(step, &p.step_env) {
            Ok(r) => r,
            Err(e) => {
                unavailable.insert(step.id.clone(), e.message.clone());
                Box::new(Unavailable {
                    id: step.id.clone(),
                    title: step.title.clone(),
                    destructive: step.destructive,
                    reason: e.message,
                }) as Box<dyn StepRunner>
            }
        })
        .collect();
    if !unavailable.is_empty() {
        for m in &p.missing {
            out.warning(m);
        }
    }

    let step_from = p.from_step.clone();
    let mut command = format!("{} {} {}", p.playbook, p.stage, p.target_args);
    for (flag, values) in [("--only", &args.only), ("--skip", &args.skip)] {
        for v in values {
            command.push_str(&format!(" {flag} {v}"));
        }
    }
    if let Some(f) = &step_from {
        command.push_str(&format!(" --from-step {f}"));
    }
    if args.resume {
        command.push_str(" --resume");
    }
    let files = &p.files;

    if args.allow_unmerged {
        command.push_str(" --allow-unmerged");
    }
    let run_id = engine::new_run_id(std::time::SystemTime::now());
    let mut opts = ExecOptions {
        command,
        run_id: Some(run_id.clone()),
        dry_run: args.dry_run,
        yes: args.yes,
        yes_manual: args.yes_manual,
        interactive: console::open_terminal().is_some(),
        resume: args.resume,
        from: step_from,
        only: args.only.clone(),
        skip: args.skip.clone(),
        unavailable,
        redactor: Redactor::new(p.secrets),
        notes: p.notes,
        ..ExecOptions::default()
    };
    for w in opts.redactor.warnings() {
        out.warning(&w);
    }
    // Usage errors before the lock is taken.
    let ids: Vec<String> = runners.iter().map(|r| r.id().to_string()).collect();
    if let Err(e) = engine::select(&ids, &opts) {
        out.error(&e.to_string());
        return if e.is_usage() {
            Exit::Input
        } else {
            Exit::Refused
        };
    }

    let lock = if args.dry_run {
        None
    } else {
        match Lock::acquire_for(&files.lock(), &run_id) {
            Ok(l) => {
                if let Some(stale) = l.stale() {
                    out.warning(&format!(
                        "took over a stale lock: {stale} is gone (it was interrupted; --resume continues after its last finished step)"
                    ));
                }
                Some(l)
            }
            Err(e) => {
                out.error(&e.to_string());
                return Exit::Refused;
            }
        }
    };
    let mut journal = match Journal::open(&files.journal()) {
        Ok(j) => j,
        Err(e) => {
            out.error(&e.to_string());
            return Exit::Refused;
        }
    };

    // The run interrupted on this machine (its lock file left behind): its leases are taken
    // over at once.
    let interrupted = lock
        .as_ref()
        .and_then(|l| l.stale())
        .filter(|h| !h.run.is_empty())
        .map(|h| crate::runtime::lease::holder_identity(&h.user, &h.host, &h.run));
    let leases: proof::Leases = Arc::default();
    let (check, config, command) = (p.context_check, p.config.clone(), opts.command.clone());
    let (lease_name, taken) = (
        proof::lease_name(p.playbook.name(), &p.target),
        leases.clone(),
    );
    opts.proof = Some(Box::new(move |op: &mut dyn Operator, run: &str| {
        let clusters = check(op)?;
        proof::ClusterProof {
            clusters,
            config: config.clone(),
            lease_name: lease_name.clone(),
            command: command.clone(),
            leases: taken.clone(),
            interrupted: interrupted.clone(),
        }
        .prove(op, run)
    }));
    let held = leases.clone();
    opts.guard = Some(Box::new(move || proof::leases_held(&held)));
    let lock_path = files.lock();
    let stuck_leases = leases.clone();
    opts.on_stuck = Some(Arc::new(move |stuck: &engine::Stuck| {
        let now = crate::util::time::rfc3339(std::time::SystemTime::now());
        let message = format!(
            "timed out: still running after its timeout of {}; the run was stopped",
            crate::util::time::human(stuck.timeout)
        );
        let _ = journal::append_to(
            &stuck.journal,
            &Entry::End {
                at: now.clone(),
                run: stuck.run.clone(),
                step: stuck.step.clone(),
                outcome: journal::EndOutcome::Failed,
                duration_ms: u64::try_from(stuck.timeout.as_millis()).unwrap_or(u64::MAX),
                attempts: 0,
                touched: Vec::new(),
                message: message.clone(),
            },
        );
        let _ = journal::append_to(
            &stuck.journal,
            &Entry::RunEnd {
                at: now,
                run: stuck.run.clone(),
                result: "timed-out".into(),
            },
        );
        lock::release_path(&lock_path);
        for l in stuck_leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = l.release();
        }
        eprintln!(
            "error: `{}` {message}; resume with --resume (steps are idempotent)",
            stuck.step
        );
        std::process::exit(Exit::Refused as i32);
    }));

    // From here on, SIGINT and SIGTERM stop the run at its next safe point (a second one
    // exits at once).
    crate::runtime::interrupt::install();
    let mut op = ConsoleOperator::terminal(Display::detect(out.quiet));
    let result = engine::run(runners, &opts, &mut journal, &mut op);
    drop(op);
    // The leases go first: another operator may start as soon as they are free.
    for l in leases.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let what = l.describe();
        if let Err(e) = l.release() {
            out.warning(&format!(
                "could not release the {what}: {e}; it expires by itself"
            ));
        }
    }
    let code = match result {
        Ok(report) if report.dry_run => {
            out.line(crate::runtime::report::dry_run(&report).trim_end());
            let first_mutating = report.steps.iter().find(|s| {
                s.mutates
                    && !matches!(
                        s.status,
                        engine::StepStatus::Excluded { .. }
                            | engine::StepStatus::AlreadyDone { .. }
                    )
            });
            if let Some(step) = first_mutating {
                out.line(&(p.dry_run_note)(&step.id));
            }
            if report.ok() { Exit::Ok } else { Exit::Refused }
        }
        Ok(report) => {
            match &report.status {
                RunStatus::Completed => out.note(&format!(
                    "{} completed in {}",
                    report.command,
                    crate::util::time::human(report.duration)
                )),
                RunStatus::Failed { step, error } => {
                    out.error(&format!(
                        "`{step}` failed: {error}; after fixing the cause, continue with --resume"
                    ));
                }
                RunStatus::Declined { step } => {
                    out.error(&format!(
                        "stopped at `{step}`: not confirmed; continue with --resume"
                    ));
                }
                RunStatus::Refused { reason } => {
                    out.error(&format!("stopped before any change: {reason}"));
                }
                RunStatus::Interrupted { step, signal } => {
                    out.error(&format!(
                        "interrupted ({signal}) at `{step}`: the journal and the report record it, the lock and the leases are released; continue with --resume"
                    ));
                }
            }
            if let Some(path) = &report.report_path {
                out.line(&format!("report: {}", path.display()));
            }
            if report.status == RunStatus::Completed {
                Exit::Ok
            } else {
                Exit::Refused
            }
        }
        Err(e) => {
            out.error(&e.to_string());
            if e.is_usage() {
                Exit::Input
            } else {
                Exit::Refused
            }
        }
    };
    if let Some(l) = lock {
        let _ = l.release();
    }
    code
}
