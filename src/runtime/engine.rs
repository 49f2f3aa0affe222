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

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use super::journal::{self, EndOutcome, Entry, Journal, JournalError};
pub use super::run::{RunReport, RunStatus, StepReport, StepStatus};
use super::{Action, Operator, Outcome, Preview, StepError, StepRunner};

pub use crate::redact::{REDACTED, Redactor};
pub use crate::retry::RetryPolicy;

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

/// Who answered a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Operator,
    Yes,
    YesManual,
    NoTerminal,
}

impl By {
    fn journal_name(self) -> &'static str {
        match self {
            By::Operator => "operator",
            By::Yes => "--yes",
            By::YesManual => "--yes-manual",
            By::NoTerminal => "no terminal",
        }
    }

    /// How the report says it.
    fn describe(self, answer: bool) -> String {
        match (self, answer) {
            (By::Operator, true) => "confirmed by the operator".into(),
            (By::Operator, false) => "declined by the operator".into(),
            (By::Yes, _) => "auto-confirmed (--yes)".into(),
            (By::YesManual, _) => "auto-confirmed (--yes-manual)".into(),
            (By::NoTerminal, _) => "not confirmed (no terminal to ask on)".into(),
        }
    }
}

/// A step's time as the watchdog counts it: the machine's, without the time spent waiting for
/// a person's answer.
#[derive(Debug, Clone)]
struct StepClock(Arc<std::sync::Mutex<ClockState>>);

#[derive(Debug)]
struct ClockState {
    started: Instant,
    /// Time spent waiting for answers, finished questions only.
    person: Duration,
    /// A question is being asked since then.
    asking_since: Option<Instant>,
}

impl StepClock {
    fn start() -> StepClock {
        StepClock(Arc::new(std::sync::Mutex::new(ClockState {
            started: Instant::now(),
            person: Duration::ZERO,
            asking_since: None,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The machine's time so far.
    fn machine(&self) -> Duration {
        let s = self.state();
        let asking = s.asking_since.map(|t| t.elapsed()).unwrap_or_default();
        s.started
            .elapsed()
            .saturating_sub(s.person)
            .saturating_sub(asking)
    }

    fn asking(&self) -> bool {
        self.state().asking_since.is_some()
    }

    fn pause(&self) {
        self.state().asking_since.get_or_insert_with(Instant::now);
    }

    fn resume(&self) {
        let mut s = self.state();
        if let Some(t) = s.asking_since.take() {
            s.person += t.elapsed();
        }
    }
}

/// The operator as a step sees it: every text redacted; destructive confirmations answered by
/// `--yes`, a person's verifications by `--yes-manual` only, both refused when there is no
/// terminal; every answer journaled; the step's clock paused while a person is asked; the
/// checkpoints of the window.
struct StepOp<'a> {
    inner: &'a mut dyn Operator,
    journal: &'a mut Journal,
    redactor: &'a Redactor,
    run: String,
    window: String,
    yes: bool,
    yes_manual: bool,
    interactive: bool,
    /// The step being run (`proof` before the first one).
    step: String,
    clock: Option<StepClock>,
    /// The step's answers, for the report.
    answers: Vec<String>,
    /// A journal entry that could not be written (reported when the step ends).
    journal_error: Option<JournalError>,
}

impl<'a> StepOp<'a> {
    /// The operator of a run: `answering` is false for a dry run, which never asks.
    fn new(
        inner: &'a mut dyn Operator,
        journal: &'a mut Journal,
        opts: &'a ExecOptions,
        run: &str,
        window: &str,
        answering: bool,
    ) -> StepOp<'a> {
        StepOp {
            inner,
            journal,
            redactor: &opts.redactor,
            run: run.to_string(),
            window: window.to_string(),
            yes: answering && opts.yes,
            yes_manual: answering && opts.yes_manual,
            interactive: answering && opts.interactive,
            step: "proof".into(),
            clock: None,
            answers: Vec::new(),
            journal_error: None,
        }
    }

    fn ask(&mut self, question: &str, manual: bool) -> bool {
        let q = self.redactor.redact(question);
        let (by, answer) = if !manual && self.yes {
            self.inner.say(&format!("{q} yes (--yes)"));
            (By::Yes, true)
        } else if manual && self.yes_manual {
            self.inner.say(&format!("{q} yes (--yes-manual)"));
            (By::YesManual, true)
        } else if !self.interactive {
            let hint = if manual {
                "a person must confirm this: run on a terminal, or pass --yes-manual"
            } else {
                "pass --yes"
            };
            self.inner
                .say(&format!("{q} no (no terminal to ask on; {hint})"));
            (By::NoTerminal, false)
        } else {
            if let Some(c) = &self.clock {
                c.pause();
            }
            let a = self.inner.confirm(&q);
            if let Some(c) = &self.clock {
                c.resume();
            }
            (By::Operator, a)
        };
        self.answers.push(by.describe(answer));
        let entry = Entry::Confirm {
            at: crate::time::rfc3339(SystemTime::now()),
            run: self.run.clone(),
            step: self.step.clone(),
            by: by.journal_name().into(),
            answer,
            question: q.lines().next().unwrap_or_default().to_string(),
        };
        self.record(entry);
        answer
    }

    fn record(&mut self, entry: Entry) {
        if let Err(e) = self.journal.append(entry)
            && self.journal_error.is_none()
        {
            self.journal_error = Some(e);
        }
    }
}

impl Operator for StepOp<'_> {
    fn confirm(&mut self, question: &str) -> bool {
        self.ask(question, false)
    }

    fn verify(&mut self, question: &str) -> bool {
        self.ask(question, true)
    }

    fn progress(&mut self, step: &str, done: u64, total: u64, message: &str) {
        let m = self.redactor.redact(message);
        self.inner.progress(step, done, total, &m);
    }

    fn say(&mut self, line: &str) {
        let l = self.redactor.redact(line);
        self.inner.say(&l);
    }

    fn checkpoint(&mut self, item: &str) {
        self.checkpoint_all(&[item]);
    }

    fn checkpoint_all(&mut self, items: &[&str]) {
        let at = crate::time::rfc3339(SystemTime::now());
        let entries = items
            .iter()
            .map(|item| Entry::Checkpoint {
                at: at.clone(),
                run: self.run.clone(),
                step: self.step.clone(),
                item: self.redactor.redact(item),
            })
            .collect();
        if let Err(e) = self.journal.append_all(entries)
            && self.journal_error.is_none()
        {
            self.journal_error = Some(e);
        }
    }

    fn checkpoints(&self) -> BTreeSet<String> {
        self.journal.checkpoints(&self.step, &self.window)
    }

    fn done_in_earlier_window(&self) -> Option<String> {
        self.journal
            .done_in_another_window(&self.step, &self.window)
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
        at: crate::time::rfc3339(SystemTime::now()),
        run: run_id.clone(),
        pid: std::process::id(),
        host: journal::host_name(),
        user: journal::user_name(),
        command: r.redact(&opts.command),
        window: Some(window.clone()),
    })?;
    for n in &report.notes {
        journal.append(Entry::Note {
            at: crate::time::rfc3339(SystemTime::now()),
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
                                at: crate::time::rfc3339(SystemTime::now()),
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
            at: crate::time::rfc3339(SystemTime::now()),
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
                let mut line = format!("  done in {}", crate::time::human(rep.duration));
                if !summary.is_empty() {
                    line.push_str(&format!(": {summary}"));
                }
                if result.machine > step.timeout() {
                    line.push_str(&format!(
                        " (longer than its timeout of {})",
                        crate::time::human(step.timeout())
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
            at: crate::time::rfc3339(SystemTime::now()),
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
        at: crate::time::rfc3339(SystemTime::now()),
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
    format!("{}-{}", crate::time::compact(started), std::process::id())
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
    /// Stopped at a safe point by an interrupt.
    Interrupt(String),
    Decline,
}
use Ended::{Decline, Done, Fail, Interrupt, Skip};

struct StepResult {
    status: Ended,
    attempts: u32,
    commands: Vec<String>,
    /// The machine's time in the step (a person's answers left out).
    machine: Duration,
}

/// A watchdog for one step: calls `on_stuck` when the step's machine time passes its timeout
/// (plus the grace), unless dropped first. Time spent waiting for a person's answer does not
/// count; a manual step has none.
fn watch(
    opts: &ExecOptions,
    step: &dyn StepRunner,
    run: &str,
    journal: &Path,
    clock: &StepClock,
) -> Option<mpsc::Sender<()>> {
    let handler = opts.on_stuck.clone()?;
    if step.needs_person() {
        return None;
    }
    let (tx, rx) = mpsc::channel::<()>();
    let timeout = step.timeout();
    let stuck = Stuck {
        step: step.id().to_string(),
        run: run.to_string(),
        timeout,
        journal: journal.to_path_buf(),
    };
    let limit = timeout.saturating_add(opts.stuck_grace);
    let poll = (limit / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
    let clock = clock.clone();
    std::thread::spawn(move || {
        loop {
            match rx.recv_timeout(poll) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if !clock.asking() && clock.machine() >= limit {
                        handler(&stuck);
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    Some(tx)
}

/// One step: preview, confirmation (again if the preview grows), run; retryable failures are
/// retried with backoff while the step's timeout allows. The timeout and the watchdog count
/// the machine's time: a question waiting for its answer stops the clock.
fn run_step(
    step: &dyn StepRunner,
    opts: &ExecOptions,
    run_id: &str,
    op: &mut StepOp<'_>,
) -> Result<StepResult, ExecError> {
    let r = &opts.redactor;
    let timeout = step.timeout();
    let clock = StepClock::start();
    op.clock = Some(clock.clone());
    let journal_path = op.journal.path().to_path_buf();
    let _watchdog = watch(opts, step, run_id, &journal_path, &clock);
    // A retry inside the step ends with the step's own time.
    let _limit = {
        let clock = clock.clone();
        super::step_time::set(move || timeout.saturating_sub(clock.machine()))
    };
    let result = attempts(step, opts, run_id, op, &clock, timeout, r);
    op.clock = None;
    result
}

fn attempts(
    step: &dyn StepRunner,
    opts: &ExecOptions,
    run_id: &str,
    op: &mut StepOp<'_>,
    clock: &StepClock,
    timeout: Duration,
    r: &Redactor,
) -> Result<StepResult, ExecError> {
    let mut confirmed: Option<BTreeSet<String>> = None;
    let mut commands = Vec::new();
    let mut attempt = 0u32;
    let mut waited = Duration::ZERO;
    let end = |status: Ended, attempt: u32, commands: Vec<String>| StepResult {
        status,
        attempts: attempt,
        commands,
        machine: clock.machine(),
    };
    loop {
        attempt += 1;
        let error: StepError = match step.preview(op) {
            Err(e) => e,
            Ok(Preview {
                action,
                commands: c,
            }) => {
                commands = r.redact_all(&c);
                match action {
                    Action::Skip { reason } => {
                        return Ok(end(Skip(reason), attempt, commands));
                    }
                    Action::Run { touches } => {
                        let shown = r.redact_all(&touches);
                        if step.destructive() {
                            let new: Vec<&String> = shown
                                .iter()
                                .filter(|t| !confirmed.as_ref().is_some_and(|c| c.contains(*t)))
                                .collect();
                            if confirmed.is_none() || !new.is_empty() {
                                let q = question(step, &shown, confirmed.is_some(), r);
                                if !op.confirm(&q) {
                                    return Ok(end(Decline, attempt, commands));
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
                            Ok(o) => return Ok(end(Done(o), attempt, commands)),
                            Err(e) => e,
                        }
                    }
                }
            }
        };
        let message = r.redact(&error.message);
        // A step that stops at a safe point because of an interrupt fails with whatever it
        // was doing; the interrupt is what the journal records.
        if super::interrupt::requested() {
            return Ok(end(
                Interrupt(format!("{} ({message})", super::interrupt::stopped())),
                attempt,
                commands.clone(),
            ));
        }
        if !error.retryable {
            return Ok(end(Fail(message), attempt, commands.clone()));
        }
        // The time spent: the machine's, or the pauses when the sleeper is a test's.
        let spent = clock.machine().max(waited);
        let wait = opts.retry.pause(attempt, None);
        if spent + wait > opts.retry.budget && spent + wait <= timeout {
            return Ok(end(
                Fail(format!(
                    "{message}{}",
                    crate::retry::spent_note(attempt, spent)
                )),
                attempt,
                commands.clone(),
            ));
        }
        if spent + wait > timeout {
            return Ok(end(
                Fail(format!(
                    "timed out after {} ({attempt} attempt{}): {message}",
                    crate::time::human(timeout),
                    if attempt == 1 { "" } else { "s" }
                )),
                attempt,
                commands.clone(),
            ));
        }
        op.journal.append(Entry::Retry {
            at: crate::time::rfc3339(SystemTime::now()),
            run: run_id.to_string(),
            step: step.id().to_string(),
            attempt,
            error: message.clone(),
            wait_ms: millis(wait),
        })?;
        op.say(&format!(
            "  attempt {attempt} failed: {message}; retrying in {}",
            crate::time::human(wait)
        ));
        (opts.sleep)(wait);
        waited += wait;
        if super::interrupt::requested() {
            return Ok(end(
                Interrupt(format!(
                    "{} while waiting to retry ({message})",
                    super::interrupt::stopped()
                )),
                attempt,
                commands.clone(),
            ));
        }
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

/// The controlling terminal, opened for the questions, when the process has one: answers are
/// read from it (not stdin) and questions written to it (not stderr), so that
/// `exec … 2>&1 | tee window.log` still asks a person.
pub fn open_terminal() -> Option<(std::fs::File, std::fs::File)> {
    let read = std::fs::File::open("/dev/tty").ok()?;
    if !read.is_terminal() {
        return None;
    }
    let write = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/tty")
        .ok()?;
    Some((read, write))
}

/// The operator at a console: information and progress on `err` (stderr); questions on the
/// terminal when there is one, and their answers read from it; progress as bars or lines.
pub struct ConsoleOperator {
    display: Display,
    input: Box<dyn BufRead>,
    /// Where questions are written (the terminal, or `err`).
    prompt: Option<Box<dyn Write>>,
    err: Box<dyn Write>,
    /// Copy each question and its answer to `err`: it is a log, not the terminal.
    log_answers: bool,
    bars: BTreeMap<String, indicatif::ProgressBar>,
    last_line: BTreeMap<String, Instant>,
}

impl ConsoleOperator {
    /// Questions on the controlling terminal (`/dev/tty`), everything else on stderr; without
    /// a terminal, every question is answered no.
    pub fn terminal(display: Display) -> ConsoleOperator {
        let stderr_is_tty = std::io::stderr().is_terminal();
        match open_terminal() {
            Some((read, write)) => {
                let mut op = ConsoleOperator::new(
                    display,
                    Box::new(std::io::BufReader::new(read)),
                    Box::new(std::io::stderr()),
                );
                op.prompt = Some(Box::new(write));
                op.log_answers = !stderr_is_tty;
                op
            }
            None => ConsoleOperator::new(
                display,
                Box::new(std::io::empty()),
                Box::new(std::io::stderr()),
            ),
        }
    }

    /// Questions and information on `err`, answers read from `input`.
    pub fn new(display: Display, input: Box<dyn BufRead>, err: Box<dyn Write>) -> ConsoleOperator {
        ConsoleOperator {
            display,
            input,
            prompt: None,
            err,
            log_answers: false,
            bars: BTreeMap::new(),
            last_line: BTreeMap::new(),
        }
    }

    /// Questions on `terminal`, answers from `input`, information on `err` (with a copy of
    /// each question and answer, as a log).
    pub fn with_terminal(
        display: Display,
        input: Box<dyn BufRead>,
        terminal: Box<dyn Write>,
        err: Box<dyn Write>,
    ) -> ConsoleOperator {
        let mut op = ConsoleOperator::new(display, input, err);
        op.prompt = Some(terminal);
        op.log_answers = true;
        op
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
        let out: &mut dyn Write = match &mut self.prompt {
            Some(t) => t.as_mut(),
            None => self.err.as_mut(),
        };
        let _ = write!(out, "{question} [y/N] ");
        let _ = out.flush();
        let mut answer = String::new();
        let read = self.input.read_line(&mut answer).unwrap_or(0);
        if read == 0 {
            let _ = writeln!(out);
        }
        let yes = read > 0 && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
        if self.log_answers {
            let _ = writeln!(
                self.err,
                "{question} {} (answered on the terminal)",
                if yes { "yes" } else { "no" }
            );
        }
        yes
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
