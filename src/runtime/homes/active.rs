//! The activity filter of a copy (`--active-within`): who was active, from the hub's sqlite
//! database or the JupyterHub API (every page), and which top-level entries that selects, by
//! kubespawner's legacy escaping of a username (plus the `_shared*` entries).
//!
//! Owns: reading activity and matching users to directories. Does not own: the copy (`copy`),
//! running `sqlite3` (`clients::sqlite`), HTTP (`crate::http`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::{Entry, SyncError};
use crate::http::Http;
use crate::runtime::clients::Sqlite;
use crate::util::time::parse_rfc3339;

/// kubespawner's legacy escaping of a username (escapism with `[a-z0-9]` safe and `-` as the
/// escape character, then lower-cased): every other UTF-8 byte becomes `-xx`.
/// `user@2i2c.org` → `user-402i2c-2eorg`.
pub fn escape_username(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            out.push(b as char);
        } else {
            out.push_str(&format!("-{b:02x}"));
        }
    }
    out
}

/// The directory names a username may have: the escaping of the name as kubespawner does it
/// (upper-case letters escaped), then of the lower-cased name (JupyterHub normally lower-cases
/// names at login, when both are the same).
pub fn directory_candidates(name: &str) -> Vec<String> {
    let mut c = vec![escape_username(name)];
    let lower = escape_username(&name.to_lowercase());
    if lower != c[0] {
        c.push(lower);
    }
    c
}

/// `24h`, `7d`, `90m`, `30s`, `2w` (a whole number and a unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = s.get(..digits)?.parse().ok()?;
    let unit = match &s[digits..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(unit)?))
}

/// Whether a `last_activity` time (`2026-11-21T06:17:46.123Z` from the API, or the database's
/// naive UTC `2026-11-21 06:17:46.123456`) is within `within` of `now`.
pub fn active(last_activity: &str, now: SystemTime, within: Duration) -> bool {
    let t = last_activity.trim();
    let has_zone = t.ends_with(['Z', 'z']) || t.get(19..).is_some_and(|r| r.contains(['+', '-']));
    let parsed = if has_zone {
        parse_rfc3339(t)
    } else {
        parse_rfc3339(&format!("{t}Z"))
    };
    let Some(at) = parsed else {
        return false;
    };
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    now.saturating_sub(at) <= within
}

/// Users active within `within`, from the hub's sqlite database (`users.last_activity`),
/// read with `sqlite` (the operator's `sqlite3`, under its limit and the run's redactor).
pub fn active_from_db(
    sqlite: &Sqlite,
    db: &Path,
    within: Duration,
) -> Result<Vec<String>, SyncError> {
    if !db.is_file() {
        return Err(SyncError::Input(format!(
            "{}: no such hub database",
            db.display()
        )));
    }
    let text = sqlite
        .query(
            db,
            "SELECT name, last_activity FROM users WHERE last_activity IS NOT NULL;",
            true,
        )
        .map_err(SyncError::Input)?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    #[derive(Deserialize)]
    struct Row {
        name: String,
        last_activity: Option<serde_json::Value>,
    }
    let rows: Vec<Row> = serde_json::from_str(&text)
        .map_err(|e| SyncError::Input(format!("{}: unreadable answer: {e}", db.display())))?;
    let now = SystemTime::now();
    Ok(rows
        .into_iter()
        .filter(|r| {
            r.last_activity
                .as_ref()
                .and_then(|v| v.as_str())
                .is_some_and(|t| active(t, now, within))
        })
        .map(|r| r.name)
        .collect())
}

/// Users active within `within`, from the JupyterHub API (`GET /hub/api/users`), every page:
/// with the pagination media type the hub answers `{items, _pagination: {next}}` and the
/// `next` links are followed to the end; an older hub answers a plain list, read until an
/// empty page (a short page is not the end: the hub caps `limit`).
pub fn active_from_api(
    base: &str,
    token: &str,
    within: Duration,
) -> Result<Vec<String>, SyncError> {
    const LIMIT: usize = 200;
    let http = Http::new();
    let base = base.trim_end_matches('/');
    let root = base.strip_suffix("/hub/api").unwrap_or(base);
    let auth = format!("token {token}");
    let now = SystemTime::now();
    let mut names = Vec::new();
    let mut offset = 0usize;
    for _page in 0..100_000 {
        let url = format!("{root}/hub/api/users?offset={offset}&limit={LIMIT}");
        let reply = http
            .send(
                "GET",
                &url,
                &[
                    ("Authorization", auth.as_str()),
                    ("Accept", "application/jupyterhub-pagination+json"),
                ],
                None,
                "the JupyterHub API",
            )
            .map_err(|e| SyncError::Input(e.message.replace(token, "***")))?;
        if !(200..300).contains(&reply.status) {
            return Err(SyncError::Input(format!(
                "the JupyterHub API answered {} to GET {root}/hub/api/users (offset {offset})",
                reply.status
            )));
        }
        let v: serde_json::Value = serde_json::from_str(&reply.body).map_err(|e| {
            SyncError::Input(format!(
                "the JupyterHub API answered something else than JSON: {e}"
            ))
        })?;
        let (items, next) = match &v {
            serde_json::Value::Array(a) => (a.clone(), None),
            serde_json::Value::Object(o) => {
                let items = o
                    .get("items")
                    .and_then(|i| i.as_array())
                    .cloned()
                    .ok_or_else(|| {
                        SyncError::Input(
                            "the JupyterHub API answered an object without items".into(),
                        )
                    })?;
                let next = o
                    .get("_pagination")
                    .and_then(|p| p.get("next"))
                    .filter(|n| !n.is_null())
                    .map(|n| n.get("offset").and_then(|x| x.as_u64()));
                (items, Some(next))
            }
            _ => {
                return Err(SyncError::Input(
                    "the JupyterHub API answered neither a list nor a page".into(),
                ));
            }
        };
        let count = items.len();
        for u in items {
            let name = u.get("name").and_then(|n| n.as_str());
            let last = u.get("last_activity").and_then(|n| n.as_str());
            if let (Some(name), Some(last)) = (name, last)
                && active(last, now, within)
            {
                names.push(name.to_string());
            }
        }
        match next {
            // A page: follow `next` until there is none.
            Some(None) => return Ok(names),
            Some(Some(next_offset)) => {
                offset = match next_offset {
                    Some(o) => o as usize,
                    None => offset + count,
                };
                if count == 0 {
                    return Ok(names);
                }
            }
            // A plain list: until an empty page.
            None => {
                if count == 0 {
                    return Ok(names);
                }
                offset += count;
            }
        }
    }
    Err(SyncError::Input(
        "the JupyterHub API never stopped paging".into(),
    ))
}

/// Which entries to copy when filtering by activity: every active user's directory plus the
/// `_shared*` entries; also the active users that have no directory in SRC.
pub fn select_active(entries: &[Entry], users: &[String]) -> (Vec<Entry>, Vec<String>) {
    let present: BTreeMap<&str, &Entry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut keep: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.name.starts_with("_shared"))
        .map(|e| e.name.clone())
        .collect();
    let mut missing = Vec::new();
    for u in users {
        match directory_candidates(u)
            .into_iter()
            .find(|c| present.contains_key(c.as_str()))
        {
            Some(d) => {
                keep.insert(d);
            }
            None => missing.push(u.clone()),
        }
    }
    let selected = entries
        .iter()
        .filter(|e| keep.contains(&e.name))
        .cloned()
        .collect();
    (selected, missing)
}
