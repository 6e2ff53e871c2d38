//! rowpipe streams the result of a SQL query out of PostgreSQL (or a SQLite file) as CSV,
//! TSV, JSON Lines or JSON, over HTTP and to files, in constant memory, and makes every failure look like a
//! failure.
//!
//! It is a pipeline of small stages joined by bounded streams:
//!
//! ```text
//! source (binary COPY / portal) -> encode (csv, tsv, jsonl, json) -> limit
//!     -> [compress (gzip, zstd)] -> rechunk (pieces -> fixed-size chunks) -> prefetch
//!     -> sink (HTTP, file, stdout)
//! ```
//!
//! An embedding is a few lines: connect once, describe each export with [`Export`]'s
//! builder, and send it where it goes.
//!
//! ```no_run
//! # async fn run() -> Result<(), rowpipe::Error> {
//! let db = rowpipe::Postgres::connect("postgres://app@localhost/shop")?;
//! db.export("SELECT * FROM orders ORDER BY id").csv().to_file("orders.csv").await?;
//! # Ok(()) }
//! ```
//!
//! In an axum handler, [`Export::download`] is the whole response: it waits for the first
//! chunk (so a query that fails early is an error status with a JSON body), sets the
//! headers, and aborts the transfer if the export fails later, so that a client never
//! mistakes a broken download for a complete one. If the client goes away, the query is
//! cancelled on the server.
//!
//! ```no_run
//! use axum::{Router, extract::State, response::Response, routing::get};
//! use rowpipe::{Format, Postgres};
//!
//! async fn orders(State(db): State<Postgres>) -> Response {
//!     db.export("SELECT * FROM orders WHERE created_at >= $1 ORDER BY id")
//!         .format(Format::Jsonl)
//!         .param("2024-01-01")
//!         .download("orders")
//!         .await
//! }
//!
//! # fn app() -> Result<Router, rowpipe::Error> {
//! let db = Postgres::connect("postgres://app@localhost/shop")?;
//! let app: Router = Router::new().route("/orders.jsonl", get(orders)).with_state(db);
//! # Ok(app) }
//! ```
//!
//! [`Database`] opens whatever a URL names, PostgreSQL or a SQLite file, for the same
//! builder:
//!
//! ```no_run
//! # async fn run() -> Result<(), rowpipe::Error> {
//! let db = rowpipe::Database::open("sqlite:shop.db")?;
//! db.export("SELECT * FROM orders WHERE id > $1").param("41").jsonl().to_file("orders.jsonl").await?;
//! # Ok(()) }
//! ```
//!
//! Callers without an async runtime use [`blocking`]:
//!
//! ```no_run
//! let db = rowpipe::blocking::Postgres::connect("postgres://app@localhost/shop")?;
//! db.export("SELECT * FROM orders ORDER BY id").csv().write_to(std::io::stdout().lock())?;
//! # Ok::<(), rowpipe::Error>(())
//! ```
//!
//! Every failure is one [`Error`], whose [`kind`](Error::kind) says whether the request,
//! the database or the output was at fault.
//!
//! Underneath, a source hands rows of typed values to the stages, which one function
//! assembles for each export; `rowpipe serve` and `rowpipe export` run the same pipeline
//! (see `ARCHITECTURE.md` in the repository).

#![warn(missing_docs)]
// Tests may read their small files whole; the code they test may not (see clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod blocking;
mod embed;
mod error;

pub use embed::{Database, Export, Postgres, Summary};
pub use encode::{CsvOptions, CsvQuoting, CsvSettings};
pub use error::{Error, ErrorKind};
pub use export::Engine;
pub use format::{Compression, Format};

// The parts below are rowpipe's insides: public so that its own command and integration
// tests can reach them, hidden from the documentation, and free to change. The API is
// what is above.
#[doc(hidden)]
pub mod catalog;
#[doc(hidden)]
pub mod config;
#[doc(hidden)]
pub mod encode;
#[doc(hidden)]
pub mod escape;
#[doc(hidden)]
pub mod export;
#[doc(hidden)]
pub mod format;
#[doc(hidden)]
pub mod options;
#[doc(hidden)]
pub mod pipeline;
#[doc(hidden)]
pub mod progress;
#[doc(hidden)]
pub mod request;
#[doc(hidden)]
pub mod resume;
#[doc(hidden)]
pub mod schema;
#[doc(hidden)]
#[cfg(feature = "server")]
pub mod server;
#[doc(hidden)]
pub mod sink;
#[doc(hidden)]
pub mod source;
#[doc(hidden)]
pub mod stage;
#[doc(hidden)]
pub mod table_name;
#[doc(hidden)]
pub mod value;
