//! `gitops-migrate validate [FILE...]`: findings for the whole repository, or those located in
//! the given files (as pre-commit passes them), judged with the whole repository as context.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Exit, Output, repo_root};
use crate::repo;
use crate::validate::{self as rules, Severity};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Report only findings in these files (relative to the current directory); all files by
    /// default.
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}

pub fn run(args: ValidateArgs, out: &mut Output) -> Exit {
    let root = repo_root();
    let repo = match repo::open(&root) {
        Ok(r) => r,
        Err(e) => {
            out.error(&e.to_string());
            return Exit::Input;
        }
    };
    let findings = if args.files.is_empty() {
        rules::validate(&repo)
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| root.clone());
        let rels: Vec<String> = args
            .files
            .iter()
            .map(|f| {
                let abs = if f.is_absolute() {
                    f.clone()
                } else {
                    cwd.join(f)
                };
                repo::files::relative(&root, &abs)
            })
            .collect();
        rules::validate_files(&repo, &rels)
    };
    for f in &findings {
        out.line(&format!(
            "{}:{}:{}: {} [{}] {}",
            f.file, f.line, f.col, f.severity, f.rule, f.message
        ));
    }
    let _ = args.format;
    if findings.iter().any(|f| f.severity == Severity::Error) {
        Exit::Refused
    } else {
        Exit::Ok
    }
}
