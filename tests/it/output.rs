//! The output contract: rowpipe's CSV is byte for byte what
//! `psql -c "\copy (<query>) TO STDOUT WITH (FORMAT csv, HEADER)"` prints, for every
//! built-in type family and edge value, through the CLI (stdout and `-o FILE`) and over
//! HTTP (configured datasets and schema-`public` discovery) alike, under the database's
//! own session settings, and whatever the chunk size.
//!
//! psql (through [`TestDb::copy_csv`]) is the reference: it shares no code with rowpipe.
//! The `csv` crate reads rowpipe's output back as an independent check that it is
//! well-formed CSV holding the values that went in.

use std::path::Path;

use crate::harness::{TestDb, TestServer, assert_bytes_eq, cluster, http, rowpipe, run_ok};

// ---------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------

/// One table with a column for every built-in type family (plus an enum, a composite and
/// a header that needs quoting), filled with edge values: each group of rows exercises one
/// family, row 10 fills every column at once and row 999 is NULL everywhere. Two views
/// give a single-column result (PostgreSQL quotes a lone `\.` only there) and an empty
/// one. xml values are inserted only if the server was built with libxml. The SQL is a
/// file of its own, which the Python package's tests load too.
pub(crate) const FIXTURE_SQL: &str = include_str!("../fixtures/everything.sql");

/// The results every path is compared on: (dataset name, query). Each name is also a
/// relation of the fixture, whose `SELECT *` gives the same rows (for `--table` and
/// discovery; the table's rows come back in insertion order, which is id order).
pub(crate) const QUERIES: &[(&str, &str)] = &[
    ("everything", "SELECT * FROM everything ORDER BY id"),
    ("lone_text", "SELECT t FROM everything ORDER BY id"),
    ("nothing", "SELECT * FROM everything WHERE false"),
];

/// A fresh database holding the fixture.
#[track_caller]
pub(crate) fn fixture_db(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    create_fixture(&db);
    db
}

/// Creates the fixture's types, table and views in `db`.
#[track_caller]
fn create_fixture(db: &TestDb) {
    db.execute(FIXTURE_SQL);
}

/// psql's CSV for the whole relation `name`, as `--table` and discovery query it.
#[track_caller]
fn reference_for_relation(db: &TestDb, name: &str) -> Vec<u8> {
    db.copy_csv(&format!("SELECT * FROM \"public\".\"{name}\""))
}

// ---------------------------------------------------------------------------------------
// The three ways out of rowpipe
// ---------------------------------------------------------------------------------------

/// `rowpipe export --database URL --sql QUERY [extra]`: its stdout.
#[track_caller]
pub(crate) fn export_sql_to_stdout(db: &TestDb, sql: &str, extra: &[&str]) -> Vec<u8> {
    run_ok(
        rowpipe()
            .args(["export", "--database", db.url(), "--sql", sql])
            .args(extra),
    )
    .stdout
}

/// `rowpipe export --database URL --table NAME -o FILE [extra]`: the file's contents.
/// Also checks that stdout stayed empty and that no `FILE.part` was left behind.
#[track_caller]
fn export_table_to_file(db: &TestDb, table: &str, extra: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(format!("{table}.csv"));
    let output = run_ok(
        rowpipe()
            .args(["export", "--database", db.url(), "--table", table, "-o"])
            .arg(&path)
            .args(extra),
    );
    assert!(
        output.stdout.is_empty(),
        "with -o, nothing belongs on stdout; got {} bytes",
        output.stdout.len()
    );
    assert_no_part_file(&path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[track_caller]
fn assert_no_part_file(path: &Path) {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    assert!(
        !Path::new(&part).exists(),
        "{} was left behind after a successful export",
        Path::new(&part).display()
    );
}

/// `[[dataset]]` entries for `QUERIES`, after `prelude` (e.g. a `[stream]` table).
pub(crate) fn datasets_config(prelude: &str) -> String {
    let mut config = format!("{prelude}\n");
    for (name, sql) in QUERIES {
        config.push_str(&format!(
            "\n[[dataset]]\nname = \"{name}\"\nsql = \"{sql}\"\n"
        ));
    }
    config
}

/// `GET /datasets/NAME.csv`: checks that it is a complete, chunked CSV download with the
/// documented headers, and returns the body.
#[track_caller]
fn download_csv(server: &TestServer, name: &str) -> Vec<u8> {
    let response = http::get_csv(server.addr(), &format!("/datasets/{name}.csv"));
    assert_eq!(
        response.header("content-disposition"),
        Some(format!("attachment; filename=\"{name}.csv\"").as_str())
    );
    response.body
}

/// Every way out (stdout, `--table -o FILE`, HTTP configured, HTTP discovered) gives
/// psql's bytes for every query of the fixture in `db`.
#[track_caller]
fn assert_every_path_matches_psql(db: &TestDb) {
    let configured = TestServer::start(db.url(), &datasets_config(""));
    let discovered = TestServer::start(db.url(), "");
    for (name, sql) in QUERIES {
        let expected = db.copy_csv(sql);
        assert_bytes_eq(export_sql_to_stdout(db, sql, &[]), &expected);
        assert_bytes_eq(download_csv(&configured, name), &expected);

        let expected = reference_for_relation(db, name);
        assert_bytes_eq(export_table_to_file(db, name, &[]), &expected);
        assert_bytes_eq(download_csv(&discovered, name), &expected);
    }
}

/// Sets `setting` (e.g. `timezone = 'UTC'`) as the fixture database's default, checks that
/// new sessions see `show` = `value` and that psql's output of the fixture contains
/// `marker` (so the setting really changes the bytes), then compares every path.
#[track_caller]
fn assert_matches_psql_under(setting: &str, show: &str, value: &str, marker: &str) {
    let db = fixture_db("out_setting");
    db.execute(&format!("ALTER DATABASE \"{}\" SET {setting}", db.name()));
    assert_eq!(db.query_scalar(&format!("SHOW {show}")), value);
    let reference = db.copy_csv(QUERIES[0].1);
    assert!(
        contains(&reference, marker.as_bytes()),
        "with {setting}, psql's output should contain {marker:?}; it is:\n{}",
        String::from_utf8_lossy(&reference)
    );
    assert_every_path_matches_psql(&db);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

// ---------------------------------------------------------------------------------------
// Every type and edge value
// ---------------------------------------------------------------------------------------

/// The fixture really holds the edge cases this file claims to check: psql's own output
/// has the quoted header, the distinct NULL and empty string, the CRLF value, the
/// single-column `"\."`, and the xml rows when xml is supported. Guards against a
/// fixture that silently shrank (which would make every comparison below vacuous).
#[test]
fn fixture_exercises_the_edge_cases() {
    let db = fixture_db("out_fixture");
    let everything = db.copy_csv(QUERIES[0].1);
    let header = everything.split(|&b| b == b'\n').next().unwrap();
    assert!(
        contains(header, br#","weird, ""name""","#),
        "{}",
        String::from_utf8_lossy(header)
    );
    for needle in [
        &b"\n20,,,,,,,,\"\",\"\",\"\",     ,\"\","[..],
        b"\n21,,,,,,,,,,,,,",
        b"\"crlf\r\nhere\"",
        b"\"cr\rhere\"",
        b",\\.,\\.,\\.,\\.   ,\\.,",
        b",NaN,NaN,NaN,",
        b",-Infinity,-Infinity,-Infinity,",
        b",1e-45,1e-310,",
        b",infinity,infinity,",
        b",0044-03-15 BC,",
        b",10000-01-01,",
        b",\\xdeadbeef,",
        b",\"[0:1]={1,2}\",",
        b",\"happy, \"\"very\"\"\",",
        b"\n999,,,,,,,",
    ] {
        assert!(
            contains(&everything, needle),
            "psql's output lacks {:?}",
            String::from_utf8_lossy(needle)
        );
    }
    let lone = db.copy_csv(QUERIES[1].1);
    assert!(
        contains(&lone, b"\n\"\\.\"\n"),
        "a lone \\. is quoted in single-column CSV"
    );
    let nothing = db.copy_csv(QUERIES[2].1);
    assert_eq!(
        nothing,
        header.iter().chain(b"\n").copied().collect::<Vec<u8>>()
    );
    if db.query_scalar("SELECT count(x) FROM everything") != "0" {
        assert!(contains(
            &everything,
            b"\"<a b=\"\"1\"\">x &amp; y, \"\"z\"\"</a>\""
        ));
    }
}

/// `rowpipe export --sql QUERY` prints psql's bytes on stdout for every query of the fixture.
#[test]
fn cli_stdout_matches_psql_for_every_type() {
    let db = fixture_db("out_cli_stdout");
    for (_, sql) in QUERIES {
        assert_bytes_eq(export_sql_to_stdout(&db, sql, &[]), db.copy_csv(sql));
    }
}

/// `rowpipe export --table NAME -o FILE` writes psql's bytes to FILE (and no FILE.part
/// remains), for the table and both views.
#[test]
fn cli_file_matches_psql_for_every_type() {
    let db = fixture_db("out_cli_file");
    for (name, _) in QUERIES {
        assert_bytes_eq(
            export_table_to_file(&db, name, &[]),
            reference_for_relation(&db, name),
        );
    }
    // Schema-qualified too, and to a file that already exists (it is replaced).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    std::fs::write(&path, b"stale contents that must disappear\n").unwrap();
    run_ok(
        rowpipe()
            .args(["export", "--quiet", "--database", db.url()])
            .args(["--table", "public.everything", "-o"])
            .arg(&path),
    );
    assert_no_part_file(&path);
    assert_bytes_eq(
        std::fs::read(&path).unwrap(),
        reference_for_relation(&db, "everything"),
    );
}

/// A configured dataset downloads as psql's bytes, as a complete chunked `text/csv`
/// response with an attachment file name.
#[test]
fn http_configured_datasets_match_psql_for_every_type() {
    let db = fixture_db("out_http_config");
    let server = TestServer::start(db.url(), &datasets_config(""));
    for (name, sql) in QUERIES {
        assert_bytes_eq(download_csv(&server, name), db.copy_csv(sql));
    }
}

/// Without `[[dataset]]` entries the table and views of schema `public` download as
/// psql's bytes for `SELECT * FROM` them.
#[test]
fn http_discovered_relations_match_psql_for_every_type() {
    let db = fixture_db("out_http_discover");
    let server = TestServer::start(db.url(), "");
    for (name, _) in QUERIES {
        assert_bytes_eq(
            download_csv(&server, name),
            reference_for_relation(&db, name),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Session settings: rowpipe's output follows the database's settings, as psql's does
// ---------------------------------------------------------------------------------------

/// A half-hour offset (and the 1900 local mean time offset, with seconds).
#[test]
fn timezone_st_johns_is_followed() {
    assert_matches_psql_under(
        "timezone = 'America/St_Johns'",
        "timezone",
        "America/St_Johns",
        "2024-02-29 08:04:56-03:30",
    );
}

/// A quarter-hour offset.
#[test]
fn timezone_kathmandu_is_followed() {
    assert_matches_psql_under(
        "timezone = 'Asia/Kathmandu'",
        "timezone",
        "Asia/Kathmandu",
        "2024-02-29 17:19:56+05:45",
    );
}

#[test]
fn timezone_utc_is_followed() {
    assert_matches_psql_under(
        "timezone = 'UTC'",
        "timezone",
        "UTC",
        "2024-02-29 11:34:56+00",
    );
}

#[test]
fn datestyle_sql_dmy_is_followed() {
    assert_matches_psql_under(
        "datestyle = 'SQL, DMY'",
        "datestyle",
        "SQL, DMY",
        "29/02/2024",
    );
}

#[test]
fn datestyle_german_is_followed() {
    assert_matches_psql_under(
        "datestyle = 'German'",
        "datestyle",
        "German, DMY",
        "29.02.2024",
    );
}

#[test]
fn intervalstyle_iso_8601_is_followed() {
    assert_matches_psql_under(
        "intervalstyle = 'iso_8601'",
        "intervalstyle",
        "iso_8601",
        "P1Y2M3DT4H5M6.789S",
    );
}

/// Fewer float digits than the shortest exact form PostgreSQL prints by default.
#[test]
fn extra_float_digits_0_is_followed() {
    assert_matches_psql_under(
        "extra_float_digits = 0",
        "extra_float_digits",
        "0",
        "1.79769313486232e+308",
    );
}

#[test]
fn bytea_output_escape_is_followed() {
    assert_matches_psql_under(
        "bytea_output = 'escape'",
        "bytea_output",
        "escape",
        r"\336\255\276\357",
    );
}

// ---------------------------------------------------------------------------------------
// A large result: many chunks, with chunk boundaries inside values
// ---------------------------------------------------------------------------------------

/// 200,000 rows, each with a multi-line quoted value, NULL / empty / non-ASCII values in
/// turn, and every 20,000th row longer than 64 KiB, so default-sized chunks end inside
/// values and one value spans several chunks.
const BIG_TABLE_SQL: &str = r#"
CREATE TABLE big AS
SELECT g AS id,
       'row ' || g || E'\nsecond, "line"\r\nthird' AS txt,
       CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE 'é日🎉' || g END AS maybe,
       CASE WHEN g % 20000 = 0 THEN repeat('x', 100000) || g END AS long,
       g * 1.5 AS num,
       timestamptz '2000-01-01 00:00:00+00' + g * interval '1 second' AS at
FROM generate_series(1, 200000) AS g;
"#;

const BIG_QUERY: &str = "SELECT * FROM big ORDER BY id";

/// A fresh database with `big`, and psql's CSV of it (checked to be as large as intended).
#[track_caller]
fn big_db(prefix: &str) -> (TestDb, Vec<u8>) {
    let db = cluster().create_database(prefix);
    db.execute(BIG_TABLE_SQL);
    let reference = db.copy_csv(BIG_QUERY);
    let lines = reference.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(lines, 1 + 200_000 * 3, "header plus three lines per row");
    assert!(
        reference.len() > 10 * 1024 * 1024,
        "{} bytes",
        reference.len()
    );
    (db, reference)
}

/// A slice of `big` for 7-byte chunks (millions of them would take minutes in a debug
/// build): still many thousands of chunks, multi-line values and one row over 64 KiB.
const BIG_SAMPLE_QUERY: &str =
    "SELECT * FROM big WHERE id % 40 = 0 AND (long IS NULL OR id = 20000) ORDER BY id";

/// The CLI's output of the large result is psql's: on stdout with the default chunking and
/// with 1000-byte chunks and no read-ahead, to a file, and in 7-byte chunks (a sample).
#[test]
fn large_result_matches_psql_through_the_cli() {
    let (db, reference) = big_db("out_big_cli");
    assert_bytes_eq(export_sql_to_stdout(&db, BIG_QUERY, &[]), &reference);
    let small_chunks = ["--chunk-size", "1000", "--prefetch-depth", "0"];
    assert_bytes_eq(
        export_sql_to_stdout(&db, BIG_QUERY, &small_chunks),
        &reference,
    );
    assert_bytes_eq(
        export_table_to_file(&db, "big", &small_chunks),
        reference_for_relation(&db, "big"),
    );
    assert_bytes_eq(
        export_sql_to_stdout(
            &db,
            BIG_SAMPLE_QUERY,
            &["--chunk-size", "7", "--prefetch-depth", "1"],
        ),
        db.copy_csv(BIG_SAMPLE_QUERY),
    );
}

/// Over HTTP the large result is psql's with the default chunking and with 1000-byte
/// chunks and no read-ahead; with `chunk_size = 7, prefetch_depth = 1` (a sample of it).
#[test]
fn large_result_matches_psql_over_http() {
    let (db, reference) = big_db("out_big_http");
    let config = format!(
        "[[dataset]]\nname = \"big\"\nsql = \"{BIG_QUERY}\"\n\n\
         [[dataset]]\nname = \"big_sample\"\nsql = \"{BIG_SAMPLE_QUERY}\"\n"
    );
    let server = TestServer::start(db.url(), &config);
    assert_bytes_eq(download_csv(&server, "big"), &reference);
    drop(server);

    let server = TestServer::start(
        db.url(),
        &format!("[stream]\nchunk_size = 1000\nprefetch_depth = 0\n\n{config}"),
    );
    assert_bytes_eq(download_csv(&server, "big"), &reference);
    drop(server);

    let server = TestServer::start(
        db.url(),
        &format!("[stream]\nchunk_size = 7\nprefetch_depth = 1\n\n{config}"),
    );
    let sample = db.copy_csv(BIG_SAMPLE_QUERY);
    assert!(sample.len() > 400_000, "{} bytes", sample.len());
    assert_bytes_eq(download_csv(&server, "big_sample"), &sample);
}

/// The fixture through tiny chunks too: every value of every type cut at every position.
#[test]
fn fixture_matches_psql_with_tiny_chunks() {
    let db = fixture_db("out_tiny_chunks");
    let server = TestServer::start(
        db.url(),
        &datasets_config("[stream]\nchunk_size = 7\nprefetch_depth = 1"),
    );
    for (name, sql) in QUERIES {
        let expected = db.copy_csv(sql);
        assert_bytes_eq(download_csv(&server, name), &expected);
        for chunking in [
            ["--chunk-size", "1", "--prefetch-depth", "0"],
            ["--chunk-size", "7", "--prefetch-depth", "1"],
        ] {
            assert_bytes_eq(export_sql_to_stdout(&db, sql, &chunking), &expected);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Read back with an independent parser
// ---------------------------------------------------------------------------------------

/// The raw bytes of each record of `csv` (header included), as the `csv` crate delimits
/// them, paired with the decoded fields.
fn records_with_raw_bytes(csv: &[u8]) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv);
    let mut parsed = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut start = 0usize;
    while reader
        .read_byte_record(&mut record)
        .expect("rowpipe's output is valid CSV")
    {
        let fields = record.iter().map(<[u8]>::to_vec).collect();
        parsed.push((start, fields));
        start = reader.position().byte() as usize;
    }
    let ends: Vec<usize> = parsed
        .iter()
        .skip(1)
        .map(|(start, _)| *start)
        .chain([csv.len()])
        .collect();
    parsed
        .into_iter()
        .zip(ends)
        .map(|((start, fields), end)| (csv[start..end].to_vec(), fields))
        .collect()
}

/// rowpipe's CSV of the fixture, read with the `csv` crate: one record per row, every
/// record as wide as the header, NULL (an empty unquoted field) and the empty string
/// (`""`) distinct in the raw bytes, and tricky values decoded back exactly.
#[test]
fn output_reads_back_with_an_independent_csv_parser() {
    let db = fixture_db("out_parse");
    let server = TestServer::start(db.url(), &datasets_config(""));
    let over_http = download_csv(&server, "everything");
    let from_cli = export_sql_to_stdout(&db, QUERIES[0].1, &[]);
    assert_bytes_eq(&over_http, &from_cli);

    let records = records_with_raw_bytes(&from_cli);
    let row_count: usize = db
        .query_scalar("SELECT count(*) FROM everything")
        .parse()
        .unwrap();
    assert_eq!(
        records.len(),
        1 + row_count,
        "header plus one record per row"
    );
    let header = &records[0].1;
    let column_count: usize = db
        .query_scalar(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'everything'",
        )
        .parse()
        .unwrap();
    assert_eq!(header.len(), column_count);
    for (raw, fields) in &records {
        assert_eq!(
            fields.len(),
            column_count,
            "record {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    let column = |name: &str| {
        header
            .iter()
            .position(|field| field == name.as_bytes())
            .unwrap_or_else(|| panic!("no column {name:?} in the header"))
    };
    let row = |id: &str| {
        records
            .iter()
            .find(|(_, fields)| fields[0] == id.as_bytes())
            .unwrap_or_else(|| panic!("no row with id {id}"))
    };
    let value = |id: &str, name: &str| String::from_utf8(row(id).1[column(name)].clone()).unwrap();

    // NULL and the empty string decode alike, so they must differ in the raw bytes.
    let (empty_raw, _) = row("20");
    let (null_raw, _) = row("21");
    assert_eq!(value("20", "t"), "");
    assert_eq!(value("21", "t"), "");
    assert!(
        empty_raw.starts_with(b"20,,,,,,,,\"\",\"\",\"\","),
        "{:?}",
        String::from_utf8_lossy(empty_raw)
    );
    assert_eq!(
        null_raw,
        &format!("21{}\n", ",".repeat(column_count - 1)).into_bytes()
    );
    assert_eq!(
        row("999").0,
        format!("999{}\n", ",".repeat(column_count - 1)).into_bytes()
    );

    let weird = column("weird, \"name\"");
    assert_eq!(weird, 9);
    assert_eq!(value("26", "t"), "crlf\r\nhere");
    assert_eq!(value("24", "t"), "cr\rhere");
    assert_eq!(value("25", "t"), "lf\nhere");
    assert_eq!(value("26", "weird, \"name\""), "\r\n");
    assert_eq!(value("22", "t"), "say \"hi\"");
    assert_eq!(value("23", "t"), "a,b");
    assert_eq!(value("28", "t"), "back\\slash");
    assert_eq!(value("29", "t"), "\\.");
    assert_eq!(value("30", "t"), "  padded  ");
    assert_eq!(value("32", "t"), "🎉 emoji 👩‍👩‍👧");
    assert_eq!(value("31", "weird, \"name\""), "日本語");
    assert_eq!(value("20", "bp"), "     ");
    assert_eq!(value("1", "i8"), "-9223372036854775808");
    assert_eq!(value("8", "f8"), "1.7976931348623157e+308");
    assert_eq!(value("10", "by"), "\\xdeadbeef");
    assert_eq!(value("10", "js"), "{\"k\": \"v, w\"}");
    assert_eq!(
        value("80", "ta"),
        "{a,NULL,\"\",\"q\\\"uote\",\"com,ma\",\"NULL\",\"sp ace\",\"new\nline\",\"back\\\\slash\",\"{brace}\"}"
    );
    assert_eq!(value("121", "e"), "happy, \"very\"");

    // The single-column result: `\.` must come back as a value, not end the data. A NULL
    // there is an empty line, which CSV readers (the `csv` crate among them) skip, while
    // the empty string is `""`, so only the non-NULL values come back as records.
    let lone = export_sql_to_stdout(&db, QUERIES[1].1, &[]);
    let lone_records = records_with_raw_bytes(&lone);
    let non_null: usize = db
        .query_scalar("SELECT count(t) FROM everything")
        .parse()
        .unwrap();
    assert_eq!(lone_records.len(), 1 + non_null);
    assert_eq!(
        lone.iter().filter(|&&b| b == b'\n').count(),
        1 + row_count + 3,
        "one line per row, plus the header and the three line breaks inside values"
    );
    assert!(
        lone_records
            .iter()
            .any(|(raw, fields)| raw == b"\"\\.\"\n" && fields == &[b"\\.".to_vec()])
    );
}
