//! Byte-string assertions that stay readable for large outputs.
//!
//! `assert_eq!` on two multi-megabyte CSV exports prints both in full, which buries
//! the one differing byte. [`assert_bytes_eq`] instead reports where the inputs first
//! differ: the line number and column, that line from each side, and the sizes.

/// Longest excerpt of a line shown in a mismatch report, in bytes.
const MAX_EXCERPT_BYTES: usize = 300;

/// How much of a long line before the first difference the excerpt shows.
const CONTEXT_BEFORE_BYTES: usize = 100;

/// Asserts that two byte strings are equal; on mismatch, panics with the first
/// differing line of each side (escaped with `{:?}`) rather than the whole inputs.
///
/// ```ignore
/// assert_bytes_eq(&rowpipe_output, &psql_output);
/// assert_bytes_eq(&response.body, "a,b\n1,2\n");
/// ```
#[track_caller]
pub fn assert_bytes_eq(left: impl AsRef<[u8]>, right: impl AsRef<[u8]>) {
    let (left, right) = (left.as_ref(), right.as_ref());
    if left != right {
        panic!("{}", describe_mismatch(left, right));
    }
}

fn describe_mismatch(left: &[u8], right: &[u8]) -> String {
    let offset = first_difference(left, right);
    // Both sides agree up to `offset`, so the line containing it starts at the same
    // position, and has the same number, in both.
    let common = &left[..offset];
    let line_start = common
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    let line_number = common.iter().filter(|&&byte| byte == b'\n').count() + 1;
    let column = offset - line_start + 1;
    [
        format!("byte strings differ at byte {offset} (line {line_number}, column {column})"),
        format!(
            " left line {line_number}: {}",
            line_excerpt(left, line_start, offset)
        ),
        format!(
            "right line {line_number}: {}",
            line_excerpt(right, line_start, offset)
        ),
        format!(" left: {} bytes, {} lines", left.len(), count_lines(left)),
        format!("right: {} bytes, {} lines", right.len(), count_lines(right)),
    ]
    .join("\n")
}

/// The index of the first differing byte, or the shorter length if one side is a
/// prefix of the other.
fn first_difference(left: &[u8], right: &[u8]) -> usize {
    left.iter()
        .zip(right)
        .position(|(l, r)| l != r)
        .unwrap_or_else(|| left.len().min(right.len()))
}

/// The line starting at `line_start`, newline included (so a missing or extra `\r`
/// or `\n` shows), escaped. A long line is cut to a window around `difference`.
fn line_excerpt(bytes: &[u8], line_start: usize, difference: usize) -> String {
    if line_start >= bytes.len() {
        return "<end of input>".to_owned();
    }
    let line_end = bytes[line_start..]
        .iter()
        .position(|&byte| byte == b'\n')
        .map_or(bytes.len(), |newline| line_start + newline + 1);
    let start = line_start.max(difference.saturating_sub(CONTEXT_BEFORE_BYTES));
    let end = line_end.min(start + MAX_EXCERPT_BYTES);
    let mut excerpt = format!("{:?}", String::from_utf8_lossy(&bytes[start..end]));
    if start > line_start {
        excerpt.insert_str(0, "...");
    }
    if end < line_end {
        excerpt.push_str("...");
    }
    excerpt
}

/// Lines as a text editor counts them: a final line without `\n` still counts.
fn count_lines(bytes: &[u8]) -> usize {
    let newlines = bytes.iter().filter(|&&byte| byte == b'\n').count();
    newlines + usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}
