//! The one error type of rowpipe's library API, with a [`kind`](Error::kind) a caller can
//! match on instead of a chain of stage-specific types.
//!
//! An export can fail before it starts (the request does not fit the query, the database
//! is down), while it streams (the query breaks, a limit is passed), or where the bytes go
//! (a disk fills up); all three arrive as an [`Error`]. Its `Display` is the whole story in
//! one line, causes included, so it has no separate `source()` to print twice.

use std::fmt;
use std::path::PathBuf;

use crate::pipeline::OpenError;
use crate::sink::SinkError;
use crate::source::postgres::InvalidUrl;
use crate::source::{OpenSourceError, SourceError};
use crate::stage::StreamError;

/// Why an export failed; see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request does not fit the query or the output: a bad parameter value, an unknown
    /// column or key, options the format refuses. The caller's to fix; retrying the same
    /// request fails the same way.
    InvalidRequest,
    /// The database cannot be reached, refuses the login, is shutting down, or every
    /// connection stayed busy: worth retrying later.
    Unavailable,
    /// The database rejected or failed the query: bad SQL, a missing table, a permission.
    Query,
    /// The query ran past its `statement_timeout` (or was cancelled).
    Timeout,
    /// A standby cancelled the query because replaying the primary's changes conflicted
    /// with it (SQLSTATE 40001, 57P04; see `max_standby_streaming_delay`): worth retrying,
    /// and a keyed export resumes after its last key.
    RecoveryConflict,
    /// The export passed `max_rows` or `max_bytes`.
    Limit,
    /// A keyed export's keys were not unique, not in order, or NULL.
    InvalidKey,
    /// The database sent data rowpipe could not read: a bug, or a server it does not know.
    Malformed,
    /// Writing the output failed (a full disk, a closed pipe).
    Write,
    /// The database URL (or another setting) is not valid, or names a SQLite file that is
    /// missing or not a database.
    Config,
}

/// A failed export: before it started (the request does not fit the query, the database is
/// down), while it streamed (the query broke, a limit was passed), or where the bytes went
/// (a disk filled up). Its `Display` is the whole story in one line, causes included, so it
/// has no separate `source()` to print twice; [`Error::kind`] says what to do about it.
pub struct Error(Box<Repr>);

enum Repr {
    Open(OpenError),
    Stream(StreamError),
    Write {
        target: PathBuf,
        source: std::io::Error,
    },
    Config(String),
}

impl Error {
    /// What went wrong, for a caller to decide what to do.
    pub fn kind(&self) -> ErrorKind {
        match &*self.0 {
            Repr::Open(OpenError::Output(_)) => ErrorKind::InvalidRequest,
            Repr::Open(OpenError::Source(error)) => source_kind(error),
            Repr::Open(OpenError::Compress(_)) => ErrorKind::Config,
            Repr::Stream(error) => match error {
                StreamError::Source(error) => source_kind(error),
                StreamError::Rows(_) | StreamError::Field { .. } => ErrorKind::Malformed,
                StreamError::Limit(_) => ErrorKind::Limit,
                StreamError::Compress(_) => ErrorKind::Malformed,
                StreamError::KeyOrder(_) => ErrorKind::InvalidKey,
            },
            Repr::Write { .. } => ErrorKind::Write,
            Repr::Config(_) => ErrorKind::Config,
        }
    }

    /// The SQLSTATE the database reported (`"42P01"` for an undefined table), when the
    /// failure came from the database with one.
    pub fn sqlstate(&self) -> Option<&str> {
        self.source_error()?.sqlstate().map(|state| state.code())
    }

    fn source_error(&self) -> Option<&SourceError> {
        match &*self.0 {
            Repr::Open(OpenError::Source(error)) | Repr::Stream(StreamError::Source(error)) => {
                Some(error)
            }
            _ => None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error(Box::new(Repr::Config(message.into())))
    }

    pub(crate) fn write(target: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error(Box::new(Repr::Write {
            target: target.into(),
            source,
        }))
    }
}

fn source_kind(error: &SourceError) -> ErrorKind {
    match error {
        SourceError::Rejected(_) => ErrorKind::InvalidRequest,
        _ if error.is_recovery_conflict() => ErrorKind::RecoveryConflict,
        _ if error.is_timeout() => ErrorKind::Timeout,
        _ if error.is_unavailable() => ErrorKind::Unavailable,
        // Class 22, data exception: a parameter value the query's types refuse.
        _ if error
            .sqlstate()
            .is_some_and(|state| state.code().starts_with("22")) =>
        {
            ErrorKind::InvalidRequest
        }
        _ => ErrorKind::Query,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Repr::Open(error) => error.fmt(f),
            Repr::Stream(error) => error.fmt(f),
            Repr::Write { target, source } => {
                write!(f, "cannot write {}: {source}", target.display())
            }
            Repr::Config(message) => f.write_str(message),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("message", &self.to_string())
            .finish()
    }
}

/// The `Display` text holds the causes; there is no chain to walk.
impl std::error::Error for Error {}

impl From<OpenError> for Error {
    fn from(error: OpenError) -> Self {
        Error(Box::new(Repr::Open(error)))
    }
}

impl From<StreamError> for Error {
    fn from(error: StreamError) -> Self {
        Error(Box::new(Repr::Stream(error)))
    }
}

impl From<SourceError> for Error {
    fn from(error: SourceError) -> Self {
        OpenError::Source(error).into()
    }
}

impl From<SinkError<StreamError>> for Error {
    fn from(error: SinkError<StreamError>) -> Self {
        match error {
            SinkError::Upstream(error) => error.into(),
            SinkError::Write { target, error } => Error(Box::new(Repr::Write {
                target,
                source: error,
            })),
        }
    }
}

impl From<InvalidUrl> for Error {
    fn from(error: InvalidUrl) -> Self {
        Error::config(error.to_string())
    }
}

/// A URL that names no usable database: a bad PostgreSQL URL, or a SQLite file that is
/// missing or not a database.
impl From<OpenSourceError> for Error {
    fn from(error: OpenSourceError) -> Self {
        Error::config(error.to_string())
    }
}
