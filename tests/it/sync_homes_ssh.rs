//! `sync-homes` with a remote SRC or DST (`host:path`) against a real OpenSSH server that
//! each test starts on 127.0.0.1 (its own host key, client key, config and free port; killed
//! when the test ends), with the real `rsync` and `ssh`.
//!
//! The binary reaches the server through `RSYNC_RSH="ssh -F <client config>"`, where the
//! config names the host `gm-test`: rsync uses that remote shell for its transfers, and
//! sync-homes uses it for `rsync --list-only gm-test:SRC/` and its login as the connection
//! master for a remote DST (`ssh -f -N gm-test`; `ssh gm-test mkdir -p DST` through another
//! remote shell). Every ssh connection shows up in the server's log as an `Accepted
//! publickey` line, which tells how many times a run logged in.
//!
//! The server needs `/usr/sbin/sshd` (Debian's `openssh-server`, which `scripts/test`
//! installs). When it cannot start, the tests fail: they never skip.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use common::homes::{ODD, differences, generate};

const BIN: &str = env!("CARGO_BIN_EXE_gitops-migrate");
const SSHD: &str = "/usr/sbin/sshd";
const HOST: &str = "gm-test";

/// The checks the comparison cannot miss but a reader may want spelled out.
fn assert_copied_as_they_are(dst: &Path) {
    for odd in ODD {
        assert!(dst.join(odd).join("notebook.ipynb").is_file(), "{odd}");
    }
    assert!(dst.join("_shared").is_dir() && dst.join("_shared-public").is_dir());
    assert_eq!(
        fs::read_to_string(dst.join("README.txt")).unwrap(),
        "homes of the hub\n"
    );
    let lost = fs::symlink_metadata(dst.join("lost-link")).unwrap();
    assert!(
        lost.file_type().is_symlink(),
        "a top-level symlink stays one"
    );
    let mode = fs::metadata(dst.join("user0001/.ssh-key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dangling = fs::symlink_metadata(dst.join("user0001/dangling")).unwrap();
    assert!(dangling.file_type().is_symlink());
    use std::os::unix::fs::MetadataExt;
    let a = fs::metadata(dst.join("user0000/notebook.ipynb")).unwrap();
    let b = fs::metadata(dst.join("user0000/hardlink.ipynb")).unwrap();
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "hard link kept");
}

// --- the OpenSSH server ------------------------------------------------------------------

/// A real `sshd` on 127.0.0.1, for the current user only, with throwaway keys (also the
/// destination sidecar of the hub move's home-directory transfer, `hub_move_exec`).
pub(crate) struct Sshd {
    child: Child,
    /// The port it listens on.
    pub(crate) port: u16,
    /// Holds the keys, configs, pid file and log.
    dir: tempfile::TempDir,
    log: PathBuf,
    /// `ssh -F` config naming the host `gm-test`.
    client_config: PathBuf,
}

fn run_ok(cmd: &mut Command, what: &str) {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A port nothing listens on (bound then released).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn is_root() -> bool {
    let o = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim() == "0"
}

/// An ssh client config for `gm-test` at `127.0.0.1:port` with the client key.
fn client_config(path: &Path, port: u16, key: &Path) {
    let text = format!(
        "Host {HOST}\n\
         \x20 HostName 127.0.0.1\n\
         \x20 Port {port}\n\
         \x20 IdentityFile {key}\n\
         \x20 IdentitiesOnly yes\n\
         \x20 BatchMode yes\n\
         \x20 ConnectTimeout 10\n\
         \x20 StrictHostKeyChecking no\n\
         \x20 UserKnownHostsFile /dev/null\n\
         \x20 LogLevel ERROR\n",
        key = key.display()
    );
    fs::write(path, text).unwrap();
}

/// Waits until `port` answers with an SSH banner; an error (with the server's log) when the
/// server exits first or `timeout` passes.
fn wait_ready(child: &mut Child, port: u16, log: &Path, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log_text = || fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("sshd exited ({status}): {}", log_text()));
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut banner = [0u8; 4];
            if s.read_exact(&mut banner).is_ok() && banner == *b"SSH-" {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "sshd did not accept connections on port {port} within {timeout:?}: {}",
                log_text()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Sshd {
    /// Starts the server and waits until it accepts connections; panics (fails the test)
    /// with the reason when it cannot.
    pub(crate) fn start() -> Sshd {
        Sshd::start_with("")
    }

    /// The same, with more lines of server configuration (`MaxSessions 2`).
    pub(crate) fn start_with(extra_config: &str) -> Sshd {
        assert!(
            Path::new(SSHD).is_file(),
            "{SSHD} is missing: install openssh-server (scripts/test does) to run these tests"
        );
        // sshd started by root refuses to run without its privilege separation directory,
        // which Debian creates only when the service starts (never in a container).
        if is_root() && !Path::new("/run/sshd").is_dir() {
            fs::create_dir_all("/run/sshd").unwrap();
            fs::set_permissions("/run/sshd", fs::Permissions::from_mode(0o755)).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(
            !d.display().to_string().contains(char::is_whitespace),
            "RSYNC_RSH is split at spaces: the temporary directory must have none"
        );
        for key in ["host_key", "client_key"] {
            run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                    .arg(d.join(key)),
                "ssh-keygen",
            );
        }
        fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();

        // The port is free when chosen; another process may take it before sshd binds it,
        // so a server that exits at once is started again on another port.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let config = d.join("sshd_config");
            fs::write(
                &config,
                format!(
                    "Port {port}\n\
                     ListenAddress 127.0.0.1\n\
                     HostKey {d}/host_key\n\
                     PidFile {d}/sshd.pid\n\
                     AuthorizedKeysFile {d}/authorized_keys\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     StrictModes no\n\
                     UsePAM no\n\
                     PermitRootLogin yes\n\
                     PrintMotd no\n\
                     MaxStartups 100\n\
                     LogLevel INFO\n\
                     {extra_config}",
                    d = d.display()
                ),
            )
            .unwrap();
            let log = d.join(format!("sshd-{port}.log"));
            // sshd re-executes itself, so it must be started with an absolute path.
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-p", &port.to_string(), "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
            match wait_ready(&mut child, port, &log, Duration::from_secs(20)) {
                Ok(()) => {
                    let client = d.join("ssh_config");
                    client_config(&client, port, &d.join("client_key"));
                    return Sshd {
                        child,
                        port,
                        dir,
                        log,
                        client_config: client,
                    };
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = e;
                }
            }
        }
        panic!(
            "the OpenSSH server could not start (install openssh-server; scripts/test does):\n\
             {last_error}"
        );
    }

    /// Its public host key (`ssh-ed25519 AAAA… host_key`).
    pub(crate) fn host_public_key(&self) -> String {
        fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap()
    }

    /// The private key its authorized key belongs to.
    pub(crate) fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// The authorized key, with OpenSSH options before it (`command="…"`).
    pub(crate) fn authorize_with(&self, options: &str) {
        let public = fs::read_to_string(self.dir.path().join("client_key.pub")).unwrap();
        fs::write(
            self.dir.path().join("authorized_keys"),
            format!("{options} {public}"),
        )
        .unwrap();
    }

    pub(crate) fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many ssh logins the server accepted so far.
    pub(crate) fn logins(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("Accepted publickey"))
            .count()
    }

    /// How many ssh connections the server saw end so far.
    fn disconnects(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("Disconnected from user"))
            .count()
    }

    /// Waits (up to 10 s) until every connection the server accepted has ended: no
    /// connection master left running after a run.
    fn assert_all_closed(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.disconnects() < self.logins() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            self.disconnects(),
            self.logins(),
            "a connection is still open:\n{}",
            self.log_text()
        );
    }

    /// The remote shell for `RSYNC_RSH`.
    fn rsh(&self) -> String {
        format!("ssh -F {}", self.client_config.display())
    }

    /// A remote shell for the same host name and key, at a port nothing listens on.
    fn unreachable_rsh(&self) -> String {
        let config = self.dir.path().join("ssh_config_closed");
        client_config(&config, free_port(), &self.dir.path().join("client_key"));
        format!("ssh -F {}", config.display())
    }

    /// Runs a command on the server (as the current user), checking it works.
    fn ssh(&self, command: &str) -> String {
        let o = Command::new("ssh")
            .arg("-F")
            .arg(&self.client_config)
            .args([HOST, command])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "ssh {HOST} {command}: {}\nsshd log:\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log_text()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- running the binary ------------------------------------------------------------------

struct Fixture {
    sshd: Sshd,
    tmp: tempfile::TempDir,
    src: PathBuf,
    state: PathBuf,
}

impl Fixture {
    fn new(n: usize) -> (Fixture, Vec<String>) {
        Fixture::with_server(n, "")
    }

    /// A fixture whose server has more lines of configuration.
    fn with_server(n: usize, extra_config: &str) -> (Fixture, Vec<String>) {
        let sshd = Sshd::start_with(extra_config);
        // The server really logs us in and runs commands.
        assert_eq!(sshd.ssh("echo ok").trim(), "ok");
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let names = generate(&src, n);
        let f = Fixture {
            sshd,
            state: tmp.path().join("state"),
            src,
            tmp,
        };
        (f, names)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// `gm-test:<absolute path>`.
    fn remote(p: &Path) -> String {
        format!("{HOST}:{}", p.display())
    }

    fn cmd(&self, src: &str, dst: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("sync-homes")
            .arg(src)
            .arg(dst)
            .arg("--state-dir")
            .arg(&self.state)
            .args(extra)
            .env("RSYNC_RSH", self.sshd.rsh())
            .env("TMPDIR", self.tmpdir())
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("JUPYTERHUB_TOKEN")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, src: &str, dst: &str, extra: &[&str]) -> Output {
        self.cmd(src, dst, extra).output().unwrap()
    }

    /// The binary's temporary directory (where the control socket of its shared ssh
    /// connection lives while a run lasts).
    fn tmpdir(&self) -> PathBuf {
        let d = self.tmp.path().join("t");
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// What a run left in its temporary directory (nothing, once it closed its connection).
    fn temporary_leftovers(&self) -> Vec<String> {
        fs::read_dir(self.tmpdir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        let dir = self.state.join("runs/sync-homes");
        let mut lines = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "jsonl") {
                continue; // the reports
            }
            let text = fs::read_to_string(path).unwrap();
            lines.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
        }
        lines
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn both(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o))
}

// --- the tests ---------------------------------------------------------------------------

#[test]
fn a_remote_source_is_listed_and_copied_over_ssh_identically() {
    let (f, names) = Fixture::new(200);
    let dst = f.path("dst");
    let src = Fixture::remote(&f.src);
    let before = f.sshd.logins();
    let o = f.run(&src, dst.to_str().unwrap(), &["--parallel", "4"]);
    assert!(o.status.success(), "{}", both(&o));
    assert!(
        stdout(&o).contains(&format!(
            "sync-homes {src} → {}: {} copied, 0 skipped as finished, 0 failed",
            dst.display(),
            names.len()
        )),
        "{}",
        both(&o)
    );
    assert_eq!(differences(&f.src, &dst), Vec::<String>::new());
    assert_copied_as_they_are(&dst);
    // One login for the run: the listing opened the shared connection, and the four
    // workers' rsyncs (a batch of entries each) ran over it; it is closed at the end.
    assert_eq!(f.sshd.logins() - before, 1);
    f.sshd.assert_all_closed();
    assert_eq!(f.temporary_leftovers(), Vec::<String>::new());
    let mut done: Vec<String> = f
        .journal()
        .iter()
        .filter(|l| l["event"] == "checkpoint" && l["step"] == "sync-homes")
        .map(|l| l["item"].as_str().unwrap().to_string())
        .collect();
    done.sort();
    assert_eq!(done, names, "every entry journaled as copied");
}

#[test]
fn a_remote_destination_is_created_over_ssh_filled_and_a_rerun_skips_it() {
    let (f, names) = Fixture::new(120);
    fs::create_dir_all(f.path("remote")).unwrap();
    // A space and a `;` in the path: quoted for the remote shell, never split or run.
    let deeper = f.path("remote/new dir/deeper;x");
    let dst = Fixture::remote(&deeper);
    let src = f.src.to_str().unwrap();
    let before = f.sshd.logins();
    let o = f.run(src, &dst, &["--parallel", "4"]);
    assert!(o.status.success(), "{}", both(&o));
    assert!(
        stdout(&o).contains(&format!(
            "sync-homes {src} → {dst}: {} copied, 0 skipped as finished, 0 failed",
            names.len()
        )),
        "{}",
        both(&o)
    );
    assert_eq!(differences(&f.src, &deeper), Vec::<String>::new());
    assert_copied_as_they_are(&deeper);
    assert_eq!(
        fs::read_dir(f.path("remote")).unwrap().count(),
        1,
        "only `new dir` was made"
    );
    // The run logged in once (its connection master, no remote command); the workers'
    // rsyncs used it and made the destination (`--rsync-path=mkdir -p -- DST && rsync`).
    assert_eq!(f.sshd.logins() - before, 1);
    f.sshd.assert_all_closed();
    assert_eq!(f.temporary_leftovers(), Vec::<String>::new());

    // The rerun skips every finished entry: nothing logs in, no rsync runs.
    let before = f.sshd.logins();
    let o = f.run(src, &dst, &["--parallel", "4"]);
    assert!(o.status.success(), "{}", both(&o));
    let n = names.len();
    assert!(
        stdout(&o).contains(&format!(
            "0 copied, {n} skipped as finished, 0 failed; 0 B transferred"
        )),
        "{}",
        both(&o)
    );
    assert!(
        stderr(&o).contains(&format!(
            "{n} of {n} entries finished in an earlier run are skipped"
        )),
        "{}",
        both(&o)
    );
    assert_eq!(
        f.sshd.logins() - before,
        0,
        "nothing left to copy: no login"
    );
    assert_eq!(differences(&f.src, &deeper), Vec::<String>::new());
    let ends: Vec<_> = f
        .journal()
        .into_iter()
        .filter(|l| l["event"] == "end" || l["event"] == "run-end")
        .map(|l| {
            format!(
                "{} {}",
                l["event"],
                l["outcome"]
                    .as_str()
                    .or(l["result"].as_str())
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        ends,
        [
            "\"end\" done",
            "\"run-end\" completed",
            "\"end\" skipped",
            "\"run-end\" completed"
        ]
    );
    let _ = n;
}

#[test]
fn dry_run_with_a_remote_source_lists_the_entries_and_copies_nothing() {
    let (f, names) = Fixture::new(40);
    let dst = f.path("dst");
    let src = Fixture::remote(&f.src);
    let before = f.sshd.logins();
    let o = f.run(&src, dst.to_str().unwrap(), &["--dry-run"]);
    assert!(o.status.success(), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "sync-homes {src} → {}: {} to copy, 0 finished in an earlier run",
            dst.display(),
            names.len()
        )),
        "{out}"
    );
    let listed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  would copy  "))
        .collect();
    assert_eq!(listed, names, "{out}");
    // The first entry (`-42ob`, a directory) with the remote source spelled out.
    assert!(
        out.contains(&format!(
            " {src}/ {}/ (the entries' names on its standard input)",
            dst.display()
        )),
        "{out}"
    );
    assert!(!dst.exists(), "nothing copied");
    assert!(!f.state.join("runs/sync-homes").exists(), "no journal");
    assert_eq!(f.sshd.logins() - before, 1, "only the listing");
    f.sshd.assert_all_closed();
}

#[test]
fn both_remote_is_refused_before_any_connection() {
    let (f, _) = Fixture::new(3);
    let before = f.sshd.logins();
    let src = Fixture::remote(&f.src);
    let dst = Fixture::remote(&f.path("dst"));
    let o = f.run(&src, &dst, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(
        stderr(&o).contains(&format!("{src} and {dst} are both remote")),
        "{}",
        both(&o)
    );
    assert!(!f.path("dst").exists());
    assert!(!f.state.exists());
    assert_eq!(f.sshd.logins(), before);
}

#[test]
fn an_unreachable_host_fails_clearly_and_writes_nothing() {
    let (f, _) = Fixture::new(3);
    let rsh = f.sshd.unreachable_rsh();

    // Remote source: the listing fails, naming the source.
    let src = Fixture::remote(&f.src);
    let dst = f.path("dst");
    let o = f
        .cmd(&src, dst.to_str().unwrap(), &[])
        .env("RSYNC_RSH", &rsh)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("cannot list {src}")), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(!dst.exists(), "nothing written");
    assert!(!f.state.exists(), "no journal");

    // Remote destination: logging in fails, naming it; nothing is written either.
    let remote_dst = Fixture::remote(&f.path("elsewhere"));
    let o = f
        .cmd(f.src.to_str().unwrap(), &remote_dst, &[])
        .env("RSYNC_RSH", &rsh)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", both(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "ssh {HOST}: cannot log in to copy to '{}': ssh: connect to host 127.0.0.1 port",
            f.path("elsewhere").display()
        )),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(!f.path("elsewhere").exists());
    // The run is journaled as failed, with no entry copied.
    let journal = f.journal();
    assert!(journal.iter().all(|l| l["event"] != "checkpoint"));
    assert!(
        journal
            .iter()
            .any(|l| l["event"] == "end" && l["outcome"] == "failed"),
        "{journal:?}"
    );
    assert_eq!(f.sshd.logins(), 1, "only the fixture's own check logged in");
}

#[test]
fn a_remote_destination_that_cannot_be_made_fails_each_entry_with_the_hosts_reason() {
    // DST under a regular file: the `mkdir -p` of rsync's remote command fails; each entry's
    // failure says why in the host's words (not only rsync's "protocol data stream").
    let (f, names) = Fixture::new(2);
    fs::write(f.path("a-file"), "not a directory\n").unwrap();
    let dst = Fixture::remote(&f.path("a-file/homes"));
    let o = f.run(f.src.to_str().unwrap(), &dst, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "0 copied, 0 skipped as finished, {} failed",
            names.len()
        )),
        "{}",
        both(&o)
    );
    for name in &names {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no failure line for {name}: {out}"));
        assert!(line.contains("mkdir: cannot create directory"), "{line}");
        assert!(line.contains("Not a directory"), "{line}");
    }
    assert_eq!(
        fs::read_to_string(f.path("a-file")).unwrap(),
        "not a directory\n"
    );
    // The run's connection master is closed (rsync kills the ssh of a failed retry, which
    // the server does not log as a disconnect, so the log cannot tell the rest).
    assert_eq!(f.temporary_leftovers(), Vec::<String>::new());
}

#[test]
fn workers_past_the_servers_session_limit_log_in_on_their_own() {
    // OpenSSH serves 10 sessions per connection by default: 8 workers share the run's
    // connection, the 4 others log in themselves.
    let (f, names) = Fixture::new(120);
    let dst = f.path("dst");
    let src = Fixture::remote(&f.src);
    let before = f.sshd.logins();
    let o = f.run(&src, dst.to_str().unwrap(), &["--parallel", "12"]);
    assert!(o.status.success(), "{}", both(&o));
    assert!(
        stdout(&o).contains(&format!(
            "{} copied, 0 skipped as finished, 0 failed",
            names.len()
        )),
        "{}",
        both(&o)
    );
    assert_eq!(differences(&f.src, &dst), Vec::<String>::new());
    assert_eq!(f.sshd.logins() - before, 1 + 4);
    f.sshd.assert_all_closed();
    assert_eq!(f.temporary_leftovers(), Vec::<String>::new());
}

#[test]
fn a_remote_shell_other_than_ssh_logs_in_per_worker_as_before() {
    // A wrapper (as a site's `RSYNC_RSH` may name): not ssh by name, so no shared
    // connection: the `mkdir -p` and each worker log in.
    let (f, names) = Fixture::new(60);
    let wrapper = f.path("site-rsh");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec ssh -F {} \"$@\"\n",
            f.sshd.client_config.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let dst = Fixture::remote(&f.path("remote-dst"));
    let before = f.sshd.logins();
    let o = f
        .cmd(f.src.to_str().unwrap(), &dst, &["--parallel", "3"])
        .env("RSYNC_RSH", &wrapper)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", both(&o));
    assert!(
        stdout(&o).contains(&format!(
            "{} copied, 0 skipped as finished, 0 failed",
            names.len()
        )),
        "{}",
        both(&o)
    );
    assert_eq!(
        differences(&f.src, &f.path("remote-dst")),
        Vec::<String>::new()
    );
    assert_eq!(f.sshd.logins() - before, 1 + 3);
    f.sshd.assert_all_closed();
}

#[test]
fn an_interrupted_run_closes_its_shared_connection() {
    let (f, _) = Fixture::new(20);
    // The run logs in first (its connection master, no remote command); then the workers'
    // rsyncs hang (a stand-in that sleeps), and the run is interrupted while it waits on them.
    let bin = f.path("bin");
    fs::create_dir_all(&bin).unwrap();
    let started = f.path("started");
    fs::create_dir_all(&started).unwrap();
    fs::write(
        bin.join("rsync"),
        format!(
            "#!/bin/sh\ntouch '{}'/$$\nexec sleep 1000\n",
            started.display()
        ),
    )
    .unwrap();
    fs::set_permissions(bin.join("rsync"), fs::Permissions::from_mode(0o755)).unwrap();
    let dst = Fixture::remote(&f.path("remote-dst"));
    let child = f
        .cmd(f.src.to_str().unwrap(), &dst, &["--parallel", "2"])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while fs::read_dir(&started).unwrap().count() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no rsync started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        f.sshd.logins(),
        2,
        "the run logged in (its connection master) before its rsyncs started"
    );
    assert_eq!(
        f.temporary_leftovers().len(),
        1,
        "the control socket's directory exists while the run lasts"
    );
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(stderr(&o).contains("interrupted (SIGINT)"), "{}", both(&o));
    // One login (the connection master), and it is closed: no master left behind.
    assert_eq!(
        f.sshd.logins(),
        2,
        "the fixture's check and the run's one login"
    );
    f.sshd.assert_all_closed();
    assert_eq!(f.temporary_leftovers(), Vec::<String>::new());
}

#[test]
fn sessions_the_server_refuses_on_the_shared_connection_are_copied_anyway() {
    // A server that serves 2 sessions per connection: of 4 workers sharing the run's
    // connection, the ones it refuses still copy their entries (their ssh logs in on its own).
    let (f, names) = Fixture::with_server(80, "MaxSessions 2\n");
    let dst = Fixture::remote(&f.path("remote-dst"));
    let before = f.sshd.logins();
    let o = f.run(f.src.to_str().unwrap(), &dst, &["--parallel", "4"]);
    assert!(o.status.success(), "{}", both(&o));
    assert!(
        stdout(&o).contains(&format!(
            "{} copied, 0 skipped as finished, 0 failed",
            names.len()
        )),
        "{}",
        both(&o)
    );
    assert_eq!(
        differences(&f.src, &f.path("remote-dst")),
        Vec::<String>::new()
    );
    let logins = f.sshd.logins() - before;
    assert!((2..=1 + 4).contains(&logins), "{logins} logins");
    f.sshd.assert_all_closed();
    assert_eq!(f.temporary_leftovers(), Vec::<String>::new());
}
