//! Egress proxy cost: requests per second and added latency against a
//! direct connection to the same local upstream, for plain HTTP, CONNECT
//! passthrough and intercepted HTTPS. Each request is a new connection, as
//! an agent's tools mostly make them. Run: `cargo bench --bench egress`.

#[path = "../../sidecars/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use tokio::net::TcpStream;

const REQUESTS: usize = 400;

struct Run {
    name: &'static str,
    direct: Duration,
    proxied: Duration,
}

impl Run {
    fn report(&self) {
        let rps = |d: Duration| REQUESTS as f64 / d.as_secs_f64();
        let per = |d: Duration| d.as_secs_f64() * 1000.0 / REQUESTS as f64;
        println!(
            "{:<22} direct {:>7.0} req/s  proxied {:>7.0} req/s  ratio {:.2}x  added latency {:+.3} ms/request",
            self.name,
            rps(self.direct),
            rps(self.proxied),
            rps(self.proxied) / rps(self.direct),
            per(self.proxied) - per(self.direct)
        );
    }
}

async fn time<F, Fut>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    // Warm up (leaf certificate minting, caches), then measure.
    for _ in 0..10 {
        assert_eq!(f().await, 200);
    }
    let start = Instant::now();
    for _ in 0..REQUESTS {
        assert_eq!(f().await, 200);
    }
    start.elapsed()
}

async fn direct_http(addr: SocketAddr) -> u16 {
    raw(
        addr,
        "GET /bench HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .0
}

async fn direct_https(addr: SocketAddr, ca: &str) -> u16 {
    let s = TcpStream::connect(addr).await.unwrap();
    https_via(
        s,
        ca,
        "localhost",
        "GET /bench HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap()
    .0
}

async fn tunnelled_https(proxy: SocketAddr, target: &str, ca: &str) -> u16 {
    let (s, status) = connect(proxy, target).await;
    assert_eq!(status, 200);
    https_via(
        s,
        ca,
        "localhost",
        &format!("GET /bench HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"),
    )
    .await
    .unwrap()
    .0
}

#[tokio::main]
async fn main() {
    let s = Setup::new();
    let http_up = Upstream::start(None).await;
    let tls_up = Upstream::start(Some(server_tls(&s.upstream_ca))).await;
    let intercepting = s
        .start_proxy(
            json!([route(
                "localhost",
                &[http_up.addr.port(), tls_up.addr.port()]
            )]),
            json!({}),
        )
        .await;
    let s2 = Setup::new();
    let tls_up2 = Upstream::start(Some(server_tls(&s2.upstream_ca))).await;
    let passthrough = s2
        .start_proxy(
            json!([{"host": "localhost", "tls_passthrough": true, "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "ports": [tls_up2.addr.port()]}]),
            json!({}),
        )
        .await;
    let http_url = format!("http://localhost:{}/bench", http_up.addr.port());
    let tls_target = format!("localhost:{}", tls_up.addr.port());
    let up_ca = s.upstream_ca.cert_pem.clone();
    let up_ca2 = s2.upstream_ca.cert_pem.clone();
    let tls_target2 = format!("localhost:{}", tls_up2.addr.port());
    let bottle_ca = s.bottle_ca.cert_pem.clone();

    println!("egress proxy benchmark: {REQUESTS} sequential requests, a new connection each");
    let runs = [
        Run {
            name: "plain HTTP",
            direct: time(|| direct_http(http_up.addr)).await,
            proxied: time(|| async { get(intercepting, &http_url, "").await.0 }).await,
        },
        Run {
            name: "CONNECT passthrough",
            direct: time(|| direct_https(tls_up2.addr, &up_ca2)).await,
            proxied: time(|| tunnelled_https(passthrough, &tls_target2, &up_ca2)).await,
        },
        Run {
            name: "intercepted HTTPS",
            direct: time(|| direct_https(tls_up.addr, &up_ca)).await,
            proxied: time(|| tunnelled_https(intercepting, &tls_target, &bottle_ca)).await,
        },
    ];
    for r in &runs {
        r.report();
    }
}
