//! How SQLite's rows travel from the reader thread to the encode stage: whole rows packed
//! into byte pieces, and [`SqliteRows`], the [`RowDecoder`] that lends their values back
//! out of the pieces.
//!
//! A row is its fields one after the other, each a tag byte and its bytes: nothing for
//! NULL, 8 big-endian bytes for an INTEGER or a REAL, a 4-byte length and the bytes for
//! TEXT and BLOB. A piece holds whole rows only, so a row never spans two pieces.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use rusqlite::types::ValueRef;

use crate::source::{RowDecoder, RowError};
use crate::value::Value;

const NULL: u8 = 0;
const INTEGER: u8 = 1;
const REAL: u8 = 2;
const TEXT: u8 = 3;
const BLOB: u8 = 4;

/// What TEXT that is not valid UTF-8 becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InvalidText {
    /// The bytes as they are (csv, tsv: nothing is lost).
    Kept,
    /// Each invalid sequence replaced by U+FFFD (the JSON formats, which must be UTF-8).
    Replaced,
}

/// Appends one field, by its storage class, to `piece`.
pub(super) fn encode_field(value: ValueRef<'_>, invalid: InvalidText, piece: &mut BytesMut) {
    match value {
        ValueRef::Null => piece.put_u8(NULL),
        ValueRef::Integer(value) => {
            piece.put_u8(INTEGER);
            piece.put_i64(value);
        }
        ValueRef::Real(value) => {
            piece.put_u8(REAL);
            piece.put_f64(value);
        }
        ValueRef::Text(text) => match (invalid, std::str::from_utf8(text)) {
            (InvalidText::Replaced, Err(_)) => {
                put_bytes(TEXT, String::from_utf8_lossy(text).as_bytes(), piece)
            }
            _ => put_bytes(TEXT, text, piece),
        },
        ValueRef::Blob(bytes) => put_bytes(BLOB, bytes, piece),
    }
}

fn put_bytes(tag: u8, bytes: &[u8], piece: &mut BytesMut) {
    piece.put_u8(tag);
    // SQLite's own limit on a value (SQLITE_MAX_LENGTH) is under 2^31 bytes.
    piece.put_u32(u32::try_from(bytes.len()).expect("a SQLite value is under 4 GiB"));
    piece.put_slice(bytes);
}

/// The SQLite rows' [`RowDecoder`]: pieces of whole rows in, rows of values out, lent
/// from the piece.
#[derive(Debug)]
pub struct SqliteRows {
    fields: usize,
    pending: VecDeque<Bytes>,
    current: Bytes,
    /// Where the next row starts in `current`.
    offset: usize,
    rows: u64,
}

impl SqliteRows {
    pub(super) fn new(fields: usize) -> Self {
        Self {
            fields,
            pending: VecDeque::new(),
            current: Bytes::new(),
            offset: 0,
            rows: 0,
        }
    }
}

fn malformed() -> RowError {
    RowError::Malformed("a truncated SQLite row".into())
}

impl RowDecoder for SqliteRows {
    fn push(&mut self, piece: Bytes) {
        if !piece.is_empty() {
            self.pending.push_back(piece);
        }
    }

    fn next_row<'a>(&'a mut self, values: &mut Vec<Value<'a>>) -> Result<Option<u64>, RowError> {
        if self.offset >= self.current.len() {
            let Some(piece) = self.pending.pop_front() else {
                return Ok(None);
            };
            self.current = piece;
            self.offset = 0;
        }
        self.rows += 1;
        let Self {
            current,
            offset,
            fields,
            ..
        } = self;
        let whole: &'a [u8] = current;
        let mut rest = &whole[*offset..];
        for _ in 0..*fields {
            let (&tag, tail) = rest.split_first().ok_or_else(malformed)?;
            let (value, tail) = match tag {
                NULL => (Value::Null, tail),
                INTEGER | REAL => {
                    let (bytes, tail) = tail.split_first_chunk::<8>().ok_or_else(malformed)?;
                    let value = match tag {
                        INTEGER => Value::Int(i64::from_be_bytes(*bytes)),
                        _ => Value::Float8(f64::from_be_bytes(*bytes)),
                    };
                    (value, tail)
                }
                TEXT | BLOB => {
                    let (length, tail) = tail.split_first_chunk::<4>().ok_or_else(malformed)?;
                    let length = u32::from_be_bytes(*length) as usize;
                    if tail.len() < length {
                        return Err(malformed());
                    }
                    let (bytes, tail) = tail.split_at(length);
                    let value = match tag {
                        TEXT => Value::Text(bytes),
                        _ => Value::Bytes(bytes),
                    };
                    (value, tail)
                }
                _ => return Err(malformed()),
            };
            values.push(value);
            rest = tail;
        }
        *offset = whole.len() - rest.len();
        Ok(Some(self.rows))
    }

    fn finish(&mut self) -> Result<(), RowError> {
        if self.offset < self.current.len() || !self.pending.is_empty() {
            return Err(malformed());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(rows: &[&[ValueRef<'_>]], invalid: InvalidText) -> Bytes {
        let mut piece = BytesMut::new();
        for row in rows {
            for value in *row {
                encode_field(*value, invalid, &mut piece);
            }
        }
        piece.freeze()
    }

    #[test]
    fn every_storage_class_comes_back_as_its_value() {
        let mut rows = SqliteRows::new(5);
        rows.push(piece(
            &[
                &[
                    ValueRef::Null,
                    ValueRef::Integer(i64::MIN),
                    ValueRef::Real(-0.0),
                    ValueRef::Text(b"a\xffb"),
                    ValueRef::Blob(b"\x00\x01"),
                ],
                &[
                    ValueRef::Text(b""),
                    ValueRef::Integer(i64::MAX),
                    ValueRef::Real(5e-324),
                    ValueRef::Null,
                    ValueRef::Blob(b""),
                ],
            ],
            InvalidText::Kept,
        ));
        let mut values = Vec::new();
        assert_eq!(rows.next_row(&mut values).unwrap(), Some(1));
        assert_eq!(values[0], Value::Null);
        assert_eq!(values[1], Value::Int(i64::MIN));
        assert!(matches!(values[2], Value::Float8(zero) if zero == 0.0 && zero.is_sign_negative()));
        assert_eq!(values[3], Value::Text(b"a\xffb"));
        assert_eq!(values[4], Value::Bytes(b"\x00\x01"));
        let mut values = Vec::new();
        assert_eq!(rows.next_row(&mut values).unwrap(), Some(2));
        assert_eq!(values[0], Value::Text(b""));
        assert_eq!(values[1], Value::Int(i64::MAX));
        assert_eq!(values[2], Value::Float8(5e-324));
        assert_eq!(values[4], Value::Bytes(b""));
        let mut values = Vec::new();
        assert_eq!(rows.next_row(&mut values).unwrap(), None);
        rows.finish().unwrap();
    }

    #[test]
    fn invalid_utf8_is_replaced_only_when_asked() {
        let mut rows = SqliteRows::new(1);
        rows.push(piece(
            &[&[ValueRef::Text(b"a\xffb")]],
            InvalidText::Replaced,
        ));
        let mut values = Vec::new();
        rows.next_row(&mut values).unwrap();
        assert_eq!(values[0], Value::Text("a\u{fffd}b".as_bytes()));
    }

    #[test]
    fn a_cut_row_is_malformed_never_a_panic() {
        let whole = piece(&[&[ValueRef::Text(b"hello")]], InvalidText::Kept);
        for cut in 0..whole.len() {
            let mut rows = SqliteRows::new(1);
            rows.push(whole.slice(..cut));
            let mut values = Vec::new();
            match rows.next_row(&mut values) {
                Ok(None) => assert_eq!(cut, 0),
                Ok(Some(_)) => panic!("a cut row decoded"),
                Err(_) => {}
            }
        }
    }
}
