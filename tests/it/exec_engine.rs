//! The runbook engine at the library level, with fake steps written here (counters, failures
//! on the Nth call, retryable errors, slow steps with a tiny timeout): dry run, confirmations,
//! `--resume`, `--from`/`--only`/`--skip`, retries with backoff, timeouts, the kube-context
//! hook, redaction, the journal (JSON lines, a torn last line), the lock (held, stale), the
//! report, progress display, and a crash: a child process killed with SIGKILL mid-run, then
//! resumed without repeating its finished step. Plus `exec` through the built binary for what
//! does not need a cluster (usage errors, the lock, unavailable steps, a manual-only run).

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitops_migrate::cli::console::{ConsoleOperator, Display};
use gitops_migrate::runtime::engine::{
    self, ExecError, ExecOptions, Redactor, RetryPolicy, RunStatus, StepStatus,
};
use gitops_migrate::runtime::journal::{Entry, Journal, RunFiles};
use gitops_migrate::runtime::lock::{Holder, Lock, LockError};
use gitops_migrate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner, report};

use crate::common;
use crate::common::snapshot;
use common::copy_dir;

// ---------------------------------------------------------------------------------------------
// Fakes

type Behaviour = Arc<dyn Fn(u32) -> Result<Outcome, StepError> + Send + Sync>;

/// A step that counts its previews and runs; `behaviour(n)` decides the n-th run (from 1).
#[derive(Clone)]
struct Fake {
    id: String,
    destructive: bool,
    mutates: bool,
    touches: Vec<String>,
    skip: Option<String>,
    previews: Arc<AtomicU32>,
    runs: Arc<AtomicU32>,
    behaviour: Behaviour,
    delay: Duration,
    timeout: Duration,
    /// A file that gets a line per run (for counting across processes).
    tally: Option<PathBuf>,
}

impl Fake {
    fn new(id: &str) -> Fake {
        let id_owned = id.to_string();
        Fake {
            id: id.into(),
            destructive: false,
            mutates: true,
            touches: Vec::new(),
            skip: None,
            previews: Arc::default(),
            runs: Arc::default(),
            behaviour: Arc::new(move |_| {
                Ok(Outcome {
                    touched: Vec::new(),
                    summary: format!("{id_owned} ok"),
                })
            }),
            delay: Duration::ZERO,
            timeout: Duration::from_secs(600),
            tally: None,
        }
    }

    fn destructive(mut self, touches: &[&str]) -> Fake {
        self.destructive = true;
        self.touches = touches.iter().map(|t| t.to_string()).collect();
        let t = self.touches.clone();
        self.behaviour = Arc::new(move |_| {
            Ok(Outcome {
                touched: t.clone(),
                summary: format!("deleted {}", t.len()),
            })
        });
        self
    }

    fn reading(mut self) -> Fake {
        self.mutates = false;
        self
    }

    fn behaves(
        mut self,
        f: impl Fn(u32) -> Result<Outcome, StepError> + Send + Sync + 'static,
    ) -> Fake {
        self.behaviour = Arc::new(f);
        self
    }

    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    fn previews(&self) -> u32 {
        self.previews.load(Ordering::SeqCst)
    }

    fn boxed(&self) -> Box<dyn StepRunner> {
        Box::new(self.clone())
    }
}

impl StepRunner for Fake {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        format!("the {} step", self.id)
    }
    fn destructive(&self) -> bool {
        self.destructive
    }
    fn mutates(&self) -> bool {
        self.mutates
    }
    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        self.previews.fetch_add(1, Ordering::SeqCst);
        let action = match &self.skip {
            Some(reason) => Action::Skip {
                reason: reason.clone(),
            },
            None => Action::Run {
                touches: self.touches.clone(),
            },
        };
        Ok(Preview {
            action,
            commands: vec![format!("kubectl do {}", self.id)],
        })
    }
    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(t) = &self.tally {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(t)
                .unwrap();
            writeln!(f, "{} run {n}", self.id).unwrap();
            f.sync_all().unwrap();
        }
        op.progress(&self.id, 0, 1, "working");
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        op.progress(&self.id, 1, 1, "finished");
        (self.behaviour)(n)
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// An operator that answers from a script and records everything.
#[derive(Default)]
struct Scripted {
    answers: VecDeque<bool>,
    asked: Vec<String>,
    said: Vec<String>,
    progress: Vec<String>,
}

impl Scripted {
    fn answering(answers: &[bool]) -> Scripted {
        Scripted {
            answers: answers.iter().copied().collect(),
            ..Scripted::default()
        }
    }
}

impl Operator for Scripted {
    fn confirm(&mut self, question: &str) -> bool {
        self.asked.push(question.to_string());
        self.answers.pop_front().unwrap_or(false)
    }
    fn progress(&mut self, step: &str, done: u64, total: u64, message: &str) {
        self.progress
            .push(format!("{step} {done}/{total} {message}"));
    }
    fn say(&mut self, line: &str) {
        self.said.push(line.to_string());
    }
}

/// Options for tests: instant sleeps recorded in `sleeps`, a terminal, no report unless asked.
fn options(sleeps: &Arc<Mutex<Vec<Duration>>>) -> ExecOptions {
    let s = sleeps.clone();
    ExecOptions {
        command: "test stage --env here".into(),
        interactive: true,
        // Pauses of 1, 2, 4, 8 s (recorded, not slept) within a budget of 20 s.
        retry: RetryPolicy {
            first: Duration::from_secs(1),
            max_pause: Duration::from_secs(8),
            budget: Duration::from_secs(20),
            jitter: false,
            tries: None,
        },
        sleep: Box::new(move |d| s.lock().unwrap().push(d)),
        write_report: false,
        ..ExecOptions::default()
    }
}

fn opts() -> ExecOptions {
    options(&Arc::default())
}

struct Dir {
    _tmp: tempfile::TempDir,
    files: RunFiles,
}

fn state() -> Dir {
    let tmp = tempfile::tempdir().unwrap();
    let files = RunFiles::new(tmp.path(), "nublado", "enable-v3", "idfdev");
    Dir { _tmp: tmp, files }
}

impl Dir {
    fn journal(&self) -> Journal {
        Journal::open(&self.files.journal()).unwrap()
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.files.journal())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }

    /// `event step outcome` of every journal line.
    fn events(&self) -> Vec<String> {
        self.lines()
            .iter()
            .map(|v| {
                let mut s = v["event"].as_str().unwrap().to_string();
                for k in ["step", "outcome", "result"] {
                    if let Some(x) = v[k].as_str() {
                        s.push(' ');
                        s.push_str(x);
                    }
                }
                s
            })
            .collect()
    }
}

fn run(
    steps: &[&Fake],
    o: &ExecOptions,
    dir: &Dir,
    op: &mut dyn Operator,
) -> Result<engine::RunReport, ExecError> {
    let mut j = dir.journal();
    engine::run(steps.iter().map(|s| s.boxed()).collect(), o, &mut j, op)
}

fn ids(r: &engine::RunReport, label: &str) -> Vec<String> {
    r.steps
        .iter()
        .filter(|s| s.status.label() == label)
        .map(|s| s.id.clone())
        .collect()
}

/// A runbook like a window's: stop, delete (asks), sync, check (reads), restore.
fn window() -> Vec<Fake> {
    let mut check = Fake::new("check-route:/n3").reading();
    check.skip = None;
    let mut gone = Fake::new("delete-hub-deployment:nublado2").destructive(&[]);
    gone.skip = Some("Deployment `hub` in `nublado2` is already gone".into());
    vec![
        Fake::new("stop-mobu-flocks").destructive(&["flock/recommended", "flock/tap"]),
        gone,
        Fake::new("delete-lab-namespaces:nublado2")
            .destructive(&["namespace/nublado2-alice", "namespace/nublado2-bob"]),
        Fake::new("sync-app:nublado"),
        check,
        Fake::new("restore-mobu"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Dry run

#[test]
fn dry_run_previews_every_step_and_never_runs_one() {
    let dir = state();
    let steps = window();
    let refs: Vec<&Fake> = steps.iter().collect();
    let mut o = opts();
    o.dry_run = true;
    o.skip = vec!["restore-mobu".into()];
    o.unavailable.insert(
        "sync-app:nublado".into(),
        "its client is not built yet".into(),
    );
    let mut op = Scripted::default();
    let r = run(&refs, &o, &dir, &mut op).unwrap();
    assert!(steps.iter().all(|s| s.runs() == 0), "a dry run called run");
    assert_eq!(steps[0].previews(), 1);
    assert_eq!(
        steps[3].previews(),
        0,
        "an unavailable step is not previewed"
    );
    assert_eq!(steps[5].previews(), 0, "a skipped step is not previewed");
    assert!(op.asked.is_empty(), "a dry run asked {:?}", op.asked);
    assert!(!dir.files.journal().exists(), "a dry run wrote the journal");
    assert!(r.ok());
    snapshot("exec_engine__dry_run", report::dry_run(&r));
}

// ---------------------------------------------------------------------------------------------
// Confirmations

#[test]
fn a_no_at_the_confirmation_stops_before_the_step() {
    let dir = state();
    let steps = window();
    let refs: Vec<&Fake> = steps.iter().collect();
    // Yes to stopping mobu, no to deleting the namespaces.
    let mut op = Scripted::answering(&[true, false]);
    let r = run(&refs, &opts(), &dir, &mut op).unwrap();
    assert_eq!(
        r.status,
        RunStatus::Declined {
            step: "delete-lab-namespaces:nublado2".into()
        }
    );
    assert_eq!(steps[0].runs(), 1);
    assert_eq!(steps[2].runs(), 0, "the declined step ran");
    assert_eq!(steps[3].runs(), 0, "a step after the declined one ran");
    assert_eq!(op.asked.len(), 2);
    let q = &op.asked[1];
    assert!(q.contains("will touch 2 objects:"), "{q}");
    assert!(
        q.contains("  namespace/nublado2-alice\n  namespace/nublado2-bob\n"),
        "{q}"
    );
    assert_eq!(
        ids(&r, "not run"),
        ["sync-app:nublado", "check-route:/n3", "restore-mobu"]
    );
    assert!(
        dir.events()
            .contains(&"end delete-lab-namespaces:nublado2 declined".to_string())
    );
}

#[test]
fn without_a_terminal_and_without_yes_nothing_runs() {
    let dir = state();
    let steps = window();
    let refs: Vec<&Fake> = steps.iter().collect();
    let mut o = opts();
    o.interactive = false;
    let err = run(&refs, &o, &dir, &mut Scripted::default()).unwrap_err();
    assert!(matches!(err, ExecError::NeedsConfirmation { .. }));
    assert!(!err.is_usage());
    let msg = err.to_string();
    assert!(
        msg.contains("`stop-mobu-flocks`") && msg.contains("--yes"),
        "{msg}"
    );
    assert!(steps.iter().all(|s| s.runs() == 0 && s.previews() == 0));
    assert!(!dir.files.journal().exists());
}

#[test]
fn yes_confirms_every_step_without_asking() {
    let dir = state();
    let steps = window();
    let refs: Vec<&Fake> = steps.iter().collect();
    let mut o = opts();
    o.interactive = false;
    o.yes = true;
    let mut op = Scripted::default();
    let r = run(&refs, &o, &dir, &mut op).unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert!(op.asked.is_empty());
    assert!(
        op.said
            .iter()
            .any(|l| l.contains("will touch 2 objects") && l.ends_with("yes (--yes)"))
    );
    assert_eq!(steps[1].runs(), 0, "a step whose preview skips ran");
    assert_eq!(ids(&r, "skipped"), ["delete-hub-deployment:nublado2"]);
}

#[test]
fn a_preview_that_grows_between_attempts_asks_again() {
    let dir = state();
    let grows = Arc::new(AtomicU32::new(0));
    let g = grows.clone();
    // A destructive step whose first attempt fails (retryable) and whose second preview finds
    // one more namespace: the operator confirmed two, so they are asked again for three.
    struct Growing {
        inner: Fake,
        calls: Arc<AtomicU32>,
    }
    impl StepRunner for Growing {
        fn id(&self) -> &str {
            self.inner.id()
        }
        fn title(&self) -> String {
            self.inner.title()
        }
        fn destructive(&self) -> bool {
            true
        }
        fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError> {
            let mut p = self.inner.preview(op)?;
            if self.calls.fetch_add(1, Ordering::SeqCst) > 0 {
                p.action = Action::Run {
                    touches: vec![
                        "namespace/a".into(),
                        "namespace/b".into(),
                        "namespace/c".into(),
                    ],
                };
            }
            Ok(p)
        }
        fn run(&self, p: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
            self.inner.run(p, op)
        }
    }
    let inner = Fake::new("delete-lab-namespaces:nublado")
        .destructive(&["namespace/a", "namespace/b"])
        .behaves(|n| {
            if n == 1 {
                Err(StepError::retry("500 from the API server"))
            } else {
                Ok(Outcome::default())
            }
        });
    let step = Growing {
        inner: inner.clone(),
        calls: g,
    };
    let mut op = Scripted::answering(&[true, true]);
    let mut j = dir.journal();
    let r = engine::run(vec![Box::new(step)], &opts(), &mut j, &mut op).unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(op.asked.len(), 2, "{:?}", op.asked);
    assert!(
        op.asked[1].contains("now will touch 3 objects"),
        "{}",
        op.asked[1]
    );
    assert_eq!(inner.runs(), 2);
    assert_eq!(grows.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Selection and resume

fn ran(steps: &[Fake]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.runs() > 0)
        .map(|s| s.id.clone())
        .collect()
}

fn plain(ids: &[&str]) -> Vec<Fake> {
    ids.iter().map(|i| Fake::new(i)).collect()
}

const IDS: [&str; 5] = [
    "stop-mobu-flocks",
    "delete-lab-namespaces:nublado2",
    "delete-lab-namespaces:nublado",
    "sync-app:nublado",
    "restore-mobu",
];

fn run_selected(f: impl FnOnce(&mut ExecOptions)) -> (Vec<String>, engine::RunReport) {
    let dir = state();
    let steps = plain(&IDS);
    let refs: Vec<&Fake> = steps.iter().collect();
    let mut o = opts();
    f(&mut o);
    let r = run(&refs, &o, &dir, &mut Scripted::default()).unwrap();
    (ran(&steps), r)
}

#[test]
fn from_only_and_skip_select_steps() {
    let (r, rep) = run_selected(|o| o.from = Some("sync-app:nublado".into()));
    assert_eq!(r, ["sync-app:nublado", "restore-mobu"]);
    assert_eq!(
        rep.steps[0].status,
        StepStatus::Excluded {
            reason: "before --from sync-app:nublado".into()
        }
    );
    let (r, _) = run_selected(|o| o.only = vec!["restore-mobu".into(), "stop-mobu-flocks".into()]);
    assert_eq!(r, ["stop-mobu-flocks", "restore-mobu"]);
    // A kind names every step of that kind.
    let (r, _) = run_selected(|o| o.only = vec!["delete-lab-namespaces".into()]);
    assert_eq!(
        r,
        [
            "delete-lab-namespaces:nublado2",
            "delete-lab-namespaces:nublado"
        ]
    );
    let (r, _) = run_selected(|o| {
        o.skip = vec![
            "delete-lab-namespaces:nublado".into(),
            "restore-mobu".into(),
        ]
    });
    assert_eq!(
        r,
        [
            "stop-mobu-flocks",
            "delete-lab-namespaces:nublado2",
            "sync-app:nublado"
        ]
    );
    let (r, _) = run_selected(|o| {
        o.from = Some("delete-lab-namespaces".into());
        o.skip = vec!["sync-app:nublado".into()];
    });
    assert_eq!(
        r,
        [
            "delete-lab-namespaces:nublado2",
            "delete-lab-namespaces:nublado",
            "restore-mobu"
        ]
    );
}

#[test]
fn unknown_step_ids_are_a_usage_error_listing_the_runbook() {
    let dir = state();
    let steps = plain(&IDS);
    let refs: Vec<&Fake> = steps.iter().collect();
    let mut o = opts();
    o.only = vec!["sync-app:nublad".into()];
    o.skip = vec!["reboot".into()];
    let err = run(&refs, &o, &dir, &mut Scripted::default()).unwrap_err();
    assert!(err.is_usage());
    assert_eq!(
        err.to_string(),
        "unknown steps `sync-app:nublad` (did you mean `sync-app:nublado`?), `reboot`; the steps of this runbook are: stop-mobu-flocks, delete-lab-namespaces:nublado2, delete-lab-namespaces:nublado, sync-app:nublado, restore-mobu"
    );
    let mut o = opts();
    o.only = vec!["restore-mobu".into()];
    o.from = Some("stop-mobu-flocks".into());
    assert!(
        run(&refs, &o, &dir, &mut Scripted::default())
            .unwrap_err()
            .is_usage()
    );
    assert!(steps.iter().all(|s| s.runs() == 0));
}

#[test]
fn resume_skips_the_steps_the_journal_records_as_finished() {
    let dir = state();
    let flaky = Fake::new("sync-app:nublado").behaves(|n| {
        if n == 1 {
            Err(StepError::fatal("the sync failed: ComparisonError"))
        } else {
            Ok(Outcome {
                touched: vec!["application/nublado".into()],
                summary: "synced".into(),
            })
        }
    });
    let mut steps = plain(&["stop-mobu-flocks", "delete-lab-namespaces:nublado2"]);
    steps.push(flaky);
    steps.push(Fake::new("restore-mobu"));
    let refs: Vec<&Fake> = steps.iter().collect();
    let r = run(&refs, &opts(), &dir, &mut Scripted::default()).unwrap();
    assert_eq!(
        r.status,
        RunStatus::Failed {
            step: "sync-app:nublado".into(),
            error: "the sync failed: ComparisonError".into()
        }
    );
    assert_eq!(steps[3].runs(), 0);

    let mut o = opts();
    o.resume = true;
    let mut op = Scripted::default();
    let r = run(&refs, &o, &dir, &mut op).unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    let counts: Vec<u32> = steps.iter().map(Fake::runs).collect();
    assert_eq!(counts, [1, 1, 2, 1], "finished steps ran again");
    assert_eq!(
        ids(&r, "already done"),
        ["stop-mobu-flocks", "delete-lab-namespaces:nublado2"]
    );

    // Without --resume, an earlier unfinished run is pointed out, and everything runs again.
    let dir2 = state();
    let refs2: Vec<&Fake> = steps.iter().collect();
    let _ = run(&refs2[..3], &opts(), &dir2, &mut Scripted::default()).unwrap();
    let mut j = dir2.journal();
    // A run killed mid-way: a start without an end.
    j.append(Entry::RunStart {
        at: "2026-01-01T00:00:00Z".into(),
        run: "killed".into(),
        pid: 1,
        host: "h".into(),
        user: "u".into(),
        command: "x".into(),
        window: None,
    })
    .unwrap();
    let mut op = Scripted::default();
    let r = engine::run(
        refs2.iter().map(|s| s.boxed()).collect(),
        &opts(),
        &mut j,
        &mut op,
    )
    .unwrap();
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("earlier run (killed) was interrupted")),
        "{:?}",
        r.notes
    );

    // Every step finished: the window is done, and is not silently resumed.
    let mut o = opts();
    o.resume = true;
    let mut op = Scripted::default();
    let before: Vec<u32> = steps.iter().map(Fake::runs).collect();
    let e = run(&refs, &o, &dir, &mut op).unwrap_err();
    assert!(matches!(e, ExecError::NothingToResume { .. }), "{e}");
    assert!(!e.is_usage());
    assert!(
        e.to_string()
            .starts_with("nothing to resume: the last run of this runbook (")
            && e.to_string()
                .ends_with(") completed; run without --resume to start a new window"),
        "{e}"
    );
    assert_eq!(before, steps.iter().map(Fake::runs).collect::<Vec<_>>());
    // Without --resume it is a new window: every step runs again.
    let r = run(&refs, &opts(), &dir, &mut Scripted::default()).unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(r.window, r.run);
    let after: Vec<u32> = steps.iter().map(Fake::runs).collect();
    assert_eq!(
        after,
        before.iter().map(|n| n + 1).collect::<Vec<_>>(),
        "a new window runs every step again"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries and timeouts

#[test]
fn retryable_errors_are_retried_with_exponential_backoff() {
    let dir = state();
    let sleeps = Arc::new(Mutex::new(Vec::new()));
    let step = Fake::new("delete-lab-namespaces:nublado2").behaves(|n| {
        if n <= 3 {
            Err(StepError::retry(format!(
                "500 Internal Server Error (call {n})"
            )))
        } else {
            Ok(Outcome {
                touched: vec!["namespace/nublado2-alice".into()],
                summary: "deleted 1".into(),
            })
        }
    });
    let r = run(&[&step], &options(&sleeps), &dir, &mut Scripted::default()).unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(step.runs(), 4);
    assert_eq!(r.steps[0].attempts, 4);
    let ms: Vec<u128> = sleeps
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_millis)
        .collect();
    assert_eq!(ms, [1000, 2000, 4000]);
    let events = dir.events();
    assert_eq!(
        events,
        [
            "run-start",
            "start delete-lab-namespaces:nublado2",
            "retry delete-lab-namespaces:nublado2",
            "retry delete-lab-namespaces:nublado2",
            "retry delete-lab-namespaces:nublado2",
            "end delete-lab-namespaces:nublado2 done",
            "run-end completed"
        ]
    );
    assert_eq!(dir.lines()[4]["wait_ms"], 4000);
}

#[test]
fn retries_are_bounded_and_fatal_errors_are_not_retried() {
    let dir = state();
    let sleeps = Arc::new(Mutex::new(Vec::new()));
    let always = Fake::new("sync-app:nublado")
        .behaves(|_| Err(StepError::retry("another operation is already in progress")));
    let r = run(
        &[&always],
        &options(&sleeps),
        &dir,
        &mut Scripted::default(),
    )
    .unwrap();
    assert_eq!(always.runs(), 5);
    assert_eq!(
        r.status,
        RunStatus::Failed {
            step: "sync-app:nublado".into(),
            error: "another operation is already in progress (tried 5 times over 15s)".into()
        }
    );
    let ms: Vec<u128> = sleeps
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_millis)
        .collect();
    assert_eq!(
        ms,
        [1000, 2000, 4000, 8000],
        "the backoff doubles up to its maximum, within the budget"
    );

    let dir = state();
    let fatal = Fake::new("sync-app:nublado").behaves(|_| Err(StepError::fatal("403 Forbidden")));
    let r = run(&[&fatal], &opts(), &dir, &mut Scripted::default()).unwrap();
    assert_eq!(fatal.runs(), 1);
    assert!(matches!(r.status, RunStatus::Failed { .. }));
}

#[test]
fn a_slow_step_times_out_instead_of_retrying_past_its_timeout() {
    let dir = state();
    let mut slow = Fake::new("check-route:/n3")
        .reading()
        .behaves(|_| Err(StepError::retry("503 Service Unavailable")));
    slow.delay = Duration::from_millis(40);
    slow.timeout = Duration::from_millis(50);
    // Real sleeps: the backoff counts against the timeout.
    let mut o = opts();
    o.sleep = Box::new(std::thread::sleep);
    o.retry = RetryPolicy {
        first: Duration::from_millis(20),
        max_pause: Duration::from_millis(20),
        budget: Duration::from_secs(3600),
        jitter: false,
        tries: None,
    };
    let t0 = Instant::now();
    let r = run(&[&slow], &o, &dir, &mut Scripted::default()).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2));
    match &r.status {
        RunStatus::Failed { error, .. } => {
            assert!(error.starts_with("timed out after 50ms"), "{error}");
            assert!(error.ends_with("503 Service Unavailable"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(slow.runs() <= 2, "ran {} times", slow.runs());
}

#[test]
fn a_step_stuck_past_its_timeout_calls_the_watchdog() {
    let dir = state();
    let mut stuck = Fake::new("delete-lab-namespaces:nublado");
    stuck.delay = Duration::from_millis(400);
    stuck.timeout = Duration::from_millis(20);
    let fired = Arc::new(Mutex::new(None));
    let f = fired.clone();
    let mut o = opts();
    o.stuck_grace = Duration::ZERO;
    o.on_stuck = Some(Arc::new(move |s: &engine::Stuck| {
        *f.lock().unwrap() = Some((s.step.clone(), s.timeout, s.journal.clone()));
    }));
    // A quick step must not fire it.
    let quick = Fake::new("sync-app:nublado");
    let r = run(&[&quick, &stuck], &o, &dir, &mut Scripted::default()).unwrap();
    let got = fired.lock().unwrap().clone();
    let (step, timeout, journal) = got.expect("the watchdog did not fire");
    assert_eq!(step, "delete-lab-namespaces:nublado");
    assert_eq!(timeout, Duration::from_millis(20));
    assert_eq!(journal, dir.files.journal());
    // The step finished late; the engine takes its result and says so.
    assert_eq!(r.status, RunStatus::Completed);
}

// ---------------------------------------------------------------------------------------------
// The kube-context hook

#[test]
fn the_context_is_checked_once_before_the_first_mutating_step() {
    let dir = state();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let reader = Fake::new("check-route:/nb").reading();
    let writer = Fake::new("stop-mobu-flocks");
    let writer2 = Fake::new("restore-mobu");
    let mut o = opts();
    o.proof = Some(Box::new(move |op: &mut dyn Operator, _run: &str| {
        c.fetch_add(1, Ordering::SeqCst);
        op.say("kube context `dev` checked");
        Ok(vec!["cluster `dev` proved".into()])
    }));
    let r = run(
        &[&reader, &writer, &writer2],
        &o,
        &dir,
        &mut Scripted::default(),
    )
    .unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A mismatch stops the run before any mutation; reading steps before it have run.
    let dir = state();
    let reader = Fake::new("check-route:/nb").reading();
    let writer = Fake::new("stop-mobu-flocks").destructive(&["flock/a"]);
    let mut o = opts();
    o.yes = true;
    o.proof = Some(Box::new(|_op: &mut dyn Operator, _run: &str| {
        Err("the current kube context is `prod`, but `idfdev` runs in `dev`".into())
    }));
    let r = run(
        &[&reader, &writer, &writer2],
        &o,
        &dir,
        &mut Scripted::default(),
    )
    .unwrap();
    assert_eq!(
        r.status,
        RunStatus::Refused {
            reason: "the current kube context is `prod`, but `idfdev` runs in `dev`".into()
        }
    );
    assert_eq!(reader.runs(), 1);
    assert_eq!(
        writer.runs() + writer.previews(),
        0,
        "a mutating step was touched"
    );
    assert_eq!(dir.events().last().unwrap(), "run-end refused");
}

// ---------------------------------------------------------------------------------------------
// Redaction

#[test]
fn secrets_never_reach_the_output_the_journal_or_the_report() {
    let dir = state();
    let secret = "s3cr3t-t0ken-value";
    let step = Fake::new("sync-app:nublado").behaves(move |n| {
        if n == 1 {
            Err(StepError::retry(format!("401 with Bearer {secret}")))
        } else {
            Ok(Outcome {
                touched: vec![format!("application/{secret}")],
                summary: format!("token {secret} used"),
            })
        }
    });
    let mut touching = Fake::new("stop-mobu-flocks").destructive(&[]);
    touching.touches = vec![format!("flock/{secret}")];
    let mut o = opts();
    o.yes = true;
    o.write_report = true;
    o.command = format!("nublado x --env {secret}");
    o.redactor = Redactor::new([secret.to_string(), String::new()]);
    let mut op = Scripted::default();
    let r = run(&[&touching, &step], &o, &dir, &mut op).unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    let journal = std::fs::read_to_string(dir.files.journal()).unwrap();
    let report_text = std::fs::read_to_string(r.report_path.as_ref().unwrap()).unwrap();
    let said = op.said.join("\n") + &op.asked.join("\n") + &op.progress.join("\n");
    for (what, text) in [
        ("journal", &journal),
        ("report", &report_text),
        ("operator", &said),
    ] {
        assert!(
            !text.contains(secret),
            "the secret is in the {what}:\n{text}"
        );
    }
    assert!(journal.contains("[redacted]"));
    assert!(report_text.contains("application/[redacted]"));
}

// ---------------------------------------------------------------------------------------------
// Journal

#[test]
fn the_journal_is_json_lines_and_tolerates_a_torn_last_line() {
    let dir = state();
    let steps = plain(&["stop-mobu-flocks", "sync-app:nublado"]);
    let refs: Vec<&Fake> = steps.iter().collect();
    run(&refs, &opts(), &dir, &mut Scripted::default()).unwrap();
    let lines = dir.lines();
    assert_eq!(lines.len(), 6);
    let end = &lines[2];
    assert_eq!(end["event"], "end");
    assert_eq!(end["step"], "stop-mobu-flocks");
    assert_eq!(end["outcome"], "done");
    assert_eq!(end["message"], "stop-mobu-flocks ok");
    assert!(end["duration_ms"].is_u64() && end["at"].as_str().unwrap().ends_with('Z'));
    assert!(lines[0]["pid"].is_u64() && lines[0]["host"].is_string());

    // A crash in the middle of writing the run's last line.
    let path = dir.files.journal();
    let whole = std::fs::read_to_string(&path).unwrap();
    let last = whole.trim_end().rfind('\n').unwrap() + 1;
    std::fs::write(&path, &whole.as_bytes()[..last + 20]).unwrap();
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.entries().len(), 5);
    assert!(j.torn_line().unwrap().starts_with(r#"{"event":"run-end""#));
    let window = j.window_of(j.unfinished_run().unwrap().0).to_string();
    assert!(j.finished("sync-app:nublado", &window).is_some());

    // The next run cuts the torn line off and appends whole lines.
    let mut o = opts();
    o.resume = true;
    let mut extra = plain(&["stop-mobu-flocks", "sync-app:nublado"]);
    extra.push(Fake::new("restore-mobu"));
    let refs: Vec<&Fake> = extra.iter().collect();
    let r = run(&refs, &o, &dir, &mut Scripted::default()).unwrap();
    assert!(
        r.notes.iter().any(|n| n.contains("cut short by a crash")),
        "{:?}",
        r.notes
    );
    assert_eq!(extra[2].runs(), 1);
    assert_eq!(extra[0].runs(), 0);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    // Its start, two notes (the torn line, the resumed window), one step, its end.
    assert_eq!(dir.lines().len(), 5 + 6, "{text}");

    // A damaged line in the middle is an error, not silently skipped.
    let damaged = text.replacen("\"event\":\"end\"", "\"event\":\"nonsense\"", 1);
    std::fs::write(&path, damaged).unwrap();
    let e = Journal::open(&path).unwrap_err();
    assert!(e.to_string().contains(":3: not a journal entry"), "{e}");
}

#[test]
fn the_journal_lives_under_the_state_directory() {
    let files = RunFiles::new(Path::new("/state"), "nublado", "make-default", "idfdev");
    assert_eq!(
        files.journal(),
        Path::new("/state/runs/nublado/make-default/idfdev.jsonl")
    );
    assert_eq!(
        files.lock(),
        Path::new("/state/runs/nublado/make-default/idfdev.lock")
    );
    assert_eq!(
        files.report("20260101T000000Z-1"),
        Path::new("/state/runs/nublado/make-default/idfdev-20260101T000000Z-1.md")
    );
}

// ---------------------------------------------------------------------------------------------
// Lock

#[test]
fn a_held_lock_refuses_a_second_run() {
    let dir = state();
    let first = Lock::acquire(&dir.files.lock()).unwrap();
    assert!(first.stale().is_none());
    let err = Lock::acquire(&dir.files.lock()).unwrap_err();
    match &err {
        LockError::Held { holder, .. } => {
            assert_eq!(holder.as_ref().unwrap().pid, std::process::id())
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.starts_with("another run of this runbook is going on:"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    drop(first);
    assert!(
        !dir.files.lock().exists(),
        "the lock was not released on drop"
    );
    let again = Lock::acquire(&dir.files.lock()).unwrap();
    again.release().unwrap();
    assert!(!dir.files.lock().exists());
}

#[test]
fn the_lock_is_the_kernels_and_a_crashed_holder_leaves_it_free() {
    let dir = state();
    // A file left by a run that ended without releasing it (the kernel released its lock):
    // what it names is reported, and the lock is taken.
    let stale = Holder {
        pid: 4242,
        host: "elsewhere.example".into(),
        user: "someone".into(),
        started: "2026-01-01T00:00:00Z".into(),
        run: String::new(),
    };
    std::fs::create_dir_all(dir.files.lock().parent().unwrap()).unwrap();
    std::fs::write(dir.files.lock(), serde_json::to_string(&stale).unwrap()).unwrap();
    let lock = Lock::acquire(&dir.files.lock()).unwrap();
    assert_eq!(lock.stale(), Some(&stale));
    assert_eq!(lock.holder().pid, std::process::id());
    let text = std::fs::read_to_string(dir.files.lock()).unwrap();
    assert!(
        text.contains(&format!("\"pid\":{}", std::process::id())),
        "{text}"
    );
    drop(lock);

    // A lock held by another process (flock(1) on the same file) refuses, whatever its pid.
    std::fs::write(dir.files.lock(), serde_json::to_string(&stale).unwrap()).unwrap();
    let ready = dir.files.dir().join("flock-ready");
    let mut holder = Command::new("flock")
        .args(["--exclusive", "--close"])
        .arg(dir.files.lock())
        .args(["sh", "-c", "touch \"$0\"; read line"])
        .arg(&ready)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("flock(1) from util-linux");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "flock(1) never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    let refused = Lock::acquire(&dir.files.lock()).unwrap_err();
    assert!(matches!(refused, LockError::Held { .. }), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("someone (pid 4242 on elsewhere.example"),
        "{refused}"
    );
    // Its process gone, the lock is free again.
    drop(holder.stdin.take());
    holder.wait().unwrap();
    let lock = Lock::acquire(&dir.files.lock()).unwrap();
    lock.release().unwrap();
    assert!(!dir.files.lock().exists());
}

// ---------------------------------------------------------------------------------------------
// Report and progress

/// The report with its times and durations replaced by placeholders.
fn redact_times(md: &str) -> String {
    md.lines()
        .map(|l| {
            if l.starts_with("- started:") {
                "- started: [time]".to_string()
            } else if l.starts_with("- duration:") {
                "- duration: [duration]".to_string()
            } else if l.starts_with("- run:") {
                "- run: [run]".to_string()
            } else if l.starts_with("- journal:") {
                "- journal: [journal]".to_string()
            } else if l.starts_with("| ") && !l.starts_with("| #") {
                let mut cells: Vec<String> = l.split(" | ").map(str::to_string).collect();
                if cells.len() > 3 && cells[3] != "–" {
                    cells[3] = "[duration]".into();
                }
                cells.join(" | ")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_report_lists_steps_durations_outcomes_and_objects() {
    let dir = state();
    let mut steps = window();
    steps[3] = Fake::new("sync-app:nublado").behaves(|n| {
        if n == 1 {
            Err(StepError::retry("another operation is already in progress"))
        } else {
            Ok(Outcome {
                touched: vec!["application/nublado".into()],
                summary: "Synced, Healthy".into(),
            })
        }
    });
    steps[5] = Fake::new("restore-mobu").behaves(|_| {
        Err(StepError::fatal(
            "Deployment `mobu/mobu` did not become ready in 5 min",
        ))
    });
    let refs: Vec<&Fake> = steps.iter().collect();
    let mut o = opts();
    o.yes = true;
    o.write_report = true;
    o.command = "nublado enable-v3 --env idfdev".into();
    let r = run(&refs, &o, &dir, &mut Scripted::default()).unwrap();
    let path = r.report_path.clone().unwrap();
    assert_eq!(
        path.parent().unwrap(),
        dir.files.journal().parent().unwrap()
    );
    assert!(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("idfdev-")
    );
    let md = std::fs::read_to_string(&path).unwrap();
    assert_eq!(md, report::markdown(&r));
    snapshot("exec_engine__report", redact_times(&md));
}

/// A writer shared with the test.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn progress_is_plain_lines_without_a_terminal_and_nothing_when_quiet() {
    let err = Shared::default();
    let mut op = ConsoleOperator::new(
        Display::Lines,
        Box::new(std::io::empty()),
        Box::new(err.clone()),
    );
    for i in 0..=500 {
        op.progress("delete-lab-namespaces:nublado2", i, 500, "namespaces gone");
    }
    op.say("a line");
    let text = err.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "  delete-lab-namespaces:nublado2: 0/500 namespaces gone",
            "  delete-lab-namespaces:nublado2: 500/500 namespaces gone",
            "a line"
        ],
        "lines are throttled to one a second, plus the last"
    );

    let err = Shared::default();
    let mut op = ConsoleOperator::new(Display::Quiet, Box::new(&b"y\n"[..]), Box::new(err.clone()));
    op.progress("x", 1, 2, "half");
    op.say("hidden");
    assert!(op.confirm("Proceed?"), "a question is asked even under -q");
    assert_eq!(err.text(), "Proceed? [y/N] ");

    // No answer (end of input) is a no.
    let mut op = ConsoleOperator::new(
        Display::Lines,
        Box::new(std::io::empty()),
        Box::new(Shared::default()),
    );
    assert!(!op.confirm("Proceed?"));
}

// ---------------------------------------------------------------------------------------------
// A crash: SIGKILL mid-run, then --resume

const CHILD: &str = "GITOPS_MIGRATE_TEST_CRASH_CHILD";

fn crash_steps(state: &Path) -> (Fake, Fake, Fake) {
    let tally = state.join("tally");
    let mut first = Fake::new("stop-mobu-flocks");
    first.tally = Some(tally.clone());
    let mut blocking = Fake::new("delete-lab-namespaces:nublado2");
    blocking.tally = Some(tally.clone());
    let mut last = Fake::new("restore-mobu");
    last.tally = Some(tally);
    (first, blocking, last)
}

/// Runs in a child process (the test binary itself, with `CHILD` set): takes the lock and runs
/// the engine; its second step blocks until the parent kills the process. Ignored in normal
/// runs: the parent runs it by name with `--ignored`.
#[test]
#[ignore = "the child process of a_killed_run_resumes_without_repeating_finished_steps"]
fn crash_child() {
    let state = PathBuf::from(
        std::env::var_os(CHILD)
            .expect("run as the child of a_killed_run_resumes_without_repeating_finished_steps"),
    );
    let files = RunFiles::new(&state, "nublado", "enable-v3", "idfdev");
    let _lock = Lock::acquire(&files.lock()).unwrap();
    let (first, mut blocking, last) = crash_steps(&state);
    blocking.delay = Duration::from_secs(120);
    let mut j = Journal::open(&files.journal()).unwrap();
    let mut o = opts();
    o.yes = true;
    let _ = engine::run(
        vec![first.boxed(), blocking.boxed(), last.boxed()],
        &o,
        &mut j,
        &mut Scripted::default(),
    );
    unreachable!("the parent kills this process first");
}

#[test]
fn a_killed_run_resumes_without_repeating_finished_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let files = RunFiles::new(tmp.path(), "nublado", "enable-v3", "idfdev");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "exec_engine::crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child is inside the blocking step, after the first one finished.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(files.journal()).unwrap_or_default();
        if text.contains(r#""event":"start","at""#)
            && text.contains(r#""step":"delete-lab-namespaces:nublado2""#)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child never reached the blocking step: {text}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The lock of the killed run is stale and taken over.
    let lock = Lock::acquire(&files.lock()).unwrap();
    assert_eq!(lock.stale().map(|h| h.pid), Some(child.id()));

    let (first, blocking, last) = crash_steps(tmp.path());
    let mut j = Journal::open(&files.journal()).unwrap();
    let window = j.window_of(j.unfinished_run().unwrap().0).to_string();
    assert!(j.finished("stop-mobu-flocks", &window).is_some());
    assert!(
        j.finished("delete-lab-namespaces:nublado2", &window)
            .is_none()
    );
    let mut o = opts();
    o.yes = true;
    o.resume = true;
    let r = engine::run(
        vec![first.boxed(), blocking.boxed(), last.boxed()],
        &o,
        &mut j,
        &mut Scripted::default(),
    )
    .unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(first.runs(), 0, "the finished step ran again");
    let tally = std::fs::read_to_string(tmp.path().join("tally")).unwrap();
    assert_eq!(
        tally,
        "stop-mobu-flocks run 1\ndelete-lab-namespaces:nublado2 run 1\ndelete-lab-namespaces:nublado2 run 1\nrestore-mobu run 1\n",
        "across both processes, only the interrupted step ran twice"
    );
    drop(lock);
    let events: Vec<String> = std::fs::read_to_string(files.journal())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Entry>(l).unwrap())
        .filter_map(|e| match e {
            Entry::End { step, outcome, .. } => Some(format!("{step} {}", outcome.name())),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        [
            "stop-mobu-flocks done",
            "delete-lab-namespaces:nublado2 done",
            "restore-mobu done"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// `exec` through the binary (what needs no cluster)

fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phalanx"),
        dir.path(),
    );
    dir
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn exec(repo: &Path, state: &Path, args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .arg("-C")
        .arg(repo)
        .args(["--color", "never", "exec", "nublado"])
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env("KUBECONFIG", state.join("no-kubeconfig"))
        .env_remove("ARGOCD_TOKEN")
        .env_remove("MOBU_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn exec_usage_errors_exit_2() {
    let repo = fixture_copy();
    let state = tempfile::tempdir().unwrap();
    let r = exec(
        repo.path(),
        state.path(),
        &["make-default", "--env", "idfdev", "--only", "nope"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("unknown step `nope`; the steps of this runbook are: stop-mobu-flocks, "),
        "{}",
        r.stderr
    );
    let r = exec(
        repo.path(),
        state.path(),
        &["make-defaults", "--env", "idfdev"],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did you mean `make-default`?"),
        "{}",
        r.stderr
    );
    let r = exec(
        repo.path(),
        state.path(),
        &["make-default", "--env", "idfdevv"],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown environment `idfdevv` (did you mean `idfdev`?)"),
        "{}",
        r.stderr
    );
    let r = exec(
        repo.path(),
        state.path(),
        &["make-default", "--env", "idfdev", "--env", "idfint"],
    );
    assert_eq!(r.code, 2);
    // Tokens are never arguments.
    let r = exec(
        repo.path(),
        state.path(),
        &["make-default", "--env", "idfdev", "--token", "x"],
    );
    assert_eq!(r.code, 2);
    assert!(
        !state.path().join("runs").exists(),
        "a usage error wrote state"
    );
}

#[test]
fn exec_dry_run_lists_every_step_and_writes_nothing() {
    let repo = fixture_copy();
    let state = tempfile::tempdir().unwrap();
    let r = exec(
        repo.path(),
        state.path(),
        &["make-default", "--env", "idfdev", "--dry-run"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .starts_with("Dry run of `gitops-migrate exec nublado make-default --env idfdev`"),
        "{}",
        r.stdout
    );
    for id in [
        "stop-mobu-flocks",
        "delete-hub-deployment:nublado",
        "delete-lab-namespaces:nublado2",
        "sync-app:mobu",
        "restore-mobu",
        "manual:test-lab",
    ] {
        assert!(
            r.stdout.contains(&format!(". {id}")),
            "{id} missing:\n{}",
            r.stdout
        );
    }
    assert!(
        r.stdout
            .contains("no kube context is configured for `idfdev`"),
        "{}",
        r.stdout
    );
    assert!(!state.path().join("runs").exists(), "a dry run wrote state");
    // The environment is not merged past make-default yet: a warning, not a refusal.
    assert!(r.stderr.contains("still `v3-beside`"), "{}", r.stderr);
}

#[test]
fn exec_refuses_an_environment_that_is_not_at_the_stage_yet() {
    let repo = fixture_copy();
    let state = tempfile::tempdir().unwrap();
    // idfprod is v2-only: make-default's window cannot come yet (a rehearsal either).
    let r = exec(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfprod",
            "--yes",
            "--allow-unmerged",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("`idfprod` is `v2-only`"), "{}", r.stderr);
    assert!(
        r.stderr.contains("its next stage is `enable-v3`"),
        "{}",
        r.stderr
    );
}

#[test]
fn exec_refuses_steps_that_cannot_run_and_runs_what_can() {
    let repo = fixture_copy();
    let state = tempfile::tempdir().unwrap();
    // Without a configured client the cluster steps are not available: nothing runs.
    let r = exec(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfdev",
            "--yes",
            "--allow-unmerged",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot run in this version: `stop-mobu-flocks` ("),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was run"), "{}", r.stderr);
    let files = RunFiles::new(state.path(), "nublado", "make-default", "idfdev");
    assert!(!files.journal().exists());
    assert!(!files.lock().exists(), "the lock was left behind");

    // --yes does not answer a manual step: without a terminal it is refused before it runs.
    let r = exec(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfdev",
            "--only",
            "manual:test-lab",
            "--yes",
            "--allow-unmerged",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no terminal to ask for confirmation of `manual:test-lab` (--yes-manual)"),
        "{}",
        r.stderr
    );
    assert!(!files.journal().exists());

    // The manual step alone runs with --yes-manual: auto-confirmed, journaled, reported so.
    let r = exec(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfdev",
            "--only",
            "manual:test-lab",
            "--yes-manual",
            "--allow-unmerged",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report_line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("report: "))
        .expect(&r.stdout);
    let report_path = PathBuf::from(report_line.trim_start_matches("report: "));
    let md = std::fs::read_to_string(&report_path).unwrap();
    assert!(md.contains("| `manual:test-lab` | done |"), "{md}");
    assert!(
        md.contains("done by hand; auto-confirmed (--yes-manual)"),
        "{md}"
    );
    assert!(md.contains("- note: --allow-unmerged: "), "{md}");
    let journal = std::fs::read_to_string(files.journal()).unwrap();
    assert!(
        journal.contains(r#""step":"manual:test-lab","outcome":"done""#),
        "{journal}"
    );
    assert!(
        journal.contains(r#""event":"confirm","#)
            && journal.contains(r#""step":"manual:test-lab","by":"--yes-manual","answer":true"#),
        "{journal}"
    );
    assert!(
        journal.contains(r#""event":"note","#) && journal.contains("--allow-unmerged: "),
        "{journal}"
    );
    assert!(!files.lock().exists(), "the lock was not released");

    // Without a terminal and without --yes, the manual step is refused before it runs.
    let r = exec(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfdev",
            "--only",
            "manual:test-lab",
            "--allow-unmerged",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no terminal to ask for confirmation of `manual:test-lab`"),
        "{}",
        r.stderr
    );
}

#[test]
fn exec_refuses_while_another_run_holds_the_lock() {
    let repo = fixture_copy();
    let state = tempfile::tempdir().unwrap();
    let files = RunFiles::new(state.path(), "nublado", "make-default", "idfdev");
    let held = Lock::acquire(&files.lock()).unwrap();
    let r = exec(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfdev",
            "--only",
            "manual:test-lab",
            "--yes-manual",
            "--allow-unmerged",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("another run of this runbook is going on"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("pid {}", std::process::id())),
        "{}",
        r.stderr
    );
    drop(held);

    // A lock file left by a run that ended without releasing it: reported and taken.
    let stale = Holder {
        pid: 999_999_999,
        host: gitops_migrate::runtime::journal::host_name(),
        user: "someone".into(),
        started: "2026-01-01T00:00:00Z".into(),
        run: String::new(),
    };
    std::fs::write(files.lock(), serde_json::to_string(&stale).unwrap()).unwrap();
    let r = exec(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfdev",
            "--only",
            "manual:test-lab",
            "--yes-manual",
            "--allow-unmerged",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("took over a stale lock: someone (pid 999999999"),
        "{}",
        r.stderr
    );
}

#[test]
fn exec_dry_run_names_the_context_checked_before_the_first_mutation() {
    let repo = fixture_copy();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("gitops-migrate.toml"),
        "[environments.idfdev]\ncontext = \"gke_dev\"\n",
    )
    .unwrap();
    let r = exec(
        repo.path(),
        state.path(),
        &["make-default", "--env", "idfdev", "--dry-run"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("before `stop-mobu-flocks`, the current kube context must be `gke_dev`, its cluster the one recorded for `idfdev` (API server and kube-system UID), and the run takes a lease there."),
        "{}",
        r.stdout
    );
}

const KUBECONFIG: &str = r#"apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: dev
  cluster: {server: "http://127.0.0.1:9"}
- name: prod
  cluster: {server: "https://prod.example:6443"}
contexts:
- name: dev
  context: {cluster: dev, user: u}
- name: prod
  context: {cluster: prod, user: u}
users:
- name: u
  user: {token: kube-test-token}
"#;

/// `exec` with a kubeconfig whose current context is `prod`, the context `dev` configured for
/// idfdev, and Argo CD on a port nothing listens on (never reached: the check comes first).
fn exec_with_kubeconfig(repo: &Path, state: &Path, args: &[&str]) -> Ran {
    std::fs::write(state.join("kubeconfig"), KUBECONFIG).unwrap();
    std::fs::write(
        repo.join("gitops-migrate.toml"),
        "[environments.idfdev]\ncontext = \"dev\"\nargocd_url = \"http://127.0.0.1:9/argo-cd\"\nargocd_token_env = \"GM_TEST_ARGOCD\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"))
        .arg("-C")
        .arg(repo)
        .args(["--color", "never", "exec", "nublado"])
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env("KUBECONFIG", state.join("kubeconfig"))
        .env("GM_TEST_ARGOCD", "argocd-test-token-value")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn exec_stops_before_any_mutation_in_the_wrong_kube_context() {
    let repo = fixture_copy();
    let state = tempfile::tempdir().unwrap();
    let r = exec_with_kubeconfig(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfdev",
            "--only",
            "sync-app:nublado2",
            "--allow-unmerged",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("stopped before any change: the current kube context is `prod`, but `idfdev` runs in `dev` (configured); switch with `kubectl config use-context dev`"),
        "{}",
        r.stderr
    );
    let files = RunFiles::new(state.path(), "nublado", "make-default", "idfdev");
    let journal = std::fs::read_to_string(files.journal()).unwrap();
    assert!(
        !journal.contains(r#""event":"start""#),
        "a step started: {journal}"
    );
    assert!(journal.contains(r#""result":"refused""#), "{journal}");
    assert!(r.stdout.contains("report: "), "{}", r.stdout);
    for text in [&r.stdout, &r.stderr, &journal] {
        assert!(!text.contains("argocd-test-token-value") && !text.contains("kube-test-token"));
    }
}

#[test]
fn exec_context_flag_shows_the_api_server_and_must_be_confirmed() {
    let repo = fixture_copy();
    let state = tempfile::tempdir().unwrap();
    let r = exec_with_kubeconfig(
        repo.path(),
        state.path(),
        &[
            "make-default",
            "--env",
            "idfdev",
            "--only",
            "sync-app:nublado2",
            "--context",
            "prod",
            "--allow-unmerged",
        ],
    );
    // No terminal to confirm on (and no --yes): refused before any change.
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("--context `prod`: API server https://prod.example:6443. Make the changes of `idfdev` there? no (no terminal to ask on; a person must confirm this: run on a terminal, or pass --yes-manual)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("replaces the configured context `dev`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("stopped before any change: --context `prod` was not confirmed"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// The runbook `exec` runs: derived from the stage, whatever the checkout's state

fn phalanx(root: &Path) -> gitops_migrate::repo::Phalanx {
    match gitops_migrate::repo::open(root).unwrap() {
        gitops_migrate::repo::Repo::Phalanx(p) => p,
        _ => panic!("not Phalanx"),
    }
}

#[test]
fn the_window_runbook_is_the_same_before_and_after_the_merge() {
    use gitops_migrate::playbook::nublado::stages::{self, Options, Stage};
    for (stage, env) in [
        (Stage::EnableV3, "idfprod"),
        (Stage::MakeDefault, "idfdev"),
        (Stage::DisableV2, "idfint"),
    ] {
        let repo = fixture_copy();
        let before = phalanx(repo.path());
        let plan = stages::plan(&before, stage, &[env.to_string()], &Options::default()).unwrap();
        let runbook = stages::runbook(&before, stage, before.env(env).unwrap());
        assert_eq!(
            runbook, plan.runbook,
            "{env}: before the merge, the plan's runbook"
        );
        assert!(!runbook.is_empty());
        // Merge: the stage's change is in the checkout, the environment is in the next state.
        plan.changes.apply(repo.path()).unwrap();
        let after = phalanx(repo.path());
        let state =
            gitops_migrate::playbook::nublado::environment_state(&after, after.env(env).unwrap());
        assert_ne!(
            Some(state.state),
            stage.from_state(),
            "{env}: the change did not move it"
        );
        let merged = stages::runbook(&after, stage, after.env(env).unwrap());
        assert_eq!(merged, runbook, "{env}: after the merge, the same window");
    }
}
