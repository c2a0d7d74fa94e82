//! A validation failure inside one document, located by key path. The
//! loader turns it into a [`super::ManifestError`] with file and line.

use super::yaml::{DeError, Seg};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: Vec<Seg>,
    pub message: String,
}

impl Issue {
    pub fn at(path: &[Seg], message: impl Into<String>) -> Issue {
        Issue {
            path: path.to_vec(),
            message: message.into(),
        }
    }
}

impl From<DeError> for Issue {
    fn from(e: DeError) -> Issue {
        Issue {
            path: e.path,
            message: e.message,
        }
    }
}

/// Builds key paths without noise at each call site.
pub fn key(parent: &[Seg], k: &str) -> Vec<Seg> {
    let mut p = parent.to_vec();
    p.push(Seg::Key(k.to_string()));
    p
}

pub fn index(parent: &[Seg], i: usize) -> Vec<Seg> {
    let mut p = parent.to_vec();
    p.push(Seg::Index(i));
    p
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name the host shell can export.
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
