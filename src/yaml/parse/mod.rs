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
//!
//! How the pieces fit: one recursive-descent `Parser` over the bytes, its methods spread
//! over the files by what they read. This file holds the entry point (`parse_stream`), the
//! error type and libyaml's hints, the parser's state and cursor (peeking, skipping blanks and
//! comments, the nesting limit) and the node constructors every piece shares. `stream` reads
//! documents and directives and calls `block` for each root; `block` reads block mappings and
//! sequences and dispatches a value on its line to `scalar` (plain and quoted),
//! `block_scalar` (`|` and `>`), `flow` (`[...]` and `{...}`) or `properties` (anchors,
//! tags, aliases), which `flow` uses too. `tabs` runs last, over the finished tree, for the
//! tabs libyaml rejects.

mod block;
mod block_scalar;
mod flow;
mod properties;
mod scalar;
mod stream;
mod tabs;

use super::resolve;
use super::tree::*;
use tabs::check_tabs;

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
