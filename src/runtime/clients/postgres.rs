//! PostgreSQL for `finish`'s cleanup: does a database or role exist, who is connected to a
//! database (`pg_stat_activity`), dump a database (`pg_dump`, custom format) and read the dump
//! back (`pg_restore --list`), drop a database and a role. Every command runs with
//! `-w`/`--no-password`: it never prompts, a missing password is an error. Implemented by `PsqlClient` with the `psql` and `pg_dump` commands of the
//! PostgreSQL client package as subprocesses.
//!
//! Why `psql` rather than a Rust client: the `postgres` crate is a blocking wrapper around
//! `tokio-postgres` and brings an async runtime (tokio) with some thirty more crates, for the
//! five statements of one cleanup step; `pg_dump`, which the step needs anyway, comes with
//! `psql` in the same package, and the trait keeps the steps independent of the choice.
//!
//! The server is named by a URL without a password (`postgresql://admin@db.example:5432/postgres`);
//! a URL holding one is refused. The password goes to the children in `PGPASSWORD`, never on
//! a command line, and is redacted from every error text.
//!
//! Limits: every statement runs under `statement_timeout` and `lock_timeout` (a `DROP
//! DATABASE` queued behind a lock does not wait for ever), and every command under a time
//! limit of its process (`runtime::process`): a server that stops answering mid-statement
//! ends the call with a message saying so.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::http::ClientError;
use crate::runtime::process::{self, Limits};
use crate::util::redact::Redactor;

/// `statement_timeout` of every statement, and `lock_timeout`.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one `psql` call, and one `pg_dump` of a database, may take.
pub const PSQL_LIMIT: Duration = Duration::from_secs(120);
pub const DUMP_LIMIT: Duration = Duration::from_secs(2 * 3600);

/// A client connected to a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub pid: u32,
    pub user: String,
    pub application: String,
    /// `127.0.0.1`, or `local` for a Unix socket.
    pub client: String,
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} ({} from {}", self.pid, self.user, self.client)?;
        if !self.application.is_empty() {
            write!(f, ", {}", self.application)?;
        }
        f.write_str(")")
    }
}

/// The PostgreSQL calls of `finish`'s cleanup. Implemented by `PsqlClient`.
pub trait PostgresApi: Send + Sync + fmt::Debug {
    /// The server's URL, without a password (for messages and previews).
    fn url(&self) -> &str;
    fn database_exists(&self, db: &str) -> Result<bool, ClientError>;
    fn role_exists(&self, role: &str) -> Result<bool, ClientError>;
    /// The other sessions connected to `db`.
    fn connections(&self, db: &str) -> Result<Vec<Connection>, ClientError>;
    /// `pg_dump --format=custom` of `db` into `to`, a file already created (with its
    /// permissions) by the caller. Returns the dump's size in bytes.
    fn dump(&self, db: &str, to: &Path) -> Result<u64, ClientError>;
    /// Reads a dump's table of contents back (`pg_restore --list`): the number of entries.
    /// A dump that cannot be read, or lists nothing, is an error.
    fn check_dump(&self, dump: &Path) -> Result<usize, ClientError>;
    /// `DROP DATABASE` (fails while anyone is connected; never forced).
    fn drop_database(&self, db: &str) -> Result<(), ClientError>;
    fn drop_role(&self, role: &str) -> Result<(), ClientError>;
}

/// `"name"`, with inner quotes doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with inner quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Whether a connection URL holds a password (`user:pw@` or `password=`).
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let userinfo_pw = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let query_pw = url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("password=")));
    userinfo_pw || query_pw
}

/// The URL with its database replaced by `db` (query kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgresql", url));
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let authority = main.split('/').next().unwrap_or("");
    let mut out = format!("{scheme}://{authority}/{}", crate::http::encode(db));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub struct PsqlClient {
    url: String,
    password: Option<String>,
    bin_dir: Option<PathBuf>,
}

impl fmt::Debug for PsqlClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PsqlClient")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl PsqlClient {
    /// `url` names the server and an administrative database (`postgresql://admin@host/postgres`)
    /// and must not hold the password, which comes from an environment variable or a file.
    pub fn new(url: &str, password: Option<String>) -> Result<PsqlClient, ClientError> {
        let url = url.trim();
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            return Err(ClientError::new(
                None,
                "the PostgreSQL URL must start with postgresql:// (e.g. postgresql://admin@db.example:5432/postgres)",
            ));
        }
        if has_password(url) {
            return Err(ClientError::new(
                None,
                "the PostgreSQL URL holds a password: remove it from the URL and put it in the configured environment variable or file",
            ));
        }
        Ok(PsqlClient {
            url: url.to_string(),
            password: password.filter(|p| !p.is_empty()),
            bin_dir: None,
        })
    }

    /// Runs `psql` and `pg_dump` from `dir` instead of the `PATH`.
    pub fn with_bin_dir(mut self, dir: impl Into<PathBuf>) -> PsqlClient {
        self.bin_dir = Some(dir.into());
        self
    }

    fn command(&self, name: &str) -> Command {
        let program = match &self.bin_dir {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        };
        let mut c = Command::new(program);
        c.env_remove("PGPASSWORD")
            .env("PGCONNECT_TIMEOUT", "15")
            .env(
                "PGOPTIONS",
                format!(
                    "-c statement_timeout={}s -c lock_timeout={}s",
                    STATEMENT_TIMEOUT.as_secs(),
                    LOCK_TIMEOUT.as_secs()
                ),
            )
            .stdin(Stdio::null());
        if let Some(p) = &self.password {
            c.env("PGPASSWORD", p);
        }
        c
    }

    /// Runs `cmd` under `limit`: its output, or why it ended without one.
    fn limited(
        &self,
        cmd: &mut Command,
        limit: Duration,
        program: &str,
        action: &str,
    ) -> Result<(bool, String, String), ClientError> {
        let f = process::run(cmd, None, Limits::within(limit), None).map_err(|e| {
            ClientError::new(
                None,
                format!("cannot run `{program}` to {action}: {e} (install the PostgreSQL client)"),
            )
        })?;
        if !matches!(f.end, process::End::Exited(_)) {
            return Err(ClientError::new(
                Some(0),
                format!("`{program}` to {action} at {} {}", self.url, f.describe()),
            ));
        }
        Ok((
            f.success(),
            String::from_utf8_lossy(&f.stdout).into_owned(),
            String::from_utf8_lossy(&f.stderr).into_owned(),
        ))
    }

    fn clean(&self, text: &str) -> String {
        Redactor::new(self.password.iter()).redact(text.trim())
    }

    /// Runs one statement; returns its rows (fields separated by the unit separator).
    fn query(&self, sql: &str, action: &str) -> Result<Vec<Vec<String>>, ClientError> {
        let mut cmd = self.command("psql");
        cmd.args([
            "-X",
            "-w",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-F",
            "\x1f",
        ])
        .arg("-d")
        .arg(&self.url)
        .arg("-c")
        .arg(sql);
        let (ok, stdout, stderr) = self.limited(&mut cmd, PSQL_LIMIT, "psql", action)?;
        if !ok {
            let said = self.clean(&stderr);
            // Not reachable, or not accepting connections yet: worth another try.
            let status = if said.contains("could not connect")
                || said.contains("Connection refused")
                || said.contains("the database system is starting up")
            {
                None
            } else {
                Some(400)
            };
            return Err(ClientError {
                said: said.clone(),
                ..ClientError::new(
                    status,
                    format!("PostgreSQL at {} refused to {action}: {said}", self.url),
                )
            });
        }
        Ok(stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\x1f').map(str::to_string).collect())
            .collect())
    }

    fn exists(&self, sql: &str, action: &str) -> Result<bool, ClientError> {
        Ok(self
            .query(sql, action)?
            .first()
            .and_then(|r| r.first())
            .is_some_and(|v| v == "1"))
    }
}

impl PostgresApi for PsqlClient {
    fn url(&self) -> &str {
        &self.url
    }

    fn database_exists(&self, db: &str) -> Result<bool, ClientError> {
        self.exists(
            &format!("SELECT 1 FROM pg_database WHERE datname = {}", literal(db)),
            &format!("look up database `{db}`"),
        )
    }

    fn role_exists(&self, role: &str) -> Result<bool, ClientError> {
        self.exists(
            &format!("SELECT 1 FROM pg_roles WHERE rolname = {}", literal(role)),
            &format!("look up role `{role}`"),
        )
    }

    fn connections(&self, db: &str) -> Result<Vec<Connection>, ClientError> {
        let rows = self.query(
            &format!(
                "SELECT pid, coalesce(usename, ''), coalesce(application_name, ''), coalesce(host(client_addr), 'local') \
                 FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid() ORDER BY pid",
                literal(db)
            ),
            &format!("list the clients connected to `{db}`"),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match r.as_slice() {
                [pid, user, app, client] => Some(Connection {
                    pid: pid.parse().ok()?,
                    user: user.clone(),
                    application: app.clone(),
                    client: client.clone(),
                }),
                _ => None,
            })
            .collect())
    }

    fn dump(&self, db: &str, to: &Path) -> Result<u64, ClientError> {
        // The caller created the file with its permissions; pg_dump writes into it.
        File::options()
            .write(true)
            .truncate(true)
            .open(to)
            .map_err(|e| {
                ClientError::new(
                    None,
                    format!("cannot write the dump to {}: {e}", to.display()),
                )
            })?;
        let mut cmd = self.command("pg_dump");
        cmd.args([
            "--format=custom",
            "--no-password",
            &format!("--lock-wait-timeout={}s", LOCK_TIMEOUT.as_secs()),
        ])
        .arg("--file")
        .arg(to)
        .arg("--dbname")
        .arg(with_database(&self.url, db));
        let (ok, _, stderr) =
            self.limited(&mut cmd, DUMP_LIMIT, "pg_dump", &format!("dump `{db}`"))?;
        if !ok {
            let said = self.clean(&stderr);
            return Err(ClientError {
                said: said.clone(),
                ..ClientError::new(
                    Some(400),
                    format!("pg_dump of `{db}` at {} failed: {said}", self.url),
                )
            });
        }
        std::fs::metadata(to).map(|m| m.len()).map_err(|e| {
            ClientError::new(None, format!("cannot read the dump {}: {e}", to.display()))
        })
    }

    fn check_dump(&self, dump: &Path) -> Result<usize, ClientError> {
        let mut cmd = self.command("pg_restore");
        cmd.arg("--list").arg(dump);
        let (ok, listed, stderr) =
            self.limited(&mut cmd, PSQL_LIMIT, "pg_restore", "read the dump back")?;
        let entries = listed
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
            .count();
        if !ok || entries == 0 {
            let said = self.clean(&stderr);
            return Err(ClientError {
                said: said.clone(),
                ..ClientError::new(
                    Some(400),
                    format!(
                        "the dump {} does not read back (`pg_restore --list`: {})",
                        dump.display(),
                        if said.is_empty() {
                            "no entry".to_string()
                        } else {
                            said.clone()
                        }
                    ),
                )
            });
        }
        Ok(entries)
    }

    fn drop_database(&self, db: &str) -> Result<(), ClientError> {
        self.query(
            &format!("DROP DATABASE IF EXISTS {}", ident(db)),
            &format!("drop database `{db}`"),
        )
        .map(drop)
    }

    fn drop_role(&self, role: &str) -> Result<(), ClientError> {
        self.query(
            &format!("DROP ROLE IF EXISTS {}", ident(role)),
            &format!("drop role `{role}`"),
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_a_password_are_refused() {
        assert!(has_password("postgresql://admin:pw@db:5432/postgres"));
        assert!(has_password("postgresql://admin@db/postgres?password=pw"));
        assert!(!has_password(
            "postgresql://admin@db:5432/postgres?sslmode=require"
        ));
        assert!(!has_password("postgresql://db/postgres"));
        let e = PsqlClient::new("postgresql://admin:hunter2@db/postgres", None).unwrap_err();
        assert!(!e.message.contains("hunter2"), "{e}");
    }

    #[test]
    fn quoting_and_database_swap() {
        assert_eq!(ident("jupyter\"hub"), "\"jupyter\"\"hub\"");
        assert_eq!(literal("o'neil"), "'o''neil'");
        assert_eq!(
            with_database(
                "postgresql://admin@127.0.0.1:5432/postgres?sslmode=disable",
                "jupyterhub"
            ),
            "postgresql://admin@127.0.0.1:5432/jupyterhub?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://admin@db", "jupyterhub"),
            "postgresql://admin@db/jupyterhub"
        );
    }
}
