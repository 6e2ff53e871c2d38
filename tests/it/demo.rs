//! `rowpipe demo` and `rowpipe serve` with nothing given: the demo database is
//! deterministic, realistic (the values that break exports are in it), made once in the
//! data folder, and served with datasets that show a key and parameters.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::harness::{ServeProcess, http, rowpipe, run, run_ok};

/// The datasets the demo is served with, in listing order.
pub const DEMO_DATASETS: &[&str] = &[
    "orders",
    "orders_by_status",
    "orders_since",
    "customer_orders",
    "customers",
    "products",
    "revenue_by_month",
];

/// Writes a demo database of `rows` orders at `path`.
pub fn make_demo(path: &Path, rows: u64) {
    run_ok(
        rowpipe()
            .args(["demo", "--rows", &rows.to_string(), "-o"])
            .arg(path),
    );
}

fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

#[test]
fn demo_the_same_rows_give_the_same_file_full_of_awkward_values() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a.db"), dir.path().join("b.db"));
    make_demo(&first, 5000);
    make_demo(&second, 5000);
    assert!(
        std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
        "two demos of the same size differ"
    );

    let db = Connection::open_with_flags(&first, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM orders"), 5000);
    assert_eq!(count(&db, "SELECT count(*) FROM customers"), 500);
    assert_eq!(count(&db, "SELECT count(*) FROM products"), 50);
    for (what, sql) in [
        (
            "a name with a comma",
            "SELECT count(*) FROM customers WHERE name LIKE '%,%'",
        ),
        (
            "a name with a double quote",
            "SELECT count(*) FROM customers WHERE name LIKE '%\"%'",
        ),
        (
            "a name with an apostrophe",
            "SELECT count(*) FROM customers WHERE name LIKE '%''%'",
        ),
        (
            "a name with an emoji",
            "SELECT count(*) FROM customers WHERE name LIKE '%🦀%'",
        ),
        (
            "a name in CJK",
            "SELECT count(*) FROM customers WHERE name LIKE '%李%'",
        ),
        (
            "an accented name",
            "SELECT count(*) FROM customers WHERE name LIKE '%ü%' OR name LIKE '%é%'",
        ),
        (
            "a customer without email",
            "SELECT count(*) FROM customers WHERE email IS NULL",
        ),
        (
            "a product without weight",
            "SELECT count(*) FROM products WHERE weight_kg IS NULL",
        ),
        (
            "a multi-line note",
            "SELECT count(*) FROM orders WHERE instr(note, char(10)) > 0",
        ),
        (
            "a note with CR LF",
            "SELECT count(*) FROM orders WHERE instr(note, char(13, 10)) > 0",
        ),
        (
            "a note holding HTML",
            "SELECT count(*) FROM orders WHERE note LIKE '%<b>%'",
        ),
        (
            "an empty note (not NULL)",
            "SELECT count(*) FROM orders WHERE note = ''",
        ),
        (
            "an order never shipped",
            "SELECT count(*) FROM orders WHERE shipped_at IS NULL",
        ),
        (
            "a coupon",
            "SELECT count(*) FROM orders WHERE details ->> 'coupon' IS NOT NULL",
        ),
    ] {
        assert!(count(&db, sql) > 0, "no {what} in the demo");
    }
    for (what, sql) in [
        (
            "details that are not JSON",
            "SELECT count(*) FROM orders WHERE NOT json_valid(details)",
        ),
        (
            "an amount in fractions of a cent",
            "SELECT count(*) FROM orders WHERE amount <> round(amount, 2)",
        ),
        (
            "a created_at not in SQLite's datetime form",
            "SELECT count(*) FROM orders WHERE created_at <> datetime(created_at)",
        ),
        (
            "an order shipped before it was made",
            "SELECT count(*) FROM orders WHERE shipped_at < created_at",
        ),
        (
            "an order of an unknown customer",
            "SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customers)",
        ),
        (
            "an order of an unknown product",
            "SELECT count(*) FROM orders WHERE product_id NOT IN (SELECT id FROM products)",
        ),
        (
            "an amount that is not price times quantity",
            "SELECT count(*) FROM orders AS o JOIN products AS p ON p.id = o.product_id \
             WHERE abs(o.amount - p.price * o.quantity) > 0.001",
        ),
    ] {
        assert_eq!(count(&db, sql), 0, "{what} in the demo");
    }
}

#[test]
fn demo_an_existing_file_is_kept_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    std::fs::write(&path, b"precious").unwrap();
    let mut refused = rowpipe();
    refused.args(["demo", "--rows", "10", "-o"]).arg(&path);
    let output = run(&mut refused);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");

    run_ok(
        rowpipe()
            .args(["demo", "--rows", "10", "--force", "-o"])
            .arg(&path),
    );
    let db = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM orders"), 10);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name())
        .filter(|name| name != "shop.db")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    let bad = run(rowpipe().args(["demo", "--rows", "0", "-o"]).arg(&path));
    assert_eq!(bad.status.code(), Some(2), "--rows 0: {bad:?}");
}

/// `rowpipe serve` with only a data folder in its environment.
pub fn serve_nothing(data: &Path) -> ServeProcess {
    // Making a million orders takes a few seconds in a release build, longer in the tests'.
    ServeProcess::launch(
        &[],
        &[
            ("XDG_DATA_HOME", data.as_os_str()),
            ("HOME", OsStr::new("/nonexistent")),
        ],
        Duration::from_secs(300),
    )
}

pub fn demo_path(data: &Path) -> PathBuf {
    data.join("rowpipe").join("demo.db")
}

#[test]
fn demo_serve_with_nothing_makes_the_demo_once_and_serves_its_datasets() {
    let data = tempfile::tempdir().unwrap();
    let path = demo_path(data.path());
    let server = serve_nothing(data.path());
    let log = server.wait_for_log("rowpipe serving on", Duration::from_secs(10));
    assert!(log.contains("making the demo database"), "{log}");
    assert!(
        log.contains(&path.display().to_string()),
        "the log names the file: {log}"
    );
    assert!(
        log.contains(&format!("http://{}/", server.addr())),
        "the log gives the address to open: {log}"
    );

    assert_eq!(http::dataset_names(server.addr()), DEMO_DATASETS);

    // The default size, and a key to resume with.
    let tail = http::get(
        server.addr(),
        "/datasets/orders.csv?after=999995&columns=id",
    );
    assert_eq!(tail.status, 200, "{}", tail.text());
    assert_eq!(tail.text(), "id\n999996\n999997\n999998\n999999\n1000000\n");
    // A required parameter, and one with a default.
    let missing = http::get(server.addr(), "/datasets/customer_orders.csv");
    assert_eq!(missing.status, 400, "{}", missing.text());
    assert!(missing.text().contains("customer_id"), "{}", missing.text());
    let one = http::get(
        server.addr(),
        "/datasets/customer_orders.csv?customer_id=42",
    );
    assert_eq!(one.status, 200, "{}", one.text());
    assert!(
        one.text()
            .starts_with("id,created_at,product,quantity,amount,status\n")
    );
    assert!(one.text().lines().count() > 1, "customer 42 has orders");
    let refunded = http::get(server.addr(), "/datasets/orders_by_status.jsonl?limit=50");
    for line in refunded.text().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["status"], "refunded", "the default parameter: {line}");
    }
    drop(server);

    // Once: the next start serves the same file.
    let made = std::fs::metadata(&path).unwrap();
    let again = serve_nothing(data.path());
    let log = again.wait_for_log("rowpipe serving on", Duration::from_secs(10));
    assert!(log.contains("serving the demo database"), "{log}");
    assert!(
        !log.contains("making the demo database"),
        "made twice: {log}"
    );
    let kept = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (kept.mtime(), kept.mtime_nsec(), kept.len()),
        (made.mtime(), made.mtime_nsec(), made.len())
    );
}

#[test]
fn demo_serve_without_a_data_folder_says_what_to_set() {
    let output = run(rowpipe()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("HOME")
        .env_remove("XDG_DATA_HOME"));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("XDG_DATA_HOME") && stderr.contains("--database"),
        "{stderr}"
    );
}
