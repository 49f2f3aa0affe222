//! `Document`: the original text of a YAML file and its tree, with lookups by PATH and the
//! round-trip check. Edits live in `edit/` (also `impl Document`).
//!
//! Owns: parsing a text into a document, errors with line and column, path resolution, `get`
//! output, and `check` (does the editor read exactly what an independent parser reads, and
//! does every byte belong to something it understood). Does not own: files on disk (`file.rs`).

use std::fmt;

use super::data::Data;
use super::lines::Lines;
use super::load;
use super::parse::parse_stream;
use super::path::{Path, Segment, prefix};
use super::style::{self, Style};
use super::tree::{Doc, Entry, Item, Mapping, Node, NodeKind, Sequence};

/// A YAML syntax error, with one-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// Valid YAML 1.2 that libyaml, and so Helm, rejects (a tab where it wants spaces).
    pub libyaml: Option<&'static str>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)?;
        match self.hint() {
            Some(hint) => write!(f, "\n  hint: {hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for SyntaxError {}

impl SyntaxError {
    /// What to do about it, when there is more to say than the message.
    pub fn hint(&self) -> Option<&'static str> {
        self.libyaml
    }
}

/// Why a lookup or an edit cannot be done. Every variant leaves the document unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("`{path}` not found: {reason}")]
    NotFound { path: String, reason: String },
    #[error(
        "`{path}` goes through `{at}`, which is a {kind} (line {line}), not a mapping or sequence"
    )]
    ThroughScalar {
        path: String,
        at: String,
        kind: &'static str,
        line: usize,
    },
    #[error(
        "`{path}` is inside a flow collection (line {line}); the editor changes only block mappings and sequences there"
    )]
    Flow { path: String, line: usize },
    #[error("`{path}`: {reason}")]
    Unsupported { path: String, reason: String },
    #[error("the result did not verify ({0}); nothing was changed")]
    Verify(String),
}

/// The original text and what it means.
#[derive(Debug, Clone)]
pub struct Document {
    pub(super) text: String,
    pub(super) docs: Vec<Doc>,
}

/// One step from a node to its child, as found by `resolve`.
#[derive(Debug, Clone, Copy)]
pub enum Via<'d> {
    Entry(&'d Mapping, usize),
    Item(&'d Sequence, usize),
}

/// The nodes along a path, from the root to the target, and how each was reached.
#[derive(Debug)]
pub struct Resolved<'d> {
    pub chain: Vec<(&'d Node, Option<Via<'d>>)>,
}

impl<'d> Resolved<'d> {
    pub fn target(&self) -> &'d Node {
        self.chain.last().expect("the chain starts at the root").0
    }

    pub fn via(&self) -> Option<Via<'d>> {
        self.chain.last().and_then(|(_, v)| *v)
    }

    /// Whether any collection along the way is a flow collection.
    pub fn in_flow(&self) -> bool {
        self.chain[..self.chain.len() - 1].iter().any(|(n, _)| {
            matches!(&n.kind, NodeKind::Mapping(m) if m.flow)
                || matches!(&n.kind, NodeKind::Sequence(s) if s.flow)
        })
    }
}

impl Entry {
    /// End of the entry's content: its value, or its `:` when the value is empty.
    pub fn content_end(&self) -> usize {
        let colon_end = self.colon.map_or(self.key.span.end, |c| c + 1);
        self.value.span.end.max(colon_end)
    }
}

impl Item {
    pub fn content_end(&self) -> usize {
        self.value.span.end.max(self.dash.map_or(0, |d| d + 1))
    }

    pub fn start(&self) -> usize {
        self.dash.unwrap_or(self.value.span.start)
    }
}

impl Document {
    /// Parses a text; the error says where the syntax is wrong.
    pub fn parse(text: impl Into<String>) -> Result<Document, SyntaxError> {
        let text = text.into();
        match parse_stream(&text) {
            Ok(docs) => Ok(Document { text, docs }),
            Err(e) => {
                let (line, col) = Lines::new(&text).line_col(e.offset);
                Err(SyntaxError {
                    line,
                    col,
                    message: e.message,
                    libyaml: e.libyaml,
                })
            }
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn docs(&self) -> &[Doc] {
        &self.docs
    }

    pub fn root(&self, doc: usize) -> Option<&Node> {
        self.docs.get(doc).and_then(|d| d.root.as_ref())
    }

    pub fn lines(&self) -> Lines<'_> {
        Lines::new(&self.text)
    }

    pub fn style(&self) -> Style {
        style::detect(&self.docs)
    }

    /// The data of every document as this editor reads it.
    pub fn data(&self) -> Vec<Data> {
        load::from_tree(&self.docs)
    }

    pub fn line_of(&self, offset: usize) -> usize {
        self.lines().line_of(offset) + 1
    }

    /// Finds the node at `path` in document `doc`.
    pub fn get(&self, doc: usize, path: &Path) -> Result<&Node, EditError> {
        Ok(self.resolve(doc, path.segments())?.target())
    }

    /// Walks `path`, failing at the first segment that does not match.
    pub fn resolve(&self, doc: usize, path: &[Segment]) -> Result<Resolved<'_>, EditError> {
        let full = || Path(path.to_vec()).to_string();
        let Some(root) = self.root(doc) else {
            return Err(EditError::NotFound {
                path: full(),
                reason: if self.docs.is_empty() {
                    "the file has no YAML content".into()
                } else if doc >= self.docs.len() {
                    format!(
                        "document {doc} does not exist (the file has {})",
                        self.docs.len()
                    )
                } else {
                    format!("document {doc} is empty")
                },
            });
        };
        let mut chain: Vec<(&Node, Option<Via>)> = vec![(root, None)];
        for (i, seg) in path.iter().enumerate() {
            let cur = chain.last().unwrap().0;
            let at = || {
                if i == 0 {
                    "the document root".to_string()
                } else {
                    format!("`{}`", prefix(path, i))
                }
            };
            let next = match (&cur.kind, seg) {
                (NodeKind::Mapping(m), Segment::Key(k)) => {
                    match m
                        .entries
                        .iter()
                        .position(|e| e.key.scalar_text() == Some(k))
                    {
                        Some(j) => (&m.entries[j].value, Via::Entry(m, j)),
                        None => {
                            return Err(EditError::NotFound {
                                path: full(),
                                reason: format!("{} has no key `{k}`{}", at(), closest(m, k)),
                            });
                        }
                    }
                }
                (NodeKind::Sequence(s), Segment::Index(n)) => match s.items.get(*n) {
                    Some(item) => (&item.value, Via::Item(s, *n)),
                    None => {
                        return Err(EditError::NotFound {
                            path: full(),
                            reason: format!(
                                "{} has {}",
                                at(),
                                crate::util::text::plural(s.items.len(), "item", "items")
                            ),
                        });
                    }
                },
                (NodeKind::Sequence(s), Segment::Select { key, value }) => {
                    let found = s.items.iter().position(|item| {
                        item.value
                            .as_mapping()
                            .and_then(|m| m.get(key))
                            .and_then(|e| e.value.scalar_text())
                            == Some(value.as_str())
                    });
                    match found {
                        Some(j) => (&s.items[j].value, Via::Item(s, j)),
                        None => {
                            return Err(EditError::NotFound {
                                path: full(),
                                reason: format!("no item of {} has `{key}: {value}`", at()),
                            });
                        }
                    }
                }
                (NodeKind::Mapping(_), _) => {
                    return Err(EditError::NotFound {
                        path: full(),
                        reason: format!("{} is a mapping; `[...]` selects sequence items", at()),
                    });
                }
                (NodeKind::Sequence(_), Segment::Key(k)) => {
                    return Err(EditError::NotFound {
                        path: full(),
                        reason: format!(
                            "{} is a sequence; select an item with `[N]` or `[key=value]` before `{k}`",
                            at()
                        ),
                    });
                }
                (NodeKind::Alias(name), _) => {
                    return Err(EditError::Unsupported {
                        path: full(),
                        reason: format!(
                            "{} is the alias `*{name}` (line {}); edit the anchored node instead",
                            at(),
                            self.line_of(cur.span.start)
                        ),
                    });
                }
                (NodeKind::Null | NodeKind::Scalar(_), _) => {
                    return Err(EditError::ThroughScalar {
                        path: full(),
                        at: if i == 0 { ".".into() } else { prefix(path, i) },
                        kind: if cur.is_null() { "null" } else { "scalar" },
                        line: self.line_of(cur.span.start),
                    });
                }
            };
            chain.push((next.0, Some(next.1)));
        }
        Ok(Resolved { chain })
    }

    /// What `edit get` prints: a scalar's value, or a collection's source text, dedented.
    pub fn value_text(&self, node: &Node) -> String {
        match &node.kind {
            NodeKind::Null => "null".to_string(),
            NodeKind::Scalar(s) => s.value.clone(),
            NodeKind::Alias(_) => self.text[node.span.clone()].to_string(),
            NodeKind::Mapping(_) | NodeKind::Sequence(_) => {
                let lines = self.lines();
                let first = lines.line_of(node.span.start);
                let col = node.span.start - lines.start(first);
                let mut out = String::new();
                for (k, line) in self.text[node.span.clone()].split('\n').enumerate() {
                    if k > 0 {
                        out.push('\n');
                        let strip = line.len() - line.trim_start_matches(' ').len();
                        out.push_str(&line[strip.min(col)..]);
                    } else {
                        out.push_str(line);
                    }
                }
                out
            }
        }
    }

    /// Text re-emitted from the tree: every byte either belongs to a token the parser read or
    /// is trivia between tokens (blanks, breaks, comments, indicators). Differs from the text
    /// only if the parser skipped something it did not understand.
    pub fn emit(&self) -> Result<String, CheckError> {
        let mut tokens: Vec<std::ops::Range<usize>> = Vec::new();
        for doc in &self.docs {
            if let Some(root) = &doc.root {
                root.walk(&mut |n| match &n.kind {
                    NodeKind::Scalar(s) => tokens.push(s.content.clone()),
                    NodeKind::Alias(_) => tokens.push(n.span.clone()),
                    _ => {}
                });
            }
        }
        tokens.sort_by_key(|r| r.start);
        let mut out = String::with_capacity(self.text.len());
        let mut pos = 0;
        for t in tokens {
            if t.start < pos {
                return Err(CheckError {
                    at: Some(self.lines().line_col(t.start)),
                    message: "overlapping tokens".into(),
                    syntax: false,
                    libyaml: None,
                });
            }
            check_trivia(&self.text, pos, t.start)?;
            out.push_str(&self.text[pos..t.start]);
            out.push_str(&self.text[t.clone()]);
            pos = t.end;
        }
        check_trivia(&self.text, pos, self.text.len())?;
        out.push_str(&self.text[pos..]);
        Ok(out)
    }

    /// The round-trip check of `edit check`: the independent parser accepts the text and reads
    /// the same data, and the tree re-emits the text byte for byte.
    pub fn check(&self) -> Result<(), CheckError> {
        let reference = load::reference_load(&self.text).map_err(|e| CheckError {
            at: Some((e.line + 1, e.col + 1)),
            message: format!("the reference parser rejects it: {}", e.message),
            syntax: true,
            libyaml: None,
        })?;
        let ours: Vec<Data> = self.data().iter().map(Data::canonical).collect();
        let theirs: Vec<Data> = reference.iter().map(Data::canonical).collect();
        if ours != theirs {
            return Err(CheckError {
                at: None,
                message: format!(
                    "the editor reads different data than the reference parser ({})",
                    first_difference(&ours, &theirs)
                ),
                syntax: false,
                libyaml: None,
            });
        }
        let emitted = self.emit()?;
        if emitted != self.text {
            return Err(CheckError {
                at: None,
                message: "re-emitted text differs".into(),
                syntax: false,
                libyaml: None,
            });
        }
        Ok(())
    }
}

/// Why a file fails the round-trip check, with a one-based line and column where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The text is not valid YAML (as opposed to valid YAML the editor cannot reproduce).
    pub syntax: bool,
    /// Valid YAML 1.2 that libyaml, and so Helm, rejects: an error whatever the reference
    /// parser says.
    pub libyaml: Option<&'static str>,
}

impl CheckError {
    /// A problem without a position that is not a syntax error.
    pub fn other(message: impl Into<String>) -> CheckError {
        CheckError {
            at: None,
            message: message.into(),
            syntax: false,
            libyaml: None,
        }
    }

    pub fn hint(&self) -> Option<&'static str> {
        self.libyaml
    }
}

impl From<SyntaxError> for CheckError {
    fn from(e: SyntaxError) -> Self {
        CheckError {
            at: Some((e.line, e.col)),
            message: e.message,
            syntax: true,
            libyaml: e.libyaml,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, col)) => write!(f, "{line}:{col}: {}", self.message)?,
            None => f.write_str(&self.message)?,
        }
        match self.hint() {
            Some(hint) => write!(f, "\n  hint: {hint}"),
            None => Ok(()),
        }
    }
}

/// Bytes between tokens may only be blanks, breaks, comments, indicators, properties,
/// document markers and directives.
fn check_trivia(text: &str, from: usize, to: usize) -> Result<(), CheckError> {
    let b = text.as_bytes();
    let mut i = from;
    while i < to {
        let c = b[i];
        let line_start = i == 0 || b[i - 1] == b'\n';
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'-' | b':' | b',' | b'[' | b']' | b'{' | b'}'
            | b'?' | b'.' => i += 1,
            b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n') => {
                while i < to && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'%' if line_start => {
                while i < to && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'!' if b.get(i + 1) == Some(&b'<') => {
                while i < to && b[i] != b'>' {
                    i += 1;
                }
                i += 1;
            }
            b'&' | b'!' => {
                while i < to && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}') {
                    i += 1;
                }
            }
            0xEF if i == 0 && text.starts_with('\u{feff}') => i += 3,
            _ => {
                return Err(CheckError {
                    at: Some(Lines::new(text).line_col(i)),
                    message: "the editor did not read this text".into(),
                    syntax: false,
                    libyaml: None,
                });
            }
        }
    }
    Ok(())
}

fn first_difference(a: &[Data], b: &[Data]) -> String {
    if a.len() != b.len() {
        return format!("{} documents against {}", a.len(), b.len());
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            return format!("document {i}: {}", describe_difference(x, y, String::new()));
        }
    }
    "no difference".into()
}

fn describe_difference(a: &Data, b: &Data, at: String) -> String {
    match (a, b) {
        (Data::Map(x), Data::Map(y)) if x.len() == y.len() => {
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                if ka != kb {
                    return format!("at `{at}`: key {ka:?} against {kb:?}");
                }
                if va != vb {
                    let k = ka.key_text().unwrap_or_default();
                    let at = if at.is_empty() {
                        k
                    } else {
                        format!("{at}.{k}")
                    };
                    return describe_difference(va, vb, at);
                }
            }
            format!("at `{at}`")
        }
        (Data::Seq(x), Data::Seq(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                if va != vb {
                    return describe_difference(va, vb, format!("{at}[{i}]"));
                }
            }
            format!("at `{at}`")
        }
        _ => format!("at `{at}`: {a:?} against {b:?}"),
    }
}

/// ` (did you mean `x`?)` for a key that is a near miss of one in the mapping.
fn closest(m: &Mapping, key: &str) -> String {
    let keys = m.entries.iter().filter_map(|e| e.key.scalar_text());
    match crate::util::suggest::closest(key, keys) {
        Some(k) => format!(" (did you mean `{k}`?)"),
        None => String::new(),
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
