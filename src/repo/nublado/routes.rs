//! The routes of the two hubs of an environment, read from the files: an application's route
//! is `jupyterhub.hub.baseUrl` in its `values-<env>.yaml`, else in its chart defaults
//! (`values.yaml`), else `/nb`. v3 labs also carry `controller.config.lab.env.HUB_ROUTE`,
//! which must equal the route plus `/hub`; nothing derives it.

use super::{V2, V3};
use crate::repo::Phalanx;
use crate::repo::phalanx::Setting;

/// The route both charts default to.
pub const DEFAULT_ROUTE: &str = "/nb";
pub const BASE_URL: &str = "jupyterhub.hub.baseUrl";
pub const HUB_ROUTE: &str = "controller.config.lab.env.HUB_ROUTE";

/// A hub's route and where it was read.
#[derive(Debug, Clone)]
pub struct HubRoute<'a> {
    /// Normalized: no trailing `/` (except the root `/`).
    pub route: String,
    /// Where the value is written; `None` when neither file sets it.
    pub setting: Option<Setting<'a>>,
}

impl HubRoute<'_> {
    /// Whether the environment's own values file sets the route.
    pub fn explicit_in(&self, env_file: Option<&str>) -> bool {
        matches!((&self.setting, env_file), (Some(s), Some(f)) if s.rel == f)
    }
}

/// The routes of an environment's hubs.
#[derive(Debug, Clone)]
pub struct Routes<'a> {
    pub v3: HubRoute<'a>,
    pub v2: HubRoute<'a>,
}

pub fn normalize(route: &str) -> String {
    let t = route.trim();
    if t.len() > 1 {
        t.trim_end_matches('/').to_string()
    } else {
        t.to_string()
    }
}

/// The route of `app` (nublado or nublado2) in `env`.
pub fn hub_route<'a>(p: &'a Phalanx, app: &str, env: &str) -> HubRoute<'a> {
    let setting = p
        .setting(app, env, BASE_URL)
        .filter(|s| s.text().is_some_and(|t| !t.is_empty()));
    HubRoute {
        route: normalize(
            setting
                .as_ref()
                .and_then(Setting::text)
                .unwrap_or(DEFAULT_ROUTE),
        ),
        setting,
    }
}

pub fn routes<'a>(p: &'a Phalanx, env: &str) -> Routes<'a> {
    Routes {
        v3: hub_route(p, V3, env),
        v2: hub_route(p, V2, env),
    }
}

/// The v3 labs' `HUB_ROUTE`, when the environment's values or the chart defaults set it.
pub fn lab_hub_route<'a>(p: &'a Phalanx, env: &str) -> Option<Setting<'a>> {
    p.setting(V3, env, HUB_ROUTE)
}

/// The `HUB_ROUTE` a route needs.
pub fn expected_hub_route(route: &str) -> String {
    if route == "/" {
        "/hub".into()
    } else {
        format!("{route}/hub")
    }
}
