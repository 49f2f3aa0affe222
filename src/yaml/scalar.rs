//! New scalar values and how they are written: which text a value needs in a given style, and
//! when a plain scalar would change meaning and must be quoted.
//!
//! Owns: `ScalarValue` (what the user asked for), quoting and escaping, literal blocks. Does not
//! own: choosing the style (`style.rs` detects the file's; `edit.rs` keeps the replaced value's).

use super::data::{Data, resolve_scalar};
use super::parse::{can_start_plain, parse_stream};
use super::tree::{NodeKind, ScalarStyle};

/// A scalar to write: its data, and the exact plain text for non-strings (`1.0` stays `1.0`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarValue {
    pub data: Data,
    /// Plain text of a non-string value, as given.
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
        let data = resolve_scalar(arg, ScalarStyle::Plain, None);
        let plain = (!matches!(data, Data::Str(_))).then(|| arg.to_string());
        Ok(ScalarValue {
            data,
            plain,
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

/// Whether `s` reads back as the same string when written plain, for YAML 1.2 and for the
/// YAML 1.1 readers that Helm and yamllint use (`yes`, `on`, `0755` are not strings there).
pub fn plain_safe(s: &str, flow: bool) -> bool {
    let b = s.as_bytes();
    if s.is_empty() || s.trim() != s || !can_start_plain(b[0], b.get(1).copied().unwrap_or(0)) {
        return false;
    }
    if s.chars().any(|c| c.is_control())
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
    if !matches!(resolve_scalar(s, ScalarStyle::Plain, None), Data::Str(_)) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "n"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "true"
            | "false"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
            | "<<"
            | "="
    ) {
        return false;
    }
    !numeric_in_some_yaml(s)
}

/// Whether a YAML 1.1 or 1.2 reader (Helm's, yamllint's, PyYAML's) takes `s` for a number:
/// `0755`, `1_000`, `0b101`, `0x1F`, `1e3`, `.5`, `1:30` (sexagesimal). An IP address is not.
fn numeric_in_some_yaml(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let Some(first) = unsigned.bytes().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || (first == b'.' && unsigned.len() > 1)) {
        return false;
    }
    let plain = unsigned.replace('_', "");
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = plain.strip_prefix(prefix) {
            return !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok();
        }
    }
    if plain.parse::<f64>().is_ok() {
        return true;
    }
    // Sexagesimal: 190:20:30 or 1:30.5
    let mut parts = plain.split(':');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && !head.is_empty()
        && head.bytes().all(|c| c.is_ascii_digit())
        && rest.iter().enumerate().all(|(i, p)| {
            let int = if i + 1 == rest.len() {
                p.split('.').next().unwrap_or("")
            } else {
                p
            };
            !int.is_empty()
                && int.len() <= 2
                && int.bytes().all(|c| c.is_ascii_digit())
                && p[int.len()..]
                    .bytes()
                    .all(|c| c.is_ascii_digit() || c == b'.')
        })
}

fn single_quotable(s: &str) -> bool {
    !s.chars().any(|c| c.is_control())
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
            c if c.is_control() => {
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
/// spaces; `None` when the value cannot be written that way (leading blanks on its first line,
/// control characters).
pub fn block_text(s: &str, indent: usize) -> Option<String> {
    if s.starts_with([' ', '\t']) || s.chars().any(|c| c.is_control() && c != '\n') {
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
