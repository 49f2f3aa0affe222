//! Small helpers for the sentences the tool prints: counted nouns.
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

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(plural(1, "file", "files"), "1 file");
        assert_eq!(plural(0, "file", "files"), "0 files");
        assert_eq!(plural(3, "entry", "entries"), "3 entries");
    }
}
