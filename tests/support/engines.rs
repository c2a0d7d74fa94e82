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
    /// With `start_tls`: `tcp://<address>:2376`, verified both ways.
    pub tls_url: Option<String>,
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
        Self::start_with(false)
    }

    /// One whose dockerd also serves `tcp://…:2376` with TLS both ways:
    /// a CA of the test's own signs the server's certificate (for the
    /// container's address) and a client's, whose `ca.pem`, `cert.pem`
    /// and `key.pem` are in `tls_client_dir()`, as `docker --tlsverify`
    /// and bb's `tls:` read them.
    pub fn start_tls() -> EngineHost {
        Self::start_with(true)
    }

    /// The client's certificates for `tls_url`.
    pub fn tls_client_dir(&self) -> PathBuf {
        self._keys.path().join("tls")
    }

    fn start_with(tls: bool) -> EngineHost {
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
            .args(["-e", if tls { "TLS=1" } else { "TLS=0" }])
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
        let tls_url = tls.then(|| {
            write_tls(&container, &ip, &keys.path().join("tls"));
            format!("tcp://{ip}:2376")
        });
        let host = EngineHost {
            url: format!("ssh://{alias}"),
            tls_url,
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

/// A CA, the server's certificate for `ip` (into the host's
/// /etc/docker/tls, which its entrypoint waits for) and a client's (into
/// `client`).
fn write_tls(container: &str, ip: &str, client: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        SanType,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(Vec::<String>::new()).unwrap();
    server.subject_alt_names = vec![SanType::IpAddress(ip.parse().unwrap())];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = params.signed_by(&client_key, &issuer).unwrap();

    std::fs::create_dir_all(client).unwrap();
    std::fs::write(client.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(client.join("cert.pem"), client_cert.pem()).unwrap();
    std::fs::write(client.join("key.pem"), client_key.serialize_pem()).unwrap();
    // The key last: the entrypoint starts dockerd once it is there.
    for (name, pem) in [
        ("ca.pem", ca_cert.pem()),
        ("cert.pem", server_cert.pem()),
        ("key.pem", server_key.serialize_pem()),
    ] {
        let mut put = Command::new("docker")
            .args(["exec", "-i", container, "sh", "-c"])
            .arg(format!("mkdir -p /etc/docker/tls && cat > /etc/docker/tls/{name}.part && mv /etc/docker/tls/{name}.part /etc/docker/tls/{name}"))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        put.stdin.take().unwrap().write_all(pem.as_bytes()).unwrap();
        assert!(
            put.wait().unwrap().success(),
            "writing {name} into the engine host"
        );
    }
}

/// In `into`: `from`'s ca.pem (so the server is trusted) beside a client
/// certificate and key signed by a CA of its own, which the engine
/// refuses.
pub fn write_client_of_another_ca(from: &Path, into: &Path) {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key).unwrap();
    std::fs::create_dir_all(into).unwrap();
    std::fs::copy(from.join("ca.pem"), into.join("ca.pem")).unwrap();
    std::fs::write(into.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(into.join("key.pem"), key.serialize_pem()).unwrap();
}

impl Drop for EngineHost {
    fn drop(&mut self) {
        docker(&["unpause", &self.container]);
        docker(&["rm", "-f", "-v", &self.container]);
        docker(&["volume", "rm", "-f", &self.volume]);
        self.remove_ssh_entry();
    }
}

/// Podman serving Docker's API on a socket of its own, rootful or rootless
/// (as an account of its own), with the base image loaded; stopped and
/// its bottles' leftovers checked by the test. Rootful, its storage is
/// left as Podman keeps it; rootless, the account's storage is reset.
pub struct Podman {
    service: Child,
    dir: tempfile::TempDir,
    /// `unix://…/podman.sock`.
    pub url: String,
    /// The firewall rule added for its bridges, to remove.
    forward: Option<[&'static str; 10]>,
    rootless: Option<Rootless>,
}

/// The account a rootless Podman runs as, and what the test changed for it.
struct Rootless {
    uid: u32,
    gid: u32,
    /// /dev/net/tun's mode before the test opened it to everyone.
    tun_mode: Option<u32>,
}

/// The account rootless Podman runs as (made by the test when missing).
const ROOTLESS_USER: &str = "bb-rootless";

impl Podman {
    /// Rootful: Podman as root. None when podman is not installed (CI
    /// installs it).
    pub fn start() -> Option<Podman> {
        Self::start_as(false)
    }

    /// Rootless: Podman as an unprivileged account with its own subuids,
    /// user namespace and slirp4netns networking, as a desktop user runs it.
    pub fn start_rootless() -> Option<Podman> {
        Self::start_as(true)
    }

    fn start_as(rootless: bool) -> Option<Podman> {
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
        let rootless = rootless.then(|| Rootless::prepare(dir.path()));
        // Where Docker runs too, its FORWARD policy (DROP) also stops
        // traffic inside rootful Podman's internal networks
        // (br_netfilter), which netavark does not accept: between
        // containers of one bridge it goes. Removed on drop. Rootless
        // bridges live in the account's own network namespace.
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
        let added = rootless.is_none()
            && Command::new("iptables")
                .arg("-I")
                .args(forward)
                .status()
                .is_ok_and(|s| s.success());
        let socket = dir.path().join("podman.sock");
        let url = format!("unix://{}", socket.display());
        let service = podman_command(dir.path(), rootless.as_ref())
            .args(["system", "service", "--time=0", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let podman = Podman {
            service,
            dir,
            url,
            forward: added.then_some(forward),
            rootless,
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
        if podman.rootless.is_some() {
            let info = podman
                .command()
                .args(["info", "--format", "{{.Host.Security.Rootless}}"])
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&info.stdout);
            assert_eq!(said.trim(), "true", "podman is not rootless");
        }
        let mut load = podman.command();
        load.args(["load", "-q"]);
        send_base(load);
        Some(podman)
    }

    fn command(&self) -> Command {
        podman_command(self.dir.path(), self.rootless.as_ref())
    }

    /// `docker ARGS` against Podman's socket.
    pub fn docker(&self, args: &[&str]) -> String {
        docker_on(Some(&self.url), args)
    }
}

/// `podman` as the service in `dir` runs it: its account, runtime dir and
/// containers.conf.
fn podman_command(dir: &Path, rootless: Option<&Rootless>) -> Command {
    let conf = dir.join("containers.conf");
    let Some(r) = rootless else {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", conf);
        return c;
    };
    // setpriv execs podman itself, so killing the child stops it.
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={}", r.uid))
        .arg(format!("--regid={}", r.gid))
        .args(["--init-groups", "env"])
        .arg(format!("HOME=/home/{ROOTLESS_USER}"))
        .arg(format!("USER={ROOTLESS_USER}"))
        .arg(format!("XDG_RUNTIME_DIR={}", dir.join("run").display()))
        .arg(format!("CONTAINERS_CONF={}", conf.display()))
        .arg("podman");
    c.current_dir("/");
    c
}

impl Rootless {
    /// The account (with subordinate ids), a runtime dir of its own in
    /// `dir`, and /dev/net/tun usable by it, as on a desktop.
    fn prepare(dir: &Path) -> Rootless {
        use std::os::unix::fs::{chown, PermissionsExt};
        if !Command::new("id")
            .arg(ROOTLESS_USER)
            .output()
            .unwrap()
            .status
            .success()
        {
            let made = Command::new("useradd")
                .args(["-m", "-s", "/bin/sh", ROOTLESS_USER])
                .status()
                .unwrap();
            assert!(made.success(), "useradd {ROOTLESS_USER}");
        }
        let subuids = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        if !subuids
            .lines()
            .any(|l| l.starts_with(&format!("{ROOTLESS_USER}:")))
        {
            let added = Command::new("usermod")
                .args(["--add-subuids", "300000-365535"])
                .args(["--add-subgids", "300000-365535", ROOTLESS_USER])
                .status()
                .unwrap();
            assert!(added.success(), "usermod --add-subuids {ROOTLESS_USER}");
        }
        let id = |flag: &str| -> u32 {
            let o = Command::new("id")
                .args([flag, ROOTLESS_USER])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        // The account reaches its socket, config and runtime dir here
        // (the runtime dir not under /run/user: this machine's /run is no
        // place podman can bind its rootless network namespace from).
        chown(dir, Some(uid), Some(gid)).unwrap();
        let run = dir.join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        chown(&run, Some(uid), Some(gid)).unwrap();
        chown(dir.join("containers.conf"), Some(uid), Some(gid)).unwrap();
        // Distributions leave /dev/net/tun open to all (slirp4netns opens
        // it as the account); this machine's is root's alone.
        let tun = Path::new("/dev/net/tun");
        let mode = std::fs::metadata(tun).unwrap().permissions().mode() & 0o7777;
        let tun_mode = (mode & 0o006 != 0o006).then(|| {
            std::fs::set_permissions(tun, std::fs::Permissions::from_mode(0o666)).unwrap();
            mode
        });
        Rootless { uid, gid, tun_mode }
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

impl Drop for Podman {
    fn drop(&mut self) {
        if let Some(rule) = self.forward {
            let _ = Command::new("iptables").arg("-D").args(rule).status();
        }
        let _ = self.service.kill();
        let _ = self.service.wait();
        if let Some(r) = &self.rootless {
            // The account's storage (vfs copies every layer) and what
            // keeps its namespaces alive (pause process, slirp4netns).
            let _ = self
                .command()
                .args(["system", "reset", "-f"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = Command::new("pkill")
                .args(["-KILL", "-u", &r.uid.to_string()])
                .status();
            if let Some(mode) = r.tun_mode {
                use std::os::unix::fs::PermissionsExt;
                let _ =
                    std::fs::set_permissions("/dev/net/tun", std::fs::Permissions::from_mode(mode));
            }
        }
    }
}
