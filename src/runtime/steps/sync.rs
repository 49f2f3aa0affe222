//! `sync-app:<app>`: syncs an Argo CD application to the window's merged commit and waits
//! until the sync is done at that commit and the application is Synced and Healthy.
//!
//! 1. Refresh the application hard (`?refresh=hard`): right after a merge, Argo CD's
//!    repo-server can still resolve the branch to the previous commit from its cache.
//! 2. For a sync with prune (a structured part of the planned step, never read from its
//!    title), read what the application would prune (`status.resources[]` with
//!    `requiresPruning`), show it in the confirmation, and refuse unless every resource in it is
//!    one the stage expects (`disable-v2`: the `nublado2`, `cachemachine` and `moneypenny`
//!    Applications). Checked again right before the sync: a set that changed since it was
//!    confirmed is asked again.
//! 3. Read the application's last operation, then `POST …/sync` with `revision` set to the
//!    merged commit (and `prune` where planned). While Argo CD answers "another operation is
//!    already in progress", read and try again with backoff.
//! 4. Poll until an operation newer than the one read before the sync has finished. Right
//!    after the POST the status can still be the previous operation's, so "newer" means a
//!    later `startedAt`, the same `startedAt` with another `finishedAt`, a higher
//!    `status.history` id, or an operation seen `Running` (the previous one had finished, or
//!    the sync would have been refused).
//! 5. It must have `Succeeded` at the merged commit (`syncResult.revision`; another commit
//!    fails the step, naming both), and the application must then stay `Synced` + `Healthy`
//!    for the settle window (Degraded can be transient while pods start).
//!
//! An application that does not exist yet (the `nublado` app before `science-platform` has
//! created it) is waited for; Argo CD answers 403, not 404, for it unless asked with the
//! project, so both mean "not there (yet)" here. Every wait is bounded by `Timing::sync`; the
//! time-out names the last state seen. Without a merged commit (`--allow-unmerged`) the sync
//! is not pinned and the summary names the commit it landed on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Revision, StepEnv, Timing, nap};
use crate::playbook::Step;
use crate::retry::Retryable;
use crate::runtime::clients::argocd::{
    Application, ArgoCdApi, Lookup, OperationState, Refresh, SyncRefusal, SyncRequest,
};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::text::short_commit;
use crate::util::time::{human, parse_rfc3339};

pub struct SyncApp {
    id: String,
    title: String,
    app: String,
    /// What a sync with prune may delete (`Application/nublado2`); `None`: no prune.
    prune: Option<Vec<String>>,
    /// The commit to sync to; `None` (`--allow-unmerged`): what the branch resolves to.
    revision: Option<Revision>,
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

/// How the confirmation and the report name a resource the sync prunes.
fn pruned(r: &crate::runtime::clients::argocd::Resource) -> String {
    format!("prune: {}", r.describe())
}

impl SyncApp {
    pub fn new(step: &Step, env: &StepEnv, app: &str, argocd: Arc<dyn ArgoCdApi>) -> SyncApp {
        SyncApp {
            id: step.id.clone(),
            title: step.title.clone(),
            app: app.to_string(),
            prune: step.prune.clone(),
            revision: env.revision.clone(),
            argocd,
            timing: env.timing.clone(),
            token_var: super::token_var(&env.argocd_token_var, "ARGOCD_TOKEN"),
        }
    }

    fn get(&self, refresh: Refresh) -> Result<Lookup, StepError> {
        super::with_retries(&self.timing, || {
            self.argocd.get_application(&self.app, refresh)
        })
        .map_err(StepError::from)
    }

    /// What the sync will prune, checked against what the stage expects: every resource
    /// Argo CD would prune must be expected, or the step refuses before the sync.
    fn prune_set(&self, app: &Application) -> Result<Vec<String>, StepError> {
        let Some(expected) = &self.prune else {
            return Ok(Vec::new());
        };
        let to_prune = app.to_prune();
        let unexpected: Vec<String> = to_prune
            .iter()
            .filter(|r| !expected.contains(&r.key()))
            .map(|r| r.describe())
            .collect();
        if !unexpected.is_empty() {
            let listed: Vec<String> = to_prune
                .iter()
                .map(|r| {
                    let mark = if expected.contains(&r.key()) {
                        ""
                    } else {
                        " (not expected)"
                    };
                    format!("{}{mark}", r.describe())
                })
                .collect();
            return Err(StepError::fatal(format!(
                "refusing to sync `{}` with prune: it would delete {} resource{}: {}; this stage expects to prune only {}, so {} would go by mistake (an application dropped from the environment file?); nothing was synced",
                self.app,
                to_prune.len(),
                if to_prune.len() == 1 { "" } else { "s" },
                listed.join(", "),
                super::and_list(expected),
                super::and_list(&unexpected),
            )));
        }
        Ok(to_prune.iter().map(|r| pruned(r)).collect())
    }

    /// Why the application cannot be seen, for messages.
    fn unseen(&self, lookup: &Lookup) -> String {
        let app = &self.app;
        match lookup {
            Lookup::Hidden => format!(
                "Argo CD at {} answers 403 for `{app}`: it does not exist yet, or the token may not read it (Argo CD does not tell them apart)",
                self.argocd.base_url()
            ),
            _ => format!(
                "Argo CD at {} has no application `{app}`",
                self.argocd.base_url()
            ),
        }
    }

    /// Starts the sync, waiting out other operations; returns the mark read just before it.
    /// `confirmed` is what the operator confirmed the sync prunes.
    fn start(
        &self,
        deadline: Instant,
        confirmed: &[String],
        op: &mut dyn Operator,
    ) -> Result<Mark, StepError> {
        let app = &self.app;
        let mut attempt = 0;
        let mut server_errors = 0;
        let started = Instant::now();
        loop {
            let lookup = self.get(Refresh::Hard)?;
            let Some(before) = lookup.found() else {
                if Instant::now() >= deadline {
                    return Err(StepError::fatal(format!(
                        "{} (waited {})",
                        self.unseen(&lookup),
                        human(self.timing.sync)
                    )));
                }
                op.progress(
                    &self.id,
                    0,
                    1,
                    &format!("waiting for application `{app}` to exist"),
                );
                nap(self.timing.poll, deadline)?;
                continue;
            };
            if self.prune.is_some() {
                let now = self.prune_set(before)?;
                let new: Vec<&String> = now.iter().filter(|p| !confirmed.contains(p)).collect();
                if !new.is_empty() {
                    return Err(StepError::retry(format!(
                        "what the sync of `{app}` would prune changed since it was confirmed: {}",
                        new.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            let request = SyncRequest {
                prune: self.prune.is_some(),
                revision: self.revision.as_ref().map(|r| r.commit.clone()),
            };
            match self.argocd.sync(app, &request) {
                Ok(()) => return Ok(Mark::of(Some(before))),
                Err(SyncRefusal::Busy(e)) => {
                    if Instant::now() >= deadline {
                        return Err(StepError::fatal(format!(
                            "Argo CD still refused to sync `{app}` after {}: {} (last seen: {})",
                            human(self.timing.sync),
                            e.said,
                            before.describe()
                        )));
                    }
                    let wait = self
                        .timing
                        .retry
                        .pause(attempt + 1, None)
                        .max(self.timing.poll);
                    op.progress(
                        &self.id,
                        0,
                        1,
                        &format!(
                            "another operation is already in progress on `{app}`; retrying in {}",
                            human(wait)
                        ),
                    );
                    nap(wait, deadline)?;
                    attempt += 1;
                }
                Err(SyncRefusal::Other(e)) => {
                    // A server error on the sync call: tried again until the sync's deadline.
                    server_errors += 1;
                    let pause = self.timing.retry.pause(server_errors, e.retry_after);
                    if !e.retryable() || Instant::now() + pause >= deadline {
                        return Err(Retryable::spent(e, server_errors, started.elapsed()).into());
                    }
                    nap(pause, deadline)?;
                }
            }
        }
    }

    /// The revision a finished sync must have applied, if pinned; an error naming both when
    /// it applied another.
    fn check_revision(&self, o: &OperationState) -> Result<(), StepError> {
        let Some(want) = &self.revision else {
            return Ok(());
        };
        match &o.revision {
            Some(r) if r == &want.commit => Ok(()),
            got => Err(StepError::fatal(format!(
                "Argo CD synced `{}` at {}, not at {} ({}, the merged commit this window proved): the application does not run what was merged; check that it tracks that branch and that a sync to another revision is allowed (auto-sync off), then --resume",
                self.app,
                got.as_deref()
                    .map(short_commit)
                    .unwrap_or("an unreported revision"),
                short_commit(&want.commit),
                want.source,
            ))),
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
        self.prune.is_some()
    }

    fn timeout(&self) -> Duration {
        self.timing.sync + self.timing.settle + Duration::from_secs(60)
    }

    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError> {
        let app = &self.app;
        let lookup = self.get(Refresh::Hard)?;
        let mut touches = vec![format!("application/{app}")];
        match lookup.found() {
            Some(a) => {
                op.say(&format!(
                    "application `{app}` (refreshed): {}",
                    a.describe()
                ));
                if let (Some(want), Some(seen)) = (&self.revision, &a.revision)
                    && seen != &want.commit
                {
                    op.say(&format!(
                        "note: Argo CD resolves `{app}`'s branch to {}, the window proved {} ({}): the sync is pinned to {}",
                        short_commit(seen),
                        short_commit(&want.commit),
                        want.source,
                        short_commit(&want.commit)
                    ));
                }
                touches.extend(self.prune_set(a)?);
            }
            None if self.prune.is_some() => {
                return Err(StepError::fatal(format!(
                    "{}: what a sync with prune would delete cannot be read, so it is not run",
                    self.unseen(&lookup)
                )));
            }
            None => op.say(&format!(
                "{}; the sync waits for it (an earlier sync of `science-platform` creates it)",
                self.unseen(&lookup)
            )),
        }
        let prune = if self.prune.is_some() { " --prune" } else { "" };
        let (revision, body) = match &self.revision {
            Some(r) => (
                format!(" --revision {}", r.commit),
                format!(
                    r#"{{"revision": "{}"{}}}"#,
                    r.commit,
                    if self.prune.is_some() {
                        r#", "prune": true"#
                    } else {
                        ""
                    }
                ),
            ),
            None => (
                String::new(),
                if self.prune.is_some() {
                    r#"{"prune": true}"#.to_string()
                } else {
                    "{}".to_string()
                },
            ),
        };
        Ok(Preview {
            action: Action::Run { touches },
            commands: vec![
                format!("argocd app get {app} --hard-refresh"),
                format!("argocd app sync {app}{revision}{prune}"),
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

    fn run(&self, preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let app = &self.app;
        let started = Instant::now();
        let deadline = started + self.timing.sync;
        let confirmed: Vec<String> = match &preview.action {
            Action::Run { touches } => touches
                .iter()
                .filter(|t| t.starts_with("prune: "))
                .cloned()
                .collect(),
            Action::Skip { .. } => Vec::new(),
        };
        let mark = self.start(deadline, &confirmed, op)?;
        let mut seen_running = false;
        let mut new_seen = false;
        let mut settled_since: Option<Instant> = None;
        let mut poll_errors = 0;
        let settle_deadline = deadline + self.timing.settle;
        loop {
            let now = match self.get(Refresh::No) {
                Ok(a) => a,
                Err(e) if e.retryable && poll_errors < 10 && Instant::now() < deadline => {
                    poll_errors += 1;
                    nap(self.timing.poll, deadline)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let last = now
                .found()
                .map(Application::describe)
                .unwrap_or_else(|| "the application is gone".into());
            if let Some(a) = now.found() {
                let running = a.operation.as_ref().is_some_and(|o| !o.finished());
                let newer = mark.precedes(a, seen_running);
                if running && newer {
                    seen_running = true;
                }
                new_seen |= newer;
                if newer && let Some(o) = a.operation.as_ref().filter(|o| o.finished()) {
                    if o.phase != "Succeeded" {
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
                    self.check_revision(o)?;
                }
                let done = newer
                    && a.operation.as_ref().is_some_and(|o| o.phase == "Succeeded")
                    && a.sync == "Synced"
                    && a.health == "Healthy";
                if done {
                    let since = *settled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.timing.settle {
                        let at = a
                            .operation
                            .as_ref()
                            .and_then(|o| o.revision.as_deref())
                            .map(|r| match &self.revision {
                                Some(want) => format!(" at {} ({})", short_commit(r), want.source),
                                None => format!(
                                    " at {} (not pinned: --allow-unmerged)",
                                    short_commit(r)
                                ),
                            })
                            .unwrap_or_default();
                        let mut summary = format!(
                            "synced `{app}`{at}{}: Synced and Healthy after {}",
                            if self.prune.is_some() {
                                " with prune"
                            } else {
                                ""
                            },
                            human(since.duration_since(started))
                        );
                        if !confirmed.is_empty() {
                            summary.push_str(&format!(
                                "; pruned {}",
                                confirmed
                                    .iter()
                                    .map(|c| c.trim_start_matches("prune: "))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                        if let Some(o) = &a.operation
                            && !o.message.is_empty()
                        {
                            summary.push_str(&format!(" ({})", o.message));
                        }
                        let mut touched = vec![format!("application/{app}")];
                        touched.extend(confirmed.iter().cloned());
                        return Ok(Outcome { touched, summary });
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
            nap(self.timing.poll, limit)?;
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
            revision: None,
            health: "Healthy".into(),
            operation: Some(OperationState {
                phase: phase.into(),
                started_at: started.into(),
                finished_at: finished.map(str::to_string),
                message: String::new(),
                revision: None,
            }),
            history_id: history,
            resources: Vec::new(),
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
