//! The `bb` binary's commands, run as a user would run them.

use std::path::Path;
use std::process::{Command, Output};

fn bb(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bb"))
        .args(args)
        .env("BB_HOME", home)
        .env_remove("BOT_BOTTLE_CLAUDE_OAUTH_TOKEN")
        .current_dir(home.parent().unwrap())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn init_then_agents_info_and_preflight() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("bbhome");

    let o = bb(&home, &["agents"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("run `bb init`"), "{}", stderr(&o));

    let o = bb(&home, &[]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("Run `bb init`"),
        "without a terminal bb only says what to do"
    );
    assert!(!home.exists());

    let o = bb(&home, &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("wrote ").count(), 4);
    let o = bb(&home, &["init"]);
    assert_eq!(
        stdout(&o).matches("kept ").count(),
        4,
        "a second init touches nothing"
    );

    let o = bb(&home, &["agents"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("claude-helper  claude  claude    home"),
        "{out}"
    );
    assert!(
        out.contains("codex-helper   codex   codex     home"),
        "{out}"
    );

    let o = bb(&home, &["info", "claude-helper"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("You are a careful software engineer"));

    let o = bb(&home, &["preflight", "claude-helper"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("tls intercept : per-bottle ephemeral CA, generated at launch"),
        "{out}"
    );
    assert!(
        out.contains("BOT_BOTTLE_CLAUDE_OAUTH_TOKEN MISSING"),
        "{out}"
    );

    let o = bb(&home, &["preflight", "claude-helper", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(
        v["egress"]["tls_interception"]["ca_fingerprint"],
        serde_json::Value::Null
    );
    assert_eq!(v["secrets"][0]["name"], "BOT_BOTTLE_CLAUDE_OAUTH_TOKEN");
    assert_eq!(v["secrets"][0]["present"], false);
    assert!(v["blockers"][0]
        .as_str()
        .unwrap()
        .contains("BOT_BOTTLE_CLAUDE_OAUTH_TOKEN"));
}

#[test]
fn unknown_agents_and_broken_files_are_one_line_errors() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("bbhome");
    bb(&home, &["init"]);
    let o = bb(&home, &["preflight", "claude-helpr"]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).trim(),
        "error: no agent \"claude-helpr\"; did you mean \"claude-helper\"? (agents: claude-helper, codex-helper)"
    );

    std::fs::write(home.join("bottles/claude.md"), "---\negres: {}\n---\n").unwrap();
    let o = bb(&home, &["agents"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("bottles/claude.md:2: egres: unknown key \"egres\"; did you mean \"egress\"?"),
        "{err}"
    );
    assert!(
        stdout(&o).contains("codex-helper"),
        "other agents still list: {}",
        stdout(&o)
    );

    let o = bb(&home, &["preflight", "claude-helper"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("agents/claude-helper.md:2: bottle: bottle \"claude\" has an error"),
        "{err}"
    );
}

#[test]
fn help_lists_only_working_commands() {
    let d = tempfile::tempdir().unwrap();
    let o = bb(&d.path().join("h"), &["--help"]);
    let out = stdout(&o);
    for cmd in ["agents", "info", "preflight", "doctor", "init"] {
        assert!(
            out.contains(&format!("  {cmd} ")),
            "{cmd} missing from:\n{out}"
        );
    }
}
