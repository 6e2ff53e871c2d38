//! The JSON formats: `jsonl`, one object per line exactly as PostgreSQL's
//! `row_to_json` writes it, and `json`, the same objects in one streamed array.
//!
//! An object is `{"name":value,...}` with no spaces; keys are the column names, escaped
//! like strings, duplicates kept. Values follow `to_json`: see
//! [`Value::write_json`]. Columns the server formats arrive as its `to_json` output and are
//! copied as they are.
//!
//! One deliberate difference: a `json` value keeps its text as it was stored, line breaks
//! included, and `row_to_json` embeds it as it is, which would split a JSON Lines record.
//! Such a line break can only be whitespace between tokens (inside JSON strings they are
//! always escaped), so rowpipe writes a space instead, and every record is one line.

use super::{FieldError, RowEncoder};
use crate::schema::Schema;
use crate::value::Value;
use crate::value::json::write_json_string;

/// Writes rows as JSON objects; the framing around them is the callers'.
#[derive(Debug)]
struct ObjectWriter {
    schema: Schema,
    /// Per column, what precedes its value: `{"name":` for the first, `,"name":` after.
    keys: Vec<Vec<u8>>,
}

impl ObjectWriter {
    fn new(schema: Schema) -> Self {
        let keys = schema
            .names()
            .enumerate()
            .map(|(index, name)| {
                let mut key = vec![if index == 0 { b'{' } else { b',' }];
                write_json_string(name.as_bytes(), &mut key);
                key.push(b':');
                key
            })
            .collect();
        Self { schema, keys }
    }

    fn write(&self, row: &[Value<'_>], out: &mut Vec<u8>) -> Result<(), FieldError> {
        if self.keys.is_empty() {
            out.push(b'{');
        }
        for ((value, column), key) in row.iter().zip(&self.schema.columns).zip(&self.keys) {
            out.extend_from_slice(key);
            let start = out.len();
            value
                .write_json(&self.schema.session, out)
                .map_err(|error| FieldError::new(column, error))?;
            if column.may_embed_json_text() {
                one_line(&mut out[start..]);
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// Turns the line breaks of embedded `json` text, whitespace between tokens, into spaces.
fn one_line(json: &mut [u8]) {
    for byte in json {
        if matches!(*byte, b'\n' | b'\r') {
            *byte = b' ';
        }
    }
}

/// JSON Lines: one object per row, each ended by `\n`.
#[derive(Debug)]
pub struct JsonLinesEncoder(ObjectWriter);

impl JsonLinesEncoder {
    pub fn new(schema: Schema) -> Self {
        Self(ObjectWriter::new(schema))
    }
}

impl RowEncoder for JsonLinesEncoder {
    fn begin(&mut self, _out: &mut Vec<u8>) {}

    fn row(&mut self, row: &[Value<'_>], out: &mut Vec<u8>) -> Result<(), FieldError> {
        self.0.write(row, out)?;
        out.push(b'\n');
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<u8>) {}
}

/// One JSON array of objects, one per line: `[\n{...},\n{...}\n]\n`. Zero rows give
/// `[\n]\n`, still a valid document; a download cut short is not one.
#[derive(Debug)]
pub struct JsonArrayEncoder {
    objects: ObjectWriter,
    rows: u64,
}

impl JsonArrayEncoder {
    pub fn new(schema: Schema) -> Self {
        Self {
            objects: ObjectWriter::new(schema),
            rows: 0,
        }
    }
}

impl RowEncoder for JsonArrayEncoder {
    fn begin(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"[\n");
    }

    fn row(&mut self, row: &[Value<'_>], out: &mut Vec<u8>) -> Result<(), FieldError> {
        if self.rows > 0 {
            out.extend_from_slice(b",\n");
        }
        self.rows += 1;
        self.objects.write(row, out)
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if self.rows > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(b"]\n");
    }
}
