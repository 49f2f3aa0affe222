//! `copy-hub-db`: moves the hub database — users, groups and roles added by admins live only
//! there — from the old hub to the new one, after `stop-old-hub`:
//!
//! 1. refuses while a pod of the old hub still runs (the file must be quiescent) or when the
//!    new hub has no Deployment;
//! 2. starts a helper pod in the old namespace that mounts PVC `hub-db-dir` read-only (the old
//!    hub is scaled to 0, so no hub pod is left to copy from), copies
//!    `/srv/jupyterhub/jupyterhub.sqlite` and `jupyterhub.log*` out with `kubectl cp` into the
//!    run's backup directory, and deletes the helper pod;
//! 3. checks the copy locally (`PRAGMA integrity_check`, the user count): a corrupt file is
//!    refused before anything reaches the new hub;
//! 4. stops the new hub (Deployment `hub` scaled to 0, its pods gone): its database is never
//!    replaced under a running hub;
//! 5. through a helper pod on the new hub's `hub-db-dir`, saves the new hub's own database (a
//!    new private file each time), copies the checked file in under a temporary name and
//!    renames it into place (no half-written file), copies it back out and compares it byte
//!    for byte;
//! 6. scales the new hub back and waits until it is ready (its readiness probe is the hub's
//!    health).
//!
//! Done is judged within the window run, like every step: a new window copies the database
//! again, and its confirmation says when it was copied before — the new hub may have served
//! users since, and their changes are replaced (the new hub's database is saved first).
//!
//! Files in pods go through the operator's `kubectl` (`clients::kubectl`); the hubs'
//! Deployments and pods through the REST client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::vault::create_private;
use super::{MoveEnv, StepEnv, Timing, nap, with_retries};
use crate::playbook::Step;
use crate::runtime::clients::Sqlite;
use crate::runtime::clients::kube::{KubeApi, Pod, WaitError};
use crate::runtime::clients::{PodFiles, PodRef};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::{human, rfc3339};

/// Where z2jh keeps the hub's state, on PVC `hub-db-dir`.
pub const DB_DIR: &str = "/srv/jupyterhub";
pub const DB_FILE: &str = "jupyterhub.sqlite";
pub const DB_PVC: &str = "hub-db-dir";
/// The helper pod that reads (or writes) a stopped hub's volume.
pub const HELPER_POD: &str = "gitops-migrate-hub-db";
pub const HELPER_IMAGE: &str = "busybox:1.36";
/// The hub's Deployment and pods.
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

/// The helper pod: sleeps while the copy is made, with the hub's volume mounted (read-only on
/// the old hub's side).
pub fn helper_manifest(namespace: &str, read_only: bool) -> Value {
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
                "volumeMounts": [{"name": "hub-db", "mountPath": DB_DIR, "readOnly": read_only}],
            }],
            "volumes": [{
                "name": "hub-db",
                "persistentVolumeClaim": {"claimName": DB_PVC, "readOnly": read_only},
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

    fn hub_pods(&self, kube: &Arc<dyn KubeApi>, ns: &str) -> Result<Vec<Pod>, StepError> {
        Ok(with_retries(&self.timing, || {
            kube.list_pods(ns, Some(HUB_PODS))
        })?)
    }

    /// The new hub's Deployment and the replicas to give it back (at least 1: a run
    /// interrupted while it was stopped finds it at 0).
    fn new_hub(&self) -> Result<i64, StepError> {
        let d = with_retries(&self.timing, || {
            self.clusters.target.get_deployment(&self.target_ns, HUB)
        })?
        .ok_or_else(|| {
            fatal(format!(
                "the new hub has no Deployment `{HUB}` in namespace `{}` of `{}`: deploy it first (the setup stage), then --resume",
                self.target_ns, self.target_cluster
            ))
        })?;
        Ok(d.replicas.max(1))
    }

    fn helper(&self, context: &str, namespace: &str) -> PodRef {
        PodRef {
            context: context.to_string(),
            namespace: namespace.to_string(),
            pod: HELPER_POD.into(),
            container: "copy".into(),
        }
    }

    /// Runs `work` in a helper pod mounting `hub-db-dir` of a namespace; the helper pod is
    /// deleted whatever happens.
    fn with_helper<T>(
        &self,
        context: &str,
        namespace: &str,
        read_only: bool,
        work: impl FnOnce(&PodRef) -> Result<T, StepError>,
    ) -> Result<T, StepError> {
        let k = &self.kubectl;
        k.apply(context, namespace, &helper_manifest(namespace, read_only))?;
        let result = k
            .wait_ready(context, namespace, HELPER_POD, self.timing.deployment)
            .map_err(StepError::from)
            .and_then(|()| work(&self.helper(context, namespace)));
        let cleanup = k.delete_pod(context, namespace, HELPER_POD);
        let out = result?;
        cleanup?;
        Ok(out)
    }

    /// Step 2: the old hub's files, copied into `dir`.
    fn copy_out_of_old_hub(&self, dir: &Path) -> Result<Vec<String>, StepError> {
        let (ctx, ns) = (&self.clusters.source_context, &self.source_ns);
        self.with_helper(ctx, ns, true, |at| {
            let k = &self.kubectl;
            let (db, logs) = hub_files(&k.exec(at, &["ls", "-1", DB_DIR])?);
            if !db {
                return Err(fatal(format!(
                    "PVC `{DB_PVC}` of namespace `{ns}` in `{}` has no {DB_FILE} (is the hub using another database?)",
                    self.source_cluster
                )));
            }
            let mut copied = vec![DB_FILE.to_string()];
            copied.extend(logs);
            for name in &copied {
                k.copy_out(at, &remote(name), &dir.join(name))?;
            }
            Ok(copied)
        })
    }

    /// Scales the new hub to `replicas`; with 0, waits until its pods are gone.
    fn scale_new_hub(&self, replicas: i64, op: &mut dyn Operator) -> Result<(), StepError> {
        let target = &self.clusters.target;
        let ns = &self.target_ns;
        let d = with_retries(&self.timing, || target.scale_deployment(ns, HUB, replicas))?;
        if replicas > 0 {
            target
                .wait_ready(
                    ns,
                    HUB,
                    d.generation,
                    self.timing.deployment,
                    self.timing.poll,
                    &mut |d| {
                        op.progress(
                            &self.id,
                            d.available_replicas.max(0) as u64,
                            d.replicas.max(0) as u64,
                            &d.describe(),
                        )
                    },
                )
                .map_err(|e| match e {
                    // The controller gave up on the rollout: retrying cannot help.
                    WaitError::Failed { .. } => StepError::fatal(e.to_string()),
                    other => StepError::retry(other.to_string()),
                })?;
            return Ok(());
        }
        let deadline = Instant::now() + self.timing.deployment;
        loop {
            let pods = self.hub_pods(target, ns)?;
            if pods.is_empty() {
                return Ok(());
            }
            op.progress(
                &self.id,
                0,
                pods.len() as u64,
                &format!("{} pod(s) of the new hub still terminating", pods.len()),
            );
            if Instant::now() >= deadline {
                return Err(fatal(format!(
                    "the new hub in namespace `{ns}` of `{}` was scaled to 0, but its pods were still there after {}: {}; its database was not touched",
                    self.target_cluster,
                    human(self.timing.deployment),
                    pods.iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            nap(self.timing.poll, deadline)?;
        }
    }

    /// Step 5: the checked copy into the stopped new hub's volume; the new hub's own
    /// database saved first. Whether it had one.
    fn write_into_new_hub(
        &self,
        src_dir: &Path,
        files: &[String],
        op: &mut dyn Operator,
    ) -> Result<Option<PathBuf>, StepError> {
        let local = src_dir.join(DB_FILE);
        let (ctx, ns) = (&self.clusters.target_context, &self.target_ns);
        self.with_helper(ctx, ns, false, |at| {
            let k = &self.kubectl;
            let (has_db, _) = hub_files(&k.exec(at, &["ls", "-1", DB_DIR])?);
            let saved = if has_db {
                let tgt_dir = self.backups.join("target");
                private_dir(&tgt_dir)?;
                let (path, file) = create_private(&tgt_dir, "jupyterhub", "sqlite")
                    .map_err(|e| fatal(format!("cannot save the new hub's database: {e}")))?;
                drop(file);
                k.copy_out(at, &remote(DB_FILE), &path)?;
                restrict(&path)?;
                op.say(&format!(
                    "the new hub's own database saved to {} (0600)",
                    path.display()
                ));
                Some(path)
            } else {
                None
            };
            let incoming = format!("{}.incoming", remote(DB_FILE));
            k.copy_in(at, &local, &incoming)?;
            k.exec(at, &["mv", "-f", &incoming, &remote(DB_FILE)])?;
            k.exec(at, &["rm", "-f", &format!("{}-journal", remote(DB_FILE))])?;
            for log in files.iter().filter(|f| *f != DB_FILE) {
                k.copy_in(at, &src_dir.join(log), &remote(log))?;
            }
            let verify = src_dir.join(format!("{DB_FILE}.verify"));
            k.copy_out(at, &remote(DB_FILE), &verify)?;
            let same = std::fs::read(&verify).ok() == std::fs::read(&local).ok();
            let _ = std::fs::remove_file(&verify);
            if !same {
                return Err(fatal(format!(
                    "the database written to the new hub's volume differs from the checked copy {}; the new hub stays stopped (its own database is saved{})",
                    local.display(),
                    saved
                        .as_ref()
                        .map(|p| format!(" in {}", p.display()))
                        .unwrap_or_default()
                )));
            }
            Ok(saved)
        })
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
        self.timing.deployment * 4 + Duration::from_secs(300)
    }

    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError> {
        let replicas = self.new_hub()?;
        let (sctx, sns) = (&self.clusters.source_context, &self.source_ns);
        let (tctx, tns) = (&self.clusters.target_context, &self.target_ns);
        // `kubectl --context C --namespace N …` in the old and the new hub's namespaces.
        let in_ns = |ctx: &str, ns: &str, rest: &[&str]| {
            let mut args = vec!["--context", ctx, "--namespace", ns];
            args.extend_from_slice(rest);
            self.kubectl.command_line(&args)
        };
        let old = |rest: &[&str]| in_ns(sctx, sns, rest);
        let new = |rest: &[&str]| in_ns(tctx, tns, rest);
        let local = self.backups.join("source").join(DB_FILE);
        let local = local.display().to_string();
        let helper_src = format!("{HELPER_POD}:{}", remote(DB_FILE));
        let helper_dst = format!("{HELPER_POD}:{}.incoming", remote(DB_FILE));
        let mut touches = vec![
            format!(
                "deployment/{tns}/{HUB} (stopped while its database is replaced, then {})",
                crate::util::text::plural(replicas, "replica", "replicas")
            ),
            format!("pvc/{tns}/{DB_PVC}:{}", remote(DB_FILE)),
        ];
        if let Some(at) = op.done_in_earlier_window() {
            let warning = format!(
                "replaces the database copied into the new hub at {at}, in an earlier window: the new hub may have served users since, and their changes go (its current database is saved first)"
            );
            op.say(&format!("note: `{}` {warning}", self.id));
            touches.push(warning);
        }
        Ok(Preview {
            action: Action::Run { touches },
            commands: vec![
                format!(
                    "{} (a pod mounting PVC {DB_PVC} read-only, image {HELPER_IMAGE})",
                    old(&["apply", "-f", "-"])
                ),
                old(&["cp", "-c", "copy", &helper_src, &local]),
                format!(
                    "sqlite3 -readonly {local} 'PRAGMA integrity_check;' 'SELECT count(*) FROM users;'"
                ),
                new(&["scale", "deployment", HUB, "--replicas=0"]),
                format!(
                    "{} (a pod mounting PVC {DB_PVC}, once the new hub's pods are gone)",
                    new(&["apply", "-f", "-"])
                ),
                new(&["cp", "-c", "copy", &local, &helper_dst]),
                new(&[
                    "scale",
                    "deployment",
                    HUB,
                    &format!("--replicas={replicas}"),
                ]),
            ],
        })
    }

    fn run(&self, preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        // 1. Preconditions.
        let old = self.hub_pods(&self.clusters.source, &self.source_ns)?;
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
        let replicas = self.new_hub()?;

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
        let check = Sqlite::default().check_hub_db(&local).map_err(|e| {
            fatal(format!(
                "refused: the copy of the old hub's database is not sound ({e}); nothing was copied into the new hub"
            ))
        })?;
        let bytes = std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0);
        op.say(&format!(
            "{DB_FILE}: integrity ok, {}, {bytes} bytes",
            crate::util::text::plural(check.users, "user", "users")
        ));

        // 4. The new hub stopped: its database is never replaced under it.
        op.say(&format!(
            "stopping the new hub in namespace `{}` of `{}` while its database is replaced",
            self.target_ns, self.target_cluster
        ));
        self.scale_new_hub(0, op)?;

        // 5. Written through a helper pod on its volume, saved first, verified.
        let saved = self.write_into_new_hub(&src_dir, &files, op)?;

        // 6. Started again on the copied database.
        self.scale_new_hub(replicas, op)?;
        let touched = match &preview.action {
            Action::Run { touches } => touches
                .iter()
                .filter(|t| t.starts_with("deployment/") || t.starts_with("pvc/"))
                .cloned()
                .collect(),
            Action::Skip { .. } => Vec::new(),
        };
        let at = rfc3339(SystemTime::now());
        Ok(Outcome {
            touched,
            summary: format!(
                "copied {} ({}, {bytes} bytes, integrity ok{}) from `{}` into the new hub in `{}`, stopped meanwhile and started again ({}) at {at}; copies in {}",
                files.join(", "),
                crate::util::text::plural(check.users, "user", "users"),
                if saved.is_some() {
                    "; the new hub's own database saved"
                } else {
                    ""
                },
                self.source_cluster,
                self.target_cluster,
                crate::util::text::plural(replicas, "replica", "replicas"),
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
        let m = helper_manifest("temple", true);
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
