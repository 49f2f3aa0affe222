//! A run on the console: progress as bars on a terminal, plain lines in a log, nothing under
//! `-q` (`Display`); questions on the controlling terminal and their answers read from it,
//! so that `exec … 2>&1 | tee window.log` still asks a person (`ConsoleOperator`,
//! `open_terminal`).
//!
//! Owns: how progress, lines and questions look and where they go. Does not own: what is
//! asked or said (the engine and the steps), nor redaction (the engine's, before a text gets
//! here).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::runtime::Operator;

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
