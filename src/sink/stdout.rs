//! The stdout sink, for `rowpipe export` without `-o`.
//!
//! A reader that closes the pipe early (`rowpipe export ... | head`) is not an error: the
//! sink stops, the stream is dropped (which cancels the query), and the export succeeds.

use bytes::Bytes;
use futures_util::Stream;

use super::SinkError;
use super::writer::{DrainError, drain};
use crate::progress::Progress;

/// How a stdout export ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdoutOutcome {
    /// Every byte was written.
    Complete,
    /// The reader closed the pipe first.
    ReaderClosed,
}

/// Writes the stream to standard output.
pub async fn write_to_stdout<S, E>(
    stream: S,
    progress: &Progress,
) -> Result<StdoutOutcome, SinkError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut stdout = tokio::io::stdout();
    match drain(stream, &mut stdout, progress).await {
        Ok(()) => Ok(StdoutOutcome::Complete),
        Err(DrainError::Write(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(StdoutOutcome::ReaderClosed)
        }
        Err(error) => Err(error.at("standard output")),
    }
}
