//! The connection settings rowpipe reads itself before tokio-postgres sees the text.
//!
//! tokio-postgres refuses `sslmode=verify-ca` and `verify-full` and every key it does not
//! know (`sslrootcert`, `sslcert`, `sslkey`, libpq's `keepalives_count`), and reads
//! `tcp_user_timeout` in seconds where libpq reads milliseconds. So [`split`] takes the TLS
//! and keepalive settings out of a `postgres://` URL or a `key=value` string, in libpq's
//! meaning, and hands back the rest of the text unchanged for tokio-postgres to parse. A
//! reason for a refusal names the key, never the text: a misplaced character could be part
//! of the password.

use std::time::Duration;

/// libpq's `sslmode`: whether to use TLS and what to check of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// TLS when the server offers it, else plain text (libpq's default). The certificate
    /// is checked only against an `sslrootcert` that is given; a TLS failure falls back
    /// to plain text.
    Prefer,
    /// TLS or nothing; the certificate is checked only against an `sslrootcert` that is
    /// given (then as `verify-ca`).
    Require,
    /// TLS, with a certificate chain to a trusted root; any host name.
    VerifyCa,
    /// TLS, with a certificate chain to a trusted root, issued for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The name in connection strings.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS settings of a connection string, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslSettings {
    pub mode: Option<SslMode>,
    /// A file of PEM root certificates, or `system` for the system's own.
    pub rootcert: Option<String>,
    /// The client certificate (PEM), and its key.
    pub cert: Option<String>,
    pub key: Option<String>,
    /// Whether to send the host name in the handshake (SNI); libpq's default is yes.
    pub sni: Option<bool>,
}

/// The keepalive settings of a connection string, as written (libpq's keys and units).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepaliveSettings {
    pub enabled: Option<bool>,
    pub idle: Option<Duration>,
    pub interval: Option<Duration>,
    pub count: Option<u32>,
    /// `tcp_user_timeout`, in milliseconds in the text.
    pub user_timeout: Option<Duration>,
}

/// A connection string taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// The text without the settings below, for tokio-postgres.
    pub rest: String,
    pub ssl: SslSettings,
    pub keepalive: KeepaliveSettings,
}

/// Takes the TLS and keepalive settings out of `text`. Text that does not tokenise is
/// passed on whole, for tokio-postgres to refuse with its own reason.
pub fn split(text: &str) -> Result<ConnInfo, String> {
    let mut info = ConnInfo {
        rest: String::new(),
        ssl: SslSettings::default(),
        keepalive: KeepaliveSettings::default(),
    };
    info.rest = match url_body(text) {
        Some(_) => split_url(text, &mut info)?,
        None => split_key_values(text, &mut info)?,
    };
    Ok(info)
}

/// The text after `postgres://` or `postgresql://`, if it is a URL.
fn url_body(text: &str) -> Option<&str> {
    ["postgres://", "postgresql://"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
}

/// A URL: its query parameters are `&`-separated `key=value` pairs, percent-encoded, that
/// begin at the first `?` after the credentials (which end at the first `@`, as
/// tokio-postgres reads them).
fn split_url(text: &str, info: &mut ConnInfo) -> Result<String, String> {
    let after_credentials = text.find('@').map_or(0, |at| at + 1);
    let Some(question) = text[after_credentials..].find('?') else {
        return Ok(text.to_owned());
    };
    let question = after_credentials + question;
    let mut kept = Vec::new();
    for pair in text[question + 1..].split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            kept.push(pair);
            continue;
        };
        let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
        if !is_ours(&key) {
            kept.push(pair);
            continue;
        }
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| invalid(&key))?;
        take(info, &key, &value)?;
    }
    let mut rest = text[..question].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok(rest)
}

/// A `key=value` string: keys and values separated by whitespace, a value either bare
/// (up to whitespace) or in single quotes, `\` escaping the next character in both.
fn split_key_values(text: &str, info: &mut ConnInfo) -> Result<String, String> {
    let mut rest = String::with_capacity(text.len());
    let mut copied = 0;
    let mut chars = text.char_indices().peekable();
    let skip_space = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_space(&mut chars);
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        while chars
            .next_if(|&(_, c)| !c.is_whitespace() && c != '=')
            .is_some()
        {}
        let key_end = chars.peek().map_or(text.len(), |&(index, _)| index);
        let key = &text[start..key_end];
        skip_space(&mut chars);
        if key.is_empty() || chars.next_if(|&(_, c)| c == '=').is_none() {
            // Not a `key=value` string after all: tokio-postgres says why.
            return Ok(text.to_owned());
        }
        skip_space(&mut chars);
        let quoted = chars.next_if(|&(_, c)| c == '\'').is_some();
        let mut value = String::new();
        let mut closed = !quoted;
        while let Some(&(_, c)) = chars.peek() {
            if (quoted && c == '\'') || (!quoted && c.is_whitespace()) {
                if quoted {
                    chars.next();
                    closed = true;
                }
                break;
            }
            chars.next();
            if c == '\\' {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            } else {
                value.push(c);
            }
        }
        if !closed {
            return Ok(text.to_owned());
        }
        let end = chars.peek().map_or(text.len(), |&(index, _)| index);
        if is_ours(key) {
            take(info, key, &value)?;
            rest.push_str(&text[copied..start]);
            copied = end;
        }
    }
    rest.push_str(&text[copied..]);
    Ok(rest)
}

const KEYS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslsni",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "keepalives_retries",
    "tcp_user_timeout",
];

fn is_ours(key: &str) -> bool {
    KEYS.contains(&key)
}

fn invalid(key: &str) -> String {
    format!("invalid value for option `{key}`")
}

/// Records one of [`KEYS`]; a later occurrence of a key wins, as in libpq.
fn take(info: &mut ConnInfo, key: &str, value: &str) -> Result<(), String> {
    let seconds = |value: &str| -> Result<Option<Duration>, String> {
        let number: i64 = value.trim().parse().map_err(|_| invalid(key))?;
        // libpq: zero or less means the system's default.
        Ok((number > 0).then(|| Duration::from_secs(number as u64)))
    };
    let keepalive = &mut info.keepalive;
    match key {
        "sslmode" => {
            info.ssl.mode = Some(match value {
                "disable" => SslMode::Disable,
                "prefer" => SslMode::Prefer,
                "require" => SslMode::Require,
                "verify-ca" => SslMode::VerifyCa,
                "verify-full" => SslMode::VerifyFull,
                "allow" => {
                    return Err("sslmode=allow is not supported: use prefer (TLS when the \
                                server offers it) or disable"
                        .to_owned());
                }
                _ => return Err(invalid(key)),
            })
        }
        "sslrootcert" => info.ssl.rootcert = Some(value.to_owned()),
        "sslcert" => info.ssl.cert = Some(value.to_owned()),
        "sslkey" => info.ssl.key = Some(value.to_owned()),
        "sslsni" => info.ssl.sni = Some(flag(value).ok_or_else(|| invalid(key))?),
        "keepalives" => keepalive.enabled = Some(flag(value).ok_or_else(|| invalid(key))?),
        "keepalives_idle" => keepalive.idle = seconds(value)?,
        "keepalives_interval" => keepalive.interval = seconds(value)?,
        "keepalives_count" | "keepalives_retries" => {
            let count: i64 = value.trim().parse().map_err(|_| invalid(key))?;
            keepalive.count = (count > 0).then(|| count.min(i64::from(u32::MAX)) as u32);
        }
        "tcp_user_timeout" => {
            let millis: i64 = value.trim().parse().map_err(|_| invalid(key))?;
            keepalive.user_timeout = (millis > 0).then(|| Duration::from_millis(millis as u64));
        }
        _ => unreachable!("only keys in KEYS are taken"),
    }
    Ok(())
}

/// libpq's integer flags: `0` is off, any other number on.
fn flag(value: &str) -> Option<bool> {
    value.trim().parse::<i64>().ok().map(|number| number != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssl(text: &str) -> (String, SslSettings) {
        let info = split(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        (info.rest, info.ssl)
    }

    #[test]
    fn url_parameters_are_taken_out_and_the_rest_kept() {
        let (rest, settings) = ssl(
            "postgres://alice:pw@db:5432/app?sslmode=verify-full&application_name=x\
             &sslrootcert=%2Fetc%2Fca.pem&sslcert=c.pem&sslkey=k.pem&sslsni=0",
        );
        assert_eq!(rest, "postgres://alice:pw@db:5432/app?application_name=x");
        assert_eq!(
            settings,
            SslSettings {
                mode: Some(SslMode::VerifyFull),
                rootcert: Some("/etc/ca.pem".to_owned()),
                cert: Some("c.pem".to_owned()),
                key: Some("k.pem".to_owned()),
                sni: Some(false),
            }
        );
        assert_eq!(
            ssl("postgresql://db/app?sslmode=require").0,
            "postgresql://db/app"
        );
        assert_eq!(ssl("postgres://db/app").0, "postgres://db/app");
    }

    #[test]
    fn a_question_mark_in_a_url_password_is_not_where_parameters_begin() {
        let (rest, settings) = ssl("postgres://alice:p?sslmode=disable@db/app?sslmode=require");
        assert_eq!(rest, "postgres://alice:p?sslmode=disable@db/app");
        assert_eq!(settings.mode, Some(SslMode::Require));
    }

    #[test]
    fn key_value_settings_are_taken_out_and_the_rest_kept() {
        let (rest, settings) = ssl(
            "host=db sslmode = verify-ca password='a b\\'c' sslrootcert='/my certs/ca.pem' \
             dbname=app sslkey=k\\ ey",
        );
        assert_eq!(rest, "host=db  password='a b\\'c'  dbname=app ");
        assert_eq!(settings.mode, Some(SslMode::VerifyCa));
        assert_eq!(settings.rootcert.as_deref(), Some("/my certs/ca.pem"));
        assert_eq!(settings.key.as_deref(), Some("k ey"));
        let (rest, _) = ssl("host=db dbname=app");
        assert_eq!(rest, "host=db dbname=app");
    }

    #[test]
    fn keepalive_settings_follow_libpq() {
        let info = split(
            "host=db keepalives=1 keepalives_idle=7 keepalives_interval=2 \
             keepalives_count=4 tcp_user_timeout=1500",
        )
        .unwrap();
        assert_eq!(info.rest.trim(), "host=db");
        assert_eq!(
            info.keepalive,
            KeepaliveSettings {
                enabled: Some(true),
                idle: Some(Duration::from_secs(7)),
                interval: Some(Duration::from_secs(2)),
                count: Some(4),
                user_timeout: Some(Duration::from_millis(1500)),
            }
        );
        let info = split("postgres://db/x?keepalives=0&tcp_user_timeout=0").unwrap();
        assert_eq!(info.keepalive.enabled, Some(false));
        assert_eq!(info.keepalive.user_timeout, None);
    }

    #[test]
    fn bad_values_name_the_key_only() {
        for (text, key) in [
            ("postgres://u:secret@db/x?sslmode=verify", "sslmode"),
            ("host=db password=secret sslmode=secret", "sslmode"),
            ("host=db keepalives_idle=secret", "keepalives_idle"),
            ("postgres://db/x?tcp_user_timeout=1s", "tcp_user_timeout"),
        ] {
            let error = split(text).unwrap_err();
            assert!(error.contains(&format!("`{key}`")), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
        assert!(
            split("host=db sslmode=allow")
                .unwrap_err()
                .contains("allow")
        );
    }

    #[test]
    fn text_that_does_not_tokenise_is_passed_on_whole() {
        for text in ["host=db password='open", "host db", "=x"] {
            assert_eq!(split(text).unwrap().rest, text);
        }
    }
}
