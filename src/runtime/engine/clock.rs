//! A step's time as the engine counts it: the machine's, without the time spent waiting for
//! a person's answer (`StepClock`), and the watchdog that calls `on_stuck` when a step passes
//! its timeout on that clock.
//!
//! Owns: the clock and the watchdog thread. Does not own: the step's retries and its timeout
//! (`step`), what a stuck step does (the caller's `StuckHandler`).

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::{ExecOptions, Stuck};
use crate::runtime::StepRunner;

/// A step's time as the watchdog counts it: the machine's, without the time spent waiting for
/// a person's answer.
#[derive(Debug, Clone)]
pub(super) struct StepClock(Arc<std::sync::Mutex<ClockState>>);

#[derive(Debug)]
pub(super) struct ClockState {
    pub(super) started: Instant,
    /// Time spent waiting for answers, finished questions only.
    pub(super) person: Duration,
    /// A question is being asked since then.
    pub(super) asking_since: Option<Instant>,
}

impl StepClock {
    pub(super) fn start() -> StepClock {
        StepClock(Arc::new(std::sync::Mutex::new(ClockState {
            started: Instant::now(),
            person: Duration::ZERO,
            asking_since: None,
        })))
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The machine's time so far.
    pub(super) fn machine(&self) -> Duration {
        let s = self.state();
        let asking = s.asking_since.map(|t| t.elapsed()).unwrap_or_default();
        s.started
            .elapsed()
            .saturating_sub(s.person)
            .saturating_sub(asking)
    }

    pub(super) fn asking(&self) -> bool {
        self.state().asking_since.is_some()
    }

    pub(super) fn pause(&self) {
        self.state().asking_since.get_or_insert_with(Instant::now);
    }

    pub(super) fn resume(&self) {
        let mut s = self.state();
        if let Some(t) = s.asking_since.take() {
            s.person += t.elapsed();
        }
    }
}

/// A watchdog for one step: calls `on_stuck` when the step's machine time passes its timeout
/// (plus the grace), unless dropped first. Time spent waiting for a person's answer does not
/// count; a manual step has none.
pub(super) fn watch(
    opts: &ExecOptions,
    step: &dyn StepRunner,
    run: &str,
    journal: &Path,
    clock: &StepClock,
) -> Option<mpsc::Sender<()>> {
    let handler = opts.on_stuck.clone()?;
    if step.needs_person() {
        return None;
    }
    let (tx, rx) = mpsc::channel::<()>();
    let timeout = step.timeout();
    let stuck = Stuck {
        step: step.id().to_string(),
        run: run.to_string(),
        timeout,
        journal: journal.to_path_buf(),
    };
    let limit = timeout.saturating_add(opts.stuck_grace);
    let poll = (limit / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
    let clock = clock.clone();
    std::thread::spawn(move || {
        loop {
            match rx.recv_timeout(poll) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if !clock.asking() && clock.machine() >= limit {
                        handler(&stuck);
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    Some(tx)
}
