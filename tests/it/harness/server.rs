//! rowpipe's HTTP server for tests: in-process over a real socket, or as the real binary.
//!
//! [`TestServer`] builds the router with the library's own `AppState::from_config` (or
//! takes an `AppState` made otherwise) and serves it on `127.0.0.1:0` from a runtime on its own thread, so tests can talk to it with
//! the raw client in [`super::http`]. [`ServeProcess`] runs `rowpipe serve` itself, for tests
//! that check what the binary prints (its log) or how it exits.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rowpipe::config::Config;
use rowpipe::server::{self, AppState};
use tokio::sync::oneshot;

use super::cli::rowpipe;

/// The server inside the test process. Stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves the datasets `config_toml` describes (no `[[dataset]]`: schema `public`) from
    /// the database at `db_url`.
    #[track_caller]
    pub fn start(db_url: &str, config_toml: &str) -> TestServer {
        let config = Config::parse(config_toml, Path::new("test.toml"))
            .unwrap_or_else(|error| panic!("test config rejected: {error}"));
        let state = AppState::from_config(&config, db_url)
            .unwrap_or_else(|error| panic!("test database URL rejected: {error}"));
        Self::serving(state)
    }

    /// Serves `state` (any source, any catalog).
    pub fn serving(state: AppState) -> TestServer {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("listener address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("test server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let shutdown = async {
                    let _ = stopped.await;
                };
                tokio::select! {
                    result = server::serve(listener, state, std::future::pending()) => {
                        result.expect("test server failed");
                    }
                    () = shutdown => {}
                }
            });
            // Dropping the runtime drops every in-flight download with it.
        });
        TestServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How long the log must stay unchanged before [`ServeProcess::settled_log_lines`] counts.
const LOG_QUIET: Duration = Duration::from_millis(500);

/// The value of `name=...` in a log line as `tracing`'s default format writes it
/// (`rows=1234 bytes=5678`), parsed as a number; panics if it is missing.
#[track_caller]
pub fn log_number(line: &str, name: &str) -> u64 {
    let key = format!(" {name}=");
    let start = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name}= in the log line: {line}"))
        + key.len();
    let digits: String = line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{name}= is not a number in the log line: {line}"))
}

/// `rowpipe serve` as a child process, with its stderr (the log) collected. Killed when
/// dropped.
pub struct ServeProcess {
    addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<String>>,
    /// The config file of [`ServeProcess::start_with_config`], removed with the server.
    config: Option<tempfile::NamedTempFile>,
}

impl ServeProcess {
    /// Starts `rowpipe serve --database URL --listen 127.0.0.1:PORT` plus `extra_args`, and
    /// waits until it listens.
    #[track_caller]
    pub fn start(db_url: &str, extra_args: &[&str]) -> ServeProcess {
        let args: Vec<&str> = ["--database", db_url]
            .into_iter()
            .chain(extra_args.iter().copied())
            .collect();
        Self::launch(&args, &[], Duration::from_secs(30))
    }

    /// Starts `rowpipe serve --listen 127.0.0.1:PORT` plus `args`, with `env` set, and
    /// waits up to `startup` until it listens.
    #[track_caller]
    pub fn launch(
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
        startup: Duration,
    ) -> ServeProcess {
        let addr = free_local_addr();
        let mut child = rowpipe()
            .args(["serve", "--listen", &addr.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rowpipe serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let server = ServeProcess {
            addr,
            child,
            log,
            config: None,
        };
        server.wait_until_listening(startup);
        server
    }

    /// Like [`ServeProcess::start`], with `--config` a file holding `config_toml`.
    #[track_caller]
    pub fn start_with_config(db_url: &str, config_toml: &str) -> ServeProcess {
        Self::start_with_config_and(db_url, config_toml, &[])
    }

    /// Like [`ServeProcess::start_with_config`], with `extra_args` after `--config FILE`.
    #[track_caller]
    pub fn start_with_config_and(
        db_url: &str,
        config_toml: &str,
        extra_args: &[&str],
    ) -> ServeProcess {
        let config = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .expect("a temporary config file");
        std::fs::write(config.path(), config_toml).expect("write the config file");
        let path = config.path().to_str().expect("a UTF-8 temporary path");
        let args: Vec<&str> = ["--config", path]
            .into_iter()
            .chain(extra_args.iter().copied())
            .collect();
        let mut server = ServeProcess::start(db_url, &args);
        server.config = Some(config);
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child process, to wait for it.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends the signal `name` (`TERM`, `INT`, ...) to the server.
    #[track_caller]
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (at most `limit`), then returns the log.
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            if Instant::now() > deadline {
                panic!("the server did not log {needle:?} within {limit:?}; its log:\n{log}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log lines containing `needle`, once at least one has appeared and the log has
    /// then stayed unchanged for [`LOG_QUIET`] (at most `limit` in all).
    ///
    /// Counting the moment the first line appears would miss a duplicate logged a little
    /// later (when the connection closes, say); waiting for a quiet log does not.
    #[track_caller]
    pub fn settled_log_lines(&self, needle: &str, limit: Duration) -> Vec<String> {
        let mut log = self.wait_for_log(needle, limit);
        let mut unchanged_since = Instant::now();
        while unchanged_since.elapsed() < LOG_QUIET {
            thread::sleep(Duration::from_millis(20));
            let now = self.log();
            if now != log {
                log = now;
                unchanged_since = Instant::now();
            }
        }
        log.lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    #[track_caller]
    fn wait_until_listening(&self, startup: Duration) {
        let deadline = Instant::now() + startup;
        while std::net::TcpStream::connect(self.addr).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "rowpipe serve did not start listening; its log:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_end(&mut Vec::new());
        }
    }
}

/// An address on loopback that nothing listens on right now.
pub fn free_local_addr() -> SocketAddr {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("listener address")
}
