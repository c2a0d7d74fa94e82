//! Bottles on engines other than the local Docker, through the real `bb`:
//! a second Docker host reached over SSH (its own dockerd in a container,
//! sshd beside it, the account's own ssh config) and Podman's
//! Docker-compatible socket, rootful and rootless, and the second host's
//! dockerd over tcp:// with TLS. Each runs a whole bottle: the session and its
//! keys and resize, a refused request in the network view and `bb logs`, a
//! proposal approved, the work taken, stop, and nothing left on the engine.
//! The remote engine listed beside the local one, cut off (frozen) and
//! back, and bb restarted: its bottle is found and attached again.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use support::docker::{docker_ok, docker_on, left_behind_on, remove_everything_on, Env};
use support::engines::{EngineHost, Podman};
use support::{git, ok, Bb};

static SERIAL: Mutex<()> = Mutex::new(());

/// The project as a git repository with one commit.
fn project_repo(env: &Env) {
    let p = env.project();
    git(&p, &["init", "-q", "-b", "main"]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "start"]);
}

/// `config.yaml` of the home: these engines beside the default one.
fn engines_config(env: &Env, engines: &[(&str, &str)]) {
    let engines: Vec<_> = engines.iter().map(|&(n, h)| (n, h, None)).collect();
    engines_config_tls(env, &engines);
}

/// The same, each engine with its TLS client directory if it has one.
fn engines_config_tls(env: &Env, engines: &[(&str, &str, Option<&std::path::Path>)]) {
    let mut yaml = "engines:\n".to_string();
    for (name, host, tls) in engines {
        yaml.push_str(&format!("  {name}:\n    host: {host}\n"));
        if let Some(dir) = tls {
            yaml.push_str(&format!("    tls: {}\n", dir.display()));
        }
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

/// The `bb.home` label of this home's bottles.
fn home_label(env: &Env) -> String {
    env.home()
        .canonicalize()
        .unwrap_or_else(|_| env.home())
        .display()
        .to_string()
}

/// Removes what this home's bottles left on an engine, even when a test
/// fails half-way (an engine outlives the test: Podman keeps its
/// containers).
struct Leftovers<'a> {
    url: &'a str,
    home: String,
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        let filter = format!("label=bb.home={}", self.home);
        let mut slugs: Vec<String> = Vec::new();
        for what in [
            &["ps", "-a"][..],
            &["volume", "ls"][..],
            &["network", "ls"][..],
        ] {
            let mut args = what.to_vec();
            args.extend(["--filter", &filter, "--format", "{{.Label \"bb.slug\"}}"]);
            slugs.extend(docker_on(Some(self.url), &args).lines().map(String::from));
        }
        slugs.sort();
        slugs.dedup();
        for slug in slugs.iter().filter(|s| !s.is_empty()) {
            remove_everything_on(Some(self.url), slug);
        }
    }
}

/// An engine under test: its name in config.yaml, the address the
/// test's docker CLI reaches it at, and `docker ARGS` against it.
struct Engine<'a> {
    name: &'a str,
    url: &'a str,
    docker: &'a dyn Fn(&[&str]) -> String,
}

/// From the workspace: the picker places a bottle on `e`, whose session
/// takes keys and a resize, whose refusal shows in the network view and
/// `bb logs`, whose proposal is approved live; listed with its engine.
/// The workspace and the bottle's slug.
fn launch_and_use(env: &Env, e: &Engine) -> (Bb, String) {
    let mut bb = spawn(env, 40, 160);
    bb.wait_text("No agent is running here yet.");
    bb.prefix("n");
    bb.wait_text("New agent");
    bb.keys("\r");
    let place = format!("docker on {}", e.name);
    bb.wait_text(&place);
    let options = bb.screen();
    assert!(options.contains("docker on default"), "{options}");
    // The remote one is below the default one.
    bb.keys("\x1b[B\r");
    bb.wait_text("Launch faker? y/N");
    bb.keys("y");
    // A first launch there builds both images (on vfs, for the ssh one).
    bb.wait_for_within("the agent's first screen", Duration::from_secs(300), |s| {
        s.contains("fake-agent ready")
    });
    let slug = (e.docker)(&[
        "ps",
        "--filter",
        "label=bb.role=agent",
        "--filter",
        &format!("label=bb.home={}", home_label(env)),
        "--format",
        "{{.Label \"bb.slug\"}}",
    ]);
    assert!(!slug.is_empty(), "the agent runs on {}", e.name);
    assert_eq!(env.slugs(), Vec::<String>::new(), "nothing runs locally");
    bb.wait_text(&format!("docker@{}", e.name));

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

    // A proposal, approved: the route is live in the bundle there.
    bb.keys("ask pypi.example need-packages\r");
    bb.wait_text("faker: egress pypi.example");
    bb.prefix("p");
    bb.wait_text("Proposal from faker");
    // Approvable once the live routes are read from the bundle.
    bb.wait_text("+ - host: pypi.example");
    bb.keys("a");
    bb.wait_text("ask: Approved: pypi.example is now allowed. Retry your request.");
    let live = (e.docker)(&[
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
    assert_eq!(v["bottles"][0]["engine"], e.name, "{ls}");
    assert_eq!(v["bottles"][0]["state"], "running", "{ls}");
    (bb, slug)
}

/// The agent's work taken home, the bottle stopped from the workspace,
/// `bb cleanup`: nothing of it left on the engine or on this machine.
fn take_and_stop(env: &Env, e: &Engine, mut bb: Bb, slug: &str) {
    agent_sh_on(
        |a| (e.docker)(a),
        slug,
        "echo made > made-there.txt && git add -A && git commit -qm 'made there'",
    );
    let taken = ok(&env.bb(&["take", slug]));
    assert!(taken.contains(&format!("bb/{slug}")), "{taken}");
    let file = git(
        &env.project(),
        &["show", &format!("bb/{slug}:made-there.txt")],
    );
    assert_eq!(file.trim(), "made");

    bb.prefix("x");
    bb.wait_text("Stop faker");
    bb.keys("y");
    bb.wait_text(&format!("stopped {slug}"));
    bb.prefix("d");
    bb.wait_exit();
    ok(&env.bb(&["cleanup"]));
    assert_eq!(left_behind_on(Some(e.url), slug), "");
    assert_eq!(left_behind_on(None, slug), "");
    assert!(env.slugs().is_empty(), "{:?}", env.slugs());
    // Of the bottle, this machine keeps only its archive (work and logs);
    // the cache holds what images hold, of no bottle.
    let kept: Vec<String> = std::fs::read_dir(env.home())
        .unwrap()
        .flatten()
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            ![
                "agents",
                "bottles",
                "config.yaml",
                "archive",
                "edits",
                "cache",
            ]
            .contains(&n.as_str())
        })
        .filter(|n| std::fs::read_dir(env.home().join(n)).is_ok_and(|mut d| d.next().is_some()))
        .collect();
    assert!(kept.is_empty(), "left in the bb home: {kept:?}");
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
    let docker = |a: &[&str]| host.docker(a);
    let e = Engine {
        name: "big",
        url: &host.url,
        docker: &docker,
    };

    // The doctor checks both engines, one line each.
    let doctor = String::from_utf8_lossy(&env.bb(&["doctor"]).stdout).into_owned();
    assert!(doctor.contains("engine default ("), "{doctor}");
    assert!(
        doctor.contains(&format!("engine big ({}", host.url)),
        "{doctor}"
    );

    let (mut bb, slug) = launch_and_use(&env, &e);

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

    take_and_stop(&env, &e, bb, &slug);
}

#[test]
fn a_bottle_on_a_docker_engine_over_tcp_with_tls_works_as_a_local_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let host = EngineHost::start_tls();
    let tls_url = host.tls_url.clone().unwrap();
    let env = Env::new("");
    project_repo(&env);

    // A client whose certificate the engine's CA did not sign: the doctor
    // says so on that engine's line.
    let stranger = tempfile::tempdir().unwrap();
    support::engines::write_client_of_another_ca(&host.tls_client_dir(), stranger.path());
    engines_config_tls(&env, &[("stranger", &tls_url, Some(stranger.path()))]);
    let doctor = env.bb(&["doctor"]);
    let said = String::from_utf8_lossy(&doctor.stdout).into_owned();
    let line = said
        .lines()
        .find(|l| l.contains("engine stranger ("))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(line.contains(&tls_url) && line.contains("FAIL"), "{said}");

    engines_config_tls(&env, &[("secure", &tls_url, Some(&host.tls_client_dir()))]);
    let doctor = String::from_utf8_lossy(&env.bb(&["doctor"]).stdout).into_owned();
    let line = doctor
        .lines()
        .find(|l| l.contains("engine secure ("))
        .unwrap_or_else(|| panic!("{doctor}"));
    assert!(
        line.contains(&tls_url) && line.contains("answers"),
        "{doctor}"
    );

    // The test's own docker CLI reaches the same engine over ssh.
    let docker = |a: &[&str]| host.docker(a);
    let e = Engine {
        name: "secure",
        url: &host.url,
        docker: &docker,
    };
    let (bb, slug) = launch_and_use(&env, &e);
    take_and_stop(&env, &e, bb, &slug);
}

#[test]
fn a_bottle_runs_on_podman() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    if let Some(podman) = Podman::start() {
        on_podman(&podman);
    }
}

#[test]
fn a_bottle_runs_on_rootless_podman() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    if let Some(podman) = Podman::start_rootless() {
        on_podman(&podman);
    }
}

/// The whole flow on a Podman socket, and nothing left there.
fn on_podman(podman: &Podman) {
    let env = Env::new("");
    project_repo(&env);
    engines_config(&env, &[("pod", &podman.url)]);
    let doctor = String::from_utf8_lossy(&env.bb(&["doctor"]).stdout).into_owned();
    assert!(doctor.contains("engine pod ("), "{doctor}");
    let docker = |a: &[&str]| podman.docker(a);
    let e = Engine {
        name: "pod",
        url: &podman.url,
        docker: &docker,
    };
    let _leftovers = Leftovers {
        url: &podman.url,
        home: home_label(&env),
    };
    let (bb, slug) = launch_and_use(&env, &e);
    take_and_stop(&env, &e, bb, &slug);
}
