//! Edits that say what they mean — set a scalar, remove a key or item, append an item, insert
//! a key — done as splices into the original text, then verified before they take effect.
//!
//! Owns: where new text goes and what old text goes (comment ownership, blank lines, sorted
//! insertion, pruning emptied mappings, `[]`/`{}`/null turned into blocks), and the
//! verification of every edit. Does not own: scalar quoting (`scalar.rs`), style detection
//! (`style.rs`) or files (`file.rs`).
//!
//! Comment ownership: an own-line comment block directly above a key or `- ` item (no blank
//! line between) belongs to it and goes with it; comments directly above the next sibling
//! belong to that sibling, whatever their indentation, and stay.

use std::ops::Range;

use super::data::{Change, Data, comparable};
use super::document::{Document, EditError, Resolved, Via};
use super::lines::Lines;
use super::load;
use super::path::{Path, Segment};
use super::resolve;
use super::scalar::{ScalarValue, block_text, plain_safe, single_quoted};
use super::style::Style;
use super::tree::{Mapping, Node, NodeKind, ScalarStyle, Sequence};

/// A value to write: one scalar, or YAML for a mapping or sequence: a block (written at any
/// indentation; it is re-indented where it goes) or a one-line flow collection (written
/// after its key as it is).
#[derive(Debug, Clone)]
pub enum NewValue {
    Scalar(ScalarValue),
    Yaml(String),
}

impl NewValue {
    fn is_multiline_string(&self) -> bool {
        matches!(self, NewValue::Scalar(v) if matches!(&v.data, Data::Str(s) if s.contains('\n')))
    }

    fn data(&self) -> Result<Data, String> {
        match self {
            NewValue::Scalar(v) => Ok(v.data.clone()),
            NewValue::Yaml(t) => {
                let docs = load::reference_load(t).map_err(|e| {
                    format!(
                        "the value is not valid YAML: {}:{}: {}",
                        e.line + 1,
                        e.col + 1,
                        e.message
                    )
                })?;
                let d = match docs.as_slice() {
                    [d] => d.clone(),
                    _ => return Err("the value must be exactly one YAML document".into()),
                };
                if let Some(k) = duplicate_key(&d) {
                    return Err(format!(
                        "the value has the key `{}` twice; YAML readers disagree on which one counts",
                        k.key_text().unwrap_or_else(|| format!("{k:?}"))
                    ));
                }
                Ok(d)
            }
        }
    }
}

/// A replacement of `range` (old text) by `text`.
#[derive(Debug, Clone)]
struct Splice {
    range: Range<usize>,
    text: String,
}

/// An edit ready to verify: its splices, the lines of the old text it may change, and the
/// change it must make to the data.
struct Plan {
    splices: Vec<Splice>,
    region: Range<usize>,
    change: Change,
}

impl Document {
    /// Sets the scalar at `path`, creating missing mappings. Returns whether the text changed.
    pub fn set(&mut self, doc: usize, path: &Path, value: &ScalarValue) -> Result<bool, EditError> {
        self.set_value(doc, path, &NewValue::Scalar(value.clone()))
    }

    /// Sets `path` to a scalar, or creates it with a block value when it is missing.
    pub fn set_value(
        &mut self,
        doc: usize,
        path: &Path,
        value: &NewValue,
    ) -> Result<bool, EditError> {
        self.with_style_fallback(value, |d, style| {
            let plan = d.set_plan(doc, path.segments(), value, style)?;
            d.commit(doc, plan)
        })
    }

    /// Runs an edit in the file's style; a multi-line string written as a literal block can
    /// change meaning next to some text (a deeper-indented comment below it, the end of a file
    /// without a final line break), so when that fails to verify the edit is tried once more
    /// with the string double-quoted.
    fn with_style_fallback(
        &mut self,
        value: &NewValue,
        mut edit: impl FnMut(&mut Document, &Style) -> Result<bool, EditError>,
    ) -> Result<bool, EditError> {
        let style = self.style();
        match edit(self, &style) {
            Err(EditError::Verify(_)) if value.is_multiline_string() => {
                let quoted = Style {
                    block_scalars: false,
                    ..style
                };
                edit(self, &quoted)
            }
            r => r,
        }
    }

    /// Removes the key or item at `path` with its nested block and the comments it owns; a
    /// mapping left empty is removed from its parent mapping in turn.
    pub fn remove(&mut self, doc: usize, path: &Path) -> Result<bool, EditError> {
        let segs = path.segments();
        let mut plan = self.remove_plan(doc, segs)?;
        plan.change = Change::Remove {
            path: segs.to_vec(),
        };
        self.commit(doc, plan)
    }

    /// Appends an item to the sequence at `path`, in the file's sequence style; an empty flow
    /// sequence `[]` or an empty value becomes a block sequence.
    pub fn append(&mut self, doc: usize, path: &Path, value: &NewValue) -> Result<bool, EditError> {
        self.with_style_fallback(value, |d, style| {
            let plan = d.append_plan(doc, path.segments(), value, style)?;
            d.commit(doc, plan)
        })
    }

    /// Applies a plan if the result verifies: the independent parser reads the original data
    /// plus the intended change, this parser agrees, and nothing outside the plan's region
    /// changed.
    fn commit(&mut self, doc: usize, plan: Plan) -> Result<bool, EditError> {
        let mut splices = plan.splices;
        if self.uses_crlf() {
            for s in &mut splices {
                s.text = crlf(&s.text);
            }
        }
        splices.sort_by_key(|s| (s.range.start, s.range.end));
        let verify = |m: String| EditError::Verify(m);
        for w in splices.windows(2) {
            if w[0].range.end > w[1].range.start {
                return Err(verify("overlapping changes".into()));
            }
        }
        let mut new = String::with_capacity(self.text.len() + 64);
        let mut pos = 0;
        for s in &splices {
            if s.range.start < plan.region.start || s.range.end > plan.region.end {
                return Err(verify("a change falls outside the edited lines".into()));
            }
            new.push_str(&self.text[pos..s.range.start]);
            new.push_str(&s.text);
            pos = s.range.end;
        }
        new.push_str(&self.text[pos..]);
        if new == self.text {
            return Ok(false);
        }
        let (before, after) = (
            &self.text[..plan.region.start],
            &self.text[plan.region.end..],
        );
        if !new.starts_with(before) || !new[before.len()..].ends_with(after) {
            return Err(verify("lines outside the edited region changed".into()));
        }
        let mut expected = load::reference_load(&self.text).map_err(|e| {
            verify(format!(
                "the original does not load in the reference parser: {}",
                e.message
            ))
        })?;
        while expected.len() <= doc {
            expected.push(Data::Null);
        }
        plan.change
            .apply(&mut expected[doc])
            .ok_or_else(|| verify("the intended change does not fit the data".into()))?;
        let actual = load::reference_load(&new).map_err(|e| {
            verify(format!(
                "the result does not parse at {}:{}: {}",
                e.line + 1,
                e.col + 1,
                e.message
            ))
        })?;
        if comparable(&expected) != comparable(&actual) {
            return Err(verify(
                "the result's data is not the original plus the intended change".into(),
            ));
        }
        let reparsed = Document::parse(new)
            .map_err(|e| verify(format!("the editor cannot read its own result: {e}")))?;
        if comparable(&reparsed.data()) != comparable(&actual) {
            return Err(verify(
                "the editor reads its result differently from the reference parser".into(),
            ));
        }
        *self = reparsed;
        Ok(true)
    }

    /// Whether the file ends its lines with CRLF (its first line break is one): new lines
    /// are written the same way.
    fn uses_crlf(&self) -> bool {
        self.text
            .find('\n')
            .is_some_and(|i| i > 0 && self.text.as_bytes()[i - 1] == b'\r')
    }

    // ----- positions -------------------------------------------------------------------

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
    fn owned_start(l: &Lines<'_>, first_line: usize, floor: usize) -> usize {
        let mut s = first_line;
        while s > floor && l.is_comment(s - 1) {
            s -= 1;
        }
        s
    }

    fn last_line(&self, end: usize) -> usize {
        self.lines().line_of(end.saturating_sub(1))
    }

    /// The byte range of whole lines `first..=last`.
    fn line_region(&self, first: usize, last: usize) -> Range<usize> {
        let l = self.lines();
        l.start(first)..l.end_with_break(last)
    }

    fn entry_floor(&self, m: &Mapping, i: usize) -> usize {
        if i == 0 {
            self.floor_line(m.header_end)
        } else {
            self.last_line(m.entries[i - 1].content_end()) + 1
        }
    }

    fn item_floor(&self, s: &Sequence, j: usize) -> usize {
        if j == 0 {
            self.floor_line(s.header_end)
        } else {
            self.last_line(s.items[j - 1].content_end()) + 1
        }
    }

    fn entry_owned_start(&self, m: &Mapping, i: usize) -> usize {
        let l = self.lines();
        Self::owned_start(
            &l,
            l.line_of(m.entries[i].key.span.start),
            self.entry_floor(m, i),
        )
    }

    /// Inserting whole lines at `offset` (a line start, or the end of a text without a final
    /// break): the splice, keeping a missing final break missing.
    fn insert_lines(&self, offset: usize, block: &str) -> Splice {
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
    fn remove_lines(
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

    /// Refuses an edit inside a node whose anchor is used by aliases (the aliases would
    /// change too), or inside a mapping written with explicit `? ` keys.
    fn check_anchors(&self, doc: usize, r: &Resolved<'_>, shown: &str) -> Result<(), EditError> {
        for (node, _) in &r.chain {
            if let NodeKind::Mapping(m) = &node.kind
                && let Some(e) = m.entries.iter().find(|e| e.explicit)
            {
                return Err(EditError::Unsupported {
                    path: shown.to_string(),
                    reason: format!(
                        "goes through a mapping with an explicit key (`? `, line {}), which the editor reads but does not edit",
                        self.line_of(e.key.span.start.saturating_sub(2))
                    ),
                });
            }
            if let Some(anchor) = &node.anchor {
                let n = self.aliases_of(doc, anchor);
                if n > 0 {
                    return Err(EditError::Unsupported {
                        path: shown.to_string(),
                        reason: format!(
                            "`&{anchor}` (line {}) is anchored and used by {}; editing it would change them too",
                            self.line_of(node.span.start),
                            crate::util::text::plural(n, "alias", "aliases")
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The last line of a value ending on `line`: for a `|+` or `>+` block scalar, whose
    /// trailing empty lines are part of its value, the last of those; new text goes after them.
    fn kept_lines_end(&self, line: usize, value: &Node) -> usize {
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
    fn trailing_comments_end(&self, line: usize, indent: usize) -> usize {
        let l = self.lines();
        let mut end = line;
        while end + 1 < l.count() && l.is_comment(end + 1) && l.indent(end + 1) > indent {
            end += 1;
        }
        end
    }

    /// Refuses removing a node that defines an anchor aliases outside it still use.
    fn check_anchor_definitions(
        &self,
        doc: usize,
        target: &Node,
        shown: &str,
    ) -> Result<(), EditError> {
        let mut defined = Vec::new();
        let mut inside: Vec<String> = Vec::new();
        target.walk(&mut |n| {
            if let Some(a) = &n.anchor {
                defined.push((a.clone(), n.span.start));
            }
            if let NodeKind::Alias(a) = &n.kind {
                inside.push(a.clone());
            }
        });
        for (anchor, at) in defined {
            let outside =
                self.aliases_of(doc, &anchor) - inside.iter().filter(|a| **a == anchor).count();
            if outside > 0 {
                return Err(EditError::Unsupported {
                    path: shown.to_string(),
                    reason: format!(
                        "defines the anchor `&{anchor}` (line {}), which {} elsewhere still use",
                        self.line_of(at),
                        crate::util::text::plural(outside, "alias", "aliases")
                    ),
                });
            }
        }
        Ok(())
    }

    fn aliases_of(&self, doc: usize, anchor: &str) -> usize {
        let mut n = 0;
        if let Some(root) = self.root(doc) {
            root.walk(&mut |node| {
                if matches!(&node.kind, NodeKind::Alias(a) if a == anchor) {
                    n += 1;
                }
            });
        }
        n
    }

    // ----- set ---------------------------------------------------------------------------

    fn set_plan(
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
    fn open_empty_value(
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

    /// Where a new key goes in a block mapping, and the region the insertion may change.
    ///
    /// Entries form groups separated by blank lines (Phalanx puts disabled applications in a
    /// group of their own above the sorted enabled ones). The key joins the group that fits
    /// best: values equal to the new one, then values of the same kind (scalar, mapping,
    /// sequence), then a sorted group whose key range holds the key; ties go to the later
    /// group. In a sorted group it goes in sorted position, else after the group's last entry.
    fn insert_position(
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
    fn key_block(&self, keys: &[String], col: usize, value: &NewValue, style: &Style) -> String {
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

    // ----- remove ------------------------------------------------------------------------

    fn remove_plan(&self, doc: usize, path: &[Segment]) -> Result<Plan, EditError> {
        let shown = Path(path.to_vec()).to_string();
        let r = self.resolve(doc, path)?;
        let target = r.target();
        let change = Change::Remove {
            path: path.to_vec(),
        };
        let Some(via) = r.via() else {
            return Err(EditError::Unsupported {
                path: shown,
                reason: "cannot remove the document root".into(),
            });
        };
        if r.in_flow() {
            return Err(EditError::Flow {
                path: shown,
                line: self.line_of(target.span.start),
            });
        }
        self.check_anchors(doc, &r, &shown)?;
        self.check_anchor_definitions(doc, target, &shown)?;
        let l = self.lines();
        match via {
            Via::Entry(m, i) => {
                let entry = &m.entries[i];
                if m.entries.len() == 1 && path.len() >= 2 {
                    match r.chain[r.chain.len() - 2].1 {
                        Some(Via::Entry(..)) => {
                            return self.remove_plan(doc, &path[..path.len() - 1]);
                        }
                        Some(Via::Item(..)) => {
                            // The last key of a mapping that is a sequence item: the item stays, as `{}`.
                            let mnode = r.chain[r.chain.len() - 2].0;
                            let first = l.line_of(mnode.span.start);
                            let last = self.last_line(mnode.span.end);
                            return Ok(Plan {
                                splices: vec![Splice {
                                    range: mnode.span.clone(),
                                    text: "{}".into(),
                                }],
                                region: self.line_region(first, last),
                                change,
                            });
                        }
                        None => unreachable!("a path of two segments has a parent step"),
                    }
                }
                if !l.first_on_line(entry.key.span.start) {
                    return self.remove_compact_first(m, &shown, change);
                }
                let floor = self.entry_floor(m, i);
                let first = Self::owned_start(&l, l.line_of(entry.key.span.start), floor);
                let last = self.last_line(entry.content_end());
                let (splice, region) = self.remove_lines(first, last, i == 0);
                Ok(Plan {
                    splices: vec![splice],
                    region,
                    change,
                })
            }
            Via::Item(s, j) => {
                let item = &s.items[j];
                let dash = item.dash.expect("block items have a dash");
                if !l.first_on_line(dash) {
                    return Err(EditError::Unsupported {
                        path: shown,
                        reason: format!(
                            "the item shares line {} with its parent item",
                            l.line_of(dash) + 1
                        ),
                    });
                }
                let floor = self.item_floor(s, j);
                let first = Self::owned_start(&l, l.line_of(dash), floor);
                let last = self.last_line(item.content_end());
                // Removing the only item leaves `[]` on the key's line: the blank lines after the
                // item separate the next group and stay.
                let only = s.items.len() == 1;
                let (splice, region) = self.remove_lines(first, last, j == 0 && !only);
                if !only {
                    return Ok(Plan {
                        splices: vec![splice],
                        region,
                        change,
                    });
                }
                // The last item: the sequence stays, as `[]`.
                let parent = r.chain.len().checked_sub(2).and_then(|k| r.chain[k].1);
                let Some(Via::Entry(pm, pi)) = parent else {
                    return Err(EditError::Unsupported {
                        path: shown,
                        reason: "removing the only item of a sequence that is not under a key"
                            .into(),
                    });
                };
                let colon = pm.entries[pi].colon.expect("block entries have a colon");
                let key_line = l.line_of(colon);
                // `[]` goes after the key's colon, or after the sequence's own `&anchor` or
                // `!tag` when they stand on the key's line.
                let seq = r.chain[r.chain.len() - 2].0;
                let at = if l.line_of(seq.span.start) == key_line {
                    let props = &self.text[seq.span.start..l.end(key_line)];
                    let props = props.split(" #").next().unwrap_or(props);
                    seq.span.start + props.trim_end().len()
                } else {
                    colon + 1
                };
                Ok(Plan {
                    splices: vec![
                        Splice {
                            range: at..at,
                            text: " []".into(),
                        },
                        splice,
                    ],
                    region: self
                        .line_region(key_line, self.lines().line_of(region.end.saturating_sub(1))),
                    change,
                })
            }
        }
    }

    /// Removing the first key of a mapping that starts on a `- ` line: the next key moves up
    /// onto the dash line.
    fn remove_compact_first(
        &self,
        m: &Mapping,
        shown: &str,
        change: Change,
    ) -> Result<Plan, EditError> {
        let l = self.lines();
        let first = &m.entries[0];
        let next_start = self.entry_owned_start(m, 1);
        if l.indent(next_start) < m.indent {
            return Err(EditError::Unsupported {
                path: shown.to_string(),
                reason: format!(
                    "the comment on line {} is indented less than the keys it stands above",
                    next_start + 1
                ),
            });
        }
        let end = l.start(next_start) + m.indent;
        Ok(Plan {
            splices: vec![Splice {
                range: first.key.span.start..end,
                text: String::new(),
            }],
            region: self.line_region(l.line_of(first.key.span.start), next_start),
            change,
        })
    }

    // ----- append ------------------------------------------------------------------------

    fn append_plan(
        &self,
        doc: usize,
        path: &[Segment],
        value: &NewValue,
        style: &Style,
    ) -> Result<Plan, EditError> {
        let style = *style;
        let shown = Path(path.to_vec()).to_string();
        let data = value.data().map_err(|reason| EditError::Unsupported {
            path: shown.clone(),
            reason,
        })?;
        let change = Change::Append {
            path: path.to_vec(),
            value: data,
        };
        let r = self.resolve(doc, path)?;
        self.check_anchors(doc, &r, &shown)?;
        let target = r.target();
        let l = self.lines();
        match &target.kind {
            NodeKind::Sequence(s) if !s.flow => {
                if r.in_flow() {
                    return Err(EditError::Flow {
                        path: shown,
                        line: self.line_of(target.span.start),
                    });
                }
                let last_item = s.items.last().expect("block sequences have items");
                let last = self.trailing_comments_end(
                    self.kept_lines_end(self.last_line(last_item.content_end()), &last_item.value),
                    s.indent,
                );
                let first = l.line_of(s.items[0].start());
                let at = l.end_with_break(last);
                Ok(Plan {
                    splices: vec![self.insert_lines(at, &item_block(value, s.indent, &style))],
                    region: self.line_region(first, last),
                    change,
                })
            }
            NodeKind::Sequence(s) if !s.items.is_empty() => Err(EditError::Flow {
                path: shown,
                line: self.line_of(target.span.start),
            }),
            NodeKind::Sequence(_) | NodeKind::Null | NodeKind::Scalar(_)
                if target.is_null() || matches!(&target.kind, NodeKind::Sequence(_)) =>
            {
                let (mut splices, region, col) = self.open_empty_value(&r, &shown, true, &style)?;
                let at = splices.pop().expect("an insertion point").range.start;
                splices.push(self.insert_lines(at, &item_block(value, col, &style)));
                Ok(Plan {
                    splices,
                    region,
                    change,
                })
            }
            _ => Err(EditError::Unsupported {
                path: shown,
                reason: format!(
                    "holds a {} (line {}), not a sequence",
                    target.kind_name(),
                    self.line_of(target.span.start)
                ),
            }),
        }
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

/// A key as written in a new line: plain when that reads back as the same string.
fn key_text(key: &str, style: &Style) -> String {
    if plain_safe(key, false) {
        key.to_string()
    } else if style.fallback_quote == ScalarStyle::SingleQuoted
        && !key.chars().any(char::is_control)
    {
        single_quoted(key)
    } else {
        super::scalar::double_quoted(key)
    }
}

/// A scalar for a new line whose nested lines would start at `child_col`.
fn scalar_text(v: &ScalarValue, child_col: usize, style: &Style) -> String {
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
fn item_block(value: &NewValue, col: usize, style: &Style) -> String {
    let pad = " ".repeat(col);
    match value {
        NewValue::Scalar(v) => format!("{pad}- {}\n", scalar_text(v, col + 2, style)),
        NewValue::Yaml(t) => {
            let body = reindent(t, col + 2, style);
            format!("{pad}- {}", &body[col + 2..])
        }
    }
}

/// `text` with every line feed that is not already one written as CRLF.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev = '\0';
    for c in text.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

/// A flow collection on one line (`{user: "x", db: "y"}`), written after its key as it is.
fn is_one_line_flow(text: &str) -> bool {
    let t = text.trim();
    !t.contains('\n') && (t.starts_with('{') || t.starts_with('['))
}

/// The first key that appears twice in one mapping of `d`.
fn duplicate_key(d: &Data) -> Option<&Data> {
    match d {
        Data::Map(m) => m
            .iter()
            .enumerate()
            .find(|(i, (k, _))| m[..*i].iter().any(|(k2, _)| k2 == k))
            .map(|(_, (k, _))| k)
            .or_else(|| m.iter().find_map(|(_, v)| duplicate_key(v))),
        Data::Seq(v) => v.iter().find_map(duplicate_key),
        Data::Tagged(_, inner) => duplicate_key(inner),
        _ => None,
    }
}

/// `text` (a block of YAML) laid out in the file's style with its top collection at column
/// `col`: nested mappings `style.indent` deeper than their key, sequences under a key flush or
/// indented as the file writes them, items' content two columns right of the dash. Lines
/// inside a collection (scalar continuations, block scalars, comments) move with it.
fn reindent(text: &str, col: usize, style: &Style) -> String {
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
