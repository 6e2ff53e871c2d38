//! Date and time values: rowpipe's text for each binary value must be exactly the
//! server's own text for it, in ISO style (`COPY`, `::text`) and, for `date`,
//! `timestamp` and `timestamptz`, in JSON style (`to_json`), in many time zones.
//!
//! Every check asks the real server for a batch of values in one round trip: the first
//! column in binary (what rowpipe decodes), the second as text (the reference). For the
//! JSON-capable types the second column is `ISO|JSON`. Values are built server-side from
//! exact integers (`'… us'::interval` is parsed as an integer), so random microseconds
//! anywhere in the valid range arrive unchanged.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rowpipe::source::postgres::binary::decode_scalar;
use rowpipe::value::datetime::{
    DateTimeStyle, Zone, write_date, write_interval, write_time, write_timestamp,
    write_timestamptz, write_timetz,
};
use rowpipe::value::kind::ValueKind;
use rowpipe::value::{Value, ValueError};

use crate::harness::probe::{assert_matches, check, strings};
use crate::harness::property::run_property;
use crate::harness::{ValueProbe, cluster};

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
const UNIX_TO_POSTGRES_EPOCH_USECS: i64 = 946_684_800 * USECS_PER_SEC;
/// 4714-11-24 00:00:00 BC UTC, PostgreSQL's first valid timestamp.
const FIRST_TIMESTAMP: i64 = -211_813_488_000_000_000;
/// 294277-01-01 00:00:00 UTC, just past PostgreSQL's last valid timestamp.
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;
/// Days from 2000-01-01 to 4714-11-24 BC and to 5874898-01-01 (just past the last date).
const FIRST_DATE: i32 = -2_451_545;
const END_DATE: i32 = 2_145_031_949;
/// 400 Gregorian years, after which calendar and time zone rules repeat.
const USECS_PER_400_YEARS: i64 = 146_097 * USECS_PER_DAY;
/// Values per server round trip in the property tests.
const BATCH: usize = 200;

/// The `TimeZone` settings checked, as SQL; each must be reproduced by [`Zone`].
const ZONE_SETTINGS: &[&str] = &[
    "SET TimeZone = 'UTC'",
    "SET TimeZone = 'Etc/UTC'",
    "SET TimeZone = 'Europe/Berlin'",
    "SET TimeZone = 'America/St_Johns'",
    "SET TimeZone = 'Asia/Kathmandu'",
    "SET TimeZone = 'Australia/Lord_Howe'",
    "SET TimeZone = 'Pacific/Chatham'",
    "SET TimeZone = 'America/Sao_Paulo'",
    "SET TimeZone = 'Africa/Casablanca'",
    "SET TimeZone = 'America/New_York'",
    // Negative daylight saving time in the footer rule (winter is "DST").
    "SET TimeZone = 'Europe/Dublin'",
    "SET TimeZone = 'Pacific/Kiritimati'",
    "SET TimeZone = 'Asia/Tehran'",
    // A file whose first local time type is not local mean time.
    "SET TimeZone = 'EST5EDT'",
    "SET TimeZone = 'europe/london'",
    "SET TIME ZONE 5",
    "SET TIME ZONE -5.5",
    "SET TIME ZONE INTERVAL '-03:30' HOUR TO MINUTE",
    "SET TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE",
    // POSIX strings without daylight saving time.
    "SET TimeZone = 'UTC+3'",
    "SET TimeZone = '<+0530>-5:30'",
    "SET TimeZone = 'FOO-100'",
];

/// Settings PostgreSQL accepts but rowpipe leaves to the server.
const UNREPRODUCED_SETTINGS: &[&str] = &[
    // POSIX strings with daylight saving time (and, without rules, `posixrules`' rules).
    "SET TimeZone = 'EST5EDT,M3.2.0,M11.1.0'",
    "SET TimeZone = 'FOO5BAR'",
    // A zoneinfo subdirectory jiff does not index.
    "SET TimeZone = 'posix/Europe/Berlin'",
];

fn connect() -> ValueProbe {
    let db = cluster().create_database("datetime");
    ValueProbe::connect(&db)
}

/// What `SHOW TimeZone` says on this connection.
fn show_time_zone(probe: &ValueProbe) -> String {
    let rows = probe.pairs_of("SELECT NULL::int, current_setting('TimeZone')");
    rows[0].1.clone().expect("TimeZone is set")
}

/// Applies `setting` and resolves the zone the server now uses.
fn use_zone(probe: &ValueProbe, setting: &str) -> (String, Zone) {
    probe.execute(setting);
    let name = show_time_zone(probe);
    let zone = Zone::from_setting(&name)
        .unwrap_or_else(|| panic!("`{setting}` shows as {name:?}, which is not reproduced"));
    (name, zone)
}

/// How the server builds the value from each input `v` (text), e.g. `v::date`.
struct ValueSql {
    expression: &'static str,
    /// Whether the type has a JSON form of its own, compared as a second text.
    has_json: bool,
}

const DATE_TEXT: ValueSql = ValueSql {
    expression: "v::date",
    has_json: true,
};
const DATE_DAYS: ValueSql = ValueSql {
    expression: "'2000-01-01'::date + v::int",
    has_json: true,
};
const TIMESTAMP_TEXT: ValueSql = ValueSql {
    expression: "v::timestamp",
    has_json: true,
};
const TIMESTAMP_MICROS: ValueSql = ValueSql {
    expression: "'2000-01-01 00:00:00'::timestamp + (v || ' us')::interval",
    has_json: true,
};
const TIMESTAMPTZ_TEXT: ValueSql = ValueSql {
    expression: "v::timestamptz",
    has_json: true,
};
const TIMESTAMPTZ_MICROS: ValueSql = ValueSql {
    expression: "'2000-01-01 00:00:00+00'::timestamptz + (v || ' us')::interval",
    has_json: true,
};
const TIME_TEXT: ValueSql = ValueSql {
    expression: "v::time",
    has_json: false,
};
const TIME_MICROS: ValueSql = ValueSql {
    expression: "(v || ' us')::interval::time",
    has_json: false,
};
const TIMETZ_TEXT: ValueSql = ValueSql {
    expression: "v::timetz",
    has_json: false,
};
/// Inputs are `months days micros`.
const INTERVAL_PARTS: ValueSql = ValueSql {
    expression: "make_interval(0, split_part(v, ' ', 1)::int, 0, split_part(v, ' ', 2)::int) \
                 + (split_part(v, ' ', 3) || ' us')::interval",
    has_json: false,
};

/// One of rowpipe's writers, with the style it is asked for.
type Writer<'a> = &'a dyn Fn(&[u8], DateTimeStyle, &mut Vec<u8>) -> Result<(), ValueError>;

/// Asks the server for `inputs` as `value`, formats each binary value with `write`, and
/// describes every difference from the server's text (empty when all match).
fn mismatches(
    probe: &ValueProbe,
    value: &ValueSql,
    inputs: &[String],
    write: Writer,
) -> Vec<String> {
    let text = if value.has_json {
        "x::text || '|' || (to_json(x) #>> '{}')"
    } else {
        "x::text"
    };
    let query = format!(
        "SELECT x, {text} FROM (SELECT {} AS x, n FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n)) s ORDER BY n",
        value.expression
    );
    let rows = probe.pairs(&query, inputs);
    let styles: &[DateTimeStyle] = if value.has_json {
        &[DateTimeStyle::Iso, DateTimeStyle::Json]
    } else {
        &[DateTimeStyle::Iso]
    };
    let mut problems = Vec::new();
    for (input, (binary, server)) in inputs.iter().zip(rows) {
        let (binary, server) = (binary.expect("not NULL"), server.expect("not NULL"));
        let ours = styles
            .iter()
            .map(|&style| {
                let mut out = Vec::new();
                match write(&binary, style, &mut out) {
                    Ok(()) => String::from_utf8(out).expect("UTF-8"),
                    Err(error) => format!("<{error}>"),
                }
            })
            .collect::<Vec<_>>()
            .join("|");
        if ours != server {
            problems.push(format!("{input:?}: rowpipe {ours:?}, server {server:?}"));
        }
    }
    problems
}

// Each writer decodes the binary value as the PostgreSQL source does, then writes it; the
// JSON style is checked without the quotes `to_json` adds around it.

fn date_writer(raw: &[u8], _: DateTimeStyle, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let Value::Date(days) = decode_scalar(ValueKind::Date, raw)? else {
        unreachable!("a date decodes to a date")
    };
    write_date(days, out)
}

fn time_writer(raw: &[u8], _: DateTimeStyle, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let Value::Time(micros) = decode_scalar(ValueKind::Time, raw)? else {
        unreachable!("a time decodes to a time")
    };
    write_time(micros, out)
}

fn timetz_writer(raw: &[u8], _: DateTimeStyle, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let Value::TimeTz {
        micros,
        seconds_east,
    } = decode_scalar(ValueKind::TimeTz, raw)?
    else {
        unreachable!("a timetz decodes to a timetz")
    };
    write_timetz(micros, seconds_east, out)
}

fn timestamp_writer(raw: &[u8], style: DateTimeStyle, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let Value::Timestamp(micros) = decode_scalar(ValueKind::Timestamp, raw)? else {
        unreachable!("a timestamp decodes to a timestamp")
    };
    write_timestamp(micros, style, out)
}

fn timestamptz_writer(
    raw: &[u8],
    zone: &Zone,
    style: DateTimeStyle,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let Value::Timestamptz(micros) = decode_scalar(ValueKind::Timestamptz, raw)? else {
        unreachable!("a timestamptz decodes to a timestamptz")
    };
    write_timestamptz(micros, zone, style, out)
}

fn interval_writer(raw: &[u8], _: DateTimeStyle, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let Value::Interval {
        months,
        days,
        micros,
    } = decode_scalar(ValueKind::Interval, raw)?
    else {
        unreachable!("an interval decodes to an interval")
    };
    write_interval(months, days, micros, out);
    Ok(())
}

/// Runs a property over batches of [`BATCH`] values (see [`run_property`]); 24 cases by
/// default, as each is a server round trip per zone.
#[track_caller]
fn run_batches<S: Strategy>(strategy: S, test: impl Fn(Vec<S::Value>) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    run_property(24, proptest::collection::vec(strategy, BATCH), test);
}

#[test]
fn dates_match_the_server() {
    let probe = connect();
    let literals = [
        "infinity",
        "-infinity",
        "2000-01-01",
        "1999-12-31",
        "2000-02-29",
        "2024-02-29",
        "1900-02-28",
        "1900-03-01",
        "1970-01-01",
        "0001-01-01",
        "0001-12-31 BC",
        "0001-01-01 BC",
        "0005-02-29 BC",
        "0044-03-15 BC",
        "4714-11-24 BC",
        "9999-12-31",
        "10000-01-01",
        "5874897-12-31",
    ];
    assert_matches(
        "date literals",
        mismatches(&probe, &DATE_TEXT, &strings(literals), &date_writer),
    );
    let days = [
        0,
        -1,
        1,
        59,
        60,
        FIRST_DATE,
        END_DATE - 1,
        -730_120,
        -730_119,
        2_913_000,
    ];
    assert_matches(
        "date offsets",
        mismatches(&probe, &DATE_DAYS, &strings(days), &date_writer),
    );
}

#[test]
fn times_match_the_server() {
    let probe = connect();
    let times = [
        "00:00:00",
        "24:00:00",
        "23:59:59.999999",
        "12:34:56.5",
        "00:00:00.000001",
        "13:45:00.25",
        "01:02:03.040506",
    ];
    assert_matches(
        "time",
        mismatches(&probe, &TIME_TEXT, &strings(times), &time_writer),
    );
    let timetzs = [
        "12:00:00+05:30",
        "12:00:00-03:30",
        "12:00:00+01",
        "00:00:00+00",
        "00:00:00-00",
        "24:00:00-15:59:59",
        "23:59:59.999999+15:59:59",
        "12:00:00.1-00:00:01",
        "06:07:08.09+05:45",
    ];
    assert_matches(
        "timetz",
        mismatches(&probe, &TIMETZ_TEXT, &strings(timetzs), &timetz_writer),
    );
}

#[test]
fn timestamps_match_the_server() {
    let probe = connect();
    let literals = [
        "infinity",
        "-infinity",
        "2000-01-01 00:00:00",
        "1999-12-31 23:59:59.999999",
        "2024-01-31 12:00:00.5",
        "2024-02-29 00:00:00.000001",
        "1970-01-01 00:00:00",
        "0001-01-01 00:00:00",
        "0001-12-31 23:59:59.9 BC",
        "0044-03-15 10:00:00 BC",
        "4714-11-24 00:00:00 BC",
        "9999-12-31 23:59:59.999999",
        "10000-01-01 00:00:00",
        "294276-12-31 23:59:59.999999",
    ];
    assert_matches(
        "timestamp literals",
        mismatches(
            &probe,
            &TIMESTAMP_TEXT,
            &strings(literals),
            &timestamp_writer,
        ),
    );
    let micros = [
        0,
        -1,
        1,
        FIRST_TIMESTAMP,
        END_TIMESTAMP - 1,
        i64::from(i32::MAX) * USECS_PER_SEC,
    ];
    assert_matches(
        "timestamp offsets",
        mismatches(
            &probe,
            &TIMESTAMP_MICROS,
            &strings(micros),
            &timestamp_writer,
        ),
    );
}

/// Instants worth checking in every zone, as UTC text.
const INSTANTS: &[&str] = &[
    "infinity",
    "-infinity",
    "4714-11-24 00:00:00+00 BC",
    "0044-03-15 12:00:00+00 BC",
    "0001-01-01 00:00:00+00",
    "0001-12-31 23:00:00+00 BC",
    "1000-06-15 12:00:00.123+00",
    "1800-01-01 00:00:00+00",
    "1847-12-01 00:00:00+00",
    "1893-04-01 00:00:00+00",
    "1900-01-01 00:00:00+00",
    "1916-05-01 00:00:00+00",
    "1945-06-01 00:00:00+00",
    "1970-01-01 00:00:00+00",
    "1999-12-31 23:59:59.999999+00",
    "2000-01-01 00:00:00+00",
    "2024-01-31 12:00:00.5+00",
    "2024-07-01 12:00:00+00",
    "2024-10-27 00:59:59.999999+00",
    "2024-10-27 01:00:00+00",
    "2037-12-31 12:00:00+00",
    "2038-01-19 03:14:08+00",
    "2087-07-01 00:00:00+00",
    "2100-01-01 00:00:00+00",
    "2100-07-01 00:00:00+00",
    "2400-03-31 12:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "10000-01-01 00:00:00+00",
    "12345-07-01 00:00:00+00",
    "294276-07-01 00:00:00+00",
    "294276-12-31 23:59:59.999999+00",
];

#[test]
fn timestamptz_matches_the_server_in_every_zone() {
    let probe = connect();
    for setting in ZONE_SETTINGS {
        let (name, zone) = use_zone(&probe, setting);
        let write = |raw: &[u8], style: DateTimeStyle, out: &mut Vec<u8>| {
            timestamptz_writer(raw, &zone, style, out)
        };
        let context = format!("{setting} ({name})");
        assert_matches(
            &context,
            mismatches(&probe, &TIMESTAMPTZ_TEXT, &strings(INSTANTS), &write),
        );
        let mut micros = vec![
            FIRST_TIMESTAMP,
            FIRST_TIMESTAMP + 1,
            END_TIMESTAMP - 1,
            0,
            -1,
        ];
        // Each transition, a microsecond before and after, in the zone's history and in
        // its far future (400-year periods later, where only the rule applies).
        for transition in transitions(&name, &zone).into_iter().take(400) {
            for shift in [0, 1, 700, 729] {
                let at = transition + shift * USECS_PER_400_YEARS;
                if at < END_TIMESTAMP - 1 {
                    micros.extend([at - 1, at, at + 1]);
                }
            }
        }
        for batch in micros.chunks(2_000) {
            let problems = mismatches(&probe, &TIMESTAMPTZ_MICROS, &strings(batch), &write);
            assert_matches(&context, problems);
        }
    }
}

/// The transitions of zone `name` (as `zone` resolved it) from jiff's reading of tzdata,
/// as microseconds since 2000-01-01; empty for a fixed offset. Only used to pick
/// interesting instants: the server decides whether they are right.
///
/// A zone that is not fixed must have transitions to find: if the lookup failed, the
/// tests built on them would silently check nothing near a transition.
#[track_caller]
fn transitions(name: &str, zone: &Zone) -> Vec<i64> {
    if zone.is_fixed() {
        return Vec::new();
    }
    let tz = TimeZone::get(name)
        .unwrap_or_else(|e| panic!("{name} has transitions, but jiff cannot find it: {e}"));
    let end = Timestamp::from_second(4_102_444_800).expect("2100-01-01"); // 2100-01-01
    let transitions: Vec<i64> = tz
        .following(Timestamp::MIN)
        .map(|transition| transition.timestamp())
        .take_while(|&at| at < end)
        .map(|at| at.as_microsecond() - UNIX_TO_POSTGRES_EPOCH_USECS)
        .collect();
    assert!(
        !transitions.is_empty(),
        "{name}: no transitions before 2100"
    );
    transitions
}

#[test]
fn zone_settings_resolve_like_the_server() {
    let probe = connect();
    assert!(
        Zone::from_setting(&show_time_zone(&probe)).is_some(),
        "the default zone"
    );
    for setting in ZONE_SETTINGS {
        use_zone(&probe, setting);
    }
    for setting in UNREPRODUCED_SETTINGS {
        probe.execute(setting);
        let name = show_time_zone(&probe);
        assert!(
            Zone::from_setting(&name).is_none(),
            "{setting} shows as {name:?}"
        );
    }
}

#[test]
fn intervals_match_the_server() {
    let probe = connect();
    let hour = 3_600 * USECS_PER_SEC;
    let parts: [(i32, i32, i64); 16] = [
        (0, 0, 0),
        (0, 1, 0),
        (0, -1, 0),
        (12, 0, 0),
        (-12, 0, 0),
        (1, 1, 1),
        (2, 2, 2 * hour),
        (14, -3, 4 * hour + 306_500_000),
        (-14, 3, -4 * hour - 306_000_000),
        (-1, 0, hour),
        (11, 0, -hour),
        (0, 0, 25 * hour),
        (0, 0, -1),
        (-23, 5, hour),
        (i32::MAX, i32::MAX, i64::MAX),
        (i32::MIN, i32::MIN, i64::MIN),
    ];
    let inputs = strings(parts.iter().map(|(m, d, us)| format!("{m} {d} {us}")));
    assert_matches(
        "interval",
        mismatches(&probe, &INTERVAL_PARTS, &inputs, &interval_writer),
    );
}

/// Any valid instant, or one near a transition of the zone (picked by the test from
/// `(which transition, distance, 400-year periods later)`).
#[derive(Debug, Clone)]
enum Instant {
    Anywhere(i64),
    NearTransition(usize, i64, i64),
}

fn instant() -> impl Strategy<Value = Instant> {
    prop_oneof![
        (FIRST_TIMESTAMP..END_TIMESTAMP).prop_map(Instant::Anywhere),
        // 1800 to 2200, where the zones' histories are.
        (-6_311_433_600 * USECS_PER_SEC..6_311_433_600 * USECS_PER_SEC).prop_map(Instant::Anywhere),
        (
            any::<usize>(),
            -7_200 * USECS_PER_SEC..7_200 * USECS_PER_SEC,
            0..700_i64
        )
            .prop_map(|(which, distance, periods)| Instant::NearTransition(
                which, distance, periods
            )),
        (any::<usize>(), -2_000_000_i64..2_000_000, Just(0)).prop_map(
            |(which, distance, periods)| Instant::NearTransition(which, distance, periods)
        ),
    ]
}

impl Instant {
    /// Microseconds since 2000-01-01 UTC, within PostgreSQL's range.
    fn resolve(&self, transitions: &[i64]) -> i64 {
        let micros = match *self {
            Instant::Anywhere(micros) => return micros,
            Instant::NearTransition(_, distance, _) if transitions.is_empty() => distance,
            Instant::NearTransition(which, distance, 0) => {
                transitions[which % transitions.len()] + distance
            }
            Instant::NearTransition(which, distance, periods) => {
                // Recent transitions come from the zone's rule, which repeats every 400
                // years; older ones would not be transitions any more when moved.
                let recent = transitions.partition_point(|&at| at < RULE_ERA);
                let from_rule = match &transitions[recent..] {
                    [] => transitions,
                    recent => recent,
                };
                from_rule[which % from_rule.len()] + distance + periods * USECS_PER_400_YEARS
            }
        };
        micros.clamp(FIRST_TIMESTAMP, END_TIMESTAMP - 1)
    }
}

/// 2025-01-01, after which zones' transitions follow their current rule.
const RULE_ERA: i64 = 9_132 * USECS_PER_DAY;

#[test]
fn prop_timestamptz_in_every_zone() {
    let probe = connect();
    let zones = ZONE_SETTINGS
        .iter()
        .map(|setting| {
            let (name, zone) = use_zone(&probe, setting);
            let transitions = transitions(&name, &zone);
            (*setting, zone, transitions)
        })
        .collect::<Vec<_>>();
    run_batches(instant(), |instants| {
        for (setting, zone, transitions) in &zones {
            probe.execute(setting);
            let micros = strings(instants.iter().map(|instant| instant.resolve(transitions)));
            let write = |raw: &[u8], style: DateTimeStyle, out: &mut Vec<u8>| {
                timestamptz_writer(raw, zone, style, out)
            };
            check(
                setting,
                mismatches(&probe, &TIMESTAMPTZ_MICROS, &micros, &write),
            )?;
        }
        Ok(())
    });
}

#[test]
fn prop_timestamps() {
    let probe = connect();
    let micros = prop_oneof![
        FIRST_TIMESTAMP..END_TIMESTAMP,
        -USECS_PER_DAY * 800_000..USECS_PER_DAY * 800_000,
        -USECS_PER_DAY..USECS_PER_DAY,
    ];
    run_batches(micros, |micros| {
        check(
            "timestamp",
            mismatches(
                &probe,
                &TIMESTAMP_MICROS,
                &strings(micros),
                &timestamp_writer,
            ),
        )
    });
}

#[test]
fn prop_dates() {
    let probe = connect();
    let days = prop_oneof![
        FIRST_DATE..END_DATE,
        -800_000..800_000,
        FIRST_DATE..FIRST_DATE + 800_000
    ];
    run_batches(days, |days| {
        check(
            "date",
            mismatches(&probe, &DATE_DAYS, &strings(days), &date_writer),
        )
    });
}

#[test]
fn prop_times() {
    let probe = connect();
    let micros = prop_oneof![
        0..USECS_PER_DAY,
        (0..86_400_i64).prop_map(|second| second * USECS_PER_SEC),
        (0..86_400_000_i64).prop_map(|milli| milli * 1_000),
    ];
    run_batches(micros, |micros| {
        check(
            "time",
            mismatches(&probe, &TIME_MICROS, &strings(micros), &time_writer),
        )
    });
}

#[test]
fn prop_timetz() {
    let probe = connect();
    let offsets = prop_oneof![
        -57_599..57_600_i32,
        (-15..16_i32).prop_map(|hours| hours * 3_600),
        (-63..64_i32).prop_map(|quarters| quarters * 900),
    ];
    run_batches((0..=USECS_PER_DAY, offsets), |values| {
        let inputs = strings(
            values
                .iter()
                .map(|&(micros, offset)| timetz_text(micros, offset)),
        );
        check(
            "timetz",
            mismatches(&probe, &TIMETZ_TEXT, &inputs, &timetz_writer),
        )
    });
}

/// `HH:MM:SS.ffffff±hh:mm:ss` for the server to parse (offset in seconds east).
fn timetz_text(micros: i64, seconds_east: i32) -> String {
    let (seconds, fraction) = (micros / USECS_PER_SEC, micros % USECS_PER_SEC);
    let sign = if seconds_east < 0 { '-' } else { '+' };
    let offset = seconds_east.unsigned_abs();
    format!(
        "{:02}:{:02}:{:02}.{fraction:06}{sign}{:02}:{:02}:{:02}",
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60,
        offset / 3_600,
        offset / 60 % 60,
        offset % 60,
    )
}

#[test]
fn prop_intervals() {
    let probe = connect();
    let months = prop_oneof![any::<i32>(), -30..30_i32, Just(0)];
    let days = prop_oneof![any::<i32>(), -40..40_i32, Just(0)];
    let micros = prop_oneof![
        any::<i64>(),
        -USECS_PER_DAY * 3..USECS_PER_DAY * 3,
        (-100_000..100_000_i64).prop_map(|seconds| seconds * USECS_PER_SEC),
        Just(0),
    ];
    run_batches((months, days, micros), |parts| {
        let inputs = strings(parts.iter().map(|(m, d, us)| format!("{m} {d} {us}")));
        check(
            "interval",
            mismatches(&probe, &INTERVAL_PARTS, &inputs, &interval_writer),
        )
    });
}
