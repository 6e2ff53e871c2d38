//! What one export is, before anything runs: the query and what the request adds to it
//! (parameters, columns, limit, key, resume point), what it writes (format and options),
//! and which engine writes it.
//!
//! A leaf of the crate: the request parser, the config file, the pipeline and the sources
//! all speak these types, and they depend on none of those.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::encode::{CsvOptionsError, CsvSettings};
use crate::format::{Compression, Format};

/// The query of one export and what the request adds to it.
#[derive(Debug, Clone, Default)]
pub struct ExportQuery {
    /// The dataset's query, with `$1`, `$2`, ... for its parameters.
    pub sql: String,
    /// Values for `$1`, `$2`, ..., in order, as text the declared types' input functions
    /// parse. Always bound, never pasted into the SQL.
    pub params: Vec<BoundParam>,
    /// Only these columns, in this order.
    pub columns: Option<Vec<String>>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// The unique column the export is ordered by. With a key the whole export is read in
    /// key order (so `limit` is repeatable and a broken export can be resumed), and the
    /// keys are checked to increase strictly as they stream.
    pub key: Option<String>,
    /// Only the rows whose `key` column is greater than this value (needs `key`).
    pub after: Option<String>,
    /// The database role the export runs as (`SET LOCAL ROLE`, inside its transaction), so
    /// that the database's grants and row-level security decide what it sees; `None`: the
    /// connection's own role.
    pub role: Option<String>,
}

/// A parameter value for the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundParam {
    pub name: String,
    /// The declared PostgreSQL type, e.g. `timestamptz`, or empty for the server to infer
    /// from the query.
    pub type_name: String,
    pub value: String,
}

/// Which columns rowpipe formats natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Formatting {
    /// Every column whose type and session settings rowpipe reproduces exactly.
    #[default]
    Native,
    /// Every column by the server, in its text (or JSON) form.
    Server,
}

/// Who turns rows into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// rowpipe decodes PostgreSQL's binary COPY and formats every value itself: every
    /// format and option, and less work for the database.
    #[default]
    Typed,
    /// PostgreSQL's own `COPY ... (FORMAT csv | text)` output, passed through: `csv` and
    /// `tsv` with their default options only.
    Copy,
}

impl Engine {
    pub const NAMES: &'static str = "typed, copy";
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Typed => "typed",
            Engine::Copy => "copy",
        })
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "typed" => Ok(Engine::Typed),
            "copy" => Ok(Engine::Copy),
            _ => Err(format!(
                "unknown engine {name:?} (supported: {})",
                Engine::NAMES
            )),
        }
    }
}

/// What one export writes: the format and its options, and the compression around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    /// Compress the format's bytes into a gzip or zstd file of them; `None` writes them as
    /// they are.
    pub compression: Option<Compression>,
    /// CSV's options; `header` applies to `tsv` too, the rest to `csv` alone.
    pub csv: CsvSettings,
    /// Let the server format every column (the typed engine's reference in tests).
    pub formatting: Formatting,
}

impl Output {
    /// `format` with its default options.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            compression: None,
            csv: CsvSettings::default(),
            formatting: Formatting::Native,
        }
    }

    /// Why `engine` cannot write this output of `query`, if it cannot.
    pub(crate) fn check_engine(
        &self,
        engine: Engine,
        query: &ExportQuery,
    ) -> Result<(), OutputError> {
        self.csv
            .options
            .validate()
            .map_err(OutputError::CsvOptions)?;
        if engine == Engine::Copy {
            let copyable = matches!(self.format, Format::Csv | Format::Tsv)
                && self.csv == CsvSettings::default();
            let plain = query.params.is_empty()
                && query.columns.is_none()
                && query.limit.is_none()
                && query.after.is_none();
            if !(copyable && plain) {
                return Err(OutputError::NeedsTypedEngine);
            }
        }
        Ok(())
    }
}

/// An output that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    #[error("{0}")]
    CsvOptions(CsvOptionsError),
    #[error(
        "the copy engine writes csv and tsv with default options only, and no parameters, \
         columns, limit or after; use the typed engine"
    )]
    NeedsTypedEngine,
}
