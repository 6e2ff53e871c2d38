//! What can go wrong while reading from the database, with enough context to tell an
//! operator what happened and a client whether to retry, and how a database error is
//! described in one line.

use tokio_postgres::error::SqlState;

use crate::escape::echo;

/// Why the PostgreSQL source's pool gave no connection (defined here, beside the error that
/// carries it, so that this module needs nothing of the source's).
pub type PoolError = deadpool::managed::PoolError<tokio_postgres::Error>;

/// A request the query cannot serve: the caller's mistake, answered as such.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("parameter {name}: {} is not a valid {type_name} ({message})", echo(.value))]
    InvalidParam {
        name: String,
        value: String,
        type_name: String,
        message: String,
    },
    /// The declared type of a parameter does not exist: a configuration mistake.
    #[error("parameter {name}: unknown type {type_name:?}")]
    UnknownParamType { name: String, type_name: String },
    #[error("unknown column {}; the columns are: {}", echo(.given), .valid.join(", "))]
    UnknownColumn { given: String, valid: Vec<String> },
    #[error("column {} appears more than once in the result and cannot be selected", echo(.given))]
    AmbiguousColumn { given: String },
    #[error("the key column {key:?} is not in the result; the columns are: {}", .valid.join(", "))]
    UnknownKey { key: String, valid: Vec<String> },
    #[error("the key column {key:?} appears more than once in the result")]
    AmbiguousKey { key: String },
    /// `after` only means something in key order.
    #[error("after= needs a key column to resume in the order of")]
    AfterWithoutKey,
    #[error("after={} is not a valid value of the key column {key:?} ({message})", echo(.value))]
    InvalidAfter {
        key: String,
        value: String,
        message: String,
    },
    /// The query is not one read-only statement that returns rows (an `INSERT`, an
    /// `ATTACH`, a `PRAGMA` that sets something): a configuration mistake, refused before
    /// it runs.
    #[error("the query is not read-only: {reason}; rowpipe runs only statements that read")]
    NotReadOnly { reason: String },
}

/// A failure of a source, before or during streaming.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No connection could be had: the database is down, unreachable, refuses the login, or
    /// every pooled connection stayed busy.
    #[error("cannot connect to the database: {}", describe_pool_error(.0))]
    Connect(PoolError),
    /// The query was rejected or failed before its first row (bad SQL, missing table,
    /// permission denied, statement timeout during planning or sorting).
    #[error("query failed: {}", describe_failure(.0))]
    Query(tokio_postgres::Error),
    /// The request does not fit the query: a bad parameter value, an unknown column.
    #[error(transparent)]
    Rejected(#[from] Rejected),
    /// The stream broke after rows had been sent: the backend was terminated, the statement
    /// timed out, or the connection was lost.
    #[error("query failed after {rows} rows: {}", describe_failure(.error))]
    Interrupted {
        rows: u64,
        error: tokio_postgres::Error,
    },
    /// The export kept rowpipe waiting on the database for longer than its
    /// `statement_timeout` in all (the time spent waiting for a slow client does not
    /// count); reported with PostgreSQL's SQLSTATE for a statement timeout, whatever the
    /// source.
    #[error(
        "query failed after {rows} rows: ERROR 57014: canceling statement due to statement \
         timeout (statement_timeout {}: rowpipe waited on the database that long in all)",
        humantime::format_duration(*.limit)
    )]
    TimedOut {
        rows: u64,
        limit: std::time::Duration,
    },
    /// A source other than PostgreSQL failed, before its first row (`rows` 0) or after
    /// some.
    #[error("the source failed after {rows} rows: {reason}")]
    Broken { rows: u64, reason: String },
    /// A source other than PostgreSQL cannot be reached now (its file vanished or cannot
    /// be opened, it does not answer), or no read replica is healthy and none may stand in
    /// for them: worth retrying later.
    #[error("the database is unavailable: {reason}")]
    Unavailable { reason: String },
}

impl SourceError {
    /// The underlying PostgreSQL error, when there is one.
    pub fn pg_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            SourceError::Connect(PoolError::Backend(error)) => Some(error),
            SourceError::Connect(_)
            | SourceError::Rejected(_)
            | SourceError::Broken { .. }
            | SourceError::Unavailable { .. }
            | SourceError::TimedOut { .. } => None,
            SourceError::Query(error) => Some(error),
            SourceError::Interrupted { error, .. } => Some(error),
        }
    }

    /// The SQLSTATE the server reported, if it reported one.
    pub fn sqlstate(&self) -> Option<&SqlState> {
        match self {
            // rowpipe's own clock, standing in for the server's: the same SQLSTATE.
            SourceError::TimedOut { .. } => Some(&SqlState::QUERY_CANCELED),
            _ => self.pg_error().and_then(|error| error.code()),
        }
    }

    /// Whether the statement was stopped by `statement_timeout` (or another cancel).
    pub fn is_timeout(&self) -> bool {
        matches!(self, SourceError::TimedOut { .. })
            || self.sqlstate() == Some(&SqlState::QUERY_CANCELED)
    }

    /// Whether a standby cancelled the query because replaying the primary's changes
    /// conflicted with it (see [`is_recovery_conflict`]): worth retrying, and a keyed
    /// export can resume after its last key.
    pub fn is_recovery_conflict(&self) -> bool {
        self.pg_error().is_some_and(is_recovery_conflict)
    }

    /// Whether the failure is the database being unavailable rather than the query being
    /// wrong: worth retrying later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            SourceError::Connect(_) | SourceError::Unavailable { .. } => true,
            _ => match self.sqlstate() {
                Some(state) => {
                    let code = state.code();
                    // 08: connection exception, 53: insufficient resources,
                    // 57P: operator intervention (shutdown, terminated backend).
                    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
                }
                // No SQLSTATE: the connection itself broke.
                None => self
                    .pg_error()
                    .is_some_and(|error| error.is_closed() || error.as_db_error().is_none()),
            },
        }
    }
}

/// Whether `error` is a standby's recovery conflict: SQLSTATE 40001 (replay had to remove
/// row versions the query's snapshot could still see, or take a lock it held, and waited
/// `max_standby_streaming_delay` for it) or 57P04 (replay dropped the query's database).
/// Every transaction rowpipe opens is read-only, so a 40001 is never a serialization
/// failure between its own writers.
pub fn is_recovery_conflict(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|state| {
        *state == SqlState::T_R_SERIALIZATION_FAILURE || *state == SqlState::DATABASE_DROPPED
    })
}

/// [`describe_pg_error`], and for a recovery conflict what it means, so that a log line or
/// a CLI message names it even where the server's own words are terse.
fn describe_failure(error: &tokio_postgres::Error) -> String {
    let mut text = describe_pg_error(error);
    if is_recovery_conflict(error) {
        text.push_str(
            " [a recovery conflict: the standby's replay of the primary cancelled the query; \
             worth retrying, and a keyed export resumes after its last key]",
        );
    }
    text
}

/// A one-line description of a database error for operators: severity, SQLSTATE, message,
/// and the server's detail and hint when it gave them (see [`pg_error_details`]).
pub fn describe_pg_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            text.push_str(&pg_error_details(error).unwrap_or_default());
            text
        }
        None => with_causes(error),
    }
}

/// The part of [`describe_pg_error`]'s text that holds the server's DETAIL and HINT: ` (the
/// detail); hint: the hint`. They can quote row values (a failed cast, a key conflict), so
/// they go to the log, never into an HTTP client's error body.
pub fn pg_error_details(error: &tokio_postgres::Error) -> Option<String> {
    let db = error.as_db_error()?;
    let mut text = String::new();
    if let Some(detail) = db.detail() {
        text.push_str(" (");
        text.push_str(detail);
        text.push(')');
    }
    if let Some(hint) = db.hint() {
        text.push_str("; hint: ");
        text.push_str(hint);
    }
    (!text.is_empty()).then_some(text)
}

/// An error's message followed by those of its causes ("error connecting to server:
/// Connection refused"), skipping a cause whose text the message already contains.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = error.source();
    }
    text
}

/// Describes a failure to get a connection from the pool.
pub fn describe_pool_error(error: &PoolError) -> String {
    match error {
        PoolError::Backend(error) => describe_pg_error(error),
        PoolError::Timeout(_) => "timed out waiting for a database connection".to_owned(),
        other => other.to_string(),
    }
}
