//! The syntax tree of a YAML document: nodes that point into the original text by byte span.
//!
//! Owns: the node types and small queries over them. Does not own: parsing (`parse/`), text
//! positions (`lines.rs`) or edits (`edit/`). Comments and blank lines are not nodes: they are
//! the text between nodes, and `edit/` decides which node owns them.

use std::ops::Range;

/// A byte range in the document text.
pub type Span = Range<usize>;

/// One node. `span` runs from its first property (`&anchor`, `!tag`) or content byte to the end
/// of its content, never over a trailing comment or line break.
#[derive(Debug, Clone)]
pub struct Node {
    pub span: Span,
    pub anchor: Option<String>,
    pub tag: Option<String>,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// An empty value (`key:` with nothing after it); its span is empty.
    Null,
    Scalar(Scalar),
    Alias(String),
    Mapping(Mapping),
    Sequence(Sequence),
}

#[derive(Debug, Clone)]
pub struct Scalar {
    pub style: ScalarStyle,
    /// The decoded value (escapes resolved, lines folded, block scalar chomped).
    pub value: String,
    /// The scalar's own text, without properties.
    pub content: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug, Clone)]
pub struct Mapping {
    pub flow: bool,
    /// Column of the keys (block) or of `{` (flow).
    pub indent: usize,
    /// Where the text before the first entry begins: just after the parent's `key:` or `- `, or
    /// the start of the document. Comments between it and the first key belong to that key.
    pub header_end: usize,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Node,
    /// Offset of the `:` indicator (absent for a flow entry written as a bare key, and for an
    /// explicit `? key` without a value).
    pub colon: Option<usize>,
    pub value: Node,
    /// Written with the explicit-key indicator (`? key` / `: value`): read, never edited.
    pub explicit: bool,
}

#[derive(Debug, Clone)]
pub struct Sequence {
    pub flow: bool,
    /// Column of the `-` indicators (block) or of `[` (flow).
    pub indent: usize,
    pub header_end: usize,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub struct Item {
    /// Offset of the `-` indicator (block sequences only).
    pub dash: Option<usize>,
    pub value: Node,
}

/// One document of a stream.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Offset just after the `---` line (or the start of the document when it has none).
    pub body_start: usize,
    /// Offset of the `---` marker, when the document has one.
    pub marker: Option<usize>,
    pub root: Option<Node>,
}

impl Node {
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Scalar(_) => "scalar",
            NodeKind::Alias(_) => "alias",
            NodeKind::Mapping(m) if m.flow => "flow mapping",
            NodeKind::Mapping(_) => "mapping",
            NodeKind::Sequence(s) if s.flow => "flow sequence",
            NodeKind::Sequence(_) => "sequence",
        }
    }

    /// The scalar text of a key or a selector value; `None` for collections and aliases.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(&s.value),
            NodeKind::Null => Some(""),
            _ => None,
        }
    }

    pub fn as_mapping(&self) -> Option<&Mapping> {
        match &self.kind {
            NodeKind::Mapping(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_sequence(&self) -> Option<&Sequence> {
        match &self.kind {
            NodeKind::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a null written as nothing, `~` or `null`.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Null => true,
            NodeKind::Scalar(s) => {
                s.style == ScalarStyle::Plain
                    && matches!(s.value.as_str(), "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// Visits this node and every node below it, in document order.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Node)) {
        f(self);
        match &self.kind {
            NodeKind::Mapping(m) => {
                for e in &m.entries {
                    e.key.walk(f);
                    e.value.walk(f);
                }
            }
            NodeKind::Sequence(s) => {
                for i in &s.items {
                    i.value.walk(f);
                }
            }
            _ => {}
        }
    }
}

impl Mapping {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key.scalar_text() == Some(key))
    }
}
