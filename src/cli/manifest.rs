//! `rowpipe export -o FILE --manifest FILE.json`: a proof, outside the data, that `FILE` is
//! complete: its rows, bytes and SHA-256, and what produced it.
//!
//! The manifest is written only after the data file was renamed into place, to its own
//! part file first and renamed in turn, so a manifest exists only beside a complete file
//! (an older manifest beside an older complete file is left as it was when an export
//! fails). The SHA-256 is of the file as it lies on disk, read back in bounded pieces,
//! so it covers the rows a resumed export kept as well as the ones it appended.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

/// What a manifest says.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// The data file's name, as given with `-o`.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    pub format: String,
    /// `gzip`, `zstd`, or `null`.
    pub compression: Option<String>,
    /// The format's options: header, delimiter, null, quote, excel.
    pub options: BTreeMap<&'static str, serde_json::Value>,
    /// The configured dataset's name, when the export is of one.
    pub dataset: Option<String>,
    /// The query that ran (a table's `SELECT * FROM ...`), before rowpipe's wrapping.
    pub query: String,
    pub params: BTreeMap<String, String>,
    pub columns: Option<Vec<String>>,
    pub limit: Option<u64>,
    pub key: Option<String>,
    /// The database, shown without its password.
    pub database: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: String,
    pub rowpipe: &'static str,
}

/// Writes `manifest` to `path` through `path.part`, synced, then renamed into place.
pub fn write(path: &Path, manifest: &Manifest) -> io::Result<()> {
    let part = rowpipe::sink::file::part_path(path);
    let mut text = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    text.push(b'\n');
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&part, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    written
}
