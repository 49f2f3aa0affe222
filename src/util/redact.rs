//! Keeping secrets out of what the tool prints, journals and reports.
//!
//! Owns: `Secret` (a token or password whose `Debug` and `Display` cannot show it; `expose`
//! is the one way to the value, for the header or the process that needs it), `Redactor` (the
//! free-text scrubber of a run: every configured secret replaced by `[redacted]` in one pass,
//! so the marker is never re-entered, with a warning for secrets too short to redact safely)
//! and `urls` (credentials inside URLs: `https://user:secret@host` → `https://***@host`).
//! Does not own: where secrets come from (the configuration, `GITHUB_TOKEN`, `gh auth token`)
//! or which texts are redacted (the engine redacts everything that leaves a step; clients
//! build error texts that never hold a token in the first place).

use std::fmt;

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are still replaced, but the run is warned: such a value is
/// likely to occur in ordinary text (hiding it there) and is easy to guess anyway.
pub const SHORTEST_SAFE: usize = 8;

/// A token or password. Its `Debug` and `Display` are `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Replaces the secret values of a run in every text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.as_ref().trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// One warning per secret too short to redact safely (the value is never in it).
    pub fn warnings(&self) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|s| s.chars().count() < SHORTEST_SAFE)
            .map(|s| {
                format!(
                    "a configured secret is only {} characters long: it is still replaced by {REDACTED} in output, but so is every ordinary word that contains it, and a value that short is easy to guess; use a longer token",
                    s.chars().count()
                )
            })
            .collect()
    }

    /// `text` with every secret replaced by `[redacted]`, in one pass over `text`: what was
    /// put in is never searched again, so a secret that is part of the marker cannot mangle it.
    pub fn redact(&self, text: &str) -> String {
        if self.secrets.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            if let Some(s) = self.secrets.iter().find(|s| rest.starts_with(s.as_str())) {
                out.push_str(REDACTED);
                i += s.len();
            } else {
                let c = rest.chars().next().expect("i is on a char boundary");
                out.push(c);
                i += c.len_utf8();
            }
        }
        out
    }

    pub fn redact_all(&self, items: &[String]) -> Vec<String> {
        items.iter().map(|t| self.redact(t)).collect()
    }
}

/// `https://user:secret@host/…` → `https://***@host/…`, anywhere in `text`.
pub fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_do_not_reenter_the_marker() {
        // Once `[red[redacted]cted]`: "act" replaced inside the marker put in for "x-act".
        let r = Redactor::new(["act", "x-act", "e"]);
        assert_eq!(
            r.redact("x-act and act here"),
            "[redacted] and [redacted] h[redacted]r[redacted]"
        );
        assert_eq!(r.warnings().len(), 3);
        assert!(
            r.warnings()
                .iter()
                .all(|w| !w.contains("x-act") && !w.contains(" act "))
        );
        let long = Redactor::new(["ghp_0123456789abcdef"]);
        assert!(long.warnings().is_empty());
        assert_eq!(
            long.redact("token ghp_0123456789abcdef!"),
            "token [redacted]!"
        );
        assert_eq!(
            Redactor::new(["red", "[redacted]"]).redact("a red [redacted]"),
            "a [redacted] [redacted]"
        );
    }

    #[test]
    fn longest_secret_first_and_unicode_text() {
        let r = Redactor::new(["abcdefgh", "abcdefghijkl"]);
        assert_eq!(r.redact("é abcdefghijkl é"), "é [redacted] é");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("ghp_secretvalue");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "ghp_secretvalue");
    }

    #[test]
    fn credentials_in_urls() {
        assert_eq!(
            urls("fatal: https://x-access-token:ghs_abc@github.com/o/r.git not found"),
            "fatal: https://***@github.com/o/r.git not found"
        );
        assert_eq!(
            urls("ssh://git@host:22/o/r and https://host/x"),
            "ssh://***@host:22/o/r and https://host/x"
        );
    }
}
