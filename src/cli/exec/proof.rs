//! The proof a window run makes before its first change to a cluster, after the playbook's
//! kube-context check: each cluster is the one recorded for it (API server and the UID of its
//! `kube-system` namespace, recorded in `gitops-migrate.toml` on first use once a person
//! confirms), two sides of a move are two clusters, and the run holds a `Lease` in each
//! cluster (one operator anywhere), kept until the run ends.
//!
//! Owns: the fingerprint check and its recording, the same-cluster refusal, taking the leases
//! and the texts that say what was proved. Does not own: the lease protocol
//! (`runtime::lease`), the configuration file (`config`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{Config, Fingerprint, Key};
use crate::runtime::Operator;
use crate::runtime::clients::KubeApi;
use crate::runtime::journal::{host_name, user_name};
use crate::runtime::lease::{self, HeldLease, LeaseSpec};

/// A cluster a window changes.
#[derive(Clone)]
pub struct Cluster {
    /// `environment `idfdev`` or `cluster `temple``, for messages.
    pub label: String,
    /// `environments.idfdev` or `clusters.temple`: where its fingerprint is recorded.
    pub config_prefix: String,
    pub context: String,
    /// The context's API server, from the kubeconfig.
    pub server: String,
    pub kube: Arc<dyn KubeApi>,
    pub recorded: Fingerprint,
    pub lease_duration: Duration,
}

/// The leases a run holds, released when it ends.
pub type Leases = Arc<Mutex<Vec<HeldLease>>>;

/// What a run needs to prove its clusters.
pub struct ClusterProof {
    pub clusters: Vec<Cluster>,
    /// The configuration file, where a first-seen cluster is recorded.
    pub config: PathBuf,
    /// The lease's name in each cluster (`gitops-migrate-nublado-idfdev`).
    pub lease_name: String,
    /// What the run is (`nublado make-default --env idfdev`), written on the lease.
    pub command: String,
    pub leases: Leases,
    /// The run this one took the local lock over from (interrupted on this machine): its
    /// leases are taken over at once.
    pub interrupted: Option<String>,
}

/// The UID of a cluster's `kube-system` namespace.
fn fingerprint(c: &Cluster) -> Result<String, String> {
    let ns = c
        .kube
        .get_namespace("kube-system")
        .map_err(|e| format!("cannot read the fingerprint of {}: {e}", c.label))?
        .ok_or_else(|| {
            format!(
                "{} (context `{}`, {}) has no `kube-system` namespace: not a Kubernetes cluster the tool knows",
                c.label, c.context, c.server
            )
        })?;
    if ns.uid.is_empty() {
        return Err(format!(
            "the `kube-system` namespace of {} has no UID",
            c.label
        ));
    }
    Ok(ns.uid)
}

/// Records a first-seen cluster's fingerprint in the configuration file.
fn record(path: &Path, prefix: &str, server: &str, uid: &str) -> Result<(), String> {
    let mut config = Config::load(path).map_err(|e| e.to_string())?;
    for (field, value) in [("api_server", server), ("cluster_uid", uid)] {
        let key = Key::parse(&format!("{prefix}.{field}")).map_err(|e| e.to_string())?;
        config.set(&key, value).map_err(|e| e.to_string())?;
    }
    config.save().map_err(|e| e.to_string())
}

impl ClusterProof {
    /// Proves every cluster and takes the leases; what was proved, for the journal.
    pub fn prove(&self, op: &mut dyn Operator, run: &str) -> Result<Vec<String>, String> {
        let mut notes = Vec::new();
        let mut seen: Vec<(&Cluster, String, String)> = Vec::new();
        for c in &self.clusters {
            let uid = fingerprint(c)?;
            let server = c.server.trim_end_matches('/').to_string();
            if let Some((other, ..)) = seen.iter().find(|(_, s, u)| *u == uid || *s == server) {
                return Err(format!(
                    "{} and {} are the same cluster ({server}, kube-system UID {uid}): a move goes between two clusters; check the contexts of both (`{}` and `{}`) in the configuration and the kubeconfig",
                    other.label, c.label, other.context, c.context
                ));
            }
            seen.push((c, server, uid));
        }
        for (c, server, uid) in &seen {
            match (&c.recorded.api_server, &c.recorded.uid) {
                (Some(s), Some(u)) => {
                    let s = s.trim_end_matches('/');
                    if s != server || u != uid {
                        return Err(format!(
                            "{} was recorded as the cluster at {s} with kube-system UID {u}, but context `{}` reaches {server} with kube-system UID {uid}: another cluster (or one rebuilt since); nothing was changed. If this is the right cluster, record it: `gitops-migrate config set {}.api_server {server}` and `… {}.cluster_uid {uid}`",
                            c.label, c.context, c.config_prefix, c.config_prefix
                        ));
                    }
                    notes.push(format!(
                        "{} is the recorded cluster: {server}, kube-system UID {uid} (context `{}`)",
                        c.label, c.context
                    ));
                }
                _ => {
                    let question = format!(
                        "{} has no recorded cluster yet. Context `{}` reaches the API server {server}, whose kube-system namespace has the UID {uid}. Is this {}'s cluster? (it is recorded in {} and every later run checks it)",
                        c.label,
                        c.context,
                        c.label,
                        self.config.display()
                    );
                    if !op.verify(&question) {
                        return Err(format!(
                            "{} has no recorded cluster and none was confirmed: confirm it on a terminal, or record it with `gitops-migrate config set {}.api_server {server}` and `gitops-migrate config set {}.cluster_uid {uid}`",
                            c.label, c.config_prefix, c.config_prefix
                        ));
                    }
                    record(&self.config, &c.config_prefix, server, uid)?;
                    notes.push(format!(
                        "{} recorded as the cluster at {server}, kube-system UID {uid} (context `{}`), in {}",
                        c.label,
                        c.context,
                        self.config.display()
                    ));
                }
            }
        }
        // Alone: a lease in every cluster, before the first change.
        let holder = lease::holder_identity(&user_name(), &host_name(), run);
        let mut held = Vec::new();
        for c in &self.clusters {
            let spec = LeaseSpec {
                namespace: lease::NAMESPACE.into(),
                name: self.lease_name.clone(),
                holder: holder.clone(),
                duration: c.lease_duration,
                annotations: BTreeMap::from([(lease::COMMAND.to_string(), self.command.clone())]),
                gone: self.interrupted.clone(),
            };
            let l =
                HeldLease::acquire(c.kube.clone(), &c.label, &spec).map_err(|e| e.to_string())?;
            if let Some(previous) = &l.took_over {
                let why = if Some(previous) == self.interrupted.as_ref() {
                    "the run interrupted on this machine"
                } else {
                    "whose run stopped renewing it (it had expired)"
                };
                notes.push(format!(
                    "the lease of {} was taken over from {previous}, {why}",
                    c.label
                ));
            }
            notes.push(format!(
                "{} (renewed every {} s while the run lives)",
                l.describe(),
                (c.lease_duration / 3).as_secs().max(1)
            ));
            held.push(l);
        }
        self.leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(held);
        Ok(notes)
    }
}

/// `Err` once a lease of the run is lost.
pub fn leases_held(leases: &Leases) -> Result<(), String> {
    for l in leases.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        l.check()?;
    }
    Ok(())
}

/// A lease name for a playbook's target: a DNS label (`gitops-migrate-nublado-idfdev`).
pub fn lease_name(playbook: &str, target: &str) -> String {
    let raw = format!("gitops-migrate-{playbook}-{target}").to_ascii_lowercase();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(63);
    name.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_dns_labels() {
        assert_eq!(
            lease_name("nublado", "idfdev"),
            "gitops-migrate-nublado-idfdev"
        );
        assert_eq!(
            lease_name("hub-move", "Prod_1"),
            "gitops-migrate-hub-move-prod-1"
        );
        assert!(lease_name("x", &"a".repeat(100)).len() <= 63);
    }
}
