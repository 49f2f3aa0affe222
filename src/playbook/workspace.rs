//! A stage's view of the repository while it plans: the files as loaded, with the edits the
//! stage has made so far layered on top. Every edit goes through the lossless editor and is
//! recorded in the stage's `ChangeSet`; nothing is written to disk here.

use std::path::Path;

use crate::change::ChangeSet;
use crate::repo::Files;
use crate::yaml::{Document, EditError};

/// A file edit that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {error}")]
pub struct WorkspaceError {
    pub file: String,
    pub error: String,
}

pub struct Workspace<'a> {
    root: &'a Path,
    files: &'a Files,
    pub changes: ChangeSet,
}

impl<'a> Workspace<'a> {
    pub fn new(root: &'a Path, files: &'a Files) -> Workspace<'a> {
        Workspace {
            root,
            files,
            changes: ChangeSet::new(),
        }
    }

    /// The file's original text: as loaded, else from disk (templates and other non-YAML).
    fn original(&self, rel: &str) -> Option<String> {
        match self.files.get(rel) {
            Some(l) => Some(l.text.clone()),
            None => std::fs::read_to_string(self.root.join(rel)).ok(),
        }
    }

    /// The file's text as the stage has left it so far (`None`: absent or deleted).
    pub fn text(&self, rel: &str) -> Option<String> {
        match self.changes.content(rel) {
            Some(after) => after.map(str::to_string),
            None => self.original(rel),
        }
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.text(rel).is_some()
    }

    /// Edits a YAML file with the lossless editor; `edit` returns whether it changed anything.
    pub fn edit(
        &mut self,
        rel: &str,
        edit: impl FnOnce(&mut Document) -> Result<bool, EditError>,
    ) -> Result<bool, WorkspaceError> {
        let err = |error: String| WorkspaceError {
            file: rel.to_string(),
            error,
        };
        let text = self.text(rel).ok_or_else(|| err("does not exist".into()))?;
        let mut doc = Document::parse(text.clone()).map_err(|e| err(e.to_string()))?;
        let changed = edit(&mut doc).map_err(|e| err(e.to_string()))?;
        if changed {
            self.record(rel, doc.text().to_string());
        }
        Ok(changed)
    }

    /// Replaces text in a file that is not YAML the editor reads (a Helm template).
    pub fn replace_text(&mut self, rel: &str, from: &str, to: &str) -> bool {
        let Some(text) = self.text(rel) else {
            return false;
        };
        if !text.contains(from) {
            return false;
        }
        self.record(rel, text.replace(from, to));
        true
    }

    fn record(&mut self, rel: &str, after: String) {
        if self.changes.content(rel).is_some() {
            // Already changed by this stage: the change set keeps the original.
            self.changes.edit(rel, String::new(), after);
            return;
        }
        match self.original(rel) {
            Some(before) => self.changes.edit(rel, before, after),
            None => self.changes.create(rel, after),
        }
    }

    /// Creates a file (its content must already be what the stage wants).
    pub fn create(&mut self, rel: &str, content: String) {
        self.changes.create(rel, content);
    }

    /// Deletes a file that exists.
    pub fn delete(&mut self, rel: &str) {
        if let Some(before) = self.original(rel) {
            self.changes.delete(rel, before);
        }
    }
}
