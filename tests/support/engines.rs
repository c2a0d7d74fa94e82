//! Engines other than the local Docker, for the engine tests: a second
//! Docker host reached over SSH (a container with its own dockerd and sshd,
//! tests/images/engine-host.sh) and Podman's Docker-compatible socket.
//! Each is a real engine; what a test makes on it is removed with it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::docker::{docker, docker_on, BASE};

const HOST_IMAGE: &str = "bb-test-engine-host:bookworm";

/// A second Docker host on this machine's bridge network, reached as
/// `ssh://<alias>` through the account's own ssh config.
pub struct EngineHost {
    pub container: String,
    volume: String,
    pub alias: String,
    /// `ssh://<alias>`: what config.yaml names and `docker -H` takes.
    pub url: String,
    _keys: tempfile::TempDir,
}

/// Where ssh reads its config: the account's home from the password
/// database (not `$HOME`, which the tests set elsewhere).
fn ssh_config() -> PathBuf {
    let home = Command::new("getent")
        .args(["passwd", &whoami()])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split(':')
                .nth(5)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "/root".into());
    Path::new(home.trim()).join(".ssh/config")
}

fn whoami() -> String {
    let o = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn marker(alias: &str) -> (String, String) {
    (
        format!("# {alias}: bb engine test"),
        format!("# end {alias}"),
    )
}

impl EngineHost {
    /// Start one, its sshd answering and its dockerd holding the base
    /// image the bottles build on.
    pub fn start() -> EngineHost {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/engine-host.sh");
        let made = Command::new("bash").arg(script).status().unwrap();
        assert!(made.success(), "tests/images/engine-host.sh failed");

        let id = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                % 100_000
        );
        let container = format!("bb-test-engine-{id}");
        let volume = format!("bb-test-engine-{id}");
        let alias = format!("bb-test-engine-{id}");
        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("id");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success());
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let run = Command::new("docker")
            .args(["run", "-d", "--name", &container])
            .args(["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN"])
            // SYS_PTRACE: runc execs into containers whose process is not root.
            .args(["--cap-add", "MKNOD", "--cap-add", "SYS_PTRACE"])
            .args(["--security-opt", "seccomp=unconfined"])
            .args(["--security-opt", "apparmor=unconfined"])
            .args(["--security-opt", "systempaths=unconfined"])
            .args(["-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"])
            .args(["-v", &format!("{volume}:/var/lib/docker")])
            .args(["-e", &format!("AUTHORIZED_KEY={}", public.trim())])
            .arg(HOST_IMAGE)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "the engine host did not start: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &container,
        ]);
        let host = EngineHost {
            url: format!("ssh://{alias}"),
            container,
            volume,
            alias,
            _keys: keys,
        };
        host.add_ssh_entry(&ip, &key);
        host.wait_answers();
        // No registry: the base goes over as an archive.
        let mut load = Command::new("docker");
        load.args(["exec", "-i", &host.container, "docker", "load", "-q"]);
        send_base(load);
        host
    }

    fn add_ssh_entry(&self, ip: &str, key: &Path) {
        let path = ssh_config();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut config = std::fs::read_to_string(&path).unwrap_or_default();
        let (start, end) = marker(&self.alias);
        config.push_str(&format!(
            "\n{start}\nHost {}\n  HostName {ip}\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n{end}\n",
            self.alias,
            key.display()
        ));
        std::fs::write(&path, config).unwrap();
    }

    fn remove_ssh_entry(&self) {
        let path = ssh_config();
        let Ok(config) = std::fs::read_to_string(&path) else {
            return;
        };
        let (start, end) = marker(&self.alias);
        let (Some(a), Some(b)) = (config.find(&start), config.find(&end)) else {
            return;
        };
        let kept = format!(
            "{}{}",
            config[..a].trim_end_matches('\n'),
            &config[b + end.len()..]
        );
        std::fs::write(&path, kept).unwrap();
    }

    /// dockerd answers through ssh, as bb will reach it.
    fn wait_answers(&self) {
        let start = Instant::now();
        loop {
            let o = Command::new("docker")
                .args(["-H", &self.url, "info", "--format", "{{.ServerVersion}}"])
                .output()
                .unwrap();
            if o.status.success() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the engine host never answered over ssh: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// `docker ARGS` on this engine.
    pub fn docker(&self, args: &[&str]) -> String {
        docker_on(Some(&self.url), args)
    }

    /// Freeze the host (its sshd and dockerd), as a machine that stops
    /// answering; `resume` thaws it.
    pub fn freeze(&self) {
        docker(&["pause", &self.container]);
    }

    pub fn resume(&self) {
        docker(&["unpause", &self.container]);
    }
}

impl Drop for EngineHost {
    fn drop(&mut self) {
        docker(&["unpause", &self.container]);
        docker(&["rm", "-f", "-v", &self.container]);
        docker(&["volume", "rm", "-f", &self.volume]);
        self.remove_ssh_entry();
    }
}

/// Podman serving Docker's API on a socket of its own (rootful), with
/// the base image loaded; stopped and its bottles' leftovers checked by
/// the test, its storage left as Podman keeps it.
pub struct Podman {
    service: Child,
    _dir: tempfile::TempDir,
    /// `unix://…/podman.sock`.
    pub url: String,
    /// The firewall rule added for its bridges, to remove.
    forward: Option<[&'static str; 10]>,
}

impl Podman {
    /// None when podman is not installed (CI installs it).
    pub fn start() -> Option<Podman> {
        if Command::new("podman").arg("--version").output().is_err() {
            if std::env::var_os("BB_REQUIRE_DOCKER").is_some() {
                panic!("podman is not installed and BB_REQUIRE_DOCKER is set");
            }
            eprintln!("SKIPPED: podman is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("containers.conf");
        // This machine lacks CAP_SYS_RESOURCE: default ulimits within
        // its hard limits.
        std::fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\n",
        )
        .unwrap();
        // Where Docker runs too, its FORWARD policy (DROP) also stops
        // traffic inside Podman's internal networks (br_netfilter), which
        // netavark does not accept: between containers of one bridge it
        // goes. Removed on drop.
        let forward = [
            "FORWARD",
            "-m",
            "physdev",
            "--physdev-is-bridged",
            "-i",
            "podman+",
            "-o",
            "podman+",
            "-j",
            "ACCEPT",
        ];
        let added = Command::new("iptables")
            .arg("-I")
            .args(forward)
            .status()
            .is_ok_and(|s| s.success());
        let socket = dir.path().join("podman.sock");
        let url = format!("unix://{}", socket.display());
        let service = Command::new("podman")
            .args(["system", "service", "--time=0", &url])
            .env("CONTAINERS_CONF", &conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let podman = Podman {
            service,
            _dir: dir,
            url,
            forward: added.then_some(forward),
        };
        let start = Instant::now();
        while podman
            .docker(&["version", "--format", "{{.Server.Version}}"])
            .is_empty()
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "podman's socket never answered"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut load = Command::new("podman");
        load.args(["load", "-q"])
            .env("CONTAINERS_CONF", conf_of(&podman));
        send_base(load);
        Some(podman)
    }

    /// `docker ARGS` against Podman's socket.
    pub fn docker(&self, args: &[&str]) -> String {
        docker_on(Some(&self.url), args)
    }
}

/// `docker save` of the base image into `load`'s stdin.
fn send_base(mut load: Command) {
    let mut save = Command::new("docker")
        .args(["save", BASE])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let loaded = load.stdin(save.stdout.take().unwrap()).output().unwrap();
    assert!(save.wait().unwrap().success(), "docker save {BASE}");
    assert!(
        loaded.status.success(),
        "{load:?}: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

fn conf_of(p: &Podman) -> PathBuf {
    p._dir.path().join("containers.conf")
}

impl Drop for Podman {
    fn drop(&mut self) {
        if let Some(rule) = self.forward {
            let _ = Command::new("iptables").arg("-D").args(rule).status();
        }
        let _ = self.service.kill();
        let _ = self.service.wait();
    }
}
