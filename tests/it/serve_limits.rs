//! Serving in front of a production database: clients that stall, send half a request or
//! hold connections open cannot take the service down, health checks tell a dead process
//! from an unreachable database, and shutdown lets downloads finish for a bounded time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::failure::{ENDLESS, database};
use crate::harness::http::{self, Download};
use crate::harness::server::free_local_addr;
use crate::harness::{ServeProcess, assert_bytes_eq, poll_until, wait_for_exit};

/// A config with `server` and `database` settings, serving `endless` and `small`.
fn config(database: &str, server: &str) -> String {
    format!(
        "[database]\n{database}\n[server]\n{server}\n\
         [[dataset]]\nname = \"endless\"\nsql = \"{ENDLESS}\"\n\
         [[dataset]]\nname = \"small\"\ntable = \"small\"\n"
    )
}

/// Clients that stop reading, more of them than the pool has connections: each has its
/// connection closed after `send_timeout`, which frees its backend (blocked in a write,
/// where PostgreSQL ignores a cancel); then downloads and health checks work again.
#[test]
fn stalled_clients_are_cut_off_and_free_the_database() {
    let db = database("limits_stalled");
    let server = ServeProcess::start_with_config(
        db.url(),
        &config("pool_size = 2", "send_timeout = \"2s\""),
    );
    let stalled: Vec<Download> = (0..2)
        .map(|_| {
            let mut download = Download::start(server.addr(), "/datasets/endless.csv");
            assert_eq!(download.status(), 200);
            download.read_body_bytes(1000);
            download
        })
        .collect();
    let blocked = || db.count_backends("wait_event = 'ClientWrite'");
    assert!(
        poll_until(Duration::from_secs(20), || blocked() == 2).is_some(),
        "both backends wait to write to their stalled clients"
    );
    let freed = poll_until(Duration::from_secs(20), || {
        db.count_backends("application_name = 'rowpipe' AND state = 'active'") == 0
    });
    assert!(freed.is_some(), "the stalled downloads' backends are gone");
    let log = server.settled_log_lines("client stalled", Duration::from_secs(5));
    assert_eq!(log.len(), 2, "{}", server.log());

    // The pool is whole again: a download and the readiness check are answered.
    let small = http::get_csv(server.addr(), "/datasets/small.csv");
    assert_bytes_eq(&small.body, db.copy_csv("SELECT * FROM small"));
    assert_eq!(http::get(server.addr(), "/readyz").status, 200);
    // The stalled clients, reading at last, find their downloads broken off.
    for download in stalled {
        let response = download.finish();
        assert!(
            !response.complete,
            "a cut-off download must not look complete"
        );
    }
}

/// A client that reads slowly but steadily (1 MiB/s, from a server that could send
/// hundreds) is not taken for a stalled one.
///
/// Each read takes 256 KiB: the kernel reopens a full receive window only once a read has
/// freed more than a segment, and loopback's segments are 64 KiB, so a client taking 64 KiB
/// at a time can leave the server's send queue still for two reads, which a loaded
/// machine stretches past a short `send_timeout`.
#[test]
fn a_slow_steady_client_is_not_cut() {
    let db = database("limits_slow");
    let server = ServeProcess::start_with_config(db.url(), &config("", "send_timeout = \"2s\""));
    let mut download = Download::start(server.addr(), "/datasets/endless.csv");
    assert_eq!(download.status(), 200);
    let started = Instant::now();
    let mut read = 0;
    while started.elapsed() < Duration::from_secs(8) {
        read = download.read_body_bytes(read + 256 * 1024);
        std::thread::sleep(Duration::from_millis(250));
    }
    // Still streaming: the socket buffers alone hold far less than this.
    let before = download.body_bytes_read();
    assert!(download.read_body_bytes(before + 8 * 1024 * 1024) >= before + 8 * 1024 * 1024);
    assert!(!server.log().contains("client stalled"), "{}", server.log());
    download.disconnect();
}

/// Half-sent request headers are dropped after `header_read_timeout`; at most
/// `max_connections` connections are open, more wait until one closes.
#[test]
fn slow_headers_and_too_many_connections_are_bounded() {
    let db = database("limits_connections");
    let server = ServeProcess::start_with_config(
        db.url(),
        &config("", "header_read_timeout = \"1s\"\nmax_connections = 2"),
    );
    let mut half = TcpStream::connect(server.addr()).unwrap();
    half.write_all(b"GET /datasets HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = half.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed after about 1s"
    );
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));

    // Two connections that send nothing yet take both slots; a third waits.
    let first = TcpStream::connect(server.addr()).unwrap();
    let second = TcpStream::connect(server.addr()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let waiting = std::thread::spawn({
        let addr = server.addr();
        move || {
            let started = Instant::now();
            let response = http::get(addr, "/livez");
            (response.status, started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    drop(first);
    drop(second);
    let (status, waited) = waiting.join().unwrap();
    assert_eq!(status, 200);
    assert!(
        waited >= Duration::from_millis(400),
        "answered while both slots were taken"
    );
}

/// `/livez` answers while the process runs, whatever the database; `/readyz` (and its old
/// name `/healthz`) only while the database answers.
#[test]
fn liveness_does_not_depend_on_the_database() {
    let port = free_local_addr().port();
    let url = format!("postgres://nobody@127.0.0.1:{port}/db?connect_timeout=1");
    let server = ServeProcess::start(&url, &[]);
    let live = http::get(server.addr(), "/livez");
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["status"], "ok");
    for path in ["/readyz", "/healthz"] {
        let response = http::get(server.addr(), path);
        assert_eq!(response.status, 503, "{path}");
        assert_eq!(response.json()["error"]["code"], "database_unavailable");
    }
    let db = database("limits_ready");
    let server = ServeProcess::start(db.url(), &[]);
    for path in ["/livez", "/readyz", "/healthz"] {
        assert_eq!(http::get(server.addr(), path).status, 200, "{path}");
    }
}

/// On SIGTERM the server stops accepting, lets running downloads go on for
/// `shutdown_grace`, then cuts them off: their clients see a broken transfer, the process
/// says so and exits non-zero. Without downloads running it exits 0 at once.
#[test]
fn shutdown_gives_downloads_their_grace_then_cuts_them() {
    let db = database("limits_shutdown");
    let mut server =
        ServeProcess::start_with_config(db.url(), &config("", "shutdown_grace = \"1s\""));
    let mut download = Download::start(server.addr(), "/datasets/endless.csv");
    download.read_body_bytes(1000);
    let started = Instant::now();
    server.signal("TERM");
    let status = wait_for_exit(server.child(), Duration::from_secs(10), "SIGTERM");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the grace was given"
    );
    assert_eq!(status.code(), Some(1), "{}", server.log());
    assert!(server.log().contains("cut off"), "{}", server.log());
    assert!(!download.finish().complete);
    assert!(
        poll_until(Duration::from_secs(5), || db
            .count_backends("application_name = 'rowpipe'")
            == 0)
        .is_some()
    );
    assert!(
        TcpStream::connect(server.addr()).is_err(),
        "no longer accepting"
    );

    let mut idle = ServeProcess::start_with_config(db.url(), &config("", ""));
    let started = Instant::now();
    idle.signal("TERM");
    let status = wait_for_exit(idle.child(), Duration::from_secs(10), "SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", idle.log());
    // Well within the default 10 s grace: nothing was waited for (a loaded machine can
    // take a second or two to stop a process at all).
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Past the limits on downloads at once (server-wide, by default the pool's size, and a
/// dataset's own) a download is answered 503 at once, with `Retry-After`, never queued;
/// listings and health checks have connections of their own and are answered all the same.
#[test]
fn downloads_past_their_limits_are_refused_at_once() {
    let db = database("limits_overload");
    let config = format!(
        "{}\n[[dataset]]\nname = \"endless_one\"\nsql = \"{ENDLESS}\"\nmax_concurrent = 1\n",
        config("pool_size = 2", "")
    );
    let server = ServeProcess::start_with_config(db.url(), &config);
    let hold = |path: &str| {
        let mut download = Download::start(server.addr(), path);
        assert_eq!(download.status(), 200, "{path}");
        download.read_body_bytes(1000);
        download
    };
    let refused = |path: &str, scope: &str| {
        let started = Instant::now();
        let response = http::get(server.addr(), path);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path}: not at once"
        );
        assert_eq!(response.status, 503, "{path}: {}", response.text());
        assert_eq!(response.header("retry-after"), Some("5"));
        let error = &response.json()["error"];
        assert_eq!(error["code"], "too_many_downloads");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(scope), "{message}");
    };

    // A dataset's own limit, while the server has room.
    let one = hold("/datasets/endless_one.csv");
    refused("/datasets/endless_one.csv", "of dataset \"endless_one\"");
    let small = http::get_csv(server.addr(), "/datasets/small.csv");
    assert_bytes_eq(&small.body, db.copy_csv("SELECT * FROM small"));

    // The server's limit: the pool's size. Health and listing still answer at once.
    let two = hold("/datasets/endless.csv");
    refused("/datasets/small.csv", "on this server");
    for path in ["/readyz", "/datasets"] {
        let started = Instant::now();
        assert_eq!(http::get(server.addr(), path).status, 200, "{path}");
        assert!(started.elapsed() < Duration::from_secs(2), "{path} queued");
    }

    // A download that ends gives its slots back.
    one.disconnect();
    drop(two);
    let freed = poll_until(Duration::from_secs(5), || {
        http::get(server.addr(), "/datasets/small.csv").status == 200
    });
    assert!(freed.is_some(), "the slots came back");
}

/// `statement_timeout` bounds the time rowpipe waits for the database, not the time a
/// client takes: a client that pauses for three times the timeout, long enough for the
/// backend to block in its writes once every buffer is full, still gets the whole
/// download, while the same timeout still stops a query that keeps rowpipe waiting (see
/// `failure.rs` and `datasets.rs`).
#[test]
fn a_pausing_client_is_not_failed_by_the_statement_timeout() {
    let db = database("limits_slow_reader");
    db.execute(
        "CREATE TABLE wide AS SELECT n AS id, repeat('w', 200) AS filler \
         FROM generate_series(1, 150000) AS n",
    );
    let server = ServeProcess::start_with_config(
        db.url(),
        "[database]\nstatement_timeout = \"1s\"\n\n[[dataset]]\nname = \"wide\"\n\
         sql = \"SELECT * FROM wide ORDER BY id\"\n",
    );
    let mut download = Download::start(server.addr(), "/datasets/wide.csv");
    assert_eq!(download.status(), 200);
    download.read_body_bytes(64 * 1024);
    std::thread::sleep(Duration::from_secs(3));
    let response = download.finish();
    assert!(response.complete, "the download was cut: {}", server.log());
    assert_bytes_eq(
        &response.body,
        db.copy_csv("SELECT * FROM wide ORDER BY id"),
    );
}

/// `statement_timeout = "0s"` is no limit, as PostgreSQL's `0` is: a download that takes
/// its time completes.
#[test]
fn a_zero_statement_timeout_is_no_limit() {
    let db = database("limits_no_timeout");
    let server = ServeProcess::start_with_config(
        db.url(),
        "[database]\nstatement_timeout = \"0s\"\n\n[[dataset]]\nname = \"slow\"\n\
         sql = \"SELECT n, pg_sleep(0.1) AS pause FROM generate_series(1, 5) AS n\"\n",
    );
    let response = http::get(server.addr(), "/datasets/slow.csv");
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.complete);
    assert_eq!(response.text().lines().count(), 6, "{}", response.text());
}

/// `max_downloads_per_client`: a second download from the same address is answered 503
/// at once while the first runs, and admitted again once it ends; the log line of each
/// download names its client.
#[test]
fn one_client_address_is_limited_on_its_own() {
    let db = database("limits_per_client");
    let server = ServeProcess::start_with_config(
        db.url(),
        &config("pool_size = 4", "max_downloads_per_client = 1"),
    );
    let mut first = Download::start(server.addr(), "/datasets/endless.csv");
    assert_eq!(first.status(), 200);
    first.read_body_bytes(1000);
    let second = http::get(server.addr(), "/datasets/small.csv");
    assert_eq!(second.status, 503, "{}", second.text());
    let body = second.json();
    assert_eq!(body["error"]["code"], "too_many_downloads", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from 127.0.0.1"),
        "{body}"
    );
    assert!(second.header("retry-after").is_some());
    first.disconnect();
    let again = poll_until(Duration::from_secs(5), || {
        http::get(server.addr(), "/datasets/small.csv").status == 200
    });
    assert!(
        again.is_some(),
        "the client's slot is free once its download ended"
    );
    let lines = server.settled_log_lines("download", Duration::from_secs(5));
    assert!(
        lines.iter().any(|line| line.contains("client=127.0.0.1")),
        "{lines:#?}"
    );
}
