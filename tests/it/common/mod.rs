//! Helpers every integration test may use (the HTTP doubles live in `tests/it/support/`).

#![allow(dead_code)]

pub mod git;
pub mod homes;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable that makes the `../shared/` data required: set (to anything but empty or
/// `0`) by `.ci/run`, so that CI fails rather than skips when the data is missing.
pub const REQUIRE_SHARED: &str = "GITOPS_MIGRATE_REQUIRE_CORPUS";

/// When set, the file each skip notice is also appended to (`scripts/test` prints it after
/// the run, since the test runner hides the output of passing tests).
pub const SKIP_LOG: &str = "GITOPS_MIGRATE_SKIP_LOG";

/// `../shared/<rel>` beside the crate: the public corpus trees (`corpus/…`) and the official
/// YAML test suite (`yaml-test-suite`). They live outside the project, so a clone alone does
/// not have them.
///
/// Returns the folder when it is there. When it is absent the calling test skips what needs
/// it: a notice naming the test and the folder is printed (and recorded in
/// `$GITOPS_MIGRATE_SKIP_LOG`) and `None` returned, so the test returns early (or, like the
/// property test, goes on with the fixtures only). With `GITOPS_MIGRATE_REQUIRE_CORPUS` set, as in CI,
/// an absent folder fails the test instead, naming the folder.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    if dir.is_dir() {
        return Some(dir);
    }
    let required = std::env::var(REQUIRE_SHARED).is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{} is absent, and {REQUIRE_SHARED} is set: this test needs the shared data (CI provides ../shared/ beside the crate)",
        dir.display()
    );
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let notice = format!("{test}: ../shared/{rel} is absent; its checks on it were skipped");
    eprintln!("notice: {notice}");
    if let Some(log) = std::env::var_os(SKIP_LOG).filter(|v| !v.is_empty()) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("{SKIP_LOG}={}: {e}", Path::new(&log).display()));
        // One write per line (appends of a line are atomic across the parallel tests).
        file.write_all(format!("{notice}\n").as_bytes())
            .expect("write the skip log");
    }
    None
}

/// Asserts `value` against the snapshot `snapshots/<name>.snap` at the crate's top level.
/// Names carry their test module as a prefix (`cli_edit__set_scalar_diff`).
pub fn snapshot(name: &str, value: impl AsRef<str>) {
    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, value.as_ref());
    });
}

/// Copies a directory tree (files and folders; fixtures hold nothing else).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// `git init` in `dir` and one commit of everything in it (with an author of its own and no
/// signing, whatever the user's configuration says).
pub fn commit_all(dir: &Path) {
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=gitops-migrate tests",
            "-c",
            "user.email=tests@example.invalid",
            "-c",
            "commit.gpgSign=false",
            "commit",
            "-qm",
            "fixture",
        ],
    ] {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }
}

/// Every file under `root` (relative path → content).
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(root).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}
