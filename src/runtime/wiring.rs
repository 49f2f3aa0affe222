//! The wiring of a window run: the clients its steps use, built from `gitops-migrate.toml` and
//! the repository — for a nublado environment (`connect`: the Kubernetes API of its kube
//! context, Argo CD, mobu, Vault, PostgreSQL and the hubs' health, with their tokens read from
//! the environment or the configured files, never from arguments), and for each side of a hub
//! move (`side`: its cluster's API client and home directories). A client that cannot be made
//! is left out with a line saying why; `steps::build` then reports the steps that need it.
//!
//! Owns: building the clients and the `StepEnv` fields that name them. Does not own: the
//! configuration (`config`), the clients themselves (`clients`), the steps (`steps`) or the
//! checks before the first change (the caller's proof).

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{ClusterSettings, EnvSettings, TokenSource};
use crate::http::{Http, HttpBuilder};
use crate::repo::phalanx::Environment;
use crate::repo::{self, Phalanx};
use crate::runtime::clients::{
    ArgoCdClient, HealthClient, KubeApi, KubeConfig, Kubectl, MobuClient, PsqlClient,
    SystemResolver, VaultClient,
};
use crate::runtime::homes::Location;
use crate::runtime::steps::vault::SecretKey;
use crate::runtime::steps::{MoveEnv, Side, StepEnv};

/// The names of mobu's autostart flocks in the environment's mobu values.
pub fn mobu_flocks(p: &Phalanx, env: &Environment) -> Vec<String> {
    if !env.enabled.contains("mobu") {
        return Vec::new();
    }
    let Some(doc) = p
        .values_file("mobu", &env.name)
        .and_then(|rel| p.files.doc(rel))
    else {
        return Vec::new();
    };
    repo::lookup(doc, "config.autostart")
        .and_then(|n| n.as_sequence())
        .map(|seq| {
            seq.items
                .iter()
                .filter_map(|item| {
                    item.value
                        .as_mapping()?
                        .get("name")?
                        .value
                        .scalar_text()
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Connects the clients of the steps from the environment's settings: the Kubernetes API of
/// `kube_context`, Argo CD and mobu with their tokens (read from the environment or the
/// configured files, never from arguments), the hubs' health at `health_url`; the names of
/// the token variables (for the previews' commands) and the configured poll interval and
/// settle window. A client that cannot be made is left out, with a line saying why;
/// `steps::build` then reports the steps that need it as not available.
pub fn connect(
    settings: &EnvSettings,
    kube_context: Option<&str>,
    env: &mut StepEnv,
) -> Vec<String> {
    let mut why = Vec::new();
    let key = |field: &str| format!("environments.{}.{field}", settings.env);
    match kube_context {
        None => why.push(format!(
            "no kube context: set it with `gitops-migrate config set {} NAME` (or pass --context NAME)",
            key("context")
        )),
        Some(ctx) => match KubeConfig::load().and_then(|kc| kc.client(Some(ctx))) {
            Ok(c) => env.kube = Some(Arc::new(c)),
            Err(e) => why.push(format!("no Kubernetes client for `{ctx}`: {e}")),
        },
    }
    // The agent of a service: the system's trust store, or its `<service>_ca_file`.
    let agent = |what: &str, b: HttpBuilder, ca: &Option<PathBuf>| match ca {
        None => Ok(b.build()),
        Some(f) => b
            .ca_file(f)
            .map(HttpBuilder::build)
            .map_err(|e| format!("no {what} client: {e}")),
    };
    let agents = [
        agent("Argo CD", Http::builder(), &settings.argocd_ca_file),
        agent("mobu", Http::builder(), &settings.mobu_ca_file),
        agent("Vault", Http::builder(), &settings.vault_ca_file),
        agent("health", HealthClient::agent(), &settings.health_ca_file),
    ];
    let [argocd_http, mobu_http, vault_http, health_http] = agents.clone().map(Result::ok);
    let mut token = |what: &str, field: &str, url: &Option<String>, source: &TokenSource| {
        let Some(url) = url else {
            why.push(format!(
                "no {what} URL: the environment has no fqdn; set `{}`",
                key(&format!("{field}_url"))
            ));
            return None;
        };
        match source.read() {
            Ok(Some(t)) => Some((url.clone(), t)),
            Ok(None) => {
                why.push(format!(
                    "no {what} token: set ${} (or `{}`)",
                    source.var,
                    key(&format!("{field}_token_file"))
                ));
                None
            }
            Err(e) => {
                why.push(format!("no {what} token: {e}"));
                None
            }
        }
    };
    if let (Some((url, t)), Some(http)) = (
        token(
            "Argo CD",
            "argocd",
            &settings.argocd_url,
            &settings.argocd_token,
        ),
        argocd_http,
    ) {
        env.argocd = Some(Arc::new(ArgoCdClient::with_http(&url, t, http)));
    }
    if let (Some((url, t)), Some(http)) = (
        token("mobu", "mobu", &settings.mobu_url, &settings.mobu_token),
        mobu_http,
    ) {
        env.mobu = Some(Arc::new(MobuClient::with_http(&url, t, http)));
    }
    // Vault, for `vault-secret` and `vault-cleanup`.
    if let Some(prefix) = &settings.vault_path_prefix {
        env.vault_path_prefix = prefix.clone();
        env.slack_webhook_source = SecretKey::parse(&settings.slack_webhook_source, prefix);
    }
    env.hub_db_password_file = settings.hub_db_password_file.clone();
    if let (Some((url, t)), Some(http)) = (
        token("Vault", "vault", &settings.vault_url, &settings.vault_token),
        vault_http,
    ) {
        env.vault = Some(Arc::new(VaultClient::with_http(&url, t, http)));
    }
    why.extend(agents.into_iter().filter_map(Result::err));
    // The PostgreSQL server of v2's database, for `database-cleanup`.
    env.postgres_password_var = settings.postgres_password.var.clone();
    match &settings.postgres_url {
        None => why.push(format!(
            "no PostgreSQL server: set `{}` to its postgresql:// URL",
            key("postgres_admin_url")
        )),
        Some(url) => match settings.postgres_password.read() {
            Err(e) => why.push(format!("no PostgreSQL password: {e}")),
            Ok(password) => match PsqlClient::new(url, password) {
                Ok(c) => env.postgres = Some(Arc::new(c)),
                Err(e) => why.push(format!("no PostgreSQL client: {e}")),
            },
        },
    }
    env.argocd_token_var = settings.argocd_token.var.clone();
    env.mobu_token_var = settings.mobu_token.var.clone();
    if let (Some(url), Some(http)) = (&settings.health_url, health_http) {
        env.health = Some(Arc::new(HealthClient::with_http(url, http)));
    }
    if let Some(poll) = settings.poll_interval {
        env.timing.poll = poll;
    }
    if let Some(settle) = settings.sync_settle {
        env.timing.settle = settle;
    }
    why
}

/// One side: its context, API client and home directories; why a part is missing.
fn side(
    settings: &ClusterSettings,
    namespace: &str,
    kubeconfig: &Result<KubeConfig, String>,
    missing: &mut Vec<String>,
) -> Side {
    let cluster = &settings.cluster;
    let kube = match (&settings.context, kubeconfig) {
        (None, _) => {
            missing.push(format!(
                "no kube context for cluster `{cluster}`: set it with `gitops-migrate config set clusters.{cluster}.context NAME`"
            ));
            None
        }
        (Some(_), Err(e)) => {
            missing.push(format!("no kubeconfig: {e}"));
            None
        }
        (Some(ctx), Ok(kc)) => match kc.client(Some(ctx)) {
            Ok(c) => Some(Arc::new(c) as Arc<dyn KubeApi>),
            Err(e) => {
                missing.push(format!("no Kubernetes client for `{ctx}` ({cluster}): {e}"));
                None
            }
        },
    };
    let homes = match &settings.homes {
        None => {
            missing.push(format!(
                "no home directories for cluster `{cluster}`: set `gitops-migrate config set clusters.{cluster}.homes DIR` (a local path or host:path holding <hub>/ directories)"
            ));
            None
        }
        Some(h) => match Location::parse(&format!("{}/{namespace}", h.trim_end_matches('/'))) {
            Ok(l) => Some(l),
            Err(e) => {
                missing.push(format!("clusters.{cluster}.homes: {e}"));
                None
            }
        },
    };
    Side {
        cluster: cluster.clone(),
        namespace: namespace.to_string(),
        context: settings.context.clone(),
        kube,
        homes,
    }
}

/// Both sides of a hub move (`[source, target]`: their settings and the hub's namespace in
/// each), the operator's `kubectl` for the database copy and the system resolver for the DNS
/// step; why a part is missing.
pub fn move_env(
    settings: [&ClusterSettings; 2],
    namespaces: [&str; 2],
    domain: String,
    delete_homes: bool,
    parallel: usize,
) -> (MoveEnv, Vec<String>) {
    let kubeconfig = KubeConfig::load().map_err(|e| e.to_string());
    let mut missing = Vec::new();
    let source = side(settings[0], namespaces[0], &kubeconfig, &mut missing);
    let target = side(settings[1], namespaces[1], &kubeconfig, &mut missing);
    let env = MoveEnv {
        source,
        target,
        domain,
        kubectl: Some(Arc::new(Kubectl::default())),
        resolver: Some(Arc::new(SystemResolver)),
        delete_homes,
        parallel,
        ..MoveEnv::default()
    };
    (env, missing)
}
