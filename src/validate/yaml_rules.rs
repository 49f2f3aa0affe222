//! Rules over every YAML file of a repository: syntax, duplicate keys, truthy values and
//! keys, trailing spaces, and the final line break.
//!
//! They follow yamllint's `syntax`, `key-duplicates`, `truthy` (with Phalanx's
//! `allowed-values: ['true', 'false']` and `check-keys: true`), `trailing-spaces` and
//! `new-line-at-end-of-file` rules, so that a tree that passes yamllint with Phalanx's
//! `.yamllint.yml` has no finding here. yamllint's directive comments (`# yamllint
//! disable-line`, `# yamllint disable rule:truthy` … `# yamllint enable`, `# yamllint
//! disable-file` on the first line) switch those four rules off where yamllint would; they
//! never hide a `yaml-syntax` error. Deliberate differences: `y`, `Y`, `n` and `N` are truthy
//! too, as in the YAML 1.1 boolean type and in the Go YAML library Helm uses (yamllint does not
//! flag them); a tab that libyaml (and so Helm) rejects is a `yaml-syntax` error even where
//! yamllint's pure-Python reader accepts it, and `disable-file` does not hide it.

use std::cell::OnceCell;
use std::collections::HashMap;

use rayon::prelude::*;

use super::{Finding, Severity, rule};
use crate::repo::{Files, Loaded};
use crate::yaml::{Document, Lines, Node, NodeKind, ScalarStyle, reference_load};

/// Plain scalars that YAML 1.1 readers take as booleans (the YAML 1.1 `bool` type), except the
/// allowed `true` and `false`.
const TRUTHY: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "True", "TRUE", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF",
];

/// Every finding of the YAML rules over every loaded file, in file order.
pub fn check(files: &Files) -> Vec<Finding> {
    let all: Vec<&Loaded> = files.iter().collect();
    all.par_iter().flat_map_iter(|l| check_file(l)).collect()
}

/// The findings of one file, by line and column.
pub fn check_file(file: &Loaded) -> Vec<Finding> {
    let mut out = Vec::new();
    let rel = file.rel.as_str();
    match &file.doc {
        Ok(doc) => {
            let pos = Positions::new(doc.text());
            duplicate_keys(rel, doc, &pos, &mut out);
            truthy(rel, doc, &pos, &mut out);
        }
        // The editor's parser refuses a few valid constructs (explicit `? ` keys): when the
        // independent parser reads the file, it is valid YAML the editor cannot edit. What
        // libyaml rejects (a tab where it wants spaces) is an error whatever yaml-rust2 says:
        // Helm could not load the file.
        Err(e)
            if e.libyaml.is_some()
                || (e.syntax && (file.text.is_empty() || reference_load(&file.text).is_err())) =>
        {
            let (line, col) = e.at.unwrap_or((1, 1));
            let hint = if let Some(h) = e.hint() {
                h
            } else if file.text.is_empty() {
                "save the file as UTF-8 text"
            } else {
                "fix the YAML here; until the file parses, no other rule can check its content"
            };
            out.push(
                Finding::at_line(rule::YAML_SYNTAX, rel, line, col, e.message.clone()).hint(hint),
            );
        }
        Err(e) => {
            let (line, col) = e.at.unwrap_or((1, 1));
            out.push(
                Finding::at_line(
                    rule::YAML_SYNTAX,
                    rel,
                    line,
                    col,
                    format!(
                        "valid YAML, but the editor cannot edit this file: {}",
                        e.message
                    ),
                )
                .severity(Severity::Warning)
                .hint(format!(
                    "`gitops-migrate edit check {rel}` gives the details; duplicate keys and truthy values are not checked in this file, and migrations will refuse to edit it"
                )),
            );
        }
    }
    trailing_space(rel, &file.text, &mut out);
    final_newline(rel, &file.text, &mut out);
    let directives = Directives::read(&file.text, file.doc.as_ref().ok());
    out.retain(|f| !directives.disables(f.rule, f.line));
    out.sort_by_key(|f| (f.line, f.col));
    out
}

/// The rules that mirror yamllint's, by yamllint's rule id, as bits.
const MIRRORED: &[(&str, &str)] = &[
    ("truthy", rule::YAML_TRUTHY),
    ("key-duplicates", rule::YAML_DUPLICATE_KEY),
    ("trailing-spaces", rule::YAML_TRAILING_SPACE),
    ("new-line-at-end-of-file", rule::YAML_FINAL_NEWLINE),
];
const ALL_MIRRORED: u8 = (1 << MIRRORED.len()) - 1;

/// Where yamllint's directive comments switch the mirrored rules off, line by line, read as
/// yamllint reads them: `# yamllint disable[ rule:ID…]` and `# yamllint enable[ rule:ID…]`
/// from their line on (a finding on the comment's own line counts as after it),
/// `# yamllint disable-line[ rule:ID…]` for its own line (after content) or the next line (on
/// a line of its own), and `# yamllint disable-file` as the first line of the file. The exact
/// spelling matters, as in yamllint (`# yamllint`, one space).
struct Directives {
    /// Bits of `MIRRORED` switched off on each line (zero-based).
    lines: Vec<u8>,
}

impl Directives {
    fn read(text: &str, doc: Option<&Document>) -> Directives {
        let n = text.split('\n').count();
        if text
            .lines()
            .next()
            .and_then(|l| l.trim_end().strip_prefix('#'))
            .is_some_and(|r| r.trim_start() == "yamllint disable-file")
        {
            return Directives {
                lines: vec![ALL_MIRRORED; n],
            };
        }
        if !text.contains("# yamllint ") {
            return Directives { lines: Vec::new() };
        }
        // Text where a `#` does not start a comment: quoted and block scalars.
        let mut scalars: Vec<std::ops::Range<usize>> = Vec::new();
        for d in doc.map(Document::docs).unwrap_or_default() {
            if let Some(root) = &d.root {
                root.walk(&mut |node| {
                    if let NodeKind::Scalar(s) = &node.kind
                        && s.style != ScalarStyle::Plain
                    {
                        scalars.push(s.content.clone());
                    }
                });
            }
        }
        let mut lines = vec![0u8; n];
        let (mut block, mut next_line) = (0u8, 0u8);
        let mut offset = 0;
        for (i, line) in text.split('\n').enumerate() {
            let mut this_line = next_line;
            next_line = 0;
            let comment = line.char_indices().find(|&(j, c)| {
                c == '#'
                    && (j == 0 || line[..j].ends_with([' ', '\t']))
                    && !scalars.iter().any(|r| r.contains(&(offset + j)))
            });
            if let Some((j, _)) = comment {
                let c = line[j..].trim_end_matches('\r');
                let inline = !line[..j].trim().is_empty();
                if let Some(mask) = directive(c, "disable") {
                    block |= mask;
                } else if let Some(mask) = directive(c, "enable") {
                    block &= !mask;
                } else if let Some(mask) = directive(c, "disable-line") {
                    if inline {
                        this_line |= mask;
                    } else {
                        next_line |= mask;
                    }
                }
            }
            lines[i] = block | this_line;
            offset += line.len() + 1;
        }
        Directives { lines }
    }

    /// Whether `rule` is switched off on one-based `line`.
    fn disables(&self, rule: &str, line: usize) -> bool {
        let Some(bit) = MIRRORED.iter().position(|(_, r)| *r == rule) else {
            return false;
        };
        self.lines
            .get(line.wrapping_sub(1))
            .is_some_and(|m| m & (1 << bit) != 0)
    }
}

/// The rules a `# yamllint <verb>[ rule:ID…]` comment names (every mirrored rule when it
/// names none; rules this tool does not mirror count for nothing).
fn directive(comment: &str, verb: &str) -> Option<u8> {
    let rest = comment.strip_prefix("# yamllint ")?.strip_prefix(verb)?;
    let rest = rest.trim_end();
    if rest.is_empty() {
        return Some(ALL_MIRRORED);
    }
    let mut mask = 0;
    for item in rest.strip_prefix(' ')?.split(' ') {
        let id = item.strip_prefix("rule:").filter(|id| !id.is_empty())?;
        if let Some(bit) = MIRRORED.iter().position(|(y, _)| *y == id) {
            mask |= 1 << bit;
        }
    }
    Some(mask)
}

/// Line and column of byte offsets, with the index of line starts built on first use (most
/// files have no finding).
struct Positions<'a> {
    text: &'a str,
    lines: OnceCell<Lines<'a>>,
}

impl<'a> Positions<'a> {
    fn new(text: &'a str) -> Self {
        Positions {
            text,
            lines: OnceCell::new(),
        }
    }

    /// One-based line and column (in characters).
    fn line_col(&self, offset: usize) -> (usize, usize) {
        self.lines
            .get_or_init(|| Lines::new(self.text))
            .line_col(offset)
    }
}

/// Where a scalar's own text starts (after `&anchor` and `!tag`), as yamllint reports it.
fn token_start(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(s) => s.content.start,
        _ => node.span.start,
    }
}

/// Visits every mapping of every document.
fn each_mapping<'d>(doc: &'d Document, f: &mut dyn FnMut(&'d crate::yaml::Mapping)) {
    for d in doc.docs() {
        if let Some(root) = &d.root {
            root.walk(&mut |n| {
                if let NodeKind::Mapping(m) = &n.kind {
                    f(m);
                }
            });
        }
    }
}

/// A key that appears twice in one mapping, reported at the second (and any later) one. Merge
/// keys (`<<`) may repeat, as in yamllint's default.
fn duplicate_keys(rel: &str, doc: &Document, pos: &Positions, out: &mut Vec<Finding>) {
    let mut keys: Vec<(&str, usize)> = Vec::new();
    let mut firsts: HashMap<&str, usize> = HashMap::new();
    each_mapping(doc, &mut |m| {
        if m.entries.len() < 2 {
            return;
        }
        keys.clear();
        keys.extend(m.entries.iter().filter_map(|e| match &e.key.kind {
            NodeKind::Scalar(s) if s.value != "<<" => Some((s.value.as_str(), token_start(&e.key))),
            _ => None,
        }));
        // Most mappings are small: compare pairwise rather than hashing.
        let small = keys.len() <= 32;
        if !small {
            firsts.clear();
        }
        for (i, &(key, at)) in keys.iter().enumerate() {
            let first = if small {
                keys[..i].iter().find(|(k, _)| *k == key).map(|&(_, o)| o)
            } else {
                match firsts.get(key) {
                    Some(&o) => Some(o),
                    None => {
                        firsts.insert(key, at);
                        None
                    }
                }
            };
            let Some(first) = first else {
                continue;
            };
            let (first_line, _) = pos.line_col(first);
            let (line, col) = pos.line_col(at);
            out.push(
                Finding::at_line(
                    rule::YAML_DUPLICATE_KEY,
                    rel,
                    line,
                    col,
                    format!("duplicate key `{key}`: first defined on line {first_line}"),
                )
                .hint(format!(
                    "YAML readers disagree on which one counts (Helm keeps the last, ruamel.yaml and Go's yaml.v3 refuse the file); keep one `{key}` and merge the two values into it"
                )),
            );
        }
    });
}

/// Plain scalars, values and keys, that YAML 1.1 readers take as booleans but that are not
/// written `true` or `false`. Quoted and tagged scalars are left alone.
fn truthy(rel: &str, doc: &Document, pos: &Positions, out: &mut Vec<Finding>) {
    struct Ctx<'a, 't> {
        rel: &'a str,
        pos: &'a Positions<'t>,
        /// The document declares `%YAML 1.2`: only `True`, `FALSE`… are booleans then.
        v1_2: bool,
    }
    fn visit(cx: &Ctx<'_, '_>, node: &Node, is_key: bool, out: &mut Vec<Finding>) {
        match &node.kind {
            NodeKind::Scalar(s) => {
                let v = s.value.as_str();
                if s.style != ScalarStyle::Plain
                    || node.tag.is_some()
                    || !TRUTHY.contains(&v)
                    || (cx.v1_2
                        && !(v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")))
                {
                    return;
                }
                let as_bool = matches!(v.as_bytes()[0], b'y' | b'Y' | b't' | b'T')
                    || v.eq_ignore_ascii_case("on");
                let written = if as_bool { "true" } else { "false" };
                let (message, hint) = if is_key {
                    (
                        format!(
                            "key `{v}` is read as the boolean {written} by YAML 1.1 readers (Helm, yamllint)"
                        ),
                        format!("quote the key (`\"{v}\":`) so that it stays a string"),
                    )
                } else if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                    (
                        format!("truthy value `{v}`: write booleans as `true` or `false`"),
                        format!("write `{written}`"),
                    )
                } else {
                    (
                        format!(
                            "truthy value `{v}` is read as the boolean {written} by YAML 1.1 readers (Helm, yamllint)"
                        ),
                        format!(
                            "write `{written}` for a boolean, or quote it (`\"{v}\"`) for a string"
                        ),
                    )
                };
                out.push({
                    let (line, col) = cx.pos.line_col(s.content.start);
                    Finding::at_line(rule::YAML_TRUTHY, cx.rel, line, col, message).hint(hint)
                });
            }
            NodeKind::Mapping(m) => {
                for e in &m.entries {
                    visit(cx, &e.key, true, out);
                    visit(cx, &e.value, false, out);
                }
            }
            NodeKind::Sequence(s) => {
                for i in &s.items {
                    visit(cx, &i.value, false, out);
                }
            }
            NodeKind::Null | NodeKind::Alias(_) => {}
        }
    }
    for (i, d) in doc.docs().iter().enumerate() {
        if let Some(root) = &d.root {
            let cx = Ctx {
                rel,
                pos,
                v1_2: declares_yaml_1_2(doc, i),
            };
            visit(&cx, root, false, out);
        }
    }
}

/// Whether the directives before document `i`'s `---` include `%YAML 1.2`.
fn declares_yaml_1_2(doc: &Document, i: usize) -> bool {
    let docs = doc.docs();
    let Some(marker) = docs[i].marker else {
        return false;
    };
    let from = if i == 0 { 0 } else { docs[i - 1].body_start };
    doc.text()[from.min(marker)..marker]
        .lines()
        .filter_map(|l| l.strip_prefix("%YAML"))
        .next_back()
        .is_some_and(|v| v.split_whitespace().next() == Some("1.2"))
}

/// Lines that end in spaces or tabs, reported at the first trailing blank. Lines inside block
/// scalars are included, as in yamllint. Like yamllint, a line ending in other whitespace (a
/// `\r` of a CRLF break, a form feed) counts only when a space or tab starts the run.
fn trailing_space(rel: &str, text: &str, out: &mut Vec<Finding>) {
    for (i, line) in text.split('\n').enumerate() {
        let body = line.trim_end_matches([' ', '\t', '\r', '\x0b', '\x0c']);
        if body.len() == line.len() || !matches!(line.as_bytes()[body.len()], b' ' | b'\t') {
            continue;
        }
        let n = line[body.len()..].trim_end_matches('\r').len();
        let col = body.chars().count() + 1;
        out.push(
            Finding::at_line(
                rule::YAML_TRAILING_SPACE,
                rel,
                i + 1,
                col,
                format!(
                    "trailing whitespace ({n} character{})",
                    if n == 1 { "" } else { "s" }
                ),
            )
            .hint("delete the spaces or tabs at the end of the line (most editors can trim them on save)"),
        );
    }
}

/// A non-empty file whose last line has no line break, reported just after its last character.
fn final_newline(rel: &str, text: &str, out: &mut Vec<Finding>) {
    if text.is_empty() || text.ends_with('\n') {
        return;
    }
    let line = text.matches('\n').count() + 1;
    let last = &text[text.rfind('\n').map_or(0, |i| i + 1)..];
    out.push(
        Finding::at_line(
            rule::YAML_FINAL_NEWLINE,
            rel,
            line,
            last.chars().count() + 1,
            "no line break at the end of the file",
        )
        .hint("end the last line with a line break"),
    );
}
