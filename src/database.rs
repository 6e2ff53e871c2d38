//! Connecting to PostgreSQL: parsing the connection URL, building the pool, and showing a
//! connection string without ever showing its password.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::source::SourceError;
use crate::source::postgres::copy::strip_terminator;

/// How to connect and how many connections to keep.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub pool_size: usize,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a download waits for a free connection when all are busy.
    pub wait_timeout: Duration,
    /// The connections' `application_name` (in `pg_stat_activity`), unless the URL sets
    /// one.
    pub application_name: &'static str,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(30),
            application_name: "rowpipe",
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
    let mut config = parse_url(url).map_err(invalid)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(settings.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name(settings.application_name);
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

/// A connection URL or `key=value` string as it may be shown in messages and logs:
/// `postgres://user:***@host:port/dbname`, built from the parsed settings, never from the
/// text itself, so a password shows as `***` whatever characters it holds. A string that
/// does not parse is not shown at all.
pub fn redact_url(url: &str) -> String {
    match parse_url(url) {
        Ok(config) => describe_config(&config),
        Err(_) => "(not shown: it does not parse)".to_owned(),
    }
}

/// Parses a connection URL or `key=value` string. The reason for a refusal never quotes
/// the text: a misplaced character could be part of the password.
fn parse_url(url: &str) -> Result<tokio_postgres::Config, String> {
    if url.contains("://") && url.matches('@').count() > 1 {
        // `postgres://alice:p@ss@host` reads as password `p` on host `ss@host`.
        return Err(
            "more than one '@': write an '@' inside the user name or password as \
                    %40 (likewise '%' as %25)"
                .to_owned(),
        );
    }
    url.parse().map_err(|error: tokio_postgres::Error| {
        let reason = std::error::Error::source(&error).map(ToString::to_string);
        match reason {
            // Names an option, or says where the text ended: nothing of the text itself.
            Some(reason)
                if reason.starts_with("invalid value for option")
                    || reason.starts_with("unterminated")
                    || reason == "unexpected EOF" =>
            {
                reason
            }
            _ => "it is neither a postgres:// URL nor a key=value connection string \
                  (special characters in a URL's password must be percent-encoded)"
                .to_owned(),
        }
    })
}

/// `postgres://user:***@host:port,host2/dbname?host=/socket/dir`, from parsed settings.
fn describe_config(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let mut text = String::from("postgres://");
    if let Some(user) = config.get_user() {
        text.push_str(user);
        if config.get_password().is_some() {
            text.push_str(":***");
        }
        text.push('@');
    }
    let ports = config.get_ports();
    let mut sockets = Vec::new();
    let mut tcp = Vec::new();
    for (index, host) in config.get_hosts().iter().enumerate() {
        let port = ports.get(index).or(ports.first());
        match host {
            Host::Tcp(name) => {
                let mut host = match name.contains(':') {
                    true => format!("[{name}]"),
                    false => name.clone(),
                };
                if let Some(port) = port {
                    host.push_str(&format!(":{port}"));
                }
                tcp.push(host);
            }
            Host::Unix(path) => sockets.push(path.display().to_string()),
        }
    }
    text.push_str(&tcp.join(","));
    text.push('/');
    text.push_str(config.get_dbname().unwrap_or(""));
    if !sockets.is_empty() {
        text.push_str("?host=");
        text.push_str(&sockets.join(","));
        if let (true, Some(port)) = (tcp.is_empty(), ports.first()) {
            text.push_str(&format!("&port={port}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_from_their_parsed_settings() {
        assert_eq!(
            redact_url("postgres://alice:s3cret@db.example:5432/app?sslmode=disable"),
            "postgres://alice:***@db.example:5432/app"
        );
        assert_eq!(
            redact_url("postgres://alice@host/db"),
            "postgres://alice@host:5432/db"
        );
        assert_eq!(
            redact_url("postgres:///db?host=/tmp&port=5433"),
            "postgres:///db?host=/tmp&port=5433"
        );
        assert_eq!(
            redact_url("host=db user=alice password=s3cret dbname=app port=6432"),
            "postgres://alice:***@db:6432/app"
        );
        assert_eq!(
            redact_url("host=::1,db2 port=5432 user=a dbname=x"),
            "postgres://a@[::1]:5432,db2:5432/x"
        );
    }

    /// Every character a password can hold, in every place a password can be written.
    #[test]
    fn no_password_shows_whatever_it_holds() {
        let passwords = ["s3/cr?et", "p#ss:w%rd", "wi7h sp4ce", "a7@s1gn", "q'u0\\te"];
        for password in passwords {
            let encoded =
                percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
            let forms = [
                format!("postgres://alice:{encoded}@db/app"),
                format!("postgres://alice:{password}@db/app"),
                format!("postgres://db/app?user=alice&password={encoded}"),
                format!("host=db user=alice password='{quoted}' dbname=app"),
                format!("host=db user=alice password={password} dbname=app"),
            ];
            for url in forms {
                let shown = [
                    redact_url(&url),
                    connect(&url, &PoolSettings::default())
                        .err()
                        .map(|error| error.to_string())
                        .unwrap_or_default(),
                ];
                for shown in shown {
                    assert_no_part_of(password, &shown, &url);
                }
            }
        }
    }

    /// No three consecutive characters of `secret` are in `shown`.
    fn assert_no_part_of(secret: &str, shown: &str, context: &str) {
        let chars: Vec<char> = secret.chars().collect();
        for window in chars.windows(3) {
            let part: String = window.iter().collect();
            if part
                .chars()
                .all(|c| "alice".contains(c) || "db/app".contains(c))
            {
                continue;
            }
            assert!(
                !shown.contains(&part),
                "{part:?} of the password shows in {shown:?} (from {context:?})"
            );
        }
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
        assert!(message.contains("`port`"), "{message}");
    }
}
