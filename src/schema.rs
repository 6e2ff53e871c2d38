//! The columns of an export's result as the encoders see them: a name, and who formats
//! the values, rowpipe itself or the server.
//!
//! The typed source decides this per column when it describes the query (see
//! [`crate::source::postgres::typed`]); the encoders only follow the decision. A column rowpipe does
//! not format natively arrives already formatted by the server, as text (its output function) for the
//! tabular formats or as JSON (`to_json`) for the JSON ones, so no type is ever refused.

use crate::value::kind::{NativeType, SessionFormat, ValueKind};

/// One output column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The name the query gives the column, for headers and JSON keys.
    pub name: String,
    pub form: ColumnForm,
    /// What kind of type the column has, whoever formats it.
    pub category: Category,
}

impl Column {
    /// Whether the column's JSON form can hold stored `json` text, with the line breaks it
    /// was written with: `json` values and arrays, and whatever the server formats (a
    /// composite may hold a `json` field).
    pub fn may_embed_json_text(&self) -> bool {
        match self.form {
            ColumnForm::Native(native) => native.kind == ValueKind::Json,
            ColumnForm::ServerJson => true,
            ColumnForm::ServerText => false,
        }
    }
}

/// The broad kind of a column's type, for choices that depend on it rather than on the
/// text: CSV's `quote=nonnumeric` and Excel's formula escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Integers, floats, numeric, money.
    Number,
    /// Dates, times, timestamps, intervals.
    DateTime,
    /// Everything else: strings, enums, json, composites, extension types, ...
    Other,
}

/// Who formats a column's values, and so what its [`Value`](crate::value::Value)s are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnForm {
    /// Values of the type, formatted by rowpipe.
    Native(NativeType),
    /// The server's text for the value, from the type's output function: a
    /// [`Value::Text`](crate::value::Value::Text).
    ServerText,
    /// The server's JSON for the value (`to_json`): a
    /// [`Value::Json`](crate::value::Value::Json).
    ServerJson,
}

/// Everything an encoder needs to know about a result before its first row.
#[derive(Debug, Clone)]
pub struct Schema {
    pub columns: Vec<Column>,
    /// The export session's output settings, for the native columns.
    pub session: SessionFormat,
    /// The column the export is ordered by, when it has a key.
    pub key: Option<KeyColumn>,
}

/// Where a row holds its key, and how the key is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    /// The key's field in each row: one of the output columns, or a field after them when
    /// the output does not include the key (the encoders write only `columns`).
    pub field: usize,
    pub column: Column,
}

impl Schema {
    /// How many fields each row has: the output columns, and the key after them when it is
    /// not one of them.
    pub fn fields(&self) -> usize {
        match &self.key {
            Some(key) => self.columns.len().max(key.field + 1),
            None => self.columns.len(),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|column| column.name.as_str())
    }
}
