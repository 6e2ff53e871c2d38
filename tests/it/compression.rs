//! Compressed downloads and exports, checked with independent tools (`gzip`, `zstd`,
//! Python's `gzip` module, `curl --compressed`): decompressed, every format is byte for
//! byte the uncompressed download; a failure mid-stream leaves a file that does not
//! decompress as a whole, under either encoder.

use std::path::Path;
use std::process::Command;

use crate::harness::http;
use crate::harness::{TestDb, TestServer, assert_bytes_eq, cluster, rowpipe, run, run_ok};
use crate::harness::{curl, psql_copy_csv, run_with_input};

/// `items`: 5,000 rows of values CSV and JSON have to quote, and cells Excel mode changes;
/// several 4 KiB chunks of any format, compressed or not.
fn items_db(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(
        "CREATE TABLE items (id int PRIMARY KEY, label text, amount numeric, tags text[], at timestamptz);
         INSERT INTO items
           SELECT i,
                  CASE i % 5 WHEN 0 THEN 'comma, and \"quotes\"' WHEN 1 THEN E'two\\nlines'
                             WHEN 2 THEN '=SUM(A1)' WHEN 3 THEN NULL ELSE 'grüße ' || md5(i::text) END,
                  i * 1.25, ARRAY['x' || i, NULL], '2024-01-01'::timestamptz + i * interval '1 hour'
           FROM generate_series(1, 5000) AS i;",
    );
    db
}

const SMALL_CHUNKS: &str = "[stream]\nchunk_size = 4096\n";

/// Each format by its path and query string.
const DOWNLOADS: &[(&str, &str)] = &[
    ("csv", ""),
    ("tsv", ""),
    ("jsonl", ""),
    ("json", ""),
    ("csv", "?excel=true"),
];

/// `tool -dc` of `compressed` (`gzip` or `zstd`), which must succeed.
#[track_caller]
fn decompress_with(tool: &str, compressed: &[u8]) -> Vec<u8> {
    let output = run_with_input(Command::new(tool).args(["-dc"]), compressed);
    assert!(
        output.status.success(),
        "{tool} -dc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Python's own gzip module, a decoder independent of the gzip program.
#[track_caller]
fn python_gunzip(compressed: &[u8]) -> Vec<u8> {
    let output = run_with_input(
        Command::new("python3").args([
            "-c",
            "import gzip, sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))",
        ]),
        compressed,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn tool(compression: &str) -> &'static str {
    match compression {
        "gzip" => "gzip",
        "zstd" => "zstd",
        other => panic!("no tool for {other}"),
    }
}

#[test]
fn every_format_round_trips_negotiated_and_by_suffix() {
    let db = items_db("compress_round_trip");
    let server = TestServer::start(db.url(), SMALL_CHUNKS);
    let addr = server.addr();
    let plain_csv = http::get_csv(addr, "/datasets/items.csv").body;
    assert_bytes_eq(
        &plain_csv,
        psql_copy_csv(db.url(), "SELECT * FROM items ORDER BY id"),
    );

    for &(format, query) in DOWNLOADS {
        let path = format!("/datasets/items.{format}{query}");
        let plain = http::get(addr, &path);
        assert_eq!(plain.status, 200, "{path}");
        assert!(plain.complete);
        assert_eq!(plain.header("content-encoding"), None, "{path}");
        assert!(plain.body.len() > 4 * 4096, "{path}: several chunks");
        for (compression, extension) in [("gzip", "gz"), ("zstd", "zst")] {
            let what = format!("{path} as {compression}");
            // Negotiated: the same file, sent compressed.
            let encoded = http::request(addr, "GET", &path, &[("Accept-Encoding", compression)]);
            assert_eq!(encoded.status, 200, "{what}");
            assert!(encoded.complete && encoded.is_chunked(), "{what}");
            assert_eq!(
                encoded.header("content-encoding"),
                Some(compression),
                "{what}"
            );
            assert_eq!(encoded.header("vary"), Some("Accept-Encoding"), "{what}");
            for name in ["content-type", "content-disposition"] {
                assert_eq!(encoded.header(name), plain.header(name), "{what}: {name}");
            }
            assert!(encoded.body.len() < plain.body.len(), "{what}: compressed");
            assert_bytes_eq(
                decompress_with(tool(compression), &encoded.body),
                &plain.body,
            );

            // By suffix: the compressed file itself, whatever the request accepts.
            let file_path = format!("/datasets/items.{format}.{extension}{query}");
            let file = http::request(
                addr,
                "GET",
                &file_path,
                &[("Accept-Encoding", "gzip, zstd")],
            );
            assert_eq!(file.status, 200, "{file_path}");
            assert!(file.complete, "{file_path}");
            assert_eq!(file.header("content-encoding"), None, "{file_path}");
            assert_eq!(file.header("vary"), None, "{file_path}");
            let content_type = format!(
                "application/{}",
                if extension == "gz" { "gzip" } else { "zstd" }
            );
            assert_eq!(file.header("content-type"), Some(content_type.as_str()));
            assert_eq!(
                file.header("content-disposition"),
                Some(format!("attachment; filename=\"items.{format}.{extension}\"").as_str())
            );
            let decompressed = match compression {
                "gzip" => python_gunzip(&file.body),
                _ => decompress_with("zstd", &file.body),
            };
            assert_bytes_eq(decompressed, &plain.body);
        }
        // HEAD says the same as GET.
        let head = http::request(addr, "HEAD", &format!("/datasets/items.{format}.zst"), &[]);
        assert_eq!(head.header("content-type"), Some("application/zstd"));
    }

    // curl decodes what it negotiated itself.
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("items.csv");
    let output = curl(&[
        "--fail",
        "--compressed",
        "-H",
        "Accept-Encoding: gzip",
        "-o",
        saved.to_str().unwrap(),
        "-w",
        "%{content_type}",
        &format!("http://{addr}/datasets/items.csv"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_bytes_eq(std::fs::read(&saved).unwrap(), &plain_csv);
}

#[test]
fn accept_encoding_edge_cases() {
    let db = items_db("compress_negotiate");
    let server = TestServer::start(db.url(), "");
    let addr = server.addr();
    let plain = http::get_csv(addr, "/datasets/items.csv?limit=50").body;
    let cases: &[(&str, Option<&str>)] = &[
        ("gzip;q=0, zstd", Some("zstd")),
        ("zstd;q=0.5, gzip;q=0.9", Some("gzip")),
        ("*;q=0.1", Some("zstd")),
        ("GZIP", Some("gzip")),
        ("  zstd ; q=0.2 ,identity;q=0.1", Some("zstd")),
        ("br", None),
        ("identity", None),
        ("", None),
        ("identity;q=0, gzip", Some("gzip")),
    ];
    for &(accept, expected) in cases {
        let response = http::request(
            addr,
            "GET",
            "/datasets/items.csv?limit=50",
            &[("Accept-Encoding", accept)],
        );
        assert_eq!(response.status, 200, "{accept:?}");
        assert_eq!(response.header("content-encoding"), expected, "{accept:?}");
        let body = match expected {
            Some(compression) => decompress_with(tool(compression), &response.body),
            None => response.body.clone(),
        };
        assert_bytes_eq(body, &plain);
    }
    for accept in ["identity;q=0", "*;q=0", "identity;q=0, br"] {
        let response = http::request(
            addr,
            "GET",
            "/datasets/items.csv",
            &[("Accept-Encoding", accept)],
        );
        assert_eq!(response.status, 406, "{accept:?}");
        let body = response.json();
        assert_eq!(body["error"]["code"], "not_acceptable", "{body}");
        assert!(body["error"]["request_id"].is_string(), "{body}");
        // The compressed file itself is still there for the asking.
        let file = http::request(
            addr,
            "GET",
            "/datasets/items.csv.gz?limit=50",
            &[("Accept-Encoding", accept)],
        );
        assert_eq!(file.status, 200, "{accept:?}");
        assert_bytes_eq(decompress_with("gzip", &file.body), &plain);
    }
}

#[test]
fn a_failure_mid_stream_is_a_broken_compressed_file() {
    let db = cluster().create_database("compress_failure");
    // md5 text compresses to about half, so output leaves either encoder long before the
    // limit: the failure comes after the first chunk was sent.
    db.execute(
        "CREATE TABLE noise (id int PRIMARY KEY, a text, b text);
         INSERT INTO noise SELECT i, md5(i::text), md5((-i)::text) FROM generate_series(1, 30000) AS i;",
    );
    let config = format!(
        "{SMALL_CHUNKS}
        [[dataset]]
        name = \"limited\"
        table = \"noise\"
        max_rows = 20000
        "
    );
    let server = TestServer::start(db.url(), &config);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("out");
    let saved_arg = saved.to_str().unwrap();
    let base = format!("http://{}/datasets/limited", server.addr());
    let cases = [
        ("gzip", format!("{base}.csv"), Some("Accept-Encoding: gzip")),
        ("zstd", format!("{base}.csv"), Some("Accept-Encoding: zstd")),
        ("gzip", format!("{base}.csv.gz"), None),
        ("zstd", format!("{base}.jsonl.zst"), None),
    ];
    for (compression, url, header) in cases {
        let mut args = vec!["-o", saved_arg, "-w", "%{http_code} %{content_encoding}"];
        if let Some(header) = header {
            args.extend(["-H", header]);
        }
        args.push(&url);
        let output = curl(&args);
        assert_eq!(
            output.status.code(),
            Some(18),
            "{url} {header:?}: curl must see a broken transfer: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let written = String::from_utf8_lossy(&output.stdout);
        assert!(written.starts_with("200"), "{url}: {written}");
        let partial = std::fs::read(&saved).unwrap();
        assert!(
            partial.len() >= 4096,
            "{url}: the first chunks arrived ({} bytes)",
            partial.len()
        );
        let test = run(Command::new(tool(compression)).args(["-t", saved_arg]));
        assert!(
            !test.status.success(),
            "{url} {header:?}: `{} -t` accepted the partial file",
            tool(compression)
        );
    }
}

fn export_cmd(url: &str, args: &[&str]) -> Command {
    let mut cmd = rowpipe();
    cmd.args(["export", "--database", url, "--quiet"])
        .args(args);
    cmd
}

#[track_caller]
fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn export_compresses_by_file_name_and_flag() {
    let db = items_db("compress_cli");
    let dir = tempfile::tempdir().unwrap();
    let plain_csv = run_ok(&mut export_cmd(db.url(), &["--table", "items"])).stdout;
    assert_bytes_eq(
        &plain_csv,
        psql_copy_csv(db.url(), "SELECT * FROM items ORDER BY id"),
    );
    let plain_jsonl = run_ok(&mut export_cmd(
        db.url(),
        &["--table", "items", "--format", "jsonl"],
    ))
    .stdout;

    let gz = dir.path().join("out.csv.gz");
    run_ok(&mut export_cmd(
        db.url(),
        &["--table", "items", "-o", gz.to_str().unwrap()],
    ));
    assert_bytes_eq(decompress_with("gzip", &read(&gz)), &plain_csv);

    let zst = dir.path().join("out.jsonl.zst");
    run_ok(&mut export_cmd(
        db.url(),
        &[
            "--table",
            "items",
            "--format",
            "jsonl",
            "-o",
            zst.to_str().unwrap(),
        ],
    ));
    assert_bytes_eq(decompress_with("zstd", &read(&zst)), &plain_jsonl);

    // To stdout, and overriding the name.
    let stdout = run_ok(&mut export_cmd(
        db.url(),
        &["--table", "items", "--compress", "zstd"],
    ))
    .stdout;
    assert_bytes_eq(decompress_with("zstd", &stdout), &plain_csv);
    let named = dir.path().join("named.csv");
    run_ok(&mut export_cmd(
        db.url(),
        &[
            "--table",
            "items",
            "--compress",
            "gzip",
            "-o",
            named.to_str().unwrap(),
        ],
    ));
    assert_bytes_eq(python_gunzip(&read(&named)), &plain_csv);
    let not = dir.path().join("not.csv.gz");
    run_ok(&mut export_cmd(
        db.url(),
        &[
            "--table",
            "items",
            "--compress",
            "none",
            "-o",
            not.to_str().unwrap(),
        ],
    ));
    assert_bytes_eq(read(&not), &plain_csv);

    // max_bytes counts the uncompressed bytes.
    let exact = plain_csv.len().to_string();
    let within = dir.path().join("within.csv.gz");
    run_ok(&mut export_cmd(
        db.url(),
        &[
            "--table",
            "items",
            "--max-bytes",
            &exact,
            "-o",
            within.to_str().unwrap(),
        ],
    ));
    assert_bytes_eq(decompress_with("gzip", &read(&within)), &plain_csv);
    let short = (plain_csv.len() - 1).to_string();
    let past = dir.path().join("past.csv.gz");
    let output = run(&mut export_cmd(
        db.url(),
        &[
            "--table",
            "items",
            "--max-bytes",
            &short,
            "--chunk-size",
            "4096",
            "-o",
            past.to_str().unwrap(),
        ],
    ));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("max_bytes"),
        "{output:?}"
    );
    // A keyed table: uncompressed, its part file would be kept for --resume; compressed
    // nothing is left.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("past"))
        .collect();
    assert!(
        names.is_empty(),
        "a failed compressed export left {names:?}"
    );

    // --resume cannot continue a compressed file, and says so.
    let output = run(&mut export_cmd(
        db.url(),
        &["--table", "items", "-o", gz.to_str().unwrap(), "--resume"],
    ));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--resume cannot continue a compressed export"),
        "{stderr}"
    );
    assert_bytes_eq(decompress_with("gzip", &read(&gz)), &plain_csv);
}
