//! A direct connection for comparing rowpipe's value formatting with the server's own:
//! [`ValueProbe::pairs`] returns, for each input, the column's binary form (what the typed
//! engine decodes) beside the server's text for the same value.

use std::fmt::Write as _;

use proptest::test_runner::TestCaseError;
use tokio::runtime::Runtime;
use tokio_postgres::Client;
use tokio_postgres::types::{FromSql, ToSql, Type};

use super::TestDb;

/// One connection to a test database, kept open across many queries (a property test
/// asks hundreds of times).
pub struct ValueProbe {
    runtime: Runtime,
    client: Client,
}

/// Any column's raw binary bytes, whatever its type.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

impl ValueProbe {
    pub fn connect(db: &TestDb) -> ValueProbe {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", db.url()));
            tokio::spawn(connection);
            client
        });
        ValueProbe { runtime, client }
    }

    /// Runs `query` on this connection's client, to completion.
    pub fn block_on<'a, F: std::future::Future>(
        &'a self,
        query: impl FnOnce(&'a Client) -> F,
    ) -> F::Output {
        self.runtime.block_on(query(&self.client))
    }

    /// Runs statements such as `SET TimeZone = 'Asia/Kathmandu'` on this connection.
    pub fn execute(&self, sql: &str) {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs `query`, which takes the inputs as `$1::text[]` and returns two columns, the
    /// value and its text, e.g. `SELECT v::float8, v::float8::text FROM unnest($1::text[]) v`.
    /// Returns each row's first column in binary and its second as text (NULL as `None`),
    /// exactly one row per input: callers zip the rows with their inputs, and a short
    /// answer would otherwise quietly check fewer values.
    #[track_caller]
    pub fn pairs(&self, query: &str, inputs: &[String]) -> Vec<(Option<Vec<u8>>, Option<String>)> {
        let rows = self
            .runtime
            .block_on(self.client.query(query, &[&inputs as &(dyn ToSql + Sync)]))
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(rows.len(), inputs.len(), "{query}: one row per input");
        split(&rows)
    }

    /// Runs a query without parameters that returns the same two columns as [`Self::pairs`].
    pub fn pairs_of(&self, query: &str) -> Vec<(Option<Vec<u8>>, Option<String>)> {
        let rows = self
            .runtime
            .block_on(self.client.query(query, &[]))
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        split(&rows)
    }
}

/// Each row's first column in binary and its second as text.
fn split(rows: &[tokio_postgres::Row]) -> Vec<(Option<Vec<u8>>, Option<String>)> {
    rows.iter()
        .map(|row| {
            let binary: Option<Raw> = row.get(0);
            let text: Option<String> = row.get(1);
            (binary.map(|raw| raw.0), text)
        })
        .collect()
}

/// Panics with the differences, if any.
#[track_caller]
pub fn assert_matches(context: &str, problems: Vec<String>) {
    if !problems.is_empty() {
        let mut report = format!("{context}: {} differences from the server", problems.len());
        for problem in problems.iter().take(20) {
            let _ = write!(report, "\n  {problem}");
        }
        panic!("{report}");
    }
}

/// As [`assert_matches`], for a property test case.
pub fn check(context: &str, problems: Vec<String>) -> Result<(), TestCaseError> {
    if problems.is_empty() {
        return Ok(());
    }
    let shown = problems
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n  ");
    Err(TestCaseError::fail(format!(
        "{context}: {} differences from the server\n  {shown}",
        problems.len()
    )))
}

pub fn strings<T: ToString>(values: impl IntoIterator<Item = T>) -> Vec<String> {
    values.into_iter().map(|value| value.to_string()).collect()
}
