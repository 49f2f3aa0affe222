//! `config set KEY VALUE`, `config get KEY` and `config keys`: the `gitops-migrate.toml` of the
//! repository (or `--config FILE`), edited in place with its comments and order kept.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{Exit, Output, repo_root};
use crate::config::{Config, Key, known_keys};
use crate::repo::{self, Repo};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The configuration file (default: `gitops-migrate.toml` at the repository root).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set KEY (e.g. `environments.idfdev.context`) to VALUE, creating the file if needed.
    /// Tokens are never values: name the environment variable (`…_token_env`) or file
    /// (`…_token_file`) that holds them.
    Set { key: String, value: String },
    /// Print the value of KEY (the default derived from the environment file when unset).
    Get { key: String },
    /// List the known keys.
    Keys,
}

/// The top level of the Git work tree that holds `file`, when `file` is in one and no
/// ignore rule (`.gitignore`, `.git/info/exclude`, the global excludes) covers it.
fn untracked_in_repository(file: &Path) -> Option<PathBuf> {
    let dir = file.parent()?;
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
    };
    let top = git(&["rev-parse", "--show-toplevel"]).filter(|o| o.status.success())?;
    let name = file.file_name()?.to_str()?;
    // Exit 0: ignored; 1: not ignored.
    let ignored = git(&["check-ignore", "-q", "--", name])?;
    (ignored.status.code() == Some(1))
        .then(|| PathBuf::from(String::from_utf8_lossy(&top.stdout).trim()))
}

pub fn run(args: ConfigArgs, out: &mut Output) -> Exit {
    if let ConfigCommand::Keys = args.command {
        out.line(&known_keys());
        return Exit::Ok;
    }
    let root = repo_root();
    let path = Config::path_for(&root, args.config.as_deref());
    let parse_key = |k: &str, out: &mut Output| match Key::parse(k) {
        Ok(k) => Some(k),
        Err(e) => {
            out.error(&e.to_string());
            None
        }
    };
    match args.command {
        ConfigCommand::Keys => Exit::Ok,
        ConfigCommand::Set { key, value } => {
            let Some(key) = parse_key(&key, out) else {
                return Exit::Input;
            };
            let mut config = match Config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    out.error(&e.to_string());
                    return Exit::Input;
                }
            };
            if let Err(e) = config.set(&key, &value) {
                out.error(&e.to_string());
                return Exit::Input;
            }
            if key.section == "environments"
                && let Ok(Repo::Phalanx(p)) = repo::open(&root)
                && p.env(&key.name).is_none()
            {
                out.warning(&format!(
                    "`{}` is not an environment of {}",
                    key.name,
                    root.display()
                ));
            }
            let created = !config.exists();
            if let Err(e) = config.save() {
                out.error(&e.to_string());
                return Exit::Refused;
            }
            out.note(&format!(
                "{} {}: {key} = {:?}",
                if created { "created" } else { "updated" },
                path.display(),
                config.get(&key).unwrap_or_default()
            ));
            if created && let Some(top) = untracked_in_repository(&path) {
                out.note(&format!(
                    "note: {} is inside the Git repository {} and not ignored: it names your kube contexts and service URLs (never tokens), and `git add -A` would commit it. Add it to .git/info/exclude (or .gitignore) if it is yours alone, or commit it on purpose to share it; --config FILE keeps it elsewhere",
                    path.display(),
                    top.display()
                ));
            }
            Exit::Ok
        }
        ConfigCommand::Get { key } => {
            let Some(key) = parse_key(&key, out) else {
                return Exit::Input;
            };
            let config = match Config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    out.error(&e.to_string());
                    return Exit::Input;
                }
            };
            if let Some(v) = config.get(&key) {
                out.line(&v);
                return Exit::Ok;
            }
            if key.section == "environments"
                && let Ok(Repo::Phalanx(p)) = repo::open(&root)
                && let Some(env) = p.env(&key.name)
                && let Some(v) = config.default_for(&key, &p, env)
            {
                out.line(&v);
                out.note(&format!(
                    "(not set in {}: the default, from {})",
                    path.display(),
                    env.file.rel
                ));
                return Exit::Ok;
            }
            out.error(&format!("{key} is not set in {}", path.display()));
            Exit::Refused
        }
    }
}
