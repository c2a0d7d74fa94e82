//! Upstream's answer as the agent gets it: a token grant's tokens kept in
//! egress (the agent sees placeholders), an injected token scrubbed.

use std::time::Duration;

use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::answer::{full, plain, Body, BoxError};
use super::body;
use super::shared::Shared;
use super::tokens;
use crate::dlp;
use crate::dlp::inflate::Coding;

/// Upstream's answer as the agent gets it: a token grant's kept (the
/// agent sees placeholders), an injected token scrubbed, others as sent.
pub(super) async fn answer(
    resp: Response<Incoming>,
    refresh: Option<tokens::RefreshConfig>,
    injected: Option<String>,
    shared: &Shared,
) -> Response<Body> {
    match (refresh, injected) {
        (Some(r), _) if resp.status().is_success() => keep_issued(resp, &r, shared).await,
        (_, Some(token)) => {
            let (mut parts, body) = resp.into_parts();
            super::scrub::headers(&mut parts.headers, &token);
            // The length may change where a token is replaced.
            parts.headers.remove(http::header::CONTENT_LENGTH);
            // Asked for uncompressed, but sent compressed anyway: decoded,
            // so the scrubber can read it.
            let codings = answer_codings(&parts.headers);
            let body: Body = match codings {
                Some(c) if !c.is_empty() => {
                    parts.headers.remove(http::header::CONTENT_ENCODING);
                    body::decoded_answer(body, c)
                }
                _ => body.map_err(BoxError::from).boxed(),
            };
            Response::from_parts(
                parts,
                super::scrub::Scrubbed::new(body, &token)
                    .map_err(BoxError::from)
                    .boxed(),
            )
        }
        _ => resp.map(|b| b.map_err(BoxError::from).boxed()),
    }
}

/// An answer's content codings; None when one cannot be read.
fn answer_codings(headers: &http::HeaderMap) -> Option<Vec<Coding>> {
    let all: Vec<String> = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    Coding::parse_header(&all.join(",")).ok()
}

/// A token endpoint's answer: egress keeps the new tokens, the agent gets
/// placeholders. An answer that cannot be read whole is refused rather
/// than passed on with real tokens in it.
async fn keep_issued(
    resp: Response<Incoming>,
    r: &tokens::RefreshConfig,
    shared: &Shared,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let Ok(Ok(bytes)) = tokio::time::timeout(
        Duration::from_secs(30),
        Limited::new(body, 1024 * 1024).collect(),
    )
    .await
    else {
        return plain(
            StatusCode::BAD_GATEWAY,
            "the token endpoint's answer could not be read",
        );
    };
    let bytes = bytes.to_bytes();
    // Asked for uncompressed; read it whatever it came as.
    let readable = match answer_codings(&parts.headers) {
        Some(c) if !c.is_empty() => dlp::inflate::decode_all(
            &c,
            &bytes,
            dlp::inflate::Limits::sent(1024 * 1024),
            "token answer",
        )
        .ok(),
        Some(_) => Some(bytes.to_vec()),
        None => None,
    };
    let Some((issued, answer)) = readable.and_then(|b| tokens::rewrite_answer(&b, &r.placeholder))
    else {
        return plain(
            StatusCode::BAD_GATEWAY,
            "the token endpoint's answer has no access_token",
        );
    };
    shared.tokens.set(&r.access_env, issued.access);
    if let Some(refresh) = issued.refresh {
        shared.tokens.set(&r.refresh_env, refresh);
    }
    for h in [
        http::header::CONTENT_LENGTH,
        http::header::TRANSFER_ENCODING,
        http::header::CONTENT_ENCODING,
    ] {
        parts.headers.remove(h);
    }
    Response::from_parts(parts, full(answer))
}
