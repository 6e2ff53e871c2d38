//! The encode stage: binary COPY pieces in, the bytes of an output format out.
//!
//! It feeds each of a source's pieces to the source's [`RowDecoder`], hands every
//! complete row of [`Value`]s to a [`RowEncoder`], and hands its buffer on once it holds
//! at least `chunk_size` bytes. What
//! it hands on is always a whole number of chunks (the remainder, at most one row's worth,
//! is carried into the next buffer), so the rechunk stage after it passes every buffer
//! through without copying. It holds one buffer and the decoder's unread input: memory
//! does not grow with the result.
//!
//! The end of the input is checked ([`RowDecoder::finish`]): a stream that stops where no
//! complete result ends is an error, never a shorter file.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::Stream;

use super::{KeyOrder, StreamError};
use crate::encode::RowEncoder;
use crate::progress::Progress;
use crate::source::{RowDecoder, SourcePieces, SourceRows};
use crate::value::Value;

/// Encodes a source's `rows` with `encoder`, checking their keys with `key` when the
/// export has one, and counting rows into `progress`.
pub fn encode(
    rows: SourceRows,
    key: Option<KeyOrder>,
    encoder: Box<dyn RowEncoder>,
    chunk_size: usize,
    progress: Arc<Progress>,
) -> Encode {
    assert!(chunk_size > 0, "chunk size must be at least one byte");
    Encode {
        pieces: rows.pieces,
        decoder: rows.decoder,
        row: Vec::new(),
        key,
        encoder,
        chunk_size,
        buffer: Vec::new(),
        state: State::Begin,
        progress,
    }
}

/// The stream returned by [`encode`].
pub struct Encode {
    pieces: SourcePieces,
    decoder: Box<dyn RowDecoder>,
    /// The current row's values; kept between rows only for its allocation.
    row: Vec<Value<'static>>,
    key: Option<KeyOrder>,
    encoder: Box<dyn RowEncoder>,
    chunk_size: usize,
    buffer: Vec<u8>,
    state: State,
    progress: Arc<Progress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Begin,
    Rows,
    /// The input has ended cleanly; the rest of the buffer goes out.
    Flushing,
    Done,
}

impl Encode {
    /// Takes the buffer's whole chunks, keeping the remainder, if it holds at least one.
    fn take_chunks(&mut self) -> Option<Bytes> {
        let whole = self.buffer.len() / self.chunk_size * self.chunk_size;
        if whole == 0 {
            return None;
        }
        let mut next = Vec::with_capacity(self.chunk_size + self.chunk_size / 4);
        next.extend_from_slice(&self.buffer[whole..]);
        self.buffer.truncate(whole);
        Some(Bytes::from(std::mem::replace(&mut self.buffer, next)))
    }

    /// Encodes every complete row the decoder holds.
    fn encode_rows(&mut self) -> Result<(), StreamError> {
        loop {
            let mut values = recycle(std::mem::take(&mut self.row));
            let Some(number) = self.decoder.next_row(&mut values)? else {
                self.row = recycle(values);
                return Ok(());
            };
            if let Some(key) = &mut self.key {
                key.check(number, &values)?;
            }
            self.encoder
                .row(&values, &mut self.buffer)
                .map_err(|error| StreamError::Field { row: number, error })?;
            self.row = recycle(values);
            self.progress.add_rows(1);
            if self.buffer.len() >= self.chunk_size {
                return Ok(());
            }
        }
    }

    fn fail(&mut self, error: StreamError) -> Poll<Option<Result<Bytes, StreamError>>> {
        self.state = State::Done;
        self.buffer = Vec::new();
        Poll::Ready(Some(Err(error)))
    }
}

/// An empty vector of values with `values`' allocation, for values of another lifetime:
/// one row's values borrow that row's bytes, and the next row's are new borrows.
fn recycle<'b>(mut values: Vec<Value<'_>>) -> Vec<Value<'b>> {
    values.clear();
    // Collecting an emptied vector into one of the same layout reuses its allocation.
    values.into_iter().map(|_| unreachable!()).collect()
}

impl Stream for Encode {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match this.state {
                State::Begin => {
                    this.encoder.begin(&mut this.buffer);
                    this.state = State::Rows;
                }
                State::Rows => {
                    if let Some(chunks) = this.take_chunks() {
                        return Poll::Ready(Some(Ok(chunks)));
                    }
                    // Rows already received come first: a decoder may hold many.
                    if let Err(error) = this.encode_rows() {
                        return this.fail(error);
                    }
                    if this.buffer.len() >= this.chunk_size {
                        continue;
                    }
                    match ready!(Pin::new(&mut this.pieces).poll_next(cx)) {
                        Some(Ok(piece)) => this.decoder.push(piece),
                        Some(Err(error)) => return this.fail(error.into()),
                        None => {
                            if let Err(error) = this.decoder.finish() {
                                return this.fail(error.into());
                            }
                            this.encoder.end(&mut this.buffer);
                            this.state = State::Flushing;
                        }
                    }
                }
                State::Flushing => {
                    if let Some(chunks) = this.take_chunks() {
                        return Poll::Ready(Some(Ok(chunks)));
                    }
                    this.state = State::Done;
                    if !this.buffer.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(std::mem::take(
                            &mut this.buffer,
                        )))));
                    }
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}
