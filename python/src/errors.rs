//! Failures as Python exceptions: one [`Failure`] for everything the extension can report,
//! turned into the `rowpipe.errors` class for its kind (with `sqlstate`) in one place.

use pyo3::prelude::*;
use rowpipe::ErrorKind;

/// Something an export could not do.
#[derive(Debug)]
pub enum Failure {
    /// A failure of the engine, with its kind and SQLSTATE.
    Engine(rowpipe::Error),
    /// An argument the export cannot take.
    Invalid(String),
    /// Writing a file failed.
    Write(String),
    /// The runtime could not start.
    Config(String),
}

impl From<rowpipe::Error> for Failure {
    fn from(error: rowpipe::Error) -> Self {
        Failure::Engine(error)
    }
}

/// The class of `rowpipe.errors` for each kind.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "InvalidRequest",
        ErrorKind::Unavailable => "Unavailable",
        ErrorKind::Query => "QueryError",
        ErrorKind::Timeout => "QueryTimeout",
        ErrorKind::RecoveryConflict => "RecoveryConflict",
        ErrorKind::Limit => "LimitExceeded",
        ErrorKind::InvalidKey => "InvalidKey",
        ErrorKind::Malformed => "Malformed",
        ErrorKind::Write => "WriteError",
        ErrorKind::Config => "ConfigError",
        _ => "Error",
    }
}

impl Failure {
    /// The Python exception: `rowpipe.errors.<Class>(message, sqlstate)`.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let (class, message, sqlstate) = match self {
            Failure::Engine(error) => (
                class_name(error.kind()),
                error.to_string(),
                error.sqlstate().map(str::to_owned),
            ),
            Failure::Invalid(message) => ("InvalidRequest", message, None),
            Failure::Write(message) => ("WriteError", message, None),
            Failure::Config(message) => ("ConfigError", message, None),
        };
        let made = py
            .import("rowpipe.errors")
            .and_then(|errors| errors.getattr(class))
            .and_then(|class| class.call1((message, sqlstate)));
        match made {
            Ok(exception) => PyErr::from_value(exception),
            Err(error) => error,
        }
    }
}

/// A `Result` whose error becomes a Python exception.
pub trait IntoPy<T> {
    /// The value, or the failure as its exception.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: Into<Failure>> IntoPy<T> for Result<T, E> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| error.into().into_pyerr(py))
    }
}
