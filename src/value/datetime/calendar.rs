//! Proleptic Gregorian calendar arithmetic on PostgreSQL's day and microsecond counts.
//!
//! PostgreSQL converts with Julian day numbers (`j2date`), which is the proleptic Gregorian
//! calendar with astronomical year numbering: year 0 is 1 BC. The conversion here is the
//! well-known "civil from days" algorithm on 400-year eras, which is branch-light, exact
//! for every day PostgreSQL can store, and needs no table or allocation.

/// Microseconds in a second.
pub(super) const USECS_PER_SEC: i64 = 1_000_000;

/// Microseconds in a day.
pub(super) const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;

/// Seconds in a day.
pub(super) const SECS_PER_DAY: i64 = 86_400;

/// Days in 400 Gregorian years. The calendar (leap years and weekdays) repeats with this
/// period, and so do the time zone rules of a POSIX TZ string.
pub(super) const DAYS_PER_400_YEARS: i64 = 146_097;

/// Days from 0000-03-01, the first day of an era in the algorithm below (putting February
/// last in the year makes the leap day the era's last day), to 1970-01-01.
const DAYS_FROM_ERA_START_TO_UNIX_EPOCH: i64 = 719_468;

/// Days from 1970-01-01 (the Unix epoch) to 2000-01-01 (PostgreSQL's epoch).
pub(super) const UNIX_TO_POSTGRES_EPOCH_DAYS: i64 = 10_957;

/// Seconds from 1970-01-01 (the Unix epoch) to 2000-01-01 (PostgreSQL's epoch).
pub(super) const UNIX_TO_POSTGRES_EPOCH_SECS: i64 = UNIX_TO_POSTGRES_EPOCH_DAYS * SECS_PER_DAY;

/// A calendar day; `year` is astronomical (0 is 1 BC, -1 is 2 BC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CivilDate {
    pub year: i64,
    pub month: u8,
    pub day: u8,
}

/// The calendar day `days` days after 2000-01-01 (before it when negative).
///
/// Exact for any `days` whose arithmetic does not overflow, far beyond PostgreSQL's range.
pub(super) fn civil_from_days(days: i64) -> CivilDate {
    let z = days + UNIX_TO_POSTGRES_EPOCH_DAYS + DAYS_FROM_ERA_START_TO_UNIX_EPOCH;
    let era = z.div_euclid(DAYS_PER_400_YEARS);
    let day_of_era = z.rem_euclid(DAYS_PER_400_YEARS); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let shifted_month = (5 * day_of_year + 2) / 153; // [0, 11], 0 is March
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1; // [1, 31]
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    CivilDate {
        year,
        // Both are small by construction (see the ranges above).
        month: month as u8,
        day: day as u8,
    }
}

/// Days from 2000-01-01 to the given calendar day (astronomical `year`): the inverse of
/// [`civil_from_days`], used for constants and tests.
pub(super) const fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (month, day) = (month as i64, day as i64);
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_400_YEARS + day_of_era
        - DAYS_FROM_ERA_START_TO_UNIX_EPOCH
        - UNIX_TO_POSTGRES_EPOCH_DAYS
}

/// Splits microseconds since 2000-01-01 00:00:00 into whole days since then and the
/// microseconds into the day, which are never negative (instants before the epoch belong
/// to an earlier day, as in PostgreSQL's `timestamp2tm`).
pub(super) fn split_day(micros: i64) -> (i64, u64) {
    let days = micros.div_euclid(USECS_PER_DAY);
    // rem_euclid is in [0, USECS_PER_DAY), so the cast is lossless.
    let time_of_day = micros.rem_euclid(USECS_PER_DAY) as u64;
    (days, time_of_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i64, month: u8, day: u8) -> CivilDate {
        CivilDate { year, month, day }
    }

    #[test]
    fn epoch_and_neighbours() {
        assert_eq!(civil_from_days(0), date(2000, 1, 1));
        assert_eq!(civil_from_days(-1), date(1999, 12, 31));
        assert_eq!(civil_from_days(59), date(2000, 2, 29));
        assert_eq!(civil_from_days(60), date(2000, 3, 1));
        assert_eq!(
            civil_from_days(-UNIX_TO_POSTGRES_EPOCH_DAYS),
            date(1970, 1, 1)
        );
    }

    #[test]
    fn century_leap_rules() {
        // 1900 and 2100 are not leap years, 2000 and 1600 are.
        assert_eq!(
            civil_from_days(days_from_civil(1900, 3, 1) - 1),
            date(1900, 2, 28)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2100, 3, 1) - 1),
            date(2100, 2, 28)
        );
        assert_eq!(
            civil_from_days(days_from_civil(1600, 3, 1) - 1),
            date(1600, 2, 29)
        );
    }

    #[test]
    fn year_zero_is_one_bc() {
        let first_ad = days_from_civil(1, 1, 1);
        assert_eq!(civil_from_days(first_ad - 1), date(0, 12, 31));
        // Year 0 (1 BC) is a leap year in the proleptic calendar.
        assert_eq!(
            civil_from_days(days_from_civil(0, 3, 1) - 1),
            date(0, 2, 29)
        );
    }

    #[test]
    fn round_trips_over_postgres_range() {
        // Julian day 0 (4714-11-24 BC) to the last valid date, in coarse and odd steps.
        let first = -2_451_545;
        assert_eq!(civil_from_days(first), date(-4713, 11, 24));
        let mut days = first;
        while days < 2_145_031_949 {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days, "{d:?}");
            days += 9_973;
        }
        assert_eq!(civil_from_days(2_145_031_948), date(5_874_897, 12, 31));
    }

    #[test]
    fn split_day_floors() {
        assert_eq!(split_day(0), (0, 0));
        assert_eq!(split_day(-1), (-1, (USECS_PER_DAY - 1) as u64));
        assert_eq!(split_day(USECS_PER_DAY), (1, 0));
        assert_eq!(split_day(i64::MIN).0, i64::MIN.div_euclid(USECS_PER_DAY));
    }
}
