//! The plan as a person reviews it before launch: a text summary and a
//! stable JSON contract (see README, "Preflight JSON").

mod json;
mod text;

pub use json::{to_json, Preflight, JSON_VERSION};
pub use text::to_text;

use std::path::Path;

/// `path` with the user's home shown as `~`.
pub fn display_path(path: &Path, home: &Path) -> String {
    match path.strip_prefix(home) {
        Ok(rest) if !home.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}
