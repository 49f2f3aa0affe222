//! The stream: documents, their `---` and `...` markers, and `%` directives.
//!
//! Owns: splitting the text into documents, reading `%YAML` and `%TAG` directives (refusing
//! the ones libyaml does not know, with `DIRECTIVE_HINT`), and each document's root (a block
//! node, or a node on the `---` line). Does not own: the nodes themselves (`block`) or
//! turning a tag into its full form with the handles kept here (`properties`).

use super::{DIRECTIVE_HINT, Parser, Result, SyntaxError, ValueCtx};
use crate::yaml::tree::{Doc, Node};

impl Parser<'_> {
    pub(super) fn stream(&mut self) -> Result<Vec<Doc>> {
        let mut docs = Vec::new();
        loop {
            let doc_start = self.pos;
            self.skip_trivia();
            self.tag_handles.clear();
            while self.peek() == b'%' && self.col(self.pos) == 0 {
                self.directive()?;
                self.skip_trivia();
            }
            if self.eof() {
                break;
            }
            let mut marker = None;
            let mut body_start = doc_start;
            if self.at_doc_marker(self.pos) && self.peek() == b'.' {
                self.pos += 3;
                self.expect_line_end("after '...'")?;
                continue;
            }
            if self.at_doc_marker(self.pos) {
                marker = Some(self.pos);
                self.pos += 3;
                body_start = self.pos;
            }
            let root = self.document_root(marker.is_some())?;
            let save = self.pos;
            self.skip_trivia();
            if !self.eof() && !self.at_doc_marker(self.pos) {
                return self.err(self.pos, "expected the end of the document or '---'");
            }
            if self.eof() {
                self.pos = save;
            }
            if let Some(root) = &root
                && marker.is_none()
            {
                body_start = body_start.min(root.span.start);
            }
            docs.push(Doc {
                body_start,
                marker,
                root,
            });
            if self.eof() || self.pos == save {
                break;
            }
            if self.peek() == b'.' {
                self.pos += 3;
                self.expect_line_end("after '...'")?;
            }
        }
        Ok(docs)
    }

    /// A `%` directive line: `%TAG` handles are kept for the document that follows; other
    /// directives (`%YAML`) are read past.
    fn directive(&mut self) -> Result<()> {
        let start = self.pos;
        self.skip_to_break();
        let line = self.src[start..self.pos].trim_end_matches('\r');
        let line = line.split(" #").next().unwrap_or(line);
        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        let name = words.next().unwrap_or("%");
        let libyaml = |message: String| {
            Err(SyntaxError {
                offset: start,
                message,
                libyaml: Some(DIRECTIVE_HINT),
            })
        };
        if name == "%YAML" {
            let version = words.next().unwrap_or("");
            if !matches!(version, "1.1" | "1.2") {
                return libyaml(format!("libyaml rejects the YAML version `{version}`"));
            }
        } else if name != "%TAG" {
            return libyaml(format!("libyaml rejects the directive `{name}`"));
        }
        if name == "%TAG" {
            match (words.next(), words.next(), words.next()) {
                (Some(handle), Some(prefix), None)
                    if handle.starts_with('!') && handle.ends_with('!') =>
                {
                    self.tag_handles
                        .push((handle.to_string(), prefix.to_string()));
                }
                _ => {
                    return self.err(
                        start,
                        "a %TAG directive needs a handle (`!x!`) and a prefix",
                    );
                }
            }
        }
        Ok(())
    }

    fn expect_line_end(&mut self, what: &str) -> Result<()> {
        self.skip_blanks();
        if !self.at_line_end() {
            return self.err(self.pos, format!("unexpected content {what}"));
        }
        Ok(())
    }

    fn document_root(&mut self, after_marker: bool) -> Result<Option<Node>> {
        if after_marker {
            self.skip_blanks();
            if !self.at_line_end() {
                return self.inline_node(-1, ValueCtx::MappingValue).map(Some);
            }
        }
        let save = self.pos;
        self.skip_trivia();
        if self.eof() || self.at_doc_marker(self.pos) {
            self.pos = save;
            return Ok(None);
        }
        self.block_node(-1, save, false).map(Some)
    }
}
