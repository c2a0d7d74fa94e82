//! The real Claude Code and Codex CLIs (from PyPI; tests/images/real-agents.sh)
//! in real bottles, driven through the real `bb` binary in a PTY. The one
//! stand-in is the LLM APIs: tests/mock-llm, a container on the bottle's
//! egress network under the real host names, serving TLS from its own CA
//! (which the bottle trusts through config.yaml's upstream_ca), strict as
//! the real APIs: 401 without the real token.
//!
//! The bottles are the starter bottles as `bb init` writes them, with two
//! changes a test needs: the agent image is the test one (real CLIs on the
//! local Debian base), and the API routes may dial the mock's private
//! address (ssrf_ip_allowlist).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::docker::{
    bundle_file_or_empty, docker, docker_ok, remove_everything, target_dir, BASE,
};
use support::Bb;

static SERIAL: Mutex<()> = Mutex::new(());

/// Docker's default address pools: where the mock's address comes from.
const PRIVATE: &str = "[172.16.0.0/12, 192.168.0.0/16, 10.0.0.0/8]";

/// The test image with the real CLIs (built once, then reused).
fn real_agents_image() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/real-agents.sh");
    let o = Command::new("bash").arg(script).output().unwrap();
    assert!(
        o.status.success(),
        "tests/images/real-agents.sh failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// The mock API image: the test base plus the mock-llm binary.
fn mock_image() -> String {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(target_dir().join("mock-llm"), ctx.path().join("mock-llm")).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {BASE}\nCOPY mock-llm /usr/local/bin/mock-llm\nENTRYPOINT [\"/usr/local/bin/mock-llm\"]\n"),
    )
    .unwrap();
    let tag = "bb-test-mock-llm:latest";
    let o = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tag.to_string()
}

/// A JWT-shaped token, as the real ones are (the mock compares strings).
fn jwt(claims: serde_json::Value, signature: &str) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        b.encode(claims.to_string()),
        b.encode(signature)
    )
}

/// The mock APIs in a container; removed on drop.
struct Mock {
    name: String,
    dir: PathBuf,
}

impl Mock {
    fn start(dir: &Path, token: &str, ttl_secs: u64) -> Mock {
        Mock::start_acting(dir, token, ttl_secs, None)
    }

    /// A mock whose first turn has the agent run `act` (its Bash tool).
    fn start_acting(dir: &Path, token: &str, ttl_secs: u64, act: Option<&str>) -> Mock {
        let image = mock_image();
        std::fs::create_dir_all(dir).unwrap();
        let name = format!("bb-test-mock-{}", std::process::id());
        docker(&["rm", "-f", &name]);
        let volume = format!("{}:/data", dir.display());
        let ttl = ttl_secs.to_string();
        // Its own network until it joins a bottle's: internal, no way out.
        docker(&["network", "rm", &name]);
        docker(&[
            "network",
            "create",
            "--internal",
            "--label",
            "bb.test=mock-llm",
            &name,
        ]);
        let out = Command::new("docker")
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "--label",
                "bb.test=mock-llm",
                "-v",
                &volume,
            ])
            .args([
                "--network",
                &name,
                &image,
                "--dir",
                "/data",
                "--token",
                token,
            ])
            .args(["--refresh", "refresh-0", "--ttl-secs", &ttl])
            // Each reply takes a moment, as a model's does, so the row can
            // be seen working before it waits again.
            .args(["--reply-delay-ms", "2500"])
            .args(act.map(|a| ["--act", a]).into_iter().flatten())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mock = Mock {
            name,
            dir: dir.to_path_buf(),
        };
        wait_until("the mock's CA", || dir.join("ca.pem").exists());
        mock
    }

    /// Join the bottle's egress network under the APIs' real names.
    fn attach(&self, slug: &str) {
        let net = format!("bb-{slug}-egress");
        let mut args = vec!["network", "connect"];
        for h in [
            "api.anthropic.com",
            "chatgpt.com",
            "auth.openai.com",
            "api.openai.com",
        ] {
            args.extend(["--alias", h]);
        }
        args.extend([net.as_str(), self.name.as_str()]);
        let o = Command::new("docker").args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Mock {
    /// The highest reply number served so far.
    fn last_reply(&self) -> u64 {
        self.requests()
            .iter()
            .filter_map(|r| r["reply"].as_u64())
            .max()
            .unwrap_or(0)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.name]);
        docker(&["network", "rm", &self.name]);
    }
}

/// An agent's state on its row and in its pane's title.
const WAITING: &str = "waiting for you ·";
const WORKING: &str = "working ·";

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A bb home with the starter bottles and agents, made test-shaped.
struct Home {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Home {
    fn new(template: &str, extra_env: &[(&str, &str)]) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(dir.path().join("project")).unwrap();
        std::fs::write(dir.path().join("project/README.md"), "the user's project\n").unwrap();
        let mut env: Vec<(String, String)> = vec![
            ("BB_HOME".into(), home.display().to_string()),
            ("HOME".into(), dir.path().display().to_string()),
            ("BB_BASE_IMAGE".into(), BASE.into()),
            (
                "CODEX_HOME".into(),
                dir.path().join(".codex").display().to_string(),
            ),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let h = Home { dir, env };
        let o = h.bb(&["init"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The starter bottle, with the test image and the mock's address.
        let image_dir = h.dir.path().join("image");
        std::fs::create_dir_all(&image_dir).unwrap();
        std::fs::write(
            image_dir.join("Dockerfile"),
            format!("FROM {}\n", real_agents_image()),
        )
        .unwrap();
        let path = home.join(format!("bottles/{template}.md"));
        let starter = std::fs::read_to_string(&path).unwrap();
        let mut bottle = starter.replacen(
            &format!("  template: {template}\n"),
            &format!(
                "  template: {template}\n  dockerfile: {}\n",
                image_dir.join("Dockerfile").display()
            ),
            1,
        );
        for host in ["api.anthropic.com", "chatgpt.com", "auth.openai.com"] {
            bottle = bottle.replacen(
                &format!("    - host: {host}\n"),
                &format!("    - host: {host}\n      pipelock_ssrf: x\n"),
                1,
            );
        }
        // pipelock may already exist on a route: merge into it.
        let mut out = String::new();
        let mut lines = bottle.lines().peekable();
        while let Some(line) = lines.next() {
            if line == "      pipelock_ssrf: x" {
                let mut block: Vec<String> = Vec::new();
                while let Some(next) = lines.peek() {
                    if next.starts_with("      ") && !next.starts_with("    - ") {
                        block.push(lines.next().unwrap().to_string());
                    } else {
                        break;
                    }
                }
                let has_pipelock = block.iter().any(|l| l.trim() == "pipelock:");
                for l in &block {
                    out.push_str(l);
                    out.push('\n');
                    if l.trim() == "pipelock:" {
                        out.push_str(&format!("        ssrf_ip_allowlist: {PRIVATE}\n"));
                    }
                }
                if !has_pipelock {
                    out.push_str(&format!(
                        "      pipelock:\n        ssrf_ip_allowlist: {PRIVATE}\n"
                    ));
                }
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        std::fs::write(&path, out).unwrap();
        h
    }

    /// Run Codex with request compression on or off (its
    /// `enable_request_compression` feature; on by default in 0.163): a
    /// wrapper in the test image passes `--enable` or `--disable`.
    fn codex_compression(&self, on: bool) {
        let dockerfile = self.dir.path().join("image/Dockerfile");
        let mut text = std::fs::read_to_string(&dockerfile).unwrap();
        let flag = if on { "--enable" } else { "--disable" };
        text.push_str(&format!(
            "USER root\nRUN rm /usr/local/bin/codex && printf '#!/bin/sh\\nexec /opt/codex_cli_bin/bin/codex {flag} enable_request_compression \"$@\"\\n' > /usr/local/bin/codex && chmod 755 /usr/local/bin/codex\nUSER node\n"
        ));
        std::fs::write(dockerfile, text).unwrap();
    }

    /// The bottle's chatgpt.com route intercepted and scanned (no
    /// `tls_passthrough`), as a user who wants Codex's turns read writes it.
    fn scan_chatgpt(&self) {
        let path = self.dir.path().join("home/bottles/codex.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = Vec::new();
        let mut in_chatgpt = false;
        for line in text.lines() {
            if line.trim_start().starts_with("- host:") {
                in_chatgpt = line.contains("chatgpt.com");
            }
            if in_chatgpt && line.trim() == "tls_passthrough: true" {
                continue;
            }
            out.push(line);
        }
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
    }

    /// The host's `codex login`, as Codex writes it; its access token.
    fn codex_login(&self) -> String {
        let auth =
            serde_json::json!({"chatgpt_account_id": "acct-bb-mock", "chatgpt_plan_type": "plus"});
        let far = 4_000_000_000u64;
        let access = jwt(
            serde_json::json!({"exp": far, "https://api.openai.com/auth": auth}),
            "host-access-signature",
        );
        let id = jwt(
            serde_json::json!({"exp": far, "email": "me@example.com", "https://api.openai.com/auth": auth}),
            "host-id-signature",
        );
        let codex_home = self.dir.path().join(".codex");
        std::fs::create_dir_all(&codex_home).unwrap();
        std::fs::write(
            codex_home.join("auth.json"),
            serde_json::json!({"OPENAI_API_KEY": null, "auth_mode": "chatgpt", "last_refresh": "2026-11-30T00:00:00Z",
                "tokens": {"id_token": id, "access_token": access, "refresh_token": "refresh-0", "account_id": "acct-bb-mock"}})
                .to_string(),
        )
        .unwrap();
        access
    }

    fn mock_dir(&self) -> PathBuf {
        self.dir.path().join("mock")
    }

    fn trust_mock(&self) {
        std::fs::write(
            self.dir.path().join("home/config.yaml"),
            format!(
                "upstream_ca: [{}]\n",
                self.mock_dir().join("ca.pem").display()
            ),
        )
        .unwrap();
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn bb(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bb"));
        cmd.args(args)
            .current_dir(self.project())
            .env_remove("BB_HOME");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn start(&self, agent: &str) -> String {
        let o = self.bb(&["start", agent, "--yes"]);
        assert!(
            o.status.success(),
            "bb start failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Trust `mock`, start `agent`'s bottle, put the mock on its egress
    /// network, then open bb and attach to the agent (its CLI starts now).
    fn launch_with(&self, mock: &Mock, agent: &str) -> (String, Bottle, Bb) {
        self.trust_mock();
        let slug = self.start(agent);
        let bottle = Bottle(slug.clone());
        mock.attach(&slug);
        let mut bb = self.workspace();
        bb.wait_text("detached");
        bb.keys("\r");
        (slug, bottle, bb)
    }

    fn workspace(&self) -> Bb {
        let pairs: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Bb::spawn(&[], &pairs, &self.project(), 40, 120)
    }
}

/// What the bottle's egress refused, as (host, rule) from its audit log;
/// each is printed, for the record of what the real CLIs try. Codex opens
/// each turn by asking to switch to a WebSocket, which egress refuses
/// (`protocol-upgrade`): it then sends the turn as an HTTPS POST with
/// server-sent events. Those are left out here and counted apart.
fn refused(slug: &str, requests: &[serde_json::Value]) -> Vec<(String, String)> {
    for r in requests {
        eprintln!(
            "mock: {} {} {} {} {} (content-encoding {:?})",
            r["status"], r["method"], r["host"], r["path"], r["note"], r["content_encoding"]
        );
    }
    let audit = bundle_file_or_empty(slug, "/var/lib/bb/audit.jsonl");
    let out: Vec<(String, String)> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["decision"] == "blocked" && r["rule"] != "protocol-upgrade")
        .map(|r| {
            (
                r["host"].as_str().unwrap_or_default().to_string(),
                r["rule"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (host, rule) in &out {
        eprintln!("egress refused: {host} ({rule})");
    }
    out
}

/// Removes a bottle's containers and networks, also when a test fails.
struct Bottle(String);

impl Drop for Bottle {
    fn drop(&mut self) {
        remove_everything(&self.0);
    }
}

/// Wait longer than the PTY helper does: real CLIs start slower.
fn wait_screen(bb: &Bb, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let s = bb.screen();
        if pred(&s) {
            return s;
        }
        if start.elapsed() > Duration::from_secs(180) {
            panic!("waited for {what}; the screen shows:\n{s}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The token appears nowhere in the agent's container: its files, its
/// processes' environments and command lines, its config, its image.
fn assert_token_absent(slug: &str, token: &str) {
    let agent = format!("bb-{slug}");
    // The pattern comes on stdin, so no command line here holds it.
    let mut grep = Command::new("docker")
        .args([
            "exec",
            "-i",
            "-u",
            "root",
            &agent,
            "grep",
            "-rlsF",
            "-f",
            "/dev/stdin",
            "/",
        ])
        .args([
            "--exclude-dir=proc",
            "--exclude-dir=sys",
            "--exclude-dir=dev",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = grep.stdin.take().unwrap();
        stdin.write_all(format!("{token}\n").as_bytes()).unwrap();
    }
    let files = grep.wait_with_output().unwrap();
    let files = String::from_utf8_lossy(&files.stdout);
    assert_eq!(
        files.trim(),
        "",
        "files in the agent container hold the token"
    );
    let procs = Command::new("docker")
        .args([
            "exec",
            "-u",
            "root",
            &agent,
            "sh",
            "-c",
            "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline",
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&procs.stdout).contains(token),
        "a process in the agent container holds the token"
    );
    assert!(
        !docker(&["inspect", &agent]).contains(token),
        "docker inspect shows the token"
    );
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", &agent]);
    assert!(
        !docker(&["history", "--no-trunc", &image]).contains(token),
        "the agent image's history holds the token"
    );
}

#[test]
fn claude_code_talks_to_the_api_with_the_real_token_it_never_holds() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let token = "sk-ant-oat01-bb-test-real-token-0123456789abcdef";
    let home = Home::new("claude", &[("BOT_BOTTLE_CLAUDE_OAUTH_TOKEN", token)]);
    let mock = Mock::start(&home.mock_dir(), token, 0);
    let (slug, _bottle, mut bb) = home.launch_with(&mock, "claude-helper");
    let screen = wait_screen(&bb, "Claude Code's prompt", |s| {
        s.contains("bypass permissions")
    });
    for never in [
        "Select login method",
        "Do you trust",
        "Please run /login",
        "API Error",
    ] {
        assert!(!screen.contains(never), "{never}:\n{screen}");
    }
    bb.keys("Say hello");
    bb.keys("\r");
    wait_screen(&bb, "the mock's reply", |s| {
        s.contains("Hello from the mock API")
    });
    // Its row and title say what it does, read from Claude Code's screen:
    // waiting for you after the turn, working while it answers the next.
    wait_screen(&bb, "the row to say it waits", |s| s.contains(WAITING));
    bb.keys("And again");
    bb.keys("\r");
    wait_screen(&bb, "the row to say it works", |s| {
        s.contains(WORKING) && !s.contains(WAITING)
    });
    let screen = wait_screen(&bb, "a second reply", |s| {
        s.contains("(reply 2)") || s.contains("(reply 3)")
    });
    wait_screen(&bb, "the row to say it waits again", |s| {
        s.contains(WAITING)
    });
    assert!(!screen.contains("API Error"), "{screen}");

    let requests = mock.requests();
    let refused = refused(&slug, &requests);
    // Hosts the starter leaves out are refused quietly: audited, and the
    // agent carries on without showing an error.
    assert!(!screen.contains("bb egress blocked"), "{screen}");
    assert!(
        refused.iter().all(|(h, _)| h != "api.anthropic.com"),
        "{refused:?}"
    );
    let replies = requests.iter().filter(|r| r["note"] == "reply").count();
    assert!(replies >= 2, "{requests:#?}");
    for r in &requests {
        assert_eq!(
            r["authorization"],
            format!("Bearer {token}"),
            "a request without the real token: {r}"
        );
    }
    assert_token_absent(&slug, token);

    let mcp = docker(&[
        "exec",
        "-u",
        "node",
        &format!("bb-{slug}"),
        "claude",
        "mcp",
        "list",
    ]);
    assert!(
        mcp.contains("bb-supervise") && mcp.contains("Connected"),
        "claude mcp list: {mcp}"
    );

    // Leaving and coming back re-attaches to the same Claude Code: its
    // conversation is on the screen and it answers the next turn.
    bb.prefix("d");
    bb.wait_exit();
    let mut bb = home.workspace();
    bb.wait_text("detached");
    bb.keys("\r");
    wait_screen(&bb, "the conversation, replayed", |s| {
        s.contains("Hello from the mock API") && s.contains("bypass permissions")
    });
    let claudes = docker(&["top", &format!("bb-{slug}"), "-o", "pid,args"])
        .lines()
        .filter(|l| {
            let args = l.trim_start().split_once(' ').map(|(_, a)| a.trim_start());
            args.is_some_and(|a| a.starts_with("claude "))
        })
        .count();
    assert_eq!(claudes, 1, "one Claude Code process after re-attaching");
    bb.keys("Once more");
    bb.keys("\r");
    wait_screen(&bb, "a reply after re-attaching", |s| {
        s.contains("(reply 3)") || s.contains("(reply 4)")
    });
    bb.prefix("d");
    bb.wait_exit();
}

/// The real Claude Code, told by the mock API to write a file and commit
/// it (its own Bash tool, in the bottle's clone of the user's repository):
/// `bb take` brings the commit home as a branch.
#[test]
fn claude_codes_commit_comes_home_with_bb_take() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let token = "sk-ant-oat01-bb-test-real-token-0123456789abcdef";
    let home = Home::new("claude", &[("BOT_BOTTLE_CLAUDE_OAUTH_TOKEN", token)]);
    let project = home.project();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(&project)
            .args(["-c", "user.name=User", "-c", "user.email=user@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "the user's project"]);
    let act = "printf 'written by claude\\n' > hello.txt && git add hello.txt && git -c user.name=Claude -c user.email=claude@bottle commit -qm 'add hello' && echo committed";
    let mock = Mock::start_acting(&home.mock_dir(), token, 0, Some(act));
    let (slug, _bottle, mut bb) = home.launch_with(&mock, "claude-helper");
    wait_screen(&bb, "Claude Code's prompt", |s| {
        s.contains("bypass permissions")
    });
    bb.keys("Write hello.txt and commit it");
    bb.keys("\r");
    let start = Instant::now();
    while !mock.requests().iter().any(|r| r["note"] == "acted") {
        if start.elapsed() > Duration::from_secs(60) {
            for r in mock.requests() {
                eprintln!("REQ {r}");
            }
            panic!(
                "Claude Code never ran the command; the screen shows:\n{}",
                bb.screen()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = home.bb(&["take", &slug]);
    assert!(
        took.status.success(),
        "{}",
        String::from_utf8_lossy(&took.stderr)
    );
    let branch = format!("bb/{slug}");
    let log = git(&["log", "--format=%an %s", &branch]);
    assert!(log.starts_with("Claude add hello"), "{log}");
    assert_eq!(
        git(&["show", &format!("{branch}:hello.txt")]),
        "written by claude\n"
    );
    assert_eq!(git(&["symbolic-ref", "HEAD"]).trim(), "refs/heads/main");
    assert!(
        !project.join("hello.txt").exists(),
        "taken as a branch, not written"
    );
    bb.prefix("d");
    bb.wait_exit();
}

#[test]
fn codex_signs_in_with_the_host_login_and_outlives_its_access_token() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let home = Home::new("codex", &[]);
    let access = home.codex_login();
    home.codex_compression(true);
    // Tokens live 25 s: the second turn comes after the first expired.
    let ttl = 25;
    let mock = Mock::start(&home.mock_dir(), &access, ttl);
    let started = Instant::now();
    let (slug, _bottle, mut bb) = home.launch_with(&mock, "codex-helper");
    let screen = wait_screen(&bb, "the mock's reply to the prompt file", |s| {
        s.contains("Hello from the mock API")
    });
    for never in ["Sign in with ChatGPT", "Do you trust", "invalid ID token"] {
        assert!(!screen.contains(never), "{never}:\n{screen}");
    }
    // The turn from the prompt file is over: Codex waits for you.
    wait_screen(&bb, "the row to say it waits", |s| s.contains(WAITING));
    let expired = Duration::from_secs(ttl + 2);
    if let Some(left) = expired.checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
    let before = mock.last_reply();
    bb.keys("Say hello again");
    bb.keys("\r");
    wait_screen(&bb, "the row to say it works", |s| {
        s.contains(WORKING) && !s.contains(WAITING)
    });
    wait_until("the mock to serve the turn", || mock.last_reply() > before);
    let n = mock.last_reply();
    let screen = wait_screen(&bb, &format!("reply {n} on screen"), |s| {
        s.contains(&format!("(reply {n})"))
    });
    assert!(!screen.contains("Sign in"), "{screen}");
    wait_screen(&bb, "the row to say it waits again", |s| {
        s.contains(WAITING)
    });

    let requests = mock.requests();
    let refused = refused(&slug, &requests);
    assert!(!screen.contains("bb egress blocked"), "{screen}");
    assert!(
        refused
            .iter()
            .all(|(h, _)| h != "chatgpt.com" && h != "auth.openai.com"),
        "{refused:?}"
    );
    let refreshed = requests.iter().filter(|r| r["note"] == "refreshed").count();
    assert!(refreshed >= 1, "no refresh through egress: {requests:#?}");
    assert!(
        requests.iter().any(|r| r["note"] == "expired"),
        "the first token never expired: {requests:#?}"
    );
    for r in requests.iter().filter(|r| r["host"] == "chatgpt.com") {
        let a = r["authorization"].as_str().unwrap_or_default();
        assert!(
            a == format!("Bearer {access}") || a.contains("bW9jay1hY2Nlc3Mt"),
            "a request to chatgpt.com without a real token: {r}"
        );
        assert_eq!(r["account"], "acct-bb-mock", "{r}");
    }
    // Every turn came compressed (zstd), and the starter's route passed it
    // on as Codex sent it, token injected.
    let turns: Vec<_> = requests
        .iter()
        .filter(|r| r["path"] == "/backend-api/codex/responses" && r["note"] == "reply")
        .collect();
    assert!(!turns.is_empty());
    for t in &turns {
        assert_eq!(t["content_encoding"], "zstd", "{t}");
    }
    for secret in [access.as_str(), "refresh-0", "refresh-1"] {
        assert_token_absent(&slug, secret);
    }
    bb.prefix("d");
    bb.wait_exit();
}

/// Codex compresses its turns with zstd (its `enable_request_compression`
/// feature, on by default: with ChatGPT sign-in and OpenAI's own provider
/// it compresses every turn). On a route egress scans, each turn is
/// decoded, scanned and sent on as the JSON that was read; Codex gets its
/// replies, with the token injected. And with compression off, the same.
#[test]
fn codex_compressed_turns_are_read_on_a_scanned_route() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    for compressed in [true, false] {
        let home = Home::new("codex", &[]);
        let access = home.codex_login();
        home.codex_compression(compressed);
        home.scan_chatgpt();
        let mock = Mock::start(&home.mock_dir(), &access, 0);
        let (slug, _bottle, mut bb) = home.launch_with(&mock, "codex-helper");
        let screen = wait_screen(&bb, "the mock's reply to the prompt file", |s| {
            s.contains("Hello from the mock API")
        });
        assert!(!screen.contains("bb egress blocked"), "{screen}");
        let requests = mock.requests();
        let refused = refused(&slug, &requests);
        assert!(
            refused.iter().all(|(h, _)| h != "chatgpt.com"),
            "{refused:?}"
        );
        let turn = requests
            .iter()
            .find(|r| r["path"] == "/backend-api/codex/responses" && r["note"] == "reply")
            .expect("a turn was served");
        // Read and sent on decoded: the mock got plain JSON.
        assert_eq!(turn["content_encoding"], "", "{turn}");
        assert_eq!(turn["authorization"], format!("Bearer {access}"), "{turn}");
        // Allowed lines reach the log in batches, a moment late.
        wait_until("the turn in the audit log, allowed", || {
            bundle_file_or_empty(&slug, "/var/lib/bb/audit.jsonl")
                .lines()
                .any(|l| l.contains("/backend-api/codex/responses") && l.contains("\"allowed\""))
        });
        bb.prefix("d");
        bb.wait_exit();
        drop(mock);
    }
}

/// Re-record tests/panes/codex.bytes: the real Codex in a bottle answering
/// one prompt from the mock (a reply takes 2.5 s, so its working indicator
/// is in the stream), in a 38x120 terminal, through `docker exec -it` under
/// tests/panes/record.py. Run with `cargo test --test real_agents -- --ignored`.
#[test]
#[ignore = "re-records tests/panes/codex.bytes"]
fn record_a_codex_session_for_the_pane_corpus() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let home = Home::new("codex", &[]);
    let access = home.codex_login();
    let mock = Mock::start(&home.mock_dir(), &access, 0);
    let (slug, _bottle, mut bb) = home.launch_with(&mock, "codex-helper");
    wait_screen(&bb, "the reply to the prompt file", |s| {
        s.contains("Hello from the mock API")
    });
    bb.prefix("d");
    bb.wait_exit();
    let container = format!("bb-{slug}");
    let workdir = docker(&["inspect", "-f", "{{.Config.WorkingDir}}", &container]);
    let panes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/panes");
    let out = Command::new("python3")
        .arg(panes.join("record.py"))
        .args(["38", "120"])
        .arg(panes.join("codex.bytes"))
        .args([
            "--type",
            "8",
            "Say hello",
            "--type",
            "9",
            "\\r",
            "--stop",
            "20",
            "--",
        ])
        .args([
            "docker",
            "exec",
            "-it",
            "-u",
            "node",
            "-w",
            workdir.trim(),
            &container,
        ])
        .args(["codex", "--dangerously-bypass-approvals-and-sandbox"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(panes.join("codex.bytes")).unwrap();
    // Codex moves the cursor between words: look for one.
    assert!(
        String::from_utf8_lossy(&bytes).contains("(reply"),
        "the reply is in the recording"
    );
}
