//! `rowpipe token new`: a fresh bearer token, and the lines that let the server know it by
//! its hash (the config file never holds the token itself).

use std::io::Read;

use rowpipe::sink::digest::{hex, sha256_hex};

use super::CliError;

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Print a new token, and the `[[token]]` entry for the config file.
    New {
        /// Who will hold it; the log names downloads by it.
        #[arg(long)]
        name: String,
    },
}

pub fn run(args: TokenArgs) -> Result<(), CliError> {
    let TokenCommand::New { name } = args.command;
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut source| source.read_exact(&mut random))
        .map_err(|error| CliError::Failed(format!("cannot read /dev/urandom: {error}")))?;
    let token = format!("rp_{}", hex(&random));
    let digest = sha256_hex(token.as_bytes());
    let name = toml::Value::String(name);
    println!("{token}");
    eprintln!(
        "rowpipe: keep the token above secret; add this to the config file (it holds only \
         the token's hash):\n\n[[token]]\nname = {name}\nsha256 = \"{digest}\"\n\
         datasets = [\"*\"]   # or the names of the datasets it may read\n"
    );
    Ok(())
}
