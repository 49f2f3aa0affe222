//! Read-only queries of a JupyterHub sqlite database (`jupyterhub.sqlite`) with the `sqlite3`
//! command-line tool, for `sync-homes --hub-db` (who was active) and the hub move's database
//! copy (is the file sound, how many users).
//!
//! Why the CLI and not `rusqlite`: bundling SQLite adds a C build to every build of the
//! crate, and the operator already has `sqlite3` (the hub move's procedure checks the copy
//! with it). Owns: the command lines and their errors. Does not own: what the answers mean.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `sql` against `db`, read-only; its standard output (`-json` rows when `json`).
pub fn query(db: &Path, sql: &str, json: bool) -> Result<String, String> {
    if !db.is_file() {
        return Err(format!("{}: no such database file", db.display()));
    }
    let mut cmd = Command::new("sqlite3");
    cmd.args(["-readonly", "-batch", "-bail"]);
    if json {
        cmd.arg("-json");
    }
    let o = cmd
        .arg(db)
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!("cannot run sqlite3 ({e}); install it (Debian/Ubuntu: apt-get install sqlite3)")
        })?;
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    if !o.status.success() || !err.is_empty() {
        return Err(format!(
            "{}: {}",
            db.display(),
            if err.is_empty() {
                "sqlite3 failed"
            } else {
                &err
            }
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// What the check of a hub database found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDbCheck {
    /// Rows of `users`.
    pub users: u64,
}

/// `PRAGMA integrity_check` must answer `ok`, and `users` must be readable.
pub fn check_hub_db(db: &Path) -> Result<HubDbCheck, String> {
    let integrity = query(db, "PRAGMA integrity_check;", false)?;
    let integrity = integrity.trim();
    if integrity != "ok" {
        let first: Vec<&str> = integrity.lines().take(3).collect();
        return Err(format!(
            "{}: PRAGMA integrity_check failed: {}",
            db.display(),
            first.join("; ")
        ));
    }
    let count = query(db, "SELECT count(*) FROM users;", false)?;
    let users = count
        .trim()
        .parse()
        .map_err(|_| format!("{}: unreadable user count `{}`", db.display(), count.trim()))?;
    Ok(HubDbCheck { users })
}
