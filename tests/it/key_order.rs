//! Keyed exports are read in key order, always, and their keys are checked as they stream:
//! a resume (`--resume`, `after=`) continues after the last key it has, which is only
//! right if every row before that key came before it.

use std::time::Duration;

use crate::harness::http;
use crate::harness::{ServeProcess, TestDb, TestServer, assert_bytes_eq, cluster, rowpipe, run};
use rowpipe::sink::file::part_path;

/// `orders`, 20,000 rows whose physical order is not their id order: a fifth of them were
/// updated, so they moved to the end of the heap, and a sequential scan reads them last.
fn shuffled_db(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, region text, note text, total numeric);
         INSERT INTO orders
         SELECT i, (ARRAY['eu','us','apac'])[i % 3 + 1],
                CASE WHEN i % 7 = 0 THEN NULL ELSE E'note, \"quoted\"\\n' || i END, i * 1.25
         FROM generate_series(1, 20000) AS i;
         UPDATE orders SET total = total + 1 WHERE id % 5 = 0;",
    );
    let first = db.query_scalar("SELECT id FROM orders LIMIT 1 OFFSET 4");
    assert_ne!(first, "5", "the test table must not be in id order on disk");
    db
}

const IN_KEY_ORDER: &str = "SELECT * FROM orders ORDER BY id";

/// The reproduction: an export of a table whose disk order is not its key order, broken at
/// several points (mid-row) by `--max-bytes` and resumed, gives exactly psql's export in key
/// order, in every resumable format.
#[test]
fn a_broken_table_export_resumes_to_the_whole_table_in_key_order() {
    let db = shuffled_db("key_order_resume");
    let dir = tempfile::tempdir().unwrap();
    let expected_csv = db.copy_csv(IN_KEY_ORDER);
    let expected_jsonl = crate::harness::psql_row_to_json(db.url(), IN_KEY_ORDER);
    for (format, expected) in [("csv", &expected_csv), ("jsonl", &expected_jsonl)] {
        let target = dir.path().join(format!("orders.{format}"));
        for cut in [
            1,
            4097,
            expected.len() / 3,
            expected.len() / 2 + 11,
            expected.len() - 2,
        ] {
            let export = |extra: &[&str]| {
                run(rowpipe()
                    .args(["export", "-q", "--database", db.url(), "--table", "orders"])
                    .args(["--format", format, "-o"])
                    .arg(&target)
                    .args(extra))
            };
            let broken = export(&["--max-bytes", &cut.to_string(), "--chunk-size", "1000"]);
            assert_eq!(broken.status.code(), Some(1), "{format} cut at {cut}");
            assert!(
                part_path(&target).exists(),
                "{format} cut at {cut}: no part"
            );
            let resumed = export(&["--resume"]);
            assert!(
                resumed.status.success(),
                "{format} cut at {cut}: {}",
                String::from_utf8_lossy(&resumed.stderr)
            );
            assert_bytes_eq(std::fs::read(&target).unwrap(), expected);
            std::fs::remove_file(&target).unwrap();
        }
    }
}

/// Over HTTP, a discovered table with a one-column primary key is that key's dataset: it is
/// listed with it, downloaded in its order (so `limit` is repeatable), and resumable with
/// `after=`. A table without one (or with a two-column key) has no key.
#[test]
fn discovered_tables_take_their_primary_key_as_key() {
    let db = shuffled_db("key_order_discovered");
    db.execute(
        "CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b));
         INSERT INTO pairs VALUES (2, 1), (1, 2);
         CREATE TABLE loose (x int); INSERT INTO loose VALUES (3), (1);",
    );
    let server = TestServer::start(db.url(), "");
    let listing = http::get(server.addr(), "/datasets").json();
    let key_of = |name: &str| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed: {listing}"))["key"]
            .clone()
    };
    assert_eq!(key_of("orders"), "id");
    assert!(key_of("pairs").is_null());
    assert!(key_of("loose").is_null());

    let whole = http::get_csv(server.addr(), "/datasets/orders.csv");
    assert_bytes_eq(&whole.body, db.copy_csv(IN_KEY_ORDER));
    let first = http::get_csv(server.addr(), "/datasets/orders.csv?limit=5");
    assert_bytes_eq(
        &first.body,
        db.copy_csv("SELECT * FROM orders ORDER BY id LIMIT 5"),
    );
    let rest = http::get_csv(
        server.addr(),
        "/datasets/orders.csv?after=19995&header=false",
    );
    let expected = db.copy_csv("SELECT * FROM orders WHERE id > 19995 ORDER BY id");
    let expected_rows = &expected[expected.iter().position(|&b| b == b'\n').unwrap() + 1..];
    assert_bytes_eq(&rest.body, expected_rows);

    let keyless = http::get(server.addr(), "/datasets/loose.csv?after=1");
    assert_eq!(keyless.status, 400, "{}", keyless.text());
    assert_eq!(keyless.json()["error"]["code"], "not_resumable");
}

/// A dataset whose own `ORDER BY` disagrees with its key is still exported in key order:
/// the key's order is what a resume relies on.
#[test]
fn the_key_order_wins_over_the_query_order() {
    let db = shuffled_db("key_order_wins");
    let config = r#"
        [[dataset]]
        name = "newest_first"
        sql = "SELECT id, region FROM orders ORDER BY id DESC"
        key = "id"
    "#;
    let server = TestServer::start(db.url(), config);
    let response = http::get_csv(server.addr(), "/datasets/newest_first.csv");
    assert_bytes_eq(
        &response.body,
        db.copy_csv("SELECT id, region FROM orders ORDER BY id"),
    );
    // Also when the key is not among the columns asked for.
    let response = http::get_csv(server.addr(), "/datasets/newest_first.csv?columns=region");
    assert_bytes_eq(
        &response.body,
        db.copy_csv("SELECT region FROM orders ORDER BY id"),
    );
}

/// A key that is not unique fails the export loudly, naming the dataset, the key and the
/// value: before the first byte as a 500 with a JSON body, later as an aborted download
/// logged once, and in the CLI as exit 1. Also when the key is not an output column.
#[test]
fn a_key_that_is_not_unique_fails_the_export() {
    let db = cluster().create_database("key_order_dupes");
    db.execute(
        "CREATE TABLE events (region text, n int);
         INSERT INTO events SELECT 'r' || (i / 10), i FROM generate_series(0, 19999) AS i;
         INSERT INTO events VALUES ('r1999', -1), ('r0', -2);",
    );
    let config = r#"
        [stream]
        chunk_size = 1024

        [[dataset]]
        name = "early"
        sql = "SELECT region, n FROM events WHERE n < 20 OR n = -2"
        key = "region"

        [[dataset]]
        name = "late"
        sql = "SELECT n, region || '' AS region FROM events WHERE n % 10 = 0 OR n = -1"
        key = "region"
    "#;
    let server = ServeProcess::start_with_config(db.url(), config);

    let early = http::get(server.addr(), "/datasets/early.csv");
    assert_eq!(early.status, 500, "{}", early.text());
    let error = &early.json()["error"];
    assert_eq!(error["code"], "invalid_key");
    let message = error["message"].as_str().unwrap();
    for part in ["\"early\"", "key column \"region\"", "not unique", "\"r0\""] {
        assert!(message.contains(part), "{part} missing from {message}");
    }

    // Each with how it starts, and a row that would come after the repeated key.
    let cases = [
        (
            "/datasets/late.csv",
            "n,region\n0,r0\n10,r1\n",
            "2000,r200\n",
        ),
        ("/datasets/late.csv?columns=n", "n\n0\n10\n", "\n2000\n"),
    ];
    for (path, before, after) in cases {
        let response = http::get(server.addr(), path);
        assert_eq!(response.status, 200, "{path}");
        assert!(
            !response.complete,
            "{path}: the download must be aborted, not ended"
        );
        let body = response.text();
        assert!(
            body.starts_with(before),
            "{path}: rows before the repeat come out"
        );
        assert!(!body.contains(after), "{path}: nothing after the repeat");
    }
    let failures = server.settled_log_lines("download failed", Duration::from_secs(10));
    let log = failures.join("\n");
    assert_eq!(failures.len(), 2, "{log}");
    assert!(
        failures.iter().all(|line| line.contains("dataset=late")),
        "{log}"
    );
    assert!(failures[0].contains("not unique"), "{log}");

    let cli = cli_export_with_key(&db, "SELECT region, n FROM events", "region");
    assert_eq!(cli.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(
        stderr.contains("key column \"region\" is not unique"),
        "{stderr}"
    );

    let null_key = cli_export_with_key(&db, "SELECT NULL::int AS k", "k");
    assert_eq!(null_key.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&null_key.stderr).contains("is NULL"));
}

/// A dataset whose key is not in its result, or is in it twice, is the operator's mistake,
/// not the client's: the server answers 500 `invalid_dataset` naming the key, before any
/// row (a key named twice used to be a client's 400 `ambiguous_column` here and a missing
/// key elsewhere); the CLI refuses it as a usage error.
#[test]
fn a_key_missing_from_the_result_or_named_twice_is_the_datasets_mistake() {
    let db = cluster().create_database("key_order_bad_key");
    let server = TestServer::start(
        db.url(),
        r#"
        [[dataset]]
        name = "missing"
        sql = "SELECT 1 AS a"
        key = "nope"

        [[dataset]]
        name = "twice"
        sql = "SELECT 1 AS a, 2 AS a, 3 AS b"
        key = "a"
        "#,
    );
    for (path, says) in [
        ("/datasets/missing.csv", "\"nope\" is not in the result"),
        ("/datasets/twice.csv", "\"a\" appears more than once"),
        (
            "/datasets/twice.jsonl?columns=b",
            "\"a\" appears more than once",
        ),
    ] {
        let response = http::get(server.addr(), path);
        assert_eq!(response.status, 500, "{path}: {}", response.text());
        let error = &response.json()["error"];
        assert_eq!(error["code"], "invalid_dataset", "{path}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(says), "{path}: {message}");
    }

    let cli = cli_export_with_key(&db, "SELECT 1 AS a, 2 AS a", "a");
    assert_eq!(cli.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(stderr.contains("\"a\" appears more than once"), "{stderr}");
}

/// `rowpipe export -q` of `sql` in the order of `key`, to standard output.
fn cli_export_with_key(db: &TestDb, sql: &str, key: &str) -> std::process::Output {
    run(rowpipe().args([
        "export",
        "-q",
        "--database",
        db.url(),
        "--sql",
        sql,
        "--key",
        key,
    ]))
}

/// Keys of every type a key is commonly made of are accepted in the server's order (the
/// check compares values where it knows the type's order), in text and JSON formats.
#[test]
fn keys_of_every_common_type_stream_in_order() {
    let db = cluster().create_database("key_order_types");
    db.execute(
        "CREATE TABLE k AS
         SELECT i::int2 AS small, i::int8 * 1000003 - 5000000000 AS big,
                (i - 500)::float8 / 7 AS f8, ((i - 500) / 3.0)::float4 AS f4,
                (i - 500) / 8.0 AS num,
                timestamptz '2000-01-01 00:00+00' + (i - 500) * interval '37 hours' AS ts,
                date '1999-12-31' + (i - 500) AS d, md5(i::text)::uuid AS u,
                md5(i::text) AS t, 'a' || i AS mixed_text
         FROM generate_series(1, 1000) AS i;
         INSERT INTO k (f8, f4) VALUES ('NaN', '-Infinity');",
    );
    for key in [
        "small",
        "big",
        "num",
        "ts",
        "d",
        "u",
        "t",
        "mixed_text",
        "f4",
        "f8",
    ] {
        let mut query = format!("SELECT * FROM k WHERE {key} IS NOT NULL");
        if key == "f4" {
            query = "SELECT DISTINCT ON (f4) * FROM k ORDER BY f4".into();
        }
        for format in ["csv", "jsonl"] {
            let output = run(rowpipe()
                .args(["export", "-q", "--database", db.url(), "--format", format])
                .args(["--sql", &query, "--key", key]));
            assert!(
                output.status.success(),
                "key {key}, {format}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let ordered = format!("SELECT * FROM ({query}) q ORDER BY {key}");
            let expected = match format {
                "csv" => db.copy_csv(&ordered),
                _ => crate::harness::psql_row_to_json(db.url(), &ordered),
            };
            assert_bytes_eq(&output.stdout, &expected);
        }
    }
}
