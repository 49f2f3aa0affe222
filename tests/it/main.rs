//! The integration tests, in one test binary: each module below was a test crate of its own,
//! and linking the whole crate into every one of them cost most of a test build's time and
//! disk. Shared helpers live in `common` (fixtures, snapshots, the `../shared/` data) and
//! `support` (the HTTP doubles of the Kubernetes API, Argo CD, mobu and the hubs).
//!
//! Run one module with `cargo nextest run -E 'test(/^stages::/)'`, or one test by name.

mod common;
mod support;

mod cli_edit;
mod cli_options;
mod cli_output;
mod cluster_steps;
mod config;
mod exec_e2e;
mod exec_engine;
mod hub_move;
mod hub_move_exec;
mod hub_move_transfer;
mod kubeconfig;
mod kubectl_double;
mod pr;
mod precommit;
mod proptest_edits;
mod pyyaml_oracle;
mod readme;
mod stages;
mod sync_homes;
mod sync_homes_ssh;
mod translate;
mod validate_infra;
mod validate_phalanx;
mod validate_yaml;
mod vault_postgres;
mod yaml_edits;
mod yaml_readers;
mod yaml_suite;
