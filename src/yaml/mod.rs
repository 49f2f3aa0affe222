//! The lossless YAML document: every edit is a splice into the original bytes, so lines it
//! does not mean to change stay byte-identical (comments, quotes, indentation, blank lines,
//! key order, the final newline). After each edit the result is re-parsed by an independent
//! parser and compared with the original data plus the intended change; if anything else
//! differs, the edit is refused and nothing changes.
//!
//! Data flow: `parse` (text → `tree`), `document` (lookups, round-trip check), `edit`
//! (splices + verification, using `style` and `scalar` for new text), `load` (plain `data`
//! from both parsers), `resolve` (what a scalar means to each kind of reader: the YAML 1.2 core
//! schema, PyYAML's and Helm's YAML 1.1, tags, the characters YAML allows; the one place that
//! decides whether a scalar may be written plain), `file` (reading and atomic writing).

mod data;
mod document;
mod edit;
mod file;
mod lines;
mod load;
mod parse;
mod path;
pub mod resolve;
mod scalar;
mod style;
mod tree;

pub use data::Data;
pub use document::{CheckError, Document, EditError, SyntaxError};
pub use edit::NewValue;
pub use file::{FileError, YamlFile};
pub use lines::Lines;
pub use load::{reference_load, resolve_plain};
pub use path::{Path, PathSyntaxError, Segment};
pub use scalar::ScalarValue;
pub use style::Style;
pub use tree::{Doc, Entry, Item, Mapping, Node, NodeKind, Scalar, ScalarStyle, Sequence};
