//! `Accept-Encoding` negotiation (RFC 9110, section 12.5.3): which of the codings rowpipe
//! serves (identity, gzip, zstd) a download is sent in.
//!
//! Codings and `q` are matched without regard to case; `x-gzip` is gzip. A coding the
//! header does not name takes `*`'s weight where there is one; otherwise identity stays
//! acceptable (the RFC's default) and the others are not. Of the acceptable codings the one
//! with the highest weight wins, a tie going to zstd, then gzip, then identity: a client
//! that accepts a compression equally gets the smaller download. An element that does not
//! parse (a bad `q`) is ignored, as if it were not there. No header at all means identity.
//! When every coding is refused (`identity;q=0` alone, `*;q=0`), nothing can be served:
//! [`NotAcceptable`].

use axum::http::HeaderValue;

use crate::format::Compression;

/// The request's `Accept-Encoding` refuses every coding rowpipe can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAcceptable;

/// A weight in thousandths, as the RFC's `qvalue` has at most three decimals.
type Weight = u16;

/// The coding to send for these `Accept-Encoding` header values (all of them, in order):
/// `None` for identity.
pub fn negotiate<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
) -> Result<Option<Compression>, NotAcceptable> {
    let mut weights = Weights::default();
    let mut present = false;
    for value in values {
        present = true;
        // A value that is not text names nothing that can be matched.
        let Ok(value) = value.to_str() else { continue };
        for element in value.split(',') {
            if let Some((coding, weight)) = parse_element(element) {
                weights.note(&coding, weight);
            }
        }
    }
    if !present {
        return Ok(None);
    }
    // Highest weight first; on a tie the earlier in this list wins.
    let candidates = [
        (weights.of(Some(Compression::Zstd)), Some(Compression::Zstd)),
        (weights.of(Some(Compression::Gzip)), Some(Compression::Gzip)),
        (weights.of(None), None),
    ];
    candidates
        .into_iter()
        .filter(|&(weight, _)| weight > 0)
        .reduce(|best, next| if next.0 > best.0 { next } else { best })
        .map(|(_, coding)| coding)
        .ok_or(NotAcceptable)
}

/// The weights the header gives by name.
#[derive(Debug, Default)]
struct Weights {
    identity: Option<Weight>,
    gzip: Option<Weight>,
    zstd: Option<Weight>,
    any: Option<Weight>,
}

impl Weights {
    fn note(&mut self, coding: &str, weight: Weight) {
        let slot = match coding {
            "identity" => &mut self.identity,
            "gzip" | "x-gzip" => &mut self.gzip,
            "zstd" => &mut self.zstd,
            "*" => &mut self.any,
            _ => return,
        };
        // Named twice: the more favourable mention counts.
        *slot = Some(slot.map_or(weight, |before| before.max(weight)));
    }

    /// The weight of a coding (`None`: identity).
    fn of(&self, coding: Option<Compression>) -> Weight {
        let named = match coding {
            None => self.identity,
            Some(Compression::Gzip) => self.gzip,
            Some(Compression::Zstd) => self.zstd,
        };
        match (named.or(self.any), coding) {
            (Some(weight), _) => weight,
            // Acceptable unless refused, but below anything the client asked for.
            (None, None) => 1,
            (None, Some(_)) => 0,
        }
    }
}

/// `coding [; q=weight] [; other params]`, the coding lowercased; `None` when it is empty
/// or its `q` is not a qvalue.
fn parse_element(element: &str) -> Option<(String, Weight)> {
    let mut parts = element.split(';');
    let coding = parts.next()?.trim().to_ascii_lowercase();
    if coding.is_empty() {
        return None;
    }
    let mut weight = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            weight = parse_qvalue(value.trim())?;
        }
    }
    Some((coding, weight))
}

/// `0`, `0.5`, `0.125`, `1`, `1.000`: at most three decimals, from 0 to 1.
fn parse_qvalue(text: &str) -> Option<Weight> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |sum, digit| sum * 10 + Weight::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(header: &str) -> Result<Option<Compression>, NotAcceptable> {
        negotiate([&HeaderValue::from_str(header).unwrap()])
    }

    const GZIP: Result<Option<Compression>, NotAcceptable> = Ok(Some(Compression::Gzip));
    const ZSTD: Result<Option<Compression>, NotAcceptable> = Ok(Some(Compression::Zstd));
    const IDENTITY: Result<Option<Compression>, NotAcceptable> = Ok(None);

    #[test]
    fn no_header_is_identity() {
        assert_eq!(negotiate([]), IDENTITY);
        assert_eq!(pick(""), IDENTITY);
    }

    #[test]
    fn plain_lists() {
        assert_eq!(pick("gzip"), GZIP);
        assert_eq!(pick("zstd"), ZSTD);
        assert_eq!(pick("x-gzip"), GZIP);
        assert_eq!(pick("gzip, deflate, br, zstd"), ZSTD, "a tie goes to zstd");
        assert_eq!(pick("deflate, gzip"), GZIP);
        assert_eq!(pick("identity"), IDENTITY);
        assert_eq!(pick("identity, gzip"), GZIP, "a tie goes to compression");
    }

    #[test]
    fn weights_decide() {
        assert_eq!(pick("gzip;q=0, zstd"), ZSTD);
        assert_eq!(pick("zstd;q=0.5, gzip;q=0.9"), GZIP);
        assert_eq!(pick("gzip;q=0.5"), GZIP, "above the implicit identity");
        assert_eq!(pick("gzip;q=0.2, identity;q=0.8"), IDENTITY);
        assert_eq!(pick("zstd;q=0, gzip;q=0"), IDENTITY);
        assert_eq!(pick("gzip;q=1.000, zstd;q=0.999"), GZIP);
    }

    #[test]
    fn the_wildcard() {
        assert_eq!(pick("*;q=0.1"), ZSTD);
        assert_eq!(pick("*"), ZSTD);
        assert_eq!(pick("*;q=0.5, zstd;q=0.1"), GZIP);
        assert_eq!(pick("*;q=0, identity"), IDENTITY);
        assert_eq!(pick("*;q=0, gzip;q=0.3"), GZIP);
    }

    #[test]
    fn refusing_everything_is_not_acceptable() {
        assert_eq!(pick("identity;q=0"), Err(NotAcceptable));
        assert_eq!(pick("*;q=0"), Err(NotAcceptable));
        assert_eq!(pick("identity;q=0, gzip;q=0, br"), Err(NotAcceptable));
        assert_eq!(pick("identity;q=0, gzip"), GZIP);
    }

    #[test]
    fn case_spaces_and_unknown_codings() {
        assert_eq!(pick("GZIP"), GZIP);
        assert_eq!(pick("  Zstd ; Q = 0.5 ,  gzip ; q=0.4 "), ZSTD);
        assert_eq!(pick("br"), IDENTITY);
        assert_eq!(pick("br, compress;q=0.5, deflate"), IDENTITY);
        assert_eq!(pick(",,, gzip ,"), GZIP);
    }

    #[test]
    fn malformed_elements_are_ignored() {
        assert_eq!(pick("gzip;q=2, zstd;q=0.1"), ZSTD, "q=2 is no qvalue");
        assert_eq!(pick("zstd;q=0.5555, gzip;q=0.1"), GZIP);
        assert_eq!(pick("zstd;q=, gzip;q=0.1"), GZIP);
        assert_eq!(pick("zstd;q=abc"), IDENTITY);
        assert_eq!(pick("gzip;level"), IDENTITY);
    }

    #[test]
    fn every_header_value_counts() {
        let values = [
            HeaderValue::from_static("identity;q=0"),
            HeaderValue::from_static("gzip;q=0.5"),
        ];
        assert_eq!(negotiate(&values), GZIP);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0."), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.125"), Some(125));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.0"), Some(1000));
        assert_eq!(parse_qvalue("1.001"), None);
        assert_eq!(parse_qvalue("-0"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue(""), None);
    }
}
