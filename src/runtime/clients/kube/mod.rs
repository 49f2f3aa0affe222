//! A minimal, blocking Kubernetes REST client: the handful of calls the window needs
//! (namespaces: list, get (with the UID: `kube-system`'s identifies a cluster), delete;
//! deployments: get, delete, scale, `rollout restart`, wait until ready; pods: list, delete;
//! services: get, create, delete; `coordination.k8s.io/v1` Leases: get, create, update under
//! optimistic concurrency), configured from the operator's kubeconfig.
//!
//! Why not kube-rs: it is async, so the crate would carry a tokio runtime (and hyper, tower,
//! k8s-openapi's thousands of generated types) for eight REST calls; a cold build of that stack
//! takes minutes on the two cores this project builds on, and `ureq` is already here for
//! GitHub. The calls are plain JSON over HTTPS; the tests' Kubernetes double speaks the same
//! REST over a real socket, so nothing is lost by talking it directly. Bounded concurrency for
//! namespace deletion is a few threads sharing one agent.
//!
//! Configuration follows kubectl: see `kubeconfig` (contexts, TLS, proxies, credential
//! plugins, impersonation), which gives each client its `Access`.
//!
//! Owns: the REST paths, the JSON shapes read back, what statuses mean (404 on delete =
//! already gone; 409 on a namespace that is `Terminating` = already going), and when a
//! Deployment's rollout is complete or failed, decided as `kubectl rollout status` decides it
//! (`Deployment::rollout`). Tokens appear only
//! in the `Authorization` header.
//!
//! Its parts: `model` (the objects as the window reads them: namespaces, Deployments and their
//! rollout, pods, services, Leases), `api` (the `KubeApi` trait steps take, and what a write
//! or a wait can end with) and `client` (`KubeClient`: the REST calls over the HTTP layer).

mod api;
mod client;
mod model;

pub use api::*;
pub use client::*;
pub use model::*;

#[cfg(test)]
mod tests;
