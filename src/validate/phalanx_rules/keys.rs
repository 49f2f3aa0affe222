//! Keys the charts do not read, in every nublado values file (each environment's and the
//! chart defaults).
//!
//! Owns: v3 controller keys the repository's nublado chart version does not read (snake_case,
//! another version's syntax, typos) and `jupyterhub.baseUrl` / `jupyterhub.db` written where
//! the JupyterHub chart does not look. Does not own: which keys a chart version reads
//! (`repo::nublado::controller`).

use crate::repo::nublado::controller::{self, ChartVersion};
use crate::repo::nublado::{V2, V3};
use crate::repo::{Phalanx, lookup};
use crate::validate::{Finding, rule};
use crate::yaml::Node;

use super::doc_of;

/// Keys of the v3 lab volumes, volume mounts and image settings that the nublado chart
/// version in the repository does not read (snake_case keys, keys of another version's
/// syntax, typos): the controller ignores or refuses them, silently either way.
pub(super) fn controller_keys(p: &Phalanx, out: &mut Vec<Finding>) {
    let Some(app) = p.applications.get(V3) else {
        return;
    };
    let chart = ChartVersion::of(p);
    let defaults = p.chart_defaults(V3);
    for (env, rel) in app
        .values
        .iter()
        .map(|(e, r)| (Some(e.as_str()), r.as_str()))
        .chain([(None, defaults.as_str())])
    {
        let Some(doc) = doc_of(p, rel) else { continue };
        for u in controller::unknown_keys(doc, &chart) {
            let mut f = Finding::at(
                rule::NUBLADO_V3_UNKNOWN_KEY,
                rel,
                doc,
                u.offset,
                format!(
                    "`{}` is not a key of `{}` in {}: the controller does not read it",
                    u.key,
                    u.parent,
                    chart.name()
                ),
            )
            .hint(u.hint)
            .subject(format!("{}.{}", u.parent, u.key));
            if let Some(env) = env {
                f = f.scope(env);
            }
            out.push(f);
        }
    }
}

/// `jupyterhub.baseUrl` and `jupyterhub.db` in nublado values files: both belong under
/// `jupyterhub.hub.`.
pub(super) fn misplaced_keys(p: &Phalanx, out: &mut Vec<Finding>) {
    for app in [V3, V2] {
        let Some(a) = p.applications.get(app) else {
            continue;
        };
        let defaults = p.chart_defaults(app);
        for (env, rel) in a
            .values
            .iter()
            .map(|(e, r)| (Some(e.as_str()), r.as_str()))
            .chain([(None, defaults.as_str())])
        {
            let Some(doc) = doc_of(p, rel) else { continue };
            let Some(jh) = lookup(doc, "jupyterhub").and_then(Node::as_mapping) else {
                continue;
            };
            for key in ["baseUrl", "db"] {
                if let Some(e) = jh.get(key) {
                    let mut f = Finding::at(rule::NUBLADO_MISPLACED_KEY, rel, doc, e.key.span.start, format!("`jupyterhub.{key}` is not read by the JupyterHub chart; it belongs under `jupyterhub.hub.{key}`"))
                        .hint(format!("move it to `jupyterhub.hub.{key}`"));
                    if let Some(env) = env {
                        f = f.scope(env);
                    }
                    out.push(f);
                }
            }
        }
    }
}
