//! Local upstreams and clients for the egress proxy's tests: an HTTP and
//! an HTTPS echo server on 127.0.0.1, CAs minted with rcgen, and requests
//! sent through the proxy the way an agent's tools send them.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn mint_ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A server config for `localhost` signed by `ca`.
pub fn server_tls(ca: &Ca) -> Arc<rustls::ServerConfig> {
    let issuer =
        Issuer::from_ca_cert_pem(&ca.cert_pem, KeyPair::from_pem(&ca.key_pem).unwrap()).unwrap();
    let p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &issuer).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    Arc::new(cfg)
}

pub fn client_tls(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// An upstream that answers every request with what it received, as
/// `METHOD PATH\nauthorization: ...\nbody-bytes: N`, and counts requests.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
}

/// What a scripted upstream sees of a request.
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub authorization: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

pub type Handler = Arc<dyn Fn(Seen) -> (u16, String) + Send + Sync>;
/// A handler that makes the whole answer (headers too).
pub type Answerer = Arc<dyn Fn(Seen) -> hyper::Response<Full<Bytes>> + Send + Sync>;

impl Upstream {
    pub async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Upstream {
        Upstream::start_with(
            tls,
            Arc::new(|r: Seen| {
                (
                    200,
                    format!(
                        "{} {}\nauthorization: {}\nbody-bytes: {}\n",
                        r.method,
                        r.uri,
                        r.authorization,
                        r.body.len()
                    ),
                )
            }),
        )
        .await
    }

    /// An upstream answering each request with what `handler` returns.
    pub async fn start_with(tls: Option<Arc<rustls::ServerConfig>>, handler: Handler) -> Upstream {
        Upstream::start_answering(
            tls,
            Arc::new(move |seen| {
                let (status, text) = handler(seen);
                let mut resp = hyper::Response::new(Full::new(Bytes::from(text)));
                *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                resp
            }),
        )
        .await
    }

    /// An upstream answering each request with the response `handler` makes.
    pub async fn start_answering(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Answerer,
    ) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let c = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                let h = h.clone();
                let tls = tls.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let h = h.clone();
                        let handler = handler.clone();
                        async move {
                            h.fetch_add(1, Ordering::SeqCst);
                            let authorization = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-")
                                .to_string();
                            let (method, uri) = (req.method().to_string(), req.uri().to_string());
                            let headers = req.headers().clone();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let resp = handler(Seen {
                                method,
                                uri,
                                authorization,
                                headers,
                                body,
                            });
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    match tls {
                        Some(cfg) => {
                            if let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                            {
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(s), svc)
                                    .await;
                            }
                        }
                        None => {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        }
                    }
                });
            }
        });
        Upstream {
            addr,
            hits,
            connections,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Files for a proxy config: the bottle CA and the upstream CA.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub bottle_ca: Ca,
    pub upstream_ca: Ca,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let bottle_ca = mint_ca("test bottle CA");
        let upstream_ca = mint_ca("test upstream CA");
        std::fs::write(dir.path().join("ca.crt"), &bottle_ca.cert_pem).unwrap();
        std::fs::write(dir.path().join("ca.key"), &bottle_ca.key_pem).unwrap();
        std::fs::write(dir.path().join("upstream-ca.crt"), &upstream_ca.cert_pem).unwrap();
        Setup {
            dir,
            bottle_ca,
            upstream_ca,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("egress.json")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// Write a config with these routes (JSON values) and limits.
    pub fn write_config(&self, routes: serde_json::Value, limits: serde_json::Value) -> PathBuf {
        let d = self.dir.path();
        let cfg = serde_json::json!({
            "listen": "127.0.0.1:0",
            "routes": routes,
            "ca_cert": d.join("ca.crt"),
            "ca_key": d.join("ca.key"),
            "audit_log": self.audit_path(),
            "upstream_ca": d.join("upstream-ca.crt"),
            "limits": limits,
        });
        let path = self.config_path();
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        path
    }

    /// Start the proxy in this process on a free port.
    pub async fn start_proxy(
        &self,
        routes: serde_json::Value,
        limits: serde_json::Value,
    ) -> SocketAddr {
        let path = self.write_config(routes, limits);
        let config = bb_sidecar::egress::Config::load(&path).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = bb_sidecar::egress::shared(config).unwrap();
        tokio::spawn(bb_sidecar::egress::conn::serve(listener, shared));
        addr
    }
}

/// A route to local upstreams on these ports.
pub fn route(host: &str, ports: &[u16]) -> serde_json::Value {
    serde_json::json!({"host": host, "ssrf_ip_allowlist": ["127.0.0.1/32", "::1/128"], "ports": ports})
}

/// A raw HTTP/1.1 exchange through the proxy; the status and body.
pub async fn raw(proxy: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    parse(&out)
}

fn parse(out: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// The payload of a chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET http://host/path` through the proxy, with extra header lines.
pub async fn get(proxy: SocketAddr, url: &str, headers: &str) -> (u16, String) {
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    raw(
        proxy,
        &format!("GET {url} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"),
    )
    .await
}

/// Open a CONNECT tunnel; the stream and the proxy's status code.
pub async fn connect(proxy: SocketAddr, target: &str) -> (TcpStream, u16) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let (status, _) = parse(&head);
    (s, status)
}

/// HTTPS through a tunnel: TLS with `ca_pem` as the only root, `sni` as the
/// name, then one request. None when the TLS handshake fails.
pub async fn https_via(
    stream: TcpStream,
    ca_pem: &str,
    sni: &str,
    request: &str,
) -> Option<(u16, String)> {
    let connector = tokio_rustls::TlsConnector::from(client_tls(ca_pem));
    let mut tls = connector
        .connect(ServerName::try_from(sni.to_string()).unwrap(), stream)
        .await
        .ok()?;
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    Some(parse(&out))
}

pub fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A keep-alive HTTP/1 client on one connection.
pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// An HTTP/1 client over `io`, its connection driven in the background.
pub async fn client_over<S>(io: S) -> Sender
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// One keep-alive connection to the proxy, for absolute-form requests.
pub async fn proxy_client(proxy: SocketAddr) -> Sender {
    let s = TcpStream::connect(proxy).await.unwrap();
    let _ = s.set_nodelay(true);
    client_over(s).await
}

/// One keep-alive HTTPS connection through a CONNECT tunnel, trusting
/// `ca_pem` alone.
pub async fn tunnel_client(proxy: SocketAddr, target: &str, ca_pem: &str) -> Sender {
    let (s, status) = connect(proxy, target).await;
    assert_eq!(status, 200, "CONNECT {target}");
    let _ = s.set_nodelay(true);
    let host = target.rsplit_once(':').map(|(h, _)| h).unwrap_or(target);
    let tls = tokio_rustls::TlsConnector::from(client_tls(ca_pem))
        .connect(ServerName::try_from(host.to_string()).unwrap(), s)
        .await
        .unwrap();
    client_over(tls).await
}

/// Send one request on `sender`; the status and the body's length.
pub async fn send(
    sender: &mut Sender,
    method: &str,
    uri: &str,
    host: &str,
    body: Bytes,
) -> (u16, usize) {
    sender.ready().await.unwrap();
    let req = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host)
        .body(Full::new(body))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            len += data.len();
        }
    }
    (status, len)
}

/// The real `bb-sidecar egress` on a free port (no audit log), with
/// `nofile` as its file limit; killed when dropped.
pub struct Egress {
    child: Option<std::process::Child>,
    pub addr: SocketAddr,
}

impl Egress {
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// The process, for a caller that manages it from here on.
    /// Stop it as the bundle's init does (SIGTERM) and wait: its exit
    /// status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: kill on the pid of a child we have not reaped.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        c.wait().ok()
    }

    pub fn into_child(mut self) -> std::process::Child {
        self.child.take().unwrap()
    }
}

impl Drop for Egress {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub async fn spawn_egress(
    s: &Setup,
    routes: serde_json::Value,
    limits: serde_json::Value,
    nofile: Option<u64>,
) -> Egress {
    use std::os::unix::process::CommandExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = s.write_config(routes, limits);
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // The audit log stays on: a bottle's proxy writes a line per request.
    cfg["listen"] = serde_json::json!(format!("127.0.0.1:{port}"));
    std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    // BB_SIDECAR_BIN: measure another build (the static one bb ships).
    let bin = std::env::var_os("BB_SIDECAR_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_bb-sidecar").into());
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["egress", "--config"])
        .arg(&path)
        .stderr(std::process::Stdio::null());
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; the struct is ours.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                Ok(())
            });
        }
    }
    let child = cmd.spawn().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..300 {
        if TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Egress {
        child: Some(child),
        addr,
    }
}

/// Let this process hold thousands of sockets (soft file limit to hard).
pub fn raise_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}
