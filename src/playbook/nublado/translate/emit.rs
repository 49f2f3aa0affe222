//! The YAML text of translated values: block style, two-space indentation, sequences indented
//! under their key, strings double-quoted (as nublado v3 values files are written).

use crate::yaml::{ScalarStyle, ScalarValue};

/// A value to write, in the order it is written.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    /// A plain scalar that is not a string (a number, a boolean, null), written as it was.
    Raw(String),
    Seq(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Value {
    pub(super) fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub(super) fn map<'k>(entries: impl IntoIterator<Item = (&'k str, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    fn scalar(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(ScalarValue::double_quoted(s.as_str()).inline_text(
                ScalarStyle::DoubleQuoted,
                ScalarStyle::DoubleQuoted,
                false,
            )),
            Value::Int(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Raw(t) => Some(t.clone()),
            Value::Seq(s) if s.is_empty() => Some("[]".into()),
            Value::Map(m) if m.is_empty() => Some("{}".into()),
            _ => None,
        }
    }
}

impl Value {
    /// A copy of a leaf of a values file: strings double-quoted, other plain scalars (numbers,
    /// booleans) as they were written, empty collections as `{}` and `[]`.
    pub(super) fn of_leaf(node: &crate::yaml::Node) -> Value {
        use crate::yaml::{Data, NodeKind};
        match &node.kind {
            NodeKind::Scalar(s) if s.style == ScalarStyle::Plain => {
                match crate::yaml::resolve_plain(&s.value) {
                    Data::Str(t) => Value::Str(t),
                    _ => Value::Raw(s.value.clone()),
                }
            }
            NodeKind::Scalar(s) => Value::Str(s.value.clone()),
            NodeKind::Mapping(_) => Value::Map(Vec::new()),
            NodeKind::Sequence(_) => Value::Seq(Vec::new()),
            NodeKind::Null | NodeKind::Alias(_) => Value::Raw("null".into()),
        }
    }

    /// Sets the value at `path` (keys and sequence indexes) in this mapping, creating the
    /// mappings and sequences on the way; a sequence index past the end appends.
    pub(super) fn insert(&mut self, path: &[crate::yaml::Segment], value: Value) {
        use crate::yaml::Segment;
        let Some((first, rest)) = path.split_first() else {
            *self = value;
            return;
        };
        let fresh = |next: Option<&Segment>| match next {
            Some(Segment::Index(_)) => Value::Seq(Vec::new()),
            _ => Value::Map(Vec::new()),
        };
        match (self, first) {
            (Value::Map(entries), Segment::Key(k)) => {
                let i = match entries.iter().position(|(x, _)| x == k) {
                    Some(i) => i,
                    None => {
                        entries.push((k.clone(), fresh(rest.first())));
                        entries.len() - 1
                    }
                };
                entries[i].1.insert(rest, value);
            }
            (Value::Seq(items), Segment::Index(i)) => {
                if *i >= items.len() {
                    items.push(fresh(rest.first()));
                }
                let at = (*i).min(items.len() - 1);
                items[at].insert(rest, value);
            }
            (slot, _) => {
                *slot = fresh(Some(first));
                slot.insert(path, value);
            }
        }
    }

    /// Merges `other` into this mapping: mappings merge key by key, anything else replaces.
    pub(super) fn merge(&mut self, other: Value) {
        match (self, other) {
            (Value::Map(mine), Value::Map(theirs)) => {
                for (k, v) in theirs {
                    match mine.iter_mut().find(|(x, _)| *x == k) {
                        Some((_, slot)) => slot.merge(v),
                        None => mine.push((k, v)),
                    }
                }
            }
            (slot, other) => *slot = other,
        }
    }

    /// The entry at a key of this mapping.
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The block text of one value (a mapping's entries, a sequence's items, or a scalar), to be
/// inserted under a key by the editor.
pub(super) fn render_value(value: &Value) -> String {
    match (value.scalar(), value) {
        (Some(s), _) => s,
        (None, Value::Map(_)) => render(value),
        (None, Value::Seq(items)) => {
            let mut out = String::new();
            write_items(&mut out, items, 0);
            out
        }
        (None, _) => unreachable!("scalars have text"),
    }
}

/// Block YAML: two-space indentation, sequences indented under their key, strings
/// double-quoted.
pub(super) fn render(root: &Value) -> String {
    let mut out = String::new();
    if let Value::Map(entries) = root {
        for (k, v) in entries {
            write_entry(&mut out, k, v, 0, true);
        }
    }
    out
}

fn key_text(k: &str) -> String {
    ScalarValue::string(k).inline_text(ScalarStyle::Plain, ScalarStyle::DoubleQuoted, false)
}

/// `key: value` at `indent`; the first entry of a sequence item follows its `- `.
fn write_entry(out: &mut String, key: &str, value: &Value, indent: usize, pad: bool) {
    if pad {
        out.push_str(&" ".repeat(indent));
    }
    out.push_str(&key_text(key));
    out.push(':');
    match (value.scalar(), value) {
        (Some(s), _) => {
            out.push(' ');
            out.push_str(&s);
            out.push('\n');
        }
        (None, Value::Map(m)) => {
            out.push('\n');
            for (k, v) in m {
                write_entry(out, k, v, indent + 2, true);
            }
        }
        (None, Value::Seq(items)) => {
            out.push('\n');
            write_items(out, items, indent + 2);
        }
        (None, _) => unreachable!("scalars have text"),
    }
}

fn write_items(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match (item.scalar(), item) {
            (Some(s), _) => {
                out.push_str(&s);
                out.push('\n');
            }
            (None, Value::Map(m)) => {
                for (i, (k, v)) in m.iter().enumerate() {
                    write_entry(out, k, v, indent + 2, i > 0);
                }
            }
            (None, Value::Seq(inner)) => {
                out.push('\n');
                write_items(out, inner, indent + 2);
            }
            (None, _) => unreachable!("scalars have text"),
        }
    }
}
