//! gitops-migrate: multi-stage migrations of JupyterHub platforms run from GitOps
//! repositories of Helm values files, as reviewed Git changes and guided runbooks.
//!
//! Data flow, one direction only (`scripts/check-module-graph` checks it): `util` (atomic
//! writes, text, terminal style, suggestions, time, redaction) → `retry` and `http` → `yaml` (lossless documents)
//! → `repo` (what the repository is, the nublado model included) → `validate` (findings),
//! `config` (the tool's settings) and `change` (change sets) → `playbook` (each migration a
//! type implementing the `Playbook` trait: state, stages, runbooks) → `git`, `github` and
//! `deliver` (a stage's pull request: commit, push, GitHub) and `runtime` (the window's
//! engine, journal, steps, clients and their wiring) → `cli` (clap definitions, one subcommand
//! per playbook, and output).

pub mod change;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod git;
pub mod github;
pub mod http;
pub mod playbook;
pub mod repo;
pub mod retry;
pub mod runtime;
pub mod util;
pub mod validate;
pub mod yaml;
