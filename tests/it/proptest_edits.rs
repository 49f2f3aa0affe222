//! Property test of the lossless editor: random sequences of `set` and `remove` on the fixture
//! files and on the shared corpus of real GitOps trees.
//!
//! For every edit that succeeds, independently of the editor's own verification:
//! 1. the new text loads with the reference parser, and `Document::parse` reads the same data;
//! 2. that data is the old data plus the intended change, computed by a model of our own on
//!    `Data` (documents that became null or an empty mapping count as absent);
//! 3. every old line that was deleted or replaced lies in the region the edit may touch
//!    (computed here from the tree), and every other old line is kept, unchanged and in order;
//! 4. an independent YAML 1.1 reader, PyYAML (libyaml's loader, as Helm's Go YAML library and
//!    yamllint read), reads the new text as the old text's data (as PyYAML reads it) plus the
//!    change: a plain `2024-01-01`, `yes` or `0755` written for a string fails here.
//!
//! The new values include strings that only a YAML 1.1 reader takes for something else
//! (dates, timestamps, `Null`, `yes`, `0755`, `1:30`), tags, characters YAML forbids or YAML
//! 1.1 reads as line breaks, and trailing blanks in multi-line strings. PyYAML is required when
//! `CI` is set (`scripts/test` installs it); elsewhere its absence is a notice.
//!
//! An edit that fails must leave the text unchanged; an edit the documentation says is refused
//! (replacing a collection, going through an alias, inserting or removing inside a flow
//! collection) must fail.
//!
//! `PROPTEST_CASES` sets the number of cases (1024 by default); failures are not persisted.
//! `EDIT_PROPTEST_LOG=1` prints every refused edit that is not a documented refusal, and the
//! run ends with a table of edit kinds and outcomes (shown with `--no-capture`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

use crate::common;

use crate::pyyaml_oracle::PyYaml;
use gitops_migrate::yaml::{
    Data, Document, Mapping, Node, NodeKind, Path, ScalarStyle, ScalarValue, Segment, Sequence,
    reference_load, resolve,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use rayon::prelude::*;
use similar::{DiffOp, TextDiff};

// ----- the files -------------------------------------------------------------------------

/// One file that both parsers read, with the same data.
struct Sample {
    name: String,
    text: String,
}

/// The files to edit: the small edge-case fixtures of `fixtures/yaml`, the other fixtures, and
/// the corpus (empty when `../shared/corpus` is absent).
struct Pools {
    edge_cases: Vec<Sample>,
    fixtures: Vec<Sample>,
    corpus: Vec<Sample>,
}

impl Pools {
    fn pick(&self, pool: u8, index: &Index) -> &Sample {
        // Without a corpus, its share goes to the other fixtures.
        let list = match pool {
            0 => &self.edge_cases,
            1 => &self.fixtures,
            _ if self.corpus.is_empty() => &self.fixtures,
            _ => &self.corpus,
        };
        index.get(if list.is_empty() {
            &self.edge_cases
        } else {
            list
        })
    }
}

fn files_under(root: &FsPath, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            let rel = p.strip_prefix(root).unwrap_or(p);
            !rel.components().any(|c| c.as_os_str() == "templates")
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    files
}

/// Reads the files that both parsers accept with the same data, sorted by path.
fn load_samples(base: &FsPath, files: Vec<PathBuf>) -> (Vec<Sample>, usize) {
    let total = files.len();
    let samples: Vec<Sample> = files
        .into_par_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let doc = Document::parse(text.as_str()).ok()?;
            let reference = reference_load(&text).ok()?;
            (comparable(&doc.data()) == comparable(&reference)).then(|| Sample {
                name: p.strip_prefix(base).unwrap_or(&p).display().to_string(),
                text,
            })
        })
        .collect();
    let skipped = total - samples.len();
    (samples, skipped)
}

fn pools() -> Pools {
    let root = FsPath::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures_dir = root.join("fixtures");
    let malformed = fixtures_dir.join("yaml").join("malformed.yaml");
    let (edge, other): (Vec<PathBuf>, Vec<PathBuf>) = files_under(&fixtures_dir, &["yaml"])
        .into_iter()
        .filter(|p| *p != malformed)
        .partition(|p| p.starts_with(fixtures_dir.join("yaml")));
    let (edge_cases, skipped_edge) = load_samples(root, edge);
    let (fixtures, skipped_fixtures) = load_samples(root, other);
    // Without the corpus the fixtures are still edited; `shared_data` prints the notice.
    let (corpus, skipped_corpus) = match common::shared_data("corpus") {
        Some(corpus_dir) => load_samples(&corpus_dir, files_under(&corpus_dir, &["yaml", "yml"])),
        None => (Vec::new(), 0),
    };
    eprintln!(
        "proptest_edits: {} edge-case fixtures, {} other fixtures, {} corpus files \
         ({} files skipped: unreadable, or read differently by the two parsers)",
        edge_cases.len(),
        fixtures.len(),
        corpus.len(),
        skipped_edge + skipped_fixtures + skipped_corpus
    );
    assert!(!edge_cases.is_empty(), "no fixtures found");
    Pools {
        edge_cases,
        fixtures,
        corpus,
    }
}

// ----- the operations --------------------------------------------------------------------

/// An operation as generated: indexes into what the document holds when it is applied.
#[derive(Debug, Clone)]
enum Op {
    /// Set an existing key or item: a scalar when `scalar` (and there is one), else anything
    /// (a collection or alias must be refused).
    Set {
        target: Index,
        scalar: bool,
        value: usize,
    },
    /// Set a key under an existing mapping or empty value (a new key, an existing one, or a
    /// near miss of one); under an empty value (`key:`, `~`, `{}`) when `empty` and there is
    /// one.
    SetKey {
        container: Index,
        empty: bool,
        key: Index,
        value: usize,
    },
    /// Set `k1.k2` under an existing mapping or empty value.
    SetNested {
        container: Index,
        empty: bool,
        keys: (usize, usize),
        value: usize,
    },
    /// Remove an existing key or item.
    Remove { target: Index },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let value = 0..VALUES;
    prop_oneof![
        3 => (any::<Index>(), prop::bool::weighted(0.8), value.clone())
            .prop_map(|(target, scalar, value)| Op::Set { target, scalar, value }),
        2 => (any::<Index>(), prop::bool::weighted(0.3), any::<Index>(), value.clone())
            .prop_map(|(container, empty, key, value)| Op::SetKey { container, empty, key, value }),
        1 => (
            any::<Index>(),
            prop::bool::weighted(0.3),
            (0..NEW_KEYS.len(), 0..NEW_KEYS.len()),
            value,
        )
            .prop_map(|(container, empty, keys, value)| Op::SetNested {
                container,
                empty,
                keys,
                value
            }),
        4 => any::<Index>().prop_map(|target| Op::Remove { target }),
    ]
}

/// Keys that new entries get (some need quoting, one has a dot, some sort first or last).
const NEW_KEYS: &[&str] = &[
    "newKey",
    "aaa",
    "zzz",
    "x",
    "y",
    "a b",
    "true",
    "ça",
    "dotted.key",
    "1",
    "mid",
    "2024-06-30",
    "Null",
    "yes",
    "0755",
    "tab\tkey",
];

/// Strings a YAML 1.1 reader takes for something else when written plain, tags, characters
/// YAML forbids or YAML 1.1 reads as line breaks, and blanks a block scalar would leave at
/// line ends.
const TRICKY_STRINGS: &[&str] = &[
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "Null",
    "NULL",
    "~",
    "yes",
    "Yes",
    "y",
    "N",
    "off",
    "0755",
    "0o17",
    "1_000",
    "1:30",
    "1e3",
    "=",
    "<<",
    "!!int 5",
    "!local x",
    "&anchor",
    "*alias",
    "form\x0cfeed",
    "\x1b[0m escape",
    "bell\x07",
    "delete\x7f",
    "c1\u{85}next line",
    "line\u{2028}separator",
    "para\u{2029}graph",
    "non\u{fffe}character",
    "\u{feff}bom",
    "tab\tinside",
    "trailing  \nspaces\n",
    "first\n\nthird\n\n",
];

/// Plain arguments that read differently for YAML 1.1 readers, as `edit set` takes them.
const TRICKY_ARGS: &[&str] = &[
    "Null", "NULL", "TRUE", "False", "0o17", "1e3", "0x1F", "+12", ".inf",
];

const BASIC_VALUES: usize = 22;
const VALUES: usize = BASIC_VALUES + TRICKY_STRINGS.len() + TRICKY_ARGS.len();

fn value(i: usize) -> ScalarValue {
    let arg = |s: &str| ScalarValue::from_arg(s, false).expect("a plain scalar");
    let i = i % VALUES;
    if i >= BASIC_VALUES + TRICKY_STRINGS.len() {
        return arg(TRICKY_ARGS[i - BASIC_VALUES - TRICKY_STRINGS.len()]);
    }
    if i >= BASIC_VALUES {
        return ScalarValue::string(TRICKY_STRINGS[i - BASIC_VALUES]);
    }
    match i {
        0 => ScalarValue::string("true"),
        1 => ScalarValue::string("a: b"),
        2 => ScalarValue::string("{{ x }}"),
        3 => ScalarValue::string(""),
        4 => ScalarValue::string("ça"),
        5 => ScalarValue::string("plain"),
        6 => ScalarValue::string("hello world"),
        7 => ScalarValue::string("/n3/hub"),
        8 => ScalarValue::string("5"),
        9 => ScalarValue::string("null"),
        10 => ScalarValue::string("it's # not a comment"),
        11 => ScalarValue::string("- a"),
        12 => ScalarValue::string("first line\nsecond line\n"),
        13 => ScalarValue::string("0755"),
        14 => arg("5"),
        15 => arg("-3"),
        16 => arg("1.5"),
        17 => arg("~"),
        18 => ScalarValue::bool(true),
        19 => ScalarValue::bool(false),
        20 => ScalarValue::string("\"quoted\" and \\ back"),
        _ => ScalarValue::string(" leading space"),
    }
}

/// A concrete edit on the current document.
#[derive(Debug, Clone)]
enum Edit {
    Set(Vec<Segment>, ScalarValue),
    Remove(Vec<Segment>),
}

impl Edit {
    fn describe(&self) -> String {
        match self {
            Edit::Set(p, v) => format!("set `{}` to {:?}", Path(p.clone()), v.data),
            Edit::Remove(p) => format!("remove `{}`", Path(p.clone())),
        }
    }
}

// ----- reading the tree ------------------------------------------------------------------

/// How a node was reached from its parent.
#[derive(Clone, Copy)]
enum Step<'a> {
    Entry(&'a Mapping, usize),
    Item(&'a Sequence, usize),
}

/// The nodes along a path, from the root; `complete` when every segment matched.
struct Chain<'a> {
    nodes: Vec<(&'a Node, Option<Step<'a>>)>,
    complete: bool,
}

fn key_matches(key: &Node, k: &str) -> bool {
    match &key.kind {
        NodeKind::Scalar(s) => s.value == k,
        NodeKind::Null => k.is_empty(),
        _ => false,
    }
}

fn scalar_text(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar(s) => Some(&s.value),
        NodeKind::Null => Some(""),
        _ => None,
    }
}

fn walk<'a>(root: &'a Node, path: &[Segment]) -> Chain<'a> {
    let mut nodes = vec![(root, None)];
    for seg in path {
        let cur = nodes.last().unwrap().0;
        let next = match (&cur.kind, seg) {
            (NodeKind::Mapping(m), Segment::Key(k)) => m
                .entries
                .iter()
                .position(|e| key_matches(&e.key, k))
                .map(|i| (&m.entries[i].value, Step::Entry(m, i))),
            (NodeKind::Sequence(s), Segment::Index(j)) => {
                s.items.get(*j).map(|it| (&it.value, Step::Item(s, *j)))
            }
            (NodeKind::Sequence(s), Segment::Select { key, value }) => s
                .items
                .iter()
                .position(|it| {
                    it.value.as_mapping().is_some_and(|m| {
                        m.entries
                            .iter()
                            .find(|e| key_matches(&e.key, key))
                            .and_then(|e| scalar_text(&e.value))
                            == Some(value.as_str())
                    })
                })
                .map(|j| (&s.items[j].value, Step::Item(s, j))),
            _ => None,
        };
        match next {
            Some((node, step)) => nodes.push((node, Some(step))),
            None => {
                return Chain {
                    nodes,
                    complete: false,
                };
            }
        }
    }
    Chain {
        nodes,
        complete: true,
    }
}

fn is_flow(node: &Node) -> bool {
    matches!(&node.kind, NodeKind::Mapping(m) if m.flow)
        || matches!(&node.kind, NodeKind::Sequence(s) if s.flow)
}

/// `key:`, `~` or `null`.
fn is_null_like(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Null => true,
        NodeKind::Scalar(s) => {
            s.style == ScalarStyle::Plain
                && matches!(s.value.as_str(), "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

/// Whether a path segment naming this key finds the same entry in `Data` (whose keys are
/// matched by their resolved text): plain keys that resolve to strings or integers, quoted
/// keys, empty keys.
fn usable_key(key: &Node) -> bool {
    if key.tag.is_some() {
        return false;
    }
    match &key.kind {
        NodeKind::Null => true,
        NodeKind::Scalar(s) if s.style != ScalarStyle::Plain => true,
        NodeKind::Scalar(s) => match resolve::core(&s.value) {
            Data::Str(_) => true,
            Data::Int(i) => i.to_string() == s.value,
            _ => false,
        },
        _ => false,
    }
}

/// A path to an existing node, and what it holds.
struct Site {
    path: Vec<Segment>,
    what: Holds,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    Scalar,
    /// `key:`, `~`, `null` or `{}`.
    Empty,
    Mapping,
    Other,
}

/// Every key and item of document 0 (in block and flow collections, not through aliases),
/// with `[key=value]` selectors for items that are mappings whose first entry holds a string.
fn sites(root: &Node) -> Vec<Site> {
    fn visit(node: &Node, path: &mut Vec<Segment>, out: &mut Vec<Site>) {
        match &node.kind {
            NodeKind::Mapping(m) => {
                for e in &m.entries {
                    if !usable_key(&e.key) {
                        continue;
                    }
                    path.push(Segment::Key(scalar_text(&e.key).unwrap().to_string()));
                    push_site(&e.value, path, out);
                    visit(&e.value, path, out);
                    path.pop();
                }
            }
            NodeKind::Sequence(s) => {
                for (j, it) in s.items.iter().enumerate() {
                    path.push(Segment::Index(j));
                    push_site(&it.value, path, out);
                    visit(&it.value, path, out);
                    path.pop();
                    if let Some(select) = selector(s, j) {
                        path.push(select);
                        push_site(&it.value, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    visit(root, &mut Vec::new(), &mut out);
    out
}

fn push_site(node: &Node, path: &[Segment], out: &mut Vec<Site>) {
    let what = match &node.kind {
        _ if is_null_like(node) => Holds::Empty,
        NodeKind::Mapping(m) if m.entries.is_empty() => Holds::Empty,
        NodeKind::Mapping(_) => Holds::Mapping,
        NodeKind::Scalar(_) => Holds::Scalar,
        _ => Holds::Other,
    };
    out.push(Site {
        path: path.to_vec(),
        what,
    });
}

/// `[key=value]` for item `j` when its first entry has a usable key and a string value that
/// no earlier item has.
fn selector(s: &Sequence, j: usize) -> Option<Segment> {
    let e = s.items[j].value.as_mapping()?.entries.first()?;
    let NodeKind::Scalar(v) = &e.value.kind else {
        return None;
    };
    if !usable_key(&e.key)
        || e.value.tag.is_some()
        || (v.style == ScalarStyle::Plain && !matches!(resolve::core(&v.value), Data::Str(_)))
    {
        return None;
    }
    let key = scalar_text(&e.key)?;
    let first = s.items.iter().position(|it| {
        it.value.as_mapping().is_some_and(|m| {
            m.entries
                .iter()
                .find(|e| key_matches(&e.key, key))
                .and_then(|e| scalar_text(&e.value))
                == Some(v.value.as_str())
        })
    });
    (first == Some(j)).then(|| Segment::Select {
        key: key.to_string(),
        value: v.value.clone(),
    })
}

fn aliases_of(root: &Node, anchor: &str) -> usize {
    let mut n = 0;
    root.walk(&mut |node| {
        if matches!(&node.kind, NodeKind::Alias(a) if a == anchor) {
            n += 1;
        }
    });
    n
}

/// Turns a generated operation into an edit of the current document; `None` when the
/// document has nothing to choose from.
fn concrete(doc: &Document, op: &Op) -> Option<Edit> {
    let all = doc.root(0).map(sites).unwrap_or_default();
    let paths = |f: &dyn Fn(Holds) -> bool| -> Vec<Vec<Segment>> {
        all.iter()
            .filter(|s| f(s.what))
            .map(|s| s.path.clone())
            .collect()
    };
    // Where new keys go: the root, a mapping, or an empty value (preferred when `empty`).
    let container = |index: &Index, empty: bool| -> Vec<Segment> {
        let empties = paths(&|h| h == Holds::Empty);
        if empty && !empties.is_empty() {
            return index.get(&empties).clone();
        }
        let mut c = vec![Vec::new()];
        c.extend(paths(&|h| matches!(h, Holds::Empty | Holds::Mapping)));
        index.get(&c).clone()
    };
    match op {
        Op::Set {
            target,
            scalar,
            value: v,
        } => {
            let scalars = paths(&|h| matches!(h, Holds::Scalar | Holds::Empty));
            let from = if *scalar && !scalars.is_empty() {
                scalars
            } else {
                paths(&|_| true)
            };
            (!from.is_empty()).then(|| Edit::Set(target.get(&from).clone(), value(*v)))
        }
        Op::Remove { target } => {
            (!all.is_empty()).then(|| Edit::Remove(target.get(&all).path.clone()))
        }
        Op::SetKey {
            container: c,
            empty,
            key,
            value: v,
        } => {
            let mut path = container(c, *empty);
            // New keys, or a key of the container itself (an existing scalar or collection),
            // or a near miss of one that sorts right after it.
            let existing: Vec<String> = doc
                .root(0)
                .map(|r| walk(r, &path))
                .filter(|c| c.complete)
                .and_then(|c| c.nodes.last().unwrap().0.as_mapping())
                .map(|m| {
                    m.entries
                        .iter()
                        .filter(|e| usable_key(&e.key))
                        .filter_map(|e| scalar_text(&e.key).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let mut names: Vec<String> = NEW_KEYS.iter().map(|s| s.to_string()).collect();
            for k in &existing {
                names.push(k.clone());
                names.push(format!("{k}-b"));
            }
            path.push(Segment::Key(key.get(&names).clone()));
            Some(Edit::Set(path, value(*v)))
        }
        Op::SetNested {
            container: c,
            empty,
            keys: (a, b),
            value: v,
        } => {
            let mut path = container(c, *empty);
            path.push(Segment::Key(NEW_KEYS[*a].to_string()));
            path.push(Segment::Key(NEW_KEYS[*b].to_string()));
            Some(Edit::Set(path, value(*v)))
        }
    }
}

// ----- lines -----------------------------------------------------------------------------

struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        if starts.len() > 1 && *starts.last().unwrap() == text.len() {
            starts.pop();
        }
        Lines { text, starts }
    }

    fn count(&self) -> usize {
        if self.text.is_empty() {
            0
        } else {
            self.starts.len()
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    fn text(&self, line: usize) -> &'a str {
        let start = self.starts[line];
        let end = self
            .starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    fn is_blank(&self, line: usize) -> bool {
        self.text(line).trim().is_empty()
    }

    fn is_comment(&self, line: usize) -> bool {
        self.text(line).trim_start().starts_with('#')
    }

    /// The line of the last byte of `start..end` (of `start` when empty).
    fn last_line(&self, start: usize, end: usize) -> usize {
        self.line_of(if end > start { end - 1 } else { start })
    }

    fn first_on_line(&self, offset: usize) -> bool {
        let s = self.starts[self.line_of(offset)];
        self.text[s..offset]
            .bytes()
            .all(|b| b == b' ' || b == b'\t')
    }
}

// ----- what each edit may touch ----------------------------------------------------------

/// What an edit is expected to do to the old lines.
#[derive(Debug, Clone)]
enum Expect {
    /// The documentation says the edit is refused.
    Refused(&'static str),
    /// Old lines `first..=last` may be replaced; everything before and after stays in place.
    Region {
        first: usize,
        last: usize,
        why: &'static str,
    },
    /// Lines are only inserted, in one place; no old line changes.
    Insert,
    /// Either an insertion, or (a key that sorts before the first key of a mapping that
    /// starts on a `- ` line takes that key's place) a change of that one line.
    InsertOrDashLine { line: usize },
}

fn node_lines(l: &Lines<'_>, node: &Node) -> (usize, usize) {
    (
        l.line_of(node.span.start),
        l.last_line(node.span.start, node.span.end),
    )
}

fn expect_set(doc: &Document, path: &[Segment]) -> Expect {
    let l = Lines::new(doc.text());
    let Some(root) = doc.root(0) else {
        return Expect::Insert;
    };
    let chain = walk(root, path);
    let (last, step) = *chain.nodes.last().unwrap();
    let through_flow = chain.nodes[..chain.nodes.len() - 1]
        .iter()
        .any(|(n, _)| is_flow(n));
    if chain.complete {
        return match &last.kind {
            NodeKind::Mapping(_) | NodeKind::Sequence(_) => {
                Expect::Refused("set replaces scalars only, not a mapping or sequence")
            }
            NodeKind::Alias(_) => Expect::Refused("set does not replace an alias"),
            NodeKind::Scalar(_) | NodeKind::Null => {
                if last
                    .anchor
                    .as_deref()
                    .is_some_and(|a| aliases_of(root, a) > 0)
                {
                    return Expect::Refused(
                        "set does not change an anchored value used by aliases",
                    );
                }
                let (first, last) = node_lines(&l, last);
                Expect::Region {
                    first,
                    last,
                    why: "set (replace a scalar)",
                }
            }
        };
    }
    if matches!(last.kind, NodeKind::Alias(_)) {
        return Expect::Refused("set does not go through an alias");
    }
    let empty_flow_mapping =
        matches!(&last.kind, NodeKind::Mapping(m) if m.flow && m.entries.is_empty());
    match &last.kind {
        NodeKind::Mapping(m) if m.flow && !m.entries.is_empty() => {
            Expect::Refused("set does not insert into a flow mapping")
        }
        NodeKind::Mapping(m) if !m.flow => {
            let first = m.entries[0].key.span.start;
            let line_start = doc.text()[..first].rfind('\n').map_or(0, |i| i + 1);
            if doc.text()[line_start..first].trim_start().starts_with('-') {
                Expect::InsertOrDashLine {
                    line: l.line_of(first),
                }
            } else {
                Expect::Insert
            }
        }
        _ if is_null_like(last) || empty_flow_mapping => {
            if through_flow {
                return Expect::Refused("set does not insert inside a flow collection");
            }
            // The empty value is opened: the key's line changes, the block goes below it.
            let (first, end) = node_lines(&l, last);
            let first = match step {
                Some(Step::Entry(m, i)) => m.entries[i]
                    .colon
                    .map_or(first, |c| l.line_of(c).min(first)),
                _ => first,
            };
            Expect::Region {
                first,
                last: end,
                why: "set (open an empty value)",
            }
        }
        // Through a scalar or a sequence: the model cannot apply it either.
        _ => Expect::Insert,
    }
}

fn expect_remove(doc: &Document, path: &[Segment]) -> Expect {
    let l = Lines::new(doc.text());
    let Some(root) = doc.root(0) else {
        return Expect::Refused("nothing to remove");
    };
    let chain = walk(root, path);
    if !chain.complete {
        return Expect::Refused("the path does not exist");
    }
    if path.is_empty() {
        return Expect::Refused("the root is never removed");
    }
    if chain.nodes[..chain.nodes.len() - 1]
        .iter()
        .any(|(n, _)| is_flow(n))
    {
        return Expect::Refused("remove does not remove inside a flow collection");
    }
    let (mut first, mut last, why) = removal_lines(doc.text(), &l, &chain, path.len());
    while first > 0 && l.is_blank(first - 1) {
        first -= 1;
    }
    while last + 1 < l.count() && l.is_blank(last + 1) {
        last += 1;
    }
    Expect::Region { first, last, why }
}

fn entry_end(m: &Mapping, i: usize) -> usize {
    let e = &m.entries[i];
    e.value
        .span
        .end
        .max(e.colon.map_or(0, |c| c + 1))
        .max(e.key.span.end)
}

fn item_end(s: &Sequence, j: usize) -> usize {
    let it = &s.items[j];
    it.value.span.end.max(it.dash.map_or(0, |d| d + 1))
}

/// The first line that can hold comments owned by the first child of a block whose header
/// (`key:`, `- `, or the start of the document) ends at `header_end`.
fn header_floor(text: &str, l: &Lines<'_>, header_end: usize) -> usize {
    if header_end == 0 || text.as_bytes()[header_end - 1] == b'\n' {
        l.line_of(header_end)
    } else {
        l.line_of(header_end) + 1
    }
}

/// The first line of the own-line comments directly above `line`, not above `floor`.
fn comments_above(l: &Lines<'_>, line: usize, floor: usize) -> usize {
    let mut s = line;
    while s > floor && l.is_comment(s - 1) {
        s -= 1;
    }
    s
}

/// The old lines a removal of the node at `chain.nodes[depth]` may touch: its owned comments
/// through the end of its value, or the pruned ancestor's, or the emptied item's mapping.
fn removal_lines(
    text: &str,
    l: &Lines<'_>,
    chain: &Chain<'_>,
    depth: usize,
) -> (usize, usize, &'static str) {
    match chain.nodes[depth].1.expect("a child has a step") {
        Step::Entry(m, i) => {
            if m.entries.len() == 1 && depth >= 2 {
                match chain.nodes[depth - 1].1 {
                    Some(Step::Entry(..)) => {
                        let (first, last, _) = removal_lines(text, l, chain, depth - 1);
                        return (first, last, "remove (prunes an emptied mapping)");
                    }
                    Some(Step::Item(..)) => {
                        let (first, last) = node_lines(l, chain.nodes[depth - 1].0);
                        return (first, last, "remove (item becomes {})");
                    }
                    None => unreachable!("depth >= 2"),
                }
            }
            let e = &m.entries[i];
            let key_line = l.line_of(e.key.span.start);
            if !l.first_on_line(e.key.span.start) && m.entries.len() > 1 {
                // `- a: 1` followed by `  b: 2`: the next key moves up onto the dash line.
                return (
                    key_line,
                    l.line_of(m.entries[1].key.span.start),
                    "remove (first key on a dash line)",
                );
            }
            let floor = if i == 0 {
                header_floor(text, l, m.header_end)
            } else {
                l.last_line(0, entry_end(m, i - 1)) + 1
            };
            (
                comments_above(l, key_line, floor),
                l.last_line(e.key.span.start, entry_end(m, i)),
                "remove (key)",
            )
        }
        Step::Item(s, j) => {
            let it = &s.items[j];
            let start = it.dash.unwrap_or(it.value.span.start);
            let floor = if j == 0 {
                header_floor(text, l, s.header_end)
            } else {
                l.last_line(0, item_end(s, j - 1)) + 1
            };
            let mut first = comments_above(l, l.line_of(start), floor);
            let last = l.last_line(start, item_end(s, j));
            let mut why = "remove (item)";
            if s.items.len() == 1
                && let Some(Step::Entry(pm, pi)) = chain.nodes[depth - 1].1
                && let Some(colon) = pm.entries[pi].colon
            {
                // The last item: `key: []` stays.
                first = first.min(l.line_of(colon));
                why = "remove (last item leaves [])";
            }
            (first, last, why)
        }
    }
}

// ----- the data model --------------------------------------------------------------------

/// Documents as compared: key order ignored, null and empty-mapping documents absent.
fn comparable(docs: &[Data]) -> Vec<Data> {
    docs.iter()
        .filter(|d| !matches!(d, Data::Null) && !matches!(d, Data::Map(m) if m.is_empty()))
        .map(Data::canonical)
        .collect()
}

fn key_is(k: &Data, key: &str) -> bool {
    k.key_text().as_deref() == Some(key)
}

/// The position of the child a segment names.
fn child_position(d: &Data, seg: &Segment) -> Option<usize> {
    match (seg, d) {
        (Segment::Key(k), Data::Map(m)) => m.iter().position(|(key, _)| key_is(key, k)),
        (Segment::Index(i), Data::Seq(v)) => (*i < v.len()).then_some(*i),
        (Segment::Select { key, value }, Data::Seq(v)) => v.iter().position(|item| {
            matches!(item, Data::Map(m) if m.iter().any(|(k, v)| key_is(k, key) && key_is(v, value)))
        }),
        _ => None,
    }
}

fn child_mut<'a>(d: &'a mut Data, seg: &Segment) -> Option<&'a mut Data> {
    let i = child_position(d, seg)?;
    match d {
        Data::Map(m) => Some(&mut m[i].1),
        Data::Seq(v) => Some(&mut v[i]),
        _ => None,
    }
}

fn at_mut<'a>(d: &'a mut Data, path: &[Segment]) -> Option<&'a mut Data> {
    path.iter().try_fold(d, |cur, seg| child_mut(cur, seg))
}

/// Set: replace the value, creating mappings for missing keys (a null becomes a mapping).
fn model_set(doc: &mut Data, path: &[Segment], value: &Data) -> Option<()> {
    let mut cur = doc;
    for seg in path {
        if matches!(cur, Data::Null) {
            *cur = Data::Map(Vec::new());
        }
        if child_position(cur, seg).is_none() {
            let (Segment::Key(k), Data::Map(m)) = (seg, &mut *cur) else {
                return None;
            };
            m.push((Data::Str(k.clone()), Data::Null));
        }
        cur = child_mut(cur, seg)?;
    }
    *cur = value.clone();
    Some(())
}

/// Remove: delete the key or item, then remove mappings left empty from their parent
/// mapping, up to (not including) the root; sequences keep their emptied items and may end
/// up empty.
fn model_remove(doc: &mut Data, path: &[Segment]) -> Option<()> {
    let (last, parent_path) = path.split_last()?;
    let parent = at_mut(doc, parent_path)?;
    let i = child_position(parent, last)?;
    match parent {
        Data::Map(m) => {
            m.remove(i);
        }
        Data::Seq(v) => {
            v.remove(i);
        }
        _ => return None,
    }
    let mut depth = parent_path.len();
    while depth >= 1 {
        let emptied = matches!(at_mut(doc, &path[..depth])?, Data::Map(m) if m.is_empty());
        let grand = at_mut(doc, &path[..depth - 1])?;
        if !emptied || !matches!(grand, Data::Map(_)) {
            break;
        }
        let i = child_position(grand, &path[depth - 1])?;
        let Data::Map(m) = grand else { unreachable!() };
        m.remove(i);
        depth -= 1;
    }
    Some(())
}

// ----- the checks ------------------------------------------------------------------------

/// Text that ends with a line break, so that a missing final break does not count as a
/// changed last line (it is checked separately).
fn with_final_break(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// Property 3 on the old and new texts.
fn check_lines(old: &str, new: &str, expect: &Expect) -> Result<(), String> {
    if let Expect::InsertOrDashLine { line } = *expect {
        return check_lines(old, new, &Expect::Insert).or_else(|_| {
            check_lines(
                old,
                new,
                &Expect::Region {
                    first: line,
                    last: line,
                    why: "set (insert before the first key of a list item)",
                },
            )
        });
    }
    if !old.is_empty() && !new.is_empty() && old.ends_with('\n') != new.ends_with('\n') {
        return Err("the final line break was added or removed".into());
    }
    let (o, n) = (with_final_break(old), with_final_break(new));
    let old_lines: Vec<&str> = o.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = n.split_inclusive('\n').collect();
    let (lo, ln) = (old_lines.len(), new_lines.len());
    let region = match *expect {
        Expect::Region { first, last, .. } => Some((first, last)),
        _ => None,
    };
    let allowed = |line: usize| region.is_some_and(|(a, b)| a <= line && line <= b);

    // The diff: every deleted or replaced old line lies in the region, and (for an edit with
    // a region) new lines go only there.
    let diff = TextDiff::from_lines(o.as_str(), n.as_str());
    let mut outside = Vec::new();
    for op in diff.ops() {
        match *op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete {
                old_index, old_len, ..
            }
            | DiffOp::Replace {
                old_index, old_len, ..
            } => outside.extend((old_index..old_index + old_len).filter(|&i| !allowed(i))),
            DiffOp::Insert { old_index, .. } => {
                if let Some((a, b)) = region
                    && !(a <= old_index && old_index <= b + 1)
                {
                    outside.push(old_index);
                }
            }
        }
    }

    // Without the diff's choice among equal alignments (a deleted line equal to its
    // neighbour can be shown deleted on either side): the old lines before the region are
    // the new text's first lines, those after it its last lines.
    let prefix = old_lines
        .iter()
        .zip(&new_lines)
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = old_lines
        .iter()
        .rev()
        .zip(new_lines.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let kept_in_place = match region {
        Some((a, b)) => {
            let after = lo.saturating_sub(b + 1);
            a <= prefix && after <= suffix && a + after <= ln
        }
        None => prefix + suffix >= lo,
    };
    if kept_in_place {
        return Ok(());
    }
    let shown: Vec<String> = outside
        .iter()
        .take(5)
        .map(|&i| format!("{}: {:?}", i + 1, old_lines.get(i).copied().unwrap_or("")))
        .collect();
    Err(format!(
        "old lines outside the allowed region ({}) changed or moved; the diff touches old \
         line(s) [{}]; kept prefix {prefix} lines, suffix {suffix} lines, old {lo} lines, new {ln} lines",
        match region {
            Some((a, b)) => format!("lines {}..={}", a + 1, b + 1),
            None => "insertion only".into(),
        },
        shown.join(", ")
    ))
}

fn excerpt(text: &str, around: Option<(usize, usize)>) -> String {
    const WHOLE: usize = 60;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (from, to) = match around {
        _ if lines.len() <= WHOLE => (0, lines.len()),
        Some((a, b)) => (a.saturating_sub(8), (b + 9).min(lines.len())),
        None => (0, WHOLE),
    };
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate().take(to).skip(from) {
        out.push_str(&format!("{:>5} | {}", i + 1, line));
        if !line.ends_with('\n') {
            out.push_str("⏎ (no final line break)\n");
        }
    }
    out
}

/// How many edits of each kind ended how, over all cases (shrinking included).
type Stats = RefCell<BTreeMap<(&'static str, String), usize>>;

fn kind(edit: &Edit, expect: &Expect) -> &'static str {
    match (edit, expect) {
        (Edit::Remove(_), Expect::Refused(_)) => "remove (documented refusal)",
        (Edit::Set(..), Expect::Refused(_)) => "set (documented refusal)",
        (_, Expect::Insert) => "set (insert keys)",
        (_, Expect::InsertOrDashLine { .. }) => "set (insert keys into a list item)",
        (_, Expect::Region { why, .. }) => why,
    }
}

fn outcome(result: &Result<bool, gitops_migrate::yaml::EditError>) -> String {
    match result {
        Ok(c) => format!("Ok({c})"),
        Err(e) => {
            let d = format!("{e:?}");
            format!("Err({})", d.split([' ', '{', '(']).next().unwrap_or(""))
        }
    }
}

/// Runs one case: the file and its operations, checking every step.
fn run_case(
    sample: &Sample,
    ops: &[Op],
    stats: &Stats,
    oracle: &RefCell<Option<PyYaml>>,
) -> Result<(), TestCaseError> {
    let mut doc = Document::parse(sample.text.as_str()).expect("samples parse");
    let mut data = reference_load(doc.text()).expect("samples load");
    let mut log: Vec<String> = Vec::new();
    for op in ops {
        let Some(edit) = concrete(&doc, op) else {
            continue;
        };
        let old = doc.text().to_string();
        let expect = match &edit {
            Edit::Set(path, _) => expect_set(&doc, path),
            Edit::Remove(path) => expect_remove(&doc, path),
        };
        let label = kind(&edit, &expect);
        let result = match &edit {
            Edit::Set(path, v) => doc.set(0, &Path(path.clone()), v),
            Edit::Remove(path) => doc.remove(0, &Path(path.clone())),
        };
        if std::env::var_os("EDIT_PROPTEST_LOG").is_some()
            && let Err(e) = &result
            && !matches!(expect, Expect::Refused(_))
        {
            eprintln!("ERR {label} {} {}: {e}", sample.name, edit.describe());
        }
        *stats
            .borrow_mut()
            .entry((label, outcome(&result)))
            .or_default() += 1;
        log.push(format!(
            "{} -> {}",
            edit.describe(),
            match &result {
                Ok(changed) => format!("Ok({changed})"),
                Err(e) => format!("Err({e})"),
            }
        ));
        let fail = |what: String, new: &str| {
            let region = match expect {
                Expect::Region { first, last, .. } => Some((first, last)),
                _ => None,
            };
            let diff = TextDiff::from_lines(old.as_str(), new)
                .unified_diff()
                .context_radius(3)
                .header("old", "new")
                .to_string();
            TestCaseError::fail(format!(
                "{what}\n  file: {}\n  edits so far (the last is this one): {log:#?}\n  edit: {}\n  result: {result:?}\n  \
                 expected: {expect:?}\n--- old text ---\n{}--- diff ---\n{diff}",
                sample.name,
                edit.describe(),
                excerpt(&old, region),
            ))
        };
        let changed = match result {
            Err(_) => {
                if doc.text() != old {
                    return Err(fail("a failed edit changed the text".into(), doc.text()));
                }
                continue;
            }
            Ok(changed) => changed,
        };
        let new = doc.text().to_string();
        if let Expect::Refused(why) = expect {
            return Err(fail(format!("the edit succeeded, but {why}"), &new));
        }
        if changed != (new != old) {
            return Err(fail(format!("returned Ok({changed})"), &new));
        }

        // 1. Both parsers read the new text, alike.
        let actual = match reference_load(&new) {
            Ok(d) => d,
            Err(e) => {
                return Err(fail(
                    format!(
                        "the reference parser rejects the result at {}:{}: {}",
                        e.line + 1,
                        e.col + 1,
                        e.message
                    ),
                    &new,
                ));
            }
        };
        let reparsed = match Document::parse(new.as_str()) {
            Ok(d) => d,
            Err(e) => {
                return Err(fail(
                    format!("Document::parse rejects the result: {e}"),
                    &new,
                ));
            }
        };
        if comparable(&reparsed.data()) != comparable(&actual)
            || comparable(&doc.data()) != comparable(&actual)
        {
            return Err(fail(
                "the editor reads the result differently from the reference parser".into(),
                &new,
            ));
        }

        // 2. The data is the old data plus the intended change.
        let mut expected = data.clone();
        if expected.is_empty() {
            expected.push(Data::Null);
        }
        let applied = match &edit {
            Edit::Set(path, v) => model_set(&mut expected[0], path, &v.data),
            Edit::Remove(path) => model_remove(&mut expected[0], path),
        };
        if applied.is_none() {
            return Err(fail(
                "the edit succeeded, but the model cannot apply it to the data".into(),
                &new,
            ));
        }
        if comparable(&expected) != comparable(&actual) {
            return Err(fail(
                format!(
                    "the data is not the old data plus the change\n  expected: {:?}\n  actual:   {:?}",
                    comparable(&expected),
                    comparable(&actual)
                ),
                &new,
            ));
        }

        // 3. Lines outside the edited region are kept.
        if let Err(m) = check_lines(&old, &new, &expect) {
            return Err(fail(m, &new));
        }

        // 4. PyYAML reads the old data (as it reads it) plus the change.
        if let Some(py) = oracle.borrow_mut().as_mut() {
            let outcome = match py.load(&old) {
                Err(_) => "skipped: PyYAML does not read the original",
                Ok(mut expected) => {
                    if expected.is_empty() {
                        expected.push(Data::Null);
                    }
                    let applied = match &edit {
                        Edit::Set(path, v) => model_set(&mut expected[0], path, &v.data),
                        Edit::Remove(path) => model_remove(&mut expected[0], path),
                    };
                    match py.load(&new) {
                        Err(e) => {
                            return Err(fail(format!("PyYAML rejects the result: {e}"), &new));
                        }
                        Ok(_) if applied.is_none() => {
                            "skipped: the path goes through a key YAML 1.1 reads as another type"
                        }
                        Ok(got) if comparable(&got) != comparable(&expected) => {
                            return Err(fail(
                                format!(
                                    "PyYAML does not read the old data plus the change\n  expected: {:?}\n  actual:   {:?}",
                                    comparable(&expected),
                                    comparable(&got)
                                ),
                                &new,
                            ));
                        }
                        Ok(_) => "checked",
                    }
                }
            };
            *stats
                .borrow_mut()
                .entry(("PyYAML oracle", outcome.to_string()))
                .or_default() += 1;
        }
        data = actual;
    }
    Ok(())
}

#[test]
fn random_edits_keep_data_and_untouched_lines() {
    let pools = pools();
    let mut config = Config {
        // Failures are reported, not written into the source tree.
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        // A case takes about 4 ms in a debug build.
        config.cases = 1024;
    }
    eprintln!("proptest_edits: {} cases", config.cases);
    let mut runner = TestRunner::new(config);
    let strategy = (
        0u8..3,
        any::<Index>(),
        proptest::collection::vec(op_strategy(), 1..=6),
    );
    let stats = Stats::default();
    let oracle = RefCell::new(PyYaml::start());
    match oracle.borrow().as_ref() {
        Some(py) => eprintln!("proptest_edits: PyYAML oracle with {}", py.loader),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 with PyYAML is required in CI (scripts/test installs it)"
            );
            eprintln!(
                "notice: python3 with PyYAML is not available; the YAML 1.1 oracle is skipped"
            );
        }
    }
    let result = runner.run(&strategy, |(pool, file, ops)| {
        run_case(pools.pick(pool, &file), &ops, &stats, &oracle)
    });
    for ((kind, outcome), n) in stats.borrow().iter() {
        eprintln!("  {kind:<34} {outcome:<70} {n:>6}");
    }
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, (pool, file, ops))) => panic!(
            "{reason}\nminimal input: file {} ops {ops:?}",
            pools.pick(pool, &file).name
        ),
        Err(e) => panic!("{e}"),
    }
}

// ----- checks of the checks --------------------------------------------------------------

#[test]
fn model_prunes_emptied_mappings_but_not_items() {
    let mut d = reference_load("a:\n  b:\n    c: 1\nd: [x]\ne:\n- f: 1\n").unwrap();
    let p = |s: &str| Path::parse(s).unwrap().0;
    model_remove(&mut d[0], &p("a.b.c")).unwrap();
    model_remove(&mut d[0], &p("d[0]")).unwrap();
    model_remove(&mut d[0], &p("e[0].f")).unwrap();
    assert_eq!(
        comparable(&d),
        comparable(&reference_load("d: []\ne:\n- {}\n").unwrap())
    );
    let mut d = reference_load("a: 1\n").unwrap();
    model_remove(&mut d[0], &p("a")).unwrap();
    assert!(comparable(&d).is_empty());
    let mut d = reference_load("a:\nb: {}\n").unwrap();
    model_set(&mut d[0], &p("a.x.y"), &Data::Int(1)).unwrap();
    model_set(&mut d[0], &p("b.z"), &Data::Bool(true)).unwrap();
    assert_eq!(
        comparable(&d),
        comparable(&reference_load("a: {x: {y: 1}}\nb: {z: true}\n").unwrap())
    );
}

#[test]
fn line_check_allows_only_the_region() {
    let old = "a: 1\n# c\nb: 2\n\nc: 3\n";
    let doc = Document::parse(old).unwrap();
    let p = |s: &str| Path::parse(s).unwrap().0;
    let region = expect_remove(&doc, &p("b"));
    assert!(
        matches!(
            region,
            Expect::Region {
                first: 1,
                last: 3,
                ..
            }
        ),
        "{region:?}"
    );
    assert!(check_lines(old, "a: 1\nc: 3\n", &region).is_ok());
    assert!(check_lines(old, "a: 1\n\nc: 3\n", &region).is_ok());
    assert!(check_lines(old, "c: 3\n", &region).is_err());
    assert!(check_lines(old, "a: 1\nc: 3\nb: 2\n", &region).is_err());
    // A deleted line equal to its neighbour is fine on either side.
    let old = "l:\n- x\n- x\n- y\n";
    let doc = Document::parse(old).unwrap();
    let region = expect_remove(&doc, &p("l[0]"));
    assert!(check_lines(old, "l:\n- x\n- y\n", &region).is_ok());
    assert!(check_lines("a: 1\n", "a: 1\nb: 2\n", &Expect::Insert).is_ok());
    assert!(check_lines("a: 1\nc: 1\n", "a: 2\nb: 2\nc: 1\n", &Expect::Insert).is_err());
    assert!(check_lines("a: 1", "a: 1\nb: 2", &Expect::Insert).is_ok());
    assert!(check_lines("a: 1", "a: 1\nb: 2\n", &Expect::Insert).is_err());
    let doc = Document::parse("a: {}\nb: 1\n").unwrap();
    let opened = expect_set(&doc, &p("a.x"));
    assert!(
        matches!(
            opened,
            Expect::Region {
                first: 0,
                last: 0,
                ..
            }
        ),
        "{opened:?}"
    );
    assert!(check_lines("a: {}\nb: 1\n", "a:\n  x: 1\nb: 1\n", &opened).is_ok());
    // Regions of the removal rules: pruning, the first key of an item, an emptied item, the
    // last item of a sequence.
    for (text, path, want) in [
        ("a:\n  b:\n    c: 1\nd: 2\n", "a.b.c", (0, 2)),
        ("l:\n- x: 1\n  # y\n  y: 2\n", "l[0].x", (1, 3)),
        ("l:\n- x: 1\n", "l[0].x", (1, 1)),
        ("k:\n# one\n- a\nz: 1\n", "k[0]", (0, 2)),
        ("a: 1\n\n# b\n# b\nb: 2\n\nc: 3\n", "b", (1, 5)),
    ] {
        let doc = Document::parse(text).unwrap();
        let got = expect_remove(&doc, &p(path));
        assert!(
            matches!(got, Expect::Region { first, last, .. } if (first, last) == want),
            "{text:?} {path}: {got:?}"
        );
    }
}
