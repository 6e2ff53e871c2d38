//! The output formats rowpipe can produce, the compressions it can wrap them in, and what
//! each one is called on the wire.
//!
//! A format is chosen by a URL suffix (`/datasets/orders.csv`) or by `--format`, a
//! compression by a second suffix (`orders.csv.gz`), `Accept-Encoding`, `-o FILE.zst` or
//! `--compress`; this module is the one place that maps those names to a format or a
//! compression and either one to its HTTP metadata.

use std::fmt;
use std::str::FromStr;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values with a header line, byte for byte as PostgreSQL's
    /// `COPY ... (FORMAT csv, HEADER)` writes them.
    Csv,
    /// Tab-separated values with a header line, as `COPY ... (FORMAT text, HEADER)` writes
    /// them: `\N` for NULL, backslash escapes.
    Tsv,
    /// JSON Lines: one object per row, as `row_to_json` writes it.
    Jsonl,
    /// One JSON array of the same objects.
    Json,
}

impl Format {
    /// Every supported format, in the order they are listed to users.
    pub const ALL: &'static [Format] = &[Format::Csv, Format::Tsv, Format::Jsonl, Format::Json];

    /// The file-name extension and URL suffix, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Jsonl => "jsonl",
            Format::Json => "json",
        }
    }

    /// The `Content-Type` of a download in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Tsv => "text/tab-separated-values; charset=utf-8",
            Format::Jsonl => "application/x-ndjson",
            Format::Json => "application/json",
        }
    }

    /// Whether values are written as JSON (`to_json`) rather than as PostgreSQL's text.
    pub fn is_json(self) -> bool {
        matches!(self, Format::Jsonl | Format::Json)
    }

    /// The supported extensions as one human-readable list, e.g. for error messages.
    pub fn supported_list() -> String {
        Format::ALL
            .iter()
            .map(|format| format.extension())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// The name given is not a supported format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported format {given:?} (supported: {})",
    Format::supported_list()
)]
pub struct UnknownFormat {
    pub given: String,
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .iter()
            .copied()
            .find(|format| format.extension().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownFormat {
                given: name.to_owned(),
            })
    }
}

/// A compression of a download's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (RFC 1952): every client and tool reads it.
    Gzip,
    /// Zstandard (RFC 8878): faster, and smaller files, where the client reads it.
    Zstd,
}

impl Compression {
    /// Every supported compression, in order of preference when a client accepts several
    /// equally: zstd compresses faster and smaller.
    pub const ALL: &'static [Compression] = &[Compression::Zstd, Compression::Gzip];

    /// The name used in `--compress`, config keys and log lines.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The file-name extension and URL suffix, without the dot: `orders.csv.gz`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }

    /// The `Content-Type` of a compressed file served as itself (`orders.csv.gz`).
    pub fn content_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/gzip",
            Compression::Zstd => "application/zstd",
        }
    }

    /// The compression a file-name extension (without the dot) stands for, in any case.
    pub fn from_extension(extension: &str) -> Option<Compression> {
        Compression::ALL
            .iter()
            .copied()
            .find(|compression| compression.extension().eq_ignore_ascii_case(extension))
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .iter()
            .copied()
            .find(|compression| compression.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unknown compression {name:?} (supported: gzip, zstd, none)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_extensions_case_insensitively() {
        assert_eq!("csv".parse::<Format>(), Ok(Format::Csv));
        assert_eq!("CSV".parse::<Format>(), Ok(Format::Csv));
        assert_eq!("jsonl".parse::<Format>(), Ok(Format::Jsonl));
        assert_eq!("Json".parse::<Format>(), Ok(Format::Json));
        assert_eq!("tsv".parse::<Format>(), Ok(Format::Tsv));
    }

    #[test]
    fn compressions_by_name_and_extension() {
        assert_eq!("GZIP".parse::<Compression>(), Ok(Compression::Gzip));
        assert_eq!("zstd".parse::<Compression>(), Ok(Compression::Zstd));
        assert!("brotli".parse::<Compression>().is_err());
        assert_eq!(Compression::from_extension("GZ"), Some(Compression::Gzip));
        assert_eq!(Compression::from_extension("zst"), Some(Compression::Zstd));
        assert_eq!(Compression::from_extension("csv"), None);
    }

    #[test]
    fn unknown_format_lists_the_supported_ones() {
        let error = "xlsx".parse::<Format>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unsupported format \"xlsx\" (supported: csv, tsv, jsonl, json)"
        );
    }
}
