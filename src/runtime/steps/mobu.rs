//! mobu around the outage: `stop-mobu-flocks` stops each autostart flock of the
//! environment's mobu values (`DELETE /mobu/flocks/<name>`: 204, or 404 = not running), so the
//! outage raises no alarms; `restore-mobu` restarts mobu's Deployment (`rollout restart`: mobu
//! reads its autostart configuration only at start, and an Argo CD sync of an unchanged app
//! does not restart it) and waits until it is ready.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{StepEnv, Timing, and_list, with_retries};
use crate::playbook::Step;
use crate::runtime::clients::kube::{KubeApi, WaitError, selector_text};
use crate::runtime::clients::mobu::{MobuApi, Stopped};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::rfc3339;

/// mobu's namespace and Deployment.
pub const MOBU: &str = "mobu";

pub struct StopFlocks {
    id: String,
    title: String,
    flocks: Vec<String>,
    token_var: String,
    mobu: Arc<dyn MobuApi>,
    timing: Timing,
}

impl StopFlocks {
    pub fn new(step: &Step, env: &StepEnv, mobu: Arc<dyn MobuApi>) -> StopFlocks {
        StopFlocks {
            id: step.id.clone(),
            title: step.title.clone(),
            flocks: env.mobu_flocks.clone(),
            token_var: super::token_var(&env.mobu_token_var, "MOBU_TOKEN"),
            mobu,
            timing: env.timing.clone(),
        }
    }

    fn curl(&self, flock: &str) -> String {
        format!(
            "curl -X DELETE -H \"Authorization: Bearer {}\" {}/flocks/{flock}",
            self.token_var,
            self.mobu.base_url()
        )
    }
}

impl StepRunner for StopFlocks {
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
        Duration::from_secs(120)
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        if self.flocks.is_empty() {
            return Ok(Preview {
                action: Action::Skip {
                    reason: "mobu's values list no autostart flock".into(),
                },
                commands: Vec::new(),
            });
        }
        let mut running = Vec::new();
        for f in &self.flocks {
            if with_retries(&self.timing, || self.mobu.flock_running(f))? {
                running.push(f.clone());
            }
        }
        if running.is_empty() {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "no autostart flock is running ({} already stopped)",
                        and_list(&self.flocks)
                    ),
                },
                commands: Vec::new(),
            });
        }
        Ok(Preview {
            commands: running.iter().map(|f| self.curl(f)).collect(),
            action: Action::Run {
                touches: running.iter().map(|f| format!("flock/{f}")).collect(),
            },
        })
    }

    fn run(&self, _preview: &Preview, _op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let mut stopped = Vec::new();
        let mut idle = Vec::new();
        for f in &self.flocks {
            match with_retries(&self.timing, || self.mobu.stop_flock(f))? {
                Stopped::Stopped => stopped.push(f.clone()),
                Stopped::NotRunning => idle.push(f.clone()),
            }
        }
        let mut summary = if stopped.is_empty() {
            "no flock was running".to_string()
        } else {
            format!("stopped {}", and_list(&stopped))
        };
        if !stopped.is_empty() && !idle.is_empty() {
            summary.push_str(&format!(
                "; {} {} not running",
                and_list(&idle),
                if idle.len() == 1 { "was" } else { "were" }
            ));
        }
        Ok(Outcome {
            touched: stopped.iter().map(|f| format!("flock/{f}")).collect(),
            summary,
        })
    }
}

pub struct RestoreMobu {
    id: String,
    title: String,
    kube: Arc<dyn KubeApi>,
    timing: Timing,
    /// The generation this process's restart produced: a retry waits for it instead of
    /// restarting again.
    restarted: Mutex<Option<i64>>,
}

impl RestoreMobu {
    pub fn new(step: &Step, env: &StepEnv, kube: Arc<dyn KubeApi>) -> RestoreMobu {
        RestoreMobu {
            id: step.id.clone(),
            title: step.title.clone(),
            kube,
            timing: env.timing.clone(),
            restarted: Mutex::new(None),
        }
    }
}

impl StepRunner for RestoreMobu {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn timeout(&self) -> Duration {
        self.timing.deployment + Duration::from_secs(60)
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let found = with_retries(&self.timing, || self.kube.get_deployment(MOBU, MOBU))?;
        Ok(match found {
            None => Preview {
                action: Action::Skip {
                    reason: format!(
                        "no Deployment `{MOBU}` in namespace `{MOBU}`: mobu does not run here"
                    ),
                },
                commands: Vec::new(),
            },
            Some(_) => Preview {
                action: Action::Run {
                    touches: vec![format!("deployment/{MOBU}/{MOBU}")],
                },
                commands: vec![
                    format!("kubectl rollout restart deployment/{MOBU} -n {MOBU}"),
                    format!(
                        "kubectl rollout status deployment/{MOBU} -n {MOBU} --timeout={}s",
                        self.timing.deployment.as_secs()
                    ),
                ],
            },
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let mut restarted = self.restarted.lock().unwrap_or_else(|e| e.into_inner());
        let generation = match *restarted {
            Some(g) => g,
            None => {
                let at = rfc3339(SystemTime::now());
                let d = with_retries(&self.timing, || {
                    self.kube.restart_deployment(MOBU, MOBU, &at)
                })?;
                *restarted = Some(d.generation);
                d.generation
            }
        };
        drop(restarted);
        let id = self.id.clone();
        let ready = self
            .kube
            .wait_ready(
                MOBU,
                MOBU,
                generation,
                self.timing.deployment,
                self.timing.poll,
                &mut |d| {
                    op.progress(
                        &id,
                        d.available_replicas.max(0) as u64,
                        d.replicas.max(0) as u64,
                        &d.describe(),
                    )
                },
            )
            .map_err(|e| match e {
                WaitError::Client(c) => StepError::from(c),
                other => StepError::fatal(other.to_string()),
            })?;
        let pods = with_retries(&self.timing, || {
            self.kube
                .list_pods(MOBU, Some(&selector_text(&ready.selector)))
        })
        .unwrap_or_default();
        let running: Vec<String> = pods
            .iter()
            .filter(|p| p.ready && !p.deleting)
            .map(|p| p.name.clone())
            .collect();
        let mut summary = format!(
            "restarted Deployment `{MOBU}`; ready ({}/{})",
            ready.ready_replicas, ready.replicas
        );
        if !running.is_empty() {
            summary.push_str(&format!(": {}", and_list(&running)));
        }
        Ok(Outcome {
            touched: vec![format!("deployment/{MOBU}/{MOBU}")],
            summary,
        })
    }
}
