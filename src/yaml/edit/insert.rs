//! Where a new key goes in a block mapping, and the lines that hold it.
//!
//! Owns: `insert_position` (the group of entries the key fits best, judged by equal values,
//! the same kind of value (`Kind`: scalar, mapping, sequence) and a sorted key range; sorted
//! position in a sorted group, else after the group) and `key_block` (the new key's lines,
//! with the mappings on the way to the value). Does not own: deciding to insert (`set`),
//! which lines an entry owns (`region`) or writing scalars and blocks (`text`).

use std::ops::Range;

use super::NewValue;
use super::text::{is_one_line_flow, key_text, reindent, scalar_text};
use crate::yaml::data::Data;
use crate::yaml::document::Document;
use crate::yaml::load;
use crate::yaml::style::Style;
use crate::yaml::tree::{Mapping, Node, NodeKind};

impl Document {
    /// Where a new key goes in a block mapping, and the region the insertion may change.
    ///
    /// Entries form groups separated by blank lines (Phalanx puts disabled applications in a
    /// group of their own above the sorted enabled ones). The key joins the group that fits
    /// best: values equal to the new one, then values of the same kind (scalar, mapping,
    /// sequence), then a sorted group whose key range holds the key; ties go to the later
    /// group. In a sorted group it goes in sorted position, else after the group's last entry.
    pub(super) fn insert_position(
        &self,
        m: &Mapping,
        key: &str,
        value: &Data,
        depth: usize,
    ) -> (usize, Range<usize>) {
        let l = self.lines();
        let n = m.entries.len();
        let first_line = self.entry_owned_start(m, 0).saturating_sub(1);
        let last_entry_end = self.kept_lines_end(
            self.last_line(m.entries[n - 1].content_end()),
            &m.entries[n - 1].value,
        );
        let last_line = (self.trailing_comments_end(last_entry_end, m.indent) + 1)
            .min(l.count().saturating_sub(1));
        let region = self.line_region(first_line, last_line.max(first_line));
        let name = |i: usize| m.entries[i].key.scalar_text().unwrap_or("").to_string();
        let mut groups: Vec<Vec<usize>> = vec![vec![0]];
        for j in 1..n {
            let prev_end = self.last_line(m.entries[j - 1].content_end());
            let os = self.entry_owned_start(m, j);
            if (prev_end + 1..os).any(|i| l.is_blank(i)) {
                groups.push(Vec::new());
            }
            groups.last_mut().unwrap().push(j);
        }
        // What is written under `key`: a mapping when more keys follow, else the value.
        let new_kind = if depth > 1 {
            Kind::Mapping
        } else {
            Kind::of_data(value)
        };
        let sorted = |g: &[usize]| g.len() >= 2 && g.windows(2).all(|w| name(w[0]) <= name(w[1]));
        let score = |g: &[usize]| {
            let same_values = depth == 1
                && new_kind == Kind::Scalar
                && g.iter()
                    .all(|&i| scalar_data(&m.entries[i].value).as_ref() == Some(value));
            let same_kind = g
                .iter()
                .all(|&i| Kind::of_node(&m.entries[i].value) == new_kind);
            let in_range =
                sorted(g) && name(g[0]).as_str() <= key && key <= name(*g.last().unwrap()).as_str();
            4 * usize::from(same_values) + 2 * usize::from(same_kind) + usize::from(in_range)
        };
        let (_, g) = groups
            .iter()
            .enumerate()
            .max_by_key(|(i, g)| (score(g), *i))
            .expect("a block mapping has entries");
        let after = |i: usize| {
            let end = self.kept_lines_end(
                self.last_line(m.entries[i].content_end()),
                &m.entries[i].value,
            );
            l.end_with_break(self.trailing_comments_end(end, m.indent))
        };
        let last = *g.last().unwrap();
        let offset = if sorted(g) {
            match g.iter().find(|&&i| name(i).as_str() > key) {
                Some(&i) if !l.first_on_line(m.entries[i].key.span.start) => {
                    m.entries[i].key.span.start
                }
                Some(&i) => l.start(self.entry_owned_start(m, i)),
                None => after(last),
            }
        } else {
            after(last)
        };
        (offset, region)
    }

    /// Lines for `keys` nested from column `col`, the last holding `value`.
    pub(super) fn key_block(
        &self,
        keys: &[String],
        col: usize,
        value: &NewValue,
        style: &Style,
    ) -> String {
        let mut out = String::new();
        for (j, key) in keys.iter().enumerate() {
            let pad = " ".repeat(col + j * style.indent);
            out.push_str(&pad);
            out.push_str(&key_text(key, style));
            out.push(':');
            if j + 1 < keys.len() {
                out.push('\n');
                continue;
            }
            let child_col = col + (j + 1) * style.indent;
            match value {
                NewValue::Scalar(v) => {
                    out.push(' ');
                    out.push_str(&scalar_text(v, child_col, style));
                    out.push('\n');
                }
                NewValue::Yaml(t) if is_one_line_flow(t) => {
                    out.push(' ');
                    out.push_str(t.trim());
                    out.push('\n');
                }
                NewValue::Yaml(t) => {
                    let seq = t.trim_start().starts_with("- ") || t.trim() == "-";
                    let c = if seq && style.flush_sequences {
                        col + j * style.indent
                    } else {
                        child_col
                    };
                    out.push('\n');
                    out.push_str(&reindent(t, c, style));
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Mapping,
    Sequence,
}

impl Kind {
    fn of_data(d: &Data) -> Kind {
        match d {
            Data::Map(_) => Kind::Mapping,
            Data::Seq(_) => Kind::Sequence,
            _ => Kind::Scalar,
        }
    }

    fn of_node(n: &Node) -> Kind {
        match &n.kind {
            NodeKind::Mapping(_) => Kind::Mapping,
            NodeKind::Sequence(_) => Kind::Sequence,
            _ => Kind::Scalar,
        }
    }
}

/// The data of a scalar node (`None` for collections and aliases).
fn scalar_data(n: &Node) -> Option<Data> {
    match &n.kind {
        NodeKind::Scalar(s) => Some(load::resolve_scalar(&s.value, s.style, n.tag.as_deref())),
        NodeKind::Null => Some(Data::Null),
        _ => None,
    }
}
