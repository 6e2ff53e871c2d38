//! The `rowpipe` command: `export` a query to a file or stdout, or `serve` datasets over HTTP.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
