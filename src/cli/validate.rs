//! `gitops-migrate validate [FILE...]`: findings for the whole repository, or those located in
//! the given files (as pre-commit passes them), judged with the whole repository as context.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{Exit, Output, repo_root};
use crate::repo;
use crate::validate::{self as rules, Severity, render};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Report only findings in these files, or in the files under these directories (relative
    /// to the current directory, inside the repository); all files by default.
    pub files: Vec<PathBuf>,
    /// Output format: each finding with its source line for people, one JSON object, GitHub
    /// workflow annotations, or a SARIF 2.1.0 log for GitHub code scanning.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Report only the findings the repository did not have at REV (a commit, `HEAD` for a
    /// pre-commit hook): a finding is the same when its rule, file and subject are, wherever
    /// its line moved and whatever state the environment is in. Before a first commit, `HEAD`
    /// has no findings.
    #[arg(long, value_name = "REV")]
    pub new_since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
    Sarif,
}

/// A FILE argument, relative to the repository root: one file, or every file under a folder.
enum Scope {
    File(String),
    Dir(String),
}

impl Scope {
    fn covers(&self, file: &str) -> bool {
        match self {
            Scope::File(f) => f == file,
            Scope::Dir(d) => {
                d.is_empty()
                    || file
                        .strip_prefix(d.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            }
        }
    }
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
        let scopes = match resolve_files(&root, &args.files) {
            Ok(s) => s,
            Err(errors) => {
                for e in errors {
                    out.error(&e);
                }
                return Exit::Input;
            }
        };
        rules::validate(&repo)
            .into_iter()
            .filter(|f| scopes.iter().any(|s| s.covers(&f.file)))
            .collect()
    };
    let findings = match &args.new_since {
        None => findings,
        Some(rev) => match findings_at(&root, rev) {
            Ok(known) => {
                let known: std::collections::BTreeSet<_> =
                    known.iter().map(rules::Finding::identity).collect();
                let before = findings.len();
                let new: Vec<_> = findings
                    .into_iter()
                    .filter(|f| !known.contains(&f.identity()))
                    .collect();
                if before > new.len() {
                    out.note(&format!(
                        "{} finding{} the repository already had at {rev} not shown",
                        before - new.len(),
                        if before - new.len() == 1 { "" } else { "s" }
                    ));
                }
                new
            }
            Err(e) => {
                out.error(&format!("--new-since {rev}: {e}"));
                return Exit::Input;
            }
        },
    };
    let failed = findings.iter().any(|f| f.severity == Severity::Error);
    let text = match args.format {
        Format::Human if out.quiet => quiet(&findings, repo.files(), out.color()),
        Format::Human => render::human(&findings, repo.files(), out.color()),
        Format::Json => render::json(&findings),
        Format::Github => render::github(&findings),
        Format::Sarif => render::sarif(&findings),
    };
    if !text.is_empty() {
        out.line(text.strip_suffix('\n').unwrap_or(&text));
    }
    if failed { Exit::Refused } else { Exit::Ok }
}

/// The human format under `-q`: the errors and their summary line; nothing when there are
/// none (warnings do not fail the check, so they are left out).
fn quiet(findings: &[rules::Finding], sources: &dyn render::Sources, color: bool) -> String {
    let errors: Vec<rules::Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .cloned()
        .collect();
    if errors.is_empty() {
        return String::new();
    }
    render::human(&errors, sources, color)
}

/// Every finding of the repository at `root` as commit `rev` has it (none for `HEAD` before a
/// first commit).
fn findings_at(root: &Path, rev: &str) -> Result<Vec<rules::Finding>, String> {
    let (git, prefix) = crate::git::Git::open(root).map_err(|e| e.to_string())?;
    let Some(commit) = git.resolve_commit(rev).map_err(|e| e.to_string())? else {
        // Before the first commit `HEAD` names nothing yet: every finding is new.
        if rev == "HEAD" {
            return Ok(Vec::new());
        }
        return Err(format!("no commit `{rev}` in this repository"));
    };
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    git.checkout_to(&commit, tmp.path())
        .map_err(|e| e.to_string())?;
    let then = tmp.path().join("tree").join(prefix.trim_end_matches('/'));
    match repo::open(&then) {
        Ok(r) => Ok(rules::validate(&r)),
        // Not yet a repository of a known kind at `rev`: everything is new.
        Err(_) => Ok(Vec::new()),
    }
}

/// The FILE arguments (relative to the current directory) as paths relative to the repository
/// root; every argument that does not exist or lies outside the repository is an error.
fn resolve_files(root: &Path, files: &[PathBuf]) -> Result<Vec<Scope>, Vec<String>> {
    let root_canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let cwd = std::env::current_dir().unwrap_or_else(|_| root.to_path_buf());
    let mut scopes = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let abs = if f.is_absolute() {
            f.clone()
        } else {
            cwd.join(f)
        };
        let meta = match std::fs::metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                errors.push(format!("{}: no such file", f.display()));
                continue;
            }
            Err(e) => {
                errors.push(format!("{}: cannot read: {e}", f.display()));
                continue;
            }
        };
        // Resolve `..` and symlinked folders, but judge a symlinked file by where the link is.
        let canon = if meta.is_dir() {
            std::fs::canonicalize(&abs)
        } else {
            match (abs.parent(), abs.file_name()) {
                (Some(parent), Some(name)) => {
                    std::fs::canonicalize(if parent.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        parent
                    })
                    .map(|p| p.join(name))
                }
                _ => std::fs::canonicalize(&abs),
            }
        };
        let canon = match canon {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{}: cannot read: {e}", f.display()));
                continue;
            }
        };
        if !canon.starts_with(&root_canon) {
            errors.push(format!(
                "{}: outside the repository {}",
                f.display(),
                root.display()
            ));
            continue;
        }
        let rel = repo::files::relative(&root_canon, &canon);
        scopes.push(if meta.is_dir() {
            Scope::Dir(rel)
        } else {
            Scope::File(rel)
        });
    }
    if errors.is_empty() {
        Ok(scopes)
    } else {
        Err(errors)
    }
}
