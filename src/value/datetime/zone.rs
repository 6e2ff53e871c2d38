//! The session time zone, resolved so that `timestamptz` values can be shown in it.
//!
//! PostgreSQL sends a `timestamptz` as a UTC instant and converts it to the session's
//! `TimeZone` only in its text output, so reproducing that text means reproducing the
//! zone's UTC offset at every instant. The server reads the system's tzdata files
//! (`/usr/share/zoneinfo` on Debian) with its own copy of the reference `localtime.c`;
//! jiff reads the same files, and the two agree everywhere PostgreSQL can store an
//! instant, as long as three details are handled the same way:
//!
//! * Before a zone's first transition both use the file's first local time type, which is
//!   the local mean time (LMT) with its odd seconds, e.g. `+00:53:28` in Berlin.
//! * After the last transition both follow the POSIX TZ rule in the file's footer.
//!   PostgreSQL gets there by repeating the last 400 years of transitions, jiff by
//!   evaluating the rule; since the Gregorian calendar repeats every 400 years, so do
//!   those rules, which is also what lets us map instants beyond jiff's year-9999 limit
//!   (PostgreSQL goes to 294276) back into its range.
//! * Offsets that never change (UTC, `Etc/GMT-3`, the `<+05>-05` strings PostgreSQL
//!   stores for `SET TIME ZONE 5`) need no lookup at all: they are plain arithmetic,
//!   which keeps the common UTC case fast.
//!
//! Anything else (POSIX strings with daylight saving rules, zones jiff does not find in
//! the zoneinfo directory such as `posix/...`) is left to the server: [`Zone::from_setting`]
//! returns `None` rather than risk a text that differs from PostgreSQL's.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::calendar::{
    DAYS_PER_400_YEARS, SECS_PER_DAY, UNIX_TO_POSTGRES_EPOCH_SECS, USECS_PER_SEC, days_from_civil,
};

/// A session time zone (PostgreSQL's `TimeZone` setting), resolved for local conversion.
#[derive(Debug, Clone)]
pub struct Zone {
    rules: Rules,
}

#[derive(Debug, Clone)]
enum Rules {
    /// The same offset, in seconds east of UTC, at every instant.
    Fixed(i32),
    /// A tzdata zone with transitions.
    Tzdb(TimeZone),
}

/// Seconds in 400 Gregorian years, the period of the calendar and of POSIX TZ rules.
const SECS_PER_400_YEARS: i64 = DAYS_PER_400_YEARS * SECS_PER_DAY;

/// Unix time of 9000-01-01: instants after it are moved back by whole 400-year periods
/// before asking jiff, whose timestamps end in 9999. Real tzdata has no explicit
/// transitions anywhere near this, so only the footer rule applies on both sides.
const LOOKUP_CEILING_SECS: i64 =
    days_from_civil(9000, 1, 1) * SECS_PER_DAY + UNIX_TO_POSTGRES_EPOCH_SECS;

/// The largest UTC offset a POSIX TZ string may give PostgreSQL (167 hours, its parser's
/// limit, which `SET TIME ZONE` happily accepts).
const MAX_POSIX_HOURS: u32 = 24 * 7 - 1;

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            rules: Rules::Fixed(0),
        }
    }

    /// Resolves the value `SHOW TimeZone` returned; `None` when it cannot be reproduced
    /// exactly here, in which case timestamptz columns are formatted by the server.
    ///
    /// Understood: the names of the zoneinfo files (`UTC`, `Europe/Berlin`, any case, as
    /// PostgreSQL looks them up), and POSIX TZ strings without daylight saving time, which
    /// is what PostgreSQL stores for numeric and interval settings (`SET TIME ZONE 5` shows
    /// as `<+05>-05`, `INTERVAL '-03:30' HOUR TO MINUTE` as `<-03:30>+03:30`).
    pub fn from_setting(timezone: &str) -> Option<Zone> {
        // Like PostgreSQL, prefer a zoneinfo file of that name over reading the name as a
        // POSIX string (there is a file `EST5EDT`, for instance).
        match TimeZone::get(timezone) {
            Ok(tz) => Self::from_tzdb(tz),
            Err(_) => posix_fixed_offset(timezone).map(Zone::fixed),
        }
    }

    fn fixed(seconds_east: i32) -> Zone {
        Zone {
            rules: Rules::Fixed(seconds_east),
        }
    }

    fn from_tzdb(tz: TimeZone) -> Option<Zone> {
        if tz.is_unknown() {
            return None;
        }
        if let Ok(offset) = tz.to_fixed_offset() {
            return Some(Zone::fixed(offset.seconds()));
        }
        // A file without transitions (`Etc/UTC`, `Etc/GMT+5`) is a fixed offset too.
        if tz.following(Timestamp::MIN).next().is_none() {
            let offset = tz.to_offset(Timestamp::UNIX_EPOCH);
            return Some(Zone::fixed(offset.seconds()));
        }
        Some(Zone {
            rules: Rules::Tzdb(tz),
        })
    }

    /// Whether every instant has the same offset (no lookups needed).
    pub fn is_fixed(&self) -> bool {
        matches!(self.rules, Rules::Fixed(_))
    }

    /// The offset in seconds east of UTC at `micros` after 2000-01-01 00:00:00 UTC, or
    /// `None` if the instant is beyond what can be looked up (never within PostgreSQL's
    /// timestamp range).
    pub(super) fn offset_at(&self, micros: i64) -> Option<i32> {
        match &self.rules {
            Rules::Fixed(seconds_east) => Some(*seconds_east),
            Rules::Tzdb(tz) => {
                // PostgreSQL looks up the whole second the instant falls in.
                let unix_secs = micros
                    .div_euclid(USECS_PER_SEC)
                    .checked_add(UNIX_TO_POSTGRES_EPOCH_SECS)?;
                let timestamp = Timestamp::from_second(into_lookup_range(unix_secs)).ok()?;
                Some(tz.to_offset(timestamp).seconds())
            }
        }
    }
}

/// Moves an instant after [`LOOKUP_CEILING_SECS`] back by whole 400-year periods, to an
/// instant with the same offset that jiff can represent.
fn into_lookup_range(unix_secs: i64) -> i64 {
    if unix_secs <= LOOKUP_CEILING_SECS {
        return unix_secs;
    }
    let periods = (unix_secs - LOOKUP_CEILING_SECS - 1) / SECS_PER_400_YEARS + 1;
    unix_secs - periods * SECS_PER_400_YEARS
}

/// The offset (seconds east) of a POSIX TZ string that has only a standard time part:
/// an abbreviation (`<+05:30>` quoted, or three or more letters) and an offset *west* of
/// UTC (`-05:30`, `3`), and nothing after it. `None` for anything else, including
/// daylight saving rules, whose defaults PostgreSQL takes from its `posixrules` file.
fn posix_fixed_offset(spec: &str) -> Option<i32> {
    let rest = skip_posix_abbreviation(spec)?;
    let (seconds_west, rest) = posix_offset(rest)?;
    rest.is_empty().then_some(-seconds_west)
}

/// What follows a POSIX zone abbreviation, if `spec` starts with one.
fn skip_posix_abbreviation(spec: &str) -> Option<&str> {
    if let Some(quoted) = spec.strip_prefix('<') {
        let end = quoted.find('>')?;
        (end > 0).then(|| &quoted[end + 1..])
    } else {
        let end = spec
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(spec.len());
        (end >= 3).then(|| &spec[end..])
    }
}

/// A POSIX offset `[+|-]hh[:mm[:ss]]` (seconds west, as written) and what follows it.
fn posix_offset(text: &str) -> Option<(i32, &str)> {
    let (sign, text) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    let (hours, mut text) = posix_number(text, MAX_POSIX_HOURS)?;
    let mut seconds = hours * 3600;
    // Minutes, then seconds (60 is allowed there, as in the reference parser).
    for (unit, max) in [(60, 59), (1, 60)] {
        match text.strip_prefix(':') {
            Some(after) => {
                let (value, after) = posix_number(after, max)?;
                seconds += value * unit;
                text = after;
            }
            None => break,
        }
    }
    // At most 167 * 3600 + 59 * 60 + 60 seconds, far inside i32.
    Some((sign * seconds as i32, text))
}

/// A run of decimal digits no greater than `max`, and what follows it.
fn posix_number(text: &str, max: u32) -> Option<(u32, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let mut value: u32 = 0;
    for digit in text[..digits].bytes() {
        value = value * 10 + u32::from(digit - b'0');
        if value > max {
            return None;
        }
    }
    Some((value, &text[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_offset(setting: &str) -> Option<i32> {
        match Zone::from_setting(setting)?.rules {
            Rules::Fixed(seconds) => Some(seconds),
            Rules::Tzdb(_) => None,
        }
    }

    #[test]
    fn postgres_offset_settings() {
        assert_eq!(fixed_offset("<+05>-05"), Some(5 * 3600));
        assert_eq!(fixed_offset("<-03:30>+03:30"), Some(-12_600));
        assert_eq!(fixed_offset("<+05:30>-05:30"), Some(19_800));
        assert_eq!(fixed_offset("<+00>-00"), Some(0));
        assert_eq!(fixed_offset("<-00:00:10>+00:00:10"), Some(-10));
        assert_eq!(fixed_offset("UTC+3"), Some(-3 * 3600));
        assert_eq!(fixed_offset("FOO-100"), Some(100 * 3600));
    }

    #[test]
    fn unsupported_posix_strings() {
        for setting in [
            "",
            "EST5EDT,M3.2.0,M11.1.0",
            "FOO5BAR",
            "AB5",
            "<+05",
            "<>5",
            "FOO",
            "FOO168",
            "FOO5:60",
            "FOO5:00:61",
            "FOO5x",
            "posix/Europe/Berlin",
            "Etc/Unknown",
            "No/Such_Zone",
        ] {
            assert!(Zone::from_setting(setting).is_none(), "{setting:?}");
        }
    }

    #[test]
    fn utc_names_are_fixed() {
        for name in ["UTC", "Etc/UTC", "etc/utc", "GMT", "Etc/GMT"] {
            assert_eq!(fixed_offset(name), Some(0), "{name}");
        }
        assert_eq!(fixed_offset("Etc/GMT+5"), Some(-5 * 3600));
    }

    #[test]
    fn zones_with_transitions() {
        let berlin = Zone::from_setting("Europe/Berlin").expect("tzdata has Europe/Berlin");
        assert!(!berlin.is_fixed());
        // 2024-07-01 12:00 UTC is summer time; 1800 is local mean time.
        let summer = days_from_civil(2024, 7, 1) * SECS_PER_DAY * USECS_PER_SEC;
        assert_eq!(berlin.offset_at(summer), Some(7200));
        let lmt = days_from_civil(1800, 1, 1) * SECS_PER_DAY * USECS_PER_SEC;
        assert_eq!(berlin.offset_at(lmt), Some(3208));
        // Far beyond jiff's range, the footer rule still applies.
        let far_summer = days_from_civil(294_276, 7, 1) * SECS_PER_DAY * USECS_PER_SEC;
        assert_eq!(berlin.offset_at(far_summer), Some(7200));
        let far_winter = days_from_civil(294_276, 12, 31) * SECS_PER_DAY * USECS_PER_SEC;
        assert_eq!(berlin.offset_at(far_winter), Some(3600));
        assert_eq!(berlin.offset_at(i64::MAX), Some(3600));
    }

    #[test]
    fn lookup_range_keeps_the_calendar() {
        assert_eq!(into_lookup_range(0), 0);
        assert_eq!(into_lookup_range(LOOKUP_CEILING_SECS), LOOKUP_CEILING_SECS);
        let moved = into_lookup_range(LOOKUP_CEILING_SECS + 1);
        assert_eq!(moved, LOOKUP_CEILING_SECS + 1 - SECS_PER_400_YEARS);
        let far = into_lookup_range(i64::MAX / USECS_PER_SEC);
        assert!(far <= LOOKUP_CEILING_SECS && far > LOOKUP_CEILING_SECS - SECS_PER_400_YEARS);
        assert_eq!((i64::MAX / USECS_PER_SEC - far) % SECS_PER_400_YEARS, 0);
    }
}
