//! The loop every writing sink shares: write each chunk, count it, stop at the first error.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::progress::Progress;

/// Why a sink did not deliver the whole stream.
#[derive(Debug, thiserror::Error)]
pub enum SinkError<E> {
    /// The stream failed upstream (the database, most likely).
    #[error(transparent)]
    Upstream(E),
    /// Writing the output failed.
    #[error("cannot write {}: {error}", target.display())]
    Write {
        target: PathBuf,
        error: std::io::Error,
    },
}

/// Writes every chunk of `stream` to `writer`, counting bytes into `progress`.
///
/// Stops at the first error of either side. A write error is returned as the raw
/// `io::Error` so that callers can treat some kinds (a closed pipe) specially.
pub(crate) async fn drain<S, E, W>(
    mut stream: S,
    writer: &mut W,
    progress: &Progress,
) -> Result<(), DrainError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    W: AsyncWrite + Unpin,
{
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(DrainError::Upstream)?;
        writer.write_all(&chunk).await.map_err(DrainError::Write)?;
        progress.add_bytes(chunk.len() as u64);
    }
    writer.flush().await.map_err(DrainError::Write)
}

/// [`drain`]'s failure, before the sink adds where it was writing.
pub(crate) enum DrainError<E> {
    Upstream(E),
    Write(std::io::Error),
}

impl<E> DrainError<E> {
    pub(crate) fn at(self, target: impl Into<PathBuf>) -> SinkError<E> {
        match self {
            DrainError::Upstream(error) => SinkError::Upstream(error),
            DrainError::Write(error) => SinkError::Write {
                target: target.into(),
                error,
            },
        }
    }
}
