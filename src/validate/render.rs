//! Printing findings: human (each finding with its source line and a caret, in the style of
//! cargo and ruff), JSON, GitHub workflow annotations and SARIF 2.1.0.
//!
//! Each renderer returns the whole text, every line ending in a line break (GitHub's is empty
//! when there is nothing to report). The human format reads each finding's line from a
//! `Sources` (the repository's files, or the files a stage would write); the machine formats
//! need only the findings.

use std::collections::BTreeMap;
use std::fmt::Write;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};
use serde::Serialize;

use super::{Finding, RULES, Severity, Summary, summarize};
use crate::util::style;
use crate::util::text::plural;

/// The text of the files findings point into, by path relative to the repository root.
pub trait Sources {
    fn text(&self, file: &str) -> Option<&str>;
}

impl Sources for crate::repo::files::Files {
    fn text(&self, file: &str) -> Option<&str> {
        self.get(file).map(|l| l.text.as_str())
    }
}

impl Sources for BTreeMap<String, String> {
    fn text(&self, file: &str) -> Option<&str> {
        self.get(file).map(String::as_str)
    }
}

/// Each finding as a diagnostic: `severity[rule]: message`, the location (`--> file:line:col`),
/// the source line with a caret under the column, and the hint; then a summary line
/// (`N errors, N warnings in N files`, or `no findings`). A finding whose line cannot be read
/// (a file that is not UTF-8, a line past the end) shows the location without the line.
pub fn human(findings: &[Finding], sources: &dyn Sources, color: bool) -> String {
    let mut out = diagnostics(findings, sources, color);
    if findings.is_empty() {
        out.push_str("no findings\n");
    } else {
        out.push_str(&summary_line(&summarize(findings)));
        out.push('\n');
    }
    out
}

/// Each finding as a diagnostic, each followed by a blank line.
pub fn diagnostics(findings: &[Finding], sources: &dyn Sources, color: bool) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&diagnostic(f, sources.text(&f.file), color));
        out.push_str("\n\n");
    }
    out
}

/// `N errors, N warnings in N files`.
pub fn summary_line(s: &Summary) -> String {
    format!(
        "{}, {} in {}",
        plural(s.errors, "error", "errors"),
        plural(s.warnings, "warning", "warnings"),
        plural(s.files, "file", "files")
    )
}

/// One finding, rendered (no line break at the end).
pub fn diagnostic(f: &Finding, text: Option<&str>, color: bool) -> String {
    let level = match f.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let title = level.primary_title(f.message.as_str()).id(f.rule);
    let group = match text.and_then(|t| line_span(t, f.line, f.col)) {
        Some((line, span)) => title.element(
            Snippet::source(line)
                .line_start(f.line)
                .path(f.file.as_str())
                .annotation(AnnotationKind::Primary.span(span)),
        ),
        None => title.element(
            Origin::path(f.file.as_str())
                .line(f.line)
                .char_column(f.col),
        ),
    };
    let group: Group<'_> = match &f.hint {
        Some(hint) => group.element(Level::HELP.with_name("hint").message(hint.as_str())),
        None => group,
    };
    let renderer = if color {
        Renderer::styled()
            .error(style::ERROR)
            .warning(style::WARNING)
            .help(style::NOTE)
    } else {
        Renderer::plain()
    };
    renderer.render(&[group])
}

/// Line `line` (one-based) of `text` without its line break, and the byte span of the
/// character at column `col` (one-based, in characters): empty at the end of the line.
fn line_span(text: &str, line: usize, col: usize) -> Option<(&str, std::ops::Range<usize>)> {
    let raw = text.split_inclusive('\n').nth(line.checked_sub(1)?)?;
    let content = raw
        .strip_suffix('\n')
        .map_or(raw, |l| l.strip_suffix('\r').unwrap_or(l));
    let mut chars = content.char_indices().skip(col.checked_sub(1)?);
    Some(match chars.next() {
        Some((at, c)) => (content, at..at + c.len_utf8()),
        None if content.chars().count() + 1 >= col => (content, content.len()..content.len()),
        None => return None,
    })
}

#[derive(Serialize)]
struct Report<'a> {
    findings: &'a [Finding],
    summary: Summary,
}

/// `{"findings":[{"rule","severity","file","line","col","message","hint"}],
/// "summary":{"errors","warnings","files"}}` on one line (`hint` is `null` when there is none).
pub fn json(findings: &[Finding]) -> String {
    let report = Report {
        findings,
        summary: summarize(findings),
    };
    let mut s = serde_json::to_string(&report).expect("findings serialize");
    s.push('\n');
    s
}

/// One GitHub Actions workflow command per finding:
/// `::error file=F,line=L,col=C,title=RULE::MESSAGE` (`::warning` for warnings). The hint,
/// when there is one, follows the message on a second line of the annotation.
pub fn github(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = f.message.clone();
        if let Some(hint) = &f.hint {
            message.push_str("\nhint: ");
            message.push_str(hint);
        }
        let _ = writeln!(
            out,
            "::{level} file={},line={},col={},title={}::{}",
            escape_property(&f.file),
            f.line,
            f.col,
            escape_property(f.rule),
            escape_data(&message)
        );
    }
    out
}

/// A workflow command's message: `%`, `\r` and `\n` are percent-encoded.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as a message, plus `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A SARIF 2.1.0 log (for GitHub code scanning, `github/codeql-action/upload-sarif`): one run
/// of the tool, with every rule of the registry (id, summary, default level) and one result
/// per finding. Locations are relative to the repository root (`uriBaseId` `%SRCROOT%`);
/// columns count characters (`columnKind` `unicodeCodePoints`), as everywhere else. The hint
/// follows the message on a second line, as in the GitHub format.
pub fn sarif(findings: &[Finding]) -> String {
    use serde_json::json;
    let level = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let rules: Vec<_> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": {"text": r.summary},
                "defaultConfiguration": {"level": level(r.severity)},
            })
        })
        .collect();
    let results: Vec<_> = findings
        .iter()
        .map(|f| {
            let mut text = f.message.clone();
            if let Some(hint) = &f.hint {
                text.push_str("\nhint: ");
                text.push_str(hint);
            }
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri_path(&f.file), "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": f.line, "startColumn": f.col},
                    }
                }],
            });
            if let Some(i) = RULES.iter().position(|r| r.id == f.rule) {
                result["ruleIndex"] = json!(i);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "gitops-migrate",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).expect("the log serializes");
    s.push('\n');
    s
}

/// A relative path as a URI reference: every byte but the unreserved characters and `/`
/// percent-encoded (spaces, `%`, `#`, non-ASCII names).
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
