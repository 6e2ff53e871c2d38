//! Bad input of every kind gets a clear answer and loses nothing.
//!
//! Over HTTP that means a 4xx/5xx status with a JSON body `{"error": {"code", "message"}}`;
//! on the command line a message on stderr and a non-zero exit (2 for usage and
//! configuration, 1 for runtime failures). Never a panic, a hang, a 5xx for a client's
//! mistake, a half-written file, or a password in a message or log.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::harness::http::{self, Response};
use crate::harness::server::free_local_addr;
use crate::harness::{ServeProcess, TestDb, TestServer, assert_bytes_eq, cluster, rowpipe, run};

/// The password planted in connection URLs; it must never be printed or logged.
const SECRET: &str = "s3cretpw";

/// How long a command that must fail at start-up may take before it counts as hanging.
const PROMPT_EXIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A URL with a password, pointing at a loopback port nothing listens on.
fn unreachable_url() -> String {
    let port = free_local_addr().port();
    format!("postgres://alice:{SECRET}@127.0.0.1:{port}/db")
}

/// Checks that `response` is an error answer: `status`, `Content-Type: application/json`,
/// and a body `{"error": {"code": code, "message": <non-empty>}}`. Returns `error`.
#[track_caller]
fn assert_json_error(response: &Response, status: u16, code: &str) -> Value {
    let body = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, status, "unexpected status; body: {body}");
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?} is not JSON; body: {body}"
    );
    assert!(response.complete, "error body was cut short: {body}");
    let json = response.json();
    let error = &json["error"];
    assert_eq!(error["code"], code, "wrong error code in {json}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "no error.message in {json}");
    error.clone()
}

/// Checks that `response` is a client error (4xx) with a well-formed JSON error body,
/// whatever its code: for inputs where any 4xx is a fine answer.
#[track_caller]
fn assert_client_error(path: &str, response: &Response) {
    let body = String::from_utf8_lossy(&response.body);
    assert!(
        (400..500).contains(&response.status),
        "{path}: status {} is not a 4xx; body: {body}",
        response.status
    );
    let code = response.json()["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no error.code in {body}"))
        .to_owned();
    assert_json_error(response, response.status, &code);
}

/// Stderr as text.
fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Stdout and stderr together, for searching them both.
fn all_output(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts the exit code and that the message is not a panic; returns stderr.
#[track_caller]
fn assert_exit(output: &Output, code: i32) -> String {
    let stderr = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit code {code}; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "rowpipe panicked:\n{stderr}");
    assert!(!stderr.trim().is_empty(), "no message on stderr");
    stderr
}

/// Runs `cmd`, failing the test if it has not exited within `limit` (it is killed then).
/// For commands that must fail at start-up: `rowpipe serve` with good input would serve
/// forever.
#[track_caller]
fn run_briefly(cmd: &mut Command, limit: Duration) -> Output {
    let (output, exited) = run_at_most(cmd, limit);
    if !exited {
        panic!(
            "{cmd:?} was still running after {limit:?} (it should have refused to start)\n\
             --- stderr ---\n{}",
            stderr(&output)
        );
    }
    output
}

/// Runs `cmd` for at most `limit`, then stops it, and returns what it printed.
fn run_for(cmd: &mut Command, limit: Duration) -> Output {
    run_at_most(cmd, limit).0
}

/// Runs `cmd` until it exits or `limit` passes (then kills it); returns its output and
/// whether it exited by itself.
fn run_at_most(cmd: &mut Command, limit: Duration) -> (Output, bool) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rowpipe");
    let deadline = Instant::now() + limit;
    let mut exited = false;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait for rowpipe").is_some() {
            exited = true;
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    if !exited {
        let _ = child.kill();
    }
    (
        child.wait_with_output().expect("collect rowpipe's output"),
        exited,
    )
}

/// `rowpipe serve --config FILE --database URL --listen <free port>`, expected to refuse to
/// start.
#[track_caller]
fn serve_with_config(config: &Path) -> Output {
    let listen = free_local_addr().to_string();
    let url = unreachable_url();
    let mut cmd = rowpipe();
    cmd.arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--database", &url, "--listen", &listen]);
    run_briefly(&mut cmd, PROMPT_EXIT)
}

/// `rowpipe export --database URL` plus `args`, run to completion.
fn export(url: &str, args: &[&str]) -> Output {
    run(rowpipe().args(["export", "--database", url]).args(args))
}

/// `path` with `.part` appended to its file name, where the file sink writes first.
fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().expect("a file name").to_owned();
    name.push(".part");
    path.with_file_name(name)
}

/// A database with a small `orders` table.
fn orders_db(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, total numeric);
         INSERT INTO orders VALUES (1, 9.99), (2, 100);",
    );
    db
}

// ---------------------------------------------------------------------------------------
// HTTP: requests for things that do not exist
// ---------------------------------------------------------------------------------------

/// An unknown dataset is a 404 `unknown_dataset` naming it, not a query against the
/// database with the client's name in it.
#[test]
fn http_unknown_dataset_is_404() {
    let db = orders_db("bad_http_unknown_ds");
    let server = TestServer::start(db.url(), "");
    let response = http::get(server.addr(), "/datasets/nope.csv");
    let error = assert_json_error(&response, 404, "unknown_dataset");
    assert!(
        error["message"].as_str().unwrap().contains("nope"),
        "{error}"
    );

    // Also when the datasets come from the config file.
    let server = TestServer::start(
        db.url(),
        "[[dataset]]\nname = \"orders\"\ntable = \"orders\"\n",
    );
    let response = http::get(server.addr(), "/datasets/customers.csv");
    assert_json_error(&response, 404, "unknown_dataset");
}

/// An unsupported format suffix, or none at all, is a 404 `unknown_format` that lists the
/// formats there are.
#[test]
fn http_unknown_or_missing_format_is_404_listing_supported_formats() {
    let db = orders_db("bad_http_format");
    let server = TestServer::start(db.url(), "");

    let response = http::get(server.addr(), "/datasets/orders.xlsx");
    let error = assert_json_error(&response, 404, "unknown_format");
    assert_eq!(
        error["supported"],
        serde_json::json!(["csv", "tsv", "jsonl", "json"]),
        "{error}"
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("xlsx") && message.contains("csv"),
        "{message}"
    );

    let response = http::get(server.addr(), "/datasets/orders");
    let error = assert_json_error(&response, 404, "unknown_format");
    assert_eq!(
        error["supported"],
        serde_json::json!(["csv", "tsv", "jsonl", "json"]),
        "{error}"
    );
}

/// Paths outside the API are a JSON 404 `not_found`, not axum's empty default.
#[test]
fn http_unknown_route_is_404_not_found() {
    let db = orders_db("bad_http_route");
    let server = TestServer::start(db.url(), "");
    for path in [
        "/nope",
        "/view/orders/extra",
        "/assets/",
        "/datasets/orders.csv/extra",
        "/healthz/x",
        "/DATASETS",
    ] {
        let response = http::get(server.addr(), path);
        let error = assert_json_error(&response, 404, "not_found");
        assert!(
            error["message"].as_str().unwrap().contains(path),
            "{path}: {error}"
        );
    }
}

/// Methods other than GET on existing routes are a JSON 405 `method_not_allowed`, and
/// never run an export.
#[test]
fn http_other_methods_are_405() {
    let db = orders_db("bad_http_method");
    let server = TestServer::start(db.url(), "");
    let cases = [
        ("POST", "/datasets"),
        ("DELETE", "/datasets/orders.csv"),
        ("PUT", "/datasets/orders.csv"),
        ("POST", "/healthz"),
        ("PATCH", "/datasets"),
    ];
    for (method, path) in cases {
        let response = http::request(server.addr(), method, path, &[("Content-Length", "0")]);
        let error = assert_json_error(&response, 405, "method_not_allowed");
        assert!(
            error["message"].as_str().unwrap().contains(method),
            "{method} {path}: {error}"
        );
    }
    assert_eq!(db.query_scalar("SELECT count(*) FROM orders"), "2");
}

/// Odd and hostile paths are answered with a 4xx JSON error: never a 5xx, a crash, or an
/// empty reply; and the server keeps serving afterwards. The SQL-looking name is only ever
/// compared with dataset names, so the table it names survives.
#[test]
fn http_odd_paths_get_a_4xx_json_error() {
    let db = orders_db("bad_http_odd");
    let long_name = "a".repeat(10_000);
    let very_long = format!("/datasets/{long_name}.csv");
    let paths = [
        "/datasets/%FF%FE.csv",
        "/datasets/%FF%FE",
        "/datasets/..%2F..%2Fetc%2Fpasswd.csv",
        "/datasets/../../etc/passwd.csv",
        "/datasets/.csv",
        "/datasets/.",
        "/datasets/orders.",
        "/datasets/%00.csv",
        "/datasets/orders%00.csv",
        "/datasets/%2e%2e.csv",
        "/datasets/",
        "/datasets//orders.csv",
        "/datasets/orders.csv%2F..",
        "/datasets/%27%3B%20DROP%20TABLE%20orders%3B%20--.csv",
        "/datasets/%22orders%22.csv",
        "/datasets/public.orders.csv",
        &very_long,
        "/datasets/orders.csv?format=xlsx&%ZZ",
    ];
    // Both catalogs: discovered tables (looked up in the database) and configured datasets.
    for config in ["", "[[dataset]]\nname = \"orders\"\ntable = \"orders\"\n"] {
        let server = TestServer::start(db.url(), config);
        for path in paths {
            let response = http::get(server.addr(), path);
            assert_client_error(&path[..path.len().min(80)], &response);
        }
        let response = http::get(server.addr(), "/datasets/orders.csv");
        assert_eq!(response.status, 200, "the server stopped serving downloads");
    }
    assert_eq!(db.query_scalar("SELECT count(*) FROM orders"), "2");
}

// ---------------------------------------------------------------------------------------
// HTTP: the database cannot be reached
// ---------------------------------------------------------------------------------------

/// A server whose database is unreachable still starts (with a warning), answers every
/// request that needs the database with 503 `database_unavailable`, keeps answering, and
/// never shows the URL's password: not in a body, not in its log.
#[test]
fn http_unreachable_database_is_503_without_the_password() {
    let url = unreachable_url();
    let server = ServeProcess::start(&url, &[]);
    server.wait_for_log("does not answer", Duration::from_secs(30));

    let mut bodies = String::new();
    for round in 0..2 {
        for path in ["/healthz", "/datasets", "/datasets/orders.csv"] {
            let response = http::get(server.addr(), path);
            let error = assert_json_error(&response, 503, "database_unavailable");
            let message = error["message"].as_str().unwrap();
            assert!(
                message.contains("cannot connect"),
                "round {round}, {path}: {message}"
            );
            bodies.push_str(&String::from_utf8_lossy(&response.body));
        }
    }
    // Requests that need no database are still answered as usual.
    assert_json_error(
        &http::get(server.addr(), "/datasets/orders.xlsx"),
        404,
        "unknown_format",
    );

    let log = server.log();
    assert!(
        !bodies.contains(SECRET),
        "a response shows the password: {bodies}"
    );
    assert!(!log.contains(SECRET), "the log shows the password:\n{log}");
    // The log does name the database, masked, so the check above is not vacuous.
    let masked = url.replace(SECRET, "***");
    assert!(log.contains(&masked), "the log lacks {masked:?}:\n{log}");
}

/// Passwords holding every character that has a meaning in a URL or a key=value string,
/// written correctly (percent-encoded, quoted) and carelessly (as they are): no part of one
/// shows in serve's start-up log or in export's messages.
#[test]
fn passwords_with_special_characters_never_show() {
    let port = free_local_addr().port();
    let passwords = ["pw/9?x#k", "pw@9:x%k", "pw 9 x'k"];
    for password in passwords {
        let encoded = utf8_percent_encode(password, NON_ALPHANUMERIC).to_string();
        let quoted = password.replace('\'', "\\'");
        // Each with whether it is written correctly.
        let urls = [
            (
                format!("postgres://alice:{encoded}@127.0.0.1:{port}/db"),
                true,
            ),
            (
                format!("postgres://alice:{password}@127.0.0.1:{port}/db"),
                false,
            ),
            (
                format!("postgres://127.0.0.1:{port}/db?user=alice&password={encoded}"),
                true,
            ),
            (
                format!("host=127.0.0.1 port={port} user=alice password='{quoted}' dbname=db"),
                true,
            ),
            (
                format!("host=127.0.0.1 port={port} user=alice password={password} dbname=db"),
                false,
            ),
        ];
        for (url, correct) in urls {
            let export = run(rowpipe()
                .args(["export", "--sql", "SELECT 1", "--database", &url])
                .env("RUST_LOG", "debug"));
            assert_ne!(export.status.code(), Some(0), "{url}");
            // Serving an unreachable database goes on; its start-up lines are what counts.
            let listen = free_local_addr().to_string();
            let serve = run_for(
                rowpipe()
                    .args(["serve", "--database", &url, "--listen", &listen])
                    .env("RUST_LOG", "debug"),
                Duration::from_secs(1),
            );
            if correct {
                // The log names the database, masked: the checks below are not vacuous.
                let log = all_output(&serve);
                let masked = format!("postgres://alice:***@127.0.0.1:{port}/db");
                assert!(log.contains(&masked), "{url}: no {masked:?} in\n{log}");
            }
            for output in [&export, &serve] {
                let shown = all_output(output);
                assert!(!shown.is_empty(), "{url}: nothing said");
                assert_no_part_of(password, &shown, &url);
            }
        }
    }
}

/// No three consecutive characters of `secret` appear in `shown`.
fn assert_no_part_of(secret: &str, shown: &str, context: &str) {
    let chars: Vec<char> = secret.chars().collect();
    for window in chars.windows(3) {
        let part: String = window.iter().collect();
        assert!(
            !shown.contains(&part),
            "{part:?} of the password shows (from {context:?}):\n{shown}"
        );
    }
}

/// With configured datasets, a download of a known dataset reaches the database and so is
/// a 503 when it is down; an unknown one is still a 404. No password anywhere.
#[test]
fn http_unreachable_database_with_configured_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rowpipe.toml");
    std::fs::write(
        &config,
        "[[dataset]]\nname = \"orders\"\nsql = \"SELECT 1 AS one\"\n",
    )
    .unwrap();
    let url = unreachable_url();
    let server = ServeProcess::start(&url, &["--config", config.to_str().unwrap()]);

    let response = http::get(server.addr(), "/datasets/orders.csv");
    let error = assert_json_error(&response, 503, "database_unavailable");
    assert!(error.get("sqlstate").is_none_or(Value::is_null), "{error}");
    let response = http::get(server.addr(), "/datasets");
    assert_json_error(&response, 503, "database_unavailable");
    let response = http::get(server.addr(), "/datasets/customers.csv");
    assert_json_error(&response, 404, "unknown_dataset");
    let response = http::get(server.addr(), "/healthz");
    assert!(!response.text().contains(SECRET));
    assert_json_error(&response, 503, "database_unavailable");

    let log = server.wait_for_log("request failed", Duration::from_secs(10));
    assert!(!log.contains(SECRET), "the log shows the password:\n{log}");
}

// ---------------------------------------------------------------------------------------
// Configuration mistakes
// ---------------------------------------------------------------------------------------

/// A configuration mistake and what the error message must contain besides the file path.
struct ConfigCase {
    what: &'static str,
    toml: &'static str,
    /// Each of these must appear in stderr: the key, and what was expected.
    expected: &'static [&'static str],
}

const CONFIG_CASES: &[ConfigCase] = &[
    ConfigCase {
        what: "unknown key in [database]",
        toml: "[database]\npool_sise = 3\n",
        expected: &["pool_sise", "pool_size"],
    },
    ConfigCase {
        what: "unknown key in [server]",
        toml: "[server]\nlistn = \"127.0.0.1:9\"\n",
        expected: &["listn", "`listen`"],
    },
    ConfigCase {
        what: "unknown key in [stream]",
        toml: "[stream]\nchunk_sise = 10\n",
        expected: &["chunk_sise", "`chunk_size`", "`prefetch_depth`"],
    },
    ConfigCase {
        what: "unknown key in [[dataset]]",
        toml: "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\ncolour = 1\n",
        expected: &["colour", "`name`", "`sql`", "`table`"],
    },
    ConfigCase {
        what: "unknown section",
        toml: "[databse]\nurl = \"postgres://u@h/db\"\n",
        expected: &["databse", "`database`"],
    },
    ConfigCase {
        what: "wrong type",
        toml: "[database]\npool_size = \"eight\"\n",
        expected: &["pool_size", "invalid type", "expected usize"],
    },
    ConfigCase {
        what: "negative number",
        toml: "[database]\npool_size = -1\n",
        expected: &["pool_size", "-1"],
    },
    ConfigCase {
        what: "pool_size = 0",
        toml: "[database]\npool_size = 0\n",
        expected: &["database.pool_size", "at least 1"],
    },
    ConfigCase {
        what: "bad duration",
        toml: "[database]\nstatement_timeout = \"soon\"\n",
        expected: &["statement_timeout", "soon", "10min"],
    },
    ConfigCase {
        what: "bad connect timeout",
        toml: "[database]\nconnect_timeout = 10\n",
        expected: &["connect_timeout", "invalid type"],
    },
    ConfigCase {
        what: "bad listen address",
        toml: "[server]\nlisten = \"notanaddress\"\n",
        expected: &["listen", "socket address"],
    },
    ConfigCase {
        what: "max_downloads = 0",
        toml: "[server]\nmax_downloads = 0\n",
        expected: &["server.max_downloads", "at least 1"],
    },
    ConfigCase {
        what: "max_connections = 0",
        toml: "[server]\nmax_connections = 0\n",
        expected: &["server.max_connections", "at least 1"],
    },
    ConfigCase {
        what: "send_timeout = 0s",
        toml: "[server]\nsend_timeout = \"0s\"\n",
        expected: &["server.send_timeout", "more than 0s"],
    },
    ConfigCase {
        what: "a bad shutdown_grace",
        toml: "[server]\nshutdown_grace = \"soon\"\n",
        expected: &["shutdown_grace", "invalid duration"],
    },
    ConfigCase {
        what: "max_concurrent = 0",
        toml: "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\nmax_concurrent = 0\n",
        expected: &["dataset[0].max_concurrent", "at least 1"],
    },
    ConfigCase {
        what: "chunk_size = 0",
        toml: "[stream]\nchunk_size = 0\n",
        expected: &["stream.chunk_size", "at least 1"],
    },
    ConfigCase {
        what: "prefetch_depth too large",
        toml: "[stream]\nprefetch_depth = 5000\n",
        expected: &["stream.prefetch_depth", "at most 1024"],
    },
    ConfigCase {
        what: "dataset with neither sql nor table",
        toml: "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\n[[dataset]]\nname = \"b\"\n",
        expected: &["dataset[1].sql", "missing", "`table`"],
    },
    ConfigCase {
        what: "dataset with both sql and table",
        toml: "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\ntable = \"t\"\n",
        expected: &["dataset[0]", "not both"],
    },
    ConfigCase {
        what: "dataset with empty sql",
        toml: "[[dataset]]\nname = \"a\"\nsql = \"  \"\n",
        expected: &["dataset[0].sql", "empty"],
    },
    ConfigCase {
        what: "duplicate dataset names",
        toml: "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\n\
               [[dataset]]\nname = \"a\"\nsql = \"SELECT 2\"\n",
        expected: &["dataset[1].name", "duplicate", "\"a\""],
    },
    ConfigCase {
        what: "invalid dataset name",
        toml: "[[dataset]]\nname = \"ok\"\nsql = \"SELECT 1\"\n\
               [[dataset]]\nname = \"a b\"\nsql = \"SELECT 1\"\n",
        expected: &["dataset[1].name", "\"a b\"", "letters, digits"],
    },
    ConfigCase {
        what: "dataset name with a slash",
        toml: "[[dataset]]\nname = \"../x\"\nsql = \"SELECT 1\"\n",
        expected: &["dataset[0].name", "letters, digits"],
    },
    ConfigCase {
        what: "empty dataset name",
        toml: "[[dataset]]\nname = \"\"\nsql = \"SELECT 1\"\n",
        expected: &["dataset[0].name", "non-empty"],
    },
    ConfigCase {
        what: "dataset without a name",
        toml: "[[dataset]]\nsql = \"SELECT 1\"\n",
        expected: &["name"],
    },
    ConfigCase {
        what: "invalid table name",
        toml: "[[dataset]]\nname = \"a\"\ntable = \"x.y.z\"\n",
        expected: &["dataset[0].table", "x.y.z", "schema.name"],
    },
    ConfigCase {
        what: "TOML syntax error",
        toml: "[database]\npool_size = 3\n[stream\n",
        expected: &["line 3"],
    },
    ConfigCase {
        what: "dataset given as a table instead of an array of tables",
        toml: "[dataset]\nname = \"a\"\nsql = \"SELECT 1\"\n",
        expected: &["dataset", "invalid type"],
    },
];

/// Every configuration mistake stops `rowpipe serve` at once with exit code 2 and a
/// message naming the file, the key and what was expected. All cases run; the failures are
/// reported together.
#[test]
fn config_mistakes_are_reported_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (index, case) in CONFIG_CASES.iter().enumerate() {
        let path = dir.path().join(format!("case{index}.toml"));
        std::fs::write(&path, case.toml).unwrap();
        let started = Instant::now();
        let output = serve_with_config(&path);
        let elapsed = started.elapsed();
        let stderr = stderr(&output);
        let mut problems = Vec::new();
        if output.status.code() != Some(2) {
            problems.push(format!("exit status {}, expected 2", output.status));
        }
        if !stderr.contains(&path.display().to_string()) {
            problems.push("the message does not name the file".to_owned());
        }
        for needle in case.expected {
            if !stderr.contains(needle) {
                problems.push(format!("the message lacks {needle:?}"));
            }
        }
        if stderr.contains("panicked") || stderr.contains(SECRET) {
            problems.push("a panic or the password in the message".to_owned());
        }
        if stderr.contains("serving on") {
            problems.push("the server started".to_owned());
        }
        if elapsed > Duration::from_secs(5) {
            problems.push(format!("took {elapsed:?} to refuse"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({:?}): {}\n--- stderr ---\n{stderr}",
                case.what,
                case.toml,
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// A config file that does not exist, or is a directory, is exit code 2 naming the path.
#[test]
fn unreadable_config_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-rowpipe.toml");
    let output = serve_with_config(&missing);
    let stderr = assert_exit(&output, 2);
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");

    let output = serve_with_config(dir.path());
    let stderr = assert_exit(&output, 2);
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("directory"), "{stderr}");
}

/// A database URL in the config file never shows its password in an error about the
/// file, not even when the mistake is on the `url` line itself (a TOML syntax error there
/// makes the parser quote the line).
#[test]
fn config_errors_do_not_show_the_url_password() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "invalid URL",
            format!("[database]\nurl = \"postgres://alice:{SECRET}@host:notaport/db\"\n"),
        ),
        (
            "a mistake on another line",
            format!("[database]\nurl = \"postgres://alice:{SECRET}@h/db\"\npool_size = 0\n"),
        ),
        (
            "wrong type next to the URL",
            format!("[database]\nurl = \"postgres://alice:{SECRET}@h/db\"\npool_size = \"x\"\n"),
        ),
        (
            "unterminated string on the url line",
            format!("[database]\nurl = \"postgres://alice:{SECRET}@h/db\n"),
        ),
        (
            "two keys on the url line",
            format!("[database]\nurl = \"postgres://alice:{SECRET}@h/db\" pool_size = 3\n"),
        ),
    ];
    let mut failures = Vec::new();
    for (index, (what, toml)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("secret{index}.toml"));
        std::fs::write(&path, toml).unwrap();
        let listen = free_local_addr().to_string();
        // No --database: the config file's URL is the one in use.
        let mut cmd = rowpipe();
        cmd.arg("serve")
            .arg("--config")
            .arg(&path)
            .args(["--listen", &listen]);
        let output = run_briefly(&mut cmd, PROMPT_EXIT);
        let stderr = stderr(&output);
        if output.status.code() != Some(2) || stderr.contains(SECRET) {
            failures.push(format!("{what}: {}\n{stderr}", output.status));
        }
    }
    assert!(
        failures.is_empty(),
        "config errors with the password or the wrong exit status:\n{}",
        failures.join("\n")
    );
}

/// `rowpipe serve` with a config file that names no database says where one can be given
/// (with neither, it serves the demo: see `demo.rs`).
#[test]
fn serve_without_a_database_is_a_usage_error() {
    let listen = free_local_addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rowpipe.toml");
    std::fs::write(&config, "[database]\npool_size = 2\n").unwrap();
    let mut cmd = rowpipe();
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", &listen]);
    let output = run_briefly(&mut cmd, PROMPT_EXIT);
    let stderr = assert_exit(&output, 2);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

/// A listen address that is taken is a runtime failure (exit 1) naming the address; one
/// that is not an address is a usage error (exit 2).
#[test]
fn serve_listen_errors() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = taken.local_addr().unwrap();
    let url = unreachable_url();
    let output = run_briefly(
        rowpipe().args(["serve", "--database", &url, "--listen", &addr.to_string()]),
        PROMPT_EXIT,
    );
    let stderr = assert_exit(&output, 1);
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    drop(taken);

    for bad in ["notanaddress", "127.0.0.1", "127.0.0.1:99999", ""] {
        let output = run_briefly(
            rowpipe().args(["serve", "--database", &url, "--listen", bad]),
            PROMPT_EXIT,
        );
        let stderr = assert_exit(&output, 2);
        assert!(stderr.contains("--listen"), "{bad:?}: {stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
}

/// An invalid `--database` URL for the server is a usage error with the password masked.
#[test]
fn serve_invalid_database_url_is_masked() {
    let listen = free_local_addr().to_string();
    let url = format!("postgres://alice:{SECRET}@host:notaport/db");
    let output = run_briefly(
        rowpipe().args(["serve", "--database", &url, "--listen", &listen]),
        PROMPT_EXIT,
    );
    let stderr = assert_exit(&output, 2);
    assert!(stderr.contains("`port`"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// CLI export: usage mistakes
// ---------------------------------------------------------------------------------------

/// Usage mistakes on `rowpipe export` are exit code 2 with a message naming what is wrong;
/// they are caught before any connection attempt (the URL here leads nowhere).
#[test]
fn export_usage_mistakes_exit_2() {
    let url = unreachable_url();
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &["--sql", "--table"]),
        (
            &["--sql", "SELECT 1", "--table", "t"],
            &["--sql", "--table"],
        ),
        (&["--sql", ""], &["--sql", "empty"]),
        (&["--sql", "  \n "], &["--sql", "empty"]),
        (&["--table", "a.b.c"], &["a.b.c", "schema.name"]),
        (&["--table", ""], &["--table"]),
        (
            &["--table", "x\"; DROP TABLE t; --"],
            &["--table", "invalid table name"],
        ),
        (&["--sql", "SELECT 1", "--format", "xlsx"], &["xlsx", "csv"]),
        (
            &["--sql", "SELECT 1", "--chunk-size", "0"],
            &["--chunk-size"],
        ),
        (
            &["--sql", "SELECT 1", "--chunk-size=-5"],
            &["--chunk-size", "-5"],
        ),
        (
            &["--sql", "SELECT 1", "--chunk-size", "lots"],
            &["--chunk-size"],
        ),
        (
            &["--sql", "SELECT 1", "--prefetch-depth", "5000"],
            &["--prefetch-depth"],
        ),
        (
            &["--sql", "SELECT 1", "--statement-timeout", "soon"],
            &["--statement-timeout", "soon"],
        ),
        (
            &["--sql", "SELECT 1", "--no-such-flag"],
            &["--no-such-flag"],
        ),
    ];
    let mut failures = Vec::new();
    for (args, expected) in cases {
        let output = export(&url, args);
        let stderr = stderr(&output);
        let missing: Vec<_> = expected.iter().filter(|e| !stderr.contains(*e)).collect();
        if output.status.code() != Some(2)
            || !missing.is_empty()
            || stderr.contains("panicked")
            || stderr.contains(SECRET)
            || stderr.contains("cannot connect")
            || !output.stdout.is_empty()
        {
            failures.push(format!(
                "{args:?}: {} (lacks {missing:?})\n{stderr}",
                output.status
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// An unparsable database URL is a usage error that masks the password.
#[test]
fn export_invalid_database_url_is_masked() {
    let url = format!("postgres://alice:{SECRET}@host:notaport/db");
    let output = export(&url, &["--sql", "SELECT 1"]);
    let stderr = assert_exit(&output, 2);
    assert!(stderr.contains("invalid database URL"), "{stderr}");
    assert!(stderr.contains("`port`"), "{stderr}");
    assert!(!all_output(&output).contains(SECRET), "{stderr}");

    // The same URL from the environment.
    let output = run(rowpipe()
        .args(["export", "--sql", "SELECT 1"])
        .env("DATABASE_URL", &url));
    let stderr = assert_exit(&output, 2);
    assert!(!all_output(&output).contains(SECRET), "{stderr}");

    // A key=value string with a password.
    let kv = format!("host=127.0.0.1 port=notaport user=alice password={SECRET}");
    let output = export(&kv, &["--sql", "SELECT 1"]);
    let stderr = assert_exit(&output, 2);
    assert!(!all_output(&output).contains(SECRET), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// CLI export: runtime failures
// ---------------------------------------------------------------------------------------

/// A database that cannot be reached is exit code 1, "cannot connect", no password in
/// any output, and no file at the `-o` path; the same when the URL comes from
/// `DATABASE_URL`.
#[test]
fn export_unreachable_database_exits_1_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    let url = unreachable_url();

    let by_flag = export(&url, &["--sql", "SELECT 1", "-o", target.to_str().unwrap()]);
    let by_env = run(rowpipe()
        .args([
            "export",
            "--sql",
            "SELECT 1",
            "-o",
            target.to_str().unwrap(),
        ])
        .env("DATABASE_URL", &url));
    for (how, output) in [("--database", by_flag), ("DATABASE_URL", by_env)] {
        let stderr = assert_exit(&output, 1);
        assert!(stderr.contains("cannot connect"), "{how}: {stderr}");
        assert!(!all_output(&output).contains(SECRET), "{how}: {stderr}");
        assert!(output.stdout.is_empty(), "{how}: output on stdout");
        assert!(!target.exists() && !part_path(&target).exists(), "{how}");
    }
}

/// A query that fails (missing table) is exit code 1 with the SQLSTATE, and leaves no file
/// (and no `.part`) at the `-o` path.
#[test]
fn export_sql_error_exits_1_with_sqlstate_and_no_file() {
    let db = cluster().create_database("bad_export_sql");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    let output = export(
        db.url(),
        &[
            "--sql",
            "SELECT * FROM no_such_table",
            "-o",
            target.to_str().unwrap(),
        ],
    );
    let stderr = assert_exit(&output, 1);
    assert!(stderr.contains("42P01"), "{stderr}");
    assert!(stderr.contains("no_such_table"), "{stderr}");
    assert!(!target.exists(), "a file was created at the -o path");
    assert!(!part_path(&target).exists(), "a .part file was left");

    // A syntax error, to stdout: nothing on stdout.
    let output = export(db.url(), &["--sql", "SELEKT 1"]);
    let stderr = assert_exit(&output, 1);
    assert!(stderr.contains("42601"), "{stderr}");
    assert!(output.stdout.is_empty(), "output despite the error");
}

/// `-o` into a directory that does not exist is exit code 1 naming the path; nothing is
/// created.
#[test]
fn export_to_a_missing_directory_exits_1() {
    let db = orders_db("bad_export_missing_dir");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such");
    let target = missing.join("out.csv");
    let output = export(
        db.url(),
        &["--table", "orders", "-o", target.to_str().unwrap()],
    );
    let stderr = assert_exit(&output, 1);
    assert!(stderr.contains(&target.display().to_string()), "{stderr}");
    assert!(!dir.path().join("no").exists(), "directories were created");
}

/// `-o` naming an existing directory is exit code 1, and the directory is left as it was.
#[test]
fn export_to_a_directory_exits_1() {
    let db = orders_db("bad_export_dir");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("existing");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), b"keep").unwrap();
    let output = export(
        db.url(),
        &["--table", "orders", "-o", target.to_str().unwrap()],
    );
    let stderr = assert_exit(&output, 1);
    assert!(stderr.contains(&target.display().to_string()), "{stderr}");
    assert!(stderr.contains("directory"), "{stderr}");
    assert!(target.is_dir());
    assert_eq!(std::fs::read(target.join("keep.txt")).unwrap(), b"keep");
    assert!(!part_path(&target).exists(), "a .part file was left");
}

/// A table name is one quoted identifier, never SQL: an injection attempt names a table
/// that does not exist (exit 1, 42P01) and the table it tries to drop survives.
#[test]
fn table_name_injection_is_only_a_missing_relation() {
    let db = orders_db("bad_injection");
    db.execute("CREATE TABLE victim (id int); INSERT INTO victim VALUES (1), (2), (3);");

    for table in [
        "orders; DROP TABLE victim",
        "orders; DROP TABLE victim; --",
        "public.orders; DROP TABLE victim",
        "orders WHERE false; DROP TABLE victim",
    ] {
        let output = export(db.url(), &["--table", table]);
        let stderr = assert_exit(&output, 1);
        assert!(stderr.contains("42P01"), "{table}: {stderr}");
        assert!(stderr.contains("does not exist"), "{table}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{table}: output despite the error"
        );
    }
    assert_eq!(db.query_scalar("SELECT count(*) FROM victim"), "3");
}

/// Exports run read-only: a query that tries to write fails (exit 1) and writes nothing,
/// whether by a data-modifying CTE or a second statement.
#[test]
fn export_queries_cannot_write() {
    let db = orders_db("bad_readonly");
    db.execute("CREATE TABLE victim (id int); INSERT INTO victim VALUES (1), (2), (3);");
    let cases = [
        (
            "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
            "25006",
        ),
        ("SELECT 1; DROP TABLE victim", "42601"),
        ("SELECT 1); DROP TABLE victim; SELECT (1", "42601"),
    ];
    for (sql, sqlstate) in cases {
        let output = export(db.url(), &["--sql", sql]);
        let stderr = assert_exit(&output, 1);
        assert!(stderr.contains(sqlstate), "{sql}: {stderr}");
    }
    assert_eq!(db.query_scalar("SELECT count(*) FROM victim"), "3");
}

// ---------------------------------------------------------------------------------------
// Client input that used to reach the database as a 500, or a log as a forged line
// ---------------------------------------------------------------------------------------

/// Values PostgreSQL would refuse with a 500 (`LIMIT` past bigint, more columns than a
/// result can have) and text options long enough to multiply a download are 400s.
#[test]
fn out_of_range_limits_and_selections_are_400s() {
    let db = orders_db("bad_input_ranges");
    let server = TestServer::start(db.url(), "");
    let addr = server.addr();
    let too_many: Vec<String> = (0..1700).map(|i| format!("c{i}")).collect();
    let most: Vec<String> = (0..1664).map(|i| format!("c{i}")).collect();
    let long_null = "N".repeat(65);
    for (query, code) in [
        ("limit=9223372036854775808".to_owned(), "invalid_limit"),
        ("limit=18446744073709551616".to_owned(), "invalid_limit"),
        ("limit=%2B5".to_owned(), "invalid_limit"),
        (format!("columns={}", too_many.join(",")), "invalid_columns"),
        (format!("columns={}", most.join(",")), "unknown_column"),
        (format!("null={long_null}"), "invalid_option"),
    ] {
        let response = http::get(addr, &format!("/datasets/orders.csv?{query}"));
        let error = assert_json_error(&response, 400, code);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.len() < 2000,
            "{code}: a {} byte message",
            message.len()
        );
    }
    let largest = http::get_csv(addr, "/datasets/orders.csv?limit=9223372036854775807");
    assert_eq!(
        largest.body,
        db.copy_csv("SELECT * FROM orders ORDER BY id")
    );
    let longest_null = "N".repeat(64);
    let response = http::get_csv(addr, &format!("/datasets/orders.csv?null={longest_null}"));
    assert!(response.text().starts_with("id,total\n"));

    let output = export(
        db.url(),
        &["--table", "orders", "--limit", "9223372036854775808"],
    );
    let stderr = assert_exit(&output, 2);
    assert!(stderr.contains("9223372036854775807"), "{stderr}");
}

/// A value echoed into a log line (by rowpipe, or inside the database's own message)
/// cannot start a line of its own, nor can a table's name.
#[test]
fn logged_values_cannot_forge_log_lines() {
    let db = orders_db("bad_input_log_lines");
    db.execute("CREATE TABLE \"evil\nFORGED table\" (x int); INSERT INTO \"evil\nFORGED table\" VALUES (1);");
    let config = r#"
        [[dataset]]
        name = "by_id"
        sql = "SELECT * FROM orders WHERE id = $1"
        params = [ { name = "id", type = "int4" } ]
    "#;
    let configured = ServeProcess::start_with_config(db.url(), config);
    let response = http::get(
        configured.addr(),
        "/datasets/by_id.csv?id=1%0AFORGED%20line%1B[2J",
    );
    assert_json_error(&response, 400, "invalid_parameter");
    let response = http::get(configured.addr(), "/datasets/by_id.csv?id=1&FORGED%0Akey=1");
    assert_json_error(&response, 400, "unknown_parameter");

    let discovered = ServeProcess::start(db.url(), &[]);
    let response = http::get_csv(discovered.addr(), "/datasets/evil%0AFORGED%20table.csv");
    assert_eq!(response.text(), "x\n1\n");

    for server in [&configured, &discovered] {
        let lines = server.settled_log_lines("FORGED", Duration::from_secs(10));
        assert!(!lines.is_empty());
        let log = server.log();
        for line in log.lines() {
            assert!(!line.starts_with("FORGED"), "a forged line:\n{log}");
            assert!(!line.contains('\u{1b}'), "a terminal escape:\n{log}");
        }
    }
}

/// rowpipe's own calls around a dataset's query are `pg_catalog`'s: functions and
/// operators of the same names in a schema ahead of it on the role's `search_path` change
/// nothing in what is written.
#[test]
fn search_path_tricks_do_not_reach_rowpipes_own_calls() {
    let db = cluster().create_database("bad_input_search_path");
    db.execute(&format!(
        "CREATE TABLE hosts (id int PRIMARY KEY, addr inet, doc json);
         INSERT INTO hosts VALUES (1, '10.0.0.1/8', '{{\"a\": 1}}'), (2, '::1', '[1, 2]'),
                                  (3, NULL, NULL);
         CREATE SCHEMA evil;
         CREATE FUNCTION evil.format(text, inet) RETURNS text
             LANGUAGE sql AS $$ SELECT 'pwned' $$;
         CREATE FUNCTION evil.num_nulls(inet) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
         CREATE FUNCTION evil.to_json(inet) RETURNS json LANGUAGE sql AS $$ SELECT '\"pwned\"'::json $$;
         CREATE FUNCTION evil.current_setting(text) RETURNS text
             LANGUAGE sql AS $$ SELECT 'pwned' $$;
         CREATE FUNCTION evil.always(int, int) RETURNS bool LANGUAGE sql AS $$ SELECT true $$;
         CREATE OPERATOR evil.> (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.always);
         CREATE OPERATOR evil.= (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.always);
         GRANT USAGE ON SCHEMA evil TO PUBLIC;
         ALTER DATABASE \"{}\" SET search_path = evil, pg_catalog, public;",
        db.name()
    ));
    // The trap is live: a plain call in a new session reaches it.
    assert_eq!(
        db.query_scalar("SELECT format('%s', '1.2.3.4'::inet)"),
        "pwned"
    );
    let server = TestServer::start(db.url(), "");
    let whole = http::get_csv(server.addr(), "/datasets/hosts.csv");
    assert_bytes_eq(&whole.body, db.copy_csv("SELECT * FROM hosts ORDER BY id"));
    let after = http::get_csv(server.addr(), "/datasets/hosts.csv?after=1&header=false");
    // The reference names its operator: a plain `>` would be the trap's.
    let expected = db.copy_csv("SELECT * FROM hosts WHERE id OPERATOR(pg_catalog.>) 1 ORDER BY id");
    assert_bytes_eq(&after.body, &expected[b"id,addr,doc\n".len()..]);
    let jsonl = http::get(server.addr(), "/datasets/hosts.jsonl");
    assert_eq!(jsonl.status, 200);
    assert_bytes_eq(
        &jsonl.body,
        crate::harness::psql_row_to_json(db.url(), "SELECT * FROM hosts ORDER BY id"),
    );
}

/// The CLI's part file: never written through a link, never over a file that is already
/// there, with the permissions the umask gives a new file.
#[test]
fn the_part_file_is_never_someone_elses() {
    let db = orders_db("bad_input_part_file");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("orders.csv");
    let part = part_path(&target);
    let target_arg = target.to_str().unwrap();

    // A file already there: left alone, with a message that says what to do.
    std::fs::write(&part, b"someone else's").unwrap();
    let output = export(db.url(), &["--table", "orders", "-o", target_arg]);
    let message = assert_exit(&output, 2);
    assert!(
        message.contains("already exists") && message.contains("--resume"),
        "{message}"
    );
    assert_eq!(std::fs::read(&part).unwrap(), b"someone else's");
    assert!(!target.exists());
    std::fs::remove_file(&part).unwrap();

    let export_orders = || {
        let mut command = rowpipe();
        command.args(["export", "--database", db.url(), "--table", "orders", "-o"]);
        command.arg(&target);
        command
    };

    // A link, dangling or not, with or without --resume: never followed.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    for dangling in [false, true] {
        let link_target = if dangling {
            dir.path().join("nowhere")
        } else {
            victim.clone()
        };
        std::os::unix::fs::symlink(&link_target, &part).unwrap();
        for extra in [&[][..], &["--resume"][..]] {
            let output = run(export_orders().args(extra));
            assert_ne!(
                output.status.code(),
                Some(0),
                "{extra:?}, dangling {dangling}"
            );
            assert!(!stderr(&output).contains("panicked"));
            assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
            assert!(!dir.path().join("nowhere").exists());
            assert!(!target.exists());
        }
        std::fs::remove_file(&part).unwrap();
    }

    // Permissions: what the umask gives a new file, as a shell redirect would.
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    for (umask, mode) in [(0o022, 0o644), (0o077, 0o600)] {
        let mut command = export_orders();
        // SAFETY: umask only sets the child's mask; it cannot fail.
        unsafe {
            command.pre_exec(move || {
                libc::umask(umask);
                Ok(())
            });
        }
        let output = run(&mut command);
        assert!(output.status.success(), "{}", stderr(&output));
        let actual = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(actual, mode, "umask {umask:o}");
        std::fs::remove_file(&target).unwrap();
    }
}

/// In a `SQL_ASCII` database a table's name can be bytes that are not UTF-8: that table is
/// skipped (with one warning), and the listing and every other table keep working.
#[test]
fn a_name_that_cannot_be_served_is_skipped_alone() {
    use std::os::unix::ffi::OsStrExt;
    let name = format!("bad_input_ascii_{}", std::process::id());
    crate::harness::psql::psql_execute(
        &cluster().url("postgres"),
        &format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' \
             TEMPLATE template0"
        ),
    );
    let url = cluster().url(&name);
    let create = std::ffi::OsStr::from_bytes(
        b"CREATE TABLE \"bad\xffname\" (x int); CREATE TABLE good (id int PRIMARY KEY); \
          INSERT INTO good VALUES (1), (2);",
    );
    let output = run(crate::harness::psql::psql(&url)
        .env("PGCLIENTENCODING", "SQL_ASCII")
        .arg("-c")
        .arg(create));
    assert!(output.status.success(), "{}", stderr(&output));

    let server = ServeProcess::start(&url, &[]);
    for _ in 0..2 {
        assert_eq!(http::dataset_names(server.addr()), ["good"]);
        let good = http::get_csv(server.addr(), "/datasets/good.csv");
        assert_eq!(good.text(), "id\n1\n2\n");
    }
    let warnings = server.settled_log_lines("not valid UTF-8", Duration::from_secs(10));
    assert!(warnings[0].contains("bad\u{fffd}name"), "{warnings:?}");
    assert_eq!(warnings.len(), 1, "{}", server.log());
}

/// A 5xx body says what failed without the database's DETAIL and HINT, which can quote row
/// values; it carries the request's id, and the log line with that id has the details.
/// Every response has an `X-Request-Id`; a sane incoming one is kept.
#[test]
fn server_errors_keep_details_in_the_log() {
    let db = cluster().create_database("bad_input_details");
    db.execute(
        "CREATE TABLE secrets (token text); INSERT INTO secrets VALUES ('hunter2token');
         CREATE FUNCTION fail() RETURNS int LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'it broke' USING DETAIL = 'detail-hunter3', HINT = 'hint-hunter4';
         END $$;",
    );
    let config = r#"
        [[dataset]]
        name = "tokens"
        sql = "SELECT token::json FROM secrets"

        [[dataset]]
        name = "raises"
        sql = "SELECT fail()"
    "#;
    let server = ServeProcess::start_with_config(db.url(), config);
    let secrets = ["hunter2token", "detail-hunter3", "hint-hunter4"];
    for (path, sqlstate) in [
        ("/datasets/tokens.csv", "22P02"),
        ("/datasets/raises.csv", "P0001"),
    ] {
        let response = http::get(server.addr(), path);
        let error = assert_json_error(&response, 500, "query_failed");
        assert_eq!(error["sqlstate"], sqlstate);
        let body = response.text();
        for secret in secrets {
            assert!(
                !body.contains(secret),
                "{path}: {secret} in the body {body}"
            );
        }
        let id = error["request_id"]
            .as_str()
            .expect("a request_id")
            .to_owned();
        assert_eq!(response.header("x-request-id"), Some(id.as_str()));
        let lines = server.settled_log_lines(&id, Duration::from_secs(10));
        assert_eq!(lines.len(), 1, "{}", server.log());
        assert!(lines[0].contains(sqlstate), "{}", lines[0]);
    }
    let log = server.log();
    for secret in secrets {
        assert!(log.contains(secret), "the log lacks {secret}:\n{log}");
    }
    // The listing describes each dataset without running it: no details there either.
    let listing = http::get(server.addr(), "/datasets");
    assert_eq!(listing.status, 200);
    assert!(listing.header("x-request-id").is_some());

    let kept = http::request(
        server.addr(),
        "GET",
        "/datasets/nothing.csv",
        &[("X-Request-Id", "proxy-7f3a:1")],
    );
    assert_eq!(kept.header("x-request-id"), Some("proxy-7f3a:1"));
    assert_eq!(
        assert_json_error(&kept, 404, "unknown_dataset")["request_id"],
        "proxy-7f3a:1"
    );
    let replaced = http::request(
        server.addr(),
        "GET",
        "/healthz",
        &[("X-Request-Id", "has spaces; and more")],
    );
    let id = replaced.header("x-request-id").expect("an id");
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
}
