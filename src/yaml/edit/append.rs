//! `append`: planning a new item at the end of a sequence.
//!
//! Owns: `append_plan` (after the last item and the comments it owns, or into an empty value
//! or `[]` opened as a block; a non-empty flow sequence is refused). Does not own: the item's
//! text (`text::item_block`), opening the empty value (`set::open_empty_value`) or applying
//! the plan (`verify`).

use super::text::item_block;
use super::{NewValue, Plan};
use crate::yaml::data::Change;
use crate::yaml::document::{Document, EditError};
use crate::yaml::path::{Path, Segment};
use crate::yaml::style::Style;
use crate::yaml::tree::NodeKind;

impl Document {
    pub(super) fn append_plan(
        &self,
        doc: usize,
        path: &[Segment],
        value: &NewValue,
        style: &Style,
    ) -> Result<Plan, EditError> {
        let style = *style;
        let shown = Path(path.to_vec()).to_string();
        let data = value.data().map_err(|reason| EditError::Unsupported {
            path: shown.clone(),
            reason,
        })?;
        let change = Change::Append {
            path: path.to_vec(),
            value: data,
        };
        let r = self.resolve(doc, path)?;
        self.check_anchors(doc, &r, &shown)?;
        let target = r.target();
        let l = self.lines();
        match &target.kind {
            NodeKind::Sequence(s) if !s.flow => {
                if r.in_flow() {
                    return Err(EditError::Flow {
                        path: shown,
                        line: self.line_of(target.span.start),
                    });
                }
                let last_item = s.items.last().expect("block sequences have items");
                let last = self.trailing_comments_end(
                    self.kept_lines_end(self.last_line(last_item.content_end()), &last_item.value),
                    s.indent,
                );
                let first = l.line_of(s.items[0].start());
                let at = l.end_with_break(last);
                Ok(Plan {
                    splices: vec![self.insert_lines(at, &item_block(value, s.indent, &style))],
                    region: self.line_region(first, last),
                    change,
                })
            }
            NodeKind::Sequence(s) if !s.items.is_empty() => Err(EditError::Flow {
                path: shown,
                line: self.line_of(target.span.start),
            }),
            NodeKind::Sequence(_) | NodeKind::Null | NodeKind::Scalar(_)
                if target.is_null() || matches!(&target.kind, NodeKind::Sequence(_)) =>
            {
                let (mut splices, region, col) = self.open_empty_value(&r, &shown, true, &style)?;
                let at = splices.pop().expect("an insertion point").range.start;
                splices.push(self.insert_lines(at, &item_block(value, col, &style)));
                Ok(Plan {
                    splices,
                    region,
                    change,
                })
            }
            _ => Err(EditError::Unsupported {
                path: shown,
                reason: format!(
                    "holds a {} (line {}), not a sequence",
                    target.kind_name(),
                    self.line_of(target.span.start)
                ),
            }),
        }
    }
}
