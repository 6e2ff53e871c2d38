//! The first rows of a dataset, for its page: run through the same pipeline as a download
//! (as `tsv` with its header, `limit` at most [`PREVIEW_ROWS`]) and read back.

use std::sync::Arc;

use futures_util::StreamExt;

use crate::encode::text::read_field;
use crate::format::Format;
use crate::pipeline;
use crate::progress::Progress;
use crate::request::ExportRequest;
use crate::server::{ApiError, AppState};

/// Rows a preview shows at most.
pub const PREVIEW_ROWS: u64 = 20;

/// Bytes a preview reads at most: rows past them (a few huge values) are left out.
const PREVIEW_BYTES: usize = 512 * 1024;

/// What a preview shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The header line's names: the dataset's columns, or those `columns=` chose.
    pub columns: Vec<String>,
    /// Each row's values as text (invalid UTF-8 shown as U+FFFD); `None` is NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows were left out because the preview passed [`PREVIEW_BYTES`].
    pub cut: bool,
}

/// Runs `request` (built for the dataset from the page's query) as a preview.
pub async fn run(
    state: &AppState,
    dataset: &str,
    mut request: ExportRequest,
) -> Result<Preview, ApiError> {
    request.output.format = Format::Tsv;
    request.output.compression = None;
    request.output.csv.header = true;
    request.query.limit = Some(
        request
            .query
            .limit
            .map_or(PREVIEW_ROWS, |limit| limit.min(PREVIEW_ROWS)),
    );
    // The preview has its own bound, well under any sane `max_bytes`.
    let mut options = state.export().clone();
    options.limits.max_bytes = None;
    let mut chunks = pipeline::open(
        state.source(),
        &request.query,
        &request.output,
        &options,
        Arc::new(Progress::new()),
    )
    .await
    .map_err(|error| ApiError::open(dataset, error))?;
    let mut tsv = Vec::new();
    let mut cut = false;
    while let Some(chunk) = chunks.next().await {
        tsv.extend_from_slice(&chunk.map_err(|error| ApiError::stream(dataset, error))?);
        if tsv.len() > PREVIEW_BYTES {
            // Dropping the stream cancels the query.
            cut = true;
            break;
        }
    }
    Ok(read(&tsv, cut))
}

/// Reads the `tsv` bytes (whole lines only when `cut`: a partial last line is dropped).
fn read(tsv: &[u8], cut: bool) -> Preview {
    let mut lines = tsv.split(|&byte| byte == b'\n');
    let text =
        |field: Option<Vec<u8>>| field.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let columns = lines
        .next()
        .filter(|header| !header.is_empty())
        .map(|header| {
            header
                .split(|&byte| byte == b'\t')
                .map(|name| text(read_field(name)).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    let mut rows: Vec<Vec<Option<String>>> = lines
        .map(|line| {
            line.split(|&byte| byte == b'\t')
                .map(|field| text(read_field(field)))
                .collect()
        })
        .collect();
    // The text after the last newline: empty when the output was whole, a partial row when
    // it was cut.
    rows.pop();
    Preview { columns, rows, cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_reads_back_into_rows() {
        let preview = read(b"id\tnote\\tx\n1\t\\N\n2\ta\\nb\n", false);
        assert_eq!(preview.columns, ["id", "note\tx"]);
        assert_eq!(
            preview.rows,
            [
                vec![Some("1".to_owned()), None],
                vec![Some("2".to_owned()), Some("a\nb".to_owned())]
            ]
        );
    }

    #[test]
    fn a_cut_preview_drops_its_partial_row() {
        let preview = read(b"id\n1\n2\n3", true);
        assert_eq!(preview.rows.len(), 2);
        assert!(preview.cut);
    }

    #[test]
    fn no_rows_and_no_columns_read_as_empty() {
        assert_eq!(read(b"id\n", false).rows.len(), 0);
        assert!(read(b"", false).columns.is_empty());
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let preview = read(b"t\n\xff\n", false);
        assert_eq!(preview.rows[0][0].as_deref(), Some("\u{fffd}"));
    }
}
