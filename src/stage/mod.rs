//! Stages between a source and a sink. The encode stage turns a source's binary rows into
//! an output format; the byte stages after it (limit, compress, rechunk, prefetch) know
//! nothing of rows or formats.
//!
//! Each stage is a `Stream<Item = Result<Bytes, E>>` adapter that passes the first error
//! through unchanged and yields nothing after it, so a failure upstream always reaches the
//! sink as a failure, never as a clean (and silently shorter) end of stream.

pub mod compress;
pub mod encode;
pub mod error;
pub mod key_order;
pub mod limit;
pub mod prefetch;
pub mod rechunk;

pub use compress::{Compress, Compressor, compress};
pub use encode::{Encode, encode};
pub use error::StreamError;
pub use key_order::{KeyOrder, KeyOrderError};
pub use limit::{Limit, LimitExceeded, Limits, limit};
pub use prefetch::{Prefetch, prefetch};
pub use rechunk::{Rechunk, Rechunker, rechunk};

#[cfg(test)]
mod tests;
