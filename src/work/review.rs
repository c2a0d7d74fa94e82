//! An agent's work as the review view shows it: its commits, the files it
//! changed with their size of change, the diff; first the files that act
//! on the host when a person opens or builds the project (they deserve a
//! second look), and where the egress and gate secret rules find
//! something (the place, never the secret).

use serde::Serialize;

use super::git::GitError;
use super::saved::{Patch, Saved};

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub path: String,
    pub added: Option<u64>,
    pub removed: Option<u64>,
    /// Why it acts on the host, when it does.
    pub flag: Option<&'static str>,
}

/// A secret shape found in what the agent added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub path: String,
    /// The line in the file as the agent left it.
    pub line: usize,
    pub rule: &'static str,
}

/// The work, read for review.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    pub commits: Vec<(String, String)>,
    /// Flagged files first, then the rest, each in path order.
    pub files: Vec<Changed>,
    pub findings: Vec<Finding>,
    /// The patch, one entry per file in `files`' order: its path and its
    /// lines (headers, hunks, context, additions, removals).
    pub patches: Vec<(String, Vec<String>)>,
    pub uncommitted: bool,
    pub taken: bool,
}

/// Why a path acts on the host when a person opens or builds the
/// project, if it does.
pub fn flag(path: &str, executable: bool) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let under = |dir: &str| path.starts_with(dir) || path.contains(&format!("/{dir}"));
    if under(".github/workflows/") || under(".gitlab-ci") || name == ".gitlab-ci.yml" {
        return Some("CI runs it");
    }
    if under(".vscode/") || under(".idea/") || under(".devcontainer/") {
        return Some("your editor runs its tasks and settings");
    }
    if name == ".envrc" || name == ".env" {
        return Some("loaded when you enter the folder (direnv) or run the project");
    }
    if name.starts_with(".git")
        || under(".githooks/")
        || under(".husky/")
        || name == ".pre-commit-config.yaml"
    {
        return Some("git reads it (attributes, hooks, submodules)");
    }
    if matches!(
        name,
        "Makefile"
            | "makefile"
            | "GNUmakefile"
            | "justfile"
            | "Justfile"
            | "build.rs"
            | "setup.py"
            | "setup.cfg"
            | "pyproject.toml"
            | "CMakeLists.txt"
            | "build.gradle"
            | "build.gradle.kts"
            | "pom.xml"
            | "Rakefile"
            | "Gemfile"
            | "composer.json"
            | "Cargo.toml"
            | "go.mod"
            | "Dockerfile"
            | "docker-compose.yml"
            | "compose.yaml"
    ) || under(".cargo/")
    {
        return Some("a build runs it");
    }
    if name == "package.json" || name == ".npmrc" || name == ".yarnrc.yml" {
        return Some("npm runs its scripts");
    }
    if executable {
        return Some("executable");
    }
    None
}

/// Read the saved work for review: three git commands (its refs, its
/// commits, its patch); the files' sizes are counted from the patch.
pub fn read(saved: &Saved) -> Result<Review, GitError> {
    let points = saved.points()?;
    let commits = saved.commits_at(&points)?;
    let patch = String::from_utf8_lossy(&saved.diff_at(&points, Patch::Text)?).into_owned();
    let (files, findings, patches) = of_patch(&patch);
    Ok(Review {
        commits,
        files,
        findings,
        patches,
        uncommitted: points.uncommitted(),
        taken: saved.is_taken(&points),
    })
}

/// A patch as a review (a held push's): its files, flagged first, what
/// the secret rules find in it, each file's part.
pub fn from_patch(patch: &str, commits: Vec<(String, String)>) -> Review {
    let (files, findings, patches) = of_patch(patch);
    Review {
        commits,
        files,
        findings,
        patches,
        uncommitted: false,
        taken: false,
    }
}

type Parts = (Vec<Changed>, Vec<Finding>, Vec<(String, Vec<String>)>);

/// A patch's files (flagged first, then by path), the secret shapes in
/// what it adds, and each file's part of it, in the files' order.
fn of_patch(patch: &str) -> Parts {
    let mut changed: Vec<(Changed, (String, Vec<String>))> = split(patch)
        .into_iter()
        .map(|(path, lines)| {
            let (added, removed) = counted(&lines);
            let exec = lines
                .iter()
                .take(6)
                .any(|l| l.starts_with("new file mode 100755") || l.starts_with("new mode 100755"));
            let file = Changed {
                flag: flag(&path, exec),
                path: path.clone(),
                added,
                removed,
            };
            (file, (path, lines))
        })
        .collect();
    changed.sort_by(|(a, _), (b, _)| (a.flag.is_none(), &a.path).cmp(&(b.flag.is_none(), &b.path)));
    let findings = changed
        .iter()
        .flat_map(|(f, (_, lines))| secrets_in(&f.path, lines))
        .collect();
    let (files, patches) = changed.into_iter().unzip();
    (files, findings, patches)
}

/// Lines a file's patch adds and removes; None for a binary file.
fn counted(lines: &[String]) -> (Option<u64>, Option<u64>) {
    let mut in_hunks = false;
    let (mut added, mut removed) = (0, 0);
    for l in lines {
        if l.starts_with("@@ ") {
            in_hunks = true;
        } else if !in_hunks {
            if l.starts_with("Binary files ") {
                return (None, None);
            }
        } else if l.starts_with('+') {
            added += 1;
        } else if l.starts_with('-') {
            removed += 1;
        }
    }
    (Some(added), Some(removed))
}

/// A patch split by file: (the file's new path, its lines). A `commit
/// SHA` line (a held push's patch is one per commit) ends a file's part:
/// no line of a file's part starts with it.
fn split(patch: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_file = false;
    for line in patch.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            // `a/PATH b/PATH`: the new path is the second half.
            let path = rest
                .rsplit_once(" b/")
                .map(|(_, p)| p)
                .unwrap_or(rest)
                .to_string();
            out.push((path, Vec::new()));
            in_file = true;
        } else if line
            .strip_prefix("commit ")
            .is_some_and(|sha| sha.len() >= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            in_file = false;
        }
        if let (true, Some((_, lines))) = (in_file, out.last_mut()) {
            lines.push(line.to_string());
        }
    }
    out
}

/// Secret shapes in the lines a file's patch adds, by their line in the
/// new file (also split over two added lines, as the gate reads them).
fn secrets_in(path: &str, lines: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut new_line = 0usize;
    let mut prev_added: Option<&str> = None;
    for l in lines {
        if let Some(h) = l.strip_prefix("@@ ") {
            // `-a,b +c,d @@`: c is the first new line.
            new_line = h
                .split_whitespace()
                .find_map(|p| p.strip_prefix('+'))
                .and_then(|p| p.split(',').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(1)
                .saturating_sub(1);
            prev_added = None;
            continue;
        }
        if l.starts_with("+++") || l.starts_with("---") {
            continue;
        }
        match l.as_bytes().first() {
            Some(b'+') => {
                new_line += 1;
                let text = &l[1..];
                let found = bb_sidecar::dlp::scan(text).map(|f| f.rule).or_else(|| {
                    prev_added.and_then(|p| {
                        bb_sidecar::dlp::scan_joined([p, text].into_iter()).map(|f| f.rule)
                    })
                });
                if let Some(rule) = found {
                    out.push(Finding {
                        path: path.to_string(),
                        line: new_line,
                        rule,
                    });
                }
                prev_added = Some(text);
            }
            Some(b' ') => {
                new_line += 1;
                prev_added = None;
            }
            _ => prev_added = None,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_act_on_the_host_are_flagged() {
        for (path, flagged) in [
            (".envrc", true),
            (".vscode/tasks.json", true),
            (".github/workflows/ci.yml", true),
            ("sub/Makefile", true),
            ("package.json", true),
            (".gitattributes", true),
            ("build.rs", true),
            ("src/lib.rs", false),
            ("docs/workflows.md", false),
        ] {
            assert_eq!(flag(path, false).is_some(), flagged, "{path}");
        }
        assert_eq!(flag("tools/run.sh", true), Some("executable"));
    }

    #[test]
    fn secrets_are_placed_by_line_never_quoted() {
        let lines: Vec<String> = [
            "diff --git a/cfg.env b/cfg.env",
            "@@ -1,2 +1,4 @@",
            " keep = 1",
            "+AWS=AKIAIOSFODNN7EXAMPLE",
            " keep = 2",
            "+AKIAIOSFOD",
            "+NN7EXAMPLE",
        ]
        .map(String::from)
        .to_vec();
        let f = secrets_in("cfg.env", &lines);
        assert_eq!(
            f.iter().map(|f| (f.line, f.rule)).collect::<Vec<_>>(),
            [(2, "aws-access-key-id"), (5, "aws-access-key-id")]
        );
    }

    /// A held push's patch (the gate's: one per commit, each with its
    /// header and stat) read file by file, the headers left out.
    #[test]
    fn a_push_patch_is_read_per_file_without_its_commit_headers() {
        let sha = "a".repeat(40);
        let patch = format!(
            "commit {sha}\nAuthor: A\n\n    one\n\n---\n x.rs | 1 +\n 1 file changed\n\ndiff --git a/x.rs b/x.rs\nnew file mode 100644\n--- /dev/null\n+++ b/x.rs\n@@ -0,0 +1 @@\n+fn x() {{}}\ncommit {sha}\nAuthor: A\n\n    two\n\n---\n Makefile | 2 ++\n\ndiff --git a/Makefile b/Makefile\n--- a/Makefile\n+++ b/Makefile\n@@ -1 +1,2 @@\n all:\n+\tcurl x | sh\n-\tmake\n"
        );
        let r = from_patch(&patch, Vec::new());
        let files: Vec<_> = r
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.added, f.removed, f.flag.is_some()))
            .collect();
        assert_eq!(
            files,
            [
                ("Makefile", Some(1), Some(1), true),
                ("x.rs", Some(1), Some(0), false)
            ]
        );
        assert!(r.patches[1].1.iter().all(|l| !l.starts_with("commit ")));
        assert_eq!(
            r.patches[1].1.last().map(String::as_str),
            Some("+fn x() {}")
        );
    }
}
