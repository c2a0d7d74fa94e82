//! How a bottle sends its work: a small script run in the agent's
//! container, as the agent's user, with the container's own git. It turns
//! the uncommitted work into a commit from a copy of the index (the
//! agent's HEAD, branch, index and stash are never touched), names it
//! `refs/bb/work`, then prints the refs and a git bundle of what is new
//! since launch. What it prints is data to bb, read strictly by
//! `Saved::take_in`; nothing of it runs on the host.

/// Run with `sh -c SCRIPT sh WORKSPACE AGENT BASE`.
pub const SCRIPT: &str = r#"set -eu
cd "$1"
agent="$2"
base="$3"
g() { git -c core.hooksPath=/dev/null -c core.fsmonitor=false -c gc.auto=0 -c maintenance.auto=false "$@"; }
idx="$(mktemp)"
trap 'rm -f "$idx" "$idx.lock"' EXIT
if [ -f .git/index ]; then cp .git/index "$idx"; else rm -f "$idx"; fi
GIT_INDEX_FILE="$idx" g add -A . >&2
tree=$(GIT_INDEX_FILE="$idx" g write-tree)
head=$(g rev-parse -q --verify 'HEAD^{commit}' || true)
if [ -n "$head" ] && [ "$tree" = "$(g rev-parse "$head^{tree}")" ]; then
  work=$head
else
  work=$(GIT_AUTHOR_NAME=bb GIT_AUTHOR_EMAIL=bb@localhost GIT_COMMITTER_NAME=bb \
    GIT_COMMITTER_EMAIL=bb@localhost g commit-tree "$tree" ${head:+-p "$head"} \
    -m "bb: uncommitted work of $agent (not committed by the agent)")
fi
g update-ref refs/bb/work "$work"
echo "bb-work 1"
g for-each-ref --format='%(objectname) %(refname)' refs/heads refs/tags refs/bb
if [ -n "$head" ]; then echo "$head HEAD"; fi
echo
# What is new since launch; nothing new makes no bundle (git refuses an
# empty one). A base the bottle lost sends everything.
g bundle create - --all --not "$base" 2>/dev/null \
  || { g cat-file -e "$base" 2>/dev/null || g bundle create - --all 2>/dev/null; } \
  || true
"#;

/// The command line to run in the agent's container.
pub fn command(workspace: &str, agent: &str, base: &str) -> Vec<String> {
    ["sh", "-c", SCRIPT, "sh", workspace, agent, base]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::git::Git;
    use super::super::saved::{Meta, Saved};
    use super::*;

    /// The script against a real repository (as the bottle would run it),
    /// its output taken in by a saved-work repository.
    #[test]
    fn uncommitted_work_becomes_a_commit_without_touching_the_agents_repo() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("bbhome");
        let src = d.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("a.txt"), "one\n").unwrap();
        let saved = Saved::at(&home, "alpha-1");
        let prepared = super::super::launch::prepare(&saved, &src, None, "alpha").unwrap();
        // The bottle: the files and the prepared .git.
        let ws = d.path().join("bottle");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("a.txt"), "one\n").unwrap();
        copy_dir(&prepared.git_dir, &ws.join(".git"));
        prepared.done();
        let agent = Git::in_dir(&ws);
        assert_eq!(agent.run(&["status", "--porcelain"]).unwrap(), "");
        // The agent commits, then leaves a change and a new file.
        std::fs::write(ws.join("a.txt"), "one\ntwo\n").unwrap();
        agent.run(&["commit", "-qam", "second line"]).unwrap();
        std::fs::write(ws.join("a.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(ws.join("new.txt"), "new\n").unwrap();
        let status_before = agent.run(&["status", "--porcelain"]).unwrap();
        let head_before = agent.run(&["rev-parse", "HEAD"]).unwrap();
        let base = saved.base().unwrap();
        let out = std::process::Command::new("sh")
            .args(&command(ws.to_str().unwrap(), "alpha", &base)[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The agent's repository is as it was.
        assert_eq!(
            agent.run(&["status", "--porcelain"]).unwrap(),
            status_before
        );
        assert_eq!(agent.run(&["rev-parse", "HEAD"]).unwrap(), head_before);
        saved.take_in(&out.stdout).unwrap();
        let s = saved.summary().unwrap();
        assert_eq!(
            (s.commits, s.files, s.uncommitted, s.taken),
            (1, 2, true, false)
        );
        let patch = String::from_utf8(saved.diff(false).unwrap()).unwrap();
        assert!(
            patch.contains("+three") && patch.contains("+new"),
            "{patch}"
        );
        assert_eq!(
            saved.meta().unwrap(),
            Meta {
                agent: "alpha".into(),
                source: src.clone(),
                git: false,
                base: base.clone(),
                start: base,
            }
        );
        // Nothing new: no bundle, the refs alone, read the same.
        let again = std::process::Command::new("sh")
            .args(&command(ws.to_str().unwrap(), "alpha", &saved.base().unwrap())[1..])
            .output()
            .unwrap();
        saved.take_in(&again.stdout).unwrap();
        assert_eq!(saved.summary().unwrap().files, 2);
    }

    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        super::tests_copy(from, to)
    }
}

/// Copy a directory tree (the tests' stand-in for copying into a bottle).
#[cfg(test)]
pub fn tests_copy(from: &std::path::Path, to: &std::path::Path) {
    {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                tests_copy(&p, &to.join(e.file_name()));
            } else {
                std::fs::copy(&p, to.join(e.file_name())).unwrap();
            }
        }
    }
}
