//! Rules over a Phalanx repository, judged across files: environment files against the
//! applications that exist, values files against the environments that enable them, the two
//! nublado hubs' routes and databases, and mobu's flocks against its version.

use super::{Finding, Severity, rule};
use crate::playbook::nublado::routes::{
    DEFAULT_ROUTE, expected_hub_route, lab_hub_route, normalize, routes,
};
use crate::playbook::nublado::stages::database_name;
use crate::playbook::nublado::{MOBU_LAB_TYPES, V2, V2_APPS, V3};
use crate::repo::phalanx::{EnvFile, Environment, FlagForm, Format, Setting};
use crate::repo::{Phalanx, lookup};
use crate::suggest::closest;
use crate::yaml::{Document, Node};

pub fn check(p: &Phalanx) -> Vec<Finding> {
    let mut out = Vec::new();
    env_file_rules(p, &p.defaults, None, &mut out);
    for env in &p.environments {
        env_file_rules(p, &env.file, Some(env), &mut out);
        missing_values(p, env, &mut out);
        nublado_rules(p, env, &mut out);
        mobu_rules(p, env, &mut out);
    }
    values_files_rules(p, &mut out);
    misplaced_keys(p, &mut out);
    out
}

fn doc_of<'a>(p: &'a Phalanx, rel: &str) -> Option<&'a Document> {
    p.files.doc(rel)
}

/// Flags, formats and required keys of an environment file (`env` is `None` for the
/// defaults file).
fn env_file_rules(p: &Phalanx, file: &EnvFile, env: Option<&Environment>, out: &mut Vec<Finding>) {
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
fn missing_values(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
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
fn values_files_rules(p: &Phalanx, out: &mut Vec<Finding>) {
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

/// Where a setting can be pointed at: its own line in a values file, or the environment
/// file's flag for the application when the value comes from chart defaults.
fn locate(
    p: &Phalanx,
    env: &Environment,
    app: &str,
    s: Option<&Setting<'_>>,
) -> (String, usize, usize) {
    if let Some(s) = s
        && p.values_file(app, &env.name) == Some(s.rel)
    {
        let (l, c) = s.position();
        return (s.rel.to_string(), l, c);
    }
    if let (Some(doc), Some(f)) = (
        doc_of(p, &env.file.rel),
        env.file.flags.iter().find(|f| f.app == app),
    ) {
        let (l, c) = doc.lines().line_col(f.key_offset);
        return (env.file.rel.clone(), l, c);
    }
    (env.file.rel.clone(), 1, 1)
}

fn nublado_rules(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
    let v3_on = env.enabled.contains(V3);
    let v2_on = env.enabled.contains(V2);
    if !v3_on {
        return;
    }
    let r = routes(p, &env.name);
    if v2_on && r.v3.route == r.v2.route {
        let (file, line, col) = locate(p, env, V3, r.v3.setting.as_ref());
        let hint = if r.v3.route == DEFAULT_ROUTE {
            "while v2 runs on the default route, set v3's `jupyterhub.hub.baseUrl: \"/n3\"` (and `HUB_ROUTE: \"/n3/hub\"`)".to_string()
        } else {
            "give each hub its own `jupyterhub.hub.baseUrl`".to_string()
        };
        out.push(
            Finding::at_line(
                rule::NUBLADO_ROUTE_CLASH,
                &file,
                line,
                col,
                format!(
                    "nublado and nublado2 both resolve to the route `{}` in `{}`",
                    r.v3.route, env.name
                ),
            )
            .hint(hint)
            .scope(&env.name),
        );
    } else if v2_on && r.v3.route != DEFAULT_ROUTE && r.v2.route != DEFAULT_ROUTE {
        let (file, line, col) = locate(p, env, V3, r.v3.setting.as_ref());
        out.push(
            Finding::at_line(rule::NUBLADO_ROUTE_CLASH, &file, line, col, format!("neither hub is on the default route `{DEFAULT_ROUTE}` in `{}` (nublado `{}`, nublado2 `{}`)", env.name, r.v3.route, r.v2.route))
                .hint("one of the two hubs serves the default route: v2 until `make-default`, v3 after it")
                .scope(&env.name),
        );
    }
    if let Some(hr) = lab_hub_route(p, &env.name)
        && let Some(value) = hr.text()
    {
        let want = expected_hub_route(&r.v3.route);
        if normalize(value) != want {
            let explicit = p.values_file(V3, &env.name) == Some(hr.rel);
            let (file, line, col) = if explicit {
                let (l, c) = hr.position();
                (hr.rel.to_string(), l, c)
            } else {
                locate(p, env, V3, r.v3.setting.as_ref())
            };
            let how = if explicit { "" } else { " (the chart default)" };
            out.push(
                Finding::at_line(rule::NUBLADO_HUB_ROUTE, &file, line, col, format!("`HUB_ROUTE` is `{value}`{how} but the v3 hub is on `{}`: labs would talk to the wrong hub", r.v3.route))
                    .hint(format!("set `controller.config.lab.env.HUB_ROUTE: \"{want}\"` in `applications/nublado/values-{}.yaml`", env.name))
                    .scope(&env.name),
            );
        }
    }
    if v2_on
        && let Some(url) = p.setting(V3, &env.name, "jupyterhub.hub.db.url")
        && let Some(text) = url.text()
        && database_name(text) == Some("jupyterhub")
    {
        let (file, line, col) = locate(p, env, V3, Some(&url));
        let how = if p.values_file(V3, &env.name) == Some(url.rel) {
            ""
        } else {
            " (from the chart defaults)"
        };
        out.push(
            Finding::at_line(rule::NUBLADO_SHARED_DB, &file, line, col, format!("nublado v3 uses the `jupyterhub` database of nublado v2{how}, which is still enabled in `{}`", env.name))
                .hint("give v3 its own database: `jupyterhub.hub.db.url: \"postgresql://nublado3@postgres.postgres/nublado3\"` and `nublado3_db` in the postgres values")
                .scope(&env.name),
        );
    }
    if let Some(rel) = p.values_file(V3, &env.name)
        && let Some(doc) = doc_of(p, rel)
    {
        nfs_paths(doc, rel, &env.name, out);
    }
}

/// v3 lab volumes whose NFS source has `path` (v2's key) instead of `serverPath`.
fn nfs_paths(doc: &Document, rel: &str, env: &str, out: &mut Vec<Finding>) {
    let Some(volumes) = lookup(doc, "controller.config.lab.volumes").and_then(Node::as_sequence)
    else {
        return;
    };
    for item in &volumes.items {
        let Some(source) = item
            .value
            .as_mapping()
            .and_then(|m| m.get("source"))
            .and_then(|e| e.value.as_mapping())
        else {
            continue;
        };
        let is_nfs = source.get("type").and_then(|e| e.value.scalar_text()) == Some("nfs");
        if let Some(path) = source.get("path")
            && is_nfs
            && source.get("serverPath").is_none()
        {
            out.push(
                Finding::at(rule::NUBLADO_NFS_PATH, rel, doc, path.key.span.start, "an NFS volume source has `path`, which nublado v3 ignores; the export is not mounted")
                    .hint("rename `path` to `serverPath`")
                    .scope(env),
            );
        }
    }
}

/// `jupyterhub.baseUrl` and `jupyterhub.db` in nublado values files: both belong under
/// `jupyterhub.hub.`.
fn misplaced_keys(p: &Phalanx, out: &mut Vec<Finding>) {
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

/// Business types that query TAP.
const TAP_TYPES: [&str; 2] = ["TAPQueryRunner", "TAPQuerySetRunner"];
/// Options mobu 6 accepts for lab business types (it forbids others).
const LAB_OPTIONS_6: [&str; 19] = [
    "cachemachine_image_policy",
    "delete_lab",
    "delete_timeout",
    "error_idle_time",
    "execution_idle_time",
    "get_node",
    "idle_time",
    "image",
    "jitter",
    "jupyter_timeout",
    "max_executions",
    "max_websocket_message_size",
    "repo_branch",
    "repo_url",
    "spawn_settle_time",
    "spawn_timeout",
    "url_prefix",
    "use_cachemachine",
    "working_directory",
];
/// Options mobu 6 accepts for TAP business types.
const TAP_OPTIONS_6: [&str; 3] = ["query_set", "queries", "sync"];

/// mobu's flocks: options it does not know (checked against mobu 6, whose options are
/// known; later versions changed them), and `use_cachemachine` where it does not belong.
fn mobu_rules(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
    if !env.enabled.contains("mobu") {
        return;
    }
    let Some(rel) = p.values_file("mobu", &env.name) else {
        return;
    };
    let Some(doc) = doc_of(p, rel) else { return };
    let Some(flocks) = lookup(doc, "config.autostart").and_then(Node::as_sequence) else {
        return;
    };
    let version = p.app_version("mobu");
    let major = version.as_ref().and_then(|v| v.first().copied());
    let cachemachine_on = env.enabled.contains("cachemachine");
    for flock in &flocks.items {
        let Some(fm) = flock.value.as_mapping() else {
            continue;
        };
        let name = fm
            .get("name")
            .and_then(|e| e.value.scalar_text())
            .unwrap_or("?");
        let Some(business) = fm.get("business").and_then(|e| e.value.as_mapping()) else {
            continue;
        };
        let Some(type_entry) = business.get("type") else {
            continue;
        };
        let btype = type_entry.value.scalar_text().unwrap_or("");
        let is_lab = MOBU_LAB_TYPES.contains(&btype);
        let options = business.get("options").and_then(|e| e.value.as_mapping());
        let use_cm = options.and_then(|o| o.get("use_cachemachine"));
        let scoped = |f: Finding| f.scope(&env.name);
        if let Some(uc) = use_cm {
            if !is_lab {
                out.push(scoped(
                    Finding::at(rule::MOBU_CACHEMACHINE_NOT_LAB, rel, doc, uc.key.span.start, format!("flock `{name}`: `use_cachemachine` is not an option of `{btype}`; mobu refuses to start"))
                        .hint("remove `use_cachemachine` from this flock"),
                ));
            } else if major.is_some_and(|m| m >= 7) {
                out.push(scoped(
                    Finding::at(rule::MOBU_CACHEMACHINE_REMOVED, rel, doc, uc.key.span.start, format!("flock `{name}`: mobu {} removed `use_cachemachine`; mobu refuses to start", version_text(&version)))
                        .hint("remove `use_cachemachine`"),
                ));
            }
        }
        if is_lab && major.is_none_or(|m| m < 7) && !cachemachine_on {
            let relies = match use_cm {
                Some(uc) => crate::repo::phalanx::as_bool(&uc.value) != Some(false),
                None => true,
            };
            if relies {
                let (at, how) = match use_cm {
                    Some(uc) => (uc.value.span.start, "`use_cachemachine: true`"),
                    None => (
                        type_entry.key.span.start,
                        "by default (`use_cachemachine` defaults to true in mobu 6)",
                    ),
                };
                out.push(scoped(
                    Finding::at(rule::MOBU_CACHEMACHINE_DISABLED, rel, doc, at, format!("flock `{name}` relies on cachemachine {how}, but cachemachine is not enabled in `{}`", env.name))
                        .hint("set `business.options.use_cachemachine: false` for this flock"),
                ));
            }
        }
        if major.is_some_and(|m| m < 7)
            && let Some(options) = options
        {
            let known: &[&str] = if is_lab {
                &LAB_OPTIONS_6
            } else if TAP_TYPES.contains(&btype) {
                &TAP_OPTIONS_6
            } else {
                continue;
            };
            for e in &options.entries {
                let Some(key) = e.key.scalar_text() else {
                    continue;
                };
                if key == "use_cachemachine" || known.contains(&key) {
                    continue;
                }
                let mut f = Finding::at(
                    rule::MOBU_UNKNOWN_OPTION,
                    rel,
                    doc,
                    e.key.span.start,
                    format!(
                        "flock `{name}`: `{key}` is not an option of `{btype}` in mobu {}; mobu refuses to start",
                        version_text(&version)
                    ),
                );
                if let Some(c) = closest(key, known.iter().copied()) {
                    f = f.hint(format!("did you mean `{c}`?"));
                }
                out.push(scoped(f));
            }
        }
    }
}

fn version_text(v: &Option<Vec<u64>>) -> String {
    v.as_ref().map_or_else(
        || "?".into(),
        |v| v.iter().map(u64::to_string).collect::<Vec<_>>().join("."),
    )
}
