//! The account of every setting a stage moves, translates or deletes: each leaf of a source
//! file (a scalar, or an empty mapping or sequence) is **translated** (to where), **carried**
//! (the same setting, unchanged), **obsolete** (why: it means nothing after the stage) or **for
//! the operator** (listed under "Still to supply": what it is and what to decide). Nothing is
//! left out: a leaf no rule of the stage claims is for the operator, as unknown.
//!
//! A stage states what it does with its source files as claims on paths (`Claims`); a claim on
//! a mapping or sequence covers every leaf below it, the longest claim wins. `Claims::settle`
//! then walks every leaf of the file. A translated or carried leaf names its target (a PATH in
//! the file it went to, and the value it must have there); `Ledger::verify` checks each target
//! against that file as the stage leaves it, and a target that is missing or holds another
//! value turns the leaf into one for the operator, so the ledger says what happened, not what
//! was meant.
//!
//! Owns: leaves, claims, the ledger and its counts, its text for the plan and the PR body.
//! Does not own: what each playbook decides (`nublado::translate`, the stages).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::yaml::{Document, Node, NodeKind, Path, Segment};

/// What to decide about one setting, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub file: String,
    /// `None` when the item is about a file, not a line of it.
    pub line: Option<usize>,
    pub what: String,
    pub decide: String,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "`{}:{l}`: {} — {}", self.file, self.what, self.decide),
            None => write!(f, "`{}`: {} — {}", self.file, self.what, self.decide),
        }
    }
}

/// Where a translated or carried setting went, and the value it must have there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub file: String,
    /// A PATH in `file` (`controller.config.lab.env.PGUSER`,
    /// `controller.config.lab.volumes[containerPath=/home].source.serverPath`).
    pub path: String,
    /// The scalar it must hold (decoded text), when one is expected.
    pub value: Option<String>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.path)
    }
}

/// What became of one setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fate", rename_all = "kebab-case")]
pub enum Fate {
    /// Written elsewhere, or in another form; `note` says how when it is not obvious
    /// (`hub.nublado2` rewritten).
    Translated { to: Target, note: Option<String> },
    /// The same setting at the same place, unchanged.
    Carried { to: Target },
    /// It means nothing after the stage.
    Obsolete { why: String },
    /// The operator decides; listed under "Still to supply".
    #[serde(rename = "for-the-operator")]
    Operator { item: Item },
}

impl Fate {
    pub fn kind(&self) -> Kind {
        match self {
            Fate::Translated { .. } => Kind::Translated,
            Fate::Carried { .. } => Kind::Carried,
            Fate::Obsolete { .. } => Kind::Obsolete,
            Fate::Operator { .. } => Kind::Operator,
        }
    }

    pub fn translated(to: Target) -> Fate {
        Fate::Translated { to, note: None }
    }

    pub fn obsolete(why: impl Into<String>) -> Fate {
        Fate::Obsolete { why: why.into() }
    }

    pub fn operator(item: Item) -> Fate {
        Fate::Operator { item }
    }
}

/// The four accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Translated,
    Carried,
    Obsolete,
    #[serde(rename = "for-the-operator")]
    Operator,
}

/// One leaf of a source file and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub file: String,
    pub path: String,
    pub line: usize,
    #[serde(flatten)]
    pub fate: Fate,
    /// No rule of the stage claimed it (it is for the operator, as unknown).
    #[serde(skip)]
    pub unclaimed: bool,
}

/// How many leaves went each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub translated: usize,
    pub carried: usize,
    pub obsolete: usize,
    #[serde(rename = "for-the-operator")]
    pub operator: usize,
}

impl Counts {
    pub fn add(&mut self, kind: Kind) {
        match kind {
            Kind::Translated => self.translated += 1,
            Kind::Carried => self.carried += 1,
            Kind::Obsolete => self.obsolete += 1,
            Kind::Operator => self.operator += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.translated + self.carried + self.obsolete + self.operator
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} translated, {} carried, {} obsolete, {} for the operator",
            self.translated, self.carried, self.obsolete, self.operator
        )
    }
}

/// One leaf of a document: a scalar, an alias, a null, or an empty mapping or sequence.
#[derive(Debug, Clone)]
pub struct Leaf<'d> {
    pub path: Vec<Segment>,
    pub line: usize,
    pub node: &'d Node,
}

impl Leaf<'_> {
    pub fn path_text(&self) -> String {
        Path(self.path.clone()).to_string()
    }
}

/// Every leaf of the first document of `doc`, in document order.
pub fn leaves(doc: &Document) -> Vec<Leaf<'_>> {
    fn walk<'d>(
        doc: &'d Document,
        node: &'d Node,
        path: &mut Vec<Segment>,
        out: &mut Vec<Leaf<'d>>,
    ) {
        match &node.kind {
            NodeKind::Mapping(m) if !m.entries.is_empty() => {
                for e in &m.entries {
                    let key = e.key.scalar_text().unwrap_or_default().to_string();
                    path.push(Segment::Key(key));
                    walk(doc, &e.value, path, out);
                    path.pop();
                }
            }
            NodeKind::Sequence(s) if !s.items.is_empty() => {
                for (i, item) in s.items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    walk(doc, &item.value, path, out);
                    path.pop();
                }
            }
            _ => out.push(Leaf {
                path: path.clone(),
                line: doc.line_of(node.span.start.min(doc.text().len())),
                node,
            }),
        }
    }
    let mut out = Vec::new();
    if let Some(root) = doc.root(0) {
        // An empty file (or one holding only comments) has no settings.
        if !matches!(root.kind, NodeKind::Null) {
            walk(doc, root, &mut Vec::new(), &mut out);
        }
    }
    out
}

/// The claims a stage makes on one source file's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub file: String,
    claims: Vec<(Vec<Segment>, Fate)>,
}

impl Claims {
    pub fn new(file: impl Into<String>) -> Claims {
        Claims {
            file: file.into(),
            claims: Vec::new(),
        }
    }

    /// Claims the setting at `path` (a PATH of this file, `.` for all of it) and everything
    /// below it. A later claim on the same path replaces an earlier one.
    pub fn claim(&mut self, path: &str, fate: Fate) {
        let segs = Path::parse(path)
            .unwrap_or_else(|e| panic!("a claim's path is valid: {e}"))
            .0;
        self.claim_segments(segs, fate);
    }

    /// The fate claimed for exactly `path`, if any.
    pub fn fate(&self, path: &str) -> Option<&Fate> {
        let segs = Path::parse(path).ok()?.0;
        self.claims.iter().find(|(p, _)| *p == segs).map(|(_, f)| f)
    }

    pub fn claim_segments(&mut self, segs: Vec<Segment>, fate: Fate) {
        self.claims.retain(|(p, _)| *p != segs);
        self.claims.push((segs, fate));
    }

    /// The fate of each leaf of `doc`: its longest claim, else `unclaimed` for it.
    pub fn settle(&self, doc: &Document, unclaimed: impl Fn(&Leaf<'_>) -> Fate) -> Vec<Entry> {
        leaves(doc)
            .into_iter()
            .map(|leaf| {
                let best = self
                    .claims
                    .iter()
                    .filter(|(p, _)| leaf.path.starts_with(p))
                    .max_by_key(|(p, _)| p.len());
                let (fate, unclaimed) = match best {
                    Some((_, fate)) => (fate.clone(), false),
                    None => (unclaimed(&leaf), true),
                };
                Entry {
                    file: self.file.clone(),
                    path: leaf.path_text(),
                    line: leaf.line,
                    fate,
                    unclaimed,
                }
            })
            .collect()
    }
}

/// The account of a stage: every leaf of every source file, and the items for the operator
/// that concern no single leaf (a file that is missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    pub entries: Vec<Entry>,
    /// Items that concern no leaf of a source file.
    pub items: Vec<Item>,
}

impl Ledger {
    /// Entries for the settings a stage removes without replacing them: every leaf under the
    /// PATHs `paths` of `doc` (`.` for the whole file), each obsolete for `why`.
    pub fn removed(file: &str, doc: &Document, paths: &[&str], why: &str) -> Ledger {
        let mut claims = Claims::new(file);
        for p in paths {
            claims.claim(p, Fate::obsolete(why));
        }
        let prefixes: Vec<Vec<Segment>> = paths
            .iter()
            .filter_map(|p| Path::parse(p).ok().map(|p| p.0))
            .collect();
        let entries = claims
            .settle(doc, |_| Fate::obsolete(why))
            .into_iter()
            .filter(|e| {
                let segs = Path::parse(&e.path).map(|p| p.0).unwrap_or_default();
                prefixes.iter().any(|p| segs.starts_with(p))
            })
            .collect();
        Ledger {
            entries,
            items: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.items.is_empty()
    }

    pub fn extend(&mut self, other: Ledger) {
        self.entries.extend(other.entries);
        self.items.extend(other.items);
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for e in &self.entries {
            c.add(e.fate.kind());
        }
        c
    }

    /// Counts per source file, in the order the files first appear.
    pub fn counts_by_file(&self) -> Vec<(String, Counts)> {
        let mut order: Vec<String> = Vec::new();
        let mut by: BTreeMap<String, Counts> = BTreeMap::new();
        for e in &self.entries {
            if !by.contains_key(&e.file) {
                order.push(e.file.clone());
            }
            by.entry(e.file.clone()).or_default().add(e.fate.kind());
        }
        order
            .into_iter()
            .map(|f| {
                let c = by[&f];
                (f, c)
            })
            .collect()
    }

    /// What the operator must decide, each item once, in the order of the files: the items of
    /// no leaf first, then those of the leaves.
    pub fn operator_items(&self) -> Vec<&Item> {
        let mut out: Vec<&Item> = self.items.iter().collect();
        for e in &self.entries {
            if let Fate::Operator { item } = &e.fate
                && !out.contains(&item)
            {
                out.push(item);
            }
        }
        out
    }

    /// Checks every translated or carried leaf whose target is in `file` against `doc` (that
    /// file as the stage leaves it): a target that is missing, or that holds another value,
    /// makes the leaf one for the operator.
    pub fn verify(&mut self, file: &str, doc: Option<&Document>) {
        for e in &mut self.entries {
            let to = match &e.fate {
                Fate::Translated { to, .. } | Fate::Carried { to } if to.file == file => to.clone(),
                _ => continue,
            };
            let found = doc.and_then(|d| {
                let path = Path::parse(&to.path).ok()?;
                d.get(0, &path).ok()
            });
            let problem = match (found, &to.value) {
                (None, _) => Some(format!("`{file}` has no `{}`", to.path)),
                (Some(n), Some(want)) => match n.scalar_text() {
                    Some(got) if got == want => None,
                    Some(got) => Some(format!(
                        "`{file}` has `{}: {got}` where this setting says `{want}`",
                        to.path
                    )),
                    None => Some(format!(
                        "`{file}` has a {} at `{}` where this setting says `{want}`",
                        n.kind_name(),
                        to.path
                    )),
                },
                (Some(_), None) => None,
            };
            if let Some(problem) = problem {
                e.fate = Fate::Operator {
                    item: Item {
                        file: e.file.clone(),
                        line: Some(e.line),
                        what: format!("`{}`: {problem}", e.path),
                        decide: "write it there, or decide it is not needed".into(),
                    },
                };
            }
        }
    }

    /// The ledger as the plan shows it: the counts of each source file, then the leaves that
    /// were not translated or carried one to one (obsolete, for the operator), each with why.
    pub fn summary_lines(&self) -> Vec<String> {
        self.counts_by_file()
            .into_iter()
            .map(|(file, c)| format!("`{file}`: {} settings: {c}", c.total()))
            .collect()
    }

    /// Every leaf, one line each (`path` (line N): fate), for the pull request body.
    pub fn detail_lines(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| {
                let what = match &e.fate {
                    Fate::Translated { to, note: None } => format!("translated to {to}"),
                    Fate::Translated { to, note: Some(n) } => format!("translated to {to} ({n})"),
                    Fate::Carried { to } => format!("carried to {to}"),
                    Fate::Obsolete { why } => format!("obsolete: {why}"),
                    Fate::Operator { item } => format!("for the operator: {}", item.what),
                };
                format!("`{}` `{}` (line {}): {what}", e.file, e.path, e.line)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(t: &str) -> Document {
        Document::parse(t).unwrap()
    }

    #[test]
    fn leaves_are_scalars_and_empty_collections() {
        let d = doc("a:\n  b: 1\n  c: []\n  d: {}\n  e:\n    - x\n    - {f: 2}\n");
        let got: Vec<(String, usize)> =
            leaves(&d).iter().map(|l| (l.path_text(), l.line)).collect();
        assert_eq!(
            got,
            [
                ("a.b".to_string(), 2),
                ("a.c".to_string(), 3),
                ("a.d".to_string(), 4),
                ("a.e[0]".to_string(), 6),
                ("a.e[1].f".to_string(), 7),
            ]
        );
        assert!(leaves(&doc("# only a comment\n")).is_empty());
        assert!(leaves(&doc("")).is_empty());
    }

    #[test]
    fn the_longest_claim_wins_and_the_rest_is_unclaimed() {
        let d = doc("a:\n  b: 1\n  c: 2\nz: 3\n");
        let mut c = Claims::new("f.yaml");
        c.claim("a", Fate::obsolete("all of a"));
        c.claim(
            "a.c",
            Fate::translated(Target {
                file: "g.yaml".into(),
                path: "x.c".into(),
                value: Some("2".into()),
            }),
        );
        let entries = c.settle(&d, |l| {
            Fate::operator(Item {
                file: "f.yaml".into(),
                line: Some(l.line),
                what: format!("unknown `{}`", l.path_text()),
                decide: "?".into(),
            })
        });
        let kinds: Vec<(String, Kind, bool)> = entries
            .iter()
            .map(|e| (e.path.clone(), e.fate.kind(), e.unclaimed))
            .collect();
        assert_eq!(
            kinds,
            [
                ("a.b".into(), Kind::Obsolete, false),
                ("a.c".into(), Kind::Translated, false),
                ("z".into(), Kind::Operator, true),
            ]
        );
        let mut ledger = Ledger {
            entries,
            items: Vec::new(),
        };
        assert_eq!(
            ledger.counts().to_string(),
            "1 translated, 0 carried, 1 obsolete, 1 for the operator"
        );
        // The target is checked against the file as the stage leaves it.
        ledger.verify("g.yaml", Some(&doc("x:\n  c: 2\n")));
        assert_eq!(ledger.counts().translated, 1);
        ledger.verify("g.yaml", Some(&doc("x:\n  c: 3\n")));
        assert_eq!(ledger.counts().translated, 0);
        assert_eq!(ledger.operator_items().len(), 2);
        assert!(
            ledger.operator_items()[0]
                .what
                .contains("`g.yaml` has `x.c: 3` where this setting says `2`"),
            "{:?}",
            ledger.operator_items()
        );
    }
}
