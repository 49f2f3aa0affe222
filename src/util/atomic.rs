//! Atomic, durable file writes: the new content goes to a temporary file in the target's own
//! directory, is flushed to disk (`fsync`), takes the permissions of the file it replaces, and
//! is renamed over the target; the directory is flushed after the rename so that the rename
//! itself survives a crash. A reader sees the old file or the new one, never a mixture, and a
//! crash never leaves the target empty. A symbolic link is written through: the file it names
//! is replaced and the link stays a link.
//!
//! [`write`] does it in one call. [`Staged`] splits it in two, for a set of files written all
//! or nothing (`change::ChangeSet::apply`): every file is staged (written and flushed beside
//! its target) before any target is replaced.
//!
//! Owns: the temporary file, the flushes, permissions and links. Does not own: what is written
//! or how errors are shown (callers wrap the `io::Error` with their own path).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The prefix of temporary files, so that a stray one is recognisable.
const PREFIX: &str = ".gitops-migrate-";

/// Writes `content` to `path` atomically and durably (see the module's comment).
pub fn write(path: &Path, content: &[u8]) -> io::Result<()> {
    Staged::new(path, content)?.commit()
}

/// A file written and flushed beside its target, not yet renamed over it. Dropped without
/// [`Staged::commit`], the temporary file is removed and the target is untouched.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    /// The file finally replaced (the target of a symbolic link).
    target: PathBuf,
}

impl Staged {
    /// Writes `content` to a temporary file in the directory of `path` (of the file it names,
    /// for a link), flushed, with the permissions of the file it will replace.
    pub fn new(path: &Path, content: &[u8]) -> io::Result<Staged> {
        let target = link_target(path)?;
        let dir = directory_of(&target);
        let mut tmp = tempfile::Builder::new()
            .prefix(PREFIX)
            .suffix(".tmp")
            .tempfile_in(&dir)?;
        tmp.write_all(content)?;
        if let Ok(meta) = fs::metadata(&target) {
            fs::set_permissions(tmp.path(), meta.permissions())?;
        }
        tmp.as_file().sync_all()?;
        Ok(Staged { tmp, target })
    }

    /// The file this will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the staged file over its target, then flushes the directory.
    pub fn commit(self) -> io::Result<()> {
        let dir = directory_of(&self.target);
        self.tmp.persist(&self.target).map_err(|e| e.error)?;
        sync_dir(&dir)
    }
}

/// Flushes a directory's entries (a rename, a new or removed file) to disk. Platforms whose
/// directories cannot be opened for this are left to the file system.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The directory a file is in (`.` for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The file a path finally names: symbolic links followed (relative targets from the link's
/// folder), up to 40 of them as the kernel does. A path that is not a link is itself.
pub fn link_target(path: &Path) -> io::Result<PathBuf> {
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
    Err(io::Error::other("too many levels of symbolic links"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn replaces_the_content_and_keeps_the_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.yaml");
        fs::write(&f, "old\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        write(&f, b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "new\n");
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_link_stays_a_link_and_its_target_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/values.yaml");
        fs::write(&real, "a: 1\n").unwrap();
        let link = dir.path().join("values.yaml");
        std::os::unix::fs::symlink("real/values.yaml", &link).unwrap();
        write(&link, b"a: 2\n").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "a: 2\n");
    }

    #[test]
    fn a_staged_file_dropped_uncommitted_leaves_the_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.yaml");
        fs::write(&f, "old\n").unwrap();
        let staged = Staged::new(&f, b"new\n").unwrap();
        assert_eq!(staged.target(), f.as_path());
        drop(staged);
        assert_eq!(fs::read_to_string(&f).unwrap(), "old\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("missing/a.yaml");
        let e = write(&f, b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(!f.exists());
    }

    #[test]
    fn a_link_loop_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let e = write(&a, b"x").unwrap_err();
        assert!(e.to_string().contains("symbolic links"), "{e}");
    }
}
