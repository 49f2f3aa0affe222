//! Applying a plan: the splices, then the proof that the result is what was meant.
//!
//! Owns: `commit` (splicing a `Plan` into the text, refusing overlapping splices or any
//! outside the plan's region, then requiring that the reference parser reads the original
//! data plus the intended change, and that this crate's parser reads the result the same way)
//! and writing new lines with the file's line ending (CRLF or LF). Does not own: making the
//! plan (`set`, `remove`, `append`).

use super::Plan;
use crate::yaml::data::{Data, comparable};
use crate::yaml::document::{Document, EditError};
use crate::yaml::load;

impl Document {
    /// Applies a plan if the result verifies: the independent parser reads the original data
    /// plus the intended change, this parser agrees, and nothing outside the plan's region
    /// changed.
    pub(super) fn commit(&mut self, doc: usize, plan: Plan) -> Result<bool, EditError> {
        let mut splices = plan.splices;
        if self.uses_crlf() {
            for s in &mut splices {
                s.text = crlf(&s.text);
            }
        }
        splices.sort_by_key(|s| (s.range.start, s.range.end));
        let verify = |m: String| EditError::Verify(m);
        for w in splices.windows(2) {
            if w[0].range.end > w[1].range.start {
                return Err(verify("overlapping changes".into()));
            }
        }
        let mut new = String::with_capacity(self.text.len() + 64);
        let mut pos = 0;
        for s in &splices {
            if s.range.start < plan.region.start || s.range.end > plan.region.end {
                return Err(verify("a change falls outside the edited lines".into()));
            }
            new.push_str(&self.text[pos..s.range.start]);
            new.push_str(&s.text);
            pos = s.range.end;
        }
        new.push_str(&self.text[pos..]);
        if new == self.text {
            return Ok(false);
        }
        let (before, after) = (
            &self.text[..plan.region.start],
            &self.text[plan.region.end..],
        );
        if !new.starts_with(before) || !new[before.len()..].ends_with(after) {
            return Err(verify("lines outside the edited region changed".into()));
        }
        let mut expected = load::reference_load(&self.text).map_err(|e| {
            verify(format!(
                "the original does not load in the reference parser: {}",
                e.message
            ))
        })?;
        while expected.len() <= doc {
            expected.push(Data::Null);
        }
        plan.change
            .apply(&mut expected[doc])
            .ok_or_else(|| verify("the intended change does not fit the data".into()))?;
        let actual = load::reference_load(&new).map_err(|e| {
            verify(format!(
                "the result does not parse at {}:{}: {}",
                e.line + 1,
                e.col + 1,
                e.message
            ))
        })?;
        if comparable(&expected) != comparable(&actual) {
            return Err(verify(
                "the result's data is not the original plus the intended change".into(),
            ));
        }
        let reparsed = Document::parse(new)
            .map_err(|e| verify(format!("the editor cannot read its own result: {e}")))?;
        if comparable(&reparsed.data()) != comparable(&actual) {
            return Err(verify(
                "the editor reads its result differently from the reference parser".into(),
            ));
        }
        *self = reparsed;
        Ok(true)
    }

    /// Whether the file ends its lines with CRLF (its first line break is one): new lines
    /// are written the same way.
    fn uses_crlf(&self) -> bool {
        self.text
            .find('\n')
            .is_some_and(|i| i > 0 && self.text.as_bytes()[i - 1] == b'\r')
    }
}

/// `text` with every line feed that is not already one written as CRLF.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev = '\0';
    for c in text.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
    out
}
