//! `--log-format json`: one JSON object a line, and one line per download at its end with
//! what an operator needs: the request id the client was given, the dataset, format,
//! parameter names (never values), rows, bytes, time to the first byte, duration, outcome.

use std::time::Duration;

use serde_json::Value;

use crate::harness::http::{self, Download};
use crate::harness::server::log_number;
use crate::harness::{ServeProcess, TestDb, cluster, rowpipe, run_ok};

/// A server with JSON logs over `numbers` (5,000 rows), serving it whole (`numbers`), by a
/// parameter (`since`), cut by `max_rows` (`cut`), and an endless query (`endless`).
fn observed_server(prefix: &str) -> (TestDb, ServeProcess) {
    let db = cluster().create_database(prefix);
    db.execute("CREATE TABLE numbers AS SELECT i AS id FROM generate_series(1, 5000) AS i;");
    let config = r#"
        [stream]
        chunk_size = 1024

        [[dataset]]
        name = "numbers"
        table = "numbers"

        [[dataset]]
        name = "since"
        sql = "SELECT * FROM numbers WHERE id >= $1"
        params = [ { name = "from", type = "int4" } ]

        [[dataset]]
        name = "cut"
        table = "numbers"
        max_rows = 3000

        [[dataset]]
        name = "endless"
        sql = "SELECT a * 1000 + b AS n FROM generate_series(1, 100000) a, generate_series(1, 1000) b"
    "#;
    let server = ServeProcess::start_with_config_and(db.url(), config, &["--log-format", "json"]);
    (db, server)
}

/// A download that fails mid-stream (`cut`) and one whose client goes away (`endless`).
fn break_and_abandon(server: &ServeProcess) {
    assert!(!http::get(server.addr(), "/datasets/cut.csv").complete);
    let mut gone = Download::start(server.addr(), "/datasets/endless.csv");
    gone.read_body_bytes(10_000);
    gone.disconnect();
}

#[test]
fn json_logs_give_one_line_per_download() {
    let (_db, server) = observed_server("logs_json");
    let ok = http::get_csv(server.addr(), "/datasets/since.csv?from=2001");
    break_and_abandon(&server);

    let lines = server.settled_log_lines("\"outcome\"", Duration::from_secs(10));
    let mut by_outcome = std::collections::BTreeMap::new();
    for line in server.log().lines() {
        let json: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
        assert!(
            json["timestamp"].is_string() && json["level"].is_string(),
            "{line}"
        );
        if let Some(outcome) = json["outcome"].as_str() {
            by_outcome.insert(outcome.to_owned(), json);
        }
    }
    assert_eq!(lines.len(), 3, "one line per download: {lines:#?}");

    let done = &by_outcome["ok"];
    assert_eq!(done["message"], "download complete");
    assert_eq!(done["request_id"].as_str(), ok.header("x-request-id"));
    assert_eq!(done["dataset"], "since");
    assert_eq!(done["format"], "csv");
    assert_eq!(done["params"], "from");
    assert_eq!(done["rows"], 3000);
    assert_eq!(done["bytes"], ok.body.len());
    // The value must not appear in any field (the timestamps' and durations' digits may
    // hold "2001" by chance, so fields are compared, not the raw text).
    for line in server.log().lines() {
        let json: Value = serde_json::from_str(line).unwrap();
        for (key, value) in json.as_object().unwrap() {
            let leaked = match value {
                Value::String(text) => key != "timestamp" && text.contains("2001"),
                Value::Number(number) => number.as_f64() == Some(2001.0),
                _ => false,
            };
            assert!(!leaked, "a parameter's value was logged: {line}");
        }
    }
    let first = done["first_byte_seconds"].as_f64().unwrap();
    assert!(first > 0.0 && first <= done["seconds"].as_f64().unwrap());

    let failed = &by_outcome["failed"];
    assert_eq!(failed["dataset"], "cut");
    assert!(
        failed["error"].as_str().unwrap().contains("max_rows"),
        "{failed}"
    );
    assert_eq!(by_outcome["client_gone"]["dataset"], "endless");
}

/// `[log] format` in the config file sets the log's format, for `serve` and `export`
/// alike; `--log-format` wins over it.
#[test]
fn the_config_file_sets_the_log_format_and_the_flag_wins() {
    let db = cluster().create_database("logs_config");
    db.execute("CREATE TABLE numbers AS SELECT i AS id FROM generate_series(1, 500) AS i;");
    let config = r#"
        [log]
        format = "json"

        [[dataset]]
        name = "numbers"
        table = "numbers"
    "#;
    let json_server = ServeProcess::start_with_config(db.url(), config);
    http::get_csv(json_server.addr(), "/datasets/numbers.csv");
    let done = json_server.settled_log_lines("download complete", Duration::from_secs(10));
    let log = json_server.log();
    for line in log.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON line: {line}"
        );
    }
    let done: Value = serde_json::from_str(&done[0]).unwrap();
    assert_eq!(done["rows"], 500);
    assert!(log.lines().count() >= 2, "{log}");

    let text_server =
        ServeProcess::start_with_config_and(db.url(), config, &["--log-format", "text"]);
    http::get_csv(text_server.addr(), "/datasets/numbers.csv");
    let done = text_server.settled_log_lines("download complete", Duration::from_secs(10));
    assert!(
        serde_json::from_str::<Value>(&done[0]).is_err(),
        "{}",
        done[0]
    );
    assert_eq!(log_number(&done[0], "rows"), 500);

    // The export reads the same file: its log lines (here tokio-postgres's, at debug) are
    // JSON too.
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), config).unwrap();
    let output = run_ok(
        rowpipe()
            .args(["export", "--database", db.url(), "--config"])
            .arg(file.path())
            .args(["--dataset", "numbers", "--limit", "3", "--quiet"])
            .env("RUST_LOG", "debug"),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "id\n1\n2\n3\n");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.lines().count() > 1, "{stderr}");
    for line in stderr.lines() {
        let json: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
        assert!(json["level"].is_string(), "{line}");
    }
}

/// One metric of an OpenMetrics exposition, by name and labels (sorted), as a number.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric_name, mut found) = match series.split_once('{') {
                Some((metric_name, rest)) => (
                    metric_name,
                    rest.trim_end_matches('}')
                        .split(',')
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                ),
                None => (series, Vec::new()),
            };
            found.sort();
            (metric_name == name && found == wanted).then(|| value.parse().ok())?
        })
}

/// `/metrics` after a scripted set of downloads: each outcome counted under its dataset
/// and format, rows and bytes summed, nothing left active, rejections by error code.
#[test]
fn metrics_count_what_happened() {
    let (_db, server) = observed_server("logs_metrics");
    let mut sent = 0;
    for path in ["/datasets/numbers.csv", "/datasets/numbers.jsonl"] {
        sent += http::get(server.addr(), path).body.len();
    }
    break_and_abandon(&server);
    assert_eq!(
        http::get(server.addr(), "/datasets/nothing.csv").status,
        404
    );
    assert_eq!(
        http::get(server.addr(), "/datasets/numbers.csv?limit=x").status,
        400
    );
    server.settled_log_lines("client went away", Duration::from_secs(10));

    let response = http::get(server.addr(), "/metrics");
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text();
    let downloads = |dataset: &str, format: &str, outcome: &str| {
        let labels = [
            ("dataset", dataset),
            ("format", format),
            ("outcome", outcome),
        ];
        metric(text, "rowpipe_downloads_total", &labels)
    };
    assert_eq!(downloads("numbers", "csv", "ok"), Some(1.0), "{text}");
    assert_eq!(downloads("numbers", "jsonl", "ok"), Some(1.0), "{text}");
    assert_eq!(downloads("cut", "csv", "failed"), Some(1.0), "{text}");
    assert_eq!(
        downloads("endless", "csv", "client_gone"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(metric(text, "rowpipe_active_downloads", &[]), Some(0.0));
    assert_eq!(
        metric(text, "rowpipe_download_duration_seconds_count", &[]),
        Some(4.0)
    );
    let rows = metric(text, "rowpipe_rows_total", &[]).unwrap();
    assert!(rows >= 10_000.0 + 3000.0, "{rows}");
    let bytes = metric(text, "rowpipe_bytes_total", &[]).unwrap();
    assert!(bytes >= sent as f64, "{bytes} < {sent}");
    for code in ["unknown_dataset", "invalid_limit"] {
        assert_eq!(
            metric(text, "rowpipe_rejected_total", &[("code", code)]),
            Some(1.0),
            "{text}"
        );
    }
    assert_eq!(
        metric(
            text,
            "rowpipe_pool_connections",
            &[("pool", "downloads"), ("state", "max")]
        ),
        Some(8.0)
    );
}

/// `/metrics` after compressed downloads (by suffix and negotiated) and one whose client
/// went away: the bytes before and after compression of the complete ones, exactly, by
/// compression; the abandoned query's cancel, once.
#[test]
fn metrics_count_compression_and_cancellations() {
    let (_db, server) = observed_server("logs_metrics_more");
    let plain_csv = http::get(server.addr(), "/datasets/numbers.csv").body.len();
    let plain_jsonl = http::get(server.addr(), "/datasets/numbers.jsonl")
        .body
        .len();
    let sent = |path: &str, headers: &[(&str, &str)]| {
        let response = http::request(server.addr(), "GET", path, headers);
        assert_eq!(response.status, 200, "{path}");
        assert!(response.complete, "{path}");
        response.body.len()
    };
    let gzip = sent("/datasets/numbers.csv.gz", &[]);
    let zstd = sent("/datasets/numbers.jsonl.zst", &[])
        + sent("/datasets/numbers.csv", &[("Accept-Encoding", "zstd")]);
    assert!(gzip < plain_csv && zstd < plain_csv + plain_jsonl);

    let text = http::get(server.addr(), "/metrics").text().to_owned();
    let count = |name: &str, labels: &[(&str, &str)]| metric(&text, name, labels);
    let by = |compression| [("compression", compression)];
    assert_eq!(
        count("rowpipe_compression_input_bytes_total", &by("gzip")),
        Some(plain_csv as f64),
        "{text}"
    );
    assert_eq!(
        count("rowpipe_compression_output_bytes_total", &by("gzip")),
        Some(gzip as f64)
    );
    assert_eq!(
        count("rowpipe_compression_input_bytes_total", &by("zstd")),
        Some((plain_csv + plain_jsonl) as f64)
    );
    assert_eq!(
        count("rowpipe_compression_output_bytes_total", &by("zstd")),
        Some(zstd as f64)
    );
    // Complete downloads cancel nothing.
    let cancels =
        |text: &str, result| metric(text, "rowpipe_query_cancels_total", &[("result", result)]);
    assert_eq!(cancels(&text, "sent"), Some(0.0), "{text}");
    assert_eq!(cancels(&text, "failed"), Some(0.0), "{text}");

    // A client that goes away mid-download: its query is cancelled, and counted.
    let mut gone = Download::start(server.addr(), "/datasets/endless.csv");
    gone.read_body_bytes(10_000);
    gone.disconnect();
    let counted = crate::harness::poll_until(Duration::from_secs(10), || {
        let text = http::get(server.addr(), "/metrics").text().to_owned();
        cancels(&text, "sent") == Some(1.0)
    });
    assert!(counted.is_some(), "no cancel counted");
    server.settled_log_lines("client went away", Duration::from_secs(10));
    let text = http::get(server.addr(), "/metrics").text().to_owned();
    assert_eq!(cancels(&text, "sent"), Some(1.0), "{text}");
    assert_eq!(cancels(&text, "failed"), Some(0.0), "{text}");
}
