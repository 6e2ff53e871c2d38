//! PostgreSQL values: from each type's binary send format (what `COPY ... (FORMAT binary)`
//! and binary result columns carry) to the exact bytes PostgreSQL's own output function
//! would have written.
//!
//! Every writer here has the same shape: it reads one non-NULL field's raw bytes, appends
//! the text to `out`, and returns a [`ValueError`] instead of panicking when the bytes are
//! not a valid value of the type. Writers never depend on anything but their arguments:
//! the session settings that change PostgreSQL's output (time zone, date style) are passed
//! in, and settings the writers do not reproduce are the caller's cue to let the server
//! format that column instead (see [`crate::value::kind::SessionFormat::supports`]).

pub mod array;
pub mod datetime;
pub mod float;
pub mod json;
pub mod kind;
pub mod numeric;
pub mod scalar;

use std::fmt;

/// A field's bytes are not a valid binary value of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid binary {type_name} value: {problem}")]
pub struct ValueError {
    /// The PostgreSQL type name, e.g. `"numeric"`.
    pub type_name: &'static str,
    pub problem: Problem,
}

/// What is wrong with a binary value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The value must be exactly this many bytes long.
    Length { expected: usize, found: usize },
    /// The value is shorter than its own header says.
    Truncated,
    /// A field of the value is out of its range, e.g. a numeric digit above 9999.
    OutOfRange(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Length { expected, found } => {
                write!(f, "expected {expected} bytes, found {found}")
            }
            Problem::Truncated => f.write_str("it ends early"),
            Problem::OutOfRange(what) => write!(f, "{what} is out of range"),
        }
    }
}

impl ValueError {
    pub(crate) fn new(type_name: &'static str, problem: Problem) -> Self {
        Self { type_name, problem }
    }
}

/// Reads a fixed-size value, or says why not.
pub(crate) fn fixed<const N: usize>(
    type_name: &'static str,
    raw: &[u8],
) -> Result<[u8; N], ValueError> {
    raw.try_into().map_err(|_| {
        ValueError::new(
            type_name,
            Problem::Length {
                expected: N,
                found: raw.len(),
            },
        )
    })
}
