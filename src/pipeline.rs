//! One export, assembled from the stages:
//!
//! ```text
//! typed engine: source (binary COPY or portal) -> encode (csv, tsv, jsonl, json)
//!                   -> limit -> [compress] -> rechunk -> prefetch
//! copy engine:  source (COPY csv/text, the server's own output) -> limit -> [compress]
//!                   -> rechunk -> prefetch
//! ```
//!
//! Compress runs only when the output asks for it; after limit, so that `max_bytes` counts
//! the uncompressed bytes, and before rechunk, so that the chunks sent stay full-sized.
//!
//! The CLI and the server both call [`open`], so a download and a file export run the same
//! pipeline and differ only in their sink.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::catalog::quote_identifier;
use crate::config::{Config, StreamConfig};
use crate::encode::{CsvEncoder, JsonArrayEncoder, JsonLinesEncoder, RowEncoder, TsvEncoder};
use crate::export::{Engine, ExportQuery, Output, OutputError};
use crate::format::Format;
use crate::progress::Progress;
use crate::schema::Schema;
use crate::source::postgres::copy::strip_terminator;
use crate::source::{RowOptions, Source, SourceError, ValueForm};
use crate::stage::{
    Compressor, KeyOrder, Limits, Prefetch, Rechunk, StreamError, compress, encode, limit,
    prefetch, rechunk,
};

/// The bytes of a running export, before chunking.
type Pieces = Box<dyn Stream<Item = Result<Bytes, StreamError>> + Send + Unpin>;

/// The chunks of one running export.
pub type ChunkStream = Prefetch<Rechunk<Pieces>>;

/// How to run exports: the query's limits, the byte stages' bounds and the engine.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Cancels the query when it runs longer than this; `None` leaves the server's
    /// setting.
    pub statement_timeout: Option<Duration>,
    pub stream: StreamConfig,
    /// Limits that fail an export which passes them.
    pub limits: Limits,
}

impl ExportOptions {
    /// The bounds a config file sets for every export: its `statement_timeout`, `[stream]`
    /// and `max_bytes` (a dataset's `max_rows` is the dataset's).
    pub fn from_config(config: &Config) -> Self {
        Self {
            statement_timeout: Some(config.database.statement_timeout),
            stream: config.stream,
            limits: Limits {
                max_rows: None,
                max_bytes: config.server.max_bytes,
            },
        }
    }
}

/// Why an export could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The compressor cannot start (a level the config should have refused).
    #[error("cannot start compressing: {0}")]
    Compress(std::io::Error),
}

/// Starts exporting the result of `query` as `output`.
///
/// Returns once the database has accepted the query, so a query that cannot run is an
/// `Err` here. Rows and bytes are counted into `progress` as they pass.
pub async fn open(
    source: &dyn Source,
    query: &ExportQuery,
    output: &Output,
    options: &ExportOptions,
    progress: Arc<Progress>,
) -> Result<ChunkStream, OpenError> {
    let engine = options.stream.engine;
    output.check_engine(engine, query)?;
    let chunk_size = options.stream.chunk_size;
    // Before the query starts: a compressor that cannot start should cost no query.
    let compressor = output
        .compression
        .map(|compression| {
            Compressor::new(compression, options.stream.level(compression), chunk_size)
        })
        .transpose()
        .map_err(OpenError::Compress)?;
    let pieces: Pieces = match engine {
        Engine::Copy => {
            // The server's own output cannot be checked row by row, but it can be ordered.
            let sql = match &query.key {
                Some(key) => format!(
                    "SELECT * FROM (\n{}\n) AS q ORDER BY q.{}",
                    strip_terminator(&query.sql),
                    quote_identifier(key)
                ),
                None => query.sql.clone(),
            };
            let copy = source
                .formatted(
                    &sql,
                    query.role.as_deref(),
                    output.format,
                    options.statement_timeout,
                    progress.clone(),
                )
                .await?
                .ok_or(OutputError::NeedsTypedEngine)?;
            Box::new(copy.map(|piece| piece.map_err(StreamError::from)))
        }
        Engine::Typed => {
            let form = match output.format.is_json() {
                true => ValueForm::Json,
                false => ValueForm::Text,
            };
            let row_options = RowOptions {
                form,
                formatting: output.formatting,
                statement_timeout: options.statement_timeout,
            };
            let rows = source.rows(query, row_options, progress.clone()).await?;
            let key = rows
                .schema
                .key
                .clone()
                .map(|key| KeyOrder::new(key, rows.schema.session.clone()));
            let encoder = row_encoder(rows.schema.clone(), output)?;
            Box::new(encode(rows, key, encoder, chunk_size, progress.clone()))
        }
    };
    let limited = limit(pieces, options.limits, progress);
    let bytes: Pieces = match compressor {
        Some(core) => Box::new(compress(limited, core)),
        None => Box::new(limited),
    };
    Ok(prefetch(
        rechunk(bytes, chunk_size),
        options.stream.prefetch_depth,
    ))
}

/// The encoder for `output`.
fn row_encoder(schema: Schema, output: &Output) -> Result<Box<dyn RowEncoder>, OutputError> {
    Ok(match output.format {
        Format::Csv => {
            Box::new(CsvEncoder::new(schema, &output.csv).map_err(OutputError::CsvOptions)?)
        }
        Format::Tsv => Box::new(TsvEncoder::new(schema, output.csv.header)),
        Format::Jsonl => Box::new(JsonLinesEncoder::new(schema)),
        Format::Json => Box::new(JsonArrayEncoder::new(schema)),
    })
}
