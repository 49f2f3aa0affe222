//! The configuration's schema: every key of `[environments.<env>]` and `[clusters.<cluster>]`
//! with its kind and help text, parsing a dotted key, checking (and normalizing) a value, and
//! checking a loaded file against the schema with each mistake's line.
//!
//! Does not own: reading or editing the file (`file`), or what a key resolves to (`resolve`).

use toml_edit::Table;

use super::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A kube context name.
    Context,
    /// An `http(s)://` URL.
    Url,
    /// The name of an environment variable.
    EnvVar,
    /// A file path.
    File,
    /// Any non-empty text.
    Text,
    /// A whole number of milliseconds, from 1 to 3,600,000 (an integer, or its digits).
    Millis,
    /// A whole number of seconds, from 1 to 3600.
    Seconds,
    /// A Kubernetes UID (hex digits and dashes).
    Uid,
}

struct Field {
    name: &'static str,
    kind: Kind,
    about: &'static str,
}

const ENV_FIELDS: &[Field] = &[
    Field {
        name: "context",
        kind: Kind::Context,
        about: "kube context of the environment's cluster (no default)",
    },
    Field {
        name: "api_server",
        kind: Kind::Url,
        about: "the API server of the environment's cluster (recorded by the first window run)",
    },
    Field {
        name: "cluster_uid",
        kind: Kind::Uid,
        about: "UID of that cluster's kube-system namespace: its fingerprint (recorded by the first window run)",
    },
    Field {
        name: "lease_seconds",
        kind: Kind::Seconds,
        about: "how long a window's lease in the cluster outlives its last renewal (default 60)",
    },
    Field {
        name: "argocd_url",
        kind: Kind::Url,
        about: "Argo CD (default https://<fqdn>/argo-cd)",
    },
    Field {
        name: "mobu_url",
        kind: Kind::Url,
        about: "mobu (default https://<fqdn>/mobu)",
    },
    Field {
        name: "vault_url",
        kind: Kind::Url,
        about: "Vault (default: vaultUrl of the environment file)",
    },
    Field {
        name: "vault_path_prefix",
        kind: Kind::Text,
        about: "Vault path prefix with its mount (default: vaultPathPrefix of the environment file)",
    },
    Field {
        name: "health_url",
        kind: Kind::Url,
        about: "where the hubs' health is checked: <health_url><route>/hub/health (default https://<fqdn>)",
    },
    Field {
        name: "argocd_ca_file",
        kind: Kind::File,
        about: "PEM file of the CA(s) trusted for Argo CD instead of the system's trust store (a site CA, a TLS-inspecting proxy)",
    },
    Field {
        name: "mobu_ca_file",
        kind: Kind::File,
        about: "PEM file of the CA(s) trusted for mobu instead of the system's trust store",
    },
    Field {
        name: "vault_ca_file",
        kind: Kind::File,
        about: "PEM file of the CA(s) trusted for Vault instead of the system's trust store",
    },
    Field {
        name: "health_ca_file",
        kind: Kind::File,
        about: "PEM file of the CA(s) trusted for the hubs' health checks instead of the system's trust store",
    },
    Field {
        name: "poll_interval_ms",
        kind: Kind::Millis,
        about: "ms between two polls of a state being waited for (default 2000; tests shorten it)",
    },
    Field {
        name: "sync_settle_ms",
        kind: Kind::Millis,
        about: "ms an application must stay Synced and Healthy after a sync (default 20000; tests shorten it)",
    },
    Field {
        name: "argocd_token_env",
        kind: Kind::EnvVar,
        about: "variable holding the Argo CD token (default ARGOCD_TOKEN)",
    },
    Field {
        name: "mobu_token_env",
        kind: Kind::EnvVar,
        about: "variable holding the mobu (Gafaelfawr) token (default MOBU_TOKEN)",
    },
    Field {
        name: "vault_token_env",
        kind: Kind::EnvVar,
        about: "variable holding the Vault token (default VAULT_TOKEN)",
    },
    Field {
        name: "hub_db_password_file",
        kind: Kind::File,
        about: "file holding nublado v3's database password (an external database); generated when unset",
    },
    Field {
        name: "slack_webhook_source",
        kind: Kind::Text,
        about: "Vault secret and key the Slack webhook is copied from, PATH#KEY (default mobu#app-alert-webhook)",
    },
    Field {
        name: "postgres_admin_url",
        kind: Kind::Text,
        about: "postgresql:// URL (no password) of the server running v2's database, for finish's cleanup",
    },
    Field {
        name: "postgres_password_env",
        kind: Kind::EnvVar,
        about: "variable holding that server's password (default PGPASSWORD)",
    },
    Field {
        name: "postgres_password_file",
        kind: Kind::File,
        about: "file holding that password, when its variable is not set",
    },
    Field {
        name: "argocd_token_file",
        kind: Kind::File,
        about: "file holding the Argo CD token, when its variable is not set",
    },
    Field {
        name: "mobu_token_file",
        kind: Kind::File,
        about: "file holding the mobu token, when its variable is not set",
    },
    Field {
        name: "vault_token_file",
        kind: Kind::File,
        about: "file holding the Vault token, when its variable is not set",
    },
];

const CLUSTER_FIELDS: &[Field] = &[
    Field {
        name: "context",
        kind: Kind::Context,
        about: "kube context of the cluster (for the hub move)",
    },
    Field {
        name: "api_server",
        kind: Kind::Url,
        about: "the cluster's API server (recorded by the first window run)",
    },
    Field {
        name: "cluster_uid",
        kind: Kind::Uid,
        about: "UID of the cluster's kube-system namespace: its fingerprint (recorded by the first window run)",
    },
    Field {
        name: "lease_seconds",
        kind: Kind::Seconds,
        about: "how long a window's lease in the cluster outlives its last renewal (default 60)",
    },
    Field {
        name: "homes",
        kind: Kind::Text,
        about: "directory holding each hub's home directories (<homes>/<hub>), local or host:path",
    },
    Field {
        name: "poll_interval_ms",
        kind: Kind::Millis,
        about: "pause between two polls of a state being waited for (default 2000)",
    },
];

/// Every key, one per line, with what it is.
pub fn known_keys() -> String {
    let mut s = String::new();
    for f in ENV_FIELDS {
        s.push_str(&format!(
            "  environments.<env>.{:<19} {}\n",
            f.name, f.about
        ));
    }
    for f in CLUSTER_FIELDS {
        s.push_str(&format!(
            "  clusters.<cluster>.{:<19} {}\n",
            f.name, f.about
        ));
    }
    s.trim_end().to_string()
}

/// A configuration key: `environments.<env>.<field>` or `clusters.<cluster>.<field>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `environments` or `clusters`.
    pub section: &'static str,
    pub name: String,
    pub field: &'static str,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.section, self.name, self.field)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Key {
    pub fn parse(key: &str) -> Result<Key, ConfigError> {
        let bad = |hint: Option<String>| ConfigError::BadKey {
            key: key.to_string(),
            hint,
            at: None,
        };
        let parts: Vec<&str> = key.split('.').collect();
        if parts.len() != 3 {
            return Err(bad(None));
        }
        let (section, fields): (&'static str, &[Field]) = match parts[0] {
            "environments" => ("environments", ENV_FIELDS),
            "clusters" => ("clusters", CLUSTER_FIELDS),
            other => {
                let hint = crate::util::suggest::closest(other, ["environments", "clusters"])
                    .map(|c| format!("did you mean `{c}`?"));
                return Err(bad(hint));
            }
        };
        if !valid_name(parts[1]) {
            return Err(bad(None));
        }
        let Some(field) = fields.iter().find(|f| f.name == parts[2]) else {
            let hint = if parts[2].ends_with("_token") || parts[2] == "token" {
                Some(format!(
                    "tokens are never stored in the configuration or given as arguments: name the environment variable that holds it with `{}_env`",
                    parts[2]
                ))
            } else {
                crate::util::suggest::closest(parts[2], fields.iter().map(|f| f.name))
                    .map(|c| format!("did you mean `{c}`?"))
            };
            return Err(bad(hint));
        };
        Ok(Key {
            section,
            name: parts[1].to_string(),
            field: field.name,
        })
    }

    pub(super) fn kind(&self) -> Kind {
        let fields = if self.section == "environments" {
            ENV_FIELDS
        } else {
            CLUSTER_FIELDS
        };
        fields
            .iter()
            .find(|f| f.name == self.field)
            .map(|f| f.kind)
            .unwrap_or(Kind::Text)
    }
}

/// The longest interval a `…_ms` key takes (an hour).
const MAX_MILLIS: u64 = 3_600_000;

/// Checks (and normalizes) a value for a key.
pub(super) fn check_value(key: &Key, value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("the value is empty".into());
    }
    match key.kind() {
        Kind::Url => {
            if !(v.starts_with("https://") || v.starts_with("http://"))
                || v.contains(char::is_whitespace)
            {
                return Err(format!("`{v}` is not an http(s):// URL"));
            }
            Ok(v.trim_end_matches('/').to_string())
        }
        Kind::EnvVar => {
            let ok = v.len() <= 64
                && v.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if ok {
                Ok(v.to_string())
            } else {
                Err("this is not the name of an environment variable (upper-case letters, digits and `_`); name the variable that holds the token, never the token itself".into())
            }
        }
        Kind::Millis => match v.parse::<u64>() {
            Ok(ms) if (1..=MAX_MILLIS).contains(&ms) => Ok(ms.to_string()),
            _ => Err(format!(
                "`{v}` is not a number of milliseconds from 1 to {MAX_MILLIS}"
            )),
        },
        Kind::Seconds => match v.parse::<u64>() {
            Ok(s) if (1..=3600).contains(&s) => Ok(s.to_string()),
            _ => Err(format!("`{v}` is not a number of seconds from 1 to 3600")),
        },
        Kind::Uid => {
            if v.len() >= 8 && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                Ok(v.to_ascii_lowercase())
            } else {
                Err(format!(
                    "`{v}` is not a Kubernetes UID (`kubectl get namespace kube-system -o jsonpath='{{.metadata.uid}}'`)"
                ))
            }
        }
        Kind::Context | Kind::Text | Kind::File => {
            if v.contains(['\n', '\r']) {
                Err("the value spans lines".into())
            } else {
                Ok(v.to_string())
            }
        }
    }
}

/// The static field name for a computed one (every field is in the tables above).
pub(super) fn field_name(name: &str) -> &'static str {
    ENV_FIELDS
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.name)
        .expect("a known field")
}

/// 1-based line and column of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

/// Unknown sections, fields and bad values in a loaded file are errors, with their line.
pub(super) fn check(shown: &str, text: &str, root: &Table) -> Result<(), ConfigError> {
    let at = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| format!("{shown}:{}", line_col(text, s.start).0))
            .or_else(|| Some(shown.to_string()))
    };
    for (section_key, section) in root.iter() {
        let key_span = root.key(section_key).and_then(|k| k.span());
        let fields = match section_key {
            "environments" => ENV_FIELDS,
            "clusters" => CLUSTER_FIELDS,
            other => {
                return Err(ConfigError::BadKey {
                    key: other.to_string(),
                    hint: crate::util::suggest::closest(other, ["environments", "clusters"])
                        .map(|c| format!("did you mean `{c}`?")),
                    at: at(key_span.or_else(|| section.span())),
                });
            }
        };
        let Some(section) = section.as_table_like() else {
            return Err(ConfigError::BadValue {
                key: section_key.to_string(),
                reason: "must be a table of names".into(),
                at: at(key_span),
            });
        };
        for (name, entry) in section.iter() {
            let name_span = section.key(name).and_then(|k| k.span());
            let Some(entry) = entry.as_table_like() else {
                return Err(ConfigError::BadValue {
                    key: format!("{section_key}.{name}"),
                    reason: "must be a table".into(),
                    at: at(name_span),
                });
            };
            for (field, value) in entry.iter() {
                let full = format!("{section_key}.{name}.{field}");
                let span = entry
                    .key(field)
                    .and_then(|k| k.span())
                    .or_else(|| name_span.clone());
                let key = match Key::parse(&full) {
                    Ok(k) => k,
                    Err(ConfigError::BadKey { key, hint, .. }) => {
                        return Err(ConfigError::BadKey {
                            key,
                            hint,
                            at: at(span),
                        });
                    }
                    Err(e) => return Err(e),
                };
                debug_assert!(fields.iter().any(|f| f.name == key.field));
                let number = value
                    .as_integer()
                    .filter(|_| matches!(key.kind(), Kind::Millis | Kind::Seconds))
                    .map(|n| n.to_string());
                let Some(v) = number.as_deref().or_else(|| value.as_str()) else {
                    return Err(ConfigError::BadValue {
                        key: full,
                        reason: if key.kind() == Kind::Millis {
                            "must be a whole number of milliseconds".into()
                        } else if key.kind() == Kind::Seconds {
                            "must be a whole number of seconds".into()
                        } else {
                            "must be a string".into()
                        },
                        at: at(span),
                    });
                };
                check_value(&key, v).map_err(|reason| ConfigError::BadValue {
                    key: full.clone(),
                    reason,
                    at: at(span),
                })?;
            }
        }
    }
    Ok(())
}
