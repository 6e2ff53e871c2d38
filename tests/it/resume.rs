//! `rowpipe export -o FILE --resume`: a broken export's `FILE.part`, continued, becomes
//! byte for byte the file an unbroken run writes, whatever byte the break fell on.

use std::path::Path;

use crate::harness::{TestDb, assert_bytes_eq, cluster, rowpipe, run, run_ok};
use rowpipe::sink::file::part_path;

/// Rows whose text holds everything a row scanner could trip on: quoted line breaks,
/// doubled quotes, delimiters, tabs, backslashes and NULLs; keys that sort as numbers and
/// as timestamps.
fn resume_db(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(
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
         FROM generate_series(1, 400) AS i;",
    );
    db
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
        .args(["--sql", &format!("SELECT * FROM events ORDER BY {order}")])
        .args(["--key", key, "-o"])
        .arg(path)
        .args(extra))
}

#[test]
fn resuming_from_any_cut_gives_the_unbroken_file() {
    let db = resume_db("resume_cuts");
    let dir = tempfile::tempdir().unwrap();
    for (format, key) in [("csv", "id"), ("tsv", "id"), ("jsonl", "at")] {
        let whole_path = dir.path().join(format!("whole.{format}"));
        let output = export(&db, key, key, format, &whole_path, &[]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let whole = std::fs::read(&whole_path).unwrap();
        let target = dir.path().join(format!("resumed.{format}"));
        let cuts = [
            0,
            1,
            20,
            whole.len() / 3,
            whole.len() / 2 + 7,
            whole.len() - 1,
        ];
        for cut in cuts {
            std::fs::write(part_path(&target), &whole[..cut]).unwrap();
            let output = export(&db, key, key, format, &target, &["--resume"]);
            assert!(
                output.status.success(),
                "{format} cut at {cut}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_bytes_eq(std::fs::read(&target).unwrap(), &whole);
            assert!(!part_path(&target).exists());
            std::fs::remove_file(&target).unwrap();
        }
    }
}

#[test]
fn a_broken_export_keeps_its_part_file_for_resume() {
    let db = resume_db("resume_broken");
    let dir = tempfile::tempdir().unwrap();
    let whole_path = dir.path().join("whole.csv");
    run_ok(
        rowpipe()
            .args([
                "export",
                "--database",
                db.url(),
                "-q",
                "--table",
                "events",
                "-o",
            ])
            .arg(&whole_path),
    );
    let whole = std::fs::read(&whole_path).unwrap();

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
        .args(["export", "--database", db.url(), "-q", "--table", "events"])
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
                "--table",
                "events",
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
