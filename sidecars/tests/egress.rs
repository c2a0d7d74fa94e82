//! The egress proxy against local upstreams, with no Docker: the allowlist,
//! DLP, credential injection, TLS interception and passthrough, the SSRF
//! guard, reload, and misbehaving clients.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::*;
use tokio::io::AsyncWriteExt;

const MARKER: &str = "bb egress blocked this request";

#[tokio::test]
async fn allowlisted_hosts_pass_others_and_ip_literals_are_refused() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
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
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
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

/// A TLS upstream that says whether `expected` arrived as the
/// authorization and reflects what it got, as an echo endpoint would.
async fn reflecting_upstream(s: &Setup, expected: &'static str) -> Upstream {
    Upstream::start_with(
        Some(server_tls(&s.upstream_ca)),
        Arc::new(move |r: Seen| {
            (
                200,
                format!(
                    "token-arrived={}\nreflected: {}\nbody-bytes: {}\n",
                    r.authorization == expected,
                    r.authorization,
                    r.body.len()
                ),
            )
        }),
    )
    .await
}

/// One request through an intercepted tunnel to `target`.
async fn https_request(
    proxy: std::net::SocketAddr,
    s: &Setup,
    target: &str,
    request: &str,
) -> (u16, String) {
    let (tunnel, status) = connect(proxy, target).await;
    assert_eq!(status, 200, "CONNECT {target}");
    https_via(tunnel, &s.bottle_ca.cert_pem, "localhost", request)
        .await
        .expect("TLS with the bottle CA: the route is intercepted")
}

#[tokio::test]
async fn credentials_are_injected_over_tls_only_and_the_agents_are_replaced() {
    let s = Setup::new();
    let up = reflecting_upstream(&s, "Bearer ghp_RealTokenHeldOnlyByTheProxy0123456789").await;
    // A real-looking token: what the proxy injects itself is not flagged.
    std::env::set_var(
        "BB_TEST_INJECT_TOKEN",
        "ghp_RealTokenHeldOnlyByTheProxy0123456789",
    );
    let proxy = s
        .start_proxy(
            json!([{"host": "localhost", "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "ports": [up.addr.port()],
                    "auth": {"scheme": "Bearer", "token_env": "BB_TEST_INJECT_TOKEN"}}]),
            json!({}),
        )
        .await;
    let target = format!("localhost:{}", up.addr.port());
    let (status, body) = https_request(
        proxy,
        &s,
        &target,
        &format!("GET /api HTTP/1.1\r\nHost: {target}\r\nAuthorization: Bearer bb-egress-injects-the-real-token\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("token-arrived=true"), "{body}");
    // An upstream reflecting the request hands the agent no token.
    assert!(
        body.contains("reflected: Bearer [bb: credential removed]")
            && !body.contains("ghp_RealToken"),
        "{body}"
    );
    // Plain HTTP to the same route would carry the token in the clear.
    let (status, body) = get(proxy, &format!("http://{target}/api"), "").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.starts_with(MARKER) && body.contains("only over https"),
        "{body}"
    );
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn a_credentialed_passthrough_route_is_intercepted_to_inject_and_its_body_not_scanned() {
    let s = Setup::new();
    let up = reflecting_upstream(&s, "Bearer sk-ant-oat01-real-token-held-by-egress").await;
    std::env::set_var(
        "BB_TEST_LLM_TOKEN",
        "sk-ant-oat01-real-token-held-by-egress",
    );
    let proxy = s
        .start_proxy(
            json!([{"host": "localhost", "tls_passthrough": true, "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "ports": [up.addr.port()],
                    "auth": {"scheme": "Bearer", "token_env": "BB_TEST_LLM_TOKEN"}}]),
            json!({"body_bytes": 1024}),
        )
        .await;
    let target = format!("localhost:{}", up.addr.port());
    // An LLM request quoting a key from the user's code, and larger than
    // the scan cap: streamed through, not scanned.
    let body = format!(
        "{{\"text\": \"AKIAIOSFODNN7EXAMPLE {}\"}}",
        "x".repeat(4096)
    );
    let (status, answer) = https_request(
        proxy,
        &s,
        &target,
        &format!(
            "POST /v1/messages HTTP/1.1\r\nHost: {target}\r\nAuthorization: Bearer placeholder\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("token-arrived=true"), "{answer}");
    assert!(!answer.contains("sk-ant-oat01-real"), "{answer}");
    assert!(
        answer.contains(&format!("body-bytes: {}", body.len())),
        "{answer}"
    );
    // Headers are still scanned.
    let (status, answer) = https_request(
        proxy,
        &s,
        &target,
        &format!("GET /x HTTP/1.1\r\nHost: {target}\r\nX-Leak: AKIAIOSFODNN7EXAMPLE\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
}

#[tokio::test]
async fn a_token_endpoint_refreshes_the_injected_token_and_the_agent_gets_placeholders() {
    let s = Setup::new();
    std::env::set_var("BB_TEST_ACCESS", "access-1");
    std::env::set_var("BB_TEST_REFRESH", "refresh-1");
    let issued = Arc::new(AtomicUsize::new(1));
    let n = issued.clone();
    let up = Upstream::start_with(
        Some(server_tls(&s.upstream_ca)),
        Arc::new(move |r: Seen| {
            if r.uri == "/oauth/token" {
                let grant: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                let current = n.load(Ordering::SeqCst);
                if grant["refresh_token"] != format!("refresh-{current}") {
                    return (401, format!("bad refresh token {}", grant["refresh_token"]));
                }
                let next = n.fetch_add(1, Ordering::SeqCst) + 1;
                let id = "eyJhbGciOiJSUzI1NiJ9.eyJlbWFpbCI6ImFAYi5jIn0.c2lnbmVk";
                return (
                    200,
                    json!({"access_token": format!("access-{next}"), "refresh_token": format!("refresh-{next}"), "id_token": id, "expires_in": 1})
                        .to_string(),
                );
            }
            // The token's number, not the token: answers are scrubbed of it.
            (200, format!("token #{}", r.authorization.trim_start_matches("Bearer access-")))
        }),
    )
    .await;
    let host = json!(["127.0.0.1/32", "::1/128"]);
    let d = s.dir.path();
    let cfg = json!({
        "listen": "127.0.0.1:0",
        "routes": [{"host": "localhost", "ssrf_ip_allowlist": host, "tls_passthrough": true, "ports": [up.addr.port()],
                    "auth": {"scheme": "Bearer", "token_env": "BB_TEST_ACCESS"}}],
        "ca_cert": d.join("ca.crt"), "ca_key": d.join("ca.key"),
        "audit_log": s.audit_path(), "upstream_ca": d.join("upstream-ca.crt"),
        "token_refresh": [{"host": "localhost", "path": "/oauth/token", "access_env": "BB_TEST_ACCESS",
                           "refresh_env": "BB_TEST_REFRESH", "placeholder": "PLACEHOLDER"}],
    });
    std::fs::write(s.config_path(), cfg.to_string()).unwrap();
    let config = bb_sidecar::egress::Config::load(&s.config_path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    tokio::spawn(bb_sidecar::egress::conn::serve(
        listener,
        bb_sidecar::egress::shared(config).unwrap(),
    ));
    let target = format!("localhost:{}", up.addr.port());
    let api = format!("GET /api HTTP/1.1\r\nHost: {target}\r\nAuthorization: Bearer PLACEHOLDER\r\nConnection: close\r\n\r\n");
    let (_, body) = https_request(proxy, &s, &target, &api).await;
    assert!(body.contains("token #1"), "{body}");
    for round in 2..=3 {
        let grant =
            r#"{"client_id":"app","grant_type":"refresh_token","refresh_token":"PLACEHOLDER"}"#;
        let (status, answer) = https_request(
            proxy,
            &s,
            &target,
            &format!("POST /oauth/token HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{grant}", grant.len()),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            !answer.contains("access-") && !answer.contains("refresh-"),
            "{answer}"
        );
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["access_token"], "PLACEHOLDER");
        assert_eq!(answer["refresh_token"], "PLACEHOLDER");
        assert!(answer["id_token"]
            .as_str()
            .unwrap()
            .ends_with(".bb-unsigned"));
        let (_, body) = https_request(proxy, &s, &target, &api).await;
        assert!(
            body.contains(&format!("token #{round}")),
            "round {round}: {body}"
        );
    }
}

#[tokio::test]
async fn https_is_intercepted_with_the_bottle_ca_and_inspected() {
    let s = Setup::new();
    let up = Upstream::start(Some(server_tls(&s.upstream_ca))).await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
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
            json!([{"host": "localhost", "tls_passthrough": true, "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "ports": [up.addr.port()]}]),
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
            json!([{"host": "localhost", "ports": [up.addr.port()]}, {"host": "169.254.169.254"}]),
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
            json!([route("localhost", &[up.addr.port()])]),
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

#[tokio::test]
async fn paths_that_climb_out_of_the_allowlist_are_refused() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let proxy = s
        .start_proxy(
            json!([{"host": "localhost", "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "path_allowlist": ["/allowed/"], "ports": [up.addr.port()]}]),
            json!({}),
        )
        .await;
    let base = format!("http://localhost:{}", up.addr.port());
    let (status, body) = get(proxy, &format!("{base}/allowed/ok"), "").await;
    assert_eq!(status, 200, "{body}");
    for attack in [
        "/allowed/../secret",
        "/allowed/./../secret",
        "/allowed/%2e%2e/secret",
        "/allowed/..%2fsecret",
        "/allowed/..;/secret",
        "/allowed/%252e%252e/secret",
    ] {
        let (status, body) = get(proxy, &format!("{base}{attack}"), "").await;
        assert_eq!(status, 403, "{attack}: {body}");
        assert!(body.starts_with(MARKER), "{attack}: {body}");
    }
    assert_eq!(up.hits(), 1, "only the allowed path reached the upstream");
}

#[tokio::test]
async fn secrets_hidden_by_encoding_case_splitting_or_compression_are_refused() {
    use base64::Engine;
    use std::io::Write;
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
    let base = format!("http://localhost:{}", up.addr.port());
    let key = "AKIAIOSFODNN7EXAMPLE";
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(key);
    let post = |body: Vec<u8>, headers: &str| {
        let mut req = format!(
            "POST {base}/up HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend(body);
        req
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(format!("{{\"k\": \"{key}\"}}").as_bytes())
        .unwrap();
    let gzipped = gz.finish().unwrap();
    let utf16: Vec<u8> = format!("k={key}")
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        ("hex path", format!("GET {base}/x/{hex} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()),
        ("lower-case header", format!("GET {base}/x HTTP/1.1\r\nHost: localhost\r\nX-K: {}\r\nConnection: close\r\n\r\n", key.to_ascii_lowercase()).into_bytes()),
        ("split headers", format!("GET {base}/x HTTP/1.1\r\nHost: localhost\r\nX-A: {}\r\nX-B: {}\r\nConnection: close\r\n\r\n", &key[..10], &key[10..]).into_bytes()),
        ("base64 body", post(format!("data={b64}").into_bytes(), "")),
        ("gzip body", post(gzipped, "Content-Encoding: gzip\r\n")),
        ("utf-16 body", post(utf16, "")),
        ("undecodable body", post(b"(\xb5/\xfd opaque".to_vec(), "Content-Encoding: zstd\r\n")),
    ];
    for (what, req) in attacks {
        let mut sock = tokio::net::TcpStream::connect(proxy).await.unwrap();
        sock.write_all(&req).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut sock, &mut out).await;
        let text = String::from_utf8_lossy(&out);
        // A body that does not decode is a bad request, not a secret.
        let status = if what == "undecodable body" {
            "HTTP/1.1 400"
        } else {
            "HTTP/1.1 403"
        };
        assert!(text.starts_with(status), "{what}: {text}");
        assert!(text.contains(MARKER), "{what}: {text}");
    }
    assert_eq!(up.hits(), 0, "nothing reached the upstream");
    // A clean gzip body still goes through.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"{\"hello\": \"world\"}").unwrap();
    let mut sock = tokio::net::TcpStream::connect(proxy).await.unwrap();
    sock.write_all(&post(gz.finish().unwrap(), "Content-Encoding: gzip\r\n"))
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut sock, &mut out).await;
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn only_the_routes_ports_are_reachable() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let other = Upstream::start(None).await;
    let proxy = s
        .start_proxy(
            json!([route("localhost", &[up.addr.port()]), {"host": "default.example"}]),
            json!({}),
        )
        .await;
    let (status, body) = get(
        proxy,
        &format!("http://localhost:{}/ok", up.addr.port()),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(
        proxy,
        &format!("http://localhost:{}/", other.addr.port()),
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.starts_with(MARKER) && body.contains(&format!("port {}", other.addr.port())),
        "{body}"
    );
    let (_, status) = connect(proxy, &format!("localhost:{}", other.addr.port())).await;
    assert_eq!(status, 403);
    // Without `ports`, a route allows 443 and 80 only.
    for (target, refused) in [
        ("default.example:8081", true),
        ("default.example:22", true),
        ("default.example:443", false),
    ] {
        let mut sock = tokio::net::TcpStream::connect(proxy).await.unwrap();
        sock.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = tokio::io::AsyncReadExt::read(&mut sock, &mut buf)
            .await
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert_eq!(
            text.contains("port-not-allowed") || text.contains("is not allowed on"),
            refused,
            "{target}: {text}"
        );
    }
    assert_eq!(other.hits(), 0);
}

#[tokio::test]
async fn malformed_requests_get_the_right_status() {
    let s = Setup::new();
    let up = Upstream::start(None).await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
    for target in ["localhost", "localhost:99999", "localhost:0"] {
        let (_, status) = connect(proxy, target).await;
        assert_eq!(status, 400, "CONNECT {target}");
    }
    let (status, body) = raw(
        proxy,
        &format!("POST http://localhost:{}/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", up.addr.port()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn tunnels_hold_a_slot_and_a_silent_upstream_times_out() {
    let s = Setup::new();
    let up = Upstream::start(Some(server_tls(&s.upstream_ca))).await;
    // An upstream that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            held.push(c);
        }
    });
    let proxy = s
        .start_proxy(
            json!([
                {"host": "localhost", "tls_passthrough": true, "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "ports": [up.addr.port()]},
                {"host": "127.0.0.1", "ssrf_ip_allowlist": ["127.0.0.1/32"], "ports": [silent_port]}
            ]),
            json!({"max_connections": 3, "response_timeout_secs": 1}),
        )
        .await;
    let (status, body) = get(proxy, &format!("http://127.0.0.1:{silent_port}/"), "").await;
    // A gateway timeout, said as such.
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("did not answer within 1 s"), "{body}");
    // Three idle tunnels take every slot; the next client sheds the one
    // idle the longest, which is closed, rather than be refused.
    let mut tunnels = Vec::new();
    for _ in 0..3 {
        let (t, status) = connect(proxy, &format!("localhost:{}", up.addr.port())).await;
        assert_eq!(status, 200);
        tunnels.push(t);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = get(proxy, &format!("http://127.0.0.1:{silent_port}/"), "").await;
    assert_eq!(status, 504, "served, not refused: {body}");
    use tokio::io::AsyncReadExt;
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(30), tunnels[0].read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the oldest tunnel was shed"
    );
}
