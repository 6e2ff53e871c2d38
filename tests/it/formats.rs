//! The typed engine's formats and options against PostgreSQL's own output, on the fixture
//! of `output.rs` (every type family and edge value): `tsv` against `\copy (FORMAT text,
//! HEADER)`, `jsonl` against `row_to_json`, `json` against the same objects in one array, the CSV
//! options against `\copy` with the same options, Excel mode, and the copy engine.
//!
//! `output.rs` already compares the default (typed) CSV with psql under many session
//! settings; this file covers everything else the encoders write.

use crate::harness::{
    TestDb, TestServer, assert_bytes_eq, http, psql_copy, psql_json_array, psql_row_to_json,
    rowpipe, run,
};
use crate::output::{QUERIES, datasets_config, export_sql_to_stdout, fixture_db};

/// `GET path` on `server`: a complete 200 download; returns the body.
#[track_caller]
fn download(server: &TestServer, path: &str, content_type: &str) -> Vec<u8> {
    let response = http::get(server.addr(), path);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some(content_type),
        "{path}"
    );
    assert!(response.is_chunked(), "{path} is streamed");
    response.body
}

#[test]
fn tsv_matches_copy_text_format_for_every_type() {
    let db = fixture_db("fmt_tsv");
    let server = TestServer::start(db.url(), &datasets_config(""));
    for (name, sql) in QUERIES {
        let expected = psql_copy(db.url(), sql, "FORMAT text, HEADER");
        assert_bytes_eq(
            export_sql_to_stdout(&db, sql, &["--format", "tsv"]),
            &expected,
        );
        let body = download(
            &server,
            &format!("/datasets/{name}.tsv"),
            "text/tab-separated-values; charset=utf-8",
        );
        assert_bytes_eq(body, &expected);
        let headless = psql_copy(db.url(), sql, "FORMAT text");
        assert_bytes_eq(
            export_sql_to_stdout(&db, sql, &["--format", "tsv", "--header", "false"]),
            &headless,
        );
    }
}

#[test]
fn jsonl_matches_row_to_json_for_every_type() {
    let db = fixture_db("fmt_jsonl");
    let server = TestServer::start(db.url(), &datasets_config(""));
    for (name, sql) in QUERIES {
        let expected = psql_row_to_json(db.url(), sql);
        let exported = export_sql_to_stdout(&db, sql, &["--format", "jsonl"]);
        assert_bytes_eq(&exported, &expected);
        let body = download(
            &server,
            &format!("/datasets/{name}.jsonl"),
            "application/x-ndjson",
        );
        assert_bytes_eq(body, &expected);
    }
}

#[test]
fn jsonl_follows_the_session_time_zone_and_settings() {
    for setting in [
        "timezone = 'America/St_Johns'",
        "timezone = 'Asia/Kathmandu'",
        "datestyle = 'SQL, DMY'",
        "intervalstyle = 'iso_8601'",
        "extra_float_digits = 0",
        "bytea_output = 'escape'",
    ] {
        let db = fixture_db("fmt_jsonl_set");
        db.execute(&format!("ALTER DATABASE \"{}\" SET {setting}", db.name()));
        let sql = QUERIES[0].1;
        let expected = psql_row_to_json(db.url(), sql);
        assert_bytes_eq(
            export_sql_to_stdout(&db, sql, &["--format", "jsonl"]),
            &expected,
        );
        let tsv = psql_copy(db.url(), sql, "FORMAT text, HEADER");
        assert_bytes_eq(export_sql_to_stdout(&db, sql, &["--format", "tsv"]), &tsv);
    }
}

#[test]
fn json_is_one_array_of_the_jsonl_objects() {
    let db = fixture_db("fmt_json");
    let server = TestServer::start(db.url(), &datasets_config(""));
    for (name, sql) in QUERIES {
        let expected = psql_json_array(db.url(), sql);
        assert_bytes_eq(
            export_sql_to_stdout(&db, sql, &["--format", "json"]),
            &expected,
        );
        let body = download(
            &server,
            &format!("/datasets/{name}.json"),
            "application/json",
        );
        assert_bytes_eq(body, &expected);
    }
    for sql in [
        "SELECT 1 AS a WHERE false",
        "SELECT * FROM (VALUES (1, 'a'), (2, NULL)) AS v(n, s)",
    ] {
        assert_bytes_eq(
            export_sql_to_stdout(&db, sql, &["--format", "json"]),
            psql_json_array(db.url(), sql),
        );
    }
    // The reference itself, spelled out for the two smallest cases.
    assert_eq!(
        psql_json_array(db.url(), "SELECT 1 AS a WHERE false"),
        b"[\n]\n"
    );
    assert_eq!(
        psql_json_array(
            db.url(),
            "SELECT * FROM (VALUES (1, 'a'), (2, NULL)) AS v(n, s)"
        ),
        b"[\n{\"n\":1,\"s\":\"a\"},\n{\"n\":2,\"s\":null}\n]\n"
    );
}

/// rowpipe's CLI flags and query-string options against psql's `\copy` with the same
/// options.
#[test]
fn csv_options_match_copy_with_the_same_options() {
    let db = fixture_db("fmt_csv_opts");
    let server = TestServer::start(db.url(), &datasets_config(""));
    let sql = QUERIES[0].1;
    let non_numeric: Vec<String> = db
        .query_scalar(
            "SELECT string_agg(quote_ident(attname), '|' ORDER BY attnum) FROM pg_attribute \
             WHERE attrelid = 'everything'::regclass AND attnum > 0 AND NOT attisdropped \
             AND atttypid NOT IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, \
             'float4'::regtype, 'float8'::regtype, 'numeric'::regtype, 'oid'::regtype, \
             'money'::regtype)",
        )
        .split('|')
        .map(str::to_owned)
        .collect();
    let cases: [(&[&str], &str, String); 8] = [
        // A delimiter, a quote or a NULL string that numbers and dates can contain.
        (
            &["--delimiter", "."],
            "delimiter=.",
            "FORMAT csv, HEADER, DELIMITER '.'".to_owned(),
        ),
        (
            &["--delimiter", "-"],
            "delimiter=-",
            "FORMAT csv, HEADER, DELIMITER '-'".to_owned(),
        ),
        (
            &["--null", "0"],
            "null=0",
            "FORMAT csv, HEADER, NULL '0'".to_owned(),
        ),
        (
            &["--header", "false"],
            "header=false",
            "FORMAT csv".to_owned(),
        ),
        (
            &["--delimiter", ";"],
            "delimiter=%3B",
            "FORMAT csv, HEADER, DELIMITER ';'".to_owned(),
        ),
        (
            &["--null", "NULL"],
            "null=NULL",
            "FORMAT csv, HEADER, NULL 'NULL'".to_owned(),
        ),
        (
            &["--quote", "all"],
            "quote=all",
            "FORMAT csv, HEADER, FORCE_QUOTE *".to_owned(),
        ),
        (
            &["--quote", "nonnumeric"],
            "quote=nonnumeric",
            format!(
                "FORMAT csv, HEADER, FORCE_QUOTE ({})",
                non_numeric.join(", ")
            ),
        ),
    ];
    for (flags, query, copy_options) in cases {
        let expected = psql_copy(db.url(), sql, &copy_options);
        assert_bytes_eq(export_sql_to_stdout(&db, sql, flags), &expected);
        let body = download(
            &server,
            &format!("/datasets/everything.csv?{query}"),
            "text/csv; charset=utf-8",
        );
        assert_bytes_eq(body, &expected);
    }
}

#[test]
fn excel_mode_guards_formulas_in_text_cells_only() {
    let db = cluster_db("fmt_excel");
    let sql = "SELECT * FROM (VALUES \
        (1, '=1+1', -5, '-infinity'::date, '@home', 'a\tb'), \
        (2, '+x', 3, '2024-01-01'::date, E'\\tlead', '-'), \
        (3, 'plain', NULL, NULL, NULL, NULL)) AS v(id, t, n, d, at, other)";
    let csv = export_sql_to_stdout(&db, sql, &["--excel"]);
    let expected = "\u{feff}id,t,n,d,at,other\r\n\
        1,'=1+1,-5,-infinity,'@home,a\tb\r\n\
        2,'+x,3,2024-01-01,'\tlead,'-\r\n\
        3,plain,,,,\r\n";
    assert_eq!(String::from_utf8(csv.clone()).unwrap(), expected);
    // An independent reader sees the same cells.
    let mut reader = csv::ReaderBuilder::new().from_reader(&csv[3..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[1][4], "'\tlead");
    let server = TestServer::start(
        db.url(),
        &format!(
            "[[dataset]]\nname = \"sheet\"\nsql = \"{}\"\n",
            sql.replace('\\', "\\\\")
        ),
    );
    let body = download(
        &server,
        "/datasets/sheet.csv?excel=true",
        "text/csv; charset=utf-8",
    );
    assert_bytes_eq(body, expected);
}

/// A spreadsheet reads the header line like any other: a column name that looks like a
/// formula is guarded as a text cell's value would be (and only in Excel mode).
#[test]
fn excel_mode_guards_formula_like_column_names() {
    let db = cluster_db("fmt_excel_header");
    let sql = r#"SELECT 1 AS "=1+2", 2 AS "@sum", 3 AS "-x", 4 AS "a=b", 5 AS "+""q"",""""#;
    let csv = export_sql_to_stdout(&db, sql, &["--excel"]);
    let expected = "\u{feff}'=1+2,'@sum,'-x,a=b,\"'+\"\"q\"\",\"\"\"\r\n1,2,3,4,5\r\n";
    assert_eq!(String::from_utf8(csv.clone()).unwrap(), expected);
    let mut reader = csv::ReaderBuilder::new().from_reader(&csv[3..]);
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[4], "'+\"q\",\"");
    // Without Excel mode the names are as PostgreSQL writes them.
    assert_bytes_eq(export_sql_to_stdout(&db, sql, &[]), db.copy_csv(sql));
}

#[test]
fn copy_engine_still_passes_the_servers_output_through() {
    let db = fixture_db("fmt_copy");
    let server = TestServer::start(db.url(), &datasets_config("[stream]\nengine = \"copy\""));
    for (name, sql) in QUERIES {
        let expected = db.copy_csv(sql);
        assert_bytes_eq(
            export_sql_to_stdout(&db, sql, &["--engine", "copy"]),
            &expected,
        );
        let body = download(
            &server,
            &format!("/datasets/{name}.csv"),
            "text/csv; charset=utf-8",
        );
        assert_bytes_eq(body, &expected);
        let tsv = psql_copy(db.url(), sql, "FORMAT text, HEADER");
        assert_bytes_eq(
            export_sql_to_stdout(&db, sql, &["--engine", "copy", "--format", "tsv"]),
            &tsv,
        );
    }
    let response = http::get(server.addr(), "/datasets/everything.jsonl");
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["code"], "invalid_option");
}

#[test]
fn bad_options_are_rejected_before_any_query() {
    let db = fixture_db("fmt_bad");
    let server = TestServer::start(db.url(), &datasets_config(""));
    for (query, message) in [
        (
            "header=yes",
            "option header has an invalid value \"yes\": true or false",
        ),
        (
            "delimiter=%3B%3B",
            "option delimiter has an invalid value \";;\": a single one-byte character",
        ),
        (
            "quote=some",
            "option quote has an invalid value \"some\": minimal, all or nonnumeric",
        ),
        ("delimiter=%22", "delimiter and quote must be different"),
        ("null=a%2Cb", "delimiter must not appear in the null string"),
    ] {
        let response = http::get(server.addr(), &format!("/datasets/everything.csv?{query}"));
        assert_eq!(response.status, 400, "{query}: {}", response.text());
        let error = &response.json()["error"];
        assert_eq!(error["code"], "invalid_option", "{query}");
        assert_eq!(error["message"], message, "{query}");
    }
    for flags in [
        &["--header", "maybe"][..],
        &["--delimiter", ""],
        &["--quote", "none"],
        &["--engine", "copy", "--format", "json"],
        &["--engine", "fast"],
    ] {
        let output = run(rowpipe()
            .args(["export", "--database", db.url(), "--sql", "SELECT 1"])
            .args(flags));
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        assert!(output.stdout.is_empty());
        assert!(!output.stderr.is_empty());
    }
}

fn cluster_db(prefix: &str) -> TestDb {
    crate::harness::cluster().create_database(prefix)
}

#[test]
fn excel_warns_when_the_result_passes_the_sheet_limit() {
    let db = cluster_db("fmt_excel_rows");
    // With the header, 1,048,575 data rows fill a sheet exactly; one more does not fit.
    for (rows, warned) in [(1_048_575, false), (1_048_576, true)] {
        let output = run(rowpipe()
            .args(["export", "--database", db.url(), "-q", "--excel"])
            .args([
                "--sql",
                &format!("SELECT i FROM generate_series(1, {rows}) AS i"),
            ]));
        assert!(output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.contains("the most Excel shows in one sheet"),
            warned,
            "{rows} rows: {stderr}"
        );
    }
    // One connection: the estimate must not wait for the one the download holds.
    let server = TestServer::start(
        db.url(),
        "[database]\npool_size = 1\n\n[[dataset]]\nname = \"many\"\n\
         sql = \"SELECT i FROM generate_series(1, 2000000) AS i\"\n",
    );
    let response = http::get(server.addr(), "/datasets/many.csv?excel=true&limit=1100000");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("x-rowpipe-warning"),
        Some("an estimated 1100000 rows; Excel shows at most 1048576 rows per sheet")
    );
    let small = http::get(server.addr(), "/datasets/many.csv?excel=true&limit=10");
    assert_eq!(small.header("x-rowpipe-warning"), None);
    let plain = http::get(server.addr(), "/datasets/many.csv?limit=10");
    assert_eq!(plain.header("x-rowpipe-warning"), None);
}

/// The Excel row estimate runs the dataset's text through `EXPLAIN`: it must not run a
/// second statement hidden in it, any more than the export does.
#[test]
fn excel_estimate_runs_nothing_but_explain() {
    let db = cluster_db("fmt_excel_one_statement");
    let server = TestServer::start(
        db.url(),
        "[[dataset]]\nname = \"two\"\nsql = \"SELECT 1 AS a; CREATE TABLE written (x int)\"\n",
    );
    let response = http::get(server.addr(), "/datasets/two.csv?excel=true");
    assert_eq!(response.status, 500, "{}", response.text());
    assert_eq!(
        db.query_scalar("SELECT count(*) FROM pg_class WHERE relname = 'written'"),
        "0"
    );
}
