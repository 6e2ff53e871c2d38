//! Tests of the test harness itself, so that a failure elsewhere can be trusted to be
//! about rowpipe and not about the tools used to check it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use crate::harness::{assert_bytes_eq, cluster, http, psql_copy_csv};

// ---------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------

#[test]
fn cluster_answers_select_1() {
    let db = cluster().create_database("selftest_select");
    assert_eq!(db.query_scalar("SELECT 1"), "1");
    assert_eq!(db.query_scalar("SELECT current_database()"), db.name());
}

#[test]
fn cluster_listens_only_on_its_private_socket() {
    let cluster = cluster();
    assert!(cluster.socket_dir().join(".s.PGSQL.5432").exists());
    let db = cluster.create_database("selftest_listen");
    assert_eq!(db.query_scalar("SHOW listen_addresses"), "");
    assert_eq!(db.query_scalar("SHOW server_encoding"), "UTF8");
    assert_eq!(
        db.query_scalar("SELECT current_setting('server_version_num')::int / 10000 >= 15"),
        "t"
    );
}

#[test]
fn databases_are_distinct() {
    let first = cluster().create_database("selftest_distinct");
    let second = cluster().create_database("selftest_distinct");
    assert_ne!(first.name(), second.name());
    assert_ne!(first.url(), second.url());

    first.execute(
        "CREATE TABLE only_in_first (id int);\nINSERT INTO only_in_first VALUES (1), (2);",
    );
    assert_eq!(
        first.query_scalar("SELECT count(*) FROM only_in_first"),
        "2"
    );
    assert_eq!(
        second.query_scalar("SELECT to_regclass('only_in_first') IS NULL"),
        "t"
    );
}

#[test]
fn execute_runs_statements_that_refuse_transaction_blocks() {
    let db = cluster().create_database("selftest_script");
    db.execute("CREATE TABLE t (id int); VACUUM t; INSERT INTO t VALUES (1);");
    assert_eq!(db.query_scalar("SELECT count(*) FROM t"), "1");
}

#[test]
#[should_panic(expected = "column \"no_such_column\" does not exist")]
fn execute_panics_with_the_sql_error() {
    let db = cluster().create_database("selftest_error");
    db.execute("SELECT no_such_column");
}

#[test]
fn query_scalar_prints_null_as_empty() {
    let db = cluster().create_database("selftest_null");
    assert_eq!(db.query_scalar("SELECT NULL"), "");
}

#[test]
fn url_is_accepted_by_tokio_postgres() {
    let db = cluster().create_database("selftest_tokio");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let name: String = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("tokio-postgres cannot connect to {}: {e}", db.url()));
        tokio::spawn(connection);
        let row = client
            .query_one("SELECT current_database()", &[])
            .await
            .expect("query");
        row.get(0)
    });
    assert_eq!(name, db.name());
}

// ---------------------------------------------------------------------------------------
// psql reference CSV
// ---------------------------------------------------------------------------------------

#[test]
fn psql_copy_csv_returns_postgres_csv_bytes() {
    let db = cluster().create_database("selftest_copy");
    let csv = psql_copy_csv(
        db.url(),
        "SELECT 1 AS a, 'x,y' AS b, NULL::text AS c, ''::text AS d",
    );
    assert_bytes_eq(&csv, "a,b,c,d\n1,\"x,y\",,\"\"\n");
}

#[test]
fn psql_copy_csv_accepts_multiline_queries() {
    let db = cluster().create_database("selftest_copy_lines");
    db.execute("CREATE TABLE t (id int, label text); INSERT INTO t VALUES (2, 'two'), (1, 'one');");
    let csv = db.copy_csv("SELECT id, label\nFROM t\nORDER BY id");
    assert_bytes_eq(&csv, "id,label\n1,one\n2,two\n");
}

#[test]
fn psql_copy_csv_passes_utf8_through() {
    let db = cluster().create_database("selftest_copy_utf8");
    let csv = psql_copy_csv(db.url(), "SELECT 'grüße, 世界' AS greeting");
    assert_bytes_eq(&csv, "greeting\n\"grüße, 世界\"\n");
}

// ---------------------------------------------------------------------------------------
// Raw HTTP client
// ---------------------------------------------------------------------------------------

/// Serves `response` verbatim to one connection (after reading the request head), then
/// closes it.
fn serve_once(response: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        read_request_head(&stream);
        stream.write_all(response).expect("write response");
    });
    addr
}

/// Reads the request head, so closing the socket afterwards does not reset the
/// connection because of unread request bytes.
fn read_request_head(stream: &TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("read request");
        if line == "\r\n" || line.is_empty() {
            return;
        }
    }
}

#[test]
fn http_client_decodes_a_complete_chunked_body() {
    let addr = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n\
          4\r\na,b\n\r\n8;ext=1\r\n1,\"x,y\"\n\r\n0\r\n\r\n",
    );
    let response = http::get(addr, "/export");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/csv"));
    assert_eq!(response.header("CONTENT-TYPE"), Some("text/csv"));
    assert!(response.is_chunked());
    assert!(response.complete);
    assert_bytes_eq(&response.body, "a,b\n1,\"x,y\"\n");
}

#[test]
fn http_client_detects_a_cut_off_chunked_body() {
    let addr = serve_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\na,b\n\r\n6\r\n1,2\n",
    );
    let response = http::get(addr, "/export");
    assert_eq!(response.status, 200);
    assert!(!response.complete);
    assert_bytes_eq(&response.body, "a,b\n1,2\n");
}

#[test]
fn http_client_detects_a_chunked_body_cut_at_a_chunk_boundary() {
    let addr = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\na,b\n\r\n");
    let response = http::get(addr, "/");
    assert!(!response.complete);
    assert_bytes_eq(&response.body, "a,b\n");
}

#[test]
fn http_client_reads_content_length_bodies_and_json() {
    let addr = serve_once(
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n\
          {\"error\":\"nope\"}\n",
    );
    let response = http::get(addr, "/export?bad");
    assert_eq!(response.status, 400);
    assert!(response.complete);
    assert!(!response.is_chunked());
    assert_eq!(response.json()["error"], "nope");
}

#[test]
fn http_client_detects_a_short_content_length_body() {
    let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
    let response = http::get(addr, "/");
    assert!(!response.complete);
    assert_bytes_eq(&response.body, "12345");
}

#[test]
fn partial_download_disconnects_and_the_server_notices() {
    const CHUNK: usize = 64 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (write_failed, server_saw) = mpsc::channel();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        read_request_head(&stream);
        let data = vec![b'x'; CHUNK];
        let mut result = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        // Far more than socket buffers hold, so the writes must fail once the client
        // has gone.
        for _ in 0..10_000 {
            if result.is_err() {
                break;
            }
            result = stream
                .write_all(format!("{CHUNK:x}\r\n").as_bytes())
                .and_then(|()| stream.write_all(&data))
                .and_then(|()| stream.write_all(b"\r\n"));
        }
        write_failed.send(result.is_err()).expect("report");
    });

    let (status, bytes_read) = http::get_partial(addr, "/big", 1000);
    assert_eq!(status, 200);
    assert!(bytes_read >= 1000, "read only {bytes_read} body bytes");
    let failed = server_saw
        .recv_timeout(http::IO_TIMEOUT)
        .expect("server thread finished");
    assert!(failed, "server could write 640 MB to a disconnected client");
}

#[test]
fn download_reads_in_steps() {
    let addr = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 8\r\n\r\na,b\n1,2\n",
    );
    let mut download = http::Download::start(addr, "/");
    assert_eq!(download.status(), 200);
    assert_eq!(download.header("content-type"), Some("text/csv"));
    assert!(download.read_body_bytes(4) >= 4);
    let response = download.read_slowly(3, std::time::Duration::from_millis(1));
    assert!(response.complete);
    assert_bytes_eq(&response.body, "a,b\n1,2\n");
}

// ---------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------

#[test]
fn assert_bytes_eq_accepts_equal_inputs() {
    assert_bytes_eq(b"a\nb\n", "a\nb\n");
    assert_bytes_eq(Vec::<u8>::new(), "");
}

#[test]
#[should_panic(expected = "differ at byte 6 (line 2, column 3)")]
fn assert_bytes_eq_reports_the_first_differing_line() {
    assert_bytes_eq("a,b\n1,2\n3,4\n", "a,b\n1,3\n3,4\n");
}

#[test]
#[should_panic(expected = "right line 3: <end of input>")]
fn assert_bytes_eq_reports_missing_lines() {
    assert_bytes_eq("a\nb\nc\n", "a\nb\n");
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

/// Two runs of a property draw the same values: a failure seen once is seen again.
#[test]
fn property_tests_draw_the_same_values_on_every_run() {
    use proptest::test_runner::RngSeed;
    use std::sync::Mutex;

    use crate::harness::property::{DEFAULT_SEED, config, run_property};

    let config = config(7);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        assert_eq!(config.rng_seed, RngSeed::Fixed(DEFAULT_SEED));
    }
    let expected_cases = std::env::var("PROPTEST_CASES").map_or(7, |cases| {
        cases.parse().expect("PROPTEST_CASES is a number")
    });
    assert_eq!(config.cases, expected_cases);

    let draw = || {
        let seen = Mutex::new(Vec::new());
        run_property(7, proptest::num::u64::ANY, |value| {
            seen.lock().unwrap().push(value);
            Ok(())
        });
        seen.into_inner().unwrap()
    };
    let first = draw();
    assert_eq!(first.len(), expected_cases as usize);
    assert_eq!(first, draw());
}
