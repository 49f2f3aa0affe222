//! Rules over a Phalanx repository, judged across files: environment files against the
//! applications that exist, values files against the environments that enable them, the two
//! nublado hubs' routes and databases, and mobu's flocks against its version.

use super::{Finding, Severity, rule};
use crate::repo::nublado::controller::{self, ChartVersion};
use crate::repo::nublado::database::{self, HubDatabase, UrlSource};
use crate::repo::nublado::mobu::{self, Cachemachine, GLOBAL_CACHEMACHINE, Mobu};
use crate::repo::nublado::routes::{
    DEFAULT_ROUTE, expected_hub_route, lab_hub_route, normalize, routes,
};
use crate::repo::nublado::volumes::{
    self, Difference, Pos, Syntax, V2Lab, V2Mount, V2Source, V2Volume, V3Lab, V3Mount,
};
use crate::repo::nublado::{V2, V2_APPS, V3};
use crate::repo::phalanx::{EnvFile, Environment, FlagForm, Format, Setting};
use crate::repo::{Phalanx, lookup};
use crate::util::suggest::closest;
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
    controller_keys(p, &mut out);
    out
}

/// Keys of the v3 lab volumes, volume mounts and image settings that the nublado chart
/// version in the repository does not read (snake_case keys, keys of another version's
/// syntax, typos): the controller ignores or refuses them, silently either way.
fn controller_keys(p: &Phalanx, out: &mut Vec<Finding>) {
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
            .scope(&env.name)
            .subject(format!("{} same route", env.name)),
        );
    } else if v2_on && r.v3.route != DEFAULT_ROUTE && r.v2.route != DEFAULT_ROUTE {
        let (file, line, col) = locate(p, env, V3, r.v3.setting.as_ref());
        out.push(
            Finding::at_line(rule::NUBLADO_ROUTE_CLASH, &file, line, col, format!("neither hub is on the default route `{DEFAULT_ROUTE}` in `{}` (nublado `{}`, nublado2 `{}`)", env.name, r.v3.route, r.v2.route))
                .hint("one of the two hubs serves the default route: v2 until `make-default`, v3 after it")
                .scope(&env.name)
                .subject(format!("{} no default route", env.name)),
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
                    .scope(&env.name)
                    .subject(env.name.clone()),
            );
        }
    }
    hub_database(p, env, v2_on, out);
    if let Some(rel) = p.values_file(V3, &env.name)
        && let Some(doc) = doc_of(p, rel)
    {
        nfs_paths(doc, rel, &env.name, out);
    }
    v3_mounts(p, env, out);
}

/// nublado v3's hub database (its effective URL: the environment's values, else the chart
/// default of the version in the repository): not v2's own (same server and database) while v2
/// runs; on the in-cluster server only where the environment runs it; and there, created by a
/// `*_db` block of the postgres values (the server makes nothing else).
fn hub_database(p: &Phalanx, env: &Environment, v2_on: bool, out: &mut Vec<Finding>) {
    let v3 = database::v3_hub_database(p, &env.name);
    let at = |db: &HubDatabase| -> (String, usize, usize) {
        match &db.source {
            UrlSource::Values { file, line } => {
                let col = p
                    .setting(V3, &env.name, database::URL_PATH)
                    .map_or(1, |s| s.position().1);
                (file.clone(), *line, col)
            }
            _ => locate(p, env, V3, None),
        }
    };
    let how = if v3.source.is_default() {
        format!(" ({})", v3.source.describe())
    } else {
        String::new()
    };
    let parts = v3.parts();
    if v2_on {
        let v2 = database::v2_hub_database(p, &env.name);
        let v2_parts = v2.parts();
        if parts.server() == v2_parts.server() && parts.database == v2_parts.database {
            let (file, line, col) = at(&v3);
            let theirs = v2_parts.with(database::V3_ROLE, database::V3_DATABASE);
            out.push(
                Finding::at_line(rule::NUBLADO_SHARED_DB, &file, line, col, format!(
                    "nublado v3 uses nublado v2's database `{}` on `{}`{how}, while v2 is still enabled in `{}`",
                    parts.database.unwrap_or("?"), parts.server(), env.name
                ))
                .hint(format!(
                    "give v3 its own database on the same server: `jupyterhub.hub.db.url: \"{theirs}\"`{}",
                    if parts.is_in_cluster() { " and `nublado3_db: {user: \"nublado3\", db: \"nublado3\"}` in the postgres values" } else { " (a database your DBAs create)" }
                ))
                .scope(&env.name)
                .subject(format!("{} shared database", env.name)),
            );
        }
    }
    if !parts.is_in_cluster() {
        return;
    }
    if !database::has_in_cluster_server(p, &env.name) {
        let (file, line, col) = at(&v3);
        out.push(
            Finding::at_line(rule::NUBLADO_DB_SERVER, &file, line, col, format!(
                "nublado v3's database is on the in-cluster PostgreSQL server `{}`{how}, but `{}` does not run the `postgres` application",
                parts.host, env.name
            ))
            .hint("set `jupyterhub.hub.db.url` to the server your DBAs provide (`enable-v3 --hub-db-url URL` writes it), or enable `postgres` with a `*_db` block for v3")
            .scope(&env.name)
            .subject(format!("{} no in-cluster server", env.name)),
        );
        return;
    }
    let blocks = database::in_cluster_databases(p, &env.name);
    let pg = p.values_file(database::POSTGRES, &env.name).map_or_else(
        || format!("applications/postgres/values-{}.yaml", env.name),
        str::to_string,
    );
    let name = parts.database.unwrap_or("");
    let made_db = blocks.iter().any(|b| b.database.as_deref() == Some(name));
    let made_user = parts
        .user
        .is_none_or(|u| blocks.iter().any(|b| b.user.as_deref() == Some(u)));
    if made_db && made_user {
        return;
    }
    let missing = match (made_db, made_user) {
        (false, _) => format!("no `*_db` block of `{pg}` creates the database `{name}`"),
        _ => format!(
            "no `*_db` block of `{pg}` creates the role `{}`",
            parts.user.unwrap_or("")
        ),
    };
    let (file, line, col) = at(&v3);
    out.push(
        Finding::at_line(rule::NUBLADO_DB_BLOCK, &file, line, col, format!(
            "nublado v3's database `{name}` is on the in-cluster PostgreSQL server{how}, but {missing}: the server never creates it"
        ))
        .hint(format!(
            "add `{}_db: {{user: \"{}\", db: \"{name}\"}}` to `{pg}`, or point `jupyterhub.hub.db.url` at a database a block creates",
            name,
            parts.user.unwrap_or(name)
        ))
        .scope(&env.name)
        .subject(format!("{} database block", env.name)),
    );
}

/// Every v2 lab mount of an environment that runs v3 (in whatever state, `conflict` included,
/// while v2's values file is there) has a v3 lab volume at the same path, with the same access
/// mode and source, as the nublado chart's version reads its volumes. Mounts of volume types v3
/// cannot express are the translation's business, not this rule's.
fn v3_mounts(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
    let (Some(v2_rel), Some(v3_rel)) = (p.values_file(V2, &env.name), p.values_file(V3, &env.name))
    else {
        return;
    };
    let (Some(v2_doc), Some(v3_doc)) = (doc_of(p, v2_rel), doc_of(p, v3_rel)) else {
        return;
    };
    let v2 = V2Lab::from_nublado2(v2_doc);
    let v3 = V3Lab::from_nublado(v3_doc, ChartVersion::of(p).syntax);
    let claims = volumes::template_claims(v2_doc);
    let class = |claim: &str| {
        claims
            .iter()
            .find(|c| c.name == claim)
            .and_then(|c| c.storage_class.clone())
    };
    for m in &v2.mounts {
        let Some(volume) = v2.volume(&m.name).filter(|v| v.source.has_v3_kind()) else {
            continue;
        };
        let counterpart = v3.at(&m.mount_path);
        let at = MountAt {
            env: &env.name,
            v2_rel,
            v3_rel,
            v2: &v2,
            v3: &v3,
            mount: m,
            volume,
            class: class(v2_source_claim(&volume.source)),
        };
        for d in volumes::differences(&v2, m, counterpart, class) {
            out.push(at.finding(&d, counterpart));
        }
    }
}

fn v2_source_claim(s: &V2Source) -> &str {
    match s {
        V2Source::Pvc { claim } => claim,
        _ => "",
    }
}

/// A v2 mount being compared, for the findings about it.
struct MountAt<'a> {
    env: &'a str,
    v2_rel: &'a str,
    v3_rel: &'a str,
    v2: &'a V2Lab,
    v3: &'a V3Lab,
    mount: &'a V2Mount,
    volume: &'a V2Volume,
    /// The storage class of the v2 claim, from its `user_resources_template`.
    class: Option<String>,
}

impl MountAt<'_> {
    fn path(&self) -> String {
        self.mount.container_path()
    }

    fn v2_where(&self) -> String {
        format!("`{}:{}`", self.v2_rel, self.mount.pos.line)
    }

    fn read_only(&self) -> bool {
        self.v2.read_only(self.mount)
    }

    /// The v3 source that stands for the v2 volume's, as it is written.
    fn wanted_source(&self) -> String {
        if self.v3.syntax == Syntax::Legacy {
            return match &self.volume.source {
                V2Source::Nfs { server, path } => {
                    format!("`server: \"{server}\", serverPath: \"{path}\"`")
                }
                V2Source::HostPath { path, .. } => {
                    format!("`server: \"\", serverPath: \"{path}\"` (a hostPath)")
                }
                _ => "none that the controller before 0.4 can express (it has NFS and hostPath volumes only)".into(),
            };
        }
        match &self.volume.source {
            V2Source::Nfs { server, path } => {
                format!("`{{type: \"nfs\", server: \"{server}\", serverPath: \"{path}\"}}`")
            }
            V2Source::HostPath { path, .. } => {
                format!("`{{type: \"hostPath\", path: \"{path}\"}}`")
            }
            V2Source::Pvc { claim } => match &self.class {
                Some(c) => {
                    format!("`{{type: \"persistentVolumeClaim\", storageClassName: \"{c}\", …}}`")
                }
                None => format!(
                    "`{{type: \"persistentVolumeClaim\", storageClassName: …}}` (the storage class the claim `{claim}` was created with)"
                ),
            },
            V2Source::Other { kind } => format!("`{kind}`"),
        }
    }

    fn mode_fix(&self) -> String {
        match (self.v3.syntax, self.read_only()) {
            (Syntax::Flat | Syntax::Legacy, ro) => {
                format!("set `mode: \"{}\"`", if ro { "ro" } else { "rw" })
            }
            (Syntax::Split, ro) => format!("set `readOnly: {ro}` on the `volumeMounts` entry"),
        }
    }

    fn at_pos(&self, rule_pos: Option<Pos>, m: Option<&V3Mount>) -> Pos {
        rule_pos
            .or(m.map(|m| m.pos))
            .or(self.v3.list_pos)
            .unwrap_or(Pos { line: 1, col: 1 })
    }

    fn finding(&self, d: &Difference, m: Option<&V3Mount>) -> Finding {
        let path = self.path();
        let v2_source = self.volume.source.describe();
        let v3_source = m
            .and_then(|m| m.source.as_ref())
            .map_or_else(|| "no source".to_string(), |s| s.describe());
        let (pos, message, hint) = match d {
            Difference::Lost => {
                let list = match self.v3.syntax {
                    Syntax::Flat | Syntax::Legacy => "`controller.config.lab.volumes`",
                    Syntax::Split => "`controller.config.lab.volumes` and `volumeMounts`",
                };
                (
                    self.at_pos(None, None),
                    format!(
                        "`{path}` is mounted in nublado v2 ({v2_source}) but nublado v3 has no lab volume at `{path}`: the mount is lost"
                    ),
                    format!(
                        "add a lab volume for `{path}` to {list}: {}, source {}",
                        if self.read_only() {
                            "read-only"
                        } else {
                            "read-write"
                        },
                        self.wanted_source()
                    ),
                )
            }
            Difference::ReadOnlyLost => {
                let how = match m.and_then(|m| m.mode_pos) {
                    Some(_) => "it is writable",
                    None => "no access mode is written, and the default is read-write",
                };
                let on = if self.mount.read_only {
                    "the mount"
                } else {
                    "its volume"
                };
                (
                    self.at_pos(m.and_then(|m| m.mode_pos), m),
                    format!(
                        "`{path}` is read-only in nublado v2 (readOnly on {on}) but not in nublado v3 ({how}): users can write to it"
                    ),
                    self.mode_fix(),
                )
            }
            Difference::ReadOnlyAdded => (
                self.at_pos(m.and_then(|m| m.mode_pos), m),
                format!(
                    "`{path}` is writable in nublado v2 but read-only in nublado v3: users can no longer write to it"
                ),
                format!(
                    "{}, or make it read-only in v2 too if that is intended",
                    self.mode_fix()
                ),
            ),
            Difference::SubPath => {
                let show = |s: &Option<String>| {
                    s.as_ref()
                        .map_or_else(|| "no subPath".to_string(), |s| format!("subPath `{s}`"))
                };
                (
                    self.at_pos(None, m),
                    format!(
                        "`{path}` mounts {} of its volume in nublado v2 but {} in nublado v3",
                        show(&self.mount.sub_path),
                        show(&m.and_then(|m| m.sub_path.clone()))
                    ),
                    match &self.mount.sub_path {
                        Some(s) => format!("set `subPath: \"{s}\"`"),
                        None => "remove `subPath`".into(),
                    },
                )
            }
            Difference::SourceKind => (
                self.at_pos(m.and_then(|m| m.source_pos), m),
                format!(
                    "`{path}` comes from {v2_source} in nublado v2 but from {v3_source} in nublado v3"
                ),
                format!("use the source {}", self.wanted_source()),
            ),
            Difference::SourceStorage => (
                self.at_pos(m.and_then(|m| m.source_pos), m),
                format!(
                    "`{path}` comes from {v2_source} in nublado v2 but from {v3_source} in nublado v3: users see other data, unless it was moved there"
                ),
                format!(
                    "if the storage moved on purpose, nothing to do; otherwise use the source {}",
                    self.wanted_source()
                ),
            ),
        };
        // The v2 line goes in the hint: a message must not change when v2's file shifts.
        let hint = format!("{hint} (the v2 mount: {})", self.v2_where());
        let f = Finding::at_line(
            rule::NUBLADO_V3_MOUNT,
            self.v3_rel,
            pos.line,
            pos.col,
            message,
        )
        .hint(hint)
        .scope(self.env)
        .subject(format!("{} {path} {d:?}", self.env));
        if *d == Difference::SourceStorage {
            f.severity(Severity::Warning)
        } else {
            f
        }
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

/// mobu's flocks, judged against the mobu version in `applications/mobu/Chart.yaml`: options
/// it does not take (mobu refuses to start), `use_cachemachine` where it does not belong, and
/// lab flocks that rely on cachemachine (per flock from mobu 6, through the global
/// `config.useCachemachine` in mobu 5) while cachemachine is disabled.
fn mobu_rules(p: &Phalanx, env: &Environment, out: &mut Vec<Finding>) {
    let Some(mobu) = Mobu::of(p, &env.name) else {
        return;
    };
    let (rel, doc) = (mobu.rel, mobu.doc);
    let version = mobu.version.clone().unwrap_or_default();
    let major = mobu.major();
    let cachemachine_on = env.enabled.contains("cachemachine");
    let scoped = |f: Finding, flock: &str, what: &str| {
        f.scope(&env.name)
            .subject(format!("{} flock {flock} {what}", env.name))
    };
    for flock in &mobu.flocks {
        let name = flock.name.as_str();
        let btype = flock.business.as_str();
        let use_cm = flock.option("use_cachemachine");
        if let Some(uc) = use_cm {
            if !flock.is_lab() {
                out.push(scoped(
                    Finding::at(rule::MOBU_CACHEMACHINE_NOT_LAB, rel, doc, uc.key_offset, format!("flock `{name}`: `use_cachemachine` is not an option of `{btype}`; mobu refuses to start"))
                        .hint("remove `use_cachemachine` from this flock"),
                    name,
                    "use_cachemachine",
                ));
            } else if major.is_some_and(|m| m >= 7) {
                out.push(scoped(
                    Finding::at(rule::MOBU_CACHEMACHINE_REMOVED, rel, doc, uc.key_offset, format!("flock `{name}`: mobu {} removed `use_cachemachine`; mobu refuses to start", mobu.version_text()))
                        .hint("remove `use_cachemachine`"),
                    name,
                    "use_cachemachine",
                ));
            } else if major == Some(5) {
                out.push(scoped(
                    Finding::at(rule::MOBU_UNKNOWN_OPTION, rel, doc, uc.key_offset, format!("flock `{name}`: `use_cachemachine` is not an option of `{btype}` in mobu {}; mobu refuses to start", mobu.version_text()))
                        .hint(format!("remove it: mobu 5 uses cachemachine for every lab flock or none, with the global `{GLOBAL_CACHEMACHINE}`")),
                    name,
                    "use_cachemachine",
                ));
            }
        }
        if !cachemachine_on
            && let Cachemachine::Uses { how, at } = mobu.cachemachine(p, &env.name, flock)
        {
            let hint = if major == Some(5) {
                format!(
                    "set `{GLOBAL_CACHEMACHINE}: false` in `{rel}` (mobu 5 has no per-flock setting)"
                )
            } else {
                "set `business.options.use_cachemachine: false` for this flock".to_string()
            };
            out.push(scoped(
                Finding::at(rule::MOBU_CACHEMACHINE_DISABLED, rel, doc, at, format!("flock `{name}` relies on cachemachine {how}, but cachemachine is not enabled in `{}`", env.name))
                    .hint(hint),
                name,
                "cachemachine",
            ));
        }
        let known: Option<Vec<&str>> = if flock.is_lab() {
            mobu::lab_options(&version)
        } else if mobu::TAP_TYPES.contains(&btype) {
            mobu::tap_options(&version, btype).map(<[&str]>::to_vec)
        } else {
            None
        };
        let Some(known) = known else { continue };
        for o in &flock.options {
            // `use_cachemachine` has its own findings above.
            if o.key == "use_cachemachine" {
                continue;
            }
            if known.contains(&o.key.as_str()) {
                continue;
            }
            let mut f = Finding::at(
                rule::MOBU_UNKNOWN_OPTION,
                rel,
                doc,
                o.key_offset,
                format!(
                    "flock `{name}`: `{}` is not an option of `{btype}` in mobu {}; mobu refuses to start",
                    o.key,
                    mobu.version_text()
                ),
            );
            if btype == "TAPQueryRunner" && o.key == "query_set" && major.is_some_and(|m| m >= 7) {
                f = f.hint("mobu 7 renamed the business that runs a query set `TAPQuerySetRunner`: change the flock's `type`");
            } else if let Some(c) = closest(&o.key, known.iter().copied()) {
                f = f.hint(format!("did you mean `{c}`?"));
            }
            out.push(scoped(f, name, &o.key));
        }
    }
}
