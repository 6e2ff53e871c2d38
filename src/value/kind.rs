//! The types rowpipe formats itself, and the one place that maps each to its writers.
//!
//! A column of any other type is formatted by the server (see the typed source), so this
//! list can grow one type at a time without any other part of rowpipe noticing.

use tokio_postgres::types::{Kind, Type};

use super::array::Array;
use super::datetime::{self, DateTimeStyle, Zone};
use super::json::{is_json_number, write_json_string};
use super::{ValueError, float, numeric, scalar};

/// A PostgreSQL type whose binary form rowpipe turns into text itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    /// text, varchar, bpchar and name: the binary form is the text.
    Text,
    Uuid,
    Bytea,
    Json,
    Jsonb,
    Date,
    Time,
    TimeTz,
    Timestamp,
    Timestamptz,
    Interval,
}

/// The session settings that change how values are written, as the export's session has
/// them. A setting rowpipe does not reproduce makes the affected types "not native"; see
/// [`SessionFormat::supports`].
#[derive(Debug, Clone)]
pub struct SessionFormat {
    /// `DateStyle` starts with `ISO`.
    pub iso_dates: bool,
    /// `IntervalStyle = postgres`, on a server before 17 (which added infinite intervals).
    pub postgres_intervals: bool,
    /// `extra_float_digits > 0`: floats in their shortest exact form.
    pub shortest_floats: bool,
    /// `bytea_output = hex`.
    pub hex_bytea: bool,
    /// The session's `TimeZone`, when rowpipe can convert to it exactly.
    pub zone: Option<Zone>,
}

impl SessionFormat {
    /// The settings of a fresh PostgreSQL session with the given time zone.
    pub fn defaults(zone: Option<Zone>) -> Self {
        Self {
            iso_dates: true,
            postgres_intervals: true,
            shortest_floats: true,
            hex_bytea: true,
            zone,
        }
    }

    /// Whether rowpipe writes `kind` exactly as this session's server would, in the text
    /// form (`json` false) or the JSON form (`json` true).
    pub fn supports(&self, kind: ValueKind, json: bool) -> bool {
        use ValueKind::*;
        match kind {
            Float4 | Float8 => self.shortest_floats,
            Bytea => self.hex_bytea,
            Interval => self.postgres_intervals,
            // The JSON forms of dates and timestamps are ISO 8601 whatever the DateStyle.
            Date | Timestamp => json || self.iso_dates,
            Timestamptz => (json || self.iso_dates) && self.zone.is_some(),
            Bool | Int2 | Int4 | Int8 | Oid | Numeric | Text | Uuid | Json | Jsonb | Time
            | TimeTz => true,
        }
    }
}

impl ValueKind {
    /// The kind of a scalar type, looking through domains; `None` if rowpipe does not
    /// format it.
    pub fn of(ty: &Type) -> Option<ValueKind> {
        use ValueKind::*;
        if let Kind::Domain(base) = ty.kind() {
            return ValueKind::of(base);
        }
        Some(match *ty {
            Type::BOOL => Bool,
            Type::INT2 => Int2,
            Type::INT4 => Int4,
            Type::INT8 => Int8,
            Type::OID => Oid,
            Type::FLOAT4 => Float4,
            Type::FLOAT8 => Float8,
            Type::NUMERIC => Numeric,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Text,
            Type::UUID => Uuid,
            Type::BYTEA => Bytea,
            Type::JSON => Json,
            Type::JSONB => Jsonb,
            Type::DATE => Date,
            Type::TIME => Time,
            Type::TIMETZ => TimeTz,
            Type::TIMESTAMP => Timestamp,
            Type::TIMESTAMPTZ => Timestamptz,
            Type::INTERVAL => Interval,
            _ => return None,
        })
    }

    /// Numbers, which CSV's `quote=nonnumeric` leaves unquoted and JSON writes bare.
    pub fn is_numeric(self) -> bool {
        use ValueKind::*;
        matches!(self, Int2 | Int4 | Int8 | Oid | Float4 | Float8 | Numeric)
    }

    /// Writes a non-NULL value as the type's output function does.
    pub fn write_text(
        self,
        raw: &[u8],
        session: &SessionFormat,
        out: &mut Vec<u8>,
    ) -> Result<(), ValueError> {
        use ValueKind::*;
        match self {
            Bool => scalar::write_bool(raw, out),
            Int2 => scalar::write_int2(raw, out),
            Int4 => scalar::write_int4(raw, out),
            Int8 => scalar::write_int8(raw, out),
            Oid => scalar::write_oid(raw, out),
            Float4 => float::write_float4(raw, out),
            Float8 => float::write_float8(raw, out),
            Numeric => numeric::write_numeric(raw, out),
            Text | Json => {
                out.extend_from_slice(raw);
                Ok(())
            }
            Jsonb => {
                out.extend_from_slice(scalar::jsonb_text(raw)?);
                Ok(())
            }
            Uuid => scalar::write_uuid(raw, out),
            Bytea => {
                scalar::write_bytea(raw, out);
                Ok(())
            }
            Date => datetime::write_date(raw, DateTimeStyle::Iso, out),
            Time => datetime::write_time(raw, out),
            TimeTz => datetime::write_timetz(raw, out),
            Timestamp => datetime::write_timestamp(raw, DateTimeStyle::Iso, out),
            Timestamptz => {
                datetime::write_timestamptz(raw, zone(session)?, DateTimeStyle::Iso, out)
            }
            Interval => datetime::write_interval(raw, out),
        }
    }

    /// Writes a non-NULL value as `to_json` does: numbers and booleans bare, json as it
    /// is, dates and timestamps in ISO 8601, everything else as its text in a string.
    pub fn write_json(
        self,
        raw: &[u8],
        session: &SessionFormat,
        out: &mut Vec<u8>,
    ) -> Result<(), ValueError> {
        use ValueKind::*;
        match self {
            Bool => scalar::write_bool_json(raw, out),
            Text => {
                write_json_string(raw, out);
                Ok(())
            }
            Json | Jsonb => self.write_text(raw, session, out),
            Date => quoted(out, |out| {
                datetime::write_date(raw, DateTimeStyle::Json, out)
            }),
            Timestamp => quoted(out, |out| {
                datetime::write_timestamp(raw, DateTimeStyle::Json, out)
            }),
            Timestamptz => quoted(out, |out| {
                datetime::write_timestamptz(raw, zone(session)?, DateTimeStyle::Json, out)
            }),
            // `to_json` counts oid among the strings, not the numbers.
            _ if self.is_numeric() && self != Oid => {
                let start = out.len();
                self.write_text(raw, session, out)?;
                if !is_json_number(&out[start..]) {
                    // NaN and the infinities: plain ASCII, so quoting needs no escapes.
                    out.insert(start, b'"');
                    out.push(b'"');
                }
                Ok(())
            }
            // uuid, bytea, time, timetz, interval: their text needs no escaping but `\`
            // (bytea's `\x`), so go through the escaper.
            _ => {
                let start = out.len();
                self.write_text(raw, session, out)?;
                let text = out.split_off(start);
                write_json_string(&text, out);
                Ok(())
            }
        }
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
    // Planning only makes a timestamptz column native when the zone is known.
    session.zone.as_ref().ok_or(ValueError::new(
        "timestamp with time zone",
        super::Problem::OutOfRange("the session time zone"),
    ))
}

/// How one column's values are written: a scalar or an array of a native kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeType {
    pub kind: ValueKind,
    pub array: bool,
}

impl NativeType {
    /// The native form of a column type, if rowpipe formats it (arrays of native element
    /// types included).
    pub fn of(ty: &Type) -> Option<NativeType> {
        match ty.kind() {
            Kind::Array(element) => {
                ValueKind::of(element).map(|kind| NativeType { kind, array: true })
            }
            Kind::Domain(base) => NativeType::of(base),
            _ => ValueKind::of(ty).map(|kind| NativeType { kind, array: false }),
        }
    }

    /// Whether the binary form is already the text (text, varchar, bpchar, name, json).
    #[inline]
    pub fn is_plain_text(self) -> bool {
        !self.array && matches!(self.kind, ValueKind::Text | ValueKind::Json)
    }

    /// Whether every text this type writes is made of ASCII letters, digits, space and
    /// `+ - . : \` only (numbers, booleans, uuid, bytea, dates, times, intervals): a
    /// delimiter or quote outside that set never needs quoting in it.
    pub fn writes_plain_ascii(self) -> bool {
        use ValueKind::*;
        !self.array
            && matches!(
                self.kind,
                Bool | Int2
                    | Int4
                    | Int8
                    | Oid
                    | Float4
                    | Float8
                    | Numeric
                    | Uuid
                    | Bytea
                    | Date
                    | Time
                    | TimeTz
                    | Timestamp
                    | Timestamptz
                    | Interval
            )
    }

    /// Writes a non-NULL value as the type's output function does (`array_out` for
    /// arrays).
    pub fn write_text(
        self,
        raw: &[u8],
        session: &SessionFormat,
        out: &mut Vec<u8>,
    ) -> Result<(), ValueError> {
        self.write(raw, session, false, out)
    }

    /// Writes a non-NULL value as `to_json` does (nested JSON arrays for arrays).
    pub fn write_json(
        self,
        raw: &[u8],
        session: &SessionFormat,
        out: &mut Vec<u8>,
    ) -> Result<(), ValueError> {
        self.write(raw, session, true, out)
    }

    fn write(
        self,
        raw: &[u8],
        session: &SessionFormat,
        json: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), ValueError> {
        let mut element = |raw: &[u8], out: &mut Vec<u8>| match json {
            true => self.kind.write_json(raw, session, out),
            false => self.kind.write_text(raw, session, out),
        };
        if !self.array {
            return element(raw, out);
        }
        let array = Array::parse(raw)?;
        match json {
            true => array.write_json(out, &mut element),
            false => array.write_text(out, &mut element),
        }
    }
}
