//! The window runbooks of the three stages (the steps `exec hub-move` runs), what each
//! stage needs merged before its window, and which stages' steps read each option of
//! `exec hub-move` (`WINDOW_OPTIONS`).
//!
//! Does not own: running the steps (`runtime::steps`) or the Git changes (`setup`, `cutover`,
//! `decommission`).

use super::{Move, MoveError, STAGES, Stage, cluster, login, quoted, transfer, unknown_hub};
use crate::playbook::Step;
use crate::repo::Infrastructure;
use crate::repo::infra::{Cluster, Hub, normalize_domain};

/// The window runbook of a stage, derived from the move and the clusters whatever the
/// checkout's state (the setup window follows the merge of its change; the cutover window
/// precedes it), with the hub's final domain.
pub fn window(infra: &Infrastructure, stage: Stage, mv: &Move) -> Result<Window, MoveError> {
    let src = cluster(infra, &mv.from)?;
    let tgt = cluster(infra, &mv.to)?;
    if src.name == tgt.name {
        return Err(MoveError::SameCluster(src.name.clone()));
    }
    let name = mv.target_name();
    let (old, new) = (src.hub(&mv.hub), tgt.hub(name));
    if old.is_none() && new.is_none() {
        return Err(unknown_hub(src, &mv.hub));
    }
    // The final domain is the old entry's until the cutover's change removes it.
    let domain = old
        .and_then(|h| h.domain.clone())
        .or_else(|| new.and_then(|h| h.domain.clone()));
    // The login client follows the temporary domain (the new entry's, once set up).
    let temp = new
        .and_then(|h| h.domain.clone())
        .or_else(|| mv.temp_domain.clone());
    let (login, restore) = match old.or(new) {
        Some(h) => login_steps(infra, src, tgt, mv, h, temp.as_deref(), domain.as_deref()),
        None => (None, None),
    };
    let homes = old
        .or(new)
        .map(|h| transfer::homes(infra, h))
        .unwrap_or(transfer::Homes::HostPath);
    let steps = match stage {
        Stage::Setup => setup_steps(src, tgt, name, login, &homes),
        Stage::Cutover => {
            // The old hub is taken down only once the new one is set up.
            set_up_hub(tgt, mv)?;
            cutover_steps(src, tgt, mv, domain.as_deref(), restore, &homes)
        }
        Stage::Decommission => {
            cut_over(src, mv)?;
            decommission_steps(src, mv)
        }
    };
    Ok(Window { steps, domain })
}

/// An option of `exec hub-move` that only some stages' steps read: given with another stage,
/// it is refused rather than ignored.
#[derive(Debug)]
pub struct WindowOption {
    /// `--parallel`.
    pub name: &'static str,
    /// The steps that read it.
    pub read_by: &'static [&'static str],
    /// The stages whose windows have those steps.
    pub stages: &'static [Stage],
    /// What it changes in those steps.
    pub what: &'static str,
}

/// The options of `exec hub-move` that not every stage reads.
pub const WINDOW_OPTIONS: [WindowOption; 4] = [
    WindowOption {
        name: "--delete",
        read_by: &["sync-homes:final", "transfer-homes:final"],
        stages: &[Stage::Cutover],
        what: "the final copy of the home directories deletes files gone from the source",
    },
    WindowOption {
        name: "--parallel",
        read_by: &["sync-homes", "sync-homes:final"],
        stages: &[Stage::Setup, Stage::Cutover],
        what: "rsync processes at once for the copies of the home directories",
    },
    WindowOption {
        name: "--transfer-key",
        read_by: &["transfer-homes", "transfer-homes:final"],
        stages: &[Stage::Setup, Stage::Cutover],
        what: "the private key of the copies of the home directories",
    },
    WindowOption {
        name: "--transfer-allow",
        read_by: &["transfer-homes", "transfer-homes:final"],
        stages: &[Stage::Setup, Stage::Cutover],
        what: "the source ranges admitted to the copies' load balancer",
    },
];

/// Refuses the first of the options `given` (by name) that no step of `stage` reads, saying
/// which stages take it.
pub fn unread_option<'o>(
    stage: Stage,
    given: impl IntoIterator<Item = &'o str>,
) -> Result<(), String> {
    for name in given {
        let Some(o) = WINDOW_OPTIONS.iter().find(|o| o.name == name) else {
            continue;
        };
        if o.stages.contains(&stage) {
            continue;
        }
        let stages: Vec<String> = STAGES
            .into_iter()
            .filter(|s| o.stages.contains(s))
            .map(|s| s.name().to_string())
            .collect();
        let steps: Vec<String> = o.read_by.iter().map(|s| s.to_string()).collect();
        return Err(format!(
            "{} is an option of {} ({}, steps {}), not `{}`",
            o.name,
            quoted(&stages),
            o.what,
            quoted(&steps),
            stage.name()
        ));
    }
    Ok(())
}

/// Refuses the first of the options `given` that the stage takes but no step of this hub's
/// window reads (`--parallel` for a hub on jupyterhub-home-nfs, whose homes `transfer-homes`
/// copies; `--transfer-key` for one whose homes `sync-homes` copies). `steps`: the ids of
/// the window's steps.
pub fn unread_by_window<'o>(
    stage: Stage,
    given: impl IntoIterator<Item = &'o str>,
    steps: &[&str],
) -> Result<(), String> {
    for name in given {
        let Some(o) = WINDOW_OPTIONS.iter().find(|o| o.name == name) else {
            continue;
        };
        if !o.stages.contains(&stage) || o.read_by.iter().any(|r| steps.contains(r)) {
            continue;
        }
        let by: Vec<String> = o.read_by.iter().map(|s| s.to_string()).collect();
        let copies: Vec<String> = [
            "sync-homes",
            "sync-homes:final",
            "transfer-homes",
            "transfer-homes:final",
        ]
        .into_iter()
        .filter(|s| steps.contains(s))
        .map(str::to_string)
        .collect();
        return Err(format!(
            "{} is read by steps {} ({}), which the `{}` window of this hub does not have{}",
            o.name,
            quoted(&by),
            o.what,
            stage.name(),
            if copies.is_empty() {
                String::new()
            } else {
                format!(": its home directories are copied by {}", quoted(&copies))
            }
        ));
    }
    Ok(())
}

/// The new hub in the target cluster: `cutover` needs `setup` to have listed it there.
pub(super) fn set_up_hub<'c>(tgt: &'c Cluster, mv: &Move) -> Result<&'c Hub, MoveError> {
    let name = mv.target_name();
    tgt.hub(name).ok_or_else(|| MoveError::NotYet {
        stage: "cutover",
        needed: "setup",
        why: format!("cluster `{}` has no hub `{name}` yet", tgt.name),
    })
}

/// `decommission` needs `cutover` to have removed the old hub from the source cluster.
pub(super) fn cut_over(src: &Cluster, mv: &Move) -> Result<(), MoveError> {
    match src.hub(&mv.hub) {
        Some(_) => Err(MoveError::NotYet {
            stage: "decommission",
            needed: "cutover",
            why: format!("cluster `{}` still lists the hub `{}`", src.name, mv.hub),
        }),
        None => Ok(()),
    }
}

/// What a stage's window needs merged and is not, in the repository `infra` (the remote's
/// branch): the setup (the target cluster lists the hub) before the setup and cutover windows,
/// the cutover (the source cluster no longer lists it) before the decommission. The cutover's
/// own change is merged after its window.
pub fn merged_missing(infra: &Infrastructure, stage: Stage, mv: &Move) -> Option<String> {
    let (src, tgt) = match (cluster(infra, &mv.from), cluster(infra, &mv.to)) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) | (_, Err(e)) => return Some(e.to_string()),
    };
    let name = mv.target_name();
    match stage {
        Stage::Setup | Stage::Cutover if tgt.hub(name).is_none() => Some(format!(
            "the `setup` of hub `{name}` is not merged: `config/clusters/{}/cluster.yaml` has no hub `{name}` there",
            tgt.name
        )),
        Stage::Decommission if src.hub(&mv.hub).is_some() => Some(format!(
            "the `cutover` of hub `{}` is not merged: `config/clusters/{}/cluster.yaml` still lists it there",
            mv.hub, src.name
        )),
        _ => None,
    }
}

/// A stage's window runbook and the hub's final domain.
#[derive(Debug, Clone)]
pub struct Window {
    pub steps: Vec<Step>,
    pub domain: Option<String>,
}

/// The step copying the home directories (`final`: the cutover's), by how they are served.
pub(super) fn homes_step(
    src: &Cluster,
    tgt: &Cluster,
    homes: &transfer::Homes,
    last: bool,
) -> Step {
    let what = if last { "final copy" } else { "initial copy" };
    match homes {
        transfer::Homes::HostPath => Step::new(
            if last {
                "sync-homes:final"
            } else {
                "sync-homes"
            },
            format!(
                "{what} of the home directories from `{}` to `{}`{}",
                src.name,
                tgt.name,
                if last { "" } else { " (no deletion)" }
            ),
        ),
        transfer::Homes::HomeNfs { .. } => Step::new(
            if last {
                "transfer-homes:final"
            } else {
                "transfer-homes"
            },
            format!(
                "{what} of the home directories from the `{}` sidecar of `{}`'s jupyterhub-home-nfs to that of `{}` (exposed through a LoadBalancer Service for the copy, deleted after it)",
                transfer::SIDECAR,
                src.name,
                tgt.name
            ),
        ),
    }
}

pub(super) fn setup_steps(
    src: &Cluster,
    tgt: &Cluster,
    name: &str,
    login: Option<Step>,
    homes: &transfer::Homes,
) -> Vec<Step> {
    let mut steps = vec![
        homes_step(src, tgt, homes, false),
        Step::new(
            "manual:check-grafana",
            format!("check the Grafana dashboards of `{}`", tgt.name),
        ),
    ];
    steps.extend(login);
    steps.push(Step::new(
        "manual:deploy-hub",
        format!(
            "deploy the new hub: `deployer deploy {} {name}`, then log in to it",
            tgt.name
        ),
    ));
    steps
}

/// The login client's steps of a move whose new hub runs under `temp` until `cutover`
/// switches it to `final_domain`: (setup's, cutover's); none without a temporary domain or an
/// OAuth client.
pub(super) fn login_steps(
    infra: &Infrastructure,
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    hub: &Hub,
    temp: Option<&str>,
    final_domain: Option<&str>,
) -> (Option<Step>, Option<Step>) {
    let (Some(t), Some(f)) = (temp, final_domain) else {
        return (None, None);
    };
    if normalize_domain(t) == normalize_domain(f) {
        return (None, None);
    }
    let Some(client) = login::client(infra, hub) else {
        return (None, None);
    };
    let name = mv.target_name();
    let hub_type = hub.helm_chart.as_deref().unwrap_or("basehub");
    (
        Some(login::setup_step(&client, tgt, name, hub_type, t, f)),
        Some(login::restore_step(&client, src, tgt, &mv.hub, name, f)),
    )
}

pub(super) fn cutover_steps(
    src: &Cluster,
    tgt: &Cluster,
    mv: &Move,
    final_domain: Option<&str>,
    restore: Option<Step>,
    homes: &transfer::Homes,
) -> Vec<Step> {
    let name = mv.target_name();
    let mut steps = vec![
        Step::new(
            "delete-proxy-public",
            format!(
                "take the old hub offline: delete `svc proxy-public` in namespace `{}` of `{}`",
                mv.hub, src.name
            ),
        )
        .destructive(),
        Step::new(
            "stop-old-hub",
            format!(
                "scale the old hub's Deployment in `{}` to 0 and wait",
                mv.hub
            ),
        )
        .destructive(),
        Step::new(
            "copy-hub-db",
            format!("copy and check the hub database into the new hub `{name}`, restart it"),
        )
        .destructive(),
        Step::new(
            "delete-user-pods",
            format!(
                "delete the user pods (label `component=singleuser-server`) in `{}` of `{}`",
                mv.hub, src.name
            ),
        )
        .destructive(),
        homes_step(src, tgt, homes, true),
        Step::new(
            "update-dns",
            format!(
                "point {} at the ingress of `{}` and wait until it resolves there",
                final_domain
                    .map(|d| format!("`{d}`"))
                    .unwrap_or_else(|| "the domain".into()),
                tgt.name
            ),
        ),
        Step::new(
            "wait-deployed",
            format!(
                "merge this change; wait until it is deployed: {} answers `/hub/health` from `{}` with a valid certificate",
                final_domain
                    .map(|d| format!("`https://{d}`"))
                    .unwrap_or_else(|| "the domain".into()),
                tgt.name
            ),
        ),
        Step::new(
            "check-old-down",
            format!(
                "check that the old hub in `{}` is still down (no `proxy-public`, Deployment `hub` at 0)",
                src.name
            ),
        ),
    ];
    steps.extend(restore);
    steps
}

pub(super) fn decommission_steps(src: &Cluster, mv: &Move) -> Vec<Step> {
    let storage = match &mv.old_storage {
        Some(lines) if !lines.is_empty() => lines.join("; "),
        Some(_) => format!(
            "no disk or NFS share is named in the values `{}` had before the cutover",
            mv.hub
        ),
        None => format!(
            "the values of `{}` before the cutover are not at hand (no Git history of `{}`): name its disk (`jupyterhub-home-nfs.gke.volumeId` / `eks.volumeId`) or NFS share from them",
            mv.hub, src.rel
        ),
    };
    let mut steps = vec![
        Step::new(
            "manual:delete-old-release",
            format!(
                "uninstall the Helm release and delete the namespace `{}` in `{}`",
                mv.hub, src.name
            ),
        ),
        Step::new(
            "manual:retire-home-share",
            format!(
                "retire the old hub's storage in `{}`: {storage}{}",
                src.name,
                mv.old_homes
                    .as_deref()
                    .map(|h| format!("; the copy's source `{h}` (`clusters.{}.homes`)", src.name))
                    .unwrap_or_default()
            ),
        ),
    ];
    if src.hubs.is_empty() {
        steps.extend([
            Step::new(
                "manual:retire-support-chart",
                format!("uninstall the support chart of `{}`", src.name),
            ),
            Step::new(
                "manual:remove-cluster-folder",
                format!("remove `{}` from the repository in its own change", src.dir),
            ),
            Step::new(
                "manual:retire-dns",
                format!(
                    "remove the DNS records (the wildcard) that point at `{}`",
                    src.name
                ),
            ),
            Step::new(
                "manual:retire-nfs",
                format!("delete the NFS server or file system of `{}`", src.name),
            ),
            Step::new(
                "manual:retire-cloud-resources",
                format!(
                    "destroy the cloud resources of `{}` (terraform, the Kubernetes cluster, buckets, deployer credentials)",
                    src.name
                ),
            ),
        ]);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each option's stages are exactly those whose window, built by the same step builders
    /// as `window`'s for either way of copying the home directories, has a step reading it.
    #[test]
    fn each_window_option_names_the_stages_whose_steps_read_it() {
        let (src, tgt) = (Cluster::named("a"), Cluster::named("b"));
        let mv = Move {
            hub: "h".into(),
            from: "a".into(),
            to: "b".into(),
            ..Move::default()
        };
        let all = [
            transfer::Homes::HostPath,
            transfer::Homes::HomeNfs { prefix: Vec::new() },
        ];
        for o in &WINDOW_OPTIONS {
            let reading: Vec<Stage> = STAGES
                .into_iter()
                .filter(|&stage| {
                    all.iter().any(|homes| {
                        let steps = match stage {
                            Stage::Setup => setup_steps(&src, &tgt, "h", None, homes),
                            Stage::Cutover => cutover_steps(&src, &tgt, &mv, None, None, homes),
                            Stage::Decommission => decommission_steps(&src, &mv),
                        };
                        steps.iter().any(|s| o.read_by.contains(&s.id.as_str()))
                    })
                })
                .collect();
            assert_eq!(reading, o.stages, "{}", o.name);
        }
    }

    #[test]
    fn an_option_this_hubs_window_does_not_read_is_refused() {
        let nfs = ["check-route", "transfer-homes", "update-dns"];
        let e = unread_by_window(Stage::Setup, ["--parallel"], &nfs).unwrap_err();
        assert!(
            e.starts_with("--parallel is read by steps `sync-homes` and `sync-homes:final`")
                && e.ends_with("its home directories are copied by `transfer-homes`"),
            "{e}"
        );
        assert_eq!(
            unread_by_window(Stage::Setup, ["--transfer-key", "--transfer-allow"], &nfs),
            Ok(())
        );
        // An option of another stage is `unread_option`'s to refuse.
        assert_eq!(
            unread_by_window(Stage::Decommission, ["--parallel"], &nfs),
            Ok(())
        );
    }

    #[test]
    fn an_option_no_step_of_the_stage_reads_is_refused_with_the_stages_that_take_it() {
        assert_eq!(
            unread_option(Stage::Decommission, ["--parallel"]).unwrap_err(),
            "--parallel is an option of `setup` and `cutover` (rsync processes at once for the copies of the home directories, steps `sync-homes` and `sync-homes:final`), not `decommission`"
        );
        assert_eq!(
            unread_option(Stage::Setup, ["--parallel", "--delete"]).unwrap_err(),
            "--delete is an option of `cutover` (the final copy of the home directories deletes files gone from the source, steps `sync-homes:final` and `transfer-homes:final`), not `setup`"
        );
        assert!(
            unread_option(Stage::Cutover, ["--delete", "--parallel", "--transfer-key"]).is_ok()
        );
    }
}
