//! The column types rowpipe formats itself, and the session settings their text depends on.
//!
//! A source maps its database's types to these (the PostgreSQL source in
//! `crate::source::postgres::types`); a column of any other type is formatted by the database, so
//! this list can grow one type at a time without any other part of rowpipe noticing.

use super::datetime::Zone;

/// A column type whose values rowpipe writes itself.
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
    /// Numbers, which CSV's `quote=nonnumeric` leaves unquoted and JSON writes bare.
    pub fn is_numeric(self) -> bool {
        use ValueKind::*;
        matches!(self, Int2 | Int4 | Int8 | Oid | Float4 | Float8 | Numeric)
    }
}

/// How one column's values are written: a scalar or an array of a native kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeType {
    pub kind: ValueKind,
    pub array: bool,
}

impl NativeType {
    /// Whether a value is its own text (text, varchar, bpchar, name, json).
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
}
