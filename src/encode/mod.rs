//! Encoders: rows turned into the bytes of an output format.
//!
//! An encoder appends to a caller's buffer and does no IO, so the caller decides when a
//! buffer is full enough to hand on. The field writers ([`CsvWriter`], [`text`]) know one
//! format's quoting; the row encoders ([`RowEncoder`]) know a result's columns and turn
//! rows of [`Value`]s, from whichever source, into whole lines of a format.

pub mod csv;
pub mod json;
pub mod table;
pub mod text;

pub use csv::{CsvOptions, CsvOptionsError, CsvWriter};
pub use json::{JsonArrayEncoder, JsonLinesEncoder};
pub use table::{CsvEncoder, CsvQuoting, CsvSettings, EXCEL_MAX_ROWS, TsvEncoder};

use crate::schema::{Column, Schema};
use crate::value::{Value, ValueError};

/// Turns a result's rows into one output format.
///
/// The caller writes [`begin`](Self::begin) once, then every row, then
/// [`end`](Self::end), all into buffers it hands on in order. An encoder need not write
/// each row at once: a columnar format may keep rows back and write them in groups, as
/// long as what it keeps is bounded in bytes (memory must not grow with the result) and
/// `end` writes the rest.
pub trait RowEncoder: Send {
    /// What comes before the first row: a header line, an opening bracket, a byte-order
    /// mark, or nothing.
    fn begin(&mut self, out: &mut Vec<u8>);

    /// One row: a value per column of the schema (a row may have more, which are not
    /// written). On an error `out` may hold part of the row; the export is failing anyway.
    fn row(&mut self, row: &[Value<'_>], out: &mut Vec<u8>) -> Result<(), FieldError>;

    /// What comes after the last row.
    fn end(&mut self, out: &mut Vec<u8>);
}

/// A field could not be decoded or written: the source sent bytes that are not a value of
/// the column's type, or a value out of its type's range. Never caused by the data
/// itself, but worth a precise report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column:?}: {error}")]
pub struct FieldError {
    pub column: String,
    pub error: ValueError,
}

impl FieldError {
    pub(crate) fn new(column: &Column, error: ValueError) -> Self {
        Self {
            column: column.name.clone(),
            error,
        }
    }
}

/// A non-NULL value's text, as PostgreSQL's output function writes it: the bytes
/// themselves for text and JSON, else formatted into `scratch`.
#[inline]
fn field_text<'a>(
    schema: &Schema,
    column: &Column,
    value: &Value<'a>,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], FieldError> {
    match *value {
        Value::Text(text) | Value::Json(text) => Ok(text),
        _ => {
            scratch.clear();
            value
                .write_text(&schema.session, scratch)
                .map_err(|error| FieldError::new(column, error))?;
            Ok(scratch)
        }
    }
}

#[cfg(test)]
mod tests;
