//! JSON strings as PostgreSQL's `escape_json` writes them (src/backend/utils/adt/json.c),
//! so that rowpipe's JSON output matches `to_json`/`row_to_json` byte for byte.
//!
//! Only `"`, `\` and the control characters below U+0020 are escaped: the usual short forms
//! where JSON has one, `\u00XX` (lower-case hex) otherwise. Everything else, `/` and all
//! non-ASCII text included, is copied as it is.

/// Whether a byte needs escaping inside a JSON string.
#[inline]
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Writes `text` as a JSON string, quotes included.
pub fn write_json_string(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut rest = text;
    while let Some(found) = rest.iter().position(|&byte| needs_escape(byte)) {
        out.extend_from_slice(&rest[..found]);
        let byte = rest[found];
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
            }
        }
        rest = &rest[found + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Whether a number's text is a JSON number. PostgreSQL's numbers are, except `NaN` and
/// the infinities, which `to_json` therefore writes as strings.
#[inline]
pub fn is_json_number(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    digits.first().is_some_and(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        write_json_string(text.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_postgres() {
        assert_eq!(escaped(""), r#""""#);
        assert_eq!(escaped("plain / ünï ✓"), r#""plain / ünï ✓""#);
        assert_eq!(escaped("say \"hi\" \\"), r#""say \"hi\" \\""#);
        assert_eq!(escaped("a\nb\rc\td\u{8}e\u{c}f"), r#""a\nb\rc\td\be\ff""#);
        assert_eq!(escaped("\u{1}\u{1f}\u{7f}"), "\"\\u0001\\u001f\u{7f}\"");
    }

    #[test]
    fn special_numbers_are_not_json_numbers() {
        for number in ["0", "-0", "1.5", "-12", "1e+20", "5e-324"] {
            assert!(is_json_number(number.as_bytes()), "{number}");
        }
        for special in ["NaN", "Infinity", "-Infinity", "", "-"] {
            assert!(!is_json_number(special.as_bytes()), "{special}");
        }
    }
}
