//! The YAML files of a repository, read and parsed once (in parallel), keyed by their path
//! relative to the repository root with `/` separators.
//!
//! Owns: finding YAML files (skipping `templates/` folders, where Helm and Jinja templates
//! live, and hidden folders), reading them, and keeping each file's text with its parse result
//! so that every later step (model, rules, status) shares one parse. Does not own: what the
//! files mean (`phalanx.rs`, `infra.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::RepoError;
use crate::yaml::{CheckError, Document};

/// One YAML file: its text and either its document or why it cannot be read as YAML.
#[derive(Debug)]
pub struct Loaded {
    pub rel: String,
    pub text: String,
    pub doc: Result<Document, CheckError>,
}

impl Loaded {
    pub fn doc(&self) -> Option<&Document> {
        self.doc.as_ref().ok()
    }
}

/// Every YAML file loaded for a repository.
#[derive(Debug, Default)]
pub struct Files {
    root: PathBuf,
    files: BTreeMap<String, Loaded>,
}

impl Files {
    /// Reads and parses the files (paths relative to `root`). A file that cannot be read is an
    /// error; a file that is not valid YAML is kept, with its error, for the rules to report.
    pub fn load(root: &Path, rels: Vec<String>) -> Result<Files, RepoError> {
        let loaded: Vec<Result<Loaded, RepoError>> = rels
            .into_par_iter()
            .map(|rel| {
                let abs = root.join(&rel);
                let bytes = std::fs::read(&abs).map_err(|source| RepoError::Unreadable {
                    path: rel.clone(),
                    source,
                })?;
                let Ok(text) = String::from_utf8(bytes) else {
                    return Ok(Loaded {
                        rel,
                        text: String::new(),
                        doc: Err(CheckError {
                            at: None,
                            message: "not UTF-8 text".into(),
                            syntax: true,
                            libyaml: None,
                        }),
                    });
                };
                let doc = Document::parse(text.clone())
                    .map_err(CheckError::from)
                    .and_then(|d| d.check().map(|()| d));
                Ok(Loaded { rel, text, doc })
            })
            .collect();
        let mut files = BTreeMap::new();
        for l in loaded {
            let l = l?;
            files.insert(l.rel.clone(), l);
        }
        Ok(Files {
            root: root.to_path_buf(),
            files,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn get(&self, rel: &str) -> Option<&Loaded> {
        self.files.get(rel)
    }

    /// The document of a file that exists and parses.
    pub fn doc(&self, rel: &str) -> Option<&Document> {
        self.files.get(rel).and_then(Loaded::doc)
    }

    pub fn contains(&self, rel: &str) -> bool {
        self.files.contains_key(rel)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Loaded> {
        self.files.values()
    }

    /// The files under a folder (relative path prefix ending in `/`).
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a Loaded> + 'a {
        self.files
            .range(dir.to_string()..)
            .take_while(move |(k, _)| k.starts_with(dir))
            .map(|(_, v)| v)
    }
}

/// The `.yaml`/`.yml` files below `dir` (relative to `root`), as sorted relative paths,
/// skipping `templates/` and hidden folders.
pub fn yaml_files(root: &Path, dir: &str) -> Result<Vec<String>, RepoError> {
    let start = root.join(dir);
    if !start.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(&start)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.depth() > 0
                && e.file_type().is_dir()
                && (name == "templates" || name.starts_with('.')))
        });
    for entry in walker {
        let entry = entry.map_err(|e| RepoError::Unreadable {
            path: e
                .path()
                .and_then(|p| p.strip_prefix(root).ok())
                .map_or_else(|| dir.to_string(), |p| p.display().to_string()),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("walk failed")),
        })?;
        let name = entry.file_name().to_string_lossy();
        // A symlinked file counts (a dangling one is then reported as unreadable).
        let file_like = entry.file_type().is_file()
            || (entry.file_type().is_symlink() && !entry.path().is_dir());
        if file_like && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            out.push(relative(root, entry.path()));
        }
    }
    Ok(out)
}

/// `path` relative to `root`, with `/` separators.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
