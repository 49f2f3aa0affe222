//! One operator at a time, across machines: a `coordination.k8s.io/v1` Lease in the cluster a
//! window changes, taken before its first change, renewed while the run lives, released at
//! the end. A second operator anywhere (another laptop, another state directory) finds it held
//! and is refused with the holder's name and since when.
//!
//! The protocol is client-go's leader election, by hand: read the Lease; create it when
//! absent, or take it over when it is free (no holder) or expired (its `renewTime` plus
//! `leaseDurationSeconds` is past); every write names the `resourceVersion` it read, so two
//! runs racing for it cannot both win (the loser gets a 409 and reads again). A renewal thread
//! rewrites `renewTime` every third of the duration; a run that crashes stops renewing, and
//! its lease expires after the duration, so the next run proceeds. Releasing clears the holder
//! (the object stays, as client-go leaves it). Expiry compares the holder's `renewTime` with
//! this machine's clock: clocks must agree to within the duration.
//!
//! Owns: acquiring, renewing, releasing, and the texts that name a holder. Does not own: where
//! the lease lives and what it is called (the command line decides per playbook and target).

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::clients::ClientError;
use super::clients::kube::{KubeApi, Lease, Written};
use crate::util::time::{parse_rfc3339, rfc3339_micros};

/// Where the lease lives: `default`, a namespace every cluster has.
pub const NAMESPACE: &str = "default";

/// How long a lease outlives its last renewal, unless configured (`lease_seconds`).
pub const DEFAULT_SECONDS: u64 = crate::config::DEFAULT_LEASE.as_secs();

/// What to lease, and as whom.
#[derive(Debug, Clone)]
pub struct LeaseSpec {
    pub namespace: String,
    pub name: String,
    /// `alice@laptop run 20261121T061746Z-4242`.
    pub holder: String,
    /// How long after its last renewal the lease expires (a crashed run's, too).
    pub duration: Duration,
    /// What the holder runs (`gitops-migrate/command`), for whoever finds it held.
    pub annotations: BTreeMap<String, String>,
    /// A holder known to be gone (the interrupted run whose local lock this run took over):
    /// its lease is taken over at once, without waiting for it to expire.
    pub gone: Option<String>,
}

/// The holder identity of a window run: `alice@laptop run 20261121T061746Z-4242`.
pub fn holder_identity(user: &str, host: &str, run: &str) -> String {
    format!("{user}@{host} run {run}")
}

/// The lease is held by someone else, or could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "another operator is running a window on cluster `{cluster}`: the lease `{namespace}/{name}` is held by {holder}{}{}{}; it expires {} s after its last renewal if that run is gone",
        .since.as_ref().map(|s| format!(" since {s}")).unwrap_or_default(),
        .renewed.as_ref().map(|s| format!(" (renewed {s})")).unwrap_or_default(),
        .command.as_ref().map(|c| format!(", running `{c}`")).unwrap_or_default(),
        .duration_seconds
    )]
    Held {
        cluster: String,
        namespace: String,
        name: String,
        holder: String,
        since: Option<String>,
        renewed: Option<String>,
        command: Option<String>,
        duration_seconds: i64,
    },
    #[error("the lease `{namespace}/{name}` in cluster `{cluster}`: {error}")]
    Client {
        cluster: String,
        namespace: String,
        name: String,
        error: ClientError,
    },
}

/// When a lease expires (`renewTime` + duration), if it says.
fn expires(l: &Lease) -> Option<SystemTime> {
    let renewed = l.renew_time.as_deref().or(l.acquire_time.as_deref())?;
    let at = UNIX_EPOCH + parse_rfc3339(renewed)?;
    Some(at + Duration::from_secs(u64::try_from(l.duration_seconds.max(0)).unwrap_or(0)))
}

/// Whether `l` may be taken by `me`: free, expired, mine, or held by a run known to be gone.
fn takeable(l: &Lease, me: &str, gone: Option<&str>, now: SystemTime) -> bool {
    match l.holder.as_deref() {
        None | Some("") => true,
        Some(h) if h == me || Some(h) == gone => true,
        Some(_) => expires(l).is_none_or(|e| e <= now),
    }
}

/// A held lease: renewed by a thread until released (also on drop).
pub struct HeldLease {
    kube: Arc<dyn KubeApi>,
    cluster: String,
    current: Arc<Mutex<Lease>>,
    lost: Arc<Mutex<Option<String>>>,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<()>>,
    /// The holder this lease replaced when it had expired (a crashed run), if any.
    pub took_over: Option<String>,
}

impl std::fmt::Debug for HeldLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = self.lease();
        f.debug_struct("HeldLease")
            .field("cluster", &self.cluster)
            .field("lease", &format!("{}/{}", l.namespace, l.name))
            .finish()
    }
}

impl HeldLease {
    /// Takes the lease for `spec.holder` in `cluster`, or says who holds it.
    pub fn acquire(
        kube: Arc<dyn KubeApi>,
        cluster: &str,
        spec: &LeaseSpec,
    ) -> Result<HeldLease, Box<LeaseError>> {
        let client = |error| LeaseError::Client {
            cluster: cluster.to_string(),
            namespace: spec.namespace.clone(),
            name: spec.name.clone(),
            error,
        };
        let seconds = i64::try_from(spec.duration.as_secs().max(1)).unwrap_or(i64::MAX);
        let mut last_seen = None;
        // A few rounds: each conflict means another run wrote it between our read and write.
        for _ in 0..4 {
            let now = SystemTime::now();
            let stamp = rfc3339_micros(now);
            let found = kube
                .get_lease(&spec.namespace, &spec.name)
                .map_err(|e| Box::new(client(e)))?;
            let (written, took_over) = match &found {
                None => {
                    let lease = Lease {
                        namespace: spec.namespace.clone(),
                        name: spec.name.clone(),
                        resource_version: String::new(),
                        annotations: spec.annotations.clone(),
                        holder: Some(spec.holder.clone()),
                        duration_seconds: seconds,
                        acquire_time: Some(stamp.clone()),
                        renew_time: Some(stamp),
                        transitions: 0,
                    };
                    (
                        kube.create_lease(&lease).map_err(|e| Box::new(client(e)))?,
                        None,
                    )
                }
                Some(l) if takeable(l, &spec.holder, spec.gone.as_deref(), now) => {
                    let previous = l.holder.clone().filter(|h| !h.is_empty());
                    let changed = previous.as_deref() != Some(spec.holder.as_str());
                    let lease = Lease {
                        annotations: spec.annotations.clone(),
                        holder: Some(spec.holder.clone()),
                        duration_seconds: seconds,
                        acquire_time: if changed {
                            Some(stamp.clone())
                        } else {
                            l.acquire_time.clone()
                        },
                        renew_time: Some(stamp),
                        transitions: l.transitions + i64::from(changed && previous.is_some()),
                        ..l.clone()
                    };
                    let took_over = previous.filter(|p| p != &spec.holder);
                    (
                        kube.update_lease(&lease).map_err(|e| Box::new(client(e)))?,
                        took_over,
                    )
                }
                Some(l) => {
                    return Err(Box::new(LeaseError::Held {
                        cluster: cluster.to_string(),
                        namespace: l.namespace.clone(),
                        name: l.name.clone(),
                        holder: l.holder.clone().unwrap_or_default(),
                        since: l.acquire_time.clone(),
                        renewed: l.renew_time.clone(),
                        command: l.annotations.get(COMMAND).cloned(),
                        duration_seconds: l.duration_seconds,
                    }));
                }
            };
            match written {
                Written::Done(lease) => {
                    return Ok(HeldLease::start(
                        kube,
                        cluster,
                        lease,
                        spec.duration,
                        took_over,
                    ));
                }
                Written::Conflict(said) => last_seen = Some(said),
            }
        }
        Err(Box::new(client(ClientError::new(
            Some(409),
            format!(
                "kept changing while it was being taken ({}); another run is taking it",
                last_seen.unwrap_or_default()
            ),
        ))))
    }

    fn start(
        kube: Arc<dyn KubeApi>,
        cluster: &str,
        lease: Lease,
        duration: Duration,
        took_over: Option<String>,
    ) -> HeldLease {
        let current = Arc::new(Mutex::new(lease));
        let lost = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel::<()>();
        let every = (duration / 3).max(Duration::from_millis(200));
        let renewer = {
            let (kube, current, lost) = (kube.clone(), current.clone(), lost.clone());
            std::thread::spawn(move || {
                let mut last_ok = SystemTime::now();
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    match renew(kube.as_ref(), &current) {
                        Ok(()) => last_ok = SystemTime::now(),
                        Err(Renewal::Lost(why)) => {
                            *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                            return;
                        }
                        Err(Renewal::Failed(why)) => {
                            if last_ok.elapsed().unwrap_or_default() >= duration {
                                *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                                    "it could not be renewed for {} s ({why}), so another run may hold it now",
                                    duration.as_secs()
                                ));
                                return;
                            }
                        }
                    }
                }
            })
        };
        HeldLease {
            kube,
            cluster: cluster.to_string(),
            current,
            lost,
            stop: Some(tx),
            renewer: Some(renewer),
            took_over,
        }
    }

    /// The lease as last written.
    pub fn lease(&self) -> Lease {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `default/gitops-migrate-nublado-idfdev in cluster `idfdev``.
    pub fn describe(&self) -> String {
        let l = self.lease();
        format!(
            "lease `{}/{}` in cluster `{}`, held as {}",
            l.namespace,
            l.name,
            self.cluster,
            l.holder.unwrap_or_default()
        )
    }

    /// `Err` once the lease is lost (taken by another run, or not renewed for its duration):
    /// the run must not change anything more.
    pub fn check(&self) -> Result<(), String> {
        match &*self.lost.lock().unwrap_or_else(|e| e.into_inner()) {
            None => Ok(()),
            Some(why) => Err(format!(
                "the lease `{}` in cluster `{}` was lost: {why}; the run stops here (--resume continues)",
                self.lease().name,
                self.cluster
            )),
        }
    }

    /// Stops renewing and frees the lease (its holder cleared), unless another run holds it
    /// by now.
    pub fn release(mut self) -> Result<(), ClientError> {
        self.stop_renewing();
        self.free()
    }

    fn stop_renewing(&mut self) {
        self.stop.take();
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
    }

    fn free(&mut self) -> Result<(), ClientError> {
        if self
            .lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let l = self.lease();
        let now = rfc3339_micros(SystemTime::now());
        let freed = Lease {
            holder: None,
            duration_seconds: 1,
            renew_time: Some(now),
            ..l.clone()
        };
        match self.kube.update_lease(&freed)? {
            Written::Done(done) => {
                *self.current.lock().unwrap_or_else(|e| e.into_inner()) = done;
                Ok(())
            }
            // Changed since our last write: read it, and free it only if still ours.
            Written::Conflict(_) => match self.kube.get_lease(&l.namespace, &l.name)? {
                Some(now) if now.holder == l.holder => {
                    let freed = Lease {
                        holder: None,
                        duration_seconds: 1,
                        ..now
                    };
                    self.kube.update_lease(&freed).map(|_| ())
                }
                _ => Ok(()),
            },
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.stop_renewing();
            let _ = self.free();
        }
    }
}

/// The annotation that says what the holder runs.
pub const COMMAND: &str = "gitops-migrate/command";

enum Renewal {
    /// Another run holds it now.
    Lost(String),
    /// No answer, or an error: tried again at the next tick.
    Failed(String),
}

/// One renewal: `renewTime` rewritten under the `resourceVersion` last written.
fn renew(kube: &dyn KubeApi, current: &Mutex<Lease>) -> Result<(), Renewal> {
    let mine = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let renewed = Lease {
        renew_time: Some(rfc3339_micros(SystemTime::now())),
        ..mine.clone()
    };
    match kube.update_lease(&renewed) {
        Ok(Written::Done(l)) => {
            *current.lock().unwrap_or_else(|e| e.into_inner()) = l;
            Ok(())
        }
        Ok(Written::Conflict(_)) => match kube.get_lease(&mine.namespace, &mine.name) {
            Ok(Some(now)) if now.holder == mine.holder => {
                *current.lock().unwrap_or_else(|e| e.into_inner()) = now;
                Err(Renewal::Failed(
                    "it changed under us; renewed at the next tick".into(),
                ))
            }
            Ok(Some(now)) => Err(Renewal::Lost(format!(
                "{} holds it now",
                now.holder.unwrap_or_else(|| "nobody".into())
            ))),
            Ok(None) => Err(Renewal::Lost("it was deleted".into())),
            Err(e) => Err(Renewal::Failed(e.message)),
        },
        Err(e) => Err(Renewal::Failed(e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed: &str, seconds: i64) -> Lease {
        Lease {
            holder: holder.map(str::to_string),
            renew_time: Some(renewed.into()),
            duration_seconds: seconds,
            ..Lease::default()
        }
    }

    #[test]
    fn a_lease_is_takeable_when_free_expired_or_mine() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_241_866); // 2026-11-21T06:17:46Z
        let fresh = "2026-11-21T06:17:40.000000Z";
        let old = "2026-11-21T06:16:00.000000Z";
        assert!(takeable(&lease(None, fresh, 60), "me", None, now));
        assert!(takeable(&lease(Some(""), fresh, 60), "me", None, now));
        assert!(takeable(&lease(Some("me"), fresh, 60), "me", None, now));
        assert!(!takeable(&lease(Some("alice"), fresh, 60), "me", None, now));
        assert!(takeable(&lease(Some("alice"), old, 60), "me", None, now));
        assert!(!takeable(&lease(Some("alice"), old, 600), "me", None, now));
        // The interrupted run on this machine is known to be gone.
        assert!(takeable(
            &lease(Some("alice"), fresh, 60),
            "me",
            Some("alice"),
            now
        ));
    }
}
