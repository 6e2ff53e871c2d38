//! PostgreSQL's CSV, written field by field: the bytes PostgreSQL 15's
//! `COPY ... TO STDOUT (FORMAT csv)` writes for the same text values and options, so that a
//! CSV rowpipe encodes itself cannot be told from the server's.
//!
//! The rules, as in PostgreSQL's `CopyAttributeOutCSV` (src/backend/commands/copyto.c):
//!
//! * A NULL is the NULL string (empty by default), never quoted.
//! * A non-NULL value is quoted when it equals the NULL string (so an empty string is `""`
//!   by default, and stays distinguishable from NULL), or contains the delimiter, the quote
//!   character, CR or LF, or, in single-column output only, is exactly `\.` (which old
//!   readers take for the end of the data). With `FORCE_QUOTE`, every non-NULL value of the
//!   forced columns is quoted whatever its content.
//! * Inside quotes, the quote and the escape character are each preceded by the escape
//!   character (by default the quote itself, so `"` becomes `""`). Nothing else changes:
//!   CR, LF and non-ASCII bytes are copied as they are.
//! * Fields are separated by the delimiter and every row, the header included, ends with
//!   `\n`.
//! * Header names follow the rule for values, but are never force-quoted.
//!
//! Values must be UTF-8, or in any encoding whose multibyte characters never contain an
//! ASCII byte: the writer looks for the special characters byte by byte. rowpipe always
//! sets `client_encoding` to UTF8. PostgreSQL's client-only encodings (SJIS, BIG5, GBK, UHC,
//! GB18030), which PostgreSQL scans character by character, are not supported.
//!
//! This is the hot path of the typed engine, run for every field: deciding whether a field
//! needs quotes is one table lookup per byte with one branch per 16 bytes, and a field that
//! needs none is copied in one piece; inside quotes, the bytes to escape are found with a
//! SIMD search (`memchr`), since quoted values are mostly long text.

use std::fmt;

use bytes::BufMut;

/// How PostgreSQL's CSV is to be written. The defaults are PostgreSQL's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Separates the fields of a row (PostgreSQL's `DELIMITER`, default `,`).
    pub delimiter: u8,
    /// Encloses a quoted field (`QUOTE`, default `"`).
    pub quote: u8,
    /// Precedes a quote or escape character inside a quoted field (`ESCAPE`); `None` means
    /// the same as `quote`, as in PostgreSQL, so a quote is written twice.
    pub escape: Option<u8>,
    /// Written for NULL, without quotes (`NULL`, default empty). A value equal to it is
    /// quoted, so NULL and that value stay distinguishable.
    pub null: String,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
            escape: None,
            null: String::new(),
        }
    }
}

/// Options PostgreSQL would refuse, with the reason it gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvOptionsError {
    /// In UTF-8 a byte outside ASCII is not a character, and NUL cannot be written.
    #[error("delimiter must be a single one-byte character, not {}", show(*.0))]
    BadDelimiter(u8),
    #[error("quote must be a single one-byte character, not {}", show(*.0))]
    BadQuote(u8),
    #[error("escape must be a single one-byte character, not {}", show(*.0))]
    BadEscape(u8),
    /// A row would end in the middle.
    #[error("delimiter cannot be newline or carriage return")]
    DelimiterIsNewline,
    #[error("delimiter and quote must be different")]
    DelimiterIsQuote,
    /// A NULL would end its row in the middle.
    #[error("null string cannot contain newline or carriage return")]
    NullHasNewline,
    /// A NULL would read as two fields.
    #[error("delimiter must not appear in the null string")]
    NullHasDelimiter,
    /// A NULL would read as the start of a quoted field.
    #[error("quote character must not appear in the null string")]
    NullHasQuote,
}

/// A byte for an error message: printable ASCII as itself, anything else in hex.
fn show(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("0x{byte:02x}")
    }
}

impl CsvOptions {
    /// Checks the options as PostgreSQL's `ProcessCopyOptions` does for CSV.
    pub fn validate(&self) -> Result<(), CsvOptionsError> {
        let single_byte = |byte: u8| byte != 0 && byte.is_ascii();
        if !single_byte(self.delimiter) {
            return Err(CsvOptionsError::BadDelimiter(self.delimiter));
        }
        if !single_byte(self.quote) {
            return Err(CsvOptionsError::BadQuote(self.quote));
        }
        if let Some(escape) = self.escape {
            if !single_byte(escape) {
                return Err(CsvOptionsError::BadEscape(escape));
            }
        }
        if matches!(self.delimiter, b'\r' | b'\n') {
            return Err(CsvOptionsError::DelimiterIsNewline);
        }
        if self.delimiter == self.quote {
            return Err(CsvOptionsError::DelimiterIsQuote);
        }
        let null = self.null.as_bytes();
        if null.contains(&b'\r') || null.contains(&b'\n') {
            return Err(CsvOptionsError::NullHasNewline);
        }
        if null.contains(&self.delimiter) {
            return Err(CsvOptionsError::NullHasDelimiter);
        }
        if null.contains(&self.quote) {
            return Err(CsvOptionsError::NullHasQuote);
        }
        Ok(())
    }
}

/// Writes PostgreSQL's CSV for a result of a fixed number of columns, into any growable
/// buffer (`BytesMut`, `Vec<u8>`).
///
/// It keeps no state between calls: the caller writes a field, a separator, a field, ...,
/// and ends the row; [`write_row`](Self::write_row) and
/// [`write_header`](Self::write_header) do that for a whole row.
///
/// ```
/// use rowpipe::encode::{CsvOptions, CsvWriter};
///
/// let writer = CsvWriter::new(&CsvOptions::default(), 3)?;
/// let mut out = Vec::new();
/// writer.write_header(&mut out, ["id", "name", "note"]);
/// writer.write_row(&mut out, [Some(&b"1"[..]), Some(b"say \"hi\""), None], false);
/// writer.write_row(&mut out, [Some(&b"2"[..]), Some(b""), Some(b"a,b")], false);
/// assert_eq!(out, b"id,name,note\n1,\"say \"\"hi\"\"\",\n2,\"\",\"a,b\"\n");
/// # Ok::<(), rowpipe::encode::CsvOptionsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CsvWriter {
    delimiter: u8,
    quote: u8,
    escape: u8,
    null: Box<[u8]>,
    /// `\.` alone on a line would end the data for PostgreSQL's older readers, and it is
    /// alone on its line only when the row has one field.
    single_column: bool,
    /// A value containing one of these needs quotes: delimiter, quote, CR, LF.
    needs_quotes: ByteSet,
}

impl CsvWriter {
    /// A writer for rows of `columns` fields, or why PostgreSQL would refuse `options`.
    pub fn new(options: &CsvOptions, columns: usize) -> Result<Self, CsvOptionsError> {
        options.validate()?;
        let escape = options.escape.unwrap_or(options.quote);
        Ok(Self {
            delimiter: options.delimiter,
            quote: options.quote,
            escape,
            null: options.null.as_bytes().into(),
            single_column: columns == 1,
            needs_quotes: ByteSet::of(&[options.delimiter, options.quote, b'\r', b'\n']),
        })
    }

    /// Writes one field: `None` is NULL. A value is quoted where its content needs it.
    #[inline]
    pub fn write_field<B: BufMut>(&self, out: &mut B, value: Option<&[u8]>) {
        self.write_field_forced(out, value, false);
    }

    /// Writes one field, quoting a non-NULL value whatever its content when `force_quote`
    /// (PostgreSQL's `FORCE_QUOTE` for this column), and where needed otherwise. NULLs and
    /// header names are never forced, as in PostgreSQL; which columns are forced is for
    /// whoever knows their types (see `CsvQuoting`).
    #[inline]
    pub fn write_field_forced<B: BufMut>(
        &self,
        out: &mut B,
        value: Option<&[u8]>,
        force_quote: bool,
    ) {
        match value {
            None => out.put_slice(&self.null),
            Some(value) if force_quote || self.needs_quotes(value) => self.write_quoted(out, value),
            Some(value) => out.put_slice(value),
        }
    }

    /// Writes the delimiter that goes between two fields.
    #[inline]
    pub fn write_separator<B: BufMut>(&self, out: &mut B) {
        out.put_u8(self.delimiter);
    }

    /// Ends a row.
    #[inline]
    pub fn end_row<B: BufMut>(&self, out: &mut B) {
        out.put_u8(b'\n');
    }

    /// Writes a whole row: the fields with separators between them, then the row's end;
    /// every non-NULL value quoted when `force_quote` (PostgreSQL's `FORCE_QUOTE *`).
    pub fn write_row<'v, B: BufMut>(
        &self,
        out: &mut B,
        fields: impl IntoIterator<Item = Option<&'v [u8]>>,
        force_quote: bool,
    ) {
        for (index, field) in fields.into_iter().enumerate() {
            if index > 0 {
                self.write_separator(out);
            }
            self.write_field_forced(out, field, force_quote);
        }
        self.end_row(out);
    }

    /// Writes the header line: the column names, quoted where needed (never forced).
    pub fn write_header<B: BufMut, N: AsRef<[u8]>>(
        &self,
        out: &mut B,
        names: impl IntoIterator<Item = N>,
    ) {
        for (index, name) in names.into_iter().enumerate() {
            if index > 0 {
                self.write_separator(out);
            }
            self.write_field_forced(out, Some(name.as_ref()), false);
        }
        self.end_row(out);
    }

    /// Whether a non-NULL value needs quotes without being forced to.
    #[inline]
    fn needs_quotes(&self, value: &[u8]) -> bool {
        *value == *self.null
            || (self.single_column && value == b"\\.")
            || self.needs_quotes.any_in(value)
    }

    fn write_quoted<B: BufMut>(&self, out: &mut B, value: &[u8]) {
        out.put_u8(self.quote);
        let mut rest = value;
        // Quoted values are mostly long text with few or no bytes to escape: a SIMD search
        // for the (at most two) escaped bytes beats the table scan there.
        while let Some(found) = memchr::memchr2(self.quote, self.escape, rest) {
            // The escaped byte itself starts the next run.
            let (before, after) = rest.split_at(found);
            out.put_slice(before);
            out.put_u8(self.escape);
            out.put_u8(after[0]);
            rest = &after[1..];
        }
        out.put_slice(rest);
        out.put_u8(self.quote);
    }
}

/// A set of bytes as a 256-entry table, for scanning with one lookup per byte instead of a
/// comparison with each member.
#[derive(Clone)]
struct ByteSet([bool; 256]);

impl ByteSet {
    /// How many bytes [`any_in`](Self::any_in) checks between two branches.
    const BLOCK: usize = 16;

    fn of(members: &[u8]) -> Self {
        let mut table = [false; 256];
        for &byte in members {
            table[usize::from(byte)] = true;
        }
        Self(table)
    }

    #[inline]
    fn contains(&self, byte: u8) -> bool {
        self.0[usize::from(byte)]
    }

    /// Whether any byte of `bytes` is in the set. Most values contain none, so the whole
    /// value is usually scanned: a block of lookups without a branch between them lets the
    /// processor do them in parallel.
    #[inline]
    fn any_in(&self, bytes: &[u8]) -> bool {
        let mut blocks = bytes.chunks_exact(Self::BLOCK);
        for block in &mut blocks {
            if block
                .iter()
                .fold(false, |hit, &byte| hit | self.contains(byte))
            {
                return true;
            }
        }
        blocks.remainder().iter().any(|&byte| self.contains(byte))
    }
}

impl fmt::Debug for ByteSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members = (0..=u8::MAX).filter(|&byte| self.contains(byte));
        f.debug_set()
            .entries(members.map(|byte| std::ascii::escape_default(byte).to_string()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn writer(options: &CsvOptions, columns: usize) -> CsvWriter {
        CsvWriter::new(options, columns).expect("valid options")
    }

    /// One field as written with default options in a row of `columns` fields.
    fn field(value: Option<&[u8]>, columns: usize) -> String {
        field_with(&CsvOptions::default(), value, columns)
    }

    fn field_with(options: &CsvOptions, value: Option<&[u8]>, columns: usize) -> String {
        let mut out = Vec::new();
        writer(options, columns).write_field(&mut out, value);
        String::from_utf8(out).expect("utf-8 in, utf-8 out")
    }

    #[test]
    fn plain_values_are_not_quoted() {
        assert_eq!(field(Some(b"hello world"), 2), "hello world");
        assert_eq!(field(Some(b"123.45"), 2), "123.45");
        assert_eq!(field(Some(b" padded "), 2), " padded ");
        assert_eq!(field(Some(b"tab\there"), 2), "tab\there");
        assert_eq!(field(Some(b"back\\slash"), 2), "back\\slash");
        assert_eq!(field(Some(b"'single'"), 2), "'single'");
    }

    #[test]
    fn null_is_nothing_and_empty_is_quoted() {
        assert_eq!(field(None, 2), "");
        assert_eq!(field(Some(b""), 2), "\"\"");
    }

    #[test]
    fn the_delimiter_quote_cr_and_lf_need_quotes() {
        assert_eq!(field(Some(b"a,b"), 2), "\"a,b\"");
        assert_eq!(field(Some(b","), 2), "\",\"");
        assert_eq!(field(Some(b"line\nbreak"), 2), "\"line\nbreak\"");
        assert_eq!(field(Some(b"carriage\rreturn"), 2), "\"carriage\rreturn\"");
        assert_eq!(field(Some(b"crlf\r\n"), 2), "\"crlf\r\n\"");
        assert_eq!(field(Some(b"\n"), 2), "\"\n\"");
    }

    #[test]
    fn quotes_are_doubled_inside_quotes() {
        assert_eq!(field(Some(b"say \"hi\""), 2), "\"say \"\"hi\"\"\"");
        assert_eq!(field(Some(b"\""), 2), "\"\"\"\"");
        assert_eq!(field(Some(b"\"\""), 2), "\"\"\"\"\"\"");
        assert_eq!(field(Some(b"a\"b,c"), 2), "\"a\"\"b,c\"");
    }

    #[test]
    fn a_lone_backslash_dot_is_quoted_in_single_column_output_only() {
        assert_eq!(field(Some(b"\\."), 1), "\"\\.\"");
        assert_eq!(field(Some(b"\\."), 2), "\\.");
        assert_eq!(field(Some(b"\\.x"), 1), "\\.x");
        assert_eq!(field(Some(b"x\\."), 1), "x\\.");
        assert_eq!(field(Some(b"\\"), 1), "\\");
        assert_eq!(field(Some(b"."), 1), ".");
    }

    #[test]
    fn non_ascii_passes_through() {
        let text = "ünïcödé ✓ 日本語 🎉";
        assert_eq!(field(Some(text.as_bytes()), 2), text);
        assert_eq!(field(Some("é,ü".as_bytes()), 2), "\"é,ü\"");
    }

    #[test]
    fn rows_are_joined_by_the_delimiter_and_end_with_lf() {
        let writer = writer(&CsvOptions::default(), 3);
        let mut out = Vec::new();
        writer.write_row(&mut out, [Some(&b"1"[..]), None, Some(b"")], false);
        writer.write_field(&mut out, Some(b"x"));
        writer.write_separator(&mut out);
        writer.write_field(&mut out, None);
        writer.write_separator(&mut out);
        writer.write_field(&mut out, Some(b"y\""));
        writer.end_row(&mut out);
        assert_eq!(out, b"1,,\"\"\nx,,\"y\"\"\"\n");
    }

    #[test]
    fn a_row_of_no_columns_is_an_empty_line() {
        let writer = writer(&CsvOptions::default(), 0);
        let mut out = Vec::new();
        writer.write_header(&mut out, Vec::<&str>::new());
        writer.write_row(&mut out, [], false);
        assert_eq!(out, b"\n\n");
    }

    #[test]
    fn a_single_null_column_writes_empty_lines() {
        let writer = writer(&CsvOptions::default(), 1);
        let mut out = Vec::new();
        writer.write_row(&mut out, [None], false);
        writer.write_row(&mut out, [Some(&b""[..])], false);
        assert_eq!(out, b"\n\"\"\n");
    }

    #[test]
    fn header_names_follow_the_same_rules() {
        let writer = writer(&CsvOptions::default(), 4);
        let mut out = Vec::new();
        writer.write_header(&mut out, ["id", "a,b", "say \"x\"", "line\nbreak"]);
        assert_eq!(out, b"id,\"a,b\",\"say \"\"x\"\"\",\"line\nbreak\"\n");

        let single = self::writer(&CsvOptions::default(), 1);
        let mut out = Vec::new();
        single.write_header(&mut out, ["\\."]);
        assert_eq!(out, b"\"\\.\"\n");
    }

    #[test]
    fn quote_all_quotes_every_value_but_not_null() {
        let writer = writer(&CsvOptions::default(), 2);
        let mut out = Vec::new();
        let values = [
            Some(&b"plain"[..]),
            Some(b""),
            Some(b"a\"b"),
            Some(b"\\."),
            None,
        ];
        writer.write_row(&mut out, values, true);
        assert_eq!(out, b"\"plain\",\"\",\"a\"\"b\",\"\\.\",\n");
    }

    #[test]
    fn forcing_quotes_is_per_field() {
        let writer = writer(&CsvOptions::default(), 3);
        let mut out = Vec::new();
        writer.write_field_forced(&mut out, Some(b"12"), false);
        writer.write_separator(&mut out);
        writer.write_field_forced(&mut out, Some(b"text"), true);
        writer.write_separator(&mut out);
        writer.write_field_forced(&mut out, None, true);
        writer.end_row(&mut out);
        assert_eq!(out, b"12,\"text\",\n");
    }

    #[test]
    fn another_delimiter_changes_what_needs_quotes() {
        let options = CsvOptions {
            delimiter: b';',
            ..CsvOptions::default()
        };
        assert_eq!(field_with(&options, Some(b"a,b"), 2), "a,b");
        assert_eq!(field_with(&options, Some(b"a;b"), 2), "\"a;b\"");
        let writer = writer(&options, 2);
        let mut out = Vec::new();
        writer.write_row(&mut out, [Some(&b"1"[..]), Some(b"2")], false);
        assert_eq!(out, b"1;2\n");

        let tab = CsvOptions {
            delimiter: b'\t',
            ..CsvOptions::default()
        };
        assert_eq!(field_with(&tab, Some(b"a\tb"), 2), "\"a\tb\"");
        assert_eq!(field_with(&tab, Some(b"a,b"), 2), "a,b");
    }

    #[test]
    fn a_value_equal_to_the_null_string_is_quoted() {
        let options = CsvOptions {
            null: "NULL".to_owned(),
            ..CsvOptions::default()
        };
        assert_eq!(field_with(&options, None, 2), "NULL");
        assert_eq!(field_with(&options, Some(b"NULL"), 2), "\"NULL\"");
        assert_eq!(field_with(&options, Some(b"NULLS"), 2), "NULLS");
        // The empty string is no longer the NULL string, so it needs no quotes.
        assert_eq!(field_with(&options, Some(b""), 2), "");
        // Header names are compared with it too.
        let writer = writer(&options, 2);
        let mut out = Vec::new();
        writer.write_header(&mut out, ["NULL", "x"]);
        assert_eq!(out, b"\"NULL\",x\n");
    }

    #[test]
    fn another_quote_character_is_doubled_instead() {
        let options = CsvOptions {
            quote: b'\'',
            ..CsvOptions::default()
        };
        assert_eq!(field_with(&options, Some(b"it's"), 2), "'it''s'");
        assert_eq!(field_with(&options, Some(b"say \"hi\""), 2), "say \"hi\"");
        assert_eq!(field_with(&options, Some(b""), 2), "''");
    }

    #[test]
    fn another_escape_character_escapes_quote_and_itself() {
        let options = CsvOptions {
            escape: Some(b'\\'),
            ..CsvOptions::default()
        };
        assert_eq!(field_with(&options, Some(b"a\"b"), 2), "\"a\\\"b\"");
        // A backslash alone does not need quotes; inside quotes it is escaped.
        assert_eq!(field_with(&options, Some(b"a\\b"), 2), "a\\b");
        assert_eq!(field_with(&options, Some(b"a\\b,c"), 2), "\"a\\\\b,c\"");
    }

    #[test]
    fn writes_into_bytes_mut_and_vec_alike() {
        let writer = writer(&CsvOptions::default(), 2);
        let mut vec = Vec::new();
        let mut bytes = BytesMut::new();
        for value in [Some(&b"x,y"[..]), None, Some(b""), Some(b"plain")] {
            writer.write_field(&mut vec, value);
            writer.write_field(&mut bytes, value);
        }
        assert_eq!(&bytes[..], &vec[..]);
    }

    /// The rules as plainly as they can be said, to check the fast scan against.
    fn reference(
        options: &CsvOptions,
        value: Option<&[u8]>,
        columns: usize,
        forced: bool,
    ) -> Vec<u8> {
        let Some(value) = value else {
            return options.null.as_bytes().to_vec();
        };
        let escape = options.escape.unwrap_or(options.quote);
        let quote = forced
            || value == options.null.as_bytes()
            || (columns == 1 && value == b"\\.")
            || value
                .iter()
                .any(|&b| b == options.delimiter || b == options.quote || b == b'\r' || b == b'\n');
        if !quote {
            return value.to_vec();
        }
        let mut out = vec![options.quote];
        for &b in value {
            if b == options.quote || b == escape {
                out.push(escape);
            }
            out.push(b);
        }
        out.push(options.quote);
        out
    }

    /// A small deterministic generator, so the test needs no dependency and fails the same
    /// way every time.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn the_fast_scan_agrees_with_the_plain_rules() {
        let alphabet: &[u8] = b"ab,;\"'\\\r\n. \xc3\xa9";
        let option_sets = [
            CsvOptions::default(),
            CsvOptions {
                delimiter: b';',
                quote: b'\'',
                escape: Some(b'\\'),
                null: "\\N".to_owned(),
            },
        ];
        let mut random = XorShift(0x2545_f491_4f6c_dd1d);
        for (options, forced) in option_sets.iter().flat_map(|o| [(o, false), (o, true)]) {
            for columns in [1, 2] {
                let writer = writer(options, columns);
                for _ in 0..20_000 {
                    // Lengths around the scan's block size are where a fast scan goes wrong.
                    let len = (random.next() % 70) as usize;
                    let value: Vec<u8> = (0..len)
                        .map(|_| alphabet[(random.next() % alphabet.len() as u64) as usize])
                        .collect();
                    let mut out = Vec::new();
                    writer.write_field_forced(&mut out, Some(&value), forced);
                    assert_eq!(
                        out,
                        reference(options, Some(&value), columns, forced),
                        "value {:?} with {options:?}",
                        value.escape_ascii().to_string()
                    );
                }
            }
        }
    }

    #[test]
    fn a_special_byte_is_found_at_every_position_of_a_long_value() {
        let writer = writer(&CsvOptions::default(), 2);
        for len in [1, 15, 16, 17, 31, 32, 33, 100] {
            for at in 0..len {
                for special in [b',', b'"', b'\r', b'\n'] {
                    let mut value = vec![b'x'; len];
                    value[at] = special;
                    let mut out = Vec::new();
                    writer.write_field(&mut out, Some(&value));
                    assert_eq!(
                        out,
                        reference(&CsvOptions::default(), Some(&value), 2, false),
                        "{special:?} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn long_values_are_written_whole() {
        let writer = writer(&CsvOptions::default(), 2);
        let plain = vec![b'x'; 1 << 20];
        let mut out = BytesMut::new();
        writer.write_field(&mut out, Some(&plain));
        assert_eq!(&out[..], &plain[..]);

        let mut quoted = plain.clone();
        quoted[(1 << 20) - 1] = b'"';
        let mut out = BytesMut::new();
        writer.write_field(&mut out, Some(&quoted));
        assert_eq!(out.len(), (1 << 20) + 3);
        assert!(out.ends_with(b"x\"\"\""));
    }

    #[test]
    fn options_postgres_refuses_are_refused() {
        let refused = |options: CsvOptions| CsvWriter::new(&options, 1).unwrap_err();
        let default = CsvOptions::default;
        assert_eq!(
            refused(CsvOptions {
                delimiter: 0xe9,
                ..default()
            }),
            CsvOptionsError::BadDelimiter(0xe9)
        );
        assert_eq!(
            refused(CsvOptions {
                delimiter: 0,
                ..default()
            }),
            CsvOptionsError::BadDelimiter(0)
        );
        assert_eq!(
            refused(CsvOptions {
                quote: 0x80,
                ..default()
            }),
            CsvOptionsError::BadQuote(0x80)
        );
        assert_eq!(
            refused(CsvOptions {
                escape: Some(0xff),
                ..default()
            }),
            CsvOptionsError::BadEscape(0xff)
        );
        assert_eq!(
            refused(CsvOptions {
                delimiter: b'\n',
                ..default()
            }),
            CsvOptionsError::DelimiterIsNewline
        );
        assert_eq!(
            refused(CsvOptions {
                delimiter: b'\r',
                ..default()
            }),
            CsvOptionsError::DelimiterIsNewline
        );
        assert_eq!(
            refused(CsvOptions {
                delimiter: b'"',
                ..default()
            }),
            CsvOptionsError::DelimiterIsQuote
        );
        for null in ["a\nb", "\r"] {
            assert_eq!(
                refused(CsvOptions {
                    null: null.to_owned(),
                    ..default()
                }),
                CsvOptionsError::NullHasNewline
            );
        }
        assert_eq!(
            refused(CsvOptions {
                null: "a,b".to_owned(),
                ..default()
            }),
            CsvOptionsError::NullHasDelimiter
        );
        assert_eq!(
            refused(CsvOptions {
                null: "\"\"".to_owned(),
                ..default()
            }),
            CsvOptionsError::NullHasQuote
        );
    }

    #[test]
    fn option_errors_read_well() {
        assert_eq!(
            CsvOptionsError::BadDelimiter(0xe9).to_string(),
            "delimiter must be a single one-byte character, not 0xe9"
        );
        assert_eq!(
            CsvOptionsError::BadQuote(0).to_string(),
            "quote must be a single one-byte character, not 0x00"
        );
    }

    #[test]
    fn the_escape_may_equal_the_delimiter_as_in_postgres() {
        let options = CsvOptions {
            escape: Some(b','),
            ..CsvOptions::default()
        };
        assert_eq!(field_with(&options, Some(b"a,\"b"), 2), "\"a,,,\"b\"");
    }
}
