//! The typed engine's two building blocks against the real server: PostgreSQL's binary COPY,
//! decoded by `CopyBinaryDecoder` and written out by `CsvWriter`, must give byte for byte
//! the CSV PostgreSQL itself writes for the same query (psql's `\copy`).
//!
//! Every query here returns only `text` columns, so a field's binary form is its text; the
//! other types' binary forms are the typed engine's business.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use rowpipe::encode::{CsvOptions, CsvWriter};
use rowpipe::source::postgres::CopyBinaryDecoder;

use crate::harness::psql::psql;
use crate::harness::{TestDb, assert_bytes_eq, cluster, run_ok};

/// A table of values that CSV writers get wrong. Inserted through psql, so `E'...'`
/// escapes put real CR and LF bytes in the data (queries given to `\copy` must stay on one
/// line).
const NASTY_TABLE: &str = r#"
CREATE TABLE nasty (id int PRIMARY KEY, a text, b text);
INSERT INTO nasty VALUES
    (1, NULL, ''),
    (2, '', NULL),
    (3, NULL, NULL),
    (4, 'plain', 'with space'),
    (5, 'say "hi"', '"'),
    (6, 'a,b', ','),
    (7, E'line\nbreak', E'\n'),
    (8, E'carriage\rreturn', E'\r'),
    (9, E'crlf\r\nend', E'\r\n'),
    (10, '\.', E'\\.\n'),
    (11, 'ünïcödé ✓ 日本語', '🎉'),
    (12, repeat('long,"value" ', 20000), repeat('x', 100000)),
    (13, ' padded ', E'\ttab'),
    (14, 'NULL', '\N'),
    (15, '\', '"",""'),
    (16, '.', E'\\.\r');
"#;

/// A single-column table: `\.` alone on a line must be quoted there.
const SINGLE_TABLE: &str = r#"
CREATE TABLE single (id int PRIMARY KEY, v text);
INSERT INTO single VALUES (1, '\.'), (2, NULL), (3, ''), (4, '\.x'), (5, '.'), (6, '\');
"#;

/// What `COPY (query) TO STDOUT (FORMAT binary)` sends, piece by piece as received.
fn copy_binary(db: &TestDb, query: &str) -> (Vec<String>, Vec<Bytes>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", db.url()));
        tokio::spawn(connection);
        let statement = client.prepare(query).await.expect("prepare the query");
        let names = statement
            .columns()
            .iter()
            .map(|column| column.name().to_owned())
            .collect();
        let copy = client
            .copy_out(&format!("COPY ({query}) TO STDOUT (FORMAT binary)"))
            .await
            .expect("start COPY");
        let mut copy = std::pin::pin!(copy);
        let mut pieces = Vec::new();
        while let Some(piece) = copy.next().await {
            pieces.push(piece.expect("COPY data"));
        }
        (names, pieces)
    })
}

/// The CSV for `names` and the binary COPY `pieces`, through decoder and writer.
/// `force_quote`: every non-NULL value quoted (`FORCE_QUOTE *`).
fn encode_csv(
    names: &[String],
    pieces: &[Bytes],
    options: &CsvOptions,
    force_quote: bool,
) -> Vec<u8> {
    let writer = CsvWriter::new(options, names.len()).expect("valid options");
    let mut decoder = CopyBinaryDecoder::new(names.len());
    let mut out = BytesMut::new();
    writer.write_header(&mut out, names);
    for piece in pieces {
        decoder.push(piece.clone());
        while let Some(row) = decoder.next_row().expect("valid binary COPY") {
            writer.write_row(&mut out, row.fields(), force_quote);
        }
    }
    assert!(decoder.is_done(), "the trailer was read");
    decoder.finish().expect("a complete binary COPY stream");
    out.to_vec()
}

/// The same bytes cut into pieces of `size`, ignoring where the server's messages ended.
fn recut(pieces: &[Bytes], size: usize) -> Vec<Bytes> {
    let all: Vec<u8> = pieces
        .iter()
        .flat_map(|piece| piece.iter().copied())
        .collect();
    all.chunks(size).map(Bytes::copy_from_slice).collect()
}

/// PostgreSQL's CSV for `query` with extra `\copy` options after `FORMAT csv, HEADER`.
fn psql_csv_with(db: &TestDb, query: &str, options: &str) -> Vec<u8> {
    let command = format!("\\copy ({query}) TO STDOUT WITH (FORMAT csv, HEADER, {options})");
    run_ok(psql(db.url()).args(["-c", &command])).stdout
}

/// Checks the decoder and writer against psql for `query`, with the server's own pieces
/// and with the same bytes cut at odd places.
#[track_caller]
fn assert_same_as_postgres(db: &TestDb, query: &str) {
    let (names, pieces) = copy_binary(db, query);
    let expected = db.copy_csv(query);
    assert_bytes_eq(
        encode_csv(&names, &pieces, &CsvOptions::default(), false),
        &expected,
    );
    for size in [1, 7, 4096] {
        assert_bytes_eq(
            encode_csv(&names, &recut(&pieces, size), &CsvOptions::default(), false),
            &expected,
        );
    }
}

#[test]
fn nasty_text_values_encode_like_postgres() {
    let db = cluster().create_database("copy_binary_nasty");
    db.execute(NASTY_TABLE);
    assert_same_as_postgres(&db, "SELECT id::text, a, b FROM nasty ORDER BY id");
}

#[test]
fn nasty_column_names_encode_like_postgres() {
    let db = cluster().create_database("copy_binary_names");
    db.execute(NASTY_TABLE);
    assert_same_as_postgres(
        &db,
        r#"SELECT id::text AS "id, ""quoted""", a AS " a ", b AS "ü" FROM nasty ORDER BY id"#,
    );
}

#[test]
fn a_lone_backslash_dot_in_a_single_column_encodes_like_postgres() {
    let db = cluster().create_database("copy_binary_single");
    db.execute(SINGLE_TABLE);
    assert_same_as_postgres(&db, "SELECT v FROM single ORDER BY id");
    // The header is a line of its own too.
    assert_same_as_postgres(&db, r#"SELECT v AS "\." FROM single ORDER BY id"#);
}

#[test]
fn an_empty_result_is_the_header_alone() {
    let db = cluster().create_database("copy_binary_empty");
    db.execute(NASTY_TABLE);
    let query = "SELECT a, b FROM nasty WHERE false";
    let (names, pieces) = copy_binary(&db, query);
    let csv = encode_csv(&names, &pieces, &CsvOptions::default(), false);
    assert_bytes_eq(&csv, "a,b\n");
    assert_bytes_eq(&csv, db.copy_csv(query));
}

#[test]
fn the_server_sends_the_header_with_the_first_tuple_and_the_trailer_alone() {
    // The decoder does not rely on this; the test documents what it is tuned for.
    let db = cluster().create_database("copy_binary_pieces");
    db.execute(NASTY_TABLE);
    let (_, pieces) = copy_binary(&db, "SELECT a, b FROM nasty ORDER BY id");
    assert_eq!(pieces.len(), 16 + 1, "one piece per row, and the trailer");
    assert!(pieces[0].starts_with(b"PGCOPY\n\xff\r\n\0"));
    assert_eq!(&pieces[16][..], b"\xff\xff");
}

#[test]
fn other_options_encode_like_postgres() {
    let db = cluster().create_database("copy_binary_options");
    db.execute(NASTY_TABLE);
    let query = r#"SELECT id::text, a, b AS "NULL" FROM nasty ORDER BY id"#;
    let (names, pieces) = copy_binary(&db, query);

    let semicolon_null_all = CsvOptions {
        delimiter: b';',
        null: "NULL".to_owned(),
        ..CsvOptions::default()
    };
    assert_bytes_eq(
        encode_csv(&names, &pieces, &semicolon_null_all, true),
        psql_csv_with(&db, query, "DELIMITER ';', NULL 'NULL', FORCE_QUOTE *"),
    );

    let quote_escape_tab = CsvOptions {
        delimiter: b'\t',
        quote: b'\'',
        escape: Some(b'\\'),
        null: "\\N".to_owned(),
    };
    assert_bytes_eq(
        encode_csv(&names, &pieces, &quote_escape_tab, false),
        psql_csv_with(
            &db,
            query,
            r"DELIMITER E'\t', QUOTE '''', ESCAPE '\', NULL '\N'",
        ),
    );
}
