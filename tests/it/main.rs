//! rowpipe's integration tests: one test binary, so all tests share one PostgreSQL
//! cluster (see `harness::cluster`) and run in parallel threads.

mod harness;
mod harness_selftest;
