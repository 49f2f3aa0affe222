//! nublado2's settings besides its lab volumes, lab environment and pinned images: its
//! JupyterHub settings (`jupyterhub.*`: v3 runs the same Zero to JupyterHub chart, so they are
//! carried, except what v3 does its own way) and its own `config.*` keys, each translated where
//! v3 has an equivalent, obsolete where it means nothing in v3, or listed for the operator.
//!
//! | nublado2 | fate |
//! |---|---|
//! | `jupyterhub.cull.*` | carried (the chart's lab culler), when this nublado chart has `jupyterhub.cull` |
//! | `jupyterhub.singleuser.extraAnnotations.*` | `controller.config.lab.extraAnnotations.*` (the labs' pod annotations) |
//! | other `jupyterhub.singleuser.*` | for the operator: v3's controller makes the labs, not KubeSpawner |
//! | `jupyterhub.ingress.annotations.*` | `proxy.ingress.annotations.*`; Gafaelfawr's `auth-*` ones obsolete |
//! | other `jupyterhub.ingress.*` | obsolete: the chart makes its own ingress for the environment's host |
//! | `jupyterhub.hub.baseUrl` | obsolete: the stage sets v3's route |
//! | `jupyterhub.hub.db.url` | v3's own database, derived from v2's (`hub_db`) |
//! | `jupyterhub.hub.config.ServerApp.*` | for the operator: a lab setting the hub does not pass on |
//! | `jupyterhub.prePuller.*` | obsolete: the controller prepulls |
//! | other `jupyterhub.*` | carried |
//! | `config.base_url`, `config.cachemachine_image_policy`, `vault_secret_path`, `pull-secret.*` | obsolete |
//! | `config.pull_secret_path` | `controller.config.lab.pullSecret: "pull-secret"` when it is the environment's pull secret |
//! | `config.butler_secret_path` | for the operator: v3 mounts the keys of its own secret listed in `controller.config.lab.secrets` |
//! | `config.sizes` | `controller.config.lab.sizes` (before 4.x), else for the operator |
//! | `config.user_resources_template` | for the operator: what it creates, and what v3 creates itself |

use super::emit::Value;
use super::{Context, File, Translation, rewrite_v2_names};
use crate::playbook::ledger::{Fate, Leaf, Target, leaves};
use crate::repo::lookup;
use crate::repo::nublado::controller::Syntax;
use crate::yaml::{Document, Node, Segment};

/// The lab sizes the controller knows, smallest first.
pub const LAB_SIZES: [&str; 9] = [
    "fine",
    "diminutive",
    "tiny",
    "small",
    "medium",
    "large",
    "huge",
    "gargantuan",
    "colossal",
];

/// Where v2 mounted its Vault secret in every lab, and where v3 mounts its lab secrets.
pub const V2_SECRET_MOUNT: &str = "/opt/lsst/software/jupyterlab/butler-secret";
pub const V3_SECRET_MOUNT: &str = "/opt/lsst/software/jupyterlab/secrets";

impl Translation {
    /// nublado2's JupyterHub settings and its own keys outside the lab volumes, environment and
    /// pinned images.
    pub(super) fn hub_settings(&mut self, f: File<'_>, ctx: &Context<'_>) {
        for leaf in leaves(f.doc) {
            let keys: Vec<&str> = leaf
                .path
                .iter()
                .map(|s| match s {
                    Segment::Key(k) => k.as_str(),
                    _ => "[]",
                })
                .collect();
            let here = leaf.path_text();
            match keys.as_slice() {
                ["jupyterhub", rest @ ..] => self.jupyterhub_leaf(f, ctx, &leaf, rest),
                ["config", "base_url"] => self.claim(
                    f.rel,
                    &here,
                    Fate::obsolete("v3 takes the environment's URL from Argo CD (`global.baseUrl`)"),
                ),
                ["config", "cachemachine_image_policy"] => self.claim(
                    f.rel,
                    &here,
                    Fate::obsolete("how v2 asked cachemachine for images; v3's controller prepulls its own (`controller.config.images`)"),
                ),
                ["vault_secret_path"] => self.claim(
                    f.rel,
                    &here,
                    Fate::obsolete("v3 reads its secret from `<vaultPathPrefix>/nublado` (the runbook's `vault-secret:nublado` step creates it)"),
                ),
                ["pull-secret", ..] => self.claim(
                    f.rel,
                    &here,
                    Fate::obsolete("v2's chart made the hub's pull secret here; the nublado chart reads the environment's `pull-secret` from Vault itself"),
                ),
                ["config", "pinned_images", "[]", "name"] => self.claim(
                    f.rel,
                    &here,
                    Fate::obsolete("v3's menu names pinned images by their tag"),
                ),
                ["config", "pull_secret_path"] => self.pull_secret(f, ctx, &leaf),
                ["config", "butler_secret_path"] => self.butler_secret(f, &leaf),
                ["config", "user_resources_template"] => self.user_resources(f, &leaf),
                _ => {}
            }
        }
        self.sizes(f, ctx);
    }

    fn jupyterhub_leaf(&mut self, f: File<'_>, ctx: &Context<'_>, leaf: &Leaf<'_>, rest: &[&str]) {
        let here = leaf.path_text();
        match rest {
            ["cull", ..] if ctx.chart_has("jupyterhub.cull") => self.carry(f, leaf),
            ["cull", ..] => self.item(
                f,
                &[&here],
                leaf.line,
                format!("the lab culler setting `{here}`"),
                format!("{} has no `jupyterhub.cull`: set the labs' lifetime the way this version does", ctx.chart),
            ),
            ["singleuser", "extraAnnotations", key] => {
                let to = vec![
                    Segment::Key("controller".into()),
                    Segment::Key("config".into()),
                    Segment::Key("lab".into()),
                    Segment::Key("extraAnnotations".into()),
                    Segment::Key((*key).to_string()),
                ];
                self.translate_leaf(f, leaf, &to, None);
            }
            ["singleuser", ..] => self.item(
                f,
                &[&here],
                leaf.line,
                format!("`{here}` configures KubeSpawner, which made nublado v2's labs"),
                "nublado v3's controller makes the labs (`controller.config.lab`): set its equivalent there, or leave it out",
            ),
            ["ingress", "annotations", key] if key.contains("/auth-") => self.claim(
                f.rel,
                &here,
                Fate::obsolete("the nublado chart makes its own Gafaelfawr ingress, which authenticates for it"),
            ),
            ["ingress", "annotations", key] if ctx.chart_has("proxy.ingress") => {
                let to = vec![
                    Segment::Key("proxy".into()),
                    Segment::Key("ingress".into()),
                    Segment::Key("annotations".into()),
                    Segment::Key((*key).to_string()),
                ];
                self.translate_leaf(f, leaf, &to, None);
            }
            ["ingress", "annotations", _] => self.item(
                f,
                &[&here],
                leaf.line,
                format!("the ingress annotation `{here}`"),
                format!("{} has no `proxy.ingress.annotations`: set it on the ingress another way", ctx.chart),
            ),
            ["ingress", ..] => self.claim(
                f.rel,
                &here,
                Fate::obsolete("the nublado chart disables the JupyterHub ingress and makes its own for the environment's host (`global.host`)"),
            ),
            ["hub", "baseUrl"] => self.claim(
                f.rel,
                &here,
                Fate::obsolete("v3's route is the stage's: /n3 beside v2, /nb from `make-default`"),
            ),
            ["hub", "db", "url"] => self.database_leaf(f, ctx, leaf),
            ["hub", "config", "ServerApp", ..] => self.item(
                f,
                &[&here],
                leaf.line,
                format!("`{here}` configures a Jupyter server, and the hub passes it to no lab"),
                "nublado v3 labs stop when idle by `NO_ACTIVITY_TIMEOUT` (and the `CULL_*` variables) in `controller.config.lab.env`: set the shutdown you want there",
            ),
            ["prePuller", ..] => self.claim(
                f.rel,
                &here,
                Fate::obsolete("nublado v3's controller prepulls lab images itself (`controller.config.images`)"),
            ),
            _ => self.carry(f, leaf),
        }
    }

    /// v2's database URL: v3 gets its own, decided from v2's (`hub_db::plan`).
    fn database_leaf(&mut self, f: File<'_>, ctx: &Context<'_>, leaf: &Leaf<'_>) {
        let here = leaf.path_text();
        match ctx.db.as_ref().and_then(|d| d.url().map(|u| (d, u))) {
            Some((db, url)) => {
                let to = Target {
                    file: ctx.v3_file.clone(),
                    path: "jupyterhub.hub.db.url".into(),
                    value: Some(url.to_string()),
                };
                self.claim(
                    f.rel,
                    &here,
                    Fate::Translated {
                        to,
                        note: Some(db.describe()),
                    },
                );
            }
            None => self.item(
                f,
                &[&here],
                leaf.line,
                "nublado v3 needs its own hub database".into(),
                ctx.db.as_ref().map_or_else(
                    || {
                        "set `jupyterhub.hub.db.url` (`enable-v3 --hub-db-url URL` writes it)"
                            .to_string()
                    },
                    |d| d.describe(),
                ),
            ),
        }
    }

    /// A leaf copied to the same path of the v3 values (v3 runs the same Zero to JupyterHub
    /// chart); a value naming v2 is rewritten.
    fn carry(&mut self, f: File<'_>, leaf: &Leaf<'_>) {
        let to = leaf.path.clone();
        self.translate_leaf(f, leaf, &to, None);
    }

    /// Writes a leaf's value at `to` in the v3 values (`controller.…` under the lab's extra
    /// settings, the rest beside it) and claims it: carried when the path and value stay,
    /// translated otherwise. A string naming nublado v2 is rewritten where v3's name is known,
    /// else listed.
    pub(super) fn translate_leaf(
        &mut self,
        f: File<'_>,
        leaf: &Leaf<'_>,
        to: &[Segment],
        note: Option<String>,
    ) {
        let here = leaf.path_text();
        let mut value = Value::of_leaf(leaf.node);
        let mut notes: Vec<String> = note.into_iter().collect();
        if let Value::Str(s) = &value {
            match rewrite_v2_names(s) {
                Ok((new, how)) => {
                    if !how.is_empty() {
                        notes.extend(how);
                        value = Value::Str(new);
                    }
                }
                Err(left) => {
                    self.item(
                        f,
                        &[&here],
                        leaf.line,
                        format!("`{here}` names nublado v2 (`{left}`)"),
                        "no nublado v3 equivalent is known: write v3's value by hand",
                    );
                    return;
                }
            }
        }
        let scalar = match &value {
            Value::Str(s) | Value::Raw(s) => Some(s.clone()),
            _ => None,
        };
        self.extra.insert(to, value);
        let target = Target {
            file: self.target.clone(),
            path: crate::yaml::Path(to.to_vec()).to_string(),
            value: scalar,
        };
        let fate = if to == leaf.path.as_slice() && notes.is_empty() {
            Fate::Carried { to: target }
        } else {
            Fate::Translated {
                to: target,
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            }
        };
        self.claim(f.rel, &here, fate);
    }

    /// `config.pull_secret_path`: the environment's own pull secret becomes the labs' pull
    /// secret in v3.
    fn pull_secret(&mut self, f: File<'_>, ctx: &Context<'_>, leaf: &Leaf<'_>) {
        let here = leaf.path_text();
        let path = leaf.node.scalar_text().unwrap_or_default();
        let own = ctx
            .vault_path_prefix
            .as_deref()
            .map(|p| format!("{}/pull-secret", p.trim_end_matches('/')));
        if own.as_deref() == Some(path) {
            let to = [
                Segment::Key("controller".into()),
                Segment::Key("config".into()),
                Segment::Key("lab".into()),
                Segment::Key("pullSecret".into()),
            ];
            self.extra.insert(&to, Value::str("pull-secret"));
            self.claim(
                f.rel,
                &here,
                Fate::Translated {
                    to: Target {
                        file: self.target.clone(),
                        path: "controller.config.lab.pullSecret".into(),
                        value: Some("pull-secret".into()),
                    },
                    note: Some("the environment's `pull-secret` from Vault, copied into each lab's namespace".into()),
                },
            );
        } else {
            self.item(
                f,
                &[&here],
                leaf.line,
                format!("v2 gave each lab the pull secret at Vault path `{path}`, not the environment's `<vaultPathPrefix>/pull-secret`"),
                "nublado v3 copies a secret of its own namespace into each lab (`controller.config.lab.pullSecret`): make one from that path, or use the environment's `pull-secret`",
            );
        }
    }

    /// `config.butler_secret_path`: v2 mounted this Vault secret in every lab; v3 mounts the
    /// keys of its own secret that `controller.config.lab.secrets` lists.
    fn butler_secret(&mut self, f: File<'_>, leaf: &Leaf<'_>) {
        let here = leaf.path_text();
        let path = leaf.node.scalar_text().unwrap_or_default();
        let mut files: Vec<String> = self
            .env
            .iter()
            .filter_map(|(_, v)| v.strip_prefix(&format!("{V3_SECRET_MOUNT}/")))
            .map(|f| format!("`{f}`"))
            .collect();
        files.sort();
        files.dedup();
        let named = if files.is_empty() {
            String::new()
        } else {
            format!(
                " (the lab variables translated here read {} there)",
                files.join(", ")
            )
        };
        self.item(
            f,
            &[&here],
            leaf.line,
            format!("v2 mounted the Vault secret `{path}` in every lab at `{V2_SECRET_MOUNT}`"),
            format!("nublado v3 mounts at `{V3_SECRET_MOUNT}` the keys `controller.config.lab.secrets` lists (`secretName`, `secretKey`), from its own secret: copy the keys labs need into v3's Vault secret and list them{named}"),
        );
    }

    /// `config.user_resources_template`: the Kubernetes objects v2 made in each lab's namespace.
    fn user_resources(&mut self, f: File<'_>, leaf: &Leaf<'_>) {
        let here = leaf.path_text();
        let kinds = template_kinds(leaf.node);
        let made = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        self.item(
            f,
            &[&here],
            leaf.line,
            format!("the `user_resources_template` made Kubernetes objects in each lab's namespace{made}"),
            "nublado v3's controller makes each lab's namespace, `/etc/passwd` and `/etc/group`, its secrets and its claims itself; carry over by hand what else labs need (quotas, extra files in `controller.config.lab.files`)",
        );
    }

    /// `config.sizes`: `{name, cpu, ram}` items; before the 4.x syntax, v3's sizes are a map of
    /// the controller's size names to `{cpu, memory}`.
    fn sizes(&mut self, f: File<'_>, ctx: &Context<'_>) {
        let Some(list) = lookup(f.doc, "config.sizes").and_then(Node::as_sequence) else {
            return;
        };
        if ctx.syntax == Syntax::Split {
            let line = f
                .doc
                .line_of(list.items.first().map_or(0, |i| i.value.span.start));
            self.item(
                f,
                &["config.sizes"],
                line,
                "v2's lab sizes (`config.sizes`)".into(),
                format!("{} lists its sizes under `controller.config.lab.sizes` in its own form: write them there by hand", ctx.chart),
            );
            return;
        }
        for (i, item) in list.items.iter().enumerate() {
            let at = format!("config.sizes[{i}]");
            let line = f.doc.line_of(item.value.span.start);
            let text = |k: &str| {
                item.value
                    .as_mapping()
                    .and_then(|m| m.get(k))
                    .and_then(|e| e.value.scalar_text())
                    .map(str::to_string)
            };
            let name = text("name").unwrap_or_default().to_ascii_lowercase();
            if !LAB_SIZES.contains(&name.as_str()) {
                self.item(
                    f,
                    &[&at],
                    line,
                    format!("the lab size `{}` is not one of the controller's size names", text("name").unwrap_or_default()),
                    format!("nublado v3 names its sizes {}: choose one and add it to `controller.config.lab.sizes`", LAB_SIZES.join(", ")),
                );
                continue;
            }
            let base = vec![
                Segment::Key("controller".into()),
                Segment::Key("config".into()),
                Segment::Key("lab".into()),
                Segment::Key("sizes".into()),
                Segment::Key(name.clone()),
            ];
            let file = self.target.clone();
            let target = |field: &str, value: Option<String>| Target {
                file: file.clone(),
                path: crate::yaml::Path(
                    base.iter()
                        .cloned()
                        .chain([Segment::Key(field.into())])
                        .collect(),
                )
                .to_string(),
                value,
            };
            let Some(m) = item.value.as_mapping() else {
                continue;
            };
            for e in &m.entries {
                let key = e.key.scalar_text().unwrap_or_default();
                let here = format!("{at}.{key}");
                match key {
                    "name" => self.claim(
                        f.rel,
                        &here,
                        Fate::translated(Target {
                            file: file.clone(),
                            path: crate::yaml::Path(base.clone()).to_string(),
                            value: None,
                        }),
                    ),
                    "cpu" | "ram" => {
                        let field = if key == "cpu" { "cpu" } else { "memory" };
                        let value = match key {
                            "cpu" => Value::of_leaf(&e.value),
                            _ => Value::str(e.value.scalar_text().unwrap_or_default()),
                        };
                        let shown = e.value.scalar_text().map(str::to_string);
                        let mut path = base.clone();
                        path.push(Segment::Key(field.into()));
                        self.extra.insert(&path, value);
                        self.claim(f.rel, &here, Fate::translated(target(field, shown)));
                    }
                    _ => self.item(
                        f,
                        &[&here],
                        f.doc.line_of(e.key.span.start),
                        format!("the lab size setting `{key}`"),
                        "nublado v3's sizes take `cpu` and `memory` only",
                    ),
                }
            }
        }
    }
}

impl Context<'_> {
    /// Whether the nublado chart's `values.yaml` has this mapping (without the chart file,
    /// the settings every version so far has are assumed).
    pub fn chart_has(&self, path: &str) -> bool {
        match self.v3_chart {
            Some(doc) => lookup(doc, path).is_some_and(|n| n.as_mapping().is_some()),
            None => true,
        }
    }
}

/// The kinds (and names) of the objects a `user_resources_template` makes.
fn template_kinds(node: &Node) -> Vec<String> {
    let Some(text) = node.scalar_text() else {
        return Vec::new();
    };
    let Ok(inner) = Document::parse(text) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for o in inner
        .root(0)
        .and_then(Node::as_sequence)
        .map(|s| s.items.as_slice())
        .unwrap_or_default()
    {
        let Some(kind) = o
            .value
            .as_mapping()
            .and_then(|m| m.get("kind"))
            .and_then(|e| e.value.scalar_text())
        else {
            continue;
        };
        let name = o
            .value
            .as_mapping()
            .and_then(|m| m.get("metadata"))
            .and_then(|e| e.value.as_mapping())
            .and_then(|m| m.get("name"))
            .and_then(|e| e.value.scalar_text())
            .filter(|n| !n.contains("{{"))
            .map(|n| format!(" `{n}`"))
            .unwrap_or_default();
        out.push(format!("{kind}{name}"));
    }
    out
}
