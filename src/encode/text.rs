//! PostgreSQL's text COPY format with a tab delimiter, rowpipe's `tsv`: the bytes
//! `COPY ... TO STDOUT (FORMAT text, HEADER)` writes for the same values.
//!
//! The rules, as in PostgreSQL's `CopyAttributeOutText` (src/backend/commands/copyto.c):
//! NULL is `\N`; a backslash is doubled; backspace, form feed, newline, carriage return,
//! tab and vertical tab become `\b`, `\f`, `\n`, `\r`, `\t` and `\v`; every other byte,
//! other control characters and all of UTF-8 included, is copied as it is. Nothing is
//! ever quoted. Fields are separated by a tab and rows end with `\n`; the header line's
//! names are escaped like values.

/// Written for NULL.
pub const NULL: &[u8] = b"\\N";

/// The escape letter for a byte that needs one, or 0.
const fn escape_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x0b] = b'v';
    table[b'\\' as usize] = b'\\';
    table
}

static ESCAPES: [u8; 256] = escape_table();

/// Writes one non-NULL field, escaped.
#[inline]
pub fn write_field(value: &[u8], out: &mut Vec<u8>) {
    let mut rest = value;
    while let Some(found) = rest
        .iter()
        .position(|&byte| ESCAPES[usize::from(byte)] != 0)
    {
        out.extend_from_slice(&rest[..found]);
        out.push(b'\\');
        out.push(ESCAPES[usize::from(rest[found])]);
        rest = &rest[found + 1..];
    }
    out.extend_from_slice(rest);
}

/// One field of a line as [`write_field`] wrote it, read back: `None` for NULL. For
/// rowpipe's own readers of its output (the web page's preview); as in PostgreSQL's
/// `COPY FROM`, a backslash before any other byte stands for that byte.
pub fn read_field(field: &[u8]) -> Option<Vec<u8>> {
    if field == NULL {
        return None;
    }
    let mut value = Vec::with_capacity(field.len());
    let mut bytes = field.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            value.push(byte);
            continue;
        }
        match bytes.next() {
            Some(letter) => value.push(match letter {
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 0x0b,
                other => other,
            }),
            None => value.push(b'\\'),
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_field(value, &mut out);
        out
    }

    #[test]
    fn escapes_like_copy_text() {
        assert_eq!(
            escaped(b"plain text, \"quoted\""),
            b"plain text, \"quoted\""
        );
        assert_eq!(escaped(b"a\tb\nc\rd\\e"), b"a\\tb\\nc\\rd\\\\e");
        assert_eq!(escaped(b"\x08\x0b\x0c"), b"\\b\\v\\f");
        assert_eq!(escaped(b"\x01\x1f\x7f"), b"\x01\x1f\x7f");
        assert_eq!(escaped(b"\\N"), b"\\\\N");
        assert_eq!(escaped("ünï ✓".as_bytes()), "ünï ✓".as_bytes());
        assert_eq!(escaped(b""), b"");
    }

    #[test]
    fn fields_read_back_as_written() {
        for value in [
            &b"plain"[..],
            b"",
            b"a\tb\nc\rd\\e\x08\x0b\x0c",
            b"\\N",
            b"\\",
            "ünï ✓".as_bytes(),
        ] {
            assert_eq!(read_field(&escaped(value)).as_deref(), Some(value));
        }
        assert_eq!(read_field(NULL), None);
    }
}
