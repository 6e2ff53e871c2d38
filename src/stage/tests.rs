//! What every stage promises (see the [module documentation](super)): the first error
//! passes through, and nothing follows it, whatever the stage upstream does next.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};

use super::*;
use crate::encode::{CsvEncoder, CsvSettings};
use crate::format::Compression;
use crate::progress::Progress;
use crate::schema::{Category, Column, ColumnForm, Schema};
use crate::source::{RowDecoder, RowError, SourceRows};
use crate::value::Value;
use crate::value::kind::{NativeType, SessionFormat, ValueKind};

type Item = Result<Bytes, StreamError>;

/// A piece, an error, and then a piece that must never come out.
fn failing_input() -> impl Stream<Item = Item> + Send + Unpin + 'static {
    stream::iter(vec![
        Ok(Bytes::from_static(b"before the error\n")),
        Err(StreamError::Compress(io::Error::other("upstream broke"))),
        Ok(Bytes::from_static(b"AFTER THE ERROR\n")),
    ])
}

/// Checks an output: some pieces, then exactly one error, then the end.
async fn assert_error_ends_it(stage: &str, output: impl Stream<Item = Item> + Unpin) {
    let items: Vec<Item> = output.collect().await;
    let errors = items.iter().filter(|item| item.is_err()).count();
    assert_eq!(errors, 1, "{stage}: one error in {items:?}");
    assert!(
        items.last().is_some_and(Result::is_err),
        "{stage}: nothing after the error: {items:?}"
    );
    let text: Vec<u8> = items.into_iter().flatten().flatten().collect();
    assert!(
        !text.windows(5).any(|window| window == b"AFTER"),
        "{stage}: a piece from after the error came out"
    );
}

#[tokio::test]
async fn every_byte_stage_ends_with_the_first_error() {
    let limits = Limits {
        max_rows: Some(1_000),
        max_bytes: Some(1_000),
    };
    let progress = Arc::new(Progress::new());
    assert_error_ends_it("limit", limit(failing_input(), limits, progress)).await;
    for compression in [Compression::Gzip, Compression::Zstd] {
        let core = Compressor::new(compression, 1, 64).unwrap();
        assert_error_ends_it("compress", compress(failing_input(), core)).await;
    }
    assert_error_ends_it("rechunk", rechunk(failing_input(), 4)).await;
    for depth in [0, 1, 4] {
        assert_error_ends_it("prefetch", prefetch(failing_input(), depth)).await;
    }
}

/// One text value per piece; fails at a piece that says so.
struct LineRows {
    pending: std::collections::VecDeque<Bytes>,
    current: Bytes,
    rows: u64,
}

impl RowDecoder for LineRows {
    fn push(&mut self, piece: Bytes) {
        self.pending.push_back(piece);
    }

    fn next_row<'a>(&'a mut self, values: &mut Vec<Value<'a>>) -> Result<Option<u64>, RowError> {
        let Some(piece) = self.pending.pop_front() else {
            return Ok(None);
        };
        if piece.as_ref() == b"broken" {
            return Err(RowError::Malformed("a broken row".into()));
        }
        self.current = piece;
        self.rows += 1;
        values.push(Value::Text(&self.current));
        Ok(Some(self.rows))
    }

    fn finish(&mut self) -> Result<(), RowError> {
        Ok(())
    }
}

#[tokio::test]
async fn the_encode_stage_ends_with_the_first_error() {
    let schema = Schema {
        columns: vec![Column {
            name: "line".into(),
            form: ColumnForm::Native(NativeType {
                kind: ValueKind::Text,
                array: false,
            }),
            category: Category::Other,
        }],
        session: SessionFormat::defaults(None),
        key: None,
    };
    let rows = |pieces: Vec<Result<Bytes, crate::source::SourceError>>| SourceRows {
        schema: schema.clone(),
        pieces: Box::new(stream::iter(pieces)),
        decoder: Box::new(LineRows {
            pending: Default::default(),
            current: Bytes::new(),
            rows: 0,
        }),
    };
    let encoder = || Box::new(CsvEncoder::new(schema.clone(), &CsvSettings::default()).unwrap());
    // The decoder fails on the second piece; the third is never encoded.
    let input = rows(vec![
        Ok(Bytes::from_static(b"first")),
        Ok(Bytes::from_static(b"broken")),
        Ok(Bytes::from_static(b"AFTER")),
    ]);
    let output = encode(input, None, encoder(), 4, Arc::new(Progress::new()));
    assert_error_ends_it("encode", output).await;
}
