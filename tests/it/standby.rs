//! rowpipe on a hot standby (see `harness::standby`): exports identical to psql's on the
//! standby; a standby whose default isolation is `serializable` still healthy, listed and
//! downloadable; unlogged tables left out of its listing.

use crate::harness::http::get;
use crate::harness::psql::psql;
use crate::harness::standby::replication;
use crate::harness::{TestDb, TestServer, assert_bytes_eq, psql_row_to_json, run};

/// Rows of every kind of value the typed engine formats itself, and some it leaves to
/// the server.
const ITEMS: &str = "
    CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, at timestamptz,
                        tags text[], spot point, body jsonb);
    INSERT INTO items
    SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE E'item \"' || i || E'\",\\n' END,
           i * 1.25, '2024-03-01 12:00:00+00'::timestamptz + i * interval '1 minute',
           ARRAY['a' || i, NULL], point(i, -i), jsonb_build_object('n', i)
    FROM generate_series(1, 3000) AS i;";

#[test]
fn standby_exports_match_psql_on_the_standby() {
    let (_, standby) = replication().create_database("standby_exports", ITEMS);
    let server = TestServer::start(standby.url(), "");
    let sql = "SELECT * FROM items ORDER BY id";

    let csv = get(server.addr(), "/datasets/items.csv");
    assert_eq!(csv.status, 200, "{}", String::from_utf8_lossy(&csv.body));
    assert!(csv.complete);
    assert_bytes_eq(csv.body, standby.copy_csv(sql));

    let jsonl = get(server.addr(), "/datasets/items.jsonl");
    assert_eq!(jsonl.status, 200);
    assert_bytes_eq(jsonl.body, psql_row_to_json(standby.url(), sql));

    let resumed = get(server.addr(), "/datasets/items.csv?after=1500&header=false");
    assert_bytes_eq(
        resumed.body,
        psql_copy_rows(&standby, "SELECT * FROM items WHERE id > 1500 ORDER BY id"),
    );
}

/// PostgreSQL's CSV for `sql` without its header line.
fn psql_copy_rows(db: &TestDb, sql: &str) -> Vec<u8> {
    crate::harness::psql_copy(db.url(), sql, "FORMAT csv")
}

/// `default_transaction_isolation = serializable` (here set on the primary's database,
/// which the standby replays; `pg_basebackup` copies a server-wide one the same way):
/// a standby refuses serializable snapshots, and rowpipe's own queries still work.
#[test]
fn a_serializable_default_on_a_standby_breaks_nothing() {
    let setup = format!("{ITEMS} CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);");
    let (primary, standby) = replication().create_database("standby_serializable", &setup);
    primary.execute(&format!(
        "ALTER DATABASE \"{}\" SET default_transaction_isolation = 'serializable'",
        primary.name()
    ));
    replication().catch_up();
    // The setting is in force: psql's own query is refused.
    let refused = run(psql(standby.url()).args(["-c", "SELECT count(*) FROM items"]));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("serializable"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let server = TestServer::start(standby.url(), "");
    for path in ["/healthz", "/readyz"] {
        let health = get(server.addr(), path);
        assert_eq!(health.status, 200, "{path}: {}", health.text());
    }
    let listing = get(server.addr(), "/datasets");
    assert_eq!(listing.status, 200, "{}", listing.text());
    let names: Vec<String> = listing
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|dataset| dataset["name"].as_str().unwrap().to_owned())
        .collect();
    // Unlogged tables hold nothing on a standby: not offered there.
    assert_eq!(names, ["items"], "{}", listing.text());
    let csv = get(server.addr(), "/datasets/items.csv");
    assert_eq!(csv.status, 200, "{}", String::from_utf8_lossy(&csv.body));
    assert_bytes_eq(
        csv.body,
        primary.copy_csv("SELECT * FROM items ORDER BY id"),
    );
    // An Excel download asks the planner for an estimate first.
    let excel = get(server.addr(), "/datasets/items.csv?excel=true&limit=1");
    assert_eq!(
        excel.status,
        200,
        "{}",
        String::from_utf8_lossy(&excel.body)
    );

    // On the primary, the unlogged table is a dataset like any other.
    let on_primary = TestServer::start(primary.url(), "");
    let listing = get(on_primary.addr(), "/datasets").text().to_owned();
    assert!(listing.contains("\"scratch\""), "{listing}");
}
