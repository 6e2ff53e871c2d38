//! `float4` and `float8`: the text `float4out` / `float8out` write.
//!
//! Since PostgreSQL 12, with `extra_float_digits > 0` (the default is 1), the server
//! prints the shortest decimal that reads back as the same binary value, computed by its
//! port of Ryu (`src/common/f2s.c`, `src/common/d2s.c`), laid out by `to_chars` there:
//!
//! * plain notation while the decimal exponent of the first digit lies in `[-4, 15)`
//!   for `float8` and `[-4, 6)` for `float4`: `0.0001`, `123456789012345`, `123456`;
//! * scientific notation otherwise, with a signed exponent of at least two digits:
//!   `1e+16`, `1.5e-07`, `1e+06` (a `float4` million), `5e-324`;
//! * `NaN` (whatever its sign bit), `Infinity`, `-Infinity`, `0` and `-0`.
//!
//! "Shortest" has a PostgreSQL twist. Every float owns an interval of decimals that
//! read back as it, bounded by the midpoints to its neighbours. Upstream Ryu, like
//! Rust's `{:e}`, may print a midpoint itself when the significand is even (the reader's
//! round-half-to-even brings it back). PostgreSQL builds Ryu with
//! `STRICTLY_SHORTEST = 0` so as not to rely on every reader getting that rule right:
//! the bounds are excluded, and such values get more digits (`float8` `1e23` prints as
//! `9.999999999999999e+22`, `float4` `-76283904` as `-7.6283904e+07`). Among the
//! shortest candidates Ryu takes the closest, and an exact tie goes to the even one
//! (`562949953421312.25` is `562949953421312.2`), where Rust rounds up.
//!
//! So the digits come from Rust's standard library (fast, no tables to carry), and the
//! rare results where the two rules can differ, a candidate exactly on a bound or
//! exactly halfway between two candidates, are recognised with a few integer operations
//! and recomputed exactly by `exact_shortest`, a Steele–White / Burger–Dybvig digit
//! generator on a small stack bignum with PostgreSQL's rules.
//!
//! Everything happens in stack buffers: these writers run once per value on millions
//! of rows, so they never allocate beyond growing `out`.

use std::cmp::Ordering;
use std::io::Write as _;

/// The layout of one IEEE 754 binary format, and PostgreSQL's plain-notation limit for it.
struct Format {
    /// Stored significand bits (the leading 1 of normal numbers is implicit).
    mantissa_bits: u32,
    /// Exponent bits.
    exponent_bits: u32,
    /// Decimal exponents below this (and from -4 up) are written without `e`.
    plain_below: i32,
}

const FLOAT4: Format = Format {
    mantissa_bits: 23,
    exponent_bits: 8,
    plain_below: 6,
};

const FLOAT8: Format = Format {
    mantissa_bits: 52,
    exponent_bits: 11,
    plain_below: 15,
};

/// Writes a `float4` as `float4out` does with `extra_float_digits` > 0.
pub fn write_float4(value: f32, out: &mut Vec<u8>) {
    write_float(u64::from(value.to_bits()), &FLOAT4, out, |digits| {
        write!(digits, "{:e}", value.abs())
    });
}

/// Writes a `float8` as `float8out` does with `extra_float_digits` > 0.
pub fn write_float8(value: f64, out: &mut Vec<u8>) {
    write_float(value.to_bits(), &FLOAT8, out, |digits| {
        write!(digits, "{:e}", value.abs())
    });
}

/// A float's bits taken apart: the value is `(-1)^negative × significand × 2^exponent`.
struct Parts {
    negative: bool,
    /// The stored significand bits, without the implicit leading 1.
    mantissa_field: u64,
    /// The stored (biased) exponent.
    exponent_field: u64,
    /// The whole significand, with the implicit leading 1 of normal numbers.
    significand: u64,
    exponent: i32,
}

impl Parts {
    fn new(bits: u64, format: &Format) -> Parts {
        let mantissa_field = bits & ((1 << format.mantissa_bits) - 1);
        let exponent_field = (bits >> format.mantissa_bits) & ((1 << format.exponent_bits) - 1);
        let negative = (bits >> (format.mantissa_bits + format.exponent_bits)) & 1 == 1;
        let bias = (1i32 << (format.exponent_bits - 1)) - 1;
        // Subnormals share the smallest normal exponent but have no implicit 1. The
        // exponent field has at most 11 bits, so it always fits an i32.
        let (significand, biased) = if exponent_field == 0 {
            (mantissa_field, 1)
        } else {
            (
                mantissa_field | (1 << format.mantissa_bits),
                exponent_field as i32,
            )
        };
        Parts {
            negative,
            mantissa_field,
            exponent_field,
            significand,
            exponent: biased - bias - format.mantissa_bits as i32,
        }
    }

    /// NaN or an infinity.
    fn is_non_finite(&self, format: &Format) -> bool {
        self.exponent_field == (1 << format.exponent_bits) - 1
    }

    /// Whether the gap to the next smaller value is half the gap to the next larger one:
    /// true for exact powers of two, except the smallest normal number.
    fn has_narrow_lower_gap(&self) -> bool {
        self.mantissa_field == 0 && self.exponent_field > 1
    }
}

/// Writes any finite or special value of `format`; `shortest` writes the magnitude's
/// shortest round-trip digits in Rust's `{:e}` form (`1.2345e-7`).
fn write_float(
    bits: u64,
    format: &Format,
    out: &mut Vec<u8>,
    shortest: impl FnOnce(&mut &mut [u8]) -> std::io::Result<()>,
) {
    let parts = Parts::new(bits, format);
    if parts.is_non_finite(format) {
        out.extend_from_slice(match (parts.mantissa_field != 0, parts.negative) {
            (true, _) => b"NaN",
            (false, false) => b"Infinity",
            (false, true) => b"-Infinity",
        });
        return;
    }
    if parts.significand == 0 {
        out.extend_from_slice(if parts.negative { b"-0" } else { b"0" });
        return;
    }

    // The longest form is "2.2250738585072014e-308": 23 bytes.
    let mut buffer = [0u8; 32];
    let mut cursor = &mut buffer[..];
    shortest(&mut cursor).expect("a float's {:e} form fits 32 bytes");
    let written = 32 - cursor.len();
    let mut decimal = Decimal::parse(&buffer[..written]);
    if rules_may_differ(&decimal, &parts) {
        decimal = exact_shortest(&parts);
    }

    if parts.negative {
        out.push(b'-');
    }
    if (-4..format.plain_below).contains(&decimal.exponent) {
        decimal.write_plain(out);
    } else {
        decimal.write_scientific(out);
    }
}

/// A positive decimal `d.ddd × 10^exponent`, digits without trailing zeros.
struct Decimal {
    /// ASCII digits; a float's shortest form has at most 17.
    digits: [u8; 20],
    len: usize,
    /// The decimal exponent of the first digit.
    exponent: i32,
}

impl Decimal {
    fn new() -> Decimal {
        Decimal {
            digits: [b'0'; 20],
            len: 0,
            exponent: 0,
        }
    }

    fn push(&mut self, digit: u8) {
        if self.len < self.digits.len() {
            self.digits[self.len] = b'0' + digit;
            self.len += 1;
        }
    }

    /// Reads Rust's `{:e}` form of a positive finite float: `1e20`, `1.5e-7`.
    fn parse(text: &[u8]) -> Decimal {
        let mut decimal = Decimal::new();
        let mut rest = text.iter();
        for &byte in rest.by_ref() {
            match byte {
                b'0'..=b'9' => decimal.push(byte - b'0'),
                b'e' => break,
                _ => {}
            }
        }
        let mut negative = false;
        for &byte in rest {
            match byte {
                b'-' => negative = true,
                b'0'..=b'9' => decimal.exponent = decimal.exponent * 10 + i32::from(byte - b'0'),
                _ => {}
            }
        }
        if negative {
            decimal.exponent = -decimal.exponent;
        }
        decimal.strip_trailing_zeros();
        decimal
    }

    fn strip_trailing_zeros(&mut self) {
        while self.len > 1 && self.digits[self.len - 1] == b'0' {
            self.len -= 1;
        }
    }

    fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// The digits as one integer (below 10^17 for any float's shortest form).
    fn significand(&self) -> u64 {
        self.digits()
            .iter()
            .fold(0, |value, &digit| value * 10 + u64::from(digit - b'0'))
    }

    /// The decimal exponent of the last digit.
    fn last_exponent(&self) -> i32 {
        self.exponent - (self.len as i32 - 1)
    }

    /// Adds one in the last place, carrying (`199` becomes `200`, `99` becomes `100`).
    fn increment_last(&mut self) {
        for digit in self.digits[..self.len].iter_mut().rev() {
            if *digit == b'9' {
                *digit = b'0';
            } else {
                *digit += 1;
                return;
            }
        }
        // All nines: the number becomes 1 followed by zeros, one decade up.
        self.digits[0] = b'1';
        self.exponent += 1;
    }

    /// `0.000123`, `123.45`, `1200`: the caller keeps the exponent within `[-4, 15)`.
    fn write_plain(&self, out: &mut Vec<u8>) {
        let digits = self.digits();
        if self.exponent < 0 {
            out.extend_from_slice(b"0.");
            for _ in 0..(-self.exponent - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
            return;
        }
        let whole = self.exponent as usize + 1;
        if digits.len() <= whole {
            out.extend_from_slice(digits);
            for _ in digits.len()..whole {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(&digits[..whole]);
            out.push(b'.');
            out.extend_from_slice(&digits[whole..]);
        }
    }

    /// `1e+16`, `1.5e-07`, `1.7976931348623157e+308`.
    fn write_scientific(&self, out: &mut Vec<u8>) {
        let digits = self.digits();
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if self.exponent < 0 { b'-' } else { b'+' });
        let exponent = self.exponent.unsigned_abs();
        if exponent >= 100 {
            out.push(b'0' + (exponent / 100) as u8);
        }
        out.push(b'0' + (exponent / 10 % 10) as u8);
        out.push(b'0' + (exponent % 10) as u8);
    }
}

/// Whether Rust's shortest form `decimal` of the value may not be PostgreSQL's.
///
/// Rust takes the shortest decimals within the value's rounding interval, bounds
/// included when the significand is even, and of those the closest, rounding exact
/// ties up. If its choice `D × 10^p` lies strictly inside the interval and the value is
/// not exactly halfway between `D` and a neighbour `D ± 1`, PostgreSQL (bounds
/// excluded, ties to even) has the same candidates of that length to choose from and
/// makes the same choice. Both conditions are exact equalities between a binary and a
/// decimal fraction, cheap to rule out.
fn rules_may_differ(decimal: &Decimal, parts: &Parts) -> bool {
    // D < 10^17 and m < 2^54, so none of the multiples below overflows.
    let (d, p) = (decimal.significand(), decimal.last_exponent());
    let (m, e) = (parts.significand, parts.exponent);
    let halfway =
        |twice_neighbour_mean: u64| binary_equals_decimal(m, e, twice_neighbour_mean * 5, p - 1);
    if halfway(2 * d - 1) || halfway(2 * d + 1) {
        return true;
    }
    if m % 2 == 1 {
        // Rust excludes the bounds of odd significands too.
        return false;
    }
    let on_upper_bound = binary_equals_decimal(2 * m + 1, e - 1, d, p);
    let on_lower_bound = if parts.has_narrow_lower_gap() {
        binary_equals_decimal(4 * m - 1, e - 2, d, p)
    } else {
        binary_equals_decimal(2 * m - 1, e - 1, d, p)
    };
    on_upper_bound || on_lower_bound
}

/// Whether `binary × 2^binary_exponent` is exactly `decimal × 10^decimal_exponent`
/// (both integers positive).
fn binary_equals_decimal(
    binary: u64,
    binary_exponent: i32,
    decimal: u64,
    decimal_exponent: i32,
) -> bool {
    // Compare powers of two, then odd parts: `decimal × 10^k` is
    // `odd × 5^k × 2^(k + zeros)`, and for k < 0 only a binary fraction if 5^-k divides
    // `odd`.
    let binary_zeros = binary.trailing_zeros();
    let decimal_zeros = decimal.trailing_zeros();
    if binary_exponent + binary_zeros as i32 != decimal_exponent + decimal_zeros as i32 {
        return false;
    }
    let (binary, decimal) = (binary >> binary_zeros, decimal >> decimal_zeros);
    let Some(fives) = 5u64.checked_pow(decimal_exponent.unsigned_abs()) else {
        return false;
    };
    if decimal_exponent >= 0 {
        decimal.checked_mul(fives) == Some(binary)
    } else {
        decimal % fives == 0 && decimal / fives == binary
    }
}

/// PostgreSQL's shortest decimal for a finite nonzero value, computed exactly.
///
/// Burger and Dybvig's free-format algorithm (see [`Scaled`]): generate digits until
/// the number so far, or it plus one in the last place, lies strictly inside the
/// rounding interval; then take the one of those two that is inside, the closer one if
/// both are, the even one on an exact tie.
fn exact_shortest(parts: &Parts) -> Decimal {
    let mut scaled = Scaled::new(parts);
    let mut decimal = Decimal::new();
    decimal.exponent = scaled.k - 1;
    // At most 17 digits are ever needed; the bound only guards against a bug.
    while decimal.len < decimal.digits.len() {
        let digit = scaled.next_digit();
        let low_inside = scaled.r.cmp(&scaled.m_minus) == Ordering::Less;
        let high_inside = scaled.r.add(&scaled.m_plus).cmp(&scaled.s) == Ordering::Greater;
        decimal.push(digit);
        let round_up = match (low_inside, high_inside) {
            (false, false) => continue,
            (true, false) => false,
            (false, true) => true,
            (true, true) => match scaled.compare_remainder_with_half() {
                Ordering::Less => false,
                Ordering::Greater => true,
                Ordering::Equal => digit % 2 == 1,
            },
        };
        if round_up {
            decimal.increment_last();
        }
        break;
    }
    decimal.strip_trailing_zeros();
    decimal
}

/// The state of Burger and Dybvig's digit generation: the value is `r / s`, the
/// distances from it to the bounds of its rounding interval are `m_minus / s` and
/// `m_plus / s`, all in units of `10^(k - digits so far)`.
struct Scaled {
    r: Big,
    s: Big,
    m_plus: Big,
    m_minus: Big,
    /// The first digit is worth `10^(k - 1)`: `10^(k-1) < upper bound <= 10^k`.
    k: i32,
}

impl Scaled {
    fn new(parts: &Parts) -> Scaled {
        // In units of 2^(e-2): the value is 4m, its bounds 4m + 2 and 4m - 2 (4m - 1
        // below a power of two).
        let e = parts.exponent - 2;
        let lower_gap = if parts.has_narrow_lower_gap() { 1 } else { 2 };
        let mut scaled = Scaled {
            r: Big::from_u64(4 * parts.significand),
            s: Big::from_u64(1),
            m_plus: Big::from_u64(2),
            m_minus: Big::from_u64(lower_gap),
            k: 0,
        };
        if e >= 0 {
            scaled.scale_numerators(|big| big.shl(e as u32));
        } else {
            scaled.s.shl(e.unsigned_abs());
        }

        // Estimate k from logarithms, off by at most one, then correct it.
        let log10_value =
            (parts.significand as f64).log10() + f64::from(parts.exponent) * 2f64.log10();
        scaled.k = log10_value.ceil() as i32;
        if scaled.k >= 0 {
            scaled.s.mul_pow10(scaled.k as u32);
        } else {
            let power = scaled.k.unsigned_abs();
            scaled.scale_numerators(|big| big.mul_pow10(power));
        }
        while scaled.r.add(&scaled.m_plus).cmp(&scaled.s) == Ordering::Greater {
            scaled.s.mul_small(10);
            scaled.k += 1;
        }
        loop {
            let mut high = scaled.r.add(&scaled.m_plus);
            high.mul_small(10);
            if high.cmp(&scaled.s) == Ordering::Greater {
                break scaled;
            }
            scaled.scale_numerators(|big| big.mul_small(10));
            scaled.k -= 1;
        }
    }

    fn scale_numerators(&mut self, scale: impl Fn(&mut Big)) {
        for big in [&mut self.r, &mut self.m_plus, &mut self.m_minus] {
            scale(big);
        }
    }

    /// Moves one decimal place on and returns the digit there (0 to 9).
    fn next_digit(&mut self) -> u8 {
        self.scale_numerators(|big| big.mul_small(10));
        let mut digit = 0;
        while self.r.cmp(&self.s) != Ordering::Less {
            self.r.sub_assign(&self.s);
            digit += 1;
        }
        digit
    }

    /// How what is left compares with half a unit in the last place.
    fn compare_remainder_with_half(&self) -> Ordering {
        let mut twice = self.r.clone();
        twice.shl(1);
        twice.cmp(&self.s)
    }
}

/// Limbs of [`Big`]: 1280 bits, enough for the largest quantity [`exact_shortest`]
/// forms (about 2^1140, for the smallest subnormal scaled by 10^324).
const LIMBS: usize = 40;

/// A non-negative integer on the stack, little-endian base 2^32.
#[derive(Clone)]
struct Big {
    limbs: [u32; LIMBS],
    /// Limbs in use; the top one is nonzero (zero has none).
    len: usize,
}

impl Big {
    fn from_u64(value: u64) -> Big {
        let mut big = Big {
            limbs: [0; LIMBS],
            len: 2,
        };
        big.limbs[0] = value as u32;
        big.limbs[1] = (value >> 32) as u32;
        big.trim();
        big
    }

    fn trim(&mut self) {
        while self.len > 0 && self.limbs[self.len - 1] == 0 {
            self.len -= 1;
        }
    }

    /// Appends a top limb; the callers' quantities never need more than [`LIMBS`].
    fn push(&mut self, limb: u32) {
        debug_assert!(self.len < LIMBS, "Big overflow");
        if self.len < LIMBS {
            self.limbs[self.len] = limb;
            self.len += 1;
        }
    }

    fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in &mut self.limbs[..self.len] {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut power: u32) {
        while power >= 9 {
            self.mul_small(1_000_000_000);
            power -= 9;
        }
        self.mul_small(10u32.pow(power));
    }

    fn shl(&mut self, bits: u32) {
        let (limbs, bits) = ((bits / 32) as usize, bits % 32);
        if self.len == 0 {
            return;
        }
        if bits > 0 {
            let mut carry = 0u32;
            for limb in &mut self.limbs[..self.len] {
                let shifted = (*limb << bits) | carry;
                carry = *limb >> (32 - bits);
                *limb = shifted;
            }
            if carry != 0 {
                self.push(carry);
            }
        }
        if limbs > 0 {
            debug_assert!(self.len + limbs <= LIMBS, "Big overflow");
            let len = (self.len + limbs).min(LIMBS);
            self.limbs.copy_within(..len - limbs, limbs);
            self.limbs[..limbs].fill(0);
            self.len = len;
        }
    }

    fn add(&self, other: &Big) -> Big {
        let mut sum = self.clone();
        sum.len = self.len.max(other.len);
        let mut carry = 0u64;
        for i in 0..sum.len {
            let total = u64::from(self.limbs[i]) + u64::from(other.limbs[i]) + carry;
            sum.limbs[i] = total as u32;
            carry = total >> 32;
        }
        if carry != 0 {
            sum.push(carry as u32);
        }
        sum
    }

    /// `self -= other`, for `other <= self`.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for i in 0..self.len {
            let difference = i64::from(self.limbs[i]) - i64::from(other.limbs[i]) - borrow;
            self.limbs[i] = difference as u32;
            borrow = i64::from(difference < 0);
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.len.cmp(&other.len).then_with(|| {
            self.limbs[..self.len]
                .iter()
                .rev()
                .cmp(other.limbs[..other.len].iter().rev())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float4(value: f32) -> String {
        let mut out = Vec::new();
        write_float4(value, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn float8(value: f64) -> String {
        let mut out = Vec::new();
        write_float8(value, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn float8_plain_and_scientific() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (0.1, "0.1"),
            (-0.5, "-0.5"),
            (100.0, "100"),
            (123.456, "123.456"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e14, "100000000000000"),
            (123456789012345.0, "123456789012345"),
            (999999999999999.9, "999999999999999.9"),
            (1e15, "1e+15"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e20, "1e+20"),
            (1e100, "1e+100"),
            (1e-100, "1e-100"),
            (5e-324, "5e-324"),
            (-5e-324, "-5e-324"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN, "-1.7976931348623157e+308"),
            (f64::EPSILON, "2.220446049250313e-16"),
            (std::f64::consts::PI, "3.141592653589793"),
            (9007199254740993.0, "9.007199254740992e+15"),
        ];
        for &(value, expected) in cases {
            assert_eq!(float8(value), expected, "{value:e}");
        }
    }

    #[test]
    fn float4_plain_and_scientific() {
        let cases: &[(f32, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (0.1, "0.1"),
            (123456.0, "123456"),
            (999999.0, "999999"),
            (1000000.0, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e-45, "1e-45"),
            (f32::MIN_POSITIVE, "1.1754944e-38"),
            (f32::MAX, "3.4028235e+38"),
            (f32::MIN, "-3.4028235e+38"),
            (16777217.0, "1.6777216e+07"),
        ];
        for &(value, expected) in cases {
            assert_eq!(float4(value), expected, "{value:e}");
        }
    }

    #[test]
    fn specials() {
        assert_eq!(float8(f64::NAN), "NaN");
        assert_eq!(float8(-f64::NAN), "NaN");
        assert_eq!(float8(f64::from_bits(0x7ff0_0000_0000_0001)), "NaN");
        assert_eq!(float8(f64::INFINITY), "Infinity");
        assert_eq!(float8(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(float4(f32::NAN), "NaN");
        assert_eq!(float4(-f32::NAN), "NaN");
        assert_eq!(float4(f32::INFINITY), "Infinity");
        assert_eq!(float4(f32::NEG_INFINITY), "-Infinity");
    }

    /// Exact ties between two shortest candidates round to even, as Ryu does (values
    /// checked against PostgreSQL 15).
    #[test]
    fn ties_round_to_even() {
        // 2^49 and 2^20 plus a quarter: a binary fraction the shortest digits cannot end on.
        assert_eq!(float8(562949953421312.0 + 0.25), "562949953421312.2");
        assert_eq!(float8(562949953421312.0 + 0.75), "562949953421312.8");
        assert_eq!(float4(1048576.0 + 0.25), "1.0485762e+06");
        assert_eq!(float4(1048576.0 + 0.75), "1.0485768e+06");
    }

    /// PostgreSQL never prints a decimal exactly halfway between two floats, even where
    /// it would be shorter (values checked against PostgreSQL 15).
    #[test]
    fn interval_bounds_are_excluded() {
        assert_eq!(float8(1e23), "9.999999999999999e+22");
        assert_eq!(float8(-6.60762507828265e16), "-6.6076250782826496e+16");
        assert_eq!(float8(-6.40971298528297e16), "-6.4097129852829696e+16");
        assert_eq!(float4(-76283904.0), "-7.6283904e+07");
    }

    /// Rust's shortest digits, as the fast path reads them.
    fn rust_shortest(bits: u64, format: &Format) -> Decimal {
        let text = if format.exponent_bits == 8 {
            format!("{:e}", f32::from_bits(bits as u32).abs())
        } else {
            format!("{:e}", f64::from_bits(bits).abs())
        };
        Decimal::parse(text.as_bytes())
    }

    /// Where the rules cannot differ, the exact algorithm must agree with Rust's digits;
    /// this covers it across the whole range, extremes included.
    #[test]
    fn exact_path_agrees_with_the_fast_path() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let extremes = [
            1,
            2,
            3,
            0x000f_ffff_ffff_ffff,
            0x0010_0000_0000_0000,
            0x7fef_ffff_ffff_ffff,
        ];
        let randoms = (0..20_000).map(|_| next() & 0x7fff_ffff_ffff_ffff);
        let mut compared = 0;
        for bits in extremes.into_iter().chain(randoms) {
            for (bits, format) in [(bits, &FLOAT8), (bits >> 33, &FLOAT4)] {
                let parts = Parts::new(bits, format);
                if parts.is_non_finite(format) || parts.significand == 0 {
                    continue;
                }
                let fast = rust_shortest(bits, format);
                if rules_may_differ(&fast, &parts) {
                    continue;
                }
                let exact = exact_shortest(&parts);
                assert_eq!(
                    (exact.digits(), exact.exponent),
                    (fast.digits(), fast.exponent),
                    "bits {bits:#x}"
                );
                compared += 1;
            }
        }
        assert!(compared > 30_000);
    }

    #[test]
    fn appends_to_existing_output() {
        let mut out = b"x,".to_vec();
        write_float8(2.5, &mut out);
        write_float4(-3.25, &mut out);
        assert_eq!(out, b"x,2.5-3.25");
    }
}
