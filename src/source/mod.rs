//! Sources: where rows come from. Each source runs one query and yields its result as a
//! stream of byte pieces, and owns whatever it takes to stop that query early.

pub mod error;
pub mod postgres;
pub mod rows;

pub use error::SourceError;
pub use postgres::{CopyStream, copy_csv, copy_text};
pub use rows::{RowDecoder, RowError, SourcePieces, SourceRows};
