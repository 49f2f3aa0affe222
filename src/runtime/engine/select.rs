//! Which steps a run takes: `--only`, `--from` and `--skip` resolved against the runbook's
//! ids (an exact id, or a kind naming every step of it).
//!
//! Owns: the resolution and its usage errors. Does not own: running them (`engine`).

use std::collections::BTreeSet;

use super::{ExecError, ExecOptions};

/// Which steps a selection names: an exact id, or (without `:`) a kind such as
/// `delete-lab-namespaces`, which names every step of that kind.
pub(super) fn resolve(ids: &[String], name: &str) -> Vec<usize> {
    if let Some(i) = ids.iter().position(|id| id == name) {
        return vec![i];
    }
    if name.contains(':') {
        return Vec::new();
    }
    ids.iter()
        .enumerate()
        .filter(|(_, id)| id.split_once(':').is_some_and(|(kind, _)| kind == name))
        .map(|(i, _)| i)
        .collect()
}

/// For each step, why it is left out (`None`: selected). Unknown names are a usage error
/// listing the runbook's ids.
pub fn select(ids: &[String], opts: &ExecOptions) -> Result<Vec<Option<String>>, ExecError> {
    if opts.from.is_some() && !opts.only.is_empty() {
        return Err(ExecError::Usage(
            "--from and --only cannot be combined".into(),
        ));
    }
    let mut unknown = Vec::new();
    let mut pick = |name: &String| {
        let r = resolve(ids, name);
        if r.is_empty() && !unknown.contains(name) {
            unknown.push(name.clone());
        }
        r
    };
    let from = opts.from.as_ref().map(&mut pick);
    let only: BTreeSet<usize> = opts.only.iter().flat_map(&mut pick).collect();
    let skip: BTreeSet<usize> = opts.skip.iter().flat_map(&mut pick).collect();
    if !unknown.is_empty() {
        let unknown = unknown
            .into_iter()
            .map(|u| {
                let hint = crate::util::suggest::closest(&u, ids.iter().map(String::as_str))
                    .map(str::to_string);
                (u, hint)
            })
            .collect();
        return Err(ExecError::UnknownSteps {
            unknown,
            known: ids.to_vec(),
        });
    }
    let from_index = from.and_then(|f| f.first().copied());
    Ok((0..ids.len())
        .map(|i| {
            if !opts.only.is_empty() && !only.contains(&i) {
                Some("not selected by --only".to_string())
            } else if from_index.is_some_and(|f| i < f) {
                Some(format!(
                    "before --from {}",
                    opts.from.as_deref().unwrap_or_default()
                ))
            } else if skip.contains(&i) {
                Some("--skip".to_string())
            } else {
                None
            }
        })
        .collect())
}
