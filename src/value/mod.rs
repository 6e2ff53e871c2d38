//! Values: what a source hands the encoders, one [`Value`] per field, and the writers that
//! turn each into the exact bytes PostgreSQL's own output function (or `to_json`) would
//! have written.
//!
//! A `Value` is rowpipe's own, borrowed from the source's buffers: the PostgreSQL source
//! decodes the binary send formats into it (`crate::source::postgres::binary`), and any other source
//! builds it from what its database gives. The encoders see only values, so a format is
//! written the same way whichever database the rows came from.
//!
//! Every writer appends to `out` and returns a [`ValueError`] instead of panicking when a
//! value is out of its type's range. Writers never depend on anything but their arguments:
//! the session settings that change PostgreSQL's output (time zone, date style) are passed
//! in, and settings the writers do not reproduce are the caller's cue to let the server
//! format that column instead (see [`crate::value::kind::SessionFormat::supports`]).

pub mod array;
pub mod datetime;
pub mod float;
pub mod json;
pub mod kind;
pub mod numeric;
pub mod scalar;

use std::fmt;

pub use array::ArrayRef;
pub use numeric::Numeric;

use datetime::{DateTimeStyle, Zone};
use json::{is_json_number, write_json_string};
use kind::SessionFormat;

/// One field of a row, as a source hands it to the encoders.
///
/// Integers of every width are one variant (their text does not depend on the width); the
/// date and time variants count from PostgreSQL's epoch, 2000-01-01, with the extreme
/// integers standing for `-infinity` and `infinity`. A value the source formatted itself
/// (a column of a type rowpipe does not format) arrives as [`Value::Text`] for the tabular
/// formats and as [`Value::Json`] for the JSON ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// smallint, integer, bigint.
    Int(i64),
    /// An object identifier: unsigned, and a string in JSON, as `to_json` writes it.
    Oid(u32),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric<'a>),
    /// Text in the database's encoding, written as it is.
    Text(&'a [u8]),
    /// Binary data, written as bytea's hex form (`\x...`).
    Bytes(&'a [u8]),
    /// JSON text, written as it is.
    Json(&'a [u8]),
    Uuid([u8; 16]),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since midnight, up to and including 24:00:00.
    Time(i64),
    /// A time of day with its own UTC offset.
    TimeTz {
        micros: i64,
        seconds_east: i32,
    },
    /// Microseconds since 2000-01-01 00:00:00, in no time zone.
    Timestamp(i64),
    /// Microseconds since 2000-01-01 00:00:00 UTC, written in the session's time zone.
    Timestamptz(i64),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Array(ArrayRef<'a>),
}

impl Value<'_> {
    /// Writes the value's text as the type's output function does; NULL writes nothing
    /// (each format has its own NULL).
    #[inline]
    pub fn write_text(&self, session: &SessionFormat, out: &mut Vec<u8>) -> Result<(), ValueError> {
        match *self {
            Value::Null => {}
            Value::Bool(value) => out.push(if value { b't' } else { b'f' }),
            Value::Int(value) => {
                out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes())
            }
            Value::Oid(value) => {
                out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes())
            }
            Value::Float4(value) => float::write_float4(value, out),
            Value::Float8(value) => float::write_float8(value, out),
            Value::Numeric(value) => value.write(out)?,
            Value::Text(text) | Value::Json(text) => out.extend_from_slice(text),
            Value::Bytes(bytes) => scalar::write_bytea(bytes, out),
            Value::Uuid(uuid) => scalar::write_uuid(&uuid, out),
            Value::Date(days) => datetime::write_date(days, out)?,
            Value::Time(micros) => datetime::write_time(micros, out)?,
            Value::TimeTz {
                micros,
                seconds_east,
            } => datetime::write_timetz(micros, seconds_east, out)?,
            Value::Timestamp(micros) => datetime::write_timestamp(micros, DateTimeStyle::Iso, out)?,
            Value::Timestamptz(micros) => {
                datetime::write_timestamptz(micros, zone(session)?, DateTimeStyle::Iso, out)?
            }
            Value::Interval {
                months,
                days,
                micros,
            } => datetime::write_interval(months, days, micros, out),
            Value::Array(array) => array.write_text(session, out)?,
        }
        Ok(())
    }

    /// Writes the value as `to_json` does: numbers and booleans bare, JSON as it is, dates
    /// and timestamps in ISO 8601, everything else as its text in a string.
    #[inline]
    pub fn write_json(&self, session: &SessionFormat, out: &mut Vec<u8>) -> Result<(), ValueError> {
        match *self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(value) => out.extend_from_slice(if value { b"true" } else { b"false" }),
            Value::Int(_) => self.write_text(session, out)?,
            Value::Float4(_) | Value::Float8(_) | Value::Numeric(_) => {
                let start = out.len();
                self.write_text(session, out)?;
                if !is_json_number(&out[start..]) {
                    // NaN and the infinities: plain ASCII, so quoting needs no escapes.
                    out.insert(start, b'"');
                    out.push(b'"');
                }
            }
            Value::Text(text) => write_json_string(text, out),
            Value::Json(json) => out.extend_from_slice(json),
            Value::Date(days) => quoted(out, |out| datetime::write_date(days, out))?,
            Value::Timestamp(micros) => quoted(out, |out| {
                datetime::write_timestamp(micros, DateTimeStyle::Json, out)
            })?,
            Value::Timestamptz(micros) => quoted(out, |out| {
                datetime::write_timestamptz(micros, zone(session)?, DateTimeStyle::Json, out)
            })?,
            Value::Array(array) => array.write_json(session, out)?,
            // oid (a string to `to_json`), uuid, bytea, time, timetz, interval: their text
            // needs no escaping but `\` (bytea's `\x`), so go through the escaper.
            Value::Oid(_)
            | Value::Bytes(_)
            | Value::Uuid(_)
            | Value::Time(_)
            | Value::TimeTz { .. }
            | Value::Interval { .. } => {
                let start = out.len();
                self.write_text(session, out)?;
                let text = out.split_off(start);
                write_json_string(&text, out);
            }
        }
        Ok(())
    }
}

/// Writes `value` between double quotes, for text that needs no JSON escaping.
fn quoted(
    out: &mut Vec<u8>,
    value: impl FnOnce(&mut Vec<u8>) -> Result<(), ValueError>,
) -> Result<(), ValueError> {
    out.push(b'"');
    value(out)?;
    out.push(b'"');
    Ok(())
}

fn zone(session: &SessionFormat) -> Result<&Zone, ValueError> {
    // A source only makes a timestamptz column native when the zone is known.
    session.zone.as_ref().ok_or(ValueError::new(
        "timestamp with time zone",
        Problem::OutOfRange("the session time zone"),
    ))
}

/// A field's bytes are not a valid binary value of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid binary {type_name} value: {problem}")]
pub struct ValueError {
    /// The PostgreSQL type name, e.g. `"numeric"`.
    pub type_name: &'static str,
    pub problem: Problem,
}

/// What is wrong with a binary value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The value must be exactly this many bytes long.
    Length { expected: usize, found: usize },
    /// The value is shorter than its own header says.
    Truncated,
    /// A field of the value is out of its range, e.g. a numeric digit above 9999.
    OutOfRange(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Length { expected, found } => {
                write!(f, "expected {expected} bytes, found {found}")
            }
            Problem::Truncated => f.write_str("it ends early"),
            Problem::OutOfRange(what) => write!(f, "{what} is out of range"),
        }
    }
}

impl ValueError {
    pub(crate) fn new(type_name: &'static str, problem: Problem) -> Self {
        Self { type_name, problem }
    }
}
