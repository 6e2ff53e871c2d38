//! `numeric`: the text `numeric_out` writes, from `numeric_send`'s binary form.
//!
//! The binary form is a header of four 16-bit big-endian words, `ndigits`, `weight`,
//! `sign` and `dscale`, then `ndigits` base-10000 digits. The value is
//! `Σ digit[i] × 10000^(weight - i)`, and `dscale` is the number of decimal places to
//! display, which may be more than the digits store (trailing zeros are not stored) or,
//! in a hand-made value, fewer.
//!
//! The reference is what the server would print after reading these bytes, i.e.
//! `numeric_recv` followed by `numeric_out` (`get_str_from_var` in
//! `src/backend/utils/adt/numeric.c`). That pins down the cases the server itself never
//! sends but a binary value may still contain:
//!
//! * digits beyond `dscale` are *truncated* (`trunc_var`), not rounded, and
//!   `dscale` decimal places are always written, padded with zeros;
//! * leading zero digits are dropped and a value that ends up zero is positive
//!   (`make_result`), so there is never a `-0` or a leading zero;
//! * `ndigits` is read as unsigned, `dscale` must fit its 14 bits, each digit must be
//!   in `0..=9999` and the sign word must be one of the five known ones; anything else
//!   is an error here as it is there. Digits of NaN and the infinities are checked,
//!   then ignored.
//!
//! Everything is checked before anything is written, so a bad value leaves `out`
//! untouched.

use super::{Problem, ValueError};

const TYPE_NAME: &str = "numeric";

/// Decimal digits per base-10000 digit.
const DEC_DIGITS: usize = 4;

const SIGN_POSITIVE: u16 = 0x0000;
const SIGN_NEGATIVE: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_INFINITY: u16 = 0xD000;
const SIGN_NEG_INFINITY: u16 = 0xF000;

/// The largest display scale the 14-bit `dscale` field can hold.
const MAX_DSCALE: u16 = 0x3FFF;

/// A `numeric` in `numeric_send`'s form (see the [module documentation](self)), borrowed;
/// checked when it is written, as the other values' ranges are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numeric<'a>(&'a [u8]);

impl<'a> Numeric<'a> {
    /// The value whose `numeric_send` form is `raw`.
    pub fn from_binary(raw: &'a [u8]) -> Self {
        Numeric(raw)
    }

    /// Writes the value as `numeric_out` does, or says why `raw` is not a numeric.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), ValueError> {
        match Parsed::parse(self.0)? {
            Parsed::NaN => out.extend_from_slice(b"NaN"),
            Parsed::Infinity => out.extend_from_slice(b"Infinity"),
            Parsed::NegInfinity => out.extend_from_slice(b"-Infinity"),
            Parsed::Finite(finite) => finite.write(out),
        }
        Ok(())
    }
}

/// A checked binary numeric.
enum Parsed<'a> {
    NaN,
    Infinity,
    NegInfinity,
    Finite(Finite<'a>),
}

/// A finite numeric, normalized as `make_result` would: no leading zero digits.
struct Finite<'a> {
    negative: bool,
    /// The weight of the first digit of `digits`, widened so normalizing cannot overflow.
    weight: i32,
    /// Number of decimal places to write.
    dscale: usize,
    /// Big-endian base-10000 digits, already checked; empty for zero.
    digits: &'a [u8],
}

fn error(problem: Problem) -> ValueError {
    ValueError::new(TYPE_NAME, problem)
}

fn word(raw: &[u8], index: usize) -> u16 {
    u16::from_be_bytes([raw[2 * index], raw[2 * index + 1]])
}

impl<'a> Parsed<'a> {
    /// Reads `numeric_send`'s form, checking everything `numeric_recv` checks.
    fn parse(raw: &'a [u8]) -> Result<Parsed<'a>, ValueError> {
        const HEADER: usize = 4 * 2;
        if raw.len() < HEADER {
            return Err(error(Problem::Truncated));
        }
        let ndigits = usize::from(word(raw, 0));
        let weight = word(raw, 1) as i16;
        let sign = word(raw, 2);
        let dscale = word(raw, 3);

        let expected = HEADER + 2 * ndigits;
        if raw.len() < expected {
            return Err(error(Problem::Truncated));
        }
        if raw.len() > expected {
            return Err(error(Problem::Length {
                expected,
                found: raw.len(),
            }));
        }
        if dscale > MAX_DSCALE {
            return Err(error(Problem::OutOfRange("display scale")));
        }
        let digits = &raw[HEADER..];
        if digits
            .chunks_exact(2)
            .any(|pair| u16::from_be_bytes([pair[0], pair[1]]) > 9999)
        {
            // Negative digits, read as unsigned, are above 9999 too.
            return Err(error(Problem::OutOfRange("digit")));
        }

        let negative = match sign {
            SIGN_POSITIVE => false,
            SIGN_NEGATIVE => true,
            SIGN_NAN => return Ok(Parsed::NaN),
            SIGN_INFINITY => return Ok(Parsed::Infinity),
            SIGN_NEG_INFINITY => return Ok(Parsed::NegInfinity),
            _ => return Err(error(Problem::OutOfRange("sign"))),
        };
        Ok(Parsed::Finite(Finite::new(
            negative,
            weight,
            usize::from(dscale),
            digits,
        )))
    }
}

impl<'a> Finite<'a> {
    fn new(negative: bool, weight: i16, dscale: usize, digits: &'a [u8]) -> Finite<'a> {
        let leading_zeros = digits
            .chunks_exact(2)
            .take_while(|pair| pair == &[0, 0])
            .count();
        let finite = Finite {
            negative,
            weight: i32::from(weight) - leading_zeros as i32,
            dscale,
            digits: &digits[2 * leading_zeros..],
        };
        // A value whose nonzero digits all lie beyond dscale is truncated to zero, and
        // zero is positive.
        Finite {
            negative: negative && finite.shows_nonzero(),
            ..finite
        }
    }

    fn len(&self) -> usize {
        self.digits.len() / 2
    }

    /// The base-10000 digit of weight `weight`, zero outside the stored ones.
    fn digit_of_weight(&self, weight: i32) -> u16 {
        let index = i64::from(self.weight) - i64::from(weight);
        if (0..self.len() as i64).contains(&index) {
            word(self.digits, index as usize)
        } else {
            0
        }
    }

    /// Whether any digit written within `dscale` places is nonzero. Only the first digit
    /// needs a look: it is nonzero, and every other digit lies further right.
    fn shows_nonzero(&self) -> bool {
        if self.digits.is_empty() {
            return false;
        }
        if self.weight >= 0 {
            return true;
        }
        // The first digit covers decimal places 4(k-1)+1 ..= 4k, k = -weight.
        let places_before = (-i64::from(self.weight) - 1) * DEC_DIGITS as i64;
        let shown = self.dscale as i64 - places_before;
        if shown <= 0 {
            return false;
        }
        let first = word(self.digits, 0);
        match shown {
            1 => first >= 1000,
            2 => first >= 100,
            3 => first >= 10,
            _ => true,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let integer_groups = if self.digits.is_empty() {
            0
        } else {
            (self.weight + 1).max(0) as usize
        };
        out.reserve(1 + integer_groups * DEC_DIGITS + 1 + self.dscale + DEC_DIGITS);
        if self.negative {
            out.push(b'-');
        }
        self.write_integer_part(integer_groups, out);
        self.write_fraction(out);
    }

    /// The digits of weight `integer_groups - 1` down to 0, the first without leading
    /// zeros; a lone `0` when there are none.
    fn write_integer_part(&self, integer_groups: usize, out: &mut Vec<u8>) {
        if integer_groups == 0 {
            out.push(b'0');
            return;
        }
        let first = group(word(self.digits, 0));
        let skip = first.iter().take_while(|&&d| d == b'0').count();
        out.extend_from_slice(&first[skip..]);
        for weight in (0..self.weight).rev() {
            out.extend_from_slice(&group(self.digit_of_weight(weight)));
        }
    }

    /// A point and exactly `dscale` decimal places: whole groups of four, then cut.
    fn write_fraction(&self, out: &mut Vec<u8>) {
        if self.dscale == 0 {
            return;
        }
        out.push(b'.');
        let end = out.len() + self.dscale;
        let groups = self.dscale.div_ceil(DEC_DIGITS);
        for k in 1..=groups {
            out.extend_from_slice(&group(self.digit_of_weight(-(k as i32))));
        }
        out.truncate(end);
    }
}

/// A base-10000 digit as four ASCII decimal digits.
fn group(digit: u16) -> [u8; 4] {
    [
        b'0' + (digit / 1000) as u8,
        b'0' + (digit / 100 % 10) as u8,
        b'0' + (digit / 10 % 10) as u8,
        b'0' + (digit % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_numeric(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
        Numeric::from_binary(raw).write(out)
    }

    /// The binary form of a numeric from its header fields and digits.
    fn binary(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        raw.extend_from_slice(&weight.to_be_bytes());
        raw.extend_from_slice(&sign.to_be_bytes());
        raw.extend_from_slice(&dscale.to_be_bytes());
        for digit in digits {
            raw.extend_from_slice(&digit.to_be_bytes());
        }
        raw
    }

    fn text(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> String {
        let mut out = Vec::new();
        write_numeric(&binary(weight, sign, dscale, digits), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn problem(raw: &[u8]) -> Problem {
        let mut out = Vec::new();
        let error = write_numeric(raw, &mut out).unwrap_err();
        assert_eq!(error.type_name, "numeric");
        assert!(out.is_empty(), "nothing is written for a bad value");
        error.problem
    }

    const POS: u16 = SIGN_POSITIVE;
    const NEG: u16 = SIGN_NEGATIVE;

    /// Encodings as `numeric_send` produces them.
    #[test]
    fn server_encodings() {
        assert_eq!(text(0, POS, 0, &[]), "0");
        assert_eq!(text(0, POS, 2, &[]), "0.00");
        assert_eq!(text(0, POS, 0, &[1]), "1");
        assert_eq!(text(0, NEG, 0, &[1]), "-1");
        assert_eq!(text(-1, NEG, 1, &[5000]), "-0.5");
        assert_eq!(text(1, POS, 0, &[1]), "10000");
        assert_eq!(text(0, POS, 4, &[12, 3400]), "12.3400");
        assert_eq!(text(1, POS, 8, &[9999, 9999, 9999]), "99999999.99990000");
        assert_eq!(text(-5, POS, 20, &[1]), "0.00000000000000000001");
        assert_eq!(text(-5, NEG, 22, &[1]), "-0.0000000000000000000100");
        assert_eq!(text(2, POS, 0, &[12, 3456, 7890]), "1234567890");
        assert_eq!(text(0, POS, 3, &[3, 1415]), "3.141");
        assert_eq!(text(-1, POS, 4, &[10]), "0.0010");
    }

    #[test]
    fn specials() {
        assert_eq!(text(0, SIGN_NAN, 0, &[]), "NaN");
        assert_eq!(text(0, SIGN_INFINITY, 0, &[]), "Infinity");
        assert_eq!(text(0, SIGN_NEG_INFINITY, 0, &[]), "-Infinity");
        // numeric_recv ignores the other fields of special values.
        assert_eq!(text(7, SIGN_NAN, 3, &[1, 2]), "NaN");
    }

    #[test]
    fn huge_weights_and_scales() {
        let big = text(i16::MAX, POS, 0, &[1]);
        assert_eq!(big.len(), 1 + 4 * i16::MAX as usize);
        assert!(big.starts_with("10000") && big.bytes().skip(1).all(|b| b == b'0'));

        let tiny = text(i16::MIN, NEG, MAX_DSCALE, &[1]);
        // 1 × 10000^-32768 is far beyond 16383 places: truncated to zero, so positive.
        assert_eq!(tiny.len(), 2 + MAX_DSCALE as usize);
        assert!(tiny.starts_with("0.") && tiny[2..].bytes().all(|b| b == b'0'));

        let wide = text(0, POS, MAX_DSCALE, &[7]);
        assert_eq!(wide.len(), 2 + MAX_DSCALE as usize);
        assert!(wide.starts_with("7.0"));
    }

    /// Encodings the server never sends but reads, normalized the way `numeric_recv`
    /// does before `numeric_out` sees them.
    #[test]
    fn unnormalized_encodings() {
        // Digits beyond dscale are truncated, not rounded.
        assert_eq!(text(0, POS, 2, &[1, 9999]), "1.99");
        assert_eq!(text(0, POS, 0, &[1, 9999]), "1");
        // ...and a value truncated to zero loses its sign.
        assert_eq!(text(-1, NEG, 0, &[5000]), "0");
        assert_eq!(text(-1, NEG, 1, &[500]), "0.0");
        assert_eq!(text(-1, NEG, 2, &[500]), "-0.05");
        assert_eq!(text(0, NEG, 3, &[]), "0.000");
        assert_eq!(text(0, NEG, 0, &[0, 0]), "0");
        // Leading zero digits do not show.
        assert_eq!(text(1, POS, 0, &[0, 5]), "5");
        assert_eq!(text(3, POS, 1, &[]), "0.0");
        assert_eq!(text(0, POS, 4, &[0, 5]), "0.0005");
    }

    #[test]
    fn malformed_values_are_errors() {
        assert_eq!(problem(&[]), Problem::Truncated);
        assert_eq!(problem(&[0, 0, 0, 0, 0, 0, 0]), Problem::Truncated);
        // Two digits announced, one present.
        let mut short = binary(0, POS, 0, &[1, 2]);
        short.truncate(short.len() - 2);
        assert_eq!(problem(&short), Problem::Truncated);
        // Odd trailing byte, and a whole extra digit.
        let mut long = binary(0, POS, 0, &[1]);
        long.push(0);
        assert_eq!(
            problem(&long),
            Problem::Length {
                expected: 10,
                found: 11
            }
        );
        long.push(0);
        assert_eq!(
            problem(&long),
            Problem::Length {
                expected: 10,
                found: 12
            }
        );
        // ndigits is unsigned: 0x8000 digits need 64 KiB.
        let mut huge_count = binary(0, POS, 0, &[]);
        huge_count[0] = 0x80;
        assert_eq!(problem(&huge_count), Problem::Truncated);

        assert_eq!(
            problem(&binary(0, POS, 0, &[10000])),
            Problem::OutOfRange("digit")
        );
        assert_eq!(
            problem(&binary(0, POS, 0, &[1, -1])),
            Problem::OutOfRange("digit")
        );
        assert_eq!(
            problem(&binary(0, SIGN_NAN, 0, &[-5])),
            Problem::OutOfRange("digit")
        );
        for sign in [0x0001, 0x8000, 0xC001, 0xE000, 0xFFFF] {
            assert_eq!(
                problem(&binary(0, sign, 0, &[1])),
                Problem::OutOfRange("sign")
            );
        }
        assert_eq!(
            problem(&binary(0, POS, MAX_DSCALE + 1, &[1])),
            Problem::OutOfRange("display scale")
        );
    }

    /// Every input up to 10 bytes, plus headers claiming up to 3 digits with random
    /// tails: never a panic, and either an error or some output.
    #[test]
    fn never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let len = (next() % 16) as usize;
            let mut raw: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if raw.len() >= 8 && next() % 2 == 0 {
                raw[0] = 0;
                raw[1] = ((raw.len() - 8) / 2) as u8;
                raw[4] = [0x00, 0x40, 0xC0, 0xD0, 0xF0][(next() % 5) as usize];
                raw[5] = 0;
                raw[6] &= 0x3F;
            }
            out.clear();
            if write_numeric(&raw, &mut out).is_ok() {
                assert!(!out.is_empty());
            }
        }
    }

    #[test]
    fn appends_to_existing_output() {
        let mut out = b"a,".to_vec();
        write_numeric(&binary(0, NEG, 1, &[2, 5000]), &mut out).unwrap();
        assert_eq!(out, b"a,-2.5");
    }
}
