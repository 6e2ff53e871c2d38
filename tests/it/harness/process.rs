//! Child processes started by tests: a clean environment and a bounded wait.
//!
//! Tests shell out to `initdb`, `pg_ctl`, `psql` and the `rowpipe` binary. Two things
//! would make those runs flaky or painful if left to `std::process::Command` defaults:
//!
//! * libpq reads `PG*` environment variables (time zone, date style, client encoding,
//!   default host/user/database, ...). A developer's shell settings must not change what
//!   a test sees, so [`scrub_pg_env`] removes them.
//! * `Command::output` waits forever. A hung child should fail its test with a clear
//!   message instead of hanging the whole test run, so [`run`] kills it after
//!   [`PROCESS_TIMEOUT`].

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long [`run`] lets a child process work before killing it.
///
/// Generous on purpose: it only exists to turn a hang into a failure, and the machine
/// may be busy compiling or running other tests in parallel.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(300);

/// How often [`run`] checks whether the child has exited.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// libpq's environment variables that most commonly change results or connection
/// targets. [`scrub_pg_env`] also removes any other `PG*` variable present in this
/// process's environment; the list keeps the important ones explicit.
const LIBPQ_ENV_VARS: &[&str] = &[
    "PGTZ",
    "PGDATESTYLE",
    "PGCLIENTENCODING",
    "PGOPTIONS",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSSLMODE",
    "PGAPPNAME",
    "PGDATA",
    "PGCLUSTER",
];

/// Removes every libpq (`PG*`) environment variable from `cmd`'s environment.
pub fn scrub_pg_env(cmd: &mut Command) -> &mut Command {
    for name in LIBPQ_ENV_VARS {
        cmd.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"PG") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs `cmd` to completion and returns its output, capturing stdout and stderr.
///
/// Stdin is left as configured on `cmd`. Panics if the process cannot be started or
/// does not exit within [`PROCESS_TIMEOUT`]; a non-zero exit status is *not* an error
/// here (see [`run_ok`]).
#[track_caller]
pub fn run(cmd: &mut Command) -> Output {
    run_inner(cmd, None)
}

/// Like [`run`], but feeds `input` to the child's stdin and then closes it.
#[track_caller]
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    run_inner(cmd, Some(input))
}

/// Like [`run`], but panics with the child's stderr unless it exits successfully.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> Output {
    let output = run(cmd);
    assert_success(cmd, &output);
    output
}

/// Panics with a readable report (command, exit status, stderr, stdout) unless `output`
/// comes from a successful run.
#[track_caller]
pub fn assert_success(cmd: &Command, output: &Output) {
    if !output.status.success() {
        panic!(
            "{cmd:?} failed with {}\n--- stderr ---\n{}\n--- stdout ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            preview(&output.stdout),
        );
    }
}

#[track_caller]
fn run_inner(cmd: &mut Command, input: Option<&[u8]>) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));

    // Feed stdin and drain stdout/stderr on their own threads: a child that fills one
    // pipe while we block on another would otherwise deadlock.
    let writer = input.map(|bytes| feed_stdin(&mut child, bytes.to_vec()));
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);

    let status = wait_with_deadline(&mut child, PROCESS_TIMEOUT);
    let output = Output {
        status: status.unwrap_or_else(|| kill(&mut child)),
        stdout: join_output(stdout),
        stderr: join_output(stderr),
    };
    if let Some(writer) = writer {
        // The child may exit without reading all its input (e.g. psql stopping at the
        // first error); a broken pipe while feeding it is not interesting.
        let _ = writer.join();
    }
    if status.is_none() {
        panic!(
            "{cmd:?} did not finish within {PROCESS_TIMEOUT:?} and was killed\n--- stderr ---\n{}",
            String::from_utf8_lossy(&output.stderr),
        );
    }
    output
}

fn feed_stdin(child: &mut Child, bytes: Vec<u8>) -> JoinHandle<()> {
    let mut stdin = child.stdin.take().expect("stdin was configured as piped");
    thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
        // Dropping `stdin` closes the pipe, so the child sees end of input.
    })
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn join_output(reader: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    reader
        .map(|handle| handle.join().expect("pipe reader thread panicked"))
        .unwrap_or_default()
}

/// Polls until the child exits or `timeout` passes; `None` means it is still running.
fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => thread::sleep(POLL_INTERVAL),
            Err(e) => panic!("cannot wait for child process {}: {e}", child.id()),
        }
    }
}

fn kill(child: &mut Child) -> ExitStatus {
    let _ = child.kill();
    child.wait().expect("cannot reap killed child process")
}

/// The start of a possibly huge output, for panic messages.
fn preview(bytes: &[u8]) -> String {
    const LIMIT: usize = 2000;
    let shown = &bytes[..bytes.len().min(LIMIT)];
    let mut text = String::from_utf8_lossy(shown).into_owned();
    if bytes.len() > LIMIT {
        text.push_str(&format!("\n... ({} bytes in total)", bytes.len()));
    }
    text
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns how long it
/// took, or `None` if it never held.
pub fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to exit for at most `limit`; kills it and fails the test otherwise.
#[track_caller]
pub fn wait_for_exit(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child process") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the child process {} did not exit within {limit:?} after {what}",
                child.id()
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `curl` (Debian's package) with `args`, silent but for errors, never asking
/// anything of a terminal, bounded to a minute.
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "60"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl (Debian's curl package)")
}

/// `VmRSS` of a process, in KiB.
pub fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}
