//! The library's face, as an embedding application uses it: `rowpipe::Postgres`,
//! `rowpipe::Database` (a SQLite file too) and the `Export` builder, async and blocking, and
//! an axum handler served over a real socket and fetched with curl. Outputs are compared
//! with psql's and the CLI's, failures with their kinds.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use futures_util::StreamExt;
use rowpipe::{ErrorKind, Format, Postgres};

use crate::failure::ENDLESS;
use crate::harness::psql::{psql_copy, psql_row_to_json};
use crate::harness::{TestDb, assert_bytes_eq, cluster, curl, poll_until};

const ORDERS: &str = "SELECT * FROM orders ORDER BY id";

fn orders_db() -> TestDb {
    let db = cluster().create_database("library");
    db.execute(
        "CREATE TABLE orders (id int8 PRIMARY KEY, item text, price numeric, placed timestamptz);
         INSERT INTO orders
         SELECT n, 'item, \"' || n || E'\"\\n', n * 1.25, '2024-01-01 00:00:00+00'::timestamptz + n * interval '1 hour'
         FROM generate_series(1, 5000) AS n;",
    );
    db
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn to_file_writes_postgresqls_csv_atomically() {
    let db = orders_db();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    let summary = runtime().block_on(async {
        let db = Postgres::connect(db.url()).unwrap();
        db.export(ORDERS).csv().to_file(&path).await.unwrap()
    });
    let expected = db.copy_csv(ORDERS);
    assert_bytes_eq(std::fs::read(&path).unwrap(), &expected);
    assert_eq!(summary.rows, 5000);
    assert_eq!(summary.bytes, expected.len() as u64);
    assert!(!dir.path().join("orders.csv.part").exists());
}

#[test]
fn every_option_reaches_the_export() {
    let db = orders_db();
    let rows = |export: rowpipe::Export| {
        runtime().block_on(async {
            let mut chunks = export.chunks().await.unwrap();
            let mut bytes = Vec::new();
            while let Some(chunk) = chunks.next().await {
                bytes.extend_from_slice(&chunk.unwrap());
            }
            bytes
        })
    };
    let pg = Postgres::connect(db.url()).unwrap();
    // A typed parameter, columns, a key with after, a limit, CSV options.
    let ours = rows(
        pg.export("SELECT * FROM orders WHERE price > $1")
            .typed_param("numeric", "10")
            .columns(["item", "id"])
            .key("id")
            .after("100")
            .limit(7)
            .delimiter(b';')
            .null("NULL")
            .header(false),
    );
    let expected = psql_copy(
        db.url(),
        "SELECT item, id FROM orders WHERE price > 10 AND id > 100 ORDER BY id LIMIT 7",
        "FORMAT csv, DELIMITER ';', NULL 'NULL'",
    );
    assert_bytes_eq(&ours, &expected);
    // An inferred parameter and JSON Lines.
    let ours = rows(
        pg.export("SELECT * FROM orders WHERE id <= $1 ORDER BY id")
            .param("3")
            .format(Format::Jsonl),
    );
    let expected = psql_row_to_json(db.url(), "SELECT * FROM orders WHERE id <= 3 ORDER BY id");
    assert_bytes_eq(&ours, &expected);
}

#[test]
fn failures_have_kinds() {
    let db = orders_db();
    let pg = Postgres::connect(db.url()).unwrap();
    runtime().block_on(async {
        let kind = |export: rowpipe::Export| async move {
            match export.chunks().await {
                Ok(mut chunks) => loop {
                    match chunks.next().await {
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => break Some(error),
                        None => break None,
                    }
                },
                Err(error) => Some(error),
            }
        };
        let error = kind(pg.export("SELECT * FROM no_such_table"))
            .await
            .unwrap();
        assert_eq!(error.kind(), ErrorKind::Query);
        assert_eq!(error.sqlstate(), Some("42P01"));
        assert!(error.to_string().contains("no_such_table"), "{error}");
        let error = kind(pg.export(ORDERS).columns(["nope"])).await.unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        let error = kind(pg.export(ORDERS).typed_param("int8", "x")).await;
        assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::InvalidRequest));
        let error = kind(pg.export(ORDERS).max_rows(10)).await.unwrap();
        assert_eq!(error.kind(), ErrorKind::Limit);
        let error = kind(pg.export("SELECT 1 AS k UNION ALL SELECT 1").key("k"))
            .await
            .unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidKey);
        let timeout = pg
            .export("SELECT pg_sleep(5)")
            .statement_timeout(Some(Duration::from_millis(100)));
        assert_eq!(kind(timeout).await.unwrap().kind(), ErrorKind::Timeout);
    });
    let unreachable = Postgres::connect("postgres://nobody@127.0.0.1:1/none").unwrap();
    let error = runtime()
        .block_on(unreachable.export("SELECT 1").chunks())
        .err()
        .expect("no database there");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    let error = Postgres::connect("postgres://[bad").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
}

#[test]
fn blocking_writes_the_same_bytes_and_cancels_when_dropped() {
    let db = orders_db();
    let pg = rowpipe::blocking::Postgres::connect(db.url()).unwrap();
    let mut out = Vec::new();
    let summary = pg.export(ORDERS).jsonl().write_to(&mut out).unwrap();
    assert_bytes_eq(&out, psql_row_to_json(db.url(), ORDERS));
    assert_eq!(summary.bytes, out.len() as u64);

    // An endless export, abandoned after one chunk on another thread: its query goes.
    let mut chunks = pg.export(ENDLESS).chunks().unwrap();
    assert!(chunks.next().unwrap().is_ok());
    assert_eq!(db.active_queries(), 1);
    std::thread::spawn(move || drop(chunks)).join().unwrap();
    assert!(
        poll_until(Duration::from_secs(1), || db.active_queries() == 0).is_some(),
        "the abandoned query is still running"
    );
}

async fn orders_handler(State(db): State<Postgres>) -> Response {
    db.export(ORDERS).csv().download("orders").await
}

async fn broken_handler(State(db): State<Postgres>) -> Response {
    db.export("SELECT * FROM no_such_table")
        .download("broken")
        .await
}

async fn failing_late_handler(State(db): State<Postgres>) -> Response {
    // Fails on row 200,000, long after the first chunk was sent.
    db.export("SELECT n, 1 / (200000 - n) AS x FROM generate_series(1, 300000) AS n")
        .download("late")
        .await
}

#[test]
fn an_axum_handler_serves_downloads_and_failures() {
    let db = orders_db();
    let runtime = runtime();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let pg = Postgres::connect(db.url()).unwrap();
    let app = Router::new()
        .route("/orders.csv", get(orders_handler))
        .route("/broken.csv", get(broken_handler))
        .route("/late.csv", get(failing_late_handler))
        .with_state(pg);
    runtime.spawn(async move { axum::serve(listener, app).await });

    let url = |path: &str| format!("http://{addr}{path}");
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let output = curl(&[
        "--fail",
        "--dump-header",
        headers.to_str().unwrap(),
        &url("/orders.csv"),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_bytes_eq(&output.stdout, db.copy_csv(ORDERS));
    let headers = std::fs::read_to_string(&headers).unwrap().to_lowercase();
    assert!(
        headers.contains("content-type: text/csv; charset=utf-8"),
        "{headers}"
    );
    assert!(
        headers.contains("attachment; filename=\"orders.csv\""),
        "{headers}"
    );

    // Before the first chunk: a status and a JSON body.
    let output = curl(&["--write-out", "%{http_code}", &url("/broken.csv")]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.ends_with("500"), "{text}");
    let body: serde_json::Value = serde_json::from_str(text.trim_end_matches("500")).unwrap();
    assert_eq!(body["error"]["code"], "query_failed", "{body}");

    // After it: an aborted transfer, never a clean end (curl exit 18: partial file).
    let output = curl(&[&url("/late.csv")]);
    assert_eq!(output.status.code(), Some(18), "{output:?}");
    assert!(!output.stdout.is_empty());
}

/// A SQLite file with every storage class, written by the test.
fn sqlite_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("shop.db");
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, price REAL, photo BLOB, m);
             INSERT INTO orders VALUES (1, 'item, \"1\"', 1.25, x'00ff', 7);
             INSERT INTO orders VALUES (2, '', -0.5, NULL, 'x');
             INSERT INTO orders VALUES (3, NULL, 1e300, x'', 2.5);
             INSERT INTO orders VALUES (4, 'é
multi', NULL, NULL, NULL);",
        )
        .unwrap();
    path
}

#[test]
fn database_opens_a_sqlite_file_and_writes_what_the_cli_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_file(dir.path());
    let url = format!("sqlite:{}", path.display());
    let sql = "SELECT * FROM orders WHERE id >= $1 ORDER BY id";
    let db = rowpipe::blocking::Database::open(&url).unwrap();
    for format in ["csv", "tsv", "jsonl", "json"] {
        let mut ours = Vec::new();
        db.export(sql)
            .format(format.parse().unwrap())
            .with(|export| export.typed_param("integer", "2"))
            .write_to(&mut ours)
            .unwrap();
        let cli = crate::harness::run_ok(crate::harness::rowpipe().args([
            "export",
            "--quiet",
            "--database",
            &url,
            "--format",
            format,
            "--sql",
            "SELECT * FROM orders WHERE id >= 2 ORDER BY id",
        ]));
        assert_bytes_eq(&ours, &cli.stdout);
    }
    // The async face, a path ending in .db, a key with after, and columns.
    let ours = runtime().block_on(async {
        let db = rowpipe::Database::open(path.to_str().unwrap()).unwrap();
        let mut chunks = db
            .export("SELECT * FROM orders")
            .key("id")
            .after("1")
            .columns(["item", "id"])
            .chunks()
            .await
            .unwrap();
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        bytes
    });
    assert_bytes_eq(&ours, "item,id\n\"\",2\n,3\n\"é\nmulti\",4\n");
}

#[test]
fn database_names_what_is_wrong_with_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let error = rowpipe::Database::open(missing.to_str().unwrap()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("missing.db"), "{error}");
    let path = sqlite_file(dir.path());
    let db = rowpipe::blocking::Database::open(&format!("sqlite:{}", path.display())).unwrap();
    let error = db
        .export("SELECT * FROM orders WHERE id = $1")
        .with(|export| export.typed_param("integer", "two"))
        .chunks()
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert!(error.to_string().contains("two"), "{error}");
    let error = db.export("SELECT * FROM nope").chunks().err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Query);
    assert!(error.to_string().contains("nope"), "{error}");
    // The same builder reaches PostgreSQL too.
    let pg = rowpipe::Database::open("postgres://nobody@127.0.0.1:1/none").unwrap();
    let error = runtime()
        .block_on(pg.export("SELECT 1").chunks())
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
}
