//! The egress proxy against local upstreams, with no Docker: the allowlist,
//! DLP, credential injection, TLS interception and passthrough, the SSRF
//! guard, reload, and misbehaving clients.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use tokio::io::AsyncWriteExt;

const MARKER: &str = "bb egress blocked this request";

#[tokio::test]
async fn allowlisted_hosts_pass_others_and_ip_literals_are_refused() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let proxy = s.start_proxy(json!([route("localhost")]), json!({})).await;
    let port = up.addr.port();

    let (status, body) = get(proxy, &format!("http://localhost:{port}/ok?x=1"), "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("GET /ok?x=1"),
        "origin-form upstream: {body}"
    );

    let (status, body) = get(proxy, "http://evil.example/steal", "").await;
    assert_eq!(status, 403);
    assert!(
        body.starts_with(MARKER) && body.contains("evil.example"),
        "{body}"
    );

    let (status, body) = get(proxy, &format!("http://127.0.0.1:{port}/"), "").await;
    assert_eq!(status, 403);
    assert!(body.contains("is an IP address"), "{body}");

    // A spoofed Host header does not change which host is checked.
    let (status, _) = raw(proxy, &format!("GET http://evil.example/ HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")).await;
    assert_eq!(status, 403);
    let (_, status) = connect(proxy, "evil.example:443").await;
    assert_eq!(status, 403);
    assert_eq!(up.hits(), 1);
    let audit = audit_lines(&s.audit_path());
    assert!(
        audit
            .iter()
            .any(|r| r["decision"] == "blocked" && r["rule"] == "host-not-allowed"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn secrets_in_path_query_headers_and_body_are_refused() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let proxy = s.start_proxy(json!([route("localhost")]), json!({})).await;
    let base = format!("http://localhost:{}", up.addr.port());
    let key = "AKIAIOSFODNN7EXAMPLE";

    let (status, body) = get(proxy, &format!("{base}/upload/{key}"), "").await;
    assert_eq!(status, 403);
    assert!(
        body.contains("path") && body.contains("aws-access-key-id"),
        "{body}"
    );
    let (status, body) = get(proxy, &format!("{base}/q?k=%41KIAIOSFODNN7EXAMPLE"), "").await;
    assert_eq!(status, 403);
    assert!(body.contains("query"), "{body}");
    let (status, body) = get(
        proxy,
        &format!("{base}/h"),
        "X-Debug: ghp_aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ\r\n",
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("headers") && body.contains("github-token"),
        "{body}"
    );
    let payload = "{\"note\": \"-----BEGIN OPENSSH PRIVATE KEY-----\"}";
    let (status, body) = raw(
        proxy,
        &format!(
            "POST {base}/b HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        ),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("body") && body.contains("private-key"),
        "{body}"
    );
    assert_eq!(up.hits(), 0, "nothing reached the upstream");
    let audit = std::fs::read_to_string(s.audit_path()).unwrap();
    assert!(
        !audit.contains(key) && !audit.contains("ghp_aB3"),
        "the audit log names rules, never secrets"
    );
}

#[tokio::test]
async fn credentials_are_injected_and_the_agents_are_replaced() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    // A real-looking token: what the proxy injects itself is not flagged.
    std::env::set_var(
        "BB_TEST_INJECT_TOKEN",
        "ghp_RealTokenHeldOnlyByTheProxy0123456789",
    );
    let proxy = s
        .start_proxy(
            json!([{"host": "localhost", "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"],
                    "auth": {"scheme": "Bearer", "token_env": "BB_TEST_INJECT_TOKEN"}}]),
            json!({}),
        )
        .await;
    let (status, body) = get(
        proxy,
        &format!("http://localhost:{}/api", up.addr.port()),
        "Authorization: Bearer bb-egress-injects-the-real-token\r\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("authorization: Bearer ghp_RealTokenHeldOnlyByTheProxy0123456789"),
        "{body}"
    );
}

#[tokio::test]
async fn https_is_intercepted_with_the_bottle_ca_and_inspected() {
    let s = Setup::new();
    let up = Upstream::start(Some(server_tls(&s.upstream_ca))).await;
    let proxy = s.start_proxy(json!([route("localhost")]), json!({})).await;
    let target = format!("localhost:{}", up.addr.port());

    let (tunnel, status) = connect(proxy, &target).await;
    assert_eq!(status, 200);
    // The agent trusts only the bottle CA, and that is enough: intercepted.
    let (status, body) = https_via(
        tunnel,
        &s.bottle_ca.cert_pem,
        "localhost",
        &format!("GET /secure HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"),
    )
    .await
    .expect("TLS with the bottle CA");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("GET /secure"), "{body}");

    // Inside the tunnel, the same DLP.
    let (tunnel, _) = connect(proxy, &target).await;
    let (status, body) = https_via(
        tunnel,
        &s.bottle_ca.cert_pem,
        "localhost",
        &format!("GET /x HTTP/1.1\r\nHost: {target}\r\nCookie: t=xoxb-1234567890-abcdefghij\r\nConnection: close\r\n\r\n"),
    )
    .await
    .unwrap();
    assert_eq!(status, 403);
    assert!(body.starts_with(MARKER), "{body}");
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn passthrough_routes_are_tunnelled_untouched_and_sni_checked() {
    let s = Setup::new();
    let up = Upstream::start(Some(server_tls(&s.upstream_ca))).await;
    let proxy = s
        .start_proxy(
            json!([{"host": "localhost", "tls_passthrough": true, "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"]}]),
            json!({}),
        )
        .await;
    let target = format!("localhost:{}", up.addr.port());
    let (tunnel, status) = connect(proxy, &target).await;
    assert_eq!(status, 200);
    // Only the upstream's own CA verifies: nothing in between.
    let (status, _) = https_via(
        tunnel,
        &s.upstream_ca.cert_pem,
        "localhost",
        "GET /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("end-to-end TLS with the upstream");
    assert_eq!(status, 200);
    let (tunnel, _) = connect(proxy, &target).await;
    assert!(
        https_via(
            tunnel,
            &s.bottle_ca.cert_pem,
            "localhost",
            "GET / HTTP/1.1\r\n\r\n"
        )
        .await
        .is_none(),
        "not intercepted"
    );
    // An SNI naming another host is cut off.
    let (tunnel, _) = connect(proxy, &target).await;
    assert!(https_via(
        tunnel,
        &s.upstream_ca.cert_pem,
        "elsewhere.example",
        "GET / HTTP/1.1\r\n\r\n"
    )
    .await
    .is_none());
    let audit = audit_lines(&s.audit_path());
    assert!(
        audit.iter().any(|r| r["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("sni-mismatch"))),
        "{audit:?}"
    );
}

#[tokio::test]
async fn internal_addresses_are_refused_unless_the_route_allows_them() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let proxy = s
        .start_proxy(
            json!([{"host": "localhost"}, {"host": "169.254.169.254"}]),
            json!({}),
        )
        .await;
    let (status, body) = get(proxy, &format!("http://localhost:{}/", up.addr.port()), "").await;
    assert_eq!(status, 403);
    assert!(
        body.contains("resolves to 127.0.0.1") || body.contains("resolves to ::1"),
        "{body}"
    );
    let (status, body) = get(proxy, "http://169.254.169.254/latest/meta-data/", "").await;
    assert_eq!(status, 403);
    assert!(body.contains("internal address"), "{body}");
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn slow_clients_and_huge_bodies_do_not_stall_others() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let proxy = s
        .start_proxy(
            json!([route("localhost")]),
            json!({"body_bytes": 1048576, "header_timeout_secs": 2}),
        )
        .await;
    let url = format!("http://localhost:{}/ok", up.addr.port());

    // A slowloris: a request head dribbled out, never finished.
    let mut slow = tokio::net::TcpStream::connect(proxy).await.unwrap();
    slow.write_all(b"GET http://localhost/ HTTP/1.1\r\nX-A: ")
        .await
        .unwrap();
    // A 1 GiB upload, streamed.
    let huge = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(proxy).await.unwrap();
        let head = "POST http://localhost/up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1073741824\r\n\r\n";
        s.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 1 << 30 {
            if s.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    // Meanwhile, another client is served.
    let (status, body) = get(proxy, &url, "").await;
    assert_eq!(status, 200, "{body}");
    let sent = huge.await.unwrap();
    assert!(
        sent < 1 << 30,
        "the proxy stopped reading the huge body early ({sent} bytes sent)"
    );
    let (status, _) = get(proxy, &url, "").await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(slow);
}

#[tokio::test]
async fn data_smuggled_in_subdomains_of_a_wildcard_is_refused() {
    let s = Setup::new();
    let proxy = s
        .start_proxy(json!([{"host": "*.example.com"}]), json!({}))
        .await;
    for host in [
        "akiaiosfodnn7example.example.com",
        "4f9a1c2e7b3d8a6f0e5c9b2a7d4e1f3c8b6a.example.com",
    ] {
        let (_, status) = connect(proxy, &format!("{host}:443")).await;
        assert_eq!(status, 403, "{host}");
        let (status, body) = get(proxy, &format!("http://{host}/"), "").await;
        assert_eq!(status, 403, "{host}");
        assert!(body.contains("host looks like a secret"), "{body}");
    }
    let audit = std::fs::read_to_string(s.audit_path()).unwrap();
    assert!(!audit.contains("akiaiosfodnn7example"), "{audit}");
}
