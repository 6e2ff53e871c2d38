//! Sources: where rows come from, behind one seam, the [`Source`] trait.
//!
//! A source runs one query per export and hands over [`SourceRows`]: a schema, its own
//! byte pieces and a [`RowDecoder`] for them; and it owns whatever it takes to stop that
//! query early. It also answers what the server and the CLI ask a database besides
//! exports: the columns of a query, the tables to publish, whether it is up. PostgreSQL is
//! [`postgres::Postgres`], SQLite [`sqlite::Sqlite`]; a new source is one module that
//! implements [`Source`], and one arm in [`DatabaseUrl`], the one place that decides which
//! source a `--database`, `DATABASE_URL` or `[database] url` names.

pub mod error;
pub mod memory;
pub mod postgres;
pub mod rows;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::export::{ExportQuery, Formatting};
use crate::format::Format;
use crate::progress::Progress;
use crate::table_name::TableName;

pub use error::{Rejected, SourceError};
pub use postgres::{CopyStream, copy_csv};
pub use rows::{RowDecoder, RowError, SourcePieces, SourceRows};

/// Which database a connection URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A PostgreSQL URL (`postgres://...`) or `key=value` connection string.
    Postgres(String),
    /// A SQLite file: `sqlite:PATH` (`sqlite:///abs/path` too), or a path ending in `.db`,
    /// `.sqlite` or `.sqlite3`.
    Sqlite(PathBuf),
}

/// How a source opened by [`DatabaseUrl::open`] is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceUse {
    /// One export (the CLI): one connection.
    Export,
    /// A server: downloads, and a small pool of their own for everything else.
    Server,
}

/// The database a URL names cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenSourceError {
    #[error(transparent)]
    Postgres(#[from] postgres::InvalidUrl),
    #[error(transparent)]
    Sqlite(#[from] sqlite::OpenError),
    /// `[database] replicas` are PostgreSQL's streaming replicas; a SQLite file has none.
    #[error("[database] replicas needs a PostgreSQL database, and {url} is a SQLite file")]
    ReplicasWithoutPostgres { url: String },
    /// A token names a database role, and the database has none (SQLite).
    #[error("token {token:?} names role {role:?}, but a SQLite file has no roles; remove it")]
    RoleWithoutRoles { token: String, role: String },
}

impl DatabaseUrl {
    /// What `url` names. A string with `://` or `=` in it is PostgreSQL's (a `key=value`
    /// string may well end in `dbname=x.db`), unless it starts with `sqlite:`.
    pub fn parse(url: &str) -> Self {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return DatabaseUrl::Sqlite(PathBuf::from(path));
        }
        let looks_like_file = [".db", ".sqlite", ".sqlite3"]
            .iter()
            .any(|end| url.ends_with(end));
        if looks_like_file && !url.contains("://") && !url.contains('=') {
            return DatabaseUrl::Sqlite(PathBuf::from(url));
        }
        DatabaseUrl::Postgres(url.to_owned())
    }

    /// The database as logs and manifests show it: never a password.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Postgres(url) => postgres::redact_url(url),
            DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
        }
    }

    /// The source, with PostgreSQL's pools of `settings`. A PostgreSQL source opens no
    /// connection yet; a SQLite file is checked now (it must exist and be a database).
    pub fn open(
        &self,
        settings: &postgres::PoolSettings,
        used: SourceUse,
    ) -> Result<Arc<dyn Source>, OpenSourceError> {
        Ok(match (self, used) {
            (DatabaseUrl::Postgres(url), SourceUse::Export) => {
                Arc::new(postgres::Postgres::connect(url, settings)?)
            }
            (DatabaseUrl::Postgres(url), SourceUse::Server) => {
                Arc::new(postgres::Postgres::for_server(url, settings)?)
            }
            (DatabaseUrl::Sqlite(path), _) => Arc::new(sqlite::Sqlite::open(path.clone())?),
        })
    }

    /// The source a server reads from, with `[database] replicas` when `replicas` are
    /// given (see [`postgres::replicas`]): the database at this URL is their primary.
    pub fn open_for_server(
        &self,
        settings: &postgres::PoolSettings,
        replicas: Option<&postgres::replicas::ReplicaSettings>,
    ) -> Result<Arc<dyn Source>, OpenSourceError> {
        let Some(replicas) = replicas else {
            return self.open(settings, SourceUse::Server);
        };
        let DatabaseUrl::Postgres(url) = self else {
            return Err(OpenSourceError::ReplicasWithoutPostgres {
                url: self.redacted(),
            });
        };
        let primary = postgres::Postgres::for_server(url, settings)?;
        let replica_sources = replicas
            .urls
            .iter()
            .map(|url| {
                Ok((
                    postgres::redact_url(url),
                    postgres::Postgres::for_server(url, settings)?,
                ))
            })
            .collect::<Result<Vec<_>, OpenSourceError>>()?;
        Ok(Arc::new(postgres::replicas::Replicated::new(
            primary,
            replica_sources,
            replicas,
        )))
    }
}

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
    /// (rowpipe's copy engine): its bytes, passed through. `Ok(None)` (the default): this
    /// source has no such path.
    fn formatted<'a>(
        &'a self,
        sql: &'a str,
        role: Option<&'a str>,
        format: Format,
        statement_timeout: Option<Duration>,
        progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<Option<SourcePieces>, SourceError>> {
        let _ = (sql, role, format, statement_timeout, progress);
        Box::pin(async { Ok(None) })
    }

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

    /// The single-column primary key of `table`, if it has one.
    fn primary_key<'a>(
        &'a self,
        table: &'a TableName,
    ) -> BoxFuture<'a, Result<Option<String>, SourceError>>;

    /// The planner's estimate of how many rows `sql` returns, when the source has one:
    /// for warnings, never for decisions.
    fn estimate_rows<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Option<f64>>;

    /// Whether the database answers within `within`.
    fn ping(&self, within: Duration) -> BoxFuture<'_, Result<(), SourceError>>;

    /// The source's connection pools, for metrics.
    fn pools(&self) -> Vec<PoolStatus>;

    /// What values a parameter declared `type_name` takes here, for the API's description;
    /// the same name can mean different things (`integer` is 32 bits in PostgreSQL, 64 in
    /// SQLite). No default: a source that wraps another must say it takes the same.
    fn param_kind(&self, type_name: &str) -> ParamKind;

    /// The read replicas requests are spread over, each with its state, for `/readyz`;
    /// none (the default) for a source without replicas.
    fn replicas(&self) -> Vec<ReplicaStatus> {
        Vec::new()
    }
}

/// The values a dataset parameter of some declared type takes, as JSON can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Whole numbers from `min` to `max`.
    Integer {
        min: i64,
        max: i64,
    },
    /// Any number.
    Number,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// A timestamp, with or without a zone.
    DateTime,
    Uuid,
    /// Text the source parses itself (or takes as it is).
    Text,
}

/// A read replica's state, as its last check (or request) found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Its URL without a password.
    pub name: String,
    /// How far its replay was behind, when it answered and could tell.
    pub lag: Option<Duration>,
    /// Why requests skip it now (down, too far behind); `None` while it takes them.
    pub problem: Option<String>,
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
    /// What the pool is for, e.g. `downloads` (`replica1-downloads` for a read
    /// replica's).
    pub name: String,
    pub max: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

/// The index of the column `given` among `names` (a result's column names), for
/// `columns=` and a key: an unknown name and a name the result has twice are the
/// request's mistakes.
pub(crate) fn column_index(names: &[String], given: &str) -> Result<usize, Rejected> {
    let mut found = names.iter().enumerate().filter(|(_, name)| *name == given);
    match (found.next(), found.next()) {
        (Some((index, _)), None) => Ok(index),
        (Some(_), Some(_)) => Err(Rejected::AmbiguousColumn {
            given: given.to_owned(),
        }),
        (None, _) => Err(Rejected::UnknownColumn {
            given: given.to_owned(),
            valid: names.to_vec(),
        }),
    }
}

/// Where the dataset's key column `key` is among the result's `names`. The key is the
/// dataset's, not the request's: a key that is missing, or named twice, is the operator's
/// mistake, and the errors say so (unlike [`column_index`]'s, which answer a request).
pub(crate) fn key_index(names: &[String], key: &str) -> Result<usize, Rejected> {
    column_index(names, key).map_err(|error| match error {
        Rejected::AmbiguousColumn { .. } => Rejected::AmbiguousKey {
            key: key.to_owned(),
        },
        _ => Rejected::UnknownKey {
            key: key.to_owned(),
            valid: names.to_vec(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_once_or_is_the_datasets_mistake() {
        let names: Vec<String> = ["a", "b", "a"].map(String::from).to_vec();
        assert_eq!(key_index(&names, "b").unwrap(), 1);
        assert!(matches!(
            key_index(&names, "a"),
            Err(Rejected::AmbiguousKey { key }) if key == "a"
        ));
        assert!(matches!(
            key_index(&names, "c"),
            Err(Rejected::UnknownKey { key, valid }) if key == "c" && valid == names
        ));
    }

    #[test]
    fn sqlite_files_are_told_from_postgres_urls() {
        let sqlite = |path: &str| DatabaseUrl::Sqlite(PathBuf::from(path));
        assert_eq!(DatabaseUrl::parse("sqlite:data/x"), sqlite("data/x"));
        assert_eq!(DatabaseUrl::parse("sqlite:///tmp/x"), sqlite("/tmp/x"));
        assert_eq!(DatabaseUrl::parse("orders.db"), sqlite("orders.db"));
        assert_eq!(DatabaseUrl::parse("/a/b.sqlite"), sqlite("/a/b.sqlite"));
        assert_eq!(DatabaseUrl::parse("b.sqlite3"), sqlite("b.sqlite3"));
        for postgres in [
            "postgres://u@h/x.db",
            "host=h dbname=x.db",
            "postgresql:///app",
            "data.dbx",
        ] {
            assert_eq!(
                DatabaseUrl::parse(postgres),
                DatabaseUrl::Postgres(postgres.to_owned())
            );
        }
        assert_eq!(sqlite("a.db").redacted(), "sqlite:a.db");
    }

    #[test]
    fn replicas_are_postgresql_only() {
        let replicas = postgres::replicas::ReplicaSettings {
            urls: vec!["postgres://replica/db".into()],
            fallback: postgres::replicas::Fallback::Primary,
            max_lag: Duration::from_secs(30),
            check_interval: Duration::from_secs(5),
        };
        let opened = DatabaseUrl::parse("sqlite:/nowhere/a.db")
            .open_for_server(&postgres::PoolSettings::default(), Some(&replicas));
        assert!(matches!(
            opened.err(),
            Some(OpenSourceError::ReplicasWithoutPostgres { .. })
        ));
    }
}
