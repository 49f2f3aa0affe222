//! v3's hub database at `enable-v3`, decided from v2's: v3 gets its own database `nublado3`
//! (owned by the role `nublado3`) on the server v2's database is on. On the in-cluster
//! PostgreSQL server that is the `nublado3_db` block of the postgres values (the server creates
//! it when the `postgres` application syncs); on an external server, the DBAs create it (the
//! plan names the request). `--hub-db-url URL` decides instead.
//!
//! Owns: the decision and its words. Does not own: reading URLs (`repo::nublado::database`) or
//! writing them (`playbook::nublado::stages`).

use crate::repo::Phalanx;
use crate::repo::nublado::database::{
    self, DbUrl, HubDatabase, V3_DATABASE, V3_ROLE, has_in_cluster_server, in_cluster_databases,
};

/// A `*_db` block of the postgres values: `(key, user, database)`.
pub type DbBlock = (String, String, String);

/// Where v3's hub database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubDbPlan {
    /// v3's own database on the in-cluster server; `block` is the `*_db` block to add to the
    /// postgres values (`None` when one already creates it).
    InCluster {
        url: String,
        v2: HubDatabase,
        block: Option<DbBlock>,
    },
    /// v3's own database on v2's external server, which the DBAs create.
    External { url: String, v2: HubDatabase },
    /// The URL given with `--hub-db-url` (with the block it needs on the in-cluster server).
    Given {
        url: String,
        in_cluster: bool,
        block: Option<DbBlock>,
    },
    /// The URL the v3 values file already sets (`file:line`), kept.
    Kept {
        url: String,
        at: String,
        in_cluster: bool,
        block: Option<DbBlock>,
    },
    /// v2's URL names the in-cluster server, which the environment does not run: nothing is
    /// derived (`--hub-db-url` decides).
    NoServer { v2: HubDatabase },
}

impl HubDbPlan {
    /// The URL v3 uses, when decided.
    pub fn url(&self) -> Option<&str> {
        match self {
            HubDbPlan::InCluster { url, .. }
            | HubDbPlan::External { url, .. }
            | HubDbPlan::Given { url, .. }
            | HubDbPlan::Kept { url, .. } => Some(url),
            HubDbPlan::NoServer { .. } => None,
        }
    }

    /// The `*_db` block to add to the environment's postgres values.
    pub fn block(&self) -> Option<&DbBlock> {
        match self {
            HubDbPlan::InCluster { block, .. }
            | HubDbPlan::Given { block, .. }
            | HubDbPlan::Kept { block, .. } => block.as_ref(),
            _ => None,
        }
    }

    pub fn is_in_cluster(&self) -> bool {
        matches!(
            self,
            HubDbPlan::InCluster { .. }
                | HubDbPlan::Given {
                    in_cluster: true,
                    ..
                }
                | HubDbPlan::Kept {
                    in_cluster: true,
                    ..
                }
        )
    }

    /// One sentence: where v3's database is and why.
    pub fn describe(&self) -> String {
        match self {
            HubDbPlan::InCluster { v2, .. } => format!(
                "v3's own database `{V3_DATABASE}` on the in-cluster server, where v2's `{}` is ({})",
                v2.name().unwrap_or("?"),
                v2.source.describe()
            ),
            HubDbPlan::External { v2, .. } => format!(
                "v3's own database `{V3_DATABASE}` on `{}`, the external server of v2's `{}` ({})",
                v2.parts().server(),
                v2.name().unwrap_or("?"),
                v2.source.describe()
            ),
            HubDbPlan::Given { url, .. } => format!("`{url}`, given with --hub-db-url"),
            HubDbPlan::Kept { url, at, .. } => {
                format!("`{url}`, as the v3 values file already sets it (`{at}`)")
            }
            HubDbPlan::NoServer { v2 } => format!(
                "v2's database `{}` is {}, on the in-cluster PostgreSQL server, but the environment does not run `postgres`: give v3's database with `--hub-db-url URL`",
                v2.url,
                v2.source.describe()
            ),
        }
    }

    /// What to ask the DBAs for, when v3's database is on an external server.
    pub fn dba_request(&self, env: &str) -> Option<String> {
        let url = match self {
            HubDbPlan::External { url, .. }
            | HubDbPlan::Given {
                url,
                in_cluster: false,
                ..
            }
            | HubDbPlan::Kept {
                url,
                in_cluster: false,
                ..
            } => url,
            _ => return None,
        };
        let u = DbUrl::parse(url);
        Some(format!(
            "`{env}`: ask your DBAs for the database `{}` owned by the role `{}` on `{}` (nublado v3's hub database, `{url}`), and put the role's password in Vault as `hub_db_password`",
            u.database.unwrap_or(V3_DATABASE),
            u.user.unwrap_or(V3_ROLE),
            u.server()
        ))
    }
}

/// Decides v3's hub database for `env`: `given`, else the URL its v3 values file already sets,
/// else from v2's (its values, else its chart default).
pub fn plan(p: &Phalanx, env: &str, given: Option<&str>) -> HubDbPlan {
    let v2 = database::v2_hub_database(p, env);
    let server = has_in_cluster_server(p, env);
    let block_for = |url: &str| -> Option<DbBlock> {
        let u = DbUrl::parse(url);
        let db = u.database?;
        let made = in_cluster_databases(p, env)
            .iter()
            .any(|b| b.database.as_deref() == Some(db));
        (!made).then(|| {
            (
                format!("{db}_db"),
                u.user.unwrap_or(db).to_string(),
                db.to_string(),
            )
        })
    };
    if let Some(url) = given {
        let in_cluster = DbUrl::parse(url).is_in_cluster();
        return HubDbPlan::Given {
            url: url.to_string(),
            in_cluster,
            block: (in_cluster && server).then(|| block_for(url)).flatten(),
        };
    }
    if let Some((file, line, url)) = database::explicit_v3_url(p, env) {
        let in_cluster = DbUrl::parse(&url).is_in_cluster();
        return HubDbPlan::Kept {
            block: (in_cluster && server).then(|| block_for(&url)).flatten(),
            at: format!("{file}:{line}"),
            in_cluster,
            url,
        };
    }
    let parts = v2.parts();
    if parts.is_in_cluster() {
        if !server {
            return HubDbPlan::NoServer { v2 };
        }
        let url = parts.with(V3_ROLE, V3_DATABASE);
        return HubDbPlan::InCluster {
            block: block_for(&url),
            url,
            v2,
        };
    }
    HubDbPlan::External {
        url: parts.with(V3_ROLE, V3_DATABASE),
        v2,
    }
}

/// Checks a `--hub-db-url` argument: a PostgreSQL URL with a host and a database, and no
/// password (v3 reads it from Vault; a password must never be in the repository).
pub fn parse_url(arg: &str) -> Result<String, String> {
    let Some((scheme, rest)) = arg.split_once("://") else {
        return Err("expected a URL such as postgresql://nublado3@db.example.org/nublado3".into());
    };
    if !matches!(scheme, "postgresql" | "postgres") {
        return Err(format!(
            "`{scheme}://` is not a PostgreSQL URL: write postgresql://USER@HOST/DATABASE"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && userinfo.contains(':')
    {
        return Err("the URL carries a password: leave it out (nublado v3 reads it from Vault as `hub_db_password`, and the URL is written to the repository)".into());
    }
    let u = DbUrl::parse(arg);
    if u.host.is_empty() {
        return Err("the URL names no host".into());
    }
    if u.database.is_none() {
        return Err("the URL names no database: write postgresql://USER@HOST/DATABASE".into());
    }
    Ok(arg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("postgresql://nublado3@db.example.org/nublado3").is_ok());
        assert!(parse_url("postgres://n@h:5432/d?sslmode=require").is_ok());
        assert!(
            parse_url("mysql://n@h/d")
                .unwrap_err()
                .contains("not a PostgreSQL URL")
        );
        assert!(
            parse_url("postgresql://n:secret@h/d")
                .unwrap_err()
                .contains("password")
        );
        assert!(
            parse_url("postgresql://n@h")
                .unwrap_err()
                .contains("no database")
        );
        assert!(parse_url("db.example.org").is_err());
    }
}
