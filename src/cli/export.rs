//! `rowpipe export`: one query or table to a file (atomically) or to stdout.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use clap::builder::TypedValueParser;
use rowpipe::catalog::{DatasetQuery, TableName};
use rowpipe::config::{DEFAULT_CHUNK_SIZE, DEFAULT_PREFETCH_DEPTH, StreamConfig, parse_duration};
use rowpipe::database::{self, PoolSettings};
use rowpipe::format::Format;
use rowpipe::pipeline::{self, ExportOptions};
use rowpipe::progress::Progress;
use rowpipe::sink::{SinkError, StdoutOutcome, write_to_file, write_to_stdout};
use rowpipe::source::{CopyOptions, SourceError, guard::cancels_settled};

use super::progress_line::{ProgressLine, describe};
use super::{CliError, shutdown_signal};

/// How long an exiting export waits for the cancel of an abandoned query to reach the server.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("query").required(true).args(["sql", "table"])))]
pub struct ExportArgs {
    /// PostgreSQL connection URL, e.g. postgres://user@host/db (or a key=value string).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database: String,
    /// The query to export.
    #[arg(long, value_name = "SELECT ...")]
    sql: Option<String>,
    /// A table or view to export whole: `name` or `schema.name`, quoted as identifiers.
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// Write to this file (via FILE.part, renamed when complete) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "csv", value_name = "FORMAT")]
    format: Format,
    /// Show neither progress nor the summary line.
    #[arg(short, long)]
    quiet: bool,
    /// Cancel the query after this long, e.g. "30min"; default: the server's setting.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    statement_timeout: Option<Duration>,
    /// Bytes per chunk written to the output.
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE, value_parser = clap::value_parser!(u32).range(1..=64 * 1024 * 1024).map(|n| n as usize), value_name = "BYTES")]
    chunk_size: usize,
    /// Chunks read ahead of the output (0: read only when the output is ready).
    #[arg(long, default_value_t = DEFAULT_PREFETCH_DEPTH, value_parser = clap::value_parser!(u16).range(0..=1024).map(|n| n as usize), value_name = "CHUNKS")]
    prefetch_depth: usize,
}

pub async fn run(args: ExportArgs) -> Result<(), CliError> {
    let query = match (&args.sql, &args.table) {
        (Some(sql), _) if sql.trim().is_empty() => {
            return Err(CliError::Usage("--sql is empty".into()));
        }
        (Some(sql), _) => DatasetQuery::Sql(sql.clone()),
        (None, Some(table)) => DatasetQuery::Table(
            table
                .parse::<TableName>()
                .map_err(|error| CliError::Usage(format!("--table: {error}")))?,
        ),
        (None, None) => unreachable!("clap requires --sql or --table"),
    };
    let settings = PoolSettings {
        pool_size: 1,
        ..PoolSettings::default()
    };
    let pool = database::connect(&args.database, &settings)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let options = ExportOptions {
        copy: CopyOptions {
            statement_timeout: args.statement_timeout,
        },
        stream: StreamConfig {
            chunk_size: args.chunk_size,
            prefetch_depth: args.prefetch_depth,
        },
    };

    let progress = Arc::new(Progress::new());
    let line = ProgressLine::start(progress.clone(), !args.quiet);
    let outcome = tokio::select! {
        outcome = export(&pool, &query, &args, &options, &progress) => outcome,
        () = shutdown_signal() => Err(CliError::Interrupted),
    };
    line.finish();
    // Whatever was abandoned above (an interrupted export, a reader that went away) has had
    // its query cancelled; let that reach the server before the process exits.
    cancels_settled(CANCEL_GRACE).await;
    if !args.quiet {
        let summary = describe(&progress);
        match &outcome {
            Ok(Delivered::UntilReaderClosed) => {
                eprintln!("rowpipe: output closed by its reader after {summary}")
            }
            Ok(Delivered::Everything) => eprintln!("rowpipe: exported {summary}"),
            Err(_) if progress.bytes() > 0 => eprintln!("rowpipe: stopped after {summary}"),
            Err(_) => {}
        }
    }
    outcome.map(|_| ())
}

/// How much of an export reached its destination.
enum Delivered {
    Everything,
    /// Standard output's reader went away first (`rowpipe export | head`): still a success.
    UntilReaderClosed,
}

async fn export(
    pool: &deadpool_postgres::Pool,
    query: &DatasetQuery,
    args: &ExportArgs,
    options: &ExportOptions,
    progress: &Arc<Progress>,
) -> Result<Delivered, CliError> {
    let chunks = pipeline::open(
        pool,
        &query.to_sql(),
        args.format,
        options,
        progress.clone(),
    )
    .await
    .map_err(source_failed)?;
    match &args.output {
        Some(path) => write_to_file(chunks, path, progress)
            .await
            .map(|()| Delivered::Everything)
            .map_err(sink_failed),
        None => match write_to_stdout(chunks, progress)
            .await
            .map_err(sink_failed)?
        {
            StdoutOutcome::Complete => Ok(Delivered::Everything),
            StdoutOutcome::ReaderClosed => Ok(Delivered::UntilReaderClosed),
        },
    }
}

fn source_failed(error: SourceError) -> CliError {
    CliError::Failed(error.to_string())
}

fn sink_failed(error: SinkError<SourceError>) -> CliError {
    match error {
        SinkError::Upstream(error) => source_failed(error),
        write => CliError::Failed(write.to_string()),
    }
}
