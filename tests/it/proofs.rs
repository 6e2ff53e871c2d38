//! Proofs of completeness outside the data: a download's HTTP trailers (rows, bytes,
//! SHA-256 of the body as sent) for a client that asks for them, and the CLI's manifest
//! beside a complete file. Checked with `sha256sum`, an independent implementation.

use std::path::Path;
use std::process::Command;

use crate::harness::http;
use crate::harness::{TestServer, numbers_db, rowpipe, run, run_ok, run_with_input};
use rowpipe::sink::file::part_path;

/// `sha256sum`'s digest of `bytes`.
fn sha256sum(bytes: &[u8]) -> String {
    let output = run_with_input(&mut Command::new("sha256sum"), bytes);
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()[..64].to_owned()
}

#[test]
fn trailers_prove_a_complete_download_to_a_client_that_asks() {
    let db = numbers_db("proofs_trailers", 10_000);
    let config = "[stream]\nchunk_size = 4096\n\
                  [[dataset]]\nname = \"numbers\"\ntable = \"numbers\"\nkey = \"id\"\n\
                  [[dataset]]\nname = \"cut\"\ntable = \"numbers\"\nmax_rows = 5000\n";
    let server = TestServer::start(db.url(), config);
    let asks = [("TE", "trailers")];
    for (path, accept) in [
        ("/datasets/numbers.csv", None),
        ("/datasets/numbers.jsonl", None),
        ("/datasets/numbers.csv", Some("gzip")),
        ("/datasets/numbers.csv.zst", None),
    ] {
        let mut headers = asks.to_vec();
        headers.extend(accept.map(|coding| ("Accept-Encoding", coding)));
        let response = http::request(server.addr(), "GET", path, &headers);
        assert_eq!(response.status, 200, "{path}");
        assert!(response.complete, "{path}");
        assert_eq!(
            response.header("trailer"),
            Some("x-rowpipe-rows, x-rowpipe-bytes, x-rowpipe-sha256"),
            "{path}"
        );
        assert_eq!(response.trailer("x-rowpipe-rows"), Some("10000"), "{path}");
        let bytes = response.body.len().to_string();
        assert_eq!(
            response.trailer("x-rowpipe-bytes"),
            Some(bytes.as_str()),
            "{path}"
        );
        let digest = sha256sum(&response.body);
        assert_eq!(
            response.trailer("x-rowpipe-sha256"),
            Some(digest.as_str()),
            "{path}"
        );
    }

    // Not asked for: no trailers, and no announcement of any.
    let plain = http::get_csv(server.addr(), "/datasets/numbers.csv");
    assert!(plain.trailers.is_empty());
    assert_eq!(plain.header("trailer"), None);

    // A broken download has no trailers: no proof, and no terminating chunk either.
    let broken = http::request(server.addr(), "GET", "/datasets/cut.csv", &asks);
    assert_eq!(broken.status, 200);
    assert!(!broken.complete);
    assert!(broken.trailers.is_empty());
}

#[test]
fn a_manifest_stands_beside_a_complete_file_only() {
    let db = numbers_db("proofs_manifest", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("numbers.csv");
    let manifest = dir.path().join("numbers.json");
    let export = |extra: &[&str]| {
        run(rowpipe()
            .args(["export", "-q", "--database", db.url(), "--table", "numbers"])
            .arg("-o")
            .arg(&data)
            .arg("--manifest")
            .arg(&manifest)
            .args(extra))
    };
    let read_manifest = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };

    // A broken export: its part file is kept for --resume, and no manifest is written.
    let broken = export(&["--max-bytes", "50000"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(part_path(&data).exists());
    assert!(
        !manifest.exists(),
        "no manifest for a file that is not complete"
    );

    // Resumed to the end: the manifest counts every row of the file, kept and appended.
    let resumed = export(&["--resume"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let file = std::fs::read(&data).unwrap();
    assert_eq!(file, db.copy_csv("SELECT * FROM numbers ORDER BY id"));
    let json = read_manifest(&manifest);
    assert_eq!(json["rows"], 10000);
    assert_eq!(json["bytes"], file.len());
    assert_eq!(json["sha256"], sha256sum(&file));
    assert_eq!(json["format"], "csv");
    assert_eq!(json["key"], "id");
    assert_eq!(json["options"]["header"], true);
    assert_eq!(json["query"], "SELECT * FROM \"numbers\"");
    assert!(
        json["database"]
            .as_str()
            .unwrap()
            .starts_with("postgres://")
    );
    for time in ["started", "finished"] {
        let text = json[time].as_str().unwrap();
        assert!(text.parse::<jiff::Timestamp>().is_ok(), "{time}: {text}");
    }
    assert!(!part_path(&manifest).exists());

    // Compressed: the digest is of the file on disk.
    let packed = dir.path().join("numbers.csv.gz");
    let packed_manifest = dir.path().join("packed.json");
    run_ok(
        rowpipe()
            .args([
                "export",
                "-q",
                "--database",
                db.url(),
                "--sql",
                "SELECT * FROM numbers",
            ])
            .arg("-o")
            .arg(&packed)
            .arg("--manifest")
            .arg(&packed_manifest),
    );
    let json = read_manifest(&packed_manifest);
    assert_eq!(json["sha256"], sha256sum(&std::fs::read(&packed).unwrap()));
    assert_eq!(json["compression"], "gzip");
    assert_eq!(json["rows"], 10000);

    // --manifest needs -o.
    let output = run(rowpipe()
        .args([
            "export",
            "--database",
            db.url(),
            "--sql",
            "SELECT 1",
            "--manifest",
        ])
        .arg(&manifest));
    assert_eq!(output.status.code(), Some(2));
}
