//! The one error type of an export's stream, whichever stage it arose in: every stage
//! after the source yields `Result<Bytes, StreamError>`, so the sinks and the HTTP and CLI
//! answers deal with one type.

use super::key_order::KeyOrderError;
use super::limit::LimitExceeded;
use crate::encode::FieldError;
use crate::source::{RowError, SourceError};

/// Why an export's stream failed: its source did, its data could not be decoded or
/// compressed, or it passed a limit.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The source's rows could not be read.
    #[error(transparent)]
    Rows(#[from] RowError),
    #[error("cannot encode row {row}: {error}")]
    Field { row: u64, error: FieldError },
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// The compressor failed (it writes into memory, so only a bad level or a bug).
    #[error("cannot compress the output: {0}")]
    Compress(std::io::Error),
    /// A keyed export's keys are not unique, not in order, or NULL.
    #[error(transparent)]
    KeyOrder(#[from] KeyOrderError),
}
