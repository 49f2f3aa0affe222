//! `announce`: the announcement to users for a stage and its environments, as markdown on
//! stdout (one section per environment). The operator's notes — how shared storage was told,
//! `--force` warnings — go to stderr so that stdout can be pasted as it is.

use clap::{Args, Subcommand};

use super::stage::{HubMoveTarget, NubladoTarget, SetupOptions, Target, examples, load_plan};
use super::{Exit, Output};
use crate::playbook::announce::{announced_envs, announcement, storage};
use crate::playbook::{PlaybookKind, StagePlan, hub_move};
use crate::repo::{Infrastructure, Repo};

#[derive(Debug, Subcommand)]
pub enum AnnounceCommand {
    /// The announcement of a stage of the nublado v2 → v3 migration, per environment.
    #[command(after_help = examples!(
        "gitops-migrate announce nublado make-default --env idfdev > announcement.md",
        "gitops-migrate announce nublado disable-v2 --env idfint --env idfprod",
    ))]
    Nublado(AnnounceNublado),
    /// The announcement of a hub move's window.
    #[command(after_help = examples!(
        "gitops-migrate announce hub-move cutover --hub prod --from old --to new",
    ))]
    HubMove(AnnounceHubMove),
}

#[derive(Debug, Args)]
pub struct AnnounceNublado {
    #[command(flatten)]
    pub target: NubladoTarget,
}

#[derive(Debug, Args)]
pub struct AnnounceHubMove {
    #[command(flatten)]
    pub target: HubMoveTarget,
}

pub fn run(command: AnnounceCommand, out: &mut Output) -> Exit {
    let target = match &command {
        AnnounceCommand::Nublado(AnnounceNublado { target }) => Target::Nublado(target),
        AnnounceCommand::HubMove(AnnounceHubMove { target }) => {
            Target::HubMove(target, SetupOptions::default())
        }
    };
    let (p, plan) = match load_plan(&target, out) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // A nublado stage already applied or merged is still announced: the window is to come.
    if plan.is_nothing_to_do()
        && (target.kind() != PlaybookKind::Nublado || plan.already_done.is_empty())
    {
        let who = if plan.already_done.is_empty() {
            String::new()
        } else {
            format!(
                ": {} already past `{}`",
                plan.already_done.join(", "),
                plan.stage
            )
        };
        out.line(&format!("nothing to do{who}"));
        return Exit::Ok;
    }
    let p = match (p, &command) {
        (Repo::Phalanx(p), _) => p,
        (Repo::Infrastructure(infra), AnnounceCommand::HubMove(a)) => {
            return hub_move_announcement(&infra, &plan, &a.target, out);
        }
        (Repo::Infrastructure(_), AnnounceCommand::Nublado(_)) => {
            unreachable!("the nublado playbook opens Phalanx repositories only")
        }
    };
    let Some(text) = announcement(&p, &plan) else {
        out.line(&format!(
            "no announcement needed: `{}` changes nothing users see (no route, lab or session is affected)",
            plan.stage
        ));
        return Exit::Ok;
    };
    for note in plan.notes.iter().filter(|n| n.starts_with("--force")) {
        out.warning(note);
    }
    if !plan.already_done.is_empty() {
        out.note(&format!(
            "{} already past `{}` in this checkout (applied or merged): announced as the stage the window carries out",
            plan.already_done.join(", "),
            plan.stage
        ));
    }
    if matches!(plan.stage, "enable-v3" | "make-default" | "disable-v2") {
        for env in announced_envs(&plan) {
            out.note(&format!(
                "{env}: storage of nublado v2 and v3 {}",
                storage(&p, &plan, env).describe()
            ));
        }
    }
    out.line(text.trim_end());
    Exit::Ok
}

/// The announcement of a hub move: the window for the hub's users (its address stays).
fn hub_move_announcement(
    infra: &Infrastructure,
    plan: &StagePlan,
    target: &HubMoveTarget,
    out: &mut Output,
) -> Exit {
    let (Some(stage), Ok(mv)) = (hub_move::Stage::from_name(plan.stage), target.named(out)) else {
        return Exit::Input;
    };
    match hub_move::announcement(infra, stage, &mv) {
        Some(text) => {
            out.note("a hub move needs no user announcement beyond the maintenance window: the hub keeps its address");
            out.line(text.trim_end());
        }
        None => out.line(&format!(
            "no announcement needed: `{}` changes nothing users see",
            plan.stage
        )),
    }
    Exit::Ok
}
