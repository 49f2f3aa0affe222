//! `remove`: planning the removal of a key or an item.
//!
//! Owns: `remove_plan` (the lines the key or item owns, its comments with it; a mapping left
//! empty under a key is removed with it, one that is a sequence item stays as `{}`, a
//! sequence left empty stays as `[]`; removals inside flow collections are refused) and
//! removing the first key of a mapping that starts on a `- ` line. Does not own: refusing
//! removals that break aliases (`anchors`) or applying the plan (`verify`).

use super::{Plan, Splice};
use crate::yaml::data::Change;
use crate::yaml::document::{Document, EditError, Via};
use crate::yaml::path::{Path, Segment};
use crate::yaml::tree::Mapping;

impl Document {
    pub(super) fn remove_plan(&self, doc: usize, path: &[Segment]) -> Result<Plan, EditError> {
        let shown = Path(path.to_vec()).to_string();
        let r = self.resolve(doc, path)?;
        let target = r.target();
        let change = Change::Remove {
            path: path.to_vec(),
        };
        let Some(via) = r.via() else {
            return Err(EditError::Unsupported {
                path: shown,
                reason: "cannot remove the document root".into(),
            });
        };
        if r.in_flow() {
            return Err(EditError::Flow {
                path: shown,
                line: self.line_of(target.span.start),
            });
        }
        self.check_anchors(doc, &r, &shown)?;
        self.check_anchor_definitions(doc, target, &shown)?;
        let l = self.lines();
        match via {
            Via::Entry(m, i) => {
                let entry = &m.entries[i];
                if m.entries.len() == 1 && path.len() >= 2 {
                    match r.chain[r.chain.len() - 2].1 {
                        Some(Via::Entry(..)) => {
                            return self.remove_plan(doc, &path[..path.len() - 1]);
                        }
                        Some(Via::Item(..)) => {
                            // The last key of a mapping that is a sequence item: the item stays, as `{}`.
                            let mnode = r.chain[r.chain.len() - 2].0;
                            let first = l.line_of(mnode.span.start);
                            let last = self.last_line(mnode.span.end);
                            return Ok(Plan {
                                splices: vec![Splice {
                                    range: mnode.span.clone(),
                                    text: "{}".into(),
                                }],
                                region: self.line_region(first, last),
                                change,
                            });
                        }
                        None => unreachable!("a path of two segments has a parent step"),
                    }
                }
                if !l.first_on_line(entry.key.span.start) {
                    return self.remove_compact_first(m, &shown, change);
                }
                let floor = self.entry_floor(m, i);
                let first = Self::owned_start(&l, l.line_of(entry.key.span.start), floor);
                let last = self.last_line(entry.content_end());
                let (splice, region) = self.remove_lines(first, last, i == 0);
                Ok(Plan {
                    splices: vec![splice],
                    region,
                    change,
                })
            }
            Via::Item(s, j) => {
                let item = &s.items[j];
                let dash = item.dash.expect("block items have a dash");
                if !l.first_on_line(dash) {
                    return Err(EditError::Unsupported {
                        path: shown,
                        reason: format!(
                            "the item shares line {} with its parent item",
                            l.line_of(dash) + 1
                        ),
                    });
                }
                let floor = self.item_floor(s, j);
                let first = Self::owned_start(&l, l.line_of(dash), floor);
                let last = self.last_line(item.content_end());
                // Removing the only item leaves `[]` on the key's line: the blank lines after the
                // item separate the next group and stay.
                let only = s.items.len() == 1;
                let (splice, region) = self.remove_lines(first, last, j == 0 && !only);
                if !only {
                    return Ok(Plan {
                        splices: vec![splice],
                        region,
                        change,
                    });
                }
                // The last item: the sequence stays, as `[]`.
                let parent = r.chain.len().checked_sub(2).and_then(|k| r.chain[k].1);
                let Some(Via::Entry(pm, pi)) = parent else {
                    return Err(EditError::Unsupported {
                        path: shown,
                        reason: "removing the only item of a sequence that is not under a key"
                            .into(),
                    });
                };
                let colon = pm.entries[pi].colon.expect("block entries have a colon");
                let key_line = l.line_of(colon);
                // `[]` goes after the key's colon, or after the sequence's own `&anchor` or
                // `!tag` when they stand on the key's line.
                let seq = r.chain[r.chain.len() - 2].0;
                let at = if l.line_of(seq.span.start) == key_line {
                    let props = &self.text[seq.span.start..l.end(key_line)];
                    let props = props.split(" #").next().unwrap_or(props);
                    seq.span.start + props.trim_end().len()
                } else {
                    colon + 1
                };
                Ok(Plan {
                    splices: vec![
                        Splice {
                            range: at..at,
                            text: " []".into(),
                        },
                        splice,
                    ],
                    region: self
                        .line_region(key_line, self.lines().line_of(region.end.saturating_sub(1))),
                    change,
                })
            }
        }
    }

    /// Removing the first key of a mapping that starts on a `- ` line: the next key moves up
    /// onto the dash line.
    fn remove_compact_first(
        &self,
        m: &Mapping,
        shown: &str,
        change: Change,
    ) -> Result<Plan, EditError> {
        let l = self.lines();
        let first = &m.entries[0];
        let next_start = self.entry_owned_start(m, 1);
        if l.indent(next_start) < m.indent {
            return Err(EditError::Unsupported {
                path: shown.to_string(),
                reason: format!(
                    "the comment on line {} is indented less than the keys it stands above",
                    next_start + 1
                ),
            });
        }
        let end = l.start(next_start) + m.indent;
        Ok(Plan {
            splices: vec![Splice {
                range: first.key.span.start..end,
                text: String::new(),
            }],
            region: self.line_region(l.line_of(first.key.span.start), next_start),
            change,
        })
    }
}
