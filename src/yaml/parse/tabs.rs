//! The tabs YAML 1.2 allows but libyaml rejects, found over a parsed stream.
//!
//! Owns: `check_tabs`, which walks the finished tree to know which lines start inside a
//! scalar or a flow collection, and reports the first tab libyaml would refuse with `TAB_HINT`.
//! Does not own: the tabs the parser itself refuses while reading (a block scalar's
//! indentation, in `block_scalar`) or parsing anything.

use super::{Result, SyntaxError, TAB_HINT, is_blank, is_break};
use crate::yaml::tree::{Doc, Node, NodeKind, ScalarStyle, Span};

/// Tabs that YAML 1.2 allows but libyaml rejects, outside flow collections and the content
/// of quoted and block scalars: in the whitespace that starts a line (a line of only
/// whitespace included), and right after a block sequence's `-`. libyaml lets the whitespace
/// that follows a plain scalar hold tabs at or right of the enclosing block's indentation plus
/// one, and skips tabs on the line after a `%` directive; so does this check.
pub(super) fn check_tabs(text: &str, docs: &[Doc]) -> Result<()> {
    /// Byte ranges whose line starts are inside a scalar or a flow collection (`None`), or
    /// after a plain scalar (`Some(column)`: tabs left of it are refused).
    struct Zones {
        ranges: Vec<(Span, Option<usize>)>,
        dashes: Vec<usize>,
    }
    fn visit(node: &Node, min_col: usize, b: &[u8], z: &mut Zones) {
        match &node.kind {
            NodeKind::Scalar(s) if s.style == ScalarStyle::Plain => {
                let mut end = s.content.end;
                while end < b.len() && (is_blank(b[end]) || is_break(b[end])) {
                    end += 1;
                }
                z.ranges.push((s.content.start..end + 1, Some(min_col)));
            }
            NodeKind::Scalar(s) => z.ranges.push((s.content.clone(), None)),
            NodeKind::Mapping(m) if m.flow => z.ranges.push((node.span.clone(), None)),
            NodeKind::Sequence(s) if s.flow => z.ranges.push((node.span.clone(), None)),
            NodeKind::Mapping(m) => {
                for e in &m.entries {
                    visit(&e.value, m.indent + 1, b, z);
                }
            }
            NodeKind::Sequence(s) => {
                z.dashes.extend(s.items.iter().filter_map(|i| i.dash));
                for i in &s.items {
                    visit(&i.value, s.indent + 1, b, z);
                }
            }
            NodeKind::Null | NodeKind::Alias(_) => {}
        }
    }
    if !text.contains('\t') {
        return Ok(());
    }
    let b = text.as_bytes();
    let mut z = Zones {
        ranges: Vec::new(),
        dashes: Vec::new(),
    };
    for doc in docs {
        if let Some(root) = &doc.root {
            visit(root, 0, b, &mut z);
        }
    }
    let tab_error = |offset: usize, message: &str| {
        Err(SyntaxError {
            offset,
            message: message.into(),
            libyaml: Some(TAB_HINT),
        })
    };
    let mut line_start = 0;
    let mut after_directive = false;
    while line_start < b.len() {
        let zone = z
            .ranges
            .iter()
            .find(|(r, _)| r.start < line_start && line_start < r.end);
        let mut i = line_start;
        while i < b.len() && is_blank(b[i]) {
            i += 1;
        }
        let min_col = match zone {
            Some((_, None)) => None,
            Some((_, Some(c))) => Some(*c),
            None if after_directive => None,
            None => Some(usize::MAX),
        };
        if let Some(min_col) = min_col
            && let Some(t) = b[line_start..i].iter().position(|&c| c == b'\t')
            && t < min_col
        {
            let blank_line = i == b.len() || is_break(b[i]);
            return tab_error(
                line_start + t,
                if blank_line {
                    "a tab on a line of only whitespace"
                } else {
                    "a tab in the indentation of a line"
                },
            );
        }
        after_directive = b.get(line_start) == Some(&b'%');
        line_start = match b[i..].iter().position(|&c| c == b'\n') {
            Some(n) => i + n + 1,
            None => b.len(),
        };
    }
    for dash in z.dashes {
        let mut i = dash + 1;
        while i < b.len() && is_blank(b[i]) {
            if b[i] == b'\t' {
                return tab_error(i, "a tab after a sequence item's '-'");
            }
            i += 1;
        }
    }
    Ok(())
}
