//! Printing findings: human (grouped by file), JSON and GitHub workflow annotations.
//!
//! Each renderer returns the whole text, every line ending in a line break (GitHub's is empty
//! when there is nothing to report).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::{Finding, Severity, Summary, summarize};

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const RESET: &str = "\x1b[0m";

/// Findings grouped by file: a header line with the file, then one line per finding
/// (`  line:col  severity  rule  message`) with its hint indented below, then a summary line
/// (`N errors, N warnings in N files`, or `no findings`).
pub fn human(findings: &[Finding], color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    let mut by_file: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_file.entry(f.file.as_str()).or_default().push(f);
    }
    let mut out = String::new();
    for (file, list) in &by_file {
        let _ = writeln!(out, "{}", paint(BOLD, file));
        let locs: Vec<String> = list
            .iter()
            .map(|f| format!("{}:{}", f.line, f.col))
            .collect();
        let loc_w = locs.iter().map(String::len).max().unwrap_or(0);
        let rule_w = list.iter().map(|f| f.rule.len()).max().unwrap_or(0);
        for (f, loc) in list.iter().zip(&locs) {
            let sev = format!("{:<7}", f.severity.to_string());
            let sev = match f.severity {
                Severity::Error => paint(RED, &sev),
                Severity::Warning => paint(YELLOW, &sev),
            };
            let rule = paint(DIM, &format!("{:<rule_w$}", f.rule));
            let _ = writeln!(out, "  {loc:<loc_w$}  {sev}  {rule}  {}", f.message);
            if let Some(hint) = &f.hint {
                let _ = writeln!(out, "  {:loc_w$}  hint: {hint}", "");
            }
        }
        out.push('\n');
    }
    let s = summarize(findings);
    if findings.is_empty() {
        out.push_str("no findings\n");
    } else {
        let _ = writeln!(
            out,
            "{}, {} in {}",
            plural(s.errors, "error"),
            plural(s.warnings, "warning"),
            plural(s.files, "file")
        );
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
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
