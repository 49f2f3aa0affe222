//! The nublado model of a Phalanx repository: what `validate` judges and the nublado playbook
//! moves forward, read from the files every time. Each environment's place in the v2 → v3
//! migration (`state`), the routes of its two hubs (`routes`), their lab volumes in every syntax
//! the charts have had (`volumes`), the v3 controller's configuration keys per chart version
//! (`controller`), the hubs' databases (`database`) and mobu's flocks (`mobu`).
//!
//! Owns: reading these settings with their file positions and the chart versions they depend
//! on. Does not own: judging them (`validate`) or changing them (`playbook::nublado`).

pub mod controller;
pub mod database;
pub mod mobu;
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

/// The applications whose files the nublado model reads (besides the environment files).
pub const MODEL_APPS: [&str; 6] = [
    "nublado",
    "nublado2",
    "cachemachine",
    "moneypenny",
    "mobu",
    "postgres",
];

/// The files the nublado model reads that cannot be read: an environment file (or the defaults
/// file), or a `Chart.yaml`, `values.yaml` or `values-<env>.yaml` of the applications in
/// `MODEL_APPS`, that is not valid YAML or that the editor cannot read. While one is there,
/// states, routes and databases would be made up from what is missing, so `status` and the
/// stage commands refuse to derive anything (an input error naming `file:line:col`).
pub fn unreadable_files(p: &crate::repo::Phalanx) -> Vec<crate::repo::RepoError> {
    let env_files = p
        .environments
        .iter()
        .map(|e| e.file.rel.clone())
        .chain([p.defaults.rel.clone()]);
    let app_files = MODEL_APPS
        .iter()
        .filter_map(|a| p.applications.get(*a))
        .flat_map(|a| {
            [
                format!("{}/Chart.yaml", a.dir),
                format!("{}/values.yaml", a.dir),
            ]
            .into_iter()
            .chain(a.values.values().cloned())
        });
    let mut out = Vec::new();
    for rel in env_files.chain(app_files) {
        if let Some(Err(e)) = p.files.get(&rel).map(|l| &l.doc) {
            let (line, col) = e.at.unwrap_or((1, 1));
            let message = if e.syntax {
                e.message.clone()
            } else {
                format!("the editor cannot read this file: {}", e.message)
            };
            out.push(crate::repo::RepoError::Malformed {
                path: rel,
                line,
                col,
                message,
            });
        }
    }
    out
}
