//! Flow collections: `[...]` sequences and `{...}` mappings, over one line or several.
//!
//! Owns: the entries and separators of flow collections, single-pair mappings inside a flow
//! sequence (`[a: 1]`), JSON-like keys (`"a":1`), empty values, and the nodes inside (with
//! their properties). Does not own: the scalars they hold (`scalar`) or properties
//! (`properties`).

use super::{
    Parser, Result, can_start_plain, is_flow_indicator, is_ws_or_end, null_at, set_properties,
};
use crate::yaml::tree::{Entry, Item, Mapping, Node, NodeKind, ScalarStyle, Sequence};

impl Parser<'_> {
    pub(super) fn flow_collection(&mut self) -> Result<Node> {
        self.enter()?;
        let r = if self.peek() == b'[' {
            self.flow_sequence()
        } else {
            self.flow_mapping()
        };
        self.depth -= 1;
        r
    }

    /// Skips blanks, comments and line breaks inside a flow collection.
    fn flow_trivia(&mut self) {
        self.skip_trivia();
    }

    fn flow_sequence(&mut self) -> Result<Node> {
        let start = self.pos;
        let indent = self.col(start);
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.flow_trivia();
            match self.peek() {
                b']' => {
                    self.pos += 1;
                    break;
                }
                0 => return self.err(start, "unterminated flow sequence (missing ']')"),
                _ => {}
            }
            let item_start = self.pos;
            let mut value = self.flow_node()?;
            self.flow_trivia();
            if self.flow_colon_ahead(&value) {
                let colon = self.pos;
                self.pos += 1;
                self.flow_trivia();
                let v = if matches!(self.peek(), b',' | b']') {
                    null_at(self.pos)
                } else {
                    self.flow_node()?
                };
                let end = if v.span.is_empty() {
                    colon + 1
                } else {
                    v.span.end
                };
                value = Node {
                    span: item_start..end,
                    anchor: None,
                    tag: None,
                    kind: NodeKind::Mapping(Mapping {
                        flow: true,
                        indent: self.col(item_start),
                        header_end: item_start,
                        entries: vec![Entry {
                            key: value,
                            colon: Some(colon),
                            value: v,
                            explicit: false,
                        }],
                    }),
                };
                self.flow_trivia();
            }
            items.push(Item { dash: None, value });
            match self.peek() {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    break;
                }
                0 => return self.err(start, "unterminated flow sequence (missing ']')"),
                _ => return self.err(self.pos, "expected ',' or ']' in a flow sequence"),
            }
        }
        Ok(Node {
            span: start..self.pos,
            anchor: None,
            tag: None,
            kind: NodeKind::Sequence(Sequence {
                flow: true,
                indent,
                header_end: start + 1,
                items,
            }),
        })
    }

    /// At `:` that makes the node before it a key in flow context.
    fn flow_colon_ahead(&self, key: &Node) -> bool {
        if self.peek() != b':' {
            return false;
        }
        let next = self.at(self.pos + 1);
        let json_like = matches!(&key.kind, NodeKind::Scalar(s) if matches!(s.style, ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted))
            || matches!(key.kind, NodeKind::Mapping(_) | NodeKind::Sequence(_));
        is_ws_or_end(next) || is_flow_indicator(next) || json_like
    }

    fn flow_mapping(&mut self) -> Result<Node> {
        let start = self.pos;
        let indent = self.col(start);
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.flow_trivia();
            match self.peek() {
                b'}' => {
                    self.pos += 1;
                    break;
                }
                0 => return self.err(start, "unterminated flow mapping (missing '}')"),
                _ => {}
            }
            let key = if self.peek() == b':' && is_ws_or_end(self.at(self.pos + 1)) {
                null_at(self.pos)
            } else {
                self.flow_node()?
            };
            self.flow_trivia();
            let (colon, value) = if self.flow_colon_ahead(&key) {
                let colon = self.pos;
                self.pos += 1;
                self.flow_trivia();
                let v = if matches!(self.peek(), b',' | b'}') {
                    null_at(self.pos)
                } else {
                    self.flow_node()?
                };
                (Some(colon), v)
            } else {
                (None, null_at(key.span.end))
            };
            entries.push(Entry {
                key,
                colon,
                value,
                explicit: false,
            });
            self.flow_trivia();
            match self.peek() {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    break;
                }
                0 => return self.err(start, "unterminated flow mapping (missing '}')"),
                _ => return self.err(self.pos, "expected ',' or '}' in a flow mapping"),
            }
        }
        Ok(Node {
            span: start..self.pos,
            anchor: None,
            tag: None,
            kind: NodeKind::Mapping(Mapping {
                flow: true,
                indent,
                header_end: start + 1,
                entries,
            }),
        })
    }

    /// A node inside a flow collection.
    fn flow_node(&mut self) -> Result<Node> {
        let start = self.pos;
        let (anchor, tag) = self.properties()?;
        if anchor.is_some() || tag.is_some() {
            self.flow_trivia();
        }
        let mut node = match self.peek() {
            b'[' | b'{' => self.flow_collection()?,
            b'"' => self.double_quoted()?,
            b'\'' => self.single_quoted()?,
            b'*' => self.alias()?,
            b',' | b']' | b'}' => null_at(self.pos),
            c if can_start_plain(c, self.at(self.pos + 1))
                || (c == b':' && !is_ws_or_end(self.at(self.pos + 1))) =>
            {
                self.plain_flow()?
            }
            c => {
                return self.err(
                    self.pos,
                    format!("unexpected '{}' in a flow collection", c as char),
                );
            }
        };
        set_properties(&mut node, start, anchor, tag, self)?;
        Ok(node)
    }
}
