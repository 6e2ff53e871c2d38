//! rowpipe's own formatting against the server's, column by column: the same export with
//! every column formatted natively and with every column formatted by the server
//! (`Formatting::Server`: its output functions and `to_json`) must give the same bytes,
//! in every format, on the fixture of every type and under settings that change the
//! output. A differential check beside the comparisons with psql in `output.rs` and
//! `formats.rs`.

use std::sync::Arc;

use futures_util::TryStreamExt;
use rowpipe::export::{ExportQuery, Formatting, Output};
use rowpipe::format::Format;
use rowpipe::pipeline::{self, ExportOptions, OpenError};
use rowpipe::progress::Progress;
use rowpipe::source::postgres::{PoolSettings, Postgres};
use rowpipe::source::{Rejected, SourceError};

use crate::harness::{TestDb, assert_bytes_eq};
use crate::output::{QUERIES, fixture_db};

/// The whole export of `sql` in `format`, formatted by `formatting`.
fn export(db: &TestDb, sql: &str, format: Format, formatting: Formatting) -> Vec<u8> {
    let query = ExportQuery {
        sql: sql.to_owned(),
        ..ExportQuery::default()
    };
    let mut output = Output::new(format);
    output.formatting = formatting;
    collect(db, &query, &output).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Opens `query` as `output` through the library, in a runtime of its own, and collects
/// the whole export; or why it could not start.
fn collect(db: &TestDb, query: &ExportQuery, output: &Output) -> Result<Vec<u8>, OpenError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let source = Postgres::connect(db.url(), &PoolSettings::default()).expect("pool");
        let chunks = pipeline::open(
            &source,
            query,
            output,
            &ExportOptions::default(),
            Arc::new(Progress::new()),
        )
        .await?;
        let chunks: Vec<_> = chunks.try_collect().await.expect("a complete export");
        Ok(chunks.concat())
    })
}

#[test]
fn native_formatting_equals_the_servers_in_every_format() {
    let db = fixture_db("engines");
    for setting in [
        None,
        Some("timezone = 'Pacific/Chatham'"),
        Some("timezone = 'America/Sao_Paulo'"),
        Some("extra_float_digits = 3"),
    ] {
        if let Some(setting) = setting {
            db.execute(&format!("ALTER DATABASE \"{}\" SET {setting}", db.name()));
        }
        for format in Format::ALL {
            for (_, sql) in QUERIES {
                let native = export(&db, sql, *format, Formatting::Native);
                let server = export(&db, sql, *format, Formatting::Server);
                assert_bytes_eq(&native, &server);
            }
        }
    }
}

/// Through the library, a resume point without a key is refused rather than ignored (which
/// would export everything, silently).
#[test]
fn after_without_a_key_is_refused() {
    let db = crate::harness::cluster().create_database("engines_after_no_key");
    let query = ExportQuery {
        sql: "SELECT 1 AS id".to_owned(),
        after: Some("0".to_owned()),
        ..ExportQuery::default()
    };
    let opened = collect(&db, &query, &Output::new(Format::Csv));
    assert!(
        matches!(
            opened,
            Err(OpenError::Source(SourceError::Rejected(
                Rejected::AfterWithoutKey
            )))
        ),
        "{opened:?}"
    );
}
