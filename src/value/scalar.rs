//! The simple scalar types: bool, the integers, oid, uuid, bytea, json and jsonb.
//!
//! Their binary forms are fixed-size integers or bytes with no settings involved, except
//! bytea, whose text form here is the `hex` one (`bytea_output = hex`, the default).
//! Text-like types (text, varchar, bpchar, name) need no writer: their binary form *is*
//! their text.

use super::{Problem, ValueError, fixed};

/// `t` or `f`, as `boolout` writes.
pub fn write_bool(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    match fixed::<1>("boolean", raw)? {
        [0] => out.push(b'f'),
        [1] => out.push(b't'),
        _ => {
            return Err(ValueError::new("boolean", Problem::OutOfRange("the byte")));
        }
    }
    Ok(())
}

/// `true` or `false`, as `to_json` writes a boolean.
pub fn write_bool_json(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let start = out.len();
    write_bool(raw, out)?;
    let word: &[u8] = if out[start] == b't' {
        b"true"
    } else {
        b"false"
    };
    out.truncate(start);
    out.extend_from_slice(word);
    Ok(())
}

pub fn write_int2(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let value = i16::from_be_bytes(fixed("smallint", raw)?);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    Ok(())
}

pub fn write_int4(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let value = i32::from_be_bytes(fixed("integer", raw)?);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    Ok(())
}

pub fn write_int8(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let value = i64::from_be_bytes(fixed("bigint", raw)?);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    Ok(())
}

/// An `oid`, unsigned.
pub fn write_oid(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let value = u32::from_be_bytes(fixed("oid", raw)?);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    Ok(())
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn push_hex(byte: u8, out: &mut Vec<u8>) {
    out.push(HEX_DIGITS[usize::from(byte >> 4)]);
    out.push(HEX_DIGITS[usize::from(byte & 0xf)]);
}

/// `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`: lower-case hex in groups of 8-4-4-4-12.
pub fn write_uuid(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let bytes: [u8; 16] = fixed("uuid", raw)?;
    for (index, byte) in bytes.into_iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        push_hex(byte, out);
    }
    Ok(())
}

/// `\x` and two lower-case hex digits per byte, as `byteaout` writes with
/// `bytea_output = hex`. Any bytes are a valid bytea.
pub fn write_bytea(raw: &[u8], out: &mut Vec<u8>) {
    out.reserve(2 + 2 * raw.len());
    out.extend_from_slice(b"\\x");
    for &byte in raw {
        push_hex(byte, out);
    }
}

/// The text of a `jsonb`: its binary form is a version byte (1) and then the very text
/// `jsonb_out` writes.
pub fn jsonb_text(raw: &[u8]) -> Result<&[u8], ValueError> {
    match raw.split_first() {
        Some((1, text)) => Ok(text),
        Some(_) => Err(ValueError::new(
            "jsonb",
            Problem::OutOfRange("the format version"),
        )),
        None => Err(ValueError::new("jsonb", Problem::Truncated)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(
        write: fn(&[u8], &mut Vec<u8>) -> Result<(), ValueError>,
        raw: &[u8],
    ) -> Result<String, ValueError> {
        let mut out = b"prefix:".to_vec();
        write(raw, &mut out)?;
        Ok(String::from_utf8(out)
            .expect("ASCII")
            .replacen("prefix:", "", 1))
    }

    #[test]
    fn booleans() {
        assert_eq!(written(write_bool, &[1]).unwrap(), "t");
        assert_eq!(written(write_bool, &[0]).unwrap(), "f");
        assert_eq!(written(write_bool_json, &[1]).unwrap(), "true");
        assert_eq!(written(write_bool_json, &[0]).unwrap(), "false");
        assert!(written(write_bool, &[2]).is_err());
        assert!(written(write_bool_json, &[]).is_err());
    }

    #[test]
    fn integers_at_their_limits() {
        assert_eq!(
            written(write_int2, &i16::MIN.to_be_bytes()).unwrap(),
            "-32768"
        );
        assert_eq!(
            written(write_int4, &i32::MAX.to_be_bytes()).unwrap(),
            "2147483647"
        );
        assert_eq!(
            written(write_int8, &i64::MIN.to_be_bytes()).unwrap(),
            "-9223372036854775808"
        );
        assert_eq!(written(write_int8, &0i64.to_be_bytes()).unwrap(), "0");
        assert_eq!(
            written(write_oid, &u32::MAX.to_be_bytes()).unwrap(),
            "4294967295"
        );
        let error = written(write_int4, &[0, 1]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid binary integer value: expected 4 bytes, found 2"
        );
    }

    #[test]
    fn uuids_are_grouped_lower_case_hex() {
        let raw = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        assert_eq!(
            written(write_uuid, &raw).unwrap(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        assert!(written(write_uuid, &raw[..15]).is_err());
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

    #[test]
    fn jsonb_strips_its_version_byte() {
        assert_eq!(jsonb_text(b"\x01{\"a\": 1}").unwrap(), b"{\"a\": 1}");
        assert!(jsonb_text(b"\x02{}").is_err());
        assert!(jsonb_text(b"").is_err());
    }
}
