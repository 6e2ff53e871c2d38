//! The pieces PostgreSQL's `EncodeDateOnly`, `EncodeDateTime`, `EncodeTimeOnly` and
//! `EncodeTimezone` put together, each appended straight to the output buffer (no
//! intermediate `String`, no `format!`), since these run once per value.

use super::DateTimeStyle;
use super::calendar::{CivilDate, USECS_PER_SEC};

/// Microseconds in an hour.
const USECS_PER_HOUR: u64 = 3_600 * USECS_PER_SEC as u64;
/// Microseconds in a minute.
const USECS_PER_MINUTE: u64 = 60 * USECS_PER_SEC as u64;

/// Appends `value` in decimal, zero-padded to at least `min_width` digits (more digits
/// when it needs them, like C's `%0*d`).
pub(super) fn push_number(out: &mut Vec<u8>, value: u64, min_width: usize) {
    // u64::MAX has 20 digits.
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let start = start.min(digits.len().saturating_sub(min_width));
    out.extend_from_slice(&digits[start..]);
}

/// Appends a signed `value` without padding (`-3`, `14`).
pub(super) fn push_signed(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    push_number(out, value.unsigned_abs(), 1);
}

/// Appends a number below 100 as exactly two digits.
fn push_two_digits(out: &mut Vec<u8>, value: u64) {
    debug_assert!(value < 100);
    out.extend_from_slice(&[b'0' + (value / 10) as u8, b'0' + (value % 10) as u8]);
}

/// Appends `.ffffff` for a nonzero microsecond count below one second, without trailing
/// zeros (`.5`, `.000001`); nothing when it is zero. PostgreSQL's `AppendSeconds`.
pub(super) fn push_fraction(out: &mut Vec<u8>, micros: u64) {
    debug_assert!(micros < USECS_PER_SEC as u64);
    if micros == 0 {
        return;
    }
    let mut text = [b'.', 0, 0, 0, 0, 0, 0];
    let mut rest = micros;
    for slot in text[1..].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // At most 5, as `micros` is not zero.
    let mut trailing_zeros = 0;
    let mut rest = micros;
    while rest % 10 == 0 {
        trailing_zeros += 1;
        rest /= 10;
    }
    // Copying the fixed-size array and cutting it is cheaper than a variable-size copy.
    out.extend_from_slice(&text);
    out.truncate(out.len() - trailing_zeros);
}

/// Appends `HH:MM:SS[.ffffff]` for `micros` since midnight; the hour may be 24 (`time`
/// allows `24:00:00`) or, for intervals, any number of hours.
pub(super) fn push_clock(out: &mut Vec<u8>, micros: u64) {
    push_number(out, micros / USECS_PER_HOUR, 2);
    out.push(b':');
    push_two_digits(out, micros / USECS_PER_MINUTE % 60);
    out.push(b':');
    push_two_digits(out, micros / USECS_PER_SEC as u64 % 60);
    push_fraction(out, micros % USECS_PER_SEC as u64);
}

/// Appends `YYYY-MM-DD`, the year counted from 1 in the era it falls in (4 or more
/// digits), and says whether the date is BC. The caller writes the ` BC` suffix, which
/// PostgreSQL puts after everything else, time zone included.
#[must_use = "a BC date needs its suffix"]
pub(super) fn push_date(out: &mut Vec<u8>, date: CivilDate) -> bool {
    let is_bc = date.year <= 0;
    // Astronomical year 0 is 1 BC, -1 is 2 BC, ...
    let shown_year = if is_bc { 1 - date.year } else { date.year };
    push_number(out, shown_year.unsigned_abs(), 4);
    out.push(b'-');
    push_two_digits(out, u64::from(date.month));
    out.push(b'-');
    push_two_digits(out, u64::from(date.day));
    is_bc
}

/// Appends the suffix PostgreSQL writes after BC dates and timestamps.
pub(super) fn push_era(out: &mut Vec<u8>, is_bc: bool) {
    if is_bc {
        out.extend_from_slice(b" BC");
    }
}

/// Appends `YYYY-MM-DD HH:MM:SS[.ffffff]` (`T` instead of the space in JSON) for a local
/// date and time of day, and says whether it is BC.
#[must_use = "a BC timestamp needs its suffix"]
pub(super) fn push_date_time(
    out: &mut Vec<u8>,
    date: CivilDate,
    time_of_day: u64,
    style: DateTimeStyle,
) -> bool {
    let separator = match style {
        DateTimeStyle::Iso => b' ',
        DateTimeStyle::Json => b'T',
    };
    if (1..=9999).contains(&date.year) && time_of_day < 24 * USECS_PER_HOUR {
        // The common case, with every field of fixed width: fill one array.
        let seconds = time_of_day / USECS_PER_SEC as u64;
        let mut text = *b"0000-00-00 00:00:00";
        put_digits(&mut text[0..4], date.year as u64);
        put_digits(&mut text[5..7], u64::from(date.month));
        put_digits(&mut text[8..10], u64::from(date.day));
        text[10] = separator;
        put_digits(&mut text[11..13], seconds / 3600);
        put_digits(&mut text[14..16], seconds / 60 % 60);
        put_digits(&mut text[17..19], seconds % 60);
        out.extend_from_slice(&text);
        push_fraction(out, time_of_day % USECS_PER_SEC as u64);
        return false;
    }
    let is_bc = push_date(out, date);
    out.push(separator);
    push_clock(out, time_of_day);
    is_bc
}

/// Writes the last `digits.len()` decimal digits of `value` into `digits`.
fn put_digits(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// How a UTC offset is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OffsetStyle {
    /// `+01`, `+05:30`, `+00:53:28`: minutes and seconds only when nonzero.
    Short,
    /// `+01:00`, `+05:30`, `+00:53:28`: minutes always (XSD, used in JSON).
    Xsd,
}

impl From<DateTimeStyle> for OffsetStyle {
    fn from(style: DateTimeStyle) -> Self {
        match style {
            DateTimeStyle::Iso => OffsetStyle::Short,
            DateTimeStyle::Json => OffsetStyle::Xsd,
        }
    }
}

/// Appends a UTC offset given in seconds *east* of Greenwich: `+` for zero and east.
pub(super) fn push_offset(out: &mut Vec<u8>, seconds_east: i32, style: OffsetStyle) {
    out.push(if seconds_east >= 0 { b'+' } else { b'-' });
    let total = u64::from(seconds_east.unsigned_abs());
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    // PostgreSQL allows offsets beyond 99 hours in POSIX zone strings; `%02d` then
    // simply prints more digits.
    if hours < 100 {
        push_two_digits(out, hours);
    } else {
        push_number(out, hours, 2);
    }
    if seconds != 0 || minutes != 0 || style == OffsetStyle::Xsd {
        out.push(b':');
        push_two_digits(out, minutes);
    }
    if seconds != 0 {
        out.push(b':');
        push_two_digits(out, seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_pad_but_never_truncate() {
        assert_eq!(text(|o| push_number(o, 7, 2)), "07");
        assert_eq!(text(|o| push_number(o, 0, 4)), "0000");
        assert_eq!(text(|o| push_number(o, 12345, 4)), "12345");
        assert_eq!(text(|o| push_number(o, u64::MAX, 2)), u64::MAX.to_string());
        assert_eq!(text(|o| push_number(o, 5, 0)), "5");
        assert_eq!(text(|o| push_signed(o, i64::MIN)), i64::MIN.to_string());
    }

    #[test]
    fn fractions_lose_trailing_zeros() {
        assert_eq!(text(|o| push_fraction(o, 0)), "");
        assert_eq!(text(|o| push_fraction(o, 500_000)), ".5");
        assert_eq!(text(|o| push_fraction(o, 1)), ".000001");
        assert_eq!(text(|o| push_fraction(o, 120_340)), ".12034");
        assert_eq!(text(|o| push_fraction(o, 999_999)), ".999999");
    }

    #[test]
    fn date_time_fast_path_agrees_with_the_general_one() {
        let general = |date: CivilDate, time_of_day: u64| {
            text(|o| {
                let is_bc = push_date(o, date);
                o.push(b'T');
                push_clock(o, time_of_day);
                push_era(o, is_bc);
            })
        };
        let fast = |date: CivilDate, time_of_day: u64| {
            text(|o| {
                let is_bc = push_date_time(o, date, time_of_day, DateTimeStyle::Json);
                push_era(o, is_bc);
            })
        };
        for year in [1, 9, 99, 999, 1970, 2000, 9999] {
            for (month, day) in [(1, 1), (2, 29), (12, 31)] {
                for time_of_day in [0, 1, 999_999, 43_200_500_000, 24 * USECS_PER_HOUR - 1] {
                    let date = CivilDate { year, month, day };
                    assert_eq!(fast(date, time_of_day), general(date, time_of_day));
                }
            }
        }
    }

    #[test]
    fn offsets() {
        let short = |s| text(|o| push_offset(o, s, OffsetStyle::Short));
        let xsd = |s| text(|o| push_offset(o, s, OffsetStyle::Xsd));
        assert_eq!(short(0), "+00");
        assert_eq!(xsd(0), "+00:00");
        assert_eq!(short(3600), "+01");
        assert_eq!(short(-12_600), "-03:30");
        assert_eq!(short(20_700), "+05:45");
        assert_eq!(xsd(3208), "+00:53:28");
        assert_eq!(short(-3_600 * 100), "-100");
    }
}
