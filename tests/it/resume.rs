//! `rowpipe export -o FILE --resume`: a broken export's `FILE.part`, continued, becomes
//! byte for byte PostgreSQL's own output for the query (`COPY`, `row_to_json`), whatever
//! byte the break fell on.

use std::path::Path;
use std::sync::Mutex;
use std::thread;

use crate::harness::{
    TestDb, assert_bytes_eq, cluster, psql_copy, psql_copy_csv, psql_row_to_json, rowpipe, run,
};
use rowpipe::sink::file::part_path;

/// Resumed exports run side by side: each is a process with a database round trip, and
/// a cut at every byte makes about a thousand of them.
const RESUME_WORKERS: usize = 4;

/// Rows whose text holds everything a row scanner could trip on: quoted line breaks,
/// doubled quotes, delimiters, tabs, backslashes and NULLs; keys that sort as numbers and
/// as timestamps.
fn resume_db(prefix: &str) -> TestDb {
    resume_db_with_rows(prefix, 400)
}

/// [`resume_db`] with `rows` rows; five show every kind of value once.
fn resume_db_with_rows(prefix: &str, rows: u32) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(&format!(
        "CREATE TABLE events (id int PRIMARY KEY, at timestamptz UNIQUE, body text, n numeric);
         INSERT INTO events
         SELECT i, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 hour 1.5 seconds',
                CASE i % 5
                    WHEN 0 THEN NULL
                    WHEN 1 THEN E'line\\nbreak, \"quoted\"\\r\\n' || i
                    WHEN 2 THEN E'tab\\there \\\\ back' || i
                    WHEN 3 THEN ''
                    ELSE repeat('x', i % 97) END,
                i * 1.5
         FROM generate_series(1, {rows}) AS i;"
    ));
    db
}

/// The query every export in this file runs.
fn events_sql(order: &str) -> String {
    format!("SELECT * FROM events ORDER BY {order}")
}

/// PostgreSQL's own output for `sql` in `format` (with a header for csv and tsv): what a
/// resumed export must be, byte for byte.
fn reference(db: &TestDb, sql: &str, format: &str) -> Vec<u8> {
    match format {
        "csv" => psql_copy_csv(db.url(), sql),
        "tsv" => psql_copy(db.url(), sql, "FORMAT text, HEADER"),
        "jsonl" => psql_row_to_json(db.url(), sql),
        other => panic!("no reference for {other}"),
    }
}

fn export(
    db: &TestDb,
    key: &str,
    order: &str,
    format: &str,
    path: &Path,
    extra: &[&str],
) -> std::process::Output {
    run(rowpipe()
        .args(["export", "--database", db.url(), "-q", "--format", format])
        .args(["--sql", &events_sql(order)])
        .args(["--key", key, "-o"])
        .arg(path)
        .args(extra))
}

/// Every cut of a small table's output, from the empty file to the whole one, in every
/// resumable format: mid-header, mid-row, inside quotes, escapes and multi-byte text, on a
/// line break inside a quoted value, and right on a row's end.
#[test]
fn resuming_from_every_cut_gives_postgresqls_output() {
    let db = resume_db_with_rows("resume_cuts", 5);
    let dir = tempfile::tempdir().unwrap();
    for (format, key) in [("csv", "id"), ("tsv", "id"), ("jsonl", "at")] {
        let expected = reference(&db, &events_sql(key), format);
        let cuts = Mutex::new(0..=expected.len());
        let failures = Mutex::new(Vec::new());
        thread::scope(|scope| {
            for worker in 0..RESUME_WORKERS {
                let (db, expected, cuts, failures) = (&db, &expected, &cuts, &failures);
                let target = dir.path().join(format!("resumed-{worker}.{format}"));
                scope.spawn(move || {
                    while let Some(cut) = cuts.lock().unwrap().next() {
                        if let Err(problem) = resume_from(db, format, key, &target, expected, cut) {
                            failures.lock().unwrap().push(problem);
                        }
                    }
                });
            }
        });
        let mut failures = failures.into_inner().unwrap();
        failures.sort();
        assert!(
            failures.is_empty(),
            "{format}: {} of {} cuts failed:\n{}",
            failures.len(),
            expected.len() + 1,
            failures.join("\n")
        );
    }
}

/// Writes the first `cut` bytes of `expected` as `target`'s part file, resumes, and says
/// what went wrong, if anything.
fn resume_from(
    db: &TestDb,
    format: &str,
    key: &str,
    target: &Path,
    expected: &[u8],
    cut: usize,
) -> Result<(), String> {
    std::fs::write(part_path(target), &expected[..cut]).unwrap();
    let output = export(db, key, key, format, target, &["--resume"]);
    if !output.status.success() {
        return Err(format!(
            "cut at {cut}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let resumed = std::fs::read(target).unwrap();
    std::fs::remove_file(target).unwrap();
    if part_path(target).exists() {
        return Err(format!("cut at {cut}: the part file is left"));
    }
    if resumed != expected {
        return Err(format!(
            "cut at {cut}: {} bytes, not PostgreSQL's {}; first difference at byte {}",
            resumed.len(),
            expected.len(),
            resumed
                .iter()
                .zip(expected)
                .position(|(a, b)| a != b)
                .unwrap_or(resumed.len().min(expected.len()))
        ));
    }
    Ok(())
}

#[test]
fn a_broken_export_keeps_its_part_file_for_resume() {
    let db = resume_db("resume_broken");
    let dir = tempfile::tempdir().unwrap();
    let whole = reference(&db, &events_sql("id"), "csv");

    // The byte limit breaks the export mid-row; the part file stays.
    let target = dir.path().join("events.csv");
    let output = export(
        &db,
        "id",
        "id",
        "csv",
        &target,
        &["--max-bytes", "20000", "--chunk-size", "3000"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        !target.exists(),
        "a broken export has no file under its final name"
    );
    let part = std::fs::read(part_path(&target)).unwrap();
    assert!(!part.is_empty() && part.len() < whole.len());

    let output = export(&db, "id", "id", "csv", &target, &["--resume"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_bytes_eq(std::fs::read(&target).unwrap(), &whole);

    // Without a key the part file of a failed export is removed as before.
    let keyless = dir.path().join("keyless.csv");
    let output = run(rowpipe()
        .args([
            "export",
            "--database",
            db.url(),
            "-q",
            "--sql",
            "SELECT * FROM events",
        ])
        .args(["--max-bytes", "20000", "-o"])
        .arg(&keyless));
    assert_eq!(output.status.code(), Some(1));
    assert!(!part_path(&keyless).exists());
}

#[test]
fn resume_mistakes_are_usage_errors() {
    let db = resume_db("resume_bad");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.json");
    std::fs::write(part_path(&target), b"[\n{\"id\":1}").unwrap();
    for (args, message) in [
        (
            vec![
                "--sql",
                "SELECT * FROM events",
                "--resume",
                "-o",
                target.to_str().unwrap(),
            ],
            "--resume needs a key column",
        ),
        (
            vec![
                "--table",
                "events",
                "--key",
                "id",
                "--resume",
                "--format",
                "json",
                "-o",
                target.to_str().unwrap(),
            ],
            "--resume works with csv, tsv and jsonl",
        ),
        (
            vec!["--table", "events", "--key", "id", "--resume"],
            "--output",
        ),
    ] {
        let output = run(rowpipe()
            .args(["export", "--database", db.url(), "-q"])
            .args(&args));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
