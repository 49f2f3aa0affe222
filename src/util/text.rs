//! Small helpers for the sentences the tool prints and reads: counted nouns, whole words,
//! commits as shown.
//!
//! Owns: wording shared by every layer. Depends on nothing else in the crate.

/// `1 file`, `2 files`, `0 files`: `n` with the singular or the plural form.
pub fn plural<N: std::fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    if n == N::from(1) {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `word` in `line`, not as part of a longer name (`nublado2` is not in `nublado20`).
pub fn contains_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        let is_name = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !is_name(before) && !is_name(after)
    })
}

/// A commit's first 7 characters, as Git and Argo CD show it (the whole text when shorter).
pub fn short_commit(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::{plural, short_commit};

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(plural(1, "file", "files"), "1 file");
        assert_eq!(plural(0, "file", "files"), "0 files");
        assert_eq!(plural(3, "entry", "entries"), "3 entries");
    }

    #[test]
    fn a_commit_is_shown_by_its_first_seven_characters() {
        assert_eq!(short_commit("0123456789abcdef0123"), "0123456");
        assert_eq!(short_commit("abc"), "abc");
    }
}
