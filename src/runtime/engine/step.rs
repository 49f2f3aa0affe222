//! One step of a run: its preview, the confirmation (asked again when the preview grows), its
//! run, and the retries of a failure that can heal under the step's timeout (`run_step`); the
//! operator as a step sees it (`StepOp`: every text redacted, answers given by `--yes` or
//! `--yes-manual` or a person and journaled with who gave them (`By`), checkpoints of the
//! window).
//!
//! Owns: the order of a step's events and what is journaled about them. Does not own: the run
//! (`engine`), the step's clock (`clock`), what the step does (`steps`).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::clock::{StepClock, watch};
use super::{ExecError, ExecOptions, Redactor, millis};
use crate::runtime::journal::{Entry, Journal, JournalError};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};

/// Who answered a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum By {
    Operator,
    Yes,
    YesManual,
    NoTerminal,
}

impl By {
    pub(super) fn journal_name(self) -> &'static str {
        match self {
            By::Operator => "operator",
            By::Yes => "--yes",
            By::YesManual => "--yes-manual",
            By::NoTerminal => "no terminal",
        }
    }

    /// How the report says it.
    pub(super) fn describe(self, answer: bool) -> String {
        match (self, answer) {
            (By::Operator, true) => "confirmed by the operator".into(),
            (By::Operator, false) => "declined by the operator".into(),
            (By::Yes, _) => "auto-confirmed (--yes)".into(),
            (By::YesManual, _) => "auto-confirmed (--yes-manual)".into(),
            (By::NoTerminal, _) => "not confirmed (no terminal to ask on)".into(),
        }
    }
}

/// The operator as a step sees it: every text redacted; destructive confirmations answered by
/// `--yes`, a person's verifications by `--yes-manual` only, both refused when there is no
/// terminal; every answer journaled; the step's clock paused while a person is asked; the
/// checkpoints of the window.
pub(super) struct StepOp<'a> {
    pub(super) inner: &'a mut dyn Operator,
    pub(super) journal: &'a mut Journal,
    pub(super) redactor: &'a Redactor,
    pub(super) run: String,
    pub(super) window: String,
    pub(super) yes: bool,
    pub(super) yes_manual: bool,
    pub(super) interactive: bool,
    /// The step being run (`proof` before the first one).
    pub(super) step: String,
    pub(super) clock: Option<StepClock>,
    /// The step's answers, for the report.
    pub(super) answers: Vec<String>,
    /// A journal entry that could not be written (reported when the step ends).
    pub(super) journal_error: Option<JournalError>,
}

impl<'a> StepOp<'a> {
    /// The operator of a run: `answering` is false for a dry run, which never asks.
    pub(super) fn new(
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

    pub(super) fn ask(&mut self, question: &str, manual: bool) -> bool {
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
            at: crate::util::time::rfc3339(SystemTime::now()),
            run: self.run.clone(),
            step: self.step.clone(),
            by: by.journal_name().into(),
            answer,
            question: q.lines().next().unwrap_or_default().to_string(),
        };
        self.record(entry);
        answer
    }

    pub(super) fn record(&mut self, entry: Entry) {
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
        let at = crate::util::time::rfc3339(SystemTime::now());
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

pub(super) enum Ended {
    Done(Outcome),
    Skip(String),
    Fail(String),
    /// Stopped at a safe point by an interrupt.
    Interrupt(String),
    Decline,
}
use Ended::{Decline, Done, Fail, Interrupt, Skip};

pub(super) struct StepResult {
    pub(super) status: Ended,
    pub(super) attempts: u32,
    pub(super) commands: Vec<String>,
    /// The machine's time in the step (a person's answers left out).
    pub(super) machine: Duration,
}

/// One step: preview, confirmation (again if the preview grows), run; retryable failures are
/// retried with backoff while the step's timeout allows. The timeout and the watchdog count
/// the machine's time: a question waiting for its answer stops the clock.
pub(super) fn run_step(
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
        crate::runtime::step_time::set(move || timeout.saturating_sub(clock.machine()))
    };
    let result = attempts(step, opts, run_id, op, &clock, timeout, r);
    op.clock = None;
    result
}

pub(super) fn attempts(
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
        if crate::runtime::interrupt::requested() {
            return Ok(end(
                Interrupt(format!(
                    "{} ({message})",
                    crate::runtime::interrupt::stopped()
                )),
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
                    crate::util::time::human(timeout),
                    if attempt == 1 { "" } else { "s" }
                )),
                attempt,
                commands.clone(),
            ));
        }
        op.journal.append(Entry::Retry {
            at: crate::util::time::rfc3339(SystemTime::now()),
            run: run_id.to_string(),
            step: step.id().to_string(),
            attempt,
            error: message.clone(),
            wait_ms: millis(wait),
        })?;
        op.say(&format!(
            "  attempt {attempt} failed: {message}; retrying in {}",
            crate::util::time::human(wait)
        ));
        (opts.sleep)(wait);
        waited += wait;
        if crate::runtime::interrupt::requested() {
            return Ok(end(
                Interrupt(format!(
                    "{} while waiting to retry ({message})",
                    crate::runtime::interrupt::stopped()
                )),
                attempt,
                commands.clone(),
            ));
        }
    }
}

/// The confirmation asked before a destructive step: everything it will touch, counted.
pub(super) fn question(
    step: &dyn StepRunner,
    touches: &[String],
    again: bool,
    r: &Redactor,
) -> String {
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
