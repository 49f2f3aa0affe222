//! Environment files and values files, against the applications and environments that exist.
//!
//! Owns: an environment file's flags, formats and required keys (the defaults file
//! included), a values file missing for an enabled application, and values files for
//! environments that do not exist or do not enable the application. Does not own: what the
//! values say (`nublado`, `mounts`, `mobu`, `keys`) or reading the environments
//! (`repo::phalanx`).

use crate::repo::Phalanx;
use crate::repo::nublado::{V2_APPS, V3};
use crate::repo::phalanx::{EnvFile, Environment, FlagForm, Format};
use crate::util::suggest::closest;
use crate::validate::{Finding, Severity, rule};
use crate::yaml::Node;

use super::doc_of;

/// Flags, formats and required keys of an environment file (`env` is `None` for the
/// defaults file).
pub(super) fn env_file_rules(
    p: &Phalanx,
    file: &EnvFile,
    env: Option<&Environment>,
    out: &mut Vec<Finding>,
) {
    let Some(doc) = doc_of(p, &file.rel) else {
        return;
    };
    let scope = |f: Finding| match env {
        Some(e) => f.scope(&e.name),
        None => f,
    };
    if let Some(env) = env {
        let root = doc.root(0).and_then(Node::as_mapping);
        let has = |k: &str| root.is_some_and(|m| m.get(k).is_some());
        let mut missing = Vec::new();
        if !has("name") && !has("environment") {
            missing.push("name");
        }
        for k in ["fqdn", "vaultPathPrefix"] {
            if !has(k) {
                missing.push(k);
            }
        }
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(scope(
                Finding::at_line(
                    rule::ENV_REQUIRED_KEY,
                    &file.rel,
                    1,
                    1,
                    format!("environment `{}` lacks {list}", env.name),
                )
                .hint(format!(
                    "every environment file sets `name: \"{}\"`, `fqdn` and `vaultPathPrefix`",
                    env.name
                )),
            ));
        }
    }
    let known: Vec<&str> = p.applications.keys().map(String::as_str).collect();
    for f in &file.flags {
        if f.form == FlagForm::NestedEnabled {
            out.push(scope(
                Finding::at(
                    rule::ENV_FLAG_TYPE,
                    &file.rel,
                    doc,
                    f.key_offset,
                    format!(
                        "`{}` is written as a block with `enabled:` under `applications:`",
                        f.app
                    ),
                )
                .hint(format!(
                    "write `{}: true` or `{}: false` directly under `applications:`",
                    f.app, f.app
                )),
            ));
        } else if f.value.is_none() {
            out.push(scope(
                Finding::at(rule::ENV_FLAG_TYPE, &file.rel, doc, f.value_offset, format!("the flag of `{}` is not a boolean", f.app))
                    .hint("write `true` or `false` (YAML 1.1 forms such as `yes` or `on` mean different things to different readers)"),
            ));
        }
        if !p.applications.contains_key(&f.app) {
            let mut finding = Finding::at(
                rule::ENV_UNKNOWN_APP,
                &file.rel,
                doc,
                f.key_offset,
                format!(
                    "unknown application `{}`: there is no `applications/{}/`",
                    f.app, f.app
                ),
            );
            finding = match closest(&f.app, known.iter().copied()) {
                Some(c) => finding.hint(format!("did you mean `{c}`?")),
                None if f.value == Some(false) => {
                    finding.hint("a flag left behind by a removed application: delete it")
                }
                None => {
                    finding.hint("add the application under `applications/`, or remove the flag")
                }
            };
            // A disabled flag of a removed application deploys nothing: cruft, not an outage.
            if f.value == Some(false) {
                finding = finding.severity(Severity::Warning);
            }
            out.push(scope(finding));
        }
    }
    if file.format == Format::Mixed
        && let Some(first) = file.flags.iter().find(|f| f.form == FlagForm::Block)
    {
        out.push(scope(
            Finding::at(rule::ENV_MIXED_FORMAT, &file.rel, doc, first.key_offset, "this file has both Format A application blocks (`app:` / `enabled:`) and a Format C `applications:` map")
                .hint("use one format per file: list applications under `applications:` as `app: true`"),
        ));
    }
}

/// An enabled application needs its `values-<env>.yaml` (Argo CD fails without it).
pub(super) fn missing_values(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
    let doc = doc_of(p, &env.file.rel);
    for app in &env.enabled {
        let Some(a) = p.applications.get(app) else {
            continue;
        };
        if !a.has_chart || a.values.contains_key(&env.name) {
            continue;
        }
        let flag = env.file.flags.iter().find(|f| &f.app == app);
        let message = format!(
            "`{app}` is enabled in `{}` but `applications/{app}/values-{}.yaml` does not exist",
            env.name, env.name
        );
        let finding = match (flag, doc) {
            (Some(f), Some(doc)) => Finding::at(
                rule::ENV_MISSING_VALUES,
                &env.file.rel,
                doc,
                f.key_offset,
                message,
            ),
            _ => Finding::at_line(
                rule::ENV_MISSING_VALUES,
                &env.file.rel,
                1,
                1,
                format!("{message} (enabled by default in {})", p.defaults.rel),
            ),
        };
        out.push(
            finding
                .hint(format!(
                    "create `applications/{app}/values-{}.yaml` (it may hold only a comment)",
                    env.name
                ))
                .scope(&env.name),
        );
    }
}

/// Values files for environments that do not exist, or that do not enable the application.
pub(super) fn values_files_rules(p: &Phalanx, out: &mut Vec<Finding>) {
    let envs: Vec<&str> = p.environments.iter().map(|e| e.name.as_str()).collect();
    for app in p.applications.values() {
        for (env, rel) in &app.values {
            match p.env(env) {
                None => {
                    let mut f = Finding::at_line(
                        rule::VALUES_UNKNOWN_ENV,
                        rel,
                        1,
                        1,
                        format!(
                            "there is no environment `{env}` (no `environments/values-{env}.yaml`)"
                        ),
                    );
                    f = match closest(env, envs.iter().copied()) {
                        Some(c) => f.hint(format!("did you mean `values-{c}.yaml`?")),
                        None => f.hint("remove the file, or add the environment"),
                    };
                    out.push(f);
                }
                Some(e) if !e.enabled.contains(&app.name) => {
                    let hint = if V2_APPS.contains(&app.name.as_str()) && e.enabled.contains(V3) {
                        "a v2 values file left behind: the `drop-v2-values` stage deletes it"
                            .to_string()
                    } else {
                        format!(
                            "enable `{}` in `{}`, or remove the file",
                            app.name, e.file.rel
                        )
                    };
                    out.push(
                        Finding::at_line(
                            rule::VALUES_APP_DISABLED,
                            rel,
                            1,
                            1,
                            format!("`{}` is not enabled in `{env}`", app.name),
                        )
                        .hint(hint)
                        .scope(env),
                    );
                }
                Some(_) => {}
            }
        }
    }
}
