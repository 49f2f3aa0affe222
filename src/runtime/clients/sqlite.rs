//! Read-only queries of a JupyterHub sqlite database (`jupyterhub.sqlite`) with the `sqlite3`
//! command-line tool, for `sync-homes --hub-db` (who was active) and the hub move's database
//! copy (is the file sound, how many users).
//!
//! Why the CLI and not `rusqlite`: bundling SQLite adds a C build to every build of the
//! crate, and the operator already has `sqlite3` (the hub move's procedure checks the copy
//! with it). Like every child of the runtime it runs through `process::run`: bounded by a
//! time limit (a database on a stalled network share, a locked file) and stopped at an
//! interrupt; its error texts go through `redact::urls` and the `Redactor` a caller that
//! holds secrets gives it (`with_redactor`; today's callers hold none).
//!
//! Owns: the command lines, their limit and their errors. Does not own: what the answers mean
//! (`homes`, `steps::hub_db`), nor which secrets the run has (the caller's `Redactor`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::runtime::process::{self, End, Limits};
use crate::util::redact::{self, Redactor};

/// How long one query may take: `PRAGMA integrity_check` reads the whole file, which for a
/// hub database of some GB on a network share takes minutes, not hours.
pub const QUERY_LIMIT: Duration = Duration::from_secs(10 * 60);

/// The operator's `sqlite3` (from `PATH`, or the program named by `$SQLITE3`).
#[derive(Debug, Clone)]
pub struct Sqlite {
    program: PathBuf,
    limit: Duration,
    redactor: Redactor,
}

impl Default for Sqlite {
    fn default() -> Self {
        Sqlite::new(
            std::env::var_os("SQLITE3")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("sqlite3")),
        )
    }
}

/// What the check of a hub database found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDbCheck {
    /// Rows of `users`.
    pub users: u64,
}

impl Sqlite {
    pub fn new(program: impl Into<PathBuf>) -> Sqlite {
        Sqlite {
            program: program.into(),
            limit: QUERY_LIMIT,
            redactor: Redactor::default(),
        }
    }

    /// The same, with another limit per query.
    pub fn with_limit(mut self, limit: Duration) -> Sqlite {
        self.limit = limit;
        self
    }

    /// The same, with the run's redactor for its error texts.
    pub fn with_redactor(mut self, redactor: Redactor) -> Sqlite {
        self.redactor = redactor;
        self
    }

    fn clean(&self, text: &str) -> String {
        self.redactor.redact(&redact::urls(text))
    }

    /// Runs `sql` against `db`, read-only; its standard output (`-json` rows when `json`).
    pub fn query(&self, db: &Path, sql: &str, json: bool) -> Result<String, String> {
        if !db.is_file() {
            return Err(self.clean(&format!("{}: no such database file", db.display())));
        }
        let mut cmd = Command::new(&self.program);
        cmd.args(["-readonly", "-batch", "-bail"]);
        if json {
            cmd.arg("-json");
        }
        cmd.arg(db).arg(sql);
        let o = process::run(&mut cmd, None, Limits::within(self.limit), None).map_err(|e| {
            self.clean(&format!(
                "cannot run {} ({e}); install sqlite3 (Debian/Ubuntu: apt-get install sqlite3) or set $SQLITE3",
                self.program.display()
            ))
        })?;
        let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
        let why = match &o.end {
            End::Exited(_) if o.success() && err.is_empty() => None,
            End::Exited(_) if err.is_empty() => Some(format!("sqlite3 {}", o.describe())),
            End::Exited(_) => Some(err),
            _ if err.is_empty() => Some(format!("sqlite3 {}", o.describe())),
            _ => Some(format!("sqlite3 {}: {err}", o.describe())),
        };
        match why {
            None => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
            Some(why) => Err(self.clean(&format!("{}: {why}", db.display()))),
        }
    }

    /// `PRAGMA integrity_check` must answer `ok`, and `users` must be readable.
    pub fn check_hub_db(&self, db: &Path) -> Result<HubDbCheck, String> {
        let integrity = self.query(db, "PRAGMA integrity_check;", false)?;
        let integrity = integrity.trim();
        if integrity != "ok" {
            let first: Vec<&str> = integrity.lines().take(3).collect();
            return Err(self.clean(&format!(
                "{}: PRAGMA integrity_check failed: {}",
                db.display(),
                first.join("; ")
            )));
        }
        let count = self.query(db, "SELECT count(*) FROM users;", false)?;
        let users = count.trim().parse().map_err(|_| {
            self.clean(&format!(
                "{}: unreadable user count `{}`",
                db.display(),
                count.trim()
            ))
        })?;
        Ok(HubDbCheck { users })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn stand_in(dir: &Path, script: &str) -> PathBuf {
        let prog = dir.join("sqlite3");
        std::fs::write(&prog, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        prog
    }

    #[test]
    fn the_real_sqlite3_answers_and_checks_a_hub_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("jupyterhub.sqlite");
        let made = Command::new("sqlite3")
            .arg(&db)
            .arg("CREATE TABLE users (name TEXT, last_activity TEXT); INSERT INTO users VALUES ('alice', '2026-11-21 06:17:46'), ('bob', NULL);")
            .status()
            .expect("sqlite3 is installed");
        assert!(made.success());
        let s = Sqlite::default();
        assert_eq!(s.check_hub_db(&db).unwrap(), HubDbCheck { users: 2 });
        let rows = s
            .query(&db, "SELECT name FROM users ORDER BY name;", true)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&rows).unwrap();
        assert_eq!(v, serde_json::json!([{"name": "alice"}, {"name": "bob"}]));
        // Read-only: a write is refused, with sqlite3's own words.
        let e = s.query(&db, "DELETE FROM users;", false).unwrap_err();
        assert!(e.contains("readonly"), "{e}");
        assert_eq!(s.check_hub_db(&db).unwrap().users, 2);
    }

    #[test]
    fn a_hanging_sqlite3_ends_at_its_limit_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("jupyterhub.sqlite");
        std::fs::write(&db, b"").unwrap();
        let prog = stand_in(dir.path(), "sleep 30");
        let s = Sqlite::new(&prog).with_limit(Duration::from_millis(300));
        let t0 = std::time::Instant::now();
        let e = s.check_hub_db(&db).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        assert!(
            e.contains(&format!("{}: sqlite3 timed out after", db.display())),
            "{e}"
        );
    }

    #[test]
    fn errors_go_through_the_redactor() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("jupyterhub.sqlite");
        std::fs::write(&db, b"").unwrap();
        let prog = stand_in(
            dir.path(),
            "echo 'Error: near token s3cr3t-hub-token-value, https://hub:pw@db.example/x' >&2; exit 1",
        );
        let s = Sqlite::new(&prog).with_redactor(Redactor::new(["s3cr3t-hub-token-value"]));
        let e = s.query(&db, "SELECT 1;", false).unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(!e.contains(":pw@"), "{e}");
        assert!(e.contains("near token [redacted]"), "{e}");
        assert!(e.contains("https://***@db.example/x"), "{e}");
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("jupyterhub.sqlite");
        std::fs::write(&db, b"").unwrap();
        let e = Sqlite::new("/nonexistent/sqlite3")
            .query(&db, "SELECT 1;", false)
            .unwrap_err();
        assert!(e.contains("install sqlite3"), "{e}");
    }
}
