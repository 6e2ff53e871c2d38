//! `GET /openapi.json`: every route the server answers is described and every route
//! described is answered; every query-string key, format and compression is listed; each
//! dataset's declared parameters appear with their types; the statuses and error codes
//! the server really answers are the ones described. And schemathesis, run against a live
//! server, finds no server error, no response outside the description and no crash.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{ServeProcess, TestDb, TestServer, cluster, http, run};

/// Every route, as the description names it and as a request that reaches it. The test's
/// own list: each is checked against the description and against the server, both ways.
const ROUTES: &[(&str, &str)] = &[
    ("/datasets", "/datasets"),
    ("/datasets/{name}.{format}", "/datasets/orders.csv"),
    ("/livez", "/livez"),
    ("/readyz", "/readyz"),
    ("/healthz", "/healthz"),
    ("/metrics", "/metrics"),
    ("/openapi.json", "/openapi.json"),
    ("/", "/"),
    ("/view/{name}", "/view/orders"),
    ("/assets/{file}", "/assets/rowpipe.css"),
];

/// Every query-string key a download takes beside a dataset's parameters (README's table).
const KEYS: &[&str] = &[
    "header",
    "delimiter",
    "null",
    "quote",
    "excel",
    "columns",
    "limit",
    "after",
];

/// Every download suffix: the four formats, alone and gzip'd or zstd'd.
const SUFFIXES: &[&str] = &[
    "csv",
    "csv.zst",
    "csv.gz",
    "tsv",
    "tsv.zst",
    "tsv.gz",
    "jsonl",
    "jsonl.zst",
    "jsonl.gz",
    "json",
    "json.zst",
    "json.gz",
];

const CONFIG: &str = r#"
    [[dataset]]
    name = "orders"
    description = "Every order"
    table = "orders"
    key = "id"

    [[dataset]]
    name = "orders_since"
    sql = "SELECT * FROM orders WHERE id >= $1 AND region = $2 AND placed >= $3 AND paid = $4 ORDER BY id"
    params = [
        { name = "from", type = "int4" },
        { name = "region", type = "text", default = "eu" },
        { name = "placed_after", type = "timestamptz", default = "2000-01-01" },
        { name = "paid", type = "bool", default = "true" },
    ]

    [[dataset]]
    name = "totals"
    sql = "SELECT region, sum(total) AS total, count(*)::int8 AS n FROM orders WHERE total > $1 GROUP BY region ORDER BY region"
    params = [ { name = "above", type = "numeric", default = "0" } ]
"#;

fn orders_db(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, region text NOT NULL, total numeric(10,2), \
           placed timestamptz NOT NULL, paid bool NOT NULL, note text, tags text[]); \
         INSERT INTO orders \
           SELECT i, CASE WHEN i % 3 = 0 THEN 'us' ELSE 'eu' END, i * 1.25, \
                  '2024-01-01'::timestamptz + i * interval '1 hour', i % 2 = 0, \
                  CASE WHEN i % 5 = 0 THEN NULL ELSE E'line \"' || i || E'\"\\nnext' END, \
                  ARRAY['a', i::text] \
           FROM generate_series(1, 300) AS i;",
    );
    db
}

/// `GET /openapi.json`, checked to be a 200 JSON object.
#[track_caller]
fn description(addr: std::net::SocketAddr) -> Value {
    let response = http::get(addr, "/openapi.json");
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.is_json(), "{:?}", response.headers);
    let document = response.json();
    assert_eq!(document["openapi"], "3.1.0");
    document
}

/// The parameter `name` of an operation.
#[track_caller]
fn parameter<'a>(operation: &'a Value, name: &str) -> &'a Value {
    operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|parameter| parameter["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name}: {operation:#}"))
}

/// The names of an operation's parameters `in` the query, in order.
fn query_names(operation: &Value) -> Vec<&str> {
    operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|parameter| parameter["in"] == "query")
        .map(|parameter| parameter["name"].as_str().expect("a name"))
        .collect()
}

/// Whether the description says `path`'s `GET` may answer `status` with `code`, resolving
/// its error body schema.
fn documents(document: &Value, path: &str, status: u16, code: &str) -> bool {
    let response = &document["paths"][path]["get"]["responses"][status.to_string()];
    let Some(reference) = response["content"]["application/json"]["schema"]["$ref"].as_str() else {
        return false;
    };
    let name = reference.trim_start_matches("#/components/schemas/");
    let codes = &document["components"]["schemas"][name]["properties"]["error"]["properties"]["code"]
        ["enum"];
    codes
        .as_array()
        .is_some_and(|codes| codes.iter().any(|c| c == code))
}

#[test]
fn every_route_is_described_and_every_description_is_served() {
    let db = orders_db("openapi_routes");
    let server = TestServer::start(db.url(), CONFIG);
    let document = description(server.addr());
    let paths = document["paths"].as_object().expect("paths");

    // Described -> in the list: every path but the per-dataset downloads.
    let per_dataset = |path: &str| {
        ["orders", "orders_since", "totals"]
            .iter()
            .any(|name| path == format!("/datasets/{name}.{{format}}"))
    };
    for path in paths.keys().filter(|path| !per_dataset(path)) {
        assert!(
            ROUTES.iter().any(|(described, _)| described == path),
            "{path} is described, but not one of the routes this test knows"
        );
    }
    // In the list -> described, and answered with a status described for it.
    for (described, request) in ROUTES {
        let operation = &paths
            .get(*described)
            .unwrap_or_else(|| panic!("{described} is not described"))["get"];
        let response = http::get(server.addr(), request);
        let status = response.status.to_string();
        assert!(
            operation["responses"].get(&status).is_some(),
            "GET {request} answered {status}, not described for {described}: {}",
            response.text()
        );
        assert_eq!(response.status, 200, "GET {request}: {}", response.text());
        assert!(response.header("x-request-id").is_some());
    }
    // A download's HEAD is described too, and answered without a body.
    for path in ["/datasets/{name}.{format}", "/datasets/orders.{format}"] {
        let head = &paths[path]["head"];
        assert!(head["responses"]["200"].is_object(), "HEAD {path}");
        assert!(
            head["responses"]["200"].get("content").is_none(),
            "HEAD {path}"
        );
    }
    let response = http::request(server.addr(), "HEAD", "/datasets/orders.csv", &[]);
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());

    // Not described -> not answered; described -> only GET (and HEAD).
    for path in [
        "/index.html",
        "/dataset",
        "/datasets/",
        "/openapi.yaml",
        "/metrics/x",
    ] {
        let response = http::get(server.addr(), path);
        assert_eq!(response.status, 404, "GET {path}");
        assert_eq!(response.json()["error"]["code"], "not_found", "GET {path}");
    }
    for (_, request) in ROUTES {
        let response = http::request(server.addr(), "POST", request, &[]);
        assert_eq!(response.status, 405, "POST {request}");
        assert_eq!(response.json()["error"]["code"], "method_not_allowed");
    }
}

#[test]
fn keys_formats_and_dataset_parameters_are_described() {
    let db = orders_db("openapi_params");
    let server = TestServer::start(db.url(), CONFIG);
    let document = description(server.addr());
    let paths = &document["paths"];

    // Any dataset: every key, and every suffix, each of which downloads.
    let any = &paths["/datasets/{name}.{format}"]["get"];
    assert_eq!(query_names(any), KEYS);
    let suffixes = &parameter(any, "format")["schema"]["enum"];
    assert_eq!(suffixes.as_array().unwrap().len(), SUFFIXES.len());
    for suffix in SUFFIXES {
        assert!(suffixes.as_array().unwrap().iter().any(|s| s == suffix));
        let response = http::get(server.addr(), &format!("/datasets/orders.{suffix}?limit=3"));
        assert_eq!(response.status, 200, "{suffix}: {}", response.text());
        let content_type = response.header("content-type").unwrap();
        let media_type = content_type.split(';').next().unwrap();
        assert!(
            any["responses"]["200"]["content"].get(media_type).is_some(),
            "{suffix}: {content_type} is not described"
        );
    }
    for (key, value) in [
        ("header", "false"),
        ("delimiter", ";"),
        ("null", "NULL"),
        ("quote", "all"),
        ("excel", "true"),
        ("columns", "id,total"),
        ("limit", "2"),
        ("after", "5"),
    ] {
        let path = format!("/datasets/orders.csv?{key}={value}");
        let response = http::get(server.addr(), &path);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
    }
    assert_eq!(
        parameter(any, "quote")["schema"]["enum"],
        serde_json::json!(["minimal", "all", "nonnumeric"])
    );
    assert_eq!(parameter(any, "limit")["schema"]["maximum"], i64::MAX);
    assert_eq!(parameter(any, "columns")["schema"]["maxItems"], 1664);

    // Each dataset: its own path, with its parameters and their types; `after` only with
    // a key.
    let orders = &paths["/datasets/orders.{format}"]["get"];
    assert_eq!(query_names(orders), KEYS);
    assert_eq!(orders["summary"], "orders: Every order");

    let since = &paths["/datasets/orders_since.{format}"]["get"];
    // Every key but `after` (no key), then the parameters in their declared order.
    let expected: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|key| *key != "after")
        .chain(["from", "region", "placed_after", "paid"])
        .collect();
    assert_eq!(query_names(since), expected);
    let from = parameter(since, "from");
    assert_eq!(from["required"], true);
    assert_eq!(from["x-rowpipe-type"], "int4");
    assert_eq!(from["schema"]["type"], "integer");
    assert_eq!(from["schema"]["maximum"], i32::MAX);
    let region = parameter(since, "region");
    assert_eq!(region["required"], false);
    assert_eq!(region["schema"]["type"], "string");
    assert_eq!(region["schema"]["default"], "eu");
    assert_eq!(
        parameter(since, "placed_after")["schema"]["format"],
        "date-time"
    );
    let paid = parameter(since, "paid");
    assert_eq!(
        paid["schema"],
        serde_json::json!({ "type": "boolean", "default": true })
    );
    let above = parameter(&paths["/datasets/totals.{format}"]["get"], "above");
    assert_eq!(above["x-rowpipe-type"], "numeric");
    assert_eq!(above["schema"]["default"], 0.0);

    // The described parameters are what the server takes.
    let response = http::get_csv(
        server.addr(),
        "/datasets/orders_since.csv?from=290&region=us&paid=true&columns=id",
    );
    assert_eq!(response.text(), "id\n294\n300\n");
    // The defaults: paid, placed after 2000.
    let response = http::get_csv(
        server.addr(),
        "/datasets/orders_since.csv?from=200&region=us&columns=id",
    );
    let ids: Vec<&str> = response.text().lines().skip(1).collect();
    let expected: Vec<String> = (204..=300).step_by(6).map(|id| id.to_string()).collect();
    assert_eq!(ids, expected);
}

/// What the server answers to a bad request is a status and a code the description lists
/// for that route.
#[test]
fn answered_errors_are_described() {
    let db = orders_db("openapi_errors");
    let server = TestServer::start(db.url(), CONFIG);
    let document = description(server.addr());
    let any = "/datasets/{name}.{format}";
    for (path, headers) in [
        ("/datasets/nothing.csv", &[][..]),
        ("/datasets/orders.xlsx", &[]),
        ("/datasets/orders.csv?limit=-1", &[]),
        ("/datasets/orders.csv?columns=nope", &[]),
        ("/datasets/orders.csv?after=x", &[]),
        ("/datasets/orders.csv?sort=id", &[]),
        ("/datasets/orders.csv?delimiter=%22", &[]),
        ("/datasets/orders_since.csv", &[]),
        ("/datasets/orders_since.csv?from=x", &[]),
        ("/datasets/orders_since.csv?from=1&after=1", &[]),
        ("/datasets/orders.csv", &[("Range", "bytes=10-")][..]),
        (
            "/datasets/orders.csv",
            &[("Accept-Encoding", "identity;q=0")][..],
        ),
    ] {
        let response = http::request(server.addr(), "GET", path, headers);
        let body = response.json();
        let code = body["error"]["code"].as_str().expect("an error code");
        assert_eq!(
            body["error"]["request_id"].as_str(),
            response.header("x-request-id")
        );
        assert!(
            documents(&document, any, response.status, code),
            "GET {path} answered {} {code}, which the description does not list",
            response.status
        );
    }
}

/// How many test cases schemathesis generates per operation and phase; more with
/// `SCHEMATHESIS_MAX_EXAMPLES`.
const SCHEMATHESIS_EXAMPLES: &str = "40";

/// The seed, fixed so that a failure reproduces on the next run; another with
/// `SCHEMATHESIS_SEED`.
const SCHEMATHESIS_SEED: &str = "20240614";

/// schemathesis (PyPI; `.ci/run` installs it) generates requests from the description,
/// valid and invalid, against the real binary over a real database, and checks every
/// answer against the description: no 5xx, no status, header, content type or body it
/// does not describe, invalid input refused. Then the server must still be running and
/// must not have logged a server error.
#[test]
fn schemathesis_finds_no_server_error_and_no_undescribed_answer() {
    let db = orders_db("openapi_schemathesis");
    let server = ServeProcess::start_with_config(db.url(), CONFIG);
    let settings = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/schemathesis.toml");
    let examples =
        std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or(SCHEMATHESIS_EXAMPLES.into());
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or(SCHEMATHESIS_SEED.into());
    let reports = tempfile::tempdir().expect("a report directory");

    // Through python3 rather than the `st` script, which need not be on PATH.
    let output = run(Command::new("python3")
        .args([
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
        ])
        .args(["--config-file", settings, "--no-color", "run"])
        .arg(format!("http://{}/openapi.json", server.addr()))
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--workers", "1", "--request-timeout", "30", "--no-shrink"])
        .arg("--report-dir")
        .arg(reports.path())
        .current_dir(reports.path()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named 'schemathesis'") {
        panic!(
            "schemathesis is not installed for python3: `bash .ci/run` installs it, or \
             `python3 -m pip install schemathesis`\n{stderr}"
        );
    }
    assert!(
        output.status.success(),
        "schemathesis failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    // It ran, and tested every operation, the datasets' downloads included: all but
    // `/openapi.json`, which schemathesis leaves out as the description itself.
    let tested = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("Tested: "))
        .unwrap_or_else(|| panic!("no count of tested operations:\n{stdout}"));
    let operations = description(server.addr())["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum::<usize>()
        - 1;
    assert_eq!(tested, operations.to_string(), "{stdout}");
    let cases = stdout
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_suffix(" passed")?
                .split_once(" generated, ")
        })
        .unwrap_or_else(|| panic!("no count of test cases:\n{stdout}"));
    assert_eq!(cases.0, cases.1, "{stdout}");
    assert!(cases.0.parse::<u32>().unwrap() >= 500, "{stdout}");

    // No crash, no server error, and downloads really ran.
    assert_eq!(http::get(server.addr(), "/livez").status, 200);
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !log.contains("request failed"),
        "a request got a server error:\n{}",
        log.lines()
            .filter(|line| line.contains("request failed"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let complete = server
        .settled_log_lines("download complete", Duration::from_secs(10))
        .len();
    assert!(complete >= 50, "only {complete} downloads completed");
}
