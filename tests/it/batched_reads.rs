//! The download pool reads its TCP connections in batches while a large result streams in
//! (`SO_RCVLOWAT`, see `src/source/postgres/connect/batched.rs`). What arrives below the
//! mark must still be read at once: these tests run over TCP, where the mark applies,
//! and over the Unix socket, where it does not, on a pool of one connection so that each
//! request reuses the connection the previous one left.

use std::time::{Duration, Instant};

use crate::failure::ENDLESS;
use crate::harness::http::{self, Download};
use crate::harness::{
    TestDb, TestServer, assert_bytes_eq, cluster, poll_until, psql_row_to_json, tcp_cluster,
};

/// About 5 MB of CSV: many times the mark, and a last batch below it.
const LARGE: &str = "SELECT i AS id, md5(i::text) AS hash, i * 0.25 AS quarter, \
     timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second' AS at, \
     jsonb_build_object('n', i, 's', repeat('x', i % 50)) AS doc \
     FROM generate_series(1, 50000) AS i";

/// A pool of one connection; `engine` the engine (`typed`, `copy`).
fn config(engine: &str) -> String {
    format!(
        "[database]\npool_size = 1\n[stream]\nengine = \"{engine}\"\n\
         [[dataset]]\nname = \"large\"\nsql = \"{LARGE}\"\n\
         [[dataset]]\nname = \"one\"\nsql = \"SELECT 1 AS one\"\n\
         [[dataset]]\nname = \"none\"\nsql = \"SELECT 1 AS one WHERE false\"\n\
         [[dataset]]\nname = \"endless\"\nsql = \"{ENDLESS}\"\n"
    )
}

/// The database over TCP (to 127.0.0.1), and the same over its Unix socket.
fn databases() -> Vec<(TestDb, String)> {
    let tcp = tcp_cluster();
    let over_tcp = tcp.create_database("batched_tcp");
    let tcp_url = tcp.tcp_url("postgres", "127.0.0.1", over_tcp.name(), "");
    let over_socket = cluster().create_database("batched_socket");
    let socket_url = over_socket.url().to_owned();
    vec![(over_tcp, tcp_url), (over_socket, socket_url)]
}

/// A one-row and an empty result, each answered well within a second.
#[track_caller]
fn assert_small_results_are_prompt(server: &TestServer, context: &str) {
    for (path, expected) in [
        ("/datasets/one.csv", "one\n1\n"),
        ("/datasets/none.csv", "one\n"),
    ] {
        let start = Instant::now();
        let response = http::get_csv(server.addr(), path);
        let took = start.elapsed();
        assert_eq!(response.text(), expected, "{context}: {path}");
        assert!(
            took < Duration::from_secs(1),
            "{context}: {path} took {took:?}"
        );
    }
}

#[test]
fn large_and_small_results_arrive_whole_and_at_once() {
    for (db, url) in databases() {
        let csv = db.copy_csv(LARGE);
        let jsonl = psql_row_to_json(&url, LARGE);
        for engine in ["typed", "copy"] {
            let server = TestServer::start(&url, &config(engine));
            let context = format!("{engine} engine, {url}");
            assert_small_results_are_prompt(&server, &context);
            for _ in 0..2 {
                let response = http::get_csv(server.addr(), "/datasets/large.csv");
                assert_bytes_eq(response.body, &csv);
                // The same connection, straight after the end of a large result.
                assert_small_results_are_prompt(&server, &context);
            }
            if engine == "typed" {
                let response = http::get(server.addr(), "/datasets/large.jsonl");
                assert!(response.complete, "{context}");
                assert_bytes_eq(response.body, &jsonl);
            }
        }
    }
}

/// A download abandoned mid-stream (the mark raised) is cancelled on the server, and the
/// pool's one connection is replaced.
#[test]
fn an_abandoned_download_is_cancelled_over_tcp() {
    let (db, url) = databases().remove(0);
    let server = TestServer::start(&url, &config("typed"));
    let mut download = Download::start(server.addr(), "/datasets/endless.csv");
    assert_eq!(download.read_body_bytes(4 << 20), 4 << 20);
    download.disconnect();
    let gone = poll_until(Duration::from_secs(2), || {
        db.count_backends("query LIKE '%repeat(%'") == 0
    });
    assert!(
        gone.is_some(),
        "the abandoned query still runs: {}",
        db.query_scalar(
            "SELECT string_agg(state || ' ' || coalesce(wait_event, '-') || ' ' || query, '; ') \
             FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
    );
    assert_small_results_are_prompt(&server, "after the cancel");
}
