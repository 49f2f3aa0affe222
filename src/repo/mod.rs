//! What a repository is: its kind, detected from its layout, and the model loaded from its
//! files. `phalanx` reads a Phalanx repository (environments, applications, values files) and
//! `nublado` the nublado model over it (each environment's migration state, the hubs' routes,
//! lab volumes and databases, mobu's flocks); `infra` reads a 2i2c-style infrastructure
//! repository (clusters and their hubs).
//!
//! Owns: detection, loading, and the errors that mean "this repository cannot be read".
//! Does not own: judging the files (`validate`) or changing them (`playbook`). Helm and
//! Jinja templates are never parsed.

pub mod files;
pub mod infra;
pub mod nublado;
pub mod phalanx;

use std::path::{Path, PathBuf};

pub use files::{Files, Loaded};
pub use infra::Infrastructure;
pub use phalanx::Phalanx;

use crate::yaml::{Document, Node, Path as YamlPath};

/// Why a repository cannot be read. Each is an input error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(
        "{}: not a known repository kind: expected a Phalanx repository (environments/ and applications/) or an infrastructure repository (config/clusters/*/cluster.yaml)",
        .root.display()
    )]
    Unknown { root: PathBuf },
    #[error("{}: no such directory", .root.display())]
    Missing { root: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {message}")]
    Malformed {
        path: String,
        line: usize,
        col: usize,
        message: String,
    },
}

/// The kinds of repository the tool knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Phalanx,
    Infrastructure,
}

/// A loaded repository.
#[derive(Debug)]
pub enum Repo {
    Phalanx(Phalanx),
    Infrastructure(Infrastructure),
}

impl Repo {
    pub fn files(&self) -> &Files {
        match self {
            Repo::Phalanx(p) => &p.files,
            Repo::Infrastructure(i) => &i.files,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Repo::Phalanx(_) => Kind::Phalanx,
            Repo::Infrastructure(_) => Kind::Infrastructure,
        }
    }
}

/// Which kind of repository `root` is.
pub fn detect(root: &Path) -> Result<Kind, RepoError> {
    if !root.is_dir() {
        return Err(RepoError::Missing {
            root: root.to_path_buf(),
        });
    }
    if root.join("environments").is_dir() && root.join("applications").is_dir() {
        return Ok(Kind::Phalanx);
    }
    let clusters = root.join("config/clusters");
    if clusters.is_dir()
        && std::fs::read_dir(&clusters)
            .map_err(|source| RepoError::Unreadable {
                path: "config/clusters".into(),
                source,
            })?
            .flatten()
            .any(|e| e.path().join("cluster.yaml").is_file())
    {
        return Ok(Kind::Infrastructure);
    }
    Err(RepoError::Unknown {
        root: root.to_path_buf(),
    })
}

/// Detects and loads the repository at `root`.
pub fn open(root: &Path) -> Result<Repo, RepoError> {
    match detect(root)? {
        Kind::Phalanx => Phalanx::load(root).map(Repo::Phalanx),
        Kind::Infrastructure => Infrastructure::load(root).map(Repo::Infrastructure),
    }
}

/// The node at a PATH written as text (`jupyterhub.hub.baseUrl`) in the first document.
pub fn lookup<'d>(doc: &'d Document, path: &str) -> Option<&'d Node> {
    let path = YamlPath::parse(path).ok()?;
    doc.get(0, &path).ok()
}

/// The string value of a scalar at a PATH.
pub fn lookup_str(doc: &Document, path: &str) -> Option<String> {
    lookup(doc, path).and_then(|n| n.scalar_text().map(str::to_string))
}
