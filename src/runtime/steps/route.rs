//! `check-route:<route>`: waits until the hub on `<route>` answers its health endpoint
//! (`GET https://<fqdn><route>/hub/health` → 200). Reads only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{StepEnv, Timing, nap};
use crate::playbook::Step;
use crate::runtime::clients::health::HealthApi;
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::human;

pub struct CheckRoute {
    id: String,
    title: String,
    route: String,
    health: Arc<dyn HealthApi>,
    timing: Timing,
}

impl CheckRoute {
    pub fn new(step: &Step, env: &StepEnv, route: &str, health: Arc<dyn HealthApi>) -> CheckRoute {
        CheckRoute {
            id: step.id.clone(),
            title: step.title.clone(),
            route: route.to_string(),
            health,
            timing: env.timing.clone(),
        }
    }
}

impl StepRunner for CheckRoute {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn mutates(&self) -> bool {
        false
    }

    fn timeout(&self) -> Duration {
        self.timing.route + Duration::from_secs(30)
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        Ok(Preview {
            action: Action::Run {
                touches: Vec::new(),
            },
            commands: vec![format!("curl -fsS {}", self.health.url(&self.route))],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let url = self.health.url(&self.route);
        let wait = Wait {
            step: &self.id,
            health: self.health.as_ref(),
            route: &self.route,
            within: self.timing.route,
            poll: self.timing.poll,
        };
        match wait.until_healthy(op)? {
            Healthy::After(took) => Ok(Outcome {
                touched: Vec::new(),
                summary: format!("{url} answered 200 after {}", human(took)),
            }),
            Healthy::NotWithin { tries, last } => Err(StepError::fatal(format!(
                "{url} did not answer 200 within {} ({tries} tries); last answer: {last}",
                human(self.timing.route)
            ))),
        }
    }
}

/// A wait for a hub's health endpoint to answer 200 (over a certificate that verifies, for
/// `https://`): `check-route` and `wait-deployed`.
pub(super) struct Wait<'a> {
    /// The step, for its progress.
    pub step: &'a str,
    pub health: &'a dyn HealthApi,
    pub route: &'a str,
    pub within: Duration,
    pub poll: Duration,
}

/// How a [`Wait`] ended.
pub(super) enum Healthy {
    After(Duration),
    NotWithin { tries: u64, last: String },
}

impl Wait<'_> {
    /// Probes every `poll` until an answer is 200 or `within` has passed, showing each
    /// answer (a status, a certificate that does not verify yet, no answer) as progress.
    pub fn until_healthy(&self, op: &mut dyn Operator) -> Result<Healthy, StepError> {
        let url = self.health.url(self.route);
        let started = Instant::now();
        let deadline = started + self.within;
        let mut tries = 0u64;
        loop {
            tries += 1;
            let last = match self.health.probe(self.route) {
                Ok(p) if p.healthy() => return Ok(Healthy::After(started.elapsed())),
                Ok(p) if p.detail.is_empty() => format!("{}", p.status),
                Ok(p) => format!("{} ({})", p.status, p.detail),
                Err(e) => e.message,
            };
            if Instant::now() >= deadline {
                return Ok(Healthy::NotWithin { tries, last });
            }
            op.progress(
                self.step,
                started.elapsed().as_secs(),
                self.within.as_secs(),
                &format!("waiting for {url}: {last}"),
            );
            nap(self.poll.max(Duration::from_millis(10)), deadline)?;
        }
    }
}
