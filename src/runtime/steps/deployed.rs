//! The end of a cutover window, after `update-dns`:
//!
//! - `wait-deployed`: the operator merges the cutover's change; the step waits until it is
//!   deployed, that is until the hub's final domain answers `GET https://<domain>/hub/health`
//!   with 200 over a certificate that verifies (the new hub's, issued once the merged entry
//!   is deployed). Progress names the last answer (a certificate that does not verify yet, a
//!   503, no answer). Reads only.
//! - `check-old-down`: the old hub is still down in the source: no `proxy-public` Service
//!   and its Deployment `hub` at 0 replicas (a deploy of the source cluster made while the
//!   old entry existed re-creates them). Reads only.

use std::sync::Arc;
use std::time::Duration;

use super::route::{Healthy, Wait};
use super::{MoveEnv, StepEnv, Timing, with_retries};
use crate::playbook::Step;
use crate::runtime::clients::health::HealthApi;
use crate::runtime::clients::kube::KubeApi;
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::human;

/// How long the merge, the deploy and the certificate may take, by default.
pub const DEPLOY_WAIT: Duration = Duration::from_secs(60 * 60);

pub struct WaitDeployed {
    id: String,
    title: String,
    domain: String,
    health: Arc<dyn HealthApi>,
    wait: Duration,
    timing: Timing,
}

impl WaitDeployed {
    pub fn new(step: &Step, env: &StepEnv, mv: &MoveEnv, health: Arc<dyn HealthApi>) -> Self {
        WaitDeployed {
            id: step.id.clone(),
            title: step.title.clone(),
            domain: mv.domain.clone(),
            health,
            wait: if mv.deploy_wait.is_zero() {
                DEPLOY_WAIT
            } else {
                mv.deploy_wait
            },
            timing: env.timing.clone(),
        }
    }
}

impl StepRunner for WaitDeployed {
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
        self.wait + Duration::from_secs(60)
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        Ok(Preview {
            action: Action::Run {
                touches: Vec::new(),
            },
            commands: vec![format!("curl -fsS {}", self.health.url(""))],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let url = self.health.url("");
        op.say(&format!(
            "merge the cutover's change now: this step waits until it is deployed ({url} answers 200 with a valid certificate)"
        ));
        let wait = Wait {
            step: &self.id,
            health: self.health.as_ref(),
            route: "",
            within: self.wait,
            poll: self.timing.poll,
        };
        match wait.until_healthy(op)? {
            Healthy::After(took) => Ok(Outcome {
                touched: Vec::new(),
                summary: format!(
                    "{url} answered 200 with a certificate that verifies, after {}: the cutover's change is deployed",
                    human(took)
                ),
            }),
            Healthy::NotWithin { tries, last } => Err(StepError::fatal(format!(
                "{} is not served yet: {url} did not answer 200 with a valid certificate within {} ({tries} tries); last answer: {last}. Is the cutover's change merged and deployed (`deployer deploy` of the target), and its certificate issued? --resume waits again",
                self.domain,
                human(self.wait)
            ))),
        }
    }
}

pub struct CheckOldDown {
    id: String,
    title: String,
    cluster: String,
    namespace: String,
    kube: Arc<dyn KubeApi>,
    timing: Timing,
}

impl CheckOldDown {
    pub fn new(step: &Step, env: &StepEnv, mv: &MoveEnv, kube: Arc<dyn KubeApi>) -> Self {
        CheckOldDown {
            id: step.id.clone(),
            title: step.title.clone(),
            cluster: mv.source.cluster.clone(),
            namespace: mv.source.namespace.clone(),
            kube,
            timing: env.timing.clone(),
        }
    }
}

impl StepRunner for CheckOldDown {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn mutates(&self) -> bool {
        false
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let ns = &self.namespace;
        Ok(Preview {
            action: Action::Run {
                touches: Vec::new(),
            },
            commands: vec![
                format!("kubectl --namespace {ns} get svc proxy-public (expected: NotFound)"),
                format!("kubectl --namespace {ns} get deployment hub (expected: 0 replicas)"),
            ],
        })
    }

    fn run(&self, _preview: &Preview, _op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let ns = &self.namespace;
        let mut up = Vec::new();
        if with_retries(&self.timing, || self.kube.get_service(ns, "proxy-public"))?.is_some() {
            up.push(format!("Service `{ns}/proxy-public` exists again"));
        }
        if let Some(d) = with_retries(&self.timing, || self.kube.get_deployment(ns, "hub"))?
            && (d.replicas > 0 || d.ready_replicas > 0)
        {
            up.push(format!(
                "Deployment `{ns}/hub` has {} replicas ({} ready)",
                d.replicas, d.ready_replicas
            ));
        }
        if !up.is_empty() {
            return Err(StepError::fatal(format!(
                "the old hub in `{}` is up again: {}; a deploy of `{}` re-created it (was the old entry still on the main branch?). Take it down again (`--only delete-proxy-public --only stop-old-hub`) before users reach it",
                self.cluster,
                up.join("; "),
                self.cluster
            )));
        }
        Ok(Outcome {
            touched: Vec::new(),
            summary: format!(
                "the old hub in `{}` is still down: no `{ns}/proxy-public`, Deployment `hub` at 0",
                self.cluster
            ),
        })
    }
}
