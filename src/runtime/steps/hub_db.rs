//! `copy-hub-db`: moves the hub database — users, groups and roles added by admins live only
//! there — from the old hub to the new one, after `stop-old-hub`:
//!
//! 1. refuses while a pod of the old hub still runs (the file must be quiescent) or when the
//!    new hub has no ready pod;
//! 2. starts a helper pod in the old namespace that mounts PVC `hub-db-dir` read-only (the old
//!    hub is scaled to 0, so no hub pod is left to copy from), copies
//!    `/srv/jupyterhub/jupyterhub.sqlite` and `jupyterhub.log*` out with `kubectl cp` into the
//!    run's backup directory, and deletes the helper pod;
//! 3. checks the copy locally (`PRAGMA integrity_check`, the user count): a corrupt file is
//!    refused before anything reaches the new hub;
//! 4. saves the new hub's own database (first run only), copies the checked file in under a
//!    temporary name and renames it into place (so the hub never reads a half-written file),
//!    copies it back out and compares it byte for byte;
//! 5. restarts Deployment `hub` of the new namespace and waits until it is ready, and records
//!    the copy (`hub-db/copied`): once the new hub has served users, copying the old database
//!    again would lose what they did, so a later run skips the step while that record exists.
//!
//! Files in pods go through the operator's `kubectl` (`clients::kubectl`); the hubs'
//! Deployments and pods through the REST client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{MoveEnv, StepEnv, Timing, with_retries};
use crate::playbook::Step;
use crate::runtime::clients::kube::{KubeApi, Pod};
use crate::runtime::clients::{PodFiles, PodRef, rfc3339};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::sqlite;

/// Where z2jh keeps the hub's state, on PVC `hub-db-dir`.
pub const DB_DIR: &str = "/srv/jupyterhub";
pub const DB_FILE: &str = "jupyterhub.sqlite";
pub const DB_PVC: &str = "hub-db-dir";
/// The helper pod that reads the stopped hub's volume.
pub const HELPER_POD: &str = "gitops-migrate-hub-db";
pub const HELPER_IMAGE: &str = "busybox:1.36";
/// The hub's container, Deployment and pods.
const HUB: &str = "hub";
const HUB_PODS: &str = "component=hub";

/// The two clusters' APIs and contexts.
pub struct Clusters {
    pub source: Arc<dyn KubeApi>,
    pub target: Arc<dyn KubeApi>,
    pub source_context: String,
    pub target_context: String,
}

pub struct CopyHubDb {
    id: String,
    title: String,
    source_cluster: String,
    target_cluster: String,
    source_ns: String,
    target_ns: String,
    clusters: Clusters,
    kubectl: Arc<dyn PodFiles>,
    backups: PathBuf,
    timing: Timing,
}

/// The helper pod: sleeps while the copy is made, with the hub's volume mounted read-only.
pub fn helper_manifest(namespace: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": HELPER_POD,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "gitops-migrate"},
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "copy",
                "image": HELPER_IMAGE,
                "command": ["sleep", "3600"],
                "volumeMounts": [{"name": "hub-db", "mountPath": DB_DIR, "readOnly": true}],
            }],
            "volumes": [{
                "name": "hub-db",
                "persistentVolumeClaim": {"claimName": DB_PVC, "readOnly": true},
            }],
        },
    })
}

/// `jupyterhub.sqlite` and the `jupyterhub.log*` files of a directory listing.
fn hub_files(listing: &str) -> (bool, Vec<String>) {
    let names: Vec<&str> = listing
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let db = names.contains(&DB_FILE);
    let logs = names
        .iter()
        .filter(|n| n.starts_with("jupyterhub.log") && !n.contains('/'))
        .map(|n| n.to_string())
        .collect();
    (db, logs)
}

fn remote(name: &str) -> String {
    format!("{DB_DIR}/{name}")
}

fn fatal(e: impl std::fmt::Display) -> StepError {
    StepError::fatal(e.to_string())
}

impl CopyHubDb {
    pub fn new(
        step: &Step,
        env: &StepEnv,
        mv: &MoveEnv,
        clusters: Clusters,
        kubectl: Arc<dyn PodFiles>,
        backups: PathBuf,
    ) -> CopyHubDb {
        CopyHubDb {
            id: step.id.clone(),
            title: step.title.clone(),
            source_cluster: mv.source.cluster.clone(),
            target_cluster: mv.target.cluster.clone(),
            source_ns: mv.source.namespace.clone(),
            target_ns: mv.target.namespace.clone(),
            clusters,
            kubectl,
            backups: backups.join("hub-db"),
            timing: env.timing.clone(),
        }
    }

    fn running_hub_pods(&self, kube: &Arc<dyn KubeApi>, ns: &str) -> Result<Vec<Pod>, StepError> {
        Ok(with_retries(&self.timing, || {
            kube.list_pods(ns, Some(HUB_PODS))
        })?)
    }

    /// The new hub's ready pod.
    fn new_hub_pod(&self) -> Result<PodRef, StepError> {
        let pods = self.running_hub_pods(&self.clusters.target, &self.target_ns)?;
        let pod = pods
            .iter()
            .find(|p| p.ready && !p.deleting)
            .ok_or_else(|| {
                fatal(format!(
                    "the new hub has no ready pod (label `{HUB_PODS}`) in namespace `{}` of `{}`: deploy it first (the setup stage), then --resume",
                    self.target_ns, self.target_cluster
                ))
            })?;
        Ok(PodRef {
            context: self.clusters.target_context.clone(),
            namespace: self.target_ns.clone(),
            pod: pod.name.clone(),
            container: HUB.into(),
        })
    }

    /// The record of a finished copy.
    fn record(&self) -> PathBuf {
        self.backups.join("copied")
    }

    fn helper(&self) -> PodRef {
        PodRef {
            context: self.clusters.source_context.clone(),
            namespace: self.source_ns.clone(),
            pod: HELPER_POD.into(),
            container: "copy".into(),
        }
    }

    /// Step 2: the old hub's files, copied into `dir`; the helper pod is deleted whatever
    /// happens.
    fn copy_out_of_old_hub(&self, dir: &Path) -> Result<Vec<String>, StepError> {
        let k = &self.kubectl;
        let (ctx, ns) = (&self.clusters.source_context, &self.source_ns);
        k.apply(ctx, ns, &helper_manifest(ns))?;
        let result = (|| -> Result<Vec<String>, StepError> {
            k.wait_ready(ctx, ns, HELPER_POD, self.timing.deployment)?;
            let at = self.helper();
            let (db, logs) = hub_files(&k.exec(&at, &["ls", "-1", DB_DIR])?);
            if !db {
                return Err(fatal(format!(
                    "PVC `{DB_PVC}` of namespace `{ns}` in `{}` has no {DB_FILE} (is the hub using another database?)",
                    self.source_cluster
                )));
            }
            let mut copied = vec![DB_FILE.to_string()];
            copied.extend(logs);
            for name in &copied {
                k.copy_out(&at, &remote(name), &dir.join(name))?;
            }
            Ok(copied)
        })();
        let cleanup = k.delete_pod(ctx, ns, HELPER_POD);
        let copied = result?;
        cleanup?;
        Ok(copied)
    }
}

impl StepRunner for CopyHubDb {
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
        self.timing.deployment * 3 + Duration::from_secs(300)
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        if let Ok(done) = std::fs::read_to_string(self.record()) {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "{} (the new hub has served users since: copying again would lose their changes; to copy anyway, delete {})",
                        done.trim(),
                        self.record().display()
                    ),
                },
                commands: Vec::new(),
            });
        }
        let new = self.new_hub_pod()?;
        let (sctx, sns) = (&self.clusters.source_context, &self.source_ns);
        let k = |args: &[&str]| self.kubectl.command_line(args);
        let local = self.backups.join("source").join(DB_FILE);
        let local = local.display().to_string();
        let helper_src = format!("{HELPER_POD}:{}", remote(DB_FILE));
        let new_dst = format!("{}:{}.incoming", new.pod, remote(DB_FILE));
        Ok(Preview {
            action: Action::Run {
                touches: vec![
                    format!("pod/{}/{}:{}", self.target_ns, new.pod, remote(DB_FILE)),
                    format!("deployment/{}/{HUB}", self.target_ns),
                ],
            },
            commands: vec![
                format!(
                    "{} (a pod mounting PVC {DB_PVC} read-only, image {HELPER_IMAGE})",
                    k(&["--context", sctx, "--namespace", sns, "apply", "-f", "-"])
                ),
                k(&[
                    "--context",
                    sctx,
                    "--namespace",
                    sns,
                    "cp",
                    "-c",
                    "copy",
                    &helper_src,
                    &local,
                ]),
                format!(
                    "sqlite3 -readonly {local} 'PRAGMA integrity_check;' 'SELECT count(*) FROM users;'"
                ),
                k(&[
                    "--context",
                    &new.context,
                    "--namespace",
                    &new.namespace,
                    "cp",
                    "-c",
                    HUB,
                    &local,
                    &new_dst,
                ]),
                k(&[
                    "--context",
                    &new.context,
                    "--namespace",
                    &new.namespace,
                    "rollout",
                    "restart",
                    "deployment",
                    HUB,
                ]),
            ],
        })
    }

    fn run(&self, preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        // 1. Preconditions.
        let old = self.running_hub_pods(&self.clusters.source, &self.source_ns)?;
        if !old.is_empty() {
            return Err(fatal(format!(
                "the old hub still runs in namespace `{}` of `{}` ({}): its database is not quiescent; run `stop-old-hub` first",
                self.source_ns,
                self.source_cluster,
                old.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let new = self.new_hub_pod()?;

        // 2. Out of the old hub.
        let src_dir = self.backups.join("source");
        private_dir(&src_dir)?;
        op.say(&format!(
            "copying {DB_FILE} out of PVC `{DB_PVC}` in namespace `{}` of `{}`",
            self.source_ns, self.source_cluster
        ));
        let files = self.copy_out_of_old_hub(&src_dir)?;
        let local = src_dir.join(DB_FILE);
        restrict(&local)?;

        // 3. Checked before anything reaches the new hub.
        let check = sqlite::check_hub_db(&local).map_err(|e| {
            fatal(format!(
                "refused: the copy of the old hub's database is not sound ({e}); nothing was copied into the new hub"
            ))
        })?;
        let bytes = std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0);
        op.say(&format!(
            "{DB_FILE}: integrity ok, {}, {bytes} bytes",
            crate::text::plural(check.users, "user", "users")
        ));

        // 4. Into the new hub, keeping its own database first.
        let k = &self.kubectl;
        let (has_db, _) = hub_files(&k.exec(&new, &["ls", "-1", DB_DIR])?);
        let tgt_dir = self.backups.join("target");
        let saved = tgt_dir.join(DB_FILE);
        if has_db && !saved.exists() {
            private_dir(&tgt_dir)?;
            k.copy_out(&new, &remote(DB_FILE), &saved)?;
            restrict(&saved)?;
        }
        let incoming = format!("{}.incoming", remote(DB_FILE));
        k.copy_in(&new, &local, &incoming)?;
        k.exec(&new, &["mv", "-f", &incoming, &remote(DB_FILE)])?;
        k.exec(&new, &["rm", "-f", &format!("{}-journal", remote(DB_FILE))])?;
        for log in files.iter().filter(|f| *f != DB_FILE) {
            k.copy_in(&new, &src_dir.join(log), &remote(log))?;
        }
        let verify = src_dir.join(format!("{DB_FILE}.verify"));
        k.copy_out(&new, &remote(DB_FILE), &verify)?;
        let same = std::fs::read(&verify).ok() == std::fs::read(&local).ok();
        let _ = std::fs::remove_file(&verify);
        if !same {
            return Err(fatal(format!(
                "the database in the new hub's pod `{}` differs from the checked copy {}; nothing was restarted",
                new.pod,
                local.display()
            )));
        }

        // 5. Restart the new hub on the copied database.
        let at = rfc3339(SystemTime::now());
        let target = &self.clusters.target;
        let d = with_retries(&self.timing, || {
            target.restart_deployment(&self.target_ns, HUB, &at)
        })?;
        target
            .wait_ready(
                &self.target_ns,
                HUB,
                d.generation,
                self.timing.deployment,
                self.timing.poll,
                &mut |d| {
                    op.progress(
                        &self.id,
                        d.ready_replicas as u64,
                        d.replicas as u64,
                        &d.describe(),
                    )
                },
            )
            .map_err(|e| StepError::retry(e.to_string()))?;
        let done = format!(
            "copied at {at}: {}, {bytes} bytes, from `{}` to `{}`",
            crate::text::plural(check.users, "user", "users"),
            self.source_cluster,
            self.target_cluster
        );
        crate::yaml::write_atomic(&self.record(), done.as_bytes())
            .map_err(|e| fatal(format!("cannot record the copy: {e}")))?;
        let touched = match &preview.action {
            Action::Run { touches } => touches.clone(),
            Action::Skip { .. } => Vec::new(),
        };
        Ok(Outcome {
            touched,
            summary: format!(
                "copied {} ({}, {bytes} bytes, integrity ok{}) from `{}` into the new hub in `{}` and restarted it; copies in {}",
                files.join(", "),
                crate::text::plural(check.users, "user", "users"),
                if has_db {
                    "; the new hub's own database saved"
                } else {
                    ""
                },
                self.source_cluster,
                self.target_cluster,
                self.backups.display()
            ),
        })
    }
}

/// The copies' folder, 0700: kubectl writes the files with the umask's mode, and nobody else
/// may read them before `restrict` makes them 0600.
fn private_dir(path: &Path) -> Result<(), StepError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| fatal(format!("cannot create {}: {e}", path.display())))
}

/// The copies hold user data: 0600.
fn restrict(path: &Path) -> Result<(), StepError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fatal(format!("cannot restrict {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_names_the_database_and_its_logs() {
        let (db, logs) = hub_files(
            "jupyterhub.sqlite\njupyterhub.log\njupyterhub.log.1\njupyterhub_cookie_secret\n",
        );
        assert!(db);
        assert_eq!(logs, ["jupyterhub.log", "jupyterhub.log.1"]);
        let (db, logs) = hub_files("jupyterhub_cookie_secret\n");
        assert!(!db);
        assert!(logs.is_empty());
    }

    #[test]
    fn the_helper_pod_mounts_the_hub_volume_read_only() {
        let m = helper_manifest("temple");
        assert_eq!(m["metadata"]["namespace"], "temple");
        assert_eq!(
            m["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            DB_PVC
        );
        assert_eq!(
            m["spec"]["volumes"][0]["persistentVolumeClaim"]["readOnly"],
            true
        );
        assert_eq!(
            m["spec"]["containers"][0]["volumeMounts"][0]["readOnly"],
            true
        );
    }
}
