//! Decoders: the PostgreSQL source's bytes turned into rows of [`Value`](crate::value::Value)s.
//!
//! [`copy_binary`] cuts a binary COPY stream into rows of field bytes; [`binary`] turns
//! each field into a value.
//!
//! A decoder is an IO-free state machine fed with `Bytes` pieces in whatever sizes the
//! source delivers them; it never assumes a piece boundary falls anywhere in particular and
//! never panics on malformed input, which it reports as a typed error instead.

pub mod binary;
pub mod copy_binary;

pub use binary::RowValues;
pub use copy_binary::{CopyBinaryDecoder, DecodeError, RowRef};
