//! cachemachine's image source and prepull settings, and nublado2's pinned images, as nublado
//! v3's `controller.config.images` (camelCase keys: the controller ignores snake_case ones).
//!
//! Owns: reading cachemachine's `autostart` JSON (`repomen`) and turning it into v3 settings.
//! Does not own: writing YAML (`emit.rs`).

use super::emit::Value;
use super::{File, Translation, Untranslated};
use crate::playbook::ledger::Fate;
use crate::repo::lookup;
use crate::repo::nublado::volumes::items;
use crate::yaml::{Document, Node};

impl Translation {
    /// cachemachine's image source and prepull settings (a JSON document per autostart entry).
    pub(super) fn images(&mut self, f: File<'_>, pins: &[Pin]) {
        let entries = lookup(f.doc, "autostart")
            .and_then(Node::as_mapping)
            .map(|m| m.entries.as_slice())
            .unwrap_or_default();
        let key_path = |k: &str| {
            crate::yaml::Path(vec![
                crate::yaml::Segment::Key("autostart".into()),
                crate::yaml::Segment::Key(k.into()),
            ])
            .to_string()
        };
        let Some(first) = entries.first() else {
            let at: Vec<&str> = lookup(f.doc, "autostart")
                .map(|_| "autostart")
                .into_iter()
                .collect();
            self.item(
                f,
                &at,
                1,
                "cachemachine's `autostart` names no images to prepull".into(),
                "set the image source (`controller.config.images.source`) by hand",
            );
            return;
        };
        for extra in &entries[1..] {
            let key = extra.key.scalar_text().unwrap_or("?");
            self.item(
                f,
                &[&key_path(key)],
                f.doc.line_of(extra.key.span.start),
                format!("the autostart entry `{key}` is a second set of images"),
                "nublado v3 prepulls from one image source: merge it into `controller.config.images` by hand or leave it out",
            );
        }
        let at_entry = key_path(first.key.scalar_text().unwrap_or("?"));
        let at_entry = at_entry.as_str();
        let node = &first.value;
        let line = f.doc.line_of(node.span.start);
        let json = match node
            .scalar_text()
            .map(serde_json::from_str::<serde_json::Value>)
        {
            Some(Ok(j)) => j,
            Some(Err(e)) => {
                self.item(
                    f,
                    &[at_entry],
                    line + e.line(),
                    format!("the autostart entry is not valid JSON ({e})"),
                    "set `controller.config.images` by hand",
                );
                return;
            }
            None => {
                self.item(
                    f,
                    &[at_entry],
                    line,
                    format!(
                        "the autostart entry is a {}, not a JSON document",
                        node.kind_name()
                    ),
                    "set `controller.config.images` by hand",
                );
                return;
            }
        };
        let at = |key: &str| json_line(f.doc, node, key).unwrap_or(line);
        let mut images = ImagesOut::default();
        if json
            .get("labels")
            .and_then(|l| l.as_object())
            .is_some_and(|l| !l.is_empty())
        {
            self.item(f, &[at_entry],
                at("labels"),
                "cachemachine prepulled only on nodes with the given `labels`".into(),
                "nublado v3 has no such setting under `controller.config.images`: restrict the nodes another way or accept prepulling on every node",
            );
        }
        let repomen = json
            .get("repomen")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        for r in &repomen {
            let kind = r.get("type").and_then(|t| t.as_str()).unwrap_or("?");
            match kind {
                "RubinRepoMan" | "RubinRepoGar" if images.source.is_empty() => {
                    self.repoman(f, at_entry, r, kind, &at, &mut images);
                }
                "RubinRepoMan" | "RubinRepoGar" => self.item(f, &[at_entry],
                    at("type"),
                    format!("a second `{kind}` repoman"),
                    "nublado v3 prepulls from one image source: the first was translated; move the images you need into it",
                ),
                "SimpleRepoMan" => {
                    for img in r.get("images").and_then(|i| i.as_array()).into_iter().flatten() {
                        if let Some(url) = img.get("image_url").and_then(|u| u.as_str()) {
                            images.wanted_pins.push(Pin {
                                image_url: url.to_string(),
                                file: f.rel.to_string(),
                                line: at(url),
                                path: at_entry.to_string(),
                            });
                        }
                    }
                }
                other => self.item(f, &[at_entry],
                    at("type"),
                    format!("the repoman type `{other}` is unknown"),
                    "set `controller.config.images` by hand",
                ),
            }
        }
        if images.source.is_empty() {
            self.item(f, &[at_entry],
                line,
                "cachemachine has no RubinRepoMan or RubinRepoGar repoman to take the image source from".into(),
                "set `controller.config.images.source` by hand",
            );
            return;
        }
        images.wanted_pins.extend(pins.iter().cloned());
        self.pins(&mut images);
        let images_google = images.google;
        if images.google {
            self.google_account(f);
        }
        self.images = images.into_values();
        let to = self.target("controller.config.images.source".into(), None);
        self.claim(f.rel, at_entry, Fate::translated(to));
        self.cachemachine_own(f, images_google);
    }

    /// cachemachine's own settings: its image and its service account mean nothing to v3,
    /// except the Google account a Google image source needs (listed by `google_account`).
    fn cachemachine_own(&mut self, f: File<'_>, google: bool) {
        self.claim(
            f.rel,
            "image",
            Fate::obsolete("cachemachine's own image: nublado v3's controller does its work"),
        );
        if !google {
            self.claim(
                f.rel,
                "serviceAccount",
                Fate::obsolete(
                    "cachemachine's own service account: a Docker image source needs none in v3",
                ),
            );
        }
    }

    /// One RubinRepoMan (Docker) or RubinRepoGar (Google Artifact Registry) repoman.
    fn repoman(
        &mut self,
        f: File<'_>,
        at_entry: &str,
        r: &serde_json::Value,
        kind: &str,
        at: &dyn Fn(&str) -> usize,
        out: &mut ImagesOut,
    ) {
        let s = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let (source_keys, consumed): (&[(&str, &str)], &[&str]) = if kind == "RubinRepoMan" {
            (
                &[("registry", "registry_url"), ("repository", "repo")],
                &["type"],
            )
        } else {
            out.google = true;
            (
                &[
                    ("location", "location"),
                    ("projectId", "project_id"),
                    ("repository", "gar_repository"),
                    ("image", "gar_image"),
                ],
                &["type", "registry_url"],
            )
        };
        out.source.push((
            "type",
            Value::str(if out.google { "google" } else { "docker" }),
        ));
        for (v3, v2) in source_keys {
            match s(v2) {
                Some(v) => out.source.push((v3, Value::Str(v))),
                None => self.item(
                    f,
                    &[at_entry],
                    at("type"),
                    format!("the `{kind}` repoman has no `{v2}`"),
                    format!("set `controller.config.images.source.{v3}` by hand"),
                ),
            }
        }
        if out.google {
            let expected = s("location").map(|l| format!("{l}-docker.pkg.dev"));
            if let Some(reg) = s("registry_url")
                && expected.as_deref() != Some(reg.as_str())
            {
                self.item(f, &[at_entry],
                    at("registry_url"),
                    format!("`registry_url` is `{reg}`, not the registry of the location"),
                    "nublado v3 derives the registry from `location`: check that the location is right",
                );
            }
            out.reference = match (
                s("location"),
                s("project_id"),
                s("gar_repository"),
                s("gar_image"),
            ) {
                (Some(l), Some(p), Some(r), Some(i)) => {
                    Some(format!("{l}-docker.pkg.dev/{p}/{r}/{i}"))
                }
                _ => None,
            };
        } else {
            out.reference = s("registry_url")
                .zip(s("repo"))
                .map(|(r, p)| format!("{r}/{p}"));
        }
        let known: Vec<&str> = source_keys
            .iter()
            .map(|(_, v2)| *v2)
            .chain(consumed.iter().copied())
            .collect();
        for (key, value) in r.as_object().into_iter().flatten() {
            if known.contains(&key.as_str()) {
                continue;
            }
            match image_setting(key, value) {
                Ok(Some((k, v))) => out.settings.push((k, v)),
                Ok(None) => self.item(
                    f,
                    &[at_entry],
                    at(key),
                    format!("the repoman setting `{key}` has no nublado v3 equivalent"),
                    "decide whether v3 needs it; it was not carried over",
                ),
                Err(why) => self.item(
                    f,
                    &[at_entry],
                    at(key),
                    format!("the repoman setting `{key}` {why}"),
                    "set it in `controller.config.images` by hand",
                ),
            }
        }
    }

    /// Pinned images without an image source to be tags of.
    pub(super) fn unpinned(&mut self, pins: Vec<Pin>) {
        let mut images = ImagesOut {
            wanted_pins: pins,
            ..ImagesOut::default()
        };
        self.pins(&mut images);
    }

    /// Pinned images from the same repository as the source become `pin` tags.
    fn pins(&mut self, images: &mut ImagesOut) {
        let mut tags = Vec::new();
        for p in std::mem::take(&mut images.wanted_pins) {
            let (repo, tag) = split_image(&p.image_url);
            match (&images.reference, tag) {
                (Some(r), Some(tag)) if *r == repo => {
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                (Some(r), None) if *r == repo => self
                    .untranslated_pin(&p, format!("the pinned image `{}` has no tag", p.image_url)),
                _ => self.untranslated_pin(
                    &p,
                    format!(
                        "the pinned image `{}` is not a tag of the image source",
                        p.image_url
                    ),
                ),
            }
            if self.images_pinned(&p, &images.reference) {
                let to = self.target("controller.config.images.pin".into(), None);
                self.claim(&p.file, &p.path, Fate::translated(to));
            }
        }
        if !tags.is_empty() {
            images.settings.push((
                "pin",
                Value::Seq(tags.into_iter().map(Value::Str).collect()),
            ));
        }
    }

    /// Whether a wanted pin became a `pin` tag.
    fn images_pinned(&self, p: &Pin, reference: &Option<String>) -> bool {
        let (repo, tag) = split_image(&p.image_url);
        tag.is_some() && reference.as_deref() == Some(repo.as_str())
    }

    fn untranslated_pin(&mut self, p: &Pin, what: String) {
        let item = Untranslated {
            file: p.file.clone(),
            line: Some(p.line),
            what,
            decide: "nublado v3 pins tags of its one image source: leave it out, or move the image there".into(),
        };
        self.claim(&p.file, &p.path, Fate::operator(item.clone()));
        self.untranslated.push(item);
    }

    /// A Google image source needs the controller's own service account.
    fn google_account(&mut self, f: File<'_>) {
        let annotation = lookup(
            f.doc,
            "serviceAccount.annotations.\"iam.gke.io/gcp-service-account\"",
        );
        let account = "serviceAccount.annotations.\"iam.gke.io/gcp-service-account\"";
        let at: Vec<&str> = annotation.map(|_| account).into_iter().collect();
        let (line, had) = match annotation {
            Some(n) => (
                f.doc.line_of(n.span.start),
                format!(" (cachemachine used `{}`)", n.scalar_text().unwrap_or("?")),
            ),
            None => (1, String::new()),
        };
        self.item(f, &at,
            line,
            format!("the image source is Google Artifact Registry{had}"),
            "set `controller.googleServiceAccount` to a Google service account bound to the `nublado-controller` Kubernetes service account with the Artifact Registry reader role",
        );
    }
}

/// The line of `"key"` (or of a string value) inside a JSON block scalar.
fn json_line(doc: &Document, node: &Node, needle: &str) -> Option<usize> {
    let text = &doc.text()[node.span.clone()];
    let quoted = format!("\"{needle}\"");
    let first = doc.line_of(node.span.start);
    text.lines()
        .position(|l| l.contains(&quoted))
        .map(|i| first + i)
}

/// `host/path:tag` → (`host/path`, `tag`).
fn split_image(url: &str) -> (String, Option<String>) {
    let slash = url.rfind('/').map_or(0, |i| i + 1);
    match url[slash..].rfind(':') {
        Some(i) => (
            url[..slash + i].to_string(),
            Some(url[slash + i + 1..].to_string()),
        ),
        None => (url.to_string(), None),
    }
}

/// A repoman setting in v3's name: `Ok(None)` when v3 has none.
fn image_setting(
    key: &str,
    value: &serde_json::Value,
) -> Result<Option<(&'static str, Value)>, String> {
    let int = |v3: &'static str| {
        value
            .as_i64()
            .map(|n| Some((v3, Value::Int(n))))
            .ok_or_else(|| format!("is `{value}`, not a whole number"))
    };
    match key {
        "recommended_tag" => value
            .as_str()
            .map(|s| Some(("recommendedTag", Value::str(s))))
            .ok_or_else(|| format!("is `{value}`, not a string")),
        "num_releases" => int("numReleases"),
        "num_weeklies" => int("numWeeklies"),
        "num_dailies" => int("numDailies"),
        "cycle" => int("cycle"),
        "alias_tags" => value
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|t| t.as_str().map(Value::str))
                    .collect::<Option<Vec<_>>>()
            })
            .map(|tags| Some(("aliasTags", Value::Seq(tags))))
            .ok_or_else(|| format!("is `{value}`, not a list of tags")),
        _ => Ok(None),
    }
}

/// An image nublado v2 pinned, to become a v3 `pin` tag.
#[derive(Debug, Clone)]
pub(super) struct Pin {
    image_url: String,
    file: String,
    line: usize,
    /// The setting it comes from (`config.pinned_images[0].image_url`, or cachemachine's
    /// autostart entry).
    path: String,
}

/// nublado2's `config.pinned_images`.
pub(super) fn pinned_images(f: File<'_>) -> Vec<Pin> {
    items(lookup(f.doc, "config.pinned_images"))
        .into_iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let url = n.as_mapping()?.get("image_url")?.value.scalar_text()?;
            Some(Pin {
                image_url: url.to_string(),
                file: f.rel.to_string(),
                line: f.doc.line_of(n.span.start),
                path: format!("config.pinned_images[{i}].image_url"),
            })
        })
        .collect()
}

/// `controller.config.images` as it is assembled.
#[derive(Default)]
struct ImagesOut {
    source: Vec<(&'static str, Value)>,
    settings: Vec<(&'static str, Value)>,
    google: bool,
    /// The image the source names (`registry/repository`), to recognise pinned tags.
    reference: Option<String>,
    wanted_pins: Vec<Pin>,
}

impl ImagesOut {
    /// In the order of the chart's documentation.
    fn into_values(self) -> Vec<(&'static str, Value)> {
        const ORDER: [&str; 7] = [
            "recommendedTag",
            "numReleases",
            "numWeeklies",
            "numDailies",
            "cycle",
            "pin",
            "aliasTags",
        ];
        let mut out = vec![(
            "source",
            Value::Map(
                self.source
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ),
        )];
        let mut settings = self.settings;
        settings.sort_by_key(|(k, _)| ORDER.iter().position(|o| o == k));
        out.extend(settings);
        out
    }
}
