//! Which lines a node owns: the positions every planner works from.
//!
//! Owns: the floor above a block's first child, the first line a key or item owns (its
//! comment block included), the last line of a value (a keeping block scalar's trailing blank
//! lines, the comments indented under it), whole-line regions, and the splices that insert
//! or remove whole lines. Does not own: deciding what to insert or remove (the planners).

use std::ops::Range;

use super::Splice;
use crate::yaml::document::Document;
use crate::yaml::lines::Lines;
use crate::yaml::tree::{Mapping, Node, NodeKind, ScalarStyle, Sequence};

impl Document {
    /// The first line that may hold comments owned by the first child of a block whose
    /// header ends at `header_end` (the line after `key:` or `- `, or the document's first).
    fn floor_line(&self, header_end: usize) -> usize {
        let l = self.lines();
        if header_end == 0 || self.text.as_bytes()[header_end - 1] == b'\n' {
            l.line_of(header_end)
        } else {
            l.line_of(header_end) + 1
        }
    }

    /// The first line of the comment block directly above `first_line`, not above `floor`.
    pub(super) fn owned_start(l: &Lines<'_>, first_line: usize, floor: usize) -> usize {
        let mut s = first_line;
        while s > floor && l.is_comment(s - 1) {
            s -= 1;
        }
        s
    }

    pub(super) fn last_line(&self, end: usize) -> usize {
        self.lines().line_of(end.saturating_sub(1))
    }

    /// The byte range of whole lines `first..=last`.
    pub(super) fn line_region(&self, first: usize, last: usize) -> Range<usize> {
        let l = self.lines();
        l.start(first)..l.end_with_break(last)
    }

    pub(super) fn entry_floor(&self, m: &Mapping, i: usize) -> usize {
        if i == 0 {
            self.floor_line(m.header_end)
        } else {
            self.last_line(m.entries[i - 1].content_end()) + 1
        }
    }

    pub(super) fn item_floor(&self, s: &Sequence, j: usize) -> usize {
        if j == 0 {
            self.floor_line(s.header_end)
        } else {
            self.last_line(s.items[j - 1].content_end()) + 1
        }
    }

    pub(super) fn entry_owned_start(&self, m: &Mapping, i: usize) -> usize {
        let l = self.lines();
        Self::owned_start(
            &l,
            l.line_of(m.entries[i].key.span.start),
            self.entry_floor(m, i),
        )
    }

    /// Inserting whole lines at `offset` (a line start, or the end of a text without a final
    /// break): the splice, keeping a missing final break missing.
    pub(super) fn insert_lines(&self, offset: usize, block: &str) -> Splice {
        if offset == self.text.len() && !self.text.is_empty() && !self.text.ends_with('\n') {
            Splice {
                range: offset..offset,
                text: format!("\n{}", block.strip_suffix('\n').unwrap_or(block)),
            }
        } else {
            Splice {
                range: offset..offset,
                text: block.to_string(),
            }
        }
    }

    /// Removing whole lines `first..=last`, plus the blank lines after them when a blank line
    /// or the header of the block (`first_child`) stands before them, so that no double blank
    /// line, nor a blank line right under the header, is left; when nothing but blank lines
    /// follows, the blank lines before go too, so that the file does not end with one.
    pub(super) fn remove_lines(
        &self,
        mut first: usize,
        mut last: usize,
        first_child: bool,
    ) -> (Splice, Range<usize>) {
        let l = self.lines();
        let separated = first_child || (first > 0 && l.is_blank(first - 1));
        if separated {
            while last + 1 < l.count() && l.is_blank(last + 1) {
                last += 1;
            }
        }
        if (last + 1..l.count()).all(|i| l.is_blank(i)) {
            last = l.count().saturating_sub(1).max(last);
            while first > 0 && l.is_blank(first - 1) {
                first -= 1;
            }
        }
        let mut range = self.line_region(first, last);
        if range.end == self.text.len() && !l.ends_with_break() && first > 0 {
            range = l.end(first - 1)..self.text.len();
        }
        let region = self.line_region(first.saturating_sub(1), last);
        (
            Splice {
                range,
                text: String::new(),
            },
            region,
        )
    }

    /// The last line of a value ending on `line`: for a `|+` or `>+` block scalar, whose
    /// trailing empty lines are part of its value, the last of those; new text goes after them.
    pub(super) fn kept_lines_end(&self, line: usize, value: &Node) -> usize {
        let NodeKind::Scalar(s) = &value.kind else {
            return line;
        };
        let header = self.text[s.content.clone()].lines().next().unwrap_or("");
        let header = header.split(" #").next().unwrap_or(header);
        if !matches!(s.style, ScalarStyle::Literal | ScalarStyle::Folded) || !header.contains('+') {
            return line;
        }
        let l = self.lines();
        let mut end = line;
        while end + 1 < l.count() && l.is_blank(end + 1) {
            end += 1;
        }
        end
    }

    /// The last line of the comment lines right below `line` that are indented deeper than
    /// `indent`: they close the block above (commented-out keys, notes), so new text goes
    /// after them.
    pub(super) fn trailing_comments_end(&self, line: usize, indent: usize) -> usize {
        let l = self.lines();
        let mut end = line;
        while end + 1 < l.count() && l.is_comment(end + 1) && l.indent(end + 1) > indent {
            end += 1;
        }
        end
    }
}
