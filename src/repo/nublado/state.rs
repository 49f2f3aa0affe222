//! Each environment's place in the migration, read from the files every time (never cached):
//! one of seven states and the stage that comes next.
//!
//! | state | meaning | next stage |
//! |---|---|---|
//! | `none` | neither hub enabled | – |
//! | `v2-only` | nublado2 enabled, nublado not | `enable-v3` |
//! | `v3-beside` | both; v3 off the default route, v2 on it | `make-default` |
//! | `v3-default` | both; v3 on the default route, v2 moved | `disable-v2` |
//! | `v2-disabled` | nublado only; some v2 values files remain | `drop-v2-values` |
//! | `complete` | nublado only; the v2 values files are gone | – |
//! | `conflict` | an impossible mix (both hubs on one route, …) | – |

use serde::Serialize;

use super::routes::{DEFAULT_ROUTE, routes};
use super::{V2, V2_APPS, V3};
use crate::repo::Phalanx;
use crate::repo::phalanx::Environment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    None,
    V2Only,
    V3Beside,
    V3Default,
    V2Disabled,
    Complete,
    Conflict,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::None => "none",
            State::V2Only => "v2-only",
            State::V3Beside => "v3-beside",
            State::V3Default => "v3-default",
            State::V2Disabled => "v2-disabled",
            State::Complete => "complete",
            State::Conflict => "conflict",
        }
    }

    /// Where the state lies on the migration's path, for comparing how far two states are
    /// (`v2-only` 0 … `complete` 4); `None` for `none` and `conflict`, which are off it.
    pub fn ordinal(self) -> Option<u8> {
        match self {
            State::V2Only => Some(0),
            State::V3Beside => Some(1),
            State::V3Default => Some(2),
            State::V2Disabled => Some(3),
            State::Complete => Some(4),
            State::None | State::Conflict => None,
        }
    }

    /// The stage that moves an environment on from this state.
    pub fn next_stage(self) -> Option<&'static str> {
        match self {
            State::V2Only => Some("enable-v3"),
            State::V3Beside => Some("make-default"),
            State::V3Default => Some("disable-v2"),
            State::V2Disabled => Some("drop-v2-values"),
            State::None | State::Complete | State::Conflict => None,
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An environment's state and why, in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvState {
    pub state: State,
    pub reason: String,
}

/// Reads the state of one environment.
pub fn environment_state(p: &Phalanx, env: &Environment) -> EnvState {
    let on = |app: &str| env.enabled.contains(app);
    let st = |state, reason: String| EnvState { state, reason };
    match (on(V3), on(V2)) {
        (false, false) => st(
            State::None,
            "neither nublado nor nublado2 is enabled".into(),
        ),
        (false, true) => st(State::V2Only, "nublado2 is enabled, nublado is not".into()),
        (true, true) => {
            let r = routes(p, &env.name);
            let (v3, v2) = (r.v3.route.as_str(), r.v2.route.as_str());
            if v3 == v2 {
                st(State::Conflict, format!("both hubs resolve to {v3}"))
            } else if v2 == DEFAULT_ROUTE {
                st(
                    State::V3Beside,
                    format!("v3 on {v3}, v2 on the default {v2}"),
                )
            } else if v3 == DEFAULT_ROUTE {
                st(
                    State::V3Default,
                    format!("v3 on the default {v3}, v2 moved to {v2}"),
                )
            } else {
                st(
                    State::Conflict,
                    format!(
                        "neither hub is on the default route {DEFAULT_ROUTE} (v3 {v3}, v2 {v2})"
                    ),
                )
            }
        }
        (true, false) => {
            let still_on: Vec<&str> = V2_APPS.iter().copied().filter(|a| on(a)).collect();
            if !still_on.is_empty() {
                return st(
                    State::Conflict,
                    format!(
                        "nublado2 is disabled but {} still enabled",
                        still_on.join(" and ")
                    ),
                );
            }
            let left: Vec<&str> = V2_APPS
                .iter()
                .filter_map(|a| p.values_file(a, &env.name))
                .collect();
            if left.is_empty() {
                st(
                    State::Complete,
                    "nublado only; no v2 values files remain".into(),
                )
            } else {
                st(
                    State::V2Disabled,
                    format!(
                        "nublado only; {} {}",
                        left.join(", "),
                        if left.len() == 1 { "remains" } else { "remain" }
                    ),
                )
            }
        }
    }
}
