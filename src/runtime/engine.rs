//! The engine that runs a runbook: selection (`--only`, `--from`, `--skip`, `--resume`),
//! the dry run, confirmations, the kube-context check before the first mutation, retries with
//! exponential backoff under each step's timeout, the journal and the final report.
//!
//! Owns: the order of events of a run and what is recorded about it. Does not own: what a
//! step does (`steps`), where the journal lives (`journal`), the lock (`lock`, taken by the
//! caller), how the report reads (`report`).
//!
//! Every text that leaves a step (touched objects, commands, summaries, errors, lines said to
//! the operator) goes through the run's `Redactor` before it is printed, journaled or reported.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use super::journal::{self, EndOutcome, Entry, Journal, JournalError};
use super::{Action, Operator, Outcome, Preview, StepError, StepRunner};

/// Exponential backoff between the attempts of a step that failed with a retryable error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure; doubled after each further one.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// At most this many attempts in all (the step's timeout may end them sooner).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            attempts: 6,
        }
    }
}

impl Backoff {
    /// The wait after the `attempt`-th failed attempt (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Replaces secret values (the tokens named in the configuration) in every text of a run.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        // Longest first, so that a secret containing another is replaced whole.
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    fn all(&self, items: &[String]) -> Vec<String> {
        items.iter().map(|t| self.redact(t)).collect()
    }
}

/// The kube-context check run before the first mutating step: `Err` (with the reason) stops
/// the run before anything is changed. It may ask the operator (`--context NAME`).
pub type ContextCheck = Box<dyn Fn(&mut dyn Operator) -> Result<(), String>>;

/// A step that is still running past its timeout (plus `ExecOptions::stuck_grace`).
#[derive(Debug, Clone)]
pub struct Stuck {
    pub step: String,
    pub run: String,
    pub timeout: Duration,
    pub journal: PathBuf,
}

/// Called from a watchdog thread when a step is stuck. The command line records the timeout
/// in the journal, releases the lock and exits with status 1 (a Rust thread cannot be
/// cancelled; the next run resumes, and steps are idempotent).
pub type StuckHandler = Arc<dyn Fn(&Stuck) + Send + Sync>;

/// How a run goes.
pub struct ExecOptions {
    /// What is run, for the journal and the report: `nublado enable-v3 --env idfdev`.
    pub command: String,
    /// Preview only (read calls); never calls `run`, writes nothing.
    pub dry_run: bool,
    /// Confirm every destructive and manual step without asking.
    pub yes: bool,
    /// Whether there is a terminal to ask on. Without one and without `yes`, a run that has
    /// destructive or manual steps is refused before anything runs.
    pub interactive: bool,
    /// Skip the steps the journal records as finished.
    pub resume: bool,
    pub from: Option<String>,
    pub only: Vec<String>,
    pub skip: Vec<String>,
    /// Steps that cannot run in this version (id → why): listed as "not available" in a dry
    /// run; a run that selects one is refused before anything runs.
    pub unavailable: BTreeMap<String, String>,
    pub backoff: Backoff,
    /// How the engine waits between attempts (tests make it instant and record it).
    pub sleep: Box<dyn Fn(Duration)>,
    pub redactor: Redactor,
    pub context_check: Option<ContextCheck>,
    pub on_stuck: Option<StuckHandler>,
    /// How long past its timeout a step may run before `on_stuck` is called.
    pub stuck_grace: Duration,
    /// Write the markdown report next to the journal at the end of a run.
    pub write_report: bool,
}

impl Default for ExecOptions {
    fn default() -> ExecOptions {
        ExecOptions {
            command: String::new(),
            dry_run: false,
            yes: false,
            interactive: false,
            resume: false,
            from: None,
            only: Vec::new(),
            skip: Vec::new(),
            unavailable: BTreeMap::new(),
            backoff: Backoff::default(),
            sleep: Box::new(std::thread::sleep),
            redactor: Redactor::default(),
            context_check: None,
            on_stuck: None,
            stuck_grace: Duration::from_secs(5),
            write_report: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("unknown step{} {}; the steps of this runbook are: {}",
        if .unknown.len() == 1 { "" } else { "s" },
        .unknown.iter().map(|(u, hint)| match hint {
            Some(h) => format!("`{u}` (did you mean `{h}`?)"),
            None => format!("`{u}`"),
        }).collect::<Vec<_>>().join(", "),
        .known.join(", "))]
    UnknownSteps {
        /// Each unknown name, with the closest id when one is close.
        unknown: Vec<(String, Option<String>)>,
        known: Vec<String>,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{} cannot run in this version: {}; nothing was run (see them with --dry-run, or leave them out with --skip)",
        if .steps.len() == 1 { "this step" } else { "these steps" },
        .steps.iter().map(|(id, why)| format!("`{id}` ({why})")).collect::<Vec<_>>().join(", "))]
    Unavailable { steps: Vec<(String, String)> },
    #[error("no terminal to ask for confirmation of {}; nothing was run (pass --yes to confirm them without asking)",
        .steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))]
    NeedsConfirmation { steps: Vec<String> },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot write the report {}: {source}", path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ExecError {
    /// Usage errors exit 2; refusals and I/O failures exit 1.
    pub fn is_usage(&self) -> bool {
        matches!(self, ExecError::UnknownSteps { .. } | ExecError::Usage(_))
    }
}

/// What became of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// It ran and succeeded.
    Done {
        summary: String,
    },
    /// Its preview found nothing to do.
    Skipped {
        reason: String,
    },
    /// The journal records it as finished (`--resume`).
    AlreadyDone {
        at: String,
    },
    /// Left out by `--only`, `--from` or `--skip`.
    Excluded {
        reason: String,
    },
    /// Dry run: it would run and touch these.
    WouldRun {
        touches: Vec<String>,
    },
    /// Dry run: its preview failed.
    CannotPreview {
        error: String,
    },
    /// It cannot run in this version.
    Unavailable {
        reason: String,
    },
    Failed {
        error: String,
    },
    /// The operator said no.
    Declined,
    /// The run stopped before it.
    NotRun,
}

impl StepStatus {
    pub fn label(&self) -> &'static str {
        match self {
            StepStatus::Done { .. } => "done",
            StepStatus::Skipped { .. } => "skipped",
            StepStatus::AlreadyDone { .. } => "already done",
            StepStatus::Excluded { .. } => "excluded",
            StepStatus::WouldRun { .. } => "would run",
            StepStatus::CannotPreview { .. } => "cannot preview",
            StepStatus::Unavailable { .. } => "not available",
            StepStatus::Failed { .. } => "failed",
            StepStatus::Declined => "declined",
            StepStatus::NotRun => "not run",
        }
    }
}

/// One step in the report.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub id: String,
    pub title: String,
    pub destructive: bool,
    pub mutates: bool,
    pub status: StepStatus,
    pub duration: Duration,
    pub attempts: u32,
    /// What it touched (or, in a dry run, would touch).
    pub touched: Vec<String>,
    /// The equivalent commands of its preview.
    pub commands: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// Every selected step finished (or, for a dry run, was previewed).
    Completed,
    Failed {
        step: String,
        error: String,
    },
    Declined {
        step: String,
    },
    /// Stopped before a mutation (the kube context did not match).
    Refused {
        reason: String,
    },
}

impl RunStatus {
    pub fn name(&self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed { .. } => "failed",
            RunStatus::Declined { .. } => "declined",
            RunStatus::Refused { .. } => "refused",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub command: String,
    /// The run's id (`20240501T120000Z-4242`).
    pub run: String,
    pub dry_run: bool,
    pub started: SystemTime,
    pub duration: Duration,
    pub steps: Vec<StepReport>,
    pub status: RunStatus,
    pub journal: PathBuf,
    pub report_path: Option<PathBuf>,
    /// Things the operator should know (a torn journal line, an unfinished earlier run).
    pub notes: Vec<String>,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.status == RunStatus::Completed
            && !self
                .steps
                .iter()
                .any(|s| matches!(s.status, StepStatus::CannotPreview { .. }))
    }
}

/// Which steps a selection names: an exact id, or (without `:`) a kind such as
/// `delete-lab-namespaces`, which names every step of that kind.
fn resolve(ids: &[String], name: &str) -> Vec<usize> {
    if let Some(i) = ids.iter().position(|id| id == name) {
        return vec![i];
    }
    if name.contains(':') {
        return Vec::new();
    }
    ids.iter()
        .enumerate()
        .filter(|(_, id)| id.split_once(':').is_some_and(|(kind, _)| kind == name))
        .map(|(i, _)| i)
        .collect()
}

/// For each step, why it is left out (`None`: selected). Unknown names are a usage error
/// listing the runbook's ids.
pub fn select(ids: &[String], opts: &ExecOptions) -> Result<Vec<Option<String>>, ExecError> {
    if opts.from.is_some() && !opts.only.is_empty() {
        return Err(ExecError::Usage(
            "--from and --only cannot be combined".into(),
        ));
    }
    let mut unknown = Vec::new();
    let mut pick = |name: &String| {
        let r = resolve(ids, name);
        if r.is_empty() && !unknown.contains(name) {
            unknown.push(name.clone());
        }
        r
    };
    let from = opts.from.as_ref().map(&mut pick);
    let only: BTreeSet<usize> = opts.only.iter().flat_map(&mut pick).collect();
    let skip: BTreeSet<usize> = opts.skip.iter().flat_map(&mut pick).collect();
    if !unknown.is_empty() {
        let unknown = unknown
            .into_iter()
            .map(|u| {
                let hint =
                    crate::suggest::closest(&u, ids.iter().map(String::as_str)).map(str::to_string);
                (u, hint)
            })
            .collect();
        return Err(ExecError::UnknownSteps {
            unknown,
            known: ids.to_vec(),
        });
    }
    let from_index = from.and_then(|f| f.first().copied());
    Ok((0..ids.len())
        .map(|i| {
            if !opts.only.is_empty() && !only.contains(&i) {
                Some("not selected by --only".to_string())
            } else if from_index.is_some_and(|f| i < f) {
                Some(format!(
                    "before --from {}",
                    opts.from.as_deref().unwrap_or_default()
                ))
            } else if skip.contains(&i) {
                Some("--skip".to_string())
            } else {
                None
            }
        })
        .collect())
}

/// The operator as a step sees it: every text redacted; confirmations answered by `--yes`,
/// or refused when there is no terminal.
struct StepOp<'a> {
    inner: &'a mut dyn Operator,
    redactor: &'a Redactor,
    yes: bool,
    interactive: bool,
}

impl Operator for StepOp<'_> {
    fn confirm(&mut self, question: &str) -> bool {
        let q = self.redactor.redact(question);
        if self.yes {
            self.inner.say(&format!("{q} yes (--yes)"));
            true
        } else if !self.interactive {
            self.inner
                .say(&format!("{q} no (no terminal to ask on; pass --yes)"));
            false
        } else {
            self.inner.confirm(&q)
        }
    }

    fn progress(&mut self, step: &str, done: u64, total: u64, message: &str) {
        let m = self.redactor.redact(message);
        self.inner.progress(step, done, total, &m);
    }

    fn say(&mut self, line: &str) {
        let l = self.redactor.redact(line);
        self.inner.say(&l);
    }
}

/// Runs (or, with `dry_run`, previews) a runbook. Errors are returned before anything runs
/// (usage, unavailable steps, no terminal) or for a journal that cannot be written; a step that
/// fails, a refusal and a "no" at a confirmation end the run with a report.
pub fn run(
    steps: Vec<Box<dyn StepRunner>>,
    opts: &ExecOptions,
    journal: &mut Journal,
    op: &mut dyn Operator,
) -> Result<RunReport, ExecError> {
    let ids: Vec<String> = steps.iter().map(|s| s.id().to_string()).collect();
    let selection = select(&ids, opts)?;
    let started = SystemTime::now();
    let clock = Instant::now();
    let run_id = format!("{}-{}", journal::compact_time(started), std::process::id());
    let r = &opts.redactor;
    let mut reports: Vec<StepReport> = steps
        .iter()
        .zip(&selection)
        .map(|(s, excluded)| {
            let status = match excluded {
                Some(reason) => StepStatus::Excluded {
                    reason: reason.clone(),
                },
                None => match (opts.resume, journal.finished(s.id())) {
                    (true, Some(Entry::End { at, .. })) => {
                        StepStatus::AlreadyDone { at: at.clone() }
                    }
                    _ => match opts.unavailable.get(s.id()) {
                        Some(why) => StepStatus::Unavailable {
                            reason: r.redact(why),
                        },
                        None => StepStatus::NotRun,
                    },
                },
            };
            StepReport {
                id: s.id().to_string(),
                title: r.redact(&s.title()),
                destructive: s.destructive(),
                mutates: s.mutates(),
                status,
                duration: Duration::ZERO,
                attempts: 0,
                touched: Vec::new(),
                commands: Vec::new(),
            }
        })
        .collect();
    let mut notes = Vec::new();
    if let Some(line) = journal.torn_line() {
        notes.push(format!(
            "the journal's last line was cut short by a crash and is ignored: {}",
            r.redact(line.trim())
        ));
    }
    if !opts.resume
        && let Some((run, result)) = journal.unfinished_run()
    {
        notes.push(format!(
            "an earlier run ({run}) {}; this run starts from the beginning (--resume continues after its last finished step)",
            match result {
                Some(res) => format!("ended `{res}`"),
                None => "was interrupted".into(),
            }
        ));
    }
    let mut sop = StepOp {
        inner: op,
        redactor: r,
        yes: opts.yes,
        interactive: opts.interactive,
    };
    for n in &notes {
        sop.inner.say(&format!("note: {n}"));
    }
    let mut report = RunReport {
        command: r.redact(&opts.command),
        run: run_id.clone(),
        dry_run: opts.dry_run,
        started,
        duration: Duration::ZERO,
        steps: Vec::new(),
        status: RunStatus::Completed,
        journal: journal.path().to_path_buf(),
        report_path: None,
        notes,
    };

    if opts.dry_run {
        for (step, rep) in steps.iter().zip(reports.iter_mut()) {
            if rep.status != StepStatus::NotRun {
                continue;
            }
            match step.preview(&mut sop) {
                Ok(p) => {
                    rep.commands = r.all(&p.commands);
                    rep.status = match p.action {
                        Action::Run { touches } => {
                            rep.touched = r.all(&touches);
                            StepStatus::WouldRun {
                                touches: rep.touched.clone(),
                            }
                        }
                        Action::Skip { reason } => StepStatus::Skipped {
                            reason: r.redact(&reason),
                        },
                    };
                }
                Err(e) => {
                    rep.status = StepStatus::CannotPreview {
                        error: r.redact(&e.message),
                    }
                }
            }
        }
        report.steps = reports;
        report.duration = clock.elapsed();
        return Ok(report);
    }

    // Refusals before anything runs.
    let unavailable: Vec<(String, String)> = reports
        .iter()
        .filter_map(|s| match &s.status {
            StepStatus::Unavailable { reason } => Some((s.id.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    if !unavailable.is_empty() {
        return Err(ExecError::Unavailable { steps: unavailable });
    }
    if !opts.yes && !opts.interactive {
        let asks: Vec<String> = reports
            .iter()
            .filter(|s| {
                s.status == StepStatus::NotRun && (s.destructive || s.id.starts_with("manual:"))
            })
            .map(|s| s.id.clone())
            .collect();
        if !asks.is_empty() {
            return Err(ExecError::NeedsConfirmation { steps: asks });
        }
    }

    let to_run = reports
        .iter()
        .filter(|s| s.status == StepStatus::NotRun)
        .count();
    journal.append(Entry::RunStart {
        at: journal::rfc3339(SystemTime::now()),
        run: run_id.clone(),
        pid: std::process::id(),
        host: journal::host_name(),
        user: journal::user_name(),
        command: r.redact(&opts.command),
    })?;
    if to_run == 0 {
        sop.inner
            .say("nothing to run: every selected step is already finished");
    }
    let mut context_checked = false;
    let mut position = 0;
    for (step, rep) in steps.iter().zip(reports.iter_mut()) {
        if rep.status != StepStatus::NotRun {
            if let StepStatus::AlreadyDone { at } = &rep.status {
                sop.inner
                    .say(&format!("{}: already done ({at}, journal)", rep.id));
            }
            continue;
        }
        if report.status != RunStatus::Completed {
            continue;
        }
        position += 1;
        if step.mutates() && !context_checked {
            if let Some(check) = &opts.context_check
                && let Err(reason) = check(&mut sop)
            {
                let reason = r.redact(&reason);
                report.status = RunStatus::Refused { reason };
                continue;
            }
            context_checked = true;
        }
        sop.inner
            .say(&format!("[{position}/{to_run}] {}: {}", rep.id, rep.title));
        journal.append(Entry::Start {
            at: journal::rfc3339(SystemTime::now()),
            run: run_id.clone(),
            step: rep.id.clone(),
            title: rep.title.clone(),
        })?;
        let t0 = Instant::now();
        let result = run_step(step.as_ref(), opts, journal, &run_id, &mut sop)?;
        rep.duration = t0.elapsed();
        rep.attempts = result.attempts;
        rep.commands = result.commands;
        let (outcome, message) = match result.status {
            Done(o) => {
                rep.touched = r.all(&o.touched);
                let summary = r.redact(&o.summary);
                rep.status = StepStatus::Done {
                    summary: summary.clone(),
                };
                let mut line = format!("  done in {}", super::report::duration(rep.duration));
                if !summary.is_empty() {
                    line.push_str(&format!(": {summary}"));
                }
                if rep.duration > step.timeout() {
                    line.push_str(&format!(
                        " (longer than its timeout of {})",
                        super::report::duration(step.timeout())
                    ));
                }
                sop.inner.say(&line);
                (EndOutcome::Done, summary)
            }
            Skip(reason) => {
                let reason = r.redact(&reason);
                sop.inner.say(&format!("  skipped: {reason}"));
                rep.status = StepStatus::Skipped {
                    reason: reason.clone(),
                };
                (EndOutcome::Skipped, reason)
            }
            Fail(error) => {
                let error = r.redact(&error);
                sop.inner.say(&format!("  failed: {error}"));
                rep.status = StepStatus::Failed {
                    error: error.clone(),
                };
                report.status = RunStatus::Failed {
                    step: rep.id.clone(),
                    error: error.clone(),
                };
                (EndOutcome::Failed, error)
            }
            Decline => {
                sop.inner.say("  declined: the run stops here");
                rep.status = StepStatus::Declined;
                report.status = RunStatus::Declined {
                    step: rep.id.clone(),
                };
                (EndOutcome::Declined, "declined by the operator".into())
            }
        };
        journal.append(Entry::End {
            at: journal::rfc3339(SystemTime::now()),
            run: run_id.clone(),
            step: rep.id.clone(),
            outcome,
            duration_ms: millis(rep.duration),
            attempts: rep.attempts,
            touched: rep.touched.clone(),
            message,
        })?;
    }
    journal.append(Entry::RunEnd {
        at: journal::rfc3339(SystemTime::now()),
        run: run_id.clone(),
        result: report.status.name().into(),
    })?;
    report.steps = reports;
    report.duration = clock.elapsed();
    if opts.write_report {
        let path = report_path(journal.path(), &run_id);
        let text = super::report::markdown(&report);
        std::fs::write(&path, text).map_err(|source| ExecError::Report {
            path: path.clone(),
            source,
        })?;
        report.report_path = Some(path);
    }
    Ok(report)
}

/// `<dir>/<journal stem>-<run>.md`.
pub fn report_path(journal: &Path, run: &str) -> PathBuf {
    let stem = journal
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    journal
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(format!("{stem}-{run}.md"))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

enum Ended {
    Done(Outcome),
    Skip(String),
    Fail(String),
    Decline,
}
use Ended::{Decline, Done, Fail, Skip};

struct StepResult {
    status: Ended,
    attempts: u32,
    commands: Vec<String>,
}

/// A watchdog for one step: calls `on_stuck` unless dropped before the step's deadline
/// (plus the grace).
fn watch(
    opts: &ExecOptions,
    step: &str,
    run: &str,
    journal: &Path,
    timeout: Duration,
) -> Option<mpsc::Sender<()>> {
    let handler = opts.on_stuck.clone()?;
    let (tx, rx) = mpsc::channel::<()>();
    let stuck = Stuck {
        step: step.to_string(),
        run: run.to_string(),
        timeout,
        journal: journal.to_path_buf(),
    };
    let limit = timeout.saturating_add(opts.stuck_grace);
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            handler(&stuck);
        }
    });
    Some(tx)
}

/// One step: preview, confirmation (again if the preview grows), run; retryable failures are
/// retried with backoff while the step's timeout allows.
fn run_step(
    step: &dyn StepRunner,
    opts: &ExecOptions,
    journal: &mut Journal,
    run_id: &str,
    op: &mut StepOp<'_>,
) -> Result<StepResult, ExecError> {
    let r = &opts.redactor;
    let timeout = step.timeout();
    let start = Instant::now();
    let _watchdog = watch(opts, step.id(), run_id, journal.path(), timeout);
    let mut confirmed: Option<BTreeSet<String>> = None;
    let mut commands = Vec::new();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let error: StepError = match step.preview(op) {
            Err(e) => e,
            Ok(Preview {
                action,
                commands: c,
            }) => {
                commands = r.all(&c);
                match action {
                    Action::Skip { reason } => {
                        return Ok(StepResult {
                            status: Skip(reason),
                            attempts: attempt,
                            commands,
                        });
                    }
                    Action::Run { touches } => {
                        let shown = r.all(&touches);
                        if step.destructive() {
                            let new: Vec<&String> = shown
                                .iter()
                                .filter(|t| !confirmed.as_ref().is_some_and(|c| c.contains(*t)))
                                .collect();
                            if confirmed.is_none() || !new.is_empty() {
                                let q = question(step, &shown, confirmed.is_some(), r);
                                if !op.confirm(&q) {
                                    return Ok(StepResult {
                                        status: Decline,
                                        attempts: attempt,
                                        commands,
                                    });
                                }
                                confirmed
                                    .get_or_insert_with(BTreeSet::new)
                                    .extend(shown.iter().cloned());
                            }
                        }
                        let preview = Preview {
                            action: Action::Run { touches },
                            commands: c,
                        };
                        match step.run(&preview, op) {
                            Ok(o) => {
                                return Ok(StepResult {
                                    status: Done(o),
                                    attempts: attempt,
                                    commands,
                                });
                            }
                            Err(e) => e,
                        }
                    }
                }
            }
        };
        let message = r.redact(&error.message);
        let fail = |m: String| StepResult {
            status: Fail(m),
            attempts: attempt,
            commands: commands.clone(),
        };
        if !error.retryable {
            return Ok(fail(message));
        }
        if attempt >= opts.backoff.attempts {
            return Ok(fail(format!(
                "{message} (gave up after {attempt} attempts)"
            )));
        }
        let wait = opts.backoff.delay(attempt);
        if start.elapsed() + wait > timeout {
            return Ok(fail(format!(
                "timed out after {} ({attempt} attempt{}): {message}",
                super::report::duration(timeout),
                if attempt == 1 { "" } else { "s" }
            )));
        }
        journal.append(Entry::Retry {
            at: journal::rfc3339(SystemTime::now()),
            run: run_id.to_string(),
            step: step.id().to_string(),
            attempt,
            error: message.clone(),
            wait_ms: millis(wait),
        })?;
        op.say(&format!(
            "  attempt {attempt} failed: {message}; retrying in {}",
            super::report::duration(wait)
        ));
        (opts.sleep)(wait);
    }
}

/// The confirmation asked before a destructive step: everything it will touch, counted.
fn question(step: &dyn StepRunner, touches: &[String], again: bool, r: &Redactor) -> String {
    let mut q = String::new();
    let id = step.id();
    let title = r.redact(&step.title());
    let again = if again { " now" } else { "" };
    match touches.len() {
        0 => q.push_str(&format!(
            "`{id}` ({title}){again} names nothing it will touch.\n"
        )),
        n => {
            q.push_str(&format!(
                "`{id}` ({title}){again} will touch {n} object{}:\n",
                if n == 1 { "" } else { "s" }
            ));
            for t in touches {
                q.push_str(&format!("  {t}\n"));
            }
        }
    }
    q.push_str("Proceed?");
    q
}

/// How progress is shown on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Progress bars (a terminal).
    Bars,
    /// Plain lines, at most one per step per second (no terminal, e.g. a CI log).
    Lines,
    /// Nothing but questions (`-q`).
    Quiet,
}

impl Display {
    /// Bars on a terminal, lines otherwise, nothing under `-q`.
    pub fn detect(quiet: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bars
        } else {
            Display::Lines
        }
    }
}

/// The operator at a console: questions and information on `err` (stderr), answers read from
/// `input` (stdin), progress as bars or lines.
pub struct ConsoleOperator {
    display: Display,
    input: Box<dyn BufRead>,
    err: Box<dyn Write>,
    bars: BTreeMap<String, indicatif::ProgressBar>,
    last_line: BTreeMap<String, Instant>,
}

impl ConsoleOperator {
    /// On the process's stdin and stderr.
    pub fn stdio(display: Display) -> ConsoleOperator {
        ConsoleOperator::new(
            display,
            Box::new(std::io::BufReader::new(std::io::stdin())),
            Box::new(std::io::stderr()),
        )
    }

    pub fn new(display: Display, input: Box<dyn BufRead>, err: Box<dyn Write>) -> ConsoleOperator {
        ConsoleOperator {
            display,
            input,
            err,
            bars: BTreeMap::new(),
            last_line: BTreeMap::new(),
        }
    }

    fn finish_bars(&mut self) {
        for (_, bar) in std::mem::take(&mut self.bars) {
            bar.finish_and_clear();
        }
    }
}

impl Operator for ConsoleOperator {
    fn confirm(&mut self, question: &str) -> bool {
        self.finish_bars();
        let _ = write!(self.err, "{question} [y/N] ");
        let _ = self.err.flush();
        let mut answer = String::new();
        if self.input.read_line(&mut answer).unwrap_or(0) == 0 {
            let _ = writeln!(self.err);
            return false;
        }
        matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }

    fn progress(&mut self, step: &str, done: u64, total: u64, message: &str) {
        match self.display {
            Display::Quiet => {}
            Display::Bars => {
                let bar = self.bars.entry(step.to_string()).or_insert_with(|| {
                    let bar = indicatif::ProgressBar::new(total);
                    if let Ok(style) = indicatif::ProgressStyle::with_template(
                        "  {prefix} [{bar:30}] {pos}/{len} {elapsed} {msg}",
                    ) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar.set_prefix(step.to_string());
                    bar
                });
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(message.to_string());
                if total > 0 && done >= total {
                    bar.finish_and_clear();
                    self.bars.remove(step);
                }
            }
            Display::Lines => {
                let now = Instant::now();
                let finished = total > 0 && done >= total;
                let due = self
                    .last_line
                    .get(step)
                    .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(1));
                if due || finished {
                    self.last_line.insert(step.to_string(), now);
                    let _ = writeln!(self.err, "  {step}: {done}/{total} {message}");
                }
            }
        }
    }

    fn say(&mut self, line: &str) {
        if self.display == Display::Quiet {
            return;
        }
        if let Some(bar) = self.bars.values().next() {
            bar.suspend(|| {
                let _ = writeln!(self.err, "{line}");
            });
        } else {
            let _ = writeln!(self.err, "{line}");
        }
    }
}

impl Drop for ConsoleOperator {
    fn drop(&mut self) {
        self.finish_bars();
    }
}
