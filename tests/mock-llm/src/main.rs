//! Stand-ins for the LLM APIs the real agent CLIs call, for bb's tests: the
//! Anthropic Messages API (as Claude Code uses it) and the ChatGPT backend
//! Codex uses in ChatGPT mode, plus OpenAI's OAuth token endpoint. Served
//! over TLS under the real host names from a CA this program mints (its
//! PEM is written to `--dir`, for egress's `upstream_ca`).
//!
//! Strict, as the real APIs are: a request without a valid token gets 401.
//! Tokens may expire (`--ttl-secs`); the token endpoint issues new ones
//! for the current refresh token and rotates it. Every request is logged
//! as a JSON line in `<dir>/requests.jsonl` for the tests to assert on.
//!
//!   mock-llm --dir /data --token ACCESS [--refresh REFRESH] [--ttl-secs N]
//!            [--listen ADDR] [--plain HOST] [--reply-delay-ms N]
//!
//! `--reply-delay-ms N` holds each model reply N ms before answering, as a
//! model thinks, so a CLI's working state can be seen.
//!
//! `--act COMMAND` makes the agent act: the first turn that offers a Bash
//! tool is answered with a call of it running COMMAND (Claude Code runs
//! it), and the turn that brings its result is answered with text.
//!
//! `--plain HOST` serves plain HTTP instead, answering every request as
//! HOST would (for recording a real CLI's session on the host with its API
//! base URL pointed here; see tests/panes/).

use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const HOSTS: &[&str] = &[
    "api.anthropic.com",
    "chatgpt.com",
    "auth.openai.com",
    "api.openai.com",
];
pub const ACCOUNT: &str = "acct-bb-mock";

struct Args {
    dir: PathBuf,
    listen: String,
    token: String,
    refresh: String,
    ttl: Option<Duration>,
    /// Plain HTTP, answering as this host.
    plain: Option<String>,
    reply_delay: Duration,
    act: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        dir: PathBuf::from("/data"),
        listen: "0.0.0.0:443".into(),
        token: String::new(),
        refresh: "refresh-0".into(),
        ttl: None,
        plain: None,
        reply_delay: Duration::ZERO,
        act: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(value()?),
            "--listen" => a.listen = value()?,
            "--token" => a.token = value()?,
            "--refresh" => a.refresh = value()?,
            "--plain" => a.plain = Some(value()?),
            "--act" => a.act = Some(value()?),
            "--reply-delay-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--reply-delay-ms: {e}"))?;
                a.reply_delay = Duration::from_millis(ms);
            }
            "--ttl-secs" => {
                let s: u64 = value()?.parse().map_err(|e| format!("--ttl-secs: {e}"))?;
                a.ttl = (s > 0).then(|| Duration::from_secs(s));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.token.is_empty() {
        return Err("--token is required".into());
    }
    Ok(a)
}

struct State {
    /// Valid access tokens and when each stops being valid.
    tokens: Vec<(String, Option<Instant>)>,
    refresh: String,
    issued: u32,
    replies: u32,
    ttl: Option<Duration>,
    log: std::fs::File,
    /// `--plain`: every request is to this host.
    as_host: Option<String>,
    reply_delay: Duration,
    /// The command the agent is to run, until it has been asked to.
    act: Option<String>,
}

type Shared = Arc<Mutex<State>>;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// A JWT-shaped token with `claims`, signed by nobody (the mock compares
/// whole strings).
fn jwt(claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert("content-type", v);
    }
    r
}

fn json_response(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    respond(status, "application/json", v.to_string())
}

fn sse(events: &[(&str, Value)]) -> Response<Full<Bytes>> {
    let mut body = String::new();
    for (name, data) in events {
        body.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    }
    respond(StatusCode::OK, "text/event-stream", body)
}

fn reply_text(n: u32) -> String {
    format!("Hello from the mock API (reply {n}).")
}

fn anthropic_messages(body: &Value, n: u32) -> Response<Full<Bytes>> {
    let model = body["model"].as_str().unwrap_or("claude-mock").to_string();
    let text = reply_text(n);
    let id = format!("msg_mock_{n}");
    if body["stream"].as_bool() != Some(true) {
        return json_response(
            StatusCode::OK,
            json!({"id": id, "type": "message", "role": "assistant", "model": model,
                   "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                   "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 8}}),
        );
    }
    sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 8}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}

/// Whether the turn brings the result of the tool call `--act` made.
fn has_tool_result(req: &Value) -> bool {
    req["messages"].as_array().is_some_and(|messages| {
        messages.iter().any(|m| {
            m["content"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|b| b["type"] == "tool_result" && b["tool_use_id"] == ACT_ID)
            })
        })
    })
}

/// The id of the tool call `--act` makes.
const ACT_ID: &str = "toolu_01MockActsForTheTest";

/// A reply that calls the Bash tool with `command`.
fn anthropic_tool_use(req: &Value, command: &str) -> Response<Full<Bytes>> {
    let model = req["model"].as_str().unwrap_or("claude-mock").to_string();
    let input = json!({"command": command, "description": "Do what the test asks"});
    let id = ACT_ID;
    if req["stream"].as_bool() != Some(true) {
        return json_response(
            StatusCode::OK,
            json!({"id": "msg_mock_act", "type": "message", "role": "assistant", "model": model,
                   "content": [{"type": "tool_use", "id": id, "name": "Bash", "input": input}],
                   "stop_reason": "tool_use", "stop_sequence": null,
                   "usage": {"input_tokens": 10, "output_tokens": 8}}),
        );
    }
    sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_mock_act", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": id, "name": "Bash", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 8}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}

fn codex_responses(n: u32) -> Response<Full<Bytes>> {
    let text = reply_text(n);
    let id = format!("resp_mock_{n}");
    let item = format!("msg_mock_{n}");
    let done = json!({"type": "message", "id": item, "role": "assistant", "status": "completed",
                      "content": [{"type": "output_text", "text": text, "annotations": []}]});
    sse(&[
        (
            "response.created",
            json!({"type": "response.created", "response": {"id": id}}),
        ),
        (
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "message", "id": item, "role": "assistant", "status": "in_progress", "content": []}}),
        ),
        (
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "item_id": item,
            "output_index": 0, "content_index": 0, "delta": text}),
        ),
        (
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": 0, "item": done}),
        ),
        (
            "response.completed",
            json!({"type": "response.completed", "response": {"id": id,
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 8,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 18}}}),
        ),
    ])
}

fn unauthorized(host: &str) -> Response<Full<Bytes>> {
    if host == "api.anthropic.com" {
        json_response(
            StatusCode::UNAUTHORIZED,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "Invalid bearer token"}}),
        )
    } else {
        json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"message": "Provided authentication token is expired. Please try signing in again.",
                             "type": null, "code": "token_expired", "param": null}}),
        )
    }
}

/// Issue a new access token (and rotate the refresh token).
fn issue(st: &mut State) -> Value {
    st.issued += 1;
    let n = st.issued;
    // The claims promise a day, as real tokens promise long lives; the
    // mock ends them sooner (--ttl-secs), as a server may, so the client
    // finds out from a 401 rather than refreshing ahead of time.
    let exp = now_secs() + 86_400;
    let auth = json!({"chatgpt_account_id": ACCOUNT, "chatgpt_plan_type": "plus"});
    let access = jwt(
        &json!({"exp": exp, "n": n, "https://api.openai.com/auth": auth}),
        &format!("mock-access-{n}"),
    );
    let id = jwt(
        &json!({"exp": exp, "email": "agent@example.com", "https://api.openai.com/auth": auth}),
        &format!("mock-id-{n}"),
    );
    st.tokens
        .push((access.clone(), st.ttl.map(|t| Instant::now() + t)));
    st.refresh = format!("refresh-{n}");
    json!({"access_token": access, "id_token": id, "refresh_token": st.refresh,
           "token_type": "Bearer", "expires_in": st.ttl.map(|t| t.as_secs()).unwrap_or(3600)})
}

async fn handle(req: Request<Incoming>, st: Shared) -> Response<Full<Bytes>> {
    let as_host = st.lock().ok().and_then(|s| s.as_host.clone());
    let host = as_host.unwrap_or_else(|| {
        req.headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
            .unwrap_or_default()
    });
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let authorization = header("authorization");
    let account = header("chatgpt-account-id");
    let upgrade = header("upgrade");
    let encoding = header("content-encoding");
    let raw = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    // As the real APIs: the body is read in its content coding, and one
    // that does not decode is a bad request.
    let (resp, note, body) = match decode(&encoding, &raw) {
        Ok(body) => {
            let (resp, note) = route(&st, &host, &method, &path, &authorization, &upgrade, &body);
            (resp, note, body)
        }
        Err(why) => (
            json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": {"message": why, "type": "invalid_request_error"}}),
            ),
            "undecodable",
            Vec::new(),
        ),
    };
    if note == "reply" || note == "acted" {
        let delay = st.lock().map(|s| s.reply_delay).unwrap_or_default();
        tokio::time::sleep(delay).await;
    }
    let reply = st.lock().map(|s| s.replies).unwrap_or(0);
    let line = json!({"reply": if note == "reply" { json!(reply) } else { Value::Null },"time_ms": now_ms(), "method": method, "host": host, "path": path,
                      "authorization": authorization, "account": account, "body_bytes": body.len(),
                      "content_encoding": encoding, "wire_bytes": raw.len(),
                      "status": resp.status().as_u16(), "note": note});
    if let Ok(mut s) = st.lock() {
        let _ = writeln!(s.log, "{line}");
    }
    resp
}

/// A request body in its content coding, decoded (identity, gzip,
/// deflate, zstd); an unknown coding or a broken body is an error.
fn decode(encoding: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => return Ok(raw.to_vec()),
        "gzip" => flate2::read::MultiGzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip body: {e}"))?,
        "deflate" => flate2::read::ZlibDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| format!("deflate body: {e}"))?,
        "zstd" => {
            let mut d = ruzstd::decoding::StreamingDecoder::new(raw)
                .map_err(|e| format!("zstd body: {e}"))?;
            d.read_to_end(&mut out)
                .map_err(|e| format!("zstd body: {e}"))?
        }
        other => return Err(format!("unsupported content-encoding {other:?}")),
    };
    Ok(out)
}

fn route(
    st: &Shared,
    host: &str,
    method: &str,
    path: &str,
    authorization: &str,
    upgrade: &str,
    body: &[u8],
) -> (Response<Full<Bytes>>, &'static str) {
    let Ok(mut s) = st.lock() else {
        return (
            respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "poisoned"),
            "",
        );
    };
    if host == "auth.openai.com" && path == "/oauth/token" && method == "POST" {
        let grant: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if grant["grant_type"] != "refresh_token" || grant["refresh_token"] != s.refresh.as_str() {
            return (
                json_response(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "invalid_grant",
                    "error_description": "refresh token is not the current one"}),
                ),
                "refresh-refused",
            );
        }
        return (json_response(StatusCode::OK, issue(&mut s)), "refreshed");
    }
    if !HOSTS.contains(&host) {
        return (
            respond(StatusCode::NOT_FOUND, "text/plain", "unknown host"),
            "",
        );
    }
    let token = authorization.strip_prefix("Bearer ").unwrap_or("");
    let valid = s
        .tokens
        .iter()
        .any(|(t, until)| t == token && until.is_none_or(|u| Instant::now() < u));
    if !valid {
        let known = s.tokens.iter().any(|(t, _)| t == token);
        return (
            unauthorized(host),
            if known { "expired" } else { "bad-token" },
        );
    }
    match (host, method, path) {
        ("api.anthropic.com", "POST", p) if p.starts_with("/v1/messages") => {
            s.replies += 1;
            let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let offers_bash = req["tools"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["name"] == "Bash"));
            if offers_bash && s.act.is_some() && !has_tool_result(&req) {
                let command = s.act.take().unwrap_or_default();
                return (anthropic_tool_use(&req, &command), "act");
            }
            let note = if has_tool_result(&req) {
                "acted"
            } else {
                "reply"
            };
            (anthropic_messages(&req, s.replies), note)
        }
        ("api.anthropic.com", "GET", "/api/claude_code/settings") => {
            (json_response(StatusCode::OK, json!({})), "")
        }
        ("api.anthropic.com", "GET", "/api/claude_code/policy_limits") => {
            (json_response(StatusCode::OK, json!({})), "")
        }
        ("chatgpt.com", "GET", "/backend-api/wham/accounts/check") => (
            json_response(
                StatusCode::OK,
                json!({
                "accounts": [{"id": ACCOUNT, "plan_type": "plus", "name": "Mock", "structure": "personal",
                              "workspace_backend_origin": "https://chatgpt.com",
                              "account_routing_override": "NO_CONSTRAINT"}],
                "account_ordering": [ACCOUNT], "default_account_id": ACCOUNT}),
            ),
            "",
        ),
        ("chatgpt.com", "POST", "/backend-api/codex/responses") => {
            // A turn is JSON with a model and input, as the real API wants.
            let turn: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            if !(turn["model"].is_string() && turn["input"].is_array()) {
                return (
                    json_response(
                        StatusCode::BAD_REQUEST,
                        json!({"error": {"message": "a turn needs model and input", "type": "invalid_request_error"}}),
                    ),
                    "bad-turn",
                );
            }
            s.replies += 1;
            (codex_responses(s.replies), "reply")
        }
        // The WebSocket transport: refused, so Codex falls back to POST.
        ("chatgpt.com", "GET", "/backend-api/codex/responses") => (
            respond(StatusCode::NOT_FOUND, "text/plain", "no websocket here"),
            if upgrade.is_empty() {
                ""
            } else {
                "websocket-refused"
            },
        ),
        ("chatgpt.com", "POST", "/backend-api/codex/analytics-events/events") => {
            (json_response(StatusCode::OK, json!({})), "")
        }
        _ => (
            json_response(StatusCode::NOT_FOUND, json!({"detail": "not in the mock"})),
            "",
        ),
    }
}

fn tls(dir: &std::path::Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let e = |e: rcgen::Error| e.to_string();
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "bb mock LLM API CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(e)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).map_err(|e| e.to_string())?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(HOSTS.iter().map(|h| h.to_string()).collect::<Vec<_>>())
        .map_err(e)?;
    let key = KeyPair::generate().map_err(e)?;
    let cert = leaf.signed_by(&key, &issuer).map_err(e)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("mock-llm: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), String> {
    let a = args()?;
    std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(a.dir.join("requests.jsonl"))
        .map_err(|e| e.to_string())?;
    let config = tls(&a.dir)?;
    let st: Shared = Arc::new(Mutex::new(State {
        tokens: vec![(a.token.clone(), a.ttl.map(|t| Instant::now() + t))],
        refresh: a.refresh,
        issued: 0,
        replies: 0,
        ttl: a.ttl,
        log,
        as_host: a.plain.clone(),
        reply_delay: a.reply_delay,
        act: a.act,
    }));
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    eprintln!("mock-llm: listening on {}", a.listen);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, st) = (tokio_rustls::TlsAcceptor::from(config.clone()), st.clone());
        let plain = a.plain.is_some();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, Infallible>(handle(req, st).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            if plain {
                let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
            } else if let Ok(stream) = acceptor.accept(tcp).await {
                let _ = http.serve_connection(TokioIo::new(stream), svc).await;
            }
        });
    }
}
