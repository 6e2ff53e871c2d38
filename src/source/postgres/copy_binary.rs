//! PostgreSQL's binary COPY format (`COPY ... TO STDOUT (FORMAT binary)`), decoded into rows
//! of raw field bytes.
//!
//! The stream is a 19-byte header (the signature `PGCOPY\n\xff\r\n\0`, an `i32` of flags and
//! an `i32` header-extension length followed by that many bytes), then one tuple per row (an
//! `i16` field count, then per field an `i32` length, -1 for NULL, and that many bytes), then
//! the `i16` -1 trailer. All integers are big-endian. The field bytes are each type's binary
//! send format; interpreting them is the caller's business.
//!
//! [`CopyBinaryDecoder`] is IO-free: it is fed the pieces a connection delivers, cut anywhere,
//! and hands out one row at a time. What it guarantees:
//!
//! * **Zero-copy in the common case.** PostgreSQL sends one tuple per CopyData message, so a
//!   tuple usually lies within one piece; its fields are then read in place and
//!   [`RowRef::field_bytes`] slices the piece without copying. A tuple cut across pieces is
//!   assembled in an internal buffer, each of its bytes copied once.
//! * **No allocation per row** once warmed up: the table of field positions is reused, and no
//!   field is ever copied into an allocation of its own.
//! * **Malformed input is an error, never a panic**, and the error says where (row and
//!   column numbers count from 1, like PostgreSQL's). After the first error the decoder
//!   returns that error again on every call: a failure never turns into a clean end.
//! * **The end is checked.** [`CopyBinaryDecoder::finish`] fails unless the trailer was seen
//!   and nothing follows it, so a cut-off stream cannot pass for a complete one.
//!
//! It holds the pieces pushed and not yet decoded plus at most one partly received tuple, so
//! the caller bounds its memory by draining [`CopyBinaryDecoder::next_row`] after each push.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

/// The 11 bytes every binary COPY stream starts with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Signature, flags and header-extension length.
const HEADER_LEN: usize = SIGNATURE.len() + 4 + 4;

/// Flags bit 16: every tuple carries an OID before its fields (`COPY ... WITH OIDS`, gone
/// since PostgreSQL 12). Such tuples would be misread as having one more field.
const FLAG_OIDS: u32 = 1 << 16;

/// Flags bits 0-15 are reserved for incompatible format changes, which a reader must refuse.
/// Bits 17-31 are reserved for compatible ones, which a reader must ignore.
const CRITICAL_FLAGS: u32 = 0xffff;

/// The field count that marks the end of the data.
const TRAILER: i16 = -1;

/// Why binary COPY data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The data does not start with the binary COPY signature (`found` is as much of the
    /// first 11 bytes as had arrived).
    #[error("not binary copy data: it starts with \"{}\"", .found.escape_ascii())]
    BadSignature { found: Vec<u8> },
    /// The header announces an OID before every tuple.
    #[error("binary copy data with oids is not supported")]
    OidsIncluded,
    /// The header sets a flag reserved for an incompatible format change.
    #[error("binary copy header has unknown critical flags {flags:#010x}")]
    UnknownFlags { flags: u32 },
    /// The header-extension length is negative.
    #[error("binary copy header extension has a negative length ({length})")]
    BadHeaderExtension { length: i32 },
    /// A tuple's field count is not the number of columns the query returns.
    #[error("row {row} has {found} fields, expected {expected}")]
    WrongFieldCount {
        row: u64,
        expected: usize,
        found: i16,
    },
    /// A field length is negative but not -1 (NULL).
    #[error("row {row}, column {column}: invalid field length {length}")]
    BadFieldLength {
        row: u64,
        column: usize,
        length: i32,
    },
    /// The input ended before the header was complete (`buffered` bytes of it had arrived).
    #[error("binary copy data ended inside the header, after {buffered} bytes")]
    TruncatedHeader { buffered: usize },
    /// The input ended in the middle of a tuple.
    #[error("binary copy data ended inside row {row}, after {buffered} bytes of it")]
    TruncatedRow { row: u64, buffered: usize },
    /// The input ended between tuples, without the trailer that marks a complete result.
    #[error("binary copy data ended after {rows} rows without its end marker")]
    MissingTrailer { rows: u64 },
    /// Bytes follow the trailer.
    #[error("binary copy data has {bytes} bytes after its end marker")]
    DataAfterTrailer { bytes: usize },
    /// [`CopyBinaryDecoder::finish`] was called while a complete row was still unread.
    #[error("row {row} was decoded but never read")]
    UnreadRow { row: u64 },
}

/// The incremental decoder; see the [module documentation](self).
///
/// ```
/// use bytes::Bytes;
/// use rowpipe::source::postgres::CopyBinaryDecoder;
///
/// let mut decoder = CopyBinaryDecoder::new(2);
/// // Header, then one row ("hi", NULL), then the trailer.
/// decoder.push(Bytes::from_static(b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0"));
/// decoder.push(Bytes::from_static(b"\0\x02\0\0\0\x02hi\xff\xff\xff\xff"));
/// let row = decoder.next_row()?.expect("a complete row");
/// assert_eq!(row.field(0), Some(&b"hi"[..]));
/// assert_eq!(row.field(1), None);
/// assert!(decoder.next_row()?.is_none(), "no more complete rows yet");
/// decoder.push(Bytes::from_static(b"\xff\xff"));
/// assert!(decoder.next_row()?.is_none());
/// decoder.finish()?;
/// # Ok::<(), rowpipe::source::postgres::DecodeError>(())
/// ```
#[derive(Debug)]
pub struct CopyBinaryDecoder {
    expected_columns: usize,
    phase: Phase,
    /// The piece being decoded. Empty only when no input is waiting.
    current: Bytes,
    /// Pieces pushed while `current` still had bytes, in order. Never holds an empty piece.
    queued: VecDeque<Bytes>,
    /// The start of a unit (header, tuple or trailer) that did not fit in the pieces it began
    /// in. It logically precedes `current`, and only ever holds bytes of that one unit.
    partial: BytesMut,
    /// The last tuple assembled from `partial`, kept alive for the [`RowRef`] lent out.
    assembled: Bytes,
    /// How many bytes at the start of `current` the last [`RowRef`] lent out still uses;
    /// they are dropped at the next call, once that borrow has ended.
    lent: usize,
    /// Where each field of the last row lies in its tuple; reused from row to row.
    spans: Vec<Span>,
    /// Rows handed out so far.
    rows: u64,
    /// The first error, returned again by every later call.
    failed: Option<DecodeError>,
}

/// Which part of the stream comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Tuples,
    /// The trailer has been read.
    Done,
}

/// What [`parse_unit`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A complete header of this many bytes.
    Header(usize),
    /// A complete tuple of this many bytes; its fields are in the span table.
    Tuple(usize),
    /// The two-byte trailer.
    Trailer,
    /// The unit is at least this many bytes long, more than the buffer holds.
    Incomplete(usize),
}

/// Where a row's bytes are: the [`RowRef`] borrows one of the decoder's two buffers.
#[derive(Debug, Clone, Copy)]
enum Source {
    Current,
    Assembled,
}

/// A field's position in its tuple's buffer, or NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// NULL: no valid field can start at `usize::MAX`.
    const NULL: Span = Span {
        start: usize::MAX,
        end: usize::MAX,
    };

    fn range(self) -> Option<Range<usize>> {
        (self.start != usize::MAX).then_some(self.start..self.end)
    }
}

impl CopyBinaryDecoder {
    /// A decoder for the result of a query that returns `expected_columns` columns; every
    /// tuple must have exactly that many fields.
    pub fn new(expected_columns: usize) -> Self {
        Self {
            expected_columns,
            phase: Phase::Header,
            current: Bytes::new(),
            queued: VecDeque::new(),
            partial: BytesMut::new(),
            assembled: Bytes::new(),
            lent: 0,
            spans: Vec::with_capacity(expected_columns),
            rows: 0,
            failed: None,
        }
    }

    /// Hands over the next piece of input. It may end anywhere, even inside a length word.
    pub fn push(&mut self, piece: Bytes) {
        self.release();
        if piece.is_empty() {
            return;
        }
        if self.current.is_empty() {
            self.current = piece;
        } else {
            self.queued.push_back(piece);
        }
    }

    /// The next row, `Ok(None)` when the input pushed so far holds no further complete row
    /// (push more, or [`finish`](Self::finish) at the end of the input), or the first error.
    ///
    /// The row borrows the decoder, so it must be dropped before the next call; take
    /// [`RowRef::field_bytes`] to keep a field longer.
    pub fn next_row(&mut self) -> Result<Option<RowRef<'_>>, DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.release();
        match self.advance() {
            Ok(Some(source)) => {
                self.rows += 1;
                let data = match source {
                    Source::Current => &self.current,
                    Source::Assembled => &self.assembled,
                };
                Ok(Some(RowRef {
                    data,
                    spans: &self.spans,
                    number: self.rows,
                }))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Ends the input: `Ok` only if the trailer was read, nothing follows it and every row
    /// was read. Otherwise says what was wrong (data cut off, extra data, an earlier error).
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.release();
        // Decode what is buffered: it may complete the header or hold the trailer.
        if self.advance()?.is_some() {
            return Err(DecodeError::UnreadRow { row: self.rows + 1 });
        }
        let buffered = self.buffered();
        match self.phase {
            // `advance` has already rejected any byte after the trailer.
            Phase::Done => Ok(()),
            Phase::Header => Err(DecodeError::TruncatedHeader { buffered }),
            Phase::Tuples if buffered == 0 => Err(DecodeError::MissingTrailer { rows: self.rows }),
            Phase::Tuples => Err(DecodeError::TruncatedRow {
                row: self.rows + 1,
                buffered,
            }),
        }
    }

    /// Rows handed out so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether the trailer has been read.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Drops the bytes of the row lent out last: its [`RowRef`] is gone by now.
    fn release(&mut self) {
        if self.lent > 0 {
            self.current.advance(self.lent);
            self.lent = 0;
        }
        if self.current.is_empty() {
            if let Some(piece) = self.queued.pop_front() {
                self.current = piece;
            }
        }
    }

    /// Decodes units until a tuple is complete (and says where it is) or the input runs out.
    fn advance(&mut self) -> Result<Option<Source>, DecodeError> {
        loop {
            if self.phase == Phase::Done {
                return match self.buffered() {
                    0 => Ok(None),
                    bytes => Err(DecodeError::DataAfterTrailer { bytes }),
                };
            }
            if self.partial.is_empty() {
                // The common case: the unit starts in `current`, and usually ends there too.
                if self.current.is_empty() {
                    return Ok(None);
                }
                let unit = parse_unit(
                    self.phase,
                    &self.current,
                    self.expected_columns,
                    self.rows + 1,
                    &mut self.spans,
                )?;
                match unit {
                    Unit::Tuple(len) => {
                        self.lent = len;
                        return Ok(Some(Source::Current));
                    }
                    Unit::Incomplete(_) => {
                        // All of `current` belongs to the unit: assemble it from here on.
                        self.partial.extend_from_slice(&self.current);
                        self.current = self.queued.pop_front().unwrap_or_default();
                    }
                    Unit::Header(len) => {
                        self.current.advance(len);
                        self.phase = Phase::Tuples;
                        self.release();
                    }
                    Unit::Trailer => {
                        self.current.advance(2);
                        self.phase = Phase::Done;
                        self.release();
                    }
                }
            } else {
                let unit = parse_unit(
                    self.phase,
                    &self.partial,
                    self.expected_columns,
                    self.rows + 1,
                    &mut self.spans,
                )?;
                match unit {
                    Unit::Tuple(len) => {
                        self.assembled = self.partial.split_to(len).freeze();
                        return Ok(Some(Source::Assembled));
                    }
                    Unit::Incomplete(needed) => {
                        if self.current.is_empty() {
                            return Ok(None);
                        }
                        // Take no more than the unit is known to need, so the bytes after it
                        // stay in their piece and the next tuple can be read in place.
                        let take = (needed - self.partial.len()).min(self.current.len());
                        self.partial.extend_from_slice(&self.current[..take]);
                        self.current.advance(take);
                        self.release();
                    }
                    Unit::Header(len) => {
                        self.partial.advance(len);
                        self.phase = Phase::Tuples;
                    }
                    Unit::Trailer => {
                        self.partial.advance(2);
                        self.phase = Phase::Done;
                    }
                }
            }
        }
    }

    /// Bytes received and not yet decoded.
    fn buffered(&self) -> usize {
        self.partial.len()
            + (self.current.len() - self.lent)
            + self.queued.iter().map(Bytes::len).sum::<usize>()
    }

    /// Remembers `error` for every later call and drops the buffered input.
    fn fail(&mut self, error: DecodeError) -> DecodeError {
        self.failed = Some(error.clone());
        self.current = Bytes::new();
        self.queued.clear();
        self.partial = BytesMut::new();
        self.assembled = Bytes::new();
        self.lent = 0;
        error
    }
}

/// Reads the unit `phase` expects at the start of `buf`. `row` numbers a tuple for errors;
/// a complete tuple's field positions are left in `spans`.
fn parse_unit(
    phase: Phase,
    buf: &[u8],
    expected_columns: usize,
    row: u64,
    spans: &mut Vec<Span>,
) -> Result<Unit, DecodeError> {
    match phase {
        Phase::Header => parse_header(buf),
        Phase::Tuples => parse_tuple(buf, expected_columns, row, spans),
        // `advance` never parses after the trailer.
        Phase::Done => Ok(Unit::Incomplete(usize::MAX)),
    }
}

fn parse_header(buf: &[u8]) -> Result<Unit, DecodeError> {
    // Compare what has arrived of the signature at once, so that input that is not binary
    // COPY at all (CSV, say) is named as such rather than as a truncated header.
    let seen = buf.len().min(SIGNATURE.len());
    if buf[..seen] != SIGNATURE[..seen] {
        return Err(DecodeError::BadSignature {
            found: buf[..seen].to_vec(),
        });
    }
    let (Some(flags), Some(extension)) = (read_i32(buf, 11), read_i32(buf, 15)) else {
        return Ok(Unit::Incomplete(HEADER_LEN));
    };
    let flags = flags as u32;
    if flags & FLAG_OIDS != 0 {
        return Err(DecodeError::OidsIncluded);
    }
    if flags & CRITICAL_FLAGS != 0 {
        return Err(DecodeError::UnknownFlags { flags });
    }
    let Ok(extension_len) = usize::try_from(extension) else {
        return Err(DecodeError::BadHeaderExtension { length: extension });
    };
    // The extension's contents are skipped: no extension is defined yet.
    let total = HEADER_LEN.saturating_add(extension_len);
    Ok(if buf.len() < total {
        Unit::Incomplete(total)
    } else {
        Unit::Header(total)
    })
}

fn parse_tuple(
    buf: &[u8],
    expected_columns: usize,
    row: u64,
    spans: &mut Vec<Span>,
) -> Result<Unit, DecodeError> {
    let Some(count) = read_i16(buf, 0) else {
        return Ok(Unit::Incomplete(2));
    };
    if count == TRAILER {
        return Ok(Unit::Trailer);
    }
    if usize::try_from(count) != Ok(expected_columns) {
        return Err(DecodeError::WrongFieldCount {
            row,
            expected: expected_columns,
            found: count,
        });
    }
    spans.clear();
    let mut pos = 2;
    for column in 1..=expected_columns {
        // Every field still to come has at least its length word: a tighter lower bound on
        // the tuple's size means fewer rounds when a tuple arrives in many small pieces.
        let words_after = 4 * (expected_columns - column);
        let Some(length) = read_i32(buf, pos) else {
            return Ok(Unit::Incomplete(pos + 4 + words_after));
        };
        pos += 4;
        if length == -1 {
            spans.push(Span::NULL);
            continue;
        }
        let Ok(len) = usize::try_from(length) else {
            return Err(DecodeError::BadFieldLength {
                row,
                column,
                length,
            });
        };
        let end = pos.saturating_add(len);
        if end > buf.len() {
            return Ok(Unit::Incomplete(end.saturating_add(words_after)));
        }
        spans.push(Span { start: pos, end });
        pos = end;
    }
    Ok(Unit::Tuple(pos))
}

fn read_i16(buf: &[u8], pos: usize) -> Option<i16> {
    let bytes = buf.get(pos..pos.checked_add(2)?)?;
    Some(i16::from_be_bytes(bytes.try_into().ok()?))
}

fn read_i32(buf: &[u8], pos: usize) -> Option<i32> {
    let bytes = buf.get(pos..pos.checked_add(4)?)?;
    Some(i32::from_be_bytes(bytes.try_into().ok()?))
}

/// One decoded row, borrowed from the decoder until its next call.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    /// The buffer the tuple lies in (a received piece, or the assembled tuple).
    data: &'a Bytes,
    spans: &'a [Span],
    number: u64,
}

impl<'a> RowRef<'a> {
    /// The row's number, counting from 1.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// How many fields the row has (the decoder's expected column count).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the row has no fields (a query returning no columns).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The bytes of field `column` (from 0), or `None` for NULL.
    ///
    /// # Panics
    /// If `column` is not less than [`len`](Self::len).
    pub fn field(&self, column: usize) -> Option<&'a [u8]> {
        let data: &'a [u8] = self.data;
        self.spans[column].range().map(|range| &data[range])
    }

    /// Field `column` as `Bytes` that share the received buffer (no copy), or `None` for
    /// NULL. They stay valid after the row is gone, and keep that buffer alive.
    ///
    /// # Panics
    /// If `column` is not less than [`len`](Self::len).
    pub fn field_bytes(&self, column: usize) -> Option<Bytes> {
        self.spans[column]
            .range()
            .map(|range| self.data.slice(range))
    }

    /// The fields in order, `None` for NULL.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = Option<&'a [u8]>> + use<'a> {
        let data: &'a [u8] = self.data;
        self.spans
            .iter()
            .map(move |span| span.range().map(|range| &data[range]))
    }
}

impl fmt::Debug for RowRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// The fields as a list, each escaped like a byte string literal, or `NULL`.
        struct Fields<'r>(RowRef<'r>);
        struct Field<'b>(Option<&'b [u8]>);
        impl fmt::Debug for Fields<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.fields().map(Field)).finish()
            }
        }
        impl fmt::Debug for Field<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    None => f.write_str("NULL"),
                    Some(bytes) => write!(f, "\"{}\"", bytes.escape_ascii()),
                }
            }
        }
        f.debug_struct("RowRef")
            .field("number", &self.number)
            .field("fields", &Fields(*self))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row<'a> = Vec<Option<&'a [u8]>>;

    /// Binary COPY bytes for `rows` as PostgreSQL writes them: header, tuples, trailer.
    fn copy_data(rows: &[Row<'_>]) -> Vec<u8> {
        let mut out = header(0, &[]);
        for row in rows {
            out.extend_from_slice(&tuple(row));
        }
        out.extend_from_slice(&TRAILER.to_be_bytes());
        out
    }

    fn header(flags: u32, extension: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&(extension.len() as i32).to_be_bytes());
        out.extend_from_slice(extension);
        out
    }

    fn tuple(row: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = (row.len() as i16).to_be_bytes().to_vec();
        for field in row {
            match field {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
            }
        }
        out
    }

    /// Owned rows, for comparing what came out with what went in.
    type OwnedRow = Vec<Option<Vec<u8>>>;

    fn owned(rows: &[Row<'_>]) -> Vec<OwnedRow> {
        rows.iter()
            .map(|row| row.iter().map(|field| field.map(<[u8]>::to_vec)).collect())
            .collect()
    }

    /// Feeds `pieces` one at a time, draining rows after each, then finishes.
    fn decode(columns: usize, pieces: &[&[u8]]) -> Result<Vec<OwnedRow>, DecodeError> {
        let mut decoder = CopyBinaryDecoder::new(columns);
        let mut rows = Vec::new();
        for piece in pieces {
            decoder.push(Bytes::copy_from_slice(piece));
            drain(&mut decoder, &mut rows)?;
        }
        decoder.finish()?;
        Ok(rows)
    }

    fn drain(decoder: &mut CopyBinaryDecoder, rows: &mut Vec<OwnedRow>) -> Result<(), DecodeError> {
        while let Some(row) = decoder.next_row()? {
            assert_eq!(
                row.number(),
                rows.len() as u64 + 1,
                "rows are numbered from 1"
            );
            rows.push(
                row.fields()
                    .map(|field| field.map(<[u8]>::to_vec))
                    .collect(),
            );
        }
        Ok(())
    }

    /// Rows with every kind of field, the data split as PostgreSQL sends it: the header with
    /// the first tuple, then one tuple per piece, then the trailer alone.
    fn sample_rows() -> Vec<Row<'static>> {
        vec![
            vec![Some(b"1"), Some(b"hello")],
            vec![None, Some(b"")],
            vec![Some(b""), None],
            vec![Some(b"\xff\xff\xff\xff"), Some("ünï ✓".as_bytes())],
            vec![None, None],
        ]
    }

    fn server_pieces(rows: &[Row<'_>]) -> Vec<Vec<u8>> {
        let mut pieces = Vec::new();
        let mut first = header(0, &[]);
        let mut tuples = rows.iter().map(|row| tuple(row));
        if let Some(t) = tuples.next() {
            first.extend_from_slice(&t);
        }
        pieces.push(first);
        pieces.extend(tuples);
        pieces.push(TRAILER.to_be_bytes().to_vec());
        pieces
    }

    #[test]
    fn decodes_pieces_as_the_server_sends_them() {
        let rows = sample_rows();
        let pieces = server_pieces(&rows);
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        assert_eq!(decode(2, &refs).unwrap(), owned(&rows));
    }

    #[test]
    fn decodes_everything_in_one_piece() {
        let rows = sample_rows();
        assert_eq!(decode(2, &[&copy_data(&rows)]).unwrap(), owned(&rows));
    }

    #[test]
    fn null_and_empty_fields_differ() {
        let data = copy_data(&[vec![None, Some(b"")]]);
        let mut decoder = CopyBinaryDecoder::new(2);
        decoder.push(Bytes::from(data));
        let row = decoder.next_row().unwrap().unwrap();
        assert_eq!(row.len(), 2);
        assert_eq!(row.field(0), None);
        assert_eq!(row.field(1), Some(&b""[..]));
        assert_eq!(row.field_bytes(0), None);
        assert_eq!(row.field_bytes(1), Some(Bytes::new()));
    }

    #[test]
    fn splits_at_every_byte_offset_give_the_same_rows() {
        let rows = sample_rows();
        let data = copy_data(&rows);
        let expected = owned(&rows);
        for cut in 0..=data.len() {
            let (a, b) = data.split_at(cut);
            assert_eq!(decode(2, &[a, b]).unwrap(), expected, "cut at {cut}");
        }
    }

    #[test]
    fn splits_at_every_pair_of_offsets_give_the_same_rows() {
        let rows = sample_rows();
        let data = copy_data(&rows);
        let expected = owned(&rows);
        for first in 0..=data.len() {
            for second in first..=data.len() {
                let pieces = [&data[..first], &data[first..second], &data[second..]];
                assert_eq!(
                    decode(2, &pieces).unwrap(),
                    expected,
                    "cuts at {first} and {second}"
                );
            }
        }
    }

    #[test]
    fn one_byte_pieces_give_the_same_rows() {
        let rows = sample_rows();
        let data = copy_data(&rows);
        let pieces: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(decode(2, &pieces).unwrap(), owned(&rows));
    }

    #[test]
    fn pushing_several_pieces_before_reading_works() {
        let rows = sample_rows();
        let data = copy_data(&rows);
        let mut decoder = CopyBinaryDecoder::new(2);
        for piece in data.chunks(7) {
            decoder.push(Bytes::copy_from_slice(piece));
        }
        let mut out = Vec::new();
        drain(&mut decoder, &mut out).unwrap();
        assert!(decoder.is_done());
        assert_eq!(decoder.rows(), rows.len() as u64);
        decoder.finish().unwrap();
        assert_eq!(out, owned(&rows));
    }

    #[test]
    fn a_tuple_within_one_piece_is_not_copied() {
        let rows = sample_rows();
        let pieces = server_pieces(&rows);
        let mut decoder = CopyBinaryDecoder::new(2);
        for piece in pieces {
            let piece = Bytes::from(piece);
            let within = piece.as_ptr_range();
            decoder.push(piece.clone());
            while let Some(row) = decoder.next_row().unwrap() {
                for column in 0..row.len() {
                    if let Some(field) = row.field_bytes(column) {
                        assert!(
                            within.contains(&field.as_ptr()) || field.is_empty(),
                            "row {} column {column} was copied",
                            row.number()
                        );
                    }
                }
            }
        }
        decoder.finish().unwrap();
    }

    #[test]
    fn field_bytes_outlive_the_row_and_the_decoder() {
        let data = copy_data(&[vec![Some(b"kept"), None]]);
        let kept = {
            let mut decoder = CopyBinaryDecoder::new(2);
            decoder.push(Bytes::from(data));
            let row = decoder.next_row().unwrap().unwrap();
            row.field_bytes(0).unwrap()
        };
        assert_eq!(kept, Bytes::from_static(b"kept"));
    }

    #[test]
    fn an_empty_result_is_header_and_trailer() {
        let data = copy_data(&[]);
        assert_eq!(decode(3, &[&data]).unwrap(), Vec::<OwnedRow>::new());
        let (head, trailer) = data.split_at(HEADER_LEN);
        assert_eq!(decode(3, &[head, trailer]).unwrap(), Vec::<OwnedRow>::new());
        for cut in 0..=data.len() {
            let (a, b) = data.split_at(cut);
            assert_eq!(decode(3, &[a, b]).unwrap(), Vec::<OwnedRow>::new());
        }
    }

    #[test]
    fn zero_column_rows_are_rows() {
        // `SELECT FROM generate_series(1, 3)` returns three rows of no columns.
        let rows: Vec<Row<'_>> = vec![vec![], vec![], vec![]];
        let data = copy_data(&rows);
        for cut in 0..=data.len() {
            let (a, b) = data.split_at(cut);
            let decoded = decode(0, &[a, b]).unwrap();
            assert_eq!(decoded, owned(&rows), "cut at {cut}");
        }
        let mut decoder = CopyBinaryDecoder::new(0);
        decoder.push(Bytes::from(data));
        let row = decoder.next_row().unwrap().unwrap();
        assert!(row.is_empty());
        assert_eq!(row.fields().len(), 0);
    }

    #[test]
    fn large_fields_survive_any_piece_size() {
        let big: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        let rows: Vec<Row<'_>> = vec![
            vec![Some(&big), Some(b"after")],
            vec![Some(b"small"), Some(&big[..70_000])],
        ];
        let data = copy_data(&rows);
        for size in [1000, 4096, 65_536, 999_999, data.len()] {
            let pieces: Vec<&[u8]> = data.chunks(size).collect();
            assert_eq!(
                decode(2, &pieces).unwrap(),
                owned(&rows),
                "pieces of {size}"
            );
        }
    }

    #[test]
    fn a_large_field_in_one_piece_is_not_copied() {
        let big = vec![b'x'; 2_000_000];
        let data = Bytes::from(copy_data(&[vec![Some(&big)]]));
        let mut decoder = CopyBinaryDecoder::new(1);
        decoder.push(data.clone());
        let row = decoder.next_row().unwrap().unwrap();
        let field = row.field_bytes(0).unwrap();
        assert_eq!(field.len(), big.len());
        assert!(data.as_ptr_range().contains(&field.as_ptr()));
    }

    #[test]
    fn rows_are_returned_as_soon_as_they_are_complete() {
        let rows = sample_rows();
        let data = copy_data(&rows);
        let mut decoder = CopyBinaryDecoder::new(2);
        let mut seen = Vec::new();
        let first_tuple_end = HEADER_LEN + tuple(&rows[0]).len();
        for (index, byte) in data.iter().enumerate() {
            decoder.push(Bytes::copy_from_slice(&[*byte]));
            let before = seen.len();
            drain(&mut decoder, &mut seen).unwrap();
            if index + 1 == first_tuple_end {
                assert_eq!(seen.len(), 1, "the first row is out with its last byte");
            } else if index + 1 < first_tuple_end {
                assert_eq!(seen.len(), before);
            }
        }
        decoder.finish().unwrap();
        assert_eq!(seen, owned(&rows));
    }

    #[test]
    fn a_header_extension_is_skipped() {
        let mut data = header(0, b"some extension");
        data.extend_from_slice(&tuple(&[Some(b"x")]));
        data.extend_from_slice(&TRAILER.to_be_bytes());
        for cut in 0..=data.len() {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                decode(1, &[a, b]).unwrap(),
                vec![vec![Some(b"x".to_vec())]],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn compatible_flags_are_ignored() {
        let mut data = header(0xfffe_0000, &[]);
        data.extend_from_slice(&TRAILER.to_be_bytes());
        assert_eq!(decode(1, &[&data]).unwrap(), Vec::<OwnedRow>::new());
    }

    #[test]
    fn oids_are_refused() {
        let mut data = header(FLAG_OIDS, &[]);
        data.extend_from_slice(&TRAILER.to_be_bytes());
        assert_eq!(decode(1, &[&data]), Err(DecodeError::OidsIncluded));
    }

    #[test]
    fn unknown_critical_flags_are_refused() {
        let mut data = header(1, &[]);
        data.extend_from_slice(&TRAILER.to_be_bytes());
        assert_eq!(
            decode(1, &[&data]),
            Err(DecodeError::UnknownFlags { flags: 1 })
        );
    }

    #[test]
    fn a_bad_signature_is_named_as_soon_as_it_shows() {
        let error = decode(2, &[b"a,b\n1,2\n"]).unwrap_err();
        assert_eq!(
            error,
            DecodeError::BadSignature {
                found: b"a,b\n1,2\n".to_vec()
            }
        );
        assert_eq!(
            error.to_string(),
            "not binary copy data: it starts with \"a,b\\n1,2\\n\""
        );
        // One wrong byte at the end of the signature.
        let mut data = copy_data(&[]);
        data[10] = b'!';
        assert!(matches!(
            decode(1, &[&data]),
            Err(DecodeError::BadSignature { found }) if found.len() == 11
        ));
    }

    #[test]
    fn a_negative_header_extension_is_refused() {
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&0u32.to_be_bytes());
        data.extend_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(
            decode(1, &[&data]),
            Err(DecodeError::BadHeaderExtension { length: -5 })
        );
    }

    #[test]
    fn a_wrong_field_count_names_the_row() {
        let mut data = header(0, &[]);
        data.extend_from_slice(&tuple(&[Some(b"a"), Some(b"b")]));
        data.extend_from_slice(&tuple(&[Some(b"a")]));
        data.extend_from_slice(&TRAILER.to_be_bytes());
        let error = decode(2, &[&data]).unwrap_err();
        assert_eq!(
            error,
            DecodeError::WrongFieldCount {
                row: 2,
                expected: 2,
                found: 1
            }
        );
        assert_eq!(error.to_string(), "row 2 has 1 fields, expected 2");
        // A negative count other than the trailer's is a wrong count too.
        let mut data = header(0, &[]);
        data.extend_from_slice(&(-2i16).to_be_bytes());
        assert_eq!(
            decode(2, &[&data]),
            Err(DecodeError::WrongFieldCount {
                row: 1,
                expected: 2,
                found: -2
            })
        );
    }

    #[test]
    fn a_negative_field_length_names_row_and_column() {
        let mut data = header(0, &[]);
        data.extend_from_slice(&tuple(&[Some(b"a"), None]));
        data.extend_from_slice(&2i16.to_be_bytes());
        data.extend_from_slice(&(-1i32).to_be_bytes());
        data.extend_from_slice(&(-7i32).to_be_bytes());
        let error = decode(2, &[&data]).unwrap_err();
        assert_eq!(
            error,
            DecodeError::BadFieldLength {
                row: 2,
                column: 2,
                length: -7
            }
        );
        assert_eq!(
            error.to_string(),
            "row 2, column 2: invalid field length -7"
        );
    }

    #[test]
    fn errors_are_found_whatever_the_split() {
        let mut data = header(0, &[]);
        data.extend_from_slice(&tuple(&[Some(b"abc")]));
        data.extend_from_slice(&1i16.to_be_bytes());
        data.extend_from_slice(&i32::MIN.to_be_bytes());
        for cut in 0..=data.len() {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                decode(1, &[a, b]),
                Err(DecodeError::BadFieldLength {
                    row: 2,
                    column: 1,
                    length: i32::MIN
                }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn empty_input_is_a_truncated_header() {
        assert_eq!(
            decode(1, &[]),
            Err(DecodeError::TruncatedHeader { buffered: 0 })
        );
        assert_eq!(
            decode(1, &[b"", b""]),
            Err(DecodeError::TruncatedHeader { buffered: 0 })
        );
    }

    #[test]
    fn input_cut_inside_the_header_is_truncated() {
        let data = header(0, b"ext");
        for cut in 0..data.len() {
            assert_eq!(
                decode(1, &[&data[..cut]]),
                Err(DecodeError::TruncatedHeader { buffered: cut }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn input_cut_inside_a_row_is_truncated() {
        let rows = sample_rows();
        let data = copy_data(&rows);
        let second_start = HEADER_LEN + tuple(&rows[0]).len();
        let second_end = second_start + tuple(&rows[1]).len();
        for cut in second_start + 1..second_end {
            for pieces in [vec![&data[..cut]], data[..cut].chunks(3).collect()] {
                assert_eq!(
                    decode(2, &pieces),
                    Err(DecodeError::TruncatedRow {
                        row: 2,
                        buffered: cut - second_start
                    }),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn input_cut_between_rows_lacks_the_trailer() {
        let rows = sample_rows();
        let data = copy_data(&rows);
        let without_trailer = &data[..data.len() - 2];
        let error = decode(2, &[without_trailer]).unwrap_err();
        assert_eq!(error, DecodeError::MissingTrailer { rows: 5 });
        assert_eq!(
            error.to_string(),
            "binary copy data ended after 5 rows without its end marker"
        );
        // Half a trailer is half a tuple.
        assert_eq!(
            decode(2, &[&data[..data.len() - 1]]),
            Err(DecodeError::TruncatedRow {
                row: 6,
                buffered: 1
            })
        );
    }

    #[test]
    fn data_after_the_trailer_is_an_error() {
        let mut data = copy_data(&sample_rows());
        data.extend_from_slice(b"junk");
        let expected = DecodeError::DataAfterTrailer { bytes: 4 };
        assert_eq!(decode(2, &[&data]), Err(expected.clone()));
        let (rows, junk) = data.split_at(data.len() - 4);
        assert_eq!(decode(2, &[rows, junk]), Err(expected.clone()));
        // Found by `finish` when no row was asked for after the last push.
        let mut decoder = CopyBinaryDecoder::new(2);
        decoder.push(Bytes::copy_from_slice(rows));
        drain(&mut decoder, &mut Vec::new()).unwrap();
        decoder.push(Bytes::copy_from_slice(junk));
        assert_eq!(decoder.finish(), Err(expected));
    }

    #[test]
    fn finish_reads_a_trailer_pushed_last() {
        let data = copy_data(&[vec![Some(b"x")]]);
        let (rows, trailer) = data.split_at(data.len() - 2);
        let mut decoder = CopyBinaryDecoder::new(1);
        decoder.push(Bytes::copy_from_slice(rows));
        drain(&mut decoder, &mut Vec::new()).unwrap();
        decoder.push(Bytes::copy_from_slice(trailer));
        decoder.finish().unwrap();
    }

    #[test]
    fn finish_refuses_to_drop_unread_rows() {
        let data = copy_data(&sample_rows());
        let mut decoder = CopyBinaryDecoder::new(2);
        decoder.push(Bytes::from(data));
        assert!(decoder.next_row().unwrap().is_some());
        assert_eq!(decoder.finish(), Err(DecodeError::UnreadRow { row: 2 }));
    }

    #[test]
    fn the_first_error_is_returned_again_and_again() {
        let mut data = header(0, &[]);
        data.extend_from_slice(&tuple(&[Some(b"a")]));
        let mut decoder = CopyBinaryDecoder::new(2);
        decoder.push(Bytes::from(data));
        let expected = DecodeError::WrongFieldCount {
            row: 1,
            expected: 2,
            found: 1,
        };
        assert_eq!(decoder.next_row().unwrap_err(), expected);
        decoder.push(Bytes::from(copy_data(&[vec![Some(b"a"), Some(b"b")]])));
        assert_eq!(decoder.next_row().unwrap_err(), expected);
        assert_eq!(decoder.finish(), Err(expected));
    }

    #[test]
    fn an_absurd_field_length_is_not_allocated_up_front() {
        // A length of 2 GiB - 1 with no data behind it: the decoder must wait for bytes,
        // not reserve the announced size.
        let mut data = header(0, &[]);
        data.extend_from_slice(&1i16.to_be_bytes());
        data.extend_from_slice(&i32::MAX.to_be_bytes());
        data.extend_from_slice(b"abc");
        let mut decoder = CopyBinaryDecoder::new(1);
        decoder.push(Bytes::copy_from_slice(&data[..HEADER_LEN + 3]));
        assert!(decoder.next_row().unwrap().is_none());
        decoder.push(Bytes::copy_from_slice(&data[HEADER_LEN + 3..]));
        assert!(decoder.next_row().unwrap().is_none());
        assert!(decoder.partial.capacity() < 1 << 20);
        assert_eq!(
            decoder.finish(),
            Err(DecodeError::TruncatedRow {
                row: 1,
                buffered: 9
            })
        );
    }

    #[test]
    fn rows_borrowing_a_piece_do_not_block_later_pushes() {
        let rows = sample_rows();
        let pieces = server_pieces(&rows);
        let mut decoder = CopyBinaryDecoder::new(2);
        let mut seen = Vec::new();
        decoder.push(Bytes::from(pieces[0].clone()));
        // Take one row and stop without asking for the next: the row's bytes are still
        // lent when the next piece arrives.
        let row = decoder.next_row().unwrap().unwrap();
        seen.push(row.fields().map(|f| f.map(<[u8]>::to_vec)).collect());
        for piece in &pieces[1..] {
            decoder.push(Bytes::from(piece.clone()));
            drain(&mut decoder, &mut seen).unwrap();
        }
        decoder.finish().unwrap();
        assert_eq!(seen, owned(&rows));
    }

    #[test]
    fn a_row_shows_its_fields_in_debug_output() {
        let data = copy_data(&[vec![Some(b"a\"b"), None]]);
        let mut decoder = CopyBinaryDecoder::new(2);
        decoder.push(Bytes::from(data));
        let row = decoder.next_row().unwrap().unwrap();
        assert_eq!(
            format!("{row:?}"),
            r#"RowRef { number: 1, fields: ["a\"b", NULL] }"#
        );
    }
}
