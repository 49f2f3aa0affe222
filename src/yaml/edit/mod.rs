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
//!
//! How the pieces fit: every edit is a `Plan` (splices, the region of old text they may
//! touch, and the intended change to the data) made by one planner and applied by `verify`.
//! This file holds the public methods of `Document` (`set`, `set_value`, `remove`, `append`),
//! the values they take (`NewValue`) and the types the planners share. The planners are `set`
//! (replacing a value, or creating the missing keys through `insert`), `remove` and `append`;
//! they find the lines a node owns with `region`, refuse edits that would break aliases with
//! `anchors`, and write new text with `text`. `verify` splices the plan in and accepts the
//! result only if both parsers agree it is the original plus the change.

mod anchors;
mod append;
mod insert;
mod region;
mod remove;
mod set;
mod text;
mod verify;

use std::ops::Range;

use super::data::{Change, Data};
use super::document::{Document, EditError};
use super::load;
use super::path::Path;
use super::scalar::ScalarValue;
use super::style::Style;

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
