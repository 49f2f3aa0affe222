//! Block collections: mappings and sequences laid out by indentation, and the value after a
//! `key:` or `- `.
//!
//! Owns: deciding what starts at a position (a sequence, a mapping, properties on their own
//! line, or a node on the line), block mappings with their implicit and explicit (`? `)
//! keys, block sequences, compact collections after `- ` and `? `, and the indentation
//! errors. Does not own: reading the scalars, flow collections and properties it finds
//! (`scalar`, `block_scalar`, `flow`, `properties`).

use super::{
    Parser, Result, ValueCtx, can_start_plain, is_blank, is_break, is_ws_or_end, null_at,
    set_properties,
};
use crate::yaml::tree::{Entry, Item, Mapping, Node, NodeKind, Scalar, ScalarStyle, Sequence};

impl Parser<'_> {
    /// A node that starts on a fresh line at the current position; `n` is the indentation of
    /// the enclosing block (-1 at the top level).
    /// `mapping_value`: the node is the value of a block mapping entry, so a `- ` sequence at
    /// the entry's own column may follow properties that stand on their own line.
    pub(super) fn block_node(
        &mut self,
        n: i64,
        header_end: usize,
        mapping_value: bool,
    ) -> Result<Node> {
        self.enter()?;
        let result = self.block_node_inner(n, header_end, mapping_value);
        self.depth -= 1;
        result
    }

    fn block_node_inner(&mut self, n: i64, header_end: usize, mapping_value: bool) -> Result<Node> {
        let c = self.col(self.pos);
        if self.at_dash_entry(self.pos) {
            return self.block_sequence(c, header_end);
        }
        if self.at_explicit_key(self.pos) || self.implicit_key_ahead() {
            return self.block_mapping(c, header_end);
        }
        let start = self.pos;
        let (anchor, tag) = self.properties()?;
        if anchor.is_some() || tag.is_some() {
            self.skip_blanks();
            if self.at_line_end() {
                let props_end = self.pos_trim_back(self.pos);
                return self.node_below_properties(n, start, props_end, anchor, tag, mapping_value);
            }
        }
        let mut node = self.inline_scalar_or_flow(n)?;
        set_properties(&mut node, start, anchor, tag, self)?;
        Ok(node)
    }

    /// After `&a` or `!t` ending a line: the node continues on the next lines, or is empty.
    fn node_below_properties(
        &mut self,
        n: i64,
        start: usize,
        props_end: usize,
        anchor: Option<String>,
        tag: Option<String>,
        allow_flush_sequence: bool,
    ) -> Result<Node> {
        let save = self.pos;
        self.skip_trivia();
        let c = self.col(self.pos);
        let below = !self.eof()
            && !self.at_doc_marker(self.pos)
            && ((c as i64) > n
                || (allow_flush_sequence && c as i64 == n && self.at_dash_entry(self.pos)));
        if !below {
            self.pos = save;
            return Ok(Node {
                span: start..props_end,
                anchor,
                tag,
                kind: NodeKind::Null,
            });
        }
        let mut node = if (c as i64) == n {
            self.block_sequence(c, props_end)?
        } else {
            self.block_node(n, props_end, false)?
        };
        set_properties(&mut node, start, anchor, tag, self)?;
        Ok(node)
    }

    pub(super) fn pos_trim_back(&self, mut pos: usize) -> usize {
        while pos > 0 && is_blank(self.at(pos - 1)) {
            pos -= 1;
        }
        pos
    }

    /// Whether the current line, from the current position, holds `key:` (with optional
    /// properties before the key).
    fn implicit_key_ahead(&self) -> bool {
        let mut p = self.pos;
        while matches!(self.at(p), b'&' | b'!') {
            while !is_ws_or_end(self.at(p)) {
                p += 1;
            }
            while is_blank(self.at(p)) {
                p += 1;
            }
        }
        match self.at(p) {
            b'"' | b'\'' => {
                let q = self.at(p);
                p += 1;
                loop {
                    let c = self.at(p);
                    if c == 0 || is_break(c) {
                        return false;
                    }
                    if c == b'\\' && q == b'"' {
                        p += 2;
                        continue;
                    }
                    if c == q {
                        if q == b'\'' && self.at(p + 1) == b'\'' {
                            p += 2;
                            continue;
                        }
                        p += 1;
                        break;
                    }
                    p += 1;
                }
                while is_blank(self.at(p)) {
                    p += 1;
                }
                self.at(p) == b':' && (is_ws_or_end(self.at(p + 1)) || q == b'"')
            }
            b'*' => {
                while !is_ws_or_end(self.at(p)) {
                    p += 1;
                }
                while is_blank(self.at(p)) {
                    p += 1;
                }
                self.at(p) == b':' && is_ws_or_end(self.at(p + 1))
            }
            c if !can_start_plain(c, self.at(p + 1)) => false,
            _ => {
                let mut prev_blank = false;
                loop {
                    let c = self.at(p);
                    if c == 0 || is_break(c) {
                        return false;
                    }
                    if c == b'#' && prev_blank {
                        return false;
                    }
                    if c == b':' && is_ws_or_end(self.at(p + 1)) {
                        return true;
                    }
                    prev_blank = is_blank(c);
                    p += 1;
                }
            }
        }
    }

    fn block_mapping(&mut self, indent: usize, header_end: usize) -> Result<Node> {
        let start = self.pos;
        let mut entries = Vec::new();
        let mut end;
        loop {
            if self.at_explicit_key(self.pos) {
                let entry = self.explicit_entry(indent)?;
                end = entry
                    .value
                    .span
                    .end
                    .max(entry.colon.map_or(0, |c| c + 1))
                    .max(entry.key.span.end);
                entries.push(entry);
            } else {
                let key = self.block_key()?;
                self.skip_blanks();
                if self.peek() != b':' {
                    return self.err(self.pos, "expected ':' after the key");
                }
                let colon = self.pos;
                self.pos += 1;
                let value = self.value(indent as i64, ValueCtx::MappingValue)?;
                end = if value.span.is_empty() {
                    colon + 1
                } else {
                    value.span.end
                };
                entries.push(Entry {
                    key,
                    colon: Some(colon),
                    value,
                    explicit: false,
                });
            }
            let save = self.pos;
            self.skip_trivia();
            if self.eof() || self.at_doc_marker(self.pos) {
                self.pos = save;
                break;
            }
            let c = self.col(self.pos);
            if c < indent {
                self.pos = save;
                break;
            }
            if c > indent {
                return self.err(
                    self.pos,
                    format!(
                        "bad indentation: no mapping here has its keys at column {} (the enclosing one is at column {})",
                        c + 1,
                        indent + 1
                    ),
                );
            }
            if self.at_dash_entry(self.pos) {
                return self.err(
                    self.pos,
                    "a sequence item cannot follow a mapping entry at the same indentation",
                );
            }
            if !self.at_explicit_key(self.pos) && !self.implicit_key_ahead() {
                return self.err(self.pos, "expected 'key: value' in a mapping");
            }
        }
        Ok(Node {
            span: start..end,
            anchor: None,
            tag: None,
            kind: NodeKind::Mapping(Mapping {
                flow: false,
                indent,
                header_end,
                entries,
            }),
        })
    }

    fn at_explicit_key(&self, pos: usize) -> bool {
        self.at(pos) == b'?' && is_ws_or_end(self.at(pos + 1))
    }

    /// An explicit entry of a block mapping at `indent`: `? key` (a node on the same line or
    /// the lines below, possibly empty), then, at the same column, `: value` or nothing.
    fn explicit_entry(&mut self, indent: usize) -> Result<Entry> {
        self.pos += 1;
        let key = self.value(indent as i64, ValueCtx::Explicit)?;
        let save = self.pos;
        self.skip_trivia();
        if !self.eof()
            && self.col(self.pos) == indent
            && self.peek() == b':'
            && is_ws_or_end(self.at(self.pos + 1))
        {
            let colon = self.pos;
            self.pos += 1;
            let value = self.value(indent as i64, ValueCtx::Explicit)?;
            return Ok(Entry {
                key,
                colon: Some(colon),
                value,
                explicit: true,
            });
        }
        self.pos = save;
        let end = key.span.end;
        Ok(Entry {
            key,
            colon: None,
            value: null_at(end),
            explicit: true,
        })
    }

    /// A key in a block mapping: properties, then a one-line scalar or an alias.
    fn block_key(&mut self) -> Result<Node> {
        let start = self.pos;
        let (anchor, tag) = self.properties()?;
        self.skip_blanks();
        let mut node = match self.peek() {
            b'"' => self.double_quoted()?,
            b'\'' => self.single_quoted()?,
            b'*' => self.alias()?,
            _ => {
                let s = self.pos;
                let mut prev_blank = false;
                loop {
                    let c = self.peek();
                    if c == b':' && is_ws_or_end(self.at(self.pos + 1)) {
                        break;
                    }
                    if c == 0 || is_break(c) || (c == b'#' && prev_blank) {
                        return self.err(s, "expected ':' after the key");
                    }
                    prev_blank = is_blank(c);
                    self.pos += 1;
                }
                let e = self.pos_trim_back(self.pos);
                self.pos = e;
                Node {
                    span: s..e,
                    anchor: None,
                    tag: None,
                    kind: NodeKind::Scalar(Scalar {
                        style: ScalarStyle::Plain,
                        value: self.src[s..e].to_string(),
                        content: s..e,
                    }),
                }
            }
        };
        if self.src[node.span.clone()].contains('\n') {
            return self.err(node.span.start, "multi-line keys are not supported");
        }
        set_properties(&mut node, start, anchor, tag, self)?;
        Ok(node)
    }

    /// The value after `key:` or `- `: on the same line, on the lines below, or empty.
    fn value(&mut self, n: i64, ctx: ValueCtx) -> Result<Node> {
        self.enter()?;
        let r = self.value_inner(n, ctx);
        self.depth -= 1;
        r
    }

    fn value_inner(&mut self, n: i64, ctx: ValueCtx) -> Result<Node> {
        let after = self.pos;
        self.skip_blanks();
        if self.at_line_end() {
            self.skip_trivia();
            let c = self.col(self.pos);
            if !self.eof() && !self.at_doc_marker(self.pos) {
                if c as i64 > n {
                    return self.block_node(n, after, ctx != ValueCtx::SequenceItem);
                }
                if c as i64 == n && ctx != ValueCtx::SequenceItem && self.at_dash_entry(self.pos) {
                    return self.block_sequence(c, after);
                }
            }
            self.pos = after;
            return Ok(null_at(after));
        }
        let c = self.col(self.pos);
        if ctx != ValueCtx::MappingValue {
            if self.at_dash_entry(self.pos) {
                return self.block_sequence(c, after);
            }
            if self.at_explicit_key(self.pos) || self.implicit_key_ahead() {
                return self.block_mapping(c, after);
            }
        } else {
            if self.at_dash_entry(self.pos) {
                return self.err(self.pos, "a sequence cannot start on the line of its key");
            }
            if self.implicit_key_ahead() {
                return self.err(self.pos, "mapping values are not allowed on this line");
            }
        }
        let start = self.pos;
        let (anchor, tag) = self.properties()?;
        if anchor.is_some() || tag.is_some() {
            self.skip_blanks();
            if self.at_line_end() {
                let props_end = self.pos_trim_back(self.pos);
                return self.node_below_properties(
                    n,
                    start,
                    props_end,
                    anchor,
                    tag,
                    ctx != ValueCtx::SequenceItem,
                );
            }
        }
        let mut node = self.inline_scalar_or_flow(n)?;
        set_properties(&mut node, start, anchor, tag, self)?;
        Ok(node)
    }

    /// A node written on the current line (a root after `---`).
    pub(super) fn inline_node(&mut self, n: i64, ctx: ValueCtx) -> Result<Node> {
        self.value(n, ctx)
    }

    fn block_sequence(&mut self, indent: usize, header_end: usize) -> Result<Node> {
        let start = self.pos;
        let mut items = Vec::new();
        let mut end;
        loop {
            let dash = self.pos;
            self.pos += 1;
            let value = self.value(indent as i64, ValueCtx::SequenceItem)?;
            end = if value.span.is_empty() {
                dash + 1
            } else {
                value.span.end
            };
            items.push(Item {
                dash: Some(dash),
                value,
            });
            let save = self.pos;
            self.skip_trivia();
            if self.eof() || self.at_doc_marker(self.pos) {
                self.pos = save;
                break;
            }
            let c = self.col(self.pos);
            if c < indent || (c == indent && !self.at_dash_entry(self.pos)) {
                self.pos = save;
                break;
            }
            if c > indent {
                return self.err(
                    self.pos,
                    format!(
                        "bad indentation: expected a sequence item ('- ') at column {}",
                        indent + 1
                    ),
                );
            }
        }
        Ok(Node {
            span: start..end,
            anchor: None,
            tag: None,
            kind: NodeKind::Sequence(Sequence {
                flow: false,
                indent,
                header_end,
                items,
            }),
        })
    }

    /// A scalar, flow collection or alias that starts on the current line; nothing but a
    /// comment may follow it on its last line.
    fn inline_scalar_or_flow(&mut self, n: i64) -> Result<Node> {
        let c = self.peek();
        let node = match c {
            b'|' | b'>' => return self.block_scalar(n),
            b'[' | b'{' => self.flow_collection()?,
            b'*' => self.alias()?,
            b'"' => self.double_quoted()?,
            b'\'' => self.single_quoted()?,
            // In block context `:`, `-` and `?` start a plain scalar before any non-blank.
            b':' | b'-' | b'?' if !is_ws_or_end(self.at(self.pos + 1)) => {
                return self.plain_block(n);
            }
            _ if can_start_plain(c, self.at(self.pos + 1)) => return self.plain_block(n),
            _ => {
                return self.err(
                    self.pos,
                    format!("a plain value cannot start with '{}'", c as char),
                );
            }
        };
        let save = self.pos;
        self.skip_blanks();
        if self.peek() == b':' && is_ws_or_end(self.at(self.pos + 1)) {
            return self.err(self.pos, "mapping values are not allowed on this line");
        }
        if !self.at_line_end() {
            return self.err(self.pos, "unexpected content after the value");
        }
        self.pos = save;
        Ok(node)
    }
}
