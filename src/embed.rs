//! rowpipe inside another program: [`Database`] (PostgreSQL or a SQLite file, by its URL),
//! [`Postgres`] and the [`Export`] builder, re-exported at the crate's root (see the crate
//! documentation for examples).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "server")]
use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
#[cfg(feature = "server")]
use futures_util::{StreamExt, stream};

use crate::encode::{CsvQuoting, CsvSettings};
use crate::error::Error;
use crate::export::{BoundParam, Engine, ExportQuery, Formatting, Output};
use crate::format::{Compression, Format};
use crate::pipeline::{self, ExportOptions, OpenError};
use crate::progress::Progress;
#[cfg(feature = "server")]
use crate::server::{ApiError, content_disposition};
use crate::sink::{PartMode, write_to_file};
use crate::source::postgres::{self, PoolSettings};
use crate::source::{DatabaseUrl, Source, SourceUse};

/// Connections a pool opens at most unless told otherwise.
const DEFAULT_POOL_SIZE: usize = 8;

/// A database to export from, PostgreSQL or a SQLite file, as its URL names it: the
/// library's door to every source `rowpipe export --database` takes. Cheap to clone; clones
/// share the source (for PostgreSQL, its pool).
#[derive(Clone)]
pub struct Database {
    source: Arc<dyn Source>,
    /// The URL without its password, for `Debug`.
    shown: String,
}

impl Database {
    /// The database `url` names: `postgres://user:password@host:port/dbname` or libpq's
    /// `key=value` form (a pool of up to 8 connections, none opened until the first
    /// export), or a SQLite file as `sqlite:PATH` or a path ending in `.db`, `.sqlite` or
    /// `.sqlite3` (opened read-only, and checked now: it must exist and be a database).
    pub fn open(url: &str) -> Result<Self, Error> {
        Self::open_with(url, DEFAULT_POOL_SIZE)
    }

    /// The database `url` names, with a pool of up to `pool_size` PostgreSQL connections
    /// (a SQLite export opens a connection of its own, whatever the size).
    pub fn open_with(url: &str, pool_size: usize) -> Result<Self, Error> {
        let url = DatabaseUrl::parse(url);
        let source = url.open(&pool_settings(pool_size), SourceUse::Export)?;
        Ok(Self {
            source,
            shown: url.redacted(),
        })
    }

    /// An export of `sql` (one query; `$1`, `$2`, ... for [`Export::param`]s), as CSV
    /// unless the builder says otherwise.
    pub fn export(&self, sql: impl Into<String>) -> Export {
        Export::new(self.source.clone(), sql.into())
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Database").field(&self.shown).finish()
    }
}

impl From<Postgres> for Database {
    fn from(postgres: Postgres) -> Self {
        let shown = format!("{:?}", postgres.source);
        Self {
            source: postgres.source,
            shown,
        }
    }
}

fn pool_settings(pool_size: usize) -> PoolSettings {
    PoolSettings {
        pool_size: pool_size.max(1),
        ..PoolSettings::default()
    }
}

/// A PostgreSQL database to export from: a pool of connections, opened as needed.
/// Cheap to clone; clones share the pool. [`Database`] takes SQLite files too.
#[derive(Clone, Debug)]
pub struct Postgres {
    source: Arc<postgres::Postgres>,
}

impl Postgres {
    /// The database at `url` (`postgres://user:password@host:port/dbname`, or libpq's
    /// `key=value` form), with a pool of up to 8 connections. No connection is opened
    /// until the first export.
    pub fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, DEFAULT_POOL_SIZE)
    }

    /// The database at `url`, with a pool of up to `pool_size` connections.
    pub fn connect_with(url: &str, pool_size: usize) -> Result<Self, Error> {
        Ok(Self {
            source: Arc::new(postgres::Postgres::connect(url, &pool_settings(pool_size))?),
        })
    }

    /// An export of `sql` (one query; `$1`, `$2`, ... for [`Export::param`]s), as CSV
    /// unless the builder says otherwise.
    pub fn export(&self, sql: impl Into<String>) -> Export {
        Export::new(self.source.clone(), sql.into())
    }
}

/// One export, described option by option, then run by one of [`Export::chunks`],
/// [`Export::to_file`] or [`Export::download`]. Every option of `rowpipe export` is here.
#[derive(Clone)]
pub struct Export {
    source: Arc<dyn Source>,
    query: ExportQuery,
    output: Output,
    options: ExportOptions,
}

/// What a finished export delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Rows exported.
    pub rows: u64,
    /// Bytes written (compressed, when compressed).
    pub bytes: u64,
}

impl Export {
    fn new(source: Arc<dyn Source>, sql: String) -> Self {
        Self {
            source,
            query: ExportQuery {
                sql,
                ..ExportQuery::default()
            },
            output: Output::new(Format::Csv),
            options: ExportOptions {
                statement_timeout: Some(Duration::from_secs(3600)),
                ..ExportOptions::default()
            },
        }
    }

    /// Writes `format`.
    pub fn format(mut self, format: Format) -> Self {
        self.output.format = format;
        self
    }

    /// PostgreSQL's CSV (the default).
    pub fn csv(self) -> Self {
        self.format(Format::Csv)
    }

    /// PostgreSQL's text format, tab-separated.
    pub fn tsv(self) -> Self {
        self.format(Format::Tsv)
    }

    /// JSON Lines, each row as `row_to_json` writes it.
    pub fn jsonl(self) -> Self {
        self.format(Format::Jsonl)
    }

    /// One JSON array of the rows.
    pub fn json(self) -> Self {
        self.format(Format::Json)
    }

    /// Binds the next parameter (`$1`, then `$2`, ...), whose type the server infers from
    /// the query. The value is text, parsed by that type's input function; it is never
    /// pasted into the SQL. SQLite binds it as text, which a column of INTEGER or REAL
    /// affinity compares as a number.
    pub fn param(mut self, value: impl Into<String>) -> Self {
        self.push_param(String::new(), value.into());
        self
    }

    /// Binds the next parameter as a value of `type_name` (`timestamptz`, `int8[]`, ...;
    /// for SQLite `integer`, `real`, `text` or `blob` as `\x` and hex digits), checked
    /// before the query runs, so a bad value is an
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) naming it.
    pub fn typed_param(mut self, type_name: impl Into<String>, value: impl Into<String>) -> Self {
        self.push_param(type_name.into(), value.into());
        self
    }

    fn push_param(&mut self, type_name: String, value: String) {
        let name = format!("${}", self.query.params.len() + 1);
        self.query.params.push(BoundParam {
            name,
            type_name,
            value,
        });
    }

    /// Only these columns of the result, in this order.
    pub fn columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.query.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// At most `rows` rows (in key order when there is a key).
    pub fn limit(mut self, rows: u64) -> Self {
        self.query.limit = Some(rows);
        self
    }

    /// Reads the export in the order of `column`, which must be unique and not NULL
    /// (checked as the rows stream), so that a broken export can be resumed with
    /// [`Export::after`].
    pub fn key(mut self, column: impl Into<String>) -> Self {
        self.query.key = Some(column.into());
        self
    }

    /// Only the rows whose key is greater than `value`: the rest of a broken export.
    pub fn after(mut self, value: impl Into<String>) -> Self {
        self.query.after = Some(value.into());
        self
    }

    /// CSV's delimiter, quote, escape, NULL string, quoting, header and Excel mode at once
    /// (the `tsv` format uses `header` only).
    pub fn csv_settings(mut self, settings: CsvSettings) -> Self {
        self.output.csv = settings;
        self
    }

    /// CSV's field delimiter (default `,`).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.output.csv.options.delimiter = delimiter;
        self
    }

    /// CSV's quote character (default `"`).
    pub fn quote(mut self, quote: u8) -> Self {
        self.output.csv.options.quote = quote;
        self
    }

    /// CSV's escape character inside quotes (default: the quote itself).
    pub fn escape(mut self, escape: u8) -> Self {
        self.output.csv.options.escape = Some(escape);
        self
    }

    /// What CSV writes for NULL (default: nothing).
    pub fn null(mut self, null: impl Into<String>) -> Self {
        self.output.csv.options.null = null.into();
        self
    }

    /// Which CSV values are quoted whatever their content.
    pub fn quoting(mut self, quoting: CsvQuoting) -> Self {
        self.output.csv.quoting = quoting;
        self
    }

    /// Whether csv and tsv start with a header line (default: yes).
    pub fn header(mut self, header: bool) -> Self {
        self.output.csv.header = header;
        self
    }

    /// CSV for Excel: a byte-order mark, CRLF line ends, formula-like text made inert.
    pub fn excel(mut self) -> Self {
        self.output.csv.excel = true;
        self
    }

    /// Compresses the output into a gzip or zstd file.
    pub fn compress(mut self, compression: Compression) -> Self {
        self.output.compression = Some(compression);
        self
    }

    /// Who formats the values (default: rowpipe, [`Engine::Typed`]).
    pub fn engine(mut self, engine: Engine) -> Self {
        self.options.stream.engine = engine;
        self
    }

    /// Lets the server format every column instead of rowpipe (slower; for comparison).
    pub fn server_formatting(mut self) -> Self {
        self.output.formatting = Formatting::Server;
        self
    }

    /// Fails the export, loudly, if the result has more than `rows` rows.
    pub fn max_rows(mut self, rows: u64) -> Self {
        self.options.limits.max_rows = Some(rows);
        self
    }

    /// Fails the export, loudly, if it would write more than `bytes` bytes.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.options.limits.max_bytes = Some(bytes);
        self
    }

    /// Cancels the query when it runs longer than `timeout` (default one hour); `None`
    /// leaves the server's setting.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.statement_timeout = timeout;
        self
    }

    /// Bytes per chunk handed out (default 64 KiB).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.options.stream.chunk_size = bytes.max(1);
        self
    }

    /// Chunks read ahead of the consumer (default 4; 0 reads only when asked).
    pub fn prefetch_depth(mut self, chunks: usize) -> Self {
        self.options.stream.prefetch_depth = chunks;
        self
    }

    /// The `Content-Type` of what this export writes.
    pub fn content_type(&self) -> &'static str {
        match self.output.compression {
            Some(compression) => compression.content_type(),
            None => self.output.format.content_type(),
        }
    }

    /// A file name for this export's output: `name` with the format's extension (and the
    /// compression's).
    pub fn file_name(&self, name: &str) -> String {
        let mut file = format!("{name}.{}", self.output.format.extension());
        if let Some(compression) = self.output.compression {
            file = format!("{file}.{}", compression.extension());
        }
        file
    }

    /// Starts the export and returns its chunks. Returns once the database has accepted
    /// the query, so a query that cannot run is an `Err` here; a later failure is the
    /// stream's last item. Dropping the stream cancels the query.
    pub async fn chunks(
        self,
    ) -> Result<impl Stream<Item = Result<Bytes, Error>> + Send + Unpin + 'static, Error> {
        let progress = Arc::new(Progress::new());
        Ok(self.open(progress).await?.map_err(Error::from))
    }

    async fn open(&self, progress: Arc<Progress>) -> Result<pipeline::ChunkStream, Error> {
        Ok(self.start(progress).await?)
    }

    async fn start(&self, progress: Arc<Progress>) -> Result<pipeline::ChunkStream, OpenError> {
        pipeline::open(
            &*self.source,
            &self.query,
            &self.output,
            &self.options,
            progress,
        )
        .await
    }

    /// Writes the export to `path` atomically: into `path.part`, renamed into place once
    /// complete; a failed export leaves no file (and an older complete file untouched).
    pub async fn to_file(self, path: impl AsRef<Path>) -> Result<Summary, Error> {
        let progress = Arc::new(Progress::new());
        let chunks = self.open(progress.clone()).await?;
        write_to_file(chunks, path.as_ref(), PartMode::Fresh, &progress).await?;
        Ok(Summary {
            rows: progress.rows(),
            bytes: progress.bytes(),
        })
    }

    #[cfg(feature = "server")]
    /// The export as an HTTP response named `name` (the extension is added): waits for
    /// the first chunk, so a failure before it is a status with a JSON body
    /// (`{"error": {"code", "message"}}`, as `rowpipe serve` answers); after it, a failure
    /// aborts the chunked body instead of ending it.
    pub async fn download(self, name: &str) -> Response {
        let file_name = self.file_name(name);
        let content_type = self.content_type();
        let progress = Arc::new(Progress::new());
        let mut chunks = match self.start(progress).await {
            Ok(chunks) => chunks,
            Err(error) => return ApiError::open(name, error).into_response(),
        };
        let first = match chunks.next().await {
            Some(Err(error)) => return ApiError::stream(name, error).into_response(),
            first => first,
        };
        let body = stream::iter(first)
            .chain(chunks)
            .map_err(std::io::Error::other);
        let mut response = Body::from_stream(body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_DISPOSITION, content_disposition(&file_name));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
