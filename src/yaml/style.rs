//! The house style of a file, read from what is already there, so that new text looks like
//! its neighbours: indentation step, flush or indented sequences, and the prevailing quote
//! style of string values.
//!
//! Owns: detection. Does not own: writing (`scalar.rs`, `edit/`).

use std::collections::HashMap;

use super::data::Data;
use super::load::resolve_scalar;
use super::tree::{Doc, Node, NodeKind, ScalarStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Spaces per nesting level of block mappings.
    pub indent: usize,
    /// Whether a sequence under a key starts at the key's column (`- ` flush) rather than
    /// indented below it.
    pub flush_sequences: bool,
    /// The most common style of string values: plain, single- or double-quoted.
    pub quote: ScalarStyle,
    /// The quote used when a string must be quoted: the file's most common quote.
    pub fallback_quote: ScalarStyle,
    /// Whether a new multi-line string may be written as a literal block (`|`); when not, it
    /// is double-quoted.
    pub block_scalars: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            indent: 2,
            flush_sequences: false,
            quote: ScalarStyle::Plain,
            fallback_quote: ScalarStyle::DoubleQuoted,
            block_scalars: true,
        }
    }
}

/// Reads the style of the documents; defaults where the file shows nothing.
pub fn detect(docs: &[Doc]) -> Style {
    let mut indents: HashMap<usize, usize> = HashMap::new();
    let (mut flush, mut indented) = (0usize, 0usize);
    let mut quotes: HashMap<ScalarStyle, usize> = HashMap::new();
    for doc in docs {
        let Some(root) = &doc.root else { continue };
        root.walk(&mut |node| {
            let NodeKind::Mapping(m) = &node.kind else {
                if let NodeKind::Sequence(s) = &node.kind {
                    for item in &s.items {
                        count_quote(&item.value, &mut quotes);
                    }
                }
                return;
            };
            if m.flow {
                return;
            }
            for e in &m.entries {
                count_quote(&e.value, &mut quotes);
                match &e.value.kind {
                    NodeKind::Mapping(child) if !child.flow && child.indent > m.indent => {
                        *indents.entry(child.indent - m.indent).or_default() += 1;
                    }
                    NodeKind::Sequence(s) if !s.flow => {
                        if s.indent == m.indent {
                            flush += 1;
                        } else {
                            indented += 1;
                        }
                    }
                    _ => {}
                }
            }
        });
    }
    let mut style = Style::default();
    if let Some((&step, _)) = indents
        .iter()
        .max_by_key(|&(step, n)| (*n, usize::MAX - step))
    {
        style.indent = step;
    }
    style.flush_sequences = flush > indented;
    let count = |s| quotes.get(&s).copied().unwrap_or(0);
    let (plain, single, double) = (
        count(ScalarStyle::Plain),
        count(ScalarStyle::SingleQuoted),
        count(ScalarStyle::DoubleQuoted),
    );
    style.fallback_quote = if single > double {
        ScalarStyle::SingleQuoted
    } else {
        ScalarStyle::DoubleQuoted
    };
    style.quote = if plain >= single.max(double) {
        ScalarStyle::Plain
    } else {
        style.fallback_quote
    };
    style
}

fn count_quote(value: &Node, quotes: &mut HashMap<ScalarStyle, usize>) {
    if let NodeKind::Scalar(s) = &value.kind {
        let is_string = match s.style {
            ScalarStyle::Plain => matches!(
                resolve_scalar(&s.value, s.style, value.tag.as_deref()),
                Data::Str(_)
            ),
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => true,
            _ => false,
        };
        if is_string {
            *quotes.entry(s.style).or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse::parse_stream;

    fn style(text: &str) -> Style {
        detect(&parse_stream(text).unwrap())
    }

    #[test]
    fn reads_indentation_sequences_and_quotes() {
        let s = style("a:\n    b: \"x\"\n    c: \"y\"\nl:\n    - 1\n");
        assert_eq!(s.indent, 4);
        assert!(!s.flush_sequences);
        assert_eq!(s.quote, ScalarStyle::DoubleQuoted);
        let s = style("hubs:\n- name: a\n  domain: b\n");
        assert!(s.flush_sequences);
        assert_eq!(s.quote, ScalarStyle::Plain);
        let s = style("a: 'x'\nb: 'y'\nc: z\nd: true\n");
        assert_eq!(s.quote, ScalarStyle::SingleQuoted);
        assert_eq!(style(""), Style::default());
    }
}
