//! Escape class: the network. From inside a real bottle's agent container,
//! as the agent, nothing answers but the bottle's own bundle: not the Docker
//! host on any of its addresses (the bottle's bridges, docker0, the host's
//! own), not another bottle. (The metadata address is the egress proxy's
//! SSRF guard's job, tested in sidecars/tests/egress.rs.)
//!
//! Every address tried belongs to this machine (its bridges and its own
//! interfaces) or is Docker-internal; nothing leaves it.

mod support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::docker::{docker, docker_ok, Env};

static SERIAL: Mutex<()> = Mutex::new(());

/// The host's IPv4 addresses on every interface but loopback.
fn host_addresses() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let dev = f.nth(1)?;
            let addr = f.nth(1)?.split('/').next()?.to_string();
            (dev != "lo").then_some(addr)
        })
        .collect()
}

fn gateway(network: &str) -> String {
    docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        network,
    ])
}

fn ip_on(container: &str, network: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        container,
    ])
}

/// Try a TCP connection to each `addr:port` from inside the agent; the
/// ones that connected.
fn reachable_from(agent: &str, targets: &[(String, u16)]) -> Vec<String> {
    let script: String = targets
        .iter()
        .map(|(a, p)| {
            format!(
                "timeout 3 bash -c 'echo hi > /dev/tcp/{a}/{p}' 2>/dev/null && echo OPEN {a}:{p}; "
            )
        })
        .collect();
    docker(&["exec", "-u", "node", agent, "bash", "-c", &script])
        .lines()
        .filter_map(|l| l.strip_prefix("OPEN ").map(String::from))
        .collect()
}

#[test]
fn the_agent_reaches_its_bundle_and_nothing_else() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let slug = env.start();
    let other = env.start();

    // A listener on every address of the host.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });

    let agent = format!("bb-{slug}");
    // The bundle's ports are the way out, and they answer.
    let bundle_ports = [9099u16, 9100];
    let open = reachable_from(
        &agent,
        &bundle_ports
            .iter()
            .map(|p| ("sidecars".to_string(), *p))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        open.len(),
        bundle_ports.len(),
        "the bundle answers: {open:?}"
    );

    let mut hosts: Vec<String> = vec![
        gateway(&format!("bb-{slug}-internal")),
        gateway(&format!("bb-{slug}-egress")),
        gateway("bridge"),
    ];
    hosts.extend(host_addresses());
    hosts.retain(|h| !h.is_empty());
    hosts.sort();
    hosts.dedup();
    let mut targets: Vec<(String, u16)> = hosts.iter().map(|h| (h.clone(), port)).collect();
    // The host's other services too (Docker's API on 2375, SSH).
    for h in &hosts {
        targets.extend([(h.clone(), 22), (h.clone(), 2375)]);
    }
    // Another bottle: its bundle and its agent.
    let other_internal = format!("bb-{other}-internal");
    for c in [format!("bb-sidecars-{other}"), format!("bb-{other}")] {
        let ip = ip_on(&c, &other_internal);
        assert!(!ip.is_empty(), "{c} has an address on {other_internal}");
        targets.extend([(ip.clone(), 9099), (ip, 9100)]);
    }
    let open = reachable_from(&agent, &targets);
    assert!(
        open.is_empty(),
        "the agent reached {open:?} (tried {targets:?})"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the host listener was reached"
    );
}
