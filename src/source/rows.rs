//! What a source hands the encode stage: a [`Schema`], a stream of byte pieces, and a
//! [`RowDecoder`] that turns those pieces into rows of [`Value`]s.
//!
//! The pieces are the source's own wire format (binary COPY for PostgreSQL); only its
//! decoder reads them. Splitting the two keeps the stream's back-pressure in one place
//! (the pieces are polled by the encode stage) and lets the decoder lend its rows'
//! values straight out of the pieces it holds, with no copy and no allocation per row.

use std::error::Error as StdError;

use bytes::Bytes;
use futures_util::Stream;

use super::SourceError;
use crate::encode::FieldError;
use crate::schema::Schema;
use crate::value::Value;

/// The byte pieces of a running export, as its source delivers them.
pub type SourcePieces = Box<dyn Stream<Item = Result<Bytes, SourceError>> + Send + Unpin>;

/// A started export's result: what its columns are, and its rows still to come.
pub struct SourceRows {
    pub schema: Schema,
    pub pieces: SourcePieces,
    pub decoder: Box<dyn RowDecoder>,
}

impl std::fmt::Debug for SourceRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRows")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Turns a source's pieces into rows, incrementally and without IO.
///
/// The encode stage pushes each piece as it arrives, then takes every complete row before
/// asking for the next piece, so a decoder holds at most the pieces of one unfinished
/// row beyond what it was just given.
pub trait RowDecoder: Send {
    /// Takes the next piece of the source's stream.
    fn push(&mut self, piece: Bytes);

    /// Puts the next complete row's values into `values` (which the caller has emptied)
    /// and returns its number, counting from 1; `None` until more pieces arrive. A row
    /// may carry more values than the schema has columns (a key selected only to be
    /// checked); the encoders write the columns'.
    fn next_row<'a>(&'a mut self, values: &mut Vec<Value<'a>>) -> Result<Option<u64>, RowError>;

    /// The stream has ended: fails unless it ended where a complete result ends, so a
    /// cut-off stream never passes for a complete one.
    fn finish(&mut self) -> Result<(), RowError>;
}

/// A source's rows could not be read: its data is malformed, which is a bug or an
/// incompatible server, never the user's data.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("cannot decode the query result: {0}")]
    Malformed(Box<dyn StdError + Send + Sync>),
    #[error("cannot decode row {row}: {error}")]
    Field { row: u64, error: FieldError },
}
