//! The configuration file as a toml_edit document: loading (a missing file is an empty
//! configuration), reading a key's value, setting one so that comments, order and formatting
//! survive, and the atomic save.
//!
//! Does not own: the schema (`schema`) or defaults and resolution (`resolve`).

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

use super::schema::{Key, Kind, check, check_value, line_col};
use super::{ConfigError, FILE_NAME};

/// The comment a new file starts with.
const HEADER: &str = "# gitops-migrate configuration: the kube context and service endpoints of each\n\
# environment (and cluster). Tokens are never stored here: name the environment\n\
# variables (or files) that hold them. See `gitops-migrate config --help`.\n";

/// The configuration file, parsed for lookups and kept as a toml_edit document for edits.
#[derive(Debug, Clone)]
pub struct Config {
    pub(super) path: PathBuf,
    pub(super) exists: bool,
    pub(super) doc: DocumentMut,
}

impl Config {
    /// `--config FILE`, else `<root>/gitops-migrate.toml`.
    pub fn path_for(root: &Path, explicit: Option<&Path>) -> PathBuf {
        explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.join(FILE_NAME))
    }

    /// Reads and checks the file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config {
                    path: path.to_path_buf(),
                    exists: false,
                    doc: DocumentMut::new(),
                });
            }
            Err(e) => {
                return Err(ConfigError::Io {
                    path: shown,
                    message: e.to_string(),
                });
            }
        };
        Config::parse(path, &text)
    }

    /// Parses and checks `text` as the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let spanned = toml_edit::Document::parse(text.to_string()).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: shown.clone(),
                line,
                col,
                message: e.message().trim().to_string(),
            }
        })?;
        check(&shown, text, spanned.as_table())?;
        Ok(Config {
            path: path.to_path_buf(),
            exists: true,
            doc: spanned.into_mut(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The file's text as it would be saved.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// The value set in the file for a key.
    pub fn get(&self, key: &Key) -> Option<String> {
        self.doc
            .get(key.section)
            .and_then(Item::as_table_like)
            .and_then(|t| t.get(&key.name))
            .and_then(Item::as_table_like)
            .and_then(|t| t.get(key.field))
            .and_then(|v| match v.as_integer() {
                Some(n) => Some(n.to_string()),
                None => v.as_str().map(str::to_string),
            })
    }

    /// Sets a key, keeping everything else (comments, order, the value's own trailing
    /// comment); creates the tables it needs.
    pub fn set(&mut self, key: &Key, value: &str) -> Result<(), ConfigError> {
        let value = check_value(key, value).map_err(|reason| ConfigError::BadValue {
            key: key.to_string(),
            reason,
            at: None,
        })?;
        let new_file = !self.exists && self.doc.as_table().is_empty();
        let root = self.doc.as_table_mut();
        let section = root.entry(key.section).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        let section = section
            .as_table_like_mut()
            .ok_or_else(|| not_a_table(key.section))?;
        let created = !section.contains_key(&key.name);
        let entry = section
            .entry(&key.name)
            .or_insert_with(|| Item::Table(Table::new()));
        if created
            && new_file
            && let Some(t) = entry.as_table_mut()
        {
            t.decor_mut().set_prefix(format!("{HEADER}\n"));
        }
        let table = entry
            .as_table_like_mut()
            .ok_or_else(|| not_a_table(&format!("{}.{}", key.section, key.name)))?;
        let new_value = || match key.kind() {
            Kind::Millis | Kind::Seconds => value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(value.as_str())),
            _ => Value::from(value.as_str()),
        };
        match table.get_mut(key.field) {
            Some(item) if item.is_value() => {
                let decor = item.as_value().map(|v| v.decor().clone());
                let mut v = new_value();
                if let Some(d) = decor {
                    *v.decor_mut() = d;
                }
                *item = Item::Value(v);
            }
            _ => {
                table.insert(key.field, Item::Value(new_value()));
            }
        }
        Ok(())
    }

    /// Writes the file atomically and durably (`util::atomic`).
    pub fn save(&mut self) -> Result<(), ConfigError> {
        let text = self.text();
        crate::util::atomic::write(&self.path, text.as_bytes()).map_err(|e| ConfigError::Io {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        self.exists = true;
        Ok(())
    }
}

fn not_a_table(what: &str) -> ConfigError {
    ConfigError::BadValue {
        key: what.to_string(),
        reason: "is a value in the file, not a table; fix the file by hand".into(),
        at: None,
    }
}
