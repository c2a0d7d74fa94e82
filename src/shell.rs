//! Quoting for POSIX shells: argv shown to people and passed to `sh -c`.

/// One word, quoted only when it needs it.
pub fn quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// argv as a person would type it.
pub fn join(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_words_that_need_it() {
        let argv = [
            "codex".to_string(),
            "Read it.".to_string(),
            "it's".to_string(),
            String::new(),
        ];
        assert_eq!(join(&argv), "codex 'Read it.' 'it'\\''s' ''");
    }
}
