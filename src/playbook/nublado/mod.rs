//! The nublado v2 → v3 migration of a Phalanx environment: where each environment stands
//! (`state`), the routes of its two hubs (`routes`) and their lab volumes (`volumes`). The
//! stages that move an environment forward build on these; `enable-v3` writes v3's lab
//! settings translated from v2's (`translate`).

pub mod routes;
pub mod stages;
pub mod state;
pub mod translate;
pub mod volumes;

pub use routes::{HubRoute, Routes};
pub use state::{EnvState, State, environment_state};

/// The v3 application.
pub const V3: &str = "nublado";
/// The v2 application.
pub const V2: &str = "nublado2";
/// The applications that go with v2 and are retired with it.
pub const V2_APPS: [&str; 3] = ["nublado2", "cachemachine", "moneypenny"];

/// mobu's business types that run notebooks in labs (`JupyterPythonLoop` was renamed
/// `NubladoPythonLoop` in mobu 7).
pub const MOBU_LAB_TYPES: [&str; 4] = [
    "NotebookRunner",
    "JupyterPythonLoop",
    "NubladoPythonLoop",
    "NotebookRunnerCounting",
];
