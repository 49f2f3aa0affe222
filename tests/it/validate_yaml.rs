//! The YAML rules of `validate` (syntax, duplicate keys, truthy values, trailing spaces, final
//! line break) at their exact line and column on small files in a temporary Phalanx-shaped
//! repository, the renderers (insta snapshots in the top-level `snapshots/`), the exit codes
//! of the built binary, and the public corpus trees (compared with yamllint when it is
//! installed).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

use gitops_migrate::repo::Files;
use gitops_migrate::repo::files::yaml_files;
use gitops_migrate::validate::{Finding, Severity, render, yaml_rules};

macro_rules! snap {
    ($name:literal, $value:expr) => {
        crate::common::snapshot(concat!("validate_yaml__", $name), $value)
    };
}

/// A temporary Phalanx-shaped repository (one environment, `dev`, enabling the application
/// `demo`) with no finding of its own, plus the given files (path relative to the root, text).
fn repo_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let base: &[(&str, &[u8])] = &[
        ("environments/values.yaml", b"applications:\n  demo: false\n"),
        (
            "environments/values-dev.yaml",
            b"name: dev\nfqdn: dev.example.com\nvaultPathPrefix: secret/dev\napplications:\n  demo: true\n",
        ),
        ("applications/demo/Chart.yaml", b"apiVersion: v2\nname: demo\nversion: 1.0.0\n"),
        ("applications/demo/values.yaml", b"replicas: 1\n"),
        ("applications/demo/values-dev.yaml", b"replicas: 2\n"),
    ];
    for (rel, text) in base.iter().chain(files) {
        let path = dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

/// The YAML rules' findings over every YAML file of `root`.
fn yaml_findings(root: &Path) -> Vec<Finding> {
    let files = Files::load(root, yaml_files(root, "").expect("walk")).expect("load");
    yaml_rules::check(&files)
}

/// `rule severity file:line:col`, one per finding.
fn brief(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| format!("{} {} {}:{}:{}", f.rule, f.severity, f.file, f.line, f.col))
        .collect()
}

/// The findings of one file `x.yaml` holding `text`.
fn one(text: &str) -> Vec<Finding> {
    one_bytes(text.as_bytes())
}

fn one_bytes(text: &[u8]) -> Vec<Finding> {
    let dir = repo_with(&[("applications/demo/x.yaml", text)]);
    yaml_findings(dir.path())
}

fn at(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| format!("{} {}:{}", f.rule, f.line, f.col))
        .collect()
}

// --- each rule at its line and column ------------------------------------------------------

#[test]
fn the_base_repository_is_clean() {
    let dir = repo_with(&[]);
    assert_eq!(brief(&yaml_findings(dir.path())), Vec::<String>::new());
}

#[test]
fn syntax_errors_are_errors_at_their_position() {
    let f = one("jupyterhub:\n  hub:\n    baseUrl: \"/n3\n");
    assert_eq!(at(&f), ["yaml-syntax 3:14"]);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].message.contains("unterminated"), "{}", f[0].message);
    assert!(f[0].hint.is_some());

    assert_eq!(at(&one("a: 1\nb: [1, 2\nc: 3\n")), ["yaml-syntax 2:4"]);
    assert_eq!(at(&one("a:\n  b: 1\n c: 2\n")), ["yaml-syntax 3:2"]);
}

#[test]
fn text_that_is_not_utf8_is_a_syntax_error_at_the_start() {
    let f = one_bytes(b"a: \xff\n");
    assert_eq!(at(&f), ["yaml-syntax 1:1"]);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].message, "not UTF-8 text");
}

#[test]
fn valid_yaml_the_editor_cannot_edit_is_a_warning() {
    // A flow sequence as a key is valid YAML that the editor's parser does not read.
    let f = one("[a, b]: c\n");
    assert_eq!(at(&f), ["yaml-syntax 1:7"]);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].message.contains("the editor cannot edit this file"),
        "{}",
        f[0].message
    );
}

#[test]
fn explicit_keys_are_read_and_checked() {
    // `? ` keys are read (their duplicates and truthy values checked), though not edited.
    assert_eq!(
        at(&one("? a\n: yes\n? a\n: 2\n")),
        ["yaml-truthy 2:3", "yaml-duplicate-key 3:3"]
    );
}

#[test]
fn duplicate_keys_are_reported_at_the_second_key() {
    let text = "\
jupyterhub:
  hub:
    baseUrl: \"/n3\"
    db:
      url: x
    baseUrl: \"/nb\"
flow: {a: 1, b: 2, a: 3}
list:
  - name: x
    'name': z
";
    let f = one(text);
    assert_eq!(
        at(&f),
        [
            "yaml-duplicate-key 6:5",
            "yaml-duplicate-key 7:20",
            "yaml-duplicate-key 10:5"
        ]
    );
    assert!(f.iter().all(|f| f.severity == Severity::Error));
    assert_eq!(
        f[0].message,
        "duplicate key `baseUrl`: first defined on line 3"
    );
    assert_eq!(f[1].message, "duplicate key `a`: first defined on line 7");
    assert!(f[0].hint.as_deref().unwrap().contains("keep one `baseUrl`"));
}

#[test]
fn merge_keys_may_repeat_and_same_keys_in_other_mappings_are_fine() {
    let text = "\
base: &base
  x: 1
other: &other
  z: 1
a:
  <<: *base
  <<: *other
  x: 2
b:
  x: 3
";
    assert_eq!(at(&one(text)), Vec::<String>::new());
}

#[test]
fn truthy_values_and_keys_are_warnings_at_the_scalar() {
    let text = "\
enabled: yes
quoted: \"yes\"
single: 'on'
tagged: !!str no
anchored: &a off
flow: [on, \"off\", Yes, {k: NO}]
keys: {True: 1, y: n}
on: 1
\"no\": 2
list:
  - ON
  - y
  - true
  - false
  - TRUE
  - False
block: |
  yes
words: yes no
alias: *a
";
    let f = one(text);
    assert_eq!(
        at(&f),
        [
            "yaml-truthy 1:10",
            "yaml-truthy 5:14",
            "yaml-truthy 6:8",
            "yaml-truthy 6:19",
            "yaml-truthy 6:28",
            "yaml-truthy 7:8",
            "yaml-truthy 7:17",
            "yaml-truthy 7:20",
            "yaml-truthy 8:1",
            "yaml-truthy 11:5",
            "yaml-truthy 12:5",
            "yaml-truthy 15:5",
            "yaml-truthy 16:5",
        ]
    );
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
    assert_eq!(
        f[0].message,
        "truthy value `yes` is read as the boolean true by YAML 1.1 readers (Helm, yamllint)"
    );
    assert_eq!(
        f[0].hint.as_deref(),
        Some("write `true` for a boolean, or quote it (`\"yes\"`) for a string")
    );
    assert_eq!(
        f[8].message,
        "key `on` is read as the boolean true by YAML 1.1 readers (Helm, yamllint)"
    );
    assert_eq!(
        f[8].hint.as_deref(),
        Some("quote the key (`\"on\":`) so that it stays a string")
    );
    assert_eq!(
        f[11].message,
        "truthy value `TRUE`: write booleans as `true` or `false`"
    );
    assert_eq!(f[12].hint.as_deref(), Some("write `false`"));
}

#[test]
fn yaml_1_2_documents_only_flag_capitalized_booleans() {
    let text = "%YAML 1.2\n---\na: yes\nb: True\n";
    assert_eq!(at(&one(text)), ["yaml-truthy 4:4"]);
}

#[test]
fn trailing_spaces_are_reported_at_the_first_trailing_blank() {
    let text = "a: 1  \nb: 2\t\n\n   \nc: |\n  text \n  more\nd: 3 # note \t \ne: 4\r\n";
    let f = one(text);
    assert_eq!(
        at(&f),
        [
            "yaml-trailing-space 1:5",
            "yaml-trailing-space 2:5",
            "yaml-trailing-space 4:1",
            "yaml-trailing-space 6:7",
            "yaml-trailing-space 8:12",
        ]
    );
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
    assert_eq!(f[0].message, "trailing whitespace (2 characters)");
    assert_eq!(f[1].message, "trailing whitespace (1 character)");
}

#[test]
fn trailing_space_columns_count_characters() {
    assert_eq!(at(&one("name: é \n")), ["yaml-trailing-space 1:8"]);
}

#[test]
fn a_missing_final_line_break_is_reported_after_the_last_character() {
    let f = one("a: 1\nb: 2");
    assert_eq!(at(&f), ["yaml-final-newline 2:5"]);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(at(&one("# only a comment")), ["yaml-final-newline 1:17"]);
    assert_eq!(at(&one("")), Vec::<String>::new());
    assert_eq!(at(&one("a: 1\n")), Vec::<String>::new());
}

#[test]
fn text_rules_still_run_on_a_file_that_does_not_parse() {
    let f = one("a: [1  \nb: 2");
    assert_eq!(
        at(&f),
        [
            "yaml-syntax 1:4",
            "yaml-trailing-space 1:6",
            "yaml-final-newline 2:5"
        ]
    );
}

#[test]
fn no_finding_on_the_clean_fixtures() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for name in ["phalanx", "phalanx-format-a", "infrastructure"] {
        assert_eq!(
            brief(&yaml_findings(&fixtures.join(name))),
            Vec::<String>::new(),
            "{name}"
        );
    }
}

/// The README's rule table under `## validate` lists the registry, in order, with each rule's
/// severity and summary.
#[test]
fn the_readme_rule_table_matches_the_registry() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## validate\n")
        .nth(1)
        .expect("README has a `## validate` section");
    let table: Vec<String> = section
        .lines()
        .skip_while(|l| !l.starts_with("| rule |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect();
    let want: Vec<String> = gitops_migrate::validate::RULES
        .iter()
        .map(|r| format!("| `{}` | {} | {} |", r.id, r.severity, r.summary))
        .collect();
    assert_eq!(table, want);
}

// --- the public corpus -----------------------------------------------------------------------

fn corpus(name: &str) -> Option<PathBuf> {
    common::shared_data(&format!("corpus/{name}"))
}

/// The files with YAML findings, and the rules found in them.
fn files_and_rules(findings: &[Finding]) -> Vec<String> {
    let mut v: Vec<String> = findings
        .iter()
        .map(|f| format!("{} {}", f.file, f.rule))
        .collect();
    v.dedup();
    v
}

/// Phalanx's tree passes yamllint with its `.yamllint.yml` except for 333 truthy values in
/// four files; the YAML rules find exactly those.
#[test]
fn phalanx_2026_corpus_findings_are_yamllints() {
    let Some(dir) = corpus("phalanx-2026") else {
        return;
    };
    let f = yaml_findings(&dir);
    assert_eq!(
        files_and_rules(&f),
        [
            "applications/next-visit-fan-out/values-usdfprod-prompt-processing.yaml yaml-truthy",
            "applications/next-visit-fan-out/values.yaml yaml-truthy",
            "applications/rapid-analysis/values-base.yaml yaml-truthy",
            "applications/simonyitel/values-summit.yaml yaml-truthy",
        ]
    );
    assert_eq!(f.len(), 333);
    compare_with_yamllint(&dir, &f);
}

/// The infrastructure tree has no yamllint configuration: yamllint runs with the mirrored rules
/// as Phalanx configures them, and finds what `validate` finds.
#[test]
fn infrastructure_2026_corpus_findings_are_yamllints() {
    let Some(dir) = corpus("infrastructure-2026") else {
        return;
    };
    let f = yaml_findings(&dir);
    compare_with_yamllint(&dir, &f);
}

#[test]
fn phalanx_2023_corpus_has_no_yaml_finding() {
    let Some(dir) = corpus("phalanx-2023-08") else {
        return;
    };
    let f = yaml_findings(&dir);
    assert_eq!(brief(&f), Vec::<String>::new());
    compare_with_yamllint(&dir, &f);
}

/// The rules of Phalanx's `.yamllint.yml` that the `yaml-*` rules mirror, for a tree that has
/// no yamllint configuration of its own.
pub const MIRRORED_RULES: &str = "{rules: {truthy: {allowed-values: ['true', 'false'], check-keys: true}, key-duplicates: enable, trailing-spaces: enable, new-line-at-end-of-file: enable}}";

/// yamllint, run with `args` in `dir`: `None` (with a notice) when it is not installed,
/// except with `CI` set, where its absence fails the test (`scripts/test` installs it).
fn run_yamllint(dir: &Path, args: &[&str]) -> Option<std::process::Output> {
    match Command::new("yamllint")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "yamllint is required in CI ({e}); scripts/test installs it with pip"
            );
            eprintln!("notice: yamllint is not installed; skipping the comparison with it");
            None
        }
    }
}

/// yamllint's problems (`line:col`) on one file holding `text`, with the configuration `config`
/// (yamllint's `-d`).
pub fn yamllint(text: &[u8], config: &str) -> Option<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f.yaml"), text).unwrap();
    let out = run_yamllint(dir.path(), &["-f", "parsable", "-d", config, "f.yaml"])?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(4, ':');
                parts.next()?;
                Some(format!("{}:{}", parts.next()?, parts.next()?))
            })
            .collect(),
    )
}

/// When yamllint is installed (always in CI), its `truthy`, `key-duplicates`,
/// `trailing-spaces`, `new-line-at-end-of-file` and syntax problems under the tree's own
/// `.yamllint.yml` (or the mirrored rules, for a tree without one) are exactly our findings.
fn compare_with_yamllint(dir: &Path, ours: &[Finding]) {
    let config = if dir.join(".yamllint.yml").exists() {
        vec!["-c", ".yamllint.yml"]
    } else {
        vec!["-d", MIRRORED_RULES]
    };
    let mut args = vec!["-f", "parsable"];
    args.extend(config);
    args.push(".");
    let Some(out) = run_yamllint(dir, &args) else {
        return;
    };
    let rules = [
        ("(truthy)", "yaml-truthy"),
        ("(key-duplicates)", "yaml-duplicate-key"),
        ("(trailing-spaces)", "yaml-trailing-space"),
        ("(new-line-at-end-of-file)", "yaml-final-newline"),
        ("(syntax)", "yaml-syntax"),
    ];
    let mut theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (_, ours) = rules.iter().find(|(r, _)| l.ends_with(r))?;
            let mut parts = l.trim_start_matches("./").splitn(4, ':');
            let (file, line, col) = (parts.next()?, parts.next()?, parts.next()?);
            Some(format!("{ours} {file}:{line}:{col}"))
        })
        .collect();
    let mut ours: Vec<String> = ours
        .iter()
        .map(|f| format!("{} {}:{}:{}", f.rule, f.file, f.line, f.col))
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs, "our findings against yamllint's");
}

// --- renderers -------------------------------------------------------------------------------

/// Two files with every YAML rule firing.
fn sample() -> Vec<Finding> {
    sample_files().1
}

/// The sample's files (whose lines the human format shows) and its findings.
fn sample_files() -> (Files, Vec<Finding>) {
    let dir = repo_with(&[
        (
            "applications/demo/values-dev.yaml",
            b"replicas: 2\nreplicas: 3\nenabled: yes  \n",
        ),
        ("environments/values-dev.yaml", b"name: dev\nfqdn: dev.example.com\nvaultPathPrefix: secret/dev\napplications:\n  demo: true"),
        ("applications/demo/values.yaml", b"image: [a, b\n"),
    ]);
    let files = Files::load(dir.path(), yaml_files(dir.path(), "").expect("walk")).expect("load");
    let findings = yaml_rules::check(&files);
    (files, findings)
}

#[test]
fn human_output() {
    let (files, findings) = sample_files();
    snap!("human", render::human(&findings, &files, false));
}

#[test]
fn human_output_without_findings() {
    assert_eq!(
        render::human(&[], &sample_files().0, false),
        "no findings\n"
    );
}

#[test]
fn human_output_colors_severities() {
    let (files, findings) = sample_files();
    let text = render::human(&findings, &files, true);
    let error = format!("{}error", gitops_migrate::util::style::ERROR.render());
    let warning = format!("{}warning", gitops_migrate::util::style::WARNING.render());
    assert!(text.contains(&error), "{text:?}");
    assert!(text.contains(&warning), "{text:?}");
    assert!(!render::human(&findings, &files, false).contains('\x1b'));
}

#[test]
fn json_output() {
    let text = render::json(&sample());
    snap!("json", &text);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["summary"],
        serde_json::json!({"errors": 2, "warnings": 3, "files": 3})
    );
    let keys: Vec<&str> = v["findings"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = ["rule", "severity", "file", "line", "col", "message", "hint"];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(
        render::json(&[]),
        "{\"findings\":[],\"summary\":{\"errors\":0,\"warnings\":0,\"files\":0}}\n"
    );
}

#[test]
fn github_output() {
    snap!("github", render::github(&sample()));
    assert_eq!(render::github(&[]), "");
}

#[test]
fn github_output_escapes_data_and_properties() {
    let f = Finding::at_line(
        "yaml-truthy",
        "odd,name:x%.yaml",
        3,
        7,
        "100% sure\r\nsecond line: a, b",
    );
    assert_eq!(
        render::github(std::slice::from_ref(&f)),
        "::warning file=odd%2Cname%3Ax%25.yaml,line=3,col=7,title=yaml-truthy::100%25 sure%0D%0Asecond line: a, b\n"
    );
    assert_eq!(
        render::github(&[f.hint("a\nb")]),
        "::warning file=odd%2Cname%3Ax%25.yaml,line=3,col=7,title=yaml-truthy::100%25 sure%0D%0Asecond line: a, b%0Ahint: a%0Ab\n"
    );
}

// --- the command line ------------------------------------------------------------------------

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn gm(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run gitops-migrate");
    Run {
        code: out.status.code().expect("exited with a code"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

#[test]
fn exit_0_without_findings_and_with_warnings_only() {
    let clean = repo_with(&[]);
    let r = gm(clean.path(), &["-C", ".", "validate"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "no findings\n"),
        "{}",
        r.stderr
    );

    let dir = repo_with(&[(
        "applications/demo/values-dev.yaml",
        b"replicas: 2\nenabled: yes\n",
    )]);
    let r = gm(dir.path(), &["-C", ".", "validate"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("yaml-truthy"), "{}", r.stdout);
    assert!(
        r.stdout.ends_with("0 errors, 1 warning in 1 file\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn exit_1_with_an_error() {
    let dir = repo_with(&[(
        "applications/demo/values-dev.yaml",
        b"replicas: 2\nreplicas: 3\n",
    )]);
    for format in ["human", "json", "github"] {
        let r = gm(dir.path(), &["-C", ".", "validate", "--format", format]);
        assert_eq!(r.code, 1, "{format}: {}{}", r.stdout, r.stderr);
    }
    let r = gm(dir.path(), &["-C", ".", "validate", "--format", "github"]);
    assert_eq!(
        r.stdout.lines().next().unwrap(),
        "::error file=applications/demo/values-dev.yaml,line=2,col=1,title=yaml-duplicate-key::duplicate key `replicas`: first defined on line 1%0Ahint: YAML readers disagree on which one counts (Helm keeps the last, ruamel.yaml and Go's yaml.v3 refuse the file); keep one `replicas` and merge the two values into it"
    );
    let r = gm(dir.path(), &["-C", ".", "validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["findings"][0]["line"], 2);
    assert_eq!(v["summary"]["errors"], 1);
}

#[test]
fn exit_2_when_the_repository_cannot_be_read() {
    let empty = tempfile::tempdir().unwrap();
    let r = gm(empty.path(), &["-C", ".", "validate"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("not a known repository kind"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");

    let r = gm(empty.path(), &["-C", "missing", "validate"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
}

#[test]
fn files_narrow_the_findings_and_are_relative_to_the_current_directory() {
    let dir = repo_with(&[
        ("applications/demo/values-dev.yaml", b"replicas: 2\nreplicas: 3\n"),
        ("environments/values-dev.yaml", b"name: dev\nfqdn: dev.example.com\nvaultPathPrefix: secret/dev\napplications:\n  demo: true \n"),
    ]);
    let root = dir.path();
    // Without `-C`, the repository is the git top level of the current directory.
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .status()
        .expect("git");
    assert!(git.success());
    // Only the environment file: its warning, not the other file's error.
    let r = gm(
        root,
        &[
            "validate",
            "--format",
            "github",
            "environments/values-dev.yaml",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("file=environments/values-dev.yaml,line=5,col=13,title=yaml-trailing-space"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("values-dev.yaml,line=2"), "{}", r.stdout);

    // From a subfolder, paths are relative to it; a folder covers the files below it.
    let sub = root.join("applications/demo");
    let r = gm(
        &sub,
        &[
            "-C",
            "../..",
            "validate",
            "--format",
            "github",
            "applications",
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let r = gm(&sub, &["validate", "--format", "github", "values-dev.yaml"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("file=applications/demo/values-dev.yaml,line=2,col=1"),
        "{}",
        r.stdout
    );
    let r = gm(&sub, &["validate", "values.yaml"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "no findings\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn exit_2_for_a_file_that_is_missing_or_outside_the_repository() {
    let dir = repo_with(&[]);
    let outside = tempfile::NamedTempFile::new().unwrap();
    let r = gm(
        dir.path(),
        &[
            "-C",
            ".",
            "validate",
            "nope.yaml",
            outside.path().to_str().unwrap(),
            "../",
        ],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stderr);
    assert_eq!(lines[0], "error: nope.yaml: no such file");
    assert!(
        lines[1].starts_with(&format!(
            "error: {}: outside the repository ",
            outside.path().display()
        )),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("error: ../: outside the repository"),
        "{}",
        lines[2]
    );
}
