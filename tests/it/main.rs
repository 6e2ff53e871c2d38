//! rowpipe's integration tests: one test binary, so all tests share one PostgreSQL
//! cluster (see `harness::cluster`) and run in parallel threads.

// Tests read their small outputs whole to compare them; rowpipe itself may not (see
// clippy.toml).
#![allow(clippy::disallowed_methods)]

mod auth;
mod bad_input;
mod batched_reads;
mod browser;
mod cli;
mod compression;
mod copy_binary;
mod datasets;
mod dead_connection;
mod demo;
mod engines;
mod failure;
mod formats;
mod harness;
mod harness_selftest;
mod http_clients;
mod https;
mod key_order;
mod library;
mod logs;
mod memory_source;
mod openapi;
mod output;
mod pages;
mod proofs;
mod replicas;
mod request;
mod resume;
mod serve_limits;
mod several_servers;
mod sqlite;
mod standby;
mod tls;
mod value_datetime;
mod value_numbers;
mod value_text;
