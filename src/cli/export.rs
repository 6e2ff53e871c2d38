//! `rowpipe export`: one query or table to a file (atomically) or to stdout, compressed
//! when the file's name ends in `.gz` or `.zst`, or when `--compress` says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use clap::builder::TypedValueParser;
use rowpipe::catalog::{Dataset, DatasetQuery, TableName};
use rowpipe::config::{Config, parse_duration};
use rowpipe::export::Engine;
use rowpipe::format::{Compression, Format};
use rowpipe::pipeline::{self, ExportOptions, OpenError};
use rowpipe::progress::Progress;
use rowpipe::request::{ExportRequest, is_reserved};
use rowpipe::resume::find_resume_point;
use rowpipe::sink::file::part_path;
use rowpipe::sink::{PartMode, SinkError, StdoutOutcome, write_to_file, write_to_stdout};
use rowpipe::source::postgres::PoolSettings;
use rowpipe::source::postgres::guard::cancels_settled;
use rowpipe::source::{DatabaseUrl, Source, SourceError, SourceUse};
use rowpipe::stage::{Limits, StreamError};
use serde_json::json;

use super::manifest;
use super::progress_line::{ProgressLine, describe};
use super::{CliError, database_url, shutdown_signal};

/// How long an exiting export waits for the cancel of an abandoned query to reach the server.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("query").required(true).args(["sql", "table", "dataset"])))]
pub struct ExportArgs {
    /// PostgreSQL connection URL, e.g. postgres://user@host/db (or a key=value string), or
    /// a SQLite file (`sqlite:PATH`, or a path ending in `.db`, `.sqlite`, `.sqlite3`);
    /// overrides the config file's `database.url`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database: Option<String>,
    /// The query to export.
    #[arg(long, value_name = "SELECT ...")]
    sql: Option<String>,
    /// A table or view to export whole: `name` or `schema.name`, quoted as identifiers.
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// A dataset of the config file (with its parameters, key and max_rows).
    #[arg(long, value_name = "NAME", requires = "config")]
    dataset: Option<String>,
    /// The config file that declares --dataset.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A value for a parameter the dataset declares; repeat for more.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Only these columns, in this order: `a,b`.
    #[arg(long, value_name = "A,B,...")]
    columns: Option<String>,
    /// Only the first N rows.
    #[arg(long, value_name = "N")]
    limit: Option<String>,
    /// The unique column the query is ordered by (a dataset's `key`), for --after.
    #[arg(long, value_name = "COLUMN")]
    key: Option<String>,
    /// Only the rows whose key is greater than this value.
    #[arg(long, value_name = "VALUE")]
    after: Option<String>,
    /// Continue an interrupted `-o FILE` from the complete rows of FILE.part (needs a key:
    /// the dataset's, or --key).
    #[arg(long, requires = "output")]
    resume: bool,
    /// Fail if the result has more rows than this.
    #[arg(long, value_name = "N")]
    max_rows: Option<u64>,
    /// Fail if the output would pass this many bytes.
    #[arg(long, value_name = "BYTES")]
    max_bytes: Option<u64>,
    /// After a complete export to -o FILE, write this JSON file: rows, bytes and SHA-256
    /// of FILE, and what produced it. None is written when the export fails.
    #[arg(long, value_name = "FILE.json", requires = "output")]
    manifest: Option<PathBuf>,
    /// Write to this file (via FILE.part, renamed when complete) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output format: csv, tsv, jsonl or json.
    #[arg(long, default_value = "csv", value_name = "FORMAT")]
    format: Format,
    /// Compress the output: gzip, zstd or none [default: by the -o file's name, `.gz` or
    /// `.zst`, else none]. Levels: the config file's `[stream]` gzip_level, zstd_level.
    #[arg(long, value_parser = parse_compress, value_name = "gzip|zstd|none")]
    compress: Option<CompressFlag>,
    /// Write the header line (csv, tsv).
    #[arg(long, value_name = "true|false")]
    header: Option<String>,
    /// CSV field delimiter, one character.
    #[arg(long, value_name = "CHAR")]
    delimiter: Option<String>,
    /// CSV text for NULL (default: empty).
    #[arg(long, value_name = "TEXT")]
    null: Option<String>,
    /// Which CSV values are quoted whatever their content.
    #[arg(long, value_name = "minimal|all|nonnumeric")]
    quote: Option<String>,
    /// CSV for Excel: byte-order mark, CRLF, formula-like text cells prefixed with '.
    #[arg(long)]
    excel: bool,
    /// Who formats the values: rowpipe (typed, the default) or PostgreSQL's COPY (copy;
    /// csv and tsv with default options only); default: the config file's, else typed.
    #[arg(long, value_name = "ENGINE")]
    engine: Option<Engine>,
    /// Show neither progress nor the summary line.
    #[arg(short, long)]
    quiet: bool,
    /// Cancel the query after this long, e.g. "30min"; default: the config file's
    /// `statement_timeout` with --config, else the server's setting.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    statement_timeout: Option<Duration>,
    /// Bytes per chunk written to the output [default: the config file's, else 65536].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64 * 1024 * 1024).map(|n| n as usize), value_name = "BYTES")]
    chunk_size: Option<usize>,
    /// Chunks read ahead of the output (0: read only when the output is ready) [default:
    /// the config file's, else 4].
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=1024).map(|n| n as usize), value_name = "CHUNKS")]
    prefetch_depth: Option<usize>,
}

impl ExportArgs {
    /// `--config`, which `main` loads (it sets the log's format too).
    pub(super) fn config_path(&self) -> Option<&std::path::Path> {
        self.config.as_deref()
    }
}

/// Runs the export `args` describe, within `config` (`--config`'s, or the defaults).
pub async fn run(args: ExportArgs, config: Config) -> Result<(), CliError> {
    let mut dataset = dataset_for(&args, &config)?;
    let pairs = request_pairs(&args)?;
    let url = database_url(args.database.as_deref(), &config)?;
    let settings = PoolSettings {
        pool_size: 1,
        ..config.database.pool_settings()
    };
    let source = DatabaseUrl::parse(&url)
        .open(&settings, SourceUse::Export)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    if let (Some(_), DatasetQuery::Table(table), None) = (&args.table, &dataset.query, &dataset.key)
    {
        // A whole table named by --table is exported in the order of its primary key, and
        // so resumable, as the server's discovered tables are (a configured dataset has the
        // key its config gives it, as it has in the server).
        dataset.key = source
            .primary_key(table)
            .await
            .map_err(|error| CliError::Failed(error.to_string()))?;
    }
    let mut request = ExportRequest::build(&dataset, args.format, pairs)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    request.output.compression = match args.compress {
        Some(CompressFlag(given)) => given,
        None => args.output.as_deref().and_then(compression_by_name),
    };
    let (part_mode, kept_rows) = part_mode(&args, &dataset, &mut request)?;
    let options = export_options(&args, &config, &dataset);

    let started = jiff::Timestamp::now();
    let progress = Arc::new(Progress::new());
    let line = ProgressLine::start(progress.clone(), !args.quiet);
    let outcome = tokio::select! {
        outcome = export(&*source, &request, &args, part_mode, &options, &progress) => outcome,
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
            Err(_) if part_mode != PartMode::Fresh && progress.bytes() > 0 => {
                eprintln!(
                    "rowpipe: stopped after {summary}; the complete rows are kept in {}, rerun with --resume to continue",
                    part_path(args.output.as_deref().expect("a part file needs -o")).display()
                )
            }
            Err(_) if progress.bytes() > 0 => eprintln!("rowpipe: stopped after {summary}"),
            Err(_) => {}
        }
    }
    if let (Ok(Delivered::Everything), Some(manifest), Some(output)) =
        (&outcome, &args.manifest, &args.output)
    {
        let rows = kept_rows + progress.rows();
        write_manifest(
            manifest, output, rows, &request, &args, &dataset, &url, started,
        )?;
    }
    outcome.map(|_| ())
}

/// Writes the manifest of the complete file `output`; see [`manifest`].
#[expect(
    clippy::too_many_arguments,
    reason = "each is a part of what the manifest says"
)]
fn write_manifest(
    path: &Path,
    output: &Path,
    rows: u64,
    request: &ExportRequest,
    args: &ExportArgs,
    dataset: &Dataset,
    url: &str,
    started: jiff::Timestamp,
) -> Result<(), CliError> {
    let failed = |error: std::io::Error| {
        CliError::Failed(format!(
            "{} is complete, but its manifest {} could not be written: {error}",
            output.display(),
            path.display()
        ))
    };
    let (sha256, bytes) = rowpipe::sink::digest::of_file(output).map_err(failed)?;
    let out = &request.output;
    let csv = &out.csv;
    let options = [
        ("header", json!(csv.header)),
        (
            "delimiter",
            json!(char::from(csv.options.delimiter).to_string()),
        ),
        ("null", json!(csv.options.null)),
        ("quote", json!(csv.quoting.name())),
        ("excel", json!(csv.excel)),
    ]
    .into_iter()
    .collect();
    let query = &request.query;
    let contents = manifest::Manifest {
        file: output.display().to_string(),
        rows,
        bytes,
        sha256,
        format: out.format.extension().to_owned(),
        compression: out.compression.map(|c| c.name().to_owned()),
        options,
        dataset: args.dataset.clone(),
        query: dataset.query.to_sql(),
        params: query
            .params
            .iter()
            .map(|param| (param.name.clone(), param.value.clone()))
            .collect(),
        columns: query.columns.clone(),
        limit: query.limit,
        key: query.key.clone(),
        database: DatabaseUrl::parse(url).redacted(),
        started: started.to_string(),
        finished: jiff::Timestamp::now().to_string(),
        rowpipe: env!("CARGO_PKG_VERSION"),
    };
    manifest::write(path, &contents).map_err(failed)
}

/// The export's bounds as the server would run it with the same config file (its
/// `statement_timeout`, `[stream]` and `max_bytes`), with the flags given on top. Without
/// a config file the query keeps the server's `statement_timeout`.
fn export_options(args: &ExportArgs, config: &Config, dataset: &Dataset) -> ExportOptions {
    let mut options = ExportOptions::from_config(config);
    if args.config.is_none() {
        options.statement_timeout = None;
    }
    let stream = &mut options.stream;
    stream.chunk_size = args.chunk_size.unwrap_or(stream.chunk_size);
    stream.prefetch_depth = args.prefetch_depth.unwrap_or(stream.prefetch_depth);
    stream.engine = args.engine.unwrap_or(stream.engine);
    options.statement_timeout = args.statement_timeout.or(options.statement_timeout);
    options.limits = Limits {
        max_rows: args.max_rows.or(dataset.max_rows),
        max_bytes: args.max_bytes.or(options.limits.max_bytes),
    };
    options
}

/// How much of an export reached its destination.
enum Delivered {
    Everything,
    /// Standard output's reader went away first (`rowpipe export | head`): still a success.
    UntilReaderClosed,
}

async fn export(
    source: &dyn Source,
    request: &ExportRequest,
    args: &ExportArgs,
    part_mode: PartMode,
    options: &ExportOptions,
    progress: &Arc<Progress>,
) -> Result<Delivered, CliError> {
    let chunks = pipeline::open(
        source,
        &request.query,
        &request.output,
        options,
        progress.clone(),
    )
    .await
    .map_err(|error| match error {
        OpenError::Output(error) => CliError::Usage(error.to_string()),
        OpenError::Source(SourceError::Rejected(rejected)) => CliError::Usage(rejected.to_string()),
        OpenError::Source(error) => CliError::Failed(error.to_string()),
        error @ OpenError::Compress(_) => CliError::Failed(error.to_string()),
    })?;
    match &args.output {
        Some(path) => write_to_file(chunks, path, part_mode, progress)
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

/// How the file export treats `FILE.part`, and how many data rows of it are kept. A
/// resumable export (one with a key, to a file) keeps it on failure; `--resume` continues
/// it, changing `request` to ask for the rows after the last complete one, without a
/// second header.
fn part_mode(
    args: &ExportArgs,
    dataset: &Dataset,
    request: &mut ExportRequest,
) -> Result<(PartMode, u64), CliError> {
    let Some(output) = &args.output else {
        return Ok((PartMode::Fresh, 0));
    };
    let compressed = request.output.compression.is_some();
    if compressed && args.resume {
        // Keeping the complete rows of a broken compressed file would mean decompressing it
        // and compressing those rows anew: not a resume. Say so rather than pretend.
        return Err(CliError::Usage(format!(
            "--resume cannot continue a compressed export ({}): a compressed file cannot be \
             cut after its last complete row; export again (a failed compressed export \
             leaves no part file), or export uncompressed to resume",
            output.display()
        )));
    }
    let part = part_path(output);
    if !args.resume && std::fs::symlink_metadata(&part).is_ok() {
        // Never overwritten: it may be another export's, running now, or the rows of a
        // broken one that --resume can keep.
        return Err(CliError::Usage(format!(
            "{} already exists: another export to {} is running, or one stopped and left \
             it{}; remove it to start afresh",
            part.display(),
            output.display(),
            if dataset.key.is_some() && !compressed {
                " (rerun with --resume to continue it)"
            } else {
                ""
            }
        )));
    }
    let Some(key) = &dataset.key else {
        return if args.resume {
            Err(CliError::Usage(
                "--resume needs a key column: the dataset's `key`, or --key".into(),
            ))
        } else {
            Ok((PartMode::Fresh, 0))
        };
    };
    if compressed {
        // Its part file could not be resumed (above), so it is not kept either.
        return Ok((PartMode::Fresh, 0));
    }
    if !args.resume || std::fs::symlink_metadata(&part).is_err() {
        return Ok((PartMode::FreshKept, 0));
    }
    if args.after.is_some() {
        return Err(CliError::Usage(
            "--resume finds its own --after in the part file".into(),
        ));
    }
    if !std::fs::symlink_metadata(&part).is_ok_and(|metadata| metadata.is_file()) {
        return Err(CliError::Usage(format!(
            "{} is not a regular file (a link, or a special file); refusing to resume from it",
            part.display()
        )));
    }
    let point = find_resume_point(&part, args.format, &request.output.csv, key)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    if point.keep == 0 {
        // Nothing worth keeping: start again in the same file.
        return Ok((PartMode::Append { len: 0 }, 0));
    }
    if point.has_header {
        request.output.csv.header = false;
    }
    request.query.after = point.after;
    Ok((PartMode::Append { len: point.keep }, point.rows))
}

/// The dataset to export: one of the config file's, or one made of --sql or --table.
fn dataset_for(args: &ExportArgs, config: &Config) -> Result<Dataset, CliError> {
    if let Some(name) = &args.dataset {
        let dataset = config
            .datasets()
            .into_iter()
            .find(|dataset| dataset.name == *name)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--dataset: no dataset named {name:?} in the config file"
                ))
            })?;
        if args.key.is_some() {
            return Err(CliError::Usage(
                "--key: a dataset declares its own key".into(),
            ));
        }
        return Ok(dataset);
    }
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
        (None, None) => unreachable!("clap requires --sql, --table or --dataset"),
    };
    Ok(Dataset {
        name: "export".into(),
        description: None,
        query,
        params: Vec::new(),
        key: args.key.clone(),
        max_rows: None,
    })
}

/// The flags as request pairs, for the same parser as the HTTP query string.
fn request_pairs(args: &ExportArgs) -> Result<Vec<(String, String)>, CliError> {
    let flags = [
        ("header", args.header.as_deref()),
        ("delimiter", args.delimiter.as_deref()),
        ("null", args.null.as_deref()),
        ("quote", args.quote.as_deref()),
        ("excel", args.excel.then_some("true")),
        ("columns", args.columns.as_deref()),
        ("limit", args.limit.as_deref()),
        ("after", args.after.as_deref()),
    ];
    let mut pairs: Vec<(String, String)> = flags
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?.to_owned())))
        .collect();
    for param in &args.params {
        let (name, value) = param
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--param {param:?}: expected NAME=VALUE")))?;
        if is_reserved(name) {
            return Err(CliError::Usage(format!(
                "--param {name}: not a parameter; use --{name}"
            )));
        }
        pairs.push((name.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

/// `--compress`: a compression, or none.
#[derive(Debug, Clone, Copy)]
struct CompressFlag(Option<Compression>);

fn parse_compress(name: &str) -> Result<CompressFlag, String> {
    if name.eq_ignore_ascii_case("none") {
        return Ok(CompressFlag(None));
    }
    name.parse()
        .map(|compression| CompressFlag(Some(compression)))
}

/// The compression a file's name asks for: `orders.csv.gz` is gzip, `orders.csv.zst` zstd.
fn compression_by_name(path: &Path) -> Option<Compression> {
    Compression::from_extension(path.extension()?.to_str()?)
}

fn sink_failed(error: SinkError<StreamError>) -> CliError {
    CliError::Failed(match error {
        SinkError::Upstream(error) => error.to_string(),
        write => write.to_string(),
    })
}
