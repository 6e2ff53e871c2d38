//! Sources: where rows come from, behind one seam, the [`Source`] trait.
//!
//! A source runs one query per export and hands over [`SourceRows`]: a schema, its own
//! byte pieces and a [`RowDecoder`] for them; and it owns whatever it takes to stop that
//! query early. It also answers what the server and the CLI ask a database besides
//! exports: the columns of a query, the tables to publish, whether it is up. PostgreSQL is
//! [`postgres::Postgres`]; a new source is one module that implements [`Source`].

pub mod error;
pub mod memory;
pub mod postgres;
pub mod rows;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::export::{ExportQuery, Formatting};
use crate::format::Format;
use crate::progress::Progress;

pub use error::{Rejected, SourceError};
pub use postgres::{CopyStream, copy_csv, copy_text};
pub use rows::{RowDecoder, RowError, SourcePieces, SourceRows};

/// What a server or a CLI needs from a database.
///
/// The methods return boxed futures so that a server can hold any source as
/// `Arc<dyn Source>`.
pub trait Source: Send + Sync + 'static {
    /// Starts a typed export of `query`: checks its parameters, columns, key and `after`,
    /// plans it, and starts it. Everything that can go wrong before the first row (a bad
    /// parameter, an unknown column, SQL that does not plan) is an `Err` here, so that a
    /// server can still answer it with a status.
    fn rows<'a>(
        &'a self,
        query: &'a ExportQuery,
        options: RowOptions,
        progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<SourceRows, SourceError>>;

    /// Starts an export the database writes itself, as `format` with its default options
    /// (rowpipe's copy engine): its bytes, passed through. `Ok(None)`: this source has no
    /// such path.
    fn formatted<'a>(
        &'a self,
        sql: &'a str,
        role: Option<&'a str>,
        format: Format,
        statement_timeout: Option<Duration>,
        progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<Option<SourcePieces>, SourceError>>;

    /// The columns `sql` returns, with `params` parameters of types to be inferred, for
    /// describing a dataset.
    fn describe<'a>(
        &'a self,
        sql: &'a str,
        params: usize,
    ) -> BoxFuture<'a, Result<Vec<ColumnInfo>, SourceError>>;

    /// The tables and views of `schemas` the source may read, for discovery.
    fn tables<'a>(
        &'a self,
        schemas: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<TableInfo>, SourceError>>;

    /// The single-column primary key of `table` (SQL, as [`crate::catalog::TableName`]
    /// writes it), if it has one.
    fn primary_key<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SourceError>>;

    /// The planner's estimate of how many rows `sql` returns, when the source has one:
    /// for warnings, never for decisions.
    fn estimate_rows<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Option<f64>>;

    /// Whether the database answers within `within`.
    fn ping(&self, within: Duration) -> BoxFuture<'_, Result<(), SourceError>>;

    /// The source's connection pools, for metrics.
    fn pools(&self) -> Vec<PoolStatus>;
}

/// How a typed export's values are to be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOptions {
    /// Whether values the database formats are wanted as text or as JSON.
    pub form: ValueForm,
    pub formatting: Formatting,
    /// Cancels the query when it runs longer than this; `None` leaves the database's
    /// setting.
    pub statement_timeout: Option<Duration>,
}

/// Which form a column the database formats arrives in: its text (for csv and tsv) or
/// its JSON (for jsonl and json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueForm {
    Text,
    Json,
}

/// One column of a query's result, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// The type as the database names it, arrays as `element[]`.
    pub type_name: String,
}

/// A table or view the source offers for discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    /// Its single-column primary key, if it has one.
    pub key: Option<String>,
}

/// One connection pool's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStatus {
    /// What the pool is for, e.g. `downloads`.
    pub name: &'static str,
    pub max: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}
