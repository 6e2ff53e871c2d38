//! The simple scalar types' texts that are more than a number: uuid and bytea.
//!
//! Booleans and integers are written where [`Value`](super::Value) is matched; text-like
//! values (text, varchar, bpchar, name, json, jsonb) are their own text.

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn push_hex(byte: u8, out: &mut Vec<u8>) {
    out.push(HEX_DIGITS[usize::from(byte >> 4)]);
    out.push(HEX_DIGITS[usize::from(byte & 0xf)]);
}

/// `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`: lower-case hex in groups of 8-4-4-4-12.
pub fn write_uuid(bytes: &[u8; 16], out: &mut Vec<u8>) {
    for (index, &byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        push_hex(byte, out);
    }
}

/// `\x` and two lower-case hex digits per byte, as `byteaout` writes with
/// `bytea_output = hex`. Any bytes are a valid bytea.
pub fn write_bytea(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(2 + 2 * bytes.len());
    out.extend_from_slice(b"\\x");
    for &byte in bytes {
        push_hex(byte, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_grouped_lower_case_hex() {
        let bytes = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        let mut out = b"prefix:".to_vec();
        write_uuid(&bytes, &mut out);
        assert_eq!(out, b"prefix:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    }

    #[test]
    fn bytea_is_hex() {
        let mut out = Vec::new();
        write_bytea(&[0x00, 0xff, b'\\', b'a'], &mut out);
        assert_eq!(out, b"\\x00ff5c61");
        out.clear();
        write_bytea(&[], &mut out);
        assert_eq!(out, b"\\x");
    }
}
