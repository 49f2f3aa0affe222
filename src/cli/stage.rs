//! `playbooks`, `plan` and `apply`: a stage's Git change shown as a diff with the outline of
//! its runbook, or written into the work tree. Each stage command has one clap subcommand per
//! playbook (`plan nublado …`, `plan hub-move …`) with only the options that playbook reads;
//! their shared targets (`NubladoTarget`, `HubMoveTarget`) are defined here, and every plan is
//! made through the `Playbook` trait (`load`).

use clap::{Args, Subcommand};

use super::{Exit, Output, repo_root};
use crate::playbook::check::{AfterChange, dirty_paths, new_errors};
use crate::playbook::hub_move::{self, HubMove, Move};
use crate::playbook::nublado::hub_db::parse_url as parse_hub_db_url;
use crate::playbook::nublado::stages::{self, Options};
use crate::playbook::nublado::translate::{
    Answers, parse_access_modes, parse_size, parse_storage_class,
};
use crate::playbook::nublado::{self, Nublado};
use crate::playbook::{Playbook, PlaybookKind, StagePlan, Unusable, report};
use crate::repo::{self, Infrastructure, Phalanx, Repo};
use crate::util::text::plural;

/// What a nublado stage command names: the stage, its environments, and the answers of
/// `enable-v3`.
#[derive(Debug, Args)]
pub struct NubladoTarget {
    /// The stage: `enable-v3`, `make-default`, `disable-v2`, `drop-v2-values` or `finish`.
    #[arg(value_name = "STAGE")]
    pub stage: String,
    /// An environment to run the stage for (repeatable).
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Every environment whose next stage is this one.
    #[arg(long)]
    pub all_ready: bool,
    /// Run the stage whatever the environments' states (prints a warning).
    #[arg(long)]
    pub force: bool,
    /// `enable-v3`: the storage class of the v3 lab volume for a nublado2
    /// PersistentVolumeClaim volume (NAME: the volume or its claimName; repeatable).
    #[arg(long = "pvc-storage-class", value_name = "NAME=CLASS", value_parser = parse_storage_class)]
    pub pvc_storage_class: Vec<(String, String)>,
    /// `enable-v3`: the access modes of that volume's claims [default: the v2
    /// user_resources_template's, else ReadWriteMany].
    #[arg(long = "pvc-access-modes", value_name = "NAME=MODE[,MODE]", value_parser = parse_access_modes)]
    pub pvc_access_modes: Vec<(String, Vec<String>)>,
    /// `enable-v3`: the size its claims request [default: the v2 user_resources_template's,
    /// else 1Gi].
    #[arg(long = "pvc-size", value_name = "NAME=SIZE", value_parser = parse_size)]
    pub pvc_size: Vec<(String, String)>,
    /// `enable-v3`: nublado v3's hub database [default: its own database `nublado3` on the
    /// server of v2's (the in-cluster one gets its `nublado3_db` block)]. No password: v3
    /// reads it from Vault.
    // Checked in `request`, not by clap: clap would echo a URL carrying a password.
    #[arg(long = "hub-db-url", value_name = "URL")]
    pub hub_db_url: Option<String>,
}

impl NubladoTarget {
    /// The playbook's request, or the usage error printed (a malformed `--hub-db-url`).
    pub fn request(&self, out: &mut Output) -> Result<nublado::Request, Exit> {
        if let Some(url) = &self.hub_db_url
            && let Err(e) = parse_hub_db_url(url)
        {
            out.error(&format!("--hub-db-url: {e}"));
            return Err(Exit::Input);
        }
        // Every field named (the stage is `load`'s): an option not read would be unused.
        let NubladoTarget {
            stage: _,
            envs,
            all_ready,
            force,
            pvc_storage_class,
            pvc_access_modes,
            pvc_size,
            hub_db_url,
        } = self;
        Ok(nublado::Request {
            envs: envs.clone(),
            options: Options {
                force: *force,
                all_ready: *all_ready,
                // The answers given for nublado2's PersistentVolumeClaim volumes.
                answers: Answers {
                    storage_class: pvc_storage_class.iter().cloned().collect(),
                    access_modes: pvc_access_modes.iter().cloned().collect(),
                    size: pvc_size.iter().cloned().collect(),
                },
                hub_db_url: hub_db_url.clone(),
            },
        })
    }
}

/// What a hub-move command names: the stage and the move.
#[derive(Debug, Args)]
pub struct HubMoveTarget {
    /// The stage: `setup`, `cutover` or `decommission`.
    #[arg(value_name = "STAGE")]
    pub stage: String,
    /// The hub to move (its name in the source cluster).
    #[arg(long, value_name = "NAME")]
    pub hub: String,
    /// The source cluster (its folder under config/clusters).
    #[arg(long, value_name = "CLUSTER")]
    pub from: String,
    /// The target cluster.
    #[arg(long, value_name = "CLUSTER")]
    pub to: String,
    /// The hub's name in the target cluster (renames its own values files).
    #[arg(long, value_name = "NAME")]
    pub new_name: Option<String>,
    /// The domain the new hub is deployed under at `setup`, while the source still serves the
    /// final one [default: <hub>.<base>, under the target's wildcard, read from the grafana
    /// host of its support chart].
    #[arg(long, value_name = "DOMAIN")]
    pub temp_domain: Option<String>,
}

impl HubMoveTarget {
    /// The move, or the usage error printed (an empty `--hub`, `--from` or `--to`).
    pub fn named(&self, out: &mut Output) -> Result<Move, Exit> {
        let HubMoveTarget {
            stage: _,
            hub,
            from,
            to,
            new_name,
            temp_domain,
        } = self;
        let missing: Vec<&str> = [("--hub", hub), ("--from", from), ("--to", to)]
            .iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            out.error(&format!(
                "hub-move needs {}: --hub NAME --from CLUSTER --to CLUSTER [--new-name NAME] [--temp-domain DOMAIN]",
                missing.join(", ")
            ));
            return Err(Exit::Input);
        }
        Ok(Move {
            hub: hub.clone(),
            from: from.clone(),
            to: to.clone(),
            new_name: new_name.clone(),
            temp_domain: temp_domain.clone(),
            ..Move::default()
        })
    }
}

/// The options of a hub move's `setup` plan: re-encrypting copied secrets, and the public
/// key of the home directories' transfer.
#[derive(Debug, Clone, Default, Args)]
pub struct SetupOptions {
    /// `setup`: re-encrypt copied `enc-*` files whose keys differ from the target's
    /// `.sops.yaml` creation rule with `sops updatekeys -y` (sops on PATH, with access to
    /// both keys); without it, the commands are listed.
    #[arg(long)]
    pub reencrypt: bool,
    /// `setup` of a hub on jupyterhub-home-nfs: the key pair of the home directories'
    /// transfer (`ssh-keygen -t ed25519 -N '' -f FILE`); `FILE.pub` goes into both hubs'
    /// values, `FILE` itself is read only by `exec` (its `--transfer-key`).
    #[arg(long, value_name = "FILE")]
    pub transfer_key: Option<String>,
}

impl SetupOptions {
    /// Adds the options to the move; a `--transfer-key` whose `.pub` cannot be read is the
    /// usage error printed.
    pub fn apply_to(&self, mv: &mut Move, out: &mut Output) -> Result<(), Exit> {
        let SetupOptions {
            reencrypt,
            transfer_key,
        } = self;
        mv.reencrypt = *reencrypt;
        if let Some(file) = transfer_key {
            let (_, public) = hub_move::transfer::read_public_key(file).map_err(|e| {
                out.error(&format!("--transfer-key: {e}"));
                Exit::Input
            })?;
            mv.transfer_key = Some(hub_move::TransferKey {
                file: file.clone(),
                public,
            });
        }
        Ok(())
    }
}

/// What a stage command plans, for either playbook.
pub enum Target<'a> {
    Nublado(&'a NubladoTarget),
    HubMove(&'a HubMoveTarget, SetupOptions),
}

impl Target<'_> {
    pub fn kind(&self) -> PlaybookKind {
        match self {
            Target::Nublado(_) => PlaybookKind::Nublado,
            Target::HubMove(..) => PlaybookKind::HubMove,
        }
    }
}

/// Examples shown under each command's help, per playbook.
macro_rules! examples {
    ($($line:literal),+ $(,)?) => {
        concat!("Examples:\n", $("  ", $line, "\n"),+)
    };
}
pub(crate) use examples;

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Plan a stage of the nublado v2 → v3 migration of a Phalanx repository.
    #[command(after_help = examples!(
        "gitops-migrate plan nublado enable-v3 --env idfdev",
        "gitops-migrate plan nublado make-default --all-ready",
        "gitops-migrate plan nublado enable-v3 --env idfdev --pvc-storage-class scratch=standard",
        "gitops-migrate plan nublado finish --strict --format json",
    ))]
    Nublado(PlanNublado),
    /// Plan a stage of moving a hub to another cluster of an infrastructure repository.
    #[command(after_help = examples!(
        "gitops-migrate plan hub-move setup --hub prod --from old --to new",
        "gitops-migrate plan hub-move cutover --hub prod --from old --to new --new-name prod2",
    ))]
    HubMove(PlanHubMove),
}

#[derive(Debug, Args)]
pub struct PlanNublado {
    #[command(flatten)]
    pub target: NubladoTarget,
    /// With `finish`: exit 1 when references to the retired applications remain.
    #[arg(long)]
    pub strict: bool,
    /// The plan as text, or as one JSON object (the change, the account of every setting,
    /// what is still to supply, the runbook).
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct PlanHubMove {
    #[command(flatten)]
    pub target: HubMoveTarget,
    #[command(flatten)]
    pub setup: SetupOptions,
    /// The plan as text, or as one JSON object (the change, the account of every setting,
    /// what is still to supply, the runbook).
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
}

#[derive(Debug, Subcommand)]
pub enum ApplyCommand {
    /// Write a stage of the nublado v2 → v3 migration into the work tree.
    #[command(after_help = examples!(
        "gitops-migrate apply nublado enable-v3 --env idfdev",
        "gitops-migrate apply nublado drop-v2-values --all-ready",
        "gitops-migrate apply nublado finish --strict",
    ))]
    Nublado(ApplyNublado),
    /// Write a stage of a hub move into the work tree.
    #[command(after_help = examples!(
        "gitops-migrate apply hub-move setup --hub prod --from old --to new --reencrypt",
    ))]
    HubMove(ApplyHubMove),
}

#[derive(Debug, Args)]
pub struct ApplyNublado {
    #[command(flatten)]
    pub target: NubladoTarget,
    /// With `finish`: exit 1 when references to the retired applications remain.
    #[arg(long)]
    pub strict: bool,
    /// Write even when files the stage touches have uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
}

#[derive(Debug, Args)]
pub struct ApplyHubMove {
    #[command(flatten)]
    pub target: HubMoveTarget,
    #[command(flatten)]
    pub setup: SetupOptions,
    /// Write even when files the stage touches have uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
}

pub fn playbooks(out: &mut Output) -> Exit {
    for kind in PlaybookKind::ALL {
        out.line(&format!("{}: {}", kind.name(), kind.summary()));
        let stages = kind.stages();
        let names: Vec<&str> = stages.iter().map(|s| s.0).collect();
        out.line(&format!("  stages: {}", names.join(", ")));
        out.line(&format!("  targets: {}", kind.target_syntax()));
        for (n, d) in stages {
            out.line(&format!("    {n:<15} {d}"));
        }
    }
    Exit::Ok
}

/// The playbook's stage `given`, or "unknown stage" printed with a did-you-mean and the
/// playbook's stages.
pub fn stage_of<P: Playbook>(given: &str, out: &mut Output) -> Result<P::Stage, Exit> {
    P::stage(given).ok_or_else(|| {
        let names: Vec<&str> = P::stages().iter().map(|s| P::stage_name(*s)).collect();
        let hint = crate::util::suggest::closest(given, names.iter().copied())
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        out.error(&format!(
            "unknown stage `{given}`{hint}; the stages of {} are {}",
            P::KIND,
            names.join(", ")
        ));
        Exit::Input
    })
}

/// The repository the playbook's commands work on, or the input error printed.
pub fn open<P: Playbook>(out: &mut Output) -> Result<P::Repo, Exit> {
    let root = repo_root();
    let repo = repo::open(&root).map_err(|e| {
        out.error(&e.to_string());
        Exit::Input
    })?;
    P::open(repo).map_err(|u| unusable(&u, out))
}

/// Every file the nublado model reads can be read, or each that cannot is printed
/// (`file:line:col: message`) and the input error returned.
pub fn model_readable(p: &Phalanx, out: &mut Output) -> Result<(), Exit> {
    nublado::readable(p).map_err(|u| unusable(&u, out))
}

/// Why the repository cannot serve the playbook, printed; the input error.
fn unusable(u: &Unusable, out: &mut Output) -> Exit {
    for e in &u.errors {
        out.error(e);
    }
    if let Some(n) = &u.note {
        out.note(n);
    }
    Exit::Input
}

/// `--strict` judges what `finish` leaves: refused with any other stage.
fn strict_is_finish(strict: bool, plan: &StagePlan, out: &mut Output) -> Result<(), Exit> {
    if strict && plan.stage != stages::Stage::Finish.name() {
        out.error(&format!(
            "--strict is an option of `finish` (it fails on references to the retired applications), not `{}`",
            plan.stage
        ));
        return Err(Exit::Input);
    }
    Ok(())
}

/// The exit code of a playbook's error: 2 for input, 1 for a refusal.
pub fn error_code(input: bool) -> Exit {
    if input { Exit::Input } else { Exit::Refused }
}

/// Plans the stage `stage` of playbook `P` for the request `request` makes (or refuses,
/// printing why).
fn load<P: Playbook>(
    stage: &str,
    request: impl FnOnce(&mut Output) -> Result<P::Request, Exit>,
    out: &mut Output,
) -> Result<(Repo, StagePlan), Exit> {
    let stage = stage_of::<P>(stage, out)?;
    let request = request(out)?;
    let repo = open::<P>(out)?;
    plan_of::<P>(repo, stage, &request, out)
}

/// The stage's plan for the opened repository, or the error printed.
fn plan_of<P: Playbook>(
    repo: P::Repo,
    stage: P::Stage,
    request: &P::Request,
    out: &mut Output,
) -> Result<(Repo, StagePlan), Exit> {
    match P::plan(&repo, stage, request) {
        Ok(plan) => Ok((P::into_repo(repo), plan)),
        Err(e) => {
            out.error(&e.to_string());
            Err(error_code(e.is_input_error()))
        }
    }
}

/// Loads the repository and plans the stage; prints the error and returns the exit code on
/// failure.
pub fn load_plan(target: &Target<'_>, out: &mut Output) -> Result<(Repo, StagePlan), Exit> {
    match target {
        Target::Nublado(t) => load::<Nublado>(&t.stage, |out| t.request(out), out),
        Target::HubMove(t, setup) => {
            let stage = stage_of::<HubMove>(&t.stage, out)?;
            let mut mv = t.named(out)?;
            setup.apply_to(&mut mv, out)?;
            let infra = open::<HubMove>(out)?;
            // `decommission` names the old hub's storage from the values cutover deleted.
            if stage == hub_move::Stage::Decommission {
                mv.old_storage = old_storage(&infra, &mv);
            }
            plan_of::<HubMove>(infra, stage, &mv, out)
        }
    }
}

/// The old hub's storage for `decommission`, named from its values at the commit before the
/// cutover's change: the newest commit whose parent still lists the hub in the source's
/// `cluster.yaml` (read from Git history, as the cutover deleted those values). `None` when
/// the repository has no such history.
pub fn old_storage(infra: &Infrastructure, mv: &Move) -> Option<Vec<String>> {
    let root = infra.files.root();
    let (git, prefix) = crate::git::Git::open(root).ok()?;
    let rel = format!("{prefix}config/clusters/{}/cluster.yaml", mv.from);
    for commit in git.commits_touching(&rel, 50).ok()? {
        let parent = format!("{commit}^");
        let dir = tempfile::tempdir().ok()?;
        if git
            .export_yaml(&parent, &format!("{prefix}config/clusters/"), dir.path())
            .is_err()
        {
            continue;
        }
        let Ok(before) = Infrastructure::load(&dir.path().join(&prefix)) else {
            continue;
        };
        if before
            .cluster(&mv.from)
            .and_then(|c| c.hub(&mv.hub))
            .is_some()
        {
            return Some(hub_move::old_storage(&before, mv));
        }
    }
    None
}

/// The outline printed under the diff: what is still to do, the checklist, the runbook.
pub fn outline(plan: &StagePlan) -> String {
    let mut s = String::new();
    for t in &plan.tables {
        s.push_str(&format!("\n{}:\n{}", t.title, report::table_text(t)));
    }
    let list = |s: &mut String, title: &str, items: &[String]| {
        if !items.is_empty() {
            s.push_str(&format!("\n{title}:\n"));
            for i in items {
                s.push_str(&format!("  - {i}\n"));
            }
        }
    };
    if !plan.ledger.entries.is_empty() {
        s.push_str(&format!(
            "\nAccount of every setting ({}):\n",
            plan.ledger.counts()
        ));
        for line in plan.ledger.summary_lines() {
            s.push_str(&format!("  - {line}\n"));
        }
    }
    list(&mut s, "Still to supply in the files", &plan.todo);
    list(&mut s, "Before the window", &plan.checklist);
    for rb in plan.runbooks().iter().filter(|rb| !rb.steps.is_empty()) {
        match rb.target {
            Some(t) => s.push_str(&format!("\nWindow runbook of {t} ({}):\n", rb.command)),
            None => s.push_str(&format!("\nWindow runbook ({}):\n", rb.command)),
        }
        let width = rb.steps.iter().map(|st| st.id.len()).max().unwrap_or(0);
        for (i, st) in rb.steps.iter().enumerate() {
            let asks = if st.destructive { " (asks first)" } else { "" };
            s.push_str(&format!(
                "  {:>2}. {:<width$}  {}{asks}\n",
                i + 1,
                st.id,
                st.title
            ));
        }
    }
    list(&mut s, "Verify", &plan.verify);
    list(&mut s, "Roll back", &plan.rollback);
    list(&mut s, "Notes", &plan.notes);
    s
}

/// What the plan's stage does, in one line.
pub fn stage_description(plan: &StagePlan) -> &'static str {
    PlaybookKind::from_name(plan.playbook)
        .and_then(|k| k.stage_description(plan.stage))
        .unwrap_or("")
}

/// `nublado make-default for idfdev: <what the stage does>`.
pub fn heading(plan: &StagePlan) -> String {
    let stage = stage_description(plan);
    if plan.targets.is_empty() {
        format!("{} {}: {stage}", plan.playbook, plan.stage)
    } else {
        format!(
            "{} {} for {}: {stage}",
            plan.playbook,
            plan.stage,
            plan.targets.join(", ")
        )
    }
}

fn nothing_to_do(kind: PlaybookKind, plan: &StagePlan, out: &mut Output) -> Exit {
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
    if kind == PlaybookKind::HubMove
        && plan.already_done.is_empty()
        && (!plan.runbook.is_empty() || !plan.checklist.is_empty())
    {
        // A stage without a Git change (hub-move `decommission`): its checklist.
        out.line(&heading(plan));
        out.line(outline(plan).trim_end());
    }
    Exit::Ok
}

/// `finish`'s list of remaining references; with `--strict` they make the exit code 1.
fn remaining(p: &Repo, plan: &StagePlan, strict: bool, out: &mut Output) -> Exit {
    let Repo::Phalanx(p) = p else {
        return Exit::Ok;
    };
    if plan.stage != stages::Stage::Finish.name() {
        return Exit::Ok;
    }
    let refs = stages::remaining_references(p, plan);
    if refs.is_empty() {
        out.line("\nNo other references to nublado2, cachemachine or moneypenny remain.");
        return Exit::Ok;
    }
    out.line(&format!(
        "\nReferences to nublado2, cachemachine or moneypenny that remain ({}), for you to review:",
        refs.len()
    ));
    for r in &refs {
        out.line(&format!("  {r}"));
    }
    if strict { Exit::Refused } else { Exit::Ok }
}

/// The new errors a stage's result would have, each with its line as the stage would write it,
/// under the warning or error that names them.
pub fn print_findings(
    findings: &[crate::validate::Finding],
    before: &Repo,
    changes: &crate::change::ChangeSet,
    out: &mut Output,
) {
    let sources = AfterChange { before, changes };
    let text = crate::validate::render::diagnostics(findings, &sources, out.stderr_color());
    out.error_detail(text.trim_end());
}

pub fn plan(command: PlanCommand, out: &mut Output) -> Exit {
    // Every field named: an option the code does not read would be an unused binding.
    let (target, strict, format) = match &command {
        PlanCommand::Nublado(PlanNublado {
            target,
            strict,
            format,
        }) => (Target::Nublado(target), *strict, *format),
        PlanCommand::HubMove(PlanHubMove {
            target,
            setup,
            format,
        }) => (Target::HubMove(target, setup.clone()), false, *format),
    };
    let (p, plan) = match load_plan(&target, out) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(code) = strict_is_finish(strict, &plan, out) {
        return code;
    }
    if format == PlanFormat::Json {
        let errors = new_errors(&p, &plan.changes).unwrap_or_default();
        let refs = match &p {
            Repo::Phalanx(ph) if plan.stage == stages::Stage::Finish.name() => {
                stages::remaining_references(ph, &plan)
            }
            _ => Vec::new(),
        };
        out.line(
            &serde_json::to_string_pretty(&report::plan_json(&plan, &errors, &refs))
                .expect("the plan serializes"),
        );
        return if strict && !refs.is_empty() {
            Exit::Refused
        } else {
            Exit::Ok
        };
    }
    if plan.is_nothing_to_do() {
        let code = nothing_to_do(target.kind(), &plan, out);
        // `finish` done: what still names the retired applications counts all the same.
        return match remaining(&p, &plan, strict, out) {
            Exit::Ok => code,
            refused => refused,
        };
    }
    out.line(&heading(&plan));
    out.line("");
    out.line(plan.changes.diff(out.color()).trim_end());
    out.line(outline(&plan).trim_end());
    match new_errors(&p, &plan.changes) {
        Ok(errors) if !errors.is_empty() => {
            out.warning(&format!(
                "the result would not validate ({}); `apply` will refuse it:",
                plural(errors.len(), "new error", "new errors")
            ));
            print_findings(&errors, &p, &plan.changes, out);
        }
        Ok(_) => {}
        Err(e) => out.warning(&format!("could not check the result: {e}")),
    }
    let (added, removed) = plan.changes.line_counts();
    out.line(&format!(
        "\n{} changed, {} added, {removed} removed",
        plural(plan.changes.ops().len(), "file", "files"),
        plural(added, "line", "lines")
    ));
    remaining(&p, &plan, strict, out)
}

/// The files a written change touched, one line each.
pub fn print_ops(plan: &StagePlan, mut line: impl FnMut(&str)) {
    for op in plan.changes.ops() {
        let what = match op {
            crate::change::FileOp::Edit { .. } => "edited",
            crate::change::FileOp::Create { .. } => "created",
            crate::change::FileOp::Delete { .. } => "deleted",
        };
        line(&format!("  {what} {}", op.path()));
    }
}

pub fn apply(command: ApplyCommand, out: &mut Output) -> Exit {
    let (target, strict, allow_dirty) = match &command {
        ApplyCommand::Nublado(ApplyNublado {
            target,
            strict,
            allow_dirty,
        }) => (Target::Nublado(target), *strict, *allow_dirty),
        ApplyCommand::HubMove(ApplyHubMove {
            target,
            setup,
            allow_dirty,
        }) => (Target::HubMove(target, setup.clone()), false, *allow_dirty),
    };
    let (p, plan) = match load_plan(&target, out) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(code) = strict_is_finish(strict, &plan, out) {
        return code;
    }
    if plan.is_nothing_to_do() {
        let code = nothing_to_do(target.kind(), &plan, out);
        return match remaining(&p, &plan, strict, out) {
            Exit::Ok => code,
            refused => refused,
        };
    }
    let root = p.files().root();
    let paths: Vec<&str> = plan.changes.paths().into_iter().collect();
    let dirty = dirty_paths(root, &paths);
    if !dirty.is_empty() && !allow_dirty {
        out.error(&format!(
            "files the stage would change have uncommitted changes: {} (commit or stash them, or pass --allow-dirty)",
            dirty.join(", ")
        ));
        return Exit::Refused;
    }
    match new_errors(&p, &plan.changes) {
        Ok(errors) if !errors.is_empty() => {
            out.error(&format!(
                "the result would not validate ({}); nothing was written:",
                plural(errors.len(), "new error", "new errors")
            ));
            print_findings(&errors, &p, &plan.changes, out);
            return Exit::Refused;
        }
        Ok(_) => {}
        Err(e) => {
            out.error(&format!(
                "cannot check the result: {e}; nothing was written"
            ));
            return Exit::Refused;
        }
    }
    if let Err(e) = plan.changes.apply(root) {
        out.error(&format!("{e}; nothing was written"));
        return Exit::Refused;
    }
    for note in plan.notes.iter().filter(|n| n.starts_with("--force")) {
        out.warning(note);
    }
    out.line(&heading(&plan));
    print_ops(&plan, |l| out.line(l));
    out.line(outline(&plan).trim_end());
    remaining(&p, &plan, strict, out)
}
