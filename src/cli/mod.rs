//! The command line: clap definitions, global options, exit codes and dispatch. Thin: each
//! command module parses its arguments, calls the library and prints.

mod announce;
mod config;
pub mod console;
mod docs;
mod edit;
mod exec;
mod output;
mod pr;
mod stage;
mod status;
mod sync_homes;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub use output::Output;

/// Exit codes of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, including "nothing to do".
    Ok = 0,
    /// Findings, a refused precondition or edit, a failed step.
    Refused = 1,
    /// Usage or input error (bad arguments, missing or malformed file).
    Input = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "gitops-migrate",
    version,
    about = "Multi-stage migrations of JupyterHub platforms in GitOps repositories of Helm values files",
    long_about = "gitops-migrate turns the multi-stage migrations of JupyterHub platforms run from a \
GitOps repository of Helm values files (a Phalanx repository, or a 2i2c-style infrastructure \
repository) into reviewed Git changes and guided runbooks, and validates the values files on \
every commit.\n\n\
Start with `status` (where each environment stands), then `plan` the next stage, `apply` it \
or open its pull request with `pr`. Every file edit is a splice into the original text, \
checked by re-reading the result with an independent YAML parser before an atomic write.",
    after_help = "Exit codes: 0 success (also \"nothing to do\"), 1 findings or refused, 2 usage or input error."
)]
pub struct Cli {
    /// The repository, and where relative FILE arguments are read [default: the nearest
    /// Phalanx or infrastructure repository from the current directory up to the Git top level].
    // The global options come last in every command's help (`display_order`), after its own.
    #[arg(
        short = 'C',
        long = "repo",
        global = true,
        value_name = "DIR",
        display_order = 900
    )]
    pub repo: Option<PathBuf>,

    /// When to color output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, display_order = 901)]
    pub color: ColorChoice,

    /// Print more detail (e.g. every file `edit check` reads).
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "quiet",
        display_order = 902
    )]
    pub verbose: bool,

    /// Print only errors and requested values.
    #[arg(short, long, global = true, display_order = 903)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read and edit YAML files in place without reformatting them.
    #[command(subcommand)]
    Edit(edit::EditCommand),
    /// Check the repository's values files, alone and across files (a pre-commit hook).
    Validate(validate::ValidateArgs),
    /// Show where each environment (or cluster) stands, with anomalies.
    Status(status::StatusArgs),
    /// List the playbooks, their stages and targets.
    Playbooks,
    /// Show a stage's change as a diff, with the outline of its runbook; writes nothing.
    #[command(subcommand)]
    Plan(stage::PlanCommand),
    /// Write a stage's change into the work tree.
    #[command(subcommand)]
    Apply(stage::ApplyCommand),
    /// Commit a stage's change on its own branch, push it and open (or update) its pull request.
    #[command(subcommand)]
    Pr(pr::PrCommand),
    /// Print the announcement to users for a stage, as markdown.
    #[command(subcommand)]
    Announce(announce::AnnounceCommand),
    /// Run a stage's window runbook for one environment or hub move (journal, lock,
    /// confirmations, --dry-run, --resume); prints the path of its markdown report.
    #[command(subcommand)]
    Exec(exec::ExecCommand),
    /// Read and edit `gitops-migrate.toml` (kube contexts, service URLs, token variables).
    Config(config::ConfigArgs),
    /// Copy a hub's home directories with parallel rsync, resumable per directory.
    SyncHomes(sync_homes::SyncHomesArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or PowerShell.
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff), or write every page into a folder.
    Man(docs::ManArgs),
}

pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = Cli::command()
        .color(color_choice_in(&args).into())
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Input
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return code.into();
        }
    };
    run(cli).into()
}

/// The `--color` choice among the arguments, before clap parses them, so that clap's own help
/// and errors follow it too: the last `--color X` or `--color=X` before `--`; `auto` when there
/// is none or its value is not one clap will accept (clap then reports it).
fn color_choice_in(args: &[std::ffi::OsString]) -> ColorChoice {
    let mut choice = ColorChoice::Auto;
    let mut iter = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--color") {
            Some("") => iter.next(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(v) = value.and_then(|v| ColorChoice::from_str(v, false).ok()) {
            choice = v;
        }
    }
    choice
}

impl From<ColorChoice> for clap::ColorChoice {
    fn from(c: ColorChoice) -> clap::ColorChoice {
        match c {
            ColorChoice::Auto => clap::ColorChoice::Auto,
            ColorChoice::Always => clap::ColorChoice::Always,
            ColorChoice::Never => clap::ColorChoice::Never,
        }
    }
}

pub fn run(cli: Cli) -> Exit {
    let mut out = Output::new(cli.color, cli.verbose, cli.quiet);
    if let Some(dir) = &cli.repo {
        if let Err(e) = std::env::set_current_dir(dir) {
            out.error(&format!("cannot use -C {}: {e}", dir.display()));
            return Exit::Input;
        }
        let _ = EXPLICIT_ROOT.set(std::env::current_dir().unwrap_or_else(|_| dir.clone()));
    }
    match cli.command {
        Command::Edit(cmd) => edit::run(cmd, &mut out),
        Command::Validate(args) => validate::run(args, &mut out),
        Command::Status(args) => status::run(args, &mut out),
        Command::Playbooks => stage::playbooks(&mut out),
        Command::Plan(args) => stage::plan(args, &mut out),
        Command::Apply(args) => stage::apply(args, &mut out),
        Command::Pr(args) => pr::run(args, &mut out),
        Command::Announce(args) => announce::run(args, &mut out),
        Command::Exec(args) => exec::run(args, &mut out),
        Command::Config(args) => config::run(args, &mut out),
        Command::SyncHomes(args) => sync_homes::run(args, &mut out),
        Command::Completions(args) => docs::completions(args, &mut out),
        Command::Man(args) => docs::man(args, &mut out),
    }
}

/// The directory given with `-C`, once `run` has moved into it.
static EXPLICIT_ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The repository the repository commands work on: `-C DIR`; else the nearest directory
/// from the current one up to the git top level that is a known repository kind; else the git
/// top level (or the current directory outside Git), for the error to name.
pub fn repo_root() -> PathBuf {
    if let Some(root) = EXPLICIT_ROOT.get() {
        return root.clone();
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let top = std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(&cwd)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|t| !t.as_os_str().is_empty());
    let mut dir = cwd.as_path();
    loop {
        if crate::repo::detect(dir).is_ok() {
            return dir.to_path_buf();
        }
        match (&top, dir.parent()) {
            (Some(t), Some(parent)) if dir != t.as_path() => dir = parent,
            _ => break,
        }
    }
    top.unwrap_or(cwd)
}
