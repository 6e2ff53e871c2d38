//! Real HTTP clients and a real proxy against a real server: whatever the client, a
//! download that broke off never ends as a file that looks complete.
//!
//! * HTTP/1.0 has no chunked encoding, so a body that breaks off looks like one that ended:
//!   downloads refuse it (505), directly and behind an nginx with its default
//!   `proxy_http_version 1.0`; with the README's settings nginx passes failures on.
//! * A byte range of a new export need not continue an old one: downloads refuse ranges,
//!   so wget's and curl's resume fail instead of splicing two exports together.
//! * `HEAD` answers the headers of a download without running it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::http;
use crate::harness::nginx::{
    DOCUMENTED_BALANCING_SETTINGS, DOCUMENTED_SERVER_PARAMETERS, DOCUMENTED_SETTINGS,
    DOCUMENTED_UPSTREAM_SETTINGS, Nginx, ProxySettings,
};
use crate::harness::{ServeProcess, TestServer, assert_bytes_eq, curl, numbers_db, poll_until};

const ALL_NUMBERS: &str = "SELECT * FROM numbers ORDER BY id";

fn url(addr: std::net::SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// The JSON error body curl saved to `path`.
fn error_code(path: &Path) -> String {
    let body = std::fs::read(path).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    json["error"]["code"].as_str().unwrap().to_owned()
}

#[test]
fn downloads_over_http_1_0_are_refused() {
    let db = numbers_db("clients_http10", 60_000);
    let server = TestServer::start(db.url(), "");
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("numbers.csv");
    let saved_arg = saved.to_str().unwrap();
    let download = url(server.addr(), "/datasets/numbers.csv");

    let output = curl(&[
        "--http1.0",
        "-o",
        saved_arg,
        "-w",
        "%{http_code}",
        &download,
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "505");
    assert_eq!(error_code(&saved), "http_version_not_supported");
    let message = std::fs::read_to_string(&saved).unwrap();
    assert!(message.contains("proxy_http_version 1.1"), "{message}");

    let failed = curl(&["--http1.0", "--fail", "-o", saved_arg, &download]);
    assert_eq!(failed.status.code(), Some(22), "curl --fail sees a failure");
    let head = curl(&[
        "--http1.0",
        "--head",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &download,
    ]);
    assert_eq!(String::from_utf8_lossy(&head.stdout), "505");

    // What is complete whatever the protocol (a JSON document with its length) still works.
    let listing = curl(&["--http1.0", "--fail", &url(server.addr(), "/datasets")]);
    assert!(listing.status.success());
    let listing: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(listing[0]["name"], "numbers");

    // HTTP/1.1 downloads as ever.
    let ok = curl(&["--fail", "-o", saved_arg, &download]);
    assert!(ok.status.success());
    assert_bytes_eq(std::fs::read(&saved).unwrap(), db.copy_csv(ALL_NUMBERS));
}

#[test]
fn behind_nginx_failures_stay_failures() {
    let db = numbers_db("clients_nginx", 60_000);
    // Small chunks and a byte limit: the limited dataset breaks off mid-stream.
    let config = r#"
        [stream]
        chunk_size = 4096

        [[dataset]]
        name = "numbers"
        table = "numbers"

        [[dataset]]
        name = "limited"
        table = "numbers"
        max_rows = 30000
    "#;
    let server = TestServer::start(db.url(), config);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("out");
    let saved_arg = saved.to_str().unwrap();

    // nginx's defaults speak HTTP/1.0 to rowpipe, which refuses: a failure, not a file.
    let defaults = Nginx::start(server.addr(), ProxySettings::Defaults);
    let output = curl(&[
        "--fail",
        "-o",
        saved_arg,
        &url(defaults.addr(), "/datasets/numbers.csv"),
    ]);
    assert_eq!(output.status.code(), Some(22), "{}", defaults.error_log());
    let output = curl(&[
        "-o",
        saved_arg,
        &url(defaults.addr(), "/datasets/numbers.csv"),
    ]);
    assert!(output.status.success());
    assert_eq!(error_code(&saved), "http_version_not_supported");

    // The documented settings: complete downloads are whole, broken ones stay broken.
    let documented = Nginx::start(server.addr(), ProxySettings::Documented);
    let output = curl(&[
        "--fail",
        "-o",
        saved_arg,
        &url(documented.addr(), "/datasets/numbers.csv"),
    ]);
    assert!(output.status.success(), "{}", documented.error_log());
    assert_bytes_eq(std::fs::read(&saved).unwrap(), db.copy_csv(ALL_NUMBERS));

    let output = curl(&[
        "-o",
        saved_arg,
        &url(documented.addr(), "/datasets/limited.csv"),
    ]);
    assert_eq!(
        output.status.code(),
        Some(18),
        "curl must see the broken-off download: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        documented.error_log()
    );
    let partial = std::fs::read(&saved).unwrap();
    let whole = db.copy_csv(ALL_NUMBERS);
    assert!(!partial.is_empty() && partial.len() < whole.len());
    assert_bytes_eq(&partial, &whole[..partial.len()]);
}

/// The README shows the very settings the nginx tests use, for one server and for several.
#[test]
fn the_readme_documents_the_tested_proxy_settings() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let settings = [
        DOCUMENTED_SETTINGS,
        DOCUMENTED_SERVER_PARAMETERS,
        DOCUMENTED_UPSTREAM_SETTINGS,
        DOCUMENTED_BALANCING_SETTINGS,
    ];
    for line in settings.iter().flat_map(|setting| setting.lines()) {
        assert!(readme.contains(line), "the README lacks {line:?}");
    }
}

/// wget retries a broken download with `Range: bytes=N-` and appends what it gets. Here
/// the first try breaks mid-stream and a second export would succeed: with a range served
/// as a new export, wget would splice the two and exit 0. The range is refused, so wget
/// fails (exit 8: the server answered with an error).
#[test]
fn wget_cannot_splice_a_retry_onto_a_broken_download() {
    let db = numbers_db("clients_wget", 60_000);
    db.execute("CREATE TABLE flag (on_first_try int); INSERT INTO flag VALUES (1);");
    let config = r#"
        [[dataset]]
        name = "flaky"
        sql = "SELECT id, 1 / (id - 30000 * (SELECT on_first_try FROM flag)) AS x FROM numbers"
        key = "id"
    "#;
    let server = ServeProcess::start_with_config(db.url(), config);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("flaky.csv");

    let mut wget = Command::new("wget")
        .args(["--quiet", "--tries=3", "--output-document"])
        .arg(&saved)
        .arg(url(server.addr(), "/datasets/flaky.csv"))
        .stdin(Stdio::null())
        .spawn()
        .expect("run wget (Debian's wget package)");
    // The first try's query has its snapshot; from now on a new export would succeed.
    let started = poll_until(Duration::from_secs(10), || {
        db.count_backends("query LIKE '%on_first_try%' AND state = 'active'") > 0
    });
    db.execute("UPDATE flag SET on_first_try = 0");
    let status = crate::harness::wait_for_exit(&mut wget, Duration::from_secs(60), "wget");
    assert!(started.is_some() || status.code() == Some(8));
    assert_eq!(
        status.code(),
        Some(8),
        "wget must fail, not splice: {}",
        server.log()
    );
    let log = server.wait_for_log("byte range", Duration::from_secs(5));
    assert!(log.contains("status=400"), "{log}");
    let saved = std::fs::read(&saved).unwrap_or_default();
    let whole = db.copy_csv("SELECT id, 1 / id AS x FROM numbers ORDER BY id");
    assert!(
        saved.len() < whole.len(),
        "wget kept a file that looks whole"
    );
}

#[test]
fn byte_ranges_are_refused_and_point_to_after() {
    let db = numbers_db("clients_ranges", 60_000);
    let server = TestServer::start(db.url(), "");
    let whole = db.copy_csv(ALL_NUMBERS);
    let path = "/datasets/numbers.csv";

    let full = http::get_csv(server.addr(), path);
    assert_eq!(full.header("accept-ranges"), Some("none"));

    // `bytes=0-` asks for everything, which a whole download is.
    let from_start = http::request(server.addr(), "GET", path, &[("Range", "bytes=0-")]);
    assert_eq!(from_start.status, 200);
    assert!(from_start.complete);
    assert_bytes_eq(&from_start.body, &whole);

    for range in [
        "bytes=1000-",
        "bytes=0-99",
        "bytes=-500",
        "items=1-2",
        "bytes=1-,5-",
    ] {
        let response = http::request(server.addr(), "GET", path, &[("Range", range)]);
        assert_eq!(response.status, 400, "{range}");
        let error = &response.json()["error"];
        assert_eq!(error["code"], "range_not_supported", "{range}");
        assert!(error["message"].as_str().unwrap().contains("after="));
    }

    // curl's resume of a partial file: refused, and the partial file is left as it was.
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("numbers.csv");
    std::fs::write(&saved, &whole[..1000]).unwrap();
    let output = curl(&[
        "--fail",
        "--continue-at",
        "-",
        "-o",
        saved.to_str().unwrap(),
        &url(server.addr(), path),
    ]);
    assert_ne!(output.status.code(), Some(0));
    assert_bytes_eq(std::fs::read(&saved).unwrap(), &whole[..1000]);
}

/// DuckDB and polars send a HEAD before every GET: it gets the download's status and
/// headers, at once, without running the export and without a log line about a download.
#[test]
fn head_answers_without_running_the_export() {
    let db = numbers_db("clients_head", 60_000);
    let config = r#"
        [[dataset]]
        name = "slow"
        sql = "SELECT pg_sleep(5)::text AS slept"
    "#;
    let server = ServeProcess::start_with_config(db.url(), config);

    let start = Instant::now();
    let head = http::request(
        server.addr(),
        "HEAD",
        "/datasets/slow.csv?header=false",
        &[],
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "HEAD ran the query"
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        head.header("content-disposition"),
        Some("attachment; filename=\"slow.csv\"")
    );
    assert_eq!(head.header("accept-ranges"), Some("none"));
    assert_eq!(head.header("content-length"), None, "{:?}", head.headers);
    assert!(head.body.is_empty());
    assert_eq!(db.count_backends("query LIKE '%pg_sleep%'"), 0);

    let jsonl = http::request(server.addr(), "HEAD", "/datasets/slow.jsonl", &[]);
    assert_eq!(jsonl.header("content-type"), Some("application/x-ndjson"));
    // The checks a GET makes before it starts are made as well.
    for (path, status) in [
        ("/datasets/nothing.csv", 404),
        ("/datasets/slow.xlsx", 404),
        ("/datasets/slow.csv?header=maybe", 400),
        ("/datasets/slow.csv?bogus=1", 400),
    ] {
        let response = http::request(server.addr(), "HEAD", path, &[]);
        assert_eq!(response.status, status, "{path}");
    }
    // curl's own HEAD is a success.
    let output = curl(&[
        "--fail",
        "--head",
        &url(server.addr(), "/datasets/slow.csv"),
    ]);
    assert!(output.status.success());

    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    for word in ["download", "client went away", "cancelled"] {
        assert!(!log.contains(word), "a HEAD logged {word:?}:\n{log}");
    }
}
