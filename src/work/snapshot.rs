//! How a bottle sends its work: a small script run in the agent's
//! container, as the agent's user, with the container's own git. It turns
//! the uncommitted work into a commit from a copy of the index (the
//! agent's HEAD, branch, index and stash are never touched), names it
//! `refs/bb/work`, then prints the refs and a git bundle of what is new
//! since launch. What it prints is data to bb, read strictly by
//! `Saved::take_in`; nothing of it runs on the host.

/// Run with `sh -c SCRIPT sh WORKSPACE AGENT KNOWN...`: KNOWN are the
/// commits bb already has (the base first), so only what is new is sent.
pub const SCRIPT: &str = r#"set -eu
cd "$1"
agent="$2"
shift 2
g() { git -c core.hooksPath=/dev/null -c core.fsmonitor=false -c gc.auto=0 -c maintenance.auto=false "$@"; }
idx="$(mktemp)"
trap 'rm -f "$idx" "$idx.lock"' EXIT
if [ -f .git/index ]; then cp .git/index "$idx"; else rm -f "$idx"; fi
GIT_INDEX_FILE="$idx" g add -A . >&2
tree=$(GIT_INDEX_FILE="$idx" g write-tree)
head=$(g rev-parse -q --verify 'HEAD^{commit}' || true)
prev=$(g rev-parse -q --verify 'refs/bb/work^{commit}' || true)
if [ -n "$head" ] && [ "$tree" = "$(g rev-parse "$head^{tree}")" ]; then
  work=$head
elif [ -n "$prev" ] && [ "$tree" = "$(g rev-parse "$prev^{tree}")" ] \
  && [ "$(g rev-parse -q --verify "$prev^1" || true)" = "$head" ]; then
  # The same uncommitted work as last time: the same commit, not a new one
  # a second later (bb has it; nothing is sent again).
  work=$prev
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
# What is new since what bb has, of it what the bottle still has (history
# rewritten and collected drops some); nothing new makes no bundle (git
# refuses an empty one), none of it left sends everything.
have=$(printf '%s\n' "$@" | g cat-file --batch-check='%(objectname) %(objecttype)' | sed -n 's/ commit$//p')
if [ -n "$have" ]; then
  g bundle create - --all --not $have 2>/dev/null || true
else
  g bundle create - --all 2>/dev/null || true
fi
"#;

/// The command line to run in the agent's container.
pub fn command(workspace: &str, agent: &str, known: &[String]) -> Vec<String> {
    let mut cmd: Vec<String> = ["sh", "-c", SCRIPT, "sh", workspace, agent]
        .iter()
        .map(|s| s.to_string())
        .collect();
    cmd.extend(known.iter().cloned());
    cmd
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
            .args(&command(ws.to_str().unwrap(), "alpha", std::slice::from_ref(&base))[1..])
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
        // Nothing new since what bb has: no bundle, the refs alone, read
        // the same.
        let known = saved.points().unwrap().known();
        let again = std::process::Command::new("sh")
            .args(&command(ws.to_str().unwrap(), "alpha", &known)[1..])
            .output()
            .unwrap();
        assert!(again.stdout.ends_with(b"\n\n"), "no bundle");
        saved.take_in(&again.stdout).unwrap();
        assert_eq!(saved.summary().unwrap().files, 2);
        // A new commit: only it is sent, and taken in on what bb has.
        std::fs::write(ws.join("b.txt"), "b\n").unwrap();
        agent.run(&["add", "b.txt"]).unwrap();
        agent.run(&["commit", "-qm", "third"]).unwrap();
        let known = saved.points().unwrap().known();
        let more = std::process::Command::new("sh")
            .args(&command(ws.to_str().unwrap(), "alpha", &known)[1..])
            .output()
            .unwrap();
        let bundle = more.stdout.len() - more.stdout.windows(2).position(|w| w == b"\n\n").unwrap();
        assert!(
            bundle < out.stdout.len(),
            "only what is new: {bundle} bytes"
        );
        saved.take_in(&more.stdout).unwrap();
        let s = saved.summary().unwrap();
        assert_eq!((s.commits, s.files), (2, 3));
        // A bottle that lost every commit bb knows (a made-up one here)
        // sends everything.
        let all = std::process::Command::new("sh")
            .args(&command(ws.to_str().unwrap(), "alpha", &["0".repeat(40)])[1..])
            .output()
            .unwrap();
        saved.take_in(&all.stdout).unwrap();
        assert_eq!(saved.summary().unwrap().files, 3);
    }

    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        super::tests_copy(from, to)
    }
}
