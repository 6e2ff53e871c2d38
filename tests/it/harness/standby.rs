//! A primary and a hot standby streaming from it, for the tests of rowpipe on replicas.
//!
//! [`replication()`] starts both once per test process, like [`super::cluster()`]: a
//! primary of its own (so the shared cluster's traffic streams nowhere) and a standby made
//! from it by `pg_basebackup -R` (which writes `standby.signal` and a `primary_conninfo`
//! naming the primary's Unix socket), each on a Unix socket in a temporary directory of
//! its own, run as the unprivileged server user, stopped and deleted at exit. Tests
//! isolate themselves by database, as on the shared cluster: a standby's recovery
//! conflicts are per database too.
//!
//! The standby cancels a conflicting query at once (`max_standby_streaming_delay = 0`,
//! no `hot_standby_feedback`), so a test provokes a recovery conflict by deleting and
//! vacuuming rows on the primary while the standby holds a snapshot that still sees them.
//!
//! A standby that cannot be made or started fails the tests that need it, never skips
//! them.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use super::cluster::{
    Cluster, ClusterOptions, ClusterPaths, SUPERUSER, ServerFiles, ServerUser, TestDb,
    command_failure, create_cluster_dir, log_tail, pg_bin_dir, register_cleanup, start_postmaster,
};
use super::process::{poll_until, run};
use super::psql::psql_query_scalar;

/// How the standby runs: queries in its way are cancelled as soon as replay needs to.
const STANDBY_SETTINGS: &[&str] = &[
    "hot_standby=on",
    "max_standby_streaming_delay=0",
    "hot_standby_feedback=off",
];

/// How long a standby may take to replay what the primary wrote before a test fails.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

/// A primary and its streaming standby.
#[derive(Debug)]
pub struct Replication {
    pub primary: Cluster,
    pub standby: Standby,
}

/// A hot standby the harness made with `pg_basebackup`; it can be stopped and started
/// again mid-test.
#[derive(Debug)]
pub struct Standby {
    cluster: Cluster,
    pg_ctl: PathBuf,
    data_dir: PathBuf,
    user: ServerUser,
}

/// The shared primary and standby, started on first use. Panics with the reason (and the
/// server's log) when they cannot be started.
#[track_caller]
pub fn replication() -> &'static Replication {
    static REPLICATION: OnceLock<Result<Replication, String>> = OnceLock::new();
    match REPLICATION.get_or_init(Replication::start) {
        Ok(replication) => replication,
        Err(message) => panic!("{message}"),
    }
}

impl Replication {
    fn start() -> Result<Replication, String> {
        let primary = Cluster::start_with(&ClusterOptions::default());
        let standby = Standby::of(&primary)?;
        Ok(Replication { primary, standby })
    }

    /// Creates a database of its own on the primary (see [`Cluster::create_database`])
    /// and runs `setup` in it; returns it as the primary and as the standby see it, once
    /// the standby has replayed all of it.
    #[track_caller]
    pub fn create_database(&self, name_prefix: &str, setup: &str) -> (TestDb, TestDb) {
        let primary = self.primary.create_database(name_prefix);
        if !setup.is_empty() {
            primary.execute(setup);
        }
        self.catch_up();
        let standby = self.standby.database(primary.name());
        (primary, standby)
    }

    /// Waits until the standby has replayed everything the primary wrote so far.
    #[track_caller]
    pub fn catch_up(&self) {
        self.standby.catch_up_with(&self.primary);
    }
}

impl Standby {
    /// A new standby of `primary`, started and replaying.
    pub fn of(primary: &Cluster) -> Result<Standby, String> {
        let bin_dir = pg_bin_dir()?;
        let user = ServerUser::detect()?;
        let temp_dir = create_cluster_dir(user)?;
        let paths = ClusterPaths::inside(temp_dir.path());
        let mut backup = user.command(&bin_dir.join("pg_basebackup"), &paths.root);
        backup
            .arg("-D")
            .arg(&paths.data_dir)
            .args([
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "-U",
                SUPERUSER,
            ])
            .arg("-h")
            .arg(primary.socket_dir())
            .args(["-p", &primary.port().to_string()]);
        let output = run(&mut backup);
        let pg_ctl = bin_dir.join("pg_ctl");
        let standby = Standby {
            cluster: Cluster {
                socket_dir: paths.root.clone(),
                log_path: paths.log.clone(),
                tcp_port: None,
                certs: None,
            },
            pg_ctl: pg_ctl.clone(),
            data_dir: paths.data_dir.clone(),
            user,
        };
        register_cleanup(ServerFiles {
            pg_ctl,
            paths: ClusterPaths::inside(temp_dir.path()),
            user,
            temp_dir,
        });
        if !output.status.success() {
            return Err(format!(
                "cannot make a standby with pg_basebackup: {}",
                command_failure(&backup, &output)
            ));
        }
        standby.start()?;
        Ok(standby)
    }

    /// The standby as a cluster: its URLs, its socket, its log.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Database `name` on the standby.
    pub fn database(&self, name: &str) -> TestDb {
        self.cluster.database(name)
    }

    /// Starts the standby (again), and waits until it takes connections.
    pub fn start(&self) -> Result<(), String> {
        let paths = ClusterPaths::inside(self.cluster.socket_dir());
        start_postmaster(
            &self.pg_ctl,
            &paths,
            self.user,
            None,
            false,
            STANDBY_SETTINGS,
        )
        .map_err(|problem| format!("cannot start the standby: {problem}"))
    }

    /// Stops the standby (`pg_ctl stop -m fast`: its sessions are ended, their clients see
    /// the connection close).
    #[track_caller]
    pub fn stop(&self) {
        let mut stop = self.user.command(&self.pg_ctl, self.cluster.socket_dir());
        stop.args(["stop", "-m", "fast", "-w", "-D"])
            .arg(&self.data_dir);
        let output = run(&mut stop);
        assert!(
            output.status.success(),
            "{}\n--- the standby's log ---\n{}",
            command_failure(&stop, &output),
            log_tail(self.cluster.log_path())
        );
    }

    /// Waits until the standby has replayed everything `primary` wrote so far; panics
    /// with the standby's log after [`CATCH_UP_LIMIT`].
    #[track_caller]
    pub fn catch_up_with(&self, primary: &Cluster) {
        let written = psql_query_scalar(&primary.url("postgres"), "SELECT pg_current_wal_lsn()");
        let check = format!("SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn");
        let standby = self.cluster.url("postgres");
        let replayed = poll_until(CATCH_UP_LIMIT, || {
            psql_query_scalar(&standby, &check) == "t"
        });
        assert!(
            replayed.is_some(),
            "the standby did not replay up to {written} within {CATCH_UP_LIMIT:?}\n\
             --- the standby's log ---\n{}",
            log_tail(self.cluster.log_path())
        );
    }
}
