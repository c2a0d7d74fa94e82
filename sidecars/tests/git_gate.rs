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
    start_gate_with(dir, upstream, false).await
}

async fn start_gate_with(dir: &Path, upstream: &str, allow_force_push: bool) -> String {
    start_gate_full(dir, upstream, allow_force_push, None).await
}

/// A gate whose remote holds pushes for review in `queue`, when given.
async fn start_gate_full(
    dir: &Path,
    upstream: &str,
    allow_force_push: bool,
    queue: Option<&Path>,
) -> String {
    let gate = Gate::new(GateConfig {
        listen: "127.0.0.1:0".into(),
        repos_dir: dir.join("gate"),
        remotes: vec![RemoteConfig {
            name: "app".into(),
            upstream: upstream.into(),
            identity_env: None,
            known_host: None,
            allow_force_push,
            review_pushes: queue.is_some(),
        }],
        hook_binary: Some(env!("CARGO_BIN_EXE_bb-sidecar").into()),
        push_bytes: 64 * 1024 * 1024,
        bip39: false,
        queue: queue.map(Path::to_path_buf),
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

/// Clone through the gate into `work`.
async fn clone(url: &str, work: &Path) {
    let (url, w) = (url.to_string(), work.to_path_buf());
    let (ok, out) = tokio::task::spawn_blocking(move || {
        git(
            Path::new("/"),
            &["clone", "--quiet", &url, w.to_str().unwrap()],
        )
    })
    .await
    .unwrap();
    assert!(ok, "clone: {out}");
}

async fn push(work: &Path, args: &[&str]) -> (bool, String) {
    let w = work.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        git(&w, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_anywhere_in_a_push_are_refused() {
    let key = "AKIAIOSFODNN7EXAMPLE";
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    // Each shape: what to do in the clone before committing, the message.
    type Shape = Box<dyn Fn(&Path) -> String>;
    let shapes: Vec<(&str, Shape)> = vec![
        (
            "commit message",
            Box::new(move |_| format!("deploy with {key}")),
        ),
        (
            "file name",
            Box::new(move |w| {
                std::fs::write(w.join(format!("{key}.txt")), "x\n").unwrap();
                "add".into()
            }),
        ),
        (
            "binary file",
            Box::new(move |w| {
                let mut b = vec![0u8, 1, 2, 3];
                b.extend_from_slice(format!("key={key}").as_bytes());
                b.extend_from_slice(&[0, 0, 9]);
                std::fs::write(w.join("blob.bin"), b).unwrap();
                "add".into()
            }),
        ),
        (
            "a line starting ++",
            Box::new(move |w| {
                std::fs::write(w.join("notes.txt"), format!("++ {key}\n")).unwrap();
                "add".into()
            }),
        ),
        (
            "split over two lines",
            Box::new(move |w| {
                std::fs::write(
                    w.join("split.txt"),
                    format!("{}\n{}\n", &key[..10], &key[10..]),
                )
                .unwrap();
                "add".into()
            }),
        ),
        (
            "hex-encoded",
            Box::new(move |w| {
                std::fs::write(w.join("data.txt"), format!("payload={hex}\n")).unwrap();
                "add".into()
            }),
        ),
    ];
    for (what, make) in shapes {
        let d = tempfile::tempdir().unwrap();
        let up = upstream(d.path());
        let url = start_gate(d.path(), up.to_str().unwrap()).await;
        let work = d.path().join("work");
        clone(&url, &work).await;
        let message = make(&work);
        assert!(git(&work, &["add", "."]).0);
        assert!(
            git(
                &work,
                &["commit", "--quiet", "--allow-empty", "-m", &message]
            )
            .0,
            "{what}"
        );
        let (ok, out) = push(&work, &["push", "origin", "main"]).await;
        assert!(!ok, "{what}: {out}");
        assert!(out.contains("aws-access-key-id"), "{what}: {out}");
        assert!(
            !out.contains(key),
            "{what}: the refusal does not repeat the secret: {out}"
        );
        let (_, log) = git(&up, &["log", "--oneline", "main"]);
        assert_eq!(
            log.lines().count(),
            1,
            "{what}: nothing reached upstream: {log}"
        );
    }

    // An author name, and an annotated tag's message.
    let d = tempfile::tempdir().unwrap();
    let up = upstream(d.path());
    let url = start_gate(d.path(), up.to_str().unwrap()).await;
    let work = d.path().join("work");
    clone(&url, &work).await;
    let author = Command::new("git")
        .arg("-C")
        .arg(&work)
        .args([
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "x",
            "--author",
            &format!("{key} <a@b>"),
        ])
        .env("GIT_COMMITTER_NAME", "agent")
        .env("GIT_COMMITTER_EMAIL", "agent@bottle")
        .status()
        .unwrap();
    assert!(author.success());
    let (ok, out) = push(&work, &["push", "origin", "main"]).await;
    assert!(!ok && out.contains("aws-access-key-id"), "author: {out}");
    assert!(git(&work, &["reset", "--quiet", "--hard", "origin/main"]).0);
    assert!(git(&work, &["tag", "-a", "v1", "-m", &format!("release {key}")]).0);
    let (ok, out) = push(&work, &["push", "origin", "v1"]).await;
    assert!(!ok && out.contains("aws-access-key-id"), "tag: {out}");
    let (_, tags) = git(&up, &["tag"]);
    assert!(tags.trim().is_empty(), "{tags}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ref_named_like_a_secret_and_a_secret_in_an_archive_are_refused() {
    use std::io::Write;
    let key = "AKIAIOSFODNN7EXAMPLE";
    let d = tempfile::tempdir().unwrap();
    let up = upstream(d.path());
    let url = start_gate(d.path(), up.to_str().unwrap()).await;
    let work = d.path().join("work");
    clone(&url, &work).await;
    assert!(
        git(
            &work,
            &["commit", "--quiet", "--allow-empty", "-m", "clean"]
        )
        .0
    );
    for (what, refspec) in [
        ("a branch", format!("HEAD:refs/heads/{key}")),
        (
            "a tag",
            format!("HEAD:refs/tags/{}", key.to_ascii_lowercase()),
        ),
        (
            "a branch split at a slash",
            format!("HEAD:refs/heads/feat/{}/{}", &key[..10], &key[10..]),
        ),
    ] {
        let (ok, out) = push(&work, &["push", "origin", &refspec]).await;
        assert!(!ok, "{what}: {out}");
        assert!(out.contains("aws-access-key-id"), "{what}: {out}");
        // git prints the name the agent gave; the gate never repeats it.
        let gate: String = out.lines().filter(|l| l.starts_with("remote:")).collect();
        assert!(
            !gate.to_ascii_uppercase().contains(&key[..10]),
            "{what}: no echo: {out}"
        );
    }
    let (_, refs) = git(&up, &["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.to_ascii_uppercase().contains(&key[..10]), "{refs}");
    // A secret inside a gzip file and inside a zip, committed as files.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!("aws_key = {key}\n").as_bytes())
        .unwrap();
    std::fs::write(work.join("backup.sql.gz"), gz.finish().unwrap()).unwrap();
    assert!(git(&work, &["add", "."]).0);
    assert!(git(&work, &["commit", "--quiet", "-m", "backup"]).0);
    let (ok, out) = push(&work, &["push", "origin", "HEAD:main"]).await;
    assert!(!ok && out.contains("aws-access-key-id"), "gzip: {out}");
    assert!(out.contains("backup.sql.gz"), "says where: {out}");
    let (_, log) = git(&up, &["log", "--oneline", "main"]);
    assert_eq!(log.lines().count(), 1, "nothing reached upstream: {log}");
}

/// A remote with `review_pushes`: a clean push waits in the queue, goes
/// upstream once approved, and a rejected one never does; the agent's git
/// is told why.
#[tokio::test(flavor = "multi_thread")]
async fn a_held_push_goes_upstream_only_once_approved() {
    use bb_contract::proposal::{Decision, Proposal, Request};
    let d = tempfile::tempdir().unwrap();
    let up = upstream(d.path());
    let queue = d.path().join("proposals");
    std::fs::create_dir_all(&queue).unwrap();
    let url = start_gate_full(d.path(), up.to_str().unwrap(), false, Some(&queue)).await;
    let work = d.path().join("work");
    clone(&url, &work).await;
    let upstream_head = || git(&up, &["log", "--format=%s", "-1", "main"]).1;
    // The operator's side: the proposal that appears, then a decision.
    let decide = |decision: Decision| {
        let queue = queue.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            loop {
                let found = std::fs::read_dir(&queue).unwrap().flatten().find(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("push-")
                        && n.ends_with(".json")
                        && !n.contains("decision")
                        && !queue.join(n.replace(".json", ".decision.json")).exists()
                });
                if let Some(e) = found {
                    let p: Proposal =
                        serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
                    let id = p.id.clone();
                    std::fs::write(
                        queue.join(format!("{id}.decision.json")),
                        serde_json::to_string(&decision).unwrap(),
                    )
                    .unwrap();
                    return p;
                }
                assert!(start.elapsed().as_secs() < 30, "no proposal was filed");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
    };
    std::fs::write(work.join("feature.rs"), "fn feature() {}\n").unwrap();
    assert!(git(&work, &["add", "."]).0);
    assert!(git(&work, &["commit", "-qm", "add the feature"]).0);
    let operator = decide(Decision::Approved {
        request: Request::Stuck {
            message: String::new(),
        },
        note: None,
    });
    let (ok, out) = push(&work, &["push", "origin", "main"]).await;
    let held = operator.join().unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("holding this push for the operator's review"),
        "{out}"
    );
    let Request::Push(p) = &held.request else {
        panic!("{held:?}")
    };
    assert_eq!(p.commits.len(), 1);
    assert_eq!(p.commits[0].subject, "add the feature");
    assert!(p.patch.contains("+fn feature() {}"), "{}", p.patch);
    assert_eq!(p.refs[0].name, "refs/heads/main");
    assert_eq!(upstream_head().trim(), "add the feature");
    // Rejected: the agent is told why, upstream stays where it was.
    std::fs::write(work.join("worse.rs"), "fn worse() {}\n").unwrap();
    assert!(git(&work, &["add", "."]).0);
    assert!(git(&work, &["commit", "-qm", "a worse idea"]).0);
    let operator = decide(Decision::Rejected {
        reason: "not this one".into(),
    });
    let (ok, out) = push(&work, &["push", "origin", "main"]).await;
    operator.join().unwrap();
    assert!(!ok);
    assert!(
        out.contains("the operator rejected this push: not this one"),
        "{out}"
    );
    assert_eq!(upstream_head().trim(), "add the feature");
}

#[tokio::test(flavor = "multi_thread")]
async fn deletions_and_force_pushes_need_the_remotes_permission() {
    for allow in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let up = upstream(d.path());
        // A second branch upstream, to delete.
        let seed = d.path().join("seed");
        assert!(
            git(
                &seed,
                &["push", "--quiet", up.to_str().unwrap(), "main:keep"]
            )
            .0
        );
        let url = start_gate_with(d.path(), up.to_str().unwrap(), allow).await;
        let work = d.path().join("work");
        clone(&url, &work).await;
        let (ok, out) = push(&work, &["push", "origin", ":keep"]).await;
        assert_eq!(ok, allow, "delete with allow={allow}: {out}");
        let (_, branches) = git(&up, &["branch"]);
        assert_eq!(branches.contains("keep"), !allow, "{branches}");
        // Rewrite main's history.
        std::fs::write(work.join("other.txt"), "rewritten\n").unwrap();
        assert!(git(&work, &["add", "."]).0);
        assert!(git(&work, &["commit", "--quiet", "--amend", "-m", "rewritten"]).0);
        let (ok, out) = push(&work, &["push", "--force", "origin", "main"]).await;
        assert_eq!(ok, allow, "force push with allow={allow}: {out}");
        if !allow {
            assert!(
                out.contains("not a fast-forward") && out.contains("AllowForcePush"),
                "{out}"
            );
        }
        let (_, log) = git(&up, &["log", "--oneline", "main"]);
        assert_eq!(log.contains("rewritten"), allow, "{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dumb_protocol_is_not_served() {
    let d = tempfile::tempdir().unwrap();
    let up = upstream(d.path());
    let url = start_gate(d.path(), up.to_str().unwrap()).await;
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    for path in [
        "/app.git/info/refs",
        "/app.git/HEAD",
        "/app.git/objects/info/packs",
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        assert!(out.starts_with("HTTP/1.1 403"), "{path}: {out}");
    }
}
