//! The terminal palette: one `anstyle` style per meaning (an error, a warning, a path, an
//! added diff line, a migration state…), and `paint` to apply one when a stream is coloured.
//!
//! Owns: which colour means what. Does not own: whether a stream is coloured (`cli::output`
//! decides, per stream, from `--color`, `NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`, `TERM` and
//! whether the stream is a terminal) nor the texts (each renderer). Depends on nothing else in
//! the crate, so every layer may use it.

use anstyle::{AnsiColor, Effects, Style};

const fn fg(color: AnsiColor) -> Style {
    Style::new().fg_color(Some(anstyle::Color::Ansi(color)))
}

/// `error` labels and error carets.
pub const ERROR: Style = fg(AnsiColor::Red).effects(Effects::BOLD);
/// `warning` labels and warning carets.
pub const WARNING: Style = fg(AnsiColor::Yellow).effects(Effects::BOLD);
/// `hint`, `note` and `help` labels.
pub const NOTE: Style = fg(AnsiColor::Cyan).effects(Effects::BOLD);
/// File names and headings.
pub const EMPHASIS: Style = Style::new().effects(Effects::BOLD);
/// Rule ids, line-number gutters and other secondary text.
pub const DIM: Style = Style::new().effects(Effects::DIMMED);
/// A success (a state reached, a step done).
pub const GOOD: Style = fg(AnsiColor::Green).effects(Effects::BOLD);
/// Something in progress or waiting for the next step.
pub const PENDING: Style = fg(AnsiColor::Yellow);

/// Unified diffs, as `git diff --color` shows them.
pub mod diff {
    use super::*;
    pub const HEADER: Style = Style::new().effects(Effects::BOLD);
    pub const HUNK: Style = fg(AnsiColor::Cyan);
    pub const ADDED: Style = fg(AnsiColor::Green);
    pub const REMOVED: Style = fg(AnsiColor::Red);
}

/// `text` in `style` when `color` is on, else `text` unchanged.
pub fn paint(style: Style, text: &str, color: bool) -> String {
    if color && !text.is_empty() {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paints_only_when_coloured() {
        assert_eq!(paint(ERROR, "error", false), "error");
        assert_eq!(paint(ERROR, "error", true), "\x1b[1m\x1b[31merror\x1b[0m");
        assert_eq!(paint(ERROR, "", true), "");
    }
}
