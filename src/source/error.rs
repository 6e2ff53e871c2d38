//! What can go wrong while reading from the database, with enough context to tell an
//! operator what happened and a client whether to retry.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::database::{describe_pg_error, describe_pool_error};

/// A failure of a source, before or during streaming.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No connection could be had: the database is down, unreachable, refuses the login, or
    /// every pooled connection stayed busy.
    #[error("cannot connect to the database: {}", describe_pool_error(.0))]
    Connect(#[source] PoolError),
    /// The query was rejected or failed before its first row (bad SQL, missing table,
    /// permission denied, statement timeout during planning or sorting).
    #[error("query failed: {}", describe_pg_error(.0))]
    Query(#[source] tokio_postgres::Error),
    /// The request does not fit the query: a bad parameter value, an unknown column.
    #[error(transparent)]
    Rejected(#[from] super::typed::Rejected),
    /// The stream broke after rows had been sent: the backend was terminated, the statement
    /// timed out, or the connection was lost.
    #[error("query failed after {rows} rows: {}", describe_pg_error(.source))]
    Interrupted {
        rows: u64,
        #[source]
        source: tokio_postgres::Error,
    },
}

impl SourceError {
    /// The underlying PostgreSQL error, when there is one.
    pub fn pg_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            SourceError::Connect(PoolError::Backend(error)) => Some(error),
            SourceError::Connect(_) | SourceError::Rejected(_) => None,
            SourceError::Query(error) => Some(error),
            SourceError::Interrupted { source, .. } => Some(source),
        }
    }

    /// The SQLSTATE the server reported, if it reported one.
    pub fn sqlstate(&self) -> Option<&SqlState> {
        self.pg_error().and_then(|error| error.code())
    }

    /// Whether the statement was stopped by `statement_timeout` (or another cancel).
    pub fn is_timeout(&self) -> bool {
        self.sqlstate() == Some(&SqlState::QUERY_CANCELED)
    }

    /// Whether the failure is the database being unavailable rather than the query being
    /// wrong: worth retrying later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            SourceError::Connect(_) => true,
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
