//! Node properties and aliases: `&anchor`, `!tag` and `*alias`.
//!
//! Owns: reading properties in either order, resolving a tag to its full form (`!!int`,
//! `%TAG` handles, verbatim `!<...>` tags with their URI escapes), reading an alias, and
//! refusing anchor and alias names libyaml rejects (`ANCHOR_HINT`). Does not own: attaching
//! the properties to the node that follows (`set_properties` in `mod.rs`) or the `%TAG`
//! directives themselves (`stream`).

use super::{ANCHOR_HINT, Parser, Result, SyntaxError, is_flow_indicator, is_ws_or_end};
use crate::yaml::resolve;
use crate::yaml::tree::{Node, NodeKind};

/// Whether libyaml takes `name` as an anchor or alias name.
fn libyaml_anchor_name(name: &str) -> bool {
    name.bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

impl Parser<'_> {
    /// The full tag for the tag text at `start..self.pos`: `!!int` is
    /// `tag:yaml.org,2002:int`, a `%TAG` handle is replaced by its prefix, a verbatim tag is
    /// its content, `!x` stays a local tag and `!` the non-specific tag.
    fn full_tag(&self, start: usize) -> Result<String> {
        let text = &self.src[start..self.pos];
        if let Some(v) = text.strip_prefix("!<") {
            return Ok(percent_decode(v.strip_suffix('>').unwrap_or(v)));
        }
        if text == "!" {
            return Ok(text.to_string());
        }
        let (handle, suffix) = match text[1..].find('!') {
            Some(i) => text.split_at(i + 2),
            None => ("!", &text[1..]),
        };
        let defined = self
            .tag_handles
            .iter()
            .rev()
            .find(|(h, _)| h == handle)
            .map(|(_, p)| p.as_str());
        let prefix = match (defined, handle) {
            (Some(p), _) => p,
            (None, "!!") => resolve::CORE_PREFIX,
            (None, "!") => "!",
            (None, _) => {
                return self.err(
                    start,
                    format!("the tag handle `{handle}` is not declared by a %TAG directive"),
                );
            }
        };
        Ok(format!("{prefix}{}", percent_decode(suffix)))
    }

    /// Reads `&anchor` and `!tag` properties (in either order) and the blanks after them.
    pub(super) fn properties(&mut self) -> Result<(Option<String>, Option<String>)> {
        let mut anchor = None;
        let mut tag = None;
        loop {
            match self.peek() {
                b'&' if anchor.is_none() => {
                    let s = self.pos + 1;
                    self.pos = s;
                    while !is_ws_or_end(self.peek()) && !is_flow_indicator(self.peek()) {
                        self.pos += 1;
                    }
                    if self.pos == s {
                        return self.err(s - 1, "empty anchor name");
                    }
                    if !libyaml_anchor_name(&self.src[s..self.pos]) {
                        return Err(SyntaxError {
                            offset: s - 1,
                            message: format!(
                                "the anchor name `{}` has characters libyaml rejects",
                                &self.src[s..self.pos]
                            ),
                            libyaml: Some(ANCHOR_HINT),
                        });
                    }
                    anchor = Some(self.src[s..self.pos].to_string());
                }
                b'!' if tag.is_none() => {
                    let s = self.pos;
                    if self.at(s + 1) == b'<' {
                        while !is_ws_or_end(self.peek()) && self.peek() != b'>' {
                            self.pos += 1;
                        }
                        if self.peek() != b'>' {
                            return self.err(s, "unterminated verbatim tag (missing '>')");
                        }
                        self.pos += 1;
                    } else {
                        while !is_ws_or_end(self.peek()) && !is_flow_indicator(self.peek()) {
                            self.pos += 1;
                        }
                    }
                    tag = Some(self.full_tag(s)?);
                }
                _ => return Ok((anchor, tag)),
            }
            let before = self.pos;
            self.skip_blanks();
            if !matches!(self.peek(), b'&' | b'!') {
                self.pos = before;
                return Ok((anchor, tag));
            }
        }
    }

    pub(super) fn alias(&mut self) -> Result<Node> {
        let s = self.pos;
        self.pos += 1;
        while !is_ws_or_end(self.peek()) && !is_flow_indicator(self.peek()) {
            self.pos += 1;
        }
        if self.pos == s + 1 {
            return self.err(s, "empty alias name");
        }
        if !libyaml_anchor_name(&self.src[s + 1..self.pos]) {
            return Err(SyntaxError {
                offset: s,
                message: format!(
                    "the alias name `{}` has characters libyaml rejects",
                    &self.src[s + 1..self.pos]
                ),
                libyaml: Some(ANCHOR_HINT),
            });
        }
        Ok(Node {
            span: s..self.pos,
            anchor: None,
            tag: None,
            kind: NodeKind::Alias(self.src[s + 1..self.pos].to_string()),
        })
    }
}

/// `%21` and other URI escapes of a tag, decoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}
