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

use crate::schema::KeyColumn;
use crate::value::Value;
use crate::value::kind::SessionFormat;

/// Checks the keys of a stream of rows, one row at a time.
#[derive(Debug)]
pub struct KeyOrder {
    key: KeyColumn,
    session: SessionFormat,
    /// The previous row's key.
    previous: Option<Key>,
    /// An allocation for the next text key, handed back by the one it replaces.
    spare: Vec<u8>,
}

/// A key kept from one row to the next: what its order is decided by.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    /// Integers, oid, dates, times and timestamps: their order is the integer's.
    Integer(i64),
    /// timetz: by the instant (PostgreSQL's `timetz_cmp`), then the offset.
    TimeTz {
        utc: i64,
        seconds_east: i32,
    },
    Float(f64),
    /// uuid: its order is its bytes'.
    Uuid([u8; 16]),
    /// Anything else, as its text: only equal keys can be told apart from increasing ones.
    Unordered(Vec<u8>),
}

impl Key {
    /// `value`'s key; `None` for NULL. A text key takes `spare`'s allocation.
    fn of(value: &Value<'_>, session: &SessionFormat, spare: &mut Vec<u8>) -> Option<Key> {
        let mut text = |bytes: &[u8]| {
            let mut kept = std::mem::take(spare);
            kept.clear();
            kept.extend_from_slice(bytes);
            kept
        };
        Some(match *value {
            Value::Null => return None,
            Value::Int(value) | Value::Time(value) | Value::Timestamp(value) => Key::Integer(value),
            Value::Timestamptz(value) => Key::Integer(value),
            Value::Oid(value) => Key::Integer(value.into()),
            Value::Date(value) => Key::Integer(value.into()),
            Value::TimeTz {
                micros,
                seconds_east,
            } => Key::TimeTz {
                utc: micros.saturating_sub(i64::from(seconds_east) * 1_000_000),
                seconds_east,
            },
            Value::Float4(value) => Key::Float(value.into()),
            Value::Float8(value) => Key::Float(value),
            Value::Bool(value) => Key::Integer(value.into()),
            Value::Uuid(bytes) => Key::Uuid(bytes),
            Value::Text(bytes) | Value::Json(bytes) => Key::Unordered(text(bytes)),
            _ => {
                let mut written = text(b"");
                if value.write_text(session, &mut written).is_err() {
                    written.clear();
                    written.extend_from_slice(format!("{value:?}").as_bytes());
                }
                Key::Unordered(written)
            }
        })
    }

    /// How `self` compares with `other` (`None`: not equal, order unknown).
    fn compare(&self, other: &Key) -> Option<Ordering> {
        match (self, other) {
            (Key::Integer(a), Key::Integer(b)) => Some(a.cmp(b)),
            (
                Key::TimeTz {
                    utc: a,
                    seconds_east: a_east,
                },
                Key::TimeTz {
                    utc: b,
                    seconds_east: b_east,
                },
            ) => Some(a.cmp(b).then(b_east.cmp(a_east))),
            (Key::Float(a), Key::Float(b)) => Some(float_order(*a, *b)),
            (Key::Uuid(a), Key::Uuid(b)) => Some(a.cmp(b)),
            (a, b) => (a == b).then_some(Ordering::Equal),
        }
    }
}

/// A kept key, for the error message: only out-of-order keys are reported with their
/// predecessor, and those have an order, so their text is the value's.
fn key_text(key: &Key) -> String {
    match key {
        Key::Integer(value) => value.to_string(),
        Key::TimeTz { utc, seconds_east } => format!("{utc} ({seconds_east:+})"),
        Key::Float(value) => value.to_string(),
        Key::Uuid(bytes) => {
            let mut text = Vec::new();
            crate::value::scalar::write_uuid(bytes, &mut text);
            String::from_utf8_lossy(&text).into_owned()
        }
        Key::Unordered(text) => String::from_utf8_lossy(text).into_owned(),
    }
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
            key,
            session,
            previous: None,
            spare: Vec::new(),
        }
    }

    /// Checks the key of row number `row` against the previous row's, and keeps it for
    /// the next.
    pub fn check(&mut self, row: u64, values: &[Value<'_>]) -> Result<(), KeyOrderError> {
        let name = &self.key.column.name;
        let value = values.get(self.key.field).unwrap_or(&Value::Null);
        let Some(key) = Key::of(value, &self.session, &mut self.spare) else {
            return Err(KeyOrderError::Null {
                key: name.clone(),
                row,
            });
        };
        if let Some(previous) = &self.previous {
            match key.compare(previous) {
                Some(Ordering::Greater) | None => {}
                Some(Ordering::Equal) => {
                    return Err(KeyOrderError::Repeated {
                        key: name.clone(),
                        row,
                        value: self.text(value),
                    });
                }
                Some(Ordering::Less) => {
                    return Err(KeyOrderError::Decreasing {
                        key: name.clone(),
                        row,
                        value: self.text(value),
                        previous: key_text(previous),
                    });
                }
            }
        }
        if let Some(Key::Unordered(text)) = self.previous.replace(key) {
            self.spare = text;
        }
        Ok(())
    }

    /// A key as the output writes it, for the error message.
    fn text(&self, value: &Value<'_>) -> String {
        let mut text = Vec::new();
        if value.write_text(&self.session, &mut text).is_err() {
            return format!("{value:?}");
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Category, Column, ColumnForm};
    use crate::value::kind::{NativeType, ValueKind};

    fn checker(kind: ValueKind) -> KeyOrder {
        let column = Column {
            name: "id".into(),
            form: ColumnForm::Native(NativeType { kind, array: false }),
            category: Category::Other,
        };
        KeyOrder::new(
            KeyColumn { field: 0, column },
            SessionFormat::defaults(None),
        )
    }

    #[test]
    fn floats_order_as_postgresql_orders_them() {
        assert_eq!(float_order(f64::NAN, f64::INFINITY), Ordering::Greater);
        assert_eq!(float_order(f64::NAN, f64::NAN), Ordering::Equal);
        assert_eq!(float_order(-0.0, 0.0), Ordering::Equal);
        assert_eq!(float_order(f64::NEG_INFINITY, -1e308), Ordering::Less);
    }

    #[test]
    fn increasing_integers_pass_and_the_rest_fail() {
        let mut keys = checker(ValueKind::Int8);
        for (row, value) in [-5, 0, 7, i64::MAX].into_iter().enumerate() {
            keys.check(row as u64 + 1, &[Value::Int(value)]).unwrap();
        }
        assert!(matches!(
            keys.check(5, &[Value::Int(i64::MAX)]),
            Err(KeyOrderError::Repeated { row: 5, .. })
        ));
        let mut keys = checker(ValueKind::Int8);
        keys.check(1, &[Value::Int(3)]).unwrap();
        assert_eq!(
            keys.check(2, &[Value::Int(2)]),
            Err(KeyOrderError::Decreasing {
                key: "id".into(),
                row: 2,
                value: "2".into(),
                previous: "3".into(),
            })
        );
        assert!(matches!(
            keys.check(3, &[Value::Null]),
            Err(KeyOrderError::Null { row: 3, .. })
        ));
    }

    #[test]
    fn timetz_orders_by_instant_then_offset() {
        let a = Key::TimeTz {
            utc: 0,
            seconds_east: 3600,
        };
        let b = Key::TimeTz {
            utc: 0,
            seconds_east: 0,
        };
        // Same instant: the zone further west is greater, as in `timetz_cmp`.
        assert_eq!(b.compare(&a), Some(Ordering::Greater));
    }

    #[test]
    fn unknown_orders_only_tell_equal_keys() {
        let mut keys = checker(ValueKind::Text);
        keys.check(1, &[Value::Text(b"b")]).unwrap();
        keys.check(2, &[Value::Text(b"a")]).unwrap();
        assert!(matches!(
            keys.check(3, &[Value::Text(b"a")]),
            Err(KeyOrderError::Repeated { row: 3, .. })
        ));
    }
}
