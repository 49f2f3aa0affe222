//! The announcement to users for a stage, in markdown: what changes and when, the addresses,
//! what users must do and, while both hubs run on shared storage, the critical warning to shut
//! a lab down before switching from one route to the other (each lab saves open notebooks every
//! five minutes: changes revert, at worst files are corrupted).
//!
//! Everything is read from the repository as the stage leaves it (the plan's change set laid
//! over the files), so the routes are the ones the stage writes. Whether v2 and v3 share
//! storage is told from the lab volumes of both hubs; when the files cannot tell, storage is
//! assumed shared, as it is at nearly every site.

use std::fmt::Write as _;

use super::nublado::routes::{BASE_URL, DEFAULT_ROUTE, normalize};
use super::nublado::volumes::{V2Lab, V2Source, V3Lab, V3Source};
use super::nublado::{V2, V3};
use super::{PlaybookKind, StagePlan};
use crate::repo::nublado::controller::ChartVersion;
use crate::repo::{Phalanx, lookup};
use crate::yaml::{Document, Node};

/// The placeholder the operator replaces with the window's date and time.
pub const WINDOW: &str = "<date and time of the window>";

/// The announcement for the stage's environments (one section each), or `None` when the stage
/// changes nothing users see (`drop-v2-values`, `finish`) or has nothing to do.
pub fn announcement(p: &Phalanx, plan: &StagePlan) -> Option<String> {
    if PlaybookKind::from_name(plan.playbook) != Some(PlaybookKind::Nublado) {
        return None;
    }
    let envs = announced_envs(plan);
    let sections: Vec<String> = envs
        .iter()
        .filter_map(|env| {
            let fqdn = p
                .env(env)
                .and_then(|e| e.fqdn.clone())
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| "<fqdn>".into());
            let ctx = Ctx {
                p,
                plan,
                env,
                fqdn: &fqdn,
                done: plan.already_done.iter().any(|d| d == env),
            };
            match plan.stage {
                "enable-v3" => Some(enable_v3(&ctx)),
                "make-default" => Some(make_default(&ctx)),
                "disable-v2" => Some(disable_v2(&ctx)),
                _ => None,
            }
        })
        .collect();
    if sections.is_empty() {
        None
    } else {
        Some(sections.join("\n---\n\n"))
    }
}

/// The environments the announcement is for: the stage's targets, those it changes and those
/// already past it (the stage applied or merged: the files show it done, and the window, which
/// the announcement is about, is still to come).
pub fn announced_envs(plan: &StagePlan) -> Vec<&str> {
    let mut out: Vec<&str> = plan.targets.iter().map(String::as_str).collect();
    for t in &plan.already_done {
        if !out.contains(&t.as_str()) {
            out.push(t);
        }
    }
    out
}

/// Whether the labs of the two hubs see the same files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Both hubs mount the same storage; `evidence` names it (`NFS 10.1.2.3:/share1/home`).
    Shared { evidence: Vec<String> },
    /// The files cannot tell; storage is treated as shared. `reason` says why.
    Assumed { reason: String },
    /// The hubs mount different storage, each listed.
    Separate { v3: Vec<String>, v2: Vec<String> },
}

impl Storage {
    /// Shared or assumed shared: users must shut one lab down before using the other.
    pub fn is_shared(&self) -> bool {
        !matches!(self, Storage::Separate { .. })
    }

    /// One line for the operator.
    pub fn describe(&self) -> String {
        match self {
            Storage::Shared { evidence } => {
                format!("shared: both hubs mount {}", evidence.join(", "))
            }
            Storage::Assumed { reason } => {
                format!("treated as shared (check before sending): {reason}")
            }
            Storage::Separate { v3, v2 } => format!(
                "separate: nublado v3 mounts {}; nublado v2 mounts {}",
                v3.join(", "),
                v2.join(", ")
            ),
        }
    }
}

/// Where a lab volume's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Nfs {
        server: String,
        path: String,
    },
    HostPath {
        path: String,
    },
    /// A source that cannot be compared across the two syntaxes (a PVC, another type).
    Opaque {
        what: String,
    },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Nfs { server, path } => format!("NFS {server}:{path}"),
            Source::HostPath { path } => format!("hostPath {path}"),
            Source::Opaque { what } => what.clone(),
        }
    }

    fn same_storage(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::Nfs { server: a, path: p }, Source::Nfs { server: b, path: q }) => {
                a == b && overlap(p, q)
            }
            (Source::HostPath { path: p }, Source::HostPath { path: q }) => overlap(p, q),
            _ => false,
        }
    }
}

/// Whether one directory contains the other (or they are the same).
fn overlap(a: &str, b: &str) -> bool {
    let (a, b) = (normalize(a), normalize(b));
    let within = |inner: &str, outer: &str| {
        inner == outer
            || outer == "/"
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    within(&a, &b) || within(&b, &a)
}

/// A mounted volume: where labs see it, and where it comes from.
#[derive(Debug, Clone)]
struct Mount {
    container_path: String,
    source: Source,
}

/// The text of a file as the stage leaves it (`None`: absent or deleted).
fn text_after(p: &Phalanx, plan: &StagePlan, rel: &str) -> Option<String> {
    match plan.changes.content(rel) {
        Some(after) => after.map(str::to_string),
        None => match p.files.get(rel) {
            Some(l) => Some(l.text.clone()),
            None => std::fs::read_to_string(p.files.root().join(rel)).ok(),
        },
    }
}

fn doc_after(p: &Phalanx, plan: &StagePlan, rel: &str) -> Option<Document> {
    text_after(p, plan, rel).and_then(|t| Document::parse(t).ok())
}

/// The value at `path` for `app` in `env` after the stage: the environment's values file, else
/// the chart defaults.
fn setting_after<T>(
    p: &Phalanx,
    plan: &StagePlan,
    app: &str,
    env: &str,
    path: &str,
    read: impl Fn(&Node) -> Option<T>,
) -> Option<T> {
    let env_rel = format!("applications/{app}/values-{env}.yaml");
    [env_rel, p.chart_defaults(app)].iter().find_map(|rel| {
        let doc = doc_after(p, plan, rel)?;
        lookup(&doc, path).and_then(&read)
    })
}

/// A hub's route after the stage.
fn route_after(p: &Phalanx, plan: &StagePlan, app: &str, env: &str) -> String {
    setting_after(p, plan, app, env, BASE_URL, |n| {
        n.scalar_text().filter(|t| !t.is_empty()).map(normalize)
    })
    .unwrap_or_else(|| DEFAULT_ROUTE.to_string())
}

/// A hub's route before the stage.
fn route_before(p: &Phalanx, app: &str, env: &str) -> String {
    super::nublado::routes::hub_route(p, app, env).route
}

/// The first of the environment's values file and the chart defaults (as the stage leaves
/// them) that sets `path`.
fn doc_with(p: &Phalanx, plan: &StagePlan, app: &str, env: &str, path: &str) -> Option<Document> {
    let env_rel = format!("applications/{app}/values-{env}.yaml");
    [env_rel, p.chart_defaults(app)]
        .iter()
        .filter_map(|rel| doc_after(p, plan, rel))
        .find(|doc| lookup(doc, path).is_some_and(|n| n.as_mapping().is_some()))
}

/// A nublado v3 source: `{type: nfs, server, serverPath}`, `{type: hostPath, path}`, …
fn v3_source(source: &V3Source) -> Source {
    match source {
        // `path` for NFS is a known mistake; the storage meant is the same.
        V3Source::Nfs {
            server: Some(server),
            path: Some(path),
        } => Source::Nfs {
            server: server.clone(),
            path: path.clone(),
        },
        V3Source::Nfs { .. } => Source::Opaque {
            what: "an incomplete NFS source".into(),
        },
        V3Source::HostPath { path: Some(path) } => Source::HostPath { path: path.clone() },
        V3Source::HostPath { path: None } => Source::Opaque {
            what: "an incomplete hostPath source".into(),
        },
        V3Source::Pvc { storage_class } => Source::Opaque {
            what: format!(
                "a PVC of storage class `{}`",
                storage_class.as_deref().unwrap_or("?")
            ),
        },
        V3Source::Other { kind } => Source::Opaque {
            what: format!("a `{kind}` source"),
        },
    }
}

/// The v3 labs' mounts, in either syntax of the nublado chart.
fn v3_mounts(p: &Phalanx, plan: &StagePlan, env: &str) -> Vec<Mount> {
    let Some(doc) = doc_with(p, plan, V3, env, "controller.config.lab") else {
        return Vec::new();
    };
    V3Lab::from_nublado(&doc, ChartVersion::of(p).syntax)
        .mounts
        .iter()
        .filter_map(|m| {
            Some(Mount {
                container_path: m.container_path.clone(),
                source: v3_source(m.source.as_ref()?),
            })
        })
        .collect()
}

/// The v2 labs' mounts: `config.volumes` (Kubernetes volumes) joined to `config.volume_mounts`
/// by name.
fn v2_mounts(p: &Phalanx, plan: &StagePlan, env: &str) -> Vec<Mount> {
    let Some(doc) = doc_with(p, plan, V2, env, "config") else {
        return Vec::new();
    };
    let lab = V2Lab::from_nublado2(&doc);
    lab.mounts
        .iter()
        .filter_map(|m| {
            let v = lab.volume(&m.name)?;
            let source = match &v.source {
                V2Source::Nfs { server, path } => Source::Nfs {
                    server: server.clone(),
                    path: path.clone(),
                },
                V2Source::HostPath { path, .. } => Source::HostPath { path: path.clone() },
                V2Source::Pvc { claim } => Source::Opaque {
                    what: format!("the PVC `{claim}`"),
                },
                V2Source::Other { .. } => Source::Opaque {
                    what: format!("the volume `{}`", v.name),
                },
            };
            Some(Mount {
                container_path: m.container_path(),
                source,
            })
        })
        .collect()
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

/// Whether nublado v2 and v3 share storage in `env`, with the stage's change applied.
pub fn storage(p: &Phalanx, plan: &StagePlan, env: &str) -> Storage {
    let v3 = v3_mounts(p, plan, env);
    let v2 = v2_mounts(p, plan, env);
    let v3_rel = format!("applications/{V3}/values-{env}.yaml");
    let v2_rel = format!("applications/{V2}/values-{env}.yaml");
    if v3.is_empty() {
        return Storage::Assumed {
            reason: format!("no nublado v3 lab volumes are set (`{v3_rel}`)"),
        };
    }
    if v2.is_empty() {
        return Storage::Assumed {
            reason: format!("no nublado v2 volume mounts are set (`{v2_rel}`)"),
        };
    }
    let mut evidence = Vec::new();
    for a in &v3 {
        for b in &v2 {
            if a.source.same_storage(&b.source) {
                evidence.push(b.source.describe());
            }
        }
    }
    dedup(&mut evidence);
    if !evidence.is_empty() {
        return Storage::Shared { evidence };
    }
    let opaque: Vec<String> = v3
        .iter()
        .chain(&v2)
        .filter(|m| matches!(m.source, Source::Opaque { .. }))
        .map(|m| m.source.describe())
        .collect();
    if !opaque.is_empty() {
        let mut opaque = opaque;
        dedup(&mut opaque);
        return Storage::Assumed {
            reason: format!("{} cannot be compared", opaque.join(", ")),
        };
    }
    let list = |ms: &[Mount]| {
        let mut v: Vec<String> = ms.iter().map(|m| m.source.describe()).collect();
        dedup(&mut v);
        v
    };
    Storage::Separate {
        v3: list(&v3),
        v2: list(&v2),
    }
}

/// The folders users see from the labs, for the announcement (`/home`, `/project`).
fn user_folders(p: &Phalanx, plan: &StagePlan, env: &str) -> Vec<String> {
    let mut v: Vec<String> = v2_mounts(p, plan, env)
        .into_iter()
        .chain(v3_mounts(p, plan, env))
        .map(|m| normalize(&m.container_path))
        .filter(|c| !c.is_empty())
        .collect();
    dedup(&mut v);
    v
}

struct Ctx<'a> {
    p: &'a Phalanx,
    plan: &'a StagePlan,
    env: &'a str,
    fqdn: &'a str,
    /// The files already show the stage done (applied or merged): the routes are the stage's
    /// own, not read from the files.
    done: bool,
}

impl Ctx<'_> {
    /// A hub's route after the stage.
    fn after(&self, app: &str) -> String {
        match (self.done, self.plan.stage, app) {
            (true, "enable-v3", a) if a == V3 => "/n3".into(),
            (true, "enable-v3", _) => DEFAULT_ROUTE.into(),
            (true, "make-default" | "disable-v2", a) if a == V3 => DEFAULT_ROUTE.into(),
            (true, _, _) => "/n2".into(),
            (false, ..) => route_after(self.p, self.plan, app, self.env),
        }
    }

    /// A hub's route before the stage.
    fn before(&self, app: &str) -> String {
        match (self.done, self.plan.stage, app) {
            (true, "make-default", a) if a == V3 => "/n3".into(),
            (true, "make-default", _) => DEFAULT_ROUTE.into(),
            (true, "disable-v2", a) if a == V2 => "/n2".into(),
            (true, ..) => self.after(app),
            (false, ..) => route_before(self.p, app, self.env),
        }
    }

    fn url(&self, route: &str) -> String {
        let route = if route == "/" { "" } else { route };
        format!("<https://{}{route}/>", self.fqdn)
    }

    fn hub_home(&self, route: &str) -> String {
        let route = if route == "/" { "" } else { route };
        format!("<https://{}{route}/hub/home>", self.fqdn)
    }

    /// `your files (`/home`, `/project`)`.
    fn files(&self) -> String {
        let folders = user_folders(self.p, self.plan, self.env);
        if folders.is_empty() {
            "your home directory and other files".into()
        } else {
            format!(
                "your home directory and other files ({})",
                folders
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }

    /// The critical warning of the seed, for two routes on shared storage.
    fn critical(&self, out: &mut String, a: &str, b: &str) {
        let _ = write!(
            out,
            "\n## CRITICAL: shut your lab down before switching between {a} and {b}\n\n\
             Both versions use the same storage: {files} are the same whichever address you \
             use. **Before you switch from one address to the other, save your work and shut \
             down your lab on the one you are leaving** (in JupyterLab: File → Shut Down, or \
             stop your server from that version's control panel: {home_a} or {home_b}), and \
             only then start a lab on the other.\n\n\
             If a lab is left running on each, each one saves your open notebooks every five \
             minutes: at best, changes you make in one are bafflingly reverted by the other; \
             at worst, the files you have open are corrupted.\n",
            files = self.files(),
            home_a = self.hub_home(a),
            home_b = self.hub_home(b),
        );
    }
}

fn title(ctx: &Ctx<'_>, what: &str) -> String {
    format!(
        "# {}: {what}\n\n**When:** during the maintenance window on {WINDOW}.\n",
        ctx.fqdn
    )
}

fn enable_v3(ctx: &Ctx<'_>) -> String {
    let v3 = ctx.after(V3);
    let v2 = ctx.after(V2);
    let mut out = title(
        ctx,
        &format!("try the new version of the Notebook service at {v3}"),
    );
    let _ = write!(
        out,
        "\n## What changes\n\n\
         - The new version of the Notebook service (Nublado v3) becomes available at {new}, \
         beside the current one, for you to try.\n\
         - The current version stays the default at {old}: nothing changes there, and you do \
         not have to do anything to keep using it.\n\
         - The maintenance window is disruptive: **every running lab will be shut down** and \
         anything not saved in it is lost. You cannot start a lab during the window.\n\
         \n## What you need to do\n\n\
         1. Before the window, save your work and shut down your lab.\n\
         2. After the window, log in at {old} as usual, or try the new version at {new}.\n",
        new = ctx.url(&v3),
        old = ctx.url(&v2),
    );
    storage_section(ctx, &mut out, "try the new version", &v2, &v3);
    out
}

fn make_default(ctx: &Ctx<'_>) -> String {
    let v3_before = ctx.before(V3);
    let v3 = ctx.after(V3);
    let v2 = ctx.after(V2);
    let mut out = title(
        ctx,
        &format!("{v3} becomes the new version of the Notebook service; the old one moves to {v2}"),
    );
    let _ = write!(
        out,
        "\n## What changes\n\n\
         - {new} switches to the new version of the Notebook service (Nublado v3).\n\
         - The old version stays available for a while at {old}. It will be retired later; \
         that will be announced separately.\n",
        new = ctx.url(&v3),
        old = ctx.url(&v2),
    );
    if v3_before != v3 && v3_before != v2 {
        let _ = writeln!(
            out,
            "- {tried}, where the new version could be tried, goes away: use {new} instead.",
            tried = ctx.url(&v3_before),
            new = ctx.url(&v3),
        );
    }
    let _ = write!(
        out,
        "- The maintenance window is disruptive: **every running lab, on either version, will \
         be shut down** and anything not saved in it is lost. You cannot start a lab during the \
         window.\n\
         \n## What you need to do\n\n\
         1. Before the window, save your work and shut down your labs.\n\
         2. After the window, log in at {new} as usual: you get the new version. Use {old} only \
         if you still need the old one.\n",
        new = ctx.url(&v3),
        old = ctx.url(&v2),
    );
    storage_section(ctx, &mut out, "use both versions", &v3, &v2);
    out
}

/// The end of an announcement while both hubs run: with shared storage, the step to shut labs
/// down before each switch and the critical warning (`from` is the route users come from);
/// with separate storage, a note that files do not cross over.
fn storage_section(ctx: &Ctx<'_>, out: &mut String, when: &str, from: &str, to: &str) {
    if storage(ctx.p, ctx.plan, ctx.env).is_shared() {
        let _ = writeln!(
            out,
            "3. If you {when}, shut your lab down before each switch (see below)."
        );
        ctx.critical(out, from, to);
    } else {
        let _ = write!(
            out,
            "\nThe two versions use separate storage: files you save in a lab at {to} are not \
             visible from {from}, and the other way round.\n"
        );
    }
}

fn disable_v2(ctx: &Ctx<'_>) -> String {
    let v2 = ctx.before(V2);
    let v3 = ctx.after(V3);
    let mut out = title(
        ctx,
        &format!("the old version of the Notebook service at {v2} is retired"),
    );
    let _ = write!(
        out,
        "\n## What changes\n\n\
         - The old version of the Notebook service (Nublado v2) at {old} is removed.\n\
         - Labs started from {v2} are destroyed in the window; anything not saved in them is \
         lost.\n\
         - The Notebook service at {new} is not affected, nor are labs started from it.\n\
         \n## What you need to do\n\n\
         1. If you still use {old}, save your work and shut down that lab before the window.\n\
         2. Use {new} from now on.",
        old = ctx.url(&v2),
        new = ctx.url(&v3),
    );
    match storage(ctx.p, ctx.plan, ctx.env) {
        Storage::Separate { .. } => {
            let _ = writeln!(
                out,
                "\n\n**The old version used separate storage**: files you saved only in labs at \
                 {v2} are not visible from {v3}. Copy anything you still need before the window."
            );
        }
        Storage::Shared { .. } => {
            let _ = writeln!(
                out,
                " Your files stay available there: both versions use the same storage."
            );
        }
        Storage::Assumed { .. } => out.push('\n'),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_overlap_on_path_components() {
        assert!(overlap("/share1/home", "/share1/home/"));
        assert!(overlap("/share1", "/share1/home"));
        assert!(overlap("/", "/anything"));
        assert!(!overlap("/share1/home", "/share1/homes"));
        assert!(!overlap("/share1/home", "/share1/project"));
    }

    #[test]
    fn sources_compare_by_server_and_path() {
        let nfs = |s: &str, p: &str| Source::Nfs {
            server: s.into(),
            path: p.into(),
        };
        assert!(nfs("10.0.0.1", "/home").same_storage(&nfs("10.0.0.1", "/home/")));
        assert!(!nfs("10.0.0.1", "/home").same_storage(&nfs("10.0.0.2", "/home")));
        let pvc = Source::Opaque { what: "x".into() };
        assert!(!pvc.same_storage(&pvc));
    }
}
