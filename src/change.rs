//! A `ChangeSet`: the file operations of one stage (edit, create, delete), shown as a unified
//! diff and applied all together or not at all.
//!
//! Owns: the operations, their diff, and the atomic apply (every new content is written to a
//! temporary file beside its target first; only then are targets replaced and deleted files
//! moved aside; a failure part-way puts back everything already done). Does not own: what the
//! operations are (`playbook`), or Git (`git/`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::util::atomic::{self, Staged};

/// One file operation; paths are relative to the repository root, with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    Edit {
        path: String,
        before: String,
        after: String,
    },
    Create {
        path: String,
        content: String,
    },
    Delete {
        path: String,
        before: String,
    },
}

impl FileOp {
    pub fn path(&self) -> &str {
        match self {
            FileOp::Edit { path, .. }
            | FileOp::Create { path, .. }
            | FileOp::Delete { path, .. } => path,
        }
    }

    /// The content after the change (`None` for a deletion).
    pub fn after(&self) -> Option<&str> {
        match self {
            FileOp::Edit { after, .. } => Some(after),
            FileOp::Create { content, .. } => Some(content),
            FileOp::Delete { .. } => None,
        }
    }

    fn before(&self) -> &str {
        match self {
            FileOp::Edit { before, .. } | FileOp::Delete { before, .. } => before,
            FileOp::Create { .. } => "",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    ops: Vec<FileOp>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{path}: {message}")]
    Conflict { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ChangeSet {
    pub fn new() -> ChangeSet {
        ChangeSet::default()
    }

    /// Records an edit; an edit that changes nothing is dropped, and a second edit of the same
    /// file replaces the first's result (keeping the first's original).
    pub fn edit(
        &mut self,
        path: impl Into<String>,
        before: impl Into<String>,
        after: impl Into<String>,
    ) {
        let (path, before, after) = (path.into(), before.into(), after.into());
        if let Some(i) = self.ops.iter().position(|o| o.path() == path) {
            let original = self.ops[i].before().to_string();
            let created = matches!(self.ops[i], FileOp::Create { .. });
            self.ops[i] = if created {
                FileOp::Create {
                    path,
                    content: after,
                }
            } else {
                FileOp::Edit {
                    path,
                    before: original,
                    after,
                }
            };
            return;
        }
        if before != after {
            self.ops.push(FileOp::Edit {
                path,
                before,
                after,
            });
        }
    }

    pub fn create(&mut self, path: impl Into<String>, content: impl Into<String>) {
        self.ops.push(FileOp::Create {
            path: path.into(),
            content: content.into(),
        });
    }

    pub fn delete(&mut self, path: impl Into<String>, before: impl Into<String>) {
        self.ops.push(FileOp::Delete {
            path: path.into(),
            before: before.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, sorted by path.
    pub fn ops(&self) -> Vec<&FileOp> {
        let mut ops: Vec<&FileOp> = self.ops.iter().collect();
        ops.sort_by(|a, b| a.path().cmp(b.path()));
        ops
    }

    /// The content a path will have after the change, if the change touches it.
    pub fn content(&self, path: &str) -> Option<Option<&str>> {
        self.ops
            .iter()
            .find(|o| o.path() == path)
            .map(FileOp::after)
    }

    pub fn paths(&self) -> BTreeSet<&str> {
        self.ops.iter().map(FileOp::path).collect()
    }

    /// Lines added and removed, for summaries.
    pub fn line_counts(&self) -> (usize, usize) {
        let (mut added, mut removed) = (0, 0);
        for op in &self.ops {
            let diff = similar::TextDiff::from_lines(op.before(), op.after().unwrap_or(""));
            for change in diff.iter_all_changes() {
                match change.tag() {
                    similar::ChangeTag::Insert => added += 1,
                    similar::ChangeTag::Delete => removed += 1,
                    similar::ChangeTag::Equal => {}
                }
            }
        }
        (added, removed)
    }

    /// The unified diff of every operation (`a/` and `b/` prefixes, `/dev/null` for created and
    /// deleted files), colored with ANSI escapes when `color`.
    pub fn diff(&self, color: bool) -> String {
        let mut out = String::new();
        for op in self.ops() {
            let (old, new) = match op {
                FileOp::Edit { path, .. } => (format!("a/{path}"), format!("b/{path}")),
                FileOp::Create { path, .. } => ("/dev/null".to_string(), format!("b/{path}")),
                FileOp::Delete { path, .. } => (format!("a/{path}"), "/dev/null".to_string()),
            };
            let before = op.before();
            let after = op.after().unwrap_or("");
            let diff = similar::TextDiff::from_lines(before, after);
            let text = diff
                .unified_diff()
                .context_radius(3)
                .header(&old, &new)
                .missing_newline_hint(true)
                .to_string();
            let text =
                if text.is_empty() && matches!(op, FileOp::Create { .. } | FileOp::Delete { .. }) {
                    // An empty file created or deleted still shows its header.
                    format!("--- {old}\n+++ {new}\n")
                } else {
                    text
                };
            out.push_str(&if color { colorize(&text) } else { text });
        }
        out
    }

    /// Checks that the files are as the change expects: edited and deleted files still hold
    /// their `before` content, created files do not exist yet.
    pub fn check(&self, root: &Path) -> Result<(), ApplyError> {
        for op in &self.ops {
            let abs = root.join(op.path());
            let current = std::fs::read_to_string(&abs).ok();
            let ok = match op {
                FileOp::Create { .. } => current.is_none(),
                FileOp::Edit { before, .. } | FileOp::Delete { before, .. } => {
                    current.as_deref() == Some(before)
                }
            };
            if !ok {
                return Err(ApplyError::Conflict {
                    path: op.path().to_string(),
                    message: match op {
                        FileOp::Create { .. } => "already exists".into(),
                        _ => "changed since the change was planned".into(),
                    },
                });
            }
        }
        Ok(())
    }

    /// Writes the change into the work tree under `root`, all or nothing.
    pub fn apply(&self, root: &Path) -> Result<(), ApplyError> {
        self.check(root)?;
        let io = |path: &str| {
            let path = path.to_string();
            move |source| ApplyError::Io { path, source }
        };
        // 1. Everything new is written beside its target first.
        let mut staged: Vec<(PathBuf, Staged)> = Vec::new();
        for op in &self.ops {
            let Some(content) = op.after() else { continue };
            let abs = root.join(op.path());
            let dir = abs.parent().unwrap_or(root).to_path_buf();
            std::fs::create_dir_all(&dir).map_err(io(op.path()))?;
            let tmp = Staged::new(&abs, content.as_bytes()).map_err(io(op.path()))?;
            staged.push((abs, tmp));
        }
        // 2. Targets are replaced; replaced and deleted files are kept aside until the end.
        let mut done: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        let result = (|| -> Result<(), ApplyError> {
            for (abs, tmp) in staged.drain(..) {
                // A symbolic link is written through: its target is what is replaced.
                let target = tmp.target().to_path_buf();
                let backup = backup_aside(&target)?;
                done.push((target, backup));
                tmp.commit().map_err(|source| ApplyError::Io {
                    path: abs.display().to_string(),
                    source,
                })?;
            }
            for op in &self.ops {
                if let FileOp::Delete { path, .. } = op {
                    let abs = root.join(path);
                    let backup = backup_aside(&abs)?;
                    done.push((abs, backup));
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                for (_, backup) in done {
                    if let Some(b) = backup {
                        let _ = std::fs::remove_file(b);
                    }
                }
                // Folders that deletions left empty go too (Git does not keep them).
                for op in &self.ops {
                    if let FileOp::Delete { path, .. } = op {
                        let mut dir = root.join(path);
                        while dir.pop() && dir != root && std::fs::remove_dir(&dir).is_ok() {}
                    }
                }
                Ok(())
            }
            Err(e) => {
                for (abs, backup) in done.into_iter().rev() {
                    match backup {
                        Some(b) => {
                            let _ = std::fs::rename(&b, &abs);
                        }
                        None => {
                            let _ = std::fs::remove_file(&abs);
                        }
                    }
                }
                Err(e)
            }
        }
    }
}

/// Moves an existing file to a hidden backup beside it; `None` when there was no file.
fn backup_aside(abs: &Path) -> Result<Option<PathBuf>, ApplyError> {
    if !abs.exists() {
        return Ok(None);
    }
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let backup = abs.with_file_name(format!(".{name}.gitops-migrate-backup"));
    std::fs::rename(abs, &backup).map_err(|source| ApplyError::Io {
        path: abs.display().to_string(),
        source,
    })?;
    Ok(Some(backup))
}

fn colorize(diff: &str) -> String {
    use crate::util::style::{diff as d, paint};
    let mut out = String::with_capacity(diff.len() + 64);
    for line in diff.split_inclusive('\n') {
        let style = if line.starts_with("+++") || line.starts_with("---") {
            Some(d::HEADER)
        } else if line.starts_with('+') {
            Some(d::ADDED)
        } else if line.starts_with('-') {
            Some(d::REMOVED)
        } else if line.starts_with("@@") {
            Some(d::HUNK)
        } else {
            None
        };
        match style {
            None => out.push_str(line),
            Some(style) => {
                let (text, nl) = line.strip_suffix('\n').map_or((line, ""), |t| (t, "\n"));
                out.push_str(&paint(style, text, true));
                out.push_str(nl);
            }
        }
    }
    out
}

/// Writes one file atomically (re-exported for stages that write outside a change set).
pub fn write_file(path: &Path, content: &str) -> Result<(), ApplyError> {
    atomic::write(path, content.as_bytes()).map_err(|source| ApplyError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.yaml"), "a: 1\n").unwrap();
        std::fs::write(root.join("gone.yaml"), "x: 1\n").unwrap();
        let mut c = ChangeSet::new();
        c.edit("a.yaml", "a: 1\n", "a: 2\n");
        c.create("new/b.yaml", "b: 1\n");
        c.delete("gone.yaml", "x: 1\n");
        let diff = c.diff(false);
        assert!(diff.contains("--- a/a.yaml\n+++ b/a.yaml\n"), "{diff}");
        assert!(diff.contains("--- /dev/null\n+++ b/new/b.yaml\n"), "{diff}");
        assert!(diff.contains("--- a/gone.yaml\n+++ /dev/null\n"), "{diff}");
        assert_eq!(c.line_counts(), (2, 2));
        c.apply(root).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("a.yaml")).unwrap(),
            "a: 2\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("new/b.yaml")).unwrap(),
            "b: 1\n"
        );
        assert!(!root.join("gone.yaml").exists());
        let left: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "no temporary or backup files: {left:?}");
    }

    #[test]
    fn refuses_when_a_file_changed_since_planning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "a: changed\n").unwrap();
        let mut c = ChangeSet::new();
        c.edit("a.yaml", "a: 1\n", "a: 2\n");
        c.create("b.yaml", "b: 1\n");
        assert!(matches!(
            c.apply(dir.path()),
            Err(ApplyError::Conflict { .. })
        ));
        assert!(!dir.path().join("b.yaml").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.yaml")).unwrap(),
            "a: changed\n"
        );
    }

    #[test]
    fn a_failure_part_way_puts_everything_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.yaml"), "a: 1\n").unwrap();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/gone.yaml"), "x: 1\n").unwrap();
        let mut c = ChangeSet::new();
        c.edit("a.yaml", "a: 1\n", "a: 2\n");
        c.delete("d/gone.yaml", "x: 1\n");
        // Deleting needs a backup beside the file; a read-only directory refuses it — except
        // for root, which this test may run as; then the failure is simulated by a directory
        // squatting on the backup's name.
        std::fs::create_dir(root.join("d/.gone.yaml.gitops-migrate-backup")).unwrap();
        std::fs::write(root.join("d/.gone.yaml.gitops-migrate-backup/x"), "").unwrap();
        assert!(c.apply(root).is_err());
        assert_eq!(
            std::fs::read_to_string(root.join("a.yaml")).unwrap(),
            "a: 1\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("d/gone.yaml")).unwrap(),
            "x: 1\n"
        );
    }

    #[test]
    fn an_edited_link_stays_a_link_and_its_target_takes_the_edit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("shared")).unwrap();
        std::fs::write(root.join("shared/common.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink("shared/common.yaml", root.join("a.yaml")).unwrap();
        let mut c = ChangeSet::new();
        c.edit("a.yaml", "a: 1\n", "a: 2\n");
        c.apply(root).unwrap();
        let link = std::fs::symlink_metadata(root.join("a.yaml")).unwrap();
        assert!(link.file_type().is_symlink(), "the link is kept");
        assert_eq!(
            std::fs::read_to_string(root.join("shared/common.yaml")).unwrap(),
            "a: 2\n"
        );
        let left: Vec<_> = std::fs::read_dir(root.join("shared"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary or backup files: {left:?}");
    }
}
