//! Arrays of any dimension, written as `array_out` writes them (`{1,2}`, `{{a,b},{c,d}}`,
//! `[0:1]={x,y}`) or as `to_json` does (`[1,2]`, `[["a","b"],["c","d"]]`).
//!
//! The binary form is an `i32` dimension count (0 for an empty array), an `i32` flag that
//! says whether any element is NULL, the element type's `u32` OID, then per dimension an
//! `i32` length and an `i32` lower bound, then every element in row-major order as an `i32`
//! length (-1 for NULL) and that many bytes of the element type's binary form.
//!
//! That layout is PostgreSQL's, the one source with arrays, but the elements are values
//! like any other: [`ArrayRef`] carries the source's [`Elements`], which decode each
//! element into a [`Value`](super::Value) and write it with the same writers as a column
//! of its type.

use std::fmt;

use super::kind::{SessionFormat, ValueKind};
use super::{Problem, ValueError};

/// An array's element type: what its elements are, and how the source writes one
/// non-NULL element's bytes, decoded into a value of that type, as text or as JSON (one
/// function each, so that the type is chosen once per array, not once per element).
pub struct Elements {
    pub kind: ValueKind,
    pub write_text: ElementWriter,
    pub write_json: ElementWriter,
}

/// Writes one non-NULL element's bytes.
pub type ElementWriter = fn(&[u8], &SessionFormat, &mut Vec<u8>) -> Result<(), ValueError>;

/// An array field: its bytes, checked when written, and its element type.
#[derive(Clone, Copy)]
pub struct ArrayRef<'a> {
    raw: &'a [u8],
    elements: &'static Elements,
}

impl<'a> ArrayRef<'a> {
    /// An array in the binary layout above, of `elements`.
    pub fn new(raw: &'a [u8], elements: &'static Elements) -> Self {
        Self { raw, elements }
    }

    /// Writes `array_out`'s text.
    pub fn write_text(&self, session: &SessionFormat, out: &mut Vec<u8>) -> Result<(), ValueError> {
        let write = self.elements.write_text;
        Array::parse(self.raw)?.write_text(out, &mut |raw, out| write(raw, session, out))
    }

    /// Writes `to_json`'s form.
    pub fn write_json(&self, session: &SessionFormat, out: &mut Vec<u8>) -> Result<(), ValueError> {
        let write = self.elements.write_json;
        Array::parse(self.raw)?.write_json(out, &mut |raw, out| write(raw, session, out))
    }
}

impl PartialEq for ArrayRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw && self.elements.kind == other.elements.kind
    }
}

impl fmt::Debug for ArrayRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayRef")
            .field("element", &self.elements.kind)
            .field("bytes", &self.raw.len())
            .finish()
    }
}

/// PostgreSQL's `MAXDIM`: no array has more dimensions.
const MAX_DIMENSIONS: usize = 6;

const TYPE_NAME: &str = "array";

/// A parsed binary array, borrowing its elements.
#[derive(Debug, Clone, Copy)]
struct Array<'a> {
    /// Length and lower bound of each dimension; the first `rank` are used.
    dimensions: [(i32, i32); MAX_DIMENSIONS],
    rank: usize,
    /// The elements' length-prefixed binary forms, all of them and nothing after.
    elements: &'a [u8],
}

/// Writes one non-NULL element, for the structure's walk.
type WriteElement<'w> = &'w mut dyn FnMut(&[u8], &mut Vec<u8>) -> Result<(), ValueError>;

impl<'a> Array<'a> {
    /// Reads the header and checks that the elements are exactly what it announces.
    fn parse(raw: &'a [u8]) -> Result<Self, ValueError> {
        let mut reader = Reader(raw);
        let rank = reader.i32()?;
        let _has_nulls = reader.i32()?;
        let _element_type = reader.i32()?;
        let rank = usize::try_from(rank)
            .ok()
            .filter(|&rank| rank <= MAX_DIMENSIONS)
            .ok_or(out_of_range("the number of dimensions"))?;
        let mut dimensions = [(0, 1); MAX_DIMENSIONS];
        let mut count: usize = if rank == 0 { 0 } else { 1 };
        for dimension in &mut dimensions[..rank] {
            let length = reader.i32()?;
            let lower_bound = reader.i32()?;
            let length_usize =
                usize::try_from(length).map_err(|_| out_of_range("a dimension's length"))?;
            lower_bound
                .checked_add(length)
                .ok_or(out_of_range("a dimension's upper bound"))?;
            count = count
                .checked_mul(length_usize)
                .ok_or(out_of_range("the number of elements"))?;
            *dimension = (length, lower_bound);
        }
        let array = Array {
            dimensions,
            rank,
            elements: reader.0,
        };
        // Walk the elements once, so that writing can trust the structure.
        let mut elements = array.element_reader();
        for _ in 0..count {
            elements.next_element()?;
        }
        if !elements.0.is_empty() {
            return Err(out_of_range("the data after the last element"));
        }
        Ok(array)
    }

    /// Writes `array_out`'s text: element texts are quoted when they are empty, spell
    /// `NULL`, or contain a quote, backslash, brace, comma or white space; inside quotes a
    /// quote or backslash gets a backslash before it.
    fn write_text(
        &self,
        out: &mut Vec<u8>,
        write_element: WriteElement<'_>,
    ) -> Result<(), ValueError> {
        if self.rank == 0 {
            out.extend_from_slice(b"{}");
            return Ok(());
        }
        let dimensions = &self.dimensions[..self.rank];
        if dimensions.iter().any(|&(_, lower_bound)| lower_bound != 1) {
            for &(length, lower_bound) in dimensions {
                out.push(b'[');
                push_i64(lower_bound.into(), out);
                out.push(b':');
                // An empty dimension's upper bound is below its lower one.
                push_i64(i64::from(lower_bound) + i64::from(length) - 1, out);
                out.push(b']');
            }
            out.push(b'=');
        }
        let mut scratch = Vec::new();
        let mut write_quoted = |raw: &[u8], out: &mut Vec<u8>| {
            let start = out.len();
            write_element(raw, out)?;
            if needs_quotes(&out[start..]) {
                scratch.clear();
                scratch.extend_from_slice(&out[start..]);
                out.truncate(start);
                out.push(b'"');
                for &byte in &scratch {
                    if byte == b'"' || byte == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(byte);
                }
                out.push(b'"');
            }
            Ok(())
        };
        let style = Style {
            open: b'{',
            close: b'}',
            null: b"NULL",
        };
        self.write_nested(
            &mut self.element_reader(),
            0,
            &style,
            out,
            &mut write_quoted,
        )
    }

    /// Writes `to_json`'s form: nested JSON arrays, NULL as `null`, lower bounds ignored.
    /// `write_element` must write each element's JSON.
    fn write_json(
        &self,
        out: &mut Vec<u8>,
        write_element: WriteElement<'_>,
    ) -> Result<(), ValueError> {
        if self.rank == 0 {
            out.extend_from_slice(b"[]");
            return Ok(());
        }
        let style = Style {
            open: b'[',
            close: b']',
            null: b"null",
        };
        self.write_nested(&mut self.element_reader(), 0, &style, out, write_element)
    }

    fn write_nested(
        &self,
        elements: &mut Reader<'a>,
        depth: usize,
        style: &Style,
        out: &mut Vec<u8>,
        write_element: WriteElement<'_>,
    ) -> Result<(), ValueError> {
        out.push(style.open);
        let (length, _) = self.dimensions[depth];
        for index in 0..length {
            if index > 0 {
                out.push(b',');
            }
            if depth + 1 < self.rank {
                self.write_nested(elements, depth + 1, style, out, write_element)?;
            } else {
                match elements.next_element()? {
                    Some(raw) => write_element(raw, out)?,
                    None => out.extend_from_slice(style.null),
                }
            }
        }
        out.push(style.close);
        Ok(())
    }

    fn element_reader(&self) -> Reader<'a> {
        Reader(self.elements)
    }
}

/// The brackets and NULL of a written array.
struct Style {
    open: u8,
    close: u8,
    null: &'static [u8],
}

/// `array_out`'s rule for when an element's text needs quotes.
fn needs_quotes(text: &[u8]) -> bool {
    text.is_empty()
        || text.eq_ignore_ascii_case(b"NULL")
        || text.iter().any(|&byte| {
            matches!(
                byte,
                b'"' | b'\\' | b'{' | b'}' | b',' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
            )
        })
}

fn push_i64(value: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn out_of_range(what: &'static str) -> ValueError {
    ValueError::new(TYPE_NAME, Problem::OutOfRange(what))
}

/// Big-endian reads from the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ValueError> {
        if self.0.len() < n {
            return Err(ValueError::new(TYPE_NAME, Problem::Truncated));
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    fn i32(&mut self) -> Result<i32, ValueError> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The next element's bytes, `None` for NULL.
    fn next_element(&mut self) -> Result<Option<&'a [u8]>, ValueError> {
        match self.i32()? {
            -1 => Ok(None),
            length => {
                let length =
                    usize::try_from(length).map_err(|_| out_of_range("an element's length"))?;
                self.take(length).map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary array of text elements with the given dimensions.
    fn binary(dimensions: &[(i32, i32)], elements: &[Option<&str>]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(dimensions.len() as i32).to_be_bytes());
        raw.extend_from_slice(&(elements.iter().any(Option::is_none) as i32).to_be_bytes());
        raw.extend_from_slice(&25u32.to_be_bytes());
        for &(length, lower_bound) in dimensions {
            raw.extend_from_slice(&length.to_be_bytes());
            raw.extend_from_slice(&lower_bound.to_be_bytes());
        }
        for element in elements {
            match element {
                None => raw.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(text) => {
                    raw.extend_from_slice(&(text.len() as i32).to_be_bytes());
                    raw.extend_from_slice(text.as_bytes());
                }
            }
        }
        raw
    }

    fn copy_text(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
        out.extend_from_slice(raw);
        Ok(())
    }

    fn quote_json(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
        out.push(b'"');
        out.extend_from_slice(raw);
        out.push(b'"');
        Ok(())
    }

    fn text_of(raw: &[u8]) -> Result<String, ValueError> {
        let mut out = Vec::new();
        Array::parse(raw)?.write_text(&mut out, &mut copy_text)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn json_of(raw: &[u8]) -> String {
        let mut out = Vec::new();
        Array::parse(raw)
            .unwrap()
            .write_json(&mut out, &mut quote_json)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_dimension_with_quoting() {
        let raw = binary(
            &[(8, 1)],
            &[
                Some("plain"),
                None,
                Some(""),
                Some("null"),
                Some("a,b"),
                Some("say \"hi\""),
                Some("back\\slash"),
                Some("two words"),
            ],
        );
        assert_eq!(
            text_of(&raw).unwrap(),
            r#"{plain,NULL,"","null","a,b","say \"hi\"","back\\slash","two words"}"#
        );
        assert_eq!(
            json_of(&raw),
            r#"["plain",null,"","null","a,b","say "hi"","back\slash","two words"]"#
        );
    }

    #[test]
    fn nested_dimensions_and_lower_bounds() {
        let raw = binary(
            &[(2, 1), (3, 1)],
            &[Some("a"), Some("b"), Some("c"), Some("d"), Some("{"), None],
        );
        assert_eq!(text_of(&raw).unwrap(), r#"{{a,b,c},{d,"{",NULL}}"#);
        assert_eq!(json_of(&raw), r#"[["a","b","c"],["d","{",null]]"#);

        let shifted = binary(&[(2, 0), (1, -3)], &[Some("x"), Some("y")]);
        assert_eq!(text_of(&shifted).unwrap(), "[0:1][-3:-3]={{x},{y}}");
        assert_eq!(json_of(&shifted), r#"[["x"],["y"]]"#);
    }

    #[test]
    fn empty_arrays() {
        let raw = binary(&[], &[]);
        assert_eq!(text_of(&raw).unwrap(), "{}");
        assert_eq!(json_of(&raw), "[]");
    }

    #[test]
    fn malformed_arrays_are_errors() {
        let good = binary(&[(2, 1)], &[Some("a"), Some("b")]);
        for cut in 0..good.len() {
            assert!(text_of(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(text_of(&extra).is_err());
        assert!(text_of(&binary(&[(1, 1); 7], &[Some("a")])).is_err());
        assert!(text_of(&binary(&[(-1, 1)], &[])).is_err());
        assert!(text_of(&binary(&[(1, i32::MAX)], &[Some("a")])).is_err());
        let huge = binary(&[(i32::MAX, 1), (i32::MAX, 1), (i32::MAX, 1)], &[]);
        assert!(text_of(&huge).is_err());
    }
}
