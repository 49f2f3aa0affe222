//! The clients the window's steps talk to the world through: the Kubernetes API (`kube`),
//! Argo CD (`argocd`), mobu (`mobu`) and the hubs' health endpoints (`health`); for the hub
//! move, files in pods through the operator's `kubectl` (`kubectl`), name resolution (`dns`)
//! and the hub's sqlite database through the operator's `sqlite3` (`sqlite`). Each is a
//! trait (`KubeApi`, `ArgoCdApi`, `MobuApi`, `HealthApi`) with one blocking implementation
//! over HTTP (`http`, on `ureq`), so steps take `&dyn KubeApi` and tests point the real
//! implementations at doubles that speak the same REST over a real socket.
//!
//! Owns: the requests, the JSON shapes read back, what each service's answers mean (404 on
//! delete = already gone, a redirect from mobu = a bad token, "another operation is already in
//! progress" from Argo CD), whether a Deployment's rollout is complete, and error texts that
//! never hold a token. Does not own: retrying, the steps' waits, or deciding what to touch
//! (the steps).

pub mod argocd;
pub mod dns;
pub mod health;
pub mod kube;
pub mod kubeconfig;
pub mod kubectl;
pub mod mobu;
pub mod postgres;
pub mod sqlite;
pub mod vault;

pub use crate::http::ClientError;
pub use argocd::{ArgoCdApi, ArgoCdClient};
pub use dns::{Resolver, SystemResolver};
pub use health::{HealthApi, HealthClient};
pub use kube::{KubeApi, KubeClient};
pub use kubeconfig::KubeConfig;
pub use kubectl::{Kubectl, PodFiles, PodRef};
pub use mobu::{MobuApi, MobuClient};
pub use postgres::{PostgresApi, PsqlClient};
pub use sqlite::Sqlite;
pub use vault::{VaultApi, VaultClient};
