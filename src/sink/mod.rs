//! Sinks: where the chunks end up. Each one delivers a stream of byte chunks and makes an
//! upstream failure look like a failure to whoever receives the bytes.

pub mod digest;
pub mod file;
#[cfg(feature = "server")]
pub mod http;
pub mod stdout;
mod writer;

pub use file::{PartMode, write_to_file};
#[cfg(feature = "server")]
pub use http::{DownloadEnd, DownloadLog, EndHook, http_body};
pub use stdout::{StdoutOutcome, write_to_stdout};
pub use writer::SinkError;
