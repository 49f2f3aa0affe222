//! Edits that would change what an alias means, refused.
//!
//! Owns: refusing a change inside a node whose anchor aliases still use, and refusing the
//! removal of a node that defines an anchor used outside it; counting a document's aliases
//! of an anchor. Does not own: anchors and aliases in the parser (`parse::properties`).

use crate::yaml::document::{Document, EditError, Resolved};
use crate::yaml::tree::{Node, NodeKind};

impl Document {
    /// Refuses an edit inside a node whose anchor is used by aliases (the aliases would
    /// change too), or inside a mapping written with explicit `? ` keys.
    pub(super) fn check_anchors(
        &self,
        doc: usize,
        r: &Resolved<'_>,
        shown: &str,
    ) -> Result<(), EditError> {
        for (node, _) in &r.chain {
            if let NodeKind::Mapping(m) = &node.kind
                && let Some(e) = m.entries.iter().find(|e| e.explicit)
            {
                return Err(EditError::Unsupported {
                    path: shown.to_string(),
                    reason: format!(
                        "goes through a mapping with an explicit key (`? `, line {}), which the editor reads but does not edit",
                        self.line_of(e.key.span.start.saturating_sub(2))
                    ),
                });
            }
            if let Some(anchor) = &node.anchor {
                let n = self.aliases_of(doc, anchor);
                if n > 0 {
                    return Err(EditError::Unsupported {
                        path: shown.to_string(),
                        reason: format!(
                            "`&{anchor}` (line {}) is anchored and used by {}; editing it would change them too",
                            self.line_of(node.span.start),
                            crate::util::text::plural(n, "alias", "aliases")
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Refuses removing a node that defines an anchor aliases outside it still use.
    pub(super) fn check_anchor_definitions(
        &self,
        doc: usize,
        target: &Node,
        shown: &str,
    ) -> Result<(), EditError> {
        let mut defined = Vec::new();
        let mut inside: Vec<String> = Vec::new();
        target.walk(&mut |n| {
            if let Some(a) = &n.anchor {
                defined.push((a.clone(), n.span.start));
            }
            if let NodeKind::Alias(a) = &n.kind {
                inside.push(a.clone());
            }
        });
        for (anchor, at) in defined {
            let outside =
                self.aliases_of(doc, &anchor) - inside.iter().filter(|a| **a == anchor).count();
            if outside > 0 {
                return Err(EditError::Unsupported {
                    path: shown.to_string(),
                    reason: format!(
                        "defines the anchor `&{anchor}` (line {}), which {} elsewhere still use",
                        self.line_of(at),
                        crate::util::text::plural(outside, "alias", "aliases")
                    ),
                });
            }
        }
        Ok(())
    }

    fn aliases_of(&self, doc: usize, anchor: &str) -> usize {
        let mut n = 0;
        if let Some(root) = self.root(doc) {
            root.walk(&mut |node| {
                if matches!(&node.kind, NodeKind::Alias(a) if a == anchor) {
                    n += 1;
                }
            });
        }
        n
    }
}
