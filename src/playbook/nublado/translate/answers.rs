//! The operator's answers for v2 PersistentVolumeClaim volumes (`--pvc-storage-class`,
//! `--pvc-access-modes`, `--pvc-size`): parsing and checking them, and looking one up by the
//! v2 volume's name or its claim.
//!
//! Does not own: where the answers are used (`mounts`).

use std::collections::{BTreeMap, BTreeSet};

/// Access modes of a v3 PVC source when the operator names none and v2 shows none.
pub const DEFAULT_ACCESS_MODE: &str = "ReadWriteMany";
/// Requested size of a v3 PVC source when the operator names none and v2 shows none.
pub const DEFAULT_SIZE: &str = "1Gi";
/// The access modes Kubernetes knows.
pub const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

/// What the operator decided for v2 PersistentVolumeClaim volumes, keyed by the v2 volume's
/// name or its `claimName`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// `--pvc-storage-class NAME=CLASS`.
    pub storage_class: BTreeMap<String, String>,
    /// `--pvc-access-modes NAME=MODE[,MODE]`.
    pub access_modes: BTreeMap<String, Vec<String>>,
    /// `--pvc-size NAME=SIZE`.
    pub size: BTreeMap<String, String>,
}

impl Answers {
    pub fn is_empty(&self) -> bool {
        self.storage_class.is_empty() && self.access_modes.is_empty() && self.size.is_empty()
    }

    /// Every NAME the answers mention.
    pub fn names(&self) -> BTreeSet<&str> {
        self.storage_class
            .keys()
            .chain(self.access_modes.keys())
            .chain(self.size.keys())
            .map(String::as_str)
            .collect()
    }

    /// The answers as command-line options.
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (n, c) in &self.storage_class {
            out.push(format!("--pvc-storage-class {n}={c}"));
        }
        for (n, m) in &self.access_modes {
            out.push(format!("--pvc-access-modes {n}={}", m.join(",")));
        }
        for (n, s) in &self.size {
            out.push(format!("--pvc-size {n}={s}"));
        }
        out
    }

    pub(super) fn get<'a, T>(
        map: &'a BTreeMap<String, T>,
        volume: &str,
        claim: &str,
    ) -> Option<&'a T> {
        map.get(volume).or_else(|| map.get(claim))
    }
}

fn name_value<'a>(arg: &'a str, what: &str) -> Result<(&'a str, &'a str), String> {
    match arg.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => Ok((n.trim(), v.trim())),
        _ => Err(format!(
            "expected NAME={what}, where NAME is a nublado2 volume or its claimName"
        )),
    }
}

/// `NAME=CLASS`.
pub fn parse_storage_class(arg: &str) -> Result<(String, String), String> {
    let (n, v) = name_value(arg, "CLASS")?;
    Ok((n.to_string(), v.to_string()))
}

/// `NAME=MODE[,MODE]`, each a Kubernetes access mode.
pub fn parse_access_modes(arg: &str) -> Result<(String, Vec<String>), String> {
    let (n, v) = name_value(arg, "MODE[,MODE]")?;
    let modes: Vec<String> = v.split(',').map(|m| m.trim().to_string()).collect();
    if let Some(bad) = modes.iter().find(|m| !ACCESS_MODES.contains(&m.as_str())) {
        return Err(format!(
            "`{bad}` is not an access mode; use {}",
            ACCESS_MODES.join(", ")
        ));
    }
    Ok((n.to_string(), modes))
}

/// `NAME=SIZE`, a Kubernetes quantity such as `1Gi` or `500M`.
pub fn parse_size(arg: &str) -> Result<(String, String), String> {
    let (n, v) = name_value(arg, "SIZE")?;
    if !is_quantity(v) {
        return Err(format!(
            "`{v}` is not a storage size; write a number with an optional unit, such as 1Gi or 500M"
        ));
    }
    Ok((n.to_string(), v.to_string()))
}

fn is_quantity(s: &str) -> bool {
    const UNITS: [&str; 13] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
    ];
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        && UNITS.contains(&unit)
}
