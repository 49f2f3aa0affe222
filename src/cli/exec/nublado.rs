//! `exec nublado STAGE --env ENV`: the window runbook of one environment — its steps from
//! the plan (`stages::runbook`), its clients from `gitops-migrate.toml` and the environment
//! file, and the check that the current kube context is the environment's.
//!
//! The runbook is derived from the stage and the environment whatever the checkout's state:
//! the window comes after the stage's pull request is merged, when the files already show the
//! next state.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::proof::Cluster;
use super::{ContextCheck, ExecNublado, Prepared, RunOptions, merged};
use crate::cli::stage::{error_code, open, stage_of};
use crate::cli::{Exit, Output};
use crate::config::{EnvSettings, Fingerprint, TokenSource};
use crate::http::{Http, HttpBuilder};
use crate::playbook::nublado::stages::{self, Stage};
use crate::playbook::nublado::{Nublado, environment_state};
use crate::playbook::{Playbook, PlaybookKind};
use crate::repo::phalanx::Environment;
use crate::repo::{self, Phalanx};
use crate::runtime::Operator;
use crate::runtime::clients::{
    ArgoCdClient, HealthClient, KubeApi, KubeConfig, MobuClient, PsqlClient, VaultClient,
};
use crate::runtime::lease;
use crate::runtime::steps::StepEnv;
use crate::runtime::steps::vault::SecretKey;

/// The names of mobu's autostart flocks in the environment's mobu values.
fn mobu_flocks(p: &Phalanx, env: &Environment) -> Vec<String> {
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
fn connect(settings: &EnvSettings, kube_context: Option<&str>, env: &mut StepEnv) -> Vec<String> {
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
        Some(url) => {
            let password = settings.postgres_password.read().ok().flatten();
            match PsqlClient::new(url, password) {
                Ok(c) => env.postgres = Some(Arc::new(c)),
                Err(e) => why.push(format!("no PostgreSQL client: {e}")),
            }
        }
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

/// Resolves the stage and the environment, refuses a window that comes before its stage's
/// merge, and builds the runbook's steps with their clients.
pub fn prepare(exec: &ExecNublado, out: &mut Output) -> Result<Prepared, Exit> {
    let args = &exec.run;
    let stage = stage_of::<Nublado>(&exec.stage, out)?;
    let env_name = match exec.envs.as_slice() {
        [one] => one.clone(),
        [] => {
            out.error("no environment given: exec runs one environment's window, use --env ENV");
            return Err(Exit::Input);
        }
        _ => {
            out.error("exec runs one environment's window at a time: give exactly one --env ENV");
            return Err(Exit::Input);
        }
    };
    let from_step = match &exec.from_deprecated {
        Some(step) => {
            out.warning("--from STEP is deprecated for nublado: use --from-step STEP (--from names the source cluster of a hub move)");
            Some(step.clone())
        }
        None => args.from_step.clone(),
    };
    let p = open::<Nublado>(out)?;
    let root = p.files.root().to_path_buf();
    let checkout_runbook = Nublado::runbook(&p, stage, &env_name).map_err(|e| {
        out.error(&e.to_string());
        error_code(e.is_input_error())
    })?;
    let env = p.env(&env_name).expect("the runbook's environment");

    let config_path = crate::config::Config::path_for(&root, args.config.as_deref());
    // Before any cluster call, a real run proves the stage merged on the remote's branch, and
    // takes its runbook from there: the window acts on what is merged. A dry run reads the
    // checkout only.
    super::check_selection(&checkout_runbook, args, from_step.as_deref(), out)?;
    let has_window = !checkout_runbook.is_empty();
    let mut notes = Vec::new();
    let mut remote = None;
    if !args.dry_run && has_window {
        let (proved, note) = merged::prove(
            &root,
            args,
            out,
            |dir| Phalanx::load(dir).map_err(|e| e.to_string()),
            |remote, source| Nublado::merged_missing(remote, stage, &env_name, source),
            |source| {
                format!(
                    "`{}` for `{env_name}` is merged: {source}; the window acts on that commit and Argo CD syncs to it",
                    stage.name()
                )
            },
        )?;
        notes.push(note);
        remote = proved;
    }
    let revision = remote.as_ref().map(|(_, m)| m.revision.clone());
    // The merged folder stays while its model is used.
    let (remote, _merged) = remote.unzip();
    if remote.is_none() {
        check_checkout(&p, stage, &env_name, args, out)?;
    }
    let model = remote.as_ref().unwrap_or(&p);
    let env = model.env(&env_name).unwrap_or(env);

    let config = super::load_config(&root, args, out)?;
    let settings = config.environment(model, env);
    let kube_context = exec.context.clone().or_else(|| settings.context.clone());

    let runbook = stages::runbook(model, stage, env);
    let mut step_env = StepEnv {
        name: env.name.clone(),
        fqdn: env.fqdn.clone().unwrap_or_default(),
        mobu_flocks: mobu_flocks(model, env),
        revision,
        v3_hub_database: Some(repo::nublado::database::v3_hub_database(model, &env.name)),
        ..StepEnv::default()
    };
    let files = super::run_files(args, PlaybookKind::Nublado, stage.name(), &env_name, out)?;
    // Copies of what the cleanup steps delete go beside the journal.
    step_env.backup_dir = Some(files.dir().join(format!("{env_name}-backups")));
    let mut missing = connect(&settings, kube_context.as_deref(), &mut step_env);
    // A runbook whose steps all act outside the cluster (Vault, PostgreSQL, a person: `finish`)
    // needs no kube context.
    let needs_cluster = runbook.iter().any(|s| s.cluster);
    if !needs_cluster {
        missing.retain(|m| !m.starts_with("no kube context"));
    }

    let dry_run_note = {
        let ctx = kube_context.clone().filter(|_| needs_cluster);
        let flagged = exec.context.is_some();
        let env_name = env_name.clone();
        let merge = format!(
            "A run first fetches `{}` and refuses unless `{}` for `{env_name}` is on {} (--allow-unmerged for a rehearsal); ",
            args.remote,
            stage.name(),
            args.base
                .as_deref()
                .map(|b| format!("`{b}`"))
                .unwrap_or_else(|| "its default branch".into())
        );
        Box::new(move |step: &str| match &ctx {
            Some(c) => format!(
                "{merge}before `{step}`, the current kube context must be `{c}`{}, its cluster the one recorded for `{env_name}` (API server and kube-system UID), and the run takes a lease there.",
                if flagged {
                    " (from --context; its API server is shown and confirmed)"
                } else {
                    ""
                }
            ),
            None if !needs_cluster => format!(
                "{merge}no step of this runbook acts on the Kubernetes cluster: no kube context is needed before `{step}`."
            ),
            None => format!(
                "{merge}no kube context is configured for `{env_name}`: a run stops before `{step}` (`gitops-migrate config set environments.{env_name}.context NAME`, or --context NAME)."
            ),
        }) as Box<dyn Fn(&str) -> String>
    };
    let kube = step_env.kube.clone();
    Ok(Prepared {
        playbook: PlaybookKind::Nublado,
        from_step,
        target_args: Nublado::target_args(&env_name),
        target: env_name.clone(),
        stage: stage.name(),
        runbook,
        step_env,
        missing,
        secrets: settings.token_values(),
        notes,
        context_check: if needs_cluster {
            context_check(
                env_name,
                exec.context.clone(),
                settings.context.clone(),
                kube,
                settings.fingerprint.clone(),
                settings
                    .lease
                    .unwrap_or(Duration::from_secs(lease::DEFAULT_SECONDS)),
            )
        } else {
            Box::new(|op: &mut dyn Operator| {
                op.say("no step of this runbook acts on the Kubernetes cluster: no kube context is checked");
                Ok(Vec::new())
            })
        },
        config: config_path,
        dry_run_note,
        files,
    })
}

/// The checkout's state, when the merge is not proved (a dry run, `--allow-unmerged`): an
/// environment not yet at the stage is refused (a dry run warns); one at the stage is a
/// window before its merge, which a warning says.
fn check_checkout(
    p: &Phalanx,
    stage: Stage,
    env_name: &str,
    args: &RunOptions,
    out: &mut Output,
) -> Result<(), Exit> {
    let Some(env) = p.env(env_name) else {
        return Ok(());
    };
    let state = environment_state(p, env);
    let Some(from) = stage.from_state() else {
        return Ok(());
    };
    let (now, needed) = (state.state.ordinal(), from.ordinal());
    let behind = match (now, needed) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    };
    if behind {
        let msg = format!(
            "`{env_name}` is `{}` ({}): the window of `{}` runs once the environment is past `{from}` in the checkout{}",
            state.state,
            state.reason,
            stage.name(),
            state
                .state
                .next_stage()
                .map(|n| format!("; its next stage is `{n}`"))
                .unwrap_or_default()
        );
        if args.dry_run {
            out.warning(&msg);
        } else {
            out.error(&msg);
            return Err(Exit::Refused);
        }
    } else if now == needed {
        out.warning(&format!(
            "`{env_name}` is still `{}` in this checkout: the window of `{}` comes after its pull request is merged (a run checks the remote; Argo CD syncs what is merged)",
            state.state,
            stage.name()
        ));
    }
    Ok(())
}

/// The check before the first mutating step: the current kube context must be the expected
/// one (`--context`, else the configured one); `--context` shows its API server and asks.
/// Gives the environment's cluster, whose fingerprint and lease the run then proves.
fn context_check(
    env: String,
    flag: Option<String>,
    configured: Option<String>,
    kube: Option<Arc<dyn KubeApi>>,
    recorded: Fingerprint,
    lease_duration: Duration,
) -> ContextCheck {
    Box::new(move |op: &mut dyn Operator| {
        let (expected, source) = match (&flag, &configured) {
            (Some(f), _) => (f.clone(), "from --context".to_string()),
            (None, Some(c)) => (c.clone(), "configured".to_string()),
            (None, None) => {
                return Err(format!(
                    "no kube context is configured for `{env}`: set it with `gitops-migrate config set environments.{env}.context NAME`, or pass --context NAME"
                ));
            }
        };
        let kc = KubeConfig::load().map_err(|e| e.to_string())?;
        if !kc.contexts().contains(&expected.as_str()) {
            return Err(format!(
                "the kube context `{expected}` ({source}) is not in your kubeconfig (contexts: {})",
                kc.contexts().join(", ")
            ));
        }
        let current = kc.current_context().unwrap_or("(none)").to_string();
        if current != expected {
            return Err(format!(
                "the current kube context is `{current}`, but `{env}` runs in `{expected}` ({source}); switch with `kubectl config use-context {expected}`"
            ));
        }
        let server = kc
            .server_url(&expected)
            .unwrap_or("(no API server URL)")
            .to_string();
        if flag.is_some() {
            if let Some(c) = configured.as_ref().filter(|c| **c != expected) {
                op.say(&format!(
                    "note: --context `{expected}` replaces the configured context `{c}`"
                ));
            }
            if !op.verify(&format!(
                "--context `{expected}`: API server {server}. Make the changes of `{env}` there?"
            )) {
                return Err(format!("--context `{expected}` was not confirmed"));
            }
        }
        op.say(&format!("kube context `{expected}` ({server}) checked"));
        let kube = kube.clone().ok_or_else(|| {
            format!("no Kubernetes client for the kube context `{expected}` of `{env}`")
        })?;
        Ok(vec![Cluster {
            label: format!("environment `{env}`"),
            config_prefix: format!("environments.{env}"),
            context: expected,
            server,
            kube,
            recorded: recorded.clone(),
            lease_duration,
        }])
    })
}
