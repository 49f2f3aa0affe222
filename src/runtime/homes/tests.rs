//! Locations, listings, the activity filter, and reading rsync's output.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use super::copy::{batch_command, bytes_by_entry, cause_summary, entry_of_message, error_lines};
use super::*;

#[test]
fn remote_paths_are_quoted_for_the_remote_shell() {
    assert_eq!(shell_quote("/export/new dir"), "'/export/new dir'");
    assert_eq!(shell_quote("/x/$(reboot);*"), "'/x/$(reboot);*'");
    assert_eq!(shell_quote("/it's"), "'/it'\\''s'");
}

#[test]
fn escapes_like_kubespawner() {
    assert_eq!(escape_username("user@2i2c.org"), "user-402i2c-2eorg");
    assert_eq!(escape_username("alice"), "alice");
    assert_eq!(escape_username("first.last"), "first-2elast");
    assert_eq!(escape_username("a-b_c"), "a-2db-5fc");
    assert_eq!(escape_username("é"), "-c3-a9");
    assert_eq!(escape_username("Bob"), "-42ob");
    assert_eq!(directory_candidates("Bob"), vec!["-42ob", "bob"]);
    assert_eq!(directory_candidates("bob"), vec!["bob"]);
}

#[test]
fn durations() {
    assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
    assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("90m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("h"), None);
    assert_eq!(parse_duration("3y"), None);
}

#[test]
fn activity_times() {
    let now = UNIX_EPOCH + Duration::from_secs(1_795_241_866); // 2026-11-21T06:17:46Z
    let day = Duration::from_secs(86_400);
    assert!(active("2026-11-21T05:00:00.123456Z", now, day));
    assert!(active("2026-11-20 07:00:00.123456", now, day));
    assert!(!active("2026-11-19 07:00:00", now, day));
    assert!(!active("yesterday", now, day));
}

#[test]
fn locations() {
    assert_eq!(
        Location::parse("nfs:/export/hub/").unwrap(),
        Location::Remote {
            host: "nfs".into(),
            path: "/export/hub".into()
        }
    );
    assert!(matches!(
        Location::parse("./a:b").unwrap(),
        Location::Local(_)
    ));
    let r = Location::parse("u@h:/x").unwrap();
    assert_eq!(r.join("alice", true), "u@h:/x/alice/");
    assert_eq!(r.dir(), "u@h:/x/");
}

#[test]
fn list_only_output() {
    let text = "drwxr-xr-x          4,096 2026/11/21 07:03:27 .\n\
                    drwxr-xr-x          4,096 2026/11/21 07:03:27 a b\n\
                    lrwxrwxrwx              3 2026/11/21 07:03:27 l -> x y\n\
                    -rw-r--r--              3 2026/11/21 07:03:27 f\n";
    assert_eq!(
        parse_list_only(text),
        vec![
            Entry {
                name: "a b".into(),
                is_dir: true
            },
            Entry {
                name: "l".into(),
                is_dir: false
            },
            Entry {
                name: "f".into(),
                is_dir: false
            },
        ]
    );
}

#[test]
fn itemized_output_and_messages_name_their_entries() {
    let out = "cd+++++++++ 4096 a/\n>f+++++++++ 2000 a/x y\n\r   2000 100%  (xfr#1)\r\
                   .d..t...... 4096 b/\n>f.st...... 30 b/c/d\n*deleting   0 b/old\n";
    let m = bytes_by_entry(out);
    assert_eq!(m.get("a"), Some(&2000));
    assert_eq!(m.get("b"), Some(&30));
    assert_eq!(human_bytes(1_234_567), "1.2 MB");
    let opts = Options {
        src: Location::Local("/srv/src".into()),
        dst: Location::Remote {
            host: "h".into(),
            path: "/x".into(),
        },
        parallel: 2,
        delete: false,
        retry: copy_retries(),
        io_timeout: IO_TIMEOUT,
        vanished: Vanished::Warn,
    };
    let names: BTreeSet<String> = ["ghost", "a"].iter().map(|s| s.to_string()).collect();
    let said = r#"rsync: [sender] link_stat "/srv/src/ghost" failed: No such file (2)"#;
    assert_eq!(entry_of_message(said, &opts, &names), Some("ghost"));
    let said = r#"file has vanished: "/srv/src/./a/tmp/x""#;
    assert_eq!(entry_of_message(said, &opts, &names), Some("a"));
    let said = r#"rsync: [receiver] mkstemp "/x/a/.f.XYZ" failed: No space left (28)"#;
    assert_eq!(entry_of_message(said, &opts, &names), Some("a"));
    assert_eq!(
        entry_of_message(
            "IO error encountered -- skipping file deletion",
            &opts,
            &names
        ),
        None
    );
    let todo: Vec<Entry> = (0..10)
        .map(|i| Entry {
            name: format!("u{i}"),
            is_dir: true,
        })
        .collect();
    // From a local SRC the entries are arguments; nothing goes on standard input.
    let (args, input) = batch_command(&opts, &todo[..2], false);
    assert!(args.contains(&"--timeout=300".to_string()), "{args:?}");
    let e = args.iter().position(|a| a == "-e").unwrap();
    assert!(args[e + 1].contains("ServerAliveInterval=15"), "{args:?}");
    assert_eq!(
        args[args.len() - 3..],
        ["/srv/src/u0", "/srv/src/u1", "h:/x/"]
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--files-from")),
        "{args:?}"
    );
    assert_eq!(input, None);
    // From a remote SRC, on standard input (NUL-separated): a name crossing the remote
    // shell as an argument would be globbed.
    let from_remote = Options {
        src: Location::Remote {
            host: "h".into(),
            path: "/x".into(),
        },
        dst: Location::Local("/d".into()),
        ..opts.clone()
    };
    let (args, input) = batch_command(&from_remote, &todo[..2], false);
    assert_eq!(
        args[args.len() - 5..],
        ["-r", "--from0", "--files-from=-", "h:/x/", "/d/"]
    );
    assert_eq!(input.as_deref(), Some(&b"u0\0u1\0"[..]));
    assert!(
        rsync_preview(&opts).ends_with("/srv/src/NAME h:/x/ (one such argument per entry)"),
        "{}",
        rsync_preview(&opts)
    );
    assert!(
        rsync_preview(&from_remote)
            .ends_with("--files-from=- h:/x/ /d/ (the entries' names on its standard input)"),
        "{}",
        rsync_preview(&from_remote)
    );
    assert_eq!(batches(&opts, &todo).len(), 2, "one per worker over ssh");
    let local = Options {
        dst: Location::Local("/d".into()),
        ..opts.clone()
    };
    assert_eq!(batches(&local, &todo).len(), 4, "two per worker locally");
    let many: Vec<Entry> = (0..3000)
        .map(|i| Entry {
            name: format!("u{i}"),
            is_dir: true,
        })
        .collect();
    assert_eq!(
        batches(&local, &many).len(),
        12,
        "at most 256 entries a batch"
    );
    // Long names split a batch before its arguments pass 128 KiB.
    let long: Vec<Entry> = (0..100)
        .map(|i| Entry {
            name: format!("{i:03}{}", "x".repeat(4000)),
            is_dir: true,
        })
        .collect();
    let split = batches(&opts, &long);
    assert_eq!(split.len(), 4, "two per worker by count, split by size");
    assert!(split.iter().all(|b| b.len() <= 32), "{}", split[0].len());
    assert_eq!(split.concat(), long, "every entry once, in order");
    let by_name = batches(&from_remote, &long);
    assert_eq!(
        by_name.len(),
        2,
        "names on standard input have no size limit"
    );
}

#[test]
fn active_selection() {
    let e = |n: &str| Entry {
        name: n.into(),
        is_dir: true,
    };
    let entries = vec![
        e("_shared"),
        e("_shared-public"),
        e("alice"),
        e("user-402i2c-2eorg"),
        e("zed"),
    ];
    let (sel, missing) = select_active(&entries, &["user@2i2c.org".into(), "ghost".into()]);
    let names: Vec<_> = sel.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["_shared", "_shared-public", "user-402i2c-2eorg"]
    );
    assert_eq!(missing, vec!["ghost"]);
}

#[test]
fn a_failure_is_summed_up_by_its_causes_then_rsyncs_summary() {
    let stderr = "mkdir: cannot create directory '/srv/x': Not a directory\n\
                  rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n\
                  rsync error: error in rsync protocol data stream (code 12) at io.c(232)";
    assert_eq!(
        cause_summary(&error_lines(stderr)),
        "mkdir: cannot create directory '/srv/x': Not a directory / \
         rsync error: error in rsync protocol data stream (code 12) at io.c(232)"
    );
    // ssh's own notices come first (a banner, a warning); the cause is the last line before
    // the summary.
    let stderr = "** WARNING: connection is not using a post-quantum key exchange algorithm.\n\
                  ** This session may be vulnerable to \"store now, decrypt later\" attacks.\n\
                  mkdir: cannot create directory '/srv/x': Not a directory\n\
                  rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n\
                  rsync error: error in rsync protocol data stream (code 12) at io.c(232)";
    let said = cause_summary(&error_lines(stderr));
    assert!(
        said.contains("mkdir: cannot create directory '/srv/x': Not a directory / rsync error:"),
        "{said}"
    );
    let stderr = "rsync: [sender] link_stat \"/s/a\" failed: No such file (2)\n\
                  rsync: [sender] link_stat \"/s/b\" failed: No such file (2)\n\
                  rsync: [sender] link_stat \"/s/c\" failed: No such file (2)\n\
                  rsync error: some files/attrs were not transferred (code 23)";
    assert_eq!(
        cause_summary(&error_lines(stderr)),
        "rsync: [sender] link_stat \"/s/a\" failed: No such file (2) / \
         rsync: [sender] link_stat \"/s/b\" failed: No such file (2) / \
         rsync error: some files/attrs were not transferred (code 23)"
    );
}

#[test]
fn a_remote_path_is_one_word_for_the_remote_shell_with_its_home_expanded() {
    assert_eq!(remote_path_word("/srv/new dir;x"), "'/srv/new dir;x'");
    assert_eq!(remote_path_word("~/homes/it's"), "~/'homes/it'\\''s'");
    assert_eq!(remote_path_word("~"), "~");
    assert_eq!(remote_path_word("~other/x"), "~other/'x'");
    assert_eq!(remote_path_word("~a b/x"), "'~a b/x'");
    assert_eq!(remote_path_word("relative/x"), "'relative/x'");
}
