//! A source whose tables are held in memory: for testing everything above the source seam
//! (statuses, limits, disconnects, failures mid-stream, resume) without a database, beside
//! the tests against a real PostgreSQL; and for programs whose rows are already at hand.
//!
//! A table is named by the SQL of the exports that read it: a dataset `sql = "orders"`
//! reads the table `orders`. Its rows go through the same seam as a database's: each row
//! is a piece of bytes, and [`MemoryRows`] lends its values out of the piece, so the encode
//! stage, the key check and everything after them run exactly as they do for PostgreSQL.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, stream};

use super::{
    ColumnInfo, ParamKind, PoolStatus, Rejected, RowDecoder, RowError, RowOptions, Source,
    SourceError, SourceRows, TableInfo, column_index, key_index,
};
use crate::export::ExportQuery;
use crate::progress::Progress;
use crate::schema::{Category, Column, ColumnForm, KeyColumn, Schema};
use crate::table_name::TableName;
use crate::value::Value;
use crate::value::datetime::Zone;
use crate::value::kind::{NativeType, SessionFormat, ValueKind};

/// One value of a table held in memory.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// A column of a table held in memory: its name and the kind of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Bool,
    Int,
    Float,
    Text,
}

/// A table: columns, rows, and optionally a failure after some rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: Vec<(String, CellKind)>,
    rows: Vec<Vec<Cell>>,
    fail_after: Option<u64>,
}

impl Table {
    /// A table of these columns, with no rows yet.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = (S, CellKind)>) -> Self {
        Self {
            columns: columns
                .into_iter()
                .map(|(name, kind)| (name.into(), kind))
                .collect(),
            ..Self::default()
        }
    }

    /// Adds a row (a cell per column).
    pub fn row(mut self, cells: impl IntoIterator<Item = Cell>) -> Self {
        self.rows.push(cells.into_iter().collect());
        self
    }

    /// Adds rows.
    pub fn rows(mut self, rows: impl IntoIterator<Item = Vec<Cell>>) -> Self {
        self.rows.extend(rows);
        self
    }

    /// Makes every export of the table break after `rows` rows, as a query does whose
    /// connection is lost.
    pub fn failing_after(mut self, rows: u64) -> Self {
        self.fail_after = Some(rows);
        self
    }
}

/// Tables held in memory; see the [module documentation](self).
#[derive(Debug, Default)]
pub struct Memory {
    tables: HashMap<String, Table>,
    /// Exports whose stream was dropped before its end (a client that went away).
    abandoned: Arc<AtomicU64>,
}

impl Memory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `table` as `name`.
    pub fn table(mut self, name: impl Into<String>, table: Table) -> Self {
        self.tables.insert(name.into(), table);
        self
    }

    /// How many exports were dropped before their end: what a database would have
    /// cancelled.
    pub fn abandoned(&self) -> u64 {
        self.abandoned.load(Ordering::SeqCst)
    }

    fn find(&self, sql: &str) -> Result<&Table, SourceError> {
        self.tables
            .get(sql.trim())
            .ok_or_else(|| SourceError::Broken {
                rows: 0,
                reason: format!("no table {:?} in memory", sql.trim()),
            })
    }
}

impl Source for Memory {
    fn rows<'a>(
        &'a self,
        query: &'a ExportQuery,
        _options: RowOptions,
        progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<SourceRows, SourceError>> {
        Box::pin(async move {
            let _ = progress;
            let table = self.find(&query.sql)?;
            let plan = Plan::new(table, query)?;
            let mut pieces: Vec<Result<Bytes, SourceError>> = plan
                .rows
                .iter()
                .map(|row| Ok(encode_row(row, &plan.fields)))
                .collect();
            if let Some(after) = table.fail_after {
                pieces.truncate(usize::try_from(after).unwrap_or(usize::MAX));
                pieces.push(Err(SourceError::Broken {
                    rows: after,
                    reason: "the table's stream breaks here".into(),
                }));
            }
            let guard = Abandoned {
                count: self.abandoned.clone(),
                finished: false,
            };
            Ok(SourceRows {
                decoder: Box::new(MemoryRows::new(plan.fields.clone())),
                schema: plan.schema,
                pieces: Box::new(guarded(stream::iter(pieces), guard)),
            })
        })
    }

    fn describe<'a>(
        &'a self,
        sql: &'a str,
        _params: usize,
    ) -> BoxFuture<'a, Result<Vec<ColumnInfo>, SourceError>> {
        Box::pin(async move {
            Ok(self
                .find(sql)?
                .columns
                .iter()
                .map(|(name, kind)| ColumnInfo {
                    name: name.clone(),
                    type_name: type_name(*kind).to_owned(),
                })
                .collect())
        })
    }

    fn tables<'a>(
        &'a self,
        _schemas: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<TableInfo>, SourceError>> {
        Box::pin(async move {
            let mut tables: Vec<TableInfo> = self
                .tables
                .keys()
                .map(|name| TableInfo {
                    schema: "public".into(),
                    name: name.clone(),
                    key: None,
                })
                .collect();
            tables.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(tables)
        })
    }

    fn primary_key<'a>(
        &'a self,
        _table: &'a TableName,
    ) -> BoxFuture<'a, Result<Option<String>, SourceError>> {
        Box::pin(async { Ok(None) })
    }

    fn estimate_rows<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Option<f64>> {
        Box::pin(async move { Some(self.find(sql).ok()?.rows.len() as f64) })
    }

    fn ping(&self, _within: Duration) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async { Ok(()) })
    }

    fn pools(&self) -> Vec<PoolStatus> {
        Vec::new()
    }

    /// Parameters are not bound here: any text.
    fn param_kind(&self, _type_name: &str) -> ParamKind {
        ParamKind::Text
    }
}

fn type_name(kind: CellKind) -> &'static str {
    match kind {
        CellKind::Bool => "boolean",
        CellKind::Int => "bigint",
        CellKind::Float => "double precision",
        CellKind::Text => "text",
    }
}

fn value_kind(kind: CellKind) -> ValueKind {
    match kind {
        CellKind::Bool => ValueKind::Bool,
        CellKind::Int => ValueKind::Int8,
        CellKind::Float => ValueKind::Float8,
        CellKind::Text => ValueKind::Text,
    }
}

/// One export of a table: the rows it reads, the fields of each, and its schema.
struct Plan<'t> {
    rows: Vec<&'t [Cell]>,
    /// Which cells of a table row each field takes, and its kind.
    fields: Vec<(usize, CellKind)>,
    schema: Schema,
}

impl<'t> Plan<'t> {
    fn new(table: &'t Table, query: &ExportQuery) -> Result<Self, SourceError> {
        let names: Vec<String> = table.columns.iter().map(|(name, _)| name.clone()).collect();
        let find = |given: &str| column_index(&names, given);
        let mut fields: Vec<usize> = match &query.columns {
            Some(columns) => columns
                .iter()
                .map(|given| find(given))
                .collect::<Result<_, _>>()?,
            None => (0..names.len()).collect(),
        };
        let column = |index: usize| {
            let (name, kind) = &table.columns[index];
            let kind = value_kind(*kind);
            Column {
                name: name.clone(),
                form: ColumnForm::Native(NativeType { kind, array: false }),
                category: match kind {
                    _ if kind.is_numeric() => Category::Number,
                    _ => Category::Other,
                },
            }
        };
        let columns: Vec<Column> = fields.iter().map(|&index| column(index)).collect();
        let mut rows: Vec<&[Cell]> = table.rows.iter().map(Vec::as_slice).collect();
        let key = match &query.key {
            Some(key) => {
                let index = key_index(&names, key)?;
                // The rows in key order, as a database's ORDER BY gives them.
                rows.sort_by(|a, b| cell_order(&a[index], &b[index]));
                if let Some(after) = &query.after {
                    rows.retain(|row| is_after(&row[index], after));
                }
                let field = match fields.iter().position(|&field| field == index) {
                    Some(field) => field,
                    None => {
                        fields.push(index);
                        fields.len() - 1
                    }
                };
                Some(KeyColumn {
                    field,
                    column: column(index),
                })
            }
            None if query.after.is_some() => return Err(Rejected::AfterWithoutKey.into()),
            None => None,
        };
        if let Some(limit) = query.limit {
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(Self {
            rows,
            fields: fields
                .into_iter()
                .map(|index| (index, table.columns[index].1))
                .collect(),
            schema: Schema {
                columns,
                session: SessionFormat::defaults(Some(Zone::utc())),
                key,
            },
        })
    }
}

fn cell_order(a: &Cell, b: &Cell) -> std::cmp::Ordering {
    match (a, b) {
        (Cell::Int(a), Cell::Int(b)) => a.cmp(b),
        (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
        (Cell::Float(a), Cell::Float(b)) => a.total_cmp(b),
        (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
        (Cell::Null, Cell::Null) => std::cmp::Ordering::Equal,
        // NULLs last, as PostgreSQL sorts them.
        (Cell::Null, _) => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Less,
    }
}

fn is_after(cell: &Cell, after: &str) -> bool {
    match cell {
        Cell::Int(value) => after.parse::<i64>().is_ok_and(|after| *value > after),
        Cell::Text(value) => value.as_str() > after,
        Cell::Float(value) => after.parse::<f64>().is_ok_and(|after| *value > after),
        Cell::Bool(value) => after.parse::<bool>().is_ok_and(|after| *value & !after),
        Cell::Null => false,
    }
}

// One row per piece: per field a tag, then its bytes (8 for numbers, 1 for a bool, a
// length and the bytes for text).
const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 3;
const TEXT: u8 = 4;

fn encode_row(row: &[Cell], fields: &[(usize, CellKind)]) -> Bytes {
    let mut piece = BytesMut::new();
    for &(index, _) in fields {
        match row.get(index).unwrap_or(&Cell::Null) {
            Cell::Null => piece.put_u8(NULL),
            Cell::Bool(value) => {
                piece.put_u8(BOOL);
                piece.put_u8(u8::from(*value));
            }
            Cell::Int(value) => {
                piece.put_u8(INT);
                piece.put_i64(*value);
            }
            Cell::Float(value) => {
                piece.put_u8(FLOAT);
                piece.put_f64(*value);
            }
            Cell::Text(value) => {
                piece.put_u8(TEXT);
                piece.put_u32(u32::try_from(value.len()).expect("a text under 4 GiB"));
                piece.put_slice(value.as_bytes());
            }
        }
    }
    piece.freeze()
}

/// The in-memory rows' [`RowDecoder`]: one row per piece.
pub struct MemoryRows {
    fields: usize,
    pending: VecDeque<Bytes>,
    current: Bytes,
    rows: u64,
}

impl MemoryRows {
    fn new(fields: Vec<(usize, CellKind)>) -> Self {
        Self {
            fields: fields.len(),
            pending: VecDeque::new(),
            current: Bytes::new(),
            rows: 0,
        }
    }
}

impl RowDecoder for MemoryRows {
    fn push(&mut self, piece: Bytes) {
        self.pending.push_back(piece);
    }

    fn next_row<'a>(&'a mut self, values: &mut Vec<Value<'a>>) -> Result<Option<u64>, RowError> {
        let Some(piece) = self.pending.pop_front() else {
            return Ok(None);
        };
        self.current = piece;
        self.rows += 1;
        let malformed = || RowError::Malformed("a truncated in-memory row".into());
        let mut rest: &[u8] = &self.current;
        for _ in 0..self.fields {
            let (&tag, tail) = rest.split_first().ok_or_else(malformed)?;
            let (value, tail) = match tag {
                NULL => (Value::Null, tail),
                BOOL => {
                    let (&byte, tail) = tail.split_first().ok_or_else(malformed)?;
                    (Value::Bool(byte != 0), tail)
                }
                INT | FLOAT => {
                    let (bytes, tail) = tail.split_first_chunk::<8>().ok_or_else(malformed)?;
                    let value = match tag {
                        INT => Value::Int(i64::from_be_bytes(*bytes)),
                        _ => Value::Float8(f64::from_be_bytes(*bytes)),
                    };
                    (value, tail)
                }
                TEXT => {
                    let (length, tail) = tail.split_first_chunk::<4>().ok_or_else(malformed)?;
                    let length = u32::from_be_bytes(*length) as usize;
                    if tail.len() < length {
                        return Err(malformed());
                    }
                    let (text, tail) = tail.split_at(length);
                    (Value::Text(text), tail)
                }
                _ => return Err(malformed()),
            };
            values.push(value);
            rest = tail;
        }
        Ok(Some(self.rows))
    }

    fn finish(&mut self) -> Result<(), RowError> {
        Ok(())
    }
}

/// Counts an export as abandoned when its stream is dropped before its end.
struct Abandoned {
    count: Arc<AtomicU64>,
    finished: bool,
}

impl Abandoned {
    /// The export reached its end: not abandoned.
    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if !self.finished {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `pieces`, marking `guard` finished once they end.
fn guarded(
    pieces: impl futures_util::Stream<Item = Result<Bytes, SourceError>> + Send + Unpin + 'static,
    guard: Abandoned,
) -> impl futures_util::Stream<Item = Result<Bytes, SourceError>> + Send + Unpin + 'static {
    stream::unfold((pieces, guard), |(mut pieces, guard)| async move {
        match pieces.next().await {
            Some(item) => Some((item, (pieces, guard))),
            None => {
                guard.finish();
                None
            }
        }
    })
    .boxed()
}
