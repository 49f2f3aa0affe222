//! YAML files on disk: reading with clear errors, and writing atomically.
//!
//! Owns: the file behind a `Document` (path, permissions), refusing read-only files, and the
//! atomic write (a temporary file in the same directory, then a rename; permissions kept;
//! unchanged content not rewritten; a symbolic link written through to its target, so that
//! the link stays a link). Does not own: what the edit is.

use std::fs;
use std::io::Write;
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

/// The file a path finally names: symbolic links followed (relative targets from the link's
/// folder), up to 40 of them as the kernel does. A path that is not a link is itself.
pub fn link_target(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes `content` to `path` through a temporary file in the same directory and a rename,
/// keeping the permissions of the file it replaces. When `path` is a symbolic link, the
/// file it points to is replaced (in that file's directory) and the link is kept; messages
/// still name `path`.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), FileError> {
    let shown = path.display().to_string();
    let target = link_target(path).map_err(|source| FileError::Write {
        path: shown.clone(),
        source,
    })?;
    let path = target.as_path();
    let io = |source| FileError::Write {
        path: shown.clone(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let perms = fs::metadata(path).ok().map(|m| m.permissions());
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitops-migrate-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io)?;
    tmp.write_all(content).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    if let Some(perms) = perms {
        fs::set_permissions(tmp.path(), perms).map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
