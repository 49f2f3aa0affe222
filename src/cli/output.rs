//! Where command output goes: results on stdout, notes and errors on stderr, with color
//! and verbosity applied in one place.

use std::io::{IsTerminal, Write};

use super::ColorChoice;

pub struct Output {
    color: bool,
    pub verbose: bool,
    pub quiet: bool,
}

impl Output {
    pub fn new(choice: ColorChoice, verbose: bool, quiet: bool) -> Output {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Output {
            color,
            verbose,
            quiet,
        }
    }

    /// Whether output is colored (`--color`, or a terminal without `NO_COLOR`).
    pub fn color(&self) -> bool {
        self.color
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
        if self.color {
            eprintln!("\x1b[1;33mwarning\x1b[0m: {text}");
        } else {
            eprintln!("warning: {text}");
        }
    }

    pub fn error(&mut self, text: &str) {
        if self.color {
            eprintln!("\x1b[1;31merror\x1b[0m: {text}");
        } else {
            eprintln!("error: {text}");
        }
    }
}
