//! `delete-hub-deployment:<namespace>`: "disable logins" — deletes Deployment `hub` in the
//! hub's namespace (`nublado2`, and `nublado` at `make-default`), then waits until the hub's
//! pods are gone. Argo CD apps use manual sync, so the hub stays gone until the app is synced.
//!
//! Done means the state it must leave: no Deployment `hub` and no hub pod. A Deployment
//! already gone (404) whose pods are still terminating (a resumed run after an interrupted
//! wait) is not done: the step waits again until they are gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{StepEnv, Timing, nap, with_retries, within_wait};
use crate::playbook::Step;
use crate::runtime::clients::kube::{Deleted, KubeApi, selector_text};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::human;

/// The hub's Deployment in a JupyterHub (z2jh) namespace.
pub const HUB: &str = "hub";
/// The z2jh hub pods' label, when the Deployment is already gone.
const HUB_PODS: &str = "component=hub";

pub struct DeleteHub {
    id: String,
    title: String,
    namespace: String,
    kube: Arc<dyn KubeApi>,
    timing: Timing,
}

impl DeleteHub {
    pub fn new(step: &Step, env: &StepEnv, namespace: &str, kube: Arc<dyn KubeApi>) -> DeleteHub {
        DeleteHub {
            id: step.id.clone(),
            title: step.title.clone(),
            namespace: namespace.to_string(),
            kube,
            timing: env.timing.clone(),
        }
    }

    fn touches(&self) -> String {
        format!("deployment/{}/{HUB}", self.namespace)
    }
}

impl StepRunner for DeleteHub {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn destructive(&self) -> bool {
        true
    }

    fn timeout(&self) -> Duration {
        self.timing.deployment + Duration::from_secs(60)
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let ns = &self.namespace;
        let found = with_retries(&self.timing, || self.kube.get_deployment(ns, HUB))?;
        let commands = vec![format!("kubectl delete deployment {HUB} -n {ns}")];
        let wait = |selector: &str| {
            format!(
                "kubectl wait --for=delete pod -n {ns} -l {selector} --timeout={}s",
                self.timing.deployment.as_secs()
            )
        };
        Ok(match found {
            None => {
                // Gone, but done only once no hub pod is left.
                let pods = with_retries(&self.timing, || self.kube.list_pods(ns, Some(HUB_PODS)))?;
                if pods.is_empty() {
                    Preview {
                        action: Action::Skip {
                            reason: format!(
                                "Deployment `{HUB}` in namespace `{ns}` is already gone and no hub pod is left (logins are disabled)"
                            ),
                        },
                        commands: Vec::new(),
                    }
                } else {
                    Preview {
                        action: Action::Run {
                            touches: pods
                                .iter()
                                .map(|p| {
                                    format!(
                                        "pod/{ns}/{} (hub, {})",
                                        p.name,
                                        if p.deleting {
                                            "terminating"
                                        } else {
                                            p.phase.as_str()
                                        }
                                    )
                                })
                                .collect(),
                        },
                        commands: vec![wait(HUB_PODS)],
                    }
                }
            }
            Some(d) => Preview {
                action: Action::Run {
                    touches: vec![self.touches()],
                },
                commands: {
                    let mut c = commands;
                    c.push(wait(&selector_or_default(&d.selector)));
                    c
                },
            },
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let ns = &self.namespace;
        let started = Instant::now();
        let selector = with_retries(&self.timing, || self.kube.get_deployment(ns, HUB))?
            .map(|d| selector_or_default(&d.selector))
            .unwrap_or_else(|| HUB_PODS.to_string());
        let deleted = with_retries(&self.timing, || self.kube.delete_deployment(ns, HUB))?;
        // Wait for the hub's pods: logins are off only when no hub answers.
        let deadline = started + self.timing.deployment;
        loop {
            let pods = within_wait(&self.timing, deadline, || {
                self.kube.list_pods(ns, Some(&selector))
            })?;
            if pods.is_empty() {
                break;
            }
            op.progress(
                &self.id,
                0,
                pods.len() as u64,
                &format!("{} hub pod(s) still terminating", pods.len()),
            );
            if Instant::now() >= deadline {
                return Err(StepError::fatal(format!(
                    "Deployment `{HUB}` in namespace `{ns}` is deleted, but its pods were still there after {}: {}",
                    human(started.elapsed()),
                    pods.iter()
                        .map(|p| format!("{} ({})", p.name, p.phase))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            nap(self.timing.poll, deadline)?;
        }
        Ok(match deleted {
            Deleted::Deleting => Outcome {
                touched: vec![self.touches()],
                summary: format!(
                    "deleted Deployment `{HUB}` in namespace `{ns}`; its pods were gone after {}",
                    human(started.elapsed())
                ),
            },
            Deleted::AlreadyGone => Outcome {
                touched: Vec::new(),
                summary: format!(
                    "Deployment `{HUB}` in namespace `{ns}` was already gone; no hub pod left after {} (logins are disabled)",
                    human(started.elapsed())
                ),
            },
        })
    }
}

fn selector_or_default(labels: &std::collections::BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        HUB_PODS.to_string()
    } else {
        selector_text(labels)
    }
}
