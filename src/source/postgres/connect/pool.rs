//! The pool of connections: deadpool's, with a manager of rowpipe's own, so that every
//! pooled connection carries its protocol [`Driver`] (which an export borrows) and every
//! pool the [`Canceller`] its cancel requests need.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode as Negotiate;
use tokio_postgres::{CancelToken, Client};

#[cfg(target_os = "linux")]
use super::direct;
use super::driver::{Connection, Driver, Lent};
use super::tls::Tls;

/// A pool of connections to one database.
pub type Pool = managed::Pool<Manager>;
/// A connection taken from a [`Pool`]; it goes back when dropped.
pub type Object = managed::Object<Manager>;
pub use crate::source::error::PoolError;
pub use managed::TimeoutType;

/// Opens a pool's connections and checks idle ones before they are handed out again.
pub struct Manager {
    config: tokio_postgres::Config,
    canceller: Canceller,
}

impl Manager {
    /// A manager for connections as `config` says, encrypted as `tls` says; with
    /// `batch_reads`, their TCP sockets are read in batches while large results stream
    /// in (see `batched.rs`).
    pub(super) fn new(config: tokio_postgres::Config, tls: Tls, batch_reads: bool) -> Self {
        let direct = direct_target(&config, batch_reads);
        Self {
            config,
            canceller: Canceller { tls, direct },
        }
    }

    /// How to cancel what one of the pool's connections runs.
    pub fn canceller(&self) -> &Canceller {
        &self.canceller
    }

    /// Opens one connection: with TLS as [`Tls`] says, and, for `prefer`, once more in
    /// plain text when a TLS attempt failed (a refused handshake, or a server that turned
    /// the encrypted login away), as libpq does.
    async fn open(&self) -> Result<(Client, Connection), tokio_postgres::Error> {
        let started = Arc::new(AtomicBool::new(false));
        let tls = self.canceller.tls.noting_start(started.clone());
        match self.open_with(&self.config, tls).await {
            Ok(connected) => Ok(connected),
            Err(error)
                if self.config.get_ssl_mode() == Negotiate::Prefer
                    && started.load(Ordering::SeqCst) =>
            {
                tracing::warn!(
                    error = %crate::source::error::describe_pg_error(&error),
                    "TLS to the database failed under sslmode=prefer; connecting in plain \
                     text instead (set sslmode=require or verify-full to refuse)"
                );
                let mut plain = self.config.clone();
                plain.ssl_mode(Negotiate::Disable);
                self.open_with(&plain, self.canceller.tls.clone()).await
            }
            Err(error) => Err(error),
        }
    }

    /// One connection as `config` says: over a socket of rowpipe's own when the pool
    /// reads in batches, else (or when that socket cannot be opened) tokio-postgres's.
    async fn open_with(
        &self,
        config: &tokio_postgres::Config,
        tls: Tls,
    ) -> Result<(Client, Connection), tokio_postgres::Error> {
        #[cfg(target_os = "linux")]
        if let Some(target) = &self.canceller.direct
            && let Some(connected) = direct::connect(config, target, tls.clone()).await
        {
            let (client, connection) = connected?;
            return Ok((client, Box::pin(connection)));
        }
        let (client, connection) = config.connect(tls).await?;
        Ok((client, Box::pin(connection)))
    }
}

/// The one server whose sockets a pool's connections open themselves, to read them in
/// batches; `None` leaves every connection to tokio-postgres.
#[cfg(target_os = "linux")]
type Direct = Option<direct::Target>;
#[cfg(not(target_os = "linux"))]
type Direct = Option<std::convert::Infallible>;

#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn direct_target(config: &tokio_postgres::Config, batch_reads: bool) -> Direct {
    #[cfg(target_os = "linux")]
    return batch_reads.then(|| direct::Target::of(config)).flatten();
    #[cfg(not(target_os = "linux"))]
    None
}

/// How the cancel request of a pool's connections goes: over TLS as they connect, and
/// over a socket of rowpipe's own for those tokio-postgres did not open.
#[derive(Clone)]
pub struct Canceller {
    tls: Tls,
    direct: Direct,
}

impl Canceller {
    /// Asks the server to cancel what `token`'s connection runs.
    pub async fn cancel(self, token: &CancelToken) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Some(target) = &self.direct {
            return direct::cancel(token, target, self.tls.clone()).await;
        }
        token
            .cancel_query(self.tls)
            .await
            .map_err(std::io::Error::other)
    }
}

/// Shows nothing of the connection settings: they hold the password.
impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").finish_non_exhaustive()
    }
}

impl managed::Manager for Manager {
    type Type = PooledClient;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<PooledClient, tokio_postgres::Error> {
        let (client, connection) = self.open().await?;
        let (driver, task) = Driver::spawn(connection);
        Ok(PooledClient {
            client,
            driver,
            task,
        })
    }

    /// One empty statement (a round trip) finds connections the server dropped (a
    /// restart, an idle timeout) before a download starts on one; a socket known to be
    /// closed is not even tried.
    async fn recycle(
        &self,
        client: &mut PooledClient,
        _: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        if client.is_closed() {
            return Err(RecycleError::message("the connection is closed"));
        }
        client.simple_query("").await?;
        Ok(())
    }
}

/// A pooled connection: its client, and the driver that runs it.
pub struct PooledClient {
    client: Client,
    driver: Arc<Driver>,
    /// Runs the connection while it is not lent; aborted with the connection.
    task: JoinHandle<()>,
}

impl PooledClient {
    /// Takes the connection's driver into the caller's task; see [`Driver::lend`].
    pub fn lend_driver(&self) -> Option<Lent> {
        self.driver.lend()
    }
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient").finish_non_exhaustive()
    }
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}
