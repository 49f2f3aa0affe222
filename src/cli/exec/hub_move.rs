//! `exec hub-move STAGE --hub H --from A --to B [--new-name N]`: the window runbook of a hub
//! move, across two clusters — the steps from the playbook (`hub_move::window`), and the
//! clients wired by the runtime (`runtime::wiring::move_env`): a Kubernetes client per cluster
//! from `clusters.<name>.context`, the home directories from `clusters.<name>.homes`, the
//! operator's `kubectl` for the database copy and the system resolver for the DNS step.
//!
//! A real run first proves the stage's prerequisite merged on the remote's branch (the setup
//! before the setup and cutover windows, the cutover before the decommission) and takes the
//! window from there. Every call names its cluster's context, so the current context does not
//! matter; the check before the first mutating step makes sure both contexts are configured
//! and in the kubeconfig, shows their API servers, and hands both clusters to the proof
//! (fingerprints, two different clusters, a lease in each).

use std::sync::Arc;

use std::time::Duration;

use super::proof::Cluster;
use super::{ContextCheck, ExecHubMove, Prepared, merged};
use crate::cli::stage::{error_code, open, stage_of};
use crate::cli::{Exit, Output};
use crate::config::ClusterSettings;
use crate::playbook::hub_move::{self, HubMove, Stage};
use crate::playbook::{Playbook, PlaybookKind};
use crate::repo::Infrastructure;
use crate::runtime::Operator;
use crate::runtime::clients::KubeApi;
use crate::runtime::clients::KubeConfig;
use crate::runtime::journal::RunFiles;
use crate::runtime::lease;
use crate::runtime::steps::{MoveEnv, StepEnv};
use crate::runtime::wiring;

pub fn prepare(exec: &ExecHubMove, out: &mut Output) -> Result<Prepared, Exit> {
    let args = &exec.run;
    let stage = stage_of::<HubMove>(&exec.target.stage, out)?;
    // Every option of the window named: one no step of the stage reads is refused.
    let ExecHubMove {
        target: _,
        delete,
        parallel,
        transfer_key,
        transfer_allow,
        run: _,
    } = exec;
    let given = [
        ("--delete", *delete),
        ("--parallel", parallel.is_some()),
        ("--transfer-key", transfer_key.is_some()),
        ("--transfer-allow", !transfer_allow.is_empty()),
    ];
    let named = || given.iter().filter(|(_, g)| *g).map(|(name, _)| *name);
    if let Err(e) = hub_move::unread_option(stage, named()) {
        out.error(&e);
        return Err(Exit::Input);
    }
    let mut mv = exec.target.named(out)?;
    let infra = open::<HubMove>(out)?;
    if stage == Stage::Decommission {
        mv.old_storage = crate::cli::stage::old_storage(&infra, &mv);
    }
    let root = infra.files.root().to_path_buf();
    if let Ok(steps) = HubMove::runbook(&infra, stage, &mv) {
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        if let Err(e) = hub_move::unread_by_window(stage, named(), &ids) {
            out.error(&e);
            return Err(Exit::Input);
        }
        super::check_selection(&steps, args, args.from_step.as_deref(), out)?;
    }
    // Before any cluster call, a real run proves the stage's prerequisite merged on the
    // remote's branch, and takes its window from there.
    let mut notes = Vec::new();
    let mut remote = None;
    if !args.dry_run {
        let (proved, note) = merged::prove(
            &root,
            args,
            out,
            |dir| Infrastructure::load(dir).map_err(|e| e.to_string()),
            |remote, source| HubMove::merged_missing(remote, stage, &mv, source),
            |source| {
                format!(
                    "what `{}` of hub `{}` needs is merged: {source}; the window acts on that commit",
                    stage.name(),
                    mv.hub
                )
            },
        )?;
        notes.push(note);
        remote = proved;
    }
    // The merged folder stays while its model is used.
    let (remote, _merged) = remote.unzip();
    let model = remote.as_ref().unwrap_or(&infra);
    let config = super::load_config(&root, args, out)?;
    let config_path = crate::config::Config::path_for(&root, args.config.as_deref());
    let (src_settings, tgt_settings) = (config.cluster(&mv.from), config.cluster(&mv.to));
    // `decommission` names the copy's source too (`clusters.<source>.homes/<hub>`).
    if let (Some(h), Stage::Decommission) = (&src_settings.homes, stage) {
        mv.old_homes = Some(format!("{}/{}", h.trim_end_matches('/'), mv.hub));
    }
    let window = crate::playbook::hub_move::window(model, stage, &mv).map_err(|e| {
        out.error(&e.to_string());
        error_code(e.is_input_error())
    })?;
    let target = HubMove::run_name(&mv);
    let state = super::state_dir(args, out)?;
    let files = RunFiles::new(&state, PlaybookKind::HubMove.name(), stage.name(), &target);

    let (move_env, missing) = wiring::move_env(
        [&src_settings, &tgt_settings],
        [&mv.hub, mv.target_name()],
        window.domain.clone().unwrap_or_default(),
        exec.delete,
        exec.parallel
            .map_or_else(crate::runtime::homes::default_parallel, usize::from),
    );
    let move_env = MoveEnv {
        transfer_key: exec.transfer_key.clone(),
        transfer_allow: exec.transfer_allow.clone(),
        ..move_env
    };
    let mut step_env = StepEnv {
        name: mv.hub.clone(),
        backup_dir: Some(files.dir().join(format!("{target}-backups"))),
        hub_move: Some(move_env),
        ..StepEnv::default()
    };
    if let Some(poll) = src_settings.poll_interval.or(tgt_settings.poll_interval) {
        step_env.timing.poll = poll;
    }

    let mut target_args = HubMove::target_args(&mv);
    // The report's command reproduces the run: every option given that changes it.
    if exec.delete {
        target_args.push_str(" --delete");
    }
    if let Some(n) = exec.parallel {
        target_args.push_str(&format!(" --parallel {n}"));
    }
    if let Some(key) = &exec.transfer_key {
        target_args.push_str(&format!(" --transfer-key {}", key.display()));
    }
    for range in &exec.transfer_allow {
        target_args.push_str(&format!(" --transfer-allow {range}"));
    }
    let sides: Vec<SideProof> = [
        (
            &src_settings,
            &step_env.hub_move.as_ref().expect("set above").source,
        ),
        (
            &tgt_settings,
            &step_env.hub_move.as_ref().expect("set above").target,
        ),
    ]
    .into_iter()
    .map(|(settings, side)| SideProof {
        settings: settings.clone(),
        kube: side.kube.clone(),
    })
    .collect();
    let (remote, stage_name) = (args.remote.clone(), stage.name());
    let base = args
        .base
        .as_deref()
        .map(|b| format!("`{b}`"))
        .unwrap_or_else(|| "its default branch".into());
    let shown: Vec<(String, Option<String>)> = sides
        .iter()
        .map(|s| (s.settings.cluster.clone(), s.settings.context.clone()))
        .collect();
    // The setup and decommission windows copy files and ask the operator: no cluster call,
    // unless setup transfers the homes of a hub on jupyterhub-home-nfs (both clusters).
    let uses_clusters = window
        .steps
        .iter()
        .any(|s| !s.id.starts_with("manual:") && !s.id.starts_with("sync-homes"));
    Ok(Prepared {
        playbook: PlaybookKind::HubMove,
        from_step: args.from_step.clone(),
        target,
        target_args,
        stage: stage.name(),
        runbook: window.steps,
        step_env,
        missing,
        secrets: Vec::new(),
        notes,
        context_check: Box::new(move |op: &mut dyn Operator| {
            if uses_clusters {
                check_contexts(&sides, op)
            } else {
                Ok(Vec::new())
            }
        }) as ContextCheck,
        config: config_path,
        dry_run_note: Box::new(move |step: &str| {
            let merge = format!(
                "A run first fetches `{remote}` and refuses unless what `{stage_name}` needs is merged on {base}. "
            );
            if !uses_clusters {
                return format!("{merge}This runbook makes no call to either cluster.");
            }
            let named: Vec<String> = shown
                .iter()
                .map(|(c, ctx)| match ctx {
                    Some(x) => format!("`{c}` in context `{x}`"),
                    None => format!("`{c}` (no context configured)"),
                })
                .collect();
            format!(
                "{merge}From `{step}` on, every call names its cluster's context: {}; the current context does not matter; each cluster must be the one recorded for it (API server and kube-system UID), the two must differ, and the run takes a lease in each.",
                named.join(" and ")
            )
        }),
        files,
    })
}

/// What the proof needs of one side.
struct SideProof {
    settings: ClusterSettings,
    kube: Option<Arc<dyn KubeApi>>,
}

/// Both clusters' contexts configured, present in the kubeconfig, and their API servers shown;
/// both handed to the proof (fingerprints, two clusters, leases).
fn check_contexts(sides: &[SideProof], op: &mut dyn Operator) -> Result<Vec<Cluster>, String> {
    let kc = KubeConfig::load().map_err(|e| e.to_string())?;
    let mut clusters = Vec::new();
    for side in sides {
        let cluster = &side.settings.cluster;
        let Some(ctx) = &side.settings.context else {
            return Err(format!(
                "no kube context is configured for cluster `{cluster}`: set it with `gitops-migrate config set clusters.{cluster}.context NAME`"
            ));
        };
        if !kc.contexts().contains(&ctx.as_str()) {
            return Err(format!(
                "the kube context `{ctx}` of cluster `{cluster}` is not in your kubeconfig (contexts: {})",
                kc.contexts().join(", ")
            ));
        }
        let server = kc.server_url(ctx).unwrap_or("(no API server URL)");
        op.say(&format!(
            "cluster `{cluster}`: kube context `{ctx}` ({server})"
        ));
        let kube = side.kube.clone().ok_or_else(|| {
            format!("no Kubernetes client for the kube context `{ctx}` of cluster `{cluster}`")
        })?;
        clusters.push(Cluster {
            label: format!("cluster `{cluster}`"),
            config_prefix: format!("clusters.{cluster}"),
            context: ctx.clone(),
            server: server.to_string(),
            kube,
            recorded: side.settings.fingerprint.clone(),
            lease_duration: side
                .settings
                .lease
                .unwrap_or(Duration::from_secs(lease::DEFAULT_SECONDS)),
        });
    }
    if sides[0].settings.context == sides[1].settings.context {
        return Err(format!(
            "clusters `{}` and `{}` have the same kube context: a move goes between two clusters",
            sides[0].settings.cluster, sides[1].settings.cluster
        ));
    }
    Ok(clusters)
}
