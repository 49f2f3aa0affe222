//! Plain and quoted scalars, in block and in flow context.
//!
//! Owns: where a plain scalar ends and how its lines fold, double-quoted scalars with their
//! escapes, single-quoted scalars, and the line folding both quoted styles share. Does not
//! own: block scalars (`block_scalar`) or what a plain scalar means (`resolve.rs`).

use super::{Parser, Result, is_blank, is_break, is_flow_indicator, is_ws_or_end, scalar_node};
use crate::yaml::tree::{Node, ScalarStyle};

impl Parser<'_> {
    /// A plain scalar in block context, possibly continued on more-indented lines.
    pub(super) fn plain_block(&mut self, n: i64) -> Result<Node> {
        self.plain(Some(n))
    }

    /// A plain scalar inside a flow collection, possibly continued on later lines.
    pub(super) fn plain_flow(&mut self) -> Result<Node> {
        self.plain(None)
    }

    /// A plain scalar: in block context (`block_indent` is the enclosing block's indentation,
    /// which continuation lines must exceed) or in flow context (`None`), folded over lines.
    fn plain(&mut self, block_indent: Option<i64>) -> Result<Node> {
        let flow = block_indent.is_none();
        let start = self.pos;
        let mut value = String::new();
        let mut end = self.plain_line(&mut value, flow)?;
        loop {
            // `self.pos` is where the line's content stopped (a comment, `: `, an indicator or
            // the break).
            let mut q = self.pos;
            while is_blank(self.at(q)) {
                q += 1;
            }
            if !flow && self.at(q) == b':' {
                return self.err(q, "mapping values are not allowed on this line");
            }
            if !is_break(self.at(q)) {
                break;
            }
            let mut breaks = 0;
            loop {
                if self.at(q) == b'\r' {
                    q += 1;
                }
                if self.at(q) != b'\n' {
                    break;
                }
                q += 1;
                breaks += 1;
                while is_blank(self.at(q)) {
                    q += 1;
                }
            }
            let c = self.at(q);
            let ends = match block_indent {
                Some(n) => (self.col(q) as i64) <= n || self.at_doc_marker(q),
                None => is_flow_indicator(c) || c == b':',
            };
            if c == 0 || c == b'#' || ends {
                break;
            }
            if breaks == 1 {
                value.push(' ');
            } else {
                value.extend(std::iter::repeat_n('\n', breaks - 1));
            }
            self.pos = q;
            end = self.plain_line(&mut value, flow)?;
        }
        self.pos = end;
        Ok(scalar_node(start..end, ScalarStyle::Plain, value))
    }

    /// Reads one line of a plain scalar into `value`; returns the end of its content (trailing
    /// blanks excluded) and leaves `self.pos` where the content stopped.
    fn plain_line(&mut self, value: &mut String, flow: bool) -> Result<usize> {
        let s = self.pos;
        let mut prev_blank = false;
        loop {
            let c = self.peek();
            if c == 0 || is_break(c) || (c == b'#' && prev_blank) {
                break;
            }
            if c == b':' {
                let next = self.at(self.pos + 1);
                if is_ws_or_end(next) || (flow && is_flow_indicator(next)) {
                    break;
                }
            }
            if flow && is_flow_indicator(c) {
                break;
            }
            prev_blank = is_blank(c);
            self.pos += 1;
        }
        let e = self.pos_trim_back(self.pos).max(s);
        value.push_str(&self.src[s..e]);
        Ok(e)
    }

    pub(super) fn double_quoted(&mut self) -> Result<Node> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        // Length of `value` before the run of unescaped blanks it ends with.
        let mut trim_to: Option<usize> = None;
        loop {
            let c = self.peek();
            match c {
                0 => return self.err(start, "unterminated double-quoted string"),
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    trim_to = None;
                    let e = self.at(self.pos + 1);
                    self.pos += 2;
                    let simple = match e {
                        b'0' => Some('\0'),
                        b'a' => Some('\x07'),
                        b'b' => Some('\x08'),
                        b't' | b'\t' => Some('\t'),
                        b'n' => Some('\n'),
                        b'v' => Some('\x0b'),
                        b'f' => Some('\x0c'),
                        b'r' => Some('\r'),
                        b'e' => Some('\x1b'),
                        b' ' => Some(' '),
                        b'"' => Some('"'),
                        b'/' => Some('/'),
                        b'\\' => Some('\\'),
                        b'N' => Some('\u{85}'),
                        b'_' => Some('\u{a0}'),
                        _ => None,
                    };
                    if let Some(ch) = simple {
                        value.push(ch);
                        continue;
                    }
                    match e {
                        b'L' => value.push('\u{2028}'),
                        b'P' => value.push('\u{2029}'),
                        b'x' | b'u' | b'U' => {
                            let len = match e {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let hex = self.src.get(self.pos..self.pos + len).unwrap_or("");
                            let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                            match ch {
                                Some(ch) if hex.len() == len => value.push(ch),
                                _ => {
                                    return self.err(self.pos - 2, "invalid escape sequence");
                                }
                            }
                            self.pos += len;
                        }
                        b'\r' | b'\n' => {
                            if e == b'\r' && self.peek() == b'\n' {
                                self.pos += 1;
                            }
                            self.fold_breaks(&mut value, true);
                        }
                        _ => return self.err(self.pos - 2, "invalid escape sequence"),
                    }
                }
                _ => self.quoted_text(c, &mut value, &mut trim_to),
            }
        }
        Ok(scalar_node(
            start..self.pos,
            ScalarStyle::DoubleQuoted,
            value,
        ))
    }

    /// Inside a quoted scalar: a line break (folded, with the blanks before it trimmed), a
    /// blank (kept unless a break follows), or any other character.
    fn quoted_text(&mut self, c: u8, value: &mut String, trim_to: &mut Option<usize>) {
        match c {
            b'\r' | b'\n' => {
                if let Some(t) = trim_to.take() {
                    value.truncate(t);
                }
                if c == b'\r' && self.at(self.pos + 1) == b'\n' {
                    self.pos += 1;
                }
                self.pos += 1;
                self.fold_breaks(value, false);
            }
            b' ' | b'\t' => {
                if trim_to.is_none() {
                    *trim_to = Some(value.len());
                }
                value.push(c as char);
                self.pos += 1;
            }
            _ => {
                *trim_to = None;
                let ch = self.src[self.pos..].chars().next().unwrap_or('\0');
                value.push(ch);
                self.pos += ch.len_utf8();
            }
        }
    }

    /// After a line break inside a quoted scalar: skips the next lines' leading blanks and
    /// empty lines, and folds (one break: a space; more: one newline per empty line). After an
    /// escaped break (`escaped`), the first break adds nothing.
    fn fold_breaks(&mut self, value: &mut String, escaped: bool) {
        let mut empty = 0;
        loop {
            self.skip_blanks();
            match self.peek() {
                b'\r' if self.at(self.pos + 1) == b'\n' => {
                    self.pos += 2;
                    empty += 1
                }
                b'\n' => {
                    self.pos += 1;
                    empty += 1
                }
                _ => break,
            }
        }
        if empty == 0 {
            if !escaped {
                value.push(' ');
            }
        } else {
            value.extend(std::iter::repeat_n('\n', empty));
        }
    }

    pub(super) fn single_quoted(&mut self) -> Result<Node> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut trim_to: Option<usize> = None;
        loop {
            let c = self.peek();
            match c {
                0 => return self.err(start, "unterminated single-quoted string"),
                b'\'' if self.at(self.pos + 1) == b'\'' => {
                    trim_to = None;
                    value.push('\'');
                    self.pos += 2;
                }
                b'\'' => {
                    self.pos += 1;
                    break;
                }
                _ => self.quoted_text(c, &mut value, &mut trim_to),
            }
        }
        Ok(scalar_node(
            start..self.pos,
            ScalarStyle::SingleQuoted,
            value,
        ))
    }
}
