//! The supervise MCP server: initialize, tools/list, and a tool call that
//! files a proposal and answers with the operator's decision.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bb_sidecar::supervise::Supervise;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start(dir: &Path, wait: Duration) -> std::net::SocketAddr {
    std::fs::write(
        dir.join("egress.json"),
        json!({"routes": [{"host": "api.anthropic.com", "path_allowlist": [], "auth": {"scheme": "Bearer", "token_env": "T"}}, {"host": "github.com", "path_allowlist": ["/me/"], "auth": null}]}).to_string(),
    )
    .unwrap();
    let sup = Supervise {
        queue: dir.join("proposals"),
        egress_config: dir.join("egress.json"),
        slug: "alpha-abc123".into(),
        agent: "alpha".into(),
        wait,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(bb_sidecar::supervise::serve(listener, Arc::new(sup)));
    addr
}

async fn rpc(addr: std::net::SocketAddr, body: Value) -> (u16, Value) {
    let text = body.to_string();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: sidecars\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn call(id: u64, name: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}})
}

fn answer(v: &Value) -> String {
    v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Wait for the proposal file, then write the operator's decision.
async fn decide(dir: &Path, decision: Value) -> Value {
    for _ in 0..200 {
        let found = std::fs::read_dir(dir.join("proposals"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p.to_string_lossy().contains("decision")
            });
        if let Some(p) = found {
            let proposal: Value =
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let id = proposal["id"].as_str().unwrap();
            std::fs::write(
                dir.join("proposals").join(format!("{id}.decision.json")),
                decision.to_string(),
            )
            .unwrap();
            return proposal;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no proposal was filed");
}

#[tokio::test]
async fn initialize_list_and_ask() {
    let d = tempfile::tempdir().unwrap();
    let addr = start(d.path(), Duration::from_secs(30)).await;
    let (status, init) = rpc(addr, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})).await;
    assert_eq!(status, 200);
    assert_eq!(init["result"]["serverInfo"]["name"], "bb-supervise");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    let (status, _) = rpc(
        addr,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202);
    let (_, list) = rpc(
        addr,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "list-egress-proxy-routes",
            "egress-proxy-block",
            "credentialed-route-request",
            "capability-block",
            "report-stuck"
        ]
    );
    for t in list["result"]["tools"].as_array().unwrap() {
        assert_eq!(t["inputSchema"]["type"], "object");
    }
    let (_, routes) = rpc(addr, call(3, "list-egress-proxy-routes", json!({}))).await;
    let routes = answer(&routes);
    assert!(
        routes.contains("github.com (paths: /me/)") && routes.contains("credential injected"),
        "{routes}"
    );
    assert!(
        !routes.contains("\"T\""),
        "token env names stay out of the agent's view"
    );

    // Ask; the operator approves; the call answers.
    let ask = tokio::spawn(async move {
        rpc(addr, call(4, "egress-proxy-block", json!({"host": "PyPI.org", "path_allowlist": ["/simple/"], "justification": "pip install"}))).await
    });
    let proposal = decide(
        d.path(),
        json!({"decision": "approved", "request": {"kind": "egress", "host": "pypi.org", "path_allowlist": ["/simple/"]}, "note": null}),
    )
    .await;
    assert_eq!(
        proposal["request"],
        json!({"kind": "egress", "host": "pypi.org", "path_allowlist": ["/simple/"]})
    );
    assert_eq!(proposal["agent"], "alpha");
    assert_eq!(proposal["reason"], "pip install");
    let (_, res) = ask.await.unwrap();
    assert_eq!(
        answer(&res),
        "Approved: pypi.org is now allowed for /simple/. Retry your request."
    );
}

#[tokio::test]
async fn rejections_timeouts_and_bad_requests() {
    let d = tempfile::tempdir().unwrap();
    let addr = start(d.path(), Duration::from_secs(30)).await;
    let ask = tokio::spawn(async move {
        rpc(
            addr,
            call(
                1,
                "report-stuck",
                json!({"message": "the tests need a GPU"}),
            ),
        )
        .await
    });
    decide(
        d.path(),
        json!({"decision": "rejected", "reason": "no GPU here; skip those tests"}),
    )
    .await;
    assert_eq!(
        answer(&ask.await.unwrap().1),
        "Rejected by the operator: no GPU here; skip those tests"
    );

    let (_, bad) = rpc(
        addr,
        call(
            2,
            "egress-proxy-block",
            json!({"host": "https://x.com/", "justification": "x"}),
        ),
    )
    .await;
    assert_eq!(bad["result"]["isError"], true);
    let (_, unknown) = rpc(
        addr,
        json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}),
    )
    .await;
    assert_eq!(unknown["error"]["code"], -32601);

    let quick = tempfile::tempdir().unwrap();
    let addr = start(quick.path(), Duration::from_millis(300)).await;
    let (_, waited) = rpc(
        addr,
        call(
            4,
            "egress-proxy-block",
            json!({"host": "crates.io", "justification": "cargo"}),
        ),
    )
    .await;
    assert!(answer(&waited).starts_with("No decision yet"), "{waited}");
}

#[tokio::test]
async fn a_flood_of_proposals_is_capped_in_count_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path(), Duration::from_millis(50)).await;
    let huge = "x".repeat(200 * 1024);
    let (_, v) = rpc(
        addr,
        call(
            1,
            "egress-proxy-block",
            json!({"host": "pypi.org", "justification": huge}),
        ),
    )
    .await;
    assert!(answer(&v).contains("keep it under"), "{v}");
    for i in 0..40 {
        let (_, v) = rpc(
            addr,
            call(
                i + 2,
                "egress-proxy-block",
                json!({"host": format!("h{i}.example"), "justification": "need it"}),
            ),
        )
        .await;
        if i >= 16 {
            assert!(
                answer(&v).contains("already wait for the operator"),
                "{i}: {v}"
            );
        }
    }
    let queue = dir.path().join("proposals");
    let files: Vec<_> = std::fs::read_dir(&queue).unwrap().flatten().collect();
    assert_eq!(files.len(), 16, "{files:?}");
    let size: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    assert!(size < 16 * 64 * 1024);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // The owner and bb (the state dir's group), nobody else.
    assert_eq!(mode(&queue) & 0o007, 0, "{:o}", mode(&queue));
    assert!(files.iter().all(|f| mode(&f.path()) == 0o640));
}
