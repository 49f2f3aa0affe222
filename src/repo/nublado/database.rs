//! The hubs' session databases: the URL each hub uses (`jupyterhub.hub.db.url` in its
//! `values-<env>.yaml`, else in its chart's `values.yaml`, else the default of the chart
//! version in the repository), and the databases the in-cluster PostgreSQL server of an
//! environment creates (`applications/postgres/values-<env>.yaml`: one `<name>_db: {user, db}`
//! block each, made when the `postgres` application syncs).
//!
//! Owns: reading URLs and `*_db` blocks, and the chart defaults per version. Does not own:
//! judging them (`validate`) or changing them (`playbook::nublado`).

use super::{V2, V3};
use crate::repo::Phalanx;
use crate::repo::lookup;
use crate::yaml::Node;

/// Where a hub's database URL is written.
pub const URL_PATH: &str = "jupyterhub.hub.db.url";
/// The in-cluster PostgreSQL application.
pub const POSTGRES: &str = "postgres";
/// The in-cluster PostgreSQL server's service, as Phalanx's URLs name it.
pub const IN_CLUSTER_HOST: &str = "postgres.postgres";
/// v2's session database on the in-cluster server, and its owner.
pub const V2_DATABASE: &str = "jupyterhub";
pub const V2_ROLE: &str = "jovyan";
/// v3's own database and role, on whichever server v2's database is.
pub const V3_DATABASE: &str = "nublado3";
pub const V3_ROLE: &str = "nublado3";

/// The default `jupyterhub.hub.db.url` of a nublado chart version, for a repository whose chart
/// `values.yaml` does not set it. Every chart defaults to the in-cluster server's `jupyterhub`
/// database: the nublado2 chart and the nublado chart of the 2023 controller (0.x) with v2's own
/// role `jovyan`; later nublado charts (seen at appVersion 15.1.0) with the role `nublado3`. The
/// chart's `values.yaml` in the repository, when it sets the URL, is the authority: it is read
/// first.
pub fn chart_default_url(app: &str, version: Option<&[u64]>) -> Option<&'static str> {
    match (app, version.and_then(|v| v.first())) {
        (V2, _) => Some("postgresql://jovyan@postgres.postgres/jupyterhub"),
        (V3, None | Some(0)) => Some("postgresql://jovyan@postgres.postgres/jupyterhub"),
        (V3, Some(_)) => Some("postgresql://nublado3@postgres.postgres/jupyterhub"),
        _ => None,
    }
}

/// A PostgreSQL URL's parts: `postgresql://user[:password]@host[:port]/database[?options]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrl<'a> {
    pub scheme: &'a str,
    pub user: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<&'a str>,
    pub database: Option<&'a str>,
    /// `?…` (with the `?`), kept as written.
    pub query: &'a str,
}

impl<'a> DbUrl<'a> {
    pub fn parse(url: &'a str) -> DbUrl<'a> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.split(':').next().unwrap_or(u)), h),
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
            _ => (hostport, None),
        };
        let q = path.find(['?', '#']).unwrap_or(path.len());
        let database = Some(&path[..q]).filter(|d| !d.is_empty());
        DbUrl {
            scheme,
            user: user.filter(|u| !u.is_empty()),
            host,
            port,
            database,
            query: &path[q..],
        }
    }

    /// The same server (host and port) with another user and database.
    pub fn with(&self, user: &str, database: &str) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let scheme = if self.scheme.is_empty() {
            "postgresql"
        } else {
            self.scheme
        };
        format!(
            "{scheme}://{user}@{}{port}/{database}{}",
            self.host, self.query
        )
    }

    /// Whether the host is the in-cluster PostgreSQL server's service.
    pub fn is_in_cluster(&self) -> bool {
        self.host == IN_CLUSTER_HOST
            || self
                .host
                .strip_prefix(IN_CLUSTER_HOST)
                .is_some_and(|r| r.starts_with(".svc"))
    }

    /// The server, as `host[:port]`.
    pub fn server(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

/// `postgresql://user@host:5432/db` → `host`.
pub fn database_host(url: &str) -> Option<&str> {
    Some(DbUrl::parse(url).host)
}

/// `postgresql://user@host/db?x` → `db`.
pub fn database_name(url: &str) -> Option<&str> {
    DbUrl::parse(url).database
}

/// Where a hub's database URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// The environment's values file.
    Values { file: String, line: usize },
    /// The chart's `values.yaml` in the repository.
    ChartValues { file: String, line: usize },
    /// The default of the chart version (the chart's `values.yaml` does not set it).
    ChartVersion { app: String, version: String },
}

impl UrlSource {
    /// `applications/nublado/values-idfdev.yaml:72`, `the chart default (…:312)`, ….
    pub fn describe(&self) -> String {
        match self {
            UrlSource::Values { file, line } => format!("`{file}:{line}`"),
            UrlSource::ChartValues { file, line } => {
                format!("the chart default (`{file}:{line}`)")
            }
            UrlSource::ChartVersion { app, version } => {
                format!("the default of the {app} chart {version}")
            }
        }
    }

    pub fn is_default(&self) -> bool {
        !matches!(self, UrlSource::Values { .. })
    }
}

/// A hub's database: its URL and where the URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDatabase {
    pub url: String,
    pub source: UrlSource,
}

impl HubDatabase {
    pub fn parts(&self) -> DbUrl<'_> {
        DbUrl::parse(&self.url)
    }

    pub fn name(&self) -> Option<&str> {
        self.parts().database
    }

    pub fn is_in_cluster(&self) -> bool {
        self.parts().is_in_cluster()
    }

    /// Whether it is v2's `jupyterhub` database on the in-cluster server.
    pub fn is_in_cluster_v2_database(&self) -> bool {
        self.is_in_cluster() && self.name() == Some(V2_DATABASE)
    }
}

/// The database `app` (nublado or nublado2) uses in `env`: the environment's values, else the
/// chart's `values.yaml`, else the default of the chart version. `None` only for an
/// application with no known default.
pub fn hub_database(p: &Phalanx, app: &str, env: &str) -> Option<HubDatabase> {
    if let Some(s) = p.setting(app, env, URL_PATH)
        && let Some(url) = s.text().filter(|t| !t.is_empty())
    {
        let file = s.rel.to_string();
        let line = s.position().0;
        let source = if p.values_file(app, env) == Some(s.rel) {
            UrlSource::Values { file, line }
        } else {
            UrlSource::ChartValues { file, line }
        };
        return Some(HubDatabase {
            url: url.to_string(),
            source,
        });
    }
    let version = p.app_version(app);
    let url = chart_default_url(app, version.as_deref())?;
    Some(HubDatabase {
        url: url.into(),
        source: UrlSource::ChartVersion {
            app: app.to_string(),
            version: version.map_or_else(
                || "(no appVersion)".to_string(),
                |v| super::controller::version_text(&v),
            ),
        },
    })
}

/// The database nublado v3 uses in `env`: its effective `jupyterhub.hub.db.url` (the
/// environment's values, else the chart default of the version in the repository).
pub fn v3_hub_database(p: &Phalanx, env: &str) -> HubDatabase {
    hub_database(p, V3, env).expect("the nublado chart always has a default database")
}

/// The database nublado v2 uses in `env`.
pub fn v2_hub_database(p: &Phalanx, env: &str) -> HubDatabase {
    hub_database(p, V2, env).expect("the nublado2 chart always has a default database")
}

/// One `<name>_db: {user: …, db: …}` block of the in-cluster PostgreSQL server's values: a
/// database (and its owner) the server creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbBlock {
    /// `jupyterhub_db`, `nublado3_db`, ….
    pub key: String,
    pub user: Option<String>,
    pub database: Option<String>,
    pub file: String,
    pub line: usize,
}

/// The databases the in-cluster PostgreSQL server creates for `env` (from
/// `applications/postgres/values-<env>.yaml`; none when the file does not exist).
pub fn in_cluster_databases(p: &Phalanx, env: &str) -> Vec<DbBlock> {
    let Some(rel) = p.values_file(POSTGRES, env) else {
        return Vec::new();
    };
    let Some(doc) = p.files.doc(rel) else {
        return Vec::new();
    };
    db_blocks(doc.root(0), |n| doc.line_of(n.span.start), rel)
}

/// The `*_db` mapping entries at the top of a postgres values document.
pub fn db_blocks(
    root: Option<&Node>,
    line_of: impl Fn(&Node) -> usize,
    file: &str,
) -> Vec<DbBlock> {
    let Some(root) = root.and_then(Node::as_mapping) else {
        return Vec::new();
    };
    root.entries
        .iter()
        .filter_map(|e| {
            let key = e.key.scalar_text()?;
            let block = e.value.as_mapping()?;
            key.ends_with("_db").then(|| {
                let text = |k: &str| {
                    block
                        .get(k)
                        .and_then(|x| x.value.scalar_text())
                        .map(str::to_string)
                };
                DbBlock {
                    key: key.to_string(),
                    user: text("user"),
                    database: text("db"),
                    file: file.to_string(),
                    line: line_of(&e.key),
                }
            })
        })
        .collect()
}

/// Whether `env` runs the in-cluster PostgreSQL server.
pub fn has_in_cluster_server(p: &Phalanx, env: &str) -> bool {
    p.is_enabled(env, POSTGRES)
}

/// The v3 hub database URL written in the environment's values, with its position, when the
/// values file sets one (not the chart default).
pub fn explicit_v3_url(p: &Phalanx, env: &str) -> Option<(String, usize, String)> {
    let rel = p.values_file(V3, env)?;
    let doc = p.files.doc(rel)?;
    let node = lookup(doc, URL_PATH)?;
    Some((
        rel.to_string(),
        doc.line_of(node.span.start),
        node.scalar_text()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_apart_and_back_together() {
        let u = DbUrl::parse("postgresql://jovyan@postgresdb01.ls.lsst.org/jupyterhub");
        assert_eq!(u.user, Some("jovyan"));
        assert_eq!(u.host, "postgresdb01.ls.lsst.org");
        assert_eq!(u.database, Some("jupyterhub"));
        assert!(!u.is_in_cluster());
        assert_eq!(
            u.with(V3_ROLE, V3_DATABASE),
            "postgresql://nublado3@postgresdb01.ls.lsst.org/nublado3"
        );
        let u = DbUrl::parse("postgresql://x:secret@db.example.org:5433/db?sslmode=require");
        assert_eq!(u.user, Some("x"));
        assert_eq!(u.port, Some("5433"));
        assert_eq!(u.database, Some("db"));
        assert_eq!(u.server(), "db.example.org:5433");
        assert_eq!(
            u.with("n", "m"),
            "postgresql://n@db.example.org:5433/m?sslmode=require",
            "the password is never copied"
        );
        assert!(DbUrl::parse("postgresql://jovyan@postgres.postgres/jupyterhub").is_in_cluster());
        assert!(
            DbUrl::parse("postgresql://a@postgres.postgres.svc.cluster.local/b").is_in_cluster()
        );
        assert!(!DbUrl::parse("postgresql://a@postgres.postgresdb.org/b").is_in_cluster());
        assert_eq!(database_name("sqlite"), None);
        assert_eq!(
            database_host("postgresql://u@db.example.org:5432/x"),
            Some("db.example.org")
        );
    }

    #[test]
    fn chart_defaults_per_version() {
        assert_eq!(
            chart_default_url(V3, Some(&[0, 7, 1])),
            Some("postgresql://jovyan@postgres.postgres/jupyterhub")
        );
        assert_eq!(
            chart_default_url(V3, Some(&[15, 1, 0])),
            Some("postgresql://nublado3@postgres.postgres/jupyterhub")
        );
        assert_eq!(
            chart_default_url(V2, Some(&[2, 6, 1])),
            Some("postgresql://jovyan@postgres.postgres/jupyterhub")
        );
        assert_eq!(chart_default_url("mobu", None), None);
    }
}
