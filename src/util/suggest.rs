//! "Did you mean …?": the closest of a set of names to a misspelled one.

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely
/// misspelling (at most two edits, or a quarter of the name's length).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = 2.max(name.chars().count() / 4);
    candidates
        .into_iter()
        .map(|c| (edit_distance(c, name), c))
        .filter(|&(d, _)| d > 0 && d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_near_misses_only() {
        let apps = ["nublado", "nublado2", "mobu", "cachemachine"];
        assert_eq!(closest("nubaldo", apps), Some("nublado"));
        assert_eq!(
            closest("use_machemachine", ["use_cachemachine", "url_prefix"]),
            Some("use_cachemachine")
        );
        assert_eq!(closest("sasquatch", apps), None);
        assert_eq!(closest("mobu", apps), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
