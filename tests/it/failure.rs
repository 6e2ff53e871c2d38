//! The failure contract: a download that breaks half way looks broken to its client, a
//! client that goes away stops its query on the server, and a slow client slows the
//! database instead of filling memory.

use std::path::Path;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::http::Download;
use crate::harness::{
    ServeProcess, TestDb, TestServer, assert_bytes_eq, cluster, http, poll_until, rowpipe,
    wait_for_exit,
};

/// A query that streams for far longer than any test runs (about 10 GB of CSV), starting at
/// once: a single `generate_series` of 100M rows in FROM would be materialized first.
const ENDLESS: &str = "SELECT a * 100000 + b AS g, repeat('x', 100) AS filler \
                       FROM generate_series(0, 999) a, generate_series(1, 100000) b";

/// [`ENDLESS`] with a bound parameter, which takes the portal route instead of COPY.
const ENDLESS_PARAM: &str = "SELECT a * 100000 + b AS g, repeat('x', 100) AS filler \
                             FROM generate_series($1::int, 999) a, generate_series(1, 100000) b";

/// A config serving [`ENDLESS`] as `endless`, [`ENDLESS_PARAM`] as `endless_param` and a
/// small table as `small`.
fn config(extra: &str) -> String {
    format!(
        r#"
        {extra}
        [[dataset]]
        name = "endless"
        sql = "{ENDLESS}"

        [[dataset]]
        name = "endless_param"
        sql = "{ENDLESS_PARAM}"
        params = [ {{ name = "from", type = "int4" }} ]

        [[dataset]]
        name = "small"
        table = "small"
        "#
    )
}

fn database(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute("CREATE TABLE small AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 1000) g");
    db
}

/// `rowpipe serve --config` with [`config`], as a child process whose log can be read.
/// The config file lives in the returned directory, which must outlive the server.
fn serve_process(db: &TestDb) -> (ServeProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("rowpipe.toml");
    std::fs::write(&config_path, config("")).unwrap();
    let server = ServeProcess::start(db.url(), &["--config", config_path.to_str().unwrap()]);
    (server, dir)
}

/// Connections rowpipe holds to this database, busy or idle.
fn rowpipe_connections(db: &TestDb) -> u32 {
    db.count_backends("application_name = 'rowpipe'")
}

/// Polls `condition` until it holds, failing the test after `limit`; returns how long it
/// took.
#[track_caller]
fn wait_until(limit: Duration, what: &str, condition: impl FnMut() -> bool) -> Duration {
    poll_until(limit, condition).unwrap_or_else(|| panic!("{what}: still not true after {limit:?}"))
}

/// Terminates every backend of this database that is running a COPY; returns how many.
fn terminate_copy_backends(db: &TestDb) -> u32 {
    db.query_scalar(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND query LIKE 'COPY%' AND pid <> pg_backend_pid()",
        db.name()
    ))
    .parse()
    .expect("a count")
}

/// A backend killed mid-download: the response ends without its terminating chunk, and the
/// server logs the failure once, at error level, with the dataset, rows, bytes and cause.
#[test]
fn a_terminated_backend_aborts_the_response_and_is_logged_once() {
    let db = database("fail_terminate");
    let (server, _config_dir) = serve_process(&db);

    let mut download = Download::start(server.addr(), "/datasets/endless.csv");
    assert_eq!(download.status(), 200);
    assert_eq!(download.read_body_bytes(1 << 20), 1 << 20);
    assert_eq!(terminate_copy_backends(&db), 1, "expected one running COPY");
    let response = download.finish();

    assert!(
        !response.complete,
        "a broken download must not end with the terminating chunk"
    );
    assert!(response.body.starts_with(b"g,filler\n"));
    // A megabyte was read off the wire (chunk framing included) before the kill.
    assert!(
        response.body.len() > 1_000_000,
        "{} bytes",
        response.body.len()
    );
    let log = server.wait_for_log("download failed", Duration::from_secs(5));
    let failures: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("download failed"))
        .collect();
    assert_eq!(failures.len(), 1, "logged once:\n{log}");
    let line = failures[0];
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("dataset=endless"), "{line}");
    assert!(line.contains("rows="), "{line}");
    assert!(line.contains("bytes="), "{line}");
    assert!(line.contains("query failed after"), "{line}");
    assert!(names_termination(line), "the cause is named: {line}");

    // The server itself is fine afterwards.
    let small = http::get(server.addr(), "/datasets/small.csv");
    assert!(small.complete);
    assert_bytes_eq(&small.body, db.copy_csv("SELECT * FROM small"));
}

/// `statement_timeout` firing after rows were sent also aborts the response.
#[test]
fn a_statement_timeout_mid_stream_aborts_the_response() {
    let db = database("fail_timeout");
    let slow =
        "SELECT g, repeat('y', 10000) AS filler, pg_sleep(0.01) FROM generate_series(1, 100000) g";
    let server = TestServer::start(
        db.url(),
        &format!(
            "[database]\nstatement_timeout = \"1s\"\n[[dataset]]\nname = \"slow\"\nsql = \"{slow}\"\n"
        ),
    );
    let started = Instant::now();
    let response = http::get(server.addr(), "/datasets/slow.csv");
    assert_eq!(
        response.status, 200,
        "the first chunk came before the timeout"
    );
    assert!(!response.complete, "the timeout must abort the response");
    assert!(
        response.body.len() > 64 * 1024,
        "some chunks were delivered first"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// The CLI: a backend killed mid-export means exit 1, a clear message, and no file at the
/// `-o` path (and no `.part` left behind).
#[test]
fn a_terminated_backend_fails_the_cli_export_and_leaves_no_file() {
    let db = database("fail_cli");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("endless.csv");
    let part = dir.path().join("endless.csv.part");
    let child = rowpipe()
        .args(["export", "--database", db.url(), "--sql", ENDLESS, "-o"])
        .arg(&target)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the export writes its .part file",
        || std::fs::metadata(&part).is_ok_and(|meta| meta.len() > 1 << 20),
    );
    assert_eq!(terminate_copy_backends(&db), 1);
    let (status, stderr) = exit_code_and_stderr(child, Duration::from_secs(30));
    assert_eq!(status, Some(1), "stderr: {stderr}");
    assert!(stderr.contains("query failed after"), "{stderr}");
    assert!(
        names_termination(&stderr),
        "the message names the cause: {stderr}"
    );
    assert!(!target.exists(), "no file may appear under the final name");
    assert!(!part.exists(), "the partial file is removed");
    assert_no_stray_files(dir.path());
}

/// Whether a message names a terminated backend as the cause. A backend killed in the middle
/// of sending a message cannot send its FATAL error (it would corrupt the protocol stream),
/// so the client may only see the connection close.
fn names_termination(message: &str) -> bool {
    message.contains("57P01: terminating connection") || message.contains("connection closed")
}

fn assert_no_stray_files(dir: &Path) {
    let entries: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert!(entries.is_empty(), "left behind: {entries:?}");
}

/// Waits for `child` to exit; returns its exit code and stderr.
#[track_caller]
fn exit_code_and_stderr(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let status = wait_for_exit(&mut child, limit, "the backend was terminated");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
    }
    (status.code(), stderr)
}

/// A client that disconnects mid-download has its query cancelled on the server within a
/// second, and its connection is closed rather than returned to the pool.
#[test]
fn a_client_that_goes_away_has_its_query_cancelled() {
    let db = database("fail_disconnect");
    let server = TestServer::start(db.url(), &config(""));
    // COPY (csv, jsonl) and the portal route of a bound parameter alike.
    for path in [
        "/datasets/endless.csv",
        "/datasets/endless.jsonl",
        "/datasets/endless_param.csv?from=0",
    ] {
        let mut download = Download::start(server.addr(), path);
        download.read_body_bytes(256 * 1024);
        assert_eq!(db.active_queries(), 1, "{path}: the query is running");
        download.disconnect();
        let took = wait_until(
            Duration::from_secs(1),
            "no active query after the disconnect",
            || db.active_queries() == 0,
        );
        eprintln!("{path}: query gone {took:?} after the disconnect");
        wait_until(
            Duration::from_secs(1),
            "the connection is discarded",
            || rowpipe_connections(&db) == 0,
        );
    }
}

/// A hundred disconnects in a row leave the pool healthy: nothing keeps running, no
/// connection leaks, and the next download is complete and correct.
#[test]
fn a_hundred_disconnects_leave_the_pool_healthy() {
    let db = database("fail_hundred");
    let server = TestServer::start(db.url(), &config("[database]\npool_size = 4"));
    for round in 0..100 {
        let mut download = Download::start(server.addr(), "/datasets/endless.csv");
        assert_eq!(download.status(), 200, "round {round}");
        download.read_body_bytes(64 * 1024);
        download.disconnect();
    }
    wait_until(Duration::from_secs(2), "no query left running", || {
        db.active_queries() == 0
    });
    wait_until(Duration::from_secs(2), "no connection leaked", || {
        rowpipe_connections(&db) <= 4
    });

    let response = http::get(server.addr(), "/datasets/small.csv");
    assert_eq!(response.status, 200);
    assert!(response.complete);
    assert_bytes_eq(&response.body, db.copy_csv("SELECT * FROM small"));
    let endless = Download::start(server.addr(), "/datasets/endless.csv");
    assert_eq!(
        endless.status(),
        200,
        "the pool still hands out connections"
    );
    endless.disconnect();
}

/// A client that stops reading makes the database backend wait to write (back-pressure
/// reaches PostgreSQL) instead of rowpipe buffering the table in memory.
#[test]
fn a_stalled_client_makes_the_database_wait() {
    let db = database("fail_slow");
    let (server, _config_dir) = serve_process(&db);
    let mut download = Download::start(server.addr(), "/datasets/endless.csv");
    download.read_body_bytes(64 * 1024);

    let waiting_to_write =
        || db.count_backends("query LIKE 'COPY%' AND wait_event = 'ClientWrite'") == 1;
    wait_until(
        Duration::from_secs(10),
        "the backend waits for rowpipe to read",
        waiting_to_write,
    );
    let rss_then = resident_kib(server.pid());
    thread::sleep(Duration::from_secs(1));
    assert!(
        waiting_to_write(),
        "the backend stays blocked while the client stalls"
    );
    let rss_now = resident_kib(server.pid());
    assert!(
        rss_now < rss_then + 4 * 1024,
        "server memory grew while the client stalled: {rss_then} KiB -> {rss_now} KiB"
    );
    download.disconnect();
    wait_until(
        Duration::from_secs(1),
        "the stalled query is cancelled",
        || db.active_queries() == 0,
    );
}

/// `VmRSS` of a process, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Pooled connections that the server dropped while they sat idle (a restart, an idle
/// timeout, an operator) are replaced, never handed to the next download.
#[test]
fn connections_dropped_while_idle_are_replaced() {
    let db = database("fail_idle");
    let server = TestServer::start(db.url(), &config(""));
    let expected = db.copy_csv("SELECT * FROM small");
    assert_bytes_eq(
        &http::get_csv(server.addr(), "/datasets/small.csv").body,
        &expected,
    );
    assert_eq!(
        rowpipe_connections(&db),
        1,
        "one idle connection stays pooled"
    );

    let terminated = db.query_scalar(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name = 'rowpipe'",
        db.name()
    ));
    assert_eq!(terminated, "1");
    wait_until(
        Duration::from_secs(5),
        "the pooled connection is gone",
        || rowpipe_connections(&db) == 0,
    );

    for _ in 0..3 {
        assert_bytes_eq(
            &http::get_csv(server.addr(), "/datasets/small.csv").body,
            &expected,
        );
    }
}
