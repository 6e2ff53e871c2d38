//! The typed PostgreSQL source: the query's rows in binary COPY format, plus the
//! [`Schema`] that says how to format each column.
//!
//! Before the rows start, inside the export's transaction, the source
//!
//! 1. reads the session settings that change how values are written (`DateStyle`,
//!    `IntervalStyle`, `extra_float_digits`, `bytea_output`, `TimeZone`);
//! 2. checks each bound parameter against its declared type, so a bad value is an error
//!    that names the parameter;
//! 3. describes the query (a prepared statement, never executed) for its column names and
//!    types, and checks a requested column selection against them;
//! 4. decides per column whether rowpipe formats it (a native type under settings rowpipe
//!    reproduces) or the server does, and wraps the query when needed:
//!    `SELECT q.c1, <c2 formatted by the server> FROM (<query>) AS q(c1, c2, ...) [WHERE
//!    q.c<key> > $n] [ORDER BY q.c<key>] [LIMIT n]`. The aliases are generated, never user
//!    input, and make duplicate or odd column names harmless. Everything the wrapper calls
//!    is qualified with `pg_catalog`, out of reach of the role's `search_path`.
//!
//! An export with a key is always ordered by it, whatever the dataset's own query says,
//! and its keys are checked as they stream (see [`crate::stage::key_order`]): resuming
//! after the last key written is only right if every row before it came before it.
//!
//! Then it runs the query: through `COPY (...) TO STDOUT (FORMAT binary)` when nothing is
//! bound, or through the extended protocol (an unnamed portal, its rows streamed with
//! bounded back-pressure) when parameters are. A portal's data rows have exactly the layout
//! of binary COPY tuples, so they are handed on as binary COPY, and one decoder and one set
//! of encoders serve both routes. Binary values cost the server almost nothing to produce,
//! which moves the formatting work off the database's busy backend onto rowpipe's cores.

use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, RowStream};

use super::connect::Pool;
use super::copy::{
    CopyStream, Pieces, RowCount, Session, before_streaming, start_copy, strip_terminator,
};
use super::types;
use crate::export::{BoundParam, ExportQuery, Formatting};
use crate::progress::Progress;
use crate::schema::{Column, ColumnForm, KeyColumn, Schema};
use crate::source::{Rejected, RowOptions, SourceError, ValueForm, column_index, key_index};
use crate::value::datetime::Zone;
use crate::value::kind::SessionFormat;

/// Starts a typed export of `query`: returns its schema and the binary COPY pieces. The
/// stage that decodes the pieces counts the rows into `progress`.
///
/// Returns once the server has accepted the query, so a query that fails to plan, a bad
/// parameter or an unknown column is an `Err` here rather than a broken stream.
pub(super) async fn copy_binary(
    pool: &Pool,
    query: &ExportQuery,
    options: RowOptions,
    progress: Arc<Progress>,
) -> Result<(CopyStream, Schema), SourceError> {
    let RowOptions {
        form,
        formatting,
        statement_timeout,
    } = options;
    let sql = strip_terminator(&query.sql);
    let rows = RowCount::Downstream(progress);
    let session = Session {
        statement_timeout,
        role: query.role.as_deref(),
    };
    let (stream, plan) = start_copy(pool, session, rows, async |client| {
        let session = session_format(client).await?;
        let mut param_types = Vec::with_capacity(query.params.len());
        for param in &query.params {
            // A parameter without a declared type is the server's to infer from the query.
            if param.type_name.is_empty() {
                param_types.push(Type::UNKNOWN);
                continue;
            }
            match check_param(client, param).await? {
                Ok(ty) => param_types.push(ty),
                Err(reason) => return Ok((None, Err(reason))),
            }
        }
        let described = client.prepare_typed(sql, &param_types).await?;
        let plan = match Plan::new(query, described.columns(), session, form, formatting) {
            Ok(plan) => plan,
            Err(reason) => return Ok((None, Err(reason))),
        };
        let wrapped = plan.select(sql, query);
        let pieces: Pieces = if query.params.is_empty() && query.after.is_none() {
            let copy = format!("COPY ({wrapped}) TO STDOUT (FORMAT binary)");
            before_streaming(client, statement_timeout).await?;
            Box::pin(client.copy_out(copy.as_str()).await?)
        } else {
            let mut types = param_types;
            let after = query.after.as_ref().zip(plan.key.as_ref());
            types.extend(after.map(|(_, key)| key.ty.clone()));
            let statement = client.prepare_typed(&wrapped, &types).await?;
            let values: Vec<TextParam<'_>> = query
                .params
                .iter()
                .map(|param| TextParam(&param.value))
                .chain(after.map(|(value, _)| TextParam(value)))
                .collect();
            before_streaming(client, statement_timeout).await?;
            match client.query_raw(&statement, values).await {
                Ok(rows) => Box::pin(RowsAsCopy::new(rows)),
                Err(error) if is_data_exception(&error) => {
                    // The parameters were checked one by one, so it is the resume point.
                    let (Some((value, _)), Some(key)) = (after, &query.key) else {
                        return Err(error);
                    };
                    return Ok((
                        None,
                        Err(Rejected::InvalidAfter {
                            key: key.clone(),
                            value: value.clone(),
                            message: server_message(&error),
                        }),
                    ));
                }
                Err(error) => return Err(error),
            }
        };
        Ok((Some(pieces), Ok(plan.schema)))
    })
    .await?;
    match (stream, plan) {
        (Some(stream), Ok(schema)) => Ok((stream, schema)),
        (_, Err(reason)) => Err(SourceError::Rejected(reason)),
        (None, Ok(_)) => unreachable!("a query is started whenever the plan is accepted"),
    }
}

/// The settings of this session that change how values are written.
async fn session_format(client: &Client) -> Result<SessionFormat, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT pg_catalog.current_setting('DateStyle'), \
             pg_catalog.current_setting('IntervalStyle'), \
             pg_catalog.current_setting('extra_float_digits')::pg_catalog.int4, \
             pg_catalog.current_setting('bytea_output'), \
             pg_catalog.current_setting('TimeZone'), \
             pg_catalog.current_setting('server_version_num')::pg_catalog.int4",
            &[],
        )
        .await?;
    let date_style: &str = row.get(0);
    let interval_style: &str = row.get(1);
    let extra_float_digits: i32 = row.get(2);
    let bytea_output: &str = row.get(3);
    let time_zone: &str = row.get(4);
    let version: i32 = row.get(5);
    Ok(SessionFormat {
        iso_dates: date_style.starts_with("ISO"),
        // PostgreSQL 17 gave intervals infinities, written as `infinity`; rowpipe writes
        // intervals as 15 and 16 do, so on 17 and later the server formats them.
        postgres_intervals: interval_style == "postgres" && version < 170000,
        shortest_floats: extra_float_digits > 0,
        hex_bytea: bytea_output == "hex",
        zone: Zone::from_setting(time_zone),
    })
}

/// Resolves a parameter's declared type and checks that its value parses as one, each
/// with the value bound, never spliced into SQL.
async fn check_param(
    client: &Client,
    param: &BoundParam,
) -> Result<Result<Type, Rejected>, tokio_postgres::Error> {
    let resolved = client
        .query_opt(
            "SELECT t.oid, t.typname::pg_catalog.text, n.nspname::pg_catalog.text \
             FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n \
             ON n.oid OPERATOR(pg_catalog.=) t.typnamespace \
             WHERE t.oid OPERATOR(pg_catalog.=) pg_catalog.to_regtype($1)",
            &[&param.type_name],
        )
        .await?;
    let Some(row) = resolved else {
        return Ok(Err(Rejected::UnknownParamType {
            name: param.name.clone(),
            type_name: param.type_name.clone(),
        }));
    };
    let oid: u32 = row.get(0);
    let ty =
        Type::from_oid(oid).unwrap_or_else(|| Type::new(row.get(1), oid, Kind::Simple, row.get(2)));
    let probe = client
        .prepare_typed("SELECT $1", std::slice::from_ref(&ty))
        .await?;
    match client.query_one(&probe, &[&TextParam(&param.value)]).await {
        Ok(_) => Ok(Ok(ty)),
        Err(error) if is_data_exception(&error) => Ok(Err(Rejected::InvalidParam {
            name: param.name.clone(),
            value: param.value.clone(),
            type_name: param.type_name.clone(),
            message: server_message(&error),
        })),
        Err(error) => Err(error),
    }
}

/// SQLSTATE class 22: the value does not fit the type.
fn is_data_exception(error: &tokio_postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| code.code().starts_with("22"))
}

fn server_message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |db| db.message().to_owned())
}

/// What the source decided about the columns.
struct Plan {
    schema: Schema,
    /// Indexes (from 0) of the described columns to select, in output order.
    selected: Vec<usize>,
    /// Every described column's count, for the alias list.
    described: usize,
    /// The key column, when the export has one.
    key: Option<KeyPlan>,
}

/// Where the key column is in the described result, and its type, for `ORDER BY` and
/// `after`.
struct KeyPlan {
    described: usize,
    ty: Type,
}

impl Plan {
    fn new(
        query: &ExportQuery,
        described: &[tokio_postgres::Column],
        session: SessionFormat,
        form: ValueForm,
        formatting: Formatting,
    ) -> Result<Plan, Rejected> {
        if query.after.is_some() && query.key.is_none() {
            return Err(Rejected::AfterWithoutKey);
        }
        let names: Vec<String> = described.iter().map(|c| c.name().to_owned()).collect();
        let find = |given: &str| column_index(&names, given);
        let selected: Vec<usize> = match &query.columns {
            Some(columns) => columns
                .iter()
                .map(|given| find(given))
                .collect::<Result<_, _>>()?,
            None => (0..described.len()).collect(),
        };
        let key = query
            .key
            .as_deref()
            .map(|key| key_index(&names, key))
            .transpose()?;
        let json = form == ValueForm::Json;
        let column = |index: usize| {
            let column = &described[index];
            let native = types::native_type(column.type_())
                .filter(|_| formatting == Formatting::Native)
                .filter(|native| session.supports(native.kind, json));
            Column {
                name: column.name().to_owned(),
                form: match (native, form) {
                    (Some(native), _) => ColumnForm::Native(native),
                    (None, ValueForm::Text) => ColumnForm::ServerText,
                    (None, ValueForm::Json) => ColumnForm::ServerJson,
                },
                category: types::category(column.type_()),
            }
        };
        let columns: Vec<Column> = selected.iter().map(|&index| column(index)).collect();
        let key_column = key.map(|index| match selected.iter().position(|&s| s == index) {
            Some(field) => KeyColumn {
                field,
                column: columns[field].clone(),
            },
            None => KeyColumn {
                field: columns.len(),
                column: column(index),
            },
        });
        Ok(Plan {
            key: key.map(|index| KeyPlan {
                described: index,
                ty: described[index].type_().clone(),
            }),
            schema: Schema {
                columns,
                session,
                key: key_column,
            },
            selected,
            described: described.len(),
        })
    }

    /// The statement that returns exactly the planned columns (and a hidden key after
    /// them), in key order when there is a key: the query itself when it already does,
    /// else the query wrapped.
    ///
    /// Every function and operator the wrapper adds is qualified with `pg_catalog`, so a
    /// function or operator of the same name in a schema on the role's `search_path`
    /// cannot stand in for it.
    fn select(&self, sql: &str, query: &ExportQuery) -> String {
        let all_native = self
            .schema
            .columns
            .iter()
            .all(|column| matches!(column.form, ColumnForm::Native(_)));
        let identity = self.selected.iter().copied().eq(0..self.described);
        if all_native && identity && query.limit.is_none() && self.key.is_none() {
            return format!("\n{sql}\n");
        }
        let mut select_list: Vec<String> = self
            .selected
            .iter()
            .zip(&self.schema.columns)
            .map(|(&index, column)| server_formatted(index + 1, column.form))
            .collect();
        // A key that is not among the selected columns is selected after them, for the
        // order check alone.
        if let Some(key) = self
            .key
            .as_ref()
            .filter(|key| !self.selected.contains(&key.described))
        {
            let column = &self
                .schema
                .key
                .as_ref()
                .expect("planned with the key")
                .column;
            select_list.push(server_formatted(key.described + 1, column.form));
        }
        let aliases = (1..=self.described)
            .map(|alias| format!("c{alias}"))
            .collect::<Vec<_>>()
            .join(", ");
        let from = if self.described == 0 {
            format!("(\n{sql}\n) AS q")
        } else {
            format!("(\n{sql}\n) AS q({aliases})")
        };
        let mut select = format!("SELECT {} FROM {from}", select_list.join(", "));
        if let Some(key) = &self.key {
            let alias = key.described + 1;
            if query.after.is_some() {
                let placeholder = query.params.len() + 1;
                select.push_str(&format!(
                    " WHERE q.c{alias} OPERATOR(pg_catalog.>) ${placeholder}"
                ));
            }
            select.push_str(&format!(" ORDER BY q.c{alias}"));
        }
        if let Some(limit) = query.limit {
            select.push_str(&format!(" LIMIT {limit}"));
        }
        select
    }
}

/// The select-list entry for column `q.c<alias>` in `form`.
fn server_formatted(alias: usize, form: ColumnForm) -> String {
    match form {
        ColumnForm::Native(_) => format!("q.c{alias}"),
        // Not `::text`: a type's cast to text may differ from its output function (inet's
        // shows the netmask). `format` calls the output function; `num_nulls` tells a NULL
        // from a row of NULLs.
        ColumnForm::ServerText => format!(
            "CASE WHEN pg_catalog.num_nulls(q.c{alias}) OPERATOR(pg_catalog.=) 0 \
             THEN pg_catalog.format('%s', q.c{alias}) END"
        ),
        ColumnForm::ServerJson => format!("pg_catalog.to_json(q.c{alias})"),
    }
}

/// A parameter sent as text, for the server to parse with its type's input function:
/// exactly what a value typed into psql would mean.
#[derive(Debug)]
struct TextParam<'a>(&'a str);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> tokio_postgres::types::Format {
        tokio_postgres::types::Format::Text
    }

    to_sql_checked!();
}

/// Any column's binary value, borrowed from its row.
struct RawValue<'a>(&'a [u8]);

impl<'a> FromSql<'a> for RawValue<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(RawValue(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The binary COPY header: signature, no flags, no extension.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// A portal's rows as binary COPY: the header, then one tuple per row (field count, then
/// each field's length, -1 for NULL, and bytes: a data row's very layout), then the
/// trailer. Rows that have already arrived are gathered into pieces of up to
/// [`BATCH_BYTES`]; a row is still read only when asked for, so the portal keeps its
/// back-pressure.
struct RowsAsCopy {
    rows: Pin<Box<RowStream>>,
    batch: BytesMut,
    started: bool,
    ended: bool,
}

/// About how many bytes of rows one piece gathers.
const BATCH_BYTES: usize = 64 * 1024;

impl RowsAsCopy {
    fn new(rows: RowStream) -> Self {
        let mut batch = BytesMut::with_capacity(BATCH_BYTES);
        batch.put_slice(COPY_HEADER);
        Self {
            rows: Box::pin(rows),
            batch,
            started: false,
            ended: false,
        }
    }

    fn push_row(&mut self, row: &tokio_postgres::Row) {
        self.started = true;
        // A result has at most 1664 columns, so the count fits.
        self.batch.put_i16(row.len() as i16);
        for index in 0..row.len() {
            match row.get::<_, Option<RawValue<'_>>>(index) {
                None => self.batch.put_i32(-1),
                Some(RawValue(raw)) => {
                    // A field is at most 1 GB, so its length fits.
                    self.batch.put_i32(raw.len() as i32);
                    self.batch.put_slice(raw);
                }
            }
        }
    }

    fn take_batch(&mut self) -> Bytes {
        let capacity = BATCH_BYTES.max(self.batch.len());
        std::mem::replace(&mut self.batch, BytesMut::with_capacity(capacity)).freeze()
    }
}

impl Stream for RowsAsCopy {
    type Item = Result<Bytes, tokio_postgres::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        while this.batch.len() < BATCH_BYTES {
            match this.rows.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(row))) => this.push_row(&row),
                Poll::Ready(Some(Err(error))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    this.batch.put_i16(-1);
                    return Poll::Ready(Some(Ok(this.take_batch())));
                }
                Poll::Pending if this.started && !this.batch.is_empty() => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Some(Ok(this.take_batch())))
    }
}
