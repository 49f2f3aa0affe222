//! The editor writes only what every reader reads back as intended, and `validate` refuses
//! what Helm cannot parse: one test per rule, each with the exact bytes before and after.
//!
//! The sections follow the issue's numbered points: scalars safe for YAML 1.1 and 1.2 readers
//! (values and keys, `Null`/`TRUE` canonical); tags of replaced values; characters YAML
//! forbids; symbolic links; readers agree (block scalar at the end of a file, verbatim tags,
//! byte-order mark); tabs libyaml rejects; formatting; yamllint's directive comments.

use std::fs;
use std::path::Path;
use std::process::Command;

use gitops_migrate::yaml::{Document, EditError, NewValue, Path as YPath, ScalarValue};

fn p(s: &str) -> YPath {
    YPath::parse(s).unwrap()
}

fn set(before: &str, path: &str, value: ScalarValue) -> String {
    let mut d = Document::parse(before).unwrap();
    assert!(d.set(0, &p(path), &value).unwrap(), "nothing changed");
    d.text().to_string()
}

fn string(s: &str) -> ScalarValue {
    ScalarValue::string(s)
}

fn arg(s: &str) -> ScalarValue {
    ScalarValue::from_arg(s, false).unwrap()
}

/// Runs the binary in `cwd`: exit code, stdout, stderr.
fn gm(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Phalanx-shaped repository with one values file holding `text`.
fn repo_with(text: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("environments")).unwrap();
    fs::create_dir_all(dir.path().join("applications/demo")).unwrap();
    fs::write(
        dir.path().join("environments/values.yaml"),
        "applications:\n  demo: false\n",
    )
    .unwrap();
    fs::write(dir.path().join("applications/demo/values.yaml"), text).unwrap();
    dir
}

/// `validate`'s findings on that file, as `line:col rule severity: message`.
fn findings(text: &[u8]) -> Vec<String> {
    let dir = repo_with(text);
    let (_, out, err) = gm(dir.path(), &["validate", "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{} {} {}: {}{}",
                f["line"],
                f["col"],
                f["rule"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
                f["message"].as_str().unwrap(),
                f["hint"]
                    .as_str()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

// ----- 1. scalars ----------------------------------------------------------------------------

#[test]
fn dates_and_other_yaml_1_1_values_are_quoted_as_values_and_keys() {
    assert_eq!(
        set("image:\n  tag: v1\n", "image.tag", string("2024-01-01")),
        "image:\n  tag: \"2024-01-01\"\n"
    );
    assert_eq!(
        set("a: x\n", "\"2024-06-30\"", string("x")),
        "a: x\n\"2024-06-30\": x\n"
    );
    for (value, written) in [
        (
            "2001-12-14t21:59:43.10-05:00",
            "'2001-12-14t21:59:43.10-05:00'",
        ),
        ("Null", "'Null'"),
        ("yes", "'yes'"),
        ("0755", "'0755'"),
        ("1:30", "'1:30'"),
        ("1_000", "'1_000'"),
        ("0o17", "'0o17'"),
        ("1e3", "'1e3'"),
        ("y", "'y'"),
    ] {
        assert_eq!(
            set("a: 'x'\nb: 'y'\n", "a", string(value)),
            format!("a: {written}\nb: 'y'\n"),
            "{value}"
        );
    }
    // In a file of plain strings, a string every reader reads alike stays plain.
    assert_eq!(set("a: x\n", "a", string("v1.2.3")), "a: v1.2.3\n");
    assert_eq!(set("a: x\n", "a", string("1.2.3")), "a: 1.2.3\n");
}

#[test]
fn null_and_booleans_are_written_in_their_canonical_spelling() {
    for (given, written) in [
        ("Null", "null"),
        ("NULL", "null"),
        ("~", "null"),
        ("True", "true"),
        ("TRUE", "true"),
        ("FALSE", "false"),
        ("0o17", "15"),
        ("1e3", "1000.0"),
        ("+12", "+12"),
        ("1.10", "1.10"),
        ("0x1F", "0x1F"),
    ] {
        assert_eq!(
            set("a: 1\n", "a", arg(given)),
            format!("a: {written}\n"),
            "{given}"
        );
    }
    // The written value raises no truthy finding.
    assert_eq!(
        findings(&set("a: 1\n", "a", arg("TRUE")).into_bytes()),
        Vec::<String>::new()
    );
}

// ----- 2. tags -------------------------------------------------------------------------------

#[test]
fn a_tag_that_no_longer_fits_the_new_value_is_dropped() {
    let cases: Vec<(&str, &str, ScalarValue, &str)> = vec![
        (
            "replicas: !!int 1\n",
            "replicas",
            string("two"),
            "replicas: two\n",
        ),
        (
            "replicas: !!int 1\n",
            "replicas",
            arg("3"),
            "replicas: !!int 3\n",
        ),
        ("n: !!null \"\"\n", "n", string("value"), "n: \"value\"\n"),
        ("n: &a !!null\n", "n", string("value"), "n: &a value\n"),
        ("b: !!binary aGVsbG8=\n", "b", string("hello"), "b: hello\n"),
        ("c: !!bool true\n", "c", string("no"), "c: \"no\"\n"),
        ("c: !!bool true\n", "c", arg("false"), "c: !!bool false\n"),
        ("f: !!float 0.5\n", "f", string("half"), "f: half\n"),
        (
            "t: !!timestamp 2024-01-01\n",
            "t",
            string("soon"),
            "t: soon\n",
        ),
        ("s: !!str 12\n", "s", arg("13"), "s: 13\n"),
        (
            "v: !<tag:yaml.org,2002:str> x\n",
            "v",
            string("z"),
            "v: !<tag:yaml.org,2002:str> z\n",
        ),
    ];
    for (before, key, value, after) in cases {
        assert_eq!(set(before, key, value), after, "{before:?}");
    }
}

#[test]
fn an_emptied_sequence_keeps_its_tag_and_anchor() {
    assert_eq!(
        remove("list: !!seq\n  - a\nb: 1\n", "list[0]"),
        "list: !!seq []\nb: 1\n"
    );
    assert_eq!(
        remove("list: &x # c\n  - a\nb: 1\n", "list[0]"),
        "list: &x [] # c\nb: 1\n"
    );
}

#[test]
fn an_applications_own_tag_is_a_refusal_that_changes_nothing() {
    let before = "password: !secret vault/path\n";
    let mut d = Document::parse(before).unwrap();
    let e = d.set(0, &p("password"), &string("other")).unwrap_err();
    assert!(
        matches!(&e, EditError::Unsupported { reason, .. } if reason.contains("`!secret` (line 1)")),
        "{e}"
    );
    assert_eq!(d.text(), before);
}

// ----- 3. characters -------------------------------------------------------------------------

#[test]
fn characters_yaml_forbids_are_syntax_errors_with_their_position() {
    for (text, at) in [
        ("a: 1\nb: \"x\x0cy\"\n", "2:6"),
        ("a: x\x1b\n", "1:5"),
        ("a: x\x07\n", "1:5"),
        ("a: x\x0b\n", "1:5"),
        ("a: x\x7f\n", "1:5"),
        ("a: x\u{9b}\n", "1:5"),
        ("a: x\u{fffe}\n", "1:5"),
        ("# \u{ffff}\na: 1\n", "1:3"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f.yaml"), text).unwrap();
        let (code, out, _) = gm(dir.path(), &["edit", "check", "f.yaml"]);
        assert_eq!(code, 1, "{text:?}");
        assert!(
            out.starts_with(&format!("f.yaml:{at}: U+")),
            "{text:?}: {out}"
        );
        let f = findings(text.as_bytes());
        assert!(
            f.iter()
                .any(|f| f.starts_with(&format!("{at} yaml-syntax error: U+"))),
            "{text:?}: {f:?}"
        );
    }
}

#[test]
fn forbidden_characters_and_yaml_1_1_line_breaks_are_written_escaped() {
    assert_eq!(
        set(
            "a: 'x'\n",
            "a",
            string("form\x0cfeed\u{2028}ls\u{2029}ps\u{85}nel\u{fffe}\u{feff}\x1b")
        ),
        "a: \"form\\x0cfeed\\Lls\\Pps\\Nnel\\ufffe\\ufeff\\x1b\"\n"
    );
    // A block scalar cannot hold them: the value is double-quoted instead.
    assert_eq!(
        set("a: |\n  x\n", "a", string("one\x0c\ntwo\n")),
        "a: \"one\\x0c\\ntwo\\n\"\n"
    );
}

// ----- 4. links ------------------------------------------------------------------------------

#[test]
fn an_edit_through_a_symbolic_link_changes_the_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("shared")).unwrap();
    fs::write(dir.path().join("shared/values.yaml"), "a: 1\n").unwrap();
    std::os::unix::fs::symlink("shared/values.yaml", dir.path().join("values-dev.yaml")).unwrap();
    let (code, _, err) = gm(
        dir.path(),
        &["-v", "edit", "set", "values-dev.yaml", "a", "2"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.trim(), "values-dev.yaml: updated `a`");
    let link = dir.path().join("values-dev.yaml");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("shared/values.yaml")
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("shared/values.yaml")).unwrap(),
        "a: 2\n"
    );
    // The temporary file was made beside the target and renamed there: nothing is left over.
    let mut left: Vec<String> = fs::read_dir(dir.path().join("shared"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["values.yaml"]);
}

// ----- 5. readers agree ----------------------------------------------------------------------

#[test]
fn a_block_scalar_ending_the_file_without_a_line_break_is_read_and_edited() {
    let before = "apiVersion: v2\nname: demo\ndescription: |\n  A demo\n  chart";
    let d = Document::parse(before).unwrap();
    d.check().unwrap();
    assert_eq!(
        d.value_text(d.get(0, &p("description")).unwrap()),
        "A demo\nchart",
        "no final line break, as libyaml, PyYAML and Helm read it"
    );
    assert_eq!(
        set(before, "name", string("other")),
        "apiVersion: v2\nname: other\ndescription: |\n  A demo\n  chart"
    );
    assert_eq!(
        findings(before.as_bytes()),
        [
            "5:8 yaml-final-newline warning: no line break at the end of the file (hint: end the last line with a line break)"
        ]
    );
    // A last line of only spaces: readers disagree on the value, so the editor will not edit.
    let e = Document::parse("a: |\n  x\n   ").unwrap_err();
    assert!(e.message.contains("YAML readers disagree"), "{e}");
}

#[test]
fn a_verbatim_tag_is_read_as_its_tag() {
    let text = "a: !<tag:yaml.org,2002:str> 1\nb: !<tag:yaml.org,2002:int> 2\n";
    let d = Document::parse(text).unwrap();
    d.check().unwrap();
    assert_eq!(
        format!("{:?}", d.data()),
        r#"[Map([(Str("a"), Str("1")), (Str("b"), Int(2))])]"#
    );
}

#[test]
fn a_byte_order_mark_is_read_and_kept() {
    let before = "\u{feff}a: 1\n";
    Document::parse(before).unwrap().check().unwrap();
    assert_eq!(set(before, "a", arg("2")), "\u{feff}a: 2\n");
    assert_eq!(findings(before.as_bytes()), Vec::<String>::new());
}

// ----- 6. tabs -------------------------------------------------------------------------------

#[test]
fn tabs_libyaml_rejects_are_syntax_errors_naming_the_tab() {
    let hint = "(hint: YAML 1.2 allows a tab here, but libyaml and the Go YAML library Helm uses reject the file: replace the tab with spaces (or delete the whitespace))";
    for (text, want) in [
        (
            "a: 1\n\t\nb: 2\n",
            "2:1 yaml-syntax error: a tab on a line of only whitespace",
        ),
        (
            "a:\n  b: 'x'\n  \t\n  c: 1\n",
            "3:3 yaml-syntax error: a tab on a line of only whitespace",
        ),
        (
            "a:\n \tb: 1\n",
            "2:2 yaml-syntax error: a tab in the indentation of a line",
        ),
        (
            "l:\n-\tx\n",
            "2:2 yaml-syntax error: a tab after a sequence item's '-'",
        ),
        (
            "a: |\n  x\n\t\nb: 1\n",
            "3:1 yaml-syntax error: a tab where a block scalar's indentation is expected",
        ),
    ] {
        let f = findings(text.as_bytes());
        assert!(
            f.iter().any(|f| *f == format!("{want} {hint}")),
            "{text:?}: {f:?}"
        );
        let e = Document::parse(text).unwrap_err();
        assert!(e.libyaml.is_some(), "{text:?}");
    }
    // What libyaml accepts stays accepted: tabs in block scalar content, in quoted scalars,
    // in flow collections, after a value, and after a plain scalar at or right of its indentation.
    for text in [
        "a: |\n  x\n  \ty\n",
        "a: \"x\n\ty\"\n",
        "a: [x,\ty]\n",
        "a:\tb\n",
        "a: x\n \t\nb: 1\n",
    ] {
        Document::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

// ----- 7. formatting -------------------------------------------------------------------------

fn remove(before: &str, path: &str) -> String {
    let mut d = Document::parse(before).unwrap();
    assert!(d.remove(0, &p(path)).unwrap());
    d.text().to_string()
}

fn append_yaml(before: &str, path: &str, yaml: &str) -> Result<String, EditError> {
    let mut d = Document::parse(before).unwrap();
    d.append(0, &p(path), &NewValue::Yaml(yaml.into()))?;
    Ok(d.text().to_string())
}

#[test]
fn removing_the_last_block_leaves_no_blank_line_at_the_end() {
    assert_eq!(remove("a: 1\n\nb:\n  c: 1\n", "b"), "a: 1\n");
    assert_eq!(remove("a: 1\n\n# about b\nb: 2\n\n", "b"), "a: 1\n");
    assert_eq!(remove("a: 1\n\nb: 2", "b"), "a: 1");
    assert_eq!(remove("a: 1\n\nb: 2\n\nc: 3\n", "b"), "a: 1\n\nc: 3\n");
}

#[test]
fn an_emptied_sequence_keeps_the_blank_line_that_separates_groups() {
    assert_eq!(remove("l:\n  - a\n\nm: 1\n", "l[0]"), "l: []\n\nm: 1\n");
}

#[test]
fn append_yaml_follows_the_files_sequence_style_and_refuses_duplicate_keys() {
    assert_eq!(
        append_yaml(
            "l:\n- a: 1\n",
            "l",
            "c:\n    - x\n    - y:\n          q: 1\n"
        )
        .unwrap(),
        "l:\n- a: 1\n- c:\n  - x\n  - y:\n      q: 1\n"
    );
    assert_eq!(
        append_yaml(
            "l:\n  - a: 1\n",
            "l",
            "c:\n- x\nd:\n      e: |\n        text\n"
        )
        .unwrap(),
        "l:\n  - a: 1\n  - c:\n      - x\n    d:\n      e: |\n        text\n"
    );
    let e = append_yaml("l:\n- a: 1\n", "l", "b: 1\nb: 2\n").unwrap_err();
    assert!(e.to_string().contains("the key `b` twice"), "{e}");
}

#[test]
fn new_keys_and_items_go_after_the_empty_lines_a_keep_block_holds() {
    assert_eq!(
        set("a:\n  x: |+\n    one\n\nb: 1\n", "a.w", arg("2")),
        "a:\n  x: |+\n    one\n\n  w: 2\nb: 1\n"
    );
    let mut d = Document::parse("l:\n- |+\n  x\n\n").unwrap();
    d.append(0, &p("l"), &NewValue::Scalar(string("z")))
        .unwrap();
    assert_eq!(d.text(), "l:\n- |+\n  x\n\n- z\n");
}

#[test]
fn crlf_files_get_crlf_lines() {
    let before = "a: 1\r\nb: 2\r\n";
    assert_eq!(set(before, "c", arg("3")), "a: 1\r\nb: 2\r\nc: 3\r\n");
    assert_eq!(
        set(before, "d.e", string("x\ny\n")),
        "a: 1\r\nb: 2\r\nd:\r\n  e: |\r\n    x\r\n    y\r\n"
    );
}

#[test]
fn no_trailing_blanks_are_written_into_a_block_scalar() {
    assert_eq!(
        set("a: |\n  x\n", "a", string("y  \nz\n")),
        "a: \"y  \\nz\\n\"\n"
    );
    assert_eq!(
        set("a: |\n  x\n", "a", string("y\nz\n")),
        "a: |\n  y\n  z\n"
    );
}

// ----- 8. yamllint directives ----------------------------------------------------------------

const DIRECTIVES: &str = "a: yes  # yamllint disable-line rule:truthy\nb: yes\n# yamllint disable-line\nc: on   \nd: off\n# yamllint disable rule:truthy rule:trailing-spaces\ne: yes  \n# yamllint enable rule:truthy\nf: yes  \n# yamllint enable\ng: yes\nh: \"x # yamllint disable\"\ni: yes\nj: yes\nj: 2  # yamllint disable-line rule:key-duplicates\n";

#[test]
fn yamllint_directives_switch_the_mirrored_rules_off() {
    let f: Vec<String> = findings(DIRECTIVES.as_bytes())
        .iter()
        .map(|f| {
            f.split(':')
                .take(2)
                .collect::<Vec<_>>()
                .join(":")
                .split(' ')
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        f,
        [
            "2:4 yaml-truthy",
            "5:4 yaml-truthy",
            "9:4 yaml-truthy",
            "11:4 yaml-truthy",
            "13:4 yaml-truthy",
            "14:4 yaml-truthy"
        ]
    );
    // The first line `# yamllint disable-file` switches them off for the whole file, but not
    // a syntax error Helm would stop at.
    assert_eq!(
        findings(b"# yamllint disable-file\na: yes  \n"),
        Vec::<String>::new()
    );
    let f = findings(b"# yamllint disable-file\na: 1\n\t\n");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("3:1 yaml-syntax error"), "{f:?}");
}

#[test]
fn yamllint_directives_are_read_as_yamllint_reads_them() {
    let rules = "{rules: {truthy: {allowed-values: ['true', 'false'], check-keys: true}, key-duplicates: enable, trailing-spaces: enable, new-line-at-end-of-file: enable}}";
    let Some(theirs) = crate::validate_yaml::yamllint(DIRECTIVES.as_bytes(), rules) else {
        return;
    };
    let ours: Vec<String> = findings(DIRECTIVES.as_bytes())
        .iter()
        .map(|f| f.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(ours, theirs);
}
