//! PATH expressions: `jupyterhub.hub.baseUrl`, `config.autostart[0]`,
//! `config.autostart[name=firefighter]`, and quoted keys for dots or slashes:
//! `controller.config.lab.files."/etc/group"`. `.` alone is the document root.
//!
//! Owns: parsing and printing paths. Does not own: finding nodes (`document.rs`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
    /// The first item of a sequence that is a mapping whose `key` holds the scalar `value`.
    Select {
        key: String,
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(pub Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid PATH `{path}` at character {at}: {message}")]
pub struct PathSyntaxError {
    pub path: String,
    pub at: usize,
    pub message: String,
}

impl Path {
    pub fn parse(s: &str) -> Result<Path, PathSyntaxError> {
        let err = |at: usize, message: &str| PathSyntaxError {
            path: s.to_string(),
            at: at + 1,
            message: message.to_string(),
        };
        if s == "." {
            return Ok(Path::default());
        }
        if s.is_empty() {
            return Err(err(0, "empty path (use `.` for the whole document)"));
        }
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        let mut segs = Vec::new();
        let mut expect_key = true;
        while i < chars.len() {
            match chars[i] {
                '[' => {
                    let close = find_close(&chars, i + 1).ok_or_else(|| err(i, "missing `]`"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    segs.push(parse_bracket(&inner).map_err(|m| err(i + 1, &m))?);
                    i = close + 1;
                    expect_key = false;
                }
                '.' if !expect_key => {
                    i += 1;
                    expect_key = true;
                    if i == chars.len() {
                        return Err(err(i - 1, "a path cannot end with `.`"));
                    }
                }
                '.' => return Err(err(i, "empty key")),
                _ if !expect_key => return Err(err(i, "expected `.` or `[`")),
                q @ ('"' | '\'') => {
                    let (key, next) =
                        quoted(&chars, i, q).ok_or_else(|| err(i, "unclosed quote"))?;
                    segs.push(Segment::Key(key));
                    i = next;
                    expect_key = false;
                }
                _ => {
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    segs.push(Segment::Key(chars[start..i].iter().collect()));
                    expect_key = false;
                }
            }
        }
        Ok(Path(segs))
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }
}

fn find_close(chars: &[char], from: usize) -> Option<usize> {
    let mut quote = None;
    for (j, &c) in chars.iter().enumerate().skip(from) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ']') => return Some(j),
            _ => {}
        }
    }
    None
}

/// A quoted key starting at `i`; returns it and the index after the closing quote.
fn quoted(chars: &[char], i: usize, q: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut j = i + 1;
    while j < chars.len() {
        let c = chars[j];
        if c == '\\' && q == '"' && j + 1 < chars.len() {
            out.push(chars[j + 1]);
            j += 2;
            continue;
        }
        if c == q {
            return Some((out, j + 1));
        }
        out.push(c);
        j += 1;
    }
    None
}

fn unquote(s: &str) -> Result<String, String> {
    let s = s.trim();
    let chars: Vec<char> = s.chars().collect();
    match chars.first() {
        Some(&q @ ('"' | '\'')) => match quoted(&chars, 0, q) {
            Some((v, end)) if end == chars.len() => Ok(v),
            _ => Err(format!("bad quoting in `{s}`")),
        },
        _ => Ok(s.to_string()),
    }
}

fn parse_bracket(inner: &str) -> Result<Segment, String> {
    let t = inner.trim();
    if t.is_empty() {
        return Err("empty `[]`: use an index `[0]` or a selector `[name=value]`".into());
    }
    if let Ok(n) = t.parse::<usize>() {
        return Ok(Segment::Index(n));
    }
    if t.starts_with('-') && t[1..].parse::<usize>().is_ok() {
        return Err("negative indexes are not supported".into());
    }
    let chars: Vec<char> = t.chars().collect();
    let mut quote = None;
    for (j, &c) in chars.iter().enumerate() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '=') => {
                let key = unquote(&chars[..j].iter().collect::<String>())?;
                let value = unquote(&chars[j + 1..].iter().collect::<String>())?;
                if key.is_empty() {
                    return Err("a selector needs a key: `[name=value]`".into());
                }
                return Ok(Segment::Select { key, value });
            }
            _ => {}
        }
    }
    Err(format!(
        "`[{t}]` is neither an index nor a `[key=value]` selector"
    ))
}

fn needs_quotes(key: &str) -> bool {
    key.is_empty()
        || key
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"' | '\'' | '=') || c.is_whitespace())
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = |s: &str| {
            if needs_quotes(s) {
                format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                s.to_string()
            }
        };
        match self {
            Segment::Key(k) => write!(f, "{}", q(k)),
            Segment::Index(i) => write!(f, "[{i}]"),
            Segment::Select { key, value } => write!(f, "[{}={}]", q(key), q(value)),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, ".");
        }
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 && matches!(s, Segment::Key(_)) {
                write!(f, ".")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

/// Prints the first `n` segments of a path.
pub fn prefix(path: &[Segment], n: usize) -> String {
    Path(path[..n].to_vec()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<Segment> {
        Path::parse(s).unwrap().0
    }

    #[test]
    fn plain_keys_indexes_and_selectors() {
        use Segment::*;
        assert_eq!(
            p("jupyterhub.hub.baseUrl"),
            vec![
                Key("jupyterhub".into()),
                Key("hub".into()),
                Key("baseUrl".into())
            ]
        );
        assert_eq!(
            p("config.autostart[0].business"),
            vec![
                Key("config".into()),
                Key("autostart".into()),
                Index(0),
                Key("business".into())
            ]
        );
        assert_eq!(
            p("config.autostart[name=firefighter]"),
            vec![
                Key("config".into()),
                Key("autostart".into()),
                Select {
                    key: "name".into(),
                    value: "firefighter".into()
                }
            ]
        );
        assert_eq!(
            p("hubs[name=\"a.b\"]")[1],
            Select {
                key: "name".into(),
                value: "a.b".into()
            }
        );
        assert_eq!(p("[0]"), vec![Index(0)]);
        assert_eq!(p("."), vec![]);
    }

    #[test]
    fn quoted_keys_keep_dots_and_slashes() {
        assert_eq!(
            p("controller.config.lab.files.\"/etc/group\""),
            vec![
                Segment::Key("controller".into()),
                Segment::Key("config".into()),
                Segment::Key("lab".into()),
                Segment::Key("files".into()),
                Segment::Key("/etc/group".into())
            ]
        );
        assert_eq!(p("'a.b'.c")[0], Segment::Key("a.b".into()));
        assert_eq!(
            p("ingress.annotations.\"nginx.ingress.kubernetes.io/auth-signin\"")[2],
            Segment::Key("nginx.ingress.kubernetes.io/auth-signin".into())
        );
    }

    #[test]
    fn round_trips_through_display() {
        for s in ["a.b[0].c", "a[name=x].\"a.b\"", "files.\"x.y\"[0]", "."] {
            assert_eq!(Path::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_malformed_paths() {
        for (s, msg) in [
            ("", "empty path"),
            ("a..b", "empty key"),
            ("a.", "cannot end"),
            ("a[0", "missing `]`"),
            ("a[]", "empty `[]`"),
            ("a[-1]", "negative"),
            ("a[x]", "neither an index"),
            ("\"a.b", "unclosed quote"),
            ("a[0]b", "expected `.` or `[`"),
        ] {
            let e = Path::parse(s).unwrap_err();
            assert!(e.message.contains(msg), "{s}: {}", e.message);
        }
    }
}
