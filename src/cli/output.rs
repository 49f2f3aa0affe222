//! Where command output goes: results on stdout, notes and errors on stderr, with colour and
//! verbosity applied in one place.
//!
//! Colour is decided per stream, since they often go to different places (`plan … >
//! change.diff` in a terminal: the diff must reach the file without escape codes while the
//! warnings on the terminal stay coloured). `--color always` and `--color never` decide for
//! both; `--color auto` (the default) asks `anstream` about each stream, which follows the
//! conventions users set: `NO_COLOR` (non-empty) turns colour off, `CLICOLOR_FORCE` (non-empty,
//! not `0`) turns it on even for a file or a pipe, `CLICOLOR=0` turns it off, and otherwise a
//! terminal gets colour unless `TERM=dumb`. The same choice reaches clap's own help and errors
//! (`cli::main`).
//!
//! Text is written as it is: a stream without colour is never stripped of escape codes,
//! because a result such as `edit get`'s value must come out byte for byte. Renderers style
//! their text only when the stream they write to is coloured.

use std::io::Write;

use super::ColorChoice;
use crate::util::style;

pub struct Output {
    stdout_color: bool,
    stderr_color: bool,
    pub verbose: bool,
    pub quiet: bool,
}

/// Whether `stream` gets colour under `choice`.
fn decide<S: anstream::stream::RawStream>(choice: ColorChoice, stream: &S) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never,
    }
}

impl Output {
    pub fn new(choice: ColorChoice, verbose: bool, quiet: bool) -> Output {
        Output {
            stdout_color: decide(choice, &std::io::stdout()),
            stderr_color: decide(choice, &std::io::stderr()),
            verbose,
            quiet,
        }
    }

    /// Whether results on stdout are coloured (diffs, findings, tables).
    pub fn color(&self) -> bool {
        self.stdout_color
    }

    /// Whether notes, warnings and errors on stderr are coloured.
    pub fn stderr_color(&self) -> bool {
        self.stderr_color
    }

    /// A result line on stdout.
    pub fn line(&mut self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }

    /// An informational note on stderr (hidden by `-q`).
    pub fn note(&mut self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A detail on stderr (shown with `-v`).
    pub fn detail(&mut self, text: &str) {
        if self.verbose {
            eprintln!("{text}");
        }
    }

    /// A warning on stderr (shown even with `-q`).
    pub fn warning(&mut self, text: &str) {
        eprintln!(
            "{}: {text}",
            style::paint(style::WARNING, "warning", self.stderr_color)
        );
    }

    /// The lines that go with an error or a warning (findings, a list), on stderr and shown
    /// even with `-q`; styled by the caller according to `stderr_color`.
    pub fn error_detail(&mut self, text: &str) {
        eprintln!("{text}");
    }

    /// An error on stderr.
    pub fn error(&mut self, text: &str) {
        eprintln!(
            "{}: {text}",
            style::paint(style::ERROR, "error", self.stderr_color)
        );
    }
}
