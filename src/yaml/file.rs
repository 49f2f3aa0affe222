//! YAML files on disk: reading with clear errors, and writing atomically.
//!
//! Owns: the file behind a `Document` (path, permissions), refusing read-only files, and
//! saving it (unchanged content not rewritten). Does not own: what the edit is, or the atomic
//! write itself (`util::atomic`).

use std::fs;
use std::path::{Path, PathBuf};

use super::document::{CheckError, Document, SyntaxError};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {}", describe_io(.source))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot write: {}", describe_io(.source))]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not UTF-8 text")]
    NotUtf8 { path: String },
    #[error("{path}:{error}")]
    Syntax { path: String, error: SyntaxError },
    #[error("{path}:{error}")]
    Invalid { path: String, error: CheckError },
    #[error(
        "{path}: the editor cannot reproduce this file exactly, so it will not edit it: {error}"
    )]
    Unsafe { path: String, error: CheckError },
    #[error("{path}: the file is read-only; not modified")]
    ReadOnly { path: String },
}

impl FileError {
    /// Input errors (missing, unreadable, malformed) are usage errors for the CLI; a read-only
    /// file or a failed write is a refusal.
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self,
            FileError::ReadOnly { .. } | FileError::Write { .. } | FileError::Unsafe { .. }
        )
    }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a directory, not a file".into(),
        _ => e.to_string(),
    }
}

/// A YAML file loaded for reading or editing.
#[derive(Debug)]
pub struct YamlFile {
    pub path: PathBuf,
    pub doc: Document,
    original: String,
}

impl YamlFile {
    pub fn load(path: impl AsRef<Path>) -> Result<YamlFile, FileError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let bytes = fs::read(path).map_err(|source| FileError::Io {
            path: shown.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| FileError::NotUtf8 {
            path: shown.clone(),
        })?;
        let doc = Document::parse(text.clone())
            .map_err(|error| FileError::Syntax { path: shown, error })?;
        Ok(YamlFile {
            path: path.to_path_buf(),
            doc,
            original: text,
        })
    }

    pub fn changed(&self) -> bool {
        self.doc.text() != self.original
    }

    /// Refuses early when the file could not be written back.
    pub fn ensure_writable(&self) -> Result<(), FileError> {
        let meta = fs::metadata(&self.path).map_err(|source| FileError::Io {
            path: self.path.display().to_string(),
            source,
        })?;
        if meta.permissions().readonly() {
            return Err(FileError::ReadOnly {
                path: self.path.display().to_string(),
            });
        }
        Ok(())
    }

    /// Writes the document back if it changed; returns whether it wrote.
    pub fn save(&mut self) -> Result<bool, FileError> {
        if !self.changed() {
            return Ok(false);
        }
        self.ensure_writable()?;
        write_atomic(&self.path, self.doc.text().as_bytes())?;
        self.original = self.doc.text().to_string();
        Ok(true)
    }
}

/// Writes `content` to `path` atomically and durably (`util::atomic`: a symbolic link is
/// written through and kept); messages name `path`.
fn write_atomic(path: &Path, content: &[u8]) -> Result<(), FileError> {
    crate::util::atomic::write(path, content).map_err(|source| FileError::Write {
        path: path.display().to_string(),
        source,
    })
}
