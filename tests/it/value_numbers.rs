//! `float4`, `float8` and `numeric`: rowpipe's text for each binary value must be
//! exactly the server's own text for it.
//!
//! Every check asks the real server for a batch of values in one round trip: the first
//! column in binary (what rowpipe decodes), the second as text (the reference). Float
//! inputs are sent as text that reads back as exactly the generated value (Rust's
//! shortest round-trip form), so the server formats the very value rowpipe gets.
//!
//! `numeric` is also checked from the other side: hand-made binary values (leading zero
//! digits, digits hidden by the display scale, negative zeros, bad fields) are sent to
//! the server as binary parameters, and rowpipe must print what the server prints for
//! them, or refuse what it refuses.

use std::error::Error;
use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rowpipe::source::postgres::binary;
use rowpipe::value::ValueError;
use rowpipe::value::kind::{NativeType, SessionFormat, ValueKind};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::harness::probe::{assert_matches, check, strings};
use crate::harness::property::run_property;
use crate::harness::{TestDb, ValueProbe, cluster};

/// Values per server round trip in the property tests.
const BATCH: usize = 200;

/// rowpipe's text for a binary value of `kind`: decoded as the PostgreSQL source does,
/// then written.
fn write_binary(kind: ValueKind, raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let native = NativeType { kind, array: false };
    binary::write_text(native, raw, &SessionFormat::defaults(None), out)
}

fn write_float4(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    write_binary(ValueKind::Float4, raw, out)
}

fn write_float8(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    write_binary(ValueKind::Float8, raw, out)
}

fn write_numeric(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    write_binary(ValueKind::Numeric, raw, out)
}

type Writer = fn(&[u8], &mut Vec<u8>) -> Result<(), ValueError>;

fn database() -> TestDb {
    cluster().create_database("numbers")
}

/// A probe with the float output setting rowpipe reproduces, set explicitly.
fn connect(db: &TestDb) -> ValueProbe {
    let probe = ValueProbe::connect(db);
    probe.execute("SET extra_float_digits = 1");
    probe
}

/// Asks the server for each input as `sql_type` and describes every difference between
/// rowpipe's text for the binary value and the server's text (empty when all match).
fn mismatches(probe: &ValueProbe, sql_type: &str, inputs: &[String], write: Writer) -> Vec<String> {
    let query = format!(
        "SELECT v::{sql_type}, v::{sql_type}::text \
         FROM unnest($1::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n"
    );
    let rows = probe.pairs(&query, inputs);
    inputs
        .iter()
        .zip(rows)
        .filter_map(|(input, (binary, server))| {
            let (binary, server) = (binary.expect("not NULL"), server.expect("not NULL"));
            let ours = ours(write, &binary);
            (ours != server).then(|| format!("{input:?}: rowpipe {ours:?}, server {server:?}"))
        })
        .collect()
}

/// rowpipe's text for a binary value, or its error in angle brackets.
fn ours(write: Writer, binary: &[u8]) -> String {
    let mut out = Vec::new();
    match write(binary, &mut out) {
        Ok(()) => String::from_utf8(out).expect("UTF-8"),
        Err(error) => format!("<{error}>"),
    }
}

/// Runs a property over batches of [`BATCH`] values (see [`run_property`]); 32 cases by
/// default, as each is a server round trip.
#[track_caller]
fn run_batches<S: Strategy>(strategy: S, test: impl Fn(Vec<S::Value>) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    run_property(32, proptest::collection::vec(strategy, BATCH), test);
}

// ---------------------------------------------------------------------------------------
// Floats
// ---------------------------------------------------------------------------------------

/// Text the server reads back as exactly `value`.
fn float8_input(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN".to_owned(),
        f64::INFINITY => "Infinity".to_owned(),
        f64::NEG_INFINITY => "-Infinity".to_owned(),
        v => format!("{v:e}"),
    }
}

/// Text the server reads back as exactly `value` (float4in rounds once, from decimal).
fn float4_input(value: f32) -> String {
    match value {
        v if v.is_nan() => "NaN".to_owned(),
        f32::INFINITY => "Infinity".to_owned(),
        f32::NEG_INFINITY => "-Infinity".to_owned(),
        v => format!("{v:e}"),
    }
}

const FLOAT8_EDGES: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    0.2,
    0.3,
    -0.5,
    2.5,
    100.0,
    123.456,
    0.0001,
    0.00012345,
    0.00009999,
    0.00001,
    1.5e-7,
    1e14,
    99999999999999.9,
    123456789012345.0,
    999999999999999.0,
    999999999999999.9,
    1e15,
    1e15 + 1.0,
    1e16,
    1234567890123456.0,
    9007199254740992.0,
    9007199254740993.0,
    123456789012345678.0,
    1e20,
    1e21,
    1e22,
    1e23,
    1e100,
    1e-100,
    1e300,
    5e-324,
    -5e-324,
    1e-323,
    // The largest subnormal.
    f64::from_bits(0x000f_ffff_ffff_ffff),
    2.2250738585072014e-308,
    f64::MAX,
    f64::MIN,
    f64::EPSILON,
    std::f64::consts::PI,
    std::f64::consts::E,
    1.0 / 3.0,
    2.0 / 3.0,
    // Exactly halfway between two shortest candidates: Ryu rounds to even.
    562949953421312.0 + 0.25,
    562949953421312.0 + 0.75,
    1125899906851400.0 + 0.25,
    0.00016260147094726562,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

const FLOAT4_EDGES: &[f32] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    0.2,
    0.3,
    -0.5,
    123456.0,
    999999.0,
    999999.9,
    1000000.0,
    1234567.0,
    16777216.0,
    16777217.0,
    0.0001,
    0.00001,
    1.5e-7,
    1e-45,
    -1e-45,
    1.1754942e-38,
    1.1754944e-38,
    f32::MAX,
    f32::MIN,
    f32::EPSILON,
    std::f32::consts::PI,
    1e10,
    1e30,
    // Exact ties, common in float4.
    1048576.0 + 0.25,
    1048576.0 + 0.75,
    0.047851562,
    0.17382812,
    0.22851562,
    0.27539062,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
];

#[test]
fn float8_edges_match_the_server() {
    let db = database();
    let probe = connect(&db);
    let mut inputs = strings(FLOAT8_EDGES.iter().map(|&v| float8_input(v)));
    inputs.extend(strings(["-NaN", "1e15", "1e-4", "9.999999999999999e14"]));
    // Every power of ten and of two in range, each side of the format thresholds.
    inputs.extend((-323..=308).map(|e| format!("1e{e}")));
    inputs.extend((-1074..=1023).map(|e| float8_input(2f64.powi(e))));
    assert_matches(
        "float8",
        mismatches(&probe, "float8", &inputs, write_float8),
    );
}

#[test]
fn float4_edges_match_the_server() {
    let db = database();
    let probe = connect(&db);
    let mut inputs = strings(FLOAT4_EDGES.iter().map(|&v| float4_input(v)));
    inputs.extend(strings(["-NaN", "1e6", "1e-4", "999999.94"]));
    inputs.extend((-45..=38).map(|e| format!("1e{e}")));
    inputs.extend((-149..=127).map(|e| float4_input(2f32.powi(e))));
    assert_matches(
        "float4",
        mismatches(&probe, "float4", &inputs, write_float4),
    );
}

/// Any bit pattern, NaNs included.
fn any_f64() -> impl Strategy<Value = f64> {
    any::<u64>().prop_map(f64::from_bits)
}

/// Values with few significant bits, where exact ties between two shortest decimals
/// happen (e.g. `562949953421312.25`).
fn short_f64() -> impl Strategy<Value = f64> {
    (any::<bool>(), -60i32..60, 0u64..(1 << 12)).prop_map(|(negative, exponent, bits)| {
        let value = (bits as f64 + 4096.0) * 2f64.powi(exponent);
        if negative { -value } else { value }
    })
}

/// Decimals as people type them: `123.45`, `0.000012`, `1e15`.
fn typed_f64() -> impl Strategy<Value = f64> {
    (any::<i64>(), 0i32..24).prop_map(|(digits, scale)| {
        format!("{}e-{scale}", digits % 10_000_000_000_000_000)
            .parse()
            .unwrap()
    })
}

#[test]
fn prop_float8() {
    let db = database();
    let probe = connect(&db);
    let values = prop_oneof![
        4 => any_f64(),
        1 => any_f64().prop_filter("not NaN", |v| !v.is_nan()),
        2 => short_f64(),
        2 => typed_f64(),
    ];
    run_batches(values, |values| {
        let inputs = strings(values.into_iter().map(float8_input));
        check(
            "float8",
            mismatches(&probe, "float8", &inputs, write_float8),
        )
    });
}

fn any_f32() -> impl Strategy<Value = f32> {
    any::<u32>().prop_map(f32::from_bits)
}

fn short_f32() -> impl Strategy<Value = f32> {
    (any::<bool>(), -40i32..30, 0u32..(1 << 8)).prop_map(|(negative, exponent, bits)| {
        let value = (bits as f32 + 256.0) * 2f32.powi(exponent);
        if negative { -value } else { value }
    })
}

#[test]
fn prop_float4() {
    let db = database();
    let probe = connect(&db);
    let values = prop_oneof![
        4 => any_f32(),
        1 => any_f32().prop_filter("not NaN", |v| !v.is_nan()),
        2 => short_f32(),
    ];
    run_batches(values, |values| {
        let inputs = strings(values.into_iter().map(float4_input));
        check(
            "float4",
            mismatches(&probe, "float4", &inputs, write_float4),
        )
    });
}

// ---------------------------------------------------------------------------------------
// numeric from text
// ---------------------------------------------------------------------------------------

#[test]
fn numeric_edges_match_the_server() {
    let db = database();
    let probe = connect(&db);
    let mut inputs = strings([
        "0",
        "0.00",
        "-0",
        "-0.000",
        "1",
        "-1",
        "-0.5",
        "0.1",
        "10000",
        "9999",
        "99999999.99990000",
        "12345678901234567890.123456789012345678901234567890",
        "0.00000000000000000001",
        "1e-20",
        "1.000e-20",
        "-1.5e-7",
        "1e20",
        "1e1000",
        "-9.999e999",
        "1e-1000",
        "123.4500",
        "0.0001",
        "0.00010",
        "1000.0001",
        "NaN",
        "Infinity",
        "-Infinity",
    ]);
    // The widest integer part and the largest display scale numeric_in accepts.
    inputs.push(format!("9{}", "0".repeat(131_071)));
    inputs.push(format!("-{}.{}", "7".repeat(5000), "3".repeat(16_383)));
    inputs.push(format!("0.{}1", "0".repeat(16_381)));
    assert_matches(
        "numeric",
        mismatches(&probe, "numeric", &inputs, write_numeric),
    );
}

/// Decimal text: a sign, up to 40 integer and 40 fraction digits (leading and trailing
/// zeros included), sometimes an exponent that moves the point far left or right.
fn numeric_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        "[0-9]{0,40}",
        proptest::option::of("[0-9]{0,40}"),
        prop_oneof![4 => Just(None), 1 => (-990i32..990).prop_map(Some)],
    )
        .prop_map(|(negative, integer, fraction, exponent)| {
            let mut text = String::new();
            if negative {
                text.push('-');
            }
            text.push_str(if integer.is_empty() { "0" } else { &integer });
            if let Some(fraction) = fraction {
                text.push('.');
                text.push_str(&fraction);
            }
            if let Some(exponent) = exponent {
                let _ = write!(text, "e{exponent}");
            }
            text
        })
}

#[test]
fn prop_numeric() {
    let db = database();
    let probe = connect(&db);
    let values = prop_oneof![
        20 => numeric_text(),
        1 => Just("NaN".to_owned()),
        1 => Just("Infinity".to_owned()),
        1 => Just("-Infinity".to_owned()),
    ];
    run_batches(values, |inputs| {
        check(
            "numeric",
            mismatches(&probe, "numeric", &inputs, write_numeric),
        )
    });
}

// ---------------------------------------------------------------------------------------
// numeric from hand-made binary
// ---------------------------------------------------------------------------------------

/// A numeric parameter sent as the given binary bytes, whatever they are.
#[derive(Debug)]
struct RawNumeric(Vec<u8>);

impl ToSql for RawNumeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

/// A one-dimensional numeric[] parameter of hand-made elements.
#[derive(Debug)]
struct RawNumericArray(Vec<Vec<u8>>);

impl ToSql for RawNumericArray {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.put_i32(1); // dimensions
        out.put_i32(0); // no NULLs
        out.put_u32(Type::NUMERIC.oid());
        out.put_i32(i32::try_from(self.0.len())?);
        out.put_i32(1); // lower bound
        for element in &self.0 {
            out.put_i32(i32::try_from(element.len())?);
            out.put_slice(element);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC_ARRAY
    }

    to_sql_checked!();
}

/// A connection that sends binary parameters, which [`ValueProbe`] does not.
/// A probe that sends numerics as binary parameters.
struct BinaryClient(ValueProbe);

impl BinaryClient {
    fn connect(db: &TestDb) -> BinaryClient {
        BinaryClient(ValueProbe::connect(db))
    }

    /// The server's text for each element, in order.
    fn texts(&self, elements: Vec<Vec<u8>>) -> Vec<String> {
        let query =
            "SELECT x::text FROM unnest($1::numeric[]) WITH ORDINALITY AS t(x, n) ORDER BY n";
        let elements = RawNumericArray(elements);
        let rows = self
            .0
            .block_on(|client| async { client.query(query, &[&elements]).await })
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        // Results are zipped with their inputs: a short answer must not shrink the check.
        assert_eq!(rows.len(), elements.0.len(), "{query}: one row per input");
        rows.iter().map(|row| row.get(0)).collect()
    }

    /// The server's text for one value, or its error message.
    fn text(&self, raw: &[u8]) -> Result<String, String> {
        let value = RawNumeric(raw.to_vec());
        self.0
            .block_on(|client| async {
                client
                    .query_one("SELECT $1::numeric::text", &[&value])
                    .await
            })
            .map(|row| row.get(0))
            .map_err(|error| match error.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => error.to_string(),
            })
    }
}

/// The binary form of a numeric from its header fields and digits.
fn numeric_binary(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
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

/// Valid binary numerics the server would never send: leading and trailing zero
/// digits, digits beyond the display scale, negative zeros, any weight.
fn unnormalized_numeric() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![8 => -12i16..12, 1 => any::<i16>()],
        prop_oneof![
            Just(0x0000u16),
            Just(0x4000),
            Just(0xC000),
            Just(0xD000),
            Just(0xF000)
        ],
        prop_oneof![4 => 0u16..40, 1 => 0u16..=0x3FFF],
        proptest::collection::vec(prop_oneof![Just(0i16), Just(9999), 0i16..10_000], 0..6),
    )
        .prop_map(|(weight, sign, dscale, digits)| numeric_binary(weight, sign, dscale, &digits))
}

#[test]
fn prop_unnormalized_numeric_binary() {
    let db = database();
    let client = BinaryClient::connect(&db);
    let values = prop_oneof![
        1 => unnormalized_numeric(),
        // Keep the huge outputs of extreme weights or scales to a few per batch.
        20 => unnormalized_numeric().prop_filter("small", |raw| {
            i16::from_be_bytes([raw[2], raw[3]]).abs() < 100
                && u16::from_be_bytes([raw[6], raw[7]]) < 100
        }),
    ];
    run_batches(values, |elements| {
        let server = client.texts(elements.clone());
        let problems = elements
            .iter()
            .zip(server)
            .filter_map(|(raw, server)| {
                let ours = ours(write_numeric, raw);
                (ours != server).then(|| format!("{raw:02x?}: rowpipe {ours:?}, server {server:?}"))
            })
            .collect();
        check("numeric binary", problems)
    });
}

/// rowpipe refuses exactly the binary values the server refuses.
#[test]
fn malformed_numeric_binary_is_refused_like_the_server() {
    let db = database();
    let client = BinaryClient::connect(&db);
    let mut extra_byte = numeric_binary(0, 0, 0, &[1]);
    extra_byte.push(0);
    let mut missing_digit = numeric_binary(0, 0, 0, &[1, 2]);
    missing_digit.truncate(missing_digit.len() - 2);
    let mut unsigned_count = numeric_binary(0, 0, 0, &[1]);
    unsigned_count[0] = 0x80;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("half a header", vec![0, 1, 0, 0]),
        ("extra byte", extra_byte),
        ("missing digit", missing_digit),
        ("ndigits 0x8001", unsigned_count),
        ("digit 10000", numeric_binary(0, 0, 0, &[10_000])),
        ("digit -1", numeric_binary(0, 0x4000, 0, &[1, -1])),
        ("NaN with digit -1", numeric_binary(0, 0xC000, 0, &[-1])),
        ("sign 0x8000", numeric_binary(0, 0x8000, 0, &[1])),
        ("sign 0x4001", numeric_binary(0, 0x4001, 0, &[1])),
        ("sign 0xE000", numeric_binary(0, 0xE000, 0, &[1])),
        ("dscale 0x4000", numeric_binary(0, 0, 0x4000, &[1])),
        ("dscale 0xFFFF", numeric_binary(0, 0, 0xFFFF, &[])),
        // And a few accepted ones, for contrast.
        ("zero", numeric_binary(0, 0, 0, &[])),
        ("negative zero", numeric_binary(5, 0x4000, 3, &[0, 0])),
        ("NaN with digits", numeric_binary(3, 0xC000, 7, &[1, 2])),
        ("dscale 0x3FFF", numeric_binary(-1, 0x4000, 0x3FFF, &[1])),
    ];
    let mut problems = Vec::new();
    for (name, raw) in &cases {
        let server = client.text(raw);
        let mut out = Vec::new();
        let ours = write_numeric(raw, &mut out)
            .map(|()| String::from_utf8(out).expect("UTF-8"))
            .map_err(|error| error.to_string());
        if ours.is_ok() != server.is_ok() || (ours.is_ok() && ours != server) {
            problems.push(format!("{name}: rowpipe {ours:?}, server {server:?}"));
        }
    }
    assert_matches("malformed numeric", problems);
}
