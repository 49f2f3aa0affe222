//! The official YAML test suite (`../shared/yaml-test-suite`, the suite's `data` branch: one
//! folder per case with `in.yaml`, its `test.event` stream, `in.json` when it is valid JSON
//! data, and an `error` file when the YAML is invalid) through `edit check` and `validate`.
//!
//! - Every invalid case is refused by `edit check` and reported by `validate` as a
//!   `yaml-syntax` error.
//! - A valid case is either accepted (`edit check` finds it identical, `validate` reports no
//!   `yaml-syntax` finding) and then read exactly as the suite says (the data of its
//!   `test.event` stream, and of `in.json` when there is one), or refused. Refused valid cases
//!   are either YAML 1.2 that libyaml (and so Helm's Go YAML library) rejects, reported as
//!   errors and listed in `LIBYAML_REJECTS`, or constructs the editor does not read (empty
//!   keys, flow collections as keys…), reported as warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_migrate::yaml::{Data, Document, resolve};
use serde_json::Value;

use crate::common;

/// Valid YAML 1.2 cases that libyaml rejects (PyYAML's C loader on the same text says so) or
/// reads otherwise (Y2GN), so that Helm could not load them as written: `validate` reports
/// them as `yaml-syntax` errors.
const LIBYAML_REJECTS: &[(&str, &str)] = &[
    ("2LFX", "a reserved directive (`%FOO`)"),
    ("2SXE", "an anchor name with punctuation"),
    ("6LVF", "a reserved directive (`%FOO`)"),
    ("8XYN", "an anchor name with punctuation"),
    ("BEC7", "`%YAML 1.3`"),
    ("DK3J", "a document-level block scalar written flush"),
    ("FP8R", "a document-level block scalar written flush"),
    ("M7A3", "a document-level block scalar written flush"),
    ("MUS6/05", "a reserved directive (`%YAM`)"),
    ("MUS6/06", "a reserved directive (`%YAMLL`)"),
    ("W4TN", "a document-level block scalar written flush"),
    ("W5VH", "an anchor name with punctuation"),
    (
        "Y2GN",
        "an anchor name with `:` (libyaml reads `&an` and the value `:chor value`)",
    ),
    ("6BCT", "a tab after a sequence dash"),
    ("6CA3", "a tab in the indentation of a line"),
    ("A2M4", "a tab after a sequence dash"),
    (
        "96NN/00",
        "a tab where a block scalar's indentation is expected",
    ),
    (
        "96NN/01",
        "a tab where a block scalar's indentation is expected",
    ),
    ("DK95/00", "a tab in the indentation of a line"),
    ("DK95/03", "a whitespace-only line with a tab"),
    ("DK95/04", "a whitespace-only line with a tab"),
    ("Q5MG", "a tab in the indentation of a line"),
    (
        "R4YG",
        "a tab where a block scalar's indentation is expected",
    ),
    (
        "Y79Y/001",
        "a tab where a block scalar's indentation is expected",
    ),
    ("Y79Y/010", "a tab after a sequence dash"),
];

struct Case {
    id: String,
    dir: PathBuf,
    valid: bool,
}

fn cases(root: &Path) -> Vec<Case> {
    let mut out: Vec<Case> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "in.yaml")
        .map(|e| {
            let dir = e.path().parent().unwrap().to_path_buf();
            Case {
                id: dir.strip_prefix(root).unwrap().display().to_string(),
                valid: !dir.join("error").exists(),
                dir,
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The cases `edit check` refuses (one run over every `in.yaml`), by id.
fn edit_check_refusals(cases: &[Case]) -> BTreeMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .args(["edit", "check"])
        .args(cases.iter().map(|c| c.dir.join("in.yaml")))
        .output()
        .expect("run edit check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!("{} files, ", cases.len())),
        "edit check did not check every case: {last}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut refused = BTreeMap::new();
    for c in cases {
        let shown = format!("{}:", c.dir.join("in.yaml").display());
        if let Some(line) = stdout.lines().find(|l| l.starts_with(&shown)) {
            refused.insert(c.id.clone(), line[shown.len()..].trim().to_string());
        }
    }
    refused
}

/// `validate --format json` on a Phalanx-shaped repository holding every case as
/// `applications/suite/<id>.yaml`: the `yaml-syntax` findings by id (severity, message).
fn validate_syntax_findings(cases: &[Case]) -> BTreeMap<String, (String, String)> {
    let repo = tempfile::tempdir().unwrap();
    let write = |rel: &str, bytes: &[u8]| {
        let p = repo.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    write(
        "environments/values.yaml",
        b"applications:\n  suite: false\n",
    );
    let file_of = |id: &str| format!("applications/suite/{}.yaml", id.replace('/', "-"));
    for c in cases {
        write(
            &file_of(&c.id),
            &std::fs::read(c.dir.join("in.yaml")).unwrap(),
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .args(["validate", "--format", "json"])
        .current_dir(repo.path())
        .output()
        .expect("run validate");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "validate did not print JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut found = BTreeMap::new();
    for f in report["findings"].as_array().unwrap() {
        if f["rule"] != "yaml-syntax" {
            continue;
        }
        let file = f["file"].as_str().unwrap();
        let case = cases.iter().find(|c| file_of(&c.id) == file).unwrap();
        found.insert(
            case.id.clone(),
            (
                f["severity"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            ),
        );
    }
    found
}

// ----- the expected data -------------------------------------------------------------------

/// The documents of a `test.event` stream as data (scalars resolved like the tool's own).
fn event_data(events: &str) -> Vec<Data> {
    enum Open {
        Seq(Vec<Data>),
        Map(Vec<(Data, Data)>, Option<Data>),
    }
    let mut docs = Vec::new();
    let mut stack: Vec<(Open, Option<String>, Option<String>)> = Vec::new();
    let mut anchors: BTreeMap<String, Data> = BTreeMap::new();
    let mut root: Option<Data> = None;
    fn props(words: &mut Vec<&str>) -> (Option<String>, Option<String>) {
        let (mut anchor, mut tag) = (None, None);
        while let Some(w) = words.first() {
            if let Some(a) = w.strip_prefix('&') {
                anchor = Some(a.to_string());
            } else if let Some(t) = w.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
                tag = Some(t.to_string());
            } else if *w != "{}" && *w != "[]" {
                break;
            }
            words.remove(0);
        }
        (anchor, tag)
    }
    let insert = |stack: &mut Vec<(Open, Option<String>, Option<String>)>,
                  root: &mut Option<Data>,
                  d: Data| match stack.last_mut() {
        None => *root = Some(d),
        Some((Open::Seq(v), ..)) => v.push(d),
        Some((Open::Map(m, key), ..)) => match key.take() {
            None => *key = Some(d),
            Some(k) => m.push((k, d)),
        },
    };
    for line in events.lines() {
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        match head {
            "+DOC" => root = None,
            "-DOC" => {
                docs.push(root.take().unwrap_or(Data::Null));
                anchors.clear();
            }
            "+SEQ" | "+MAP" => {
                let mut words: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
                let (anchor, tag) = props(&mut words);
                let open = if head == "+SEQ" {
                    Open::Seq(Vec::new())
                } else {
                    Open::Map(Vec::new(), None)
                };
                stack.push((open, anchor, tag));
            }
            "-SEQ" | "-MAP" => {
                let (open, anchor, tag) = stack.pop().unwrap();
                let d = match open {
                    Open::Seq(v) => Data::Seq(v),
                    Open::Map(m, _) => Data::Map(m),
                };
                let d = resolve::collection(d, tag.as_deref());
                if let Some(a) = anchor {
                    anchors.insert(a, d.clone());
                }
                insert(&mut stack, &mut root, d);
            }
            "=ALI" => {
                let d = anchors[rest.trim_start_matches('*')].clone();
                insert(&mut stack, &mut root, d);
            }
            "=VAL" => {
                let mut rest = rest;
                let (mut anchor, mut tag) = (None, None);
                loop {
                    if let Some(r) = rest.strip_prefix('&') {
                        let (a, r) = r.split_once(' ').unwrap();
                        anchor = Some(a.to_string());
                        rest = r;
                    } else if let Some(r) = rest.strip_prefix('<') {
                        let (t, r) = r.split_once("> ").unwrap();
                        tag = Some(t.to_string());
                        rest = r;
                    } else {
                        break;
                    }
                }
                let plain = rest.starts_with(':');
                let value = unescape(&rest[1..]);
                let d = resolve::scalar(&value, plain, tag.as_deref());
                if let Some(a) = anchor {
                    anchors.insert(a, d.clone());
                }
                insert(&mut stack, &mut root, d);
            }
            _ => {}
        }
    }
    docs
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\x08'),
            Some('0') => out.push('\0'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// Whether our data is the JSON of `in.json` (tags ignored; keys compared as text).
fn same_as_json(d: &Data, j: &Value) -> bool {
    match (d, j) {
        (Data::Tagged(_, inner), _) => same_as_json(inner, j),
        (Data::Null, Value::Null) => true,
        (Data::Bool(a), Value::Bool(b)) => a == b,
        (Data::Int(a), Value::Number(n)) => n.as_i64() == Some(*a) || n.as_f64() == Some(*a as f64),
        (Data::Float(a), Value::Number(n)) => a.parse::<f64>().ok() == n.as_f64(),
        (Data::Str(a), Value::String(b)) => a == b,
        (Data::Seq(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_as_json(x, y))
        }
        (Data::Map(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter().all(|(k, v)| {
                    k.key_text()
                        .and_then(|k| b.get(&k))
                        .is_some_and(|jv| same_as_json(v, jv))
                })
        }
        _ => false,
    }
}

fn json_docs(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("in.json parses")
}

#[test]
fn official_yaml_test_suite_through_edit_check_and_validate() {
    let Some(root) = common::shared_data("yaml-test-suite") else {
        return;
    };
    let cases = cases(&root);
    assert!(
        cases.len() > 300,
        "only {} cases under {}",
        cases.len(),
        root.display()
    );
    let refused = edit_check_refusals(&cases);
    let syntax = validate_syntax_findings(&cases);
    let libyaml: BTreeSet<&str> = LIBYAML_REJECTS.iter().map(|(id, _)| *id).collect();

    let mut failures = Vec::new();
    let (mut accepted, mut refused_valid, mut misread) = (0, 0, 0);
    let mut reported_as_errors = BTreeSet::new();
    for c in &cases {
        let text = std::fs::read_to_string(c.dir.join("in.yaml")).unwrap_or_default();
        let finding = syntax.get(&c.id);
        if !c.valid {
            if !refused.contains_key(&c.id) {
                failures.push(format!("{}: invalid, but `edit check` accepts it", c.id));
            }
            if finding.is_none_or(|(sev, _)| sev != "error") {
                failures.push(format!(
                    "{}: invalid, but `validate` reports {finding:?}",
                    c.id
                ));
            }
            continue;
        }
        if let Some((sev, message)) = finding
            && sev == "error"
        {
            reported_as_errors.insert(c.id.as_str());
            if !libyaml.contains(c.id.as_str()) {
                failures.push(format!(
                    "{}: valid, but `validate` reports a yaml-syntax error: {message}",
                    c.id
                ));
            }
        }
        if let Some(why) = refused.get(&c.id) {
            refused_valid += 1;
            if std::env::var_os("YAML_SUITE_LOG").is_some() {
                eprintln!("refused {}: {why}", c.id);
            }
            continue;
        }
        accepted += 1;
        if let Some(f) = finding {
            failures.push(format!(
                "{}: accepted by `edit check`, but `validate` reports {f:?}",
                c.id
            ));
        }
        let ours: Vec<Data> = Document::parse(text.as_str())
            .expect("an accepted case parses")
            .data();
        let canonical = |d: &[Data]| d.iter().map(Data::canonical).collect::<Vec<_>>();
        let events = std::fs::read_to_string(c.dir.join("test.event")).unwrap();
        let expected = event_data(&events);
        let mut wrong = canonical(&ours) != canonical(&expected);
        if let Ok(json) = std::fs::read_to_string(c.dir.join("in.json")) {
            let json = json_docs(&json);
            wrong |= json.len() != ours.len()
                || !ours.iter().zip(&json).all(|(d, j)| same_as_json(d, j));
        }
        if wrong {
            misread += 1;
            failures.push(format!(
                "{}: misread\n  ours:     {ours:?}\n  expected: {expected:?}",
                c.id
            ));
        }
    }
    let valid = cases.iter().filter(|c| c.valid).count();
    eprintln!(
        "yaml-test-suite: {} cases; {valid} valid: {accepted} accepted, {refused_valid} refused \
         ({} of them libyaml rejects), {misread} misread; {} invalid: all refused",
        cases.len(),
        reported_as_errors.len(),
        cases.len() - valid
    );
    let listed_but_not_reported: Vec<&&str> = libyaml.difference(&reported_as_errors).collect();
    if !listed_but_not_reported.is_empty() {
        failures.push(format!(
            "listed in LIBYAML_REJECTS but not reported as errors: {listed_but_not_reported:?}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        accepted >= 257,
        "only {accepted} of {valid} valid cases accepted (at least 257 were)"
    );
}
