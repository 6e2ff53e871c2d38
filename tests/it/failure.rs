//! The failure contract: a download that breaks half way looks broken to its client, a
//! client that goes away stops its query on the server, and a slow client slows the
//! database instead of filling memory.

use std::path::Path;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::http::{Download, Unanswered};
use crate::harness::server::log_number;
use crate::harness::{
    ServeProcess, TestDb, TestServer, assert_bytes_eq, cluster, http, poll_until, resident_kib,
    rowpipe, wait_for_exit,
};

/// A query that streams for far longer than any test runs (about 10 GB of CSV), starting at
/// once: a single `generate_series` of 100M rows in FROM would be materialized first.
pub const ENDLESS: &str = "SELECT a * 100000 + b AS g, repeat('x', 100) AS filler \
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

        [[dataset]]
        name = "silent"
        sql = "{SILENT}"

        [[dataset]]
        name = "silent_param"
        sql = "{SILENT_PARAM}"
        params = [ {{ name = "seconds", type = "float8" }} ]
        "#
    )
}

/// A query that sends nothing for a minute: the backend never writes, so it would never
/// notice by itself that rowpipe closed its connection. Only a cancel request stops it.
const SILENT: &str = "SELECT pg_sleep(60) AS slept";

/// [`SILENT`] with a bound parameter (the portal route).
const SILENT_PARAM: &str = "SELECT pg_sleep($1) AS slept";

/// How soon a query must be gone from `pg_stat_activity` after its client left.
const QUERY_GONE_WITHIN: Duration = Duration::from_secs(2);

/// A fresh database with a 1,000-row table `small`.
pub fn database(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute("CREATE TABLE small AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 1000) g");
    db
}

/// `rowpipe serve --config` with [`config`], as a child process whose log can be read.
/// The config file lives in the returned directory, which must outlive the server.
fn serve_process(db: &TestDb) -> (ServeProcess, tempfile::TempDir) {
    serve_process_with(db, &config(""))
}

/// `rowpipe serve` with the config file `toml`; see [`serve_process`].
fn serve_process_with(db: &TestDb, toml: &str) -> (ServeProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("rowpipe.toml");
    std::fs::write(&config_path, toml).unwrap();
    let server = ServeProcess::start(db.url(), &["--config", config_path.to_str().unwrap()]);
    (server, dir)
}

/// Fails the test unless, within [`QUERY_GONE_WITHIN`], no query of `db` is active and
/// rowpipe holds no connection to it: the query was stopped on the server, and its
/// connection closed rather than pooled.
#[track_caller]
fn assert_query_and_connection_gone(db: &TestDb, context: &str) {
    let took = wait_until(
        QUERY_GONE_WITHIN,
        &format!("{context}: no active query"),
        || db.active_queries() == 0,
    );
    eprintln!("{context}: query gone after {took:?}");
    wait_until(
        QUERY_GONE_WITHIN,
        &format!("{context}: rowpipe holds no connection"),
        || rowpipe_connections(db) == 0,
    );
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

/// Terminates every backend of this database that is running a query for rowpipe (a
/// COPY, or a portal's query); returns how many.
fn terminate_rowpipe_queries(db: &TestDb) -> u32 {
    db.query_scalar(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name = 'rowpipe' AND state = 'active' \
         AND pid <> pg_backend_pid()",
        db.name()
    ))
    .parse()
    .expect("a count")
}

/// Complete CSV lines in `body` after the header: rows the client certainly received
/// (the rows of [`ENDLESS`] hold no line breaks).
fn data_lines(body: &[u8]) -> u64 {
    body.iter().filter(|&&byte| byte == b'\n').count() as u64 - 1
}

/// A backend killed mid-download: the response ends without its terminating chunk, and the
/// server logs the failure exactly once, at error level, with the dataset, the cause, and
/// counts that agree with what the client received. Through COPY and through the portal
/// of a bound parameter, which count rows in different places.
#[test]
fn a_terminated_backend_aborts_the_response_and_is_logged_once() {
    let db = database("fail_terminate");
    let (server, _config_dir) = serve_process(&db);

    for (dataset, path) in [
        ("endless", "/datasets/endless.csv"),
        ("endless_param", "/datasets/endless_param.csv?from=0"),
    ] {
        let mut download = Download::start(server.addr(), path);
        assert_eq!(download.status(), 200, "{path}");
        assert_eq!(download.read_body_bytes(1 << 20), 1 << 20, "{path}");
        assert_eq!(
            terminate_rowpipe_queries(&db),
            1,
            "{path}: one running query"
        );
        let response = download.finish();

        assert!(
            !response.complete,
            "{path}: a broken download must not end with the terminating chunk"
        );
        assert!(response.body.starts_with(b"g,filler\n"), "{path}");
        // A megabyte was read off the wire (chunk framing included) before the kill.
        assert!(
            response.body.len() > 1_000_000,
            "{path}: {} bytes",
            response.body.len()
        );

        let failures = server.settled_log_lines(
            &format!("download failed; response aborted dataset={dataset} "),
            Duration::from_secs(5),
        );
        assert_eq!(failures.len(), 1, "{path}: logged once: {failures:#?}");
        let line = &failures[0];
        assert!(line.contains("ERROR"), "{line}");
        assert!(line.contains("query failed after"), "{line}");
        assert!(names_termination(line), "the cause is named: {line}");
        assert_counts_match_the_body(line, &response.body);
    }

    // The server itself is fine afterwards.
    let small = http::get(server.addr(), "/datasets/small.csv");
    assert!(small.complete);
    assert_bytes_eq(&small.body, db.copy_csv("SELECT * FROM small"));
    let log = server.log();
    assert_eq!(
        log.matches("download failed").count(),
        2,
        "one failure line per broken download, and no more later:\n{log}"
    );
}

/// A query that fails soon after its first chunks, all of which (and the error) are ready
/// at once: the client still gets the status, the chunks made before the failure, and a
/// broken end, and the log's `bytes=` is what it got. (hyper takes body chunks while its
/// write buffer has room before writing any, and closes without writing them when the
/// body fails: such a download used to reach the client as nothing at all, not even a
/// status line.)
#[test]
fn a_failure_right_after_the_first_chunks_still_reaches_the_client() {
    let db = database("fail_early");
    let (server, _config_dir) = serve_process_with(
        &db,
        r#"
        [stream]
        chunk_size = 4096

        [[dataset]]
        name = "early"
        sql = "SELECT g, 1 / (g - 30000) AS x FROM generate_series(1, 40000) g"
        "#,
    );
    let expected = db.copy_csv("SELECT g, 1 / (g - 30000) AS x FROM generate_series(1, 29999) g");
    let mut received = Vec::new();
    for round in 0..5 {
        let response = http::get(server.addr(), "/datasets/early.csv");
        assert_eq!(response.status, 200, "round {round}");
        assert!(!response.complete, "round {round}: a broken end");
        // 29,999 rows, about 230 KB, were made before the failure: every whole chunk of
        // them reaches a client that reads at once (the rest was still being gathered).
        assert_eq!(
            response.body.len(),
            expected.len() / 4096 * 4096,
            "round {round}"
        );
        assert_bytes_eq(&response.body, &expected[..response.body.len()]);
        received.push(response.body.len() as u64);
    }
    let failures = server.settled_log_lines(
        "download failed; response aborted dataset=early ",
        Duration::from_secs(5),
    );
    let logged: Vec<u64> = failures
        .iter()
        .map(|line| log_number(line, "bytes"))
        .collect();
    assert_eq!(
        logged, received,
        "bytes= is what each client got: {failures:#?}"
    );
}

/// The `rows=` and `bytes=` of a failure log line against the `body` the client got.
///
/// Bytes are counted as they are handed to hyper, all of which reaches a client that
/// reads to the end, but for the last chunk, which hyper may still hold when the error closes
/// the connection. Rows are counted upstream, so they may run ahead of the body by what
/// the stages between hold (prefetch depth 4 and one more chunk being filled, a portal's
/// 64 KiB batch), but never behind it.
#[track_caller]
fn assert_counts_match_the_body(line: &str, body: &[u8]) {
    const CHUNK: u64 = 64 * 1024;
    // Prefetch depth 4, one chunk being filled, rechunk's, a portal batch, and the last
    // chunk hyper may have dropped.
    const HELD_BYTES: u64 = (4 + 3 + 1) * CHUNK;
    /// The shortest row of [`ENDLESS`]: one digit, a comma, 100 `x`s, a line break.
    const MIN_ROW_BYTES: u64 = 103;
    let (rows, bytes) = (log_number(line, "rows"), log_number(line, "bytes"));
    let received = body.len() as u64;
    // The body lets hyper write out what it holds before it sees the failure, but what
    // the client's socket has no room for at that moment goes with the connection (seen
    // on a loaded machine): at most one chunk between the two.
    assert!(
        received <= bytes && bytes <= received + CHUNK,
        "bytes= is what the client received, give or take the last chunk: {received} \
         received; {line}"
    );
    let lines = data_lines(body);
    assert!(
        rows >= lines,
        "rows={rows}, but the client received {lines} complete rows: {line}"
    );
    assert!(
        rows <= lines + HELD_BYTES / MIN_ROW_BYTES + 1,
        "rows={rows} is more than could be held back behind {lines} rows received: {line}"
    );
}

/// A query that sends its first rows at once and then slows down: about a megabyte a
/// second, for far longer than the one-second statement timeouts below.
const SLOW: &str =
    "SELECT g, repeat('y', 10000) AS filler, pg_sleep(0.01) FROM generate_series(1, 100000) g";

/// `statement_timeout` firing after rows were sent aborts the response; the log names the
/// cause (SQLSTATE 57014), and neither the query nor rowpipe's connection outlives it.
#[test]
fn a_statement_timeout_mid_stream_aborts_the_response() {
    let db = database("fail_timeout");
    let (server, _config_dir) = serve_process_with(
        &db,
        &format!(
            "[database]\nstatement_timeout = \"1s\"\n[[dataset]]\nname = \"slow\"\nsql = \"{SLOW}\"\n"
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

    let failures = server.settled_log_lines("download failed", Duration::from_secs(5));
    assert_eq!(failures.len(), 1, "logged once: {failures:#?}");
    assert!(
        failures[0].contains("57014") && failures[0].contains("statement timeout"),
        "the cause is the statement timeout: {}",
        failures[0]
    );
    assert_query_and_connection_gone(&db, "after the statement timeout");
}

/// The CLI's `--statement-timeout` against a real timeout mid-export: exit 1, the cause in
/// the message, no file, and nothing left running on the server.
#[test]
fn the_cli_statement_timeout_fails_the_export_and_leaves_nothing() {
    let db = database("fail_cli_timeout");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("slow.csv");
    let child = rowpipe()
        .args(["export", "--database", db.url(), "--sql", SLOW])
        .args(["--statement-timeout", "1s", "-o"])
        .arg(&target)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stderr) = exit_code_and_stderr(child, Duration::from_secs(30));
    assert_eq!(status, Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("57014") && stderr.contains("statement timeout"),
        "the message names the cause: {stderr}"
    );
    assert!(
        stderr.contains("query failed after"),
        "it failed mid-stream, not before the first row: {stderr}"
    );
    assert!(!target.exists(), "no file may appear under the final name");
    assert_no_stray_files(dir.path());
    assert_query_and_connection_gone(&db, "after the CLI's statement timeout");
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
    assert_eq!(terminate_rowpipe_queries(&db), 1);
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

/// A client that disconnects mid-download has its query cancelled on the server at once, and its connection is closed rather than returned to the pool.
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
        assert_query_and_connection_gone(&db, path);
    }
}

/// A client that gives up before the first byte, while its query is still silent, has its
/// query cancelled all the same. The backend is not writing, so closing the connection
/// alone would leave it sleeping for a minute: this is the test that fails if the cancel
/// request is lost. Through COPY and through a portal.
#[test]
fn a_client_that_goes_away_before_the_first_byte_has_its_query_cancelled() {
    let db = database("fail_silent");
    let server = TestServer::start(db.url(), &config(""));
    for path in [
        "/datasets/silent.csv",
        "/datasets/silent_param.csv?seconds=60",
    ] {
        let request = Unanswered::send(server.addr(), path);
        wait_until(
            Duration::from_secs(10),
            &format!("{path}: the query is sleeping"),
            || db.count_backends("state = 'active' AND wait_event = 'PgSleep'") == 1,
        );
        request.disconnect();
        assert_query_and_connection_gone(&db, path);
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

/// Rows that say which backend produced them: about 10 MB, so a download streams for a
/// while on its connection.
const PIDS: &str = "SELECT pg_backend_pid() AS pid, g, repeat('x', 200) AS filler \
                    FROM generate_series(1, 50000) g";

/// A download runs its connection's driver in its own task while the rows flow, and gives
/// it back to the connection's background task when they end: the pooled connection must
/// then run the commit and the next downloads' statements as before. With a pool of one,
/// downloads through COPY and through a portal, a small one and an abandoned one between
/// them, each complete and byte-identical to psql, on one backend until the abandoned
/// download's connection is closed, and then on its successor.
#[test]
fn one_connection_serves_download_after_download() {
    let db = database("pool_reuse");
    let server = TestServer::start(
        db.url(),
        &format!(
            r#"
            [database]
            pool_size = 1

            [[dataset]]
            name = "pids"
            sql = "{PIDS}"

            [[dataset]]
            name = "pids_param"
            sql = "{PIDS} LIMIT $1"
            params = [ {{ name = "n", type = "int4" }} ]

            [[dataset]]
            name = "small"
            table = "small"

            [[dataset]]
            name = "endless"
            sql = "{ENDLESS}"
            "#
        ),
    );
    // The backend a body's rows came from, and psql's bytes for the same rows.
    let backend_and_expected = |body: &[u8]| {
        let second_line = body.split(|&byte| byte == b'\n').nth(1).expect("a row");
        let pid = std::str::from_utf8(second_line)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_owned();
        let expected = db.copy_csv(&PIDS.replace("pg_backend_pid()", &format!("{pid}::int4")));
        (pid, expected)
    };
    let download = |path: &str| {
        let response = http::get(server.addr(), path);
        assert_eq!(response.status, 200, "{path}");
        assert!(response.complete, "{path}: complete");
        response.body
    };

    let body = download("/datasets/pids.csv");
    let (first, expected) = backend_and_expected(&body);
    assert_bytes_eq(&body, &expected);
    for path in ["/datasets/pids_param.csv?n=50000", "/datasets/pids.csv"] {
        let body = download(path);
        let (pid, expected) = backend_and_expected(&body);
        assert_eq!(pid, first, "{path}: the pooled connection is used again");
        assert_bytes_eq(&body, &expected);
        assert_bytes_eq(
            download("/datasets/small.csv"),
            db.copy_csv("SELECT * FROM small"),
        );
    }

    let mut abandoned = Download::start(server.addr(), "/datasets/endless.csv");
    abandoned.read_body_bytes(256 * 1024);
    abandoned.disconnect();
    wait_until(
        Duration::from_secs(2),
        "the abandoned query is gone",
        || db.active_queries() == 0,
    );
    let body = download("/datasets/pids.csv");
    let (next, expected) = backend_and_expected(&body);
    assert_ne!(
        next, first,
        "the abandoned download's connection was closed"
    );
    assert_bytes_eq(&body, &expected);
    let body = download("/datasets/pids_param.csv?n=50000");
    assert_eq!(backend_and_expected(&body).0, next);
    assert_bytes_eq(&body, &expected);
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

/// A stream dropped where no Tokio runtime runs (a blocking caller, another language's
/// garbage collector on its own thread) still has its query cancelled on the server: a
/// query that is not writing (here a sleep) would otherwise run on long after the client.
#[test]
fn a_stream_dropped_outside_any_runtime_cancels_its_query() {
    use std::sync::Arc;

    use rowpipe::progress::Progress;
    use rowpipe::source::copy_csv;
    use rowpipe::source::postgres::PoolSettings;
    use rowpipe::source::postgres::connect::connect;

    let db = database("fail_no_runtime");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pool = connect(db.url(), &PoolSettings::default()).unwrap();
    // Some rows first: the server holds back the start of a COPY until it has a buffer's
    // worth to send. Then a long sleep, during which the backend writes nothing.
    let sql = "SELECT g, CASE WHEN g = 1000 THEN pg_sleep(60)::text END, repeat('x', 100) \
               FROM generate_series(1, 2000) AS g";
    let stream = runtime
        .block_on(copy_csv(&pool, sql, None, Arc::new(Progress::new())))
        .unwrap();
    wait_until(Duration::from_secs(10), "the query is sleeping", || {
        db.count_backends("state = 'active' AND wait_event = 'PgSleep'") == 1
    });
    thread::spawn(move || {
        assert!(tokio::runtime::Handle::try_current().is_err());
        drop(stream);
    })
    .join()
    .unwrap();
    wait_until(Duration::from_secs(1), "the query is cancelled", || {
        db.active_queries() == 0
    });
    drop(runtime);
}
