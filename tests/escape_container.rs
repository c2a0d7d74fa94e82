//! Escape class: the agent's container. Nothing inside it can gain
//! privileges: no capabilities (not even for root), no setuid or
//! file-capability escalation, and ceilings on memory and processes.

mod support;

use std::sync::Mutex;

use support::docker::{docker, docker_ok, Env};

static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn the_agent_container_grants_no_privilege_and_has_ceilings() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let slug = env.start();
    let agent = format!("bb-{slug}");
    let status = |user: &str| docker(&["exec", "-u", user, &agent, "cat", "/proc/self/status"]);
    for user in ["node", "root"] {
        let s = status(user);
        let field = |name: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        // gVisor's /proc has no NoNewPrivs line; the setuid check below
        // tests the flag's effect there.
        let nnp = field("NoNewPrivs:");
        assert!(nnp.is_empty() || nnp == "1", "{user}: {s}");
        for cap in ["CapEff:", "CapPrm:", "CapBnd:"] {
            assert_eq!(field(cap), "0000000000000000", "{user} {cap}: {s}");
        }
    }
    // Even root in the container cannot take a file that is not its own.
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            "-u",
            "root",
            &agent,
            "chown",
            "root",
            "/home/node/workspace",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "root kept CAP_CHOWN");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A setuid binary runs with the caller's rights.
    let su = docker(&[
        "exec",
        "-u",
        "node",
        &agent,
        "sh",
        "-c",
        "ls -l /bin/su; su -c id root </dev/null 2>&1; true",
    ]);
    assert!(!su.contains("uid=0"), "{su}");
    let limits = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.SecurityOpt}} {{.HostConfig.CapDrop}}",
        &agent,
    ]);
    assert_eq!(
        limits,
        format!(
            "{} 4096 [no-new-privileges:true] [ALL]",
            8192u64 * 1024 * 1024
        )
    );
    // With gVisor registered (CI's gVisor pass), the agent and its bundle
    // run under it.
    let gvisor = docker(&["info", "--format", "{{json .Runtimes}}"]).contains("\"runsc\"");
    let runtime = |c: &str| docker(&["inspect", "-f", "{{.HostConfig.Runtime}}", c]);
    let expected = if gvisor { "runsc" } else { "runc" };
    assert_eq!(runtime(&agent), expected);
    assert_eq!(runtime(&format!("bb-sidecars-{slug}")), expected);
    if std::env::var_os("BB_EXPECT_GVISOR").is_some() {
        assert!(gvisor, "BB_EXPECT_GVISOR is set but Docker has no runsc");
        // The agent talks to gVisor's kernel, not the host's.
        let dmesg = docker(&["exec", &agent, "sh", "-c", "dmesg 2>&1 | head -1"]);
        assert!(dmesg.contains("Starting gVisor"), "{dmesg}");
    }
    // bb's own root step, trusting the bottle CA, still worked.
    assert!(
        docker(&[
            "exec",
            &agent,
            "sh",
            "-c",
            "grep -c BEGIN /etc/ssl/certs/ca-certificates.crt"
        ])
        .parse::<u32>()
        .unwrap_or(0)
            > 0
    );
}
