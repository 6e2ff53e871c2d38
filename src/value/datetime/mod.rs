//! `date`, `time`, `timetz`, `timestamp`, `timestamptz` and `interval`: from the binary
//! send format to exactly the text PostgreSQL writes.
//!
//! The server sends these types as plain integers, so formatting them here is cheap; but
//! the output must be byte-for-byte what `COPY` (`DateStyle = 'ISO, MDY'`,
//! `IntervalStyle = postgres`) or `to_json` would have written, or an export's text would
//! depend on how it was produced. So every rule of
//! PostgreSQL's `EncodeDateTime` and friends (in `src/backend/utils/adt/datetime.c`) is
//! reproduced, including the odd ones:
//!
//! * Years are astronomical inside but printed from 1 with a ` BC` suffix, placed after
//!   the time zone: `0044-03-15 12:00:00+00:53:28 BC` (year 0 is `0001 BC`). Years beyond
//!   9999 get more digits, never truncation.
//! * Fractional seconds lose trailing zeros (`.5`), and disappear when zero.
//! * Offsets show minutes and seconds only when nonzero (`+01`, `+05:45`, `+00:53:28` for
//!   local mean time); JSON (XSD) always shows minutes (`+01:00`). `timetz` stores its
//!   offset in seconds *west* of UTC, so its sign is inverted.
//! * `time` may be `24:00:00`.
//! * `infinity` / `-infinity` are the extreme integers of `date` and the timestamps.
//! * JSON differs from ISO only for `date`, `timestamp` and `timestamptz` (PostgreSQL's
//!   `JsonEncodeDateTime`): a `T` separator and XSD offsets. For `date` both are equal.
//!   `time`, `timetz` and `interval` have no JSON form of their own: `to_json` writes their
//!   normal text, so their writers take no style.
//!
//! Values PostgreSQL's `*_recv` functions would reject (out of the documented ranges:
//! 4713 BC to 294276 AD for timestamps, 5874897 AD for dates, 0 to 24:00:00 for times,
//! offsets below 16 hours) are reported as [`ValueError`]s: a real server never sends
//! them, and guessing a text for them would only hide corrupt input.
//!
//! Nothing here allocates except by growing `out`, and UTC (or any fixed offset) is plain
//! arithmetic; only zones with transitions look the offset up (see [`Zone`]).

mod calendar;
mod interval;
mod text;
mod zone;

pub use zone::Zone;

use super::{Problem, ValueError};
use calendar::{USECS_PER_DAY, USECS_PER_SEC, civil_from_days, days_from_civil, split_day};
use text::{OffsetStyle, push_clock, push_date, push_date_time, push_era, push_offset};

/// Which of PostgreSQL's text forms a date or timestamp is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeStyle {
    /// `DateStyle = ISO`, what `COPY` and `::text` write: `2024-01-31 12:00:00+01`.
    Iso,
    /// ISO 8601 as `to_json`/`row_to_json` write it: `2024-01-31T12:00:00+01:00`.
    Json,
}

/// Days from 2000-01-01 back to the first valid date, 4714-11-24 BC (Julian day 0).
const FIRST_DATE: i32 = days_from_civil(-4713, 11, 24) as i32;
/// Days from 2000-01-01 to the first date past the valid range, 5874898-01-01.
const END_DATE: i32 = days_from_civil(5_874_898, 1, 1) as i32;
/// The first valid timestamp, 4714-11-24 00:00:00 BC (UTC for `timestamptz`).
const FIRST_TIMESTAMP: i64 = FIRST_DATE as i64 * USECS_PER_DAY;
/// The first timestamp past the valid range, 294277-01-01 00:00:00.
const END_TIMESTAMP: i64 = days_from_civil(294_277, 1, 1) * USECS_PER_DAY;
/// `timetz` offsets must be less than 16 hours either way.
const TIMETZ_OFFSET_LIMIT: i32 = 16 * 3600;

/// A `date` or timestamp: a finite value or one of the infinities PostgreSQL stores as
/// the extreme integers.
enum MaybeInfinite<T> {
    Finite(T),
    Infinity,
    NegativeInfinity,
}

impl<T> MaybeInfinite<T> {
    /// Writes the infinities; returns a finite value for the caller to write.
    fn or_write_infinity(self, out: &mut Vec<u8>) -> Option<T> {
        match self {
            MaybeInfinite::Finite(value) => return Some(value),
            MaybeInfinite::Infinity => out.extend_from_slice(b"infinity"),
            MaybeInfinite::NegativeInfinity => out.extend_from_slice(b"-infinity"),
        }
        None
    }
}

fn out_of_range(type_name: &'static str, what: &'static str) -> ValueError {
    ValueError::new(type_name, Problem::OutOfRange(what))
}

/// A `date`: days since 2000-01-01, or an infinity.
fn date(days: i32) -> Result<MaybeInfinite<i32>, ValueError> {
    match days {
        i32::MAX => Ok(MaybeInfinite::Infinity),
        i32::MIN => Ok(MaybeInfinite::NegativeInfinity),
        _ if (FIRST_DATE..END_DATE).contains(&days) => Ok(MaybeInfinite::Finite(days)),
        _ => Err(out_of_range("date", "date")),
    }
}

/// A `timestamp` or `timestamptz`: microseconds since 2000-01-01 00:00:00, or an
/// infinity.
fn timestamp(type_name: &'static str, micros: i64) -> Result<MaybeInfinite<i64>, ValueError> {
    match micros {
        i64::MAX => Ok(MaybeInfinite::Infinity),
        i64::MIN => Ok(MaybeInfinite::NegativeInfinity),
        _ if (FIRST_TIMESTAMP..END_TIMESTAMP).contains(&micros) => {
            Ok(MaybeInfinite::Finite(micros))
        }
        _ => Err(out_of_range(type_name, "timestamp")),
    }
}

/// The time of day of a `time` or `timetz`: microseconds since midnight, up to and
/// including 24:00:00.
fn time_of_day(type_name: &'static str, micros: i64) -> Result<u64, ValueError> {
    u64::try_from(micros)
        .ok()
        .filter(|&micros| micros <= USECS_PER_DAY as u64)
        .ok_or_else(|| out_of_range(type_name, "time"))
}

/// Writes a `date` (days since 2000-01-01) as `date_out` does. The text is the same in
/// both styles: `2024-01-31`, `0044-03-15 BC`, `infinity`.
pub fn write_date(days: i32, out: &mut Vec<u8>) -> Result<(), ValueError> {
    if let Some(days) = date(days)?.or_write_infinity(out) {
        let is_bc = push_date(out, civil_from_days(i64::from(days)));
        push_era(out, is_bc);
    }
    Ok(())
}

/// Writes a `time` (microseconds since midnight) as `time_out` does: `13:45:00`,
/// `08:00:00.25`, `24:00:00`.
pub fn write_time(micros: i64, out: &mut Vec<u8>) -> Result<(), ValueError> {
    push_clock(out, time_of_day("time", micros)?);
    Ok(())
}

/// Writes a `timetz` (microseconds since midnight and an offset in seconds east of UTC)
/// as `timetz_out` does: `12:00:00+05:30`, `23:59:59.9-03`.
pub fn write_timetz(micros: i64, seconds_east: i32, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let micros = time_of_day("timetz", micros)?;
    if seconds_east.unsigned_abs() >= TIMETZ_OFFSET_LIMIT.unsigned_abs() {
        return Err(out_of_range("timetz", "time zone offset"));
    }
    push_clock(out, micros);
    push_offset(out, seconds_east, OffsetStyle::Short);
    Ok(())
}

/// Writes a `timestamp` (microseconds since 2000-01-01 00:00:00) as `timestamp_out`
/// (`2024-01-31 12:00:00.5`) or `to_json` (`2024-01-31T12:00:00.5`) does.
pub fn write_timestamp(
    micros: i64,
    style: DateTimeStyle,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    if let Some(micros) = timestamp("timestamp", micros)?.or_write_infinity(out) {
        let (days, time_of_day) = split_day(micros);
        let is_bc = push_date_time(out, civil_from_days(days), time_of_day, style);
        push_era(out, is_bc);
    }
    Ok(())
}

/// Writes a `timestamptz` (microseconds since 2000-01-01 00:00:00 UTC) shown in `zone`,
/// as `timestamptz_out` (`2024-01-31 12:00:00+01`) or `to_json`
/// (`2024-01-31T12:00:00+01:00`) does with that `TimeZone` setting.
pub fn write_timestamptz(
    micros: i64,
    zone: &Zone,
    style: DateTimeStyle,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let Some(utc) = timestamp("timestamptz", micros)?.or_write_infinity(out) else {
        return Ok(());
    };
    let beyond_range = || out_of_range("timestamptz", "timestamp");
    let seconds_east = zone.offset_at(utc).ok_or_else(beyond_range)?;
    let local = utc
        .checked_add(i64::from(seconds_east) * USECS_PER_SEC)
        .ok_or_else(beyond_range)?;
    let (days, time_of_day) = split_day(local);
    let is_bc = push_date_time(out, civil_from_days(days), time_of_day, style);
    push_offset(out, seconds_east, style.into());
    push_era(out, is_bc);
    Ok(())
}

/// Writes an `interval` as `interval_out` does with `IntervalStyle = postgres`:
/// `1 year 2 mons -3 days +04:05:06.5`.
///
/// This is PostgreSQL 15's output. PostgreSQL 17 added infinite intervals, stored as the
/// three maximum (or minimum) values, which 15 prints as ordinary huge intervals.
pub fn write_interval(months: i32, days: i32, micros: i64, out: &mut Vec<u8>) {
    interval::push_interval(out, months, days, micros);
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600 * USECS_PER_SEC;

    fn text(result: Result<(), ValueError>, out: Vec<u8>) -> String {
        result.unwrap();
        String::from_utf8(out).unwrap()
    }

    fn date(days: i32, _style: DateTimeStyle) -> String {
        let mut out = Vec::new();
        text(write_date(days, &mut out), out)
    }

    fn iso_date(days: i32) -> String {
        date(days, DateTimeStyle::Iso)
    }

    fn time(micros: i64) -> String {
        let mut out = Vec::new();
        text(write_time(micros, &mut out), out)
    }

    /// `timetz` as PostgreSQL stores it: the offset in seconds west of UTC.
    fn timetz(micros: i64, seconds_west: i32) -> String {
        let mut out = Vec::new();
        text(write_timetz(micros, -seconds_west, &mut out), out)
    }

    fn timestamp(micros: i64, style: DateTimeStyle) -> String {
        let mut out = Vec::new();
        text(write_timestamp(micros, style, &mut out), out)
    }

    fn timestamptz(micros: i64, zone: &str, style: DateTimeStyle) -> String {
        let zone = Zone::from_setting(zone).expect("zone");
        let mut out = Vec::new();
        text(write_timestamptz(micros, &zone, style, &mut out), out)
    }

    fn interval(months: i32, days: i32, micros: i64) -> String {
        let mut out = Vec::new();
        write_interval(months, days, micros, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// Microseconds since 2000-01-01 of a UTC date and time.
    fn at(year: i64, month: u8, day: u8, hour: i64, minute: i64, second: i64) -> i64 {
        days_from_civil(year, month, day) * USECS_PER_DAY
            + hour * HOUR
            + minute * 60 * USECS_PER_SEC
            + second * USECS_PER_SEC
    }

    use DateTimeStyle::{Iso, Json};

    #[test]
    fn range_matches_postgres_constants() {
        // MIN_TIMESTAMP and END_TIMESTAMP in PostgreSQL's datatype/timestamp.h.
        assert_eq!(FIRST_TIMESTAMP, -211_813_488_000_000_000);
        assert_eq!(END_TIMESTAMP, 9_223_371_331_200_000_000);
        // DATE_END_JULIAN - POSTGRES_EPOCH_JDATE.
        assert_eq!(END_DATE, 2_147_483_494 - 2_451_545);
    }

    #[test]
    fn dates() {
        assert_eq!(iso_date(0), "2000-01-01");
        assert_eq!(iso_date(-1), "1999-12-31");
        assert_eq!(iso_date(59), "2000-02-29");
        assert_eq!(iso_date(-10_957), "1970-01-01");
        assert_eq!(iso_date(days_from_civil(2024, 2, 29) as i32), "2024-02-29");
        assert_eq!(date(0, Json), "2000-01-01");
    }

    #[test]
    fn bc_dates() {
        let first_ad = days_from_civil(1, 1, 1) as i32;
        assert_eq!(iso_date(first_ad), "0001-01-01");
        assert_eq!(iso_date(first_ad - 1), "0001-12-31 BC");
        assert_eq!(
            iso_date(days_from_civil(-43, 3, 15) as i32),
            "0044-03-15 BC"
        );
        assert_eq!(iso_date(FIRST_DATE), "4714-11-24 BC");
        assert_eq!(date(FIRST_DATE, Json), "4714-11-24 BC");
    }

    #[test]
    fn big_years_and_infinities() {
        assert_eq!(
            iso_date(days_from_civil(12_345, 6, 7) as i32),
            "12345-06-07"
        );
        assert_eq!(iso_date(END_DATE - 1), "5874897-12-31");
        assert_eq!(iso_date(i32::MAX), "infinity");
        assert_eq!(iso_date(i32::MIN), "-infinity");
        assert_eq!(date(i32::MAX, Json), "infinity");
    }

    #[test]
    fn times() {
        assert_eq!(time(0), "00:00:00");
        assert_eq!(time(USECS_PER_DAY), "24:00:00");
        assert_eq!(time(USECS_PER_DAY - 1), "23:59:59.999999");
        assert_eq!(
            time(13 * HOUR + 45 * 60 * USECS_PER_SEC + 250_000),
            "13:45:00.25"
        );
        assert_eq!(time(1), "00:00:00.000001");
    }

    #[test]
    fn timetzs() {
        assert_eq!(timetz(12 * HOUR, -19_800), "12:00:00+05:30");
        assert_eq!(timetz(12 * HOUR, -3_600), "12:00:00+01");
        assert_eq!(timetz(12 * HOUR, 12_600), "12:00:00-03:30");
        assert_eq!(timetz(12 * HOUR, 0), "12:00:00+00");
        assert_eq!(timetz(0, -3_661), "00:00:00+01:01:01");
        assert_eq!(timetz(USECS_PER_DAY, 57_599), "24:00:00-15:59:59");
        assert_eq!(timetz(500_000, -57_599), "00:00:00.5+15:59:59");
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0, Iso), "2000-01-01 00:00:00");
        assert_eq!(timestamp(-1, Iso), "1999-12-31 23:59:59.999999");
        assert_eq!(
            timestamp(at(2024, 1, 31, 12, 0, 0) + 500_000, Iso),
            "2024-01-31 12:00:00.5"
        );
        assert_eq!(
            timestamp(at(2024, 1, 31, 12, 0, 0) + 500_000, Json),
            "2024-01-31T12:00:00.5"
        );
        assert_eq!(
            timestamp(at(2024, 2, 29, 23, 59, 59), Iso),
            "2024-02-29 23:59:59"
        );
        assert_eq!(
            timestamp(at(-43, 3, 15, 10, 0, 0), Iso),
            "0044-03-15 10:00:00 BC"
        );
        assert_eq!(
            timestamp(at(-43, 3, 15, 10, 0, 0), Json),
            "0044-03-15T10:00:00 BC"
        );
        assert_eq!(timestamp(FIRST_TIMESTAMP, Iso), "4714-11-24 00:00:00 BC");
        assert_eq!(
            timestamp(END_TIMESTAMP - 1, Iso),
            "294276-12-31 23:59:59.999999"
        );
        assert_eq!(timestamp(i64::MAX, Iso), "infinity");
        assert_eq!(timestamp(i64::MIN, Json), "-infinity");
    }

    #[test]
    fn timestamptzs_in_fixed_zones() {
        let noon = at(2024, 1, 31, 12, 0, 0);
        assert_eq!(timestamptz(noon, "UTC", Iso), "2024-01-31 12:00:00+00");
        assert_eq!(
            timestamptz(noon, "Etc/UTC", Json),
            "2024-01-31T12:00:00+00:00"
        );
        assert_eq!(timestamptz(noon, "<+05>-05", Iso), "2024-01-31 17:00:00+05");
        assert_eq!(
            timestamptz(noon, "<-03:30>+03:30", Iso),
            "2024-01-31 08:30:00-03:30"
        );
        assert_eq!(
            timestamptz(noon, "<-03:30>+03:30", Json),
            "2024-01-31T08:30:00-03:30"
        );
        // The local date decides the era: just after 1 BC ends in UTC, it is still BC here.
        let first_ad = at(1, 1, 1, 0, 0, 0);
        assert_eq!(
            timestamptz(first_ad, "<-03:30>+03:30", Iso),
            "0001-12-31 20:30:00-03:30 BC"
        );
        assert_eq!(timestamptz(first_ad, "UTC", Iso), "0001-01-01 00:00:00+00");
    }

    #[test]
    fn timestamptzs_in_zones_with_transitions() {
        let noon = at(2024, 1, 31, 12, 0, 0);
        assert_eq!(
            timestamptz(noon, "Europe/Berlin", Iso),
            "2024-01-31 13:00:00+01"
        );
        assert_eq!(
            timestamptz(noon, "Europe/Berlin", Json),
            "2024-01-31T13:00:00+01:00"
        );
        assert_eq!(
            timestamptz(noon, "Asia/Kathmandu", Iso),
            "2024-01-31 17:45:00+05:45"
        );
        assert_eq!(
            timestamptz(noon, "America/St_Johns", Iso),
            "2024-01-31 08:30:00-03:30"
        );
        // Local mean time before the first transition, with seconds.
        let old = at(1800, 1, 1, 0, 0, 0);
        assert_eq!(
            timestamptz(old, "Europe/Berlin", Iso),
            "1800-01-01 00:53:28+00:53:28"
        );
        assert_eq!(
            timestamptz(old, "Europe/Berlin", Json),
            "1800-01-01T00:53:28+00:53:28"
        );
        assert_eq!(
            timestamptz(FIRST_TIMESTAMP, "America/New_York", Iso),
            "4714-11-23 19:03:58-04:56:02 BC"
        );
        // Beyond the last transition in the file, and beyond jiff's year 9999.
        assert_eq!(
            timestamptz(at(2100, 7, 1, 4, 0, 0), "America/New_York", Iso),
            "2100-07-01 00:00:00-04"
        );
        assert_eq!(
            timestamptz(END_TIMESTAMP - 1, "America/New_York", Iso),
            "294276-12-31 18:59:59.999999-05"
        );
        assert_eq!(timestamptz(i64::MAX, "Europe/Berlin", Iso), "infinity");
    }

    #[test]
    fn intervals() {
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(interval(0, -1, 0), "-1 days");
        assert_eq!(
            interval(14, -3, 4 * HOUR + 306_500_000),
            "1 year 2 mons -3 days +04:05:06.5"
        );
        assert_eq!(interval(0, 1, -HOUR), "1 day -01:00:00");
        assert_eq!(interval(0, -1, HOUR), "-1 days +01:00:00");
    }

    #[test]
    fn out_of_range_values() {
        let mut out = Vec::new();
        let zone = Zone::from_setting("Europe/Berlin").unwrap();
        for days in [FIRST_DATE - 1, END_DATE, i32::MAX - 1, i32::MIN + 1] {
            assert!(write_date(days, &mut out).is_err(), "{days}");
        }
        for micros in [
            FIRST_TIMESTAMP - 1,
            END_TIMESTAMP,
            i64::MAX - 1,
            i64::MIN + 1,
        ] {
            assert!(write_timestamp(micros, Iso, &mut out).is_err(), "{micros}");
            assert!(
                write_timestamptz(micros, &zone, Iso, &mut out).is_err(),
                "{micros}"
            );
        }
        for micros in [-1, USECS_PER_DAY + 1, i64::MIN, i64::MAX] {
            assert!(write_time(micros, &mut out).is_err(), "{micros}");
        }
        for seconds_east in [57_600, -57_600, i32::MIN, i32::MAX] {
            assert!(
                write_timetz(0, seconds_east, &mut out).is_err(),
                "{seconds_east}"
            );
        }
        assert!(out.is_empty());
    }

    #[test]
    fn any_values_never_panic() {
        // A cheap deterministic scramble over the whole range of every field.
        let zones = [
            Zone::utc(),
            Zone::from_setting("Australia/Lord_Howe").unwrap(),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let wide = state as i64;
            let narrow = (state >> 32) as i32;
            let mut out = Vec::new();
            let _ = write_date(narrow, &mut out);
            let _ = write_time(wide, &mut out);
            let _ = write_timetz(wide, narrow, &mut out);
            let _ = write_timestamp(wide, Json, &mut out);
            for zone in &zones {
                let _ = write_timestamptz(wide, zone, Iso, &mut out);
            }
            write_interval(narrow, narrow.rotate_left(7), wide, &mut out);
        }
    }
}
