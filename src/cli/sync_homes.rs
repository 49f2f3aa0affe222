//! `sync-homes SRC DST`: arguments, progress and the summary; the work is in
//! `crate::sync_homes`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::{Exit, Output};
use crate::sync_homes::{self as sh, Event, Location, Options, SyncError};

#[derive(Debug, Args)]
pub struct SyncHomesArgs {
    /// Where the home directories are: a local path or `host:path` (over ssh).
    #[arg(value_name = "SRC")]
    pub src: String,
    /// Where they go: a local path or `host:path` (over ssh).
    #[arg(value_name = "DST")]
    pub dst: String,
    /// How many rsync processes run at once.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
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
    let opts = Options {
        journal: Some(sh::journal_path(&state, &src, &dst)),
        src,
        dst,
        parallel: usize::from(args.parallel),
        delete: args.delete,
        again: args.again,
        backoff: sh::FIRST_BACKOFF,
        io_timeout,
        vanished: if args.r#final {
            sh::Vanished::Fail
        } else {
            sh::Vanished::Warn
        },
    };

    let mut entries = sh::list_entries(&opts.src)?;
    if let Some(within) = within {
        let (users, from) = if let Some(db) = &args.hub_db {
            (sh::active_from_db(db, within)?, db.display().to_string())
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
            crate::text::plural(users.len(), "user", "users"),
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
    let (todo, skipped) = sh::plan(&opts, entries)?;

    if args.dry_run {
        out.line(&format!(
            "sync-homes {} → {}: {} to copy, {} finished in an earlier run (journal {})",
            opts.src,
            opts.dst,
            todo.len(),
            skipped.len(),
            opts.journal
                .as_deref()
                .map(|j| j.display().to_string())
                .unwrap_or_default()
        ));
        if !todo.is_empty() {
            out.line(&format!(
                "  in {} with: {} (the entries' names on its standard input)",
                crate::text::plural(sh::batches(&opts, &todo).len(), "batch", "batches"),
                sh::command_line("rsync", &sh::rsync_args(&opts))
            ));
        }
        let todo_names: std::collections::BTreeSet<&str> =
            todo.iter().map(|e| e.name.as_str()).collect();
        let mut all: Vec<&str> = todo_names
            .iter()
            .copied()
            .chain(skipped.iter().map(String::as_str))
            .collect();
        all.sort();
        for name in all {
            if todo_names.contains(name) {
                out.line(&format!("  would copy  {name}"));
            } else {
                out.line(&format!(
                    "  skip        {name} (finished in an earlier run; --again copies it)"
                ));
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
    let bar = (std::io::stderr().is_terminal() && !out.quiet).then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "  sync-homes [{bar:30}] {pos}/{len} {elapsed} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_position(skipped.len() as u64);
        bar
    });
    let mut done = skipped.len();
    let mut bytes = 0u64;
    crate::runtime::interrupt::install();
    let summary = sh::sync(&opts, &todo, skipped, |ev| match ev {
        Event::Started { .. } => {}
        Event::Warning { dir, message } => {
            let m = format!("{dir}: {message}");
            match &bar {
                Some(b) => b.println(format!("  warning: {m}")),
                None => out.warning(&m),
            }
        }
        Event::Retry {
            dir,
            attempt,
            error,
        } => {
            let m = format!("{dir}: attempt {attempt} failed, retrying: {error}");
            match &bar {
                Some(b) => b.println(format!("  {m}")),
                None => out.note(&m),
            }
        }
        Event::Done { dir, bytes: b } => {
            done += 1;
            bytes += b;
            match &bar {
                Some(bar) => {
                    bar.set_position(done as u64);
                    bar.set_message(format!("{} · {dir}", sh::human_bytes(bytes)));
                }
                None => out.note(&format!(
                    "[{done}/{total}] {dir}: copied ({})",
                    sh::human_bytes(*b)
                )),
            }
        }
        Event::Failed { dir, error } => {
            done += 1;
            let m = format!("[{done}/{total}] {dir}: FAILED: {error}");
            match &bar {
                Some(b) => {
                    b.set_position(done as u64);
                    b.println(format!("  {m}"));
                }
                None => out.note(&m),
            }
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    out.line(&format!(
        "sync-homes {} → {}: {} copied, {} skipped as finished, {} failed; {} transferred",
        opts.src,
        opts.dst,
        summary.copied.len(),
        summary.skipped.len(),
        summary.failed.len(),
        sh::human_bytes(summary.bytes)
    ));
    if summary.interrupted {
        out.error(&format!(
            "{}: the finished directories are journaled; run the same command again to copy the rest",
            crate::runtime::interrupt::stopped()
        ));
    }
    if summary.failed.is_empty() {
        return Ok(if summary.interrupted {
            Exit::Refused
        } else {
            Exit::Ok
        });
    }
    out.line("failed (a rerun copies only these and what is left):");
    for (dir, error) in &summary.failed {
        out.line(&format!("  {dir}: {error}"));
    }
    Ok(Exit::Refused)
}
