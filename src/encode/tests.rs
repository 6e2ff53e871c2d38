//! Every row encoder on rows of values, with no database: the expected bytes are what
//! PostgreSQL 15 writes for the same values (`COPY ... (FORMAT csv | text, HEADER)` and
//! `row_to_json`), as the integration tests check against a real server.

use super::*;
use crate::schema::{Category, ColumnForm, Schema};
use crate::value::datetime::Zone;
use crate::value::kind::{NativeType, SessionFormat, ValueKind};
use crate::value::{Numeric, Value};

fn column(name: &str, kind: ValueKind) -> Column {
    let category = match kind {
        _ if kind.is_numeric() => Category::Number,
        ValueKind::Date
        | ValueKind::Time
        | ValueKind::TimeTz
        | ValueKind::Timestamp
        | ValueKind::Timestamptz
        | ValueKind::Interval => Category::DateTime,
        _ => Category::Other,
    };
    Column {
        name: name.to_owned(),
        form: ColumnForm::Native(NativeType { kind, array: false }),
        category,
    }
}

fn schema(columns: Vec<Column>) -> Schema {
    Schema {
        columns,
        session: SessionFormat::defaults(Zone::from_setting("Europe/Berlin")),
        key: None,
    }
}

/// A few columns of different kinds, and rows that exercise their edge cases.
fn mixed() -> (Schema, Vec<Vec<Value<'static>>>) {
    let schema = schema(vec![
        column("id", ValueKind::Int8),
        column("name", ValueKind::Text),
        column("price", ValueKind::Numeric),
        column("ratio", ValueKind::Float8),
        column("seen", ValueKind::Timestamptz),
        column("ok", ValueKind::Bool),
    ]);
    // 12.50: one digit of weight 0 (12), one of weight -1 (5000), two decimal places.
    let price = Numeric::from_binary(b"\x00\x02\x00\x00\x00\x00\x00\x02\x00\x0c\x13\x88");
    let rows = vec![
        vec![
            Value::Int(1),
            Value::Text(b"plain"),
            Value::Numeric(price),
            Value::Float8(0.1),
            // 2024-01-31 11:00:00 UTC, 12:00 in Berlin.
            Value::Timestamptz(760_014_000_000_000),
            Value::Bool(true),
        ],
        vec![
            Value::Int(-9_223_372_036_854_775_808),
            Value::Text(b"say \"hi\", then\nleave"),
            Value::Null,
            Value::Float8(f64::NAN),
            Value::Timestamptz(i64::MAX),
            Value::Bool(false),
        ],
        vec![
            Value::Int(3),
            Value::Text(b""),
            Value::Null,
            Value::Float8(-0.0),
            Value::Null,
            Value::Null,
        ],
    ];
    (schema, rows)
}

fn encoded(mut encoder: impl RowEncoder, rows: &[Vec<Value<'_>>]) -> String {
    let mut out = Vec::new();
    encoder.begin(&mut out);
    for row in rows {
        encoder.row(row, &mut out).unwrap();
    }
    encoder.end(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn csv_is_postgresqls_csv() {
    let (schema, rows) = mixed();
    let csv = CsvEncoder::new(schema, &CsvSettings::default()).unwrap();
    assert_eq!(
        encoded(csv, &rows),
        "id,name,price,ratio,seen,ok\n\
         1,plain,12.50,0.1,2024-01-31 12:00:00+01,t\n\
         -9223372036854775808,\"say \"\"hi\"\", then\nleave\",,NaN,infinity,f\n\
         3,\"\",,-0,,\n"
    );
}

#[test]
fn csv_options_quoting_and_excel() {
    let (mixed, rows) = mixed();
    let settings = CsvSettings {
        options: CsvOptions {
            delimiter: b';',
            null: "NULL".into(),
            ..CsvOptions::default()
        },
        quoting: CsvQuoting::NonNumeric,
        header: false,
        excel: false,
    };
    let csv = CsvEncoder::new(mixed, &settings).unwrap();
    assert_eq!(
        encoded(csv, &rows[2..]),
        "3;\"\";NULL;-0;NULL;NULL\n",
        "numbers bare, everything else quoted, NULL as the NULL string"
    );

    let formula = schema(vec![column("cell", ValueKind::Text)]);
    let excel = CsvSettings {
        excel: true,
        ..CsvSettings::default()
    };
    let csv = CsvEncoder::new(formula, &excel).unwrap();
    let rows = [vec![Value::Text(b"=1+2")], vec![Value::Text(b"safe")]];
    assert_eq!(encoded(csv, &rows), "\u{feff}cell\r\n'=1+2\r\nsafe\r\n");
}

#[test]
fn tsv_is_postgresqls_text_format() {
    let (schema, rows) = mixed();
    let tsv = TsvEncoder::new(schema, true);
    assert_eq!(
        encoded(tsv, &rows),
        "id\tname\tprice\tratio\tseen\tok\n\
         1\tplain\t12.50\t0.1\t2024-01-31 12:00:00+01\tt\n\
         -9223372036854775808\tsay \"hi\", then\\nleave\t\\N\tNaN\tinfinity\tf\n\
         3\t\t\\N\t-0\t\\N\t\\N\n"
    );
}

#[test]
fn jsonl_is_row_to_json() {
    let (schema, rows) = mixed();
    assert_eq!(
        encoded(JsonLinesEncoder::new(schema), &rows),
        "{\"id\":1,\"name\":\"plain\",\"price\":12.50,\"ratio\":0.1,\
         \"seen\":\"2024-01-31T12:00:00+01:00\",\"ok\":true}\n\
         {\"id\":-9223372036854775808,\"name\":\"say \\\"hi\\\", then\\nleave\",\
         \"price\":null,\"ratio\":\"NaN\",\"seen\":\"infinity\",\"ok\":false}\n\
         {\"id\":3,\"name\":\"\",\"price\":null,\"ratio\":-0,\"seen\":null,\"ok\":null}\n"
    );
}

#[test]
fn json_is_one_array_and_stays_valid_when_empty() {
    let (schema, rows) = mixed();
    let json = encoded(JsonArrayEncoder::new(schema.clone()), &rows[..2]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.as_array().map(Vec::len), Some(2));
    assert!(json.starts_with("[\n{\"id\":1,") && json.ends_with("}\n]\n"));
    assert_eq!(encoded(JsonArrayEncoder::new(schema), &[]), "[\n]\n");
}

#[test]
fn stored_json_is_embedded_on_one_line() {
    let schema = schema(vec![column("doc", ValueKind::Json)]);
    let rows = [vec![Value::Json(b"{\"a\":\n  [1,\r\n 2]}")]];
    assert_eq!(
        encoded(JsonLinesEncoder::new(schema.clone()), &rows),
        "{\"doc\":{\"a\":   [1,   2]}}\n"
    );
    let csv = CsvEncoder::new(schema, &CsvSettings::default()).unwrap();
    assert_eq!(
        encoded(csv, &rows),
        "doc\n\"{\"\"a\"\":\n  [1,\r\n 2]}\"\n",
        "CSV keeps the text as stored"
    );
}

#[test]
fn server_formatted_columns_are_copied() {
    let mut schema = schema(vec![column("addr", ValueKind::Text)]);
    schema.columns[0].form = ColumnForm::ServerText;
    let csv = CsvEncoder::new(schema.clone(), &CsvSettings::default()).unwrap();
    assert_eq!(
        encoded(csv, &[vec![Value::Text(b"10.0.0.1/8")]]),
        "addr\n10.0.0.1/8\n"
    );
    schema.columns[0].form = ColumnForm::ServerJson;
    assert_eq!(
        encoded(
            JsonLinesEncoder::new(schema),
            &[vec![Value::Json(b"\"10.0.0.1/8\"")]]
        ),
        "{\"addr\":\"10.0.0.1/8\"}\n"
    );
}

#[test]
fn a_value_out_of_its_range_names_its_column() {
    let schema = schema(vec![column("day", ValueKind::Date)]);
    let mut csv = CsvEncoder::new(schema, &CsvSettings::default()).unwrap();
    let error = csv
        .row(&[Value::Date(i32::MAX - 1)], &mut Vec::new())
        .unwrap_err();
    assert_eq!(error.column, "day");
    assert_eq!(error.error.type_name, "date");
}

#[test]
fn extra_values_after_the_columns_are_not_written() {
    // A keyed export may carry its key after the columns, for the key check only.
    let schema = schema(vec![column("name", ValueKind::Text)]);
    let row = [Value::Text(b"a"), Value::Int(7)];
    let csv = CsvEncoder::new(schema.clone(), &CsvSettings::default()).unwrap();
    assert_eq!(encoded(csv, &[row.to_vec()]), "name\na\n");
    assert_eq!(
        encoded(JsonLinesEncoder::new(schema), &[row.to_vec()]),
        "{\"name\":\"a\"}\n"
    );
}
