//! `exec nublado STAGE --env ENV`: the window runbook of one environment — its steps from
//! the playbook (`Nublado::runbook`), its clients wired by the runtime from
//! `gitops-migrate.toml` and the environment file (`runtime::wiring::connect`), and the check
//! that the current kube context is the environment's.
//!
//! The runbook is derived from the stage and the environment whatever the checkout's state:
//! the window comes after the stage's pull request is merged, when the files already show the
//! next state.

use std::sync::Arc;
use std::time::Duration;

use super::proof::Cluster;
use super::{ContextCheck, ExecNublado, Prepared, RunOptions, merged};
use crate::cli::stage::{error_code, open, stage_of};
use crate::cli::{Exit, Output};
use crate::config::Fingerprint;
use crate::playbook::nublado::stages::{self, Stage};
use crate::playbook::nublado::{Nublado, environment_state};
use crate::playbook::{Playbook, PlaybookKind};
use crate::repo::{self, Phalanx};
use crate::runtime::Operator;
use crate::runtime::clients::{KubeApi, KubeConfig};
use crate::runtime::lease;
use crate::runtime::steps::StepEnv;
use crate::runtime::wiring;

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
        mobu_flocks: wiring::mobu_flocks(model, env),
        revision,
        v3_hub_database: Some(repo::nublado::database::v3_hub_database(model, &env.name)),
        ..StepEnv::default()
    };
    let files = super::run_files(args, PlaybookKind::Nublado, stage.name(), &env_name, out)?;
    // Copies of what the cleanup steps delete go beside the journal.
    step_env.backup_dir = Some(files.dir().join(format!("{env_name}-backups")));
    let mut missing = wiring::connect(&settings, kube_context.as_deref(), &mut step_env);
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
