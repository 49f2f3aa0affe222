//! Child processes under limits: every program the runtime starts (`rsync`, `ssh`, `kubectl`,
//! `psql`, `pg_dump`) runs through [`run`], which bounds it by a total time limit and, for
//! long copies, by a silence limit (no output for that long: stalled), and passes an interrupt
//! on to it (the signal the run received, then `SIGKILL` if it does not end within a grace).
//!
//! Owns: spawning, feeding standard input (closed once written, or held open until the child
//! ends: [`Input`]), collecting the output (streamed line by line to a callback when asked,
//! then only its end kept), noticing the end at once (woken by the output pipes closing, not
//! a fixed poll), the limits and the signals. Does not own: what a program's exit
//! status means (its client), nor the interrupt flag (`interrupt`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::interrupt;

/// The limits of one child.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// At most this long in all.
    pub total: Option<Duration>,
    /// At most this long without a byte of output (stdout or stderr).
    pub silence: Option<Duration>,
}

impl Limits {
    /// At most `total` in all, however much it says.
    pub fn within(total: Duration) -> Limits {
        Limits {
            total: Some(total),
            silence: None,
        }
    }
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// It exited (or was killed by someone else) on its own.
    Exited(ExitStatus),
    /// It passed its total limit and was stopped.
    TimedOut(Duration),
    /// It was silent past its silence limit and was stopped.
    Stalled(Duration),
    /// The run was interrupted; the signal was passed on and it was stopped.
    Interrupted,
}

/// What a child did.
#[derive(Debug, Clone)]
pub struct Finished {
    pub end: End,
    /// All of standard output, or when its lines were streamed to a callback, its last
    /// 64 KiB.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub fn success(&self) -> bool {
        matches!(&self.end, End::Exited(s) if s.success())
    }

    /// `exited 23`, `was killed by signal 9`, `timed out after 5m`, `stalled: no output for 10s`,
    /// `was interrupted`.
    pub fn describe(&self) -> String {
        match &self.end {
            End::Exited(s) => match s.code() {
                Some(c) => format!("exited {c}"),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    format!("was killed by signal {}", s.signal().unwrap_or(0))
                }
            },
            End::TimedOut(d) => {
                format!(
                    "timed out after {} and was stopped",
                    crate::util::time::human(*d)
                )
            }
            End::Stalled(d) => format!(
                "stalled (no progress for {}) and was stopped",
                crate::util::time::human(*d)
            ),
            End::Interrupted => format!("was interrupted ({})", interrupt::name()),
        }
    }
}

/// Called with each line of a child's output as it comes.
pub type OnLine = Box<dyn FnMut(&str) + Send>;

/// How long a child may take to end after its signal before it is killed.
const GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);
/// How long the output of a child that ended is awaited when something it left running
/// still holds the pipes.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Signals the child's process group: the child and what it started (rsync's own
/// processes, its ssh), so that none is left holding the output pipes.
fn signal(child: &Child, sig: i32) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on the process group our child leads (it is not reaped before we
        // wait on it, so the id cannot have been reused).
        unsafe {
            libc::kill(-pid, sig);
        }
    }
}

/// How much of a streamed output is kept for the caller (its end: where a failing program
/// says why); the lines themselves went to the callback as they came.
const STREAMED_TAIL: usize = 64 * 1024;

/// Reads one output stream to its end; tells `closed` when it is closed (the child usually
/// exits right after). Keeps everything, or with a callback only the last `STREAMED_TAIL`
/// bytes: a copy of millions of files prints a line each.
fn reader(
    stream: impl Read + Send + 'static,
    seen: Arc<AtomicU64>,
    start: Instant,
    mut on_line: Option<OnLine>,
    (closed, id): (mpsc::Sender<usize>, usize),
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut r = BufReader::new(stream);
        loop {
            let mut line = Vec::new();
            // Lines end at `\n` or `\r` (progress lines rewrite themselves with `\r`).
            let n = match read_line(&mut r, &mut line) {
                Ok(n) => n,
                Err(_) => break,
            };
            if n == 0 {
                break;
            }
            seen.store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
            if let Some(f) = on_line.as_mut() {
                f(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']));
                if all.len() + line.len() > 2 * STREAMED_TAIL {
                    all.drain(..all.len().saturating_sub(STREAMED_TAIL));
                }
            }
            all.extend_from_slice(&line);
        }
        if on_line.is_some() && all.len() > STREAMED_TAIL {
            all.drain(..all.len() - STREAMED_TAIL);
        }
        let _ = closed.send(id);
        all
    })
}

fn read_line(r: &mut impl BufRead, out: &mut Vec<u8>) -> io::Result<usize> {
    let mut n = 0;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(n);
        }
        match buf.iter().position(|b| *b == b'\n' || *b == b'\r') {
            Some(i) => {
                out.extend_from_slice(&buf[..=i]);
                r.consume(i + 1);
                return Ok(n + i + 1);
            }
            None => {
                let len = buf.len();
                out.extend_from_slice(buf);
                r.consume(len);
                n += len;
            }
        }
    }
}

/// What a child gets on its standard input.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Nothing (`/dev/null`).
    None,
    /// These bytes, then the end of the input.
    Bytes(&'a [u8]),
    /// These bytes, then the input stays open until the child ends: for a child that takes
    /// the end of its input as the sign to stop (`kubectl exec -i`, whose command in the pod
    /// sees its input close only when kubectl ends, stopped or interrupted).
    BytesHeldOpen(&'a [u8]),
}

/// Runs `cmd` to its end under `limits`, with `stdin` written to it (else no input); each
/// line of standard output goes to `on_stdout` as it comes. `Err` only when it cannot start.
pub fn run(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    limits: Limits,
    on_stdout: Option<OnLine>,
) -> io::Result<Finished> {
    let input = match stdin {
        Some(b) => Input::Bytes(b),
        None => Input::None,
    };
    run_with(cmd, input, limits, on_stdout)
}

/// [`run`], with the standard input said by `input`.
pub fn run_with(
    cmd: &mut Command,
    input: Input<'_>,
    limits: Limits,
    on_stdout: Option<OnLine>,
) -> io::Result<Finished> {
    let (stdin, hold) = match input {
        Input::None => (None, false),
        Input::Bytes(b) => (Some(b), false),
        Input::BytesHeldOpen(b) => (Some(b), true),
    };
    // Its own process group: a terminal's Ctrl-C reaches the run, which decides when and how
    // the child hears of it (`interrupt`), and a stop reaches the child's own children.
    let mut child = cmd
        .process_group(0)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let start = Instant::now();
    let seen = Arc::new(AtomicU64::new(0));
    let (closed, pipes_closed) = mpsc::channel();
    let out = child
        .stdout
        .take()
        .map(|s| reader(s, seen.clone(), start, on_stdout, (closed.clone(), 0)));
    let err = child
        .stderr
        .take()
        .map(|s| reader(s, seen.clone(), start, None, (closed, 1)));
    let mut open = [out.is_some(), err.is_some()];
    let mut after_close = Duration::from_millis(1);
    // The input is written by a thread of its own: a child that reads it late (a remote
    // shell still connecting) holds up neither the limits nor an interrupt. Held open, it
    // ends when `release` goes, once the child has ended.
    let (release, released) = mpsc::channel::<()>();
    if let Some(input) = stdin
        && let Some(mut pipe) = child.stdin.take()
    {
        let input = input.to_vec();
        std::thread::spawn(move || {
            // A child that exits without reading its input is judged by its status.
            let _ = pipe.write_all(&input);
            if hold {
                let _ = pipe.flush();
                let _ = released.recv();
            }
        });
    }
    let mut stopping: Option<(End, Instant)> = None;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        match &stopping {
            Some((_, since)) => {
                if since.elapsed() >= GRACE {
                    signal(&child, libc::SIGKILL);
                }
            }
            None => {
                let silent = start
                    .elapsed()
                    .saturating_sub(Duration::from_millis(seen.load(Ordering::SeqCst)));
                let why = if let Some(sig) = interrupt::signal() {
                    Some((End::Interrupted, sig))
                } else if let Some(t) = limits.total
                    && start.elapsed() >= t
                {
                    Some((End::TimedOut(t), libc::SIGTERM))
                } else if let Some(t) = limits.silence
                    && silent >= t
                {
                    Some((End::Stalled(t), libc::SIGTERM))
                } else {
                    None
                };
                if let Some((end, sig)) = why {
                    signal(&child, sig);
                    stopping = Some((end, Instant::now()));
                }
            }
        }
        // Until a pipe closes, wake when one does (the child is ending) or at the next poll;
        // then poll soon, backing off to `POLL` for a child that closed its output and runs
        // on. A short rsync or kubectl is seen to end within a millisecond, not 20.
        if open.iter().any(|o| *o) {
            match pipes_closed.recv_timeout(POLL) {
                Ok(i) => open[i] = false,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => open = [false; 2],
            }
        } else {
            std::thread::sleep(after_close);
            after_close = (after_close * 2).min(POLL);
        }
    };
    // The child ended: what it started hears the end of its input now, before its output is
    // awaited (a grandchild still writing to it ends on that).
    drop(release);
    // A process the child left running may hold its output open (an old ssh's `-f` master):
    // its output is awaited a moment, then left, and said to be.
    let waited = Instant::now();
    while open.iter().any(|o| *o) {
        match pipes_closed.recv_timeout(OUTPUT_GRACE.saturating_sub(waited.elapsed())) {
            Ok(i) => open[i] = false,
            Err(_) => break,
        }
    }
    let take = |h: Option<std::thread::JoinHandle<Vec<u8>>>, still_open: bool| match h {
        Some(_) if still_open => {
            b"(the rest of this output is held by a process the program left running)\n".to_vec()
        }
        Some(h) => h.join().unwrap_or_default(),
        None => Vec::new(),
    };
    let stdout = take(out, open[0]);
    let stderr = take(err, open[1]);
    let end = match stopping {
        Some((end, _)) => end,
        None => End::Exited(status),
    };
    Ok(Finished {
        end,
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_child_is_stopped_as_stalled() {
        let t0 = Instant::now();
        let f = run(
            Command::new("sh").args(["-c", "echo start; sleep 30"]),
            None,
            Limits {
                total: None,
                silence: Some(Duration::from_millis(300)),
            },
            None,
        )
        .unwrap();
        assert_eq!(f.end, End::Stalled(Duration::from_millis(300)));
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert_eq!(String::from_utf8_lossy(&f.stdout), "start\n");
    }

    #[test]
    fn a_child_past_its_total_limit_is_stopped() {
        let f = run(
            Command::new("sh").args(["-c", "while :; do echo tick; sleep 0.05; done"]),
            None,
            Limits {
                total: Some(Duration::from_millis(300)),
                silence: Some(Duration::from_secs(5)),
            },
            None,
        )
        .unwrap();
        assert_eq!(f.end, End::TimedOut(Duration::from_millis(300)));
        assert!(
            f.describe().starts_with("timed out after"),
            "{}",
            f.describe()
        );
    }

    #[test]
    fn a_streamed_output_keeps_only_its_end() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let f = run(
            Command::new("sh").args(["-c", "seq 1 200000; echo done >&2"]),
            None,
            Limits::default(),
            Some(Box::new(move |_: &str| {
                c.fetch_add(1, Ordering::SeqCst);
            })),
        )
        .unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 200_000, "every line streamed");
        assert!(f.stdout.len() <= STREAMED_TAIL, "{}", f.stdout.len());
        let kept = String::from_utf8_lossy(&f.stdout);
        assert!(
            kept.ends_with("199999\n200000\n"),
            "{}",
            &kept[kept.len() - 20..]
        );
        assert_eq!(
            String::from_utf8_lossy(&f.stderr),
            "done\n",
            "stderr kept whole"
        );
        // Without a callback everything is kept.
        let f = run(
            Command::new("seq").args(["1", "200000"]),
            None,
            Limits::default(),
            None,
        )
        .unwrap();
        assert_eq!(f.stdout.iter().filter(|b| **b == b'\n').count(), 200_000);
    }

    #[test]
    fn input_a_child_does_not_read_holds_up_no_limit() {
        // 1 MiB to a child that never reads it: the pipe fills, and the limit still ends it.
        let input = vec![b'x'; 1 << 20];
        let t0 = Instant::now();
        let f = run(
            Command::new("sh").args(["-c", "exec sleep 30"]),
            Some(&input),
            Limits::within(Duration::from_millis(300)),
            None,
        )
        .unwrap();
        assert_eq!(f.end, End::TimedOut(Duration::from_millis(300)));
        assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    }

    #[test]
    fn output_held_by_a_process_the_child_left_is_not_awaited() {
        // The child exits; the `sleep` it started in the background keeps its output open.
        let t0 = Instant::now();
        let f = run(
            Command::new("sh").args(["-c", "echo started >&2; sleep 8 & echo done"]),
            None,
            Limits::default(),
            None,
        )
        .unwrap();
        assert!(f.success(), "{}", f.describe());
        assert!(t0.elapsed() < Duration::from_secs(7), "{:?}", t0.elapsed());
        assert!(
            String::from_utf8_lossy(&f.stdout)
                .contains("held by a process the program left running"),
            "{}",
            String::from_utf8_lossy(&f.stdout)
        );
    }

    #[test]
    fn lines_are_streamed_and_input_is_fed() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let f = run(
            Command::new("sh").args(["-c", "cat; printf 'a\\rb\\n'; exit 3"]),
            Some(b"in\n"),
            Limits::default(),
            Some(Box::new(move |l: &str| {
                s.lock().unwrap().push(l.to_string())
            })),
        )
        .unwrap();
        assert_eq!(f.describe(), "exited 3");
        assert_eq!(*seen.lock().unwrap(), vec!["in", "a", "b"]);
    }

    /// Input held open: the child's own children see its end only when the child ends (and
    /// before its output is awaited: one still holding the output ends on it, no deadlock).
    #[test]
    fn held_input_ends_only_when_the_child_ends() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("closed");
        let script = r#"read l; echo "got $l"; exec 3<&0
( cat <&3 >/dev/null; echo closed > "$1" ) &
sleep 0.5; if [ -e "$1" ]; then echo early; fi"#;
        let run_it = |input: Input<'_>| {
            let _ = std::fs::remove_file(&flag);
            let f = run_with(
                Command::new("sh").args(["-c", script, "x"]).arg(&flag),
                input,
                Limits::within(Duration::from_secs(20)),
                None,
            )
            .unwrap();
            assert!(f.success(), "{}", f.describe());
            String::from_utf8_lossy(&f.stdout).into_owned()
        };
        // Plain bytes: the input ends at once.
        assert_eq!(run_it(Input::Bytes(b"key\n")), "got key\nearly\n");
        // Held open: not while the child runs, but as soon as it ended.
        assert_eq!(run_it(Input::BytesHeldOpen(b"key\n")), "got key\n");
        let t0 = Instant::now();
        while !flag.exists() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(flag.exists(), "the input never closed");
    }
}
