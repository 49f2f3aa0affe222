//! The shared ("family") values files of a move. A hub moved into a cluster whose hubs share
//! values files (`common.values.yaml` listed in every hub's `helm_chart_values_files`) takes
//! those files; from the source's family files it carries only the settings it depends on: a
//! setting (a path to a value that is not a mapping: Helm merges mappings key by key and
//! replaces everything else whole) that the target's family files do not give the same value,
//! and that none of the hub's own later files overrides. What the two sides' files say
//! differently is stated in the plan, setting by setting, with the value the hub takes.
//!
//! The carried settings go into one file per source family file, named after the source
//! cluster (`<source>-common.values.yaml`), so that moving a sibling hub later reuses it (and
//! adds only what that hub depends on and the file lacks) instead of copying the family twice.
//!
//! Owns: which files are a cluster's families, the settings of a values document, and the
//! comparison of a source family file with the target's. Does not own: copying files or the
//! ledger of what is carried (`hub_move::setup`, `bound`).

use crate::repo::infra::{Cluster, FileRef, Hub};
use crate::yaml::{Data, Document, NewValue, Path, ScalarValue, Segment};

/// One setting of a values file: where, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub path: Vec<Segment>,
    pub value: Data,
}

impl Setting {
    pub fn path_text(&self) -> String {
        Path(self.path.clone()).to_string()
    }
}

/// The settings of the first document of `doc`, in document order.
pub fn settings(doc: &Document) -> Vec<Setting> {
    fn walk(d: &Data, path: &mut Vec<Segment>, out: &mut Vec<Setting>) {
        match d {
            Data::Map(m) if !m.is_empty() => {
                for (k, v) in m {
                    path.push(Segment::Key(k.key_text().unwrap_or_default()));
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => out.push(Setting {
                path: path.clone(),
                value: d.clone(),
            }),
        }
    }
    let mut out = Vec::new();
    if let Some(d) = doc.data().first()
        && !matches!(d, Data::Null)
    {
        walk(d, &mut Vec::new(), &mut out);
    }
    out
}

/// The value at a path of keys, when a file sets it (`None` when a prefix is missing).
pub fn value_at<'d>(data: &'d Data, path: &[Segment]) -> Option<&'d Data> {
    let mut at = data;
    for seg in path {
        let Segment::Key(k) = seg else { return None };
        let Data::Map(m) = at else { return None };
        at = m
            .iter()
            .find(|(key, _)| key.key_text().as_deref() == Some(k.as_str()))
            .map(|(_, v)| v)?;
    }
    Some(at)
}

/// Whether a document sets `path` or replaces one of its prefixes with a value that is not a
/// mapping (either way, a file read before it does not decide that setting).
fn decides(data: &Data, path: &[Segment]) -> bool {
    (1..=path.len()).any(|n| match value_at(data, &path[..n]) {
        Some(Data::Map(m)) => n == path.len() && m.is_empty(),
        Some(_) => true,
        None => false,
    })
}

/// A value as the plan shows it.
pub fn show(d: &Data) -> String {
    match d {
        Data::Null => "null".into(),
        Data::Bool(b) => b.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.clone(),
        Data::Str(s) => s.clone(),
        Data::Seq(v) => format!("[{}]", v.iter().map(show).collect::<Vec<_>>().join(", ")),
        Data::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Data::Tagged(t, d) => format!("{t} {}", show(d)),
    }
}

/// Whether a file of a cluster is one of its family files: not a hub's own
/// (`Cluster::is_own_file`: referenced by two hubs or more), or named `…common…` (a one-hub
/// cluster's family); never the support chart's.
pub fn is_family(c: &Cluster, f: &FileRef) -> bool {
    !c.is_support_file(&f.name) && (!c.is_own_file(f) || f.name.contains("common"))
}

/// The family files the hubs of `c` all use, in the order the first hub lists them: those
/// every hub references (two hubs or more), or a one-hub cluster's `…common…` files. Files
/// some of its hubs share but not all are `partial_families`.
pub fn target_family(c: &Cluster) -> Vec<&FileRef> {
    let Some(first) = c.hubs.first() else {
        return Vec::new();
    };
    first
        .values_files
        .iter()
        .filter(|f| is_family(c, f))
        .filter(|f| c.hubs_referencing(&f.name).len() == c.hubs.len())
        .collect()
}

/// Family files only some hubs of `c` use, with those hubs.
pub fn partial_families(c: &Cluster) -> Vec<(String, Vec<String>)> {
    c.shared_files()
        .into_iter()
        .filter(|(f, hubs)| is_family(c, f) && hubs.len() < c.hubs.len())
        .map(|(f, hubs)| (f.name.clone(), hubs.iter().map(|h| h.to_string()).collect()))
        .collect()
}

/// A target family file as read: its name and data (`None` when encrypted or unreadable).
pub struct TargetFile {
    pub name: String,
    pub data: Option<Data>,
}

/// How one setting of a source family file compares with the target's families.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compared {
    /// The target's family gives the same value (in the named file).
    Same { file: String },
    /// The target's family gives another value: the hub keeps the source's (carried), unless
    /// `take_target`.
    Differs {
        file: String,
        target: Data,
        take_target: bool,
    },
    /// The target's family does not set it: carried.
    Missing,
    /// A later file of the hub sets it: the hub does not depend on the family's value.
    Overridden { file: String },
}

/// Compares each setting of a source family file (`family`) with the target's family files
/// (`target`, in order: the last that sets a path wins) and the hub's files after it (`later`).
/// `bound` says whether a value names the source (its cluster, provider, project or old hub
/// name): where the target's family has its own value for such a setting, the hub takes it.
pub fn compare(
    family: &Document,
    target: &[TargetFile],
    later: &[(String, Data)],
    bound: impl Fn(&Setting) -> bool,
) -> Vec<(Setting, Compared)> {
    settings(family)
        .into_iter()
        .map(|s| {
            if let Some((file, _)) = later.iter().rev().find(|(_, d)| decides(d, &s.path)) {
                let c = Compared::Overridden { file: file.clone() };
                return (s, c);
            }
            let given = target.iter().rev().find_map(|t| {
                let d = t.data.as_ref()?;
                decides(d, &s.path).then(|| (t.name.clone(), value_at(d, &s.path).cloned()))
            });
            let c = match given {
                Some((file, Some(v))) if v.canonical() == s.value.canonical() => {
                    Compared::Same { file }
                }
                Some((file, v)) => Compared::Differs {
                    file,
                    take_target: bound(&s),
                    target: v.unwrap_or(Data::Null),
                },
                None => Compared::Missing,
            };
            (s, c)
        })
        .collect()
}

/// The text of `family` keeping only the settings at `keep` (the others removed with the
/// comments they own).
pub fn subset(family: &str, keep: &[Vec<Segment>]) -> Result<String, String> {
    let mut doc = Document::parse(family.to_string()).map_err(|e| e.to_string())?;
    let drop: Vec<Vec<Segment>> = settings(&doc)
        .into_iter()
        .map(|s| s.path)
        .filter(|p| !keep.contains(p))
        .collect();
    for p in drop.iter().rev() {
        doc.remove(0, &Path(p.clone())).map_err(|e| e.to_string())?;
    }
    Ok(doc.text().to_string())
}

/// The settings of `from` that `into` lacks or has with another value, and the new value
/// text of each (as written in `from`). The caller tells the two apart (`value_at` on
/// `into`): a value `into` holds may be one another hub depends on.
pub fn missing_in(from: &Document, into: &Document) -> Vec<(Setting, NewValue)> {
    let have = into.data().into_iter().next().unwrap_or(Data::Null);
    settings(from)
        .into_iter()
        .filter(|s| value_at(&have, &s.path).map(Data::canonical) != Some(s.value.canonical()))
        .filter_map(|s| {
            let node = from.get(0, &Path(s.path.clone())).ok()?;
            let value = match (&node.kind, &s.value) {
                (crate::yaml::NodeKind::Scalar(_), Data::Str(t)) => {
                    NewValue::Scalar(ScalarValue::string(t.clone()))
                }
                (crate::yaml::NodeKind::Scalar(_), _) => NewValue::Scalar(
                    ScalarValue::from_arg(&from.text()[node.span.clone()], false).ok()?,
                ),
                _ => NewValue::Yaml(from.value_text(node)),
            };
            Some((s, value))
        })
        .collect()
}

/// The name of the file carrying a source family file's settings in the target.
pub fn carried_name(src: &Cluster, family: &str) -> String {
    format!("{}-{family}", src.name)
}

/// The hub's files after position `i` of its list, readable, as data.
pub fn later_files(
    hub: &Hub,
    i: usize,
    read: impl Fn(&str) -> Option<String>,
) -> Vec<(String, Data)> {
    hub.values_files[i + 1..]
        .iter()
        .filter(|f| !f.is_encrypted())
        .filter_map(|f| {
            let d = Document::parse(read(&f.rel)?).ok()?;
            Some((f.name.clone(), d.data().into_iter().next()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(t: &str) -> Document {
        Document::parse(t).unwrap()
    }

    fn data(t: &str) -> Data {
        doc(t).data().remove(0)
    }

    #[test]
    fn settings_stop_at_values_that_are_not_mappings() {
        let s: Vec<String> = settings(&doc("a:\n  b: 1\n  c: [x, y]\n  d: {}\ne: z\n"))
            .iter()
            .map(Setting::path_text)
            .collect();
        assert_eq!(s, ["a.b", "a.c", "a.d", "e"]);
    }

    #[test]
    fn compares_with_the_target_and_the_hubs_own_files() {
        let family = doc("a:\n  same: 1\n  other: x\n  gone: true\n  mine: 2\nl: [1, 2]\n");
        let target = [TargetFile {
            name: "common.values.yaml".into(),
            data: Some(data("a:\n  same: 1\n  other: y\nl: [1, 2]\n")),
        }];
        let later = [("hub.values.yaml".to_string(), data("a:\n  mine: 3\n"))];
        let got: Vec<(String, Compared)> = compare(&family, &target, &later, |_| false)
            .into_iter()
            .map(|(s, c)| (s.path_text(), c))
            .collect();
        let same = Compared::Same {
            file: "common.values.yaml".into(),
        };
        assert_eq!(got[0], ("a.same".into(), same.clone()));
        assert_eq!(
            got[1],
            (
                "a.other".into(),
                Compared::Differs {
                    file: "common.values.yaml".into(),
                    target: Data::Str("y".into()),
                    take_target: false
                }
            )
        );
        assert_eq!(got[2], ("a.gone".into(), Compared::Missing));
        assert_eq!(
            got[3],
            (
                "a.mine".into(),
                Compared::Overridden {
                    file: "hub.values.yaml".into()
                }
            )
        );
        assert_eq!(got[4], ("l".into(), same));
    }

    #[test]
    fn a_subset_keeps_only_what_is_asked() {
        let text = "# family\na:\n  b: 1 # kept\n  c: 2\nd:\n  e: 3\n";
        let keep = vec![vec![Segment::Key("a".into()), Segment::Key("b".into())]];
        assert_eq!(
            subset(text, &keep).unwrap(),
            "# family\na:\n  b: 1 # kept\n"
        );
    }
}
