//! `rowpipe demo`: a realistic shop in a SQLite file, made from a fixed seed, so rowpipe
//! can be tried (and its benchmarks run) without a database server. `rowpipe serve` with
//! neither a database nor a config file makes it once and serves it (see [`for_serve`]).

mod shop;
mod write;

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use rowpipe::config::Config;

use super::CliError;
use shop::Size;

/// Orders in a demo database unless `--rows` says otherwise.
const DEFAULT_ORDERS: u64 = 1_000_000;

/// The datasets served with the demo database.
const DATASETS: &str = include_str!("datasets.toml");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Orders to make (with a customer for every ten orders and a product for every
    /// hundred, at most a thousand).
    #[arg(long, default_value_t = DEFAULT_ORDERS, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    rows: u64,
    /// The file to write [default: the demo database `rowpipe serve` uses, in the data
    /// folder: $XDG_DATA_HOME/rowpipe/demo.db, else ~/.local/share/rowpipe/demo.db].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let path = match args.output {
        Some(path) => path,
        None => default_path()?,
    };
    make(&path, args.rows, args.force)?;
    Ok(())
}

/// What `rowpipe serve` runs with neither a database nor a config file: the demo database
/// (made first if it is not there yet) and its datasets.
pub fn for_serve() -> Result<(String, Config), CliError> {
    let path = default_path()?;
    if path.exists() {
        tracing::info!(path = %path.display(), "serving the demo database (no database or config given)");
    } else {
        tracing::info!(
            path = %path.display(),
            orders = DEFAULT_ORDERS,
            "no database or config given: making the demo database (once; `rowpipe demo` makes it again)"
        );
        make(&path, DEFAULT_ORDERS, false)?;
    }
    let mut config = Config::parse(DATASETS, Path::new("demo datasets"))
        .map_err(|error| CliError::Failed(error.to_string()))?;
    let url = format!("sqlite:{}", path.display());
    config.database.url = Some(url.clone());
    Ok((url, config))
}

/// Where the demo database lives: the platform's folder for an application's data.
fn default_path() -> Result<PathBuf, CliError> {
    data_dir()
        .map(|dir| dir.join("rowpipe").join("demo.db"))
        .ok_or_else(|| {
            CliError::Usage(
                "no data folder for the demo database: set HOME or XDG_DATA_HOME, or give \
                 a database with --database"
                    .into(),
            )
        })
}

/// `$XDG_DATA_HOME` (when absolute, as the XDG spec asks), else `~/.local/share`; on macOS
/// `~/Library/Application Support`.
fn data_dir() -> Option<PathBuf> {
    let absolute = |name| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if cfg!(target_os = "macos") {
        return absolute("HOME").map(|home| home.join("Library/Application Support"));
    }
    absolute("XDG_DATA_HOME").or_else(|| absolute("HOME").map(|home| home.join(".local/share")))
}

/// Writes the demo database, with a progress bar when stderr is a terminal.
fn make(path: &Path, orders: u64, replace: bool) -> Result<(), CliError> {
    let size = Size::for_orders(orders);
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let mut bar = |done: u64| {
        if terminal {
            let _ = write!(std::io::stderr(), "\r\x1b[2K{}", progress_bar(done, orders));
        }
    };
    let written = write::write(path, size, replace, &mut bar);
    if terminal {
        eprint!("\r\x1b[2K");
    }
    written.map_err(|error| match error {
        write::WriteError::Exists(_) => CliError::Usage(error.to_string()),
        _ => CliError::Failed(error.to_string()),
    })?;
    eprintln!(
        "wrote {}: {} orders, {} customers, {} products in {:.1} s",
        path.display(),
        size.orders,
        size.customers,
        size.products,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `[########            ]  40% 400000 of 1000000 orders`
fn progress_bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH) as usize;
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!(
        "[{:<width$}] {percent:>3}% {done} of {total} orders",
        "#".repeat(filled),
        width = WIDTH as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_datasets_parse() {
        let config = Config::parse(DATASETS, Path::new("demo datasets")).unwrap();
        assert!(config.datasets.iter().any(|d| d.key.is_some()));
        assert!(config.datasets.iter().any(|d| !d.params.is_empty()));
    }

    #[test]
    fn the_bar_fills_with_the_orders() {
        assert!(progress_bar(0, 10).starts_with("[ "));
        assert!(progress_bar(10, 10).contains("100% 10 of 10"));
        assert_eq!(progress_bar(5, 10).matches('#').count(), 15);
    }
}
