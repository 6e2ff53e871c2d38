//! A request id for every request: in the response (`X-Request-Id`), in every error body,
//! and in every log line about the request, so that what a client reports can be found in
//! the log, where the details are that the client is not shown.
//!
//! A sane incoming `X-Request-Id` (from a proxy or the client: 1 to 64 letters, digits and
//! `-_.:`) is kept, so one id follows a request through every hop; anything else is
//! replaced by a fresh random one.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The header that carries the id, both ways.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id that is kept.
const MAX_LEN: usize = 64;

/// One request's id, as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// The incoming id if it is sane, else a fresh one.
    fn for_request(incoming: Option<&HeaderValue>) -> Self {
        match incoming.and_then(|value| value.to_str().ok()) {
            Some(id) if is_sane(id) => RequestId(id.into()),
            _ => RequestId::fresh(),
        }
    }

    /// 16 hexadecimal digits, random (each `RandomState` is seeded anew from the system).
    fn fresh() -> Self {
        RequestId(format!("{:016x}", RandomState::new().hash_one(0u8)).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_sane(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware: gives the request its id (as an extension, for handlers and the logging
/// middleware) and the response its `X-Request-Id` header.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = RequestId::for_request(request.headers().get(&HEADER));
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    let value = HeaderValue::from_str(id.as_str()).expect("ids are plain ASCII");
    response.headers_mut().insert(HEADER.clone(), value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_incoming_ids_are_kept_and_others_replaced() {
        let kept = RequestId::for_request(Some(&HeaderValue::from_static("abc-123_x.y:z")));
        assert_eq!(kept.as_str(), "abc-123_x.y:z");
        for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
            let id = RequestId::for_request(Some(&HeaderValue::from_str(bad).unwrap()));
            assert_ne!(id.as_str(), bad);
            assert!(is_sane(id.as_str()), "{id}");
        }
        let (a, b) = (RequestId::fresh(), RequestId::fresh());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 16);
    }
}
