//! The YAML parser: text in, a tree of byte spans out (`tree.rs`).
//!
//! Owns: reading block and flow collections, the five scalar styles with their decoding,
//! properties (anchors; tags resolved to full tags with `%TAG` directives), aliases and
//! multi-document streams, explicit `? ` keys, and reporting syntax errors by byte offset:
//! characters YAML forbids, and what YAML 1.2 allows but libyaml (so Helm) rejects (tabs
//! where it wants spaces, unknown directives, anchor names with punctuation, flush
//! document-level block scalars), flagged as such. Does not own: deciding what a plain scalar
//! means (`resolve.rs`) or anything about editing. Implicit keys on several lines, empty keys
//! and collections as implicit keys are refused with a clear message rather than guessed at.

use super::resolve;
use super::tree::*;

/// A syntax error at a byte offset of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
    /// The text is valid YAML 1.2 that libyaml (the origin of the Go YAML library Helm uses,
    /// and PyYAML's C loader) rejects, with the hint that says what to do: a tab where it
    /// wants spaces, an unknown directive, an anchor name with punctuation, a document-level
    /// block scalar written flush.
    pub libyaml: Option<&'static str>,
}

/// The hint for every error libyaml would raise on a tab.
pub const TAB_HINT: &str = "YAML 1.2 allows a tab here, but libyaml and the Go YAML library Helm uses reject the file: replace the tab with spaces (or delete the whitespace)";
const DIRECTIVE_HINT: &str = "YAML 1.2 allows this directive, but libyaml and the Go YAML library Helm uses know only `%YAML 1.1`, `%YAML 1.2` and `%TAG`: delete it";
const ANCHOR_HINT: &str = "YAML 1.2 allows this name, but libyaml and the Go YAML library Helm uses take only letters, digits, `_` and `-` in anchor and alias names: rename it";
const FLUSH_BLOCK_HINT: &str = "YAML 1.2 allows a document-level block scalar written at column 1, but libyaml and the Go YAML library Helm uses need its lines indented: indent them";

/// Whether libyaml takes `name` as an anchor or alias name.
fn libyaml_anchor_name(name: &str) -> bool {
    name.bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

type Result<T> = std::result::Result<T, SyntaxError>;

/// Parses a whole stream into its documents.
pub fn parse_stream(text: &str) -> Result<Vec<Doc>> {
    if let Some((offset, c)) = resolve::first_unprintable(text) {
        return Err(SyntaxError {
            offset,
            message: format!(
                "{} is not allowed in YAML (only printable characters, tab and line breaks)",
                resolve::describe_char(c)
            ),
            libyaml: None,
        });
    }
    let mut p = Parser {
        src: text,
        b: text.as_bytes(),
        pos: 0,
        depth: 0,
        tag_handles: Vec::new(),
    };
    if text.starts_with('\u{feff}') {
        p.pos = 3;
    }
    let docs = p.stream()?;
    check_tabs(text, &docs)?;
    Ok(docs)
}

/// Tabs that YAML 1.2 allows but libyaml rejects, outside flow collections and the content
/// of quoted and block scalars: in the whitespace that starts a line (a line of only
/// whitespace included), and right after a block sequence's `-`. libyaml lets the whitespace
/// that follows a plain scalar hold tabs at or right of the enclosing block's indentation plus
/// one, and skips tabs on the line after a `%` directive; so does this check.
fn check_tabs(text: &str, docs: &[Doc]) -> Result<()> {
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

const MAX_DEPTH: usize = 256;

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
    /// The `%TAG` handles of the current document, with their prefixes.
    tag_handles: Vec<(String, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueCtx {
    MappingValue,
    SequenceItem,
    /// After `? ` or an explicit entry's `: `: a compact collection may follow on the same
    /// line, and a sequence may start below at the indicator's column.
    Explicit,
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn is_break(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

/// Space, tab, line break or end of text (0).
fn is_ws_or_end(c: u8) -> bool {
    c == 0 || is_blank(c) || is_break(c)
}

fn is_flow_indicator(c: u8) -> bool {
    matches!(c, b',' | b'[' | b']' | b'{' | b'}')
}

impl<'a> Parser<'a> {
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    fn peek(&self) -> u8 {
        self.at(self.pos)
    }

    fn eof(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn err<T>(&self, offset: usize, message: impl Into<String>) -> Result<T> {
        Err(SyntaxError {
            offset,
            message: message.into(),
            libyaml: None,
        })
    }

    fn line_start(&self, pos: usize) -> usize {
        self.b[..pos]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1)
    }

    fn col(&self, pos: usize) -> usize {
        pos - self.line_start(pos)
    }

    fn skip_blanks(&mut self) {
        while is_blank(self.peek()) {
            self.pos += 1;
        }
    }

    /// After blanks: at a comment, a line break or the end of the text.
    fn at_line_end(&self) -> bool {
        let c = self.peek();
        c == 0 || c == b'#' || is_break(c)
    }

    fn skip_to_break(&mut self) {
        while !self.eof() && self.peek() != b'\n' {
            self.pos += 1;
        }
    }

    /// Skips blanks, comments and line breaks up to the next content.
    fn skip_trivia(&mut self) {
        loop {
            self.skip_blanks();
            match self.peek() {
                b'#' => self.skip_to_break(),
                b'\n' | b'\r' => self.pos += 1,
                _ => return,
            }
        }
    }

    /// At column 0 on `---` or `...` followed by a blank, a break or the end.
    fn at_doc_marker(&self, pos: usize) -> bool {
        self.col(pos) == 0
            && (self.b[pos..].starts_with(b"---") || self.b[pos..].starts_with(b"..."))
            && is_ws_or_end(self.at(pos + 3))
    }

    fn at_dash_entry(&self, pos: usize) -> bool {
        self.at(pos) == b'-' && is_ws_or_end(self.at(pos + 1))
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(self.pos, "nesting too deep");
        }
        Ok(())
    }

    fn stream(&mut self) -> Result<Vec<Doc>> {
        let mut docs = Vec::new();
        loop {
            let doc_start = self.pos;
            self.skip_trivia();
            self.tag_handles.clear();
            while self.peek() == b'%' && self.col(self.pos) == 0 {
                self.directive()?;
                self.skip_trivia();
            }
            if self.eof() {
                break;
            }
            let mut marker = None;
            let mut body_start = doc_start;
            if self.at_doc_marker(self.pos) && self.peek() == b'.' {
                self.pos += 3;
                self.expect_line_end("after '...'")?;
                continue;
            }
            if self.at_doc_marker(self.pos) {
                marker = Some(self.pos);
                self.pos += 3;
                body_start = self.pos;
            }
            let root = self.document_root(marker.is_some())?;
            let save = self.pos;
            self.skip_trivia();
            if !self.eof() && !self.at_doc_marker(self.pos) {
                return self.err(self.pos, "expected the end of the document or '---'");
            }
            if self.eof() {
                self.pos = save;
            }
            if let Some(root) = &root
                && marker.is_none()
            {
                body_start = body_start.min(root.span.start);
            }
            docs.push(Doc {
                body_start,
                marker,
                root,
            });
            if self.eof() || self.pos == save {
                break;
            }
            if self.peek() == b'.' {
                self.pos += 3;
                self.expect_line_end("after '...'")?;
            }
        }
        Ok(docs)
    }

    /// A `%` directive line: `%TAG` handles are kept for the document that follows; other
    /// directives (`%YAML`) are read past.
    fn directive(&mut self) -> Result<()> {
        let start = self.pos;
        self.skip_to_break();
        let line = self.src[start..self.pos].trim_end_matches('\r');
        let line = line.split(" #").next().unwrap_or(line);
        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        let name = words.next().unwrap_or("%");
        let libyaml = |message: String| {
            Err(SyntaxError {
                offset: start,
                message,
                libyaml: Some(DIRECTIVE_HINT),
            })
        };
        if name == "%YAML" {
            let version = words.next().unwrap_or("");
            if !matches!(version, "1.1" | "1.2") {
                return libyaml(format!("libyaml rejects the YAML version `{version}`"));
            }
        } else if name != "%TAG" {
            return libyaml(format!("libyaml rejects the directive `{name}`"));
        }
        if name == "%TAG" {
            match (words.next(), words.next(), words.next()) {
                (Some(handle), Some(prefix), None)
                    if handle.starts_with('!') && handle.ends_with('!') =>
                {
                    self.tag_handles
                        .push((handle.to_string(), prefix.to_string()));
                }
                _ => {
                    return self.err(
                        start,
                        "a %TAG directive needs a handle (`!x!`) and a prefix",
                    );
                }
            }
        }
        Ok(())
    }

    /// The full tag for the tag text at `start..self.pos`: `!!int` is
    /// `tag:yaml.org,2002:int`, a `%TAG` handle is replaced by its prefix, a verbatim tag is
    /// its content, `!x` stays a local tag and `!` the non-specific tag.
    fn full_tag(&self, start: usize) -> Result<String> {
        let text = &self.src[start..self.pos];
        if let Some(v) = text.strip_prefix("!<") {
            return Ok(percent_decode(v.strip_suffix('>').unwrap_or(v)));
        }
        if text == "!" {
            return Ok(text.to_string());
        }
        let (handle, suffix) = match text[1..].find('!') {
            Some(i) => text.split_at(i + 2),
            None => ("!", &text[1..]),
        };
        let defined = self
            .tag_handles
            .iter()
            .rev()
            .find(|(h, _)| h == handle)
            .map(|(_, p)| p.as_str());
        let prefix = match (defined, handle) {
            (Some(p), _) => p,
            (None, "!!") => resolve::CORE_PREFIX,
            (None, "!") => "!",
            (None, _) => {
                return self.err(
                    start,
                    format!("the tag handle `{handle}` is not declared by a %TAG directive"),
                );
            }
        };
        Ok(format!("{prefix}{}", percent_decode(suffix)))
    }

    fn expect_line_end(&mut self, what: &str) -> Result<()> {
        self.skip_blanks();
        if !self.at_line_end() {
            return self.err(self.pos, format!("unexpected content {what}"));
        }
        Ok(())
    }

    fn document_root(&mut self, after_marker: bool) -> Result<Option<Node>> {
        if after_marker {
            self.skip_blanks();
            if !self.at_line_end() {
                return self.inline_node(-1, ValueCtx::MappingValue).map(Some);
            }
        }
        let save = self.pos;
        self.skip_trivia();
        if self.eof() || self.at_doc_marker(self.pos) {
            self.pos = save;
            return Ok(None);
        }
        self.block_node(-1, save, false).map(Some)
    }

    /// A node that starts on a fresh line at the current position; `n` is the indentation of
    /// the enclosing block (-1 at the top level).
    /// `mapping_value`: the node is the value of a block mapping entry, so a `- ` sequence at
    /// the entry's own column may follow properties that stand on their own line.
    fn block_node(&mut self, n: i64, header_end: usize, mapping_value: bool) -> Result<Node> {
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

    fn pos_trim_back(&self, mut pos: usize) -> usize {
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

    /// Reads `&anchor` and `!tag` properties (in either order) and the blanks after them.
    fn properties(&mut self) -> Result<(Option<String>, Option<String>)> {
        let mut anchor = None;
        let mut tag = None;
        loop {
            match self.peek() {
                b'&' if anchor.is_none() => {
                    let s = self.pos + 1;
                    self.pos = s;
                    while !is_ws_or_end(self.peek()) && !is_flow_indicator(self.peek()) {
                        self.pos += 1;
                    }
                    if self.pos == s {
                        return self.err(s - 1, "empty anchor name");
                    }
                    if !libyaml_anchor_name(&self.src[s..self.pos]) {
                        return Err(SyntaxError {
                            offset: s - 1,
                            message: format!(
                                "the anchor name `{}` has characters libyaml rejects",
                                &self.src[s..self.pos]
                            ),
                            libyaml: Some(ANCHOR_HINT),
                        });
                    }
                    anchor = Some(self.src[s..self.pos].to_string());
                }
                b'!' if tag.is_none() => {
                    let s = self.pos;
                    if self.at(s + 1) == b'<' {
                        while !is_ws_or_end(self.peek()) && self.peek() != b'>' {
                            self.pos += 1;
                        }
                        if self.peek() != b'>' {
                            return self.err(s, "unterminated verbatim tag (missing '>')");
                        }
                        self.pos += 1;
                    } else {
                        while !is_ws_or_end(self.peek()) && !is_flow_indicator(self.peek()) {
                            self.pos += 1;
                        }
                    }
                    tag = Some(self.full_tag(s)?);
                }
                _ => return Ok((anchor, tag)),
            }
            let before = self.pos;
            self.skip_blanks();
            if !matches!(self.peek(), b'&' | b'!') {
                self.pos = before;
                return Ok((anchor, tag));
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
    fn inline_node(&mut self, n: i64, ctx: ValueCtx) -> Result<Node> {
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

    fn alias(&mut self) -> Result<Node> {
        let s = self.pos;
        self.pos += 1;
        while !is_ws_or_end(self.peek()) && !is_flow_indicator(self.peek()) {
            self.pos += 1;
        }
        if self.pos == s + 1 {
            return self.err(s, "empty alias name");
        }
        if !libyaml_anchor_name(&self.src[s + 1..self.pos]) {
            return Err(SyntaxError {
                offset: s,
                message: format!(
                    "the alias name `{}` has characters libyaml rejects",
                    &self.src[s + 1..self.pos]
                ),
                libyaml: Some(ANCHOR_HINT),
            });
        }
        Ok(Node {
            span: s..self.pos,
            anchor: None,
            tag: None,
            kind: NodeKind::Alias(self.src[s + 1..self.pos].to_string()),
        })
    }

    /// A plain scalar in block context, possibly continued on more-indented lines.
    fn plain_block(&mut self, n: i64) -> Result<Node> {
        self.plain(Some(n))
    }

    /// A plain scalar inside a flow collection, possibly continued on later lines.
    fn plain_flow(&mut self) -> Result<Node> {
        self.plain(None)
    }

    /// A plain scalar: in block context (`block_indent` is the enclosing block's indentation,
    /// which continuation lines must exceed) or in flow context (`None`), folded over lines.
    fn plain(&mut self, block_indent: Option<i64>) -> Result<Node> {
        let flow = block_indent.is_none();
        let start = self.pos;
        let mut value = String::new();
        let mut end = self.plain_line(&mut value, flow)?;
        loop {
            // `self.pos` is where the line's content stopped (a comment, `: `, an indicator or
            // the break).
            let mut q = self.pos;
            while is_blank(self.at(q)) {
                q += 1;
            }
            if !flow && self.at(q) == b':' {
                return self.err(q, "mapping values are not allowed on this line");
            }
            if !is_break(self.at(q)) {
                break;
            }
            let mut breaks = 0;
            loop {
                if self.at(q) == b'\r' {
                    q += 1;
                }
                if self.at(q) != b'\n' {
                    break;
                }
                q += 1;
                breaks += 1;
                while is_blank(self.at(q)) {
                    q += 1;
                }
            }
            let c = self.at(q);
            let ends = match block_indent {
                Some(n) => (self.col(q) as i64) <= n || self.at_doc_marker(q),
                None => is_flow_indicator(c) || c == b':',
            };
            if c == 0 || c == b'#' || ends {
                break;
            }
            if breaks == 1 {
                value.push(' ');
            } else {
                value.extend(std::iter::repeat_n('\n', breaks - 1));
            }
            self.pos = q;
            end = self.plain_line(&mut value, flow)?;
        }
        self.pos = end;
        Ok(scalar_node(start..end, ScalarStyle::Plain, value))
    }

    /// Reads one line of a plain scalar into `value`; returns the end of its content (trailing
    /// blanks excluded) and leaves `self.pos` where the content stopped.
    fn plain_line(&mut self, value: &mut String, flow: bool) -> Result<usize> {
        let s = self.pos;
        let mut prev_blank = false;
        loop {
            let c = self.peek();
            if c == 0 || is_break(c) || (c == b'#' && prev_blank) {
                break;
            }
            if c == b':' {
                let next = self.at(self.pos + 1);
                if is_ws_or_end(next) || (flow && is_flow_indicator(next)) {
                    break;
                }
            }
            if flow && is_flow_indicator(c) {
                break;
            }
            prev_blank = is_blank(c);
            self.pos += 1;
        }
        let e = self.pos_trim_back(self.pos).max(s);
        value.push_str(&self.src[s..e]);
        Ok(e)
    }

    fn double_quoted(&mut self) -> Result<Node> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        // Length of `value` before the run of unescaped blanks it ends with.
        let mut trim_to: Option<usize> = None;
        loop {
            let c = self.peek();
            match c {
                0 => return self.err(start, "unterminated double-quoted string"),
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    trim_to = None;
                    let e = self.at(self.pos + 1);
                    self.pos += 2;
                    let simple = match e {
                        b'0' => Some('\0'),
                        b'a' => Some('\x07'),
                        b'b' => Some('\x08'),
                        b't' | b'\t' => Some('\t'),
                        b'n' => Some('\n'),
                        b'v' => Some('\x0b'),
                        b'f' => Some('\x0c'),
                        b'r' => Some('\r'),
                        b'e' => Some('\x1b'),
                        b' ' => Some(' '),
                        b'"' => Some('"'),
                        b'/' => Some('/'),
                        b'\\' => Some('\\'),
                        b'N' => Some('\u{85}'),
                        b'_' => Some('\u{a0}'),
                        _ => None,
                    };
                    if let Some(ch) = simple {
                        value.push(ch);
                        continue;
                    }
                    match e {
                        b'L' => value.push('\u{2028}'),
                        b'P' => value.push('\u{2029}'),
                        b'x' | b'u' | b'U' => {
                            let len = match e {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let hex = self.src.get(self.pos..self.pos + len).unwrap_or("");
                            let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                            match ch {
                                Some(ch) if hex.len() == len => value.push(ch),
                                _ => {
                                    return self.err(self.pos - 2, "invalid escape sequence");
                                }
                            }
                            self.pos += len;
                        }
                        b'\r' | b'\n' => {
                            if e == b'\r' && self.peek() == b'\n' {
                                self.pos += 1;
                            }
                            self.fold_breaks(&mut value, true);
                        }
                        _ => return self.err(self.pos - 2, "invalid escape sequence"),
                    }
                }
                _ => self.quoted_text(c, &mut value, &mut trim_to),
            }
        }
        Ok(scalar_node(
            start..self.pos,
            ScalarStyle::DoubleQuoted,
            value,
        ))
    }

    /// Inside a quoted scalar: a line break (folded, with the blanks before it trimmed), a
    /// blank (kept unless a break follows), or any other character.
    fn quoted_text(&mut self, c: u8, value: &mut String, trim_to: &mut Option<usize>) {
        match c {
            b'\r' | b'\n' => {
                if let Some(t) = trim_to.take() {
                    value.truncate(t);
                }
                if c == b'\r' && self.at(self.pos + 1) == b'\n' {
                    self.pos += 1;
                }
                self.pos += 1;
                self.fold_breaks(value, false);
            }
            b' ' | b'\t' => {
                if trim_to.is_none() {
                    *trim_to = Some(value.len());
                }
                value.push(c as char);
                self.pos += 1;
            }
            _ => {
                *trim_to = None;
                let ch = self.src[self.pos..].chars().next().unwrap_or('\0');
                value.push(ch);
                self.pos += ch.len_utf8();
            }
        }
    }

    /// After a line break inside a quoted scalar: skips the next lines' leading blanks and
    /// empty lines, and folds (one break: a space; more: one newline per empty line). After an
    /// escaped break (`escaped`), the first break adds nothing.
    fn fold_breaks(&mut self, value: &mut String, escaped: bool) {
        let mut empty = 0;
        loop {
            self.skip_blanks();
            match self.peek() {
                b'\r' if self.at(self.pos + 1) == b'\n' => {
                    self.pos += 2;
                    empty += 1
                }
                b'\n' => {
                    self.pos += 1;
                    empty += 1
                }
                _ => break,
            }
        }
        if empty == 0 {
            if !escaped {
                value.push(' ');
            }
        } else {
            value.extend(std::iter::repeat_n('\n', empty));
        }
    }

    fn single_quoted(&mut self) -> Result<Node> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut trim_to: Option<usize> = None;
        loop {
            let c = self.peek();
            match c {
                0 => return self.err(start, "unterminated single-quoted string"),
                b'\'' if self.at(self.pos + 1) == b'\'' => {
                    trim_to = None;
                    value.push('\'');
                    self.pos += 2;
                }
                b'\'' => {
                    self.pos += 1;
                    break;
                }
                _ => self.quoted_text(c, &mut value, &mut trim_to),
            }
        }
        Ok(scalar_node(
            start..self.pos,
            ScalarStyle::SingleQuoted,
            value,
        ))
    }

    /// A `|` or `>` block scalar whose header is at the current position.
    fn block_scalar(&mut self, n: i64) -> Result<Node> {
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

    fn flow_collection(&mut self) -> Result<Node> {
        self.enter()?;
        let r = if self.peek() == b'[' {
            self.flow_sequence()
        } else {
            self.flow_mapping()
        };
        self.depth -= 1;
        r
    }

    /// Skips blanks, comments and line breaks inside a flow collection.
    fn flow_trivia(&mut self) {
        self.skip_trivia();
    }

    fn flow_sequence(&mut self) -> Result<Node> {
        let start = self.pos;
        let indent = self.col(start);
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.flow_trivia();
            match self.peek() {
                b']' => {
                    self.pos += 1;
                    break;
                }
                0 => return self.err(start, "unterminated flow sequence (missing ']')"),
                _ => {}
            }
            let item_start = self.pos;
            let mut value = self.flow_node()?;
            self.flow_trivia();
            if self.flow_colon_ahead(&value) {
                let colon = self.pos;
                self.pos += 1;
                self.flow_trivia();
                let v = if matches!(self.peek(), b',' | b']') {
                    null_at(self.pos)
                } else {
                    self.flow_node()?
                };
                let end = if v.span.is_empty() {
                    colon + 1
                } else {
                    v.span.end
                };
                value = Node {
                    span: item_start..end,
                    anchor: None,
                    tag: None,
                    kind: NodeKind::Mapping(Mapping {
                        flow: true,
                        indent: self.col(item_start),
                        header_end: item_start,
                        entries: vec![Entry {
                            key: value,
                            colon: Some(colon),
                            value: v,
                            explicit: false,
                        }],
                    }),
                };
                self.flow_trivia();
            }
            items.push(Item { dash: None, value });
            match self.peek() {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    break;
                }
                0 => return self.err(start, "unterminated flow sequence (missing ']')"),
                _ => return self.err(self.pos, "expected ',' or ']' in a flow sequence"),
            }
        }
        Ok(Node {
            span: start..self.pos,
            anchor: None,
            tag: None,
            kind: NodeKind::Sequence(Sequence {
                flow: true,
                indent,
                header_end: start + 1,
                items,
            }),
        })
    }

    /// At `:` that makes the node before it a key in flow context.
    fn flow_colon_ahead(&self, key: &Node) -> bool {
        if self.peek() != b':' {
            return false;
        }
        let next = self.at(self.pos + 1);
        let json_like = matches!(&key.kind, NodeKind::Scalar(s) if matches!(s.style, ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted))
            || matches!(key.kind, NodeKind::Mapping(_) | NodeKind::Sequence(_));
        is_ws_or_end(next) || is_flow_indicator(next) || json_like
    }

    fn flow_mapping(&mut self) -> Result<Node> {
        let start = self.pos;
        let indent = self.col(start);
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.flow_trivia();
            match self.peek() {
                b'}' => {
                    self.pos += 1;
                    break;
                }
                0 => return self.err(start, "unterminated flow mapping (missing '}')"),
                _ => {}
            }
            let key = if self.peek() == b':' && is_ws_or_end(self.at(self.pos + 1)) {
                null_at(self.pos)
            } else {
                self.flow_node()?
            };
            self.flow_trivia();
            let (colon, value) = if self.flow_colon_ahead(&key) {
                let colon = self.pos;
                self.pos += 1;
                self.flow_trivia();
                let v = if matches!(self.peek(), b',' | b'}') {
                    null_at(self.pos)
                } else {
                    self.flow_node()?
                };
                (Some(colon), v)
            } else {
                (None, null_at(key.span.end))
            };
            entries.push(Entry {
                key,
                colon,
                value,
                explicit: false,
            });
            self.flow_trivia();
            match self.peek() {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    break;
                }
                0 => return self.err(start, "unterminated flow mapping (missing '}')"),
                _ => return self.err(self.pos, "expected ',' or '}' in a flow mapping"),
            }
        }
        Ok(Node {
            span: start..self.pos,
            anchor: None,
            tag: None,
            kind: NodeKind::Mapping(Mapping {
                flow: true,
                indent,
                header_end: start + 1,
                entries,
            }),
        })
    }

    /// A node inside a flow collection.
    fn flow_node(&mut self) -> Result<Node> {
        let start = self.pos;
        let (anchor, tag) = self.properties()?;
        if anchor.is_some() || tag.is_some() {
            self.flow_trivia();
        }
        let mut node = match self.peek() {
            b'[' | b'{' => self.flow_collection()?,
            b'"' => self.double_quoted()?,
            b'\'' => self.single_quoted()?,
            b'*' => self.alias()?,
            b',' | b']' | b'}' => null_at(self.pos),
            c if can_start_plain(c, self.at(self.pos + 1))
                || (c == b':' && !is_ws_or_end(self.at(self.pos + 1))) =>
            {
                self.plain_flow()?
            }
            c => {
                return self.err(
                    self.pos,
                    format!("unexpected '{}' in a flow collection", c as char),
                );
            }
        };
        set_properties(&mut node, start, anchor, tag, self)?;
        Ok(node)
    }
}

/// `%21` and other URI escapes of a tag, decoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// Whether a plain scalar may start with `c` followed by `next`.
pub(crate) fn can_start_plain(c: u8, next: u8) -> bool {
    match c {
        0 | b' ' | b'\t' | b'\r' | b'\n' => false,
        b'-' | b'?' | b':' => !is_ws_or_end(next) && !is_flow_indicator(next),
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => false,
        _ => true,
    }
}

fn scalar_node(span: Span, style: ScalarStyle, value: String) -> Node {
    Node {
        span: span.clone(),
        anchor: None,
        tag: None,
        kind: NodeKind::Scalar(Scalar {
            style,
            value,
            content: span,
        }),
    }
}

fn null_at(pos: usize) -> Node {
    Node {
        span: pos..pos,
        anchor: None,
        tag: None,
        kind: NodeKind::Null,
    }
}

fn set_properties(
    node: &mut Node,
    start: usize,
    anchor: Option<String>,
    tag: Option<String>,
    p: &Parser<'_>,
) -> Result<()> {
    if anchor.is_none() && tag.is_none() {
        return Ok(());
    }
    if (anchor.is_some() && node.anchor.is_some()) || (tag.is_some() && node.tag.is_some()) {
        return p.err(start, "a node cannot have two anchors or two tags");
    }
    if node.anchor.is_none() {
        node.anchor = anchor;
    }
    if node.tag.is_none() {
        node.tag = tag;
    }
    if matches!(node.kind, NodeKind::Null) && node.span.is_empty() {
        node.span = start..node.span.end.max(start);
    } else {
        node.span.start = start;
    }
    Ok(())
}
