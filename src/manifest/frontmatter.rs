//! Splitting a manifest file into its YAML frontmatter and Markdown body.

/// The frontmatter text, the line (1-based) it starts on, and the body.
#[derive(Debug, PartialEq, Eq)]
pub struct Split<'a> {
    pub yaml: &'a str,
    pub first_line: usize,
    pub body: &'a str,
}

/// Why a file has no usable frontmatter.
#[derive(Debug, PartialEq, Eq)]
pub enum FrontmatterError {
    Missing,
    Unterminated,
}

impl std::fmt::Display for FrontmatterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrontmatterError::Missing => write!(
                f,
                "no YAML frontmatter: the file must start with a line `---`, then YAML, then another `---`"
            ),
            FrontmatterError::Unterminated => {
                write!(f, "the frontmatter opened on line 1 is never closed: add a line `---` after the YAML")
            }
        }
    }
}

/// Split `text` at its `---` fences. A UTF-8 BOM and CRLF line ends are accepted.
pub fn split(text: &str) -> Result<Split<'_>, FrontmatterError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().ok_or(FrontmatterError::Missing)?;
    if first.trim_end() != "---" {
        return Err(FrontmatterError::Missing);
    }
    let start = first.len();
    let mut offset = start;
    for line in lines {
        if line.trim_end() == "---" {
            return Ok(Split {
                yaml: &text[start..offset],
                first_line: 2,
                body: &text[offset + line.len()..],
            });
        }
        offset += line.len();
    }
    Err(FrontmatterError::Unterminated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_yaml_and_body() {
        let s = split("---\nbottle: dev\n---\nYou help.\n").unwrap();
        assert_eq!(s.yaml, "bottle: dev\n");
        assert_eq!(s.body, "You help.\n");
    }

    #[test]
    fn accepts_crlf_and_bom_and_empty_frontmatter() {
        let s = split("\u{feff}---\r\na: b\r\n---\r\nbody").unwrap();
        assert_eq!(s.yaml, "a: b\r\n");
        assert_eq!(s.body, "body");
        assert_eq!(split("---\n---\n").unwrap().yaml, "");
    }

    #[test]
    fn refuses_missing_and_unterminated() {
        assert_eq!(split("just text"), Err(FrontmatterError::Missing));
        assert_eq!(split(""), Err(FrontmatterError::Missing));
        assert_eq!(split("---\na: b\n"), Err(FrontmatterError::Unterminated));
    }
}
