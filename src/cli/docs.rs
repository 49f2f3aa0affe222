//! `completions SHELL` and `man`: shell completion scripts (clap_complete) and manual pages
//! (clap_mangen), both generated from the clap command tree itself, so that every subcommand
//! and option the tool accepts is in them and nothing else: there is no list of options here
//! to keep in step.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use super::{Cli, Exit, Output};

#[derive(Debug, Args)]
#[command(after_help = "Install (the script is printed on stdout):\n  \
bash:  gitops-migrate completions bash > ~/.local/share/bash-completion/completions/gitops-migrate\n  \
zsh:   gitops-migrate completions zsh > ~/.zfunc/_gitops-migrate   (with fpath+=(~/.zfunc) before compinit)\n  \
fish:  gitops-migrate completions fish > ~/.config/fish/completions/gitops-migrate.fish\n  \
PowerShell: gitops-migrate completions powershell >> $PROFILE")]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
gitops-migrate man | man -l -                     read the main page\n  \
gitops-migrate man plan > gitops-migrate-plan.1   the page of one command\n  \
gitops-migrate man --dir ~/.local/share/man/man1  every page, for `man gitops-migrate-plan`")]
pub struct ManArgs {
    /// The command whose page to print (e.g. `plan`, or `edit set`) [default: the main page].
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Write every page (the main one and one per command, `gitops-migrate-plan.1`…) into DIR
    /// instead of printing one.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

/// The program's name, as installed.
const BIN: &str = "gitops-migrate";

pub fn completions(args: CompletionsArgs, out: &mut Output) -> Exit {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, BIN, &mut script);
    out.line(String::from_utf8_lossy(&script).trim_end());
    Exit::Ok
}

pub fn man(args: ManArgs, out: &mut Output) -> Exit {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    if let Some(dir) = &args.dir {
        let written = std::fs::create_dir_all(dir).and_then(|()| write_pages(&root, dir));
        return match written {
            Ok(paths) => {
                for p in paths {
                    out.line(&p.display().to_string());
                }
                Exit::Ok
            }
            Err(e) => {
                out.error(&format!(
                    "cannot write the pages into {}: {e}",
                    dir.display()
                ));
                Exit::Refused
            }
        };
    }
    let mut cmd = &root;
    for (i, name) in args.command.iter().enumerate() {
        match cmd.find_subcommand(name) {
            Some(sub) => cmd = sub,
            None => {
                let known: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
                let hint = crate::util::suggest::closest(name, known.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                let parent = std::iter::once(BIN)
                    .chain(args.command[..i].iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ");
                out.error(&format!(
                    "`{parent}` has no command `{name}`{hint}; its commands are {}",
                    known.join(", ")
                ));
                return Exit::Input;
            }
        }
    }
    match page(cmd) {
        Ok((_, text)) => {
            out.line(text.trim_end());
            Exit::Ok
        }
        Err(e) => {
            out.error(&format!("cannot render the page: {e}"));
            Exit::Refused
        }
    }
}

/// The manual page of `cmd` (a command of the built tree): its file name (`gitops-migrate-plan.1`)
/// and its roff text.
fn page(cmd: &clap::Command) -> std::io::Result<(String, String)> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let source = format!("{BIN} {}", env!("CARGO_PKG_VERSION"));
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .source(&source)
        .manual("gitops-migrate manual");
    let mut text = Vec::new();
    man.render(&mut text)?;
    let text = String::from_utf8_lossy(&text);
    // clap_mangen writes the empty date of `.TH` as nothing at all, which moves the source
    // into the date's place; write the header with every field quoted.
    let header = format!(
        ".TH \"{}\" \"1\" \"\" \"{source}\" \"gitops-migrate manual\"",
        name.to_uppercase()
    );
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with(".TH ") {
                header.as_str()
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok((man.get_filename(), text + "\n"))
}

/// Writes the page of `cmd` and of each of its (visible) subcommands, recursively; the paths
/// written.
fn write_pages(cmd: &clap::Command, dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let (file, text) = page(cmd)?;
    let path = dir.join(file);
    crate::change::write_file(&path, &text).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut written = vec![path];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written.extend(write_pages(sub, dir)?);
    }
    Ok(written)
}
