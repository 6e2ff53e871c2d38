//! `interval` in PostgreSQL's default `IntervalStyle = postgres`.
//!
//! An interval is three independent counts (months, days, microseconds) because a month
//! and a day have no fixed length; PostgreSQL prints them separately and never normalizes
//! one into another (`25 hours` stays `25:00:00`, it is not `1 day 01:00:00`). Months are
//! shown as years and months, each part keeps its own sign, and the sign rule is odd but
//! must be copied: a positive part gets an explicit `+` only when the nonzero part right
//! before it was negative (`-1 days +02:00:00`, `1 year -2 mons +3 days`).

use super::text::{push_clock, push_signed};

/// Builds `interval_out`'s text part by part, remembering what the sign rule needs.
struct IntervalText<'a> {
    out: &'a mut Vec<u8>,
    /// Nothing written yet: the next part needs no separating space.
    is_empty: bool,
    /// The last part written was negative, so a positive next part shows its `+`.
    last_was_negative: bool,
}

impl IntervalText<'_> {
    /// Appends `-3 days`, `1 year`, `+2 mons`; nothing for zero.
    fn count(&mut self, value: i64, unit: &str) {
        if value == 0 {
            return;
        }
        self.separate();
        if self.last_was_negative && value > 0 {
            self.out.push(b'+');
        }
        push_signed(self.out, value);
        self.out.push(b' ');
        self.out.extend_from_slice(unit.as_bytes());
        // Only exactly 1 is singular: PostgreSQL writes `-1 days`.
        if value != 1 {
            self.out.push(b's');
        }
        self.last_was_negative = value < 0;
        self.is_empty = false;
    }

    /// Appends `[+-]HH:MM:SS[.ffffff]`; when nothing else was written, also for zero
    /// (an empty interval prints as `00:00:00`).
    fn clock(&mut self, micros: i64) {
        if micros == 0 && !self.is_empty {
            return;
        }
        self.separate();
        if micros < 0 {
            self.out.push(b'-');
        } else if self.last_was_negative {
            self.out.push(b'+');
        }
        // Hours are unbounded: i64::MIN microseconds is -2562047788:00:54.775808.
        push_clock(self.out, micros.unsigned_abs());
    }

    fn separate(&mut self) {
        if !self.is_empty {
            self.out.push(b' ');
        }
    }
}

/// Appends an interval of `months`, `days` and `micros` as `interval_out` writes it.
pub(super) fn push_interval(out: &mut Vec<u8>, months: i32, days: i32, micros: i64) {
    let mut text = IntervalText {
        out,
        is_empty: true,
        last_was_negative: false,
    };
    // Truncating division, as in C: years and months share the sign of `months`.
    text.count(i64::from(months / 12), "year");
    text.count(i64::from(months % 12), "mon");
    text.count(i64::from(days), "day");
    text.clock(micros);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(months: i32, days: i32, micros: i64) -> String {
        let mut out = Vec::new();
        push_interval(&mut out, months, days, micros);
        String::from_utf8(out).unwrap()
    }

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn zero_and_single_parts() {
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(interval(12, 0, 0), "1 year");
        assert_eq!(interval(1, 0, 0), "1 mon");
        assert_eq!(interval(2, 0, 0), "2 mons");
        assert_eq!(interval(0, 1, 0), "1 day");
        assert_eq!(interval(0, -1, 0), "-1 days");
        assert_eq!(interval(-12, 0, 0), "-1 years");
        assert_eq!(interval(0, 0, 25 * HOUR), "25:00:00");
        assert_eq!(interval(0, 0, -1), "-00:00:00.000001");
    }

    #[test]
    fn mixed_signs() {
        assert_eq!(
            interval(14, -3, 4 * HOUR + 5 * 60_000_000 + 6_500_000),
            "1 year 2 mons -3 days +04:05:06.5"
        );
        assert_eq!(
            interval(-14, 3, -HOUR),
            "-1 years -2 mons +3 days -01:00:00"
        );
        assert_eq!(interval(-1, 0, HOUR), "-1 mons +01:00:00");
        assert_eq!(interval(11, 0, -HOUR), "11 mons -01:00:00");
        // Only the part right before counts: the negative year does not reach the clock.
        assert_eq!(
            interval(-11 - 12, 5, HOUR),
            "-1 years -11 mons +5 days 01:00:00"
        );
    }

    #[test]
    fn extremes() {
        assert_eq!(
            interval(i32::MIN, i32::MIN, i64::MIN),
            "-178956970 years -8 mons -2147483648 days -2562047788:00:54.775808"
        );
        assert_eq!(
            interval(i32::MAX, i32::MAX, i64::MAX),
            "178956970 years 7 mons 2147483647 days 2562047788:00:54.775807"
        );
    }
}
