//! Byte stages: they sit between an encoder and a sink and know nothing of rows or formats.
//!
//! Each stage is a `Stream<Item = Result<Bytes, E>>` adapter that passes the first error
//! through unchanged and yields nothing after it, so a failure upstream always reaches the
//! sink as a failure, never as a clean (and silently shorter) end of stream.

pub mod prefetch;
pub mod rechunk;

pub use prefetch::{Prefetch, prefetch};
pub use rechunk::{Rechunk, Rechunker, rechunk};
