//! `bb-sidecar egress` as a process: SIGHUP takes a new allowlist while a
//! tunnel opened before the reload keeps working.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::json;
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn sighup_reloads_the_allowlist_and_open_tunnels_survive() {
    let s = Setup::new();
    let up = Upstream::start(Some(server_tls(&s.upstream_ca))).await;
    let plain = Upstream::start(None).await;
    let passthrough = json!({"host": "localhost", "tls_passthrough": true, "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "ports": [up.addr.port()]});
    let path = s.write_config(json!([passthrough]), json!({}));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bb-sidecar"))
        .args(["egress", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let proxy: SocketAddr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("egress printed nothing");
        if let Some(addr) = line.strip_prefix("bb-sidecar egress: listening on ") {
            break addr.parse().unwrap();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    // A tunnel opened before the reload, with one request on it.
    let target = format!("localhost:{}", up.addr.port());
    let (tunnel, status) = connect(proxy, &target).await;
    assert_eq!(status, 200);
    let connector = tokio_rustls::TlsConnector::from(client_tls(&s.upstream_ca.cert_pem));
    let mut tls = connector
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tunnel,
        )
        .await
        .unwrap();
    tls.write_all(format!("GET /before HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("GET /before"));

    let direct = format!("http://127.0.0.1:{}/after", plain.addr.port());
    let (status, _) = get(proxy, &direct, "").await;
    assert_eq!(status, 403, "not allowed before the reload");

    s.write_config(
        json!([passthrough, {"host": "127.0.0.1", "ssrf_ip_allowlist": ["127.0.0.1/32"], "ports": [plain.addr.port()]}]),
        json!({}),
    );
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    let mut status = 0;
    for _ in 0..200 {
        status = get(proxy, &direct, "").await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "allowed after the reload");

    // The old tunnel still carries requests.
    tls.write_all(
        format!("GET /still-open HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    assert!(String::from_utf8_lossy(&out).contains("GET /still-open"));
    let _ = child.kill().await;
}
