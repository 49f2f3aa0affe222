//! `sync-app:<app>`: syncs an Argo CD application and waits until the sync is done and the
//! application is Synced and Healthy.
//!
//! 1. Read the application's last operation, then `POST …/sync` (with prune for
//!    `science-platform` at `disable-v2`, which deletes the retired applications). While
//!    Argo CD answers "another operation is already in progress", read and try again with
//!    backoff.
//! 2. Poll until an operation newer than the one read before the sync has finished. Right
//!    after the POST the status can still be the previous operation's, so "newer" means a
//!    later `startedAt`, the same `startedAt` with another `finishedAt`, a higher
//!    `status.history` id, or an operation seen `Running` (the previous one had finished, or
//!    the sync would have been refused).
//! 3. It must have `Succeeded`, and the application must then stay `Synced` + `Healthy` for
//!    the settle window (Degraded can be transient while pods start).
//!
//! Every wait is bounded by `Timing::sync`; the time-out names the last state seen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{StepEnv, Timing, backoff, nap};
use crate::playbook::Step;
use crate::runtime::clients::argocd::{Application, ArgoCdApi, OperationState, SyncRefusal};
use crate::runtime::clients::{human, parse_rfc3339};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};

pub struct SyncApp {
    id: String,
    title: String,
    app: String,
    prune: bool,
    argocd: Arc<dyn ArgoCdApi>,
    timing: Timing,
    token_var: String,
}

/// The last operation before the sync.
#[derive(Debug, Clone, Default)]
struct Mark {
    operation: Option<OperationState>,
    history_id: Option<i64>,
}

impl Mark {
    fn of(app: Option<&Application>) -> Mark {
        Mark {
            operation: app.and_then(|a| a.operation.clone()),
            history_id: app.and_then(|a| a.history_id),
        }
    }

    /// Whether `now`'s operation started after this mark (see the module comment).
    fn precedes(&self, now: &Application, seen_running: bool) -> bool {
        let Some(op) = &now.operation else {
            return false;
        };
        let Some(before) = &self.operation else {
            return true;
        };
        let (t_now, t_before) = (
            parse_rfc3339(&op.started_at),
            parse_rfc3339(&before.started_at),
        );
        if let (Some(a), Some(b)) = (t_now, t_before) {
            if a > b {
                return true;
            }
            if a < b {
                return false;
            }
        } else if op.started_at != before.started_at {
            return true;
        }
        if !before.finished() {
            // The operation read before the sync was still running: only a later start
            // tells a new one.
            return false;
        }
        op.finished_at != before.finished_at
            || seen_running
            || now.history_id.unwrap_or(0) > self.history_id.unwrap_or(0)
    }
}

impl SyncApp {
    pub fn new(
        step: &Step,
        env: &StepEnv,
        app: &str,
        prune: bool,
        argocd: Arc<dyn ArgoCdApi>,
    ) -> SyncApp {
        SyncApp {
            id: step.id.clone(),
            title: step.title.clone(),
            app: app.to_string(),
            prune,
            argocd,
            timing: env.timing.clone(),
            token_var: super::token_var(&env.argocd_token_var, "ARGOCD_TOKEN"),
        }
    }

    fn get(&self) -> Result<Option<Application>, StepError> {
        super::with_retries(&self.timing, || self.argocd.get_application(&self.app))
            .map_err(StepError::from)
    }

    /// Starts the sync, waiting out other operations; returns the mark read just before it.
    fn start(&self, deadline: Instant, op: &mut dyn Operator) -> Result<Mark, StepError> {
        let app = &self.app;
        let mut attempt = 0;
        let mut server_errors = 0;
        loop {
            let before = self.get()?;
            if before.is_none() {
                if Instant::now() >= deadline {
                    return Err(StepError::fatal(format!(
                        "Argo CD at {} has no application `{app}` (waited {})",
                        self.argocd.base_url(),
                        human(self.timing.sync)
                    )));
                }
                op.progress(
                    &self.id,
                    0,
                    1,
                    &format!("waiting for application `{app}` to exist"),
                );
                nap(self.timing.poll, deadline);
                continue;
            }
            match self.argocd.sync(app, self.prune) {
                Ok(()) => return Ok(Mark::of(before.as_ref())),
                Err(SyncRefusal::Busy(e)) => {
                    if Instant::now() >= deadline {
                        return Err(StepError::fatal(format!(
                            "Argo CD still refused to sync `{app}` after {}: {} (last seen: {})",
                            human(self.timing.sync),
                            e.said,
                            before
                                .as_ref()
                                .map(Application::describe)
                                .unwrap_or_default()
                        )));
                    }
                    let wait = backoff(self.timing.backoff, attempt).max(self.timing.poll);
                    op.progress(
                        &self.id,
                        0,
                        1,
                        &format!(
                            "another operation is already in progress on `{app}`; retrying in {}",
                            human(wait)
                        ),
                    );
                    nap(wait, deadline);
                    attempt += 1;
                }
                Err(SyncRefusal::Other(e))
                    if e.retryable()
                        && server_errors + 1 < self.timing.attempts.max(1)
                        && Instant::now() < deadline =>
                {
                    nap(backoff(self.timing.backoff, server_errors), deadline);
                    server_errors += 1;
                }
                Err(SyncRefusal::Other(e)) => return Err(e.into()),
            }
        }
    }
}

impl StepRunner for SyncApp {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn destructive(&self) -> bool {
        self.prune
    }

    fn timeout(&self) -> Duration {
        self.timing.sync + self.timing.settle + Duration::from_secs(60)
    }

    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError> {
        let app = &self.app;
        match self.get()? {
            Some(a) => op.say(&format!("application `{app}`: {}", a.describe())),
            None => op.say(&format!(
                "application `{app}` does not exist yet in Argo CD; the sync waits for it (an earlier sync of `science-platform` creates it)"
            )),
        }
        let prune = if self.prune { " --prune" } else { "" };
        let body = if self.prune {
            r#"{"prune": true}"#
        } else {
            "{}"
        };
        Ok(Preview {
            action: Action::Run {
                touches: vec![format!("application/{app}")],
            },
            commands: vec![
                format!("argocd app sync {app}{prune}"),
                format!(
                    "argocd app wait {app} --operation --sync --health --timeout {}",
                    self.timing.sync.as_secs()
                ),
                format!(
                    "curl -X POST -H \"Authorization: Bearer {}\" -d '{body}' {}/api/v1/applications/{app}/sync",
                    self.token_var,
                    self.argocd.base_url()
                ),
            ],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let app = &self.app;
        let started = Instant::now();
        let deadline = started + self.timing.sync;
        let mark = self.start(deadline, op)?;
        let mut seen_running = false;
        let mut new_seen = false;
        let mut settled_since: Option<Instant> = None;
        let mut poll_errors = 0;
        let settle_deadline = deadline + self.timing.settle;
        loop {
            let now = match self.get() {
                Ok(a) => a,
                Err(e) if e.retryable && poll_errors < 10 && Instant::now() < deadline => {
                    poll_errors += 1;
                    nap(self.timing.poll, deadline);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let last = now
                .as_ref()
                .map(Application::describe)
                .unwrap_or_else(|| "the application is gone".into());
            if let Some(a) = &now {
                let running = a.operation.as_ref().is_some_and(|o| !o.finished());
                let newer = mark.precedes(a, seen_running);
                if running && newer {
                    seen_running = true;
                }
                new_seen |= newer;
                if newer
                    && let Some(o) = a.operation.as_ref().filter(|o| o.finished())
                    && o.phase != "Succeeded"
                {
                    return Err(StepError::fatal(format!(
                        "the sync of `{app}` ended {}: {}",
                        o.phase,
                        if o.message.is_empty() {
                            "(no message)"
                        } else {
                            &o.message
                        }
                    )));
                }
                let done = newer
                    && a.operation.as_ref().is_some_and(|o| o.phase == "Succeeded")
                    && a.sync == "Synced"
                    && a.health == "Healthy";
                if done {
                    let since = *settled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.timing.settle {
                        let mut summary = format!(
                            "synced `{app}`{}: Synced and Healthy after {}",
                            if self.prune { " with prune" } else { "" },
                            human(since.duration_since(started))
                        );
                        if let Some(o) = &a.operation
                            && !o.message.is_empty()
                        {
                            summary.push_str(&format!(" ({})", o.message));
                        }
                        return Ok(Outcome {
                            touched: vec![format!("application/{app}")],
                            summary,
                        });
                    }
                } else {
                    settled_since = None;
                }
            }
            let limit = if settled_since.is_some() {
                settle_deadline
            } else {
                deadline
            };
            if Instant::now() >= limit {
                let what = if new_seen {
                    "did not become Synced and Healthy"
                } else {
                    "showed no new operation"
                };
                return Err(StepError::fatal(format!(
                    "`{app}` {what} within {} of the sync: last seen {last}",
                    human(self.timing.sync)
                )));
            }
            op.progress(
                &self.id,
                started.elapsed().as_secs(),
                self.timing.sync.as_secs(),
                &last,
            );
            nap(self.timing.poll, limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(
        phase: &str,
        started: &str,
        finished: Option<&str>,
        history: Option<i64>,
    ) -> Application {
        Application {
            name: "nublado".into(),
            sync: "Synced".into(),
            health: "Healthy".into(),
            operation: Some(OperationState {
                phase: phase.into(),
                started_at: started.into(),
                finished_at: finished.map(str::to_string),
                message: String::new(),
            }),
            history_id: history,
        }
    }

    #[test]
    fn tells_a_new_operation_from_the_previous_one() {
        let t0 = "2026-11-21T06:00:00Z";
        let t1 = "2026-11-21T06:00:05Z";
        let before = app("Succeeded", t0, Some(t0), Some(3));
        let mark = Mark::of(Some(&before));
        assert!(!mark.precedes(&before, false), "the same operation");
        assert!(mark.precedes(&app("Running", t1, None, Some(3)), false));
        assert!(mark.precedes(&app("Succeeded", t0, Some(t1), Some(4)), false));
        assert!(
            mark.precedes(&app("Succeeded", t0, Some(t0), Some(4)), false),
            "history"
        );
        assert!(mark.precedes(&app("Running", t0, None, Some(3)), false));
        // A previous operation still running when read: only a later start counts.
        let running = Mark::of(Some(&app("Running", t0, None, Some(3))));
        assert!(!running.precedes(&app("Succeeded", t0, Some(t1), Some(4)), false));
        assert!(running.precedes(&app("Succeeded", t1, Some(t1), Some(5)), false));
        // No operation before: any is new.
        assert!(Mark::default().precedes(&before, false));
    }
}
