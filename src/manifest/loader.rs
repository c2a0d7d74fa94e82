//! Walking the manifest directories. Bottles come only from the bb home;
//! agents from the home and from the repository bb runs in. That split is
//! the trust boundary: a cloned repository can ship agents but can never
//! declare a bottle (credentials, egress, remotes).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::bottle::{self, BottleParts};
use super::error::{ManifestError, Warning};
use super::extends;
use super::frontmatter;
use super::issue::Issue;
use super::model::{Agent, Bottle, Source};
use super::yaml::{self, format_path, Node, NodeKind, Seg};
use super::{agent, Manifest};
use crate::suggest::did_you_mean;

/// Where manifests are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The bb home (`~/.bot-bottle` unless BB_HOME or --home say otherwise).
    pub home: PathBuf,
    /// The repository's `.bot-bottle` directory, when bb runs inside one.
    pub repo: Option<PathBuf>,
}

/// `[a-z][a-z0-9-]*`
pub fn is_entity_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// One file read and parsed, with what is needed to place errors in it.
struct Parsed<T> {
    path: PathBuf,
    node: Node,
    first_line: usize,
    body: String,
    parts: T,
}

impl<T> Parsed<T> {
    fn error_at(&self, path: &[Seg], message: impl Into<String>) -> ManifestError {
        located(&self.path, &self.node, self.first_line, path, message)
    }
}

fn located(
    file: &Path,
    node: &Node,
    first_line: usize,
    path: &[Seg],
    message: impl Into<String>,
) -> ManifestError {
    let line = line_of(node, path).map(|l| l + first_line - 1);
    ManifestError::new(file, line, format_path(path), message)
}

/// The line of the deepest node on `path` that exists.
fn line_of(node: &Node, path: &[Seg]) -> Option<usize> {
    let mut here = node;
    let mut line = None;
    for seg in path {
        let next = match (&here.kind, seg) {
            (NodeKind::Map(pairs), Seg::Key(k)) => pairs
                .iter()
                .find(|(key, _)| matches!(&key.kind, NodeKind::Scalar { value, .. } if value.eq_ignore_ascii_case(k)))
                .map(|(key, value)| {
                    line = Some(key.line);
                    value
                }),
            (NodeKind::Seq(items), Seg::Index(i)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => {
                here = n;
                if !matches!(n.kind, NodeKind::Map(_)) || line.is_none() {
                    line = Some(n.line);
                }
            }
            None => break,
        }
    }
    line
}

/// The `*.md` files of a directory whose names are valid entity names;
/// the others are skipped with a warning.
fn entity_files(
    dir: &Path,
    warnings: &mut Vec<Warning>,
    errors: &mut Vec<ManifestError>,
) -> Vec<(String, PathBuf)> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(ManifestError::new(
                dir,
                None,
                "",
                format!("cannot read the directory: {e}"),
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") || !path.is_file() {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if is_entity_name(stem) {
            out.push((stem.to_string(), path));
        } else {
            warnings.push(Warning {
                path,
                message: "skipped: file names must match [a-z][a-z0-9-]*.md".to_string(),
            });
        }
    }
    out.sort();
    out
}

fn read_file<T>(
    path: &Path,
    parse: impl Fn(&Node) -> Result<(T, Vec<String>), Issue>,
    warnings: &mut Vec<Warning>,
) -> Result<Parsed<T>, ManifestError> {
    let text = fs::read_to_string(path)
        .map_err(|e| ManifestError::new(path, None, "", format!("cannot read the file: {e}")))?;
    let split = frontmatter::split(&text)
        .map_err(|e| ManifestError::new(path, Some(1), "", e.to_string()))?;
    let node = yaml::parse(split.yaml).map_err(|e| {
        ManifestError::new(
            path,
            Some(e.line + split.first_line - 1),
            "",
            format!("invalid YAML: {}", e.message),
        )
    })?;
    if !matches!(node.kind, NodeKind::Map(_)) {
        return Err(ManifestError::new(
            path,
            Some(split.first_line),
            "",
            "the frontmatter must be a mapping of keys to values",
        ));
    }
    let (parts, file_warnings) = parse(&node)
        .map_err(|issue| located(path, &node, split.first_line, &issue.path, issue.message))?;
    warnings.extend(file_warnings.into_iter().map(|message| Warning {
        path: path.to_path_buf(),
        message,
    }));
    Ok(Parsed {
        path: path.to_path_buf(),
        node,
        first_line: split.first_line,
        body: split.body.trim().to_string(),
        parts,
    })
}

/// Read every manifest under `layout`. Broken files do not stop the rest:
/// they are reported in `errors` and what depends on them is left out.
pub fn load(layout: &Layout) -> Manifest {
    let mut m = Manifest {
        layout: layout.clone(),
        home_exists: layout.home.is_dir(),
        ..Manifest::default()
    };

    // Bottles: home only.
    let mut parsed: BTreeMap<String, Parsed<BottleParts>> = BTreeMap::new();
    let mut broken: BTreeMap<String, ManifestError> = BTreeMap::new();
    for (name, path) in entity_files(&layout.home.join("bottles"), &mut m.warnings, &mut m.errors) {
        match read_file(&path, bottle::parse, &mut m.warnings) {
            Ok(p) => {
                parsed.insert(name, p);
            }
            Err(e) => {
                m.errors.push(e.clone());
                broken.insert(name, e);
            }
        }
    }
    for name in parsed.keys() {
        match resolve(name, &parsed, &broken) {
            Ok(b) => {
                m.bottles.insert(name.clone(), b);
            }
            Err(e) => {
                m.errors.push(e.clone());
                m.broken_bottles.insert(name.clone(), e);
            }
        }
    }
    m.broken_bottles.extend(broken);

    // Agents: home, then the repository's (which win on a name clash).
    let mut files: Vec<(Source, String, PathBuf)> = Vec::new();
    let home_agents = entity_files(&layout.home.join("agents"), &mut m.warnings, &mut m.errors);
    let mut repo_agents = Vec::new();
    if let Some(repo) = &layout.repo {
        let repo_bottles = repo.join("bottles");
        if repo_bottles.is_dir() {
            m.warnings.push(Warning {
                path: repo_bottles,
                message: format!(
                    "ignored: bottles come only from {} (a repository may ship agents, never bottles); move them there or delete them",
                    layout.home.join("bottles").display()
                ),
            });
        }
        repo_agents = entity_files(&repo.join("agents"), &mut m.warnings, &mut m.errors);
    }
    for (name, path) in home_agents {
        if let Some((_, repo_path)) = repo_agents.iter().find(|(n, _)| *n == name) {
            m.warnings.push(Warning {
                path: repo_path.clone(),
                message: format!(
                    "this repository's agent {name:?} is used instead of your home agent {}",
                    path.display()
                ),
            });
            continue;
        }
        files.push((Source::Home, name, path));
    }
    files.extend(repo_agents.into_iter().map(|(n, p)| (Source::Repo, n, p)));
    for (source, name, path) in files {
        let (result, bottle) = match read_file(&path, agent::parse, &mut m.warnings) {
            Ok(p) => {
                let bottle = p.parts.bottle.clone();
                (check_agent(&name, source, p, &m), Some(bottle))
            }
            Err(e) => (Err(e), None),
        };
        match result {
            Ok(a) => {
                m.agents.insert(name, a);
            }
            Err(e) => {
                m.errors.push(e.clone());
                m.broken_agents.insert(name, (e, bottle));
            }
        }
    }
    m
}

fn check_agent(
    name: &str,
    source: Source,
    p: Parsed<agent::AgentParts>,
    m: &Manifest,
) -> Result<Agent, ManifestError> {
    let bottle = &p.parts.bottle;
    if m.broken_bottles.contains_key(bottle) {
        return Err(p.error_at(
            &[Seg::Key("bottle".into())],
            format!("bottle {bottle:?} has an error (reported for its file); fix that first"),
        ));
    }
    if !m.bottles.contains_key(bottle) {
        let hint = did_you_mean(bottle, m.bottles.keys().map(String::as_str))
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        let available = if m.bottles.is_empty() {
            "none yet".to_string()
        } else {
            m.bottles.keys().cloned().collect::<Vec<_>>().join(", ")
        };
        let boundary = if source == Source::Repo {
            ". A repository's agents run only in bottles from your home"
        } else {
            ""
        };
        return Err(p.error_at(
            &[Seg::Key("bottle".into())],
            format!(
                "no bottle {bottle:?} in {}{hint} (bottles: {available}){boundary}",
                m.layout.home.join("bottles").display()
            ),
        ));
    }
    Ok(Agent {
        name: name.to_string(),
        path: p.path,
        source,
        bottle: p.parts.bottle,
        skills: p.parts.skills,
        git_user: p.parts.git_user,
        prompt: p.body,
    })
}

/// Apply the `extends:` chain of one bottle.
fn resolve(
    name: &str,
    parsed: &BTreeMap<String, Parsed<BottleParts>>,
    broken: &BTreeMap<String, ManifestError>,
) -> Result<Bottle, ManifestError> {
    let me = &parsed[name];
    let extends_key = [Seg::Key("extends".into())];
    let mut chain: Vec<&str> = vec![name];
    let mut current = me;
    while let Some(parent) = current.parts.extends.as_deref() {
        if parent == name && chain.len() == 1 {
            return Err(me.error_at(
                &extends_key,
                "a bottle cannot extend itself; remove the self-reference",
            ));
        }
        if chain.contains(&parent) {
            chain.push(parent);
            return Err(me.error_at(
                &extends_key,
                format!("extends cycle: {}", chain.join(" -> ")),
            ));
        }
        if broken.contains_key(parent) {
            return Err(me.error_at(
                &extends_key,
                format!("extends {parent:?}, which has an error (reported for its file); fix that first"),
            ));
        }
        let Some(next) = parsed.get(parent) else {
            let hint = did_you_mean(parent, parsed.keys().map(String::as_str))
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            let via = if chain.len() > 1 {
                format!(" (via {})", chain.join(" -> "))
            } else {
                String::new()
            };
            let available = parsed.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(me.error_at(
                &extends_key,
                format!(
                    "extends {parent:?}{via}, which does not exist{hint} (bottles: {available})"
                ),
            ));
        };
        chain.push(parent);
        current = next;
    }
    // Merge from the root down.
    let mut merged = BottleParts::default();
    for n in chain.iter().rev() {
        merged = extends::merge(&merged, &parsed[*n].parts);
    }
    let parents = chain[1..].iter().map(|s| s.to_string()).collect();
    extends::finish(name, &me.path, parents, merged)
        .map_err(|(path, message)| me.error_at(&path, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_names() {
        assert!(is_entity_name("dev"));
        assert!(is_entity_name("gitea-dev2"));
        assert!(!is_entity_name("Dev"));
        assert!(!is_entity_name("2dev"));
        assert!(!is_entity_name("dev_x"));
        assert!(!is_entity_name(""));
    }

    #[test]
    fn line_of_finds_the_deepest_node() {
        let node = yaml::parse("a: 1\nb:\n  c:\n    - x\n    - y\n").unwrap();
        let path = [Seg::Key("b".into()), Seg::Key("c".into()), Seg::Index(1)];
        assert_eq!(line_of(&node, &path), Some(5));
        let missing = [Seg::Key("b".into()), Seg::Key("zz".into())];
        assert_eq!(line_of(&node, &missing), Some(2));
    }
}
