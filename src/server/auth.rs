//! Bearer tokens: who may download what.
//!
//! Tokens are configured by their SHA-256 only, so the config file holds no secret. A
//! request's token is hashed and compared with every configured hash in constant time
//! (every comparison runs, whatever matches), so neither timing nor an early exit tells
//! how much of a guess was right. Tokens are never logged; the token's *name* is, with
//! each download.

use crate::config::TokenConfig;
use crate::sink::digest::sha256_hex;
use axum::http::{HeaderMap, header};

/// The configured tokens.
#[derive(Debug, Clone)]
pub struct Tokens(Vec<Token>);

#[derive(Debug, Clone)]
struct Token {
    /// The token's SHA-256 in lowercase hex, as configured.
    sha256: String,
    caller: Caller,
}

/// Who a request's token belongs to, and what it may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    /// `None`: every dataset.
    datasets: Option<Vec<String>>,
    /// The database role its exports run as.
    pub role: Option<String>,
}

impl Caller {
    /// Whether the caller may read the dataset called `name`.
    pub fn may_read(&self, name: &str) -> bool {
        self.datasets
            .as_ref()
            .is_none_or(|datasets| datasets.iter().any(|allowed| allowed == name))
    }
}

/// Why a request is not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header, or more than one.
    Missing,
    /// A token that is not one of the configured ones.
    Unknown,
}

impl Tokens {
    /// The tokens of the config file; `None` when there are none (every request is let
    /// in). The hashes were checked when the file was read.
    pub fn from_config(tokens: &[TokenConfig]) -> Option<Tokens> {
        if tokens.is_empty() {
            return None;
        }
        let tokens = tokens
            .iter()
            .map(|token| {
                let all = token.datasets.iter().any(|dataset| dataset == "*");
                Token {
                    sha256: token.sha256.clone(),
                    caller: Caller {
                        name: token.name.clone(),
                        datasets: (!all).then(|| token.datasets.clone()),
                        role: token.role.clone(),
                    },
                }
            })
            .collect();
        Some(Tokens(tokens))
    }

    /// The caller whose token `headers` carry.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Refusal> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Refusal::Missing);
        };
        let value = value.to_str().map_err(|_| Refusal::Unknown)?;
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(Refusal::Missing);
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::Missing);
        }
        let digest = sha256_hex(token.trim().as_bytes());
        let mut found = None;
        for configured in &self.0 {
            // Both are 64 hex digits (the config's were checked when it was read).
            let difference = configured
                .sha256
                .bytes()
                .zip(digest.bytes())
                .fold(0u8, |difference, (a, b)| difference | (a ^ b));
            if difference == 0 {
                found = Some(&configured.caller);
            }
        }
        found.cloned().ok_or(Refusal::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn tokens() -> Tokens {
        let hash = |token: &str| sha256_hex(token.as_bytes());
        Tokens::from_config(&[
            TokenConfig {
                name: "all".into(),
                sha256: hash("secret-all"),
                datasets: vec!["*".into()],
                role: None,
            },
            TokenConfig {
                name: "orders only".into(),
                sha256: hash("secret-orders"),
                datasets: vec!["orders".into()],
                role: Some("shop".into()),
            },
        ])
        .unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn tokens_are_known_by_their_hash() {
        let tokens = tokens();
        let caller = tokens
            .authenticate(&headers(&["Bearer secret-orders"]))
            .unwrap();
        assert_eq!(caller.name, "orders only");
        assert!(caller.may_read("orders") && !caller.may_read("customers"));
        let caller = tokens
            .authenticate(&headers(&["bearer secret-all"]))
            .unwrap();
        assert!(caller.may_read("anything"));
    }

    #[test]
    fn missing_wrong_and_ambiguous_tokens_are_refused() {
        let tokens = tokens();
        for (values, refusal) in [
            (&[][..], Refusal::Missing),
            (&["secret-all"][..], Refusal::Missing),
            (&["Basic c2VjcmV0LWFsbA=="][..], Refusal::Missing),
            (&["Bearer secret-al"][..], Refusal::Unknown),
            (&["Bearer "][..], Refusal::Unknown),
            (
                &["Bearer secret-all", "Bearer secret-all"][..],
                Refusal::Missing,
            ),
        ] {
            assert_eq!(
                tokens.authenticate(&headers(values)),
                Err(refusal),
                "{values:?}"
            );
        }
    }
}
