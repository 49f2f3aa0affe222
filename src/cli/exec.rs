//! `exec PLAYBOOK STAGE --env ENV`: runs (or `--dry-run` previews) a stage's window runbook
//! for one environment, with the journal, the lock, confirmations, the kube-context check and
//! the final report.
//!
//! The runbook is derived from the stage and the environment whatever the checkout's state:
//! the window comes after the stage's pull request is merged, when the files already show the
//! next state (`stages::runbook`).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::stage::{nublado_stage, open_phalanx};
use super::{Exit, Output};
use crate::config::{Config, EnvSettings, TokenSource};
use crate::playbook::Step;
use crate::playbook::nublado::stages::{self, STAGES};
use crate::playbook::nublado::{State, environment_state};
use crate::repo::phalanx::Environment;
use crate::repo::{self, Phalanx};
use crate::runtime::clients::{
    ArgoCdClient, HealthClient, KubeConfig, MobuClient, PsqlClient, VaultClient,
};
use crate::runtime::engine::{self, ConsoleOperator, Display, ExecOptions, Redactor, RunStatus};
use crate::runtime::journal::{self, Entry, Journal, RunFiles};
use crate::runtime::lock::{self, Lock, LockError};
use crate::runtime::steps::vault::SecretKey;
use crate::runtime::steps::{self, StepEnv};
use crate::runtime::{Operator, Outcome, Preview, StepError, StepRunner};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The playbook: `nublado`.
    pub playbook: String,
    /// The stage whose window runbook to run: `enable-v3`, `make-default`, `disable-v2`, …
    pub stage: String,
    /// The environment (exactly one: each environment's window is its own run).
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Preview every step with read calls only (what it would touch, the equivalent commands);
    /// change nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm every destructive and manual step without asking (non-interactive runs).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Do not run again the steps the journal records as finished.
    #[arg(long)]
    pub resume: bool,
    /// Start at this step (an id, or a kind such as `delete-lab-namespaces`).
    #[arg(long, value_name = "STEP", conflicts_with = "only")]
    pub from: Option<String>,
    /// Run only this step (repeatable; an id, or a kind for every step of that kind).
    #[arg(long, value_name = "STEP")]
    pub only: Vec<String>,
    /// Leave this step out (repeatable).
    #[arg(long, value_name = "STEP")]
    pub skip: Vec<String>,
    /// Run against this kube context instead of the configured one (its API server is shown
    /// and must be confirmed; it must be the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Keep the journal, lock and reports under DIR instead of the user's state directory.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The configuration file (default: `gitops-migrate.toml` at the repository root).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// A step that cannot be built in this version (its client or configuration is missing):
/// listed by a dry run, refused by a run that selects it. The engine never calls it.
struct Unavailable {
    id: String,
    title: String,
    destructive: bool,
    reason: String,
}

impl StepRunner for Unavailable {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn destructive(&self) -> bool {
        self.destructive
    }
    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        Err(StepError::fatal(self.reason.clone()))
    }
    fn run(&self, _preview: &Preview, _op: &mut dyn Operator) -> Result<Outcome, StepError> {
        Err(StepError::fatal(self.reason.clone()))
    }
}

/// Progress of an environment along the migration (to tell "the PR is merged" from "not yet").
fn order(state: State) -> Option<usize> {
    match state {
        State::Complete => Some(STAGES.len()),
        s => s
            .next_stage()
            .and_then(|n| STAGES.iter().position(|st| st.name() == n)),
    }
}

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
    if let Some((url, t)) = token(
        "Argo CD",
        "argocd",
        &settings.argocd_url,
        &settings.argocd_token,
    ) {
        env.argocd = Some(Arc::new(ArgoCdClient::new(&url, t)));
    }
    if let Some((url, t)) = token("mobu", "mobu", &settings.mobu_url, &settings.mobu_token) {
        env.mobu = Some(Arc::new(MobuClient::new(&url, t)));
    }
    // Vault, for `vault-secret` and `vault-cleanup`.
    if let Some(prefix) = &settings.vault_path_prefix {
        env.vault_path_prefix = prefix.clone();
        env.slack_webhook_source = SecretKey::parse(&settings.slack_webhook_source, prefix);
    }
    env.hub_db_password_file = settings.hub_db_password_file.clone();
    if let Some((url, t)) = token("Vault", "vault", &settings.vault_url, &settings.vault_token) {
        env.vault = Some(Arc::new(VaultClient::new(&url, t)));
    }
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
    if let Some(url) = &settings.health_url {
        env.health = Some(Arc::new(HealthClient::new(url)));
    }
    if let Some(poll) = settings.poll_interval {
        env.timing.poll = poll;
    }
    if let Some(settle) = settings.sync_settle {
        env.timing.settle = settle;
    }
    why
}

pub fn run(args: ExecArgs, out: &mut Output) -> Exit {
    let stage = match nublado_stage(&args.playbook, &args.stage, out) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let env_name = match args.envs.as_slice() {
        [one] => one.clone(),
        [] => {
            out.error("no environment given: exec runs one environment's window, use --env ENV");
            return Exit::Input;
        }
        _ => {
            out.error("exec runs one environment's window at a time: give exactly one --env ENV");
            return Exit::Input;
        }
    };
    let p = match open_phalanx(out) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let root = p.files.root().to_path_buf();
    let Some(env) = p.env(&env_name) else {
        let hint =
            crate::suggest::closest(&env_name, p.environments.iter().map(|e| e.name.as_str()))
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
        out.error(&format!("unknown environment `{env_name}`{hint}"));
        return Exit::Input;
    };

    // The window follows the merge of the stage's pull request.
    let state = environment_state(&p, env);
    if let Some(from) = stage.from_state() {
        let (now, needed) = (order(state.state), order(from));
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
                return Exit::Refused;
            }
        } else if now == needed {
            out.warning(&format!(
                "`{env_name}` is still `{}` in this checkout: merge the pull request of `{}` (and pull) before the window; Argo CD syncs what is merged",
                state.state,
                stage.name()
            ));
        }
    }

    let config_path = Config::path_for(&root, args.config.as_deref());
    let config = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            out.error(&e.to_string());
            return Exit::Input;
        }
    };
    let settings = config.environment(&p, env);
    let kube_context = args.context.clone().or_else(|| settings.context.clone());

    let runbook: Vec<Step> = stages::runbook(&p, stage, env);
    if runbook.is_empty() {
        out.line(&format!(
            "nothing to do: `{}` has no window steps for `{env_name}`",
            stage.name()
        ));
        return Exit::Ok;
    }

    let mut step_env = StepEnv {
        name: env.name.clone(),
        fqdn: env.fqdn.clone().unwrap_or_default(),
        mobu_flocks: mobu_flocks(&p, env),
        ..StepEnv::default()
    };
    // Copies of what the cleanup steps delete go beside the journal.
    step_env.backup_dir = args
        .state_dir
        .clone()
        .or_else(|| journal::state_dir().ok())
        .map(|d| {
            RunFiles::new(&d, &args.playbook, stage.name(), &env_name)
                .dir()
                .join(format!("{env_name}-backups"))
        });
    let missing = connect(&settings, kube_context.as_deref(), &mut step_env);

    let mut unavailable = BTreeMap::new();
    let runners: Vec<Box<dyn StepRunner>> = runbook
        .iter()
        .map(|step| match steps::build(step, &step_env) {
            Ok(r) => r,
            Err(e) => {
                unavailable.insert(step.id.clone(), e.message.clone());
                Box::new(Unavailable {
                    id: step.id.clone(),
                    title: step.title.clone(),
                    destructive: step.destructive,
                    reason: e.message,
                }) as Box<dyn StepRunner>
            }
        })
        .collect();

    if !unavailable.is_empty() {
        for m in &missing {
            out.warning(m);
        }
    }

    let mut command = format!("{} {} --env {env_name}", args.playbook, stage.name());
    for (flag, values) in [("--only", &args.only), ("--skip", &args.skip)] {
        for v in values {
            command.push_str(&format!(" {flag} {v}"));
        }
    }
    if let Some(f) = &args.from {
        command.push_str(&format!(" --from {f}"));
    }
    if args.resume {
        command.push_str(" --resume");
    }

    let state_dir = match &args.state_dir {
        Some(d) => d.clone(),
        None => match journal::state_dir() {
            Ok(d) => d,
            Err(e) => {
                out.error(&e.to_string());
                return Exit::Input;
            }
        },
    };
    let files = RunFiles::new(&state_dir, &args.playbook, stage.name(), &env_name);

    let mut opts = ExecOptions {
        command,
        dry_run: args.dry_run,
        yes: args.yes,
        interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        resume: args.resume,
        from: args.from.clone(),
        only: args.only.clone(),
        skip: args.skip.clone(),
        unavailable,
        redactor: Redactor::new(settings.token_values()),
        ..ExecOptions::default()
    };
    // Usage errors before the lock is taken.
    let ids: Vec<String> = runners.iter().map(|r| r.id().to_string()).collect();
    if let Err(e) = engine::select(&ids, &opts) {
        out.error(&e.to_string());
        return if e.is_usage() {
            Exit::Input
        } else {
            Exit::Refused
        };
    }

    let lock = if args.dry_run {
        None
    } else {
        match Lock::acquire(&files.lock()) {
            Ok(l) => {
                if let Some(stale) = l.stale() {
                    out.warning(&format!(
                        "took over a stale lock: {stale} is gone (it was interrupted; --resume continues after its last finished step)"
                    ));
                }
                Some(l)
            }
            Err(e @ LockError::Held { .. }) => {
                out.error(&e.to_string());
                return Exit::Refused;
            }
            Err(e) => {
                out.error(&e.to_string());
                return Exit::Refused;
            }
        }
    };
    let mut journal = match Journal::open(&files.journal()) {
        Ok(j) => j,
        Err(e) => {
            out.error(&e.to_string());
            return Exit::Refused;
        }
    };

    opts.context_check = Some(context_check(
        env_name.clone(),
        args.context.clone(),
        settings.context.clone(),
    ));
    let lock_path = files.lock();
    opts.on_stuck = Some(Arc::new(move |stuck: &engine::Stuck| {
        let now = journal::rfc3339(std::time::SystemTime::now());
        let message = format!(
            "timed out: still running after its timeout of {}; the run was stopped",
            crate::runtime::report::duration(stuck.timeout)
        );
        let _ = journal::append_to(
            &stuck.journal,
            &Entry::End {
                at: now.clone(),
                run: stuck.run.clone(),
                step: stuck.step.clone(),
                outcome: journal::EndOutcome::Failed,
                duration_ms: u64::try_from(stuck.timeout.as_millis()).unwrap_or(u64::MAX),
                attempts: 0,
                touched: Vec::new(),
                message: message.clone(),
            },
        );
        let _ = journal::append_to(
            &stuck.journal,
            &Entry::RunEnd {
                at: now,
                run: stuck.run.clone(),
                result: "timed-out".into(),
            },
        );
        lock::release_path(&lock_path);
        eprintln!(
            "error: `{}` {message}; resume with --resume (steps are idempotent)",
            stuck.step
        );
        std::process::exit(Exit::Refused as i32);
    }));

    let mut op = ConsoleOperator::stdio(Display::detect(out.quiet));
    let result = engine::run(runners, &opts, &mut journal, &mut op);
    drop(op);
    let code = match result {
        Ok(report) if report.dry_run => {
            out.line(crate::runtime::report::dry_run(&report).trim_end());
            let first_mutating = report.steps.iter().find(|s| {
                s.mutates
                    && !matches!(
                        s.status,
                        engine::StepStatus::Excluded { .. }
                            | engine::StepStatus::AlreadyDone { .. }
                    )
            });
            if let Some(step) = first_mutating {
                out.line(&match &kube_context {
                    Some(c) => format!(
                        "Before `{}`, the current kube context must be `{c}`{}.",
                        step.id,
                        if args.context.is_some() {
                            " (from --context; its API server is shown and confirmed)"
                        } else {
                            ""
                        }
                    ),
                    None => format!(
                        "No kube context is configured for `{env_name}`: a run stops before `{}` (`gitops-migrate config set environments.{env_name}.context NAME`, or --context NAME).",
                        step.id
                    ),
                });
            }
            if report.ok() { Exit::Ok } else { Exit::Refused }
        }
        Ok(report) => {
            match &report.status {
                RunStatus::Completed => out.note(&format!(
                    "{} completed in {}",
                    report.command,
                    crate::runtime::report::duration(report.duration)
                )),
                RunStatus::Failed { step, error } => {
                    out.error(&format!(
                        "`{step}` failed: {error}; after fixing the cause, continue with --resume"
                    ));
                }
                RunStatus::Declined { step } => {
                    out.error(&format!(
                        "stopped at `{step}`: not confirmed; continue with --resume"
                    ));
                }
                RunStatus::Refused { reason } => {
                    out.error(&format!("stopped before any change: {reason}"));
                }
            }
            if let Some(path) = &report.report_path {
                out.line(&format!("report: {}", path.display()));
            }
            if report.status == RunStatus::Completed {
                Exit::Ok
            } else {
                Exit::Refused
            }
        }
        Err(e) => {
            out.error(&e.to_string());
            if e.is_usage() {
                Exit::Input
            } else {
                Exit::Refused
            }
        }
    };
    if let Some(l) = lock {
        let _ = l.release();
    }
    code
}

/// The check before the first mutating step: the current kube context must be the expected
/// one (`--context`, else the configured one); `--context` shows its API server and asks.
fn context_check(
    env: String,
    flag: Option<String>,
    configured: Option<String>,
) -> engine::ContextCheck {
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
            if !op.confirm(&format!(
                "--context `{expected}`: API server {server}. Make the changes of `{env}` there?"
            )) {
                return Err(format!("--context `{expected}` was not confirmed"));
            }
        }
        op.say(&format!("kube context `{expected}` ({server}) checked"));
        Ok(())
    })
}
