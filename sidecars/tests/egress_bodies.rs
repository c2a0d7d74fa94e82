//! What egress reads as the destination will: every content coding real
//! clients send (and stacks of them), compressed files and archives sent
//! as they are, escapes and split values a server undoes, with bounds that
//! refuse a decompression bomb; and the truth about failures: an allowed
//! host that cannot be reached is a gateway error, not a refusal.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MARKER: &str = "bb egress blocked this request";
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
}

fn brotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliCompress(
        &mut &b[..],
        &mut out,
        &brotli::enc::BrotliEncoderParams::default(),
    )
    .unwrap();
    out
}

fn zip_of(name: &str, contents: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(name, opts).unwrap();
    w.write_all(contents).unwrap();
    w.finish().unwrap().into_inner()
}

/// One request as the upstream received it: its content coding and body.
type Got = (Option<String>, Bytes);

/// What the upstream received.
#[derive(Default, Clone)]
struct Received(Arc<Mutex<Vec<Got>>>);

impl Received {
    fn all(&self) -> Vec<Got> {
        self.0.lock().unwrap().clone()
    }
}

async fn recording_upstream() -> (Upstream, Received) {
    let got = Received::default();
    let g = got.clone();
    let up = Upstream::start_with(
        None,
        Arc::new(move |seen: Seen| {
            let coding = seen
                .headers
                .get("content-encoding")
                .map(|v| v.to_str().unwrap_or("?").to_string());
            let n = seen.body.len();
            g.0.lock().unwrap().push((coding, seen.body));
            (200, format!("got {n}\n"))
        }),
    )
    .await;
    (up, got)
}

/// A raw request with a body; the status line and the rest.
async fn exchange(proxy: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut sock = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let mut req = format!(
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    // The proxy may answer (and close) before it has read it all.
    let _ = sock.write_all(&req).await;
    let mut out = Vec::new();
    let _ = sock.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn post_head(base: &str, headers: &str) -> String {
    format!("POST {base}/up HTTP/1.1\r\nHost: localhost\r\n{headers}")
}

#[tokio::test]
async fn every_coding_a_client_sends_is_read_and_sent_on_decoded() {
    let s = Setup::new();
    let (up, got) = recording_upstream().await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
    let base = format!("http://localhost:{}", up.addr.port());
    let clean = br#"{"model": "gpt-5", "input": "hello there"}"#.to_vec();
    let dirty = format!(r#"{{"model": "gpt-5", "input": "my key is {KEY}"}}"#).into_bytes();
    type Encode = fn(&[u8]) -> Vec<u8>;
    let shapes: Vec<(&str, Encode)> = vec![
        ("gzip", gzip),
        ("x-gzip", gzip),
        ("deflate", zlib),
        ("deflate", raw_deflate),
        ("br", brotli),
        ("zstd", zstd),
        ("gzip, zstd", |b| zstd(&gzip(b))),
        ("br, gzip", |b| gzip(&brotli(b))),
    ];
    for (coding, encode) in &shapes {
        let head = post_head(&base, &format!("Content-Encoding: {coding}\r\n"));
        let (status, text) = exchange(proxy, &head, &encode(&dirty)).await;
        assert_eq!(status, 403, "{coding} with a secret: {text}");
        assert!(
            text.contains(MARKER) && text.contains("aws-access-key-id"),
            "{text}"
        );
        let (status, text) = exchange(proxy, &head, &encode(&clean)).await;
        assert_eq!(status, 200, "{coding}: {text}");
    }
    // Upstream read exactly what was scanned: the decoded body, no coding.
    let received = got.all();
    assert_eq!(received.len(), shapes.len());
    for (coding, body) in received {
        assert_eq!(coding, None);
        assert_eq!(&body[..], &clean[..]);
    }
}

#[tokio::test]
async fn a_large_compressed_body_streams_and_a_secret_at_its_end_is_caught() {
    let s = Setup::new();
    let (up, got) = recording_upstream().await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
    let base = format!("http://localhost:{}", up.addr.port());
    // 6 MB of ordinary prose-like lines: past what is read whole.
    let text: Vec<u8> = (0..150_000u32)
        .flat_map(|i| format!("line {i}: the agent explains its change.\n").into_bytes())
        .collect();
    let head = post_head(&base, "Content-Encoding: zstd\r\n");
    let (status, answer) = exchange(proxy, &head, &zstd(&text)).await;
    assert_eq!(status, 200, "{answer}");
    let mut dirty = text.clone();
    dirty.extend_from_slice(format!("and finally {KEY}\n").as_bytes());
    let (status, answer) = exchange(proxy, &head, &zstd(&dirty)).await;
    assert_eq!(status, 403, "{answer}");
    let received = got.all();
    assert_eq!(
        received[0].1.len(),
        text.len(),
        "the clean one arrived whole"
    );
    for (_, body) in &received {
        assert!(
            !String::from_utf8_lossy(body).contains(KEY),
            "the secret never left"
        );
    }
}

#[tokio::test]
async fn bombs_and_bodies_past_the_cap_are_413_and_the_proxy_stays_small() {
    let s = Setup::new();
    let (up, got) = recording_upstream().await;
    let mut egress = spawn_egress(
        &s,
        json!([route("localhost", &[up.addr.port()])]),
        json!({}),
        None,
    )
    .await;
    let pid = egress.pid();
    let base = format!("http://localhost:{}", up.addr.port());
    // 1 GiB of zeros as 1,024 copies of one compressed MiB (gzip members,
    // zstd frames), and 16 MiB of zeros in one deflate stream.
    let mib = vec![0u8; 1 << 20];
    let bombs: Vec<(&str, Vec<u8>)> = vec![
        ("gzip", gzip(&mib).repeat(1024)),
        ("zstd", zstd(&mib).repeat(1024)),
        ("deflate", raw_deflate(&vec![0u8; 16 << 20])),
    ];
    // Many at once.
    let addr = egress.addr;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        for (coding, body) in &bombs {
            let head = post_head(&base, &format!("Content-Encoding: {coding}\r\n"));
            let body = body.clone();
            let coding = coding.to_string();
            tasks.push(tokio::spawn(async move {
                let (status, text) = exchange(addr, &head, &body).await;
                (coding, status, text)
            }));
        }
    }
    for t in tasks {
        let (coding, status, text) = t.await.unwrap();
        assert_eq!(status, 413, "{coding}: {text}");
        assert!(
            text.contains("decompression bomb") || text.contains("expands past"),
            "{coding}: says why: {text}"
        );
    }
    // Streamed until the bound was passed, then aborted: the upstream saw
    // at most a few MiB of the GiB, and no request completed.
    for (_, body) in got.all() {
        assert!(body.len() < 8 << 20, "{}", body.len());
    }
    let peak = peak_rss_kib(pid);
    assert!(peak < 64 * 1024, "egress peaked at {peak} KiB");
    assert!(egress.alive());
}

/// The most memory a process has held (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn compressed_files_and_archives_sent_as_they_are_are_unpacked() {
    let s = Setup::new();
    let (up, got) = recording_upstream().await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
    let base = format!("http://localhost:{}", up.addr.port());
    let secret = format!("[default]\naws_access_key_id = {KEY}\n").into_bytes();
    let head = post_head(&base, "Content-Type: application/octet-stream\r\n");
    for (what, body) in [
        ("a .gz file", gzip(&secret)),
        ("a .zst file", zstd(&secret)),
        ("a .zip file", zip_of("credentials", &secret)),
        ("a .zip in a .gz", gzip(&zip_of("credentials", &secret))),
        ("a large .zip", {
            let mut big: Vec<u8> = (0..20_000u32)
                .flat_map(|i| format!("row {i} of an ordinary export\n").into_bytes())
                .collect();
            big.extend_from_slice(&secret);
            zip_of("export.csv", &big)
        }),
    ] {
        let (status, text) = exchange(proxy, &head, &body).await;
        assert_eq!(status, 403, "{what}: {text}");
        assert!(text.contains("aws-access-key-id"), "{what}: {text}");
    }
    assert!(got.all().is_empty());
    // A clean archive goes upstream as it was sent.
    let clean = zip_of("notes.txt", b"nothing secret here");
    let (status, text) = exchange(proxy, &head, &clean).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(&got.all()[0].1[..], &clean[..]);
}

#[tokio::test]
async fn escapes_and_values_a_server_joins_do_not_hide_a_secret() {
    let s = Setup::new();
    let (up, got) = recording_upstream().await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
    let port = up.addr.port();
    let base = format!("http://localhost:{port}");
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let json_body = format!(r#"{{"note": "{escaped}"}}"#);
    let base32 = data_encoding::BASE32.encode(KEY.as_bytes());
    let (a, b) = (&KEY[..8], &KEY[8..]);
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\n{headers}")
    };
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        (
            "JSON \\u escapes",
            post_head(&base, "Content-Type: application/json\r\n"),
            json_body.into_bytes(),
        ),
        (
            "HTML character references",
            post_head(&base, "Content-Type: text/xml\r\n"),
            b"<k>&#65;&#75;&#73;&#65;IOSFODNN7EXAMPLE</k>".to_vec(),
        ),
        (
            "base32 in a header",
            get(&format!("{base}/x"), &format!("X-Data: {base32}\r\n")),
            vec![],
        ),
        (
            "split over two query values",
            get(&format!("{base}/x?a={a}&b={b}"), ""),
            vec![],
        ),
        (
            "split over two cookies of one header",
            get(&format!("{base}/x"), &format!("Cookie: a={a}; b={b}\r\n")),
            vec![],
        ),
        (
            "split over two form fields",
            post_head(&base, "Content-Type: application/x-www-form-urlencoded\r\n"),
            format!("a={a}&b={b}").into_bytes(),
        ),
        (
            "split over two path segments",
            get(&format!("{base}/{a}/{b}"), ""),
            vec![],
        ),
    ];
    for (what, head, body) in cases {
        let (status, text) = exchange(proxy, &head, &body).await;
        assert_eq!(status, 403, "{what}: {text}");
        assert!(text.contains("aws-access-key-id"), "{what}: {text}");
    }
    assert!(got.all().is_empty(), "nothing reached the upstream");
    // Ordinary queries, cookies and JSON go through.
    let (status, text) = exchange(
        proxy,
        &get(
            &format!("{base}/search?q=rust&page=2"),
            "Cookie: theme=dark; lang=en\r\n",
        ),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn unknown_codings_corrupt_bodies_and_protocol_switches_say_why() {
    let s = Setup::new();
    let (up, got) = recording_upstream().await;
    let proxy = s
        .start_proxy(json!([route("localhost", &[up.addr.port()])]), json!({}))
        .await;
    let port = up.addr.port();
    let base = format!("http://localhost:{port}");
    let (status, text) = exchange(
        proxy,
        &post_head(&base, "Content-Encoding: compress\r\n"),
        b"x",
    )
    .await;
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("\"compress\" cannot be read"), "{text}");
    let (status, text) = exchange(
        proxy,
        &post_head(&base, "Content-Encoding: gzip\r\n"),
        b"not gzip",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("does not decode"), "{text}");
    let (status, text) = exchange(
        proxy,
        &format!("GET {base}/ws HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains(MARKER) && text.contains("switching protocols"),
        "{text}"
    );
    assert!(got.all().is_empty());
    let rules: Vec<String> = audit_lines(&s.audit_path())
        .iter()
        .filter_map(|r| r["rule"].as_str().map(String::from))
        .collect();
    assert!(rules.contains(&"undecodable-body".into()), "{rules:?}");
    assert!(rules.contains(&"protocol-upgrade".into()), "{rules:?}");
}

#[tokio::test]
async fn an_allowed_host_that_cannot_be_reached_is_a_gateway_error_not_a_refusal() {
    let s = Setup::new();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = s
        .start_proxy(
            json!([
                {"host": "nothing.invalid"},
                {"host": "tunnel.invalid", "tls_passthrough": true},
                route("localhost", &[closed])
            ]),
            json!({}),
        )
        .await;
    let (status, body) = get(proxy, "http://nothing.invalid/x", "").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("nothing.invalid does not resolve"), "{body}");
    assert!(!body.contains(MARKER), "not a refusal: {body}");
    assert!(body.contains("not a refusal"), "{body}");
    let (status, body) = get(proxy, &format!("http://localhost:{closed}/x"), "").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("cannot connect to localhost"), "{body}");
    // A blind tunnel's too.
    let (_, status) = connect(proxy, "tunnel.invalid:443").await;
    assert_eq!(status, 502);
    let audit = audit_lines(&s.audit_path());
    let failed: Vec<(&str, &str)> = audit
        .iter()
        .map(|r| {
            (
                r["decision"].as_str().unwrap(),
                r["rule"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            ("failed", "upstream-dns"),
            ("failed", "upstream-connect"),
            ("failed", "upstream-dns")
        ],
        "logged as failures, none as a refusal"
    );
}

#[tokio::test]
async fn a_compressed_answer_on_a_credentialed_route_is_decoded_and_scrubbed() {
    let s = Setup::new();
    let token = "sk-injected-secret-token-0123456789";
    std::env::set_var("BB_TEST_GZ_TOKEN", token);
    let up = Upstream::start_answering(
        Some(server_tls(&s.upstream_ca)),
        Arc::new(|seen: Seen| {
            // An echo that compresses whatever was asked.
            let text = format!("you sent: {}\n", seen.authorization);
            let mut r = hyper::Response::new(Full::new(Bytes::from(gzip(text.as_bytes()))));
            r.headers_mut()
                .insert("content-encoding", "gzip".parse().unwrap());
            r
        }),
    )
    .await;
    let mut routes = route("localhost", &[up.addr.port()]);
    routes["auth"] = json!({"scheme": "Bearer", "token_env": "BB_TEST_GZ_TOKEN"});
    let proxy = s.start_proxy(json!([routes]), json!({})).await;
    let target = format!("localhost:{}", up.addr.port());
    let (tunnel, status) = connect(proxy, &target).await;
    assert_eq!(status, 200);
    let (status, body) = https_via(
        tunnel,
        &s.bottle_ca.cert_pem,
        "localhost",
        &format!("GET / HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"),
    )
    .await
    .expect("intercepted with the bottle CA");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("you sent: Bearer [bb: credential removed]"),
        "{body}"
    );
    assert!(!body.contains(token), "{body}");
}
