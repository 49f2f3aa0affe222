//! Pushing the stage's branch, and what the remote answered.
//!
//! Owns: `push` (with `--force-with-lease` when replacing a branch), reading `git push
//! --porcelain` (a `!` line is a rejection, `remote:` lines are what the server said), and
//! what the push did to the remote branch (`PushOutcome`). Does not own: the branch being
//! pushed (`commit`) or the pull request (`github`).

use super::{Git, GitError};

/// A push that did not go through.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Git(#[from] GitError),
    /// The remote refused the ref (`!` in `git push --porcelain`).
    #[error("{}", rejected_message(remote, refs, messages))]
    Rejected {
        remote: String,
        /// `(ref, reason)` per rejected ref.
        refs: Vec<(String, String)>,
        /// What the remote said (`remote: …` lines), e.g. a hook's output.
        messages: Vec<String>,
    },
}

fn rejected_message(remote: &str, refs: &[(String, String)], messages: &[String]) -> String {
    let mut s = format!("the push to `{remote}` was rejected:");
    for (r, reason) in refs {
        s.push_str(&format!(" {r}: {reason};"));
    }
    s.pop();
    if !messages.is_empty() {
        s.push_str(&format!(" (the remote said: {})", messages.join(" / ")));
    }
    s
}

impl Git {
    /// Pushes `refs/heads/<branch>` to the same name on `remote`. With `lease`, the remote
    /// branch is replaced only if it still points to that commit (`--force-with-lease`).
    pub fn push(
        &self,
        remote: &str,
        branch: &str,
        lease: Option<&str>,
    ) -> Result<PushOutcome, PushError> {
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let lease_arg = lease.map(|sha| format!("--force-with-lease=refs/heads/{branch}:{sha}"));
        let mut args = vec!["push", "--porcelain"];
        if let Some(l) = &lease_arg {
            args.push(l);
        }
        args.extend([remote, refspec.as_str()]);
        let ran = self.run_raw(&args, None)?;
        let stdout = String::from_utf8_lossy(&ran.stdout).to_string();
        let lines = porcelain_lines(&stdout);
        let rejected: Vec<(String, String)> = lines
            .iter()
            .filter(|l| l.flag == '!')
            .map(|l| (l.to.clone(), l.summary.clone()))
            .collect();
        if !rejected.is_empty() {
            let messages = ran
                .stderr
                .lines()
                .filter_map(|l| l.strip_prefix("remote:"))
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            return Err(PushError::Rejected {
                remote: remote.to_string(),
                refs: rejected,
                messages,
            });
        }
        if !ran.ok {
            return Err(GitError::Failed {
                command: crate::util::redact::urls(&args.join(" ")),
                stderr: if ran.stderr.is_empty() {
                    "(no message)".into()
                } else {
                    ran.stderr
                },
            }
            .into());
        }
        let line = lines
            .into_iter()
            .find(|l| l.to == format!("refs/heads/{branch}"));
        Ok(match line.map(|l| l.flag) {
            Some('=') => PushOutcome::UpToDate,
            Some('*') => PushOutcome::Created,
            Some('+') => PushOutcome::Replaced,
            _ => PushOutcome::Updated,
        })
    }
}

/// What a push did to the remote branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Created,
    Updated,
    Replaced,
    UpToDate,
}

impl PushOutcome {
    pub fn describe(self) -> &'static str {
        match self {
            PushOutcome::Created => "new branch",
            PushOutcome::Updated => "updated",
            PushOutcome::Replaced => "replaced",
            PushOutcome::UpToDate => "already up to date",
        }
    }
}

struct PorcelainLine {
    flag: char,
    to: String,
    summary: String,
}

/// The ref lines of `git push --porcelain`: `<flag>\t<from>:<to>\t<summary>`.
fn porcelain_lines(stdout: &str) -> Vec<PorcelainLine> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut chars = l.chars();
            let flag = chars.next()?;
            if !" +-*!=".contains(flag) || chars.next()? != '\t' {
                return None;
            }
            let mut fields = l[2..].splitn(2, '\t');
            let refs = fields.next()?;
            let summary = fields.next().unwrap_or("").trim().to_string();
            let to = refs.rsplit_once(':').map_or(refs, |(_, to)| to).to_string();
            Some(PorcelainLine { flag, to, summary })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_porcelain_push_lines() {
        let out = "To file:///tmp/r.git\n!\trefs/heads/b:refs/heads/b\t[remote rejected] (pre-receive hook declined)\nDone\n";
        let lines = porcelain_lines(out);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].flag, '!');
        assert_eq!(lines[0].to, "refs/heads/b");
        assert_eq!(
            lines[0].summary,
            "[remote rejected] (pre-receive hook declined)"
        );
        let ok = porcelain_lines("To x\n*\trefs/heads/b:refs/heads/b\t[new branch]\nDone\n");
        assert_eq!(ok[0].flag, '*');
    }
}
