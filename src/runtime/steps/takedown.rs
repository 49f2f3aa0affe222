//! The hub move's takedown of the old hub, in the source cluster:
//!
//! - `delete-proxy-public`: deletes `svc proxy-public` in the old hub's namespace, so the hub
//!   is unreachable (404 = already done). A deploy of the source cluster re-creates it while
//!   the old entry is in `cluster.yaml`: the cutover's change removes the entry.
//! - `stop-old-hub`: scales Deployment `hub` to 0 and waits until its pods are gone, so the
//!   database is quiescent before it is copied.
//! - `delete-user-pods`: deletes the pods labelled `component=singleuser-server` (by label,
//!   never by name: the seed's `awk '/jupyter/'` also matched `jupyterhub-groups-exporter`)
//!   and waits until they are gone, before the final copy of the home directories.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Side, StepEnv, Timing, nap, with_retries, within_wait};
use crate::playbook::Step;
use crate::runtime::clients::kube::{Deleted, KubeApi, Pod, selector_text};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::human;

/// The z2jh proxy's public Service.
pub const PROXY_PUBLIC: &str = "proxy-public";
/// The z2jh hub's Deployment and its pods' label.
pub const HUB: &str = "hub";
pub const HUB_PODS: &str = "component=hub";
/// The label of the users' servers.
pub const USER_PODS: &str = "component=singleuser-server";

/// What the three steps share: the step's names, the source side and its API.
struct Common {
    id: String,
    title: String,
    cluster: String,
    context: String,
    namespace: String,
    kube: Arc<dyn KubeApi>,
    timing: Timing,
}

impl Common {
    fn new(step: &Step, env: &StepEnv, side: &Side, kube: Arc<dyn KubeApi>) -> Common {
        Common {
            id: step.id.clone(),
            title: step.title.clone(),
            cluster: side.cluster.clone(),
            context: side.context.clone().unwrap_or_default(),
            namespace: side.namespace.clone(),
            kube,
            timing: env.timing.clone(),
        }
    }

    fn kubectl(&self, rest: &str) -> String {
        format!(
            "kubectl --context {} --namespace {} {rest}",
            self.context, self.namespace
        )
    }

    /// Polls the pods matching `selector` until none is left, with progress.
    fn wait_pods_gone(
        &self,
        selector: &str,
        what: &str,
        op: &mut dyn Operator,
    ) -> Result<Duration, StepError> {
        let started = Instant::now();
        let deadline = started + self.timing.deployment;
        let mut first: Option<u64> = None;
        loop {
            let pods = within_wait(&self.timing, deadline, || {
                self.kube.list_pods(&self.namespace, Some(selector))
            })?;
            if pods.is_empty() {
                return Ok(started.elapsed());
            }
            let total = *first.get_or_insert(pods.len() as u64);
            op.progress(
                &self.id,
                total.saturating_sub(pods.len() as u64),
                total,
                &format!("{} {what} still terminating", pods.len()),
            );
            if Instant::now() >= deadline {
                return Err(StepError::fatal(format!(
                    "{} {what} in namespace `{}` of `{}` were still there after {}: {}",
                    pods.len(),
                    self.namespace,
                    self.cluster,
                    human(started.elapsed()),
                    names(&pods)
                )));
            }
            nap(self.timing.poll, deadline)?;
        }
    }
}

fn names(pods: &[Pod]) -> String {
    let mut v: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    if v.len() > 10 {
        let more = v.len() - 10;
        v.truncate(10);
        return format!("{} and {more} more", v.join(", "));
    }
    v.join(", ")
}

macro_rules! common_runner {
    () => {
        fn id(&self) -> &str {
            &self.c.id
        }
        fn title(&self) -> String {
            self.c.title.clone()
        }
        fn destructive(&self) -> bool {
            true
        }
        fn timeout(&self) -> Duration {
            self.c.timing.deployment + Duration::from_secs(60)
        }
    };
}

/// `delete-proxy-public`.
pub struct DeleteProxyPublic {
    c: Common,
}

impl DeleteProxyPublic {
    pub fn new(step: &Step, env: &StepEnv, side: &Side, kube: Arc<dyn KubeApi>) -> Self {
        DeleteProxyPublic {
            c: Common::new(step, env, side, kube),
        }
    }
}

impl StepRunner for DeleteProxyPublic {
    common_runner!();

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let c = &self.c;
        let found = with_retries(&c.timing, || c.kube.get_service(&c.namespace, PROXY_PUBLIC))?;
        Ok(match found {
            None => Preview {
                action: Action::Skip {
                    reason: format!(
                        "Service `{PROXY_PUBLIC}` in namespace `{}` of `{}` is already gone (the old hub is offline)",
                        c.namespace, c.cluster
                    ),
                },
                commands: Vec::new(),
            },
            Some(_) => Preview {
                action: Action::Run {
                    touches: vec![format!("service/{}/{PROXY_PUBLIC}", c.namespace)],
                },
                commands: vec![c.kubectl(&format!("delete svc {PROXY_PUBLIC}"))],
            },
        })
    }

    fn run(&self, preview: &Preview, _op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let c = &self.c;
        let deleted = with_retries(&c.timing, || {
            c.kube.delete_service(&c.namespace, PROXY_PUBLIC)
        })?;
        Ok(Outcome {
            touched: match deleted {
                Deleted::Deleting => touches(preview),
                Deleted::AlreadyGone => Vec::new(),
            },
            summary: format!(
                "deleted Service `{PROXY_PUBLIC}` in namespace `{}` of `{}`: the old hub is offline",
                c.namespace, c.cluster
            ),
        })
    }
}

fn touches(p: &Preview) -> Vec<String> {
    match &p.action {
        Action::Run { touches } => touches.clone(),
        Action::Skip { .. } => Vec::new(),
    }
}

/// `stop-old-hub`.
pub struct StopHub {
    c: Common,
}

impl StopHub {
    pub fn new(step: &Step, env: &StepEnv, side: &Side, kube: Arc<dyn KubeApi>) -> Self {
        StopHub {
            c: Common::new(step, env, side, kube),
        }
    }

    fn selector(&self) -> Result<Option<(i64, String)>, StepError> {
        let c = &self.c;
        let d = with_retries(&c.timing, || c.kube.get_deployment(&c.namespace, HUB))?;
        Ok(d.map(|d| {
            let sel = if d.selector.is_empty() {
                HUB_PODS.to_string()
            } else {
                selector_text(&d.selector)
            };
            (d.replicas, sel)
        }))
    }
}

impl StepRunner for StopHub {
    common_runner!();

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let c = &self.c;
        let (replicas, selector) = self.selector()?.unwrap_or((0, HUB_PODS.to_string()));
        let pods = with_retries(&c.timing, || {
            c.kube.list_pods(&c.namespace, Some(&selector))
        })?;
        if replicas == 0 && pods.is_empty() {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "the hub in namespace `{}` of `{}` is already stopped (no replica, no hub pod)",
                        c.namespace, c.cluster
                    ),
                },
                commands: Vec::new(),
            });
        }
        Ok(Preview {
            action: Action::Run {
                touches: vec![format!("deployment/{}/{HUB}", c.namespace)],
            },
            commands: vec![
                c.kubectl(&format!("scale deployment {HUB} --replicas=0")),
                c.kubectl(&format!(
                    "wait --for=delete pod -l {selector} --timeout={}s",
                    c.timing.deployment.as_secs()
                )),
            ],
        })
    }

    fn run(&self, preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let c = &self.c;
        let Some((replicas, selector)) = self.selector()? else {
            // No Deployment: its pods are what is left to wait for.
            let waited = c.wait_pods_gone(HUB_PODS, "hub pod(s)", op)?;
            return Ok(Outcome {
                touched: Vec::new(),
                summary: format!(
                    "no Deployment `{HUB}` in namespace `{}` of `{}`; no hub pod left after {}",
                    c.namespace,
                    c.cluster,
                    human(waited)
                ),
            });
        };
        if replicas != 0 {
            with_retries(&c.timing, || c.kube.scale_deployment(&c.namespace, HUB, 0))?;
        }
        let waited = c.wait_pods_gone(&selector, "hub pod(s)", op)?;
        Ok(Outcome {
            touched: touches(preview),
            summary: format!(
                "scaled Deployment `{HUB}` in namespace `{}` of `{}` to 0 (was {replicas}); its pods were gone after {}",
                c.namespace,
                c.cluster,
                human(waited)
            ),
        })
    }
}

/// `delete-user-pods`.
pub struct DeleteUserPods {
    c: Common,
}

impl DeleteUserPods {
    pub fn new(step: &Step, env: &StepEnv, side: &Side, kube: Arc<dyn KubeApi>) -> Self {
        DeleteUserPods {
            c: Common::new(step, env, side, kube),
        }
    }
}

impl StepRunner for DeleteUserPods {
    common_runner!();

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let c = &self.c;
        let pods = with_retries(&c.timing, || {
            c.kube.list_pods(&c.namespace, Some(USER_PODS))
        })?;
        if pods.is_empty() {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "no user pod (label `{USER_PODS}`) in namespace `{}` of `{}`",
                        c.namespace, c.cluster
                    ),
                },
                commands: Vec::new(),
            });
        }
        Ok(Preview {
            action: Action::Run {
                touches: pods
                    .iter()
                    .map(|p| format!("pod/{}/{}", c.namespace, p.name))
                    .collect(),
            },
            commands: vec![
                c.kubectl(&format!("delete pods -l {USER_PODS}")),
                c.kubectl(&format!(
                    "wait --for=delete pod -l {USER_PODS} --timeout={}s",
                    c.timing.deployment.as_secs()
                )),
            ],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let c = &self.c;
        // Exactly the pods the operator confirmed that still exist, then any that appeared.
        let pods = with_retries(&c.timing, || {
            c.kube.list_pods(&c.namespace, Some(USER_PODS))
        })?;
        let mut deleted = Vec::new();
        for p in pods.iter().filter(|p| !p.deleting) {
            if with_retries(&c.timing, || c.kube.delete_pod(&c.namespace, &p.name))?
                == Deleted::Deleting
            {
                deleted.push(format!("pod/{}/{}", c.namespace, p.name));
            }
        }
        let waited = c.wait_pods_gone(USER_PODS, "user pod(s)", op)?;
        Ok(Outcome {
            summary: format!(
                "deleted {} user pod(s) in namespace `{}` of `{}`; all gone after {}",
                deleted.len(),
                c.namespace,
                c.cluster,
                human(waited)
            ),
            touched: deleted,
        })
    }
}
