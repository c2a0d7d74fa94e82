//! The proxy under load: upstream connections pooled (keep-alive requests
//! reuse one, every per-request check still runs), large bodies scanned as
//! they stream (never held whole, never half sent when refused), and idle
//! or slow clients shed rather than let them lock others out or take the
//! proxy down (the real binary, at a low file limit).

mod support;

use bytes::Bytes;
use serde_json::json;
use support::*;

#[tokio::test]
async fn keep_alive_requests_reuse_one_upstream_connection() {
    let s = Setup::new();
    let http_up = Upstream::start(None).await;
    let tls_up = Upstream::start(Some(server_tls(&s.upstream_ca))).await;
    let proxy = s
        .start_proxy(
            json!([{"host": "localhost", "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"],
                    "ports": [http_up.addr.port(), tls_up.addr.port()],
                    "path_allowlist": ["/ok/"]}]),
            json!({}),
        )
        .await;

    let mut plain = proxy_client(proxy).await;
    let url = format!("http://localhost:{}/ok/x", http_up.addr.port());
    let host = format!("localhost:{}", http_up.addr.port());
    for _ in 0..200 {
        assert_eq!(
            send(&mut plain, "GET", &url, &host, Bytes::new()).await.0,
            200
        );
    }
    assert_eq!(http_up.hits(), 200);
    assert_eq!(
        http_up
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one upstream connection for 200 keep-alive requests"
    );
    // Every request is still checked: a path outside the allowlist, and a
    // secret, on the same pooled connection.
    let denied = format!("http://localhost:{}/secret", http_up.addr.port());
    assert_eq!(
        send(&mut plain, "GET", &denied, &host, Bytes::new())
            .await
            .0,
        403
    );
    let body = Bytes::from_static(b"key=AKIAIOSFODNN7EXAMPLE");
    assert_eq!(send(&mut plain, "POST", &url, &host, body).await.0, 403);
    assert_eq!(http_up.hits(), 200);

    let target = format!("localhost:{}", tls_up.addr.port());
    let mut tls = tunnel_client(proxy, &target, &s.bottle_ca.cert_pem).await;
    for _ in 0..200 {
        assert_eq!(
            send(&mut tls, "GET", "/ok/y", &target, Bytes::new())
                .await
                .0,
            200
        );
    }
    assert_eq!(
        tls_up.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one upstream TLS connection for 200 intercepted requests"
    );
    assert_eq!(
        send(&mut tls, "GET", "/nope", &target, Bytes::new())
            .await
            .0,
        403
    );
}

/// An upstream that records the bodies it received whole.
async fn recording_upstream(s: &Setup) -> (Upstream, std::sync::Arc<std::sync::Mutex<Vec<usize>>>) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    let up = Upstream::start_with(
        Some(server_tls(&s.upstream_ca)),
        std::sync::Arc::new(move |r: Seen| {
            g.lock().unwrap().push(r.body.len());
            (200, format!("got {}", r.body.len()))
        }),
    )
    .await;
    (up, got)
}

#[tokio::test]
async fn large_bodies_stream_through_the_scan_and_a_secret_deep_inside_is_refused() {
    let s = Setup::new();
    let (up, got) = recording_upstream(&s).await;
    let proxy = s
        .start_proxy(
            json!([route("localhost", &[up.addr.port()])]),
            json!({"body_bytes": 32 * 1024 * 1024}),
        )
        .await;
    let target = format!("localhost:{}", up.addr.port());
    let text = "an ordinary line of a large upload, nothing secret in it\n".repeat(150_000);
    let mut c = tunnel_client(proxy, &target, &s.bottle_ca.cert_pem).await;
    let (status, _) = send(&mut c, "POST", "/up", &target, Bytes::from(text.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(
        *got.lock().unwrap(),
        vec![text.len()],
        "the clean body arrived whole"
    );

    // A key 7 MB in, and one split across where two scan windows meet:
    // refused, and the upstream never gets a whole request.
    for at in [7_000_000, 4 * 64 * 1024 - 10] {
        let mut body = text.clone();
        let at = (at..).find(|&i| body.is_char_boundary(i)).unwrap();
        body.insert_str(at, " AKIAIOSFODNN7EXAMPLE ");
        let mut c = tunnel_client(proxy, &target, &s.bottle_ca.cert_pem).await;
        let (status, _) = send(&mut c, "POST", "/up", &target, Bytes::from(body)).await;
        assert_eq!(status, 403, "key at {at}");
    }
    // The key inside base64 spanning many windows, as a file upload is.
    use base64::Engine;
    let mut secret_file = "config line\n".repeat(40_000);
    secret_file.push_str("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    secret_file.push_str(&"more config\n".repeat(40_000));
    let encoded = base64::engine::general_purpose::STANDARD.encode(&secret_file);
    let mut c = tunnel_client(proxy, &target, &s.bottle_ca.cert_pem).await;
    let (status, _) = send(&mut c, "POST", "/up", &target, Bytes::from(encoded)).await;
    assert_eq!(status, 403, "a key inside a long base64 run");
    // The upstream saw the refused requests break off (its reader gets an
    // error, recorded as 0 bytes), never a whole body.
    let got = got.lock().unwrap().clone();
    assert!(got[1..].iter().all(|n| *n == 0), "{got:?}");
}

#[tokio::test]
async fn the_body_cap_holds_for_streamed_and_declared_bodies() {
    let s = Setup::new();
    let (up, got) = recording_upstream(&s).await;
    let proxy = s
        .start_proxy(
            json!([route("localhost", &[up.addr.port()])]),
            json!({"body_bytes": 1024 * 1024}),
        )
        .await;
    let target = format!("localhost:{}", up.addr.port());
    let mut c = tunnel_client(proxy, &target, &s.bottle_ca.cert_pem).await;
    let big = Bytes::from(vec![b'x'; 2 * 1024 * 1024]);
    let (status, _) = send(&mut c, "POST", "/up", &target, big).await;
    assert_eq!(status, 413);
    // Chunked, so the length is learnt only as it streams.
    let (s2, status) = connect(proxy, &target).await;
    assert_eq!(status, 200);
    let tls = tokio_rustls::TlsConnector::from(client_tls(&s.bottle_ca.cert_pem))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            s2,
        )
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tls = tls;
    tls.write_all(
        format!("POST /up HTTP/1.1\r\nHost: {target}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let chunk = vec![b'y'; 64 * 1024];
    for _ in 0..40 {
        let head = format!("{:x}\r\n", chunk.len());
        if tls.write_all(head.as_bytes()).await.is_err()
            || tls.write_all(&chunk).await.is_err()
            || tls.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = tls.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 64];
    let n = tls.read(&mut answer).await.unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        got.lock().unwrap().is_empty(),
        "nothing over the cap arrived"
    );
}

#[tokio::test]
async fn idle_tunnels_past_the_file_limit_never_take_the_proxy_down() {
    raise_file_limit();
    let s = Setup::new();
    let up = Upstream::start(Some(server_tls(&s.upstream_ca))).await;
    // 256 descriptors: room for about 96 connections.
    let mut egress = spawn_egress(
        &s,
        json!([route("localhost", &[up.addr.port()])]),
        json!({}),
        Some(256),
    )
    .await;
    let target = format!("localhost:{}", up.addr.port());
    let mut idle = Vec::new();
    for _ in 0..1000 {
        let (stream, _) = connect(egress.addr, &target).await;
        idle.push(stream);
    }
    assert!(
        egress.alive(),
        "the proxy survived 1,000 tunnels on 256 descriptors"
    );
    // A steady client still gets through: idle tunnels make way.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for i in 0..30 {
        let mut c = tunnel_client(egress.addr, &target, &s.bottle_ca.cert_pem).await;
        assert_eq!(
            send(&mut c, "GET", "/steady", &target, Bytes::new())
                .await
                .0,
            200,
            "request {i}"
        );
    }
    assert!(egress.alive());
    drop(idle);
}

#[tokio::test]
async fn slowloris_connections_are_shed_with_408_and_a_steady_client_is_served() {
    raise_file_limit();
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let mut egress = spawn_egress(
        &s,
        json!([route("localhost", &[up.addr.port()])]),
        json!({"max_connections": 64}),
        None,
    )
    .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = format!("http://localhost:{}/", up.addr.port());
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut c = tokio::net::TcpStream::connect(egress.addr).await.unwrap();
        // Headers begun, never finished.
        let _ = c
            .write_all(format!("GET {url} HTTP/1.1\r\nHost: localhost\r\n").as_bytes())
            .await;
        slow.push(c);
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for i in 0..50 {
        assert_eq!(get(egress.addr, &url, "").await.0, 200, "request {i}");
    }
    // The oldest slow one was told why it was dropped.
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        slow[0].read(&mut answer),
    )
    .await
    .map(|r| r.unwrap_or(0))
    .unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(egress.alive());
}

#[tokio::test]
async fn a_stopped_proxy_has_written_every_request_it_served_to_the_audit_log() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let mut egress = spawn_egress(
        &s,
        json!([route("localhost", &[up.addr.port()])]),
        json!({}),
        None,
    )
    .await;
    let mut c = proxy_client(egress.addr).await;
    let url = format!("http://localhost:{}/served", up.addr.port());
    let host = format!("localhost:{}", up.addr.port());
    for _ in 0..50 {
        assert_eq!(send(&mut c, "GET", &url, &host, Bytes::new()).await.0, 200);
    }
    // Allowed requests are logged in batches; stopping writes what is held.
    let status = egress.terminate().expect("the proxy was running");
    assert!(status.success(), "egress exits cleanly on TERM: {status}");
    let served = audit_lines(&s.audit_path())
        .iter()
        .filter(|r| r["decision"] == "allowed" && r["path"] == "/served")
        .count();
    assert_eq!(served, 50);
}
