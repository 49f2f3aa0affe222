//! The steps of the window runbooks, built from the plan's step ids (`sync-app:nublado`,
//! `delete-lab-namespaces:nublado2`, `manual:test-lab`, …) for one environment.
//!
//! Owns: the registry (`build`) and what every step needs to know about its environment
//! (`StepEnv`: names from the repository, the clients, timings). Each kind of step lives in
//! its own module and talks to the world only through the clients in `runtime::clients`:
//!
//! | id | module | does |
//! |---|---|---|
//! | `stop-mobu-flocks` | `mobu` | `DELETE /mobu/flocks/<name>` for each autostart flock |
//! | `restore-mobu` | `mobu` | `rollout restart` of Deployment `mobu/mobu`, wait until ready |
//! | `delete-hub-deployment:<ns>` | `hub` | delete Deployment `hub` in `<ns>`, wait for its pods |
//! | `delete-lab-namespaces:<nublado2\|nublado>` | `labs` | delete the lab namespaces, wait until gone |
//! | `sync-app:<app>` | `sync` | Argo CD refresh, sync pinned to the merged commit (prune where planned, of exactly what the stage expects), wait for Synced + Healthy at that commit |
//! | `check-route:<route>` | `route` | `GET https://<fqdn><route>/hub/health` until 200 |
//! | `manual:<what>` | `manual` | the operator does it and confirms |
//! | `vault-secret:<app>` | `vault` | add nublado v3's keys to `<vaultPathPrefix>/<app>`, keeping those there |
//! | `vault-cleanup` | `vault` | save a 0600 copy, then delete every version of the v2 apps' secrets |
//! | `database-cleanup` | `database` | refuse while connected, `pg_dump`, drop database `jupyterhub` and role `jovyan` |
//! | `check-db-role:<role>` | `db_role` | the in-cluster PostgreSQL server has the role nublado v3's hub connects as |
//!
//! The hub move's steps work on two clusters at once (`MoveEnv`: the source and target sides):
//!
//! | id | module | does |
//! |---|---|---|
//! | `transfer-homes`, `transfer-homes:final` | `transfer` | for a hub on jupyterhub-home-nfs: expose the target's `home-transfer` sidecar through a LoadBalancer Service, rsync from the source's sidecar (`kubectl exec -i`, the private key on standard input), delete the Service |
//! | `sync-homes`, `sync-homes:final` | `homes` | copy the hub's home directories from the source's share to the target's (parallel rsync, every directory again in a new window, resumable within one) |
//! | `delete-proxy-public` | `takedown` | delete `svc proxy-public` in the old hub's namespace |
//! | `stop-old-hub` | `takedown` | scale Deployment `hub` to 0, wait until its pods are gone |
//! | `copy-hub-db` | `hub_db` | copy `jupyterhub.sqlite` out (helper pod on PVC `hub-db-dir`), check it, stop the new hub, write it through a helper pod on the new hub's volume, verify, start the new hub again |
//! | `delete-user-pods` | `takedown` | delete the pods labelled `component=singleuser-server`, wait until gone |
//! | `update-dns` | `dns` | read the target's ingress address, print the record, poll DNS until the domain resolves there |
//! | `wait-deployed` | `deployed` | after `update-dns`: wait until the merged cutover is deployed (`https://<domain>/hub/health` answers 200 with a certificate that verifies) |
//! | `check-old-down` | `deployed` | the old hub is still down (no `proxy-public`, Deployment `hub` at 0) |

pub mod database;
pub mod db_role;
pub mod deployed;
pub mod dns;
pub mod homes;
pub mod hub;
pub mod hub_db;
pub mod labs;
pub mod manual;
pub mod mobu;
pub mod route;
pub mod sync;
pub mod takedown;
pub mod transfer;
pub mod vault;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clients::{ArgoCdApi, ClientError, HealthApi, HealthClient, KubeApi, MobuApi};
use super::clients::{PodFiles, PostgresApi, Resolver, VaultApi};
use super::{StepError, StepRunner, step_time};
use crate::playbook::Step;
use crate::retry::RetryPolicy;
use crate::runtime::homes::Location;

/// Poll intervals, time limits, retries and concurrency of the cluster steps. The defaults
/// suit a real window; tests shrink them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Between two polls of a state being waited for.
    pub poll: Duration,
    /// Namespaces deleted at once.
    pub concurrency: usize,
    /// How one call that fails with an error that can heal (a 5xx, 429, no answer) is tried
    /// again: its time budget, pauses and jitter. Inside a wait, the wait's own deadline is
    /// the budget.
    pub retry: RetryPolicy,
    /// How long deleted namespaces may take to disappear.
    pub namespaces: Duration,
    /// How long a Deployment may take to roll out, or its pods to go.
    pub deployment: Duration,
    /// How long an Argo CD sync may take, waiting for another operation included.
    pub sync: Duration,
    /// How long an application must stay Synced and Healthy after its sync (Degraded can be
    /// transient).
    pub settle: Duration,
    /// How long a hub may take to answer on its route.
    pub route: Duration,
    /// How long a new DNS record may take to be seen (the old record's TTL, usually 300 s,
    /// plus the time to edit it).
    pub dns: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            poll: crate::config::DEFAULT_POLL,
            concurrency: 16,
            retry: RetryPolicy::default(),
            namespaces: Duration::from_secs(15 * 60),
            deployment: Duration::from_secs(5 * 60),
            sync: Duration::from_secs(15 * 60),
            settle: crate::config::DEFAULT_SYNC_SETTLE,
            route: Duration::from_secs(5 * 60),
            dns: Duration::from_secs(30 * 60),
        }
    }
}

/// What the steps of one environment's runbook need: names and addresses read from the
/// repository and the configuration, and the clients. A step whose client is `None` cannot be
/// built (`build` says which is missing).
#[derive(Debug, Clone, Default)]
pub struct StepEnv {
    /// The environment (Phalanx) or hub (infrastructure).
    pub name: String,
    /// `data.lsst.cloud`: routes are checked at `https://<fqdn><route>/hub/health`.
    pub fqdn: String,
    /// The names of mobu's autostart flocks in the environment's mobu values.
    pub mobu_flocks: Vec<String>,
    /// The Kubernetes API of the environment's context.
    pub kube: Option<Arc<dyn KubeApi>>,
    /// Argo CD (`https://<fqdn>/argo-cd` with its token).
    pub argocd: Option<Arc<dyn ArgoCdApi>>,
    /// mobu (`https://<fqdn>/mobu` with a token holding `exec:admin`).
    pub mobu: Option<Arc<dyn MobuApi>>,
    /// The hubs' health endpoints; `None` means `https://<fqdn>`.
    pub health: Option<Arc<dyn HealthApi>>,
    /// The environment variables holding the Argo CD and mobu tokens, as the previews' `curl`
    /// commands name them (empty: `ARGOCD_TOKEN`, `MOBU_TOKEN`). Never the tokens.
    pub argocd_token_var: String,
    pub mobu_token_var: String,
    /// The merged commit the Argo CD syncs are pinned to (`None` with `--allow-unmerged`).
    pub revision: Option<Revision>,
    pub timing: Timing,
    /// Vault (`vaultUrl` with its token), for `vault-secret` and `vault-cleanup`.
    pub vault: Option<Arc<dyn VaultApi>>,
    /// `secret/phalanx/idfdev`: the environment's secrets, mount first.
    pub vault_path_prefix: String,
    /// A file holding the hub database password (an external database); empty: generated.
    pub hub_db_password_file: Option<PathBuf>,
    /// Where `slack_webhook` is copied from; `None`: `<prefix>/mobu#app-alert-webhook`.
    pub slack_webhook_source: Option<vault::SecretKey>,
    /// Where the cleanup steps save what they delete (Vault copies, database dumps), 0600
    /// files; the run's directory under the state directory.
    pub backup_dir: Option<PathBuf>,
    /// The PostgreSQL server of the environment (an administrative URL and its password).
    pub postgres: Option<Arc<dyn PostgresApi>>,
    /// The variable holding the PostgreSQL password, as previews name it (empty: `PGPASSWORD`).
    pub postgres_password_var: String,
    /// nublado v3's hub database in the environment (`database-cleanup` never drops it);
    /// `None`: it cannot be told, and `database-cleanup` refuses.
    pub v3_hub_database: Option<crate::repo::nublado::database::HubDatabase>,
    /// The two clusters of a hub move (`None` for the nublado playbook).
    pub hub_move: Option<MoveEnv>,
}

/// A commit the window proved merged, and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The full commit id.
    pub commit: String,
    /// `origin/main`.
    pub source: String,
}

/// One side of a hub move: a cluster, the hub's namespace there (= its name), the cluster's
/// kube context and API, and where the hub's home directories live.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub cluster: String,
    pub namespace: String,
    /// The configured kube context (`clusters.<cluster>.context`).
    pub context: Option<String>,
    pub kube: Option<Arc<dyn KubeApi>>,
    /// `<clusters.<cluster>.homes>/<namespace>`: a local path or `host:path`.
    pub homes: Option<Location>,
}

/// What the hub move's steps need besides `StepEnv`'s timings and backup directory.
#[derive(Debug, Clone, Default)]
pub struct MoveEnv {
    pub source: Side,
    pub target: Side,
    /// The hub's final domain (the DNS record the cutover moves).
    pub domain: String,
    /// `kubectl cp`/`exec` for the database copy.
    pub kubectl: Option<Arc<dyn PodFiles>>,
    pub resolver: Option<Arc<dyn Resolver>>,
    /// The final `sync-homes` deletes, in the target, files gone from the source.
    pub delete_homes: bool,
    /// rsync processes at once.
    pub parallel: usize,
    /// The private key of the home directories' transfer (`--transfer-key`), read by
    /// `transfer-homes` when it runs.
    pub transfer_key: Option<PathBuf>,
    /// The user the source's sidecar logs in to the target's as (empty: `root`).
    pub transfer_user: String,
    /// The port of the Service exposing the target's sidecar (0: 22).
    pub transfer_port: u16,
    /// How long its load balancer may take to get an address (zero: 10 minutes).
    pub transfer_address_wait: Duration,
    /// The source ranges (CIDRs) the Service admits, `--transfer-allow` (empty: any).
    pub transfer_allow: Vec<String>,
    /// How long one copy may take (zero: 48 hours).
    pub transfer_limit: Duration,
    /// The final domain's health endpoint, for `wait-deployed` (`None`:
    /// `https://<domain>/hub/health` through the platform's trust store).
    pub health: Option<Arc<dyn HealthApi>>,
    /// How long `wait-deployed` waits for the merge, the deploy and the certificate (zero:
    /// an hour).
    pub deploy_wait: Duration,
}

impl Side {
    /// The side's kube context, or the error of a step that needs it.
    pub fn context(&self, step: &str) -> Result<&str, StepError> {
        self.context.as_deref().ok_or_else(|| {
            StepError::fatal(format!(
                "step `{step}` needs the kube context of cluster `{}`: set it with `gitops-migrate config set clusters.{}.context NAME`",
                self.cluster, self.cluster
            ))
        })
    }

    /// The side's Kubernetes API, or the error of a step that needs it.
    pub fn kube(&self, step: &str) -> Result<Arc<dyn KubeApi>, StepError> {
        self.context(step)?;
        self.kube.clone().ok_or_else(|| {
            StepError::fatal(format!(
                "step `{step}` needs the Kubernetes API of cluster `{}` (its kube context could not be loaded)",
                self.cluster
            ))
        })
    }
}

/// Builds the runner of a planned step.
pub fn build(step: &Step, env: &StepEnv) -> Result<Box<dyn StepRunner>, StepError> {
    let (kind, arg) = step.id.split_once(':').unwrap_or((step.id.as_str(), ""));
    let missing = |what: &str| {
        StepError::fatal(format!(
            "step `{}` needs {what}, which is not configured for `{}`",
            step.id, env.name
        ))
    };
    let kube = || {
        env.kube
            .clone()
            .ok_or_else(|| missing("the Kubernetes API (a kube context)"))
    };
    let needs_arg = |what: &str| {
        if arg.is_empty() {
            Err(StepError::fatal(format!(
                "step `{}` needs {what} after `:` (`{kind}:<{what}>`)",
                step.id
            )))
        } else {
            Ok(arg)
        }
    };
    let vault_of = || {
        let vault = env
            .vault
            .clone()
            .ok_or_else(|| missing("Vault (its URL and token)"))?;
        let prefix = env.vault_path_prefix.trim();
        if prefix.is_empty() {
            return Err(missing("the Vault path prefix (vaultPathPrefix)"));
        }
        Ok((vault, prefix))
    };
    let backup_dir = || {
        env.backup_dir
            .as_deref()
            .ok_or_else(|| missing("a directory for the copies of what it deletes"))
    };
    match kind {
        "manual" => Ok(Box::new(manual::Manual::new(&step.id, &step.title))),
        "stop-mobu-flocks" => {
            let api = env
                .mobu
                .clone()
                .ok_or_else(|| missing("mobu (its URL and token)"))?;
            Ok(Box::new(mobu::StopFlocks::new(step, env, api)))
        }
        "restore-mobu" => Ok(Box::new(mobu::RestoreMobu::new(step, env, kube()?))),
        "delete-hub-deployment" => {
            let ns = needs_arg("namespace")?;
            Ok(Box::new(hub::DeleteHub::new(step, env, ns, kube()?)))
        }
        "delete-lab-namespaces" => {
            let which = needs_arg("application")?;
            let labs = labs::Labs::from_app(which).ok_or_else(|| {
                StepError::fatal(format!(
                    "step `{}`: lab namespaces are known for `nublado2` and `nublado` only",
                    step.id
                ))
            })?;
            Ok(Box::new(labs::DeleteLabs::new(step, env, labs, kube()?)))
        }
        "sync-app" => {
            let app = needs_arg("application")?;
            let api = env
                .argocd
                .clone()
                .ok_or_else(|| missing("Argo CD (its URL and token)"))?;
            Ok(Box::new(sync::SyncApp::new(step, env, app, api)))
        }
        "check-route" => {
            let route = needs_arg("route")?;
            let api: Arc<dyn HealthApi> = match &env.health {
                Some(h) => h.clone(),
                None if !env.fqdn.is_empty() => {
                    Arc::new(HealthClient::new(&format!("https://{}", env.fqdn)))
                }
                None => return Err(missing("the environment's fqdn")),
            };
            Ok(Box::new(route::CheckRoute::new(step, env, route, api)))
        }
        "vault-secret" => {
            let app = needs_arg("application")?;
            let (vault, prefix) = vault_of()?;
            Ok(Box::new(vault::VaultSecret::new(
                step, env, app, prefix, vault,
            )))
        }
        "vault-cleanup" => {
            let (vault, prefix) = vault_of()?;
            Ok(Box::new(vault::VaultCleanup::new(
                step,
                env,
                prefix,
                backup_dir()?,
                vault,
            )))
        }
        "database-cleanup" => {
            let pg = env
                .postgres
                .clone()
                .ok_or_else(|| missing("a PostgreSQL server (its admin URL and password)"))?;
            Ok(Box::new(database::DatabaseCleanup::new(
                step,
                env,
                backup_dir()?,
                pg,
            )))
        }
        "check-db-role" => {
            let role = needs_arg("role")?;
            let pg = env
                .postgres
                .clone()
                .ok_or_else(|| missing("a PostgreSQL server (its admin URL and password)"))?;
            Ok(Box::new(db_role::DbRoleCheck::new(step, env, role, pg)))
        }
        "sync-homes"
        | "transfer-homes"
        | "delete-proxy-public"
        | "stop-old-hub"
        | "copy-hub-db"
        | "delete-user-pods"
        | "update-dns"
        | "wait-deployed"
        | "check-old-down" => {
            let mv = env.hub_move.as_ref().ok_or_else(|| {
                StepError::fatal(format!(
                    "step `{}` belongs to the hub-move playbook (it needs a source and a target cluster)",
                    step.id
                ))
            })?;
            build_move_step(step, kind, arg, env, mv)
        }
        _ => Err(StepError::fatal(format!(
            "unknown step `{}`: this version knows stop-mobu-flocks, restore-mobu, delete-hub-deployment:<namespace>, delete-lab-namespaces:<nublado2|nublado>, sync-app:<app>, check-route:<route>, manual:<what>, vault-secret:<app>, vault-cleanup, database-cleanup, check-db-role:<role>, and for hub-move sync-homes[:final], transfer-homes[:final], delete-proxy-public, stop-old-hub, copy-hub-db, delete-user-pods, update-dns, wait-deployed and check-old-down",
            step.id
        ))),
    }
}

/// Builds a hub-move step.
fn build_move_step(
    step: &Step,
    kind: &str,
    arg: &str,
    env: &StepEnv,
    mv: &MoveEnv,
) -> Result<Box<dyn StepRunner>, StepError> {
    let id = step.id.as_str();
    Ok(match kind {
        "sync-homes" => Box::new(homes::SyncHomes::new(step, mv, arg == "final")?),
        "transfer-homes" => {
            let kubectl = mv
                .kubectl
                .clone()
                .ok_or_else(|| StepError::fatal(format!("step `{id}` needs kubectl")))?;
            Box::new(transfer::TransferHomes::new(
                step,
                env,
                mv,
                arg == "final",
                kubectl,
            )?)
        }
        "delete-proxy-public" => Box::new(takedown::DeleteProxyPublic::new(
            step,
            env,
            &mv.source,
            mv.source.kube(id)?,
        )),
        "stop-old-hub" => Box::new(takedown::StopHub::new(
            step,
            env,
            &mv.source,
            mv.source.kube(id)?,
        )),
        "delete-user-pods" => Box::new(takedown::DeleteUserPods::new(
            step,
            env,
            &mv.source,
            mv.source.kube(id)?,
        )),
        "copy-hub-db" => {
            let kubectl = mv
                .kubectl
                .clone()
                .ok_or_else(|| StepError::fatal(format!("step `{id}` needs kubectl")))?;
            let backups = env.backup_dir.clone().ok_or_else(|| {
                StepError::fatal(format!(
                    "step `{id}` needs a directory for the copies of the databases"
                ))
            })?;
            Box::new(hub_db::CopyHubDb::new(
                step,
                env,
                mv,
                hub_db::Clusters {
                    source: mv.source.kube(id)?,
                    target: mv.target.kube(id)?,
                    source_context: mv.source.context(id)?.to_string(),
                    target_context: mv.target.context(id)?.to_string(),
                },
                kubectl,
                backups,
            ))
        }
        "update-dns" => {
            if mv.domain.is_empty() {
                return Err(StepError::fatal(format!(
                    "step `{id}`: the hub has no domain in its cluster.yaml entry"
                )));
            }
            let resolver = mv
                .resolver
                .clone()
                .ok_or_else(|| StepError::fatal(format!("step `{id}` needs a resolver")))?;
            Box::new(dns::UpdateDns::new(
                step,
                env,
                mv,
                mv.target.kube(id)?,
                resolver,
            ))
        }
        "wait-deployed" => {
            if mv.domain.is_empty() {
                return Err(StepError::fatal(format!(
                    "step `{id}`: the hub has no domain in its cluster.yaml entry"
                )));
            }
            let health: Arc<dyn HealthApi> = match &mv.health {
                Some(h) => h.clone(),
                None => Arc::new(HealthClient::new(&format!("https://{}", mv.domain))),
            };
            Box::new(deployed::WaitDeployed::new(step, env, mv, health))
        }
        "check-old-down" => Box::new(deployed::CheckOldDown::new(
            step,
            env,
            mv,
            mv.source.kube(id)?,
        )),
        _ => unreachable!("only hub-move kinds reach here"),
    })
}

/// Sleeps `d`, but not past `deadline`: the poll of a wait, and a safe point. `Err` when the
/// run is interrupted (SIGINT, SIGTERM), before or during the sleep: the wait stops there.
pub(crate) fn nap(d: Duration, deadline: Instant) -> Result<(), StepError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if crate::runtime::interrupt::sleep(d.min(left)) {
        Ok(())
    } else {
        Err(StepError::fatal(crate::runtime::interrupt::stopped()))
    }
}

/// Runs one call under `timing.retry`: tried again while its error can heal and its time
/// budget lasts, never past the running step's own time limit (`step_time`). The error that
/// comes out is spent (the engine does not retry it again).
pub(crate) fn with_retries<T>(
    timing: &Timing,
    call: impl FnMut() -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let end = step_time::cap(None, timing.retry.budget);
    timing
        .retry
        .run_pausing(Some(end), crate::runtime::interrupt::sleep, call)
}

/// Runs a cleanup call (deleting what a step created for itself) with the retry policy's
/// whole budget of its own: not cut short by the step's time limit or by an interrupt, which
/// are the moments a cleanup matters most.
pub(crate) fn cleanup_with_retries<T>(
    timing: &Timing,
    call: impl FnMut() -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let end = Instant::now() + timing.retry.budget;
    let pause = |d| {
        std::thread::sleep(d);
        true
    };
    timing.retry.run_pausing(Some(end), pause, call)
}

/// Runs one call of a wait (a listing, a poll): tried again while its error can heal until
/// the wait's own `deadline`, however long the per-call budget is, so a control plane that
/// is away for minutes inside a long wait does not fail the step; never past the running
/// step's own time limit.
pub(crate) fn within_wait<T>(
    timing: &Timing,
    deadline: Instant,
    call: impl FnMut() -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let end = step_time::cap(Some(deadline), timing.retry.budget);
    timing
        .retry
        .run_pausing(Some(end), crate::runtime::interrupt::sleep, call)
}

/// `$NAME` for a token variable, `$default` when none is configured.
pub(crate) fn token_var(configured: &str, default: &str) -> String {
    let name = configured.trim().trim_start_matches('$');
    format!("${}", if name.is_empty() { default } else { name })
}

/// `a, b and c`.
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_unconfigured_steps_are_refused() {
        let env = StepEnv {
            name: "idfdev".into(),
            ..StepEnv::default()
        };
        let e = build(&Step::new("sync-app:nublado", "sync"), &env)
            .err()
            .unwrap();
        assert_eq!(
            e.message,
            "step `sync-app:nublado` needs Argo CD (its URL and token), which is not configured for `idfdev`"
        );
        let e = build(&Step::new("reboot", "x"), &env).err().unwrap();
        assert!(e.message.starts_with("unknown step `reboot`"), "{e}");
        let e = build(&Step::new("delete-hub-deployment", "x"), &env)
            .err()
            .unwrap();
        assert!(e.message.contains("needs namespace after `:`"), "{e}");
        assert!(!e.retryable);
    }
}
