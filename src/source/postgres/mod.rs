//! The PostgreSQL source.
//!
//! Every export runs in its own `REPEATABLE READ READ ONLY` transaction on a pooled
//! connection, held by a [`guard::ConnectionGuard`] that cancels the query when the export
//! is dropped early. Two engines:
//!
//! - **typed** ([`typed`]): the query is described, planned (which columns rowpipe
//!   formats, which the server does; see [`types`]) and run as binary COPY (or through a
//!   portal when values are bound). [`copy_binary`] cuts the binary stream into rows of
//!   field bytes and [`binary`] decodes each field into a [`Value`]:
//!   [`BinaryRows`] is the two together, the source's [`RowDecoder`].
//! - **copy** ([`copy`]): `COPY ... (FORMAT csv | text)`, the server's own output passed
//!   through unchanged.
//!
//! Everything that names `tokio_postgres` for an export lives in this folder.

pub mod binary;
mod catalog;
pub mod connect;
mod control;
pub mod copy;
pub mod copy_binary;
pub mod guard;
mod lag;
pub mod replicas;
pub mod typed;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio_postgres::types::Type;

use connect::Pool;
pub use connect::{InvalidUrl, PoolSettings, redact_url};
use copy::strip_terminator;
pub use copy::{CopyStream, copy_csv};
pub use copy_binary::{CopyBinaryDecoder, DecodeError, RowRef};

use super::{
    ColumnInfo, ParamKind, PoolStatus, RowDecoder, RowError, RowOptions, Source, SourceError,
    SourcePieces, SourceRows, TableInfo,
};
use crate::export::ExportQuery;
use crate::format::Format;
use crate::progress::Progress;
use crate::schema::Schema;
use crate::table_name::TableName;
use crate::value::Value;
use binary::RowValues;

/// Connections of the pool for everything but downloads.
const CONTROL_POOL_SIZE: usize = 2;

/// A PostgreSQL database, through two pools: one for exports, and a small one of its own
/// for listings, descriptions and health checks, so that those never queue behind
/// downloads.
#[derive(Clone)]
pub struct Postgres {
    downloads: Pool,
    control: Pool,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

impl Postgres {
    /// A source that uses `downloads` for exports and `control` for everything else (they
    /// may be the same pool).
    pub fn new(downloads: Pool, control: Pool) -> Self {
        Self { downloads, control }
    }

    /// One pool for everything, as a one-off export needs.
    pub fn with_pool(pool: Pool) -> Self {
        Self::new(pool.clone(), pool)
    }

    /// The database at `url`, with one pool of `settings` for everything. No connection is
    /// opened yet.
    pub fn connect(url: &str, settings: &PoolSettings) -> Result<Self, InvalidUrl> {
        Ok(Self::with_pool(connect::connect(url, settings)?))
    }

    /// The database at `url` as a server uses it: downloads on a pool of `settings`, and
    /// everything else on a small pool of its own, told apart in `pg_stat_activity` by
    /// its `application_name`.
    pub fn for_server(url: &str, settings: &PoolSettings) -> Result<Self, InvalidUrl> {
        let downloads = connect::connect(url, settings)?;
        let control = connect::connect(
            url,
            &PoolSettings {
                pool_size: CONTROL_POOL_SIZE,
                application_name: "rowpipe-control",
                batch_reads: false,
                ..settings.clone()
            },
        )?;
        Ok(Self::new(downloads, control))
    }

    /// The pool exports run on.
    pub fn pool(&self) -> &Pool {
        &self.downloads
    }

    /// How far this server's data is behind its primary's (zero on a primary), checked on
    /// the control pool.
    async fn lag(&self) -> Result<lag::Lag, SourceError> {
        lag::lag(&self.control).await
    }
}

impl Source for Postgres {
    fn rows<'a>(
        &'a self,
        query: &'a ExportQuery,
        options: RowOptions,
        progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<SourceRows, SourceError>> {
        Box::pin(typed_rows(&self.downloads, query, options, progress))
    }

    fn formatted<'a>(
        &'a self,
        sql: &'a str,
        role: Option<&'a str>,
        format: Format,
        statement_timeout: Option<Duration>,
        progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<Option<SourcePieces>, SourceError>> {
        Box::pin(async move {
            let format = match format {
                Format::Csv => "csv",
                Format::Tsv => "text",
                Format::Jsonl | Format::Json => return Ok(None),
            };
            let session = copy::Session {
                statement_timeout,
                role,
            };
            let pieces =
                copy::copy_server_text(&self.downloads, sql, format, session, progress).await?;
            Ok(Some(Box::new(pieces) as SourcePieces))
        })
    }

    fn describe<'a>(
        &'a self,
        sql: &'a str,
        params: usize,
    ) -> BoxFuture<'a, Result<Vec<ColumnInfo>, SourceError>> {
        Box::pin(control::read_only(&self.control, async move |client| {
            let statement = client
                .prepare_typed(sql, &vec![Type::UNKNOWN; params])
                .await?;
            Ok(statement
                .columns()
                .iter()
                .map(|column| ColumnInfo {
                    name: column.name().to_owned(),
                    type_name: types::type_name(column.type_()),
                })
                .collect())
        }))
    }

    fn tables<'a>(
        &'a self,
        schemas: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<TableInfo>, SourceError>> {
        Box::pin(catalog::tables(&self.control, schemas))
    }

    fn primary_key<'a>(
        &'a self,
        table: &'a TableName,
    ) -> BoxFuture<'a, Result<Option<String>, SourceError>> {
        Box::pin(async move { catalog::primary_key(&self.control, &table.to_sql()).await })
    }

    fn estimate_rows<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Option<f64>> {
        Box::pin(estimate_rows(&self.control, sql))
    }

    fn ping(&self, within: Duration) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move {
            match tokio::time::timeout(within, ping(&self.control)).await {
                Ok(answer) => answer,
                Err(_) => Err(SourceError::Connect(connect::PoolError::Timeout(
                    connect::TimeoutType::Wait,
                ))),
            }
        })
    }

    fn param_kind(&self, type_name: &str) -> ParamKind {
        types::param_kind(type_name)
    }

    fn pools(&self) -> Vec<PoolStatus> {
        let status = |name: &str, pool: &Pool| {
            let status = pool.status();
            PoolStatus {
                name: name.to_owned(),
                max: status.max_size,
                size: status.size,
                available: status.available,
                waiting: status.waiting,
            }
        };
        vec![
            status("downloads", &self.downloads),
            status("control", &self.control),
        ]
    }
}

/// Starts a typed export of `query` (see [`typed::copy_binary`]): its schema, its binary
/// COPY pieces and the decoder for them.
async fn typed_rows(
    pool: &Pool,
    query: &ExportQuery,
    options: RowOptions,
    progress: Arc<Progress>,
) -> Result<SourceRows, SourceError> {
    let (pieces, schema) = typed::copy_binary(pool, query, options, progress).await?;
    Ok(SourceRows {
        decoder: Box::new(BinaryRows::new(&schema)),
        schema,
        pieces: Box::new(pieces),
    })
}

/// Binary COPY pieces in, rows of values out: [`CopyBinaryDecoder`] and [`RowValues`].
#[derive(Debug)]
pub struct BinaryRows {
    copy: CopyBinaryDecoder,
    values: RowValues,
}

impl BinaryRows {
    pub fn new(schema: &Schema) -> Self {
        let values = RowValues::new(schema);
        Self {
            copy: CopyBinaryDecoder::new(values.fields()),
            values,
        }
    }
}

impl RowDecoder for BinaryRows {
    fn push(&mut self, piece: Bytes) {
        self.copy.push(piece);
    }

    #[inline]
    fn next_row<'a>(&'a mut self, values: &mut Vec<Value<'a>>) -> Result<Option<u64>, RowError> {
        let Some(row) = self.copy.next_row().map_err(malformed)? else {
            return Ok(None);
        };
        let number = row.number();
        self.values
            .decode(&row, values)
            .map_err(|error| RowError::Field { row: number, error })?;
        Ok(Some(number))
    }

    fn finish(&mut self) -> Result<(), RowError> {
        self.copy.finish().map_err(malformed)
    }
}

fn malformed(error: DecodeError) -> RowError {
    RowError::Malformed(Box::new(error))
}

/// Checks that the database answers: takes a pooled connection and runs a trivial query,
/// in a transaction like every other (see [`control`]).
async fn ping(pool: &Pool) -> Result<(), SourceError> {
    control::read_only(pool, async |client| {
        client.simple_query("SELECT 1").await?;
        Ok(())
    })
    .await
}

/// The planner's estimate of how many rows `sql` returns, from `EXPLAIN`; `None` when it
/// cannot be had (the query takes parameters, or fails to plan). Only an estimate: for
/// warnings, never for decisions.
///
/// Sent through the extended protocol, which takes a single statement only: whatever the
/// query text holds, nothing but the `EXPLAIN` can run.
async fn estimate_rows(pool: &Pool, sql: &str) -> Option<f64> {
    let explain = format!("EXPLAIN {}", strip_terminator(sql));
    let rows = control::read_only(pool, async |client| {
        client.query(explain.as_str(), &[]).await
    })
    .await
    .ok()?;
    // The first line is the top plan node: `Seq Scan on t  (cost=0.00..35.50 rows=2550 width=4)`.
    let top: &str = rows.first()?.try_get(0).ok()?;
    let (_, after) = top.split_once(" rows=")?;
    after.split(' ').next()?.parse().ok()
}
