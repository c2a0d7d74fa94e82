//! The real Docker engine for the tests that need one: is it there, the
//! local Debian base, and removing what a test's bottles made.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::Bb;

pub const BASE: &str = "bb-test-base:bookworm";

/// Where cargo put the workspace's binaries.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_bb"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Whether Docker answers (a failure under BB_REQUIRE_DOCKER=1), with the
/// base image made and the workspace's binaries built.
pub fn docker_ok() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("BB_REQUIRE_DOCKER").is_some() {
            panic!("Docker is not reachable and BB_REQUIRE_DOCKER is set");
        }
        eprintln!(
            "SKIPPED: Docker is not reachable; set BB_REQUIRE_DOCKER=1 to make this a failure"
        );
        return false;
    }
    let base = Command::new("docker")
        .args(["image", "inspect", BASE])
        .output()
        .unwrap();
    if !base.status.success() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/make-base.sh");
        let made = Command::new("bash").arg(script).arg(BASE).status().unwrap();
        assert!(made.success(), "tests/images/make-base.sh failed");
    }
    for bin in ["fake-agent", "mock-llm"] {
        assert!(
            target_dir().join(bin).exists(),
            "{bin} is not built; the test command is `cargo build --workspace && cargo test --workspace`"
        );
    }
    true
}

/// `docker ARGS`, its trimmed stdout.
pub fn docker(args: &[&str]) -> String {
    docker_on(None, args)
}

/// `stat -c FORMAT PATHS` in `container`, as its default user: a line
/// per path.
pub fn stat(container: &str, format: &str, paths: &[&str]) -> String {
    let mut args = vec!["exec", container, "stat", "-c", format];
    args.extend_from_slice(paths);
    docker(&args)
}

/// `docker ARGS` against the engine at `host` (`-H`), else the local one.
pub fn docker_on(host: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new("docker");
    if let Some(host) = host {
        cmd.args(["-H", host]);
    }
    let o = cmd.args(args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Run `script` in the agent's workspace, as the agent.
pub fn agent_sh(slug: &str, script: &str) -> String {
    let o = Command::new("docker")
        .args(["exec", "-u", "node", "-w", "/home/node/workspace"])
        .args([
            "-e",
            "GIT_AUTHOR_NAME=Agent",
            "-e",
            "GIT_AUTHOR_EMAIL=agent@bottle",
        ])
        .args([
            "-e",
            "GIT_COMMITTER_NAME=Agent",
            "-e",
            "GIT_COMMITTER_EMAIL=agent@bottle",
        ])
        .arg(format!("bb-{slug}"))
        .args(["sh", "-c", script])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A file of a bottle's state or config, read in its running bundle (as
/// root, as bb's operator channel reads it): `/var/lib/bb/audit.jsonl`,
/// `/etc/bb/egress.json`.
pub fn bundle_file(slug: &str, path: &str) -> String {
    let o = Command::new("docker")
        .args([
            "exec",
            "-u",
            "0:10900",
            &format!("bb-sidecars-{slug}"),
            "cat",
            path,
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{path} in bb-sidecars-{slug}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// As `bundle_file`, empty when the file (or the bundle) is not there yet.
pub fn bundle_file_or_empty(slug: &str, path: &str) -> String {
    docker(&[
        "exec",
        "-u",
        "0:10900",
        &format!("bb-sidecars-{slug}"),
        "cat",
        path,
    ])
}

/// `stat -c FORMAT` of a file of a bottle's state, in its bundle.
pub fn bundle_stat(slug: &str, format: &str, path: &str) -> String {
    docker(&[
        "exec",
        "-u",
        "0:10900",
        &format!("bb-sidecars-{slug}"),
        "stat",
        "-c",
        format,
        path,
    ])
}

/// Remove every container, network and volume of a bottle.
pub fn remove_everything(slug: &str) {
    remove_everything_on(None, slug)
}

/// Remove every container, network and volume of a bottle on an engine.
pub fn remove_everything_on(host: Option<&str>, slug: &str) {
    let docker = |args: &[&str]| docker_on(host, args);
    let filter = format!("label=bb.slug={slug}");
    for c in docker(&["ps", "-aq", "--filter", &filter]).lines() {
        docker(&["rm", "-f", c]);
    }
    for v in docker(&["volume", "ls", "-q", "--filter", &filter]).lines() {
        docker(&["volume", "rm", "-f", v]);
    }
    for n in docker(&["network", "ls", "-q", "--filter", &filter]).lines() {
        // A test's own container joined to it (a mock API) would keep it.
        let joined = docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{end}}",
            n,
        ]);
        for c in joined.split_whitespace() {
            docker(&["network", "disconnect", "-f", n, c]);
        }
        docker(&["network", "rm", n]);
    }
}

/// A bb home whose `fake` bottle runs the fake agent; cleans up on drop.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// What the test agent's one skill says.
    pub const SKILL: &str = "---\nname: review\n---\nReview the change.\n";

    pub fn new(dockerfile_extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let fa = dir.path().join("fa");
        std::fs::create_dir_all(home.join("bottles")).unwrap();
        std::fs::create_dir_all(home.join("agents")).unwrap();
        std::fs::create_dir_all(&fa).unwrap();
        std::fs::create_dir_all(dir.path().join("project/src")).unwrap();
        std::fs::write(
            dir.path().join("project/src/lib.rs"),
            "// the user's code\n",
        )
        .unwrap();
        let dockerfile = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-agent/Dockerfile"),
        )
        .unwrap();
        std::fs::write(
            fa.join("Dockerfile"),
            format!("{dockerfile}{dockerfile_extra}"),
        )
        .unwrap();
        std::fs::copy(target_dir().join("fake-agent"), fa.join("fake-agent")).unwrap();
        // Same context, same content hash: the image is built once and reused.
        std::fs::write(
            home.join("bottles/fake.md"),
            format!(
                "---\nagent_provider:\n  dockerfile: {}\nenv:\n  GREETING: hello-from-manifest\negress:\n  routes:\n    - host: api.example.com\n      auth: {{scheme: Bearer, token_ref: BB_TEST_SECRET}}\n  allowlist: [example.com]\n---\n",
                fa.join("Dockerfile").display()
            ),
        )
        .unwrap();
        std::fs::write(
            home.join("agents/faker.md"),
            "---\nbottle: fake\nskills: [review]\n---\nYou are a fake agent.\n",
        )
        .unwrap();
        // The user's skill (in their ~/.claude, HOME being dir), with a
        // folder of its own inside.
        let skill = dir.path().join(".claude/skills/review");
        std::fs::create_dir_all(skill.join("scripts")).unwrap();
        std::fs::write(skill.join("SKILL.md"), Env::SKILL).unwrap();
        std::fs::write(skill.join("scripts/check.sh"), "echo checked\n").unwrap();
        // The operator's $EDITOR, scripted: allow one more host.
        let editor = dir.path().join("editor.sh");
        std::fs::write(
            &editor,
            "#!/bin/sh\nprintf 'allowlist:\\n  - \"edited.example\"\\n' >> \"$1\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Env { dir }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn envs(&self) -> Vec<(String, String)> {
        vec![
            ("BB_HOME".into(), self.home().display().to_string()),
            ("HOME".into(), self.dir.path().display().to_string()),
            ("BB_BASE_IMAGE".into(), BASE.into()),
            ("BB_TEST_SECRET".into(), "s3cr3t-held-by-egress".into()),
            (
                "EDITOR".into(),
                self.dir.path().join("editor.sh").display().to_string(),
            ),
        ]
    }

    pub fn bb(&self, args: &[&str]) -> Output {
        self.command(Path::new(env!("CARGO_BIN_EXE_bb")), args)
            .output()
            .unwrap()
    }

    /// `binary ARGS` in this home, as `bb` is run here.
    pub fn command(&self, binary: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary);
        cmd.args(args)
            .current_dir(self.project())
            .env_remove("BB_HOME")
            .env_remove("BB_SIDECAR_BIN");
        for (k, v) in self.envs() {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn start(&self) -> String {
        let o = self.bb(&["start", "faker", "--yes"]);
        assert!(
            o.status.success(),
            "bb start failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Open the workspace (rows x cols) and launch the agent from it.
    pub fn workspace_with_agent(&self, rows: u16, cols: u16) -> Bb {
        let envs = self.envs();
        let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut bb = Bb::spawn(&[], &pairs, &self.project(), rows, cols);
        bb.wait_text("No agent is running here yet.");
        bb.prefix("n");
        bb.wait_text("New agent");
        bb.keys("\r");
        bb.wait_text("Launch faker? y/N");
        assert!(bb.screen().contains("workspace"));
        bb.keys("y");
        bb.wait_text("fake-agent ready");
        bb
    }

    /// The bottles of this home, found as bb finds them: by the labels
    /// on what they made (containers, and state volumes).
    pub fn slugs(&self) -> Vec<String> {
        let home = self
            .home()
            .canonicalize()
            .unwrap_or_else(|_| self.home())
            .display()
            .to_string();
        let filter = format!("label=bb.home={home}");
        let format = "{{.Label \"bb.slug\"}}";
        let mut out: Vec<String> = docker(&["ps", "-a", "--filter", &filter, "--format", format])
            .lines()
            .chain(docker(&["volume", "ls", "--filter", &filter, "--format", format]).lines())
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for slug in self.slugs() {
            remove_everything(&slug);
        }
    }
}

pub fn left_behind(slug: &str) -> String {
    left_behind_on(None, slug)
}

/// The containers, networks and volumes of a bottle still on an engine.
pub fn left_behind_on(host: Option<&str>, slug: &str) -> String {
    let filter = format!("label=bb.slug={slug}");
    format!(
        "{}{}{}",
        docker_on(host, &["ps", "-aq", "--filter", &filter]),
        docker_on(host, &["network", "ls", "-q", "--filter", &filter]),
        docker_on(host, &["volume", "ls", "-q", "--filter", &filter])
    )
}
