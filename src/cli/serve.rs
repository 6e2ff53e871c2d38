//! `rowpipe serve`: datasets over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rowpipe::catalog::Catalog;
use rowpipe::config::{Config, DEFAULT_LISTEN};
use rowpipe::escape::OneLine;
use rowpipe::server::{self, AppState};
use rowpipe::source::DatabaseUrl;

use super::{CliError, database_url, demo, shutdown_signal};

/// How long the start-up check waits for the database before serving anyway.
const STARTUP_PING: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// PostgreSQL connection URL, or a SQLite file (`sqlite:PATH`, or a path ending in
    /// `.db`, `.sqlite`, `.sqlite3`); overrides the config file's `database.url`. With
    /// neither a database nor a config file, the demo database is served (made first if
    /// need be; see `rowpipe demo`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database: Option<String>,
    /// Configuration file (TOML). Without one, every table and view of schema `public` that
    /// the role can read (of a SQLite file: every table and view) is offered as a dataset.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080, or the config file's `server.listen`].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

impl ServeArgs {
    /// `--config`, which `main` loads (it sets the log's format too).
    pub(super) fn config_path(&self) -> Option<&std::path::Path> {
        self.config.as_deref()
    }
}

/// Serves what `config` (`--config`'s, or the defaults) describes until a shutdown signal.
pub async fn run(args: ServeArgs, config: Config) -> Result<(), CliError> {
    let (url, config) = match (&args.database, &args.config) {
        // Nothing given: the demo, so that `rowpipe serve` alone shows something.
        (None, None) => tokio::task::block_in_place(demo::for_serve)?,
        (database, _) => (database_url(database.as_deref(), &config)?, config),
    };
    // From here on SIGTERM and Ctrl-C shut down cleanly, also during the start-up checks
    // below. (Making the demo, above, is simply stopped: its file is renamed into place
    // only when complete.)
    let shutdown = shutdown_signal();

    let state =
        AppState::from_config(&config, &url).map_err(|error| CliError::Usage(error.to_string()))?;
    // A certificate that cannot be used is a configuration mistake, told before listening.
    let scheme = match server::tls_acceptor(&config.server).map_err(CliError::Usage)? {
        Some(_) => "https",
        None => "http",
    };
    let listen = args
        .listen
        .or(config.server.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("the default address parses"));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| CliError::Failed(format!("cannot listen on {listen}: {error}")))?;
    let address = listener.local_addr().unwrap_or(listen);
    tracing::info!(
        address = %address,
        database = %DatabaseUrl::parse(&url).redacted(),
        replicas = config.database.replicas.len(),
        datasets = match state.catalog() {
            Catalog::Configured(datasets) => datasets.len().to_string(),
            Catalog::Discovered(discovery) => format!("schemas {}", discovery.schemas.join(", ")),
        },
        "rowpipe serving on {scheme}://{address}/ (open it in a browser; the API at /datasets)",
    );
    if !address.ip().is_loopback() && !config.tokens.is_empty() && scheme == "http" {
        tracing::warn!(
            address = %address,
            "listening beyond this machine over plain HTTP: bearer tokens cross the network \
             in clear text; set [server] tls_cert and tls_key, or put a TLS proxy in front"
        );
    } else if !address.ip().is_loopback() && config.tokens.is_empty() {
        tracing::warn!(
            address = %address,
            "listening beyond this machine without authentication: anyone who can reach \
             this address can download every dataset; listen on 127.0.0.1 behind a proxy \
             that authenticates, or keep the network closed"
        );
    }
    if let Err(error) = state.source().ping(STARTUP_PING).await {
        tracing::warn!(error = %OneLine(&error.to_string()), "the database does not answer yet; serving anyway, /healthz reports 503");
    }
    server::serve(listener, state, shutdown)
        .await
        .map_err(|error| CliError::Failed(format!("server failed: {error}")))
}
