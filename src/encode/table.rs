//! The tabular formats, row by row: `csv` (with its options and Excel mode) and `tsv`.
//!
//! Both write each field's PostgreSQL text (see `field_text`) through their format's
//! field writer; they differ only in how a field is quoted or escaped and what NULL is.

use super::csv::{CsvOptions, CsvOptionsError, CsvWriter};
use super::{FieldError, RowEncoder, field_text, text};
use crate::schema::{Category, ColumnForm, Schema};
use crate::value::Value;

/// Which CSV values are quoted whatever their content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvQuoting {
    /// Only where needed, as PostgreSQL does.
    #[default]
    Minimal,
    /// Every non-NULL value.
    All,
    /// Every non-NULL value of a column whose type is not a number (decided by the type,
    /// never by the text).
    NonNumeric,
}

impl CsvQuoting {
    /// The option's value that asks for it (`quote=...`).
    pub fn name(self) -> &'static str {
        match self {
            CsvQuoting::Minimal => "minimal",
            CsvQuoting::All => "all",
            CsvQuoting::NonNumeric => "nonnumeric",
        }
    }
}

/// Everything that shapes a CSV download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSettings {
    /// Delimiter, quote, escape and NULL string.
    pub options: CsvOptions,
    pub quoting: CsvQuoting,
    /// Write the column names as the first line.
    pub header: bool,
    /// Excel mode: a UTF-8 byte-order mark, CRLF line ends, and text cells that Excel would
    /// run as a formula prefixed with `'`.
    pub excel: bool,
}

impl Default for CsvSettings {
    fn default() -> Self {
        Self {
            options: CsvOptions::default(),
            quoting: CsvQuoting::Minimal,
            header: true,
            excel: false,
        }
    }
}

/// Excel's rows per sheet; a longer CSV is cut off when opened.
pub const EXCEL_MAX_ROWS: u64 = 1_048_576;

/// The UTF-8 byte-order mark, which makes Excel read a CSV file as UTF-8.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// First characters that make Excel (and other spreadsheets) treat a cell as a formula.
fn starts_formula(value: &[u8]) -> bool {
    matches!(
        value.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// `value`, or `'value` in `guarded` when a spreadsheet would take it for a formula.
fn guard_formula<'a>(value: &'a [u8], guarded: &'a mut Vec<u8>) -> &'a [u8] {
    if !starts_formula(value) {
        return value;
    }
    guarded.clear();
    guarded.push(b'\'');
    guarded.extend_from_slice(value);
    guarded
}

/// How one CSV column's values are written.
#[derive(Debug, Clone, Copy)]
enum FieldWriting {
    /// Formatted straight into the output, without a scan: the text can never need quotes
    /// (most numbers, dates and times, with the usual options).
    Direct,
    /// Formatted, prefixed if it looks like a formula (Excel mode: every value of a text
    /// column, or `text_guarded`, the text values of a column that may mix them with
    /// numbers), then quoted where needed, or always when `forced`.
    Checked {
        forced: bool,
        formula_guarded: bool,
        text_guarded: bool,
    },
}

/// Rows as PostgreSQL's `COPY ... (FORMAT csv, HEADER)` writes them, or as chosen by
/// [`CsvSettings`].
#[derive(Debug)]
pub struct CsvEncoder {
    schema: Schema,
    writer: CsvWriter,
    header: bool,
    line_end: &'static [u8],
    /// Excel mode: a byte-order mark first, and formula-like header names guarded too.
    excel: bool,
    /// How each column's values are written.
    fields: Vec<FieldWriting>,
    /// Excel mode: sheet rows written so far (the header's included), to warn once when
    /// the result passes the sheet limit.
    sheet_rows: Option<u64>,
    scratch: Vec<u8>,
    guarded: Vec<u8>,
}

impl CsvEncoder {
    pub fn new(schema: Schema, settings: &CsvSettings) -> Result<Self, CsvOptionsError> {
        let writer = CsvWriter::new(&settings.options, schema.columns.len())?;
        let plain_ascii = |byte: u8| byte.is_ascii_alphanumeric() || b" +-.:\\".contains(&byte);
        let options = &settings.options;
        let safe_options = options.null.is_empty()
            && !plain_ascii(options.delimiter)
            && !plain_ascii(options.quote);
        let fields = schema
            .columns
            .iter()
            .map(|column| {
                let forced = match settings.quoting {
                    CsvQuoting::Minimal => false,
                    CsvQuoting::All => true,
                    CsvQuoting::NonNumeric => column.category != Category::Number,
                };
                let formula_guarded = settings.excel && column.category == Category::Other;
                // A column of numbers by its type whose values are text-like in form (a
                // SQLite column, which may hold text in any row): its text values are
                // guarded, its numbers are not.
                let text_guarded = settings.excel
                    && !formula_guarded
                    && matches!(column.form, ColumnForm::Native(native) if native.is_plain_text());
                match column.form {
                    ColumnForm::Native(native)
                        if safe_options
                            && !forced
                            && !formula_guarded
                            && native.writes_plain_ascii() =>
                    {
                        FieldWriting::Direct
                    }
                    _ => FieldWriting::Checked {
                        forced,
                        formula_guarded,
                        text_guarded,
                    },
                }
            })
            .collect();
        Ok(Self {
            schema,
            writer,
            header: settings.header,
            line_end: if settings.excel { b"\r\n" } else { b"\n" },
            excel: settings.excel,
            fields,
            sheet_rows: settings.excel.then_some(u64::from(settings.header)),
            scratch: Vec::new(),
            guarded: Vec::new(),
        })
    }
}

impl RowEncoder for CsvEncoder {
    fn begin(&mut self, out: &mut Vec<u8>) {
        if self.excel {
            out.extend_from_slice(BOM);
        }
        if self.header {
            // Excel reads a header cell like any other: a column named `=1+2` would be a
            // live formula.
            for (index, name) in self.schema.names().enumerate() {
                if index > 0 {
                    self.writer.write_separator(out);
                }
                let mut name = name.as_bytes();
                if self.excel {
                    name = guard_formula(name, &mut self.guarded);
                }
                self.writer.write_field_forced(out, Some(name), false);
            }
            out.extend_from_slice(self.line_end);
        }
    }

    fn row(&mut self, row: &[Value<'_>], out: &mut Vec<u8>) -> Result<(), FieldError> {
        let fields = row.iter().zip(&self.fields).zip(&self.schema.columns);
        for (index, ((value, writing), column)) in fields.enumerate() {
            if index > 0 {
                self.writer.write_separator(out);
            }
            if let Value::Null = value {
                self.writer.write_field(out, None);
                continue;
            }
            let (forced, formula_guarded) = match *writing {
                FieldWriting::Direct => {
                    value
                        .write_text(&self.schema.session, out)
                        .map_err(|error| FieldError::new(column, error))?;
                    continue;
                }
                FieldWriting::Checked {
                    forced,
                    formula_guarded,
                    text_guarded,
                } => (
                    forced,
                    formula_guarded || (text_guarded && matches!(value, Value::Text(_))),
                ),
            };
            let mut value = field_text(&self.schema, column, value, &mut self.scratch)?;
            if formula_guarded {
                value = guard_formula(value, &mut self.guarded);
            }
            self.writer.write_field_forced(out, Some(value), forced);
        }
        out.extend_from_slice(self.line_end);
        if let Some(rows) = &mut self.sheet_rows {
            *rows += 1;
            if *rows == EXCEL_MAX_ROWS + 1 {
                tracing::warn!(
                    "the result passes {EXCEL_MAX_ROWS} rows, the most Excel shows in one sheet; \
                     rows after that are cut off when the file is opened in Excel"
                );
            }
        }
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<u8>) {}
}

/// Rows as PostgreSQL's `COPY ... (FORMAT text, HEADER)` writes them: tab-separated, `\N`
/// for NULL, backslash escapes.
#[derive(Debug)]
pub struct TsvEncoder {
    schema: Schema,
    header: bool,
    scratch: Vec<u8>,
}

impl TsvEncoder {
    pub fn new(schema: Schema, header: bool) -> Self {
        Self {
            schema,
            header,
            scratch: Vec::new(),
        }
    }
}

impl RowEncoder for TsvEncoder {
    fn begin(&mut self, out: &mut Vec<u8>) {
        if self.header {
            for (index, name) in self.schema.names().enumerate() {
                if index > 0 {
                    out.push(b'\t');
                }
                text::write_field(name.as_bytes(), out);
            }
            out.push(b'\n');
        }
    }

    fn row(&mut self, row: &[Value<'_>], out: &mut Vec<u8>) -> Result<(), FieldError> {
        for (index, (value, column)) in row.iter().zip(&self.schema.columns).enumerate() {
            if index > 0 {
                out.push(b'\t');
            }
            match value {
                Value::Null => out.extend_from_slice(text::NULL),
                value => text::write_field(
                    field_text(&self.schema, column, value, &mut self.scratch)?,
                    out,
                ),
            }
        }
        out.push(b'\n');
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<u8>) {}
}
