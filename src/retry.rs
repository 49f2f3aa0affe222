//! The one retry policy: how long a failing call is tried again, and how long to pause.
//!
//! A call is retried while its error can heal (no answer, a 5xx, 429, a conflict) and its time
//! budget lasts (`RetryPolicy::budget`, or a wait's own deadline when it is sooner); never for
//! what cannot heal (a host name that does not resolve, 401, 403, a bad certificate). Pauses
//! grow exponentially from `first` to `max_pause`, with jitter (a random part of each pause,
//! so that sixteen workers that failed together do not retry in lockstep), and are never
//! shorter than the server's `Retry-After`. An error that comes out of `run` is marked spent
//! (`Retryable::spent`): an outer loop (the engine's step retries) does not retry it again,
//! so retries never nest.
//!
//! Owns: the schedule and the loop. Does not own: which errors heal (the error types say, via
//! `Retryable`), or waiting for a state (the steps' polls, which call through `run` for each
//! listing).

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use crate::util::time::human;

/// What the loop needs to know about an error.
pub trait Retryable: Sized {
    /// Whether trying again may succeed.
    fn heals(&self) -> bool;
    /// How long the server asked to wait (`Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    /// The error once the loop gave up on it (`tries` calls over `spent`): it no longer heals,
    /// and its text says how long it was tried.
    fn spent(self, tries: u32, spent: Duration) -> Self;
}

/// The schedule of retries of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first pause; doubled after each failure.
    pub first: Duration,
    /// The longest pause.
    pub max_pause: Duration,
    /// How long one call may be tried in all (from its first try).
    pub budget: Duration,
    /// Randomize each pause between half and all of it.
    pub jitter: bool,
    /// At most this many calls in all, whatever the budget: for calls that may each take
    /// hours (a copy of home directories), whose retries count tries rather than time
    /// (`budget: Duration::MAX`).
    pub tries: Option<u32>,
}

impl Default for RetryPolicy {
    /// 0.5 s, 1 s, 2 s … 30 s for up to 5 minutes: long enough for a managed control plane's
    /// upgrade, short enough that a dead endpoint is reported within a window.
    fn default() -> RetryPolicy {
        RetryPolicy {
            first: Duration::from_millis(500),
            max_pause: Duration::from_secs(30),
            budget: Duration::from_secs(5 * 60),
            jitter: true,
            tries: None,
        }
    }
}

/// A random number from the standard library's per-process random hash keys (no dependency
/// for a few bits of jitter).
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

impl RetryPolicy {
    /// The pause after the `failures`-th failure (from 1), before jitter and `Retry-After`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max_pause)
    }

    /// The pause after the `failures`-th failure: the backoff with jitter, at least what the
    /// server asked for.
    pub fn pause(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let b = self.backoff(failures);
        let b = if self.jitter && !b.is_zero() {
            let half = b / 2;
            let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
            half + Duration::from_nanos(random() % nanos)
        } else {
            b
        };
        retry_after.map_or(b, |r| b.max(r))
    }

    /// Runs `call` until it succeeds, fails with an error that cannot heal, or the next pause
    /// would pass the budget, or `deadline` instead when given (a wait's own deadline). The
    /// error returned is `spent`.
    pub fn run<T, E: Retryable>(
        &self,
        deadline: Option<Instant>,
        call: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        self.run_pausing(
            deadline,
            |d| {
                std::thread::sleep(d);
                true
            },
            call,
        )
    }

    /// `run`, pausing with `pause`, which returns `false` when the caller must stop (the run
    /// was interrupted): the last error is then returned at once, spent.
    pub fn run_pausing<T, E: Retryable>(
        &self,
        deadline: Option<Instant>,
        pause_for: impl Fn(Duration) -> bool,
        mut call: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        let start = Instant::now();
        // No end when the budget is past what a clock can hold (`Duration::MAX`).
        let end = deadline.or_else(|| start.checked_add(self.budget));
        let mut failures = 0;
        loop {
            let e = match call() {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            failures += 1;
            if !e.heals() {
                return Err(e);
            }
            let pause = self.pause(failures, e.retry_after());
            let out_of_tries = self.tries.is_some_and(|t| failures >= t);
            if out_of_tries || end.is_some_and(|end| Instant::now() + pause > end) {
                return Err(e.spent(failures, start.elapsed()));
            }
            if !pause_for(pause) {
                return Err(e.spent(failures, start.elapsed()));
            }
        }
    }
}

/// ` (tried N times over 45s)`, for the text of a spent error.
pub fn spent_note(tries: u32, spent: Duration) -> String {
    if tries <= 1 {
        String::new()
    } else {
        format!(" (tried {tries} times over {})", human(spent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E {
        heals: bool,
        after: Option<Duration>,
        note: String,
    }

    impl Retryable for E {
        fn heals(&self) -> bool {
            self.heals
        }
        fn retry_after(&self) -> Option<Duration> {
            self.after
        }
        fn spent(self, tries: u32, spent: Duration) -> E {
            E {
                heals: false,
                after: None,
                note: spent_note(tries, spent),
            }
        }
    }

    fn fail(heals: bool) -> E {
        E {
            heals,
            after: None,
            note: String::new(),
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum_with_jitter_below_it() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(3), Duration::from_secs(2));
        assert_eq!(p.backoff(10), Duration::from_secs(30));
        assert_eq!(p.backoff(400), Duration::from_secs(30));
        let pauses: Vec<Duration> = (0..50).map(|_| p.pause(4, None)).collect();
        assert!(
            pauses
                .iter()
                .all(|d| *d >= Duration::from_secs(2) && *d <= Duration::from_secs(4))
        );
        assert!(
            pauses.iter().any(|d| *d != pauses[0]),
            "jitter varies the pauses"
        );
        assert_eq!(
            p.pause(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn what_cannot_heal_is_tried_once_and_the_budget_ends_the_rest() {
        let p = RetryPolicy {
            first: Duration::from_millis(1),
            max_pause: Duration::from_millis(4),
            budget: Duration::from_millis(60),
            jitter: true,
            tries: None,
        };
        let mut n = 0;
        let e = p.run(None, || -> Result<(), E> {
            n += 1;
            Err(fail(false))
        });
        assert_eq!(n, 1);
        assert!(e.unwrap_err().note.is_empty());
        let (n, e) = calls_until_spent(&p);
        assert!(n > 5, "{n}");
        assert!(
            !e.heals,
            "a spent error is not retried again by an outer loop"
        );
        assert!(
            e.note.starts_with(&format!(" (tried {n} times over ")),
            "{}",
            e.note
        );
        assert_eq!(third_try_succeeds(&p), 3);
    }

    /// How many calls `p` makes of one that always fails (and may heal), and its last error.
    fn calls_until_spent(p: &RetryPolicy) -> (u32, E) {
        let mut n = 0;
        let e = p
            .run(None, || -> Result<(), E> {
                n += 1;
                Err(fail(true))
            })
            .unwrap_err();
        (n, e)
    }

    /// What `p` returns for a call that fails twice, then succeeds with its count.
    fn third_try_succeeds(p: &RetryPolicy) -> u32 {
        let mut n = 0;
        p.run(None, || {
            n += 1;
            if n < 3 { Err(fail(true)) } else { Ok(n) }
        })
        .unwrap()
    }

    #[test]
    fn a_limit_of_tries_ends_retries_without_a_time_budget() {
        let p = RetryPolicy {
            first: Duration::from_millis(1),
            max_pause: Duration::from_millis(2),
            budget: Duration::MAX,
            jitter: true,
            tries: Some(3),
        };
        let (n, e) = calls_until_spent(&p);
        assert_eq!(n, 3, "the first call and two retries");
        assert!(e.note.starts_with(" (tried 3 times over "), "{}", e.note);
        assert_eq!(third_try_succeeds(&p), 3, "the third try may still succeed");
    }

    #[test]
    fn a_retry_after_beyond_the_deadline_ends_at_once() {
        let p = RetryPolicy::default();
        let started = Instant::now();
        let e = p
            .run(
                Some(Instant::now() + Duration::from_millis(100)),
                || -> Result<(), E> {
                    Err(E {
                        heals: true,
                        after: Some(Duration::from_secs(30)),
                        note: String::new(),
                    })
                },
            )
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!e.heals);
    }
}
