//! The README against the tool: every command of its command table exists with the options the
//! row names (and every command of the tool is in the table); the pre-commit section names the
//! hooks of `.pre-commit-hooks.yaml` with their languages; the exit-code tables match what the
//! commands do; and every example command line of the README runs, in a sandbox made from the
//! fixtures, with the exit code this file expects of it, never a usage error.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;

use crate::common::{commit_all, copy_dir};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    fs::read_to_string(manifest_dir().join("README.md")).unwrap()
}

/// The lines of the README's section that starts with `heading` (up to the next heading of
/// the same or a higher level).
fn section(text: &str, heading: &str) -> Vec<String> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = text.lines().skip_while(|l| *l != heading);
    lines
        .next()
        .unwrap_or_else(|| panic!("no `{heading}` in the README"));
    lines
        .take_while(|l| {
            let hashes = l.chars().take_while(|c| *c == '#').count();
            !(hashes > 0 && hashes <= level && l.chars().nth(hashes) == Some(' '))
        })
        .map(str::to_string)
        .collect()
}

/// The first cells of a markdown table's rows (without the header), code spans unwrapped and
/// `\|` unescaped.
fn first_cells(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cell = l[2..].split(" | ").next().unwrap();
            cell.replace("\\|", "|").replace('`', "")
        })
        .collect()
}

fn gm_help(words: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .args(words)
        .arg("--help")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{words:?} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_command_table_matches_the_commands_and_their_options() {
    let text = readme();
    let rows = first_cells(&section(&text, "## Commands"));
    let mut documented = Vec::new();
    for row in rows.iter().filter(|r| r.starts_with("gitops-migrate ")) {
        // `gitops-migrate config set KEY VALUE / config get KEY / …`: each part its own command.
        for part in row.trim_start_matches("gitops-migrate ").split(" / ") {
            let words: Vec<&str> = part
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .take_while(|w| !w.starts_with('-'))
                .collect();
            // A command word, or (for `completions bash|zsh…`) its first value.
            let words: Vec<&str> = words.into_iter().take(2).collect();
            let words = command_words(&words);
            assert!(!words.is_empty(), "no command in `{row}`");
            let help = gm_help(&words);
            for opt in part
                .split(|c: char| c.is_whitespace() || "[]|,".contains(c))
                .filter(|w| w.starts_with("--"))
            {
                let opt = opt.trim_end_matches("...").trim_end_matches('…');
                assert!(
                    help.contains(opt),
                    "`{row}`: `{} --help` has no {opt}",
                    words.join(" ")
                );
            }
            documented.push(words[0].to_string());
        }
    }
    // Every command of the tool has a row.
    for sub in gitops_migrate::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            documented.iter().any(|d| d == name),
            "`{name}` is not in the README's command table"
        );
    }
}

/// The leading words of `words` that name a (sub)command of the tool.
fn command_words<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let mut cmd = gitops_migrate::cli::Cli::command();
    let mut out = Vec::new();
    for w in words {
        match cmd.find_subcommand(w) {
            Some(sub) => {
                out.push(*w);
                cmd = sub.clone();
            }
            None => break,
        }
    }
    out
}

#[test]
fn the_pre_commit_section_names_the_hooks_and_their_languages() {
    let text = readme();
    let lines = section(&text, "### As a pre-commit hook");
    let hooks_file = fs::read_to_string(manifest_dir().join(".pre-commit-hooks.yaml")).unwrap();
    let mut hooks = BTreeMap::new();
    let mut id = None;
    for line in hooks_file.lines() {
        if let Some(i) = line.strip_prefix("- id: ") {
            id = Some(i.trim().to_string());
        } else if let (Some(lang), Some(i)) = (line.trim().strip_prefix("language: "), &id) {
            hooks.insert(i.clone(), lang.trim().to_string());
        }
    }
    let mut documented = BTreeMap::new();
    for l in lines
        .iter()
        .filter(|l| l.starts_with("| `gitops-migrate-validate"))
    {
        let cells: Vec<&str> = l.split(" | ").collect();
        documented.insert(
            cells[0].trim_start_matches("| ").replace('`', ""),
            cells[1].replace('`', ""),
        );
    }
    assert_eq!(
        documented, hooks,
        "the README's hooks table and .pre-commit-hooks.yaml"
    );
    assert_eq!(hooks.len(), 3);
    // The root package the python hook installs is the one pyproject.toml the section describes.
    let pyproject = fs::read_to_string(manifest_dir().join("pyproject.toml")).unwrap();
    assert!(pyproject.contains("backend-path = [\"scripts/hook-package\"]"));
    assert!(pyproject.contains("requires = []"));
}

// --- the examples ------------------------------------------------------------------------------

/// Every command line of the README's code blocks that runs `gitops-migrate` (continuation
/// lines joined), except synopses (`[--option]`, `PLAYBOOK STAGE`, `FILE...`); a `mkdir` line
/// earlier in the same block comes first, as a reader runs it.
fn examples(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut setup = String::new();
    // Inside a fence at all, and inside a shell (or plain) one.
    let (mut fenced, mut in_block) = (false, false);
    let mut pending = String::new();
    for line in text.lines() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            fenced = !fenced;
            in_block = fenced && matches!(lang, "" | "sh");
            setup.clear();
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        let full = format!("{pending}{line}");
        pending.clear();
        let command = full.split(" #").next().unwrap().trim().to_string();
        if command.starts_with("mkdir ") {
            setup = format!("{command} && ");
            continue;
        }
        let runs_the_tool = command.starts_with("gitops-migrate ")
            || command.contains(" gitops-migrate ") && command.contains('=');
        let synopsis = command.contains('[') && !command.contains('\'')
            || ["PLAYBOOK", "FILE...", "ENV..."]
                .iter()
                .any(|p| command.contains(p));
        if runs_the_tool && !synopsis && !command.starts_with("pre-commit") {
            out.push(format!("{setup}{command}"));
        }
    }
    out
}

/// What each example does in the sandbox: its exit code, and why when it is not 0. An example
/// missing from this list fails the test, so that a new example is looked at.
#[rustfmt::skip]
const EXPECTED: &[(&str, i32, &str)] = &[
    ("gitops-migrate completions bash >", 0, ""),
    ("gitops-migrate completions zsh >", 0, ""),
    ("gitops-migrate completions fish >", 0, ""),
    ("gitops-migrate man --dir", 0, ""),
    ("gitops-migrate edit rm applications/mobu/values-idfdev.yaml", 0, ""),
    ("gitops-migrate edit get applications/nublado/values.yaml", 0, ""),
    ("gitops-migrate validate --format sarif", 0, "warnings only"),
    ("gitops-migrate plan     nublado make-default", 0, ""),
    ("gitops-migrate apply    nublado make-default", 0, ""),
    ("gitops-migrate announce nublado make-default", 0, ""),
    ("gitops-migrate plan     nublado enable-v3 --all-ready", 0, ""),
    ("gitops-migrate plan     nublado finish --strict", 1, "environments are still migrating"),
    ("gitops-migrate plan nublado enable-v3 --env usdfprod", 2, "usdfprod has no PersistentVolumeClaim volume `home` in the fixture"),
    ("gitops-migrate plan hub-move setup", 0, ""),
    ("gitops-migrate plan hub-move cutover", 1, "cutover before setup"),
    ("gitops-migrate plan hub-move decommission", 1, "decommission before cutover"),
    ("gitops-migrate pr nublado make-default", 2, "the sandbox has no remote `origin`"),
    ("gitops-migrate exec nublado make-default --env idfdev --dry-run", 0, "the preview lists the steps that cannot run without a kube context or tokens"),
    ("gitops-migrate exec nublado make-default --env idfdev --resume", 1, "no kube context or tokens configured: nothing is run"),
    ("gitops-migrate exec nublado make-default --env idfdev", 1, "no kube context or tokens configured: nothing is run"),
    ("gitops-migrate sync-homes nfs-old:/export/home-01/homes/myhub /export/home-01/homes/myhub --dry-run", 2, "the host cannot be listed (ssh stand-in)"),
    ("gitops-migrate sync-homes nfs-old:/export/home-01/homes/myhub /export/home-01/homes/myhub", 2, "the host cannot be listed (ssh stand-in)"),
    ("gitops-migrate sync-homes SRC DST --active-within 7d", 2, "no hub database"),
    ("JUPYTERHUB_TOKEN=… gitops-migrate sync-homes SRC DST --active-within 24h", 2, "the hub API does not answer"),
    ("gitops-migrate sync-homes SRC DST --again --delete", 0, ""),
    ("gitops-migrate config set", 0, ""),
    ("gitops-migrate config get", 0, ""),
    ("gitops-migrate config keys", 0, ""),
];

/// A sandbox for one example: a copy of the fixture the example's playbook needs, committed
/// in Git, with `SRC` and `DST` folders of home directories, `gitops-migrate` and a failing
/// `ssh` stand-in first on PATH, and HOME inside it.
struct Sandbox {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    home: PathBuf,
    path: String,
}

fn sandbox(command: &str) -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let fixture = if command.contains("hub-move") {
        "infrastructure"
    } else {
        "phalanx"
    };
    let repo = dir.path().join("repo");
    copy_dir(&manifest_dir().join("fixtures").join(fixture), &repo);
    for dst in ["SRC/alice", "SRC/_shared", "DST"] {
        fs::create_dir_all(repo.join(dst)).unwrap();
    }
    fs::write(repo.join("SRC/alice/notebook.ipynb"), "{}").unwrap();
    commit_all(&repo);
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_gitops-migrate"),
        bin.join("gitops-migrate"),
    )
    .unwrap();
    // No example reaches another machine: ssh fails as for an unknown host.
    fs::write(
        bin.join("ssh"),
        "#!/bin/sh\necho \"ssh: Could not resolve hostname: Name or service not known\" >&2\nexit 255\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(bin.join("ssh"), fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Sandbox {
        _dir: dir,
        repo,
        home,
        path,
    }
}

/// Words in clap's usage errors: an example that produces one is wrong, whatever its code.
const USAGE_ERRORS: &[&str] = &[
    "unexpected argument",
    "unrecognized subcommand",
    "invalid value",
    "the following required arguments were not provided",
    "cannot be used with",
];

#[test]
fn every_example_of_the_readme_runs_as_documented() {
    let examples = examples(&readme());
    assert!(examples.len() > 20, "{examples:?}");
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for command in &examples {
        let shown = command.rsplit(" && ").next().unwrap();
        let Some((prefix, code, why)) = EXPECTED.iter().find(|(p, _, _)| shown.starts_with(p))
        else {
            problems.push(format!(
                "`{command}`: not in EXPECTED; run it and add its outcome"
            ));
            continue;
        };
        seen.push(*prefix);
        let sb = sandbox(command);
        // The one example that names a server: a local port that refuses, so that no example
        // leaves this machine.
        let command = command.replace("https://hub.example.org", "http://127.0.0.1:9");
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(&sb.repo)
            .env("HOME", &sb.home)
            .env("PATH", &sb.path)
            .env("XDG_STATE_HOME", sb.home.join("state"))
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .env_remove("KUBECONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Some(u) = USAGE_ERRORS.iter().find(|u| stderr.contains(*u)) {
            problems.push(format!("`{command}`: a usage error ({u}):\n{stderr}"));
        } else if out.status.code() != Some(*code) {
            problems.push(format!(
                "`{command}`: exit {:?}, expected {code}{}:\n{stderr}",
                out.status.code(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({why})")
                }
            ));
        }
    }
    for (prefix, _, _) in EXPECTED {
        if !seen.contains(prefix) {
            problems.push(format!(
                "EXPECTED names `{prefix}`, which is no longer an example"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// --- the exit-code tables ----------------------------------------------------------------------

/// The codes of an exit-code table (`| \`0\` | …`).
fn codes(lines: &[String]) -> Vec<i32> {
    first_cells(lines)
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect()
}

#[test]
fn the_exit_code_tables_match_the_commands() {
    let text = readme();
    assert_eq!(codes(&section(&text, "## Exit codes")), [0, 1, 2]);
    assert_eq!(
        codes(&section(&text, "### Exit codes of validate")),
        [0, 1, 2]
    );
    // The general table, one command per row: success, a refusal, an input error.
    let sb = sandbox("");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
            .args(args)
            .current_dir(&sb.repo)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
            .status
            .code()
    };
    let values = "applications/nublado/values-idfdev.yaml";
    assert_eq!(
        run(&["edit", "get", values, "jupyterhub.hub.baseUrl"]),
        Some(0)
    );
    assert_eq!(
        run(&["edit", "get", values, "no.such.key"]),
        Some(1),
        "a PATH that does not exist"
    );
    assert_eq!(
        run(&["edit", "get", "missing.yaml", "a"]),
        Some(2),
        "a missing file"
    );
    assert_eq!(
        run(&["edit", "get", values, "a[", "--no-such-option"]),
        Some(2),
        "usage"
    );
    // validate's table: warnings only (the fixture), an error, a repository that cannot be read.
    assert_eq!(run(&["validate"]), Some(0));
    fs::write(sb.repo.join(values), "a: 1\na: 2\n").unwrap();
    assert_eq!(run(&["validate"]), Some(1));
    assert_eq!(run(&["-C", "SRC", "validate"]), Some(2));
    assert_eq!(run(&["validate", "no-such-file.yaml"]), Some(2));
}
