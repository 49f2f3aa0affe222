//! `delete-lab-namespaces:<nublado2|nublado>`: deletes the users' lab namespaces and waits
//! until they are gone.
//!
//! v2 labs are `nublado2-<user>` with no labels: selected by the EXACT prefix `nublado2-`
//! (the seed's `grep nublado2-` matches substrings). v3 labs are `nublado-<user>` labelled
//! `nublado.lsst.io/category=lab`: selected by both. A hard deny-list (`PROTECTED`: the
//! platform's own namespaces, `nublado-users`, system namespaces) is checked when the
//! namespaces are selected, again when the step starts, and right before each delete call,
//! whatever a listing or a label says.
//!
//! The run deletes exactly what the preview listed (and the operator confirmed) that still
//! exists, with bounded concurrency (`Timing::concurrency` threads sharing one client), retries
//! a retryable failure (a 500) on one namespace with backoff, then polls the listing until
//! every one of them is gone, reporting progress.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::{StepEnv, Timing, nap, with_retries, within_wait};
use crate::playbook::Step;
use crate::runtime::clients::ClientError;
use crate::runtime::clients::kube::{Deleted, KubeApi, Namespace};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::human;

/// v3 labs carry this label.
pub const LAB_LABEL: (&str, &str) = ("nublado.lsst.io/category", "lab");

/// Namespaces never deleted by this step, whatever a listing or a label says: the
/// applications' own namespaces, nublado-users, and the cluster's.
pub const PROTECTED: &[&str] = &[
    "nublado",
    "nublado2",
    "nublado-users",
    "fileservers",
    "cachemachine",
    "moneypenny",
    "mobu",
    "postgres",
    "gafaelfawr",
    "argocd",
    "vault-secrets-operator",
    "ingress-nginx",
    "cert-manager",
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
];

/// Which hub's labs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labs {
    /// nublado v2: `nublado2-<user>`.
    V2,
    /// nublado v3: `nublado-<user>` labelled `nublado.lsst.io/category=lab`.
    V3,
}

impl Labs {
    pub fn from_app(app: &str) -> Option<Labs> {
        match app {
            "nublado2" => Some(Labs::V2),
            "nublado" => Some(Labs::V3),
            _ => None,
        }
    }

    pub fn prefix(self) -> &'static str {
        match self {
            Labs::V2 => "nublado2-",
            Labs::V3 => "nublado-",
        }
    }

    /// The server-side selection.
    pub fn label_selector(self) -> Option<String> {
        match self {
            Labs::V2 => None,
            Labs::V3 => Some(format!("{}={}", LAB_LABEL.0, LAB_LABEL.1)),
        }
    }

    /// `nublado2-<user>` / `nublado-<user> labelled nublado.lsst.io/category=lab`.
    pub fn pattern(self) -> String {
        match self {
            Labs::V2 => "`nublado2-<user>` (exact prefix)".into(),
            Labs::V3 => format!(
                "`nublado-<user>` labelled `{}={}`",
                LAB_LABEL.0, LAB_LABEL.1
            ),
        }
    }
}

/// A valid namespace name (an RFC 1123 label).
fn dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The names this step may ever delete: `Ok` for `<prefix><user>`, never a protected name.
pub fn name_allowed(labs: Labs, name: &str) -> Result<(), String> {
    if PROTECTED.contains(&name) || name.starts_with("kube-") || name.starts_with("openshift-") {
        return Err(format!("`{name}`, a protected namespace"));
    }
    let user = name
        .strip_prefix(labs.prefix())
        .ok_or_else(|| format!("`{name}`, which is not named {}<user>", labs.prefix()))?;
    if user.is_empty() || !dns_label(name) {
        return Err(format!("`{name}`, which is not a lab namespace name"));
    }
    Ok(())
}

/// The hard check made before any delete: `Ok` only for a lab namespace of `labs` (its name,
/// and for v3 its label); `Err` says why not. `labels` are the namespace's labels as listed.
pub fn deletable(labs: Labs, name: &str, labels: &BTreeMap<String, String>) -> Result<(), String> {
    name_allowed(labs, name)?;
    if labs == Labs::V3 && labels.get(LAB_LABEL.0).map(String::as_str) != Some(LAB_LABEL.1) {
        return Err(format!(
            "`{name}`, which is not labelled `{}={}`",
            LAB_LABEL.0, LAB_LABEL.1
        ));
    }
    Ok(())
}

pub struct DeleteLabs {
    id: String,
    title: String,
    labs: Labs,
    kube: Arc<dyn KubeApi>,
    timing: Timing,
}

/// What one listing found.
struct Selection {
    /// Lab namespaces, sorted.
    labs: Vec<Namespace>,
    /// Names that matched the selection but are protected.
    protected: Vec<String>,
}

impl DeleteLabs {
    pub fn new(step: &Step, env: &StepEnv, labs: Labs, kube: Arc<dyn KubeApi>) -> DeleteLabs {
        DeleteLabs {
            id: step.id.clone(),
            title: step.title.clone(),
            labs,
            kube,
            timing: env.timing.clone(),
        }
    }

    fn list(&self) -> Result<Vec<Namespace>, ClientError> {
        let selector = self.labs.label_selector();
        with_retries(&self.timing, || {
            self.kube.list_namespaces(selector.as_deref(), None)
        })
    }

    fn select(&self) -> Result<Selection, ClientError> {
        let mut labs = Vec::new();
        let mut protected = Vec::new();
        for ns in self.list()? {
            if !ns.name.starts_with(self.labs.prefix()) {
                continue;
            }
            match deletable(self.labs, &ns.name, &ns.labels) {
                Ok(()) => labs.push(ns),
                Err(_) if self.labs == Labs::V3 && !ns.labels.contains_key(LAB_LABEL.0) => {}
                Err(_) => protected.push(ns.name),
            }
        }
        labs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Selection { labs, protected })
    }

    fn listing_command(&self) -> String {
        match self.labs {
            Labs::V2 => "kubectl get namespaces -o name | grep '^namespace/nublado2-'".into(),
            Labs::V3 => format!(
                "kubectl get namespaces -l {}={} -o name | grep '^namespace/nublado-'",
                LAB_LABEL.0, LAB_LABEL.1
            ),
        }
    }
}

impl StepRunner for DeleteLabs {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn destructive(&self) -> bool {
        true
    }

    fn timeout(&self) -> Duration {
        self.timing.namespaces + Duration::from_secs(5 * 60)
    }

    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError> {
        let sel = self.select()?;
        for p in &sel.protected {
            op.say(&format!(
                "leaving namespace `{p}` alone: it matches {} but is protected",
                self.labs.pattern()
            ));
        }
        if sel.labs.is_empty() {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!("no namespace matches {}", self.labs.pattern()),
                },
                commands: vec![self.listing_command()],
            });
        }
        let names: Vec<&str> = sel.labs.iter().map(|n| n.name.as_str()).collect();
        let n = names.len();
        let terminating = sel.labs.iter().filter(|n| n.terminating()).count();
        let mut count = format!("{n} namespace{}", if n == 1 { "" } else { "s" });
        if terminating > 0 {
            count.push_str(&format!(", {terminating} already terminating"));
        }
        let mut commands = vec![format!("{}   # {count}", self.listing_command())];
        let active: Vec<&str> = sel
            .labs
            .iter()
            .filter(|n| !n.terminating())
            .map(|n| n.name.as_str())
            .collect();
        for chunk in active.chunks(10) {
            commands.push(format!("kubectl delete namespace {}", chunk.join(" ")));
        }
        Ok(Preview {
            action: Action::Run {
                touches: names.iter().map(|n| format!("namespace/{n}")).collect(),
            },
            commands,
        })
    }

    fn run(&self, preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let confirmed: Vec<String> = match &preview.action {
            Action::Skip { reason } => {
                return Ok(Outcome {
                    touched: Vec::new(),
                    summary: format!("nothing to do: {reason}"),
                });
            }
            Action::Run { touches } => touches
                .iter()
                .map(|t| t.strip_prefix("namespace/").unwrap_or(t).to_string())
                .collect(),
        };
        // What still exists now, every namespace (a v3-named one without the lab label must be
        // seen to be refused); the deny-list and the pattern hold for every name the preview
        // gave, before anything is deleted.
        let present: BTreeMap<String, Namespace> =
            with_retries(&self.timing, || self.kube.list_namespaces(None, None))?
                .into_iter()
                .map(|n| (n.name.clone(), n))
                .collect();
        for name in &confirmed {
            let check = match present.get(name) {
                Some(ns) => deletable(self.labs, name, &ns.labels),
                None => name_allowed(self.labs, name),
            };
            if let Err(why) = check {
                return Err(StepError::fatal(format!(
                    "refusing to delete anything: the list to delete names {why}; only {} are deleted",
                    self.labs.pattern()
                )));
            }
        }
        let total = confirmed.len() as u64;
        let wanted: HashSet<&str> = confirmed.iter().map(String::as_str).collect();
        let to_delete: Vec<Namespace> = confirmed
            .iter()
            .filter_map(|n| present.get(n))
            .filter(|n| !n.terminating())
            .cloned()
            .collect();
        let started = Instant::now();
        op.progress(&self.id, 0, to_delete.len() as u64, "deleting");
        let (deleted, failed) = self.delete_all(&to_delete, op);
        if let Some((name, first)) = failed.first() {
            let message = format!(
                "{} of {} namespaces could not be deleted ({} deleted); first failure: namespace `{name}`: {first}",
                failed.len(),
                to_delete.len(),
                deleted.len(),
            );
            return Err(if failed.iter().all(|(_, e)| e.retryable()) {
                StepError::retry(message)
            } else {
                StepError::fatal(message)
            });
        }
        // Wait until every confirmed namespace is gone.
        let deadline = started + self.timing.namespaces;
        let selector = self.labs.label_selector();
        loop {
            // The control plane may be away for minutes (a managed upgrade): the listing is
            // retried until the wait's own deadline.
            let listed = within_wait(&self.timing, deadline, || {
                self.kube.list_namespaces(selector.as_deref(), None)
            })?;
            let remaining: Vec<&Namespace> = listed
                .iter()
                .filter(|n| wanted.contains(n.name.as_str()))
                .collect();
            let gone = total - remaining.len() as u64;
            op.progress(
                &self.id,
                gone,
                total,
                &format!("{} gone, {} terminating", gone, remaining.len()),
            );
            if remaining.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let shown: Vec<String> = remaining
                    .iter()
                    .take(10)
                    .map(|n| format!("{} ({})", n.name, n.phase))
                    .collect();
                return Err(StepError::fatal(format!(
                    "{} of {total} namespaces were still there after {}: {}{}; a namespace stuck in Terminating usually waits on a finalizer (`kubectl get namespace <name> -o yaml`)",
                    remaining.len(),
                    human(started.elapsed()),
                    shown.join(", "),
                    if remaining.len() > 10 { ", …" } else { "" }
                )));
            }
            nap(self.timing.poll, deadline)?;
        }
        let mut summary = format!(
            "deleted {} lab namespace{} matching {}",
            deleted.len(),
            if deleted.len() == 1 { "" } else { "s" },
            self.labs.pattern()
        );
        let earlier = total as usize - deleted.len();
        if earlier > 0 {
            summary.push_str(&format!(
                " ({earlier} already gone or terminating: {}{})",
                confirmed
                    .iter()
                    .filter(|n| deleted.binary_search(n).is_err())
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if earlier > 5 { ", …" } else { "" }
            ));
        }
        summary.push_str(&format!("; all gone after {}", human(started.elapsed())));
        Ok(Outcome {
            touched: deleted.iter().map(|n| format!("namespace/{n}")).collect(),
            summary,
        })
    }
}

impl DeleteLabs {
    /// Deletes `list` with at most `Timing::concurrency` calls in flight; returns the names
    /// deleted and the failures (after retries).
    fn delete_all(
        &self,
        list: &[Namespace],
        op: &mut dyn Operator,
    ) -> (Vec<String>, Vec<(String, ClientError)>) {
        let queue: Arc<Mutex<VecDeque<Namespace>>> =
            Arc::new(Mutex::new(list.iter().cloned().collect()));
        let (tx, rx) = mpsc::channel::<(String, Result<Deleted, ClientError>)>();
        let workers = self.timing.concurrency.clamp(1, 64).min(list.len().max(1));
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        std::thread::scope(|s| {
            for _ in 0..workers {
                let queue = queue.clone();
                let tx = tx.clone();
                let kube = self.kube.clone();
                let timing = self.timing.clone();
                let labs = self.labs;
                s.spawn(move || {
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                        let Some(ns) = next else { break };
                        // The deny-list, right before the call.
                        let result = match deletable(labs, &ns.name, &ns.labels) {
                            Ok(()) => with_retries(&timing, || kube.delete_namespace(&ns.name)),
                            Err(why) => Err(ClientError::new(
                                Some(403),
                                format!("refused to delete {why}"),
                            )),
                        };
                        if tx.send((ns.name, result)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let total = list.len() as u64;
            let mut done = 0;
            for (name, result) in rx {
                done += 1;
                match result {
                    Ok(Deleted::Deleting) => deleted.push(name),
                    Ok(Deleted::AlreadyGone) => {}
                    Err(e) => failed.push((name, e)),
                }
                op.progress(&self.id, done, total, "deleting");
            }
        });
        deleted.sort();
        failed.sort_by(|a, b| a.0.cmp(&b.0));
        (deleted, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> BTreeMap<String, String> {
        BTreeMap::from([(LAB_LABEL.0.to_string(), LAB_LABEL.1.to_string())])
    }

    #[test]
    fn only_lab_namespaces_are_deletable() {
        let none = BTreeMap::new();
        assert!(deletable(Labs::V2, "nublado2-alice", &none).is_ok());
        assert!(deletable(Labs::V3, "nublado-alice", &lab()).is_ok());
        for name in [
            "nublado",
            "nublado2",
            "nublado-users",
            "fileservers",
            "kube-system",
        ] {
            assert!(deletable(Labs::V2, name, &lab()).is_err(), "{name}");
            assert!(deletable(Labs::V3, name, &lab()).is_err(), "{name}");
        }
        assert!(deletable(Labs::V3, "nublado-alice", &none).is_err());
        assert!(deletable(Labs::V2, "nublado2-", &none).is_err());
        assert!(deletable(Labs::V2, "my-nublado2-alice", &none).is_err());
        assert!(deletable(Labs::V3, "nublado2-alice", &lab()).is_err());
        assert!(deletable(Labs::V2, "nublado-alice", &none).is_err());
        assert!(deletable(Labs::V2, "kube-nublado2-x", &none).is_err());
    }
}
