//! PostgreSQL's types, mapped to the column types rowpipe writes itself and to the broad
//! categories the formats' options depend on. The one place that reads a
//! `tokio_postgres::types::Type` for the encoders' sake.

use tokio_postgres::types::{Kind, Type};

use crate::schema::Category;
use crate::source::ParamKind;
use crate::value::kind::{NativeType, ValueKind};

/// The kind of a scalar type, looking through domains; `None` if rowpipe does not format
/// it.
pub fn value_kind(ty: &Type) -> Option<ValueKind> {
    use ValueKind::*;
    if let Kind::Domain(base) = ty.kind() {
        return value_kind(base);
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

/// The native form of a column type, if rowpipe formats it (arrays of native element
/// types included).
pub fn native_type(ty: &Type) -> Option<NativeType> {
    match ty.kind() {
        Kind::Array(element) => value_kind(element).map(|kind| NativeType { kind, array: true }),
        Kind::Domain(base) => native_type(base),
        _ => value_kind(ty).map(|kind| NativeType { kind, array: false }),
    }
}

/// The category of a type, looking through domains.
pub fn category(ty: &Type) -> Category {
    if let Kind::Domain(base) = ty.kind() {
        return category(base);
    }
    match *ty {
        Type::MONEY => Category::Number,
        Type::DATE
        | Type::TIME
        | Type::TIMETZ
        | Type::TIMESTAMP
        | Type::TIMESTAMPTZ
        | Type::INTERVAL => Category::DateTime,
        _ if value_kind(ty).is_some_and(ValueKind::is_numeric) => Category::Number,
        _ => Category::Other,
    }
}

/// A type as PostgreSQL names it, arrays as `element[]`.
pub fn type_name(ty: &Type) -> String {
    match ty.kind() {
        Kind::Array(element) => format!("{}[]", element.name()),
        _ => ty.name().to_owned(),
    }
}

/// What a dataset parameter declared `type_name` takes: the values of PostgreSQL's type of
/// that name, where JSON has a form for them (integers with their range), else text.
pub fn param_kind(type_name: &str) -> ParamKind {
    let integer = |min, max| ParamKind::Integer { min, max };
    match type_name.trim().to_ascii_lowercase().as_str() {
        "int2" | "smallint" => integer(i16::MIN.into(), i16::MAX.into()),
        "int4" | "int" | "integer" => integer(i32::MIN.into(), i32::MAX.into()),
        "int8" | "bigint" => integer(i64::MIN, i64::MAX),
        "bool" | "boolean" => ParamKind::Boolean,
        "float4" | "real" | "float8" | "double precision" | "numeric" | "decimal" => {
            ParamKind::Number
        }
        "date" => ParamKind::Date,
        "timestamp"
        | "timestamptz"
        | "timestamp with time zone"
        | "timestamp without time zone" => ParamKind::DateTime,
        "uuid" => ParamKind::Uuid,
        _ => ParamKind::Text,
    }
}
