//! What the command line prints, as users meet it: completions and manual pages generated from
//! the clap tree, diagnostics with their source line, the SARIF log checked against the
//! official SARIF 2.1.0 schema, `-q`, `status` in colour and in markdown, and colour decided
//! per stream in a real pseudo-terminal (util-linux `script`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{commit_all, copy_dir};

macro_rules! snap {
    ($name:expr, $value:expr) => {
        crate::common::snapshot(&format!("cli_output__{}", $name), $value)
    };
}

const BIN: &str = env!("CARGO_BIN_EXE_gitops-migrate");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The built binary with `args`, in `cwd`, with no colour variable of the caller's.
fn gm(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd);
    for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TERM", "CI"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run gitops-migrate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

// --- completions and man ---------------------------------------------------------------------

#[test]
fn bash_completions() {
    let out = gm(Path::new("."), &["completions", "bash"], &[]);
    assert!(out.status.success(), "{out:?}");
    let script = text(&out.stdout);
    // Generated from the command tree: every command and the options of `plan` are there.
    for word in [
        "validate",
        "sync-homes",
        "--all-ready",
        "--pvc-storage-class",
        "completions",
        "man",
    ] {
        assert!(
            script.contains(word),
            "`{word}` missing from the bash completions"
        );
    }
    // bash itself accepts the script and registers the completion.
    let check = Command::new("bash")
        .args(["-c", "source /dev/stdin && complete -p gitops-migrate"])
        .stdin(fs::File::open(write_tmp(&script)).unwrap())
        .output()
        .expect("bash");
    assert!(check.status.success(), "{check:?}");
    assert!(text(&check.stdout).contains("gitops-migrate"));
    snap!("completions_bash", script);
}

#[test]
fn completions_for_every_shell_and_an_unknown_one() {
    for (shell, marker) in [
        ("zsh", "#compdef gitops-migrate"),
        ("fish", "complete -c gitops-migrate"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[gitops-migrate]"),
    ] {
        let out = gm(Path::new("."), &["completions", shell], &[]);
        assert!(out.status.success(), "{shell}: {out:?}");
        assert!(text(&out.stdout).contains(marker), "{shell}");
    }
    let out = gm(Path::new("."), &["completions", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid value 'tcsh'"),
        "{out:?}"
    );
}

fn write_tmp(content: &str) -> PathBuf {
    let file = tempfile::NamedTempFile::new().unwrap();
    let (_, path) = file.keep().unwrap();
    fs::write(&path, content).unwrap();
    path
}

/// groff's warnings (`-ww`) about a page, or the empty string; `-k` runs the page through
/// preconv first, as `man` does, for its UTF-8 text.
fn groff_warnings(page: &str) -> String {
    let out = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .stdin(fs::File::open(write_tmp(page)).unwrap())
        .output()
        .expect("groff (groff-base) is installed: scripts/test installs it");
    assert!(out.status.success(), "{out:?}");
    text(&out.stderr)
}

#[test]
fn man_starts_with_a_valid_roff_header() {
    let out = gm(Path::new("."), &["man"], &[]);
    assert!(out.status.success(), "{out:?}");
    let page = text(&out.stdout);
    // roff's apostrophe definition, then the title line with every field quoted:
    // title, section, date (none), source, manual.
    let mut lines = page.lines();
    assert_eq!(lines.next(), Some(r".ie \n(.g .ds Aq \(aq"));
    assert_eq!(lines.next(), Some(r".el .ds Aq '"));
    assert_eq!(
        lines.next().unwrap(),
        format!(
            r#".TH "GITOPS-MIGRATE" "1" "" "gitops-migrate {}" "gitops-migrate manual""#,
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(lines.next(), Some(".SH NAME"));
    for section in [
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "{section} missing");
    }
    assert!(
        page.contains("gitops\\-migrate\\-plan(1)"),
        "subcommands refer to their pages"
    );
    assert_eq!(groff_warnings(&page), "");

    // A command's page, and every page into a folder.
    let out = gm(Path::new("."), &["man", "edit", "set"], &[]);
    assert!(out.status.success(), "{out:?}");
    let page = text(&out.stdout);
    assert!(
        page.contains(r#".TH "GITOPS-MIGRATE-EDIT-SET" "1" """#),
        "{page}"
    );
    assert!(page.contains("\\-\\-string"), "{page}");
    assert_eq!(groff_warnings(&page), "");

    let dir = tempfile::tempdir().unwrap();
    let out = gm(dir.path(), &["man", "--dir", "pages"], &[]);
    assert!(out.status.success(), "{out:?}");
    let written: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert!(
        written.contains(&"pages/gitops-migrate.1".to_string()),
        "{written:?}"
    );
    assert!(
        written.contains(&"pages/gitops-migrate-plan.1".to_string()),
        "{written:?}"
    );
    assert!(
        written.contains(&"pages/gitops-migrate-config-set.1".to_string()),
        "{written:?}"
    );
    for w in &written {
        assert_eq!(
            groff_warnings(&fs::read_to_string(dir.path().join(w)).unwrap()),
            "",
            "{w}"
        );
    }

    let out = gm(Path::new("."), &["man", "plam"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `plan`?"),
        "{out:?}"
    );
}

// --- diagnostics, -q, SARIF ------------------------------------------------------------------

#[test]
fn validate_shows_each_finding_with_its_line() {
    let out = gm(&fixture("phalanx-mistakes"), &["validate"], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    snap!("validate_phalanx_mistakes", text(&out.stdout));
}

#[test]
fn quiet_validate_prints_errors_only() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("phalanx"), dir.path());
    let values = dir.path().join("applications/nublado/values-idfdev.yaml");
    let original = fs::read_to_string(&values).unwrap();
    // A warning only: -q prints nothing and exits 0.
    fs::write(&values, format!("{original}enabled: yes\n")).unwrap();
    let out = gm(dir.path(), &["validate"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("warning[yaml-truthy]"),
        "{out:?}"
    );
    let out = gm(dir.path(), &["-q", "validate"], &[]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), String::new())
    );
    // And an error: -q prints it, not the warning.
    fs::write(&values, format!("{original}enabled: yes\nenabled: no\n")).unwrap();
    let out = gm(dir.path(), &["-q", "validate"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("error[yaml-duplicate-key]"), "{stdout}");
    assert!(!stdout.contains("warning["), "{stdout}");
    assert!(
        stdout.ends_with("1 error, 0 warnings in 1 file\n"),
        "{stdout}"
    );
}

/// The official SARIF 2.1.0 JSON schema (`sarif-2.1.0-rtm.5.json`, JSON Schema draft 4), as
/// the npm package `@microsoft/jest-sarif` 1.0.0-beta.0 ships it; `scripts/test` fetches it
/// into `target/test-deps/` (or names it with `GITOPS_MIGRATE_SARIF_SCHEMA`).
fn sarif_schema() -> Option<PathBuf> {
    let path = std::env::var_os("GITOPS_MIGRATE_SARIF_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-deps/sarif-2.1.0-rtm.5.json")
        });
    if path.is_file() {
        return Some(path);
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(
        !ci,
        "{} is missing (CI is set, so this test must run): run scripts/test, which fetches it",
        path.display()
    );
    eprintln!(
        "NOTICE: {} is missing; the SARIF schema check is skipped (run scripts/test)",
        path.display()
    );
    None
}

/// Errors of `document` against the JSON schema at `schema` (Python's `jsonschema`, draft 4
/// as the schema declares), one a line; empty when it is valid.
fn schema_errors(schema: &Path, document: &str) -> String {
    let check = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
assert schema["$schema"] == "http://json-schema.org/draft-04/schema#", schema["$schema"]
validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
for e in sorted(validator.iter_errors(json.load(sys.stdin)), key=str):
    print("/".join(map(str, e.absolute_path)), e.message)
"#;
    let doc = write_tmp(document);
    let out = Command::new("python3")
        .args(["-c", check])
        .arg(schema)
        .stdin(fs::File::open(doc).unwrap())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 jsonschema (pip install jsonschema): {out:?}"
    );
    text(&out.stdout)
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let Some(schema) = sarif_schema() else { return };
    let sha = Command::new("sha256sum").arg(&schema).output().unwrap();
    assert!(
        text(&sha.stdout)
            .starts_with("2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8"),
        "not the pinned SARIF 2.1.0 schema: {}",
        text(&sha.stdout)
    );
    // Errors, warnings, and a file name that needs percent-encoding in a URI.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("phalanx-mistakes"), dir.path());
    let odd = dir
        .path()
        .join("applications/mobu/values-ünïcode name.yaml");
    fs::write(&odd, "a: yes  \n").unwrap();
    let out = gm(dir.path(), &["validate", "--format", "sarif"], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let log = text(&out.stdout);
    assert_eq!(schema_errors(&schema, &log), "", "{log}");

    let v: serde_json::Value = serde_json::from_str(&log).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "gitops-migrate");
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), gitops_migrate::validate::RULES.len());
    let results = run["results"].as_array().unwrap();
    let json = gm(dir.path(), &["validate", "--format", "json"], &[]);
    let findings: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        results.len(),
        findings["findings"].as_array().unwrap().len()
    );
    for (r, f) in results.iter().zip(findings["findings"].as_array().unwrap()) {
        assert_eq!(r["ruleId"], f["rule"]);
        assert_eq!(r["level"], f["severity"]);
        assert_eq!(
            rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"],
            f["rule"]
        );
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert_eq!(
            (&region["startLine"], &region["startColumn"]),
            (&f["line"], &f["col"])
        );
    }
    let uris: Vec<&str> = results
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        uris.contains(&"applications/mobu/values-%C3%BCn%C3%AFcode%20name.yaml"),
        "{uris:?}"
    );

    // No findings: a valid log with an empty run.
    let out = gm(
        &fixture("infrastructure"),
        &["validate", "--format", "sarif"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let log = text(&out.stdout);
    assert_eq!(schema_errors(&schema, &log), "", "{log}");
    let v: serde_json::Value = serde_json::from_str(&log).unwrap();
    assert_eq!(v["runs"][0]["results"], serde_json::json!([]));
}

// --- status ----------------------------------------------------------------------------------

#[test]
fn status_is_coloured_by_state() {
    let plain = gm(&fixture("phalanx"), &["status"], &[]);
    let coloured = gm(&fixture("phalanx"), &["--color", "always", "status"], &[]);
    assert!(plain.status.success() && coloured.status.success());
    let coloured = text(&coloured.stdout);
    assert!(!text(&plain.stdout).contains('\x1b'));
    let paint = |style: anstyle::Style, t: &str| format!("{style}{t}{style:#}");
    use gitops_migrate::util::style;
    assert!(
        coloured.contains(&paint(style::PENDING, "v3-beside")),
        "{coloured}"
    );
    assert!(
        coloured.contains(&paint(style::GOOD, "complete")),
        "{coloured}"
    );
    assert!(coloured.contains(&paint(style::DIM, "none")), "{coloured}");
    // Without its escape codes, the coloured table is the plain one, columns aligned.
    assert_eq!(
        anstream::adapter::strip_str(&coloured).to_string(),
        text(&plain.stdout)
    );
}

#[test]
fn status_markdown_lists_clusters_without_hubs() {
    let out = gm(
        &fixture("infrastructure"),
        &["status", "--format", "markdown"],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let md = text(&out.stdout);
    assert!(md.contains("| newcluster | – | – |\n"), "{md}");
    let human = text(&gm(&fixture("infrastructure"), &["status"], &[]).stdout);
    for cluster in ["2i2c-aws-us", "newcluster", "temple"] {
        assert!(
            md.contains(&format!("| {cluster} |")),
            "{cluster} missing:\n{md}"
        );
        assert!(human.contains(cluster));
    }
}

// --- colour per stream, in a pseudo-terminal ------------------------------------------------

/// Runs `shell` (a `sh -c` command line) in a pseudo-terminal made by util-linux `script`,
/// in `dir`, with `env` (and TERM=xterm-256color unless given); returns what reached the
/// terminal.
fn in_pty(dir: &Path, shell: &str, env: &[(&str, &str)]) -> String {
    let transcript = dir.join("terminal.log");
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", shell])
        .arg(&transcript)
        .current_dir(dir)
        .env("GM", BIN)
        .env("TERM", "xterm-256color")
        .stdin(std::process::Stdio::null());
    for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "CI"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd
        .output()
        .expect("script (util-linux) is installed: scripts/test installs it");
    let log = fs::read(&transcript).unwrap_or_default();
    let _ = fs::remove_file(&transcript);
    assert!(
        out.status.success(),
        "`{shell}` in a pty: {out:?}\n{}",
        String::from_utf8_lossy(&log)
    );
    // Only what the command wrote, not script's own header and footer lines.
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| !l.starts_with("Script started") && !l.starts_with("Script done"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn plan_into_a_file_from_a_terminal_has_no_escape_codes_and_stderr_keeps_its_colour() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("phalanx");
    copy_dir(&fixture("phalanx"), &repo);
    commit_all(&repo);
    // A stage whose result would not validate: a warning and a finding on stderr.
    let plan = r#""$GM" plan nublado enable-v3 --env tucson-teststand"#;
    let has_esc = |s: &str| s.contains('\x1b');
    let file = |name: &str| fs::read_to_string(repo.join(name)).unwrap();

    // stdout to a file, stderr on the terminal.
    let terminal = in_pty(&repo, &format!("{plan} > plan.diff"), &[]);
    assert!(!has_esc(&file("plan.diff")), "escape codes in the file");
    assert!(file("plan.diff").contains("+++ b/applications/nublado/values-tucson-teststand.yaml"));
    let warning = format!("{}warning", gitops_migrate::util::style::WARNING.render());
    assert!(
        terminal.contains(&warning),
        "stderr on a terminal is coloured: {terminal:?}"
    );
    assert!(terminal.contains("nublado-v3-mount"), "{terminal:?}");

    // The file is a patch `git apply` takes.
    let make_default = r#""$GM" plan nublado make-default --env idfdev > make-default.diff && git apply --check make-default.diff"#;
    in_pty(&repo, make_default, &[]);
    assert!(!has_esc(&file("make-default.diff")));

    // CLICOLOR_FORCE forces colour into the file too; --color never wins over it.
    in_pty(
        &repo,
        &format!("{plan} > forced.diff"),
        &[("CLICOLOR_FORCE", "1")],
    );
    assert!(
        has_esc(&file("forced.diff")),
        "CLICOLOR_FORCE=1 colours the file"
    );
    in_pty(
        &repo,
        &format!("{plan} --color never > never.diff 2>never.err"),
        &[("CLICOLOR_FORCE", "1")],
    );
    assert!(!has_esc(&file("never.diff")) && !has_esc(&file("never.err")));
    in_pty(&repo, &format!("{plan} --color always > always.diff"), &[]);
    assert!(has_esc(&file("always.diff")));

    // NO_COLOR: set and empty does not disable colour; set to a value does.
    let terminal = in_pty(&repo, plan, &[("NO_COLOR", "")]);
    assert!(
        has_esc(&terminal),
        "NO_COLOR= (empty) keeps colour: {terminal:?}"
    );
    assert!(
        terminal.contains(
            &gitops_migrate::util::style::diff::ADDED
                .render()
                .to_string()
        )
    );
    let terminal = in_pty(&repo, plan, &[("NO_COLOR", "1")]);
    assert!(!has_esc(&terminal), "NO_COLOR=1: {terminal:?}");
    // TERM=dumb and CLICOLOR=0 turn it off too.
    let terminal = in_pty(&repo, plan, &[("TERM", "dumb")]);
    assert!(!has_esc(&terminal), "TERM=dumb: {terminal:?}");
    let terminal = in_pty(&repo, plan, &[("CLICOLOR", "0")]);
    assert!(!has_esc(&terminal), "CLICOLOR=0: {terminal:?}");

    // clap's own output follows --color and the variables too.
    let terminal = in_pty(&repo, r#""$GM" --color never plan --help"#, &[]);
    assert!(!has_esc(&terminal), "{terminal:?}");
    let terminal = in_pty(&repo, r#""$GM" plan --help"#, &[]);
    assert!(
        has_esc(&terminal),
        "clap's help on a terminal: {terminal:?}"
    );
    in_pty(&repo, r#""$GM" --color=always plan --help > help.txt"#, &[]);
    assert!(has_esc(&file("help.txt")));
    in_pty(
        &repo,
        r#""$GM" plan --no-such-option 2> usage.txt; test $? = 2"#,
        &[("NO_COLOR", "1")],
    );
    assert!(!has_esc(&file("usage.txt")) && file("usage.txt").contains("--no-such-option"));
}

#[test]
fn pipes_get_no_colour_and_the_environment_decides_in_auto() {
    // Outside a terminal: no colour unless forced.
    let repo = fixture("phalanx-mistakes");
    let out = gm(&repo, &["validate"], &[]);
    assert!(!text(&out.stdout).contains('\x1b'));
    let out = gm(&repo, &["validate"], &[("CLICOLOR_FORCE", "1")]);
    assert!(text(&out.stdout).contains('\x1b'));
    let out = gm(
        &repo,
        &["validate"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert!(
        !text(&out.stdout).contains('\x1b'),
        "NO_COLOR wins over CLICOLOR_FORCE"
    );
}

// --- plans and configuration ------------------------------------------------------------------

/// The lines of the section of `text` that starts with the line `heading`, up to a blank line.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn multi_environment_plans_show_each_environment_its_runbook() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("phalanx"), dir.path());
    let pvc = ["--pvc-storage-class", "repo=rook-cephfs"];
    let plan = |envs: &[&str]| {
        let mut args = vec!["plan", "nublado", "enable-v3"];
        for e in envs {
            args.extend(["--env", e]);
        }
        if envs.contains(&"tucson-teststand") {
            args.extend(pvc);
        }
        let out = gm(dir.path(), &args, &[]);
        assert!(out.status.success(), "{out:?}");
        text(&out.stdout)
    };
    let both = plan(&["idfprod", "tucson-teststand"]);
    // idfprod runs mobu, tucson-teststand does not: each runbook is its own.
    for env in ["idfprod", "tucson-teststand"] {
        let heading =
            format!("Window runbook of {env} (gitops-migrate exec nublado enable-v3 --env {env}):");
        let steps = section(&both, &heading);
        assert!(!steps.is_empty(), "no runbook for {env}:\n{both}");
        // The same steps as the plan of that environment alone, which `exec` runs.
        let alone = plan(&[env]);
        let single = format!("Window runbook (gitops-migrate exec nublado enable-v3 --env {env}):");
        assert_eq!(steps, section(&alone, &single), "{env}");
        let mobu = steps.iter().any(|s| s.contains("mobu"));
        assert_eq!(mobu, env == "idfprod", "{env}: {steps:?}");
    }
    assert!(!both.contains("--env <env>"), "{both}");
    assert!(
        both.contains("\n6 files changed, 128 lines added, 0 removed"),
        "{both}"
    );

    // One file: the count agrees with its noun.
    let out = gm(
        dir.path(),
        &["plan", "nublado", "drop-v2-values", "--env", "usdfdev"],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("1 file changed, 0 lines added, ")),
        "{stdout}"
    );
}

#[test]
fn config_set_notes_a_file_created_inside_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("phalanx"), dir.path());
    let set = |value: &str| {
        let out = gm(
            dir.path(),
            &["config", "set", "environments.idfdev.context", value],
            &[],
        );
        assert!(out.status.success(), "{out:?}");
        text(&out.stderr)
    };
    // Not a Git repository: no note.
    let stderr = set("one");
    assert!(stderr.starts_with("created "), "{stderr}");
    assert!(!stderr.contains("Git repository"), "{stderr}");
    fs::remove_file(dir.path().join("gitops-migrate.toml")).unwrap();

    assert!(
        Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success()
    );
    let stderr = set("two");
    assert!(
        stderr.contains("gitops-migrate.toml is inside the Git repository")
            && stderr.contains("not ignored")
            && stderr.contains(".git/info/exclude"),
        "{stderr}"
    );
    // Only when the file is created.
    let stderr = set("three");
    assert!(
        stderr.starts_with("updated ") && !stderr.contains("note:"),
        "{stderr}"
    );

    // Ignored: no note.
    fs::remove_file(dir.path().join("gitops-migrate.toml")).unwrap();
    fs::write(
        dir.path().join(".git/info/exclude"),
        "gitops-migrate.toml\n",
    )
    .unwrap();
    let stderr = set("four");
    assert!(!stderr.contains("note:"), "{stderr}");
}
