//! Decoders: bytes a source received, turned into rows.
//!
//! A decoder is an IO-free state machine fed with `Bytes` pieces in whatever sizes the
//! source delivers them; it never assumes a piece boundary falls anywhere in particular and
//! never panics on malformed input, which it reports as a typed error instead.

pub mod copy_binary;

pub use copy_binary::{CopyBinaryDecoder, DecodeError, RowRef};
