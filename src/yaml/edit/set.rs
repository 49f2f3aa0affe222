//! `set`: planning the replacement of a value, and the keys created on the way to it.
//!
//! Owns: `set_plan` (walking the path, creating missing mappings, opening an empty value or
//! `{}` into a block), replacing a value in place (a scalar keeps its quoting style where
//! the new value allows it, a block scalar its header comment), keeping, dropping or refusing
//! the old value's tag (`retag`), and the indentation of a new block scalar. Does not own: where a new key goes (`insert`), the new text itself (`text`) or
//! applying the plan (`verify`).

use std::ops::Range;

use super::{NewValue, Plan, Splice};
use crate::yaml::data::{Change, Data};
use crate::yaml::document::{Document, EditError, Resolved, Via};
use crate::yaml::path::{Path, Segment};
use crate::yaml::resolve;
use crate::yaml::scalar::{ScalarValue, block_text};
use crate::yaml::style::Style;
use crate::yaml::tree::{Node, NodeKind, ScalarStyle};

impl Document {
    pub(super) fn set_plan(
        &self,
        doc: usize,
        path: &[Segment],
        value: &NewValue,
        style: &Style,
    ) -> Result<Plan, EditError> {
        let style = *style;
        let shown = Path(path.to_vec()).to_string();
        if path.is_empty() {
            return Err(EditError::Unsupported {
                path: shown,
                reason: "cannot set the document root".into(),
            });
        }
        let data = value.data().map_err(|reason| EditError::Unsupported {
            path: shown.clone(),
            reason,
        })?;
        let change = Change::Set {
            path: path.to_vec(),
            value: data.clone(),
        };
        let err = match self.resolve(doc, path) {
            Ok(r) => return self.replace_plan(doc, &r, path, value, change, &style),
            Err(
                e @ (EditError::NotFound { .. } | EditError::ThroughScalar { kind: "null", .. }),
            ) => e,
            Err(e) => return Err(e),
        };
        // The longest prefix that exists is where the new keys go.
        let mut k = path.len();
        let container = loop {
            k -= 1;
            if let Ok(r) = self.resolve(doc, &path[..k]) {
                break Some(r);
            }
            if k == 0 {
                break None;
            }
        };
        let mut keys = Vec::new();
        for seg in &path[k..] {
            match seg {
                Segment::Key(key) => keys.push(key.clone()),
                _ => return Err(err),
            }
        }
        let Some(r) = container else {
            // An empty document: the new keys start it, at its end (the next `---` or the end
            // of the file). A document that does not exist is not created.
            let at = match self.docs.get(doc) {
                Some(_) => self
                    .docs
                    .get(doc + 1)
                    .and_then(|d| d.marker)
                    .unwrap_or(self.text.len()),
                None if self.docs.is_empty() && doc == 0 => self.text.len(),
                None => {
                    return Err(EditError::NotFound {
                        path: shown,
                        reason: format!(
                            "document {doc} does not exist (the file has {})",
                            self.docs.len()
                        ),
                    });
                }
            };
            let block = self.key_block(&keys, 0, value, &style);
            let l = self.lines();
            let line = l.line_of(at.saturating_sub(1));
            return Ok(Plan {
                splices: vec![self.insert_lines(at, &block)],
                region: self
                    .line_region(line, (line + 1).min(l.count().saturating_sub(1)).max(line)),
                change,
            });
        };
        self.check_anchors(doc, &r, &shown)?;
        let target = r.target();
        match &target.kind {
            NodeKind::Mapping(m) if !m.flow => {
                let (offset, region) = self.insert_position(m, &keys[0], &data, keys.len());
                let block = self.key_block(&keys, m.indent, value, &style);
                let first = &m.entries[0].key;
                let splice = if offset == first.span.start && !self.lines().first_on_line(offset) {
                    // Before the first key of a mapping that starts on a `- ` line: the new key
                    // takes its place after the dash, and the old first key moves down.
                    let pad = " ".repeat(m.indent);
                    Splice {
                        range: offset..offset,
                        text: format!("{}{pad}", block.strip_prefix(&pad).unwrap_or(&block)),
                    }
                } else {
                    self.insert_lines(offset, &block)
                };
                Ok(Plan {
                    splices: vec![splice],
                    region,
                    change,
                })
            }
            NodeKind::Mapping(m) if !m.entries.is_empty() => Err(EditError::Flow {
                path: shown,
                line: self.line_of(target.span.start),
            }),
            NodeKind::Mapping(_) | NodeKind::Null | NodeKind::Scalar(_)
                if target.is_null() || target.as_mapping().is_some() =>
            {
                let (splices, region, col) = self.open_empty_value(&r, &shown, false, &style)?;
                let block = self.key_block(&keys, col, value, &style);
                let mut splices = splices;
                let at = splices.pop().expect("an insertion point").range.start;
                splices.push(self.insert_lines(at, &block));
                Ok(Plan {
                    splices,
                    region,
                    change,
                })
            }
            _ => Err(err),
        }
    }

    /// For a value that is empty (`key:`, `~`, `null`, `{}` or `[]`) in a block mapping: the
    /// splice removing the empty token, an empty splice marking where the block goes (the
    /// start of the next line), the region, and the column of the new block.
    pub(super) fn open_empty_value(
        &self,
        r: &Resolved<'_>,
        shown: &str,
        sequence: bool,
        style: &Style,
    ) -> Result<(Vec<Splice>, Range<usize>, usize), EditError> {
        let target = r.target();
        let Some(Via::Entry(parent, i)) = r.via() else {
            return Err(EditError::Unsupported {
                path: shown.to_string(),
                reason: "the empty value is not under a key of a block mapping".into(),
            });
        };
        if parent.flow || r.in_flow() {
            return Err(EditError::Flow {
                path: shown.to_string(),
                line: self.line_of(target.span.start),
            });
        }
        if target.anchor.is_some() || target.tag.is_some() {
            return Err(EditError::Unsupported {
                path: shown.to_string(),
                reason: "the empty value carries an anchor or tag".into(),
            });
        }
        let entry = &parent.entries[i];
        let colon = entry.colon.expect("block entries have a colon");
        let l = self.lines();
        let line = l.line_of(colon);
        let mut splices = Vec::new();
        if !target.span.is_empty() {
            splices.push(Splice {
                range: colon + 1..target.span.end,
                text: String::new(),
            });
        }
        // The block goes after the line that ends the empty token (`{}` may stand on the line
        // below its key).
        let token_line = l.line_of(target.span.end.max(colon + 1) - 1);
        let at = l.end_with_break(token_line);
        splices.push(Splice {
            range: at..at,
            text: String::new(),
        });
        let col = if sequence && style.flush_sequences {
            parent.indent
        } else {
            parent.indent + style.indent
        };
        Ok((splices, self.line_region(line, token_line), col))
    }

    fn replace_plan(
        &self,
        doc: usize,
        r: &Resolved<'_>,
        path: &[Segment],
        value: &NewValue,
        change: Change,
        style: &Style,
    ) -> Result<Plan, EditError> {
        let style = *style;
        let shown = Path(path.to_vec()).to_string();
        let node = r.target();
        let line = match r.via() {
            Some(Via::Entry(m, i)) => self.line_of(m.entries[i].key.span.start),
            Some(Via::Item(s, j)) => self.line_of(s.items[j].start()),
            None => self.line_of(node.span.start),
        };
        let NewValue::Scalar(value) = value else {
            return Err(EditError::Unsupported {
                path: shown,
                reason: format!(
                    "already exists (line {line}); set a block value only on a missing key"
                ),
            });
        };
        match &node.kind {
            NodeKind::Mapping(_) | NodeKind::Sequence(_) => {
                return Err(EditError::Unsupported {
                    path: shown,
                    reason: format!(
                        "holds a {} (line {line}); `set` replaces scalar values (remove it first to replace it)",
                        node.kind_name()
                    ),
                });
            }
            NodeKind::Alias(a) => {
                return Err(EditError::Unsupported {
                    path: shown,
                    reason: format!(
                        "is the alias `*{a}` (line {line}); edit the anchored value instead"
                    ),
                });
            }
            _ => {}
        }
        self.check_anchors(doc, r, &shown)?;
        let flow = r.in_flow();
        let (range, text) = match &node.kind {
            NodeKind::Scalar(s) => {
                let text = match s.style {
                    ScalarStyle::Literal | ScalarStyle::Folded
                        if value.is_string() && !flow && style.block_scalars =>
                    {
                        let Data::Str(v) = &value.data else {
                            unreachable!()
                        };
                        let indent = self.block_content_indent(node, r, &style);
                        let literal = block_text(v, indent);
                        match literal {
                            Some(t)
                                if s.style == ScalarStyle::Folded
                                    && !v.trim_end().contains('\n') =>
                            {
                                t.replacen('|', ">", 1)
                            }
                            Some(t) => t,
                            None => value.inline_text(
                                ScalarStyle::DoubleQuoted,
                                style.fallback_quote,
                                flow,
                            ),
                        }
                    }
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        value.inline_text(style.quote, style.fallback_quote, flow)
                    }
                    st => value.inline_text(st, style.fallback_quote, flow),
                };
                let mut range = s.content.clone();
                // A block scalar's header comment stays where it is.
                if matches!(s.style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    let header_end = self.text[range.clone()].find('\n').map(|i| range.start + i);
                    if let Some(h) = header_end {
                        let header = &self.text[range.start..h];
                        if let Some(c) = header.find(" #") {
                            let comment = header[c..].to_string();
                            let text = match text.split_once('\n') {
                                Some((head, rest)) => format!("{head}{comment}\n{rest}"),
                                None => format!("{text}{comment}"),
                            };
                            range.end = range.end.max(h);
                            let (range, text) =
                                self.retag(node, range, text, value, &shown, line)?;
                            return self.finish_replace(range, text, node, change);
                        }
                    }
                }
                (range, text)
            }
            _ => {
                let text = format!(
                    " {}",
                    value.inline_text(style.quote, style.fallback_quote, flow)
                );
                (node.span.end..node.span.end, text)
            }
        };
        let (range, text) = self.retag(node, range, text, value, &shown, line)?;
        self.finish_replace(range, text, node, change)
    }

    /// A replaced value keeps its tag when the tag still fits it (`!!int 1` set to `2`); a
    /// standard tag that does not (`!!int 1` set to `two`, `!!null ""` set to `value`) is
    /// dropped with the old text; any other tag (`!secret`, `!!binary`'s application
    /// meaning aside) is a refusal, since only its application knows what it means.
    fn retag(
        &self,
        node: &Node,
        range: Range<usize>,
        text: String,
        value: &ScalarValue,
        shown: &str,
        line: usize,
    ) -> Result<(Range<usize>, String), EditError> {
        let Some(tag) = &node.tag else {
            return Ok((range, text));
        };
        let written = text.trim_start();
        let plain = !written.starts_with(['"', '\'', '|', '>']);
        let decoded = match &value.data {
            Data::Str(s) => s.clone(),
            _ => written.to_string(),
        };
        if resolve::scalar(&decoded, plain, Some(tag)) == value.data {
            return Ok((range, text));
        }
        if !tag.starts_with(resolve::CORE_PREFIX) {
            return Err(EditError::Unsupported {
                path: shown.to_string(),
                reason: format!(
                    "carries the tag `{tag}` (line {line}), which would not fit the new value; only the application that reads it knows what it needs: edit this value by hand"
                ),
            });
        }
        // The tag token: the property that starts with `!` before the content.
        let props_end = match &node.kind {
            NodeKind::Scalar(s) => s.content.start,
            _ => node.span.end,
        };
        let props = &self.text[node.span.start..props_end];
        let Some(at) = props
            .char_indices()
            .find(|&(i, c)| c == '!' && (i == 0 || props[..i].ends_with([' ', '\t'])))
            .map(|(i, _)| node.span.start + i)
        else {
            return Ok((range, text));
        };
        let mut end = at;
        let b = self.text.as_bytes();
        while end < props_end && !matches!(b[end], b' ' | b'\t' | b'\n' | b'\r') {
            end += 1;
        }
        let token_end = end;
        while end < props_end && matches!(b[end], b' ' | b'\t') {
            end += 1;
        }
        let kept = &self.text[end..range.start];
        let mut new = format!("{kept}{text}");
        if kept.is_empty() && token_end == end && at > 0 && matches!(b[at - 1], b' ' | b'\t') {
            new = new.trim_start_matches(' ').to_string();
        }
        Ok((at..range.end, new))
    }

    fn finish_replace(
        &self,
        range: Range<usize>,
        text: String,
        node: &Node,
        change: Change,
    ) -> Result<Plan, EditError> {
        let first = self.lines().line_of(node.span.start);
        let last = self.last_line(node.span.end.max(node.span.start + 1));
        let splices = if self.text[range.clone()] == text {
            Vec::new()
        } else {
            vec![Splice { range, text }]
        };
        Ok(Plan {
            splices,
            region: self.line_region(first, last),
            change,
        })
    }

    /// The content indentation for a block scalar replacing `node`.
    fn block_content_indent(&self, node: &Node, r: &Resolved<'_>, style: &Style) -> usize {
        let l = self.lines();
        let first = l.line_of(node.span.start);
        let last = self.last_line(node.span.end);
        if let Some(line) = (first + 1..=last).find(|&i| !l.is_blank(i)) {
            return l.indent(line);
        }
        match r.via() {
            Some(Via::Entry(m, _)) => m.indent + style.indent,
            Some(Via::Item(s, _)) => s.indent + 2,
            None => style.indent,
        }
    }
}
