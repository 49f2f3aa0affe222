//! `sync-homes SRC DST`: the arguments, the choice of entries (the activity filter) and the
//! summary. The copy runs as a one-step runbook through the engine (`runtime::steps::homes`):
//! the engine's lock, journal (`<state>/runs/sync-homes/<hash of SRC and DST>.jsonl`, one
//! checkpoint per entry copied), progress, report and redaction, as the hub move's copies.
//! A run continues the window of the last run (the entries it copied are skipped) unless
//! `--again` starts a new one.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;

use super::{Exit, Output};
use crate::cli::console::{ConsoleOperator, Display};
use crate::runtime::engine::{self, ExecOptions, RunStatus};
use crate::runtime::homes::{self as sh, Location, Options, Summary, SyncError};
use crate::runtime::journal::Journal;
use crate::runtime::lock::Lock;
use crate::runtime::steps::homes::SyncHomes;

#[derive(Debug, Args)]
pub struct SyncHomesArgs {
    /// Where the home directories are: a local path or `host:path` (over ssh).
    #[arg(value_name = "SRC")]
    pub src: String,
    /// Where they go: a local path or `host:path` (over ssh).
    #[arg(value_name = "DST")]
    pub dst: String,
    /// How many rsync processes run at once [default: the number of cores, at most 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: Option<u16>,
    /// Copy only users active within DUR (`24h`, `7d`), plus the `_shared*` directories;
    /// needs --hub-db or --hub-api.
    #[arg(long, value_name = "DUR")]
    pub active_within: Option<String>,
    /// The hub's sqlite database (`users.last_activity`), for --active-within.
    #[arg(long, value_name = "FILE", conflicts_with = "hub_api")]
    pub hub_db: Option<PathBuf>,
    /// The hub's URL, for --active-within (token from JUPYTERHUB_TOKEN).
    #[arg(long, value_name = "URL")]
    pub hub_api: Option<String>,
    /// Delete files in DST that are not in SRC (rsync --delete). Never without this flag.
    #[arg(long)]
    pub delete: bool,
    /// List what would be copied; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Copy again the directories an earlier run finished.
    #[arg(long)]
    pub again: bool,
    /// rsync's I/O timeout (`--timeout`): a transfer with no data moving for DUR ends and
    /// is retried (`30s`, `5m`); an rsync silent for twice as long is stopped as stalled.
    #[arg(long, value_name = "DUR", default_value = "5m")]
    pub io_timeout: String,
    /// The final copy, after the users are stopped: a file vanishing from SRC during the copy
    /// fails its directory (something still writes) instead of a warning.
    #[arg(long)]
    pub r#final: bool,
    /// Where the journal lives [default: $XDG_STATE_HOME/gitops-migrate].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

pub fn run(args: SyncHomesArgs, out: &mut Output) -> Exit {
    match run_inner(args, out) {
        Ok(exit) => exit,
        Err(SyncError::Input(m)) => {
            out.error(&m);
            Exit::Input
        }
        Err(SyncError::Failed(m)) => {
            out.error(&m);
            Exit::Refused
        }
    }
}

fn run_inner(args: SyncHomesArgs, out: &mut Output) -> Result<Exit, SyncError> {
    let src = Location::parse(&args.src)?;
    let dst = Location::parse(&args.dst)?;
    if matches!(src, Location::Remote { .. }) && matches!(dst, Location::Remote { .. }) {
        return Err(SyncError::Input(format!(
            "{src} and {dst} are both remote: rsync copies between a local path and a remote one \
             (run sync-homes on one of the two hosts)"
        )));
    }
    let within = match &args.active_within {
        Some(d) => Some(sh::parse_duration(d).ok_or_else(|| {
            SyncError::Input(format!(
                "--active-within {d}: not a duration (a whole number and s, m, h, d or w: 24h, 7d)"
            ))
        })?),
        None => None,
    };
    if within.is_some() && args.hub_db.is_none() && args.hub_api.is_none() {
        return Err(SyncError::Input(
            "--active-within needs --hub-db FILE or --hub-api URL".into(),
        ));
    }
    if within.is_none() && (args.hub_db.is_some() || args.hub_api.is_some()) {
        return Err(SyncError::Input(
            "--hub-db and --hub-api only go with --active-within DUR".into(),
        ));
    }
    let io_timeout = sh::parse_duration(&args.io_timeout)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            SyncError::Input(format!(
                "--io-timeout {}: not a duration (a whole number and s, m, h, d or w: 30s, 5m)",
                args.io_timeout
            ))
        })?;
    let state = match &args.state_dir {
        Some(d) => d.clone(),
        None => {
            crate::runtime::journal::state_dir().map_err(|e| SyncError::Input(e.to_string()))?
        }
    };
    let again = args.again;
    let opts = Options {
        src,
        dst,
        parallel: args.parallel.map_or_else(sh::default_parallel, usize::from),
        delete: args.delete,
        retry: sh::copy_retries(),
        io_timeout,
        vanished: if args.r#final {
            sh::Vanished::Fail
        } else {
            sh::Vanished::Warn
        },
    };

    // One ssh login for the whole run (the listing or the login to DST, and every worker), closed
    // when the run returns.
    let _connection = sh::share_connection(&opts.src, &opts.dst);
    let mut entries = sh::list_entries(&opts.src)?;
    if let Some(within) = within {
        let (users, from) = if let Some(db) = &args.hub_db {
            (
                sh::active_from_db(&crate::runtime::clients::Sqlite::default(), db, within)?,
                db.display().to_string(),
            )
        } else {
            let url = args.hub_api.as_deref().unwrap_or_default();
            let token = std::env::var("JUPYTERHUB_TOKEN")
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    SyncError::Input("--hub-api needs a token in JUPYTERHUB_TOKEN".into())
                })?;
            (sh::active_from_api(url, &token, within)?, url.to_string())
        };
        let (selected, missing) = sh::select_active(&entries, &users);
        out.note(&format!(
            "{} active within {} ({from}); {} of {} entries selected (with _shared*)",
            crate::util::text::plural(users.len(), "user", "users"),
            args.active_within.as_deref().unwrap_or_default(),
            selected.len(),
            entries.len()
        ));
        if !missing.is_empty() {
            out.warning(&format!(
                "{} active users have no directory in {}: {}",
                missing.len(),
                opts.src,
                missing.join(", ")
            ));
        }
        entries = selected;
    }
    let total = entries.len();

    // The journal, and the window this run continues (none with --again).
    let journal_path = state
        .join("runs/sync-homes")
        .join(format!("{}.jsonl", sh::journal_name(&opts.src, &opts.dst)));
    let mut journal = Journal::open(&journal_path).map_err(|e| SyncError::Input(e.to_string()))?;
    let window = if again {
        None
    } else {
        journal
            .last_run()
            .map(|(run, _)| journal.window_of(run).to_string())
    };
    let done: BTreeSet<String> = window
        .as_deref()
        .map(|w| journal.checkpoints("sync-homes", w))
        .unwrap_or_default();
    let (skipped, todo): (Vec<sh::Entry>, Vec<sh::Entry>) = entries
        .iter()
        .cloned()
        .partition(|e| done.contains(&e.name));
    let mut command = format!(
        "gitops-migrate sync-homes {} {} --parallel {}",
        opts.src, opts.dst, opts.parallel
    );
    for (on, flag) in [
        (again, " --again"),
        (args.r#final, " --final"),
        (args.delete, " --delete"),
    ] {
        if on {
            command.push_str(flag);
        }
    }
    if let Some(d) = &args.active_within {
        command.push_str(&format!(" --active-within {d}"));
    }

    if args.dry_run {
        out.line(&format!(
            "sync-homes {} → {}: {} to copy, {} finished in an earlier run (journal {})",
            opts.src,
            opts.dst,
            todo.len(),
            skipped.len(),
            journal_path.display()
        ));
        if !todo.is_empty() {
            out.line(&format!(
                "  in {} with: {}",
                crate::util::text::plural(sh::batches(&opts, &todo).len(), "batch", "batches"),
                sh::rsync_preview(&opts)
            ));
        }
        for e in &entries {
            if done.contains(&e.name) {
                out.line(&format!(
                    "  skip        {} (finished in an earlier run; --again copies it)",
                    e.name
                ));
            } else {
                out.line(&format!("  would copy  {}", e.name));
            }
        }
        return Ok(Exit::Ok);
    }

    if !skipped.is_empty() {
        out.note(&format!(
            "{} of {total} entries finished in an earlier run are skipped (--again copies them)",
            skipped.len()
        ));
    }
    let run_id = engine::new_run_id(std::time::SystemTime::now());
    let lock = Lock::acquire_for(&journal_path.with_extension("lock"), &run_id)
        .map_err(|e| SyncError::Failed(e.to_string()))?;
    if let Some(stale) = lock.stale() {
        out.warning(&format!(
            "took over a stale lock: {stale} is gone (it was interrupted; this run continues after the entries it copied)"
        ));
    }
    let summary: Arc<Mutex<Option<Summary>>> = Arc::default();
    let step = SyncHomes::command(opts.clone(), entries, command.clone(), summary.clone());
    let exec = ExecOptions {
        command,
        run_id: Some(run_id),
        // --delete on the command line is the operator's consent; nothing else asks.
        yes: true,
        window,
        ..ExecOptions::default()
    };
    crate::runtime::interrupt::install();
    let mut op = ConsoleOperator::terminal(Display::detect(out.quiet));
    let result = engine::run(vec![Box::new(step)], &exec, &mut journal, &mut op);
    drop(op);
    let _ = lock.release();
    let report = result.map_err(|e| SyncError::Failed(e.to_string()))?;
    let summary = summary
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    out.line(&format!(
        "sync-homes {} → {}: {} copied, {} skipped as finished, {} failed; {} transferred",
        opts.src,
        opts.dst,
        summary.copied.len(),
        skipped.len().max(summary.skipped.len()),
        summary.failed.len(),
        sh::human_bytes(summary.bytes)
    ));
    if !summary.failed.is_empty() {
        out.line("failed (a rerun copies only these and what is left):");
        for (dir, error) in &summary.failed {
            out.line(&format!("  {dir}: {error}"));
        }
    }
    match &report.status {
        RunStatus::Completed => {}
        RunStatus::Interrupted { signal, .. } => out.error(&format!(
            "interrupted ({signal}): the entries copied are journaled; run the same command again to copy the rest"
        )),
        RunStatus::Failed { error, .. } if summary.failed.is_empty() => out.error(error),
        _ => {}
    }
    if let Some(path) = &report.report_path {
        out.line(&format!("report: {}", path.display()));
    }
    Ok(if report.status == RunStatus::Completed {
        Exit::Ok
    } else {
        Exit::Refused
    })
}
