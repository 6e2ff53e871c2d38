//! The key-order check: every key of a keyed export must be greater than the one before.
//!
//! A key is what makes a broken export resumable (`after=`, `--resume`): the rows after
//! the last complete one are asked for as "the rows whose key is greater than this". That
//! only gives the right file when the export was read in strictly increasing key order.
//! The source orders a keyed export by its key; this check makes sure the keys really are
//! unique (and not NULL), and fails the export, naming the key and the two values, when
//! they are not: a duplicated key would make a resume skip rows without a word.
//!
//! Where rowpipe knows a type's order from its binary form (integers, oid, floats, dates,
//! times, timestamps, uuid, bool), the check compares values, so it also catches keys out
//! of order. For any other type (text under the database's collation, numeric, ...) the
//! server's `ORDER BY` is trusted for the order, and the check catches equal neighbours,
//! which is what a key that is not unique produces.

use std::cmp::Ordering;

use crate::decode::RowRef;
use crate::schema::{ColumnForm, KeyColumn};
use crate::value::kind::{SessionFormat, ValueKind};

/// Checks the keys of a stream of rows, one row at a time.
#[derive(Debug)]
pub struct KeyOrder {
    key: KeyColumn,
    session: SessionFormat,
    compare: Compare,
    /// The previous row's key, in the form it arrived in.
    previous: Option<Vec<u8>>,
}

/// How two keys of the column compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// Big-endian two's complement integers of any width (int2/4/8, date, time, timestamp,
    /// timestamptz).
    Signed,
    /// Byte strings whose order is their bytes' order (oid, uuid, bool).
    Bytes,
    Float4,
    Float8,
    /// Unknown order: only equal keys can be told apart from increasing ones.
    EqualityOnly,
}

impl Compare {
    fn of(key: &KeyColumn) -> Compare {
        let ColumnForm::Native(native) = key.column.form else {
            return Compare::EqualityOnly;
        };
        if native.array {
            return Compare::EqualityOnly;
        }
        match native.kind {
            ValueKind::Int2
            | ValueKind::Int4
            | ValueKind::Int8
            | ValueKind::Date
            | ValueKind::Time
            | ValueKind::Timestamp
            | ValueKind::Timestamptz => Compare::Signed,
            ValueKind::Oid | ValueKind::Uuid | ValueKind::Bool => Compare::Bytes,
            ValueKind::Float4 => Compare::Float4,
            ValueKind::Float8 => Compare::Float8,
            _ => Compare::EqualityOnly,
        }
    }

    /// How `a` compares with `b` (`None`: not equal, order unknown).
    fn compare(self, a: &[u8], b: &[u8]) -> Option<Ordering> {
        match self {
            Compare::Signed => Some(signed(a).cmp(&signed(b))),
            Compare::Bytes => Some(a.cmp(b)),
            Compare::Float4 => Some(float_order(f64::from(f32_of(a)), f64::from(f32_of(b)))),
            Compare::Float8 => Some(float_order(f64_of(a), f64_of(b))),
            Compare::EqualityOnly => (a == b).then_some(Ordering::Equal),
        }
    }
}

/// A big-endian signed integer of 1 to 8 bytes.
fn signed(bytes: &[u8]) -> i64 {
    let Some((&first, rest)) = bytes.split_first() else {
        return 0;
    };
    rest.iter().fold(i64::from(first as i8), |value, &byte| {
        (value << 8) | i64::from(byte)
    })
}

fn f32_of(bytes: &[u8]) -> f32 {
    bytes.try_into().map_or(f32::NAN, f32::from_be_bytes)
}

fn f64_of(bytes: &[u8]) -> f64 {
    bytes.try_into().map_or(f64::NAN, f64::from_be_bytes)
}

/// PostgreSQL's float order: NaN equals NaN and is greater than everything, -0 equals 0.
fn float_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).expect("neither is NaN"),
    }
}

/// A key that breaks the order: not unique, out of order, or NULL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyOrderError {
    #[error(
        "key column {key:?} is not unique: row {row} has {key} = {value:?}, like the row before it; \
         a key must be unique for after= and --resume to be right"
    )]
    Repeated {
        key: String,
        row: u64,
        value: String,
    },
    #[error(
        "key column {key:?} is out of order: row {row} has {key} = {value:?} after {previous:?}; \
         the rows must come in increasing key order"
    )]
    Decreasing {
        key: String,
        row: u64,
        value: String,
        previous: String,
    },
    #[error("key column {key:?} is NULL in row {row}; a key must be unique and not NULL")]
    Null { key: String, row: u64 },
}

impl KeyOrder {
    pub fn new(key: KeyColumn, session: SessionFormat) -> Self {
        Self {
            compare: Compare::of(&key),
            key,
            session,
            previous: None,
        }
    }

    /// Checks `row`'s key against the previous row's, and keeps it for the next.
    pub fn check(&mut self, row: &RowRef<'_>) -> Result<(), KeyOrderError> {
        let key = &self.key.column.name;
        let Some(value) = row.field(self.key.field) else {
            return Err(KeyOrderError::Null {
                key: key.clone(),
                row: row.number(),
            });
        };
        if let Some(previous) = &self.previous {
            match self.compare.compare(value, previous) {
                Some(Ordering::Greater) | None => {}
                Some(Ordering::Equal) => {
                    return Err(KeyOrderError::Repeated {
                        key: key.clone(),
                        row: row.number(),
                        value: self.text(value),
                    });
                }
                Some(Ordering::Less) => {
                    return Err(KeyOrderError::Decreasing {
                        key: key.clone(),
                        row: row.number(),
                        value: self.text(value),
                        previous: self.text(previous),
                    });
                }
            }
        }
        let previous = self.previous.get_or_insert_with(Vec::new);
        previous.clear();
        previous.extend_from_slice(value);
        Ok(())
    }

    /// A key as the output writes it, for the error message.
    fn text(&self, raw: &[u8]) -> String {
        let mut text = Vec::new();
        match self.key.column.form {
            ColumnForm::Native(native) if !native.is_plain_text() => {
                if native.write_text(raw, &self.session, &mut text).is_err() {
                    return format!("{raw:02x?}");
                }
            }
            _ => text.extend_from_slice(raw),
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_integers_of_every_width() {
        assert_eq!(signed(&[0xff, 0xfe]), -2);
        assert_eq!(signed(&7i32.to_be_bytes()), 7);
        assert_eq!(signed(&i64::MIN.to_be_bytes()), i64::MIN);
        assert_eq!(signed(&i64::MAX.to_be_bytes()), i64::MAX);
        assert!(signed(&(-1i64).to_be_bytes()) < signed(&0i64.to_be_bytes()));
    }

    #[test]
    fn floats_order_as_postgresql_orders_them() {
        assert_eq!(float_order(f64::NAN, f64::INFINITY), Ordering::Greater);
        assert_eq!(float_order(f64::NAN, f64::NAN), Ordering::Equal);
        assert_eq!(float_order(-0.0, 0.0), Ordering::Equal);
        assert_eq!(float_order(f64::NEG_INFINITY, -1e308), Ordering::Less);
    }

    #[test]
    fn unknown_orders_only_tell_equal_keys() {
        let compare = Compare::EqualityOnly;
        assert_eq!(compare.compare(b"b", b"a"), None);
        assert_eq!(compare.compare(b"a", b"b"), None);
        assert_eq!(compare.compare(b"a", b"a"), Some(Ordering::Equal));
    }
}
