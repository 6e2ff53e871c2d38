//! The SQLite source: a database file, opened read-only.
//!
//! - **Read-only.** Every connection is opened with `SQLITE_OPEN_READ_ONLY` (a missing
//!   file is an error, never a new empty database) and `PRAGMA query_only`; a dataset's
//!   SQL must be one statement that returns rows and that SQLite says does not write
//!   (`sqlite3_stmt_readonly`), or it is refused before it runs
//!   ([`Rejected::NotReadOnly`](crate::source::Rejected::NotReadOnly)).
//! - **One snapshot.** Each export runs in one read transaction on a connection of its
//!   own. In WAL mode writers go on meanwhile; with a rollback journal the export holds a
//!   shared lock for as long as it runs, and writers wait for it (or time out).
//! - **Off the runtime.** The rows are stepped on a blocking thread (`reader`) and handed
//!   over a bounded channel in pieces of whole rows (`rows`, read back by [`SqliteRows`]);
//!   the export's `guard::Interrupt` stops that thread when the export is dropped or runs
//!   past `statement_timeout`.
//! - **Values by storage class.** INTEGER is written as PostgreSQL writes int8, REAL as
//!   float8, TEXT as it is (bytes that are not UTF-8: as they are in csv and tsv, each
//!   invalid sequence as U+FFFD in the JSON formats), BLOB as bytea's hex (`\x...`), NULL
//!   as NULL. A column may mix classes; each value is written by its own. For CSV's
//!   `quote=nonnumeric` a column counts as a number when its declared type has INTEGER,
//!   REAL or NUMERIC affinity.

mod guard;
mod plan;
mod reader;
mod rows;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, stream};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

pub use guard::interrupt_count;
pub use rows::SqliteRows;

use super::{
    ColumnInfo, ParamKind, PoolStatus, RowOptions, Source, SourceError, SourcePieces, SourceRows,
    TableInfo,
};
use crate::export::ExportQuery;
use crate::progress::Progress;
use crate::table_name::TableName;
use guard::{ConsumerWaits, Interrupt};
use plan::failed;
use reader::{CHANNEL_PIECES, Reading};

/// The schema name discovery gives SQLite's tables: the main database's.
pub const MAIN_SCHEMA: &str = "main";

/// A SQLite database file; see the [module documentation](self).
#[derive(Debug)]
pub struct Sqlite {
    path: PathBuf,
    /// Exports interrupted because they were dropped before their end.
    interrupts: Arc<AtomicU64>,
    /// Reader threads running now.
    running: Arc<AtomicUsize>,
}

/// The file cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the SQLite database {}: {reason}", path.display())]
pub struct OpenError {
    pub path: PathBuf,
    pub reason: String,
}

impl Sqlite {
    /// The database in the file at `path`, which must exist and be a SQLite database.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, OpenError> {
        let path = path.into();
        let refuse = |reason: String| OpenError {
            path: path.clone(),
            reason,
        };
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() => {}
            Ok(_) => return Err(refuse("not a regular file".into())),
            Err(error) => return Err(refuse(error.to_string())),
        }
        let connection = connect(&path).map_err(|error| refuse(error.to_string()))?;
        connection
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(|error| refuse(error.to_string()))?;
        Ok(Self {
            path,
            interrupts: Arc::new(AtomicU64::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many exports were interrupted because they were dropped before their end.
    pub fn interrupts(&self) -> u64 {
        self.interrupts.load(Ordering::SeqCst)
    }

    /// How many reader threads are running now.
    pub fn readers_running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Runs `work` on a fresh read-only connection, on a blocking thread.
    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, SourceError> + Send + 'static,
    ) -> Result<T, SourceError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let connection = connect(&path).map_err(|error| unavailable(&path, &error))?;
            work(&connection)
        })
        .await
        .map_err(|error| SourceError::Broken {
            rows: 0,
            reason: format!("the SQLite thread failed: {error}"),
        })?
    }
}

/// The file at `path` cannot be opened now (it was removed, or its folder's rights
/// changed since start-up).
fn unavailable(path: &Path, error: &rusqlite::Error) -> SourceError {
    SourceError::Unavailable {
        reason: format!("cannot open the SQLite file {}: {error}", path.display()),
    }
}

/// A read-only connection to `path`, which SQLite never creates.
fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.execute_batch("PRAGMA query_only = ON")?;
    Ok(connection)
}

impl Source for Sqlite {
    fn rows<'a>(
        &'a self,
        query: &'a ExportQuery,
        options: RowOptions,
        _progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<SourceRows, SourceError>> {
        Box::pin(async move {
            let path = self.path.clone();
            let connection = tokio::task::spawn_blocking(move || {
                connect(&path).map_err(|error| unavailable(&path, &error))
            })
            .await
            .map_err(|error| SourceError::Broken {
                rows: 0,
                reason: format!("the SQLite thread failed: {error}"),
            })??;
            let timed_out = Arc::new(AtomicBool::new(false));
            let waits = Arc::new(ConsumerWaits::new());
            let mut guard = Interrupt::new(
                connection.get_interrupt_handle(),
                options.statement_timeout,
                waits.clone(),
                timed_out.clone(),
                self.interrupts.clone(),
            );
            let (planned, plan) = oneshot::channel();
            let (sender, receiver) = mpsc::channel(CHANNEL_PIECES);
            let completed = Arc::new(AtomicBool::new(false));
            let reading = Reading {
                query: query.clone(),
                options,
                planned,
                pieces: sender,
                waits,
                timed_out,
                running: self.running.clone(),
                completed: completed.clone(),
            };
            tokio::task::spawn_blocking(move || reader::read(connection, reading));
            let schema = match plan.await {
                Ok(Ok(schema)) => schema,
                Ok(Err(error)) => {
                    guard.finish();
                    return Err(error);
                }
                Err(_) => {
                    guard.finish();
                    return Err(SourceError::Broken {
                        rows: 0,
                        reason: "the SQLite reader stopped before its first row".into(),
                    });
                }
            };
            Ok(SourceRows {
                decoder: Box::new(SqliteRows::new(schema.fields())),
                schema,
                pieces: pieces(receiver, guard, completed),
            })
        })
    }

    fn describe<'a>(
        &'a self,
        sql: &'a str,
        _params: usize,
    ) -> BoxFuture<'a, Result<Vec<ColumnInfo>, SourceError>> {
        let sql = sql.to_owned();
        Box::pin(self.with_connection(move |connection| {
            let statement = plan::prepare_query(connection, &sql)?;
            Ok(plan::columns(&statement)
                .into_iter()
                .map(|(name, declared)| ColumnInfo {
                    name,
                    type_name: declared.unwrap_or_default().to_ascii_lowercase(),
                })
                .collect())
        }))
    }

    fn tables<'a>(
        &'a self,
        schemas: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<TableInfo>, SourceError>> {
        // The main database stands for PostgreSQL's default schema; a read-only source
        // attaches no other.
        let wanted = schemas
            .iter()
            .any(|schema| schema == "public" || schema == MAIN_SCHEMA);
        Box::pin(self.with_connection(move |connection| {
            if !wanted {
                return Ok(Vec::new());
            }
            let mut statement = connection
                .prepare(
                    "SELECT name FROM sqlite_schema \
                     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                     ORDER BY name",
                )
                .map_err(|error| failed(0, &error))?;
            let names = statement
                .query_map([], |row| row.get::<_, String>(0))
                .and_then(Iterator::collect::<Result<Vec<String>, _>>)
                .map_err(|error| failed(0, &error))?;
            names
                .into_iter()
                .map(|name| {
                    Ok(TableInfo {
                        key: integer_primary_key(connection, MAIN_SCHEMA, &name)?,
                        schema: MAIN_SCHEMA.to_owned(),
                        name,
                    })
                })
                .collect()
        }))
    }

    fn primary_key<'a>(
        &'a self,
        table: &'a TableName,
    ) -> BoxFuture<'a, Result<Option<String>, SourceError>> {
        let table = table.clone();
        Box::pin(self.with_connection(move |connection| {
            let schema = table.schema.as_deref().unwrap_or(MAIN_SCHEMA);
            integer_primary_key(connection, schema, &table.name)
        }))
    }

    fn estimate_rows<'a>(&'a self, _sql: &'a str) -> BoxFuture<'a, Option<f64>> {
        Box::pin(async { None })
    }

    fn ping(&self, within: Duration) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move {
            let check = self.with_connection(|connection| {
                connection
                    .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
                    .map_err(|error| failed(0, &error))
            });
            tokio::time::timeout(within, check)
                .await
                .unwrap_or_else(|_| {
                    Err(SourceError::Unavailable {
                        reason: format!("the SQLite file did not answer within {within:?}"),
                    })
                })
        })
    }

    fn param_kind(&self, type_name: &str) -> ParamKind {
        plan::param_kind(type_name)
    }

    fn pools(&self) -> Vec<PoolStatus> {
        Vec::new()
    }
}

/// The key discovery gives `table`: its primary key when that is one column declared
/// `INTEGER` (the rowid: never NULL, unique, and ordered as integers). Views, tables
/// without one, and other primary keys (which SQLite lets hold NULLs and mixed types)
/// have none.
fn integer_primary_key(
    connection: &Connection,
    schema: &str,
    table: &str,
) -> Result<Option<String>, SourceError> {
    let mut statement = connection
        .prepare("SELECT name, type, pk FROM pragma_table_info(?1, ?2)")
        .map_err(|error| failed(0, &error))?;
    let columns = statement
        .query_map((table, schema), |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| failed(0, &error))?;
    let mut keys = columns.into_iter().filter(|(_, _, pk)| *pk > 0);
    Ok(match (keys.next(), keys.next()) {
        (Some((name, declared, _)), None) if declared.eq_ignore_ascii_case("INTEGER") => Some(name),
        _ => None,
    })
}

/// The reader's pieces as a stream that owns `guard`: finished at the end of the rows or
/// at their first error, and interrupting the reader if dropped before. A reader that
/// stopped without `completed` (it panicked) ends the stream with an error.
fn pieces(
    receiver: mpsc::Receiver<Result<Bytes, SourceError>>,
    guard: Interrupt,
    completed: Arc<AtomicBool>,
) -> SourcePieces {
    Box::new(
        stream::unfold(
            (receiver, Some(guard), completed),
            |(mut receiver, guard, completed)| async move {
                let mut guard = guard?;
                match receiver.recv().await {
                    Some(Ok(piece)) => Some((Ok(piece), (receiver, Some(guard), completed))),
                    Some(Err(error)) => {
                        guard.finish();
                        Some((Err(error), (receiver, None, completed)))
                    }
                    None if completed.load(Ordering::SeqCst) => {
                        guard.finish();
                        None
                    }
                    None => {
                        guard.finish();
                        let error = SourceError::Broken {
                            rows: 0,
                            reason: "the SQLite reader stopped before the end of the rows".into(),
                        };
                        Some((Err(error), (receiver, None, completed)))
                    }
                }
            },
        )
        .boxed(),
    )
}
