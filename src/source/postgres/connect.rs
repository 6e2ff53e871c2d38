//! Connecting to PostgreSQL: parsing the connection URL, TLS (`sslmode` and the
//! certificates, in libpq's meanings), keepalives that find a vanished host, building the
//! pool, and showing a connection string without ever showing its password.

#[cfg(target_os = "linux")]
mod batched;
mod conninfo;
#[cfg(target_os = "linux")]
mod direct;
mod driver;
mod pool;
mod tls;

use std::time::Duration;

use deadpool::Runtime;

pub use conninfo::SslMode;
pub use driver::Lent;
pub use pool::{Canceller, Manager, Object, Pool, PoolError, PooledClient, TimeoutType};
pub use tls::{HandshakeError, Tls};

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
    /// TCP keepalives, unless the URL sets them: an idle connection (a download waiting for
    /// rows counts) is probed after `keepalives_idle`, then every `keepalives_interval`, and
    /// given up after `keepalives_count` unanswered probes.
    pub keepalives_idle: Duration,
    pub keepalives_interval: Duration,
    pub keepalives_count: u32,
    /// How long sent data, or a keepalive probe, may stay unacknowledged before the
    /// connection is given up (`TCP_USER_TIMEOUT`); zero leaves the system's default.
    /// Unless the URL sets it.
    pub tcp_user_timeout: Duration,
    /// How long the check of an idle pooled connection may take before the connection is
    /// discarded for a new one.
    pub recycle_timeout: Duration,
    /// Whether a TCP connection is read in batches while a large result streams in
    /// (`SO_RCVLOWAT`, Linux only; see `connect/batched.rs`): fewer wake-ups for the
    /// backend, on the pool that downloads.
    pub batch_reads: bool,
}

/// How long a database connection may go without a byte from the server before TCP
/// keepalive probes ask whether the server is still there. A download waiting for rows
/// counts as idle here; the probes cost the server nothing.
pub const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(30);
/// The time between two unanswered keepalive probes.
pub const DEFAULT_KEEPALIVES_INTERVAL: Duration = Duration::from_secs(10);
/// Unanswered keepalive probes after which a connection is given up.
pub const DEFAULT_KEEPALIVES_COUNT: u32 = 3;
/// How long data or a probe sent to the database may stay unacknowledged before the
/// connection is given up (`TCP_USER_TIMEOUT`). With the keepalive defaults, a download
/// from a host that vanished without closing its connections fails after about a minute.
pub const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the check of an idle pooled connection (one empty query) may take before the
/// connection is thrown away and a new one opened.
pub const DEFAULT_RECYCLE_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(30),
            application_name: "rowpipe",
            keepalives_idle: DEFAULT_KEEPALIVES_IDLE,
            keepalives_interval: DEFAULT_KEEPALIVES_INTERVAL,
            keepalives_count: DEFAULT_KEEPALIVES_COUNT,
            tcp_user_timeout: DEFAULT_TCP_USER_TIMEOUT,
            recycle_timeout: DEFAULT_RECYCLE_TIMEOUT,
            batch_reads: true,
        }
    }
}

/// The connection URL could not be understood, or the files it names could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid database URL {url}: {reason}")]
pub struct InvalidUrl {
    /// The URL with its password masked.
    pub url: String,
    pub reason: String,
}

/// Builds a pool for `url` (a `postgres://` URL or a `key=value` connection string).
///
/// The certificate files the URL names (`sslrootcert`, `sslcert`, `sslkey`) are read here,
/// once. No connection is opened: a database that is down at start-up is reported by the
/// first request (and by `/readyz`), not by a refusal to start.
pub fn connect(url: &str, settings: &PoolSettings) -> Result<Pool, InvalidUrl> {
    let invalid = |reason: String| InvalidUrl {
        url: redact_url(url),
        reason,
    };
    let (mut config, info) = parse_url(url).map_err(invalid)?;
    let tls = Tls::new(&info.ssl).map_err(invalid)?;
    if config.get_hosts().is_empty() {
        // Only `hostaddr`: the addresses are the names TLS checks (tokio-postgres would
        // refuse a handshake without a host name).
        for address in config.get_hostaddrs().to_vec() {
            config.host(address.to_string());
        }
    }
    config.ssl_mode(tokio_postgres_mode(tls.mode(), &config));
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(settings.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name(settings.application_name);
    }
    let keepalive = info.keepalive;
    config
        .keepalives(keepalive.enabled.unwrap_or(true))
        .keepalives_idle(keepalive.idle.unwrap_or(settings.keepalives_idle))
        .keepalives_interval(keepalive.interval.unwrap_or(settings.keepalives_interval))
        .keepalives_retries(keepalive.count.unwrap_or(settings.keepalives_count));
    let user_timeout = keepalive
        .user_timeout
        .or((!settings.tcp_user_timeout.is_zero()).then_some(settings.tcp_user_timeout));
    if let Some(timeout) = user_timeout {
        config.tcp_user_timeout(timeout);
    }
    let pool = Pool::builder(Manager::new(config, tls, settings.batch_reads))
        .max_size(settings.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.connect_timeout + Duration::from_secs(1)))
        // The check of an idle connection to a host that vanished would otherwise wait
        // for the kernel to give the connection up (`tcp_user_timeout`).
        .recycle_timeout(Some(settings.recycle_timeout))
        .build()
        .map_err(|error| invalid(error.to_string()))?;
    Ok(pool)
}

/// The mode tokio-postgres negotiates with: it knows no `verify-*` (the certificate checks
/// are [`Tls`]'s), and libpq never uses TLS over a Unix socket, whatever the mode.
fn tokio_postgres_mode(
    mode: SslMode,
    config: &tokio_postgres::Config,
) -> tokio_postgres::config::SslMode {
    use tokio_postgres::config::{Host, SslMode as Negotiate};
    let unix_only = config.get_hostaddrs().is_empty()
        && !config.get_hosts().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|host| matches!(host, Host::Unix(_)));
    match mode {
        _ if unix_only => Negotiate::Disable,
        SslMode::Disable => Negotiate::Disable,
        SslMode::Prefer => Negotiate::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Negotiate::Require,
    }
}

/// A connection URL or `key=value` string as it may be shown in messages and logs:
/// `postgres://user:***@host:port/dbname`, built from the parsed settings, never from the
/// text itself, so a password shows as `***` whatever characters it holds. A string that
/// does not parse is not shown at all.
pub fn redact_url(url: &str) -> String {
    match parse_url(url) {
        Ok((config, _)) => describe_config(&config),
        Err(_) => "(not shown: it does not parse)".to_owned(),
    }
}

/// Parses a connection URL or `key=value` string: rowpipe's own settings first
/// ([`conninfo::split`]), then the rest by tokio-postgres. The reason for a refusal never
/// quotes the text: a misplaced character could be part of the password.
fn parse_url(url: &str) -> Result<(tokio_postgres::Config, conninfo::ConnInfo), String> {
    if url.contains("://") && url.matches('@').count() > 1 {
        // `postgres://alice:p@ss@host` reads as password `p` on host `ss@host`.
        return Err(
            "more than one '@': write an '@' inside the user name or password as \
                    %40 (likewise '%' as %25)"
                .to_owned(),
        );
    }
    let info = conninfo::split(url)?;
    let config = info.rest.parse().map_err(|error: tokio_postgres::Error| {
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
    })?;
    Ok((config, info))
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
                format!("postgres://alice:{encoded}@db/app?sslmode=verify-full&sslrootcert=system"),
                format!("host=db sslmode=verify-ca user=alice password='{quoted}' sslrootcert=/x"),
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
    fn libpq_tls_settings_parse_in_both_forms() {
        assert_eq!(
            redact_url("postgres://alice:s3cret@db/app?sslmode=verify-full&sslrootcert=system"),
            "postgres://alice:***@db:5432/app"
        );
        assert_eq!(
            redact_url("host=db user=alice password=s3cret sslmode=verify-ca sslrootcert=/x"),
            "postgres://alice:***@db/"
        );
        let settings = PoolSettings::default();
        for url in [
            "postgres://alice:s3cret@db/app?sslmode=verify-full&sslrootcert=/no/such/ca.pem",
            "host=db password=s3cret sslmode=verify-ca sslrootcert='/no/such/ca.pem'",
        ] {
            let message = connect(url, &settings).unwrap_err().to_string();
            assert!(
                message.contains("cannot read sslrootcert /no/such/ca.pem"),
                "{message}"
            );
            assert!(!message.contains("s3cret"), "{message}");
        }
        let weak = connect(
            "postgres://db/app?sslmode=require&sslrootcert=system",
            &settings,
        );
        let message = weak.unwrap_err().to_string();
        assert!(message.contains("weak sslmode \"require\""), "{message}");
        let half = connect("postgres://db/app?sslcert=/c.pem", &settings);
        let message = half.unwrap_err().to_string();
        assert!(message.contains("sslcert and sslkey"), "{message}");
        connect("postgres://db/app?sslmode=require", &settings).expect("no files to read");
        connect("host=db sslmode=disable keepalives_count=2", &settings).expect("libpq keys");
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
