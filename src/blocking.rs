//! rowpipe for callers without an async runtime: the same exports, run on a runtime of
//! their own.
//!
//! ```no_run
//! let db = rowpipe::blocking::Database::open("postgres://app@localhost/shop")?;
//! db.export("SELECT * FROM orders ORDER BY id").csv().write_to(std::io::stdout().lock())?;
//! let file = rowpipe::blocking::Database::open("sqlite:shop.db")?;
//! file.export("SELECT * FROM orders").jsonl().to_file("orders.jsonl")?;
//! # Ok::<(), rowpipe::Error>(())
//! ```
//!
//! An export runs on the connection's runtime threads while the caller waits for each
//! chunk, so a caller that holds a lock of its own (Python's GIL) can release it while
//! waiting. An export dropped unfinished cancels its query, whichever thread drops it.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::runtime::Runtime;

use crate::embed::{self, Summary};
use crate::error::Error;
use crate::format::Format;

/// A database, PostgreSQL or a SQLite file, and the runtime its exports run on.
#[derive(Clone, Debug)]
pub struct Database {
    inner: embed::Database,
    runtime: Arc<Runtime>,
}

impl Database {
    /// The database `url` names; see [`crate::Database::open`].
    pub fn open(url: &str) -> Result<Self, Error> {
        let (inner, runtime) = on_own_runtime(|| embed::Database::open(url))?;
        Ok(Self { inner, runtime })
    }

    /// The database `url` names, with a pool of up to `pool_size` PostgreSQL connections.
    pub fn open_with(url: &str, pool_size: usize) -> Result<Self, Error> {
        let (inner, runtime) = on_own_runtime(|| embed::Database::open_with(url, pool_size))?;
        Ok(Self { inner, runtime })
    }

    /// An export of `sql`; see [`crate::Database::export`].
    pub fn export(&self, sql: impl Into<String>) -> Export {
        Export {
            inner: self.inner.export(sql),
            runtime: self.runtime.clone(),
        }
    }
}

/// A PostgreSQL database, and the runtime its exports run on.
#[derive(Clone, Debug)]
pub struct Postgres {
    inner: embed::Postgres,
    runtime: Arc<Runtime>,
}

impl Postgres {
    /// The database at `url`; see [`crate::Postgres::connect`].
    pub fn connect(url: &str) -> Result<Self, Error> {
        let (inner, runtime) = on_own_runtime(|| embed::Postgres::connect(url))?;
        Ok(Self { inner, runtime })
    }

    /// An export of `sql`; see [`crate::Postgres::export`].
    pub fn export(&self, sql: impl Into<String>) -> Export {
        Export {
            inner: self.inner.export(sql),
            runtime: self.runtime.clone(),
        }
    }
}

/// A runtime of the caller's own, and what `open` makes inside it: a pool is made inside
/// the runtime that will drive its connections.
fn on_own_runtime<T>(open: impl FnOnce() -> Result<T, Error>) -> Result<(T, Arc<Runtime>), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rowpipe")
        .enable_all()
        .build()
        .map_err(|error| Error::config(format!("cannot start rowpipe's runtime: {error}")))?;
    let opened = {
        let _entered = runtime.enter();
        open()?
    };
    Ok((opened, Arc::new(runtime)))
}

/// One export; the options are [`crate::Export`]'s, reached through [`Export::with`] or
/// the shortcuts below.
#[derive(Clone)]
pub struct Export {
    inner: embed::Export,
    runtime: Arc<Runtime>,
}

impl Export {
    /// Sets any of [`crate::Export`]'s options: `.with(|e| e.key("id").after("41"))`.
    pub fn with(mut self, options: impl FnOnce(embed::Export) -> embed::Export) -> Self {
        self.inner = options(self.inner);
        self
    }

    /// Writes `format`.
    pub fn format(self, format: Format) -> Self {
        self.with(|export| export.format(format))
    }

    /// PostgreSQL's CSV (the default).
    pub fn csv(self) -> Self {
        self.format(Format::Csv)
    }

    /// JSON Lines.
    pub fn jsonl(self) -> Self {
        self.format(Format::Jsonl)
    }

    /// Binds the next parameter; see [`crate::Export::param`].
    pub fn param(self, value: impl Into<String>) -> Self {
        self.with(|export| export.param(value))
    }

    /// The `Content-Type` of what this export writes.
    pub fn content_type(&self) -> &'static str {
        self.inner.content_type()
    }

    /// Starts the export and returns its chunks, each waited for as it is taken. Returns
    /// once the database has accepted the query; a later failure is the last item.
    /// Dropping the iterator cancels the query.
    pub fn chunks(self) -> Result<Chunks, Error> {
        let _entered = self.runtime.enter();
        let stream = self.runtime.block_on(self.inner.chunks())?;
        Ok(Chunks {
            stream: Box::new(stream),
            runtime: self.runtime,
        })
    }

    /// Writes the whole export to `writer`, then flushes it.
    pub fn write_to(self, mut writer: impl Write) -> Result<Summary, Error> {
        let mut summary = Summary { rows: 0, bytes: 0 };
        for chunk in self.chunks()? {
            let chunk = chunk?;
            writer
                .write_all(&chunk)
                .map_err(|error| Error::write("the output", error))?;
            summary.bytes += chunk.len() as u64;
        }
        writer
            .flush()
            .map_err(|error| Error::write("the output", error))?;
        Ok(summary)
    }

    /// Writes the export to `path` atomically; see [`crate::Export::to_file`].
    pub fn to_file(self, path: impl AsRef<Path>) -> Result<Summary, Error> {
        self.runtime.block_on(self.inner.to_file(path))
    }
}

/// The chunks of a running export.
pub struct Chunks {
    stream: Box<dyn Stream<Item = Result<Bytes, Error>> + Send + Unpin>,
    runtime: Arc<Runtime>,
}

impl Iterator for Chunks {
    type Item = Result<Bytes, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.runtime.block_on(self.stream.next())
    }
}
