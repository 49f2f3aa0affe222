//! The engine that runs a runbook: selection (`--only`, `--from`, `--skip`, `--resume`),
//! windows (a run without `--resume` starts a new one; `--resume` continues the last
//! unfinished one and says so), the dry run, confirmations (destructive ones answered by
//! `--yes`, a person's verifications only by `--yes-manual`, every answer journaled with who
//! gave it), the proof before the first mutation (the caller's: cluster, merged revision,
//! lease), retries with exponential backoff under each step's timeout, a watchdog that counts
//! the machine's time and not a person's, the journal and the final report.
//!
//! Owns: the order of events of a run and what is recorded about it. Does not own: what a
//! step does (`steps`), where the journal lives (`journal`), the lock and the lease (`lock`,
//! `lease`, taken by the caller), how the report reads (`report`).
//!
//! Every text that leaves a step (touched objects, commands, summaries, errors, lines said to
//! the operator) goes through the run's `Redactor` before it is printed, journaled or reported.
//!
//! This file holds the run loop (`run`: windows, the proof, the journal's run entries, the
//! report); its parts are `select` (which steps a run takes), `step` (one step's attempts and
//! the operator as a step sees it) and `clock` (a step's machine time and its watchdog). How
//! a run looks on a console (`ConsoleOperator`, `Display`) is the CLI's (`cli::console`).

mod clock;
mod select;
mod step;

pub use select::select;
use step::Ended::{Decline, Done, Fail, Interrupt, Skip};
use step::{StepOp, run_step};

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::journal::{self, EndOutcome, Entry, Journal, JournalError};
pub use super::run::{RunReport, RunStatus, StepReport, StepStatus};
use super::{Action, Operator, StepRunner};

pub use crate::retry::RetryPolicy;
pub use crate::util::redact::{REDACTED, Redactor};

/// The proof run before the first mutating step: the right cluster (kube context, API server,
/// fingerprint), alone (the lease). `Err` (with the reason) stops the run before anything is
/// changed; `Ok` gives what was proved, for the journal and the report. It may ask the operator
/// (`--context NAME`, a cluster seen for the first time).
/// It gets the run's id (for the lease's holder).
pub type ProofCheck = Box<dyn Fn(&mut dyn Operator, &str) -> Result<Vec<String>, String>>;

/// Checked before every step once the proof holds (the lease is still held): `Err` stops the
/// run.
pub type Guard = Box<dyn Fn() -> Result<(), String>>;

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
    /// The run's id, when the caller made it (to name the run in its lock); else a new one.
    pub run_id: Option<String>,
    /// Preview only (read calls); never calls `run`, writes nothing.
    pub dry_run: bool,
    /// Confirm every destructive step without asking.
    pub yes: bool,
    /// Confirm a person's verifications (manual steps, a DNS record, a new cluster's
    /// identity) without asking. `yes` never does.
    pub yes_manual: bool,
    /// Whether there is a terminal to ask on. Without one, a run that has destructive steps
    /// without `yes`, or manual ones without `yes_manual`, is refused before anything runs.
    pub interactive: bool,
    /// Skip the steps the journal records as finished.
    pub resume: bool,
    /// Continue this window whatever became of its last run (`sync-homes` continues the
    /// window of its last run unless `--again`; its step skips the entries checkpointed
    /// there). Not with `resume`.
    pub window: Option<String>,
    pub from: Option<String>,
    pub only: Vec<String>,
    pub skip: Vec<String>,
    /// Steps that cannot run in this version (id → why): listed as "not available" in a dry
    /// run; a run that selects one is refused before anything runs.
    pub unavailable: BTreeMap<String, String>,
    /// The retries of a step that failed with an error that can heal and that no inner retry
    /// loop has already spent (the one policy of `retry`; the step's timeout may end them
    /// sooner).
    pub retry: RetryPolicy,
    /// How the engine waits between attempts (tests make it instant and record it).
    pub sleep: Box<dyn Fn(Duration)>,
    pub redactor: Redactor,
    /// What the run proved before it started (the merged commit, or `--allow-unmerged`):
    /// journaled and reported.
    pub notes: Vec<String>,
    pub proof: Option<ProofCheck>,
    pub guard: Option<Guard>,
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
            run_id: None,
            dry_run: false,
            yes: false,
            yes_manual: false,
            interactive: false,
            resume: false,
            window: None,
            from: None,
            only: Vec::new(),
            skip: Vec::new(),
            unavailable: BTreeMap::new(),
            retry: RetryPolicy {
                first: Duration::from_secs(1),
                ..RetryPolicy::default()
            },
            sleep: Box::new(|d| {
                super::interrupt::sleep(d);
            }),
            redactor: Redactor::default(),
            notes: Vec::new(),
            proof: None,
            guard: None,
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
    #[error("no terminal to ask for confirmation of {}; nothing was run (pass those flags to confirm without asking: --yes for destructive steps, --yes-manual for what only a person can check; or leave a step out with --skip)",
        .steps.iter().map(|(s, flag)| format!("`{s}` ({flag})")).collect::<Vec<_>>().join(", "))]
    NeedsConfirmation { steps: Vec<(String, &'static str)> },
    #[error("nothing to resume: {}; run without --resume to start a new window",
        match .last { Some(r) => format!("the last run of this runbook ({r}) completed"), None => "no run of this runbook was started yet".into() })]
    NothingToResume { last: Option<String> },
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

/// The window a run belongs to: with `--resume`, the window of the last unfinished run (an
/// error when there is none: a finished window is not silently resumed); else a new one.
fn window_of_run(
    journal: &Journal,
    opts: &ExecOptions,
    run_id: &str,
) -> Result<(String, Option<String>), ExecError> {
    if let Some(w) = &opts.window {
        return Ok((w.clone(), None));
    }
    if !opts.resume {
        return Ok((run_id.to_string(), None));
    }
    match journal.unfinished_run() {
        Some((run, result)) => {
            let window = journal.window_of(run).to_string();
            let how = match result {
                Some(r) => format!("ended `{r}`"),
                None => "was interrupted".into(),
            };
            let note = format!(
                "--resume continues the window of run {window}: its last run ({run}) {how}; steps it finished are not run again"
            );
            Ok((window, Some(note)))
        }
        None if opts.dry_run => Ok((
            run_id.to_string(),
            Some(
                "nothing to resume: no unfinished run; a run would need to start without --resume"
                    .into(),
            ),
        )),
        None => Err(ExecError::NothingToResume {
            last: journal.last_run().map(|(r, _)| r.to_string()),
        }),
    }
}

/// Runs (or, with `dry_run`, previews) a runbook. Errors are returned before anything runs
/// (usage, unavailable steps, no terminal, nothing to resume) or for a journal that cannot be
/// written; a step that fails, a refusal and a "no" at a confirmation end the run with a
/// report.
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
    let run_id = opts.run_id.clone().unwrap_or_else(|| new_run_id(started));
    let r = &opts.redactor;
    let (window, resume_note) = window_of_run(journal, opts, &run_id)?;
    let mut reports: Vec<StepReport> = steps
        .iter()
        .zip(&selection)
        .map(|(s, excluded)| {
            let status = match excluded {
                Some(reason) => StepStatus::Excluded {
                    reason: reason.clone(),
                },
                None => match (opts.resume, journal.finished(s.id(), &window)) {
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
                needs_person: s.needs_person(),
                status,
                duration: Duration::ZERO,
                attempts: 0,
                touched: Vec::new(),
                commands: Vec::new(),
                answers: Vec::new(),
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
        && opts.window.is_none()
        && let Some((run, result)) = journal.unfinished_run()
    {
        notes.push(format!(
            "an earlier run ({run}) {}; this run starts a new window from the beginning (--resume continues after its last finished step)",
            match result {
                Some(res) => format!("ended `{res}`"),
                None => "was interrupted".into(),
            }
        ));
    }
    notes.extend(resume_note);
    notes.extend(opts.notes.iter().map(|n| r.redact(n)));
    for n in &notes {
        op.say(&format!("note: {n}"));
    }
    let mut report = RunReport {
        command: r.redact(&opts.command),
        run: run_id.clone(),
        window: window.clone(),
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
        let mut sop = StepOp::new(op, journal, opts, &run_id, &window, false);
        for (step, rep) in steps.iter().zip(reports.iter_mut()) {
            if rep.status != StepStatus::NotRun {
                continue;
            }
            sop.step = rep.id.clone();
            match step.preview(&mut sop) {
                Ok(p) => {
                    rep.commands = r.redact_all(&p.commands);
                    rep.status = match p.action {
                        Action::Run { touches } => {
                            rep.touched = r.redact_all(&touches);
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
    if !opts.interactive {
        let asks: Vec<(String, &'static str)> = reports
            .iter()
            .filter(|s| s.status == StepStatus::NotRun)
            .filter_map(|s| {
                if s.needs_person && !opts.yes_manual {
                    Some((s.id.clone(), "--yes-manual"))
                } else if s.destructive && !opts.yes {
                    Some((s.id.clone(), "--yes"))
                } else {
                    None
                }
            })
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
        at: crate::util::time::rfc3339(SystemTime::now()),
        run: run_id.clone(),
        pid: std::process::id(),
        host: journal::host_name(),
        user: journal::user_name(),
        command: r.redact(&opts.command),
        window: Some(window.clone()),
    })?;
    for n in &report.notes {
        journal.append(Entry::Note {
            at: crate::util::time::rfc3339(SystemTime::now()),
            run: run_id.clone(),
            text: n.clone(),
        })?;
    }
    let mut sop = StepOp::new(op, journal, opts, &run_id, &window, true);
    if to_run == 0 {
        sop.inner
            .say("nothing to run: every selected step is already finished");
    }
    let mut proved = false;
    let mut position = 0;
    for (step, rep) in steps.iter().zip(reports.iter_mut()) {
        if rep.status != StepStatus::NotRun {
            if let StepStatus::AlreadyDone { at } = &rep.status {
                sop.inner.say(&format!(
                    "{}: already done in this window ({at}, journal)",
                    rep.id
                ));
            }
            continue;
        }
        if report.status != RunStatus::Completed {
            continue;
        }
        // A safe point: between steps.
        if super::interrupt::requested() {
            report.status = RunStatus::Interrupted {
                step: rep.id.clone(),
                signal: super::interrupt::name().into(),
            };
            continue;
        }
        position += 1;
        if step.mutates() && !proved {
            sop.step = "proof".into();
            if let Some(prove) = &opts.proof {
                match prove(&mut sop, &run_id) {
                    Err(reason) => {
                        report.status = RunStatus::Refused {
                            reason: r.redact(&reason),
                        };
                        continue;
                    }
                    Ok(proof) => {
                        for text in proof.iter().map(|n| r.redact(n)) {
                            sop.inner.say(&format!("note: {text}"));
                            sop.record(Entry::Note {
                                at: crate::util::time::rfc3339(SystemTime::now()),
                                run: run_id.clone(),
                                text: text.clone(),
                            });
                            report.notes.push(text);
                        }
                    }
                }
            }
            proved = true;
        }
        if proved
            && let Some(guard) = &opts.guard
            && let Err(reason) = guard()
        {
            report.status = RunStatus::Failed {
                step: rep.id.clone(),
                error: r.redact(&reason),
            };
            rep.status = StepStatus::Failed {
                error: r.redact(&reason),
            };
            continue;
        }
        sop.step = rep.id.clone();
        sop.answers.clear();
        sop.inner
            .say(&format!("[{position}/{to_run}] {}: {}", rep.id, rep.title));
        sop.record(Entry::Start {
            at: crate::util::time::rfc3339(SystemTime::now()),
            run: run_id.clone(),
            step: rep.id.clone(),
            title: rep.title.clone(),
        });
        let t0 = Instant::now();
        let result = run_step(step.as_ref(), opts, &run_id, &mut sop)?;
        rep.duration = t0.elapsed();
        rep.attempts = result.attempts;
        rep.commands = result.commands;
        rep.answers = std::mem::take(&mut sop.answers);
        let (outcome, message) = match result.status {
            Done(o) => {
                rep.touched = r.redact_all(&o.touched);
                let summary = r.redact(&o.summary);
                rep.status = StepStatus::Done {
                    summary: summary.clone(),
                };
                let mut line = format!("  done in {}", crate::util::time::human(rep.duration));
                if !summary.is_empty() {
                    line.push_str(&format!(": {summary}"));
                }
                if result.machine > step.timeout() {
                    line.push_str(&format!(
                        " (longer than its timeout of {})",
                        crate::util::time::human(step.timeout())
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
            Interrupt(error) => {
                let error = r.redact(&error);
                sop.inner.say(&format!(
                    "  interrupted: {error}; the run stops here (--resume runs this step again)"
                ));
                rep.status = StepStatus::Interrupted {
                    error: error.clone(),
                };
                report.status = RunStatus::Interrupted {
                    step: rep.id.clone(),
                    signal: super::interrupt::name().into(),
                };
                (EndOutcome::Interrupted, error)
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
        sop.record(Entry::End {
            at: crate::util::time::rfc3339(SystemTime::now()),
            run: run_id.clone(),
            step: rep.id.clone(),
            outcome,
            duration_ms: millis(rep.duration),
            attempts: rep.attempts,
            touched: rep.touched.clone(),
            message,
        });
        if let Some(e) = sop.journal_error.take() {
            return Err(e.into());
        }
    }
    if let Some(e) = sop.journal_error.take() {
        return Err(e.into());
    }
    let journal = sop.journal;
    journal.append(Entry::RunEnd {
        at: crate::util::time::rfc3339(SystemTime::now()),
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

/// A run's id: its start and the process (`20240501T120000Z-4242`).
pub fn new_run_id(started: SystemTime) -> String {
    format!(
        "{}-{}",
        crate::util::time::compact(started),
        std::process::id()
    )
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

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
