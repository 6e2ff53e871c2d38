//! Encoders: rows turned into the bytes of an output format.
//!
//! An encoder appends to a caller's buffer (`BytesMut` or `Vec<u8>`) and does no IO, so the
//! caller decides when a buffer is full enough to hand on.

pub mod csv;

pub use csv::{CsvOptions, CsvOptionsError, CsvWriter, QuoteStyle};
