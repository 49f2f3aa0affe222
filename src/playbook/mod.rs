//! The migrations. Each stage of a playbook reads the repository model and yields a
//! `StagePlan`: the exact Git change (`ChangeSet`), the outline of the runbook for the
//! maintenance window, and what the operator must do or know around it. Each playbook is a
//! type implementing the `Playbook` trait (`kind`): `nublado` is the nublado v2 → v3 migration
//! of a Phalanx repository, `hub_move` moves a hub across clusters; `PlaybookKind` names them.

pub mod announce;
pub mod check;
pub mod hub_move;
pub mod kind;
pub mod ledger;
pub mod nublado;
pub mod report;
pub mod workspace;

use serde::Serialize;

use crate::change::ChangeSet;

pub use kind::{Playbook, PlaybookError, Unusable};

/// One step of a window runbook, as the plan and the PR body show it. The runtime engine
/// executes steps by these ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Stable id: `stop-mobu-flocks`, `delete-hub-deployment:nublado2`, `sync-app:nublado`,
    /// `check-route:/n3`, `manual:test-lab`, …
    pub id: String,
    /// What the step does, in one line.
    pub title: String,
    /// Whether it deletes or stops something (it asks before it runs).
    pub destructive: bool,
    /// Whether it acts on the Kubernetes cluster (through its API, Argo CD or the services
    /// in it); a runbook with no such step needs no kube context (Vault, PostgreSQL and
    /// manual steps act elsewhere).
    pub cluster: bool,
    /// An Argo CD sync with prune, and what it may prune (`Application/nublado2`): anything
    /// else Argo CD would prune stops the step. `None`: no prune.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune: Option<Vec<String>>,
}

impl Step {
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Step {
        Step {
            id: id.into(),
            title: title.into(),
            destructive: false,
            cluster: true,
            prune: None,
        }
    }

    pub fn destructive(mut self) -> Step {
        self.destructive = true;
        self
    }

    /// The step acts outside the Kubernetes cluster (Vault, PostgreSQL, a person).
    pub fn off_cluster(mut self) -> Step {
        self.cluster = false;
        self
    }

    /// A sync with prune of exactly these resources (`Kind/name`); destructive.
    pub fn pruning(mut self, expected: impl IntoIterator<Item = impl Into<String>>) -> Step {
        self.prune = Some(expected.into_iter().map(Into::into).collect());
        self.destructive = true;
        self
    }
}

/// A table shown beside the diff and in the pull request body (the v2 mounts and the v3 lab
/// volumes they became).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    /// Cells in markdown (code spans in backticks), as many as `columns`.
    pub rows: Vec<Vec<String>>,
}

/// A window runbook as shown: its target (when the plan has several), the command that runs
/// it and its steps.
#[derive(Debug, Clone)]
pub struct Runbook<'a> {
    pub target: Option<&'a str>,
    pub command: String,
    pub steps: &'a [Step],
}

/// What one stage does for its targets.
#[derive(Debug, Clone)]
pub struct StagePlan {
    /// `nublado`.
    pub playbook: &'static str,
    /// `enable-v3`, `make-default`, …
    pub stage: &'static str,
    /// The environments (or the hub) the stage runs for.
    pub targets: Vec<String>,
    /// Why the stage exists, in a paragraph (for the PR body).
    pub summary: String,
    /// The Git change; empty when there is nothing to do.
    pub changes: ChangeSet,
    /// Targets that were already past this stage ("nothing to do").
    pub already_done: Vec<String>,
    /// What the operator must still supply in the files (site settings the tool cannot
    /// know), listed in the plan and the PR body.
    pub todo: Vec<String>,
    /// Things to do before the window (Vault secrets, the announcement).
    pub checklist: Vec<String>,
    /// The window runbook's steps, in order (with several targets, every step any of them
    /// needs).
    pub runbook: Vec<Step>,
    /// With several targets, each one's own runbook, as `exec` runs it for that target (an
    /// environment without mobu has no mobu steps); empty otherwise. See `runbooks`.
    pub target_runbooks: Vec<(String, Vec<Step>)>,
    /// How to check the result after the window.
    pub verify: Vec<String>,
    /// How to undo the stage.
    pub rollback: Vec<String>,
    /// Anything else worth knowing (mobu must be restarted, a warning under `--force`).
    pub notes: Vec<String>,
    /// Tables for the reviewer, shown beside the diff.
    pub tables: Vec<Table>,
    /// Options the stage was planned with beyond its targets (`--pvc-storage-class …`), for
    /// the command that reproduces it.
    pub extra_args: Vec<String>,
    /// The command-line arguments naming the target, when they are not `--env` per target
    /// (`--hub H --from A --to B` for `hub-move`).
    pub target_args: Option<String>,
    /// The change is merged after the window (a hub move's cutover), not before it.
    pub merge_after_window: bool,
    /// What the stage did with every setting of the files it moves, translates or deletes.
    pub ledger: ledger::Ledger,
    /// The targets whose window runs `exec` once each when they are not `targets` (a
    /// repository-wide stage such as nublado's `finish`, whose cleanup runs per environment).
    pub exec_targets: Vec<String>,
}

impl StagePlan {
    /// An empty plan of `stage` for `targets`, for a stage to fill in.
    pub fn new(playbook: &'static str, stage: &'static str, targets: Vec<String>) -> StagePlan {
        StagePlan {
            playbook,
            stage,
            targets,
            summary: String::new(),
            changes: ChangeSet::default(),
            already_done: Vec::new(),
            todo: Vec::new(),
            checklist: Vec::new(),
            runbook: Vec::new(),
            target_runbooks: Vec::new(),
            verify: Vec::new(),
            rollback: Vec::new(),
            notes: Vec::new(),
            tables: Vec::new(),
            extra_args: Vec::new(),
            target_args: None,
            merge_after_window: false,
            ledger: ledger::Ledger::default(),
            exec_targets: Vec::new(),
        }
    }

    pub fn is_nothing_to_do(&self) -> bool {
        self.changes.is_empty()
    }

    /// `migrate/nublado/<stage>/<env>[+<env>…]`.
    pub fn branch_name(&self) -> String {
        if self.targets.is_empty() {
            format!("migrate/{}/{}", self.playbook, self.stage)
        } else {
            format!(
                "migrate/{}/{}/{}",
                self.playbook,
                self.stage,
                self.targets.join("+")
            )
        }
    }

    /// The command that runs this stage's window runbook: `exec` runs one environment at a
    /// time, so with several (or none, as for `finish`) the environment is a placeholder.
    pub fn exec_command(&self) -> String {
        if let Some(args) = &self.target_args {
            return format!(
                "gitops-migrate exec {} {} {args}",
                self.playbook, self.stage
            );
        }
        let targets = if self.targets.is_empty() {
            &self.exec_targets
        } else {
            &self.targets
        };
        let env = match targets.as_slice() {
            [one] => one.as_str(),
            _ => "<env>",
        };
        format!(
            "gitops-migrate exec {} {} --env {env}",
            self.playbook, self.stage
        )
    }

    /// The runbooks to show: one per target, each with the `exec` command that runs it, when
    /// the plan has `target_runbooks`; else the plan's runbook with its command.
    pub fn runbooks(&self) -> Vec<Runbook<'_>> {
        if self.target_runbooks.is_empty() {
            return vec![Runbook {
                target: None,
                command: self.exec_command(),
                steps: &self.runbook,
            }];
        }
        self.target_runbooks
            .iter()
            .map(|(target, steps)| Runbook {
                target: Some(target),
                command: format!(
                    "gitops-migrate exec {} {} --env {target}",
                    self.playbook, self.stage
                ),
                steps,
            })
            .collect()
    }

    /// One `exec` command per environment of the plan (for a repository-wide stage, per
    /// environment whose window it implies).
    pub fn exec_commands(&self) -> Vec<String> {
        if self.target_args.is_some() {
            return vec![self.exec_command()];
        }
        let targets = if self.targets.is_empty() {
            &self.exec_targets
        } else {
            &self.targets
        };
        if targets.is_empty() {
            return vec![self.exec_command()];
        }
        targets
            .iter()
            .map(|t| {
                format!(
                    "gitops-migrate exec {} {} --env {t}",
                    self.playbook, self.stage
                )
            })
            .collect()
    }
}

/// The playbooks the tool knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybookKind {
    Nublado,
    HubMove,
}

impl PlaybookKind {
    pub const ALL: [PlaybookKind; 2] = [PlaybookKind::Nublado, PlaybookKind::HubMove];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PlaybookKind::Nublado => "nublado",
            PlaybookKind::HubMove => "hub-move",
        }
    }

    /// The playbook of that name (as a plan records it).
    pub fn from_name(name: &str) -> Option<PlaybookKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What it does, in one line.
    pub fn summary(self) -> &'static str {
        match self {
            PlaybookKind::Nublado => {
                "nublado v2 → v3 migration of a Phalanx repository, per environment"
            }
            PlaybookKind::HubMove => {
                "move a hub to another cluster of a 2i2c-style infrastructure repository"
            }
        }
    }

    /// How its stage commands name their targets.
    pub fn target_syntax(self) -> &'static str {
        match self {
            PlaybookKind::Nublado => "--env ENV (repeatable) or --all-ready; `finish` takes none",
            PlaybookKind::HubMove => {
                "--hub NAME --from CLUSTER --to CLUSTER [--new-name NAME] [--temp-domain DOMAIN]"
            }
        }
    }

    /// Its stages' names and descriptions, in order.
    pub fn stages(self) -> Vec<(&'static str, &'static str)> {
        match self {
            PlaybookKind::Nublado => described::<nublado::Nublado>(),
            PlaybookKind::HubMove => described::<hub_move::HubMove>(),
        }
    }

    /// The description of its stage `stage`.
    pub fn stage_description(self, stage: &str) -> Option<&'static str> {
        self.stages()
            .into_iter()
            .find(|(n, _)| *n == stage)
            .map(|(_, d)| d)
    }
}

impl std::fmt::Display for PlaybookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn described<P: Playbook>() -> Vec<(&'static str, &'static str)> {
    P::stages()
        .iter()
        .map(|s| (P::stage_name(*s), P::stage_description(*s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_playbook_is_named_and_described_through_its_type() {
        for kind in PlaybookKind::ALL {
            assert_eq!(PlaybookKind::from_name(kind.name()), Some(kind));
            assert!(!kind.stages().is_empty());
        }
        assert_eq!(
            PlaybookKind::Nublado.stages().first().map(|s| s.0),
            Some("enable-v3")
        );
        assert_eq!(
            PlaybookKind::HubMove.stage_description("cutover"),
            hub_move::HubMove::stage("cutover").map(hub_move::Stage::description)
        );
        assert_eq!(PlaybookKind::Nublado.stage_description("cutover"), None);
        assert_eq!(nublado::Nublado::KIND, PlaybookKind::Nublado);
        assert_eq!(
            nublado::Nublado::stage("finish"),
            Some(nublado::stages::Stage::Finish)
        );
    }
}
