//! The answers egress gives itself: a refusal (the marker's one line and
//! `x-bb-egress: blocked`), an upstream that could not be reached (logged
//! as the failure it is), and plain errors.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

use super::audit::Decision;
use super::policy::Block;
use super::proxy::audit;
use super::shared::Shared;
use super::upstream::Failure;

/// Any error a body can end with (the agent's, upstream's, or a scan's).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub type Body = BoxBody<Bytes, BoxError>;

pub(super) fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(super) fn refuse(block: &Block) -> Response<Body> {
    let mut r = Response::new(full(block.body()));
    *r.status_mut() = block.status();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert("x-bb-egress", HeaderValue::from_static("blocked"));
    r
}

/// An allowed request whose upstream could not be reached: logged as the
/// failure it is, answered with the gateway error and its reason.
pub(super) fn failed(
    shared: &Shared,
    peer: SocketAddr,
    method: &str,
    path: &str,
    f: &Failure,
) -> Response<Body> {
    let host = match f {
        Failure::Unresolvable { host, .. }
        | Failure::Connect { host, .. }
        | Failure::Tls { host, .. }
        | Failure::Timeout { host, .. }
        | Failure::Broken { host, .. } => host.clone(),
    };
    audit(
        shared,
        peer,
        &host,
        method,
        path,
        Decision::Failed,
        Some(f.rule().to_string()),
    );
    let mut r = Response::new(full(f.body()));
    *r.status_mut() = f.status();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert("x-bb-egress", HeaderValue::from_static("upstream-failed"));
    r
}

pub(super) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("bb egress: {text}\n")));
    *r.status_mut() = status;
    r
}
