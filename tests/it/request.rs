//! What a request adds to a dataset's query: bound parameters, a column selection, a row
//! limit, a resume point, and the limits that fail a download loudly. Results are compared
//! with psql's output for the equivalent literal query; every mistake gets its 400.

use std::time::Duration;

use serde_json::json;

use crate::harness::{
    ServeProcess, TestDb, TestServer, assert_bytes_eq, cluster, http, psql_copy_csv,
    psql_row_to_json, rowpipe, run, run_ok,
};

/// 200 orders over three regions, ids 1..=200, one a day from 2024-01-01 (UTC).
fn orders_db(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, region text, created_at timestamptz, \
            total numeric, note text);
         INSERT INTO orders
         SELECT i, (ARRAY['eu', 'us', 'apac'])[i % 3 + 1],
                '2024-01-01 00:00:00+00'::timestamptz + (i - 1) * interval '1 day',
                round(i * 1.25, 2), CASE WHEN i % 7 = 0 THEN NULL ELSE 'note, \"' || i || '\"' END
         FROM generate_series(1, 200) AS i;",
    );
    db
}

const CONFIG: &str = r#"
[[dataset]]
name = "orders_since"
sql = "SELECT * FROM orders WHERE created_at >= $1 AND region = $2 ORDER BY id"
params = [ { name = "since", type = "timestamptz" }, { name = "region", type = "text", default = "eu" } ]

[[dataset]]
name = "orders"
sql = "SELECT * FROM orders ORDER BY id"
key = "id"

[[dataset]]
name = "capped"
sql = "SELECT * FROM orders ORDER BY id"
max_rows = 150
"#;

#[track_caller]
fn get_ok(server: &TestServer, path: &str) -> Vec<u8> {
    let response = http::get(server.addr(), path);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    assert!(response.complete, "{path} is complete");
    response.body
}

#[track_caller]
fn get_error(server: &TestServer, path: &str, status: u16, code: &str) -> serde_json::Value {
    let response = http::get(server.addr(), path);
    assert_eq!(response.status, status, "{path}: {}", response.text());
    let error = response.json()["error"].clone();
    assert_eq!(error["code"], code, "{path}: {error}");
    error
}

#[test]
fn parameters_are_bound_and_match_the_literal_query() {
    let db = orders_db("req_params");
    let server = TestServer::start(db.url(), CONFIG);
    let literal =
        "SELECT * FROM orders WHERE created_at >= '2024-03-01' AND region = 'us' ORDER BY id";
    let expected = psql_copy_csv(db.url(), literal);
    let body = get_ok(
        &server,
        "/datasets/orders_since.csv?since=2024-03-01&region=us",
    );
    assert_bytes_eq(&body, &expected);
    // The default fills a parameter the request leaves out.
    let eu = psql_copy_csv(
        db.url(),
        "SELECT * FROM orders WHERE created_at >= '2024-03-01' AND region = 'eu' ORDER BY id",
    );
    assert_bytes_eq(
        get_ok(&server, "/datasets/orders_since.csv?since=2024-03-01"),
        &eu,
    );
    // The portal route serves every format.
    let jsonl = get_ok(
        &server,
        "/datasets/orders_since.jsonl?since=2024-03-01&region=us",
    );
    assert_bytes_eq(jsonl, psql_row_to_json(db.url(), literal));
    // A value is data, never SQL.
    let hostile = get_ok(
        &server,
        "/datasets/orders_since.csv?since=2024-03-01&region=us%27%20OR%20%271%27%3D%271",
    );
    assert_eq!(hostile, b"id,region,created_at,total,note\n");
    assert_eq!(db.query_scalar("SELECT count(*) FROM orders"), "200");
}

#[test]
fn parameter_mistakes_are_400s_that_say_what_is_wrong() {
    let db = orders_db("req_param_bad");
    let server = TestServer::start(db.url(), CONFIG);
    let error = get_error(
        &server,
        "/datasets/orders_since.csv?since=yesterday-ish",
        400,
        "invalid_parameter",
    );
    let message = error["message"].as_str().unwrap();
    for part in ["since", "yesterday-ish", "timestamptz"] {
        assert!(message.contains(part), "{message}");
    }
    let error = get_error(
        &server,
        "/datasets/orders_since.csv?region=us",
        400,
        "missing_parameter",
    );
    assert_eq!(
        error["message"],
        "missing required parameter since (timestamptz)"
    );
    let error = get_error(
        &server,
        "/datasets/orders_since.csv?since=2024-01-01&regoin=us",
        400,
        "unknown_parameter",
    );
    assert_eq!(
        error["accepted"],
        json!([
            "since",
            "region",
            "header",
            "delimiter",
            "null",
            "quote",
            "excel",
            "columns",
            "limit"
        ])
    );
    get_error(
        &server,
        "/datasets/orders_since.csv?since=2024-01-01&since=2024-02-01",
        400,
        "repeated_parameter",
    );
    // The pool is still healthy after every rejection.
    get_ok(&server, "/datasets/orders_since.csv?since=2024-01-01");
}

#[test]
fn the_listing_shows_parameters_key_and_limits() {
    let db = orders_db("req_listing");
    let server = TestServer::start(db.url(), CONFIG);
    let listing = http::get(server.addr(), "/datasets").json();
    let find = |name: &str| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
            .clone()
    };
    assert_eq!(
        find("orders_since")["params"],
        json!([
            {"name": "since", "type": "timestamptz", "required": true, "default": null},
            {"name": "region", "type": "text", "required": false, "default": "eu"}
        ])
    );
    assert_eq!(find("orders_since")["columns"][2]["type"], "timestamptz");
    assert_eq!(find("orders")["key"], "id");
    assert_eq!(find("capped")["max_rows"], 150);
}

#[test]
fn columns_are_selected_by_name_in_the_order_given() {
    let db = orders_db("req_columns");
    let server = TestServer::start(db.url(), CONFIG);
    let expected = psql_copy_csv(db.url(), "SELECT note, id FROM orders ORDER BY id");
    assert_bytes_eq(
        get_ok(&server, "/datasets/orders.csv?columns=note,id"),
        &expected,
    );
    let output = run_ok(rowpipe().args([
        "export",
        "--database",
        db.url(),
        "--table",
        "orders",
        "--columns",
        "note,id",
        "-q",
    ]));
    assert_bytes_eq(output.stdout, &expected);
    let error = get_error(
        &server,
        "/datasets/orders.csv?columns=id,Total",
        400,
        "unknown_column",
    );
    assert_eq!(
        error["columns"],
        json!(["id", "region", "created_at", "total", "note"])
    );
    get_error(
        &server,
        "/datasets/orders.csv?columns=",
        400,
        "invalid_columns",
    );
}

#[test]
fn limit_is_a_complete_shorter_download() {
    let db = orders_db("req_limit");
    let server = TestServer::start(db.url(), CONFIG);
    let expected = psql_copy_csv(db.url(), "SELECT * FROM orders ORDER BY id LIMIT 3");
    assert_bytes_eq(get_ok(&server, "/datasets/orders.csv?limit=3"), &expected);
    let none = get_ok(&server, "/datasets/orders.csv?limit=0");
    assert_eq!(none, b"id,region,created_at,total,note\n");
    get_error(
        &server,
        "/datasets/orders.csv?limit=ten",
        400,
        "invalid_limit",
    );
    get_error(
        &server,
        "/datasets/orders.csv?limit=-1",
        400,
        "invalid_limit",
    );
}

#[test]
fn after_resumes_from_the_key() {
    let db = orders_db("req_after");
    let server = TestServer::start(db.url(), CONFIG);
    let whole = get_ok(&server, "/datasets/orders.csv");
    let head = get_ok(&server, "/datasets/orders.csv?limit=57");
    let rest = get_ok(&server, "/datasets/orders.csv?after=57&header=false");
    let mut joined = head.clone();
    joined.extend_from_slice(&rest);
    assert_bytes_eq(joined, &whole);
    let last = get_ok(&server, "/datasets/orders.csv?after=200");
    assert_eq!(last, b"id,region,created_at,total,note\n");
    get_error(
        &server,
        "/datasets/orders.csv?after=abc",
        400,
        "invalid_after",
    );
    get_error(
        &server,
        "/datasets/capped.csv?after=3",
        400,
        "not_resumable",
    );
}

/// A chunk size far below the size of the result, so that a limit is passed after the
/// first chunks went out: the abort is mid-stream, the case a client could mistake for a
/// complete download.
const SMALL_CHUNKS: &str = "[stream]\nchunk_size = 256\n";

/// A download that a limit broke mid-stream: status 200, no terminating chunk, and a body
/// that is a non-empty prefix of psql's output for the same query, of at most `max_rows`
/// rows (one per line here: the fixture's text has no line breaks).
#[track_caller]
fn assert_aborted_prefix(response: &http::Response, expected: &[u8], max_rows: usize) {
    assert_eq!(
        response.status, 200,
        "the limit is passed after the first chunk"
    );
    assert!(!response.complete, "a limit must abort the response");
    let body = &response.body;
    assert!(
        body.len() > 256,
        "chunks went out before the abort: {} bytes",
        body.len()
    );
    assert!(
        body.len() < expected.len(),
        "{} bytes: not cut short",
        body.len()
    );
    assert_bytes_eq(body, &expected[..body.len()]);
    let rows = body.iter().filter(|&&byte| byte == b'\n').count() - 1;
    assert!(rows <= max_rows, "{rows} rows passed a limit of {max_rows}");
}

#[test]
fn max_rows_aborts_the_download_and_the_log_says_why() {
    let db = orders_db("req_max_rows");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rowpipe.toml");
    std::fs::write(&config, format!("{SMALL_CHUNKS}{CONFIG}")).unwrap();
    let server = ServeProcess::start(db.url(), &["--config", config.to_str().unwrap()]);
    let expected = psql_copy_csv(db.url(), "SELECT * FROM orders ORDER BY id");
    // 150 rows pass, the 151st does not.
    let within = http::get(server.addr(), "/datasets/capped.csv?limit=150");
    assert_eq!(within.status, 200);
    assert!(within.complete);
    let over = http::get(server.addr(), "/datasets/capped.csv");
    assert_aborted_prefix(&over, &expected, 150);
    let failures =
        server.settled_log_lines("more than 150 rows (max_rows)", Duration::from_secs(10));
    assert_eq!(failures.len(), 1, "logged once: {failures:#?}");
    // The CLI fails too, and leaves no file.
    let out = dir.path().join("capped.csv");
    let output = run(rowpipe()
        .args([
            "export",
            "--config",
            config.to_str().unwrap(),
            "--database",
            db.url(),
        ])
        .args(["--dataset", "capped", "-q", "-o"])
        .arg(&out));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("more than 150 rows (max_rows)"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!out.exists());
}

#[test]
fn max_bytes_aborts_the_download() {
    let db = orders_db("req_max_bytes");
    let server = TestServer::start(
        db.url(),
        &format!("{SMALL_CHUNKS}[server]\nmax_bytes = 5000\n{CONFIG}"),
    );
    let expected = psql_copy_csv(db.url(), "SELECT * FROM orders ORDER BY id");
    assert!(expected.len() > 5000, "the result must pass the limit");
    let small = http::get(server.addr(), "/datasets/orders.csv?limit=10");
    assert_eq!(small.status, 200);
    assert!(small.complete);
    let big = http::get(server.addr(), "/datasets/orders.csv");
    assert_aborted_prefix(&big, &expected, 200);
    assert!(big.body.len() <= 5000, "{} bytes", big.body.len());
}

#[test]
fn cli_binds_parameters_of_a_configured_dataset() {
    let db = orders_db("req_cli_params");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rowpipe.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let export = |extra: &[&str]| {
        run(rowpipe()
            .args([
                "export",
                "--database",
                db.url(),
                "--config",
                config.to_str().unwrap(),
            ])
            .args(["--dataset", "orders_since", "-q"])
            .args(extra))
    };
    let output = export(&["--param", "since=2024-03-01", "--param", "region=us"]);
    assert!(output.status.success());
    let expected = psql_copy_csv(
        db.url(),
        "SELECT * FROM orders WHERE created_at >= '2024-03-01' AND region = 'us' ORDER BY id",
    );
    assert_bytes_eq(output.stdout, &expected);
    for (extra, message) in [
        (
            &["--param", "since=nope"][..],
            "parameter since: \"nope\" is not a valid timestamptz",
        ),
        (&[][..], "missing required parameter since (timestamptz)"),
        (&["--param", "since"][..], "expected NAME=VALUE"),
        (
            &["--param", "since=2024-01-01", "--param", "zone=x"][..],
            "unknown parameter \"zone\"",
        ),
    ] {
        let output = export(extra);
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
}
