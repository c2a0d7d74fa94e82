//! Bottles on engines other than the local Docker, through the real `bb`:
//! a second Docker host reached over SSH (its own dockerd in a container,
//! sshd beside it, the account's own ssh config) and Podman's
//! Docker-compatible socket. Each runs a whole bottle: the session and its
//! keys and resize, a refused request in the network view and `bb logs`, a
//! proposal approved, the work taken, stop, and nothing left on the engine.
//! The remote engine listed beside the local one, cut off (frozen) and
//! back, and bb restarted: its bottle is found and attached again.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use support::docker::{docker_ok, left_behind_on, Env};
use support::engines::{EngineHost, Podman};
use support::Bb;

static SERIAL: Mutex<()> = Mutex::new(());

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "User")
        .env("GIT_AUTHOR_EMAIL", "user@example.com")
        .env("GIT_COMMITTER_NAME", "User")
        .env("GIT_COMMITTER_EMAIL", "user@example.com")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The project as a git repository with one commit.
fn project_repo(env: &Env) {
    let p = env.project();
    git(&p, &["init", "-q", "-b", "main"]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "start"]);
}

/// `config.yaml` of the home: these engines beside the default one.
fn engines_config(env: &Env, engines: &[(&str, &str)]) {
    let mut yaml = "engines:\n".to_string();
    for (name, host) in engines {
        yaml.push_str(&format!("  {name}:\n    host: {host}\n"));
    }
    std::fs::write(env.home().join("config.yaml"), yaml).unwrap();
}

fn spawn(env: &Env, rows: u16, cols: u16) -> Bb {
    let envs = env.envs();
    let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Bb::spawn(&[], &pairs, &env.project(), rows, cols)
}

/// Run `script` in the agent's workspace on an engine, as the agent.
fn agent_sh_on(docker: impl Fn(&[&str]) -> String, slug: &str, script: &str) -> String {
    docker(&[
        "exec",
        "-u",
        "node",
        "-w",
        "/home/node/workspace",
        "-e",
        "GIT_AUTHOR_NAME=Agent",
        "-e",
        "GIT_AUTHOR_EMAIL=agent@bottle",
        "-e",
        "GIT_COMMITTER_NAME=Agent",
        "-e",
        "GIT_COMMITTER_EMAIL=agent@bottle",
        &format!("bb-{slug}"),
        "bash",
        "-c",
        script,
    ])
}

#[test]
fn a_bottle_on_a_docker_engine_over_ssh_works_as_a_local_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let host = EngineHost::start();
    let env = Env::new("");
    project_repo(&env);
    engines_config(&env, &[("big", &host.url)]);

    // The doctor checks both engines, one line each.
    let doctor = String::from_utf8_lossy(&env.bb(&["doctor"]).stdout).into_owned();
    assert!(doctor.contains("engine default ("), "{doctor}");
    assert!(
        doctor.contains(&format!("engine big ({}", host.url)),
        "{doctor}"
    );

    // The picker offers both engines; the bottle goes where it is told.
    let mut bb = spawn(&env, 40, 160);
    bb.wait_text("No agent is running here yet.");
    bb.prefix("n");
    bb.wait_text("New agent");
    bb.keys("\r");
    bb.wait_text("docker on big");
    assert!(bb.screen().contains("docker on default"));
    bb.keys("\x1b[B\r");
    bb.wait_text("Launch faker? y/N");
    bb.keys("y");
    // The first launch there builds both images on a vfs engine.
    bb.wait_for_within("the agent's first screen", Duration::from_secs(300), |s| {
        s.contains("fake-agent ready")
    });
    let slug = host.docker(&[
        "ps",
        "--filter",
        "label=bb.role=agent",
        "--format",
        "{{.Label \"bb.slug\"}}",
    ]);
    assert!(!slug.is_empty(), "the agent runs on the remote engine");
    assert_eq!(env.slugs(), Vec::<String>::new(), "nothing runs locally");
    bb.wait_text("docker@big");

    // The session: keys in, the agent's answer out, a resize reaches it.
    bb.keys("hello remote\r");
    bb.wait_text("you said: hello remote");
    bb.resize(30, 120);
    bb.wait_for("the agent sees the new size", |s| {
        s.lines().filter(|l| l.contains("size ")).count() >= 2
    });

    // Refused, in the network view and in `bb logs`.
    bb.keys("fetch http://pypi.example/simple/\r");
    bb.wait_text("bb egress blocked this request: host pypi.example");
    bb.prefix("t");
    bb.wait_text("Network · faker");
    bb.wait_for("the refusal in the network view", |s| {
        s.contains("pypi.example/simple/  [host-not-allowed]")
    });
    bb.keys("\x1b");
    let logs = ok(&env.bb(&["logs", &slug]));
    assert!(logs.contains("pypi.example"), "{logs}");

    // A proposal, approved: the route is live on the remote bundle.
    bb.keys("ask pypi.example need-packages\r");
    bb.wait_text("faker: egress pypi.example");
    bb.prefix("p");
    bb.wait_text("Proposal from faker");
    // Approvable once the live routes are read from the remote bundle.
    bb.wait_text("+ - host: pypi.example");
    bb.keys("a");
    bb.wait_text("ask: Approved: pypi.example is now allowed. Retry your request.");
    let live = host.docker(&[
        "exec",
        "-u",
        "0:10900",
        &format!("bb-sidecars-{slug}"),
        "cat",
        "/etc/bb/egress.json",
    ]);
    assert!(live.contains("pypi.example"), "{live}");

    // Listed with its engine.
    let ls = ok(&env.bb(&["ls", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&ls).unwrap();
    assert_eq!(v["bottles"][0]["engine"], "big", "{ls}");
    assert_eq!(v["bottles"][0]["state"], "running", "{ls}");

    // The engine stops answering: its bottle shows unreachable (not gone,
    // not stopped), and comes back with its session when it answers.
    host.freeze();
    bb.wait_text("docker on big does not answer");
    bb.wait_text("unreachable");
    let ls = env.bb(&["ls"]);
    let said = String::from_utf8_lossy(&ls.stderr);
    assert!(
        said.contains("docker on big (") && said.contains("does not answer"),
        "{said}"
    );
    host.resume();
    bb.wait_for("the bottle running again", |s| {
        s.contains("docker@big") && !s.contains("unreachable")
    });
    bb.keys("after the cut\r");
    bb.wait_text("you said: after the cut");

    // bb restarted: the remote bottle is found and attached again.
    bb.prefix("d");
    bb.wait_exit();
    let mut bb = spawn(&env, 40, 160);
    bb.wait_text("detached");
    bb.keys("\r");
    // Attached: the agent's screen as it was, from its holder.
    bb.wait_text("you said: after the cut");
    bb.keys("back again\r");
    bb.wait_text("you said: back again");

    // The agent's work comes home from the remote engine.
    agent_sh_on(
        |a| host.docker(a),
        &slug,
        "echo remote > made-remotely.txt && git add -A && git commit -qm 'made remotely'",
    );
    let taken = ok(&env.bb(&["take", &slug]));
    assert!(taken.contains(&format!("bb/{slug}")), "{taken}");
    let branch = format!("bb/{slug}");
    let file = git(
        &env.project(),
        &["show", &format!("{branch}:made-remotely.txt")],
    );
    assert_eq!(file.trim(), "remote");

    // Stopped: nothing of the bottle is left on the remote engine.
    bb.prefix("x");
    bb.wait_text("Stop faker");
    bb.keys("y");
    bb.wait_text(&format!("stopped {slug}"));
    bb.prefix("d");
    bb.wait_exit();
    assert_eq!(left_behind_on(Some(&host.url), &slug), "");
    ok(&env.bb(&["cleanup"]));
}

#[test]
fn a_bottle_runs_on_podman() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let Some(podman) = Podman::start() else {
        return;
    };
    let env = Env::new("");
    project_repo(&env);
    engines_config(&env, &[("pod", &podman.url)]);
    let doctor = String::from_utf8_lossy(&env.bb(&["doctor"]).stdout).into_owned();
    assert!(doctor.contains("engine pod ("), "{doctor}");

    let o = env.bb(&["start", "faker", "--engine", "pod", "--yes"]);
    let slug = ok(&o).trim().to_string();
    assert!(
        !podman
            .docker(&["ps", "--filter", &format!("name=bb-{slug}"), "-q"])
            .is_empty(),
        "the agent runs on Podman"
    );
    let ls = ok(&env.bb(&["ls", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&ls).unwrap();
    assert_eq!(v["bottles"][0]["engine"], "pod", "{ls}");
    assert_eq!(v["bottles"][0]["state"], "running", "{ls}");

    // The agent asks egress for a host off its allowlist: refused, and
    // the refusal is in `bb logs`.
    let answer = agent_sh_on(
        |a| podman.docker(a),
        &slug,
        "p=${HTTP_PROXY#http://}; p=${p%/}; exec 3<>/dev/tcp/${p%:*}/${p##*:}; printf 'GET http://not-allowed.example/ HTTP/1.1\\r\\nHost: not-allowed.example\\r\\nConnection: close\\r\\n\\r\\n' >&3; head -1 <&3",
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let logs = ok(&env.bb(&["logs", &slug]));
    assert!(logs.contains("not-allowed.example"), "{logs}");

    // The work comes home from Podman too.
    agent_sh_on(
        |a| podman.docker(a),
        &slug,
        "echo pod > from-podman.txt && git add -A && git commit -qm 'from podman'",
    );
    ok(&env.bb(&["take", &slug]));
    let file = git(
        &env.project(),
        &["show", &format!("bb/{slug}:from-podman.txt")],
    );
    assert_eq!(file.trim(), "pod");

    ok(&env.bb(&["stop", &slug]));
    assert_eq!(left_behind_on(Some(&podman.url), &slug), "");
    ok(&env.bb(&["cleanup"]));
}
