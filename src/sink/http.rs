//! The HTTP sink: turns a chunk stream into a streaming response body and logs how the
//! download ended, once.
//!
//! When the stream fails after bytes were sent, the body yields the error and hyper closes
//! the connection without the terminating chunk, so the client sees an incomplete transfer
//! (curl exits 18) instead of a shorter file that looks complete. When the client goes
//! away, the body is dropped, which drops the whole pipeline upstream and so cancels the
//! query. axum reports body errors only at `trace` level, so the outcome is logged here:
//! one line per download, never one per row. Its `bytes` are the bytes sent, compressed
//! when the download is.
//!
//! A download that asked for them (`TE: trailers`) ends with a proof of completeness that
//! lies outside the data: HTTP trailers with the rows, the bytes and the SHA-256 of the
//! body as sent, which only a body that ended cleanly carries.

use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body::Frame;

use super::digest::Sha256Hex;
use crate::escape::OneLine;
use crate::format::{Compression, Format};
use crate::progress::Progress;

/// What a download is, for its log line.
pub struct DownloadLog {
    /// The request's id, which its response and its other log lines carry too.
    pub request_id: String,
    pub dataset: String,
    pub format: Format,
    /// The compression sent, by suffix or negotiated.
    pub compression: Option<Compression>,
    /// The names of the parameters bound (never their values, which can be anyone's data).
    pub params: Vec<String>,
    /// From the start of the export to its first chunk.
    pub first_byte: std::time::Duration,
    pub progress: Arc<Progress>,
    /// Told how the download ended, once (for metrics).
    pub on_end: Option<EndHook>,
    /// The name of the token the download was asked with (never the token).
    pub token: Option<String>,
    /// The client's address.
    pub client: Option<std::net::IpAddr>,
}

/// Called once when a download ends, however it ends.
pub type EndHook = Box<dyn FnOnce(&DownloadEnd) + Send + Sync>;

/// How a download ended, for an [`EndHook`].
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadEnd {
    /// `ok`, `failed` or `client_gone`, as in the log line.
    pub outcome: &'static str,
    pub rows: u64,
    /// Bytes sent, compressed when the download was.
    pub bytes: u64,
    /// The compression sent, if any.
    pub compression: Option<Compression>,
    /// The format's bytes before compression (of a complete download: all it had).
    pub plain_bytes: u64,
    pub seconds: f64,
    pub first_byte_seconds: f64,
}

impl DownloadLog {
    /// Runs the end hook, if it has not run.
    fn ended(&mut self, outcome: &'static str) {
        if let Some(hook) = self.on_end.take() {
            hook(&DownloadEnd {
                outcome,
                rows: self.progress.rows(),
                bytes: self.progress.bytes(),
                compression: self.compression,
                plain_bytes: self.progress.plain_bytes(),
                seconds: self.progress.elapsed().as_secs_f64(),
                first_byte_seconds: self.first_byte.as_secs_f64(),
            });
        }
    }
}

/// The trailers a download that asks for them ends with, announced in its `Trailer`
/// header.
pub const TRAILERS: [&str; 3] = ["x-rowpipe-rows", "x-rowpipe-bytes", "x-rowpipe-sha256"];

/// A streaming response body for `stream` that logs the download's outcome, and ends with
/// the [`TRAILERS`] when `with_trailers` (the response must announce them).
pub fn http_body<S, E>(stream: S, log: DownloadLog, with_trailers: bool) -> Body
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: StdError + Send + Sync + Unpin + 'static,
{
    Body::new(Observed {
        stream,
        log,
        ended: false,
        digest: with_trailers.then(Sha256Hex::default),
        failing: None,
    })
}

struct Observed<S, E> {
    stream: S,
    log: DownloadLog,
    ended: bool,
    /// The body's digest so far, when it ends with trailers; taken when they are sent.
    digest: Option<Sha256Hex>,
    /// The stream's failure, held back for one turn (see `poll_frame`).
    failing: Option<E>,
}

impl<S, E> Observed<S, E> {
    /// The trailers of a body that ended cleanly, with `digest` of all of it.
    fn trailers(&self, digest: Sha256Hex) -> HeaderMap {
        let progress = &self.log.progress;
        let sha256 = digest.finish();
        [
            progress.rows().to_string(),
            progress.bytes().to_string(),
            sha256,
        ]
        .into_iter()
        .zip(TRAILERS)
        .map(|(value, name)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).expect("digits and hex"),
            )
        })
        .collect()
    }
}

impl<S, E> http_body::Body for Observed<S, E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: StdError + Unpin,
{
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let item = match self.failing.take() {
            Some(error) => Some(Err(error)),
            None => match ready!(self.stream.poll_next_unpin(cx)) {
                // hyper takes chunks while its buffer has room before writing any, and a
                // body that fails closes the connection without writing what the buffer
                // holds. So the failure waits one turn, in which hyper writes out the
                // chunks before it: the client gets every byte made before the failure
                // that its socket takes, and then the broken end.
                Some(Err(error)) => {
                    self.failing = Some(error);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                item => item,
            },
        };
        let this = &mut *self;
        let log = &this.log;
        let progress = &log.progress;
        match &item {
            Some(Ok(chunk)) => {
                progress.add_bytes(chunk.len() as u64);
                if let Some(digest) = &mut this.digest {
                    digest.update(chunk);
                }
            }
            Some(Err(error)) => tracing::error!(
                dataset = %OneLine(&log.dataset),
                token = log.token.as_deref(),
                client = log.client.map(tracing::field::display),
                format = %log.format,
                compression = log.compression.map_or("none", Compression::name),
                rows = progress.rows(),
                bytes = progress.bytes(),
                seconds = progress.elapsed().as_secs_f64(),
                request_id = %log.request_id,
                first_byte_seconds = log.first_byte.as_secs_f64(),
                params = %log.params.join(","),
                outcome = "failed",
                error = %OneLine(&error.to_string()),
                "download failed; response aborted",
            ),
            None => tracing::info!(
                dataset = %OneLine(&log.dataset),
                token = log.token.as_deref(),
                client = log.client.map(tracing::field::display),
                format = %log.format,
                compression = log.compression.map_or("none", Compression::name),
                rows = progress.rows(),
                bytes = progress.bytes(),
                seconds = progress.elapsed().as_secs_f64(),
                request_id = %log.request_id,
                first_byte_seconds = log.first_byte.as_secs_f64(),
                params = %log.params.join(","),
                outcome = "ok",
                "download complete",
            ),
        }
        match item {
            Some(Ok(chunk)) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
            Some(Err(error)) => {
                this.ended = true;
                this.log.ended("failed");
                Poll::Ready(Some(Err(error)))
            }
            None => {
                this.ended = true;
                this.log.ended("ok");
                let trailers = this.digest.take().map(|digest| this.trailers(digest));
                Poll::Ready(trailers.map(|trailers| Ok(Frame::trailers(trailers))))
            }
        }
    }
}

impl<S, E> Drop for Observed<S, E> {
    fn drop(&mut self) {
        if !self.ended {
            let progress = &self.log.progress;
            tracing::warn!(
                dataset = %OneLine(&self.log.dataset),
                token = self.log.token.as_deref(),
                client = self.log.client.map(tracing::field::display),
                format = %self.log.format,
                compression = self.log.compression.map_or("none", Compression::name),
                rows = progress.rows(),
                bytes = progress.bytes(),
                seconds = progress.elapsed().as_secs_f64(),
                request_id = %self.log.request_id,
                first_byte_seconds = self.log.first_byte.as_secs_f64(),
                params = %self.log.params.join(","),
                outcome = "client_gone",
                "client went away; query cancelled",
            );
            self.log.ended("client_gone");
        }
    }
}
