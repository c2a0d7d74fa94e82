//! The smolmachines backend against the real Docker engine and the real
//! smolvm CLI. No micro-VM boots on a host without hardware KVM (see
//! ../shared/tools/smolvm/README.md), so:
//! - `bb start --backend smolmachines` on such a host must refuse in one
//!   line and make nothing;
//! - a launch is run up to the boot by a stand-in `smolvm` that passes every
//!   verb to the real CLI except `machine start`, where it writes down what
//!   the launch made and then fails as a host that cannot boot does. What
//!   the launch made is checked there, and that all of it is gone after.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bb::backend::smolmachines::cli::Smolvm;
use bb::backend::smolmachines::{probe, SmolBackend};
use bb::backend::Backend;
use bb::plan::BackendKind;
use support::docker::{docker, docker_ok, left_behind, Env};

/// Docker tests share images and build them; one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The real CLI, or None (and why) where it is not installed. Under CI it
/// must be.
fn real_smolvm() -> Option<PathBuf> {
    match probe::locate(
        std::env::var("BB_SMOLVM").ok().as_deref(),
        std::env::var("PATH").ok().as_deref(),
    ) {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI installs smolvm (BB_SMOLVM); it is not there")
        }
        None => {
            eprintln!("skipped: smolvm is not installed (pip install smolmachines, or BB_SMOLVM)");
            None
        }
    }
}

/// A bb home with the fake agent, this process's environment set as bb
/// would see it there, and the agent's plan for a micro-VM.
fn faker_plan() -> (Env, bb::plan::BottlePlan) {
    let env = Env::new("");
    for (k, v) in env.envs() {
        std::env::set_var(k, v);
    }
    let ctx = bb::cli::Ctx {
        home: env.home(),
        user_home: env.dir.path().to_path_buf(),
        cwd: env.project(),
    };
    let ws = bb::cli::bottles::WorkspaceArgs {
        cwd: None,
        no_workspace: false,
    };
    let plan = bb::cli::bottles::plan_for(&ctx, "faker", &ws, BackendKind::Smolmachines).unwrap();
    (env, plan)
}

#[test]
fn starting_where_no_vm_can_boot_says_why_in_one_line_and_makes_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    if probe::usable().is_ok() {
        eprintln!("skipped: smolvm can boot VMs on this host");
        return;
    }
    let env = Env::new("");
    let o = env.bb(&["start", "faker", "--yes", "--backend", "smolmachines"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("the smolmachines backend cannot run here: "),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(env.slugs().is_empty(), "something was made: {err}");
}

/// The stand-in smolvm: every verb goes to the real CLI except `machine
/// start` and `machine exec`, which need a VM. `start` writes down what
/// the launch made by then (the bundle's ports and networks, whether the
/// image archive is there, the real `ls --json`), then fails as a host that
/// cannot boot does when `boots` is false, or succeeds. `exec` records its
/// argv, and its stdin when it has one (`--interactive`), and succeeds.
fn stand_in(
    dir: &Path,
    real: &Path,
    state_dir: &Path,
    slug: &str,
    archive: &Path,
    boots: bool,
) -> Smolvm {
    let program = dir.join("smolvm");
    let start = if boots {
        "exit 0".to_string()
    } else {
        "echo 'Error: boot process exited (code 1) before the agent was ready' >&2; exit 1"
            .to_string()
    };
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\n\
             d='{dir}'\n\
             case \" $* \" in\n\
             *' machine start '*)\n\
               docker inspect -f '{{{{json .HostConfig.PortBindings}}}} {{{{range $k, $v := .NetworkSettings.Networks}}}}{{{{$k}}}} {{{{end}}}}' bb-sidecars-{slug} > \"$d/seen\"\n\
               test -s '{archive}' && echo archive-saved >> \"$d/seen\"\n\
               '{real}' --state-dir '{sd}' machine ls --json >> \"$d/seen\"\n\
               {start} ;;\n\
             *' machine exec '*' --interactive '*)\n\
               n=$(ls \"$d\" | grep -c '^seed-')\n\
               echo \"$*\" >> \"$d/exec.log\"\n\
               cat > \"$d/seed-$n.tar\"; exit 0 ;;\n\
             *' machine exec '*' --user node -- sh -c '*)\n\
               echo \"$*\" >> \"$d/exec.log\"; printf 'guest\\000bytes'; exit 0 ;;\n\
             *' machine exec '*)\n\
               echo \"$*\" >> \"$d/exec.log\"; exit 0 ;;\n\
             esac\n\
             exec '{real}' \"$@\"\n",
            dir = dir.display(),
            archive = archive.display(),
            real = real.display(),
            sd = state_dir.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    Smolvm {
        program,
        state_dir: Some(state_dir.to_path_buf()),
    }
}

/// What the stand-in saw at `machine start`: the address the bundle is
/// published on, after checking the bundle, archive and machine.
fn check_at_boot(dir: &Path, slug: &str) -> String {
    // The bundle on its own bridge only, the proxy, gate and supervise
    // ports published on one 127.77.x.y address; the agent image saved;
    // the machine allowed that address alone.
    let seen = std::fs::read_to_string(dir.join("seen")).unwrap();
    let addr = seen
        .split("\"HostIp\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    assert!(addr.starts_with("127.77."), "{seen}");
    for port in ["9099/tcp", "9420/tcp", "9100/tcp"] {
        assert!(
            seen.contains(&format!("\"{port}\":[{{\"HostIp\":\"{addr}\"")),
            "{port}: {seen}"
        );
    }
    assert_eq!(seen.matches("HostIp").count(), 3, "{seen}");
    assert!(
        seen.contains(&format!("}} bb-{slug}-egress \n")),
        "the bundle is on its own bridge alone: {seen}"
    );
    assert!(seen.contains("archive-saved"), "{seen}");
    let machines = seen.lines().skip(2).collect::<Vec<_>>().join("\n");
    let listed: serde_json::Value = serde_json::from_str(&machines).unwrap();
    let m = &listed[0];
    assert_eq!(m["name"], format!("bb-{slug}"), "{machines}");
    assert_eq!(
        m["allowed_cidrs"],
        serde_json::json!([format!("{addr}/32")])
    );
    assert_eq!(m["labels"]["bb.slug"], slug);
    assert_eq!(m["labels"]["bb.address"], addr.as_str());
    addr
}

/// Nothing of the bottle in Docker, in smolvm or on disk.
fn check_nothing_left(real: &Path, state_dir: &Path, slug: &str, state: &Path) {
    assert_eq!(left_behind(slug), "", "left in Docker");
    let out = std::process::Command::new(real)
        .arg("--state-dir")
        .arg(state_dir)
        .args(["machine", "ls", "--json"])
        .output()
        .unwrap();
    let after: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::json!([]));
    assert_eq!(after, serde_json::json!([]), "machines left");
    assert!(!state.exists(), "scratch dir left: {}", state.display());
}

/// The names in a tar archive.
fn tar_names(path: &Path) -> Vec<String> {
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// A faker bottle's plan and a backend whose smolvm is the stand-in.
struct StandIn {
    env: Env,
    plan: bb::plan::BottlePlan,
    slug: String,
    /// The bottle's state dir.
    state: PathBuf,
    /// smolvm's state dir.
    state_dir: PathBuf,
    /// Where the stand-in writes what it saw.
    dir: PathBuf,
    backend: SmolBackend,
}

impl StandIn {
    fn new(real: &Path, boots: bool) -> StandIn {
        let (env, plan) = faker_plan();
        let slug = plan.slug.clone();
        // The launch's scratch dir, where the image archive waits for smolvm.
        let state = env.home().join("launching").join(format!("{slug}.d"));
        let state_dir = env.dir.path().join("smolvm-state");
        let dir = env.dir.path().join("stand-in");
        std::fs::create_dir_all(&dir).unwrap();
        let archive = state.join("agent-image.tar");
        let smolvm = stand_in(&dir, real, &state_dir, &slug, &archive, boots);
        let backend = SmolBackend::with(
            env.home(),
            env.dir.path().to_path_buf(),
            bb::backend::engines::local(),
            Some(smolvm),
        );
        StandIn {
            env,
            plan,
            slug,
            state,
            state_dir,
            dir,
            backend,
        }
    }
}

#[test]
fn a_launch_makes_the_bundle_image_and_machine_and_undoes_them_when_the_boot_fails() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let Some(real) = real_smolvm() else { return };
    let t = StandIn::new(&real, false);
    let (plan, slug, backend) = (&t.plan, t.slug.as_str(), &t.backend);
    let (state, state_dir, d) = (&t.state, &t.state_dir, &t.dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = rt.block_on(backend.launch(plan, tx));
    let mut notes = Vec::new();
    while let Ok(m) = rx.try_recv() {
        notes.push(m.to_string());
    }
    let err = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("smolvm machine start failed: Error: boot process exited"),
        "{err}\n{}",
        notes.join("\n")
    );
    check_at_boot(d, slug);
    check_nothing_left(&real, state_dir, slug, state);
}

#[test]
fn a_booted_machine_is_given_the_agents_files_and_is_listed_and_stopped() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let Some(real) = real_smolvm() else { return };
    let t = StandIn::new(&real, true);
    let (env, plan, slug, backend) = (&t.env, &t.plan, t.slug.as_str(), &t.backend);
    let (state, state_dir, d) = (&t.state, &t.state_dir, &t.dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let launched = rt.block_on(backend.launch(plan, tx));
    let stop = || rt.block_on(backend.stop(slug));
    let bottle = match launched {
        Ok(b) => b,
        Err(e) => {
            let _ = stop();
            panic!("launch: {e}");
        }
    };
    let addr = check_at_boot(d, slug);
    // The archive is in smolvm's store now: bb's copy is gone.
    assert!(!state.join("agent-image.tar").exists());
    // After boot, as root: the agent's files, its skill, the workspace.
    let log = std::fs::read_to_string(d.join("exec.log")).unwrap();
    let machine = format!("bb-{slug}");
    assert!(
        log.contains(&format!(
            "machine exec --name {machine} --interactive --user root -- tar -x -C /"
        )),
        "{log}"
    );
    let files = tar_names(&d.join("seed-0.tar"));
    for want in [
        "opt/bb/bb-console",
        "opt/bb/agent.sh",
        "usr/local/share/ca-certificates/bb-bottle.crt",
        "home/node/.bb/prompt.md",
        "home/node/.gitconfig",
    ] {
        assert!(files.iter().any(|f| f == want), "{want} not in {files:?}");
    }
    // Then the agent's skill, then the workspace.
    let skill = tar_names(&d.join("seed-1.tar"));
    assert!(
        skill
            .iter()
            .any(|f| f == "home/node/.claude/skills/review/SKILL.md"),
        "{skill:?}"
    );
    let work = tar_names(&d.join("seed-2.tar"));
    assert!(
        work.iter().any(|f| f == "home/node/workspace/src/lib.rs"),
        "{work:?}"
    );
    // Then the CA trusted and `sidecars` named, as root.
    assert!(
        log.lines().any(|l| l.contains("--user root -- sh -c")
            && l.contains("update-ca-certificates")
            && l.contains(&format!("{addr} sidecars"))),
        "{log}"
    );
    // Listed again from the machine's labels and the bundle's.
    let listed = rt.block_on(backend.list()).unwrap();
    let found = listed.iter().find(|b| b.slug == slug).expect("listed");
    assert_eq!(found.backend, BackendKind::Smolmachines);
    assert_eq!(found.agent, bottle.agent);
    assert_eq!(found.sidecars, bottle.sidecars);
    // The agent's work is read by running the snapshot in the machine as
    // its user, and comes back byte for byte (a git bundle is not text).
    let sent = rt
        .block_on(backend.send_work(slug, "faker", &["0123abc".to_string()]))
        .unwrap();
    assert_eq!(sent, b"guest\0bytes");
    let log = std::fs::read_to_string(d.join("exec.log")).unwrap();
    assert!(
        log.contains(&format!(
            "machine exec --name {machine} --user node -- sh -c"
        )) && log.contains("0123abc"),
        "{log}"
    );
    // Docker's cleanup leaves the bottle to its backend: its bundle,
    // network and state volume are not orphans.
    let cleanup = env.bb(&["cleanup", "--dry-run"]);
    let said = String::from_utf8_lossy(&cleanup.stdout).into_owned();
    assert!(!said.contains(slug), "{said}");
    // With its bundle gone (removed outside bb), its state volume still
    // belongs to the machine, not to Docker's cleanup.
    docker(&["rm", "-f", &format!("bb-sidecars-{slug}")]);
    let cleanup = env.bb(&["cleanup", "--dry-run"]);
    let said = String::from_utf8_lossy(&cleanup.stdout).into_owned();
    assert!(!said.contains(slug), "{said}");
    let listed = rt.block_on(backend.list()).unwrap();
    assert!(listed.iter().any(|b| b.slug == slug), "{listed:?}");
    stop().unwrap();
    check_nothing_left(&real, state_dir, slug, state);
}

/// Run `script` in the machine as root; whether it succeeded.
fn in_guest(s: &Smolvm, machine: &str, script: &str) -> bool {
    let argv = ["bash", "-c", script].map(String::from);
    std::process::Command::new(&s.program)
        .args(bb::backend::smolmachines::cli::exec(
            s,
            machine,
            Some("root"),
            &argv,
        ))
        .status()
        .map(|st| st.success())
        .unwrap_or(false)
}

/// A TCP connect from the guest, cut short after 3 s.
fn connects(s: &Smolvm, machine: &str, host: &str, port: u16) -> bool {
    in_guest(
        s,
        machine,
        &format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{host}/{port}'"),
    )
}

#[test]
fn a_bottle_boots_and_its_agent_reaches_its_bundles_published_ports_alone() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    if let Err(why) = probe::usable() {
        eprintln!("skipped: no micro-VM can boot here: {why}");
        return;
    }
    let Some(real) = real_smolvm() else { return };
    let (env, plan) = faker_plan();
    let slug = plan.slug.clone();
    let machine = format!("bb-{slug}");
    let s = Smolvm {
        program: real,
        state_dir: Some(env.dir.path().join("smolvm-state")),
    };
    let backend = SmolBackend::with(
        env.home(),
        env.dir.path().to_path_buf(),
        bb::backend::engines::local(),
        Some(s.clone()),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let launched = rt.block_on(backend.launch(&plan, tx));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let bottle = launched.as_ref().expect("launch");
        let listed = rt.block_on(backend.list()).unwrap();
        assert!(
            listed
                .iter()
                .any(|b| b.slug == slug && b.state == bb::backend::BottleState::Running),
            "{listed:?}"
        );
        // The agent starts in its session, at the pane's size.
        let spec = bb::backend::SessionSpec {
            id: 1,
            rows: 30,
            cols: 100,
            scrollback: 100,
            notify: std::sync::Arc::new(|_| {}),
        };
        let session = rt
            .block_on(backend.attach(bottle, bb::backend::Attach::Fresh, spec))
            .unwrap();
        support::eventually("the fake agent is ready", || {
            session.term.lock().text().contains("fake-agent ready")
        });
        session.kill();
        // Escape probes from inside the guest.
        assert!(connects(&s, &machine, "sidecars", 9099), "the proxy");
        let host_loopback = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = host_loopback.local_addr().unwrap().port();
        assert!(!connects(&s, &machine, "127.0.0.1", port), "host loopback");
        let egress_side = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &format!("bb-sidecars-{slug}"),
        ]);
        assert!(
            !connects(&s, &machine, &egress_side, 9099),
            "the bundle's egress-side address {egress_side}"
        );
    }));
    let stopped = rt.block_on(backend.stop(&slug));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    stopped.unwrap();
    assert_eq!(left_behind(&slug), "");
}
