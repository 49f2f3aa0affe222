//! Plain data of a YAML stream, to compare what two parsers read and what an edit changed.
//!
//! Owns: the `Data` value, comparing documents as data, and applying an intended change to
//! data. Does not own: text, building data from it (`load.rs`) or what a scalar means
//! (`resolve.rs`).

use super::path::Segment;

/// A YAML value. Floats are kept as their canonical text so that `Data` is `Ord`; mapping
/// entries keep their order, and `canonical` sorts them for order-insensitive comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Data {
    Null,
    Bool(bool),
    Int(i64),
    Float(String),
    Str(String),
    Seq(Vec<Data>),
    Map(Vec<(Data, Data)>),
    /// A value with a tag the core schema does not resolve (`!!binary`, `!local`), or with a
    /// standard tag that does not fit its text (`!!int two`): the full tag and the value.
    Tagged(String, Box<Data>),
}

impl Data {
    /// The same data with every mapping's entries sorted, for comparisons that ignore key order.
    pub fn canonical(&self) -> Data {
        match self {
            Data::Seq(v) => Data::Seq(v.iter().map(Data::canonical).collect()),
            Data::Tagged(t, d) => Data::Tagged(t.clone(), Box::new(d.canonical())),
            Data::Map(m) => {
                let mut m: Vec<_> = m
                    .iter()
                    .map(|(k, v)| (k.canonical(), v.canonical()))
                    .collect();
                m.sort();
                Data::Map(m)
            }
            other => other.clone(),
        }
    }

    /// How a key or selector value reads as text (`"1"` for the integer key `1`).
    pub fn key_text(&self) -> Option<String> {
        match self {
            Data::Null => Some(String::new()),
            Data::Bool(b) => Some(b.to_string()),
            Data::Int(i) => Some(i.to_string()),
            Data::Float(f) => Some(f.clone()),
            Data::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn map_get_mut(&mut self, key: &str) -> Option<&mut Data> {
        match self {
            Data::Map(m) => m
                .iter_mut()
                .find(|(k, _)| k.key_text().as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn child_mut(&mut self, seg: &Segment) -> Option<&mut Data> {
        match (seg, self) {
            (Segment::Key(k), d) => d.map_get_mut(k),
            (Segment::Index(i), Data::Seq(v)) => v.get_mut(*i),
            (Segment::Select { key, value }, Data::Seq(v)) => v.iter_mut().find(|item| {
                matches!(item, Data::Map(m) if m.iter().any(|(k, v)| k.key_text().as_deref() == Some(key) && v.key_text().as_deref() == Some(value)))
            }),
            _ => None,
        }
    }
}

/// Documents compared as data: key order ignored, and documents left empty dropped (removing
/// the last key of a file leaves no document at all).
pub fn comparable(docs: &[Data]) -> Vec<Data> {
    docs.iter()
        .filter(|d| !matches!(d, Data::Null) && !matches!(d, Data::Map(m) if m.is_empty()))
        .map(Data::canonical)
        .collect()
}

/// An intended change, applied to data to predict what an edit must produce.
#[derive(Debug, Clone)]
pub enum Change {
    /// Set the value at a path, creating missing mappings.
    Set { path: Vec<Segment>, value: Data },
    /// Remove the value at a path; mappings left empty are removed from their parent mapping.
    Remove { path: Vec<Segment> },
    /// Append an item to the sequence at a path (an empty or null value becomes a sequence).
    Append { path: Vec<Segment>, value: Data },
}

impl Change {
    /// Applies the change to one document; `None` when the path does not fit the data.
    pub fn apply(&self, doc: &mut Data) -> Option<()> {
        match self {
            Change::Set { path, value } => {
                let mut cur = doc;
                for seg in path {
                    if matches!(cur, Data::Null) {
                        *cur = Data::Map(Vec::new());
                    }
                    if cur.child_mut(seg).is_none() {
                        let Segment::Key(k) = seg else { return None };
                        let Data::Map(m) = cur else { return None };
                        m.push((Data::Str(k.clone()), Data::Null));
                    }
                    cur = cur.child_mut(seg)?;
                }
                *cur = value.clone();
                Some(())
            }
            Change::Append { path, value } => {
                let mut cur = doc;
                for seg in path {
                    cur = cur.child_mut(seg)?;
                }
                if matches!(cur, Data::Null) {
                    *cur = Data::Seq(Vec::new());
                }
                let Data::Seq(v) = cur else { return None };
                v.push(value.clone());
                Some(())
            }
            Change::Remove { path } => remove_and_prune(doc, path),
        }
    }
}

fn remove_and_prune(doc: &mut Data, path: &[Segment]) -> Option<()> {
    let (last, parent_path) = path.split_last()?;
    let mut parent = &mut *doc;
    for seg in parent_path {
        parent = parent.child_mut(seg)?;
    }
    match (last, &mut *parent) {
        (Segment::Key(k), Data::Map(m)) => {
            let i = m
                .iter()
                .position(|(key, _)| key.key_text().as_deref() == Some(k.as_str()))?;
            m.remove(i);
        }
        (Segment::Index(i), Data::Seq(v)) if *i < v.len() => {
            v.remove(*i);
        }
        (seg @ Segment::Select { .. }, Data::Seq(_)) => {
            let target = parent.child_mut(seg)? as *const Data;
            let Data::Seq(v) = parent else { return None };
            let i = v.iter().position(|d| std::ptr::eq(d, target))?;
            v.remove(i);
        }
        _ => return None,
    }
    let emptied = matches!(parent, Data::Map(m) if m.is_empty());
    if emptied && !parent_path.is_empty() {
        let mut grand = &mut *doc;
        for seg in &parent_path[..parent_path.len() - 1] {
            grand = grand.child_mut(seg)?;
        }
        if matches!(grand, Data::Map(_)) {
            return remove_and_prune(doc, parent_path);
        }
    }
    Some(())
}
