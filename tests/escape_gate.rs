//! Escape class: the git gate, attacked from inside a real bottle's agent
//! container as the agent, with a real upstream (sshd and git in a
//! container on the bundle's egress network): clean work arrives, and a
//! secret leaves in no shape: a file, a ref's name, a compressed file.

mod support;

use std::sync::Mutex;

use support::docker::{docker, docker_ok, left_behind, Env};
use support::upstream::GitUpstream;

static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn pushes_go_upstream_over_ssh_with_the_gates_key_and_secrets_do_not() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let mut upstream = GitUpstream::for_bottle(&env, "");
    let slug = env.start();
    let agent = format!("bb-{slug}");
    // The real upstream, reachable from the bundle's egress network only.
    upstream.start(&slug);
    let upstream_log = |r: &str| upstream.log(r);

    let sh = |script: &str| {
        docker(&[
            "exec",
            &agent,
            "sh",
            "-c",
            &format!("cd /tmp && {script} 2>&1; true"),
        ])
    };
    let clone =
        sh("git clone ssh://git@git.example/home/git/app.git app && git -C app log --format=%s");
    assert!(clone.ends_with("seed"), "clone through the gate: {clone}");
    assert_eq!(
        sh("git -C app ls-remote --get-url origin"),
        "http://sidecars:9420/app.git",
        "git reaches upstream only through the gate"
    );
    assert!(
        sh("ls -A /home/node/.ssh").contains("No such file"),
        "the agent holds no key"
    );
    let push = sh("cd app && echo 'fn main() {}' > main.rs && git add . && git commit -qm clean-work && git push origin main");
    assert_eq!(
        upstream_log("main").lines().next(),
        Some("clean-work"),
        "the clean push arrived upstream: {push}"
    );
    let leak = sh("cd app && echo 'AWS=AKIAIOSFODNN7EXAMPLE' > creds.env && git add . && git commit -qm leak && git push origin main");
    assert!(leak.contains("aws-access-key-id in creds.env:1"), "{leak}");
    assert_eq!(
        upstream_log("main").lines().next(),
        Some("clean-work"),
        "the secret never left"
    );
    sh("cd app && git reset -q --hard origin/main");
    // The key as a ref's name: a branch, a tag, a branch split at a slash.
    for (what, push) in [
        (
            "a branch",
            "git push origin HEAD:refs/heads/AKIAIOSFODNN7EXAMPLE",
        ),
        (
            "a tag",
            "git tag akiaiosfodnn7example && git push origin akiaiosfodnn7example",
        ),
        (
            "a split branch",
            "git push origin HEAD:refs/heads/feat/AKIAIOSFOD/NN7EXAMPLE",
        ),
    ] {
        let out = sh(&format!("cd app && {push}"));
        assert!(
            out.contains("looks like a secret (aws-access-key-id)"),
            "{what}: {out}"
        );
    }
    // The key inside a compressed file: gzip, and a tar.gz.
    for (what, make) in [
        ("a .gz file", "echo 'aws_key = AKIAIOSFODNN7EXAMPLE' | gzip > dump.sql.gz"),
        ("a .tar.gz", "mkdir -p cfg && echo 'AKIAIOSFODNN7EXAMPLE' > cfg/k && tar czf cfg.tar.gz cfg && rm -r cfg"),
    ] {
        let out = sh(&format!(
            "cd app && git reset -q --hard origin/main && {make} && git add . && git commit -qm archive && git push origin main"
        ));
        assert!(out.contains("aws-access-key-id"), "{what}: {out}");
    }
    let refs = upstream.git(&["for-each-ref"]);
    assert!(!refs.to_ascii_uppercase().contains("AKIAIOSFOD"), "{refs}");
    assert_eq!(
        upstream_log("main").lines().next(),
        Some("clean-work"),
        "no secret left, in any shape"
    );

    drop(upstream);
    let o = env.bb(&["stop", &slug]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(left_behind(&slug), "");
}
