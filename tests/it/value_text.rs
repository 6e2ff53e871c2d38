//! Text in arrays and in JSON: rowpipe's quoting of random strings against the server's.
//!
//! Strings are drawn from the characters every quoting rule looks at (quotes, backslashes,
//! braces, commas, white space of every kind, control characters, the word NULL) mixed
//! with plain and non-ASCII text. Each case asks the server once for a batch: the value as
//! a one- and a two-dimensional `text[]` in binary beside `array_out`'s text, and `to_json`
//! of the string and of the array.

use proptest::prelude::*;
use rowpipe::source::postgres::binary;
use rowpipe::value::kind::{NativeType, SessionFormat, ValueKind};

use crate::harness::probe::{assert_matches, check};
use crate::harness::property::run_property;
use crate::harness::{ValueProbe, cluster};

/// Strings biased towards what quoting rules care about.
fn tricky_string() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "\"", "\\", "{", "}", ",", " ", "\t", "\n", "\r", "\u{b}", "\u{c}", "\u{1}", "\u{1f}",
        "NULL", "null", "a", "xyz", "é", "日本", "🎉", "/", "'", "=", "[", "]", ":",
    ]);
    prop::collection::vec(pieces, 0..6).prop_map(|pieces| pieces.concat())
}

/// rowpipe's text (or JSON) for a binary `text[]` value.
fn ours(raw: &[u8], json: bool) -> String {
    let array = NativeType {
        kind: ValueKind::Text,
        array: true,
    };
    let session = SessionFormat::defaults(None);
    let mut out = Vec::new();
    let written = match json {
        true => binary::write_json(array, raw, &session, &mut out),
        false => binary::write_text(array, raw, &session, &mut out),
    };
    match written {
        Ok(()) => String::from_utf8(out).expect("UTF-8"),
        Err(error) => format!("<{error}>"),
    }
}

/// Differences between rowpipe and the server for `strings`, in every form.
fn mismatches(probe: &ValueProbe, strings: &[String]) -> Vec<String> {
    let forms = [
        (
            "SELECT ARRAY[v, v || 'x', NULL], ARRAY[v, v || 'x', NULL]::text",
            false,
        ),
        (
            "SELECT ARRAY[[v, NULL], ['', v]], ARRAY[[v, NULL], ['', v]]::text",
            false,
        ),
        ("SELECT ARRAY[v, NULL], to_json(ARRAY[v, NULL])::text", true),
        ("SELECT ARRAY[v], to_json(v)::text", true),
    ];
    let mut problems = Vec::new();
    for (select, json) in forms {
        let query =
            format!("{select} FROM unnest($1::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n");
        let rows = probe.pairs(&query, strings);
        for (input, (binary, server)) in strings.iter().zip(rows) {
            let (binary, server) = (binary.expect("not NULL"), server.expect("not NULL"));
            let mut ours = ours(&binary, json);
            if select.contains("to_json(v)") {
                // A one-element array's JSON, without its brackets: the string's JSON.
                ours = ours[1..ours.len() - 1].to_owned();
            }
            if ours != server {
                problems.push(format!(
                    "{input:?} ({select}): rowpipe {ours}, server {server}"
                ));
            }
        }
    }
    problems
}

#[test]
fn fixed_strings_match_the_server() {
    let db = cluster().create_database("text_fixed");
    let probe = ValueProbe::connect(&db);
    let strings: Vec<String> = [
        "",
        " ",
        "NULL",
        "null",
        "NuLl",
        "a b",
        "\"",
        "\\",
        "{}",
        ",",
        "\t",
        "\u{b}",
        "\u{c}",
        "\u{1}x",
        "\u{7f}",
        "é",
        "日本語",
        "🎉",
        "a\"b\\c",
        "line\nbreak\r\n",
        "</script>",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_matches("fixed strings", mismatches(&probe, &strings));
}

#[test]
fn prop_strings_in_arrays_and_json() {
    let db = cluster().create_database("text_prop");
    let probe = ValueProbe::connect(&db);
    run_property(
        24,
        prop::collection::vec(tricky_string(), 1..150),
        |strings| check("random strings", mismatches(&probe, &strings)),
    );
}
