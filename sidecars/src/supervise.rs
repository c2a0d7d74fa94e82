//! `bb-sidecar supervise`: an MCP server (streamable HTTP, JSON-RPC 2.0)
//! the agent asks when it is stuck. Each request becomes a proposal file in
//! the queue the bottle shares with bb; the call waits for the operator's
//! decision and answers in plain text.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::egress::config::RouteConfig;
use bb_contract::proposal::{Decision, EgressRequest, Proposal, Request as Ask};
use tokio::net::TcpListener;

/// Requests waiting for the operator, at most; more are refused.
const MAX_PENDING: usize = 16;
/// One request's size on disk, at most.
const MAX_PROPOSAL_BYTES: usize = 64 * 1024;

pub const PROTOCOL_VERSION: &str = "2025-06-18";

pub struct Supervise {
    /// Where proposals go and decisions come back (shared with bb, 0700).
    pub queue: PathBuf,
    /// The live egress config, for listing routes.
    pub egress_config: PathBuf,
    pub slug: String,
    pub agent: String,
    /// How long a call waits for the operator.
    pub wait: Duration,
}

fn tools() -> Value {
    json!([
        {
            "name": "list-egress-proxy-routes",
            "description": "List the hosts (and path prefixes) this bottle may reach through its egress proxy. No approval needed.",
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false}
        },
        {
            "name": "egress-proxy-block",
            "description": "Ask the operator to allow a host (optionally only some path prefixes) that the egress proxy refused. Waits for the decision.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "host": {"type": "string", "description": "The host name, like pypi.org"},
                    "path_allowlist": {"type": "array", "items": {"type": "string"}, "description": "Absolute path prefixes; omit for any path"},
                    "justification": {"type": "string", "description": "Why you need it"}
                },
                "required": ["host", "justification"],
                "additionalProperties": false
            }
        },
        {
            "name": "credentialed-route-request",
            "description": "Ask the operator for a route that carries a credential (the operator picks the token; you never see it). Waits for the decision.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "host": {"type": "string"},
                    "justification": {"type": "string"}
                },
                "required": ["host", "justification"],
                "additionalProperties": false
            }
        },
        {
            "name": "capability-block",
            "description": "Ask the operator to add something to your image (Dockerfile lines run as root on top of it, like RUN apt-get install -y jq). On approval the image is rebuilt and your container recreated with your home directory and workspace carried over; this session ends and a new one starts.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "dockerfile_lines": {"type": "string", "description": "Dockerfile instructions to add"},
                    "justification": {"type": "string"}
                },
                "required": ["dockerfile_lines", "justification"],
                "additionalProperties": false
            }
        },
        {
            "name": "report-stuck",
            "description": "Tell the operator you are stuck and why, in free text. Waits for their answer.",
            "inputSchema": {
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"],
                "additionalProperties": false
            }
        }
    ])
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn text(t: impl Into<String>, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": t.into()}], "isError": is_error})
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && !h.contains("://")
        && h.trim_start_matches("*.")
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

impl Supervise {
    fn list_routes(&self) -> Value {
        /// The part of the egress config the agent may see.
        #[derive(serde::Deserialize)]
        struct Routes {
            #[serde(default)]
            routes: Vec<RouteConfig>,
        }
        let routes = std::fs::read_to_string(&self.egress_config)
            .ok()
            .and_then(|t| serde_json::from_str::<Routes>(&t).ok())
            .map(|c| c.routes)
            .unwrap_or_default();
        let lines: Vec<String> = routes
            .iter()
            .map(|r| {
                let mut line = r.host.clone();
                if !r.path_allowlist.is_empty() {
                    line.push_str(&format!(" (paths: {})", r.path_allowlist.join(", ")));
                }
                if r.auth.is_some() {
                    line.push_str(" (credential injected by the proxy)");
                }
                line
            })
            .collect();
        if lines.is_empty() {
            text("No egress routes: every request is refused.", false)
        } else {
            text(
                format!("This bottle may reach:\n{}", lines.join("\n")),
                false,
            )
        }
    }

    /// Proposals waiting for the operator.
    fn pending(&self) -> usize {
        std::fs::read_dir(&self.queue)
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.ends_with(".json")
                            && !n.ends_with(".decision.json")
                            && !self
                                .queue
                                .join(n.replace(".json", ".decision.json"))
                                .exists()
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Write a proposal and wait for bb's decision.
    async fn propose(&self, request: Ask, reason: &str) -> Value {
        // The queue lives on the operator's disk: bounded in count and size.
        if self.pending() >= MAX_PENDING {
            return text(
                format!("{MAX_PENDING} requests already wait for the operator; wait for their decisions before asking again."),
                true,
            );
        }
        let id = format!(
            "{}-{}",
            crate::egress::audit::now_ms(),
            std::process::id() % 10_000 + rand_suffix()
        );
        let proposal = Proposal {
            id: id.clone(),
            slug: self.slug.clone(),
            agent: self.agent.clone(),
            created_at: crate::egress::audit::now_ms().to_string(),
            reason: reason.to_string(),
            request,
        };
        let bytes = serde_json::to_vec_pretty(&proposal).unwrap_or_default();
        if bytes.len() > MAX_PROPOSAL_BYTES {
            return text(
                format!(
                    "The request is {} bytes; keep it under {MAX_PROPOSAL_BYTES} (a shorter reason, fewer lines).",
                    bytes.len()
                ),
                true,
            );
        }
        let path = self.queue.join(format!("{id}.json"));
        let tmp = self.queue.join(format!(".{id}.tmp"));
        let written = {
            use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
            std::fs::DirBuilder::new()
                .recursive(true)
                // bb (the state dir's group) reads proposals and
                // writes decisions beside them.
                .mode(0o770)
                .create(&self.queue)
                .and_then(|_| {
                    use std::io::Write;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o640)
                        .open(&tmp)?
                        .write_all(&bytes)
                })
                .and_then(|_| std::fs::rename(&tmp, &path))
        };
        if let Err(e) = written {
            return text(format!("Could not file the request: {e}"), true);
        }
        let decision_path = self.queue.join(format!("{id}.decision.json"));
        let deadline = tokio::time::Instant::now() + self.wait;
        while tokio::time::Instant::now() < deadline {
            if let Some(d) = read_decision(&decision_path) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        text(
            format!(
                "No decision yet after {} seconds; the request stays in the operator's queue. Carry on with something else and check later with list-egress-proxy-routes.",
                self.wait.as_secs()
            ),
            false,
        )
    }

    async fn call(&self, name: &str, args: &Value) -> Value {
        let s = |k: &str| {
            args.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .trim()
                .to_string()
        };
        match name {
            "list-egress-proxy-routes" => self.list_routes(),
            "egress-proxy-block" => {
                let host = s("host").to_ascii_lowercase();
                let why = s("justification");
                if !valid_host(&host) {
                    return text(format!("{host:?} is not a host name (like pypi.org)"), true);
                }
                if why.is_empty() {
                    return text("Say why you need it (justification).", true);
                }
                let paths: Vec<String> = args
                    .get("path_allowlist")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(bad) = paths.iter().find(|p| !p.starts_with('/')) {
                    return text(format!("path {bad:?} must start with '/'"), true);
                }
                let request = Ask::Egress(EgressRequest {
                    host,
                    path_allowlist: paths,
                });
                self.propose(request, &why).await
            }
            "credentialed-route-request" => {
                let host = s("host").to_ascii_lowercase();
                if !valid_host(&host) {
                    return text(format!("{host:?} is not a host name"), true);
                }
                let request = Ask::Credentialed {
                    host,
                    token_ref: None,
                };
                self.propose(request, &s("justification")).await
            }
            "capability-block" => {
                let lines = s("dockerfile_lines");
                let why = s("justification");
                if lines.is_empty() || why.is_empty() {
                    return text("Give the Dockerfile lines and say why.", true);
                }
                if lines
                    .lines()
                    .any(|l| l.trim_start().to_ascii_uppercase().starts_with("FROM "))
                {
                    return text(
                        "FROM is not allowed: the lines are added on top of your current image.",
                        true,
                    );
                }
                self.propose(Ask::Capability { dockerfile: lines }, &why)
                    .await
            }
            "report-stuck" => {
                let message = s("message");
                if message.is_empty() {
                    return text("Say what is blocking you (message).", true);
                }
                let request = Ask::Stuck {
                    message: message.clone(),
                };
                self.propose(request, &message).await
            }
            other => text(format!("Unknown tool {other}"), true),
        }
    }

    pub async fn handle_rpc(&self, msg: &Value) -> Option<Value> {
        let id = msg.get("id").cloned();
        let method = msg.get("method").and_then(|m| m.as_str()).unwrap_or("");
        let id = match id {
            // Notifications get no answer.
            None => return None,
            Some(id) => id,
        };
        Some(match method {
            "initialize" => rpc_result(
                &id,
                json!({
                    "protocolVersion": msg["params"]["protocolVersion"].as_str().unwrap_or(PROTOCOL_VERSION),
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {"name": "bb-supervise", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": "When the egress proxy refuses a request (403 'bb egress blocked this request'), ask for the route with egress-proxy-block and a reason; the operator decides."
                }),
            ),
            "ping" => rpc_result(&id, json!({})),
            "tools/list" => rpc_result(&id, json!({"tools": tools()})),
            "tools/call" => {
                let name = msg["params"]["name"].as_str().unwrap_or("");
                let args = msg["params"].get("arguments").cloned().unwrap_or(json!({}));
                rpc_result(&id, self.call(name, &args).await)
            }
            _ => rpc_error(&id, -32601, &format!("method not found: {method}")),
        })
    }
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// bb's decision, once it is written, as the agent is told it.
fn read_decision(path: &Path) -> Option<Value> {
    let decision: Decision = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(match decision {
        Decision::Approved { request, note } => {
            let what = match request {
                Ask::Egress(e) if e.path_allowlist.is_empty() => format!("{} is now allowed", e.host),
                Ask::Egress(e) => format!(
                    "{} is now allowed for {}",
                    e.host,
                    e.path_allowlist.join(", ")
                ),
                Ask::Credentialed { host, .. } => {
                    format!("{host} now carries a credential the proxy injects")
                }
                Ask::Capability { .. } => {
                    "your image is being rebuilt with the change; this session ends and a new one starts".to_string()
                }
                // Pushes are the gate's to file and answer, never the
                // agent's through here.
                Ask::Stuck { .. } | Ask::Push(_) => "the operator approved".to_string(),
            };
            let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
            text(
                format!("Approved: {what}{note}. Retry your request."),
                false,
            )
        }
        Decision::Rejected { reason } => text(format!("Rejected by the operator: {reason}"), false),
    })
}

/// Serve MCP over streamable HTTP at `/mcp`.
pub async fn serve(listener: TcpListener, sup: Arc<Supervise>) -> std::io::Result<()> {
    loop {
        let (stream, _peer): (_, SocketAddr) = listener.accept().await?;
        let sup = sup.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let sup = sup.clone();
                async move { Ok::<_, Infallible>(handle(req, &sup).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap_or_default()
    })));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle(req: Request<Incoming>, sup: &Supervise) -> Response<Full<Bytes>> {
    if req.uri().path() != "/mcp" {
        return respond(
            StatusCode::NOT_FOUND,
            json!({"error": "the MCP endpoint is /mcp"}),
        );
    }
    if req.method() != Method::POST {
        // No server-initiated stream: every answer rides on its POST.
        return respond(StatusCode::METHOD_NOT_ALLOWED, Value::Null);
    }
    let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return respond(StatusCode::PAYLOAD_TOO_LARGE, Value::Null),
    };
    let msg: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return respond(
                StatusCode::BAD_REQUEST,
                rpc_error(&Value::Null, -32700, &format!("parse error: {e}")),
            )
        }
    };
    if let Value::Array(batch) = &msg {
        let mut out = Vec::new();
        for m in batch {
            if let Some(r) = sup.handle_rpc(m).await {
                out.push(r);
            }
        }
        return if out.is_empty() {
            respond(StatusCode::ACCEPTED, Value::Null)
        } else {
            respond(StatusCode::OK, Value::Array(out))
        };
    }
    match sup.handle_rpc(&msg).await {
        Some(r) => respond(StatusCode::OK, r),
        None => respond(StatusCode::ACCEPTED, Value::Null),
    }
}

/// Run on `listen` until the process ends.
pub async fn run(listen: &str, sup: Supervise) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    eprintln!(
        "bb-sidecar supervise: listening on {}",
        listener.local_addr()?
    );
    serve(listener, Arc::new(sup)).await?;
    Ok(())
}
