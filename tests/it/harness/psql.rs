//! psql as the reference implementation.
//!
//! rowpipe must produce the same CSV as PostgreSQL's own `COPY ... TO STDOUT WITH
//! (FORMAT csv, HEADER)`. [`psql_copy_csv`] asks psql for exactly that, so tests can
//! compare rowpipe's bytes against the server's, and the other helpers give the rest of
//! the harness a psql with a predictable environment.

use std::process::{Command, Stdio};

use super::cluster::pg_program;
use super::process::{run, run_ok, run_with_input, scrub_pg_env};

/// A `psql -X -v ON_ERROR_STOP=1 -d DB_URL` command with a clean environment.
///
/// * `-X` skips `~/.psqlrc`, which could change output formatting.
/// * `ON_ERROR_STOP=1` makes psql exit non-zero on the first SQL error instead of
///   carrying on and exiting 0.
/// * All `PG*` variables are removed, then `PGCLIENTENCODING=UTF8` is set, so psql
///   passes through exactly the bytes the server sends with `client_encoding` UTF8 —
///   the encoding rowpipe uses.
/// * Stdin is `/dev/null`, so psql never waits for a terminal.
pub fn psql(db_url: &str) -> Command {
    let mut cmd = Command::new(pg_program("psql"));
    scrub_pg_env(&mut cmd)
        .env("PGCLIENTENCODING", "UTF8")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", db_url])
        .stdin(Stdio::null());
    cmd
}

/// The CSV (with header) that PostgreSQL itself produces for `query`, byte for byte.
///
/// Runs `\copy (QUERY) TO STDOUT WITH (FORMAT csv, HEADER)`. `\copy` takes the rest of
/// its line as its argument, so newlines in `query` are replaced with spaces; do not use
/// `--` comments in the query, they would swallow the rest of it. Panics with psql's
/// stderr if the query fails.
#[track_caller]
pub fn psql_copy_csv(db_url: &str, query: &str) -> Vec<u8> {
    let command = format!(
        "\\copy ({}) TO STDOUT WITH (FORMAT csv, HEADER)",
        single_line(query)
    );
    run_ok(psql(db_url).args(["-c", &command])).stdout
}

/// What PostgreSQL itself produces for `query` with `\copy ... TO STDOUT WITH (OPTIONS)`,
/// e.g. `FORMAT text, HEADER` or `FORMAT csv, DELIMITER ';', FORCE_QUOTE *`. Same rules
/// as [`psql_copy_csv`].
#[track_caller]
pub fn psql_copy(db_url: &str, query: &str, options: &str) -> Vec<u8> {
    let command = format!("\\copy ({}) TO STDOUT WITH ({options})", single_line(query));
    run_ok(psql(db_url).args(["-c", &command])).stdout
}

/// `SELECT row_to_json(q) FROM (QUERY) q` as psql prints it unaligned, one JSON object
/// per line: the server's text, except that line breaks (which row_to_json leaves only
/// in embedded `json` values, as whitespace between tokens) are turned into spaces, as
/// JSON Lines needs and rowpipe does.
#[track_caller]
pub fn psql_row_to_json(db_url: &str, query: &str) -> Vec<u8> {
    let sql = format!("SELECT translate(row_to_json(q)::text, E'\\n\\r', '  ') FROM ({query}) q");
    run_ok(psql(db_url).args(["-A", "-t", "-q", "-c", &sql])).stdout
}

/// The `json` format's document for `query`, built from [`psql_row_to_json`]'s lines: `[`,
/// the objects one per line separated by commas, `]`, each on its own line (`[\n]\n` for
/// no rows). Compared byte for byte, this holds rowpipe to `row_to_json`'s key order,
/// spacing and number spelling, which parsing both sides would hide.
#[track_caller]
pub fn psql_json_array(db_url: &str, query: &str) -> Vec<u8> {
    let lines = psql_row_to_json(db_url, query);
    let objects: Vec<&[u8]> = lines
        .strip_suffix(b"\n")
        .map(|lines| lines.split(|&byte| byte == b'\n').collect())
        .unwrap_or_default();
    let mut document = b"[\n".to_vec();
    document.extend(objects.join(&b",\n"[..]));
    if !objects.is_empty() {
        document.push(b'\n');
    }
    document.extend_from_slice(b"]\n");
    document
}

/// Runs an SQL script (any number of statements) and panics with psql's stderr if any
/// statement fails.
///
/// The script goes through stdin rather than `-c`, so each statement runs in its own
/// transaction as in an ordinary script, and statements like `CREATE DATABASE` or
/// `VACUUM` that refuse to run inside a transaction block work.
#[track_caller]
pub fn psql_execute(db_url: &str, sql: &str) {
    let mut cmd = psql(db_url);
    cmd.args(["-q", "-f", "-"]);
    let output = run_with_input(&mut cmd, sql.as_bytes());
    if !output.status.success() {
        panic!(
            "SQL failed on {db_url}\n--- sql ---\n{}\n--- psql stderr ---\n{}",
            truncated(sql),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

/// The single value returned by `sql`, as psql prints it unaligned (`-XAtq`): no
/// header, no padding, `NULL` as the empty string, trailing newline removed.
#[track_caller]
pub fn psql_query_scalar(db_url: &str, sql: &str) -> String {
    let mut cmd = psql(db_url);
    cmd.args(["-A", "-t", "-q", "-c", sql]);
    let output = run(&mut cmd);
    if !output.status.success() {
        panic!(
            "query failed on {db_url}\n--- sql ---\n{}\n--- psql stderr ---\n{}",
            truncated(sql),
            String::from_utf8_lossy(&output.stderr),
        );
    }
    let text = String::from_utf8(output.stdout).expect("psql printed invalid UTF-8");
    text.strip_suffix('\n').unwrap_or(&text).to_owned()
}

fn single_line(query: &str) -> String {
    query.replace(['\r', '\n'], " ")
}

/// SQL shortened for panic messages (test data scripts can be long).
fn truncated(sql: &str) -> String {
    const LIMIT: usize = 2000;
    match sql.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{} ... ({} bytes in total)", &sql[..cut], sql.len()),
        None => sql.to_owned(),
    }
}
