//! rowpipe streams the result of a SQL query out of PostgreSQL as CSV, TSV, JSON Lines or
//! JSON, over HTTP and to files, in constant memory, and makes every failure look like a
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
//! [`pipeline::open`] assembles them for one export. Each stage is usable on its own: a
//! handler in your own axum application can stream PostgreSQL's own COPY CSV in a few
//! lines:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use axum::{Router, body::Body, extract::State, http::header, response::IntoResponse, routing::get};
//! use deadpool_postgres::Pool;
//! use rowpipe::progress::Progress;
//! use rowpipe::source::copy_csv;
//! use rowpipe::stage::{prefetch, rechunk};
//!
//! async fn orders_csv(State(pool): State<Pool>) -> Result<impl IntoResponse, String> {
//!     let rows = copy_csv(&pool, "SELECT * FROM orders ORDER BY id", None, Arc::new(Progress::new()))
//!         .await
//!         .map_err(|error| error.to_string())?;
//!     let chunks = prefetch(rechunk(rows, 64 * 1024), 4);
//!     Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], Body::from_stream(chunks)))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = rowpipe::database::connect("postgres://app@localhost/shop", &Default::default())?;
//! let app: Router = Router::new().route("/orders.csv", get(orders_csv)).with_state(pool);
//! # Ok(()) }
//! ```
//!
//! If the client goes away, the body is dropped, the pipeline with it, and the query is
//! cancelled on the server; if the query fails half way, the body ends with an error and the
//! client sees an aborted transfer, never a shorter file that looks complete.

// Tests may read their small files whole; the code they test may not (see clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod catalog;
pub mod config;
pub mod database;
pub mod encode;
pub mod escape;
pub mod export;
pub mod format;
pub mod options;
pub mod pipeline;
pub mod progress;
pub mod request;
pub mod resume;
pub mod schema;
pub mod server;
pub mod sink;
pub mod source;
pub mod stage;
pub mod value;
