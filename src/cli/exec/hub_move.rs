//! `exec hub-move STAGE --hub H --from A --to B [--new-name N]`: the window runbook of a hub
//! move, across two clusters — the steps from the playbook (`hub_move::window`), a Kubernetes
//! client per cluster from `clusters.<name>.context`, the home directories from
//! `clusters.<name>.homes`, the operator's `kubectl` for the database copy and the system
//! resolver for the DNS step.
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
use super::{ContextCheck, ExecArgs, Prepared, merged};
use crate::cli::stage::{hub_move_stage, named_move, open_infrastructure};
use crate::cli::{Exit, Output};
use crate::config::ClusterSettings;
use crate::playbook::hub_move;
use crate::repo::Infrastructure;
use crate::runtime::Operator;
use crate::runtime::clients::KubeApi;
use crate::runtime::clients::{KubeConfig, Kubectl, SystemResolver};
use crate::runtime::homes::Location;
use crate::runtime::journal::RunFiles;
use crate::runtime::lease;
use crate::runtime::steps::{MoveEnv, Side, StepEnv};

fn usage(out: &mut Output, message: &str) -> Exit {
    out.error(message);
    Exit::Input
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
            Ok(c) => Some(Arc::new(c) as Arc<dyn crate::runtime::clients::KubeApi>),
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

pub fn prepare(args: &ExecArgs, out: &mut Output) -> Result<Prepared, Exit> {
    let stage = hub_move_stage(&args.stage, out)?;
    if !args.envs.is_empty() {
        return Err(usage(
            out,
            "--env belongs to the nublado playbook; hub-move takes --hub NAME --from CLUSTER --to CLUSTER",
        ));
    }
    if args.context.is_some() {
        return Err(usage(
            out,
            "--context does not apply to hub-move: its steps run in two clusters, each with its configured context (`gitops-migrate config set clusters.<cluster>.context NAME`)",
        ));
    }
    let mv = named_move(
        [&args.hub, &args.from, &args.to],
        &args.new_name,
        &args.temp_domain,
        out,
    )?;
    let mut mv = mv;
    let infra = open_infrastructure(out)?;
    if stage == hub_move::Stage::Decommission {
        mv.old_storage = crate::cli::stage::old_storage(&infra, &mv);
    }
    let root = infra.files.root().to_path_buf();
    if let Ok(w) = hub_move::window(&infra, stage, &mv) {
        super::check_selection(&w.steps, args, out)?;
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
            |remote, source| {
                hub_move::merged_missing(remote, stage, &mv).map(|why| format!("{why} on {source}"))
            },
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
    let window = hub_move::window(model, stage, &mv).map_err(|e| {
        out.error(&e.to_string());
        if e.is_input_error() {
            Exit::Input
        } else {
            Exit::Refused
        }
    })?;

    let config = super::load_config(&root, args, out)?;
    let config_path = crate::config::Config::path_for(&root, args.config.as_deref());
    let (src_settings, tgt_settings) = (config.cluster(&mv.from), config.cluster(&mv.to));
    // `decommission` names the copy's source too (`clusters.<source>.homes/<hub>`).
    let window = match (&src_settings.homes, stage) {
        (Some(h), hub_move::Stage::Decommission) => {
            mv.old_homes = Some(format!("{}/{}", h.trim_end_matches('/'), mv.hub));
            hub_move::window(model, stage, &mv).unwrap_or(window)
        }
        _ => window,
    };
    let target = format!("{}.{}.to.{}", mv.hub, mv.from, mv.to);
    let state = super::state_dir(args, out)?;
    let files = RunFiles::new(&state, &args.playbook, stage.name(), &target);

    let kubeconfig = KubeConfig::load().map_err(|e| e.to_string());
    let mut missing = Vec::new();
    let source = side(&src_settings, &mv.hub, &kubeconfig, &mut missing);
    let target_side = side(&tgt_settings, mv.target_name(), &kubeconfig, &mut missing);
    let mut step_env = StepEnv {
        name: mv.hub.clone(),
        backup_dir: Some(files.dir().join(format!("{target}-backups"))),
        ..StepEnv::default()
    };
    if let Some(poll) = src_settings.poll_interval.or(tgt_settings.poll_interval) {
        step_env.timing.poll = poll;
    }
    step_env.hub_move = Some(MoveEnv {
        source,
        target: target_side,
        domain: window.domain.clone().unwrap_or_default(),
        kubectl: Some(Arc::new(Kubectl::default())),
        resolver: Some(Arc::new(SystemResolver)),
        delete_homes: args.delete,
        parallel: usize::from(args.parallel),
        transfer_key: args.transfer_key.clone(),
        ..MoveEnv::default()
    });

    let mut target_args = mv.args();
    if args.delete {
        target_args.push_str(" --delete");
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
    // The setup and decommission windows copy files and ask the operator: no cluster call.
    let uses_clusters = window
        .steps
        .iter()
        .any(|s| !s.id.starts_with("manual:") && !s.id.starts_with("sync-homes"));
    // The setup window of a hub on jupyterhub-home-nfs calls both clusters (the transfer).
    Ok(Prepared {
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
