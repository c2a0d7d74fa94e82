//! A stand-in for an interactive agent CLI (claude, codex) inside bb's test
//! bottles: a prompt that echoes, its window size whenever it changes, an
//! HTTP request through the bottle's proxy, and a direct connection that
//! the sandbox must refuse.
//!
//! Commands: `fetch URL`, `direct HOST:PORT`, `ask HOST REASON`, `env NAME`,
//! `size`, `pid`, `later SECONDS TEXT` (print TEXT then, whoever watches),
//! `exit [N]`;
//! anything else is echoed back. `--continue` (or `resume`) without an
//! earlier conversation fails as claude does.

use std::io::{BufRead, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

fn window_size() -> (u16, u16) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
    unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (ws.ws_row, ws.ws_col)
}

/// Where the conversation is kept: where Claude Code keeps its
/// transcripts, so bb's test for "something to continue" sees it.
fn history_path() -> std::path::PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let path = std::path::Path::new(&home).join(".claude/projects/fake-agent/history.jsonl");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    path
}

fn fetch(url: &str) -> String {
    let proxy = std::env::var("HTTP_PROXY")
        .or_else(|_| std::env::var("http_proxy"))
        .unwrap_or_default();
    let target = proxy.trim_start_matches("http://").trim_end_matches('/');
    if target.is_empty() {
        return "fetch: no HTTP_PROXY".into();
    }
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    let mut s = match TcpStream::connect(target) {
        Ok(s) => s,
        Err(e) => return format!("fetch: cannot reach the proxy {target}: {e}"),
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!("GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if let Err(e) = s.write_all(req.as_bytes()) {
        return format!("fetch: {e}");
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    let status = body.lines().next().unwrap_or("").to_string();
    let text = body
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    format!("fetch: {status} | {text}")
}

/// Ask bb's supervise MCP server for a host: the tools/call an agent CLI
/// makes, answered when the operator decides.
fn ask(args: &str) -> String {
    let (host, reason) = args.split_once(' ').unwrap_or((args, "the test needs it"));
    mcp_call(
        "egress-proxy-block",
        &format!("{{\"host\":\"{host}\",\"justification\":\"{reason}\"}}"),
    )
}

/// Ask for Dockerfile lines to be added to this bottle's image.
fn need(lines: &str) -> String {
    mcp_call(
        "capability-block",
        &format!(
            "{{\"dockerfile_lines\":\"{}\",\"justification\":\"the test needs it\"}}",
            lines.replace('"', "'")
        ),
    )
}

fn mcp_call(tool: &str, arguments: &str) -> String {
    let body = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"{tool}\",\"arguments\":{arguments}}}}}"
    );
    let mut s = match TcpStream::connect("sidecars:9100") {
        Ok(s) => s,
        Err(e) => return format!("ask: cannot reach supervise: {e}"),
    };
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: sidecars\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = s.write_all(req.as_bytes()) {
        return format!("ask: {e}");
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    match out.split_once("\"text\":\"") {
        Some((_, rest)) => format!("ask: {}", rest.split('"').next().unwrap_or("")),
        None => format!(
            "ask: unexpected answer: {}",
            out.lines().next().unwrap_or("")
        ),
    }
}

fn direct(target: &str) -> String {
    let addrs = match target.to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return format!("direct: failed: {e}"),
    };
    for a in addrs {
        if TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok() {
            return format!("direct: connected to {a}");
        }
    }
    "direct: failed: no route".into()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let resuming = args.iter().any(|a| a == "--continue" || a == "resume");
    if resuming && !history_path().exists() {
        eprintln!("No conversation found to continue");
        std::process::exit(1);
    }
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "fake-agent ready{} args={:?}",
        if resuming { " (resumed)" } else { "" },
        args
    );
    let (rows, cols) = window_size();
    let _ = writeln!(out, "size {rows}x{cols}");
    let _ = write!(out, "> ");
    let _ = out.flush();

    std::thread::spawn(move || {
        let mut last = (rows, cols);
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = window_size();
            if now != last {
                last = now;
                let mut out = std::io::stdout();
                let _ = write!(out, "\r\nsize {}x{}\r\n> ", now.0, now.1);
                let _ = out.flush();
            }
        }
    });

    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim().to_string();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(history_path())
        {
            let _ = writeln!(f, "{line}");
        }
        let reply = match line.split_once(' ').unwrap_or((line.as_str(), "")) {
            ("fetch", url) => fetch(url),
            ("direct", target) => direct(target),
            ("ask", rest) => ask(rest),
            ("need", lines) => need(lines),
            ("env", name) => format!(
                "env {name}={}",
                std::env::var(name).unwrap_or_else(|_| "<unset>".into())
            ),
            ("pid", _) => format!("pid {}", std::process::id()),
            // A file's bytes as they are (a stream for the pane fidelity
            // tests), then the prompt on a line of its own.
            ("show", path) => match std::fs::read(path) {
                Ok(bytes) => {
                    let _ = out.write_all(&bytes);
                    String::new()
                }
                Err(e) => format!("show: {path}: {e}"),
            },
            // A clean screen, as an agent's TUI redraws.
            ("clear", _) => "\x1b[2J\x1b[H".to_string(),
            ("later", rest) => {
                let (secs, text) = rest.split_once(' ').unwrap_or((rest, "later"));
                let secs = secs.parse().unwrap_or(1);
                let text = text.to_string();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(secs));
                    let mut out = std::io::stdout();
                    let _ = write!(out, "\r\n{text}\r\n> ");
                    let _ = out.flush();
                    // For tests that check it printed while nobody watched.
                    let _ = std::fs::write("/tmp/fake-agent-printed", &text);
                });
                format!("will print in {secs}s")
            }
            ("size", _) => {
                let (r, c) = window_size();
                format!("size {r}x{c}")
            }
            ("exit", code) => std::process::exit(code.parse().unwrap_or(0)),
            _ => format!("you said: {line}"),
        };
        let _ = write!(out, "{reply}\n> ");
        let _ = out.flush();
    }
}
