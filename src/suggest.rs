//! "Did you mean" suggestions for misspelt names.

/// The closest candidate to `input`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["egress", "env", "extends", "git"];
        assert_eq!(did_you_mean("egres", keys), Some("egress"));
        assert_eq!(did_you_mean("extend", keys), Some("extends"));
        assert_eq!(did_you_mean("Env", keys), Some("env"));
        assert_eq!(did_you_mean("completely-different", keys), None);
    }
}
