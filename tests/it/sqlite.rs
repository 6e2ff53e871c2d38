//! The SQLite source against real SQLite files the tests write: every storage class and
//! mixed columns in every format (read back with independent parsers), the same CSV as
//! PostgreSQL for the types both share, read-only (the file unchanged; writing SQL
//! refused), a dropped download interrupting a long sort, `statement_timeout`, resuming
//! after a key, bad parameters, and the CLI's `export` and `serve --database FILE.db`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rowpipe::catalog::{Catalog, Dataset, DatasetQuery};
use rowpipe::pipeline::ExportOptions;
use rowpipe::server::AppState;
use rowpipe::source::sqlite::Sqlite;

use crate::harness::http::{self, Unanswered};
use crate::harness::{
    ServeProcess, TestServer, cluster, poll_until, resident_kib, rowpipe, run, run_ok,
};

/// A query that sorts 20,000,000 generated rows before its first row: about 5 s of one
/// step, in which only an interrupt stops SQLite.
const LONG_SORT: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                         WHERE x < 20000000) SELECT x FROM c ORDER BY (x * 7919) % 1000003 DESC";

/// A SQLite file written by the test, with what it held when written, to check that
/// nothing rowpipe does changes it.
struct SqliteFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: Vec<u8>,
    mtime: (i64, i64),
}

impl SqliteFile {
    /// A file `name` in a fresh folder, made by `sql`.
    fn create(name: &str, sql: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join(name);
        let connection = rusqlite::Connection::open(&path).expect("create the SQLite file");
        connection.execute_batch(sql).expect("fill the SQLite file");
        drop(connection);
        let metadata = std::fs::metadata(&path).unwrap();
        Self {
            bytes: std::fs::read(&path).unwrap(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            path,
            _dir: dir,
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn url(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    /// Fails unless the file's bytes and mtime are what they were when it was written.
    #[track_caller]
    fn assert_unchanged(&self) {
        let metadata = std::fs::metadata(&self.path).unwrap();
        assert_eq!(
            (metadata.mtime(), metadata.mtime_nsec()),
            self.mtime,
            "the SQLite file's mtime changed"
        );
        assert!(
            std::fs::read(&self.path).unwrap() == self.bytes,
            "the SQLite file's bytes changed"
        );
    }
}

/// Every storage class, their edge values, and a column `m` that mixes them.
const VALUES_SQL: &str = "
    CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, m);
    INSERT INTO t VALUES (1, -9223372036854775808, 1e308, 'plain', x'00ff', 1);
    INSERT INTO t VALUES (2, 9223372036854775807, 5e-324, '', x'', 2.5);
    INSERT INTO t VALUES (3, 0, -0.0, NULL, NULL, 'x,y');
    INSERT INTO t VALUES (4, -1, 0.1, 'a\"b
c', x'5c', x'01');
    INSERT INTO t VALUES (5, NULL, NULL, CAST(x'61ff62' AS TEXT), NULL, NULL);
    INSERT INTO t VALUES (6, NULL, 1.5, 'é😀', NULL, '');
";

/// `t` as CSV. SQLite keeps a REAL -0.0 in a REAL column as 0 (it stores integral reals
/// as integers), so it reads back, and is written, as `0`. TEXT that is not UTF-8 is
/// written as its bytes.
const VALUES_CSV: &[u8] = b"id,i,r,s,b,m
1,-9223372036854775808,1e+308,plain,\\x00ff,1
2,9223372036854775807,5e-324,\"\",\\x,2.5
3,0,0,,,\"x,y\"
4,-1,0.1,\"a\"\"b
c\",\\x5c,\\x01
5,,,a\xffb,,
6,,1.5,\xc3\xa9\xf0\x9f\x98\x80,,\"\"
";

const VALUES_TSV: &[u8] = b"id\ti\tr\ts\tb\tm
1\t-9223372036854775808\t1e+308\tplain\t\\\\x00ff\t1
2\t9223372036854775807\t5e-324\t\t\\\\x\t2.5
3\t0\t0\t\\N\t\\N\tx,y
4\t-1\t0.1\ta\"b\\nc\t\\\\x5c\t\\\\x01
5\t\\N\t\\N\ta\xffb\t\\N\t\\N
6\t\\N\t1.5\t\xc3\xa9\xf0\x9f\x98\x80\t\\N\t
";

fn values_server(file: &SqliteFile) -> TestServer {
    TestServer::start(
        &file.url(),
        r#"
[[dataset]]
name = "t"
sql = "SELECT * FROM t ORDER BY id"
key = "id"
"#,
    )
}

#[test]
fn sqlite_every_storage_class_is_written_by_its_own_rules() {
    let file = SqliteFile::create("values.db", VALUES_SQL);
    let server = values_server(&file);

    let csv = http::get(server.addr(), "/datasets/t.csv");
    assert_eq!(csv.status, 200, "{}", String::from_utf8_lossy(&csv.body));
    assert!(csv.complete);
    crate::harness::assert_bytes_eq(&csv.body, VALUES_CSV);
    // An independent parser reads the same values back.
    let records: Vec<csv::ByteRecord> = csv::ReaderBuilder::new()
        .from_reader(&csv.body[..])
        .byte_records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records.len(), 6);
    assert_eq!(&records[0][1], b"-9223372036854775808");
    assert_eq!(&records[1][1], b"9223372036854775807");
    assert_eq!(&records[3][3], b"a\"b\nc");
    assert_eq!(&records[4][3], b"a\xffb");
    assert_eq!(&records[2][5], b"x,y");

    let tsv = http::get(server.addr(), "/datasets/t.tsv");
    assert_eq!(tsv.status, 200);
    crate::harness::assert_bytes_eq(&tsv.body, VALUES_TSV);

    let jsonl = http::get(server.addr(), "/datasets/t.jsonl");
    assert_eq!(jsonl.status, 200);
    let rows: Vec<serde_json::Value> = jsonl
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    use serde_json::json;
    assert_eq!(
        rows,
        vec![
            json!({"id": 1, "i": i64::MIN, "r": 1e308, "s": "plain", "b": "\\x00ff", "m": 1}),
            json!({"id": 2, "i": i64::MAX, "r": 5e-324, "s": "", "b": "\\x", "m": 2.5}),
            json!({"id": 3, "i": 0, "r": 0, "s": null, "b": null, "m": "x,y"}),
            json!({"id": 4, "i": -1, "r": 0.1, "s": "a\"b\nc", "b": "\\x5c", "m": "\\x01"}),
            // JSON must be UTF-8: each invalid sequence is U+FFFD there.
            json!({"id": 5, "i": null, "r": null, "s": "a\u{fffd}b", "b": null, "m": null}),
            json!({"id": 6, "i": null, "r": 1.5, "s": "é😀", "b": null, "m": ""}),
        ]
    );
    // Numbers are JSON numbers, exactly: the extremes are not rounded through a float.
    assert!(jsonl.text().contains("\"i\":-9223372036854775808"));
    assert!(jsonl.text().contains("\"r\":5e-324"));

    let json = http::get(server.addr(), "/datasets/t.json");
    assert_eq!(json.status, 200);
    let array: Vec<serde_json::Value> = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(array, rows);

    // quote=nonnumeric follows the declared types' affinity: `i`, `r` (INTEGER, REAL) are
    // numbers; `m` (no declared type) is not, whatever its values.
    let quoted = http::get(server.addr(), "/datasets/t.csv?quote=nonnumeric&limit=1");
    assert_eq!(quoted.status, 200);
    assert_eq!(
        quoted.text(),
        "id,i,r,s,b,m\n1,-9223372036854775808,1e+308,\"plain\",\"\\x00ff\",\"1\"\n"
    );
    drop(server);
    file.assert_unchanged();
}

#[test]
fn sqlite_rows_give_the_same_csv_as_postgresql() {
    let rows = [
        "(1, -9223372036854775808, 0.1, 'plain')",
        "(2, 9223372036854775807, 1e308, '')",
        "(3, 0, 5e-324, NULL)",
        "(4, -1, 1.5, 'comma, \"quote\"')",
        "(5, 42, 123456789.125, 'line\nbreak')",
        "(6, NULL, -2.5e-10, 'é😀')",
        "(7, 7, 1e15, ' padded ')",
        "(8, 8, 1e16, '\\N')",
        "(9, 9, NULL, '12')",
        "(10, 10, 100, 'x')",
    ]
    .join(", ");
    let db = cluster().create_database("sqlite_same");
    db.execute(&format!(
        "CREATE TABLE t (id int8 PRIMARY KEY, n int8, f float8, s text);
         INSERT INTO t VALUES {rows};"
    ));
    let file = SqliteFile::create(
        "same.sqlite",
        &format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, f REAL, s TEXT);
             INSERT INTO t VALUES {rows};"
        ),
    );
    let export = |url: &str| {
        run_ok(rowpipe().args([
            "export",
            "--quiet",
            "--database",
            url,
            "--sql",
            "SELECT * FROM t ORDER BY id",
        ]))
        .stdout
    };
    let postgres = export(db.url());
    let sqlite = export(file.path().to_str().unwrap());
    assert_eq!(postgres.iter().filter(|&&b| b == b'\n').count(), 12);
    crate::harness::assert_bytes_eq(&sqlite, &postgres);
    file.assert_unchanged();
}

#[test]
fn sqlite_writing_statements_are_refused_and_the_file_never_changes() {
    let file = SqliteFile::create("ro.db", VALUES_SQL);
    let server = TestServer::start(
        &file.url(),
        r#"
[[dataset]]
name = "deleting"
sql = "DELETE FROM t"

[[dataset]]
name = "returning"
sql = "UPDATE t SET i = 0 RETURNING id"

[[dataset]]
name = "attaching"
sql = "ATTACH 'other.db' AS other"

[[dataset]]
name = "pragma"
sql = "PRAGMA user_version = 7"
"#,
    );
    for name in ["deleting", "returning", "attaching", "pragma"] {
        let response = http::get(server.addr(), &format!("/datasets/{name}.csv"));
        assert_eq!(response.status, 500, "{name}: {}", response.text());
        let error = &response.json()["error"];
        assert_eq!(error["code"], "invalid_dataset", "{name}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("dataset \"{name}\"")) && message.contains("not read-only"),
            "{name}: {message}"
        );
    }
    drop(server);

    let output = run(rowpipe().args([
        "export",
        "--database",
        &file.url(),
        "--sql",
        "INSERT INTO t (id) VALUES (100)",
    ]));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not read-only"), "{stderr}");
    assert!(!file.path().with_file_name("other.db").exists());
    file.assert_unchanged();

    // A missing file is a start-up error, and is not created.
    let missing = file.path().with_file_name("missing.db");
    let output = run(rowpipe().args([
        "export",
        "--database",
        missing.to_str().unwrap(),
        "--sql",
        "SELECT 1",
    ]));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.db"), "{stderr}");
    assert!(!missing.exists(), "a missing file must not be created");
}

/// A server over `sqlite` with the dataset `sorted` (a long sort).
fn sqlite_server(sqlite: Arc<Sqlite>) -> TestServer {
    let dataset = |name: &str, sql: &str| Dataset {
        name: name.into(),
        description: None,
        query: DatasetQuery::Sql(sql.into()),
        params: Vec::new(),
        key: None,
        max_rows: None,
    };
    let catalog = Catalog::Configured(vec![dataset("sorted", LONG_SORT)]);
    TestServer::serving(AppState::new(sqlite, catalog, ExportOptions::default()))
}

#[test]
fn sqlite_a_client_that_leaves_during_a_long_sort_stops_the_reader() {
    let file = SqliteFile::create("sort.db", "CREATE TABLE unused (x);");
    let sqlite = Arc::new(Sqlite::open(file.path()).unwrap());
    let server = sqlite_server(sqlite.clone());

    let request = Unanswered::send(server.addr(), "/datasets/sorted.csv");
    // The reader is inside the sort's first step.
    assert!(
        poll_until(Duration::from_secs(5), || sqlite.readers_running() == 1).is_some(),
        "the reader never started"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sqlite.readers_running(),
        1,
        "the sort ended too soon to test"
    );
    let left = Instant::now();
    request.disconnect();
    let stopped = poll_until(Duration::from_secs(5), || sqlite.readers_running() == 0);
    let stopped = stopped.expect("the reader thread still runs after the client left");
    assert!(
        stopped < Duration::from_millis(500) && left.elapsed() < Duration::from_secs(1),
        "the reader took {stopped:?} to stop"
    );
    assert_eq!(sqlite.interrupts(), 1);
    // /metrics counts it with the process's query cancels.
    let metrics = http::get(server.addr(), "/metrics");
    let sent = metrics
        .text()
        .lines()
        .find_map(|line| line.strip_prefix("rowpipe_query_cancels_total{result=\"sent\"} "))
        .expect("the cancel count in /metrics");
    assert!(sent.trim().parse::<u64>().unwrap() >= 1, "{sent}");
    file.assert_unchanged();
}

#[test]
fn sqlite_statement_timeout_fails_the_download_loudly() {
    let file = SqliteFile::create("timeout.db", "CREATE TABLE unused (x);");
    let server = TestServer::start(
        &file.url(),
        &format!(
            r#"
[database]
statement_timeout = "300ms"

[[dataset]]
name = "sorted"
sql = "{LONG_SORT}"

[[dataset]]
name = "endless"
sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
"#
        ),
    );
    let started = Instant::now();
    let response = http::get(server.addr(), "/datasets/sorted.csv");
    assert_eq!(
        response.status,
        503,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let error = &response.json()["error"];
    assert_eq!(error["code"], "statement_timeout");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("statement_timeout"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // After the first byte: a transfer that breaks off, never one that ends as complete.
    let started = Instant::now();
    let endless = http::get(server.addr(), "/datasets/endless.csv");
    assert_eq!(endless.status, 200);
    assert!(
        !endless.complete,
        "a timed-out download must not end as complete"
    );
    assert!(endless.body.len() > 64 * 1024);
    assert!(started.elapsed() < Duration::from_secs(3));
    file.assert_unchanged();
}

/// 2,000 rows keyed by `id`, with a parameterised dataset.
fn keyed_file() -> SqliteFile {
    SqliteFile::create(
        "keyed.db",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)
         INSERT INTO items SELECT x, 'item, ' || x, x / 8.0 FROM c;",
    )
}

const KEYED_CONFIG: &str = r#"
[[dataset]]
name = "items"
sql = "SELECT * FROM items"
key = "id"

[[dataset]]
name = "cheap"
sql = "SELECT id, name FROM items WHERE price < $1 AND name <> $2"
params = [ { name = "below", type = "real" }, { name = "not", type = "text", default = "" } ]

[[dataset]]
name = "blobs"
sql = "SELECT $1 AS b, typeof($1) AS t, $2 AS n"
params = [ { name = "b", type = "blob" }, { name = "n", type = "integer" } ]
"#;

#[test]
fn sqlite_resuming_after_a_key_gives_the_whole_result() {
    let file = keyed_file();
    let server = TestServer::start(&file.url(), KEYED_CONFIG);
    let whole = http::get(server.addr(), "/datasets/items.csv");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.text().lines().count(), 2001);

    let first = http::get(server.addr(), "/datasets/items.csv?limit=700");
    let last_key = first
        .text()
        .lines()
        .last()
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(last_key, "700");
    let rest = http::get(
        server.addr(),
        &format!("/datasets/items.csv?after={last_key}&header=false"),
    );
    assert_eq!(rest.status, 200);
    let mut joined = first.body.clone();
    joined.extend_from_slice(&rest.body);
    crate::harness::assert_bytes_eq(&joined, &whole.body);

    // columns= may leave the key out; it is still the order.
    let names = http::get(server.addr(), "/datasets/items.csv?columns=name&after=1998");
    assert_eq!(names.text(), "name\n\"item, 1999\"\n\"item, 2000\"\n");

    let bad = http::get(server.addr(), "/datasets/items.csv?after=abc");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "invalid_after");
    let unknown = http::get(server.addr(), "/datasets/items.csv?columns=nope");
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["error"]["code"], "unknown_column");
    file.assert_unchanged();
}

#[test]
fn sqlite_parameters_are_bound_by_their_declared_types() {
    let file = keyed_file();
    let server = TestServer::start(&file.url(), KEYED_CONFIG);
    let cheap = http::get(server.addr(), "/datasets/cheap.csv?below=0.5");
    assert_eq!(cheap.status, 200, "{}", cheap.text());
    assert_eq!(
        cheap.text(),
        "id,name\n1,\"item, 1\"\n2,\"item, 2\"\n3,\"item, 3\"\n"
    );

    let bad = http::get(server.addr(), "/datasets/cheap.csv?below=cheap");
    assert_eq!(bad.status, 400);
    let error = &bad.json()["error"];
    assert_eq!(error["code"], "invalid_parameter");
    assert!(
        error["message"].as_str().unwrap().contains("below"),
        "{error}"
    );

    let blob = http::get(server.addr(), "/datasets/blobs.jsonl?b=%5Cx00ff&n=-5");
    assert_eq!(blob.status, 200, "{}", blob.text());
    assert_eq!(
        blob.text(),
        "{\"b\":\"\\\\x00ff\",\"t\":\"blob\",\"n\":-5}\n"
    );
    for bad in ["b=00ff&n=1", "b=%5Cx0&n=1", "b=%5Cx00&n=1.5"] {
        let response = http::get(server.addr(), &format!("/datasets/blobs.csv?{bad}"));
        assert_eq!(response.status, 400, "{bad}");
        assert_eq!(response.json()["error"]["code"], "invalid_parameter");
    }
    // SQLite's `integer` is 64 bits, and the API's description says so.
    let big = http::get(
        server.addr(),
        "/datasets/blobs.jsonl?b=%5Cx&n=-9223372036854775808",
    );
    assert_eq!(big.status, 200, "{}", big.text());
    let document = http::get(server.addr(), "/openapi.json").json();
    let parameters = document["paths"]["/datasets/blobs.{format}"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let n = parameters
        .iter()
        .find(|p| p["name"] == "n")
        .expect("n described");
    assert_eq!(n["schema"]["type"], "integer", "{n}");
    assert_eq!(n["schema"]["minimum"], i64::MIN, "{n}");
    assert_eq!(n["schema"]["maximum"], i64::MAX, "{n}");
    file.assert_unchanged();
}

#[test]
fn sqlite_serve_with_a_file_offers_every_table_and_view() {
    let file = SqliteFile::create(
        "shop.sqlite3",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL);
         INSERT INTO orders VALUES (1, 9.5), (2, 20);
         CREATE TABLE tags (name TEXT PRIMARY KEY);
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 10;",
    );
    let server = ServeProcess::start(file.path().to_str().unwrap(), &[]);
    assert_eq!(
        http::dataset_names(server.addr()),
        ["big_orders", "orders", "tags"]
    );
    let listing = http::get(server.addr(), "/datasets").json();
    let key = |name: &str| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|dataset| dataset["name"] == name)
            .unwrap()
            .get("key")
            .cloned()
    };
    assert_eq!(key("orders"), Some(serde_json::json!("id")));
    let columns = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|dataset| dataset["name"] == "orders")
        .unwrap()["columns"]
        .clone();
    assert_eq!(
        columns,
        serde_json::json!([{"name": "id", "type": "integer"}, {"name": "total", "type": "real"}])
    );
    assert_eq!(key("tags"), None);
    assert_eq!(key("big_orders"), None);

    let orders = http::get(server.addr(), "/datasets/orders.csv?after=1");
    assert_eq!(orders.text(), "id,total\n2,20\n");
    let view = http::get(server.addr(), "/datasets/big_orders.jsonl");
    assert_eq!(view.text(), "{\"id\":2,\"total\":20}\n");
    drop(server);
    file.assert_unchanged();
}

#[test]
fn sqlite_cli_exports_a_table_in_key_order_to_a_file() {
    let file = keyed_file();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("items.csv");
    run_ok(rowpipe().args([
        "export",
        "--quiet",
        "--database",
        file.path().to_str().unwrap(),
        "--table",
        "items",
        "--max-rows",
        "5000",
        "-o",
        out.to_str().unwrap(),
    ]));
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().count(), 2001);
    assert!(written.starts_with("id,name,price\n1,\"item, 1\",0.125\n"));

    let output = run(rowpipe().args([
        "export",
        "--database",
        &file.url(),
        "--sql",
        "SELECT * FROM items",
        "--max-rows",
        "10",
    ]));
    assert_eq!(output.status.code(), Some(1));
    file.assert_unchanged();
}

#[test]
fn sqlite_excel_mode_guards_text_in_number_columns_too() {
    // A column of INTEGER affinity still takes text that does not read as a number.
    let file = SqliteFile::create(
        "excel.db",
        "CREATE TABLE x (id INTEGER PRIMARY KEY, n INTEGER, s TEXT);
         INSERT INTO x VALUES (1, -5, '-5'), (2, '=1+2', '@SUM(A1)'), (3, 7, 'plain');",
    );
    let output = run_ok(rowpipe().args([
        "export",
        "--quiet",
        "--database",
        &file.url(),
        "--table",
        "x",
        "--excel",
    ]));
    crate::harness::assert_bytes_eq(
        &output.stdout,
        b"\xef\xbb\xbfid,n,s\r\n1,-5,'-5\r\n2,'=1+2,'@SUM(A1)\r\n3,7,plain\r\n",
    );
    file.assert_unchanged();
}

#[test]
fn sqlite_cli_resume_continues_a_broken_file_byte_for_byte() {
    let file = keyed_file();
    let dir = tempfile::tempdir().unwrap();
    let export = |out: &Path, resume: bool| {
        let mut command = rowpipe();
        command.args([
            "export",
            "--quiet",
            "--database",
            file.path().to_str().unwrap(),
            "--table",
            "items",
            "-o",
            out.to_str().unwrap(),
        ]);
        if resume {
            command.arg("--resume");
        }
        run_ok(&mut command);
    };
    let whole = dir.path().join("whole.csv");
    export(&whole, false);
    let whole = std::fs::read(&whole).unwrap();

    // A broken export: 700 complete rows and half of the next.
    let resumed = dir.path().join("resumed.csv");
    let cut = whole
        .iter()
        .enumerate()
        .filter(|&(_, &byte)| byte == b'\n')
        .nth(701)
        .map(|(at, _)| at - 4)
        .unwrap();
    std::fs::write(rowpipe::sink::file::part_path(&resumed), &whole[..cut]).unwrap();
    export(&resumed, true);
    crate::harness::assert_bytes_eq(std::fs::read(&resumed).unwrap(), &whole);
    file.assert_unchanged();
}

#[test]
fn sqlite_a_file_that_vanishes_makes_the_database_unavailable() {
    let file = keyed_file();
    let server = TestServer::start(&file.url(), KEYED_CONFIG);
    assert_eq!(http::get(server.addr(), "/readyz").status, 200);
    let moved = file.path().with_file_name("moved.db");
    std::fs::rename(file.path(), &moved).unwrap();

    let ready = http::get(server.addr(), "/readyz");
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["error"]["code"], "database_unavailable");
    let download = http::get(server.addr(), "/datasets/items.csv");
    assert_eq!(download.status, 503);
    assert_eq!(download.json()["error"]["code"], "database_unavailable");
    // Never created anew.
    assert!(!file.path().exists());

    std::fs::rename(&moved, file.path()).unwrap();
    assert_eq!(http::get(server.addr(), "/readyz").status, 200);
    file.assert_unchanged();
}

/// A client that stops reading stops the reader thread (the bounded channel is full)
/// instead of rowpipe buffering rows: the server's memory stays flat.
#[test]
fn sqlite_a_stalled_client_keeps_server_memory_flat() {
    let file = SqliteFile::create("endless.db", "CREATE TABLE unused (x);");
    // Endless, and streamed: a recursive CTE hands over each row as it makes it.
    let server = ServeProcess::start_with_config(
        &file.url(),
        r#"
[[dataset]]
name = "endless"
sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, printf('%200d', x) AS pad FROM c"
"#,
    );
    let mut download = http::Download::start(server.addr(), "/datasets/endless.csv");
    assert_eq!(download.status(), 200);
    download.read_body_bytes(64 * 1024);
    std::thread::sleep(Duration::from_millis(500));
    let rss_then = resident_kib(server.pid());
    std::thread::sleep(Duration::from_secs(1));
    let rss_now = resident_kib(server.pid());
    assert!(
        rss_now < rss_then + 4 * 1024,
        "server memory grew while the client stalled: {rss_then} KiB -> {rss_now} KiB"
    );
    // It still streams once the client reads again.
    let before = download.body_bytes_read();
    download.read_body_bytes(before + 4 * 1024 * 1024);
    assert!(download.body_bytes_read() >= before + 4 * 1024 * 1024);
    download.disconnect();
    file.assert_unchanged();
}

#[test]
fn sqlite_bad_inputs_are_answered_as_on_postgresql() {
    let file = keyed_file();
    let server = TestServer::start(
        &file.url(),
        &format!(
            r#"{KEYED_CONFIG}
[[dataset]]
name = "twice"
sql = "SELECT 1 AS a, 2 AS a, 3 AS b"

[[dataset]]
name = "wrong_key"
sql = "SELECT id FROM items"
key = "nope"

[[dataset]]
name = "twice_key"
sql = "SELECT 1 AS a, 2 AS a, 3 AS b"
key = "a"

[[dataset]]
name = "broken_sql"
sql = "SELEC id FROM items"

[[dataset]]
name = "two_statements"
sql = "SELECT 1; SELECT 2"

[[dataset]]
name = "null_keys"
sql = "SELECT NULL AS k UNION ALL SELECT NULL"
key = "k"
"#
        ),
    );
    let expect = |path: &str, status: u16, code: &str| {
        let response = http::get(server.addr(), path);
        assert_eq!(
            response.status,
            status,
            "{path}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let error = response.json()["error"].clone();
        assert_eq!(error["code"], code, "{path}: {error}");
        error["message"].as_str().unwrap().to_owned()
    };
    expect("/datasets/twice.csv?columns=a", 400, "ambiguous_column");
    let ok = http::get(server.addr(), "/datasets/twice.csv?columns=b");
    assert_eq!(ok.text(), "b\n3\n");
    expect("/datasets/wrong_key.csv", 500, "invalid_dataset");
    let message = expect("/datasets/twice_key.csv", 500, "invalid_dataset");
    assert!(
        message.contains("\"a\" appears more than once"),
        "{message}"
    );
    let message = expect("/datasets/broken_sql.csv", 500, "query_failed");
    assert!(
        message.contains("broken_sql") && message.contains("syntax error"),
        "{message}"
    );
    expect("/datasets/two_statements.csv", 500, "query_failed");
    expect("/datasets/items.csv?limit=-1", 400, "invalid_limit");
    expect("/datasets/cheap.csv", 400, "missing_parameter");
    expect("/datasets/twice.csv?after=1", 400, "not_resumable");
    expect("/datasets/null_keys.csv", 500, "invalid_key");
    file.assert_unchanged();
}

/// 300,000 rows of about 200 bytes: far more than the channel, hyper and the socket
/// buffers hold, so a download that stalls keeps its read transaction open.
const BIG_SQL: &str = "CREATE TABLE big (id INTEGER PRIMARY KEY, pad TEXT);
     WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
     INSERT INTO big SELECT x, printf('%200d', x) FROM c;";

/// Starts a download of `big` on a server over `file`, and reads its first bytes only.
fn stalled_download(file: &SqliteFile) -> (TestServer, http::Download) {
    let server = TestServer::start(
        &file.url(),
        "[[dataset]]\nname = \"big\"\nsql = \"SELECT * FROM big\"\n",
    );
    let mut download = http::Download::start(server.addr(), "/datasets/big.csv");
    assert_eq!(download.status(), 200);
    download.read_body_bytes(64 * 1024);
    (server, download)
}

/// `statement_timeout` bounds the time spent on the file's side, not a client's pace (as
/// on PostgreSQL): a client that pauses for three times the limit, once every buffer is
/// full, still gets the whole download, byte for byte, while the same limit stops a query
/// that keeps the reader busy (`sqlite_statement_timeout_fails_the_download_loudly`).
#[test]
fn sqlite_a_pausing_client_is_not_failed_by_the_statement_timeout() {
    let file = SqliteFile::create("paused.db", BIG_SQL);
    let server = TestServer::start(
        &file.url(),
        "[database]\nstatement_timeout = \"1s\"\n\n\
         [[dataset]]\nname = \"big\"\nsql = \"SELECT * FROM big ORDER BY id\"\n",
    );
    let mut download = http::Download::start(server.addr(), "/datasets/big.csv");
    assert_eq!(download.status(), 200);
    download.read_body_bytes(64 * 1024);
    std::thread::sleep(Duration::from_secs(3));
    let body = download.finish();
    assert!(body.complete, "the download was cut");
    let text = body.text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,pad"));
    let mut count = 0;
    for (id, line) in (1..).zip(lines) {
        assert_eq!(line, format!("{id},{id:>200}"), "row {id}");
        count = id;
    }
    assert_eq!(count, 300_000);
    file.assert_unchanged();
}

/// A writer's connection to `file` that gives up on a lock after 200 ms.
fn writer(file: &SqliteFile) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(file.path()).unwrap();
    connection.busy_timeout(Duration::from_millis(200)).unwrap();
    connection
}

#[test]
fn sqlite_in_wal_mode_writers_go_on_and_the_download_keeps_its_snapshot() {
    let file = SqliteFile::create("wal.db", &format!("PRAGMA journal_mode = WAL; {BIG_SQL}"));
    let (_server, download) = stalled_download(&file);
    writer(&file)
        .execute("INSERT INTO big VALUES (300001, 'new')", [])
        .expect("a writer goes on while a download runs in WAL mode");
    let body = download.finish();
    assert!(body.complete);
    // The snapshot of when the download started: without the new row.
    assert_eq!(body.text().lines().count(), 300_001);
    assert!(!body.text().contains("\n300001,"));
}

#[test]
fn sqlite_with_a_rollback_journal_a_running_download_blocks_writers() {
    let file = SqliteFile::create("journal.db", BIG_SQL);
    let (_server, download) = stalled_download(&file);
    let refused = writer(&file).execute("INSERT INTO big VALUES (300001, 'new')", []);
    let error = refused.expect_err("the download's shared lock keeps the writer out");
    assert!(error.to_string().contains("locked"), "{error}");
    let body = download.finish();
    assert!(body.complete);
    assert_eq!(body.text().lines().count(), 300_001);
    file.assert_unchanged();
}
