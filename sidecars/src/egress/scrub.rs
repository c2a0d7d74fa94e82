//! Responses on a credentialed route with the injected credential taken
//! out: an upstream that reflects request headers (an echo endpoint, an
//! error page quoting the request) must not hand the agent the token.
//! Bodies are scrubbed as they stream, holding back only enough bytes to
//! catch a token split across two chunks.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use hyper::body::{Body, Frame};

/// What the agent sees where the credential was.
pub const REMOVED: &str = "[bb: credential removed]";

/// Replace every `needle` in `haystack`.
fn replace(haystack: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(REMOVED.as_bytes());
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Scrub response headers in place.
pub fn headers(h: &mut HeaderMap, token: &str) {
    for v in h.values_mut() {
        if v.as_bytes()
            .windows(token.len())
            .any(|w| w == token.as_bytes())
        {
            if let Ok(clean) =
                http::HeaderValue::from_bytes(&replace(v.as_bytes(), token.as_bytes()))
            {
                *v = clean;
            }
        }
    }
}

/// The length of the longest end of `buf` that begins `needle` (shorter
/// than `needle` itself, which `replace` has already taken out).
fn partial_prefix(buf: &[u8], needle: &[u8]) -> usize {
    (1..needle.len().min(buf.len() + 1))
        .rev()
        .find(|&k| buf.ends_with(&needle[..k]))
        .unwrap_or(0)
}

pub struct Scrubbed<B> {
    inner: B,
    needle: Vec<u8>,
    carry: Vec<u8>,
    /// A trailers frame waiting until the held-back bytes have gone out.
    pending: Option<Frame<Bytes>>,
    ended: bool,
}

impl<B> Scrubbed<B> {
    pub fn new(inner: B, token: &str) -> Scrubbed<B> {
        Scrubbed {
            inner,
            needle: token.as_bytes().to_vec(),
            carry: Vec::new(),
            pending: None,
            ended: false,
        }
    }
}

impl<B> Body for Scrubbed<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(f) = this.pending.take() {
                return Poll::Ready(Some(Ok(f)));
            }
            if this.ended {
                if this.carry.is_empty() {
                    return Poll::Ready(None);
                }
                let rest = std::mem::take(&mut this.carry);
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.ended = true;
                    let rest = replace(&std::mem::take(&mut this.carry), &this.needle);
                    this.carry = rest;
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let mut buf = std::mem::take(&mut this.carry);
                        buf.extend_from_slice(&data);
                        let buf = replace(&buf, &this.needle);
                        // Hold back only what could be the start of a
                        // token (usually nothing), so a server-sent
                        // event is not held up until the next one.
                        let keep = partial_prefix(&buf, &this.needle);
                        let cut = buf.len() - keep;
                        this.carry = buf[cut..].to_vec();
                        if cut > 0 {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(
                                &buf[..cut],
                            )))));
                        }
                    }
                    Err(trailers) => {
                        // Flush what is held back first, then the trailers.
                        this.pending = Some(trailers);
                        if !this.carry.is_empty() {
                            let rest = replace(&std::mem::take(&mut this.carry), &this.needle);
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                        }
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that yields the given chunks one frame at a time.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    #[tokio::test]
    async fn a_token_split_across_chunks_is_still_caught() {
        let token = "sk-secret-token-123";
        for cut in 0..=token.len() {
            let text = format!("echo: Bearer {token} and {token}.");
            let at = "echo: Bearer ".len() + cut;
            let chunks = [
                &text[..at],
                &text[at..at + 3.min(text.len() - at)],
                &text[(at + 3).min(text.len())..],
            ];
            let body = Chunks(chunks.iter().map(|c| Bytes::from(c.to_string())).collect());
            let out = Scrubbed::new(body, token)
                .collect()
                .await
                .unwrap()
                .to_bytes();
            let out = String::from_utf8(out.to_vec()).unwrap();
            assert_eq!(
                out,
                format!("echo: Bearer {REMOVED} and {REMOVED}."),
                "cut at {cut}"
            );
        }
    }

    #[tokio::test]
    async fn an_event_is_passed_on_whole_when_nothing_could_be_a_token() {
        let event = Bytes::from_static(b"event: delta\ndata: {\"text\": \"hi\"}\n\n");
        let mut s = Scrubbed::new(Chunks([event.clone()].into_iter().collect()), "sk-token");
        let first = s.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, event, "nothing held back");
        assert_eq!(partial_prefix(b"abc sk-to", b"sk-token"), 5);
        assert_eq!(partial_prefix(b"abc s", b"sk-token"), 1);
        assert_eq!(partial_prefix(b"abc", b"sk-token"), 0);
    }

    #[test]
    fn every_copy_is_replaced() {
        assert_eq!(
            replace(b"a TOKEN b TOKENTOKEN", b"TOKEN"),
            format!("a {REMOVED} b {REMOVED}{REMOVED}").into_bytes()
        );
        let mut h = HeaderMap::new();
        h.insert("x-echo", "Bearer TOKEN".parse().unwrap());
        headers(&mut h, "TOKEN");
        assert_eq!(h["x-echo"], format!("Bearer {REMOVED}").as_str());
    }
}
