//! Bottle slugs: the agent's name and a short random suffix, so one agent
//! can run in several bottles at once.

use rand::Rng;

pub fn slug(agent: &str, suffix: &str) -> String {
    format!("{agent}-{suffix}")
}

/// Six characters from [a-z0-9].
pub fn random_suffix() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_short_and_safe() {
        let s = random_suffix();
        assert_eq!(s.len(), 6);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(slug("dev", "abc123"), "dev-abc123");
    }
}
