//! The `gitops-migrate edit` command line, run as the built binary on temporary copies of the
//! fixtures: exit codes, messages (insta snapshots in the top-level `snapshots/`, with the
//! temporary directory redacted) and what the files hold afterwards.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use tempfile::TempDir;

use crate::common;

const NUBLADO: &str = "phalanx/applications/nublado/values-idfdev.yaml";
const MOBU: &str = "phalanx/applications/mobu/values-idfdev.yaml";
const MALFORMED: &str = "yaml/malformed.yaml";
const FLOW: &str = "yaml/flow-values.yaml";

macro_rules! snap {
    ($name:expr, $value:expr) => {
        crate::common::snapshot(&format!("cli_edit__{}", $name), $value)
    };
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> PathBuf {
    manifest_dir().join("fixtures").join(rel)
}

/// A fresh temporary directory holding copies of the given fixtures, each under its file name.
fn temp_with(fixtures: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for rel in fixtures {
        let dest = dir.path().join(name(rel));
        assert!(!dest.exists(), "two fixtures named {}", name(rel));
        fs::copy(fixture(rel), dest).expect("copy fixture");
    }
    dir
}

/// The file name a fixture gets in the temporary directory.
fn name(rel: &str) -> &str {
    rel.rsplit('/').next().expect("file name")
}

struct Run {
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `cwd` with a fixed, colorless environment.
fn gm(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .output()
        .expect("run gitops-migrate");
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: out.status.code().expect("exited with a code"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

impl Run {
    /// The command line, exit code, stdout and stderr, with `dir` replaced by `[TMP]` and
    /// trailing whitespace trimmed from each line.
    fn combined(&self, dir: &Path) -> String {
        let text = format!(
            "$ gitops-migrate {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        redact(&text, dir)
    }
}

fn redact(text: &str, dir: &Path) -> String {
    let mut text = text.to_string();
    if let Ok(canon) = dir.canonicalize() {
        text = text.replace(&canon.display().to_string(), "[TMP]");
    }
    text = text.replace(&dir.display().to_string(), "[TMP]");
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    fs::read(path).expect("read file")
}

fn text(path: impl AsRef<Path>) -> String {
    String::from_utf8(read(path)).expect("UTF-8 file")
}

/// The names of the entries of `dir`, sorted: proves no temporary file was left behind.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_only(dir: &Path, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        entries(dir),
        expected,
        "the directory holds exactly the fixture files (no temporary files left)"
    );
}

fn diff(rel_name: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .header(&format!("a/{rel_name}"), &format!("b/{rel_name}"))
        .to_string()
}

/// Asserts that `run` failed with `code`, printed nothing on stdout, and left `file`
/// byte-identical to `before`.
fn assert_failed_untouched(run: &Run, code: i32, file: &Path, before: &[u8]) {
    assert_eq!(run.code, code, "exit code; stderr: {}", run.stderr);
    assert_eq!(run.stdout, "", "nothing on stdout");
    assert!(run.stderr.starts_with("error: "), "stderr: {}", run.stderr);
    assert_eq!(read(file), before, "the file is byte-identical afterwards");
}

// ---------------------------------------------------------------------------------------
// Success

#[test]
fn get_scalar() {
    let dir = temp_with(&[NUBLADO]);
    let before = read(dir.path().join(name(NUBLADO)));
    let run = gm(
        dir.path(),
        &["edit", "get", name(NUBLADO), "jupyterhub.hub.baseUrl"],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(
        run.stdout, "/n3\n",
        "the scalar's value, without its quotes"
    );
    assert_eq!(run.stderr, "");
    assert_eq!(read(dir.path().join(name(NUBLADO))), before);
    assert_only(dir.path(), &[name(NUBLADO)]);
}

#[test]
fn get_selector() {
    let dir = temp_with(&[MOBU]);
    let run = gm(
        dir.path(),
        &["edit", "get", name(MOBU), "config.autostart[name=nublado3]"],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stderr, "");
    snap!("get_selector", run.combined(dir.path()));

    let run = gm(
        dir.path(),
        &[
            "edit",
            "get",
            name(MOBU),
            "config.autostart[name=nublado3].business.options.url_prefix",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "/n3\n");

    let run = gm(
        dir.path(),
        &["edit", "get", name(MOBU), "config.autostart[2].name"],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "tap\n");
}

#[test]
fn get_mapping_prints_source_text() {
    let dir = temp_with(&[NUBLADO]);
    let run = gm(
        dir.path(),
        &["edit", "get", name(NUBLADO), "jupyterhub.hub"],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "baseUrl: \"/n3\"\ndb:\n  url: \"postgresql://nublado3@postgres.postgres/nublado3\"\n",
        "the mapping's own text, quotes kept"
    );
}

#[test]
fn set_scalar_changes_only_that_line() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = text(&file);
    let run = gm(
        dir.path(),
        &[
            "edit",
            "set",
            name(NUBLADO),
            "jupyterhub.hub.baseUrl",
            "/n2",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "", "a successful edit is silent without -v");
    let after = text(&file);
    snap!("set_scalar_diff", diff(NUBLADO, &before, &after));
    assert_only(dir.path(), &[name(NUBLADO)]);

    let run = gm(
        dir.path(),
        &["edit", "get", name(NUBLADO), "jupyterhub.hub.baseUrl"],
    );
    assert_eq!(run.stdout, "/n2\n");
}

#[test]
fn set_same_value_does_not_rewrite() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    fs::File::options()
        .write(true)
        .open(&file)
        .expect("open")
        .set_modified(old)
        .expect("set mtime");
    let before = read(&file);
    let meta_before = fs::metadata(&file).expect("metadata");

    let run = gm(
        dir.path(),
        &[
            "edit",
            "set",
            name(NUBLADO),
            "jupyterhub.hub.baseUrl",
            "/n3",
        ],
    );
    assert_eq!(
        run.code, 0,
        "nothing to do is success; stderr: {}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("nothing to do"), "{}", run.stderr);
    snap!("set_same_value", run.combined(dir.path()));

    let meta_after = fs::metadata(&file).expect("metadata");
    assert_eq!(read(&file), before, "bytes unchanged");
    assert_eq!(
        meta_after.modified().expect("mtime"),
        old,
        "mtime unchanged"
    );
    assert_eq!(
        meta_after.ino(),
        meta_before.ino(),
        "not replaced by a rename"
    );
    assert_only(dir.path(), &[name(NUBLADO)]);

    // -q hides the note, the outcome is the same.
    let run = gm(
        dir.path(),
        &[
            "-q",
            "edit",
            "set",
            name(NUBLADO),
            "jupyterhub.hub.baseUrl",
            "/n3",
        ],
    );
    assert_eq!(run.code, 0);
    assert_eq!(run.stderr, "");
    assert_eq!(
        fs::metadata(&file)
            .expect("metadata")
            .modified()
            .expect("mtime"),
        old
    );
}

#[test]
fn rm_selected_item_with_its_comment() {
    let dir = temp_with(&[MOBU]);
    let file = dir.path().join(name(MOBU));
    let before = text(&file);
    let run = gm(
        dir.path(),
        &["edit", "rm", name(MOBU), "config.autostart[name=nublado3]"],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");
    let after = text(&file);
    snap!("rm_selected_item_diff", diff(MOBU, &before, &after));
    assert!(!after.contains("nublado3"));
    assert_only(dir.path(), &[name(MOBU)]);

    // Removing it again: not found, exit 1, nothing written.
    let before = read(&file);
    let run = gm(
        dir.path(),
        &["edit", "rm", name(MOBU), "config.autostart[name=nublado3]"],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
}

#[test]
fn append_scalar_to_sequence() {
    let dir = temp_with(&[MOBU]);
    let file = dir.path().join(name(MOBU));
    let before = text(&file);
    let run = gm(
        dir.path(),
        &[
            "edit",
            "append",
            name(MOBU),
            "config.autostart[name=recommended].scopes",
            "read:portal",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stderr, "");
    snap!("append_scalar_diff", diff(MOBU, &before, &text(&file)));
    assert_only(dir.path(), &[name(MOBU)]);
}

#[test]
fn repo_option_resolves_relative_files() {
    let dir = temp_with(&[NUBLADO]);
    let dir_arg = dir.path().display().to_string();
    let run = gm(
        manifest_dir(),
        &[
            "-C",
            &dir_arg,
            "edit",
            "get",
            name(NUBLADO),
            "jupyterhub.hub.baseUrl",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "/n3\n");

    let missing = dir.path().join("no-such-dir").display().to_string();
    let run = gm(
        manifest_dir(),
        &["-C", &missing, "edit", "get", "x.yaml", "a"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot use -C"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------
// Bad input: a clear message, the right exit code, the file byte-identical afterwards.

#[test]
fn malformed_yaml_is_an_input_error() {
    let dir = temp_with(&[MALFORMED]);
    let file = dir.path().join(name(MALFORMED));
    let before = read(&file);
    let cases: [(&str, &[&str]); 3] = [
        ("get", &["edit", "get", name(MALFORMED), "jupyterhub.hub"]),
        (
            "set",
            &[
                "edit",
                "set",
                name(MALFORMED),
                "jupyterhub.hub.baseUrl",
                "/n2",
            ],
        ),
        ("rm", &["edit", "rm", name(MALFORMED), "jupyterhub.hub.db"]),
    ];
    for (cmd, args) in cases {
        let run = gm(dir.path(), args);
        assert_failed_untouched(&run, 2, &file, &before);
        assert!(
            run.stderr.contains("malformed.yaml:5:4:"),
            "{cmd}: names file:line:col: {}",
            run.stderr
        );
        snap!(format!("malformed_{cmd}"), run.combined(dir.path()));
    }
    assert_only(dir.path(), &[name(MALFORMED)]);
}

#[test]
fn missing_file_is_an_input_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("values-nope.yaml").display().to_string();
    let cases: [(&str, &[&str]); 3] = [
        ("get", &["edit", "get", &missing, "a.b"]),
        ("set", &["edit", "set", &missing, "a.b", "c"]),
        ("rm", &["edit", "rm", &missing, "a.b"]),
    ];
    for (cmd, args) in cases {
        let run = gm(dir.path(), args);
        assert_eq!(run.code, 2, "{cmd}: {}", run.stderr);
        assert_eq!(run.stdout, "");
        assert!(
            run.stderr.contains("values-nope.yaml"),
            "{cmd}: {}",
            run.stderr
        );
        snap!(format!("missing_file_{cmd}"), run.combined(dir.path()));
    }
    assert_only(dir.path(), &[]);
}

#[test]
fn read_only_file_is_refused() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    fs::set_permissions(&file, fs::Permissions::from_mode(0o444)).expect("chmod");
    let before = read(&file);

    // Tests may run as root, who could write anyway: check the content, not only the mode.
    let run = gm(
        dir.path(),
        &[
            "edit",
            "set",
            name(NUBLADO),
            "jupyterhub.hub.baseUrl",
            "/n2",
        ],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    snap!("read_only_set", run.combined(dir.path()));

    let run = gm(
        dir.path(),
        &["edit", "rm", name(NUBLADO), "jupyterhub.hub.db"],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);

    // Reading a read-only file is fine.
    let run = gm(
        dir.path(),
        &["edit", "get", name(NUBLADO), "jupyterhub.hub.baseUrl"],
    );
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "/n3\n");

    assert_eq!(
        fs::metadata(&file).expect("metadata").permissions().mode() & 0o777,
        0o444
    );
    assert_only(dir.path(), &[name(NUBLADO)]);
}

#[test]
fn path_through_a_scalar_is_refused() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = read(&file);
    let cases: [(&str, &[&str]); 3] = [
        (
            "get",
            &["edit", "get", name(NUBLADO), "jupyterhub.hub.baseUrl.x"],
        ),
        (
            "set",
            &[
                "edit",
                "set",
                name(NUBLADO),
                "jupyterhub.hub.baseUrl.x",
                "y",
            ],
        ),
        (
            "rm",
            &["edit", "rm", name(NUBLADO), "jupyterhub.hub.baseUrl.x"],
        ),
    ];
    for (cmd, args) in cases {
        let run = gm(dir.path(), args);
        assert_failed_untouched(&run, 1, &file, &before);
        assert!(
            run.stderr.contains("`jupyterhub.hub.baseUrl`") && run.stderr.contains("line 31"),
            "{cmd}: names the scalar and its line: {}",
            run.stderr
        );
        if cmd == "get" {
            snap!("path_through_scalar", run.combined(dir.path()));
        }
    }
    assert_only(dir.path(), &[name(NUBLADO)]);
}

#[test]
fn flow_collections_are_refused() {
    let dir = temp_with(&[FLOW]);
    let file = dir.path().join(name(FLOW));
    let before = read(&file);

    let run = gm(
        dir.path(),
        &["edit", "rm", name(FLOW), "jupyterhub_db.user"],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert!(run.stderr.contains("flow collection"), "{}", run.stderr);
    snap!("flow_rm", run.combined(dir.path()));

    let run = gm(
        dir.path(),
        &["edit", "set", name(FLOW), "jupyterhub_db.password", "x"],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert!(run.stderr.contains("flow collection"), "{}", run.stderr);
    snap!("flow_set_new_key", run.combined(dir.path()));

    // Reading inside a flow collection works.
    let run = gm(
        dir.path(),
        &["edit", "get", name(FLOW), "jupyterhub_db.user"],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "jovyan\n");
    assert_only(dir.path(), &[name(FLOW)]);
}

#[test]
fn missing_path_is_not_found_with_a_hint() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = read(&file);
    for cmd in ["get", "rm"] {
        let run = gm(
            dir.path(),
            &["edit", cmd, name(NUBLADO), "jupyterhub.hub.baseURL"],
        );
        assert_failed_untouched(&run, 1, &file, &before);
        assert!(run.stderr.contains("not found"), "{cmd}: {}", run.stderr);
        assert!(
            run.stderr.contains("did you mean `baseUrl`"),
            "{cmd}: {}",
            run.stderr
        );
        snap!(format!("not_found_{cmd}"), run.combined(dir.path()));
    }

    // A selector that matches no item, and an index past the end.
    let dir = temp_with(&[MOBU]);
    let mobu = dir.path().join(name(MOBU));
    let before = read(&mobu);
    for (label, path) in [
        ("selector", "config.autostart[name=nublado]"),
        ("index", "config.autostart[9]"),
    ] {
        let run = gm(dir.path(), &["edit", "rm", name(MOBU), path]);
        assert_failed_untouched(&run, 1, &mobu, &before);
        assert!(run.stderr.contains("not found"), "{label}: {}", run.stderr);
        snap!(format!("not_found_{label}"), run.combined(dir.path()));
    }
    assert_only(dir.path(), &[name(MOBU)]);
}

#[test]
fn invalid_path_syntax_is_a_usage_error() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = read(&file);
    let cases: [(&str, &[&str]); 3] = [
        ("get", &["edit", "get", name(NUBLADO), "a..b"]),
        ("set", &["edit", "set", name(NUBLADO), "a..b", "c"]),
        ("rm", &["edit", "rm", name(NUBLADO), "a..b"]),
    ];
    for (cmd, args) in cases {
        let run = gm(dir.path(), args);
        assert_failed_untouched(&run, 2, &file, &before);
        assert!(
            run.stderr.contains("invalid PATH `a..b`"),
            "{cmd}: {}",
            run.stderr
        );
        if cmd == "get" {
            snap!("invalid_path", run.combined(dir.path()));
        }
    }
    for bad in ["a[", "a.", "", "a[x"] {
        let run = gm(dir.path(), &["edit", "get", name(NUBLADO), bad]);
        assert_failed_untouched(&run, 2, &file, &before);
        assert!(
            run.stderr.contains("invalid PATH"),
            "{bad:?}: {}",
            run.stderr
        );
    }
    assert_only(dir.path(), &[name(NUBLADO)]);
}

#[test]
fn invalid_value_is_a_usage_error() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = read(&file);
    let run = gm(
        dir.path(),
        &[
            "edit",
            "set",
            name(NUBLADO),
            "jupyterhub.hub.extra",
            "[a, b]",
        ],
    );
    assert_failed_untouched(&run, 2, &file, &before);
    assert!(run.stderr.contains("--string"), "{}", run.stderr);
    snap!("invalid_value", run.combined(dir.path()));

    let run = gm(
        dir.path(),
        &[
            "edit",
            "append",
            name(NUBLADO),
            "controller.config.lab.volumes",
            "[a, b]",
        ],
    );
    assert_failed_untouched(&run, 2, &file, &before);

    // With --string the same text is stored as a string.
    let run = gm(
        dir.path(),
        &[
            "edit",
            "set",
            "--string",
            name(NUBLADO),
            "jupyterhub.hub.extra",
            "[a, b]",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let before = String::from_utf8(before).expect("UTF-8");
    snap!(
        "set_string_value_diff",
        diff(NUBLADO, &before, &text(&file))
    );
    let run = gm(
        dir.path(),
        &["edit", "get", name(NUBLADO), "jupyterhub.hub.extra"],
    );
    assert_eq!(run.stdout, "[a, b]\n");
    assert_only(dir.path(), &[name(NUBLADO)]);
}

#[test]
fn set_of_a_mapping_is_refused() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = read(&file);
    let run = gm(
        dir.path(),
        &["edit", "set", name(NUBLADO), "jupyterhub.hub", "x"],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert!(run.stderr.contains("mapping"), "{}", run.stderr);
    snap!("set_mapping", run.combined(dir.path()));
    assert_only(dir.path(), &[name(NUBLADO)]);
}

#[test]
fn absent_document_is_refused() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = read(&file);
    for cmd in ["get", "rm"] {
        let run = gm(
            dir.path(),
            &[
                "edit",
                cmd,
                "--document",
                "3",
                name(NUBLADO),
                "jupyterhub.hub.baseUrl",
            ],
        );
        assert_failed_untouched(&run, 1, &file, &before);
        assert!(
            run.stderr
                .contains("not found: document 3 does not exist (the file has 1)"),
            "{cmd}: {}",
            run.stderr
        );
    }
    // `set` is refused too and writes nothing (but see `set_in_absent_document_is_not_found`).
    let run = gm(
        dir.path(),
        &[
            "edit",
            "set",
            "--document",
            "3",
            name(NUBLADO),
            "jupyterhub.hub.baseUrl",
            "/n2",
        ],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert_only(dir.path(), &[name(NUBLADO)]);
}

#[test]
fn set_in_absent_document_is_not_found() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = read(&file);
    let run = gm(
        dir.path(),
        &[
            "edit",
            "set",
            "--document",
            "3",
            name(NUBLADO),
            "jupyterhub.hub.baseUrl",
            "/n2",
        ],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert!(
        run.stderr
            .contains("document 3 does not exist (the file has 1)"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------
// Permissions and temporary files

#[test]
fn permissions_are_kept() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).expect("chmod");
    let ino_before = fs::metadata(&file).expect("metadata").ino();

    let run = gm(
        dir.path(),
        &[
            "edit",
            "set",
            name(NUBLADO),
            "jupyterhub.hub.baseUrl",
            "/n2",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let meta = fs::metadata(&file).expect("metadata");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_ne!(meta.ino(), ino_before, "written through a rename");
    assert!(text(&file).contains("baseUrl: \"/n2\""));
    assert_only(dir.path(), &[name(NUBLADO)]);

    let run = gm(
        dir.path(),
        &["edit", "rm", name(NUBLADO), "jupyterhub.hub.db"],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(
        fs::metadata(&file).expect("metadata").permissions().mode() & 0o7777,
        0o640
    );
    assert!(!text(&file).contains("postgresql://"));

    // A failed edit leaves neither a change nor a temporary file.
    let before = read(&file);
    let run = gm(
        dir.path(),
        &["edit", "set", name(NUBLADO), "jupyterhub.hub", "x"],
    );
    assert_failed_untouched(&run, 1, &file, &before);
    assert_only(dir.path(), &[name(NUBLADO)]);
}

// ---------------------------------------------------------------------------------------
// edit check

/// Parses `N files, M identical, R refused`.
fn summary(line: &str) -> (usize, usize, usize) {
    let parts: Vec<&str> = line.split(", ").collect();
    assert_eq!(parts.len(), 3, "summary line: {line:?}");
    let num = |part: &str, word: &str| -> usize {
        let (n, w) = part
            .split_once(' ')
            .unwrap_or_else(|| panic!("summary part {part:?}"));
        assert_eq!(w, word, "summary line: {line:?}");
        n.parse()
            .unwrap_or_else(|_| panic!("number in summary line {line:?}"))
    };
    (
        num(parts[0], "files"),
        num(parts[1], "identical"),
        num(parts[2], "refused"),
    )
}

/// Counts `*.yaml`/`*.yml` files under `dir`, skipping folders named `templates`.
fn count_yaml(dir: &Path) -> usize {
    let mut n = 0;
    for entry in fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let file_type = entry.file_type().expect("file type");
        if file_type.is_dir() {
            if entry.file_name() != "templates" {
                n += count_yaml(&path);
            }
        } else if file_type.is_file()
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        {
            n += 1;
        }
    }
    n
}

#[test]
fn check_fixtures_refuses_only_the_malformed_file() {
    let run = gm(manifest_dir(), &["edit", "check", "fixtures"]);
    assert_eq!(
        run.code, 1,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one refused file, then the summary: {lines:?}"
    );

    let refused = lines[0];
    assert!(
        refused.starts_with("fixtures/yaml/malformed.yaml:"),
        "refused line: {refused:?}"
    );
    assert!(refused.contains("5:4"), "names line:col: {refused:?}");

    let (files, identical, refused) = summary(lines[1]);
    assert_eq!(refused, 1);
    assert_eq!(identical, files - 1);
    assert_eq!(
        files,
        count_yaml(&manifest_dir().join("fixtures")),
        "every YAML file outside `templates` folders is checked"
    );
}

#[test]
fn check_good_files_exits_0() {
    let dir = temp_with(&[
        NUBLADO,
        FLOW,
        "yaml/anchors.yaml",
        "yaml/multi-document.yaml",
    ]);
    let run = gm(dir.path(), &["edit", "check", "."]);
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert_eq!(run.stdout, "4 files, 4 identical, 0 refused\n");
    assert_eq!(run.stderr, "");

    // -v lists every file on stderr; the result on stdout is the same.
    let run = gm(dir.path(), &["-v", "edit", "check", "."]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "4 files, 4 identical, 0 refused\n");
    assert_eq!(run.stderr.lines().count(), 4, "{}", run.stderr);
    assert!(run.stderr.lines().all(|l| l.ends_with(": identical")));

    // Files given one by one.
    let run = gm(dir.path(), &["edit", "check", name(NUBLADO), name(FLOW)]);
    assert_eq!(run.code, 0, "stdout: {}", run.stdout);
    assert_eq!(run.stdout, "2 files, 2 identical, 0 refused\n");
}

#[test]
fn check_skips_templates_folders() {
    let dir = temp_with(&[NUBLADO]);
    let helm = "{{- if .Values.x }}\nfoo: bar\n{{- end }}\n";
    for sub in ["templates", "chart/templates"] {
        fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        fs::write(dir.path().join(sub).join("x.yaml"), helm).expect("write");
    }
    let run = gm(dir.path(), &["edit", "check", "."]);
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert_eq!(run.stdout, "1 file, 1 identical, 0 refused\n");

    // The skip matters: the template itself is not YAML the editor accepts.
    let run = gm(dir.path(), &["edit", "check", "templates/x.yaml"]);
    assert_eq!(run.code, 1, "stdout: {}", run.stdout);
    assert!(
        run.stdout.starts_with("templates/x.yaml:1:"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("1 file, 0 identical, 1 refused\n"));
}

#[test]
fn check_missing_path_is_an_input_error() {
    let dir = temp_with(&[NUBLADO]);
    let run = gm(dir.path(), &["edit", "check", "no-such-dir"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    snap!("check_missing_path", run.combined(dir.path()));

    // Together with a good path: still an input error, and no partial report.
    let run = gm(dir.path(), &["edit", "check", name(NUBLADO), "no-such-dir"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);

    // No PATH at all is a usage error.
    let run = gm(dir.path(), &["edit", "check"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("<PATH>"), "{}", run.stderr);
}

#[test]
fn check_corpus_round_trips() {
    if common::shared_data("corpus").is_none() {
        return;
    }
    let run = gm(manifest_dir(), &["edit", "check", "../shared/corpus"]);
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "no refused files, only the summary: {}",
        run.stdout
    );
    let (files, identical, refused) = summary(lines[0]);
    assert!(files > 0, "the corpus has YAML files");
    assert_eq!(identical, files, "{}", lines[0]);
    assert_eq!(refused, 0, "{}", lines[0]);
    assert_eq!(run.code, 0);
}

// ---------------------------------------------------------------------------------------
// Help and version

#[test]
fn help_of_edit_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = gm(dir.path(), &["edit", "set", "--help"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stderr, "");
    snap!("help_edit_set", run.combined(dir.path()));
}

#[test]
fn version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = gm(dir.path(), &["--version"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        format!("gitops-migrate {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_option_is_a_usage_error() {
    let dir = temp_with(&[NUBLADO]);
    let file = dir.path().join(name(NUBLADO));
    let before = read(&file);
    let run = gm(
        dir.path(),
        &["edit", "set", "--bogus", name(NUBLADO), "a", "b"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--bogus"), "{}", run.stderr);
    assert_eq!(read(&file), before);
}
