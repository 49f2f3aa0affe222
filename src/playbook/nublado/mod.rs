//! The nublado v2 → v3 migration of a Phalanx environment, as stages: each reads the nublado
//! model of the repository (`repo::nublado`: state, routes, lab volumes, databases) and yields
//! the Git change, the ledger of what it did with every setting, and the window runbook.
//! `enable-v3` writes v3's settings translated from v2's (`translate`).
//!
//! The model's modules are re-exported here so that the playbook's callers name one place.

pub mod hub_db;
mod playbook;
pub mod stages;
pub mod translate;

pub use playbook::{Nublado, Request, readable};

pub use crate::repo::nublado::{
    EnvState, HubRoute, MOBU_LAB_TYPES, Routes, State, V2, V2_APPS, V3, database,
    environment_state, routes, state, volumes,
};
