//! Connecting to PostgreSQL: parsing the connection URL, building the pool, and describing
//! database errors for people without ever showing a password.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::source::SourceError;
use crate::source::postgres::strip_terminator;

/// How to connect and how many connections to keep.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub pool_size: usize,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a download waits for a free connection when all are busy.
    pub wait_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(30),
        }
    }
}

/// The connection URL could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("invalid database URL {url}: {reason}")]
pub struct InvalidUrl {
    /// The URL with its password masked.
    pub url: String,
    pub reason: String,
}

/// Builds a pool for `url` (a `postgres://` URL or a `key=value` connection string).
///
/// No connection is opened here: a database that is down at start-up is reported by the
/// first request (and by `/healthz`), not by a refusal to start.
pub fn connect(url: &str, settings: &PoolSettings) -> Result<Pool, InvalidUrl> {
    let invalid = |reason: String| InvalidUrl {
        url: redact_url(url),
        reason,
    };
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|error| invalid(describe_pg_error(&error)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(settings.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("rowpipe");
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        // One cheap round trip per checkout finds connections the server dropped (a restart,
        // an idle timeout) before a download starts on one; `Fast` would only notice the
        // ones whose socket is already known to be closed.
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
        .max_size(settings.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.connect_timeout + Duration::from_secs(1)))
        .build()
        .map_err(|error| invalid(error.to_string()))
}

/// Checks that the database answers: takes a pooled connection and runs an empty query.
pub async fn ping(pool: &Pool) -> Result<(), SourceError> {
    let client = pool.get().await.map_err(SourceError::Connect)?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(SourceError::Query)?;
    Ok(())
}

/// The planner's estimate of how many rows `sql` returns, from `EXPLAIN`; `None` when it
/// cannot be had (the query takes parameters, or fails to plan). Only an estimate: for
/// warnings, never for decisions.
///
/// Sent through the extended protocol, which takes a single statement only: whatever the
/// query text holds, nothing but the `EXPLAIN` can run.
pub async fn estimate_rows(pool: &Pool, sql: &str) -> Option<f64> {
    let client = pool.get().await.ok()?;
    let explain = format!("EXPLAIN {}", strip_terminator(sql));
    let rows = client.query(explain.as_str(), &[]).await.ok()?;
    // The first line is the top plan node: `Seq Scan on t  (cost=0.00..35.50 rows=2550 width=4)`.
    let top: &str = rows.first()?.try_get(0).ok()?;
    let (_, after) = top.split_once(" rows=")?;
    after.split(' ').next()?.parse().ok()
}

/// Masks the password of a connection URL or `key=value` string, for messages and logs.
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        return redact_url_form(url, scheme_end);
    }
    // key=value form: mask the value of `password`, quoted or not.
    let mut redacted = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = find_password_key(rest) {
        redacted.push_str(&rest[..start]);
        let after_key = &rest[start..];
        let eq = after_key.find('=').map_or(after_key.len(), |i| i + 1);
        redacted.push_str(&after_key[..eq]);
        redacted.push_str("***");
        let value = after_key[eq..].trim_start();
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            let end = quoted
                .char_indices()
                .find(|&(_, c)| {
                    let closes = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                })
                .map_or(quoted.len(), |(i, _)| i + 1);
            end + 1
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        let consumed = after_key.len() - value.len() + value_len.min(value.len());
        rest = &after_key[consumed..];
    }
    redacted.push_str(rest);
    redacted
}

/// `scheme://user:password@host/db?password=...`: masks both places a password can be.
fn redact_url_form(url: &str, scheme_end: usize) -> String {
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut redacted = url[..scheme_end + 3].to_owned();
    match authority
        .rfind('@')
        .map(|at| (at, authority[..at].find(':')))
    {
        Some((at, Some(colon))) => {
            redacted.push_str(&authority[..colon]);
            redacted.push_str(":***");
            redacted.push_str(&authority[at..]);
        }
        _ => redacted.push_str(authority),
    }
    let tail = &rest[authority_end..];
    match tail.split_once('?') {
        None => redacted.push_str(tail),
        Some((path, query)) => {
            redacted.push_str(path);
            redacted.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key == "password" => format!("{key}=***"),
                    _ => param.to_owned(),
                })
                .collect();
            redacted.push_str(&params.join("&"));
        }
    }
    redacted
}

fn find_password_key(text: &str) -> Option<usize> {
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find("password") {
        let start = search_from + found;
        let before_ok = start == 0 || text[..start].ends_with(char::is_whitespace);
        let after = text[start + "password".len()..].trim_start();
        if before_ok && after.starts_with('=') {
            return Some(start);
        }
        search_from = start + "password".len();
    }
    None
}

/// A one-line description of a database error for operators: severity, SQLSTATE, message,
/// and the server's detail and hint when it gave them.
pub fn describe_pg_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(" (");
                text.push_str(detail);
                text.push(')');
            }
            if let Some(hint) = db.hint() {
                text.push_str("; hint: ");
                text.push_str(hint);
            }
            text
        }
        None => with_causes(error),
    }
}

/// An error's message followed by those of its causes ("error connecting to server:
/// Connection refused"), skipping a cause whose text the message already contains.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = error.source();
    }
    text
}

/// Describes a failure to get a connection from the pool.
pub fn describe_pool_error(error: &PoolError) -> String {
    match error {
        PoolError::Backend(error) => describe_pg_error(error),
        PoolError::Timeout(_) => "timed out waiting for a database connection".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_url_passwords() {
        assert_eq!(
            redact_url("postgres://alice:s3cret@db.example:5432/app?sslmode=disable"),
            "postgres://alice:***@db.example:5432/app?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgresql://alice:p%40ss@host/db"),
            "postgresql://alice:***@host/db"
        );
        assert_eq!(
            redact_url("postgres://alice@host/db"),
            "postgres://alice@host/db"
        );
        assert_eq!(
            redact_url("postgres:///db?host=/tmp"),
            "postgres:///db?host=/tmp"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=a&password=s3cret&sslmode=disable"),
            "postgres://h/db?user=a&password=***&sslmode=disable"
        );
    }

    #[test]
    fn masks_key_value_passwords() {
        assert_eq!(
            redact_url("host=db user=alice password=s3cret dbname=app"),
            "host=db user=alice password=*** dbname=app"
        );
        assert_eq!(
            redact_url("host=db password = 'with space\\' quote' dbname=app"),
            "host=db password =*** dbname=app"
        );
        assert_eq!(redact_url("host=db user=password"), "host=db user=password");
    }

    #[test]
    fn a_bad_url_is_reported_without_its_password() {
        let error = connect(
            "postgres://alice:s3cret@host:notaport/db",
            &PoolSettings::default(),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(!message.contains("s3cret"), "{message}");
        assert!(message.contains("alice:***@host"), "{message}");
    }
}
