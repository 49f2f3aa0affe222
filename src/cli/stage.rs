//! `playbooks`, `plan` and `apply`: a stage's Git change shown as a diff with the outline of
//! its runbook, or written into the work tree.

use clap::Args;

use super::{Exit, Output, repo_root};
use crate::playbook::check::{AfterChange, dirty_paths, new_errors};
use crate::playbook::hub_move::{self, Move};
use crate::playbook::nublado::hub_db::parse_url as parse_hub_db_url;
use crate::playbook::nublado::stages::{self, Options, STAGES, Stage};
use crate::playbook::nublado::translate::{
    Answers, parse_access_modes, parse_size, parse_storage_class,
};
use crate::playbook::{StagePlan, Step, report};
use crate::repo::{self, Infrastructure, Phalanx, Repo};
use crate::text::plural;

/// The playbooks the tool knows, with their stages and targets.
pub const PLAYBOOKS: &[(&str, &str, &str)] = &[
    (
        "nublado",
        "nublado v2 → v3 migration of a Phalanx repository, per environment",
        "--env ENV (repeatable) or --all-ready; `finish` takes none",
    ),
    (
        hub_move::PLAYBOOK,
        "move a hub to another cluster of a 2i2c-style infrastructure repository",
        "--hub NAME --from CLUSTER --to CLUSTER [--new-name NAME] [--temp-domain DOMAIN]",
    ),
];

#[derive(Debug, Args)]
pub struct StageArgs {
    /// The playbook: `nublado` or `hub-move` (see `gitops-migrate playbooks`).
    pub playbook: String,
    /// The stage: for nublado `enable-v3`, `make-default`, `disable-v2`, `drop-v2-values` or
    /// `finish`; for hub-move `setup`, `cutover` or `decommission`.
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
    /// With `finish`: exit 1 when references to the retired applications remain.
    #[arg(long)]
    pub strict: bool,
    /// Write even when files the stage touches have uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// hub-move: the hub to move (its name in the source cluster).
    #[arg(long, value_name = "NAME")]
    pub hub: Option<String>,
    /// hub-move: the source cluster (its folder under config/clusters).
    #[arg(long, value_name = "CLUSTER")]
    pub from: Option<String>,
    /// hub-move: the target cluster.
    #[arg(long, value_name = "CLUSTER")]
    pub to: Option<String>,
    /// hub-move: the hub's name in the target cluster (renames its own values files).
    #[arg(long, value_name = "NAME")]
    pub new_name: Option<String>,
    /// hub-move `setup`: the domain the new hub is deployed under while the source still
    /// serves the final one (default: <hub>.<base>, under the target's wildcard, read from
    /// the grafana host of its support chart).
    #[arg(long, value_name = "DOMAIN")]
    pub temp_domain: Option<String>,
    /// hub-move `setup`: re-encrypt copied `enc-*` files whose keys differ from the target's
    /// `.sops.yaml` creation rule with `sops updatekeys -y` (sops on PATH, with access to
    /// both keys); without it, the commands are listed.
    #[arg(long)]
    pub reencrypt: bool,
    /// hub-move `setup` of a hub on jupyterhub-home-nfs: the key pair of the home
    /// directories' transfer (`ssh-keygen -t ed25519 -N '' -f FILE`); `FILE.pub` goes into
    /// both hubs' values, `FILE` itself is read only by `exec` (the same option there).
    #[arg(long, value_name = "FILE")]
    pub transfer_key: Option<String>,
    /// nublado `enable-v3`: the storage class of the v3 lab volume for a nublado2
    /// PersistentVolumeClaim volume (NAME: the volume or its claimName; repeatable).
    #[arg(long = "pvc-storage-class", value_name = "NAME=CLASS", value_parser = parse_storage_class)]
    pub pvc_storage_class: Vec<(String, String)>,
    /// nublado `enable-v3`: the access modes of that volume's claims [default: the v2
    /// user_resources_template's, else ReadWriteMany].
    #[arg(long = "pvc-access-modes", value_name = "NAME=MODE[,MODE]", value_parser = parse_access_modes)]
    pub pvc_access_modes: Vec<(String, Vec<String>)>,
    /// nublado `enable-v3`: the size its claims request [default: the v2
    /// user_resources_template's, else 1Gi].
    #[arg(long = "pvc-size", value_name = "NAME=SIZE", value_parser = parse_size)]
    pub pvc_size: Vec<(String, String)>,
    /// nublado `enable-v3`: nublado v3's hub database [default: its own database `nublado3`
    /// on the server of v2's (the in-cluster one gets its `nublado3_db` block)]. No password:
    /// v3 reads it from Vault.
    // Checked in `load_plan`, not by clap: clap would echo a URL carrying a password.
    #[arg(long = "hub-db-url", value_name = "URL")]
    pub hub_db_url: Option<String>,
    /// `plan`: the plan as text, or as one JSON object (the change, the account of every
    /// setting, what is still to supply, the runbook).
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
}

impl StageArgs {
    /// The answers given for nublado2's PersistentVolumeClaim volumes.
    pub fn answers(&self) -> Answers {
        Answers {
            storage_class: self.pvc_storage_class.iter().cloned().collect(),
            access_modes: self.pvc_access_modes.iter().cloned().collect(),
            size: self.pvc_size.iter().cloned().collect(),
        }
    }

    /// The move named by the hub-move options, or the usage error printed.
    pub fn hub_move(&self, out: &mut Output) -> Result<Move, Exit> {
        let mut mv = named_move(
            [&self.hub, &self.from, &self.to],
            &self.new_name,
            &self.temp_domain,
            out,
        )?;
        mv.reencrypt = self.reencrypt;
        if let Some(file) = &self.transfer_key {
            let (_, public) = hub_move::transfer::read_public_key(file).map_err(|e| {
                out.error(&format!("--transfer-key: {e}"));
                Exit::Input
            })?;
            mv.transfer_key = Some(hub_move::TransferKey {
                file: file.clone(),
                public,
            });
        }
        Ok(mv)
    }
}

/// The move named by `--hub`, `--from`, `--to` (all required, not empty), `--new-name` and
/// `--temp-domain`, for the stage commands and `exec`; the usage error printed when one of
/// the three is missing.
pub fn named_move(
    [hub, from, to]: [&Option<String>; 3],
    new_name: &Option<String>,
    temp_domain: &Option<String>,
    out: &mut Output,
) -> Result<Move, Exit> {
    let missing: Vec<&str> = [("--hub", hub), ("--from", from), ("--to", to)]
        .iter()
        .filter(|(_, v)| v.as_deref().is_none_or(str::is_empty))
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
        hub: hub.clone().unwrap_or_default(),
        from: from.clone().unwrap_or_default(),
        to: to.clone().unwrap_or_default(),
        new_name: new_name.clone(),
        temp_domain: temp_domain.clone(),
        reencrypt: false,
        ..Move::default()
    })
}

pub fn playbooks(out: &mut Output) -> Exit {
    for (name, what, targets) in PLAYBOOKS {
        out.line(&format!("{name}: {what}"));
        let stages: Vec<(&str, &str)> = if *name == hub_move::PLAYBOOK {
            hub_move::STAGES
                .iter()
                .map(|s| (s.name(), s.description()))
                .collect()
        } else {
            STAGES.iter().map(|s| (s.name(), s.description())).collect()
        };
        let names: Vec<&str> = stages.iter().map(|s| s.0).collect();
        out.line(&format!("  stages: {}", names.join(", ")));
        out.line(&format!("  targets: {targets}"));
        for (n, d) in stages {
            out.line(&format!("    {n:<15} {d}"));
        }
    }
    Exit::Ok
}

/// Prints "unknown stage" with a did-you-mean and the playbook's stages.
fn unknown_stage(playbook: &str, given: &str, names: &[&str], out: &mut Output) -> Exit {
    let hint = crate::suggest::closest(given, names.iter().copied())
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    out.error(&format!(
        "unknown stage `{given}`{hint}; the stages of {playbook} are {}",
        names.join(", ")
    ));
    Exit::Input
}

/// The nublado playbook and one of its stages, or the usage error printed.
pub fn nublado_stage(playbook: &str, stage: &str, out: &mut Output) -> Result<Stage, Exit> {
    if playbook != "nublado" {
        out.error(&format!(
            "unknown playbook `{playbook}`; known: {}",
            PLAYBOOKS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        ));
        return Err(Exit::Input);
    }
    let names: Vec<&str> = STAGES.iter().map(|s| s.name()).collect();
    Stage::from_name(stage).ok_or_else(|| unknown_stage("nublado", stage, &names, out))
}

/// One of the hub-move playbook's stages, or the usage error printed.
pub fn hub_move_stage(stage: &str, out: &mut Output) -> Result<hub_move::Stage, Exit> {
    let names: Vec<&str> = hub_move::STAGES.iter().map(|s| s.name()).collect();
    hub_move::Stage::from_name(stage)
        .ok_or_else(|| unknown_stage(hub_move::PLAYBOOK, stage, &names, out))
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

/// The infrastructure repository the hub-move commands work on, or the input error printed.
pub fn open_infrastructure(out: &mut Output) -> Result<Infrastructure, Exit> {
    let root = repo_root();
    match repo::open(&root) {
        Ok(Repo::Infrastructure(i)) => Ok(i),
        Ok(Repo::Phalanx(_)) => {
            out.error(&format!(
                "{}: the hub-move playbook needs an infrastructure repository (config/clusters/*/cluster.yaml), and this is a Phalanx repository",
                root.display()
            ));
            Err(Exit::Input)
        }
        Err(e) => {
            out.error(&e.to_string());
            Err(Exit::Input)
        }
    }
}

/// The Phalanx repository the commands work on, or the input error printed.
pub fn open_phalanx(out: &mut Output) -> Result<Phalanx, Exit> {
    let root = repo_root();
    match repo::open(&root) {
        Ok(Repo::Phalanx(p)) => model_readable(&p, out).map(|()| p),
        Ok(Repo::Infrastructure(_)) => {
            out.error(&format!(
                "{}: the nublado playbook needs a Phalanx repository, and this is an infrastructure repository",
                root.display()
            ));
            Err(Exit::Input)
        }
        Err(e) => {
            out.error(&e.to_string());
            Err(Exit::Input)
        }
    }
}

/// Every file the nublado model reads can be read, or each that cannot is printed
/// (`file:line:col: message`) and the input error returned: a state, route or database read
/// from a broken file would be made up.
pub fn model_readable(p: &Phalanx, out: &mut Output) -> Result<(), Exit> {
    let errors = crate::repo::nublado::unreadable_files(p);
    if errors.is_empty() {
        return Ok(());
    }
    for e in &errors {
        out.error(&e.to_string());
    }
    out.note("fix the file(s) first: nothing can be said about the environments while the nublado model cannot read them");
    Err(Exit::Input)
}

/// Loads the repository and plans the stage; prints the error and returns the exit code on
/// failure.
pub fn load_plan(args: &StageArgs, out: &mut Output) -> Result<(Repo, StagePlan), Exit> {
    if args.playbook == hub_move::PLAYBOOK {
        return load_hub_move(args, out);
    }
    let stage = nublado_stage(&args.playbook, &args.stage, out)?;
    if let Some(url) = &args.hub_db_url
        && let Err(e) = parse_hub_db_url(url)
    {
        out.error(&format!("--hub-db-url: {e}"));
        return Err(Exit::Input);
    }
    let p = open_phalanx(out)?;
    let opts = Options {
        force: args.force,
        all_ready: args.all_ready,
        answers: args.answers(),
        hub_db_url: args.hub_db_url.clone(),
    };
    match stages::plan(&p, stage, &args.envs, &opts) {
        Ok(mut plan) => {
            plan.target_runbooks = target_runbooks(&p, stage, &plan);
            Ok((Repo::Phalanx(p), plan))
        }
        Err(e) => {
            out.error(&e.to_string());
            Err(if e.is_input_error() {
                Exit::Input
            } else {
                Exit::Refused
            })
        }
    }
}

/// With several environments to change, each one's runbook as `exec` will run it for that
/// environment (the plan's runbook is every step any of them needs).
fn target_runbooks(p: &Phalanx, stage: Stage, plan: &StagePlan) -> Vec<(String, Vec<Step>)> {
    // A repository-wide stage (`finish`) runs its window per environment it implies.
    let targets = if plan.targets.is_empty() {
        &plan.exec_targets
    } else {
        &plan.targets
    };
    let envs: Vec<&repo::phalanx::Environment> = targets
        .iter()
        .filter(|t| !plan.already_done.contains(t))
        .filter_map(|t| p.env(t))
        .collect();
    if envs.len() < 2 || plan.runbook.is_empty() {
        return Vec::new();
    }
    envs.into_iter()
        .map(|env| (env.name.clone(), stages::runbook(p, stage, env)))
        .collect()
}

/// Loads an infrastructure repository and plans a hub-move stage.
fn load_hub_move(args: &StageArgs, out: &mut Output) -> Result<(Repo, StagePlan), Exit> {
    let stage = hub_move_stage(&args.stage, out)?;
    let mv = args.hub_move(out)?;
    if !args.answers().is_empty() || args.hub_db_url.is_some() {
        out.error("--pvc-storage-class, --pvc-access-modes, --pvc-size and --hub-db-url are options of `nublado enable-v3`");
        return Err(Exit::Input);
    }
    let infra = open_infrastructure(out)?;
    let mut mv = mv;
    if stage == hub_move::Stage::Decommission {
        mv.old_storage = old_storage(&infra, &mv);
    }
    match hub_move::plan(&infra, stage, &mv) {
        Ok(plan) => Ok((Repo::Infrastructure(infra), plan)),
        Err(e) => {
            out.error(&e.to_string());
            Err(if e.is_input_error() {
                Exit::Input
            } else {
                Exit::Refused
            })
        }
    }
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

fn heading(plan: &StagePlan) -> String {
    let stage = if plan.playbook == hub_move::PLAYBOOK {
        hub_move::Stage::from_name(plan.stage).map(hub_move::Stage::description)
    } else {
        Stage::from_name(plan.stage).map(Stage::description)
    }
    .unwrap_or("");
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

fn nothing_to_do(plan: &StagePlan, out: &mut Output) -> Exit {
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
    if plan.playbook == hub_move::PLAYBOOK
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
fn remaining(p: &Repo, plan: &StagePlan, args: &StageArgs, out: &mut Output) -> Exit {
    let Repo::Phalanx(p) = p else {
        return Exit::Ok;
    };
    if plan.stage != "finish" {
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
    if args.strict { Exit::Refused } else { Exit::Ok }
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

pub fn plan(args: StageArgs, out: &mut Output) -> Exit {
    let (p, plan) = match load_plan(&args, out) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if args.format == PlanFormat::Json {
        let errors = new_errors(&p, &plan.changes).unwrap_or_default();
        let refs = match &p {
            Repo::Phalanx(ph) if plan.stage == "finish" => stages::remaining_references(ph, &plan),
            _ => Vec::new(),
        };
        out.line(
            &serde_json::to_string_pretty(&report::plan_json(&plan, &errors, &refs))
                .expect("the plan serializes"),
        );
        return if args.strict && !refs.is_empty() {
            Exit::Refused
        } else {
            Exit::Ok
        };
    }
    if plan.is_nothing_to_do() {
        let code = nothing_to_do(&plan, out);
        // `finish` done: what still names the retired applications counts all the same.
        return match remaining(&p, &plan, &args, out) {
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
    remaining(&p, &plan, &args, out)
}

/// `--format json` is `plan`'s; the other stage commands refuse it.
pub fn refuse_json(args: &StageArgs, command: &str, out: &mut Output) -> Result<(), Exit> {
    if args.format == PlanFormat::Json {
        out.error(&format!(
            "--format json is an option of `plan`, not `{command}`"
        ));
        return Err(Exit::Input);
    }
    Ok(())
}

pub fn apply(args: StageArgs, out: &mut Output) -> Exit {
    if let Err(code) = refuse_json(&args, "apply", out) {
        return code;
    }
    let (p, plan) = match load_plan(&args, out) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if plan.is_nothing_to_do() {
        let code = nothing_to_do(&plan, out);
        return match remaining(&p, &plan, &args, out) {
            Exit::Ok => code,
            refused => refused,
        };
    }
    let root = p.files().root();
    let paths: Vec<&str> = plan.changes.paths().into_iter().collect();
    let dirty = dirty_paths(root, &paths);
    if !dirty.is_empty() && !args.allow_dirty {
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
    for op in plan.changes.ops() {
        let what = match op {
            crate::change::FileOp::Edit { .. } => "edited",
            crate::change::FileOp::Create { .. } => "created",
            crate::change::FileOp::Delete { .. } => "deleted",
        };
        out.line(&format!("  {what} {}", op.path()));
    }
    out.line(outline(&plan).trim_end());
    remaining(&p, &plan, &args, out)
}
