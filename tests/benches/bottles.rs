//! What the benches that launch real bottles share: a bb home whose agents
//! run a small image on the test base, and the `bb` commands run on it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use portable_pty::CommandBuilder;

use crate::support::docker::BASE;

/// A home in `dir/home`, and `dir/image/Dockerfile`: the test base with
/// `claude` a shell script running `lines`. Each `(agent, bottle)` is an
/// agent with a bottle of its own on that image, the bottle's further
/// front matter `bottle` (an `engine:` line, say).
pub fn home(dir: &Path, lines: &[&str], agents: &[(&str, &str)]) {
    let home = dir.join("home");
    let image = dir.join("image");
    for d in [home.join("bottles"), home.join("agents"), image.clone()] {
        std::fs::create_dir_all(d).expect("home");
    }
    std::fs::write(
        image.join("Dockerfile"),
        format!(
            "FROM {BASE}\nRUN printf '#!/bin/sh\\n{}\\n' > /usr/local/bin/claude && chmod 755 /usr/local/bin/claude\nUSER node\nWORKDIR /home/node\n",
            lines.join("\\n")
        ),
    )
    .expect("Dockerfile");
    let dockerfile = image.join("Dockerfile").display().to_string();
    for (agent, bottle) in agents {
        std::fs::write(
            home.join(format!("bottles/{agent}.md")),
            format!("---\nagent_provider:\n  dockerfile: {dockerfile}\n{bottle}---\n"),
        )
        .expect("bottle");
        std::fs::write(
            home.join(format!("agents/{agent}.md")),
            format!("---\nbottle: {agent}\n---\nA bench agent.\n"),
        )
        .expect("agent");
    }
}

/// `bb ARGS` on the home, from the image's folder (the workspace copied).
pub fn bb(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bb"));
    cmd.args(args)
        .current_dir(dir.join("image"))
        .env("BB_HOME", dir.join("home"))
        .env("BB_BASE_IMAGE", BASE)
        .env_remove("BB_SIDECAR_BIN");
    cmd
}

/// The workspace on the home, for a terminal (`outer::Outer`).
pub fn workspace(dir: &Path) -> CommandBuilder {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_bb"));
    cmd.env("TERM", "xterm-256color");
    cmd.env("BB_HOME", dir.join("home"));
    cmd.env("BB_BASE_IMAGE", BASE);
    cmd.env_remove("BB_SIDECAR_BIN");
    cmd.cwd(dir.join("image"));
    cmd
}

/// `bb start AGENT --yes`: how long, the slug, and what its progress said.
pub fn start(dir: &Path, agent: &str) -> (Duration, String, String) {
    let t0 = Instant::now();
    let o = bb(dir, &["start", agent, "--yes"]).output().expect("bb");
    let took = t0.elapsed();
    let said = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "bb start {agent}: {said}");
    let slug = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    (took, slug, said)
}

pub fn stop(dir: &Path, slug: &str) {
    let _ = bb(dir, &["stop", slug]).output();
}
