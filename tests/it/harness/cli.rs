//! The `rowpipe` binary under test, as a [`Command`] with a predictable environment.
//!
//! rowpipe reads its configuration from flags and (through clap's `env` support)
//! from environment variables, and the PostgreSQL client may pick up libpq-style `PG*`
//! variables. A developer's shell settings must not leak into tests, so the command
//! starts from a scrubbed environment; tests set what they need explicitly.

use std::process::{Command, Stdio};

use super::process::scrub_pg_env;

/// Prefix of rowpipe's own environment variables.
const ROWPIPE_ENV_PREFIX: &[u8] = b"ROWPIPE_";

/// A command for the `rowpipe` binary cargo built for this test run, with `PG*`,
/// `DATABASE_URL`, `ROWPIPE_*` and `RUST_LOG` removed from its environment and stdin
/// set to `/dev/null` (override with `.stdin(...)` where a test feeds input).
///
/// Run it with [`super::process::run`] / [`super::process::run_ok`] to get a timeout,
/// or `spawn()` it for `rowpipe serve`.
pub fn rowpipe() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowpipe"));
    scrub_pg_env(&mut cmd)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(ROWPIPE_ENV_PREFIX) {
            cmd.env_remove(name);
        }
    }
    cmd
}
