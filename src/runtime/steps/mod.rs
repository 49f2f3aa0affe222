//! The steps of the window runbooks, built from the plan's step ids (`sync-app:nublado`,
//! `delete-lab-namespaces:nublado2`, `manual:test-lab`, …) for one environment.
//!
//! Owns: the registry (`build`) and what every step needs to know about its environment
//! (`StepEnv`). Each kind of step lives in its own module and talks to the world only through
//! the clients in `runtime::clients`.

pub mod manual;

use super::{StepError, StepRunner};
use crate::playbook::Step;

/// What the steps of one environment's runbook need: names and addresses read from the
/// repository and the configuration. Clients are added by the steps that use them.
#[derive(Debug, Clone, Default)]
pub struct StepEnv {
    /// The environment (Phalanx) or hub (infrastructure).
    pub name: String,
    /// `data.lsst.cloud`: routes are checked at `https://<fqdn><route>/hub/health`.
    pub fqdn: String,
    /// The names of mobu's autostart flocks in the environment's mobu values.
    pub mobu_flocks: Vec<String>,
}

/// Builds the runner of a planned step.
pub fn build(step: &Step, env: &StepEnv) -> Result<Box<dyn StepRunner>, StepError> {
    let (kind, arg) = step.id.split_once(':').unwrap_or((step.id.as_str(), ""));
    match kind {
        "manual" => Ok(Box::new(manual::Manual::new(&step.id, &step.title))),
        _ => {
            let _ = (arg, env);
            Err(StepError::fatal(format!(
                "step `{}` cannot run in this version: its client is not built yet",
                step.id
            )))
        }
    }
}
