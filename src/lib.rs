//! gitops-migrate: multi-stage migrations of JupyterHub platforms run from GitOps
//! repositories of Helm values files, as reviewed Git changes and guided runbooks.
//!
//! Data flow: repository files → `yaml` (lossless documents) → … → `cli` (commands and output).

pub mod cli;
pub mod yaml;
