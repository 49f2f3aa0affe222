//! New scalar values and how they are written: which text a value needs in a given style, and
//! when a plain scalar would change meaning and must be quoted.
//!
//! Owns: `ScalarValue` (what the user asked for), quoting and escaping, literal blocks. Does not
//! own: choosing the style (`style.rs` detects the file's; `edit/` keeps the replaced value's).

use super::data::Data;
use super::parse::{can_start_plain, parse_stream};
use super::resolve::{self, is_yaml11_break, printable, readers_agree};
use super::tree::{NodeKind, ScalarStyle};

/// A scalar to write: its data, and the exact plain text for non-strings (`1.0` stays `1.0`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarValue {
    pub data: Data,
    /// Plain text of a non-string value: as given when every reader reads it as that value
    /// (`1.0` stays `1.0`), else its canonical spelling (`null`, `true`, `15` for `0o17`).
    plain: Option<String>,
    /// A style the user asked for by quoting the value.
    pub explicit_style: Option<ScalarStyle>,
}

impl ScalarValue {
    pub fn string(s: impl Into<String>) -> Self {
        ScalarValue {
            data: Data::Str(s.into()),
            plain: None,
            explicit_style: None,
        }
    }

    /// A string written in double quotes whatever the file's style (as nublado v3 and mobu
    /// files are written).
    pub fn double_quoted(s: impl Into<String>) -> Self {
        ScalarValue {
            data: Data::Str(s.into()),
            plain: None,
            explicit_style: Some(ScalarStyle::DoubleQuoted),
        }
    }

    pub fn bool(b: bool) -> Self {
        ScalarValue {
            data: Data::Bool(b),
            plain: Some(b.to_string()),
            explicit_style: None,
        }
    }

    /// Reads a command-line VALUE: a YAML scalar (`true`, `5`, `/n3`, `"quoted"`), or any text
    /// taken as a string with `force_string`.
    pub fn from_arg(arg: &str, force_string: bool) -> Result<Self, String> {
        if force_string {
            return Ok(ScalarValue::string(arg));
        }
        if arg.starts_with('"') || arg.starts_with('\'') {
            let docs = parse_stream(arg).map_err(|e| format!("VALUE `{arg}`: {}", e.message))?;
            if let [doc] = docs.as_slice()
                && let Some(root) = &doc.root
                && let NodeKind::Scalar(s) = &root.kind
                && root.span == (0..arg.trim_end().len())
            {
                return Ok(ScalarValue {
                    data: Data::Str(s.value.clone()),
                    plain: None,
                    explicit_style: Some(s.style),
                });
            }
            return Err(format!("VALUE `{arg}` is not one quoted scalar"));
        }
        if arg.is_empty() {
            return Ok(ScalarValue {
                data: Data::Str(String::new()),
                plain: None,
                explicit_style: None,
            });
        }
        let bytes = arg.as_bytes();
        let plain_ok = can_start_plain(bytes[0], bytes.get(1).copied().unwrap_or(0))
            && !arg.contains(['\n', '\r'])
            && !arg.contains(": ")
            && !arg.contains(" #")
            && !arg.ends_with(':')
            && arg.trim() == arg;
        if !plain_ok {
            return Err(format!(
                "VALUE `{arg}` is not one plain YAML scalar; quote it or pass --string to store it as text"
            ));
        }
        let data = resolve::core(arg);
        if let Data::Str(_) = data {
            return Ok(ScalarValue {
                data,
                plain: None,
                explicit_style: None,
            });
        }
        let plain = plain_text_of(&data, arg).ok_or_else(|| {
            format!(
                "VALUE `{arg}` reads as {} in YAML 1.2 but differently for the YAML 1.1 readers Helm and yamllint use, and has no spelling they all read alike; write the value another way or pass --string",
                describe(&data)
            )
        })?;
        Ok(ScalarValue {
            data,
            plain: Some(plain),
            explicit_style: None,
        })
    }

    pub fn is_string(&self) -> bool {
        matches!(self.data, Data::Str(_))
    }

    /// The text for this value in `style` (a string's preferred style); `quote` is the quote
    /// style used when a plain string would change meaning. `flow` asks for text that is also
    /// safe inside `[...]` or `{...}`. Block styles are written by `block_text`.
    pub fn inline_text(&self, style: ScalarStyle, quote: ScalarStyle, flow: bool) -> String {
        if let Some(p) = &self.plain {
            return p.clone();
        }
        let s = match &self.data {
            Data::Str(s) => s.as_str(),
            _ => unreachable!("non-strings carry their plain text"),
        };
        let style = self.explicit_style.unwrap_or(style);
        match style {
            ScalarStyle::Plain if plain_safe(s, flow) => s.to_string(),
            ScalarStyle::SingleQuoted if single_quotable(s) => single_quoted(s),
            ScalarStyle::DoubleQuoted => double_quoted(s),
            _ if quote == ScalarStyle::SingleQuoted && single_quotable(s) => single_quoted(s),
            _ => double_quoted(s),
        }
    }
}

/// How a non-string value is written plain: `given` when every reader reads it as `data`, else
/// the canonical spelling (`null`, `true`, `15`, `1000.0`) if they all read that alike.
fn plain_text_of(data: &Data, given: &str) -> Option<String> {
    let text = match data {
        Data::Null => "null".to_string(),
        Data::Bool(b) => b.to_string(),
        _ if readers_agree(given).as_ref() == Some(data) => given.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => match f.as_str() {
            "inf" => ".inf".into(),
            "-inf" => "-.inf".into(),
            "nan" => ".nan".into(),
            _ => {
                let f: f64 = f.parse().ok()?;
                let debug = format!("{f:?}");
                match debug.split_once('e') {
                    Some((m, e)) => {
                        let m = if m.contains('.') {
                            m.to_string()
                        } else {
                            format!("{m}.0")
                        };
                        let e = if e.starts_with('-') {
                            e.to_string()
                        } else {
                            format!("+{e}")
                        };
                        format!("{m}e{e}")
                    }
                    None => debug,
                }
            }
        },
        _ => return None,
    };
    (readers_agree(&text).as_ref() == Some(data)).then_some(text)
}

fn describe(d: &Data) -> String {
    match d {
        Data::Null => "null".into(),
        Data::Bool(b) => format!("the boolean {b}"),
        Data::Int(i) => format!("the integer {i}"),
        Data::Float(f) => format!("the float {f}"),
        other => format!("{other:?}"),
    }
}

/// Whether `s` reads back as the same string when written plain, for YAML 1.2 and for the
/// YAML 1.1 readers that Helm and yamllint use (`yes`, `on`, `0755`, `2024-01-01` are not
/// strings there). The one rule for plain values and keys alike.
pub fn plain_safe(s: &str, flow: bool) -> bool {
    let b = s.as_bytes();
    if s.is_empty() || s.trim() != s || !can_start_plain(b[0], b.get(1).copied().unwrap_or(0)) {
        return false;
    }
    if s.chars()
        .any(|c| c.is_control() || !printable(c) || is_yaml11_break(c) || c == '\u{feff}')
        || s.contains(": ")
        || s.contains(":\t")
        || s.ends_with(':')
        || s.contains(" #")
        || s.contains("\t#")
    {
        return false;
    }
    if flow && (s.contains([',', '[', ']', '{', '}']) || s.contains(':')) {
        return false;
    }
    readers_agree(s) == Some(Data::Str(s.to_string()))
}

/// Whether single quotes can hold `s`: printable characters on one line, none of which a
/// YAML 1.1 reader takes for a line break.
fn single_quotable(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || !printable(c) || is_yaml11_break(c) || c == '\u{feff}')
}

pub fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if c.is_control() || !printable(c) || c == '\u{feff}' => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal block scalar (`|`, `|-` or `|+`) whose content lines are indented by `indent`
/// spaces; `None` when the value cannot be written that way: leading blanks on its first line,
/// a line ending in blanks (trailing spaces the hooks would flag), control characters or
/// characters YAML 1.1 readers take for line breaks.
pub fn block_text(s: &str, indent: usize) -> Option<String> {
    if s.starts_with([' ', '\t'])
        || s.chars().any(|c| {
            (c.is_control() && c != '\n' && c != '\t')
                || !printable(c)
                || is_yaml11_break(c)
                || c == '\u{feff}'
        })
        || s.split('\n').any(|l| l.ends_with([' ', '\t']))
    {
        return None;
    }
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let header = match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    };
    let pad = " ".repeat(indent);
    let mut out = header.to_string();
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_that_would_change_meaning_are_quoted() {
        for s in [
            "true",
            "no",
            "On",
            "null",
            "~",
            "5",
            "0755",
            "1.5",
            "1e3",
            "1:30",
            "- a",
            ": a",
            "a: b",
            "a #b",
            "{{ x }}",
            "*x",
            "&x",
            "!x",
            "'a",
            "\"a",
            " a",
            "a ",
            "",
            "|",
            ">",
            "@x",
            "%x",
            "`x",
            "#x",
            "1_000",
            "0b101",
            "0x1F",
            "+12",
            ".5",
            "190:20:30",
            "1:30.5",
        ] {
            assert!(!plain_safe(s, false), "{s:?} must be quoted");
        }
        for s in [
            "/n3",
            "/nb/hub",
            "a#b",
            "http://x:80/y",
            "bot-mobu",
            "ça marche",
            "a-b",
            "v1.2.3",
        ] {
            assert!(plain_safe(s, false), "{s:?} may be plain");
        }
        assert!(!plain_safe("a,b", true));
        assert!(plain_safe("a,b", false));
    }

    #[test]
    fn values_from_arguments() {
        let v = ScalarValue::from_arg("true", false).unwrap();
        assert_eq!(v.data, Data::Bool(true));
        assert_eq!(
            v.inline_text(ScalarStyle::DoubleQuoted, ScalarStyle::DoubleQuoted, false),
            "true"
        );
        let v = ScalarValue::from_arg("true", true).unwrap();
        assert_eq!(
            v.inline_text(ScalarStyle::Plain, ScalarStyle::SingleQuoted, false),
            "'true'"
        );
        let v = ScalarValue::from_arg("\"/n3\"", false).unwrap();
        assert_eq!(
            v.inline_text(ScalarStyle::Plain, ScalarStyle::SingleQuoted, false),
            "\"/n3\""
        );
        let v = ScalarValue::from_arg("/n3", false).unwrap();
        assert_eq!(
            v.inline_text(ScalarStyle::SingleQuoted, ScalarStyle::SingleQuoted, false),
            "'/n3'"
        );
        assert!(ScalarValue::from_arg("[a]", false).is_err());
        assert!(ScalarValue::from_arg("a: b", false).is_err());
        assert_eq!(
            ScalarValue::from_arg("0x1F", false).unwrap().data,
            Data::Int(31)
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(double_quoted("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
        assert_eq!(single_quoted("it's"), "'it''s'");
        assert_eq!(block_text("a\nb\n", 2).unwrap(), "|\n  a\n  b");
        assert_eq!(block_text("a\n\nb", 4).unwrap(), "|-\n    a\n\n    b");
        assert!(block_text(" a", 2).is_none());
    }
}
