//! A real git upstream for a bottle's gate: sshd and a bare repository
//! (seeded with one commit, `seed`) in a container on the bottle's egress
//! network under the name `git.example`, reached with a key the gate
//! holds and a pinned host key. The bottle's manifest gets the remote.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::docker::{docker, Env};

pub struct GitUpstream {
    key: PathBuf,
    host_key: String,
    pubkey: String,
    container: Option<String>,
}

impl GitUpstream {
    /// Build the upstream's image (once) and give `env`'s bottle the
    /// remote; `extra` adds keys to the remote's entry (`ReviewPushes:
    /// true`).
    pub fn for_bottle(env: &Env, extra: &str) -> GitUpstream {
        let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images");
        let built = Command::new("docker")
            .args(["build", "-q", "-t", "bb-test-git-upstream", "-f"])
            .arg(images.join("git-upstream.Dockerfile"))
            .arg(&images)
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let host_key = docker(&[
            "run",
            "--rm",
            "bb-test-git-upstream",
            "cat",
            "/etc/ssh/ssh_host_ed25519_key.pub",
        ]);
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        let key = env.dir.path().join("gate_key");
        assert!(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success());
        let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let up = GitUpstream {
            key,
            host_key: host_key.join(" "),
            pubkey: pubkey.trim().to_string(),
            container: None,
        };
        let bottle = std::fs::read_to_string(env.home().join("bottles/fake.md")).unwrap();
        let with_git = bottle.replacen(
            "---\n",
            &format!(
                "---\ngit:\n  user: {{name: Fake Agent, email: fake@bottle.example}}\n  remotes:\n    git.example:\n      Upstream: ssh://git@git.example/home/git/app.git\n      IdentityFile: {}\n      KnownHostKey: {}\n{extra}",
                up.key.display(),
                up.host_key
            ),
            1,
        );
        std::fs::write(env.home().join("bottles/fake.md"), with_git).unwrap();
        up
    }

    /// Run the upstream on bottle `slug`'s egress network; wait until it
    /// serves its seed commit.
    pub fn start(&mut self, slug: &str) {
        let name = format!("bb-test-upstream-{slug}");
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &format!("bb.slug={slug}"),
            "--network",
            &format!("bb-{slug}-egress"),
            "--network-alias",
            "git.example",
            "-e",
            &format!("PUBKEY={}", self.pubkey),
            "bb-test-git-upstream",
        ]);
        self.container = Some(name);
        for _ in 0..100 {
            if self.log("main") == "seed" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// `git log --format=%s REF` upstream.
    pub fn log(&self, r: &str) -> String {
        self.git(&["log", "--format=%s", r])
    }

    /// Any git command on the upstream's repository.
    pub fn git(&self, args: &[&str]) -> String {
        let mut all = vec![
            "exec",
            self.container.as_deref().unwrap_or_default(),
            "git",
            "--git-dir",
            "/home/git/app.git",
        ];
        all.extend_from_slice(args);
        docker(&all)
    }
}

impl Drop for GitUpstream {
    fn drop(&mut self) {
        if let Some(c) = &self.container {
            docker(&["rm", "-f", c]);
        }
    }
}
