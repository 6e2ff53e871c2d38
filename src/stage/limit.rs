//! The limit stage: fails the export, loudly, once it passes a row or byte limit.
//!
//! A limit is a safety net set by whoever runs rowpipe (a dataset's `max_rows`, the
//! server's `max_bytes`), not something the client asked for: a result that passes one is
//! an error, so the client sees a failed download, never a complete-looking shorter file.
//! (A client asking for fewer rows uses `limit`, which shortens the query instead.)
//!
//! The stage checks before it hands a piece on: the rows counted so far (by the stage that
//! counts them into [`Progress`]) and the bytes including this piece. A piece that would
//! pass a limit is withheld and the error takes its place. The bytes it passes on are the
//! format's own, before any compression: it counts them into [`Progress::plain_bytes`].

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::Stream;

use super::StreamError;
use crate::progress::Progress;

/// The limits of one export; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_rows: Option<u64>,
    pub max_bytes: Option<u64>,
}

/// Which limit an export passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("the result has more than {0} rows (max_rows)")]
    Rows(u64),
    #[error("the output would exceed {0} bytes (max_bytes)")]
    Bytes(u64),
}

/// Applies `limits` to `upstream`, reading row counts from `progress`.
pub fn limit<S>(upstream: S, limits: Limits, progress: Arc<Progress>) -> Limit<S> {
    Limit {
        upstream,
        limits,
        progress,
        bytes: 0,
        failed: false,
    }
}

/// The stream returned by [`limit`].
pub struct Limit<S> {
    upstream: S,
    limits: Limits,
    progress: Arc<Progress>,
    bytes: u64,
    failed: bool,
}

impl<S> fmt::Debug for Limit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit")
            .field("limits", &self.limits)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<S> Limit<S> {
    fn check(&self, piece: &Bytes) -> Result<(), LimitExceeded> {
        if let Some(max) = self.limits.max_rows {
            if self.progress.rows() > max {
                return Err(LimitExceeded::Rows(max));
            }
        }
        if let Some(max) = self.limits.max_bytes {
            if self.bytes + piece.len() as u64 > max {
                return Err(LimitExceeded::Bytes(max));
            }
        }
        Ok(())
    }
}

impl<S> Stream for Limit<S>
where
    S: Stream<Item = Result<Bytes, StreamError>> + Unpin,
{
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.upstream).poll_next(cx)) {
            Some(Ok(piece)) => match self.check(&piece) {
                Ok(()) => {
                    self.bytes += piece.len() as u64;
                    self.progress.add_plain_bytes(piece.len() as u64);
                    Poll::Ready(Some(Ok(piece)))
                }
                Err(exceeded) => {
                    self.failed = true;
                    Poll::Ready(Some(Err(StreamError::Limit(exceeded))))
                }
            },
            Some(Err(error)) => {
                // Nothing after an upstream error either, whatever upstream does next.
                self.failed = true;
                Poll::Ready(Some(Err(error)))
            }
            None => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{StreamExt, stream};

    use super::*;

    fn pieces(sizes: &[usize]) -> impl Stream<Item = Result<Bytes, StreamError>> + Unpin {
        stream::iter(
            sizes
                .iter()
                .map(|&size| Ok(Bytes::from(vec![b'x'; size])))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn bytes_up_to_the_limit_pass() {
        let limits = Limits {
            max_bytes: Some(10),
            ..Limits::default()
        };
        let out: Vec<_> = limit(pieces(&[4, 6]), limits, Arc::new(Progress::new()))
            .collect()
            .await;
        // Every piece, whole and in order: `all(is_ok)` alone would pass on no output.
        let sizes: Vec<usize> = out
            .iter()
            .map(|piece| piece.as_ref().expect("within the limit").len())
            .collect();
        assert_eq!(sizes, [4, 6]);
    }

    #[tokio::test]
    async fn rows_up_to_the_limit_pass() {
        let progress = Arc::new(Progress::new());
        progress.add_rows(2);
        let limits = Limits {
            max_rows: Some(2),
            ..Limits::default()
        };
        let out: Vec<_> = limit(pieces(&[3]), limits, progress).collect().await;
        assert!(
            matches!(&out[..], [Ok(piece)] if piece.len() == 3),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn the_piece_that_passes_the_byte_limit_is_withheld() {
        let limits = Limits {
            max_bytes: Some(10),
            ..Limits::default()
        };
        let progress = Arc::new(Progress::new());
        let out: Vec<_> = limit(pieces(&[4, 7, 1]), limits, progress.clone())
            .collect()
            .await;
        assert_eq!(out.len(), 2, "the error ends the stream");
        assert_eq!(out[0].as_ref().unwrap().len(), 4);
        assert!(matches!(
            out[1],
            Err(StreamError::Limit(LimitExceeded::Bytes(10)))
        ));
        assert_eq!(
            progress.plain_bytes(),
            4,
            "only what was passed on is counted"
        );
    }

    #[tokio::test]
    async fn rows_past_the_limit_fail() {
        let progress = Arc::new(Progress::new());
        progress.add_rows(3);
        let limits = Limits {
            max_rows: Some(2),
            ..Limits::default()
        };
        let out: Vec<_> = limit(pieces(&[1]), limits, progress).collect().await;
        assert!(matches!(
            out[..],
            [Err(StreamError::Limit(LimitExceeded::Rows(2)))]
        ));
    }
}
