//! Every option of every command is either consumed or refused: the options each subcommand of
//! the clap tree defines must be exactly those of its row in `CONSUMED` (the options its code
//! path reads), so that a new option shows up here, and options that used to be accepted and
//! ignored (`announce --strict`, `plan --allow-dirty`, `plan hub-move --env`, …) are refused
//! by clap with a clear error and exit 2.
//!
//! The stage commands' run functions destructure their argument structs field by field, so an
//! option the code does not read is an unused binding, which `clippy -D warnings` refuses.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use gitops_migrate::playbook::PlaybookKind;

/// The global options, on every command.
const GLOBAL: &[&str] = &["repo", "color", "verbose", "quiet", "help", "version"];

const NUBLADO_TARGET: &[&str] = &[
    "stage",
    "env",
    "all-ready",
    "force",
    "pvc-storage-class",
    "pvc-access-modes",
    "pvc-size",
    "hub-db-url",
];
const HUB_MOVE_TARGET: &[&str] = &["stage", "hub", "from", "to", "new-name", "temp-domain"];
const PR: &[&str] = &[
    "base",
    "branch",
    "remote",
    "no-push",
    "no-pr",
    "draft",
    "label",
    "github-repo",
    "github-api",
];
const RUN: &[&str] = &[
    "dry-run",
    "yes",
    "yes-manual",
    "allow-unmerged",
    "base",
    "remote",
    "resume",
    "from-step",
    "only",
    "skip",
    "state-dir",
    "config",
];

/// The options each (command, playbook) consumes, beyond the global ones.
fn consumed() -> Vec<(&'static str, Vec<&'static str>)> {
    let with = |parts: &[&[&'static str]]| parts.concat();
    vec![
        (
            "plan nublado",
            with(&[NUBLADO_TARGET, &["strict", "format"]]),
        ),
        (
            "plan hub-move",
            with(&[HUB_MOVE_TARGET, &["reencrypt", "transfer-key", "format"]]),
        ),
        (
            "apply nublado",
            with(&[NUBLADO_TARGET, &["strict", "allow-dirty"]]),
        ),
        (
            "apply hub-move",
            with(&[
                HUB_MOVE_TARGET,
                &["reencrypt", "transfer-key", "allow-dirty"],
            ]),
        ),
        ("pr nublado", with(&[NUBLADO_TARGET, PR])),
        (
            "pr hub-move",
            with(&[HUB_MOVE_TARGET, &["reencrypt", "transfer-key", "force"], PR]),
        ),
        ("announce nublado", NUBLADO_TARGET.to_vec()),
        ("announce hub-move", HUB_MOVE_TARGET.to_vec()),
        // `from`: the deprecated (hidden) name of --from-step, with a warning.
        (
            "exec nublado",
            with(&[&["stage", "env", "from", "context"], RUN]),
        ),
        (
            "exec hub-move",
            with(&[
                HUB_MOVE_TARGET,
                &["delete", "parallel", "transfer-key", "transfer-allow"],
                RUN,
            ]),
        ),
    ]
}

/// The option names (long name, else the id for positionals) of a command, globals left out.
fn options(cmd: &clap::Command) -> BTreeSet<String> {
    cmd.get_arguments()
        .map(|a| {
            a.get_long()
                .map(str::to_string)
                .unwrap_or_else(|| a.get_id().to_string())
        })
        .filter(|name| !GLOBAL.contains(&name.as_str()))
        .collect()
}

/// A command's subcommands, clap's `help` left out.
fn playbooks(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| s.get_name() != "help")
}

#[test]
fn every_playbook_subcommand_defines_exactly_the_options_it_consumes() {
    let mut root = gitops_migrate::cli::Cli::command();
    root.build();
    let table = consumed();
    let mut seen = BTreeSet::new();
    for command in ["plan", "apply", "pr", "announce", "exec"] {
        let cmd = root.find_subcommand(command).expect(command);
        let names: Vec<&str> = playbooks(cmd).map(|s| s.get_name()).collect();
        let known: Vec<&str> = PlaybookKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names, known, "`{command}` has one subcommand per playbook");
        for sub in playbooks(cmd) {
            let path = format!("{command} {}", sub.get_name());
            let (_, expected) = table
                .iter()
                .find(|(p, _)| *p == path)
                .unwrap_or_else(|| panic!("`{path}` has no row in CONSUMED"));
            let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
            let defined = options(sub);
            let unlisted: Vec<&String> = defined.difference(&expected).collect();
            let missing: Vec<&String> = expected.difference(&defined).collect();
            assert!(
                unlisted.is_empty(),
                "`{path}` defines {unlisted:?}, which its row does not list as consumed"
            );
            assert!(
                missing.is_empty(),
                "`{path}`'s row lists {missing:?}, which it does not define"
            );
            seen.insert(path);
        }
    }
    assert_eq!(
        seen.len(),
        table.len(),
        "a row of CONSUMED names no command"
    );
}

/// `--from-step` names the starting step everywhere; `--from` is the hub move's source cluster
/// (nublado's is a hidden, deprecated alias of `--from-step`).
#[test]
fn from_step_is_the_step_and_from_is_the_source_cluster() {
    let mut root = gitops_migrate::cli::Cli::command();
    root.build();
    let exec = root.find_subcommand("exec").unwrap();
    for sub in playbooks(exec) {
        let from_step = sub
            .get_arguments()
            .find(|a| a.get_long() == Some("from-step"))
            .expect("--from-step");
        assert_eq!(
            from_step.get_value_names().unwrap()[0].as_str(),
            "STEP",
            "{}",
            sub.get_name()
        );
        let from = sub
            .get_arguments()
            .find(|a| a.get_long() == Some("from"))
            .expect("--from");
        match sub.get_name() {
            "hub-move" => {
                assert_eq!(from.get_value_names().unwrap()[0].as_str(), "CLUSTER");
                assert!(!from.is_hide_set());
            }
            _ => assert!(from.is_hide_set(), "nublado's --from is hidden"),
        }
    }
}

/// A copy of the Phalanx fixture.
fn phalanx() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phalanx"),
        dir.path(),
    );
    dir
}

fn gm(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run gitops-migrate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Options that each command used to accept and ignore are refused before anything is read:
/// exit 2 and clap's "unexpected argument" naming the option.
#[test]
fn options_that_used_to_be_ignored_are_refused() {
    let dir = phalanx();
    let hub = ["--hub", "prod", "--from", "temple", "--to", "newcluster"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["announce", "nublado", "finish", "--strict"],
            "--strict",
        ),
        (
            vec![
                "announce",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--format",
                "json",
            ],
            "--format",
        ),
        (
            vec![
                "plan",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--allow-dirty",
            ],
            "--allow-dirty",
        ),
        (
            [
                &["plan", "hub-move", "setup"][..],
                &hub,
                &["--env", "idfdev"],
            ]
            .concat(),
            "--env",
        ),
        (
            [&["plan", "hub-move", "setup"][..], &hub, &["--strict"]].concat(),
            "--strict",
        ),
        (
            [
                &["plan", "hub-move", "setup"][..],
                &hub,
                &["--pvc-size", "home=1Gi"],
            ]
            .concat(),
            "--pvc-size",
        ),
        (
            [&["plan", "hub-move", "setup"][..], &hub, &["--force"]].concat(),
            "--force",
        ),
        (
            vec![
                "apply",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--format",
                "json",
            ],
            "--format",
        ),
        (vec!["pr", "nublado", "finish", "--strict"], "--strict"),
        (
            vec![
                "pr",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--allow-dirty",
            ],
            "--allow-dirty",
        ),
        (
            vec![
                "pr",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--reencrypt",
            ],
            "--reencrypt",
        ),
        (
            [
                &["announce", "hub-move", "setup"][..],
                &hub,
                &["--reencrypt"],
            ]
            .concat(),
            "--reencrypt",
        ),
        (
            vec![
                "exec",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--hub",
                "prod",
            ],
            "--hub",
        ),
        (
            vec![
                "exec",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--delete",
            ],
            "--delete",
        ),
        (
            [
                &["exec", "hub-move", "cutover"][..],
                &hub,
                &["--context", "x"],
            ]
            .concat(),
            "--context",
        ),
    ];
    for (args, option) in cases {
        let (code, stderr) = gm(dir.path(), &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("unexpected argument '{option}' found")),
            "{args:?}: {stderr}"
        );
    }
}

/// Each playbook's `--help` shows its own options, with examples, and not the other's.
#[test]
fn each_help_shows_its_playbooks_options_and_examples() {
    let dir = phalanx();
    for command in ["plan", "apply", "pr", "announce", "exec"] {
        for (playbook, own, other) in [
            ("nublado", "--env <ENV>", "--hub <NAME>"),
            ("hub-move", "--hub <NAME>", "--env <ENV>"),
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
                .args([command, playbook, "--help"])
                .current_dir(dir.path())
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            assert!(out.status.success());
            let help = String::from_utf8(out.stdout).unwrap();
            assert!(help.contains(own), "{command} {playbook}: {help}");
            assert!(!help.contains(other), "{command} {playbook}: {help}");
            assert!(
                help.contains(&format!(
                    "Examples:\n  gitops-migrate {command} {playbook} "
                )),
                "{command} {playbook}: {help}"
            );
        }
    }
}

/// nublado's `exec --from STEP` still works, as a deprecated name of `--from-step`.
#[test]
fn nublado_exec_from_is_a_deprecated_from_step() {
    let dir = phalanx();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let args = |from: &str| {
        vec![
            "exec".to_string(),
            "nublado".into(),
            "make-default".into(),
            "--env".into(),
            "idfdev".into(),
            from.into(),
            "no-such-step".into(),
            "--dry-run".into(),
            "--state-dir".into(),
            state_dir.into(),
        ]
    };
    for from in ["--from", "--from-step"] {
        let a = args(from);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, stderr) = gm(dir.path(), &a);
        // The step is looked up: an unknown one is a usage error naming it.
        assert_eq!(code, 2, "{from}: {stderr}");
        assert!(stderr.contains("no-such-step"), "{from}: {stderr}");
        assert_eq!(
            stderr.contains("--from STEP is deprecated"),
            from == "--from",
            "{from}: {stderr}"
        );
    }
    let (code, stderr) = gm(
        dir.path(),
        &[
            "exec",
            "nublado",
            "make-default",
            "--env",
            "idfdev",
            "--from",
            "a",
            "--from-step",
            "b",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

/// The help of one command of each playbook as users read it: only its options, then its
/// examples.
#[test]
fn help_of_plan_nublado_and_exec_hub_move() {
    let dir = tempfile::tempdir().unwrap();
    for (words, name) in [
        (["plan", "nublado"], "help_plan_nublado"),
        (["exec", "hub-move"], "help_exec_hub_move"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
            .args(words)
            .arg("--help")
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
        crate::common::snapshot(
            &format!("cli_options__{name}"),
            String::from_utf8(out.stdout).unwrap(),
        );
    }
}

/// Options that only one stage reads are refused with the others (exit 2, nothing read from a
/// cluster or written), rather than accepted and ignored.
#[test]
fn options_of_another_stage_are_refused() {
    let phalanx = phalanx();
    let infra = tempfile::tempdir().unwrap();
    crate::common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/infrastructure"),
        infra.path(),
    );
    let hub = ["--hub", "prod", "--from", "temple", "--to", "newcluster"];
    // A well-formed public key, outside the repository.
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("transfer");
    std::fs::write(
        keys.path().join("transfer.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample transfer\n",
    )
    .unwrap();
    let key = key.to_str().unwrap();
    let cases: Vec<(&Path, Vec<&str>, &str)> = vec![
        (
            infra.path(),
            [
                &["plan", "hub-move", "cutover"][..],
                &hub,
                &["--transfer-key", key],
            ]
            .concat(),
            "--transfer-key puts the transfer's public key into the hubs' values at `setup`",
        ),
        (
            infra.path(),
            [
                &["exec", "hub-move", "decommission"][..],
                &hub,
                &["--transfer-key", key, "--dry-run"],
            ]
            .concat(),
            "--transfer-key is an option of `setup` and `cutover`",
        ),
        (
            infra.path(),
            [
                &["exec", "hub-move", "decommission"][..],
                &hub,
                &["--transfer-allow", "203.0.113.0/24", "--dry-run"],
            ]
            .concat(),
            "--transfer-allow is an option of `setup` and `cutover`",
        ),
        // The stage takes it, but this hub's window has no step that reads it.
        (
            infra.path(),
            [
                &["exec", "hub-move", "setup"][..],
                &hub,
                &["--transfer-key", key, "--dry-run"],
            ]
            .concat(),
            "--transfer-key is read by steps `transfer-homes` and `transfer-homes:final` (the private key of the copies of the home directories), which the `setup` window of this hub does not have: its home directories are copied by `sync-homes`",
        ),
        (
            infra.path(),
            [
                &["exec", "hub-move", "decommission"][..],
                &hub,
                &["--parallel", "2", "--dry-run"],
            ]
            .concat(),
            "--parallel is an option of `setup` and `cutover` (rsync processes at once for the copies of the home directories, steps `sync-homes` and `sync-homes:final`), not `decommission`",
        ),
        (
            infra.path(),
            [
                &["exec", "hub-move", "decommission"][..],
                &hub,
                &["--delete", "--dry-run"],
            ]
            .concat(),
            "--delete is an option of `cutover` (the final copy of the home directories deletes files gone from the source, steps `sync-homes:final` and `transfer-homes:final`), not `decommission`",
        ),
        (
            phalanx.path(),
            vec![
                "plan",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--strict",
            ],
            "--strict is an option of `finish`",
        ),
        (
            phalanx.path(),
            vec![
                "apply",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--strict",
            ],
            "--strict is an option of `finish`",
        ),
        (
            phalanx.path(),
            vec!["plan", "nublado", "finish", "--all-ready"],
            "`finish` takes no environment",
        ),
        (
            phalanx.path(),
            vec![
                "plan",
                "nublado",
                "make-default",
                "--env",
                "idfdev",
                "--pvc-size",
                "home=1Gi",
            ],
            "answer `enable-v3`, not `make-default`",
        ),
        (
            infra.path(),
            [&["plan", "hub-move", "cutover"][..], &hub, &["--reencrypt"]].concat(),
            "--reencrypt re-encrypts the files `setup` copies",
        ),
        (
            infra.path(),
            [
                &["exec", "hub-move", "setup"][..],
                &hub,
                &["--delete", "--dry-run"],
            ]
            .concat(),
            "--delete is an option of `cutover`",
        ),
    ];
    for (dir, args, expected) in cases {
        let before = crate::common::tree(dir);
        let (code, stderr) = gm(dir, &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(crate::common::tree(dir), before, "{args:?} wrote");
    }
}

/// `--transfer-allow` takes CIDR ranges only: anything else is refused before anything is
/// read or written (exit 2), saying what to write.
#[test]
fn a_transfer_range_that_is_not_a_cidr_is_refused() {
    let infra = tempfile::tempdir().unwrap();
    crate::common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/infrastructure"),
        infra.path(),
    );
    let hub = ["--hub", "prod", "--from", "temple", "--to", "newcluster"];
    for (bad, expected) in [
        (
            "203.0.113.7",
            "`203.0.113.7` is not a CIDR range: write an address and a prefix length",
        ),
        (
            "203.0.113.0/40",
            "the prefix length of an IPv4 address is 0 to 32",
        ),
        ("anywhere/0", "`anywhere` is not an IP address"),
    ] {
        let before = crate::common::tree(infra.path());
        let args = [
            &["exec", "hub-move", "setup"][..],
            &hub,
            &[
                "--transfer-allow",
                "203.0.113.0/24",
                "--transfer-allow",
                bad,
                "--dry-run",
            ],
        ]
        .concat();
        let (code, stderr) = gm(infra.path(), &args);
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(
            stderr.contains("--transfer-allow <CIDR>") && stderr.contains(expected),
            "{bad}: {stderr}"
        );
        assert_eq!(crate::common::tree(infra.path()), before);
    }
}
