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
        let started = Instant::now();
        let deadline = started + self.timing.route;
        let mut tries = 0u64;
        loop {
            tries += 1;
            let last = match self.health.probe(&self.route) {
                Ok(p) if p.healthy() => {
                    return Ok(Outcome {
                        touched: Vec::new(),
                        summary: format!("{url} answered 200 after {}", human(started.elapsed())),
                    });
                }
                Ok(p) if p.detail.is_empty() => format!("{}", p.status),
                Ok(p) => format!("{} ({})", p.status, p.detail),
                Err(e) => e.message,
            };
            if Instant::now() >= deadline {
                return Err(StepError::fatal(format!(
                    "{url} did not answer 200 within {} ({tries} tries); last answer: {last}",
                    human(self.timing.route)
                )));
            }
            op.progress(&self.id, 0, 1, &format!("waiting for {url}: {last}"));
            nap(self.timing.poll, deadline)?;
        }
    }
}
