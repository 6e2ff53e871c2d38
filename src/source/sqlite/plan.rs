//! One export's statement, before it runs: the dataset's SQL checked to be one read-only
//! query, its parameters parsed by their declared types, and the request's `columns`,
//! key order, `after` and `limit` added by wrapping it:
//! `SELECT q."a", ... FROM (<sql>) AS q WHERE q."key" > $rowpipe_after ORDER BY q."key" LIMIT n`.
//!
//! Every column is written by each value's own storage class (see [`crate::source::sqlite`]),
//! so the schema's columns are text-like in form (never assumed to need no quoting) and
//! take their [`Category`] from the declared type's affinity.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Statement};

use crate::escape::quote_identifier;
use crate::export::{BoundParam, ExportQuery};
use crate::schema::{Category, Column, ColumnForm, KeyColumn, Schema};
use crate::source::{ParamKind, Rejected, SourceError, column_index, key_index};
use crate::value::datetime::Zone;
use crate::value::kind::{NativeType, SessionFormat, ValueKind};

/// The name the wrapped statement binds `after` to.
const AFTER: &str = "$rowpipe_after";

/// A prepared export: the statement to run with its values bound, and the schema of its
/// rows.
pub(super) struct Plan<'c> {
    pub statement: Statement<'c>,
    pub schema: Schema,
}

/// A SQLite column's declared type's affinity, by SQLite's own rules (section 3.1 of
/// "Datatypes In SQLite").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Affinity {
    Integer,
    Text,
    /// BLOB, or no declared type (an expression).
    Blob,
    Real,
    Numeric,
}

impl Affinity {
    pub fn of(declared: Option<&str>) -> Self {
        let Some(declared) = declared else {
            return Affinity::Blob;
        };
        let upper = declared.to_ascii_uppercase();
        if upper.contains("INT") {
            Affinity::Integer
        } else if ["CHAR", "CLOB", "TEXT"].iter().any(|t| upper.contains(t)) {
            Affinity::Text
        } else if upper.contains("BLOB") || upper.trim().is_empty() {
            Affinity::Blob
        } else if ["REAL", "FLOA", "DOUB"].iter().any(|t| upper.contains(t)) {
            Affinity::Real
        } else {
            Affinity::Numeric
        }
    }

    /// Numbers for CSV's `quote=nonnumeric` and Excel's formula guard: the affinities
    /// that store numbers as numbers.
    fn category(self) -> Category {
        match self {
            Affinity::Integer | Affinity::Real | Affinity::Numeric => Category::Number,
            Affinity::Text | Affinity::Blob => Category::Other,
        }
    }
}

/// A result column of the dataset's own SQL.
struct Described {
    name: String,
    affinity: Affinity,
}

/// Strips what may end a statement but cannot end a subquery.
fn strip_terminator(sql: &str) -> &str {
    sql.trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// Why `statement` cannot be an export's, if it cannot.
fn check_read_only(statement: &Statement<'_>) -> Result<(), Rejected> {
    if !statement.readonly() {
        return Err(Rejected::NotReadOnly {
            reason: "it writes to the database".into(),
        });
    }
    // ATTACH and DETACH count as read-only to SQLite (they change the connection, not a
    // file); they return no rows, as no query does.
    if statement.column_count() == 0 {
        return Err(Rejected::NotReadOnly {
            reason: "it returns no rows (an ATTACH, a PRAGMA that sets, ...)".into(),
        });
    }
    Ok(())
}

/// Prepares `sql` as it stands, checked to be one read-only query.
pub(super) fn prepare_query<'c>(
    connection: &'c Connection,
    sql: &str,
) -> Result<Statement<'c>, SourceError> {
    let statement = connection
        .prepare(strip_terminator(sql))
        .map_err(|error| failed(0, &error))?;
    check_read_only(&statement)?;
    Ok(statement)
}

/// Describes the columns `statement` returns: names and declared types (`None` for an
/// expression).
pub(super) fn columns(statement: &Statement<'_>) -> Vec<(String, Option<String>)> {
    statement
        .columns()
        .iter()
        .map(|column| {
            (
                column.name().to_owned(),
                column.decl_type().map(str::to_owned),
            )
        })
        .collect()
}

impl<'c> Plan<'c> {
    pub fn new(connection: &'c Connection, query: &ExportQuery) -> Result<Self, SourceError> {
        let sql = strip_terminator(&query.sql);
        let described: Vec<Described> = {
            let statement = prepare_query(connection, sql)?;
            columns(&statement)
                .into_iter()
                .map(|(name, declared)| Described {
                    name,
                    affinity: Affinity::of(declared.as_deref()),
                })
                .collect()
        };
        let names: Vec<String> = described.iter().map(|c| c.name.clone()).collect();
        let find = |given: &str| column_index(&names, given);
        let selected: Option<Vec<usize>> = match &query.columns {
            Some(columns) => Some(
                columns
                    .iter()
                    .map(|given| find(given))
                    .collect::<Result<_, _>>()?,
            ),
            None => None,
        };
        let mut fields: Vec<usize> = selected
            .clone()
            .unwrap_or_else(|| (0..names.len()).collect());
        let key = match &query.key {
            Some(key) => {
                let index = key_index(&names, key)?;
                let field = match fields.iter().position(|&field| field == index) {
                    Some(field) => field,
                    None => {
                        fields.push(index);
                        fields.len() - 1
                    }
                };
                Some((index, field))
            }
            None if query.after.is_some() => return Err(Rejected::AfterWithoutKey.into()),
            None => None,
        };
        let after = match (&query.after, key) {
            (Some(after), Some((index, _))) => Some(after_value(
                &names[index],
                described[index].affinity,
                after,
            )?),
            _ => None,
        };

        let wrapped = selected.is_some() || key.is_some() || query.limit.is_some();
        let sql = if wrapped {
            let list: Vec<String> = fields
                .iter()
                .map(|&index| format!("q.{}", quote_identifier(&names[index])))
                .collect();
            let mut wrapped = format!("SELECT {} FROM ({sql}\n) AS q", list.join(", "));
            if let Some((index, _)) = key {
                let key = quote_identifier(&names[index]);
                if after.is_some() {
                    wrapped.push_str(&format!(" WHERE q.{key} > {AFTER}"));
                }
                wrapped.push_str(&format!(" ORDER BY q.{key}"));
            }
            if let Some(limit) = query.limit {
                wrapped.push_str(&format!(" LIMIT {}", limit.min(i64::MAX as u64)));
            }
            wrapped
        } else {
            sql.to_owned()
        };
        let mut statement = connection
            .prepare(&sql)
            .map_err(|error| failed(0, &error))?;
        check_read_only(&statement)?;
        bind(&mut statement, &query.params, after)?;

        let column = |index: usize| Column {
            name: names[index].clone(),
            form: ColumnForm::Native(NativeType {
                kind: ValueKind::Text,
                array: false,
            }),
            category: described[index].affinity.category(),
        };
        let columns = fields[..selected.as_ref().map_or(names.len(), Vec::len)]
            .iter()
            .map(|&index| column(index))
            .collect();
        Ok(Self {
            statement,
            schema: Schema {
                columns,
                session: SessionFormat::defaults(Some(Zone::utc())),
                key: key.map(|(index, field)| KeyColumn {
                    field,
                    column: column(index),
                }),
            },
        })
    }
}

/// Binds the dataset's parameters (`$1`, `$2`, ..., or `?` in order) and `after`.
fn bind(
    statement: &mut Statement<'_>,
    params: &[BoundParam],
    after: Option<SqlValue>,
) -> Result<(), SourceError> {
    let count = statement.parameter_count();
    for (position, param) in params.iter().enumerate() {
        let value = param_value(param)?;
        let number = position + 1;
        let index = match statement.parameter_index(&format!("${number}")) {
            Ok(Some(index)) => index,
            _ if number <= count => number,
            // A parameter the query does not use.
            _ => continue,
        };
        statement
            .raw_bind_parameter(index, value)
            .map_err(|error| failed(0, &error))?;
    }
    if let Some(after) = after {
        let index = statement
            .parameter_index(AFTER)
            .map_err(|error| failed(0, &error))?
            .expect("the wrapped query names after");
        statement
            .raw_bind_parameter(index, after)
            .map_err(|error| failed(0, &error))?;
    }
    Ok(())
}

/// What a parameter declared `type_name` takes (see [`param_value`]).
pub fn param_kind(type_name: &str) -> ParamKind {
    match type_name.trim().to_ascii_lowercase().as_str() {
        "integer" | "int" | "bigint" | "int8" => ParamKind::Integer {
            min: i64::MIN,
            max: i64::MAX,
        },
        "real" | "float" | "double" | "float8" => ParamKind::Number,
        _ => ParamKind::Text,
    }
}

/// A parameter's text as a value of its declared type: `integer`, `real`, `text` or `blob`
/// (as bytea's hex form, `\x...`); no declared type binds the text.
fn param_value(param: &BoundParam) -> Result<SqlValue, Rejected> {
    let invalid = |message: &str| Rejected::InvalidParam {
        name: param.name.clone(),
        value: param.value.clone(),
        type_name: param.type_name.clone(),
        message: message.to_owned(),
    };
    let value = param.value.as_str();
    match param.type_name.trim().to_ascii_lowercase().as_str() {
        "integer" | "int" | "bigint" | "int8" => value
            .trim()
            .parse::<i64>()
            .map(SqlValue::Integer)
            .map_err(|error| invalid(&error.to_string())),
        "real" | "float" | "double" | "float8" => match value.trim().parse::<f64>() {
            Ok(number) if !number.is_nan() => Ok(SqlValue::Real(number)),
            Ok(_) => Err(invalid("NaN is not a value SQLite stores")),
            Err(error) => Err(invalid(&error.to_string())),
        },
        "text" | "" => Ok(SqlValue::Text(value.to_owned())),
        "blob" => parse_hex(value)
            .map(SqlValue::Blob)
            .ok_or_else(|| invalid("expected \\x followed by pairs of hex digits")),
        _ => Err(Rejected::UnknownParamType {
            name: param.name.clone(),
            type_name: param.type_name.clone(),
        }),
    }
}

/// `\x0aff` as its bytes.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("\\x")?.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// `after` as a value that compares with the key's values in SQLite's order: a number for
/// a column of numeric affinity (refused when it is not one), text for a text column, and
/// for a column of no affinity (an expression) a number when it reads as one.
fn after_value(key: &str, affinity: Affinity, after: &str) -> Result<SqlValue, Rejected> {
    let number = || {
        after
            .parse::<i64>()
            .map(SqlValue::Integer)
            .ok()
            .or_else(|| {
                after
                    .parse::<f64>()
                    .ok()
                    .filter(|n| !n.is_nan())
                    .map(SqlValue::Real)
            })
    };
    match affinity {
        Affinity::Text => Ok(SqlValue::Text(after.to_owned())),
        Affinity::Integer | Affinity::Real | Affinity::Numeric => {
            number().ok_or_else(|| Rejected::InvalidAfter {
                key: key.to_owned(),
                value: after.to_owned(),
                message: "the key column holds numbers".into(),
            })
        }
        Affinity::Blob => Ok(number().unwrap_or_else(|| SqlValue::Text(after.to_owned()))),
    }
}

/// A SQLite error before or during the rows, in one line.
pub(super) fn failed(rows: u64, error: &rusqlite::Error) -> SourceError {
    SourceError::Broken {
        rows,
        reason: format!("SQLite: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_follows_sqlites_rules() {
        assert_eq!(Affinity::of(Some("BIGINT")), Affinity::Integer);
        assert_eq!(Affinity::of(Some("varchar(10)")), Affinity::Text);
        assert_eq!(Affinity::of(Some("BLOB")), Affinity::Blob);
        assert_eq!(Affinity::of(None), Affinity::Blob);
        assert_eq!(Affinity::of(Some("DOUBLE PRECISION")), Affinity::Real);
        assert_eq!(Affinity::of(Some("DECIMAL(10,2)")), Affinity::Numeric);
        // "INT" wins over "CHAR", as in SQLite.
        assert_eq!(Affinity::of(Some("CHARINT")), Affinity::Integer);
    }

    #[test]
    fn blob_parameters_are_hex() {
        assert_eq!(parse_hex("\\x00ff"), Some(vec![0, 255]));
        assert_eq!(parse_hex("\\x"), Some(vec![]));
        assert_eq!(parse_hex("00ff"), None);
        assert_eq!(parse_hex("\\x0"), None);
        assert_eq!(parse_hex("\\xzz"), None);
    }
}
