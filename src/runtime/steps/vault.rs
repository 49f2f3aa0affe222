//! The Vault steps. `vault-secret:nublado` (before `enable-v3`'s window) creates
//! `<vaultPathPrefix>/nublado` with what nublado v3 needs: generated `cryptkeeper_key`,
//! `crypto_key` and `proxy_token`, `hub_db_password` (generated for the in-cluster database,
//! or read from a file for an external one) and `slack_webhook` copied from mobu's secret.
//! Keys already there are kept; values are never printed, only key names.
//!
//! `vault-cleanup` (at `finish`) deletes the secrets of the v2 applications (`nublado2`,
//! `cachemachine`, `moneypenny`) under the prefix, with every version, each after saving a
//! copy of every version still readable (a deleted or destroyed one is listed as such) to a
//! local file readable by its owner only (0600).

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use super::{StepEnv, Timing, and_list, with_retries};
use crate::playbook::Step;
use crate::runtime::clients::ClientError;
use crate::runtime::clients::vault::{Read, VaultApi};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::rfc3339;

/// The generated keys of nublado v3's secret.
pub const GENERATED: [&str; 3] = ["cryptkeeper_key", "crypto_key", "proxy_token"];
pub const HUB_DB_PASSWORD: &str = "hub_db_password";
pub const SLACK_WEBHOOK: &str = "slack_webhook";
/// The v2 applications whose secrets `vault-cleanup` deletes.
pub const V2_APPS: [&str; 3] = ["nublado2", "cachemachine", "moneypenny"];

/// A key of a secret elsewhere in Vault: `secret/phalanx/idfdev/mobu#app-alert-webhook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKey {
    pub path: String,
    pub key: String,
}

impl SecretKey {
    /// `PATH#KEY`; a `PATH` without a mount (no `/`) is taken under `prefix`.
    pub fn parse(text: &str, prefix: &str) -> Option<SecretKey> {
        let (path, key) = text.trim().rsplit_once('#')?;
        let path = path.trim().trim_matches('/');
        if path.is_empty() || key.is_empty() {
            return None;
        }
        let path = if path.contains('/') {
            path.to_string()
        } else {
            format!("{}/{path}", prefix.trim_end_matches('/'))
        };
        Some(SecretKey {
            path,
            key: key.to_string(),
        })
    }

    /// mobu's `app-alert-webhook` under `prefix`.
    pub fn default_slack(prefix: &str) -> SecretKey {
        SecretKey {
            path: format!("{}/mobu", prefix.trim_end_matches('/')),
            key: "app-alert-webhook".into(),
        }
    }
}

impl std::fmt::Display for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.path, self.key)
    }
}

/// `n` random bytes from the kernel, as lowercase hex (`2n` characters).
pub fn random_hex(n: usize) -> Result<String, StepError> {
    let mut bytes = vec![0u8; n];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            StepError::fatal(format!("cannot read random bytes from /dev/urandom: {e}"))
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The CLI form of a KV path: `-mount=secret phalanx/idfdev/nublado`.
fn cli_path(path: &str) -> String {
    match crate::runtime::clients::vault::split_mount(path) {
        Some((mount, rest)) => format!("-mount={mount} {rest}"),
        None => path.to_string(),
    }
}

pub struct VaultSecret {
    id: String,
    title: String,
    /// `secret/phalanx/idfdev/nublado`.
    path: String,
    hub_db_password_file: Option<PathBuf>,
    slack: SecretKey,
    vault: Arc<dyn VaultApi>,
    timing: Timing,
}

/// What the secret lacks, found with reads only.
struct Missing {
    /// Keys to write, in order.
    keys: Vec<String>,
    /// Keys already there.
    present: Vec<String>,
    /// Why `slack_webhook` cannot be copied (its source is absent).
    slack_note: Option<String>,
}

impl VaultSecret {
    pub fn new(
        step: &Step,
        env: &StepEnv,
        app: &str,
        prefix: &str,
        vault: Arc<dyn VaultApi>,
    ) -> VaultSecret {
        let prefix = prefix.trim().trim_end_matches('/');
        VaultSecret {
            id: step.id.clone(),
            title: step.title.clone(),
            path: format!("{prefix}/{app}"),
            hub_db_password_file: env.hub_db_password_file.clone(),
            slack: env
                .slack_webhook_source
                .clone()
                .unwrap_or_else(|| SecretKey::default_slack(prefix)),
            vault,
            timing: env.timing.clone(),
        }
    }

    fn wanted() -> Vec<String> {
        GENERATED
            .iter()
            .chain(&[HUB_DB_PASSWORD, SLACK_WEBHOOK])
            .map(|k| k.to_string())
            .collect()
    }

    /// The webhook to copy, `None` when its source has no such key.
    fn slack_value(&self) -> Result<Option<String>, ClientError> {
        Ok(
            match with_retries(&self.timing, || self.vault.read(&self.slack.path))? {
                Read::Found(s) => s.data.get(&self.slack.key).and_then(|v| match v {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    _ => None,
                }),
                _ => None,
            },
        )
    }

    fn missing(&self) -> Result<Missing, StepError> {
        let existing = match with_retries(&self.timing, || self.vault.read(&self.path))? {
            Read::Found(s) => s.data.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let (present, mut keys): (Vec<String>, Vec<String>) = Self::wanted()
            .into_iter()
            .partition(|k| existing.contains(k));
        let mut slack_note = None;
        if keys.iter().any(|k| k == SLACK_WEBHOOK) && self.slack_value()?.is_none() {
            keys.retain(|k| k != SLACK_WEBHOOK);
            slack_note = Some(format!(
                "`{SLACK_WEBHOOK}` not set: its source {} is absent (set `slack_webhook_source` to copy it from elsewhere)",
                self.slack
            ));
        }
        Ok(Missing {
            keys,
            present,
            slack_note,
        })
    }

    fn source_of(&self, key: &str) -> String {
        match key {
            HUB_DB_PASSWORD => match &self.hub_db_password_file {
                Some(f) => format!("<read from {}>", f.display()),
                None => "<generated>".into(),
            },
            SLACK_WEBHOOK => format!("<copied from {}>", self.slack),
            _ => "<generated>".into(),
        }
    }

    fn hub_db_password(&self) -> Result<String, StepError> {
        match &self.hub_db_password_file {
            None => random_hex(32),
            Some(f) => {
                let text = std::fs::read_to_string(f).map_err(|e| {
                    StepError::fatal(format!(
                        "cannot read the hub database password from {}: {e}",
                        f.display()
                    ))
                })?;
                let pw = text.trim_end_matches(['\n', '\r']).to_string();
                if pw.trim().is_empty() {
                    return Err(StepError::fatal(format!(
                        "the hub database password file {} is empty",
                        f.display()
                    )));
                }
                Ok(pw)
            }
        }
    }
}

impl StepRunner for VaultSecret {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn preview(&self, op: &mut dyn Operator) -> Result<Preview, StepError> {
        let m = self.missing()?;
        if let Some(note) = &m.slack_note {
            op.say(note);
        }
        if m.keys.is_empty() {
            let mut reason = format!("{} already has {}", self.path, and_list(&m.present));
            if m.slack_note.is_some() {
                reason.push_str(&format!(
                    " (`{SLACK_WEBHOOK}` has no source: {} is absent)",
                    self.slack
                ));
            }
            return Ok(Preview {
                action: Action::Skip { reason },
                commands: Vec::new(),
            });
        }
        let verb = if m.present.is_empty() { "put" } else { "patch" };
        let pairs: Vec<String> = m
            .keys
            .iter()
            .map(|k| format!("{k}={}", self.source_of(k)))
            .collect();
        Ok(Preview {
            action: Action::Run {
                touches: m
                    .keys
                    .iter()
                    .map(|k| format!("vault:{}#{k}", self.path))
                    .collect(),
            },
            commands: vec![format!(
                "vault kv {verb} {} {}",
                cli_path(&self.path),
                pairs.join(" ")
            )],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let m = self.missing()?;
        let mut values = Vec::new();
        for k in &m.keys {
            let v = match k.as_str() {
                HUB_DB_PASSWORD => self.hub_db_password()?,
                SLACK_WEBHOOK => match self.slack_value()? {
                    Some(v) => v,
                    None => continue,
                },
                _ => random_hex(32)?,
            };
            values.push((k.clone(), v));
        }
        let added = with_retries(&self.timing, || self.vault.add_missing(&self.path, &values))?;
        let mut summary = if added.added.is_empty() {
            format!("{} already had every key", self.path)
        } else {
            format!(
                "wrote {} to {} (version {})",
                and_list(&added.added),
                self.path,
                added.version
            )
        };
        let mut kept = m.present.clone();
        kept.extend(added.kept.iter().cloned());
        if !kept.is_empty() {
            summary.push_str(&format!("; kept {}", and_list(&kept)));
        }
        if let Some(note) = &m.slack_note {
            op.say(note);
            summary.push_str(&format!("; {note}"));
        }
        Ok(Outcome {
            touched: added
                .added
                .iter()
                .map(|k| format!("vault:{}#{k}", self.path))
                .collect(),
            summary,
        })
    }
}

pub struct VaultCleanup {
    id: String,
    title: String,
    prefix: String,
    backup_dir: PathBuf,
    vault: Arc<dyn VaultApi>,
    timing: Timing,
}

impl VaultCleanup {
    pub fn new(
        step: &Step,
        env: &StepEnv,
        prefix: &str,
        backup_dir: &Path,
        vault: Arc<dyn VaultApi>,
    ) -> VaultCleanup {
        VaultCleanup {
            id: step.id.clone(),
            title: step.title.clone(),
            prefix: prefix.trim().trim_end_matches('/').to_string(),
            backup_dir: backup_dir.to_path_buf(),
            vault,
            timing: env.timing.clone(),
        }
    }

    /// The v2 applications that have a secret under the prefix.
    fn present(&self) -> Result<Vec<String>, StepError> {
        let names = with_retries(&self.timing, || self.vault.list(&self.prefix))?;
        Ok(V2_APPS
            .iter()
            .filter(|a| names.iter().any(|n| n == *a))
            .map(|a| a.to_string())
            .collect())
    }

    /// Saves every version of `path` to a new 0600 file; returns the file and how many
    /// versions it holds with their data.
    fn save(&self, path: &str) -> Result<(PathBuf, usize, usize), StepError> {
        let versions = with_retries(&self.timing, || self.vault.versions(path))?;
        let mut saved = Vec::new();
        let mut readable = 0;
        for v in &versions {
            let data = if v.destroyed || v.deleted.is_some() {
                Value::Null
            } else {
                match with_retries(&self.timing, || self.vault.read_version(path, v.version))? {
                    Read::Found(s) => {
                        readable += 1;
                        Value::Object(s.data)
                    }
                    Read::Deleted { .. } | Read::Absent => Value::Null,
                }
            };
            saved.push(json!({
                "version": v.version,
                "created": v.created,
                "deleted": v.deleted,
                "destroyed": v.destroyed,
                "data": data,
            }));
        }
        let text = serde_json::to_string_pretty(&json!({
            "vault": self.vault.base_url(),
            "path": path,
            "saved": rfc3339(std::time::SystemTime::now()),
            "versions": saved,
        }))
        .unwrap_or_default();
        let stem = format!("vault-{}", path.replace('/', "_"));
        let saved = create_private(&self.backup_dir, &stem, "json").and_then(|(file, mut f)| {
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            Ok(file)
        });
        let file = saved.map_err(|e| {
            StepError::fatal(format!(
                "cannot save a copy of {path} in {}: {e} (nothing was deleted)",
                self.backup_dir.display()
            ))
        })?;
        Ok((file, readable, versions.len()))
    }
}

/// Creates a new file `<dir>/<stem>-<time>.<ext>` (with `-2`, `-3`, … when that name is
/// taken), readable and writable by its owner only (0600); `dir` is created (0700) if needed.
pub fn create_private(dir: &Path, stem: &str, ext: &str) -> std::io::Result<(PathBuf, File)> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let stamp = rfc3339(std::time::SystemTime::now()).replace(':', "");
    let mut n = 1;
    loop {
        let name = if n == 1 {
            format!("{stem}-{stamp}.{ext}")
        } else {
            format!("{stem}-{stamp}-{n}.{ext}")
        };
        let path = dir.join(name);
        match File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

impl StepRunner for VaultCleanup {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn destructive(&self) -> bool {
        true
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let present = self.present()?;
        if present.is_empty() {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "no secret of {} under {}",
                        and_list(&V2_APPS.map(String::from)),
                        self.prefix
                    ),
                },
                commands: Vec::new(),
            });
        }
        let mut commands = Vec::new();
        for app in &present {
            let path = format!("{}/{app}", self.prefix);
            commands.push(format!(
                "vault kv metadata get {p}; for each version N: vault kv get -format=json -version=N {p} >> {} (chmod 600)",
                self.backup_dir
                    .join(format!("vault-{}-<time>.json", path.replace('/', "_")))
                    .display(),
                p = cli_path(&path),
            ));
            commands.push(format!("vault kv metadata delete {}", cli_path(&path)));
        }
        Ok(Preview {
            action: Action::Run {
                touches: present
                    .iter()
                    .map(|a| format!("vault:{}/{a}", self.prefix))
                    .collect(),
            },
            commands,
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let present = self.present()?;
        let mut touched = Vec::new();
        let mut saved = Vec::new();
        for app in &present {
            let path = format!("{}/{app}", self.prefix);
            let (file, readable, all) = self.save(&path)?;
            op.say(&format!(
                "saved a copy of {path} ({readable} of its {all} versions readable, every one listed) to {} (0600)",
                file.display()
            ));
            with_retries(&self.timing, || self.vault.delete_all(&path))?;
            touched.push(format!("vault:{path}"));
            saved.push(format!("{path} → {}", file.display()));
        }
        let summary = if saved.is_empty() {
            format!("no v2 secret left under {}", self.prefix)
        } else {
            format!(
                "deleted every version of {} after saving copies ({})",
                and_list(&touched),
                saved.join("; ")
            )
        };
        Ok(Outcome { touched, summary })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_parse_with_or_without_a_mount() {
        let p = "secret/phalanx/idfdev";
        assert_eq!(
            SecretKey::parse("mobu#app-alert-webhook", p),
            Some(SecretKey::default_slack(p))
        );
        assert_eq!(
            SecretKey::parse("secret/phalanx/shared/slack#hook", p)
                .unwrap()
                .to_string(),
            "secret/phalanx/shared/slack#hook"
        );
        assert_eq!(SecretKey::parse("mobu", p), None);
        assert_eq!(SecretKey::parse("#k", p), None);
    }

    #[test]
    fn random_values_are_64_hex_characters_and_differ() {
        let a = random_hex(32).unwrap();
        let b = random_hex(32).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
