//! rowpipe on a hot standby (see `harness::standby`): exports identical to psql's on the
//! standby; a recovery conflict before the first byte answered 503 `recovery_conflict`
//! with `Retry-After`, and mid-stream an aborted body that `after=` completes; a standby
//! whose default isolation is `serializable` still healthy, listed and downloadable;
//! unlogged tables left out of its listing.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::harness::http::{self, get};
use crate::harness::psql::psql;
use crate::harness::standby::replication;
use rowpipe::ErrorKind;

use crate::harness::{
    ServeProcess, TestDb, TestServer, assert_bytes_eq, poll_until, psql_row_to_json, rowpipe, run,
};

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

/// A table for rows a test writes, deletes and vacuums on the primary (see
/// [`provoke_conflict`]).
const JUNK: &str = "CREATE TABLE junk (id int);";

/// A dataset query that takes its snapshot, then sleeps before its first row.
const SLEEPY: &str = "SELECT i.* FROM items i WHERE (SELECT pg_catalog.pg_sleep(60)::text) = ''";

/// How long a standby query is made to wait for the conflict that cancels it.
const PATIENCE: Duration = Duration::from_secs(60);

/// Writes rows into `junk` on the primary, deletes and vacuums them: replaying the vacuum
/// conflicts with every snapshot of the database older than the delete. Returns once the
/// standby has received it all.
fn provoke_conflict(primary: &TestDb) {
    primary.execute(
        "INSERT INTO junk SELECT generate_series(1, 1000); DELETE FROM junk; VACUUM junk;",
    );
    let written = primary.query_scalar("SELECT pg_current_wal_lsn()");
    let standby = replication().standby.database(primary.name());
    let check = format!("SELECT pg_last_wal_receive_lsn() >= '{written}'::pg_lsn");
    assert!(
        poll_until(PATIENCE, || standby.query_scalar(&check) == "t").is_some(),
        "the standby did not receive the vacuum"
    );
}

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
    // Unlogged tables hold nothing on a standby: not offered there.
    assert_eq!(http::dataset_names(server.addr()), ["items"]);
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

/// A conflict before the first row: the query holds its snapshot (a one-time sleep before
/// its first row) while the primary vacuums rows that snapshot sees.
#[test]
fn a_recovery_conflict_before_the_first_byte_is_a_503() {
    let setup = format!("{ITEMS} {JUNK}");
    let (primary, standby) = replication().create_database("standby_conflict_early", &setup);
    let config = format!("[[dataset]]\nname = \"slow\"\nsql = \"{SLEEPY}\"\n");
    let server = TestServer::start(standby.url(), &config);
    let addr = server.addr();
    let download = thread::spawn(move || get(addr, "/datasets/slow.csv"));
    let sleeping = poll_until(PATIENCE, || {
        standby.count_backends("wait_event = 'PgSleep'") == 1
    });
    assert!(
        sleeping.is_some(),
        "the export never started on the standby"
    );
    provoke_conflict(&primary);

    let response = download.join().unwrap();
    assert_eq!(
        response.status,
        503,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("retry-after"), Some("5"));
    let error = &response.json()["error"];
    assert_eq!(error["code"], "recovery_conflict", "{error}");
    assert_eq!(error["sqlstate"], "40001", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("recovery conflict"), "{message}");
}

/// The CLI and the library name a recovery conflict as such: a failure (exit status 1)
/// whose message says so, and [`ErrorKind::RecoveryConflict`].
#[test]
fn the_cli_and_the_library_report_a_recovery_conflict() {
    let setup = format!("{ITEMS} {JUNK}");
    let (primary, standby) = replication().create_database("standby_conflict_cli", &setup);
    let dir = tempfile::tempdir().unwrap();
    let export = rowpipe()
        .args([
            "export",
            "--database",
            standby.url(),
            "-q",
            "--sql",
            SLEEPY,
            "-o",
        ])
        .arg(dir.path().join("items.csv"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rowpipe export");
    let sleeping = |standby: &TestDb| {
        poll_until(PATIENCE, || {
            standby.count_backends("wait_event = 'PgSleep'") == 1
        })
        .is_some()
    };
    assert!(
        sleeping(&standby),
        "the export never started on the standby"
    );
    provoke_conflict(&primary);
    let output = export.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("40001") && stderr.contains("recovery conflict"),
        "{stderr}"
    );

    let url = standby.url().to_owned();
    let library = thread::spawn(move || {
        let pg = rowpipe::blocking::Postgres::connect(&url).unwrap();
        pg.export(SLEEPY).write_to(std::io::sink()).unwrap_err()
    });
    assert!(
        sleeping(&standby),
        "the library's export never started on the standby"
    );
    provoke_conflict(&primary);
    let error = library.join().unwrap();
    assert_eq!(error.kind(), ErrorKind::RecoveryConflict, "{error}");
    assert_eq!(error.sqlstate(), Some("40001"));
}

/// A conflict mid-stream: the download breaks off like any failed one (curl exit 18), the
/// log says it was a recovery conflict, and `after=` the last complete row fetches the
/// rest, which together are psql's output on the standby.
#[test]
fn a_recovery_conflict_mid_stream_aborts_and_after_completes_the_file() {
    let setup = format!(
        "{JUNK}
         CREATE TABLE big (id int PRIMARY KEY, body text);
         INSERT INTO big SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 150000) i;"
    );
    let (primary, standby) = replication().create_database("standby_conflict_late", &setup);
    let server = ServeProcess::start(standby.url(), &[]);
    let url = format!("http://{}/datasets/big.csv", server.addr());
    let mut curl = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "120", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("run curl (Debian's curl package)");
    let mut out = curl.stdout.take().unwrap();
    let mut body = vec![0; 64 * 1024];
    out.read_exact(&mut body)
        .expect("the first bytes of the download");
    // curl stops reading once its pipe is full, and the backend waits to send.
    let blocked = poll_until(PATIENCE, || {
        standby.count_backends("wait_event = 'ClientWrite'") == 1
    });
    assert!(blocked.is_some(), "the export never waited for its client");
    provoke_conflict(&primary);
    // Give replay the moment it needs to reach the vacuum and signal the backend.
    thread::sleep(Duration::from_millis(500));
    out.read_to_end(&mut body).unwrap();
    let status = curl.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(18),
        "curl should see an aborted transfer"
    );

    let log = server.wait_for_log("download failed", PATIENCE);
    assert!(log.contains("recovery conflict"), "{log}");

    let complete = body.iter().rposition(|&byte| byte == b'\n').unwrap() + 1;
    body.truncate(complete);
    let last_row = body[..complete - 1]
        .rsplit(|&byte| byte == b'\n')
        .next()
        .unwrap();
    let last_key =
        String::from_utf8_lossy(last_row.split(|&b| b == b',').next().unwrap()).into_owned();
    let rest = get(
        server.addr(),
        &format!("/datasets/big.csv?after={last_key}&header=false"),
    );
    assert_eq!(rest.status, 200);
    assert!(rest.complete);
    body.extend_from_slice(&rest.body);
    assert_bytes_eq(body, standby.copy_csv("SELECT * FROM big ORDER BY id"));
}
