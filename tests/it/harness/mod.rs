//! Shared integration-test harness for rowpipe.
//!
//! * [`browser`]: headless Chromium, driven over WebDriver.
//! * [`cluster`]: one throwaway PostgreSQL server per test process, and a fresh
//!   database per test; more clusters on TCP, with TLS, for the tests that need them.
//! * [`certs`]: a test CA and certificates, made with the `openssl` command.
//! * [`proxy`]: a TCP proxy that can make the database host vanish.
//! * [`psql`]: PostgreSQL's own CSV output (via psql `\copy`) as the reference.
//! * [`http`]: a raw HTTP/1.1 client that checks what really goes over the wire.
//! * [`cli`]: the `rowpipe` binary with a clean environment.
//! * [`assert`]: byte-string comparison with readable failure reports.
//! * [`server`]: rowpipe's HTTP server, in-process or as the real binary.
//! * [`standby`]: a primary and a streaming hot standby of it (`pg_basebackup -R`).
//! * [`nginx`]: a real nginx in front of rowpipe, with its default or the documented
//!   proxy settings.
//! * [`process`]: child processes with a clean environment and a timeout.
//! * [`probe`]: a value's binary form beside the server's text for it.
//! * [`property`]: property tests with a fixed seed and an adjustable case count.

// Each test module uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub mod assert;
pub mod browser;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod http;
pub mod nginx;
pub mod probe;
pub mod process;
pub mod property;
pub mod proxy;
pub mod psql;
pub mod server;
pub mod standby;

pub use assert::assert_bytes_eq;
pub use cli::rowpipe;
pub use cluster::{Cluster, TestDb, cluster, numbers_db, tcp_cluster, tls_cluster};
pub use probe::ValueProbe;
pub use process::{curl, poll_until, resident_kib, run, run_ok, run_with_input, wait_for_exit};
pub use psql::{psql_copy, psql_copy_csv, psql_json_array, psql_row_to_json};
pub use server::{ServeProcess, TestServer};
