//! The nublado model of a Phalanx repository: what `validate` judges and the nublado playbook
//! moves forward, read from the files every time. Each environment's place in the v2 → v3
//! migration (`state`), the routes of its two hubs (`routes`), their lab volumes in every syntax
//! the charts have had (`volumes`), the v3 controller's configuration keys per chart version
//! (`controller`), the hubs' databases (`database`) and mobu's flocks (`mobu`).
//!
//! Owns: reading these settings with their file positions and the chart versions they depend
//! on. Does not own: judging them (`validate`) or changing them (`playbook::nublado`).

pub mod database;
pub mod routes;
pub mod state;
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
