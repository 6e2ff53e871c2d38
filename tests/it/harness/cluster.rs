//! One throwaway PostgreSQL cluster for the whole test process.
//!
//! The first test that calls [`cluster()`] runs `initdb` into a fresh temporary
//! directory and starts a server that listens only on a Unix socket inside that
//! directory, so it can collide neither with a system cluster nor with another test
//! process. All tests of the `it` binary run in one process, in parallel threads, and
//! share this server; each test isolates itself by creating its own database with
//! [`Cluster::create_database`]. An `atexit` handler stops the server and deletes the
//! directory when the process exits.
//!
//! Tests that need TCP (TLS, a proxy in between) use a second or third cluster, started
//! the same way by [`Cluster::start_with`] with a [`ClusterOptions`]: also listening on a
//! free port of 127.0.0.1, optionally with `ssl = on` and certificates made for it
//! ([`super::certs`]) and a `pg_hba.conf` of the test's own. They too are stopped and
//! deleted at exit.
//!
//! A missing or broken PostgreSQL installation is a hard failure with instructions,
//! never a silent skip: a suite that passes because it did not run proves nothing.

use std::ffi::c_int;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tempfile::TempDir;

use super::certs::Certs;
use super::process::scrub_pg_env;
use super::psql::{psql_copy_csv, psql_execute, psql_query_scalar};

/// The port number, which for a Unix-socket-only server only names the socket file
/// (`.s.PGSQL.5432`). The socket lives in a private directory, so the default port
/// cannot clash with anything.
const PORT: u16 = 5432;

/// The superuser created by `initdb -U`, and the OS user the server runs as when the
/// tests run as root.
pub(super) const SUPERUSER: &str = "postgres";

/// Where Debian and Ubuntu install the server programs, one directory per major version.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

const INSTALL_HINT: &str = "the integration tests need a local PostgreSQL server installation \
     (initdb, pg_ctl and psql); on Debian or Ubuntu run `apt-get install -y postgresql`";

/// How many lines of the server log a startup failure shows.
const LOG_TAIL_LINES: usize = 50;

/// Seconds `pg_ctl start -w` waits for the server to accept connections.
const START_TIMEOUT_SECS: &str = "60";

unsafe extern "C" {
    /// C library: call `callback` when the process exits normally (returning from
    /// `main` or calling `exit`, which is how the libtest runner ends).
    fn atexit(callback: extern "C" fn()) -> c_int;
}

/// The running test cluster. Obtain it with [`cluster()`].
#[derive(Debug)]
pub struct Cluster {
    pub(super) socket_dir: PathBuf,
    pub(super) log_path: PathBuf,
    /// The port on 127.0.0.1, for a cluster started with [`ClusterOptions::tcp`].
    pub(super) tcp_port: Option<u16>,
    /// The certificates of a cluster started with [`ClusterOptions::tls`].
    pub(super) certs: Option<Certs>,
}

/// How [`Cluster::start_with`] starts a cluster, beyond the shared cluster's settings.
#[derive(Debug, Default, Clone)]
pub struct ClusterOptions {
    /// Also listen on a free port of 127.0.0.1.
    pub tcp: bool,
    /// `ssl = on`, with a test CA's server certificate for `localhost`, and the same CA
    /// for client certificates (see [`super::certs`]).
    pub tls: bool,
    /// `pg_hba.conf` in full; `None` keeps initdb's (trust for local and loopback).
    pub hba: Option<String>,
    /// SQL run as the superuser once the server is up (roles the hba lines name).
    pub setup_sql: Option<String>,
}

/// A database of its own for one test, created by [`Cluster::create_database`].
///
/// It is not dropped when the value goes out of scope: the whole cluster is thrown away
/// at process exit, and dropping databases mid-run would only add work and races.
#[derive(Debug, Clone)]
pub struct TestDb {
    name: String,
    url: String,
}

/// The cluster, or why it could not be started. Storing the error (instead of
/// panicking inside the initializer) means every test that needs the cluster fails with
/// the same clear message, and startup is attempted only once.
static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// What the exit handler needs to stop each server and delete its files. Also keeps the
/// [`TempDir`]s alive for the lifetime of the process (statics are never dropped, so the
/// exit handler takes them out and drops them explicitly).
static SERVER_FILES: Mutex<Vec<ServerFiles>> = Mutex::new(Vec::new());

/// The shared test cluster, started on first use.
///
/// Panics with installation hints and the server log if PostgreSQL cannot be started.
#[track_caller]
pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(Cluster::start) {
        Ok(cluster) => cluster,
        Err(message) => panic!("{message}"),
    }
}

/// A fresh database on the shared cluster with `numbers (id int PRIMARY KEY, label text)`:
/// `rows` rows, `id` 1 to `rows`, `label` `number <id>` (60,000 rows are about a megabyte
/// of CSV).
pub fn numbers_db(prefix: &str, rows: u32) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(&format!(
        "CREATE TABLE numbers (id int PRIMARY KEY, label text);
         INSERT INTO numbers SELECT i, 'number ' || i FROM generate_series(1, {rows}) AS i;"
    ));
    db
}

/// `pg_hba.conf` of [`tls_cluster`]: role `certuser` only over TLS with a client
/// certificate for its name, `scramuser` only over TLS with its password (SCRAM), anyone
/// else over TCP as they like.
const TLS_HBA: &str = "\
local     all all                    trust
hostssl   all certuser  127.0.0.1/32 trust clientcert=verify-full
host      all certuser  127.0.0.1/32 reject
hostssl   all scramuser 127.0.0.1/32 scram-sha-256
host      all scramuser 127.0.0.1/32 reject
host      all all       127.0.0.1/32 trust
";

/// The password of role `scramuser` on [`tls_cluster`].
pub const SCRAM_PASSWORD: &str = "scram-pw";

/// A cluster with `ssl = on` on a port of 127.0.0.1 (see [`TLS_HBA`] and
/// [`super::certs`]), shared by the tests that need one.
#[track_caller]
pub fn tls_cluster() -> &'static Cluster {
    static TLS: OnceLock<Cluster> = OnceLock::new();
    TLS.get_or_init(|| {
        Cluster::start_with(&ClusterOptions {
            tcp: true,
            tls: true,
            hba: Some(TLS_HBA.to_owned()),
            setup_sql: Some(format!(
                "CREATE ROLE certuser LOGIN SUPERUSER; \
                 SET password_encryption = 'scram-sha-256'; \
                 CREATE ROLE scramuser LOGIN SUPERUSER PASSWORD '{SCRAM_PASSWORD}';"
            )),
        })
    })
}

/// A cluster on a port of 127.0.0.1 without TLS (`ssl = off`), shared by the tests that
/// need one.
#[track_caller]
pub fn tcp_cluster() -> &'static Cluster {
    static TCP: OnceLock<Cluster> = OnceLock::new();
    TCP.get_or_init(|| {
        Cluster::start_with(&ClusterOptions {
            tcp: true,
            ..ClusterOptions::default()
        })
    })
}

impl Cluster {
    /// The directory holding the server's Unix socket (`.s.PGSQL.5432`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The port number that names the socket file (for a cluster on TCP too, its TCP
    /// port).
    pub fn port(&self) -> u16 {
        self.tcp_port.unwrap_or(PORT)
    }

    /// The server log, handy when debugging a failing test.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The port on 127.0.0.1; panics for a cluster that listens on its socket only.
    #[track_caller]
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
            .expect("this cluster was started without ClusterOptions::tcp")
    }

    /// The certificates; panics for a cluster started without TLS.
    #[track_caller]
    pub fn certs(&self) -> &Certs {
        self.certs
            .as_ref()
            .expect("this cluster was started without ClusterOptions::tls")
    }

    /// A URL for database `dbname` as `user` over TCP to `host` (`localhost`, `127.0.0.1`)
    /// on this cluster's port, with `params` (`sslmode=require&...`, may be empty) after
    /// the `?`.
    pub fn tcp_url(&self, user: &str, host: &str, dbname: &str, params: &str) -> String {
        let mut url = format!(
            "postgresql://{user}@{host}:{}/{}",
            self.tcp_port(),
            percent_encode(dbname.as_bytes())
        );
        if !params.is_empty() {
            url.push('?');
            url.push_str(params);
        }
        url
    }

    /// Starts a cluster of its own with `options`; it is stopped and deleted at exit like
    /// the shared one. Panics with the server log if it cannot start.
    #[track_caller]
    pub fn start_with(options: &ClusterOptions) -> Cluster {
        match start_server(options) {
            Ok(cluster) => cluster,
            Err(problem) => panic!(
                "cannot start a PostgreSQL cluster for the integration tests ({options:?}).\n\
                 {problem}\n\
                 hint: {INSTALL_HINT}"
            ),
        }
    }

    /// A connection URL for database `dbname`, accepted by both libpq (psql) and
    /// tokio-postgres: `postgresql://postgres@%2Ftmp%2Frowpipe-pg-XXXX:5432/dbname`.
    ///
    /// Both percent-decode the host and treat a host starting with `/` as a socket
    /// directory (tokio-postgres 0.7: `UrlParser::host_param` calls `host_path`).
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@{}:{}/{}",
            percent_encode(self.socket_dir.as_os_str().as_encoded_bytes()),
            self.port(),
            percent_encode(dbname.as_bytes()),
        )
    }

    /// Creates an empty UTF-8 database with a name unique within the cluster, derived
    /// from `name_prefix` (lowercased, non-alphanumerics replaced by `_`).
    #[track_caller]
    pub fn create_database(&self, name_prefix: &str) -> TestDb {
        let name = unique_database_name(name_prefix);
        // template0 is never connected to, so concurrent creations cannot fail with
        // "source database is being accessed by other users".
        psql_execute(
            &self.url("postgres"),
            &format!("CREATE DATABASE \"{name}\" TEMPLATE template0"),
        );
        TestDb {
            url: self.url(&name),
            name,
        }
    }

    /// Database `name`, which exists on this cluster already (on a standby: made on its
    /// primary).
    pub fn database(&self, name: &str) -> TestDb {
        TestDb {
            url: self.url(name),
            name: name.to_owned(),
        }
    }

    fn start() -> Result<Cluster, String> {
        start_server(&ClusterOptions::default()).map_err(|problem| {
            format!(
                "cannot start the PostgreSQL cluster for the integration tests.\n\
                 {problem}\n\
                 hint: {INSTALL_HINT}"
            )
        })
    }
}

impl TestDb {
    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL for this database (see [`Cluster::url`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs an SQL script through psql; panics with psql's stderr on the first error.
    #[track_caller]
    pub fn execute(&self, sql: &str) {
        psql_execute(&self.url, sql);
    }

    /// The single value `sql` returns, as printed by `psql -XAtq` (NULL is "").
    #[track_caller]
    pub fn query_scalar(&self, sql: &str) -> String {
        psql_query_scalar(&self.url, sql)
    }

    /// PostgreSQL's own CSV for `query`; see [`psql_copy_csv`].
    #[track_caller]
    pub fn copy_csv(&self, query: &str) -> Vec<u8> {
        psql_copy_csv(&self.url, query)
    }

    /// Client backends of this database (other than the one asking) for which the SQL
    /// `condition` over `pg_stat_activity` holds.
    ///
    /// Only client backends: an autovacuum worker also shows up under the database's
    /// name, as `active`, whenever it happens to visit, and would make a count of
    /// rowpipe's queries one too high at random.
    #[track_caller]
    pub fn count_backends(&self, condition: &str) -> u32 {
        self.query_scalar(&format!(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid() \
             AND backend_type = 'client backend' AND ({condition})",
            self.name
        ))
        .parse()
        .expect("a count")
    }

    /// Backends of this database running a query right now, other than the one asking.
    #[track_caller]
    pub fn active_queries(&self) -> u32 {
        self.count_backends("state = 'active'")
    }
}

/// The full path of a PostgreSQL program (`psql`, `pg_ctl`, ...) from the installation
/// the cluster uses, or just its name (to be looked up on `PATH`) if that installation
/// lacks it.
pub fn pg_program(name: &str) -> PathBuf {
    pg_bin_dir()
        .ok()
        .map(|dir| dir.join(name))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

// ---------------------------------------------------------------------------------------
// Starting the server
// ---------------------------------------------------------------------------------------

/// Files of the cluster, all inside one temporary directory.
pub(super) struct ClusterPaths {
    /// The temporary directory itself; also the socket directory.
    pub(super) root: PathBuf,
    pub(super) data_dir: PathBuf,
    pub(super) log: PathBuf,
}

impl ClusterPaths {
    pub(super) fn inside(root: &Path) -> Self {
        ClusterPaths {
            root: root.to_path_buf(),
            data_dir: root.join("data"),
            log: root.join("server.log"),
        }
    }
}

fn start_server(options: &ClusterOptions) -> Result<Cluster, String> {
    let bin_dir = pg_bin_dir()?;
    let user = ServerUser::detect()?;
    let temp_dir = create_cluster_dir(user)?;
    let paths = ClusterPaths::inside(temp_dir.path());
    let pg_ctl = bin_dir.join("pg_ctl");

    init_data_dir(&bin_dir.join("initdb"), &paths, user)?;
    let certs = match options.tls {
        true => Some(install_certs(&paths, user)?),
        false => None,
    };
    if let Some(hba) = &options.hba {
        write_server_file(
            &paths.data_dir.join("pg_hba.conf"),
            hba.as_bytes(),
            user,
            0o600,
        )?;
    }
    let tcp_port = options.tcp.then(free_port).transpose()?;
    let started = start_postmaster(&pg_ctl, &paths, user, tcp_port, options.tls, &[]);
    let cluster = Cluster {
        socket_dir: paths.root.clone(),
        log_path: paths.log.clone(),
        tcp_port,
        certs,
    };
    // Register cleanup even if startup failed: a server may be half up.
    register_cleanup(ServerFiles {
        pg_ctl,
        paths,
        user,
        temp_dir,
    });
    started?;
    if let Some(sql) = &options.setup_sql {
        psql_execute(&cluster.url("postgres"), sql);
    }
    Ok(cluster)
}

/// Makes the certificates in `certs/` of the cluster directory and copies the server's
/// into the data directory, owned by the server's user (PostgreSQL refuses a key others
/// can read).
fn install_certs(paths: &ClusterPaths, user: ServerUser) -> Result<Certs, String> {
    let certs = Certs::make(&paths.root.join("certs"))?;
    for (from, to, mode) in [
        (&certs.server_cert, "server.crt", 0o644),
        (&certs.server_key, "server.key", 0o600),
        (&certs.ca_cert, "ca.crt", 0o644),
    ] {
        let bytes = fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        write_server_file(&paths.data_dir.join(to), &bytes, user, mode)?;
    }
    Ok(certs)
}

/// Writes `bytes` to `path` as a file of the server's user with `mode`.
fn write_server_file(path: &Path, bytes: &[u8], user: ServerUser, mode: u32) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
    if let ServerUser::Postgres { uid, gid } = user {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A port of 127.0.0.1 that nothing listens on right now.
pub(super) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// The OS user that runs `initdb` and the server. PostgreSQL refuses to run as root, so
/// when the tests run as root (typical in containers) the `postgres` user does.
#[derive(Debug, Clone, Copy)]
pub(super) enum ServerUser {
    Current,
    Postgres { uid: u32, gid: u32 },
}

impl ServerUser {
    pub(super) fn detect() -> Result<Self, String> {
        if effective_uid()? != 0 {
            return Ok(ServerUser::Current);
        }
        let uid = id_number(&["-u", SUPERUSER]).map_err(|e| {
            format!("running as root, so the server must run as the `{SUPERUSER}` user, but looking it up failed: {e}")
        })?;
        let gid = id_number(&["-g", SUPERUSER])?;
        Ok(ServerUser::Postgres { uid, gid })
    }

    /// A command running `program` as this user, in `cwd`, with a clean environment.
    pub(super) fn command(self, program: &Path, cwd: &Path) -> Command {
        let mut cmd = match self {
            ServerUser::Current => Command::new(program),
            ServerUser::Postgres { .. } => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", SUPERUSER, "--"]).arg(program);
                cmd
            }
        };
        // The working directory must be accessible to the server user; the test's own
        // (the package directory) may not be.
        scrub_pg_env(&mut cmd).current_dir(cwd).stdin(Stdio::null());
        cmd
    }
}

/// The effective uid: `/proc/self` is owned by it. Falls back to `id -u`.
fn effective_uid() -> Result<u32, String> {
    match fs::metadata("/proc/self") {
        Ok(meta) => Ok(meta.uid()),
        Err(_) => id_number(&["-u"]),
    }
}

fn id_number(args: &[&str]) -> Result<u32, String> {
    let mut cmd = Command::new("id");
    cmd.args(args);
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !output.status.success() {
        return Err(command_failure(&cmd, &output));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .map_err(|e| format!("{cmd:?} printed {text:?}: {e}"))
}

/// Creates the temporary directory for data, socket and log.
///
/// It lives directly in `/tmp` rather than a possibly long `$TMPDIR` because a Unix
/// socket path must fit in about 107 bytes.
pub(super) fn create_cluster_dir(user: ServerUser) -> Result<TempDir, String> {
    let dir = tempfile::Builder::new()
        .prefix("rowpipe-pg-")
        .tempdir_in("/tmp")
        .map_err(|e| format!("cannot create a temporary directory in /tmp: {e}"))?;
    // World-traversable, so clients running as any user can reach the socket.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot chmod {}: {e}", dir.path().display()))?;
    if let ServerUser::Postgres { uid, gid } = user {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
            .map_err(|e| format!("cannot chown {} to {SUPERUSER}: {e}", dir.path().display()))?;
    }
    Ok(dir)
}

/// Runs `initdb` with trust authentication and UTF-8 encoding, preferring the
/// `C.UTF-8` locale and falling back to `C` where that locale is not installed.
fn init_data_dir(initdb: &Path, paths: &ClusterPaths, user: ServerUser) -> Result<(), String> {
    let mut failures = Vec::new();
    for locale in ["C.UTF-8", "C"] {
        let mut cmd = user.command(initdb, &paths.root);
        cmd.arg("-D")
            .arg(&paths.data_dir)
            .args(["--auth=trust", "-U", SUPERUSER, "-E", "UTF8"])
            .arg(format!("--locale={locale}"))
            // The cluster is disposable; skipping fsync makes startup faster.
            .arg("--no-sync");
        let output = cmd
            .output()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        if output.status.success() {
            return Ok(());
        }
        failures.push(command_failure(&cmd, &output));
        // initdb removes what it created on failure; make sure the retry starts clean.
        let _ = fs::remove_dir_all(&paths.data_dir);
    }
    Err(failures.join("\n"))
}

/// Starts the server on a Unix socket (and, given `tcp_port`, on that port of 127.0.0.1),
/// with fsync off because durability does not matter here, and enough connections for
/// many parallel tests each running a server with a pool.
pub(super) fn start_postmaster(
    pg_ctl: &Path,
    paths: &ClusterPaths,
    user: ServerUser,
    tcp_port: Option<u16>,
    tls: bool,
    settings: &[&str],
) -> Result<(), String> {
    let mut server_options = match tcp_port {
        // The port names the socket file too.
        Some(port) => format!(
            "-k {} -c listen_addresses=127.0.0.1 -p {port}",
            paths.root.display()
        ),
        None => format!(
            "-k {} -c listen_addresses='' -p {PORT}",
            paths.root.display()
        ),
    };
    server_options.push_str(" -c fsync=off -c max_connections=200");
    for setting in settings {
        server_options.push_str(" -c ");
        server_options.push_str(setting);
    }
    if tls {
        server_options.push_str(
            " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key \
             -c ssl_ca_file=ca.crt",
        );
    }
    let mut cmd = user.command(pg_ctl, &paths.root);
    cmd.args(["start", "-w", "-t", START_TIMEOUT_SECS, "-D"])
        .arg(&paths.data_dir)
        .arg("-l")
        .arg(&paths.log)
        .arg("-o")
        .arg(server_options);
    // With `-l`, the server's output goes to the log file, so it does not hold on to
    // our pipes and `output()` returns when pg_ctl does.
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}\n--- last lines of the server log {} ---\n{}",
        command_failure(&cmd, &output),
        paths.log.display(),
        log_tail(&paths.log),
    ))
}

pub(super) fn command_failure(cmd: &Command, output: &Output) -> String {
    format!(
        "{cmd:?} failed with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

pub(super) fn log_tail(log: &Path) -> String {
    match fs::read(log) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        }
        Err(e) => format!("(cannot read it: {e})"),
    }
}

// ---------------------------------------------------------------------------------------
// Stopping the server at exit
// ---------------------------------------------------------------------------------------

pub(super) struct ServerFiles {
    pub(super) pg_ctl: PathBuf,
    pub(super) paths: ClusterPaths,
    pub(super) user: ServerUser,
    /// Deletes the whole cluster directory when dropped.
    pub(super) temp_dir: TempDir,
}

impl ServerFiles {
    /// `pg_ctl stop -m immediate`: no checkpoint, since the data is thrown away anyway.
    /// Errors are ignored; there is nobody left to report them to.
    fn stop_server(&self) {
        if !self.paths.data_dir.join("postmaster.pid").exists() {
            return;
        }
        let mut cmd = self.user.command(&self.pg_ctl, &self.paths.root);
        cmd.args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(&self.paths.data_dir);
        let _ = cmd.output();
    }
}

pub(super) fn register_cleanup(files: ServerFiles) {
    let mut known = SERVER_FILES.lock().unwrap_or_else(PoisonError::into_inner);
    known.push(files);
    if known.len() > 1 {
        return;
    }
    // SAFETY: `atexit` only records the function pointer. `stop_cluster_at_exit` is a
    // plain function with no preconditions that never unwinds.
    let status = unsafe { atexit(stop_cluster_at_exit) };
    if status != 0 {
        eprintln!(
            "warning: cannot register an exit handler; the test PostgreSQL server will outlive this process"
        );
    }
}

/// Runs at process exit: stops the servers, then deletes their directories.
///
/// Must not panic (a panic cannot unwind out of an `extern "C"` function and would
/// abort), hence the poison-tolerant lock and ignored errors.
extern "C" fn stop_cluster_at_exit() {
    let all = std::mem::take(&mut *SERVER_FILES.lock().unwrap_or_else(PoisonError::into_inner));
    for files in all {
        files.stop_server();
        drop(files.temp_dir);
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/// The `bin` directory of the newest usable PostgreSQL installation: `pg_config
/// --bindir` if that has the server programs, else the newest
/// `/usr/lib/postgresql/<version>/bin`. Looked up once.
pub(super) fn pg_bin_dir() -> Result<&'static Path, String> {
    static BIN_DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN_DIR
        .get_or_init(find_pg_bin_dir)
        .as_deref()
        .map_err(Clone::clone)
}

fn find_pg_bin_dir() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = pg_config_bin_dir()
        .into_iter()
        .chain(debian_bin_dirs_newest_first())
        .collect();
    candidates
        .iter()
        .find(|dir| has_server_programs(dir))
        .cloned()
        .ok_or_else(|| {
            format!(
                "no PostgreSQL server programs (initdb, pg_ctl) found; looked in {candidates:?} \
                 (from `pg_config --bindir` and {DEBIAN_PG_ROOT}/*/bin)"
            )
        })
}

fn has_server_programs(dir: &Path) -> bool {
    ["initdb", "pg_ctl"]
        .iter()
        .all(|program| dir.join(program).is_file())
}

fn pg_config_bin_dir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    Some(PathBuf::from(dir.trim()))
}

fn debian_bin_dirs_newest_first() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(DEBIAN_PG_ROOT) else {
        return Vec::new();
    };
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    versioned.into_iter().map(|(_, dir)| dir).collect()
}

/// `"15"` -> `[15]`, `"9.6"` -> `[9, 6]`; anything else is not a version directory.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// A database name unique within this process (counter) and across processes sharing
/// nothing but the naming scheme (pid), restricted to characters that need no quoting.
fn unique_database_name(prefix: &str) -> String {
    const MAX_PREFIX_CHARS: usize = 40; // identifiers are limited to 63 bytes
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let prefix: String = prefix
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .take(MAX_PREFIX_CHARS)
        .collect();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id())
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so the result is
/// safe in any part of a URL (here: a socket path as the host, a database name).
fn percent_encode(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            write!(encoded, "%{byte:02X}").expect("writing to a String cannot fail");
        }
    }
    encoded
}
