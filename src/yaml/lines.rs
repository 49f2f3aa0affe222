//! Line arithmetic over a text: offsets to lines and columns, and line classes (blank,
//! comment-only) that the editor's comment and blank-line rules look at.
//!
//! Owns: positions. Does not own: any YAML meaning.

#[derive(Debug, Clone)]
pub struct Lines<'a> {
    text: &'a str,
    /// Byte offset of the start of each line; a final line without a break is included.
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        if starts.len() > 1 && *starts.last().unwrap() == text.len() {
            starts.pop();
        }
        Lines { text, starts }
    }

    /// Number of lines (a text ending in a break has no empty line after it).
    pub fn count(&self) -> usize {
        if self.text.is_empty() {
            0
        } else {
            self.starts.len()
        }
    }

    /// Zero-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// One-based line and column (in characters) of a byte offset, for messages.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_of(offset);
        let col = self.text[self.starts[line]..offset].chars().count();
        (line + 1, col + 1)
    }

    pub fn start(&self, line: usize) -> usize {
        self.starts.get(line).copied().unwrap_or(self.text.len())
    }

    /// Offset just after the line's break (or the end of the text).
    pub fn end_with_break(&self, line: usize) -> usize {
        self.start(line + 1)
    }

    /// Offset of the line's break (or the end of the text).
    pub fn end(&self, line: usize) -> usize {
        let e = self.end_with_break(line);
        if e > self.start(line) && self.text.as_bytes()[e - 1] == b'\n' {
            e - 1
        } else {
            e
        }
    }

    pub fn text(&self, line: usize) -> &'a str {
        &self.text[self.start(line)..self.end(line)]
    }

    pub fn is_blank(&self, line: usize) -> bool {
        self.text(line).trim().is_empty()
    }

    pub fn is_comment(&self, line: usize) -> bool {
        self.text(line).trim_start().starts_with('#')
    }

    /// Column of the first non-blank character.
    pub fn indent(&self, line: usize) -> usize {
        let t = self.text(line);
        t.len() - t.trim_start_matches(' ').len()
    }

    /// Whether only spaces stand before `offset` on its line.
    pub fn first_on_line(&self, offset: usize) -> bool {
        let s = self.start(self.line_of(offset));
        self.text[s..offset]
            .bytes()
            .all(|b| b == b' ' || b == b'\t')
    }

    /// Whether the text ends with a line break (or is empty).
    pub fn ends_with_break(&self) -> bool {
        self.text.is_empty() || self.text.ends_with('\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let l = Lines::new("a: 1\n# c\n\nb: é\n");
        assert_eq!(l.count(), 4);
        assert_eq!(l.line_of(0), 0);
        assert_eq!(l.line_of(5), 1);
        assert_eq!(l.text(3), "b: é");
        assert!(l.is_comment(1) && l.is_blank(2));
        assert_eq!(l.line_col(l.start(3) + 5), (4, 5));
        let n = Lines::new("a\nb");
        assert_eq!(n.count(), 2);
        assert_eq!(n.end(1), 3);
        assert!(!n.ends_with_break());
        assert_eq!(Lines::new("").count(), 0);
    }
}
