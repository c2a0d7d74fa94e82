//! Escape class: secrets inside the sidecar bundle. init holds them (they
//! arrive on its stdin, never in a config or on a disk) and runs each
//! daemon as its own user with only its own, so a bug in one daemon —
//! supervise answers the agent — reaches no other's memory, environment,
//! keys or files.

mod support;

use std::sync::Mutex;

use support::docker::{bundle_stat, docker, docker_ok, left_behind, Env};

static SERIAL: Mutex<()> = Mutex::new(());

/// Run `script` in the bundle as `user`; stdout and stderr together.
fn as_user(bundle: &str, user: &str, script: &str) -> String {
    docker(&[
        "exec",
        "-u",
        user,
        bundle,
        "sh",
        "-c",
        &format!("{{ {script}; }} 2>&1; true"),
    ])
}

#[test]
fn each_daemon_is_its_own_user_and_reaches_no_others_secrets() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let slug = env.start();
    let bundle = format!("bb-sidecars-{slug}");
    let pid = |daemon: &str| {
        as_user(
            &bundle,
            "root",
            &format!(
                "for p in /proc/[0-9]*; do [ \"$(tr '\\0' ' ' < $p/cmdline)\" = '/usr/local/bin/bb-sidecar {daemon} ' ] && basename $p; done"
            ),
        )
    };
    let status = |pid: &str, field: &str| {
        as_user(
            &bundle,
            "root",
            &format!("grep '^{field}:' /proc/{pid}/status"),
        )
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
    };
    let egress = pid("egress");
    let supervise = pid("supervise");
    assert!(
        !egress.is_empty() && !supervise.is_empty(),
        "{egress} {supervise}"
    );
    assert_eq!(status(&egress, "Uid"), "10901");
    assert_eq!(status(&supervise, "Uid"), "10903");
    assert_eq!(status("1", "Uid"), "0", "init starts as root to drop each");
    // init keeps only what it needs to start and signal the daemons; they
    // keep no capability at all.
    for p in [egress.as_str(), supervise.as_str()] {
        let eff = status(p, "CapEff");
        assert!(eff.is_empty() || eff == "0000000000000000", "{p}: {eff}");
    }
    let bnd = status("1", "CapBnd");
    assert!(bnd.is_empty() || bnd == "00000000000000e1", "init: {bnd}");

    // Egress holds the route token in memory only: no environment has it
    // (every process a daemon starts would inherit one). Its own user (in
    // the state dir's group, as init runs it) can read its environment, so
    // the refusals below are about the user, not about /proc...
    let egress_user = "10901:10900".to_string();
    let environ = |user: &str, pid: &str| {
        as_user(
            &bundle,
            user,
            &format!("tr '\\0' '\\n' < /proc/{pid}/environ"),
        )
    };
    let own = environ(&egress_user, &egress);
    assert!(own.contains("BB_SLUG="), "{own}");
    for daemon in [&egress, &supervise] {
        assert!(
            !environ("root", daemon).contains("s3cr3t"),
            "no secret in an environment"
        );
    }
    // ...but supervise cannot read egress's environment or memory, nor
    // init's, nor egress's runtime dir, nor the gate's mirrors. (gVisor's
    // /proc lets another user read an environment; there is no secret in
    // it, and the memory stays closed.)
    let gvisor = docker(&["inspect", "-f", "{{.HostConfig.Runtime}}", &bundle]) == "runsc";
    let denied = environ("bb-supervise", &egress);
    assert!(!denied.contains("s3cr3t"), "{denied}");
    assert!(gvisor || denied.contains("Permission denied"), "{denied}");
    let mem = as_user(
        &bundle,
        "bb-supervise",
        &format!("head -c 1 /proc/{egress}/mem"),
    );
    assert!(mem.contains("Permission denied"), "{mem}");
    let denied = environ("bb-supervise", "1");
    assert!(gvisor || denied.contains("Permission denied"), "{denied}");
    for dir in ["/run/bb/egress", "/var/lib/bb-gate"] {
        let out = as_user(&bundle, "bb-supervise", &format!("ls {dir}"));
        assert!(out.contains("Permission denied"), "{dir}: {out}");
    }
    // In the state dir, no daemon can remove or replace what is not its
    // own: not the audit log, not bb's metadata.
    for file in ["audit.jsonl", "metadata.json"] {
        let out = as_user(
            &bundle,
            "bb-supervise",
            &format!("rm -f /var/lib/bb/{file} && echo removed"),
        );
        assert!(!out.contains("removed"), "{file}: {out}");
    }
    assert_eq!(
        bundle_stat(&slug, "%u %a", "/var/lib/bb/audit.jsonl"),
        "10901 640"
    );
    // No secret in the container's config or its writable layer.
    assert!(!docker(&["inspect", &bundle]).contains("s3cr3t"));
    assert!(!as_user(&bundle, "root", "env").contains("s3cr3t"));

    let o = env.bb(&["stop", &slug]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The daemons' files went with the state volume.
    assert_eq!(left_behind(&slug), "");
}
