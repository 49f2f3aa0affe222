//! `gitops-migrate edit`: get, set, rm, append and check on YAML files.

use std::path::{Path as FsPath, PathBuf};

use clap::{Args, Subcommand};
use rayon::prelude::*;

use super::{Exit, Output};
use crate::yaml::{
    CheckError, Document, EditError, FileError, NewValue, Path, ScalarValue, YamlFile,
};

#[derive(Debug, Subcommand)]
pub enum EditCommand {
    /// Print the value at PATH (a scalar's value, or a collection's text).
    Get {
        /// The YAML file.
        file: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Set the scalar at PATH, creating missing mappings; keeps quote style and comments.
    #[command(
        after_help = "VALUE is read as a YAML scalar: `true` is a boolean, `5` a number, \
`/n3` a string, `'\"x\"'` a string in double quotes. Use --string to store any text as a string.\n\n\
Examples:\n  gitops-migrate edit set applications/nublado/values-idfdev.yaml jupyterhub.hub.baseUrl /n3\n  \
gitops-migrate edit set environments/values-idfdev.yaml applications.nublado true"
    )]
    Set {
        /// The YAML file.
        file: PathBuf,
        #[command(flatten)]
        target: Target,
        /// The new value.
        value: String,
        /// Store VALUE as a string, quoting it if a plain scalar would mean something else.
        #[arg(long)]
        string: bool,
    },
    /// Remove the key or item at PATH with its nested block and the comments above it.
    Rm {
        /// The YAML file.
        file: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Append an item to the sequence at PATH, in the file's sequence style.
    Append {
        /// The YAML file.
        file: PathBuf,
        #[command(flatten)]
        target: Target,
        /// The new item: a YAML scalar, or a block of YAML with --yaml.
        value: String,
        /// Store VALUE as a string.
        #[arg(long, conflicts_with = "yaml")]
        string: bool,
        /// VALUE is a block of YAML (a mapping or sequence), re-indented where it goes.
        #[arg(long)]
        yaml: bool,
    },
    /// Check that every YAML file under PATH... loads into the editor and re-emits byte-identical.
    #[command(
        after_help = "Folders named `templates` (Helm and Jinja templates) are skipped. \
Ends with one line `N files, N identical, N refused`; exits 1 if any file is refused."
    )]
    Check {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct Target {
    /// Where in the file: `a.b`, `list[0]`, `list[name=x]`, quoted keys `files."/etc/group"`.
    #[arg(value_name = "PATH")]
    path: String,
    /// Which document of a multi-document file (0 is the first).
    #[arg(long, default_value_t = 0, value_name = "N")]
    document: usize,
}

pub fn run(cmd: EditCommand, out: &mut Output) -> Exit {
    match cmd {
        EditCommand::Get { file, target } => {
            with_file(&file, &target, out, false, |f, path, out| {
                let node = f.doc.get(target.document, path)?;
                out.line(&f.doc.value_text(node));
                Ok(false)
            })
        }
        EditCommand::Set {
            file,
            target,
            value,
            string,
        } => {
            let Some(value) = scalar_arg(&value, string, out) else {
                return Exit::Input;
            };
            with_file(&file, &target, out, true, |f, path, _| {
                f.doc.set(target.document, path, &value)
            })
        }
        EditCommand::Rm { file, target } => with_file(&file, &target, out, true, |f, path, _| {
            f.doc.remove(target.document, path)
        }),
        EditCommand::Append {
            file,
            target,
            value,
            string,
            yaml,
        } => {
            let value = if yaml {
                NewValue::Yaml(value)
            } else {
                match scalar_arg(&value, string, out) {
                    Some(v) => NewValue::Scalar(v),
                    None => return Exit::Input,
                }
            };
            with_file(&file, &target, out, true, |f, path, _| {
                f.doc.append(target.document, path, &value)
            })
        }
        EditCommand::Check { paths } => check(&paths, out),
    }
}

fn scalar_arg(value: &str, string: bool, out: &mut Output) -> Option<ScalarValue> {
    match ScalarValue::from_arg(value, string) {
        Ok(v) => Some(v),
        Err(e) => {
            out.error(&e);
            None
        }
    }
}

/// Loads FILE, parses PATH, runs `op`, and writes the file if `op` changed it.
fn with_file(
    file: &FsPath,
    target: &Target,
    out: &mut Output,
    writes: bool,
    op: impl FnOnce(&mut YamlFile, &Path, &mut Output) -> Result<bool, EditError>,
) -> Exit {
    let path = match Path::parse(&target.path) {
        Ok(p) => p,
        Err(e) => {
            out.error(&e.to_string());
            return Exit::Input;
        }
    };
    let mut f = match YamlFile::load(file) {
        Ok(f) => f,
        Err(e) => return file_error(&e, out),
    };
    // A key that `set` is about to create next to a near miss (`baseURL` beside `baseUrl`).
    let near_miss = match f.doc.get(target.document, &path) {
        Err(EditError::NotFound { reason, .. }) if writes && reason.contains("did you mean") => {
            Some(reason)
        }
        _ => None,
    };
    match op(&mut f, &path, out) {
        Ok(changed) => {
            if !writes {
                return Exit::Ok;
            }
            if !changed {
                out.note(&format!(
                    "{}: `{path}` already has this content; nothing to do",
                    file.display()
                ));
                return Exit::Ok;
            }
            match f.save() {
                Ok(_) => {
                    if let Some(reason) = near_miss {
                        out.warning(&format!(
                            "{}: created `{path}`, which was missing: {reason}",
                            file.display()
                        ));
                    }
                    out.detail(&format!("{}: updated `{path}`", file.display()));
                    Exit::Ok
                }
                Err(e) => file_error(&e, out),
            }
        }
        Err(e) => {
            out.error(&format!("{}: {e}", file.display()));
            Exit::Refused
        }
    }
}

fn file_error(e: &FileError, out: &mut Output) -> Exit {
    out.error(&e.to_string());
    if e.is_input_error() {
        Exit::Input
    } else {
        Exit::Refused
    }
}

/// Every `.yaml`/`.yml` file under the paths, skipping `templates` folders, sorted.
pub fn yaml_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_file() {
            files.push(p.clone());
            continue;
        }
        if !p.is_dir() {
            return Err(format!("{}: no such file or directory", p.display()));
        }
        let walker = walkdir::WalkDir::new(p)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                !(e.file_type().is_dir() && e.file_name() == "templates" && e.depth() > 0)
            });
        for entry in walker {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_file() && (name.ends_with(".yaml") || name.ends_with(".yml")) {
                files.push(entry.into_path());
            }
        }
    }
    Ok(files)
}

fn check(paths: &[PathBuf], out: &mut Output) -> Exit {
    let files = match yaml_files(paths) {
        Ok(f) => f,
        Err(e) => {
            out.error(&e);
            return Exit::Input;
        }
    };
    let results: Vec<(PathBuf, Result<(), CheckError>)> = files
        .par_iter()
        .map(|f| (f.clone(), check_file(f)))
        .collect();
    let mut refused = 0;
    for (f, r) in &results {
        match r {
            Ok(()) => out.detail(&format!("{}: identical", f.display())),
            Err(e) => {
                refused += 1;
                let sep = if e.at.is_some() { ":" } else { ": " };
                out.line(&format!("{}{sep}{e}", f.display()));
            }
        }
    }
    let n = results.len();
    if n == 0 {
        out.warning("no .yaml or .yml files found under the given paths");
    }
    out.line(&format!(
        "{}, {} identical, {refused} refused",
        crate::util::text::plural(n, "file", "files"),
        n - refused
    ));
    if refused > 0 { Exit::Refused } else { Exit::Ok }
}

fn check_file(file: &FsPath) -> Result<(), CheckError> {
    let fail = |message: String| CheckError {
        at: None,
        message,
        syntax: false,
        libyaml: None,
    };
    let bytes = std::fs::read(file).map_err(|e| fail(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    Document::parse(text)?.check()
}
