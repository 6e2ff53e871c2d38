//! Resuming a file export that broke: where its `FILE.part` ends cleanly, and after which
//! key value the rest begins.
//!
//! A resumable dataset has a key: a unique column its query is ordered by. The part file
//! holds the output of an unbroken run up to some byte, usually inside a row. The scan
//! finds the end of the last complete row and reads that row's key; the export then keeps
//! exactly those bytes and appends the rows `after` that key, without a header. With the
//! same data, the result is byte for byte the file an unbroken run writes.
//!
//! The scan reads the file once, front to back, in constant memory (it keeps only where
//! the header and the latest complete row lie, and reads those two rows again at the end):
//! a CSV row may hold quoted line breaks, so a row's end cannot be found by looking
//! backwards from the end of the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde_json::value::RawValue;

use crate::encode::CsvSettings;
use crate::format::Format;

/// Where to continue a part file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    /// Keep this many bytes of the part file: whole rows, the header included.
    pub keep: u64,
    /// Whether the kept bytes hold the header already (so none is written again).
    pub has_header: bool,
    /// The key of the last kept row: continue after it. `None`: no data row was kept, so
    /// continue from the first row.
    pub after: Option<String>,
    /// How many data rows are kept (the header not counted).
    pub rows: u64,
}

/// Why a part file cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: io::Error },
    #[error("--resume works with csv, tsv and jsonl, not {0}")]
    Format(Format),
    #[error("--resume needs the header line (header=true) to find the key column in {0} output")]
    NoHeader(Format),
    #[error("--resume does not work with --excel")]
    Excel,
    #[error("the key column {key:?} is not in the output; include it in --columns")]
    KeyNotInOutput { key: String },
    #[error("the last complete row of the part file has no value for the key column {key:?}")]
    NoKeyValue { key: String },
}

/// Finds where to continue the part file at `path`, written as `format` with `csv`
/// settings, whose rows are ordered by the column named `key`.
pub fn find_resume_point(
    path: &Path,
    format: Format,
    csv: &CsvSettings,
    key: &str,
) -> Result<ResumePoint, ResumeError> {
    let header = match format {
        Format::Csv | Format::Tsv if csv.excel => return Err(ResumeError::Excel),
        Format::Csv | Format::Tsv if !csv.header => return Err(ResumeError::NoHeader(format)),
        Format::Csv | Format::Tsv => true,
        Format::Jsonl => false,
        Format::Json => return Err(ResumeError::Format(format)),
    };
    let read_error = |error| ResumeError::Read {
        path: path.display().to_string(),
        error,
    };
    let file = File::open(path).map_err(read_error)?;
    let scan = scan_rows(BufReader::new(&file), format, csv.options.quote).map_err(read_error)?;
    let read_row = |row: &Row| row.read(&file).map_err(read_error);
    let fresh = ResumePoint {
        keep: 0,
        has_header: false,
        after: None,
        rows: 0,
    };
    let Some(first) = scan.first else {
        return Ok(fresh);
    };
    if !header {
        let Some(last) = scan.last else {
            return Ok(fresh);
        };
        let after = json_key(&read_row(&last)?, key).ok_or_else(|| ResumeError::NoKeyValue {
            key: key.to_owned(),
        })?;
        return Ok(ResumePoint {
            keep: last.end,
            has_header: false,
            after: Some(after),
            rows: scan.rows,
        });
    }
    let names = fields(&read_row(&first)?, format, csv);
    let index = names
        .iter()
        .position(|name| name.as_deref() == Some(key))
        .ok_or_else(|| ResumeError::KeyNotInOutput {
            key: key.to_owned(),
        })?;
    match scan.last.filter(|last| last.end > first.end) {
        None => Ok(ResumePoint {
            keep: first.end,
            has_header: true,
            after: None,
            rows: 0,
        }),
        Some(last) => {
            let value = fields(&read_row(&last)?, format, csv)
                .into_iter()
                .nth(index)
                .flatten()
                .ok_or_else(|| ResumeError::NoKeyValue {
                    key: key.to_owned(),
                })?;
            Ok(ResumePoint {
                keep: last.end,
                has_header: true,
                after: Some(value),
                rows: scan.rows - 1,
            })
        }
    }
}

/// Where a complete row lies: from `start` to `end`, just after its line end.
#[derive(Debug, Clone, Copy)]
struct Row {
    start: u64,
    end: u64,
}

impl Row {
    /// The row's bytes, without its line end.
    fn read(&self, file: &File) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; (self.end - self.start - 1) as usize];
        file.read_exact_at(&mut bytes, self.start)?;
        Ok(bytes)
    }
}

/// The first and the last complete row of a file.
#[derive(Debug, Default)]
struct Scan {
    first: Option<Row>,
    last: Option<Row>,
    /// Complete rows, the header's line included.
    rows: u64,
}

/// Reads rows to the end. A row ends at a line feed, except, in CSV, inside quotes.
fn scan_rows(mut reader: impl BufRead, format: Format, quote: u8) -> io::Result<Scan> {
    let csv = format == Format::Csv;
    let mut scan = Scan::default();
    let mut in_quotes = false;
    let mut start = 0u64;
    let mut offset = 0u64;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(scan);
        }
        let length = buffer.len();
        for &byte in buffer {
            offset += 1;
            if csv && byte == quote {
                // A doubled quote inside quotes toggles out and back in: no row ends there.
                in_quotes = !in_quotes;
            } else if byte == b'\n' && !in_quotes {
                let row = Row { start, end: offset };
                scan.first.get_or_insert(row);
                scan.last = Some(row);
                scan.rows += 1;
                start = offset;
            }
        }
        reader.consume(length);
    }
}

/// A row's fields as text, `None` for NULL.
fn fields(row: &[u8], format: Format, csv: &CsvSettings) -> Vec<Option<String>> {
    let row = String::from_utf8_lossy(row);
    match format {
        Format::Tsv => row.split('\t').map(unescape_text).collect(),
        _ => csv_fields(&row, csv),
    }
}

/// PostgreSQL's CSV: quoted fields with doubled quotes; an unquoted NULL string is NULL.
fn csv_fields(row: &str, csv: &CsvSettings) -> Vec<Option<String>> {
    let delimiter = char::from(csv.options.delimiter);
    let quote = char::from(csv.options.quote);
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut chars = row.chars().peekable();
    let mut finish = |field: &mut String, quoted: bool| {
        let text = std::mem::take(field);
        fields.push((quoted || text != csv.options.null).then_some(text));
    };
    while let Some(c) = chars.next() {
        match c {
            c if c == quote && in_quotes && chars.peek() == Some(&quote) => {
                chars.next();
                field.push(quote);
            }
            c if c == quote => {
                in_quotes = !in_quotes;
                quoted = true;
            }
            c if c == delimiter && !in_quotes => {
                finish(&mut field, quoted);
                quoted = false;
            }
            c => field.push(c),
        }
    }
    finish(&mut field, quoted);
    fields
}

/// PostgreSQL's text format: `\N` is NULL, backslash escapes.
fn unescape_text(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut text = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => text.push('\n'),
            Some('r') => text.push('\r'),
            Some('t') => text.push('\t'),
            Some('b') => text.push('\u{8}'),
            Some('f') => text.push('\u{c}'),
            Some('v') => text.push('\u{b}'),
            Some(other) => text.push(other),
            None => text.push('\\'),
        }
    }
    Some(text)
}

/// The key's value in a JSON Lines record, as text PostgreSQL's input function reads: a
/// string's content, or a number exactly as written.
fn json_key(line: &[u8], key: &str) -> Option<String> {
    let record: HashMap<String, Box<RawValue>> = serde_json::from_slice(line).ok()?;
    let raw = record.get(key)?.get();
    match raw {
        "null" => None,
        _ if raw.starts_with('"') => serde_json::from_str(raw).ok(),
        _ => Some(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(content: &[u8], format: Format, key: &str) -> Result<ResumePoint, ResumeError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.part");
        std::fs::write(&path, content).unwrap();
        find_resume_point(&path, format, &CsvSettings::default(), key)
    }

    #[test]
    fn csv_resumes_after_the_last_complete_row() {
        let content = b"note,id\n\"a,\n\"\"b\"\"\",1\nplain,2\n\"cut,\n";
        let found = point(content, Format::Csv, "id").unwrap();
        assert_eq!(
            &content[..found.keep as usize],
            b"note,id\n\"a,\n\"\"b\"\"\",1\nplain,2\n"
        );
        assert_eq!(found.after.as_deref(), Some("2"));
        assert!(found.has_header);
    }

    #[test]
    fn kept_rows_are_counted_whatever_their_line_breaks() {
        let found = point(b"id,v\n1,\"a\nb\"\n2,x\n3,", Format::Csv, "id").unwrap();
        assert_eq!((found.rows, found.after.as_deref()), (2, Some("2")));
        let jsonl = point(b"{\"id\":1}\n{\"id\":2}\n{\"id\"", Format::Jsonl, "id").unwrap();
        assert_eq!((jsonl.rows, jsonl.after.as_deref()), (2, Some("2")));
    }

    #[test]
    fn quoted_keys_are_unquoted() {
        let found = point(b"k,v\n\"x,\"\"y\"\"\",1\n", Format::Csv, "k").unwrap();
        assert_eq!(found.after.as_deref(), Some("x,\"y\""));
    }

    #[test]
    fn only_a_header_or_less_starts_over() {
        let header_only = point(b"id,v\n1,", Format::Csv, "id").unwrap();
        assert_eq!(
            header_only,
            ResumePoint {
                keep: 5,
                has_header: true,
                after: None,
                rows: 0,
            }
        );
        let nothing = point(b"id,", Format::Csv, "id").unwrap();
        assert_eq!(nothing.keep, 0);
        assert!(!nothing.has_header);
    }

    #[test]
    fn tsv_and_jsonl_keys() {
        let tsv = point(b"id\tv\nx\\ty\t1\n", Format::Tsv, "id").unwrap();
        assert_eq!(tsv.after.as_deref(), Some("x\ty"));
        let jsonl = point(
            b"{\"id\":12345678901234567890.5,\"s\":\"a\"}\n{\"id\":\"2024-01-01T00:00:00+00:00\"}\n{\"id\":",
            Format::Jsonl,
            "id",
        )
        .unwrap();
        assert_eq!(jsonl.after.as_deref(), Some("2024-01-01T00:00:00+00:00"));
        let number = point(b"{\"id\":12345678901234567890.5}\n", Format::Jsonl, "id").unwrap();
        assert_eq!(number.after.as_deref(), Some("12345678901234567890.5"));
    }

    #[test]
    fn what_cannot_be_resumed_says_why() {
        assert!(matches!(
            point(b"a,b\n1,2\n", Format::Csv, "id"),
            Err(ResumeError::KeyNotInOutput { .. })
        ));
        assert!(matches!(
            point(b"id,b\n,2\n", Format::Csv, "id"),
            Err(ResumeError::NoKeyValue { .. })
        ));
        assert!(matches!(
            point(b"[\n", Format::Json, "id"),
            Err(ResumeError::Format(Format::Json))
        ));
    }
}
