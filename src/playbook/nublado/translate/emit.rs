//! The YAML text of translated values: block style, two-space indentation, sequences indented
//! under their key, strings double-quoted (as nublado v3 values files are written).

use crate::yaml::{ScalarStyle, ScalarValue};

/// A value to write, in the order it is written.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
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
            Value::Seq(s) if s.is_empty() => Some("[]".into()),
            Value::Map(m) if m.is_empty() => Some("{}".into()),
            _ => None,
        }
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
