//! Command-line front end: raw flags are parsed here, turned into validated settings by each
//! command, and every outcome becomes an exit code in [`main`] alone.
//!
//! Exit codes: 0 success (a reader that closed stdout early counts as success), 1 the
//! export or server failed, 2 bad usage or configuration, 130 interrupted.

mod demo;
mod export;
mod manifest;
mod progress_line;
mod serve;
mod token;

use rowpipe::config::LogFormat;
use rowpipe::escape::OneLine;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Stream query results out of PostgreSQL or a SQLite file as CSV, to files and over HTTP, in
/// constant memory.
#[derive(Debug, Parser)]
#[command(name = "rowpipe", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written to stderr: `text` for people, `json` (one object a line)
    /// for log collectors [default: the config file's `[log] format`, else text].
    #[arg(long, global = true, value_enum, env = "ROWPIPE_LOG_FORMAT")]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Export one query or table to a file or to stdout.
    Export(Box<export::ExportArgs>),
    /// Serve datasets as downloads over HTTP.
    Serve(serve::ServeArgs),
    /// Make bearer tokens for `rowpipe serve`.
    Token(token::TokenArgs),
    /// Write the demo database: a shop (orders, customers, products) in a SQLite file.
    Demo(demo::DemoArgs),
}

impl Command {
    /// The command's `--config`, if it was given one.
    fn config_path(&self) -> Option<&std::path::Path> {
        match self {
            Command::Export(args) => args.config_path(),
            Command::Serve(args) => args.config_path(),
            Command::Token(_) | Command::Demo(_) => None,
        }
    }
}

/// The config file given, or the defaults without one.
fn load_config(path: Option<&std::path::Path>) -> Result<rowpipe::config::Config, CliError> {
    match path {
        Some(path) => {
            rowpipe::config::Config::load(path).map_err(|error| CliError::Usage(error.to_string()))
        }
        None => Ok(rowpipe::config::Config::default()),
    }
}

/// The connection URL: `--database` (or `DATABASE_URL`), else the config file's.
fn database_url(given: Option<&str>, config: &rowpipe::config::Config) -> Result<String, CliError> {
    given
        .map(str::to_owned)
        .or_else(|| config.database.url.clone())
        .ok_or_else(|| {
            CliError::Usage(
                "no database given: use --database URL, DATABASE_URL, or `url` under \
                 [database] in the config file"
                    .into(),
            )
        })
}

/// Why a command failed, which decides the exit code.
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// The command line or configuration cannot be used.
    #[error("{0}")]
    Usage(String),
    /// The export or the server failed while running.
    #[error("{0}")]
    Failed(String),
    /// Stopped by Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Failed(_) => ExitCode::from(1),
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Interrupted => ExitCode::from(130),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rowpipe: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    // The config file first: it may set the log's format (the flag wins).
    let result = load_config(cli.command.config_path()).and_then(|config| {
        let format = cli.log_format.or(config.log.format).unwrap_or_default();
        runtime.block_on(async {
            match cli.command {
                Command::Export(args) => {
                    init_logging("warn", format);
                    export::run(*args, config).await
                }
                Command::Serve(args) => {
                    init_logging("info", format);
                    serve::run(args, config).await
                }
                Command::Token(args) => token::run(args),
                Command::Demo(args) => {
                    init_logging("warn", format);
                    tokio::task::block_in_place(|| demo::run(args))
                }
            }
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rowpipe: {}", OneLine(&error.to_string()));
            error.exit_code()
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the command's default level.
fn init_logging(default_level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).init(),
        // One JSON object a line, the event's fields at the top level beside `timestamp`,
        // `level`, `target` and `message`.
        LogFormat::Json => log
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are in place when this returns,
/// before the future is first polled: a signal that comes while the command is still
/// starting (a server checking its database) is then caught, not fatal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async move {
        let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
            match stream {
                Some(mut stream) => {
                    stream.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {}
            () = wait(terminate) => {}
        }
    }
}
