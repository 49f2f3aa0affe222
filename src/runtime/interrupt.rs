//! Interrupts (SIGINT, SIGTERM) of a run: the first one asks the run to stop at its next safe
//! point — between steps, between API calls, inside a wait's poll, in the wait of a child
//! process — so that the journal records the step and the run as interrupted, the report is
//! written and the lock and leases are released; a second one exits at once (status 130),
//! leaving a lock that the next run takes over as stale.
//!
//! Owns: the signal handler (installed by the commands that run steps: `exec` and
//! `sync-homes`; every other command keeps the default, where Ctrl-C ends it at once), the
//! flag the safe points read, and an interruptible sleep. Does not own: what a safe point does
//! (the engine's run loop, the steps' waits, `process` forwarding the signal to a child).
//!
//! The handler only does what is async-signal-safe: an atomic increment, a `write` to
//! standard error and `_exit`.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    let n = COUNT.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        SIGNAL.store(sig, Ordering::SeqCst);
        let msg =
            b"\ninterrupted: stopping at the next safe point (interrupt again to exit at once)\n";
        // SAFETY: write(2) is async-signal-safe; the buffer is a static byte string.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
        }
    } else {
        let msg = b"\ninterrupted again: exiting now; the next run takes over the lock (--resume continues)\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(130);
        }
    }
}

/// Installs the handler for SIGINT and SIGTERM (idempotent).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a plain sigaction with a handler that only touches atomics and calls
        // async-signal-safe functions; SA_RESTART keeps blocking calls of other threads going
        // (every safe point polls the flag).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Whether the run was asked to stop.
pub fn requested() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

/// The signal that asked (`SIGINT` or `SIGTERM`), to forward to children.
pub fn signal() -> Option<i32> {
    requested().then(|| SIGNAL.load(Ordering::SeqCst))
}

/// `SIGINT` or `SIGTERM`, for messages.
pub fn name() -> &'static str {
    match SIGNAL.load(Ordering::SeqCst) {
        libc::SIGTERM => "SIGTERM",
        _ => "SIGINT",
    }
}

/// Sleeps `d`, waking early when an interrupt is requested. `false` when interrupted.
pub fn sleep(d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if requested() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// What a step says when it stops at a safe point.
pub fn stopped() -> String {
    format!("interrupted ({})", name())
}
