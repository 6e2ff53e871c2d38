//! The configuration file: what a server offers and the bounds every export runs within.
//!
//! Parsed from TOML with unknown keys rejected, then validated as a whole before anything
//! starts, so a mistake fails at start-up with the file, the key and what was expected
//! rather than at the first download. Every bound (chunk size, prefetch depth, pool size,
//! timeouts) lives here with a named default.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::catalog::{Dataset, DatasetQuery, Discovery, ParamSpec, TableName};
use crate::export::Engine;
use crate::format::Compression;
use crate::source::postgres::PoolSettings;
use crate::source::postgres::connect::{
    DEFAULT_KEEPALIVES_COUNT, DEFAULT_KEEPALIVES_IDLE, DEFAULT_KEEPALIVES_INTERVAL,
    DEFAULT_RECYCLE_TIMEOUT, DEFAULT_TCP_USER_TIMEOUT,
};
use crate::source::postgres::replicas::{Fallback, ReplicaSettings};

/// Bytes per chunk handed to the sink. 8 KiB chunks cost twice the CPU; 256 KiB ones save
/// little more and cost memory per download (bench/RESULTS.md).
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;
/// Chunks produced ahead of the sink. Without prefetch the database read and the client
/// write take turns; 4 absorbs client-side hiccups for 192 KiB more (bench/RESULTS.md).
pub const DEFAULT_PREFETCH_DEPTH: usize = 4;
/// gzip's level for compressed downloads and exports. Level 1 (flate2's zlib-rs backend)
/// compresses about 200 MB/s of CSV on one core, level 2 already only about 110 MB/s,
/// slower than rowpipe writes CSV; the ratio is 0.61 against 0.43.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;
/// zstd's level for compressed downloads and exports. Level 1 compresses about 430 MB/s
/// of CSV on one core, to a smaller file (ratio 0.40) than any gzip level; level 3 about
/// 220 MB/s for no smaller a file.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
/// Database connections the server keeps.
pub const DEFAULT_POOL_SIZE: usize = 8;
/// How long one export query may run on the server (a slow client holds its snapshot open).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// The server's listening address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long a client may accept no bytes of a response. A stalled client otherwise holds
/// a database connection, and its backend's snapshot, for as long as it likes.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client may take to send a request's headers.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open client connections at most.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a download waits for a pooled connection. Short: with downloads capped at the
/// pool's size a wait means trouble, and a quick 503 beats a hanging client.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long downloads may go on after a shutdown signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How far a read replica's replay may lag behind what it received before downloads
/// skip it.
pub const DEFAULT_MAX_LAG: Duration = Duration::from_secs(30);
/// How often each read replica's health and lag are checked.
pub const DEFAULT_REPLICA_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub stream: StreamConfig,
    #[serde(default)]
    pub server: ServerConfig,
    /// `[discovery]`: which tables are offered when there are no `[[dataset]]` entries.
    #[serde(default)]
    pub discovery: Discovery,
    /// `[[dataset]]` entries; none means every table and view of schema `public`.
    #[serde(default, rename = "dataset")]
    pub datasets: Vec<DatasetConfig>,
    /// `[log]`: how the log is written.
    #[serde(default)]
    pub log: LogConfig,
    /// `[[token]]` entries: with any, every request but `/livez` (and `/readyz` unless
    /// `server.protect_readyz`) needs `Authorization: Bearer` with one of them.
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenConfig>,
}

/// One `[[token]]`: a bearer token known by its SHA-256 only (`rowpipe token new` makes
/// one), and what it may read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it, for the log; never the token itself.
    pub name: String,
    /// The SHA-256 of the token, in lower-case hex.
    pub sha256: String,
    /// The datasets it may read; `["*"]` (the default) for all.
    #[serde(default = "all_datasets")]
    pub datasets: Vec<String>,
    /// The database role its exports run as (`SET LOCAL ROLE`), so that the database's
    /// grants and row-level security decide what it sees.
    pub role: Option<String>,
}

fn all_datasets() -> Vec<String> {
    vec!["*".to_owned()]
}

/// `[log]`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`; `--log-format` (and `ROWPIPE_LOG_FORMAT`) override it. Default
    /// `text`.
    pub format: Option<LogFormat>,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: `tracing`'s text lines.
    #[default]
    Text,
    /// For log collectors: one JSON object a line.
    Json,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connection URL; `DATABASE_URL` and `--database` override it.
    pub url: Option<String>,
    /// Connections kept in the pool: at most this many downloads run at once.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Longest an export query may run, e.g. `"10min"`; `"0s"` means no limit.
    #[serde(default = "default_statement_timeout", deserialize_with = "duration")]
    pub statement_timeout: Duration,
    /// Longest opening a connection may take.
    #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Longest a download waits for a pooled connection when all are busy.
    #[serde(default = "default_acquire_timeout", deserialize_with = "duration")]
    pub acquire_timeout: Duration,
    /// TCP keepalives: a connection that has received nothing for `keepalives_idle` is
    /// probed every `keepalives_interval` and given up after `keepalives_count` unanswered
    /// probes. The URL's own `keepalives*` settings win.
    #[serde(default = "default_keepalives_idle", deserialize_with = "duration")]
    pub keepalives_idle: Duration,
    #[serde(default = "default_keepalives_interval", deserialize_with = "duration")]
    pub keepalives_interval: Duration,
    #[serde(default = "default_keepalives_count")]
    pub keepalives_count: u32,
    /// Longest sent data or a keepalive probe may stay unacknowledged before the
    /// connection is given up; `"0s"` leaves the system's default. The URL's own
    /// `tcp_user_timeout` (milliseconds, as in libpq) wins.
    #[serde(default = "default_tcp_user_timeout", deserialize_with = "duration")]
    pub tcp_user_timeout: Duration,
    /// Longest the check of an idle pooled connection may take before it is replaced.
    #[serde(default = "default_recycle_timeout", deserialize_with = "duration")]
    pub recycle_timeout: Duration,
    /// PostgreSQL read replicas (hot standbys) of `url`: downloads, listings and describes
    /// go to a healthy one, in turn. Each gets pools of the same settings.
    #[serde(default)]
    pub replicas: Vec<String>,
    /// Where requests go when no replica is healthy: `primary` (`url`), or `fail` (503).
    #[serde(default)]
    pub fallback: Fallback,
    /// A replica whose replay is further behind than this is skipped until it catches
    /// up; `"0s"` means no limit.
    #[serde(default = "default_max_lag", deserialize_with = "duration")]
    pub max_lag: Duration,
    /// How often each replica's health and lag are checked.
    #[serde(
        default = "default_replica_check_interval",
        deserialize_with = "duration"
    )]
    pub replica_check_interval: Duration,
}

impl DatabaseConfig {
    /// The connection pools' settings this section asks for.
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            pool_size: self.pool_size,
            connect_timeout: self.connect_timeout,
            wait_timeout: self.acquire_timeout,
            keepalives_idle: self.keepalives_idle,
            keepalives_interval: self.keepalives_interval,
            keepalives_count: self.keepalives_count,
            tcp_user_timeout: self.tcp_user_timeout,
            recycle_timeout: self.recycle_timeout,
            ..PoolSettings::default()
        }
    }

    /// How downloads are spread over `replicas`; `None` when it lists none.
    pub fn replica_settings(&self) -> Option<ReplicaSettings> {
        (!self.replicas.is_empty()).then(|| ReplicaSettings {
            urls: self.replicas.clone(),
            fallback: self.fallback,
            max_lag: self.max_lag,
            check_interval: self.replica_check_interval,
        })
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: DEFAULT_POOL_SIZE,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            connect_timeout: default_connect_timeout(),
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            keepalives_idle: DEFAULT_KEEPALIVES_IDLE,
            keepalives_interval: DEFAULT_KEEPALIVES_INTERVAL,
            keepalives_count: DEFAULT_KEEPALIVES_COUNT,
            tcp_user_timeout: DEFAULT_TCP_USER_TIMEOUT,
            recycle_timeout: DEFAULT_RECYCLE_TIMEOUT,
            replicas: Vec::new(),
            fallback: Fallback::default(),
            max_lag: DEFAULT_MAX_LAG,
            replica_check_interval: DEFAULT_REPLICA_CHECK_INTERVAL,
        }
    }
}

/// `[stream]`: how bytes move from the database to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Bytes per chunk written to the client (and per HTTP chunk).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: usize,
    /// Chunks read ahead of the client; 0 reads only when the client asks.
    #[serde(default = "default_prefetch_depth")]
    pub prefetch_depth: usize,
    /// Who formats the values: rowpipe (`typed`) or the server's COPY (`copy`).
    #[serde(default)]
    pub engine: Engine,
    /// gzip's compression level, 0 (none) to 9 (smallest, slowest).
    #[serde(default = "default_gzip_level")]
    pub gzip_level: u32,
    /// zstd's compression level, 1 (fastest) to 19 (smallest, slowest; more memory per
    /// download).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
}

impl StreamConfig {
    /// The level to compress with `compression` at.
    pub fn level(&self, compression: Compression) -> i32 {
        match compression {
            Compression::Gzip => self.gzip_level as i32,
            Compression::Zstd => self.zstd_level,
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            prefetch_depth: DEFAULT_PREFETCH_DEPTH,
            engine: Engine::default(),
            gzip_level: DEFAULT_GZIP_LEVEL,
            zstd_level: DEFAULT_ZSTD_LEVEL,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; `--listen` overrides it.
    pub listen: Option<SocketAddr>,
    /// A download that would pass this many bytes fails (loudly, never a shorter file).
    pub max_bytes: Option<u64>,
    /// A client that accepts no bytes of a response for this long has its connection
    /// closed, and with it the download's query and database connection.
    #[serde(default = "default_send_timeout", deserialize_with = "duration")]
    pub send_timeout: Duration,
    /// A client must send a request's headers within this long (also an idle keep-alive
    /// connection's limit before its next request).
    #[serde(default = "default_header_read_timeout", deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// Open client connections at most; more wait in the listen queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Downloads running at once at most; more are answered 503 at once. Default: the
    /// pool's size, so that no download waits for a connection.
    pub max_downloads: Option<usize>,
    /// Downloads running at once from one client address at most; more are answered 503
    /// at once. Default: no limit of its own (behind a proxy every client is the proxy).
    pub max_downloads_per_client: Option<usize>,
    /// After a shutdown signal, how long downloads still running may go on before they are
    /// cut off (and so fail visibly for their clients).
    #[serde(default = "default_shutdown_grace", deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// With `[[token]]`s: whether `/readyz` (and `/healthz`) need a token too. `/metrics`
    /// always does; `/livez` never.
    #[serde(default)]
    pub protect_readyz: bool,
    /// HTTPS: the server's certificate chain (PEM), with `tls_key`.
    pub tls_cert: Option<std::path::PathBuf>,
    /// HTTPS: the certificate's private key (PEM), with `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: None,
            max_bytes: None,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_downloads: None,
            max_downloads_per_client: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            protect_readyz: false,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// One `[[dataset]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// The name in URLs: `/datasets/{name}.csv`.
    pub name: String,
    pub description: Option<String>,
    /// The query; exactly one of `sql` and `table`.
    pub sql: Option<String>,
    /// A table or view, `name` or `schema.name`.
    pub table: Option<String>,
    /// The parameters `$1`, `$2`, ... of `sql`, in order.
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// A unique column the query is ordered by: enables `?after=` to resume.
    pub key: Option<String>,
    /// More rows than this fail the download (loudly, never a shorter file).
    pub max_rows: Option<u64>,
    /// Downloads of this dataset running at once at most; more are answered 503 at once.
    pub max_concurrent: Option<usize>,
}

/// A parameter is a query-string key: a plain identifier, not one of the download
/// options.
fn validate_param_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain {
        return Err(format!(
            "parameter name {name:?} must be letters, digits and _, not starting with a digit"
        ));
    }
    if crate::request::is_reserved(name) {
        return Err(format!(
            "parameter name {name:?} is taken by a download option ({})",
            crate::request::reserved_keys()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

fn default_pool_size() -> usize {
    DEFAULT_POOL_SIZE
}
fn default_statement_timeout() -> Duration {
    DEFAULT_STATEMENT_TIMEOUT
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_acquire_timeout() -> Duration {
    DEFAULT_ACQUIRE_TIMEOUT
}
fn default_keepalives_idle() -> Duration {
    DEFAULT_KEEPALIVES_IDLE
}
fn default_keepalives_interval() -> Duration {
    DEFAULT_KEEPALIVES_INTERVAL
}
fn default_keepalives_count() -> u32 {
    DEFAULT_KEEPALIVES_COUNT
}
fn default_tcp_user_timeout() -> Duration {
    DEFAULT_TCP_USER_TIMEOUT
}
fn default_recycle_timeout() -> Duration {
    DEFAULT_RECYCLE_TIMEOUT
}
fn default_max_lag() -> Duration {
    DEFAULT_MAX_LAG
}
fn default_replica_check_interval() -> Duration {
    DEFAULT_REPLICA_CHECK_INTERVAL
}
fn default_send_timeout() -> Duration {
    DEFAULT_SEND_TIMEOUT
}
fn default_header_read_timeout() -> Duration {
    DEFAULT_HEADER_READ_TIMEOUT
}
fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}
fn default_shutdown_grace() -> Duration {
    DEFAULT_SHUTDOWN_GRACE
}
fn default_chunk_size() -> usize {
    DEFAULT_CHUNK_SIZE
}
fn default_prefetch_depth() -> usize {
    DEFAULT_PREFETCH_DEPTH
}
fn default_gzip_level() -> u32 {
    DEFAULT_GZIP_LEVEL
}
fn default_zstd_level() -> i32 {
    DEFAULT_ZSTD_LEVEL
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Parses a duration such as `"10min"`, `"30s"`, `"1h 30m"` or `"0s"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|error| {
        format!("invalid duration {text:?} ({error}); expected e.g. \"30s\", \"10min\" or \"1h\"")
    })
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config file {}: {problem}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub problem: ConfigProblem,
}

/// What is wrong with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    /// Only the position and the parser's message: toml's own report quotes the offending
    /// line, which may hold a password.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        #[expect(
            clippy::disallowed_methods,
            reason = "the operator's own config file, read once at start-up"
        )]
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            path: path.to_owned(),
            problem: ConfigProblem::Read(error),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let fail = |problem| ConfigError {
            path: path.to_owned(),
            problem,
        };
        let config: Config =
            toml::from_str(text).map_err(|error| fail(syntax_problem(text, &error)))?;
        config
            .validate()
            .map_err(|(key, message)| fail(ConfigProblem::Invalid { key, message }))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        if self.database.pool_size == 0 {
            return Err(("database.pool_size".into(), "expected at least 1".into()));
        }
        if self.discovery.schemas.is_empty() {
            return Err((
                "discovery.schemas".into(),
                "expected at least one schema".into(),
            ));
        }
        for (key, value) in [
            ("server.max_connections", Some(self.server.max_connections)),
            ("server.max_downloads", self.server.max_downloads),
            (
                "server.max_downloads_per_client",
                self.server.max_downloads_per_client,
            ),
        ] {
            if value == Some(0) {
                return Err((key.into(), "expected at least 1".into()));
            }
        }
        for (key, value) in [
            // TCP takes keepalive times in whole seconds.
            ("database.keepalives_idle", self.database.keepalives_idle),
            (
                "database.keepalives_interval",
                self.database.keepalives_interval,
            ),
        ] {
            if value < Duration::from_secs(1) {
                return Err((key.into(), "expected at least 1s".into()));
            }
        }
        if self.database.keepalives_count == 0 {
            return Err((
                "database.keepalives_count".into(),
                "expected at least 1".into(),
            ));
        }
        for (key, value) in [
            ("database.recycle_timeout", self.database.recycle_timeout),
            (
                "database.replica_check_interval",
                self.database.replica_check_interval,
            ),
        ] {
            if value.is_zero() {
                return Err((key.into(), "expected more than 0s".into()));
            }
        }
        for (key, value) in [
            ("server.send_timeout", self.server.send_timeout),
            (
                "server.header_read_timeout",
                self.server.header_read_timeout,
            ),
        ] {
            if value.is_zero() {
                return Err((key.into(), "expected more than 0s".into()));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (index, token) in self.tokens.iter().enumerate() {
            let key = |field: &str| format!("token[{}].{field}", index + 1);
            if !names.insert(token.name.as_str()) {
                return Err((key("name"), format!("{:?} is given twice", token.name)));
            }
            let hex = token.sha256.len() == 64
                && token
                    .sha256
                    .bytes()
                    .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
            if !hex {
                return Err((
                    key("sha256"),
                    "expected 64 lower-case hex digits (`rowpipe token new` prints it)".into(),
                ));
            }
            if token.datasets.is_empty() {
                return Err((key("datasets"), "expected at least one, or \"*\"".into()));
            }
        }
        match (&self.server.tls_cert, &self.server.tls_key) {
            (Some(_), None) => {
                return Err((
                    "server.tls_key".into(),
                    "missing: tls_cert needs its key".into(),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "server.tls_cert".into(),
                    "missing: tls_key needs its certificate".into(),
                ));
            }
            _ => {}
        }
        if self.stream.chunk_size == 0 {
            return Err((
                "stream.chunk_size".into(),
                "expected at least 1 byte".into(),
            ));
        }
        if self.stream.chunk_size > 64 * 1024 * 1024 {
            return Err((
                "stream.chunk_size".into(),
                "expected at most 67108864 (64 MiB)".into(),
            ));
        }
        if self.stream.prefetch_depth > 1024 {
            return Err((
                "stream.prefetch_depth".into(),
                "expected at most 1024".into(),
            ));
        }
        if self.stream.gzip_level > 9 {
            return Err(("stream.gzip_level".into(), "expected 0 to 9".into()));
        }
        if !(1..=19).contains(&self.stream.zstd_level) {
            return Err(("stream.zstd_level".into(), "expected 1 to 19".into()));
        }
        let mut names = HashSet::new();
        for (index, dataset) in self.datasets.iter().enumerate() {
            let key = |field: &str| format!("dataset[{index}].{field}");
            validate_dataset_name(&dataset.name).map_err(|message| (key("name"), message))?;
            if !names.insert(dataset.name.as_str()) {
                return Err((
                    key("name"),
                    format!("duplicate dataset name {:?}", dataset.name),
                ));
            }
            dataset
                .to_dataset()
                .map_err(|(field, message)| (key(field), message))?;
            if dataset.max_concurrent == Some(0) {
                return Err((key("max_concurrent"), "expected at least 1".into()));
            }
        }
        Ok(())
    }

    /// The downloads that may run at once: `[server] max_downloads`, else the pool's size.
    pub fn max_downloads(&self) -> usize {
        self.server.max_downloads.unwrap_or(self.database.pool_size)
    }

    /// Each configured dataset's own limit on downloads at once, where it has one.
    pub fn dataset_limits(&self) -> impl Iterator<Item = (&str, usize)> {
        self.datasets.iter().filter_map(|dataset| {
            dataset
                .max_concurrent
                .map(|limit| (dataset.name.as_str(), limit))
        })
    }

    /// The datasets the file declares, ready to serve.
    pub fn datasets(&self) -> Vec<Dataset> {
        self.datasets
            .iter()
            .map(|dataset| {
                dataset
                    .to_dataset()
                    .expect("validated when the config was loaded")
            })
            .collect()
    }
}

/// Locates a parse error by line, column and key without quoting the line, which may hold a
/// password.
fn syntax_problem(text: &str, error: &toml::de::Error) -> ConfigProblem {
    let offset = error.span().map_or(0, |span| span.start).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let key = key_at(text, line_start, offset);
    ConfigProblem::Syntax {
        line,
        column,
        message: match key {
            Some(key) => format!("{key}: {}", error.message().trim_end()),
            None => error.message().trim_end().to_owned(),
        },
    }
}

/// The dotted key whose value starts before `offset` on the line at `line_start`, e.g.
/// `database.pool_size` or `dataset[1].name`, or the table a header line names.
fn key_at(text: &str, line_start: usize, offset: usize) -> Option<String> {
    let line = text[line_start..].lines().next().unwrap_or_default().trim();
    if line.starts_with('[') {
        // The error is about a whole table, e.g. `[dataset]` where `[[dataset]]` belongs.
        return Some(
            line.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned(),
        );
    }
    let (key, _) = text[line_start..offset].split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() {
        return None;
    }
    let mut section = None;
    let mut tables_seen = std::collections::HashMap::<&str, usize>::new();
    for header in text[..line_start].lines().map(str::trim) {
        if let Some(name) = header.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
            let name = name.trim();
            let index = tables_seen.entry(name).or_default();
            section = Some(format!("{name}[{index}]"));
            *index += 1;
        } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            section = Some(name.trim().to_owned());
        }
    }
    Some(match section {
        Some(section) => format!("{section}.{key}"),
        None => key.to_owned(),
    })
}

/// Dataset names appear in URLs and file names, so they keep to a safe alphabet.
fn validate_dataset_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    if name.is_empty() {
        Err("expected a non-empty name".into())
    } else if !name.chars().all(allowed) {
        Err(format!(
            "invalid dataset name {name:?}: expected letters, digits, '_' and '-' only"
        ))
    } else {
        Ok(())
    }
}

impl DatasetConfig {
    fn to_dataset(&self) -> Result<Dataset, (&'static str, String)> {
        let query = match (&self.sql, &self.table) {
            (Some(sql), None) if sql.trim().is_empty() => {
                return Err(("sql", "expected a query, found an empty string".into()));
            }
            (Some(sql), None) => DatasetQuery::Sql(sql.clone()),
            (None, Some(table)) => DatasetQuery::Table(
                table
                    .parse::<TableName>()
                    .map_err(|error| ("table", error.to_string()))?,
            ),
            (Some(_), Some(_)) => {
                return Err(("sql", "give either `sql` or `table`, not both".into()));
            }
            (None, None) => return Err(("sql", "missing: give `sql` or `table`".into())),
        };
        let mut names = HashSet::new();
        for param in &self.params {
            validate_param_name(&param.name).map_err(|message| ("params", message))?;
            if !names.insert(param.name.as_str()) {
                return Err(("params", format!("duplicate parameter {:?}", param.name)));
            }
            if param.type_name.trim().is_empty() {
                return Err(("params", format!("parameter {:?} has no type", param.name)));
            }
        }
        if !self.params.is_empty() && self.table.is_some() {
            return Err(("params", "parameters need `sql`, not `table`".into()));
        }
        if self.key.as_deref().is_some_and(|key| key.is_empty()) {
            return Err(("key", "expected a column name".into()));
        }
        Ok(Dataset {
            name: self.name.clone(),
            description: self.description.clone(),
            query,
            params: self.params.clone(),
            key: self.key.clone(),
            max_rows: self.max_rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("rowpipe.toml")).map_err(|error| error.to_string())
    }

    #[test]
    fn the_log_format_is_text_or_json() {
        assert_eq!(parse("").unwrap().log.format, None);
        let config = parse("[log]\nformat = \"json\"").unwrap();
        assert_eq!(config.log.format, Some(LogFormat::Json));
        let error = parse("[log]\nformat = \"xml\"").unwrap_err();
        assert!(error.contains("log.format"), "{error}");
        assert!(error.contains("text") && error.contains("json"), "{error}");
        assert!(parse("[log]\nlevel = \"info\"").is_err());
    }

    #[test]
    fn replicas_have_a_fallback_a_max_lag_and_a_check_interval() {
        let defaults = parse("").unwrap().database;
        assert!(defaults.replicas.is_empty());
        assert_eq!(defaults.fallback, Fallback::Primary);
        assert_eq!(defaults.max_lag, DEFAULT_MAX_LAG);
        assert_eq!(
            defaults.replica_check_interval,
            DEFAULT_REPLICA_CHECK_INTERVAL
        );
        let database = parse(
            "[database]\nreplicas = [\"postgres://r1/db\", \"postgres://r2/db\"]\n\
             fallback = \"fail\"\nmax_lag = \"0s\"\nreplica_check_interval = \"1s\"",
        )
        .unwrap()
        .database;
        assert_eq!(database.replicas.len(), 2);
        assert_eq!(database.fallback, Fallback::Fail);
        assert_eq!(database.max_lag, Duration::ZERO);
        assert_eq!(database.replica_check_interval, Duration::from_secs(1));
        let error = parse("[database]\nfallback = \"any\"").unwrap_err();
        assert!(error.contains("database.fallback"), "{error}");
        let error = parse("[database]\nreplica_check_interval = \"0s\"").unwrap_err();
        assert!(error.contains("database.replica_check_interval"), "{error}");
    }

    #[test]
    fn the_documented_example_parses() {
        let config = parse(
            r#"
            [database]
            url = "postgres://user@host/db"
            pool_size = 8
            statement_timeout = "10min"

            [[dataset]]
            name = "orders"
            description = "All orders, oldest first"
            sql = "SELECT * FROM orders ORDER BY id"

            [[dataset]]
            name = "customers"
            table = "public.customers"
            "#,
        )
        .unwrap();
        assert_eq!(config.database.statement_timeout, Duration::from_secs(600));
        assert_eq!(config.stream, StreamConfig::default());
        let datasets = config.datasets();
        assert_eq!(datasets.len(), 2);
        assert_eq!(
            datasets[1].query.to_sql(),
            r#"SELECT * FROM "public"."customers""#
        );
    }

    /// The README's configuration example is a valid file that means what it says.
    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("```toml\n")
            .expect("a toml block in the README")
            + 8;
        let end = start + readme[start..].find("```").expect("the block's end");
        let config = parse(&readme[start..end]).unwrap();
        assert_eq!(config.server.max_bytes, Some(10_000_000_000));
        assert_eq!(config.database.keepalives_idle, DEFAULT_KEEPALIVES_IDLE);
        assert_eq!(config.database.tcp_user_timeout, DEFAULT_TCP_USER_TIMEOUT);
        assert_eq!(config.stream.engine, Engine::Typed);
        let datasets = config.datasets();
        let orders = &datasets[0];
        assert_eq!(orders.key.as_deref(), Some("id"));
        assert_eq!(orders.max_rows, Some(50_000_000));
        let since = datasets.iter().find(|d| d.name == "orders_since").unwrap();
        let params: Vec<_> = since
            .params
            .iter()
            .map(|p| (&p.name[..], &p.type_name[..], p.default.as_deref()))
            .collect();
        assert_eq!(
            params,
            [
                ("since", "timestamptz", None),
                ("region", "text", Some("eu"))
            ]
        );
    }

    #[test]
    fn an_empty_file_means_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.database.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(config.database.statement_timeout, DEFAULT_STATEMENT_TIMEOUT);
        assert!(config.datasets.is_empty());
    }

    #[test]
    fn mistakes_name_the_file_and_the_key() {
        let cases = [
            ("[database]\npool_sise = 3", "unknown field `pool_sise`"),
            ("[databse]\n", "unknown field `databse`"),
            (
                "[database]\npool_size = \"eight\"",
                "database.pool_size: invalid type",
            ),
            (
                "[server]\nlisten = \"nowhere\"",
                "line 2, column 10: server.listen: invalid socket",
            ),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\n[[dataset]]\nname = 7",
                "dataset[1].name: invalid type",
            ),
            (
                "[database]\nkeepalives_idle = \"500ms\"",
                "database.keepalives_idle: expected at least 1s",
            ),
            (
                "[database]\nkeepalives_count = 0",
                "database.keepalives_count: expected at least 1",
            ),
            (
                "[database]\nrecycle_timeout = \"0s\"",
                "database.recycle_timeout: expected more than 0s",
            ),
            (
                "[database]\npool_size = 0",
                "database.pool_size: expected at least 1",
            ),
            (
                "[database]\nstatement_timeout = \"soon\"",
                "invalid duration \"soon\"",
            ),
            ("[stream]\nchunk_size = 0", "stream.chunk_size"),
            ("[[dataset]]\nname = \"a\"", "dataset[0].sql: missing"),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\ntable = \"t\"",
                "not both",
            ),
            (
                "[[dataset]]\nname = \"a b\"\nsql = \"SELECT 1\"",
                "dataset[0].name: invalid dataset name",
            ),
            (
                "[[dataset]]\nname = \"a\"\ntable = \"x.y.z\"",
                "dataset[0].table: invalid table name",
            ),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\n[[dataset]]\nname = \"a\"\nsql = \"SELECT 2\"",
                "dataset[1].name: duplicate dataset name",
            ),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT 1\"\ncolour = 1",
                "unknown field `colour`",
            ),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT $1\"\nparams = [{ name = \"1x\", type = \"int\" }]",
                "dataset[0].params: parameter name \"1x\" must be letters",
            ),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT $1\"\nparams = [{ name = \"limit\", type = \"int\" }]",
                "is taken by a download option",
            ),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT $1, $2\"\nparams = [{ name = \"p\", type = \"int\" }, { name = \"p\", type = \"int\" }]",
                "duplicate parameter \"p\"",
            ),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT $1\"\nparams = [{ name = \"p\", type = \" \" }]",
                "parameter \"p\" has no type",
            ),
            (
                "[[dataset]]\nname = \"a\"\nsql = \"SELECT $1\"\nparams = [{ name = \"p\", typ = \"int\" }]",
                "unknown field `typ`",
            ),
            (
                "[[dataset]]\nname = \"a\"\ntable = \"t\"\nparams = [{ name = \"p\", type = \"int\" }]",
                "parameters need `sql`",
            ),
            (
                "[[dataset]]\nname = \"a\"\ntable = \"t\"\nkey = \"\"",
                "dataset[0].key: expected a column name",
            ),
            (
                "[[dataset]]\nname = \"a\"\ntable = \"t\"\nmax_rows = -1",
                "dataset[0].max_rows: invalid value",
            ),
            ("[stream]\nengine = \"fast\"", "unknown variant `fast`"),
            (
                "[stream]\ngzip_level = 10",
                "stream.gzip_level: expected 0 to 9",
            ),
            (
                "[stream]\nzstd_level = 0",
                "stream.zstd_level: expected 1 to 19",
            ),
            (
                "[stream]\ngzip_level = -1",
                "stream.gzip_level: invalid value",
            ),
            ("[database\n", "line 1, column 10"),
            (
                "[database]\nurl = \"postgres://alice:s3cret@h/db",
                "line 2, column",
            ),
        ];
        for (text, expected) in cases {
            let message = parse(text).unwrap_err();
            assert!(
                message.starts_with("config file rowpipe.toml: "),
                "{message}"
            );
            assert!(
                message.contains(expected),
                "{text:?}: {message:?} lacks {expected:?}"
            );
        }
    }
}
