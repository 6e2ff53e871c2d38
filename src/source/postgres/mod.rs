//! The PostgreSQL source.
//!
//! Every export runs in its own `REPEATABLE READ READ ONLY` transaction on a pooled
//! connection, held by a [`guard::ConnectionGuard`] that cancels the query when the export
//! is dropped early. Two engines:
//!
//! - **typed** ([`typed`]): the query is described, planned (which columns rowpipe
//!   formats, which the server does; see [`types`]) and run as binary COPY (or through a
//!   portal when values are bound). [`copy_binary`] cuts the binary stream into rows of
//!   field bytes and [`binary`] decodes each field into a [`Value`]:
//!   [`BinaryRows`] is the two together, the source's [`RowDecoder`].
//! - **copy** ([`copy`]): `COPY ... (FORMAT csv | text)`, the server's own output passed
//!   through unchanged.
//!
//! Everything that names `tokio_postgres` for an export lives in this folder.

pub mod binary;
pub mod copy;
pub mod copy_binary;
pub mod guard;
pub mod typed;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use deadpool_postgres::Pool;

pub use copy::{CopyStream, copy_csv, copy_text};
pub use copy_binary::{CopyBinaryDecoder, DecodeError, RowRef};

use super::{RowDecoder, RowError, SourceError, SourceRows};
use crate::export::{ExportQuery, Formatting};
use crate::progress::Progress;
use crate::schema::Schema;
use crate::value::Value;
use binary::RowValues;
use typed::ValueForm;

/// Starts a typed export of `query` (see [`typed::copy_binary`]): its schema, its binary
/// COPY pieces and the decoder for them.
pub async fn typed_rows(
    pool: &Pool,
    query: &ExportQuery,
    form: ValueForm,
    formatting: Formatting,
    statement_timeout: Option<Duration>,
    progress: Arc<Progress>,
) -> Result<SourceRows, SourceError> {
    let (pieces, schema) =
        typed::copy_binary(pool, query, form, formatting, statement_timeout, progress).await?;
    Ok(SourceRows {
        decoder: Box::new(BinaryRows::new(&schema)),
        schema,
        pieces: Box::new(pieces),
    })
}

/// Binary COPY pieces in, rows of values out: [`CopyBinaryDecoder`] and [`RowValues`].
#[derive(Debug)]
pub struct BinaryRows {
    copy: CopyBinaryDecoder,
    values: RowValues,
}

impl BinaryRows {
    pub fn new(schema: &Schema) -> Self {
        let values = RowValues::new(schema);
        Self {
            copy: CopyBinaryDecoder::new(values.fields()),
            values,
        }
    }
}

impl RowDecoder for BinaryRows {
    fn push(&mut self, piece: Bytes) {
        self.copy.push(piece);
    }

    #[inline]
    fn next_row<'a>(&'a mut self, values: &mut Vec<Value<'a>>) -> Result<Option<u64>, RowError> {
        let Some(row) = self.copy.next_row().map_err(malformed)? else {
            return Ok(None);
        };
        let number = row.number();
        self.values
            .decode(&row, values)
            .map_err(|source| RowError::Field {
                row: number,
                source,
            })?;
        Ok(Some(number))
    }

    fn finish(&mut self) -> Result<(), RowError> {
        self.copy.finish().map_err(malformed)
    }
}

fn malformed(error: DecodeError) -> RowError {
    RowError::Malformed(Box::new(error))
}
