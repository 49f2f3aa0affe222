//! Block scalars: `|` (literal) and `>` (folded), with their headers.
//!
//! Owns: the header (chomping and indentation indicators, a comment), detecting the content's
//! indentation, folding and chomping, and what libyaml refuses in them (a tab where the
//! indentation is expected, a document-level block scalar written flush: `TAB_HINT`,
//! `FLUSH_BLOCK_HINT`). Does not own: plain and quoted scalars (`scalar`).

use super::{FLUSH_BLOCK_HINT, Parser, Result, SyntaxError, TAB_HINT, is_blank, is_break};
use crate::yaml::tree::{Node, NodeKind, Scalar, ScalarStyle};

impl Parser<'_> {
    /// A `|` or `>` block scalar whose header is at the current position.
    pub(super) fn block_scalar(&mut self, n: i64) -> Result<Node> {
        #[derive(PartialEq)]
        enum Chomp {
            Strip,
            Clip,
            Keep,
        }
        let start = self.pos;
        let literal = self.peek() == b'|';
        self.pos += 1;
        let mut chomp = Chomp::Clip;
        let mut increment = 0usize;
        for _ in 0..2 {
            match self.peek() {
                b'+' if chomp == Chomp::Clip => chomp = Chomp::Keep,
                b'-' if chomp == Chomp::Clip => chomp = Chomp::Strip,
                d @ b'1'..=b'9' if increment == 0 => increment = (d - b'0') as usize,
                _ => break,
            }
            self.pos += 1;
        }
        let header_end = self.pos;
        self.skip_blanks();
        if self.peek() == b'#' {
            if !is_blank(self.at(self.pos - 1)) {
                return self.err(
                    self.pos,
                    "a comment must be separated from the block scalar header by a space",
                );
            }
            self.skip_to_break();
        }
        if !(self.eof() || is_break(self.peek())) {
            return self.err(self.pos, "invalid block scalar header");
        }
        let mut content_end = header_end;
        // The content's column: the enclosing block's plus the header's increment, or found
        // from the first non-empty line (0 for a document-level scalar written flush).
        let mut indent = (increment > 0).then(|| (n + increment as i64).max(0) as usize);
        let min_indent = (n + 1).max(0) as usize;
        let mut string = String::new();
        let mut leading_break = String::new();
        let mut trailing_breaks = String::new();
        let mut leading_blank = false;
        if !self.eof() {
            self.consume_break();
            self.block_scalar_breaks(&mut indent, &mut trailing_breaks, min_indent)?;
            while Some(self.col(self.pos)) == indent && !self.eof() && !self.at_doc_marker(self.pos)
            {
                let trailing_blank = is_blank(self.peek());
                if !literal && leading_break.starts_with('\n') && !leading_blank && !trailing_blank
                {
                    if trailing_breaks.is_empty() {
                        string.push(' ');
                    }
                    leading_break.clear();
                } else {
                    string.push_str(&leading_break);
                    leading_break.clear();
                }
                string.push_str(&trailing_breaks);
                trailing_breaks.clear();
                leading_blank = is_blank(self.peek());
                let ls = self.pos;
                while !self.eof() && !is_break(self.peek()) {
                    self.pos += 1;
                }
                string.push_str(&self.src[ls..self.pos]);
                content_end = self.pos;
                if self.eof() {
                    break;
                }
                self.consume_break();
                leading_break.push('\n');
                self.block_scalar_breaks(&mut indent, &mut trailing_breaks, min_indent)?;
            }
        }
        if n < 0 && indent == Some(0) && !string.is_empty() {
            return Err(SyntaxError {
                offset: header_end,
                message: "a document-level block scalar whose lines start at column 1".into(),
                libyaml: Some(FLUSH_BLOCK_HINT),
            });
        }
        if self.eof()
            && !self.src.ends_with(['\n', '\r'])
            && self.src[self.line_start(self.pos)..]
                .trim_matches(' ')
                .is_empty()
            && self.line_start(self.pos) < self.pos
        {
            return self.err(
                self.line_start(self.pos),
                "the block scalar ends the file with a line of only spaces and no line break; \
                 YAML readers disagree on its value (libyaml reads no final line break, the YAML \
                 1.2 reference parser one), so the editor will not edit this file: end it with a \
                 line break",
            );
        }
        if chomp != Chomp::Strip {
            string.push_str(&leading_break);
        }
        if chomp == Chomp::Keep {
            string.push_str(&trailing_breaks);
        }
        // A carriage return before each break is not content.
        if content_end > header_end && self.at(content_end - 1) == b'\r' {
            content_end -= 1;
        }
        self.pos = content_end;
        Ok(Node {
            span: start..content_end,
            anchor: None,
            tag: None,
            kind: NodeKind::Scalar(Scalar {
                style: if literal {
                    ScalarStyle::Literal
                } else {
                    ScalarStyle::Folded
                },
                value: string,
                content: start..content_end,
            }),
        })
    }

    fn consume_break(&mut self) {
        if self.peek() == b'\r' {
            self.pos += 1;
        }
        if self.peek() == b'\n' {
            self.pos += 1;
        }
    }

    /// Eats the indentation and empty lines before a block scalar's next content line; fixes
    /// the indentation from the first content line when the header gave none.
    fn block_scalar_breaks(
        &mut self,
        indent: &mut Option<usize>,
        breaks: &mut String,
        min_indent: usize,
    ) -> Result<()> {
        let mut max_indent = 0;
        let below = |p: &Self, i: &Option<usize>| i.is_none_or(|i| p.col(p.pos) < i);
        loop {
            while below(self, indent) && self.peek() == b' ' {
                self.pos += 1;
            }
            max_indent = max_indent.max(self.col(self.pos));
            if below(self, indent) && self.peek() == b'\t' {
                return Err(SyntaxError {
                    offset: self.pos,
                    message: "a tab where a block scalar's indentation is expected".into(),
                    libyaml: Some(TAB_HINT),
                });
            }
            if !is_break(self.peek()) {
                break;
            }
            self.consume_break();
            breaks.push('\n');
        }
        if indent.is_none() {
            *indent = Some(max_indent.max(min_indent));
        }
        Ok(())
    }
}
