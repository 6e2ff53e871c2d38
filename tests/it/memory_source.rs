//! The server above the source seam, with no database: the same HTTP behaviour
//! (statuses, limits, a failure mid-stream, a client that leaves, resuming after a key)
//! served from tables held in memory. The tests against a real PostgreSQL stay; these
//! show that what they check belongs to the server, not to one source.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rowpipe::catalog::{Catalog, Dataset, DatasetQuery};
use rowpipe::pipeline::ExportOptions;
use rowpipe::server::AppState;
use rowpipe::source::memory::{Cell, CellKind, Memory, Table};

use crate::harness::http::{self, Download};
use crate::harness::{TestServer, curl, poll_until};

/// Row `id`'s name: with commas, quotes and line breaks now and then, or empty.
fn name(id: i64) -> String {
    match id % 4 {
        0 => format!("person {id}, \"the {id}th\""),
        1 => format!("line\nbreak {id}"),
        2 => String::new(),
        _ => format!("plain{id}"),
    }
}

/// Row `id`'s score: NULL for every fifth row.
fn score(id: i64) -> Option<f64> {
    (id % 5 != 0).then(|| id as f64 / 4.0)
}

/// Rows of `(id, name, score)`.
fn people(rows: i64) -> Table {
    Table::new([
        ("id", CellKind::Int),
        ("name", CellKind::Text),
        ("score", CellKind::Float),
    ])
    .rows((1..=rows).map(|id| {
        let score = score(id).map_or(Cell::Null, Cell::Float);
        vec![Cell::Int(id), Cell::Text(name(id)), score]
    }))
}

fn dataset(name: &str, table: &str, key: Option<&str>, max_rows: Option<u64>) -> Dataset {
    Dataset {
        name: name.into(),
        description: None,
        query: DatasetQuery::Sql(table.into()),
        params: Vec::new(),
        key: key.map(Into::into),
        max_rows,
    }
}

/// A server on a loopback port over `memory`, with datasets `people` (keyed by `id`),
/// `capped` (at most 10 rows), `breaking` (fails after 30,000 rows) and `big`.
struct MemoryServer {
    server: TestServer,
    memory: Arc<Memory>,
}

impl MemoryServer {
    fn start() -> Self {
        let memory = Arc::new(
            Memory::new()
                .table("people", people(100))
                .table("breaking", people(50_000).failing_after(30_000))
                .table("big", people(500_000)),
        );
        let catalog = Catalog::Configured(vec![
            dataset("people", "people", Some("id"), None),
            dataset("capped", "people", None, Some(10)),
            dataset("breaking", "breaking", None, None),
            dataset("big", "big", None, None),
        ]);
        let state = AppState::new(memory.clone(), catalog, ExportOptions::default());
        Self {
            server: TestServer::serving(state),
            memory,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr()
    }
}

/// The CSV PostgreSQL would write for `people(rows)` in key order, from `first` on.
fn expected_csv(rows: i64, first: i64) -> Vec<Vec<String>> {
    (first..=rows)
        .map(|id| {
            let score = score(id).map_or_else(String::new, |score| score.to_string());
            vec![id.to_string(), name(id), score]
        })
        .collect()
}

fn parse_csv(body: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body)
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn a_download_is_every_row_in_every_format() {
    let server = MemoryServer::start();
    let csv = http::get(server.addr(), "/datasets/people.csv");
    assert_eq!(csv.status, 200);
    assert!(csv.complete);
    assert!(
        csv.text()
            .starts_with("id,name,score\n1,\"line\nbreak 1\",0.25\n2,\"\",0.5\n")
    );
    assert_eq!(parse_csv(&csv.body), expected_csv(100, 1));

    let jsonl = http::get(server.addr(), "/datasets/people.jsonl");
    let lines: Vec<serde_json::Value> = jsonl
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 100);
    assert_eq!(
        lines[4],
        serde_json::json!({"id": 5, "name": "line\nbreak 5", "score": null})
    );
}

#[test]
fn bad_requests_and_limits_are_answered_before_the_first_byte() {
    let server = MemoryServer::start();
    let unknown = http::get(server.addr(), "/datasets/people.csv?columns=nope");
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["error"]["code"], "unknown_column");

    let capped = http::get(server.addr(), "/datasets/capped.csv");
    assert_eq!(capped.status, 500);
    assert_eq!(capped.json()["error"]["code"], "limit_exceeded");

    let after_without_key = http::get(server.addr(), "/datasets/capped.csv?after=3");
    assert_eq!(after_without_key.status, 400);
}

#[test]
fn a_failure_mid_stream_aborts_the_transfer() {
    let server = MemoryServer::start();
    let url = format!("http://{}/datasets/breaking.csv", server.addr());
    let output = curl(&[&url]);
    assert_eq!(output.status.code(), Some(18), "curl: partial file");
    let rows = output.stdout.iter().filter(|&&byte| byte == b'\n').count();
    assert!(rows > 1_000, "some rows arrived before the break: {rows}");
}

#[test]
fn a_client_that_leaves_stops_the_export() {
    let server = MemoryServer::start();
    let mut download = Download::start(server.addr(), "/datasets/big.csv");
    assert_eq!(download.status(), 200);
    download.read_body_bytes(100_000);
    assert_eq!(server.memory.abandoned(), 0);
    download.disconnect();
    assert!(
        poll_until(Duration::from_secs(5), || server.memory.abandoned() == 1).is_some(),
        "the export's stream was not dropped"
    );
}

#[test]
fn after_a_key_resumes_where_a_download_stopped() {
    let server = MemoryServer::start();
    let first = http::get(server.addr(), "/datasets/people.csv?limit=40");
    let rest = http::get(server.addr(), "/datasets/people.csv?after=40");
    let mut rows = parse_csv(&first.body);
    assert_eq!(rows.len(), 40);
    rows.extend(parse_csv(&rest.body));
    assert_eq!(rows, expected_csv(100, 1));
    // Only some columns, the key left out: still in key order, still checked.
    let names = http::get(server.addr(), "/datasets/people.csv?columns=name&after=97");
    assert_eq!(
        names.text(),
        "name\n\"\"\nplain99\n\"person 100, \"\"the 100th\"\"\"\n"
    );
}
