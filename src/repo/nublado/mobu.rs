//! mobu, the synthetic-user monitor, as the nublado migration sees it: its autostart flocks
//! (`config.autostart` of `applications/mobu/values-<env>.yaml`), which of them run labs, which
//! test nublado v2, and whether each relies on cachemachine, as the mobu version in
//! `applications/mobu/Chart.yaml` decides it:
//!
//! | mobu | cachemachine | lab flock options |
//! |---|---|---|
//! | 5.x | one global setting, `config.useCachemachine` (chart default `true`) | no `use_cachemachine` |
//! | 6.x | per flock, `business.options.use_cachemachine` (default `true`) | 6.1 adds `jupyter_timeout` |
//! | 7.x and later | removed (the option makes mobu refuse to start) | `JupyterPythonLoop` is `NubladoPythonLoop` |
//!
//! Owns: reading the flocks with their positions, and the options each mobu version takes.
//! Does not own: judging them (`validate`) or editing them (`playbook::nublado`).

use super::MOBU_LAB_TYPES;
use crate::repo::phalanx::as_bool;
use crate::repo::{Phalanx, lookup};
use crate::yaml::{Document, Node};

pub const MOBU: &str = "mobu";
/// mobu 5's global cachemachine switch.
pub const GLOBAL_CACHEMACHINE: &str = "config.useCachemachine";

/// The business types that query TAP (`TAPQuerySetRunner` since mobu 7, which also gave the
/// name `TAPQueryRunner` to a runner of listed queries).
pub const TAP_TYPES: [&str; 2] = ["TAPQueryRunner", "TAPQuerySetRunner"];

/// The options a lab business takes in mobu `major.minor` (`None` for versions whose options
/// this tool does not know: later versions changed them too often to be judged here).
pub fn lab_options(version: &[u64]) -> Option<Vec<&'static str>> {
    const COMMON: [&str; 16] = [
        "delete_lab",
        "delete_timeout",
        "error_idle_time",
        "execution_idle_time",
        "get_node",
        "idle_time",
        "image",
        "jitter",
        "max_executions",
        "repo_branch",
        "repo_url",
        "spawn_settle_time",
        "spawn_timeout",
        "url_prefix",
        "working_directory",
        "code",
    ];
    let mut keys = COMMON.to_vec();
    match version {
        [5, ..] => {}
        [6, minor, ..] => {
            keys.extend([
                "cachemachine_image_policy",
                "use_cachemachine",
                "max_websocket_message_size",
            ]);
            if *minor >= 1 {
                keys.push("jupyter_timeout");
            }
        }
        [6] => keys.extend([
            "cachemachine_image_policy",
            "use_cachemachine",
            "max_websocket_message_size",
        ]),
        [7, ..] => keys.extend(["max_websocket_message_size", "jupyter_timeout"]),
        _ => return None,
    }
    keys.sort_unstable();
    Some(keys)
}

/// The options a TAP business takes in mobu `version`.
pub fn tap_options(version: &[u64], business: &str) -> Option<&'static [&'static str]> {
    match (version.first(), business) {
        (Some(5 | 6), "TAPQueryRunner") => Some(&["query_set", "sync"]),
        (Some(7), "TAPQueryRunner") => Some(&["queries", "sync"]),
        (Some(7), "TAPQuerySetRunner") => Some(&["query_set", "sync"]),
        _ => None,
    }
}

/// How a lab flock stands with cachemachine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cachemachine {
    /// It asks cachemachine for its images; `how` says why (`use_cachemachine: true`, by
    /// default, the global setting).
    Uses { how: String, at: usize },
    /// It does not.
    No,
}

/// One option of a flock's business.
#[derive(Debug, Clone)]
pub struct FlockOption {
    pub key: String,
    pub key_offset: usize,
    pub value_offset: usize,
    /// `true`/`false` when the value is a boolean.
    pub bool: Option<bool>,
    pub text: Option<String>,
}

/// One autostart flock.
#[derive(Debug, Clone)]
pub struct Flock {
    /// Its index in `config.autostart`.
    pub index: usize,
    pub name: String,
    /// `user_spec.username_prefix`, or the `users[].username`.
    pub users: Vec<String>,
    pub business: String,
    pub type_offset: usize,
    /// Whether `business.options` exists.
    pub has_options: bool,
    pub options: Vec<FlockOption>,
    /// The entry's offset.
    pub offset: usize,
}

impl Flock {
    pub fn is_lab(&self) -> bool {
        MOBU_LAB_TYPES.contains(&self.business.as_str())
    }

    pub fn option(&self, key: &str) -> Option<&FlockOption> {
        self.options.iter().find(|o| o.key == key)
    }

    /// `url_prefix`, without a trailing `/`.
    pub fn url_prefix(&self) -> Option<String> {
        self.option("url_prefix")
            .and_then(|o| o.text.as_deref())
            .map(super::routes::normalize)
    }

    /// Whether the flock evidently tests nublado v2: its name or one of its users says
    /// `nublado2`.
    pub fn tests_v2(&self) -> bool {
        std::iter::once(&self.name)
            .chain(&self.users)
            .any(|s| s.to_ascii_lowercase().contains("nublado2"))
    }
}

/// An environment's mobu: its version, values file and flocks.
#[derive(Debug, Clone)]
pub struct Mobu<'a> {
    pub version: Option<Vec<u64>>,
    pub rel: &'a str,
    pub doc: &'a Document,
    pub flocks: Vec<Flock>,
}

impl<'a> Mobu<'a> {
    /// mobu in `env`, when it is enabled and has a values file that can be read.
    pub fn of(p: &'a Phalanx, env: &str) -> Option<Mobu<'a>> {
        if !p.is_enabled(env, MOBU) {
            return None;
        }
        let rel = p.values_file(MOBU, env)?;
        let doc = p.files.doc(rel)?;
        Some(Mobu {
            version: p.app_version(MOBU),
            rel,
            doc,
            flocks: flocks(doc),
        })
    }

    pub fn major(&self) -> Option<u64> {
        self.version.as_ref().and_then(|v| v.first().copied())
    }

    /// `6.1.1`, or `?`.
    pub fn version_text(&self) -> String {
        self.version.as_ref().map_or_else(
            || "?".into(),
            |v| v.iter().map(u64::to_string).collect::<Vec<_>>().join("."),
        )
    }

    /// mobu 5's global `config.useCachemachine`: the environment's values, else the chart
    /// default, else `true`; with the offset of its value when the environment sets it.
    pub fn global_cachemachine(&self, p: &Phalanx, env: &str) -> (bool, Option<usize>) {
        match p.setting(MOBU, env, GLOBAL_CACHEMACHINE) {
            Some(s) => {
                let explicit = (s.rel == self.rel).then_some(s.node.span.start);
                (as_bool(s.node).unwrap_or(true), explicit)
            }
            None => (true, None),
        }
    }

    /// How a lab flock stands with cachemachine in this mobu version.
    pub fn cachemachine(&self, p: &Phalanx, env: &str, flock: &Flock) -> Cachemachine {
        if !flock.is_lab() {
            return Cachemachine::No;
        }
        match self.major() {
            Some(m) if m >= 7 => Cachemachine::No,
            Some(5) => match self.global_cachemachine(p, env) {
                (true, Some(at)) => Cachemachine::Uses {
                    how: format!("through mobu 5's global `{GLOBAL_CACHEMACHINE}: true`"),
                    at,
                },
                (true, None) => Cachemachine::Uses {
                    how: format!(
                        "through mobu 5's global `{GLOBAL_CACHEMACHINE}` (default `true`)"
                    ),
                    at: flock.type_offset,
                },
                (false, _) => Cachemachine::No,
            },
            _ => match flock.option("use_cachemachine") {
                Some(o) if o.bool == Some(false) => Cachemachine::No,
                Some(o) => Cachemachine::Uses {
                    how: "`use_cachemachine: true`".into(),
                    at: o.value_offset,
                },
                None => Cachemachine::Uses {
                    how: "by default (`use_cachemachine` defaults to true in mobu 6)".into(),
                    at: flock.type_offset,
                },
            },
        }
    }
}

/// The flocks of `config.autostart`.
pub fn flocks(doc: &Document) -> Vec<Flock> {
    let Some(seq) = lookup(doc, "config.autostart").and_then(Node::as_sequence) else {
        return Vec::new();
    };
    seq.items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let m = item.value.as_mapping()?;
            let text = |n: &Node| n.scalar_text().map(str::to_string);
            let name = m
                .get("name")
                .and_then(|e| text(&e.value))
                .unwrap_or_default();
            let mut users = Vec::new();
            if let Some(prefix) = m
                .get("user_spec")
                .and_then(|e| e.value.as_mapping())
                .and_then(|u| u.get("username_prefix"))
                .and_then(|e| text(&e.value))
            {
                users.push(prefix);
            }
            for u in m
                .get("users")
                .and_then(|e| e.value.as_sequence())
                .map(|s| s.items.as_slice())
                .unwrap_or_default()
            {
                if let Some(n) = u
                    .value
                    .as_mapping()
                    .and_then(|u| u.get("username"))
                    .and_then(|e| text(&e.value))
                {
                    users.push(n);
                }
            }
            let business = m.get("business")?.value.as_mapping()?;
            let type_entry = business.get("type")?;
            let options_node = business.get("options").and_then(|e| e.value.as_mapping());
            let options = options_node
                .map(|o| {
                    o.entries
                        .iter()
                        .filter_map(|e| {
                            Some(FlockOption {
                                key: e.key.scalar_text()?.to_string(),
                                key_offset: e.key.span.start,
                                value_offset: e.value.span.start,
                                bool: as_bool(&e.value),
                                text: text(&e.value),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Flock {
                index,
                name,
                users,
                business: type_entry.value.scalar_text().unwrap_or("").to_string(),
                type_offset: type_entry.key.span.start,
                has_options: options_node.is_some(),
                options,
                offset: item.value.span.start,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flocks_with_their_users_and_whether_they_test_v2() {
        let d = Document::parse(
            "config:
  autostart:
    - name: firefighter
      user_spec: {username_prefix: bot-mobu-recommended}
      business:
        type: NotebookRunner
        options: {url_prefix: /n3/, use_cachemachine: false}
    - name: weekly
      users:
        - username: bot-mobu-nublado2
      business:
        type: JupyterPythonLoop
    - name: tap
      business: {type: TAPQueryRunner, options: {sync: true}}
",
        )
        .unwrap();
        let f = flocks(&d);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].url_prefix().as_deref(), Some("/n3"));
        assert!(f[0].is_lab() && !f[0].tests_v2());
        assert_eq!(f[1].users, ["bot-mobu-nublado2"]);
        assert!(f[1].tests_v2() && !f[1].has_options);
        assert!(!f[2].is_lab());
    }

    #[test]
    fn options_per_version() {
        let five = lab_options(&[5, 1, 0]).unwrap();
        assert!(!five.contains(&"use_cachemachine"));
        let six = lab_options(&[6, 0, 0]).unwrap();
        assert!(six.contains(&"use_cachemachine") && !six.contains(&"jupyter_timeout"));
        assert!(
            lab_options(&[6, 1, 1])
                .unwrap()
                .contains(&"jupyter_timeout")
        );
        assert!(
            !lab_options(&[7, 1, 0])
                .unwrap()
                .contains(&"use_cachemachine")
        );
        assert_eq!(lab_options(&[19, 1, 1]), None);
        assert_eq!(
            tap_options(&[7, 0, 0], "TAPQueryRunner"),
            Some(&["queries", "sync"][..])
        );
    }
}
