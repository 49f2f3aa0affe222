//! Building `Data` from text: from our tree (with anchors resolved) and from an independent
//! parser (yaml-rust2's event parser, with a loader of our own that keeps duplicate keys and
//! compensates where yaml-rust2 departs from the spec), with scalars resolved by `resolve`.
//!
//! Owns: the two loaders and the reference parser's errors. Does not own: the `Data` value
//! (`data.rs`), what a scalar means (`resolve.rs`) or parsing our tree (`parse/`).

use std::collections::HashMap;

use yaml_rust2::ScanError;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::data::Data;
use super::resolve;
use super::tree::{Doc, Node, NodeKind, ScalarStyle};

/// What a plain scalar means (`true`, `5`, `~`, or a string) under the YAML 1.2 core schema.
pub fn resolve_plain(value: &str) -> Data {
    resolve::core(value)
}

/// What a scalar of this style and (full) tag means.
pub fn resolve_scalar(value: &str, style: ScalarStyle, tag: Option<&str>) -> Data {
    resolve::scalar(value, style == ScalarStyle::Plain, tag)
}

/// The data of our tree. Aliases are replaced by a copy of their anchored node.
pub fn from_tree(docs: &[Doc]) -> Vec<Data> {
    let mut anchors = HashMap::new();
    docs.iter()
        .map(|d| {
            anchors.clear();
            d.root
                .as_ref()
                .map_or(Data::Null, |n| node_data(n, &mut anchors))
        })
        .collect()
}

fn node_data(node: &Node, anchors: &mut HashMap<String, Data>) -> Data {
    let data = match &node.kind {
        NodeKind::Null => resolve_scalar("", ScalarStyle::Plain, node.tag.as_deref()),
        NodeKind::Scalar(s) => resolve_scalar(&s.value, s.style, node.tag.as_deref()),
        NodeKind::Alias(name) => anchors.get(name).cloned().unwrap_or(Data::Null),
        NodeKind::Mapping(m) => resolve::collection(
            Data::Map(
                m.entries
                    .iter()
                    .map(|e| (node_data(&e.key, anchors), node_data(&e.value, anchors)))
                    .collect(),
            ),
            node.tag.as_deref(),
        ),
        NodeKind::Sequence(s) => resolve::collection(
            Data::Seq(
                s.items
                    .iter()
                    .map(|i| node_data(&i.value, anchors))
                    .collect(),
            ),
            node.tag.as_deref(),
        ),
    };
    if let Some(a) = &node.anchor {
        anchors.insert(a.clone(), data.clone());
    }
    data
}

/// A syntax error found by the independent parser.
#[derive(Debug, Clone)]
pub struct ReferenceError {
    /// Zero-based line and column as the reference parser reports them.
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Loads a stream with the independent parser (yaml-rust2's scanner and parser), with scalars
/// resolved by `resolve` (the core schema and full tags, as for our tree).
///
/// Where yaml-rust2 itself is wrong, this loader compensates:
/// - a UTF-8 byte-order mark is part of the stream's encoding, not of its first key: it is
///   removed before parsing (yaml-rust2 reads it as content);
/// - characters YAML forbids (form feed, escape, DEL, C1 controls, U+FFFE…) are refused, as
///   libyaml and PyYAML refuse them (yaml-rust2 accepts them);
/// - a `|` or `>` block scalar that runs to the end of a text without a final line break gets
///   one line break too many from yaml-rust2 (`a: |\n  x` reads `"x\n"`; the spec, libyaml and
///   PyYAML read `"x"`): it is taken off.
pub fn reference_load(text: &str) -> Result<Vec<Data>, ReferenceError> {
    let (body, bom) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    if let Some((offset, c)) = resolve::first_unprintable(text) {
        let before = &text[..offset];
        let line = before.matches('\n').count();
        let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .count();
        return Err(ReferenceError {
            line,
            col,
            message: format!(
                "{} is not allowed in YAML (only printable characters, tab and line breaks)",
                resolve::describe_char(c)
            ),
        });
    }
    let mut loader = Loader::default();
    let mut parser = Parser::new_from_str(body);
    let to_err = |e: &ScanError| {
        let line = e.marker().line().saturating_sub(1);
        ReferenceError {
            line,
            col: e.marker().col() + usize::from(bom && line == 0),
            message: e.info().to_string(),
        }
    };
    parser.load(&mut loader, true).map_err(|e| to_err(&e))?;
    if let Some(col) = loader.last_block_scalar
        && !body.ends_with(['\n', '\r'])
        && block_scalar_reaches_end(body, col)
        && let Some(Data::Str(s)) = loader.docs.last_mut().and_then(last_leaf)
        && s.ends_with('\n')
    {
        s.pop();
    }
    Ok(loader.docs)
}

/// Whether the last line of `text` belongs to a block scalar whose content is indented to
/// `col`: it is blank, or indented at least that far.
fn block_scalar_reaches_end(text: &str, col: usize) -> bool {
    let last = &text[text.rfind('\n').map_or(0, |i| i + 1)..];
    last.trim().is_empty() || last.len() - last.trim_start_matches(' ').len() >= col
}

/// The last scalar of a document in document order (the last value of the last entries).
fn last_leaf(d: &mut Data) -> Option<&mut Data> {
    match d {
        Data::Seq(v) => v.last_mut().and_then(last_leaf),
        Data::Map(m) => m.last_mut().and_then(|(_, v)| last_leaf(v)),
        Data::Tagged(_, inner) => last_leaf(inner),
        other => Some(other),
    }
}

/// A full tag from yaml-rust2's: the handle is already replaced by its `%TAG` prefix
/// (`tag:yaml.org,2002:` for `!!`), `!` for a local tag, empty for a verbatim tag or the
/// non-specific `!`.
fn full_tag(t: &Tag) -> String {
    format!("{}{}", t.handle, t.suffix)
}

#[derive(Default)]
struct Loader {
    docs: Vec<Data>,
    stack: Vec<(Data, usize, Option<String>)>,
    keys: Vec<Option<Data>>,
    anchors: HashMap<usize, Data>,
    /// The content column of the last event when it was a block scalar.
    last_block_scalar: Option<usize>,
}

impl Loader {
    fn insert(&mut self, node: Data, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.stack.push((node, 0, None)),
            Some((Data::Seq(v), ..)) => v.push(node),
            Some((Data::Map(m), ..)) => {
                let slot = self.keys.last_mut().expect("a mapping has a key slot");
                match slot.take() {
                    None => *slot = Some(node),
                    Some(k) => m.push((k, node)),
                }
            }
            Some(_) => unreachable!("only collections are pushed on the stack"),
        }
    }
}

impl MarkedEventReceiver for Loader {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if !matches!(
            ev,
            Event::SequenceEnd | Event::MappingEnd | Event::DocumentEnd | Event::StreamEnd
        ) {
            self.last_block_scalar = None;
        }
        match ev {
            Event::DocumentEnd => {
                let doc = self.stack.pop().map_or(Data::Null, |(d, ..)| d);
                self.docs.push(doc);
                self.anchors.clear();
            }
            Event::SequenceStart(aid, tag) => {
                self.stack
                    .push((Data::Seq(Vec::new()), aid, tag.as_ref().map(full_tag)));
            }
            Event::MappingStart(aid, tag) => {
                self.stack
                    .push((Data::Map(Vec::new()), aid, tag.as_ref().map(full_tag)));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if matches!(ev, Event::MappingEnd) {
                    self.keys.pop();
                }
                let (node, aid, tag) = self.stack.pop().expect("balanced events");
                self.insert(resolve::collection(node, tag.as_deref()), aid);
            }
            Event::Scalar(v, style, aid, tag) => {
                if matches!(style, TScalarStyle::Literal | TScalarStyle::Folded) {
                    self.last_block_scalar = Some(mark.col());
                }
                let tag = tag.as_ref().map(full_tag);
                let node = resolve::scalar(&v, style == TScalarStyle::Plain, tag.as_deref());
                self.insert(node, aid);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Data::Null);
                self.insert(node, 0);
            }
            _ => {}
        }
    }
}
