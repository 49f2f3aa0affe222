//! The time limit of the step that is running, so that a retry inside it never outlives it:
//! the engine sets it when a step starts (the step's timeout, counted on the step's clock,
//! which stops while a person is asked) and clears it when the step ends; the retries of a
//! step's calls (`steps::with_retries`, `steps::within_wait`, the rollout wait) end at
//! whichever comes first, their own budget or deadline, or the step's.
//!
//! One slot for the process, like the interrupt flag: a run executes one step at a time, and
//! a step's worker threads (namespace deletes, copies) see the same limit without passing it.
//!
//! Owns: the slot and the cap. Does not own: the step's clock and timeout (the engine), the
//! retry policy (`crate::retry`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Left = Arc<dyn Fn() -> Duration + Send + Sync>;

static CURRENT: Mutex<Option<Left>> = Mutex::new(None);

fn slot() -> std::sync::MutexGuard<'static, Option<Left>> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The limit of a running step; dropping it clears the slot.
#[must_use = "the limit holds only while this guard lives"]
pub struct StepLimit(());

impl Drop for StepLimit {
    fn drop(&mut self) {
        *slot() = None;
    }
}

/// Sets the running step's limit: `left` answers how much of its time is left.
pub fn set(left: impl Fn() -> Duration + Send + Sync + 'static) -> StepLimit {
    *slot() = Some(Arc::new(left));
    StepLimit(())
}

/// When the running step's time ends, if a step is running under the engine.
pub fn deadline() -> Option<Instant> {
    let left = slot().clone()?;
    Some(Instant::now() + left())
}

/// The end of a call's retries: its own `deadline` (a wait's), else `budget` from now, and
/// never past the running step's time.
pub fn cap(deadline: Option<Instant>, budget: Duration) -> Instant {
    let own = deadline.unwrap_or_else(|| Instant::now() + budget);
    match self::deadline() {
        Some(step) => own.min(step),
        None => own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calls_budget_ends_with_the_step() {
        let budget = Duration::from_secs(300);
        // No step running: the budget alone.
        let free = cap(None, budget);
        assert!(free >= Instant::now() + budget - Duration::from_secs(1));
        {
            let _limit = set(|| Duration::from_secs(2));
            let capped = cap(None, budget);
            assert!(capped <= Instant::now() + Duration::from_secs(2));
            // A wait's deadline past the step's end is cut to it; an earlier one stays.
            let wait = Instant::now() + Duration::from_secs(600);
            assert!(cap(Some(wait), budget) <= Instant::now() + Duration::from_secs(2));
            let soon = Instant::now() + Duration::from_millis(100);
            assert_eq!(cap(Some(soon), budget), soon);
        }
        // The step ended: the slot is clear again.
        assert!(deadline().is_none());
    }
}
