//! One export, assembled from the stages: source -> rechunk -> prefetch.
//!
//! The CLI and the server both call [`open`], so a download and a file export run the same
//! pipeline and differ only in their sink.

use std::sync::Arc;

use deadpool_postgres::Pool;

use crate::config::StreamConfig;
use crate::format::Format;
use crate::progress::Progress;
use crate::source::{CopyOptions, CopyStream, SourceError, copy_csv};
use crate::stage::{Prefetch, Rechunk, prefetch, rechunk};

/// The chunks of one running export.
pub type ChunkStream = Prefetch<Rechunk<CopyStream>>;

/// How to run exports: the query's limits and the byte stages' bounds.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub copy: CopyOptions,
    pub stream: StreamConfig,
}

/// Starts exporting the result of `sql` in `format`.
///
/// Returns once the database has accepted the query, so a query that cannot run is an
/// `Err` here. Rows and bytes are counted into `progress` as they pass.
pub async fn open(
    pool: &Pool,
    sql: &str,
    format: Format,
    options: &ExportOptions,
    progress: Arc<Progress>,
) -> Result<ChunkStream, SourceError> {
    let rows = match format {
        Format::Csv => copy_csv(pool, sql, &options.copy, progress).await?,
    };
    Ok(prefetch(
        rechunk(rows, options.stream.chunk_size),
        options.stream.prefetch_depth,
    ))
}
