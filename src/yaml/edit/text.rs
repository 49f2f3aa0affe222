//! The text of new keys, scalars and blocks, in the file's style.
//!
//! Owns: a key as written on a new line, a scalar after its key (plain, quoted or a block
//! scalar), a new sequence item, whether a value is a one-line flow collection, and
//! re-indenting a block of YAML to the file's indentation. Does not own: the quoting rules
//! (`scalar.rs`), detecting the file's style (`style.rs`) or where the text goes (the
//! planners).

use std::ops::Range;

use super::NewValue;
use crate::yaml::data::Data;
use crate::yaml::document::Document;
use crate::yaml::scalar::{ScalarValue, block_text, plain_safe, single_quoted};
use crate::yaml::style::Style;
use crate::yaml::tree::{Node, NodeKind, ScalarStyle};

/// A key as written in a new line: plain when that reads back as the same string.
pub(super) fn key_text(key: &str, style: &Style) -> String {
    if plain_safe(key, false) {
        key.to_string()
    } else if style.fallback_quote == ScalarStyle::SingleQuoted
        && !key.chars().any(char::is_control)
    {
        single_quoted(key)
    } else {
        crate::yaml::scalar::double_quoted(key)
    }
}

/// A scalar for a new line whose nested lines would start at `child_col`.
pub(super) fn scalar_text(v: &ScalarValue, child_col: usize, style: &Style) -> String {
    if let Data::Str(s) = &v.data
        && s.contains('\n')
        && v.explicit_style.is_none()
        && style.block_scalars
        && let Some(t) = block_text(s, child_col)
    {
        return t;
    }
    v.inline_text(style.quote, style.fallback_quote, false)
}

/// Lines of a new sequence item whose dash stands at `col`.
pub(super) fn item_block(value: &NewValue, col: usize, style: &Style) -> String {
    let pad = " ".repeat(col);
    match value {
        NewValue::Scalar(v) => format!("{pad}- {}\n", scalar_text(v, col + 2, style)),
        NewValue::Yaml(t) => {
            let body = reindent(t, col + 2, style);
            format!("{pad}- {}", &body[col + 2..])
        }
    }
}

/// A flow collection on one line (`{user: "x", db: "y"}`), written after its key as it is.
pub(super) fn is_one_line_flow(text: &str) -> bool {
    let t = text.trim();
    !t.contains('\n') && (t.starts_with('{') || t.starts_with('['))
}

/// `text` (a block of YAML) laid out in the file's style with its top collection at column
/// `col`: nested mappings `style.indent` deeper than their key, sequences under a key flush or
/// indented as the file writes them, items' content two columns right of the dash. Lines
/// inside a collection (scalar continuations, block scalars, comments) move with it.
pub(super) fn reindent(text: &str, col: usize, style: &Style) -> String {
    /// (span, shift) of every block collection, parents before children.
    fn visit(node: &Node, new_col: usize, style: &Style, out: &mut Vec<(Range<usize>, isize)>) {
        let (indent, children): (usize, Vec<&Node>) = match &node.kind {
            NodeKind::Mapping(m) if !m.flow => {
                (m.indent, m.entries.iter().map(|e| &e.value).collect())
            }
            NodeKind::Sequence(s) if !s.flow => {
                (s.indent, s.items.iter().map(|i| &i.value).collect())
            }
            _ => return,
        };
        out.push((node.span.clone(), new_col as isize - indent as isize));
        let in_mapping = matches!(node.kind, NodeKind::Mapping(_));
        for child in children {
            let child_col = match &child.kind {
                NodeKind::Sequence(_) if in_mapping && style.flush_sequences => new_col,
                _ if in_mapping => new_col + style.indent,
                _ => new_col + 2,
            };
            visit(child, child_col, style, out);
        }
    }
    let min = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    let mut shifts = Vec::new();
    if let Ok(doc) = Document::parse(text)
        && let Some(root) = doc.root(0)
    {
        visit(root, col, style, &mut shifts);
    }
    let base = col as isize - min as isize;
    let mut out = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let start = offset;
        offset += line.len();
        if body.trim().is_empty() {
            if offset <= text.trim_end_matches('\n').len() {
                out.push('\n');
            }
            continue;
        }
        let old = body.len() - body.trim_start_matches(' ').len();
        let shift = shifts
            .iter()
            .rev()
            .find(|(r, _)| r.start <= start + old && start + old < r.end.max(r.start + 1))
            .map_or(base, |(_, d)| *d);
        let new = (old as isize + shift).max(0) as usize;
        out.push_str(&" ".repeat(new));
        out.push_str(&body[old..]);
        out.push('\n');
    }
    out
}
