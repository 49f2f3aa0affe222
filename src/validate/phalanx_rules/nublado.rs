//! The two nublado hubs of an environment that runs v3: their routes and their databases.
//!
//! Owns: routes that clash or do not match the hub's `HUB_ROUTE`, v3's hub database (not
//! v2's while v2 runs, on the in-cluster server only where it runs, created by the postgres
//! values), and pointing at a setting (its line in a values file, else the environment file's
//! flag). Runs the lab-volume rules (`mounts`) for the environment. Does not own: resolving
//! routes and databases (`repo::nublado::routes`, `repo::nublado::database`).

use crate::repo::Phalanx;
use crate::repo::nublado::database::{self, HubDatabase, UrlSource};
use crate::repo::nublado::routes::{
    DEFAULT_ROUTE, expected_hub_route, lab_hub_route, normalize, routes,
};
use crate::repo::nublado::{V2, V3};
use crate::repo::phalanx::{Environment, Setting};
use crate::validate::{Finding, rule};

use super::doc_of;
use super::mounts::{nfs_paths, v3_mounts};

/// Where a setting can be pointed at: its own line in a values file, or the environment
/// file's flag for the application when the value comes from chart defaults.
fn locate(
    p: &Phalanx,
    env: &Environment,
    app: &str,
    s: Option<&Setting<'_>>,
) -> (String, usize, usize) {
    if let Some(s) = s
        && p.values_file(app, &env.name) == Some(s.rel)
    {
        let (l, c) = s.position();
        return (s.rel.to_string(), l, c);
    }
    if let (Some(doc), Some(f)) = (
        doc_of(p, &env.file.rel),
        env.file.flags.iter().find(|f| f.app == app),
    ) {
        let (l, c) = doc.lines().line_col(f.key_offset);
        return (env.file.rel.clone(), l, c);
    }
    (env.file.rel.clone(), 1, 1)
}

pub(super) fn nublado_rules(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
    let v3_on = env.enabled.contains(V3);
    let v2_on = env.enabled.contains(V2);
    if !v3_on {
        return;
    }
    let r = routes(p, &env.name);
    if v2_on && r.v3.route == r.v2.route {
        let (file, line, col) = locate(p, env, V3, r.v3.setting.as_ref());
        let hint = if r.v3.route == DEFAULT_ROUTE {
            "while v2 runs on the default route, set v3's `jupyterhub.hub.baseUrl: \"/n3\"` (and `HUB_ROUTE: \"/n3/hub\"`)".to_string()
        } else {
            "give each hub its own `jupyterhub.hub.baseUrl`".to_string()
        };
        out.push(
            Finding::at_line(
                rule::NUBLADO_ROUTE_CLASH,
                &file,
                line,
                col,
                format!(
                    "nublado and nublado2 both resolve to the route `{}` in `{}`",
                    r.v3.route, env.name
                ),
            )
            .hint(hint)
            .scope(&env.name)
            .subject(format!("{} same route", env.name)),
        );
    } else if v2_on && r.v3.route != DEFAULT_ROUTE && r.v2.route != DEFAULT_ROUTE {
        let (file, line, col) = locate(p, env, V3, r.v3.setting.as_ref());
        out.push(
            Finding::at_line(rule::NUBLADO_ROUTE_CLASH, &file, line, col, format!("neither hub is on the default route `{DEFAULT_ROUTE}` in `{}` (nublado `{}`, nublado2 `{}`)", env.name, r.v3.route, r.v2.route))
                .hint("one of the two hubs serves the default route: v2 until `make-default`, v3 after it")
                .scope(&env.name)
                .subject(format!("{} no default route", env.name)),
        );
    }
    if let Some(hr) = lab_hub_route(p, &env.name)
        && let Some(value) = hr.text()
    {
        let want = expected_hub_route(&r.v3.route);
        if normalize(value) != want {
            let explicit = p.values_file(V3, &env.name) == Some(hr.rel);
            let (file, line, col) = if explicit {
                let (l, c) = hr.position();
                (hr.rel.to_string(), l, c)
            } else {
                locate(p, env, V3, r.v3.setting.as_ref())
            };
            let how = if explicit { "" } else { " (the chart default)" };
            out.push(
                Finding::at_line(rule::NUBLADO_HUB_ROUTE, &file, line, col, format!("`HUB_ROUTE` is `{value}`{how} but the v3 hub is on `{}`: labs would talk to the wrong hub", r.v3.route))
                    .hint(format!("set `controller.config.lab.env.HUB_ROUTE: \"{want}\"` in `applications/nublado/values-{}.yaml`", env.name))
                    .scope(&env.name)
                    .subject(env.name.clone()),
            );
        }
    }
    hub_database(p, env, v2_on, out);
    if let Some(rel) = p.values_file(V3, &env.name)
        && let Some(doc) = doc_of(p, rel)
    {
        nfs_paths(doc, rel, &env.name, out);
    }
    v3_mounts(p, env, out);
}

/// nublado v3's hub database (its effective URL: the environment's values, else the chart
/// default of the version in the repository): not v2's own (same server and database) while v2
/// runs; on the in-cluster server only where the environment runs it; and there, created by a
/// `*_db` block of the postgres values (the server makes nothing else).
fn hub_database(p: &Phalanx, env: &Environment, v2_on: bool, out: &mut Vec<Finding>) {
    let v3 = database::v3_hub_database(p, &env.name);
    let at = |db: &HubDatabase| -> (String, usize, usize) {
        match &db.source {
            UrlSource::Values { file, line } => {
                let col = p
                    .setting(V3, &env.name, database::URL_PATH)
                    .map_or(1, |s| s.position().1);
                (file.clone(), *line, col)
            }
            _ => locate(p, env, V3, None),
        }
    };
    let how = if v3.source.is_default() {
        format!(" ({})", v3.source.describe())
    } else {
        String::new()
    };
    let parts = v3.parts();
    if v2_on {
        let v2 = database::v2_hub_database(p, &env.name);
        let v2_parts = v2.parts();
        if parts.server() == v2_parts.server() && parts.database == v2_parts.database {
            let (file, line, col) = at(&v3);
            let theirs = v2_parts.with(database::V3_ROLE, database::V3_DATABASE);
            out.push(
                Finding::at_line(rule::NUBLADO_SHARED_DB, &file, line, col, format!(
                    "nublado v3 uses nublado v2's database `{}` on `{}`{how}, while v2 is still enabled in `{}`",
                    parts.database.unwrap_or("?"), parts.server(), env.name
                ))
                .hint(format!(
                    "give v3 its own database on the same server: `jupyterhub.hub.db.url: \"{theirs}\"`{}",
                    if parts.is_in_cluster() { " and `nublado3_db: {user: \"nublado3\", db: \"nublado3\"}` in the postgres values" } else { " (a database your DBAs create)" }
                ))
                .scope(&env.name)
                .subject(format!("{} shared database", env.name)),
            );
        }
    }
    if !parts.is_in_cluster() {
        return;
    }
    if !database::has_in_cluster_server(p, &env.name) {
        let (file, line, col) = at(&v3);
        out.push(
            Finding::at_line(rule::NUBLADO_DB_SERVER, &file, line, col, format!(
                "nublado v3's database is on the in-cluster PostgreSQL server `{}`{how}, but `{}` does not run the `postgres` application",
                parts.host, env.name
            ))
            .hint("set `jupyterhub.hub.db.url` to the server your DBAs provide (`enable-v3 --hub-db-url URL` writes it), or enable `postgres` with a `*_db` block for v3")
            .scope(&env.name)
            .subject(format!("{} no in-cluster server", env.name)),
        );
        return;
    }
    let blocks = database::in_cluster_databases(p, &env.name);
    let pg = p.values_file(database::POSTGRES, &env.name).map_or_else(
        || format!("applications/postgres/values-{}.yaml", env.name),
        str::to_string,
    );
    let name = parts.database.unwrap_or("");
    let made_db = blocks.iter().any(|b| b.database.as_deref() == Some(name));
    let made_user = parts
        .user
        .is_none_or(|u| blocks.iter().any(|b| b.user.as_deref() == Some(u)));
    if made_db && made_user {
        return;
    }
    let missing = match (made_db, made_user) {
        (false, _) => format!("no `*_db` block of `{pg}` creates the database `{name}`"),
        _ => format!(
            "no `*_db` block of `{pg}` creates the role `{}`",
            parts.user.unwrap_or("")
        ),
    };
    let (file, line, col) = at(&v3);
    out.push(
        Finding::at_line(rule::NUBLADO_DB_BLOCK, &file, line, col, format!(
            "nublado v3's database `{name}` is on the in-cluster PostgreSQL server{how}, but {missing}: the server never creates it"
        ))
        .hint(format!(
            "add `{}_db: {{user: \"{}\", db: \"{name}\"}}` to `{pg}`, or point `jupyterhub.hub.db.url` at a database a block creates",
            name,
            parts.user.unwrap_or(name)
        ))
        .scope(&env.name)
        .subject(format!("{} database block", env.name)),
    );
}
