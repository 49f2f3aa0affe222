//! The Kubernetes calls of the window as a trait (`KubeApi`), which steps take as
//! `&dyn KubeApi` so that tests point the real client at a double, and what a write under
//! optimistic concurrency (`Written`) or a wait for a rollout (`WaitError`) can end with.
//!
//! Owns: the contract of each call. Does not own: its implementation (`client`), the objects
//! (`model`).

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::ClientError;
use crate::util::time::human;

use super::model::*;

/// What a write under optimistic concurrency did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written<T> {
    Done(T),
    /// 409: the object exists already (create) or changed since it was read (update); what
    /// the API server said.
    Conflict(String),
}

/// Why waiting for a Deployment ended without it being ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("Deployment `{name}` in namespace `{namespace}` does not exist")]
    Missing { namespace: String, name: String },
    #[error(
        "Deployment `{}` in namespace `{}` was not ready after {}: last seen {}",
        .last.name, .last.namespace, human(*.waited), .last.describe()
    )]
    TimedOut {
        last: Box<Deployment>,
        waited: Duration,
    },
    /// The Deployment controller reports `ProgressDeadlineExceeded`: waiting longer cannot help.
    #[error(
        "the rollout of Deployment `{}` in namespace `{}` failed: {why} (condition Progressing: {PROGRESS_DEADLINE_EXCEEDED}; last seen {})",
        .last.name, .last.namespace, .last.describe()
    )]
    Failed { last: Box<Deployment>, why: String },
    /// The run was interrupted (SIGINT, SIGTERM) while it waited.
    #[error("{0}")]
    Interrupted(String),
}

/// The Kubernetes calls of the window. Implemented by `KubeClient`; steps take `&dyn KubeApi`.
pub trait KubeApi: Send + Sync + fmt::Debug {
    /// The API server's URL, for messages and previews.
    fn server(&self) -> &str;
    /// Namespaces matching the selectors (`nublado.lsst.io/category=lab`,
    /// `metadata.name=nublado2-alice`), all pages.
    fn list_namespaces(
        &self,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Vec<Namespace>, ClientError>;
    fn get_namespace(&self, name: &str) -> Result<Option<Namespace>, ClientError>;
    /// Deletes a namespace; 404 is `AlreadyGone`, and a namespace already `Terminating` is
    /// `Deleting`.
    fn delete_namespace(&self, name: &str) -> Result<Deleted, ClientError>;
    fn get_deployment(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Deployment>, ClientError>;
    /// Deletes a Deployment (background propagation: its pods go after it); 404 is
    /// `AlreadyGone`.
    fn delete_deployment(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError>;
    /// `kubectl rollout restart`: sets the pod template's `kubectl.kubernetes.io/restartedAt`
    /// to `at`; returns the Deployment with its new generation.
    fn restart_deployment(
        &self,
        namespace: &str,
        name: &str,
        at: &str,
    ) -> Result<Deployment, ClientError>;
    fn list_pods(
        &self,
        namespace: &str,
        label_selector: Option<&str>,
    ) -> Result<Vec<Pod>, ClientError>;
    /// Deletes one pod; 404 is `AlreadyGone`.
    fn delete_pod(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError>;
    /// `kubectl scale --replicas`: sets `spec.replicas`; returns the Deployment with its new
    /// generation.
    fn scale_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i64,
    ) -> Result<Deployment, ClientError>;
    fn get_service(&self, namespace: &str, name: &str) -> Result<Option<Service>, ClientError>;
    /// Deletes a Service; 404 is `AlreadyGone`.
    fn delete_service(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError>;
    /// Creates a Service from its manifest (JSON, `metadata.name` and `spec`); when one of
    /// that name exists already (409), that one if it has every label of the manifest, its
    /// selector and its source ranges (left by an earlier run), else a permanent error naming
    /// it.
    fn create_service(&self, namespace: &str, manifest: &Value) -> Result<Service, ClientError>;
    fn get_lease(&self, namespace: &str, name: &str) -> Result<Option<Lease>, ClientError>;
    /// Creates a Lease; one that exists already is a `Conflict`.
    fn create_lease(&self, lease: &Lease) -> Result<Written<Lease>, ClientError>;
    /// Replaces a Lease, naming the `resource_version` it was read at: a `Conflict` when
    /// someone wrote it since.
    fn update_lease(&self, lease: &Lease) -> Result<Written<Lease>, ClientError>;

    /// Polls a Deployment until its rollout of at least `generation` is complete
    /// (`Deployment::rollout`), calling `seen` with each state; fails at once when the
    /// rollout failed (`ProgressDeadlineExceeded`), and gives up after `timeout`.
    fn wait_ready(
        &self,
        namespace: &str,
        name: &str,
        generation: i64,
        timeout: Duration,
        poll: Duration,
        seen: &mut dyn FnMut(&Deployment),
    ) -> Result<Deployment, WaitError> {
        let start = Instant::now();
        loop {
            // Errors that can heal are tried again until the wait's own deadline.
            let d = crate::retry::RetryPolicy::default()
                .run_pausing(
                    Some(crate::runtime::step_time::cap(
                        Some(start + timeout),
                        timeout,
                    )),
                    crate::runtime::interrupt::sleep,
                    || self.get_deployment(namespace, name),
                )?
                .ok_or_else(|| WaitError::Missing {
                    namespace: namespace.into(),
                    name: name.into(),
                })?;
            seen(&d);
            if d.generation >= generation {
                match d.rollout() {
                    Rollout::Complete => return Ok(d),
                    Rollout::Failed(why) => {
                        return Err(WaitError::Failed {
                            last: Box::new(d),
                            why,
                        });
                    }
                    Rollout::Waiting(_) => {}
                }
            }
            if start.elapsed() >= timeout {
                return Err(WaitError::TimedOut {
                    last: Box::new(d),
                    waited: start.elapsed(),
                });
            }
            if !crate::runtime::interrupt::sleep(poll.min(timeout.saturating_sub(start.elapsed())))
            {
                return Err(WaitError::Interrupted(crate::runtime::interrupt::stopped()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client
