//! The git gate against a local bare upstream, through real git clients.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bb_sidecar::gate::{Gate, GateConfig, RemoteConfig};
use tokio::net::TcpListener;

fn git(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "agent")
        .env("GIT_AUTHOR_EMAIL", "agent@bottle")
        .env("GIT_COMMITTER_NAME", "agent")
        .env("GIT_COMMITTER_EMAIL", "agent@bottle")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A bare upstream with one commit on main.
fn upstream(dir: &Path) -> std::path::PathBuf {
    let up = dir.join("upstream.git");
    let seed = dir.join("seed");
    assert!(
        git(
            dir,
            &[
                "init",
                "--bare",
                "--quiet",
                "-b",
                "main",
                up.to_str().unwrap()
            ]
        )
        .0
    );
    assert!(
        git(
            dir,
            &["init", "--quiet", "-b", "main", seed.to_str().unwrap()]
        )
        .0
    );
    std::fs::write(seed.join("README.md"), "hello\n").unwrap();
    assert!(git(&seed, &["add", "."]).0);
    assert!(git(&seed, &["commit", "--quiet", "-m", "first"]).0);
    assert!(git(&seed, &["push", "--quiet", up.to_str().unwrap(), "main"]).0);
    up
}

async fn start_gate(dir: &Path, upstream: &str) -> String {
    let gate = Gate::new(GateConfig {
        listen: "127.0.0.1:0".into(),
        repos_dir: dir.join("gate"),
        remotes: vec![RemoteConfig {
            name: "app".into(),
            upstream: upstream.into(),
            identity_env: None,
            known_host: None,
        }],
        hook_binary: Some(env!("CARGO_BIN_EXE_bb-sidecar").into()),
        push_bytes: 64 * 1024 * 1024,
    });
    gate.prepare().await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/app.git", listener.local_addr().unwrap());
    tokio::spawn(bb_sidecar::gate::serve(listener, Arc::new(gate)));
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_pushes_arrive_and_secrets_never_leave() {
    let d = tempfile::tempdir().unwrap();
    let up = upstream(d.path());
    let url = start_gate(d.path(), up.to_str().unwrap()).await;
    let work = d.path().join("work");
    let (ok, out) = tokio::task::spawn_blocking({
        let (url, work) = (url.clone(), work.clone());
        move || {
            git(
                Path::new("/"),
                &["clone", "--quiet", &url, work.to_str().unwrap()],
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "clone through the gate: {out}");
    assert_eq!(
        std::fs::read_to_string(work.join("README.md")).unwrap(),
        "hello\n"
    );
    let config = std::fs::read_to_string(work.join(".git/config")).unwrap();
    assert!(
        config.contains(&url) && !config.contains("upstream.git"),
        "the agent's clone knows only the gate: {config}"
    );

    // A clean push reaches upstream.
    std::fs::write(work.join("src.rs"), "fn main() {}\n").unwrap();
    assert!(git(&work, &["add", "."]).0);
    assert!(git(&work, &["commit", "--quiet", "-m", "clean"]).0);
    let w = work.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || git(&w, &["push", "origin", "main"]))
        .await
        .unwrap();
    assert!(ok, "clean push: {out}");
    let (_, log) = git(&up, &["log", "--oneline", "main"]);
    assert!(log.contains("clean"), "{log}");

    // A push carrying a secret is refused, with the rule and file:line.
    std::fs::write(
        work.join("deploy.env"),
        "REGION=eu\nAWS_KEY=AKIAIOSFODNN7EXAMPLE\n",
    )
    .unwrap();
    assert!(git(&work, &["add", "."]).0);
    assert!(git(&work, &["commit", "--quiet", "-m", "oops"]).0);
    let w = work.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || git(&w, &["push", "origin", "main"]))
        .await
        .unwrap();
    assert!(!ok, "{out}");
    assert!(out.contains("aws-access-key-id in deploy.env:2"), "{out}");
    let (_, log) = git(&up, &["log", "--oneline", "main"]);
    assert!(
        !log.contains("oops"),
        "the secret never reached upstream: {log}"
    );
    let (_, gate_log) = git(
        &d.path().join("gate/app.git"),
        &["log", "--oneline", "main"],
    );
    assert!(!gate_log.contains("oops"), "nor the gate's mirror");
}

#[tokio::test(flavor = "multi_thread")]
async fn fetches_fail_closed_when_upstream_is_gone() {
    let d = tempfile::tempdir().unwrap();
    let up = upstream(d.path());
    let url = start_gate(d.path(), up.to_str().unwrap()).await;
    std::fs::remove_dir_all(&up).unwrap();
    let work = d.path().join("work");
    let (ok, out) = tokio::task::spawn_blocking(move || {
        git(
            Path::new("/"),
            &["clone", "--quiet", &url, work.to_str().unwrap()],
        )
    })
    .await
    .unwrap();
    assert!(!ok, "a stale mirror is not served: {out}");
}
