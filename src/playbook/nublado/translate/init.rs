//! moneypenny's commissioning containers as nublado v3 init containers, which run before every
//! lab start (moneypenny ran them once, when a user was first seen).
//!
//! Owns: reading `orders.commission` and `orders.volumes`, and accounting for them. Does not
//! own: translating the volumes themselves (`Translation::mount`, shared with the lab volumes).

use super::{Answers, File, InitContainer, Translation, Written};
use crate::playbook::ledger::Fate;
use crate::repo::lookup;
use crate::repo::nublado::controller::Syntax;
use crate::repo::nublado::volumes::{V2Lab, items, read_mounts, read_volumes};
use crate::yaml::{Node, Path, Segment};

impl Translation {
    /// moneypenny's commissioning containers as v3 init containers.
    pub(super) fn init_containers(&mut self, f: File<'_>, answers: &Answers) {
        let lab = V2Lab {
            volumes: read_volumes(f.doc, "orders.volumes"),
            mounts: Vec::new(),
        };
        for list in ["commission", "retire", "volumes"] {
            let at = format!("orders.{list}");
            if lookup(f.doc, &at)
                .and_then(Node::as_sequence)
                .is_some_and(|s| s.items.is_empty())
            {
                self.claim(
                    f.rel,
                    &at,
                    Fate::obsolete("an empty list: nothing to carry over"),
                );
            }
        }
        let mut used: Vec<String> = Vec::new();
        for (i, c) in items(lookup(f.doc, "orders.commission"))
            .into_iter()
            .enumerate()
        {
            let at = format!("orders.commission[{i}]");
            let line = f.line(c).unwrap_or(1);
            let text = |k: &str| {
                c.as_mapping()
                    .and_then(|m| m.get(k))
                    .and_then(|e| e.value.scalar_text())
                    .map(str::to_string)
            };
            let (Some(name), Some(image)) = (text("name"), text("image")) else {
                self.item(
                    f,
                    &[&at],
                    line,
                    "a commissioning container without `name` or `image`".into(),
                    "add the init container by hand",
                );
                continue;
            };
            let entry = format!(
                "controller.config.lab.initContainers{}",
                Segment::Select {
                    key: "name".into(),
                    value: name.clone(),
                }
            );
            let user = lookup_in(c, &["securityContext", "runAsUser"])
                .and_then(|n| n.scalar_text().map(str::to_string));
            let privileged = user.as_deref() == Some("0");
            if let Some(u) = user.as_deref().filter(|u| *u != "0" && *u != "1000") {
                self.item(
                    f,
                    &[&format!("{at}.securityContext.runAsUser")],
                    line,
                    format!("the commissioning container `{name}` runs as UID {u}"),
                    "nublado v3 runs an init container as root (`privileged: true`) or as UID 1000: choose one",
                );
            }
            for e in c
                .as_mapping()
                .map(|m| m.entries.as_slice())
                .unwrap_or_default()
            {
                let key = e.key.scalar_text().unwrap_or("?");
                if !["name", "image", "securityContext", "volumeMounts"].contains(&key) {
                    self.item(
                        f,
                        &[&format!("{at}.{}", Path(vec![Segment::Key(key.into())]))],
                        f.doc.line_of(e.key.span.start),
                        format!("the commissioning container `{name}` sets `{key}`"),
                        "nublado v3 init containers take a name, an image, `privileged` and volumes only: make the image do without it",
                    );
                }
            }
            let mounts = read_mounts(f.doc, &format!("{at}.volumeMounts"));
            let mut volumes = Vec::new();
            if self.syntax == Syntax::Legacy && !mounts.is_empty() {
                self.item(
                    f,
                    &[&at],
                    line,
                    format!("the commissioning container `{name}` mounts volumes, and the controller before 0.4 mounts none in init containers"),
                    "upgrade the nublado chart to 0.4 or later, or make the image find the home directories another way",
                );
                continue;
            }
            let mut written = Vec::new();
            for m in &mounts {
                let out = self.mount(f, &lab, m, answers, &[]);
                match (out.volume, lab.volume(&m.name)) {
                    (Some(v), Some(vol)) => {
                        used.push(vol.path.clone());
                        written.push(Written {
                            file: f.rel.to_string(),
                            mount: m.clone(),
                            volume: vol.clone(),
                            index: volumes.len(),
                            init: Some(name.clone()),
                        });
                        volumes.push(v);
                    }
                    (Some(v), None) => volumes.push(v),
                    (None, _) => self.item(
                        f,
                        &[&m.path],
                        m.pos.line,
                        format!("the commissioning container `{name}` mounts `{}` at `{}`: {}", m.name, m.mount_path, out.notes.join("; ")),
                        "add this volume to the init container by hand (a PersistentVolumeClaim is answered with `--pvc-storage-class`)",
                    ),
                }
            }
            // Its own settings: the name, the image, and the user it runs as (`privileged`).
            let image_to = match self.syntax {
                Syntax::Split => format!("{entry}.image.repository"),
                _ => format!("{entry}.image"),
            };
            let claims = [
                (
                    format!("{at}.name"),
                    self.target(format!("{entry}.name"), Some(name.clone())),
                ),
                (format!("{at}.image"), self.target(image_to, None)),
                (
                    format!("{at}.securityContext"),
                    self.target(format!("{entry}.privileged"), Some(privileged.to_string())),
                ),
            ];
            for (path, to) in claims {
                self.claim(f.rel, &path, Fate::translated(to));
            }
            self.written.extend(written);
            self.init_containers.push(InitContainer {
                name,
                image,
                privileged,
                volumes,
            });
        }
        for v in &lab.volumes {
            if !used.contains(&v.path) {
                self.item(
                    f,
                    &[&v.path],
                    v.pos.line,
                    format!("moneypenny's volume `{}` ({}) is mounted by no commissioning container that was translated", v.name, v.source.describe()),
                    "it was not carried over: add it to an init container by hand if one needs it",
                );
            }
        }
        if !self.init_containers.is_empty() {
            self.notes.push(format!(
                "moneypenny's commissioning containers ({}) become init containers, which nublado v3 runs before every lab start rather than once per new user: their images must do nothing when the home directory exists",
                self.init_containers
                    .iter()
                    .map(|c| format!("`{}`", c.image))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let retire = lookup(f.doc, "orders")
            .and_then(Node::as_mapping)
            .and_then(|m| m.get("retire"));
        if let Some(retire) = retire
            && retire
                .value
                .as_sequence()
                .is_some_and(|s| !s.items.is_empty())
        {
            self.item(
                f,
                &["orders.retire"],
                f.doc.line_of(retire.key.span.start),
                "moneypenny's `retire` containers ran when a user was retired".into(),
                "nublado v3 has no equivalent: handle departed users' home directories another way",
            );
        }
    }
}

fn lookup_in<'n>(node: &'n Node, keys: &[&str]) -> Option<&'n Node> {
    keys.iter()
        .try_fold(node, |n, k| n.as_mapping()?.get(k).map(|e| &e.value))
}
