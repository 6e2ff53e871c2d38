//! PostgreSQL's binary send formats (what `COPY ... (FORMAT binary)` and binary result
//! columns carry), decoded into rowpipe's [`Value`]s.
//!
//! Decoding reads fixed-size integers and borrows everything else in place; what a value
//! means (the valid range of a date, the rules of `numeric_out`) is the value writers'
//! business. Bytes that cannot be a value of the column's type are a [`ValueError`],
//! never a panic.

use std::fmt;

use super::RowRef;
use crate::encode::FieldError;
use crate::schema::{Column, ColumnForm, Schema};
use crate::value::array::Elements;
use crate::value::kind::{NativeType, SessionFormat, ValueKind};
use crate::value::{ArrayRef, Numeric, Problem, Value, ValueError};

/// Reads a fixed-size value, or says why not.
fn fixed<const N: usize>(type_name: &'static str, raw: &[u8]) -> Result<[u8; N], ValueError> {
    raw.try_into().map_err(|_| {
        ValueError::new(
            type_name,
            Problem::Length {
                expected: N,
                found: raw.len(),
            },
        )
    })
}

/// One decoder per type, and the array element types built on them: the type is matched
/// once per column, not once per value.
macro_rules! decoders {
    ($($kind:ident => $decode:ident / $elements:ident: |$raw:ident| $body:expr;)*) => {
        $(
            #[inline(always)]
            fn $decode($raw: &[u8]) -> Result<Value<'_>, ValueError> {
                Ok($body)
            }

            static $elements: Elements = Elements {
                kind: ValueKind::$kind,
                write_text: |raw, session, out| $decode(raw)?.write_text(session, out),
                write_json: |raw, session, out| $decode(raw)?.write_json(session, out),
            };
        )*

        /// Decodes one non-NULL scalar of `kind`, every decoder inlined: the loop over a
        /// row's fields branches once per field, to the decoder in place.
        #[inline(always)]
        fn decode_inline(kind: ValueKind, raw: &[u8]) -> Result<Value<'_>, ValueError> {
            match kind {
                $(ValueKind::$kind => $decode(raw),)*
            }
        }

        /// Every kind there is a decoder for.
        #[cfg(test)]
        const KINDS: &[ValueKind] = &[$(ValueKind::$kind,)*];

        fn elements(kind: ValueKind) -> &'static Elements {
            match kind {
                $(ValueKind::$kind => &$elements,)*
            }
        }
    };
}

decoders! {
    Bool => bool / BOOL: |raw| match fixed::<1>("boolean", raw)? {
        [0] => Value::Bool(false),
        [1] => Value::Bool(true),
        _ => return Err(ValueError::new("boolean", Problem::OutOfRange("the byte"))),
    };
    Int2 => int2 / INT2: |raw| Value::Int(i16::from_be_bytes(fixed("smallint", raw)?).into());
    Int4 => int4 / INT4: |raw| Value::Int(i32::from_be_bytes(fixed("integer", raw)?).into());
    Int8 => int8 / INT8: |raw| Value::Int(i64::from_be_bytes(fixed("bigint", raw)?));
    Oid => oid / OID: |raw| Value::Oid(u32::from_be_bytes(fixed("oid", raw)?));
    Float4 => float4 / FLOAT4: |raw| Value::Float4(f32::from_be_bytes(fixed("float4", raw)?));
    Float8 => float8 / FLOAT8: |raw| Value::Float8(f64::from_be_bytes(fixed("float8", raw)?));
    // Checked when written.
    Numeric => numeric / NUMERIC: |raw| Value::Numeric(Numeric::from_binary(raw));
    Text => text / TEXT: |raw| Value::Text(raw);
    Uuid => uuid / UUID: |raw| Value::Uuid(fixed("uuid", raw)?);
    Bytea => bytea / BYTEA: |raw| Value::Bytes(raw);
    Json => json / JSON: |raw| Value::Json(raw);
    // A version byte (1), then the very text `jsonb_out` writes.
    Jsonb => jsonb / JSONB: |raw| match raw.split_first() {
        Some((1, text)) => Value::Json(text),
        Some(_) => {
            return Err(ValueError::new(
                "jsonb",
                Problem::OutOfRange("the format version"),
            ));
        }
        None => return Err(ValueError::new("jsonb", Problem::Truncated)),
    };
    Date => date / DATE: |raw| Value::Date(i32::from_be_bytes(fixed("date", raw)?));
    Time => time / TIME: |raw| Value::Time(i64::from_be_bytes(fixed("time", raw)?));
    // Microseconds, then the offset in seconds *west* of UTC.
    TimeTz => timetz / TIMETZ: |raw| {
        let [time @ .., z0, z1, z2, z3] = fixed::<12>("timetz", raw)?;
        Value::TimeTz {
            micros: i64::from_be_bytes(time),
            seconds_east: i32::from_be_bytes([z0, z1, z2, z3]).wrapping_neg(),
        }
    };
    Timestamp => timestamp / TIMESTAMP: |raw| {
        Value::Timestamp(i64::from_be_bytes(fixed("timestamp", raw)?))
    };
    Timestamptz => timestamptz / TIMESTAMPTZ: |raw| {
        Value::Timestamptz(i64::from_be_bytes(fixed("timestamptz", raw)?))
    };
    // Microseconds, days, months.
    Interval => interval / INTERVAL: |raw| {
        let [micros @ .., d0, d1, d2, d3, m0, m1, m2, m3] = fixed::<16>("interval", raw)?;
        Value::Interval {
            months: i32::from_be_bytes([m0, m1, m2, m3]),
            days: i32::from_be_bytes([d0, d1, d2, d3]),
            micros: i64::from_be_bytes(micros),
        }
    };
}

/// Decodes one non-NULL scalar of `kind`.
pub fn decode_scalar(kind: ValueKind, raw: &[u8]) -> Result<Value<'_>, ValueError> {
    decode_inline(kind, raw)
}

/// Decodes one non-NULL value of a native column type; an array's elements are decoded
/// when it is written.
pub fn decode(native: NativeType, raw: &[u8]) -> Result<Value<'_>, ValueError> {
    match native.array {
        true => Ok(Value::Array(ArrayRef::new(raw, elements(native.kind)))),
        false => decode_scalar(native.kind, raw),
    }
}

/// Writes a binary value's text as the type's output function does.
pub fn write_text(
    native: NativeType,
    raw: &[u8],
    session: &SessionFormat,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    decode(native, raw)?.write_text(session, out)
}

/// Writes a binary value as `to_json` does.
pub fn write_json(
    native: NativeType,
    raw: &[u8],
    session: &SessionFormat,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    decode(native, raw)?.write_json(session, out)
}

/// How one field of a row is decoded.
#[derive(Clone, Copy)]
enum Field {
    /// A scalar of this type.
    Scalar(ValueKind),
    /// An array of these elements.
    Array(&'static Elements),
    /// What the server formatted: its text, or its JSON.
    ServerText,
    ServerJson,
}

impl Field {
    fn of(column: &Column) -> Field {
        match column.form {
            ColumnForm::Native(NativeType { kind, array: false }) => Field::Scalar(kind),
            ColumnForm::Native(NativeType { kind, array: true }) => Field::Array(elements(kind)),
            ColumnForm::ServerText => Field::ServerText,
            ColumnForm::ServerJson => Field::ServerJson,
        }
    }
}

/// Turns the binary rows of one result into rows of values, following the [`Schema`]:
/// native columns are decoded, server-formatted ones borrowed as text or JSON.
pub struct RowValues {
    columns: Vec<Column>,
    fields: Vec<Field>,
}

impl fmt::Debug for RowValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowValues")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl RowValues {
    pub fn new(schema: &Schema) -> Self {
        let mut columns = schema.columns.clone();
        if let Some(key) = &schema.key
            && key.field >= columns.len()
        {
            columns.push(key.column.clone());
        }
        let fields = columns.iter().map(Field::of).collect();
        Self { columns, fields }
    }

    /// How many fields each row has.
    pub fn fields(&self) -> usize {
        self.fields.len()
    }

    /// Appends `row`'s values to `values`.
    #[inline]
    pub fn decode<'a>(
        &self,
        row: &RowRef<'a>,
        values: &mut Vec<Value<'a>>,
    ) -> Result<(), FieldError> {
        values.reserve(self.fields.len());
        for (index, (raw, field)) in row.fields().zip(&self.fields).enumerate() {
            let value = match (raw, *field) {
                (None, _) => Value::Null,
                (Some(raw), Field::Scalar(kind)) => match decode_inline(kind, raw) {
                    Ok(value) => value,
                    Err(error) => return Err(FieldError::new(&self.columns[index], error)),
                },
                (Some(raw), Field::Array(elements)) => Value::Array(ArrayRef::new(raw, elements)),
                (Some(raw), Field::ServerText) => Value::Text(raw),
                (Some(raw), Field::ServerJson) => Value::Json(raw),
            };
            values.push(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(kind: ValueKind, raw: &[u8]) -> Result<Value<'_>, ValueError> {
        decode_scalar(kind, raw)
    }

    #[test]
    fn integers_of_every_width() {
        assert_eq!(
            scalar(ValueKind::Int2, &i16::MIN.to_be_bytes()),
            Ok(Value::Int(-32768))
        );
        assert_eq!(
            scalar(ValueKind::Int4, &i32::MAX.to_be_bytes()),
            Ok(Value::Int(2147483647))
        );
        assert_eq!(
            scalar(ValueKind::Int8, &i64::MIN.to_be_bytes()),
            Ok(Value::Int(i64::MIN))
        );
        assert_eq!(
            scalar(ValueKind::Oid, &u32::MAX.to_be_bytes()),
            Ok(Value::Oid(u32::MAX))
        );
        assert_eq!(
            scalar(ValueKind::Int4, &[0, 1]).unwrap_err().to_string(),
            "invalid binary integer value: expected 4 bytes, found 2"
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(scalar(ValueKind::Bool, &[1]), Ok(Value::Bool(true)));
        assert_eq!(scalar(ValueKind::Bool, &[0]), Ok(Value::Bool(false)));
        assert!(scalar(ValueKind::Bool, &[2]).is_err());
        assert!(scalar(ValueKind::Bool, &[]).is_err());
    }

    #[test]
    fn jsonb_strips_its_version_byte() {
        assert_eq!(
            scalar(ValueKind::Jsonb, b"\x01{\"a\": 1}"),
            Ok(Value::Json(b"{\"a\": 1}"))
        );
        assert!(scalar(ValueKind::Jsonb, b"\x02{}").is_err());
        assert!(scalar(ValueKind::Jsonb, b"").is_err());
    }

    #[test]
    fn timetz_offsets_are_stored_west_of_utc() {
        let mut raw = 3_600_000_000_i64.to_be_bytes().to_vec();
        raw.extend_from_slice(&(-19_800_i32).to_be_bytes());
        assert_eq!(
            scalar(ValueKind::TimeTz, &raw),
            Ok(Value::TimeTz {
                micros: 3_600_000_000,
                seconds_east: 19_800
            })
        );
    }

    #[test]
    fn wrong_lengths_are_errors() {
        use ValueKind::*;
        let cases = [
            (Float4, 4, "float4"),
            (Float8, 8, "float8"),
            (Uuid, 16, "uuid"),
            (Date, 4, "date"),
            (Time, 8, "time"),
            (TimeTz, 12, "timetz"),
            (Timestamp, 8, "timestamp"),
            (Timestamptz, 8, "timestamptz"),
            (Interval, 16, "interval"),
        ];
        for (kind, expected, type_name) in cases {
            for found in [0, expected - 1, expected + 1] {
                let raw = vec![0; found];
                assert_eq!(
                    scalar(kind, &raw),
                    Err(ValueError::new(
                        type_name,
                        Problem::Length { expected, found }
                    )),
                    "{kind:?}"
                );
            }
        }
    }

    #[test]
    fn any_bytes_never_panic() {
        let kinds = KINDS.iter().copied();
        let session = SessionFormat::defaults(None);
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..5_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = [state.to_be_bytes(), state.rotate_left(29).to_be_bytes()].concat();
            for len in [0, 1, 4, 8, 12, 16] {
                for kind in kinds.clone() {
                    for array in [false, true] {
                        let native = NativeType { kind, array };
                        let mut out = Vec::new();
                        let _ = write_text(native, &bytes[..len], &session, &mut out);
                        let _ = write_json(native, &bytes[..len], &session, &mut out);
                    }
                }
            }
        }
    }
}
