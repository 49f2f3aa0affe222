//! `sync-homes` end to end with the real `rsync` over a generated tree of home directories
//! (hundreds of users, nested files, symlinks, a hard link, `_shared`, `_shared-public`,
//! escaped and odd names).
//!
//! Failures are injected with a wrapper `rsync` first on PATH (it logs its argv and fails for
//! the directory named in `FAIL_DIR`, then hands over to the real rsync): the tests run as
//! root, so `chmod 000` would not make a directory unreadable. A dangling symlink at the top
//! level (`lost-link`) is not a failure: it is copied as the symlink it is, like the top-level
//! file `README.txt`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::common;
use common::homes::{ODD, differences, generate, real_rsync};

const BIN: &str = env!("CARGO_BIN_EXE_gitops-migrate");

struct Fixture {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
    state: PathBuf,
    bin: PathBuf,
    log: PathBuf,
}

impl Fixture {
    fn new(n: usize) -> (Fixture, Vec<String>) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let names = generate(&src, n);
        let bin = tmp.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let log = tmp.path().join("rsync.log");
        // rsync gets the entries of its batch as arguments (`SRC/NAME`; from a remote SRC,
        // on stdin: `--files-from=- --from0`): the wrapper logs them (`ARGS | |a|b|`),
        // leaves FAIL_DIR out of the real copy and says so the way rsync does, naming the
        // entry's path.
        let wrapper = r#"#!/bin/sh
list=$(mktemp)
n=$#
case " $* " in
*" --files-from=- "*)
  cat > "$list"
  for a in "$@"; do src="$dst"; dst="$a"; done ;;
*)
  : > "$list"
  i=0; prev=
  for a in "$@"; do
    i=$((i + 1))
    case $a in
    -*) ;;
    *) if [ "$i" -lt "$n" ] && [ "$prev" != "-e" ]; then
         printf '%s\0' "${a##*/}" >> "$list"
         src="${a%/*}/"
       fi ;;
    esac
    prev=$a
  done ;;
esac
printf '%s | |%s\n' "$*" "$(tr '\000' '|' < "$list")" >> '{log}'
if [ -n "$RSYNC_SLEEP" ]; then sleep "$RSYNC_SLEEP"; fi
if [ -n "$RSYNC_STALL" ]; then exec sleep 1000; fi
if [ -n "$VANISH_DIR" ] && tr '\000' '\n' < "$list" | grep -qxF -- "$VANISH_DIR"; then
  '{real}' "$@" < "$list"
  echo "file has vanished: \"$src$VANISH_DIR/.notebook.swp\"" >&2
  echo 'rsync warning: some files vanished before they could be transferred (code 24)' >&2
  rm -f "$list"
  exit 24
fi
if [ -n "$FAIL_DIR" ] && tr '\000' '\n' < "$list" | grep -qxF -- "$FAIL_DIR"; then
  tr '\000' '\n' < "$list" | grep -vxF -- "$FAIL_DIR" | tr '\n' '\000' > "$list.rest"
  for a in "$@"; do
    shift
    [ "$a" = "$src$FAIL_DIR" ] && continue
    set -- "$@" "$a"
  done
  '{real}' "$@" < "$list.rest"
  echo "rsync: [sender] injected failure for \"$src$FAIL_DIR\"" >&2
  echo 'rsync error: some files/attrs were not transferred (see previous errors) (code 23)' >&2
  rm -f "$list" "$list.rest"
  exit 23
fi
'{real}' "$@" < "$list"
rc=$?
rm -f "$list"
exit $rc
"#
        .replace("{log}", &log.display().to_string())
        .replace("{real}", &real_rsync().display().to_string());
        fs::write(bin.join("rsync"), wrapper).unwrap();
        fs::set_permissions(bin.join("rsync"), fs::Permissions::from_mode(0o755)).unwrap();
        let f = Fixture {
            src,
            dst: tmp.path().join("dst"),
            state: tmp.path().join("state"),
            bin,
            log,
            _tmp: tmp,
        };
        (f, names)
    }

    fn cmd(&self, extra: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("sync-homes")
            .arg(&self.src)
            .arg(&self.dst)
            .arg("--state-dir")
            .arg(&self.state)
            .args(extra)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env_remove("FAIL_DIR")
            .env_remove("RSYNC_SLEEP")
            .env_remove("RSYNC_STALL")
            .env_remove("VANISH_DIR")
            .env_remove("JUPYTERHUB_TOKEN")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, extra: &[&str]) -> Output {
        self.cmd(extra).output().unwrap()
    }

    /// The rsync calls logged since the last call (and clears the log).
    fn take_log(&self) -> Vec<String> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let _ = fs::remove_file(&self.log);
        text.lines().map(str::to_string).collect()
    }

    /// How many rsync calls were logged so far (the log is kept).
    fn take_log_peek(&self) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// The directory names a list of logged rsync calls copied (their batches).
    fn copied_dirs(calls: &[String]) -> Vec<String> {
        let mut v: Vec<String> = calls
            .iter()
            .filter_map(|c| c.rsplit_once(" | ").map(|(_, names)| names))
            .flat_map(|names| names.split('|').filter(|n| !n.is_empty()))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    fn journal(&self) -> String {
        let dir = self.state.join("runs/sync-homes");
        let mut text = String::new();
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "jsonl") {
                text.push_str(&fs::read_to_string(path).unwrap());
            }
        }
        text
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn copies_every_directory_identically_and_a_rerun_skips_them() {
    let (f, names) = Fixture::new(300);
    let o = f.run(&["--parallel", "4"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "{} copied, 0 skipped as finished, 0 failed",
            names.len()
        )),
        "{}",
        stdout(&o)
    );
    assert_eq!(differences(&f.src, &f.dst), Vec::<String>::new());
    for odd in ODD {
        assert!(f.dst.join(odd).join("notebook.ipynb").is_file(), "{odd}");
    }
    assert!(f.dst.join("_shared").is_dir() && f.dst.join("_shared-public").is_dir());
    assert!(
        fs::symlink_metadata(f.dst.join("lost-link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let mode = fs::metadata(f.dst.join("user0001/.ssh-key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        fs::symlink_metadata(f.dst.join("user0001/dangling"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let calls = f.take_log();
    assert_eq!(Fixture::copied_dirs(&calls), names);
    assert!(
        calls
            .iter()
            .all(|c| c.starts_with("-aHAX --numeric-ids --partial"))
    );
    // A few batches per worker, not one rsync per directory.
    assert!(calls.len() <= 16, "{} rsync processes", calls.len());

    // A rerun skips every finished directory and runs no rsync.
    let o = f.run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "0 copied, {} skipped as finished, 0 failed",
            names.len()
        )),
        "{}",
        stdout(&o)
    );
    assert!(f.take_log().is_empty());

    // --again copies everything again.
    let o = f.run(&["--again"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(Fixture::copied_dirs(&f.take_log()), names);
}

#[test]
fn one_failing_directory_is_retried_reported_and_the_rest_completes_then_resumed() {
    let (f, names) = Fixture::new(200);
    let o = f
        .cmd(&[])
        .env("FAIL_DIR", "user-402i2c-2eorg")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "{} copied, 0 skipped as finished, 1 failed",
            names.len() - 1
        )),
        "{out}"
    );
    assert!(
        out.contains("failed (")
            && out.contains(
                "  user-402i2c-2eorg: rsync exited 23: rsync: [sender] injected failure for"
            ),
        "{out}"
    );
    assert!(
        stderr(&o).contains("attempt 2 failed, retrying"),
        "{}",
        stderr(&o)
    );
    let calls = f.take_log();
    let tries = calls
        .iter()
        .filter(|c| c.contains("|user-402i2c-2eorg|"))
        .count();
    assert_eq!(tries, 3, "one try and two retries");
    assert!(!f.dst.join("user-402i2c-2eorg").exists());
    assert!(f.dst.join("user0199/notebook.ipynb").is_file());

    // The rerun copies only the failed directory.
    let o = f.run(&[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "1 copied, {} skipped as finished, 0 failed",
            names.len() - 1
        )),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        Fixture::copied_dirs(&f.take_log()),
        vec!["user-402i2c-2eorg"]
    );
    assert_eq!(differences(&f.src, &f.dst), Vec::<String>::new());
}

#[test]
fn a_killed_run_resumes_without_recopying_finished_directories() {
    let (f, names) = Fixture::new(120);
    let mut child = f
        .cmd(&["--parallel", "2"])
        .env("RSYNC_SLEEP", "0.3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done_before = loop {
        let done: Vec<String> = fs::read_dir(f.state.join("runs/sync-homes"))
            .ok()
            .map(|_| f.journal())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"event\":\"checkpoint\""))
            .map(str::to_string)
            .collect();
        if done.len() >= 20 {
            break done;
        }
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // The rsync processes of the killed run finish on their own (orphans); let them.
    std::thread::sleep(Duration::from_millis(500));
    // Directories journaled as done at the kill (more may have finished meanwhile).
    let journal = f.journal();
    let finished: Vec<String> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "checkpoint")
        .map(|v| v["item"].as_str().unwrap().to_string())
        .collect();
    assert!(finished.len() >= done_before.len() && finished.len() < names.len());
    f.take_log();

    let o = f.run(&[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let recopied = Fixture::copied_dirs(&f.take_log());
    for d in &finished {
        assert!(!recopied.contains(d), "{d} copied again");
    }
    let mut all: Vec<String> = recopied.iter().chain(&finished).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all, names, "every directory copied once or finished before");
    assert!(
        stdout(&o).contains(&format!("{} skipped as finished", finished.len())),
        "{}",
        stdout(&o)
    );
    assert_eq!(differences(&f.src, &f.dst), Vec::<String>::new());
}

#[test]
fn a_stalled_rsync_ends_at_its_timeout_with_a_clear_failure() {
    let (f, names) = Fixture::new(3);
    let t0 = Instant::now();
    let o = f
        .cmd(&["--io-timeout", "1s", "--parallel", "16"])
        .env("RSYNC_STALL", "1")
        .output()
        .unwrap();
    // Three attempts of 2 s (twice the I/O timeout without a byte of output), 1 s and 2 s
    // apart: well under the minute.
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "0 copied, 0 skipped as finished, {} failed",
            names.len()
        )),
        "{out}"
    );
    assert!(
        out.contains("  user0001: rsync stalled (no progress for 2s) and was stopped"),
        "{out}"
    );
    let calls = f.take_log();
    assert!(
        calls.iter().all(|c| c.contains(" --timeout=1 ")),
        "{calls:?}"
    );
    assert_eq!(
        calls.len(),
        3 * names.len(),
        "one try and two retries of each batch"
    );
}

#[test]
fn sigint_stops_the_rsync_processes_journals_the_interruption_and_a_rerun_continues() {
    let (f, names) = Fixture::new(3);
    // rsync hangs (the stand-in sleeps): the run is interrupted while it waits on them.
    let child = f
        .cmd(&["--parallel", "2"])
        .env("RSYNC_STALL", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while f.take_log_peek() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no rsync started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let t1 = Instant::now();
    let o = child.wait_with_output().unwrap();
    // The signal reached the rsync processes: they ended, the run did not wait out the
    // 5-minute I/O timeout.
    assert!(t1.elapsed() < Duration::from_secs(10), "{:?}", t1.elapsed());
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("interrupted (SIGINT): the entries copied are journaled; run the same command again to copy the rest"),
        "{}",
        stderr(&o)
    );
    let journal = f.journal();
    assert!(journal.contains(r#""outcome":"interrupted""#), "{journal}");
    assert!(journal.contains(r#""result":"interrupted""#), "{journal}");
    let lock = fs::read_dir(f.state.join("runs/sync-homes"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "lock")
        })
        .count();
    assert_eq!(lock, 0, "the lock is released");
    assert!(stdout(&o).contains("report: "), "{}", stdout(&o));

    // The same command continues and copies everything.
    let o = f.run(&[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "{} copied, 0 skipped as finished, 0 failed",
            names.len()
        )),
        "{}",
        stdout(&o)
    );
    assert_eq!(differences(&f.src, &f.dst), Vec::<String>::new());
}

#[test]
fn files_vanishing_warn_on_an_initial_copy_and_fail_a_final_one() {
    let (f, names) = Fixture::new(10);
    let o = f.cmd(&[]).env("VANISH_DIR", "user0003").output().unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "{} copied, 0 skipped as finished, 0 failed",
            names.len()
        )),
        "{}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains("warning: user0003: 1 file vanished during the copy (users still at work; the next copy catches up): file has vanished:"),
        "{err}"
    );

    let o = f
        .cmd(&["--again", "--final"])
        .env("VANISH_DIR", "user0003")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "{} copied, 0 skipped as finished, 1 failed",
            names.len() - 1
        )),
        "{out}"
    );
    assert!(
        out.contains("  user0003: rsync exited 24: files vanished during the final copy (is something still writing?): file has vanished:"),
        "{out}"
    );
}

#[test]
fn delete_is_passed_only_when_asked() {
    let (f, _) = Fixture::new(30);
    let o = f.run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(f.take_log().iter().all(|c| !c.contains("--delete")));

    fs::write(f.dst.join("user0003/stray.txt"), "left behind").unwrap();
    assert!(
        differences(&f.src, &f.dst).contains(&"*deleting   user0003/stray.txt".to_string()),
        "the comparison sees an extra file"
    );
    let o = f.run(&["--again"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(f.take_log().iter().all(|c| !c.contains("--delete")));
    assert!(
        f.dst.join("user0003/stray.txt").exists(),
        "kept without --delete"
    );

    let o = f.run(&["--again", "--delete"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let calls = f.take_log();
    assert!(!calls.is_empty() && calls.iter().all(|c| c.contains(" --delete ")));
    assert!(!f.dst.join("user0003/stray.txt").exists());
    assert_eq!(differences(&f.src, &f.dst), Vec::<String>::new());
}

#[test]
fn dry_run_lists_what_would_be_copied_and_runs_nothing() {
    let (f, names) = Fixture::new(20);
    let o = f.cmd(&[]).env("FAIL_DIR", "user0005").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    f.take_log();
    fs::remove_dir_all(&f.dst).unwrap();

    let o = f.run(&["--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("1 to copy"), "{out}");
    assert!(out.contains("  would copy  user0005\n"), "{out}");
    assert!(
        out.contains("  skip        user0004 (finished in an earlier run"),
        "{out}"
    );
    assert!(
        out.contains("rsync -aHAX --numeric-ids --partial --stats ")
            && out.contains("/src/NAME ")
            && out.contains("(one such argument per entry)"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("  skip")).count(),
        names.len() - 1
    );
    assert!(f.take_log().is_empty());
    assert!(!f.dst.exists());

    let o = f.run(&["--dry-run", "--again"]);
    assert!(stdout(&o).contains(&format!("{} to copy, 0 finished", names.len())));
}

fn sqlite(db: &Path, sql: &str) {
    let o = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn top_level(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn active_within_reads_the_hub_database() {
    let (f, _) = Fixture::new(50);
    let db = f.state.with_file_name("jupyterhub.sqlite");
    sqlite(
        &db,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(255), last_activity DATETIME);
         INSERT INTO users (name, last_activity) VALUES
           ('user@2i2c.org', strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 hours')),
           ('user0007', strftime('%Y-%m-%d %H:%M:%f', 'now', '-23 hours')),
           ('first.last', strftime('%Y-%m-%d %H:%M:%f', 'now', '-5 minutes')),
           ('user0008', strftime('%Y-%m-%d %H:%M:%f', 'now', '-3 days')),
           ('user0009', NULL),
           ('ghost', strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 hours'));",
    );
    let o = f.run(&["--active-within", "24h", "--hub-db", db.to_str().unwrap()]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        top_level(&f.dst),
        vec![
            "_shared",
            "_shared-public",
            "first-2elast",
            "user-402i2c-2eorg",
            "user0007"
        ]
    );
    let err = stderr(&o);
    assert!(err.contains("4 users active within 24h"), "{err}");
    assert!(
        err.contains("1 active users have no directory") && err.contains("ghost"),
        "{err}"
    );
    assert!(stdout(&o).contains("5 copied"), "{}", stdout(&o));

    // A wider window picks up user0008 too; the others are finished.
    let o = f.run(&["--active-within", "7d", "--hub-db", db.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("1 copied, 5 skipped as finished"),
        "{}",
        stdout(&o)
    );
    assert!(f.dst.join("user0008").is_dir());

    let o = f.run(&["--active-within", "24h"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs --hub-db FILE or --hub-api URL"));
}

/// A JupyterHub API double over a real socket: `GET /hub/api/users` with the pagination
/// media type, at most `PAGE` users a page whatever `limit` asks; checks the token.
fn hub_double(users: Vec<(String, Option<String>)>) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    const PAGE: usize = 2;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("authorization")
                {
                    auth = v.trim().to_string();
                }
            }
            let target = first.split(' ').nth(1).unwrap_or("").to_string();
            let _ = tx.send(target.clone());
            let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
            let param = |k: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .and_then(|v| v.parse::<usize>().ok())
            };
            let (status, body) = if auth != "token s3cret" {
                ("403 Forbidden", "{\"message\": \"no\"}".to_string())
            } else if !target.starts_with("/hub/api/users") {
                ("404 Not Found", "{}".to_string())
            } else {
                let offset = param("offset").unwrap_or(0);
                let limit = param("limit").unwrap_or(PAGE).min(PAGE);
                let items: Vec<serde_json::Value> = users
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(
                        |(n, t)| serde_json::json!({"kind": "user", "name": n, "last_activity": t}),
                    )
                    .collect();
                let end = offset + items.len();
                let next = if end < users.len() {
                    serde_json::json!({"offset": end, "limit": limit, "url": format!("/hub/api/users?offset={end}&limit={limit}")})
                } else {
                    serde_json::Value::Null
                };
                let page = serde_json::json!({
                    "items": items,
                    "_pagination": {"offset": offset, "limit": limit, "total": users.len(), "next": next},
                });
                ("200 OK", page.to_string())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, rx)
}

#[test]
fn active_within_reads_every_page_of_the_jupyterhub_api() {
    let (f, _) = Fixture::new(20);
    let ago = |s: u64| {
        Some(gitops_migrate::util::time::rfc3339(
            SystemTime::now() - Duration::from_secs(s),
        ))
    };
    // Three pages of two, two and one user; the active user on the last page is the one the
    // seed's script dropped.
    let users = vec![
        ("user0001".to_string(), ago(3600)),
        ("user0002".to_string(), ago(10 * 86_400)),
        ("user0003".to_string(), None),
        ("first.last".to_string(), ago(60)),
        ("user@2i2c.org".to_string(), ago(7200)),
    ];
    let (url, requests) = hub_double(users);
    let o = f
        .cmd(&["--active-within", "1d", "--hub-api", &url])
        .env("JUPYTERHUB_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        top_level(&f.dst),
        vec![
            "_shared",
            "_shared-public",
            "first-2elast",
            "user-402i2c-2eorg",
            "user0001"
        ]
    );
    let seen: Vec<String> = requests.try_iter().collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen[2].contains("offset=4"), "{seen:?}");
    assert!(!stdout(&o).contains("s3cret") && !stderr(&o).contains("s3cret"));

    // The token comes only from JUPYTERHUB_TOKEN.
    let o = f.run(&["--active-within", "1d", "--hub-api", &url, "--again"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("JUPYTERHUB_TOKEN"));
}
