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

use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::escape::OneLine;
use crate::format::{Compression, Format};
use crate::progress::Progress;

/// What a download is, for its log line.
#[derive(Debug, Clone)]
pub struct DownloadLog {
    /// The request's id, which its response and its other log lines carry too.
    pub request_id: String,
    pub dataset: String,
    pub format: Format,
    /// The compression sent, by suffix or negotiated.
    pub compression: Option<Compression>,
    pub progress: Arc<Progress>,
}

/// A streaming response body for `stream` that logs the download's outcome.
pub fn http_body<S, E>(stream: S, log: DownloadLog) -> Body
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: StdError + Send + Sync + 'static,
{
    Body::from_stream(Observed {
        stream,
        log,
        ended: false,
    })
}

struct Observed<S> {
    stream: S,
    log: DownloadLog,
    ended: bool,
}

impl<S, E> Stream for Observed<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: StdError,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let item = ready!(self.stream.poll_next_unpin(cx));
        let log = &self.log;
        let progress = &log.progress;
        match &item {
            Some(Ok(chunk)) => {
                progress.add_bytes(chunk.len() as u64);
                return Poll::Ready(item);
            }
            Some(Err(error)) => tracing::error!(
                dataset = %OneLine(&log.dataset),
                format = %log.format,
                compression = log.compression.map_or("none", Compression::name),
                rows = progress.rows(),
                bytes = progress.bytes(),
                seconds = progress.elapsed().as_secs_f64(),
                request_id = %log.request_id,
                error = %OneLine(&error.to_string()),
                "download failed; response aborted",
            ),
            None => tracing::info!(
                dataset = %OneLine(&log.dataset),
                format = %log.format,
                compression = log.compression.map_or("none", Compression::name),
                rows = progress.rows(),
                bytes = progress.bytes(),
                seconds = progress.elapsed().as_secs_f64(),
                request_id = %log.request_id,
                "download complete",
            ),
        }
        self.ended = true;
        Poll::Ready(item)
    }
}

impl<S> Drop for Observed<S> {
    fn drop(&mut self) {
        if !self.ended {
            let progress = &self.log.progress;
            tracing::warn!(
                dataset = %OneLine(&self.log.dataset),
                format = %self.log.format,
                compression = self.log.compression.map_or("none", Compression::name),
                rows = progress.rows(),
                bytes = progress.bytes(),
                seconds = progress.elapsed().as_secs_f64(),
                request_id = %self.log.request_id,
                "client went away; query cancelled",
            );
        }
    }
}
